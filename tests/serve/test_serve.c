/* Tests of `goodhart serve` on loopback: the server runs in this process on an
 * ephemeral port (and once as the CLI binary, stopped with SIGTERM) and is
 * spoken to with libcurl. Every endpoint; greedy and seeded samples equal to
 * the local backend's (tokens, text, log-probabilities within 1e-5); echo
 * log-probabilities equal gh_backend_logprob's; concurrent requests each equal
 * to the local backend's; OpenAI-style error objects for bad input. */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "goodhart/backend.h"
#include "goodhart/convert.h"
#include "goodhart/serve.h"
#include "goodhart/tokenizer.h"

static gh_backend *g_b;      /* stories260K, shared by the server and the checks */
static gh_server *g_s;
static char g_base[64];

/* ---- HTTP ---- */

typedef struct buf { char *p; size_t n; } buf;

static size_t on_data(char *d, size_t sz, size_t nm, void *u) {
    buf *b = u;
    char *np = realloc(b->p, b->n + sz * nm + 1);
    if (!np) return 0;
    b->p = np;
    memcpy(b->p + b->n, d, sz * nm);
    b->n += sz * nm;
    b->p[b->n] = '\0';
    return sz * nm;
}

/* One request; returns the body (malloc'd) and the status. */
static char *http_at(const char *base, const char *method, const char *path, const char *body, const char *key, long *status) {
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    buf b = {calloc(1, 1), 0};
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[256];
    if (key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) fprintf(stderr, "curl %s: %s\n", url, curl_easy_strerror(rc));
    assert_int_equal(rc, CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return b.p;
}

static char *http(const char *method, const char *path, const char *body, long *status) {
    return http_at(g_base, method, path, body, NULL, status);
}

/* POSTs body to path, expects 200, returns the parsed JSON. */
static cJSON *post_ok(const char *path, const char *body) {
    long st;
    char *r = http("POST", path, body, &st);
    if (st != 200) fprintf(stderr, "POST %s %s -> %ld %s\n", path, body, st, r);
    assert_int_equal(st, 200);
    cJSON *j = cJSON_Parse(r);
    assert_non_null(j);
    free(r);
    return j;
}

/* Checks an OpenAI error object with the given status and code. */
static void assert_error(long st, const char *resp, long want_status, const char *want_code) {
    if (st != want_status) fprintf(stderr, "want %ld %s, got %ld %s\n", want_status, want_code, st, resp);
    assert_int_equal(st, want_status);
    cJSON *j = cJSON_Parse(resp), *e = cJSON_GetObjectItem(j, "error");
    assert_non_null(e);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(e, "message")));
    assert_true(strlen(cJSON_GetObjectItem(e, "message")->valuestring) > 5);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(e, "type")));
    assert_non_null(cJSON_GetObjectItem(e, "param"));
    const cJSON *code = cJSON_GetObjectItem(e, "code");
    assert_non_null(code);
    if (want_code) {
        if (!cJSON_IsString(code) || strcmp(code->valuestring, want_code)) fprintf(stderr, "want code %s: %s\n", want_code, resp);
        assert_string_equal(code->valuestring, want_code);
    }
    cJSON_Delete(j);
}

static void post_err_at(const char *base, const char *body, long want_status, const char *want_code) {
    long st;
    char *r = http_at(base, "POST", "/v1/completions", body, NULL, &st);
    assert_error(st, r, want_status, want_code);
    free(r);
}

static void post_err(const char *path, const char *body, long want_status, const char *want_code) {
    long st;
    char *r = http("POST", path, body, &st);
    assert_error(st, r, want_status, want_code);
    free(r);
}

static cJSON *choice(const cJSON *r, int i) { return cJSON_GetArrayItem(cJSON_GetObjectItem(r, "choices"), i); }

static void assert_ids(const cJSON *a, const int32_t *ids, int32_t n) {
    assert_int_equal(cJSON_GetArraySize(a), n);
    for (int32_t i = 0; i < n; i++) assert_int_equal(cJSON_GetArrayItem(a, i)->valueint, ids[i]);
}

/* ---- fixtures ---- */

static int setup(void **state) {
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    gh_backend_params bp = gh_backend_default_params();
    bp.n_threads = 2;
    assert_ok(gh_backend_open(tu_stories_gguf(), &bp, &g_b));
    gh_serve_params p = gh_serve_default_params();
    p.port = 0;
    p.n_slots = 8;
    assert_ok(gh_server_start(&p, &g_s));
    assert_ok(gh_server_attach(g_s, g_b));
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", gh_server_port(g_s));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    gh_server_stop(g_s);
    gh_backend_free(g_b);
    curl_global_cleanup();
    return 0;
}

/* A server started with p (port 0: any free one), with backend b attached
 * unless b is NULL (the server then answers 503 while "loading"); its base
 * URL goes to base. */
static gh_server *serve_at(const gh_serve_params *p, gh_backend *b, char *base, size_t n) {
    gh_server *s;
    assert_ok(gh_server_start(p, &s));
    if (b) assert_ok(gh_server_attach(s, b));
    snprintf(base, n, "http://127.0.0.1:%d", gh_server_port(s));
    return s;
}

/* ---- tests ---- */

/* /health is 503 until a model is attached; model endpoints too. */
static void test_health_loading(void **state) {
    (void)state;
    gh_serve_params p = gh_serve_default_params();
    p.port = 0;
    char base[64];
    gh_server *s = serve_at(&p, NULL, base, sizeof base);
    long st;
    char *r = http_at(base, "GET", "/health", NULL, NULL, &st);
    assert_error(st, r, 503, "model_loading");
    free(r);
    r = http_at(base, "POST", "/v1/completions", "{\"prompt\":\"a\"}", NULL, &st);
    assert_error(st, r, 503, "model_loading");
    free(r);
    assert_ok(gh_server_attach(s, g_b));
    r = http_at(base, "GET", "/health", NULL, NULL, &st);
    assert_int_equal(st, 200);
    assert_contains(r, "\"status\":\"ok\"");
    free(r);
    gh_server_stop(s);
}

static void test_models(void **state) {
    (void)state;
    long st;
    char *r = http("GET", "/v1/models", NULL, &st);
    assert_int_equal(st, 200);
    cJSON *j = cJSON_Parse(r), *m = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "data"), 0);
    assert_string_equal(cJSON_GetObjectItem(j, "object")->valuestring, "list");
    assert_string_equal(cJSON_GetObjectItem(m, "id")->valuestring, "stories260K");
    assert_string_equal(cJSON_GetObjectItem(m, "object")->valuestring, "model");
    assert_int_equal(cJSON_GetObjectItem(m, "max_model_len")->valueint, 512);
    const cJSON *meta = cJSON_GetObjectItem(m, "meta");
    assert_int_equal(cJSON_GetObjectItem(meta, "n_vocab")->valueint, 512);
    assert_int_equal(cJSON_GetObjectItem(meta, "n_ctx_train")->valueint, 512);
    assert_int_equal(cJSON_GetObjectItem(meta, "n_embd")->valueint, 64);
    assert_int_equal(cJSON_GetObjectItem(meta, "n_layer")->valueint, 5);
    cJSON_Delete(j);
    free(r);
}

