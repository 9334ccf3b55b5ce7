/* llama.c — the Llama-family transformer (architectures llama, mistral, qwen2):
 * loading the weights from GGUF and the forward pass over a batch of tokens
 * from several sequences, with a KV cache per sequence.
 *
 * Per block (x is the residual stream, one row of n_embd per token):
 *   h  = rmsnorm(x) * attn_norm
 *   q  = h·Wq (+bq), k = h·Wk (+bk), v = h·Wv (+bv)      rope(q, k) at each token's position
 *   x += softmax(q·kᵀ/√d + causal mask)·v · Wo           (grouped-query: head h reads kv head h/(n_head/n_head_kv))
 *   h  = rmsnorm(x) * ffn_norm
 *   x += (silu(h·Wgate) ⊙ h·Wup) · Wdown
 * then logits = rmsnorm(x) * output_norm · Woutᵀ (Wout = token_embd when tied).
 *
 * Every matrix product goes through gh_matmul with all the batch's rows at
 * once, so each weight matrix is read once per forward pass whether the batch
 * holds one prompt or one token from each of N sequences.
 *
 * Architecture "bert" loads here too (the shared hyper-parameters and the
 * tokenizer) and hands its weights and forward pass to bert.c. A classifier
 * head (cls.output.weight, llama.cpp's name; reward models) is loaded for any
 * architecture and applied by gh_model_classify.
 */
#include "goodhart/model.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/hash.h"
#include "kernels/kernels.h"
#include "model/model_internal.h"

typedef struct gh_layer {
    const float *attn_norm, *ffn_norm;
    const float *bq, *bk, *bv; /* NULL unless attn_bias */
    gh_weight wq, wk, wv, wo, w_gate, w_up, w_down;
} gh_layer;

struct gh_model {
    gh_gguf *gguf;
    gh_tokenizer *tok;
    gh_model_info info;
    char arch[32];
    char name[128];
    gh_weight tok_embd, output;
    const float *output_norm;
    gh_layer *layers;
    gh_bert *bert;            /* arch "bert": the encoder (bert.c); layers is NULL */
    const float *cls_w;       /* [n_cls_out][n_embd] classifier head, or NULL */
    const float *cls_b;       /* [n_cls_out] or NULL */
    float **owned; /* F32 copies of small vectors stored in other types */
    int32_t n_owned;
    int32_t n_threads;
};

/* ------------------------------------------------------------------ loading */

static gh_status find_tensor(gh_model *m, const char *name, bool required, const gh_tensor_info **out) {
    int64_t i = gh_gguf_find_tensor(m->gguf, name);
    *out = NULL;
    if (i < 0) {
        if (required) return gh_error(GH_ERR_FORMAT, "missing tensor '%s'", name);
        return GH_OK;
    }
    *out = gh_gguf_tensor(m->gguf, i);
    return GH_OK;
}

/* A matrix with ne = [n_in, n_out] of a type the kernels can multiply with. */
static gh_status get_weight(gh_model *m, const char *name, int64_t n_in, int64_t n_out,
                            bool required, gh_weight *w) {
    const gh_tensor_info *t;
    gh_status s = find_tensor(m, name, required, &t);
    memset(w, 0, sizeof *w);
    if (s || !t) return s;
    if (t->ne[0] != n_in || t->ne[1] != n_out || t->ne[2] != 1 || t->ne[3] != 1)
        return gh_error(GH_ERR_FORMAT, "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
                        name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                        (long long)t->ne[3], (long long)n_in, (long long)n_out);
    const gh_type_traits *tr = gh_get_type_traits(t->type);
    if (!tr || !tr->vec_dot)
        return gh_error(GH_ERR_UNSUPPORTED, "tensor '%s' has type %s, which the runtime cannot compute with",
                        name, gh_type_name(t->type) ? gh_type_name(t->type) : "(unknown)");
    if (n_in % tr->blck_size)
        return gh_error(GH_ERR_FORMAT, "tensor '%s': row length %lld is not a multiple of %s's block size %lld",
                        name, (long long)n_in, tr->name, (long long)tr->blck_size);
    w->type = t->type;
    w->data = t->data;
    w->n_in = n_in;
    w->n_out = n_out;
    w->row_bytes = (size_t)(n_in / tr->blck_size) * tr->type_size;
    return GH_OK;
}

/* A vector of n floats (norm weights, biases); other float types are converted once. */
static gh_status get_vec(gh_model *m, const char *name, int64_t n, bool required, const float **out) {
    const gh_tensor_info *t;
    gh_status s = find_tensor(m, name, required, &t);
    *out = NULL;
    if (s || !t) return s;
    if (t->ne[0] != n || t->ne[1] != 1 || t->ne[2] != 1 || t->ne[3] != 1)
        return gh_error(GH_ERR_FORMAT, "tensor '%s' has %lld×%lld elements, expected a vector of %lld",
                        name, (long long)t->ne[0], (long long)t->ne[1], (long long)n);
    if (t->type == GH_TYPE_F32) { *out = t->data; return GH_OK; }
    const gh_type_traits *tr = gh_get_type_traits(t->type);
    if (!tr || !tr->to_float || n % tr->blck_size)
        return gh_error(GH_ERR_UNSUPPORTED, "tensor '%s' has type %s, not usable for a vector", name,
                        gh_type_name(t->type) ? gh_type_name(t->type) : "(unknown)");
    float *buf = malloc((size_t)n * sizeof *buf);
    float **o = realloc(m->owned, (size_t)(m->n_owned + 1) * sizeof *o);
    if (!buf || !o) { free(buf); if (o) m->owned = o; return gh_error(GH_ERR_NOMEM, "out of memory"); }
    m->owned = o;
    m->owned[m->n_owned++] = buf;
    tr->to_float(t->data, buf, n);
    *out = buf;
    return GH_OK;
}

static gh_status get_u32_key(gh_model *m, const char *suffix, uint32_t def, bool required, uint32_t *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", m->arch, suffix);
    if (required) return gh_gguf_get_u32(m->gguf, key, out);
    return gh_gguf_get_u32_or(m->gguf, key, def, out);
}

