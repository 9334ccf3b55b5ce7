/* goodhart/backend.h — what every method asks of a model, whoever serves it.
 *
 * A backend is opened from a model reference: a path to a GGUF file (the local
 * runtime), an http(s)://HOST:PORT/v1[#MODEL] URL of an OpenAI-compatible
 * server (src/backend/http.c), or replay:FILE, a scripted chat agent that plays
 * the assistant messages of a JSON Lines file in order (src/backend/replay.c). Methods (Best-of-N, probes, GENIES, ICRL) only talk
 * to this interface. A backend states its capabilities up front; a method that
 * needs one it lacks fails with a clear message before doing any work.
 *
 * Reproducibility: sample i of a generate call is drawn from its own random
 * stream, derived from (seed, first_sample + i) only, so it is the same whatever
 * the number of samples drawn with it, the batch size or the thread count.
 */
#ifndef GOODHART_BACKEND_H
#define GOODHART_BACKEND_H

#include "goodhart/common.h"
#include "goodhart/chat.h"
#include "goodhart/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gh_backend gh_backend;

enum {
    GH_CAP_GENERATE = 1u << 0, /* sample continuations */
    GH_CAP_LOGPROB = 1u << 1,  /* log-probabilities of a given continuation */
    GH_CAP_HIDDEN = 1u << 2,   /* hidden states of chosen layers */
    GH_CAP_EMBED = 1u << 3,    /* pooled, normalised sentence embeddings */
    GH_CAP_REWARD = 1u << 4,   /* reward-model scores */
    GH_CAP_TOKENIZE = 1u << 5, /* the model's own tokenizer */
    GH_CAP_CHAT = 1u << 6,     /* replies to a conversation (chat template or chat API) */
};

typedef struct gh_backend_params {
    int32_t n_threads;   /* local: CPU threads (default: all) */
    int32_t n_ctx;       /* local: positions per sequence (0: model default) */
    int32_t n_seq_max;   /* local: sequences decoded together at most (default 16) */
    const char *chat_template; /* NULL: the model's own (tokenizer.chat_template);
                                  else a family name or a template file (see chat.h) */
    int8_t rm_eos;       /* reward scores: 0: append EOS as the tokenizer says (add_eos_token);
                            1: always append EOS; -1: never */
    /* http: */
    const char *api_key_env;   /* name of the environment variable holding the API key (NULL: none) */
    const char *cache_path;    /* SQLite response cache (NULL: no cache) */
    int32_t max_inflight;      /* requests in flight at once (default 8) */
    double timeout_s;          /* per request (default 600) */
    int32_t max_retries;       /* on 429, 5xx and connection errors (default 6) */
} gh_backend_params;

gh_backend_params gh_backend_default_params(void);
gh_status gh_backend_open(const char *ref, const gh_backend_params *p, gh_backend **out);
void gh_backend_free(gh_backend *b);

const char *gh_backend_ref(const gh_backend *b);   /* the reference it was opened from */
uint32_t gh_backend_caps(const gh_backend *b);
/* GH_OK if the backend has every capability in `caps`; otherwise an error
 * naming the backend, the missing capability and `purpose`. */
gh_status gh_backend_require(const gh_backend *b, uint32_t caps, const char *purpose);
/* The local model behind the backend, or NULL for a remote one. */
gh_model *gh_backend_model(gh_backend *b);

/* The SHA-256 (64 lowercase hex digits) of the model's GGUF file, which
 * probes and reward heads record to refuse another model's activations:
 * local backends hash the file (once); HTTP backends give what /v1/models
 * reported (goodhart serve reports it as meta.sha256); NULL where unknown
 * (other servers, replay, an unreadable file). */
const char *gh_backend_model_sha256(gh_backend *b);

/* The model's sizes, for methods that need them up front (feature widths,
 * "the last layer"). 0 means the backend does not know: local backends give
 * all four (gh_model_get_info); HTTP backends what the server's /v1/models
 * reported (goodhart serve reports all four; other servers some or none);
 * replay none. */
