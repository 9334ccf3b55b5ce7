/* wpm.c — WordPiece ("bert" vocabularies), as BERT's tokenizer does it.
 *
 * Basic tokenizer: drop NUL, U+FFFD and control characters; cut words at
 * whitespace; for uncased models decompose (NFD), drop non-spacing marks (the
 * accents) and lowercase; make every punctuation character and every CJK
 * ideograph a word of its own. WordPiece then splits each word greedily into
 * the longest vocabulary entries from the left, later pieces carrying the "##"
 * prefix; a word that cannot be split completely (or is longer than 100
 * characters, or holds bytes that are not UTF-8) becomes [UNK].
 *
 * llama.cpp's GGUF files store BERT vocabularies rewritten SentencePiece-style:
 * word-initial pieces carry "▁" and continuation pieces no prefix ("##the" ->
 * "the", "the" -> "▁the"); wpm_word_prefix / wpm_prefix say which form is used.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

typedef struct wpm_word {
    char *buf;       /* the word's UTF-8 bytes */
    size_t len, cap; /* len counts the word bytes only */
    int32_t n_chars;
    bool invalid;
} wpm_word;

static gh_status word_add(wpm_word *w, uint32_t cp) {
    if (w->len + 4 + 1 > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        char *b = realloc(w->buf, cap);
        if (!b) return gh_error(GH_ERR_NOMEM, "tokenizer: out of memory");
        w->buf = b;
        w->cap = cap;
    }
    if (cp == TOK_CP_INVALID) { w->invalid = true; w->buf[w->len++] = '?'; }
    else w->len += (size_t)tok_utf8_encode(cp, w->buf + w->len);
    w->n_chars++;
    return GH_OK;
}

/* Greedy longest-match-first over the word; resets it. */
static gh_status word_flush(const gh_tokenizer *t, wpm_word *w, tok_ids *out) {
    if (w->n_chars == 0) return GH_OK;
    gh_status st = GH_OK;
    size_t first = out->n;
    const size_t cl = strlen(t->wpm_prefix), wl = strlen(t->wpm_word_prefix);
    char *scratch = NULL;
    if (w->invalid || w->n_chars > t->wpm_max_chars) goto unknown;
    scratch = malloc((cl > wl ? cl : wl) + w->len + 1);
    if (!scratch) return gh_error(GH_ERR_NOMEM, "tokenizer: out of memory");
    const char *s = w->buf;
    for (size_t start = 0; start < w->len;) {
        int32_t found = -1;
        size_t end = w->len;
        const char *pfx = start == 0 ? t->wpm_word_prefix : t->wpm_prefix;
        size_t pl = start == 0 ? wl : cl;
        memcpy(scratch, pfx, pl);
        while (end > start) {
            memcpy(scratch + pl, s + start, end - start);
            found = tok_lookup(t, scratch, pl + end - start);
            if (found >= 0) break;
            /* step back one UTF-8 character */
            do end--; while (end > start && ((uint8_t)s[end] & 0xC0) == 0x80);
        }
        if (found < 0) { out->n = first; goto unknown; }
        if ((st = tok_ids_push(out, found))) goto done;
        start = end;
    }
    goto done;
unknown:
    if (t->unk < 0) st = gh_error(GH_ERR_FORMAT, "%s: a word cannot be split and there is no [UNK] token", t->source);
    else st = tok_ids_push(out, t->unk);
done:
    free(scratch);
    w->len = 0;
    w->n_chars = 0;
    w->invalid = false;
    return st;
}

static gh_status add_alone(const gh_tokenizer *t, wpm_word *w, uint32_t cp, tok_ids *out) {
    gh_status st = word_flush(t, w, out);
    if (!st) st = word_add(w, cp);
    if (!st) st = word_flush(t, w, out);
    return st;
}

gh_status tok_wpm_encode(const gh_tokenizer *t, const char *text, size_t len, tok_ids *out) {
    wpm_word w = {0};
    gh_status st = GH_OK;
    for (size_t i = 0; i < len && !st;) {
        uint32_t cp;
        i += tok_utf8_decode(text + i, len - i, &cp);
        if (cp == TOK_CP_INVALID) { st = word_add(&w, cp); continue; }
        if (cp == 0 || cp == 0xFFFD || tok_is_bert_control(cp)) continue;
        if (tok_is_bert_whitespace(cp)) { st = word_flush(t, &w, out); continue; }
        uint32_t d[32];
        int nd = 1;
        d[0] = cp;
        if (t->strip_accents) nd = tok_decompose(cp, d, 32);
        for (int k = 0; k < nd && !st; k++) {
            uint32_t c = d[k];
            if (t->strip_accents && tok_is_mark_nonspacing(c)) continue;
            if (t->lowercase) c = tok_tolower(c);
            if (tok_is_cjk(c) || tok_is_bert_punct(c)) st = add_alone(t, &w, c, out);
            else st = word_add(&w, c);
        }
    }
    if (!st) st = word_flush(t, &w, out);
    free(w.buf);
    return st;
}
