/* directions.c — the probe methods other than logistic regression:
 *   mass mean  w = μ1 - μ0, b = -w·(μ1 + μ0)/2 (the threshold halfway between
 *              the class means' projections)
 *   pca        first principal component of the centred pair differences
 *              x+ - x- (the LAT / representation-reading recipe), unit length, by
 *              power iteration from a seeded random start; sign such that the
 *              positive side scores higher (labels if given, else the mean
 *              difference); b = -w·(mean of all rows of both sides)
 *   ccs        contrast-consistent search (Burns et al. 2022) on pairs
 *   bt         Bradley–Terry on pair differences (gh_bt_fit, l2 = 1/C), b as for pca
 * Sums over rows go through pb_pass (fixed chunk order: deterministic). */
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "goodhart/reward.h"
#include "probe/probe_internal.h"

typedef struct wctx {
    const double *wt;  /* per-row weight */
} wctx;

static double row_weight(void *ctx, int64_t i, double z) {
    (void)z;
    return ((const wctx *)ctx)->wt[i];
}

/* g = Σ_i wt_i x_i */
static gh_status weighted_sum(const float *x, int64_t n, int32_t d, const double *wt, double *g, int32_t nt) {
    wctx c = {wt};
    return pb_pass(x, n, d, NULL, 0.0, row_weight, &c, NULL, g, NULL, nt);
}

gh_status pb_fit_mass_mean(const gh_probe_data *data, const gh_probe_train_params *p, gh_probe *pr) {
    const int64_t n = data->n;
    const int32_t d = data->d;
    if (n < 1 || d < 1) return gh_error(GH_ERR_INVALID_ARG, "no data");
    int64_t n1 = 0;
    for (int64_t i = 0; i < n; i++) n1 += data->y[i];
    const int64_t n0 = n - n1;
    double *wt = calloc((size_t)n, sizeof *wt), *g = malloc((size_t)d * sizeof *g), *h = malloc((size_t)d * sizeof *h);
    gh_status s = GH_OK;
    if (!wt || !g || !h) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    for (int64_t i = 0; i < n; i++) wt[i] = data->y[i] ? 1.0 / (double)n1 : -1.0 / (double)n0;
    if ((s = weighted_sum(data->x, n, d, wt, g, p->n_threads))) goto done; /* μ1 - μ0 */
    for (int64_t i = 0; i < n; i++) wt[i] = data->y[i] ? 0.5 / (double)n1 : 0.5 / (double)n0;
    if ((s = weighted_sum(data->x, n, d, wt, h, p->n_threads))) goto done; /* (μ1 + μ0)/2 */
    double b = 0;
    for (int32_t j = 0; j < d; j++) { pr->w[j] = (float)g[j]; b -= (double)pr->w[j] * h[j]; }
    pr->b = b;
done:
    free(wt);
    free(g);
    free(h);
    return s;
}

/* pr->b = -w·m, m the mean over all rows of both sides */
static gh_status bias_at_mean(const gh_probe_data *data, const gh_probe_train_params *p, gh_probe *pr) {
    const int64_t n = data->n;
    const int32_t d = data->d;
    double *wt = calloc((size_t)n, sizeof *wt), *g = malloc((size_t)d * sizeof *g), *h = malloc((size_t)d * sizeof *h);
    gh_status s = GH_OK;
    if (!wt || !g || !h) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    for (int64_t i = 0; i < n; i++) wt[i] = 0.5 / (double)n;
    if ((s = weighted_sum(data->x, n, d, wt, g, p->n_threads)) || (s = weighted_sum(data->x_neg, n, d, wt, h, p->n_threads))) goto done;
    double b = 0;
    for (int32_t j = 0; j < d; j++) b -= (double)pr->w[j] * (g[j] + h[j]);
    pr->b = b;
done:
    free(wt);
    free(g);
    free(h);
    return s;
}

/* differences x+ - x- [n][d], signed so that... as given (labels are not applied) */
static float *pair_diff(const gh_probe_data *data) {
    size_t nd = (size_t)data->n * data->d;
    float *z = malloc(nd * sizeof *z);
    if (!z) return NULL;
    for (size_t i = 0; i < nd; i++) z[i] = data->x[i] - data->x_neg[i];
    return z;
}

