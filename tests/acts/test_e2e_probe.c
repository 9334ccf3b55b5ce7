/* End-to-end: texts with and without the word "dog" (templated sentences;
 * the held-out set uses names and places never seen in training), hidden
 * states of stories260K through `goodhart acts`, a logistic-regression probe
 * through `goodhart probe train`, and its held-out accuracy through `goodhart
 * probe eval` — far above chance (0.5); and stories the model itself writes,
 * told apart by whether they mention "mom". Everything through the binary
 * ($GH_BIN, default build/goodhart). */
#include "testutil.h"

#include <cjson/cJSON.h>
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

/* Stories the model itself writes: 240 samples of stories260K (seed 3), labelled
 * by whether they mention "mom"; a probe on the mean final hidden state finds
 * them far above chance in 5-fold cross-validation (out-of-fold AUROC; measured
 * 0.91 when written). The texts are never shown to the test author: nothing is
 * tuned to them but the word. */
static void test_probe_on_generated_stories(void **state) {
    (void)state;
    int st;
    char *o = tu_cli(&st, "generate -m %s -p 'Once upon a time' --samples 240 -n 48 --seed 3 --json -t 1 > %s", tu_stories_gguf(),
                     tu_tmp("gen.jsonl"));
    assert_int_equal(st, 0);
    free(o);
    size_t len;
    char *text = tu_read_file(tu_tmp("gen.jsonl"), &len);
    assert_non_null(text);
    FILE *f = fopen(tu_tmp("stories.jsonl"), "w");
    assert_non_null(f);
    int n = 0, pos = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j);
        const char *t = cJSON_GetObjectItem(j, "text")->valuestring;
        char *full = malloc(strlen(t) + 32);
        sprintf(full, "Once upon a time%s", t);
        int lab = 0;
        for (char *q = full; (q = strstr(q, "mom")); q++)
            if (q > full && (q[-1] == ' ') && !((q[3] >= 'a' && q[3] <= 'z'))) lab = 1;
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
    assert_int_equal(n, 240);
    assert_true(pos >= 24 && pos <= 216); /* both kinds present in number */
    o = tu_cli(&st, "acts -m %s --data %s --layer last --pool mean -o %s -t 1", tu_stories_gguf(), tu_tmp("stories.jsonl"),
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_separates_held_out),
        cmocka_unit_test(test_probe_on_generated_stories),
    };
    return cmocka_run_group_tests_name("acts/e2e_probe", tests, NULL, NULL);
}
