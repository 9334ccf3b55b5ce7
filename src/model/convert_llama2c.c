/* convert_llama2c.c — llama2.c checkpoints (model.bin + tokenizer.bin) to GGUF.
 *
 * llama2.c's "legacy" checkpoint is a 7×int32 header (dim, hidden_dim,
 * n_layers, n_heads, n_kv_heads, vocab_size — negative when the classifier is
 * not shared with the embedding — seq_len) followed by float32 weights, each
 * matrix stored row-major with one row per output, which is GGUF's layout
 * (ne[0] = inputs). Its RoPE rotates interleaved pairs, which is what GGUF's
 * "llama" architecture means, so no permutation is needed.
 *
 * tokenizer.bin: int32 max_token_length, then per token a float32 score, an
 * int32 length and the bytes. llama2.c stored SentencePiece's "▁" as a plain
 * space; GGUF's SentencePiece vocabularies keep "▁", so it is put back.
 */
#include "goodhart/convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "goodhart/tokenizer.h"
#include "kernels/kernels.h"

typedef struct {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
} l2c_config;

/* Adds a tensor of rows×cols floats, converted to `type` when it is not F32.
 * Converted buffers are kept in `keep` until the file is written. */
static gh_status add_weight(gh_gguf_writer *w, const char *name, const float *src, int64_t cols,
                            int64_t rows, gh_type type, void **keep, int *n_keep) {
    int64_t ne[2] = {cols, rows};
    uint32_t nd = rows > 1 ? 2 : 1;
    if (type == GH_TYPE_F32) return gh_gguf_add_tensor(w, name, type, nd, ne, src);
    const gh_type_traits *tr = gh_get_type_traits(type);
    if (!tr || !tr->from_float_ref)
        return gh_error(GH_ERR_UNSUPPORTED, "cannot write weights as %s", gh_type_name(type));
    if (cols % tr->blck_size != 0)
        return gh_error(GH_ERR_UNSUPPORTED,
                        "tensor '%s': rows of %lld elements are not a multiple of %s's block of %lld",
                        name, (long long)cols, tr->name, (long long)tr->blck_size);
    size_t row_bytes = (size_t)(cols / tr->blck_size) * tr->type_size;
    uint8_t *buf = malloc(row_bytes * (size_t)rows);
    if (!buf) return gh_error(GH_ERR_NOMEM, "tensor '%s': out of memory", name);
    for (int64_t r = 0; r < rows; r++) tr->from_float_ref(src + r * cols, buf + r * row_bytes, cols);
    keep[(*n_keep)++] = buf;
    return gh_gguf_add_tensor(w, name, type, nd, ne, buf);
}

static gh_status check_config(const char *path, const l2c_config *c, size_t file_len) {
    if (c->dim <= 0 || c->dim > 65536 || c->hidden_dim <= 0 || c->hidden_dim > 1 << 20 ||
        c->n_layers <= 0 || c->n_layers > 1024 || c->n_heads <= 0 || c->n_heads > 1024 ||
        c->n_kv_heads <= 0 || c->n_kv_heads > c->n_heads || c->vocab_size == 0 ||
        c->vocab_size > 1 << 22 || c->vocab_size < -(1 << 22) || c->seq_len <= 0 ||
        c->seq_len > 1 << 22)
        return gh_error(GH_ERR_FORMAT,
                        "%s: not a llama2.c checkpoint: implausible header (dim %d, hidden %d, "
                        "layers %d, heads %d, kv heads %d, vocab %d, seq_len %d)",
                        path, c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
                        c->vocab_size, c->seq_len);
    if (c->dim % c->n_heads != 0 || c->n_heads % c->n_kv_heads != 0 || (c->dim / c->n_heads) % 2)
        return gh_error(GH_ERR_FORMAT, "%s: heads (%d, kv %d) do not divide dim %d evenly", path,
                        c->n_heads, c->n_kv_heads, c->dim);
    int64_t dim = c->dim, hid = c->hidden_dim, L = c->n_layers, hs = dim / c->n_heads;
    int64_t kv = hs * c->n_kv_heads, V = c->vocab_size < 0 ? -(int64_t)c->vocab_size : c->vocab_size;
    int64_t n = V * dim + L * (2 * dim + dim * dim * 2 + dim * kv * 2 + 3 * dim * hid) + dim +
                (int64_t)c->seq_len * hs; /* freq_cis real + imag: seq_len × hs/2 each */
    if (c->vocab_size < 0) n += V * dim;
    uint64_t need = 28 + (uint64_t)n * 4;
    if (file_len != need)
        return gh_error(GH_ERR_FORMAT, "%s: size %zu bytes, but its header implies %llu bytes", path,
                        file_len, (unsigned long long)need);
    return GH_OK;
}

