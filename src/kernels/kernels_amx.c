/* kernels_amx.c — Intel AMX (tile matrix unit) products for Q8_0 and Q4_0
 * weights against many activation rows at once: the batched decode of
 * Best-of-N (16 samples of one prompt) and prompt processing.
 *
 * Why AMX: with B >= 8 activation rows a quantized product is compute-bound
 * on two cores (AVX2 or AVX-512 VNNI reach 2-3.5x the batch-1 token rate at
 * B = 16); one TDPBSSD multiplies a 16 x 32 int8 block of weights by a
 * 32 x 16 int8 block of activations (8192 products) where VNNI does 64.
 *
 * Same bits as every other path. The reference (types_ref.c) computes, per
 * (weight row, activation row) pair and block i in order,
 *     sum = sum + (d_w[i] * d_x[i]) * (float)isum_i
 * with isum_i the exact int32 block dot product and three separately rounded
 * f32 operations. A tile product gives isum_i exactly for 16 weight rows x
 * 16 activation rows; the float step then runs with one 16-lane vector per
 * activation row (lanes = weight rows), in block order, with the same three
 * operations (d_w * d_x is the same product either way round). So y[b][o]
 * is bitwise what the AVX2 tiles and the reference give, whatever B or the
 * thread count (kernels.h's contract).
 *
 * Layout. Activations (already quantized to Q8_0 rows) are packed once per
 * product by gh_amx_pack: for each group of 16 rows and each block i, the
 * "A" tile of 16 rows x 32 codes as they stand, then the 16 scales d_x as
 * floats; missing rows of the last group are zero (B <= 8 packs several
 * blocks per tile instead: "Narrow batches" below). Each block of 16 weight
 * rows becomes a "B" tile in AMX's VNNI order (tile row k holds, for each
 * weight row n, its elements 4k..4k+3): Q8_0's codes by a dword transpose,
 * Q4_0's nibbles widened to q - 8 on the way. Both take TDPBSSD, and its
 * int32 is the reference's integer as it stands. The result tile is then
 * c[activation row][weight row], so the 16 weight scales d_w of a block are
 * one vector as gathered, and d_x comes by a broadcast inside the multiply.
 * (With the weights as A tiles, Q8_0's read in place, each weight row's d_w
 * took a shuffle to broadcast and GCC spilled the accumulators to hold the
 * shuffle indices: q4_0 at N = 16 was 5-10 % slower; Q8_0 gained nothing
 * from reading in place, 4-10 % in one-thread products in L2.)
 *
 * A copied model's Q4_0/Q8_0 matrices come regrouped (repack.c), 16 rows'
 * blocks already in tile order: the same kernels then skip the transpose
 * and the gather, and batches of up to 8 rows take a VNNI kernel instead
 * ("Regrouped Q4_0 and Q8_0" at the end of this file).
 *
 * Linux hands out AMX state only on request (arch_prctl XCOMP_PERM); without
 * it, or without the CPU bits, gh_cpu_has_amx() is false and nothing here
 * runs. Compiled with -mamx-tile -mamx-int8 and the AVX-512 flags.
 */
#define GH_AMX_KERNEL_FILE
#include "kernels/amx.h"
#include "kernels/simd_x86.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

/* Bytes per (group, block) in the packed activations: B tile, scales. */
#define PACK_TILE 512
#define PACK_BLOCK (PACK_TILE + 16 * 4)

static bool g_amx_ok;
static pthread_once_t g_amx_once = PTHREAD_ONCE_INIT;

static void amx_init(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (!gh_cpu_has_avx512() || !__builtin_cpu_supports("avx512vbmi")) return; /* vpermb: Q4_0 widening */
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    const bool tile = (d >> 24) & 1, int8 = (d >> 25) & 1;
    if (!tile || !int8) return;
    /* the OS must have enabled the tile state in XCR0 (bits 17, 18) */
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    if (!((c >> 27) & 1)) return; /* OSXSAVE */
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if (((lo >> 17) & 3) != 3) return;
    /* and grant this process the tile data state */
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return;
    unsigned long bits = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bits) != 0 || !(bits & (1ul << XFEATURE_XTILEDATA))) return;
    g_amx_ok = true;
#endif
}

bool gh_cpu_has_amx(void) {
    pthread_once(&g_amx_once, amx_init);
    return g_amx_ok;
}

static void narrow_pack(const void *xq, size_t xrow, int64_t nb, int64_t B, void *pack, int64_t i0, int64_t i1);
static int narrow_span(int64_t B);
static size_t narrow_slot_bytes(int S);
#define NARROW_MAX_B 8

size_t gh_amx_pack_size(int64_t n_in, int64_t B) {
    if (B <= NARROW_MAX_B) {
        const int S = narrow_span(B);
        return (size_t)((n_in / 32 + 16 / S - 1) / (16 / S)) * narrow_slot_bytes(S);
    }
    return (size_t)((B + 15) / 16) * (size_t)(n_in / 32) * PACK_BLOCK;
}

