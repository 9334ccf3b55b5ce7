/* hf.c — Hugging Face model folders to GGUF (`goodhart convert hf`).
 *
 * Reads config.json, the safetensors weights (safetensors.c), tokenizer.json
 * (through the tokenizer's own loader, tokjson.c) and tokenizer_config.json,
 * and writes one GGUF file whose names and metadata keys are llama.cpp's, so
 * the result loads here and in other GGUF tools.
 *
 * Weights: a PyTorch Linear stores [out, in] row-major, which is GGUF's
 * ne = [in, out] byte for byte; embeddings [vocab, embd] likewise. So a tensor
 * is renamed and, when its type changes, converted row by row (dequantize to
 * float, quantize with the kernels' reference quantizers). One permutation:
 * Hugging Face's Llama/Mistral rotate the two halves of each head (NeoX RoPE),
 * while GGUF's "llama" rotates interleaved pairs (what src/model/llama.c runs
 * for llama and mistral), so the rows of Wq/Wk (and their biases) are
 * reordered within each head: new row 2j+t of a head = old row t·d/2 + j.
 * Qwen2 is NeoX in GGUF too and is copied as is.
 *
 * Tokenizer: tokens, types, merges (byte-level BPE: "gpt2" with the
 * pre-tokenizer by its llama.cpp name) or scores (SentencePiece-style BPE:
 * "llama"; a token's score is minus the rank of the first merge making it, so
 * merging by best score follows the merge list), special ids, and the chat
 * template. WordPiece vocabularies are written as llama.cpp does ("▁" marks
 * word starts, "##" removed from continuations).
 *
 * Memory: tensors kept in their stored type are written straight from the
 * mapped safetensors; converted ones are held until the file is written, so
 * RAM use is about the size of the output.
 */
#include "goodhart/convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "base/file.h"
#include "convert/safetensors.h"
#include "kernels/kernels.h"
#include "tokenizer/tok_internal.h"

#define JSON_MAX ((size_t)1 << 30)
#define GH_TYPE_KEEP GH_TYPE_COUNT

typedef enum { FAM_LLAMA, FAM_BERT } family;

/* Pooling types, numbered as llama.cpp's enum llama_pooling_type. */
enum { POOL_NONE = 0, POOL_MEAN = 1, POOL_CLS = 2, POOL_LAST = 3 };

typedef struct conv {
    const char *dir;
    char cfg_path[4096];
    cJSON *cfg;
    gh_st *st;
    uint8_t *used;          /* per safetensors tensor: consumed */
    gh_gguf_writer *w;
    gh_type wtype;
    void **keep;            /* converted buffers, freed after writing */
    int64_t n_keep, cap_keep;
    gh_convert_hf_result *res;
    /* model */
    family fam;
    char arch[32];
    bool permute_qk, cls;
    const char *pfx;        /* "model." / "bert." / "" */
    int64_t n_vocab, n_embd, n_ff, n_layer, n_head, n_head_kv, n_ctx, n_types;
} conv;

/* ------------------------------------------------------------------ config.json */

static const cJSON *cfg_item(const conv *c, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(c->cfg, key);
}

static bool json_int(const cJSON *v, int64_t *out) {
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble) return false;
    *out = (int64_t)v->valuedouble;
    return true;
}

/* A positive integer key; `def` < 0 makes it required. */
static gh_status cfg_int(const conv *c, const char *key, int64_t def, int64_t max, int64_t *out) {
    const cJSON *v = cfg_item(c, key);
    if (!v || cJSON_IsNull(v)) {
        if (def < 0) return gh_error(GH_ERR_FORMAT, "%s: \"%s\" is missing", c->cfg_path, key);
        *out = def;
        return GH_OK;
    }
    if (!json_int(v, out) || *out <= 0 || *out > max)
        return gh_error(GH_ERR_FORMAT, "%s: \"%s\" is not an integer in [1, %lld]", c->cfg_path, key, (long long)max);
    return GH_OK;
}

static gh_status cfg_float(const conv *c, const char *key, double def, double *out) {
    const cJSON *v = cfg_item(c, key);
    if (!v || cJSON_IsNull(v)) { *out = def; return GH_OK; }
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0))
        return gh_error(GH_ERR_FORMAT, "%s: \"%s\" is not a positive number", c->cfg_path, key);
    *out = v->valuedouble;
    return GH_OK;
}

