/* Tests of `goodhart acts` through the binary ($GH_BIN, default build/goodhart)
 * on stories260K: shapes and sidecar content; each row equals what
 * gh_backend_hidden gives for the same text and span (read back with
 * gh_npy_read_f32); every pooling; labels and row indices; bad input fails
 * naming the file, line and field and leaves no output behind. */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "goodhart/backend.h"
#include "goodhart/model.h"
#include "goodhart/npy.h"
#include "goodhart/tokenizer.h"

static const char *write_tmp(const char *name, const char *text) {
    const char *p = tu_tmp(name);
    assert_int_equal(tu_write_file(p, text, strlen(text)), 0);
    return p;
}

static const char *TEXTS[3] = {"Once upon a time there was a cat.", "Lily went to the park.", "Tom"};

static const char *text_data(void) {
    return write_tmp("texts.jsonl", "{\"text\": \"Once upon a time there was a cat.\", \"id\": \"a\", \"label\": 1}\n"
                                    "\n"
                                    "{\"text\": \"Lily went to the park.\", \"label\": 0}\n"
                                    "{\"text\": \"Tom\", \"id\": 7, \"label\": true}\n");
}

static gh_backend *open_model(void) {
    gh_backend *b;
    gh_backend_params bp = gh_backend_default_params();
    bp.n_threads = 1;
    assert_ok(gh_backend_open(tu_stories_gguf(), &bp, &b));
    return b;
}

static cJSON *read_json(const char *path) {
    char *s = tu_read_file(path, NULL);
    assert_non_null(s);
    cJSON *j = cJSON_Parse(s);
    free(s);
    assert_non_null(j);
    return j;
}

static void test_mean_two_layers(void **state) {
    (void)state;
    const char *data = text_data();
    char out[4096];
    snprintf(out, sizeof out, "%s", tu_tmp("m"));
    int st;
    char *o = tu_cli(&st, "acts -m %s --data %s --layer 0,last --pool mean -o %s -t 1", tu_stories_gguf(), data, out);
    assert_int_equal(st, 0);
    assert_contains(o, "3 records, 3 rows of 64 features, 2 layers, labels");
    free(o);
    gh_backend *b = open_model();
    const int32_t layers[2] = {0, 5};
    for (int k = 0; k < 2; k++) {
        float *x;
        int64_t r, c;
        assert_ok(gh_npy_read_f32(tu_tmp(k ? "m_L5.npy" : "m_L0.npy"), &x, &r, &c));
        assert_int_equal(r, 3);
        assert_int_equal(c, 64);
        for (int i = 0; i < 3; i++) {
            gh_hidden *h;
            assert_ok(gh_backend_hidden(b, TEXTS[i], &layers[k], 1, GH_POOL_MEAN, 1, 0, &h));
            assert_memory_equal(x + i * 64, h->data, 64 * sizeof(float));
            gh_hidden_free(h);
        }
        free(x);
    }
    gh_backend_free(b);
    uint8_t *y;
    int64_t n;
    assert_ok(gh_npy_read_labels(tu_tmp("m.labels.npy"), &y, &n));
    assert_int_equal(n, 3);
    assert_true(y[0] == 1 && y[1] == 0 && y[2] == 1);
    free(y);
    /* the sidecar */
    cJSON *j = read_json(tu_tmp("m.json"));
    assert_string_equal(cJSON_GetObjectItem(j, "pool")->valuestring, "mean");
    assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, tu_stories_gguf());
    assert_int_equal(strlen(cJSON_GetObjectItem(j, "model_sha256")->valuestring), 64);
    assert_string_equal(cJSON_GetObjectItem(j, "text_field")->valuestring, "text");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "files"), 1)->valuestring, "m_L5.npy");
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "layers"), 1)->valueint, 5);
    assert_int_equal(cJSON_GetObjectItem(j, "n_records")->valueint, 3);
    assert_string_equal(cJSON_GetObjectItem(j, "labels_file")->valuestring, "m.labels.npy");
    cJSON *recs = cJSON_GetObjectItem(j, "records");
    assert_int_equal(cJSON_GetArraySize(recs), 3);
    cJSON *r0 = cJSON_GetArrayItem(recs, 0), *r1 = cJSON_GetArrayItem(recs, 1), *r2 = cJSON_GetArrayItem(recs, 2);
    assert_string_equal(cJSON_GetObjectItem(r0, "id")->valuestring, "a");
    assert_int_equal(cJSON_GetObjectItem(r1, "id")->valueint, 3); /* no id: the line number (a blank line before) */
    assert_int_equal(cJSON_GetObjectItem(r2, "id")->valueint, 7);
    assert_int_equal(cJSON_GetObjectItem(r2, "label")->valueint, 1);
    int nt = cJSON_GetObjectItem(r0, "n_tokens")->valueint;
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(r0, "span"), 0)->valueint, 1);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(r0, "span"), 1)->valueint, nt);
    cJSON_Delete(j);
    /* Python opens them directly */
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as np,json; d='%s/'; s=json.load(open(d+'m.json'))\n"
             "a=np.load(d+s['files'][0]); assert a.shape==(3,64) and a.dtype==np.float32\n"
             "assert np.load(d+s['labels_file']).tolist()==[1,0,1]; print('OK')\"", tu_tmpdir());
    o = tu_run(cmd, &st);
    assert_int_equal(st, 0);
    assert_contains(o, "OK");
    free(o);
}