static void test_tokenize(void **state) {
    (void)state;
    const gh_tokenizer *tok = gh_model_tokenizer(gh_backend_model(g_b));
    int32_t *ids;
    size_t n;
    assert_ok(gh_tokenize(tok, "Once upon a time", 16, false, false, &ids, &n));
    cJSON *r = post_ok("/tokenize", "{\"prompt\":\"Once upon a time\",\"return_token_strs\":true}");
    const cJSON *t = cJSON_GetObjectItem(r, "tokens");
    assert_int_equal(cJSON_GetObjectItem(r, "count")->valueint, (int)n + 1);
    assert_int_equal(cJSON_GetArrayItem(t, 0)->valueint, gh_tokenizer_bos(tok));
    for (size_t i = 0; i < n; i++) assert_int_equal(cJSON_GetArrayItem(t, (int)i + 1)->valueint, ids[i]);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "token_strs")), (int)n + 1);
    cJSON_Delete(r);
    r = post_ok("/tokenize", "{\"prompt\":\"Once upon a time\",\"add_special_tokens\":false}");
    assert_ids(cJSON_GetObjectItem(r, "tokens"), ids, (int32_t)n);
    cJSON_Delete(r);
    /* detokenize gives the text back */
    char body[512];
    int k = snprintf(body, sizeof body, "{\"tokens\":[1");
    for (size_t i = 0; i < n; i++) k += snprintf(body + k, sizeof body - k, ",%d", ids[i]);
    snprintf(body + k, sizeof body - k, "]}");
    r = post_ok("/detokenize", body);
    assert_string_equal(cJSON_GetObjectItem(r, "prompt")->valuestring, "Once upon a time");
    cJSON_Delete(r);
    free(ids);
    post_err("/detokenize", "{\"tokens\":[1,512]}", 400, "invalid_value");
    post_err("/tokenize", "{\"prompt\":7}", 400, "invalid_type");
}

/* Per-token log-probabilities of a choice equal teacher-forced scoring of the
 * same tokens, and its tokens and text equal a local sample's. */
static void check_choice(const cJSON *c, const gh_samples *loc, int i, bool check_lp) {
    const gh_sample *smp = &loc->samples[i];
    assert_string_equal(cJSON_GetObjectItem(c, "text")->valuestring, smp->text);
    assert_ids(cJSON_GetObjectItem(c, "token_ids"), smp->tokens, smp->n_tokens);
    assert_string_equal(cJSON_GetObjectItem(c, "finish_reason")->valuestring, smp->finish);
    if (!check_lp) return;
    gh_logprobs *lp;
    assert_ok(gh_backend_logprob_tokens(g_b, loc->prompt_tokens, loc->n_prompt_tokens, smp->tokens, smp->n_tokens, 0, &lp));
    const cJSON *l = cJSON_GetObjectItem(c, "logprobs"), *tl = cJSON_GetObjectItem(l, "token_logprobs");
    assert_int_equal(cJSON_GetArraySize(tl), smp->n_tokens);
    double sum = 0;
    for (int32_t j = 0; j < smp->n_tokens; j++) {
        double v = cJSON_GetArrayItem(tl, j)->valuedouble;
        assert_true(fabs(v - lp->token_logprobs[j]) < 1e-5);
        sum += v;
    }
    assert_true(fabs(sum - smp->logprob) < 1e-4);
    gh_logprobs_free(lp);
}

static void test_greedy_equals_local(void **state) {
    (void)state;
    gh_sampler_params sp = gh_sampler_default_params();
    sp.temp = 0;
    sp.max_tokens = 30;
    gh_samples *loc;
    assert_ok(gh_backend_generate(g_b, "Once upon a time", &sp, 1, &loc));
    cJSON *r = post_ok("/v1/completions", "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"max_tokens\":30,"
                                          "\"temperature\":0,\"logprobs\":2,\"return_token_ids\":true}");
    assert_string_equal(cJSON_GetObjectItem(r, "object")->valuestring, "text_completion");
    check_choice(choice(r, 0), loc, 0, true);
    const cJSON *u = cJSON_GetObjectItem(r, "usage");
    assert_int_equal(cJSON_GetObjectItem(u, "prompt_tokens")->valueint, loc->n_prompt_tokens);
    assert_int_equal(cJSON_GetObjectItem(u, "completion_tokens")->valueint, loc->samples[0].n_tokens);
    /* greedy: the top log-probability of each position is the token's own */
    const cJSON *l = cJSON_GetObjectItem(choice(r, 0), "logprobs");
    const cJSON *top0 = cJSON_GetArrayItem(cJSON_GetObjectItem(l, "top_logprobs"), 0);
    assert_int_equal(cJSON_GetArraySize(top0), 2);
    assert_true(fabs(top0->child->valuedouble - cJSON_GetArrayItem(cJSON_GetObjectItem(l, "token_logprobs"), 0)->valuedouble) < 1e-6);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(l, "text_offset")), loc->samples[0].n_tokens);
    cJSON_Delete(r);
    gh_samples_free(loc);
}

