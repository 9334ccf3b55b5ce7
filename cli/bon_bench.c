/* bon_bench.c — `goodhart bon bench`: how long the Best-of-N selection step
 * takes per prompt, against how long drawing the samples takes.
 *
 * Selection is timed on synthetic pools (seeded random rewards, log-probs,
 * token counts and embeddings; N = 128 candidates of dimension 768 by default)
 * so the numbers do not depend on a model: per prompt, the cosine cost matrix
 * once (it dominates: N^2/2 dot products of length dim) and then every rule
 * over the whole pool. Generation is timed on a real model, N samples of
 * --max-tokens tokens for one prompt, with end-of-generation stops off so the
 * workload is exactly N x max-tokens tokens. This is a benchmark, not a test:
 * the machine is shared and the numbers are noisy. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/rng.h"
#include "cli.h"
#include "goodhart/bon.h"

static const char *usage_text =
    "usage: goodhart bon bench [-m MODEL] [-N 128] [--dim 768] [--prompts P] [--max-tokens T]\n"
    "                          [-t THREADS] [--beta B] [--seed S] [--no-generate] [--json]\n"
    "Times the selection step of Best-of-N: per prompt, the cosine cost matrix of N\n"
    "embeddings (once) and every rule over the N candidates, on synthetic pools,\n"
    "averaged over P prompts (default 20); then, with a model, the time to generate\n"
    "the N samples of T tokens (default 64) for one prompt, and the ratio of the two.\n"
    "  -m MODEL        model for the generation timing (default models/stories260K.gguf\n"
    "                  if it exists; otherwise generation is not timed)\n"
    "  -N N            candidates per prompt (default 128)\n"
    "  --dim D         embedding dimension (default 768)\n"
    "  --beta B        beta for the regularised rules (default 1)\n"
    "  --no-generate   time the selection only\n"
    "  --json          one JSON object instead of the table\n";

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A synthetic pool for prompt p: rewards ~ N(0,1), a gold reward correlated with
 * them, token counts in [1, T], log pi_ref about -1.5 nats per token, and
 * embeddings sharing a common direction (so similarities are not all ~0). */
static void make_pool(uint64_t seed, int64_t p, int32_t N, int32_t dim, int32_t T, double *R, double *G, double *L,
                      int32_t *nt, float *emb) {
    gh_rng rng;
    gh_rng_seed(&rng, seed, (uint64_t)p);
    for (int32_t i = 0; i < N; i++) {
        R[i] = gh_rng_normal(&rng);
        G[i] = 0.6 * R[i] + 0.8 * gh_rng_normal(&rng);
        nt[i] = 1 + (int32_t)(gh_rng_uniform(&rng) * T);
        L[i] = -(double)nt[i] * (1.0 + fabs(0.5 * gh_rng_normal(&rng)));
    }
    /* row 0 first holds the common direction; rows are then filled from the
     * last to the first, so row 0 is read for every row before its own turn */
    for (int32_t k = 0; k < dim; k++) emb[k] = (float)gh_rng_normal(&rng);
    for (int32_t i = N - 1; i >= 0; i--)
        for (int32_t k = 0; k < dim; k++)
            emb[(size_t)i * (size_t)dim + k] = emb[k] + (float)gh_rng_normal(&rng);
}

