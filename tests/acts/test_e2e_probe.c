/* End-to-end: texts with and without the word "dog" (templated sentences;
 * the held-out set uses names and places never seen in training), hidden
 * states of stories260K through `goodhart acts`, a logistic-regression probe
 * through `goodhart probe train`, and its held-out accuracy through `goodhart
 * probe eval` — far above chance (0.5); and stories the model itself writes,
 * told apart by whether they mention "mom", and such a probe as a penalty in
 * Best-of-N (`probe lambda`, then `bon run` against R and against R − λS).
 * Everything through the binary ($GH_BIN, default build/goodhart). */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *NAMES[10] = {"Tom", "Lily", "Ben", "Mia", "Sam", "Anna", "Max", "Sue", "Tim", "Zoe"};
static const char *PLACES[8] = {"park", "garden", "house", "forest", "yard", "street", "school", "shop"};
static const char *OTHERS[8] = {"ball", "tree", "box", "hat", "car", "cake", "book", "cup"};

/* Names [n0, n1) x places [p0, p1) x {without, with "dog"}. */
static void write_set(const char *path, int n0, int n1, int p0, int p1) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int n = n0; n < n1; n++)
        for (int p = p0; p < p1; p++)
            for (int lab = 0; lab < 2; lab++)
                fprintf(f, "{\"text\": \"%s went to the %s. %s saw a %s there and smiled.\", \"label\": %d}\n",
                        NAMES[n], PLACES[p], NAMES[n], lab ? "dog" : OTHERS[(n + 3 * p) % 8], lab);
    fclose(f);
}

static void test_probe_separates_held_out(void **state) {
    (void)state;
    char train[4096], test[4096];
    snprintf(train, sizeof train, "%s", tu_tmp("train"));
    snprintf(test, sizeof test, "%s", tu_tmp("test"));
    write_set(tu_tmp("train.jsonl"), 0, 6, 0, 5); /* 60 texts */
    write_set(tu_tmp("test.jsonl"), 6, 10, 5, 8); /* 24 texts, unseen names and places */
    int st;
    char *o = tu_cli(&st, "acts -m %s --data %s.jsonl --layer last --pool mean -o %s", tu_stories_gguf(), train, train);
    assert_int_equal(st, 0);
    free(o);
    o = tu_cli(&st, "acts -m %s --data %s.jsonl --layer last --pool mean -o %s", tu_stories_gguf(), test, test);
    assert_int_equal(st, 0);
    free(o);
    o = tu_cli(&st, "probe train --features %s.npy --labels %s.labels.npy --method logreg -m %s -o %s", train, train,
            tu_stories_gguf(), tu_tmp("p.gguf"));
    if (st) fprintf(stderr, "%s\n", o);
    assert_int_equal(st, 0);
    free(o);
    o = tu_cli(&st, "probe eval --probe %s --features %s.npy --labels %s.labels.npy --json", tu_tmp("p.gguf"), test, test);
    if (st) fprintf(stderr, "%s\n", o);
    assert_int_equal(st, 0);
    cJSON *j = cJSON_Parse(o);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "n")->valueint, 24);
    double acc = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "accuracy"), 0)->valuedouble;
    double auroc = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "auroc"), 0)->valuedouble;
    if (acc < 0.9) fprintf(stderr, "held-out accuracy %g, auroc %g\n", acc, auroc);
    assert_true(acc >= 0.9);
    assert_true(auroc >= 0.9);
    cJSON_Delete(j);
    free(o);

    /* the acts sidecar supplies labels, layer, pooling and model: no flags needed */
    o = tu_cli(&st, "probe train --features %s.npy --method logreg -o %s 2>&1", train, tu_tmp("p2.gguf"));
    if (st) fprintf(stderr, "%s\n", o);
    assert_int_equal(st, 0);
    assert_contains(o, "train.json describes train.npy");
    assert_contains(o, "pooling mean");
    free(o);
    /* the probe now knows its model: the right one is accepted, another refused */
    o = tu_cli(&st, "probe apply --probe %s --features %s.npy -m %s", tu_tmp("p2.gguf"), test, tu_stories_gguf());
    assert_int_equal(st, 0);
    free(o);
    o = tu_cli(&st, "probe apply --probe %s --features %s.npy --model-sha256 %064d 2>&1", tu_tmp("p2.gguf"), test, 0);
    assert_int_not_equal(st, 0);
    assert_contains(o, "p2.gguf");
    free(o);
    /* a flag that contradicts the sidecar is an error, not silently overridden */
    o = tu_cli(&st, "probe train --features %s.npy --method logreg --layer 1 -o %s 2>&1", train, tu_tmp("p3.gguf"));
    assert_int_not_equal(st, 0);
    assert_contains(o, "contradicts");
    free(o);
}

