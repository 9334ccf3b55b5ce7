/* kernels_avx512.c — AVX-512 (F, BW, VL, DQ, VNNI) tiles for batched products:
 * R weight rows x 4 or 8 activation rows for Q8_0 and Q4_0 weights, the
 * pair-packed tiles for F32 weights (gh_ptile_fn) and the row-pair tiles for
 * F16 and BF16 weights (gh_rptile_fn); and 4 x 1 tiles for batch-1 decode of
 * Q8_0, Q4_0, Q4_K and Q6_K.
 *
 * These tiles give the same bits as the AVX2 tiles in kernels_avx2.c, so
 * gh_matmul may use them for some tiles (B >= 4) and AVX2 ones for the rest
 * without breaking the determinism contract (kernels.h):
 *
 *   float types: a 512-bit register holds the 8-lane accumulators of TWO
 *                pairs, (r, c) in the low half and (r, c+1) in the high half
 *                (F32), or (r, c) and (r+1, c) (F16, BF16),
 *                and every lane sees exactly the AVX2 tile's operations:
 *                acc = fma(w[i..i+8], x[i..i+8], acc) per 8-element step — F32:
 *                the weight step is broadcast to both halves, the halves take
 *                the steps of columns c and c+1; F16/BF16: the halves take
 *                the converted steps of rows r and r+1, the column's step is
 *                broadcast; then hsum8 per half and the n%8 tail in scalar
 *                order, as in AVX2.
 *   Q8_0/Q4_0:   the reference's order, as the AVX2 tiles: per block an exact
 *                int32 dot per pair, then sum = sum + (d_w*d_x)*(float)isum
 *                (mul, mul, add) with one float lane per pair. The integer
 *                lanes come from VNNI's vpdpbusd (u8 x s8, four products per
 *                lane, exact int32), a zmm transpose-and-add tree makes them
 *                16 pair sums, and one convert/mul/mul/add serves 16 pairs.
 *
 * What it buys: per 8-element step one 512-bit instruction serves two pairs
 * where AVX2 spends one 256-bit instruction per pair; for Q8_0/Q4_0, one
 * vpdpbusd per two pairs' block instead of maddubs+madd per pair, and a
 * shorter reduction tree per pair than AVX2's hadd tree.
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

ALWAYS_INLINE __m256 half_of(__m512 v, int h) {
    return h ? _mm512_extractf32x8_ps(v, 1) : _mm512_castps512_ps256(v);
}

/* One element of an F16 (kind 1) or BF16 (kind 2) weight row, as the AVX2
 * tail reads it. */
ALWAYS_INLINE float welem16(int kind, const uint16_t *row, int64_t j) {
    return kind == 1 ? h2f(row[j]) : gh_bf16_to_fp32(row[j]);
}


/* ---- Pair-packed float tiles (gh_ptile_fn, kernels_internal.h) ----
 * The activations come pair-packed (gh_matmul packs them once per product):
 * step s of pair p is the 16 floats [x[2p][8s..8s+8) | x[2p+1][8s..8s+8)],
 * one aligned 64-byte load, where reading two activation rows in place costs
 * two loads and an insert whose port-5 uop competes with the FMAs (the R x 4
 * and R x 8 float tiles this file had before, which these replaced). Whole rows only (no k-chunks), so no accumulator buffer either.
 * Per step: R weight steps (a broadcast load each), P pair loads, R*P FMAs.
 * (F16/BF16 take the row-pair tiles below, which convert once for two rows.) `nc` (<= 2P) columns are stored; a
 * padding column (odd B) is computed and dropped.
 * The weight rows are also prefetched GH_PTILE_AHEAD bytes ahead: R rows read
 * side by side with the FMAs in between kept the hardware prefetcher from
 * reaching the ~14 GB/s one core can read (measured, 2048 x 5632 at B = 16,
 * 2 threads: f32 2.54 -> 2.28 ms, f16 1.92 -> 1.66-1.75 ms with 512-1024;
 * 4096 was no better than none). */
ALWAYS_INLINE void ptile_f32_512(const int R, const int P, int64_t n, const void *w, size_t wb, const float *xp,
                                 size_t ps, const void *x, size_t xb, float *y, size_t ys, int nc, const char *pf,
                                 int npf) {
    __m512 acc[8][8];
    UNROLL8 for (int r = 0; r < R; r++) UNROLL8 for (int p = 0; p < P; p++) acc[r][p] = _mm512_setzero_ps();
    const int64_t n8 = n / 8;
    for (int64_t s = 0; s < n8; s++) {
        __m512 wv[8];
        if (((32 * s) & 63) == 0) /* a line per prefetched row */
            for (int r = 0; r < npf; r++) __builtin_prefetch(pf + (size_t)r * wb + 32 * s, 0, 3);
        UNROLL8 for (int r = 0; r < R; r++) wv[r] = _mm512_broadcast_f32x8(_mm256_loadu_ps(WROW(float, r) + 8 * s));
        UNROLL8 for (int p = 0; p < P; p++) {
            const __m512 xv = _mm512_load_ps(xp + (size_t)p * ps + 16 * s);
            UNROLL8 for (int r = 0; r < R; r++) acc[r][p] = _mm512_fmadd_ps(wv[r], xv, acc[r][p]);
        }
    }
    for (int r = 0; r < R; r++) for (int c = 0; c < nc; c++) {
        float s = hsum8(half_of(acc[r][c / 2], c & 1));
        for (int64_t j = 8 * n8; j < n; j++) s += WROW(float, r)[j] * XROW(float, c)[j];
        y[(size_t)c * ys + r] = s;
    }
}

#define PTILE_INST(R, P)                                                                                      \
    static void f32_p##R##x##P(int64_t n, const void *w, size_t wb, const float *xp, size_t ps, const void *x,  \
                               size_t xb, float *y, size_t ys, int nc, const char *pf, int npf) {             \
        ptile_f32_512(R, P, n, w, wb, xp, ps, x, xb, y, ys, nc, pf, npf);                                     \
    }
#define PTILE_ROWS(R) PTILE_INST(R, 1) PTILE_INST(R, 2) PTILE_INST(R, 4)
PTILE_ROWS(1) PTILE_ROWS(2) PTILE_ROWS(3) PTILE_ROWS(4)
#define PTILE_ROW(R) {f32_p##R##x1, f32_p##R##x2, f32_p##R##x4}
static const gh_ptile_fn ptiles512[4][3] = {PTILE_ROW(1), PTILE_ROW(2), PTILE_ROW(3), PTILE_ROW(4)};

gh_ptile_fn gh_ptile_avx512(gh_type t, int R, int P) {
    int ri = R >= 1 && R <= 4 ? R - 1 : -1;
    int pi = P == 1 ? 0 : P == 2 ? 1 : P == 4 ? 2 : -1;
    if (ri < 0 || pi < 0 || t != GH_TYPE_F32) return NULL;
    return ptiles512[ri][pi];
}

