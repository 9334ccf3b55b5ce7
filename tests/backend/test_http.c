/* test_http.c — the HTTP backend against a scripted mock server: the JSON
 * shapes of vLLM's, OpenAI's and llama.cpp's documented responses (fixtures
 * written to those shapes in tests/fixtures/openai/, see its README), what
 * each kind of server is sent, the fallbacks between log-probability and
 * reward routes, faults (429 + Retry-After, 5xx
 * then success, a hung server, connection refused until the server comes up),
 * the bound on requests in flight, the API key, and the response cache
 * (a repeated run makes no request; concurrent writers; writers killed by
 * kill -9 mid-write leave a sound file with every completed write; a client
 * killed mid-experiment is rerun paying only for the calls it had not got). */
#include <math.h>
#include <signal.h>
#include <sys/wait.h>

#include "testutil.h"
#include "test_http_mock.h"

#include "backend/http_internal.h"
#include "goodhart/backend.h"
#include "goodhart/gguf.h"
#include "goodhart/probe.h"
#include "goodhart/reward.h"
#include "goodhart/store.h"

static gh_backend_params test_params(void) {
    gh_backend_params p = gh_backend_default_params();
    p.max_retries = 2;
    p.timeout_s = 10;
    return p;
}

static mock M;

/* A backend on the mock server (the model after '#' in `suffix`, if any). */
static gh_backend *open_mock(const char *suffix) {
    gh_backend_params p = test_params();
    gh_backend *b = NULL;
    assert_ok(gh_backend_open(mock_url(&M, suffix), &p, &b));
    return b;
}

static int setup(void **st) {
    (void)st;
    mock_init(&M);
    return mock_start(&M, 0) ? 0 : -1;
}

static int teardown(void **st) {
    (void)st;
    mock_free(&M);
    return 0;
}

static const char *last_body(const char *path) {
    for (int i = M.n_log - 1; i >= 0; i--)
        if (!strcmp(M.log[i].path, path)) return M.log[i].body ? M.log[i].body : "";
    return NULL;
}

static void vllm_routes(void) {
    mock_route_add(&M, (mock_route){.method = "GET", .path = "/v1/models", .file = "models_vllm.json"});
}

/* ---- generation ---- */

static void test_vllm_generate_per_sample_seeds(void **st) {
    (void)st;
    vllm_routes();
    mock_route_add(&M, (mock_route){.path = "/v1/completions", .file = "completion_vllm.json"});
    gh_backend *b = open_mock("");
    assert_true(gh_backend_caps(b) & GH_CAP_GENERATE);
    assert_true(gh_backend_caps(b) & GH_CAP_TOKENIZE);
    assert_false(gh_backend_caps(b) & GH_CAP_HIDDEN);
    gh_sampler_params sp = gh_sampler_default_params();
    sp.temp = 0.7f;
    sp.top_k = 40;
    sp.seed = 42;
    sp.first_sample = 5;
    sp.max_tokens = 3;
    gh_samples *S = NULL;
    assert_ok(gh_backend_generate(b, "Once upon a time", &sp, 3, &S));
    assert_int_equal(S->n, 3);
    /* one request per sample, each with its own seed */
    assert_int_equal(mock_count(&M, "/v1/completions"), 3);
    char seeds[3][64];
    int k = 0;
    for (int i = 0; i < M.n_log; i++) {
        if (strcmp(M.log[i].path, "/v1/completions")) continue;
        const char *body = M.log[i].body;
        assert_contains(body, "\"model\":\"meta-llama/Llama-3.2-1B\"");
        assert_contains(body, "\"n\":1");
        assert_contains(body, "\"temperature\":0.7");
        assert_contains(body, "\"top_k\":40");
        assert_contains(body, "\"return_tokens_as_token_ids\":true");
        assert_null(strstr(body, "first_sample")); /* not goodhart's server */
        const char *s = strstr(body, "\"seed\":");
        assert_non_null(s);
        snprintf(seeds[k++], sizeof seeds[0], "%.20s", s);
    }
    assert_string_not_equal(seeds[0], seeds[1]);
    assert_string_not_equal(seeds[1], seeds[2]);
    for (int i = 0; i < 3; i++) {
        const gh_sample *x = &S->samples[i];
        assert_int_equal(x->index, 5 + i);
        assert_string_equal(x->text, " a small village");
        assert_int_equal(x->n_tokens, 3);
        assert_int_equal(x->tokens[0], 264);
        assert_int_equal(x->tokens[2], 14458);
        assert_true(fabs(x->logprob - (-3.75)) < 1e-12);
        assert_string_equal(x->finish, "length");
    }
    assert_int_equal(S->n_prompt_tokens, 5);
    gh_samples_free(S);

    /* the same sample index gets the same seed, whatever it is drawn with:
     * samples 5, 6, 7 one at a time get the three seeds above, each once (the
     * three requests above run at once, so their log order is not the samples') */
    int hit[3] = {0, 0, 0}, before;
    for (int i = 0; i < 3; i++) {
        before = M.n_log;
        sp.first_sample = 5 + i;
        assert_ok(gh_backend_generate(b, "Once upon a time", &sp, 1, &S));
        gh_samples_free(S);
        for (int j = 0; j < 3; j++) hit[j] += strstr(M.log[before].body, seeds[j]) != NULL;
    }
    for (int j = 0; j < 3; j++) assert_int_equal(hit[j], 1);

    /* greedy: one request answers every sample */
    before = mock_count(&M, "/v1/completions");
    sp.temp = 0;
    sp.top_k = 0;
    assert_ok(gh_backend_generate(b, "Once upon a time", &sp, 4, &S));
    assert_int_equal(mock_count(&M, "/v1/completions"), before + 1);
    assert_null(strstr(last_body("/v1/completions"), "\"seed\""));
    assert_int_equal(S->n, 4);
    assert_string_equal(S->samples[3].text, " a small village");
    assert_int_equal(S->samples[3].tokens[1], 2678);
    gh_samples_free(S);
    gh_backend_free(b);
}

