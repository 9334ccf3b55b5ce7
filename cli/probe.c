/* probe.c — `goodhart probe train|apply|eval|bench`: linear probes on feature
 * arrays (.npy), with cross-validation, out-of-distribution evaluation and
 * bootstrap intervals; the probe file is described in goodhart/probe.h.
 * `apply` prints one logit per line (%.9g): a stable contract for scripts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "base/file.h"
#include "base/hash.h"
#include "base/rng.h"
#include "cli.h"
#include "goodhart/npy.h"
#include "goodhart/probe.h"
#include "kernels/kernels.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: goodhart probe train (--features X.npy --labels y.npy | --features-pos A.npy --features-neg B.npy [--labels y.npy])\n"
            "                            [--method logreg|mass-mean|pca|ccs|bt] -o PROBE.gguf [options]\n"
            "       goodhart probe apply --probe PROBE.gguf (--features X.npy | --features-pos A.npy --features-neg B.npy) [--model-sha256 H | -m MODEL]\n"
            "       goodhart probe eval  --probe PROBE.gguf (--features X.npy | --features-pos A.npy --features-neg B.npy) --labels y.npy [--json] [--orient]\n"
            "       goodhart probe lambda (--reward-scores R --probe-scores S | [-m MODEL] --reward SPEC --probe P --data CALIB.jsonl)\n"
            "       goodhart probe bench [--n 10000] [--d 4096] [-t THREADS]\n"
            "Data: float32/64 .npy arrays [n][d]; labels: 0/1 .npy of n values.\n"
            "  logreg, mass-mean learn from single vectors with labels (--features, --labels).\n"
            "  pca, ccs, bt learn from contrast pairs: row k of --features-pos and --features-neg\n"
            "  are the two sides of pair k; label k (optional) is 1 if the + side is the positive one.\n"
            "  A pair's score is score(x+) - score(x-) (ccs: logit of (p+ + 1 - p-)/2).\n"
            "train options:\n"
            "  --C X              inverse L2 strength (logreg as scikit-learn; bt: l2 = 1/C); default 1\n"
            "  --standardize      logreg: standardise features (mean/sd stored in the probe)\n"
            "  --no-intercept     logreg without intercept\n"
            "  --cv K             stratified K-fold cross-validation (out-of-fold metrics)\n"
            "  --ood-features X2.npy --ood-labels y2.npy   (or --ood-features-pos/--ood-features-neg)\n"
            "  --seed S           pca start, ccs restarts, folds, bootstrap (default 0)\n"
            "  --restarts N --epochs N --lr X   ccs (default 10, 1000, 0.01)\n"
            "  --boot N           bootstrap resamples for the intervals (default 1000)\n"
            "  --layer L --pool P --model-sha256 H | -m MODEL   where the features came from (recorded)\n"
            "  -t N               threads\n"
            "apply/eval: -m MODEL or --model-sha256 H refuses a probe trained on another model;\n"
            "  eval --orient flips the probe if the labels say it points the wrong way (CCS, PCA).\n");
}

typedef struct data {
    float *x, *xn;
    uint8_t *y;
    int64_t n, d;
    char sha[65];
} data;

static void data_free(data *D) { free(D->x); free(D->xn); free(D->y); memset(D, 0, sizeof *D); }

/* reads features (or pos/neg) and optional labels; checks shapes */
static gh_status load_data(const char *fx, const char *fp, const char *fn, const char *fy, data *D) {
    memset(D, 0, sizeof *D);
    gh_status s;
    int64_t r2, c2;
    if (fx && (fp || fn)) return gh_error(GH_ERR_INVALID_ARG, "give --features or --features-pos/--features-neg, not both");
    if (fx) {
        if ((s = gh_npy_read_f32(fx, &D->x, &D->n, &D->d))) return s;
    } else if (fp && fn) {
        if ((s = gh_npy_read_f32(fp, &D->x, &D->n, &D->d))) return s;
        if ((s = gh_npy_read_f32(fn, &D->xn, &r2, &c2))) return s;
        if (r2 != D->n || c2 != D->d)
            return gh_error(GH_ERR_INVALID_ARG, "%s has %lld x %lld values but %s has %lld x %lld: the sides of the pairs must align",
                            fn, (long long)r2, (long long)c2, fp, (long long)D->n, (long long)D->d);
    } else {
        return gh_error(GH_ERR_INVALID_ARG, "no features: give --features X.npy or --features-pos A.npy --features-neg B.npy");
    }
    if (D->d > (1 << 24)) return gh_error(GH_ERR_LIMIT, "%lld features is too many", (long long)D->d);
    if (fy) {
        int64_t ny;
        if ((s = gh_npy_read_labels(fy, &D->y, &ny))) return s;
        if (ny != D->n)
            return gh_error(GH_ERR_INVALID_ARG, "%s has %lld labels but %s has %lld rows", fy, (long long)ny, fx ? fx : fp, (long long)D->n);
    }
    /* the data's identity: SHA-256 over the files' hashes */
    char all[65 * 4] = "", h[65];
    const char *files[4] = {fx, fp, fn, fy};
    for (int k = 0; k < 4; k++)
        if (files[k]) {
            if ((s = gh_sha256_file(files[k], h))) return s;
            strcat(all, h);
        }
    gh_sha256_buf(all, strlen(all), D->sha);
    return GH_OK;
}

