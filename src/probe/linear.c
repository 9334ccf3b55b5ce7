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

/* float16 copy (pb_half_copy): AVX2 + F16C only, so the portable build keeps
 * the float32 pass */
float pb_dot_hf_avx2(const uint16_t *x, const float *u, int32_t d);
void pb_axpy_hf_avx2(float *g, float r, const uint16_t *x, int32_t d);
void pb_axpy4_hf_avx2(float *g, const float *r, const uint16_t *x, int32_t d, const uint16_t *next);
void pb_f32_to_f16_avx2(uint16_t *dst, const float *src, int64_t n, float scale);

/* chunk ch of nc: rows [i0, i1), its float partial sum (zeroed) */
static float *chunk_start(float *part, int64_t ch, int64_t n, int64_t nc, int32_t d, int64_t *i0, int64_t *i1) {
    *i0 = ch * n / nc;
    *i1 = (ch + 1) * n / nc;
    float *gp = part + (size_t)ch * d;
    memset(gp, 0, (size_t)d * sizeof *gp);
    return gp;
}

/* out_j = scale · Σ_ch part[ch][j], chunks added in order */
static void sum_parts(const float *part, int64_t nc, int32_t d, double scale, double *out, int nt) {
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int32_t j = 0; j < d; j++) {
        double s = 0;
        for (int64_t ch = 0; ch < nc; ch++) s += part[(size_t)ch * d + j];
        out[j] = s * scale;
    }
}

void pb_axpysq_ff_avx2(float *g, float r, const float *x, int32_t d);
void pb_axpysq_hf_avx2(float *g, float r, const uint16_t *x, int32_t d);

static void axpysq_ff_ref(float *g, float r, const float *x, int32_t d) {
    for (int32_t j = 0; j < d; j++) g[j] += r * x[j] * x[j];
}

gh_status pb_pass_diag(const float *x, const uint16_t *xh, float xh_inv_scale, int64_t n, int32_t d, const double *wt,
                       double *diag, double *wsum, float *part, int32_t n_threads) {
    memset(diag, 0, (size_t)d * sizeof *diag);
    *wsum = 0;
    if (n < 1) return GH_OK;
    const int64_t nc = n < PB_CHUNKS ? n : PB_CHUNKS;
    double rpart[PB_CHUNKS];
    int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
    void (*sq_ff)(float *, float, const float *, int32_t) = use_avx2() ? pb_axpysq_ff_avx2 : axpysq_ff_ref;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t ch = 0; ch < nc; ch++) {
        int64_t i0, i1;
        float *gp = chunk_start(part, ch, n, nc, d, &i0, &i1);
        double rs = 0;
        for (int64_t i = i0; i < i1; i++) {
            rs += wt[i];
            if (xh) pb_axpysq_hf_avx2(gp, (float)wt[i], xh + (size_t)i * d, d);
            else sq_ff(gp, (float)wt[i], x + (size_t)i * d, d);
        }
        rpart[ch] = rs;
    }
    sum_parts(part, nc, d, xh ? (double)xh_inv_scale * (double)xh_inv_scale : 1.0, diag, nt); /* the copy holds x·scale */
    *wsum = pb_sum(rpart, nc);
    return GH_OK;
}

uint16_t *pb_half_copy(const float *x, int64_t n, int32_t d, int32_t n_threads, float *inv_scale) {
    if (!use_avx2() || !__builtin_cpu_supports("f16c") || n < 1 || d < 1) return NULL;
    const int64_t nd = n * (int64_t)d;
    int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
    float mx = 0;
#pragma omp parallel for schedule(static) reduction(max : mx) num_threads(nt)
    for (int64_t i = 0; i < nd; i++) mx = fabsf(x[i]) > mx ? fabsf(x[i]) : mx;
    int e = 0;
    if (mx > 0) frexpf(mx, &e); /* mx = m·2^e, m in [0.5, 1) */
    if (15 - e > 120 || 15 - e < -120) return NULL; /* the scale would leave float's range */
    const float scale = ldexpf(1.0f, 15 - e);      /* max |x|·scale in [2^14, 2^15): no overflow */
    uint16_t *h = malloc((size_t)nd * sizeof *h);
    if (!h) return NULL; /* not an error: the float32 pass still works */
    const int64_t step = (int64_t)1 << 16;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i0 = 0; i0 < nd; i0 += step) pb_f32_to_f16_avx2(h + i0, x + i0, nd - i0 < step ? nd - i0 : step, scale);
    *inv_scale = 1.0f / scale;
    return h;
}

gh_status pb_pass_hv_f32(const float *x, const uint16_t *xh, float xh_inv_scale, int64_t n, int32_t d,
                         const float *u, double c, const double *wt, double *g, double *rsum, float *part,
                         int32_t n_threads) {
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
    const float cf = (float)c, inv = xh ? xh_inv_scale : 1.0f;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t ch = 0; ch < nc; ch++) {
        int64_t i0, i1;
        float *gp = chunk_start(part, ch, n, nc, d, &i0, &i1);
        double rs = 0;
        int64_t i = i0;
        /* four rows at a time: their dot products stream them in, then one
         * sweep over gp adds all four while the next four are prefetched */
        for (; i + 4 <= i1; i += 4) {
            const size_t o = (size_t)i * d;
            float r4[4];
            for (int k = 0; k < 4; k++) {
                float dt = xh ? pb_dot_hf_avx2(xh + o + (size_t)k * d, u, d) : dot_ff(x + o + (size_t)k * d, u, d);
                r4[k] = (float)(wt[i + k] * (double)(cf + inv * dt));
                rs += r4[k];
            }
            const bool more = i + 8 <= i1;
            if (xh) pb_axpy4_hf_avx2(gp, r4, xh + o, d, more ? xh + o + 4 * (size_t)d : NULL);
            else axpy4_ff(gp, r4, x + o, d, more ? x + o + 4 * (size_t)d : NULL);
        }
        for (; i < i1; i++) {
            const size_t o = (size_t)i * d;
            float dt = xh ? pb_dot_hf_avx2(xh + o, u, d) : dot_ff(x + o, u, d);
            float r = (float)(wt[i] * (double)(cf + inv * dt));
            rs += r;
            if (r == 0) continue;
            if (xh) pb_axpy_hf_avx2(gp, r, xh + o, d);
            else axpy_ff(gp, r, x + o, d);
        }
        rpart[ch] = rs;
    }
    sum_parts(part, nc, d, inv, g, nt); /* the copy holds x·scale */
    *rsum = pb_sum(rpart, nc);
    return GH_OK;
}

double pb_sum(const double *a, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i];
    return s;
}
