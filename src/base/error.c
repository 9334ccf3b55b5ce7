/* error.c — the thread-local "last error" message behind gh_error()/gh_last_error().
 * Library code never prints; it records one precise sentence here and returns a
 * status, and each layer that knows more (the file name, the record number) adds
 * a prefix on the way up. */
#include "goodhart/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char g_msg[1024];

const char *gh_last_error(void) { return g_msg; }

void gh_clear_error(void) { g_msg[0] = '\0'; }

const char *gh_status_str(gh_status s) {
    switch (s) {
    case GH_OK: return "ok";
    case GH_ERR_IO: return "I/O error";
    case GH_ERR_FORMAT: return "format error";
    case GH_ERR_UNSUPPORTED: return "unsupported";
    case GH_ERR_INVALID_ARG: return "invalid argument";
    case GH_ERR_NOMEM: return "out of memory";
    case GH_ERR_LIMIT: return "limit reached";
    case GH_ERR_MISMATCH: return "mismatch";
    case GH_ERR_NETWORK: return "network error";
    case GH_ERR_CONTEXT: return "context full";
    }
    return "unknown status";
}

gh_status gh_error(gh_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return s;
}

void gh_error_prefix(const char *fmt, ...) {
    char prefix[512], old[sizeof g_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_msg, sizeof old);
    /* the message is cut rather than overflowed if the two do not fit */
    size_t n = strlen(prefix);
    if (n > sizeof g_msg - 3) n = sizeof g_msg - 3;
    memcpy(g_msg, prefix, n);
    memcpy(g_msg + n, ": ", 2);
    size_t room = sizeof g_msg - n - 3, m = strlen(old);
    if (m > room) m = room;
    memcpy(g_msg + n + 2, old, m);
    g_msg[n + 2 + m] = '\0';
}