static bool cfg_bool(const conv *c, const char *key, bool def) {
    const cJSON *v = cfg_item(c, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static const char *cfg_str(const conv *c, const char *key) {
    const cJSON *v = cfg_item(c, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static gh_status read_json(const char *path, cJSON **out) {
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    gh_status s = gh_read_file(path, JSON_MAX, &buf, &len);
    if (s) return s;
    cJSON *j = cJSON_ParseWithLength(buf, len);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= buf && at <= buf + len ? (size_t)(at - buf) : 0;
        free(buf);
        return gh_error(GH_ERR_FORMAT, "%s: not valid JSON (near byte %zu)", path, off);
    }
    free(buf);
    if (!cJSON_IsObject(j)) { cJSON_Delete(j); return gh_error(GH_ERR_FORMAT, "%s: not a JSON object", path); }
    *out = j;
    return GH_OK;
}

static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Which architecture: config.json "architectures"[0], else "model_type". */
static gh_status pick_arch(conv *c) {
    static const struct { const char *hf, *model_type, *arch; family fam; bool cls, permute; } k[] = {
        {"LlamaForCausalLM", "llama", "llama", FAM_LLAMA, false, true},
        {"MistralForCausalLM", "mistral", "llama", FAM_LLAMA, false, true},
        {"Qwen2ForCausalLM", "qwen2", "qwen2", FAM_LLAMA, false, false},
        {"LlamaForSequenceClassification", NULL, "llama", FAM_LLAMA, true, true},
        {"MistralForSequenceClassification", NULL, "llama", FAM_LLAMA, true, true},
        {"Qwen2ForSequenceClassification", NULL, "qwen2", FAM_LLAMA, true, false},
        {"BertModel", "bert", "bert", FAM_BERT, false, false},
        {"BertForMaskedLM", NULL, "bert", FAM_BERT, false, false},
    };
    const cJSON *archs = cfg_item(c, "architectures");
    const char *hf = NULL, *mt = cfg_str(c, "model_type");
    if (cJSON_IsArray(archs) && cJSON_GetArraySize(archs) > 0) {
        if (cJSON_GetArraySize(archs) > 1)
            return gh_error(GH_ERR_UNSUPPORTED, "%s: \"architectures\" lists %d classes (one is expected)", c->cfg_path,
                            cJSON_GetArraySize(archs));
        const cJSON *a = cJSON_GetArrayItem(archs, 0);
        if (!cJSON_IsString(a)) return gh_error(GH_ERR_FORMAT, "%s: \"architectures\"[0] is not a string", c->cfg_path);
        hf = a->valuestring;
    }
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        bool hit = hf ? !strcmp(hf, k[i].hf) : (mt && k[i].model_type && !strcmp(mt, k[i].model_type));
        if (!hit) continue;
        snprintf(c->arch, sizeof c->arch, "%s", k[i].arch);
        c->fam = k[i].fam;
        c->cls = k[i].cls;
        c->permute_qk = k[i].permute;
        snprintf(c->res->hf_arch, sizeof c->res->hf_arch, "%s", k[i].hf);
        return GH_OK;
    }
    return gh_error(GH_ERR_UNSUPPORTED,
                    "%s: architecture \"%s\" is not supported (LlamaForCausalLM, MistralForCausalLM, "
                    "Qwen2ForCausalLM, their *ForSequenceClassification, BertModel, BertForMaskedLM)",
                    c->cfg_path, hf ? hf : mt ? mt : "(none: no \"architectures\" or \"model_type\")");
}

/* ------------------------------------------------------------------ tensors */

static gh_status keep_buf(conv *c, void *p) {
    if (c->n_keep == c->cap_keep) {
        int64_t nc = c->cap_keep ? c->cap_keep * 2 : 64;
        void **nk = realloc(c->keep, (size_t)nc * sizeof *nk);
        if (!nk) { free(p); return gh_error(GH_ERR_NOMEM, "out of memory"); }
        c->keep = nk;
        c->cap_keep = nc;
    }
    c->keep[c->n_keep++] = p;
    return GH_OK;
}

static gh_type st_to_gh(gh_st_dtype d) {
    return d == GH_ST_F32 ? GH_TYPE_F32 : d == GH_ST_F16 ? GH_TYPE_F16 : GH_TYPE_BF16;
}

typedef enum { T_MATRIX, T_F32 } tkind;

/* Source row of destination row r when permuting heads of `hd` rows each
 * (NeoX halves -> interleaved pairs); identity when hd == 0. */
static int64_t src_row(int64_t r, int64_t hd) {
    if (!hd) return r;
    int64_t h = r / hd, i = r % hd, j = i / 2, t = i % 2;
    return h * hd + t * (hd / 2) + j;
}

/* Finds HF tensor `hf` (prefix applied when pfx), checks it is [rows, cols]
 * (cols 0: a vector of rows), and adds it as GGUF tensor `gg`. perm_heads > 0
 * reorders rows within heads of rows/perm_heads rows. */
static gh_status put(conv *c, const char *hf, bool pfx, const char *gg, int64_t rows, int64_t cols, tkind kind,
                     int64_t perm_heads, bool required) {
    char name[256];
    snprintf(name, sizeof name, "%s%s", pfx ? c->pfx : "", hf);
    const gh_st_tensor *t = gh_st_find(c->st, name);
    if (!t) {
        if (!required) return GH_OK;
        return gh_error(GH_ERR_FORMAT, "%s: tensor '%s' is missing (needed for %s by %s)", gh_st_source(c->st), name,
                        gg, c->cfg_path);
    }
    c->used[t - gh_st_tensor_at(c->st, 0)] = 1;
    bool vec = cols == 0;
    bool shape_ok = vec ? t->n_dims == 1 && t->shape[0] == rows
                        : t->n_dims == 2 && t->shape[0] == rows && t->shape[1] == cols;
    if (!shape_ok) {
        char got[128] = "[";
        for (int d = 0; d < t->n_dims; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        strcat(got, "]");
        if (vec)
            return gh_error(GH_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected [%lld] (from %s)", t->file, name, got,
                            (long long)rows, c->cfg_path);
        return gh_error(GH_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected [%lld, %lld] (from %s)", t->file, name,
                        got, (long long)rows, (long long)cols, c->cfg_path);
    }
    if (t->dtype != GH_ST_F32 && t->dtype != GH_ST_F16 && t->dtype != GH_ST_BF16)
        return gh_error(GH_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (only F32, F16 and BF16 are converted)",
                        t->file, name, gh_st_dtype_name(t->dtype));
    int64_t ncol = vec ? rows : cols, nrow = vec ? 1 : rows;
    int64_t hd = perm_heads > 0 ? rows / perm_heads : 0;
    if (hd && (rows % perm_heads || hd % 2))
        return gh_error(GH_ERR_FORMAT, "%s: tensor '%s': %lld rows do not split into %lld heads of even size", t->file,
                        name, (long long)rows, (long long)perm_heads);
    gh_type src = st_to_gh(t->dtype), dst;
    if (kind == T_F32) dst = GH_TYPE_F32;
    else if (c->wtype == GH_TYPE_KEEP) dst = src;
    else dst = c->wtype;
    const gh_type_traits *tr = gh_get_type_traits(dst);
    if (!tr || !tr->from_float_ref)
        return gh_error(GH_ERR_UNSUPPORTED, "cannot write tensors as %s", gh_type_name(dst) ? gh_type_name(dst) : "?");
    if (ncol % tr->blck_size) { /* the block does not divide the rows: a finer type */
        dst = ncol % 32 == 0 && dst != GH_TYPE_Q8_0 && dst != GH_TYPE_Q4_0 ? GH_TYPE_Q8_0 : GH_TYPE_F16;
        tr = gh_get_type_traits(dst);
        c->res->n_fallback++;
    }
    int64_t ne[2] = {vec ? rows : cols, rows};
    uint32_t nd = vec ? 1 : 2;
    c->res->n_tensors++;
    c->res->n_params += vec ? rows : rows * cols;
    if (dst == src && !hd) return gh_gguf_add_tensor(c->w, gg, dst, nd, ne, t->data);
    size_t out_row = (size_t)(ncol / tr->blck_size) * tr->type_size;
    uint8_t *out = malloc(out_row * (size_t)nrow);
    float *row = malloc((size_t)(vec ? 2 * rows : ncol) * sizeof *row);
    if (!out || !row) { free(out); free(row); return gh_error(GH_ERR_NOMEM, "tensor '%s': out of memory", name); }
    gh_status s = keep_buf(c, out);
    if (!s && vec) {
        /* a vector: read whole, permuted as rows of one element when a bias of Wq/Wk */
        float *v = row + rows;
        s = gh_st_read_f32(t, v);
        for (int64_t r = 0; r < rows && !s; r++) row[r] = v[src_row(r, hd)];
        if (!s) tr->from_float_ref(row, out, rows);
    }
    for (int64_t r = 0; r < nrow && !s && !vec; r++) {
        s = gh_st_read_rows_f32(t, src_row(r, hd), 1, row);
        if (!s) tr->from_float_ref(row, out + (size_t)r * out_row, ncol);
    }
    free(row);
    if (s) return s;
    return gh_gguf_add_tensor(c->w, gg, dst, nd, ne, out);
}

/* Every tensor of the checkpoint must have been used or be one that is known
 * not to matter, so that no weight is dropped silently. */
static gh_status check_all_used(conv *c) {
    for (int64_t i = 0; i < gh_st_n_tensors(c->st); i++) {
        if (c->used[i]) continue;
        const gh_st_tensor *t = gh_st_tensor_at(c->st, i);
        const char *n = t->name;
        size_t len = strlen(n);
        bool skip = (len > 20 && !strcmp(n + len - 20, "rotary_emb.inv_freq")) ||
                    (len >= 12 && !strcmp(n + len - 12, "position_ids"));
        if (c->fam == FAM_BERT) {
            const char *r = !strncmp(n, c->pfx, strlen(c->pfx)) ? n + strlen(c->pfx) : n;
            skip = skip || !strncmp(r, "pooler.", 7) || !strncmp(n, "cls.", 4);
        } else if (!strcmp(n, "lm_head.weight") && cfg_bool(c, "tie_word_embeddings", false)) {
            skip = true; /* a copy of the tied embedding */
        }
        if (!skip)
            return gh_error(GH_ERR_UNSUPPORTED, "%s: tensor '%s' is not part of %s as converted (refusing to drop it)",
                            t->file, n, c->res->hf_arch);
    }
    return GH_OK;
}

/* ------------------------------------------------------------------ llama family */

static gh_status llama_hparams(conv *c) {
    gh_status s;
    gh_gguf_writer *w = c->w;
    int64_t hd;
    double eps, theta;
    if ((s = cfg_int(c, "vocab_size", -1, 1 << 24, &c->n_vocab))) return s;
    if ((s = cfg_int(c, "hidden_size", -1, 1 << 16, &c->n_embd))) return s;
    if ((s = cfg_int(c, "intermediate_size", -1, 1 << 20, &c->n_ff))) return s;
    if ((s = cfg_int(c, "num_hidden_layers", -1, 1024, &c->n_layer))) return s;
    if ((s = cfg_int(c, "num_attention_heads", -1, 1024, &c->n_head))) return s;
    if ((s = cfg_int(c, "num_key_value_heads", c->n_head, 1024, &c->n_head_kv))) return s;
    if ((s = cfg_int(c, "max_position_embeddings", 2048, 1 << 24, &c->n_ctx))) return s;
    if ((s = cfg_float(c, "rms_norm_eps", 1e-6, &eps))) return s;
    if ((s = cfg_float(c, "rope_theta", 10000.0, &theta))) return s;
    if (c->n_embd % c->n_head || c->n_head % c->n_head_kv || (c->n_embd / c->n_head) % 2)
        return gh_error(GH_ERR_FORMAT, "%s: %lld heads (%lld key/value heads) do not divide hidden_size %lld into even heads",
                        c->cfg_path, (long long)c->n_head, (long long)c->n_head_kv, (long long)c->n_embd);
    if ((s = cfg_int(c, "head_dim", c->n_embd / c->n_head, 1 << 16, &hd))) return s;
    if (hd != c->n_embd / c->n_head)
        return gh_error(GH_ERR_UNSUPPORTED, "%s: \"head_dim\" %lld differs from hidden_size / num_attention_heads = %lld "
                        "(the runtime needs them equal)", c->cfg_path, (long long)hd, (long long)(c->n_embd / c->n_head));
    const char *act = cfg_str(c, "hidden_act");
    if (act && strcmp(act, "silu"))
        return gh_error(GH_ERR_UNSUPPORTED, "%s: \"hidden_act\" \"%s\" is not supported (silu)", c->cfg_path, act);
    if (cfg_bool(c, "mlp_bias", false))
        return gh_error(GH_ERR_UNSUPPORTED, "%s: \"mlp_bias\": true is not supported (the runtime has no MLP biases)",
                        c->cfg_path);
    const cJSON *rs = cfg_item(c, "rope_scaling");
    if (rs && !cJSON_IsNull(rs)) {
        const char *ty = cJSON_IsObject(rs) ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rs, "rope_type")) : NULL;
        if (!ty && cJSON_IsObject(rs)) ty = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rs, "type"));
        if (!ty || strcmp(ty, "default"))
            return gh_error(GH_ERR_UNSUPPORTED, "%s: \"rope_scaling\" of type \"%s\" is not supported by the runtime "
                            "(plain RoPE only)", c->cfg_path, ty ? ty : "?");
    }
    int64_t sw = 0;
    const cJSON *swv = cfg_item(c, "sliding_window");
    if (json_int(swv, &sw) && sw > 0 && sw < c->n_ctx && (strcmp(c->arch, "qwen2") || cfg_bool(c, "use_sliding_window", false)))
        c->res->sliding_window = (int32_t)(sw > INT32_MAX ? INT32_MAX : sw);
    char k[128];
