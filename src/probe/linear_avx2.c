/* linear_avx2.c — AVX2/FMA versions of the inner loops of the passes in
 * linear.c: a float row dotted with a double vector, and g += r·row, both in
 * double (pb_pass); the same in float over float32 or float16 rows
 * (pb_pass_hv_f32). Compiled with -mavx2 -mfma -mf16c; only called after a
 * CPUID check. The
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

/* The float kernels, once for float32 rows and once for float16 rows (F16C,
 * widened to float in registers; the Hessian passes over the copy that
 * pb_f32_to_f16_avx2 makes): T is the element type, LD(p) loads 8 of them as
 * floats, TOF(v) widens one. */
static inline __m256 ld_f(const float *p) { return _mm256_loadu_ps(p); }
static inline float f2f(float v) { return v; }
static inline __m256 ld_h(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* row · float vector: four 8-lane accumulators (FMA latency hidden),
 * combined in a fixed order */
#define DEF_DOT(NAME, T, LD, TOF)                                                                              \
    float NAME(const T *x, const float *u, int32_t d) {                                                        \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(),                   \
               a3 = _mm256_setzero_ps();                                                                       \
        int32_t j = 0;                                                                                         \
        for (; j + 32 <= d; j += 32) {                                                                         \
            a0 = _mm256_fmadd_ps(LD(x + j), _mm256_loadu_ps(u + j), a0);                                       \
            a1 = _mm256_fmadd_ps(LD(x + j + 8), _mm256_loadu_ps(u + j + 8), a1);                               \
            a2 = _mm256_fmadd_ps(LD(x + j + 16), _mm256_loadu_ps(u + j + 16), a2);                             \
            a3 = _mm256_fmadd_ps(LD(x + j + 24), _mm256_loadu_ps(u + j + 24), a3);                             \
        }                                                                                                      \
        for (; j + 8 <= d; j += 8) a0 = _mm256_fmadd_ps(LD(x + j), _mm256_loadu_ps(u + j), a0);                \
        __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3));                                \
        float acc[8];                                                                                          \
        _mm256_storeu_ps(acc, s);                                                                              \
        for (int k = 0; j < d; j++, k++) acc[k] += u[j] * TOF(x[j]);                                           \
        return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));             \
    }

/* g += r·x (the up to three rows a chunk has left after its groups of four) */
#define DEF_AXPY(NAME, T, LD, TOF)                                                                             \
    void NAME(float *g, float r, const T *x, int32_t d) {                                                      \
        const __m256 rv = _mm256_set1_ps(r);                                                                   \
        int32_t j = 0;                                                                                         \
        for (; j + 8 <= d; j += 8) _mm256_storeu_ps(g + j, _mm256_fmadd_ps(rv, LD(x + j), _mm256_loadu_ps(g + j))); \
        for (; j < d; j++) g[j] += r * TOF(x[j]);                                                              \
    }

/* g += r0·x0 + r1·x1 + r2·x2 + r3·x3 for four consecutive rows x [4][d]: g is
 * loaded and stored once per four rows; the next four rows (`next`, may be
 * NULL) are prefetched meanwhile, one 64-byte line of each per block of B. */