static gh_status load_hparams(gh_model *m) {
    gh_model_info *I = &m->info;
    uint32_t ctx, embd, ff, nl, nh, nkv, nrot;
    gh_status s;
    if ((s = get_u32_key(m, "context_length", 0, true, &ctx))) return s;
    if ((s = get_u32_key(m, "embedding_length", 0, true, &embd))) return s;
    if ((s = get_u32_key(m, "feed_forward_length", 0, true, &ff))) return s;
    if ((s = get_u32_key(m, "block_count", 0, true, &nl))) return s;
    if ((s = get_u32_key(m, "attention.head_count", 0, true, &nh))) return s;
    if ((s = get_u32_key(m, "attention.head_count_kv", nh, false, &nkv))) return s;
    if (embd == 0 || embd > (1u << 16) || ff == 0 || ff > (1u << 20) || nl == 0 || nl > 1024 ||
        nh == 0 || nh > 1024 || nkv == 0 || nkv > nh || nh % nkv || embd % nh || ctx == 0)
        return gh_error(GH_ERR_FORMAT,
                        "implausible hyper-parameters (embedding %u, ff %u, layers %u, heads %u, kv heads %u, context %u)",
                        embd, ff, nl, nh, nkv, ctx);
    if ((s = get_u32_key(m, "rope.dimension_count", embd / nh, false, &nrot))) return s;
    if (nrot > embd / nh || nrot % 2)
        return gh_error(GH_ERR_FORMAT, "%s.rope.dimension_count %u does not fit head size %u", m->arch, nrot, embd / nh);
    char key[128];
    snprintf(key, sizeof key, "%s.rope.freq_base", m->arch);
    if ((s = gh_gguf_get_f32_or(m->gguf, key, 10000.0f, &I->rope_base))) return s;
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", m->arch);
    if ((s = gh_gguf_get_f32_or(m->gguf, key, 1e-5f, &I->norm_eps))) return s;
    if (!(I->rope_base > 0) || !(I->norm_eps > 0))
        return gh_error(GH_ERR_FORMAT, "rope base %g and norm epsilon %g must be positive", I->rope_base, I->norm_eps);
    I->n_ctx_train = (int32_t)(ctx > (1u << 24) ? (1u << 24) : ctx);
    I->n_embd = (int32_t)embd;
    I->n_ff = (int32_t)ff;
    I->n_layer = (int32_t)nl;
    I->n_head = (int32_t)nh;
    I->n_head_kv = (int32_t)nkv;
    I->head_dim = (int32_t)(embd / nh);
    I->n_rot = (int32_t)nrot;
    return GH_OK;
}

static gh_status load_weights(gh_model *m) {
    gh_model_info *I = &m->info;
    const int64_t E = I->n_embd, F = I->n_ff, V = I->n_vocab;
    const int64_t KV = (int64_t)I->head_dim * I->n_head_kv, Q = (int64_t)I->head_dim * I->n_head;
    gh_status s;
    if ((s = get_weight(m, "token_embd.weight", E, V, true, &m->tok_embd))) return s;
    const gh_type_traits *et = gh_get_type_traits(m->tok_embd.type);
    if (!et->to_float)
        return gh_error(GH_ERR_UNSUPPORTED, "tensor 'token_embd.weight' of type %s cannot be dequantized", et->name);
    if ((s = get_vec(m, "output_norm.weight", E, true, &m->output_norm))) return s;
    if ((s = get_weight(m, "output.weight", E, V, false, &m->output))) return s;
    I->tied_output = m->output.data == NULL;
    if (I->tied_output) m->output = m->tok_embd;
    m->layers = calloc((size_t)I->n_layer, sizeof *m->layers);
    if (!m->layers) return gh_error(GH_ERR_NOMEM, "out of memory");
    char n[96];
#define TN(fmt) (snprintf(n, sizeof n, "blk.%d." fmt, l), n)
    for (int l = 0; l < I->n_layer; l++) {
        gh_layer *L = &m->layers[l];
        if ((s = get_vec(m, TN("attn_norm.weight"), E, true, &L->attn_norm))) return s;
        if ((s = get_vec(m, TN("ffn_norm.weight"), E, true, &L->ffn_norm))) return s;
        if ((s = get_weight(m, TN("attn_q.weight"), E, Q, true, &L->wq))) return s;
        if ((s = get_weight(m, TN("attn_k.weight"), E, KV, true, &L->wk))) return s;
        if ((s = get_weight(m, TN("attn_v.weight"), E, KV, true, &L->wv))) return s;
        if ((s = get_weight(m, TN("attn_output.weight"), Q, E, true, &L->wo))) return s;
        if ((s = get_weight(m, TN("ffn_gate.weight"), E, F, true, &L->w_gate))) return s;
        if ((s = get_weight(m, TN("ffn_up.weight"), E, F, true, &L->w_up))) return s;
        if ((s = get_weight(m, TN("ffn_down.weight"), F, E, true, &L->w_down))) return s;
        bool req = strcmp(m->arch, "qwen2") == 0;
        if ((s = get_vec(m, TN("attn_q.bias"), Q, req, &L->bq))) return s;
        if ((s = get_vec(m, TN("attn_k.bias"), KV, req, &L->bk))) return s;
        if ((s = get_vec(m, TN("attn_v.bias"), KV, req, &L->bv))) return s;
        if ((L->bq != NULL) != (L->bk != NULL) || (L->bq != NULL) != (L->bv != NULL))
            return gh_error(GH_ERR_FORMAT, "layer %d has some but not all of the q/k/v biases", l);
        if (l == 0) I->attn_bias = L->bq != NULL;
        else if (I->attn_bias != (L->bq != NULL))
            return gh_error(GH_ERR_FORMAT, "layer %d differs from layer 0 in having q/k/v biases", l);
    }
#undef TN
    uint64_t step = m->output.row_bytes * (uint64_t)V + (uint64_t)E * 4, macs = (uint64_t)E * (uint64_t)V;
    for (int l = 0; l < I->n_layer; l++) {
        gh_layer *L = &m->layers[l];
        const gh_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++) {
            step += ws[k]->row_bytes * (uint64_t)ws[k]->n_out;
            macs += (uint64_t)ws[k]->n_in * (uint64_t)ws[k]->n_out;
        }
        step += (uint64_t)E * 8;
    }
    I->step_bytes = step;
    I->step_macs = macs;
    return GH_OK;
}

/* A copied model's Q4_0 and Q8_0 matrices (on a CPU whose kernels use AMX)
 * and F16 ones (AVX-512) are regrouped in place for the kernels
 * (GH_TYPE_*_R16, GH_TYPE_F16_R2 in kernels.h; repack.c has
 * why): the same bytes, 16 rows' blocks side by side, and the same bits of
 * every product. token_embd (read by rows for the embedding lookup) keeps
 * its rows, and so does the output matrix when it is token_embd. A mapped
 * file is read-only and stays as it is; so does a matrix that the layout
 * cannot hold (rows not a multiple of 16) or that no memory was left to
 * regroup. */
static gh_status regroup(gh_model *m) {
    const gh_model_info *I = &m->info;
    if (I->mapped || !m->layers) return GH_OK;
    int64_t nw = 0;
    gh_weight **ws = malloc(sizeof *ws * (size_t)(7 * I->n_layer + 1));
    if (!ws) return gh_error(GH_ERR_NOMEM, "out of memory");
    if (!I->tied_output) ws[nw++] = &m->output;
    for (int l = 0; l < I->n_layer; l++) {
        gh_layer *L = &m->layers[l];
        gh_weight *lw[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int k = 0; k < 7; k++) ws[nw++] = lw[k];
    }
    int64_t n = 0;
    for (int64_t k = 0; k < nw; k++)
        if (gh_regroup_usable(ws[k]->type, ws[k]->n_in, ws[k]->n_out)) ws[n++] = ws[k];
    gh_status s = n ? gh_gguf_copy_writable(m->gguf, true) : GH_OK;
    for (int64_t k = 0; k < n && !s; k++)
        if (gh_regroup(ws[k]->type, (void *)ws[k]->data, ws[k]->n_in, ws[k]->n_out) == 0) {
            ws[k]->type = gh_regrouped_of(ws[k]->type);
            m->info.n_regrouped++;
        }
    if (n && !s) s = gh_gguf_copy_writable(m->gguf, false);
    free(ws);
    return s;
}

