/* Tests of the probe toolkit: logistic regression against scikit-learn (via
 * /usr/bin/python3), every method recovering a planted direction, CCS/PCA on
 * contrast pairs, metrics against hand values and sklearn.metrics, bootstrap
 * intervals, cross-validation, the probe file (round trip, damaged and hostile
 * files, model mismatch) and the penalty-lambda rule. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "goodhart/gguf.h"
#include "goodhart/probe.h"

/* labels from a planted direction t (unit): y = [t·x + noise > 0]; features
 * x ~ N(mu, 1) per coordinate */
static void planted(int64_t n, int32_t d, uint64_t seed, double noise, double mu, float *x, uint8_t *y, double *t) {
    gh_rng r;
    gh_rng_seed(&r, seed, 1);
    double nn = 0;
    for (int32_t j = 0; j < d; j++) { t[j] = gh_rng_normal(&r); nn += t[j] * t[j]; }
    for (int32_t j = 0; j < d; j++) t[j] /= sqrt(nn);
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int32_t j = 0; j < d; j++) {
            x[i * d + j] = (float)(mu * (j % 3) + gh_rng_normal(&r));
            s += t[j] * (x[i * d + j] - mu * (j % 3));
        }
        y[i] = s + noise * gh_rng_normal(&r) > 0;
    }
}

static double cosine(const float *w, const double *t, int32_t d) {
    double a = 0, b = 0, c = 0;
    for (int32_t j = 0; j < d; j++) { a += w[j] * t[j]; b += (double)w[j] * w[j]; c += t[j] * t[j]; }
    return a / sqrt(b * c);
}

static void write_xy(const char *path, const float *x, const uint8_t *y, int64_t n, int32_t d) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int64_t i = 0; i < n; i++) {
        fprintf(f, "%u", y[i]);
        for (int32_t j = 0; j < d; j++) fprintf(f, " %.9g", x[i * d + j]);
        fputc('\n', f);
    }
    fclose(f);
}

/* one data set against sklearn: coefficients, intercept, predictions */
static void logreg_vs_sklearn(int64_t n, int32_t d, uint64_t seed, double noise, double mu, double C, bool std, bool icpt) {
    float *x = malloc((size_t)n * d * sizeof *x);
    uint8_t *y = malloc((size_t)n);
    double *t = malloc((size_t)d * sizeof *t);
    planted(n, d, seed, noise, mu, x, y, t);
    const char *path = tu_tmp("lr.txt");
    write_xy(path, x, y, n, d);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as np\n"
             "from sklearn.linear_model import LogisticRegression as LR\n"
             "from sklearn.preprocessing import StandardScaler\n"
             "a=np.loadtxt('%s');y=a[:,0];X=a[:,1:].astype(np.float32).astype(np.float64)\n"
             "if %d: X=StandardScaler().fit(X).transform(X)\n"
             "m=LR(C=%.17g,fit_intercept=%s,tol=1e-10,max_iter=10000,solver='newton-cholesky').fit(X,y)\n"
             "print(' '.join('%%.17g'%%v for v in list(m.coef_[0])+[m.intercept_[0] if %d else 0.0]))\n"
             "print(' '.join(str(int(v)) for v in m.predict(X)))\"",
             path, std, C, icpt ? "True" : "False", icpt);
    int rc;
    char *out = tu_run(cmd, &rc);
    if (rc) print_message("%s\n", out);
    assert_int_equal(rc, 0);
    gh_probe_train_params p = gh_probe_default_train_params();
    p.C = C;
    p.standardize = std;
    p.fit_intercept = icpt;
    gh_probe_data data = {.x = x, .y = y, .n = n, .d = d};
    gh_probe *pr = NULL;
    gh_probe_train_stats st;
    assert_ok(gh_probe_train(&data, &p, &pr, &st));
    char *q = out;
    double wmax = 0;
    double *ref = malloc((size_t)(d + 1) * sizeof *ref);
    for (int32_t j = 0; j <= d; j++) { ref[j] = strtod(q, &q); if (j < d && fabs(ref[j]) > wmax) wmax = fabs(ref[j]); }
    for (int32_t j = 0; j < d; j++) {
        if (fabs(pr->w[j] - ref[j]) > 1e-4 * fabs(ref[j]) + 1e-6 * wmax)
            fail_msg("coefficient %d: ours %.9g, sklearn %.9g (n %lld d %d C %g std %d)", j, pr->w[j], ref[j], (long long)n, d, C, std);
    }
    assert_true(fabs(pr->b - ref[d]) <= 1e-4 * fabs(ref[d]) + 1e-6 * (1 + wmax));
    /* predictions */
    double *z = malloc((size_t)n * sizeof *z);
    assert_ok(gh_probe_score(pr, &data, z));
    for (int64_t i = 0; i < n; i++) {
        long v = strtol(q, &q, 10);
        assert_int_equal(v, z[i] > 0);
    }
    /* same bits again, and with one thread */
    gh_probe *p2 = NULL;
    p.n_threads = 1;
    assert_ok(gh_probe_train(&data, &p, &p2, NULL));
    assert_memory_equal(pr->w, p2->w, (size_t)d * sizeof *pr->w);
    assert_true(pr->b == p2->b);
    gh_probe_free(p2);
    gh_probe_free(pr);
    free(out);
    free(ref);
    free(z);
    free(x);
    free(y);
    free(t);
}