#define KEY(suffix) (snprintf(k, sizeof k, "%s." suffix, c->arch), k)
    if (!s) s = gh_gguf_set_u32(w, KEY("vocab_size"), (uint32_t)c->n_vocab);
    if (!s) s = gh_gguf_set_u32(w, KEY("context_length"), (uint32_t)c->n_ctx);
    if (!s) s = gh_gguf_set_u32(w, KEY("embedding_length"), (uint32_t)c->n_embd);
    if (!s) s = gh_gguf_set_u32(w, KEY("feed_forward_length"), (uint32_t)c->n_ff);
    if (!s) s = gh_gguf_set_u32(w, KEY("block_count"), (uint32_t)c->n_layer);
    if (!s) s = gh_gguf_set_u32(w, KEY("attention.head_count"), (uint32_t)c->n_head);
    if (!s) s = gh_gguf_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)c->n_head_kv);
    if (!s) s = gh_gguf_set_u32(w, KEY("rope.dimension_count"), (uint32_t)hd);
    if (!s) s = gh_gguf_set_f32(w, KEY("rope.freq_base"), (float)theta);
    if (!s) s = gh_gguf_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), (float)eps);
#undef KEY
    return s;
}

static gh_status llama_tensors(conv *c) {
    gh_status s;
    const int64_t E = c->n_embd, F = c->n_ff, hd = c->n_embd / c->n_head;
    const int64_t Q = hd * c->n_head, KV = hd * c->n_head_kv;
    bool tied = cfg_bool(c, "tie_word_embeddings", false);
    bool bias = !strcmp(c->arch, "qwen2") || cfg_bool(c, "attention_bias", false);
    int64_t pq = c->permute_qk ? c->n_head : 0, pk = c->permute_qk ? c->n_head_kv : 0;
    char hf[160], gg[96];
    for (int64_t l = 0; l < c->n_layer; l++) {
#define H(fmt) (snprintf(hf, sizeof hf, "layers.%lld." fmt, (long long)l), hf)
#define G(fmt) (snprintf(gg, sizeof gg, "blk.%lld." fmt, (long long)l), gg)
        if ((s = put(c, H("input_layernorm.weight"), true, G("attn_norm.weight"), E, 0, T_F32, 0, true))) return s;
        if ((s = put(c, H("self_attn.q_proj.weight"), true, G("attn_q.weight"), Q, E, T_MATRIX, pq, true))) return s;
        if ((s = put(c, H("self_attn.k_proj.weight"), true, G("attn_k.weight"), KV, E, T_MATRIX, pk, true))) return s;
        if ((s = put(c, H("self_attn.v_proj.weight"), true, G("attn_v.weight"), KV, E, T_MATRIX, 0, true))) return s;
        if ((s = put(c, H("self_attn.q_proj.bias"), true, G("attn_q.bias"), Q, 0, T_F32, pq, bias))) return s;
        if ((s = put(c, H("self_attn.k_proj.bias"), true, G("attn_k.bias"), KV, 0, T_F32, pk, bias))) return s;
        if ((s = put(c, H("self_attn.v_proj.bias"), true, G("attn_v.bias"), KV, 0, T_F32, 0, bias))) return s;
        if ((s = put(c, H("self_attn.o_proj.weight"), true, G("attn_output.weight"), E, Q, T_MATRIX, 0, true))) return s;
        if ((s = put(c, H("post_attention_layernorm.weight"), true, G("ffn_norm.weight"), E, 0, T_F32, 0, true))) return s;
        if ((s = put(c, H("mlp.gate_proj.weight"), true, G("ffn_gate.weight"), F, E, T_MATRIX, 0, true))) return s;
        if ((s = put(c, H("mlp.up_proj.weight"), true, G("ffn_up.weight"), F, E, T_MATRIX, 0, true))) return s;
        if ((s = put(c, H("mlp.down_proj.weight"), true, G("ffn_down.weight"), E, F, T_MATRIX, 0, true))) return s;
#undef H
#undef G
    }
    if ((s = put(c, "norm.weight", true, "output_norm.weight", E, 0, T_F32, 0, true))) return s;
    if (c->cls) {
        /* the reward head: [num_labels, hidden] -> cls.output.weight ne [E, 1] */
        const gh_st_tensor *t = gh_st_find(c->st, "score.weight");
        if (t && t->n_dims == 2 && t->shape[1] == E && t->shape[0] != 1)
            return gh_error(GH_ERR_UNSUPPORTED, "%s: tensor 'score.weight' has %lld labels; only single-label reward "
                            "heads (num_labels = 1) are supported", t->file, (long long)t->shape[0]);
        if ((s = put(c, "score.weight", false, "cls.output.weight", 1, E, T_F32, 0, true))) return s;
        if ((s = put(c, "score.bias", false, "cls.output.bias", 1, 0, T_F32, 0, false))) return s;
        c->res->cls_head = true;
        char k[96];
        snprintf(k, sizeof k, "%s.pooling_type", c->arch);
        if ((s = gh_gguf_set_u32(c->w, k, POOL_LAST))) return s;
        /* the label's name, as llama.cpp records classifier outputs */
        const cJSON *id2 = cfg_item(c, "id2label");
        const cJSON *lab = cJSON_IsObject(id2) ? cJSON_GetObjectItemCaseSensitive(id2, "0") : NULL;
        if (cJSON_IsString(lab)) {
            const char *labs[1] = {lab->valuestring};
            snprintf(k, sizeof k, "%s.classifier.output_labels", c->arch);
            if ((s = gh_gguf_set_arr_str(c->w, k, labs, NULL, 1))) return s;
        }
    } else if (!tied) {
        if ((s = put(c, "lm_head.weight", false, "output.weight", c->n_vocab, E, T_MATRIX, 0, true))) return s;
    }
    return GH_OK;
}

