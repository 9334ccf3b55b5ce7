/* linear_avx2.c — AVX2/FMA versions of the two inner loops of pb_pass
 * (linear.c): a float row dotted with a double vector, and g += r·row, both in
 * double. Compiled with -mavx2 -mfma; only called after a CPUID check. The
 * dot product keeps 8 lanes (two registers of 4) combined in the same tree as
 * the scalar version, so the order of additions is fixed. */
#include <immintrin.h>
#include <stdint.h>

double pb_dot_fd_avx2(const float *x, const double *u, int32_t d);
void pb_axpy_fd_avx2(double *g, double r, const float *x, int32_t d);
float pb_dot_ff_avx2(const float *x, const float *u, int32_t d);
void pb_axpy_ff_avx2(float *g, float r, const float *x, int32_t d);
void pb_axpy4_ff_avx2(float *g, const float *r, const float *x, int32_t d, const float *next);

double pb_dot_fd_avx2(const float *x, const double *u, int32_t d) {
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    int32_t j = 0;
    for (; j + 8 <= d; j += 8) {
        __m256 xf = _mm256_loadu_ps(x + j);
        a0 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(xf)), _mm256_loadu_pd(u + j), a0);
        a1 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(xf, 1)), _mm256_loadu_pd(u + j + 4), a1);
    }
    double acc[8];
    _mm256_storeu_pd(acc, a0);
    _mm256_storeu_pd(acc + 4, a1);
    for (int k = 0; j < d; j++, k++) acc[k] += u[j] * (double)x[j];
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

void pb_axpy_fd_avx2(double *g, double r, const float *x, int32_t d) {
    const __m256d rv = _mm256_set1_pd(r);
    int32_t j = 0;
    for (; j + 4 <= d; j += 4)
        _mm256_storeu_pd(g + j, _mm256_fmadd_pd(rv, _mm256_cvtps_pd(_mm_loadu_ps(x + j)), _mm256_loadu_pd(g + j)));
    for (; j < d; j++) g[j] += r * (double)x[j];
}

/* float row · float vector: four 8-lane accumulators (FMA latency hidden),
 * combined in a fixed order */
float pb_dot_ff_avx2(const float *x, const float *u, int32_t d) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int32_t j = 0;
    for (; j + 32 <= d; j += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(u + j), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j + 8), _mm256_loadu_ps(u + j + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j + 16), _mm256_loadu_ps(u + j + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j + 24), _mm256_loadu_ps(u + j + 24), a3);
    }
    for (; j + 8 <= d; j += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(u + j), a0);
    __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3));
    float acc[8];
    _mm256_storeu_ps(acc, s);
    for (int k = 0; j < d; j++, k++) acc[k] += u[j] * x[j];
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

/* g += r·x (the up to three rows a chunk has left after its groups of four) */
void pb_axpy_ff_avx2(float *g, float r, const float *x, int32_t d) {
    const __m256 rv = _mm256_set1_ps(r);
    int32_t j = 0;
    for (; j + 8 <= d; j += 8)
        _mm256_storeu_ps(g + j, _mm256_fmadd_ps(rv, _mm256_loadu_ps(x + j), _mm256_loadu_ps(g + j)));
    for (; j < d; j++) g[j] += r * x[j];
}

/* g += r0·x0 + r1·x1 + r2·x2 + r3·x3 for four consecutive rows x [4][d]: g is
 * loaded and stored once per four rows; the next four rows (`next`, may be
 * NULL) are prefetched meanwhile. */
void pb_axpy4_ff_avx2(float *g, const float *r, const float *x, int32_t d, const float *next) {
    const __m256 r0 = _mm256_set1_ps(r[0]), r1 = _mm256_set1_ps(r[1]), r2 = _mm256_set1_ps(r[2]), r3 = _mm256_set1_ps(r[3]);
    const float *x0 = x, *x1 = x + d, *x2 = x + 2 * (size_t)d, *x3 = x + 3 * (size_t)d;
    int32_t j = 0;
    for (; j + 16 <= d; j += 16) {
        if (next) {
            _mm_prefetch((const char *)(next + j), _MM_HINT_T0);
            _mm_prefetch((const char *)(next + d + j), _MM_HINT_T0);
            _mm_prefetch((const char *)(next + 2 * (size_t)d + j), _MM_HINT_T0);
            _mm_prefetch((const char *)(next + 3 * (size_t)d + j), _MM_HINT_T0);
        }
        for (int32_t h = 0; h < 16; h += 8) {
            __m256 t = _mm256_loadu_ps(g + j + h);
            t = _mm256_fmadd_ps(r0, _mm256_loadu_ps(x0 + j + h), t);
            t = _mm256_fmadd_ps(r1, _mm256_loadu_ps(x1 + j + h), t);
            t = _mm256_fmadd_ps(r2, _mm256_loadu_ps(x2 + j + h), t);
            t = _mm256_fmadd_ps(r3, _mm256_loadu_ps(x3 + j + h), t);
            _mm256_storeu_ps(g + j + h, t);
        }
    }
    for (; j < d; j++) g[j] = g[j] + r[0] * x0[j] + r[1] * x1[j] + r[2] * x2[j] + r[3] * x3[j];
}
