/* metrics.c — classification metrics of probe scores (logits) with bootstrap
 * confidence intervals. Definitions are in goodhart/probe.h.
 *
 * The bootstrap works on resampling counts: resample r draws n indices from the
 * random stream (seed, r) and each metric is computed with item i weighted by
 * how often it was drawn. AUROC sorts the scores once; each resample is then a
 * linear sweep over the sorted order (tied scores form one group and count ½
 * between classes), so 1000 resamples of 10^5 items stay cheap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "probe/probe_internal.h"

/* ---- weighted metrics (c [n] counts, NULL: all 1) ---- */
static double wt(const int32_t *c, int64_t i) { return c ? (double)c[i] : 1.0; }

static double w_accuracy(const double *z, const uint8_t *y, const int32_t *c, int64_t n) {
    double k = 0, t = 0;
    for (int64_t i = 0; i < n; i++) { double w = wt(c, i); t += w; k += w * ((z[i] > 0) == (y[i] != 0)); }
    return t > 0 ? k / t : NAN;
}

static double w_log_loss(const double *z, const uint8_t *y, const int32_t *c, int64_t n) {
    double s = 0, t = 0;
    for (int64_t i = 0; i < n; i++) { double w = wt(c, i); t += w; s += w * (pb_softplus(z[i]) - (y[i] ? z[i] : 0.0)); }
    return t > 0 ? s / t : NAN;
}

static double w_brier(const double *z, const uint8_t *y, const int32_t *c, int64_t n) {
    double s = 0, t = 0;
    for (int64_t i = 0; i < n; i++) { double w = wt(c, i), e = pb_sigmoid(z[i]) - (double)y[i]; t += w; s += w * e * e; }
    return t > 0 ? s / t : NAN;
}

static double w_ece(const double *z, const uint8_t *y, const int32_t *c, int64_t n) {
    double cnt[10] = {0}, sy[10] = {0}, sp[10] = {0}, t = 0;
    for (int64_t i = 0; i < n; i++) {
        double w = wt(c, i), p = pb_sigmoid(z[i]);
        int k = (int)(p * 10);
        if (k > 9) k = 9;
        if (k < 0) k = 0;
        cnt[k] += w; sy[k] += w * y[i]; sp[k] += w * p; t += w;
    }
    if (!(t > 0)) return NAN;
    double e = 0;
    for (int k = 0; k < 10; k++)
        if (cnt[k] > 0) e += cnt[k] / t * fabs(sy[k] / cnt[k] - sp[k] / cnt[k]);
    return e;
}

/* order [n]: indices sorted by z ascending */
static double w_auroc(const double *z, const uint8_t *y, const int32_t *c, const int64_t *order, int64_t n) {
    double below0 = 0, num = 0, n1 = 0, n0 = 0;
    for (int64_t a = 0; a < n;) {
        int64_t e = a;
        double g1 = 0, g0 = 0;
        while (e < n && z[order[e]] == z[order[a]]) {
            int64_t i = order[e++];
            if (y[i]) g1 += wt(c, i); else g0 += wt(c, i);
        }
        /* positives of this group beat every earlier negative, tie with this group's */
        num += g1 * (below0 + 0.5 * g0);
        below0 += g0;
        n1 += g1; n0 += g0;
        a = e;
    }
    return n1 > 0 && n0 > 0 ? num / (n1 * n0) : NAN;
}

static _Thread_local const double *g_sort_z;
static int cmp_idx(const void *a, const void *b) {
    double x = g_sort_z[*(const int64_t *)a], y = g_sort_z[*(const int64_t *)b];
    if (x < y) return -1;
    if (x > y) return 1;
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    return (i > j) - (i < j);
}

/* sorts indices by z (ties by index: a total order, so qsort is deterministic);
 * NaN scores are rejected before */
static int64_t *sort_order(const double *z, int64_t n) {
    int64_t *o = malloc((size_t)(n ? n : 1) * sizeof *o);
    if (!o) return NULL;
    for (int64_t i = 0; i < n; i++) o[i] = i;
    g_sort_z = z; /* qsort has no context argument: a thread-local */
    qsort(o, (size_t)n, sizeof *o, cmp_idx);
    return o;
}

