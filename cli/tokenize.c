/* tokenize.c — `goodhart tokenize -m MODEL [--no-bos] [--ids] [--parse-special] [[--] TEXT]`.
 * Without TEXT the text is stdin, byte for byte (no trailing newline stripped);
 * after `--` the next argument is the text even if it starts with '-'. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "goodhart/model.h"

static const char *usage_text =
    "usage: goodhart tokenize -m MODEL.gguf [--no-bos] [--ids] [--parse-special] [[--] TEXT]\n"
    "Without TEXT, reads stdin byte for byte; after --, TEXT may start with '-'.\n"
    "--ids prints the ids on one line,\n"
    "separated by single spaces; otherwise one line per token: id, tab, the\n"
    "vocabulary entry as a JSON string.\n";

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *text = NULL, *v;
    bool bos = true, ids_only = false, special = false, missing = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) { /* the text follows, even one starting with '-' */
            if (i + 1 < argc && !text) text = argv[++i];
            if (i + 1 < argc || (i + 1 == argc && !text)) return cli_usage_error("tokenize", "'--' must be followed by exactly one text");
            break;
        }
        if (cli_flag(argv[i], "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        else if (cli_opt(argv, &i, argc, "-m", "--model", &v, &missing)) model = v;
        else if (cli_opt(argv, &i, argc, "-t", "--threads", &v, &missing)) (void)v;
        else if (cli_flag(argv[i], NULL, "--no-bos")) bos = false;
        else if (cli_flag(argv[i], NULL, "--ids")) ids_only = true;
        else if (cli_flag(argv[i], NULL, "--parse-special")) special = true;
        else if (argv[i][0] == '-' && argv[i][1] != '\0' && !text) return cli_usage_error("tokenize", "unknown option '%s'", argv[i]);
        else if (!text) text = argv[i];
        else return cli_usage_error("tokenize", "more than one text given");
        if (missing) return cli_usage_error("tokenize", "option '%s' needs a value", argv[i]);
    }
    if (!model) return cli_usage_error("tokenize", "no model given (-m MODEL)");
    size_t len;
    char *buf = NULL;
    if (text) len = strlen(text);
    else {
        buf = cli_read_stdin(&len);
        if (!buf) { fprintf(stderr, "goodhart tokenize: cannot read stdin\n"); return 1; }
        text = buf;
    }
    gh_model *m;
    gh_model_params mp = gh_model_default_params();
    mp.use_mmap = true; /* the tokenizer only: no need to read the weights */
    if (gh_model_load(model, &mp, &m) != GH_OK) { free(buf); return cli_fail("tokenize"); }
    const gh_tokenizer *tok = gh_model_tokenizer(m);
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = 0;
    if (gh_tokenize(tok, text, len, false, special, &ids, &n) != GH_OK) rc = cli_fail("tokenize");
    else {
        int32_t b = gh_tokenizer_bos(tok);
        bool add = bos && b >= 0 && gh_tokenizer_add_bos(tok);
        if (ids_only) {
            if (add) printf("%d%s", b, n ? " " : "");
            for (size_t i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
            printf("\n");
        } else {
            for (size_t i = 0; i < n + add; i++) {
                int32_t id = add ? (i == 0 ? b : ids[i - 1]) : ids[i];
                const char *piece = gh_tokenizer_token_text(tok, id);
                printf("%d\t", id);
                cli_json_string(stdout, piece, strlen(piece));
                printf("\n");
            }
        }
    }
    free(ids);
    free(buf);
    gh_model_free(m);
    return rc;
}
