/* Tests of rewards: every rule term against hand counts, spec parsing and its
 * errors, the Bradley–Terry fit (optimality checked independently, and against
 * scikit-learn where /usr/bin/python3 has it), and learned heads on stories260K
 * (file round trip, score = w·features, refusing another model). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/backend.h"
#include "goodhart/convert.h"
#include "goodhart/reward.h"

static double score(const char *spec, const char *resp, const char *ref) {
    gh_reward *r = NULL;
    assert_ok(gh_reward_parse(spec, NULL, NULL, &r));
    gh_reward_input in = {.prompt = "P", .response = resp, .reference = ref, .n_tokens = -1};
    double v = NAN;
    assert_ok(gh_reward_score(r, &in, &v));
    gh_reward_free(r);
    return v;
}

static void test_rule_terms(void **state) {
    (void)state;
    /* words: "It's", "a", "big", "dog", "naïve" (non-ASCII stays inside a word) */
    assert_float_equal(score("length", "It's a big, big dog! naïve", NULL), 6, 0);
    assert_float_equal(score("length:chars", "naïve", NULL), 5, 0);
    assert_float_equal(score("regex:[aeiou]", "banana", NULL), 3, 0);
    assert_float_equal(score("regex:x*", "ab", NULL), 3, 0); /* empty matches at 0, 1, 2 */
    /* whole words, case-insensitive: Happy, happy (not "happyness"), FUN */
    assert_float_equal(score("lexicon:happy,fun", "Happy happy happyness FUN fund", NULL), 3, 0);
    /* bigrams of "a b a b a b": ab ba ab ba ab -> 5, 2 distinct -> 3/5 repeat */
    assert_float_equal(score("repetition:2", "a b a b a b", NULL), 0.6, 1e-15);
    assert_float_equal(score("repetition", "a b", NULL), 0, 0); /* fewer words than the order */
    /* unigrams "the cat the dog": 4, distinct 3 */
    assert_float_equal(score("distinct", "The cat the dog", NULL), 0.75, 1e-15);
    assert_float_equal(score("exact", "  42\n", "42"), 1, 0);
    assert_float_equal(score("exact", "420", "42"), 0, 0);
    assert_float_equal(score("contains", "it is 42.", "42"), 1, 0);
    assert_float_equal(score("contains", "it is 4 2", "42"), 0, 0);
    /* weights and an escaped ';' in a regex: 2*3 - 0.5*2 */
    assert_float_equal(score("2*regex:a;-0.5*regex:\\;", "a;a;a", NULL), 2 * 3 - 0.5 * 2, 1e-15);
}

static void test_lexicon_file(void **state) {
    (void)state;
    const char *p = tu_tmp("lex.txt");
    const char *txt = "# happy words\nhappy\n\n  Smile \nfun\n";
    assert_int_equal(tu_write_file(p, txt, strlen(txt)), 0);
    char spec[512];
    snprintf(spec, sizeof spec, "lexicon:@%s", p);
    assert_float_equal(score(spec, "They smile, have fun and are happy. SMILE", NULL), 4, 0);
    const char *bad = "happy\ntwo words\n";
    assert_int_equal(tu_write_file(p, bad, strlen(bad)), 0);
    gh_reward *r = NULL;
    assert_int_not_equal(gh_reward_parse(spec, NULL, NULL, &r), GH_OK);
    assert_contains(gh_last_error(), "lex.txt:2");
    assert_contains(gh_last_error(), "not a single word");
}

static void parse_fails(const char *spec, const char *needle) {
    gh_reward *r = NULL;
    gh_status s = gh_reward_parse(spec, NULL, NULL, &r);
    assert_int_not_equal(s, GH_OK);
    assert_null(r);
    assert_contains(gh_last_error(), needle);
}

static void test_spec_errors(void **state) {
    (void)state;
    parse_fails("", "empty reward spec");
    parse_fails("lenght", "unknown reward kind 'lenght'");
    parse_fails("length:bytes", "not words, chars or tokens");
    parse_fails("regex:(ab", "missing closing parenthesis");
    parse_fails("lexicon:", "lexicon needs words");
    parse_fails("repetition:0", "not an integer in [1, 16]");
    parse_fails("x*length", "bad weight");
    parse_fails("head:none.gguf", "a head needs a model");
    parse_fails("length;lexicon:@/nonexistent/lex.txt", "term 'lexicon:@/nonexistent/lex.txt'");
    /* a reference is needed only when scoring */
    gh_reward *r = NULL;
    assert_ok(gh_reward_parse("exact", "gold", NULL, &r));
    assert_string_equal(gh_reward_name(r), "gold");
    gh_reward_input in = {.prompt = "", .response = "x", .reference = NULL, .n_tokens = -1};
    double v;
    assert_int_not_equal(gh_reward_score(r, &in, &v), GH_OK);
    assert_contains(gh_last_error(), "no reference");
    gh_reward_free(r);
}

