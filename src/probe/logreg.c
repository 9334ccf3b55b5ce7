/* logreg.c — L2 logistic regression with scikit-learn's objective
 *     f(w, b) = C · Σ_i [log(1 + e^{z_i}) - y_i z_i] + ½‖w‖²,   z_i = w·x̃_i + b
 * (b unpenalised), minimised by Newton-CG: each Newton step solves H p = -g by
 * conjugate gradients (Jacobi-preconditioned, see jacobi()) using
 * Hessian-vector products
 *     H v = C X̃ᵀ D (X̃ v_w + v_b) + v_w,   D = diag σ(z)(1 - σ(z))
 * so no d×d matrix is formed (d may be many thousands); then a backtracking
 * (Armijo) line search. Newton converges quadratically, so the gradient is
 * driven down to 1e-8 of its starting size (tol), which is what agreeing with
 * scikit-learn's coefficients to 1e-4 needs.
 *
 * Standardisation is applied on the fly: x̃ = (x - μ)/σ gives
 * z = (w/σ)·x + (b - (w/σ)·μ) and X̃ᵀr = (Xᵀr - μ Σr)/σ, so X is never copied.
 * Every pass over X is pb_pass (linear.c): deterministic for any thread count.
 * The Hessian passes read a float16 copy of X where the CPU can (hv_pass). */
#include <stdlib.h>
#include <string.h>

#include "probe/probe_internal.h"

typedef struct lr {
    const float *x;
    const uint16_t *xh;    /* float16 copy of x for the Hessian passes, or NULL */
    float xh_inv;
    const uint8_t *y;
    int64_t n;
    int32_t d, m;          /* m = d + intercept */
    const double *mean, *scale;
    double C;
    int32_t nt;
    double *loss;          /* [n] per-row loss at the last evaluated point */
    double *D;             /* [n] C·σ(1-σ) at the last evaluated point */
    const double *Dcur;    /* the D the Hessian uses */
    double *u;             /* [d] scratch */
    float *uf;             /* [d] scratch (float Hessian-vector passes) */
    float *part;           /* chunk partial sums of those passes */
    int64_t passes, half_passes;
} lr;

static double row_grad(void *ctx, int64_t i, double z) {
    lr *L = ctx;
    double s = pb_sigmoid(z);
    L->loss[i] = pb_softplus(z) - (L->y[i] ? z : 0.0);
    L->D[i] = L->C * s * (1.0 - s);
    return L->C * (s - (double)L->y[i]);
}

/* The weights on raw x, u = w/σ, into u (double) or uf (float), whichever is
 * given; returns the offset b - u·μ (see the top). */
static double to_raw(const lr *L, const double *theta, double *u, float *uf) {
    double c = L->m > L->d ? theta[L->d] : 0.0;
    for (int32_t j = 0; j < L->d; j++) {
        double uj = L->scale ? theta[j] / L->scale[j] : theta[j];
        if (u) u[j] = uj;
        if (uf) uf[j] = (float)uj;
        if (L->mean) c -= uj * L->mean[j];
    }
    return c;
}

/* out = Xᵀr, R = Σr from a pass over raw x, turned into X̃ᵀr = (Xᵀr - μR)/σ
 * and, with an intercept, R as its last entry. */
static void from_raw(const lr *L, double *out, double R) {
    for (int32_t j = 0; j < L->d; j++) {
        if (L->mean) out[j] -= L->mean[j] * R;
        if (L->scale) out[j] /= L->scale[j];
    }
    if (L->m > L->d) out[L->d] = R;
}

/* out = X̃ᵀ-side of a pass with weights theta (w [d], then b if m > d) */
static gh_status pass(lr *L, const double *theta, pb_rowfn f, double *out) {
    double c = to_raw(L, theta, L->u, NULL), R = 0;
    L->passes++;
    gh_status s = pb_pass(L->x, L->n, L->d, L->u, c, f, L, NULL, out, &R, L->nt);
    if (s) return s;
    from_raw(L, out, R);
    return GH_OK;
}

/* out = H v without the + v_w term: the same pass as above with r_i = D_i z_i,
 * in float32 (pb_pass_hv_f32) and, where the CPU has F16C, reading a float16
 * copy of X: half the bytes of the pass that Newton-CG repeats most. The
 * product is then that of a Hessian with X rounded to 11 bits (~5e-4
 * relative): CG solves a slightly different SPD system, which makes each Newton
 * step a little less exact (linear convergence at a rate of that order
 * instead of quadratic near the end) but moves no optimum: the gradient, which
 * decides where Newton stops, stays a double pass over the float32 X. */
