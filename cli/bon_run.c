/* bon_run.c — `goodhart bon run`: the Best-of-N experiment. Either samples a
 * pool from a model (-m, --prompts, --proxy, --gold) and analyses it, or
 * analyses precomputed candidates (--in). Writes the run directory described
 * in goodhart/bon.h and prints where the report is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "goodhart/bon.h"
#include "goodhart/reward.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: goodhart bon run -m MODEL --prompts FILE.jsonl --proxy SPEC --gold SPEC [options]\n"
            "       goodhart bon run --in CANDIDATES.jsonl [--reward NAME] [--gold-score NAME] [options]\n"
            "  -m, --model REF      policy (and reference) model: a GGUF file\n"
            "  --prompts FILE       JSON Lines: {\"id\": ..., \"prompt\": ..., \"reference\": ...}\n"
            "  --proxy SPEC         the reward the rules optimise (see goodhart/reward.h: e.g. head:FILE.gguf,\n"
            "                       'lexicon:@words.txt;-2*repetition:3')\n"
            "  --gold SPEC          the reward we actually want (for the curves)\n"
            "  -N N                 samples per prompt (default 32)\n"
            "  --max-tokens T       tokens per sample (default 48)\n"
            "  --temp T, --top-k K, --top-p P, --min-p P   sampling (default: temperature 1, no filters)\n"
            "  --seed S             seed of samples, orderings, split and stochastic picks (default 0)\n"
            "  --embed-layer L      layer of the mean-pooled embedding for rbon-wd/mbr (default: last)\n"
            "  --embed-model REF    an embedding model (e.g. a BERT GGUF): its L2-normalised embedding of\n"
            "                       each response is the cost of rbon-wd/srbon-wd/mbr instead of the policy's\n"
            "                       hidden states\n"
            "  --in FILE            analyse precomputed candidates instead of sampling\n"
            "  --reward NAME        score used as proxy with --in (default proxy)\n"
            "  --gold-score NAME    score used as gold with --in (default gold)\n"
            "  --betas B1,B2,...    the beta grid (default 0,0.001,0.003,...,100)\n"
            "  --orders K           random orderings per prompt for the n-curves (default 16)\n"
            "  --dev-fraction F     prompts used to tune beta (default 0.5)\n"
            "  -o, --out DIR        run directory (default runs/bon)\n"
            "  --force              start over if DIR holds a run with other settings\n"
            "  -t, --threads N      CPU threads (default: all)\n"
            "A run interrupted (even by kill -9) and started again with the same settings\n"
            "resumes after the last finished prompt.\n");
}

int cmd_bon_run(int argc, char **argv) {
    const char *cmd = "bon run";
    const char *model = NULL, *prompts_path = NULL, *proxy_spec = NULL, *gold_spec = NULL, *in = NULL, *embed_model = NULL;
    const char *out = "runs/bon", *reward_name = "proxy", *gold_name = "gold";
    gh_bon_sample_params sp = gh_bon_sample_default_params();
    gh_bon_analysis_params ap = gh_bon_analysis_default_params();
    double *betas = NULL;
    long long threads = 0;
    for (int i = 1; i < argc; i++) {
        int brc;
        const char *v = NULL;
        bool miss = false;
        long long iv;
        double dv;
        if (cli_flag(argv[i], "-h", "--help")) { usage(stdout); free(betas); return 0; }
        else if ((brc = cli_backend_opt(cmd, argv, &i, argc))) { if (brc < 0) return 2; }
        else if (cli_opt(argv, &i, argc, "-m", "--model", &model, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--prompts", &prompts_path, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--proxy", &proxy_spec, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--gold", &gold_spec, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--in", &in, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--embed-model", &embed_model, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--reward", &reward_name, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--gold-score", &gold_name, &miss)) {}
        else if (cli_opt(argv, &i, argc, "-o", "--out", &out, &miss)) {}
        else if (cli_flag(argv[i], NULL, "--force")) sp.force = true;
        else if (cli_opt(argv, &i, argc, "-N", NULL, &v, &miss) || cli_opt(argv, &i, argc, NULL, "--samples", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 1, 1 << 16, &iv)) { free(betas); return cli_usage_error(cmd, "N must be an integer in [1, 65536], not '%s'", v); }
            if (!miss) sp.n = (int32_t)iv;
        } else if (cli_opt(argv, &i, argc, NULL, "--max-tokens", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 1, 1 << 20, &iv)) { free(betas); return cli_usage_error(cmd, "bad --max-tokens '%s'", v); }
            if (!miss) sp.sampler.max_tokens = (int32_t)iv;
        } else if (cli_opt(argv, &i, argc, NULL, "--temp", &v, &miss)) {
            if (!miss && !cli_parse_float(v, 0, 100, &dv)) { free(betas); return cli_usage_error(cmd, "bad --temp '%s'", v); }
            if (!miss) sp.sampler.temp = (float)dv;
        } else if (cli_opt(argv, &i, argc, NULL, "--top-k", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 0, 1 << 30, &iv)) { free(betas); return cli_usage_error(cmd, "bad --top-k '%s'", v); }
            if (!miss) sp.sampler.top_k = (int32_t)iv;
        } else if (cli_opt(argv, &i, argc, NULL, "--top-p", &v, &miss)) {
            if (!miss && !cli_parse_float(v, 0, 1, &dv)) { free(betas); return cli_usage_error(cmd, "bad --top-p '%s'", v); }
            if (!miss) sp.sampler.top_p = (float)dv;
        } else if (cli_opt(argv, &i, argc, NULL, "--min-p", &v, &miss)) {
            if (!miss && !cli_parse_float(v, 0, 1, &dv)) { free(betas); return cli_usage_error(cmd, "bad --min-p '%s'", v); }
            if (!miss) sp.sampler.min_p = (float)dv;
        } else if (cli_opt(argv, &i, argc, NULL, "--seed", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 0, INT64_MAX, &iv)) { free(betas); return cli_usage_error(cmd, "bad --seed '%s'", v); }
            if (!miss) sp.sampler.seed = ap.seed = (uint64_t)iv;
        } else if (cli_opt(argv, &i, argc, NULL, "--embed-layer", &v, &miss)) {
            if (!miss && !cli_parse_int(v, -1, 4096, &iv)) { free(betas); return cli_usage_error(cmd, "bad --embed-layer '%s'", v); }
            if (!miss) sp.embed_layer = (int32_t)iv;
        } else if (cli_opt(argv, &i, argc, NULL, "--betas", &v, &miss)) {
            free(betas);
            betas = NULL;
            if (!miss && !cli_parse_doubles(v, 0, 1e300, &betas, &ap.n_betas))
                return cli_usage_error(cmd, "--betas needs comma-separated numbers >= 0, not '%s'", v);
            ap.betas = betas;
        } else if (cli_opt(argv, &i, argc, NULL, "--orders", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 1, 100000, &iv)) { free(betas); return cli_usage_error(cmd, "bad --orders '%s'", v); }
            if (!miss) ap.n_orders = (int32_t)iv;
        } else if (cli_opt(argv, &i, argc, NULL, "--dev-fraction", &v, &miss)) {
            if (!miss && !cli_parse_float(v, 0, 1, &dv)) { free(betas); return cli_usage_error(cmd, "bad --dev-fraction '%s'", v); }
            if (!miss) ap.dev_fraction = dv;
        } else if (cli_opt(argv, &i, argc, "-t", "--threads", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 0, 4096, &threads)) { free(betas); return cli_usage_error(cmd, "bad --threads '%s'", v); }
        } else {
            free(betas);
            return cli_usage_error(cmd, "unknown option '%s'\n(see 'goodhart bon run --help')", argv[i]);
        }
        if (miss) { free(betas); return cli_usage_error(cmd, "option '%s' needs a value", argv[i]); }
    }
    int rc = 0;
    gh_backend *b = NULL, *eb = NULL;
    gh_reward *proxy = NULL, *gold = NULL;
    gh_bon_prompt *prompts = NULL;
    int64_t np = 0;
    gh_bon_file *f = NULL;
    char pool[4096];
    if (!in) {
        if (!model || !prompts_path || !proxy_spec || !gold_spec) {
            free(betas);
            return cli_usage_error(cmd, "needs -m MODEL, --prompts FILE, --proxy SPEC and --gold SPEC (or --in FILE)");
        }
        if ((rc = cli_open_backend(cmd, model, (int32_t)threads, &b))) goto done;
        if (embed_model && (rc = cli_open_backend(cmd, embed_model, (int32_t)threads, &eb))) goto done;
        sp.embedder = eb;
        if (gh_bon_prompts_read(prompts_path, &prompts, &np) || gh_reward_parse(proxy_spec, "proxy", b, &proxy) ||
            gh_reward_parse(gold_spec, "gold", b, &gold)) { rc = cli_fail(cmd); goto done; }
        sp.progress = cli_progress;
        sp.progress_user = "  ";
        int64_t resumed = 0;
        if (gh_bon_sample(b, prompts, np, proxy, gold, out, &sp, &resumed)) { rc = cli_fail(cmd); goto done; }
        if (resumed) fprintf(stderr, "resumed: %lld of %lld prompts were already done in %s\n", (long long)resumed, (long long)np, out);
        snprintf(pool, sizeof pool, "%s/pool.jsonl", out);
        in = pool;
    }
    if (gh_bon_file_read(in, &f)) { rc = cli_fail(cmd); goto done; }
    ap.reward = reward_name;
    ap.gold = gold_name;
    ap.progress = cli_progress;
    ap.progress_user = "  ";
    gh_bon_summary sum;
    if (gh_bon_analyse(f, out, &ap, &sum)) { rc = cli_fail(cmd); goto done; }
    printf("%-13s %10s %12s %10s %12s\n", "rule", "beta", "gold@N", "±95%", "proxy@N");
    for (int32_t r = 0; r < sum.n_rules; r++) {
        const gh_bon_rule_result *rr = &sum.rules[r];
        printf("%-13s %10g %12.5g %10.3g %12.5g\n", gh_bon_rule_name(rr->rule), rr->beta, rr->test_gold, rr->test_gold_ci, rr->test_reward);
    }
    printf("N = %d, %lld prompts (%lld dev, %lld test), Spearman(proxy, gold) = %.3f\n", sum.n_max, (long long)sum.n_prompts,
           (long long)sum.n_dev, (long long)sum.n_test, sum.spearman);
    printf("report: %s/report.html\n", out);
done:
    gh_bon_file_free(f);
    gh_bon_prompts_free(prompts, np);
    gh_reward_free(proxy);
    gh_reward_free(gold);
    gh_backend_free(b);
    gh_backend_free(eb);
    free(betas);
    return rc;
}
