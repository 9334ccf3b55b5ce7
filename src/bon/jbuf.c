/* jbuf.c — see jbuf.h. */
#include "bon/jbuf.h"

#include "base/utf8.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jb_free(jbuf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static bool grow(jbuf *b, size_t extra) {
    if (b->oom) return false;
    if (b->len + extra + 1 <= b->cap) return true;
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->len + extra + 1) nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np) { b->oom = true; return false; }
    b->p = np;
    b->cap = nc;
    return true;
}

void jb_putn(jbuf *b, const char *s, size_t n) {
    if (!grow(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void jb_put(jbuf *b, const char *s) { jb_putn(b, s, strlen(s)); }

void jb_printf(jbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !grow(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void jb_str(jbuf *b, const char *s) {
    jb_putn(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') { char e[2] = {'\\', (char)c}; jb_putn(b, e, 2); p++; }
        else if (c == '\n') { jb_putn(b, "\\n", 2); p++; }
        else if (c == '\t') { jb_putn(b, "\\t", 2); p++; }
        else if (c == '\r') { jb_putn(b, "\\r", 2); p++; }
        else if (c < 0x20) { jb_printf(b, "\\u%04x", c); p++; }
        else {
            size_t n = gh_utf8_decode((const char *)p, 4, NULL); /* a NUL ends a short sequence */
            if (n) { jb_putn(b, (const char *)p, n); p += n; }
            else { jb_put(b, "\xEF\xBF\xBD"); p++; }
        }
    }
    jb_putn(b, "\"", 1);
}

void jb_num(jbuf *b, double v) {
    if (!isfinite(v)) { jb_put(b, "null"); return; }
    jb_printf(b, "%.17g", v);
}

void jb_f32(jbuf *b, float v) {
    if (!isfinite(v)) { jb_put(b, "null"); return; }
    jb_printf(b, "%.9g", (double)v);
}
