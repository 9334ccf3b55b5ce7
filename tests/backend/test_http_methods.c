/* test_http_methods.c — methods that once needed a local model, run through
 * the HTTP backend against goodhart's own server on loopback (stories260K):
 * the backend's sizes and tokenizer, reward-head features, probe penalties and
 * the Best-of-N sampling pool equal the local backend's (within 1e-5), and a backend that
 * cannot give what a method needs is refused with a message saying what. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "testutil.h"

#include "base/file.h"
#include "goodhart/backend.h"
#include "goodhart/bon.h"
#include "goodhart/probe.h"
#include "goodhart/reward.h"
#include "goodhart/serve.h"
#include "goodhart/store.h"
#include "goodhart/tokenizer.h"

#include "test_loopback.h"

static void test_dims_and_tokenize(void **st) {
    (void)st;
    gh_backend_dims l = gh_backend_get_dims(local), r = gh_backend_get_dims(remote);
    const gh_model_info *I = gh_model_get_info(gh_backend_model(local));
    assert_int_equal(l.n_vocab, I->n_vocab);
    assert_int_equal(l.n_embd, I->n_embd);
    assert_int_equal(l.n_layer, I->n_layer);
    assert_true(l.n_ctx > 0);
    assert_int_equal(r.n_vocab, l.n_vocab);
    assert_int_equal(r.n_embd, l.n_embd);
    assert_int_equal(r.n_layer, l.n_layer);
    assert_true(r.n_ctx > 0);

    static const char *texts[] = {"Once upon a time", "", "<s> is text here", " a  b"};
    for (int k = 0; k < 4; k++)
        for (int bos = 0; bos < 2; bos++) {
            int32_t *a = NULL, *b = NULL, na = 0, nb = 0;
            assert_ok(gh_backend_tokenize(local, texts[k], bos, &a, &na));
            assert_ok(gh_backend_tokenize(remote, texts[k], bos, &b, &nb));
            assert_int_equal(na, nb);
            for (int32_t i = 0; i < na; i++) assert_int_equal(a[i], b[i]);
            /* stories260K adds BOS: with it, one token more than without */
            if (bos) assert_int_equal(a[0], gh_tokenizer_bos(gh_model_tokenizer(gh_backend_model(local))));
            free(a);
            free(b);
        }
    int32_t *x = NULL, n0 = 0, n1 = 0;
    assert_ok(gh_backend_tokenize(local, "Once upon", false, &x, &n0));
    free(x);
    assert_ok(gh_backend_tokenize(local, "Once upon", true, &x, &n1));
    free(x);
    assert_int_equal(n1, n0 + 1);
}

