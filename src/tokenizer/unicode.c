/* unicode.c — the Unicode facts the tokenizers need: UTF-8 decoding that never
 * fails (invalid bytes come back one at a time as TOK_CP_INVALID), GPT-2's
 * byte-to-unicode alphabet, Unicode normalization, and BERT's character classes.
 * Categories, decomposition and case come from utf8proc.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "base/utf8.h"
#include "tokenizer/tok_internal.h"

uint32_t tok_utf8_decode(const char *s, size_t len, uint32_t *cp) {
    /* an ill-formed byte is consumed alone as TOK_CP_INVALID */
    size_t n = gh_utf8_decode(s, len, cp);
    if (!n) { *cp = TOK_CP_INVALID; return 1; }
    return (uint32_t)n;
}

int tok_utf8_encode(uint32_t cp, char *out) {
    uint8_t *o = (uint8_t *)out;
    if (cp < 0x80) { o[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { o[0] = (uint8_t)(0xC0 | (cp >> 6)); o[1] = (uint8_t)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12)); o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18)); o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* GPT-2 maps every byte to a printable code point so that BPE can work on
 * text: the bytes that are already printable Latin-1 ('!'..'~', '¡'..'¬',
 * '®'..'ÿ') stand for themselves, the other 68 take U+0100, U+0101, ... in
 * byte order. Tables are built once (pthread_once: safe from any thread). */
static char g_b2u[256][3];
static int16_t g_u2b[256 + 68];
static pthread_once_t g_b2u_once = PTHREAD_ONCE_INIT;

static bool b2u_printable(int b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

static void b2u_init(void) {
    int next = 256;
    for (int i = 0; i < 256 + 68; i++) g_u2b[i] = -1;
    for (int b = 0; b < 256; b++) {
        uint32_t cp = b2u_printable(b) ? (uint32_t)b : (uint32_t)next++;
        int n = tok_utf8_encode(cp, g_b2u[b]);
        g_b2u[b][n] = 0;
        g_u2b[cp] = (int16_t)b;
    }
}

const char *tok_byte_to_unicode(uint8_t b) {
    pthread_once(&g_b2u_once, b2u_init);
    return g_b2u[b];
}

int tok_unicode_to_byte(uint32_t cp) {
    pthread_once(&g_b2u_once, b2u_init);
    if (cp >= 256 + 68) return -1;
    return g_u2b[cp];
}

gh_status tok_normalize(tok_norm norm, const char *text, size_t len, char **out, size_t *out_len) {
    utf8proc_option_t opt = UTF8PROC_STABLE;
    switch (norm) {
    case TOK_NORM_NFC: opt |= UTF8PROC_COMPOSE; break;
    case TOK_NORM_NFD: opt |= UTF8PROC_DECOMPOSE; break;
    case TOK_NORM_NFKC: opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case TOK_NORM_NFKD: opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    default: break;
    }
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = -1;
    if (norm != TOK_NORM_NONE && len < (size_t)(SIZE_MAX / 8))
        r = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &dst, opt);
    if (r < 0) {
        /* no normalization asked, or invalid UTF-8: keep the bytes as they are
         * (the algorithms deal with invalid bytes themselves) */
        if (r == UTF8PROC_ERROR_NOMEM) return gh_error(GH_ERR_NOMEM, "tokenizer: out of memory normalizing text");
        char *c = malloc(len + 1);
        if (!c) return gh_error(GH_ERR_NOMEM, "tokenizer: out of memory normalizing text");
        memcpy(c, text, len);
        c[len] = 0;
        *out = c;
        *out_len = len;
        return GH_OK;
    }
    *out = (char *)dst;
    *out_len = (size_t)r;
    return GH_OK;
}

/* Rust's char::is_whitespace (the White_Space property), which Hugging Face's
 * BERT normalizer and pre-tokenizer use. */
bool tok_is_bert_whitespace(uint32_t cp) {
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cp == 0xA0 || cp == 0x1680) return true;
    if (cp >= 0x2000 && cp <= 0x200A) return true;
    return cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* "Other" categories (Cc, Cf, Cs, Co, Cn) except tab/newline/return, which BERT
 * counts as whitespace. */
bool tok_is_bert_control(uint32_t cp) {
    if (cp == '\t' || cp == '\n' || cp == '\r') return false;
    if (cp > 0x10FFFF) return false;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF || c == UTF8PROC_CATEGORY_CS ||
           c == UTF8PROC_CATEGORY_CO || c == UTF8PROC_CATEGORY_CN;
}

/* ASCII punctuation (which includes symbols such as $ + < = > ^ ` | ~) or any
 * Unicode P* category. */
bool tok_is_bert_punct(uint32_t cp) {
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
        return true;
    if (cp < 128 || cp > 0x10FFFF) return false;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

/* The CJK Unified Ideograph blocks BERT isolates as single-character words. */
bool tok_is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

bool tok_is_mark_nonspacing(uint32_t cp) {
    if (cp > 0x10FFFF) return false;
    return utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_MN;
}

int tok_decompose(uint32_t cp, uint32_t *out, int cap) {
    if (cp > 0x10FFFF) { out[0] = cp; return 1; }
    utf8proc_int32_t buf[32];
    int last = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)cp, buf, 32, UTF8PROC_DECOMPOSE, &last);
    if (n <= 0 || n > 32 || n > cap) { out[0] = cp; return 1; }
    for (utf8proc_ssize_t i = 0; i < n; i++) out[i] = (uint32_t)buf[i];
    return (int)n;
}

uint32_t tok_tolower(uint32_t cp) {
    if (cp > 0x10FFFF) return cp;
    return (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
}
