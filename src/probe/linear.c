/* linear.c — the pass over a feature matrix that the probe methods are built
 * from: row scores z = X·u + c, a per-row weight r = f(z), and Xᵀr, in one read
 * of X (each row is dotted, then added into the chunk's partial gradient while
 * it is still in cache).
 *
 * Shapes: x [n][d] float32 row-major, u/g [d] double, z/r [n] double.
 * Determinism: rows are split into PB_CHUNKS contiguous chunks that depend on n
 * only; OpenMP threads take whole chunks; chunk partials are added in chunk
 * order. The dot product uses 8 interleaved accumulators combined in a fixed
 * tree, so the bits depend neither on the thread count nor on the schedule. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "probe/probe_internal.h"

/* AVX2/FMA versions (linear_avx2.c), chosen once by CPUID; GH_SIMD=scalar
 * forces these portable ones (the two give slightly different bits). */
double pb_dot_fd_avx2(const float *x, const double *u, int32_t d);
void pb_axpy_fd_avx2(double *g, double r, const float *x, int32_t d);
float pb_dot_ff_avx2(const float *x, const float *u, int32_t d);
void pb_axpy_ff_avx2(float *g, float r, const float *x, int32_t d);
void pb_axpy4_ff_avx2(float *g, const float *r, const float *x, int32_t d, const float *next);

