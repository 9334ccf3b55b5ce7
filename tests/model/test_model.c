/* Tests of the model runtime: results independent of batching and threads,
 * quantized weight types against the float model, hidden-state capture, and
 * every failing path of loading and decoding. */
#include "testutil.h"
#include "kernels/kernels.h"
#include "kernels/amx.h"
#include "kernels/kernels_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/convert.h"
#include "goodhart/gguf.h"
#include "goodhart/model.h"
#include "model/model_internal.h"

static gh_model *load(const char *path, int threads) {
    gh_model_params p = gh_model_default_params();
    p.n_threads = threads;
    gh_model *m = NULL;
    assert_ok(gh_model_load(path, &p, &m));
    return m;
}

/* Logits of `n` tokens of sequence 0 decoded in batches of `nb`. */
static float *logits_of(gh_model *m, const int32_t *toks, int n, int nb) {
    const int V = gh_model_get_info(m)->n_vocab;
    gh_ctx *c;
    gh_ctx_params cp = gh_ctx_default_params();
    cp.n_ctx = n;
    cp.n_batch = nb;
    assert_ok(gh_ctx_init(m, &cp, &c));
    float *out = malloc((size_t)n * V * sizeof *out);
    int32_t seq[512] = {0};
    uint8_t want[512];
    memset(want, 1, sizeof want);
    for (int i = 0; i < n; i += nb) {
        int T = n - i < nb ? n - i : nb;
        assert_ok(gh_ctx_decode(c, T, toks + i, seq, want));
        for (int t = 0; t < T; t++) memcpy(out + (size_t)(i + t) * V, gh_ctx_logits(c, t), (size_t)V * sizeof *out);
    }
    gh_ctx_free(c);
    return out;
}

static void test_bitwise_independent_of_batch_and_threads(void **state) {
    (void)state;
    int32_t toks[40];
    for (int i = 0; i < 40; i++) toks[i] = i == 0 ? 1 : (7 * i * i + 3) % 512;
    gh_model *m1 = load(tu_stories_gguf(), 1), *m2 = load(tu_stories_gguf(), 2);
    float *a = logits_of(m1, toks, 40, 40);
    float *b = logits_of(m2, toks, 40, 1);
    float *c = logits_of(m2, toks, 40, 13);
    assert_memory_equal(a, b, 40 * 512 * sizeof(float));
    assert_memory_equal(a, c, 40 * 512 * sizeof(float));
    free(a); free(b); free(c);
    /* a batch big enough (T * n_ff >= 2^15) that the element-wise steps
     * between the matmuls are split over the threads too */
    int32_t more[256];
    for (int i = 0; i < 256; i++) more[i] = i == 0 ? 1 : (11 * i * i + 5) % 512;
    a = logits_of(m1, more, 256, 256);
    b = logits_of(m2, more, 256, 256);
    c = logits_of(m2, more, 256, 7);
    assert_memory_equal(a, b, 256 * 512 * sizeof(float));
    assert_memory_equal(a, c, 256 * 512 * sizeof(float));
    free(a); free(b); free(c);
    gh_model_free(m1);
    gh_model_free(m2);
}

/* Weights read into memory (the default) or mapped in place: the same bits,
 * and a mapped model's tensors point into the file's mapping. */
static void test_mmap_or_copy_same_bits(void **state) {
    (void)state;
    gh_model_params p = gh_model_default_params();
    assert_false(p.use_mmap);
    p.n_threads = 2;
    gh_model *mc = NULL, *mm = NULL;
    assert_ok(gh_model_load(tu_stories_gguf(), &p, &mc));
    p.use_mmap = true;
    assert_ok(gh_model_load(tu_stories_gguf(), &p, &mm));
    int32_t toks[24];
    for (int i = 0; i < 24; i++) toks[i] = i == 0 ? 1 : (5 * i * i + 1) % 512;
    assert_false(gh_model_get_info(mc)->mapped);
    assert_true(gh_model_get_info(mm)->mapped);
    float *a = logits_of(mc, toks, 24, 24), *b = logits_of(mm, toks, 24, 5);
    assert_memory_equal(a, b, 24 * 512 * sizeof(float));
    free(a);
    free(b);
    gh_model_free(mc);
    gh_model_free(mm);
    /* the copy only where it fits with 512 MiB to spare; unknown memory: copy */
    const uint64_t MiB = 1 << 20;
    assert_true(gh_model_copy_fits(1000 * MiB, 2000 * MiB));
    assert_true(gh_model_copy_fits(1000 * MiB, 1512 * MiB));
    assert_false(gh_model_copy_fits(1000 * MiB, 1511 * MiB));
    assert_false(gh_model_copy_fits(8000 * MiB, 4000 * MiB));
    assert_true(gh_model_copy_fits(8000 * MiB, 0));
}