/* Packs block range [i0, i1) of every group (threads split the blocks). */
void gh_amx_pack(const void *xq, size_t xrow, int64_t n_in, int64_t B, void *pack, int64_t i0, int64_t i1) {
    if (B <= NARROW_MAX_B) {
        narrow_pack(xq, xrow, n_in / 32, B, pack, i0, i1);
        return;
    }
    const int64_t nb = n_in / 32, G = (B + 15) / 16;
    for (int64_t g = 0; g < G; g++)
        for (int64_t i = i0; i < i1; i++) {
            uint8_t *p = (uint8_t *)pack + (size_t)(g * nb + i) * PACK_BLOCK;
            float *dx = (float *)(p + PACK_TILE);
            for (int s = 0; s < 16; s++) { /* the A tile: row s = activation row s's 32 codes */
                const int64_t b = g * 16 + s;
                const blk_q8_0 *x = b < B ? (const blk_q8_0 *)((const char *)xq + (size_t)b * xrow) + i : NULL;
                if (x) memcpy(p + s * 32, x->qs, 32);
                else memset(p + s * 32, 0, 32);
                dx[s] = x ? h2f(x->d) : 0;
            }
        }
}

void gh_amx_pack_f32(const float *x, int64_t n_in, int64_t B, void *pack, int64_t i0, int64_t i1) {
    const int64_t nb = n_in / 32, G = (B + 15) / 16;
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t g = 0; g < G; g++)
        for (int64_t i = i0; i < i1; i++) {
            uint8_t *p = (uint8_t *)pack + (size_t)(g * nb + i) * PACK_BLOCK;
            float amax[16] __attribute__((aligned(64))), id[16] __attribute__((aligned(64)));
            __m512 v[16][2];
            /* the 16 rows' block i (zero past B) and their largest magnitudes:
             * a max is exact in any order, so this is the reference's amax */
            for (int s = 0; s < 16; s++) {
                const int64_t b = g * 16 + s;
                if (b < B) {
                    v[s][0] = _mm512_loadu_ps(x + (size_t)b * (size_t)n_in + (size_t)i * 32);
                    v[s][1] = _mm512_loadu_ps(x + (size_t)b * (size_t)n_in + (size_t)i * 32 + 16);
                } else {
                    v[s][0] = v[s][1] = _mm512_setzero_ps();
                }
                amax[s] = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(v[s][0], absmask), _mm512_and_ps(v[s][1], absmask)));
            }
            /* d = amax / 127 and id = 1 / d (0 for d = 0), 16 rows a vector:
             * IEEE divisions, the reference's; the pack holds d as the f16
             * it is stored as, read back */
            const __m512 d = _mm512_div_ps(_mm512_load_ps(amax), _mm512_set1_ps(127.0f));
            const __mmask16 nz = _mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_UQ);
            _mm512_store_ps(id, _mm512_maskz_div_ps(nz, _mm512_set1_ps(1.0f), d));
            _mm512_storeu_ps((float *)(p + PACK_TILE),
                             _mm512_cvtph_ps(_mm512_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
            /* codes: rounded to nearest even (MXCSR's default, as
             * gh_round_ne) and narrowed by truncation, as the reference's
             * int8 cast: where 1 / d overflows (a block of tiny values) both
             * give code 0, where saturating would give -128 */
            for (int s = 0; s < 16; s++) {
                const __m512 is = _mm512_set1_ps(id[s]);
                _mm_storeu_si128((__m128i *)(p + s * 32), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v[s][0], is))));
                _mm_storeu_si128((__m128i *)(p + s * 32 + 16),
                                 _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v[s][1], is))));
            }
        }
}

/* Tile registers: C0/C1 results of blocks i and i+1, A0/A1 their
 * activations, B0/B1 their weights (literal numbers: the intrinsics paste
 * them into the register names). */
#define TC0 0
#define TC1 1
#define TA0 2
#define TA1 3
#define TB0 4
#define TB1 5

/* constant memory: see gh_tile_config in amx.h */
static const gh_tile_config g_cfg = {
    .palette = 1,
    /* C0, C1: 16 x 16 int32; A0, A1: 16 rows x 32 int8; B0, B1: 8 x (16 x 4) int8 */
    .colsb = {[TC0] = 64, [TC1] = 64, [TA0] = 32, [TA1] = 32, [TB0] = 64, [TB1] = 64},
    .rows = {[TC0] = 16, [TC1] = 16, [TA0] = 16, [TA1] = 16, [TB0] = 8, [TB1] = 8},
};

/* VPERMB table: byte index b (its low 6 bits) -> (b & 15) - 8, a Q4_0 code
 * as the signed weight it stands for. */
ALWAYS_INLINE __m512i q4_lut(void) {
    return _mm512_sub_epi8(
        _mm512_and_si512(_mm512_set_epi8(63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45,
                                         44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26,
                                         25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6,
                                         5, 4, 3, 2, 1, 0),
                         _mm512_set1_epi8(15)),
        _mm512_set1_epi8(8));
}

/* 16 rows' qs of Q4_0 block i, rows 4q .. 4q + 3 in the four 128-bit lanes. */
ALWAYS_INLINE __m512i q4_rows4(const char *w, size_t wb, int64_t i, int q) {
#define Q4ROW(r) _mm_loadu_si128((const __m128i *)((const blk_q4_0 *)(w + (size_t)(r) * wb) + i)->qs)
    return _mm512_inserti32x4(
        _mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(Q4ROW(4 * q)), Q4ROW(4 * q + 1), 1),
                           Q4ROW(4 * q + 2), 2),
        Q4ROW(4 * q + 3), 3);
#undef Q4ROW
}

/* The 16 weight scales of block i of rows w, w + wb, ..., as floats. */
ALWAYS_INLINE __m512 wscales16(const char *w, size_t wb, int64_t i, size_t bsize) {
    /* d is the block's first 2 bytes */
    __m512i v = _mm512_i32gather_epi32(gh_amx_row_offsets(wb), w + (size_t)i * bsize, 1);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
}