static gh_probe_data view(const data *D) {
    gh_probe_data v = {.x = D->x, .x_neg = D->xn, .y = D->y, .n = D->n, .d = (int32_t)D->d};
    return v;
}

static void print_metrics(const char *what, const gh_probe_metrics *m) {
    printf("%-6s n=%lld", what, (long long)m->n);
    const char *names[5] = {"accuracy", "auroc", "log_loss", "brier", "ece"};
    const gh_metric_ci *v[5] = {&m->accuracy, &m->auroc, &m->log_loss, &m->brier, &m->ece};
    for (int k = 0; k < 5; k++) {
        if (isnan(v[k]->value)) printf("  %s n/a", names[k]);
        else printf("  %s %.4f [%.4f, %.4f]", names[k], v[k]->value, v[k]->lo, v[k]->hi);
    }
    printf("\n");
}

/* scores and metrics of a probe on data (labels: D's, or all 1 for unlabelled pairs) */
static gh_status metrics_on(const gh_probe *p, const data *D, int32_t boot, uint64_t seed, gh_probe_metrics *m) {
    double *z = malloc((size_t)D->n * sizeof *z);
    uint8_t *y = malloc((size_t)D->n);
    gh_status s = GH_OK;
    if (!z || !y) s = gh_error(GH_ERR_NOMEM, "out of memory");
    if (!s) {
        gh_probe_data v = view(D);
        if (D->y) memcpy(y, D->y, (size_t)D->n);
        else memset(y, 1, (size_t)D->n);
        if (!(s = gh_probe_score(p, &v, z))) s = gh_probe_metrics_compute(z, y, D->n, boot, seed, m);
    }
    free(z);
    free(y);
    return s;
}

typedef struct opts {
    const char *fx, *fp, *fn, *fy, *ox, *op, *on, *oy, *out, *probe, *model, *msha, *pool;
    gh_probe_train_params tp;
    long long cv, boot, layer, n, d;
    bool json, orient;
} opts;

