/* probe.c — the probe object: training dispatch (logreg.c, directions.c),
 * scoring, orientation, stratified cross-validation, the probe file (GGUF,
 * layout in goodhart/probe.h) and the penalty-scaling rule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "goodhart/gguf.h"
#include "probe/probe_internal.h"

static const char *const method_names[] = {"logreg", "mass-mean", "pca", "ccs", "bt"};

const char *gh_probe_method_name(gh_probe_method m) {
    return (unsigned)m < 5 ? method_names[m] : "?";
}

bool gh_probe_method_from_name(const char *name, gh_probe_method *out) {
    for (int i = 0; i < 5; i++)
        if (!strcmp(name, method_names[i])) { *out = (gh_probe_method)i; return true; }
    return false;
}

bool gh_probe_method_pairs(gh_probe_method m) { return m == GH_PROBE_PCA || m == GH_PROBE_CCS || m == GH_PROBE_BT; }

gh_status gh_probe_init(gh_probe **out, gh_probe_method method, int32_t d) {
    *out = NULL;
    if (d < 1) return gh_error(GH_ERR_INVALID_ARG, "a probe needs at least one feature");
    gh_probe *p = calloc(1, sizeof *p);
    if (!p || !(p->w = calloc((size_t)d, sizeof *p->w))) { free(p); return gh_error(GH_ERR_NOMEM, "out of memory"); }
    p->method = method;
    p->d = d;
    p->layer = -1;
    *out = p;
    return GH_OK;
}

void gh_probe_free(gh_probe *p) {
    if (!p) return;
    free(p->w);
    free(p->mean);
    free(p->scale);
    free(p->mean_pos);
    free(p->mean_neg);
    free(p->metrics_json);
    free(p);
}

gh_status pb_check_data(const gh_probe_data *data, bool pairs, bool need_labels, bool need_both) {
    if (data->n < 1 || data->d < 1 || !data->x) return gh_error(GH_ERR_INVALID_ARG, "no data (%lld rows of %d features)", (long long)data->n, data->d);
    if (pairs && !data->x_neg) return gh_error(GH_ERR_INVALID_ARG, "this method learns from contrast pairs: give both sides (x+ and x-)");
    if (!pairs && data->x_neg) return gh_error(GH_ERR_INVALID_ARG, "this method learns from single vectors with labels, not from pairs");
    if (need_labels && !data->y) return gh_error(GH_ERR_INVALID_ARG, "labels are required");
    const size_t nd = (size_t)data->n * data->d;
    for (int side = 0; side < (data->x_neg ? 2 : 1); side++) {
        const float *x = side ? data->x_neg : data->x;
        for (size_t i = 0; i < nd; i++)
            if (!isfinite(x[i]))
                return gh_error(GH_ERR_INVALID_ARG, "%sfeature [%lld, %lld] is not finite", data->x_neg ? (side ? "- side: " : "+ side: ") : "",
                                (long long)(i / data->d), (long long)(i % data->d));
    }
    if (data->y) {
        int64_t n1 = 0;
        for (int64_t i = 0; i < data->n; i++) {
            if (data->y[i] > 1) return gh_error(GH_ERR_INVALID_ARG, "label %lld is %u, not 0 or 1", (long long)i, data->y[i]);
            n1 += data->y[i];
        }
        if (need_both && (n1 == 0 || n1 == data->n))
            return gh_error(GH_ERR_INVALID_ARG, "all %lld labels are %d: training needs both classes", (long long)data->n, n1 ? 1 : 0);
    }
    return GH_OK;
}

/* population mean and standard deviation per feature (zero sd -> 1, as scikit-learn) */
static void col_stats(const float *x, int64_t n, int32_t d, double *mean, double *sd) {
    for (int32_t j = 0; j < d; j++) mean[j] = sd[j] = 0;
    for (int64_t i = 0; i < n; i++)
        for (int32_t j = 0; j < d; j++) mean[j] += x[(size_t)i * d + j];
    for (int32_t j = 0; j < d; j++) mean[j] /= (double)n;
    for (int64_t i = 0; i < n; i++)
        for (int32_t j = 0; j < d; j++) { double t = x[(size_t)i * d + j] - mean[j]; sd[j] += t * t; }
    for (int32_t j = 0; j < d; j++) {
        sd[j] = sqrt(sd[j] / (double)n);
        if (!(sd[j] > 0)) sd[j] = 1;
    }
}