/* ------------------------------------------------------------------ BERT */

/* sentence-transformers' pooling (modules.json -> its Pooling module's config). */
static int bert_pooling(const conv *c) {
    char path[4096];
    snprintf(path, sizeof path, "%s/modules.json", c->dir);
    if (!exists(path)) return -1;
    char *buf = NULL;
    size_t len = 0;
    if (gh_read_file(path, JSON_MAX, &buf, &len)) { gh_clear_error(); return -1; }
    cJSON *m = cJSON_ParseWithLength(buf, len);
    free(buf);
    int pool = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, m) {
        const char *ty = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "type"));
        const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "path"));
        if (!ty || !p || !strstr(ty, "Pooling") || strstr(p, "..")) continue;
        snprintf(path, sizeof path, "%s/%s/config.json", c->dir, p);
        cJSON *pc = NULL;
        if (read_json(path, &pc)) { gh_clear_error(); continue; }
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pc, "pooling_mode_cls_token"))) pool = POOL_CLS;
        else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pc, "pooling_mode_mean_tokens"))) pool = POOL_MEAN;
        else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pc, "pooling_mode_lasttoken"))) pool = POOL_LAST;
        cJSON_Delete(pc);
    }
    cJSON_Delete(m);
    return pool;
}

static gh_status bert_hparams(conv *c) {
    gh_status s;
    double eps;
    if ((s = cfg_int(c, "vocab_size", -1, 1 << 24, &c->n_vocab))) return s;
    if ((s = cfg_int(c, "hidden_size", -1, 1 << 16, &c->n_embd))) return s;
    if ((s = cfg_int(c, "intermediate_size", -1, 1 << 20, &c->n_ff))) return s;
    if ((s = cfg_int(c, "num_hidden_layers", -1, 1024, &c->n_layer))) return s;
    if ((s = cfg_int(c, "num_attention_heads", -1, 1024, &c->n_head))) return s;
    if ((s = cfg_int(c, "max_position_embeddings", -1, 1 << 24, &c->n_ctx))) return s;
    if ((s = cfg_int(c, "type_vocab_size", 2, 1 << 16, &c->n_types))) return s;
    if ((s = cfg_float(c, "layer_norm_eps", 1e-12, &eps))) return s;
    c->n_head_kv = c->n_head;
    if (c->n_embd % c->n_head)
        return gh_error(GH_ERR_FORMAT, "%s: %lld heads do not divide hidden_size %lld", c->cfg_path,
                        (long long)c->n_head, (long long)c->n_embd);
    const char *act = cfg_str(c, "hidden_act");
    if (act && strcmp(act, "gelu"))
        return gh_error(GH_ERR_UNSUPPORTED, "%s: \"hidden_act\" \"%s\" is not supported (gelu)", c->cfg_path, act);
    const char *pe = cfg_str(c, "position_embedding_type");
    if (pe && strcmp(pe, "absolute"))
        return gh_error(GH_ERR_UNSUPPORTED, "%s: \"position_embedding_type\" \"%s\" is not supported (absolute)",
                        c->cfg_path, pe);
    gh_gguf_writer *w = c->w;
    s = gh_gguf_set_u32(w, "bert.context_length", (uint32_t)c->n_ctx);
    if (!s) s = gh_gguf_set_u32(w, "bert.embedding_length", (uint32_t)c->n_embd);
    if (!s) s = gh_gguf_set_u32(w, "bert.feed_forward_length", (uint32_t)c->n_ff);
    if (!s) s = gh_gguf_set_u32(w, "bert.block_count", (uint32_t)c->n_layer);
    if (!s) s = gh_gguf_set_u32(w, "bert.attention.head_count", (uint32_t)c->n_head);
    if (!s) s = gh_gguf_set_f32(w, "bert.attention.layer_norm_epsilon", (float)eps);
    if (!s) s = gh_gguf_set_bool(w, "bert.attention.causal", false);
    int pool = bert_pooling(c);
    if (!s && pool >= 0) s = gh_gguf_set_u32(w, "bert.pooling_type", (uint32_t)pool);
    if (!s) s = gh_gguf_set_u32(w, "tokenizer.ggml.token_type_count", (uint32_t)c->n_types);
    return s;
}

