/* backend_impl.h — the table of operations each backend kind fills in
 * (internal). backend.c dispatches through it, checks capabilities and owns the
 * result types; local.c (the GGUF runtime) is the first implementation and an
 * HTTP client is the next. */
#ifndef GH_BACKEND_IMPL_H
#define GH_BACKEND_IMPL_H

#include "goodhart/backend.h"

typedef struct gh_backend_ops {
    const char *kind; /* "local", "http", ... */
    void (*free)(void *impl);
    gh_status (*generate)(void *impl, const char *prompt, const gh_sampler_params *sp, int32_t n,
                          gh_samples **out);
    gh_status (*logprob)(void *impl, const char *prompt, const char *continuation, int32_t top_k,
                         gh_logprobs **out);
    gh_status (*logprob_tokens)(void *impl, const int32_t *ctx, int32_t n_ctx, const int32_t *cont,
                                int32_t n_cont, int32_t top_k, gh_logprobs **out);
    gh_status (*hidden)(void *impl, const char *text, const int32_t *layers, int32_t n_layers,
                        gh_pool pool, int32_t span_begin, int32_t span_end, gh_hidden **out);
    /* Optional: NULL where the backend cannot. A local backend without `chat`
     * gets backend.c's: render with the chat template, then `generate`. */
    gh_status (*chat)(void *impl, const gh_chat_msg *msgs, int32_t n_msgs, const gh_sampler_params *sp,
                      int32_t n, gh_samples **out);
    gh_status (*embed)(void *impl, const char *text, const char *pool, gh_embedding **out);
    gh_status (*score)(void *impl, const char *prompt, const char *response, gh_rm_score **out);
    /* Optional: the model's sizes where known (0: unknown). NULL: backend.c
     * reads them from b->model (local), or reports all unknown. */
    gh_backend_dims (*dims)(void *impl);
    /* Optional: the SHA-256 of the model's file as the server reports it
     * (NULL: not reported). NULL op: backend.c hashes b->model (local). */
    const char *(*model_sha256)(void *impl);
    /* Optional: the model's tokens of a text (see gh_backend_tokenize). */
    gh_status (*tokenize)(void *impl, const char *text, bool add_bos, int32_t **ids, int32_t *n);
} gh_backend_ops;

struct gh_backend {
    const gh_backend_ops *ops;
    void *impl;
    uint32_t caps;
    char *ref;
    gh_model *model; /* local backends only */
    char *chat_template; /* from the backend params (NULL: the model's own) */
};

/* Each fills in b->ops, b->impl, b->caps (and b->model for local). */
gh_status gh_backend_open_local(const char *path, const gh_backend_params *p, gh_backend *b);
gh_status gh_backend_open_http(const char *url, const gh_backend_params *p, gh_backend *b);
gh_status gh_backend_open_replay(const char *path, const gh_backend_params *p, gh_backend *b);

#endif