double gh_metric_accuracy(const double *z, const uint8_t *y, int64_t n) { return w_accuracy(z, y, NULL, n); }
double gh_metric_log_loss(const double *z, const uint8_t *y, int64_t n) { return w_log_loss(z, y, NULL, n); }
double gh_metric_brier(const double *z, const uint8_t *y, int64_t n) { return w_brier(z, y, NULL, n); }
double gh_metric_ece(const double *z, const uint8_t *y, int64_t n) { return w_ece(z, y, NULL, n); }
double gh_metric_auroc(const double *z, const uint8_t *y, int64_t n) {
    int64_t *o = sort_order(z, n);
    if (!o) return NAN;
    double a = w_auroc(z, y, NULL, o, n);
    free(o);
    return a;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* percentile q (0..1) of sorted v[n], linear interpolation (numpy's default) */
static double pct(const double *v, int64_t n, double q) {
    double h = q * (double)(n - 1);
    int64_t lo = (int64_t)floor(h);
    if (lo >= n - 1) return v[n - 1];
    return v[lo] + (h - (double)lo) * (v[lo + 1] - v[lo]);
}

static void ci_of(gh_metric_ci *ci, double *vals, int64_t nb) {
    int64_t k = 0;
    for (int64_t i = 0; i < nb; i++)
        if (!isnan(vals[i])) vals[k++] = vals[i];
    if (k == 0) { ci->lo = ci->hi = ci->value; return; }
    qsort(vals, (size_t)k, sizeof *vals, cmp_d);
    ci->lo = pct(vals, k, 0.025);
    ci->hi = pct(vals, k, 0.975);
}

gh_status gh_probe_metrics_compute(const double *z, const uint8_t *y, int64_t n, int32_t n_boot,
                                   uint64_t seed, gh_probe_metrics *out) {
    memset(out, 0, sizeof *out);
    if (n < 1) return gh_error(GH_ERR_INVALID_ARG, "no scores to compute metrics of");
    if (n_boot < 0) return gh_error(GH_ERR_INVALID_ARG, "negative number of bootstrap resamples");
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(z[i])) return gh_error(GH_ERR_INVALID_ARG, "score %lld is not finite", (long long)i);
        if (y[i] > 1) return gh_error(GH_ERR_INVALID_ARG, "label %lld is %u, not 0 or 1", (long long)i, y[i]);
        out->n_pos += y[i];
    }
    out->n = n;
    int64_t *o = sort_order(z, n);
    int32_t *c = malloc((size_t)n * sizeof *c);
    double *vals = malloc((size_t)(n_boot ? n_boot : 1) * 5 * sizeof *vals);
    if (!o || !c || !vals) { free(o); free(c); free(vals); return gh_error(GH_ERR_NOMEM, "out of memory"); }
    out->accuracy.value = w_accuracy(z, y, NULL, n);
    out->auroc.value = w_auroc(z, y, NULL, o, n);
    out->log_loss.value = w_log_loss(z, y, NULL, n);
    out->brier.value = w_brier(z, y, NULL, n);
    out->ece.value = w_ece(z, y, NULL, n);
    for (int32_t r = 0; r < n_boot; r++) {
        gh_rng rng;
        gh_rng_seed(&rng, seed, 0x626f6f74000000ull + (uint64_t)r); /* "boot" */
        memset(c, 0, (size_t)n * sizeof *c);
        for (int64_t k = 0; k < n; k++) c[gh_rng_next(&rng) % (uint64_t)n]++;
        vals[0 * n_boot + r] = w_accuracy(z, y, c, n);
        vals[1 * n_boot + r] = w_auroc(z, y, c, o, n);
        vals[2 * n_boot + r] = w_log_loss(z, y, c, n);
        vals[3 * n_boot + r] = w_brier(z, y, c, n);
        vals[4 * n_boot + r] = w_ece(z, y, c, n);
    }
    gh_metric_ci *cis[5] = {&out->accuracy, &out->auroc, &out->log_loss, &out->brier, &out->ece};
    for (int k = 0; k < 5; k++) {
        if (n_boot) ci_of(cis[k], vals + (size_t)k * n_boot, n_boot);
        else cis[k]->lo = cis[k]->hi = cis[k]->value;
    }
    free(o);
    free(c);
    free(vals);
    return GH_OK;
}

static void put(char *buf, size_t cap, size_t *len, const char *name, const gh_metric_ci *m) {
    if (*len >= cap) return;
    if (isnan(m->value))
        *len += (size_t)snprintf(buf + *len, cap - *len, ",\"%s\":null", name);
    else
        *len += (size_t)snprintf(buf + *len, cap - *len, ",\"%s\":[%.9g,%.9g,%.9g]", name, m->value, m->lo, m->hi);
}

char *gh_probe_metrics_json(const gh_probe_metrics *m) {
    size_t cap = 1024, len = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    len = (size_t)snprintf(buf, cap, "{\"n\":%lld,\"n_pos\":%lld", (long long)m->n, (long long)m->n_pos);
    put(buf, cap, &len, "accuracy", &m->accuracy);
    put(buf, cap, &len, "auroc", &m->auroc);
    put(buf, cap, &len, "log_loss", &m->log_loss);
    put(buf, cap, &len, "brier", &m->brier);
    put(buf, cap, &len, "ece", &m->ece);
    if (len + 2 < cap) { buf[len++] = '}'; buf[len] = 0; }
    return buf;
}
