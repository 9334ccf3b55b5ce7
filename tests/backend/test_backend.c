/* Tests of the backend interface on the local runtime: reproducible sampling,
 * sampler filters, teacher-forced log-probabilities with the one-token shift,
 * hidden-state pooling, capability errors. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "goodhart/backend.h"
#include "sample/sampler.h"

static gh_backend *open_b(int threads, int n_seq_max) {
    gh_backend_params p = gh_backend_default_params();
    p.n_threads = threads;
    if (n_seq_max) p.n_seq_max = n_seq_max;
    gh_backend *b = NULL;
    assert_ok(gh_backend_open(tu_stories_gguf(), &p, &b));
    return b;
}

static void assert_same_tokens(const gh_sample *a, const gh_sample *b) {
    assert_int_equal(a->n_tokens, b->n_tokens);
    assert_memory_equal(a->tokens, b->tokens, (size_t)a->n_tokens * sizeof(int32_t));
    assert_string_equal(a->text, b->text);
    assert_true(a->logprob == b->logprob);
}

static void assert_same_sample(const gh_sample *a, const gh_sample *b) {
    assert_int_equal(a->index, b->index);
    assert_same_tokens(a, b);
}

/* Sample i depends on (seed, i) only: not on how many samples were drawn with
 * it, how they were batched, or the thread count. */
static void test_samples_reproducible(void **state) {
    (void)state;
    gh_sampler_params sp = gh_sampler_default_params();
    sp.temp = 0.9f;
    sp.top_p = 0.95f;
    sp.seed = 1234;
    sp.max_tokens = 40;
    gh_backend *b16 = open_b(2, 16), *b3 = open_b(1, 3);
    gh_samples *all, *few, *one;
    assert_ok(gh_backend_generate(b16, "Once upon a time", &sp, 7, &all));
    assert_ok(gh_backend_generate(b3, "Once upon a time", &sp, 7, &few));
    for (int i = 0; i < 7; i++) assert_same_sample(&all->samples[i], &few->samples[i]);
    sp.first_sample = 5;
    assert_ok(gh_backend_generate(b16, "Once upon a time", &sp, 1, &one));
    assert_same_sample(&all->samples[5], &one->samples[0]);
    /* different indices give different samples */
    int distinct = 0;
    for (int i = 1; i < 7; i++) distinct += strcmp(all->samples[i].text, all->samples[0].text) != 0;
    assert_true(distinct >= 5);
    /* the recorded log-probability is that of the unmodified model */
    gh_logprobs *lp;
    assert_ok(gh_backend_logprob_tokens(b16, all->prompt_tokens, all->n_prompt_tokens, all->samples[2].tokens,
                                        all->samples[2].n_tokens, 0, &lp));
    assert_true(fabs(lp->total - all->samples[2].logprob) < 1e-4);
    gh_logprobs_free(lp);
    gh_samples_free(all); gh_samples_free(few); gh_samples_free(one);
    gh_backend_free(b16);
    gh_backend_free(b3);
}

static void test_greedy_and_stop(void **state) {
    (void)state;
    gh_backend *b = open_b(2, 0);
    gh_sampler_params sp = gh_sampler_default_params();
    sp.temp = 0;
    sp.max_tokens = 300;
    gh_samples *s;
    assert_ok(gh_backend_generate(b, "The little dog", &sp, 3, &s));
    assert_same_tokens(&s->samples[0], &s->samples[1]); /* greedy draws nothing random */
    assert_true(!strncmp(s->samples[0].text, " was a little girl named Lily.", 30));
    assert_true(s->samples[0].n_tokens <= 300);
    assert_true(!strcmp(s->samples[0].finish, "stop") || !strcmp(s->samples[0].finish, "length"));
    gh_samples_free(s);
    sp.max_tokens = 0;
    assert_ok(gh_backend_generate(b, "The", &sp, 1, &s));
    assert_int_equal(s->samples[0].n_tokens, 0);
    assert_string_equal(s->samples[0].text, "");
    gh_samples_free(s);
    sp.max_tokens = 10000; /* longer than the context: stops at the context */
    assert_ok(gh_backend_generate(b, "The", &sp, 1, &s));
    assert_true(s->samples[0].n_tokens + s->n_prompt_tokens <= 512);
    gh_samples_free(s);
    sp.top_p = 1.5f;
    assert_int_equal(gh_backend_generate(b, "The", &sp, 1, &s), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "top_p 1.5");
    assert_int_equal(gh_backend_generate(b, "The", NULL, 0, &s), GH_ERR_INVALID_ARG);
    gh_backend_free(b);
}