static int parse(const char *cmd, int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    o->tp = gh_probe_default_train_params();
    o->boot = 1000;
    o->layer = -1;
    o->n = 10000;
    o->d = 4096;
    long long iv;
    double dv;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        bool miss = false;
        if (cli_flag(argv[i], "-h", "--help")) { usage(stdout); return -1; }
        else if (cli_opt(argv, &i, argc, NULL, "--features", &o->fx, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--features-pos", &o->fp, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--features-neg", &o->fn, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--labels", &o->fy, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--ood-features", &o->ox, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--ood-features-pos", &o->op, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--ood-features-neg", &o->on, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--ood-labels", &o->oy, &miss)) {}
        else if (cli_opt(argv, &i, argc, "-o", "--out", &o->out, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--probe", &o->probe, &miss)) {}
        else if (cli_opt(argv, &i, argc, "-m", "--model", &o->model, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--model-sha256", &o->msha, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--pool", &o->pool, &miss)) {}
        else if (cli_flag(argv[i], NULL, "--standardize")) o->tp.standardize = true;
        else if (cli_flag(argv[i], NULL, "--no-intercept")) o->tp.fit_intercept = false;
        else if (cli_flag(argv[i], NULL, "--json")) o->json = true;
        else if (cli_flag(argv[i], NULL, "--orient")) o->orient = true;
        else if (cli_opt(argv, &i, argc, NULL, "--method", &v, &miss)) {
            if (!miss && !gh_probe_method_from_name(v, &o->tp.method)) return cli_usage_error(cmd, "--method must be logreg, mass-mean, pca, ccs or bt, not '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--C", &v, &miss)) {
            if (!miss && (!cli_parse_float(v, 0, 1e15, &dv) || !(dv > 0))) return cli_usage_error(cmd, "--C must be a positive number, not '%s'", v);
            if (!miss) o->tp.C = dv;
        } else if (cli_opt(argv, &i, argc, NULL, "--lr", &v, &miss)) {
            if (!miss && (!cli_parse_float(v, 0, 1e3, &dv) || !(dv > 0))) return cli_usage_error(cmd, "--lr must be a positive number, not '%s'", v);
            if (!miss) o->tp.ccs_lr = dv;
        } else if (cli_opt(argv, &i, argc, NULL, "--cv", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 2, 1000, &o->cv)) return cli_usage_error(cmd, "--cv must be an integer in [2, 1000], not '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--boot", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 0, 1000000, &o->boot)) return cli_usage_error(cmd, "bad --boot '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--seed", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 0, INT64_MAX, &iv)) return cli_usage_error(cmd, "bad --seed '%s'", v);
            if (!miss) o->tp.seed = (uint64_t)iv;
        } else if (cli_opt(argv, &i, argc, NULL, "--restarts", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 1, 100000, &iv)) return cli_usage_error(cmd, "bad --restarts '%s'", v);
            if (!miss) o->tp.ccs_restarts = (int32_t)iv;
        } else if (cli_opt(argv, &i, argc, NULL, "--epochs", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 1, 10000000, &iv)) return cli_usage_error(cmd, "bad --epochs '%s'", v);
            if (!miss) o->tp.ccs_epochs = (int32_t)iv;
        } else if (cli_opt(argv, &i, argc, NULL, "--layer", &v, &miss)) {
            if (!miss && !cli_parse_int(v, -1, 100000, &o->layer)) return cli_usage_error(cmd, "bad --layer '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--n", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 2, 100000000, &o->n)) return cli_usage_error(cmd, "bad --n '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--d", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 1, 1 << 20, &o->d)) return cli_usage_error(cmd, "bad --d '%s'", v);
        } else if (cli_opt(argv, &i, argc, "-t", "--threads", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 0, 4096, &iv)) return cli_usage_error(cmd, "bad --threads '%s'", v);
            if (!miss) o->tp.n_threads = (int32_t)iv;
        } else return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        if (miss) return cli_usage_error(cmd, "option '%s' needs a value", argv[i]);
    }
    if (o->msha && (strlen(o->msha) != 64 || strspn(o->msha, "0123456789abcdef") != 64))
        return cli_usage_error(cmd, "--model-sha256 must be 64 lowercase hex digits");
    return 0;
}

/* the model hash from -m MODEL (file hash) or --model-sha256; "" if neither */
static gh_status model_hash(const opts *o, char out[65]) {
    out[0] = 0;
    if (o->msha) { memcpy(out, o->msha, 65); return GH_OK; }
    if (o->model) return gh_sha256_file(o->model, out);
    return GH_OK;
}

