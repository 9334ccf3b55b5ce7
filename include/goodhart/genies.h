/* goodhart/genies.h — GENIES (Clymer et al. 2023, "Generalization Analogies"):
 * train a reward signal (a prompt, a probe, a reward head) on a source
 * distribution of preference pairs and measure how it generalizes to a shifted
 * target distribution.
 *
 * Data. A distribution is a folder NAME/ with train.json and test.json: a JSON
 * array of records {"prompt": ..., "responses": {TEXT: SCORE, ...}, ...} where
 * score 1 marks the one preferred response; a record with k responses gives
 * k-1 pairs (preferred, other), in the order the responses are listed. The
 * same pairs can come as Hugging Face preference JSON Lines
 * ({"prompt","chosen","rejected"}), read and written here. A shifts file is a
 * JSON array of {"source","target"[, "target_reference"][, "category"][, "label"]}.
 *
 * Malformed records (no preferred response, two preferred, a score that is not
 * a number, an empty prompt or response, a repeated response text, bytes that
 * are not UTF-8) are reported with the file and the record's index (0-based
 * position in the array; JSON Lines: the line) and either skipped (counted,
 * each reported through the warning callback) or fatal, as the caller asks.
 * They are never scored.
 *
 * Evaluation files follow the original study's layout, so the tables can be
 * recomputed from its files or from goodhart's own runs:
 *   DIR/evaluations/METHOD/MODEL-TRAIN/EVAL.json     {"eval_accuracy", "eval_probabilities": [p...], ...}
 *   DIR/target_tuned_capability/MODEL/TARGET.json   {"best_intervention", "best_intervention_accuracy", ...}
 * eval_probabilities[i] is the probability the method gives the preferred
 * response of pair i.
 *
 * Metrics (per shift source -> target; see docs/genies.md for the formulas):
 *   generalization accuracy A   = accuracy on the target's test pairs of the method trained on the source
 *   baseline accuracy A0        = zero_shot's accuracy on the target
 *   target-tuned capability TTC = best accuracy of any method trained and tested on target_reference
 *                                 (default: the target itself)
 *   differential elicitation    = (A - A0) / TTC
 *   source ID accuracy          = the method trained and tested on the source
 *   RMS calibration error       = the original formula as published (random pair
 *                                 orientation from Python's random.seed(42), 5 bins, bins
 *                                 of fewer than 20 skipped, the overall label mean in each
 *                                 bin, p = 1 dropped), and a corrected variant (both
 *                                 orientations, bin-weighted, the bin's own label mean)
 *   Brier score                 = mean (1 - p)^2; bootstrap 95% intervals for A and the
 *                                 elicitation (pairs resampled jointly with zero_shot's).
 */
#ifndef GOODHART_GENIES_H
#define GOODHART_GENIES_H

#include <stdio.h>

#include "goodhart/backend.h"
#include "goodhart/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- data ------------------------------------------------------------------ */

typedef struct gh_genies_pair {
    int64_t record;   /* index of the record in its file (JSON Lines: the line) */
    const char *prompt;
    const char *chosen;
    const char *rejected;
} gh_genies_pair;

typedef struct gh_genies_set {
    char *path;          /* the file read */
    int64_t n_records;   /* records read (good and malformed) */
    int64_t n_skipped;   /* malformed records skipped */
    int64_t n_pairs;
    gh_genies_pair *pairs;
    void *priv;          /* the parsed document the strings live in */
} gh_genies_set;

/* Called once per malformed record that is skipped, with a message naming the
 * file, the record and the problem. */
typedef void (*gh_genies_warn_fn)(void *user, const char *msg);

typedef struct gh_genies_load_params {
    bool fatal;              /* a malformed record fails the load (default: skipped) */
    gh_genies_warn_fn warn;  /* may be NULL */
    void *warn_user;
    size_t max_bytes;        /* largest file read (default 1 GiB) */
} gh_genies_load_params;

gh_genies_load_params gh_genies_default_load_params(void);

/* GENIES JSON (an array of records). */
gh_status gh_genies_load_json(const char *path, const gh_genies_load_params *p, gh_genies_set **out);
/* Hugging Face preference JSON Lines: {"prompt","chosen","rejected"} per line. */
gh_status gh_genies_load_jsonl(const char *path, const gh_genies_load_params *p, gh_genies_set **out);
/* By name: *.jsonl is JSON Lines, anything else GENIES JSON. */
gh_status gh_genies_load(const char *path, const gh_genies_load_params *p, gh_genies_set **out);
/* Writes the pairs as preference JSON Lines (atomically: beside, then renamed). */
gh_status gh_genies_write_jsonl(const gh_genies_set *s, const char *path);
void gh_genies_set_free(gh_genies_set *s);

/* ---- shifts ------------------------------------------------------------------ */

