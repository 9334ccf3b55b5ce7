/* goodhart/model.h — the local transformer runtime: load a GGUF model of the
 * Llama family (architectures llama, mistral, qwen2), and run batches of tokens
 * from several sequences through it with a KV cache; or a BERT encoder
 * (architecture bert, src/model/bert.c) for sentence embeddings, run with
 * gh_model_encode. A decoder may carry a classifier head (reward models: the
 * tensor cls.output.weight on the final-normed hidden state of the last token).
 *
 * Two handles: a gh_model (the weights, mapped read-only from the GGUF file;
 * shareable) and a gh_ctx (a KV cache for up to n_seq sequences plus the
 * activation buffers of one forward pass; one per thread of use).
 *
 * One decode call takes any mix of tokens from any sequences: a prompt of 300
 * tokens for sequence 0, or one token for each of 16 sequences (batched
 * decoding: every weight matrix is read once for all of them). Each token goes
 * at the next position of its sequence. Results do not depend on how tokens are
 * batched or on the thread count: every number is computed in a fixed order.
 */
#ifndef GOODHART_MODEL_H
#define GOODHART_MODEL_H

#include "goodhart/common.h"
#include "goodhart/gguf.h"
#include "goodhart/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gh_model gh_model;
typedef struct gh_ctx gh_ctx;

typedef struct gh_model_params {
    int32_t n_threads; /* default: number of online CPUs */
    /* Map the file in place (fast to open, pages shared with other
     * processes) instead of reading it into private memory with huge pages,
     * which decodes up to ~20 % faster (gh_gguf_open_copy) and lets the
     * loader regroup Q4_0/Q8_0/F16 matrices for the kernels (info's
     * n_regrouped; the same bits). Default false;
     * worth setting for a look at the metadata or the tokenizer only. A file
     * that would not fit in the available memory with 512 MiB to spare is
     * mapped anyway. */
    bool use_mmap;
} gh_model_params;

gh_model_params gh_model_default_params(void);

/* Loads `path`; errors name the file and the key or tensor at fault. */
gh_status gh_model_load(const char *path, const gh_model_params *p, gh_model **out);
void gh_model_free(gh_model *m);

typedef struct gh_model_info {
    const char *arch;       /* "llama", "mistral", "qwen2" */
    const char *name;       /* general.name or "" */
    int32_t n_vocab;
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_ff;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;
    int32_t n_rot;          /* rotated dimensions per head (rope.dimension_count) */
    float rope_base;
    float norm_eps;
    bool rope_neox;         /* NeoX layout (pairs i, i+d/2) instead of interleaved (2i, 2i+1) */
    bool tied_output;       /* the output projection reuses token_embd */
    bool attn_bias;         /* q/k/v biases (qwen2) */
    gh_type wtype;          /* type of most of the weight bytes */
    int64_t n_params;
    uint64_t weight_bytes;  /* bytes of all tensors */
    uint64_t step_bytes;    /* weight bytes read per decode step (excludes the embedding table, unless tied) */
    uint64_t step_macs;     /* multiply-adds per token in the matrix products (decoders; 0 for encoders) */
    char sha256[65];        /* of the GGUF file, hex; "" until gh_model_sha256 is called */
    /* added for embedding and reward models: */
    bool encoder;           /* arch "bert": bidirectional, no KV cache; use gh_model_encode */
    int32_t pooling;        /* {arch}.pooling_type as llama.cpp numbers it (GH_POOLING_*; -1: not stated) */
    int32_t n_cls_out;      /* outputs of the classifier head cls.output.weight (0: none) */
    bool lm_head;           /* logits mean something: output.weight, or token_embd tied by design
                               (false for a classifier model stored without an LM head) */
    bool mapped;            /* weights mapped from the file (use_mmap, or too big to copy) */
    int32_t n_regrouped;    /* matrices rearranged in memory for the kernels (a copied model:
                               Q4_0/Q8_0 on a CPU with AMX, F16 with AVX-512): their tensor
                               data, as gh_model_gguf shows it, no longer has GGUF's row order */
} gh_model_info;

/* llama.cpp's pooling types ({arch}.pooling_type). */
enum {
    GH_POOLING_UNSPECIFIED = -1,
    GH_POOLING_NONE = 0,
    GH_POOLING_MEAN = 1,
    GH_POOLING_CLS = 2,
    GH_POOLING_LAST = 3,
    GH_POOLING_RANK = 4,
};
const char *gh_pooling_name(int32_t pooling); /* "mean", "cls", "last", ... or "unspecified" */

