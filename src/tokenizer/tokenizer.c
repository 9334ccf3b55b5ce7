/* tokenizer.c — what every tokenizer shares: the vocabulary and its text -> id
 * table, the merge table, special tokens, the public accessors, gh_tokenize
 * (which splits the text at special tokens and hands each piece to the model's
 * algorithm in spm.c / bpe.c / wpm.c) and detokenization.
 *
 * Special tokens: with parse_special, control and user-defined tokens are found
 * in the text leftmost-first, and at each position the longest one wins; the
 * text between them is tokenized normally. SentencePiece vocabularies add their
 * space prefix to the text that starts the input and to text right after a
 * special token (as llama.cpp does).
 *
 * Invalid UTF-8 never fails tokenization: SPM gives each stray byte its <0xXX>
 * token, byte-level BPE carries it through the byte alphabet (both are lossless),
 * WordPiece turns the word holding it into [UNK].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

gh_status tok_ids_push(tok_ids *a, int32_t id) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) return gh_error(GH_ERR_NOMEM, "tokenizer: out of memory for %zu token ids", cap);
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = id;
    return GH_OK;
}

/* ---- building ---- */

gh_status tok_alloc(gh_tokenizer **out, const char *source) {
    gh_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return gh_error(GH_ERR_NOMEM, "tokenizer: out of memory");
    snprintf(t->source, sizeof t->source, "%s", source ? source : "?");
    t->bos = t->eos = t->eot = t->unk = t->pad = t->sep = t->cls = t->eom = -1;
    t->space_mark = "\xe2\x96\x81";
    t->space_mark_len = 3;
    t->wpm_prefix = "##";
    t->wpm_word_prefix = "";
    t->wpm_max_chars = 100;
    for (int i = 0; i < 256; i++) t->byte_ids[i] = -1;
    *out = t;
    return GH_OK;
}

void tok_set_model_name(gh_tokenizer *t, const char *name) {
    snprintf(t->model_name, sizeof t->model_name, "%s", name);
}

gh_status tok_reserve(gh_tokenizer *t, int32_t n) {
    if (n <= 0) return gh_error(GH_ERR_FORMAT, "%s: the vocabulary is empty", t->source);
    t->tok = calloc((size_t)n, sizeof *t->tok);
    if (!t->tok) return gh_error(GH_ERR_NOMEM, "%s: out of memory for %d tokens", t->source, n);
    t->n_vocab = n;
    return GH_OK;
}

gh_status tok_set_token(gh_tokenizer *t, int32_t id, const char *text, size_t len, int32_t type, float score) {
    if (id < 0 || id >= t->n_vocab) return gh_error(GH_ERR_FORMAT, "%s: token id %d out of range", t->source, id);
    if (len > UINT32_MAX - 1) return gh_error(GH_ERR_FORMAT, "%s: token %d is too long", t->source, id);
    tok_entry *e = &t->tok[id];
    free(e->text);
    e->text = malloc(len + 1);
    if (!e->text) return gh_error(GH_ERR_NOMEM, "%s: out of memory", t->source);
    memcpy(e->text, text, len);
    e->text[len] = 0;
    e->len = (uint32_t)len;
    e->type = type;
    e->score = score;
    return GH_OK;
}

static uint32_t hash_bytes(const char *s, size_t len) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) { h ^= (uint8_t)s[i]; h *= 16777619u; }
    return h;
}

gh_status tok_build_hash(gh_tokenizer *t) {
    uint32_t cap = 16;
    while (cap < (uint32_t)t->n_vocab * 2u) cap *= 2;
    free(t->hash);
    t->hash = malloc((size_t)cap * sizeof *t->hash);
    if (!t->hash) return gh_error(GH_ERR_NOMEM, "%s: out of memory", t->source);
    for (uint32_t i = 0; i < cap; i++) t->hash[i] = -1;
    t->hash_mask = cap - 1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        tok_entry *e = &t->tok[id];
        if (!e->text) return gh_error(GH_ERR_FORMAT, "%s: token id %d was never defined", t->source, id);
        if (tok_lookup(t, e->text, e->len) >= 0) continue; /* duplicate: the first id keeps the text */
        uint32_t h = hash_bytes(e->text, e->len) & t->hash_mask;
        while (t->hash[h] >= 0) h = (h + 1) & t->hash_mask;
        t->hash[h] = id;
    }
    return GH_OK;
}