gh_status pb_fit_pca(const gh_probe_data *data, const gh_probe_train_params *p, gh_probe *pr, gh_probe_train_stats *st) {
    const int64_t n = data->n;
    const int32_t d = data->d;
    float *z = pair_diff(data);
    double *mu = malloc((size_t)d * sizeof *mu), *v = malloc((size_t)d * sizeof *v), *nv = malloc((size_t)d * sizeof *nv);
    double *wt = calloc((size_t)n, sizeof *wt), *proj = malloc((size_t)n * sizeof *proj);
    gh_status s = GH_OK;
    if (!z || !mu || !v || !nv || !wt || !proj) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    for (int64_t i = 0; i < n; i++) wt[i] = 1.0 / (double)n;
    if ((s = weighted_sum(z, n, d, wt, mu, p->n_threads))) goto done;
    gh_rng rng;
    gh_rng_seed(&rng, p->seed, 0x70636131u); /* stream "pca1" */
    double nn = 0;
    for (int32_t j = 0; j < d; j++) { v[j] = gh_rng_normal(&rng); nn += v[j] * v[j]; }
    nn = sqrt(nn);
    for (int32_t j = 0; j < d; j++) v[j] /= nn;
    int32_t it = 0;
    double lambda = 0;
    for (; it < 10000; it++) {
        /* nv = Zcᵀ Zc v with Zc = Z - 1 μᵀ: z_i = Z_i·v - μ·v, Zcᵀ z = Zᵀz - μ Σz */
        double mv = 0, R = 0;
        for (int32_t j = 0; j < d; j++) mv += mu[j] * v[j];
        if ((s = pb_pass(z, n, d, v, -mv, NULL, NULL, NULL, nv, &R, p->n_threads))) goto done;
        double nrm = 0, cs = 0;
        for (int32_t j = 0; j < d; j++) { nv[j] -= mu[j] * R; nrm += nv[j] * nv[j]; }
        nrm = sqrt(nrm);
        if (!(nrm > 0)) { s = gh_error(GH_ERR_INVALID_ARG, "pca: the pair differences have no variance"); goto done; }
        for (int32_t j = 0; j < d; j++) { nv[j] /= nrm; cs += nv[j] * v[j]; }
        memcpy(v, nv, (size_t)d * sizeof *v);
        lambda = nrm / (double)n;
        if (fabs(cs) > 1 - 1e-13) { it++; break; }
    }
    /* orientation */
    double sgn = 0;
    if (data->y) {
        if ((s = pb_pass(z, n, d, v, 0.0, NULL, NULL, proj, NULL, NULL, p->n_threads))) goto done;
        for (int64_t i = 0; i < n; i++) sgn += data->y[i] ? proj[i] : -proj[i];
    } else {
        for (int32_t j = 0; j < d; j++) sgn += mu[j] * v[j];
    }
    for (int32_t j = 0; j < d; j++) pr->w[j] = (float)(sgn < 0 ? -v[j] : v[j]);
    if (st) { st->iters = it; st->loss = lambda; st->grad_norm = 0; st->best_restart = 0; }
    s = bias_at_mean(data, p, pr);
done:
    free(z);
    free(mu);
    free(v);
    free(nv);
    free(wt);
    free(proj);
    return s;
}

gh_status pb_fit_bt(const gh_probe_data *data, const gh_probe_train_params *p, gh_probe *pr, gh_probe_train_stats *st) {
    const int64_t n = data->n;
    const int32_t d = data->d;
    if (!(p->C > 0) || !isfinite(p->C)) return gh_error(GH_ERR_INVALID_ARG, "C must be a positive number (got %g)", p->C);
    float *z = pair_diff(data);
    double *w = malloc((size_t)d * sizeof *w);
    gh_status s = GH_OK;
    if (!z || !w) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    /* chosen - rejected: the labelled positive side is the chosen one */
    if (data->y)
        for (int64_t i = 0; i < n; i++)
            if (!data->y[i])
                for (int32_t j = 0; j < d; j++) z[(size_t)i * d + j] = -z[(size_t)i * d + j];
    gh_bt_params bp = gh_bt_default_params();
    bp.l2 = 1.0 / p->C;
    bp.tol = 1e-10;
    gh_bt_stats bs;
    if ((s = gh_bt_fit(z, n, d, &bp, w, &bs))) goto done;
    for (int32_t j = 0; j < d; j++) pr->w[j] = (float)w[j];
    if (st) { st->iters = bs.iters; st->loss = bs.loss; st->grad_norm = bs.grad_norm; st->best_restart = 0; }
    s = bias_at_mean(data, p, pr);
done:
    free(z);
    free(w);
    return s;
}