static gh_status hv_pass(lr *L, const double *v, double *out) {
    double c = to_raw(L, v, NULL, L->uf), R = 0;
    L->passes++;
    if (L->xh) L->half_passes++;
    gh_status s = pb_pass_hv_f32(L->x, L->xh, L->xh_inv, L->n, L->d, L->uf, c, L->Dcur, out, &R, L->part, L->nt);
    if (s) return s;
    from_raw(L, out, R);
    return GH_OK;
}

/* The Jacobi preconditioner of CG, prec = 1/diag(H) at the weights L->Dcur:
 * H_jj = 1 + C Σ_i D_i x_ij² for the weights, C Σ_i D_i for the intercept.
 * Raw activations have per-feature scales that differ by orders of magnitude,
 * which this removes from H's conditioning; it costs one (float16) pass per
 * Newton step, and on features of equal scale changes little. With
 * standardisation the features already have unit scale: no preconditioner. */
static gh_status jacobi(lr *L, double *prec) {
    for (int32_t j = 0; j < L->m; j++) prec[j] = 1.0;
    if (L->mean || L->scale) return GH_OK;
    double S0 = 0;
    L->passes++;
    if (L->xh) L->half_passes++;
    gh_status s = pb_pass_diag(L->x, L->xh, L->xh_inv, L->n, L->d, L->Dcur, prec, &S0, L->part, L->nt);
    if (s) return s;
    for (int32_t j = 0; j < L->d; j++) prec[j] = 1.0 / (1.0 + prec[j]);
    if (L->m > L->d) prec[L->d] = S0 > 0 ? 1.0 / S0 : 1.0;
    return GH_OK;
}

/* f and gradient at theta; fills L->loss and L->D */
static gh_status eval(lr *L, const double *theta, double *f, double *g) {
    gh_status s = pass(L, theta, row_grad, g);
    if (s) return s;
    double r = 0;
    for (int32_t j = 0; j < L->d; j++) { g[j] += theta[j]; r += theta[j] * theta[j]; }
    *f = L->C * pb_sum(L->loss, L->n) + 0.5 * r;
    return GH_OK;
}

static double dotm(const double *a, const double *b, int32_t m) {
    double s = 0;
    for (int32_t j = 0; j < m; j++) s += a[j] * b[j];
    return s;
}

static double maxabs(const double *a, int32_t m) {
    double s = 0;
    for (int32_t j = 0; j < m; j++) s = fabs(a[j]) > s ? fabs(a[j]) : s;
    return s;
}

gh_probe_train_params gh_probe_default_train_params(void) {
    gh_probe_train_params p = {.method = GH_PROBE_LOGREG, .C = 1.0, .fit_intercept = true, .standardize = false,
                               .tol = 1e-8, .max_iter = 100, .seed = 0, .ccs_restarts = 10, .ccs_epochs = 1000,
                               .ccs_lr = 1e-2, .ccs_weight_decay = 0.01, .n_threads = 0};
    return p;
}