static void test_logreg_sklearn(void **state) {
    (void)state;
    logreg_vs_sklearn(300, 20, 1, 0.5, 0.0, 1.0, false, true);
    logreg_vs_sklearn(200, 50, 2, 0.2, 2.0, 0.1, false, true);   /* shifted features, strong L2 */
    logreg_vs_sklearn(150, 10, 3, 1.0, 3.0, 10.0, true, true);   /* standardised */
    logreg_vs_sklearn(200, 30, 4, 0.5, 1.0, 0.5, true, false);   /* standardised, no intercept */
}

static void test_planted_singles(void **state) {
    (void)state;
    const int64_t n = 2000;
    const int32_t d = 32;
    float *x = malloc((size_t)n * d * sizeof *x);
    uint8_t *y = malloc((size_t)n);
    double t[32];
    planted(n, d, 7, 0.3, 0.0, x, y, t);
    gh_probe_data data = {.x = x, .y = y, .n = n, .d = d};
    gh_probe_train_params p = gh_probe_default_train_params();
    for (int m = 0; m < 2; m++) {
        p.method = m ? GH_PROBE_MASS_MEAN : GH_PROBE_LOGREG;
        gh_probe *pr = NULL;
        assert_ok(gh_probe_train(&data, &p, &pr, NULL));
        double c = cosine(pr->w, t, d);
        if (!(c > 0.9)) fail_msg("%s: cosine %g", gh_probe_method_name(p.method), c);
        double *z = malloc((size_t)n * sizeof *z);
        assert_ok(gh_probe_score(pr, &data, z));
        assert_true(gh_metric_accuracy(z, y, n) > 0.85);
        free(z);
        gh_probe_free(pr);
    }
    /* pair methods refuse single vectors */
    p.method = GH_PROBE_PCA;
    gh_probe *pr = NULL;
    assert_int_not_equal(gh_probe_train(&data, &p, &pr, NULL), GH_OK);
    assert_contains(gh_last_error(), "contrast pairs");
    free(x);
    free(y);
}

/* contrast pairs: x± = base ± s_k a_k t/2 + noise, s_k = ±1 random (y = s_k > 0) */
static void make_pairs(int64_t n, int32_t d, uint64_t seed, float *xp, float *xn, uint8_t *y, double *t) {
    gh_rng r;
    gh_rng_seed(&r, seed, 2);
    double nn = 0;
    for (int32_t j = 0; j < d; j++) { t[j] = gh_rng_normal(&r); nn += t[j] * t[j]; }
    for (int32_t j = 0; j < d; j++) t[j] /= sqrt(nn);
    for (int64_t i = 0; i < n; i++) {
        double s = gh_rng_uniform(&r) < 0.5 ? -1 : 1, a = 3 + gh_rng_uniform(&r);
        y[i] = s > 0;
        for (int32_t j = 0; j < d; j++) {
            double base = 2 * gh_rng_normal(&r) + (j == 0 ? 5 : 0);
            xp[i * d + j] = (float)(base + 0.5 * s * a * t[j] + 0.3 * gh_rng_normal(&r) + 1.0);
            xn[i * d + j] = (float)(base - 0.5 * s * a * t[j] + 0.3 * gh_rng_normal(&r) - 1.0);
        }
    }
}

