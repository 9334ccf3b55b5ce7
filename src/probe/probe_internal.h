/* probe_internal.h — what the probe files share: the one pass over a feature
 * matrix that every method is built from (linear.c), and small numerics. */
#ifndef GH_PROBE_INTERNAL_H
#define GH_PROBE_INTERNAL_H

#include <math.h>

#include "goodhart/probe.h"

/* Sums over rows are split into at most PB_CHUNKS contiguous chunks fixed by n
 * alone; each chunk sums its rows in order and the chunks' partial sums are
 * added in chunk order, so the result is the same bits for any thread count. */
#define PB_CHUNKS 64

/* Per-row callback of pb_pass: given row i and its z_i, returns the row's
 * weight r_i (it may also store per-row values in ctx, indexed by i). */
typedef double (*pb_rowfn)(void *ctx, int64_t i, double z);

/* One pass over x [n][d] (float32):
 *   z_i = x_i · u + c          (u [d] double; u NULL: z_i = c)
 *   r_i = f(ctx, i, z_i)       (f NULL: r_i = z_i)
 *   g   = Σ_i r_i x_i  [d],  rsum = Σ_i r_i      (g NULL: not computed)
 * z_out [n] receives z (may be NULL). Accumulation in double; each row is read
 * once from memory. n_threads 0: OpenMP's default. */
gh_status pb_pass(const float *x, int64_t n, int32_t d, const double *u, double c, pb_rowfn f,
                  void *ctx, double *z_out, double *g, double *rsum, int32_t n_threads);

/* The same pass in float32 arithmetic, for the Hessian-vector products of
 * Newton-CG (logreg.c), where a relative error of ~1e-6 only makes the inexact
 * Newton step slightly more inexact, while halving the arithmetic per byte:
 *   z_i = x_i · u + c,  r_i = wt_i z_i,  g = Σ_i r_i x_i [d],  rsum = Σ_i r_i
 * u [d] float, wt [n] double. Rows are summed in float within a chunk (the
 * chunks are those of pb_pass), chunks in double in chunk order: the result is
 * the same bits for any thread count. `part` is scratch of
 * pb_part_floats(n, d) floats, reused across calls (no per-pass allocation).
 * With xh (a pb_half_copy of x, and its xh_inv_scale) the rows are read from
 * that float16 copy instead of x: half the bytes per pass, at a relative error
 * of ~1e-3 in the product (an SPD operator all the same: the same rounded X on
 * both sides). */
size_t pb_part_floats(int64_t n, int32_t d);
gh_status pb_pass_hv_f32(const float *x, const uint16_t *xh, float xh_inv_scale, int64_t n, int32_t d,
                         const float *u, double c, const double *wt, double *g, double *rsum, float *part,
                         int32_t n_threads);

/* The diagonal of XᵀWX, diag_j = Σ_i wt_i x_ij², and wsum = Σ_i wt_i, in the
 * chunks of pb_pass_hv_f32 (from xh when given): the same bits for any thread
 * count. For a preconditioner, so float accumulation within a chunk. */
gh_status pb_pass_diag(const float *x, const uint16_t *xh, float xh_inv_scale, int64_t n, int32_t d, const double *wt,
                       double *diag, double *wsum, float *part, int32_t n_threads);

/* A float16 copy of x [n][d] scaled by a power of two (max |x| lands in
 * [2^14, 2^15), so nothing overflows and small values keep their digits);
 * *inv_scale is 1/scale. NULL without AVX2+F16C (or GH_SIMD=scalar), when the
 * scale would leave float's range, or when memory is short: the caller then
 * uses x itself. Free with free(). */
uint16_t *pb_half_copy(const float *x, int64_t n, int32_t d, int32_t n_threads, float *inv_scale);

/* Σ a_i in index order */
double pb_sum(const double *a, int64_t n);

static inline double pb_softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static inline double pb_sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

/* Checks data for a method (shapes, labels, finite values); `need_both` demands
 * both labels among y. */
gh_status pb_check_data(const gh_probe_data *data, bool pairs, bool need_labels, bool need_both);

/* Fits the direction of one method (no metadata). */
gh_status pb_fit_mass_mean(const gh_probe_data *data, const gh_probe_train_params *p, gh_probe *pr);
gh_status pb_fit_pca(const gh_probe_data *data, const gh_probe_train_params *p, gh_probe *pr, gh_probe_train_stats *st);
gh_status pb_fit_ccs(const gh_probe_data *data, const gh_probe_train_params *p, gh_probe *pr, gh_probe_train_stats *st);
gh_status pb_fit_bt(const gh_probe_data *data, const gh_probe_train_params *p, gh_probe *pr, gh_probe_train_stats *st);

#endif
