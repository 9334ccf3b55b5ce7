/* Tests of the Best-of-N selection engine (src/bon/select.c): hand-computed
 * picks for every rule on small pools (the arithmetic is in the comments),
 * tie-breaking, the stochastic rules' distributions against brute force,
 * invariances (a constant added to R, beta = 0), sampling frequencies, the
 * cosine cost, and the error cases. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "goodhart/bon.h"

/* ---- pool A: four candidates, dyadic values so sums are exact ----
 *   i      0     1     2     3
 *   R      1     3     2     2.5
 *   gold   0.5  -1     2     1
 *   logp  -2    -8    -3    -6
 *   |y|    2     8     4     1
 *   C   [0    1    0.5  1.5]   row sums 3, 4, 2.5, 4.5
 *       [1    0    1    2  ]   mean cost (m = 4): 0.75, 1, 0.625, 1.125
 *       [0.5  1    0    1  ]
 *       [1.5  2    1    0  ]
 */
static const double A_R[4] = {1.0, 3.0, 2.0, 2.5};
static const double A_G[4] = {0.5, -1.0, 2.0, 1.0};
static const double A_LP[4] = {-2.0, -8.0, -3.0, -6.0};
static const int32_t A_NT[4] = {2, 8, 4, 1};
static const double A_C[16] = {0, 1, 0.5, 1.5, 1, 0, 1, 2, 0.5, 1, 0, 1, 1.5, 2, 1, 0};
static const int32_t ALL4[4] = {0, 1, 2, 3};

static gh_bon_pool pool_a(void) {
    gh_bon_pool p = {.n = 4, .reward = A_R, .gold = A_G, .logprob = A_LP, .n_tokens = A_NT, .cost = A_C};
    return p;
}

/* The pick's pool index, failing the test on an error. */
static int32_t pick_of(const gh_bon_pool *p, const int32_t *idx, int32_t m, gh_bon_rule r, double beta, double u,
                       gh_bon_pick *out, double *prob) {
    gh_bon_pick tmp;
    gh_bon_pick *pk = out ? out : &tmp;
    assert_ok(gh_bon_select(p, idx, m, r, beta, u, pk, prob));
    return pk->index;
}

static void test_names(void **state) {
    (void)state;
    for (int r = 0; r < GH_BON_N_RULES; r++) {
        gh_bon_rule back;
        assert_true(gh_bon_rule_from_name(gh_bon_rule_name((gh_bon_rule)r), &back));
        assert_int_equal(back, r);
    }
    gh_bon_rule x;
    assert_false(gh_bon_rule_from_name("bon2", &x));
    assert_false(gh_bon_rule_from_name(NULL, &x));
    assert_string_equal(gh_bon_rule_name(GH_BON_RBON_KL_NORM), "rbon-kl-norm");
    assert_string_equal(gh_bon_rule_name(GH_BON_SRBON_WD), "srbon-wd");
    assert_true(gh_bon_rule_needs_logprob(GH_BON_SRBON_KL));
    assert_false(gh_bon_rule_needs_logprob(GH_BON_BON));
    assert_true(gh_bon_rule_needs_embedding(GH_BON_MBR));
    assert_false(gh_bon_rule_needs_embedding(GH_BON_LENGTH));
    assert_true(gh_bon_rule_needs_tokens(GH_BON_RBON_KL_NORM));
    assert_true(gh_bon_rule_is_stochastic(GH_BON_RANDOM));
    assert_false(gh_bon_rule_is_stochastic(GH_BON_RBON_WD));
    assert_false(gh_bon_rule_uses_beta(GH_BON_MBR));
    assert_true(gh_bon_rule_uses_beta(GH_BON_LENGTH));
    assert_false(gh_bon_rule_needs_reward(GH_BON_ORACLE));
    assert_true(gh_bon_rule_needs_gold(GH_BON_ORACLE));
}