static gh_status fit_logreg(const gh_probe_data *data, const gh_probe_train_params *p, gh_probe *pr, gh_probe_train_stats *st) {
    const int32_t d = data->d;
    double *w = malloc((size_t)d * sizeof *w), *mean = NULL, *sd = NULL;
    gh_status s = GH_OK;
    if (!w) return gh_error(GH_ERR_NOMEM, "out of memory");
    if (p->standardize) {
        mean = malloc((size_t)d * sizeof *mean);
        sd = malloc((size_t)d * sizeof *sd);
        pr->mean = malloc((size_t)d * sizeof *pr->mean);
        pr->scale = malloc((size_t)d * sizeof *pr->scale);
        if (!mean || !sd || !pr->mean || !pr->scale) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
        col_stats(data->x, data->n, d, mean, sd);
        /* the file holds float32: fit with exactly the values it will apply */
        for (int32_t j = 0; j < d; j++) {
            pr->mean[j] = (float)mean[j];
            pr->scale[j] = (float)sd[j];
            mean[j] = pr->mean[j];
            sd[j] = pr->scale[j];
        }
    }
    double b;
    if ((s = gh_logreg_fit(data->x, data->y, data->n, d, mean, sd, p, w, &b, st))) goto done;
    for (int32_t j = 0; j < d; j++) pr->w[j] = (float)w[j];
    pr->b = b;
done:
    free(w);
    free(mean);
    free(sd);
    return s;
}

gh_status gh_probe_train(const gh_probe_data *data, const gh_probe_train_params *p, gh_probe **out,
                         gh_probe_train_stats *stats) {
    *out = NULL;
    const bool pairs = gh_probe_method_pairs(p->method);
    if ((unsigned)p->method > GH_PROBE_BT) return gh_error(GH_ERR_INVALID_ARG, "unknown probe method %d", (int)p->method);
    if (p->standardize && p->method != GH_PROBE_LOGREG) return gh_error(GH_ERR_INVALID_ARG, "standardisation is an option of logreg only");
    if (pairs && !data->x_neg)
        return gh_error(GH_ERR_INVALID_ARG, "method %s learns from contrast pairs: give both sides (x+ and x-)", gh_probe_method_name(p->method));
    gh_status s = pb_check_data(data, pairs, !pairs, !pairs);
    if (s) return s;
    gh_probe *pr = NULL;
    if ((s = gh_probe_init(&pr, p->method, data->d))) return s;
    gh_probe_train_stats st = {0};
    switch (p->method) {
    case GH_PROBE_LOGREG: s = fit_logreg(data, p, pr, &st); break;
    case GH_PROBE_MASS_MEAN: s = pb_fit_mass_mean(data, p, pr); break;
    case GH_PROBE_PCA: s = pb_fit_pca(data, p, pr, &st); break;
    case GH_PROBE_CCS: s = pb_fit_ccs(data, p, pr, &st); break;
    case GH_PROBE_BT: s = pb_fit_bt(data, p, pr, &st); break;
    }
    if (s) { gh_probe_free(pr); return s; }
    pr->C = (p->method == GH_PROBE_LOGREG || p->method == GH_PROBE_BT) ? p->C : 0.0;
    pr->n_train = data->n;
    if (stats) *stats = st;
    *out = pr;
    return GH_OK;
}

