/* analyse.c — the analysis half of the Best-of-N experiment (gh_bon_analyse):
 * from a pool of scored candidates per prompt (goodhart's own pool.jsonl or a
 * user's precomputed file) compute, for every rule, beta and n, the proxy and
 * gold reward of the pick; tune beta on dev prompts; write the curves, the
 * summary and the HTML report.
 *
 * Curves over n use nested subsets: for each prompt and each of K random
 * orderings of its pool, the subset for n is the first n candidates of that
 * ordering, so every point of a curve comes from one sample pool (as if N were
 * drawn once and the first n looked at). Stochastic rules draw their pick with
 * one uniform number per (prompt, ordering, rule, beta), shared by all n.
 * Averages: over orderings per prompt, then over prompts; the 95% interval is
 * mean ± 1.96·sd/sqrt(prompts) (a normal approximation across prompts). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/rng.h"
#include "bon/jbuf.h"
#include "goodhart/bon.h"
#include "goodhart/report.h"

static const double default_betas[] = {0, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1, 3, 10, 30, 100};

gh_bon_analysis_params gh_bon_analysis_default_params(void) {
    gh_bon_analysis_params p = {0};
    p.reward = "proxy";
    p.gold = "gold";
    p.n_orders = 16;
    p.seed = 0;
    p.dev_fraction = 0.5;
    p.title = "Best-of-N and regularized Best-of-N";
    return p;
}

/* One prompt's pool, as contiguous arrays for gh_bon_select. */
typedef struct pool_data {
    int32_t n;
    double *reward, *gold, *logprob, *cost;
    int32_t *ntok;
} pool_data;

static void pool_free(pool_data *d) {
    free(d->reward); free(d->gold); free(d->logprob); free(d->cost); free(d->ntok);
}

static gh_status pool_build(const gh_bon_record *r, int32_t ri, int32_t gi, bool need_cost, pool_data *d) {
    memset(d, 0, sizeof *d);
    d->n = r->n;
    d->reward = malloc((size_t)r->n * sizeof(double));
    d->gold = malloc((size_t)r->n * sizeof(double));
    d->logprob = malloc((size_t)r->n * sizeof(double));
    d->ntok = malloc((size_t)r->n * sizeof(int32_t));
    if (need_cost && r->dim > 0) d->cost = malloc((size_t)r->n * r->n * sizeof(double));
    if (!d->reward || !d->gold || !d->logprob || !d->ntok || (need_cost && r->dim > 0 && !d->cost))
        return gh_error(GH_ERR_NOMEM, "out of memory");
    for (int32_t i = 0; i < r->n; i++) {
        d->reward[i] = r->scores[(size_t)i * r->n_scores + ri];
        d->gold[i] = r->scores[(size_t)i * r->n_scores + gi];
        d->logprob[i] = r->logprob[i];
        d->ntok[i] = r->n_tokens[i];
    }
    if (d->cost) return gh_bon_cost_cosine(r->embedding, r->n, r->dim, d->cost);
    return GH_OK;
}

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9e3779b97f4a7c15ull + b + 0x632be59bd9b4e019ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void permutation(int32_t *perm, int32_t n, uint64_t seed, uint64_t stream) {
    gh_rng g;
    gh_rng_seed(&g, seed, stream);
    for (int32_t i = 0; i < n; i++) perm[i] = i;
    for (int32_t i = n - 1; i > 0; i--) {
        int32_t j = (int32_t)(gh_rng_uniform(&g) * (i + 1));
        if (j > i) j = i;
        int32_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
}

/* Average ranks (ties share the mean rank) of v [n] into rank [n]. */
static int cmp_by_val(const void *a, const void *b, void *ctx) {
    const double *v = ctx;
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    if (v[i] < v[j]) return -1;
    if (v[i] > v[j]) return 1;
    return (i > j) - (i < j);
}

static bool ranks(const double *v, int64_t n, double *rank) {
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    if (!idx) return false;
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    qsort_r(idx, (size_t)n, sizeof *idx, cmp_by_val, (void *)v);
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j + 1 < n && v[idx[j + 1]] == v[idx[i]]) j++;
        double r = (double)(i + j) / 2.0 + 1.0;
        for (int64_t k = i; k <= j; k++) rank[idx[k]] = r;
        i = j + 1;
    }
    free(idx);
    return true;
}

