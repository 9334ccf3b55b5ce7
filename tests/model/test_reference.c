/* Golden tests against llama2.c's reference implementation (run.c) on the
 * converted stories260K: greedy texts byte for byte, and float32 logits at 64
 * positions within 1e-4. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/backend.h"

static gh_backend *open_stories(int threads) {
    gh_backend_params p = gh_backend_default_params();
    p.n_threads = threads;
    gh_backend *b = NULL;
    assert_ok(gh_backend_open(tu_stories_gguf(), &p, &b));
    return b;
}

/* llama2.c prints every token after BOS for `steps` positions (prompt tokens
 * included) and ends with a newline; reproduce that from goodhart's output. */
static void check_greedy(const char *prompt, int steps, const char *ref_file) {
    gh_backend *b = open_stories(2);
    gh_model *m = gh_backend_model(b);
    const gh_tokenizer *tok = gh_model_tokenizer(m);
    int32_t *ids;
    size_t n;
    assert_ok(gh_tokenize(tok, prompt, strlen(prompt), false, false, &ids, &n));
    gh_sampler_params sp = gh_sampler_default_params();
    sp.temp = 0;
    sp.stop_at_eog = false;
    sp.max_tokens = steps - (int)n; /* positions: BOS + n prompt tokens + generated - 1 */
    gh_samples *s;
    assert_ok(gh_backend_generate(b, prompt, &sp, 1, &s));
    size_t total = n + (size_t)s->samples[0].n_tokens;
    int32_t *all = malloc(total * sizeof *all);
    memcpy(all, ids, n * sizeof *all);
    memcpy(all + n, s->samples[0].tokens, (size_t)s->samples[0].n_tokens * sizeof *all);
    char *text;
    size_t tl;
    /* detokenize as llama2.c prints: BOS first, then the pieces */
    int32_t *with_bos = malloc((total + 1) * sizeof *with_bos);
    with_bos[0] = gh_tokenizer_bos(tok);
    memcpy(with_bos + 1, all, total * sizeof *all);
    assert_ok(gh_detokenize(tok, with_bos, total + 1, false, &text, &tl));
    char *ref = tu_read_file(tu_shared(ref_file), NULL);
    assert_non_null(ref);
    size_t rl = strlen(ref);
    assert_true(rl > 0 && ref[rl - 1] == '\n');
    ref[rl - 1] = '\0';
    assert_string_equal(text, ref);
    /* the sample's own text is the part after the prompt */
    const char *gen = s->samples[0].text;
    assert_true(strlen(gen) <= strlen(ref));
    assert_string_equal(ref + strlen(ref) - strlen(gen), gen);
    free(ref); free(text); free(with_bos); free(all); free(ids);
    gh_samples_free(s);
    gh_backend_free(b);
}

static void test_greedy_from_bos(void **state) {
    (void)state;
    check_greedy("", 200, "models/reference/greedy-from-bos-200-steps.txt");
}

static void test_greedy_the_little_dog(void **state) {
    (void)state;
    check_greedy("The little dog", 120, "models/reference/greedy-the-little-dog-120-steps.txt");
}

/* Reads the reference logits: per row position, input token, 512 logits. */
static int read_ref_logits(int32_t *toks, float *logits, int max_rows) {
    FILE *f = fopen(tu_shared("models/reference/logits-the-little-dog-64-positions.tsv"), "r");
    assert_non_null(f);
    int rows = 0, pos;
    while (rows < max_rows && fscanf(f, "%d %d", &pos, &toks[rows]) == 2) {
        assert_int_equal(pos, rows);
        for (int j = 0; j < 512; j++) assert_int_equal(fscanf(f, "%f", &logits[rows * 512 + j]), 1);
        rows++;
    }
    fclose(f);
    return rows;
}

static void check_logits_with_batch(int n_batch, int threads) {
    static int32_t toks[64];
    static float ref[64 * 512];
    int rows = read_ref_logits(toks, ref, 64);
    assert_int_equal(rows, 64);
    gh_model_params mp = gh_model_default_params();
    mp.n_threads = threads;
    gh_model *m;
    assert_ok(gh_model_load(tu_stories_gguf(), &mp, &m));
    /* the prompt's tokenization matches llama2.c's */
    int32_t *ids;
    size_t n;
    assert_ok(gh_tokenize(gh_model_tokenizer(m), "The little dog", 14, false, false, &ids, &n));
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) assert_int_equal(ids[i], toks[i + 1]);
    free(ids);
    gh_ctx *c;
    gh_ctx_params cp = gh_ctx_default_params();
    cp.n_ctx = 64;
    cp.n_batch = n_batch;
    assert_ok(gh_ctx_init(m, &cp, &c));
    int32_t seq[64] = {0};
    uint8_t want[64];
    memset(want, 1, sizeof want);
    assert_ok(gh_ctx_decode(c, 64, toks, seq, want));
    double max_err = 0;
    for (int r = 0; r < 64; r++) {
        const float *lg = gh_ctx_logits(c, r);
        assert_non_null(lg);
        for (int j = 0; j < 512; j++) {
            double e = fabs((double)lg[j] - ref[r * 512 + j]);
            if (e > max_err) max_err = e;
        }
    }
    printf("# max |logit - llama2.c| = %.3g (batch %d, %d threads)\n", max_err, n_batch, threads);
    assert_true(max_err <= 1e-4);
    gh_ctx_free(c);
    gh_model_free(m);
}

static void test_logits_one_batch(void **state) { (void)state; check_logits_with_batch(64, 2); }
static void test_logits_token_by_token(void **state) { (void)state; check_logits_with_batch(1, 1); }
static void test_logits_odd_batches(void **state) { (void)state; check_logits_with_batch(7, 2); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_from_bos),
        cmocka_unit_test(test_greedy_the_little_dog),
        cmocka_unit_test(test_logits_one_batch),
        cmocka_unit_test(test_logits_token_by_token),
        cmocka_unit_test(test_logits_odd_batches),
    };
    return cmocka_run_group_tests_name("model/reference (llama2.c)", tests, NULL, NULL);
}