static double dot_ref(const float *x, const double *u, int32_t d) {
    double acc[8] = {0};
    int32_t j = 0;
    for (; j + 8 <= d; j += 8)
        for (int k = 0; k < 8; k++) acc[k] += u[j + k] * (double)x[j + k];
    for (int k = 0; j < d; j++, k++) acc[k] += u[j] * (double)x[j];
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

static void axpy_ref(double *g, double r, const float *x, int32_t d) {
    for (int32_t j = 0; j < d; j++) g[j] += r * (double)x[j];
}

/* float versions: the AVX2 file keeps four 8-lane accumulators; here 8 lanes,
 * combined in a fixed tree */
static float dot_ff_ref(const float *x, const float *u, int32_t d) {
    float acc[8] = {0};
    int32_t j = 0;
    for (; j + 8 <= d; j += 8)
        for (int k = 0; k < 8; k++) acc[k] += u[j + k] * x[j + k];
    for (int k = 0; j < d; j++, k++) acc[k] += u[j] * x[j];
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

static void axpy_ff_ref(float *g, float r, const float *x, int32_t d) {
    for (int32_t j = 0; j < d; j++) g[j] += r * x[j];
}

static void axpy4_ff_ref(float *g, const float *r, const float *x, int32_t d, const float *next) {
    (void)next;
    for (int32_t j = 0; j < d; j++)
        g[j] = g[j] + r[0] * x[j] + r[1] * x[d + j] + r[2] * x[2 * (size_t)d + j] + r[3] * x[3 * (size_t)d + j];
}

static bool use_avx2(void) {
    static int v = -1; /* benign race: every thread computes the same value */
    if (v < 0) {
        const char *e = getenv("GH_SIMD");
        v = !(e && !strcmp(e, "scalar")) && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return v;
}

gh_status pb_pass(const float *x, int64_t n, int32_t d, const double *u, double c, pb_rowfn f,
                  void *ctx, double *z_out, double *g, double *rsum, int32_t n_threads) {
    if (n < 1) {
        if (g) memset(g, 0, (size_t)d * sizeof *g);
        if (rsum) *rsum = 0;
        return GH_OK;
    }
    const int64_t nc = n < PB_CHUNKS ? n : PB_CHUNKS;
    double *part = NULL, *rpart = calloc((size_t)nc, sizeof *rpart);
    if (g) part = calloc((size_t)nc * d, sizeof *part);
    if (!rpart || (g && !part)) { free(part); free(rpart); return gh_error(GH_ERR_NOMEM, "out of memory (probe pass over %lld x %d)", (long long)n, d); }
    int nt = n_threads > 0 ? n_threads : 0;
    const bool simd = use_avx2();
    double (*dot_fd)(const float *, const double *, int32_t) = simd ? pb_dot_fd_avx2 : dot_ref;
    void (*axpy_fd)(double *, double, const float *, int32_t) = simd ? pb_axpy_fd_avx2 : axpy_ref;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt > 0 ? nt : omp_get_max_threads())
    for (int64_t ch = 0; ch < nc; ch++) {
        const int64_t i0 = ch * n / nc, i1 = (ch + 1) * n / nc;
        double *gp = g ? part + (size_t)ch * d : NULL;
        double rs = 0;
        for (int64_t i = i0; i < i1; i++) {
            const float *xi = x + (size_t)i * d;
            double z = c + (u ? dot_fd(xi, u, d) : 0.0);
            if (z_out) z_out[i] = z;
            double r = f ? f(ctx, i, z) : z;
            rs += r;
            if (gp && r != 0) axpy_fd(gp, r, xi, d);
        }
        rpart[ch] = rs;
    }
    if (g) {
#pragma omp parallel for schedule(static) num_threads(nt > 0 ? nt : omp_get_max_threads())
        for (int32_t j = 0; j < d; j++) {
            double s = 0;
            for (int64_t ch = 0; ch < nc; ch++) s += part[(size_t)ch * d + j];
            g[j] = s;
        }
    }
    if (rsum) *rsum = pb_sum(rpart, nc);
    free(part);
    free(rpart);
    return GH_OK;
}

size_t pb_part_floats(int64_t n, int32_t d) {
    const int64_t nc = n < PB_CHUNKS ? (n > 0 ? n : 1) : PB_CHUNKS;
    return (size_t)nc * (size_t)d;
}

gh_status pb_pass_hv_f32(const float *x, int64_t n, int32_t d, const float *u, double c, const double *wt,
                         double *g, double *rsum, float *part, int32_t n_threads) {
    if (n < 1) {
        memset(g, 0, (size_t)d * sizeof *g);
        *rsum = 0;
        return GH_OK;
    }
    const int64_t nc = n < PB_CHUNKS ? n : PB_CHUNKS;
    double rpart[PB_CHUNKS];
    int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
    const bool simd = use_avx2();
    float (*dot_ff)(const float *, const float *, int32_t) = simd ? pb_dot_ff_avx2 : dot_ff_ref;
    void (*axpy_ff)(float *, float, const float *, int32_t) = simd ? pb_axpy_ff_avx2 : axpy_ff_ref;
    void (*axpy4_ff)(float *, const float *, const float *, int32_t, const float *) = simd ? pb_axpy4_ff_avx2 : axpy4_ff_ref;
    const float cf = (float)c;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t ch = 0; ch < nc; ch++) {
        const int64_t i0 = ch * n / nc, i1 = (ch + 1) * n / nc;
        float *gp = part + (size_t)ch * d;
        memset(gp, 0, (size_t)d * sizeof *gp);
        double rs = 0;
        int64_t i = i0;
        /* four rows at a time: their dot products stream them in, then one
         * sweep over gp adds all four while the next four are prefetched */
        for (; i + 4 <= i1; i += 4) {
            const float *xi = x + (size_t)i * d;
            float r4[4];
            for (int k = 0; k < 4; k++) {
                r4[k] = (float)(wt[i + k] * (double)(cf + dot_ff(xi + (size_t)k * d, u, d)));
                rs += r4[k];
            }
            axpy4_ff(gp, r4, xi, d, i + 8 <= i1 ? xi + 4 * (size_t)d : NULL);
        }
        for (; i < i1; i++) {
            const float *xi = x + (size_t)i * d;
            float r = (float)(wt[i] * (double)(cf + dot_ff(xi, u, d)));
            rs += r;
            if (r != 0) axpy_ff(gp, r, xi, d);
        }
        rpart[ch] = rs;
    }
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int32_t j = 0; j < d; j++) {
        double s = 0;
        for (int64_t ch = 0; ch < nc; ch++) s += part[(size_t)ch * d + j];
        g[j] = s;
    }
    *rsum = pb_sum(rpart, nc);
    return GH_OK;
}

double pb_sum(const double *a, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i];
    return s;
}
