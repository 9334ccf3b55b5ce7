/* embed.c — `goodhart embed -m MODEL [--pool mean|cls|last] [--json] TEXT...`:
 * sentence embeddings (L2-normalised) from an embedding model (BERT family,
 * src/model/bert.c) or a decoder's mean-pooled final hidden state. One line
 * per text: the numbers, or with --json an object holding the embedding and
 * the tokens embedded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: goodhart embed -m MODEL [--pool mean|cls|last] [--json] [--] TEXT...\n"
            "  -m, --model REF     an embedding model (GGUF, arch bert) or any local model\n"
            "  --pool P            mean (over every token, [CLS] and [SEP] included), cls (the [CLS]\n"
            "                      token; encoders only) or last (default: the model's pooling_type, else mean)\n"
            "  --json              one JSON object per text: {\"embedding\": [...], \"dim\": D,\n"
            "                      \"tokens\": [...], \"n_tokens\": N, \"pool\": P, \"model\": REF}\n"
            "  -t, --threads N     CPU threads (default: all)\n"
            "  --                  every argument after it is a TEXT (one may start with '-')\n"
            "Each embedding is L2-normalised (a zero vector stays zero). Without --json:\n"
            "one line per text of D numbers separated by spaces.\n");
}

int cmd_embed(int argc, char **argv) {
    const char *cmd = "embed", *model = NULL, *pool = NULL;
    bool json = false;
    long long threads = 0;
    const char **texts = calloc((size_t)argc + 1, sizeof *texts);
    int n_texts = 0;
    if (!texts) { fprintf(stderr, "goodhart embed: out of memory\n"); return 1; }
    for (int i = 1; i < argc; i++) {
        int brc;
        const char *v = NULL;
        bool miss = false;
        if (!strcmp(argv[i], "--")) { /* the rest are texts, even those starting with '-' */
            while (++i < argc) texts[n_texts++] = argv[i];
            break;
        }
        if (cli_flag(argv[i], "-h", "--help")) { usage(stdout); free(texts); return 0; }
        else if ((brc = cli_backend_opt(cmd, argv, &i, argc))) { if (brc < 0) { free(texts); return 2; } }
        else if (cli_opt(argv, &i, argc, "-m", "--model", &model, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--pool", &pool, &miss)) {
            if (!miss && strcmp(pool, "mean") && strcmp(pool, "cls") && strcmp(pool, "last")) {
                free(texts);
                return cli_usage_error(cmd, "--pool must be mean, cls or last, not '%s'", pool);
            }
        } else if (cli_flag(argv[i], NULL, "--json")) json = true;
        else if (cli_opt(argv, &i, argc, "-t", "--threads", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 0, 4096, &threads)) { free(texts); return cli_usage_error(cmd, "bad --threads '%s'", v); }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            free(texts);
            return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        } else texts[n_texts++] = argv[i];
        if (miss) { free(texts); return cli_usage_error(cmd, "option '%s' needs a value", argv[i]); }
    }
    if (!model || n_texts == 0) { free(texts); return cli_usage_error(cmd, "needs -m MODEL and at least one TEXT"); }
    gh_backend *b = NULL;
    int rc = cli_open_backend(cmd, model, (int32_t)threads, &b);
    if (rc) { free(texts); return rc; }
    /* the pooling reported: the one asked for, else the model's (as local.c picks it) */
    const char *pool_used = pool;
    gh_model *m = gh_backend_model(b);
    if (!pool_used && m) {
        int32_t p = gh_model_get_info(m)->pooling;
        pool_used = p == GH_POOLING_CLS ? "cls" : p == GH_POOLING_LAST ? "last" : "mean";
    }
    for (int k = 0; k < n_texts && !rc; k++) {
        gh_embedding *e = NULL;
        if (gh_backend_embed(b, texts[k], pool, &e)) { rc = cli_fail(cmd); break; }
        if (json) {
            printf("{\"model\":");
            cli_json_string(stdout, model, strlen(model));
            printf(",\"text\":");
            cli_json_string(stdout, texts[k], strlen(texts[k]));
            if (pool_used) printf(",\"pool\":\"%s\"", pool_used);
            printf(",\"dim\":%d,\"n_tokens\":%d,\"tokens\":[", e->dim, e->n_tokens);
            for (int32_t i = 0; e->tokens && i < e->n_tokens; i++) printf(i ? ",%d" : "%d", e->tokens[i]);
            printf("],\"embedding\":[");
            for (int32_t i = 0; i < e->dim; i++) printf(i ? ",%.9g" : "%.9g", (double)e->data[i]);
            printf("]}\n");
        } else {
            for (int32_t i = 0; i < e->dim; i++) printf(i ? " %.9g" : "%.9g", (double)e->data[i]);
            printf("\n");
        }
        gh_embedding_free(e);
    }
    gh_backend_free(b);
    free(texts);
    return rc;
}
