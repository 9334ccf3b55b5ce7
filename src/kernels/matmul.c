/* matmul.c — y[B, n_out] = x[B, n_in] . W[n_out, n_in]^T, the product every
 * linear layer runs on, and its one-pair-at-a-time reference.
 *
 * gh_matmul is gh_matmul_multi with one matrix; with several (a layer's q/k/v
 * or gate/up, same type and input) steps 1 and the packing run once and the
 * chunks of step 2 cover the rows of all the matrices in one parallel region.
 *
 * Plan of gh_matmul:
 *   1. the B activation rows are converted once to the weight type's
 *      vec_dot_type (Q8_0 / Q8_K) into the scratch `wdata` (rows split over
 *      the threads), then a barrier;
 *   2. output rows are split into one contiguous range per thread (B < 4,
 *      memory-bound) or chunks of ~1 MiB of weights
 *      handed out dynamically (B >= 4); a thread walks its rows in groups of
 *      R weight rows and, for
 *      each group,
 *      over all activation rows in tiles of C — so a group's weights are read
 *      from memory once and then stay in L1/L2 while all B activations pass.
 *      When B activation rows would not fit in L2 (prompt processing with big
 *      rows), the activations are taken in chunks of ~1 MiB and the weights
 *      are re-read once per chunk.
 *   3. float weights and B >= 4: with AVX-512 the activations are copied once
 *      into column pairs (pack_pairs, F32) or padded rows (pack_rows, F16
 *      and BF16) and pair_rows / rpair_rows run the pair-packed or row-pair
 *      tiles over whole rows; with AVX2 only, the tiles of step 2 read
 *      the activation rows in place (matmul_rows says why not in k-chunks).
 *   4. quantized weights (Q8_0, Q4_0, Q4_K, Q6_K) with B >= AMX_MIN_B on a
 *      CPU with AMX: the activations are also packed into AMX tile order
 *      (after another barrier) and kernels_amx.c / kquants_amx.c compute
 *      16-row groups with the tile unit; rows past the last whole group take
 *      the tiles of step 2.
 *   5. regrouped Q4_0 / Q8_0 (GH_TYPE_*_R16: a copied model's matrices of
 *      those types on a CPU with AMX, 16 rows' blocks side by side,
 *      repack.c): for any B
 *      the activations are repacked for the VNNI kernel (B <= 8) or, for
 *      AMX, quantized straight into its packed layout (gh_amx_pack_f32: one
 *      pass and one barrier instead of steps 1 and 4's two; a q4_0 N = 16
 *      step ran ~89 products at ~9 us of quantizing and ~7 us of packing
 *      each, per thread), and kernels_amx.c computes whole 16-row groups. K-quants
 *      whose matrices are all whole 16-row groups are quantized straight
 *      into their AMX pack the same way (gh_amx_kq_pack_f32).
 *   6. F16 regrouped in row pairs (GH_TYPE_F16_R2, CPUs with AVX-512): the
 *      row-pair tiles for B >= 4, AVX2 tiles that read the pairs below.
 * Tiles (R x C, from kernels_avx2.c, or kernels_avx512.c for R x 4 and R x 8
 * where the CPU has AVX-512 VNNI: the same bits) only interleave independent
 * per-pair chains, and the quantized tiles and AMX products all keep the
 * reference's per-block order, so
 * y[b][o] is bitwise the same for every B, thread count and tile shape
 * (kernels.h's determinism contract; tests/kernels check it).
 * Without AVX2 (or with GH_SIMD=scalar) each pair runs the _ref vec_dot, which
 * makes gh_matmul bitwise equal to gh_matmul_ref.
 */
#include "kernels/amx.h"
#include "kernels/kernels_internal.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

/* Bytes of one row of n elements of a type (n a multiple of the block size). */
static size_t row_bytes(const gh_type_traits *t, int64_t n) {
    return (size_t)(n / t->blck_size) * t->type_size;
}

/* AMX takes quantized products from this many activation rows on: measured
 * on a 5632 x 2048 Q8_0/Q4_0 matrix, 1 thread, AMX (16 rows padded) against
 * the AVX-512 tiles: B = 4 1.53 vs 1.99 ms, B = 8 1.53 vs 2.77 ms; below 4
 * the product is memory-bound and gh_matmul keeps its contiguous-range path. */