/* A context of n_ctx positions for n_seq sequences. */
static gh_ctx *small_ctx(gh_model *m, int32_t n_ctx, int32_t n_seq) {
    gh_ctx *c;
    gh_ctx_params cp = gh_ctx_default_params();
    cp.n_ctx = n_ctx;
    cp.n_seq = n_seq;
    assert_ok(gh_ctx_init(m, &cp, &c));
    return c;
}

/* Several sequences decoded together give exactly what each gives alone. */
static void test_multi_sequence_batch(void **state) {
    (void)state;
    gh_model *m = load(tu_stories_gguf(), 2);
    gh_ctx *c = small_ctx(m, 32, 3);
    int32_t p[4] = {1, 291, 376, 400}, s0[4] = {0};
    assert_ok(gh_ctx_decode(c, 4, p, s0, NULL));
    assert_ok(gh_ctx_seq_copy(c, 0, 1));
    assert_ok(gh_ctx_seq_copy(c, 0, 2));
    assert_int_equal(gh_ctx_seq_len(c, 2), 4);
    int32_t nt[3] = {428, 300, 17}, ns[3] = {0, 1, 2};
    uint8_t w[3] = {1, 1, 1};
    assert_ok(gh_ctx_decode(c, 3, nt, ns, w));
    float batched[3][512];
    for (int j = 0; j < 3; j++) memcpy(batched[j], gh_ctx_logits(c, j), sizeof batched[j]);
    for (int j = 0; j < 3; j++) {
        int32_t all[5] = {1, 291, 376, 400, nt[j]};
        float *alone = logits_of(m, all, 5, 5);
        assert_memory_equal(alone + 4 * 512, batched[j], sizeof batched[j]);
        free(alone);
    }
    /* truncating and re-decoding reproduces the same logits */
    assert_ok(gh_ctx_seq_truncate(c, 1, 4));
    assert_ok(gh_ctx_decode(c, 1, &nt[1], &ns[1], w));
    assert_memory_equal(gh_ctx_logits(c, 0), batched[1], sizeof batched[1]);
    gh_ctx_free(c);
    gh_model_free(m);
}

/* A copied prompt is read from the sequence it was copied from (one copy in
 * cache for N samples); once that sequence's positions change (truncated
 * and rewritten, cleared, or overwritten by another copy) the samples read
 * their own copies again: every sample's logits stay what it gives alone. */