/* z = w·(x - mean)/scale + b over n rows, with an explicit centre/scale */
static gh_status score_rows(const gh_probe *p, const float *x, int64_t n, const float *mean, const float *scale,
                            double scalar_scale, double *z) {
    const int32_t d = p->d;
    double *u = malloc((size_t)d * sizeof *u);
    if (!u) return gh_error(GH_ERR_NOMEM, "out of memory");
    double c = p->b;
    for (int32_t j = 0; j < d; j++) {
        double sc = scale ? (double)scale[j] : scalar_scale;
        u[j] = (double)p->w[j] / sc;
        if (mean) c -= u[j] * mean[j];
    }
    gh_status s = pb_pass(x, n, d, u, c, NULL, NULL, z, NULL, NULL, 0);
    free(u);
    return s;
}

gh_status gh_probe_score(const gh_probe *p, const gh_probe_data *data, double *out) {
    if (data->d != p->d)
        return gh_error(GH_ERR_MISMATCH, "the probe has %d features, the data %d", p->d, data->d);
    if (data->n < 1) return GH_OK;
    const size_t nd = (size_t)data->n * data->d;
    for (int side = 0; side < (data->x_neg ? 2 : 1); side++) {
        const float *x = side ? data->x_neg : data->x;
        for (size_t i = 0; i < nd; i++)
            if (!isfinite(x[i]))
                return gh_error(GH_ERR_INVALID_ARG, "feature [%lld, %lld] is not finite", (long long)(i / data->d), (long long)(i % data->d));
    }
    if (!data->x_neg) return score_rows(p, data->x, data->n, p->mean, p->scale, 1.0, out);
    double *zn = malloc((size_t)data->n * sizeof *zn);
    if (!zn) return gh_error(GH_ERR_NOMEM, "out of memory");
    gh_status s;
    if (p->method == GH_PROBE_CCS && p->mean_pos && p->mean_neg) {
        if (!(s = score_rows(p, data->x, data->n, p->mean_pos, NULL, p->scale_pos, out)) &&
            !(s = score_rows(p, data->x_neg, data->n, p->mean_neg, NULL, p->scale_neg, zn)))
            for (int64_t i = 0; i < data->n; i++) {
                /* logit(½(σ(z+) + 1 - σ(z-))) = log(σ(z+) + σ(-z-)) - log(σ(-z+) + σ(z-)) */
                double num = pb_sigmoid(out[i]) + pb_sigmoid(-zn[i]), den = pb_sigmoid(-out[i]) + pb_sigmoid(zn[i]);
                out[i] = log(num) - log(den);
            }
    } else {
        if (!(s = score_rows(p, data->x, data->n, p->mean, p->scale, 1.0, out)) &&
            !(s = score_rows(p, data->x_neg, data->n, p->mean, p->scale, 1.0, zn)))
            for (int64_t i = 0; i < data->n; i++) out[i] -= zn[i];
    }
    free(zn);
    return s;
}

/* labels of data (pairs without labels: all 1), malloc'd */
static uint8_t *labels_of(const gh_probe_data *data) {
    uint8_t *y = malloc((size_t)data->n);
    if (!y) return NULL;
    if (data->y) memcpy(y, data->y, (size_t)data->n);
    else memset(y, 1, (size_t)data->n);
    return y;
}

gh_status gh_probe_orient(gh_probe *p, const gh_probe_data *data, bool *flipped) {
    *flipped = false;
    if (!data->y) return gh_error(GH_ERR_INVALID_ARG, "orienting a probe needs labels");
    double *z = malloc((size_t)(data->n ? data->n : 1) * sizeof *z);
    if (!z) return gh_error(GH_ERR_NOMEM, "out of memory");
    gh_status s = gh_probe_score(p, data, z);
    if (!s) {
        double a = gh_metric_auroc(z, data->y, data->n);
        if (isnan(a)) s = gh_error(GH_ERR_INVALID_ARG, "orienting a probe needs both labels among the data");
        else if (a < 0.5) {
            for (int32_t j = 0; j < p->d; j++) p->w[j] = -p->w[j];
            p->b = -p->b;
            *flipped = true;
        }
    }
    free(z);
    return s;
}

