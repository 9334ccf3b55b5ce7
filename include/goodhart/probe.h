/* goodhart/probe.h — linear probes on model activations: training (logistic
 * regression, difference of class means, PCA of paired differences, CCS,
 * Bradley–Terry), metrics with bootstrap intervals, cross-validation, the
 * probe file, and the rule that scales a probe penalty against a reward.
 *
 * A probe is linear on one feature vector x [d]:
 *     score(x) = w · ((x - mean) / scale) + b          (a logit)
 * mean/scale are NULL (0 and 1) unless the probe standardises. Methods that
 * learn from contrast pairs (x+, x-) also score a pair (see gh_probe_score).
 *
 * Data is float32, row-major [n][d]; labels are 0/1 bytes. Every method is
 * deterministic for its seed: sums over rows run in blocks of fixed size whose
 * partial sums are added in block order, so results do not depend on the
 * number of threads.
 *
 * The probe file is a small GGUF (general.architecture = "goodhart.probe"):
 *   tensors  probe.weight [d] f32, probe.bias [1] f32 (also key goodhart.probe.bias, f64),
 *            probe.mean [d] / probe.scale [d] f32 (standardisation, optional),
 *            probe.mean_pos / probe.mean_neg [d] f32 (CCS per-side centres, optional)
 *   keys     goodhart.probe.{method, C, layer (i32, -1 unknown), pool ("" unknown),
 *            model_sha256 ("" unknown), data_sha256, metrics (JSON string),
 *            n_features, n_train, scale_pos, scale_neg (CCS)}
 * Loading validates every tensor and key; a probe whose model_sha256 differs
 * from the model it is applied to is refused (GH_ERR_MISMATCH).
 */
#ifndef GOODHART_PROBE_H
#define GOODHART_PROBE_H

#include "goodhart/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gh_probe_method {
    GH_PROBE_LOGREG = 0,    /* L2 logistic regression (scikit-learn's objective) */
    GH_PROBE_MASS_MEAN = 1, /* w = mean(class 1) - mean(class 0), threshold at the midpoint */
    GH_PROBE_PCA = 2,       /* first principal component of centred x+ - x- (LAT) */
    GH_PROBE_CCS = 3,       /* contrast-consistent search (Burns et al. 2022) */
    GH_PROBE_BT = 4,        /* Bradley–Terry on pairs (gh_bt_fit), no bias in the loss */
} gh_probe_method;

const char *gh_probe_method_name(gh_probe_method m);
bool gh_probe_method_from_name(const char *name, gh_probe_method *out);
/* True for the methods that learn from contrast pairs (pca, ccs, bt). */
bool gh_probe_method_pairs(gh_probe_method m);

/* Training or evaluation data. Singles: x [n][d], y [n] (required).
 * Pairs: x is the + side and x_neg the - side, both [n][d], rows aligned;
 * y[k] = 1 says the + side of pair k is the positive one, 0 the - side
 * (y may be NULL: every + side is the positive one). */
typedef struct gh_probe_data {
    const float *x;
    const float *x_neg;  /* NULL for singles */
    const uint8_t *y;
    int64_t n;
    int32_t d;
} gh_probe_data;

typedef struct gh_probe {
    gh_probe_method method;
    int32_t d;
    float *w;            /* [d] */
    double b;
    float *mean;         /* [d] or NULL */
    float *scale;        /* [d] or NULL */
    float *mean_pos;     /* CCS: [d] centres of each side, or NULL */
    float *mean_neg;
    double scale_pos, scale_neg; /* CCS: the scalar scale of each side */
    double C;            /* inverse regularisation (logreg, bt); 0 otherwise */
    int32_t layer;       /* residual stream after this layer; -1 unknown */
    char pool[16];       /* "mean", "last", ...; "" unknown */
    char model_sha256[65];
    char data_sha256[65];
    int64_t n_train;
    char *metrics_json;  /* malloc'd JSON text or NULL */
} gh_probe;

/* An empty probe of d features (w zero, no standardisation). */
gh_status gh_probe_init(gh_probe **out, gh_probe_method method, int32_t d);
void gh_probe_free(gh_probe *p);

typedef struct gh_probe_train_params {
    gh_probe_method method;
    double C;              /* logreg, bt (l2 = 1/C): default 1 */
    bool fit_intercept;    /* logreg: default true */
    bool standardize;      /* logreg: default false */
    double tol;            /* logreg: stop at max|grad| <= tol * max(1, max|grad at 0|); default 1e-8 */
    int32_t max_iter;      /* logreg Newton iterations (default 100) */
    uint64_t seed;         /* pca start vector, ccs restarts (default 0) */
    int32_t ccs_restarts;  /* default 10 */
    int32_t ccs_epochs;    /* full-batch AdamW steps per restart (default 1000) */
    double ccs_lr;         /* default 1e-2 */
    double ccs_weight_decay; /* decoupled, on w only (default 0.01) */
    int32_t n_threads;     /* 0: OpenMP's default */
} gh_probe_train_params;

gh_probe_train_params gh_probe_default_train_params(void);