#ifndef AMX_MIN_B
#define AMX_MIN_B 4
#endif
static bool is_kquant(gh_type t) { return t == GH_TYPE_Q4_K || t == GH_TYPE_Q6_K; }
static bool use_amx(gh_type wtype, int64_t B, int64_t n_in) {
    const gh_type_traits *t = gh_get_type_traits(wtype);
    /* the kernels gather a block's 16 row scales with 32-bit offsets */
    const bool fits = t && 15 * (int64_t)row_bytes(t, n_in) < INT32_MAX;
    return B >= AMX_MIN_B && fits && (wtype == GH_TYPE_Q8_0 || wtype == GH_TYPE_Q4_0 || is_kquant(wtype)) &&
           gh_kernels_use_amx();
}
/* The AMX entry points of the weight type's kernel file (amx.h). */
static size_t amx_pack_size(gh_type wtype, int64_t n_in, int64_t B) {
    return is_kquant(wtype) ? gh_amx_kq_pack_size(n_in, B) : gh_amx_pack_size(n_in, B);
}
static void amx_pack(gh_type wtype, const void *xq, size_t xrow, int64_t n_in, int64_t B, void *pack, int64_t i0,
                     int64_t i1) {
    if (is_kquant(wtype)) gh_amx_kq_pack(xq, xrow, n_in, B, pack, i0, i1);
    else gh_amx_pack(xq, xrow, n_in, B, pack, i0, i1);
}
static void amx_rows(gh_type wtype, float *y, const void *pack, const void *W, size_t wrow, int64_t n_in,
                     int64_t n_out, int64_t B, int64_t o0, int64_t o1) {
    if (is_kquant(wtype)) gh_amx_kq_matmul_rows(wtype, y, pack, W, wrow, n_in, n_out, B, o0, o1);
    else gh_amx_matmul_rows(wtype, y, pack, W, wrow, n_in, n_out, B, o0, o1);
}

/* Float weights, AVX-512 and B >= 4: the activations are copied once into
 * pairs (gh_ptile_fn in kernels_internal.h) in the scratch. A pair is
 * n_in/8 steps of 16 floats plus 16 floats of padding, so that pairs of
 * power-of-two rows do not fall on the same L1 sets. */
static bool use_pairs(gh_type wtype, int64_t B) {
    return B >= 4 && gh_kernels_use_avx512() && gh_ptile_avx512(wtype, 1, 1) != NULL;
}
/* F16/BF16 weights, AVX-512 and B >= 4: row-pair tiles (gh_rptile_fn) on a
 * copy of the activations with rows n_in + 16 floats apart, so that rows of
 * a power-of-two length do not fall on the same L1 sets. */
static bool use_rpairs(gh_type wtype, int64_t B) {
    return B >= 4 && gh_kernels_use_avx512() && gh_rptile_avx512(wtype, 1, 1) != NULL;
}
static size_t rp_stride(int64_t n_in) { return (size_t)n_in + 16; }
static void pack_rows(const float *x, int64_t n_in, float *xr, int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; b++) memcpy(xr + (size_t)b * rp_stride(n_in), x + b * n_in, (size_t)n_in * 4);
}
static size_t pair_stride(int64_t n_in) { return (size_t)(n_in / 8) * 16 + 16; }
static void pack_pairs(const float *x, int64_t n_in, int64_t B, float *xp, int64_t p0, int64_t p1) {
    const size_t ps = pair_stride(n_in);
    for (int64_t p = p0; p < p1; p++) {
        const float *a = x + 2 * p * n_in, *b = 2 * p + 1 < B ? a + n_in : NULL;
        float *d = xp + (size_t)p * ps;
        for (int64_t s = 0; s < n_in / 8; s++)
            for (int j = 0; j < 8; j++) {
                d[16 * s + j] = a[8 * s + j];
                d[16 * s + 8 + j] = b ? b[8 * s + j] : 0.0f;
            }
    }
}

size_t gh_matmul_wsize(gh_type wtype, int64_t n_in, int64_t B) {
    if (wtype == GH_TYPE_F16_R2) /* the row-pair tiles' padded activation rows (B >= 4) */
        return B > 0 && gh_kernels_use_avx512() ? (size_t)B * rp_stride(n_in) * 4 + 64 : 0;
    if (gh_regrouped_base(wtype) != GH_TYPE_COUNT) { /* Q8_0 rows, then (64-byte aligned) their VNNI repacking or AMX packing */
        if (B <= 0 || !gh_kernels_use_amx()) return 0;
        const size_t q = (size_t)B * (size_t)(n_in / 32) * sizeof(blk_q8_0);
        return q + 64 + (B <= GH_R16_VNNI_MAX_B ? gh_r16_xsize(n_in, B) : gh_amx_pack_size(n_in, B));
    }
    const gh_type_traits *t = gh_get_type_traits(wtype);
    if (!t || B <= 0) return 0;
    if (t->vec_dot_type == GH_TYPE_F32)
        return use_pairs(wtype, B)    ? (size_t)((B + 1) / 2) * pair_stride(n_in) * 4 + 64
               : use_rpairs(wtype, B) ? (size_t)B * rp_stride(n_in) * 4 + 64
                                      : 0;
    size_t q = (size_t)B * row_bytes(gh_get_type_traits(t->vec_dot_type), n_in);
    /* AMX: the packed activations follow, 64-byte aligned */
    return use_amx(wtype, B, n_in) ? q + 64 + amx_pack_size(wtype, n_in, B) : q;
}