static void test_seeded_equals_local(void **state) {
    (void)state;
    gh_sampler_params sp = gh_sampler_default_params();
    sp.temp = 0.9f;
    sp.top_k = 40;
    sp.top_p = 0.95f;
    sp.min_p = 0.01f;
    sp.seed = 42;
    sp.max_tokens = 40;
    gh_samples *loc;
    assert_ok(gh_backend_generate(g_b, "The cat", &sp, 5, &loc));
    cJSON *r = post_ok("/v1/completions", "{\"prompt\":\"The cat\",\"max_tokens\":40,\"n\":5,\"seed\":42,\"temperature\":0.9,"
                                          "\"top_k\":40,\"top_p\":0.95,\"min_p\":0.01,\"logprobs\":0,\"return_token_ids\":true}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "choices")), 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(cJSON_GetObjectItem(choice(r, i), "index")->valueint, i);
        check_choice(choice(r, i), loc, i, true);
    }
    cJSON_Delete(r);
    /* first_sample: samples 3 and 4 alone */
    r = post_ok("/v1/completions", "{\"prompt\":\"The cat\",\"max_tokens\":40,\"n\":2,\"seed\":42,\"temperature\":0.9,"
                                   "\"top_k\":40,\"top_p\":0.95,\"min_p\":0.01,\"first_sample\":3,\"return_token_ids\":true}");
    check_choice(choice(r, 0), loc, 3, false);
    check_choice(choice(r, 1), loc, 4, false);
    cJSON_Delete(r);
    gh_samples_free(loc);
    /* 64-bit seeds are read exactly (a double would round 2^64 - 1 and 2^53 + 1) */
    static const struct { const char *text; uint64_t v; } seeds[] = {
        {"18446744073709551615", UINT64_MAX}, {"9007199254740993", 9007199254740993ull}, {"1e3", 1000}};
    for (int k = 0; k < 3; k++) {
        gh_sampler_params q = gh_sampler_default_params();
        q.seed = seeds[k].v;
        q.max_tokens = 30;
        gh_samples *one;
        assert_ok(gh_backend_generate(g_b, "The cat", &q, 1, &one));
        char body[256];
        snprintf(body, sizeof body, "{\"prompt\":\"The cat\",\"max_tokens\":30,\"seed\":%s,\"return_token_ids\":true}", seeds[k].text);
        r = post_ok("/v1/completions", body);
        check_choice(choice(r, 0), one, 0, false);
        cJSON_Delete(r);
        gh_samples_free(one);
    }
    post_err("/v1/completions", "{\"prompt\":\"a\",\"seed\":18446744073709551616}", 400, "invalid_value");
    /* ignore_eos is generate --no-stop */
    sp.stop_at_eog = false;
    sp.max_tokens = 120;
    sp.seed = 5;
    assert_ok(gh_backend_generate(g_b, "Hi", &sp, 2, &loc));
    r = post_ok("/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":120,\"n\":2,\"seed\":5,\"temperature\":0.9,\"top_k\":40,"
                                   "\"top_p\":0.95,\"min_p\":0.01,\"ignore_eos\":true,\"return_token_ids\":true}");
    check_choice(choice(r, 0), loc, 0, false);
    check_choice(choice(r, 1), loc, 1, false);
    cJSON_Delete(r);
    gh_samples_free(loc);
}

/* Prompts as a list of strings, token ids, and lists of token ids; choices
 * come prompt by prompt. */
static void test_prompt_forms(void **state) {
    (void)state;
    gh_sampler_params sp = gh_sampler_default_params();
    sp.seed = 9;
    sp.max_tokens = 12;
    gh_samples *a, *b;
    assert_ok(gh_backend_generate(g_b, "Tom ran", &sp, 2, &a));
    assert_ok(gh_backend_generate(g_b, "Lily saw", &sp, 2, &b));
    cJSON *r = post_ok("/v1/completions", "{\"prompt\":[\"Tom ran\",\"Lily saw\"],\"max_tokens\":12,\"n\":2,\"seed\":9,\"return_token_ids\":true}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "choices")), 4);
    check_choice(choice(r, 0), a, 0, false);
    check_choice(choice(r, 1), a, 1, false);
    check_choice(choice(r, 2), b, 0, false);
    check_choice(choice(r, 3), b, 1, false);
    assert_int_equal(cJSON_GetObjectItem(choice(r, 3), "index")->valueint, 3);
    cJSON_Delete(r);
    /* the same prompts as token ids */
    char body[1024];
    int k = snprintf(body, sizeof body, "{\"prompt\":[[");
    for (int32_t i = 0; i < a->n_prompt_tokens; i++) k += snprintf(body + k, sizeof body - k, "%s%d", i ? "," : "", a->prompt_tokens[i]);
    k += snprintf(body + k, sizeof body - k, "],[");
    for (int32_t i = 0; i < b->n_prompt_tokens; i++) k += snprintf(body + k, sizeof body - k, "%s%d", i ? "," : "", b->prompt_tokens[i]);
    snprintf(body + k, sizeof body - k, "]],\"max_tokens\":12,\"n\":2,\"seed\":9,\"return_token_ids\":true}");
    r = post_ok("/v1/completions", body);
    check_choice(choice(r, 1), a, 1, false);
    check_choice(choice(r, 2), b, 0, false);
    assert_ids(cJSON_GetObjectItem(choice(r, 0), "prompt_token_ids"), a->prompt_tokens, a->n_prompt_tokens);
    cJSON_Delete(r);
    /* one prompt of token ids */
    k = snprintf(body, sizeof body, "{\"prompt\":[");
    for (int32_t i = 0; i < a->n_prompt_tokens; i++) k += snprintf(body + k, sizeof body - k, "%s%d", i ? "," : "", a->prompt_tokens[i]);
    snprintf(body + k, sizeof body - k, "],\"max_tokens\":12,\"seed\":9,\"return_token_ids\":true}");
    r = post_ok("/v1/completions", body);
    check_choice(choice(r, 0), a, 0, false);
    cJSON_Delete(r);
    gh_samples_free(a);
    gh_samples_free(b);
}

/* echo + logprobs: the prompt's tokens scored as gh_backend_logprob scores
 * them, the first null; max_tokens 0 scores without generating. */
static void test_echo_logprobs(void **state) {
    (void)state;
    const char *text = "Once upon a time there was a dog.";
    gh_logprobs *lp;
    assert_ok(gh_backend_logprob(g_b, "", text, 3, &lp));
    cJSON *r = post_ok("/v1/completions", "{\"prompt\":\"Once upon a time there was a dog.\",\"max_tokens\":0,\"echo\":true,\"logprobs\":3}");
    const cJSON *c = choice(r, 0), *l = cJSON_GetObjectItem(c, "logprobs");
    assert_string_equal(cJSON_GetObjectItem(c, "text")->valuestring, text);
    const cJSON *tl = cJSON_GetObjectItem(l, "token_logprobs"), *tops = cJSON_GetObjectItem(l, "top_logprobs");
    const cJSON *toks = cJSON_GetObjectItem(l, "tokens"), *offs = cJSON_GetObjectItem(l, "text_offset");
    assert_int_equal(cJSON_GetArraySize(tl), lp->n + 1);
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(tl, 0)));
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(tops, 0)));
    for (int32_t i = 0; i < lp->n; i++) {
        assert_true(fabs(cJSON_GetArrayItem(tl, i + 1)->valuedouble - lp->token_logprobs[i]) < 1e-5);
        assert_string_equal(cJSON_GetArrayItem(toks, i + 1)->valuestring, lp->token_text[i]);
        const cJSON *t = cJSON_GetArrayItem(tops, i + 1);
        assert_int_equal(cJSON_GetArraySize(t), 3);
        assert_true(fabs(t->child->valuedouble - lp->top_logprobs[(size_t)i * 3]) < 1e-5);
    }
    /* offsets: each piece sits at its offset in the text */
    for (int32_t i = 1; i <= lp->n; i++) {
        const char *pc = cJSON_GetArrayItem(toks, i)->valuestring;
        assert_memory_equal(text + cJSON_GetArrayItem(offs, i)->valueint, pc, strlen(pc));
    }
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "usage"), "completion_tokens")->valueint, 0);
    cJSON_Delete(r);
    gh_logprobs_free(lp);
    /* scoring alone takes no slot: more such requests than slots, then a sample */
    for (int i = 0; i < 10; i++) cJSON_Delete(post_ok("/v1/completions", "{\"prompt\":[\"a b\",\"c\"],\"max_tokens\":0,\"echo\":true,\"logprobs\":1}"));
    cJSON_Delete(post_ok("/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":2}"));
    /* echo with generation: prompt first, then the sample, offsets past the prompt */
    r = post_ok("/v1/completions", "{\"prompt\":\"Once upon\",\"max_tokens\":5,\"temperature\":0,\"echo\":true,\"logprobs\":1}");
    c = choice(r, 0);
    l = cJSON_GetObjectItem(c, "logprobs");
    const char *full = cJSON_GetObjectItem(c, "text")->valuestring;
    assert_memory_equal(full, "Once upon", 9);
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(l, "tokens"));
    assert_int_equal(n, 3 + 5);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(l, "text_offset"), 3)->valueint, 9);
    cJSON_Delete(r);
}

