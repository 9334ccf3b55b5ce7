/* bt.c — fitting a Bradley–Terry linear head (the loss is in goodhart/reward.h).
 *
 * Newton's method: with margins m_k = w·z_k (z_k = x_chosen - x_rejected),
 *   gradient  g = -sum_k sigma(-m_k) z_k + l2 w
 *   Hessian   H =  sum_k sigma(m_k) sigma(-m_k) z_k z_k^T + l2 I   (positive definite)
 * each step solves H d = -g by Cholesky and backtracks until the loss decreases
 * enough (Armijo). Every sum runs in a fixed order, so the head is the same bits
 * for the same pairs. Memory is d^2 doubles for H, fine for hidden sizes of a few
 * thousand. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/reward.h"

/* log(1 + exp(x)) without overflow */
static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

static double loss_at(const float *z, int64_t n, int32_t d, double l2, const double *w, double *data_loss) {
    double L = 0;
    for (int64_t k = 0; k < n; k++) {
        const float *zk = z + (size_t)k * d;
        double m = 0;
        for (int32_t j = 0; j < d; j++) m += w[j] * zk[j];
        L += softplus(-m);
    }
    double r = 0;
    for (int32_t j = 0; j < d; j++) r += w[j] * w[j];
    if (data_loss) *data_loss = L;
    return L + 0.5 * l2 * r;
}

/* In-place Cholesky of the d x d SPD matrix A (lower triangle); false if not PD. */
static bool cholesky(double *A, int32_t d) {
    for (int32_t j = 0; j < d; j++) {
        double s = A[(size_t)j * d + j];
        for (int32_t k = 0; k < j; k++) s -= A[(size_t)j * d + k] * A[(size_t)j * d + k];
        if (!(s > 0)) return false;
        double l = sqrt(s);
        A[(size_t)j * d + j] = l;
        for (int32_t i = j + 1; i < d; i++) {
            double t = A[(size_t)i * d + j];
            for (int32_t k = 0; k < j; k++) t -= A[(size_t)i * d + k] * A[(size_t)j * d + k];
            A[(size_t)i * d + j] = t / l;
        }
    }
    return true;
}

static void chol_solve(const double *L, int32_t d, double *x) {
    for (int32_t i = 0; i < d; i++) { /* L y = b */
        double t = x[i];
        for (int32_t k = 0; k < i; k++) t -= L[(size_t)i * d + k] * x[k];
        x[i] = t / L[(size_t)i * d + i];
    }
    for (int32_t i = d - 1; i >= 0; i--) { /* L^T x = y */
        double t = x[i];
        for (int32_t k = i + 1; k < d; k++) t -= L[(size_t)k * d + i] * x[k];
        x[i] = t / L[(size_t)i * d + i];
    }
}

gh_status gh_bt_fit(const float *z, int64_t n, int32_t d, const gh_bt_params *p, double *w,
                    gh_bt_stats *stats) {
    if (n < 1 || d < 1) return gh_error(GH_ERR_INVALID_ARG, "Bradley-Terry fit needs at least one pair and one feature");
    if (d > 8192) return gh_error(GH_ERR_LIMIT, "Bradley-Terry fit: %d features is more than the Newton solver's 8192", d);
    if (!(p->l2 > 0) || !isfinite(p->l2)) return gh_error(GH_ERR_INVALID_ARG, "l2 must be a positive number (got %g)", p->l2);
    for (int64_t i = 0; i < n * d; i++)
        if (!isfinite(z[i])) return gh_error(GH_ERR_INVALID_ARG, "pair %lld, feature %lld is not finite", (long long)(i / d), (long long)(i % d));
    double *H = malloc((size_t)d * d * sizeof *H);
    double *g = malloc((size_t)d * sizeof *g);
    double *step = malloc((size_t)d * sizeof *step);
    double *wn = malloc((size_t)d * sizeof *wn);
    if (!H || !g || !step || !wn) { free(H); free(g); free(step); free(wn); return gh_error(GH_ERR_NOMEM, "out of memory"); }
    memset(w, 0, (size_t)d * sizeof *w);
    double f = loss_at(z, n, d, p->l2, w, NULL), gmax = INFINITY;
    int32_t it = 0;
    for (; it < p->max_iter; it++) {
        for (int32_t j = 0; j < d; j++) g[j] = p->l2 * w[j];
        memset(H, 0, (size_t)d * d * sizeof *H);
        for (int64_t k = 0; k < n; k++) {
            const float *zk = z + (size_t)k * d;
            double m = 0;
            for (int32_t j = 0; j < d; j++) m += w[j] * zk[j];
            double s = sigmoid(-m), c = s * (1 - s);
            for (int32_t j = 0; j < d; j++) g[j] -= s * zk[j];
            for (int32_t i = 0; i < d; i++) {
                double ci = c * zk[i];
                double *Hi = H + (size_t)i * d;
                for (int32_t j = 0; j <= i; j++) Hi[j] += ci * zk[j];
            }
        }
        gmax = 0;
        for (int32_t j = 0; j < d; j++) gmax = fmax(gmax, fabs(g[j]));
        if (gmax < p->tol) break;
        for (int32_t i = 0; i < d; i++) H[(size_t)i * d + i] += p->l2;
        if (!cholesky(H, d)) break; /* cannot happen for l2 > 0 in exact arithmetic */
        for (int32_t j = 0; j < d; j++) step[j] = -g[j];
        chol_solve(H, d, step);
        double slope = 0;
        for (int32_t j = 0; j < d; j++) slope += g[j] * step[j];
        double t = 1, fn = f;
        for (int32_t ls = 0; ls < 50; ls++, t *= 0.5) {
            for (int32_t j = 0; j < d; j++) wn[j] = w[j] + t * step[j];
            fn = loss_at(z, n, d, p->l2, wn, NULL);
            if (fn <= f + 1e-4 * t * slope) break;
        }
        if (!(fn < f)) break; /* no progress possible in floating point */
        memcpy(w, wn, (size_t)d * sizeof *w);
        f = fn;
    }
    if (stats) {
        double data_loss;
        loss_at(z, n, d, p->l2, w, &data_loss);
        int64_t right = 0;
        for (int64_t k = 0; k < n; k++) {
            double m = 0;
            for (int32_t j = 0; j < d; j++) m += w[j] * z[(size_t)k * d + j];
            right += m > 0;
        }
        stats->iters = it;
        stats->loss = data_loss / (double)n;
        stats->accuracy = (double)right / (double)n;
        stats->grad_norm = gmax;
    }
    free(H); free(g); free(step); free(wn);
    return GH_OK;
}
