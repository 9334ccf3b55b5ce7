/* simd_x86.h — the few inline helpers the AVX2 and AVX-512 kernel files share.
 * Include only from files compiled with at least -mavx2 -mfma -mf16c.
 *
 * They live in one place because the two files must produce the same bits:
 * an AVX-512 tile reduces a pair's 8-lane accumulator with the very hsum8 the
 * AVX2 tile uses, and converts scales with the same h2f. */
#ifndef GH_SIMD_X86_H
#define GH_SIMD_X86_H

#include "kernels/kernels_internal.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Horizontal sum of 8 floats, always in this order. */
ALWAYS_INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The body of the compute-peak probe's loop (peak.c) at one vector width:
 * 12 independent chains of n steps a = a * 0.999 + 1e-3 (V the vector type,
 * SET/FMA/ADD its set1/fmadd/add, CON the asm register constraint), left
 * summed in `t`. Named variables, not an array, so that they stay in
 * registers. */
#define FMA_CHAINS(V, SET, FMA, ADD, CON, n, t)                                                              \
    V a0 = SET(0.0f), a1 = SET(1e-3f), a2 = SET(2e-3f), a3 = SET(3e-3f), a4 = SET(4e-3f), a5 = SET(5e-3f),   \
      a6 = SET(6e-3f), a7 = SET(7e-3f), a8 = SET(8e-3f), a9 = SET(9e-3f), a10 = SET(1e-2f), a11 = SET(1.1e-2f); \
    const V fm_ = SET(0.999f), fc_ = SET(1e-3f);                                                             \
    for (int64_t i = 0; i < (n); i++) {                                                                      \
        a0 = FMA(a0, fm_, fc_); a1 = FMA(a1, fm_, fc_); a2 = FMA(a2, fm_, fc_); a3 = FMA(a3, fm_, fc_);       \
        a4 = FMA(a4, fm_, fc_); a5 = FMA(a5, fm_, fc_); a6 = FMA(a6, fm_, fc_); a7 = FMA(a7, fm_, fc_);       \
        a8 = FMA(a8, fm_, fc_); a9 = FMA(a9, fm_, fc_); a10 = FMA(a10, fm_, fc_); a11 = FMA(a11, fm_, fc_);   \
        __asm__ volatile("" : "+" CON(a0), "+" CON(a1), "+" CON(a2), "+" CON(a3), "+" CON(a4), "+" CON(a5),   \
                         "+" CON(a6), "+" CON(a7), "+" CON(a8), "+" CON(a9), "+" CON(a10), "+" CON(a11));     \
    }                                                                                                        \
    const V t = ADD(ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7))),                      \
                    ADD(ADD(a8, a9), ADD(a10, a11)))

/* glibc's expf (kernels_avx2.c explains): 32 / ln 2, the rounding shift and
 * the polynomial's coefficients, shared by the AVX2 and AVX-512 forms */
#define EXPF_INVLN2N 0x1.71547652b82fep+5 /* 32 / ln 2 */
#define EXPF_SHIFT 0x1.8p+52
#define EXPF_C0 0x1.c6af84b912394p-20 /* 0x1.c6af84b912394p-5 / 32^3 */
#define EXPF_C1 0x1.ebfce50fac4f3p-13 /* 0x1.ebfce50fac4f3p-3 / 32^2 */
#define EXPF_C2 0x1.62e42ff0c52d6p-6  /* 0x1.62e42ff0c52d6p-1 / 32 */

/* ys[j] = expf(xs[j]) for the lanes j < n set in mask: those outside the fast
 * range (|x| >= 88, inf, NaN) take the library call itself, as the
 * library's own slow path would. */
ALWAYS_INLINE void expf_slow_lanes(float *ys, const float *xs, unsigned mask, int n) {
    for (int j = 0; j < n; j++)
        if (mask >> j & 1) ys[j] = expf(xs[j]);
}