/* Sizes: parameters, bytes, and the type most of the bytes have. */
static void sum_sizes(gh_model *m) {
    gh_model_info *I = &m->info;
    uint64_t type_bytes[GH_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < gh_gguf_n_tensors(m->gguf); i++) {
        const gh_tensor_info *t = gh_gguf_tensor(m->gguf, i);
        I->n_params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        I->weight_bytes += t->nbytes;
        if ((int)t->type < GH_TYPE_COUNT) type_bytes[t->type] += t->nbytes;
    }
    int best = 0;
    for (int t = 0; t < GH_TYPE_COUNT; t++) if (type_bytes[t] > type_bytes[best]) best = t;
    I->wtype = (gh_type)best;
}

/* {arch}.pooling_type, and the classifier head cls.output.weight [n_embd] or
 * [n_embd, n_out] (+ cls.output.bias [n_out]) of sequence-classification
 * models. A reward head scores the last token, so a decoder whose file says
 * mean or CLS pooling for its head is refused rather than scored wrongly. */
static gh_status load_head(gh_model *m) {
    gh_model_info *I = &m->info;
    char key[96];
    snprintf(key, sizeof key, "%s.pooling_type", m->arch);
    int64_t ki = gh_gguf_find_key(m->gguf, key), pv = -1;
    gh_status s;
    if (ki >= 0 && (s = gh_gguf_kv_int(m->gguf, ki, &pv))) return s;
    if (ki >= 0 && (pv < 0 || pv > 4))
        return gh_error(GH_ERR_FORMAT, "key %s = %lld is not a pooling type (0 none, 1 mean, 2 cls, 3 last, 4 rank)", key, (long long)pv);
    I->pooling = ki >= 0 ? (int32_t)pv : GH_POOLING_UNSPECIFIED;
    const gh_tensor_info *t;
    if ((s = find_tensor(m, "cls.output.weight", false, &t))) return s;
    if (!t) return GH_OK;
    if (I->encoder)
        return gh_error(GH_ERR_UNSUPPORTED, "tensor 'cls.output.weight': classification heads on BERT models "
                        "(pooler + classifier) are not supported; reward heads go on llama/mistral/qwen2 models");
    if (t->ne[0] != I->n_embd || t->ne[1] < 1 || t->ne[1] > 1024 || t->ne[2] != 1 || t->ne[3] != 1)
        return gh_error(GH_ERR_FORMAT, "tensor 'cls.output.weight' has shape [%lld, %lld, %lld, %lld], expected [%d] or [%d, n_labels]",
                        (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3], I->n_embd, I->n_embd);
    if (I->pooling != GH_POOLING_UNSPECIFIED && I->pooling != GH_POOLING_LAST && I->pooling != GH_POOLING_RANK)
        return gh_error(GH_ERR_UNSUPPORTED, "key %s = %d (%s): a classifier head on a decoder scores the last token "
                        "(pooling type 3, last)", key, I->pooling, gh_pooling_name(I->pooling));
    const int64_t n = t->ne[0] * t->ne[1];
    const gh_type_traits *tr = gh_get_type_traits(t->type);
    if (!tr || !tr->to_float || n % tr->blck_size)
        return gh_error(GH_ERR_UNSUPPORTED, "tensor 'cls.output.weight' has type %s, which cannot be read as floats",
                        gh_type_name(t->type) ? gh_type_name(t->type) : "(unknown)");
    if (t->type == GH_TYPE_F32) m->cls_w = t->data;
    else {
        float *buf = malloc((size_t)n * sizeof *buf);
        float **o = realloc(m->owned, (size_t)(m->n_owned + 1) * sizeof *o);
        if (!buf || !o) { free(buf); if (o) m->owned = o; return gh_error(GH_ERR_NOMEM, "out of memory"); }
        m->owned = o;
        m->owned[m->n_owned++] = buf;
        tr->to_float(t->data, buf, n);
        m->cls_w = buf;
    }
    I->n_cls_out = (int32_t)t->ne[1];
    if ((s = get_vec(m, "cls.output.bias", I->n_cls_out, false, &m->cls_b))) return s;
    /* a sequence-classification model stored without an LM head: token_embd
     * stands in as the output only so the context works; its logits mean nothing */
    if (I->tied_output && gh_gguf_find_tensor(m->gguf, "output.weight") < 0) I->lm_head = false;
    return GH_OK;
}

gh_status gh_model_weight(gh_model *m, const char *name, int64_t n_in, int64_t n_out, bool required, gh_weight *w) {
    return get_weight(m, name, n_in, n_out, required, w);
}

gh_status gh_model_vec(gh_model *m, const char *name, int64_t n, bool required, const float **out) {
    return get_vec(m, name, n, required, out);
}

const gh_gguf *gh_model_file(const gh_model *m) { return m->gguf; }

const char *gh_pooling_name(int32_t p) {
    switch (p) {
    case GH_POOLING_NONE: return "none";
    case GH_POOLING_MEAN: return "mean";
    case GH_POOLING_CLS: return "cls";
    case GH_POOLING_LAST: return "last";
    case GH_POOLING_RANK: return "rank";
    }
    return "unspecified";
}

gh_model_params gh_model_default_params(void) {
    gh_model_params p = {0};
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    p.n_threads = n > 0 ? (int32_t)n : 1;
    return p;
}

bool gh_model_copy_fits(uint64_t file_bytes, uint64_t mem_available) {
    const uint64_t slack = (uint64_t)512 << 20;
    return mem_available == 0 || file_bytes + slack <= mem_available; /* unknown: copy */
}

/* MemAvailable from /proc/meminfo in bytes, 0 if it cannot be read. */
static uint64_t mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

gh_status gh_model_load(const char *path, const gh_model_params *p, gh_model **out) {
    *out = NULL;
    gh_model *m = calloc(1, sizeof *m);
    if (!m) return gh_error(GH_ERR_NOMEM, "out of memory");
    gh_model_params dp = gh_model_default_params();
    m->n_threads = p && p->n_threads > 0 ? p->n_threads : dp.n_threads;
    bool use_mmap = p ? p->use_mmap : dp.use_mmap;
    struct stat st;
    if (!use_mmap && stat(path, &st) == 0 && !gh_model_copy_fits((uint64_t)st.st_size, mem_available()))
        use_mmap = true; /* too big to copy with room to spare: map it */
    gh_status s = use_mmap ? gh_gguf_open(path, &m->gguf) : gh_gguf_open_copy(path, &m->gguf);
    m->info.mapped = use_mmap;
    if (s) { free(m); return s; } /* the reader's message already names the file */
    gh_str arch;
    if ((s = gh_gguf_get_str(m->gguf, "general.architecture", &arch))) goto fail;
    snprintf(m->arch, sizeof m->arch, "%.*s", (int)(arch.len < 31 ? arch.len : 31), arch.ptr);
    if (strcmp(m->arch, "llama") && strcmp(m->arch, "mistral") && strcmp(m->arch, "qwen2") && strcmp(m->arch, "bert")) {
        s = gh_error(GH_ERR_UNSUPPORTED, "architecture '%s' is not supported (llama, mistral, qwen2, bert are)", m->arch);
        goto fail;
    }
    gh_str name = {"", 0};
    if (gh_gguf_find_key(m->gguf, "general.name") >= 0 && (s = gh_gguf_get_str(m->gguf, "general.name", &name))) goto fail;
    snprintf(m->name, sizeof m->name, "%.*s", (int)(name.len < 127 ? name.len : 127), name.ptr);
    m->info.arch = m->arch;
    m->info.name = m->name;
    m->info.rope_neox = strcmp(m->arch, "qwen2") == 0;
    m->info.encoder = strcmp(m->arch, "bert") == 0;
    m->info.lm_head = !m->info.encoder;
    if ((s = load_hparams(m))) goto fail;
    if ((s = gh_tokenizer_from_gguf(m->gguf, &m->tok))) goto fail;
    m->info.n_vocab = gh_tokenizer_n_vocab(m->tok);
    if (m->info.encoder) {
        if ((s = gh_bert_load(m, &m->info, &m->bert))) goto fail;
        m->info.step_bytes = gh_bert_step_bytes(m->bert, &m->info);
    } else if ((s = load_weights(m)) || (s = regroup(m))) goto fail;
    sum_sizes(m);
    if ((s = load_head(m))) goto fail;
    *out = m;
    return GH_OK;
fail:
    gh_error_prefix("%s", path);
    gh_model_free(m);
    return s;
}