static void test_openai_generate_plain_fields(void **st) {
    (void)st;
    mock_route_add(&M, (mock_route){.method = "GET", .path = "/v1/models", .file = "models_openai.json"});
    mock_route_add(&M, (mock_route){.path = "/v1/completions", .file = "completion_openai.json"});
    gh_backend_params p = test_params();
    gh_backend *b = NULL;
    /* three models listed: the reference must name one */
    assert_int_equal(gh_backend_open(mock_url(&M, ""), &p, &b), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "gpt-3.5-turbo-instruct, text-embedding-3-small, gpt-4o-mini");
    assert_int_equal(gh_backend_open(mock_url(&M, "#davinci"), &p, &b), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "does not serve a model 'davinci'");
    assert_ok(gh_backend_open(mock_url(&M, "#gpt-3.5-turbo-instruct"), &p, &b));
    assert_false(gh_backend_caps(b) & GH_CAP_TOKENIZE);
    gh_sampler_params sp = gh_sampler_default_params();
    sp.temp = 1.0f;
    sp.top_p = 0.9f;
    sp.seed = 7;
    gh_samples *S = NULL;
    assert_ok(gh_backend_generate(b, "The capital of France is", &sp, 2, &S));
    const char *body = last_body("/v1/completions");
    assert_contains(body, "\"model\":\"gpt-3.5-turbo-instruct\"");
    assert_contains(body, "\"top_p\":0.9");
    assert_null(strstr(body, "return_tokens_as_token_ids"));
    assert_null(strstr(body, "top_k"));
    assert_null(strstr(body, "add_special_tokens"));
    assert_string_equal(S->samples[1].text, " Paris.");
    assert_string_equal(S->samples[1].finish, "stop");
    assert_int_equal(S->samples[1].n_tokens, 2);
    assert_int_equal(S->samples[1].tokens[0], -1); /* OpenAI gives token text, not ids */
    assert_true(fabs(S->samples[1].logprob - (-0.781)) < 1e-9);
    gh_samples_free(S);
    /* extensions a hosted API does not know are refused here, by name */
    sp.top_k = 5;
    assert_int_equal(gh_backend_generate(b, "x", &sp, 1, &S), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), "top-k");
    sp.top_k = 0;
    sp.stop_at_eog = false;
    assert_int_equal(gh_backend_generate(b, "x", &sp, 1, &S), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), "end-of-generation");
    assert_int_equal(gh_backend_logprob_tokens(b, (int32_t[]){1}, 1, (int32_t[]){2}, 1, 0, &(gh_logprobs *){0}), GH_ERR_UNSUPPORTED);
    gh_backend_free(b);
}

static void test_openai_chat(void **st) {
    (void)st;
    mock_route_add(&M, (mock_route){.method = "GET", .path = "/v1/models", .file = "models_openai.json"});
    mock_route_add(&M, (mock_route){.path = "/v1/chat/completions", .file = "chat_openai.json"});
    gh_backend *b = open_mock("#gpt-4o-mini");
    gh_chat_msg msgs[2] = {{"system", "Be brief."}, {"user", "Say hello."}};
    gh_sampler_params sp = gh_sampler_default_params();
    sp.seed = 3;
    gh_samples *S = NULL;
    assert_ok(gh_backend_chat(b, msgs, 2, &sp, 1, &S));
    const char *body = last_body("/v1/chat/completions");
    assert_contains(body, "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Say hello.\"}]");
    assert_contains(body, "\"logprobs\":true");
    assert_string_equal(S->samples[0].text, "Hello there!");
    assert_string_equal(S->samples[0].finish, "stop");
    assert_int_equal(S->samples[0].n_tokens, 3);
    assert_true(fabs(S->samples[0].logprob - (-0.875)) < 1e-12);
    assert_int_equal(S->n_prompt_tokens, 12);
    gh_samples_free(S);
    gh_backend_free(b);
}

/* ---- log-probabilities ---- */

static void test_logprob_openai_echo_text_offset(void **st) {
    (void)st;
    mock_route_add(&M, (mock_route){.method = "GET", .path = "/v1/models", .file = "models_openai.json"});
    mock_route_add(&M, (mock_route){.path = "/v1/completions", .body_has = "\"echo\":true", .file = "completion_echo_openai.json"});
    gh_backend *b = open_mock("#gpt-3.5-turbo-instruct");
    gh_logprobs *L = NULL;
    assert_ok(gh_backend_logprob(b, "The capital of France is", " Paris", 2, &L));
    const char *body = last_body("/v1/completions");
    assert_contains(body, "\"prompt\":\"The capital of France is Paris\"");
    assert_contains(body, "\"logprobs\":2");
    assert_contains(body, "\"max_tokens\":1");
    /* no /tokenize: the split is by text_offset; the generated "." is cut by usage.prompt_tokens */
    assert_int_equal(L->n_prompt, 5);
    assert_int_equal(L->n, 1);
    assert_string_equal(L->token_text[0], " Paris");
    assert_true(fabs(L->token_logprobs[0] - (-0.5f)) < 1e-7);
    assert_true(fabs(L->total - (-0.5)) < 1e-12);
    /* top-k sorted, whatever order the object had */
    assert_true(fabs(L->top_logprobs[0] - (-0.5f)) < 1e-7);
    assert_true(fabs(L->top_logprobs[1] - (-2.75f)) < 1e-7);
    assert_int_equal(L->top_ids[0], -1);
    gh_logprobs_free(L);
    /* a continuation spanning several tokens */
    assert_ok(gh_backend_logprob(b, "The capital of", " France is Paris", 0, &L));
    assert_int_equal(L->n_prompt, 3);
    assert_int_equal(L->n, 3);
    assert_true(fabs(L->total - (-0.625 - 0.375 - 0.5)) < 1e-9);
    gh_logprobs_free(L);
    assert_int_equal(mock_count(&M, "/tokenize"), 0);
    gh_backend_free(b);
}

static void vllm_tokenize_routes(void) {
    mock_route_add(&M, (mock_route){.path = "/tokenize", .body_has = "is Paris", .file = "tokenize_vllm_full.json"});
    mock_route_add(&M, (mock_route){.path = "/tokenize", .file = "tokenize_vllm_prompt.json"});
}

/* /tokenize answers are checked id by id: a number that is not a token id
 * (fractional, negative, past int32, or llama.cpp's {id, piece} with a bad
 * id) is an error naming the token, never an out-of-range conversion */
static void test_tokenize_rejects_bad_ids(void **st) {
    (void)st;
    static const char *answers[6] = {"{\"tokens\":[1,5,9]}", "{\"tokens\":[{\"id\":1,\"piece\":\"a\"},{\"id\":7,\"piece\":\"b\"}]}",
                                     "{\"tokens\":[1,2.5]}", "{\"tokens\":[1,-1]}", "{\"tokens\":[1,5,1e300]}",
                                     "{\"tokens\":[{\"id\":-4,\"piece\":\"a\"}]}"};
    static const char *errors[6] = {NULL, NULL, "\"tokens\"[1] is not a token id", "\"tokens\"[1] is not a token id",
                                    "\"tokens\"[2] is not a token id", "\"tokens\"[0] is not a token id"};
    for (int k = 0; k < 6; k++) {
        mock_routes_clear(&M);
        vllm_routes();
        mock_route_add(&M, (mock_route){.path = "/tokenize", .text = answers[k]});
        gh_backend *b = open_mock("");
        int32_t *ids = NULL, n = -1;
        gh_status s = gh_backend_tokenize(b, "x", true, &ids, &n);
        if (!errors[k]) {
            assert_ok(s);
            assert_int_equal(n, k == 0 ? 3 : 2);
            assert_int_equal(ids[1], k == 0 ? 5 : 7);
        } else {
            assert_int_equal(s, GH_ERR_FORMAT);
            assert_null(ids);
            assert_int_equal(n, 0);
            assert_contains(gh_last_error(), "/tokenize");
            assert_contains(gh_last_error(), errors[k]);
        }
        free(ids);
        gh_backend_free(b);
    }
}

