/* jbuf.h — a growable text buffer for writing JSON and CSV lines in the Best-of-N
 * files (the run store's entries, candidates.jsonl, curves.csv). An allocation
 * failure sets `oom` and later appends are ignored: check once at the end. */
#ifndef GH_BON_JBUF_H
#define GH_BON_JBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct jbuf {
    char *p;
    size_t len, cap;
    bool oom;
} jbuf;

void jb_free(jbuf *b);
void jb_putn(jbuf *b, const char *s, size_t n);
void jb_put(jbuf *b, const char *s);
void jb_printf(jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal: quotes, escapes; invalid UTF-8 bytes become U+FFFD. */
void jb_str(jbuf *b, const char *s);
/* A JSON number with 17 significant digits (round-trips a double); null if not finite. */
void jb_num(jbuf *b, double v);
/* A float with 9 significant digits (round-trips a float32). */
void jb_f32(jbuf *b, float v);

#endif