/* The sampler's filters on a hand-made distribution. */
static void test_sampler_filters(void **state) {
    (void)state;
    float logits[6];
    const double p[6] = {0.4, 0.3, 0.15, 0.1, 0.04, 0.01};
    for (int i = 0; i < 6; i++) logits[i] = (float)log(p[i]);
    gh_sampler_work w;
    assert_int_equal(gh_sampler_work_init(&w, 6), 0);
    gh_sampler_params sp = gh_sampler_default_params();
    int counts[6];
    struct { float top_p; int top_k; float min_p; float eps; int allowed; } cases[] = {
        {1.0f, 0, 0, 0, 6}, {1.0f, 2, 0, 0, 2}, {0.8f, 0, 0, 0, 3}, {1.0f, 0, 0.3f, 0, 3}, {1.0f, 0, 0, 0.05f, 4},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sp.top_p = cases[c].top_p; sp.top_k = cases[c].top_k; sp.min_p = cases[c].min_p; sp.epsilon = cases[c].eps;
        memset(counts, 0, sizeof counts);
        gh_rng r;
        gh_rng_seed(&r, 9, c);
        for (int i = 0; i < 20000; i++) counts[gh_sample_token(logits, &sp, &r, &w)]++;
        double mass = 0;
        for (int i = 0; i < cases[c].allowed; i++) mass += p[i];
        for (int i = 0; i < 6; i++) {
            if (i >= cases[c].allowed) { assert_int_equal(counts[i], 0); continue; }
            double expect = p[i] / mass, got = counts[i] / 20000.0;
            assert_true(fabs(got - expect) < 0.015);
        }
    }
    sp = gh_sampler_default_params();
    sp.temp = 0;
    assert_int_equal(gh_sample_token(logits, &sp, NULL, &w), 0);
    gh_sampler_work_free(&w);
}

/* Teacher forcing: the logits after token t score token t+1. Checked against
 * logits read directly from the runtime. */
static void test_logprob_shift(void **state) {
    (void)state;
    gh_backend *b = open_b(2, 0);
    gh_logprobs *lp;
    assert_ok(gh_backend_logprob(b, "The little dog", " was a little girl", 3, &lp));
    assert_int_equal(lp->n_prompt, 5); /* BOS + 4 */
    assert_true(lp->n >= 4);
    gh_model *m = gh_backend_model(b);
    gh_ctx *c;
    assert_ok(gh_ctx_init(m, NULL, &c));
    int32_t toks[64] = {1, 291, 376, 400, 428}, seq[64] = {0};
    uint8_t want[64];
    memset(want, 1, sizeof want);
    for (int i = 0; i < lp->n; i++) toks[5 + i] = lp->tokens[i];
    assert_ok(gh_ctx_decode(c, 5 + lp->n, toks, seq, want));
    double total = 0;
    for (int i = 0; i < lp->n; i++) {
        const float *lg = gh_ctx_logits(c, 4 + i); /* position before token 5+i */
        double mx = -1e30, s = 0;
        for (int v = 0; v < 512; v++) if (lg[v] > mx) mx = lg[v];
        for (int v = 0; v < 512; v++) s += exp(lg[v] - mx);
        double want_lp = lg[lp->tokens[i]] - mx - log(s);
        assert_true(fabs(want_lp - lp->token_logprobs[i]) < 1e-5);
        total += want_lp;
        /* top-1 alternative is the argmax, sorted descending */
        int am = 0;
        for (int v = 1; v < 512; v++) if (lg[v] > lg[am]) am = v;
        assert_int_equal(lp->top_ids[i * 3], am);
        assert_true(lp->top_logprobs[i * 3] >= lp->top_logprobs[i * 3 + 1]);
        assert_true(lp->top_logprobs[i * 3 + 1] >= lp->top_logprobs[i * 3 + 2]);
    }
    assert_true(fabs(total - lp->total) < 1e-4);
    assert_true(fabs(lp->mean - lp->total / lp->n) < 1e-9);
    /* greedy text has higher probability than a shuffled one */
    gh_logprobs *bad;
    assert_ok(gh_backend_logprob(b, "The little dog", " girl little a was", 0, &bad));
    assert_true(bad->total < lp->total);
    gh_logprobs_free(bad);
    gh_logprobs_free(lp);
    /* an empty continuation scores nothing */
    assert_ok(gh_backend_logprob(b, "The little dog", "", 0, &lp));
    assert_int_equal(lp->n, 0);
    assert_true(lp->total == 0);
    gh_logprobs_free(lp);
    int32_t ctx1 = 1, badtok = 9999;
    assert_int_equal(gh_backend_logprob_tokens(b, &ctx1, 1, &badtok, 1, 0, &lp), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "token id 9999 at position 1");
    gh_ctx_free(c);
    gh_backend_free(b);
}