static void test_logprob_vllm_echo_with_tokenize(void **st) {
    (void)st;
    vllm_routes();
    vllm_tokenize_routes();
    mock_route_add(&M, (mock_route){.path = "/v1/completions", .body_has = "\"echo\":true", .file = "completion_echo_vllm.json"});
    gh_backend *b = open_mock("");
    gh_logprobs *L = NULL;
    assert_ok(gh_backend_logprob(b, "The capital of France is", " Paris", 2, &L));
    assert_contains(last_body("/tokenize"), "\"add_special_tokens\":true");
    assert_int_equal(L->n_prompt, 6); /* BOS + 5 */
    assert_int_equal(L->n, 1);
    assert_int_equal(L->tokens[0], 12366);
    assert_true(fabs(L->token_logprobs[0] - (-0.5f)) < 1e-7);
    assert_int_equal(L->top_ids[0], 12366);
    assert_int_equal(L->top_ids[1], 55605);
    assert_true(fabs(L->top_logprobs[1] - (-2.75f)) < 1e-7);
    gh_logprobs_free(L);
    gh_backend_free(b);
}

static void test_logprob_vllm_falls_back_to_prompt_logprobs(void **st) {
    (void)st;
    vllm_routes();
    vllm_tokenize_routes();
    mock_route_add(&M, (mock_route){.path = "/v1/completions", .body_has = "\"echo\":true", .status = 400, .file = "error_vllm.json"});
    mock_route_add(&M, (mock_route){.path = "/v1/completions", .body_has = "\"prompt_logprobs\":2", .file = "prompt_logprobs_vllm.json"});
    gh_backend *b = open_mock("");
    gh_logprobs *L = NULL;
    assert_ok(gh_backend_logprob(b, "The capital of France is", " Paris", 2, &L));
    assert_int_equal(L->n_prompt, 6);
    assert_int_equal(L->n, 1);
    assert_int_equal(L->tokens[0], 12366);
    assert_string_equal(L->token_text[0], " Paris");
    assert_true(fabs(L->token_logprobs[0] - (-0.5f)) < 1e-7);
    assert_int_equal(L->top_ids[0], 12366);
    assert_int_equal(L->top_ids[1], 55605);
    gh_logprobs_free(L);
    int echo_tries = 0;
    for (int i = 0; i < M.n_log; i++)
        if (M.log[i].body && strstr(M.log[i].body, "\"echo\":true")) echo_tries++;
    assert_int_equal(echo_tries, 1);
    /* the route that works is remembered: no second echo attempt */
    assert_ok(gh_backend_logprob(b, "The capital of France is", " Paris", 2, &L));
    gh_logprobs_free(L);
    echo_tries = 0;
    for (int i = 0; i < M.n_log; i++)
        if (M.log[i].body && strstr(M.log[i].body, "\"echo\":true")) echo_tries++;
    assert_int_equal(echo_tries, 1);
    gh_backend_free(b);
}

static void test_logprob_llamacpp_says_why_not(void **st) {
    (void)st;
    mock_route_add(&M, (mock_route){.method = "GET", .path = "/v1/models", .file = "models_llamacpp.json"});
    mock_route_add(&M, (mock_route){.path = "/tokenize", .body_has = "is Paris", .file = "tokenize_llamacpp_full.json"});
    mock_route_add(&M, (mock_route){.path = "/tokenize", .file = "tokenize_llamacpp_prompt.json"});
    mock_route_add(&M, (mock_route){.path = "/v1/completions", .file = "completion_llamacpp.json"});
    gh_backend *b = open_mock("");
    gh_logprobs *L = NULL;
    assert_int_equal(gh_backend_logprob(b, "The capital of France is", " Paris", 0, &L), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), mock_url(&M, ""));
    assert_contains(gh_last_error(), "llama.cpp server gives no log-probabilities of a given text");
    assert_contains(gh_last_error(), "echo + logprobs");
    assert_contains(gh_last_error(), "prompt_logprobs");
    assert_contains(last_body("/tokenize"), "\"content\":");
    gh_backend_free(b);
}

/* ---- embeddings and rewards ---- */

static void test_embeddings(void **st) {
    (void)st;
    mock_route_add(&M, (mock_route){.method = "GET", .path = "/v1/models", .file = "models_openai.json"});
    mock_route_add(&M, (mock_route){.path = "/v1/embeddings", .file = "embeddings_openai.json"});
    gh_backend *b = open_mock("#text-embedding-3-small");
    gh_embedding *e = NULL;
    assert_ok(gh_backend_embed(b, "hello world", NULL, &e));
    assert_contains(last_body("/v1/embeddings"), "\"input\":\"hello world\"");
    assert_contains(last_body("/v1/embeddings"), "\"encoding_format\":\"float\"");
    assert_int_equal(e->dim, 4);
    assert_true(fabs(e->data[0] - 0.6f) < 1e-7 && fabs(e->data[1] + 0.8f) < 1e-7);
    assert_int_equal(e->n_tokens, 5);
    gh_embedding_free(e);
    assert_int_equal(gh_backend_embed(b, "x", "cls", &e), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), "'cls' pooling");
    gh_backend_free(b);
}

static void test_embeddings_normalised(void **st) {
    (void)st;
    vllm_routes();
    mock_route_add(&M, (mock_route){.path = "/v1/embeddings", .file = "embeddings_vllm_unnormalised.json"});
    gh_backend *b = open_mock("");
    gh_embedding *e = NULL;
    assert_ok(gh_backend_embed(b, "abc", NULL, &e));
    assert_int_equal(e->dim, 3);
    assert_true(fabs(e->data[0] - 0.6f) < 1e-6 && fabs(e->data[1] - 0.8f) < 1e-6);
    gh_embedding_free(e);
    gh_backend_free(b);
}

static void test_rewards_vllm_pooling(void **st) {
    (void)st;
    vllm_routes();
    mock_route_add(&M, (mock_route){.path = "/pooling", .file = "pooling_reward_vllm.json"});
    gh_backend *b = open_mock("");
    gh_rm_score *r = NULL;
    assert_ok(gh_backend_score(b, "Q: 2+2?", " A: 4", &r));
    assert_int_equal(mock_count(&M, "/v1/rewards"), 0); /* vLLM has none */
    assert_contains(last_body("/pooling"), "\"input\":\"Q: 2+2? A: 4\"");
    assert_true(fabs(r->score - 2.5) < 1e-12); /* the last token's */
    assert_int_equal(r->pooled_token, 3);
    assert_string_equal(r->text, "Q: 2+2? A: 4");
    assert_null(r->chat_template);
    gh_rm_score_free(r);
    /* a sequence-classification head: one number */
    mock_routes_clear(&M);
    mock_route_add(&M, (mock_route){.path = "/pooling", .file = "pooling_seqcls_vllm.json"});
    assert_ok(gh_backend_score(b, "Q", "A", &r));
    assert_true(fabs(r->score - 3.25) < 1e-12);
    gh_rm_score_free(r);
    gh_backend_free(b);
}