/* regrouped Q4_0: prefetch distance in bytes of the VNNI kernel's record
 * stream (2 KiB, 7 records: 1 and 4 KiB measured 4 % and 10 % slower at
 * batch 1) */
#ifndef R16_PF
#define R16_PF 2048
#endif

/* weight prefetch distance in blocks */
#ifndef PF
#define PF 12
#endif

/* ---- Weights as B tiles ----
 * Q4_0: element e of a block is the low nibble of qs[e] (e < 16) or the
 * high nibble of qs[e - 16], so tile rows k and k + 4 (k < 4) are the low
 * and the high nibbles of dword k of the 16 rows' qs: a 16 x 4 dword
 * transpose of the raw codes (8 VPERMT2D), then VPERMB with q4_lut. (As A
 * tiles the nibbles were widened four rows a register with the same table,
 * which beat 128-bit and/shift per row by ~8 %; gathering the rows with a
 * strided tile load, or two tile products a block split by K, were slower.) */
ALWAYS_INLINE void q4_unpack16_vnni(const char *w, size_t wb, int64_t i, int8_t out[8][64]) {
    const __m512i lut = q4_lut();
    /* step 1, on rows 4q .. 4q+7 (v[q]: rows 4q .. 4q+3, 4 dwords each;
     * v[q+1] the next 4): dwords k = 0, 1 (lo) or 2, 3 (hi) of the 8 rows,
     * position 8(k - k0) + row */
    const __m512i s1lo = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const __m512i s1hi = _mm512_add_epi32(s1lo, _mm512_set1_epi32(2));
    /* step 2: rows 0-7 from the first source, 8-15 from the second; dword
     * k0 (positions 0-7) or k0 + 1 (8-15) of step 1 */
    const __m512i s2a = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i s2b = _mm512_add_epi32(s2a, _mm512_set1_epi32(8));
    __m512i v[4];
    _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) v[q] = q4_rows4(w, wb, i, q);
    const __m512i a01 = _mm512_permutex2var_epi32(v[0], s1lo, v[1]), b01 = _mm512_permutex2var_epi32(v[0], s1hi, v[1]);
    const __m512i a23 = _mm512_permutex2var_epi32(v[2], s1lo, v[3]), b23 = _mm512_permutex2var_epi32(v[2], s1hi, v[3]);
    const __m512i R[4] = {_mm512_permutex2var_epi32(a01, s2a, a23), _mm512_permutex2var_epi32(a01, s2b, a23),
                          _mm512_permutex2var_epi32(b01, s2a, b23), _mm512_permutex2var_epi32(b01, s2b, b23)};
    _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
        _mm512_store_si512(out[k], _mm512_permutexvar_epi8(R[k], lut));
        _mm512_store_si512(out[k + 4], _mm512_permutexvar_epi8(_mm512_srli_epi16(R[k], 4), lut));
    }
}

/* Q8_0 block i of 16 rows as a B tile in VNNI order: tile row k is dword k
 * of the 16 rows' 32 codes, a 16 x 8 dword transpose in three rounds of 8
 * VPERMT2D on pairs of rows loaded side by side. */
ALWAYS_INLINE void q8_unpack16_vnni(const char *w, size_t wb, int64_t i, int8_t out[8][64]) {
    /* v[m] = [row 2m | row 2m + 1], dwords 0-7 each */
    __m512i v[8];
#define Q8ROW(r) _mm256_loadu_si256((const __m256i *)((const blk_q8_0 *)(w + (size_t)(r) * wb) + i)->qs)
    _Pragma("GCC unroll 8") for (int m = 0; m < 8; m++)
        v[m] = _mm512_inserti64x4(_mm512_castsi256_si512(Q8ROW(2 * m)), Q8ROW(2 * m + 1), 1);
#undef Q8ROW
    /* round 1: T[a][h] position 4kk + rl = row 4a + rl, dword 4h + kk */
    const __m512i i1lo = _mm512_setr_epi32(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
    const __m512i i1hi = _mm512_add_epi32(i1lo, _mm512_set1_epi32(4));
    __m512i T[4][2];
    _Pragma("GCC unroll 4") for (int a = 0; a < 4; a++) {
        T[a][0] = _mm512_permutex2var_epi32(v[2 * a], i1lo, v[2 * a + 1]);
        T[a][1] = _mm512_permutex2var_epi32(v[2 * a], i1hi, v[2 * a + 1]);
    }
    /* round 2: U[b][h][g] position 8kk + rl = row 8b + rl, dword 4h + 2g + kk */
    const __m512i i2a = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i i2b = _mm512_add_epi32(i2a, _mm512_set1_epi32(8));
    __m512i U[2][2][2];
    _Pragma("GCC unroll 2") for (int b = 0; b < 2; b++) _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
        U[b][h][0] = _mm512_permutex2var_epi32(T[2 * b][h], i2a, T[2 * b + 1][h]);
        U[b][h][1] = _mm512_permutex2var_epi32(T[2 * b][h], i2b, T[2 * b + 1][h]);
    }
    /* round 3: dword k = 4h + 2g + kk of rows 0-7 (first source), 8-15 */
    const __m512i i3a = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i i3b = _mm512_add_epi32(i3a, _mm512_set1_epi32(8));
    _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) _Pragma("GCC unroll 2") for (int g = 0; g < 2; g++) {
        _mm512_store_si512(out[4 * h + 2 * g], _mm512_permutex2var_epi32(U[0][h][g], i3a, U[1][h][g]));
        _mm512_store_si512(out[4 * h + 2 * g + 1], _mm512_permutex2var_epi32(U[0][h][g], i3b, U[1][h][g]));
    }
}