/* The JSON sidecar `goodhart acts` writes next to its arrays (OUT.json for
 * OUT.npy or OUT_L3.npy): where the features came from. Fills what the command
 * line left open — layer, pooling, model hash, labels — so a probe trained on
 * extracted activations records its model without being told twice; a
 * contradiction with the command line is an error. No sidecar: nothing to do. */
static int from_sidecar(const char *cmd, const char *features, opts *o, char *labels_buf, size_t labels_cap) {
    if (!features) return 0;
    size_t n = strlen(features);
    if (n < 4 || strcmp(features + n - 4, ".npy")) return 0;
    char *base = strndup(features, n - 4), *side = NULL, *text = NULL;
    cJSON *j = NULL;
    int rc = 0;
    if (!base) return cli_usage_error(cmd, "out of memory");
    char *u = strrchr(base, '_');
    char *stem = strdup(base);
    if (!stem) { free(base); return cli_usage_error(cmd, "out of memory"); }
    if (u && u[1] == 'L' && u[2] && strspn(u + 2, "0123456789") == strlen(u + 2)) stem[u - base] = 0;
    side = malloc(strlen(stem) + 6);
    if (!side) { rc = cli_usage_error(cmd, "out of memory"); goto done; }
    sprintf(side, "%s.json", stem);
    FILE *f = fopen(side, "rb");
    if (!f) goto done; /* no sidecar */
    fclose(f);
    size_t len;
    if (gh_read_file(side, (size_t)1 << 31, &text, &len)) { rc = cli_fail(cmd); goto done; }
    j = cJSON_Parse(text);
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(j, "model_sha256");
    const cJSON *pool = cJSON_GetObjectItemCaseSensitive(j, "pool");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(j, "layers");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(j, "files");
    const cJSON *lab = cJSON_GetObjectItemCaseSensitive(j, "labels_file");
    if (!cJSON_IsObject(j) || !cJSON_IsString(sha) || !cJSON_IsString(pool) || !cJSON_IsArray(layers) || !cJSON_IsArray(files) ||
        cJSON_GetArraySize(layers) != cJSON_GetArraySize(files)) {
        gh_error(GH_ERR_FORMAT, "%s: not a sidecar written by `goodhart acts` (needs model_sha256, pool, layers, files)", side);
        rc = cli_fail(cmd);
        goto done;
    }
    /* this file's layer: its entry in "files" (names are relative to the sidecar) */
    const char *fname = strrchr(features, '/') ? strrchr(features, '/') + 1 : features;
    long long layer = -2;
    for (int k = 0; k < cJSON_GetArraySize(files); k++) {
        const cJSON *fk = cJSON_GetArrayItem(files, k), *lk = cJSON_GetArrayItem(layers, k);
        if (cJSON_IsString(fk) && cJSON_IsNumber(lk) && !strcmp(fk->valuestring, fname)) layer = (long long)lk->valuedouble;
    }
    if (layer == -2) goto done; /* a sidecar of other arrays */
    if (o->layer >= 0 && o->layer != layer) {
        rc = cli_usage_error(cmd, "--layer %lld contradicts %s, which says %s holds layer %lld", o->layer, side, fname, layer);
        goto done;
    }
    if (o->pool && strcmp(o->pool, pool->valuestring)) {
        rc = cli_usage_error(cmd, "--pool %s contradicts %s, which says pooling '%s'", o->pool, side, pool->valuestring);
        goto done;
    }
    if (o->msha && strcmp(o->msha, sha->valuestring)) {
        rc = cli_usage_error(cmd, "--model-sha256 contradicts %s (model %s)", side, sha->valuestring);
        goto done;
    }
    static char pool_buf[64], sha_buf[65];
    if (strlen(sha->valuestring) != 64 || strlen(pool->valuestring) >= sizeof pool_buf) {
        gh_error(GH_ERR_FORMAT, "%s: model_sha256 or pool malformed", side);
        rc = cli_fail(cmd);
        goto done;
    }
    o->layer = layer;
    if (!o->pool) o->pool = strcpy(pool_buf, pool->valuestring);
    if (!o->msha && !o->model) o->msha = strcpy(sha_buf, sha->valuestring);
    if (!o->fy && cJSON_IsString(lab)) {
        const char *slash = strrchr(side, '/');
        int dl = slash ? (int)(slash - side + 1) : 0;
        if ((size_t)snprintf(labels_buf, labels_cap, "%.*s%s", dl, side, lab->valuestring) < labels_cap) o->fy = labels_buf;
    }
    fprintf(stderr, "probe: %s describes %s: layer %lld, pooling %s, model %.12s…%s%s\n", side, fname, layer, o->pool,
            sha->valuestring, o->fy == labels_buf ? ", labels " : "", o->fy == labels_buf ? labels_buf : "");
done:
    cJSON_Delete(j);
    free(text);
    free(side);
    free(stem);
    free(base);
    return rc;
}

