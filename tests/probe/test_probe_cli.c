/* Tests of `goodhart probe` through the binary ($GH_BIN) on .npy files written
 * by /usr/bin/python3 numpy (apply = X·w + b as numpy computes it; eval; pairs;
 * bad input named by file), and of the probe-penalty reward term on
 * stories260K (its value is the probe's logit on gh_head_features; another
 * model is refused), including a probe on a reward model's own hidden states. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "goodhart/backend.h"
#include "goodhart/convert.h"
#include "goodhart/probe.h"
#include "goodhart/reward.h"

/* the binary as an absolute path (the commands run inside the temporary directory) */
static const char *bin(void) {
    static char buf[4096];
    const char *b = getenv("GH_BIN") && *getenv("GH_BIN") ? getenv("GH_BIN") : "build/goodhart";
    if (b[0] == '/') return b;
    char cwd[2048];
    if (!getcwd(cwd, sizeof cwd)) return b;
    snprintf(buf, sizeof buf, "%s/%s", cwd, b);
    return buf;
}

static char *run(int *st, const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return tu_run(cmd, st);
}

static void py(const char *code) {
    const char *path = tu_tmp("gen.py");
    assert_int_equal(tu_write_file(path, code, strlen(code)), 0);
    int st;
    char *o = run(&st, "cd %s && /usr/bin/python3 %s", tu_tmpdir(), path);
    if (st) print_message("%s\n", o);
    assert_int_equal(st, 0);
    free(o);
}