static void test_hand_deterministic(void **state) {
    (void)state;
    gh_bon_pool p = pool_a();
    gh_bon_pick k;
    double prob[4];

    /* bon: max R = 3 at 1 */
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_BON, 0.0, 0.0, &k, prob), 1);
    assert_true(k.objective == 3.0 && k.reward == 3.0 && k.gold == -1.0);
    assert_true(k.expected_reward == 3.0 && k.expected_gold == -1.0);
    assert_true(prob[0] == 0.0 && prob[1] == 1.0 && prob[2] == 0.0 && prob[3] == 0.0);

    /* rbon-kl, beta 0.5: R + 0.5 logp = 1-1, 3-4, 2-1.5, 2.5-3 = 0, -1, 0.5, -0.5 -> 2 */
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_RBON_KL, 0.5, 0.0, &k, NULL), 2);
    assert_true(k.objective == 0.5);

    /* rbon-kl-norm, beta 1: R + logp/|y| = 1-1, 3-1, 2-0.75, 2.5-6 = 0, 2, 1.25, -3.5 -> 1 */
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_RBON_KL_NORM, 1.0, 0.0, &k, NULL), 1);
    assert_true(k.objective == 2.0);

    /* rbon-wd, beta 1: R - mean C = 1-0.75, 3-1, 2-0.625, 2.5-1.125 = 0.25, 2, 1.375, 1.375 -> 1
     * beta 4: 1-3, 3-4, 2-2.5, 2.5-4.5 = -2, -1, -0.5, -2 -> 2 */
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_RBON_WD, 1.0, 0.0, &k, NULL), 1);
    assert_true(k.objective == 2.0);
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_RBON_WD, 4.0, 0.0, &k, NULL), 2);
    assert_true(k.objective == -0.5);

    /* mbr: smallest mean cost 0.625 at 2; objective -0.625 */
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_MBR, 0.0, 0.0, &k, NULL), 2);
    assert_true(k.objective == -0.625);
    /* mbr over {0, 1, 3}: mean costs (0+1+1.5)/3, (1+0+2)/3, (1.5+2+0)/3 = 0.833, 1, 1.167 -> 0 */
    const int32_t s013[3] = {0, 1, 3};
    assert_int_equal(pick_of(&p, s013, 3, GH_BON_MBR, 0.0, 0.0, &k, NULL), 0);
    assert_true(fabs(k.objective + 2.5 / 3.0) < 1e-15);

    /* length, beta 2: R - 2/|y| = 1-1, 3-0.25, 2-0.5, 2.5-2 = 0, 2.75, 1.5, 0.5 -> 1;
     * over {0, 2, 3}: 0, 1.5, 0.5 -> 2 (bon there picks 3: R = 2.5) */
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_LENGTH, 2.0, 0.0, &k, NULL), 1);
    assert_true(k.objective == 2.75);
    const int32_t s023[3] = {0, 2, 3};
    assert_int_equal(pick_of(&p, s023, 3, GH_BON_LENGTH, 2.0, 0.0, &k, NULL), 2);
    assert_true(k.objective == 1.5);
    assert_int_equal(pick_of(&p, s023, 3, GH_BON_BON, 2.0, 0.0, NULL, NULL), 3);

    /* oracle: max gold 2 at 2 (bon's pick has gold -1) */
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_ORACLE, 0.0, 0.0, &k, NULL), 2);
    assert_true(k.objective == 2.0 && k.gold == 2.0 && k.reward == 2.0);

    /* no gold: the pick reports NAN for it */
    gh_bon_pool ng = p;
    ng.gold = NULL;
    assert_int_equal(pick_of(&ng, ALL4, 4, GH_BON_BON, 0.0, 0.0, &k, NULL), 1);
    assert_true(isnan(k.gold) && isnan(k.expected_gold));
}

static void test_hand_random(void **state) {
    (void)state;
    gh_bon_pool p = pool_a();
    gh_bon_pick k;
    double prob[4];
    /* index floor(u * m) in subset positions: u 0.6 -> floor(2.4) = 2; 0.99 -> 3; 0 -> 0 */
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_RANDOM, 0.0, 0.6, &k, prob), 2);
    assert_true(isnan(k.objective));
    for (int i = 0; i < 4; i++) assert_true(prob[i] == 0.25);
    /* expected R = (1+3+2+2.5)/4 = 2.125, gold (0.5-1+2+1)/4 = 0.625 */
    assert_true(k.expected_reward == 2.125 && k.expected_gold == 0.625);
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_RANDOM, 0.0, 0.99, NULL, NULL), 3);
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_RANDOM, 0.0, 0.0, NULL, NULL), 0);
    /* the position maps through the subset: {3, 1, 0} with u = 0.5 -> position 1 -> candidate 1 */
    const int32_t s310[3] = {3, 1, 0};
    assert_int_equal(pick_of(&p, s310, 3, GH_BON_RANDOM, 0.0, 0.5, NULL, NULL), 1);
    /* random and mbr do not need R */
    gh_bon_pool nr = p;
    nr.reward = NULL;
    assert_int_equal(pick_of(&nr, ALL4, 4, GH_BON_RANDOM, 0.0, 0.3, &k, NULL), 1);
    assert_true(isnan(k.reward));
    assert_int_equal(pick_of(&nr, ALL4, 4, GH_BON_MBR, 0.0, 0.0, NULL, NULL), 2);
}

