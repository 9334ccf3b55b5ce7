/* goodhart/acts.h — activation extraction: hidden states of a model for every
 * record of a JSON Lines file, streamed into NumPy .npy files that Python
 * opens with np.load, with a JSON sidecar describing what each row is.
 *
 * Records (one JSON object per line, blank lines skipped):
 *   {"text": "..."}                          the span is the text's tokens (BOS excluded)
 *   {"prompt": "...", "response": "..."}     the span is the response's tokens
 *   optional "id" (string or number; default: the line number),
 *   optional "label" (0/1 or false/true; all records or none).
 * Every record of a file must be of the same kind. The field holding the
 * text can be renamed (gh_acts_params.text_field).
 *
 * Pooling: mean and all (one row per token) over the span; answer-token is
 * the last token of the response (prompt+response records only); last is the
 * last token of a text record, and for prompt+response records the last token
 * of the prompt (the state from which the response's first token is
 * predicted, where probes for "what will the model say" read).
 *
 * Output, for the prefix OUT (a trailing ".npy" is dropped):
 *   OUT.npy              float32 [rows][n_embd] when one layer is asked for,
 *   OUT_L<layer>.npy     one such file per layer when several are;
 *   OUT.rows.npy         int64 [rows]: the record index of each row (pool all only);
 *   OUT.labels.npy       uint8 [records] (when the records carry labels);
 *   OUT.json             the sidecar: model path and SHA-256, layers, files,
 *                        pooling, text field, data path and SHA-256, and per
 *                        record its id, line, token count, the pooled span
 *                        [begin, end) of token positions (BOS is position 0),
 *                        its first row, and its label.
 * The file is read twice: once to validate every line (so that a malformed
 * line fails before any model work), once to extract; each record's hidden
 * states are written as soon as they are computed, so memory does not grow
 * with the number of records. Outputs appear only when complete (temporary
 * files renamed at the end); on failure none is left behind.
 */
#ifndef GOODHART_ACTS_H
#define GOODHART_ACTS_H

#include "goodhart/backend.h"
#include "goodhart/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gh_acts_pool {
    GH_ACTS_LAST = 0,
    GH_ACTS_MEAN = 1,
    GH_ACTS_ANSWER = 2, /* answer-token */
    GH_ACTS_ALL = 3,
} gh_acts_pool;

bool gh_acts_pool_from_name(const char *name, gh_acts_pool *out);
const char *gh_acts_pool_name(gh_acts_pool p);

typedef void (*gh_acts_progress_fn)(void *user, const char *stage, int64_t done, int64_t total);

typedef struct gh_acts_params {
    const int32_t *layers;   /* [n_layers], each in 0..n_layer (0: embeddings) */
    int32_t n_layers;
    gh_acts_pool pool;
    const char *text_field;  /* default "text" */
    gh_acts_progress_fn progress;
    void *progress_user;
} gh_acts_params;

gh_acts_params gh_acts_default_params(void);

typedef struct gh_acts_summary {
    int64_t n_records;
    int64_t n_rows;
    int32_t n_embd;
    bool labels;
} gh_acts_summary;

/* Extracts hidden states for every record of data_path into the files named
 * above for prefix `out`. `summary` may be NULL. */
gh_status gh_acts_extract(gh_backend *b, const char *data_path, const char *out, const gh_acts_params *p,
                          gh_acts_summary *summary);

#ifdef __cplusplus
}
#endif
#endif
