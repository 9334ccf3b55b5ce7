/* sampler.h — choosing the next token from a row of logits (internal). */
#ifndef GH_SAMPLER_H
#define GH_SAMPLER_H

#include "base/rng.h"
#include "goodhart/backend.h"

/* Scratch for gh_sample_token: sized for one vocabulary. */
typedef struct gh_sampler_work {
    int32_t n_vocab;
    float *p;                /* [n_vocab] */
    int32_t *idx, *idx2;     /* [n_vocab] */
    uint32_t *key, *key2;    /* [n_vocab] */
} gh_sampler_work;

int gh_sampler_work_init(gh_sampler_work *w, int32_t n_vocab);
void gh_sampler_work_free(gh_sampler_work *w);

/* Picks a token. Filters apply in this order: temperature, top-k, top-p,
 * min-p, epsilon; the survivors are renormalised and one uniform draw from
 * `rng` picks among them in order of decreasing probability (ties: lower id
 * first). temp <= 0 is greedy and draws nothing. */
int32_t gh_sample_token(const float *logits, const gh_sampler_params *sp, gh_rng *rng,
                        gh_sampler_work *w);

/* idx[0..n) = the ids 0..n-1 by decreasing p, ties to the lower id (the
 * order gh_sample_token's filters walk), with w's scratch; p >= 0, and a NaN
 * sorts last. */
void gh_sample_sort_desc(const float *p, int32_t n, int32_t *idx, gh_sampler_work *w);

/* log softmax(logits)[tok], computed in double. */
double gh_logsoftmax_at(const float *logits, int32_t n, int32_t tok);
/* log-sum-exp of the row, in double. */
double gh_logsumexp(const float *logits, int32_t n);
/* The row's top_k tokens with their log-probabilities (logit - lse, where
 * lse = gh_logsumexp of the row), most likely first, ties to the lower id.
 * Slots past the vocabulary hold id -1 and -inf. ids, lp: [top_k]. */
void gh_top_logprobs(const float *logits, int32_t n, double lse, int32_t top_k, int32_t *ids, float *lp);

#endif
