/* test_linear.c — the passes over a feature matrix that the probe methods are
 * built from (src/probe/linear.c): the float32 Hessian-vector pass agrees with
 * the double pass, the AVX2 and portable versions agree, the pass over the
 * float16 copy agrees to float16's precision, and the result is the same bits
 * for any thread count. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "probe/probe_internal.h"

typedef struct { const double *wt; } wctx;
static double weighted(void *ctx, int64_t i, double z) { return ((wctx *)ctx)->wt[i] * z; }

/* x [n][d] ~ mag·N(0,1), u ~ N(0,1)/mag (uf and u the same values), weights in [0, 0.25) */
static void fill(gh_rng *r, int64_t n, int32_t d, double mag, float *x, float *uf, double *u, double *wt) {
    for (int64_t i = 0; i < n * d; i++) x[i] = (float)(mag * gh_rng_normal(r));
    for (int32_t j = 0; j < d; j++) { uf[j] = (float)(gh_rng_normal(r) / mag); u[j] = uf[j]; }
    for (int64_t i = 0; i < n; i++) wt[i] = gh_rng_uniform(r) * 0.25;
}

static void check(int64_t n, int32_t d) {
    gh_rng r;
    gh_rng_seed(&r, 7, (uint64_t)n * 1000 + (uint64_t)d);
    float *x = malloc((size_t)n * d * sizeof *x), *uf = malloc((size_t)d * sizeof *uf);
    double *u = malloc((size_t)d * sizeof *u), *wt = malloc((size_t)n * sizeof *wt);
    double *g64 = malloc((size_t)d * sizeof *g64), *g32 = malloc((size_t)d * sizeof *g32), *g32b = malloc((size_t)d * sizeof *g32b);
    float *part = malloc(pb_part_floats(n, d) * sizeof *part);
    fill(&r, n, d, 1.0, x, uf, u, wt);
    const double c = 0.3;
    wctx ctx = {wt};
    double r64, r32, r32b;
    assert_ok(pb_pass(x, n, d, u, c, weighted, &ctx, NULL, g64, &r64, 1));
    double norm = 0, err = 0;
    for (int t = 1; t <= 2; t++) {
        double *g = t == 1 ? g32 : g32b, *rs = t == 1 ? &r32 : &r32b;
        assert_ok(pb_pass_hv_f32(x, NULL, 1, n, d, uf, c, wt, g, rs, part, t));
    }
    /* thread count does not change a bit */
    assert_memory_equal(g32, g32b, (size_t)d * sizeof *g32);
    assert_true(r32 == r32b);
    for (int32_t j = 0; j < d; j++) { norm += g64[j] * g64[j]; err += (g32[j] - g64[j]) * (g32[j] - g64[j]); }
    assert_true(sqrt(err) <= 1e-5 * sqrt(norm) + 1e-9);
    assert_true(fabs(r32 - r64) <= 1e-5 * (fabs(r64) + 1));
    free(x); free(uf); free(u); free(wt); free(g64); free(g32); free(g32b); free(part);
}

/* the float16 copy: the pass over it is that over x to float16's precision
 * (the copy is scaled by a power of two, so values far outside float16's
 * range, 1e-6 or 1e6, keep their digits), and the same bits for 1 or 3 threads */