static void test_head_features_equal_local(void **st) {
    (void)st;
    const int32_t E = gh_backend_get_dims(local).n_embd;
    float *a = malloc((size_t)E * sizeof *a), *b = malloc((size_t)E * sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    static const char *resp[] = {" there was a cat.", ""};
    const int32_t layers[] = {-1, 1};
    for (int li = 0; li < 2; li++)
        for (int span = 0; span < 2; span++)
            for (int pool = 0; pool < 2; pool++)
                for (int ri = 0; ri < 2; ri++) {
                    gh_head_spec hs = {.layer = layers[li], .pool = pool ? GH_POOL_LAST : GH_POOL_MEAN, .span_response = span};
                    assert_ok(gh_head_features(local, &hs, "Once upon a time", resp[ri], a));
                    assert_ok(gh_head_features(remote, &hs, "Once upon a time", resp[ri], b));
                    double norm = 0;
                    for (int32_t i = 0; i < E; i++) {
                        assert_true(fabsf(a[i] - b[i]) < 1e-5f * (1 + fabsf(a[i])));
                        norm += fabs(a[i]);
                    }
                    assert_true(norm > 0);
                }
    /* the span matters: the response's mean differs from the whole text's */
    gh_head_spec hr = {.layer = -1, .pool = GH_POOL_MEAN, .span_response = true}, ht = hr;
    ht.span_response = false;
    assert_ok(gh_head_features(remote, &hr, "Once upon a time", " there was a cat.", a));
    assert_ok(gh_head_features(remote, &ht, "Once upon a time", " there was a cat.", b));
    double d = 0;
    for (int32_t i = 0; i < E; i++) d += fabs(a[i] - b[i]);
    assert_true(d > 1e-3);
    /* a layer beyond the model is refused, as locally */
    gh_head_spec bad = {.layer = gh_backend_get_dims(remote).n_layer + 1, .pool = GH_POOL_MEAN, .span_response = true};
    assert_int_equal(gh_head_features(remote, &bad, "a", "b", a), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "layers");
    free(a);
    free(b);
}

/* The pool.jsonl lines of a run, parsed. */
static cJSON *read_pool(const char *dir) {
    char path[4096], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/pool.jsonl", dir);
    assert_ok(gh_read_file(path, 1 << 24, &text, &len));
    cJSON *arr = cJSON_CreateArray();
    for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (!*line) continue;
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        cJSON_AddItemToArray(arr, o);
    }
    free(text);
    return arr;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void test_bon_sample_equals_local(void **st) {
    (void)st;
    const gh_bon_prompt prompts[] = {{.id = "a", .prompt = "Once upon a time"}, {.id = "b", .prompt = "The dog"}};
    gh_bon_sample_params p = gh_bon_sample_default_params();
    p.n = 4;
    p.sampler.seed = 7;
    p.sampler.max_tokens = 12;
    gh_reward *pl = NULL, *pr = NULL;
    assert_ok(gh_reward_parse("length", "proxy", local, &pl));
    assert_ok(gh_reward_parse("length", "proxy", remote, &pr));
    char dl[4096], dr[4096];
    snprintf(dl, sizeof dl, "%s", tu_tmp("bon_local"));
    snprintf(dr, sizeof dr, "%s", tu_tmp("bon_remote"));
    int64_t resumed = -1;
    assert_ok(gh_bon_sample(local, prompts, 2, pl, NULL, dl, &p, &resumed));
    assert_int_equal(resumed, 0);
    assert_ok(gh_bon_sample(remote, prompts, 2, pr, NULL, dr, &p, &resumed));
    assert_int_equal(resumed, 0);

    cJSON *L = read_pool(dl), *R = read_pool(dr);
    assert_int_equal(cJSON_GetArraySize(L), 2);
    assert_int_equal(cJSON_GetArraySize(R), 2);
    const int32_t E = gh_backend_get_dims(local).n_embd;
    int nonempty = 0;
    for (int k = 0; k < 2; k++) {
        const cJSON *a = cJSON_GetArrayItem(L, k), *b = cJSON_GetArrayItem(R, k);
        assert_string_equal(cJSON_GetObjectItem(a, "id")->valuestring, cJSON_GetObjectItem(b, "id")->valuestring);
        const cJSON *ca = cJSON_GetObjectItem(a, "candidates"), *cb = cJSON_GetObjectItem(b, "candidates");
        assert_int_equal(cJSON_GetArraySize(ca), 4);
        assert_int_equal(cJSON_GetArraySize(cb), 4);
        for (int i = 0; i < 4; i++) {
            const cJSON *x = cJSON_GetArrayItem(ca, i), *y = cJSON_GetArrayItem(cb, i);
            const char *tx = cJSON_GetObjectItem(x, "text")->valuestring, *ty = cJSON_GetObjectItem(y, "text")->valuestring;
            assert_string_equal(tx, ty);
            nonempty += *tx != 0;
            double lx = num(x, "logprob_ref"), ly = num(y, "logprob_ref");
            assert_true(fabs(lx - ly) < 1e-5 * (1 + fabs(lx)));
            assert_int_equal((int)num(x, "n_tokens"), (int)num(y, "n_tokens"));
            assert_true(num(cJSON_GetObjectItem(x, "scores"), "proxy") == num(cJSON_GetObjectItem(y, "scores"), "proxy"));
            const cJSON *ex = cJSON_GetObjectItem(x, "embedding"), *ey = cJSON_GetObjectItem(y, "embedding");
            assert_int_equal(cJSON_GetArraySize(ex), E);
            assert_int_equal(cJSON_GetArraySize(ey), E);
            for (int32_t j = 0; j < E; j++) {
                double u = cJSON_GetArrayItem(ex, j)->valuedouble, v = cJSON_GetArrayItem(ey, j)->valuedouble;
                assert_true(fabs(u - v) < 1e-5 * (1 + fabs(u)));
            }
        }
    }
    assert_true(nonempty > 0);
    cJSON_Delete(L);
    cJSON_Delete(R);

    /* both runs are keyed by the model file's hash: the local file's and
     * what the server reports for it, the same */
    for (int k = 0; k < 2; k++) {
        char db[4200], *set = NULL, want[128];
        snprintf(db, sizeof db, "%s/run.sqlite", k ? dr : dl);
        gh_store *sto = NULL;
        assert_ok(gh_store_open(db, &sto));
        assert_ok(gh_store_meta_get(sto, "bon.settings", &set));
        assert_non_null(set);
        snprintf(want, sizeof want, " sha256=%s ", gh_model_sha256(gh_backend_model(local)));
        assert_non_null(strstr(set, want));
        free(set);
        gh_store_close(sto);
    }

    /* the remote run resumes under its own settings */
    assert_ok(gh_bon_sample(remote, prompts, 2, pr, NULL, dr, &p, &resumed));
    assert_int_equal(resumed, 2);
    gh_reward_free(pl);
    gh_reward_free(pr);
}

/* A probe file on stories260K: width `d`, layer `layer`, weights a fixed pattern. */
static void write_probe(const char *path, int32_t d, int32_t layer, const char *sha) {
    gh_probe *pr = NULL;
    assert_ok(gh_probe_init(&pr, GH_PROBE_LOGREG, d));
    for (int32_t i = 0; i < d; i++) pr->w[i] = (float)((i * 7 % 11) - 5) / 10.0f;
    pr->b = 0.25;
    pr->layer = layer;
    snprintf(pr->pool, sizeof pr->pool, "mean");
    snprintf(pr->model_sha256, sizeof pr->model_sha256, "%s", sha);
    assert_ok(gh_probe_save(pr, path));
    gh_probe_free(pr);
}

static void test_probe_penalty_equals_local(void **st) {
    (void)st;
    const gh_backend_dims D = gh_backend_get_dims(local);
    const char *sha = gh_model_sha256(gh_backend_model(local));
    const char *path = tu_tmp("probe.gguf");
    write_probe(path, D.n_embd, D.n_layer, sha);
    char spec[4200];
    snprintf(spec, sizeof spec, "probe:%s", path);
    gh_reward *rl = NULL, *rr = NULL;
    assert_ok(gh_reward_parse(spec, "S", local, &rl));
    assert_ok(gh_reward_parse(spec, "S", remote, &rr));
    static const char *resp[] = {" there was a dog.", " a cat sat", ""};
    for (int i = 0; i < 3; i++) {
        gh_reward_input in = {.prompt = "Once upon a time", .response = resp[i], .n_tokens = -1};
        double a = 0, b = 0;
        assert_ok(gh_reward_score(rl, &in, &a));
        assert_ok(gh_reward_score(rr, &in, &b));
        assert_true(a != 0.25); /* the features moved it off the bias */
        assert_true(fabs(a - b) < 1e-5 * (1 + fabs(a)));
    }
    gh_reward_free(rl);
    gh_reward_free(rr);

    /* the server reports its model file's hash in /v1/models */
    assert_non_null(gh_backend_model_sha256(remote));
    assert_string_equal(gh_backend_model_sha256(remote), sha);
    /* another model's probe: refused locally and over HTTP */
    const char *other = tu_tmp("probe-other.gguf");
    write_probe(other, D.n_embd, D.n_layer, "0000000000000000000000000000000000000000000000000000000000000000");
    snprintf(spec, sizeof spec, "probe:%s", other);
    assert_int_equal(gh_reward_parse(spec, "S", local, &rl), GH_ERR_MISMATCH);
    assert_contains(gh_last_error(), "SHA-256");
    assert_int_equal(gh_reward_parse(spec, "S", remote, &rr), GH_ERR_MISMATCH);
    assert_contains(gh_last_error(), "SHA-256 0000000000000000000000000000000000000000000000000000000000000000");
    assert_contains(gh_last_error(), sha);
    const char *wide = tu_tmp("probe-wide.gguf");
    write_probe(wide, D.n_embd + 1, D.n_layer, sha);
    snprintf(spec, sizeof spec, "probe:%s", wide);
    assert_int_equal(gh_reward_parse(spec, "S", remote, &rr), GH_ERR_MISMATCH);
    assert_contains(gh_last_error(), "n_embd");
    const char *deep = tu_tmp("probe-deep.gguf");
    write_probe(deep, D.n_embd, D.n_layer + 1, sha);
    snprintf(spec, sizeof spec, "probe:%s", deep);
    assert_int_equal(gh_reward_parse(spec, "S", remote, &rr), GH_ERR_MISMATCH);
    assert_contains(gh_last_error(), "layer");
}

static void test_refusals_name_what_is_missing(void **st) {
    (void)st;
    /* a replay script has no tokenizer, no sizes and no hidden states */
    const char *script = tu_tmp("replay.jsonl");
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fputs("{\"role\":\"assistant\",\"content\":\"hi\"}\n", f);
    fclose(f);
    char ref[4200];
    snprintf(ref, sizeof ref, "replay:%s", script);
    gh_backend *rp = NULL;
    assert_ok(gh_backend_open(ref, NULL, &rp));
    gh_backend_dims d = gh_backend_get_dims(rp);
    assert_int_equal(d.n_embd, 0);
    assert_int_equal(d.n_layer, 0);
    int32_t *ids = NULL, n = -1;
    assert_int_equal(gh_backend_tokenize(rp, "a", true, &ids, &n), GH_ERR_UNSUPPORTED);
    assert_null(ids);
    assert_int_equal(n, 0);
    assert_contains(gh_last_error(), "cannot tokenize");
    float x[64];
    gh_head_spec hs = gh_head_default_spec();
    assert_int_equal(gh_head_features(rp, &hs, "a", "b", x), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), "does not report its layer count");
    const gh_bon_prompt pr = {.id = "a", .prompt = "a"};
    gh_bon_sample_params p = gh_bon_sample_default_params();
    gh_reward *len = NULL;
    assert_ok(gh_reward_parse("length", "proxy", NULL, &len));
    assert_int_equal(gh_bon_sample(rp, &pr, 1, len, NULL, tu_tmp("bon_replay"), &p, NULL), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), "text generation");
    gh_reward *probe = NULL;
    assert_int_equal(gh_reward_parse("probe:nothing.gguf", "p", rp, &probe), GH_ERR_UNSUPPORTED);
    assert_null(probe);
    gh_reward_free(len);
    gh_backend_free(rp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dims_and_tokenize),
        cmocka_unit_test(test_head_features_equal_local),
        cmocka_unit_test(test_bon_sample_equals_local),
        cmocka_unit_test(test_probe_penalty_equals_local),
        cmocka_unit_test(test_refusals_name_what_is_missing),
    };
    return cmocka_run_group_tests_name("backend/http_methods", tests, setup, teardown);
}