ALWAYS_INLINE float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* 8 bf16 values widened to floats (a 16-bit shift, exact). */
ALWAYS_INLINE __m256 bf16x8_load(const uint16_t *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

/* The 8 scales and 8 mins of a Q4_K block as bytes, from its 12 packed bytes
 * (see q4k_scale_min), with 32-bit word operations: words a, b, c are bytes
 * 0-3, 4-7, 8-11. out[0..1] = scales 0-3, 4-7; out[2..3] = mins 0-3, 4-7. */
ALWAYS_INLINE void q4k_unpack_scales(const uint8_t *s, uint32_t out[4]) {
    uint32_t a, b, c;
    memcpy(&a, s, 4); memcpy(&b, s + 4, 4); memcpy(&c, s + 8, 4);
    out[0] = a & 0x3F3F3F3Fu;
    out[1] = (c & 0x0F0F0F0Fu) | ((a >> 2) & 0x30303030u);
    out[2] = b & 0x3F3F3F3Fu;
    out[3] = ((c >> 4) & 0x0F0F0F0Fu) | ((b >> 2) & 0x30303030u);
}

/* The tile micro-kernel signature (gh_tile_fn in kernels_internal.h) and row
 * addressing inside a tile. */
#define TILE_PARAMS int64_t n, const void *w, size_t wb, const void *x, size_t xb, float *y, size_t ys, \
                    float *A, size_t as, int mode
#define WROW(T, r) ((const T *)((const char *)w + (size_t)(r) * wb))
#define XROW(T, c) ((const T *)((const char *)x + (size_t)(c) * xb))
#define UNROLL _Pragma("GCC unroll 4")
#define UNROLL8 _Pragma("GCC unroll 8")

/* attention: positions ahead at which a key row is prefetched */
#ifndef ATT_PF
#define ATT_PF 8
#endif

/* Attention's prefetch at position p of n (head size hd): the cache rows of
 * a key/value head are often cold (another sequence, another layer) and one
 * row's floats are only a few lines at a large stride, which the hardware
 * prefetchers follow slowly: fetch the key row ATT_PF positions on, and this
 * position's value row for the value pass. */
ALWAYS_INLINE void attend_prefetch(const gh_kv_view *kv, int32_t p, int32_t n, int32_t hd) {
    for (int32_t b = 0; b < hd; b += 16) {
        if (p + ATT_PF < n) _mm_prefetch((const char *)(GH_KV_K(kv, p + ATT_PF) + b), _MM_HINT_T0);
        _mm_prefetch((const char *)(GH_KV_V(kv, p) + b), _MM_HINT_T1);
    }
}

/* Sums of 8 vectors, t[j] reduced exactly as hsum8(t[j]) (the same pairs in
 * the same order: halves, then lanes 0+2 and 1+3, then those two), returned
 * as one vector: lane j = hsum8(t[j]). */
ALWAYS_INLINE __m256 hsum8x8(const __m256 t[8]) {
    __m256 a[4], b[2];
    UNROLL for (int i = 0; i < 4; i++) /* [t[2i] | t[2i+1]]: halves added */
        a[i] = _mm256_add_ps(_mm256_permute2f128_ps(t[2 * i], t[2 * i + 1], 0x20),
                             _mm256_permute2f128_ps(t[2 * i], t[2 * i + 1], 0x31));
    UNROLL for (int i = 0; i < 2; i++) /* per 128-bit lane: (l0+l2, l1+l3) of two vectors */
        b[i] = _mm256_add_ps(_mm256_shuffle_ps(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm256_shuffle_ps(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    /* lanes [t0 t2 t4 t6 | t1 t3 t5 t7] */
    const __m256 c = _mm256_add_ps(_mm256_shuffle_ps(b[0], b[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm256_shuffle_ps(b[0], b[1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm256_permutevar8x32_ps(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* Decode tiles (C <= 2, AVX2 and AVX-512) are memory bound: each step also prefetches the same
 * position of the next row group (R rows further, i.e. R*wb bytes on), which
 * is the next data this thread reads. Short rows (Q4_0: 3 KiB for n = 5632)
 * end before the hardware prefetcher has locked on, so this matters. */
#define PREFETCH_NEXT(R, C, off)                                                               \
    do {                                                                                       \
        if ((C) <= 2)                                                                          \
            UNROLL for (int r_ = 0; r_ < (R); r_++)                                            \
                _mm_prefetch(WROW(char, r_) + (off) + (size_t)(R) * wb, _MM_HINT_T1);          \
    } while (0)

/* Attention's softmax exponentials for heads g .. g+7 (kernels_avx512.c):
 * scores[p*G + g + j] = expf(scores[p*G + g + j] - mx[j]) for p < n, with
 * the library's bits, and the per-head sums of those in position order.
 * Only where gh_kernels_use_avx512() and gh_expf_avx2_ok(). */
__m256 gh_softmax_exp8_avx512(float *scores, int32_t G, int32_t g, int32_t n, __m256 mx);

#endif
