/* http_client.c — the request engine under the HTTP backend: libcurl's multi
 * interface, a bound on requests in flight, timeouts, retries with backoff,
 * and the response cache (see http_internal.h for the contract).
 *
 * One gh_http_run call drives its own batch on a multi handle taken from the
 * client's pool (a multi handle keeps its connections open between batches,
 * so a run of calls reuses them). The bound on requests in flight is the
 * client's, shared by every thread: a request starts only when it gets one of
 * max_inflight slots, and gives it back when its attempt ends, so a request
 * waiting to be retried holds no slot.
 *
 * Retries: attempt k (k = 1, 2, ...) after a failure waits a uniformly random
 * time in [d/2, d] with d = min(base * 2^(k-1), max) ("equal jitter", so that
 * many clients failing together do not come back together), or the server's
 * Retry-After if that is longer. Retried: 408, 429, any 5xx, and transport
 * failures (connection refused or reset, timeouts, an empty or cut answer). A
 * 4xx other than 408/429 is the request's fault and is not retried. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "backend/http_internal.h"
#include "base/rng.h"

#define MAX_RESPONSE_BYTES ((size_t)1 << 30) /* an answer larger than 1 GiB is refused */
#define POOL_MAX 16

struct gh_http_client {
    gh_http_opts o;
    char *auth;        /* "Authorization: Bearer KEY" or NULL */
    gh_http_cache *cache;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when a slot is given back */
    int32_t inflight;
    int64_t sent;
    gh_rng rng;        /* jitter */
    CURLM *pool[POOL_MAX];
    int32_t n_pool;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init_once(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

gh_http_opts gh_http_default_opts(void) {
    gh_http_opts o = {0};
    o.max_inflight = 8;
    o.timeout_s = 600;
    o.max_retries = 6;
    o.backoff_base_s = 0.25;
    o.backoff_max_s = 30;
    o.retry_after_max_s = 300;
    return o;
}

gh_status gh_http_client_init(const gh_http_opts *o, gh_http_client **out) {
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return gh_error(GH_ERR_NETWORK, "libcurl could not be initialised: %s", curl_easy_strerror(curl_init_rc));
    gh_http_client *c = calloc(1, sizeof *c);
    if (!c) return gh_error(GH_ERR_NOMEM, "out of memory");
    c->o = o ? *o : gh_http_default_opts();
    if (c->o.max_inflight < 1) c->o.max_inflight = 1;
    if (c->o.timeout_s <= 0) c->o.timeout_s = 600;
    if (c->o.max_retries < 0) c->o.max_retries = 0;
    if (c->o.backoff_base_s <= 0) c->o.backoff_base_s = 0.25;
    if (c->o.backoff_max_s <= 0) c->o.backoff_max_s = 30;
    if (c->o.retry_after_max_s <= 0) c->o.retry_after_max_s = 300;
    c->o.cache_path = NULL; /* not kept: the path belongs to the caller */
    c->o.api_key = NULL;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    gh_rng_seed(&c->rng, (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20), (uint64_t)getpid());
    if (o && o->api_key && *o->api_key) {
        size_t n = strlen(o->api_key) + 32;
        c->auth = malloc(n);
        if (!c->auth) { gh_http_client_free(c); return gh_error(GH_ERR_NOMEM, "out of memory"); }
        snprintf(c->auth, n, "Authorization: Bearer %s", o->api_key);
    }
    if (o && o->cache_path) {
        gh_status s = gh_http_cache_open(o->cache_path, &c->cache);
        if (s) { gh_http_client_free(c); return s; }
    }
    *out = c;
    return GH_OK;
}

void gh_http_client_free(gh_http_client *c) {
    if (!c) return;
    for (int32_t i = 0; i < c->n_pool; i++) curl_multi_cleanup(c->pool[i]);
    gh_http_cache_close(c->cache);
    if (c->auth) {
        memset(c->auth, 0, strlen(c->auth)); /* the key does not linger in freed memory */
        free(c->auth);
    }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

int64_t gh_http_client_sent(gh_http_client *c) {
    pthread_mutex_lock(&c->mu);
    int64_t n = c->sent;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void gh_http_req_clear(gh_http_req *r) {
    free(r->resp);
    free(r->err);
    r->resp = NULL;
    r->err = NULL;
    r->resp_len = 0;
}

/* ---- the server's error message ---- */

static void copy_trunc(char *out, size_t cap, const char *s, size_t n) {
    if (!cap) return;
    if (n >= cap) n = cap - 1;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) out[j++] = (s[i] == '\n' || s[i] == '\r') ? ' ' : s[i];
    out[j] = '\0';
}

void gh_http_error_message(const char *body, char *out, size_t cap) {
    if (!cap) return;
    out[0] = '\0';
    if (!body || !*body) { copy_trunc(out, cap, "(empty answer)", 14); return; }
    cJSON *j = cJSON_Parse(body);
    const char *msg = NULL;
    if (j) {
        cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
        cJSON *m = NULL;
        if (cJSON_IsObject(e)) m = cJSON_GetObjectItemCaseSensitive(e, "message");
        else if (cJSON_IsString(e)) m = e;
        if (!cJSON_IsString(m)) m = cJSON_GetObjectItemCaseSensitive(j, "message");
        if (!cJSON_IsString(m)) m = cJSON_GetObjectItemCaseSensitive(j, "detail");
        if (cJSON_IsArray(m)) { /* FastAPI validation errors: [{"msg": ...}, ...] */
            cJSON *first = cJSON_GetArrayItem(m, 0);
            m = first ? cJSON_GetObjectItemCaseSensitive(first, "msg") : NULL;
        }
        if (cJSON_IsString(m)) msg = m->valuestring;
    }
    if (msg) copy_trunc(out, cap, msg, strlen(msg));
    else {
        size_t n = strlen(body);
        copy_trunc(out, cap < 301 ? cap : 301, body, n);
    }
    cJSON_Delete(j);
}

/* ---- one batch ---- */

typedef struct rstate {
    gh_http_req *r;
    CURL *e;
    struct curl_slist *hdr;
    char *buf;
    size_t len, cap;
    bool too_big;
    char errbuf[CURL_ERROR_SIZE];
    double start_at;
    bool running, done;
} rstate;

static size_t on_data(char *p, size_t sz, size_t nm, void *user) {
    rstate *st = user;
    size_t n = sz * nm;
    if (st->len + n + 1 > MAX_RESPONSE_BYTES) { st->too_big = true; return 0; }
    if (st->len + n + 1 > st->cap) {
        size_t nc = st->cap ? st->cap : 4096;
        while (nc < st->len + n + 1) nc *= 2;
        char *nb = realloc(st->buf, nc);
        if (!nb) { st->too_big = true; return 0; }
        st->buf = nb;
        st->cap = nc;
    }
    memcpy(st->buf + st->len, p, n);
    st->len += n;
    st->buf[st->len] = '\0';
    return n;
}

static bool take_slot(gh_http_client *c) {
    pthread_mutex_lock(&c->mu);
    bool ok = c->inflight < c->o.max_inflight;
    if (ok) { c->inflight++; c->sent++; }
    pthread_mutex_unlock(&c->mu);
    return ok;
}

static void give_slot(gh_http_client *c) {
    pthread_mutex_lock(&c->mu);
    c->inflight--;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void wait_slot(gh_http_client *c, double max_s) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ns = ts.tv_nsec + (long)(max_s * 1e9);
    ts.tv_sec += ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    pthread_mutex_lock(&c->mu);
    if (c->inflight >= c->o.max_inflight) pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    pthread_mutex_unlock(&c->mu);
}

static CURLM *take_multi(gh_http_client *c) {
    CURLM *m = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->n_pool > 0) m = c->pool[--c->n_pool];
    pthread_mutex_unlock(&c->mu);
    return m ? m : curl_multi_init();
}

static void give_multi(gh_http_client *c, CURLM *m) {
    pthread_mutex_lock(&c->mu);
    if (c->n_pool < POOL_MAX) { c->pool[c->n_pool++] = m; m = NULL; }
    pthread_mutex_unlock(&c->mu);
    if (m) curl_multi_cleanup(m);
}

static double jitter_delay(gh_http_client *c, int32_t attempt) {
    double d = c->o.backoff_base_s;
    for (int32_t k = 1; k < attempt && d < c->o.backoff_max_s; k++) d *= 2;
    if (d > c->o.backoff_max_s) d = c->o.backoff_max_s;
    pthread_mutex_lock(&c->mu);
    double u = gh_rng_uniform(&c->rng);
    pthread_mutex_unlock(&c->mu);
    return d * (0.5 + 0.5 * u);
}

static bool retryable_transport(CURLcode rc) {
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

/* Sets r->err (and r->st) to "METHOD URL: what (after N attempts)". */
static void fail_req(gh_http_req *r, gh_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_req(gh_http_req *r, gh_status st, const char *fmt, ...) {
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    char tail[64] = "";
    if (r->attempts > 1) snprintf(tail, sizeof tail, " (after %d attempts)", r->attempts);
    size_t n = strlen(r->method) + strlen(r->url) + strlen(what) + strlen(tail) + 8;
    free(r->err);
    r->err = malloc(n);
    if (r->err) snprintf(r->err, n, "%s %s: %s%s", r->method, r->url, what, tail);
    r->st = st;
}

static bool start_attempt(gh_http_client *c, CURLM *m, rstate *st) {
    gh_http_req *r = st->r;
    st->len = 0;
    st->too_big = false;
    st->errbuf[0] = '\0';
    if (st->buf) st->buf[0] = '\0';
    st->e = curl_easy_init();
    st->hdr = NULL;
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    if (h) h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip for large bodies */
    if (h && r->body) h = curl_slist_append(h, "Content-Type: application/json");
    if (h && c->auth) h = curl_slist_append(h, c->auth);
    st->hdr = h;
    if (!st->e || !h) return false;
    CURL *e = st->e;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, st);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, st->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, st);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "goodhart/" GH_VERSION);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    long tmo = (long)(c->o.timeout_s * 1000.0 + 0.5);
    if (tmo < 1) tmo = 1;
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, tmo);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, tmo < 30000 ? tmo : 30000L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    if (r->body) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->body));
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }
    if (curl_multi_add_handle(m, e) != CURLM_OK) return false;
    st->running = true;
    r->attempts++;
    return true;
}