const gh_model_info *gh_model_get_info(const gh_model *m);
const gh_tokenizer *gh_model_tokenizer(const gh_model *m);
const gh_gguf *gh_model_gguf(const gh_model *m);
int32_t gh_model_n_threads(const gh_model *m);
void gh_model_set_n_threads(gh_model *m, int32_t n_threads);
/* Hashes the model file once (cached) and returns the hex digest. */
const char *gh_model_sha256(gh_model *m);

typedef struct gh_ctx_params {
    int32_t n_ctx;    /* positions per sequence (default: min(n_ctx_train, 2048)) */
    int32_t n_seq;    /* sequences held at once (default 1) */
    int32_t n_batch;  /* most tokens per forward pass; longer batches are split (default 256) */
    /* The context serves captured hidden states only (default false): each
     * forward pass stops after the deepest captured layer (the KV cache holds
     * only the layers up to it) and no logits are computed, so want_logits
     * must be NULL or all zero. The captured states are bitwise those of a
     * full pass: later layers cannot change earlier ones. */
    bool hidden_only;
} gh_ctx_params;

gh_ctx_params gh_ctx_default_params(void);
gh_status gh_ctx_init(gh_model *m, const gh_ctx_params *p, gh_ctx **out);
void gh_ctx_free(gh_ctx *c);

int32_t gh_ctx_n_ctx(const gh_ctx *c);
int32_t gh_ctx_n_seq(const gh_ctx *c);
int32_t gh_ctx_seq_len(const gh_ctx *c, int32_t seq);
void gh_ctx_seq_clear(gh_ctx *c, int32_t seq);
/* Truncates a sequence to its first n positions. */
gh_status gh_ctx_seq_truncate(gh_ctx *c, int32_t seq, int32_t n);
/* Makes `dst` a copy of `src` (its KV cache and length): a prompt processed once
 * is shared by every sample drawn from it. Nothing is copied: dst reads those
 * positions from src's cache until src's change. A truncated src first copies
 * the positions past its new length for the sequences reading them; a
 * cleared (or copied-over) src hands its cache to one of them instead. */
gh_status gh_ctx_seq_copy(gh_ctx *c, int32_t src, int32_t dst);

/* Hidden states to keep during decode: the residual stream after layer L, for
 * L in [0, n_layer]: L = 0 is the token embeddings, L = n_layer the output of
 * the last block (before the final norm). Pass n = 0 to capture nothing. */
gh_status gh_ctx_set_capture(gh_ctx *c, const int32_t *layers, int32_t n);

/* Runs n tokens; token i is appended to sequence seq[i] (tokens of one sequence
 * in order). want_logits[i] != 0 asks for the logits after token i (NULL: only
 * for the last token). */
gh_status gh_ctx_decode(gh_ctx *c, int32_t n, const int32_t *tokens, const int32_t *seq,
                        const uint8_t *want_logits);

/* After gh_ctx_decode: the n_vocab logits after token i of the last call (NULL
 * if not requested), and the captured hidden state (n_embd floats) of token i
 * for the k-th captured layer. Valid until the next decode. */
const float *gh_ctx_logits(const gh_ctx *c, int32_t i);
const float *gh_ctx_hidden(const gh_ctx *c, int32_t k, int32_t i);

/* ---- encoders and heads ---- */

/* Encoder models (info.encoder): runs n tokens as one sequence (every token
 * attends to every other) and writes the final hidden states, out [n][n_embd].
 * token_types [n] (NULL: all 0) index the token-type embeddings. n must not
 * exceed n_ctx_train (the position embeddings). Safe to call from several
 * threads (all state is per call). */
gh_status gh_model_encode(gh_model *m, const int32_t *tokens, const int32_t *token_types, int32_t n,
                          float *out);

/* Decoder models: the final norm (output_norm) of a hidden state after the
 * last block (gh_ctx_hidden of layer n_layer): out [n_embd] (may alias x).
 * Encoders: a copy (their last block ends with its own norm). */
void gh_model_final_norm(const gh_model *m, const float *x, float *out);

/* Models with a classifier head: out [n_cls_out] = cls.output.weight · h
 * (+ cls.output.bias), h a final-normed hidden state [n_embd]; an error
 * naming the model file when it has no head. */
gh_status gh_model_classify(const gh_model *m, const float *h, float *out);

#ifdef __cplusplus
}
#endif
#endif