gh_status gh_convert_llama2c(const char *model_path, const char *tokenizer_path,
                             const char *out_path, gh_type wtype) {
    char *mbuf = NULL, *tbuf = NULL;
    size_t mlen = 0, tlen = 0;
    gh_gguf_writer *w = NULL;
    char **tok_text = NULL;
    float *scores = NULL;
    int32_t *types = NULL;
    void **keep = NULL;
    int n_keep = 0;
    int32_t V = 0;
    gh_status s = gh_read_file(model_path, (size_t)1 << 40, &mbuf, &mlen);
    if (s) goto done;
    if (mlen < 28) { s = gh_error(GH_ERR_FORMAT, "%s: too short for a llama2.c header (%zu bytes)", model_path, mlen); goto done; }
    l2c_config c;
    memcpy(&c, mbuf, 28);
    if ((s = check_config(model_path, &c, mlen))) goto done;
    bool shared = c.vocab_size > 0;
    V = shared ? c.vocab_size : -c.vocab_size;
    int64_t dim = c.dim, hid = c.hidden_dim, L = c.n_layers, hs = dim / c.n_heads, kv = hs * c.n_kv_heads;

    /* tokenizer */
    if ((s = gh_read_file(tokenizer_path, (size_t)1 << 30, &tbuf, &tlen))) goto done;
    tok_text = calloc((size_t)V, sizeof *tok_text);
    scores = malloc((size_t)V * sizeof *scores);
    types = malloc((size_t)V * sizeof *types);
    if (!tok_text || !scores || !types) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    size_t off = 4;
    if (tlen < 4) { s = gh_error(GH_ERR_FORMAT, "%s: too short for a llama2.c tokenizer", tokenizer_path); goto done; }
    for (int32_t i = 0; i < V; i++) {
        int32_t len;
        if (off + 8 > tlen) { s = gh_error(GH_ERR_FORMAT, "%s: truncated at token %d of %d", tokenizer_path, i, V); goto done; }
        memcpy(&scores[i], tbuf + off, 4);
        memcpy(&len, tbuf + off + 4, 4);
        off += 8;
        if (len < 0 || (size_t)len > tlen - off) {
            s = gh_error(GH_ERR_FORMAT, "%s: token %d has length %d past the end of the file", tokenizer_path, i, len);
            goto done;
        }
        /* put SentencePiece's "▁" (3 bytes) back where llama2.c wrote a space */
        char *t = malloc((size_t)len * 3 + 8);
        if (!t) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
        size_t k = 0;
        for (int32_t j = 0; j < len; j++) {
            char ch = (char)tbuf[off + j];
            if (ch == ' ') { memcpy(t + k, "\xe2\x96\x81", 3); k += 3; }
            else t[k++] = ch;
        }
        t[k] = '\0';
        off += (size_t)len;
        /* llama2.c wrote its control tokens as "\n<s>\n" and "\n</s>\n" so they
         * print as line breaks; GGUF vocabularies use SentencePiece's own names */
        static const char *const control[3] = {"<unk>", "<s>", "</s>"};
        if (i < 3) snprintf(t, (size_t)len * 3 + 8, "%s", control[i]);
        tok_text[i] = t;
        unsigned byte;
        char tail;
        if (i == 0) types[i] = GH_TOKEN_UNKNOWN;
        else if (i == 1 || i == 2) types[i] = GH_TOKEN_CONTROL;
        else if (strlen(t) == 6 && sscanf(t, "<0x%2X>%c", &byte, &tail) == 1) types[i] = GH_TOKEN_BYTE;
        else types[i] = GH_TOKEN_NORMAL;
    }

    if ((s = gh_gguf_writer_init(&w))) goto done;
    const char *base = strrchr(model_path, '/');
    base = base ? base + 1 : model_path;
    char name[256];
    snprintf(name, sizeof name, "%s", base);
    char *dot = strrchr(name, '.');
    if (dot) *dot = '\0';
    s = gh_gguf_set_str(w, "general.architecture", "llama");
    if (!s) s = gh_gguf_set_str(w, "general.name", name);
    if (!s) s = gh_gguf_set_u32(w, "llama.context_length", (uint32_t)c.seq_len);
    if (!s) s = gh_gguf_set_u32(w, "llama.embedding_length", (uint32_t)c.dim);
    if (!s) s = gh_gguf_set_u32(w, "llama.feed_forward_length", (uint32_t)c.hidden_dim);
    if (!s) s = gh_gguf_set_u32(w, "llama.block_count", (uint32_t)c.n_layers);
    if (!s) s = gh_gguf_set_u32(w, "llama.attention.head_count", (uint32_t)c.n_heads);
    if (!s) s = gh_gguf_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c.n_kv_heads);
    if (!s) s = gh_gguf_set_u32(w, "llama.rope.dimension_count", (uint32_t)hs);
    if (!s) s = gh_gguf_set_f32(w, "llama.rope.freq_base", 10000.0f);
    if (!s) s = gh_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    if (!s) s = gh_gguf_set_u32(w, "llama.vocab_size", (uint32_t)V);
    if (!s) s = gh_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    if (!s) s = gh_gguf_set_str(w, "tokenizer.ggml.pre", "default");
    if (!s) s = gh_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok_text, NULL, (uint64_t)V);
    if (!s) s = gh_gguf_set_arr(w, "tokenizer.ggml.scores", GH_GGUF_FLOAT32, scores, (uint64_t)V);
    if (!s) s = gh_gguf_set_arr(w, "tokenizer.ggml.token_type", GH_GGUF_INT32, types, (uint64_t)V);
    if (!s) s = gh_gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    if (!s) s = gh_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    if (!s) s = gh_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    if (!s) s = gh_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    if (!s) s = gh_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", false);
    if (!s) s = gh_gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", true);
    if (s) goto done;

    /* weights, in file order */
    const float *p = (const float *)(mbuf + 28);
    const float *emb = p;                    p += V * dim;
    const float *rms_att = p;                p += L * dim;
    const float *wq = p;                     p += L * dim * dim;
    const float *wk = p;                     p += L * dim * kv;
    const float *wv = p;                     p += L * dim * kv;
    const float *wo = p;                     p += L * dim * dim;
    const float *rms_ffn = p;                p += L * dim;
    const float *w1 = p;                     p += L * dim * hid;
    const float *w2 = p;                     p += L * hid * dim;
    const float *w3 = p;                     p += L * dim * hid;
    const float *rms_final = p;              p += dim;
    p += (int64_t)c.seq_len * hs;            /* freq_cis_real, freq_cis_imag: recomputed at run time */
    const float *wcls = shared ? NULL : p;

    keep = calloc((size_t)L * 9 + 4, sizeof *keep);
    if (!keep) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    char tn[96];
    if ((s = add_weight(w, "token_embd.weight", emb, dim, V, wtype, keep, &n_keep))) goto done;
    for (int64_t l = 0; l < L && !s; l++) {
#define T(fmt) (snprintf(tn, sizeof tn, "blk.%lld." fmt, (long long)l), tn)
        s = add_weight(w, T("attn_norm.weight"), rms_att + l * dim, dim, 1, GH_TYPE_F32, keep, &n_keep);
        if (!s) s = add_weight(w, T("attn_q.weight"), wq + l * dim * dim, dim, dim, wtype, keep, &n_keep);
        if (!s) s = add_weight(w, T("attn_k.weight"), wk + l * dim * kv, dim, kv, wtype, keep, &n_keep);
        if (!s) s = add_weight(w, T("attn_v.weight"), wv + l * dim * kv, dim, kv, wtype, keep, &n_keep);
        if (!s) s = add_weight(w, T("attn_output.weight"), wo + l * dim * dim, dim, dim, wtype, keep, &n_keep);
        if (!s) s = add_weight(w, T("ffn_norm.weight"), rms_ffn + l * dim, dim, 1, GH_TYPE_F32, keep, &n_keep);
        if (!s) s = add_weight(w, T("ffn_gate.weight"), w1 + l * dim * hid, dim, hid, wtype, keep, &n_keep);
        if (!s) s = add_weight(w, T("ffn_down.weight"), w2 + l * hid * dim, hid, dim, wtype, keep, &n_keep);
        if (!s) s = add_weight(w, T("ffn_up.weight"), w3 + l * dim * hid, dim, hid, wtype, keep, &n_keep);
#undef T
    }
    if (!s) s = add_weight(w, "output_norm.weight", rms_final, dim, 1, GH_TYPE_F32, keep, &n_keep);
    if (!s && wcls) s = add_weight(w, "output.weight", wcls, dim, V, wtype, keep, &n_keep);
    if (!s) s = gh_gguf_writer_write(w, out_path);

done:
    gh_gguf_writer_free(w);
    for (int i = 0; i < n_keep; i++) free(keep[i]);
    free(keep);
    if (tok_text) for (int32_t i = 0; i < V; i++) free(tok_text[i]);
    free(tok_text);
    free(scores);
    free(types);
    free(mbuf);
    free(tbuf);
    return s;
}