/* srbon-kl by hand, beta 1: s = R + logp = -1, -5, -1, -3.5, so
 *   p ∝ e^-1, e^-5, e^-1, e^-3.5;  dividing by e^-1: 1, e^-4, 1, e^-2.5
 *   Z = 2 + e^-4 + e^-2.5 = 2 + 0.0183156389 + 0.0820849986 = 2.1004006375
 *   p = 0.4760996, 0.0087201, 0.4760996, 0.0390806
 * cumulative: 0.4760996, 0.4848197, 0.9609194, 1 */
static void test_hand_srbon_kl(void **state) {
    (void)state;
    gh_bon_pool p = pool_a();
    gh_bon_pick k;
    double prob[4];
    double Z = 2.0 + exp(-4.0) + exp(-2.5);
    const double want[4] = {1.0 / Z, exp(-4.0) / Z, 1.0 / Z, exp(-2.5) / Z};
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_SRBON_KL, 1.0, 0.4, &k, prob), 0);
    for (int i = 0; i < 4; i++) assert_true(fabs(prob[i] - want[i]) < 1e-14);
    assert_true(fabs(prob[0] - 0.4760996) < 1e-7 && fabs(prob[3] - 0.0390806) < 1e-7);
    assert_true(isnan(k.objective));
    double er = 0, eg = 0;
    for (int i = 0; i < 4; i++) { er += want[i] * A_R[i]; eg += want[i] * A_G[i]; }
    assert_true(fabs(k.expected_reward - er) < 1e-13 && fabs(k.expected_gold - eg) < 1e-13);
    /* u = 0.48: past 0.4761, not past 0.4848 -> 1; 0.5 -> 2; 0.97 -> 3 */
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_SRBON_KL, 1.0, 0.48, NULL, NULL), 1);
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_SRBON_KL, 1.0, 0.5, NULL, NULL), 2);
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_SRBON_KL, 1.0, 0.97, NULL, NULL), 3);

    /* two candidates, equal pi_ref, R = 0 and ln 3, beta 1: p ∝ 1, 3 -> 0.25, 0.75 */
    const double R2[2] = {0.0, log(3.0)}, L2[2] = {log(0.5), log(0.5)};
    gh_bon_pool p2 = {.n = 2, .reward = R2, .logprob = L2};
    const int32_t s01[2] = {0, 1};
    assert_int_equal(pick_of(&p2, s01, 2, GH_BON_SRBON_KL, 1.0, 0.2, &k, prob), 0);
    assert_true(fabs(prob[0] - 0.25) < 1e-15 && fabs(prob[1] - 0.75) < 1e-15);
    assert_true(isnan(k.gold));
    assert_int_equal(pick_of(&p2, s01, 2, GH_BON_SRBON_KL, 1.0, 0.25, NULL, NULL), 1);

    /* beta = 0: the BoN limit, one-hot on argmax R (1) */
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_SRBON_KL, 0.0, 0.0, &k, prob), 1);
    assert_true(prob[1] == 1.0 && prob[0] == 0.0);
    assert_true(k.expected_reward == 3.0);
    /* a tiny beta reaches the same limit without overflow (R/beta is never formed) */
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_SRBON_KL, 1e-300, 0.999, NULL, prob), 1);
    assert_true(prob[1] == 1.0);
    /* a huge beta: p ∝ pi_ref (logp -2 dominant: 0) */
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_SRBON_KL, 1e12, 0.5, NULL, prob), 0);
    assert_true(fabs(prob[0] - 1.0 / (1.0 + exp(-6.0) + exp(-1.0) + exp(-4.0))) < 1e-9);
}

/* srbon-wd by hand, beta 1: column j sends 1/4 to argmax_i R_i - C_ij
 *   j=0: 1-0, 3-1, 2-0.5, 2.5-1.5   = 1, 2, 1.5, 1      -> 1
 *   j=1: 1-1, 3-0, 2-1,   2.5-2     = 0, 3, 1, 0.5      -> 1
 *   j=2: 1-0.5, 3-1, 2-0, 2.5-1     = 0.5, 2, 2, 1.5    -> 1 (tie with 2: lowest)
 *   j=3: 1-1.5, 3-2, 2-1, 2.5-0     = -0.5, 1, 1, 2.5   -> 3
 *   p = 0, 0.75, 0, 0.25; E[R] = 0.75*3 + 0.25*2.5 = 2.875; E[gold] = -0.75 + 0.25 = -0.5
 * beta 2:
 *   j=0: 1, 1, 1, -0.5 -> 0;  j=1: -1, 3, 0, -1.5 -> 1;  j=2: 0, 1, 2, 0.5 -> 2;  j=3: -2, -1, 0, 2.5 -> 3
 *   p uniform (the reference itself): objective mean R = 2.125 beats the beta-1
 *   solution's 2.875 - 2 * W1 = 2.875 - 2 * (1 + 1)/4 = 1.875 */
