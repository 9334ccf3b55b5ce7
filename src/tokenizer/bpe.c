/* bpe.c — byte-level BPE ("gpt2" vocabularies, and Hugging Face BPE models).
 *
 * 1. Pre-tokenize: each regex of the pre-tokenizer (PCRE2, UTF + UCP) cuts the
 *    pieces left by the one before into its matches and the text between them
 *    (Hugging Face's Split with "Isolated" behaviour). Bytes that are not valid
 *    UTF-8 never match, so they end up as pieces of their own and are kept.
 * 2. Byte-level models map every byte of a piece to GPT-2's printable alphabet
 *    (space -> "Ġ", ...); SentencePiece-style ones escape spaces to "▁".
 * 3. The piece is split into characters, each looked up, and the adjacent pair
 *    with the lowest merge rank is merged (leftmost on ties) until no pair of
 *    the merge table is left. With ignore_merges (Llama 3) a piece that is a
 *    vocabulary entry as a whole is taken directly.
 * Merging works on token ids: the merge table maps (left id, right id) to
 * (rank, merged id), so no strings are built while merging.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

typedef struct bpe_sym {
    int32_t id;           /* -1: a character that is not in the vocabulary */
    uint32_t start, len;  /* bytes of the mapped piece */
    int32_t prev, next;
    bool dead;
} bpe_sym;

/* Per-call scratch, grown as needed and reused across the pieces of one call. */
typedef struct bpe_work {
    char *buf;
    size_t cap;
    bpe_sym *sym;
    size_t sym_cap;
    tok_heap heap;
} bpe_work;

static gh_status grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return GH_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *n = realloc(*p, c * elem);
    if (!n) return gh_error(GH_ERR_NOMEM, "tokenizer: out of memory");
    *p = n;
    *cap = c;
    return GH_OK;
}

static gh_status try_pair(const gh_tokenizer *t, bpe_work *w, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return GH_OK;
    int32_t merged;
    int32_t rank = tok_merge_find(t, w->sym[l].id, w->sym[r].id, &merged);
    if (rank < 0) return GH_OK;
    tok_pair p = {.priority = -(double)rank, .left = l, .right = r, .lid = w->sym[l].id, .rid = w->sym[r].id,
                  .merged = merged}; /* lowest rank first */
    return tok_heap_push(&w->heap, p);
}

static gh_status emit_unknown(const gh_tokenizer *t, const char *s, size_t len, tok_ids *out) {
    if (t->byte_fallback) {
        bool all = true;
        for (size_t i = 0; i < len; i++) all = all && t->byte_ids[(uint8_t)s[i]] >= 0;
        if (all) {
            for (size_t i = 0; i < len; i++) {
                gh_status st = tok_ids_push(out, t->byte_ids[(uint8_t)s[i]]);
                if (st) return st;
            }
            return GH_OK;
        }
    }
    if (t->unk >= 0) return tok_ids_push(out, t->unk);
    return gh_error(GH_ERR_FORMAT, "%s: the character \"%.*s\" is not in the vocabulary and there is no unknown token",
                    t->source, (int)len, s);
}

/* BPE over one pre-token already in the model's alphabet (w->buf[0..len)). */
static gh_status bpe_word(const gh_tokenizer *t, bpe_work *w, size_t len, tok_ids *out) {
    const char *s = w->buf;
    if (t->ignore_merges) {
        int32_t id = tok_lookup(t, s, len);
        if (id >= 0) return tok_ids_push(out, id);
    }
    gh_status st = grow((void **)&w->sym, &w->sym_cap, len + 1, sizeof *w->sym);
    if (st) return st;
    int32_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        uint32_t l = tok_utf8_decode(s + i, len - i, &cp);
        bpe_sym *y = &w->sym[n];
        y->id = tok_lookup(t, s + i, l);
        y->start = (uint32_t)i;
        y->len = l;
        y->prev = n - 1;
        y->next = i + l < len ? n + 1 : -1;
        y->dead = false;
        n++;
        i += l;
    }
    w->heap.n = 0;
    for (int32_t i = 0; i + 1 < n; i++)
        if ((st = try_pair(t, w, i, i + 1))) return st;
    while (w->heap.n > 0) {
        tok_pair p = tok_heap_pop(&w->heap);
        bpe_sym *l = &w->sym[p.left], *r = &w->sym[p.right];
        if (l->dead || r->dead || l->next != p.right || l->id != p.lid || r->id != p.rid) continue; /* stale */
        l->id = p.merged;
        l->len += r->len;
        l->next = r->next;
        r->dead = true;
        if (r->next >= 0) w->sym[r->next].prev = p.left;
        if ((st = try_pair(t, w, l->prev, p.left))) return st;
        if ((st = try_pair(t, w, p.left, l->next))) return st;
    }
    for (int32_t i = 0; i >= 0 && n > 0; i = w->sym[i].next) {
        const bpe_sym *y = &w->sym[i];
        st = y->id >= 0 ? tok_ids_push(out, y->id) : emit_unknown(t, s + y->start, y->len, out);
        if (st) return st;
    }
    return GH_OK;
}