int32_t tok_lookup(const gh_tokenizer *t, const char *s, size_t len) {
    if (!t->hash) return -1;
    uint32_t h = hash_bytes(s, len) & t->hash_mask;
    for (;;) {
        int32_t id = t->hash[h];
        if (id < 0) return -1;
        const tok_entry *e = &t->tok[id];
        if (e->len == len && memcmp(e->text, s, len) == 0) return id;
        h = (h + 1) & t->hash_mask;
    }
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
    return x;
}

gh_status tok_reserve_merges(gh_tokenizer *t, int64_t n) {
    if (n < 0 || n > INT32_MAX / 4) return gh_error(GH_ERR_FORMAT, "%s: %lld merges is too many", t->source, (long long)n);
    uint32_t cap = 16;
    while ((int64_t)cap < n * 2) cap *= 2;
    free(t->merges);
    t->merges = malloc((size_t)cap * sizeof *t->merges);
    if (!t->merges) return gh_error(GH_ERR_NOMEM, "%s: out of memory for %lld merges", t->source, (long long)n);
    for (uint32_t i = 0; i < cap; i++) t->merges[i].key = UINT64_MAX;
    t->merge_mask = cap - 1;
    t->n_merges = 0;
    return GH_OK;
}

gh_status tok_add_merge(gh_tokenizer *t, const char *left, size_t llen, const char *right, size_t rlen,
                        const char *what) {
    if (!t->merges || (uint32_t)t->n_merges * 2u >= t->merge_mask + 1u)
        return gh_error(GH_ERR_INVALID_ARG, "%s: merge table not reserved", t->source);
    int32_t l = tok_lookup(t, left, llen), r = tok_lookup(t, right, rlen);
    if (l < 0 || r < 0)
        return gh_error(GH_ERR_FORMAT, "%s: %s %d: \"%.*s\" is not in the vocabulary", t->source, what,
                        t->n_merges, (int)(l < 0 ? llen : rlen), l < 0 ? left : right);
    char stackbuf[256];
    char *cat = llen + rlen <= sizeof stackbuf ? stackbuf : malloc(llen + rlen);
    if (!cat) return gh_error(GH_ERR_NOMEM, "%s: out of memory", t->source);
    memcpy(cat, left, llen);
    memcpy(cat + llen, right, rlen);
    int32_t m = tok_lookup(t, cat, llen + rlen);
    if (cat != stackbuf) free(cat);
    if (m < 0)
        return gh_error(GH_ERR_FORMAT, "%s: %s %d: the merge of \"%.*s\" and \"%.*s\" is not in the vocabulary",
                        t->source, what, t->n_merges, (int)llen, left, (int)rlen, right);
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    uint32_t h = (uint32_t)mix64(key) & t->merge_mask;
    while (t->merges[h].key != UINT64_MAX) {
        if (t->merges[h].key == key) { t->n_merges++; return GH_OK; } /* repeated merge: first rank wins */
        h = (h + 1) & t->merge_mask;
    }
    t->merges[h].key = key;
    t->merges[h].rank = t->n_merges++;
    t->merges[h].merged = m;
    return GH_OK;
}

int32_t tok_merge_find(const gh_tokenizer *t, int32_t left, int32_t right, int32_t *merged) {
    if (!t->merges || left < 0 || right < 0) return -1;
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    uint32_t h = (uint32_t)mix64(key) & t->merge_mask;
    for (;;) {
        const tok_merge_slot *s = &t->merges[h];
        if (s->key == UINT64_MAX) return -1;
        if (s->key == key) { *merged = s->merged; return s->rank; }
        h = (h + 1) & t->merge_mask;
    }
}