gh_status gh_probe_cv(const gh_probe_data *data, const gh_probe_train_params *p, int32_t k,
                      uint64_t seed, double *oof, gh_probe_metrics *out, int32_t n_boot) {
    const int64_t n = data->n;
    const int32_t d = data->d;
    if (k < 2 || k > n) return gh_error(GH_ERR_INVALID_ARG, "cross-validation needs 2 <= k <= n (k = %d, n = %lld)", k, (long long)n);
    uint8_t *y = labels_of(data);
    int32_t *fold = malloc((size_t)n * sizeof *fold);
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    double *z = malloc((size_t)n * sizeof *z), *ooz = oof ? oof : malloc((size_t)n * sizeof *ooz);
    float *tx = malloc((size_t)n * d * sizeof *tx), *tn = data->x_neg ? malloc((size_t)n * d * sizeof *tn) : NULL;
    float *vx = malloc((size_t)n * d * sizeof *vx), *vn = data->x_neg ? malloc((size_t)n * d * sizeof *vn) : NULL;
    uint8_t *ty = malloc((size_t)n), *vy = malloc((size_t)n);
    gh_status s = GH_OK;
    if (!y || !fold || !idx || !z || !ooz || !tx || !vx || !ty || !vy || (data->x_neg && (!tn || !vn))) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    /* stratified assignment: shuffle each class, deal in turn across both */
    gh_rng rng;
    gh_rng_seed(&rng, seed, 0x6376u); /* "cv" */
    int64_t dealt = 0;
    for (int cls = 0; cls < 2; cls++) {
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (y[i] == cls) idx[m++] = i;
        for (int64_t i = m - 1; i > 0; i--) {
            int64_t j = (int64_t)(gh_rng_next(&rng) % (uint64_t)(i + 1));
            int64_t t = idx[i]; idx[i] = idx[j]; idx[j] = t;
        }
        for (int64_t i = 0; i < m; i++) fold[idx[i]] = (int32_t)(dealt++ % k);
    }
    for (int32_t f = 0; f < k && !s; f++) {
        int64_t nt = 0, nv = 0;
        for (int64_t i = 0; i < n; i++) {
            bool val = fold[i] == f;
            int64_t r = val ? nv++ : nt++;
            memcpy((val ? vx : tx) + (size_t)r * d, data->x + (size_t)i * d, (size_t)d * sizeof *tx);
            if (data->x_neg) memcpy((val ? vn : tn) + (size_t)r * d, data->x_neg + (size_t)i * d, (size_t)d * sizeof *tn);
            (val ? vy : ty)[r] = y[i];
        }
        gh_probe_data td = {.x = tx, .x_neg = data->x_neg ? tn : NULL, .y = data->y ? ty : NULL, .n = nt, .d = d};
        gh_probe_data vd = {.x = vx, .x_neg = data->x_neg ? vn : NULL, .y = NULL, .n = nv, .d = d};
        gh_probe *pr = NULL;
        if ((s = gh_probe_train(&td, p, &pr, NULL)) || (s = gh_probe_score(pr, &vd, z))) {
            gh_error_prefix("cross-validation fold %d of %d", f + 1, k);
            gh_probe_free(pr);
            break;
        }
        gh_probe_free(pr);
        int64_t r = 0;
        for (int64_t i = 0; i < n; i++)
            if (fold[i] == f) ooz[i] = z[r++];
    }
    if (!s && out) s = gh_probe_metrics_compute(ooz, y, n, n_boot, seed, out);
done:
    free(y);
    free(fold);
    free(idx);
    free(z);
    if (ooz != oof) free(ooz);
    free(tx);
    free(tn);
    free(vx);
    free(vn);
    free(ty);
    free(vy);
    return s;
}

/* ---- the probe file ---- */