/* The tile for (R, C): AVX-512 where `use512` (the dispatcher chose AVX-512)
 * and that shape exists for the type (R x 4, R x 8, and 4 x 1 for batch 1),
 * else AVX2. Both give the same bits, so mixing them within a product is
 * safe. */
static gh_tile_fn pick_tile(gh_type t, int R, int C, bool use512) {
    gh_tile_fn f = use512 ? gh_tile_avx512(t, R, C) : NULL;
    return f ? f : gh_tile_avx2(t, R, C);
}

/* rows of the F32 batch tile on AVX2 alone */
#define F32_R 3
/* from this many activation rows on, F16/BF16 rows are widened to f32 once
 * on AVX2 alone (matmul_rows) */
#define WIDEN_MIN_B 12

/* Tile shape per weight type: (rows R, activation columns C) of the main tile.
 * Measured with bench/kernels_tile_probe.c on cache-resident data (AVX2,
 * Sapphire Rapids VM): 4x1 is the fastest B=1 shape for every type (4
 * independent chains, 4 weight streams; on AMD Zen 1 the K-quants' 2x1 is
 * faster); for B >= 4 the float tiles run best
 * at 2x4 (8 accumulators + 2 weight vectors in 16 ymm; on Zen 1 F32 3x4 and
 * F16 1x4, below), the K-quants at 1x4
 * (their weight unpacking needs the registers). Q8_0/Q4_0 take 2x2 on AVX2
 * for every B >= 2: tiles of up to 4 pairs work on 128-bit halves, which
 * on a 2-core AMD EPYC (Zen 1) beat every larger shape: 15.7 (Q4_0) and 14.9
 * (Q8_0) GMAC/s in the probe against 14.0 and 13.7 for 4x4 (itself ahead of
 * 2x4), and the 1.1B models' N = 16 decode went 20.7 (2x4) -> 22.6 (4x4) ->
 * 25.6 tokens/s for q4_0, 22.0 -> 23.7 -> 24.4 for q8_0. */
static void tile_shape(gh_type t, int64_t B, bool use512, bool t512, int *R, int *C) {
    bool kq = t == GH_TYPE_Q4_K || t == GH_TYPE_Q6_K, q80 = t == GH_TYPE_Q8_0 || t == GH_TYPE_Q4_0;
    /* K-quants on AVX2-only CPUs: 2x1 (on a 2-core EPYC, Zen 1, 1.1B batch 1:
     * q4_K 16.8 -> 19.2, q6_K 15.0 -> 15.9 tokens/s against 4x1) */
    if (B == 1) { *R = t == GH_TYPE_F16_R2 ? 8 : kq && !use512 ? 2 : 4; *C = 1; return; } /* F16 pairs: 4 pair streams */
    /* Q8_0/Q4_0 without AVX-512 tiles: 2x2, whose 4 pairs run on 128-bit halves */
    if (q80 && !t512) { *R = 2; *C = 2; return; }
    if (B == 2) { *R = kq ? 2 : 4; *C = 2; return; }
    /* AVX-512 tiles (32 registers, two pairs per accumulator) take 4x8 */
    /* F16 on AVX2 alone: 1x4 (Zen 1, 1.1B N = 4 19.6 -> 23.1, N = 16 22.6
     * -> 23.6 tokens/s against 2x4). F32 on AVX2 alone: 3x4, 7 loads per 12
     * FMAs against 2x4's 6 per 8; the rows and activations come from L2,
     * whose bandwidth bounded 2x4 (Zen 1: probe 15 -> 19.5 GMAC/s a core,
     * 1.1B f32 N = 16 24.5 -> 30.4 tokens/s, 64-token prompt 27.4 -> 35.0) */
    *R = kq || (t == GH_TYPE_F16 && !t512) ? 1 : t512 ? 4 : t == GH_TYPE_F32 ? F32_R : 2;
    *C = t512 ? 8 : 4;
}

static inline int fit(int want, int64_t left) {
    if (left >= want) return want;
    return left >= 4 ? 4 : left >= 2 ? 2 : 1;
}

/* From this many activation rows on, output rows are handed out in chunks of
 * ~1 MiB of weights (below: one contiguous range per thread) and the
 * batch-only paths (AMX, pair-packed and row-pair tiles) take over. */
#ifndef BATCH_MIN_B
#define BATCH_MIN_B 4
#endif

