/* Embeddings and reward-model scores through the backend (src/backend/local.c)
 * and the CLI (goodhart embed, goodhart reward -m), on random-weight models
 * written by gh_make_model:
 *   - BERT mean / CLS pooling = the NumPy reference's states pooled and
 *     L2-normalised; truncation keeps [SEP]; decoders mean-pool final-normed
 *     states;
 *   - the reward score = dot(head, final-normed hidden state of the pooled
 *     token) + bias, computed here from the GGUF's own tensors and by the NumPy
 *     llama reference; the pooled token, EOS and padding rules each explicit;
 *   - the clear errors: no head, CLS pooling on a decoder, generation from a
 *     reward model or an encoder. */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/backend.h"
#include "goodhart/bon.h"
#include "goodhart/chat.h"
#include "goodhart/convert.h"
#include "goodhart/reward.h"
#include "goodhart/tokenizer.h"

#define E 64

static const char *make(const char *name, const char *arch, bool head, bool add_eos, int32_t pad, int32_t pooling, int32_t ctx) {
    const char *path = tu_tmp(name);
    gh_make_model_params p = gh_make_model_default_params();
    p.arch = arch;
    p.n_vocab = !strcmp(arch, "bert") ? 200 : 300;
    p.n_embd = E;
    p.n_ff = 128;
    p.n_layer = 2;
    p.n_head = 4;
    p.n_head_kv = 2;
    p.n_ctx = ctx;
    p.cls_head = head;
    p.add_eos = add_eos;
    p.pad_id = pad;
    p.pooling = pooling;
    p.seed = 11;
    assert_ok(gh_make_model(&p, path));
    return path;
}

static gh_backend *open_b(const char *path, int8_t rm_eos) {
    gh_backend_params bp = gh_backend_default_params();
    bp.n_threads = 2;
    bp.rm_eos = rm_eos;
    gh_backend *b = NULL;
    assert_ok(gh_backend_open(path, &bp, &b));
    return b;
}

/* The NumPy reference: rows of E values (and "score S" for reward models). */
static double *numpy_ref(const char *kind, const char *path, const int32_t *ids, int32_t n, int *rows, double *score) {
    char cmd[8192];
    int o = snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/model/gguf_ref.py %s %s ", kind, path);
    for (int32_t i = 0; i < n; i++) o += snprintf(cmd + o, sizeof cmd - (size_t)o, i ? ",%d" : "%d", ids[i]);
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
    if (score) {
        char *s = strstr(out, "score ");
        assert_non_null(s);
        *score = strtod(s + 6, NULL);
    }
    free(out);
    *rows = k / E;
    return v;
}

/* pooled and L2-normalised rows of the reference */
static void pool_ref(const double *h, int rows, int mode /* 0 mean, 1 first, 2 last */, double *out) {
    double norm = 0;
    for (int j = 0; j < E; j++) {
        double v = 0;
        if (mode == 1) v = h[j];
        else if (mode == 2) v = h[(size_t)(rows - 1) * E + j];
        else { for (int t = 0; t < rows; t++) v += h[(size_t)t * E + j]; v /= rows; }
        out[j] = v;
        norm += v * v;
    }
    for (int j = 0; j < E; j++) out[j] /= sqrt(norm);
}

static void assert_close_vec(const float *a, const double *b, int n, double tol) {
    double m = 0;
    for (int i = 0; i < n; i++) if (fabs((double)a[i] - b[i]) > m) m = fabs((double)a[i] - b[i]);
    if (m >= tol) fprintf(stderr, "max diff %g >= %g\n", m, tol);
    assert_true(m < tol);
}