/* ---- Row-pair tiles for 16-bit float weights (gh_rptile_fn) ----
 * F16 and BF16 steps pay a conversion (two uops next to the FMAs on the same
 * two ports) before the FMAs. In a pair-packed tile each row's 8-element step
 * is converted on its own and broadcast to both halves, 2 uops per 4 FMAs;
 * here one conversion serves two rows, [w[2q][8s..8s+8) | w[2q+1][8s..8s+8)],
 * the column's step is broadcast to both halves by a load-only broadcast, and
 * an accumulator holds (2q, c) in its low half and (2q+1, c) in its high
 * half: every lane still sees the AVX2 tile's operations (acc = fma(w, x,
 * acc) per step, hsum8, the scalar tail). With 3 row pairs x 8 columns that
 * is 9 uops per 24 FMAs instead of 8 per 16. Measured (2048 x 5616 and
 * 5632 x 2040 f16, B = 16, 2 threads, against the 4 x 4-pair tile): 8-12 %
 * faster; 2 x 8, 2 x 12, 4 x 6, 3 x 6 and 2 x 6 were slower than 3 x 8.
 * kind 1: F16 rows, 2: BF16 rows, 3: F16 regrouped in row pairs
 * (GH_TYPE_F16_R2, repack.c; n % 8 == 0): a pair's step is one 32-byte load
 * at pair q's bytes (rows 2q and 2q + 1 of the others) + 32 s, instead of
 * two 16-byte loads and an insert. */
ALWAYS_INLINE void rptile16(const int kind, const int RP, const int C, int64_t n, const void *w, size_t wb, int nr,
                            const float *x, size_t xs, float *y, size_t ys, const char *pf, int npf) {
    const uint16_t *row[6];
    const int pmask = kind == 3 ? ~1 : ~0; /* regrouped: both rows of a pair start at its bytes */
    UNROLL8 for (int r = 0; r < 2 * RP; r++) row[r] = WROW(uint16_t, (r < nr ? r : nr - 1) & pmask);
    __m512 acc[3][8];
    UNROLL8 for (int q = 0; q < RP; q++) UNROLL8 for (int c = 0; c < C; c++) acc[q][c] = _mm512_setzero_ps();
    const int64_t n8 = n / 8;
    for (int64_t s = 0; s < n8; s++) {
        if ((s & 3) == 0) { /* a line per prefetched row (row pairs: the pair's two lines) */
            if (kind == 3) /* npf row pairs, 2 wb apart: their two lines */
                for (int r = 0; r < npf; r++) {
                    __builtin_prefetch(pf + (size_t)r * 2 * wb + 32 * s, 0, 3);
                    __builtin_prefetch(pf + (size_t)r * 2 * wb + 32 * s + 64, 0, 3);
                }
            else
                for (int r = 0; r < npf; r++) __builtin_prefetch(pf + (size_t)r * wb + 16 * s, 0, 3);
        }
        __m512 wv[3];
        UNROLL8 for (int q = 0; q < RP; q++) {
            const __m256i h =
                kind == 3 ? _mm256_loadu_si256((const __m256i *)(row[2 * q] + 16 * s))
                          : _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(row[2 * q] + 8 * s))),
                                                    _mm_loadu_si128((const __m128i *)(row[2 * q + 1] + 8 * s)), 1);
            wv[q] = kind != 2 ? _mm512_cvtph_ps(h) : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
        }
        UNROLL8 for (int c = 0; c < C; c++) {
            const __m512 xv = _mm512_broadcast_f32x8(_mm256_loadu_ps(x + (size_t)c * xs + 8 * s));
            UNROLL8 for (int q = 0; q < RP; q++) acc[q][c] = _mm512_fmadd_ps(wv[q], xv, acc[q][c]);
        }
    }
    for (int q = 0; q < RP; q++)
        for (int c = 0; c < C; c++)
            for (int h = 0; h < 2 && 2 * q + h < nr; h++) {
                float sum = hsum8(half_of(acc[q][c], h));
                if (kind != 3) /* (regrouped rows have no tail) */
                    for (int64_t j = 8 * n8; j < n; j++) sum += welem16(kind, row[2 * q + h], j) * x[(size_t)c * xs + (size_t)j];
                y[(size_t)c * ys + (size_t)(2 * q + h)] = sum;
            }
}

#define RPTILE_INST(NAME, KIND, RP, C)                                                                              \
    static void NAME##_rp##RP##x##C(int64_t n, const void *w, size_t wb, int nr, const float *x, size_t xs, float *y, \
                                    size_t ys, const char *pf, int npf) {                                           \
        rptile16(KIND, RP, C, n, w, wb, nr, x, xs, y, ys, pf, npf);                                                \
    }
#define RPTILE_ROWS(NAME, KIND, RP)                                                                                \
    RPTILE_INST(NAME, KIND, RP, 1) RPTILE_INST(NAME, KIND, RP, 2) RPTILE_INST(NAME, KIND, RP, 3)                   \
    RPTILE_INST(NAME, KIND, RP, 4) RPTILE_INST(NAME, KIND, RP, 5) RPTILE_INST(NAME, KIND, RP, 6)                   \
    RPTILE_INST(NAME, KIND, RP, 7) RPTILE_INST(NAME, KIND, RP, 8)