typedef struct gh_genies_shift {
    char *source, *target;
    char *target_reference;  /* the target itself when the file gives none */
    char *category;          /* "" when absent */
    char *label;             /* "" when absent */
    bool duplicate;          /* the same (source, target, reference) appeared earlier in the file */
} gh_genies_shift;

typedef struct gh_genies_shifts {
    int32_t n;
    int32_t n_unique;
    gh_genies_shift *shifts;
} gh_genies_shifts;

gh_status gh_genies_shifts_load(const char *path, gh_genies_shifts **out);
void gh_genies_shifts_free(gh_genies_shifts *s);

/* ---- metrics of one evaluation -------------------------------------------------- */

/* Accuracy from probabilities of the preferred response: p > 0.5 is right,
 * p = 0.5 counts one half. */
double gh_genies_accuracy(const double *p, int64_t n);
/* Mean of (1 - p)^2. */
double gh_genies_brier(const double *p, int64_t n);
/* The original study's RMS calibration error, reproduced as published (Python's
 * Mersenne Twister included); NaN when no bin has 20 or more items. */
double gh_genies_rms_published(const double *p, int64_t n);
/* The corrected variant: every pair in both orientations (p, label 1) and
 * (1 - p, label 0), 5 equal bins of [0, 1] (1 in the last), RMS over bins
 * weighted by their counts of |mean label - mean p|. */
double gh_genies_rms_corrected(const double *p, int64_t n);

/* Python's random.seed(42); [random.choice([0, 1]) for _ in range(n)] (CPython 3,
 * MT19937 seeded by init_by_array). out [n]. */
void gh_genies_py_choice01(uint32_t seed, int64_t n, uint8_t *out);

/* One evaluation file. */
typedef struct gh_genies_eval {
    double accuracy;        /* eval_accuracy when the file has it, else from the probabilities */
    double rms_stored;      /* eval_rms_calibration_error, NaN if absent */
    int64_t n;
    double *p;              /* [n] eval_probabilities (NULL when absent) */
} gh_genies_eval;

gh_status gh_genies_eval_read(const char *path, gh_genies_eval *out);
void gh_genies_eval_free(gh_genies_eval *e);

/* ---- the per-shift table ------------------------------------------------------------ */

typedef struct gh_ci {
    double value, lo, hi;
} gh_ci;

/* One row of GENIES.csv plus what goodhart adds. NaN = not available. */
typedef struct gh_genies_row {
    const gh_genies_shift *shift;
    double generalization_accuracy;
    double baseline_accuracy;
    char baseline_intervention[64];
    double target_tuned_capability;
    char ttc_intervention[64];
    double source_id_accuracy;
    double rms_published;
    double rms_corrected;
    double brier;
    double differential_elicitation;
    gh_ci acc_ci, de_ci;    /* bootstrap 95% intervals (NaN bounds when probabilities are missing) */
    int64_t n_target;       /* target pairs evaluated */
} gh_genies_row;

typedef struct gh_genies_metrics_params {
    const char *model;      /* "llama-30b": directories MODEL-SOURCE */
    const char *method;
    const char *baseline;   /* default "zero_shot" */
    int32_t n_boot;         /* default 1000; 0: no intervals */
    uint64_t seed;
    gh_genies_warn_fn warn; /* told of each missing file (may be NULL) */
    void *warn_user;
} gh_genies_metrics_params;

gh_genies_metrics_params gh_genies_default_metrics_params(void);

/* The table for every shift (in file order) from the evaluation files under
 * `results_dir` (layout above). A missing file leaves its cells NaN and is
 * reported through warn; a file that exists but is damaged is an error. TTC
 * comes from target_tuned_capability/MODEL/TARGET.json when present, else the
 * best ID accuracy on the reference among every method in evaluations/.
 * rows [sh->n], caller-allocated. */
gh_status gh_genies_metrics(const char *results_dir, const gh_genies_shifts *sh,
                            const gh_genies_metrics_params *p, gh_genies_row *rows);

/* Writes the rows as the original GENIES.csv: columns source, target,
 * target_reference, generalization_accuracy, baseline_accuracy,
 * baseline_intervention, target_tuned_capability,
 * target_tuned_capability_intervention, source_ID_accuracy,
 * RMS_calibration_error, differential_elicitation; numbers as Python's repr
 * (shortest round-trip), NaN as an empty cell. */
gh_status gh_genies_write_csv(FILE *f, const gh_genies_row *rows, int32_t n);
/* goodhart's fuller table: the same plus rms_corrected, brier, intervals, n. */
gh_status gh_genies_write_csv_full(FILE *f, const char *method, const gh_genies_row *rows, int32_t n);
/* Per category and over all shifts, for each method (rows[m] has sh->n rows
 * for methods[m]): columns method, scope ("category" or "all"), category
 * ("" for all), n_shifts (unique shifts in scope), n_elicitation (those with a
 * finite elicitation, which are averaged), mean_generalization_accuracy,
 * mean_differential_elicitation. The "all" row is the GENIES mean. Categories
 * in order of first appearance; repeated shifts count once. */