/* A stop string ends the text before it. */
static void test_stop(void **state) {
    (void)state;
    gh_sampler_params sp = gh_sampler_default_params();
    sp.temp = 0;
    sp.max_tokens = 40;
    gh_samples *loc;
    assert_ok(gh_backend_generate(g_b, "Once upon a time", &sp, 1, &loc));
    const char *t = loc->samples[0].text, *at = strstr(t, " named");
    assert_non_null(at);
    cJSON *r = post_ok("/v1/completions", "{\"prompt\":\"Once upon a time\",\"max_tokens\":40,\"temperature\":0,\"stop\":[\"zzz\",\" named\"]}");
    const cJSON *c = choice(r, 0);
    assert_int_equal(strlen(cJSON_GetObjectItem(c, "text")->valuestring), (size_t)(at - t));
    assert_memory_equal(cJSON_GetObjectItem(c, "text")->valuestring, t, (size_t)(at - t));
    assert_string_equal(cJSON_GetObjectItem(c, "finish_reason")->valuestring, "stop");
    cJSON_Delete(r);
    gh_samples_free(loc);
}

/* Chat: the model has no template (a clean 400); served with "plain" it
 * answers as gh_backend_chat does. */
static void test_chat(void **state) {
    (void)state;
    post_err("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", 400, "chat_template_error");
    post_err("/v1/chat/completions", "{\"messages\":[{\"role\":\"robot\",\"content\":\"Hi\"}]}", 400, "invalid_value");
    post_err("/v1/chat/completions", "{\"messages\":[]}", 400, "invalid_value");
    post_err("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\"}]}", 400, "invalid_type");
    gh_backend_params bp = gh_backend_default_params();
    bp.n_threads = 1;
    bp.chat_template = "plain";
    gh_backend *b;
    assert_ok(gh_backend_open(tu_stories_gguf(), &bp, &b));
    gh_serve_params p = gh_serve_default_params();
    p.port = 0;
    char base[64];
    gh_server *s = serve_at(&p, b, base, sizeof base);
    gh_chat_msg msgs[] = {{"system", "Be kind."}, {"user", "Tell me a story."}};
    gh_sampler_params sp = gh_sampler_default_params();
    sp.seed = 3;
    sp.max_tokens = 25;
    gh_samples *loc;
    assert_ok(gh_backend_chat(b, msgs, 2, &sp, 2, &loc));
    long st;
    char *resp = http_at(base, "POST", "/v1/chat/completions",
                         "{\"messages\":[{\"role\":\"system\",\"content\":\"Be kind.\"},{\"role\":\"user\",\"content\":"
                         "[{\"type\":\"text\",\"text\":\"Tell me \"},{\"type\":\"text\",\"text\":\"a story.\"}]}],"
                         "\"max_tokens\":25,\"n\":2,\"seed\":3,\"logprobs\":true,\"top_logprobs\":2,\"return_token_ids\":true}",
                         NULL, &st);
    if (st != 200) fprintf(stderr, "%s\n", resp);
    assert_int_equal(st, 200);
    cJSON *r = cJSON_Parse(resp);
    assert_string_equal(cJSON_GetObjectItem(r, "object")->valuestring, "chat.completion");
    for (int i = 0; i < 2; i++) {
        const cJSON *c = choice(r, i), *m = cJSON_GetObjectItem(c, "message");
        assert_string_equal(cJSON_GetObjectItem(m, "role")->valuestring, "assistant");
        assert_string_equal(cJSON_GetObjectItem(m, "content")->valuestring, loc->samples[i].text);
        assert_ids(cJSON_GetObjectItem(c, "token_ids"), loc->samples[i].tokens, loc->samples[i].n_tokens);
        const cJSON *content = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "logprobs"), "content");
        assert_int_equal(cJSON_GetArraySize(content), loc->samples[i].n_tokens);
        double sum = 0;
        for (const cJSON *e = content->child; e; e = e->next) {
            sum += cJSON_GetObjectItem(e, "logprob")->valuedouble;
            assert_true(cJSON_IsString(cJSON_GetObjectItem(e, "token")));
            assert_true(cJSON_IsArray(cJSON_GetObjectItem(e, "bytes")));
            assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(e, "top_logprobs")), 2);
        }
        assert_true(fabs(sum - loc->samples[i].logprob) < 1e-4);
    }
    cJSON_Delete(r);
    free(resp);
    /* /tokenize with messages renders the template */
    resp = http_at(base, "POST", "/tokenize", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", NULL, &st);
    assert_int_equal(st, 200);
    free(resp);
    gh_samples_free(loc);
    gh_server_stop(s);
    gh_backend_free(b);
}