/* Regrouped Q4_0 and Q8_0 (repack.c): record i of the group at w holds the
 * 16 scales, then the codes in tile order: Q8_0's are the B tile as it
 * stands; Q4_0's chunk k has the nibbles of tile rows k and k + 4. */
ALWAYS_INLINE size_t r16_rec(const bool q4) { return 16 * (q4 ? sizeof(blk_q4_0) : sizeof(blk_q8_0)); }
ALWAYS_INLINE void r16_unpack_vnni(const char *w, int64_t i, int8_t out[8][64]) {
    const __m512i lut = q4_lut();
    const char *q = w + (size_t)i * r16_rec(true) + 32;
    _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
        const __m512i R = _mm512_loadu_si512(q + 64 * k);
        _mm512_store_si512(out[k], _mm512_permutexvar_epi8(R, lut));
        _mm512_store_si512(out[k + 4], _mm512_permutexvar_epi8(_mm512_srli_epi16(R, 4), lut));
    }
}

/* The 16 scales of record i of a regrouped group, as floats. */
ALWAYS_INLINE __m512 r16_scales(const bool q4, const char *w, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + (size_t)i * r16_rec(q4))));
}

/* Block i of the 16 rows at w (row-major, wb bytes apart; regrouped: the
 * group's records) as a B tile. */
ALWAYS_INLINE void unpack16_vnni(const bool q4, const bool r16, const char *w, size_t wb, int64_t i,
                                 int8_t out[8][64]) {
    if (r16) r16_unpack_vnni(w, i, out);
    else if (q4) q4_unpack16_vnni(w, wb, i, out);
    else q8_unpack16_vnni(w, wb, i, out);
}

/* acc (lanes = the 16 weight rows) + one block's contribution for one
 * activation row, in the reference's three steps: (d_w * d_x) * (float)isum
 * added to the sum, with isum the tile's 16 int32 results c. */
ALWAYS_INLINE __m512 block_add(__m512 acc, __m512 dw, float dx, const int32_t c[16]) {
    const __m512 t = _mm512_mul_ps(dw, _mm512_set1_ps(dx));
    return _mm512_add_ps(acc, _mm512_mul_ps(t, _mm512_cvtepi32_ps(_mm512_load_si512(c))));
}

/* acc[s] += block i's contribution for activation row s; c[s][r] holds the
 * tile's int32 results. */
ALWAYS_INLINE void float_step(__m512 acc[16], const int32_t c[16][16], const uint8_t *pk, __m512 dw) {
    const float *dx = (const float *)(pk + PACK_TILE);
    _Pragma("GCC unroll 16") for (int s = 0; s < 16; s++) acc[s] = block_add(acc[s], dw, dx[s], c[s]);
}

/* With several 16-row activation groups (B > 16: prompts) each group's
 * pass over a 16-row weight group would widen the same blocks and gather
 * the same scales again (about a quarter of a pass); the first pass keeps
 * them here, nb of each (heap, per gh_amx_matmul_rows call), and the others
 * read them. NULL: the ring in wide_rows serves, as for B <= 16. */
typedef struct {
    int8_t (*u)[8][64]; /* B tile of block i */
    float (*dw)[16];    /* its 16 weight scales */
} wide_cache;

/* The 16 weight scales of block i: gathered (and kept, with a cache, by the
 * first group's pass) or read back from the cache. */
ALWAYS_INLINE __m512 block_scales(const bool q4, const bool r16, wide_cache *cache, int64_t g, const char *w,
                                  size_t wrow, int64_t i) {
    if (cache && g > 0) return _mm512_load_ps(cache->dw[i]);
    const __m512 dw = r16 ? r16_scales(q4, w, i) : wscales16(w, wrow, i, q4 ? sizeof(blk_q4_0) : sizeof(blk_q8_0));
    if (cache) _mm512_store_ps(cache->dw[i], dw);
    return dw;
}

/* Rows [o0, o1) of y (o1 - o0 a multiple of 16) for all B activation rows,
 * from the packed activations, two blocks a step, software-pipelined as in
 * kquants_amx.c: step s makes the B tiles of pair s + 1, stores the tile
 * products of pair s - 1 (issued one step before, so done), runs the float
 * steps of pair s - 2 (stored one step before: no vector load right after
 * the tile store it reads) and issues the tile products of pair s. The
 * float steps still run in block order, so the bits are unchanged. */
