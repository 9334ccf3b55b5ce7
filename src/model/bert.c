/* bert.c — the BERT encoder (architecture "bert": all-MiniLM, bge, e5 and the
 * other sentence-transformers models llama.cpp's converter writes), for
 * sentence embeddings. gh_model_load (llama.c) reads the shared
 * hyper-parameters and the WordPiece tokenizer, then calls gh_bert_load.
 *
 * Post-norm encoder, one sequence at a time, every token attending to every
 * other (no mask, no cache). x is [n][n_embd], one row per token:
 *   x  = LN(tok_embd[t] + pos_embd[p] + type_embd[type]; token_embd_norm)
 * per block:
 *   q, k, v = x·Wq + bq, x·Wk + bk, x·Wv + bv        [n][n_embd], n_head heads
 *   a  = softmax(q·kᵀ/√d)·v                           per head
 *   x  = LN(x + a·Wo + bo; attn_output_norm)
 *   x  = LN(x + gelu(x·Wup + bup)·Wdown + bdown; layer_output_norm)
 * GELU is the exact one, x·Φ(x) = x/2·(1 + erf(x/√2)), as BERT defines it;
 * LN(x; w, b) = (x - mean)/√(var + eps)·w + b with the biased variance.
 * The final hidden states are the last block's output (no extra norm).
 *
 * Tensor names (llama.cpp's): token_embd, position_embd, token_types,
 * token_embd_norm, blk.N.attn_{q,k,v,output}, blk.N.attn_output_norm,
 * blk.N.ffn_{up,down}, blk.N.layer_output_norm — each .weight and .bias.
 * Every matrix product is one gh_matmul over all n tokens, so each weight
 * matrix is read once per text; attention too is two products per head
 * (scores = q·kᵀ, then softmax(scores)·v), not n² small dot products.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "model/model_internal.h"

typedef struct bert_layer {
    gh_weight wq, wk, wv, wo, w_up, w_down;
    const float *bq, *bk, *bv, *bo, *b_up, *b_down; /* NULL: no bias */
    const float *ln_att_w, *ln_att_b;               /* attn_output_norm */
    const float *ln_out_w, *ln_out_b;               /* layer_output_norm */
} bert_layer;

struct gh_bert {
    gh_weight tok_embd;    /* [n_vocab] rows of n_embd */
    gh_weight pos_embd;    /* [n_ctx_train] rows */
    gh_weight type_embd;   /* [n_types] rows; data NULL if the model has none */
    int32_t n_types;
    const float *ln_emb_w, *ln_emb_b;
    bert_layer *layers;
};

/* A table whose rows are read one at a time (embeddings): any type that
 * dequantizes. Its row count is read from the file (n_rows < 0) or checked. */
static gh_status get_table(gh_model *m, const char *name, int64_t n_embd, int64_t n_rows, bool required,
                           gh_weight *w) {
    const gh_gguf *g = gh_model_file(m);
    int64_t i = gh_gguf_find_tensor(g, name);
    memset(w, 0, sizeof *w);
    if (i < 0) return required ? gh_error(GH_ERR_FORMAT, "missing tensor '%s'", name) : GH_OK;
    const gh_tensor_info *t = gh_gguf_tensor(g, i);
    if (n_rows < 0) n_rows = t->ne[1];
    if (n_rows < 1 || n_rows > (1 << 24))
        return gh_error(GH_ERR_FORMAT, "tensor '%s' has %lld rows", name, (long long)n_rows);
    gh_status s = gh_model_weight(m, name, n_embd, n_rows, required, w);
    if (s) return s;
    const gh_type_traits *tr = gh_get_type_traits(w->type);
    if (!tr->to_float)
        return gh_error(GH_ERR_UNSUPPORTED, "tensor '%s' of type %s cannot be dequantized", name, tr->name);
    return GH_OK;
}

