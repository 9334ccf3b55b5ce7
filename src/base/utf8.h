/* utf8.h — small UTF-8 helpers (internal and for the CLI). */
#ifndef GH_UTF8_H
#define GH_UTF8_H

#include <stddef.h>

/* A malloc'd copy of s[0..len) in which every byte that is not part of a
 * well-formed UTF-8 sequence is replaced by U+FFFD, so it can go into JSON. */
char *gh_utf8_sanitize(const char *s, size_t len);

#endif