RPTILE_ROWS(f16, 1, 1) RPTILE_ROWS(f16, 1, 2) RPTILE_ROWS(f16, 1, 3)
RPTILE_ROWS(bf16, 2, 1) RPTILE_ROWS(bf16, 2, 2) RPTILE_ROWS(bf16, 2, 3)
RPTILE_ROWS(f16r2, 3, 1) RPTILE_ROWS(f16r2, 3, 2) RPTILE_ROWS(f16r2, 3, 3)
#define RPTILE_ROW(NAME, RP)                                                                                        \
    {NAME##_rp##RP##x1, NAME##_rp##RP##x2, NAME##_rp##RP##x3, NAME##_rp##RP##x4,                                    \
     NAME##_rp##RP##x5, NAME##_rp##RP##x6, NAME##_rp##RP##x7, NAME##_rp##RP##x8}
static const gh_rptile_fn rptiles512[3][3][8] = {{RPTILE_ROW(f16, 1), RPTILE_ROW(f16, 2), RPTILE_ROW(f16, 3)},
                                                 {RPTILE_ROW(bf16, 1), RPTILE_ROW(bf16, 2), RPTILE_ROW(bf16, 3)},
                                                 {RPTILE_ROW(f16r2, 1), RPTILE_ROW(f16r2, 2), RPTILE_ROW(f16r2, 3)}};

gh_rptile_fn gh_rptile_avx512(gh_type t, int RP, int C) {
    const int ti = t == GH_TYPE_F16 ? 0 : t == GH_TYPE_BF16 ? 1 : t == GH_TYPE_F16_R2 ? 2 : -1;
    if (ti < 0 || RP < 1 || RP > GH_RPTILE_RP_MAX || C < 1 || C > GH_RPTILE_C_MAX) return NULL;
    return rptiles512[ti][RP - 1][C - 1];
}



/* Lane sums of 8 zmm of int32, z[j] holding pair j's block lanes in its low
 * 256 bits and pair 8+j's in its high 256 (see tile_q80_like512): lane
 * 4*(2*(j/4) + h) + j%4 of the result = the sum of z[j]'s 8 lanes of half h.
 * A transpose-and-add tree; integer adds, exact, so the order is free. */
ALWAYS_INLINE __m512i lane_sums16(const __m512i *z) {
    __m512i t[4], u[2];
    /* per 128-bit lane: [a0 b0 a1 b1] + [a2 b2 a3 b3] */
    UNROLL for (int i = 0; i < 4; i++)
        t[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(z[2 * i], z[2 * i + 1]),
                                _mm512_unpackhi_epi32(z[2 * i], z[2 * i + 1]));
    /* per 128-bit lane k: [sum of z[4i+m]'s 4 lanes in lane k, m = 0..3] */
    UNROLL for (int i = 0; i < 2; i++)
        u[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2 * i], t[2 * i + 1]),
                                _mm512_unpackhi_epi64(t[2 * i], t[2 * i + 1]));
    /* 128-bit lanes 0+1 are the low 256 bits of each z, 2+3 the high */
    return _mm512_add_epi32(_mm512_shuffle_i32x4(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i32x4(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* Q8_0 (q4 false) or Q4_0 (q4 true) weights x Q8_0 activations, R x 2P, with
 * the reference's semantics (as the AVX2 tile): per block, an exact int32 dot
 * per pair, then sum = sum + (d_w*d_x)*(float)isum in one float lane per pair.
 *   ints:  z[j], j = r + R*p, holds pairs (r, 2p) | (r, 2p+1) as 8 + 8 int32
 *          lanes of 4-byte partial dots (vpdpbusd: u8 x s8, exact int32);
 *          Q8_0 as (x+128).w - 128*sum(w), exact for every code (the
 *          -128*sum(w) term seeds the accumulator), Q4_0 as u.x - 8*sum(x).
 *   lanes: lane_sums16 turns 8 z into the 16 pair sums, one per lane; tiles
 *          with 2 or 4 z pad with zeros and keep the low 8 lanes.
 * The lane of pair j (half h) is L(j, h) = 4*(2*(j/4) + h) + j%4 within its
 * group of 8 z; the scale vector is permuted into the same order. */
ALWAYS_INLINE void tile_q80_like512(const int R, const int P, const bool q4, TILE_PARAMS) {
    const int C = 2 * P, Z = R * P;       /* columns, int vectors */
    const int NG = Z <= 8 ? 1 : 2;         /* groups of 8 z = float vectors */
    /* sc = the block's scales as floats: lanes 0..3 d_w of rows, 4..11 d_x of columns.
     * Per output lane: which row / column it belongs to. */
#define Q80_ZJ(g, L) (8 * (g) + 4 * ((L) / 8) + (L) % 4)
#define Q80_OK(g, L) (Q80_ZJ(g, L) < Z)
#define Q80_WI(g, L) (Q80_OK(g, L) ? Q80_ZJ(g, L) % R : 0)
#define Q80_XI(g, L) (Q80_OK(g, L) ? 4 + 2 * (Q80_ZJ(g, L) / R) + ((L) / 4) % 2 : 4)
#define Q80_IDX(F, g)                                                                                     \
    _mm512_setr_epi32(F(g, 0), F(g, 1), F(g, 2), F(g, 3), F(g, 4), F(g, 5), F(g, 6), F(g, 7), F(g, 8),    \
                      F(g, 9), F(g, 10), F(g, 11), F(g, 12), F(g, 13), F(g, 14), F(g, 15))
    const __m512i widx[2] = {Q80_IDX(Q80_WI, 0), Q80_IDX(Q80_WI, 1)};
    const __m512i xidx[2] = {Q80_IDX(Q80_XI, 0), Q80_IDX(Q80_XI, 1)};
    float a0[32] = {0};
    if (!(mode & GH_TILE_FIRST))
        UNROLL for (int g = 0; g < NG; g++) for (int L = 0; L < 16; L++) if (Q80_OK(g, L)) {
            const int j = Q80_ZJ(g, L), r = j % R, c = 2 * (j / R) + (L / 4) % 2;
            a0[16 * g + L] = A[(size_t)r * as + 8 * c];
        }
    __m512 acc[2] = {_mm512_loadu_ps(a0), _mm512_loadu_ps(a0 + 16)};
    const int64_t nb = n / 32;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m512i zero = _mm512_setzero_si512(), bias = _mm512_set1_epi8((char)0x80);
    const __m512i eights = _mm512_set1_epi8(8);
    for (int64_t ib = 0; ib < nb; ib++) {
        __m512i wq[4], wseed[4], xv[4], xseed[4];
        UNROLL for (int r = 0; r < R; r++) {
            if (q4) {
                __m128i t = _mm_loadu_si128((const __m128i *)WROW(blk_q4_0, r)[ib].qs);
                /* codes 0..15 in both halves */
                wq[r] = _mm512_broadcast_i64x4(_mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), m4));
            } else {
                wq[r] = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)WROW(blk_q8_0, r)[ib].qs));
                /* -128 * (4-byte sums of w) */
                wseed[r] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, bias, wq[r]));
            }
        }
        UNROLL for (int p = 0; p < P; p++) {
            __m512i xq = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)XROW(blk_q8_0, 2 * p)[ib].qs)),
                _mm256_loadu_si256((const __m256i *)XROW(blk_q8_0, 2 * p + 1)[ib].qs), 1);
            if (q4) { /* -8 * (4-byte sums of x) */
                xv[p] = xq;
                xseed[p] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, eights, xq));
            } else { /* x + 128 as unsigned bytes */
                xv[p] = _mm512_xor_si512(xq, bias);
            }
        }
#define Q80_WD(r) ((r) < R ? (short)(q4 ? WROW(blk_q4_0, r)[ib].d : WROW(blk_q8_0, r)[ib].d) : 0)
#define Q80_XD(c) ((c) < C ? (short)XROW(blk_q8_0, c)[ib].d : 0)
        const __m512 sc = _mm512_cvtph_ps(_mm256_setr_epi16(
            Q80_WD(0), Q80_WD(1), Q80_WD(2), Q80_WD(3), Q80_XD(0), Q80_XD(1), Q80_XD(2), Q80_XD(3), Q80_XD(4),
            Q80_XD(5), Q80_XD(6), Q80_XD(7), 0, 0, 0, 0));
