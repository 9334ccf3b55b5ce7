/* goodhart/bon.h — Best-of-N and regularized Best-of-N selection.
 *
 * Two layers:
 *   1. the selection engine: given a pool of N scored candidates for one prompt
 *      (proxy reward, gold reward, log pi_ref, token count, embedding) pick one
 *      by a rule; pure arithmetic, no model;
 *   2. precomputed candidate files (JSON Lines, one prompt per line) so that
 *      samples from any other system can be selected and analysed.
 * The experiment that draws the samples and writes the report is gh_bon_run
 * (bottom of this file).
 *
 * Rules (x the prompt, Y the candidates considered, R the chosen reward):
 *   bon           argmax R
 *   rbon-kl       argmax R + beta * log pi_ref(y|x)          (summed token log-probs)
 *   rbon-kl-norm  argmax R + beta * log pi_ref(y|x) / |y|    (length-normalised variant)
 *   rbon-wd       argmax R - beta * (1/|Y|) sum_{y' in Y} C(y,y'),  C = 1 - cos(e_y, e_y')
 *   srbon-kl      sample from p_i ∝ pi_ref(y_i|x) exp(R_i / beta) over Y
 *   srbon-wd      sample from argmax_p sum_i p_i R_i - beta * W1(p, uniform(Y)) with cost C
 *   length        argmax R - beta / |y|                        (|y| in tokens)
 *   mbr           argmax -(1/|Y|) sum_{y'} C(y,y')             (similarity only; R unused)
 *   random        uniform pick (from the seed)
 *   oracle        argmax gold                                  (an upper bound)
 *
 * Ties: every argmax rule keeps the lowest position in the subset among exactly
 * equal objective values, so picks are deterministic. Stochastic rules draw one
 * uniform number from the caller's seed (stream = the caller's unit of work).
 */
#ifndef GOODHART_BON_H
#define GOODHART_BON_H

#include "goodhart/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gh_bon_rule {
    GH_BON_BON = 0,
    GH_BON_RBON_KL,
    GH_BON_RBON_KL_NORM,
    GH_BON_RBON_WD,
    GH_BON_SRBON_KL,
    GH_BON_SRBON_WD,
    GH_BON_LENGTH,
    GH_BON_MBR,
    GH_BON_RANDOM,
    GH_BON_ORACLE,
    GH_BON_N_RULES,
} gh_bon_rule;

const char *gh_bon_rule_name(gh_bon_rule r);          /* "rbon-kl", ... */
bool gh_bon_rule_from_name(const char *name, gh_bon_rule *out);
/* What a rule reads from the pool. */
bool gh_bon_rule_needs_reward(gh_bon_rule r);         /* all but mbr, random, oracle */
bool gh_bon_rule_needs_gold(gh_bon_rule r);           /* oracle */
bool gh_bon_rule_needs_logprob(gh_bon_rule r);
bool gh_bon_rule_needs_embedding(gh_bon_rule r);      /* rbon-wd, srbon-wd, mbr */
bool gh_bon_rule_needs_tokens(gh_bon_rule r);         /* length, rbon-kl-norm */
bool gh_bon_rule_is_stochastic(gh_bon_rule r);        /* srbon-*, random */
bool gh_bon_rule_uses_beta(gh_bon_rule r);

/* One prompt's candidates. Arrays are owned by the caller; optional ones may be
 * NULL when no rule that needs them is used. */
typedef struct gh_bon_pool {
    int32_t n;                 /* candidates */
    const double *reward;      /* [n] R: the reward the rules optimise (the proxy) */
    const double *gold;        /* [n] gold reward (oracle); may be NULL */
    const double *logprob;     /* [n] log pi_ref(y|x), summed over tokens; may be NULL */
    const int32_t *n_tokens;   /* [n] |y| in tokens; may be NULL */
    const double *cost;        /* [n*n] C(y_i, y_j) row-major; may be NULL (see below) */
} gh_bon_pool;