static void check_half(int64_t n, int32_t d, double mag) {
    gh_rng r;
    gh_rng_seed(&r, 9, (uint64_t)n * 1000 + (uint64_t)d);
    float *x = malloc((size_t)n * d * sizeof *x), *uf = malloc((size_t)d * sizeof *uf);
    double *u = malloc((size_t)d * sizeof *u), *wt = malloc((size_t)n * sizeof *wt);
    double *g64 = malloc((size_t)d * sizeof *g64), *g1 = malloc((size_t)d * sizeof *g1), *g3 = malloc((size_t)d * sizeof *g3);
    float *part = malloc(pb_part_floats(n, d) * sizeof *part);
    fill(&r, n, d, mag, x, uf, u, wt);
    const double c = 0.3;
    wctx ctx = {wt};
    double r64;
    assert_ok(pb_pass(x, n, d, u, c, weighted, &ctx, NULL, g64, &r64, 1));
    float inv1 = 0, inv3 = 0;
    uint16_t *h1 = pb_half_copy(x, n, d, 1, &inv1), *h3 = pb_half_copy(x, n, d, 3, &inv3);
#ifdef LINEAR_SCALAR
    assert_null(h1); /* the portable build has no float16 kernels */
    assert_null(h3);
#else
    if (!__builtin_cpu_supports("f16c") || !__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        assert_null(h1);
        print_message("no AVX2/F16C here: the float16 pass is not tested\n");
    } else {
        assert_non_null(h1);
        assert_non_null(h3);
        double r1, r3;
        assert_true(inv1 == inv3);
        assert_memory_equal(h1, h3, (size_t)n * d * sizeof *h1);
        assert_ok(pb_pass_hv_f32(x, h1, inv1, n, d, uf, c, wt, g1, &r1, part, 1));
        assert_ok(pb_pass_hv_f32(x, h3, inv3, n, d, uf, c, wt, g3, &r3, part, 3));
        assert_memory_equal(g1, g3, (size_t)d * sizeof *g1);
        assert_true(r1 == r3);
        double norm = 0, err = 0;
        for (int32_t j = 0; j < d; j++) { norm += g64[j] * g64[j]; err += (g1[j] - g64[j]) * (g1[j] - g64[j]); }
        /* float16 keeps 11 bits: each x to 2^-12 relative; the product to
         * about that, and not to float32's 1e-5 (so this is the float16 pass) */
        assert_true(sqrt(err) <= 2e-3 * sqrt(norm));
        assert_true(sqrt(err) > 1e-6 * sqrt(norm));
        assert_true(fabs(r1 - r64) <= 2e-3 * (fabs(r64) + 1));
    }
#endif
    free(h1); free(h3);
    free(x); free(uf); free(u); free(wt); free(g64); free(g1); free(g3); free(part);
}

static void test_hv_f16_matches_double(void **state) {
    (void)state;
    check_half(1000, 257, 1.0);
    check_half(300, 40, 1e-6); /* below float16's smallest normal */
    check_half(300, 40, 1e6);  /* above its largest value */
    check_half(37, 64, 3.0);
}

/* the diagonal pass (Jacobi preconditioner of logreg): Σ wt_i x_ij² and Σ wt_i,
 * from x and from its float16 copy, against a direct double sum; the same
 * bits for 1 and 3 threads */
static void test_diag(void **state) {
    (void)state;
    const int64_t n = 301;
    const int32_t d = 45;
    gh_rng r;
    gh_rng_seed(&r, 11, 0);
    float *x = malloc((size_t)n * d * sizeof *x), *uf = malloc((size_t)d * sizeof *uf);
    double *u = malloc((size_t)d * sizeof *u), *wt = malloc((size_t)n * sizeof *wt);
    double ref[45] = {0}, dg1[45], dg3[45], rs = 0, s1, s3;
    float *part = malloc(pb_part_floats(n, d) * sizeof *part);
    fill(&r, n, d, 1.0, x, uf, u, wt);
    for (int32_t j = 0; j < d; j++) /* features of very different scales */
        for (int64_t i = 0; i < n; i++) x[i * d + j] *= (float)ldexp(1.0, j % 9 - 4);
    for (int64_t i = 0; i < n; i++) {
        rs += wt[i];
        for (int32_t j = 0; j < d; j++) ref[j] += wt[i] * (double)x[i * d + j] * x[i * d + j];
    }
    float inv = 1;
    uint16_t *h = pb_half_copy(x, n, d, 1, &inv);
    for (int half = 0; half < 2; half++) {
        if (half && !h) break; /* no float16 kernels here */
        assert_ok(pb_pass_diag(x, half ? h : NULL, inv, n, d, wt, dg1, &s1, part, 1));
        assert_ok(pb_pass_diag(x, half ? h : NULL, inv, n, d, wt, dg3, &s3, part, 3));
        assert_memory_equal(dg1, dg3, sizeof dg1);
        assert_true(s1 == s3);
        assert_float_equal(s1, rs, 1e-12 * rs);
        for (int32_t j = 0; j < d; j++) assert_float_equal(dg1[j], ref[j], (half ? 2e-3 : 1e-5) * ref[j]);
    }
    free(h); free(x); free(uf); free(u); free(wt); free(part);
}

static void test_hv_f32_matches_double(void **state) {
    (void)state;
    check(1000, 257); /* a tail after the 32- and 8-wide blocks */
    check(37, 64);    /* fewer rows than chunks */
    check(1, 3);
}

int main(void) {
#ifdef LINEAR_SCALAR
    setenv("GH_SIMD", "scalar", 1); /* read at the first pass: the portable kernels */
#endif
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_hv_f32_matches_double),
                                       cmocka_unit_test(test_hv_f16_matches_double), cmocka_unit_test(test_diag)};
    return cmocka_run_group_tests_name("probe linear passes", tests, NULL, NULL);
}