static void test_rewards_classify_and_plain(void **st) {
    (void)st;
    vllm_routes();
    mock_route_add(&M, (mock_route){.path = "/classify", .body_has = "sst", .file = "classify_2class_vllm.json"});
    mock_route_add(&M, (mock_route){.path = "/classify", .file = "classify_vllm.json"});
    gh_backend_params p = test_params();
    gh_backend *b = NULL;
    assert_ok(gh_backend_open(mock_url(&M, ""), &p, &b));
    gh_rm_score *r = NULL;
    assert_ok(gh_backend_score(b, "Q", "A", &r)); /* /pooling 404, then /classify */
    assert_int_equal(mock_count(&M, "/pooling"), 1);
    assert_true(fabs(r->score - 2.0) < 1e-9); /* logit(0.8808) */
    gh_rm_score_free(r);
    assert_int_equal(gh_backend_score(b, "sst", "x", &r), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), "2 classes");
    gh_backend_free(b);

    /* a plain /v1/rewards on a generic server */
    mock_routes_clear(&M);
    mock_route_add(&M, (mock_route){.method = "GET", .path = "/v1/models", .text = "{\"object\":\"list\",\"data\":[{\"id\":\"rm\",\"object\":\"model\",\"owned_by\":\"me\"}]}"});
    mock_route_add(&M, (mock_route){.path = "/v1/rewards", .file = "rewards_plain.json"});
    assert_ok(gh_backend_open(mock_url(&M, ""), &p, &b));
    assert_ok(gh_backend_score(b, "P", "R", &r));
    assert_contains(last_body("/v1/rewards"), "\"prompt\":\"P\",\"response\":\"R\"");
    assert_true(fabs(r->score + 1.5) < 1e-12);
    assert_int_equal(r->pooled_token, -1);
    /* it says nothing of the tokens: unknown, not 0 */
    assert_int_equal(r->n_tokens, -1);
    assert_int_equal(r->pooled_token_id, -1);
    assert_null(r->tokens);
    gh_rm_score_free(r);
    gh_backend_free(b);

    /* token ids in the answer are taken, and checked */
    static const char *tok_answers[5] = {
        "{\"data\":[{\"score\":2,\"n_tokens\":3,\"tokens\":[1,5,9],\"pooled_token_id\":9,\"eos_appended\":true}]}",
        "{\"data\":[{\"score\":2,\"n_tokens\":3,\"tokens\":[1,\"x\",9]}]}",
        "{\"data\":[{\"score\":2,\"n_tokens\":4,\"tokens\":[1,5,9]}]}",
        "{\"data\":[{\"score\":2,\"pooled_token_id\":2.5}]}",
        "{\"data\":[{\"score\":2,\"eos_appended\":\"yes\"}]}"};
    static const char *tok_errors[5] = {NULL, "\"tokens\"[1] is not a token id", "not an array of n_tokens (4) ids",
                                        "\"pooled_token_id\" is 2.5, not a token id", "\"eos_appended\" is not true or false"};
    for (int k = 0; k < 5; k++) {
        mock_routes_clear(&M);
        mock_route_add(&M, (mock_route){.method = "GET", .path = "/v1/models", .text = "{\"object\":\"list\",\"data\":[{\"id\":\"rm\",\"object\":\"model\",\"owned_by\":\"me\"}]}"});
        mock_route_add(&M, (mock_route){.path = "/v1/rewards", .text = tok_answers[k]});
        assert_ok(gh_backend_open(mock_url(&M, ""), &p, &b));
        r = NULL;
        if (k == 0) {
            assert_ok(gh_backend_score(b, "P", "R", &r));
            assert_int_equal(r->n_tokens, 3);
            assert_int_equal(r->tokens[1], 5);
            assert_int_equal(r->pooled_token_id, 9);
            assert_true(r->eos_appended);
            gh_rm_score_free(r);
        } else {
            assert_int_equal(gh_backend_score(b, "P", "R", &r), GH_ERR_FORMAT);
            assert_null(r);
            assert_contains(gh_last_error(), tok_errors[k]);
        }
        gh_backend_free(b);
    }

    /* none of the three */
    mock_routes_clear(&M);
    mock_route_add(&M, (mock_route){.method = "GET", .path = "/v1/models", .text = "{\"object\":\"list\",\"data\":[{\"id\":\"lm\",\"object\":\"model\",\"owned_by\":\"me\"}]}"});
    assert_ok(gh_backend_open(mock_url(&M, ""), &p, &b));
    assert_int_equal(gh_backend_score(b, "P", "R", &r), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), "gives no reward scores");
    assert_contains(gh_last_error(), "/v1/rewards answered 'HTTP 404: Not Found'");
    gh_backend_free(b);
}

/* ---- probes on a server's hidden states: checked against its model ---- */

/* A server that offers hidden states reports its model file's SHA-256 in
 * /v1/models' meta (goodhart serve does); a probe trained on another model
 * is refused, and so is one that cannot be checked: a server that reports no
 * hash (or a malformed one). */
static void test_probe_needs_the_servers_model_hash(void **st) {
    (void)st;
    static const char *want = "1111111111111111111111111111111111111111111111111111111111111111";
    gh_probe *pr = NULL;
    assert_ok(gh_probe_init(&pr, GH_PROBE_LOGREG, 8));
    pr->layer = 2;
    snprintf(pr->pool, sizeof pr->pool, "mean");
    snprintf(pr->model_sha256, sizeof pr->model_sha256, "%s", want);
    const char *path = tu_tmp("probe-http.gguf");
    assert_ok(gh_probe_save(pr, path));
    gh_probe_free(pr);
    char spec[4200];
    snprintf(spec, sizeof spec, "probe:%s", path);
    static const char *fmt = "{\"object\":\"list\",\"data\":[{\"id\":\"lm\",\"object\":\"model\",\"owned_by\":\"goodhart\","
                             "\"meta\":{\"n_embd\":8,\"n_layer\":4,%s\"capabilities\":[\"generate\",\"hidden\",\"tokenize\"]}}]}";
    const char *shas[4] = {"", "\"sha256\":\"ABC\",",
                           "\"sha256\":\"2222222222222222222222222222222222222222222222222222222222222222\",",
                           "\"sha256\":\"1111111111111111111111111111111111111111111111111111111111111111\","};
    const gh_status expect[4] = {GH_ERR_UNSUPPORTED, GH_ERR_UNSUPPORTED, GH_ERR_MISMATCH, GH_OK};
    static char models[4][512];
    for (int i = 0; i < 4; i++) {
        snprintf(models[i], sizeof models[i], fmt, shas[i]);
        mock_routes_clear(&M);
        mock_route_add(&M, (mock_route){.method = "GET", .path = "/v1/models", .text = models[i]});
        gh_backend *b = open_mock("");
        gh_reward *r = NULL;
        assert_int_equal(gh_reward_parse(spec, "S", b, &r), expect[i]);
        if (i < 2) {
            assert_null(gh_backend_model_sha256(b));
            assert_contains(gh_last_error(), "does not report its model's SHA-256");
        } else if (i == 2) {
            assert_contains(gh_last_error(), "trained on the model with SHA-256 1111");
            assert_contains(gh_last_error(), "(2222");
        } else {
            assert_string_equal(gh_backend_model_sha256(b), want);
        }
        gh_reward_free(r);
        gh_backend_free(b);
    }
    /* a reward head (head:) the same way, and its width against n_embd */
    const char *head = tu_tmp("head-http.gguf");
    gh_gguf_writer *gw = NULL;
    float wv[8] = {0.5f, -0.25f, 0, 1, 0, 0, 0, 2};
    int64_t ne[1] = {8};
    assert_ok(gh_gguf_writer_init(&gw));
    assert_ok(gh_gguf_set_str(gw, "general.architecture", "goodhart.head"));
    assert_ok(gh_gguf_set_str(gw, "goodhart.head.kind", "bradley-terry"));
    assert_ok(gh_gguf_set_u32(gw, "goodhart.head.layer", 2));
    assert_ok(gh_gguf_set_str(gw, "goodhart.head.pool", "mean"));
    assert_ok(gh_gguf_set_str(gw, "goodhart.head.span", "response"));
    assert_ok(gh_gguf_set_str(gw, "goodhart.head.model_sha256", want));
    assert_ok(gh_gguf_add_tensor(gw, "head.weight", GH_TYPE_F32, 1, ne, wv));
    assert_ok(gh_gguf_writer_write(gw, head));
    gh_gguf_writer_free(gw);
    snprintf(spec, sizeof spec, "head:%s", head);
    for (int i = 0; i < 5; i++) {
        if (i < 4) snprintf(models[i], sizeof models[i], fmt, shas[i]);
        else { /* the right model's hash, but 9 features */
            snprintf(models[i % 4], sizeof models[0], fmt, shas[3]);
            char *e = strstr(models[i % 4], "\"n_embd\":8");
            assert_non_null(e);
            e[9] = '9';
        }
        mock_routes_clear(&M);
        mock_route_add(&M, (mock_route){.method = "GET", .path = "/v1/models", .text = models[i % 4]});
        gh_backend *b = open_mock("");
        gh_reward *r = NULL;
        assert_int_equal(gh_reward_parse(spec, "S", b, &r), i < 4 ? expect[i] : GH_ERR_MISMATCH);
        if (i < 2) assert_contains(gh_last_error(), "does not report its model's SHA-256");
        else if (i == 2) assert_contains(gh_last_error(), "not on");
        else if (i == 4) assert_contains(gh_last_error(), "the head has 8 features");
        gh_reward_free(r);
        gh_backend_free(b);
    }
}