static void sort_specials(gh_tokenizer *t) {
    /* insertion sort by (length desc, id asc): no global state, so loaders on
     * several threads are safe; lists are short (hundreds) */
    for (int32_t i = 1; i < t->n_specials; i++) {
        int32_t v = t->specials[i], j = i - 1;
        while (j >= 0) {
            int32_t w = t->specials[j];
            bool after = t->tok[w].len < t->tok[v].len || (t->tok[w].len == t->tok[v].len && w > v);
            if (!after) break;
            t->specials[j + 1] = w;
            j--;
        }
        t->specials[j + 1] = v;
    }
}

gh_status tok_finish(gh_tokenizer *t) {
    if (!t->hash) {
        gh_status s = tok_build_hash(t);
        if (s) return s;
    }
    /* <0xXX> byte tokens */
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_ids[b] = tok_lookup(t, name, 6);
    }
    /* Which marker stands for a space: "▁" normally; llama2.c's exports store a
     * plain space instead, and then nothing needs escaping. */
    if (t->kind == GH_TOK_SPM) {
        bool has_mark = false, has_space = false;
        for (int32_t i = 0; i < t->n_vocab && !has_mark; i++) {
            const tok_entry *e = &t->tok[i];
            if (e->type == GH_TOKEN_BYTE || e->type == GH_TOKEN_CONTROL) continue;
            if (memmem(e->text, e->len, "\xe2\x96\x81", 3)) has_mark = true;
            else if (memchr(e->text, ' ', e->len)) has_space = true;
        }
        if (!has_mark && has_space) { t->space_mark = " "; t->space_mark_len = 1; }
    }
    /* special tokens matched in text when parse_special */
    free(t->specials);
    t->specials = malloc((size_t)t->n_vocab * sizeof *t->specials);
    if (!t->specials) return gh_error(GH_ERR_NOMEM, "%s: out of memory", t->source);
    t->n_specials = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        int32_t ty = t->tok[i].type;
        if ((ty == GH_TOKEN_CONTROL || ty == GH_TOKEN_USER_DEFINED) && t->tok[i].len > 0)
            t->specials[t->n_specials++] = i;
    }
    sort_specials(t);
    memset(t->special_first, 0, sizeof t->special_first);
    for (int32_t k = 0; k < t->n_specials; k++) t->special_first[(uint8_t)t->tok[t->specials[k]].text[0]] = true;
    const struct { const char *name; int32_t id; } ids[] = {
        {"bos", t->bos}, {"eos", t->eos}, {"eot", t->eot}, {"unknown", t->unk},
        {"padding", t->pad}, {"separator", t->sep}, {"cls", t->cls}, {"eom", t->eom},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].id < -1 || ids[i].id >= t->n_vocab)
            return gh_error(GH_ERR_FORMAT, "%s: %s token id %d is outside the vocabulary (%d tokens)", t->source,
                            ids[i].name, ids[i].id, t->n_vocab);
    return GH_OK;
}

gh_status tok_add_regex(gh_tokenizer *t, const char *pattern, const char *what) {
    if (t->n_regex >= TOK_MAX_REGEX)
        return gh_error(GH_ERR_UNSUPPORTED, "%s: %s: more than %d pre-tokenizer regexes", t->source, what,
                        TOK_MAX_REGEX);
    int err = 0;
    PCRE2_SIZE off = 0;
    /* MATCH_INVALID_UTF: invalid bytes in the text just do not match (they are
     * then kept as pre-tokens of their own) instead of failing the match */
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return gh_error(GH_ERR_FORMAT, "%s: %s: regex does not compile at offset %zu: %s", t->source, what,
                        (size_t)off, (const char *)msg);
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
    t->regex[t->n_regex++] = re;
    return GH_OK;
}

/* The split patterns the model families publish with their tokenizers. */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_LLAMA3 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