/* Maps one pre-token into the model's alphabet and runs BPE on it. */
static gh_status encode_piece(const gh_tokenizer *t, bpe_work *w, const char *p, size_t len, tok_ids *out) {
    if (len == 0) return GH_OK;
    gh_status st;
    size_t o = 0;
    if (t->byte_level) {
        if ((st = grow((void **)&w->buf, &w->cap, len * 2 + 1, 1))) return st;
        for (size_t i = 0; i < len; i++) {
            const char *u = tok_byte_to_unicode((uint8_t)p[i]);
            size_t ul = strlen(u);
            memcpy(w->buf + o, u, ul);
            o += ul;
        }
    } else {
        if ((st = grow((void **)&w->buf, &w->cap, len * t->space_mark_len + 1, 1))) return st;
        for (size_t i = 0; i < len; i++) {
            if (p[i] == ' ' && t->kind == GH_TOK_SPM) {
                memcpy(w->buf + o, t->space_mark, t->space_mark_len);
                o += t->space_mark_len;
            } else {
                w->buf[o++] = p[i];
            }
        }
    }
    return bpe_word(t, w, o, out);
}

typedef struct span {
    size_t off, len;
} span;

typedef struct spans {
    span *v;
    size_t n, cap;
} spans;

static gh_status spans_push(spans *a, size_t off, size_t len) {
    if (len == 0) return GH_OK;
    gh_status st = grow((void **)&a->v, &a->cap, a->n + 1, sizeof *a->v);
    if (st) return st;
    a->v[a->n].off = off;
    a->v[a->n].len = len;
    a->n++;
    return GH_OK;
}

/* Splits text[sp.off..+len) by re into matches and the gaps between them. */
static gh_status split_regex(const pcre2_code *re, pcre2_match_data *md, const char *text, span sp, spans *out) {
    const PCRE2_SPTR subj = (PCRE2_SPTR)(text + sp.off);
    size_t pos = 0, last = 0;
    while (pos < sp.len) {
        int rc = pcre2_match(re, subj, sp.len, pos, 0, md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* very long runs: the interpreter keeps its stack on the heap */
            rc = pcre2_match(re, subj, sp.len, pos, PCRE2_NO_JIT, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return gh_error(GH_ERR_FORMAT, "tokenizer: pre-tokenizer regex failed: %s", (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) {
            /* empty match: step over one character and go on */
            uint32_t cp;
            pos = ms + tok_utf8_decode(text + sp.off + ms, sp.len - ms, &cp);
            continue;
        }
        gh_status st = spans_push(out, sp.off + last, ms - last);
        if (!st) st = spans_push(out, sp.off + ms, me - ms);
        if (st) return st;
        last = pos = me;
    }
    return spans_push(out, sp.off + last, sp.len - last);
}

gh_status tok_bpe_encode(const gh_tokenizer *t, const char *text, size_t len, bool prefix, tok_ids *out) {
    if (len == 0) return GH_OK;
    char *owned = NULL;
    gh_status st = GH_OK;
    bpe_work w = {0};
    spans a = {0}, b = {0};
    pcre2_match_data *md = NULL;
    if (prefix && (t->kind == GH_TOK_SPM || text[0] != ' ')) {
        /* a space prefix: SentencePiece-style models always, byte-level ones
         * (ByteLevel add_prefix_space) unless the text starts with a space */
        owned = malloc(len + 2);
        if (!owned) return gh_error(GH_ERR_NOMEM, "tokenizer: out of memory");
        owned[0] = ' ';
        memcpy(owned + 1, text, len);
        text = owned;
        len++;
    }
    if ((st = spans_push(&a, 0, len))) goto done;
    if (t->n_regex > 0) {
        md = pcre2_match_data_create(1, NULL);
        if (!md) { st = gh_error(GH_ERR_NOMEM, "tokenizer: out of memory"); goto done; }
    }
    for (int r = 0; r < t->n_regex; r++) {
        b.n = 0;
        for (size_t i = 0; i < a.n; i++)
            if ((st = split_regex(t->regex[r], md, text, a.v[i], &b))) goto done;
        spans tmp = a;
        a = b;
        b = tmp;
    }
    for (size_t i = 0; i < a.n; i++)
        if ((st = encode_piece(t, &w, text + a.v[i].off, a.v[i].len, out))) goto done;
done:
    pcre2_match_data_free(md);
    free(a.v);
    free(b.v);
    free(w.buf);
    free(w.sym);
    free(w.heap.v);
    free(owned);
    return st;
}