gh_status gh_bert_load(gh_model *m, gh_model_info *I, gh_bert **out) {
    *out = NULL;
    const gh_gguf *g = gh_model_file(m);
    gh_status s = gh_gguf_get_f32_or(g, "bert.attention.layer_norm_epsilon", 1e-12f, &I->norm_eps);
    if (s) return s;
    if (!(I->norm_eps > 0) || I->norm_eps > 1)
        return gh_error(GH_ERR_FORMAT, "key bert.attention.layer_norm_epsilon = %g is not a small positive number", I->norm_eps);
    if (I->n_head_kv != I->n_head)
        return gh_error(GH_ERR_FORMAT, "bert.attention.head_count_kv (%d) differs from head_count (%d): BERT has no grouped-query attention",
                        I->n_head_kv, I->n_head);
    gh_bert *b = calloc(1, sizeof *b);
    if (!b) return gh_error(GH_ERR_NOMEM, "out of memory");
    const int64_t E = I->n_embd, F = I->n_ff;
    if ((s = get_table(m, "token_embd.weight", E, I->n_vocab, true, &b->tok_embd))) goto fail;
    if ((s = get_table(m, "position_embd.weight", E, I->n_ctx_train, true, &b->pos_embd))) goto fail;
    if ((s = get_table(m, "token_types.weight", E, -1, false, &b->type_embd))) goto fail;
    b->n_types = b->type_embd.data ? (int32_t)b->type_embd.n_out : 0;
    if ((s = gh_model_vec(m, "token_embd_norm.weight", E, true, &b->ln_emb_w))) goto fail;
    if ((s = gh_model_vec(m, "token_embd_norm.bias", E, true, &b->ln_emb_b))) goto fail;
    b->layers = calloc((size_t)I->n_layer, sizeof *b->layers);
    if (!b->layers) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto fail; }
    char n[96];
#define TN(fmt) (snprintf(n, sizeof n, "blk.%d." fmt, l), n)
    for (int l = 0; l < I->n_layer; l++) {
        bert_layer *L = &b->layers[l];
        if ((s = gh_model_weight(m, TN("attn_q.weight"), E, E, true, &L->wq))) goto fail;
        if ((s = gh_model_weight(m, TN("attn_k.weight"), E, E, true, &L->wk))) goto fail;
        if ((s = gh_model_weight(m, TN("attn_v.weight"), E, E, true, &L->wv))) goto fail;
        if ((s = gh_model_weight(m, TN("attn_output.weight"), E, E, true, &L->wo))) goto fail;
        if ((s = gh_model_weight(m, TN("ffn_up.weight"), E, F, true, &L->w_up))) goto fail;
        if ((s = gh_model_weight(m, TN("ffn_down.weight"), F, E, true, &L->w_down))) goto fail;
        if ((s = gh_model_vec(m, TN("attn_q.bias"), E, false, &L->bq))) goto fail;
        if ((s = gh_model_vec(m, TN("attn_k.bias"), E, false, &L->bk))) goto fail;
        if ((s = gh_model_vec(m, TN("attn_v.bias"), E, false, &L->bv))) goto fail;
        if ((s = gh_model_vec(m, TN("attn_output.bias"), E, false, &L->bo))) goto fail;
        if ((s = gh_model_vec(m, TN("ffn_up.bias"), F, false, &L->b_up))) goto fail;
        if ((s = gh_model_vec(m, TN("ffn_down.bias"), E, false, &L->b_down))) goto fail;
        if ((s = gh_model_vec(m, TN("attn_output_norm.weight"), E, true, &L->ln_att_w))) goto fail;
        if ((s = gh_model_vec(m, TN("attn_output_norm.bias"), E, true, &L->ln_att_b))) goto fail;
        if ((s = gh_model_vec(m, TN("layer_output_norm.weight"), E, true, &L->ln_out_w))) goto fail;
        if ((s = gh_model_vec(m, TN("layer_output_norm.bias"), E, true, &L->ln_out_b))) goto fail;
    }
#undef TN
    I->attn_bias = b->layers[0].bq != NULL;
    I->tied_output = false;
    *out = b;
    return GH_OK;
fail:
    gh_bert_free(b);
    return s;
}

void gh_bert_free(gh_bert *b) {
    if (!b) return;
    free(b->layers);
    free(b);
}

uint64_t gh_bert_step_bytes(const gh_bert *b, const gh_model_info *I) {
    uint64_t step = 0;
    for (int l = 0; l < I->n_layer; l++) {
        const bert_layer *L = &b->layers[l];
        const gh_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_up, &L->w_down};
        for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++) step += ws[k]->row_bytes * (uint64_t)ws[k]->n_out;
    }
    return step;
}

/* ---------------------------------------------------------------- forward */

