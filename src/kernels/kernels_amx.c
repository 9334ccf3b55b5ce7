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
 * f32 operations. A tile product gives isum_i exactly for 16 rows x 16
 * activation rows; the float step then runs with one 16-lane vector per
 * weight row (lanes = activation rows), in block order, with the same three
 * operations. So y[b][o] is bitwise what the AVX2 tiles and the reference
 * give, whatever B or the thread count (kernels.h's contract).
 *
 * Layout. Activations (already quantized to Q8_0 rows) are packed once per
 * product by gh_amx_pack: for each group of 16 rows and each block i, the
 * 8 x 64-byte "B" tile in AMX's VNNI order (tile row k holds, for each of the
 * 16 activation rows, its bytes 4k..4k+3 of the block), then the 16 scales
 * d_x as floats. Missing rows of the last group are zero. Weights are read
 * in place: a Q8_0 block's 32 quants of 16 consecutive rows form the "A"
 * tile directly (row stride = the weight row's bytes); Q4_0's nibbles are
 * first widened to 16 x 32 signed bytes q - 8 (q4_unpack16), so both types
 * take TDPBSSD and its int32 is the reference's integer as it stands.
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

size_t gh_amx_pack_size(int64_t n_in, int64_t B) {
    return (size_t)((B + 15) / 16) * (size_t)(n_in / 32) * PACK_BLOCK;
}

/* Packs block range [i0, i1) of every group (threads split the blocks). */
void gh_amx_pack(const void *xq, size_t xrow, int64_t n_in, int64_t B, void *pack, int64_t i0, int64_t i1) {
    const int64_t nb = n_in / 32, G = (B + 15) / 16;
    for (int64_t g = 0; g < G; g++)
        for (int64_t i = i0; i < i1; i++) {
            uint8_t *p = (uint8_t *)pack + (size_t)(g * nb + i) * PACK_BLOCK;
            float *dx = (float *)(p + PACK_TILE);
            for (int s = 0; s < 16; s++) {
                const int64_t b = g * 16 + s;
                if (b >= B) {
                    for (int k = 0; k < 8; k++) memset(p + k * 64 + s * 4, 0, 4);
                    dx[s] = 0;
                    continue;
                }
                const blk_q8_0 *x = (const blk_q8_0 *)((const char *)xq + (size_t)b * xrow) + i;
                for (int k = 0; k < 8; k++) memcpy(p + k * 64 + s * 4, x->qs + 4 * k, 4);
                dx[s] = h2f(x->d);
            }
        }
}

/* Tile registers: C0/C1 results of blocks i and i+1, A0/A1 their weights,
 * B0/B1 their activations (literal numbers: the intrinsics paste them into
 * the register names). */
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

/* Widens 16 rows' Q4_0 block i to 16 x 32 signed bytes q - 8 (element j < 16
 * is the low nibble of qs[j], j + 16 the high one), four rows a register:
 * vpermb with a table maps a byte's low 6 bits to (bits & 15) - 8, and one
 * vpermt2q per two rows puts row r's low and high halves side by side.
 * Measured against 16 rows one at a time with 128-bit and/shift (and an
 * unsigned product minus 8*sum(x) in the float step): 5632 x 1024, B = 16,
 * one thread, three interleaved runs, 0.49-0.53 ms against 0.53-0.56 ms.
 * Tried and slower: gathering the rows with a strided tile load (the vector
 * loads then wait for the tile store), and splitting each block by K into
 * low and high halves (no permutes, but two tile products per block). */
ALWAYS_INLINE void q4_unpack16(const char *w, size_t wb, int64_t i, int8_t out[16][32]) {
    const __m512i lut = _mm512_sub_epi8(
        _mm512_and_si512(_mm512_set_epi8(63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45,
                                         44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26,
                                         25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6,
                                         5, 4, 3, 2, 1, 0),
                         _mm512_set1_epi8(15)),
        _mm512_set1_epi8(8));
    /* qwords of [lo rows r..r+3 | hi rows r..r+3] -> rows r, r+1 and r+2, r+3 as [lo | hi] */
    const __m512i i01 = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), i23 = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
#define Q4ROW(r) _mm_loadu_si128((const __m128i *)((const blk_q4_0 *)(w + (size_t)(r) * wb) + i)->qs)
    for (int q = 0; q < 4; q++) {
        const __m512i v = _mm512_inserti32x4(
            _mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(Q4ROW(4 * q)), Q4ROW(4 * q + 1), 1),
                               Q4ROW(4 * q + 2), 2),
            Q4ROW(4 * q + 3), 3);
        const __m512i lo = _mm512_permutexvar_epi8(v, lut);
        const __m512i hi = _mm512_permutexvar_epi8(_mm512_srli_epi16(v, 4), lut);
        _mm512_store_si512(out[4 * q], _mm512_permutex2var_epi64(lo, i01, hi));
        _mm512_store_si512(out[4 * q + 2], _mm512_permutex2var_epi64(lo, i23, hi));
    }
#undef Q4ROW
}

/* The 16 weight scales of block i of rows w, w + wb, ..., as floats. */
ALWAYS_INLINE __m512 wscales16(const char *w, size_t wb, int64_t i, size_t bsize) {
    /* d is the block's first 2 bytes */
    __m512i v = _mm512_i32gather_epi32(gh_amx_row_offsets(wb), w + (size_t)i * bsize, 1);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
}

/* acc[r] (lanes = 16 activation rows) += block i's contribution, in the
 * reference's three steps; c holds the tile's int32 results. */
