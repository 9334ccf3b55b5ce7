/* utf8.c — see utf8.h. Tokens can cut a character in two; output that goes
 * into JSON must still be valid UTF-8, so broken bytes become U+FFFD there
 * (the token ids keep the exact bytes). */
#include "base/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t gh_utf8_decode(const char *str, size_t n, uint32_t *cp_out) {
    const unsigned char *s = (const unsigned char *)str;
    if (n == 0) return 0;
    unsigned char c = s[0];
    if (c < 0x80) { if (cp_out) *cp_out = c; return 1; }
    size_t len;
    uint32_t min;
    if ((c & 0xE0) == 0xC0) { len = 2; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; min = 0x10000; }
    else return 0;
    if (len > n) return 0;
    uint32_t cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    if (cp_out) *cp_out = cp;
    return len;
}

long gh_utf8_invalid_offset(const char *s, size_t len) {
    for (size_t i = 0; i < len;) {
        size_t k = gh_utf8_decode(s + i, len - i, NULL);
        if (!k) return (long)i;
        i += k;
    }
    return -1;
}

char *gh_utf8_sanitize(const char *s, size_t len) {
    char *out = malloc(len * 3 + 1);
    if (!out) return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < len) {
        size_t k = gh_utf8_decode((const char *)p + i, len - i, NULL);
        if (k == 0) { memcpy(out + o, "\xEF\xBF\xBD", 3); o += 3; i++; }
        else { memcpy(out + o, p + i, k); o += k; i += k; }
    }
    out[o] = '\0';
    return out;
}