static gh_status bert_tensors(conv *c) {
    gh_status s;
    const int64_t E = c->n_embd, F = c->n_ff;
    /* old checkpoints call LayerNorm's parameters gamma and beta */
    char probe[128];
    snprintf(probe, sizeof probe, "%sembeddings.LayerNorm.gamma", c->pfx);
    bool gb = gh_st_find(c->st, probe) != NULL;
    const char *lw = gb ? "gamma" : "weight", *lb = gb ? "beta" : "bias";
    char hf[192], gg[96];
#define H(fmt, ...) (snprintf(hf, sizeof hf, fmt, __VA_ARGS__), hf)
    if ((s = put(c, "embeddings.position_embeddings.weight", true, "position_embd.weight", c->n_ctx, E, T_F32, 0, true))) return s;
    if ((s = put(c, "embeddings.token_type_embeddings.weight", true, "token_types.weight", c->n_types, E, T_F32, 0, true))) return s;
    if ((s = put(c, H("embeddings.LayerNorm.%s", lw), true, "token_embd_norm.weight", E, 0, T_F32, 0, true))) return s;
    if ((s = put(c, H("embeddings.LayerNorm.%s", lb), true, "token_embd_norm.bias", E, 0, T_F32, 0, true))) return s;
    for (int64_t l = 0; l < c->n_layer; l++) {
        static const struct { const char *hf, *gg; int ff; } m[] = {
            {"attention.self.query", "attn_q", 0},       {"attention.self.key", "attn_k", 0},
            {"attention.self.value", "attn_v", 0},       {"attention.output.dense", "attn_output", 0},
            {"intermediate.dense", "ffn_up", 1},         {"output.dense", "ffn_down", 2},
        };
        for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
            int64_t rows = m[i].ff == 1 ? F : E, cols = m[i].ff == 2 ? F : E;
            snprintf(gg, sizeof gg, "blk.%lld.%s.weight", (long long)l, m[i].gg);
            if ((s = put(c, H("encoder.layer.%lld.%s.weight", (long long)l, m[i].hf), true, gg, rows, cols, T_MATRIX, 0, true)))
                return s;
            snprintf(gg, sizeof gg, "blk.%lld.%s.bias", (long long)l, m[i].gg);
            if ((s = put(c, H("encoder.layer.%lld.%s.bias", (long long)l, m[i].hf), true, gg, rows, 0, T_F32, 0, true)))
                return s;
        }
        static const struct { const char *hf, *gg; } n[] = {
            {"attention.output.LayerNorm", "attn_output_norm"}, {"output.LayerNorm", "layer_output_norm"}};
        for (size_t i = 0; i < 2; i++) {
            snprintf(gg, sizeof gg, "blk.%lld.%s.weight", (long long)l, n[i].gg);
            if ((s = put(c, H("encoder.layer.%lld.%s.%s", (long long)l, n[i].hf, lw), true, gg, E, 0, T_F32, 0, true)))
                return s;
            snprintf(gg, sizeof gg, "blk.%lld.%s.bias", (long long)l, n[i].gg);
            if ((s = put(c, H("encoder.layer.%lld.%s.%s", (long long)l, n[i].hf, lb), true, gg, E, 0, T_F32, 0, true)))
                return s;
        }
    }