gh_status gh_probe_save(const gh_probe *p, const char *path) {
    gh_gguf_writer *gw = NULL;
    gh_status s = gh_gguf_writer_init(&gw);
    if (s) return s;
    const int64_t ne[1] = {p->d}, ne1[1] = {1};
    const float bf = (float)p->b;
    const bool ccs = p->method == GH_PROBE_CCS && p->mean_pos && p->mean_neg;
    if (!(s = gh_gguf_set_str(gw, "general.architecture", "goodhart.probe")) &&
        !(s = gh_gguf_set_str(gw, "goodhart.probe.method", gh_probe_method_name(p->method))) &&
        !(s = gh_gguf_set_f64(gw, "goodhart.probe.C", p->C)) &&
        !(s = gh_gguf_set_i32(gw, "goodhart.probe.layer", p->layer)) &&
        !(s = gh_gguf_set_str(gw, "goodhart.probe.pool", p->pool)) &&
        !(s = gh_gguf_set_str(gw, "goodhart.probe.model_sha256", p->model_sha256)) &&
        !(s = gh_gguf_set_str(gw, "goodhart.probe.data_sha256", p->data_sha256)) &&
        !(s = gh_gguf_set_str(gw, "goodhart.probe.metrics", p->metrics_json ? p->metrics_json : "")) &&
        !(s = gh_gguf_set_u32(gw, "goodhart.probe.n_features", (uint32_t)p->d)) &&
        !(s = gh_gguf_set_u64(gw, "goodhart.probe.n_train", (uint64_t)p->n_train)) &&
        !(s = gh_gguf_set_f64(gw, "goodhart.probe.bias", p->b)) &&
        !(s = gh_gguf_add_tensor(gw, "probe.weight", GH_TYPE_F32, 1, ne, p->w)) &&
        !(s = gh_gguf_add_tensor(gw, "probe.bias", GH_TYPE_F32, 1, ne1, &bf)) &&
        !(s = p->mean ? gh_gguf_add_tensor(gw, "probe.mean", GH_TYPE_F32, 1, ne, p->mean) : GH_OK) &&
        !(s = p->scale ? gh_gguf_add_tensor(gw, "probe.scale", GH_TYPE_F32, 1, ne, p->scale) : GH_OK) &&
        !(s = ccs ? gh_gguf_add_tensor(gw, "probe.mean_pos", GH_TYPE_F32, 1, ne, p->mean_pos) : GH_OK) &&
        !(s = ccs ? gh_gguf_add_tensor(gw, "probe.mean_neg", GH_TYPE_F32, 1, ne, p->mean_neg) : GH_OK) &&
        !(s = ccs ? gh_gguf_set_f64(gw, "goodhart.probe.scale_pos", p->scale_pos) : GH_OK) &&
        !(s = ccs ? gh_gguf_set_f64(gw, "goodhart.probe.scale_neg", p->scale_neg) : GH_OK))
        s = gh_gguf_writer_write(gw, path);
    gh_gguf_writer_free(gw);
    return s;
}

static gh_status get_f64(const gh_gguf *g, const char *key, bool required, double *out) {
    int64_t i = gh_gguf_find_key(g, key);
    if (i < 0) return required ? gh_error(GH_ERR_FORMAT, "key %s is missing", key) : GH_OK;
    if (gh_gguf_kv_float(g, i, out)) return gh_error(GH_ERR_FORMAT, "key %s is not a floating-point number", key);
    if (!isfinite(*out)) return gh_error(GH_ERR_FORMAT, "key %s is not finite", key);
    return GH_OK;
}

static gh_status get_strbuf(const gh_gguf *g, const char *key, char *buf, size_t cap) {
    gh_str v;
    gh_status s = gh_gguf_get_str(g, key, &v);
    if (s) return s;
    if (v.len >= cap) return gh_error(GH_ERR_FORMAT, "key %s is too long (%llu bytes)", key, (unsigned long long)v.len);
    memcpy(buf, v.ptr, v.len);
    buf[v.len] = 0;
    if (strlen(buf) != v.len) return gh_error(GH_ERR_FORMAT, "key %s holds a NUL byte", key);
    return GH_OK;
}

static bool is_sha(const char *s) {
    if (!*s) return true;
    if (strlen(s) != 64) return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
    return true;
}

