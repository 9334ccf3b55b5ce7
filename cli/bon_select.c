/* bon_select.c — `goodhart bon select`: one Best-of-N rule over precomputed
 * candidates (a JSON Lines file, see goodhart/bon.h), one JSON object per
 * record on stdout. Scripts depend on the output: keep it stable (fields may be
 * added, never renamed or removed).
 *
 * Everything is validated and selected before anything is printed, so a bad
 * record anywhere gives exit status 1 and no partial output. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "cli.h"
#include "goodhart/bon.h"

static const char *usage_text =
    "usage: goodhart bon select --in FILE --rule RULE [--beta B] [--reward NAME] [--gold NAME]\n"
    "                           [--seed S] [--n N]\n"
    "Selects one candidate per record of FILE (JSON Lines, one prompt per line:\n"
    "  {\"id\": ..., \"prompt\": ..., \"candidates\": [{\"text\": ..., \"scores\": {\"proxy\": ...,\n"
    "   \"gold\": ...}, \"logprob_ref\": ..., \"n_tokens\": ..., \"embedding\": [...]}, ...]})\n"
    "and prints one JSON object per record, in file order:\n"
    "  {\"id\":ID, \"rule\":RULE, \"beta\":B, \"n\":M, \"index\":I, \"objective\":X, \"reward\":R\n"
    "   [, \"gold\":G] [, \"probabilities\":[...], \"expected_reward\":E [, \"expected_gold\":EG]]}\n"
    "  id         the record's id (a number stays a number)\n"
    "  n          candidates considered (the first N of the record, or all)\n"
    "  index      the pick, 0-based in the record's candidate list\n"
    "  objective  the rule's value at the pick (null for srbon-*, random)\n"
    "  reward     R of the pick; gold: the gold score of the pick (when the record has it)\n"
    "  probabilities, expected_reward, expected_gold: stochastic rules only (srbon-kl,\n"
    "             srbon-wd, random): the selection distribution over the n candidates\n"
    "             and the expected R and gold under it\n"
    "Numbers are printed with 17 significant digits; a non-finite number is null.\n"
    "Options:\n"
    "  --rule RULE    bon, rbon-kl, rbon-kl-norm, rbon-wd, srbon-kl, srbon-wd, length,\n"
    "                 mbr, random, oracle\n"
    "  --beta B       regularisation strength >= 0 (required by rbon-*, srbon-*, length)\n"
    "  --reward NAME  the score used as R (default proxy)\n"
    "  --gold NAME    the gold score (default gold; oracle needs it, others report it)\n"
    "  --seed S       seed for the stochastic rules (default 0); record k draws its\n"
    "                 uniform number from stream k, so picks are reproducible\n"
    "  --n N          consider only the first N candidates of each record\n"
    "Rules read: rbon-kl, rbon-kl-norm, srbon-kl: logprob_ref; length, rbon-kl-norm:\n"
    "n_tokens (>= 1); rbon-wd, srbon-wd, mbr: embedding (cost = 1 - cosine similarity).\n"
    "Exit status: 0 ok; 1 bad input (the message names the file, line, record id and\n"
    "field; nothing is printed on stdout); 2 usage error.\n";

static void json_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.17g", v);
    else fputs("null", f);
}

/* Column `k` of the record's [n][n_scores] score table, or NULL if k < 0. */
static double *score_column(const gh_bon_record *r, int32_t k) {
    if (k < 0) return NULL;
    double *c = malloc((size_t)r->n * sizeof *c);
    if (c)
        for (int32_t i = 0; i < r->n; i++) c[i] = r->scores[(size_t)i * (size_t)r->n_scores + (size_t)k];
    return c;
}