/* whether the text mentions "mom" as a word (" mom", not "mommy") */
static int mentions_mom(const char *full) {
    for (const char *q = full; (q = strstr(q, "mom")); q++)
        if (q > full && q[-1] == ' ' && !(q[3] >= 'a' && q[3] <= 'z')) return 1;
    return 0;
}

/* `goodhart generate` samples of stories260K ("Once upon a time", seed),
 * written as {"text", "label": mentions mom} records to `out`; returns how
 * many mention mom. */
static int write_mom_stories(int samples, int seed, const char *out) {
    int st;
    char *o = tu_cli(&st, "generate -m %s -p 'Once upon a time' --samples %d -n 48 --seed %d --json -t 1 > %s", tu_stories_gguf(),
                     samples, seed, tu_tmp("gen.jsonl"));
    assert_int_equal(st, 0);
    free(o);
    size_t len;
    char *text = tu_read_file(tu_tmp("gen.jsonl"), &len);
    assert_non_null(text);
    FILE *f = fopen(out, "w");
    assert_non_null(f);
    int n = 0, pos = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j);
        const char *t = cJSON_GetObjectItem(j, "text")->valuestring;
        char *full = malloc(strlen(t) + 32);
        sprintf(full, "Once upon a time%s", t);
        int lab = mentions_mom(full);
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "text", full);
        cJSON_AddNumberToObject(r, "label", lab);
        char *js = cJSON_PrintUnformatted(r);
        fprintf(f, "%s\n", js);
        free(js);
        cJSON_Delete(r);
        cJSON_Delete(j);
        free(full);
        n++;
        pos += lab;
    }
    fclose(f);
    free(text);
    assert_int_equal(n, samples);
    return pos;
}

/* Stories the model itself writes: 240 samples of stories260K (seed 3), labelled
 * by whether they mention "mom"; a probe on the mean final hidden state finds
 * them far above chance in 5-fold cross-validation (out-of-fold AUROC; measured
 * 0.91 when written). The texts are never shown to the test author: nothing is
 * tuned to them but the word. */
static void test_probe_on_generated_stories(void **state) {
    (void)state;
    int st;
    int pos = write_mom_stories(240, 3, tu_tmp("stories.jsonl"));
    assert_true(pos >= 24 && pos <= 216); /* both kinds present in number */
    char *o = tu_cli(&st, "acts -m %s --data %s --layer last --pool mean -o %s -t 1", tu_stories_gguf(), tu_tmp("stories.jsonl"),
                     tu_tmp("stories"));
    assert_int_equal(st, 0);
    free(o);
    o = tu_cli(&st, "probe train --features %s.npy --method logreg --cv 5 -o %s 2>&1", tu_tmp("stories"), tu_tmp("mom.gguf"));
    if (st) fprintf(stderr, "%s\n", o);
    assert_int_equal(st, 0);
    const char *cv = strstr(o, "\ncv ");
    assert_non_null(cv);
    const char *au = strstr(cv, "auroc ");
    assert_non_null(au);
    double auroc = strtod(au + 6, NULL);
    if (auroc < 0.8) fprintf(stderr, "%s\n", o);
    assert_true(auroc >= 0.8);
    free(o);
}