void gh_model_free(gh_model *m) {
    if (!m) return;
    for (int32_t i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    gh_bert_free(m->bert);
    gh_tokenizer_free(m->tok);
    gh_gguf_free(m->gguf);
    free(m);
}

const gh_model_info *gh_model_get_info(const gh_model *m) { return &m->info; }
const gh_tokenizer *gh_model_tokenizer(const gh_model *m) { return m->tok; }
const gh_gguf *gh_model_gguf(const gh_model *m) { return m->gguf; }
int32_t gh_model_n_threads(const gh_model *m) { return m->n_threads; }
void gh_model_set_n_threads(gh_model *m, int32_t n) { if (n > 0) m->n_threads = n; }

const char *gh_model_sha256(gh_model *m) {
    if (!m->info.sha256[0] && gh_sha256_file(gh_gguf_path(m->gguf), m->info.sha256) != GH_OK)
        m->info.sha256[0] = '\0';
    return m->info.sha256;
}

/* ------------------------------------------------------------------ context */

struct gh_ctx {
    gh_model *m;
    int32_t n_ctx, n_seq, n_batch;
    bool hidden_only;             /* see gh_ctx_params */
    int64_t kv_dim;
    int32_t *seq_len;             /* [n_seq] */
    float *k_cache, *v_cache;     /* [n_seq][n_layer][n_ctx][kv_dim], kv_map */
    size_t kv_bytes;              /* of each */
    /* Positions [0, pre_len[s]) of sequence s are those of sequence
     * pre_src[s] (gh_ctx_seq_copy: the prompt that N samples share), and only
     * pre_src[s]'s slab holds them: s's own slab holds [pre_len[s],
     * seq_len[s]). Attention reads the shared ones from pre_src[s], so the N
     * samples' decode steps read one copy of the prompt's cache, which stays
     * in the L2 cache from one sample to the next, instead of N copies from
     * memory; and N samples of a prompt cost no copies (1.1B model, a
     * 1536-token prompt: 34 MiB of keys and values a sample). A source is
     * never itself sharing (pre_len[pre_src[s]] == 0): a copy of a copy
     * shares its source's source. When a source's positions are about to
     * change (truncated, cleared, copied over), unshare_from copies what its
     * sharers still need into their own slabs first; a cleared source hands
     * its slab to its first sharer instead, which costs a copy of that
     * sharer's own positions, not of the prompt. */
    int32_t *pre_src, *pre_len;   /* [n_seq] */
    int32_t *slab;                /* [n_seq]: the slab that holds each sequence's positions (unshare_from swaps two) */
    uint64_t kv_copied;           /* bytes copied between slabs (tests) */
    float *rope_cos, *rope_sin;   /* [n_ctx][n_rot/2] */
    /* activations of one forward pass of up to n_batch tokens */
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2; /* [n_batch][...] */
    float *scores;                /* [scores_nth][scores_len]: per thread, a group's scores */
    int32_t scores_nth;
    size_t scores_len;            /* (n_head / n_head_kv) * n_ctx */
    int32_t *pos;                 /* [n_batch] */
    void *wdata;
    size_t wsize;
    /* outputs of the last gh_ctx_decode */
    int32_t n_out;                /* tokens in the last call */
    int32_t out_cap;
    int32_t *logit_row;           /* [n_out] row of `logits` or -1 */
    float *logits;                /* [rows][n_vocab] */
    int32_t logits_cap_rows;
    int32_t n_cap;
    int32_t *cap_layers;
    float *hidden;                /* [n_cap][n_out][n_embd] */
    size_t hidden_cap;
};

gh_ctx_params gh_ctx_default_params(void) {
    gh_ctx_params p = {0};
    p.n_seq = 1;
    p.n_batch = 256;
    return p;
}

static float *falloc(size_t n) { return malloc((n ? n : 1) * sizeof(float)); }

/* The KV cache (gh_map_huge): zero pages mapped on first touch, with huge
 * pages advised. Each decode step writes one new row per (sequence, layer);
 * with 4 KiB pages that was a page fault every 4 rows of a 1 KiB-row cache,
 * ~180 a step for 16 sequences of a 22-layer model (1.1B q4_0 at N = 16: the
 * rope and cache-write step took 70 us a layer, 38 with huge pages; the
 * bench's page faults 23 600 -> 8 700). Pages still come on first touch, so
 * a large n_ctx costs memory only as it fills. */
static void kv_unmap(float *p, size_t bytes) {
    if (p) munmap(p, bytes ? bytes : 1);
}

gh_status gh_ctx_init(gh_model *m, const gh_ctx_params *p, gh_ctx **out) {
    *out = NULL;
    const gh_model_info *I = &m->info;
    if (I->encoder)
        return gh_error(GH_ERR_UNSUPPORTED, "%s: a %s model is an encoder (embeddings only): it has no decoding context; "
                        "use it for embeddings", gh_gguf_path(m->gguf), m->arch);
    gh_ctx_params d = p ? *p : gh_ctx_default_params();
    if (d.n_ctx <= 0) d.n_ctx = I->n_ctx_train < 2048 ? I->n_ctx_train : 2048;
    if (d.n_seq <= 0) d.n_seq = 1;
    if (d.n_batch <= 0) d.n_batch = 256;
    if (d.n_ctx > (1 << 20) || d.n_seq > 4096 || d.n_batch > 65536)
        return gh_error(GH_ERR_INVALID_ARG, "context of %d positions × %d sequences (batch %d) is too large",
                        d.n_ctx, d.n_seq, d.n_batch);
    gh_ctx *c = calloc(1, sizeof *c);
    if (!c) return gh_error(GH_ERR_NOMEM, "out of memory");
    c->m = m;
    c->n_ctx = d.n_ctx;
    c->n_seq = d.n_seq;
    c->n_batch = d.n_batch;
    c->hidden_only = d.hidden_only;
    c->kv_dim = (int64_t)I->head_dim * I->n_head_kv;
    size_t kv = (size_t)c->n_seq * I->n_layer * c->n_ctx * c->kv_dim;
    const size_t B = (size_t)c->n_batch, E = (size_t)I->n_embd, Q = (size_t)I->head_dim * I->n_head;
    c->seq_len = calloc((size_t)c->n_seq, sizeof *c->seq_len);
    c->pre_src = calloc((size_t)c->n_seq, sizeof *c->pre_src);
    c->pre_len = calloc((size_t)c->n_seq, sizeof *c->pre_len);
    c->slab = malloc((size_t)c->n_seq * sizeof *c->slab);
    for (int32_t s = 0; c->slab && s < c->n_seq; s++) c->slab[s] = s;
    c->kv_bytes = kv * sizeof(float);
    c->k_cache = gh_map_huge(c->kv_bytes);
    c->v_cache = gh_map_huge(c->kv_bytes);
    c->rope_cos = falloc((size_t)c->n_ctx * (size_t)(I->n_rot / 2));
    c->rope_sin = falloc((size_t)c->n_ctx * (size_t)(I->n_rot / 2));
    c->x = falloc(B * E);
    c->xb = falloc(B * (E > Q ? E : Q));
    c->q = falloc(B * Q);
    c->k = falloc(B * (size_t)c->kv_dim);
    c->v = falloc(B * (size_t)c->kv_dim);
    c->att = falloc(B * Q);
    c->hb = falloc(B * (size_t)I->n_ff);
    c->hb2 = falloc(B * (size_t)I->n_ff);
    c->scores_nth = m->n_threads > 0 ? m->n_threads : 1;
    c->scores_len = (size_t)(I->n_head / I->n_head_kv) * (size_t)c->n_ctx;
    c->scores = falloc((size_t)c->scores_nth * c->scores_len);
    c->pos = malloc(B * sizeof *c->pos);
    size_t ws = 0, w1;
    const gh_layer *L0 = &m->layers[0];
    const gh_weight *ws_list[] = {&L0->wq, &L0->wo, &L0->w_gate, &L0->w_down, &m->output};
    for (size_t i = 0; i < sizeof ws_list / sizeof ws_list[0]; i++)
        if ((w1 = gh_matmul_wsize(ws_list[i]->type, ws_list[i]->n_in, (int64_t)B)) > ws) ws = w1;
    c->wsize = ws;
    c->wdata = ws ? malloc(ws) : NULL;
    if (!c->seq_len || !c->pre_src || !c->pre_len || !c->slab || !c->k_cache || !c->v_cache || !c->rope_cos || !c->rope_sin || !c->x || !c->xb ||
        !c->q || !c->k || !c->v || !c->att || !c->hb || !c->hb2 || !c->scores || !c->pos || (ws && !c->wdata)) {
        gh_ctx_free(c);
        return gh_error(GH_ERR_NOMEM, "cannot allocate a context of %d positions × %d sequences (KV cache %.1f MiB)",
                        d.n_ctx, d.n_seq, (double)kv * 8 / (1 << 20));
    }
    /* RoPE tables, computed as llama2.c does (float pow, then cos/sin of pos·freq) */
    const int32_t half = I->n_rot / 2;
    for (int32_t p = 0; p < c->n_ctx; p++)
        for (int32_t i = 0; i < half; i++) {
            float freq = 1.0f / powf(I->rope_base, (float)(2 * i) / (float)I->n_rot);
            float val = (float)p * freq;
            c->rope_cos[(size_t)p * half + i] = cosf(val);
            c->rope_sin[(size_t)p * half + i] = sinf(val);
        }
    *out = c;
    return GH_OK;
}

void gh_ctx_free(gh_ctx *c) {
    if (!c) return;
    kv_unmap(c->k_cache, c->kv_bytes);
    kv_unmap(c->v_cache, c->kv_bytes);
    free(c->seq_len); free(c->pre_src); free(c->pre_len); free(c->slab); free(c->rope_cos); free(c->rope_sin);
    free(c->x); free(c->xb); free(c->q); free(c->k); free(c->v); free(c->att); free(c->hb);
    free(c->hb2); free(c->scores); free(c->pos); free(c->wdata); free(c->logit_row);
    free(c->logits); free(c->cap_layers); free(c->hidden);
    free(c);
}

int32_t gh_ctx_n_ctx(const gh_ctx *c) { return c->n_ctx; }
int32_t gh_ctx_n_seq(const gh_ctx *c) { return c->n_seq; }
int32_t gh_ctx_seq_len(const gh_ctx *c, int32_t seq) { return seq >= 0 && seq < c->n_seq ? c->seq_len[seq] : -1; }
static inline size_t kv_off(const gh_ctx *c, int32_t seq, int32_t layer, int32_t pos) {
    return (((size_t)c->slab[seq] * c->m->info.n_layer + layer) * c->n_ctx + pos) * (size_t)c->kv_dim;
}

/* Positions [p0, p1) of src's own slab (keys and values, every layer) into
 * dst's. */
static void kv_copy(gh_ctx *c, int32_t src, int32_t dst, int32_t p0, int32_t p1) {
    if (p1 <= p0) return;
    const size_t n = (size_t)(p1 - p0) * (size_t)c->kv_dim * sizeof(float);
    for (int32_t l = 0; l < c->m->info.n_layer; l++) {
        memcpy(c->k_cache + kv_off(c, dst, l, p0), c->k_cache + kv_off(c, src, l, p0), n);
        memcpy(c->v_cache + kv_off(c, dst, l, p0), c->v_cache + kv_off(c, src, l, p0), n);
    }
    c->kv_copied += 2 * n * (uint64_t)c->m->info.n_layer;
}

/* Sequence seq keeps only its first n positions (they may then be
 * rewritten). Its own sharing of later positions ends, and so does others'
 * sharing of them from seq: each sharer gets its own copy of the positions
 * it read from seq past n. With n = 0 (seq cleared or copied over) the first
 * sharer, the heir, takes seq's slab itself: its own positions are copied in
 * after the shared ones, the two sequences swap slabs, and the other sharers
 * share from the heir. So ending the sharing of a prompt copies no prompt,
 * only the heir's own positions (a sample's tokens so far).
 * (Positions are only ever appended at seq_len, so the shared ones of a
 * sequence change only through this and gh_ctx_seq_copy.) */
static void unshare_from(gh_ctx *c, int32_t seq, int32_t n) {
    if (c->pre_len[seq] > n) c->pre_len[seq] = n;
    int32_t heir = -1, heir_len = 0;
    for (int32_t d = 0; n == 0 && heir < 0 && d < c->n_seq; d++)
        if (d != seq && c->pre_src[d] == seq && c->pre_len[d] > 0) heir = d, heir_len = c->pre_len[d];
    /* the others first, while seq's slab still holds all its positions (seq
     * is a source: its slab holds them itself) */
    for (int32_t d = 0; d < c->n_seq; d++) {
        if (d == seq || d == heir || c->pre_src[d] != seq || c->pre_len[d] <= n) continue;
        /* the heir's first heir_len positions will be seq's, bitwise */
        const int32_t keep = heir >= 0 ? (c->pre_len[d] < heir_len ? c->pre_len[d] : heir_len) : n;
        kv_copy(c, seq, d, keep, c->pre_len[d]);
        c->pre_len[d] = keep;
        if (heir >= 0) c->pre_src[d] = heir;
    }
    if (heir >= 0) { /* seq's later positions are discarded: the heir's own go there */
        kv_copy(c, heir, seq, heir_len, c->seq_len[heir]);
        const int32_t t = c->slab[seq];
        c->slab[seq] = c->slab[heir];
        c->slab[heir] = t;
        c->pre_len[heir] = 0;
    }
}

void gh_ctx_seq_clear(gh_ctx *c, int32_t seq) {
    if (seq < 0 || seq >= c->n_seq) return;
    unshare_from(c, seq, 0);
    c->seq_len[seq] = 0;
}

gh_status gh_ctx_seq_truncate(gh_ctx *c, int32_t seq, int32_t n) {
    if (seq < 0 || seq >= c->n_seq) return gh_error(GH_ERR_INVALID_ARG, "sequence %d out of range [0, %d)", seq, c->n_seq);
    if (n < 0 || n > c->seq_len[seq]) return gh_error(GH_ERR_INVALID_ARG, "cannot truncate sequence %d of %d positions to %d", seq, c->seq_len[seq], n);
    unshare_from(c, seq, n);
    c->seq_len[seq] = n;
    return GH_OK;
}

/* dst shares src's positions, copying none: if src itself shares a prefix
 * from a source, dst shares that prefix from the same source and copies
 * only src's own positions past it (a source is never itself sharing). */
gh_status gh_ctx_seq_copy(gh_ctx *c, int32_t src, int32_t dst) {
    if (src < 0 || src >= c->n_seq || dst < 0 || dst >= c->n_seq)
        return gh_error(GH_ERR_INVALID_ARG, "sequence %d or %d out of range [0, %d)", src, dst, c->n_seq);
    if (src == dst) return GH_OK;
    unshare_from(c, dst, 0); /* dst's positions are all replaced: its sharers copy theirs first */
    int32_t root = src, shared = c->seq_len[src];
    if (c->pre_len[src] > 0) {
        root = c->pre_src[src];
        shared = c->pre_len[src];
        kv_copy(c, src, dst, shared, c->seq_len[src]);
    }
    c->seq_len[dst] = c->seq_len[src];
    c->pre_src[dst] = root;
    c->pre_len[dst] = shared;
    return GH_OK;
}

uint64_t gh_ctx_kv_copied(const gh_ctx *c) { return c->kv_copied; }

gh_status gh_ctx_set_capture(gh_ctx *c, const int32_t *layers, int32_t n) {
    if (n < 0 || n > 4096) return gh_error(GH_ERR_INVALID_ARG, "cannot capture %d layers", n);
    for (int32_t i = 0; i < n; i++)
        if (layers[i] < 0 || layers[i] > c->m->info.n_layer)
            return gh_error(GH_ERR_INVALID_ARG, "layer %d out of range: this model has layers 0..%d "
                            "(0 = embeddings, %d = last block)", layers[i], c->m->info.n_layer, c->m->info.n_layer);
    int32_t *cl = n ? malloc((size_t)n * sizeof *cl) : NULL;
    if (n && !cl) return gh_error(GH_ERR_NOMEM, "out of memory");
    if (n) memcpy(cl, layers, (size_t)n * sizeof *cl);
    free(c->cap_layers);
    c->cap_layers = cl;
    c->n_cap = n;
    return GH_OK;
}

/* ---------------------------------------------------------------- forward */

/* o[i] = w[i] * x[i] / sqrt(mean(x²) + eps), x and o of n floats (may alias) */
/* o = w * (x / rms): the scale from x's sum of squares ss, then the
 * product, the steps llama2.c takes (rmsnorm and rmsnorm_rows share it). */
static void rms_apply(float *restrict o, const float *restrict x, const float *restrict w, int64_t n, float ss,
                      float eps) {
    ss /= (float)n;
    ss += eps;
    ss = 1.0f / sqrtf(ss);
    for (int64_t j = 0; j < n; j++) o[j] = w[j] * (ss * x[j]);
}

static void rmsnorm(float *o, const float *x, const float *w, int64_t n, float eps) {
    float ss = 0.0f;
    for (int64_t j = 0; j < n; j++) ss += x[j] * x[j];
    rms_apply(o, x, w, n, ss, eps);
}

/* rmsnorm of the nr (<= RMS_ROWS) rows at x (n apart) into o: each row's
 * sum of squares is rmsnorm's sequential chain (the same bits), but the
 * rows' chains run side by side, so the adds' 4-cycle latency overlaps:
 * with 16 sequences two threads did 8 dependent 2048-add chains each, ~1 %
 * of a 1.1B q4_0 step. */
#define RMS_ROWS 8
static void rmsnorm_rows(float *restrict o, const float *restrict x, const float *restrict w, int32_t nr, int64_t n,
                         float eps) {
    const float *xr[RMS_ROWS];
    for (int r = 0; r < RMS_ROWS; r++) xr[r] = x + (size_t)(r < nr ? r : 0) * (size_t)n; /* rows past nr repeat row 0 */
    /* eight named accumulators: GCC kept an array of them in memory */
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (int64_t j = 0; j < n; j++) {
        s0 += xr[0][j] * xr[0][j];
        s1 += xr[1][j] * xr[1][j];
        s2 += xr[2][j] * xr[2][j];
        s3 += xr[3][j] * xr[3][j];
        s4 += xr[4][j] * xr[4][j];
        s5 += xr[5][j] * xr[5][j];
        s6 += xr[6][j] * xr[6][j];
        s7 += xr[7][j] * xr[7][j];
    }
    const float ss[RMS_ROWS] = {s0, s1, s2, s3, s4, s5, s6, s7};
    for (int r = 0; r < nr; r++) rms_apply(o + (size_t)r * (size_t)n, xr[r], w, n, ss[r], eps);
}

/* Rotates the first n_rot dims of each head of vec ([n_heads][head_dim]) by
 * position: interleaved pairs (2i, 2i+1), or NeoX pairs (i, i+n_rot/2). */
static void rope(float *vec, int32_t n_heads, const gh_ctx *c, int32_t pos) {
    const gh_model_info *I = &c->m->info;
    const int32_t hd = I->head_dim, half = I->n_rot / 2;
    const float *cs = c->rope_cos + (size_t)pos * half, *sn = c->rope_sin + (size_t)pos * half;
    for (int32_t h = 0; h < n_heads; h++) {
        float *v = vec + (size_t)h * hd;
        for (int32_t i = 0; i < half; i++) {
            int32_t a = I->rope_neox ? i : 2 * i, b = I->rope_neox ? i + half : 2 * i + 1;
            float v0 = v[a], v1 = v[b];
            v[a] = v0 * cs[i] - v1 * sn[i];
            v[b] = v0 * sn[i] + v1 * cs[i];
        }
    }
}

static void add_bias(float *y, const float *b, int64_t rows, int64_t n) {
    if (!b) return;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < n; j++) y[r * n + j] += b[j];
}