#undef Q80_WD
#undef Q80_XD
        UNROLL for (int g = 0; g < NG; g++) {
            __m512i z[8];
            UNROLL8 for (int jj = 0; jj < 8; jj++) {
                const int j = 8 * g + jj, r = j % R, p = j / R;
                if (j >= Z) z[jj] = zero;
                else if (q4) z[jj] = _mm512_dpbusd_epi32(xseed[p], wq[r], xv[p]);
                else z[jj] = _mm512_dpbusd_epi32(wseed[r], xv[p], wq[r]);
            }
            const __m512 s = _mm512_mul_ps(_mm512_permutexvar_ps(widx[g], sc), _mm512_permutexvar_ps(xidx[g], sc));
            acc[g] = _mm512_add_ps(acc[g], _mm512_mul_ps(s, _mm512_cvtepi32_ps(lane_sums16(z))));
        }
    }
    UNROLL for (int g = 0; g < NG; g++) _mm512_storeu_ps(a0 + 16 * g, acc[g]);
    UNROLL for (int g = 0; g < NG; g++) for (int L = 0; L < 16; L++) if (Q80_OK(g, L)) {
        const int j = Q80_ZJ(g, L), r = j % R, c = 2 * (j / R) + (L / 4) % 2;
        if (mode & GH_TILE_LAST) y[(size_t)c * ys + r] = a0[16 * g + L];
        else A[(size_t)r * as + 8 * c] = a0[16 * g + L];
    }
#undef Q80_ZJ
#undef Q80_OK
#undef Q80_WI
#undef Q80_XI
#undef Q80_IDX
}

/* Instances R x C for R in {1, 2, 4} and C in {4, 8} (4x8: 16 accumulators;
 * measured 15-26% faster than 4x4 for Q8_0/Q4_0 at B = 16). */
#define TILE512_INST(NAME, R, C, BODY) \
    static void NAME##_##R##x##C(TILE_PARAMS) { BODY; }
#define TILE512_ROWS(NAME, C, BODY)                                                                  \
    TILE512_INST(NAME, 1, C, BODY(1, C / 2, n, w, wb, x, xb, y, ys, A, as, mode))                    \
    TILE512_INST(NAME, 2, C, BODY(2, C / 2, n, w, wb, x, xb, y, ys, A, as, mode))                    \
    TILE512_INST(NAME, 4, C, BODY(4, C / 2, n, w, wb, x, xb, y, ys, A, as, mode))

#define Q8_0_BODY(R, P, ...) tile_q80_like512(R, P, false, __VA_ARGS__)
#define Q4_0_BODY(R, P, ...) tile_q80_like512(R, P, true, __VA_ARGS__)
TILE512_ROWS(q8_0, 4, Q8_0_BODY) TILE512_ROWS(q8_0, 8, Q8_0_BODY)
TILE512_ROWS(q4_0, 4, Q4_0_BODY) TILE512_ROWS(q4_0, 8, Q4_0_BODY)

#define TILE512_TABLE(NAME, C) {NAME##_1x##C, NAME##_2x##C, NAME##_4x##C}
static const gh_tile_fn tiles512[2][2][3] = {
    {TILE512_TABLE(q8_0, 4), TILE512_TABLE(q8_0, 8)},
    {TILE512_TABLE(q4_0, 4), TILE512_TABLE(q4_0, 8)},
};

/* The four row sums of a 4 x 1 tile: 0 on a row's first k-chunk, else
 * A[r*as]; at the end to y on the row's last k-chunk, else back to A. */
ALWAYS_INLINE __m128 r1_sums_load(int mode, const float *A, size_t as) {
    float a0[4] = {0, 0, 0, 0};
    if (!(mode & GH_TILE_FIRST))
        UNROLL for (int r = 0; r < 4; r++) a0[r] = A[(size_t)r * as];
    return _mm_loadu_ps(a0);
}
ALWAYS_INLINE void r1_sums_store(__m128 acc, int mode, float *y, float *A, size_t as) {
    float a0[4];
    _mm_storeu_ps(a0, acc);
    UNROLL for (int r = 0; r < 4; r++) {
        if (mode & GH_TILE_LAST) y[r] = a0[r];
        else A[(size_t)r * as] = a0[r];
    }
}

/* ---- Q8_0/Q4_0 R x 1 tiles: batch-1 decode ----
 * Batch-1 decode with the AVX2 4 x 1 tile measured ~0.5 of one core's read
 * bandwidth per core and scaled with the thread count: compute-bound in the
 * tile. Here one 512-bit register holds two consecutive blocks of a row
 * (VNNI's vpdpbusd: 4 products a lane, exact), one transpose-and-add tree
 * gives the 8 block sums of 4 rows, and the float step runs on both blocks'
 * 4 rows at once: d_w*d_x and *(float)isum per lane, then the adds into the
 * row sums block ib before block ib + 1 — the reference's operations in its
 * order, so the AVX2 tiles' bits. Q4_0 as u.x - 8*sum(x), Q8_0 as
 * (x+128).w - 128*sum(w), as in tile_q80_like512. */