typedef struct gh_backend_dims {
    int32_t n_vocab, n_ctx, n_embd, n_layer;
} gh_backend_dims;

gh_backend_dims gh_backend_get_dims(const gh_backend *b);

/* The model's tokens of `text` (*ids malloc'd, *n of them; free(*ids)).
 * Special-token texts are read as plain text; a BOS token comes first iff
 * add_bos and the tokenizer adds one (as generate and hidden tokenize a text
 * prompt by default). Local: the model's tokenizer; HTTP: the server's
 * POST /tokenize (GH_ERR_UNSUPPORTED when it has none); replay: unsupported. */
gh_status gh_backend_tokenize(gh_backend *b, const char *text, bool add_bos, int32_t **ids, int32_t *n);

/* ---- sampling ---- */
typedef struct gh_sampler_params {
    float temp;         /* 0: greedy (argmax; ties go to the lowest id) */
    int32_t top_k;      /* 0: off */
    float top_p;        /* 1: off */
    float min_p;        /* 0: off; drop tokens with p < min_p * p_max */
    float epsilon;      /* 0: off; drop tokens with p < epsilon (epsilon sampling) */
    uint64_t seed;
    int32_t first_sample; /* index of the first sample drawn (for resuming) */
    int32_t max_tokens;   /* tokens to generate per sample */
    bool stop_at_eog;     /* stop at end-of-generation tokens (default true) */
    int8_t add_bos;       /* -1: the model's default; 0/1: force */
    bool parse_special;   /* read special-token texts in the prompt (<|im_start|>, <s>) as those
                             tokens: on for prompts a chat template rendered (gh_backend_chat sets
                             it), off by default so user text cannot inject control tokens */
} gh_sampler_params;

gh_sampler_params gh_sampler_default_params(void);

typedef struct gh_sample {
    int32_t index;        /* first_sample + i */
    char *text;           /* generated text, without the prompt (NUL-terminated) */
    int32_t *tokens;      /* generated token ids */
    int32_t n_tokens;
    double logprob;       /* sum of log p(token) under the unmodified model distribution */
    const char *finish;   /* "stop" (end-of-generation token) or "length" */
} gh_sample;

typedef struct gh_samples {
    int32_t n;
    gh_sample *samples;
    int32_t *prompt_tokens;
    int32_t n_prompt_tokens;
} gh_samples;

/* Draws n samples continuing `prompt`. */
gh_status gh_backend_generate(gh_backend *b, const char *prompt, const gh_sampler_params *sp,
                              int32_t n, gh_samples **out);
void gh_samples_free(gh_samples *s);

/* ---- log-probabilities of a continuation ---- */
typedef struct gh_logprobs {
    int32_t n_prompt;       /* tokens of the context (incl. BOS) */
    int32_t n;              /* tokens of the continuation */
    int32_t *tokens;        /* [n] continuation token ids */
    char **token_text;      /* [n] their pieces */
    float *token_logprobs;  /* [n] log p(token_t | everything before it) */
    double total;           /* sum */
    double mean;            /* total / n (length-normalised) */
    int32_t top_k;
    int32_t *top_ids;       /* [n * top_k] most likely tokens at each position */
    float *top_logprobs;    /* [n * top_k] */
} gh_logprobs;

/* Teacher-forced scoring: the logit at position t scores token t+1. The text is
 * tokenized as a whole (prompt + continuation); the continuation is what comes
 * after the prompt's own tokens. */
gh_status gh_backend_logprob(gh_backend *b, const char *prompt, const char *continuation,
                             int32_t top_k, gh_logprobs **out);
/* The same on token ids (local backends only). */
gh_status gh_backend_logprob_tokens(gh_backend *b, const int32_t *ctx, int32_t n_ctx,
                                    const int32_t *cont, int32_t n_cont, int32_t top_k,
                                    gh_logprobs **out);
void gh_logprobs_free(gh_logprobs *l);