bool tok_pre_regexes(const char *pre, const char **pats, int *n, bool *ignore_merges) {
    *n = 0;
    *ignore_merges = false;
    if (!strcmp(pre, "default") || !strcmp(pre, "gpt-2") || !strcmp(pre, "gpt2")) {
        pats[(*n)++] = RE_GPT2;
        return true;
    }
    if (!strcmp(pre, "llama3") || !strcmp(pre, "llama-bpe") || !strcmp(pre, "llama-v3")) {
        pats[(*n)++] = RE_LLAMA3;
        *ignore_merges = true;
        return true;
    }
    if (!strcmp(pre, "qwen2") || !strcmp(pre, "qwen3")) {
        pats[(*n)++] = RE_QWEN2;
        return true;
    }
    return false;
}

const char *tok_gpt2_regex(void) { return RE_GPT2; }

void gh_tokenizer_free(gh_tokenizer *t) {
    if (!t) return;
    if (t->tok)
        for (int32_t i = 0; i < t->n_vocab; i++) free(t->tok[i].text);
    free(t->tok);
    free(t->hash);
    free(t->merges);
    free(t->specials);
    for (int i = 0; i < t->n_regex; i++) pcre2_code_free(t->regex[i]);
    free(t);
}

/* ---- accessors ---- */

gh_tok_kind gh_tokenizer_kind(const gh_tokenizer *t) { return t->kind; }
const char *gh_tokenizer_model_name(const gh_tokenizer *t) { return t->model_name; }
const char *gh_tokenizer_pre_name(const gh_tokenizer *t) { return t->pre_name; }
int32_t gh_tokenizer_n_vocab(const gh_tokenizer *t) { return t->n_vocab; }
int32_t gh_tokenizer_bos(const gh_tokenizer *t) { return t->kind == GH_TOK_WPM && t->cls >= 0 ? t->cls : t->bos; }
int32_t gh_tokenizer_eos(const gh_tokenizer *t) { return t->kind == GH_TOK_WPM && t->sep >= 0 ? t->sep : t->eos; }
int32_t gh_tokenizer_eot(const gh_tokenizer *t) { return t->eot; }
bool gh_tokenizer_add_bos(const gh_tokenizer *t) { return t->add_bos; }
bool gh_tokenizer_add_eos(const gh_tokenizer *t) { return t->add_eos; }

bool gh_tokenizer_is_eog(const gh_tokenizer *t, int32_t id) {
    return id >= 0 && (id == t->eos || id == t->eot || id == t->eom);
}

gh_token_type gh_tokenizer_token_type(const gh_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab) return GH_TOKEN_UNDEFINED;
    return (gh_token_type)t->tok[id].type;
}

const char *gh_tokenizer_token_text(const gh_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab) return NULL;
    return t->tok[id].text;
}

int32_t gh_tokenizer_find(const gh_tokenizer *t, const char *text) {
    if (!text) return -1;
    return tok_lookup(t, text, strlen(text));
}

/* ---- tokenize ---- */

/* The longest special token starting at text[i], or -1. */
static int32_t special_at(const gh_tokenizer *t, const char *text, size_t len, size_t i) {
    if (!t->special_first[(uint8_t)text[i]]) return -1;
    for (int32_t k = 0; k < t->n_specials; k++) {
        const tok_entry *e = &t->tok[t->specials[k]];
        if (e->len <= len - i && (uint8_t)e->text[0] == (uint8_t)text[i] && memcmp(e->text, text + i, e->len) == 0)
            return t->specials[k];
    }
    return -1;
}

static gh_status encode_fragment(const gh_tokenizer *t, const char *text, size_t len, bool prefix, tok_ids *out) {
    char *norm = NULL;
    size_t nlen = 0;
    if (t->norm != TOK_NORM_NONE) {
        gh_status s = tok_normalize(t->norm, text, len, &norm, &nlen);
        if (s) return s;
        text = norm;
        len = nlen;
    }
    gh_status s;
    switch (t->algo) {
    case TOK_ALGO_SPM: s = tok_spm_encode(t, text, len, prefix, out); break;
    case TOK_ALGO_BPE: s = tok_bpe_encode(t, text, len, prefix, out); break;
    default: s = tok_wpm_encode(t, text, len, out); break;
    }
    free(norm);
    return s;
}

