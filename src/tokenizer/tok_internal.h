/* tok_internal.h — the tokenizer's private structure and the helpers its files
 * share (tokenizer.c, spm.c, bpe.c, wpm.c, unicode.c, tokgguf.c, tokjson.c).
 *
 * A gh_tokenizer is built once by a loader (GGUF or tokenizer.json), which fills
 * the vocabulary with tok_add_token(), the merges with tok_add_merge(), sets the
 * options below and calls tok_finish(). After that it is read-only: every
 * tokenize/detokenize call allocates its own scratch memory, so one tokenizer
 * may be used from several threads at once (PCRE2 compiled code and its JIT
 * are safe to share; match data is per call).
 */
#ifndef GH_TOK_INTERNAL_H
#define GH_TOK_INTERNAL_H

#include "goodhart/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* A growable array of token ids (the output of every algorithm). */
typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
} tok_ids;

gh_status tok_ids_push(tok_ids *a, int32_t id);

/* Internal algorithm; `kind` (the public model family) decides detokenization. */
typedef enum tok_algo {
    TOK_ALGO_SPM = 0,  /* merge the best-scored pair (SentencePiece BPE) */
    TOK_ALGO_BPE = 1,  /* merge the lowest-ranked pair (merges list) */
    TOK_ALGO_WPM = 2,  /* greedy longest-match WordPiece */
} tok_algo;

/* Normalizers a tokenizer.json can ask for (applied to each text fragment). */
typedef enum tok_norm {
    TOK_NORM_NONE = 0,
    TOK_NORM_NFC,
    TOK_NORM_NFD,
    TOK_NORM_NFKC,
    TOK_NORM_NFKD,
} tok_norm;

#define TOK_MAX_REGEX 8

typedef struct tok_entry {
    char *text;       /* NUL-terminated copy (may also contain NULs; use len) */
    uint32_t len;
    int32_t type;     /* gh_token_type */
    float score;
} tok_entry;

typedef struct tok_merge_slot {
    uint64_t key;     /* (left id << 32) | right id; UINT64_MAX = empty */
    int32_t rank;
    int32_t merged;   /* id of left+right */
} tok_merge_slot;

struct gh_tokenizer {
    gh_tok_kind kind;
    tok_algo algo;
    char model_name[16];
    char pre_name[64];
    char source[256];        /* file it was loaded from, for messages */

    int32_t n_vocab;
    tok_entry *tok;

    /* text -> id, open addressing; -1 = empty slot */
    int32_t *hash;
    uint32_t hash_mask;

    /* (left, right) -> rank/merged, open addressing */
    tok_merge_slot *merges;
    uint32_t merge_mask;
    int32_t n_merges;

    /* special-token texts matched when parse_special: ids sorted by length, longest first */
    int32_t *specials;
    int32_t n_specials;
    bool special_first[256]; /* bytes a special token can start with */

    int32_t bos, eos, eot, unk, pad, sep, cls, eom;
    bool add_bos, add_eos;

    /* SPM */
    bool add_space_prefix;   /* prepend a space to each text fragment that starts a text */
    const char *space_mark;  /* "\xe2\x96\x81" (▁) normally; " " for vocabularies that store spaces */
    uint32_t space_mark_len;
    int32_t byte_ids[256];   /* <0xXX> tokens, -1 if missing */
    bool byte_fallback;      /* unknown characters become <0xXX> tokens (else unk) */

    /* BPE */
    bool byte_level;         /* GPT-2 byte-to-unicode alphabet */
    bool ignore_merges;      /* a pre-token found whole in the vocabulary is taken as is */
    pcre2_code *regex[TOK_MAX_REGEX]; /* pre-tokenizer splits, applied in order */
    int n_regex;
    tok_norm norm;

    /* WPM */
    bool lowercase, strip_accents;
    const char *wpm_prefix;  /* continuation pieces: "##" (or "" in llama.cpp's GGUF form) */
    const char *wpm_word_prefix; /* word-initial pieces: "" (or "\xe2\x96\x81" in llama.cpp's GGUF form) */
    int32_t wpm_max_chars;   /* words longer than this become [UNK] */
};

/* ---- tokenizer.c: building ---- */
gh_status tok_alloc(gh_tokenizer **out, const char *source);
/* Reserves room for n tokens (ids 0..n-1 added in order with tok_set_token). */
gh_status tok_reserve(gh_tokenizer *t, int32_t n);
gh_status tok_set_token(gh_tokenizer *t, int32_t id, const char *text, size_t len, int32_t type, float score);
/* Builds the text -> id table; called once after all tokens are set. Duplicate
 * texts keep the lowest id. */