static void test_shared_prefix_ends(void **state) {
    (void)state;
    gh_model *m = load(tu_stories_gguf(), 2);
    gh_ctx *c = small_ctx(m, 32, 4);
    int32_t p[4] = {1, 291, 376, 400}, z[5] = {0}, other[5] = {1, 450, 263, 300, 402};
    assert_ok(gh_ctx_decode(c, 4, p, z, NULL));
    for (int32_t s = 1; s < 4; s++) assert_ok(gh_ctx_seq_copy(c, 0, s));
    uint8_t w = 1;
    /* seq 0 truncated and rewritten at positions 2, 3 */
    assert_ok(gh_ctx_seq_truncate(c, 0, 2));
    assert_ok(gh_ctx_decode(c, 2, other + 1, z, NULL));
    int32_t t1 = 428, s1 = 1;
    assert_ok(gh_ctx_decode(c, 1, &t1, &s1, &w));
    int32_t all1[5] = {1, 291, 376, 400, 428};
    float *alone = logits_of(m, all1, 5, 5);
    assert_memory_equal(alone + 4 * 512, gh_ctx_logits(c, 0), 512 * sizeof(float));
    free(alone);
    /* seq 0 cleared and refilled with another prompt */
    gh_ctx_seq_clear(c, 0);
    assert_ok(gh_ctx_decode(c, 5, other, z, NULL));
    int32_t t2 = 17, s2 = 2;
    assert_ok(gh_ctx_decode(c, 1, &t2, &s2, &w));
    int32_t all2[5] = {1, 291, 376, 400, 17};
    alone = logits_of(m, all2, 5, 5);
    assert_memory_equal(alone + 4 * 512, gh_ctx_logits(c, 0), 512 * sizeof(float));
    free(alone);
    /* seq 3 := seq 2 (the prompt and 17), then seq 2 := seq 0 (another
     * prompt): seq 3 reads its own copy again */
    assert_ok(gh_ctx_seq_copy(c, 2, 3));
    assert_ok(gh_ctx_seq_copy(c, 0, 2));
    int32_t t3 = 300, s3 = 3;
    assert_ok(gh_ctx_decode(c, 1, &t3, &s3, &w));
    int32_t all3[6] = {1, 291, 376, 400, 17, 300};
    alone = logits_of(m, all3, 6, 6);
    assert_memory_equal(alone + 5 * 512, gh_ctx_logits(c, 0), 512 * sizeof(float));
    free(alone);
    gh_ctx_free(c);
    gh_model_free(m);
}

/* Copies share instead of copying: N samples of a prompt copy no keys or
 * values; a copy of a copy shares the first source's prompt and copies only
 * its own positions; clearing the source copies no prompt: the first sample
 * takes over the source's slab (its own positions copied in) and the others
 * share from it. Every sample's logits stay what it gives alone, also after
 * the source, now in the first sample's old slab, takes another prompt. */
static void test_seq_copy_shares(void **state) {
    (void)state;
    gh_model *m = load(tu_stories_gguf(), 2);
    const gh_model_info *I = gh_model_get_info(m);
    const uint64_t pos_bytes = 2ull * (uint64_t)I->n_layer * (uint64_t)I->head_dim * (uint64_t)I->n_head_kv * 4;
    gh_ctx *c = small_ctx(m, 32, 5);
    int32_t p[4] = {1, 291, 376, 400}, z[4] = {0};
    assert_ok(gh_ctx_decode(c, 4, p, z, NULL));
    for (int32_t s = 1; s < 4; s++) assert_ok(gh_ctx_seq_copy(c, 0, s));
    assert_int_equal(gh_ctx_kv_copied(c), 0);
    uint8_t w[3] = {1, 1, 1};
    int32_t t[3] = {428, 300, 17}, sq[3] = {1, 2, 3};
    assert_ok(gh_ctx_decode(c, 3, t, sq, w));
    /* seq 4 := seq 1 (the prompt, shared from 0, and its own 428) */
    assert_ok(gh_ctx_seq_copy(c, 1, 4));
    assert_int_equal(gh_ctx_kv_copied(c), pos_bytes);
    /* seq 0 cleared: only seq 1's own position (428) is copied */
    gh_ctx_seq_clear(c, 0);
    assert_int_equal(gh_ctx_kv_copied(c), 2 * pos_bytes);
    int32_t t2[4] = {263, 289, 450, 402}, sq2[4] = {1, 2, 3, 4};
    uint8_t w2[4] = {1, 1, 1, 1};
    assert_ok(gh_ctx_decode(c, 4, t2, sq2, w2));
    const int32_t first[4] = {428, 300, 17, 428};
    for (int j = 0; j < 4; j++) {
        int32_t all[6] = {1, 291, 376, 400, first[j], t2[j]};
        float *alone = logits_of(m, all, 6, 6);
        assert_memory_equal(alone + 5 * 512, gh_ctx_logits(c, j), 512 * sizeof(float));
        free(alone);
    }
    /* seq 0 refilled with another prompt does not disturb them */
    int32_t other[4] = {1, 450, 263, 300};
    assert_ok(gh_ctx_decode(c, 4, other, z, NULL));
    int32_t t3 = 17, s3 = 4;
    assert_ok(gh_ctx_decode(c, 1, &t3, &s3, w));
    int32_t all4[7] = {1, 291, 376, 400, 428, 402, 17};
    float *alone = logits_of(m, all4, 7, 7);
    assert_memory_equal(alone + 6 * 512, gh_ctx_logits(c, 0), 512 * sizeof(float));
    free(alone);
    /* a sharer of a longer prefix than the heir's: seq 0 (the other prompt,
     * 4 tokens) shared by seq 2, then 2 more tokens, shared by seq 3; seq 2
     * decodes one of its own. Clearing seq 0 makes seq 2 the heir (its token
     * goes to position 4 of seq 0's slab), so seq 3 must take positions 4
     * and 5 from that slab before they are overwritten. */
    gh_ctx_seq_clear(c, 0);
    assert_ok(gh_ctx_decode(c, 4, other, z, NULL));
    assert_ok(gh_ctx_seq_copy(c, 0, 2));
    int32_t more[2] = {263, 289};
    assert_ok(gh_ctx_decode(c, 2, more, z, NULL));
    assert_ok(gh_ctx_seq_copy(c, 0, 3));
    int32_t t5 = 17, s5 = 2;
    assert_ok(gh_ctx_decode(c, 1, &t5, &s5, w));
    gh_ctx_seq_clear(c, 0);
    int32_t t6[2] = {300, 402}, s6[2] = {2, 3};
    assert_ok(gh_ctx_decode(c, 2, t6, s6, w));
    int32_t a2[6] = {1, 450, 263, 300, 17, 300}, a3[7] = {1, 450, 263, 300, 263, 289, 402};
    alone = logits_of(m, a2, 6, 6);
    assert_memory_equal(alone + 5 * 512, gh_ctx_logits(c, 0), 512 * sizeof(float));
    free(alone);
    alone = logits_of(m, a3, 7, 7);
    assert_memory_equal(alone + 6 * 512, gh_ctx_logits(c, 1), 512 * sizeof(float));
    free(alone);
    gh_ctx_free(c);
    gh_model_free(m);
}