static void test_pool_all_and_last(void **state) {
    (void)state;
    const char *data = text_data();
    int st;
    /* a trailing .npy on the prefix is dropped */
    char *o = tu_cli(&st, "acts -m %s --data %s --layer 2 --pool all -o %s", tu_stories_gguf(), data, tu_tmp("all.npy"));
    assert_int_equal(st, 0);
    free(o);
    o = tu_cli(&st, "acts -m %s --data %s --layer 2 --pool last -o %s", tu_stories_gguf(), data, tu_tmp("last"));
    assert_int_equal(st, 0);
    free(o);
    float *x, *xl;
    int64_t r, c, rl, cl;
    assert_ok(gh_npy_read_f32(tu_tmp("all.npy"), &x, &r, &c));
    assert_ok(gh_npy_read_f32(tu_tmp("last.npy"), &xl, &rl, &cl));
    assert_int_equal(rl, 3);
    cJSON *j = read_json(tu_tmp("all.json"));
    assert_string_equal(cJSON_GetObjectItem(j, "rows_file")->valuestring, "all.rows.npy");
    assert_int_equal(cJSON_GetObjectItem(j, "n_rows")->valueint, r);
    /* rows file: int64 record index per row, read with NumPy */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"import numpy as np; a=np.load('%s'); "
             "assert a.dtype==np.int64; print(' '.join(map(str,a.tolist())))\"", tu_tmp("all.rows.npy"));
    char *rows = tu_run(cmd, &st);
    assert_int_equal(st, 0);
    gh_backend *b = open_model();
    const int32_t layer = 2;
    int64_t at = 0;
    char *q = rows;
    for (int i = 0; i < 3; i++) {
        gh_hidden *h;
        assert_ok(gh_backend_hidden(b, TEXTS[i], &layer, 1, GH_POOL_ALL, 0, 0, &h));
        /* every token after BOS, one row each, in order */
        for (int t = 1; t < h->n_tokens; t++, at++) {
            assert_true(at < r);
            assert_memory_equal(x + at * 64, h->data + (size_t)t * 64, 64 * sizeof(float));
            assert_int_equal(strtol(q, &q, 10), i);
        }
        /* last = the last token */
        assert_memory_equal(xl + i * 64, h->data + (size_t)(h->n_tokens - 1) * 64, 64 * sizeof(float));
        cJSON *rec = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "records"), i);
        assert_int_equal(cJSON_GetObjectItem(rec, "n_rows")->valueint, h->n_tokens - 1);
        gh_hidden_free(h);
    }
    assert_int_equal(at, r);
    gh_backend_free(b);
    cJSON_Delete(j);
    free(rows);
    free(x);
    free(xl);
}

static void test_prompt_response(void **state) {
    (void)state;
    const char *data = write_tmp("pr.jsonl", "{\"prompt\": \"Once upon a time\", \"response\": \" there was a dog.\"}\n"
                                             "{\"prompt\": \"Lily\", \"response\": \" ran home\", \"id\": \"x\"}\n");
    const char *P[2] = {"Once upon a time", "Lily"}, *R[2] = {" there was a dog.", " ran home"};
    const char *pools[3] = {"mean", "last", "answer-token"};
    gh_backend *b = open_model();
    const gh_tokenizer *tok = gh_model_tokenizer(gh_backend_model(b));
    const int32_t layer = 3;
    for (int pi = 0; pi < 3; pi++) {
        int st;
        char *o = tu_cli(&st, "acts -m %s --data %s --layer 3 --pool %s -o %s", tu_stories_gguf(), data, pools[pi],
                      tu_tmp("pr"));
        assert_int_equal(st, 0);
        free(o);
        float *x;
        int64_t r, c;
        assert_ok(gh_npy_read_f32(tu_tmp("pr.npy"), &x, &r, &c));
        assert_int_equal(r, 2);
        cJSON *j = read_json(tu_tmp("pr.json"));
        assert_string_equal(cJSON_GetObjectItem(j, "text_field")->valuestring, "prompt+response");
        for (int i = 0; i < 2; i++) {
            int32_t *ids;
            size_t np;
            assert_ok(gh_tokenize(tok, P[i], strlen(P[i]), false, false, &ids, &np));
            free(ids);
            int32_t resp = (int32_t)np + 1; /* stories260K adds BOS */
            char full[256];
            snprintf(full, sizeof full, "%s%s", P[i], R[i]);
            gh_hidden *all, *mean;
            assert_ok(gh_backend_hidden(b, full, &layer, 1, GH_POOL_ALL, 0, 0, &all));
            assert_ok(gh_backend_hidden(b, full, &layer, 1, GH_POOL_MEAN, resp, 0, &mean));
            const float *want = pi == 0 ? mean->data
                              : pi == 1 ? all->data + (size_t)(resp - 1) * 64       /* the prompt's last token */
                                        : all->data + (size_t)(all->n_tokens - 1) * 64; /* the response's last */
            assert_memory_equal(x + i * 64, want, 64 * sizeof(float));
            cJSON *span = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "records"), i), "span");
            int b0 = cJSON_GetArrayItem(span, 0)->valueint, e0 = cJSON_GetArrayItem(span, 1)->valueint;
            if (pi == 0) { assert_int_equal(b0, resp); assert_int_equal(e0, all->n_tokens); }
            if (pi == 1) { assert_int_equal(b0, resp - 1); assert_int_equal(e0, resp); }
            if (pi == 2) { assert_int_equal(b0, all->n_tokens - 1); assert_int_equal(e0, all->n_tokens); }
            gh_hidden_free(all);
            gh_hidden_free(mean);
        }
        assert_null(cJSON_GetObjectItem(j, "labels_file")->valuestring);
        assert_int_equal(access(tu_tmp("pr.labels.npy"), F_OK), -1);
        cJSON_Delete(j);
        free(x);
    }
    gh_backend_free(b);
}

