/* merge_heap.c — the priority queue of candidate merges that both merge loops
 * (SentencePiece over scores in spm.c, byte-level BPE over ranks in bpe.c) pop
 * from: a binary max-heap on (priority, then leftmost). */
#include <stdlib.h>

#include "tokenizer/tok_internal.h"

static bool pair_before(const tok_pair *a, const tok_pair *b) {
    if (a->priority != b->priority) return a->priority > b->priority;
    return a->left < b->left;
}

gh_status tok_heap_push(tok_heap *h, tok_pair p) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        tok_pair *v = realloc(h->v, cap * sizeof *v);
        if (!v) return gh_error(GH_ERR_NOMEM, "tokenizer: out of memory");
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!pair_before(&p, &h->v[up])) break;
        h->v[i] = h->v[up];
        i = up;
    }
    h->v[i] = p;
    return GH_OK;
}

tok_pair tok_heap_pop(tok_heap *h) {
    tok_pair top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && pair_before(&h->v[c + 1], &h->v[c])) c++;
        if (!pair_before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0) h->v[i] = last;
    return top;
}