/* A hidden-states-only context stops after the deepest captured layer and
 * computes no logits; the states it captures are bitwise a full pass's. */
static void test_hidden_only(void **state) {
    (void)state;
    gh_model *m = load(tu_stories_gguf(), 2);
    const gh_model_info *I = gh_model_get_info(m);
    gh_ctx *full, *part;
    gh_ctx_params cp = gh_ctx_default_params();
    assert_ok(gh_ctx_init(m, &cp, &full));
    cp.hidden_only = true;
    assert_ok(gh_ctx_init(m, &cp, &part));
    int32_t layers[2] = {1, I->n_layer / 2};
    assert_ok(gh_ctx_set_capture(full, layers, 2));
    assert_ok(gh_ctx_set_capture(part, layers, 2));
    int32_t toks[6] = {1, 291, 376, 407, 263, 289}, seq[6] = {0};
    for (int half = 0; half < 2; half++) { /* two calls: the second reads the first's KV cache */
        assert_ok(gh_ctx_decode(full, 3, toks + 3 * half, seq, NULL));
        assert_ok(gh_ctx_decode(part, 3, toks + 3 * half, seq, NULL));
        for (int k = 0; k < 2; k++)
            for (int t = 0; t < 3; t++)
                assert_memory_equal(gh_ctx_hidden(full, k, t), gh_ctx_hidden(part, k, t), (size_t)I->n_embd * 4);
        assert_non_null(gh_ctx_logits(full, 2));
        assert_null(gh_ctx_logits(part, 2));
    }
    uint8_t want[1] = {1};
    assert_int_equal(gh_ctx_decode(part, 1, toks, seq, want), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "hidden states only");
    gh_ctx_free(full);
    gh_ctx_free(part);
    gh_model_free(m);
}

/* info.step_macs and step_bytes from the model's shapes: the matrix
 * products' multiply-adds per token (bench's compute limit) and, for this
 * float32 model, 4 bytes a multiply-add plus the norm weights. */
