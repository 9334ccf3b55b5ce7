/* buf.c — the report's text buffer: growth, HTML/XML escaping with UTF-8 repair,
 * and number formatting that does not depend on the C locale (a program that
 * calls setlocale() must not get "0,5" in its SVG coordinates), so that the
 * same plot always gives the same bytes. */
#include "report/report_internal.h"

#include "base/utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gh_rbuf_free(gh_rbuf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

static bool reserve(gh_rbuf *b, size_t extra) {
    if (b->oom) return false;
    if (extra > SIZE_MAX / 2 - b->len) { b->oom = true; return false; }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return true;
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < need) nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np) { b->oom = true; return false; }
    b->p = np;
    b->cap = nc;
    return true;
}

void gh_rbuf_putn(gh_rbuf *b, const char *s, size_t n) {
    if (!reserve(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void gh_rbuf_put(gh_rbuf *b, const char *s) { gh_rbuf_putn(b, s, strlen(s)); }

void gh_rbuf_printf(gh_rbuf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) { b->oom = true; return; }
    if ((size_t)n < sizeof small) { gh_rbuf_putn(b, small, (size_t)n); return; }
    if (!reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

size_t gh_utf8_chars(const char *s) {
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp;
        size_t k = gh_utf8_decode((const char *)p, 4, &cp); /* a NUL ends a short sequence */
        p += k ? k : 1;
        n++;
    }
    return n;
}

void gh_rbuf_escape(gh_rbuf *b, const char *s, size_t max_chars) {
    if (!s) return;
    const unsigned char *p = (const unsigned char *)s;
    size_t total = max_chars ? gh_utf8_chars(s) : 0;
    size_t keep = (max_chars && total > max_chars) ? max_chars - 1 : (size_t)-1;
    size_t written = 0;
    while (*p && written < keep) {
        /* copy the longest run of bytes that need no change in one append */
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x80 && *p != '&' && *p != '<' && *p != '>' && *p != '"' &&
               *p != '\'' && written < keep) {
            p++;
            written++;
        }
        if (p > run) gh_rbuf_putn(b, (const char *)run, (size_t)(p - run));
        if (!*p || written >= keep) break;
        uint32_t cp;
        size_t k = gh_utf8_decode((const char *)p, 4, &cp); /* a NUL ends a short sequence */
        written++;
        if (k == 0) { gh_rbuf_put(b, "\xEF\xBF\xBD"); p++; continue; }
        switch (cp) {
        case '&': gh_rbuf_put(b, "&amp;"); break;
        case '<': gh_rbuf_put(b, "&lt;"); break;
        case '>': gh_rbuf_put(b, "&gt;"); break;
        case '"': gh_rbuf_put(b, "&quot;"); break;
        case '\'': gh_rbuf_put(b, "&#39;"); break;
        case '\t': case '\n': case '\r': gh_rbuf_putn(b, (const char *)p, 1); break;
        default:
            if (cp < 0x20 || cp == 0xFFFE || cp == 0xFFFF) gh_rbuf_put(b, "\xEF\xBF\xBD");
            else gh_rbuf_putn(b, (const char *)p, k);
        }
        p += k;
    }
    if (keep != (size_t)-1) gh_rbuf_put(b, "\xE2\x80\xA6"); /* … */
}

static const double k_pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6,
                                 1e7, 1e8, 1e9, 1e10, 1e11, 1e12};

/* Fixed-point through integers: llround is exact and independent of the locale. */
static bool put_fixed_int(gh_rbuf *b, double v, int d) {
    double s = v * k_pow10[d];
    if (!(fabs(s) < 9e15)) return false;
    long long q = llround(s);
    unsigned long long u = q < 0 ? (unsigned long long)(-q) : (unsigned long long)q;
    unsigned long long p = (unsigned long long)k_pow10[d];
    if (q < 0) gh_rbuf_put(b, "-");
    gh_rbuf_printf(b, "%llu", u / p);
    if (d > 0) gh_rbuf_printf(b, ".%0*llu", d, u % p);
    return true;
}

void gh_rbuf_fixed(gh_rbuf *b, double v, int decimals) {
    if (decimals < 0) decimals = 0;
    if (decimals > 12) decimals = 12;
    if (!isfinite(v)) v = 0;
    if (put_fixed_int(b, v, decimals)) return;
    /* too large for fixed notation: mantissa with three decimals and exponent */
    int e = (int)floor(log10(fabs(v)));
    double m = v / pow(10.0, e);
    if (fabs(m) >= 9.9995) { m /= 10; e++; }
    put_fixed_int(b, m, 3);
    gh_rbuf_printf(b, "e%d", e);
}
