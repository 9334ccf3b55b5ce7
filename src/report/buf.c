/* buf.c — the report's text: HTML/XML escaping with UTF-8 repair,
 * and number formatting that does not depend on the C locale (a program that
 * calls setlocale() must not get "0,5" in its SVG coordinates), so that the
 * same plot always gives the same bytes. */
#include "report/report_internal.h"

#include "base/utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void gh_rbuf_escape(gh_strbuf *b, const char *s, size_t max_chars) {
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
        if (p > run) gh_strbuf_putn(b, (const char *)run, (size_t)(p - run));
        if (!*p || written >= keep) break;
        uint32_t cp;
        size_t k = gh_utf8_decode((const char *)p, 4, &cp); /* a NUL ends a short sequence */
        written++;
        if (k == 0) { gh_strbuf_put(b, "\xEF\xBF\xBD"); p++; continue; }
        switch (cp) {
        case '&': gh_strbuf_put(b, "&amp;"); break;
        case '<': gh_strbuf_put(b, "&lt;"); break;
        case '>': gh_strbuf_put(b, "&gt;"); break;
        case '"': gh_strbuf_put(b, "&quot;"); break;
        case '\'': gh_strbuf_put(b, "&#39;"); break;
        case '\t': case '\n': case '\r': gh_strbuf_putn(b, (const char *)p, 1); break;
        default:
            if (cp < 0x20 || cp == 0xFFFE || cp == 0xFFFF) gh_strbuf_put(b, "\xEF\xBF\xBD");
            else gh_strbuf_putn(b, (const char *)p, k);
        }
        p += k;
    }
    if (keep != (size_t)-1) gh_strbuf_put(b, "\xE2\x80\xA6"); /* … */
}

static const double k_pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6,
                                 1e7, 1e8, 1e9, 1e10, 1e11, 1e12};

/* Fixed-point through integers: llround is exact and independent of the locale. */
static bool put_fixed_int(gh_strbuf *b, double v, int d) {
    double s = v * k_pow10[d];
    if (!(fabs(s) < 9e15)) return false;
    long long q = llround(s);
    unsigned long long u = q < 0 ? (unsigned long long)(-q) : (unsigned long long)q;
    unsigned long long p = (unsigned long long)k_pow10[d];
    if (q < 0) gh_strbuf_put(b, "-");
    gh_strbuf_printf(b, "%llu", u / p);
    if (d > 0) gh_strbuf_printf(b, ".%0*llu", d, u % p);
    return true;
}

void gh_rbuf_fixed(gh_strbuf *b, double v, int decimals) {
    if (decimals < 0) decimals = 0;
    if (decimals > 12) decimals = 12;
    if (!isfinite(v)) v = 0;
    if (put_fixed_int(b, v, decimals)) return;
    /* too large for fixed notation: mantissa with three decimals and exponent */
    int e = (int)floor(log10(fabs(v)));
    double m = v / pow(10.0, e);
    if (fabs(m) >= 9.9995) { m /= 10; e++; }
    put_fixed_int(b, m, 3);
    gh_strbuf_printf(b, "e%d", e);
}