ALWAYS_INLINE void wide_rows(const bool q4, const bool r16, float *y, const void *pack, const char *W, size_t wrow, int64_t n_in,
                             int64_t n_out, int64_t B, int64_t o0, int64_t o1, wide_cache *cache) {
    const int64_t nb = n_in / 32, np = nb / 2, G = (B + 15) / 16;
    const size_t bsize = q4 ? sizeof(blk_q4_0) : sizeof(blk_q8_0);
    int32_t c[2][2][16][16] __attribute__((aligned(64))); /* [pair & 1][block of the pair] */
    int8_t u[2][2][8][64] __attribute__((aligned(64)));   /* B tiles of [pair & 1][block] */
    /* block i's B tile: the ring, or the cache (see wide_cache); regrouped
     * Q8_0's is read in place */
#define UT(i) (r16 && !q4 ? (const void *)(w + (size_t)(i) * r16_rec(false) + 32) \
               : cache    ? cache->u[i]                                        \
                          : u[((i) >> 1) & 1][(i) & 1])
    _tile_loadconfig(&g_cfg);
    for (int64_t o = o0; o < o1; o += 16) {
        const char *w = W + (size_t)o * wrow;
        for (int64_t g = 0; g < G; g++) {
            const uint8_t *pg = (const uint8_t *)pack + (size_t)(g * nb) * PACK_BLOCK;
            __m512 acc[16];
            _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) acc[r] = _mm512_setzero_ps();
            for (int64_t s = -1; s <= np + 1; s++) {
                const int64_t n = s + 1; /* widen pair n */
                if (n < np && (g == 0 || !cache)) {
                    if (g == 0 && r16) /* the group's records PF blocks on (2 records: 9 or 17 lines) */
                        for (int r = 0; r < (q4 ? 9 : 17); r++)
                            _mm_prefetch(w + (size_t)(2 * n + PF) * r16_rec(q4) + 64 * r, _MM_HINT_T0);
                    else if (g == 0) /* the weights PF blocks on (2 blocks span at most 2 lines) */
                        _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) {
                            const char *pf = w + (size_t)r * wrow + (size_t)(2 * n + PF) * bsize;
                            _mm_prefetch(pf, _MM_HINT_T0);
                            if (!q4) _mm_prefetch(pf + 64, _MM_HINT_T0);
                        }
                    if (q4 || !r16) {
                        unpack16_vnni(q4, r16, w, wrow, 2 * n, (int8_t(*)[64])UT(2 * n));
                        unpack16_vnni(q4, r16, w, wrow, 2 * n + 1, (int8_t(*)[64])UT(2 * n + 1));
                    }
                }
                if (s >= 1 && s <= np) { /* store pair s - 1 */
                    _tile_stored(TC0, c[(s - 1) & 1][0], 64);
                    _tile_stored(TC1, c[(s - 1) & 1][1], 64);
                }
                if (s >= 2) /* float steps of pair s - 2, in block order */
                    for (int j = 0; j < 2; j++) {
                        const int64_t i = 2 * (s - 2) + j;
                        const int32_t(*cj)[16] = (const int32_t(*)[16])c[s & 1][j];
                        const uint8_t *pk = pg + (size_t)i * PACK_BLOCK;
                        float_step(acc, cj, pk, block_scales(q4, r16, cache, g, w, wrow, i));
                    }
                if (s >= 0 && s < np) { /* tile products of pair s */
                    const int64_t i = 2 * s;
                    GH_COMPILER_BARRIER(); /* the tile loads read u */
                    _tile_zero(TC0);
                    _tile_zero(TC1);
                    _tile_loadd(TA0, pg + (size_t)i * PACK_BLOCK, 32);
                    _tile_loadd(TA1, pg + (size_t)(i + 1) * PACK_BLOCK, 32);
                    _tile_loadd(TB0, UT(2 * s), 64);
                    _tile_loadd(TB1, UT(2 * s + 1), 64);
                    _tile_dpbssd(TC0, TA0, TB0);
                    _tile_dpbssd(TC1, TA1, TB1);
                }
            }
            if (nb & 1) { /* an odd last block, after the pipeline has drained */
                const int64_t i = nb - 1;
                const uint8_t *pk = pg + (size_t)i * PACK_BLOCK;
                _tile_zero(TC0);
                if ((g == 0 || !cache) && (q4 || !r16)) unpack16_vnni(q4, r16, w, wrow, i, (int8_t(*)[64])UT(i));
                GH_COMPILER_BARRIER();
                _tile_loadd(TA0, pk, 32);
                _tile_loadd(TB0, UT(i), 64);
                _tile_dpbssd(TC0, TA0, TB0);
                _tile_stored(TC0, c[0][0], 64);
                float_step(acc, (const int32_t(*)[16])c[0][0], pk, block_scales(q4, r16, cache, g, w, wrow, i));
            }
            /* acc[s] is y[16g + s][o .. o + 15] */
            _Pragma("GCC unroll 16") for (int s = 0; s < 16; s++)
                if (g * 16 + s < B) _mm512_storeu_ps(y + (size_t)(g * 16 + s) * (size_t)n_out + (size_t)o, acc[s]);
        }
    }
#undef UT
    _tile_release();
}

#define WIDE_INST(NAME, Q4, R16)                                                                                  \
    static void NAME(float *y, const void *pack, const char *W, size_t wrow, int64_t n_in, int64_t n_out, int64_t B, \
                     int64_t o0, int64_t o1, wide_cache *cache) {                                                 \
        wide_rows(Q4, R16, y, pack, W, wrow, n_in, n_out, B, o0, o1, cache);                                      \
    }
WIDE_INST(wide_rows_q8, false, false)
WIDE_INST(wide_rows_q4, true, false)
WIDE_INST(wide_rows_r16q8, false, true)
WIDE_INST(wide_rows_r16q4, true, true)

/* ---- Narrow batches (B <= 8): several blocks per result tile ----
 * With B <= 8 a 16 x 16 result tile would hold only B useful rows, yet each
 * block still pays a tile store and a float step per row. So the rows are
 * shared out: with S = 4 (B <= 4) or 8 (B <= 8) rows a block, NB = 16/S
 * consecutive blocks ("a slot") go into one tile, block j of the slot in
 * result rows jS .. jS+S-1 (its A tile holds the activations there and is
 * zero elsewhere, so the tile products of the slot's blocks can accumulate
 * into one C). One tile store then serves NB blocks.
 * Layout per slot: NB A tiles of 512 bytes, then 16 floats d_x (lane
 * jS + s: block j, activation row s; 0 for rows past B). A last slot with
 * fewer blocks leaves the missing blocks' tiles unused. */