static double pearson(const double *x, const double *y, int64_t n) {
    double mx = 0, my = 0;
    for (int64_t i = 0; i < n; i++) { mx += x[i]; my += y[i]; }
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (int64_t i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}

/* Mean and 95% half-width of v over the prompts where in_split[p]. */
static void mean_ci(const double *v, const uint8_t *in_split, int64_t P, double *mean, double *ci) {
    double s = 0;
    int64_t n = 0;
    for (int64_t p = 0; p < P; p++) if (in_split[p]) { s += v[p]; n++; }
    if (!n) { *mean = NAN; *ci = NAN; return; }
    double m = s / (double)n, ss = 0;
    for (int64_t p = 0; p < P; p++) if (in_split[p]) ss += (v[p] - m) * (v[p] - m);
    *mean = m;
    *ci = n > 1 ? 1.96 * sqrt(ss / (double)(n - 1)) / sqrt((double)n) : 0;
}

/* Writes b to dir/name atomically. */
static gh_status write_file(const char *dir, const char *name, const gh_strbuf *b) {
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (b->oom) return gh_error(GH_ERR_NOMEM, "out of memory writing %s", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return gh_error(GH_ERR_IO, "%s: %s", tmp, strerror(errno));
    bool ok = fwrite(b->p ? b->p : "", 1, b->len, f) == b->len;
    ok = !fclose(f) && ok;
    if (!ok || rename(tmp, path)) { unlink(tmp); return gh_error(GH_ERR_IO, "%s: cannot write: %s", path, strerror(errno)); }
    return GH_OK;
}

static void fmt_num(char *buf, size_t n, double v, int dec) {
    if (!isfinite(v)) snprintf(buf, n, "–");
    else snprintf(buf, n, "%.*f", dec, v);
}

/* An index into the accumulators: [rule][beta][grid][prompt]. */
#define AT(r, b, g, p) ((((size_t)(r) * nb + (b)) * ng + (g)) * (size_t)P + (p))

gh_status gh_bon_analyse(const gh_bon_file *f, const char *out_dir, const gh_bon_analysis_params *pp,
                         gh_bon_summary *out) {
    gh_bon_analysis_params p = pp ? *pp : gh_bon_analysis_default_params();
    if (!p.reward) p.reward = "proxy";
    if (!p.gold) p.gold = "gold";
    if (p.n_orders < 1) p.n_orders = 1;
    const double *betas = p.betas ? p.betas : default_betas;
    const int32_t nb = p.betas ? p.n_betas : (int32_t)(sizeof default_betas / sizeof *default_betas);
    if (nb < 1) return gh_error(GH_ERR_INVALID_ARG, "the beta grid is empty");
    for (int32_t b = 0; b < nb; b++)
        if (!isfinite(betas[b]) || betas[b] < 0) return gh_error(GH_ERR_INVALID_ARG, "beta %g: every beta must be finite and >= 0", betas[b]);
    const int64_t P = gh_bon_file_count(f);
    if (P < 1) return gh_error(GH_ERR_INVALID_ARG, "no prompts to analyse");
    gh_status s;
    /* the proxy and the gold score must be there for every candidate */
    if ((s = gh_bon_file_check(f, GH_BON_BON, p.reward, p.gold))) return s;
    if ((s = gh_bon_file_check(f, GH_BON_ORACLE, p.reward, p.gold))) return s;
    if ((s = gh_mkdir_p(out_dir))) return s;

    /* rules this file supports */
    gh_bon_rule rules[GH_BON_N_RULES];
    int32_t nr = 0;
    gh_strbuf skipped = {0};
    for (int r = 0; r < GH_BON_N_RULES; r++) {
        if (gh_bon_file_check(f, (gh_bon_rule)r, p.reward, p.gold) == GH_OK) rules[nr++] = (gh_bon_rule)r;
        else gh_strbuf_printf(&skipped, "%s%s (%s)", skipped.len ? "; " : "", gh_bon_rule_name((gh_bon_rule)r), gh_last_error());
    }
    gh_clear_error();

    int32_t n_max = INT32_MAX;
    int64_t n_cand = 0;
    for (int64_t i = 0; i < P; i++) {
        const gh_bon_record *r = gh_bon_file_record(f, i);
        if (r->n < n_max) n_max = r->n;
        n_cand += r->n;
    }
    int32_t grid[32], ng = 0;
    for (int32_t n = 1; n < n_max && ng < 31; n *= 2) grid[ng++] = n;
    grid[ng++] = n_max;

    /* dev/test split: a seeded permutation of the prompts */
    uint8_t *is_dev = calloc((size_t)P, 1), *is_test = calloc((size_t)P, 1), *all = malloc((size_t)P);
    int32_t *pperm = malloc((size_t)P * sizeof *pperm);
    const size_t nacc = (size_t)nr * nb * ng * (size_t)P;
    double *acc_r = calloc(nacc, sizeof(double)), *acc_g = calloc(nacc, sizeof(double)), *acc_e = calloc(nacc, sizeof(double));
    int32_t *perm = malloc(sizeof(int32_t));
    double *prob = NULL;
    pool_data pd = {0};
    gh_strbuf j = {0};
    gh_report *rep = NULL;
    if (!is_dev || !is_test || !all || !pperm || !acc_r || !acc_g || !acc_e || !perm) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    memset(all, 1, (size_t)P);
    int64_t n_dev = (int64_t)floor(p.dev_fraction * (double)P + 0.5);
    if (P >= 2) {
        if (n_dev < 1) n_dev = 1;
        if (n_dev > P - 1) n_dev = P - 1;
        permutation(pperm, (int32_t)P, p.seed, 0x5e17u);
        for (int64_t i = 0; i < P; i++) (i < n_dev ? is_dev : is_test)[pperm[i]] = 1;
    } else {
        n_dev = 1; /* one prompt: it is both dev and test (said in the report) */
        is_dev[0] = is_test[0] = 1;
    }
    const int64_t n_test = P >= 2 ? P - n_dev : 1;

    /* selections */
    bool need_cost = false;
    for (int32_t r = 0; r < nr; r++) need_cost |= gh_bon_rule_needs_embedding(rules[r]);
    for (int64_t pi = 0; pi < P && !s; pi++) {
        const gh_bon_record *rec = gh_bon_file_record(f, pi);
        pool_free(&pd);
        if ((s = pool_build(rec, gh_bon_record_score(rec, p.reward), gh_bon_record_score(rec, p.gold), need_cost, &pd))) break;
        gh_bon_pool pool = {.n = pd.n, .reward = pd.reward, .gold = pd.gold, .logprob = pd.logprob, .n_tokens = pd.ntok, .cost = pd.cost};
        int32_t *np = realloc(perm, (size_t)pd.n * sizeof *perm);
        double *nprob = realloc(prob, (size_t)pd.n * sizeof *prob);
        if (np) perm = np;
        if (nprob) prob = nprob;
        if (!np || !nprob) { s = gh_error(GH_ERR_NOMEM, "out of memory"); break; }
        for (int32_t o = 0; o < p.n_orders && !s; o++) {
            permutation(perm, pd.n, p.seed, mix((uint64_t)pi, (uint64_t)o));
            for (int32_t r = 0; r < nr && !s; r++) {
                int32_t nbr = gh_bon_rule_uses_beta(rules[r]) ? nb : 1;
                for (int32_t b = 0; b < nbr && !s; b++) {
                    gh_rng g;
                    gh_rng_seed(&g, p.seed, mix(mix((uint64_t)pi, (uint64_t)o), mix((uint64_t)rules[r], (uint64_t)b)));
                    double u = gh_rng_uniform(&g);
                    double beta = gh_bon_rule_uses_beta(rules[r]) ? betas[b] : 0;
                    for (int32_t gi = 0; gi < ng; gi++) {
                        gh_bon_pick pk;
                        if ((s = gh_bon_select(&pool, perm, grid[gi], rules[r], beta, u, &pk, NULL))) {
                            gh_error_prefix("record \"%s\", rule %s, beta %g, n %d", rec->id, gh_bon_rule_name(rules[r]), beta, grid[gi]);
                            break;
                        }
                        acc_r[AT(r, b, gi, pi)] += pk.reward / p.n_orders;
                        acc_g[AT(r, b, gi, pi)] += pk.gold / p.n_orders;
                        acc_e[AT(r, b, gi, pi)] += pk.expected_gold / p.n_orders;
                    }
                }
            }
        }
        if (p.progress) p.progress(p.progress_user, "selecting", pi + 1, P);
    }
    if (s) goto done;

    /* tune beta on dev at n = N; summary on test */
    gh_bon_summary sum;
    memset(&sum, 0, sizeof sum);
    sum.n_rules = nr;
    sum.n_max = n_max;
    sum.n_prompts = P;
    sum.n_dev = n_dev;
    sum.n_test = n_test;
    sum.n_candidates = n_cand;
    int32_t best_b[GH_BON_N_RULES];
    const int32_t gN = ng - 1;
    for (int32_t r = 0; r < nr; r++) {
        int32_t nbr = gh_bon_rule_uses_beta(rules[r]) ? nb : 1, bb = 0;
        double best = -INFINITY, ci;
        for (int32_t b = 0; b < nbr; b++) {
            double m;
            mean_ci(&acc_g[AT(r, b, gN, 0)], is_dev, P, &m, &ci);
            if (m > best) { best = m; bb = b; } /* ties: the smaller beta (earlier in the grid) */
        }
        best_b[r] = bb;
        gh_bon_rule_result *rr = &sum.rules[r];
        rr->rule = rules[r];
        rr->beta = gh_bon_rule_uses_beta(rules[r]) ? betas[bb] : 0;
        rr->dev_gold = best;
        mean_ci(&acc_g[AT(r, bb, gN, 0)], is_test, P, &rr->test_gold, &rr->test_gold_ci);
        mean_ci(&acc_r[AT(r, bb, gN, 0)], is_test, P, &rr->test_reward, &rr->test_reward_ci);
        mean_ci(&acc_e[AT(r, bb, gN, 0)], is_test, P, &rr->test_expected_gold, &ci);
        if (rules[r] == GH_BON_BON) mean_ci(&acc_g[AT(r, 0, 0, 0)], is_test, P, &sum.gold_n1, &ci);
    }

    /* paired differences with bon: the same prompts and orderings, so much of
     * the prompt-to-prompt spread cancels */
    {
        int32_t ib0 = -1;
        for (int32_t r = 0; r < nr; r++) if (rules[r] == GH_BON_BON) ib0 = r;
        double *dd = malloc((size_t)P * sizeof *dd);
        if (!dd) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
        for (int32_t r = 0; r < nr; r++) {
            sum.rules[r].test_gold_vs_bon = sum.rules[r].test_gold_vs_bon_ci = NAN;
            if (ib0 < 0) continue;
            for (int64_t q = 0; q < P; q++) dd[q] = acc_g[AT(r, best_b[r], gN, q)] - acc_g[AT(ib0, 0, gN, q)];
            mean_ci(dd, is_test, P, &sum.rules[r].test_gold_vs_bon, &sum.rules[r].test_gold_vs_bon_ci);
        }
        free(dd);
    }

    /* rank correlation of proxy and gold over every candidate */
    {
        double *x = malloc((size_t)n_cand * sizeof *x), *y = malloc((size_t)n_cand * sizeof *y);
        double *rx = malloc((size_t)n_cand * sizeof *rx), *ry = malloc((size_t)n_cand * sizeof *ry);
        sum.spearman = NAN;
        if (x && y && rx && ry) {
            int64_t k = 0;
            for (int64_t i = 0; i < P; i++) {
                const gh_bon_record *rec = gh_bon_file_record(f, i);
                int32_t ri = gh_bon_record_score(rec, p.reward), gi = gh_bon_record_score(rec, p.gold);
                for (int32_t c = 0; c < rec->n; c++, k++) {
                    x[k] = rec->scores[(size_t)c * rec->n_scores + ri];
                    y[k] = rec->scores[(size_t)c * rec->n_scores + gi];
                }
            }
            if (ranks(x, n_cand, rx) && ranks(y, n_cand, ry)) sum.spearman = pearson(rx, ry, n_cand);
        }
        /* the scatter plot (at most 4000 points, in file order) */
        int64_t ns = n_cand < 4000 ? n_cand : 4000;
        rep = gh_report_new(p.title);
        if (!rep) { free(x); free(y); free(rx); free(ry); s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
        char note[128];
        snprintf(note, sizeof note, "Spearman ρ = %.3f\n%lld candidates", sum.spearman, (long long)n_cand);
        gh_series sc = {.name = "candidates", .kind = GH_SERIES_SCATTER, .n = x && y ? (size_t)ns : 0, .x = x, .y = y};
        gh_plot pl = {.title = "Proxy and gold reward of every candidate", .x_label = p.reward, .y_label = p.gold,
                      .caption = "Proxy against gold reward over all candidates (dev and test); the rank correlation is over all of them.",
                      .n_series = 1, .series = &sc, .note = note};
        /* summary text first */
        if (p.intro) gh_report_paragraph(rep, p.intro);
        gh_report_heading(rep, 1, "How to read this report");
        gh_strbuf t = {0};
        gh_strbuf_printf(&t, "Each of the %lld prompts has a pool of %d samples from the policy, each scored by the proxy reward "
                  "(\"%s\", what the rules optimise) and the gold reward (\"%s\", what we actually want). For n = 1, 2, 4, …, %d "
                  "the first n samples of a random ordering of the pool are given to every selection rule, which picks one; "
                  "the curves show the gold and proxy reward of the pick, averaged over %d orderings and over the test prompts, "
                  "with 95%% confidence bands across prompts (normal approximation). The β of every regularized rule was tuned "
                  "on %lld dev prompts to maximise gold reward at n = %d and is reported on the %lld test prompts.\n\n"
                  "bon picks the highest proxy reward. If its proxy keeps rising with n while its gold reward stalls or falls, the "
                  "proxy is being over-optimised (Goodhart's law); the regularized rules (rbon-kl: proxy + β·log π_ref; rbon-wd: "
                  "proxy − β·mean embedding distance to the pool; srbon-*: their stochastic versions; length: proxy − β/|y|) "
                  "trade proxy for staying close to the reference policy. oracle picks by the gold reward itself and bounds what "
                  "any rule can reach from the same pool; random is one sample (n = 1 for every n).",
                  (long long)P, n_max, p.reward, p.gold, n_max, p.n_orders, (long long)n_dev, n_max, (long long)n_test);
        if (P < 2) gh_strbuf_put(&t, "\n\nWith a single prompt, dev and test are the same prompt: β is tuned and reported on it.");
        gh_report_paragraph(rep, t.p ? t.p : "");
        gh_strbuf_free(&t);

        /* what happened, in numbers */
        int32_t ib = -1, ibest = -1;
        for (int32_t r = 0; r < nr; r++) {
            if (rules[r] == GH_BON_BON) ib = r;
            if (rules[r] != GH_BON_ORACLE && rules[r] != GH_BON_BON && rules[r] != GH_BON_RANDOM &&
                (ibest < 0 || sum.rules[r].test_gold > sum.rules[ibest].test_gold))
                ibest = r;
        }
        gh_report_heading(rep, 1, "Results");
        if (ib >= 0) {
            /* where bon's gold curve peaks */
            double peak = -INFINITY, ci;
            int32_t gpk = 0;
            for (int32_t gi = 0; gi < ng; gi++) {
                double m;
                mean_ci(&acc_g[AT(ib, 0, gi, 0)], is_test, P, &m, &ci);
                if (m > peak) { peak = m; gpk = gi; }
            }
            gh_strbuf_printf(&t, "On the test prompts, one sample has mean gold reward %.4g. Best-of-%d (bon) raises the proxy to %.4g and "
                      "reaches gold %.4g ± %.2g; its gold curve peaks at n = %d (%.4g).",
                      sum.gold_n1, n_max, sum.rules[ib].test_reward, sum.rules[ib].test_gold, sum.rules[ib].test_gold_ci, grid[gpk], peak);
            if (ibest >= 0)
                gh_strbuf_printf(&t, " The best other rule at n = %d is %s (β = %g) with gold %.4g ± %.2g; paired with bon on the same "
                          "prompts the difference is %+.3g ± %.2g%s.", n_max,
                          gh_bon_rule_name(rules[ibest]), sum.rules[ibest].beta, sum.rules[ibest].test_gold, sum.rules[ibest].test_gold_ci,
                          sum.rules[ibest].test_gold_vs_bon, sum.rules[ibest].test_gold_vs_bon_ci,
                          fabs(sum.rules[ibest].test_gold_vs_bon) > sum.rules[ibest].test_gold_vs_bon_ci
                              ? "" : ", within the interval of no difference");
            gh_strbuf_printf(&t, " Proxy and gold rewards of all candidates have Spearman rank correlation %.3f.", sum.spearman);
            gh_report_paragraph(rep, t.p ? t.p : "");
            gh_strbuf_free(&t);
        }

        /* summary table */
        const char *hdr[] = {"rule", "β (tuned on dev)", "gold @ N (test)", "± 95%", "gold − bon (paired)", "proxy @ N (test)", "E[gold] (stochastic)", "gold @ N (dev)"};
        enum { NC = 8 };
        char (*cells)[48] = calloc((size_t)nr * NC, sizeof *cells);
        const char **cp = calloc((size_t)nr * NC, sizeof *cp);
        if (cells && cp) {
            for (int32_t r = 0; r < nr; r++) {
                gh_bon_rule_result *rr = &sum.rules[r];
                char(*c)[48] = cells + (size_t)r * NC;
                snprintf(c[0], 48, "%s", gh_bon_rule_name(rr->rule));
                if (gh_bon_rule_uses_beta(rr->rule)) snprintf(c[1], 48, "%g", rr->beta); else snprintf(c[1], 48, "–");
                fmt_num(c[2], 48, rr->test_gold, 4);
                fmt_num(c[3], 48, rr->test_gold_ci, 4);
                if (isfinite(rr->test_gold_vs_bon)) snprintf(c[4], 48, "%+.4f ± %.4f", rr->test_gold_vs_bon, rr->test_gold_vs_bon_ci);
                else snprintf(c[4], 48, "–");
                fmt_num(c[5], 48, rr->test_reward, 4);
                if (gh_bon_rule_is_stochastic(rr->rule)) fmt_num(c[6], 48, rr->test_expected_gold, 4); else snprintf(c[6], 48, "–");
                fmt_num(c[7], 48, rr->dev_gold, 4);
                for (int k = 0; k < NC; k++) cp[(size_t)r * NC + k] = c[k];
            }
            char cap[200];
            snprintf(cap, sizeof cap, "Every rule at n = N = %d: gold and proxy reward of the pick; the paired column is the "
                     "mean per-prompt difference in gold with bon and its 95%% interval.", n_max);
            gh_report_table(rep, cap, NC, hdr, (size_t)nr, cp);
        } else {
            s = gh_error(GH_ERR_NOMEM, "out of memory");
        }
        free(cells);
        free(cp);

        /* Goodhart curves: gold and proxy against n, each rule at its tuned beta */
        double *xs = malloc((size_t)ng * sizeof *xs);
        double *ys = malloc((size_t)nr * ng * 4 * sizeof *ys);
        gh_series *ser = calloc((size_t)nr, sizeof *ser);
        if (xs && ys && ser) {
            for (int32_t gi = 0; gi < ng; gi++) xs[gi] = grid[gi];
            for (int which = 0; which < 2; which++) {
                const double *acc = which == 0 ? acc_g : acc_r;
                for (int32_t r = 0; r < nr; r++) {
                    double *m = ys + ((size_t)r * 4) * ng, *lo = m + ng, *hi = lo + ng, *cc = hi + ng;
                    for (int32_t gi = 0; gi < ng; gi++) {
                        mean_ci(&acc[AT(r, best_b[r], gi, 0)], is_test, P, &m[gi], &cc[gi]);
                        lo[gi] = m[gi] - cc[gi];
                        hi[gi] = m[gi] + cc[gi];
                    }
                    ser[r] = (gh_series){.name = gh_bon_rule_name(rules[r]), .kind = GH_SERIES_LINE, .n = (size_t)ng,
                                         .x = xs, .y = m, .lo = lo, .hi = hi};
                }
                gh_plot cv = {.title = which == 0 ? "Gold reward of the pick against n" : "Proxy reward of the pick against n",
                              .x_label = "n (samples considered)", .y_label = which == 0 ? p.gold : p.reward,
                              .caption = which == 0 ? "The Goodhart curve: mean gold reward of each rule's pick among n samples "
                                                      "(test prompts, β tuned on dev), with 95% bands across prompts."
                                                    : "Mean proxy reward of each rule's pick (what the rules optimise), same setting.",
                              .log_x = true, .n_series = (size_t)nr, .series = ser};
                gh_report_plot(rep, &cv);
            }
            gh_report_plot(rep, &pl);
            /* beta sweep: dev and test gold at n = N against beta (beta > 0; bon as a reference line) */
            gh_series bs[GH_BON_N_RULES];
            int32_t nbs = 0;
            double *bx = malloc((size_t)nb * sizeof *bx), *by = malloc((size_t)nr * nb * sizeof *by);
            if (bx && by) {
                int32_t k0 = 0;
                for (int32_t b = 0; b < nb; b++) if (betas[b] > 0) bx[k0++] = betas[b];
                for (int32_t r = 0; r < nr && k0 > 0; r++) {
                    if (!gh_bon_rule_uses_beta(rules[r])) continue;
                    double *yy = by + (size_t)r * nb, ci;
                    int32_t k = 0;
                    for (int32_t b = 0; b < nb; b++)
                        if (betas[b] > 0) mean_ci(&acc_g[AT(r, b, gN, 0)], is_test, P, &yy[k++], &ci);
                    bs[nbs++] = (gh_series){.name = gh_bon_rule_name(rules[r]), .kind = GH_SERIES_LINE, .n = (size_t)k0, .x = bx, .y = yy};
                }
                if (nbs > 0) {
                    gh_plot bp = {.title = "β sweep", .x_label = "β", .y_label = p.gold, .log_x = true,
                                  .caption = "Mean gold reward at n = N on the test prompts for every β > 0 of the grid; "
                                             "the dashed line is bon (β = 0).",
                                  .n_series = (size_t)nbs, .series = bs, .has_ref_y = ib >= 0,
                                  .ref_y = ib >= 0 ? sum.rules[ib].test_gold : 0, .ref_label = "bon"};
                    gh_report_plot(rep, &bp);
                }
            }
            free(bx);
            free(by);
        } else if (!s) {
            s = gh_error(GH_ERR_NOMEM, "out of memory");
        }
        free(xs);
        free(ys);
        free(ser);
        free(x); free(y); free(rx); free(ry);
        if (skipped.len) {
            gh_report_heading(rep, 2, "Rules not run");
            gh_report_paragraph(rep, skipped.p);
        }
        if (p.settings) {
            gh_report_heading(rep, 2, "Settings");
            gh_report_preformatted(rep, p.settings);
        }
    }
    if (s) goto done;

    /* curves.csv */
    gh_strbuf_put(&j, "rule,beta,n,split,prompts,proxy_mean,proxy_ci95,gold_mean,gold_ci95,expected_gold_mean\n");
    for (int32_t r = 0; r < nr; r++) {
        int32_t nbr = gh_bon_rule_uses_beta(rules[r]) ? nb : 1;
        for (int32_t b = 0; b < nbr; b++)
            for (int32_t gi = 0; gi < ng; gi++)
                for (int sp = 0; sp < 2; sp++) {
                    const uint8_t *in = sp ? is_test : is_dev;
                    double rm, rc, gm, gc, em, ec;
                    mean_ci(&acc_r[AT(r, b, gi, 0)], in, P, &rm, &rc);
                    mean_ci(&acc_g[AT(r, b, gi, 0)], in, P, &gm, &gc);
                    mean_ci(&acc_e[AT(r, b, gi, 0)], in, P, &em, &ec);
                    gh_strbuf_printf(&j, "%s,%.17g,%d,%s,%lld,%.17g,%.17g,%.17g,%.17g,%.17g\n", gh_bon_rule_name(rules[r]),
                              gh_bon_rule_uses_beta(rules[r]) ? betas[b] : 0.0, grid[gi], sp ? "test" : "dev",
                              (long long)(sp ? n_test : n_dev), rm, rc, gm, gc, em);
                }
    }
    if ((s = write_file(out_dir, "curves.csv", &j))) goto done;
    gh_strbuf_free(&j);
    gh_strbuf_put(&j, "rule,beta,dev_gold,test_gold,test_gold_ci95,test_proxy,test_proxy_ci95,test_expected_gold,test_gold_minus_bon,test_gold_minus_bon_ci95\n");
    for (int32_t r = 0; r < nr; r++) {
        gh_bon_rule_result *rr = &sum.rules[r];
        gh_strbuf_printf(&j, "%s,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g\n", gh_bon_rule_name(rr->rule), rr->beta, rr->dev_gold,
                  rr->test_gold, rr->test_gold_ci, rr->test_reward, rr->test_reward_ci, rr->test_expected_gold,
                  rr->test_gold_vs_bon, rr->test_gold_vs_bon_ci);
    }
    if ((s = write_file(out_dir, "summary.csv", &j))) goto done;
    gh_strbuf_free(&j);

    /* candidates.jsonl: one line per prompt and candidate, every score */
    for (int64_t i = 0; i < P; i++) {
        const gh_bon_record *rec = gh_bon_file_record(f, i);
        for (int32_t c = 0; c < rec->n; c++) {
            gh_strbuf_put(&j, "{\"id\":");
            if (rec->id_number) gh_strbuf_put(&j, rec->id); else jb_str(&j, rec->id);
            gh_strbuf_printf(&j, ",\"index\":%d,\"split\":\"%s\",\"text\":", c, is_test[i] && !(P < 2) ? "test" : "dev");
            if (rec->text[c]) jb_str(&j, rec->text[c]); else gh_strbuf_put(&j, "null");
            gh_strbuf_put(&j, ",\"n_tokens\":");
            if (rec->n_tokens[c] >= 0) gh_strbuf_printf(&j, "%d", rec->n_tokens[c]); else gh_strbuf_put(&j, "null");
            gh_strbuf_put(&j, ",\"logprob_ref\":");
            jb_num(&j, rec->logprob[c]);
            gh_strbuf_put(&j, ",\"scores\":{");
            for (int32_t k = 0; k < rec->n_scores; k++) {
                if (k) gh_strbuf_put(&j, ",");
                jb_str(&j, rec->score_names[k]);
                gh_strbuf_put(&j, ":");
                jb_num(&j, rec->scores[(size_t)c * rec->n_scores + k]);
            }
            gh_strbuf_put(&j, "}}\n");
        }
    }
    if ((s = write_file(out_dir, "candidates.jsonl", &j))) goto done;
    {
        char path[4096];
        snprintf(path, sizeof path, "%s/report.html", out_dir);
        s = gh_report_write(rep, path);
    }
    if (!s && out) *out = sum;
done:
    gh_strbuf_free(&j);
    gh_strbuf_free(&skipped);
    pool_free(&pd);
    gh_report_free(rep);
    free(is_dev); free(is_test); free(all); free(pperm);
    free(acc_r); free(acc_g); free(acc_e); free(perm); free(prob);
    return s;
}
