/* model_internal.h — what the model files share (internal): the weight view
 * the kernels multiply with, the loaders that check a tensor's name, shape and
 * type against the GGUF file, and the BERT encoder's entry points (bert.c),
 * which llama.c's gh_model_load dispatches to for architecture "bert". */
#ifndef GH_MODEL_INTERNAL_H
#define GH_MODEL_INTERNAL_H

#include "goodhart/model.h"

/* A matrix of n_out rows of n_in elements (GGUF ne = [n_in, n_out]). */
typedef struct gh_weight {
    gh_type type;
    const void *data;
    int64_t n_in, n_out;
    size_t row_bytes;
} gh_weight;

/* Bytes of keys and values this context has copied from one sequence's
 * slab to another's (gh_ctx_seq_copy shares instead of copying; see
 * unshare_from in llama.c): for tests. */
uint64_t gh_ctx_kv_copied(const gh_ctx *c);

/* Finds tensor `name` with ne = [n_in, n_out] of a type the kernels multiply
 * with; a missing optional tensor leaves *w zeroed (w->data NULL). */
gh_status gh_model_weight(gh_model *m, const char *name, int64_t n_in, int64_t n_out, bool required,
                          gh_weight *w);
/* A vector of n floats (norms, biases); other float types are converted once
 * (the model owns the copy). A missing optional one gives NULL. */
gh_status gh_model_vec(gh_model *m, const char *name, int64_t n, bool required, const float **out);
const gh_gguf *gh_model_file(const gh_model *m);

/* Whether gh_model_load reads a file of file_bytes into memory (rather than
 * mapping it) when mem_available bytes (/proc/meminfo's MemAvailable; 0 if
 * unknown) are free: only with room to spare (512 MiB), since a copy that
 * does not fit is killed by the OOM killer where a mapping would page. */
bool gh_model_copy_fits(uint64_t file_bytes, uint64_t mem_available);

/* ---- bert.c ---- */
typedef struct gh_bert gh_bert;
/* Loads the encoder's weights; info's shape fields are already filled from
 * the bert.* keys; sets info->norm_eps from bert.attention.layer_norm_epsilon. */
gh_status gh_bert_load(gh_model *m, gh_model_info *info, gh_bert **out);
void gh_bert_free(gh_bert *b);
gh_status gh_bert_encode(const gh_bert *b, const gh_model_info *info, int32_t n_threads,
                         const int32_t *tokens, const int32_t *types, int32_t n, float *out);
/* Weight bytes one forward pass reads (for info.step_bytes). */
uint64_t gh_bert_step_bytes(const gh_bert *b, const gh_model_info *info);

#endif
