/* test_linear.c — the passes over a feature matrix that the probe methods are
 * built from (src/probe/linear.c): the float32 Hessian-vector pass agrees with
 * the double pass, the AVX2 and portable versions agree, and the result is the
 * same bits for any thread count. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "probe/probe_internal.h"

typedef struct { const double *wt; } wctx;
static double weighted(void *ctx, int64_t i, double z) { return ((wctx *)ctx)->wt[i] * z; }

static void check(int64_t n, int32_t d) {
    gh_rng r;
    gh_rng_seed(&r, 7, (uint64_t)n * 1000 + (uint64_t)d);
    float *x = malloc((size_t)n * d * sizeof *x), *uf = malloc((size_t)d * sizeof *uf);
    double *u = malloc((size_t)d * sizeof *u), *wt = malloc((size_t)n * sizeof *wt);
    double *g64 = malloc((size_t)d * sizeof *g64), *g32 = malloc((size_t)d * sizeof *g32), *g32b = malloc((size_t)d * sizeof *g32b);
    float *part = malloc(pb_part_floats(n, d) * sizeof *part);
    for (int64_t i = 0; i < n * d; i++) x[i] = (float)gh_rng_normal(&r);
    for (int32_t j = 0; j < d; j++) { uf[j] = (float)gh_rng_normal(&r); u[j] = uf[j]; }
    for (int64_t i = 0; i < n; i++) wt[i] = gh_rng_uniform(&r) * 0.25;
    const double c = 0.3;
    wctx ctx = {wt};
    double r64, r32, r32b;
    assert_ok(pb_pass(x, n, d, u, c, weighted, &ctx, NULL, g64, &r64, 1));
    double norm = 0, err = 0;
    for (int t = 1; t <= 2; t++) {
        double *g = t == 1 ? g32 : g32b, *rs = t == 1 ? &r32 : &r32b;
        assert_ok(pb_pass_hv_f32(x, n, d, uf, c, wt, g, rs, part, t));
    }
    /* thread count does not change a bit */
    assert_memory_equal(g32, g32b, (size_t)d * sizeof *g32);
    assert_true(r32 == r32b);
    for (int32_t j = 0; j < d; j++) { norm += g64[j] * g64[j]; err += (g32[j] - g64[j]) * (g32[j] - g64[j]); }
    assert_true(sqrt(err) <= 1e-5 * sqrt(norm) + 1e-9);
    assert_true(fabs(r32 - r64) <= 1e-5 * (fabs(r64) + 1));
    free(x); free(uf); free(u); free(wt); free(g64); free(g32); free(g32b); free(part);
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
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_hv_f32_matches_double)};
    return cmocka_run_group_tests_name("probe linear passes", tests, NULL, NULL);
}