/* C = 1 - cosine similarity, from embeddings emb [n][dim] (need not be normalised;
 * a zero vector has similarity 0 with everything). Writes cost [n*n]. */
gh_status gh_bon_cost_cosine(const float *emb, int32_t n, int32_t dim, double *cost);

typedef struct gh_bon_pick {
    int32_t index;          /* pick, as an index into the pool */
    double objective;       /* the rule's value at the pick (NAN for random/srbon) */
    double reward;          /* R of the pick */
    double gold;            /* gold of the pick (NAN if no gold) */
    /* stochastic rules: the selection distribution and its expectations */
    double expected_reward; /* sum_i p_i R_i (deterministic rules: = reward) */
    double expected_gold;   /* sum_i p_i gold_i (NAN if no gold) */
} gh_bon_pick;

/* Selects among the subset `idx` [m] of the pool's candidates (m >= 1; indices
 * distinct and in range). `u` is a uniform number in [0,1) used by the
 * stochastic rules (ignored by the others). `prob` [m] (may be NULL) receives
 * the selection distribution over the subset (one-hot for deterministic rules).
 * Errors (GH_ERR_INVALID_ARG) name the missing field, a NaN/inf value and its
 * candidate index, or a bad beta (beta must be finite and >= 0; srbon-kl needs
 * beta > 0 — beta = 0 there is the limit BoN, handled as such). */
gh_status gh_bon_select(const gh_bon_pool *pool, const int32_t *idx, int32_t m, gh_bon_rule rule,
                        double beta, double u, gh_bon_pick *pick, double *prob);

/* ---- precomputed candidates (JSON Lines) ----
 * One object per line and prompt:
 *   {"id": ..., "prompt": ..., "candidates": [{"text": ..., "scores": {"proxy": 1.2,
 *    "gold": 0.3, ...}, "logprob_ref": -12.5, "n_tokens": 17, "embedding": [...]}, ...]}
 * Fields a rule does not need may be absent; gh_bon_file_check reports any that
 * a rule needs and a record lacks. `id` may be a string or a number (kept as text).
 */
typedef struct gh_bon_record {
    char *id;
    char *prompt;
    int32_t n;                /* candidates */
    char **text;              /* [n] (NULL where absent) */
    int32_t n_scores;         /* score names, the union over candidates in order of appearance */
    char **score_names;       /* [n_scores] */
    double *scores;           /* [n][n_scores]; NAN where a candidate lacks that score */
    double *logprob;          /* [n]; NAN where absent */
    int32_t *n_tokens;        /* [n]; -1 where absent */
    int32_t dim;              /* embedding size (0: none) */
    float *embedding;         /* [n][dim], or NULL */
    int64_t line;             /* 1-based line in the file */
    bool id_number;           /* id was a JSON number (write it back as one) */
} gh_bon_record;

typedef struct gh_bon_file gh_bon_file;

/* Reads the whole file. Malformed JSON, a non-object line, an empty candidate
 * list, a non-string text with invalid UTF-8, a NaN/non-number score, embeddings
 * of different lengths: an error naming the file, the line, the record id and the
 * field. Blank lines are skipped. */
gh_status gh_bon_file_read(const char *path, gh_bon_file **out);
void gh_bon_file_free(gh_bon_file *f);
int64_t gh_bon_file_count(const gh_bon_file *f);
const gh_bon_record *gh_bon_file_record(const gh_bon_file *f, int64_t i);
/* Index of a score name in a record, or -1. */
int32_t gh_bon_record_score(const gh_bon_record *r, const char *name);
/* Checks that every record has what `rule` reads: the score `reward` (the R the
 * rule optimises), the score `gold` (oracle), logprob_ref, n_tokens, embeddings,
 * for every candidate. The error names the file, line, record id, candidate and
 * field. Values themselves were validated by gh_bon_file_read. */
gh_status gh_bon_file_check(const gh_bon_file *f, gh_bon_rule rule, const char *reward, const char *gold);

#ifdef __cplusplus
}
#endif
#endif