static void test_bert_embed_mean_cls(void **state) {
    (void)state;
    const char *path = make("bert.gguf", "bert", false, false, -1, GH_POOLING_MEAN, 64);
    gh_backend *b = open_b(path, 0);
    assert_int_equal(gh_backend_caps(b), GH_CAP_EMBED | GH_CAP_TOKENIZE);
    gh_embedding *mean = NULL, *cls = NULL, *dflt = NULL;
    const char *text = "The dog sat on the mat. Hello world!";
    assert_ok(gh_backend_embed(b, text, "mean", &mean));
    assert_ok(gh_backend_embed(b, text, "cls", &cls));
    assert_ok(gh_backend_embed(b, text, NULL, &dflt)); /* the model's pooling_type: mean */
    assert_int_equal(mean->dim, E);
    assert_int_equal(mean->tokens[0], 2);                   /* [CLS] */
    assert_int_equal(mean->tokens[mean->n_tokens - 1], 3);  /* [SEP] */
    assert_memory_equal(mean->data, dflt->data, E * sizeof(float));
    int rows;
    double *h = numpy_ref("bert", path, mean->tokens, mean->n_tokens, &rows, NULL);
    assert_int_equal(rows, mean->n_tokens);
    double ref[E];
    pool_ref(h, rows, 0, ref);
    assert_close_vec(mean->data, ref, E, 1e-4);
    pool_ref(h, rows, 1, ref);
    assert_close_vec(cls->data, ref, E, 1e-4);
    double n2 = 0;
    for (int j = 0; j < E; j++) n2 += (double)cls->data[j] * cls->data[j];
    assert_true(fabs(n2 - 1) < 1e-5);
    free(h);
    gh_embedding_free(mean);
    gh_embedding_free(cls);
    gh_embedding_free(dflt);
    /* refusals: unknown pooling, generation, reward scores */
    gh_embedding *e = NULL;
    assert_int_equal(gh_backend_embed(b, text, "max", &e), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "unknown pooling 'max'");
    gh_samples *s = NULL;
    assert_int_equal(gh_backend_generate(b, "hi", NULL, 1, &s), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), "text generation");
    gh_rm_score *r = NULL;
    assert_int_equal(gh_backend_score(b, "a", "b", &r), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), "reward scores");
    gh_backend_free(b);
}

static void test_bert_cls_default_and_truncation(void **state) {
    (void)state;
    const char *path = make("bert-cls.gguf", "bert", false, false, -1, GH_POOLING_CLS, 16);
    gh_backend *b = open_b(path, 0);
    gh_embedding *d = NULL, *c = NULL;
    const char *text = "the cat sat on the mat and the dog sat on the cat and it is good to you of the world";
    assert_ok(gh_backend_embed(b, text, NULL, &d));
    assert_ok(gh_backend_embed(b, text, "cls", &c));
    assert_memory_equal(d->data, c->data, E * sizeof(float)); /* the file says CLS */
    /* 22 words + [CLS] [SEP] > 16 positions: cut to 16, [SEP] kept last */
    assert_int_equal(d->n_tokens, 16);
    assert_int_equal(d->tokens[0], 2);
    assert_int_equal(d->tokens[15], 3);
    gh_embedding_free(d);
    gh_embedding_free(c);
    gh_backend_free(b);
}

static void test_decoder_embed(void **state) {
    (void)state;
    const char *path = make("llama.gguf", "llama", false, false, -1, -1, 64);
    gh_backend *b = open_b(path, 0);
    assert_true(gh_backend_caps(b) & GH_CAP_EMBED);
    assert_false(gh_backend_caps(b) & GH_CAP_REWARD);
    gh_embedding *e = NULL, *l = NULL;
    assert_ok(gh_backend_embed(b, "Hi there", NULL, &e));
    assert_ok(gh_backend_embed(b, "Hi there", "last", &l));
    assert_int_equal(e->tokens[0], 1); /* BOS */
    int rows;
    double *h = numpy_ref("llama", path, e->tokens, e->n_tokens, &rows, NULL);
    assert_int_equal(rows, e->n_tokens);
    double ref[E];
    pool_ref(h, rows, 0, ref);
    assert_close_vec(e->data, ref, E, 1e-4);
    pool_ref(h, rows, 2, ref);
    assert_close_vec(l->data, ref, E, 1e-4);
    free(h);
    gh_embedding_free(e);
    gh_embedding_free(l);
    assert_int_equal(gh_backend_embed(b, "Hi", "cls", &e), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "CLS pooling needs an encoder");
    /* no head: not a reward model */
    gh_rm_score *r = NULL;
    assert_int_equal(gh_backend_score(b, "a", "b", &r), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), "reward scores");
    gh_backend_free(b);
}