static void test_hand_srbon_wd(void **state) {
    (void)state;
    gh_bon_pool p = pool_a();
    gh_bon_pick k;
    double prob[4];
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_SRBON_WD, 1.0, 0.7, &k, prob), 1);
    assert_true(prob[0] == 0.0 && prob[1] == 0.75 && prob[2] == 0.0 && prob[3] == 0.25);
    assert_true(k.expected_reward == 2.875 && k.expected_gold == -0.5);
    assert_true(isnan(k.objective));
    /* cumulative 0, 0.75, 0.75, 1: u = 0.75 is not past 0.75 -> 3; u = 0 -> 1 (p_0 = 0 is never picked) */
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_SRBON_WD, 1.0, 0.75, NULL, NULL), 3);
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_SRBON_WD, 1.0, 0.0, NULL, NULL), 1);
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_SRBON_WD, 2.0, 0.3, &k, prob), 1);
    for (int i = 0; i < 4; i++) assert_true(prob[i] == 0.25);
    assert_true(k.expected_reward == 2.125);
    /* beta 0: every column goes to argmax R: one-hot on bon's pick */
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_SRBON_WD, 0.0, 0.99, NULL, prob), 1);
    assert_true(prob[1] == 1.0);
    /* a cost with a nonzero diagonal is used as given: C_11 = C_22 = C_33 = 5, beta 1:
     *   j=0 (C_i0 = 0, 1, 0.5, 1.5): 1, 2, 1.5, 1      -> 1
     *   j=1 (C_i1 = 1, 5, 1, 2):     0, -2, 1, 0.5     -> 2
     *   j=2 (C_i2 = 0.5, 1, 5, 1):   0.5, 2, -3, 1.5   -> 1
     *   j=3 (C_i3 = 1.5, 2, 1, 5):   -0.5, 1, 1, -2.5  -> 1 (tie with 2: lowest)
     *   p = 0, 0.75, 0.25, 0; u = 0.8 is past 0.75 -> 2 */
    double C2[16];
    memcpy(C2, A_C, sizeof C2);
    C2[5] = C2[10] = C2[15] = 5.0;
    gh_bon_pool pd = p;
    pd.cost = C2;
    assert_int_equal(pick_of(&pd, ALL4, 4, GH_BON_SRBON_WD, 1.0, 0.8, NULL, prob), 2);
    assert_true(prob[0] == 0.0 && prob[1] == 0.75 && prob[2] == 0.25 && prob[3] == 0.0);
}

static void test_ties(void **state) {
    (void)state;
    gh_bon_pool p = pool_a();
    /* rbon-kl-norm, beta 4: R + 4 logp/|y| = 1-4, 3-4, 2-3, 2.5-24 = -3, -1, -1, -21.5:
     * 1 and 2 tie; the lowest subset position wins, so the subset order decides */
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_RBON_KL_NORM, 4.0, 0.0, NULL, NULL), 1);
    const int32_t s2103[4] = {2, 1, 0, 3};
    assert_int_equal(pick_of(&p, s2103, 4, GH_BON_RBON_KL_NORM, 4.0, 0.0, NULL, NULL), 2);
    /* R = 2, 2, 1: bon and oracle keep the first of the two 2s in subset order */
    const double Rt[3] = {2.0, 2.0, 1.0};
    gh_bon_pool pt = {.n = 3, .reward = Rt, .gold = Rt};
    const int32_t a[3] = {0, 1, 2}, b[3] = {1, 0, 2}, c[3] = {2, 1, 0};
    assert_int_equal(pick_of(&pt, a, 3, GH_BON_BON, 0.0, 0.0, NULL, NULL), 0);
    assert_int_equal(pick_of(&pt, b, 3, GH_BON_BON, 0.0, 0.0, NULL, NULL), 1);
    assert_int_equal(pick_of(&pt, c, 3, GH_BON_BON, 0.0, 0.0, NULL, NULL), 1);
    assert_int_equal(pick_of(&pt, c, 3, GH_BON_ORACLE, 0.0, 0.0, NULL, NULL), 1);
    /* srbon-kl at beta 0 breaks the tie the same way */
    const double Lt[3] = {-1.0, -1.0, -1.0};
    pt.logprob = Lt;
    assert_int_equal(pick_of(&pt, b, 3, GH_BON_SRBON_KL, 0.0, 0.9, NULL, NULL), 1);
    /* and at beta > 0 tied candidates get equal probability */
    double prob[3];
    pick_of(&pt, a, 3, GH_BON_SRBON_KL, 0.5, 0.1, NULL, prob);
    assert_true(prob[0] == prob[1] && prob[0] > prob[2]);
}

