/* http_cache.c — the HTTP backend's persistent response cache.
 *
 * A thin layer over the run store (goodhart/store.h): one SQLite file in WAL
 * mode, namespace "http", key = SHA-256 of ("ghhttp1", method, URL, body) —
 * the exact request, so any change in model name, prompt, sampling settings or
 * seed is a different entry — and value = the server's answer as received.
 * Only successful (2xx) answers are stored. The store gives the guarantees the
 * cache needs: a put is a committed transaction before it returns (survives
 * kill -9), several processes may write the same file at once (SQLite's lock
 * with a busy timeout serialises them), and one handle may be shared by the
 * threads of a client. The API key is not part of the key: a different key
 * does not change what a model answers. */
#include <stdlib.h>

#include "backend/http_internal.h"
#include "goodhart/store.h"

struct gh_http_cache {
    gh_store *st;
};

#define CACHE_NS "http"

static gh_status cache_key(char key[65], const char *method, const char *url, const char *body) {
    const char *parts[4] = {"ghhttp1", method, url, body ? body : ""};
    return gh_store_key_parts(key, 4, parts);
}

gh_status gh_http_cache_open(const char *path, gh_http_cache **out) {
    *out = NULL;
    gh_http_cache *c = calloc(1, sizeof *c);
    if (!c) return gh_error(GH_ERR_NOMEM, "out of memory");
    gh_status s = gh_store_open(path, &c->st);
    if (s) {
        free(c);
        gh_error_prefix("HTTP response cache");
        return s;
    }
    *out = c;
    return GH_OK;
}

void gh_http_cache_close(gh_http_cache *c) {
    if (!c) return;
    gh_store_close(c->st);
    free(c);
}

gh_status gh_http_cache_get(gh_http_cache *c, const char *method, const char *url, const char *body,
                            char **resp, size_t *len) {
    *resp = NULL;
    if (len) *len = 0;
    char key[65];
    gh_status s = cache_key(key, method, url, body);
    if (s) return s;
    void *v = NULL;
    s = gh_store_get(c->st, CACHE_NS, key, &v, len);
    if (s) return s;
    *resp = v;
    return GH_OK;
}

gh_status gh_http_cache_put(gh_http_cache *c, const char *method, const char *url, const char *body,
                            const char *resp, size_t len) {
    char key[65];
    gh_status s = cache_key(key, method, url, body);
    if (s) return s;
    return gh_store_put(c->st, CACHE_NS, key, resp, len);
}

gh_status gh_http_cache_count(gh_http_cache *c, int64_t *n) { return gh_store_count(c->st, CACHE_NS, n); }