/* rmsnorm with output_norm.weight and the head, read straight from the file */
static double score_by_hand(gh_backend *b, const float *h) {
    const gh_gguf *g = gh_model_gguf(gh_backend_model(b));
    const gh_tensor_info *nw = gh_gguf_tensor(g, gh_gguf_find_tensor(g, "output_norm.weight"));
    const gh_tensor_info *hw = gh_gguf_tensor(g, gh_gguf_find_tensor(g, "cls.output.weight"));
    const gh_tensor_info *hb = gh_gguf_tensor(g, gh_gguf_find_tensor(g, "cls.output.bias"));
    assert_int_equal(hw->ne[0], E);
    const float *w = nw->data, *head = hw->data;
    double ss = 0;
    for (int j = 0; j < E; j++) ss += (double)h[j] * h[j];
    double inv = 1.0 / sqrt(ss / E + 1e-5), dot = 0;
    for (int j = 0; j < E; j++) dot += (double)head[j] * (h[j] * inv * w[j]);
    return dot + ((const float *)hb->data)[0];
}

static void test_reward_score(void **state) {
    (void)state;
    const char *path = make("rm.gguf", "llama", true, false, -1, -1, 64);
    gh_backend *b = open_b(path, 0);
    uint32_t caps = gh_backend_caps(b);
    assert_true(caps & GH_CAP_REWARD);
    assert_false(caps & GH_CAP_GENERATE); /* stored without an LM head */
    const gh_model_info *I = gh_model_get_info(gh_backend_model(b));
    assert_int_equal(I->n_cls_out, 1);
    assert_int_equal(I->pooling, GH_POOLING_LAST);
    assert_false(I->lm_head);
    gh_rm_score *r = NULL;
    assert_ok(gh_backend_score(b, "Question: why? ", "Answer: because.", &r));
    assert_string_equal(r->text, "Question: why? Answer: because."); /* no template: P then R */
    assert_null(r->chat_template);
    assert_false(r->eos_appended);
    assert_int_equal(r->pooled_token, r->n_tokens - 1);
    /* the tokens: BOS + the text's own */
    int32_t *ids;
    size_t n;
    const gh_tokenizer *tok = gh_model_tokenizer(gh_backend_model(b));
    assert_ok(gh_tokenize(tok, r->text, strlen(r->text), true, false, &ids, &n));
    assert_int_equal(r->n_tokens, (int32_t)n);
    assert_int_equal(r->pooled_token_id, ids[n - 1]);
    assert_non_null(r->tokens);
    assert_memory_equal(r->tokens, ids, n * sizeof *ids);
    /* independent 1: the last token's residual stream, normed and dotted here */
    int32_t layer = I->n_layer;
    gh_hidden *h = NULL;
    assert_ok(gh_backend_hidden(b, r->text, &layer, 1, GH_POOL_LAST, 0, 0, &h));
    assert_int_equal(h->span_end, r->pooled_token + 1);
    double by_hand = score_by_hand(b, h->data);
    assert_true(fabs(by_hand - r->score) < 1e-5);
    gh_hidden_free(h);
    /* independent 2: the NumPy llama forward pass and head */
    int rows;
    double ref_score;
    double *ref = numpy_ref("llama", path, ids, (int32_t)n, &rows, &ref_score);
    printf("  reward: score %.9f, numpy %.9f\n", r->score, ref_score);
    assert_true(fabs(ref_score - r->score) < 1e-4);
    assert_true(fabs(r->score) > 1e-3); /* a real number, not a zero from nowhere */
    free(ref);
    /* the score depends on the response */
    gh_rm_score *r2 = NULL;
    assert_ok(gh_backend_score(b, "Question: why? ", "Answer: no.", &r2));
    assert_true(r2->score != r->score);
    gh_rm_score_free(r2);
    /* EOS forced: appended, pooled, and scored */
    gh_backend *be = open_b(path, 1);
    assert_ok(gh_backend_score(be, "Question: why? ", "Answer: because.", &r2));
    assert_true(r2->eos_appended);
    assert_int_equal(r2->n_tokens, (int32_t)n + 1);
    assert_int_equal(r2->pooled_token, (int32_t)n);
    assert_int_equal(r2->pooled_token_id, gh_tokenizer_eos(tok));
    int32_t *ide = malloc((n + 1) * sizeof *ide);
    memcpy(ide, ids, n * sizeof *ide);
    ide[n] = gh_tokenizer_eos(tok);
    ref = numpy_ref("llama", path, ide, (int32_t)n + 1, &rows, &ref_score);
    assert_true(fabs(ref_score - r2->score) < 1e-4);
    assert_true(fabs(r2->score - r->score) > 1e-6);
    free(ref);
    free(ide);
    gh_rm_score_free(r2);
    gh_backend_free(be);
    gh_rm_score_free(r);
    free(ids);
    gh_backend_free(b);
}

