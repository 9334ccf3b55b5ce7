/* goodhart/serve.h — an OpenAI-compatible HTTP server over a goodhart backend
 * (normally the local GGUF runtime): `goodhart serve` is a thin wrapper.
 *
 * Endpoints (docs/serve.md has the request and response shapes):
 *   GET  /health               503 while the model loads, 200 when ready
 *   GET  /v1/models            the model, with vocabulary, context, embedding size, layers
 *   POST /tokenize, /detokenize
 *   POST /v1/completions       prompts as text or token ids, n samples, seeds, stop,
 *                              logprobs + echo (the legacy logprobs object)
 *   POST /v1/chat/completions  the model's chat template, logprobs/top_logprobs
 *   POST /v1/embeddings        float or base64
 *   POST /v1/hidden_states     (extension) hidden states of chosen layers, pooled
 *   POST /v1/rewards           (extension) reward-model scores
 *
 * Generation requests are batched by one scheduler thread that owns a KV cache
 * of n_slots sequences: every decode step runs one token of every running
 * sample of every request together. Sample i of a request with seed S is drawn
 * from the stream (S, first_sample + i), so it equals the local backend's
 * sample i (`goodhart generate --seed S`) whatever else the server is doing.
 *
 * The library never prints: a log callback, if set, receives one line per
 * request.
 */
#ifndef GOODHART_SERVE_H
#define GOODHART_SERVE_H

#include "goodhart/backend.h"
#include "goodhart/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gh_server gh_server;

typedef struct gh_serve_params {
    const char *host;          /* address to bind (default "127.0.0.1") */
    int32_t port;              /* 0: an ephemeral port (see gh_server_port) */
    const char *api_key;       /* if set, every endpoint but /health needs "Authorization: Bearer KEY" */
    const char *model_name;    /* id in /v1/models (NULL: the file name without .gguf) */
    int32_t n_slots;           /* sequences decoded together (default 32; at least 2) */
    int32_t n_ctx;             /* positions per sequence (0: min(model context, 4096)) */
    int64_t max_body_bytes;    /* request body limit (default 1 MiB) */
    int32_t max_tokens;        /* max_tokens limit per sample (0: the context) */
    int32_t max_n;             /* samples per prompt (default 64) */
    int32_t max_inputs;        /* prompts / inputs per request (default 64) */
    int32_t max_connections;   /* connections served at once; more wait to be accepted (default 256) */
    int32_t max_queued;        /* samples waiting for a slot before 429 (default 4096) */
    int32_t timeout_s;         /* idle connection timeout (default 600) */
    void (*log)(void *user, const char *line); /* NULL: silent */
    void *log_user;
} gh_serve_params;

gh_serve_params gh_serve_default_params(void);

/* Binds and starts answering: /health says 503 (and the model endpoints an
 * OpenAI-style 503 error) until a model is loaded or attached. */
gh_status gh_server_start(const gh_serve_params *p, gh_server **out);
/* Opens `ref` with `bp` (blocking) and makes the server ready; the server owns
 * the backend. The model name defaults to the file name without .gguf. */
gh_status gh_server_load(gh_server *s, const char *ref, const gh_backend_params *bp);
/* Serves an open local backend (not owned: free it after gh_server_stop). */
gh_status gh_server_attach(gh_server *s, gh_backend *b);
/* The port actually bound. */
int32_t gh_server_port(const gh_server *s);
/* Stops accepting, fails queued work with 503, waits for every thread, frees. */
void gh_server_stop(gh_server *s);

/* One request without HTTP (the parser's fuzz test, embedding in other
 * programs): method, path, the Authorization header (or NULL) and the body.
 * *status is the HTTP status, *response a malloc'd JSON text. Returns GH_OK
 * whenever a response was produced, errors included. */
gh_status gh_server_handle(gh_server *s, const char *method, const char *path, const char *auth,
                           const char *body, size_t len, int32_t *status, char **response);

#ifdef __cplusplus
}
#endif
#endif