#undef H
    return GH_OK;
}

/* ------------------------------------------------------------------ tokenizer */

static int cmp_rank(const void *a, const void *b) {
    int32_t x = ((const tok_merge_slot *)a)->rank, y = ((const tok_merge_slot *)b)->rank;
    return x < y ? -1 : x > y;
}

/* The chat template: tokenizer_config.json "chat_template" (a string, or a
 * list of {name, template}: "default" is the main one, the others are written
 * as tokenizer.chat_template.NAME as llama.cpp does), else chat_template.jinja. */
static gh_status write_chat_template(conv *c) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", c->dir);
    gh_status s = GH_OK;
    if (exists(path)) {
        cJSON *tc = NULL;
        if ((s = read_json(path, &tc))) return s;
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(tc, "chat_template"), *it;
        if (cJSON_IsString(ct)) {
            s = gh_gguf_set_str(c->w, "tokenizer.chat_template", ct->valuestring);
            c->res->chat_template = true;
        } else if (cJSON_IsArray(ct)) {
            cJSON_ArrayForEach(it, ct) {
                const char *nm = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "name"));
                const char *tp = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "template"));
                if (!nm || !tp) { s = gh_error(GH_ERR_FORMAT, "%s: chat_template: an entry lacks \"name\" or \"template\"", path); break; }
                char key[192];
                if (!strcmp(nm, "default")) snprintf(key, sizeof key, "tokenizer.chat_template");
                else snprintf(key, sizeof key, "tokenizer.chat_template.%.100s", nm);
                if ((s = gh_gguf_set_str(c->w, key, tp))) break;
                c->res->chat_template = true;
            }
        } else if (ct && !cJSON_IsNull(ct)) {
            s = gh_error(GH_ERR_FORMAT, "%s: chat_template is neither a string nor a list", path);
        }
        cJSON_Delete(tc);
        if (s || c->res->chat_template) return s;
    }
    snprintf(path, sizeof path, "%s/chat_template.jinja", c->dir);
    if (!exists(path)) return GH_OK;
    char *buf = NULL;
    size_t len = 0;
    if ((s = gh_read_file(path, JSON_MAX, &buf, &len))) return s;
    s = gh_gguf_set_strn(c->w, "tokenizer.chat_template", buf, len);
    free(buf);
    c->res->chat_template = !s;
    return s;
}

/* llama.cpp's form of a WordPiece vocabulary: continuation pieces lose "##",
 * word-initial pieces gain "▁", bracketed specials stay. */
static char *wpm_phantom(const char *t, uint32_t len) {
    char *o = malloc((size_t)len + 4);
    if (!o) return NULL;
    if (len >= 2 && t[0] == '[' && t[len - 1] == ']') memcpy(o, t, len), o[len] = 0;
    else if (len >= 2 && t[0] == '#' && t[1] == '#') memcpy(o, t + 2, len - 2), o[len - 2] = 0;
    else memcpy(o, "\xe2\x96\x81", 3), memcpy(o + 3, t, len), o[len + 3] = 0;
    return o;
}

/* Every id 0..n-1 of tokenizer.json names exactly one token: an id given to
 * two different tokens (one of them would be lost) or an id no token has
 * (a hole the embedding row of which nothing uses) means a broken file. The
 * same token in model.vocab and added_tokens with the same id is normal. */
static gh_status check_token_ids(const char *path, int32_t n) {
    cJSON *root = NULL;
    gh_status s = read_json(path, &root);
    if (s) return s;
    const char **who = calloc((size_t)n, sizeof *who);
    const char **where = calloc((size_t)n, sizeof *where);
    if (!who || !where) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *it;
    for (int pass = 0; pass < 2 && !s; pass++) {
        const cJSON *list = pass == 0 ? cJSON_GetObjectItemCaseSensitive(model, "vocab")
                                      : cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
        const char *field = pass == 0 ? "model.vocab" : "added_tokens";
        cJSON_ArrayForEach(it, list) {
            const cJSON *idj = pass == 0 ? it : cJSON_GetObjectItemCaseSensitive(it, "id");
            const cJSON *cj = pass == 0 ? NULL : cJSON_GetObjectItemCaseSensitive(it, "content");
            const char *text = pass == 0 ? it->string : cj->valuestring;
            int32_t id = (int32_t)idj->valuedouble; /* checked by the loader */
            if (id < 0 || id >= n) continue;
            if (who[id] && strcmp(who[id], text)) {
                s = gh_error(GH_ERR_FORMAT, "%s: tokens \"%s\" (%s) and \"%s\" (%s) both have id %d", path, who[id],
                             where[id], text, field, id);
                break;
            }
            who[id] = text;
            where[id] = field;
        }
    }
    for (int32_t i = 0; i < n && !s; i++)
        if (!who[i])
            s = gh_error(GH_ERR_FORMAT, "%s: no token has id %d (the id after token \"%s\"; model.vocab and "
                         "added_tokens must number the tokens 0..%d without gaps)", path, i, i ? who[i - 1] : "", n - 1);
done:
    free(who);
    free(where);
    cJSON_Delete(root);
    return s;
}