static void test_reward_eos_and_padding(void **state) {
    (void)state;
    /* same weights (seed) as rm.gguf; the tokenizer adds EOS */
    const char *plain = make("rm-plain.gguf", "llama", true, false, -1, -1, 64);
    const char *eos = make("rm-eos.gguf", "llama", true, true, -1, -1, 64);
    const char *pad = make("rm-pad.gguf", "llama", true, true, 2, -1, 64); /* pad id = EOS id */
    gh_backend *bp = open_b(plain, 0), *be = open_b(eos, 0), *bn = open_b(eos, -1), *bd = open_b(pad, 0);
    gh_rm_score *rp, *re, *rn, *rd;
    assert_ok(gh_backend_score(bp, "Hi", " there", &rp));
    assert_ok(gh_backend_score(be, "Hi", " there", &re));
    assert_ok(gh_backend_score(bn, "Hi", " there", &rn));
    assert_ok(gh_backend_score(bd, "Hi", " there", &rd));
    /* add_eos_token: EOS appended and pooled */
    assert_false(rp->eos_appended);
    assert_true(re->eos_appended);
    assert_int_equal(re->n_tokens, rp->n_tokens + 1);
    assert_int_equal(re->pooled_token, rp->n_tokens);
    assert_int_equal(re->pooled_token_id, 2);
    assert_true(re->score != rp->score);
    /* --add-eos no overrides the tokenizer */
    assert_false(rn->eos_appended);
    assert_int_equal(rn->pooled_token, rp->pooled_token);
    assert_true(rn->score == rp->score);
    /* pad = EOS: the EOS is appended but, as transformers does, trailing
     * padding is not pooled: the token before it is, and scores as without */
    assert_true(rd->eos_appended);
    assert_int_equal(rd->n_tokens, rp->n_tokens + 1);
    assert_int_equal(rd->pooled_token, rp->n_tokens - 1);
    assert_int_equal(rd->pooled_token_id, rp->pooled_token_id);
    assert_true(fabs(rd->score - rp->score) < 1e-6);
    /* the score of one text does not depend on what was scored before (no
     * batch, no padding): repeat after another text */
    gh_rm_score *x, *again;
    assert_ok(gh_backend_score(bp, "A longer one", " ok", &x));
    assert_ok(gh_backend_score(bp, "Hi", " there", &again));
    assert_true(again->score == rp->score);
    gh_rm_score_free(x); gh_rm_score_free(again);
    gh_rm_score_free(rp); gh_rm_score_free(re); gh_rm_score_free(rn); gh_rm_score_free(rd);
    gh_backend_free(bp); gh_backend_free(be); gh_backend_free(bn); gh_backend_free(bd);
}