gh_status gh_tokenize(const gh_tokenizer *t, const char *text, size_t len, bool add_special, bool parse_special,
                      int32_t **ids, size_t *n_ids) {
    if (!t || !ids || !n_ids || (!text && len > 0))
        return gh_error(GH_ERR_INVALID_ARG, "gh_tokenize: NULL argument");
    *ids = NULL;
    *n_ids = 0;
    tok_ids out = {0};
    gh_status s = GH_OK;
    int32_t first = t->kind == GH_TOK_WPM ? (t->cls >= 0 ? t->cls : t->bos) : t->bos;
    int32_t last = t->kind == GH_TOK_WPM ? (t->sep >= 0 ? t->sep : t->eos) : t->eos;
    bool add_first = add_special && (t->kind == GH_TOK_WPM || t->add_bos) && first >= 0;
    bool add_last = add_special && (t->kind == GH_TOK_WPM || t->add_eos) && last >= 0;
    if (add_first && (s = tok_ids_push(&out, first))) goto fail;

    bool prev_special = true; /* SPM's space prefix goes on text that starts the input or follows a special */
    size_t start = 0;
    for (size_t i = 0; i <= len;) {
        int32_t sp = -1;
        if (i < len && parse_special && t->n_specials > 0) sp = special_at(t, text, len, i);
        if (sp < 0 && i < len) { i++; continue; }
        if (i > start) {
            if ((s = encode_fragment(t, text + start, i - start, prev_special && t->add_space_prefix, &out))) goto fail;
            prev_special = false;
        }
        if (sp < 0) break; /* i == len */
        if ((s = tok_ids_push(&out, sp))) goto fail;
        prev_special = true;
        i += t->tok[sp].len;
        start = i;
    }
    if (add_last && (s = tok_ids_push(&out, last))) goto fail;
    if (out.n == 0) { free(out.v); out.v = malloc(sizeof(int32_t)); if (!out.v) return gh_error(GH_ERR_NOMEM, "gh_tokenize: out of memory"); }
    *ids = out.v;
    *n_ids = out.n;
    return GH_OK;
fail:
    free(out.v);
    return s;
}

/* ---- detokenize ---- */

/* Writes src into buf as snprintf would (no NUL), returning the new length. */
static int32_t put(char *buf, int32_t size, int32_t n, const char *src, size_t len) {
    for (size_t i = 0; i < len; i++, n++)
        if (n < size) buf[n] = src[i];
    return n;
}

int32_t gh_token_to_piece(const gh_tokenizer *t, int32_t prev, int32_t id, bool render_special, char *buf,
                          int32_t size) {
    if (!t || id < 0 || id >= t->n_vocab) return 0;
    if (!buf) size = 0;
    const tok_entry *e = &t->tok[id];
    int32_t n = 0;
    switch (e->type) {
    case GH_TOKEN_CONTROL:
    case GH_TOKEN_UNKNOWN:
        return render_special ? put(buf, size, 0, e->text, e->len) : 0;
    case GH_TOKEN_USER_DEFINED:
        return put(buf, size, 0, e->text, e->len);
    case GH_TOKEN_BYTE:
        if (e->len == 6 && memcmp(e->text, "<0x", 3) == 0 && e->text[5] == '>') {
            char *end = NULL, hex[3] = {e->text[3], e->text[4], 0};
            long b = strtol(hex, &end, 16);
            if (end == hex + 2) { char c = (char)b; return put(buf, size, 0, &c, 1); }
        }
        return put(buf, size, 0, e->text, e->len);
    default: break;
    }
    if (t->byte_level) {
        for (uint32_t i = 0; i < e->len;) {
            uint32_t cp;
            uint32_t l = tok_utf8_decode(e->text + i, e->len - i, &cp);
            int b = cp == TOK_CP_INVALID ? -1 : tok_unicode_to_byte(cp);
            if (b >= 0) { char c = (char)b; n = put(buf, size, n, &c, 1); }
            else n = put(buf, size, n, e->text + i, l);
            i += l;
        }
        return n;
    }
    if (t->kind == GH_TOK_WPM) {
        /* a word's first piece gets a space before it (not at the start of
         * the text); continuation pieces are glued to the piece before */
        size_t pl = strlen(t->wpm_prefix), wl = strlen(t->wpm_word_prefix);
        bool cont;
        const char *p = e->text;
        size_t len = e->len;
        if (wl > 0) {
            cont = !(len >= wl && memcmp(p, t->wpm_word_prefix, wl) == 0);
            if (!cont) { p += wl; len -= wl; }
        } else {
            cont = pl > 0 && len >= pl && memcmp(p, t->wpm_prefix, pl) == 0;
            if (cont) { p += pl; len -= pl; }
        }
        bool first = prev < 0 || prev >= t->n_vocab || t->tok[prev].type == GH_TOKEN_CONTROL ||
                     t->tok[prev].type == GH_TOKEN_UNKNOWN;
        if (!cont && !first) n = put(buf, size, n, " ", 1);
        return put(buf, size, n, p, len);
    }
    /* SentencePiece: the space marker stands for a space; the space the
     * tokenizer put in front of the text is dropped again */
    bool drop = t->add_space_prefix && (prev < 0 || prev == t->bos);
    for (uint32_t i = 0; i < e->len;) {
        if (e->len - i >= t->space_mark_len && memcmp(e->text + i, t->space_mark, t->space_mark_len) == 0) {
            if (!(drop && i == 0)) n = put(buf, size, n, " ", 1);
            i += t->space_mark_len;
        } else {
            n = put(buf, size, n, e->text + i, 1);
            i++;
        }
    }
    return n;
}