/* One thread's share: output rows [o0, o1) for all B activation rows. */
static void matmul_rows(float *y, const void *xq, size_t xrow, const void *W,
                        size_t wrow, gh_type wtype, const gh_type_traits *tt, int64_t n_in, int64_t n_out,
                        int64_t B, int64_t o0, int64_t o1, bool simd) {
    const char *wp = W, *xp = xq;
    if (!simd) {
        for (int64_t o = o0; o < o1; o++)
            for (int64_t b = 0; b < B; b++)
                tt->vec_dot_ref(n_in, &y[b * n_out + o], wp + (size_t)o * wrow, xp + (size_t)b * xrow);
        return;
    }
    int R, C;
    /* every type with an AVX-512 R x 8 tile has all of R x {4, 8} */
    const bool use512 = gh_kernels_use_avx512(), t512 = use512 && gh_tile_avx512(wtype, 4, 8) != NULL;
    tile_shape(wtype, B, use512, t512, &R, &C);
    if (!gh_tile_avx2(wtype, 2, 1)) { /* a type without SIMD tiles (every family has 2 x 1): pair by pair */
        for (int64_t o = o0; o < o1; o++)
            for (int64_t b = 0; b < B; b++)
                tt->vec_dot(n_in, &y[b * n_out + o], wp + (size_t)o * wrow, xp + (size_t)b * xrow);
        return;
    }
    const int both = GH_TILE_FIRST | GH_TILE_LAST;
    /* Whole rows: each weight row group is read once and meets every
     * activation row of the chunk (~1 MiB of them, which sits in L2). Float
     * activations were once taken in k-chunks of 24 KiB panels, to stay in
     * L1: on AMD Zen 1 (the CPUs without AVX-512 run these tiles for every
     * batch) whole rows measured faster, 1.1B f32 N = 16 17.7 -> 24.7
     * tokens/s and 128-token prompts 21.1 -> 27.7 (f16: 19.4 -> 22.0 and
     * 20.1 -> 23.5): the weights stream in long runs the prefetcher follows,
     * and the accumulators stay in registers. */
    int64_t bchunk = (int64_t)((1u << 20) / xrow);
    bchunk = bchunk < C ? C : bchunk - bchunk % C;
    /* F16/BF16 batches where there are no AVX-512 tiles: each row group is
     * widened to f32 once (exact) and meets the activations in the F32 tile,
     * whose FMA chains are the 16-bit tiles' own, so the bits are the same.
     * Converting in every tile bounded them: on AMD Zen 1 vcvtph2ps takes
     * about two cycles a ymm, one per 4 FMAs in the 1x4 tile. Measured there
     * (1.1B f16): 64-token prompt 25.2 -> 34.2 tokens/s, N = 16 24.5 -> 27.7,
     * N = 12 24.0 -> 25.6; but N = 8 23.0 -> 21.9 and N = 4 21.8 -> 16.2,
     * where too few columns share a row's conversion. */
    float *wide = NULL;
    if ((wtype == GH_TYPE_F16 || wtype == GH_TYPE_BF16) && !t512 && B >= WIDEN_MIN_B)
        wide = aligned_alloc(64, ((size_t)F32_R * (size_t)n_in * sizeof(float) + 63) / 64 * 64);
    if (wide) R = F32_R; /* the F32 tile's rows; C is 4 for F16 and BF16 already */
    const size_t frow = (size_t)n_in * sizeof(float);
    for (int64_t b0 = 0; b0 < B; b0 += bchunk) {
        int64_t b1 = b0 + bchunk < B ? b0 + bchunk : B;
        for (int64_t o = o0; o < o1;) {
            int r = fit(R, o1 - o);
            const char *wr = wp + (size_t)o * wrow;
            if (wide)
                for (int k = 0; k < r; k++) tt->to_float(wr + (size_t)k * wrow, wide + (size_t)k * n_in, n_in);
            for (int64_t b = b0; b < b1;) {
                int c = fit(C, b1 - b);
                gh_tile_fn f = wide ? gh_tile_avx2(GH_TYPE_F32, r, c) : pick_tile(wtype, r, c, use512);
                f(n_in, wide ? (const void *)wide : wr, wide ? frow : wrow, xp + (size_t)b * xrow, xrow, y + b * n_out + o,
                  (size_t)n_out, NULL, 0, both);
                b += c;
            }
            o += r;
        }
    }
    free(wide);
}

/* Output rows [o0, o1) for all B activation rows from pair-packed xp: rows
 * in groups of up to 4, each group over all pairs in tiles of 4 pairs (16
 * accumulators), so a group's weights come from memory once and from L1/L2
 * for the other tiles. Measured (2048 x 5632, B = 16, 2 threads) against
 * 6x4, 8x2, 3x8, 2x8 and 4x2: 4x4 was fastest for f32 and f16 alike. Whole
 * rows: k-chunks, which keep the activations in L1 but split the weight
 * rows into short strided runs, measured no faster with the AVX-512 tiles. */