/* L(w) = sum softplus(-w.z) + l2/2 |w|^2; at the optimum its gradient is zero. */
static void check_stationary(const float *z, int64_t n, int32_t d, double l2, const double *w) {
    for (int32_t j = 0; j < d; j++) {
        double g = l2 * w[j];
        for (int64_t k = 0; k < n; k++) {
            double m = 0;
            for (int32_t i = 0; i < d; i++) m += w[i] * z[k * d + i];
            g -= z[k * d + j] / (1 + exp(m));
        }
        assert_true(fabs(g) < 1e-7);
    }
}

static void test_bt_fit(void **state) {
    (void)state;
    enum { N = 60, D = 5 };
    float z[N * D];
    uint64_t s = 12345;
    for (int i = 0; i < N * D; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        z[i] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.3); /* skewed: a direction to learn */
    }
    double w[D];
    gh_bt_params p = gh_bt_default_params();
    p.l2 = 0.5;
    gh_bt_stats st;
    assert_ok(gh_bt_fit(z, N, D, &p, w, &st));
    check_stationary(z, N, D, p.l2, w);
    assert_true(st.accuracy > 0.6);
    assert_true(st.iters > 0 && st.iters < 30);
    /* same bits on a second fit */
    double w2[D];
    assert_ok(gh_bt_fit(z, N, D, &p, w2, NULL));
    assert_memory_equal(w, w2, sizeof w);
    /* scikit-learn, if available: logistic regression without intercept on rows
     * (z, 1) and (-z, 0) doubles the data term, so C = 1/l2 there equals ... the
     * same optimum as ours with l2/2 — compare with our fit at l2 = 0.25. */
    FILE *f = fopen(tu_tmp("z.txt"), "w");
    assert_non_null(f);
    for (int k = 0; k < N; k++) {
        for (int j = 0; j < D; j++) fprintf(f, "%.9g ", z[k * D + j]);
        fputc('\n', f);
    }
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"import numpy as np,sys\n"
             "from sklearn.linear_model import LogisticRegression as LR\n"
             "z=np.loadtxt('%s');X=np.vstack([z,-z]);y=np.r_[np.ones(len(z)),np.zeros(len(z))]\n"
             "m=LR(C=1/0.5,fit_intercept=False,tol=1e-12,max_iter=10000).fit(X,y)\n"
             "print(' '.join('%%.12g'%%v for v in m.coef_[0]))\" 2>/dev/null", tu_tmp("z.txt"));
    int rc;
    char *out = tu_run(cmd, &rc);
    if (rc == 0) {
        p.l2 = 0.25;
        assert_ok(gh_bt_fit(z, N, D, &p, w, NULL));
        char *q = out;
        for (int j = 0; j < D; j++) {
            double v = strtod(q, &q);
            assert_true(fabs(v - w[j]) < 1e-5 * (1 + fabs(v)));
        }
    } else {
        print_message("scikit-learn not available: sklearn cross-check skipped\n");
    }
    free(out);
    /* bad input */
    z[7] = NAN;
    assert_int_not_equal(gh_bt_fit(z, N, D, &p, w, NULL), GH_OK);
    assert_contains(gh_last_error(), "pair 1, feature 2 is not finite");
    p.l2 = 0;
    z[7] = 0;
    assert_int_not_equal(gh_bt_fit(z, N, D, &p, w, NULL), GH_OK);
    assert_contains(gh_last_error(), "l2 must be a positive number");
}