static void end_attempt(CURLM *m, rstate *st) {
    if (st->e) {
        curl_multi_remove_handle(m, st->e);
        curl_easy_cleanup(st->e);
    }
    curl_slist_free_all(st->hdr);
    st->e = NULL;
    st->hdr = NULL;
    st->running = false;
}

/* Decides what an ended attempt means: done (success or final failure) or a
 * retry at st->start_at. */
static void judge(gh_http_client *c, rstate *st, CURLcode rc, long code, curl_off_t retry_after, double now) {
    gh_http_req *r = st->r;
    r->status = code;
    if (rc == CURLE_OK && code >= 200 && code < 300) {
        free(r->resp);
        r->resp = st->buf ? st->buf : strdup("");
        r->resp_len = st->buf ? st->len : 0;
        st->buf = NULL;
        st->len = st->cap = 0;
        r->st = r->resp ? GH_OK : GH_ERR_NOMEM;
        if (!r->resp) fail_req(r, GH_ERR_NOMEM, "out of memory");
        else if (c->cache && !r->no_cache && gh_http_cache_put(c->cache, r->method, r->url, r->body, r->resp, r->resp_len))
            fail_req(r, GH_ERR_IO, "the answer could not be cached: %s", gh_last_error());
        st->done = true;
        return;
    }
    /* keep the error body for the message and for callers that look at it */
    free(r->resp);
    r->resp = st->buf;
    r->resp_len = st->len;
    st->buf = NULL;
    st->len = st->cap = 0;
    bool retry = rc == CURLE_OK ? (code == 408 || code == 429 || code >= 500) : retryable_transport(rc);
    if (st->too_big) retry = false;
    if (retry && r->attempts <= c->o.max_retries) {
        double d = jitter_delay(c, r->attempts);
        if (rc == CURLE_OK && retry_after > 0) {
            if ((double)retry_after > c->o.retry_after_max_s) {
                char msg[512];
                gh_http_error_message(r->resp, msg, sizeof msg);
                fail_req(r, GH_ERR_NETWORK, "HTTP %ld: %s; the server asks to retry after %lld s, longer than the %g s this client waits",
                         code, msg, (long long)retry_after, c->o.retry_after_max_s);
                st->done = true;
                return;
            }
            if ((double)retry_after > d) d = (double)retry_after;
        }
        st->start_at = now + d;
        return;
    }
    st->done = true;
    if (st->too_big) {
        fail_req(r, GH_ERR_LIMIT, "the answer is larger than %zu bytes", MAX_RESPONSE_BYTES);
    } else if (rc != CURLE_OK) {
        if (rc == CURLE_OPERATION_TIMEDOUT)
            fail_req(r, GH_ERR_NETWORK, "no complete answer within the %g s timeout (%s)", c->o.timeout_s,
                     st->errbuf[0] ? st->errbuf : curl_easy_strerror(rc));
        else
            fail_req(r, GH_ERR_NETWORK, "%s (%s)", curl_easy_strerror(rc), st->errbuf[0] ? st->errbuf : "no detail");
    } else {
        char msg[512];
        gh_http_error_message(r->resp, msg, sizeof msg);
        fail_req(r, GH_ERR_NETWORK, "HTTP %ld: %s", code, msg);
    }
}

