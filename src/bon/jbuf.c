/* jbuf.c — see jbuf.h. */
#include "bon/jbuf.h"

#include "base/utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jb_str(gh_strbuf *b, const char *s) {
    gh_strbuf_putn(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') { char e[2] = {'\\', (char)c}; gh_strbuf_putn(b, e, 2); p++; }
        else if (c == '\n') { gh_strbuf_putn(b, "\\n", 2); p++; }
        else if (c == '\t') { gh_strbuf_putn(b, "\\t", 2); p++; }
        else if (c == '\r') { gh_strbuf_putn(b, "\\r", 2); p++; }
        else if (c < 0x20) { gh_strbuf_printf(b, "\\u%04x", c); p++; }
        else {
            size_t n = gh_utf8_decode((const char *)p, 4, NULL); /* a NUL ends a short sequence */
            if (n) { gh_strbuf_putn(b, (const char *)p, n); p += n; }
            else { gh_strbuf_put(b, "\xEF\xBF\xBD"); p++; }
        }
    }
    gh_strbuf_putn(b, "\"", 1);
}

void jb_num(gh_strbuf *b, double v) {
    if (!isfinite(v)) { gh_strbuf_put(b, "null"); return; }
    gh_strbuf_printf(b, "%.17g", v);
}

void jb_f32(gh_strbuf *b, float v) {
    if (!isfinite(v)) { gh_strbuf_put(b, "null"); return; }
    gh_strbuf_printf(b, "%.9g", (double)v);
}