static cJSON *cli_json(const char *args, int want_status) {
    int st;
    char *out = tu_cli(&st, "%s 2>/dev/null", args);
    if (st != want_status) fprintf(stderr, "goodhart %s -> %d:\n%s\n", args, st, out);
    assert_int_equal(st, want_status);
    cJSON *j = cJSON_Parse(out);
    if (!j) fprintf(stderr, "not JSON: %s\n", out);
    assert_non_null(j);
    free(out);
    return j;
}

static void test_cli(void **state) {
    (void)state;
    const char *bert = make("cli-bert.gguf", "bert", false, false, -1, GH_POOLING_MEAN, 64);
    const char *rm = make("cli-rm.gguf", "llama", true, false, -1, -1, 64);
    char args[8192];
    /* embed --json: the embedding (unit norm, = the library's) and the tokens */
    snprintf(args, sizeof args, "embed -m %s --json 'The cat sat.'", bert);
    cJSON *j = cli_json(args, 0);
    const cJSON *emb = cJSON_GetObjectItem(j, "embedding"), *toks = cJSON_GetObjectItem(j, "tokens");
    assert_int_equal(cJSON_GetArraySize(emb), E);
    assert_true(cJSON_GetArraySize(toks) >= 3);
    assert_int_equal(cJSON_GetArrayItem(toks, 0)->valueint, 2);
    assert_string_equal(cJSON_GetObjectItem(j, "pool")->valuestring, "mean");
    gh_backend *b = open_b(bert, 0);
    gh_embedding *e;
    assert_ok(gh_backend_embed(b, "The cat sat.", NULL, &e));
    double n2 = 0;
    for (int i = 0; i < E; i++) {
        double v = cJSON_GetArrayItem(emb, i)->valuedouble;
        n2 += v * v;
        assert_true(fabs(v - e->data[i]) < 1e-7);
    }
    assert_true(fabs(n2 - 1) < 1e-6);
    gh_embedding_free(e);
    cJSON_Delete(j);
    /* a text starting with '-' (a list item): an unknown option, unless after -- */
    int st;
    char *out = tu_cli(&st, "embed -m %s --json '- a list item'", bert);
    assert_int_equal(st, 2);
    assert_contains(out, "unknown option '- a list item'");
    free(out);
    snprintf(args, sizeof args, "embed -m %s --json -- '- a list item' --json", bert);
    out = tu_cli(&st, "%s 2>/dev/null", args);
    assert_int_equal(st, 0);
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    *nl = 0;
    j = cJSON_Parse(out);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "text")->valuestring, "- a list item");
    emb = cJSON_GetObjectItem(j, "embedding");
    assert_ok(gh_backend_embed(b, "- a list item", NULL, &e));
    for (int i = 0; i < E; i++) assert_true(fabs(cJSON_GetArrayItem(emb, i)->valuedouble - e->data[i]) < 1e-7);
    gh_embedding_free(e);
    cJSON_Delete(j);
    j = cJSON_Parse(nl + 1); /* the second text: "--json", a text after -- */
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "text")->valuestring, "--json");
    cJSON_Delete(j);
    free(out);
    gh_backend_free(b);
    /* reward -m --json */
    snprintf(args, sizeof args, "reward -m %s --prompt 'Question: why? ' --response 'Answer: because.' --json", rm);
    j = cli_json(args, 0);
    b = open_b(rm, 0);
    gh_rm_score *r;
    assert_ok(gh_backend_score(b, "Question: why? ", "Answer: because.", &r));
    assert_true(fabs(cJSON_GetObjectItem(j, "score")->valuedouble - r->score) < 1e-12);
    assert_int_equal(cJSON_GetObjectItem(j, "pooled_token")->valueint, r->pooled_token);
    assert_int_equal(cJSON_GetObjectItem(j, "n_tokens")->valueint, r->n_tokens);
    const cJSON *jt = cJSON_GetObjectItem(j, "tokens");
    assert_int_equal(cJSON_GetArraySize(jt), r->n_tokens);
    for (int32_t i = 0; i < r->n_tokens; i++) assert_int_equal(cJSON_GetArrayItem(jt, i)->valueint, r->tokens[i]);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "chat_template")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "eos_appended")));
    cJSON_Delete(j);
    snprintf(args, sizeof args, "reward -m %s --prompt 'Question: why? ' --response 'Answer: because.' --add-eos yes --json", rm);
    j = cli_json(args, 0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "eos_appended")));
    assert_int_equal(cJSON_GetObjectItem(j, "pooled_token")->valueint, r->pooled_token + 1);
    /* the ids end in the EOS that was appended */
    jt = cJSON_GetObjectItem(j, "tokens");
    assert_int_equal(cJSON_GetArraySize(jt), r->n_tokens + 1);
    assert_int_equal(cJSON_GetArrayItem(jt, r->n_tokens)->valueint,
                     gh_tokenizer_eos(gh_model_tokenizer(gh_backend_model(b))));
    cJSON_Delete(j);
    gh_rm_score_free(r);
    gh_backend_free(b);
    /* the old forms still work */
    out = tu_cli(&st, "reward score --reward length --response 'a b c'");
    assert_int_equal(st, 0);
    assert_contains(out, "3");
    free(out);
    /* clear errors */
    out = tu_cli(&st, "reward -m %s --prompt a --response b", bert);
    assert_int_equal(st, 1);
    assert_contains(out, "not a reward model");
    assert_contains(out, "cls.output.weight");
    free(out);
    out = tu_cli(&st, "embed -m %s --pool cls hello", rm);
    assert_int_equal(st, 1);
    assert_contains(out, "CLS pooling needs an encoder");
    free(out);
    out = tu_cli(&st, "embed -m %s", bert);
    assert_int_equal(st, 2);
    assert_contains(out, "needs -m MODEL and at least one TEXT");
    free(out);
}