#define PTILE_R 4
#define PTILE_P 4
/* Which rows the tile t of a row group's T column tiles prefetches, for
 * the float tiles (gh_ptile_fn, gh_rptile_fn): with one tile a group, its
 * own nr rows `ahead` bytes ahead. With T > 1 the later tiles read the rows
 * from L2 and memory would idle while they ran, so the group's tiles share
 * out the next group's nn rows (tile t rows [nn t/T, nn (t+1)/T)) instead;
 * only a group not fetched before (`own`: the first of a range) has its
 * first tile prefetch its own rows. */
static const char *tile_prefetch(const char *wo, size_t wrow, int nr, int64_t nn, bool own, int64_t t, int64_t T,
                                 size_t ahead, int *npf) {
    own = own || T == 1;
    if (own && t == 0) {
        *npf = nr;
        return wo + ahead;
    }
    const int64_t t0 = own ? 1 : 0, r0 = nn * (t - t0) / (T - t0), r1 = nn * (t - t0 + 1) / (T - t0);
    *npf = (int)(r1 - r0);
    return wo + (size_t)(nr + r0) * wrow;
}

/* Regrouped F16 (row pairs): bytes ahead at which a row-pair tile
 * prefetches its own pairs. A pair's step is 32 bytes, twice a row's, so
 * this is GH_RPTILE_AHEAD's distance in steps. */
#ifndef R2_AHEAD
#define R2_AHEAD (2 * GH_RPTILE_AHEAD)
#endif

/* Column pairs the next pair-packed tile takes, with `left` still to do. */
static int ptile_pairs(int64_t left) { return left >= PTILE_P ? PTILE_P : left >= 2 ? 2 : 1; }

static void pair_rows(float *y, const float *x, const float *xp, const void *W, size_t wrow, gh_type wtype,
                      int64_t n_in, int64_t n_out, int64_t B, int64_t o0, int64_t o1) {
    const size_t ps = pair_stride(n_in);
    const int64_t np = (B + 1) / 2;
    /* many pairs (prompts): chunks of ~1 MiB of packed activations, which
     * stay in L2 while the rows pass; the weights are re-read per chunk */
    int64_t pc = (int64_t)((1u << 20) / (ps * 4));
    pc = pc < PTILE_P ? PTILE_P : pc - pc % PTILE_P;
    for (int64_t p0 = 0; p0 < np; p0 += pc) {
        const int64_t p1 = p0 + pc < np ? p0 + pc : np;
        int64_t T = 0; /* tiles per row group */
        for (int64_t p = p0; p < p1; T++) p += ptile_pairs(p1 - p);
        for (int64_t o = o0; o < o1;) {
            const int r = o1 - o < PTILE_R ? (int)(o1 - o) : PTILE_R;
            const char *wo = (const char *)W + (size_t)o * wrow;
            const int64_t nn = o1 - (o + r) < PTILE_R ? o1 - (o + r) : PTILE_R;
            for (int64_t t = 0, p = p0; p < p1; t++) {
                const int pp = ptile_pairs(p1 - p);
                gh_ptile_fn f = gh_ptile_avx512(wtype, r, pp);
                const int nc = B - 2 * p < 2 * pp ? (int)(B - 2 * p) : 2 * pp;
                int npf;
                const char *pf = tile_prefetch(wo, wrow, r, nn, o == o0 && p0 == 0, t, T, GH_PTILE_AHEAD, &npf);
                f(n_in, wo, wrow, xp + (size_t)p * ps, ps, x + 2 * p * n_in, (size_t)n_in * 4, y + 2 * p * n_out + o,
                  (size_t)n_out, nc, pf, npf);
                p += pp;
            }
            o += r;
        }
    }
}

/* Output rows [o0, o1) for all B activation rows from the padded rows xr:
 * row groups of up to 2 * GH_RPTILE_RP_MAX, each over all activation rows in
 * tiles of up to GH_RPTILE_C_MAX, so a group's weights come from memory once
 * and from L1/L2 for the other tiles. */