int cmd_bon_bench(int argc, char **argv) {
    const char *C = "bon bench";
    const char *model = NULL, *v;
    long long N = 128, dim = 768, prompts = 20, max_tokens = 64, threads = 0, seed = 1;
    double beta = 1.0;
    bool json = false, no_gen = false, missing = false;
    for (int i = 1; i < argc; i++) {
        int brc;
        const char *a = argv[i];
        if (cli_flag(a, "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        else if ((brc = cli_backend_opt(C, argv, &i, argc))) { if (brc < 0) return 2; }
        else if (cli_opt(argv, &i, argc, "-m", "--model", &v, &missing)) model = v;
        else if (cli_opt(argv, &i, argc, "-N", NULL, &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 16384, &N)) return cli_usage_error(C, "-N needs an integer in [1, 16384], got '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--dim", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 65536, &dim)) return cli_usage_error(C, "--dim needs an integer in [1, 65536], got '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--prompts", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1000000, &prompts)) return cli_usage_error(C, "--prompts needs an integer >= 1, got '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--max-tokens", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1000000, &max_tokens)) return cli_usage_error(C, "--max-tokens needs an integer >= 1, got '%s'", v);
        } else if (cli_opt(argv, &i, argc, "-t", "--threads", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1024, &threads)) return cli_usage_error(C, "-t needs a thread count >= 1, got '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--seed", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 0, INT64_MAX, &seed)) return cli_usage_error(C, "--seed needs an integer >= 0, got '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--beta", &v, &missing)) {
            if (!missing && !cli_parse_float(v, 0.0, HUGE_VAL, &beta)) return cli_usage_error(C, "--beta needs a number >= 0, got '%s'", v);
        } else if (cli_flag(a, NULL, "--no-generate")) no_gen = true;
        else if (cli_flag(a, NULL, "--json")) json = true;
        else return cli_usage_error(C, "unknown option '%s'", a);
        if (missing) return cli_usage_error(C, "option '%s' needs a value", a);
    }
    if (!model && !no_gen && access("models/stories260K.gguf", R_OK) == 0) model = "models/stories260K.gguf";
    if (no_gen) model = NULL;

    const int32_t n = (int32_t)N, d = (int32_t)dim;
    double *R = malloc((size_t)n * sizeof *R), *G = malloc((size_t)n * sizeof *G), *L = malloc((size_t)n * sizeof *L);
    double *cost = malloc((size_t)n * (size_t)n * sizeof *cost), *prob = malloc((size_t)n * sizeof *prob);
    int32_t *nt = malloc((size_t)n * sizeof *nt), *idx = malloc((size_t)n * sizeof *idx);
    float *emb = malloc((size_t)n * (size_t)d * sizeof *emb);
    int rc = 0;
    if (!R || !G || !L || !cost || !prob || !nt || !idx || !emb) {
        gh_error(GH_ERR_NOMEM, "out of memory for %d candidates of dimension %d", n, d);
        rc = cli_fail(C);
        goto done;
    }
    for (int32_t i = 0; i < n; i++) idx[i] = i;

    /* seconds summed over prompts: [0] the cost matrix, [1 + r] rule r */
    double sec[1 + GH_BON_N_RULES] = {0};
    int64_t checksum = 0; /* the picks, so the work cannot be optimised away */
    for (int64_t p = 0; p < prompts; p++) {
        make_pool((uint64_t)seed, p, n, d, (int32_t)max_tokens, R, G, L, nt, emb);
        double t0 = now();
        if (gh_bon_cost_cosine(emb, n, d, cost)) { rc = cli_fail(C); goto done; }
        sec[0] += now() - t0;
        gh_bon_pool pool = {.n = n, .reward = R, .gold = G, .logprob = L, .n_tokens = nt, .cost = cost};
        gh_rng rng;
        gh_rng_seed(&rng, (uint64_t)seed ^ 0x5eedull, (uint64_t)p);
        if (p == 0) /* one untimed round first, so the first rule timed does not pay for cold caches */
            for (int r = 0; r < GH_BON_N_RULES; r++) {
                gh_bon_pick pk;
                if (gh_bon_select(&pool, idx, n, (gh_bon_rule)r, beta, 0.5, &pk, prob)) { rc = cli_fail(C); goto done; }
            }
        for (int r = 0; r < GH_BON_N_RULES; r++) {
            gh_bon_pick pk;
            double u = gh_rng_uniform(&rng);
            t0 = now();
            gh_status s = gh_bon_select(&pool, idx, n, (gh_bon_rule)r, beta, u, &pk, prob);
            sec[1 + r] += now() - t0;
            if (s) { rc = cli_fail(C); goto done; }
            checksum += pk.index;
        }
    }
    double us[1 + GH_BON_N_RULES], total_us = 0.0;
    for (int k = 0; k <= GH_BON_N_RULES; k++) {
        us[k] = 1e6 * sec[k] / (double)prompts;
        total_us += us[k];
    }

    /* generation of the N samples for one prompt */
    double gen_s = -1.0;
    int64_t gen_tokens = 0;
    if (model) {
        gh_backend *b;
        if (cli_open_backend(C, model, (int32_t)threads, &b)) { rc = 1; goto done; }
        gh_sampler_params sp = gh_sampler_default_params();
        sp.temp = 1.0f;
        sp.seed = (uint64_t)seed;
        sp.max_tokens = (int32_t)max_tokens;
        sp.stop_at_eog = false;
        gh_samples *out;
        double t0 = now();
        gh_status s = gh_backend_generate(b, "Once upon a time", &sp, n, &out);
        gen_s = now() - t0;
        if (s) { gh_backend_free(b); rc = cli_fail(C); goto done; }
        for (int32_t i = 0; i < out->n; i++) gen_tokens += out->samples[i].n_tokens;
        gh_samples_free(out);
        gh_backend_free(b);
    }

    if (json) {
        printf("{\"n\":%d,\"dim\":%d,\"prompts\":%lld,\"beta\":%.17g,\"us_per_prompt\":{\"cost\":%.3f", n, d, prompts,
               beta, us[0]);
        for (int r = 0; r < GH_BON_N_RULES; r++) printf(",\"%s\":%.3f", gh_bon_rule_name((gh_bon_rule)r), us[1 + r]);
        printf(",\"total\":%.3f}", total_us);
        if (model) {
            printf(",\"generation\":{\"model\":");
            cli_json_string(stdout, model, strlen(model));
            printf(",\"samples\":%d,\"max_tokens\":%lld,\"tokens\":%lld,\"us\":%.3f},\"ratio\":%.6g", n, max_tokens,
                   (long long)gen_tokens, 1e6 * gen_s, total_us / (1e6 * gen_s));
        }
        printf(",\"checksum\":%lld}\n", (long long)checksum);
    } else {
        printf("selection: N=%d candidates, embedding dim %d, beta %g, mean over %lld synthetic prompts\n", n, d, beta,
               prompts);
        printf("  %-22s %12.2f us/prompt\n", "cosine cost matrix", us[0]);
        for (int r = 0; r < GH_BON_N_RULES; r++)
            printf("  %-22s %12.2f us/prompt\n", gh_bon_rule_name((gh_bon_rule)r), us[1 + r]);
        printf("  %-22s %12.2f us/prompt\n", "total (cost + rules)", total_us);
        if (model) {
            printf("generation: %s, %d samples x %lld tokens for one prompt: %.3f s (%.0f tokens/s)\n", model, n,
                   max_tokens, gen_s, gen_s > 0 ? (double)gen_tokens / gen_s : 0.0);
            printf("ratio selection / generation: %.3g (selection is %.3f%% of the time to draw the samples)\n",
                   total_us / (1e6 * gen_s), 100.0 * total_us / (1e6 * gen_s));
        } else {
            printf("generation: not timed (no model; give -m MODEL)\n");
        }
    }
done:
    free(R); free(G); free(L); free(cost); free(prob); free(nt); free(idx); free(emb);
    return rc;
}