static gh_status write_tokenizer(conv *c) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", c->dir);
    if (!exists(path)) {
        char vt[4096];
        snprintf(vt, sizeof vt, "%s/vocab.txt", c->dir);
        return gh_error(GH_ERR_IO, "%s: no such file%s", path,
                        exists(vt) ? " (vocab.txt alone is not read: save the tokenizer as tokenizer.json)" : "");
    }
    gh_tokenizer *t = NULL;
    gh_status s = gh_tokenizer_from_json(path, &t);
    if (!s) s = check_token_ids(path, t->n_vocab);
    if (s) { gh_tokenizer_free(t); return s; }
    const int32_t nt = t->n_vocab;
    const int64_t V = c->n_vocab;
    char **texts = NULL;
    uint64_t *lens = NULL;
    int32_t *types = NULL;
    float *scores = NULL;
    char **merges = NULL;
    int64_t n_merges = 0;
    tok_merge_slot *slots = NULL;
    if (nt > V) {
        s = gh_error(GH_ERR_FORMAT, "%s: %d tokens, but config.json's vocab_size (the embedding's rows) is %lld", path, nt,
                     (long long)V);
        goto done;
    }
    texts = calloc((size_t)V, sizeof *texts);
    lens = calloc((size_t)V, sizeof *lens);
    types = calloc((size_t)V, sizeof *types);
    scores = calloc((size_t)V, sizeof *scores);
    if (!texts || !lens || !types || !scores) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    bool wpm = t->kind == GH_TOK_WPM, spm = t->kind == GH_TOK_SPM;
    for (int64_t i = 0; i < V; i++) {
        char pad[32];
        if (i < nt) {
            const tok_entry *e = &t->tok[i];
            if (wpm && e->type == GH_TOKEN_NORMAL) {
                texts[i] = wpm_phantom(e->text, e->len);
                lens[i] = texts[i] ? strlen(texts[i]) : 0;
            } else {
                if ((texts[i] = malloc((size_t)e->len + 1))) memcpy(texts[i], e->text, (size_t)e->len + 1);
                lens[i] = e->len;
            }
            types[i] = e->type == GH_TOKEN_UNDEFINED ? GH_TOKEN_NORMAL : e->type;
            if (i == t->unk && types[i] == GH_TOKEN_NORMAL) types[i] = GH_TOKEN_UNKNOWN;
        } else {
            snprintf(pad, sizeof pad, "[PAD%lld]", (long long)i);
            texts[i] = strdup(pad);
            lens[i] = strlen(pad);
            types[i] = GH_TOKEN_UNUSED;
        }
        if (!texts[i]) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    }
    c->res->n_vocab = (int32_t)V;
    c->res->n_pad_tokens = (int32_t)(V - nt);
    /* merges in rank order */
    if (t->merges && t->n_merges > 0) {
        slots = malloc((size_t)t->n_merges * sizeof *slots);
        if (!slots) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
        for (uint32_t h = 0; h <= t->merge_mask; h++)
            if (t->merges[h].key != UINT64_MAX && n_merges < t->n_merges) slots[n_merges++] = t->merges[h];
        qsort(slots, (size_t)n_merges, sizeof *slots, cmp_rank);
    }
    const char *model = t->model_name, *pre = "default";
    gh_gguf_writer *w = c->w;
    if (t->kind == GH_TOK_BPE) {
        static const struct { const char *ours, *gguf; } pn[] = {{"gpt-2", "gpt-2"}, {"llama3", "llama-bpe"}, {"qwen2", "qwen2"}};
        pre = NULL;
        for (size_t k = 0; k < sizeof pn / sizeof pn[0]; k++)
            if (!strcmp(t->pre_name, pn[k].ours)) pre = pn[k].gguf;
        if (!pre) {
            s = gh_error(GH_ERR_UNSUPPORTED, "%s: pre_tokenizer: the split pattern is not one GGUF names (GPT-2's, "
                         "Llama 3's or Qwen2's); other patterns cannot be recorded as tokenizer.ggml.pre", path);
            goto done;
        }
        merges = calloc((size_t)(n_merges ? n_merges : 1), sizeof *merges);
        if (!merges) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
        for (int64_t i = 0; i < n_merges; i++) {
            const tok_entry *l = &t->tok[(int32_t)(slots[i].key >> 32)], *r = &t->tok[(int32_t)(slots[i].key & 0xffffffffu)];
            if (!(merges[i] = malloc((size_t)l->len + r->len + 2))) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
            memcpy(merges[i], l->text, l->len);
            merges[i][l->len] = ' ';
            memcpy(merges[i] + l->len + 1, r->text, r->len);
            merges[i][l->len + 1 + r->len] = 0;
        }
    } else if (spm) {
        /* merging by the highest score = merging by the lowest rank */
        for (int64_t i = 0; i < V; i++) scores[i] = -(float)(t->n_merges + 1);
        for (int64_t i = n_merges - 1; i >= 0; i--) scores[slots[i].merged] = -(float)slots[i].rank;
    } else {
        pre = "default";
    }
    s = gh_gguf_set_str(w, "tokenizer.ggml.model", model);
    if (!s) s = gh_gguf_set_str(w, "tokenizer.ggml.pre", pre);
    if (!s) s = gh_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)texts, lens, (uint64_t)V);
    if (!s) s = gh_gguf_set_arr(w, "tokenizer.ggml.token_type", GH_GGUF_INT32, types, (uint64_t)V);
    if (!s && spm) s = gh_gguf_set_arr(w, "tokenizer.ggml.scores", GH_GGUF_FLOAT32, scores, (uint64_t)V);
    if (!s && merges) s = gh_gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, NULL, (uint64_t)n_merges);
    const struct { const char *key; int32_t id; } ids[] = {
        {"tokenizer.ggml.bos_token_id", wpm ? -1 : t->bos}, {"tokenizer.ggml.eos_token_id", wpm ? -1 : t->eos},
        {"tokenizer.ggml.unknown_token_id", t->unk},        {"tokenizer.ggml.padding_token_id", t->pad},
        {"tokenizer.ggml.seperator_token_id", t->sep},      {"tokenizer.ggml.cls_token_id", t->cls},
        {"tokenizer.ggml.eot_token_id", t->eot},            {"tokenizer.ggml.eom_token_id", t->eom},
        {"tokenizer.ggml.mask_token_id", wpm ? gh_tokenizer_find(t, "[MASK]") : -1},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0] && !s; i++)
        if (ids[i].id >= 0) s = gh_gguf_set_u32(w, ids[i].key, (uint32_t)ids[i].id);
    /* config.json's pad_token_id is the one a sequence classifier skips when it
     * finds the last token, so for reward models it wins over the tokenizer's;
     * otherwise it only fills in when the tokenizer names none */
    int64_t pad_id;
    if (!s && (t->pad < 0 || c->cls) && json_int(cfg_item(c, "pad_token_id"), &pad_id) && pad_id >= 0 && pad_id < V)
        s = gh_gguf_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)pad_id);
    if (!s) s = gh_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", t->add_bos);
    if (!s) s = gh_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", t->add_eos);
    if (!s && spm) s = gh_gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", t->add_space_prefix);
    if (!s) s = write_chat_template(c);
