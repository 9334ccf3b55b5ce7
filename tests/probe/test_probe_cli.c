/* Tests of `goodhart probe` through the binary ($GH_BIN) on .npy files written
 * by /usr/bin/python3 numpy (apply = X·w + b as numpy computes it; eval; pairs;
 * bad input named by file), and of the probe-penalty reward term on
 * stories260K (its value is the probe's logit on gh_head_features; another
 * model is refused). */
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

/* The probe-penalty term: S = the probe's logit on gh_head_features(layer, mean, response). */
static void test_probe_reward_term(void **state) {
    (void)state;
    gh_backend *b = NULL;
    gh_backend_params bp = gh_backend_default_params();
    bp.n_threads = 1;
    assert_ok(gh_backend_open(tu_stories_gguf(), &bp, &b));
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
    gh_probe_data data = {.x = x, .y = y, .n = 8, .d = d};
    gh_probe_train_params tp = gh_probe_default_train_params();
    gh_probe *p = NULL;
    assert_ok(gh_probe_train(&data, &tp, &p, NULL));
    p->layer = layer;
    strcpy(p->pool, "mean");
    memcpy(p->model_sha256, gh_model_sha256(m), 65);
    const char *path = tu_tmp("syc.gguf");
    assert_ok(gh_probe_save(p, path));
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
        snprintf(spec, sizeof spec, "%s", resp[k]);
        int words = 0;
        for (char *t = strtok(spec, " "); t; t = strtok(NULL, " ")) words++;
        assert_float_equal(v, words - 0.5 * z[k], 1e-9 * (1 + fabs(z[k])));
    }
    gh_reward_free(r);
    /* `probe lambda` from the model: R = length (words), S = the probe's logit */
    {
        double Rw[8], lam_lib;
        FILE *f = fopen(tu_tmp("calib.jsonl"), "w"), *fr = fopen(tu_tmp("R.txt"), "w"), *fs = fopen(tu_tmp("S.txt"), "w");
        assert_non_null(f);
        for (int k = 0; k < 8; k++) {
            fprintf(f, "{\"prompt\": \"Once upon a time\", \"response\": \"%s\"}\n", resp[k]);
            snprintf(spec, sizeof spec, "%s", resp[k]);
            int words = 0;
            for (char *t = strtok(spec, " "); t; t = strtok(NULL, " ")) words++;
            Rw[k] = words;
            fprintf(fr, "%d\n", words);
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
    assert_ok(gh_backend_open(other, &bp, &b));
    snprintf(spec, sizeof spec, "probe:%s", path);
    assert_int_equal(gh_reward_parse(spec, NULL, b, &r), GH_ERR_MISMATCH);
    assert_contains(gh_last_error(), "syc.gguf");
    assert_null(r);
    gh_backend_free(b);
    free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_train_apply_eval),
        cmocka_unit_test(test_cli_pairs),
        cmocka_unit_test(test_probe_reward_term),
    };
    return cmocka_run_group_tests_name("probe_cli", tests, NULL, NULL);
}