ALWAYS_INLINE void tile_q80_r1_512(const bool q4, TILE_PARAMS) {
    enum { R = 4 };
    (void)ys; /* one column */
    __m128 acc = r1_sums_load(mode, A, as);
    const size_t bsize = q4 ? sizeof(blk_q4_0) : sizeof(blk_q8_0);
    const blk_q8_0 *xr = XROW(blk_q8_0, 0);
    const int64_t nb = n / 32;
    const __m512i zero = _mm512_setzero_si512(), eights = _mm512_set1_epi8(8), bias = _mm512_set1_epi8((char)0x80);
    const __m512i m4 = _mm512_set1_epi8(0x0F), nib_shift = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4);
    /* scale offsets: lane k = row k % 4 of block k / 4 (of the pair) */
    const __m256i soff = _mm256_setr_epi32(0, (int)wb, (int)(2 * wb), (int)(3 * wb), (int)bsize, (int)(wb + bsize),
                                           (int)(2 * wb + bsize), (int)(3 * wb + bsize));
    for (int64_t ib = 0; ib < nb; ib += 2) {
        const int64_t i1 = ib + 1 < nb ? ib + 1 : ib; /* an odd last block: itself again, not added */
        PREFETCH_NEXT(R, 1, (size_t)ib * bsize);
        if (!q4) PREFETCH_NEXT(R, 1, (size_t)ib * bsize + 64);
        const __m512i xq = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)xr[ib].qs)),
                                              _mm256_loadu_si256((const __m256i *)xr[i1].qs), 1);
        __m512i z[4];
        if (q4) {
            const __m512i xseed = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, eights, xq)); /* -8 * 4-byte sums */
            UNROLL for (int r = 0; r < R; r++) {
                const __m256i t = _mm256_loadu2_m128i((const __m128i *)WROW(blk_q4_0, r)[i1].qs,
                                                      (const __m128i *)WROW(blk_q4_0, r)[ib].qs);
                /* [qs_ib, qs_ib, qs_i1, qs_i1] -> low nibbles, high nibbles of each block */
                const __m512i u = _mm512_shuffle_i64x2(_mm512_castsi256_si512(t), _mm512_castsi256_si512(t), _MM_SHUFFLE(1, 1, 0, 0));
                const __m512i q = _mm512_and_si512(_mm512_srlv_epi64(u, nib_shift), m4);
                z[r] = _mm512_dpbusd_epi32(xseed, q, xq);
            }
        } else {
            const __m512i xv = _mm512_xor_si512(xq, bias); /* x + 128 as unsigned bytes */
            UNROLL for (int r = 0; r < R; r++) {
                const __m512i wq = _mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)WROW(blk_q8_0, r)[ib].qs)),
                    _mm256_loadu_si256((const __m256i *)WROW(blk_q8_0, r)[i1].qs), 1);
                const __m512i wseed = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, bias, wq)); /* -128 * sums */
                z[r] = _mm512_dpbusd_epi32(wseed, xv, wq);
            }
        }
        /* per 128-bit lane k: [lane sum of z[0..3] over lane k]; lanes 0+1 are block ib, 2+3 block i1 */
        const __m512i t01 = _mm512_add_epi32(_mm512_unpacklo_epi32(z[0], z[1]), _mm512_unpackhi_epi32(z[0], z[1]));
        const __m512i t23 = _mm512_add_epi32(_mm512_unpacklo_epi32(z[2], z[3]), _mm512_unpackhi_epi32(z[2], z[3]));
        const __m512i u = _mm512_add_epi32(_mm512_unpacklo_epi64(t01, t23), _mm512_unpackhi_epi64(t01, t23));
        const __m512i v = _mm512_add_epi32(u, _mm512_shuffle_i32x4(u, u, _MM_SHUFFLE(2, 3, 0, 1)));
        /* [isum rows 0-3 of ib | of i1] */
        const __m256i is = _mm512_castsi512_si256(_mm512_shuffle_i32x4(v, v, _MM_SHUFFLE(2, 0, 2, 0)));
        /* an odd last block gathers its own scales twice (no read past the row) */
        const __m256i off = i1 != ib ? soff : _mm256_permutevar8x32_epi32(soff, _mm256_setr_epi32(0, 1, 2, 3, 0, 1, 2, 3));
        const __m256 dw = _mm256_cvtph_ps(
            _mm256_cvtepi32_epi16(_mm256_i32gather_epi32((const int *)(WROW(char, 0) + (size_t)ib * bsize), off, 1)));
        const __m256 dx = _mm256_set_m128(_mm_set1_ps(h2f(xr[i1].d)), _mm_set1_ps(h2f(xr[ib].d)));
        const __m256 t = _mm256_mul_ps(_mm256_mul_ps(dw, dx), _mm256_cvtepi32_ps(is));
        acc = _mm_add_ps(acc, _mm256_castps256_ps128(t));
        if (i1 != ib) acc = _mm_add_ps(acc, _mm256_extractf128_ps(t, 1));
    }
    r1_sums_store(acc, mode, y, A, as);
}
static void q8_0_4x1_512(TILE_PARAMS) { tile_q80_r1_512(false, n, w, wb, x, xb, y, ys, A, as, mode); }
static void q4_0_4x1_512(TILE_PARAMS) { tile_q80_r1_512(true, n, w, wb, x, xb, y, ys, A, as, mode); }


/* Batch 1, Q4_K: tile_q4_K(4, 1) of kernels_avx2.c with two weight rows a
 * 512-bit register (the activation's 32 bytes broadcast to both halves):
 * the same exact int32 isum and imin per row, formed by the same
 * maddubs/madd steps on half the instructions, then the AVX2 tile's float
 * step to the letter: s = [d_r*xd | dmin_r*xd], t = s*(float)[isum | imin],
 * sum = sum + (t_lo - t_hi). */
ALWAYS_INLINE void tile_q4k_r1_512(TILE_PARAMS) {
    enum { R = 4 };
    (void)ys; /* one column */
    __m128 acc4 = r1_sums_load(mode, A, as);
    const blk_q8_K *xr = XROW(blk_q8_K, 0);
    const int64_t nb = n / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    /* byte-shuffle patterns broadcasting int16 scale j to its half's 16 lanes */
    const __m512i bc0 = _mm512_set1_epi16(0x0100), bc_step = _mm512_set1_epi16(0x0202);
    /* lane_sums16's lanes [is0 is2 im0 im2 is1 is3 im1 im3] -> [is0..3 | im0..3] */
    const __m512i order = _mm512_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int64_t ib = 0; ib < nb; ib++) {
        for (int off = 0; off < 3 * 64; off += 64) PREFETCH_NEXT(R, 1, ib * sizeof(blk_q4_K) + off);
        /* per row pair h (rows 2h, 2h + 1): int16 scales, each row's 8 in
         * both 128-bit lanes of its half; mins paired with the bsums */
        __m512i sc16[2], mins[2], iv[2], mv[2];
        UNROLL for (int h = 0; h < 2; h++) {
            __m128i sm[2], mm[2];
            UNROLL for (int e = 0; e < 2; e++) {
                uint32_t u[4];
                q4k_unpack_scales(WROW(blk_q4_K, 2 * h + e)[ib].scales, u);
                sm[e] = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)u[1], (int)u[0]));
                mm[e] = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)u[3], (int)u[2]));
            }
            sc16[h] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_broadcastsi128_si256(sm[0])),
                                         _mm256_broadcastsi128_si256(sm[1]), 1);
            mins[h] = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_set_m128i(_mm_unpackhi_epi16(mm[0], mm[0]), _mm_unpacklo_epi16(mm[0], mm[0]))),
                _mm256_set_m128i(_mm_unpackhi_epi16(mm[1], mm[1]), _mm_unpacklo_epi16(mm[1], mm[1])), 1);
            iv[h] = _mm512_setzero_si512();
        }
        __m512i pat = bc0;
        for (int k = 0; k < 4; k++) {
            const __m512i pat1 = _mm512_add_epi8(pat, bc_step);
            const __m512i x0 = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(xr[ib].qs + 64 * k)));
            const __m512i x1 = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(xr[ib].qs + 64 * k + 32)));
            UNROLL for (int h = 0; h < 2; h++) {
                const __m512i qv = _mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(WROW(blk_q4_K, 2 * h)[ib].qs + 32 * k))),
                    _mm256_loadu_si256((const __m256i *)(WROW(blk_q4_K, 2 * h + 1)[ib].qs + 32 * k)), 1);
                const __m512i lo = _mm512_and_si512(qv, m4);
                const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(qv, 4), m4);
                const __m512i p0 = _mm512_madd_epi16(_mm512_maddubs_epi16(lo, x0), _mm512_shuffle_epi8(sc16[h], pat));
                const __m512i p1 = _mm512_madd_epi16(_mm512_maddubs_epi16(hi, x1), _mm512_shuffle_epi8(sc16[h], pat1));
                iv[h] = _mm512_add_epi32(iv[h], _mm512_add_epi32(p0, p1));
            }
            pat = _mm512_add_epi8(pat1, bc_step);
        }
        const __m512i bs = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)xr[ib].bsums));
        UNROLL for (int h = 0; h < 2; h++) mv[h] = _mm512_madd_epi16(bs, mins[h]);
        const __m512i z[8] = {iv[0], iv[1], mv[0], mv[1], _mm512_setzero_si512(), _mm512_setzero_si512(),
                              _mm512_setzero_si512(), _mm512_setzero_si512()};
        const __m256i sums = _mm512_castsi512_si256(_mm512_permutexvar_epi32(order, lane_sums16(z)));