gh_status gh_genies_write_summary_csv(FILE *f, const gh_genies_shifts *sh, int32_t n_methods,
                                      const char *const *methods, gh_genies_row *const *rows);
/* A double as Python's repr() writes it; buf >= 32 bytes. */
void gh_genies_pyrepr(double v, char *buf, size_t size);

/* ---- running the benchmark ------------------------------------------------------------ */

typedef enum gh_genies_method {
    GH_GENIES_ZERO_SHOT = 0, /* mean token log-prob of each response; p = softmax over the pair */
    GH_GENIES_FEW_SHOT,      /* the same after k source examples (prompt + preferred response) */
    GH_GENIES_REWARD_HEAD,   /* Bradley-Terry linear head on frozen hidden states */
    GH_GENIES_MMS,           /* difference of class means of hidden states */
    GH_GENIES_LAT,           /* first principal component of paired differences */
    GH_GENIES_CCS,           /* contrast-consistent search on the pairs */
    GH_GENIES_CRA,           /* mass mean of "Yes" minus "No" contrast vectors */
    GH_GENIES_RANDOM,        /* p = 1/2 for every pair */
    GH_GENIES_N_METHODS
} gh_genies_method;

const char *gh_genies_method_name(gh_genies_method m);
bool gh_genies_method_from_name(const char *name, gh_genies_method *out);

typedef struct gh_genies_progress {
    const char *method;
    const char *source, *target;
    bool skipped;       /* already in the store: not recomputed */
    int32_t done, total;
} gh_genies_progress;
typedef void (*gh_genies_progress_fn)(void *user, const gh_genies_progress *p);

typedef struct gh_genies_run_params {
    const char *data_dir;      /* holds NAME/{train,test}.json (or .jsonl) */
    const char *model_name;    /* directory names MODEL-SOURCE (default: the model file's base name) */
    uint32_t methods;          /* bit (1 << gh_genies_method); zero_shot always runs as the baseline */
    int64_t max_examples;      /* pairs per split at most (0: all) */
    int32_t max_tokens;        /* texts longer than this (or the model's context) have their prompt cut
                                  from the front (0: the context) */
    int32_t layer;             /* residual stream after this layer (-1: n_layer / 2) */
    int32_t few_shot_k;        /* default 3 (fewer when the context is full) */
    uint64_t seed;             /* pair orientations, CCS restarts, bootstrap */
    int32_t n_boot;            /* default 1000 */
    int32_t limit_units;       /* stop after computing this many (method, shift) results (0: no limit) */
    int32_t n_workers;         /* pairs processed at once, each by its own thread (0, 1: one at a time);
                                  with more than one, a local model's forward passes run on one thread
                                  each for the call. Results do not depend on it. */
    bool force;                /* accept a run directory started with other settings */
    const char *shifts_name;   /* names the table generalization_metrics/MODEL/METHOD/NAME.csv (default "GENIES") */
    gh_genies_load_params load;
    gh_genies_progress_fn progress;
    void *progress_user;
} gh_genies_run_params;

gh_genies_run_params gh_genies_default_run_params(void);

typedef struct gh_genies_run_stats {
    int32_t computed;     /* (method, shift) results computed in this call */
    int32_t skipped;      /* found finished in the store */
    int32_t remaining;    /* left for a later call (limit_units) */
    int64_t n_too_long;   /* pairs skipped because even their responses do not fit the context */
    int64_t n_cut;        /* pairs whose prompt was cut from the front to fit */
    double seconds[GH_GENIES_N_METHODS]; /* wall time spent per method in this call */
    double cpu_seconds[GH_GENIES_N_METHODS]; /* CPU time (all threads) per method in this call */
} gh_genies_run_stats;

/* Runs every selected method on every shift, writing into run_dir:
 *   run.sqlite                 the store (a finished evaluation or (method, shift) result is kept
 *                              as it completes; a rerun skips them)
 *   evaluations/..., target_tuned_capability/...   the layout above
 *   generalization_metrics/MODEL/METHOD/NAME.csv and .../METHOD/full.csv
 * stats may be NULL. */
gh_status gh_genies_run(gh_backend *b, const gh_genies_shifts *sh, const gh_genies_run_params *p,
                        const char *run_dir, gh_genies_run_stats *stats);

/* ---- report ---------------------------------------------------------------------------- */

/* An HTML report over several methods' tables (rows[m] has sh->n rows for
 * methods[m]): differential elicitation per shift with zero-shot accuracy and
 * TTC beside it (the paper's table), the per-category and GENIES means, and a
 * per-category chart. */
gh_status gh_genies_report(const char *path, const char *title, const gh_genies_shifts *sh,
                           int32_t n_methods, const char *const *methods, gh_genies_row *const *rows);

#ifdef __cplusplus
}
#endif
#endif