/* F(p) = sum p_i R_i - beta KL(p || q), 0 log 0 = 0. */
static double kl_objective(const double *p, const double *R, const double *q, int m, double beta) {
    double f = 0.0;
    for (int i = 0; i < m; i++) {
        f += p[i] * R[i];
        if (p[i] > 0) f -= beta * p[i] * log(p[i] / q[i]);
    }
    return f;
}

/* The closed form p ∝ pi_ref exp(R/beta) against a grid over the 3-simplex
 * (step 1/400): no grid point beats it, the best comes within the grid's
 * resolution, and its value is beta log sum_i q_i exp(R_i/beta). */
static void test_srbon_kl_brute_force(void **state) {
    (void)state;
    gh_rng rng;
    gh_rng_seed(&rng, 11, 0);
    for (int trial = 0; trial < 6; trial++) {
        double R[3], L[3], q[3], qs = 0.0;
        for (int i = 0; i < 3; i++) {
            R[i] = 2.0 * gh_rng_normal(&rng);
            L[i] = -10.0 + 3.0 * gh_rng_normal(&rng);
        }
        double beta = trial < 3 ? 0.3 + trial : 5.0 * gh_rng_uniform(&rng) + 0.05;
        for (int i = 0; i < 3; i++) qs += exp(L[i]);
        for (int i = 0; i < 3; i++) q[i] = exp(L[i]) / qs;
        gh_bon_pool pool = {.n = 3, .reward = R, .logprob = L};
        const int32_t idx[3] = {0, 1, 2};
        double p[3];
        pick_of(&pool, idx, 3, GH_BON_SRBON_KL, beta, 0.5, NULL, p);
        assert_true(fabs(p[0] + p[1] + p[2] - 1.0) < 1e-12);
        double fstar = kl_objective(p, R, q, 3, beta);
        double lse = 0.0;
        for (int i = 0; i < 3; i++) lse += q[i] * exp(R[i] / beta);
        assert_true(fabs(fstar - beta * log(lse)) < 1e-9 * (1.0 + fabs(fstar)));
        const int G = 400;
        double best = -INFINITY;
        for (int a = 0; a <= G; a++)
            for (int b = 0; a + b <= G; b++) {
                double g[3] = {(double)a / G, (double)b / G, (double)(G - a - b) / G};
                double f = kl_objective(g, R, q, 3, beta);
                assert_true(f <= fstar + 1e-12);
                if (f > best) best = f;
            }
        assert_true(fstar - best < 2e-2 * (1.0 + beta));
        assert_true(fstar - best >= -1e-12);
    }
}

/* The srbon-wd solution against random feasible transport plans: every plan
 * T >= 0 with column sums 1/m gives sum_ij T_ij (R_i - beta C_ij) <= the value
 * of the solution's plan, which is F(p*) (each column's mass at its best row).
 * Costs are random, asymmetric and with a nonzero diagonal: nothing assumed. */
static void test_srbon_wd_brute_force(void **state) {
    (void)state;
    gh_rng rng;
    gh_rng_seed(&rng, 12, 0);
    for (int trial = 0; trial < 20; trial++) {
        const int m = 2 + trial % 5;
        double R[6], C[36];
        for (int i = 0; i < m; i++) R[i] = gh_rng_normal(&rng);
        for (int i = 0; i < m * m; i++) C[i] = 2.0 * gh_rng_uniform(&rng);
        double beta = 3.0 * gh_rng_uniform(&rng);
        gh_bon_pool pool = {.n = m, .reward = R, .cost = C};
        int32_t idx[6];
        for (int i = 0; i < m; i++) idx[i] = i;
        double p[6];
        gh_bon_pick k;
        pick_of(&pool, idx, m, GH_BON_SRBON_WD, beta, 0.3, &k, p);
        /* the optimum value: each column's best row */
        double vstar = 0.0;
        for (int j = 0; j < m; j++) {
            double b = -INFINITY;
            for (int i = 0; i < m; i++) b = fmax(b, R[i] - beta * C[i * m + j]);
            vstar += b / m;
        }
        /* p* is a distribution whose mass sits on each column's best rows */
        double ps = 0.0;
        for (int i = 0; i < m; i++) { ps += p[i]; assert_true(p[i] >= 0.0); }
        assert_true(fabs(ps - 1.0) < 1e-12);
        double er = 0.0;
        for (int i = 0; i < m; i++) er += p[i] * R[i];
        assert_true(fabs(k.expected_reward - er) < 1e-12);
        for (int t = 0; t < 4000; t++) {
            double v = 0.0;
            for (int j = 0; j < m; j++) {
                double w[6], ws = 0.0;
                bool corner = t % 4 == 0; /* one-hot columns: the polytope's vertices */
                int hot = (int)(gh_rng_uniform(&rng) * m);
                for (int i = 0; i < m; i++) {
                    w[i] = corner ? (i == hot) : -log(1.0 - gh_rng_uniform(&rng));
                    ws += w[i];
                }
                for (int i = 0; i < m; i++) v += (w[i] / ws / m) * (R[i] - beta * C[i * m + j]);
            }
            assert_true(v <= vstar + 1e-12);
        }
    }
}