#define K4_WD(r) ((short)WROW(blk_q4_K, r)[ib].d)
#define K4_WM(r) ((short)WROW(blk_q4_K, r)[ib].dmin)
        const __m256 wsc = _mm256_cvtph_ps(
            _mm_setr_epi16(K4_WD(0), K4_WD(1), K4_WD(2), K4_WD(3), K4_WM(0), K4_WM(1), K4_WM(2), K4_WM(3)));
#undef K4_WD
#undef K4_WM
        const __m256 s = _mm256_mul_ps(wsc, _mm256_set1_ps(xr[ib].d));
        const __m256 t = _mm256_mul_ps(s, _mm256_cvtepi32_ps(sums));
        acc4 = _mm_add_ps(acc4, _mm_sub_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1)));
    }
    r1_sums_store(acc4, mode, y, A, as);
}
static void q4_K_4x1_512(TILE_PARAMS) { tile_q4k_r1_512(n, w, wb, x, xb, y, ys, A, as, mode); }

/* Batch 1, Q6_K: tile_q6_K(4, 1) of kernels_avx2.c the same way: two rows a
 * register, the exact isum per row (-32 * sum_j sc_j * bsums_j plus the
 * scaled code products), then its float step, sum = sum + (d_r*xd)*isum. */
ALWAYS_INLINE void tile_q6k_r1_512(TILE_PARAMS) {
    enum { R = 4 };
    (void)ys; /* one column */
    __m128 acc4 = r1_sums_load(mode, A, as);
    const blk_q8_K *xr = XROW(blk_q8_K, 0);
    const int64_t nb = n / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x03);
    const __m512i m2h = _mm512_set1_epi8(0x30), m2m = _mm512_set1_epi8(0x0C);
    /* per 256-bit half: int16 lane 0 (bytes 0,1) in its low 128 bits, lane 1 (bytes 2,3) in its high */
    const __m512i bc0 = _mm512_broadcast_i64x4(_mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
                                                                2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3));
    const __m512i order = _mm512_setr_epi32(0, 4, 1, 5, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
#define Q6ROWS(P, FIELD, OFF)                                                                                   \
    _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(WROW(blk_q6_K, 2 * (P))[ib].FIELD + (OFF)))), \
                       _mm256_loadu_si256((const __m256i *)(WROW(blk_q6_K, 2 * (P) + 1)[ib].FIELD + (OFF))), 1)
    for (int64_t ib = 0; ib < nb; ib++) {
        for (int off = 0; off < (int)sizeof(blk_q6_K); off += 64) PREFETCH_NEXT(R, 1, ib * sizeof(blk_q6_K) + off);
        __m512i iv[2];
        const __m512i bs = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)xr[ib].bsums));
        UNROLL for (int p = 0; p < 2; p++) {
            const __m512i sc16 = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)WROW(blk_q6_K, 2 * p)[ib].scales))),
                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)WROW(blk_q6_K, 2 * p + 1)[ib].scales)), 1);
            iv[p] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(_mm512_madd_epi16(bs, sc16), 5));
        }
        for (int h = 0; h < 2; h++) {
            __m512i sch[2];
            UNROLL for (int p = 0; p < 2; p++)
                sch[p] = _mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_broadcastsi128_si256(
                        _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(WROW(blk_q6_K, 2 * p)[ib].scales + 8 * h))))),
                    _mm256_broadcastsi128_si256(
                        _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(WROW(blk_q6_K, 2 * p + 1)[ib].scales + 8 * h)))),
                    1);
            UNROLL for (int k = 0; k < 4; k++) {
                const __m512i xv = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(xr[ib].qs + 128 * h + 32 * k)));
                const __m512i pat = _mm512_add_epi8(bc0, _mm512_set1_epi16((short)(0x0404 * k)));
                UNROLL for (int p = 0; p < 2; p++) {
                    const __m512i ql = Q6ROWS(p, ql, 64 * h + 32 * (k & 1)), qh = Q6ROWS(p, qh, 32 * h);
                    const __m512i lo = (k & 2) ? _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4) : _mm512_and_si512(ql, m4);
                    __m512i hb;
                    switch (k) {
                    case 0: hb = _mm512_slli_epi16(_mm512_and_si512(qh, m2), 4); break;
                    case 1: hb = _mm512_slli_epi16(_mm512_and_si512(qh, m2m), 2); break;
                    case 2: hb = _mm512_and_si512(qh, m2h); break;
                    default: hb = _mm512_and_si512(_mm512_srli_epi16(qh, 2), m2h); break;
                    }
                    const __m512i q = _mm512_or_si512(lo, hb);
                    iv[p] = _mm512_add_epi32(iv[p], _mm512_madd_epi16(_mm512_maddubs_epi16(q, xv), _mm512_shuffle_epi8(sch[p], pat)));
                }
            }
        }
        const __m512i z[8] = {iv[0], iv[1], _mm512_setzero_si512(), _mm512_setzero_si512(),
                              _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
        /* lane_sums16's lanes 0, 4, 1, 5 are rows 0, 1, 2, 3 */
        const __m128i sums = _mm512_castsi512_si128(_mm512_permutexvar_epi32(order, lane_sums16(z)));
#define K6_WD(r) ((short)WROW(blk_q6_K, r)[ib].d)
        const __m256 wsc = _mm256_cvtph_ps(_mm_setr_epi16(K6_WD(0), K6_WD(1), K6_WD(2), K6_WD(3), 0, 0, 0, 0));
#undef K6_WD
        const __m256 s = _mm256_mul_ps(wsc, _mm256_set1_ps(xr[ib].d));
        acc4 = _mm_add_ps(acc4, _mm_mul_ps(_mm256_castps256_ps128(s), _mm_cvtepi32_ps(sums)));
    }
