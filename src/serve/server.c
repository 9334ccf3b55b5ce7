/* server.c — the HTTP side of `goodhart serve`: libmicrohttpd accepts
 * connections (one thread per connection, their number capped), collects the
 * request body up to the size limit and hands method, path, Authorization and
 * body to srv_dispatch (handlers.c); this file also owns the server's life:
 * start (listening before the model is loaded, so /health can say 503), load or
 * attach a model, stop. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "serve/serve_internal.h"

gh_serve_params gh_serve_default_params(void) {
    gh_serve_params p = {0};
    p.host = "127.0.0.1";
    p.port = 8080;
    p.n_slots = 32;
    p.max_body_bytes = 1 << 20;
    p.max_n = 64;
    p.max_inputs = 64;
    p.max_connections = 256;
    p.max_queued = 4096;
    p.timeout_s = 600;
    return p;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static void srv_log(srv *s, const char *fmt, ...) {
    if (!s->p.log) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->p.log(s->p.log_user, line);
}

/* libmicrohttpd's own diagnostics go to the log callback, never to stderr. */
static void mhd_logger(void *cls, const char *fmt, va_list ap) {
    srv *s = cls;
    if (!s->p.log) return;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n') line[--n] = '\0';
    s->p.log(s->p.log_user, line);
}

/* What one connection's current request has sent so far. */
typedef struct conn {
    char *buf;
    size_t len, cap;
    bool too_large;
    double t0;
} conn;

static enum MHD_Result send_json(struct MHD_Connection *c, int32_t status, char *body) {
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) { free(body); return MHD_NO; }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned int)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result too_large(srv *s, struct MHD_Connection *c, conn *k, const char *method, const char *url) {
    srv_err e;
    srv_fail(&e, 413, "invalid_request_error", "request_too_large", NULL, "the request body is larger than the limit of %lld bytes",
             (long long)s->p.max_body_bytes);
    srv_log(s, "%s %.200s 413 %.1fms", method, url, (now_s() - k->t0) * 1e3);
    return send_json(c, 413, srv_err_json(&e));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    srv *s = cls;
    conn *k = *con_cls;
    if (!k) { /* headers only: a body announced as too large is refused before it is read */
        if (!(k = calloc(1, sizeof *k))) return MHD_NO;
        k->t0 = now_s();
        *con_cls = k;
        pthread_mutex_lock(&s->mu);
        s->inflight++;
        pthread_mutex_unlock(&s->mu);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > (unsigned long long)s->p.max_body_bytes) {
            k->too_large = true;
            return too_large(s, c, k, method, url);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (k->too_large) return MHD_YES;
        if (k->len + n > (size_t)s->p.max_body_bytes) { /* chunked bodies have no Content-Length */
            k->too_large = true;
            free(k->buf);
            k->buf = NULL;
            k->len = k->cap = 0;
            return MHD_YES;
        }
        if (k->len + n + 1 > k->cap) {
            size_t nc = (k->len + n + 1) * 2;
            if (nc > (size_t)s->p.max_body_bytes + 1) nc = (size_t)s->p.max_body_bytes + 1;
            char *nb = realloc(k->buf, nc);
            if (!nb) return MHD_NO;
            k->buf = nb;
            k->cap = nc;
        }
        memcpy(k->buf + k->len, upload, n);
        k->len += n;
        return MHD_YES;
    }
    if (k->too_large) return too_large(s, c, k, method, url);
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    int32_t status = 500;
    char *resp = NULL;
    srv_dispatch(s, method, url, auth, k->buf ? k->buf : "", k->len, &status, &resp);
    if (!resp) return MHD_NO;
    srv_log(s, "%s %.200s %d %.1fms", method, url, status, (now_s() - k->t0) * 1e3);
    return send_json(c, status, resp);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c; (void)toe;
    srv *s = cls;
    conn *k = *con_cls;
    if (k) {
        free(k->buf);
        free(k);
        pthread_mutex_lock(&s->mu);
        s->inflight--;
        pthread_cond_broadcast(&s->idle);
        pthread_mutex_unlock(&s->mu);
    }
    *con_cls = NULL;
}