done:
    if (texts) for (int64_t i = 0; i < V; i++) free(texts[i]);
    if (merges) for (int64_t i = 0; i < n_merges; i++) free(merges[i]);
    free(texts);
    free(lens);
    free(types);
    free(scores);
    free(merges);
    free(slots);
    gh_tokenizer_free(t);
    return s;
}

/* ------------------------------------------------------------------ driver */

gh_convert_hf_params gh_convert_hf_default_params(void) {
    gh_convert_hf_params p = {.wtype = GH_TYPE_KEEP, .name = NULL};
    return p;
}

/* llama.cpp's general.file_type (enum llama_ftype) for the main weight type. */
static uint32_t file_type(gh_type t) {
    switch (t) {
    case GH_TYPE_F16: return 1;
    case GH_TYPE_Q4_0: return 2;
    case GH_TYPE_Q8_0: return 7;
    case GH_TYPE_Q4_K: return 15;
    case GH_TYPE_Q6_K: return 18;
    case GH_TYPE_BF16: return 32;
    default: return 0;
    }
}

gh_status gh_convert_hf(const char *dir, const char *out_path, const gh_convert_hf_params *p,
                        gh_convert_hf_result *res) {
    if (!dir || !out_path) return gh_error(GH_ERR_INVALID_ARG, "gh_convert_hf: NULL argument");
    gh_convert_hf_params dp = p ? *p : gh_convert_hf_default_params();
    gh_convert_hf_result local;
    conv c = {.dir = dir, .wtype = dp.wtype, .res = res ? res : &local, .pfx = ""};
    memset(c.res, 0, sizeof *c.res);
    if (c.wtype != GH_TYPE_KEEP) {
        const gh_type_traits *tr = gh_get_type_traits(c.wtype);
        if (!tr || !tr->from_float_ref || !tr->vec_dot || c.wtype == GH_TYPE_Q8_K)
            return gh_error(GH_ERR_UNSUPPORTED, "cannot write weights as %s (f32, f16, bf16, q8_0, q4_0, q4_K, q6_K)",
                            gh_type_name(c.wtype) ? gh_type_name(c.wtype) : "(unknown type)");
    }
    snprintf(c.cfg_path, sizeof c.cfg_path, "%s/config.json", dir);
    gh_status s = read_json(c.cfg_path, &c.cfg);
    if (!s) s = pick_arch(&c);
    if (!s) s = gh_st_open_dir(dir, &c.st);
    if (!s && !(c.used = calloc((size_t)gh_st_n_tensors(c.st) + 1, 1))) s = gh_error(GH_ERR_NOMEM, "out of memory");
    if (!s) s = gh_gguf_writer_init(&c.w);
    if (s) goto done;
    snprintf(c.res->arch, sizeof c.res->arch, "%s", c.arch);
    /* general.name: given, else the folder's last component */
    char name[256];
    if (dp.name) snprintf(name, sizeof name, "%s", dp.name);
    else {
        snprintf(name, sizeof name, "%s", dir);
        size_t n = strlen(name);
        while (n > 1 && name[n - 1] == '/') name[--n] = 0;
        const char *b = strrchr(name, '/');
        if (b) memmove(name, b + 1, strlen(b + 1) + 1);
    }
    s = gh_gguf_set_str(c.w, "general.architecture", c.arch);
    if (!s) s = gh_gguf_set_str(c.w, "general.name", name);
    if (!s) s = gh_gguf_set_u32(c.w, "general.file_type", 0); /* set below, kept in this position */
    if (!s) s = c.fam == FAM_BERT ? bert_hparams(&c) : llama_hparams(&c);
    /* the embedding first: it is the first tensor, and its rows (checked
     * against vocab_size) bound the vocabulary the tokenizer is padded to */
    if (!s) {
        bool bert = c.fam == FAM_BERT;
        c.pfx = gh_st_find(c.st, bert ? "bert.embeddings.word_embeddings.weight" : "model.embed_tokens.weight")
                    ? (bert ? "bert." : "model.") : "";
        s = put(&c, bert ? "embeddings.word_embeddings.weight" : "embed_tokens.weight", true, "token_embd.weight",
                c.n_vocab, c.n_embd, T_MATRIX, 0, true);
    }
    if (!s) s = write_tokenizer(&c);
    if (!s) s = c.fam == FAM_BERT ? bert_tensors(&c) : llama_tensors(&c);
    if (!s) s = check_all_used(&c);
    if (s) goto done;
    gh_type main = c.wtype;
    if (main == GH_TYPE_KEEP) {
        char nm[160];
        snprintf(nm, sizeof nm, "%s%s", c.pfx, c.fam == FAM_BERT ? "embeddings.word_embeddings.weight" : "embed_tokens.weight");
        const gh_st_tensor *t = gh_st_find(c.st, nm);
        main = t ? st_to_gh(t->dtype) : GH_TYPE_F32;
    }
    s = gh_gguf_set_u32(c.w, "general.file_type", file_type(main));
    if (!s && gh_get_type_traits(main)->is_quantized) s = gh_gguf_set_u32(c.w, "general.quantization_version", 2);
    if (!s) s = gh_gguf_writer_write(c.w, out_path);
done:
    gh_gguf_writer_free(c.w);
    for (int64_t i = 0; i < c.n_keep; i++) free(c.keep[i]);
    free(c.keep);
    free(c.used);
    gh_st_free(c.st);
    cJSON_Delete(c.cfg);
    return s;
}
