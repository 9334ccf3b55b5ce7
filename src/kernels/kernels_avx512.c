/* kernels_avx512.c — AVX-512 (F, BW, VL, DQ, VNNI) tiles for batched products:
 * R weight rows x 4 or 8 activation rows for F32, F16, BF16, Q8_0 and Q4_0
 * weights.
 *
 * These tiles give the same bits as the AVX2 tiles in kernels_avx2.c, so
 * gh_matmul may use them for some tiles (B >= 4, four activation rows at a
 * time) and AVX2 ones for the rest without breaking the determinism contract
 * (kernels.h): a 512-bit register holds the 8-lane accumulators of TWO pairs,
 * (r, c) in the low half and (r, c+1) in the high half, and every lane sees
 * exactly the operations, in the order, that the AVX2 tile applies to it:
 *
 *   float types: acc = fma(w[i..i+8], x[i..i+8], acc) per 8-element step — the
 *                weight step is broadcast to both halves, the halves take the
 *                steps of columns c and c+1; then hsum8 per half and the n%8
 *                tail in scalar order, as in AVX2.
 *   Q8_0/Q4_0:   per block, int32 lane i = sum of products of bytes 4i..4i+3.
 *                VNNI's vpdpbusd (u8 x s8, four products per lane, no
 *                intermediate saturation) gives the same integers as AVX2's
 *                maddubs+madd (whose int16 pairs cannot saturate here: |w| <= 128,
 *                |x| <= 127 after the sign move), then fma(d_w*d_x, float(lane), acc).
 *
 * What it buys: per 8-element (or 32-element block) step one 512-bit
 * instruction serves two pairs where AVX2 spends one 256-bit instruction per
 * pair, and Q8_0/Q4_0 need one vpdpbusd instead of maddubs+madd.
 *
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni; nothing
 * here may run before gh_cpu_has_avx512() (types_ref.c checks it once).
 */
#include "kernels/simd_x86.h"

bool gh_cpu_has_avx512(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return gh_cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni");
#else
    return false;
#endif
}

/* Accumulators: P = C/2 column pairs; acc[r][p] holds pairs (r, 2p) and
 * (r, 2p+1), which sit side by side in A (8 floats each), so one 512-bit load
 * or store moves both. */
#define ACC512_INIT(R, P)                                                                      \
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int p = 0; p < P; p++) acc[r][p] =         \
        (mode & GH_TILE_FIRST) ? _mm512_setzero_ps() : _mm512_loadu_ps(A + (size_t)r * as + 16 * p)
#define ACC512_SAVE(R, P)                                                                      \
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int p = 0; p < P; p++)                     \
        _mm512_storeu_ps(A + (size_t)r * as + 16 * p, acc[r][p])

/* [a[0..8] | b[0..8]] */
ALWAYS_INLINE __m512 load_pair_f32(const float *a, const float *b) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(a)), _mm256_loadu_ps(b), 1);
}

ALWAYS_INLINE __m256 half_of(__m512 v, int h) {
    return h ? _mm512_extractf32x8_ps(v, 1) : _mm512_castps512_ps256(v);
}

/* The 8 weights of row r at element i, in both halves, per float type. */
ALWAYS_INLINE __m512 wstep_f32(const float *p) { return _mm512_broadcast_f32x8(_mm256_loadu_ps(p)); }
ALWAYS_INLINE __m512 wstep_f16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p)));
}
ALWAYS_INLINE __m512 wstep_bf16(const uint16_t *p) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

/* One float element of a weight row, as the AVX2 tail reads it. */
ALWAYS_INLINE float welem(int kind, const void *row, int64_t j) {
    switch (kind) {
    case 0: return ((const float *)row)[j];
    case 1: return h2f(((const uint16_t *)row)[j]);
    default: return gh_bf16_to_fp32(((const uint16_t *)row)[j]);
    }
}

