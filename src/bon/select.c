/* select.c — the Best-of-N selection engine (see goodhart/bon.h): given one
 * prompt's pool of scored candidates and a subset of it, pick one by a rule.
 * Pure arithmetic, no model; the experiment (gh_bon_run), `goodhart bon select`
 * and the benchmark all come through gh_bon_select.
 *
 * Determinism: every sum runs over the subset in subset order, every argmax
 * keeps the lowest subset position among exactly equal values, and the only
 * randomness is the caller's u. So a pick is a function of (pool, idx, rule,
 * beta, u) alone, whatever else runs beside it. */
#include "goodhart/bon.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const rule_names[GH_BON_N_RULES] = {
    [GH_BON_BON] = "bon",         [GH_BON_RBON_KL] = "rbon-kl",   [GH_BON_RBON_KL_NORM] = "rbon-kl-norm",
    [GH_BON_RBON_WD] = "rbon-wd", [GH_BON_SRBON_KL] = "srbon-kl", [GH_BON_SRBON_WD] = "srbon-wd",
    [GH_BON_LENGTH] = "length",   [GH_BON_MBR] = "mbr",           [GH_BON_RANDOM] = "random",
    [GH_BON_ORACLE] = "oracle",
};

const char *gh_bon_rule_name(gh_bon_rule r) {
    return (unsigned)r < GH_BON_N_RULES ? rule_names[r] : "?";
}

bool gh_bon_rule_from_name(const char *name, gh_bon_rule *out) {
    if (!name) return false;
    for (int r = 0; r < GH_BON_N_RULES; r++)
        if (!strcmp(name, rule_names[r])) { *out = (gh_bon_rule)r; return true; }
    return false;
}

bool gh_bon_rule_needs_logprob(gh_bon_rule r) {
    return r == GH_BON_RBON_KL || r == GH_BON_RBON_KL_NORM || r == GH_BON_SRBON_KL;
}

bool gh_bon_rule_needs_embedding(gh_bon_rule r) {
    return r == GH_BON_RBON_WD || r == GH_BON_SRBON_WD || r == GH_BON_MBR;
}

bool gh_bon_rule_needs_tokens(gh_bon_rule r) { return r == GH_BON_LENGTH || r == GH_BON_RBON_KL_NORM; }

bool gh_bon_rule_is_stochastic(gh_bon_rule r) {
    return r == GH_BON_SRBON_KL || r == GH_BON_SRBON_WD || r == GH_BON_RANDOM;
}

bool gh_bon_rule_uses_beta(gh_bon_rule r) {
    return r == GH_BON_RBON_KL || r == GH_BON_RBON_KL_NORM || r == GH_BON_RBON_WD || r == GH_BON_SRBON_KL ||
           r == GH_BON_SRBON_WD || r == GH_BON_LENGTH;
}

/* mbr, random and oracle only report R; the others optimise it. */
bool gh_bon_rule_needs_reward(gh_bon_rule r) {
    return (unsigned)r < GH_BON_N_RULES && r != GH_BON_MBR && r != GH_BON_RANDOM && r != GH_BON_ORACLE;
}

bool gh_bon_rule_needs_gold(gh_bon_rule r) { return r == GH_BON_ORACLE; }

/* ---- cosine cost ---- */

