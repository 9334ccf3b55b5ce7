/* utf8.h — small UTF-8 helpers (internal and for the CLI). */
#ifndef GH_UTF8_H
#define GH_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* A malloc'd copy of s[0..len) in which every byte that is not part of a
 * well-formed UTF-8 sequence is replaced by U+FFFD, so it can go into JSON. */
char *gh_utf8_sanitize(const char *s, size_t len);

/* Length (1..4) of the well-formed UTF-8 sequence at s, reading at most n bytes,
 * with its code point in *cp (cp may be NULL); 0 if the bytes there are not one
 * (overlong forms, surrogates, code points past U+10FFFF and truncated
 * sequences are all ill-formed). A NUL byte never continues a sequence. */
size_t gh_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Offset of the first byte of s[0..len) that does not start a well-formed
 * sequence, or -1 if all of it is well-formed. */
long gh_utf8_invalid_offset(const char *s, size_t len);

#endif
