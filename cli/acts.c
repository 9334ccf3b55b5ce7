/* acts.c — `goodhart acts`: hidden states of every record of a JSON Lines file
 * into NumPy .npy files plus a JSON sidecar (see include/goodhart/acts.h). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "goodhart/acts.h"
#include "goodhart/model.h"

static const char *usage_text =
    "usage: goodhart acts -m MODEL --data FILE.jsonl --layer L[,L2...] [--pool P] -o OUT [options]\n"
    "Extracts the residual stream after layer L (0: embeddings; 'last': the last block)\n"
    "for each record, streaming, into NumPy files:\n"
    "  OUT.npy (one layer) or OUT_L<layer>.npy (several)  float32 [rows][n_embd]\n"
    "  OUT.rows.npy    int64 record index of each row (--pool all)\n"
    "  OUT.labels.npy  uint8 labels (when records carry \"label\": 0/1)\n"
    "  OUT.json        sidecar: model and SHA-256, layers, pooling, per-record id, span, row\n"
    "Records: {\"text\": ...} or {\"prompt\": ..., \"response\": ...}, optional \"id\", \"label\".\n"
    "  --pool P        mean (default): over the text's tokens (BOS excluded) or the response's;\n"
    "                  last: the text's last token, or the prompt's last token;\n"
    "                  answer-token: the response's last token; all: one row per token\n"
    "  --field NAME    the text field (default \"text\")\n"
    "  -t N            threads\n" CLI_BACKEND_USAGE;

/* Parses "3,1,last" against the model's block count. */
static bool parse_layers(const char *s, int32_t n_layer, int32_t **out, int32_t *n) {
    int32_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    int32_t *v = malloc((size_t)cap * sizeof *v);
    char *copy = strdup(s);
    bool ok = v && copy;
    int32_t k = 0;
    for (char *tok = copy, *next; ok && tok; tok = next) {
        next = strchr(tok, ',');
        if (next) *next++ = 0;
        long long x;
        if (!strcmp(tok, "last")) v[k++] = n_layer;
        else if (cli_parse_int(tok, 0, n_layer, &x)) v[k++] = (int32_t)x;
        else ok = false;
    }
    free(copy);
    if (!ok) { free(v); return false; }
    *out = v;
    *n = k;
    return true;
}

int cmd_acts(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *layers_s = NULL, *out = NULL, *pool_s = "mean", *field = "text", *v;
    long long threads = 0;
    bool missing = false;
    for (int i = 1; i < argc; i++) {
        int brc;
        const char *a = argv[i];
        if (cli_flag(a, "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        else if ((brc = cli_backend_opt("acts", argv, &i, argc))) { if (brc < 0) return 2; }
        else if (cli_opt(argv, &i, argc, "-m", "--model", &v, &missing)) model = v;
        else if (cli_opt(argv, &i, argc, NULL, "--data", &v, &missing)) data = v;
        else if (cli_opt(argv, &i, argc, "-l", "--layer", &v, &missing)) layers_s = v;
        else if (cli_opt(argv, &i, argc, NULL, "--pool", &v, &missing)) pool_s = v;
        else if (cli_opt(argv, &i, argc, NULL, "--field", &v, &missing)) field = v;
        else if (cli_opt(argv, &i, argc, "-o", "--out", &v, &missing)) out = v;
        else if (cli_opt(argv, &i, argc, "-t", "--threads", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1024, &threads)) return cli_usage_error("acts", "-t needs a thread count >= 1, got '%s'", v);
        } else return cli_usage_error("acts", "unknown option '%s'", a);
        if (missing) return cli_usage_error("acts", "option '%s' needs a value", a);
    }
    if (!model) return cli_usage_error("acts", "no model given (-m MODEL)");
    if (!data) return cli_usage_error("acts", "no data given (--data FILE.jsonl)");
    if (!layers_s) return cli_usage_error("acts", "no layer given (--layer L[,L2...])");
    if (!out || !*out) return cli_usage_error("acts", "no output prefix given (-o OUT)");
    gh_acts_params p = gh_acts_default_params();
    if (!gh_acts_pool_from_name(pool_s, &p.pool))
        return cli_usage_error("acts", "--pool must be last, mean, answer-token or all, got '%s'", pool_s);
    p.text_field = field;
    gh_backend *b;
    if (cli_open_backend("acts", model, (int32_t)threads, &b)) return 1;
    gh_model *m = gh_backend_model(b);
    int32_t n_layer = m ? gh_model_get_info(m)->n_layer : 0;
    int32_t *layers = NULL, n_layers = 0;
    if (!parse_layers(layers_s, n_layer, &layers, &n_layers)) {
        gh_backend_free(b);
        return cli_usage_error("acts", "--layer needs layer numbers in [0, %d] or 'last', comma-separated, got '%s'",
                               n_layer, layers_s);
    }
    p.layers = layers;
    p.n_layers = n_layers;
    p.progress = cli_progress;
    p.progress_user = NULL;
    gh_acts_summary sum;
    gh_status s = gh_acts_extract(b, data, out, &p, &sum);
    free(layers);
    gh_backend_free(b);
    if (s) return cli_fail("acts");
    printf("%lld records, %lld rows of %d features, %d layer%s%s\n", (long long)sum.n_records, (long long)sum.n_rows,
           sum.n_embd, n_layers, n_layers == 1 ? "" : "s", sum.labels ? ", labels" : "");
    return 0;
}