/* Decodes base64 into floats (n of them). */
static void b64_floats(const char *s, float *out, int n) {
    static const char tb[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t L = strlen(s), nb = 0;
    unsigned char *bytes = malloc(L);
    for (size_t i = 0; i + 3 < L; i += 4) {
        uint32_t x = 0;
        int pad = 0;
        for (int m = 0; m < 4; m++) {
            pad += s[i + m] == '=';
            x = x << 6 | (uint32_t)(s[i + m] == '=' ? 0 : strchr(tb, s[i + m]) - tb);
        }
        for (int m = 0; m < 3 - pad; m++) bytes[nb++] = (unsigned char)(x >> (16 - 8 * m));
    }
    assert_int_equal(nb, (size_t)n * 4);
    memcpy(out, bytes, nb);
    free(bytes);
}

static void test_embeddings(void **state) {
    (void)state;
    gh_embedding *e0, *e1;
    assert_ok(gh_backend_embed(g_b, "Once upon a time", NULL, &e0));
    assert_ok(gh_backend_embed(g_b, "The dog ran.", NULL, &e1));
    cJSON *r = post_ok("/v1/embeddings", "{\"input\":[\"Once upon a time\",\"The dog ran.\"],\"model\":\"stories260K\"}");
    const cJSON *d = cJSON_GetObjectItem(r, "data");
    assert_int_equal(cJSON_GetArraySize(d), 2);
    const gh_embedding *es[2] = {e0, e1};
    for (int k = 0; k < 2; k++) {
        const cJSON *v = cJSON_GetObjectItem(cJSON_GetArrayItem(d, k), "embedding");
        assert_int_equal(cJSON_GetArraySize(v), es[k]->dim);
        double ss = 0;
        for (int i = 0; i < es[k]->dim; i++) {
            double x = cJSON_GetArrayItem(v, i)->valuedouble;
            assert_true((float)x == es[k]->data[i]);
            ss += x * x;
        }
        assert_true(fabs(ss - 1) < 1e-5);
    }
    cJSON_Delete(r);
    r = post_ok("/v1/embeddings", "{\"input\":\"Once upon a time\",\"encoding_format\":\"base64\"}");
    const char *s = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "data"), 0), "embedding")->valuestring;
    assert_int_equal(strlen(s), (size_t)(e0->dim * 4 + 2) / 3 * 4);
    float *f = malloc((size_t)e0->dim * sizeof *f);
    b64_floats(s, f, e0->dim);
    assert_memory_equal(f, e0->data, (size_t)e0->dim * sizeof *f);
    free(f);
    cJSON_Delete(r);
    gh_embedding_free(e0);
    gh_embedding_free(e1);
    post_err("/v1/embeddings", "{\"input\":[1,2,3]}", 400, "unsupported");
    post_err("/v1/embeddings", "{\"input\":\"x\",\"encoding_format\":\"hex\"}", 400, "invalid_value");
    post_err("/v1/embeddings", "{\"input\":\"x\",\"dimensions\":7}", 400, "unsupported");
}

static void test_hidden_states(void **state) {
    (void)state;
    int32_t layers[] = {0, 3, 5};
    gh_hidden *h;
    assert_ok(gh_backend_hidden(g_b, "The big dog", layers, 3, GH_POOL_ALL, 1, 0, &h));
    cJSON *r = post_ok("/v1/hidden_states", "{\"input\":\"The big dog\",\"layers\":[0,3,5],\"pooling\":\"all\",\"span_begin\":1}");
    const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "data"), 0), *hid = cJSON_GetObjectItem(d, "hidden");
    assert_int_equal(cJSON_GetObjectItem(d, "rows")->valueint, h->n_rows);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(d, "span"), 0)->valueint, 1);
    assert_ids(cJSON_GetObjectItem(d, "tokens"), h->tokens, h->n_tokens);
    assert_int_equal(cJSON_GetArraySize(hid), 3);
    for (int l = 0; l < 3; l++)
        for (int q = 0; q < h->n_rows; q++)
            for (int i = 0; i < h->n_embd; i++)
                assert_true((float)cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetArrayItem(hid, l), q), i)->valuedouble ==
                            h->data[((size_t)l * h->n_rows + q) * h->n_embd + i]);
    cJSON_Delete(r);
    gh_hidden_free(h);
    post_err("/v1/hidden_states", "{\"input\":\"x\",\"layers\":[6]}", 400, "invalid_value");
    post_err("/v1/hidden_states", "{\"input\":\"x\",\"pooling\":\"max\"}", 400, "invalid_value");
    post_err("/v1/hidden_states", "{\"input\":\"x\",\"span_begin\":50}", 400, "invalid_value");
}

/* Rewards: stories260K has no head (a clear 400); a model made with a reward
 * head gives the backend's score, pooled token and text. */
static void test_rewards(void **state) {
    (void)state;
    post_err("/v1/rewards", "{\"prompt\":\"a\",\"response\":\"b\"}", 400, "no_reward_head");
    post_err("/v1/rewards", "{\"prompt\":\"a\"}", 400, "missing_field");
    post_err("/v1/rewards", "{\"input\":[{\"prompt\":\"a\",\"reply\":\"b\"}]}", 400, "unknown_field");
    gh_make_model_params mp = gh_make_model_default_params();
    mp.n_embd = 32; mp.n_ff = 64; mp.n_head = 2; mp.n_head_kv = 1; mp.n_vocab = 300;
    mp.cls_head = true;
    const char *path = tu_tmp("rm.gguf");
    assert_ok(gh_make_model(&mp, path));
    gh_backend_params bp = gh_backend_default_params();
    bp.n_threads = 1;
    gh_backend *b;
    assert_ok(gh_backend_open(path, &bp, &b));
    gh_rm_score *sc;
    assert_ok(gh_backend_score(b, "How are you?", " Fine.", &sc));
    gh_serve_params p = gh_serve_default_params();
    p.port = 0;
    char base[64];
    gh_server *s = serve_at(&p, b, base, sizeof base);
    long st;
    char *resp = http_at(base, "POST", "/v1/rewards", "{\"input\":[{\"prompt\":\"How are you?\",\"response\":\" Fine.\"},"
                                                      "{\"prompt\":\"x\",\"response\":\"y\"}]}", NULL, &st);
    assert_int_equal(st, 200);
    cJSON *r = cJSON_Parse(resp);
    const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "data"), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "data")), 2);
    assert_true(cJSON_GetObjectItem(d, "score")->valuedouble == sc->score);
    assert_int_equal(cJSON_GetObjectItem(d, "pooled_token_index")->valueint, sc->pooled_token);
    assert_string_equal(cJSON_GetObjectItem(d, "text")->valuestring, sc->text);
    cJSON_Delete(r);
    free(resp);
    /* it cannot generate: a clear 400, not a crash */
    resp = http_at(base, "POST", "/v1/completions", "{\"prompt\":\"x\"}", NULL, &st);
    assert_error(st, resp, 400, "unsupported");
    free(resp);
    gh_rm_score_free(sc);
    gh_server_stop(s);
    gh_backend_free(b);
}