#undef Q6ROWS
    r1_sums_store(acc4, mode, y, A, as);
}
static void q6_K_4x1_512(TILE_PARAMS) { tile_q6k_r1_512(n, w, wb, x, xb, y, ys, A, as, mode); }

gh_tile_fn gh_tile_avx512(gh_type t, int R, int C) {
    if (R == 4 && C == 1)
        return t == GH_TYPE_Q8_0   ? q8_0_4x1_512
               : t == GH_TYPE_Q4_0 ? q4_0_4x1_512
               : t == GH_TYPE_Q4_K ? q4_K_4x1_512
               : t == GH_TYPE_Q6_K ? q6_K_4x1_512
                                   : NULL;
    int ri = R == 1 ? 0 : R == 2 ? 1 : R == 4 ? 2 : -1;
    int ci = C == 4 ? 0 : C == 8 ? 1 : -1;
    if (ri < 0 || ci < 0) return NULL;
    switch (t) {
    case GH_TYPE_Q8_0: return tiles512[0][ci][ri];
    case GH_TYPE_Q4_0: return tiles512[1][ci][ri];
    default: return NULL;
    }
}

/* ---- Attention's value pass (gh_attend_f32_avx2), 4 heads x 64 floats ----
 * out_g[i] = sum_p w[p][g] * v_p[i] for heads g0 .. g0 + 3 and elements
 * i0 .. i0 + 63: from zero, one fma per position in position order, as the
 * 256-bit pass does per lane (so the same bits). With 16 accumulators of 16
 * floats a position's 64 values are read once per 4 heads, where the 256-bit
 * pass (8 registers: 4 heads x 16 floats) read each value row in 4 passes of
 * 16 floats, each pass waiting on loads from L2 for every position: at a
 * 1536-token context that pass was half of attention's time. */
void gh_attend_values_avx512(float *out, const float *scores, int32_t G, int32_t g0, int32_t i0,
                             const gh_kv_view *kv, int32_t n, int32_t hd) {
    __m512 acc[4][4];
    UNROLL for (int h = 0; h < 4; h++) UNROLL for (int j = 0; j < 4; j++) acc[h][j] = _mm512_setzero_ps();
    for (int32_t p = 0; p < n; p++) {
        const float *vp = GH_KV_V(kv, p) + i0, *wp = scores + (size_t)p * G + g0;
        __m512 v[4];
        UNROLL for (int j = 0; j < 4; j++) v[j] = _mm512_loadu_ps(vp + 16 * j);
        UNROLL for (int h = 0; h < 4; h++) {
            const __m512 a = _mm512_set1_ps(wp[h]);
            UNROLL for (int j = 0; j < 4; j++) acc[h][j] = _mm512_fmadd_ps(a, v[j], acc[h][j]);
        }
    }
    UNROLL for (int h = 0; h < 4; h++) UNROLL for (int j = 0; j < 4; j++)
        _mm512_storeu_ps(out + (size_t)(g0 + h) * hd + i0 + 16 * j, acc[h][j]);
}

/* ---- Attention's scores (gh_attend_f32_avx2), head sizes 32k ----
 * The 256-bit pass computes each score as dot_f32 does: 8-lane chains j
 * (elements i + 8j of each 32-element step i) in 4 registers,
 * (s0 + s1) + (s2 + s3), then hsum8 (hsum8x8 for 8 heads at once), times
 * scale. Here one 512-bit register holds chains 0 and 2, another 1 and 3,
 * so a step takes 2 fmas instead of 4, and the halves of their sum are the
 * same (s0 + s1) + (s2 + s3). The query is rearranged once per call and
 * each key row once per position to match: per step i, [x(i..i+7) |
 * x(i+16..i+23)] and [x(i+8..i+15) | x(i+24..i+31)]. */
ALWAYS_INLINE void chains32(const float *x, int32_t hd, float *out) {
    for (int32_t i = 0; i < hd; i += 32) {
        const __m512 z0 = _mm512_loadu_ps(x + i), z1 = _mm512_loadu_ps(x + i + 16);
        _mm512_store_ps(out + i, _mm512_shuffle_f32x4(z0, z1, _MM_SHUFFLE(1, 0, 1, 0)));
        _mm512_store_ps(out + i + 16, _mm512_shuffle_f32x4(z0, z1, _MM_SHUFFLE(3, 2, 3, 2)));
    }
}

/* dot_f32(q, k, hd) before its hsum8, from the rearranged q (qc) and k (kc) */
ALWAYS_INLINE __m256 dot_512(const float *qc, const float *kc, int32_t hd) {
    __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
    for (int32_t i = 0; i < hd; i += 32) {
        a = _mm512_fmadd_ps(_mm512_load_ps(qc + i), _mm512_load_ps(kc + i), a);
        b = _mm512_fmadd_ps(_mm512_load_ps(qc + i + 16), _mm512_load_ps(kc + i + 16), b);
    }
    const __m512 s = _mm512_add_ps(a, b);
    return _mm256_add_ps(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps(s, 1));
}

/* The body for one head size (a constant after inlining). */
ALWAYS_INLINE void scores512(const int32_t hd, float *scores, const float *q, int32_t G, const gh_kv_view *kv,
                             int32_t n, float scale) {
    float qc[GH_ATT512_MAX_QC] __attribute__((aligned(64)));
    float kc[GH_ATT512_MAX_HD] __attribute__((aligned(64)));
    for (int32_t g = 0; g < G; g++) chains32(q + (size_t)g * hd, hd, qc + (size_t)g * hd);
    const int32_t G8 = G / 8 * 8;
    for (int32_t p = 0; p < n; p++) {
        float *sp = scores + (size_t)p * G;
        attend_prefetch(kv, p, n, hd);
        chains32(GH_KV_K(kv, p), hd, kc);
        int32_t g = 0;
        for (; g < G8; g += 8) {
            __m256 t8[8];
            UNROLL8 for (int h = 0; h < 8; h++) t8[h] = dot_512(qc + (size_t)(g + h) * hd, kc, hd);
            _mm256_storeu_ps(sp + g, _mm256_mul_ps(hsum8x8(t8), _mm256_set1_ps(scale)));
        }
        for (; g < G; g++) sp[g] = hsum8(dot_512(qc + (size_t)g * hd, kc, hd)) * scale;
    }
}

