/* test_http_mock.h — a tiny scripted HTTP server (libmicrohttpd) for the HTTP
 * backend's tests: routes answer fixtures (tests/fixtures/openai/, written to documented shapes),
 * or a status with a Retry-After header, or hang; every request is logged
 * with its body, its arrival time and the Authorization header, and the
 * largest number of requests being handled at once is kept.
 *
 * A route matches on method, path and (optionally) a substring of the body;
 * the first matching route with uses left answers. Included by the test
 * programs only (static functions). */
#ifndef GH_TEST_HTTP_MOCK_H
#define GH_TEST_HTTP_MOCK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MOCK_MAX_ROUTES 32
#define MOCK_MAX_LOG 512

typedef struct mock_route {
    const char *method;    /* "GET"/"POST" (NULL: any) */
    const char *path;
    const char *body_has;  /* NULL: any body */
    int status;            /* default 200 */
    const char *file;      /* fixture under tests/fixtures/openai/ */
    const char *text;      /* or an inline body */
    const char *retry_after;
    int times;             /* uses left; 0 = unlimited */
    int hang_ms;           /* delay before answering */
    bool used_up;
} mock_route;

typedef struct mock_log {
    char method[8];
    char path[128];
    char *body;
    char auth[128];
    double t;
} mock_log;

typedef struct mock {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    mock_route routes[MOCK_MAX_ROUTES];
    int n_routes;
    mock_log log[MOCK_MAX_LOG];
    int n_log;
    int active, max_active;
    volatile int stopping;
} mock;

typedef struct mock_conn {
    char *body;
    size_t len;
} mock_conn;

static double mock_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void mock_route_add(mock *m, mock_route r) {
    pthread_mutex_lock(&m->mu);
    if (m->n_routes < MOCK_MAX_ROUTES) m->routes[m->n_routes++] = r;
    pthread_mutex_unlock(&m->mu);
}

static void mock_routes_clear(mock *m) {
    pthread_mutex_lock(&m->mu);
    m->n_routes = 0;
    pthread_mutex_unlock(&m->mu);
}

static int mock_count(mock *m, const char *path) {
    pthread_mutex_lock(&m->mu);
    int n = 0;
    for (int i = 0; i < m->n_log; i++)
        if (!path || !strcmp(m->log[i].path, path)) n++;
    pthread_mutex_unlock(&m->mu);
    return n;
}

static char *mock_fixture(const char *name, size_t *len) {
    char path[512];
    snprintf(path, sizeof path, "tests/fixtures/openai/%s", name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    if (b) b[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return b;
}

static enum MHD_Result mock_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                    const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    mock *m = cls;
    mock_conn *c = *con_cls;
    if (!c) {
        c = calloc(1, sizeof *c);
        *con_cls = c;
        return MHD_YES;
    }
    if (*upload_size) {
        c->body = realloc(c->body, c->len + *upload_size + 1);
        memcpy(c->body + c->len, upload, *upload_size);
        c->len += *upload_size;
        c->body[c->len] = '\0';
        *upload_size = 0;
        return MHD_YES;
    }
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    pthread_mutex_lock(&m->mu);
    if (m->n_log < MOCK_MAX_LOG) {
        mock_log *l = &m->log[m->n_log++];
        snprintf(l->method, sizeof l->method, "%s", method);
        snprintf(l->path, sizeof l->path, "%s", url);
        l->body = c->body ? strdup(c->body) : NULL;
        snprintf(l->auth, sizeof l->auth, "%s", auth ? auth : "");
        l->t = mock_now();
    }
    mock_route r = {0};
    bool found = false;
    for (int i = 0; i < m->n_routes && !found; i++) {
        mock_route *x = &m->routes[i];
        if (x->used_up || (x->method && strcmp(x->method, method)) || strcmp(x->path, url)) continue;
        if (x->body_has && (!c->body || !strstr(c->body, x->body_has))) continue;
        r = *x;
        found = true;
        if (x->times > 0 && --x->times == 0) x->used_up = true;
    }
    m->active++;
    if (m->active > m->max_active) m->max_active = m->active;
    pthread_mutex_unlock(&m->mu);
    for (int w = 0; w < r.hang_ms && !m->stopping; w += 5) usleep(5000);
    char *body = NULL;
    size_t len = 0;
    int status = found ? (r.status ? r.status : 200) : 404;
    if (!found) body = mock_fixture("not_found.json", &len);
    else if (r.file) body = mock_fixture(r.file, &len);
    else if (r.text) { body = strdup(r.text); len = strlen(body); }
    if (!body) { body = strdup("{}"); len = 2; }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (found && r.retry_after) MHD_add_response_header(resp, "Retry-After", r.retry_after);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    pthread_mutex_lock(&m->mu);
    m->active--;
    pthread_mutex_unlock(&m->mu);
    return ret;
}

static void mock_done(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode tc) {
    (void)cls; (void)conn; (void)tc;
    mock_conn *c = *con_cls;
    if (c) { free(c->body); free(c); }
    *con_cls = NULL;
}

/* Starts listening on 127.0.0.1:port (0: any free port); false on failure. */
static bool mock_start(mock *m, int port) {
    m->stopping = 0;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(0x7f000001);
    m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, (uint16_t)port,
                            NULL, NULL, mock_handler, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_NOTIFY_COMPLETED, mock_done, m,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!m->d) return false;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
    m->port = di ? di->port : port;
    return true;
}

static void mock_init(mock *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

static void mock_stop(mock *m) {
    if (!m->d) return;
    m->stopping = 1;
    MHD_stop_daemon(m->d);
    m->d = NULL;
}

static void mock_free(mock *m) {
    mock_stop(m);
    for (int i = 0; i < m->n_log; i++) free(m->log[i].body);
    pthread_mutex_destroy(&m->mu);
}

/* The URL of the mock's API base ("http://127.0.0.1:PORT/v1" + suffix). */
static const char *mock_url(const mock *m, const char *suffix) {
    static char buf[8][256];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, sizeof buf[0], "http://127.0.0.1:%d/v1%s", m->port, suffix ? suffix : "");
    return b;
}

#endif
