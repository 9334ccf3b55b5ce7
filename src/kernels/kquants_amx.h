/* kquants_amx.h — AMX products for the K-quants (kquants_amx.c): Q4_K and
 * Q6_K weights x many Q8_K activation rows, the reference kernels' bits
 * (gh_vec_dot_q4_K_ref / gh_vec_dot_q6_K_ref) for every (weight row,
 * activation row) pair. Call only when gh_cpu_has_amx() is true (and, in
 * the dispatcher, gh_kernels_use_amx()).
 *
 * Use: gh_amx_kq_pack once per product (threads may split the super-blocks),
 * then gh_amx_kq_matmul_rows on row ranges (threads may split the rows). */
#ifndef GH_KQUANTS_AMX_H
#define GH_KQUANTS_AMX_H

#include "kernels/kernels.h"

#include <stddef.h>
#include <stdint.h>

/* Bytes of packed activations for B rows of n_in elements (n_in a multiple
 * of 256). The pack needs no particular alignment; 64 bytes is best. */
size_t gh_amx_kq_pack_size(int64_t n_in, int64_t B);

/* Packs super-blocks [i0, i1) of B Q8_K activation rows (row b at
 * xq + b*xrow bytes) into `pack`, for every 16-row group (the rows of the
 * last group past B are zero). Calls on disjoint [i0, i1) may run at once;
 * together they must cover [0, n_in/256) before gh_amx_kq_matmul_rows. */
void gh_amx_kq_pack(const void *xq, size_t xrow, int64_t n_in, int64_t B, void *pack, int64_t i0, int64_t i1);

/* y[b*n_out + o] for o in [o0, o1) and b < B: the product of weight row o
 * (wtype GH_TYPE_Q4_K or GH_TYPE_Q6_K, at W + o*wrow bytes) with activation
 * row b, bitwise what the reference vec_dot gives for that pair. o1 - o0 must
 * be a multiple of 16 and 15*wrow must fit in an int (gathers); other types
 * do nothing. Uses ~26 KiB of the calling thread's stack. */
void gh_amx_kq_matmul_rows(gh_type wtype, float *y, const void *pack, const void *W, size_t wrow, int64_t n_in,
                           int64_t n_out, int64_t B, int64_t o0, int64_t o1);

#endif