static void test_cli_train_apply_eval(void **state) {
    (void)state;
    py("import numpy as np\n"
       "r=np.random.default_rng(1)\n"
       "X=r.normal(size=(300,12)).astype(np.float32);t=r.normal(size=12)\n"
       "y=(X@t+0.5*r.normal(size=300)>0)\n"
       "np.save('X.npy',X);np.save('y.npy',y.astype(np.int64));np.save('yb.npy',y)\n"
       "X2=(r.normal(size=(100,12))*1.5).astype(np.float64);np.save('X2.npy',X2);np.save('y2.npy',(X2@t>0).astype(np.float32))\n"
       "np.save('bad_rows.npy',np.zeros(299,np.int64));np.save('bad_val.npy',np.full(300,2,np.int64));np.save('one.npy',np.ones(300,np.int64))\n"
       "Xn=X.copy();Xn[5,3]=np.nan;np.save('Xnan.npy',Xn)\n");
    const char *dir = tu_tmpdir();
    int st;
    char *o = run(&st, "cd %s && %s probe train --features X.npy --labels y.npy --C 0.5 --standardize --cv 4 "
                  "--ood-features X2.npy --ood-labels y2.npy --boot 200 --layer 3 --pool mean -o p.gguf", dir,
                  bin());
    if (st) print_message("%s\n", o);
    assert_int_equal(st, 0);
    assert_contains(o, "train  n=300");
    assert_contains(o, "cv     n=300");
    assert_contains(o, "ood    n=100");
    assert_contains(o, "wrote p.gguf: logreg probe, 300 rows x 12 features");
    free(o);
    /* apply == numpy's ((X - mean)/scale)·w + b, with the probe's own numbers */
    gh_probe *p = NULL;
    assert_ok(gh_probe_load(tu_tmp("p.gguf"), &p));
    assert_non_null(p->mean);
    assert_int_equal(p->layer, 3);
    assert_contains(p->metrics_json, "\"cv\":{");
    assert_contains(p->metrics_json, "\"ood\":{");
    FILE *f = fopen(tu_tmp("w.txt"), "w");
    for (int j = 0; j < p->d; j++) fprintf(f, "%.9g %.9g %.9g\n", p->w[j], p->mean[j], p->scale[j]);
    fprintf(f, "%.17g 0 1\n", p->b);
    fclose(f);
    gh_probe_free(p);
    o = run(&st, "cd %s && %s probe apply --probe p.gguf --features X.npy > z.txt && /usr/bin/python3 -c \"import numpy as np\n"
            "X=np.load('X.npy').astype(np.float64);a=np.loadtxt('w.txt');w,m,s=a[:-1,0],a[:-1,1],a[:-1,2];b=a[-1,0]\n"
            "z=np.loadtxt('z.txt');ref=((X-m)/s)@w+b\n"
            "assert z.shape==(300,), z.shape\n"
            "print('maxdiff %%.3g'%%np.max(np.abs(z-ref)))\n"
            "assert np.max(np.abs(z-ref))<1e-5\"", dir, bin());
    if (st) print_message("%s\n", o);
    assert_int_equal(st, 0);
    assert_contains(o, "maxdiff");
    free(o);
    o = run(&st, "cd %s && %s probe eval --probe p.gguf --features X2.npy --labels y2.npy --json --boot 100", dir, bin());
    assert_int_equal(st, 0);
    assert_contains(o, "{\"n\":100,");
    assert_contains(o, "\"auroc\":[");
    free(o);
    /* boolean labels work too; deterministic output */
    char *o1 = run(&st, "cd %s && %s probe train --features X.npy --labels yb.npy --method mass-mean -o m.gguf --boot 50", dir, bin());
    assert_int_equal(st, 0);
    char *o2 = run(&st, "cd %s && %s probe train --features X.npy --labels yb.npy --method mass-mean -o m.gguf --boot 50", dir, bin());
    assert_string_equal(o1, o2);
    free(o1);
    free(o2);
    /* bad input: named by file */
    static const struct { const char *args, *needle; } bad[] = {
        {"--features X.npy --labels bad_rows.npy", "bad_rows.npy has 299 labels but X.npy has 300 rows"},
        {"--features X.npy --labels bad_val.npy", "bad_val.npy"},
        {"--features X.npy --labels one.npy", "both classes"},
        {"--features Xnan.npy --labels y.npy", "Xnan.npy"},
        {"--features nope.npy --labels y.npy", "nope.npy"},
        {"--features-pos X.npy --features-neg X2.npy --method pca", "X2.npy has 100 x 12 values but X.npy has 300 x 12"},
        {"--features X.npy --labels y.npy --method ccs", "learns from contrast pairs"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        o = run(&st, "cd %s && %s probe train %s -o bad.gguf", dir, bin(), bad[k].args);
        assert_true(st != 0);
        assert_contains(o, bad[k].needle);
        free(o);
    }
    /* a probe from another model is refused */
    o = run(&st, "cd %s && %s probe train --features X.npy --labels y.npy --model-sha256 %064d -o h.gguf --boot 0 && "
            "%s probe apply --probe h.gguf --features X.npy --model-sha256 %064d", dir, bin(), 1, bin(), 2);
    assert_true(st != 0);
    assert_contains(o, "h.gguf: the probe was trained on the model with SHA-256");
    free(o);
}

static void test_cli_pairs(void **state) {
    (void)state;
    py("import numpy as np\n"
       "r=np.random.default_rng(2)\n"
       "n,d=300,10;t=r.normal(size=d);t/=np.linalg.norm(t);s=r.choice([-1,1],size=n)\n"
       "base=r.normal(size=(n,d))*2\n"
       "A=(base+0.5*3*s[:,None]*t+0.3*r.normal(size=(n,d))).astype(np.float32)\n"
       "B=(base-0.5*3*s[:,None]*t+0.3*r.normal(size=(n,d))).astype(np.float32)\n"
       "np.save('A.npy',A);np.save('B.npy',B);np.save('s.npy',(s>0).astype(np.uint8))\n");
    const char *dir = tu_tmpdir();
    int st;
    const char *methods[3] = {"pca", "bt", "ccs --restarts 3 --epochs 300"};
    for (int k = 0; k < 3; k++) {
        char *o = run(&st, "cd %s && %s probe train --features-pos A.npy --features-neg B.npy --labels s.npy --method %s --boot 50 -o q.gguf && "
                      "%s probe eval --probe q.gguf --features-pos A.npy --features-neg B.npy --labels s.npy --orient --json --boot 50",
                      dir, bin(), methods[k], bin());
        if (st) print_message("%s\n", o);
        assert_int_equal(st, 0);
        char *a = strstr(o, "\"accuracy\":[");
        assert_non_null(a);
        double acc = strtod(a + 12, NULL);
        if (!(acc > 0.95)) fail_msg("%s: pair accuracy %g\n%s", methods[k], acc, o);
        free(o);
        /* apply on pairs prints one score per pair */
        o = run(&st, "cd %s && %s probe apply --probe q.gguf --features-pos A.npy --features-neg B.npy | wc -l", dir, bin());
        assert_int_equal(st, 0);
        assert_int_equal(atoi(o), 300);
        free(o);
    }
}

/* The scikit-learn contract through the CLI: `probe train --features X.npy
 * --labels y.npy --method logreg --C C -o P`, then `probe apply --probe P
 * --features X.npy`, against sklearn's LogisticRegression(C) on the same
 * arrays: coefficients and intercept (read back from P) within 1e-4 relative,
 * apply's scores = its decision_function, the same predictions. */
static void test_cli_matches_sklearn(void **state) {
    (void)state;
    py("import numpy as np\n"
       "from sklearn.linear_model import LogisticRegression as LR\n"
       "r=np.random.default_rng(5)\n"
       "X=(r.normal(size=(500,40))+0.7).astype(np.float32);t=r.normal(size=40)\n"
       "y=(X@t-0.7*t.sum()+1.0*r.normal(size=500)>0).astype(np.int64)\n"
       "np.save('skX.npy',X);np.save('sky.npy',y)\n"
       "for C in (1.0,0.05):\n"
       "  m=LR(C=C,tol=1e-10,max_iter=10000,solver='newton-cholesky').fit(X.astype(np.float64),y)\n"
       "  np.savetxt('sk%g.txt'%C,np.append(m.coef_[0],m.intercept_[0]),fmt='%.17g')\n"
       "  np.savetxt('skz%g.txt'%C,m.decision_function(X.astype(np.float64)),fmt='%.17g')\n");
    const char *dir = tu_tmpdir();
    const double Cs[2] = {1.0, 0.05};
    for (int c = 0; c < 2; c++) {
        int st;
        char *o = run(&st, "cd %s && %s probe train --features skX.npy --labels sky.npy --method logreg --C %g -o sk.gguf 2>&1", dir,
                      bin(), Cs[c]);
        if (st) print_message("%s\n", o);
        assert_int_equal(st, 0);
        free(o);
        gh_probe *p = NULL;
        assert_ok(gh_probe_load(tu_tmp("sk.gguf"), &p));
        assert_int_equal(p->d, 40);
        assert_null(p->mean); /* no standardisation unless asked */
        char name[64];
        snprintf(name, sizeof name, "sk%g.txt", Cs[c]);
        size_t len;
        char *ref = tu_read_file(tu_tmp(name), &len), *q = ref;
        assert_non_null(ref);
        double rw[41], wmax = 0;
        for (int j = 0; j <= 40; j++) {
            rw[j] = strtod(q, &q);
            if (j < 40 && fabs(rw[j]) > wmax) wmax = fabs(rw[j]);
        }
        for (int j = 0; j < 40; j++)
            if (fabs(p->w[j] - rw[j]) > 1e-4 * fabs(rw[j]) + 1e-6 * wmax)
                fail_msg("C %g coefficient %d: ours %.9g, sklearn %.9g", Cs[c], j, p->w[j], rw[j]);
        if (fabs(p->b - rw[40]) > 1e-4 * fabs(rw[40]) + 1e-6 * (1 + wmax))
            fail_msg("C %g intercept: ours %.9g, sklearn %.9g", Cs[c], p->b, rw[40]);
        free(ref);
        gh_probe_free(p);
        o = run(&st, "cd %s && %s probe apply --probe sk.gguf --features skX.npy > skz.txt && /usr/bin/python3 -c \"import numpy as np\n"
                "z=np.loadtxt('skz.txt');ref=np.loadtxt('skz%g.txt')\n"
                "assert z.shape==(500,), z.shape\n"
                "err=np.abs(z-ref)/(np.abs(ref)+1e-2*np.abs(ref).max());print('relerr %%.3g'%%err.max())\n"
                "assert err.max()<1e-4\n"
                "sure=np.abs(ref)>1e-6;assert ((z>0)==(ref>0))[sure].all()\"", dir, bin(), Cs[c]);
        if (st) print_message("%s\n", o);
        assert_int_equal(st, 0);
        assert_contains(o, "relerr");
        free(o);
    }
}

/* a logreg probe on x [n][d] (labels y) marked as reading `layer`, mean
 * pooled, of model m; saved to path */
static gh_probe *train_saved(const float *x, const uint8_t *y, int n, int32_t d, int32_t layer, gh_model *m, const char *path) {
    gh_probe_data data = {.x = x, .y = y, .n = n, .d = d};
    gh_probe_train_params tp = gh_probe_default_train_params();
    gh_probe *p = NULL;
    assert_ok(gh_probe_train(&data, &tp, &p, NULL));
    p->layer = layer;
    strcpy(p->pool, "mean");
    memcpy(p->model_sha256, gh_model_sha256(m), 65);
    assert_ok(gh_probe_save(p, path));
    return p;
}

/* stories260K, one thread */
static gh_backend *open_stories(void) {
    gh_backend *b = NULL;
    gh_backend_params bp = gh_backend_default_params();
    bp.n_threads = 1;
    assert_ok(gh_backend_open(tu_stories_gguf(), &bp, &b));
    return b;
}

/* words separated by spaces (what the length term counts in these texts) */
static int n_words(const char *s) {
    int n = 0;
    for (const char *q = s; *q; q++)
        if (*q != ' ' && (q == s || q[-1] == ' ')) n++;
    return n;
}

/* The probe-penalty term: S = the probe's logit on gh_head_features(layer, mean, response). */
static void test_probe_reward_term(void **state) {
    (void)state;
    gh_backend *b = open_stories();
    gh_model *m = gh_backend_model(b);
    const gh_model_info *I = gh_model_get_info(m);
    static const char *resp[8] = {" The dog was happy and smiled.", " She was sad and cried.", " Tom laughed and played happily.",
                                  " The cat was scared and sad.", " They had fun in the sun.", " He cried because he was hurt.",
                                  " Lily smiled at her happy mom.", " The bird was lost and sad."};
    const int32_t d = I->n_embd, layer = 3;
    float *x = malloc((size_t)8 * d * sizeof *x);
    uint8_t y[8];
    gh_head_spec hs = {.layer = layer, .pool = GH_POOL_MEAN, .span_response = true};
    for (int k = 0; k < 8; k++) {
        assert_ok(gh_head_features(b, &hs, "Once upon a time", resp[k], x + (size_t)k * d));
        y[k] = (uint8_t)(k % 2 == 0);
    }
    const char *path = tu_tmp("syc.gguf");
    gh_probe *p = train_saved(x, y, 8, d, layer, m, path);
    gh_probe_data data = {.x = x, .y = y, .n = 8, .d = d};
    double z[8];
    assert_ok(gh_probe_score(p, &data, z));
    char spec[600];
    snprintf(spec, sizeof spec, "length;-0.5*probe:%s", path);
    gh_reward *r = NULL;
    assert_ok(gh_reward_parse(spec, NULL, b, &r));
    assert_int_equal(gh_reward_caps(r) & GH_CAP_HIDDEN, GH_CAP_HIDDEN);
    for (int k = 0; k < 8; k++) {
        gh_reward_input in = {.prompt = "Once upon a time", .response = resp[k], .n_tokens = -1};
        double v;
        assert_ok(gh_reward_score(r, &in, &v));
        assert_float_equal(v, n_words(resp[k]) - 0.5 * z[k], 1e-9 * (1 + fabs(z[k])));
    }
    gh_reward_free(r);
    /* `probe lambda` from the model: R = length (words), S = the probe's logit */
    {
        double Rw[8], lam_lib;
        FILE *f = fopen(tu_tmp("calib.jsonl"), "w"), *fr = fopen(tu_tmp("R.txt"), "w"), *fs = fopen(tu_tmp("S.txt"), "w");
        assert_non_null(f);
        for (int k = 0; k < 8; k++) {
            fprintf(f, "{\"prompt\": \"Once upon a time\", \"response\": \"%s\"}\n", resp[k]);
            Rw[k] = n_words(resp[k]);
            fprintf(fr, "%d\n", n_words(resp[k]));
            fprintf(fs, "%.17g\n", z[k]);
        }
        fclose(f); fclose(fr); fclose(fs);
        assert_ok(gh_probe_penalty_lambda(Rw, z, 8, &lam_lib));
        int st;
        char *o = run(&st, "%s probe lambda -m %s -t 1 --reward length --probe %s --data %s --json", bin(), tu_stories_gguf(), path,
                      tu_tmp("calib.jsonl"));
        if (st) print_message("%s\n", o);
        assert_int_equal(st, 0);
        const char *lp = strstr(o, "\"lambda\":");
        assert_non_null(lp);
        assert_float_equal(strtod(lp + 9, NULL), lam_lib, 1e-9 * lam_lib);
        assert_contains(o, "\"n\":8");
        assert_contains(o, "length;-");
        free(o);
        /* the same from score files */
        o = run(&st, "%s probe lambda --reward-scores %s --probe-scores %s --json", bin(), tu_tmp("R.txt"), tu_tmp("S.txt"));
        assert_int_equal(st, 0);
        lp = strstr(o, "\"lambda\":");
        assert_non_null(lp);
        assert_float_equal(strtod(lp + 9, NULL), lam_lib, 1e-9 * lam_lib);
        free(o);
        /* bad input names the file and line */
        f = fopen(tu_tmp("S_bad.txt"), "w");
        fputs("1.5\n2\nabc\n", f);
        fclose(f);
        o = run(&st, "%s probe lambda --reward-scores %s --probe-scores %s 2>&1", bin(), tu_tmp("R.txt"), tu_tmp("S_bad.txt"));
        assert_int_not_equal(st, 0);
        assert_contains(o, "S_bad.txt:3");
        free(o);
        /* a constant R is an error naming it, not a silent lambda 0 */
        f = fopen(tu_tmp("R_const.txt"), "w");
        for (int k = 0; k < 8; k++) fputs("3\n", f);
        fclose(f);
        o = run(&st, "%s probe lambda --reward-scores %s --probe-scores %s 2>&1", bin(), tu_tmp("R_const.txt"), tu_tmp("S.txt"));
        assert_int_not_equal(st, 0);
        assert_contains(o, "the reward R is constant over the calibration set");
        free(o);
        f = fopen(tu_tmp("calib_bad.jsonl"), "w");
        fputs("{\"prompt\": \"a\", \"response\": \"b\"}\n{\"prompt\": \"a\"}\n", f);
        fclose(f);
        o = run(&st, "%s probe lambda -m %s -t 1 --reward length --probe %s --data %s 2>&1", bin(), tu_stories_gguf(), path,
                tu_tmp("calib_bad.jsonl"));
        assert_int_not_equal(st, 0);
        assert_contains(o, "calib_bad.jsonl:2");
        assert_contains(o, "response");
        free(o);
    }
    /* lambda by the spread rule on these scores */
    double R[8], lam;
    for (int k = 0; k < 8; k++) R[k] = (double)k;
    assert_ok(gh_probe_penalty_lambda(R, z, 8, &lam));
    assert_true(lam > 0);
    gh_probe_free(p);
    gh_backend_free(b);
    /* another model of the same width is refused */
    const char *other = tu_tmp("other.gguf");
    gh_make_model_params mp = gh_make_model_default_params();
    assert_ok(gh_make_model_preset("tiny", &mp));
    mp.n_embd = d;
    assert_ok(gh_make_model(&mp, other));
    assert_ok(gh_backend_open(other, NULL, &b));
    snprintf(spec, sizeof spec, "probe:%s", path);
    assert_int_equal(gh_reward_parse(spec, NULL, b, &r), GH_ERR_MISMATCH);
    assert_contains(gh_last_error(), "syc.gguf");
    assert_null(r);
    gh_backend_free(b);
    free(x);
}

/* A probe trained on a REWARD MODEL's hidden states (the paper's setting) reads
 * that reward model in "rm:RM;-λ*probe:P" (chosen by the model hash the probe
 * records, in either term order), with no policy at all or beside a policy of
 * another model; `probe lambda` needs no -m then. Without the rm: term, a
 * policy of another model is refused, naming both. */
static void test_probe_reads_reward_model(void **state) {
    (void)state;
    const char *rm = tu_tmp("probe-rm.gguf");
    gh_make_model_params mp = gh_make_model_default_params();
    assert_ok(gh_make_model_preset("tiny", &mp));
    mp.cls_head = true;
    mp.seed = 17;
    assert_ok(gh_make_model(&mp, rm));
    gh_backend *rb = NULL, *policy = NULL;
    assert_ok(gh_backend_open(rm, NULL, &rb));
    policy = open_stories();
    const gh_model_info *I = gh_model_get_info(gh_backend_model(rb));
    static const char *resp[6] = {" a happy day", " a sad day", " we played and laughed", " it rained and we cried",
                                  " good good good", " bad and worse"};
    const int32_t d = I->n_embd, layer = 1;
    float *x = malloc((size_t)6 * d * sizeof *x);
    uint8_t y[6];
    double rs[6];
    gh_head_spec hs = {.layer = layer, .pool = GH_POOL_MEAN, .span_response = true};
    for (int k = 0; k < 6; k++) {
        assert_ok(gh_head_features(rb, &hs, "Today was", resp[k], x + (size_t)k * d));
        y[k] = (uint8_t)(k % 2 == 0);
        gh_rm_score *sc = NULL;
        assert_ok(gh_backend_score(rb, "Today was", resp[k], &sc));
        rs[k] = sc->score;
        gh_rm_score_free(sc);
    }
    const char *path = tu_tmp("rm-probe.gguf");
    gh_probe *p = train_saved(x, y, 6, d, layer, gh_backend_model(rb), path);
    gh_probe_data data = {.x = x, .y = y, .n = 6, .d = d};
    double z[6];
    assert_ok(gh_probe_score(p, &data, z));
    gh_probe_free(p);
    free(x);
    char spec[3][8192];
    snprintf(spec[0], sizeof spec[0], "rm:%s;-0.5*probe:%s", rm, path);
    snprintf(spec[1], sizeof spec[1], "-0.5*probe:%s;rm:%s", path, rm);
    for (int v = 0; v < 4; v++) {
        gh_reward *r = NULL;
        gh_backend *b = v < 2 ? NULL : policy; /* no policy, or stories260K (another model) */
        assert_ok(gh_reward_parse(spec[v % 2], NULL, b, &r));
        assert_int_equal(gh_reward_caps(r) & GH_CAP_HIDDEN, 0); /* nothing is asked of the policy */
        for (int k = 0; k < 6; k++) {
            gh_reward_input in = {.prompt = "Today was", .response = resp[k], .n_tokens = -1};
            double val;
            assert_ok(gh_reward_score(r, &in, &val));
            assert_float_equal(val, rs[k] - 0.5 * z[k], 1e-5 * (1 + fabs(val)));
        }
        gh_reward_free(r);
    }
    /* the probe alone, on a policy that is not the reward model: refused */
    gh_reward *r = NULL;
    snprintf(spec[2], sizeof spec[2], "length;probe:%s", path);
    assert_int_equal(gh_reward_parse(spec[2], NULL, policy, &r), GH_ERR_MISMATCH);
    assert_contains(gh_last_error(), "rm-probe.gguf");
    assert_contains(gh_last_error(), "neither the policy model");
    assert_null(r);
    assert_int_equal(gh_reward_parse(spec[2], NULL, NULL, &r), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "a probe needs a model to read hidden states from");
    /* `probe lambda` with R = the reward model, S on its hidden states, no -m */
    FILE *f = fopen(tu_tmp("rm-calib.jsonl"), "w");
    assert_non_null(f);
    for (int k = 0; k < 6; k++) fprintf(f, "{\"prompt\": \"Today was\", \"response\": \"%s\"}\n", resp[k]);
    fclose(f);
    double lam;
    assert_ok(gh_probe_penalty_lambda(rs, z, 6, &lam));
    int st;
    char *o = run(&st, "%s probe lambda --reward rm:%s --probe %s --data %s --json 2>&1", bin(), rm, path, tu_tmp("rm-calib.jsonl"));
    if (st) print_message("%s\n", o);
    assert_int_equal(st, 0);
    const char *lp = strstr(o, "\"lambda\":");
    assert_non_null(lp);
    assert_float_equal(strtod(lp + 9, NULL), lam, 1e-5 * lam);
    free(o);
    gh_backend_free(rb);
    gh_backend_free(policy);
}

/* Two probe terms, R − λ1·S1 − λ2·S2, each probe on its own layer and
 * labels: the reward adds both logits; `probe lambda` chooses λ2 for the
 * reward that already holds the first penalty (R' = R − λ1·S1), as the library
 * rule does on those numbers. */
static void test_two_probe_terms(void **state) {
    (void)state;
    gh_backend *b = open_stories();
    gh_model *m = gh_backend_model(b);
    const int32_t d = gh_model_get_info(m)->n_embd;
    static const char *resp[6] = {" The dog ran to mom.", " A cat sat.", " Mom and the dog played all day long.",
                                  " The sun set.", " Tom saw a big dog and a small bird.", " Lily sang a song to her mom."};
    const int32_t layers[2] = {2, 4};
    const uint8_t lab[2][6] = {{1, 0, 1, 0, 1, 0}, {1, 0, 1, 0, 0, 1}}; /* dog; mom */
    float *x = malloc((size_t)2 * 6 * d * sizeof *x);
    double z[2][6];
    char path[2][600];
    for (int q = 0; q < 2; q++) {
        gh_head_spec hs = {.layer = layers[q], .pool = GH_POOL_MEAN, .span_response = true};
        float *xq = x + (size_t)q * 6 * d;
        for (int k = 0; k < 6; k++) assert_ok(gh_head_features(b, &hs, "Once upon a time", resp[k], xq + (size_t)k * d));
        snprintf(path[q], sizeof path[q], "%s", tu_tmp(q ? "two-mom.gguf" : "two-dog.gguf"));
        gh_probe *p = train_saved(xq, lab[q], 6, d, layers[q], m, path[q]);
        gh_probe_data data = {.x = xq, .y = lab[q], .n = 6, .d = d};
        assert_ok(gh_probe_score(p, &data, z[q]));
        gh_probe_free(p);
    }
    char spec[2048];
    snprintf(spec, sizeof spec, "length;-0.5*probe:%s;-0.25*probe:%s", path[0], path[1]);
    gh_reward *r = NULL;
    assert_ok(gh_reward_parse(spec, NULL, b, &r));
    assert_int_equal(gh_reward_n_terms(r), 3);
    double R1[6];
    FILE *f = fopen(tu_tmp("two-calib.jsonl"), "w");
    assert_non_null(f);
    for (int k = 0; k < 6; k++) {
        gh_reward_input in = {.prompt = "Once upon a time", .response = resp[k], .n_tokens = -1};
        double v;
        assert_ok(gh_reward_score(r, &in, &v));
        assert_float_equal(v, n_words(resp[k]) - 0.5 * z[0][k] - 0.25 * z[1][k], 1e-9 * (1 + fabs(v)));
        R1[k] = n_words(resp[k]) - 0.5 * z[0][k];
        fprintf(f, "{\"prompt\": \"Once upon a time\", \"response\": \"%s\"}\n", resp[k]);
    }
    fclose(f);
    gh_reward_free(r);
    double lam2;
    assert_ok(gh_probe_penalty_lambda(R1, z[1], 6, &lam2));
    int st;
    char *o = run(&st, "%s probe lambda -m %s -t 1 --reward 'length;-0.5*probe:%s' --probe %s --data %s --json 2>&1", bin(),
                  tu_stories_gguf(), path[0], path[1], tu_tmp("two-calib.jsonl"));
    if (st) print_message("%s\n", o);
    assert_int_equal(st, 0);
    const char *lp = strstr(o, "\"lambda\":");
    assert_non_null(lp);
    assert_float_equal(strtod(lp + 9, NULL), lam2, 1e-9 * lam2);
    assert_contains(o, "-0.5*probe:"); /* the printed spec keeps the first penalty and adds the second */
    free(o);
    free(x);
    gh_backend_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_train_apply_eval),
        cmocka_unit_test(test_cli_matches_sklearn),
        cmocka_unit_test(test_cli_pairs),
        cmocka_unit_test(test_probe_reward_term),
        cmocka_unit_test(test_probe_reads_reward_model),
        cmocka_unit_test(test_two_probe_terms),
    };
    return cmocka_run_group_tests_name("probe_cli", tests, NULL, NULL);
}