static void test_planted_pairs(void **state) {
    (void)state;
    const int64_t n = 400;
    const int32_t d = 24;
    float *xp = malloc((size_t)n * d * sizeof *xp), *xn = malloc((size_t)n * d * sizeof *xn);
    uint8_t *y = malloc((size_t)n);
    double t[24];
    make_pairs(n, d, 11, xp, xn, y, t);
    gh_probe_data data = {.x = xp, .x_neg = xn, .y = y, .n = n, .d = d};
    gh_probe_data unl = data;
    unl.y = NULL;
    double *z = malloc((size_t)n * sizeof *z);
    gh_probe_method ms[3] = {GH_PROBE_PCA, GH_PROBE_BT, GH_PROBE_CCS};
    for (int k = 0; k < 3; k++) {
        gh_probe_train_params p = gh_probe_default_train_params();
        p.method = ms[k];
        p.seed = 5;
        p.ccs_epochs = 300;
        p.ccs_restarts = 4;
        gh_probe *pr = NULL;
        /* bt learns from labels; pca and ccs are unsupervised here */
        assert_ok(gh_probe_train(ms[k] == GH_PROBE_BT ? &data : &unl, &p, &pr, NULL));
        double c = cosine(pr->w, t, d);
        assert_ok(gh_probe_score(pr, &data, z));
        double acc = gh_metric_accuracy(z, y, n);
        if (ms[k] == GH_PROBE_BT) {
            if (!(c > 0.9 && acc > 0.95)) fail_msg("bt: cosine %g accuracy %g", c, acc);
        } else {
            /* unsupervised: right up to sign */
            if (!(fabs(c) > 0.9 && fmax(acc, 1 - acc) > 0.95)) fail_msg("%s: cosine %g accuracy %g", gh_probe_method_name(ms[k]), c, acc);
            bool flipped;
            assert_ok(gh_probe_orient(pr, &data, &flipped));
            assert_ok(gh_probe_score(pr, &data, z));
            assert_true(gh_metric_accuracy(z, y, n) > 0.95);
            assert_true(cosine(pr->w, t, d) > 0.9);
        }
        if (ms[k] == GH_PROBE_PCA) {
            /* with labels the sign comes out right without orienting */
            gh_probe *p2 = NULL;
            assert_ok(gh_probe_train(&data, &p, &p2, NULL));
            assert_true(cosine(p2->w, t, d) > 0.9);
            gh_probe_free(p2);
        }
        if (ms[k] == GH_PROBE_CCS) {
            /* restarts are deterministic for the seed, whatever the threads */
            gh_probe *p2 = NULL;
            p.n_threads = 1;
            gh_probe_train_stats s1, s2;
            gh_probe_free(pr);
            p.n_threads = 0;
            assert_ok(gh_probe_train(&unl, &p, &pr, &s1));
            p.n_threads = 1;
            assert_ok(gh_probe_train(&unl, &p, &p2, &s2));
            assert_memory_equal(pr->w, p2->w, (size_t)d * sizeof *pr->w);
            assert_int_equal(s1.best_restart, s2.best_restart);
            assert_true(s1.best_restart >= 0 && s1.best_restart < 4 && s1.loss >= 0 && s1.loss < 0.25);
            gh_probe_free(p2);
        }
        gh_probe_free(pr);
    }
    free(z);
    free(xp);
    free(xn);
    free(y);
}

static void test_metrics_hand(void **state) {
    (void)state;
    /* z: 2, -1, 0 (tie with 0), 0, 3; y: 1 0 1 0 0 */
    const double z[5] = {2, -1, 0, 0, 3};
    const uint8_t y[5] = {1, 0, 1, 0, 0};
    /* predicted z > 0: 1 0 0 0 1 -> right: i0, i1, i3 */
    assert_float_equal(gh_metric_accuracy(z, y, 5), 3.0 / 5, 1e-15);
    /* positives {2, 0} vs negatives {-1, 0, 3}: 2 beats -1, 0; loses to 3 -> 2;
     * 0 beats -1, ties 0 (½), loses to 3 -> 1.5; AUROC 3.5 / 6 */
    assert_float_equal(gh_metric_auroc(z, y, 5), 3.5 / 6, 1e-15);
    double ll = 0, br = 0;
    for (int i = 0; i < 5; i++) {
        double p = 1 / (1 + exp(-z[i]));
        ll -= y[i] ? log(p) : log(1 - p);
        br += (p - y[i]) * (p - y[i]);
    }
    assert_float_equal(gh_metric_log_loss(z, y, 5), ll / 5, 1e-14);
    assert_float_equal(gh_metric_brier(z, y, 5), br / 5, 1e-15);
    /* ECE: p = .881 (bin 8), .269 (2), .5, .5 (5, both), .953 (9) */
    double p0 = 1 / (1 + exp(-2.0)), p1 = 1 / (1 + exp(1.0)), p4 = 1 / (1 + exp(-3.0));
    double ece = (fabs(1 - p0) + fabs(0 - p1) + 2 * fabs(0.5 - 0.5) + fabs(0 - p4)) / 5;
    assert_float_equal(gh_metric_ece(z, y, 5), ece, 1e-15);
    /* extreme logits stay finite and exact */
    const double zz[2] = {800, -800};
    const uint8_t yy[2] = {0, 0};
    assert_float_equal(gh_metric_log_loss(zz, yy, 2), 400, 1e-12);
    const uint8_t one[2] = {1, 1};
    assert_true(isnan(gh_metric_auroc(zz, one, 2)));
}