/* one `bon run` pool: per prompt, N candidate texts with proxy and gold */
typedef struct pool {
    int np, n;
    char *prompt[8], *text[8][8];
    double proxy[8][8], gold[8][8];
} pool;

static void read_pool(const char *dir, pool *P) {
    char path[4096];
    snprintf(path, sizeof path, "%s/pool.jsonl", dir);
    size_t len;
    char *t = tu_read_file(path, &len);
    assert_non_null(t);
    memset(P, 0, sizeof *P);
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        assert_true(P->np < 8);
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j);
        P->prompt[P->np] = strdup(cJSON_GetObjectItem(j, "prompt")->valuestring);
        const cJSON *c;
        int k = 0;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "candidates")) {
            assert_true(k < 8);
            P->text[P->np][k] = strdup(cJSON_GetObjectItem(c, "text")->valuestring);
            const cJSON *sc = cJSON_GetObjectItem(c, "scores");
            P->proxy[P->np][k] = cJSON_GetObjectItem(sc, "proxy")->valuedouble;
            P->gold[P->np][k] = cJSON_GetObjectItem(sc, "gold")->valuedouble;
            k++;
        }
        P->n = k;
        P->np++;
        cJSON_Delete(j);
    }
    free(t);
}

static void pool_free(pool *P) {
    for (int i = 0; i < P->np; i++) {
        free(P->prompt[i]);
        for (int k = 0; k < P->n; k++) free(P->text[i][k]);
    }
}

static int argmax(const double *v, int n) {
    int b = 0;
    for (int k = 1; k < n; k++)
        if (v[k] > v[b]) b = k;
    return b;
}

/* Probes with Best-of-N, all through the CLI, on stories260K's own samples: a
 * "mentions mom" probe (trained as above, other samples), `probe lambda` on
 * the candidates of a first `bon run --proxy length`, and a second run with
 * the penalised spec it prints. Both runs score the probe as gold, so each
 * pool holds S for every candidate. Same seed: the same candidates; the
 * penalised pick has less S wherever it moved (it must move somewhere), and
 * picks no more mom stories than the length pick (measured when written: 2 of
 * 4 picks moved, mom stories picked 1 -> 0). */