/* S, the result rows a block takes in a narrow slot */
static int narrow_span(int64_t B) { return B <= 4 ? 4 : 8; }
static size_t narrow_slot_bytes(int S) { return (size_t)(16 / S) * PACK_TILE + 16 * 4; }

static void narrow_pack(const void *xq, size_t xrow, int64_t nb, int64_t B, void *pack, int64_t i0, int64_t i1) {
    const int S = narrow_span(B), NB = 16 / S;
    for (int64_t i = i0; i < i1; i++) {
        const int j = (int)(i % NB);
        uint8_t *slot = (uint8_t *)pack + (size_t)(i / NB) * narrow_slot_bytes(S);
        uint8_t *t = slot + (size_t)j * PACK_TILE;
        float *dx = (float *)(slot + (size_t)NB * PACK_TILE);
        memset(t, 0, PACK_TILE);
        for (int s = 0; s < S; s++) {
            if (s >= B) { dx[j * S + s] = 0; continue; }
            const blk_q8_0 *x = (const blk_q8_0 *)((const char *)xq + (size_t)s * xrow) + i;
            memcpy(t + (j * S + s) * 32, x->qs, 32); /* block j's A tile, row jS + s */
            dx[j * S + s] = h2f(x->d);
        }
        if (i == nb - 1) /* a last slot's missing blocks: zero scales (never added) */
            for (int l = (j + 1) * S; l < 16; l++) dx[l] = 0;
    }
}

/* Rows [o0, o1) for B <= 8 activation rows from the narrow pack: result
 * row jS + s is (block j of the slot, activation row s) over the 16 weight
 * rows, so the float step is one 16-lane vector per (block, activation
 * row), in block order per activation row: the reference's operations.
 * Pipelined as wide_rows: step q makes the B tiles of slot q + 1, stores
 * the product of slot q - 1, runs the float steps of slot q - 2, issues
 * slot q. */
ALWAYS_INLINE void narrow_rows(const bool q4, const int S, float *y, const void *pack, const char *W, size_t wrow,
                               int64_t n_in, int64_t n_out, int64_t B, int64_t o0, int64_t o1) {
    const int NB = 16 / S;
    const int64_t nb = n_in / 32, nq = (nb + NB - 1) / NB;
    const size_t bsize = q4 ? sizeof(blk_q4_0) : sizeof(blk_q8_0), sb = narrow_slot_bytes(S);
    int32_t c[2][16][16] __attribute__((aligned(64)));
    int8_t u[2][4][8][64] __attribute__((aligned(64)));
    _tile_loadconfig(&g_cfg);
    for (int64_t o = o0; o < o1; o += 16) {
        const char *w = W + (size_t)o * wrow;
        __m512 acc[8];
        _Pragma("GCC unroll 8") for (int a = 0; a < S; a++) acc[a] = _mm512_setzero_ps();
        for (int64_t q = -1; q <= nq + 1; q++) {
            const int64_t n = q + 1; /* widen slot n */
            if (n < nq) {
                const int64_t i0 = n * NB;
                const int nbn = nb - i0 < NB ? (int)(nb - i0) : NB;
                _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) { /* the weights PF blocks on */
                    const char *pf = w + (size_t)r * wrow + (size_t)(i0 + PF) * bsize;
                    for (size_t off = 0; off < (size_t)NB * bsize; off += 64) _mm_prefetch(pf + off, _MM_HINT_T0);
                    _mm_prefetch(pf + (size_t)NB * bsize - 1, _MM_HINT_T0);
                }
                for (int j = 0; j < nbn; j++) unpack16_vnni(q4, false, w, wrow, i0 + j, u[n & 1][j]);
            }
            if (q >= 1 && q <= nq) _tile_stored(TC0, c[(q - 1) & 1], 64); /* slot q - 1 */
            if (q >= 2) { /* float steps of slot q - 2, in block order */
                const int64_t p = q - 2, i0 = p * NB;
                const int nbp = nb - i0 < NB ? (int)(nb - i0) : NB;
                const float *dx = (const float *)((const uint8_t *)pack + (size_t)p * sb + (size_t)NB * PACK_TILE);
                for (int j = 0; j < nbp; j++) {
                    const __m512 dw = wscales16(w, wrow, i0 + j, bsize);
                    _Pragma("GCC unroll 8") for (int a = 0; a < S; a++)
                        acc[a] = block_add(acc[a], dw, dx[j * S + a], c[p & 1][j * S + a]);
                }
            }
            if (q >= 0 && q < nq) { /* tile products of slot q */
                const int64_t i0 = q * NB;
                const int nbq = nb - i0 < NB ? (int)(nb - i0) : NB;
                const uint8_t *slot = (const uint8_t *)pack + (size_t)q * sb;
                GH_COMPILER_BARRIER(); /* the tile loads read u */
                _tile_zero(TC0);
                for (int j = 0; j < nbq; j++) {
                    if (j & 1) {
                        _tile_loadd(TA1, slot + (size_t)j * PACK_TILE, 32);
                        _tile_loadd(TB1, u[q & 1][j], 64);
                        _tile_dpbssd(TC0, TA1, TB1);
                    } else {
                        _tile_loadd(TA0, slot + (size_t)j * PACK_TILE, 32);
                        _tile_loadd(TB0, u[q & 1][j], 64);
                        _tile_dpbssd(TC0, TA0, TB0);
                    }
                }
            }
        }
        /* acc[a] is y[a][o .. o + 15] */
        _Pragma("GCC unroll 8") for (int a = 0; a < S; a++)
            if (a < B) _mm512_storeu_ps(y + (size_t)a * (size_t)n_out + (size_t)o, acc[a]);
    }
    _tile_release();
}