static void test_metrics_sklearn(void **state) {
    (void)state;
    const int64_t n = 500;
    double *z = malloc(n * sizeof *z);
    uint8_t *y = malloc(n);
    gh_rng r;
    gh_rng_seed(&r, 3, 3);
    FILE *f = fopen(tu_tmp("m.txt"), "w");
    for (int64_t i = 0; i < n; i++) {
        y[i] = gh_rng_uniform(&r) < 0.4;
        z[i] = round((gh_rng_normal(&r) + (y[i] ? 1.0 : 0.0)) * 4) / 4; /* ties */
        fprintf(f, "%u %.17g\n", y[i], z[i]);
    }
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"import numpy as np\n"
             "from sklearn.metrics import roc_auc_score,log_loss,brier_score_loss,accuracy_score\n"
             "a=np.loadtxt('%s');y=a[:,0];z=a[:,1];p=1/(1+np.exp(-z))\n"
             "print('%%.17g %%.17g %%.17g %%.17g'%%(roc_auc_score(y,z),log_loss(y,p),brier_score_loss(y,p),accuracy_score(y,z>0)))\"",
             tu_tmp("m.txt"));
    int rc;
    char *out = tu_run(cmd, &rc);
    assert_int_equal(rc, 0);
    double ref[4];
    char *q = out;
    for (int k = 0; k < 4; k++) ref[k] = strtod(q, &q);
    assert_float_equal(gh_metric_auroc(z, y, n), ref[0], 1e-12);
    assert_float_equal(gh_metric_log_loss(z, y, n), ref[1], 1e-9);
    assert_float_equal(gh_metric_brier(z, y, n), ref[2], 1e-12);
    assert_float_equal(gh_metric_accuracy(z, y, n), ref[3], 1e-15);
    free(out);
    /* bootstrap: intervals contain the point estimates, deterministic for the seed */
    gh_probe_metrics m1, m2, m3;
    assert_ok(gh_probe_metrics_compute(z, y, n, 1000, 42, &m1));
    assert_ok(gh_probe_metrics_compute(z, y, n, 1000, 42, &m2));
    assert_ok(gh_probe_metrics_compute(z, y, n, 1000, 43, &m3));
    assert_memory_equal(&m1, &m2, sizeof m1);
    assert_true(memcmp(&m1, &m3, sizeof m1) != 0);
    const gh_metric_ci *cs[5] = {&m1.accuracy, &m1.auroc, &m1.log_loss, &m1.brier, &m1.ece};
    for (int k = 0; k < 5; k++) {
        assert_true(cs[k]->lo <= cs[k]->value && cs[k]->value <= cs[k]->hi);
        assert_true(cs[k]->hi - cs[k]->lo > 0 && cs[k]->hi - cs[k]->lo < 0.3);
    }
    assert_float_equal(m1.auroc.value, ref[0], 1e-12);
    assert_int_equal(m1.n, n);
    char *js = gh_probe_metrics_json(&m1);
    assert_contains(js, "\"auroc\":[");
    free(js);
    free(z);
    free(y);
}

