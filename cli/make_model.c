/* make_model.c — `goodhart make-model [--preset NAME] [shape options] --type T -o OUT.gguf`. */
#include <string.h>

#include "cli.h"
#include "goodhart/convert.h"
#include "goodhart/model.h"

static const char *usage_text =
    "usage: goodhart make-model -o OUT.gguf [--preset tiny|100m|300m|1b] [--type T] [options]\n"
    "Writes a model with random weights (for benchmarks and tests).\n"
    "  --arch llama|mistral|qwen2|bert   --vocab N  --embd N  --ff N  --layers N\n"
    "  --heads N  --kv-heads N  --ctx N  --tied  --seed S\n"
    "  --type f32|f16|bf16|q8_0|q4_0|q4_K|q6_K  (2-D weights; norms stay f32)\n"
    "  --pooling none|mean|cls|last   {arch}.pooling_type (bert default: mean)\n"
    "  --reward-head        a reward model: cls.output.weight [n_embd] + bias, no LM head\n"
    "  --add-eos            tokenizer.ggml.add_eos_token = true\n"
    "  --pad-id N           tokenizer.ggml.padding_token_id\n";

int cmd_make_model(int argc, char **argv) {
    gh_make_model_params p = gh_make_model_default_params();
    const char *out = NULL, *preset = NULL, *v;
    long long x;
    bool missing = false;
    int32_t *ints[] = {&p.n_vocab, &p.n_embd, &p.n_ff, &p.n_layer, &p.n_head, &p.n_head_kv, &p.n_ctx};
    const char *int_names[] = {"--vocab", "--embd", "--ff", "--layers", "--heads", "--kv-heads", "--ctx"};
    bool set[7] = {0};
    int32_t vals[7];
    gh_type type = GH_TYPE_F32;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        bool done = false;
        if (cli_flag(argv[i], "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        for (int k = 0; k < 7 && !done; k++)
            if (cli_opt(argv, &i, argc, NULL, int_names[k], &v, &missing)) {
                done = true;
                if (!missing && !cli_parse_int(v, 1, 1 << 24, &x)) return cli_usage_error("make-model", "%s needs a positive integer, got '%s'", int_names[k], v);
                set[k] = true;
                vals[k] = (int32_t)x;
            }
        if (done) {}
        else if (cli_opt(argv, &i, argc, "-o", "--output", &v, &missing)) out = v;
        else if (cli_opt(argv, &i, argc, NULL, "--preset", &v, &missing)) preset = v;
        else if (cli_opt(argv, &i, argc, NULL, "--arch", &v, &missing)) p.arch = v;
        else if (cli_opt(argv, &i, argc, NULL, "--type", &v, &missing)) {
            if (!missing && !gh_type_from_name(v, &type)) return cli_usage_error("make-model", "unknown weight type '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--seed", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 0, INT64_MAX, &x)) return cli_usage_error("make-model", "--seed needs an integer, got '%s'", v);
            seed = (uint64_t)x;
        } else if (cli_opt(argv, &i, argc, NULL, "--pooling", &v, &missing)) {
            if (missing) {}
            else if (!strcmp(v, "none")) p.pooling = GH_POOLING_NONE;
            else if (!strcmp(v, "mean")) p.pooling = GH_POOLING_MEAN;
            else if (!strcmp(v, "cls")) p.pooling = GH_POOLING_CLS;
            else if (!strcmp(v, "last")) p.pooling = GH_POOLING_LAST;
            else return cli_usage_error("make-model", "--pooling must be none, mean, cls or last, not '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--pad-id", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 0, 1 << 24, &x)) return cli_usage_error("make-model", "--pad-id needs a token id, got '%s'", v);
            if (!missing) p.pad_id = (int32_t)x;
        } else if (cli_flag(argv[i], NULL, "--reward-head")) p.cls_head = true;
        else if (cli_flag(argv[i], NULL, "--add-eos")) p.add_eos = true;
        else if (cli_flag(argv[i], NULL, "--tied")) p.tied_output = true;
        else return cli_usage_error("make-model", "unknown option '%s'", argv[i]);
        if (missing) return cli_usage_error("make-model", "option '%s' needs a value", argv[i]);
    }
    if (!out) return cli_usage_error("make-model", "no output file (-o OUT.gguf)");
    if (preset) {
        gh_make_model_params keep = p;
        if (gh_make_model_preset(preset, &p) != GH_OK) return cli_fail("make-model");
        p.arch = keep.arch;
        p.tied_output = keep.tied_output;
        p.pooling = keep.pooling;
        p.cls_head = keep.cls_head;
        p.add_eos = keep.add_eos;
        p.pad_id = keep.pad_id;
    }
    if (p.arch && !strcmp(p.arch, "bert") && p.pooling < 0) p.pooling = GH_POOLING_MEAN;
    for (int k = 0; k < 7; k++) if (set[k]) *ints[k] = vals[k];
    p.wtype = type;
    p.seed = seed;
    if (gh_make_model(&p, out) != GH_OK) return cli_fail("make-model");
    fprintf(stderr, "wrote %s\n", out);
    return 0;
}
