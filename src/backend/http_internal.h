/* http_internal.h — the pieces under the HTTP backend (internal): the
 * persistent response cache (http_cache.c) and the request engine
 * (http_client.c) that http.c builds the OpenAI-compatible operations on.
 *
 * The engine runs a batch of requests with libcurl's multi interface: at most
 * max_inflight requests of one client are on the wire at once (across every
 * thread using it), each has a timeout, and 429, 408, 5xx and connection
 * failures are retried with exponential backoff and jitter, waiting at least
 * as long as a Retry-After header asks. A successful answer is written to the
 * cache before the batch returns, so an interrupted experiment never pays
 * twice for a call it already made. */
#ifndef GH_BACKEND_HTTP_INTERNAL_H
#define GH_BACKEND_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "goodhart/common.h"

/* ---- response cache (http_cache.c) ---- */

typedef struct gh_http_cache gh_http_cache;

/* Opens (creating if needed) the SQLite cache file at `path`. Several
 * processes and threads may use one file at once. */
gh_status gh_http_cache_open(const char *path, gh_http_cache **out);
void gh_http_cache_close(gh_http_cache *c);
/* The answer stored for exactly (method, url, body): *resp malloc'd and
 * NUL-terminated, or NULL on a miss. body may be NULL (a GET). */
gh_status gh_http_cache_get(gh_http_cache *c, const char *method, const char *url, const char *body,
                            char **resp, size_t *len);
gh_status gh_http_cache_put(gh_http_cache *c, const char *method, const char *url, const char *body,
                            const char *resp, size_t len);
/* Number of answers stored. */
gh_status gh_http_cache_count(gh_http_cache *c, int64_t *n);

/* ---- request engine (http_client.c) ---- */

typedef struct gh_http_opts {
    const char *api_key;      /* sent as "Authorization: Bearer KEY" (NULL: none) */
    const char *cache_path;   /* NULL: no cache */
    int32_t max_inflight;     /* >= 1 */
    double timeout_s;         /* per attempt, whole transfer */
    int32_t max_retries;      /* further attempts after the first */
    double backoff_base_s;    /* first retry waits in [base/2, base] (0: 0.25 s) */
    double backoff_max_s;     /* cap of the exponential part (0: 30 s) */
    double retry_after_max_s; /* longest Retry-After honoured (0: 300 s); longer ones fail */
} gh_http_opts;

gh_http_opts gh_http_default_opts(void);

typedef struct gh_http_client gh_http_client;

gh_status gh_http_client_init(const gh_http_opts *o, gh_http_client **out);
void gh_http_client_free(gh_http_client *c);

typedef struct gh_http_req {
    /* in */
    const char *method;   /* "GET" or "POST" */
    const char *url;
    const char *body;     /* JSON text (POST), NULL for GET */
    bool no_cache;        /* neither read nor write the cache */
    /* out */
    gh_status st;         /* GH_OK: a 2xx answer is in resp */
    long status;          /* last HTTP status seen (0: none) */
    char *resp;           /* malloc'd, NUL-terminated: the answer, or the last error body */
    size_t resp_len;
    bool cached;          /* answered from the cache */
    int32_t attempts;     /* attempts sent over the network */
    char *err;            /* malloc'd message on failure: names method, URL, status and the server's message */
} gh_http_req;

/* Runs every request (each to success or its final failure). Returns GH_OK if
 * all succeeded, else the status of the first failed one with its message set
 * (gh_last_error). Each request's own outcome is in its fields either way. */
gh_status gh_http_run(gh_http_client *c, gh_http_req *reqs, int32_t n);
/* Frees the out fields of a request (resp, err), leaving the in fields. */
void gh_http_req_clear(gh_http_req *r);

/* The server's own error message in an error body: OpenAI's
 * {"error":{"message":..}}, vLLM's {"message":..}, FastAPI's {"detail":..},
 * else the body itself (shortened). Writes at most cap bytes. */
void gh_http_error_message(const char *body, char *out, size_t cap);

/* Attempts sent over the network by this client so far (not cache hits). */
int64_t gh_http_client_sent(gh_http_client *c);

#endif
