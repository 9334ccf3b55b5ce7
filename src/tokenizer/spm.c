/* spm.c — SentencePiece-style BPE over scores ("llama" vocabularies).
 *
 * Spaces become the marker "▁" (a space prefix is added to text that starts the
 * input), the text is cut into UTF-8 characters, and then, again and again, the
 * adjacent pair whose concatenation is a vocabulary entry with the highest score
 * is merged (leftmost on ties). Each final piece becomes its token; pieces not
 * in the vocabulary fall back to their <0xXX> byte tokens (or <unk>).
 *
 * This is the result llama2.c's encoder gives (it rescans for the best pair after
 * each merge); here the candidate pairs sit in a max-heap and pairs made stale
 * by an earlier merge are skipped when popped, so a text of n characters costs
 * O(n log n) rather than O(n^2).
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

typedef struct spm_sym {
    uint32_t start, len;  /* bytes of the escaped text; len 0 once merged away */
    int32_t prev, next;   /* neighbours in the current segmentation, -1 at the ends */
} spm_sym;

static gh_status try_pair(const gh_tokenizer *t, const char *s, const spm_sym *sym, int32_t l, int32_t r,
                          tok_heap *h) {
    if (l < 0 || r < 0) return GH_OK;
    uint32_t len = sym[l].len + sym[r].len;
    int32_t id = tok_lookup(t, s + sym[l].start, len);
    if (id < 0) return GH_OK;
    tok_pair p = {.priority = t->tok[id].score, .left = l, .right = r, .len = len};
    return tok_heap_push(h, p);
}

/* Emits the token of piece s[0..len), or its bytes. */
static gh_status emit_piece(const gh_tokenizer *t, const char *s, size_t len, tok_ids *out) {
    int32_t id = tok_lookup(t, s, len);
    if (id >= 0) return tok_ids_push(out, id);
    for (size_t i = 0; i < len; i++) {
        int32_t b = t->byte_ids[(uint8_t)s[i]];
        if (b < 0 || !t->byte_fallback) {
            /* no byte tokens: the whole piece is unknown */
            if (t->unk < 0)
                return gh_error(GH_ERR_FORMAT, "%s: a character is not in the vocabulary and there is no byte or unknown token",
                                t->source);
            return tok_ids_push(out, t->unk);
        }
        gh_status st = tok_ids_push(out, b);
        if (st) return st;
    }
    return GH_OK;
}

gh_status tok_spm_encode(const gh_tokenizer *t, const char *text, size_t len, bool prefix, tok_ids *out) {
    if (len == 0) return GH_OK;
    const char *mark = t->space_mark;
    uint32_t ml = t->space_mark_len;
    /* escape: every space becomes the marker */
    size_t nsp = 0;
    for (size_t i = 0; i < len; i++) nsp += text[i] == ' ';
    size_t elen = len + (nsp + (prefix ? 1 : 0)) * (ml - 1) + (prefix ? 1 : 0);
    if (elen > UINT32_MAX / 2) return gh_error(GH_ERR_LIMIT, "tokenizer: text of %zu bytes is too long", len);
    char *s = malloc(elen + 1);
    spm_sym *sym = malloc((elen + 1) * sizeof *sym);
    tok_heap heap = {0};
    gh_status st = GH_OK;
    if (!s || !sym) { st = gh_error(GH_ERR_NOMEM, "tokenizer: out of memory"); goto done; }
    size_t o = 0;
    if (prefix) { memcpy(s, mark, ml); o += ml; }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') { memcpy(s + o, mark, ml); o += ml; }
        else s[o++] = text[i];
    }
    /* one symbol per UTF-8 character (a stray byte is a character of its own) */
    int32_t n = 0;
    for (size_t i = 0; i < o;) {
        uint32_t cp;
        uint32_t l = tok_utf8_decode(s + i, o - i, &cp);
        sym[n].start = (uint32_t)i;
        sym[n].len = l;
        sym[n].prev = n - 1;
        sym[n].next = i + l < o ? n + 1 : -1;
        n++;
        i += l;
    }
    for (int32_t i = 0; i + 1 < n; i++)
        if ((st = try_pair(t, s, sym, i, i + 1, &heap))) goto done;
    while (heap.n > 0) {
        tok_pair p = tok_heap_pop(&heap);
        spm_sym *l = &sym[p.left], *r = &sym[p.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != p.len || l->next != p.right) continue; /* stale */
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = p.left;
        if ((st = try_pair(t, s, sym, l->prev, p.left, &heap))) goto done;
        if ((st = try_pair(t, s, sym, p.left, l->next, &heap))) goto done;
    }
    for (int32_t i = 0; i >= 0 && n > 0; i = sym[i].next)
        if ((st = emit_piece(t, s + sym[i].start, sym[i].len, out))) goto done;
done:
    free(s);
    free(sym);
    free(heap.v);
    return st;
}
