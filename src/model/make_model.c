/* make_model.c — synthetic Llama-family GGUF models with random weights, of any
 * shape and weight type, so speed can be measured on 100M–1B-parameter shapes
 * without downloading anything, and so tests can exercise every weight type.
 * Weights are uniform with standard deviation 0.02 (cheap to draw for a
 * billion parameters); the tokenizer is a byte-fallback SentencePiece
 * vocabulary padded with filler pieces to n_vocab.
 *
 * Architecture "bert" writes an encoder (bert.c's tensors, llama.cpp's names)
 * with a small generated WordPiece vocabulary in llama.cpp's form ("▁" marks a
 * word's first piece): a few English words, every letter, digit and ASCII
 * punctuation mark as a word and as a continuation, then [unused] filler. Its
 * weights have std 0.1 and its norms weights 1 ± 0.1 and random biases, so a
 * reference implementation that swaps or forgets one would disagree.
 * cls_head gives a decoder the reward head of a sequence-classification model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "goodhart/convert.h"
#include "goodhart/tokenizer.h"
#include "kernels/kernels.h"

gh_make_model_params gh_make_model_default_params(void) {
    gh_make_model_params p = {0};
    p.arch = "llama";
    p.n_vocab = 512;
    p.n_embd = 256;
    p.n_ff = 768;
    p.n_layer = 2;
    p.n_head = 4;
    p.n_head_kv = 2;
    p.n_ctx = 512;
    p.rope_base = 10000.0f;
    p.wtype = GH_TYPE_F32;
    p.seed = 1;
    p.pooling = -1;
    p.pad_id = -1;
    return p;
}

gh_status gh_make_model_preset(const char *name, gh_make_model_params *p) {
    gh_make_model_params d = gh_make_model_default_params();
    d.wtype = p->wtype;
    d.seed = p->seed ? p->seed : 1;
    if (!strcmp(name, "tiny")) { /* defaults */ }
    else if (!strcmp(name, "100m")) {
        d.n_vocab = 32000; d.n_embd = 768; d.n_ff = 2048; d.n_layer = 12; d.n_head = 12; d.n_head_kv = 12; d.n_ctx = 2048;
    } else if (!strcmp(name, "300m")) {
        d.n_vocab = 32000; d.n_embd = 1024; d.n_ff = 2816; d.n_layer = 20; d.n_head = 16; d.n_head_kv = 8; d.n_ctx = 2048;
    } else if (!strcmp(name, "1b")) { /* TinyLlama-1.1B's shape */
        d.n_vocab = 32000; d.n_embd = 2048; d.n_ff = 5632; d.n_layer = 22; d.n_head = 32; d.n_head_kv = 4; d.n_ctx = 2048;
    } else
        return gh_error(GH_ERR_INVALID_ARG, "unknown model preset '%s' (tiny, 100m, 300m, 1b)", name);
    *p = d;
    return GH_OK;
}

/* Fills n floats: offset + uniform on [-a, a] with a = std·√3. */
static void fill_random_std(float *x, int64_t n, gh_rng *r, double offset, double std) {
    const double a = std * 1.7320508075688772;
    for (int64_t i = 0; i < n; i++) x[i] = (float)(offset + (gh_rng_uniform(r) * 2.0 - 1.0) * a);
}

typedef struct {
    void **bufs;
    int n, cap;
} keep_list;

static void *keep(keep_list *k, void *p) {
    if (!p) return NULL;
    if (k->n == k->cap) {
        int nc = k->cap ? k->cap * 2 : 64;
        void **nb = realloc(k->bufs, (size_t)nc * sizeof *nb);
        if (!nb) { free(p); return NULL; }
        k->bufs = nb;
        k->cap = nc;
    }
    return k->bufs[k->n++] = p;
}

/* Writes the file when all went well (s == GH_OK), then frees the writer and
 * the tensor data it pointed into. */
static gh_status write_and_free(gh_gguf_writer *w, keep_list *k, const char *out_path, gh_status s) {
    if (!s) s = gh_gguf_writer_write(w, out_path);
    gh_gguf_writer_free(w);
    for (int i = 0; i < k->n; i++) free(k->bufs[i]);
    free(k->bufs);
    return s;
}

/* A tensor of n_out rows of n_in: offset + noise of the given std, written as
 * type. With r NULL every value is the offset and nothing is drawn. */
