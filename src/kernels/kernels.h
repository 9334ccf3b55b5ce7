/* kernels.h — the numeric core: one traits entry per weight type, and the
 * matrix-vector / matrix-matrix product every layer of the model runs on.
 *
 * For every type there is a plain scalar `_ref` implementation (the definition)
 * and, where the CPU has it, a SIMD one (AVX2/FMA, in kernels_avx2.c; AVX-512
 * tiles for batched products in kernels_avx512.c; AMX tile-unit products for
 * quantized batches in kernels_amx.c and kquants_amx.c). Tests hold
 * the two together. Quantized weight types take their activations quantized to
 * a companion type (`vec_dot_type`: Q8_0 for Q4_0/Q8_0, Q8_K for the K-quants),
 * as ggml does, so the inner loop is an integer dot product.
 *
 * Determinism contract: y[b][o] depends only on row o of W and row b of x — not
 * on the batch size B, the thread count, or which kernel variant (1 row or a
 * tile of rows) computed it. Every variant accumulates in the same order, so
 * results are bitwise identical whatever the batching.
 */
#ifndef GH_KERNELS_H
#define GH_KERNELS_H

#include "goodhart/gguf.h"

/* x: n elements of the type (n a multiple of the block size) -> y: n floats */
typedef void (*gh_to_float_fn)(const void *x, float *y, int64_t n);
/* x: n floats -> y: n elements of the type (quantize) */
typedef void (*gh_from_float_fn)(const float *x, void *y, int64_t n);
/* *s = dot(x, y) over n elements; x is of the weight type, y of vec_dot_type */
typedef void (*gh_vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);

typedef struct gh_type_traits {
    const char *name;
    int64_t blck_size;              /* elements per block */
    size_t type_size;               /* bytes per block */
    bool is_quantized;
    gh_to_float_fn to_float;        /* dequantize (best available) */
    gh_to_float_fn to_float_ref;
    gh_from_float_fn from_float;    /* quantize (best available) */
    gh_from_float_fn from_float_ref;
    gh_vec_dot_fn vec_dot;          /* best available for this CPU */
    gh_vec_dot_fn vec_dot_ref;
    gh_type vec_dot_type;           /* the type activations are converted to */
} gh_type_traits;

/* NULL for a type the runtime cannot compute with. */
const gh_type_traits *gh_get_type_traits(gh_type t);

/* Which SIMD path the dispatcher chose ("amx", "avx512", "avx2", "scalar");
 * GH_SIMD=scalar in the environment forces the reference kernels, GH_SIMD=avx2
 * leaves out the AVX-512 tiles and AMX, GH_SIMD=avx512 leaves out AMX (all
 * give the same bits). */
const char *gh_kernels_simd_name(void);

/* Bytes of scratch gh_matmul needs for B activation rows of n_in elements. */
size_t gh_matmul_wsize(gh_type wtype, int64_t n_in, int64_t B);

/* y[b*n_out + o] = sum_i W[o][i] * x[b*n_in + i]   for b < B, o < n_out.
 *   W: n_out rows of n_in elements of wtype, rows contiguous (row bytes =
 *      gh_type_row_bytes(wtype, n_in));
 *   x: [B, n_in] float32;  y: [B, n_out] float32;
 *   wdata: scratch of gh_matmul_wsize(...) bytes (may be NULL if that is 0).
 * Work is split over n_threads (OpenMP) by output rows, so each weight row is
 * read from memory once for all B activation rows. */
void gh_matmul(float *y, const float *x, const void *W, gh_type wtype, int64_t n_in,
               int64_t n_out, int64_t B, void *wdata, int n_threads);

/* Several products of the same activations with matrices of one type and
 * n_in: ys[k][b*n_outs[k] + o] = sum_i Ws[k][o][i] * x[b*n_in + i] for
 * k < n_mat (at most GH_MATMUL_MULTI_MAX). Bitwise what n_mat gh_matmul calls
 * give, but the activations are converted (and packed) once, in one parallel
 * region whose threads share out the rows of all the matrices: a layer's
 * q/k/v or gate/up projections. wdata as for gh_matmul. */
#define GH_MATMUL_MULTI_MAX 4
void gh_matmul_multi(int n_mat, float *const *ys, const void *const *Ws, const int64_t *n_outs, gh_type wtype,
                     const float *x, int64_t n_in, int64_t B, void *wdata, int n_threads);

/* The same product computed with the _ref kernels only, one (o, b) at a time. */
void gh_matmul_ref(float *y, const float *x, const void *W, gh_type wtype, int64_t n_in,
                   int64_t n_out, int64_t B);

/* Weights regrouped in memory for the kernels (repack.c has the layouts):
 * types only memory holds, never a file. gh_matmul and gh_matmul_ref take
 * them as wtype like any other (bitwise what the rows they came from give);
 * nothing else reads them, and W must not be read as rows once regrouped.
 *   GH_TYPE_Q4_0_R16, GH_TYPE_Q8_0_R16: 16 rows' blocks side by side, for
 *     the AMX kernels (n_out a multiple of 16);
 *   GH_TYPE_F16_R2: rows in pairs, 8 elements of one and 8 of the other in
 *     turn, for the AVX-512 row-pair tiles (n_out even, n_in % 8 == 0). */