static void matmul(gh_ctx *c, float *y, const float *x, const gh_weight *w, int64_t B) {
    gh_matmul(y, x, w->data, w->type, w->n_in, w->n_out, B, c->wdata, c->m->n_threads);
}

/* Products of one input with two or three matrices (q/k/v, gate/up): one
 * gh_matmul_multi when they share a type (the input is converted once), else
 * one gh_matmul each (mixed-type files, e.g. a Q6_K v among Q4_K). */
static void matmul_n(gh_ctx *c, int n, float *const *ys, const float *x, const gh_weight *const *ws, int64_t B) {
    bool same = true;
    for (int k = 1; k < n; k++) same = same && ws[k]->type == ws[0]->type && ws[k]->n_in == ws[0]->n_in;
    if (!same) {
        for (int k = 0; k < n; k++) matmul(c, ys[k], x, ws[k], B);
        return;
    }
    const void *W[GH_MATMUL_MULTI_MAX];
    int64_t n_out[GH_MATMUL_MULTI_MAX];
    for (int k = 0; k < n; k++) { W[k] = ws[k]->data; n_out[k] = ws[k]->n_out; }
    gh_matmul_multi(n, ys, W, n_out, ws[0]->type, x, ws[0]->n_in, B, c->wdata, c->m->n_threads);
}

