/* End to end on stories260K: a probe trained on the model's hidden states to
 * detect a kind of text (stories about a dog), used as a penalty term in a
 * reward (R − λ·S, λ by the spread rule), changes which candidate Best-of-N
 * picks in the expected direction: from the dog story the proxy R prefers to
 * one without a dog. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/bon.h"
#include "goodhart/probe.h"
#include "goodhart/reward.h"

static const char *const dog[] = {
    " there was a dog named Max. The dog liked to run.", " a little dog found a bone in the park.",
    " the dog barked at the cat and ran home.", " Tom had a big brown dog who loved to play.",
    " the happy dog jumped in the water.", " a small dog slept under the tree all day.",
    " Lily walked her dog to the shop.", " the dog wagged its tail and ate its food.",
    " a dog and a bird were good friends.", " the old dog sat by the door.",
};
static const char *const nodog[] = {
    " there was a girl named Sue. She liked to sing.", " a little bird found a seed in the park.",
    " the cat sat on the mat and looked at the sun.", " Tom had a big red ball that he loved.",
    " the happy fish swam in the water.", " a small boy slept under the tree all day.",
    " Lily walked to the shop with her mom.", " the sun was warm and the sky was blue.",
    " a frog and a duck were good friends.", " the old man sat by the door.",
};
/* held out: never seen in training */
static const char *const cand[] = {
    " Ben saw a big dog with a red ball and the dog ran and ran and ran to the park with Ben.", /* longest, dog */
    " Mia and her mom baked a cake and ate it in the garden with a cup of milk.",
    " the dog was sad.",
    " a girl found a shiny stone.",
};

static void test_probe_penalty_changes_bon_pick(void **state) {
    (void)state;
    const char *prompt = "Once upon a time,";
    gh_backend *b = NULL;
    gh_backend_params bp = gh_backend_default_params();
    bp.n_threads = 1;
    assert_ok(gh_backend_open(tu_stories_gguf(), &bp, &b));
    const gh_model_info *I = gh_model_get_info(gh_backend_model(b));
    const int32_t d = I->n_embd, n = 20;
    gh_head_spec hs = gh_head_default_spec();
    float *x = malloc((size_t)n * d * sizeof *x);
    uint8_t y[20];
    for (int i = 0; i < 10; i++) {
        assert_ok(gh_head_features(b, &hs, prompt, dog[i], x + (size_t)(2 * i) * d));
        assert_ok(gh_head_features(b, &hs, prompt, nodog[i], x + (size_t)(2 * i + 1) * d));
        y[2 * i] = 1;
        y[2 * i + 1] = 0;
    }
    gh_probe_data data = {.x = x, .y = y, .n = n, .d = d};
    gh_probe_train_params tp = gh_probe_default_train_params();
    tp.method = GH_PROBE_LOGREG;
    gh_probe *pr = NULL;
    assert_ok(gh_probe_train(&data, &tp, &pr, NULL));
    pr->layer = I->n_layer;
    snprintf(pr->pool, sizeof pr->pool, "mean");
    snprintf(pr->model_sha256, sizeof pr->model_sha256, "%s", gh_model_sha256(gh_backend_model(b)));
    const char *path = tu_tmp("dog-probe.gguf");
    assert_ok(gh_probe_save(pr, path));
    gh_probe_free(pr);
    free(x);

    /* R = length in words; S = the probe's logit */
    gh_reward *R = NULL, *S = NULL;
    char spec[1024];
    snprintf(spec, sizeof spec, "probe:%s", path);
    assert_ok(gh_reward_parse("length", "R", b, &R));
    assert_ok(gh_reward_parse(spec, "S", b, &S));
    double r[4], s[4];
    for (int i = 0; i < 4; i++) {
        gh_reward_input in = {.prompt = prompt, .response = cand[i], .n_tokens = -1};
        assert_ok(gh_reward_score(R, &in, &r[i]));
        assert_ok(gh_reward_score(S, &in, &s[i]));
    }
    /* the probe reads the held-out dog stories as dog stories */
    assert_true(s[0] > s[1] && s[0] > s[3]);
    assert_true(s[2] > s[1] && s[2] > s[3]);
    double lambda;
    assert_ok(gh_probe_penalty_lambda(r, s, 4, &lambda));
    assert_true(lambda > 0);
    /* the penalised reward as one spec, as `goodhart bon` would use it */
    snprintf(spec, sizeof spec, "length;-%.17g*probe:%s", lambda, path);
    gh_reward *P = NULL;
    assert_ok(gh_reward_parse(spec, "R-lambda*S", b, &P));
    double p[4];
    for (int i = 0; i < 4; i++) {
        gh_reward_input in = {.prompt = prompt, .response = cand[i], .n_tokens = -1};
        assert_ok(gh_reward_score(P, &in, &p[i]));
        assert_float_equal(p[i], r[i] - lambda * s[i], 1e-9 * (1 + fabs(p[i])));
    }
    int32_t idx[4] = {0, 1, 2, 3};
    gh_bon_pick a, c;
    gh_bon_pool pool_r = {.n = 4, .reward = r};
    gh_bon_pool pool_p = {.n = 4, .reward = p};
    assert_ok(gh_bon_select(&pool_r, idx, 4, GH_BON_BON, 0, 0, &a, NULL));
    assert_ok(gh_bon_select(&pool_p, idx, 4, GH_BON_BON, 0, 0, &c, NULL));
    assert_int_equal(a.index, 0);        /* BoN on R: the long dog story */
    assert_int_not_equal(c.index, 0);    /* BoN on R − λS: another one ... */
    assert_true(s[c.index] < s[a.index]); /* ... which the probe scores as less dog-like */
    gh_reward_free(R);
    gh_reward_free(S);
    gh_reward_free(P);
    gh_backend_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_penalty_changes_bon_pick),
    };
    return cmocka_run_group_tests_name("probe penalty in Best-of-N", tests, NULL, NULL);
}