static void test_errors(void **state) {
    (void)state;
    static const struct { const char *path, *body; long st; const char *code; } cases[] = {
        {"/v1/completions", "", 400, "invalid_json"},
        {"/v1/completions", "{\"prompt\":", 400, "invalid_json"},
        {"/v1/completions", "[1,2]", 400, "invalid_json"},
        {"/v1/completions", "{\"prompt\":\"a\"} x", 400, "invalid_json"},
        {"/v1/completions", "{\"prompt\":\"a\",\"bogus\":1}", 400, "unknown_field"},
        {"/v1/completions", "{\"prompt\":\"a\",\"prompt\":\"b\"}", 400, "duplicate_field"},
        {"/v1/completions", "{}", 400, "missing_field"},
        {"/v1/completions", "{\"prompt\":\"a\",\"n\":\"2\"}", 400, "invalid_type"},
        {"/v1/completions", "{\"prompt\":\"a\",\"n\":1.5}", 400, "invalid_type"},
        {"/v1/completions", "{\"prompt\":\"a\",\"n\":0}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\":\"a\",\"n\":100000}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\":\"a\",\"temperature\":-1}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\":\"a\",\"top_p\":0}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\":\"a\",\"seed\":-3}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\":\"a\",\"seed\":1e300}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":600}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":511}", 400, "context_length_exceeded"},
        {"/v1/completions", "{\"prompt\":[1,2,99999]}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\":[1,\"a\"]}", 400, "invalid_type"},
        {"/v1/completions", "{\"prompt\":[\"a\",[1]]}", 400, "invalid_type"},
        {"/v1/completions", "{\"prompt\":[]}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\":{}}", 400, "invalid_type"},
        {"/v1/completions", "{\"prompt\":\"a\",\"logprobs\":101}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\":\"a\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\":\"a\",\"stop\":[\"\"]}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\":\"a\",\"stream\":true}", 400, "unsupported"},
        {"/v1/completions", "{\"prompt\":\"a\",\"presence_penalty\":1}", 400, "unsupported"},
        {"/v1/completions", "{\"prompt\":\"a\",\"logit_bias\":{\"1\":5}}", 400, "unsupported"},
        {"/v1/completions", "{\"prompt\":\"a\",\"best_of\":3}", 400, "unsupported"},
        {"/v1/completions", "{\"prompt\":\"a\",\"echo\":1}", 400, "invalid_type"},
        {"/v1/completions", "{\"prompt\":\"a\",\"model\":\"gpt-4\"}", 404, "model_not_found"},
        {"/v1/chat/completions", "{\"messages\":\"hi\"}", 400, "invalid_type"},
        {"/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"tool_calls\":[]}]}", 400, "unknown_field"},
        {"/v1/nothing", "{}", 404, "not_found"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) post_err(cases[i].path, cases[i].body, cases[i].st, cases[i].code);
    long st;
    char *r = http("GET", "/v1/completions", NULL, &st);
    assert_error(st, r, 405, "method_not_allowed");
    free(r);
    /* a body over the limit is refused before it is read */
    size_t big = (1 << 20) + 10;
    char *body = malloc(big + 1);
    memset(body, ' ', big);
    body[big] = '\0';
    r = http("POST", "/v1/completions", body, &st);
    assert_error(st, r, 413, "request_too_large");
    free(r);
    free(body);
    /* the server still answers */
    r = http("GET", "/health", NULL, &st);
    assert_int_equal(st, 200);
    free(r);
}

static void test_api_key(void **state) {
    (void)state;
    gh_serve_params p = gh_serve_default_params();
    p.port = 0;
    p.api_key = "sekret-123";
    char base[64];
    gh_server *s = serve_at(&p, g_b, base, sizeof base);
    long st;
    char *r = http_at(base, "GET", "/v1/models", NULL, NULL, &st);
    assert_error(st, r, 401, "invalid_api_key");
    free(r);
    r = http_at(base, "GET", "/v1/models", NULL, "sekret-12", &st);
    assert_error(st, r, 401, "invalid_api_key");
    free(r);
    r = http_at(base, "GET", "/v1/models", NULL, "sekret-123", &st);
    assert_int_equal(st, 200);
    free(r);
    r = http_at(base, "GET", "/health", NULL, NULL, &st); /* health needs no key */
    assert_int_equal(st, 200);
    free(r);
    gh_server_stop(s);
}

/* Concurrent clients: each gets exactly the local backend's samples for its
 * seed, and the scheduler ran several sequences per decode step. */
typedef struct client_arg { int id; int failures; } client_arg;

static void *client_main(void *arg) {
    client_arg *a = arg;
    for (int rep = 0; rep < 3; rep++) {
        char body[256];
        int seed = a->id * 10 + rep;
        snprintf(body, sizeof body, "{\"prompt\":\"Tim and Sue\",\"max_tokens\":20,\"n\":2,\"seed\":%d,\"return_token_ids\":true}", seed);
        long st;
        char *r = http("POST", "/v1/completions", body, &st);
        gh_sampler_params sp = gh_sampler_default_params();
        sp.seed = (uint64_t)seed;
        sp.max_tokens = 20;
        gh_samples *loc = NULL;
        cJSON *j = cJSON_Parse(r);
        if (st != 200 || !j || gh_backend_generate(g_b, "Tim and Sue", &sp, 2, &loc)) a->failures++;
        else
            for (int i = 0; i < 2; i++) {
                const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), i);
                const cJSON *ids = cJSON_GetObjectItem(c, "token_ids");
                bool same = cJSON_GetArraySize(ids) == loc->samples[i].n_tokens &&
                            !strcmp(cJSON_GetObjectItem(c, "text")->valuestring, loc->samples[i].text);
                for (int32_t t = 0; same && t < loc->samples[i].n_tokens; t++)
                    same = cJSON_GetArrayItem(ids, t)->valueint == loc->samples[i].tokens[t];
                a->failures += !same;
            }
        gh_samples_free(loc);
        cJSON_Delete(j);
        free(r);
    }
    return NULL;
}

static void test_concurrent(void **state) {
    (void)state;
    enum { N = 8 };
    pthread_t th[N];
    client_arg a[N];
    for (int i = 0; i < N; i++) {
        a[i] = (client_arg){.id = i};
        pthread_create(&th[i], NULL, client_main, &a[i]);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) assert_int_equal(a[i].failures, 0);
    long st;
    char *r = http("GET", "/health", NULL, &st);
    cJSON *j = cJSON_Parse(r), *s = cJSON_GetObjectItem(j, "stats");
    assert_true(cJSON_GetObjectItem(s, "max_seqs_per_step")->valueint >= 2);
    assert_int_equal(cJSON_GetObjectItem(s, "queued_samples")->valueint, 0);
    assert_int_equal(cJSON_GetObjectItem(s, "free_slots")->valueint, 8); /* no slot leaked */
    cJSON_Delete(j);
    free(r);
}

/* Cross-request batching: separate n:1 requests share decode steps. A fresh
 * server counts from zero; one n:2 request alone runs two sequences of one
 * request per step; then concurrent n:1 requests must have run in one step
 * (max_requests_per_step counts distinct requests in a step). */
typedef struct one_arg { const char *base; int seed; int failures; } one_arg;

static void *one_sample_client(void *arg) {
    one_arg *a = arg;
    for (int rep = 0; rep < 3; rep++) {
        char body[256];
        snprintf(body, sizeof body, "{\"prompt\":\"The little dog\",\"max_tokens\":120,\"ignore_eos\":true,\"n\":1,\"seed\":%d}",
                 a->seed * 10 + rep);
        long st;
        char *r = http_at(a->base, "POST", "/v1/completions", body, NULL, &st);
        a->failures += st != 200;
        free(r);
    }
    return NULL;
}

static cJSON *stats_of(const char *base, cJSON **root) {
    long st;
    char *r = http_at(base, "GET", "/health", NULL, NULL, &st);
    assert_int_equal(st, 200);
    *root = cJSON_Parse(r);
    free(r);
    cJSON *s = cJSON_GetObjectItem(*root, "stats");
    assert_non_null(s);
    return s;
}