static void capture(gh_ctx *c, int32_t layer, const float *x, int32_t first, int32_t T) {
    const int64_t E = c->m->info.n_embd;
    for (int32_t k = 0; k < c->n_cap; k++)
        if (c->cap_layers[k] == layer)
            memcpy(c->hidden + ((size_t)k * c->n_out + first) * E, x, (size_t)T * E * sizeof(float));
}

/* Attention for token t of the chunk, query heads h0 .. h0 + gw - 1 (they
 * share one key/value head): reads its sequence's cache up to and including
 * its own position. */
static void attend(gh_ctx *c, int32_t l, int32_t t, int32_t h0, int32_t gw, int32_t seq, float *scores) {
    const gh_model_info *I = &c->m->info;
    const int32_t hd = I->head_dim, kvh = h0 / (I->n_head / I->n_head_kv);
    const size_t qh = (size_t)t * I->n_head + (size_t)h0, kv0 = kv_off(c, seq, l, 0) + (size_t)kvh * hd;
    const size_t pre0 = kv_off(c, c->pre_len[seq] > 0 ? c->pre_src[seq] : seq, l, 0) + (size_t)kvh * hd;
    const gh_kv_view kv = {.k = c->k_cache + kv0, .v = c->v_cache + kv0, .k_pre = c->k_cache + pre0,
                           .v_pre = c->v_cache + pre0, .stride = (size_t)c->kv_dim, .n_pre = c->pre_len[seq]};
    gh_attend_f32(c->att + qh * hd, c->q + qh * hd, gw, &kv, c->pos[t] + 1, hd, 1.0f / sqrtf((float)hd), scores);
}