/* Random pools with values on a coarse dyadic grid (so ties are frequent and
 * every sum is exact): adding 16 to R changes no pick and no distribution for
 * any rule; at beta = 0 every regularised rule picks what bon picks. */
static void test_invariances(void **state) {
    (void)state;
    gh_rng rng;
    gh_rng_seed(&rng, 13, 0);
    const double betas[4] = {0.0, 0.25, 1.0, 3.0};
    for (int trial = 0; trial < 300; trial++) {
        const int n = 1 + trial % 8;
        double R[8], R16[8], G[8], L[8], C[64];
        int32_t T[8], perm[8];
        for (int i = 0; i < n; i++) {
            R[i] = (double)(int)(gh_rng_uniform(&rng) * 8) / 4.0;
            R16[i] = R[i] + 16.0;
            G[i] = (double)(int)(gh_rng_uniform(&rng) * 8);
            L[i] = -(double)(int)(gh_rng_uniform(&rng) * 16) / 4.0;
            T[i] = 1 << (int)(gh_rng_uniform(&rng) * 5);
            perm[i] = i;
        }
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
                C[i * n + j] = C[j * n + i] = i == j ? 0.0 : (double)(int)(gh_rng_uniform(&rng) * 32) / 16.0;
        for (int i = n - 1; i > 0; i--) { /* a random subset order */
            int j = (int)(gh_rng_uniform(&rng) * (i + 1));
            int32_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
        }
        /* m a power of two, so that mean costs (sum / m) stay exact too */
        int m = 1;
        while (2 * m <= n && gh_rng_uniform(&rng) < 0.6) m *= 2;
        double u = gh_rng_uniform(&rng);
        gh_bon_pool a = {.n = n, .reward = R, .gold = G, .logprob = L, .n_tokens = T, .cost = C};
        gh_bon_pool b = a;
        b.reward = R16;
        for (int bi = 0; bi < 4; bi++) {
            int32_t bon = pick_of(&a, perm, m, GH_BON_BON, 0.0, u, NULL, NULL);
            for (int r = 0; r < GH_BON_N_RULES; r++) {
                double pa[8], pb[8];
                int32_t ka = pick_of(&a, perm, m, (gh_bon_rule)r, betas[bi], u, NULL, pa);
                int32_t kb = pick_of(&b, perm, m, (gh_bon_rule)r, betas[bi], u, NULL, pb);
                if (ka != kb) fail_msg("rule %s beta %g trial %d: %d vs %d", gh_bon_rule_name((gh_bon_rule)r), betas[bi], trial, ka, kb);
                for (int i = 0; i < m; i++) assert_true(pa[i] == pb[i]);
                if (betas[bi] == 0.0 && gh_bon_rule_uses_beta((gh_bon_rule)r) && ka != bon)
                    fail_msg("rule %s at beta 0 picks %d, bon %d (trial %d)", gh_bon_rule_name((gh_bon_rule)r), ka, bon, trial);
            }
        }
    }
}

/* Many uniform draws: the srbon picks follow their distributions. Counts are
 * compared with binomial 5-sigma bounds; the seed is fixed, so this is
 * deterministic. */
static void test_sampling_frequency(void **state) {
    (void)state;
    gh_bon_pool p = pool_a();
    gh_rng rng;
    gh_rng_seed(&rng, 14, 0);
    const int D = 200000;
    for (int which = 0; which < 2; which++) {
        gh_bon_rule r = which ? GH_BON_SRBON_WD : GH_BON_SRBON_KL;
        double prob[4];
        pick_of(&p, ALL4, 4, r, 1.0, 0.0, NULL, prob);
        int cnt[4] = {0};
        for (int d = 0; d < D; d++) cnt[pick_of(&p, ALL4, 4, r, 1.0, gh_rng_uniform(&rng), NULL, NULL)]++;
        for (int i = 0; i < 4; i++) {
            double mu = D * prob[i], sd = sqrt(D * prob[i] * (1.0 - prob[i]));
            if (fabs(cnt[i] - mu) > 5.0 * sd + 1e-9)
                fail_msg("%s: candidate %d drawn %d times, expected %.1f", gh_bon_rule_name(r), i, cnt[i], mu);
            if (prob[i] == 0.0) assert_int_equal(cnt[i], 0);
        }
    }
}

