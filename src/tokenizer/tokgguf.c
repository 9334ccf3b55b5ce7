/* tokgguf.c — builds a tokenizer from a GGUF file's `tokenizer.ggml.*` metadata.
 *
 * Keys: model ("llama" | "gpt2" | "bert", required), pre (pre-tokenizer name,
 * default "default"), tokens (string array, required), scores (f32, optional),
 * token_type (i32, optional), merges ("a b" strings, required for gpt2), the
 * special ids bos/eos/unknown/padding/seperator (sic)/cls/eot/eom_token_id, and
 * add_bos_token / add_eos_token / add_space_prefix. Every missing or malformed
 * key gives an error naming the file and the key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

#define K_MODEL "tokenizer.ggml.model"
#define K_PRE "tokenizer.ggml.pre"
#define K_TOKENS "tokenizer.ggml.tokens"
#define K_SCORES "tokenizer.ggml.scores"
#define K_TYPES "tokenizer.ggml.token_type"
#define K_MERGES "tokenizer.ggml.merges"

/* An array key's index after checking its element type (numeric = any number). */
static gh_status array_key(const gh_gguf *g, const char *src, const char *key, bool strings, int64_t *idx,
                           uint64_t *n) {
    *idx = gh_gguf_find_key(g, key);
    if (*idx < 0) return gh_error(GH_ERR_FORMAT, "%s: missing key %s", src, key);
    if (gh_gguf_kv_type(g, *idx) != GH_GGUF_ARRAY)
        return gh_error(GH_ERR_FORMAT, "%s: key %s is a %s, not an array", src, key,
                        gh_gguf_type_name(gh_gguf_kv_type(g, *idx)));
    gh_gguf_type et;
    gh_status s = gh_gguf_arr_info(g, *idx, &et, n);
    if (s) return s;
    bool ok = strings ? et == GH_GGUF_STRING : (et != GH_GGUF_STRING && et != GH_GGUF_ARRAY && et != GH_GGUF_BOOL);
    if (!ok)
        return gh_error(GH_ERR_FORMAT, "%s: key %s is an array of %s, expected %s", src, key, gh_gguf_type_name(et),
                        strings ? "strings" : "numbers");
    return GH_OK;
}

/* An optional token id: -1 when absent; an error if mistyped or out of range. */
static gh_status id_key(const gh_gguf *g, const char *src, const char *key, int32_t n_vocab, int32_t *out) {
    int64_t i = gh_gguf_find_key(g, key);
    if (i < 0) return GH_OK;
    int64_t v;
    if (gh_gguf_kv_int(g, i, &v) || gh_gguf_kv_type(g, i) == GH_GGUF_BOOL)
        return gh_error(GH_ERR_FORMAT, "%s: key %s is not an integer", src, key);
    if (v < 0 || v >= n_vocab)
        return gh_error(GH_ERR_FORMAT, "%s: key %s = %lld is outside the vocabulary (%d tokens)", src, key, (long long)v,
                        n_vocab);
    *out = (int32_t)v;
    return GH_OK;
}

static gh_status bool_key(const gh_gguf *g, const char *src, const char *key, bool def, bool *out) {
    int64_t i = gh_gguf_find_key(g, key);
    if (i < 0) { *out = def; return GH_OK; }
    int64_t v;
    if (gh_gguf_kv_type(g, i) != GH_GGUF_BOOL || gh_gguf_kv_int(g, i, &v))
        return gh_error(GH_ERR_FORMAT, "%s: key %s is not a bool", src, key);
    *out = v != 0;
    return GH_OK;
}

static gh_status str_key(const gh_gguf *g, const char *src, const char *key, char *buf, size_t size, bool required) {
    int64_t i = gh_gguf_find_key(g, key);
    if (i < 0) {
        if (required) return gh_error(GH_ERR_FORMAT, "%s: missing key %s", src, key);
        return GH_OK;
    }
    gh_str v;
    if (gh_gguf_kv_type(g, i) != GH_GGUF_STRING || gh_gguf_kv_str(g, i, &v))
        return gh_error(GH_ERR_FORMAT, "%s: key %s is not a string", src, key);
    if (v.len >= size || memchr(v.ptr, 0, v.len))
        return gh_error(GH_ERR_FORMAT, "%s: key %s: value too long or holds NUL", src, key);
    memcpy(buf, v.ptr, v.len);
    buf[v.len] = 0;
    return GH_OK;
}