/* ---- errors ---- */

static void test_error_messages(void **st) {
    (void)st;
    vllm_routes();
    mock_route_add(&M, (mock_route){.path = "/v1/completions", .status = 400, .file = "error_openai.json"});
    mock_route_add(&M, (mock_route){.path = "/v1/embeddings", .status = 422, .file = "error_fastapi.json"});
    mock_route_add(&M, (mock_route){.path = "/v1/chat/completions", .text = "<html>oops</html>"});
    gh_backend *b = open_mock("");
    gh_sampler_params sp = gh_sampler_default_params();
    gh_samples *S = NULL;
    assert_int_equal(gh_backend_generate(b, "x", &sp, 1, &S), GH_ERR_NETWORK);
    assert_contains(gh_last_error(), "POST ");
    assert_contains(gh_last_error(), mock_url(&M, "/completions"));
    assert_contains(gh_last_error(), "HTTP 400: This model's maximum context length is 4097 tokens");
    assert_int_equal(mock_count(&M, "/v1/completions"), 1); /* a 400 is not retried */
    gh_embedding *e = NULL;
    assert_int_equal(gh_backend_embed(b, "x", NULL, &e), GH_ERR_NETWORK);
    assert_contains(gh_last_error(), "HTTP 422: Field required");
    gh_chat_msg m = {"user", "hi"};
    assert_int_equal(gh_backend_chat(b, &m, 1, &sp, 1, &S), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "not a JSON object");
    gh_backend_free(b);

    char msg[256];
    gh_http_error_message("{\"object\":\"error\",\"message\":\"bad thing\",\"code\":400}", msg, sizeof msg);
    assert_string_equal(msg, "bad thing");
    gh_http_error_message("plain text\nbody", msg, sizeof msg);
    assert_string_equal(msg, "plain text body");
}

static void test_api_key(void **st) {
    (void)st;
    vllm_routes();
    gh_backend_params p = test_params();
    p.api_key_env = "GH_TEST_HTTP_KEY_UNSET";
    gh_backend *b = NULL;
    unsetenv("GH_TEST_HTTP_KEY_UNSET");
    assert_int_equal(gh_backend_open(mock_url(&M, ""), &p, &b), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "GH_TEST_HTTP_KEY_UNSET is not set");
    assert_int_equal(M.n_log, 0);
    setenv("GH_TEST_HTTP_KEY", "sk-test-123", 1);
    p.api_key_env = "GH_TEST_HTTP_KEY";
    assert_ok(gh_backend_open(mock_url(&M, ""), &p, &b));
    assert_string_equal(M.log[0].auth, "Bearer sk-test-123");
    gh_backend_free(b);
    p.api_key_env = NULL;
    assert_ok(gh_backend_open(mock_url(&M, ""), &p, &b));
    assert_string_equal(M.log[1].auth, "");
    gh_backend_free(b);
}

/* ---- faults ---- */

/* One 429 with this Retry-After, then success: the client must wait at
 * least min_gap seconds between the two calls (the backoff alone would have
 * waited at most 0.25 s). */
static void check_retry_after(const char *retry_after, double min_gap) {
    vllm_routes();
    mock_route_add(&M, (mock_route){.path = "/v1/embeddings", .status = 429, .retry_after = retry_after, .times = 1,
                                    .file = "error_ratelimit_openai.json"});
    mock_route_add(&M, (mock_route){.path = "/v1/embeddings", .file = "embeddings_openai.json"});
    gh_backend *b = open_mock("");
    gh_embedding *e = NULL;
    assert_ok(gh_backend_embed(b, "x", NULL, &e));
    gh_embedding_free(e);
    assert_int_equal(mock_count(&M, "/v1/embeddings"), 2);
    double t0 = 0, t1 = 0;
    for (int i = 0, k = 0; i < M.n_log; i++)
        if (!strcmp(M.log[i].path, "/v1/embeddings")) { if (k++ == 0) t0 = M.log[i].t; else t1 = M.log[i].t; }
    assert_true(t1 - t0 >= min_gap);
    gh_backend_free(b);
}

static void test_retry_after_is_honoured(void **st) {
    (void)st;
    check_retry_after("1", 0.99);
}