/* Selects in record `ri` and writes its output line to `out`. */
static gh_status select_record(const gh_bon_record *r, int64_t ri, gh_bon_rule rule, double beta, const char *reward,
                               const char *gold, uint64_t seed, int64_t max_n, FILE *out) {
    const int32_t k_reward = gh_bon_record_score(r, reward), k_gold = gh_bon_record_score(r, gold);
    const int32_t m = max_n > 0 && max_n < r->n ? (int32_t)max_n : r->n;
    double *R = score_column(r, k_reward), *G = score_column(r, k_gold);
    double *cost = NULL, *prob = malloc((size_t)m * sizeof *prob);
    int32_t *idx = malloc((size_t)m * sizeof *idx);
    gh_status s = GH_OK;
    if (!prob || !idx || (k_reward >= 0 && !R) || (k_gold >= 0 && !G)) {
        s = gh_error(GH_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int32_t i = 0; i < m; i++) idx[i] = i;
    if (gh_bon_rule_needs_embedding(rule) && r->embedding) {
        /* the pool is the first m candidates: only their m x m costs are needed */
        if (!(cost = malloc((size_t)m * (size_t)m * sizeof *cost))) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
        if ((s = gh_bon_cost_cosine(r->embedding, m, r->dim, cost))) goto done;
    }
    gh_bon_pool pool = {.n = m, .reward = R, .gold = G, .logprob = r->logprob, .n_tokens = r->n_tokens, .cost = cost};
    gh_rng rng;
    gh_rng_seed(&rng, seed, (uint64_t)ri);
    double u = gh_rng_uniform(&rng);
    gh_bon_pick pick;
    if ((s = gh_bon_select(&pool, idx, m, rule, beta, u, &pick, prob))) goto done;

    fputs("{\"id\":", out);
    if (r->id_number) fputs(r->id, out);
    else cli_json_string(out, r->id, strlen(r->id));
    fprintf(out, ",\"rule\":\"%s\",\"beta\":", gh_bon_rule_name(rule));
    json_num(out, beta);
    fprintf(out, ",\"n\":%d,\"index\":%d,\"objective\":", m, pick.index);
    json_num(out, pick.objective);
    fputs(",\"reward\":", out);
    json_num(out, pick.reward);
    if (G) { fputs(",\"gold\":", out); json_num(out, pick.gold); }
    if (gh_bon_rule_is_stochastic(rule)) {
        fputs(",\"probabilities\":[", out);
        for (int32_t i = 0; i < m; i++) {
            if (i) fputc(',', out);
            json_num(out, prob[i]);
        }
        fputs("],\"expected_reward\":", out);
        json_num(out, pick.expected_reward);
        if (G) { fputs(",\"expected_gold\":", out); json_num(out, pick.expected_gold); }
    }
    fputs("}\n", out);
done:
    free(R);
    free(G);
    free(cost);
    free(prob);
    free(idx);
    return s;
}

int cmd_bon_select(int argc, char **argv) {
    const char *C = "bon select";
    const char *in = NULL, *rule_name = NULL, *reward = "proxy", *gold = "gold", *v;
    double beta = 0.0;
    bool have_beta = false, missing = false;
    long long seed = 0, max_n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_flag(a, "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        else if (cli_opt(argv, &i, argc, "-i", "--in", &v, &missing)) in = v;
        else if (cli_opt(argv, &i, argc, NULL, "--rule", &v, &missing)) rule_name = v;
        else if (cli_opt(argv, &i, argc, NULL, "--reward", &v, &missing)) reward = v;
        else if (cli_opt(argv, &i, argc, NULL, "--gold", &v, &missing)) gold = v;
        else if (cli_opt(argv, &i, argc, NULL, "--beta", &v, &missing)) {
            if (!missing && !cli_parse_float(v, 0.0, HUGE_VAL, &beta))
                return cli_usage_error(C, "--beta needs a finite number >= 0, got '%s'", v);
            have_beta = true;
        } else if (cli_opt(argv, &i, argc, NULL, "--seed", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 0, INT64_MAX, &seed))
                return cli_usage_error(C, "--seed needs an integer >= 0, got '%s'", v);
        } else if (cli_opt(argv, &i, argc, "-n", "--n", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, INT32_MAX, &max_n))
                return cli_usage_error(C, "--n needs an integer >= 1, got '%s'", v);
        } else return cli_usage_error(C, "unknown option '%s'", a);
        if (missing) return cli_usage_error(C, "option '%s' needs a value", a);
    }
    if (!in) return cli_usage_error(C, "no candidate file given (--in FILE)");
    if (!rule_name) return cli_usage_error(C, "no rule given (--rule RULE)");
    gh_bon_rule rule;
    if (!gh_bon_rule_from_name(rule_name, &rule)) return cli_usage_error(C, "unknown rule '%s'", rule_name);
    if (gh_bon_rule_uses_beta(rule) && !have_beta)
        return cli_usage_error(C, "rule %s needs --beta B", rule_name);

    gh_bon_file *f;
    if (gh_bon_file_read(in, &f)) return cli_fail(C);
    if (gh_bon_file_check(f, rule, reward, gold)) { gh_bon_file_free(f); return cli_fail(C); }
    char *text = NULL;
    size_t text_len = 0;
    FILE *out = open_memstream(&text, &text_len);
    if (!out) { gh_bon_file_free(f); gh_error(GH_ERR_NOMEM, "out of memory"); return cli_fail(C); }
    int rc = 0;
    for (int64_t ri = 0; ri < gh_bon_file_count(f); ri++) {
        const gh_bon_record *r = gh_bon_file_record(f, ri);
        if (select_record(r, ri, rule, beta, reward, gold, (uint64_t)seed, max_n, out)) {
            gh_error_prefix("%s:%lld: record \"%.80s\"", in, (long long)r->line, r->id);
            rc = cli_fail(C);
            break;
        }
    }
    fclose(out);
    if (!rc) fwrite(text, 1, text_len, stdout);
    free(text);
    gh_bon_file_free(f);
    return rc;
}