/* x [n] <- (x - mean)/sqrt(var + eps) * w + b, in place. */
static void layernorm(float *x, const float *w, const float *b, int64_t n, float eps) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < n; j++) mean += x[j];
    mean /= (double)n;
    for (int64_t j = 0; j < n; j++) { double d = x[j] - mean; var += d * d; }
    var /= (double)n;
    const float inv = (float)(1.0 / sqrt(var + eps)), mu = (float)mean;
    for (int64_t j = 0; j < n; j++) x[j] = (x[j] - mu) * inv * w[j] + b[j];
}

static void add_bias(float *y, const float *b, int64_t rows, int64_t n) {
    if (!b) return;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < n; j++) y[r * n + j] += b[j];
}

static void add_row(float *x, const gh_weight *w, int32_t row, float *tmp) {
    const gh_type_traits *tr = gh_get_type_traits(w->type);
    tr->to_float((const uint8_t *)w->data + (size_t)row * w->row_bytes, tmp, w->n_in);
    for (int64_t j = 0; j < w->n_in; j++) x[j] += tmp[j];
}

/* Buffers of one call: n rows each. */
typedef struct enc_work {
    float *x, *q, *k, *v, *att, *o, *hb;
    float *qh, *kh, *vt, *oh, *scores; /* one head: [n][hd], [n][hd], [hd][n], [n][hd], [n][n] */
    void *wdata;
} enc_work;

static void work_free(enc_work *w) {
    free(w->x); free(w->q); free(w->k); free(w->v); free(w->att); free(w->o); free(w->hb);
    free(w->qh); free(w->kh); free(w->vt); free(w->oh); free(w->scores); free(w->wdata);
}

/* Attention of head h for all n tokens: att[:, h] = softmax(q_h·k_hᵀ/√d)·v_h.
 * The head's slices are gathered into contiguous rows so both products run
 * through gh_matmul (F32 "weights": k_h's rows, then v_hᵀ's). */
static void attend_head(enc_work *w, int32_t n, int32_t E, int32_t hd, int32_t h, int nth) {
    const size_t N = (size_t)n;
    const float scale = 1.0f / sqrtf((float)hd);
    for (size_t t = 0; t < N; t++) {
        const size_t off = t * (size_t)E + (size_t)h * hd;
        memcpy(w->qh + t * hd, w->q + off, (size_t)hd * sizeof(float));
        memcpy(w->kh + t * hd, w->k + off, (size_t)hd * sizeof(float));
        for (int32_t d = 0; d < hd; d++) w->vt[(size_t)d * N + t] = w->v[off + d];
    }
    gh_matmul(w->scores, w->qh, w->kh, GH_TYPE_F32, hd, n, n, w->wdata, nth); /* [n][n] */
    for (size_t t = 0; t < N; t++) {
        float *s = w->scores + t * N, mx = -INFINITY, sum = 0.0f;
        for (size_t p = 0; p < N; p++) { s[p] *= scale; if (s[p] > mx) mx = s[p]; }
        for (size_t p = 0; p < N; p++) { s[p] = expf(s[p] - mx); sum += s[p]; }
        for (size_t p = 0; p < N; p++) s[p] /= sum;
    }
    gh_matmul(w->oh, w->scores, w->vt, GH_TYPE_F32, n, hd, n, w->wdata, nth); /* [n][hd] */
    for (size_t t = 0; t < N; t++)
        memcpy(w->att + t * (size_t)E + (size_t)h * hd, w->oh + t * hd, (size_t)hd * sizeof(float));
}