static int train(int argc, char **argv) {
    const char *cmd = "probe train";
    opts o;
    int rc = parse(cmd, argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    if (!o.out) return cli_usage_error(cmd, "needs -o PROBE.gguf");
    static char labels_buf[4096];
    if ((rc = from_sidecar(cmd, o.fx ? o.fx : o.fp, &o, labels_buf, sizeof labels_buf))) return rc;
    const bool pairs = gh_probe_method_pairs(o.tp.method);
    if (pairs && o.fx) return cli_usage_error(cmd, "method %s learns from contrast pairs: give --features-pos and --features-neg", gh_probe_method_name(o.tp.method));
    if (!pairs && (o.fp || o.fn)) return cli_usage_error(cmd, "method %s learns from single vectors: give --features and --labels", gh_probe_method_name(o.tp.method));
    if (!pairs && !o.fy) return cli_usage_error(cmd, "method %s needs --labels", gh_probe_method_name(o.tp.method));
    data D, O = {0};
    gh_probe *p = NULL;
    char *js = NULL;
    rc = 1;
    if (load_data(o.fx, o.fp, o.fn, o.fy, &D)) goto done;
    bool ood = o.ox || o.op || o.on;
    if (ood && load_data(o.ox, o.op, o.on, o.oy, &O)) goto done;
    if (ood && O.d != D.d) { gh_error(GH_ERR_INVALID_ARG, "the out-of-distribution features have %lld columns, the training features %lld", (long long)O.d, (long long)D.d); goto done; }
    if (ood && !pairs && !O.y) { gh_error(GH_ERR_INVALID_ARG, "--ood-features needs --ood-labels"); goto done; }
    gh_probe_data v = view(&D);
    gh_probe_train_stats st;
    if (gh_probe_train(&v, &o.tp, &p, &st)) goto done;
    p->layer = (int32_t)o.layer;
    snprintf(p->pool, sizeof p->pool, "%s", o.pool ? o.pool : "");
    memcpy(p->data_sha256, D.sha, 65);
    if (model_hash(&o, p->model_sha256)) goto done;
    gh_probe_metrics mt, mc, mo;
    if (metrics_on(p, &D, (int32_t)o.boot, o.tp.seed, &mt)) goto done;
    print_metrics("train", &mt);
    size_t cap = 4096, len = 0;
    js = malloc(cap);
    if (!js) goto done;
    char *jt = gh_probe_metrics_json(&mt);
    len += (size_t)snprintf(js + len, cap - len, "{\"train\":%s", jt ? jt : "null");
    free(jt);
    if (o.cv) {
        if (gh_probe_cv(&v, &o.tp, (int32_t)o.cv, o.tp.seed, NULL, &mc, (int32_t)o.boot)) goto done;
        print_metrics("cv", &mc);
        char *j = gh_probe_metrics_json(&mc);
        len += (size_t)snprintf(js + len, cap - len, ",\"cv\":%s,\"cv_folds\":%lld", j ? j : "null", o.cv);
        free(j);
    }
    if (ood) {
        if (metrics_on(p, &O, (int32_t)o.boot, o.tp.seed, &mo)) { gh_error_prefix("out-of-distribution data"); goto done; }
        print_metrics("ood", &mo);
        char *j = gh_probe_metrics_json(&mo);
        len += (size_t)snprintf(js + len, cap - len, ",\"ood\":%s", j ? j : "null");
        free(j);
    }
    snprintf(js + len, cap - len, "}");
    p->metrics_json = js;
    js = NULL;
    if (gh_probe_save(p, o.out)) goto done;
    printf("wrote %s: %s probe, %lld %s x %lld features", o.out, gh_probe_method_name(p->method), (long long)D.n, D.xn ? "pairs" : "rows", (long long)D.d);
    if (p->method == GH_PROBE_LOGREG) printf(", %d Newton steps, gradient %.2g", st.iters, st.grad_norm);
    if (p->method == GH_PROBE_CCS) printf(", best restart %d, loss %.4g", st.best_restart, st.loss);
    printf("\n");
    rc = 0;
done:
    if (rc) rc = cli_fail(cmd);
    free(js);
    gh_probe_free(p);
    data_free(&D);
    data_free(&O);
    return rc;
}

/* loads the probe and refuses one from another model */
static gh_status load_probe(const opts *o, gh_probe **p) {
    gh_status s = gh_probe_load(o->probe, p);
    if (s) return s;
    char h[65];
    if ((s = model_hash(o, h)) || (s = gh_probe_check_model(*p, o->probe, h, o->model ? o->model : "the given model"))) {
        gh_probe_free(*p);
        *p = NULL;
    }
    return s;
}

static int apply_or_eval(int argc, char **argv, bool eval) {
    const char *cmd = eval ? "probe eval" : "probe apply";
    opts o;
    int rc = parse(cmd, argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    if (!o.probe) return cli_usage_error(cmd, "needs --probe PROBE.gguf");
    if (eval && !o.fy && !o.fp) return cli_usage_error(cmd, "needs --labels y.npy");
    data D = {0};
    gh_probe *p = NULL;
    double *z = NULL;
    rc = 1;
    if (load_probe(&o, &p) || load_data(o.fx, o.fp, o.fn, eval ? o.fy : NULL, &D)) goto done;
    if (D.d != p->d) { gh_error(GH_ERR_MISMATCH, "%s has %lld features per row; the probe %s has %d", o.fx ? o.fx : o.fp, (long long)D.d, o.probe, p->d); goto done; }
    gh_probe_data v = view(&D);
    if (!eval) {
        if (!(z = malloc((size_t)D.n * sizeof *z)) || gh_probe_score(p, &v, z)) goto done;
        for (int64_t i = 0; i < D.n; i++) printf("%.9g\n", z[i]);
        rc = 0;
        goto done;
    }
    bool flipped = false;
    if (o.orient && gh_probe_orient(p, &v, &flipped)) goto done;
    gh_probe_metrics m;
    if (metrics_on(p, &D, (int32_t)o.boot, o.tp.seed, &m)) goto done;
    if (o.json) {
        char *j = gh_probe_metrics_json(&m);
        if (!j) goto done;
        j[strlen(j) - 1] = 0;
        printf("%s,\"flipped\":%s}\n", j, flipped ? "true" : "false");
        free(j);
    } else {
        if (flipped) printf("(probe flipped: the labels rank the other way)\n");
        print_metrics("eval", &m);
    }
    rc = 0;
done:
    if (rc) rc = cli_fail(cmd);
    free(z);
    gh_probe_free(p);
    data_free(&D);
    return rc;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int bench(int argc, char **argv) {
    const char *cmd = "probe bench";
    opts o;
    int rc = parse(cmd, argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    const int64_t n = o.n, d = o.d;
    float *x = malloc((size_t)n * d * sizeof *x), *xn = malloc((size_t)n * d * sizeof *xn);
    uint8_t *y = malloc((size_t)n);
    double *t = malloc((size_t)d * sizeof *t);
    if (!x || !xn || !y || !t) { gh_error(GH_ERR_NOMEM, "out of memory for %lld x %lld features", (long long)n, (long long)d); return cli_fail(cmd); }
    gh_rng r;
    gh_rng_seed(&r, 1, 0);
    for (int64_t j = 0; j < d; j++) t[j] = gh_rng_normal(&r) / sqrt((double)d);
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) {
            float a = (float)gh_rng_normal(&r);
            x[i * d + j] = a;
            s += t[j] * a;
        }
        y[i] = s + 0.5 * gh_rng_normal(&r) > 0;
        for (int64_t j = 0; j < d; j++) xn[i * d + j] = x[i * d + j] - (float)((2.0 * y[i] - 1) * 2 * t[j]) + 0.1f * (float)gh_rng_normal(&r);
    }
    const double bw = gh_measure_read_bandwidth(o.tp.n_threads > 0 ? o.tp.n_threads : 0, (size_t)512 << 20, 3);
    const double pass_bytes = (double)n * (double)d * 4;
    printf("probe bench: n=%lld d=%lld (%.0f MB of float32 features), read bandwidth %.1f GB/s (one pass >= %.1f ms)\n",
           (long long)n, (long long)d, pass_bytes / 1e6, bw, bw > 0 ? pass_bytes / (bw * 1e9) * 1e3 : 0);
    gh_probe_data single = {.x = x, .y = y, .n = n, .d = (int32_t)d};
    gh_probe_data pairs = {.x = x, .x_neg = xn, .y = y, .n = n, .d = (int32_t)d};
    gh_probe_method ms[4] = {GH_PROBE_LOGREG, GH_PROBE_MASS_MEAN, GH_PROBE_PCA, GH_PROBE_CCS};
    for (int k = 0; k < 4; k++) {
        gh_probe_train_params p = o.tp;
        p.method = ms[k];
        if (ms[k] == GH_PROBE_CCS) { p.ccs_restarts = 1; p.ccs_epochs = 20; }
        gh_probe *pr = NULL;
        gh_probe_train_stats st = {0};
        double t0 = now();
        if (gh_probe_train(k < 2 ? &single : &pairs, &p, &pr, &st)) { rc = cli_fail(cmd); break; }
        double dt = now() - t0;
        printf("  %-9s %8.3f s", gh_probe_method_name(ms[k]), dt);
        if (ms[k] == GH_PROBE_LOGREG) {
            const double bound = bw > 0 ? ((double)st.passes - 0.5 * (double)st.half_passes) * pass_bytes / (bw * 1e9) : 0;
            printf("  (%d Newton steps, %lld passes over X, %lld of them over its float16 copy; bandwidth bound %.3f s, "
                   "%.0f%% of the time; final gradient %.2g)",
                   st.iters, (long long)st.passes, (long long)st.half_passes, bound, dt > 0 ? 100 * bound / dt : 0, st.grad_norm);
        }
        if (ms[k] == GH_PROBE_PCA) printf("  (%d power iterations)", st.iters);
        if (ms[k] == GH_PROBE_CCS) printf("  (1 restart x 20 epochs; the default is 10 x 1000)");
        printf("\n");
        gh_probe_free(pr);
    }
    printf("  bt        skipped: gh_bt_fit is a dense Newton solver (d x d Hessian), meant for reward heads\n");
    free(x);
    free(xn);
    free(y);
    free(t);
    return rc;
}

int cmd_probe(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "train")) return train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "apply")) return apply_or_eval(argc - 1, argv + 1, false);
    if (!strcmp(argv[1], "eval")) return apply_or_eval(argc - 1, argv + 1, true);
    if (!strcmp(argv[1], "bench")) return bench(argc - 1, argv + 1);
    if (!strcmp(argv[1], "lambda")) return cmd_probe_lambda(argc - 1, argv + 1);
    return cli_usage_error("probe", "unknown verb '%s' (train, apply, eval, lambda, bench)", argv[1]);
}