/* copies a [d] f32 tensor (optional unless required); checks shape and values */
static gh_status get_vec(const gh_gguf *g, const char *name, int32_t d, bool required, bool positive, float **out) {
    *out = NULL;
    int64_t ti = gh_gguf_find_tensor(g, name);
    if (ti < 0) return required ? gh_error(GH_ERR_FORMAT, "tensor %s is missing", name) : GH_OK;
    const gh_tensor_info *T = gh_gguf_tensor(g, ti);
    if (T->type != GH_TYPE_F32 || T->n_dims != 1 || T->ne[0] != d)
        return gh_error(GH_ERR_FORMAT, "tensor %s must be f32 of shape [%d] (is %s with %lld elements in %u dims)", name, d,
                        gh_type_name(T->type) ? gh_type_name(T->type) : "?", (long long)T->ne[0], T->n_dims);
    float *v = malloc((size_t)d * sizeof *v);
    if (!v) return gh_error(GH_ERR_NOMEM, "out of memory");
    memcpy(v, T->data, (size_t)d * sizeof *v);
    for (int32_t j = 0; j < d; j++)
        if (!isfinite(v[j]) || (positive && !(v[j] > 0))) {
            free(v);
            return gh_error(GH_ERR_FORMAT, "tensor %s[%d] is %s", name, j, positive ? "not a positive number" : "not finite");
        }
    *out = v;
    return GH_OK;
}

gh_status gh_probe_load(const char *path, gh_probe **out) {
    *out = NULL;
    gh_gguf *g = NULL;
    gh_status s = gh_gguf_open(path, &g);
    if (s) return s;
    gh_probe *p = NULL;
    char arch[32], method[32];
    uint32_t nf = 0;
    int64_t layer = -1, ntrain = 0;
    if ((s = get_strbuf(g, "general.architecture", arch, sizeof arch))) goto fail;
    if (strcmp(arch, "goodhart.probe")) { s = gh_error(GH_ERR_FORMAT, "not a probe file (general.architecture is '%s', not goodhart.probe)", arch); goto fail; }
    gh_probe_method m;
    if ((s = get_strbuf(g, "goodhart.probe.method", method, sizeof method))) goto fail;
    if (!gh_probe_method_from_name(method, &m)) { s = gh_error(GH_ERR_UNSUPPORTED, "unknown probe method '%s'", method); goto fail; }
    if ((s = gh_gguf_get_u32(g, "goodhart.probe.n_features", &nf))) goto fail;
    if (nf < 1 || nf > (1u << 24)) { s = gh_error(GH_ERR_FORMAT, "goodhart.probe.n_features %u is out of range", nf); goto fail; }
    if ((s = gh_probe_init(&p, m, (int32_t)nf))) goto fail;
    if ((s = gh_gguf_get_i64(g, "goodhart.probe.layer", &layer))) goto fail;
    if (layer < -1 || layer > 100000) { s = gh_error(GH_ERR_FORMAT, "goodhart.probe.layer %lld is out of range", (long long)layer); goto fail; }
    p->layer = (int32_t)layer;
    if ((s = gh_gguf_get_i64(g, "goodhart.probe.n_train", &ntrain))) goto fail;
    p->n_train = ntrain;
    if ((s = get_strbuf(g, "goodhart.probe.pool", p->pool, sizeof p->pool)) ||
        (s = get_strbuf(g, "goodhart.probe.model_sha256", p->model_sha256, sizeof p->model_sha256)) ||
        (s = get_strbuf(g, "goodhart.probe.data_sha256", p->data_sha256, sizeof p->data_sha256)))
        goto fail;
    if (!is_sha(p->model_sha256) || !is_sha(p->data_sha256)) { s = gh_error(GH_ERR_FORMAT, "a goodhart.probe.*_sha256 key is not 64 lowercase hex digits"); goto fail; }
    if ((s = get_f64(g, "goodhart.probe.C", true, &p->C)) || (s = get_f64(g, "goodhart.probe.bias", true, &p->b))) goto fail;
    if (p->C < 0) { s = gh_error(GH_ERR_FORMAT, "goodhart.probe.C is negative"); goto fail; }
    gh_str mj;
    if ((s = gh_gguf_get_str(g, "goodhart.probe.metrics", &mj))) goto fail;
    if (mj.len) {
        if (mj.len > (1u << 20) || !(p->metrics_json = malloc(mj.len + 1))) { s = gh_error(GH_ERR_FORMAT, "goodhart.probe.metrics is too long"); goto fail; }
        memcpy(p->metrics_json, mj.ptr, mj.len);
        p->metrics_json[mj.len] = 0;
    }
    float *w = NULL;
    if ((s = get_vec(g, "probe.weight", p->d, true, false, &w))) goto fail;
    free(p->w);
    p->w = w;
    if ((s = get_vec(g, "probe.mean", p->d, false, false, &p->mean)) || (s = get_vec(g, "probe.scale", p->d, false, true, &p->scale)))
        goto fail;
    if (!p->mean != !p->scale) { s = gh_error(GH_ERR_FORMAT, "probe.mean and probe.scale come together"); goto fail; }
    if (m == GH_PROBE_CCS) {
        if ((s = get_vec(g, "probe.mean_pos", p->d, true, false, &p->mean_pos)) || (s = get_vec(g, "probe.mean_neg", p->d, true, false, &p->mean_neg)) ||
            (s = get_f64(g, "goodhart.probe.scale_pos", true, &p->scale_pos)) || (s = get_f64(g, "goodhart.probe.scale_neg", true, &p->scale_neg)))
            goto fail;
        if (!(p->scale_pos > 0) || !(p->scale_neg > 0)) { s = gh_error(GH_ERR_FORMAT, "goodhart.probe.scale_pos/scale_neg must be positive"); goto fail; }
    }
    gh_gguf_free(g);
    *out = p;
    return GH_OK;
fail:
    gh_error_prefix("%s", path);
    gh_gguf_free(g);
    gh_probe_free(p);
    return s;
}

