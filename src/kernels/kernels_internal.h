/* kernels_internal.h — what the kernel files share and nobody else needs: the
 * byte layouts of the quantized blocks (identical to ggml's, so tensors from
 * llama.cpp GGUF files are used in place), the reference kernels, the AVX2
 * kernels and the tiled matmul micro-kernels.
 *
 * Block layouts (little-endian, packed, no padding — sizes are static-asserted):
 *   Q8_0  (32 elements, 34 bytes):  fp16 d; int8 qs[32];              x = d*q
 *   Q4_0  (32 elements, 18 bytes):  fp16 d; u8 qs[16];                x = d*(q-8)
 *         element j < 16 is the low nibble of qs[j], element j+16 the high one.
 *   Q4_K  (256 elements, 144 bytes): fp16 d; fp16 dmin; u8 scales[12]; u8 qs[128]
 *         8 sub-blocks of 32 with 6-bit scale sc_j and 6-bit min m_j packed in
 *         scales[] (see q4k_scale_min); x = d*sc_j*q - dmin*m_j, q in 0..15.
 *         qs is in 4 chunks of 32 bytes; chunk c holds sub-block 2c in the low
 *         nibbles and sub-block 2c+1 in the high nibbles.
 *   Q6_K  (256 elements, 210 bytes): u8 ql[128]; u8 qh[64]; int8 scales[16]; fp16 d
 *         16 sub-blocks of 16; x = d*scales[j]*(q-32), q 6 bits (4 low in ql,
 *         2 high in qh; see q6k_dequant for the interleaving).
 *   Q8_K  (256 elements, 292 bytes): f32 d; int8 qs[256]; int16 bsums[16]
 *         bsums[j] = sum of qs[16j .. 16j+15]; activations only.
 */
#ifndef GH_KERNELS_INTERNAL_H
#define GH_KERNELS_INTERNAL_H

#include "kernels/kernels.h"

#include <assert.h>
#include <string.h>

/* y[i] = expf(x[i]) with the C library's bits, SIMD where it was checked to
 * match (kernels_avx2.c); for tests. */
void gh_expf_f32(float *y, const float *x, int64_t n);

#define QK8_0 32
#define QK4_0 32
#define QK_K 256

typedef struct {
    uint16_t d;
    int8_t qs[QK8_0];
} blk_q8_0;

typedef struct {
    uint16_t d;
    uint8_t qs[QK4_0 / 2];
} blk_q4_0;

typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qs[QK_K / 2];
} blk_q4_K;

typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
} blk_q6_K;

typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} blk_q8_K;

_Static_assert(sizeof(blk_q8_0) == 34, "Q8_0 block must be 34 bytes");
_Static_assert(sizeof(blk_q4_0) == 18, "Q4_0 block must be 18 bytes");
_Static_assert(sizeof(blk_q4_K) == 144, "Q4_K block must be 144 bytes");
_Static_assert(sizeof(blk_q6_K) == 210, "Q6_K block must be 210 bytes");
_Static_assert(sizeof(blk_q8_K) == 292, "Q8_K block must be 292 bytes");

/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K block: sub-blocks
 * 0..3 use the low 6 bits of bytes j and j+4; 4..7 take their low 4 bits from
 * the nibbles of byte j+4 and their top 2 bits from the top bits of bytes j-4
 * (scale) and j (min). */
static inline void q4k_scale_min(int j, const uint8_t *s, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* Round to nearest, ties to even (what the SIMD conversions do under the
 * default MXCSR), valid for |v| < 2^22: adding 1.5*2^23 leaves the rounded
 * integer in the low mantissa bits. */
static inline int32_t gh_round_ne(float v) {
    float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, sizeof i);
    return (i & 0x007FFFFF) - 0x00400000;
}

/* ---- reference kernels (types_ref.c) ---- */
void gh_f32_to_float(const void *x, float *y, int64_t n);
void gh_f32_from_float(const float *x, void *y, int64_t n);
void gh_f16_to_float_ref(const void *x, float *y, int64_t n);
void gh_f16_from_float_ref(const float *x, void *y, int64_t n);
void gh_bf16_to_float_ref(const void *x, float *y, int64_t n);
void gh_bf16_from_float_ref(const float *x, void *y, int64_t n);
void gh_q8_0_to_float_ref(const void *x, float *y, int64_t n);
void gh_q8_0_from_float_ref(const float *x, void *y, int64_t n);
void gh_q4_0_to_float_ref(const void *x, float *y, int64_t n);
void gh_q4_0_from_float_ref(const float *x, void *y, int64_t n);
void gh_q4_K_to_float_ref(const void *x, float *y, int64_t n);
void gh_q4_K_from_float_ref(const float *x, void *y, int64_t n);
void gh_q6_K_to_float_ref(const void *x, float *y, int64_t n);
void gh_q6_K_from_float_ref(const float *x, void *y, int64_t n);
void gh_q8_K_to_float_ref(const void *x, float *y, int64_t n);
void gh_q8_K_from_float_ref(const float *x, void *y, int64_t n);