/* Retry-After as an HTTP date (RFC 9110: an IMF-fixdate), `secs` from now. */
static const char *http_date_in(int secs, char *buf, size_t n) {
    time_t t = time(NULL) + secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

static void test_retry_after_http_date(void **st) {
    (void)st;
    char date[64];
    /* two seconds ahead, in whole seconds: the retry comes at least 1 s later */
    check_retry_after(http_date_in(2, date, sizeof date), 0.95);
}

/* A Retry-After longer than the client's limit (300 s by default), in seconds
 * or as a date, is not waited out: the call fails at once, saying so. */
static void test_retry_after_too_long_is_refused(void **st) {
    (void)st;
    char date[64];
    const char *waits[] = {"3600", http_date_in(7200, date, sizeof date)};
    for (int w = 0; w < 2; w++) {
        mock_routes_clear(&M);
        vllm_routes();
        mock_route_add(&M, (mock_route){.path = "/v1/embeddings", .status = 503, .retry_after = waits[w],
                                        .text = "{\"error\":{\"message\":\"maintenance\"}}"});
        gh_backend *b = open_mock("");
        int before = mock_count(&M, "/v1/embeddings");
        gh_embedding *e = NULL;
        assert_int_equal(gh_backend_embed(b, "x", NULL, &e), GH_ERR_NETWORK);
        assert_null(e);
        assert_contains(gh_last_error(), "HTTP 503: maintenance");
        assert_contains(gh_last_error(), "longer than the 300 s this client waits");
        assert_contains(gh_last_error(), w == 0 ? "retry after 3600 s" : "retry after 7");
        assert_int_equal(mock_count(&M, "/v1/embeddings") - before, 1); /* asked once, not retried */
        gh_backend_free(b);
    }
}

static void test_5xx_then_success(void **st) {
    (void)st;
    vllm_routes();
    mock_route_add(&M, (mock_route){.path = "/v1/embeddings", .status = 503, .times = 1, .text = "{\"error\":{\"message\":\"overloaded\"}}"});
    mock_route_add(&M, (mock_route){.path = "/v1/embeddings", .status = 500, .times = 1, .text = "{\"error\":{\"message\":\"oops\"}}"});
    mock_route_add(&M, (mock_route){.path = "/v1/embeddings", .file = "embeddings_openai.json"});
    gh_backend *b = open_mock("");
    gh_embedding *e = NULL;
    assert_ok(gh_backend_embed(b, "x", NULL, &e));
    assert_int_equal(e->dim, 4);
    gh_embedding_free(e);
    assert_int_equal(mock_count(&M, "/v1/embeddings"), 3);
    /* more failures than retries: the last one is reported */
    mock_routes_clear(&M);
    mock_route_add(&M, (mock_route){.path = "/v1/embeddings", .status = 502, .text = "{\"error\":{\"message\":\"bad gateway\"}}"});
    assert_int_equal(gh_backend_embed(b, "y", NULL, &e), GH_ERR_NETWORK);
    assert_contains(gh_last_error(), "HTTP 502: bad gateway (after 3 attempts)");
    gh_backend_free(b);
}

static void test_hung_server_times_out(void **st) {
    (void)st;
    vllm_routes();
    mock_route_add(&M, (mock_route){.path = "/v1/embeddings", .hang_ms = 5000, .file = "embeddings_openai.json"});
    gh_backend_params p = test_params();
    p.timeout_s = 0.3;
    p.max_retries = 1;
    gh_backend *b = NULL;
    assert_ok(gh_backend_open(mock_url(&M, ""), &p, &b));
    gh_embedding *e = NULL;
    assert_int_equal(gh_backend_embed(b, "x", NULL, &e), GH_ERR_NETWORK);
    assert_contains(gh_last_error(), "no complete answer within the 0.3 s timeout");
    assert_contains(gh_last_error(), "(after 2 attempts)");
    assert_int_equal(mock_count(&M, "/v1/embeddings"), 2);
    gh_backend_free(b);
}

typedef struct opener { const char *url; gh_backend_params p; gh_status s; gh_backend *b; char err[512]; } opener;

static void *open_thread(void *arg) {
    opener *o = arg;
    o->s = gh_backend_open(o->url, &o->p, &o->b);
    snprintf(o->err, sizeof o->err, "%s", gh_last_error());
    return NULL;
}

static void test_connection_refused_then_up(void **st) {
    (void)st;
    int port = M.port;
    mock_stop(&M); /* nobody listens on the port now */
    vllm_routes();
    opener o = {.url = mock_url(&M, ""), .p = test_params()};
    o.p.max_retries = 6;
    pthread_t th;
    pthread_create(&th, NULL, open_thread, &o);
    usleep(300000);
    assert_true(mock_start(&M, port));
    pthread_join(th, NULL);
    if (o.s) fprintf(stderr, "%s\n", o.err);
    assert_int_equal(o.s, GH_OK);
    assert_int_equal(mock_count(&M, "/v1/models"), 1);
    gh_backend_free(o.b);
    /* nobody ever comes: the error says so */
    mock_stop(&M);
    gh_backend_params p = test_params();
    p.max_retries = 1;
    gh_backend *b = NULL;
    assert_int_equal(gh_backend_open(mock_url(&M, ""), &p, &b), GH_ERR_NETWORK);
    assert_contains(gh_last_error(), "GET http://127.0.0.1:");
    assert_contains(gh_last_error(), "onnect");
}

static void test_inflight_bound(void **st) {
    (void)st;
    vllm_routes();
    mock_route_add(&M, (mock_route){.path = "/v1/completions", .hang_ms = 40, .file = "completion_vllm.json"});
    gh_backend_params p = test_params();
    p.max_inflight = 3;
    gh_backend *b = NULL;
    assert_ok(gh_backend_open(mock_url(&M, ""), &p, &b));
    gh_sampler_params sp = gh_sampler_default_params();
    gh_samples *S = NULL;
    assert_ok(gh_backend_generate(b, "x", &sp, 12, &S));
    assert_int_equal(mock_count(&M, "/v1/completions"), 12);
    assert_true(M.max_active >= 1 && M.max_active <= 3);
    for (int i = 0; i < 12; i++) assert_string_equal(S->samples[i].text, " a small village");
    gh_samples_free(S);
    gh_backend_free(b);
}

typedef struct gen_thread { gh_backend *b; gh_status st; gh_samples *S; } gen_thread;

static void *gen_thread_fn(void *arg) {
    gen_thread *g = arg;
    gh_sampler_params sp = gh_sampler_default_params();
    g->st = gh_backend_generate(g->b, "x", &sp, 4, &g->S);
    return NULL;
}

static void test_inflight_bound_across_threads(void **st) {
    (void)st;
    vllm_routes();
    mock_route_add(&M, (mock_route){.path = "/v1/completions", .hang_ms = 30, .file = "completion_vllm.json"});
    gh_backend_params p = test_params();
    p.max_inflight = 2;
    gh_backend *b = NULL;
    assert_ok(gh_backend_open(mock_url(&M, ""), &p, &b));
    gen_thread g[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) { g[i] = (gen_thread){.b = b}; pthread_create(&th[i], NULL, gen_thread_fn, &g[i]); }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(g[i].st, GH_OK);
        assert_int_equal(g[i].S->n, 4);
        gh_samples_free(g[i].S);
    }
    assert_int_equal(mock_count(&M, "/v1/completions"), 16);
    assert_true(M.max_active >= 1 && M.max_active <= 2);
    gh_backend_free(b);
}

/* ---- the response cache ---- */

static void run_experiment(const char *url, const char *cache, gh_samples **S, gh_logprobs **L) {
    gh_backend_params p = test_params();
    p.cache_path = cache;
    p.max_retries = 0;
    gh_backend *b = NULL;
    assert_ok(gh_backend_open(url, &p, &b));
    gh_sampler_params sp = gh_sampler_default_params();
    sp.seed = 11;
    assert_ok(gh_backend_generate(b, "Once", &sp, 4, S));
    assert_ok(gh_backend_logprob(b, "The capital of France is", " Paris", 2, L));
    gh_backend_free(b);
}

