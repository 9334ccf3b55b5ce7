/* goodhart/tokenizer.h — text ↔ token ids, built from GGUF metadata
 * (`tokenizer.ggml.*`) or from a Hugging Face tokenizer.json.
 *
 * Supported models: SentencePiece-style BPE over scores with byte fallback
 * (`llama`), byte-level BPE (`gpt2`) with the pre-tokenizer named by
 * `tokenizer.ggml.pre` (default/gpt-2, llama3/llama-bpe, qwen2, ...), and
 * WordPiece (`bert`). Special tokens (control/user-defined) are matched in the
 * text only when parse_special is set.
 */
#ifndef GOODHART_TOKENIZER_H
#define GOODHART_TOKENIZER_H

#include "goodhart/common.h"
#include "goodhart/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gh_tokenizer gh_tokenizer;

typedef enum gh_tok_kind {
    GH_TOK_SPM = 0,   /* tokenizer.ggml.model = "llama" */
    GH_TOK_BPE = 1,   /* "gpt2" (byte-level BPE) */
    GH_TOK_WPM = 2,   /* "bert" (WordPiece) */
} gh_tok_kind;

/* Token attributes, as GGUF's tokenizer.ggml.token_type numbers them. */
typedef enum gh_token_type {
    GH_TOKEN_UNDEFINED = 0,
    GH_TOKEN_NORMAL = 1,
    GH_TOKEN_UNKNOWN = 2,
    GH_TOKEN_CONTROL = 3,
    GH_TOKEN_USER_DEFINED = 4,
    GH_TOKEN_UNUSED = 5,
    GH_TOKEN_BYTE = 6,
} gh_token_type;

gh_status gh_tokenizer_from_gguf(const gh_gguf *g, gh_tokenizer **out);
/* Reads a Hugging Face tokenizer.json (BPE byte-level, SentencePiece-style BPE
 * with byte fallback, or WordPiece). */
gh_status gh_tokenizer_from_json(const char *path, gh_tokenizer **out);
void gh_tokenizer_free(gh_tokenizer *t);

gh_tok_kind gh_tokenizer_kind(const gh_tokenizer *t);
const char *gh_tokenizer_model_name(const gh_tokenizer *t); /* "llama", "gpt2", "bert" */
const char *gh_tokenizer_pre_name(const gh_tokenizer *t);   /* pre-tokenizer, e.g. "llama3" */
int32_t gh_tokenizer_n_vocab(const gh_tokenizer *t);
int32_t gh_tokenizer_bos(const gh_tokenizer *t);  /* -1 if none */
int32_t gh_tokenizer_eos(const gh_tokenizer *t);  /* -1 if none */
int32_t gh_tokenizer_eot(const gh_tokenizer *t);  /* end-of-turn, -1 if none */
bool gh_tokenizer_add_bos(const gh_tokenizer *t); /* model's default for add_bos */
bool gh_tokenizer_add_eos(const gh_tokenizer *t);
bool gh_tokenizer_is_eog(const gh_tokenizer *t, int32_t id); /* eos, eot, ... */
gh_token_type gh_tokenizer_token_type(const gh_tokenizer *t, int32_t id);
/* The raw vocabulary entry (e.g. "▁the", "Ġthe", "<0x0A>"); NULL if out of range. */
const char *gh_tokenizer_token_text(const gh_tokenizer *t, int32_t id);
int32_t gh_tokenizer_find(const gh_tokenizer *t, const char *text); /* exact vocab entry, or -1 */

/* Tokenizes `len` bytes of `text`. add_special adds BOS/CLS and (where the model
 * says so) EOS/SEP; parse_special matches special-token texts inside `text`.
 * On success *ids is malloc'd (caller frees) and *n_ids set.
 * Special tokens (control and user-defined) are matched leftmost first, the
 * longest at a position winning. Text that is not valid UTF-8 never fails:
 * SentencePiece vocabularies give each stray byte its <0xXX> token and
 * byte-level BPE keeps it in its byte alphabet (both round-trip exactly);
 * WordPiece turns the word holding it into [UNK]. Safe to call from several
 * threads on one tokenizer. */
gh_status gh_tokenize(const gh_tokenizer *t, const char *text, size_t len, bool add_special,
                      bool parse_special, int32_t **ids, size_t *n_ids);

/* The bytes one token stands for when it follows `prev` (pass -1 at the start of a
 * text): byte tokens become their byte, "▁"/"Ġ"-style markers become spaces, and
 * the leading space SentencePiece adds is dropped after BOS. Control tokens give
 * "" unless render_special. Returns the number of bytes written into buf (up to
 * size) or, if larger than size, the size needed (as snprintf). */
int32_t gh_token_to_piece(const gh_tokenizer *t, int32_t prev, int32_t id, bool render_special,
                          char *buf, int32_t size);

/* The same piece (render_special false) in a malloc'd NUL-terminated string;
 * *len (may be NULL) receives its length. NULL if out of memory. */
char *gh_token_piece_dup(const gh_tokenizer *t, int32_t prev, int32_t id, int32_t *len);

/* Appends the piece of `id` (after `prev`, render_special false) to a growing
 * NUL-terminated string *buf of length *len in *cap bytes (*cap > *len),
 * reallocating as needed. Returns 0, or -1 if out of memory. */
int gh_token_piece_append(const gh_tokenizer *t, int32_t prev, int32_t id, char **buf, size_t *len, size_t *cap);

/* Detokenizes a whole sequence into a malloc'd NUL-terminated string (bytes may
 * be invalid UTF-8 if the ids cut a character). */
gh_status gh_detokenize(const gh_tokenizer *t, const int32_t *ids, size_t n, bool render_special,
                        char **out, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