/* One forward pass over T <= n_batch tokens (positions already checked). */
static void forward_chunk(gh_ctx *c, const int32_t *tokens, const int32_t *seq, int32_t T, int32_t first) {
    gh_model *m = c->m;
    const gh_model_info *I = &m->info;
    const int64_t E = I->n_embd, Q = (int64_t)I->head_dim * I->n_head, KV = c->kv_dim, F = I->n_ff;
    const gh_type_traits *et = gh_get_type_traits(m->tok_embd.type);
    for (int32_t t = 0; t < T; t++)
        et->to_float((const uint8_t *)m->tok_embd.data + (size_t)tokens[t] * m->tok_embd.row_bytes, c->x + t * E, E);
    capture(c, 0, c->x, first, T);
    const int nth = m->n_threads > 0 ? m->n_threads : 1;
    /* a hidden-states-only context stops after the deepest captured layer */
    int32_t n_run = I->n_layer;
    if (c->hidden_only) {
        n_run = 0;
        for (int32_t k = 0; k < c->n_cap; k++) n_run = c->cap_layers[k] > n_run ? c->cap_layers[k] : n_run;
    }
    /* the element-wise steps between the matmuls run on all threads once a
     * batch makes them worth it (N = 16 sequences of a 1.1B model: ~4 % of a
     * step on one thread while the others waited); each element is computed
     * as before, so the bits do not depend on the split */
    const bool ew_par = nth > 1 && (int64_t)T * F >= ((int64_t)1 << 15);
    for (int32_t l = 0; l < n_run; l++) {
        const gh_layer *L = &m->layers[l];
#pragma omp parallel for num_threads(nth) schedule(static) if (ew_par)
        for (int32_t t = 0; t < T; t += RMS_ROWS)
            rmsnorm_rows(c->xb + t * E, c->x + t * E, L->attn_norm, T - t < RMS_ROWS ? T - t : RMS_ROWS, E,
                         I->norm_eps);
        {
            float *const ys[3] = {c->q, c->k, c->v};
            const gh_weight *const ws[3] = {&L->wq, &L->wk, &L->wv};
            matmul_n(c, 3, ys, c->xb, ws, T);
        }
        add_bias(c->q, L->bq, T, Q);
        add_bias(c->k, L->bk, T, KV);
        add_bias(c->v, L->bv, T, KV);
        /* tokens' (sequence, position) slots are distinct, so threads may share them out */
#pragma omp parallel for num_threads(nth) schedule(static) if (ew_par)
        for (int32_t t = 0; t < T; t++) {
            rope(c->q + t * Q, I->n_head, c, c->pos[t]);
            rope(c->k + t * KV, I->n_head_kv, c, c->pos[t]);
            memcpy(c->k_cache + kv_off(c, seq[t], l, c->pos[t]), c->k + t * KV, (size_t)KV * sizeof(float));
            memcpy(c->v_cache + kv_off(c, seq[t], l, c->pos[t]), c->v + t * KV, (size_t)KV * sizeof(float));
        }
        /* one work item per (token, key/value head), which reads the keys
         * and values once for the query heads sharing them; per (token,
         * head) when that would leave threads idle (a head's result is the
         * same either way). Short contexts of a small model: one thread (see
         * gh_matmul). */
        const int32_t G = I->n_head / I->n_head_kv, gw = (int64_t)T * I->n_head_kv >= 2 * nth ? G : 1;
        const int64_t work = (int64_t)T * (I->n_head / gw);
        const bool par = work > 1 && (int64_t)T * I->n_head * I->head_dim * (c->pos[T - 1] + 1) > ((int64_t)1 << 17);
#pragma omp parallel for num_threads(nth) schedule(static) if (par)
        for (int64_t w = 0; w < work; w++) { /* head-major: a thread's tokens of one head follow each other */
            const int32_t t = (int32_t)(w % T), h0 = (int32_t)(w / T) * gw;
            attend(c, l, t, h0, gw, seq[t], c->scores + (size_t)omp_get_thread_num() * c->scores_len);
        }
        matmul(c, c->xb, c->att, &L->wo, T);
#pragma omp parallel for num_threads(nth) schedule(static) if (ew_par)
        for (int32_t t = 0; t < T; t += RMS_ROWS) {
            const int32_t nr = T - t < RMS_ROWS ? T - t : RMS_ROWS;
            for (int64_t i = t * E; i < (t + nr) * E; i++) c->x[i] += c->xb[i];
            rmsnorm_rows(c->xb + t * E, c->x + t * E, L->ffn_norm, nr, E, I->norm_eps);
        }
        {
            float *const ys[2] = {c->hb, c->hb2};
            const gh_weight *const ws[2] = {&L->w_gate, &L->w_up};
            matmul_n(c, 2, ys, c->xb, ws, T);
        }
#pragma omp parallel for num_threads(nth) schedule(static) if (ew_par)
        for (int32_t t = 0; t < T; t++) gh_swiglu_f32(c->hb + t * F, c->hb2 + t * F, F);
        matmul(c, c->xb, c->hb, &L->w_down, T);
#pragma omp parallel for num_threads(nth) schedule(static) if (ew_par)
        for (int64_t i = 0; i < T * E; i++) c->x[i] += c->xb[i];
        capture(c, l + 1, c->x, first, T);
    }
    if (c->hidden_only) return;
    /* logits for the tokens that asked: gather their rows, norm, project */
    int32_t R = 0;
    for (int32_t t = 0; t < T; t++) {
        if (c->logit_row[first + t] < 0) continue;
        rmsnorm(c->xb + (size_t)R * E, c->x + t * E, m->output_norm, E, I->norm_eps);
        R++;
    }
    if (R == 0) return;
    int32_t row0 = -1;
    for (int32_t t = 0; t < T && row0 < 0; t++) row0 = c->logit_row[first + t];
    /* R rows at a time of at most n_batch: xb holds n_batch rows of max(E, Q) */
    matmul(c, c->logits + (size_t)row0 * I->n_vocab, c->xb, &m->output, R);
}