gh_status gh_bon_cost_cosine(const float *emb, int32_t n, int32_t dim, double *cost) {
    if (!emb || !cost) return gh_error(GH_ERR_INVALID_ARG, "cosine cost: NULL embeddings or output");
    if (n < 1 || dim < 1) return gh_error(GH_ERR_INVALID_ARG, "cosine cost: %d candidates of dimension %d", n, dim);
    const size_t D = (size_t)dim;
    /* unit vectors in double: u_i = e_i / |e_i|, the zero vector stays zero
     * (similarity 0 with everything, itself included) */
    double *unit = malloc((size_t)n * D * sizeof *unit);
    bool *zero = malloc((size_t)n * sizeof *zero);
    if (!unit || !zero) { free(unit); free(zero); return gh_error(GH_ERR_NOMEM, "cosine cost: out of memory"); }
    for (int32_t i = 0; i < n; i++) {
        const float *e = emb + (size_t)i * D;
        double ss = 0.0;
        for (size_t k = 0; k < D; k++) {
            if (!isfinite(e[k])) {
                free(unit); free(zero);
                return gh_error(GH_ERR_INVALID_ARG, "cosine cost: embedding of candidate %d, component %zu is %g",
                                i, k, (double)e[k]);
            }
            ss += (double)e[k] * (double)e[k];
        }
        double inv = ss > 0.0 ? 1.0 / sqrt(ss) : 0.0;
        zero[i] = !(ss > 0.0);
        for (size_t k = 0; k < D; k++) unit[(size_t)i * D + k] = (double)e[k] * inv;
    }
    /* C is symmetric: compute the upper triangle once and mirror it so that
     * C(i,j) == C(j,i) bit for bit. Four independent partial sums (a fixed
     * order, so the same vectors always give the same bits) let the compiler
     * keep several multiply-adds in flight. */
    for (int32_t i = 0; i < n; i++) {
        const double *a = unit + (size_t)i * D;
        cost[(size_t)i * (size_t)n + (size_t)i] = zero[i] ? 1.0 : 0.0;
        for (int32_t j = i + 1; j < n; j++) {
            const double *b = unit + (size_t)j * D;
            double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
            size_t k = 0;
            for (; k + 4 <= D; k += 4) {
                s0 += a[k] * b[k];
                s1 += a[k + 1] * b[k + 1];
                s2 += a[k + 2] * b[k + 2];
                s3 += a[k + 3] * b[k + 3];
            }
            for (; k < D; k++) s0 += a[k] * b[k];
            double sim = (s0 + s1) + (s2 + s3);
            if (sim > 1.0) sim = 1.0;   /* rounding can step just outside [-1, 1] */
            if (sim < -1.0) sim = -1.0;
            double c = 1.0 - sim;
            cost[(size_t)i * (size_t)n + (size_t)j] = c;
            cost[(size_t)j * (size_t)n + (size_t)i] = c;
        }
    }
    free(unit);
    free(zero);
    return GH_OK;
}

/* ---- selection ---- */

/* Lowest position of the largest value (values are finite). */
static int32_t argmax_first(const double *v, int32_t m) {
    int32_t best = 0;
    for (int32_t k = 1; k < m; k++)
        if (v[k] > v[best]) best = k;
    return best;
}

/* Inverse-CDF draw in subset order: the first position where the cumulative
 * probability exceeds u. Positions with p = 0 are never picked; if rounding
 * keeps the total just under u, the last position with p > 0 is taken. */
static int32_t sample_position(const double *p, int32_t m, double u) {
    double c = 0.0;
    int32_t last = 0;
    for (int32_t k = 0; k < m; k++) {
        if (!(p[k] > 0.0)) continue;
        c += p[k];
        last = k;
        if (c > u) return k;
    }
    return last;
}

static gh_status missing(gh_bon_rule rule, const char *field) {
    return gh_error(GH_ERR_INVALID_ARG, "rule %s needs %s, which the candidate set lacks", gh_bon_rule_name(rule),
                    field);
}

/* Every value the rule reads must be finite; the message names the field and
 * the candidate (its index in the pool). */
static gh_status check_values(const gh_bon_pool *pool, const int32_t *idx, int32_t m, gh_bon_rule rule) {
    const char *rn = gh_bon_rule_name(rule);
    for (int32_t k = 0; k < m; k++) {
        int32_t i = idx[k];
        if (gh_bon_rule_needs_reward(rule) && !isfinite(pool->reward[i]))
            return gh_error(GH_ERR_INVALID_ARG, "rule %s: reward of candidate %d is %g", rn, i, pool->reward[i]);
        if (gh_bon_rule_needs_gold(rule) && !isfinite(pool->gold[i]))
            return gh_error(GH_ERR_INVALID_ARG, "rule %s: gold of candidate %d is %g", rn, i, pool->gold[i]);
        if (gh_bon_rule_needs_logprob(rule) && !isfinite(pool->logprob[i]))
            return gh_error(GH_ERR_INVALID_ARG, "rule %s: logprob_ref of candidate %d is %g", rn, i, pool->logprob[i]);
        if (gh_bon_rule_needs_tokens(rule) && pool->n_tokens[i] < 1)
            return gh_error(GH_ERR_INVALID_ARG, "rule %s: n_tokens of candidate %d is %d (must be >= 1)", rn, i,
                            pool->n_tokens[i]);
        if (gh_bon_rule_needs_embedding(rule)) {
            const double *row = pool->cost + (size_t)i * (size_t)pool->n;
            for (int32_t l = 0; l < m; l++)
                if (!isfinite(row[idx[l]]))
                    return gh_error(GH_ERR_INVALID_ARG, "rule %s: cost between candidates %d and %d is %g", rn, i,
                                    idx[l], row[idx[l]]);
        }
    }
    return GH_OK;
}

/* Mean cost of candidate idx[k] to the subset, itself included (C(y,y) = 0
 * for the cosine cost), summed in subset order. */
static double mean_cost(const gh_bon_pool *pool, const int32_t *idx, int32_t m, int32_t k) {
    const double *row = pool->cost + (size_t)idx[k] * (size_t)pool->n;
    double s = 0.0;
    for (int32_t l = 0; l < m; l++) s += row[idx[l]];
    return s / (double)m;
}