static void test_step_counts(void **state) {
    (void)state;
    gh_model *m = load(tu_stories_gguf(), 1);
    const gh_model_info *I = gh_model_get_info(m);
    const uint64_t E = (uint64_t)I->n_embd, Q = (uint64_t)I->n_head * (uint64_t)I->head_dim,
                   KV = (uint64_t)I->n_head_kv * (uint64_t)I->head_dim, F = (uint64_t)I->n_ff;
    const uint64_t macs = E * (uint64_t)I->n_vocab + (uint64_t)I->n_layer * (E * Q + 2 * E * KV + Q * E + 3 * E * F);
    assert_int_equal(I->step_macs, macs);
    assert_int_equal(I->step_bytes, 4 * macs + 4 * E + (uint64_t)I->n_layer * 8 * E);
    assert_true(I->n_head_kv < I->n_head); /* the grouped-query terms are checked */
    gh_model_free(m);
}

static void test_hidden_capture(void **state) {
    (void)state;
    gh_model *m = load(tu_stories_gguf(), 2);
    const gh_model_info *I = gh_model_get_info(m);
    gh_ctx *c;
    assert_ok(gh_ctx_init(m, NULL, &c));
    int32_t layers[2] = {0, I->n_layer};
    assert_ok(gh_ctx_set_capture(c, layers, 2));
    int32_t toks[3] = {1, 291, 376}, seq[3] = {0};
    assert_ok(gh_ctx_decode(c, 3, toks, seq, NULL));
    /* layer 0 is the embedding row of the token */
    const gh_gguf *g = gh_model_gguf(m);
    const gh_tensor_info *emb = gh_gguf_tensor(g, gh_gguf_find_tensor(g, "token_embd.weight"));
    assert_memory_equal(gh_ctx_hidden(c, 0, 2), (const float *)emb->data + 376 * I->n_embd, (size_t)I->n_embd * 4);
    /* the last layer, normed and projected, gives the logits */
    const float *h = gh_ctx_hidden(c, 1, 2);
    const gh_tensor_info *nw = gh_gguf_tensor(g, gh_gguf_find_tensor(g, "output_norm.weight"));
    double ss = 0;
    for (int j = 0; j < I->n_embd; j++) ss += (double)h[j] * h[j];
    double inv = 1.0 / sqrt(ss / I->n_embd + 1e-5);
    const float *lg = gh_ctx_logits(c, 2);
    for (int v = 0; v < I->n_vocab; v += 37) {
        double acc = 0;
        for (int j = 0; j < I->n_embd; j++)
            acc += (double)((const float *)nw->data)[j] * h[j] * inv * ((const float *)emb->data)[v * I->n_embd + j];
        assert_true(fabs(acc - lg[v]) < 1e-3);
    }
    assert_null(gh_ctx_hidden(c, 2, 0));
    int32_t bad = I->n_layer + 1;
    assert_int_equal(gh_ctx_set_capture(c, &bad, 1), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "layer 6 out of range");
    gh_ctx_free(c);
    gh_model_free(m);
}

static void test_decode_errors(void **state) {
    (void)state;
    gh_model *m = load(tu_stories_gguf(), 1);
    gh_ctx *c;
    gh_ctx_params cp = gh_ctx_default_params();
    cp.n_ctx = 4;
    cp.n_seq = 2;
    assert_ok(gh_ctx_init(m, &cp, &c));
    int32_t t[5] = {1, 2, 3, 4, 5}, s[5] = {0}, bad_tok = 512, bad_seq = 2;
    assert_int_equal(gh_ctx_decode(c, 1, &bad_tok, s, NULL), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "token 512 (batch index 0) is outside the vocabulary of 512");
    assert_int_equal(gh_ctx_decode(c, 1, t, &bad_seq, NULL), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "sequence id 2");
    assert_int_equal(gh_ctx_decode(c, 5, t, s, NULL), GH_ERR_LIMIT);
    assert_contains(gh_last_error(), "sequence 0 is full: the context holds 4 positions");
    assert_int_equal(gh_ctx_seq_len(c, 0), 0); /* nothing was half-done */
    assert_int_equal(gh_ctx_decode(c, 0, t, s, NULL), GH_ERR_INVALID_ARG);
    assert_int_equal(gh_ctx_seq_truncate(c, 0, 3), GH_ERR_INVALID_ARG);
    gh_ctx_free(c);
    gh_model_free(m);
}

