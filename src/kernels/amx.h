/* amx.h — what the AMX (Intel tile unit) kernel files share with the
 * dispatcher and gh_matmul: the CPU/OS check, the tile configuration layout,
 * and the products themselves (kernels_amx.c: Q8_0/Q4_0 weights x Q8_0
 * activations; kquants_amx.c: Q4_K/Q6_K weights x Q8_K activations). Both
 * give the reference kernels' bits for every (weight row, activation row)
 * pair, so gh_matmul may use them for any batch without breaking kernels.h's
 * determinism contract.
 *
 * Use, per product: pack the quantized activation rows once (threads may
 * split the blocks), then compute row ranges of 16 (threads may split them).
 * Call nothing here unless gh_kernels_use_amx() (types_ref.c) is true. */
#ifndef GH_AMX_H
#define GH_AMX_H

#include "kernels/kernels.h"

#include <stddef.h>
#include <stdint.h>

/* CPU has AMX-TILE/INT8 (and AVX-512), the OS enabled it and granted this
 * process the tile state (arch_prctl). */
bool gh_cpu_has_amx(void);
/* True when the dispatcher chose AMX too (GH_SIMD unset or "amx"). */
bool gh_kernels_use_amx(void);

/* ---- Q8_0 / Q4_0 (kernels_amx.c) ---- */
/* Bytes of packed activations for B rows of n_in elements. */
size_t gh_amx_pack_size(int64_t n_in, int64_t B);
/* Packs blocks [i0, i1) of B Q8_0 activation rows (xrow bytes apart) into `pack`. */
void gh_amx_pack(const void *xq, size_t xrow, int64_t n_in, int64_t B, void *pack, int64_t i0, int64_t i1);
/* gh_amx_pack straight from float rows (row b at x + b*n_in): each block
 * quantized to Q8_0 as gh_q8_0_from_float_ref does, into the packed layout
 * (one pass, where quantizing then packing took two and a barrier between).
 * B > 8 only (the wide layout); blocks [i0, i1) of every group. */
void gh_amx_pack_f32(const float *x, int64_t n_in, int64_t B, void *pack, int64_t i0, int64_t i1);
/* y rows [o0, o1) (a multiple of 16 rows) for all B activation rows. */
void gh_amx_matmul_rows(gh_type wtype, float *y, const void *pack, const void *W, size_t wrow, int64_t n_in,
                        int64_t n_out, int64_t B, int64_t o0, int64_t o1);

/* ---- regrouped Q4_0 and Q8_0, GH_TYPE_*_R16 (kernels_amx.c, layout in repack.c) ---- */
/* Up to this many activation rows the AVX-512 VNNI kernel runs, from the
 * activations as gh_r16_xpack repacks them; above, the AMX tiles, from
 * gh_amx_pack's packing. */
#define GH_R16_VNNI_MAX_B 8
/* Bytes of repacked activations for B rows of n_in elements (B <= GH_R16_VNNI_MAX_B). */
size_t gh_r16_xsize(int64_t n_in, int64_t B);
/* Repacks blocks [i0, i1) of B Q8_0 activation rows (xrow bytes apart) into
 * xa, for products with weights of regrouped type wtype. */
void gh_r16_xpack(gh_type wtype, const void *xq, size_t xrow, int64_t n_in, int64_t B, void *xa, int64_t i0,
                  int64_t i1);
/* y rows [o0, o1) (whole 16-row groups) of W, of regrouped type wtype, for
 * all B activation rows: from xa (B <= GH_R16_VNNI_MAX_B) or pack. */
void gh_r16_matmul_rows(gh_type wtype, float *y, const void *xa, const void *pack, const void *W, int64_t n_in,
                        int64_t n_out, int64_t B, int64_t o0, int64_t o1);

/* ---- Q4_K / Q6_K (kquants_amx.c) ---- */
/* Bytes of packed activations for B rows of n_in elements (n_in a multiple
 * of 256). The pack needs no particular alignment; 64 bytes is best. */
size_t gh_amx_kq_pack_size(int64_t n_in, int64_t B);

/* Packs super-blocks [i0, i1) of B Q8_K activation rows (row b at
 * xq + b*xrow bytes) into `pack`, for every 16-row group (the rows of the
 * last group past B are zero). Calls on disjoint [i0, i1) may run at once;
 * together they must cover [0, n_in/256) before gh_amx_kq_matmul_rows. */
void gh_amx_kq_pack(const void *xq, size_t xrow, int64_t n_in, int64_t B, void *pack, int64_t i0, int64_t i1);
/* The same pack straight from float rows (row b at x + b*n_in), each
 * super-block quantized to Q8_K as gh_q8_K_from_float_ref does: the bytes
 * gh_amx_kq_pack writes from the reference's Q8_K rows, in one pass. */
void gh_amx_kq_pack_f32(const float *x, int64_t n_in, int64_t B, void *pack, int64_t i0, int64_t i1);

/* y[b*n_out + o] for o in [o0, o1) and b < B: the product of weight row o
 * (wtype GH_TYPE_Q4_K or GH_TYPE_Q6_K, at W + o*wrow bytes) with activation
 * row b, bitwise what the reference vec_dot gives for that pair. o1 - o0 must
 * be a multiple of 16 and 15*wrow must fit in an int (gathers); other types
 * do nothing. Uses ~26 KiB of the calling thread's stack. */
void gh_amx_kq_matmul_rows(gh_type wtype, float *y, const void *pack, const void *W, size_t wrow, int64_t n_in,
                           int64_t n_out, int64_t B, int64_t o0, int64_t o1);


/* ---- for the two kernel files only ---- */
#ifdef GH_AMX_KERNEL_FILE
/* ldtilecfg's 64-byte operand (palette 1). Keep configurations in static
 * const memory: GCC 12's _tile_loadconfig tells the compiler it reads only
 * 8 bytes, so stores to a stack copy may be dropped. */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((packed, aligned(64))) gh_tile_config;

/* GCC 12's tile loads are asm statements that do not tell the compiler they
 * read memory: put this between vector stores of a buffer and the tile load
 * that reads it, or the stores may be moved past it or dropped. */
#define GH_COMPILER_BARRIER() __asm__ volatile("" ::: "memory")

#include <immintrin.h>
/* Byte offsets of 16 consecutive weight rows wrow bytes apart, for gathering
 * a block's 16 row scales (15*wrow must fit in an int32). */
static inline __attribute__((always_inline)) __m512i gh_amx_row_offsets(size_t wrow) {
    return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                              _mm512_set1_epi32((int)wrow));
}
#endif

#endif
