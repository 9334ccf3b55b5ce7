/* backend.c — the model-agnostic face of every backend: opening a model
 * reference, capability checks, dispatch, and freeing results. */
#include "backend/backend_impl.h"
#include "goodhart/chat.h"

#include <stdlib.h>
#include <string.h>

gh_backend_params gh_backend_default_params(void) {
    gh_backend_params p = {0};
    p.n_seq_max = 16;
    p.max_inflight = 8;
    p.timeout_s = 600;
    p.max_retries = 6;
    return p;
}

gh_sampler_params gh_sampler_default_params(void) {
    gh_sampler_params p = {0};
    p.temp = 1.0f;
    p.top_p = 1.0f;
    p.max_tokens = 64;
    p.stop_at_eog = true;
    p.add_bos = -1;
    return p;
}

gh_status gh_backend_open(const char *ref, const gh_backend_params *p, gh_backend **out) {
    *out = NULL;
    if (!ref || !*ref) return gh_error(GH_ERR_INVALID_ARG, "empty model reference");
    gh_backend_params dp = p ? *p : gh_backend_default_params();
    gh_backend *b = calloc(1, sizeof *b);
    if (!b) return gh_error(GH_ERR_NOMEM, "out of memory");
    b->ref = strdup(ref);
    b->chat_template = dp.chat_template ? strdup(dp.chat_template) : NULL;
    if (!b->ref || (dp.chat_template && !b->chat_template)) {
        free(b->ref); free(b->chat_template); free(b);
        return gh_error(GH_ERR_NOMEM, "out of memory");
    }
    gh_status s;
    if (!strncmp(ref, "http://", 7) || !strncmp(ref, "https://", 8))
        s = gh_backend_open_http(ref, &dp, b);
    else if (!strncmp(ref, "replay:", 7))
        s = gh_backend_open_replay(ref + 7, &dp, b);
    else
        s = gh_backend_open_local(ref, &dp, b);
    if (s) { free(b->ref); free(b->chat_template); free(b); return s; }
    *out = b;
    return GH_OK;
}

void gh_backend_free(gh_backend *b) {
    if (!b) return;
    if (b->ops && b->ops->free) b->ops->free(b->impl);
    free(b->ref);
    free(b->chat_template);
    free(b);
}

const char *gh_backend_ref(const gh_backend *b) { return b->ref; }
uint32_t gh_backend_caps(const gh_backend *b) { return b->caps; }
gh_model *gh_backend_model(gh_backend *b) { return b->model; }

const char *gh_backend_model_sha256(gh_backend *b) {
    const char *h = b->ops->model_sha256 ? b->ops->model_sha256(b->impl) : b->model ? gh_model_sha256(b->model) : NULL;
    return h && h[0] ? h : NULL;
}

gh_backend_dims gh_backend_get_dims(const gh_backend *b) {
    gh_backend_dims d = {0};
    if (b->ops->dims) return b->ops->dims(b->impl);
    if (b->model) {
        const gh_model_info *I = gh_model_get_info(b->model);
        d.n_vocab = I->n_vocab;
        d.n_ctx = I->n_ctx_train;
        d.n_embd = I->n_embd;
        d.n_layer = I->n_layer;
    }
    return d;
}

gh_status gh_backend_tokenize(gh_backend *b, const char *text, bool add_bos, int32_t **ids, int32_t *n) {
    *ids = NULL;
    *n = 0;
    if (!b->ops->tokenize)
        return gh_error(GH_ERR_UNSUPPORTED, "%s (%s backend) cannot tokenize text", b->ref, b->ops->kind);
    return b->ops->tokenize(b->impl, text ? text : "", add_bos, ids, n);
}

static const char *cap_name(uint32_t c) {
    switch (c) {
    case GH_CAP_GENERATE: return "text generation";
    case GH_CAP_LOGPROB: return "log-probabilities of a continuation";
    case GH_CAP_HIDDEN: return "hidden states";
    case GH_CAP_EMBED: return "embeddings";
    case GH_CAP_REWARD: return "reward scores";
    case GH_CAP_TOKENIZE: return "tokenization";
    case GH_CAP_CHAT: return "chat replies";
    }
    return "an unknown capability";
}