void gh_attend_scores_avx512(float *scores, const float *q, int32_t G, const gh_kv_view *kv, int32_t n, int32_t hd,
                             float scale) {
    if (hd == 64) scores512(64, scores, q, G, kv, n, scale);
    else if (hd == 128) scores512(128, scores, q, G, kv, n, scale);
    else scores512(hd, scores, q, G, kv, n, scale);
}

/* ---- expf, 16 at a time, with the C library's bits ----
 * kernels_avx2.c's expf8 (glibc's algorithm on doubles) with 8 doubles a
 * register instead of 4, and the 32-entry table held in four registers
 * (two VPERMT2Q and a blend on index bit 4) instead of gathered: every lane
 * sees the same operations, so the same bits. SwiGLU's gate and attention's
 * softmax call it: with 16 sequences ~2 % of a 1.1B step, and 6 % of one
 * after a 1536-token prompt, in the 4-double form. */
typedef struct {
    __m512i t0, t1, t2, t3; /* table entries 0-7, 8-15, 16-23, 24-31 */
} expf_tab;

ALWAYS_INLINE expf_tab expf_tab_load(void) {
    const uint64_t *t = gh_expf_table();
    return (expf_tab){_mm512_loadu_si512(t), _mm512_loadu_si512(t + 8), _mm512_loadu_si512(t + 16),
                      _mm512_loadu_si512(t + 24)};
}

/* expf of 8 floats in the fast range (|x| < 88), as expf4_fast twice */
ALWAYS_INLINE __m256 expf8_d(const expf_tab *T, __m256 x) {
    const __m512d xd = _mm512_cvtps_pd(x);
    const __m512d inv = _mm512_set1_pd(EXPF_INVLN2N), shift = _mm512_set1_pd(EXPF_SHIFT);
    const __m512d z = _mm512_fmadd_pd(inv, xd, shift);
    const __m512i k = _mm512_castpd_si512(z);
    const __m512d kd = _mm512_sub_pd(z, shift);
    const __m512d r = _mm512_fmsub_pd(inv, xd, kd);
    const __m512i idx = _mm512_and_si512(k, _mm512_set1_epi64(31));
    const __m512i lo = _mm512_permutex2var_epi64(T->t0, idx, T->t1), hi = _mm512_permutex2var_epi64(T->t2, idx, T->t3);
    __m512i t = _mm512_mask_blend_epi64(_mm512_test_epi64_mask(idx, _mm512_set1_epi64(16)), lo, hi);
    t = _mm512_add_epi64(t, _mm512_slli_epi64(k, 47));
    const __m512d p = _mm512_fmadd_pd(r, _mm512_set1_pd(EXPF_C0), _mm512_set1_pd(EXPF_C1));
    const __m512d r2 = _mm512_mul_pd(r, r);
    __m512d y = _mm512_fmadd_pd(r, _mm512_set1_pd(EXPF_C2), _mm512_set1_pd(1.0));
    y = _mm512_fmadd_pd(p, r2, y);
    return _mm512_cvtpd_ps(_mm512_mul_pd(y, _mm512_castsi512_pd(t)));
}

/* expf of 16 floats; lanes outside the fast range call the library. */
ALWAYS_INLINE __m512 expf16(const expf_tab *T, __m512 x) {
    const __m512i top = _mm512_and_si512(_mm512_srli_epi32(_mm512_castps_si512(x), 20), _mm512_set1_epi32(0x7FF));
    const __mmask16 slow = _mm512_cmpgt_epi32_mask(top, _mm512_set1_epi32(0x42A));
    __m512 y = _mm512_insertf32x8(_mm512_castps256_ps512(expf8_d(T, _mm512_castps512_ps256(x))),
                                  expf8_d(T, _mm512_extractf32x8_ps(x, 1)), 1);
    if (__builtin_expect(slow != 0, 0)) {
        float xs[16], ys[16];
        _mm512_storeu_ps(xs, x);
        _mm512_storeu_ps(ys, y);
        expf_slow_lanes(ys, xs, slow, 16);
        y = _mm512_loadu_ps(ys);
    }
    return y;
}

void gh_expf_f32_avx512(float *y, const float *x, int64_t n) {
    const expf_tab T = expf_tab_load();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, expf16(&T, _mm512_loadu_ps(x + i)));
    gh_expf_f32_avx2(y + i, x + i, n - i);
}

/* The compute-peak probe's loop (peak.c) at 512 bits: 12 chains of n FMAs. */
double gh_fma_chains_avx512(int64_t n) {
    FMA_CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, "v", n, t);
    return (double)_mm512_reduce_add_ps(t);
}

void gh_swiglu_f32_avx512(float *g, const float *u, int64_t n) {
    const expf_tab T = expf_tab_load();
    const __m512 one = _mm512_set1_ps(1.0f), sign = _mm512_set1_ps(-0.0f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 x = _mm512_loadu_ps(g + i);
        const __m512 e = expf16(&T, _mm512_xor_ps(x, sign));
        _mm512_storeu_ps(g + i, _mm512_mul_ps(_mm512_div_ps(x, _mm512_add_ps(one, e)), _mm512_loadu_ps(u + i)));
    }
    gh_swiglu_f32_avx2(g + i, u + i, n - i);
}

/* Two positions a register: p in the low half, p + 1 in the high half; the
 * sums take the low half, then the high one, so in position order. */
__m256 gh_softmax_exp8_avx512(float *scores, int32_t G, int32_t g, int32_t n, __m256 mx) {
    const expf_tab T = expf_tab_load();
    const __m512 m2 = _mm512_insertf32x8(_mm512_castps256_ps512(mx), mx, 1);
    __m256 sum = _mm256_setzero_ps();
    int32_t p = 0;
    for (; p + 2 <= n; p += 2) {
        float *s0 = scores + (size_t)p * G + g, *s1 = s0 + G;
        const __m512 d = _mm512_sub_ps(
            _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(s0)), _mm256_loadu_ps(s1), 1), m2);
        const __m512 e = expf16(&T, d);
        const __m256 e0 = _mm512_castps512_ps256(e), e1 = _mm512_extractf32x8_ps(e, 1);
        _mm256_storeu_ps(s0, e0);
        _mm256_storeu_ps(s1, e1);
        sum = _mm256_add_ps(_mm256_add_ps(sum, e0), e1);
    }
    if (p < n) { /* the last odd position, in the low half */
        float *s0 = scores + (size_t)p * G + g;
        const __m512 d = _mm512_sub_ps(_mm512_castps256_ps512(_mm256_loadu_ps(s0)), m2);
        const __m256 e0 = _mm512_castps512_ps256(expf16(&T, _mm512_maskz_mov_ps(0xFF, d)));
        _mm256_storeu_ps(s0, e0);
        sum = _mm256_add_ps(sum, e0);
    }
    return sum;
}