/* ---- CCS ----
 * Each side is centred by its own mean and divided by one scalar, the RMS over
 * rows of ‖x - μ‖/√d (so features have unit mean variance). With
 * p± = σ(w·x̃± + b) the loss is the mean over pairs of
 *     (p+ - (1 - p-))²  +  min(p+, p-)²
 * (consistency + confidence), minimised by full-batch AdamW (β = 0.9, 0.999,
 * decoupled weight decay on w) from `ccs_restarts` starts w ~ N(0, 1/d), b = 0,
 * drawn from the random stream (seed, restart); the restart with the lowest
 * final loss wins (ties: the earlier). */
typedef struct ccs {
    const double *zo;  /* the other side's z */
    double *ro;        /* the other side's dL/dz (written) */
    double *loss;
    double inv_n;
} ccs;

static double row_ccs(void *ctx, int64_t i, double zp) {
    ccs *c = ctx;
    double pp = pb_sigmoid(zp), pn = pb_sigmoid(c->zo[i]);
    double cons = pp + pn - 1;
    double mn = pp <= pn ? pp : pn;
    c->loss[i] = cons * cons + mn * mn;
    double dp = 2 * cons + (pp <= pn ? 2 * pp : 0), dn = 2 * cons + (pp <= pn ? 0 : 2 * pn);
    c->ro[i] = c->inv_n * dn * pn * (1 - pn);
    return c->inv_n * dp * pp * (1 - pp);
}

typedef struct side {
    const float *x;
    double *mu;     /* [d] */
    double s;       /* scalar scale */
} side;

static gh_status side_stats(const float *x, int64_t n, int32_t d, side *sd, double *wt, int32_t nt) {
    for (int64_t i = 0; i < n; i++) wt[i] = 1.0 / (double)n;
    gh_status s = weighted_sum(x, n, d, wt, sd->mu, nt);
    if (s) return s;
    double ss = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        double r = 0;
        for (int32_t j = 0; j < d; j++) { double t = xi[j] - sd->mu[j]; r += t * t; }
        ss += r;
    }
    sd->s = sqrt(ss / ((double)n * d));
    if (!(sd->s > 0)) return gh_error(GH_ERR_INVALID_ARG, "ccs: one side of the pairs has no variance");
    sd->x = x;
    return GH_OK;
}

/* z = w·(x - μ)/s + b for one side, and optionally the weighted gradient */
static gh_status side_pass(const side *sd, int64_t n, int32_t d, const double *w, double b, double *u, pb_rowfn f, void *ctx,
                           double *z, double *g, double *R, int32_t nt) {
    double c = b;
    for (int32_t j = 0; j < d; j++) { u[j] = w[j] / sd->s; c -= u[j] * sd->mu[j]; }
    gh_status s = pb_pass(sd->x, n, d, u, c, f, ctx, z, g, R, nt);
    if (s || !g) return s;
    for (int32_t j = 0; j < d; j++) g[j] = (g[j] - sd->mu[j] * *R) / sd->s;
    return GH_OK;
}