gh_status gh_http_run(gh_http_client *c, gh_http_req *reqs, int32_t n) {
    if (n <= 0) return GH_OK;
    rstate *sts = calloc((size_t)n, sizeof *sts);
    if (!sts) return gh_error(GH_ERR_NOMEM, "out of memory");
    int32_t ndone = 0;
    for (int32_t i = 0; i < n; i++) {
        gh_http_req *r = &reqs[i];
        gh_http_req_clear(r);
        r->st = GH_OK;
        r->status = 0;
        r->cached = false;
        r->attempts = 0;
        sts[i].r = r;
        if (c->cache && !r->no_cache) {
            char *v = NULL;
            size_t len = 0;
            if (gh_http_cache_get(c->cache, r->method, r->url, r->body, &v, &len)) {
                fail_req(r, GH_ERR_IO, "the response cache could not be read: %s", gh_last_error());
                sts[i].done = true;
                ndone++;
            } else if (v) {
                r->resp = v;
                r->resp_len = len;
                r->cached = true;
                r->status = 200;
                sts[i].done = true;
                ndone++;
            }
        }
    }
    CURLM *m = ndone < n ? take_multi(c) : NULL;
    if (ndone < n && !m) {
        for (int32_t i = 0; i < n; i++)
            if (!sts[i].done) fail_req(sts[i].r, GH_ERR_NOMEM, "libcurl could not make a multi handle");
        ndone = n;
    }
    int32_t running = 0;
    while (ndone < n) {
        double now = mono_now();
        bool blocked = false; /* something is ready but no slot is free */
        for (int32_t i = 0; i < n; i++) {
            rstate *st = &sts[i];
            if (st->done || st->running || st->start_at > now) continue;
            if (!take_slot(c)) { blocked = true; break; }
            if (!start_attempt(c, m, st)) {
                end_attempt(m, st);
                give_slot(c);
                fail_req(st->r, GH_ERR_NOMEM, "libcurl could not set the request up");
                st->done = true;
                ndone++;
                continue;
            }
            running++;
        }
        int still = 0;
        curl_multi_perform(m, &still);
        CURLMsg *msg;
        int left;
        now = mono_now();
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            rstate *st = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&st);
            CURLcode rc = msg->data.result;
            long code = 0;
            curl_off_t ra = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RETRY_AFTER, &ra);
            end_attempt(m, st);
            give_slot(c);
            running--;
            judge(c, st, rc, code, ra, now);
            if (st->done) ndone++;
        }
        if (ndone == n) break;
        if (running > 0) {
            curl_multi_poll(m, NULL, 0, 100, NULL);
        } else {
            double next = 1e300;
            for (int32_t i = 0; i < n; i++)
                if (!sts[i].done && !sts[i].running && sts[i].start_at < next) next = sts[i].start_at;
            double wait = next - mono_now();
            if (blocked) wait_slot(c, 0.05);
            else if (wait > 0) {
                if (wait > 0.1) wait = 0.1;
                struct timespec ts = {0, (long)(wait * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
    }
    for (int32_t i = 0; i < n; i++) {
        end_attempt(m, &sts[i]);
        free(sts[i].buf);
    }
    if (m) give_multi(c, m);
    free(sts);
    for (int32_t i = 0; i < n; i++)
        if (reqs[i].st) return gh_error(reqs[i].st, "%s", reqs[i].err ? reqs[i].err : "request failed");
    return GH_OK;
}