/* A chat template applied: the text scored is its rendering of the turn pair */
static void test_reward_with_chat_template(void **state) {
    (void)state;
    const char *path = make("rm-chat.gguf", "llama", true, false, -1, -1, 128);
    gh_backend_params bp = gh_backend_default_params();
    bp.n_threads = 1;
    bp.chat_template = "plain";
    gh_backend *b = NULL;
    assert_ok(gh_backend_open(path, &bp, &b));
    gh_rm_score *r = NULL;
    assert_ok(gh_backend_score(b, "Why?", "Because.", &r));
    assert_non_null(r->chat_template);
    assert_string_equal(r->chat_template, "plain");
    gh_chat_msg msgs[2] = {{"user", "Why?"}, {"assistant", "Because."}};
    char *want = NULL;
    assert_ok(gh_chat_render_for_model(gh_backend_model(b), "plain", msgs, 2, false, &want, NULL));
    assert_string_equal(r->text, want);
    assert_non_null(strstr(r->text, "Why?"));
    int32_t *ids;
    size_t n;
    assert_ok(gh_tokenize(gh_model_tokenizer(gh_backend_model(b)), want, strlen(want), false, true, &ids, &n));
    assert_int_equal(r->n_tokens, (int32_t)n);
    assert_int_equal(r->pooled_token, (int32_t)n - 1);
    int rows;
    double ref_score;
    double *ref = numpy_ref("llama", path, ids, (int32_t)n, &rows, &ref_score);
    assert_true(fabs(ref_score - r->score) < 1e-4);
    free(ref);
    free(ids);
    free(want);
    gh_rm_score_free(r);
    gh_backend_free(b);
    /* an unknown template is an error, not a silent fallback */
    bp.chat_template = "no-such-family";
    assert_ok(gh_backend_open(path, &bp, &b));
    assert_int_not_equal(gh_backend_score(b, "Why?", "Because.", &r), GH_OK);
    assert_contains(gh_last_error(), "no-such-family");
    gh_backend_free(b);
}

