/* make_model.c — synthetic Llama-family GGUF models with random weights, of any
 * shape and weight type, so speed can be measured on 100M–1B-parameter shapes
 * without downloading anything, and so tests can exercise every weight type.
 * Weights are uniform with standard deviation 0.02 (cheap to draw for a
 * billion parameters); the tokenizer is a byte-fallback SentencePiece
 * vocabulary padded with filler pieces to n_vocab. */
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

/* Fills n floats: uniform on [-a, a] with a = 0.02·√3 (std 0.02). */
static void fill_random(float *x, int64_t n, gh_rng *r) {
    const double a = 0.02 * 1.7320508075688772;
    for (int64_t i = 0; i < n; i++) x[i] = (float)((gh_rng_uniform(r) * 2.0 - 1.0) * a);
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

static gh_status add_random(gh_gguf_writer *w, keep_list *k, const char *name, int64_t n_in,
                            int64_t n_out, gh_type type, gh_rng *r, bool ones) {
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
        if (ones) for (int64_t i = 0; i < n_in; i++) row[i] = 1.0f;
        else fill_random(row, n_in, r);
        tr->from_float(row, buf + (size_t)o * row_bytes, n_in);
    }
    free(row);
    int64_t ne[2] = {n_in, n_out};
    return gh_gguf_add_tensor(w, name, type, n_out > 1 ? 2 : 1, ne, buf);
}

gh_status gh_make_model(const gh_make_model_params *p, const char *out_path) {
    const char *arch = p->arch ? p->arch : "llama";
    if (strcmp(arch, "llama") && strcmp(arch, "mistral") && strcmp(arch, "qwen2"))
        return gh_error(GH_ERR_INVALID_ARG, "unknown architecture '%s' (llama, mistral, qwen2)", arch);
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
    if (toks) for (int32_t i = 0; i < V; i++) free(toks[i]);
    free(toks);
    free(scores);
    free(types);

    gh_rng r;
    gh_rng_seed(&r, p->seed, 0);
    const gh_type wt = p->wtype;
    if (!s) s = add_random(w, &k, "token_embd.weight", E, V, wt, &r, false);
    if (!s) s = add_random(w, &k, "output_norm.weight", E, 1, GH_TYPE_F32, &r, true);
    if (!s && !p->tied_output) s = add_random(w, &k, "output.weight", E, V, wt, &r, false);
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
    if (!s) s = gh_gguf_writer_write(w, out_path);
    gh_gguf_writer_free(w);
    for (int i = 0; i < k.n; i++) free(k.bufs[i]);
    free(k.bufs);
    return s;
}