/* F32 (kind 0), F16 (1) or BF16 (2) weights x F32 activations, R x 2P. */
ALWAYS_INLINE void tile_float512(const int kind, const int R, const int P, TILE_PARAMS) {
    __m512 acc[4][4];
    ACC512_INIT(R, P);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512 wv[4];
        UNROLL for (int r = 0; r < R; r++)
            wv[r] = kind == 0 ? wstep_f32(WROW(float, r) + i)
                  : kind == 1 ? wstep_f16(WROW(uint16_t, r) + i) : wstep_bf16(WROW(uint16_t, r) + i);
        UNROLL for (int p = 0; p < P; p++) {
            __m512 xv = load_pair_f32(XROW(float, 2 * p) + i, XROW(float, 2 * p + 1) + i);
            UNROLL for (int r = 0; r < R; r++) acc[r][p] = _mm512_fmadd_ps(wv[r], xv, acc[r][p]);
        }
    }
    if (!(mode & GH_TILE_LAST)) { ACC512_SAVE(R, P); return; }
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < 2 * P; c++) {
        float s = hsum8(half_of(acc[r][c / 2], c & 1));
        for (int64_t j = i; j < n; j++) s += welem(kind, WROW(char, r), j) * XROW(float, c)[j];
        y[(size_t)c * ys + r] = s;
    }
}

/* [d_a x8 | d_b x8] */
ALWAYS_INLINE __m512 scale_pair(float a, float b) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(a)), _mm256_set1_ps(b), 1);
}

/* Q8_0 (q4 false) or Q4_0 (q4 true) weights x Q8_0 activations, R x 2P. */
ALWAYS_INLINE void tile_q80_like512(const int R, const int P, const bool q4, TILE_PARAMS) {
    __m512 acc[4][4];
    ACC512_INIT(R, P);
    const int64_t nb = n / 32;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m512i ones8 = _mm512_set1_epi8(1), zero = _mm512_setzero_si512();
    for (int64_t ib = 0; ib < nb; ib++) {
        __m512i wq[4];
        __mmask64 wneg[4];
        __m512 wd[4];
        UNROLL for (int r = 0; r < R; r++) {
            __m256i v;
            if (q4) {
                const blk_q4_0 *bw = WROW(blk_q4_0, r) + ib;
                __m128i t = _mm_loadu_si128((const __m128i *)bw->qs);
                v = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), m4); /* codes 0..15 */
                wd[r] = _mm512_set1_ps(h2f(bw->d));
            } else {
                const blk_q8_0 *bw = WROW(blk_q8_0, r) + ib;
                v = _mm256_loadu_si256((const __m256i *)bw->qs);
                wd[r] = _mm512_set1_ps(h2f(bw->d));
            }
            __m512i v2 = _mm512_broadcast_i64x4(v);
            if (q4) {
                wq[r] = v2;
            } else { /* |w| as u8 (-128 stays 0x80 = 128, as AVX2's sign trick leaves it), w's sign moved onto x */
                wq[r] = _mm512_abs_epi8(v2);
                wneg[r] = _mm512_movepi8_mask(v2);
            }
        }
        UNROLL for (int p = 0; p < P; p++) {
            const blk_q8_0 *b0 = XROW(blk_q8_0, 2 * p) + ib, *b1 = XROW(blk_q8_0, 2 * p + 1) + ib;
            __m512i xq = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)b0->qs)),
                                            _mm256_loadu_si256((const __m256i *)b1->qs), 1);
            __m512 xd = scale_pair(h2f(b0->d), h2f(b1->d));
            if (q4) {
                /* u.x - 8*sum(x) per 4-byte lane, the integers AVX2's q4_0 tile forms */
                __m512i xs8 = _mm512_slli_epi32(_mm512_dpbusd_epi32(zero, ones8, xq), 3);
                UNROLL for (int r = 0; r < R; r++) {
                    __m512i pi = _mm512_sub_epi32(_mm512_dpbusd_epi32(zero, wq[r], xq), xs8);
                    acc[r][p] = _mm512_fmadd_ps(_mm512_mul_ps(wd[r], xd), _mm512_cvtepi32_ps(pi), acc[r][p]);
                }
            } else {
                UNROLL for (int r = 0; r < R; r++) {
                    /* x negated where w < 0 (where w == 0, |w| = 0 makes the product 0 either way) */
                    __m512i xs = _mm512_mask_sub_epi8(xq, wneg[r], zero, xq);
                    __m512i pi = _mm512_dpbusd_epi32(zero, wq[r], xs);
                    acc[r][p] = _mm512_fmadd_ps(_mm512_mul_ps(wd[r], xd), _mm512_cvtepi32_ps(pi), acc[r][p]);
                }
            }
        }
    }
    if (!(mode & GH_TILE_LAST)) { ACC512_SAVE(R, P); return; }
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < 2 * P; c++)
        y[(size_t)c * ys + r] = hsum8(half_of(acc[r][c / 2], c & 1));
}

