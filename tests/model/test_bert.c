/* The BERT encoder (src/model/bert.c) against an independent float64 NumPy
 * implementation (tests/model/gguf_ref.py) on a random-weight model written by
 * gh_make_model: final hidden states of every token within 1e-4, with and
 * without token types; determinism across thread counts; and the encoder's
 * clear refusals (no decoding context, too many tokens, no classifier head). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/convert.h"
#include "goodhart/model.h"
#include "goodhart/tokenizer.h"

#define E 64
#define CTX 32

static const char *bert_path(void) {
    static char path[4096];
    if (path[0]) return path;
    snprintf(path, sizeof path, "%s", tu_tmp("bert.gguf"));
    gh_make_model_params p = gh_make_model_default_params();
    p.arch = "bert";
    p.n_vocab = 200;
    p.n_embd = E;
    p.n_ff = 128;
    p.n_layer = 2;
    p.n_head = 4;
    p.n_ctx = CTX;
    p.pooling = GH_POOLING_MEAN;
    p.seed = 7;
    assert_ok(gh_make_model(&p, path));
    return path;
}

/* Runs the NumPy reference; returns rows × E values (malloc'd). */
static double *numpy_ref(const char *path, const int32_t *ids, int32_t n, const int32_t *types, int *rows) {
    char cmd[8192];
    int o = snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/model/gguf_ref.py bert %s ", path);
    for (int32_t i = 0; i < n; i++) o += snprintf(cmd + o, sizeof cmd - (size_t)o, i ? ",%d" : "%d", ids[i]);
    if (types) {
        o += snprintf(cmd + o, sizeof cmd - (size_t)o, " ");
        for (int32_t i = 0; i < n; i++) o += snprintf(cmd + o, sizeof cmd - (size_t)o, i ? ",%d" : "%d", types[i]);
    }
    int st;
    char *out = tu_run(cmd, &st);
    if (st != 0) fprintf(stderr, "%s\n", out);
    assert_int_equal(st, 0);
    double *v = malloc((size_t)n * E * sizeof *v);
    int k = 0;
    char *p = out, *end;
    for (;;) {
        double x = strtod(p, &end);
        if (end == p) break;
        assert_true(k < n * E);
        v[k++] = x;
        p = end;
    }
    free(out);
    *rows = k / E;
    assert_int_equal(k % E, 0);
    return v;
}

static double max_diff(const float *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) if (fabs((double)a[i] - b[i]) > m) m = fabs((double)a[i] - b[i]);
    return m;
}

static void test_encode_matches_numpy(void **state) {
    (void)state;
    gh_model *m;
    assert_ok(gh_model_load(bert_path(), NULL, &m));
    const char *text = "Hello, world! The cat sat on the mat; is it good?";
    int32_t *ids;
    size_t n;
    assert_ok(gh_tokenize(gh_model_tokenizer(m), text, strlen(text), true, false, &ids, &n));
    assert_int_equal(ids[0], 2);      /* [CLS] */
    assert_int_equal(ids[n - 1], 3);  /* [SEP] */
    assert_true(n > 12 && n <= CTX);
    float *h = malloc(n * E * sizeof *h);
    assert_ok(gh_model_encode(m, ids, NULL, (int32_t)n, h));
    int rows;
    double *ref = numpy_ref(bert_path(), ids, (int32_t)n, NULL, &rows);
    assert_int_equal(rows, (int)n);
    double d = max_diff(h, ref, n * E);
    printf("  bert: %zu tokens, max |goodhart - numpy| = %.3g\n", n, d);
    assert_true(d < 1e-4);
    /* the states are not trivially small: the bound means something */
    double mx = 0;
    for (size_t i = 0; i < n * E; i++) if (fabs(ref[i]) > mx) mx = fabs(ref[i]);
    assert_true(mx > 0.5);
    free(ref);
    /* token types: a sentence pair, the second half of type 1 */
    int32_t *types = calloc(n, sizeof *types);
    for (size_t i = n / 2; i < n; i++) types[i] = 1;
    float *h2 = malloc(n * E * sizeof *h2);
    assert_ok(gh_model_encode(m, ids, types, (int32_t)n, h2));
    ref = numpy_ref(bert_path(), ids, (int32_t)n, types, &rows);
    assert_true(max_diff(h2, ref, n * E) < 1e-4);
    assert_true(memcmp(h, h2, n * E * sizeof *h) != 0); /* the types matter */
    free(ref);
    free(types);
    free(h2);
    free(h);
    free(ids);
    gh_model_free(m);
}