#define GH_TYPE_Q4_0_R16 ((gh_type)64)
#define GH_TYPE_Q8_0_R16 ((gh_type)65)
#define GH_TYPE_F16_R2 ((gh_type)66)
/* The regrouped type of t, GH_TYPE_COUNT for a type without one; and back. */
gh_type gh_regrouped_of(gh_type t);
gh_type gh_regrouped_base(gh_type r);
/* Whether a matrix of type t and this shape is worth regrouping: t has a
 * regrouped type, this process's kernels use the ones that read it
 * (Q4_0/Q8_0: AMX; F16: AVX-512, gh_kernels_simd_name()) and the shape
 * fits the layout. */
bool gh_regroup_usable(gh_type t, int64_t n_in, int64_t n_out);
/* Regroups the matrix W of type t (n_out rows of n_in elements) in place;
 * the bytes stay the same size. 0, or -1 without memory for one group (W is
 * then unchanged) or for a type or shape the layout cannot hold. */
int gh_regroup(gh_type t, void *W, int64_t n_in, int64_t n_out);
/* Row o of a matrix of regrouped type r, as the row it was. */
void gh_regrouped_row(gh_type r, const void *W, int64_t n_in, int64_t o, void *row);
/* GB/s of a streaming read (AVX2 sum when available) of a buffer of `bytes`
 * bytes over n_threads OpenMP threads, best of `reps` passes; the buffer should
 * be much larger than the caches (e.g. 512 MiB). Returns 0 if the buffer
 * cannot be allocated. This is the limit gh_matmul at B=1 is measured against. */
double gh_measure_read_bandwidth(int n_threads, size_t bytes, int reps);
/* Billions of f32 multiply-adds per second that n_threads OpenMP threads
 * reach with the widest FMA the float kernels use (peak.c), best of `reps`
 * passes of ~20-50 ms: the limit a large-batch float matmul is measured
 * against. */
double gh_measure_fma_peak(int n_threads, int reps);

/* Helpers for the forward pass's hot loops (attention), SIMD when available:
 * dot(a, b) over n floats, and y += a*x. */
float gh_dot_f32(const float *a, const float *b, int64_t n);
void gh_axpy_f32(float *y, float a, const float *x, int64_t n);

/* SwiGLU's gate in place: g[i] = g[i] / (1 + expf(-g[i])) * u[i], the float
 * operations of that C expression and the C library's expf, so bitwise the
 * scalar loop (gh_swiglu_f32_ref) on every path. */
void gh_swiglu_f32(float *g, const float *u, int64_t n);
void gh_swiglu_f32_ref(float *g, const float *u, int64_t n);

/* The cached keys and values one attention reads, position p's rows at
 * k_p = k + p*stride and v_p = v + p*stride, except that positions p < n_pre
 * read k_pre/v_pre + p*stride instead: another sequence's cache holding the
 * same values there (a prompt all N samples share, gh_ctx_seq_copy), so the
 * N samples' attention reads one copy of it, which stays in cache, instead
 * of N. n_pre = 0: one segment. */
typedef struct gh_kv_view {
    const float *k, *v;         /* this sequence's rows */
    const float *k_pre, *v_pre; /* rows of positions < n_pre (when n_pre > 0) */
    size_t stride;              /* floats from one position's row to the next */
    int32_t n_pre;
} gh_kv_view;
/* position p's key and value rows in a view */
#define GH_KV_K(kv, p) (((p) < (kv)->n_pre ? (kv)->k_pre : (kv)->k) + (size_t)(p) * (kv)->stride)
#define GH_KV_V(kv, p) (((p) < (kv)->n_pre ? (kv)->v_pre : (kv)->v) + (size_t)(p) * (kv)->stride)

/* Attention of G query heads that share one key/value head (grouped-query
 * attention) over n cached positions of kv. For g < G, with q_g = q + g*hd
 * and out_g = out + g*hd:
 *     s_p = gh_dot_f32(q_g, k_p, hd) * scale,   w_p = expf(s_p - max_p s_p),
 *     out_g = sum_p (w_p / sum_p w_p) v_p, accumulated as gh_axpy_f32 calls
 *     from zero in position order.
 * Bitwise that loop (gh_attend_f32_ref), with fewer loads, stores and calls.
 * scores: scratch of G*n floats. */
void gh_attend_f32(float *out, const float *q, int32_t G, const gh_kv_view *kv, int32_t n, int32_t hd, float scale,
                   float *scores);
void gh_attend_f32_ref(float *out, const float *q, int32_t G, const gh_kv_view *kv, int32_t n, int32_t hd,
                       float scale, float *scores);

/* fp16 / bf16 scalar conversions (IEEE round-to-nearest-even). */
float gh_fp16_to_fp32(uint16_t h);
uint16_t gh_fp32_to_fp16(float f);
float gh_bf16_to_fp32(uint16_t h);
uint16_t gh_fp32_to_bf16(float f);

#endif