/* srbon-kl: the distribution over the subset maximising
 *   sum_i p_i R_i - beta * KL(p || q),   q_i = pi_ref(y_i) / sum_j pi_ref(y_j),
 * is the Gibbs distribution p_i ∝ q_i exp(R_i / beta) ∝ exp(logprob_i + R_i / beta)
 * (the normaliser of q cancels). It is computed as exp((s_i - s_max) / beta)
 * with s_i = R_i + beta * logprob_i, the rbon-kl objective: the largest term is
 * exp(0) = 1, nothing overflows, and as beta -> 0 the mass goes to the maximum
 * without ever forming R / beta. */
static void srbon_kl_probs(const double *s, int32_t m, double beta, double *p) {
    double smax = s[argmax_first(s, m)];
    double z = 0.0;
    for (int32_t k = 0; k < m; k++) {
        p[k] = exp((s[k] - smax) / beta);
        z += p[k];
    }
    for (int32_t k = 0; k < m; k++) p[k] /= z; /* z >= 1 */
}

/* srbon-wd: maximise over distributions p on the subset
 *   F(p) = sum_i p_i R_i - beta * W1(p, u),   u = uniform over the m candidates,
 *   W1(p, u) = min { sum_ij T_ij C_ij : T >= 0, sum_j T_ij = p_i, sum_i T_ij = 1/m }.
 * Since beta >= 0, maximising F over p is maximising jointly over (p, T):
 *   max_T sum_ij T_ij (R_i - beta C_ij)   s.t. T >= 0, column sums 1/m,
 * with p read off as the row sums (p is then automatically a distribution).
 * The columns no longer interact, so each column j (a reference point y_j) sends
 * its whole mass 1/m to the row i that maximises R_i - beta C_ij; ties go to the
 * lowest subset position. This is an exact optimum of the LP (a vertex of the
 * transport polytope), found in O(m^2), and it does not assume C_jj = 0.
 * p_i = (columns choosing i) / m; counts keep the masses exact. */
static void srbon_wd_probs(const gh_bon_pool *pool, const int32_t *idx, int32_t m, double beta, double *p) {
    for (int32_t k = 0; k < m; k++) p[k] = 0.0;
    const size_t n = (size_t)pool->n;
    for (int32_t j = 0; j < m; j++) {
        int32_t best = 0;
        double bv = 0.0;
        for (int32_t i = 0; i < m; i++) {
            double v = pool->reward[idx[i]] - beta * pool->cost[(size_t)idx[i] * n + (size_t)idx[j]];
            if (i == 0 || v > bv) { best = i; bv = v; }
        }
        p[best] += 1.0; /* counts, exact in double */
    }
    for (int32_t k = 0; k < m; k++) p[k] /= (double)m;
}

