/* demo.c — `goodhart demo`, the project's main job: the Best-of-N experiment
 * end to end on the default model (stories260K), with nothing to download.
 *
 *   gold reward   a rule: words of a happy, kind story minus words of a sad one,
 *                 minus a penalty for repeated word pairs (the word lists in data/demo)
 *   proxy reward  a linear Bradley–Terry head on the policy's own hidden state,
 *                 trained by goodhart on a few preference pairs of the policy's
 *                 samples for other prompts, labelled by the gold reward — so it
 *                 is correlated with the gold reward but imperfect
 *   experiment    N samples per prompt, every rule, every beta, n = 1..N
 *                 (gh_bon_sample + gh_bon_analyse), report in runs/demo/.
 * Everything is seeded: the same seed gives the same numbers and report. */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "cli.h"
#include "goodhart/bon.h"
#include "goodhart/reward.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: goodhart demo [options]\n"
            "Runs the Best-of-N experiment on the default model and writes an HTML report.\n"
            "  -m, --model REF    policy model (default models/stories260K.gguf)\n"
            "  --data DIR         the demo's prompts and word lists (default data/demo)\n"
            "  -o, --out DIR      run directory (default runs/demo)\n"
            "  -N N               samples per prompt (default 32)\n"
            "  --pairs K          preference pairs the proxy head is trained on (default 48)\n"
            "  --prompts K        use only the first K prompts (default all 48)\n"
            "  --seed S           seed (default 1)\n"
            "  --force            start over if the run directory holds other settings\n"
            "  -t, --threads N    CPU threads (default: all)\n");
}

/* First existing path among dir-relative candidates: as given, or next to the
 * binary's parent folder (build/goodhart -> ./data/demo). */
static const char *locate(const char *rel, char *buf, size_t n) {
    if (access(rel, R_OK) == 0) return rel;
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = 0;
        char *d = dirname(exe);
        snprintf(buf, n, "%s/../%s", d, rel);
        if (access(buf, R_OK) == 0) return buf;
    }
    return rel;
}