static gh_status load(gh_tokenizer *t, const gh_gguf *g, const char *src) {
    gh_status s;
    char model[32] = "", pre[64] = "default";
    if ((s = str_key(g, src, K_MODEL, model, sizeof model, true))) return s;
    if ((s = str_key(g, src, K_PRE, pre, sizeof pre, false))) return s;
    if (!strcmp(model, "llama")) { t->kind = GH_TOK_SPM; t->algo = TOK_ALGO_SPM; }
    else if (!strcmp(model, "gpt2")) { t->kind = GH_TOK_BPE; t->algo = TOK_ALGO_BPE; }
    else if (!strcmp(model, "bert")) { t->kind = GH_TOK_WPM; t->algo = TOK_ALGO_WPM; }
    else return gh_error(GH_ERR_UNSUPPORTED, "%s: key %s = \"%s\" is not supported (llama, gpt2 or bert)", src, K_MODEL, model);
    tok_set_model_name(t, model);
    snprintf(t->pre_name, sizeof t->pre_name, "%s", pre);

    /* tokens, scores, types */
    int64_t ki;
    uint64_t n;
    if ((s = array_key(g, src, K_TOKENS, true, &ki, &n))) return s;
    if (n == 0 || n > (uint64_t)INT32_MAX / 2)
        return gh_error(GH_ERR_FORMAT, "%s: key %s has %llu entries", src, K_TOKENS, (unsigned long long)n);
    int32_t nv = (int32_t)n;
    float *scores = NULL;
    int32_t *types = NULL;
    int64_t si, ti;
    uint64_t sn, tn;
    if (gh_gguf_find_key(g, K_SCORES) >= 0) {
        if ((s = array_key(g, src, K_SCORES, false, &si, &sn))) return s;
        if (sn != n)
            return gh_error(GH_ERR_FORMAT, "%s: key %s has %llu entries but %s has %llu", src, K_SCORES,
                            (unsigned long long)sn, K_TOKENS, (unsigned long long)n);
        if (!(scores = malloc(n * sizeof *scores))) return gh_error(GH_ERR_NOMEM, "%s: out of memory", src);
        if ((s = gh_gguf_arr_to_f32(g, si, scores, n))) goto done;
    }
    if (gh_gguf_find_key(g, K_TYPES) >= 0) {
        if ((s = array_key(g, src, K_TYPES, false, &ti, &tn))) goto done;
        if (tn != n) {
            s = gh_error(GH_ERR_FORMAT, "%s: key %s has %llu entries but %s has %llu", src, K_TYPES,
                         (unsigned long long)tn, K_TOKENS, (unsigned long long)n);
            goto done;
        }
        if (!(types = malloc(n * sizeof *types))) { s = gh_error(GH_ERR_NOMEM, "%s: out of memory", src); goto done; }
        if ((s = gh_gguf_arr_to_i32(g, ti, types, n))) goto done;
        for (int32_t i = 0; i < nv; i++)
            if (types[i] < GH_TOKEN_UNDEFINED || types[i] > GH_TOKEN_BYTE) {
                s = gh_error(GH_ERR_FORMAT, "%s: key %s[%d] = %d is not a token type (0..6)", src, K_TYPES, i, types[i]);
                goto done;
            }
    }
    if ((s = tok_reserve(t, nv))) goto done;
    for (int32_t i = 0; i < nv; i++) {
        gh_str str;
        if ((s = gh_gguf_arr_str(g, ki, (uint64_t)i, &str))) goto done;
        int32_t ty = types ? types[i] : GH_TOKEN_NORMAL;
        if (ty == GH_TOKEN_UNDEFINED) ty = GH_TOKEN_NORMAL;
        if ((s = tok_set_token(t, i, str.ptr, (size_t)str.len, ty, scores ? scores[i] : 0.0f))) goto done;
    }
    if ((s = tok_build_hash(t))) goto done;

    /* special ids */
    const struct { const char *key; int32_t *dst; } ids[] = {
        {"tokenizer.ggml.bos_token_id", &t->bos},        {"tokenizer.ggml.eos_token_id", &t->eos},
        {"tokenizer.ggml.unknown_token_id", &t->unk},    {"tokenizer.ggml.padding_token_id", &t->pad},
        {"tokenizer.ggml.seperator_token_id", &t->sep},  {"tokenizer.ggml.cls_token_id", &t->cls},
        {"tokenizer.ggml.eot_token_id", &t->eot},        {"tokenizer.ggml.eom_token_id", &t->eom},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if ((s = id_key(g, src, ids[i].key, nv, ids[i].dst))) goto done;
    if (!types) {
        /* no types: recognise byte tokens by name and mark the declared specials */
        for (int32_t i = 0; i < nv; i++) {
            const tok_entry *e = &t->tok[i];
            if (t->kind == GH_TOK_SPM && e->len == 6 && !memcmp(e->text, "<0x", 3) && e->text[5] == '>')
                t->tok[i].type = GH_TOKEN_BYTE;
        }
        int32_t ctl[] = {t->bos, t->eos, t->eot, t->pad, t->sep, t->cls, t->eom};
        for (size_t i = 0; i < sizeof ctl / sizeof ctl[0]; i++)
            if (ctl[i] >= 0) t->tok[ctl[i]].type = GH_TOKEN_CONTROL;
        if (t->unk >= 0) t->tok[t->unk].type = GH_TOKEN_UNKNOWN;
    }
    if (t->eot < 0) {
        static const char *names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"};
        for (size_t k = 0; k < sizeof names / sizeof names[0] && t->eot < 0; k++) {
            int32_t id = gh_tokenizer_find(t, names[k]);
            if (id >= 0 && t->tok[id].type == GH_TOKEN_CONTROL) t->eot = id;
        }
    }
    if ((s = bool_key(g, src, "tokenizer.ggml.add_bos_token", t->kind != GH_TOK_BPE, &t->add_bos))) goto done;
    if ((s = bool_key(g, src, "tokenizer.ggml.add_eos_token", t->kind == GH_TOK_WPM, &t->add_eos))) goto done;
    if ((s = bool_key(g, src, "tokenizer.ggml.add_space_prefix", t->kind == GH_TOK_SPM, &t->add_space_prefix))) goto done;

    if (t->kind == GH_TOK_SPM) {
        t->byte_fallback = true; /* <0xXX> tokens are used when present (tok_finish finds them) */
    } else if (t->kind == GH_TOK_BPE) {
        t->byte_level = true;
        const char *pats[TOK_MAX_REGEX];
        int np;
        if (!tok_pre_regexes(pre, pats, &np, &t->ignore_merges)) {
            s = gh_error(GH_ERR_UNSUPPORTED, "%s: key %s = \"%s\" is not a known pre-tokenizer (default, gpt-2, llama3, llama-bpe, qwen2)",
                         src, K_PRE, pre);
            goto done;
        }
        for (int i = 0; i < np; i++)
            if ((s = tok_add_regex(t, pats[i], K_PRE))) goto done;
        int64_t mi;
        uint64_t mn;
        if ((s = array_key(g, src, K_MERGES, true, &mi, &mn))) goto done;
        if ((s = tok_reserve_merges(t, (int64_t)mn))) goto done;
        for (uint64_t i = 0; i < mn; i++) {
            gh_str m;
            if ((s = gh_gguf_arr_str(g, mi, i, &m))) goto done;
            /* split at the first space after the first byte: "a b" */
            const char *sp = m.len > 1 ? memchr(m.ptr + 1, ' ', (size_t)m.len - 1) : NULL;
            if (!sp || sp + 1 >= m.ptr + m.len) {
                s = gh_error(GH_ERR_FORMAT, "%s: key %s[%llu] = \"%.*s\" is not \"a b\"", src, K_MERGES,
                             (unsigned long long)i, (int)(m.len > 64 ? 64 : m.len), m.ptr);
                goto done;
            }
            size_t ll = (size_t)(sp - m.ptr);
            if ((s = tok_add_merge(t, m.ptr, ll, sp + 1, (size_t)m.len - ll - 1, "key " K_MERGES " entry"))) goto done;
        }
    } else {
        /* BERT: uncased vocabularies hold no capital letters outside their
         * [CONTROL] entries; then lowercase and strip accents as BERT does */
        bool upper = false;
        for (int32_t i = 0; i < nv && !upper; i++) {
            const tok_entry *e = &t->tok[i];
            if (e->type == GH_TOKEN_CONTROL || e->type == GH_TOKEN_UNKNOWN || (e->len > 1 && e->text[0] == '['))
                continue;
            for (uint32_t k = 0; k < e->len; k++)
                if (e->text[k] >= 'A' && e->text[k] <= 'Z') { upper = true; break; }
        }
        t->lowercase = t->strip_accents = !upper;
        /* llama.cpp's conversion: "▁" marks word starts, no "##" anywhere */
        bool hash2 = false, mark = false;
        for (int32_t i = 0; i < nv; i++) {
            const tok_entry *e = &t->tok[i];
            if (e->len > 2 && !memcmp(e->text, "##", 2)) hash2 = true;
            if (e->len > 3 && !memcmp(e->text, "\xe2\x96\x81", 3)) mark = true;
        }
        if (mark && !hash2) { t->wpm_word_prefix = "\xe2\x96\x81"; t->wpm_prefix = ""; }
        if (t->cls < 0) t->cls = t->bos >= 0 ? t->bos : gh_tokenizer_find(t, "[CLS]");
        if (t->sep < 0) t->sep = t->eos >= 0 ? t->eos : gh_tokenizer_find(t, "[SEP]");
        if (t->unk < 0) t->unk = gh_tokenizer_find(t, "[UNK]");
    }
    s = tok_finish(t);
done:
    free(scores);
    free(types);
    return s;
}

gh_status gh_tokenizer_from_gguf(const gh_gguf *g, gh_tokenizer **out) {
    if (!g || !out) return gh_error(GH_ERR_INVALID_ARG, "gh_tokenizer_from_gguf: NULL argument");
    *out = NULL;
    const char *src = gh_gguf_path(g);
    gh_tokenizer *t = NULL;
    gh_status s = tok_alloc(&t, src ? src : "gguf");
    if (!s) s = load(t, g, t->source);
    if (s) { gh_tokenizer_free(t); return s; }
    *out = t;
    return GH_OK;
}
