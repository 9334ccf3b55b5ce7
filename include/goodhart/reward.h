/* goodhart/reward.h — rewards: anything that maps (prompt, response) to a number.
 *
 * A reward is a weighted sum of terms, written as a spec string:
 *     TERM[;TERM...]      TERM = [WEIGHT*]KIND[:ARG]
 * e.g. "lexicon:@happy.txt;-2*repetition:3" or "head:proxy.gguf". Kinds:
 *   length[:words|chars|tokens]  response length (default words; tokens needs the
 *                                response's token count or a backend tokenizer)
 *   regex:PATTERN                non-overlapping matches of a PCRE2 pattern (UTF)
 *   lexicon:w1,w2,... | lexicon:@FILE
 *                                occurrences of the listed words, whole words,
 *                                ASCII case-insensitive (FILE: one word per line, # comments)
 *   repetition[:N]               fraction of word N-grams (default 3) that repeat an
 *                                earlier one (0: none repeat); use a negative weight
 *   distinct[:N]                 distinct word N-grams / all word N-grams (default 1)
 *   exact | contains             1 if the response (whitespace-trimmed) equals /
 *                                contains the record's reference, else 0
 *   head:FILE.gguf               a learned linear head on a model's hidden state
 *                                (see gh_head_*; needs a backend with HIDDEN)
 *   rm:MODEL.gguf                a reward model's raw score (a GGUF with a cls.output
 *                                head; gh_backend_score: its chat template or prompt +
 *                                response, the last token); opened on its own, so it
 *                                needs no policy backend
 *   probe:FILE.gguf              a probe's logit (goodhart/probe.h) on the hidden state
 *                                of the probe's layer, mean-pooled over the response's
 *                                tokens; a negative weight makes it a penalty:
 *                                "head:rm.gguf;-0.5*probe:syc.gguf" is R - 0.5·S. The
 *                                hidden states are those of the model the probe was
 *                                trained on (its recorded SHA-256): the model of an
 *                                rm: term of the same reward if one matches
 *                                ("rm:M.gguf;-0.5*probe:P.gguf" penalises with M's own
 *                                states), else the policy backend, which must then
 *                                be that model
 * A ';' inside a regex is written '\;'. The weight defaults to 1.
 *
 * Proxy and gold rewards of an experiment are just two rewards. A reward holds
 * no per-call state, so one reward may score from several threads as long as the
 * backend it uses may.
 */
#ifndef GOODHART_REWARD_H
#define GOODHART_REWARD_H

#include "goodhart/backend.h"
#include "goodhart/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gh_reward gh_reward;

typedef struct gh_reward_input {
    const char *prompt;     /* may be "" */
    const char *response;
    const char *reference;  /* for exact/contains; NULL if none */
    int32_t n_tokens;       /* response tokens if known, else -1 */
} gh_reward_input;

/* Parses a spec. `b` is the backend heads and token lengths are computed with
 * (may be NULL if no term needs one). `name` is a label for reports (NULL: the
 * spec itself). Errors name the term and the problem. */
gh_status gh_reward_parse(const char *spec, const char *name, gh_backend *b, gh_reward **out);
void gh_reward_free(gh_reward *r);
const char *gh_reward_name(const gh_reward *r);
const char *gh_reward_spec(const gh_reward *r);
/* Backend capabilities the reward needs (GH_CAP_HIDDEN for heads, ...). */
uint32_t gh_reward_caps(const gh_reward *r);
/* The terms one at a time: how many, each one's weight, and its unweighted
 * value (gh_reward_score is Σ_i weight_i·value_i, added in term order). */
int32_t gh_reward_n_terms(const gh_reward *r);
double gh_reward_term_weight(const gh_reward *r, int32_t i);
gh_status gh_reward_term_value(gh_reward *r, int32_t i, const gh_reward_input *in, double *v);
/* Scores one response. A term that cannot be computed (no reference for exact,
 * a backend failure) is an error naming the term. */
gh_status gh_reward_score(gh_reward *r, const gh_reward_input *in, double *out);

/* ---- Bradley–Terry linear heads ----
 * Preference pairs (x_chosen, x_rejected) of feature vectors; the head's score
 * is r(x) = w·x and the loss is
 *     L(w) = sum_k log(1 + exp(-w·(x_c,k - x_r,k))) + (l2/2) ||w||^2,
 * i.e. -log sigma(r_chosen - r_rejected), L2-regularised. A bias cancels in the
 * differences, so there is none. Minimised by Newton's method with a backtracking
 * line search (the problem is strictly convex for l2 > 0), deterministic. */
typedef struct gh_bt_params {
    double l2;         /* default 1.0 */
    int32_t max_iter;  /* default 100 */
    double tol;        /* stop when the gradient's max-norm is below tol (default 1e-8) */
} gh_bt_params;

typedef struct gh_bt_stats {
    int32_t iters;
    double loss;           /* final L(w) / n_pairs (without the L2 term) */
    double accuracy;       /* fraction of training pairs ranked right */
    double grad_norm;      /* final max-norm of the gradient */
} gh_bt_stats;

gh_bt_params gh_bt_default_params(void);
/* diff [n][d] = x_chosen - x_rejected (float32, row-major); w [d] receives the head. */
gh_status gh_bt_fit(const float *diff, int64_t n, int32_t d, const gh_bt_params *p, double *w,
                    gh_bt_stats *stats);

/* A head file is a small GGUF: tensor "head.weight" [n_embd] f32 and keys
 *   goodhart.head.kind = "bradley-terry", goodhart.head.layer (u32),
 *   goodhart.head.pool = "mean"|"last", goodhart.head.span = "response"|"text",
 *   goodhart.head.model_sha256 (the GGUF the features came from),
 *   goodhart.head.n_pairs, goodhart.head.l2, goodhart.head.train_accuracy.
 * Applying a head to a different model is GH_ERR_MISMATCH. */
typedef struct gh_head_spec {
    int32_t layer;       /* -1: the last layer */
    gh_pool pool;        /* GH_POOL_MEAN or GH_POOL_LAST */
    bool span_response;  /* pool over the response's tokens only (default) or the whole text */
} gh_head_spec;

gh_head_spec gh_head_default_spec(void);

/* Features of (prompt, response) for a head: the hidden state of spec->layer
 * pooled over the response's tokens. out [n_embd]. */
gh_status gh_head_features(gh_backend *b, const gh_head_spec *spec, const char *prompt,
                           const char *response, float *out);

typedef struct gh_pref_pair {
    const char *prompt;
    const char *chosen;
    const char *rejected;
} gh_pref_pair;

/* Extracts features for every pair, fits a Bradley–Terry head and writes it to
 * `path` (atomically). stats may be NULL. */
gh_status gh_head_train(gh_backend *b, const gh_head_spec *spec, const gh_pref_pair *pairs,
                        int64_t n, const gh_bt_params *p, const char *path, gh_bt_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