gh_status gh_ctx_decode(gh_ctx *c, int32_t n, const int32_t *tokens, const int32_t *seq,
                        const uint8_t *want_logits) {
    const gh_model_info *I = &c->m->info;
    if (n <= 0) return gh_error(GH_ERR_INVALID_ARG, "empty batch");
    /* validate everything before touching the cache */
    int32_t *len = malloc((size_t)c->n_seq * sizeof *len);
    if (!len) return gh_error(GH_ERR_NOMEM, "out of memory");
    memcpy(len, c->seq_len, (size_t)c->n_seq * sizeof *len);
    for (int32_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= I->n_vocab) {
            free(len);
            return gh_error(GH_ERR_INVALID_ARG, "token %d (batch index %d) is outside the vocabulary of %d", tokens[i], i, I->n_vocab);
        }
        if (seq[i] < 0 || seq[i] >= c->n_seq) {
            free(len);
            return gh_error(GH_ERR_INVALID_ARG, "sequence id %d (batch index %d) outside [0, %d)", seq[i], i, c->n_seq);
        }
        if (len[seq[i]] >= c->n_ctx) {
            free(len);
            return gh_error(GH_ERR_LIMIT, "sequence %d is full: the context holds %d positions", seq[i], c->n_ctx);
        }
        if (c->hidden_only && want_logits && want_logits[i]) {
            free(len);
            return gh_error(GH_ERR_INVALID_ARG, "batch index %d asks for logits from a context made for hidden "
                            "states only", i);
        }
        len[seq[i]]++;
    }
    free(len);
    if (c->m->n_threads > c->scores_nth) { /* the thread count grew since init */
        float *sc = realloc(c->scores, (size_t)c->m->n_threads * c->n_ctx * sizeof(float));
        if (!sc) return gh_error(GH_ERR_NOMEM, "out of memory");
        c->scores = sc;
        c->scores_nth = c->m->n_threads;
    }
    /* output buffers */
    if (n > c->out_cap) {
        int32_t *lr = realloc(c->logit_row, (size_t)n * sizeof *lr);
        if (!lr) return gh_error(GH_ERR_NOMEM, "out of memory");
        c->logit_row = lr;
        c->out_cap = n;
    }
    int32_t rows = 0;
    for (int32_t i = 0; i < n; i++) {
        bool w = c->hidden_only ? false : want_logits ? want_logits[i] != 0 : i == n - 1;
        c->logit_row[i] = w ? rows++ : -1;
    }
    if (rows > c->logits_cap_rows) {
        float *lg = realloc(c->logits, (size_t)rows * I->n_vocab * sizeof(float));
        if (!lg) return gh_error(GH_ERR_NOMEM, "cannot allocate logits for %d tokens", rows);
        c->logits = lg;
        c->logits_cap_rows = rows;
    }
    c->n_out = n;
    size_t hneed = (size_t)c->n_cap * n * I->n_embd;
    if (hneed > c->hidden_cap) {
        float *h = realloc(c->hidden, hneed * sizeof(float));
        if (!h) return gh_error(GH_ERR_NOMEM, "cannot allocate hidden states for %d tokens", n);
        c->hidden = h;
        c->hidden_cap = hneed;
    }
    for (int32_t first = 0; first < n; first += c->n_batch) {
        int32_t T = n - first < c->n_batch ? n - first : c->n_batch;
        for (int32_t t = 0; t < T; t++) c->pos[t] = c->seq_len[seq[first + t]]++;
        forward_chunk(c, tokens + first, seq + first, T, first);
    }
    return GH_OK;
}

const float *gh_ctx_logits(const gh_ctx *c, int32_t i) {
    if (i < 0 || i >= c->n_out || c->logit_row[i] < 0) return NULL;
    return c->logits + (size_t)c->logit_row[i] * c->m->info.n_vocab;
}

const float *gh_ctx_hidden(const gh_ctx *c, int32_t k, int32_t i) {
    if (k < 0 || k >= c->n_cap || i < 0 || i >= c->n_out) return NULL;
    return c->hidden + ((size_t)k * c->n_out + i) * c->m->info.n_embd;
}

/* ------------------------------------------------------ encoders and heads */

gh_status gh_model_encode(gh_model *m, const int32_t *tokens, const int32_t *token_types, int32_t n, float *out) {
    if (!m->info.encoder)
        return gh_error(GH_ERR_UNSUPPORTED, "%s: architecture '%s' is a decoder; gh_model_encode runs encoders (bert)",
                        gh_gguf_path(m->gguf), m->arch);
    return gh_bert_encode(m->bert, &m->info, m->n_threads, tokens, token_types, n, out);
}

void gh_model_final_norm(const gh_model *m, const float *x, float *out) {
    const int64_t E = m->info.n_embd;
    if (m->info.encoder) { if (out != x) memmove(out, x, (size_t)E * sizeof *out); return; }
    rmsnorm(out, x, m->output_norm, E, m->info.norm_eps);
}

gh_status gh_model_classify(const gh_model *m, const float *h, float *out) {
    if (!m->cls_w)
        return gh_error(GH_ERR_UNSUPPORTED, "%s: the model has no classifier head (tensor 'cls.output.weight'): "
                        "it is not a reward model", gh_gguf_path(m->gguf));
    const int64_t E = m->info.n_embd;
    for (int32_t j = 0; j < m->info.n_cls_out; j++) {
        const float *w = m->cls_w + (size_t)j * E;
        double acc = m->cls_b ? (double)m->cls_b[j] : 0.0;
        for (int64_t i = 0; i < E; i++) acc += (double)w[i] * (double)h[i];
        out[j] = (float)acc;
    }
    return GH_OK;
}