void gh_vec_dot_f32_ref(int64_t n, float *s, const void *x, const void *y);
void gh_vec_dot_f16_ref(int64_t n, float *s, const void *x, const void *y);
void gh_vec_dot_bf16_ref(int64_t n, float *s, const void *x, const void *y);
void gh_vec_dot_q8_0_ref(int64_t n, float *s, const void *x, const void *y);
void gh_vec_dot_q4_0_ref(int64_t n, float *s, const void *x, const void *y);
void gh_vec_dot_q4_K_ref(int64_t n, float *s, const void *x, const void *y);
void gh_vec_dot_q6_K_ref(int64_t n, float *s, const void *x, const void *y);

/* ---- AVX2 / FMA / F16C kernels (kernels_avx2.c) — call only when
 * gh_cpu_has_avx2() is true. ---- */
bool gh_cpu_has_avx2(void);
/* True when the dispatcher chose AVX2 (CPU has it, GH_SIMD is not "scalar"). */
bool gh_kernels_use_avx2(void);
void gh_f16_to_float_avx2(const void *x, float *y, int64_t n);
void gh_f16_from_float_avx2(const float *x, void *y, int64_t n);
void gh_bf16_to_float_avx2(const void *x, float *y, int64_t n);
void gh_bf16_from_float_avx2(const float *x, void *y, int64_t n);
void gh_q8_0_from_float_avx2(const float *x, void *y, int64_t n);
void gh_q8_K_from_float_avx2(const float *x, void *y, int64_t n);
void gh_vec_dot_f32_avx2(int64_t n, float *s, const void *x, const void *y);
void gh_vec_dot_f16_avx2(int64_t n, float *s, const void *x, const void *y);
void gh_vec_dot_bf16_avx2(int64_t n, float *s, const void *x, const void *y);
void gh_vec_dot_q8_0_avx2(int64_t n, float *s, const void *x, const void *y);
void gh_vec_dot_q4_0_avx2(int64_t n, float *s, const void *x, const void *y);
void gh_vec_dot_q4_K_avx2(int64_t n, float *s, const void *x, const void *y);
void gh_vec_dot_q6_K_avx2(int64_t n, float *s, const void *x, const void *y);
float gh_dot_f32_avx2(const float *a, const float *b, int64_t n);
void gh_axpy_f32_avx2(float *y, float a, const float *x, int64_t n);
bool gh_expf_avx2_init(void);
bool gh_expf_avx2_ok(void);
void gh_expf_f32_avx2(float *y, const float *x, int64_t n);
void gh_swiglu_f32_avx2(float *g, const float *u, int64_t n);
/* glibc's 2^(i/32) table as gh_expf_avx2_init built it (kernels_avx2.c). */
const uint64_t *gh_expf_table(void);
/* The same as the _avx2 forms, 16 lanes at a time (kernels_avx512.c); only
 * where gh_kernels_use_avx512() and gh_expf_avx2_ok(). */
void gh_swiglu_f32_avx512(float *g, const float *u, int64_t n);
void gh_expf_f32_avx512(float *y, const float *x, int64_t n);
void gh_attend_f32_avx2(float *out, const float *q, int32_t G, const gh_kv_view *kv, int32_t n, int32_t hd,
                        float scale, float *scores);
double gh_sum_f32_avx2(const float *x, int64_t n);
/* The same sum, reading the four quarters of x as interleaved streams. */
double gh_sum4_f32_avx2(const float *x, int64_t n);
/* The compute-peak probe's loops (peak.c): 12 independent chains of n FMAs,
 * 8 or 16 lanes wide; the _avx512 one only where gh_kernels_use_avx512(). */
double gh_fma_chains_avx2(int64_t n);
double gh_fma_chains_avx512(int64_t n);

/* A tile micro-kernel: for r < R, c < C, pair (r, c) is the dot product of
 * row r of W (at w + r*wb bytes) and activation row c (at x + c*xb bytes)
 * over n elements; the result goes to y[c*ys + r]. A long row may be done in
 * k-chunks (n a multiple of the type's step except in the last chunk): mode
 * GH_TILE_FIRST starts the pair's accumulator at zero (else it is loaded from
 * A + r*as + 8c: 8 floats per pair), GH_TILE_LAST reduces it into y (else it is
 * stored back to A). With FIRST|LAST (A unused) the result is bit-identical to
 * the type's vec_dot for each (r, c), and so is any chunking. R is 1, 2 or 4
 * (and 3 for the AVX2 F32 tiles); C is 1, 2 or 4, and 8 for some AVX-512
 * tiles. */