typedef struct gh_probe_train_stats {
    int32_t iters;        /* Newton / power iterations, CCS epochs of the best restart */
    double loss;          /* final objective (method's own) */
    double grad_norm;     /* logreg: final max-norm of the gradient */
    int32_t best_restart; /* ccs */
    int64_t passes;       /* logreg: reads of the feature matrix (gradients + Hessian products) */
    int64_t half_passes;  /* logreg: how many of those read its float16 copy (half the bytes) */
} gh_probe_train_stats;

/* Trains a probe (input checked: shapes, 0/1 labels, both classes where the
 * method needs them, finite features). stats may be NULL. */
gh_status gh_probe_train(const gh_probe_data *data, const gh_probe_train_params *p, gh_probe **out,
                         gh_probe_train_stats *stats);

/* Logistic regression alone: minimises C·Σ logloss(w·x̃_i + b, y_i) + ½‖w‖²
 * (b unpenalised; b = 0 when !fit_intercept) by Newton-CG with Hessian-vector
 * products; x̃ = (x - mean)/scale when mean/scale are given (else x). w [d]. */
gh_status gh_logreg_fit(const float *x, const uint8_t *y, int64_t n, int32_t d, const double *mean,
                        const double *scale, const gh_probe_train_params *p, double *w, double *b,
                        gh_probe_train_stats *stats);

/* Scores: singles (x_neg NULL) get score(x); pairs get the pair logit:
 *   ccs:     logit(½(p+ + 1 - p-)), p± = σ(w·(x± - mean±)/scale± + b)
 *   others:  score(x+) - score(x-)
 * out [n]. Labels are not read. */
gh_status gh_probe_score(const gh_probe *p, const gh_probe_data *data, double *out);

/* Flips the probe (w, b := -w, -b) if its scores on labelled data rank the
 * negatives higher (AUROC < 0.5); *flipped says whether it did. */
gh_status gh_probe_orient(gh_probe *p, const gh_probe_data *data, bool *flipped);

/* ---- metrics ----
 * Predictions are logits z; p = σ(z); the predicted class is z > 0.
 *   accuracy; AUROC (ties count ½; NaN with one class); log loss (mean of
 *   log(1+e^z) - y z, exact for any z); Brier (mean (p - y)²); ECE: 10
 *   equal-width bins of p ([0,.1), ..., [.9,1]), Σ_k n_k/n |mean y - mean p|. */
double gh_metric_accuracy(const double *z, const uint8_t *y, int64_t n);
double gh_metric_auroc(const double *z, const uint8_t *y, int64_t n);
double gh_metric_log_loss(const double *z, const uint8_t *y, int64_t n);
double gh_metric_brier(const double *z, const uint8_t *y, int64_t n);
double gh_metric_ece(const double *z, const uint8_t *y, int64_t n);

typedef struct gh_metric_ci {
    double value, lo, hi;   /* point estimate and the 95% percentile bootstrap interval */
} gh_metric_ci;

typedef struct gh_probe_metrics {
    int64_t n, n_pos;
    gh_metric_ci accuracy, auroc, log_loss, brier, ece;
} gh_probe_metrics;

/* All metrics with bootstrap intervals: n_boot resamples of the n items with
 * replacement (resample r draws from the random stream (seed, r)), the 2.5th
 * and 97.5th percentiles (linear interpolation) of each metric over resamples
 * where it is defined. n_boot = 0: lo = hi = value. */
gh_status gh_probe_metrics_compute(const double *z, const uint8_t *y, int64_t n, int32_t n_boot,
                                   uint64_t seed, gh_probe_metrics *out);
/* The metrics as one JSON object (malloc'd): {"n":..,"accuracy":[v,lo,hi],...}. */
char *gh_probe_metrics_json(const gh_probe_metrics *m);

/* Stratified k-fold cross-validation: items of each class are shuffled with
 * the seed and dealt to folds in turn; each fold is scored by a probe trained
 * on the others. oof [n] receives the out-of-fold scores (may be NULL). */
gh_status gh_probe_cv(const gh_probe_data *data, const gh_probe_train_params *p, int32_t k,
                      uint64_t seed, double *oof, gh_probe_metrics *out, int32_t n_boot);

/* ---- the probe file ---- */
gh_status gh_probe_save(const gh_probe *p, const char *path);
gh_status gh_probe_load(const char *path, gh_probe **out);
/* GH_ERR_MISMATCH if both hashes are known and differ (message names the probe's
 * file `probe_path` and `model_ref`). */
gh_status gh_probe_check_model(const gh_probe *p, const char *probe_path, const char *model_sha256,
                               const char *model_ref);

/* ---- probe penalties ----
 * The reward R - λ·S: λ chosen so that sd(λ·S) = sd(R) over a calibration set
 * (Papadatos & Freedman). Needs n >= 2, and neither S nor R constant (a
 * constant R would make λ = 0: an error, not a silent "no penalty"). */
gh_status gh_probe_penalty_lambda(const double *R, const double *S, int64_t n, double *lambda);

#ifdef __cplusplus
}
#endif
#endif