/* Writes a small llama model with `drop` tensor missing or `arch` changed. */
static const char *write_variant(const char *name, const char *arch, const char *drop, const char *reshape) {
    gh_gguf *src;
    assert_ok(gh_gguf_open(tu_stories_gguf(), &src));
    gh_gguf_writer *w;
    assert_ok(gh_gguf_writer_init(&w));
    for (int64_t i = 0; i < gh_gguf_n_kv(src); i++) {
        const char *k = gh_gguf_key(src, i);
        gh_gguf_type ty = gh_gguf_kv_type(src, i);
        if (!strcmp(k, "general.architecture")) { assert_ok(gh_gguf_set_str(w, k, arch)); continue; }
        if (ty == GH_GGUF_STRING) { gh_str s; assert_ok(gh_gguf_kv_str(src, i, &s)); assert_ok(gh_gguf_set_strn(w, k, s.ptr, s.len)); }
        else if (ty == GH_GGUF_UINT32) { int64_t v; assert_ok(gh_gguf_kv_int(src, i, &v)); assert_ok(gh_gguf_set_u32(w, k, (uint32_t)v)); }
        else if (ty == GH_GGUF_FLOAT32) { double v; assert_ok(gh_gguf_kv_float(src, i, &v)); assert_ok(gh_gguf_set_f32(w, k, (float)v)); }
        else if (ty == GH_GGUF_BOOL) { int64_t v; assert_ok(gh_gguf_kv_int(src, i, &v)); assert_ok(gh_gguf_set_bool(w, k, v != 0)); }
        else if (ty == GH_GGUF_ARRAY) {
            gh_gguf_type et; uint64_t n;
            assert_ok(gh_gguf_arr_info(src, i, &et, &n));
            if (et == GH_GGUF_STRING) {
                const char **strs = malloc(n * sizeof *strs);
                uint64_t *lens = malloc(n * sizeof *lens);
                for (uint64_t j = 0; j < n; j++) { gh_str s; assert_ok(gh_gguf_arr_str(src, i, j, &s)); strs[j] = s.ptr; lens[j] = s.len; }
                assert_ok(gh_gguf_set_arr_str(w, k, strs, lens, n));
                free(strs); free(lens);
            } else { const void *d; assert_ok(gh_gguf_arr_data(src, i, &d)); assert_ok(gh_gguf_set_arr(w, k, et, d, n)); }
        }
    }
    for (int64_t i = 0; i < gh_gguf_n_tensors(src); i++) {
        const gh_tensor_info *t = gh_gguf_tensor(src, i);
        if (drop && !strcmp(t->name, drop)) continue;
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        if (reshape && !strcmp(t->name, reshape)) { ne[0] = t->ne[1]; ne[1] = t->ne[0]; }
        assert_ok(gh_gguf_add_tensor(w, t->name, t->type, t->n_dims, ne, t->data));
    }
    const char *path = tu_tmp(name);
    assert_ok(gh_gguf_writer_write(w, path));
    gh_gguf_writer_free(w);
    gh_gguf_free(src);
    return path;
}

static void test_load_errors(void **state) {
    (void)state;
    gh_model *m = NULL;
    const char *p = write_variant("gpt.gguf", "gptneox", NULL, NULL);
    assert_int_equal(gh_model_load(p, NULL, &m), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), "gpt.gguf: architecture 'gptneox' is not supported");
    p = write_variant("noq.gguf", "llama", "blk.3.attn_q.weight", NULL);
    assert_int_equal(gh_model_load(p, NULL, &m), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "noq.gguf: missing tensor 'blk.3.attn_q.weight'");
    p = write_variant("shape.gguf", "llama", NULL, "blk.0.ffn_down.weight");
    assert_int_equal(gh_model_load(p, NULL, &m), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "tensor 'blk.0.ffn_down.weight' has shape [64, 172, 1, 1], expected [172, 64]");
    p = write_variant("qwen.gguf", "qwen2", NULL, NULL); /* qwen2 needs biases and its own keys */
    assert_int_not_equal(gh_model_load(p, NULL, &m), GH_OK);
    assert_contains(gh_last_error(), "qwen.gguf: ");
    assert_int_equal(gh_model_load(tu_tmp("does-not-exist.gguf"), NULL, &m), GH_ERR_IO);
    assert_contains(gh_last_error(), "does-not-exist.gguf");
    /* a llama2.c checkpoint is not a GGUF file */
    assert_int_not_equal(gh_model_load(tu_shared("models/stories260K.bin"), NULL, &m), GH_OK);
    assert_contains(gh_last_error(), "stories260K.bin");
    assert_null(m);
}

