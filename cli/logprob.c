/* logprob.c — `goodhart logprob -m MODEL --prompt P --completion C [--json] [--top-k K]`:
 * per-token log-probabilities of C given P under the model (teacher forcing). */
#include <string.h>

#include "cli.h"

static const char *usage_text =
    "usage: goodhart logprob -m MODEL --prompt P --completion C [--json] [--top-k K] [-t N]\n"
    "Prints each completion token with log p(token | everything before it), then\n"
    "the total and the mean (length-normalised) log-probability.\n";

int cmd_logprob(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *completion = NULL, *v;
    long long top_k = 0, threads = 0;
    bool json = false, missing = false;
    for (int i = 1; i < argc; i++) {
        int brc;
        const char *a = argv[i];
        if (cli_flag(a, "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        else if ((brc = cli_backend_opt("logprob", argv, &i, argc))) { if (brc < 0) return 2; }
        else if (cli_opt(argv, &i, argc, "-m", "--model", &v, &missing)) model = v;
        else if (cli_opt(argv, &i, argc, "-p", "--prompt", &v, &missing)) prompt = v;
        else if (cli_opt(argv, &i, argc, "-c", "--completion", &v, &missing)) completion = v;
        else if (cli_opt(argv, &i, argc, NULL, "--top-k", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 0, 1000, &top_k)) return cli_usage_error("logprob", "--top-k needs an integer in [0, 1000], got '%s'", v);
        } else if (cli_opt(argv, &i, argc, "-t", "--threads", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1024, &threads)) return cli_usage_error("logprob", "-t needs a thread count >= 1, got '%s'", v);
        } else if (cli_flag(a, NULL, "--json")) json = true;
        else return cli_usage_error("logprob", "unknown option '%s'", a);
        if (missing) return cli_usage_error("logprob", "option '%s' needs a value", a);
    }
    if (!model) return cli_usage_error("logprob", "no model given (-m MODEL)");
    if (!prompt) return cli_usage_error("logprob", "no prompt given (--prompt P)");
    if (!completion) return cli_usage_error("logprob", "no completion given (--completion C)");
    gh_backend *b;
    if (cli_open_backend("logprob", model, (int32_t)threads, &b)) return 1;
    gh_logprobs *r;
    if (gh_backend_logprob(b, prompt, completion, (int32_t)top_k, &r) != GH_OK) {
        gh_backend_free(b);
        return cli_fail("logprob");
    }
    if (json) {
        printf("{\"n_prompt_tokens\":%d,\"tokens\":[", r->n_prompt);
        for (int32_t i = 0; i < r->n; i++) printf("%s%d", i ? "," : "", r->tokens[i]);
        printf("],\"token_text\":[");
        for (int32_t i = 0; i < r->n; i++) {
            if (i) printf(",");
            cli_json_string(stdout, r->token_text[i], strlen(r->token_text[i]));
        }
        printf("],\"token_logprobs\":[");
        for (int32_t i = 0; i < r->n; i++) printf("%s%.9g", i ? "," : "", r->token_logprobs[i]);
        printf("]");
        if (top_k) {
            printf(",\"top_logprobs\":[");
            for (int32_t i = 0; i < r->n; i++) {
                printf("%s[", i ? "," : "");
                for (int32_t j = 0; j < r->top_k; j++)
                    printf("%s{\"id\":%d,\"logprob\":%.9g}", j ? "," : "", r->top_ids[i * r->top_k + j],
                           r->top_logprobs[i * r->top_k + j]);
                printf("]");
            }
            printf("]");
        }
        printf(",\"total\":%.9g,\"mean\":%.9g}\n", r->total, r->n ? r->mean : 0.0);
    } else {
        for (int32_t i = 0; i < r->n; i++) {
            printf("%6d  %12.6f  ", r->tokens[i], r->token_logprobs[i]);
            cli_json_string(stdout, r->token_text[i], strlen(r->token_text[i]));
            printf("\n");
        }
        printf("total %.6f  mean %.6f  tokens %d\n", r->total, r->n ? r->mean : 0.0, r->n);
    }
    gh_logprobs_free(r);
    gh_backend_free(b);
    return 0;
}
