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

#include "goodhart/backend.h"
#include "goodhart/common.h"
#include "goodhart/reward.h"

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


/* ---- the experiment ------------------------------------------------------
 * A run directory holds:
 *   run.sqlite        the run store: one entry per finished prompt (resume)
 *   pool.jsonl        every prompt's candidates in the precomputed format above
 *                     (with embeddings), so `bon select` and `bon run --in` read it
 *   candidates.jsonl  one line per prompt and candidate: id, index, text,
 *                     n_tokens, logprob_ref, finish, every score
 *   curves.csv        rule, beta, n, split -> mean proxy and gold of the pick, CIs
 *   summary.csv       per rule: beta tuned on dev, test gold and proxy at n = N
 *   report.html       the report (Goodhart curves, proxy vs gold, beta sweep)
 */

typedef struct gh_bon_prompt {
    const char *id;
    const char *prompt;
    const char *reference; /* for exact/contains rewards; may be NULL */
} gh_bon_prompt;

/* Reads prompts from JSON Lines: {"id": ..., "prompt": ..., "reference": ...}
 * per line (id: string or number, default the line number; reference optional).
 * Errors name the file, line and field. Free with gh_bon_prompts_free. */
gh_status gh_bon_prompts_read(const char *path, gh_bon_prompt **out, int64_t *n);
void gh_bon_prompts_free(gh_bon_prompt *p, int64_t n);

typedef void (*gh_bon_progress_fn)(void *user, const char *stage, int64_t done, int64_t total);

typedef struct gh_bon_sample_params {
    int32_t n;                  /* N samples per prompt (default 32) */
    gh_sampler_params sampler;  /* seed, temperature, max_tokens, ... (sampler.seed is the run's seed) */
    int32_t embed_layer;        /* layer of the mean-pooled embedding (-1: last) */
    gh_backend *embedder;       /* NULL: embeddings are the policy's hidden states (embed_layer);
                                   else an embedding model's (gh_backend_embed of the response,
                                   its own pooling, L2-normalised): the cost of rbon-wd/srbon-wd/mbr */
    bool force;                 /* reuse a run directory whose settings differ (its store is wiped) */
    gh_bon_progress_fn progress;
    void *progress_user;
} gh_bon_sample_params;

gh_bon_sample_params gh_bon_sample_default_params(void);

/* Draws N samples for every prompt from the backend, scores them with `proxy`
 * (recorded as score "proxy") and `gold` (score "gold"; may be NULL), computes
 * log pi_ref (gh_backend_logprob of the text after the prompt: the same number
 * `goodhart logprob` prints as total) and the embedding (mean over the
 * response's tokens of the hidden state after embed_layer), and stores each
 * finished prompt in out_dir/run.sqlite. Prompts already stored (same settings)
 * are not redone; *n_resumed (may be NULL) says how many. Ends by writing
 * out_dir/pool.jsonl. Sample i of a prompt is drawn from the stream
 * (seed of the prompt, i), the prompt's seed being derived from the run's seed
 * and the prompt's id, so a prompt's samples do not depend on the others. */
gh_status gh_bon_sample(gh_backend *b, const gh_bon_prompt *prompts, int64_t n_prompts,
                        gh_reward *proxy, gh_reward *gold, const char *out_dir,
                        const gh_bon_sample_params *p, int64_t *n_resumed);

typedef struct gh_bon_analysis_params {
    const char *reward;       /* score name of the proxy R (default "proxy") */
    const char *gold;         /* score name of the gold reward (default "gold") */
    const double *betas;      /* the beta grid (NULL: the default, 0 and 1e-3 .. 100) */
    int32_t n_betas;
    int32_t n_orders;         /* random orderings of each pool for the n-curves (default 16) */
    uint64_t seed;            /* orderings, the dev/test split and stochastic picks */
    double dev_fraction;      /* prompts used to tune beta (default 0.5) */
    const char *title;        /* report title */
    const char *intro;        /* paragraphs put first in the report (NULL: none) */
    const char *settings;     /* preformatted settings shown at the end (NULL: none) */
    gh_bon_progress_fn progress;
    void *progress_user;
} gh_bon_analysis_params;

gh_bon_analysis_params gh_bon_analysis_default_params(void);

typedef struct gh_bon_rule_result {
    gh_bon_rule rule;
    double beta;              /* tuned on dev (0 for rules without beta) */
    double dev_gold;          /* mean gold of the pick at n = N on dev */
    double test_gold, test_gold_ci;     /* on test, with a 95% half-width */
    double test_reward, test_reward_ci;
    double test_expected_gold;          /* stochastic rules: mean expected gold */
    double test_gold_vs_bon, test_gold_vs_bon_ci; /* paired difference in gold with bon, per prompt */
} gh_bon_rule_result;

typedef struct gh_bon_summary {
    int32_t n_rules;
    gh_bon_rule_result rules[GH_BON_N_RULES];
    int32_t n_max;            /* N of the curves */
    int64_t n_prompts, n_dev, n_test, n_candidates;
    double spearman;          /* rank correlation of proxy and gold over all candidates */
    double gold_n1;           /* mean gold of one sample (n = 1, test) */
} gh_bon_summary;

/* Selects by every rule the file supports (rules whose fields are missing are
 * skipped and listed in the report), for every beta of the grid and every
 * n = 1, 2, 4, ..., N over nested subsets (averaged over n_orders random
 * orderings), tunes beta on the dev split and writes candidates.jsonl,
 * curves.csv, summary.csv and report.html into out_dir. */
gh_status gh_bon_analyse(const gh_bon_file *f, const char *out_dir, const gh_bon_analysis_params *p,
                         gh_bon_summary *out);

#ifdef __cplusplus
}
#endif
#endif
