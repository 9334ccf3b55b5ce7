/* serve_internal.h — the parts of the server (internal): request checking
 * (request.c), the batching scheduler (sched.c), the endpoint handlers
 * (handlers.c) and the HTTP glue (server.c). See goodhart/serve.h. */
#ifndef GH_SERVE_INTERNAL_H
#define GH_SERVE_INTERNAL_H

#include <cjson/cJSON.h>
#include <pthread.h>

#include "goodhart/serve.h"
#include "goodhart/tokenizer.h"

/* ---- errors: an OpenAI-style {"error": {message, type, param, code}} ---- */
typedef struct srv_err {
    int32_t status;    /* HTTP status */
    const char *type;  /* "invalid_request_error", "authentication_error", ... */
    const char *code;  /* short machine-readable reason, or NULL */
    char param[64];    /* the request field at fault, or "" */
    char msg[1024];
} srv_err;

/* Fills *e and returns -1 (so handlers can `return srv_fail(...)`). */
int srv_fail(srv_err *e, int32_t status, const char *type, const char *code, const char *param,
             const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;
/* 400 invalid_request_error with code and param. */
#define srv_bad(e, code, param, ...) srv_fail((e), 400, "invalid_request_error", (code), (param), __VA_ARGS__)
/* Maps a library failure (gh_last_error()) onto an error object. */
int srv_fail_status(srv_err *e, gh_status st, const char *param);
/* The error object as malloc'd JSON text. */
char *srv_err_json(const srv_err *e);

/* ---- request checking (request.c) ---- */
/* The body must be one JSON object. */
int req_parse(const char *body, size_t len, cJSON **out, srv_err *e);
/* Every field of obj must be in `allowed` (NULL-terminated) and appear once. */
int req_fields(const cJSON *obj, const char *const *allowed, srv_err *e);
/* Optional fields: absent or null gives the default. */
int req_int(const cJSON *obj, const char *name, int64_t lo, int64_t hi, int64_t def, int64_t *out, srv_err *e);
int req_num(const cJSON *obj, const char *name, double lo, double hi, double def, double *out, srv_err *e);
int req_bool(const cJSON *obj, const char *name, bool def, bool *out, srv_err *e);
int req_str(const cJSON *obj, const char *name, bool required, const char **out, srv_err *e);
/* "stop": a string or a list of up to 4 non-empty strings (pointers into obj). */
int req_stop(const cJSON *obj, const char ***out, int32_t *n, srv_err *e);
/* "seed": any integer in [0, 2^64), read exactly from the body's text (cJSON
 * keeps only a double). *found is false if absent or null. */
int req_seed(const char *body, size_t len, const cJSON *obj, uint64_t *out, bool *found, srv_err *e);
/* Token ids: a JSON array of integers in [0, n_vocab). *ids malloc'd. */
int req_ids(const cJSON *v, const char *param, int32_t n_vocab, int32_t max_n, int32_t **ids, int32_t *n,
            srv_err *e);

/* One prompt or input: text, or token ids. */
typedef struct srv_input {
    const char *text;  /* into the request JSON, or NULL for token ids */
    int32_t *ids;      /* malloc'd (token inputs) */
    int32_t n_ids;
} srv_input;

/* The OpenAI prompt/input shapes: a string, a list of strings, a list of token
 * ids, or a list of lists of token ids. */
int req_inputs(const cJSON *v, const char *param, int32_t n_vocab, int32_t max_inputs, int32_t max_ids,
               srv_input **out, int32_t *n, srv_err *e);
void req_inputs_free(srv_input *in, int32_t n);

/* ---- the batching scheduler (sched.c) ---- */

/* What one sample produced. */
typedef struct gen_out {
    int32_t *tokens;
    int32_t n_tokens;
    char *text;          /* NUL-terminated; cut before a stop string if one matched */
    size_t text_len, text_cap;
    int32_t *offsets;    /* [n_tokens] byte offset of each token's piece in text */
    float *lp;           /* [n_tokens] log p(token) under the unmodified model */
    int32_t *top_ids;    /* [n_tokens * top_k] */
    float *top_lp;
    double logprob;      /* sum of lp */
    const char *finish;  /* "stop" or "length" */
} gen_out;

struct sched_job;

/* One prompt of a request and its n samples. */
typedef struct gen_group {
    const int32_t *prompt;
    int32_t np;
    gh_sampler_params sp; /* seed, first_sample, max_tokens (already clamped), filters */
    int32_t n;
    const char **stops;
    int32_t n_stops;
    int32_t top_k;        /* top logprobs kept per token (0: none) */
    gen_out *out;         /* [n], filled by the scheduler */
    /* scheduler state */
    struct sched_job *job;
    int32_t prompt_slot, fed, next_sample, n_done;
    bool ready;
    float *prompt_logits;
} gen_group;

typedef struct sched sched;

typedef struct sched_job {
    /* a generation job (groups) or a call run on the scheduler thread (fn) */
    gen_group *groups;
    int32_t n_groups;
    void (*fn)(void *arg);
    void *arg;
    /* completion */
    bool done;
    int32_t n_groups_done;
    srv_err err;
    bool failed;
    pthread_cond_t cv;
    struct sched_job *next;
} sched_job;

typedef struct sched_stats {
    int64_t steps;          /* decode steps run */
    int64_t tokens;         /* tokens decoded (prompts and samples) */
    int32_t max_seqs_step;  /* most sequences in one step */
    int32_t max_jobs_step;  /* most distinct requests in one step */
    int64_t queued;         /* samples of unfinished requests now */
    int32_t free_slots;     /* slots free after the last step */
} sched_stats;

void sched_get_stats(sched *s, sched_stats *out);

gh_status sched_init(gh_backend *b, int32_t n_slots, int32_t n_ctx, int32_t max_queued, sched **out);
/* Fails pending and running work with 503 and joins the thread; later
 * sched_run calls get 503 at once. */
void sched_stop(sched *s);
/* Stops (if still running) and frees. */
void sched_free(sched *s);
/* Runs the job (blocking) and returns 0, or -1 with *e filled. */
int sched_run(sched *s, sched_job *j, srv_err *e);
void gen_out_free(gen_out *o);

/* ---- the server ---- */
struct gh_server {
    gh_serve_params p;
    char host[256];
    struct MHD_Daemon *mhd;
    int32_t port;
    pthread_mutex_t mu;      /* guards ready, b, inflight */
    pthread_cond_t idle;     /* signalled when inflight drops */
    int32_t inflight;        /* requests received and not yet answered */
    bool ready;
    gh_backend *b;
    bool own_backend;
    gh_model *m;
    const gh_tokenizer *tok;
    char model_name[256];
    int32_t n_ctx;           /* positions per sequence */
    int64_t created;
    sched *sc;
    uint64_t req_counter;
};
typedef struct gh_server srv;

/* Dispatch (handlers.c): fills *status and *resp (malloc'd JSON). */
void srv_dispatch(srv *s, const char *method, const char *path, const char *auth, const char *body,
                  size_t len, int32_t *status, char **resp);

#endif