static void test_convert_errors(void **state) {
    (void)state;
    const char *out = tu_tmp("x.gguf");
    assert_int_equal(gh_convert_llama2c(tu_tmp("nope.bin"), tu_shared("models/tok512.bin"), out, GH_TYPE_F32), GH_ERR_IO);
    assert_contains(gh_last_error(), "nope.bin: cannot open");
    /* truncated checkpoint */
    size_t n;
    char *buf = tu_read_file(tu_shared("models/stories260K.bin"), &n);
    assert_int_equal(tu_write_file(tu_tmp("short.bin"), buf, n - 100), 0);
    assert_int_equal(gh_convert_llama2c(tu_tmp("short.bin"), tu_shared("models/tok512.bin"), out, GH_TYPE_F32), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "short.bin: size 1056440 bytes, but its header implies 1056540 bytes");
    /* absurd header */
    int32_t hdr[7] = {64, 172, -5, 8, 4, 512, 512};
    memcpy(buf, hdr, sizeof hdr);
    assert_int_equal(tu_write_file(tu_tmp("hdr.bin"), buf, n), 0);
    assert_int_equal(gh_convert_llama2c(tu_tmp("hdr.bin"), tu_shared("models/tok512.bin"), out, GH_TYPE_F32), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "implausible header");
    free(buf);
    /* truncated tokenizer */
    buf = tu_read_file(tu_shared("models/tok512.bin"), &n);
    assert_int_equal(tu_write_file(tu_tmp("tok.bin"), buf, n / 2), 0);
    assert_int_equal(gh_convert_llama2c(tu_shared("models/stories260K.bin"), tu_tmp("tok.bin"), out, GH_TYPE_F32), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "tok.bin: ");
    free(buf);
    /* hidden size 172 cannot be split into Q8_0 blocks of 32 */
    assert_int_equal(gh_convert_llama2c(tu_shared("models/stories260K.bin"), tu_shared("models/tok512.bin"), out, GH_TYPE_Q8_0), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), "not a multiple of q8_0's block of 32");
    /* F16 conversion works and stays close to F32 */
    assert_ok(gh_convert_llama2c(tu_shared("models/stories260K.bin"), tu_shared("models/tok512.bin"), out, GH_TYPE_F16));
}

/* Relative RMS difference of the logits of a quantized model to the same
 * random weights in F32, over a short sequence. */
static double quant_error(gh_type type, const char *arch) {
    gh_make_model_params p = gh_make_model_default_params();
    p.n_embd = 256; p.n_ff = 512; p.n_layer = 2; p.n_head = 4; p.n_head_kv = 2; p.n_vocab = 512;
    p.arch = arch;
    p.seed = 7;
    char fname[64], rname[64];
    snprintf(rname, sizeof rname, "ref-%s.gguf", arch);
    snprintf(fname, sizeof fname, "q-%s-%s.gguf", arch, gh_type_name(type));
    const char *ref_path = tu_tmp(rname), *q_path = tu_tmp(fname);
    p.wtype = GH_TYPE_F32;
    assert_ok(gh_make_model(&p, ref_path));
    p.wtype = type;
    assert_ok(gh_make_model(&p, q_path));
    gh_model *mr = load(ref_path, 2), *mq = load(q_path, 2);
    int32_t toks[12];
    for (int i = 0; i < 12; i++) toks[i] = i == 0 ? 1 : 3 + (i * 37) % 256;
    float *a = logits_of(mr, toks, 12, 12), *b = logits_of(mq, toks, 12, 5);
    double num = 0, den = 0;
    for (int i = 0; i < 12 * 512; i++) { num += (double)(a[i] - b[i]) * (a[i] - b[i]); den += (double)a[i] * a[i]; }
    free(a); free(b);
    gh_model_free(mr);
    gh_model_free(mq);
    return sqrt(num / den);
}

/* Error budgets: relative RMS error of the logits against the F32 model.
 * F16/BF16 round the weights only; Q8_0 quantizes activations as well. */