#define NARROW_INST(NAME, Q4, S)                                                                                \
    static void NAME(float *y, const void *pack, const char *W, size_t wrow, int64_t n_in, int64_t n_out, int64_t B, \
                     int64_t o0, int64_t o1) {                                                                     \
        narrow_rows(Q4, S, y, pack, W, wrow, n_in, n_out, B, o0, o1);                                             \
    }
NARROW_INST(narrow_q8_4, false, 4)
NARROW_INST(narrow_q8_8, false, 8)
NARROW_INST(narrow_q4_4, true, 4)
NARROW_INST(narrow_q4_8, true, 8)

/* A wide product's rows, with the cache of widened blocks for B > 16 */
static void wide_product(bool q4, bool r16, float *y, const void *pack, const void *W, size_t wrow, int64_t n_in,
                         int64_t n_out, int64_t B, int64_t o0, int64_t o1) {
    const int64_t nb = n_in / 32;
    wide_cache cache = {0}, *cp = NULL;
    if (B > 16) {
        cache.u = aligned_alloc(64, (size_t)nb * sizeof *cache.u);
        cache.dw = aligned_alloc(64, (size_t)nb * sizeof *cache.dw);
        if (cache.u && cache.dw) cp = &cache; /* else (no memory): widen per group */
    }
    if (r16) (q4 ? wide_rows_r16q4 : wide_rows_r16q8)(y, pack, W, wrow, n_in, n_out, B, o0, o1, cp);
    else if (q4) wide_rows_q4(y, pack, W, wrow, n_in, n_out, B, o0, o1, cp);
    else wide_rows_q8(y, pack, W, wrow, n_in, n_out, B, o0, o1, cp);
    free(cache.u);
    free(cache.dw);
}

void gh_amx_matmul_rows(gh_type wtype, float *y, const void *pack, const void *W, size_t wrow, int64_t n_in,
                        int64_t n_out, int64_t B, int64_t o0, int64_t o1) {
    const bool q4 = wtype == GH_TYPE_Q4_0;
    if (B <= NARROW_MAX_B) {
        const bool four = narrow_span(B) == 4;
        (q4 ? (four ? narrow_q4_4 : narrow_q4_8) : (four ? narrow_q8_4 : narrow_q8_8))(y, pack, W, wrow, n_in, n_out, B,
                                                                                      o0, o1);
        return;
    }
    wide_product(q4, false, y, pack, W, wrow, n_in, n_out, B, o0, o1);
}

/* ---- Regrouped Q4_0 and Q8_0 (GH_TYPE_Q4_0_R16, GH_TYPE_Q8_0_R16, repack.c) ----
 * B > GH_R16_VNNI_MAX_B: the wide AMX kernel above, whose B tiles are now
 * the records' bytes (Q8_0) or widened from them with no transpose (Q4_0),
 * and whose scales are a load instead of a gather.
 * B <= GH_R16_VNNI_MAX_B (decode of one to a few sequences): AVX-512 VNNI
 * with one 32-bit lane per weight row. VPDPBUSD multiplies unsigned bytes by
 * signed ones, 4 products a lane; 8 of them give a block's integer dot
 * product, corrected to the reference's exact int32:
 *   Q4_0: chunk k holds, per row, the 4 code bytes whose low nibbles are
 *         elements 4k .. 4k+3 and whose high ones are 16 + 4k .. 19 + 4k; the
 *         masked nibbles (0 .. 15) are the unsigned side, the activation's
 *         dword k (or k + 4) broadcast the signed one, and the sum starts
 *         from -8 * sum x, giving sum (q - 8) * x;
 *   Q8_0: chunk k holds elements 4k .. 4k+3 of each row (signed); the
 *         activation is the unsigned side as x + 128, and the sum starts from
 *         -128 * sum w (the rows' sums, by VPDPBUSD with bytes of 1), giving
 *         sum w * x.
 * The float step is the reference's three operations, lanes = weight rows.
 * The activations are repacked per product (gh_r16_xpack): each block's
 * codes (Q8_0: + 128), its scale as a float and (Q4_0) -8 * the codes' sum,
 * 40 bytes. */
typedef struct {
    int8_t q[32]; /* Q8_0 weights: the codes + 128, as unsigned bytes */
    float d;      /* the block's scale */
    int32_t m8s;  /* Q4_0 weights: -8 * sum of the codes */
} r16_xblk;

size_t gh_r16_xsize(int64_t n_in, int64_t B) { return (size_t)B * (size_t)(n_in / 32) * sizeof(r16_xblk); }

void gh_r16_xpack(gh_type wtype, const void *xq, size_t xrow, int64_t n_in, int64_t B, void *xa, int64_t i0,
                  int64_t i1) {
    const int64_t nb = n_in / 32;
    const bool q4 = wtype == GH_TYPE_Q4_0_R16;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = i0; i < i1; i++) {
            const blk_q8_0 *x = (const blk_q8_0 *)((const char *)xq + (size_t)b * xrow) + i;
            r16_xblk *o = (r16_xblk *)xa + b * nb + i;
            int32_t sum = 0;
            for (int j = 0; j < 32; j++) {
                sum += x->qs[j];
                o->q[j] = (int8_t)(q4 ? (uint8_t)x->qs[j] : (uint8_t)(x->qs[j] + 128));
            }
            o->d = h2f(x->d);
            o->m8s = q4 ? -8 * sum : 0;
        }
}