/* rm:MODEL as a reward term, and an embedding model as Best-of-N's embeddings */
static void test_reward_term_and_bon_embedder(void **state) {
    (void)state;
    const char *rm = make("term-rm.gguf", "llama", true, false, -1, -1, 64);
    const char *bert = make("term-bert.gguf", "bert", false, false, -1, GH_POOLING_MEAN, 64);
    gh_backend *rb = open_b(rm, 0), *eb = open_b(bert, 0);
    gh_rm_score *sc;
    assert_ok(gh_backend_score(rb, "Once", " upon a time", &sc));
    char spec[8192];
    snprintf(spec, sizeof spec, "0.5*rm:%s;length", rm);
    gh_reward *r = NULL;
    assert_ok(gh_reward_parse(spec, NULL, NULL, &r)); /* needs no policy backend */
    gh_reward_input in = {.prompt = "Once", .response = " upon a time", .n_tokens = -1};
    double v;
    assert_ok(gh_reward_score(r, &in, &v));
    assert_true(fabs(v - (0.5 * sc->score + 3)) < 1e-12);
    gh_reward_free(r);
    gh_rm_score_free(sc);
    snprintf(spec, sizeof spec, "rm:%s", bert);
    assert_int_equal(gh_reward_parse(spec, NULL, NULL, &r), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "not a reward model");
    assert_int_equal(gh_reward_parse("rm:", NULL, NULL, &r), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "rm needs a reward model");
    /* Best-of-N: the pool's embeddings are the BERT model's of each response */
    gh_backend *policy = open_b(tu_stories_gguf(), 0);
    snprintf(spec, sizeof spec, "rm:%s", rm);
    gh_reward *proxy = NULL, *gold = NULL;
    assert_ok(gh_reward_parse(spec, "proxy", policy, &proxy));
    assert_ok(gh_reward_parse("length", "gold", policy, &gold));
    gh_bon_prompt pr = {.id = "p1", .prompt = "Once upon a time"};
    gh_bon_sample_params sp = gh_bon_sample_default_params();
    sp.n = 2;
    sp.sampler.max_tokens = 6;
    sp.sampler.seed = 3;
    sp.embedder = eb;
    const char *dir = tu_tmp("bon-embed");
    assert_ok(gh_bon_sample(policy, &pr, 1, proxy, gold, dir, &sp, NULL));
    char pool[4096];
    snprintf(pool, sizeof pool, "%s/pool.jsonl", dir);
    gh_bon_file *f;
    assert_ok(gh_bon_file_read(pool, &f));
    const gh_bon_record *rec = gh_bon_file_record(f, 0);
    assert_int_equal(rec->n, 2);
    assert_int_equal(rec->dim, E);
    int32_t ip = gh_bon_record_score(rec, "proxy");
    for (int32_t i = 0; i < rec->n; i++) {
        gh_embedding *e;
        assert_ok(gh_backend_embed(eb, rec->text[i], NULL, &e));
        for (int j = 0; j < E; j++) assert_true(fabsf(e->data[j] - rec->embedding[(size_t)i * E + j]) < 1e-6f);
        gh_embedding_free(e);
        assert_ok(gh_backend_score(rb, pr.prompt, rec->text[i], &sc));
        assert_true(fabs(rec->scores[(size_t)i * rec->n_scores + ip] - sc->score) < 1e-9);
        gh_rm_score_free(sc);
    }
    gh_bon_file_free(f);
    /* an encoder cannot be the policy; a decoder without EMBED cannot be the embedder (none such locally) */
    assert_int_equal(gh_bon_sample(eb, &pr, 1, proxy, gold, tu_tmp("bon-bad"), &sp, NULL), GH_ERR_UNSUPPORTED);
    gh_reward_free(proxy);
    gh_reward_free(gold);
    gh_backend_free(policy);
    gh_backend_free(rb);
    gh_backend_free(eb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bert_embed_mean_cls),
        cmocka_unit_test(test_bert_cls_default_and_truncation),
        cmocka_unit_test(test_decoder_embed),
        cmocka_unit_test(test_reward_score),
        cmocka_unit_test(test_reward_eos_and_padding),
        cmocka_unit_test(test_reward_with_chat_template),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_reward_term_and_bon_embedder),
    };
    return cmocka_run_group_tests_name("embed_score", tests, NULL, NULL);
}