static void test_cv(void **state) {
    (void)state;
    const int64_t n = 600;
    const int32_t d = 16;
    float *x = malloc((size_t)n * d * sizeof *x);
    uint8_t *y = malloc((size_t)n);
    double t[16], *oof = malloc(n * sizeof *oof), *oof2 = malloc(n * sizeof *oof2);
    planted(n, d, 9, 0.3, 0.0, x, y, t);
    gh_probe_data data = {.x = x, .y = y, .n = n, .d = d};
    gh_probe_train_params p = gh_probe_default_train_params();
    gh_probe_metrics m, m2;
    assert_ok(gh_probe_cv(&data, &p, 5, 1, oof, &m, 200));
    assert_true(m.accuracy.value > 0.85 && m.auroc.value > 0.9);
    assert_ok(gh_probe_cv(&data, &p, 5, 1, oof2, &m2, 200));
    assert_memory_equal(oof, oof2, n * sizeof *oof);
    /* out-of-fold scores: fold f's scores come from a probe that never saw it, so
     * they differ from the scores of a probe trained on everything */
    gh_probe *pr = NULL;
    assert_ok(gh_probe_train(&data, &p, &pr, NULL));
    assert_ok(gh_probe_score(pr, &data, oof2));
    int64_t differ = 0;
    for (int64_t i = 0; i < n; i++) differ += fabs(oof[i] - oof2[i]) > 1e-6;
    assert_true(differ > n / 2);
    gh_probe_free(pr);
    assert_int_not_equal(gh_probe_cv(&data, &p, 1, 1, oof, &m, 0), GH_OK);
    free(x);
    free(y);
    free(oof);
    free(oof2);
}

static void test_probe_file(void **state) {
    (void)state;
    const int32_t d = 8;
    gh_probe *p = NULL;
    assert_ok(gh_probe_init(&p, GH_PROBE_LOGREG, d));
    p->mean = malloc(d * sizeof *p->mean);
    p->scale = malloc(d * sizeof *p->scale);
    for (int j = 0; j < d; j++) { p->w[j] = 0.5f * (float)j - 1; p->mean[j] = (float)j; p->scale[j] = 1.0f + (float)j; }
    p->b = 0.123456789012345;
    p->C = 2.5;
    p->layer = 3;
    strcpy(p->pool, "mean");
    memset(p->model_sha256, 'a', 64);
    memset(p->data_sha256, 'b', 64);
    p->n_train = 77;
    p->metrics_json = strdup("{\"n\":77}");
    const char *path = tu_tmp("p.gguf");
    assert_ok(gh_probe_save(p, path));
    gh_probe *q = NULL;
    assert_ok(gh_probe_load(path, &q));
    assert_int_equal(q->method, GH_PROBE_LOGREG);
    assert_int_equal(q->d, d);
    assert_memory_equal(q->w, p->w, d * sizeof *p->w);
    assert_memory_equal(q->mean, p->mean, d * sizeof *p->mean);
    assert_memory_equal(q->scale, p->scale, d * sizeof *p->scale);
    assert_true(q->b == p->b && q->C == p->C && q->layer == 3 && q->n_train == 77);
    assert_string_equal(q->pool, "mean");
    assert_string_equal(q->model_sha256, p->model_sha256);
    assert_string_equal(q->metrics_json, "{\"n\":77}");
    /* scores: w·((x - mean)/scale) + b */
    float x[8];
    for (int j = 0; j < d; j++) x[j] = (float)(j * j) * 0.25f;
    double want = q->b, got;
    for (int j = 0; j < d; j++) want += (double)q->w[j] * ((double)x[j] - q->mean[j]) / q->scale[j];
    gh_probe_data one = {.x = x, .n = 1, .d = d};
    assert_ok(gh_probe_score(q, &one, &got));
    assert_float_equal(got, want, 1e-12);
    /* model mismatch */
    char other[65];
    memset(other, 'c', 64);
    other[64] = 0;
    assert_int_equal(gh_probe_check_model(q, path, other, "m.gguf"), GH_ERR_MISMATCH);
    assert_contains(gh_last_error(), "p.gguf");
    assert_contains(gh_last_error(), "m.gguf");
    assert_ok(gh_probe_check_model(q, path, p->model_sha256, "m.gguf"));
    assert_ok(gh_probe_check_model(q, path, "", "m.gguf")); /* unknown: allowed */
    gh_probe_free(q);
    /* damaged files: truncations and every single-byte flip in the header part
     * either load or fail with a message naming the file, never crash */
    size_t len;
    char *img = tu_read_file(path, &len);
    const char *bad = tu_tmp("bad.gguf");
    for (size_t cut = 0; cut < len; cut += 7) {
        assert_int_equal(tu_write_file(bad, img, cut), 0);
        assert_int_not_equal(gh_probe_load(bad, &q), GH_OK);
        assert_null(q);
        assert_contains(gh_last_error(), "bad.gguf");
    }
    for (size_t i = 0; i < len; i += 3) {
        char save = img[i];
        img[i] = (char)(img[i] ^ 0x5a);
        assert_int_equal(tu_write_file(bad, img, len), 0);
        gh_status s = gh_probe_load(bad, &q);
        if (s) { assert_null(q); assert_contains(gh_last_error(), "bad.gguf"); }
        else gh_probe_free(q);
        img[i] = save;
    }
    free(img);
    /* hostile values: NaN weight, zero scale, wrong shape, unknown method, not a probe */
    p->w[2] = NAN;
    assert_ok(gh_probe_save(p, bad));
    assert_int_not_equal(gh_probe_load(bad, &q), GH_OK);
    assert_contains(gh_last_error(), "probe.weight[2] is not finite");
    p->w[2] = 0;
    p->scale[1] = 0;
    assert_ok(gh_probe_save(p, bad));
    assert_int_not_equal(gh_probe_load(bad, &q), GH_OK);
    assert_contains(gh_last_error(), "probe.scale[1] is not a positive number");
    p->scale[1] = 1;
    p->method = GH_PROBE_CCS; /* without its per-side centres */
    assert_ok(gh_probe_save(p, bad));
    assert_int_not_equal(gh_probe_load(bad, &q), GH_OK);
    assert_contains(gh_last_error(), "probe.mean_pos is missing");
    gh_gguf_writer *gw = NULL;
    assert_ok(gh_gguf_writer_init(&gw));
    assert_ok(gh_gguf_set_str(gw, "general.architecture", "llama"));
    assert_ok(gh_gguf_writer_write(gw, bad));
    gh_gguf_writer_free(gw);
    assert_int_not_equal(gh_probe_load(bad, &q), GH_OK);
    assert_contains(gh_last_error(), "not a probe file");
    gh_probe_free(p);
}