ALWAYS_INLINE void float_step(__m512 acc[16], const int32_t c[16][16], const uint8_t *pk, __m512 dw) {
    const __m512 dx = _mm512_loadu_ps((const float *)(pk + PACK_TILE));
    float dws[16];
    _mm512_storeu_ps(dws, dw);
    /* fully unrolled, so acc[] stays in 16 zmm registers */
    _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) {
        const __m512i is = _mm512_loadu_si512(c[r]);
        __m512 s = _mm512_mul_ps(_mm512_set1_ps(dws[r]), dx);
        acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(s, _mm512_cvtepi32_ps(is)));
    }
}

/* weight prefetch distance in blocks */
#ifndef PF
#define PF 12
#endif

/* Rows [o0, o1) of y (o1 - o0 a multiple of 16) for all B activation rows,
 * from the packed activations. */
static void amx_rows(bool q4, float *y, const void *pack, const char *W, size_t wrow, int64_t n_in, int64_t n_out,
                     int64_t B, int64_t o0, int64_t o1) {
    const int64_t nb = n_in / 32, G = (B + 15) / 16;
    const size_t bsize = q4 ? sizeof(blk_q4_0) : sizeof(blk_q8_0);
    int32_t c0[16][16] __attribute__((aligned(64))), c1[16][16] __attribute__((aligned(64)));
    int8_t u0[16][32] __attribute__((aligned(64))), u1[16][32] __attribute__((aligned(64)));
    float out[16][16] __attribute__((aligned(64)));
    _tile_loadconfig(&g_cfg);
    for (int64_t o = o0; o < o1; o += 16) {
        const char *w = W + (size_t)o * wrow;
        for (int64_t g = 0; g < G; g++) {
            const uint8_t *pg = (const uint8_t *)pack + (size_t)(g * nb) * PACK_BLOCK;
            __m512 acc[16];
            for (int r = 0; r < 16; r++) acc[r] = _mm512_setzero_ps();
            int64_t i = 0;
            for (; i + 2 <= nb; i += 2) {
                if (g == 0) /* the weights PF blocks on (the 2 blocks of a step span at most 2 lines) */
                    _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) {
                        const char *pf = w + (size_t)r * wrow + (size_t)(i + PF) * bsize;
                        _mm_prefetch(pf, _MM_HINT_T0);
                        if (!q4) _mm_prefetch(pf + 64, _MM_HINT_T0);
                    }
                _tile_zero(TC0);
                _tile_zero(TC1);
                _tile_loadd(TB0, pg + (size_t)i * PACK_BLOCK, 64);
                _tile_loadd(TB1, pg + (size_t)(i + 1) * PACK_BLOCK, 64);
                if (q4) {
                    q4_unpack16(w, wrow, i, u0);
                    q4_unpack16(w, wrow, i + 1, u1);
                    GH_COMPILER_BARRIER(); /* the tile loads read u0, u1 */
                    _tile_loadd(TA0, u0, 32);
                    _tile_loadd(TA1, u1, 32);
                    _tile_dpbssd(TC0, TA0, TB0);
                    _tile_dpbssd(TC1, TA1, TB1);
                } else {
                    _tile_loadd(TA0, w + (size_t)i * bsize + 2, (long)wrow);
                    _tile_loadd(TA1, w + (size_t)(i + 1) * bsize + 2, (long)wrow);
                    _tile_dpbssd(TC0, TA0, TB0);
                    _tile_dpbssd(TC1, TA1, TB1);
                }
                _tile_stored(TC0, c0, 64);
                _tile_stored(TC1, c1, 64);
                float_step(acc, (const int32_t(*)[16])c0, pg + (size_t)i * PACK_BLOCK, wscales16(w, wrow, i, bsize));
                float_step(acc, (const int32_t(*)[16])c1, pg + (size_t)(i + 1) * PACK_BLOCK,
                           wscales16(w, wrow, i + 1, bsize));
            }
            if (i < nb) { /* an odd last block */
                _tile_zero(TC0);
                _tile_loadd(TB0, pg + (size_t)i * PACK_BLOCK, 64);
                if (q4) {
                    q4_unpack16(w, wrow, i, u0);
                    GH_COMPILER_BARRIER();
                    _tile_loadd(TA0, u0, 32);
                    _tile_dpbssd(TC0, TA0, TB0);
                } else {
                    _tile_loadd(TA0, w + (size_t)i * bsize + 2, (long)wrow);
                    _tile_dpbssd(TC0, TA0, TB0);
                }
                _tile_stored(TC0, c0, 64);
                float_step(acc, (const int32_t(*)[16])c0, pg + (size_t)i * PACK_BLOCK, wscales16(w, wrow, i, bsize));
            }
            /* acc[r] lane s is y[16g + s][o + r] */
            for (int r = 0; r < 16; r++) _mm512_store_ps(out[r], acc[r]);
            for (int s = 0; s < 16 && g * 16 + s < B; s++)
                for (int r = 0; r < 16; r++) y[(size_t)(g * 16 + s) * (size_t)n_out + (size_t)(o + r)] = out[r][s];
        }
    }
    _tile_release();
}

void gh_amx_matmul_rows(gh_type wtype, float *y, const void *pack, const void *W, size_t wrow, int64_t n_in,
                        int64_t n_out, int64_t B, int64_t o0, int64_t o1) {
    amx_rows(wtype == GH_TYPE_Q4_0, y, pack, W, wrow, n_in, n_out, B, o0, o1);
}