static void rpair_rows(float *y, const float *xr, const void *W, size_t wrow, gh_type wtype, int64_t n_in,
                       int64_t n_out, int64_t B, int64_t o0, int64_t o1) {
    const size_t xs = rp_stride(n_in);
    /* many activation rows (prompts): chunks of ~1 MiB, which stay in L2
     * while the rows pass; the weights are re-read per chunk */
    int64_t bc = (int64_t)((1u << 20) / (xs * 4));
    bc = bc < GH_RPTILE_C_MAX ? GH_RPTILE_C_MAX : bc - bc % GH_RPTILE_C_MAX;
    for (int64_t b0 = 0; b0 < B; b0 += bc) {
        const int64_t b1 = b0 + bc < B ? b0 + bc : B;
        const int64_t T = (b1 - b0 + GH_RPTILE_C_MAX - 1) / GH_RPTILE_C_MAX; /* tiles per row group */
        for (int64_t o = o0; o < o1;) {
            const int nr = o1 - o < 2 * GH_RPTILE_RP_MAX ? (int)(o1 - o) : 2 * GH_RPTILE_RP_MAX;
            const char *wo = (const char *)W + (size_t)o * wrow;
            const int64_t nn = o1 - (o + nr) < 2 * GH_RPTILE_RP_MAX ? o1 - (o + nr) : 2 * GH_RPTILE_RP_MAX;
            for (int64_t t = 0, b = b0; b < b1; t++) {
                const int c = b1 - b < GH_RPTILE_C_MAX ? (int)(b1 - b) : GH_RPTILE_C_MAX;
                int npf;
                /* regrouped F16 (row pairs, twice the bytes a step): pairs, twice as far */
                const char *pf = wtype == GH_TYPE_F16_R2
                                     ? tile_prefetch(wo, 2 * wrow, nr / 2, nn / 2, o == o0 && b0 == 0, t, T,
                                                     R2_AHEAD, &npf)
                                     : tile_prefetch(wo, wrow, nr, nn, o == o0 && b0 == 0, t, T, GH_RPTILE_AHEAD, &npf);
                gh_rptile_avx512(wtype, (nr + 1) / 2, c)(n_in, wo, wrow, nr, xr + (size_t)b * xs, xs, y + b * n_out + o,
                                                         (size_t)n_out, pf, npf);
                b += c;
            }
            o += nr;
        }
    }
}

