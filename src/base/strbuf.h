/* strbuf.h — a growable NUL-terminated text buffer, for code that builds files
 * piece by piece (the report's HTML and SVG, the Best-of-N JSON Lines and CSV).
 * An allocation failure sets `oom` and every later append is ignored, so
 * builders append freely and check once at the end. */
#ifndef GH_BASE_STRBUF_H
#define GH_BASE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct gh_strbuf {
    char *p;
    size_t len, cap;
    bool oom;
} gh_strbuf;

void gh_strbuf_free(gh_strbuf *b);
void gh_strbuf_putn(gh_strbuf *b, const char *s, size_t n);
void gh_strbuf_put(gh_strbuf *b, const char *s);
/* printf-style. Doubles are formatted by the C locale: callers that need
 * locale-independent output format numbers themselves. */
void gh_strbuf_printf(gh_strbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