gh_status gh_bert_encode(const gh_bert *b, const gh_model_info *I, int32_t n_threads, const int32_t *tokens,
                         const int32_t *types, int32_t n, float *out) {
    const int32_t E = I->n_embd, F = I->n_ff, H = I->n_head, hd = I->head_dim;
    if (n < 1) return gh_error(GH_ERR_INVALID_ARG, "nothing to encode: no tokens");
    if (n > I->n_ctx_train)
        return gh_error(GH_ERR_LIMIT, "%d tokens exceed the encoder's %d positions", n, I->n_ctx_train);
    for (int32_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= I->n_vocab)
            return gh_error(GH_ERR_INVALID_ARG, "token %d (position %d) is outside the vocabulary of %d", tokens[i], i, I->n_vocab);
        int32_t ty = types ? types[i] : 0;
        if (ty < 0 || (ty > 0 && ty >= b->n_types))
            return gh_error(GH_ERR_INVALID_ARG, "token type %d (position %d) is outside the model's %d types", ty, i, b->n_types);
    }
    const int nth = n_threads > 0 ? n_threads : 1;
    const size_t N = (size_t)n;
    enc_work w = {0};
    size_t ws = 0, w1;
    const bert_layer *L0 = &b->layers[0];
    const gh_weight *wl[] = {&L0->wq, &L0->wo, &L0->w_up, &L0->w_down};
    for (size_t i = 0; i < sizeof wl / sizeof wl[0]; i++)
        if ((w1 = gh_matmul_wsize(wl[i]->type, wl[i]->n_in, n)) > ws) ws = w1;
    if ((w1 = gh_matmul_wsize(GH_TYPE_F32, hd, n)) > ws) ws = w1;
    if ((w1 = gh_matmul_wsize(GH_TYPE_F32, n, n)) > ws) ws = w1;
    w.x = malloc(N * E * sizeof(float));
    w.q = malloc(N * E * sizeof(float));
    w.k = malloc(N * E * sizeof(float));
    w.v = malloc(N * E * sizeof(float));
    w.att = malloc(N * E * sizeof(float));
    w.o = malloc(N * E * sizeof(float));
    w.hb = malloc(N * F * sizeof(float));
    w.qh = malloc(N * hd * sizeof(float));
    w.kh = malloc(N * hd * sizeof(float));
    w.vt = malloc(N * hd * sizeof(float));
    w.oh = malloc(N * hd * sizeof(float));
    w.scores = malloc(N * N * sizeof(float));
    w.wdata = ws ? malloc(ws) : NULL;
    if (!w.x || !w.q || !w.k || !w.v || !w.att || !w.o || !w.hb || !w.qh || !w.kh || !w.vt || !w.oh || !w.scores ||
        (ws && !w.wdata)) {
        work_free(&w);
        return gh_error(GH_ERR_NOMEM, "cannot allocate the encoder's buffers for %d tokens", n);
    }
    /* embeddings: token + position + type, then LayerNorm */
    for (int32_t t = 0; t < n; t++) {
        float *x = w.x + (size_t)t * E;
        memset(x, 0, (size_t)E * sizeof *x);
        add_row(x, &b->tok_embd, tokens[t], w.o);
        add_row(x, &b->pos_embd, t, w.o);
        if (b->n_types) add_row(x, &b->type_embd, types ? types[t] : 0, w.o);
        layernorm(x, b->ln_emb_w, b->ln_emb_b, E, I->norm_eps);
    }
#define MM(y, x, W) gh_matmul((y), (x), (W).data, (W).type, (W).n_in, (W).n_out, n, w.wdata, nth)
    for (int32_t l = 0; l < I->n_layer; l++) {
        const bert_layer *L = &b->layers[l];
        MM(w.q, w.x, L->wq);
        MM(w.k, w.x, L->wk);
        MM(w.v, w.x, L->wv);
        add_bias(w.q, L->bq, n, E);
        add_bias(w.k, L->bk, n, E);
        add_bias(w.v, L->bv, n, E);
        for (int32_t h = 0; h < H; h++) attend_head(&w, n, E, hd, h, nth);
        MM(w.o, w.att, L->wo);
        add_bias(w.o, L->bo, n, E);
        for (size_t i = 0; i < N * E; i++) w.x[i] += w.o[i];
        for (int32_t t = 0; t < n; t++) layernorm(w.x + (size_t)t * E, L->ln_att_w, L->ln_att_b, E, I->norm_eps);
        MM(w.hb, w.x, L->w_up);
        add_bias(w.hb, L->b_up, n, F);
        for (size_t i = 0; i < N * F; i++) {
            float u = w.hb[i];
            w.hb[i] = 0.5f * u * (1.0f + erff(u * (float)M_SQRT1_2));
        }
        MM(w.o, w.hb, L->w_down);
        add_bias(w.o, L->b_down, n, E);
        for (size_t i = 0; i < N * E; i++) w.x[i] += w.o[i];
        for (int32_t t = 0; t < n; t++) layernorm(w.x + (size_t)t * E, L->ln_out_w, L->ln_out_b, E, I->norm_eps);
    }
#undef MM
    memcpy(out, w.x, N * E * sizeof(float));
    work_free(&w);
    return GH_OK;
}