static gh_status add_tensor_std(gh_gguf_writer *w, keep_list *k, const char *name, int64_t n_in, int64_t n_out,
                                gh_type type, gh_rng *r, double offset, double std) {
    const gh_type_traits *tr = gh_get_type_traits(type);
    if (!tr || !tr->from_float) return gh_error(GH_ERR_UNSUPPORTED, "cannot write weights of type %s", gh_type_name(type));
    if (n_in % tr->blck_size)
        return gh_error(GH_ERR_INVALID_ARG, "tensor '%s': rows of %lld are not a multiple of %s's block of %lld",
                        name, (long long)n_in, tr->name, (long long)tr->blck_size);
    size_t row_bytes = (size_t)(n_in / tr->blck_size) * tr->type_size;
    uint8_t *buf = keep(k, malloc(row_bytes * (size_t)n_out));
    float *row = malloc((size_t)n_in * sizeof *row);
    if (!buf || !row) { free(row); return gh_error(GH_ERR_NOMEM, "tensor '%s': out of memory", name); }
    for (int64_t o = 0; o < n_out; o++) {
        if (!r) for (int64_t i = 0; i < n_in; i++) row[i] = (float)offset;
        else fill_random_std(row, n_in, r, offset, std);
        tr->from_float(row, buf + (size_t)o * row_bytes, n_in);
    }
    free(row);
    int64_t ne[2] = {n_in, n_out};
    return gh_gguf_add_tensor(w, name, type, n_out > 1 ? 2 : 1, ne, buf);
}

/* A weight of the Llama preset: noise of std 0.02, or all ones (norms). */
static gh_status add_random(gh_gguf_writer *w, keep_list *k, const char *name, int64_t n_in,
                            int64_t n_out, gh_type type, gh_rng *r, bool ones) {
    return add_tensor_std(w, k, name, n_in, n_out, type, ones ? NULL : r, ones ? 1.0 : 0.0, 0.02);
}

/* The generated WordPiece vocabulary's entries before the filler. */
static const char *const bert_words[] = {"the", "a", "cat", "dog", "sat", "on", "mat", "hello", "world", "is",
                                          "good", "bad", "answer", "question", "and", "of", "to", "in", "it", "you"};
static const char bert_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789.,!?'\"-:;()";
#define BERT_N_SPECIAL 5 /* [PAD] [UNK] [CLS] [SEP] [MASK] */
#define BERT_N_BASE (BERT_N_SPECIAL + (int32_t)(sizeof bert_words / sizeof bert_words[0]) + 2 * (int32_t)(sizeof bert_chars - 1))

static gh_status write_bert_vocab(gh_gguf_writer *w, int32_t V) {
    char **toks = calloc((size_t)V, sizeof *toks);
    int32_t *types = calloc((size_t)V, sizeof *types);
    gh_status s = GH_OK;
    if (!toks || !types) s = gh_error(GH_ERR_NOMEM, "out of memory");
    static const char *const specials[BERT_N_SPECIAL] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    const int32_t nw = (int32_t)(sizeof bert_words / sizeof bert_words[0]), nc = (int32_t)sizeof bert_chars - 1;
    for (int32_t i = 0; i < V && !s; i++) {
        char t[64];
        int32_t j = i - BERT_N_SPECIAL;
        types[i] = GH_TOKEN_NORMAL;
        if (i < BERT_N_SPECIAL) { snprintf(t, sizeof t, "%s", specials[i]); types[i] = i == 1 ? GH_TOKEN_UNKNOWN : GH_TOKEN_CONTROL; }
        else if (j < nw) snprintf(t, sizeof t, "\xe2\x96\x81%s", bert_words[j]);          /* "▁the": a word */
        else if (j < nw + nc) snprintf(t, sizeof t, "\xe2\x96\x81%c", bert_chars[j - nw]); /* "▁x": a word's first letter */
        else if (j < nw + 2 * nc) snprintf(t, sizeof t, "%c", bert_chars[j - nw - nc]);  /* "x": a continuation */
        else { snprintf(t, sizeof t, "[unused%d]", i - BERT_N_BASE); types[i] = GH_TOKEN_UNUSED; }
        toks[i] = strdup(t);
        if (!toks[i]) s = gh_error(GH_ERR_NOMEM, "out of memory");
    }
    if (!s) s = gh_gguf_set_str(w, "tokenizer.ggml.model", "bert");
    if (!s) s = gh_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, NULL, (uint64_t)V);
    if (!s) s = gh_gguf_set_arr(w, "tokenizer.ggml.token_type", GH_GGUF_INT32, types, (uint64_t)V);
    if (!s) s = gh_gguf_set_u32(w, "tokenizer.ggml.padding_token_id", 0);
    if (!s) s = gh_gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", 1);
    if (!s) s = gh_gguf_set_u32(w, "tokenizer.ggml.cls_token_id", 2);
    if (!s) s = gh_gguf_set_u32(w, "tokenizer.ggml.seperator_token_id", 3); /* sic: llama.cpp's spelling */
    if (!s) s = gh_gguf_set_u32(w, "tokenizer.ggml.mask_token_id", 4);
    if (toks) for (int32_t i = 0; i < V; i++) free(toks[i]);
    free(toks);
    free(types);
    return s;
}