/* Cosine cost by hand: e0 = (1,0,0,0,0), e1 = (0,2,0,0,0), e2 = (3,3,0,0,0),
 * e3 = 0, e4 = (-2,0,0,0,0) (dimension 5: the 4-wide loop and its tail).
 *   C01 = 1 - 0 = 1; C02 = 1 - 1/sqrt2; C12 = 1 - 1/sqrt2; C04 = 1 - (-1) = 2;
 *   C24 = 1 + 1/sqrt2; C14 = 1; zero vector: C3x = 1, C33 = 1; C00 = 0. */
static void test_cost_cosine(void **state) {
    (void)state;
    const float e[25] = {1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, -2, 0, 0, 0, 0};
    double C[25];
    assert_ok(gh_bon_cost_cosine(e, 5, 5, C));
    const double s = 1.0 / sqrt(2.0);
    const double want[25] = {
        0, 1, 1 - s, 1, 2,
        1, 0, 1 - s, 1, 1,
        1 - s, 1 - s, 0, 1, 1 + s,
        1, 1, 1, 1, 1,
        2, 1, 1 + s, 1, 0,
    };
    for (int i = 0; i < 25; i++)
        if (fabs(C[i] - want[i]) > 1e-15) fail_msg("C[%d][%d] = %.17g, want %.17g", i / 5, i % 5, C[i], want[i]);
    /* random vectors of dimension 13 against the textbook formula; exact symmetry */
    gh_rng rng;
    gh_rng_seed(&rng, 15, 0);
    float r[6 * 13];
    for (int i = 0; i < 6 * 13; i++) r[i] = (float)gh_rng_normal(&rng);
    double Cr[36];
    assert_ok(gh_bon_cost_cosine(r, 6, 13, Cr));
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            double d = 0, na = 0, nb = 0;
            for (int k = 0; k < 13; k++) {
                d += (double)r[i * 13 + k] * r[j * 13 + k];
                na += (double)r[i * 13 + k] * r[i * 13 + k];
                nb += (double)r[j * 13 + k] * r[j * 13 + k];
            }
            double c = i == j ? 0.0 : 1.0 - d / sqrt(na * nb);
            assert_true(fabs(Cr[i * 6 + j] - c) < 1e-12);
            assert_true(Cr[i * 6 + j] == Cr[j * 6 + i]);
        }
    /* mbr through the cosine cost: e2 sits between e0 and e1 -> mean costs over {0,1,2}:
     * (0 + 1 + 1-s)/3, (1 + 0 + 1-s)/3, (2(1-s))/3 -> 2 */
    double C3[9];
    const float e3[6] = {1, 0, 0, 2, 3, 3};
    assert_ok(gh_bon_cost_cosine(e3, 3, 2, C3));
    gh_bon_pool pm = {.n = 3, .cost = C3};
    const int32_t i3[3] = {0, 1, 2};
    assert_int_equal(pick_of(&pm, i3, 3, GH_BON_MBR, 0.0, 0.0, NULL, NULL), 2);
    /* errors */
    float bad[4] = {1, 0, NAN, 1};
    assert_int_equal(gh_bon_cost_cosine(bad, 2, 2, C3), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "candidate 1");
    assert_int_equal(gh_bon_cost_cosine(e3, 0, 2, C3), GH_ERR_INVALID_ARG);
    assert_int_equal(gh_bon_cost_cosine(e3, 3, 0, C3), GH_ERR_INVALID_ARG);
}

static void expect_error(const gh_bon_pool *p, const int32_t *idx, int32_t m, gh_bon_rule r, double beta, double u,
                         const char *needle) {
    gh_bon_pick k;
    gh_status s = gh_bon_select(p, idx, m, r, beta, u, &k, NULL);
    if (s != GH_ERR_INVALID_ARG) fail_msg("expected an error containing \"%s\", got status %d", needle, (int)s);
    assert_contains(gh_last_error(), needle);
}