ALWAYS_INLINE __m512i bcast32(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* Groups [o0, o1) of 16 rows for NB activation rows: y[b][o .. o + 15]. */
ALWAYS_INLINE void r16_vnni_rows(const bool q4, const int NB, float *y, const r16_xblk *xa, const char *W, size_t wrow,
                                 int64_t n_in, int64_t n_out, int64_t o0, int64_t o1) {
    const int64_t nb = n_in / 32;
    const size_t rec_bytes = r16_rec(q4);
    const __m512i m4 = _mm512_set1_epi8(15), ones = _mm512_set1_epi8(1);
    for (int64_t o = o0; o < o1; o += 16) {
        const char *w = W + (size_t)o * wrow;
        __m512 acc[8];
        _Pragma("GCC unroll 8") for (int b = 0; b < NB; b++) acc[b] = _mm512_setzero_ps();
        for (int64_t i = 0; i < nb; i++) {
            const char *rec = w + (size_t)i * rec_bytes;
            for (int l = 0; l < (q4 ? 5 : 9); l++)
                _mm_prefetch(rec + R16_PF + 64 * l, _MM_HINT_T0);
            const __m512 dw = r16_scales(q4, w, i);
            __m512i wk[8], init = _mm512_setzero_si512(); /* the weights' operand for activation dword k */
            if (q4) {
                _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
                    const __m512i R = _mm512_loadu_si512(rec + 32 + 64 * k);
                    wk[k] = _mm512_and_si512(R, m4);
                    wk[k + 4] = _mm512_and_si512(_mm512_srli_epi16(R, 4), m4);
                }
            } else {
                __m512i ws = _mm512_setzero_si512();
                _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {
                    wk[k] = _mm512_loadu_si512(rec + 32 + 64 * k);
                    ws = _mm512_dpbusd_epi32(ws, ones, wk[k]);
                }
                init = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(ws, 7));
            }
            _Pragma("GCC unroll 8") for (int b = 0; b < NB; b++) {
                const r16_xblk *x = xa + b * nb + i;
                __m512i s = q4 ? _mm512_set1_epi32(x->m8s) : init;
                _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++)
                    s = q4 ? _mm512_dpbusd_epi32(s, wk[k], bcast32(x->q + 4 * k))
                           : _mm512_dpbusd_epi32(s, bcast32(x->q + 4 * k), wk[k]);
                const __m512 t = _mm512_mul_ps(dw, _mm512_set1_ps(x->d));
                acc[b] = _mm512_add_ps(acc[b], _mm512_mul_ps(t, _mm512_cvtepi32_ps(s)));
            }
        }
        _Pragma("GCC unroll 8") for (int b = 0; b < NB; b++) _mm512_storeu_ps(y + (size_t)b * (size_t)n_out + o, acc[b]);
    }
}

typedef void (*r16_vnni_fn)(float *, const r16_xblk *, const char *, size_t, int64_t, int64_t, int64_t, int64_t);
#define R16_INST(NB)                                                                                               \
    static void r16_vnni_q4_##NB(float *y, const r16_xblk *xa, const char *W, size_t wrow, int64_t n_in,            \
                                 int64_t n_out, int64_t o0, int64_t o1) {                                          \
        r16_vnni_rows(true, NB, y, xa, W, wrow, n_in, n_out, o0, o1);                                             \
    }                                                                                                              \
    static void r16_vnni_q8_##NB(float *y, const r16_xblk *xa, const char *W, size_t wrow, int64_t n_in,            \
                                 int64_t n_out, int64_t o0, int64_t o1) {                                          \
        r16_vnni_rows(false, NB, y, xa, W, wrow, n_in, n_out, o0, o1);                                            \
    }
R16_INST(1)
R16_INST(2)
R16_INST(3)
R16_INST(4)
R16_INST(5)
R16_INST(6)
R16_INST(7)
R16_INST(8)
/* one pass over the weights for any B <= 8 (two passes of 4 and 2 rows
 * measured 141 against 190 tokens/s for 6 sequences of q4_0) */
static const r16_vnni_fn r16_vnni[2][GH_R16_VNNI_MAX_B + 1] = {
    {NULL, r16_vnni_q8_1, r16_vnni_q8_2, r16_vnni_q8_3, r16_vnni_q8_4, r16_vnni_q8_5, r16_vnni_q8_6, r16_vnni_q8_7,
     r16_vnni_q8_8},
    {NULL, r16_vnni_q4_1, r16_vnni_q4_2, r16_vnni_q4_3, r16_vnni_q4_4, r16_vnni_q4_5, r16_vnni_q4_6, r16_vnni_q4_7,
     r16_vnni_q4_8}};

void gh_r16_matmul_rows(gh_type wtype, float *y, const void *xa, const void *pack, const void *W, int64_t n_in,
                        int64_t n_out, int64_t B, int64_t o0, int64_t o1) {
    const bool q4 = wtype == GH_TYPE_Q4_0_R16;
    const size_t wrow = (size_t)(n_in / 32) * (q4 ? sizeof(blk_q4_0) : sizeof(blk_q8_0));
    if (B > GH_R16_VNNI_MAX_B) {
        wide_product(q4, true, y, pack, W, wrow, n_in, n_out, B, o0, o1);
        return;
    }
    r16_vnni[q4][B](y, xa, W, wrow, n_in, n_out, o0, o1);
}