/* A BERT encoder: bert.* keys, the WordPiece vocabulary, bert.c's tensors. */
static gh_status make_bert(const gh_make_model_params *p, const char *out_path) {
    if (p->n_vocab < BERT_N_BASE || p->n_embd <= 0 || p->n_ff <= 0 || p->n_layer <= 0 || p->n_head <= 0 ||
        p->n_embd % p->n_head || p->n_ctx <= 0)
        return gh_error(GH_ERR_INVALID_ARG, "impossible BERT shape: vocab %d (>= %d), embd %d, ff %d, layers %d, heads %d (must divide embd)",
                        p->n_vocab, BERT_N_BASE, p->n_embd, p->n_ff, p->n_layer, p->n_head);
    if (p->cls_head)
        return gh_error(GH_ERR_INVALID_ARG, "reward heads go on decoders (llama, mistral, qwen2), not on bert");
    gh_gguf_writer *w;
    gh_status s = gh_gguf_writer_init(&w);
    if (s) return s;
    keep_list k = {0};
    const int32_t V = p->n_vocab, E = p->n_embd, F = p->n_ff;
    s = gh_gguf_set_str(w, "general.architecture", "bert");
    if (!s) s = gh_gguf_set_str(w, "general.name", "goodhart random bert");
    if (!s) s = gh_gguf_set_u32(w, "bert.context_length", (uint32_t)p->n_ctx);
    if (!s) s = gh_gguf_set_u32(w, "bert.embedding_length", (uint32_t)E);
    if (!s) s = gh_gguf_set_u32(w, "bert.feed_forward_length", (uint32_t)F);
    if (!s) s = gh_gguf_set_u32(w, "bert.block_count", (uint32_t)p->n_layer);
    if (!s) s = gh_gguf_set_u32(w, "bert.attention.head_count", (uint32_t)p->n_head);
    if (!s) s = gh_gguf_set_f32(w, "bert.attention.layer_norm_epsilon", 1e-12f);
    if (!s) s = gh_gguf_set_bool(w, "bert.attention.causal", false);
    if (!s && p->pooling >= 0) s = gh_gguf_set_u32(w, "bert.pooling_type", (uint32_t)p->pooling);
    if (!s) s = write_bert_vocab(w, V);
    gh_rng r;
    gh_rng_seed(&r, p->seed, 0);
    const gh_type wt = p->wtype;
    const double ws = 0.1;
    if (!s) s = add_tensor_std(w, &k, "token_embd.weight", E, V, wt, &r, 0, ws);
    if (!s) s = add_tensor_std(w, &k, "position_embd.weight", E, p->n_ctx, wt, &r, 0, ws);
    if (!s) s = add_tensor_std(w, &k, "token_types.weight", E, 2, wt, &r, 0, ws);
    if (!s) s = add_tensor_std(w, &k, "token_embd_norm.weight", E, 1, GH_TYPE_F32, &r, 1, 0.1);
    if (!s) s = add_tensor_std(w, &k, "token_embd_norm.bias", E, 1, GH_TYPE_F32, &r, 0, 0.1);
    char n[96];
    for (int32_t l = 0; l < p->n_layer && !s; l++) {
#define TN(fmt) (snprintf(n, sizeof n, "blk.%d." fmt, l), n)
        static const char *const mats[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_up", "ffn_down"};
        for (int j = 0; j < 6 && !s; j++) {
            int64_t ni = j == 5 ? F : E, no = j == 4 ? F : E;
            char wn[64], bn[64];
            snprintf(wn, sizeof wn, "blk.%d.%s.weight", l, mats[j]);
            snprintf(bn, sizeof bn, "blk.%d.%s.bias", l, mats[j]);
            s = add_tensor_std(w, &k, wn, ni, no, wt, &r, 0, ws);
            if (!s) s = add_tensor_std(w, &k, bn, no, 1, GH_TYPE_F32, &r, 0, ws);
        }
        if (!s) s = add_tensor_std(w, &k, TN("attn_output_norm.weight"), E, 1, GH_TYPE_F32, &r, 1, 0.1);
        if (!s) s = add_tensor_std(w, &k, TN("attn_output_norm.bias"), E, 1, GH_TYPE_F32, &r, 0, 0.1);
        if (!s) s = add_tensor_std(w, &k, TN("layer_output_norm.weight"), E, 1, GH_TYPE_F32, &r, 1, 0.1);
        if (!s) s = add_tensor_std(w, &k, TN("layer_output_norm.bias"), E, 1, GH_TYPE_F32, &r, 0, 0.1);
#undef TN
    }
    return write_and_free(w, &k, out_path, s);
}

gh_status gh_make_model(const gh_make_model_params *p, const char *out_path) {
    const char *arch = p->arch ? p->arch : "llama";
    if (p->pooling < -1 || p->pooling > 4)
        return gh_error(GH_ERR_INVALID_ARG, "pooling type %d is not one of -1 (none written), 0..4", p->pooling);
    if (!strcmp(arch, "bert")) return make_bert(p, out_path);
    if (strcmp(arch, "llama") && strcmp(arch, "mistral") && strcmp(arch, "qwen2"))
        return gh_error(GH_ERR_INVALID_ARG, "unknown architecture '%s' (llama, mistral, qwen2, bert)", arch);
    if (p->pad_id >= p->n_vocab)
        return gh_error(GH_ERR_INVALID_ARG, "padding token id %d is outside the vocabulary of %d", p->pad_id, p->n_vocab);
    if (p->n_vocab < 259 || p->n_embd <= 0 || p->n_ff <= 0 || p->n_layer <= 0 || p->n_head <= 0 ||
        p->n_head_kv <= 0 || p->n_head % p->n_head_kv || p->n_embd % p->n_head || (p->n_embd / p->n_head) % 2 ||
        p->n_ctx <= 0)
        return gh_error(GH_ERR_INVALID_ARG,
                        "impossible shape: vocab %d (>= 259), embd %d, ff %d, layers %d, heads %d/%d (must divide)",
                        p->n_vocab, p->n_embd, p->n_ff, p->n_layer, p->n_head, p->n_head_kv);
    gh_gguf_writer *w;
    gh_status s = gh_gguf_writer_init(&w);
    if (s) return s;
    keep_list k = {0};
    const int32_t V = p->n_vocab, E = p->n_embd, hd = E / p->n_head, KV = hd * p->n_head_kv;
    char key[128];
#define K(suffix) (snprintf(key, sizeof key, "%s." suffix, arch), key)
    s = gh_gguf_set_str(w, "general.architecture", arch);
    if (!s) s = gh_gguf_set_str(w, "general.name", "goodhart random model");
    if (!s) s = gh_gguf_set_u32(w, K("context_length"), (uint32_t)p->n_ctx);
    if (!s) s = gh_gguf_set_u32(w, K("embedding_length"), (uint32_t)E);
    if (!s) s = gh_gguf_set_u32(w, K("feed_forward_length"), (uint32_t)p->n_ff);
    if (!s) s = gh_gguf_set_u32(w, K("block_count"), (uint32_t)p->n_layer);
    if (!s) s = gh_gguf_set_u32(w, K("attention.head_count"), (uint32_t)p->n_head);
    if (!s) s = gh_gguf_set_u32(w, K("attention.head_count_kv"), (uint32_t)p->n_head_kv);
    if (!s) s = gh_gguf_set_u32(w, K("rope.dimension_count"), (uint32_t)hd);
    if (!s) s = gh_gguf_set_f32(w, K("rope.freq_base"), p->rope_base > 0 ? p->rope_base : 10000.0f);
    if (!s) s = gh_gguf_set_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-5f);
    if (!s && p->pooling >= 0) s = gh_gguf_set_u32(w, K("pooling_type"), (uint32_t)p->pooling);
    else if (!s && p->cls_head) s = gh_gguf_set_u32(w, K("pooling_type"), 3); /* last: the head's token */
#undef K
    /* vocabulary: <unk>, <s>, </s>, 256 byte tokens, filler */
    char **toks = calloc((size_t)V, sizeof *toks);
    float *scores = calloc((size_t)V, sizeof *scores);
    int32_t *types = calloc((size_t)V, sizeof *types);
    if (!toks || !scores || !types) s = gh_error(GH_ERR_NOMEM, "out of memory");
    for (int32_t i = 0; i < V && !s; i++) {
        char t[32];
        if (i == 0) snprintf(t, sizeof t, "<unk>");
        else if (i == 1) snprintf(t, sizeof t, "<s>");
        else if (i == 2) snprintf(t, sizeof t, "</s>");
        else if (i < 259) snprintf(t, sizeof t, "<0x%02X>", i - 3);
        else snprintf(t, sizeof t, "[filler%d]", i);
        toks[i] = strdup(t);
        if (!toks[i]) s = gh_error(GH_ERR_NOMEM, "out of memory");
        types[i] = i == 0 ? GH_TOKEN_UNKNOWN : i < 3 ? GH_TOKEN_CONTROL : i < 259 ? GH_TOKEN_BYTE : GH_TOKEN_NORMAL;
        scores[i] = -(float)i;
    }
    if (!s) s = gh_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    if (!s) s = gh_gguf_set_str(w, "tokenizer.ggml.pre", "default");
    if (!s) s = gh_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, NULL, (uint64_t)V);
    if (!s) s = gh_gguf_set_arr(w, "tokenizer.ggml.scores", GH_GGUF_FLOAT32, scores, (uint64_t)V);
    if (!s) s = gh_gguf_set_arr(w, "tokenizer.ggml.token_type", GH_GGUF_INT32, types, (uint64_t)V);
    if (!s) s = gh_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    if (!s) s = gh_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    if (!s) s = gh_gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    if (!s && p->add_eos) s = gh_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", true);
    if (!s && p->pad_id >= 0) s = gh_gguf_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)p->pad_id);
    if (toks) for (int32_t i = 0; i < V; i++) free(toks[i]);
    free(toks);
    free(scores);
    free(types);

    gh_rng r;
    gh_rng_seed(&r, p->seed, 0);
    const gh_type wt = p->wtype;
    if (!s) s = add_random(w, &k, "token_embd.weight", E, V, wt, &r, false);
    if (!s) s = add_random(w, &k, "output_norm.weight", E, 1, GH_TYPE_F32, &r, true);
    if (!s && !p->tied_output && !p->cls_head) s = add_random(w, &k, "output.weight", E, V, wt, &r, false);
    if (!s && p->cls_head) {
        /* [n_embd] as a 1-D tensor (HF's score.weight [1, n_embd] flattened) */
        s = add_tensor_std(w, &k, "cls.output.weight", E, 1, GH_TYPE_F32, &r, 0, 0.1);
        if (!s) s = add_tensor_std(w, &k, "cls.output.bias", 1, 1, GH_TYPE_F32, &r, 0, 0.1);
    }
    char n[96];
    for (int32_t l = 0; l < p->n_layer && !s; l++) {
#define TN(fmt) (snprintf(n, sizeof n, "blk.%d." fmt, l), n)
        s = add_random(w, &k, TN("attn_norm.weight"), E, 1, GH_TYPE_F32, &r, true);
        if (!s) s = add_random(w, &k, TN("attn_q.weight"), E, E, wt, &r, false);
        if (!s) s = add_random(w, &k, TN("attn_k.weight"), E, KV, wt, &r, false);
        if (!s) s = add_random(w, &k, TN("attn_v.weight"), E, KV, wt, &r, false);
        if (!s) s = add_random(w, &k, TN("attn_output.weight"), E, E, wt, &r, false);
        if (!s) s = add_random(w, &k, TN("ffn_norm.weight"), E, 1, GH_TYPE_F32, &r, true);
        if (!s) s = add_random(w, &k, TN("ffn_gate.weight"), E, p->n_ff, wt, &r, false);
        if (!s) s = add_random(w, &k, TN("ffn_up.weight"), E, p->n_ff, wt, &r, false);
        if (!s) s = add_random(w, &k, TN("ffn_down.weight"), p->n_ff, E, wt, &r, false);
        if (!s && !strcmp(arch, "qwen2")) {
            s = add_random(w, &k, TN("attn_q.bias"), E, 1, GH_TYPE_F32, &r, false);
            if (!s) s = add_random(w, &k, TN("attn_k.bias"), KV, 1, GH_TYPE_F32, &r, false);
            if (!s) s = add_random(w, &k, TN("attn_v.bias"), KV, 1, GH_TYPE_F32, &r, false);
        }
#undef TN
    }
    return write_and_free(w, &k, out_path, s);
}