static void test_errors(void **state) {
    (void)state;
    gh_bon_pool p = pool_a();
    double R[4], L[4], C[16];
    int32_t T[4];
    memcpy(R, A_R, sizeof R);
    memcpy(L, A_LP, sizeof L);
    memcpy(C, A_C, sizeof C);
    memcpy(T, A_NT, sizeof T);
    gh_bon_pool q = {.n = 4, .reward = R, .gold = A_G, .logprob = L, .n_tokens = T, .cost = C};

    R[2] = NAN;
    expect_error(&q, ALL4, 4, GH_BON_BON, 0.0, 0.0, "reward of candidate 2 is nan");
    /* a rule that does not read R ignores it */
    assert_int_equal(pick_of(&q, ALL4, 4, GH_BON_ORACLE, 0.0, 0.0, NULL, NULL), 2);
    /* a NaN outside the subset is not read */
    const int32_t s013[3] = {0, 1, 3};
    assert_int_equal(pick_of(&q, s013, 3, GH_BON_BON, 0.0, 0.0, NULL, NULL), 1);
    R[2] = 2.0;
    L[3] = -INFINITY;
    expect_error(&q, ALL4, 4, GH_BON_RBON_KL, 1.0, 0.0, "logprob_ref of candidate 3 is -inf");
    L[3] = -6.0;
    T[0] = 0;
    expect_error(&q, ALL4, 4, GH_BON_LENGTH, 1.0, 0.0, "n_tokens of candidate 0 is 0");
    T[0] = 2;
    C[1 * 4 + 3] = NAN;
    expect_error(&q, ALL4, 4, GH_BON_RBON_WD, 1.0, 0.0, "cost between candidates 1 and 3");
    C[1 * 4 + 3] = 2.0;

    gh_bon_pool nl = p;
    nl.logprob = NULL;
    expect_error(&nl, ALL4, 4, GH_BON_RBON_KL, 1.0, 0.0, "rule rbon-kl needs logprob_ref, which the candidate set lacks");
    expect_error(&nl, ALL4, 4, GH_BON_SRBON_KL, 1.0, 0.5, "needs logprob_ref");
    gh_bon_pool nc = p;
    nc.cost = NULL;
    expect_error(&nc, ALL4, 4, GH_BON_MBR, 0.0, 0.0, "rule mbr needs embedding");
    gh_bon_pool nt = p;
    nt.n_tokens = NULL;
    expect_error(&nt, ALL4, 4, GH_BON_RBON_KL_NORM, 1.0, 0.0, "needs n_tokens");
    gh_bon_pool ng = p;
    ng.gold = NULL;
    expect_error(&ng, ALL4, 4, GH_BON_ORACLE, 0.0, 0.0, "rule oracle needs gold");
    gh_bon_pool nr = p;
    nr.reward = NULL;
    expect_error(&nr, ALL4, 4, GH_BON_BON, 0.0, 0.0, "rule bon needs reward");

    expect_error(&p, ALL4, 0, GH_BON_BON, 0.0, 0.0, "subset of 0 candidates");
    expect_error(&p, ALL4, 5, GH_BON_BON, 0.0, 0.0, "subset of 5 candidates");
    const int32_t dup[3] = {0, 2, 2}, out[2] = {1, 4}, neg[2] = {-1, 0};
    expect_error(&p, dup, 3, GH_BON_BON, 0.0, 0.0, "candidate 2 appears twice");
    expect_error(&p, out, 2, GH_BON_BON, 0.0, 0.0, "names candidate 4, outside the pool of 4");
    expect_error(&p, neg, 2, GH_BON_BON, 0.0, 0.0, "names candidate -1");
    expect_error(&p, ALL4, 4, GH_BON_RBON_KL, -0.5, 0.0, "beta is -0.5");
    expect_error(&p, ALL4, 4, GH_BON_RBON_KL, NAN, 0.0, "beta is nan");
    expect_error(&p, ALL4, 4, GH_BON_BON, INFINITY, 0.0, "beta is inf");
    expect_error(&p, ALL4, 4, GH_BON_SRBON_KL, 1.0, 1.0, "u is 1");
    expect_error(&p, ALL4, 4, GH_BON_RANDOM, 0.0, -0.1, "u is -0.1");
    expect_error(&p, ALL4, 4, GH_BON_N_RULES, 0.0, 0.0, "unknown rule");
    /* an objective that overflows is an error, not an inf that wins */
    expect_error(&p, ALL4, 4, GH_BON_RBON_KL, 1e308, 0.0, "overflows"); /* 1e308 * -2 */
    gh_bon_pool empty = {.n = 0, .reward = A_R};
    expect_error(&empty, ALL4, 1, GH_BON_BON, 0.0, 0.0, "the pool has 0 candidates");
    /* u is not checked by deterministic rules */
    assert_int_equal(pick_of(&p, ALL4, 4, GH_BON_BON, 0.0, 7.0, NULL, NULL), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_hand_deterministic),
        cmocka_unit_test(test_hand_random),
        cmocka_unit_test(test_hand_srbon_kl),
        cmocka_unit_test(test_hand_srbon_wd),
        cmocka_unit_test(test_ties),
        cmocka_unit_test(test_srbon_kl_brute_force),
        cmocka_unit_test(test_srbon_wd_brute_force),
        cmocka_unit_test(test_invariances),
        cmocka_unit_test(test_sampling_frequency),
        cmocka_unit_test(test_cost_cosine),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("bon/select", tests, NULL, NULL);
}