gh_status tok_build_hash(gh_tokenizer *t);
/* Registers merge `left right` (rank = order of insertion). Returns
 * GH_ERR_FORMAT if either side or their concatenation is not in the vocabulary. */
gh_status tok_add_merge(gh_tokenizer *t, const char *left, size_t llen, const char *right, size_t rlen,
                        const char *what);
gh_status tok_reserve_merges(gh_tokenizer *t, int64_t n);
/* Finds the special tokens, byte tokens, space marker; checks the ids. */
gh_status tok_finish(gh_tokenizer *t);
/* Compiles a pre-tokenizer regex (PCRE2, UTF + UCP) and appends it. */
gh_status tok_add_regex(gh_tokenizer *t, const char *pattern, const char *what);
/* The regexes of a named pre-tokenizer (GGUF tokenizer.ggml.pre); false if unknown. */
bool tok_pre_regexes(const char *pre, const char **pats, int *n, bool *ignore_merges);

int32_t tok_lookup(const gh_tokenizer *t, const char *s, size_t len);
int32_t tok_merge_find(const gh_tokenizer *t, int32_t left, int32_t right, int32_t *merged);

/* ---- algorithms: tokenize one fragment (no special tokens inside), appending ids ---- */
gh_status tok_spm_encode(const gh_tokenizer *t, const char *text, size_t len, bool prefix, tok_ids *out);
gh_status tok_bpe_encode(const gh_tokenizer *t, const char *text, size_t len, bool prefix, tok_ids *out);
gh_status tok_wpm_encode(const gh_tokenizer *t, const char *text, size_t len, tok_ids *out);

/* ---- unicode.c ---- */
/* Decodes one UTF-8 character at s[0..len). Returns its length (1..4) and sets
 * *cp; an invalid or truncated sequence gives length 1 and *cp = TOK_CP_INVALID. */
#define TOK_CP_INVALID 0x110000u
uint32_t tok_utf8_decode(const char *s, size_t len, uint32_t *cp);
int tok_utf8_encode(uint32_t cp, char *out); /* 1..4 bytes */
/* GPT-2's byte-to-unicode alphabet: the UTF-8 text (2 or 1 bytes + NUL) of byte b. */
const char *tok_byte_to_unicode(uint8_t b);
/* The byte a code point of that alphabet stands for, or -1. */
int tok_unicode_to_byte(uint32_t cp);
/* Applies a Unicode normalization to text; *out malloc'd. Invalid UTF-8 is left as is. */
gh_status tok_normalize(tok_norm norm, const char *text, size_t len, char **out, size_t *out_len);
/* BERT character classes. */
bool tok_is_bert_whitespace(uint32_t cp);
bool tok_is_bert_control(uint32_t cp);
bool tok_is_bert_punct(uint32_t cp);
bool tok_is_cjk(uint32_t cp);
bool tok_is_mark_nonspacing(uint32_t cp);
/* NFD decomposition of one code point into out (room for 32); returns count. */
int tok_decompose(uint32_t cp, uint32_t *out, int cap);
/* Lowercase mapping of one code point (single code point, as utf8proc gives). */
uint32_t tok_tolower(uint32_t cp);

/* ---- merge_heap.c: candidate pairs of the two merge loops (spm.c, bpe.c) ----
 * A pair of adjacent symbols that could merge. Pairs pop by higher `priority`
 * (SentencePiece's score; minus the merge rank for BPE), then leftmost. The
 * other fields let each loop recognise a pair an earlier merge made stale. */
typedef struct tok_pair {
    double priority;
    int32_t left, right;  /* symbol indexes */
    uint32_t len;         /* spm: left.len + right.len when pushed */
    int32_t lid, rid;     /* bpe: the symbols' ids when pushed */
    int32_t merged;       /* bpe: id of the merged token */
} tok_pair;

typedef struct tok_heap {
    tok_pair *v;
    size_t n, cap;
} tok_heap;

gh_status tok_heap_push(tok_heap *h, tok_pair p);
tok_pair tok_heap_pop(tok_heap *h); /* h->n must be > 0 */

/* ---- tokjson.c / tokgguf.c share this ---- */
void tok_set_model_name(gh_tokenizer *t, const char *name);

#endif