/* ---- chat ---- */
/* Draws n assistant replies to a conversation. Local backends render it with
 * the chat template (backend params, else the model's own; a model without one
 * is an error naming the model, never a silent fallback) and generate; HTTP
 * backends call /v1/chat/completions; replay plays its next scripted message.
 * The samples' `text` is the reply; `prompt_tokens` the rendered prompt's. */
gh_status gh_backend_chat(gh_backend *b, const gh_chat_msg *msgs, int32_t n_msgs,
                          const gh_sampler_params *sp, int32_t n, gh_samples **out);

/* ---- embeddings and reward-model scores ---- */
typedef struct gh_embedding {
    int32_t dim;
    float *data;          /* [dim], L2-normalised */
    int32_t n_tokens;
    int32_t *tokens;      /* the tokens embedded (NULL for remote backends that do not say) */
} gh_embedding;

/* A sentence embedding (embedding models: mean or CLS pooling + L2 norm;
 * pool names "mean", "cls"; NULL: the model's own pooling). */
gh_status gh_backend_embed(gh_backend *b, const char *text, const char *pool, gh_embedding **out);
void gh_embedding_free(gh_embedding *e);

typedef struct gh_rm_score {
    double score;         /* the raw logit of the reward head */
    int32_t pooled_token; /* position of the token whose hidden state was scored (-1: unknown) */
    char *text;           /* the exact text scored (after any chat template) */
    char *chat_template;  /* the template applied, or NULL */
    int32_t n_tokens;     /* tokens of the scored sequence, EOS included (-1: unknown) */
    int32_t *tokens;      /* their ids, n_tokens of them (NULL: unknown; over HTTP, what the
                             server's /v1/rewards gave, as goodhart serve does) */
    int32_t pooled_token_id; /* the id at pooled_token (-1: unknown) */
    bool eos_appended;    /* an EOS token was added after the text's own tokens */
} gh_rm_score;

/* A reward model's score of `response` to `prompt`. Local models: the text is
 * the chat template's rendering of [user: prompt, assistant: response] when
 * the model has a template (or the backend was given one), else the prompt
 * followed directly by the response (after BOS if the tokenizer adds one);
 * EOS is appended per rm_eos; no padding is ever added. The pooled token is
 * the last one, except that trailing tokens equal to the padding id
 * (tokenizer.ggml.padding_token_id) are skipped as transformers' sequence
 * classifiers skip them, so a model whose pad id is its EOS scores the token
 * before that EOS. */
gh_status gh_backend_score(gh_backend *b, const char *prompt, const char *response, gh_rm_score **out);
void gh_rm_score_free(gh_rm_score *r);

/* ---- hidden states ---- */
typedef enum gh_pool {
    GH_POOL_LAST = 0, /* the last token of the span */
    GH_POOL_MEAN = 1, /* mean over the span */
    GH_POOL_ALL = 2,  /* every token of the span */
} gh_pool;

bool gh_pool_from_name(const char *name, gh_pool *out);
const char *gh_pool_name(gh_pool p);

typedef struct gh_hidden {
    int32_t n_layers;
    int32_t *layers;      /* [n_layers] */
    int32_t n_embd;
    int32_t n_tokens;     /* tokens of the text (incl. BOS) */
    int32_t *tokens;
    int32_t span_begin;   /* pooled positions [span_begin, span_end) */
    int32_t span_end;
    int32_t n_rows;       /* 1, or span length for GH_POOL_ALL */
    float *data;          /* [n_layers][n_rows][n_embd] */
} gh_hidden;

/* Residual stream after each listed layer (see gh_ctx_set_capture), pooled over
 * token positions [span_begin, span_end) of the tokenized text; span_end <= 0
 * counts from the end (0: the end). */
gh_status gh_backend_hidden(gh_backend *b, const char *text, const int32_t *layers,
                            int32_t n_layers, gh_pool pool, int32_t span_begin, int32_t span_end,
                            gh_hidden **out);
void gh_hidden_free(gh_hidden *h);

#ifdef __cplusplus
}
#endif
#endif