typedef void (*gh_tile_fn)(int64_t n, const void *w, size_t wb, const void *x, size_t xb,
                           float *y, size_t ys, float *A, size_t as, int mode);
#define GH_TILE_FIRST 1
#define GH_TILE_LAST 2
#define GH_TILE_R_MAX 4
#define GH_TILE_C_MAX 8

/* The AVX2 tile kernel for (R, C), or NULL if that type has none. */
gh_tile_fn gh_tile_avx2(gh_type t, int R, int C);

/* ---- AVX-512 tiles (kernels_avx512.c): R x 4 and R x 8 for Q8_0/Q4_0, and
 * the pair-packed float tiles below, bit-identical to the AVX2 tiles (pair by
 * pair). Call only when
 * gh_kernels_use_avx512() is true. ---- */
bool gh_cpu_has_avx512(void);
/* True when the dispatcher chose AVX-512 tiles too (CPU has AVX-512 F/BW/VL/DQ
 * and VNNI, GH_SIMD is neither "scalar" nor "avx2"). */
bool gh_kernels_use_avx512(void);
/* The AVX-512 tile for (R, C), or NULL (no such shape for that type). */
gh_tile_fn gh_tile_avx512(gh_type t, int R, int C);

/* A pair-packed float tile (F32 weights, B >= 4, AVX-512): pairs
 * (r, c) for r < R, c < nc <= 2P over whole rows of n elements, bitwise the
 * same as the tiles above. xp holds the P column pairs ps floats apart, each
 * as n/8 steps of 16 floats [x[2p][8s..8s+8) | x[2p+1][8s..8s+8)], 64-byte
 * aligned; the n % 8 tail is read from the rows x (xb bytes apart). Along
 * the way it prefetches npf rows from pf (wb bytes apart), as gh_rptile_fn. */
typedef void (*gh_ptile_fn)(int64_t n, const void *w, size_t wb, const float *xp, size_t ps, const void *x,
                            size_t xb, float *y, size_t ys, int nc, const char *pf, int npf);
/* Bytes ahead of its own step at which a pair-packed tile prefetches its own rows. */
#define GH_PTILE_AHEAD 768
/* The pair-packed tile for (R, P), or NULL. */
gh_ptile_fn gh_ptile_avx512(gh_type t, int R, int P);

/* A row-pair tile (F16/BF16 weights, B >= 4, AVX-512): pairs (r, c) for
 * r < nr <= 2*RP (rows wb bytes apart) and c < C (activation rows xs floats
 * apart) over whole rows of n elements, bitwise the same as the tiles above;
 * one 512-bit accumulator holds rows 2q and 2q + 1 of a column (see
 * kernels_avx512.c). Rows past nr are not read. Along the way it prefetches
 * npf rows from pf (wb bytes apart), at the byte offset of its own step:
 * its own rows some way ahead, or rows of the next group (matmul.c). */
typedef void (*gh_rptile_fn)(int64_t n, const void *w, size_t wb, int nr, const float *x, size_t xs, float *y,
                             size_t ys, const char *pf, int npf);
#define GH_RPTILE_RP_MAX 3
#define GH_RPTILE_C_MAX 8
/* Bytes ahead of its own step at which a tile prefetches its own rows. */
#define GH_RPTILE_AHEAD 768
/* The row-pair tile for (RP row pairs, C columns), or NULL. */
gh_rptile_fn gh_rptile_avx512(gh_type t, int RP, int C);

/* gh_attend_f32_avx2's value pass for heads g0 .. g0 + 3, output elements
 * i0 .. i0 + 63 (scores: the softmax weights [n][G]), the same bits. */
void gh_attend_values_avx512(float *out, const float *scores, int32_t G, int32_t g0, int32_t i0,
                             const gh_kv_view *kv, int32_t n, int32_t hd);
/* ... and its scores: scores[p*G + g] for every position p < n, the same
 * bits, for head sizes hd that are multiples of 32 up to GH_ATT512_MAX_HD
 * and G * hd <= GH_ATT512_MAX_QC (gh_attend_scores512_fits). */
#define GH_ATT512_MAX_HD 256
#define GH_ATT512_MAX_QC 8192
static inline bool gh_attend_scores512_fits(int32_t G, int32_t hd) {
    return hd % 32 == 0 && hd <= GH_ATT512_MAX_HD && (int64_t)G * hd <= GH_ATT512_MAX_QC;
}
void gh_attend_scores_avx512(float *scores, const float *q, int32_t G, const gh_kv_view *kv, int32_t n, int32_t hd,
                             float scale);

#endif