gh_status gh_server_start(const gh_serve_params *p, gh_server **out) {
    *out = NULL;
    gh_serve_params d = p ? *p : gh_serve_default_params();
    gh_serve_params def = gh_serve_default_params();
    if (!d.host || !d.host[0]) d.host = def.host;
    if (d.port < 0 || d.port > 65535) return gh_error(GH_ERR_INVALID_ARG, "port %d out of range [0, 65535]", d.port);
    if (d.n_slots <= 0) d.n_slots = def.n_slots;
    if (d.max_body_bytes <= 0) d.max_body_bytes = def.max_body_bytes;
    if (d.max_n <= 0) d.max_n = def.max_n;
    if (d.max_inputs <= 0) d.max_inputs = def.max_inputs;
    if (d.max_connections <= 0) d.max_connections = def.max_connections;
    if (d.max_queued <= 0) d.max_queued = def.max_queued;
    if (d.timeout_s <= 0) d.timeout_s = def.timeout_s;
    if (d.n_slots > 4096) return gh_error(GH_ERR_INVALID_ARG, "%d slots is more than 4096", d.n_slots);
    /* a request's samples other than the last need a slot beside the one its
     * prompt was read into: with one slot, n >= 2 would wait forever */
    if (d.n_slots < 2) return gh_error(GH_ERR_INVALID_ARG, "%d slot is too few: the server needs at least 2", d.n_slots);
    srv *s = calloc(1, sizeof *s);
    if (!s) return gh_error(GH_ERR_NOMEM, "out of memory");
    s->p = d;
    snprintf(s->host, sizeof s->host, "%s", d.host);
    s->p.host = s->host;
    s->created = (int64_t)time(NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->idle, NULL);

    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port[16];
    snprintf(port, sizeof port, "%d", d.port);
    int rc = getaddrinfo(s->host, port, &hints, &ai);
    if (rc) {
        gh_status st = gh_error(GH_ERR_NETWORK, "cannot resolve the address to bind '%s': %s", s->host, gai_strerror(rc));
        pthread_cond_destroy(&s->idle);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return st;
    }
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    /* the logger first: libmicrohttpd warns (on stderr) about options before it */
    s->mhd = MHD_start_daemon(flags, (uint16_t)d.port, NULL, NULL, on_request, s,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, s,
                              MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned int)d.max_connections,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)d.timeout_s,
                              MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->mhd) {
        gh_status st = gh_error(GH_ERR_NETWORK, "cannot listen on %s port %d (in use, or not an address of this machine?)", s->host, d.port);
        pthread_cond_destroy(&s->idle);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return st;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : d.port;
    *out = s;
    return GH_OK;
}

int32_t gh_server_port(const gh_server *s) { return s->port; }

/* The model name: the file name without directories and ".gguf". */
static void default_name(const char *ref, char *buf, size_t n) {
    const char *b = strrchr(ref, '/');
    b = b ? b + 1 : ref;
    snprintf(buf, n, "%s", b);
    size_t L = strlen(buf);
    if (L > 5 && !strcmp(buf + L - 5, ".gguf")) buf[L - 5] = '\0';
}

static gh_status attach(gh_server *s, gh_backend *b, bool own) {
    gh_model *m = gh_backend_model(b);
    if (!m) return gh_error(GH_ERR_UNSUPPORTED, "%s: goodhart serve needs a local GGUF model", gh_backend_ref(b));
    const gh_model_info *I = gh_model_get_info(m);
    int32_t n_ctx = s->p.n_ctx > 0 ? s->p.n_ctx : (I->n_ctx_train < 4096 ? I->n_ctx_train : 4096);
    if (n_ctx > I->n_ctx_train)
        return gh_error(GH_ERR_INVALID_ARG, "a context of %d positions is more than the model's %d", n_ctx, I->n_ctx_train);
    pthread_mutex_lock(&s->mu);
    bool busy = s->b != NULL;
    pthread_mutex_unlock(&s->mu);
    if (busy) return gh_error(GH_ERR_INVALID_ARG, "the server already serves a model");
    /* the file's hash for /v1/models (probes and reward heads check it),
     * computed now, while the server still answers 503 model_loading, not
     * on a client's first request */
    (void)gh_model_sha256(m);
    sched *sc;
    gh_status st = sched_init(b, s->p.n_slots, n_ctx, s->p.max_queued, &sc);
    if (st) return st;
    pthread_mutex_lock(&s->mu);
    s->b = b;
    s->own_backend = own;
    s->m = m;
    s->tok = gh_model_tokenizer(m);
    s->n_ctx = n_ctx;
    s->sc = sc;
    if (s->p.model_name && s->p.model_name[0]) snprintf(s->model_name, sizeof s->model_name, "%s", s->p.model_name);
    else default_name(gh_backend_ref(b), s->model_name, sizeof s->model_name);
    s->ready = true;
    pthread_mutex_unlock(&s->mu);
    srv_log(s, "serving %s as '%s' (context %d, %d slots)", gh_backend_ref(b), s->model_name, n_ctx, s->p.n_slots);
    return GH_OK;
}

gh_status gh_server_attach(gh_server *s, gh_backend *b) { return attach(s, b, false); }

gh_status gh_server_load(gh_server *s, const char *ref, const gh_backend_params *bp) {
    gh_backend *b;
    gh_status st = gh_backend_open(ref, bp, &b);
    if (st) return st;
    if ((st = attach(s, b, true))) gh_backend_free(b);
    return st;
}

void gh_server_stop(gh_server *s) {
    if (!s) return;
    /* 1: no new work; queued and running requests are answered 503 */
    if (s->sc) sched_stop(s->sc);
    /* 2: those answers are sent before the connections close (at most 5 s) */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&s->mu);
    while (s->inflight > 0 && pthread_cond_timedwait(&s->idle, &s->mu, &until) == 0) {}
    pthread_mutex_unlock(&s->mu);
    /* 3: every connection thread has returned */
    MHD_stop_daemon(s->mhd);
    /* 4: nothing refers to the model any more */
    sched_free(s->sc);
    if (s->own_backend) gh_backend_free(s->b);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

gh_status gh_server_handle(gh_server *s, const char *method, const char *path, const char *auth, const char *body,
                           size_t len, int32_t *status, char **response) {
    *response = NULL;
    srv_dispatch(s, method ? method : "GET", path ? path : "/", auth, body ? body : "", len, status, response);
    if (!*response) return gh_error(GH_ERR_NOMEM, "out of memory");
    return GH_OK;
}