/* Instances R x C for R in {1, 2, 4} and C in {4, 8} (4x8: 16 accumulators;
 * measured 15-26% faster than 4x4 for Q8_0/Q4_0 at B = 16). */
#define TILE512_INST(NAME, R, C, BODY) \
    static void NAME##_##R##x##C(TILE_PARAMS) { BODY; }
#define TILE512_ROWS(NAME, C, BODY)                                                                  \
    TILE512_INST(NAME, 1, C, BODY(1, C / 2, n, w, wb, x, xb, y, ys, A, as, mode))                    \
    TILE512_INST(NAME, 2, C, BODY(2, C / 2, n, w, wb, x, xb, y, ys, A, as, mode))                    \
    TILE512_INST(NAME, 4, C, BODY(4, C / 2, n, w, wb, x, xb, y, ys, A, as, mode))

#define F32_BODY(R, P, ...) tile_float512(0, R, P, __VA_ARGS__)
#define F16_BODY(R, P, ...) tile_float512(1, R, P, __VA_ARGS__)
#define BF16_BODY(R, P, ...) tile_float512(2, R, P, __VA_ARGS__)
#define Q8_0_BODY(R, P, ...) tile_q80_like512(R, P, false, __VA_ARGS__)
#define Q4_0_BODY(R, P, ...) tile_q80_like512(R, P, true, __VA_ARGS__)
TILE512_ROWS(f32, 4, F32_BODY) TILE512_ROWS(f32, 8, F32_BODY)
TILE512_ROWS(f16, 4, F16_BODY) TILE512_ROWS(f16, 8, F16_BODY)
TILE512_ROWS(bf16, 4, BF16_BODY) TILE512_ROWS(bf16, 8, BF16_BODY)
TILE512_ROWS(q8_0, 4, Q8_0_BODY) TILE512_ROWS(q8_0, 8, Q8_0_BODY)
TILE512_ROWS(q4_0, 4, Q4_0_BODY) TILE512_ROWS(q4_0, 8, Q4_0_BODY)

#define TILE512_TABLE(NAME, C) {NAME##_1x##C, NAME##_2x##C, NAME##_4x##C}
static const gh_tile_fn tiles512[5][2][3] = {
    {TILE512_TABLE(f32, 4), TILE512_TABLE(f32, 8)},
    {TILE512_TABLE(f16, 4), TILE512_TABLE(f16, 8)},
    {TILE512_TABLE(bf16, 4), TILE512_TABLE(bf16, 8)},
    {TILE512_TABLE(q8_0, 4), TILE512_TABLE(q8_0, 8)},
    {TILE512_TABLE(q4_0, 4), TILE512_TABLE(q4_0, 8)},
};

gh_tile_fn gh_tile_avx512(gh_type t, int R, int C) {
    int ri = R == 1 ? 0 : R == 2 ? 1 : R == 4 ? 2 : -1;
    int ci = C == 4 ? 0 : C == 8 ? 1 : -1;
    if (ri < 0 || ci < 0) return NULL;
    switch (t) {
    case GH_TYPE_F32: return tiles512[0][ci][ri];
    case GH_TYPE_F16: return tiles512[1][ci][ri];
    case GH_TYPE_BF16: return tiles512[2][ci][ri];
    case GH_TYPE_Q8_0: return tiles512[3][ci][ri];
    case GH_TYPE_Q4_0: return tiles512[4][ci][ri];
    default: return NULL;
    }
}