gh_status gh_probe_check_model(const gh_probe *p, const char *probe_path, const char *model_sha256,
                               const char *model_ref) {
    if (p->model_sha256[0] && model_sha256 && model_sha256[0] && strcmp(p->model_sha256, model_sha256))
        return gh_error(GH_ERR_MISMATCH, "%s: the probe was trained on the model with SHA-256 %s, not on %s (%s)",
                        probe_path ? probe_path : "probe", p->model_sha256, model_ref ? model_ref : "this model", model_sha256);
    return GH_OK;
}

gh_status gh_probe_penalty_lambda(const double *R, const double *S, int64_t n, double *lambda) {
    if (n < 2) return gh_error(GH_ERR_INVALID_ARG, "choosing lambda needs at least 2 calibration pairs (got %lld)", (long long)n);
    double mr = 0, ms = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(R[i]) || !isfinite(S[i])) return gh_error(GH_ERR_INVALID_ARG, "calibration pair %lld has a non-finite reward or probe score", (long long)i);
        mr += R[i];
        ms += S[i];
    }
    mr /= (double)n;
    ms /= (double)n;
    double vr = 0, vs = 0;
    for (int64_t i = 0; i < n; i++) { vr += (R[i] - mr) * (R[i] - mr); vs += (S[i] - ms) * (S[i] - ms); }
    if (!(vs > 0)) return gh_error(GH_ERR_INVALID_ARG, "the probe score is constant over the calibration set: no lambda matches its spread");
    if (!(vr > 0))
        return gh_error(GH_ERR_INVALID_ARG, "the reward R is constant over the calibration set (all %lld responses score %.9g): the "
                        "spread rule would give lambda = 0, no penalty at all; calibrate on responses that R tells apart, or give "
                        "lambda yourself", (long long)n, mr);
    *lambda = sqrt(vr / vs);
    return GH_OK;
}