static void expect_error(const char *data_text, const char *args, const char *needle) {
    const char *data = write_tmp("bad.jsonl", data_text);
    int st;
    char *o = tu_cli(&st, "acts -m %s --data %s %s -o %s", tu_stories_gguf(), data, args, tu_tmp("bad"));
    if (st == 0 || !strstr(o, needle)) fprintf(stderr, "args %s: exit %d\n", args, st);
    assert_int_not_equal(st, 0);
    assert_contains(o, needle);
    free(o);
    assert_int_equal(access(tu_tmp("bad.npy"), F_OK), -1);
    assert_int_equal(access(tu_tmp("bad.json"), F_OK), -1);
}

static void test_bad_input(void **state) {
    (void)state;
    const char *ok = "{\"text\": \"Tom\"}\n";
    expect_error("{\"text\": \"Tom\"}\nnot json\n", "--layer 1", "bad.jsonl:2: not a JSON object");
    expect_error("{\"text\": 5}\n", "--layer 1", "bad.jsonl:1: field \"text\" is not a string");
    expect_error("{\"text\": \"\"}\n", "--layer 1", "bad.jsonl:1: field \"text\" is empty");
    expect_error("{\"txt\": \"a\"}\n", "--layer 1", "bad.jsonl:1: field \"text\" (or \"prompt\" and \"response\") is missing");
    expect_error("{\"prompt\": \"a\"}\n", "--layer 1", "bad.jsonl:1: field \"response\" is missing");
    expect_error("{\"prompt\": \"a\", \"response\": \"\"}\n", "--layer 1", "bad.jsonl:1: field \"response\" is empty");
    expect_error("{\"text\": \"a\"}\n{\"prompt\": \"a\", \"response\": \"b\"}\n", "--layer 1",
                 "bad.jsonl:2: record has \"prompt\"/\"response\" but earlier records have text");
    expect_error("{\"text\": \"a\", \"label\": 2}\n", "--layer 1", "bad.jsonl:1: field \"label\" must be 0 or 1");
    expect_error("{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\"}\n", "--layer 1", "bad.jsonl:2: field \"label\" is missing");
    expect_error("{\"text\": \"a\", \"id\": [1]}\n", "--layer 1", "bad.jsonl:1: field \"id\" is not a string or number");
    expect_error(ok, "--layer 1 --pool answer-token", "bad.jsonl:1: --pool answer-token needs");
    expect_error("\n\n", "--layer 1", "bad.jsonl: no records");
    expect_error(ok, "--layer 6", "--layer needs layer numbers in [0, 5]");
    expect_error(ok, "--layer 1,1", "layer 1 is listed twice");
    expect_error(ok, "--layer 1 --pool max", "--pool must be");
    expect_error(ok, "--layer x", "--layer needs");
    /* a text longer than the model's context (512 tokens) fails naming its line */
    size_t n = 20000;
    char *big = malloc(n + 64);
    strcpy(big, "{\"text\": \"a\"}\n{\"text\": \"");
    size_t k = strlen(big);
    for (size_t i = 0; i < 4000; i++) { memcpy(big + k, "cat ", 4); k += 4; }
    strcpy(big + k, "\"}\n");
    expect_error(big, "--layer 1", "bad.jsonl:2: the text has");
    free(big);
    /* missing data file */
    int st;
    char *o = tu_cli(&st, "acts -m %s --data %s --layer 1 -o %s", tu_stories_gguf(), tu_tmp("none.jsonl"), tu_tmp("bad"));
    assert_int_not_equal(st, 0);
    assert_contains(o, "none.jsonl: cannot open");
    free(o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mean_two_layers),
        cmocka_unit_test(test_pool_all_and_last),
        cmocka_unit_test(test_prompt_response),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests_name("acts/acts", tests, NULL, NULL);
}