gh_status gh_backend_require(const gh_backend *b, uint32_t caps, const char *purpose) {
    for (uint32_t c = 1; c && c <= caps; c <<= 1)
        if ((caps & c) && !(b->caps & c))
            return gh_error(GH_ERR_UNSUPPORTED, "%s (%s backend) cannot give %s, which %s needs", b->ref,
                            b->ops->kind, cap_name(c), purpose ? purpose : "this method");
    return GH_OK;
}

gh_status gh_backend_generate(gh_backend *b, const char *prompt, const gh_sampler_params *sp,
                              int32_t n, gh_samples **out) {
    *out = NULL;
    gh_status s = gh_backend_require(b, GH_CAP_GENERATE, "generation");
    if (s) return s;
    if (n <= 0 || n > 1000000) return gh_error(GH_ERR_INVALID_ARG, "number of samples %d out of range", n);
    gh_sampler_params d = sp ? *sp : gh_sampler_default_params();
    if (d.max_tokens < 0 || d.temp < 0 || d.top_k < 0 || d.top_p <= 0 || d.top_p > 1 || d.min_p < 0 ||
        d.min_p > 1 || d.epsilon < 0 || d.epsilon >= 1 || d.first_sample < 0)
        return gh_error(GH_ERR_INVALID_ARG,
                        "invalid sampler settings (max_tokens %d, temp %g, top_k %d, top_p %g, min_p %g, epsilon %g)",
                        d.max_tokens, d.temp, d.top_k, d.top_p, d.min_p, d.epsilon);
    return b->ops->generate(b->impl, prompt ? prompt : "", &d, n, out);
}

gh_status gh_backend_logprob(gh_backend *b, const char *prompt, const char *continuation,
                             int32_t top_k, gh_logprobs **out) {
    *out = NULL;
    gh_status s = gh_backend_require(b, GH_CAP_LOGPROB, "scoring a continuation");
    if (s) return s;
    if (top_k < 0 || top_k > 1000) return gh_error(GH_ERR_INVALID_ARG, "top_k %d out of range [0, 1000]", top_k);
    return b->ops->logprob(b->impl, prompt ? prompt : "", continuation ? continuation : "", top_k, out);
}

gh_status gh_backend_logprob_tokens(gh_backend *b, const int32_t *ctx, int32_t n_ctx,
                                    const int32_t *cont, int32_t n_cont, int32_t top_k,
                                    gh_logprobs **out) {
    *out = NULL;
    if (!b->ops->logprob_tokens)
        return gh_error(GH_ERR_UNSUPPORTED, "%s: scoring token ids needs a local model", b->ref);
    if (top_k < 0 || top_k > 1000) return gh_error(GH_ERR_INVALID_ARG, "top_k %d out of range [0, 1000]", top_k);
    if (n_ctx < 1) return gh_error(GH_ERR_INVALID_ARG, "the context must hold at least one token");
    if (n_cont < 0) return gh_error(GH_ERR_INVALID_ARG, "negative continuation length");
    return b->ops->logprob_tokens(b->impl, ctx, n_ctx, cont, n_cont, top_k, out);
}

gh_status gh_backend_hidden(gh_backend *b, const char *text, const int32_t *layers,
                            int32_t n_layers, gh_pool pool, int32_t span_begin, int32_t span_end,
                            gh_hidden **out) {
    *out = NULL;
    gh_status s = gh_backend_require(b, GH_CAP_HIDDEN, "reading hidden states");
    if (s) return s;
    if (n_layers <= 0) return gh_error(GH_ERR_INVALID_ARG, "no layers requested");
    if (pool != GH_POOL_LAST && pool != GH_POOL_MEAN && pool != GH_POOL_ALL)
        return gh_error(GH_ERR_INVALID_ARG, "unknown pooling %d", (int)pool);
    return b->ops->hidden(b->impl, text ? text : "", layers, n_layers, pool, span_begin, span_end, out);
}