static void test_batching_across_requests(void **state) {
    (void)state;
    gh_serve_params p = gh_serve_default_params();
    p.port = 0;
    p.n_slots = 8;
    char base[64];
    gh_server *s = serve_at(&p, g_b, base, sizeof base);
    cJSON *root, *S = stats_of(base, &root);
    assert_int_equal(cJSON_GetObjectItem(S, "max_requests_per_step")->valueint, 0);
    cJSON_Delete(root);
    long st;
    char *r = http_at(base, "POST", "/v1/completions", "{\"prompt\":\"Once\",\"max_tokens\":8,\"n\":2,\"seed\":3}", NULL, &st);
    assert_int_equal(st, 200);
    free(r);
    S = stats_of(base, &root);
    assert_int_equal(cJSON_GetObjectItem(S, "max_seqs_per_step")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(S, "max_requests_per_step")->valueint, 1);
    cJSON_Delete(root);
    enum { N = 4 };
    pthread_t th[N];
    one_arg a[N];
    for (int i = 0; i < N; i++) {
        a[i] = (one_arg){.base = base, .seed = i};
        pthread_create(&th[i], NULL, one_sample_client, &a[i]);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) assert_int_equal(a[i].failures, 0);
    S = stats_of(base, &root);
    int reqs = cJSON_GetObjectItem(S, "max_requests_per_step")->valueint;
    if (getenv("GH_SERVE_VERBOSE")) fprintf(stderr, "max_requests_per_step %d\n", reqs);
    assert_true(reqs >= 2);
    assert_true(reqs <= N);
    assert_int_equal(cJSON_GetObjectItem(S, "free_slots")->valueint, 8);
    cJSON_Delete(root);
    gh_server_stop(s);
}

/* Stopping a server with a request in flight: the request is answered 503
 * (or 200 if it finished first) before the connection closes; nothing hangs. */
typedef struct long_arg { char base[64]; long status; } long_arg;

static void *long_request(void *arg) {
    long_arg *a = arg;
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "%s/v1/completions", a->base);
    buf b = {calloc(1, 1), 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{\"prompt\":\"Once\",\"max_tokens\":500,\"n\":8,\"ignore_eos\":true,\"seed\":1}");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    a->status = curl_easy_perform(c) == CURLE_OK ? 0 : -1;
    if (a->status == 0) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    if (a->status == 503) assert_contains(b.p, "shutting_down");
    free(b.p);
    curl_easy_cleanup(c);
    return NULL;
}

static void test_stop_in_flight(void **state) {
    (void)state;
    gh_serve_params p = gh_serve_default_params();
    p.port = 0;
    p.n_slots = 4;
    gh_server *s;
    assert_ok(gh_server_start(&p, &s));
    assert_ok(gh_server_attach(s, g_b));
    long_arg a = {.status = 0};
    snprintf(a.base, sizeof a.base, "http://127.0.0.1:%d", gh_server_port(s));
    pthread_t th;
    pthread_create(&th, NULL, long_request, &a);
    for (int i = 0; i < 2000; i++) { /* until the request is queued or running */
        long st;
        char *r = http_at(a.base, "GET", "/health", NULL, NULL, &st);
        bool busy = strstr(r, "\"queued_samples\":0,") == NULL;
        free(r);
        if (busy) break;
        usleep(1000);
    }
    gh_server_stop(s);
    pthread_join(th, NULL);
    assert_true(a.status == 503 || a.status == 200);
    if (getenv("GH_SERVE_VERBOSE")) fprintf(stderr, "in-flight request at stop: %ld\n", a.status);
}

/* The CLI binary: listens, answers, and exits 0 on SIGTERM. */
static void test_cli_sigterm(void **state) {
    (void)state;
    const char *portf = tu_tmp("port.txt");
    unlink(portf);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(tu_bin(), tu_bin(), "serve", "-m", tu_stories_gguf(), "--port", "0", "--port-file", portf, "-t", "1", "-q",
              (char *)NULL);
        _exit(127);
    }
    int port = 0;
    for (int i = 0; i < 600 && port == 0; i++) { /* wait for the port file (not a timed check) */
        char *t = tu_read_file(portf, NULL);
        if (t) { port = atoi(t); free(t); }
        if (!port) usleep(50000);
    }
    assert_true(port > 0);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    long st = 0;
    char *r = NULL;
    for (int i = 0; i < 600; i++) { /* until loaded */
        free(r);
        r = http_at(base, "GET", "/health", NULL, NULL, &st);
        if (st == 200) break;
        usleep(50000);
    }
    assert_int_equal(st, 200);
    free(r);
    r = http_at(base, "POST", "/v1/completions", "{\"prompt\":\"Once upon a time\",\"max_tokens\":8,\"temperature\":0}", NULL, &st);
    assert_int_equal(st, 200);
    assert_contains(r, ", there was a");
    free(r);
    kill(pid, SIGTERM);
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
    /* a usage error is exit status 2 */
    int status;
    char *out = tu_cli(&status, "serve --port 99999 -m x");
    assert_int_equal(status, 2);
    free(out);
    out = tu_cli(&status, "serve --slots 1 -m x");
    assert_int_equal(status, 2);
    assert_contains(out, "--slots");
    free(out);
    out = tu_cli(&status, "serve -m %s --api-key-env GH_SERVE_NO_SUCH_VAR --port 0", tu_stories_gguf());
    assert_int_equal(status, 2);
    assert_contains(out, "GH_SERVE_NO_SUCH_VAR");
    free(out);
}

/* ---- limits ---- */