static void test_cache_repeated_run_sends_nothing(void **st) {
    (void)st;
    vllm_routes();
    vllm_tokenize_routes();
    mock_route_add(&M, (mock_route){.path = "/v1/completions", .body_has = "\"echo\":true", .file = "completion_echo_vllm.json"});
    mock_route_add(&M, (mock_route){.path = "/v1/completions", .file = "completion_vllm.json"});
    const char *cache = tu_tmp("http-cache.db");
    gh_samples *S1 = NULL, *S2 = NULL;
    gh_logprobs *L1 = NULL, *L2 = NULL;
    run_experiment(mock_url(&M, ""), cache, &S1, &L1);
    int sent = M.n_log;
    assert_int_equal(sent, 1 + 4 + 2 + 1); /* models, 4 samples, 2 tokenize, echo */
    /* the server is gone: the repeat is answered from the cache alone */
    mock_stop(&M);
    run_experiment(mock_url(&M, ""), cache, &S2, &L2);
    assert_int_equal(M.n_log, sent);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(S1->samples[i].text, S2->samples[i].text);
        assert_true(S1->samples[i].logprob == S2->samples[i].logprob);
    }
    assert_true(L1->total == L2->total && L1->n == L2->n);
    gh_samples_free(S1); gh_samples_free(S2);
    gh_logprobs_free(L1); gh_logprobs_free(L2);
    /* a different seed is a different request */
    gh_backend_params p = test_params();
    p.cache_path = cache;
    p.max_retries = 0;
    gh_backend *b = NULL;
    assert_ok(gh_backend_open(mock_url(&M, ""), &p, &b));
    gh_sampler_params sp = gh_sampler_default_params();
    sp.seed = 12;
    assert_int_equal(gh_backend_generate(b, "Once", &sp, 1, &S1), GH_ERR_NETWORK);
    gh_backend_free(b);
    /* errors were never cached: 7 answers + /v1/models */
    gh_http_cache *c = NULL;
    assert_ok(gh_http_cache_open(cache, &c));
    int64_t n = 0;
    assert_ok(gh_http_cache_count(c, &n));
    assert_int_equal(n, 8);
    gh_http_cache_close(c);
}

static void writer(const char *path, int who, int n, bool die) {
    gh_http_cache *c = NULL;
    if (gh_http_cache_open(path, &c)) _exit(2);
    char url[64], body[64], resp[64];
    for (int i = 0; i < n; i++) {
        /* half the keys are shared by every writer (same request, same answer) */
        int key = i % 2 ? i : 1000 * (who + 1) + i;
        snprintf(url, sizeof url, "http://h/v1/x%d", key);
        snprintf(body, sizeof body, "{\"k\":%d}", key);
        snprintf(resp, sizeof resp, "{\"answer\":%d}", key);
        if (gh_http_cache_put(c, "POST", url, body, resp, strlen(resp))) _exit(3);
    }
    if (die) raise(SIGKILL); /* no close, no checkpoint */
    gh_http_cache_close(c);
    _exit(0);
}

static void test_cache_concurrent_writers_and_kill9(void **st) {
    (void)st;
    const char *path = tu_tmp("http-cache-conc.db");
    enum { W = 4, N = 60 };
    pid_t pids[W];
    for (int w = 0; w < W; w++) {
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) writer(path, w, N, w == W - 1);
    }
    for (int w = 0; w < W; w++) {
        int status = 0;
        waitpid(pids[w], &status, 0);
        if (w == W - 1) assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        else assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    gh_http_cache *c = NULL;
    assert_ok(gh_http_cache_open(path, &c));
    int64_t n = 0;
    assert_ok(gh_http_cache_count(c, &n));
    assert_int_equal(n, W * (N / 2) + N / 2); /* private keys of each + the shared ones once */
    for (int w = 0; w < W; w++)
        for (int i = 0; i < N; i++) {
            int key = i % 2 ? i : 1000 * (w + 1) + i;
            char url[64], body[64], want[64];
            snprintf(url, sizeof url, "http://h/v1/x%d", key);
            snprintf(body, sizeof body, "{\"k\":%d}", key);
            snprintf(want, sizeof want, "{\"answer\":%d}", key);
            char *v = NULL;
            size_t len = 0;
            assert_ok(gh_http_cache_get(c, "POST", url, body, &v, &len));
            assert_non_null(v);
            assert_string_equal(v, want);
            free(v);
        }
    /* a different method, URL or body is a miss */
    char *v = NULL;
    assert_ok(gh_http_cache_get(c, "GET", "http://h/v1/x1", "{\"k\":1}", &v, NULL));
    assert_null(v);
    assert_ok(gh_http_cache_get(c, "POST", "http://h/v1/x1", "{\"k\": 1}", &v, NULL));
    assert_null(v);
    gh_http_cache_close(c);
}

/* kill -9 in the middle of the writes: W writers put entries as fast as they
 * can, each reporting through a pipe every put that has returned; all are
 * killed while still writing. The file then passes SQLite's full integrity
 * check and holds every reported entry (at most one more per writer: a put
 * that committed but was not yet reported). */
static void writer_reporting(const char *path, int who, int fd) {
    gh_http_cache *c = NULL;
    if (gh_http_cache_open(path, &c)) _exit(2);
    char url[64], body[64], resp[1200];
    for (int i = 0; i < 1000000; i++) {
        snprintf(url, sizeof url, "http://h/v1/w%d", who);
        snprintf(body, sizeof body, "{\"i\":%d}", i);
        int k = snprintf(resp, sizeof resp, "{\"answer\":%d,\"pad\":\"", i);
        memset(resp + k, 'x', 1000);
        snprintf(resp + k + 1000, sizeof resp - (size_t)k - 1000, "\"}");
        if (gh_http_cache_put(c, "POST", url, body, resp, strlen(resp))) _exit(3);
        if (write(fd, &i, sizeof i) != (ssize_t)sizeof i) _exit(4);
    }
    _exit(5); /* never reached: killed long before */
}

