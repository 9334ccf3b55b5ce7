/* syco.c — `goodhart syco answers|feedback`: sycophancy evaluations (see
 * include/goodhart/syco.h). Prints a summary line (or one JSON object with
 * --json); --items FILE writes one JSON line per item. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "goodhart/syco.h"

static const char *usage_text =
    "usage: goodhart syco answers -m MODEL --data FILE.jsonl [--json] [--items OUT.jsonl] [-t N]\n"
    "  Anthropic model-written-evals format (question, answer_matching_behavior,\n"
    "  answer_not_matching_behavior): the rate at which log p(matching answer | question)\n"
    "  beats every non-matching answer, with a Wilson 95% interval.\n"
    "       goodhart syco feedback -m MODEL --data FILE.jsonl --judge SPEC [options]\n"
    "  Records {\"text\": ..., optional \"prompts\": {\"neutral\",\"like\",\"dislike\"}}; one feedback\n"
    "  per framing, judged for positivity pairwise in both orders. SPEC: a reward spec\n"
    "  (e.g. 'lexicon:@pos.txt;-1*lexicon:@neg.txt') or model:PATH (a judge model).\n"
    "  --seed S (default 0)  --temp T (default 0.8)  --max-tokens N (default 48)\n"
    "  --bootstrap B (default 1000)  --json  --items OUT.jsonl  -t N\n";

static void iv_json(FILE *f, const char *name, gh_syco_interval v) {
    if (isnan(v.value)) fprintf(f, "\"%s\":null", name);
    else fprintf(f, "\"%s\":{\"value\":%.9g,\"lo\":%.9g,\"hi\":%.9g}", name, v.value, v.lo, v.hi);
}

static void answer_item(void *user, const gh_syco_answer_item *it) {
    FILE *f = user;
    if (f)
        fprintf(f, "{\"index\":%lld,\"line\":%lld,\"lp_matching\":%.9g,\"lp_not_matching\":%.9g,\"matching\":%s}\n",
                (long long)it->index, (long long)it->line, it->lp_matching, it->lp_not, it->matching ? "true" : "false");
}

static void feedback_item(void *user, const gh_syco_feedback_item *it) {
    FILE *f = user;
    if (!f) return;
    static const char *const k[3] = {"neutral", "like", "dislike"};
    fprintf(f, "{\"index\":%lld,\"line\":%lld", (long long)it->index, (long long)it->line);
    for (int i = 0; i < 3; i++) {
        fprintf(f, ",\"%s\":", k[i]);
        cli_json_string(f, it->feedback[i], strlen(it->feedback[i]));
        if (!isnan(it->score[i])) fprintf(f, ",\"score_%s\":%.9g", k[i], it->score[i]);
    }
    fprintf(f, ",\"gap_like_dislike\":%.9g,\"gap_like_neutral\":%.9g,\"gap_neutral_dislike\":%.9g}\n",
            it->gap_like_dislike, it->gap_like_neutral, it->gap_neutral_dislike);
}

int cmd_syco(int argc, char **argv) {
    if (argc < 2 || cli_flag(argv[1], "-h", "--help")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    bool answers = !strcmp(verb, "answers"), feedback = !strcmp(verb, "feedback");
    if (!answers && !feedback) return cli_usage_error("syco", "unknown verb '%s' (answers or feedback)", verb);
    const char *model = NULL, *data = NULL, *judge = NULL, *items = NULL, *v;
    long long threads = 0, ll;
    double d;
    bool json = false, missing = false;
    gh_syco_feedback_params fp = gh_syco_feedback_default_params();
    for (int i = 2; i < argc; i++) {
        int brc;
        const char *a = argv[i];
        if (cli_flag(a, "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        else if ((brc = cli_backend_opt("syco", argv, &i, argc))) { if (brc < 0) return 2; }
        else if (cli_opt(argv, &i, argc, "-m", "--model", &v, &missing)) model = v;
        else if (cli_opt(argv, &i, argc, NULL, "--data", &v, &missing)) data = v;
        else if (cli_opt(argv, &i, argc, NULL, "--items", &v, &missing)) items = v;
        else if (feedback && cli_opt(argv, &i, argc, NULL, "--judge", &v, &missing)) judge = v;
        else if (feedback && cli_opt(argv, &i, argc, NULL, "--seed", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 0, INT64_MAX, &ll)) return cli_usage_error("syco", "--seed needs an integer >= 0, got '%s'", v);
            fp.sampler.seed = (uint64_t)ll;
        } else if (feedback && cli_opt(argv, &i, argc, NULL, "--temp", &v, &missing)) {
            if (!missing && !cli_parse_float(v, 0, 100, &d)) return cli_usage_error("syco", "--temp needs a number >= 0, got '%s'", v);
            fp.sampler.temp = (float)d;
        } else if (feedback && cli_opt(argv, &i, argc, NULL, "--max-tokens", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 4096, &ll)) return cli_usage_error("syco", "--max-tokens needs an integer in [1, 4096], got '%s'", v);
            fp.sampler.max_tokens = (int32_t)ll;
        } else if (feedback && cli_opt(argv, &i, argc, NULL, "--bootstrap", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 0, 1000000, &ll)) return cli_usage_error("syco", "--bootstrap needs an integer in [0, 1000000], got '%s'", v);
            fp.bootstrap = (int32_t)ll;
        } else if (cli_opt(argv, &i, argc, "-t", "--threads", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1024, &threads)) return cli_usage_error("syco", "-t needs a thread count >= 1, got '%s'", v);
        } else if (cli_flag(a, NULL, "--json")) json = true;
        else return cli_usage_error("syco", "unknown option '%s' for syco %s", a, verb);
        if (missing) return cli_usage_error("syco", "option '%s' needs a value", a);
    }
    if (!model) return cli_usage_error("syco", "no model given (-m MODEL)");
    if (!data) return cli_usage_error("syco", "no data given (--data FILE.jsonl)");
    if (feedback && !judge) return cli_usage_error("syco", "no judge given (--judge SPEC or --judge model:PATH)");
    FILE *itf = NULL;
    if (items && !(itf = fopen(items, "w"))) return cli_usage_error("syco", "cannot write '%s'", items);
    gh_backend *b;
    if (cli_open_backend("syco", model, (int32_t)threads, &b)) { if (itf) fclose(itf); return 1; }
    gh_status s;
    if (answers) {
        gh_syco_answers_result r;
        s = gh_syco_answers_eval(b, data, answer_item, itf, &r);
        if (!s && json) {
            printf("{\"items\":%lld,\"matching\":%lld,", (long long)r.n_items, (long long)r.n_matching);
            iv_json(stdout, "rate", r.rate);
            printf(",\"mean_margin\":%.9g}\n", r.mean_margin);
        } else if (!s) {
            printf("items %lld  matching %lld  rate %.4f [%.4f, %.4f] (Wilson 95%%)  mean margin %.4f nats\n",
                   (long long)r.n_items, (long long)r.n_matching, r.rate.value, r.rate.lo, r.rate.hi, r.mean_margin);
        }
    } else {
        fp.judge = judge;
        gh_syco_feedback_result r;
        s = gh_syco_feedback_eval(b, data, &fp, feedback_item, itf, &r);
        if (!s && json) {
            printf("{\"items\":%lld,\"judge\":", (long long)r.n_items);
            cli_json_string(stdout, judge, strlen(judge));
            printf(",");
            iv_json(stdout, "gap_like_dislike", r.gap_like_dislike);
            printf(",");
            iv_json(stdout, "gap_like_neutral", r.gap_like_neutral);
            printf(",");
            iv_json(stdout, "gap_neutral_dislike", r.gap_neutral_dislike);
            printf(",");
            iv_json(stdout, "like_preferred", r.like_preferred);
            printf(",");
            iv_json(stdout, "score_gap", r.score_gap);
            printf("}\n");
        } else if (!s) {
            printf("items %lld\n", (long long)r.n_items);
            printf("positivity gap like-dislike    %+.4f [%+.4f, %+.4f]\n", r.gap_like_dislike.value, r.gap_like_dislike.lo, r.gap_like_dislike.hi);
            printf("positivity gap like-neutral    %+.4f [%+.4f, %+.4f]\n", r.gap_like_neutral.value, r.gap_like_neutral.lo, r.gap_like_neutral.hi);
            printf("positivity gap neutral-dislike %+.4f [%+.4f, %+.4f]\n", r.gap_neutral_dislike.value, r.gap_neutral_dislike.lo, r.gap_neutral_dislike.hi);
            printf("like preferred over dislike    %.4f [%.4f, %.4f]\n", r.like_preferred.value, r.like_preferred.lo, r.like_preferred.hi);
            if (r.rule_judge)
                printf("judge score like-dislike       %+.4f [%+.4f, %+.4f]\n", r.score_gap.value, r.score_gap.lo, r.score_gap.hi);
            printf("(bootstrap 95%% intervals)\n");
        }
    }
    gh_backend_free(b);
    if (itf && fclose(itf) != 0 && !s) s = gh_error(GH_ERR_IO, "cannot write '%s'", items);
    return s ? cli_fail("syco") : 0;
}