static void test_hidden_pooling(void **state) {
    (void)state;
    gh_backend *b = open_b(2, 0);
    int32_t layers[2] = {2, 5};
    gh_hidden *all, *mean, *last, *span;
    const char *text = "The little dog ran home.";
    assert_ok(gh_backend_hidden(b, text, layers, 2, GH_POOL_ALL, 0, 0, &all));
    assert_ok(gh_backend_hidden(b, text, layers, 2, GH_POOL_MEAN, 0, 0, &mean));
    assert_ok(gh_backend_hidden(b, text, layers, 2, GH_POOL_LAST, 0, 0, &last));
    assert_ok(gh_backend_hidden(b, text, layers, 2, GH_POOL_MEAN, 1, 3, &span));
    const int E = all->n_embd, n = all->n_tokens;
    assert_int_equal(all->n_rows, n);
    assert_int_equal(span->span_begin, 1);
    assert_int_equal(span->span_end, 3);
    for (int k = 0; k < 2; k++) {
        const float *A = all->data + (size_t)k * n * E;
        assert_memory_equal(last->data + (size_t)k * E, A + (size_t)(n - 1) * E, (size_t)E * 4);
        for (int j = 0; j < E; j++) {
            double s = 0;
            for (int t = 0; t < n; t++) s += A[t * E + j];
            assert_true(fabs(s / n - mean->data[k * E + j]) < 1e-4);
            assert_true(fabs((A[1 * E + j] + A[2 * E + j]) / 2 - span->data[k * E + j]) < 1e-4);
        }
    }
    gh_hidden *h;
    assert_int_equal(gh_backend_hidden(b, text, layers, 2, GH_POOL_LAST, 5, 3, &h), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "token span [5, 3)");
    int32_t badl = 9;
    assert_int_equal(gh_backend_hidden(b, text, &badl, 1, GH_POOL_LAST, 0, 0, &h), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "layer 9 out of range");
    gh_hidden_free(all); gh_hidden_free(mean); gh_hidden_free(last); gh_hidden_free(span);
    gh_backend_free(b);
}

static void test_references_and_caps(void **state) {
    (void)state;
    gh_backend *b = NULL;
    /* nothing listens on the discard port: a network error naming the server */
    gh_backend_params hp = gh_backend_default_params();
    hp.max_retries = 0;
    hp.timeout_s = 5;
    assert_int_equal(gh_backend_open("http://127.0.0.1:9/v1", &hp, &b), GH_ERR_NETWORK);
    assert_contains(gh_last_error(), "127.0.0.1:9");
    assert_int_equal(gh_backend_open("", NULL, &b), GH_ERR_INVALID_ARG);
    b = open_b(1, 0);
    assert_ok(gh_backend_require(b, GH_CAP_GENERATE | GH_CAP_LOGPROB | GH_CAP_HIDDEN, "test"));
    assert_int_equal(gh_backend_require(b, GH_CAP_REWARD, "rm:"), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), "(local backend) cannot give reward scores, which rm: needs");
    gh_pool pl;
    assert_true(gh_pool_from_name("mean", &pl) && pl == GH_POOL_MEAN);
    assert_false(gh_pool_from_name("max", &pl));
    gh_backend_free(b);
}

/* A chat prompt's template text reaches the model as tokens: "<s>" rendered by
 * the plain template is the BOS token, not the characters < s >; a plain
 * generate of the same text keeps user text literal (no injected tokens). */
static void test_chat_special_tokens(void **state) {
    (void)state;
    gh_backend_params bp = gh_backend_default_params();
    bp.n_threads = 1;
    bp.chat_template = "plain";
    gh_backend *b = NULL;
    assert_ok(gh_backend_open(tu_stories_gguf(), &bp, &b));
    const gh_tokenizer *tok = gh_model_tokenizer(gh_backend_model(b));
    const int32_t bos = gh_tokenizer_bos(tok);
    gh_chat_msg msgs[1] = {{"user", "Tell me a story."}};
    gh_sampler_params sp = gh_sampler_default_params();
    sp.temp = 0;
    sp.max_tokens = 4;
    gh_samples *s = NULL;
    assert_ok(gh_backend_chat(b, msgs, 1, &sp, 1, &s));
    char *rendered = NULL;
    assert_ok(gh_chat_render_for_model(gh_backend_model(b), "plain", msgs, 1, true, &rendered, NULL));
    int n_bos = 0;
    for (int32_t i = 0; i < s->n_prompt_tokens; i++) n_bos += s->prompt_tokens[i] == bos;
    if (strstr(rendered, gh_tokenizer_token_text(tok, bos))) {
        assert_int_equal(s->prompt_tokens[0], bos);
        assert_int_equal(n_bos, 1);
    }
    gh_samples_free(s);
    /* the same text through generate: literal characters, no BOS in the middle */
    sp.add_bos = 0;
    assert_ok(gh_backend_generate(b, rendered, &sp, 1, &s));
    for (int32_t i = 0; i < s->n_prompt_tokens; i++) assert_int_not_equal(s->prompt_tokens[i], bos);
    gh_samples_free(s);
    free(rendered);
    gh_backend_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples_reproducible),
        cmocka_unit_test(test_greedy_and_stop),
        cmocka_unit_test(test_sampler_filters),
        cmocka_unit_test(test_logprob_shift),
        cmocka_unit_test(test_hidden_pooling),
        cmocka_unit_test(test_references_and_caps),
        cmocka_unit_test(test_chat_special_tokens),
    };
    return cmocka_run_group_tests_name("backend/local", tests, NULL, NULL);
}