gh_status gh_backend_chat(gh_backend *b, const gh_chat_msg *msgs, int32_t n_msgs,
                          const gh_sampler_params *sp, int32_t n, gh_samples **out) {
    *out = NULL;
    gh_status s = gh_backend_require(b, GH_CAP_CHAT, "a chat conversation");
    if (s) return s;
    if (n_msgs <= 0) return gh_error(GH_ERR_INVALID_ARG, "an empty conversation");
    for (int32_t i = 0; i < n_msgs; i++)
        if (!msgs[i].role || !msgs[i].content)
            return gh_error(GH_ERR_INVALID_ARG, "chat message %d has no role or no content", i);
    if (n <= 0 || n > 1000000) return gh_error(GH_ERR_INVALID_ARG, "number of samples %d out of range", n);
    gh_sampler_params d = sp ? *sp : gh_sampler_default_params();
    if (b->ops->chat) return b->ops->chat(b->impl, msgs, n_msgs, &d, n, out);
    /* Local models: the chat template turns the conversation into a prompt. */
    char *prompt = NULL;
    s = gh_chat_render_for_model(b->model, b->chat_template, msgs, n_msgs, true, &prompt, NULL);
    if (s) return s;
    if (d.add_bos < 0) d.add_bos = 0; /* templates write their own BOS text where they want one */
    d.parse_special = true;           /* ... and their control tokens, as text to be read as tokens */
    s = gh_backend_generate(b, prompt, &d, n, out);
    free(prompt);
    return s;
}

gh_status gh_backend_embed(gh_backend *b, const char *text, const char *pool, gh_embedding **out) {
    *out = NULL;
    gh_status s = gh_backend_require(b, GH_CAP_EMBED, "an embedding");
    if (s) return s;
    if (!b->ops->embed) return gh_error(GH_ERR_UNSUPPORTED, "%s: no embeddings", b->ref);
    return b->ops->embed(b->impl, text ? text : "", pool, out);
}

gh_status gh_backend_score(gh_backend *b, const char *prompt, const char *response, gh_rm_score **out) {
    *out = NULL;
    gh_status s = gh_backend_require(b, GH_CAP_REWARD, "a reward-model score");
    if (s) return s;
    if (!b->ops->score) return gh_error(GH_ERR_UNSUPPORTED, "%s: no reward scores", b->ref);
    return b->ops->score(b->impl, prompt ? prompt : "", response ? response : "", out);
}

void gh_embedding_free(gh_embedding *e) {
    if (!e) return;
    free(e->data);
    free(e->tokens);
    free(e);
}

void gh_rm_score_free(gh_rm_score *r) {
    if (!r) return;
    free(r->text);
    free(r->chat_template);
    free(r->tokens);
    free(r);
}

void gh_samples_free(gh_samples *s) {
    if (!s) return;
    for (int32_t i = 0; i < s->n; i++) {
        free(s->samples[i].text);
        free(s->samples[i].tokens);
    }
    free(s->samples);
    free(s->prompt_tokens);
    free(s);
}

void gh_logprobs_free(gh_logprobs *l) {
    if (!l) return;
    if (l->token_text)
        for (int32_t i = 0; i < l->n; i++) free(l->token_text[i]);
    free(l->token_text);
    free(l->tokens);
    free(l->token_logprobs);
    free(l->top_ids);
    free(l->top_logprobs);
    free(l);
}

void gh_hidden_free(gh_hidden *h) {
    if (!h) return;
    free(h->layers);
    free(h->tokens);
    free(h->data);
    free(h);
}

bool gh_pool_from_name(const char *name, gh_pool *out) {
    if (!strcmp(name, "last")) *out = GH_POOL_LAST;
    else if (!strcmp(name, "mean")) *out = GH_POOL_MEAN;
    else if (!strcmp(name, "all")) *out = GH_POOL_ALL;
    else return false;
    return true;
}

const char *gh_pool_name(gh_pool p) {
    return p == GH_POOL_LAST ? "last" : p == GH_POOL_MEAN ? "mean" : p == GH_POOL_ALL ? "all" : "?";
}