gh_status pb_fit_ccs(const gh_probe_data *data, const gh_probe_train_params *p, gh_probe *pr, gh_probe_train_stats *st) {
    const int64_t n = data->n;
    const int32_t d = data->d, m = d + 1;
    if (p->ccs_restarts < 1 || p->ccs_epochs < 1) return gh_error(GH_ERR_INVALID_ARG, "ccs needs at least one restart and one epoch");
    side sp = {0}, sn = {0};
    double *mem = malloc(((size_t)m * 7 + (size_t)d * 4 + (size_t)n * 5) * sizeof *mem);
    if (!mem) return gh_error(GH_ERR_NOMEM, "out of memory");
    double *th = mem, *best = th + m, *g = best + m, *g2 = g + m, *m1 = g2 + m, *m2 = m1 + m, *u = m2 + m;
    sp.mu = u + m; sn.mu = sp.mu + d;
    double *zp = sn.mu + d + d, *zn = zp + n, *rn = zn + n, *loss = rn + n, *wt = loss + n;
    (void)zp;
    gh_status s;
    if ((s = side_stats(data->x, n, d, &sp, wt, p->n_threads)) || (s = side_stats(data->x_neg, n, d, &sn, wt, p->n_threads))) goto done;
    double best_loss = INFINITY;
    int32_t best_r = 0;
    ccs cc = {.zo = zn, .ro = rn, .loss = loss, .inv_n = 1.0 / (double)n};
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (int32_t rs = 0; rs < p->ccs_restarts; rs++) {
        gh_rng rng;
        gh_rng_seed(&rng, p->seed, 0x63637300u + (uint64_t)rs);
        for (int32_t j = 0; j < d; j++) th[j] = gh_rng_normal(&rng) / sqrt((double)d);
        th[d] = 0;
        memset(m1, 0, (size_t)m * sizeof *m1);
        memset(m2, 0, (size_t)m * sizeof *m2);
        double L = INFINITY;
        for (int32_t ep = 0; ep <= p->ccs_epochs; ep++) {
            double Rp, Rn;
            if ((s = side_pass(&sn, n, d, th, th[d], u, NULL, NULL, zn, NULL, NULL, p->n_threads)) ||
                (s = side_pass(&sp, n, d, th, th[d], u, row_ccs, &cc, NULL, g, &Rp, p->n_threads)))
                goto done;
            L = pb_sum(loss, n) / (double)n;
            if (ep == p->ccs_epochs) break; /* the loss at the final parameters */
            /* the - side's gradient, with the weights row_ccs left in rn */
            wctx wc = {rn};
            if ((s = pb_pass(sn.x, n, d, NULL, 0.0, row_weight, &wc, NULL, g2, &Rn, p->n_threads))) goto done;
            for (int32_t j = 0; j < d; j++) g[j] += (g2[j] - sn.mu[j] * Rn) / sn.s;
            g[d] = Rp + Rn;
            const double bc1 = 1 - pow(b1, ep + 1), bc2 = 1 - pow(b2, ep + 1);
            for (int32_t j = 0; j < m; j++) {
                if (j < d) th[j] -= p->ccs_lr * p->ccs_weight_decay * th[j];
                m1[j] = b1 * m1[j] + (1 - b1) * g[j];
                m2[j] = b2 * m2[j] + (1 - b2) * g[j] * g[j];
                th[j] -= p->ccs_lr * (m1[j] / bc1) / (sqrt(m2[j] / bc2) + eps);
            }
        }
        if (L < best_loss) { best_loss = L; best_r = rs; memcpy(best, th, (size_t)m * sizeof *best); }
    }
    for (int32_t j = 0; j < d; j++) pr->w[j] = (float)best[j];
    pr->b = best[d];
    pr->mean = malloc((size_t)d * sizeof *pr->mean);
    pr->scale = malloc((size_t)d * sizeof *pr->scale);
    pr->mean_pos = malloc((size_t)d * sizeof *pr->mean_pos);
    pr->mean_neg = malloc((size_t)d * sizeof *pr->mean_neg);
    if (!pr->mean || !pr->scale || !pr->mean_pos || !pr->mean_neg) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    for (int32_t j = 0; j < d; j++) {
        pr->mean_pos[j] = (float)sp.mu[j];
        pr->mean_neg[j] = (float)sn.mu[j];
        pr->mean[j] = (float)(0.5 * (sp.mu[j] + sn.mu[j]));
        pr->scale[j] = (float)(0.5 * (sp.s + sn.s));
    }
    pr->scale_pos = sp.s;
    pr->scale_neg = sn.s;
    if (st) { st->iters = p->ccs_epochs; st->loss = best_loss; st->grad_norm = 0; st->best_restart = best_r; }
done:
    free(mem);
    return s;
}