static void test_head_train_apply(void **state) {
    (void)state;
    gh_backend *b = NULL;
    gh_backend_params bp = gh_backend_default_params();
    bp.n_threads = 1;
    assert_ok(gh_backend_open(tu_stories_gguf(), &bp, &b));
    static const gh_pref_pair pairs[] = {
        {"Once upon a time", " there was a happy dog. He liked to play.", " there was a sad cat. She cried."},
        {"Lily went to the park.", " She had fun and smiled.", " She was scared and cried."},
        {"Tom had a ball.", " He was happy and played with his friend.", " He was angry and sad."},
        {"One day", " the sun was shining and everyone was happy.", " it was dark and the dog was hurt."},
    };
    const char *path = tu_tmp("head.gguf");
    gh_head_spec hs = gh_head_default_spec();
    gh_bt_params p = gh_bt_default_params();
    p.l2 = 0.1;
    gh_bt_stats st;
    assert_ok(gh_head_train(b, &hs, pairs, 4, &p, path, &st));
    assert_float_equal(st.accuracy, 1.0, 0); /* 4 pairs in 64 dimensions are separable */
    char spec[600];
    snprintf(spec, sizeof spec, "head:%s", path);
    gh_reward *r = NULL;
    assert_ok(gh_reward_parse(spec, "proxy", b, &r));
    assert_int_equal(gh_reward_caps(r) & GH_CAP_HIDDEN, GH_CAP_HIDDEN);
    for (int k = 0; k < 4; k++) {
        gh_reward_input c = {.prompt = pairs[k].prompt, .response = pairs[k].chosen, .n_tokens = -1};
        gh_reward_input j = {.prompt = pairs[k].prompt, .response = pairs[k].rejected, .n_tokens = -1};
        double vc, vj;
        assert_ok(gh_reward_score(r, &c, &vc));
        assert_ok(gh_reward_score(r, &j, &vj));
        assert_true(vc > vj);
    }
    /* score = w . (mean of the last layer over the response's tokens), computed
     * here from gh_backend_hidden directly */
    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open(path, &g));
    const gh_tensor_info *T = gh_gguf_tensor(g, gh_gguf_find_tensor(g, "head.weight"));
    const float *w = T->data;
    const gh_model_info *I = gh_model_get_info(gh_backend_model(b));
    int32_t layer = I->n_layer;
    const int32_t n_embd = I->n_embd; /* I dies with the backend */
    gh_hidden *h = NULL;
    /* "Tom had a ball." is BOS + its tokens; the response's tokens follow */
    int32_t *ids = NULL;
    size_t nids = 0;
    assert_ok(gh_tokenize(gh_model_tokenizer(gh_backend_model(b)), pairs[2].prompt, strlen(pairs[2].prompt), false, false, &ids, &nids));
    free(ids);
    char text[256];
    snprintf(text, sizeof text, "%s%s", pairs[2].prompt, pairs[2].chosen);
    assert_ok(gh_backend_hidden(b, text, &layer, 1, GH_POOL_MEAN, (int32_t)nids + 1, 0, &h));
    double want = 0;
    for (int32_t i = 0; i < h->n_embd; i++) want += (double)w[i] * h->data[i];
    gh_hidden_free(h);
    gh_gguf_free(g);
    gh_reward_input c = {.prompt = pairs[2].prompt, .response = pairs[2].chosen, .n_tokens = -1};
    double got;
    assert_ok(gh_reward_score(r, &c, &got));
    assert_float_equal(got, want, 1e-9 * (1 + fabs(want)));
    gh_reward_free(r);
    gh_backend_free(b);

    /* another model with the same width is refused by its hash */
    const char *other = tu_tmp("other.gguf");
    gh_make_model_params mp = gh_make_model_default_params();
    assert_ok(gh_make_model_preset("tiny", &mp));
    mp.n_embd = n_embd;
    assert_ok(gh_make_model(&mp, other));
    assert_ok(gh_backend_open(other, &bp, &b));
    gh_status s = gh_reward_parse(spec, NULL, b, &r);
    assert_int_equal(s, GH_ERR_MISMATCH);
    assert_contains(gh_last_error(), "head.gguf");
    gh_backend_free(b);
}

/* `goodhart reward train|score` through the binary */
static void test_reward_cli(void **state) {
    (void)state;
    const char *bin = getenv("GH_BIN") && *getenv("GH_BIN") ? getenv("GH_BIN") : "build/goodhart";
    const char *pairs = tu_tmp("pairs.jsonl");
    const char *txt = "{\"prompt\":\"Once upon a time\",\"chosen\":\" there was a happy dog.\",\"rejected\":\" there was a sad cat.\"}\n"
                      "{\"prompt\":\"Tom\",\"chosen\":\" had fun.\",\"rejected\":\" cried.\"}\n";
    assert_int_equal(tu_write_file(pairs, txt, strlen(txt)), 0);
    char cmd[2048];
    int st;
    snprintf(cmd, sizeof cmd, "%s reward train -m %s --pairs %s -o %s -t 1", bin, tu_stories_gguf(), pairs, tu_tmp("cli-head.gguf"));
    char *o = tu_run(cmd, &st);
    assert_int_equal(st, 0);
    assert_contains(o, "2 pairs, training accuracy 1.0000");
    free(o);
    double v[2];
    const char *resp[2] = {" had fun.", " cried."};
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "%s reward score -m %s --reward 'head:%s' --prompt Tom --response '%s' -t 1", bin,
                 tu_stories_gguf(), tu_tmp("cli-head.gguf"), resp[k]);
        o = tu_run(cmd, &st);
        assert_int_equal(st, 0);
        v[k] = strtod(o, NULL);
        free(o);
    }
    assert_true(v[0] > v[1]);
    snprintf(cmd, sizeof cmd, "%s reward score --reward 'lexicon:fun,happy;2*length' --response 'Fun, fun day' --json", bin);
    o = tu_run(cmd, &st);
    assert_int_equal(st, 0);
    assert_contains(o, "\"score\":8}");
    free(o);
    txt = "{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}\n{\"prompt\":\"a\",\"chosen\":\"b\"}\n";
    assert_int_equal(tu_write_file(pairs, txt, strlen(txt)), 0);
    snprintf(cmd, sizeof cmd, "%s reward train -m %s --pairs %s -o %s", bin, tu_stories_gguf(), pairs, tu_tmp("cli-head2.gguf"));
    o = tu_run(cmd, &st);
    assert_int_equal(st, 1);
    assert_contains(o, "pairs.jsonl:2: field \"rejected\" is missing");
    free(o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_terms),
        cmocka_unit_test(test_lexicon_file),
        cmocka_unit_test(test_spec_errors),
        cmocka_unit_test(test_bt_fit),
        cmocka_unit_test(test_head_train_apply),
        cmocka_unit_test(test_reward_cli),
    };
    return cmocka_run_group_tests_name("reward", tests, NULL, NULL);
}
