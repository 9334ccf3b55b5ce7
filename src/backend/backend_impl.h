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
} gh_backend_ops;

struct gh_backend {
    const gh_backend_ops *ops;
    void *impl;
    uint32_t caps;
    char *ref;
    gh_model *model; /* local backends only */
};

gh_status gh_backend_open_local(const char *path, const gh_backend_params *p, gh_backend *b);

#endif