void gh_matmul_multi(int n_mat, float *const *ys, const void *const *Ws, const int64_t *n_outs, gh_type wtype,
                     const float *x, int64_t n_in, int64_t B, void *wdata, int n_threads) {
    /* regrouped weights (repack.c): Q4_0/Q8_0 take the base type's
     * conversion, then AMX or VNNI kernels for any B; F16 row pairs the
     * row-pair tiles for any B. Regrouped only where this process uses those
     * kernels, so the reference (which reads the rows back) is only a safety
     * net. */
    const gh_type rtype = wtype;
    const bool r2 = wtype == GH_TYPE_F16_R2;
    const bool r16 = !r2 && gh_regrouped_base(wtype) != GH_TYPE_COUNT;
    if ((r16 && !gh_kernels_use_amx()) || (r2 && !gh_kernels_use_avx512())) {
        if (n_mat <= GH_MATMUL_MULTI_MAX)
            for (int k = 0; k < n_mat; k++) gh_matmul_ref(ys[k], x, Ws[k], wtype, n_in, n_outs[k], B);
        return;
    }
    if (r16 || r2) wtype = gh_regrouped_base(wtype);
    const gh_type_traits *tt = gh_get_type_traits(wtype);
    if (!tt || !tt->vec_dot || B <= 0 || n_mat <= 0 || n_mat > GH_MATMUL_MULTI_MAX) return;
    const gh_type_traits *vt = gh_get_type_traits(tt->vec_dot_type);
    const bool convert = tt->vec_dot_type != GH_TYPE_F32;
    const size_t wrow = row_bytes(tt, n_in), xrow = row_bytes(vt, n_in);
    const void *xq = convert ? wdata : (const void *)x;
    const bool simd = gh_kernels_use_avx2();
    int64_t n_out_all = 0, n_out_min = INT64_MAX;
    bool whole16 = true; /* every matrix in whole 16-row groups */
    for (int k = 0; k < n_mat; k++) {
        if (n_outs[k] < 0) return;
        n_out_all += n_outs[k];
        if (n_outs[k] < n_out_min) n_out_min = n_outs[k];
        whole16 = whole16 && n_outs[k] % 16 == 0;
    }
    if (n_out_all <= 0) return;
    if (n_threads < 1) n_threads = 1;
    if (n_threads > n_out_all) n_threads = (int)n_out_all;
    /* Small products (tiny models, a single short row) cost less than waking
     * threads, and far less than waiting at a barrier for a thread the OS has
     * descheduled on a busy machine: give each thread at least ~256K MACs. */
    const int64_t macs = n_in * n_out_all * B, per_thread = (int64_t)1 << 18;
    if (macs / per_thread < n_threads) n_threads = macs / per_thread > 1 ? (int)(macs / per_thread) : 1;

    /* AMX (amx.h) for quantized weights and many activation rows: 16-row
     * groups from packed activations; rows past the last whole group take the
     * AVX2 tiles below (the same bits) */
    const bool amx = r16 || (simd && n_out_min >= 16 && use_amx(wtype, B, n_in));
    void *pack = amx ? (void *)(((uintptr_t)wdata + (size_t)B * xrow + 63) & ~(uintptr_t)63) : NULL;
    /* regrouped Q4_0/Q8_0 with more rows than the VNNI kernel takes, and
     * K-quants in whole 16-row groups, read only the AMX pack (in the
     * chunked loop below, B >= BATCH_MIN_B): quantize into it directly */
    const bool fused = amx && B >= BATCH_MIN_B && ((r16 && B > GH_R16_VNNI_MAX_B) || (is_kquant(wtype) && whole16));
    /* float weights, AVX-512, B >= 4: pair-packed activations */
    const bool pairs = simd && !convert && use_pairs(wtype, B);
    /* F16/BF16 weights, AVX-512, B >= 4: padded activation rows */
    const bool rpairs = (r2 && B >= BATCH_MIN_B) || (simd && !convert && use_rpairs(wtype, B));
    /* chunks of whole tiles: 16-row AMX groups, 6-row row-pair tiles (with
     * multiples of 4 rows, chunks ended in 2- or 4-row tiles: 7 % of an f16
     * N = 16 step's samples; whole ones measured 1-2 % faster), 4-row tiles */
    const int64_t rmul = amx ? 16 : rpairs ? 2 * GH_RPTILE_RP_MAX : 4;
    float *xp = pairs || rpairs ? (float *)(((uintptr_t)wdata + 63) & ~(uintptr_t)63) : NULL;

    /* For B >= 4: chunks of ~1 MiB of weights (longer row streams: a chunk
     * starts its rows cold, as the tiles prefetch the next rows only inside
     * a chunk; against 256 KiB, q4_0 N = 16 4 % faster with AMX, and f16
     * N = 16 ~4 %, f16 N = 4 ~7 % and f32 N = 16 ~6 % with the float tiles;
     * 64 KiB was slower still), at least 4 per thread and matrix, a multiple
     * of rmul rows so tiles stay whole. The chunks of all matrices form one
     * list. */
    int64_t chunk[GH_MATMUL_MULTI_MAX], first[GH_MATMUL_MULTI_MAX + 1];
    first[0] = 0;
    for (int k = 0; k < n_mat; k++) {
        int64_t ck = (int64_t)((1024u << 10) / (wrow ? wrow : 1));
        if (ck > n_outs[k] / (4 * n_threads)) ck = n_outs[k] / (4 * n_threads);
        chunk[k] = ck < rmul ? rmul : ck - ck % rmul;
        first[k + 1] = first[k] + (n_outs[k] + chunk[k] - 1) / chunk[k];
    }
    const int64_t n_chunks = first[n_mat];

#pragma omp parallel num_threads(n_threads) if (n_threads > 1)
    {
        const int nt = omp_get_num_threads(), ith = omp_get_thread_num();
        if (fused) { /* quantized straight into the AMX pack: one pass, one barrier */
            const int64_t nb = n_in / tt->blck_size;
            if (is_kquant(wtype)) gh_amx_kq_pack_f32(x, n_in, B, pack, nb * ith / nt, nb * (ith + 1) / nt);
            else gh_amx_pack_f32(x, n_in, B, pack, nb * ith / nt, nb * (ith + 1) / nt);
#pragma omp barrier
        } else if (convert) {
            for (int64_t b = ith; b < B; b += nt)
                vt->from_float(x + b * n_in, (char *)wdata + (size_t)b * xrow, n_in);
#pragma omp barrier
        }
        if (pairs) {
            const int64_t np = (B + 1) / 2;
            pack_pairs(x, n_in, B, xp, np * ith / nt, np * (ith + 1) / nt);
#pragma omp barrier
        }
        if (rpairs) {
            pack_rows(x, n_in, xp, B * ith / nt, B * (ith + 1) / nt);
#pragma omp barrier
        }
        if (amx && !fused) {
            const int64_t nb = n_in / tt->blck_size, i0 = nb * ith / nt, i1 = nb * (ith + 1) / nt;
            if (r16 && B <= GH_R16_VNNI_MAX_B) gh_r16_xpack(rtype, wdata, xrow, n_in, B, pack, i0, i1);
            else amx_pack(wtype, wdata, xrow, n_in, B, pack, i0, i1);
#pragma omp barrier
        }
        if (B < BATCH_MIN_B) {
            /* memory-bound decode: one contiguous range per thread and matrix,
             * boundaries rounded to a multiple of 4 rows (16 or 2 regrouped)
             * so tiles stay whole (long uninterrupted streams: measured ~10%
             * faster than chunks at B = 1) */
            const int64_t rm = r16 ? 15 : 3;
            for (int k = 0; k < n_mat; k++) {
                const int64_t n_out = n_outs[k];
                int64_t o0 = (n_out * ith / nt) & ~rm, o1 = (n_out * (ith + 1) / nt) & ~rm;
                if (ith == 0) o0 = 0;
                if (ith == nt - 1) o1 = n_out;
                if (o1 <= o0) continue;
                if (r16) gh_r16_matmul_rows(rtype, ys[k], pack, pack, Ws[k], n_in, n_out, B, o0, o1);
                else matmul_rows(ys[k], xq, xrow, Ws[k], wrow, rtype, tt, n_in, n_out, B, o0, o1, simd);
            }
        } else {
            /* compute-bound batches: chunks of rows handed out dynamically, so
             * a thread the OS deschedules (a shared machine) holds up the
             * others by one chunk at most; no result depends on who computes
             * a row */
#pragma omp for schedule(dynamic, 1) nowait
            for (int64_t q = 0; q < n_chunks; q++) {
                int k = 0;
                while (q >= first[k + 1]) k++;
                const int64_t n_out = n_outs[k];
                float *y = ys[k];
                const void *W = Ws[k];
                int64_t o0 = (q - first[k]) * chunk[k], o1 = o0 + chunk[k] < n_out ? o0 + chunk[k] : n_out;
                if (r16) { /* whole groups: chunks are multiples of 16 rows, as n_out is */
                    gh_r16_matmul_rows(rtype, y, pack, pack, W, n_in, n_out, B, o0, o1);
                    continue;
                }
                if (amx) {
                    const int64_t om = o0 + (o1 - o0) / 16 * 16;
                    if (om > o0) amx_rows(wtype, y, pack, W, wrow, n_in, n_out, B, o0, om);
                    o0 = om;
                }
                if (pairs) pair_rows(y, x, xp, W, wrow, wtype, n_in, n_out, B, o0, o1);
                else if (rpairs) rpair_rows(y, xp, W, wrow, rtype, n_in, n_out, B, o0, o1);
                else if (o1 > o0) matmul_rows(y, xq, xrow, W, wrow, wtype, tt, n_in, n_out, B, o0, o1, simd);
            }
        }
    }
}