static void test_quantized_types_against_f32(void **state) {
    (void)state;
    struct { gh_type t; double budget; } cases[] = {
        {GH_TYPE_F32, 0.0}, {GH_TYPE_F16, 0.005}, {GH_TYPE_BF16, 0.02}, {GH_TYPE_Q8_0, 0.02},
        {GH_TYPE_Q6_K, 0.04}, {GH_TYPE_Q4_K, 0.12}, {GH_TYPE_Q4_0, 0.15},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double e = quant_error(cases[i].t, "llama");
        printf("# %-5s relative RMS logit error %.5f (budget %.3f)\n", gh_type_name(cases[i].t), e, cases[i].budget);
        assert_true(e <= cases[i].budget);
    }
    /* qwen2 (NeoX rope, q/k/v biases) and mistral load and run */
    assert_true(quant_error(GH_TYPE_Q8_0, "qwen2") < 0.02);
    assert_true(quant_error(GH_TYPE_F16, "mistral") < 0.005);
}

/* A copied Q4_0 or Q8_0 model on a CPU with AMX, or F16 one on a CPU with
 * AVX-512, has its matrices regrouped in memory (kernels.h, GH_TYPE_*_R16,
 * GH_TYPE_F16_R2) except token_embd; the logits are
 * bitwise those of the same file mapped (left as it is), for batches that
 * take the VNNI kernel (1, 5 positions) and the AMX tiles (12), with a
 * separate output matrix and with it tied to token_embd. */
static void test_regrouped_same_bits(void **state) {
    (void)state;
    for (int v = 0; v < 6; v++) {
        const int tied = v & 1;
        const gh_type wt = v < 2 ? GH_TYPE_Q4_0 : v < 4 ? GH_TYPE_Q8_0 : GH_TYPE_F16;
        gh_make_model_params p = gh_make_model_default_params();
        p.n_embd = 256; p.n_ff = 512; p.n_layer = 2; p.n_head = 4; p.n_head_kv = 2; p.n_vocab = 512;
        p.seed = 11;
        p.wtype = wt;
        p.tied_output = tied;
        char fname[64];
        snprintf(fname, sizeof fname, "%s-%s.gguf", gh_type_name(wt), tied ? "tied" : "untied");
        const char *path = tu_tmp(fname);
        assert_ok(gh_make_model(&p, path));
        gh_model_params mp = gh_model_default_params();
        mp.n_threads = 2;
        gh_model *mc = NULL, *mm = NULL;
        assert_ok(gh_model_load(path, &mp, &mc));
        mp.use_mmap = true;
        assert_ok(gh_model_load(path, &mp, &mm));
        const bool kernels = wt == GH_TYPE_F16 ? gh_kernels_use_avx512() : gh_kernels_use_amx();
        const int32_t want = kernels ? 7 * 2 + !tied : 0;
        assert_int_equal(gh_model_get_info(mc)->n_regrouped, want);
        assert_int_equal(gh_model_get_info(mm)->n_regrouped, 0);
        int32_t toks[12];
        for (int i = 0; i < 12; i++) toks[i] = i == 0 ? 1 : 3 + (i * 41) % 500;
        float *ref = logits_of(mm, toks, 12, 12);
        const int batches[] = {12, 5, 1};
        for (int k = 0; k < 3; k++) {
            float *a = logits_of(mc, toks, 12, batches[k]);
            assert_memory_equal(a, ref, 12 * 512 * sizeof(float));
            free(a);
        }
        free(ref);
        gh_model_free(mc);
        gh_model_free(mm);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regrouped_same_bits),
        cmocka_unit_test(test_bitwise_independent_of_batch_and_threads),
        cmocka_unit_test(test_mmap_or_copy_same_bits),
        cmocka_unit_test(test_multi_sequence_batch),
        cmocka_unit_test(test_shared_prefix_ends),
        cmocka_unit_test(test_seq_copy_shares),
        cmocka_unit_test(test_step_counts),
        cmocka_unit_test(test_hidden_capture),
        cmocka_unit_test(test_hidden_only),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_convert_errors),
        cmocka_unit_test(test_quantized_types_against_f32),
    };
    return cmocka_run_group_tests_name("model/runtime", tests, NULL, NULL);
}