static void test_cache_kill9_mid_writes(void **st) {
    (void)st;
    const char *path = tu_tmp("http-cache-midkill.db");
    enum { W = 3, BEFORE_KILL = 40 };
    pid_t pids[W];
    int fds[W][2], reported[W];
    for (int w = 0; w < W; w++) {
        assert_int_equal(pipe(fds[w]), 0);
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) {
            close(fds[w][0]);
            writer_reporting(path, w, fds[w][1]);
        }
        close(fds[w][1]);
        reported[w] = 0;
    }
    /* wait until each has BEFORE_KILL puts done, then kill them all while they write on */
    int idx;
    for (int w = 0; w < W; w++)
        while (reported[w] < BEFORE_KILL && read(fds[w][0], &idx, sizeof idx) == (ssize_t)sizeof idx) {
            assert_int_equal(idx, reported[w]);
            reported[w]++;
        }
    for (int w = 0; w < W; w++) kill(pids[w], SIGKILL);
    for (int w = 0; w < W; w++) {
        int status = 0;
        assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL); /* killed, not finished */
        while (read(fds[w][0], &idx, sizeof idx) == (ssize_t)sizeof idx) {
            assert_int_equal(idx, reported[w]);
            reported[w]++;
        }
        close(fds[w][0]);
        assert_true(reported[w] >= BEFORE_KILL);
    }
    /* the file is sound */
    gh_store *sto = NULL;
    assert_ok(gh_store_open(path, &sto));
    assert_ok(gh_store_verify(sto));
    gh_store_close(sto);
    /* and every completed write is there, with its value */
    gh_http_cache *c = NULL;
    assert_ok(gh_http_cache_open(path, &c));
    int64_t n = 0, total = 0;
    assert_ok(gh_http_cache_count(c, &n));
    for (int w = 0; w < W; w++) {
        total += reported[w];
        char url[64], body[64], want[32];
        snprintf(url, sizeof url, "http://h/v1/w%d", w);
        for (int i = 0; i <= reported[w]; i++) {
            snprintf(body, sizeof body, "{\"i\":%d}", i);
            snprintf(want, sizeof want, "{\"answer\":%d,\"pad\":\"", i);
            char *v = NULL;
            size_t len = 0;
            assert_ok(gh_http_cache_get(c, "POST", url, body, &v, &len));
            if (i < reported[w]) {
                assert_non_null(v);
                assert_int_equal(len, strlen(want) + 1000 + 2);
                assert_int_equal(memcmp(v, want, strlen(want)), 0);
            }
            free(v);
        }
    }
    assert_true(n >= total && n <= total + W);
    gh_http_cache_close(c);
}

/* A client killed (kill -9) part-way through an experiment of N calls, then
 * run again with the same cache: the rerun sends only the calls the killed run
 * did not get answers for (the mock counts them), and none it had. */
enum { E2E_N = 12 };

static void e2e_prompt(int k, char *buf, size_t n) { snprintf(buf, n, "Experiment prompt %02d", k); }

static gh_status e2e_run(const char *url, const char *cache, int report_fd, gh_samples **res) {
    gh_backend_params p = test_params();
    p.cache_path = cache;
    gh_backend *b = NULL;
    gh_status s = gh_backend_open(url, &p, &b);
    gh_sampler_params sp = gh_sampler_default_params();
    sp.seed = 5;
    for (int k = 0; k < E2E_N && !s; k++) {
        char prompt[64];
        e2e_prompt(k, prompt, sizeof prompt);
        gh_samples *S = NULL;
        s = gh_backend_generate(b, prompt, &sp, 1, &S);
        if (!s && report_fd >= 0 && write(report_fd, &k, sizeof k) != (ssize_t)sizeof k) s = GH_ERR_IO;
        if (res) res[k] = S;
        else gh_samples_free(S);
    }
    gh_backend_free(b);
    return s;
}

static void test_cache_client_killed_rerun_pays_the_rest(void **st) {
    (void)st;
    vllm_routes();
    mock_route_add(&M, (mock_route){.path = "/v1/completions", .hang_ms = 40, .file = "completion_vllm.json"});
    const char *cache = tu_tmp("http-cache-e2e.db");
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    /* The client is this binary run again (--e2e-child), not a forked copy:
     * the mock server's thread may hold the sanitizer allocator's lock at
     * the fork, and a forked child that allocates then waits for it forever
     * (seen once under ASan). After exec the child starts clean. */
    char url[512], fds[16];
    snprintf(url, sizeof url, "%s", mock_url(&M, ""));
    snprintf(fds, sizeof fds, "%d", fd[1]);
    char *const args[] = {"test_http", "--e2e-child", url, (char *)cache, fds, NULL};
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        execv("/proc/self/exe", args);
        _exit(127);
    }
    close(fd[1]);
    bool done[E2E_N] = {false};
    int k, n_done = 0;
    while (n_done < 5 && read(fd[0], &k, sizeof k) == (ssize_t)sizeof k) { done[k] = true; n_done++; }
    kill(pid, SIGKILL);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    while (read(fd[0], &k, sizeof k) == (ssize_t)sizeof k) { done[k] = true; n_done++; }
    close(fd[0]);
    assert_true(n_done >= 5 && n_done < E2E_N);
    usleep(200000); /* a request the dead client had written reaches the mock's log now, not during the rerun */
    int sent_before = M.n_log;
    /* the answers the killed client had stored: the model list and n_done or
     * n_done + 1 completions (one answered and stored, not yet reported) */
    gh_http_cache *c = NULL;
    int64_t stored = 0;
    assert_ok(gh_http_cache_open(cache, &c));
    assert_ok(gh_http_cache_count(c, &stored));
    gh_http_cache_close(c);
    stored -= 1;
    assert_true(stored == n_done || stored == n_done + 1);
    /* the rerun completes and pays for the rest only */
    gh_samples *res[E2E_N] = {NULL};
    assert_ok(e2e_run(mock_url(&M, ""), cache, -1, res));
    int paid = M.n_log - sent_before;
    assert_int_equal(paid, E2E_N - (int)stored);
    for (int i = sent_before; i < M.n_log; i++) {
        assert_string_equal(M.log[i].path, "/v1/completions"); /* not even /v1/models */
        for (int j = 0; j < E2E_N; j++) {
            char prompt[64];
            e2e_prompt(j, prompt, sizeof prompt);
            if (done[j]) assert_null(strstr(M.log[i].body, prompt));
        }
    }
    for (int j = 0; j < E2E_N; j++) {
        assert_non_null(res[j]);
        assert_string_equal(res[j]->samples[0].text, " a small village");
        gh_samples_free(res[j]);
    }
    /* a third run pays nothing */
    int before = M.n_log;
    assert_ok(e2e_run(mock_url(&M, ""), cache, -1, NULL));
    assert_int_equal(M.n_log, before);
}

int main(int argc, char **argv) {
    /* the killed client of test_cache_client_killed_rerun_pays_the_rest */
    if (argc == 5 && !strcmp(argv[1], "--e2e-child")) return e2e_run(argv[2], argv[3], atoi(argv[4]), NULL) ? 1 : 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_vllm_generate_per_sample_seeds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe_needs_the_servers_model_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openai_generate_plain_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openai_chat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logprob_openai_echo_text_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokenize_rejects_bad_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logprob_vllm_echo_with_tokenize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logprob_vllm_falls_back_to_prompt_logprobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logprob_llamacpp_says_why_not, setup, teardown),
        cmocka_unit_test_setup_teardown(test_embeddings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_embeddings_normalised, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewards_vllm_pooling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewards_classify_and_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_is_honoured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_http_date, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_too_long_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5xx_then_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hung_server_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused_then_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inflight_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inflight_bound_across_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_repeated_run_sends_nothing, setup, teardown),
        cmocka_unit_test(test_cache_concurrent_writers_and_kill9),
        cmocka_unit_test(test_cache_kill9_mid_writes),
        cmocka_unit_test_setup_teardown(test_cache_client_killed_rerun_pays_the_rest, setup, teardown),
    };
    return cmocka_run_group_tests_name("backend/http", tests, NULL, NULL);
}
