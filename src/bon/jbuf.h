/* jbuf.h — JSON values appended to a gh_strbuf, for the Best-of-N files (the
 * run store's entries, candidates.jsonl). */
#ifndef GH_BON_JBUF_H
#define GH_BON_JBUF_H

#include "base/strbuf.h"

/* A JSON string literal: quotes, escapes; invalid UTF-8 bytes become U+FFFD. */
void jb_str(gh_strbuf *b, const char *s);
/* A JSON number with 17 significant digits (round-trips a double); null if not finite. */
void jb_num(gh_strbuf *b, double v);
/* A float with 9 significant digits (round-trips a float32). */
void jb_f32(gh_strbuf *b, float v);

#endif
