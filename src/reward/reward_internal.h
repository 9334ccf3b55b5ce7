/* reward_internal.h — what the reward files share: word splitting and n-gram
 * counting (text.c) for the rule terms in reward.c. */
#ifndef GH_REWARD_INTERNAL_H
#define GH_REWARD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "goodhart/reward.h"

typedef struct gh_word {
    const char *ptr;
    size_t len;
} gh_word;

/* Splits s into words; writes at most cap of them (words may be NULL to count);
 * returns how many there are. */
int64_t gh_words_split(const char *s, gh_word *words, int64_t cap);
bool gh_word_eq(const gh_word *a, const gh_word *b);
uint64_t gh_word_hash(const gh_word *w, uint64_t h);
void gh_ngram_stats(const gh_word *words, int64_t n, int32_t order, int64_t *total, int64_t *distinct);



/* A loaded head (head.c). */
typedef struct gh_head gh_head;
gh_status gh_head_load(const char *path, gh_backend *b, gh_head **out);
void gh_head_free(gh_head *h);
gh_status gh_head_score(gh_head *h, gh_backend *b, const char *prompt, const char *response, double *out);
#endif