char *gh_token_piece_dup(const gh_tokenizer *t, int32_t prev, int32_t id, int32_t *len) {
    char small[64];
    int32_t n = gh_token_to_piece(t, prev, id, false, small, sizeof small);
    if (n < 0) n = 0;
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    if (n < (int32_t)sizeof small) memcpy(s, small, (size_t)n);
    else gh_token_to_piece(t, prev, id, false, s, n + 1);
    s[n] = '\0';
    if (len) *len = n;
    return s;
}

int gh_token_piece_append(const gh_tokenizer *t, int32_t prev, int32_t id, char **buf, size_t *len, size_t *cap) {
    for (;;) {
        int32_t room = (int32_t)(*cap - *len - 1);
        int32_t n = gh_token_to_piece(t, prev, id, false, *buf + *len, room);
        if (n < 0) return 0;
        if (n <= room) { *len += (size_t)n; (*buf)[*len] = '\0'; return 0; }
        size_t nc = *cap * 2 + (size_t)n;
        char *nb = realloc(*buf, nc);
        if (!nb) return -1;
        *buf = nb;
        *cap = nc;
    }
}

gh_status gh_detokenize(const gh_tokenizer *t, const int32_t *ids, size_t n, bool render_special, char **out,
                        size_t *out_len) {
    if (!t || !out || (!ids && n > 0)) return gh_error(GH_ERR_INVALID_ARG, "gh_detokenize: NULL argument");
    *out = NULL;
    size_t cap = 64, len = 0;
    char *s = malloc(cap);
    if (!s) return gh_error(GH_ERR_NOMEM, "gh_detokenize: out of memory");
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab) {
            free(s);
            return gh_error(GH_ERR_INVALID_ARG, "gh_detokenize: token id %d at position %zu is outside the vocabulary (%d tokens)",
                            ids[i], i, t->n_vocab);
        }
        int32_t prev = i ? ids[i - 1] : -1;
        int32_t need = gh_token_to_piece(t, prev, ids[i], render_special, NULL, 0);
        if (len + (size_t)need + 1 > cap) {
            while (len + (size_t)need + 1 > cap) cap *= 2;
            char *ns = realloc(s, cap);
            if (!ns) { free(s); return gh_error(GH_ERR_NOMEM, "gh_detokenize: out of memory"); }
            s = ns;
        }
        len += (size_t)gh_token_to_piece(t, prev, ids[i], render_special, s + len, (int32_t)(cap - len));
    }
    s[len] = 0;
    *out = s;
    if (out_len) *out_len = len;
    return GH_OK;
}