static void test_bon_with_probe_penalty(void **state) {
    (void)state;
    int st;
    int pos = write_mom_stories(240, 11, tu_tmp("bon-train.jsonl"));
    assert_true(pos >= 10);
    char *o = tu_cli(&st, "acts -m %s --data %s --layer last --pool mean -o %s -t 1", tu_stories_gguf(), tu_tmp("bon-train.jsonl"),
                     tu_tmp("bon-train"));
    assert_int_equal(st, 0);
    free(o);
    const char *probe = tu_tmp("bon-mom.gguf");
    o = tu_cli(&st, "probe train --features %s.npy --method logreg -o %s 2>&1", tu_tmp("bon-train"), probe);
    assert_int_equal(st, 0);
    free(o);
    const char *prompts = tu_tmp("bon-prompts.jsonl");
    FILE *f = fopen(prompts, "w");
    assert_non_null(f);
    fprintf(f, "{\"id\": \"a\", \"prompt\": \"Once upon a time, there was a little girl named Lily.\"}\n"
               "{\"id\": \"b\", \"prompt\": \"Lily and her mom went to the park.\"}\n"
               "{\"id\": \"c\", \"prompt\": \"One day, Tom went to the park.\"}\n"
               "{\"id\": \"d\", \"prompt\": \"Once upon a time\"}\n");
    fclose(f);
    const char *bon = "bon run -m %s --prompts %s --proxy '%s' --gold 'probe:%s' -N 8 --max-tokens 40 --seed 7 -o %s -t 1 2>&1";
    o = tu_cli(&st, bon, tu_stories_gguf(), prompts, "length", probe, tu_tmp("bon-R"));
    if (st) fprintf(stderr, "%s\n", o);
    assert_int_equal(st, 0);
    free(o);
    pool A, B;
    read_pool(tu_tmp("bon-R"), &A);
    assert_int_equal(A.np, 4);
    assert_int_equal(A.n, 8);
    /* the calibration set: the first run's candidates */
    f = fopen(tu_tmp("bon-calib.jsonl"), "w");
    assert_non_null(f);
    for (int i = 0; i < A.np; i++)
        for (int k = 0; k < A.n; k++) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "prompt", A.prompt[i]);
            cJSON_AddStringToObject(r, "response", A.text[i][k]);
            char *js = cJSON_PrintUnformatted(r);
            fprintf(f, "%s\n", js);
            free(js);
            cJSON_Delete(r);
        }
    fclose(f);
    o = tu_cli(&st, "probe lambda -m %s --reward length --probe %s --data %s --json -t 1", tu_stories_gguf(), probe,
               tu_tmp("bon-calib.jsonl"));
    assert_int_equal(st, 0);
    cJSON *j = cJSON_Parse(o);
    assert_non_null(j);
    const double lambda = cJSON_GetObjectItem(j, "lambda")->valuedouble;
    char spec[4096];
    snprintf(spec, sizeof spec, "%s", cJSON_GetObjectItem(j, "reward")->valuestring);
    cJSON_Delete(j);
    free(o);
    assert_true(lambda > 0);
    assert_non_null(strstr(spec, "length;-"));
    o = tu_cli(&st, bon, tu_stories_gguf(), prompts, spec, probe, tu_tmp("bon-RS"));
    if (st) fprintf(stderr, "%s\n", o);
    assert_int_equal(st, 0);
    free(o);
    read_pool(tu_tmp("bon-RS"), &B);
    assert_int_equal(B.np, A.np);
    int moved = 0, mom_a = 0, mom_b = 0, n_mom = 0;
    double s_mom = 0, s_other = 0;
    for (int i = 0; i < A.np; i++) {
        for (int k = 0; k < A.n; k++) {
            assert_string_equal(A.text[i][k], B.text[i][k]); /* same seed, same candidates */
            assert_true(A.gold[i][k] == B.gold[i][k]);
            /* the second proxy is R − λS (λ as printed, 6 digits) */
            assert_float_equal(B.proxy[i][k], A.proxy[i][k] - lambda * A.gold[i][k], 1e-5 * (1 + fabs(B.proxy[i][k])));
            int m = mentions_mom(A.text[i][k]);
            n_mom += m;
            if (m) s_mom += A.gold[i][k];
            else s_other += A.gold[i][k];
        }
        int a = argmax(A.proxy[i], A.n), b = argmax(B.proxy[i], B.n);
        if (a != b) {
            moved++;
            assert_true(A.gold[i][b] < A.gold[i][a]); /* away from what the probe detects */
        }
        mom_a += mentions_mom(A.text[i][a]);
        mom_b += mentions_mom(B.text[i][b]);
    }
    print_message("bon with a probe penalty: lambda %g, %d of %d picks moved, mom stories picked %d -> %d (%d of %d candidates)\n",
                  lambda, moved, A.np, mom_a, mom_b, n_mom, A.np * A.n);
    assert_true(moved >= 1);
    assert_true(mom_b <= mom_a);
    /* the probe reads these unseen samples: mom stories score higher */
    assert_true(n_mom >= 1 && n_mom < A.np * A.n);
    assert_true(s_mom / n_mom > s_other / (A.np * A.n - n_mom));
    pool_free(&A);
    pool_free(&B);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_separates_held_out),
        cmocka_unit_test(test_probe_on_generated_stories),
        cmocka_unit_test(test_bon_with_probe_penalty),
    };
    return cmocka_run_group_tests_name("acts/e2e_probe", tests, NULL, NULL);
}
