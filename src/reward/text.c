/* text.c — the word-level views of a response that rule rewards count over.
 *
 * A "word" is a maximal run of ASCII letters, digits, apostrophes and any
 * non-ASCII bytes (so UTF-8 letters stay inside words), compared ASCII
 * case-insensitively. Rule rewards (lexicon, repetition, distinct, length:words)
 * all read words this way, so their counts agree with each other.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "reward/reward_internal.h"

static bool word_byte(unsigned char c) { return isalnum(c) || c == '\'' || c >= 0x80; }

int64_t gh_words_split(const char *s, gh_word *words, int64_t cap) {
    int64_t n = 0;
    size_t i = 0, len = strlen(s);
    while (i < len) {
        while (i < len && !word_byte((unsigned char)s[i])) i++;
        if (i >= len) break;
        size_t b = i;
        while (i < len && word_byte((unsigned char)s[i])) i++;
        if (words && n < cap) { words[n].ptr = s + b; words[n].len = i - b; }
        n++;
    }
    return n;
}

bool gh_word_eq(const gh_word *a, const gh_word *b) {
    if (a->len != b->len) return false;
    for (size_t i = 0; i < a->len; i++)
        if (tolower((unsigned char)a->ptr[i]) != tolower((unsigned char)b->ptr[i])) return false;
    return true;
}

uint64_t gh_word_hash(const gh_word *w, uint64_t h) {
    /* FNV-1a over the lower-cased bytes, chained so n-grams hash word by word */
    h ^= 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < w->len; i++) {
        h ^= (uint64_t)tolower((unsigned char)w->ptr[i]);
        h *= 0x100000001b3ull;
    }
    h ^= 0xff; /* word separator: ("ab","c") and ("a","bc") differ */
    h *= 0x100000001b3ull;
    return h;
}

/* Counts the word n-grams of `words` [n] and how many distinct ones there are.
 * Distinctness is decided on the words themselves (hashes only bucket them). */
void gh_ngram_stats(const gh_word *words, int64_t n, int32_t order, int64_t *total, int64_t *distinct) {
    *total = 0;
    *distinct = 0;
    if (order < 1 || n < order) return;
    int64_t m = n - order + 1;
    size_t cap = 16;
    while (cap < (size_t)m * 2) cap *= 2;
    int64_t *slot = malloc(cap * sizeof *slot);
    if (!slot) return;
    for (size_t i = 0; i < cap; i++) slot[i] = -1;
    for (int64_t g = 0; g < m; g++) {
        uint64_t h = 0;
        for (int32_t k = 0; k < order; k++) h = gh_word_hash(&words[g + k], h);
        size_t p = (size_t)(h & (cap - 1));
        bool seen = false;
        while (slot[p] >= 0) {
            int64_t o = slot[p];
            bool eq = true;
            for (int32_t k = 0; k < order && eq; k++) eq = gh_word_eq(&words[o + k], &words[g + k]);
            if (eq) { seen = true; break; }
            p = (p + 1) & (cap - 1);
        }
        if (!seen) { slot[p] = g; (*distinct)++; }
        (*total)++;
    }
    free(slot);
}