void gh_matmul(float *y, const float *x, const void *W, gh_type wtype, int64_t n_in,
               int64_t n_out, int64_t B, void *wdata, int n_threads) {
    gh_matmul_multi(1, &y, &W, &n_out, wtype, x, n_in, B, wdata, n_threads);
}

void gh_matmul_ref(float *y, const float *x, const void *W, gh_type wtype, int64_t n_in,
                   int64_t n_out, int64_t B) {
    const gh_type base = gh_regrouped_base(wtype);
    if (base != GH_TYPE_COUNT) { /* the rows read back, then as their type */
        const gh_type_traits *bt = gh_get_type_traits(base);
        if (B <= 0 || n_out <= 0 || n_in <= 0 || n_in % bt->blck_size) return;
        const size_t wrow = row_bytes(bt, n_in);
        char *rows = malloc(wrow * (size_t)n_out);
        if (!rows) { /* no way to report: poison the output instead */
            for (int64_t i = 0; i < B * n_out; i++) y[i] = NAN;
            return;
        }
        for (int64_t o = 0; o < n_out; o++) gh_regrouped_row(wtype, W, n_in, o, rows + (size_t)o * wrow);
        gh_matmul_ref(y, x, rows, base, n_in, n_out, B);
        free(rows);
        return;
    }
    const gh_type_traits *tt = gh_get_type_traits(wtype);
    if (!tt || !tt->vec_dot_ref || B <= 0 || n_out <= 0) return;
    const gh_type_traits *vt = gh_get_type_traits(tt->vec_dot_type);
    const bool convert = tt->vec_dot_type != GH_TYPE_F32;
    const size_t wrow = row_bytes(tt, n_in), xrow = row_bytes(vt, n_in);
    void *buf = convert ? malloc(xrow ? xrow : 1) : NULL;
    for (int64_t b = 0; b < B; b++) {
        const void *xb = x + b * n_in;
        if (convert) {
            if (!buf) { /* no way to report: poison the output instead */
                for (int64_t o = 0; o < n_out; o++) y[b * n_out + o] = NAN;
                continue;
            }
            vt->from_float_ref(x + b * n_in, buf, n_in);
            xb = buf;
        }
        for (int64_t o = 0; o < n_out; o++)
            tt->vec_dot_ref(n_in, &y[b * n_out + o], (const char *)W + (size_t)o * wrow, xb);
    }
    free(buf);
}