#define DEF_AXPY4(NAME, T, LD, TOF)                                                                            \
    void NAME(float *g, const float *r, const T *x, int32_t d, const T *next) {                                \
        enum { B = 64 / sizeof(T) };                                                                           \
        const __m256 r0 = _mm256_set1_ps(r[0]), r1 = _mm256_set1_ps(r[1]), r2 = _mm256_set1_ps(r[2]),          \
                     r3 = _mm256_set1_ps(r[3]);                                                                \
        const T *x0 = x, *x1 = x + d, *x2 = x + 2 * (size_t)d, *x3 = x + 3 * (size_t)d;                        \
        int32_t j = 0;                                                                                         \
        for (; j + B <= d; j += B) {                                                                           \
            if (next) {                                                                                        \
                _mm_prefetch((const char *)(next + j), _MM_HINT_T0);                                           \
                _mm_prefetch((const char *)(next + d + j), _MM_HINT_T0);                                       \
                _mm_prefetch((const char *)(next + 2 * (size_t)d + j), _MM_HINT_T0);                           \
                _mm_prefetch((const char *)(next + 3 * (size_t)d + j), _MM_HINT_T0);                           \
            }                                                                                                  \
            for (int32_t h = 0; h < B; h += 8) {                                                               \
                __m256 t = _mm256_loadu_ps(g + j + h);                                                         \
                t = _mm256_fmadd_ps(r0, LD(x0 + j + h), t);                                                    \
                t = _mm256_fmadd_ps(r1, LD(x1 + j + h), t);                                                    \
                t = _mm256_fmadd_ps(r2, LD(x2 + j + h), t);                                                    \
                t = _mm256_fmadd_ps(r3, LD(x3 + j + h), t);                                                    \
                _mm256_storeu_ps(g + j + h, t);                                                                \
            }                                                                                                  \
        }                                                                                                      \
        for (; j < d; j++)                                                                                     \
            g[j] = g[j] + r[0] * TOF(x0[j]) + r[1] * TOF(x1[j]) + r[2] * TOF(x2[j]) + r[3] * TOF(x3[j]);       \
    }

/* g += r·x² (elementwise square: the diagonal of XᵀDX) */
#define DEF_AXPYSQ(NAME, T, LD, TOF)                                                                           \
    void NAME(float *g, float r, const T *x, int32_t d) {                                                      \
        const __m256 rv = _mm256_set1_ps(r);                                                                   \
        int32_t j = 0;                                                                                         \
        for (; j + 8 <= d; j += 8) {                                                                           \
            __m256 v = LD(x + j);                                                                              \
            _mm256_storeu_ps(g + j, _mm256_fmadd_ps(_mm256_mul_ps(rv, v), v, _mm256_loadu_ps(g + j)));         \
        }                                                                                                      \
        for (; j < d; j++) g[j] += r * TOF(x[j]) * TOF(x[j]);                                                  \
    }

void pb_axpysq_ff_avx2(float *g, float r, const float *x, int32_t d);
void pb_axpysq_hf_avx2(float *g, float r, const uint16_t *x, int32_t d);
float pb_dot_hf_avx2(const uint16_t *x, const float *u, int32_t d);
void pb_axpy_hf_avx2(float *g, float r, const uint16_t *x, int32_t d);
void pb_axpy4_hf_avx2(float *g, const float *r, const uint16_t *x, int32_t d, const uint16_t *next);
void pb_f32_to_f16_avx2(uint16_t *dst, const float *src, int64_t n, float scale);

DEF_DOT(pb_dot_ff_avx2, float, ld_f, f2f)
DEF_AXPY(pb_axpy_ff_avx2, float, ld_f, f2f)
DEF_AXPY4(pb_axpy4_ff_avx2, float, ld_f, f2f)
DEF_AXPYSQ(pb_axpysq_ff_avx2, float, ld_f, f2f)
DEF_DOT(pb_dot_hf_avx2, uint16_t, ld_h, h2f)
DEF_AXPYSQ(pb_axpysq_hf_avx2, uint16_t, ld_h, h2f)
DEF_AXPY(pb_axpy_hf_avx2, uint16_t, ld_h, h2f)
DEF_AXPY4(pb_axpy4_hf_avx2, uint16_t, ld_h, h2f)

/* dst = float16(scale · src), rounded to nearest even */
void pb_f32_to_f16_avx2(uint16_t *dst, const float *src, int64_t n, float scale) {
    const __m256 s = _mm256_set1_ps(scale);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(src + i), s), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = _cvtss_sh(src[i] * scale, _MM_FROUND_TO_NEAREST_INT);
}