static void test_lambda(void **state) {
    (void)state;
    const double R[4] = {1, 2, 3, 4}, S[4] = {10, 10, 30, 30};
    double l;
    assert_ok(gh_probe_penalty_lambda(R, S, 4, &l));
    /* sd(R) = sqrt(1.25), sd(S) = 10 */
    assert_float_equal(l, sqrt(1.25) / 10, 1e-15);
    const double C[3] = {1, 1, 1};
    assert_int_not_equal(gh_probe_penalty_lambda(R, C, 3, &l), GH_OK);
    assert_contains(gh_last_error(), "probe score is constant");
    /* a constant R: lambda would be 0 (no penalty), an error naming R */
    assert_int_equal(gh_probe_penalty_lambda(C, S, 3, &l), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "the reward R is constant");
    assert_contains(gh_last_error(), "lambda = 0");
    assert_int_not_equal(gh_probe_penalty_lambda(R, S, 1, &l), GH_OK);
}

static void test_bad_data(void **state) {
    (void)state;
    float x[6] = {1, 2, 3, 4, 5, 6};
    uint8_t y[3] = {1, 1, 1};
    gh_probe_data data = {.x = x, .y = y, .n = 3, .d = 2};
    gh_probe_train_params p = gh_probe_default_train_params();
    gh_probe *pr = NULL;
    assert_int_not_equal(gh_probe_train(&data, &p, &pr, NULL), GH_OK);
    assert_contains(gh_last_error(), "both classes");
    y[0] = 2;
    assert_int_not_equal(gh_probe_train(&data, &p, &pr, NULL), GH_OK);
    assert_contains(gh_last_error(), "label 0 is 2");
    y[0] = 0;
    x[3] = NAN;
    assert_int_not_equal(gh_probe_train(&data, &p, &pr, NULL), GH_OK);
    assert_contains(gh_last_error(), "feature [1, 1] is not finite");
    assert_null(pr);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logreg_sklearn),
        cmocka_unit_test(test_planted_singles),
        cmocka_unit_test(test_planted_pairs),
        cmocka_unit_test(test_metrics_hand),
        cmocka_unit_test(test_metrics_sklearn),
        cmocka_unit_test(test_cv),
        cmocka_unit_test(test_probe_file),
        cmocka_unit_test(test_lambda),
        cmocka_unit_test(test_bad_data),
    };
    return cmocka_run_group_tests_name("probe", tests, NULL, NULL);
}
