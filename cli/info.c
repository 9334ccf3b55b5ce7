/* info.c — `goodhart info -m MODEL [--json] [--tensors]`: what a model file holds. */
#include <string.h>

#include "cli.h"
#include "goodhart/model.h"

static const char *usage_text =
    "usage: goodhart info -m MODEL.gguf [--json] [--no-tensors] [-t THREADS]\n"
    "Prints architecture, sizes, tokenizer and the tensor table.\n";

int cmd_info(int argc, char **argv) {
    const char *model = NULL, *v;
    bool json = false, tensors = true, missing = false;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv[i], "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        else if (cli_opt(argv, &i, argc, "-m", "--model", &v, &missing)) model = v;
        else if (cli_opt(argv, &i, argc, "-t", "--threads", &v, &missing)) (void)v;
        else if (cli_flag(argv[i], NULL, "--json")) json = true;
        else if (cli_flag(argv[i], NULL, "--no-tensors")) tensors = false;
        else return cli_usage_error("info", "unknown option '%s'", argv[i]);
        if (missing) return cli_usage_error("info", "option '%s' needs a value", argv[i]);
    }
    if (!model) return cli_usage_error("info", "no model given (-m MODEL)");
    gh_model *m;
    gh_model_params mp = gh_model_default_params();
    mp.use_mmap = true; /* metadata only: no need to read the weights */
    if (gh_model_load(model, &mp, &m) != GH_OK) return cli_fail("info");
    const gh_model_info *I = gh_model_get_info(m);
    const gh_tokenizer *tok = gh_model_tokenizer(m);
    const gh_gguf *g = gh_model_gguf(m);
    if (json) {
        printf("{\"path\":");
        cli_json_string(stdout, model, strlen(model));
        printf(",\"architecture\":\"%s\",\"name\":", I->arch);
        cli_json_string(stdout, I->name, strlen(I->name));
        printf(",\"n_vocab\":%d,\"n_ctx_train\":%d,\"n_embd\":%d,\"n_ff\":%d,\"n_layer\":%d,"
               "\"n_head\":%d,\"n_head_kv\":%d,\"head_dim\":%d,\"n_rot\":%d,\"rope_base\":%g,"
               "\"rope_layout\":\"%s\",\"norm_eps\":%g,\"tied_output\":%s,\"attn_bias\":%s,"
               "\"weight_type\":\"%s\",\"n_params\":%lld,\"weight_bytes\":%llu,\"step_bytes\":%llu,"
               "\"tokenizer\":{\"model\":\"%s\",\"pre\":\"%s\",\"bos\":%d,\"eos\":%d,\"add_bos\":%s}",
               I->n_vocab, I->n_ctx_train, I->n_embd, I->n_ff, I->n_layer, I->n_head, I->n_head_kv,
               I->head_dim, I->n_rot, I->rope_base, I->rope_neox ? "neox" : "interleaved", I->norm_eps,
               I->tied_output ? "true" : "false", I->attn_bias ? "true" : "false", gh_type_name(I->wtype),
               (long long)I->n_params, (unsigned long long)I->weight_bytes,
               (unsigned long long)I->step_bytes, gh_tokenizer_model_name(tok), gh_tokenizer_pre_name(tok),
               gh_tokenizer_bos(tok), gh_tokenizer_eos(tok), gh_tokenizer_add_bos(tok) ? "true" : "false");
        printf(",\"encoder\":%s,\"pooling\":\"%s\",\"n_cls_out\":%d,\"lm_head\":%s", I->encoder ? "true" : "false",
               gh_pooling_name(I->pooling), I->n_cls_out, I->lm_head ? "true" : "false");
        if (tensors) {
            printf(",\"tensors\":[");
            for (int64_t i = 0; i < gh_gguf_n_tensors(g); i++) {
                const gh_tensor_info *t = gh_gguf_tensor(g, i);
                printf("%s{\"name\":", i ? "," : "");
                cli_json_string(stdout, t->name, strlen(t->name));
                printf(",\"type\":\"%s\",\"shape\":[", gh_type_name(t->type));
                for (uint32_t d = 0; d < t->n_dims; d++) printf("%s%lld", d ? "," : "", (long long)t->ne[d]);
                printf("],\"bytes\":%llu}", (unsigned long long)t->nbytes);
            }
            printf("]");
        }
        printf("}\n");
    } else {
        printf("model:        %s\n", model);
        printf("name:         %s\n", I->name);
        printf("architecture: %s\n", I->arch);
        printf("parameters:   %lld (%.2f MiB of weights, mostly %s)\n", (long long)I->n_params,
               (double)I->weight_bytes / (1 << 20), gh_type_name(I->wtype));
        printf("vocabulary:   %d\n", I->n_vocab);
        printf("context:      %d\n", I->n_ctx_train);
        printf("embedding:    %d\n", I->n_embd);
        printf("feed-forward: %d\n", I->n_ff);
        printf("layers:       %d\n", I->n_layer);
        printf("heads:        %d (kv %d, head size %d)\n", I->n_head, I->n_head_kv, I->head_dim);
        printf("rope:         %s, base %g, %d dims\n", I->rope_neox ? "neox" : "interleaved", I->rope_base, I->n_rot);
        printf("norm eps:     %g\n", I->norm_eps);
        printf("output:       %s\n", !I->lm_head ? "none (no language-model head)" : I->tied_output ? "tied to token_embd" : "separate");
        if (I->encoder || I->n_cls_out || I->pooling >= 0)
            printf("kind:         %s, pooling %s%s\n", I->encoder ? "encoder (embeddings)" : I->n_cls_out ? "reward / classifier model" : "decoder",
                   gh_pooling_name(I->pooling), I->n_cls_out ? (I->n_cls_out == 1 ? ", head cls.output (1 output)" : ", head cls.output (several outputs)") : "");
        printf("tokenizer:    %s (pre %s), bos %d, eos %d%s\n", gh_tokenizer_model_name(tok),
               gh_tokenizer_pre_name(tok), gh_tokenizer_bos(tok), gh_tokenizer_eos(tok),
               gh_tokenizer_add_bos(tok) ? ", adds BOS" : "");
        if (tensors) {
            printf("tensors:      %lld\n", (long long)gh_gguf_n_tensors(g));
            for (int64_t i = 0; i < gh_gguf_n_tensors(g); i++) {
                const gh_tensor_info *t = gh_gguf_tensor(g, i);
                printf("  %-32s %-5s [", t->name, gh_type_name(t->type));
                for (uint32_t d = 0; d < t->n_dims; d++) printf("%s%lld", d ? ", " : "", (long long)t->ne[d]);
                printf("]\n");
            }
        }
    }
    gh_model_free(m);
    return 0;
}