gh_status gh_logreg_fit(const float *x, const uint8_t *y, int64_t n, int32_t d, const double *mean,
                        const double *scale, const gh_probe_train_params *p, double *w, double *b,
                        gh_probe_train_stats *stats) {
    if (n < 1 || d < 1) return gh_error(GH_ERR_INVALID_ARG, "logistic regression needs at least one row and one feature");
    if (!(p->C > 0) || !isfinite(p->C)) return gh_error(GH_ERR_INVALID_ARG, "C must be a positive number (got %g)", p->C);
    if (!(p->tol > 0)) return gh_error(GH_ERR_INVALID_ARG, "tol must be positive (got %g)", p->tol);
    lr L = {.x = x, .y = y, .n = n, .d = d, .m = d + (p->fit_intercept ? 1 : 0), .mean = mean, .scale = scale,
            .C = p->C, .nt = p->n_threads};
    const int32_t m = L.m;
    L.loss = malloc((size_t)n * sizeof *L.loss);
    L.D = malloc((size_t)n * sizeof *L.D);
    double *Dkeep = malloc((size_t)n * sizeof *Dkeep);
    L.u = malloc((size_t)d * sizeof *L.u);
    L.uf = malloc((size_t)d * sizeof *L.uf);
    L.part = malloc(pb_part_floats(n, d) * sizeof *L.part);
    double *buf = malloc((size_t)m * 10 * sizeof *buf);
    uint16_t *xh = pb_half_copy(x, n, d, p->n_threads, &L.xh_inv);
    L.xh = xh;
    gh_status s = GH_OK;
    if (!L.loss || !L.D || !Dkeep || !L.u || !L.uf || !L.part || !buf) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    double *th = buf, *g = buf + m, *pd = buf + 2 * m, *r = buf + 3 * m, *q = buf + 4 * m, *Hq = buf + 5 * m,
           *tn = buf + 6 * m, *gn = buf + 7 * m, *prec = buf + 8 * m, *z = buf + 9 * m;
    memset(th, 0, (size_t)m * sizeof *th);
    double f;
    if ((s = eval(&L, th, &f, g))) goto done;
    memcpy(Dkeep, L.D, (size_t)n * sizeof *Dkeep);
    const double g0 = maxabs(g, m), scale_tol = p->tol * (g0 > 1 ? g0 : 1);
    const double g0n = sqrt(dotm(g, g, m));
    double gmax = g0;
    int32_t it = 0;
    for (; it < p->max_iter && gmax > scale_tol; it++) {
        /* CG on H pd = -g, to a relative residual eta (Eisenstat–Walker style) */
        double gn2 = dotm(g, g, m);
        double eta = sqrt(sqrt(gn2) / (g0n > 0 ? g0n : 1));
        if (eta > 0.5) eta = 0.5;
        L.Dcur = Dkeep;
        if ((s = jacobi(&L, prec))) goto done;
        memset(pd, 0, (size_t)m * sizeof *pd);
        for (int32_t j = 0; j < m; j++) { r[j] = -g[j]; z[j] = prec[j] * r[j]; q[j] = z[j]; }
        double rr = gn2, rz = dotm(r, z, m);
        for (int32_t k = 0; k < 10 * m + 50 && rr > eta * eta * gn2; k++) {
            if ((s = hv_pass(&L, q, Hq))) goto done;
            for (int32_t j = 0; j < d; j++) Hq[j] += q[j];
            double qHq = dotm(q, Hq, m);
            if (!(qHq > 0)) break;
            double a = rz / qHq;
            for (int32_t j = 0; j < m; j++) { pd[j] += a * q[j]; r[j] -= a * Hq[j]; z[j] = prec[j] * r[j]; }
            rr = dotm(r, r, m);
            double rz2 = dotm(r, z, m), beta = rz2 / rz;
            rz = rz2;
            for (int32_t j = 0; j < m; j++) q[j] = z[j] + beta * q[j];
        }
        double gp = dotm(g, pd, m);
        if (!(gp < 0)) break; /* no descent direction left: at the optimum to rounding */
        double a = 1, fn = f;
        bool ok = false;
        for (int32_t ls = 0; ls < 40; ls++, a *= 0.5) {
            for (int32_t j = 0; j < m; j++) tn[j] = th[j] + a * pd[j];
            if ((s = eval(&L, tn, &fn, gn))) goto done;
            /* Armijo; near the optimum f changes below its rounding, so a step
             * that reduces the gradient without raising f beyond that counts */
            if (fn <= f + 1e-4 * a * gp || (fn - f <= 1e-13 * fabs(f) && maxabs(gn, m) < gmax)) { ok = true; break; }
        }
        if (!ok) break;
        memcpy(th, tn, (size_t)m * sizeof *th);
        memcpy(g, gn, (size_t)m * sizeof *g);
        memcpy(Dkeep, L.D, (size_t)n * sizeof *Dkeep);
        f = fn;
        gmax = maxabs(g, m);
    }
    memcpy(w, th, (size_t)d * sizeof *w);
    *b = m > d ? th[d] : 0.0;
    if (stats) {
        stats->iters = it;
        stats->loss = f;
        stats->grad_norm = gmax;
        stats->best_restart = 0;
        stats->passes = L.passes;
        stats->half_passes = L.half_passes;
    }
done:
    free(L.loss);
    free(L.D);
    free(Dkeep);
    free(L.u);
    free(L.uf);
    free(L.part);
    free(buf);
    free(xh);
    return s;
}