/* GET base+path; the transport result (the request may be refused) and the status. */
static CURLcode try_get(const char *base, const char *path, long *status) {
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    buf b = {calloc(1, 1), 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    *status = 0;
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    free(b.p);
    curl_easy_cleanup(c);
    return rc;
}

typedef struct bg_req { const char *base, *body; long status; } bg_req;

static void *bg_post(void *arg) {
    bg_req *a = arg;
    free(http_at(a->base, "POST", "/v1/completions", a->body, NULL, &a->status));
    return NULL;
}

static int queued_samples(const char *base) {
    cJSON *root, *S = stats_of(base, &root);
    int q = cJSON_GetObjectItem(S, "queued_samples")->valueint;
    cJSON_Delete(root);
    return q;
}

/* --max-queued: while 8 samples are unfinished, one more is 429 server_busy;
 * a request that alone is over the limit is 400. */
static void test_max_queued(void **state) {
    (void)state;
    gh_serve_params p = gh_serve_default_params();
    p.port = 0;
    gh_server *s;
    p.n_slots = 1; /* refused: a request of n >= 2 could never finish */
    assert_int_equal(gh_server_start(&p, &s), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "at least 2");
    p.n_slots = 2; /* the 8 samples run two at a time */
    p.max_queued = 8;
    char base[64];
    s = serve_at(&p, g_b, base, sizeof base);
    post_err_at(base, "{\"prompt\":\"Once\",\"max_tokens\":4,\"n\":9}", 400, "invalid_value");
    post_err_at(base, "{\"prompt\":[\"Once\",\"Twice\",\"Thrice\"],\"max_tokens\":4,\"n\":3}", 400, "invalid_value");
    bg_req a = {.base = base, .body = "{\"prompt\":\"Once\",\"max_tokens\":480,\"ignore_eos\":true,\"n\":8,\"seed\":2}"};
    pthread_t th;
    pthread_create(&th, NULL, bg_post, &a);
    int q = 0;
    for (int i = 0; i < 5000 && q == 0; i++) { /* until the 8 samples are queued */
        q = queued_samples(base);
        if (!q) usleep(1000);
    }
    assert_true(q >= 1 && q <= 8);
    long st;
    char *r = http_at(base, "POST", "/v1/completions", "{\"prompt\":\"Once\",\"max_tokens\":4,\"n\":8}", NULL, &st);
    pthread_join(th, NULL);
    assert_int_equal(a.status, 200); /* the first was never disturbed */
    assert_error(st, r, 429, "server_busy");
    assert_contains(r, "rate_limit_error");
    free(r);
    /* and once it is done, the same request is served */
    r = http_at(base, "POST", "/v1/completions", "{\"prompt\":\"Once\",\"max_tokens\":4,\"n\":8}", NULL, &st);
    assert_int_equal(st, 200);
    free(r);
    gh_server_stop(s);
}

/* --max-connections: with 2 connections open (idle), a third is not taken up
 * (it waits in the kernel's listen queue): its request stays unanswered while
 * both are open, and is answered as soon as one closes. */
typedef struct get_arg { const char *base; long status; CURLcode rc; volatile int done; } get_arg;

static void *bg_get(void *arg) {
    get_arg *a = arg;
    a->rc = try_get(a->base, "/health", &a->status);
    a->done = 1;
    return NULL;
}

static void test_max_connections(void **state) {
    (void)state;
    gh_serve_params p = gh_serve_default_params();
    p.port = 0;
    p.max_connections = 2;
    char base[64];
    gh_server *s = serve_at(&p, g_b, base, sizeof base);
    long st;
    assert_int_equal(try_get(base, "/health", &st), CURLE_OK);
    assert_int_equal(st, 200);
    int fd[2];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)gh_server_port(s))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 2; i++) {
        fd[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd[i] >= 0);
        assert_int_equal(connect(fd[i], (struct sockaddr *)&sa, sizeof sa), 0);
    }
    get_arg g = {.base = base};
    pthread_t th;
    pthread_create(&th, NULL, bg_get, &g);
    usleep(300000); /* an unlimited server answers /health in well under a millisecond */
    assert_false(g.done);
    close(fd[0]);
    pthread_join(th, NULL);
    assert_int_equal(g.rc, CURLE_OK);
    assert_int_equal(g.status, 200);
    close(fd[1]);
    gh_server_stop(s);
}

/* Whether /proc/net/tcp lists a listening socket on 127.0.0.1:port (and none on another address). */
static bool listens_on_loopback_only(int port) {
    FILE *f = fopen("/proc/net/tcp", "r");
    assert_non_null(f);
    char line[512];
    bool lo = false, other = false;
    while (fgets(line, sizeof line, f)) {
        unsigned addr, lport, state;
        if (sscanf(line, " %*d: %8X:%4X %*8X:%*4X %2X", &addr, &lport, &state) != 3) continue;
        if ((int)lport != port || state != 0x0A) continue; /* 0A: LISTEN */
        if (addr == 0x0100007Fu) lo = true; /* 127.0.0.1 in the kernel's (little-endian) order */
        else other = true;
    }
    fclose(f);
    FILE *f6 = fopen("/proc/net/tcp6", "r");
    if (f6) {
        while (fgets(line, sizeof line, f6)) {
            unsigned lport, state;
            if (sscanf(line, " %*d: %*32[0-9A-Fa-f]:%4X %*32[0-9A-Fa-f]:%*4X %2X", &lport, &state) == 2 && (int)lport == port &&
                state == 0x0A)
                other = true;
        }
        fclose(f6);
    }
    return lo && !other;
}

/* The CLI while its model loads: it listens first (on 127.0.0.1 by default),
 * /health and the model endpoints answer 503 model_loading. The "model" is a
 * FIFO, so loading waits until the test opens it for writing; then the load
 * fails (not a regular file) and the server exits 1 naming the file. */
static void test_cli_loading_and_default_bind(void **state) {
    (void)state;
    const char *fifo = tu_tmp("loading.gguf"), *portf = tu_tmp("loading-port.txt"), *errf = tu_tmp("loading-stderr.txt");
    unlink(fifo);
    unlink(portf);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) dup2(fd, 2);
        execl(tu_bin(), tu_bin(), "serve", "-m", fifo, "--port", "0", "--port-file", portf, "-q", (char *)NULL);
        _exit(127);
    }
    int port = 0;
    for (int i = 0; i < 600 && port == 0; i++) {
        char *t = tu_read_file(portf, NULL);
        if (t) { port = atoi(t); free(t); }
        if (!port) usleep(50000);
    }
    assert_true(port > 0);
    assert_true(listens_on_loopback_only(port));
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    long st;
    char *r = http_at(base, "GET", "/health", NULL, NULL, &st);
    assert_error(st, r, 503, "model_loading");
    free(r);
    r = http_at(base, "POST", "/v1/completions", "{\"prompt\":\"a\"}", NULL, &st);
    assert_error(st, r, 503, "model_loading");
    free(r);
    r = http_at(base, "GET", "/v1/models", NULL, NULL, &st);
    assert_error(st, r, 503, "model_loading");
    free(r);
    /* let the load go on: it fails, and the server says why and exits 1 */
    int w = open(fifo, O_WRONLY);
    assert_true(w >= 0);
    close(w);
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 1);
    char *err = tu_read_file(errf, NULL);
    assert_non_null(err);
    assert_contains(err, "loading.gguf");
    assert_contains(err, "not a regular file");
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_loading),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_tokenize),
        cmocka_unit_test(test_greedy_equals_local),
        cmocka_unit_test(test_seeded_equals_local),
        cmocka_unit_test(test_prompt_forms),
        cmocka_unit_test(test_echo_logprobs),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_chat),
        cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_hidden_states),
        cmocka_unit_test(test_rewards),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_api_key),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_batching_across_requests),
        cmocka_unit_test(test_stop_in_flight),
        cmocka_unit_test(test_cli_sigterm),
        cmocka_unit_test(test_max_queued),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_cli_loading_and_default_bind),
    };
    return cmocka_run_group_tests_name("serve", tests, setup, teardown);
}