static void test_threads_and_repeat_identical(void **state) {
    (void)state;
    gh_model_params mp = gh_model_default_params();
    mp.n_threads = 1;
    gh_model *m;
    assert_ok(gh_model_load(bert_path(), &mp, &m));
    int32_t ids[CTX];
    for (int i = 0; i < CTX; i++) ids[i] = 5 + (i * 37) % 190;
    float *a = malloc(CTX * E * sizeof *a), *b = malloc(CTX * E * sizeof *b);
    assert_ok(gh_model_encode(m, ids, NULL, CTX, a));
    gh_model_set_n_threads(m, 2);
    assert_ok(gh_model_encode(m, ids, NULL, CTX, b));
    assert_memory_equal(a, b, CTX * E * sizeof *a);
    /* a token's state depends on the whole text (bidirectional): change the last token */
    ids[CTX - 1] = 6;
    assert_ok(gh_model_encode(m, ids, NULL, CTX, b));
    assert_true(memcmp(a, b, E * sizeof *a) != 0);
    free(a);
    free(b);
    gh_model_free(m);
}

static void test_info_and_refusals(void **state) {
    (void)state;
    gh_model *m;
    assert_ok(gh_model_load(bert_path(), NULL, &m));
    const gh_model_info *I = gh_model_get_info(m);
    assert_string_equal(I->arch, "bert");
    assert_true(I->encoder);
    assert_int_equal(I->pooling, GH_POOLING_MEAN);
    assert_string_equal(gh_pooling_name(I->pooling), "mean");
    assert_int_equal(I->n_cls_out, 0);
    assert_false(I->lm_head);
    assert_int_equal(I->n_ctx_train, CTX);
    assert_true(fabsf(I->norm_eps - 1e-12f) < 1e-15f);
    gh_ctx *c = NULL;
    assert_int_equal(gh_ctx_init(m, NULL, &c), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), "encoder");
    int32_t ids[CTX + 1];
    for (int i = 0; i <= CTX; i++) ids[i] = 5;
    float *h = malloc((CTX + 1) * E * sizeof *h);
    assert_int_equal(gh_model_encode(m, ids, NULL, CTX + 1, h), GH_ERR_LIMIT);
    assert_contains(gh_last_error(), "33 tokens exceed the encoder's 32 positions");
    int32_t types[2] = {0, 2};
    assert_int_equal(gh_model_encode(m, ids, types, 2, h), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "token type 2");
    ids[1] = 200;
    assert_int_equal(gh_model_encode(m, ids, NULL, 2, h), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "outside the vocabulary");
    float score;
    assert_int_equal(gh_model_classify(m, h, &score), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), "cls.output.weight");
    free(h);
    gh_model_free(m);
    /* decoders refuse gh_model_encode */
    assert_ok(gh_model_load(tu_stories_gguf(), NULL, &m));
    float x[512];
    int32_t one = 1;
    assert_int_equal(gh_model_encode(m, &one, NULL, 1, x), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), "decoder");
    assert_false(gh_model_get_info(m)->encoder);
    assert_true(gh_model_get_info(m)->lm_head);
    assert_int_equal(gh_model_get_info(m)->pooling, GH_POOLING_UNSPECIFIED);
    gh_model_free(m);
}

static void test_make_model_refuses_bad_shapes(void **state) {
    (void)state;
    gh_make_model_params p = gh_make_model_default_params();
    p.arch = "bert";
    p.n_vocab = 50; /* below the generated vocabulary */
    assert_int_equal(gh_make_model(&p, tu_tmp("bad.gguf")), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "vocab 50");
    p.n_vocab = 200;
    p.cls_head = true;
    assert_int_equal(gh_make_model(&p, tu_tmp("bad.gguf")), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "reward heads go on decoders");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_matches_numpy),
        cmocka_unit_test(test_threads_and_repeat_identical),
        cmocka_unit_test(test_info_and_refusals),
        cmocka_unit_test(test_make_model_refuses_bad_shapes),
    };
    return cmocka_run_group_tests_name("bert", tests, NULL, NULL);
}
