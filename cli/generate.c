/* generate.c — `goodhart generate -m MODEL -p PROMPT [-n TOKENS] [--samples K] ...`:
 * K samples of a prompt, decoded together; each reproducible from (seed, index). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *usage_text =
    "usage: goodhart generate -m MODEL -p PROMPT [options]\n"
    "  -n, --tokens N      tokens to generate per sample (default 64)\n"
    "  --samples K         samples to draw, decoded as one batch (default 1)\n"
    "  --temp T            temperature; 0 is greedy (default 1.0)\n"
    "  --top-k K, --top-p P, --min-p P, --epsilon E   sampling filters (off by default)\n"
    "  --seed S            random seed (default 0); sample i uses stream (S, i)\n"
    "  --first-sample I    index of the first sample (default 0)\n"
    "  --no-stop           do not stop at end-of-generation tokens\n"
    "  --no-bos            do not add the BOS token\n"
    "  --with-prompt       plain output starts with the prompt text\n"
    "  --json              one JSON object per line and sample\n"
    "  -t, --threads N     CPU threads (default: all)\n" CLI_BACKEND_USAGE;

int cmd_generate(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *v;
    gh_sampler_params sp = gh_sampler_default_params();
    long long samples = 1, threads = 0, ll;
    double d;
    bool json = false, with_prompt = false, missing = false;
    for (int i = 1; i < argc; i++) {
        int brc;
        const char *a = argv[i];
        if (cli_flag(a, "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        else if ((brc = cli_backend_opt("generate", argv, &i, argc))) { if (brc < 0) return 2; }
        else if (cli_opt(argv, &i, argc, "-m", "--model", &v, &missing)) model = v;
        else if (cli_opt(argv, &i, argc, "-p", "--prompt", &v, &missing)) prompt = v;
        else if (cli_opt(argv, &i, argc, "-n", "--tokens", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 0, 1 << 24, &ll)) return cli_usage_error("generate", "-n needs a token count, got '%s'", v);
            sp.max_tokens = (int32_t)ll;
        } else if (cli_opt(argv, &i, argc, NULL, "--samples", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1000000, &samples)) return cli_usage_error("generate", "--samples needs a count >= 1, got '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--temp", &v, &missing)) {
            if (!missing && !cli_parse_float(v, 0, 1e6, &d)) return cli_usage_error("generate", "--temp needs a number >= 0, got '%s'", v);
            sp.temp = (float)d;
        } else if (cli_opt(argv, &i, argc, NULL, "--top-k", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 0, 1 << 30, &ll)) return cli_usage_error("generate", "--top-k needs an integer >= 0, got '%s'", v);
            sp.top_k = (int32_t)ll;
        } else if (cli_opt(argv, &i, argc, NULL, "--top-p", &v, &missing)) {
            if (!missing && (!cli_parse_float(v, 0, 1, &d) || d <= 0)) return cli_usage_error("generate", "--top-p needs a number in (0, 1], got '%s'", v);
            sp.top_p = (float)d;
        } else if (cli_opt(argv, &i, argc, NULL, "--min-p", &v, &missing)) {
            if (!missing && !cli_parse_float(v, 0, 1, &d)) return cli_usage_error("generate", "--min-p needs a number in [0, 1], got '%s'", v);
            sp.min_p = (float)d;
        } else if (cli_opt(argv, &i, argc, NULL, "--epsilon", &v, &missing)) {
            if (!missing && (!cli_parse_float(v, 0, 1, &d) || d >= 1)) return cli_usage_error("generate", "--epsilon needs a number in [0, 1), got '%s'", v);
            sp.epsilon = (float)d;
        } else if (cli_opt(argv, &i, argc, NULL, "--seed", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 0, INT64_MAX, &ll)) return cli_usage_error("generate", "--seed needs an integer >= 0, got '%s'", v);
            sp.seed = (uint64_t)ll;
        } else if (cli_opt(argv, &i, argc, NULL, "--first-sample", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 0, INT32_MAX, &ll)) return cli_usage_error("generate", "--first-sample needs an integer >= 0, got '%s'", v);
            sp.first_sample = (int32_t)ll;
        } else if (cli_opt(argv, &i, argc, "-t", "--threads", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1024, &threads)) return cli_usage_error("generate", "-t needs a thread count >= 1, got '%s'", v);
        } else if (cli_flag(a, NULL, "--no-stop")) sp.stop_at_eog = false;
        else if (cli_flag(a, NULL, "--no-bos")) sp.add_bos = 0;
        else if (cli_flag(a, NULL, "--with-prompt")) with_prompt = true;
        else if (cli_flag(a, NULL, "--json")) json = true;
        else return cli_usage_error("generate", "unknown option '%s'", a);
        if (missing) return cli_usage_error("generate", "option '%s' needs a value", a);
    }
    if (!model) return cli_usage_error("generate", "no model given (-m MODEL)");
    if (!prompt) prompt = "";
    gh_backend *b;
    if (cli_open_backend("generate", model, (int32_t)threads, &b)) return 1;
    gh_samples *res;
    if (gh_backend_generate(b, prompt, &sp, (int32_t)samples, &res) != GH_OK) {
        gh_backend_free(b);
        return cli_fail("generate");
    }
    for (int32_t i = 0; i < res->n; i++) {
        const gh_sample *s = &res->samples[i];
        if (json) {
            printf("{\"sample\":%d,\"seed\":%llu,\"prompt\":", s->index, (unsigned long long)sp.seed);
            cli_json_string(stdout, prompt, strlen(prompt));
            printf(",\"text\":");
            cli_json_string(stdout, s->text, strlen(s->text));
            printf(",\"tokens\":[");
            for (int32_t j = 0; j < s->n_tokens; j++) printf("%s%d", j ? "," : "", s->tokens[j]);
            printf("],\"n_prompt_tokens\":%d,\"logprob\":%.9g,\"finish_reason\":\"%s\"}\n",
                   res->n_prompt_tokens, s->logprob, s->finish);
        } else {
            if (res->n > 1) printf("--- sample %d ---\n", s->index);
            printf("%s%s\n", with_prompt ? prompt : "", s->text);
        }
    }
    gh_samples_free(res);
    gh_backend_free(b);
    return 0;
}