gh_status gh_bon_select(const gh_bon_pool *pool, const int32_t *idx, int32_t m, gh_bon_rule rule, double beta,
                        double u, gh_bon_pick *pick, double *prob) {
    if (!pool || !idx || !pick) return gh_error(GH_ERR_INVALID_ARG, "bon select: NULL pool, subset or output");
    if ((unsigned)rule >= GH_BON_N_RULES) return gh_error(GH_ERR_INVALID_ARG, "bon select: unknown rule %d", (int)rule);
    const char *rn = gh_bon_rule_name(rule);
    if (pool->n < 1) return gh_error(GH_ERR_INVALID_ARG, "rule %s: the pool has %d candidates (need >= 1)", rn, pool->n);
    if (m < 1 || m > pool->n)
        return gh_error(GH_ERR_INVALID_ARG, "rule %s: subset of %d candidates from a pool of %d (need 1..%d)", rn, m,
                        pool->n, pool->n);
    if (!isfinite(beta) || beta < 0.0)
        return gh_error(GH_ERR_INVALID_ARG, "rule %s: beta is %g (must be finite and >= 0)", rn, beta);
    if (gh_bon_rule_is_stochastic(rule) && !(u >= 0.0 && u < 1.0))
        return gh_error(GH_ERR_INVALID_ARG, "rule %s: u is %g (must be in [0, 1))", rn, u);
    if (gh_bon_rule_needs_reward(rule) && !pool->reward) return missing(rule, "reward");
    if (gh_bon_rule_needs_gold(rule) && !pool->gold) return missing(rule, "gold");
    if (gh_bon_rule_needs_logprob(rule) && !pool->logprob) return missing(rule, "logprob_ref");
    if (gh_bon_rule_needs_tokens(rule) && !pool->n_tokens) return missing(rule, "n_tokens");
    if (gh_bon_rule_needs_embedding(rule) && !pool->cost) return missing(rule, "embedding (the cost matrix)");

    /* scratch: objective values [m], probabilities [m] unless the caller's
     * buffer takes them, and a mark per pool candidate for the distinctness check */
    double *obj = malloc((size_t)m * 2 * sizeof *obj);
    unsigned char *seen = calloc((size_t)pool->n, 1);
    if (!obj || !seen) { free(obj); free(seen); return gh_error(GH_ERR_NOMEM, "bon select: out of memory"); }
    double *p = prob ? prob : obj + m;
    gh_status st = GH_OK;
    for (int32_t k = 0; k < m; k++) {
        if (idx[k] < 0 || idx[k] >= pool->n) {
            st = gh_error(GH_ERR_INVALID_ARG, "rule %s: subset position %d names candidate %d, outside the pool of %d",
                          rn, k, idx[k], pool->n);
            goto done;
        }
        if (seen[idx[k]]) {
            st = gh_error(GH_ERR_INVALID_ARG, "rule %s: candidate %d appears twice in the subset", rn, idx[k]);
            goto done;
        }
        seen[idx[k]] = 1;
    }
    if ((st = check_values(pool, idx, m, rule))) goto done;

    const double *R = pool->reward;
    int32_t best = -1;        /* subset position of the pick */
    bool stochastic = false;  /* p holds a full distribution */
    bool stochastic_obj = false; /* srbon-kl at beta 0: one-hot, but reports like srbon */
    for (int32_t k = 0; k < m; k++) {
        int32_t i = idx[k];
        switch (rule) {
        case GH_BON_BON: obj[k] = R[i]; break;
        case GH_BON_RBON_KL:
        case GH_BON_SRBON_KL: obj[k] = R[i] + beta * pool->logprob[i]; break;
        case GH_BON_RBON_KL_NORM: obj[k] = R[i] + beta * pool->logprob[i] / (double)pool->n_tokens[i]; break;
        case GH_BON_RBON_WD: obj[k] = R[i] - beta * mean_cost(pool, idx, m, k); break;
        case GH_BON_LENGTH: obj[k] = R[i] - beta / (double)pool->n_tokens[i]; break;
        case GH_BON_MBR: obj[k] = 0.0 - mean_cost(pool, idx, m, k); break; /* +0, not -0, for one candidate */
        case GH_BON_ORACLE: obj[k] = pool->gold[i]; break;
        case GH_BON_SRBON_WD:
        case GH_BON_RANDOM:
        case GH_BON_N_RULES: obj[k] = 0.0; break;
        }
        if (!isfinite(obj[k])) {
            st = gh_error(GH_ERR_INVALID_ARG, "rule %s: the objective of candidate %d overflows (%g) at beta %g", rn, i,
                          obj[k], beta);
            goto done;
        }
    }
    switch (rule) {
    case GH_BON_SRBON_KL:
        if (beta > 0.0) {
            srbon_kl_probs(obj, m, beta, p);
            best = sample_position(p, m, u);
            stochastic = true;
        } else {
            best = argmax_first(obj, m); /* the beta -> 0 limit, taken as BoN (one-hot) */
        }
        stochastic_obj = true;
        break;
    case GH_BON_SRBON_WD:
        srbon_wd_probs(pool, idx, m, beta, p);
        best = sample_position(p, m, u);
        stochastic = true;
        break;
    case GH_BON_RANDOM:
        for (int32_t k = 0; k < m; k++) p[k] = 1.0 / (double)m;
        best = (int32_t)floor(u * (double)m);
        if (best > m - 1) best = m - 1;
        stochastic = true;
        break;
    default: best = argmax_first(obj, m); break;
    }

    const int32_t pi = idx[best];
    pick->index = pi;
    pick->reward = R ? R[pi] : NAN;
    pick->gold = pool->gold ? pool->gold[pi] : NAN;
    if (stochastic) {
        pick->objective = NAN;
        double er = 0.0, eg = 0.0;
        for (int32_t k = 0; k < m; k++) {
            if (!(p[k] > 0.0)) continue; /* 0 * NaN must not poison the sums */
            er += p[k] * (R ? R[idx[k]] : NAN);
            eg += p[k] * (pool->gold ? pool->gold[idx[k]] : NAN);
        }
        pick->expected_reward = er;
        pick->expected_gold = eg;
    } else {
        pick->objective = stochastic_obj ? NAN : obj[best];
        pick->expected_reward = pick->reward;
        pick->expected_gold = pick->gold;
        for (int32_t k = 0; k < m; k++) p[k] = k == best ? 1.0 : 0.0;
    }
done:
    free(obj);
    free(seen);
    return st;
}