int cmd_demo(int argc, char **argv) {
    const char *cmd = "demo";
    const char *model = NULL, *data = NULL, *out = "runs/demo";
    long long n = 32, pairs_wanted = 48, seed = 1, threads = 0, max_prompts = 0;
    bool force = false;
    for (int i = 1; i < argc; i++) {
        int brc;
        const char *v = NULL;
        bool miss = false;
        if (cli_flag(argv[i], "-h", "--help")) { usage(stdout); return 0; }
        else if ((brc = cli_backend_opt(cmd, argv, &i, argc))) { if (brc < 0) return 2; }
        else if (cli_opt(argv, &i, argc, "-m", "--model", &model, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--data", &data, &miss)) {}
        else if (cli_opt(argv, &i, argc, "-o", "--out", &out, &miss)) {}
        else if (cli_flag(argv[i], NULL, "--force")) force = true;
        else if (cli_opt(argv, &i, argc, "-N", NULL, &v, &miss)) {
            if (!miss && !cli_parse_int(v, 1, 4096, &n)) return cli_usage_error(cmd, "bad -N '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--pairs", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 1, 1 << 20, &pairs_wanted)) return cli_usage_error(cmd, "bad --pairs '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--prompts", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 1, 1 << 30, &max_prompts)) return cli_usage_error(cmd, "bad --prompts '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--seed", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 0, INT64_MAX, &seed)) return cli_usage_error(cmd, "bad --seed '%s'", v);
        } else if (cli_opt(argv, &i, argc, "-t", "--threads", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 0, 4096, &threads)) return cli_usage_error(cmd, "bad --threads '%s'", v);
        } else {
            return cli_usage_error(cmd, "unknown option '%s'\n(see 'goodhart demo --help')", argv[i]);
        }
        if (miss) return cli_usage_error(cmd, "option '%s' needs a value", argv[i]);
    }
    char mbuf[PATH_MAX + 16], dbuf[PATH_MAX + 16];
    if (!model) model = locate("models/stories260K.gguf", mbuf, sizeof mbuf);
    if (!data) data = locate("data/demo", dbuf, sizeof dbuf);
    if (access(model, R_OK) != 0) {
        fprintf(stderr, "goodhart demo: the default model %s is missing; run 'bash scripts/demo.sh' (it converts "
                        "stories260K) or pass -m MODEL\n", model);
        return 1;
    }
    char prompts_path[PATH_MAX + 64], train_path[PATH_MAX + 64], gold_spec[3 * PATH_MAX], head_path[PATH_MAX + 64], proxy_spec[PATH_MAX + 80];
    snprintf(prompts_path, sizeof prompts_path, "%s/prompts.jsonl", data);
    snprintf(train_path, sizeof train_path, "%s/train_prompts.jsonl", data);
    snprintf(gold_spec, sizeof gold_spec, "lexicon:@%s/positive.txt;-1*lexicon:@%s/negative.txt;-4*repetition:2", data, data);

    int rc = 0;
    gh_backend *b = NULL;
    gh_reward *gold = NULL, *proxy = NULL;
    gh_bon_prompt *prompts = NULL, *train = NULL;
    int64_t np = 0, nt = 0;
    gh_pref_pair *pairs = NULL;
    gh_samples **tsamples = NULL;
    gh_bon_file *f = NULL;
    char *intro = NULL, *settings = NULL;
    if ((rc = cli_open_backend(cmd, model, (int32_t)threads, &b))) return rc;
    if (gh_bon_prompts_read(prompts_path, &prompts, &np) || gh_bon_prompts_read(train_path, &train, &nt) ||
        gh_reward_parse(gold_spec, "gold", b, &gold)) { rc = cli_fail(cmd); goto done; }
    int64_t n_use = max_prompts && max_prompts < np ? max_prompts : np;
    if (gh_mkdir_p(out)) { rc = cli_fail(cmd); goto done; }

    /* 1. the proxy: preference pairs from the policy's samples for the training
     * prompts, labelled by the gold reward, and a Bradley–Terry head on them */
    gh_sampler_params sp = gh_sampler_default_params();
    sp.max_tokens = 40;
    sp.seed = (uint64_t)seed + 1000003u; /* a different stream from the experiment's */
    const int32_t per_prompt = 4;
    pairs = calloc((size_t)nt * 2, sizeof *pairs);
    tsamples = calloc((size_t)nt, sizeof *tsamples);
    if (!pairs || !tsamples) { fprintf(stderr, "goodhart demo: out of memory\n"); rc = 1; goto done; }
    int64_t npairs = 0;
    for (int64_t i = 0; i < nt && npairs < pairs_wanted; i++) {
        sp.first_sample = 0;
        if (gh_backend_generate(b, train[i].prompt, &sp, per_prompt, &tsamples[i])) { rc = cli_fail(cmd); goto done; }
        double g[4];
        for (int32_t k = 0; k < per_prompt; k++) {
            gh_reward_input in = {.prompt = train[i].prompt, .response = tsamples[i]->samples[k].text, .n_tokens = -1};
            if (gh_reward_score(gold, &in, &g[k])) { rc = cli_fail(cmd); goto done; }
        }
        for (int32_t k = 0; k + 1 < per_prompt && npairs < pairs_wanted; k += 2) {
            if (g[k] == g[k + 1]) continue; /* no preference */
            int32_t c = g[k] > g[k + 1] ? k : k + 1, r = c == k ? k + 1 : k;
            pairs[npairs++] = (gh_pref_pair){train[i].prompt, tsamples[i]->samples[c].text, tsamples[i]->samples[r].text};
        }
        cli_progress("  ", "proxy pairs", npairs, pairs_wanted);
    }
    if (npairs < pairs_wanted) cli_progress("  ", "proxy pairs", pairs_wanted, pairs_wanted);
    snprintf(head_path, sizeof head_path, "%s/proxy_head.gguf", out);
    gh_head_spec hs = gh_head_default_spec();
    gh_bt_params bt = gh_bt_default_params();
    gh_bt_stats st;
    if (gh_head_train(b, &hs, pairs, npairs, &bt, head_path, &st)) { rc = cli_fail(cmd); goto done; }
    fprintf(stderr, "proxy head: %lld pairs, training accuracy %.3f\n", (long long)npairs, st.accuracy);
    snprintf(proxy_spec, sizeof proxy_spec, "head:%s", head_path);
    if (gh_reward_parse(proxy_spec, "proxy", b, &proxy)) { rc = cli_fail(cmd); goto done; }

    /* 2. the experiment */
    gh_bon_sample_params bp = gh_bon_sample_default_params();
    bp.n = (int32_t)n;
    bp.sampler.max_tokens = 40;
    bp.sampler.seed = (uint64_t)seed;
    bp.force = force;
    bp.progress = cli_progress;
    bp.progress_user = "  ";
    int64_t resumed = 0;
    if (gh_bon_sample(b, prompts, n_use, proxy, gold, out, &bp, &resumed)) { rc = cli_fail(cmd); goto done; }
    if (resumed) fprintf(stderr, "resumed: %lld of %lld prompts were already done in %s\n", (long long)resumed, (long long)n_use, out);
    char pool[PATH_MAX + 64];
    snprintf(pool, sizeof pool, "%s/pool.jsonl", out);
    if (gh_bon_file_read(pool, &f)) { rc = cli_fail(cmd); goto done; }
    size_t il = 4096 + strlen(model);
    intro = malloc(il);
    settings = malloc(il + strlen(gold_spec) + strlen(proxy_spec));
    if (!intro || !settings) { fprintf(stderr, "goodhart demo: out of memory\n"); rc = 1; goto done; }
    snprintf(intro, il,
             "The policy is the tiny story model %s; it continues %lld story openings, %lld times each (temperature 1, "
             "40 tokens). The gold reward is a rule: the number of words of a happy, kind story (data/demo/positive.txt) "
             "minus the number of words of a sad or scary one (negative.txt), minus 4 × the fraction of repeated word "
             "pairs. The proxy reward is what a reward model would be: a linear Bradley–Terry head on the policy's own "
             "final hidden state (mean over the response's tokens), trained by goodhart on %lld preference pairs of the "
             "policy's samples for other openings, labelled by the gold reward (training accuracy %.2f). It is "
             "correlated with the gold reward but imperfect, the setting in which picking the proxy's best of many "
             "samples can over-optimise it. What follows is what happened with seed %lld.",
             model, (long long)n_use, n, (long long)npairs, st.accuracy, seed);
    snprintf(settings, il + strlen(gold_spec) + strlen(proxy_spec),
             "goodhart demo --seed %lld -N %lld --pairs %lld\nmodel: %s\ngold:  %s\nproxy: %s\n"
             "samples: temperature 1, 40 tokens, seed %lld; %lld prompts", seed, n, pairs_wanted, model, gold_spec, proxy_spec, seed, (long long)n_use);
    gh_bon_analysis_params ap = gh_bon_analysis_default_params();
    ap.seed = (uint64_t)seed;
    ap.title = "goodhart demo: Best-of-N and regularized Best-of-N on stories260K";
    ap.intro = intro;
    ap.settings = settings;
    gh_bon_summary sum;
    if (gh_bon_analyse(f, out, &ap, &sum)) { rc = cli_fail(cmd); goto done; }
    printf("%-13s %10s %12s %10s %12s\n", "rule", "beta", "gold@N", "±95%", "proxy@N");
    for (int32_t r = 0; r < sum.n_rules; r++) {
        const gh_bon_rule_result *rr = &sum.rules[r];
        printf("%-13s %10g %12.4f %10.4f %12.4f\n", gh_bon_rule_name(rr->rule), rr->beta, rr->test_gold, rr->test_gold_ci, rr->test_reward);
    }
    printf("N = %d, %lld prompts (%lld dev, %lld test), one sample: gold %.4f, Spearman(proxy, gold) = %.3f\n", sum.n_max,
           (long long)sum.n_prompts, (long long)sum.n_dev, (long long)sum.n_test, sum.gold_n1, sum.spearman);
    printf("report: %s/report.html\n", out);
done:
    if (tsamples) for (int64_t i = 0; i < nt; i++) gh_samples_free(tsamples[i]);
    free(tsamples);
    free(pairs);
    free(intro);
    free(settings);
    gh_bon_file_free(f);
    gh_bon_prompts_free(prompts, np);
    gh_bon_prompts_free(train, nt);
    gh_reward_free(gold);
    gh_reward_free(proxy);
    gh_backend_free(b);
    return rc;
}
