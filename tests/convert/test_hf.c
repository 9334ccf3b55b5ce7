/* Tests of the Hugging Face converter (goodhart convert hf).
 *
 * tests/python/hf_models.py (run once with /usr/bin/python3 and torch) writes
 * small random-weight models in Hugging Face layout — llama (F32, sharded,
 * BF16), mistral (F16, sharded), qwen2 (q/k/v biases, tied, padded vocab),
 * Llama/Qwen2 reward models, a BERT encoder — with its own PyTorch forward
 * passes. Checked here:
 *   - converted models reproduce the reference logits / reward score / pooled
 *     embedding within 1e-4;
 *   - tokenizers: the converted GGUF tokenizes as tokenizer.json does;
 *   - round trip: a GGUF copied key by key and tensor by tensor gives
 *     bit-identical logits; the GGUF the script wrote itself (its own renaming
 *     and Q/K permutation) holds the same tensor bytes and gives the same
 *     logits; a sharded folder converts to the same bytes as the single file;
 *   - quantization on the way in equals the kernels' reference quantizers;
 *   - bad input: missing shard, shapes, architecture, dtype, corrupted
 *     headers, unused tensors, each with an error naming the file and tensor.
 *   - another GGUF implementation (npm @huggingface/gguf) parses the files as
 *     goodhart does, and a file whose metadata it wrote loads;
 *   - the real commands (convert hf, reward -m --json, embed --json) against
 *     PyTorch on the tokens they report.
 * Skipped (with a message) when /usr/bin/python3 has no torch or the npm
 * package is missing — failed instead under CI=true or GH_REQUIRE_CROSSCHECK=1. */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "convert/safetensors.h"
#include "goodhart/convert.h"
#include "goodhart/gguf.h"
#include "goodhart/model.h"
#include "goodhart/tokenizer.h"
#include "kernels/kernels.h"

static bool g_have_torch;
static char g_dir[2048]; /* the script's output folder */

static int setup(void **state) {
    (void)state;
    int st;
    char *o = tu_run("/usr/bin/python3 -c 'import torch, numpy' 2>&1", &st);
    free(o);
    if (st != 0) return 0; /* each test that needs it says so (NEED_TORCH) */
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmp("hf"));
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/python/hf_models.py %s 2>&1", g_dir);
    o = tu_run(cmd, &st);
    if (st != 0) {
        fprintf(stderr, "tests/python/hf_models.py failed:\n%s\n", o);
        free(o);
        return -1;
    }
    free(o);
    g_have_torch = true;
    return 0;
}

/* Skipped without torch, except under CI / GH_REQUIRE_CROSSCHECK=1 (failed). */
#define NEED_TORCH() do { if (!g_have_torch) \
    tu_skip_or_fail("test_hf: SKIPPED: /usr/bin/python3 has no torch (apt-get install python3-torch)\n"); } while (0)

static const char *path_of(const char *fmt, const char *name) {
    static char buf[8][4096];
    static int k;
    char *b = buf[k++ % 8];
    char rel[1024];
    snprintf(rel, sizeof rel, fmt, name);
    snprintf(b, 4096, "%s/%s", g_dir, rel);
    return b;
}

/* Runs a shell command (printf-style) that must succeed; its output, malloc'd. */
static char *run_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *run_ok(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st;
    char *o = tu_run(cmd, &st);
    if (st) print_message("%s failed:\n%s\n", cmd, o);
    assert_int_equal(st, 0);
    return o;
}

static cJSON *load_ref(const char *name) {
    size_t len;
    char *txt = tu_read_file(path_of("%s.ref.json", name), &len);
    assert_non_null(txt);
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    assert_non_null(j);
    return j;
}

static int32_t *ref_ids(const cJSON *ref, int32_t *n) {
    const cJSON *ids = cJSON_GetObjectItem(ref, "ids");
    *n = cJSON_GetArraySize(ids);
    int32_t *v = malloc((size_t)*n * sizeof *v);
    for (int32_t i = 0; i < *n; i++) v[i] = (int32_t)cJSON_GetArrayItem(ids, i)->valuedouble;
    return v;
}

/* Converts folder NAME (type: "" keeps the stored types) to NAME[.type].gguf. */
static const char *convert(const char *name, const char *type) {
    gh_convert_hf_params p = gh_convert_hf_default_params();
    if (type[0]) assert_true(gh_type_from_name(type, &p.wtype));
    p.name = "test";
    static char out[8][4096];
    static int k;
    char *o = out[k++ % 8];
    snprintf(o, 4096, "%s/%s%s%s.gguf", g_dir, name, type[0] ? "." : "", type);
    assert_ok(gh_convert_hf(path_of("%s", name), o, &p, NULL));
    return o;
}

/* Logits of every position of ids: [n][n_vocab], malloc'd. */
static float *logits_all(const char *gguf, const int32_t *ids, int32_t n, int32_t *n_vocab) {
    gh_model *m = NULL;
    gh_model_params mp = gh_model_default_params();
    mp.n_threads = 1;
    assert_ok(gh_model_load(gguf, &mp, &m));
    gh_ctx *c = NULL;
    assert_ok(gh_ctx_init(m, NULL, &c));
    int32_t *seq = calloc((size_t)n, sizeof *seq);
    uint8_t *want = malloc((size_t)n);
    memset(want, 1, (size_t)n);
    assert_ok(gh_ctx_decode(c, n, ids, seq, want));
    int32_t V = gh_model_get_info(m)->n_vocab;
    float *out = malloc((size_t)n * V * sizeof *out);
    for (int32_t i = 0; i < n; i++) memcpy(out + (size_t)i * V, gh_ctx_logits(c, i), (size_t)V * sizeof(float));
    *n_vocab = V;
    free(seq);
    free(want);
    gh_ctx_free(c);
    gh_model_free(m);
    return out;
}

/* Largest |goodhart - reference| over every position's logits; the RMS of
 * the difference over the RMS of the reference in g_rel. */
static double g_rel;
static double logits_vs_ref(const char *gguf, const char *name) {
    cJSON *ref = load_ref(name);
    int32_t n, V;
    int32_t *ids = ref_ids(ref, &n);
    float *lg = logits_all(gguf, ids, n, &V);
    const cJSON *rows = cJSON_GetObjectItem(ref, "logits");
    assert_int_equal(cJSON_GetArraySize(rows), n);
    double worst = 0, se = 0, sr = 0;
    for (int32_t i = 0; i < n; i++) {
        const cJSON *row = cJSON_GetArrayItem(rows, i);
        int32_t rv = cJSON_GetArraySize(row);
        /* padded vocabularies: the reference has config vocab_size columns too */
        assert_int_equal(rv, V);
        for (int32_t j = 0; j < V; j++) {
            double r = cJSON_GetArrayItem(row, j)->valuedouble, d = fabs((double)lg[(size_t)i * V + j] - r);
            if (d > worst) worst = d;
            se += d * d;
            sr += r * r;
        }
    }
    g_rel = sqrt(se / sr);
    free(lg);
    free(ids);
    cJSON_Delete(ref);
    return worst;
}

static void expect_close(const char *what, double worst, double tol) {
    if (!(worst <= tol)) print_message("%s: max |diff| = %g > %g\n", what, worst, tol);
    assert_true(worst <= tol);
}

/* ------------------------------------------------------------ vs PyTorch */

static void test_llama_vs_torch(void **state) {
    (void)state;
    NEED_TORCH();
    expect_close("llama f32", logits_vs_ref(convert("llama", ""), "llama"), 1e-4);
    /* a BF16 checkpoint: kept as bf16 (the default), and widened to f32 */
    const char *g = convert("llama_bf16", "");
    gh_gguf *gg = NULL;
    assert_ok(gh_gguf_open(g, &gg));
    assert_int_equal(gh_gguf_tensor(gg, gh_gguf_find_tensor(gg, "blk.0.attn_q.weight"))->type, GH_TYPE_BF16);
    assert_int_equal(gh_gguf_tensor(gg, gh_gguf_find_tensor(gg, "blk.0.attn_norm.weight"))->type, GH_TYPE_F32);
    gh_gguf_free(gg);
    expect_close("llama bf16", logits_vs_ref(g, "llama_bf16"), 1e-4);
    expect_close("llama bf16 -> f32", logits_vs_ref(convert("llama_bf16", "f32"), "llama_bf16"), 1e-4);
}

static void test_mistral_vs_torch(void **state) {
    (void)state;
    NEED_TORCH();
    gh_convert_hf_result r;
    gh_convert_hf_params p = gh_convert_hf_default_params();
    const char *out = tu_tmp("mistral_r.gguf");
    assert_ok(gh_convert_hf(path_of("%s", "mistral"), out, &p, &r));
    assert_string_equal(r.arch, "llama"); /* as llama.cpp writes Mistral */
    assert_string_equal(r.hf_arch, "MistralForCausalLM");
    assert_int_equal(r.sliding_window, 64);
    expect_close("mistral f16 (sharded)", logits_vs_ref(out, "mistral"), 1e-4);
    expect_close("mistral f16 -> f32", logits_vs_ref(convert("mistral", "f32"), "mistral"), 1e-4);
}

static void test_qwen2_vs_torch(void **state) {
    (void)state;
    NEED_TORCH();
    gh_convert_hf_result r;
    gh_convert_hf_params p = gh_convert_hf_default_params();
    const char *out = tu_tmp("qwen2_r.gguf");
    assert_ok(gh_convert_hf(path_of("%s", "qwen2"), out, &p, &r));
    assert_string_equal(r.arch, "qwen2");
    assert_int_equal(r.n_pad_tokens, 13); /* config vocab_size exceeds the tokenizer's */
    assert_int_equal(r.sliding_window, 0); /* use_sliding_window false */
    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open(out, &g));
    assert_true(gh_gguf_find_tensor(g, "output.weight") < 0); /* tied */
    assert_true(gh_gguf_find_tensor(g, "blk.1.attn_k.bias") >= 0);
    gh_str s;
    assert_ok(gh_gguf_get_str(g, "tokenizer.ggml.pre", &s));
    assert_int_equal(s.len, 5);
    assert_memory_equal(s.ptr, "qwen2", 5);
    gh_gguf_free(g);
    expect_close("qwen2", logits_vs_ref(out, "qwen2"), 1e-4);
}

/* The score through the runtime: last token's hidden state after the last
 * block, the final norm, the head. */
static void reward_vs_torch(const char *name) {
    const char *g = convert(name, "");
    cJSON *ref = load_ref(name);
    int32_t n;
    int32_t *ids = ref_ids(ref, &n);
    gh_model *m = NULL;
    assert_ok(gh_model_load(g, NULL, &m));
    const gh_model_info *I = gh_model_get_info(m);
    assert_int_equal(I->n_cls_out, 1);
    assert_int_equal(I->pooling, GH_POOLING_LAST);
    assert_false(I->lm_head);
    gh_ctx *c = NULL;
    assert_ok(gh_ctx_init(m, NULL, &c));
    int32_t layer = I->n_layer;
    assert_ok(gh_ctx_set_capture(c, &layer, 1));
    int32_t *seq = calloc((size_t)n, sizeof *seq);
    assert_ok(gh_ctx_decode(c, n, ids, seq, NULL));
    float *h = malloc((size_t)I->n_embd * sizeof *h), score;
    gh_model_final_norm(m, gh_ctx_hidden(c, 0, n - 1), h);
    assert_ok(gh_model_classify(m, h, &score));
    double want = cJSON_GetObjectItem(ref, "score")->valuedouble;
    if (fabs(score - want) > 1e-4) print_message("%s: score %.7f, torch %.7f\n", name, score, want);
    assert_true(fabs(score - want) <= 1e-4);
    /* the head's metadata as llama.cpp names it */
    const gh_gguf *gg = gh_model_gguf(m);
    char key[64];
    snprintf(key, sizeof key, "%s.pooling_type", I->arch);
    uint32_t pool;
    assert_ok(gh_gguf_get_u32(gg, key, &pool));
    assert_int_equal(pool, 3);
    const gh_tensor_info *t = gh_gguf_tensor(gg, gh_gguf_find_tensor(gg, "cls.output.weight"));
    assert_int_equal(t->ne[0], I->n_embd);
    assert_int_equal(t->ne[1], 1);
    assert_true(gh_gguf_find_tensor(gg, "output.weight") < 0);
    /* config.json's pad_token_id (what the classifier skips) is recorded */
    assert_ok(gh_gguf_get_u32(gg, "tokenizer.ggml.padding_token_id", &pool));
    assert_int_equal(pool, 0);
    free(h);
    free(seq);
    free(ids);
    cJSON_Delete(ref);
    gh_ctx_free(c);
    gh_model_free(m);
}

static void test_reward_heads_vs_torch(void **state) {
    (void)state;
    NEED_TORCH();
    reward_vs_torch("qwen2_rm");
    reward_vs_torch("llama_rm");
}

/* Mean- and CLS-pooled, L2-normalised embeddings of states h [n][E] against
 * the reference's arrays `mean_key` and `cls_key`; returns the worse |diff|. */
static double pooled_vs_ref(const float *h, int32_t n, int32_t E, const cJSON *ref, const char *mean_key,
                            const char *cls_key) {
    double worst = 0;
    for (int k = 0; k < 2; k++) {
        double v[1024] = {0}, norm = 0;
        for (int32_t j = 0; j < E; j++) {
            if (k == 0) {
                for (int32_t i = 0; i < n; i++) v[j] += h[(size_t)i * E + j];
                v[j] /= n;
            } else v[j] = h[j];
            norm += v[j] * v[j];
        }
        const cJSON *r = cJSON_GetObjectItem(ref, k == 0 ? mean_key : cls_key);
        assert_int_equal(cJSON_GetArraySize(r), E);
        for (int32_t j = 0; j < E; j++) {
            double d = fabs(v[j] / sqrt(norm) - cJSON_GetArrayItem(r, j)->valuedouble);
            if (d > worst) worst = d;
        }
    }
    return worst;
}

/* The mean-pooled embedding of the reference's ids by model `gguf` against
 * the reference (max |diff|). */
static double bert_mean_vs_ref(const char *gguf, const cJSON *ref) {
    int32_t n;
    int32_t *ids = ref_ids(ref, &n);
    gh_model *m = NULL;
    assert_ok(gh_model_load(gguf, NULL, &m));
    const int32_t E = gh_model_get_info(m)->n_embd;
    float *h = malloc((size_t)n * E * sizeof *h);
    assert_ok(gh_model_encode(m, ids, NULL, n, h));
    double worst = 0, norm = 0, v[1024] = {0};
    for (int32_t j = 0; j < E; j++) {
        for (int32_t i = 0; i < n; i++) v[j] += h[(size_t)i * E + j];
        norm += v[j] * v[j];
    }
    const cJSON *r = cJSON_GetObjectItem(ref, "mean");
    for (int32_t j = 0; j < E; j++) {
        double d = fabs(v[j] / sqrt(norm) - cJSON_GetArrayItem(r, j)->valuedouble);
        if (d > worst) worst = d;
    }
    free(h);
    free(ids);
    gh_model_free(m);
    return worst;
}

static void test_bert_vs_torch(void **state) {
    (void)state;
    NEED_TORCH();
    const char *g = convert("bert", "");
    cJSON *ref = load_ref("bert");
    int32_t n;
    int32_t *ids = ref_ids(ref, &n);
    gh_model *m = NULL;
    assert_ok(gh_model_load(g, NULL, &m));
    const gh_model_info *I = gh_model_get_info(m);
    assert_true(I->encoder);
    assert_int_equal(I->pooling, GH_POOLING_MEAN); /* from modules.json / 1_Pooling */
    const int32_t E = I->n_embd;
    float *h = malloc((size_t)n * E * sizeof *h);
    assert_ok(gh_model_encode(m, ids, NULL, n, h));
    expect_close("bert mean and cls, token types 0", pooled_vs_ref(h, n, E, ref, "mean", "cls"), 1e-4);
    /* a sentence pair: the second segment's tokens have token type 1 */
    const cJSON *ttj = cJSON_GetObjectItem(ref, "token_types");
    assert_int_equal(cJSON_GetArraySize(ttj), n);
    int32_t *tt = malloc((size_t)n * sizeof *tt);
    int ones = 0;
    for (int32_t i = 0; i < n; i++) ones += (tt[i] = (int32_t)cJSON_GetArrayItem(ttj, i)->valuedouble) == 1;
    assert_true(ones > 0);
    assert_ok(gh_model_encode(m, ids, tt, n, h));
    expect_close("bert mean and cls, token types 1", pooled_vs_ref(h, n, E, ref, "mean_tt", "cls_tt"), 1e-4);
    /* ... which differ from the all-zero token types by far more than the tolerance */
    assert_true(pooled_vs_ref(h, n, E, ref, "mean", "cls") > 1e-2);
    /* the pooler and position_ids of the checkpoint are dropped, nothing else */
    const gh_gguf *gg = gh_model_gguf(m);
    assert_int_equal(gh_gguf_n_tensors(gg), 5 + 2 * 16);
    assert_true(gh_gguf_find_tensor(gg, "blk.1.layer_output_norm.bias") >= 0);
    gh_model_free(m);
    /* a folder whose 1_Pooling/config.json says CLS (as bge's does): pooling_type 2 */
    assert_ok(gh_model_load(convert("bert_cls", ""), NULL, &m));
    assert_int_equal(gh_model_get_info(m)->pooling, GH_POOLING_CLS);
    uint32_t pool;
    assert_ok(gh_gguf_get_u32(gh_model_gguf(m), "bert.pooling_type", &pool));
    assert_int_equal(pool, 2);
    gh_model_free(m);
    free(tt);
    free(h);
    free(ids);
    cJSON_Delete(ref);
}

/* ------------------------------------------------------------ the real commands vs PyTorch */

/* Runs goodhart with ARGS (stderr dropped) and parses its one-line JSON. */
static cJSON *cli_json(const char *args) {
    int st;
    char *o = tu_cli(&st, "%s 2>/dev/null", args);
    if (st) {
        char *e = tu_cli(&st, "%s", args);
        print_message("goodhart %s failed:\n%s\n", args, e);
        free(e);
        fail();
    }
    cJSON *j = cJSON_Parse(o);
    if (!j) print_message("goodhart %s: not JSON:\n%s\n", args, o);
    assert_non_null(j);
    free(o);
    return j;
}

static int32_t *json_ints(const cJSON *a, int32_t *n) {
    *n = cJSON_GetArraySize(a);
    int32_t *v = malloc(((size_t)*n + 1) * sizeof *v);
    for (int32_t i = 0; i < *n; i++) v[i] = (int32_t)cJSON_GetArrayItem(a, i)->valuedouble;
    return v;
}

static cJSON *ints_json(const int32_t *v, int32_t n) {
    cJSON *a = cJSON_CreateArray();
    for (int32_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

/* tokenizer.json of folder `name` on `text` (the converter's source, not the GGUF). */
static int32_t *json_tokens(const char *name, const char *text, bool add_special, bool parse_special, int32_t *n) {
    gh_tokenizer *tj = NULL;
    assert_ok(gh_tokenizer_from_json(path_of("%s/tokenizer.json", name), &tj));
    int32_t *ids = NULL;
    size_t nt = 0;
    assert_ok(gh_tokenize(tj, text, strlen(text), add_special, parse_special, &ids, &nt));
    int32_t *out = malloc((nt + 2) * sizeof *out);
    memcpy(out, ids, nt * sizeof *ids);
    *n = (int32_t)nt;
    free(ids);
    gh_tokenizer_free(tj);
    return out;
}

typedef struct {
    cJSON *reqs;   /* what hf_models.py --forward computes */
    cJSON *got[16];
    char what[16][128];
    int n;
} cli_cases;

static void add_req(cli_cases *cc, const char *name, const char *kind, const int32_t *ids, int32_t n, cJSON *got,
                    const char *what) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "dir", path_of("%s", name));
    cJSON_AddStringToObject(r, "kind", kind);
    cJSON_AddItemToObject(r, "ids", ints_json(ids, n));
    cJSON_AddItemToArray(cc->reqs, r);
    cc->got[cc->n] = got;
    snprintf(cc->what[cc->n++], sizeof cc->what[0], "%s: goodhart %s", name, what);
}

/* `goodhart reward -m RM.gguf --prompt P --response R --json [extra]`: the text
 * it reports, tokenized by tokenizer.json (+ EOS when it says it appended
 * one), must be its n_tokens, with its pooled token; PyTorch scores the same
 * tokens up to the pooled one. */
static void reward_case(cli_cases *cc, const char *name, const char *gguf, const char *extra, const char *family,
                        bool eos) {
    char args[8192];
    snprintf(args, sizeof args, "reward -m %s --prompt 'How do I measure reward hacking?' "
             "--response 'the model scores the response' --json %s", gguf, extra);
    cJSON *j = cli_json(args);
    const char *text = cJSON_GetObjectItem(j, "text")->valuestring;
    const cJSON *ct = cJSON_GetObjectItem(j, "chat_template");
    assert_true(cJSON_IsString(ct));
    assert_string_equal(ct->valuestring, family);
    assert_true(strstr(text, "How do I measure reward hacking?") != NULL);
    assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(j, "eos_appended")), eos);
    int32_t n;
    int32_t *ids = json_tokens(name, text, false, true, &n); /* the template writes BOS and turn markers */
    if (eos) {
        gh_tokenizer *tj = NULL;
        assert_ok(gh_tokenizer_from_json(path_of("%s/tokenizer.json", name), &tj));
        ids[n++] = gh_tokenizer_eos(tj);
        gh_tokenizer_free(tj);
    }
    assert_int_equal((int32_t)cJSON_GetObjectItem(j, "n_tokens")->valuedouble, n);
    int32_t p = (int32_t)cJSON_GetObjectItem(j, "pooled_token")->valuedouble;
    assert_int_equal(p, n - 1); /* no padding at the end: the last token */
    assert_int_equal((int32_t)cJSON_GetObjectItem(j, "pooled_token_id")->valuedouble, ids[p]);
    add_req(cc, name, "score", ids, p + 1, j, eos ? "reward --add-eos yes" : "reward");
    free(ids);
}

/* `goodhart embed -m M.gguf --json [extra] TEXT`: its tokens are tokenizer.json's
 * ([CLS] ... [SEP]); PyTorch pools the same tokens. */
static void embed_case(cli_cases *cc, const char *name, const char *gguf, const char *extra, const char *pool,
                       const char *what) {
    const char *text = "Hello, the quick fox scores the response!";
    char args[8192];
    snprintf(args, sizeof args, "embed -m %s --json %s '%s'", gguf, extra, text);
    cJSON *j = cli_json(args);
    assert_string_equal(cJSON_GetObjectItem(j, "pool")->valuestring, pool);
    int32_t n, nj;
    int32_t *ids = json_ints(cJSON_GetObjectItem(j, "tokens"), &n);
    int32_t *want = json_tokens(name, text, true, false, &nj);
    assert_int_equal(n, nj);
    assert_memory_equal(ids, want, (size_t)n * sizeof *ids);
    assert_int_equal((int32_t)cJSON_GetObjectItem(j, "n_tokens")->valuedouble, n);
    add_req(cc, name, "embed", ids, n, j, what);
    free(ids);
    free(want);
}

static void test_cli_vs_torch(void **state) {
    (void)state;
    NEED_TORCH();
    static const char *const names[] = {"qwen2_rm", "llama_rm", "bert", "bert_cls"};
    char gg[4][4096];
    for (int k = 0; k < 4; k++) {
        int st;
        snprintf(gg[k], sizeof gg[k], "%s", tu_tmp(names[k]));
        strcat(gg[k], ".cli.gguf");
        char *o = tu_cli(&st, "convert hf %s/%s -o %s", g_dir, names[k], gg[k]);
        if (st) print_message("%s\n", o);
        assert_int_equal(st, 0);
        free(o);
    }
    cli_cases cc = {.reqs = cJSON_CreateArray()};
    reward_case(&cc, "qwen2_rm", gg[0], "", "chatml", false);
    reward_case(&cc, "qwen2_rm", gg[0], "--add-eos yes", "chatml", true); /* scores the appended <|im_end|> */
    reward_case(&cc, "llama_rm", gg[1], "", "llama3", false); /* Llama 3's template ends the turn with <|eot_id|> */
    /* --chat-template FILE: a ChatML Jinja file instead of the model's Llama 3 template */
    const char *jf = tu_tmp("chatml.jinja");
    static const char chatml[] = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + "
                                 "'<|im_end|>\\n' }}{% endfor %}";
    assert_int_equal(tu_write_file(jf, chatml, strlen(chatml)), 0);
    char extra[4200];
    snprintf(extra, sizeof extra, "--chat-template %s", jf);
    reward_case(&cc, "llama_rm", gg[1], extra, "chatml", false);
    assert_contains(cJSON_GetObjectItem(cc.got[cc.n - 1], "text")->valuestring, "<|im_start|>user\nHow do I");
    /* an unknown template name, and a template file that is not recognised: errors, no fallback */
    int st;
    char *o = tu_cli(&st, "reward -m %s --prompt a --response b --chat-template nonesuch", gg[0]);
    assert_int_equal(st, 1);
    assert_contains(o, "nonesuch");
    assert_contains(o, "chatml");
    free(o);
    const char *uf = tu_tmp("unknown.jinja");
    assert_int_equal(tu_write_file(uf, "{{ messages }}", 14), 0);
    o = tu_cli(&st, "reward -m %s --prompt a --response b --chat-template %s", gg[0], uf);
    assert_int_equal(st, 1);
    assert_contains(o, uf);
    assert_contains(o, "not recognised");
    free(o);
    embed_case(&cc, "bert", gg[2], "", "mean", "embed (the model's mean pooling)");
    embed_case(&cc, "bert", gg[2], "--pool cls", "cls", "embed --pool cls");
    embed_case(&cc, "bert_cls", gg[3], "", "cls", "embed (the model's CLS pooling)");
    char *txt = cJSON_PrintUnformatted(cc.reqs);
    const char *req = tu_tmp("cli_requests.json"), *res = tu_tmp("cli_results.json");
    assert_int_equal(tu_write_file(req, txt, strlen(txt)), 0);
    free(txt);
    free(run_ok("/usr/bin/python3 tests/python/hf_models.py --forward %s %s 2>&1", req, res));
    size_t len;
    txt = tu_read_file(res, &len);
    cJSON *want = cJSON_Parse(txt);
    free(txt);
    assert_int_equal(cJSON_GetArraySize(want), cc.n);
    for (int k = 0; k < cc.n; k++) {
        const cJSON *w = cJSON_GetArrayItem(want, k), *g = cc.got[k];
        if (cJSON_GetObjectItem(w, "score")) {
            double a = cJSON_GetObjectItem(g, "score")->valuedouble, b = cJSON_GetObjectItem(w, "score")->valuedouble;
            print_message("%s: %.6f, PyTorch %.6f\n", cc.what[k], a, b);
            expect_close(cc.what[k], fabs(a - b), 1e-4);
        } else {
            const char *pool = cJSON_GetObjectItem(g, "pool")->valuestring;
            const cJSON *e = cJSON_GetObjectItem(g, "embedding"), *r = cJSON_GetObjectItem(w, pool);
            assert_int_equal(cJSON_GetArraySize(e), cJSON_GetArraySize(r));
            double worst = 0;
            for (int i = 0; i < cJSON_GetArraySize(e); i++) {
                double d = fabs(cJSON_GetArrayItem(e, i)->valuedouble - cJSON_GetArrayItem(r, i)->valuedouble);
                if (d > worst) worst = d;
            }
            expect_close(cc.what[k], worst, 1e-4);
        }
        cJSON_Delete(cc.got[k]);
    }
    cJSON_Delete(want);
    cJSON_Delete(cc.reqs);
}

/* ------------------------------------------------------------ tokenizers */

static void same_tokens(const char *name) {
    gh_tokenizer *tj = NULL;
    assert_ok(gh_tokenizer_from_json(path_of("%s/tokenizer.json", name), &tj));
    gh_model *m = NULL;
    assert_ok(gh_model_load(convert(name, ""), NULL, &m));
    const gh_tokenizer *tg = gh_model_tokenizer(m);
    assert_int_equal(gh_tokenizer_kind(tj), gh_tokenizer_kind(tg));
    assert_int_equal(gh_tokenizer_bos(tj), gh_tokenizer_bos(tg));
    assert_int_equal(gh_tokenizer_eos(tj), gh_tokenizer_eos(tg));
    assert_int_equal(gh_tokenizer_add_bos(tj), gh_tokenizer_add_bos(tg));
    size_t len;
    char *txt = tu_read_file(path_of("%s", "texts.json"), &len);
    cJSON *texts = cJSON_Parse(txt);
    free(txt);
    const cJSON *it;
    cJSON_ArrayForEach(it, texts) {
        for (int sp = 0; sp < 2; sp++) {
            int32_t *a = NULL, *b = NULL;
            size_t na = 0, nb = 0;
            const char *s = it->valuestring;
            assert_ok(gh_tokenize(tj, s, strlen(s), sp, sp, &a, &na));
            assert_ok(gh_tokenize(tg, s, strlen(s), sp, sp, &b, &nb));
            if (na != nb || memcmp(a, b, na * sizeof *a)) {
                print_message("%s: \"%s\": tokenizer.json gives %zu tokens, the GGUF %zu\n", name, s, na, nb);
                for (size_t i = 0; i < na || i < nb; i++)
                    print_message("  %zu: %d %d\n", i, i < na ? a[i] : -1, i < nb ? b[i] : -1);
            }
            assert_int_equal(na, nb);
            assert_memory_equal(a, b, na * sizeof *a);
            free(a);
            free(b);
        }
    }
    cJSON_Delete(texts);
    gh_tokenizer_free(tj);
    gh_model_free(m);
}

static void test_tokenizers(void **state) {
    (void)state;
    NEED_TORCH();
    same_tokens("llama");  /* SentencePiece-style BPE: scores from the merge ranks */
    same_tokens("qwen2");  /* byte-level BPE with merges */
    same_tokens("bert");   /* WordPiece in llama.cpp's "▁" form */
    same_tokens("llama_rm"); /* Llama-3-style byte-level BPE ("llama-bpe"), BOS from the post-processor */
    /* the chat template of tokenizer_config.json */
    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open(path_of("%s.gguf", "qwen2"), &g));
    gh_str s;
    assert_ok(gh_gguf_get_str(g, "tokenizer.chat_template", &s));
    size_t len;
    char *txt = tu_read_file(path_of("%s/tokenizer_config.json", "qwen2"), &len);
    cJSON *cfg = cJSON_Parse(txt);
    const char *want = cJSON_GetObjectItem(cfg, "chat_template")->valuestring;
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
    assert_ok(gh_gguf_get_str(g, "tokenizer.ggml.model", &s));
    assert_memory_equal(s.ptr, "gpt2", 4);
    free(txt);
    cJSON_Delete(cfg);
    gh_gguf_free(g);
    /* a list of named templates: "default" is the template, the others keep their names */
    assert_ok(gh_gguf_open(path_of("%s.gguf", "llama_rm"), &g));
    assert_ok(gh_gguf_get_str(g, "tokenizer.ggml.pre", &s));
    assert_int_equal(s.len, 9);
    assert_memory_equal(s.ptr, "llama-bpe", 9);
    assert_ok(gh_gguf_get_str(g, "tokenizer.chat_template", &s));
    assert_true(memmem(s.ptr, s.len, "<|start_header_id|>", 19) != NULL);
    assert_ok(gh_gguf_get_str(g, "tokenizer.chat_template.tool_use", &s));
    assert_int_equal(s.len, 11);
    gh_gguf_free(g);
    /* chat_template.jinja when tokenizer_config.json has none */
    char cmd[8192];
    const char *d = tu_tmp("jinja");
    snprintf(cmd, sizeof cmd, "rm -rf %s && cp -r %s/qwen2 %s && echo '{}' > %s/tokenizer_config.json && "
             "printf 'T{{ messages }}' > %s/chat_template.jinja", d, g_dir, d, d, d);
    int st;
    free(tu_run(cmd, &st));
    assert_int_equal(st, 0);
    gh_convert_hf_result r;
    assert_ok(gh_convert_hf(d, tu_tmp("jinja.gguf"), NULL, &r));
    assert_true(r.chat_template);
    assert_ok(gh_gguf_open(tu_tmp("jinja.gguf"), &g));
    assert_ok(gh_gguf_get_str(g, "tokenizer.chat_template", &s));
    assert_int_equal(s.len, 15);
    assert_memory_equal(s.ptr, "T{{ messages }}", 15);
    gh_gguf_free(g);
    /* WordPiece as llama.cpp writes it: "▁the" for a word start, "ing" for "##ing" */
    assert_ok(gh_gguf_open(path_of("%s.gguf", "bert"), &g));
    int64_t k = gh_gguf_find_key(g, "tokenizer.ggml.tokens");
    gh_gguf_type et;
    uint64_t n;
    assert_ok(gh_gguf_arr_info(g, k, &et, &n));
    int found = 0;
    for (uint64_t i = 0; i < n; i++) {
        assert_ok(gh_gguf_arr_str(g, k, i, &s));
        assert_false(s.len >= 2 && !memcmp(s.ptr, "##", 2));
        found += s.len == 6 && !memcmp(s.ptr, "\xe2\x96\x81the", 6);
        found += s.len == 3 && !memcmp(s.ptr, "ing", 3);
    }
    assert_int_equal(found, 2);
    gh_gguf_free(g);
}

/* ------------------------------------------------------------ round trips */

/* Copies every key and tensor of `src` into a new GGUF file with the writer. */
static void copy_gguf(const char *src, const char *dst) {
    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open(src, &g));
    gh_gguf_writer *w = NULL;
    assert_ok(gh_gguf_writer_init(&w));
    for (int64_t i = 0; i < gh_gguf_n_kv(g); i++) {
        const char *key = gh_gguf_key(g, i);
        gh_gguf_type ty = gh_gguf_kv_type(g, i);
        int64_t iv;
        uint64_t uv;
        double fv;
        gh_str sv;
        switch (ty) {
        case GH_GGUF_UINT32: assert_ok(gh_gguf_kv_uint(g, i, &uv)); assert_ok(gh_gguf_set_u32(w, key, (uint32_t)uv)); break;
        case GH_GGUF_INT32: assert_ok(gh_gguf_kv_int(g, i, &iv)); assert_ok(gh_gguf_set_i32(w, key, (int32_t)iv)); break;
        case GH_GGUF_BOOL: assert_ok(gh_gguf_kv_int(g, i, &iv)); assert_ok(gh_gguf_set_bool(w, key, iv != 0)); break;
        case GH_GGUF_FLOAT32: assert_ok(gh_gguf_kv_float(g, i, &fv)); assert_ok(gh_gguf_set_f32(w, key, (float)fv)); break;
        case GH_GGUF_STRING: assert_ok(gh_gguf_kv_str(g, i, &sv)); assert_ok(gh_gguf_set_strn(w, key, sv.ptr, sv.len)); break;
        case GH_GGUF_ARRAY: {
            gh_gguf_type et;
            uint64_t n;
            assert_ok(gh_gguf_arr_info(g, i, &et, &n));
            if (et == GH_GGUF_STRING) {
                const char **strs = malloc(n * sizeof *strs);
                uint64_t *lens = malloc(n * sizeof *lens);
                for (uint64_t j = 0; j < n; j++) {
                    assert_ok(gh_gguf_arr_str(g, i, j, &sv));
                    strs[j] = sv.ptr;
                    lens[j] = sv.len;
                }
                assert_ok(gh_gguf_set_arr_str(w, key, strs, lens, n));
                free(strs);
                free(lens);
            } else {
                const void *d;
                assert_ok(gh_gguf_arr_data(g, i, &d));
                assert_ok(gh_gguf_set_arr(w, key, et, d, n));
            }
            break;
        }
        default: fail_msg("key %s: type %d not copied by the test", key, (int)ty);
        }
    }
    for (int64_t i = 0; i < gh_gguf_n_tensors(g); i++) {
        const gh_tensor_info *t = gh_gguf_tensor(g, i);
        assert_ok(gh_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data));
    }
    assert_ok(gh_gguf_writer_write(w, dst));
    gh_gguf_writer_free(w);
    gh_gguf_free(g);
}

static void same_logits(const char *a, const char *b, const int32_t *ids, int32_t n) {
    int32_t va, vb;
    float *la = logits_all(a, ids, n, &va), *lb = logits_all(b, ids, n, &vb);
    assert_int_equal(va, vb);
    assert_memory_equal(la, lb, (size_t)n * va * sizeof(float));
    free(la);
    free(lb);
}

static void test_round_trip(void **state) {
    (void)state;
    NEED_TORCH();
    const char *conv = convert("llama", "");
    cJSON *ref = load_ref("llama");
    int32_t n;
    int32_t *ids = ref_ids(ref, &n);
    /* written back through the GGUF reader and writer */
    const char *copy = tu_tmp("llama_copy.gguf");
    copy_gguf(conv, copy);
    same_logits(conv, copy, ids, n);
    /* the GGUF written by the Python script from the spec: same tensors, same outputs */
    const char *indep = path_of("%s", "llama_indep.gguf");
    gh_gguf *a = NULL, *b = NULL;
    assert_ok(gh_gguf_open(conv, &a));
    assert_ok(gh_gguf_open(indep, &b));
    assert_int_equal(gh_gguf_n_tensors(a), gh_gguf_n_tensors(b));
    for (int64_t i = 0; i < gh_gguf_n_tensors(a); i++) {
        const gh_tensor_info *ta = gh_gguf_tensor(a, i);
        int64_t j = gh_gguf_find_tensor(b, ta->name);
        if (j < 0) fail_msg("the independent GGUF lacks '%s'", ta->name);
        const gh_tensor_info *tb = gh_gguf_tensor(b, j);
        assert_int_equal(ta->type, tb->type);
        assert_memory_equal(ta->ne, tb->ne, sizeof ta->ne);
        if (memcmp(ta->data, tb->data, ta->nbytes)) fail_msg("tensor '%s' differs from the independent GGUF", ta->name);
    }
    gh_gguf_free(a);
    gh_gguf_free(b);
    same_logits(conv, indep, ids, n);
    /* a sharded folder (three shards + index) converts to the very same bytes */
    const char *sh = convert("llama_sharded", "");
    size_t la, lb;
    char *fa = tu_read_file(conv, &la), *fb = tu_read_file(sh, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(fa, fb, la);
    free(fa);
    free(fb);
    free(ids);
    cJSON_Delete(ref);
}

/* ------------------------------------------------------------ another GGUF implementation */

/* Hugging Face's GGUF package from npm (scripts/npm, tests/convert/gguf_js.cjs):
 * skipped without it, except under CI / GH_REQUIRE_CROSSCHECK=1 (failed). */
static void need_gguf_js(void) {
    int st;
    free(tu_run("node -e 'require(\"./scripts/npm/node_modules/@huggingface/gguf\")' 2>&1", &st));
    if (st) tu_skip_or_fail("test_hf: SKIPPED: node or scripts/npm/node_modules/@huggingface/gguf is missing "
                            "(scripts/setup.sh --test)\n");
}

static cJSON *gguf_js_read(const char *file) {
    char *o = run_ok("node tests/convert/gguf_js.cjs read %s", file);
    cJSON *j = cJSON_Parse(o);
    free(o);
    assert_non_null(j);
    return j;
}

/* Element i of a GGUF array (arrays in the file are not aligned: memcpy). */
static double arr_num(const void *d, gh_gguf_type et, uint64_t i) {
    const uint8_t *p = (const uint8_t *)d + 4 * i;
    int32_t iv;
    uint32_t uv;
    float fv;
    switch (et) {
    case GH_GGUF_INT32: memcpy(&iv, p, 4); return iv;
    case GH_GGUF_UINT32: memcpy(&uv, p, 4); return uv;
    case GH_GGUF_FLOAT32: memcpy(&fv, p, 4); return fv;
    default: fail_msg("array element type %d not compared by the test", (int)et);
    }
    return 0;
}

/* What the package parses from `file` is what goodhart's reader gives: every
 * key with its type and value, every tensor's name, shape, type and offset. */
static void same_as_gguf_js(const char *file) {
    cJSON *js = gguf_js_read(file);
    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open(file, &g));
    const cJSON *kv = cJSON_GetObjectItem(js, "kv"), *tens = cJSON_GetObjectItem(js, "tensors");
    assert_int_equal(cJSON_GetArraySize(kv), gh_gguf_n_kv(g));
    for (int64_t i = 0; i < gh_gguf_n_kv(g); i++) {
        const char *key = gh_gguf_key(g, i);
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(kv, key);
        if (!e) fail_msg("%s: @huggingface/gguf does not see key %s", file, key);
        gh_gguf_type ty = gh_gguf_kv_type(g, i);
        assert_int_equal((int)cJSON_GetObjectItem(e, "type")->valuedouble, (int)ty);
        const cJSON *v = cJSON_GetObjectItem(e, "value");
        int64_t iv;
        uint64_t uv;
        double fv;
        gh_str sv;
        switch (ty) {
        case GH_GGUF_UINT32: assert_ok(gh_gguf_kv_uint(g, i, &uv)); assert_true(v->valuedouble == (double)uv); break;
        case GH_GGUF_INT32: assert_ok(gh_gguf_kv_int(g, i, &iv)); assert_true(v->valuedouble == (double)iv); break;
        case GH_GGUF_BOOL: assert_ok(gh_gguf_kv_int(g, i, &iv)); assert_int_equal(cJSON_IsTrue(v), iv != 0); break;
        case GH_GGUF_FLOAT32: assert_ok(gh_gguf_kv_float(g, i, &fv)); assert_true(v->valuedouble == fv); break;
        case GH_GGUF_STRING:
            assert_ok(gh_gguf_kv_str(g, i, &sv));
            assert_int_equal(strlen(v->valuestring), sv.len);
            assert_memory_equal(v->valuestring, sv.ptr, sv.len);
            break;
        case GH_GGUF_ARRAY: {
            gh_gguf_type et;
            uint64_t n;
            assert_ok(gh_gguf_arr_info(g, i, &et, &n));
            assert_int_equal((int)cJSON_GetObjectItem(e, "subType")->valuedouble, (int)et);
            assert_int_equal(cJSON_GetArraySize(v), n);
            const void *d = NULL;
            if (et != GH_GGUF_STRING) assert_ok(gh_gguf_arr_data(g, i, &d));
            uint64_t j = 0;
            const cJSON *x;
            cJSON_ArrayForEach(x, v) {
                if (et == GH_GGUF_STRING) {
                    assert_ok(gh_gguf_arr_str(g, i, j, &sv));
                    if (strlen(x->valuestring) != sv.len || memcmp(x->valuestring, sv.ptr, sv.len))
                        fail_msg("%s: %s[%llu] differs", file, key, (unsigned long long)j);
                } else if (x->valuedouble != arr_num(d, et, j)) fail_msg("%s: %s[%llu] differs", file, key, (unsigned long long)j);
                j++;
            }
            break;
        }
        default: fail_msg("key %s: type %d not compared by the test", key, (int)ty);
        }
    }
    assert_int_equal(cJSON_GetArraySize(tens), gh_gguf_n_tensors(g));
    for (int64_t i = 0; i < gh_gguf_n_tensors(g); i++) {
        const gh_tensor_info *t = gh_gguf_tensor(g, i);
        const cJSON *x = cJSON_GetArrayItem(tens, (int)i), *shape = cJSON_GetObjectItem(x, "shape");
        assert_string_equal(cJSON_GetObjectItem(x, "name")->valuestring, t->name);
        assert_int_equal((int)cJSON_GetObjectItem(x, "dtype")->valuedouble, (int)t->type);
        assert_true(cJSON_GetObjectItem(x, "offset")->valuedouble == (double)t->offset);
        assert_int_equal(cJSON_GetArraySize(shape), t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            assert_true(cJSON_GetArrayItem(shape, (int)d)->valuedouble == (double)t->ne[d]);
    }
    gh_gguf_free(g);
    cJSON_Delete(js);
}

static void test_other_gguf_tools(void **state) {
    (void)state;
    NEED_TORCH();
    need_gguf_js();
    /* (a) Hugging Face's parser reads goodhart's files as goodhart does: SPM
     * llama (f32 and q8_0), the Qwen2 reward head, BERT */
    same_as_gguf_js(convert("llama", ""));
    same_as_gguf_js(convert("llama", "q8_0"));
    same_as_gguf_js(convert("qwen2_rm", ""));
    const char *bert = convert("bert", "");
    same_as_gguf_js(bert);
    /* (b) a file whose metadata the package wrote (its buildGgufHeader; tensor
     * infos and data carried over, as its editing API does) loads and gives
     * the same logits */
    const char *conv = convert("llama", ""), *js = tu_tmp("llama_js.gguf");
    free(run_ok("node tests/convert/gguf_js.cjs rewrite %s %s 'written by JS' 2>&1", conv, js));
    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open(js, &g));
    gh_str s;
    assert_ok(gh_gguf_get_str(g, "general.name", &s));
    assert_int_equal(s.len, 13);
    assert_memory_equal(s.ptr, "written by JS", 13);
    assert_ok(gh_gguf_get_str(g, "general.description", &s));
    gh_gguf_free(g);
    cJSON *ref = load_ref("llama");
    int32_t n;
    int32_t *ids = ref_ids(ref, &n);
    same_logits(conv, js, ids, n);
    free(ids);
    cJSON_Delete(ref);
    /* llama.cpp's own BERT vocabulary (convert_hf_to_gguf.py on bge-small):
     * every key it writes is in goodhart's converted BERT, with the same type */
    const char *bge = tu_shared("tokenizers/ggml-vocab-bert-bge.gguf");
    gh_gguf *lc = NULL, *gb = NULL;
    assert_ok(gh_gguf_open(bge, &lc));
    assert_ok(gh_gguf_open(bert, &gb));
    for (int64_t i = 0; i < gh_gguf_n_kv(lc); i++) {
        const char *key = gh_gguf_key(lc, i);
        int64_t j = gh_gguf_find_key(gb, key);
        if (j < 0) fail_msg("llama.cpp's %s has key %s; goodhart's converted BERT lacks it", bge, key);
        assert_int_equal(gh_gguf_kv_type(lc, i), gh_gguf_kv_type(gb, j));
        if (gh_gguf_kv_type(lc, i) == GH_GGUF_ARRAY) {
            gh_gguf_type ea, eb;
            uint64_t na, nb;
            assert_ok(gh_gguf_arr_info(lc, i, &ea, &na));
            assert_ok(gh_gguf_arr_info(gb, j, &eb, &nb));
            assert_int_equal(ea, eb);
        }
    }
    assert_ok(gh_gguf_get_str(gb, "tokenizer.ggml.model", &s));
    assert_int_equal(s.len, 4);
    assert_memory_equal(s.ptr, "bert", 4);
    gh_gguf_free(lc);
    gh_gguf_free(gb);
}

/* Every quantized tensor of `q` equals the reference quantizer applied to the
 * f32 tensor of the same name in `f`; returns how many were quantized. */
static int same_as_ref_quant(const char *q, const char *f, gh_type want) {
    gh_gguf *gq = NULL, *gf = NULL;
    assert_ok(gh_gguf_open(q, &gq));
    assert_ok(gh_gguf_open(f, &gf));
    int nq = 0;
    for (int64_t i = 0; i < gh_gguf_n_tensors(gq); i++) {
        const gh_tensor_info *tq = gh_gguf_tensor(gq, i);
        const gh_tensor_info *tf = gh_gguf_tensor(gf, gh_gguf_find_tensor(gf, tq->name));
        assert_int_equal(tf->type, GH_TYPE_F32);
        if (tq->n_dims == 1) { assert_int_equal(tq->type, GH_TYPE_F32); continue; }
        if (tq->type != want) continue;
        const gh_type_traits *tr = gh_get_type_traits(want);
        size_t rb = (size_t)gh_type_row_bytes(want, tq->ne[0]);
        uint8_t *buf = malloc(rb * (size_t)tq->ne[1]);
        for (int64_t r = 0; r < tq->ne[1]; r++)
            tr->from_float_ref((const float *)tf->data + r * tq->ne[0], buf + r * rb, tq->ne[0]);
        assert_int_equal(tq->nbytes, rb * (size_t)tq->ne[1]);
        if (memcmp(buf, tq->data, tq->nbytes)) fail_msg("tensor '%s' is not the reference %s quantization", tq->name, tr->name);
        free(buf);
        nq++;
    }
    gh_gguf_free(gq);
    gh_gguf_free(gf);
    return nq;
}

static void test_quantize_on_the_way_in(void **state) {
    (void)state;
    NEED_TORCH();
    const char *f32 = convert("llama", "f32");
    /* 9 matrices per layer... minus norms: 7 per layer, token_embd and output */
    assert_int_equal(same_as_ref_quant(convert("llama", "q8_0"), f32, GH_TYPE_Q8_0), 2 * 7 + 2);
    double worst = logits_vs_ref(path_of("%s.q8_0.gguf", "llama"), "llama");
    print_message("llama q8_0: max |diff| %g, relative RMS %g\n", worst, g_rel);
    assert_true(g_rel <= 0.05);
    /* q4_K needs rows of 256: llama's 64 fall back to q8_0 (counted), mistral's fit */
    gh_convert_hf_params p = gh_convert_hf_default_params();
    p.wtype = GH_TYPE_Q4_K;
    gh_convert_hf_result r;
    assert_ok(gh_convert_hf(path_of("%s", "llama"), tu_tmp("llama_q4k.gguf"), &p, &r));
    assert_int_equal(r.n_fallback, 2 * 7 + 2);
    assert_int_equal(same_as_ref_quant(tu_tmp("llama_q4k.gguf"), f32, GH_TYPE_Q8_0), 2 * 7 + 2);
    const char *mf32 = convert("mistral", "f32");
    assert_int_equal(same_as_ref_quant(convert("mistral", "q4_K"), mf32, GH_TYPE_Q4_K), 2 * 7 + 2);
    worst = logits_vs_ref(path_of("%s.q4_K.gguf", "mistral"), "mistral");
    /* 4 bits through random (chaotic) attention: a sanity bound only (unrelated
     * logits would give about 1.4); the bytes were checked exactly above */
    print_message("mistral q4_K: max |diff| %g, relative RMS %g\n", worst, g_rel);
    assert_true(g_rel <= 0.75);
    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open(path_of("%s.q4_K.gguf", "mistral"), &g));
    uint32_t ft;
    assert_ok(gh_gguf_get_u32(g, "general.file_type", &ft));
    assert_int_equal(ft, 15);
    gh_gguf_free(g);
    /* f16 and q4_0 (rows of 64 fit its blocks of 32) and q6_K (mistral's rows
     * of 256): the bytes are the reference conversions, the logits close */
    static const struct { const char *model, *type; gh_type t; double rel; } qs[] = {
        {"llama", "f16", GH_TYPE_F16, 2e-3},
        {"llama", "q4_0", GH_TYPE_Q4_0, 0.5},
        {"mistral", "q6_K", GH_TYPE_Q6_K, 0.2},
    };
    for (size_t k = 0; k < sizeof qs / sizeof *qs; k++) {
        const char *q = convert(qs[k].model, qs[k].type);
        assert_int_equal(same_as_ref_quant(q, path_of("%s.f32.gguf", qs[k].model), qs[k].t), 2 * 7 + 2);
        worst = logits_vs_ref(q, qs[k].model);
        print_message("%s %s: max |diff| %g, relative RMS %g\n", qs[k].model, qs[k].type, worst, g_rel);
        assert_true(g_rel <= qs[k].rel);
    }
    /* the BERT encoder quantized on the way in: the mean-pooled unit vector
     * stays close (q6_K: rows of 64 fall back to q8_0) */
    static const struct { const char *type; gh_type t; double tol; } bq[] = {
        {"f32", GH_TYPE_F32, 1e-4}, {"f16", GH_TYPE_F16, 2e-3}, {"q4_0", GH_TYPE_Q4_0, 0.1}, {"q6_K", GH_TYPE_Q8_0, 0.02},
    };
    cJSON *bref = load_ref("bert");
    for (size_t k = 0; k < sizeof bq / sizeof *bq; k++) {
        const char *q = convert("bert", bq[k].type);
        if (k) assert_int_equal(same_as_ref_quant(q, path_of("%s.f32.gguf", "bert"), bq[k].t), 2 * 6 + 1);
        worst = bert_mean_vs_ref(q, bref);
        print_message("bert %s: max |diff| of the mean-pooled unit vector %g\n", bq[k].type, worst);
        expect_close(bq[k].type, worst, bq[k].tol);
    }
    cJSON_Delete(bref);
    /* types the runtime cannot compute with are refused up front */
    p.wtype = GH_TYPE_Q5_0;
    assert_int_equal(gh_convert_hf(path_of("%s", "llama"), tu_tmp("x.gguf"), &p, NULL), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), "q5_0");
}

/* ------------------------------------------------------------ bad input */

/* A copy of folder `name` as `dst` (under the temporary directory). */
static const char *copy_dir(const char *name, const char *dst) {
    static char out[8][4096];
    static int k;
    char *o = out[k++ % 8];
    snprintf(o, 4096, "%s", tu_tmp(dst));
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s/%s' '%s'", o, g_dir, name, o);
    int st;
    free(tu_run(cmd, &st));
    assert_int_equal(st, 0);
    return o;
}

/* Replaces the first `from` in file `path` by `to` (same length). */
static void patch_file(const char *path, const char *from, const char *to) {
    size_t len;
    char *b = tu_read_file(path, &len);
    assert_non_null(b);
    assert_int_equal(strlen(from), strlen(to));
    char *at = memmem(b, len, from, strlen(from));
    if (!at) fail_msg("'%s' not found in %s", from, path);
    memcpy(at, to, strlen(to));
    assert_int_equal(tu_write_file(path, b, len), 0);
    free(b);
}

/* A copy of folder `name` as `dst` with `from` replaced by `to` in its `file`. */
static const char *copy_patched(const char *name, const char *dst, const char *file, const char *from, const char *to) {
    const char *d = copy_dir(name, dst);
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", d, file);
    patch_file(p, from, to);
    return d;
}

static void convert_fails(const char *dir, gh_status want, const char *n1, const char *n2) {
    gh_status s = gh_convert_hf(dir, tu_tmp("bad.gguf"), NULL, NULL);
    if (s != want) print_message("%s: status %d (%s), wanted %d\n", dir, s, gh_last_error(), want);
    assert_int_equal(s, want);
    assert_contains(gh_last_error(), n1);
    if (n2) assert_contains(gh_last_error(), n2);
}

static void test_bad_input(void **state) {
    (void)state;
    NEED_TORCH();
    char p[4096];
    /* a missing shard: named, with a tensor it should hold */
    const char *d = copy_dir("llama_sharded", "bad_shard");
    snprintf(p, sizeof p, "%s/model-00002-of-00003.safetensors", d);
    assert_int_equal(remove(p), 0);
    convert_fails(d, GH_ERR_IO, "model-00002-of-00003.safetensors", "missing shard");
    /* the index names a tensor its shard does not hold */
    d = copy_patched("llama_sharded", "bad_index", "model.safetensors.index.json", "\"model.norm.weight\"", "\"model.norm.weighx\"");
    convert_fails(d, GH_ERR_FORMAT, "model.norm.weighx", "model.safetensors.index.json");
    /* shapes that do not match config.json */
    d = copy_patched("llama", "bad_shape", "config.json", "\"intermediate_size\": 96", "\"intermediate_size\": 80");
    convert_fails(d, GH_ERR_FORMAT, "model.safetensors: tensor 'model.layers.0.mlp.gate_proj.weight' has shape [96, 64], expected [80, 64]", NULL);
    /* an architecture not handled */
    d = copy_patched("llama", "bad_arch", "config.json", "\"LlamaForCausalLM\"", "\"BloomForCausalLM\"");
    convert_fails(d, GH_ERR_UNSUPPORTED, "config.json", "\"BloomForCausalLM\" is not supported");
    /* a needed tensor in a dtype that is not converted (I32 has F32's size) */
    d = copy_patched("llama", "bad_dtype", "model.safetensors", "\"model.norm.weight\": {\"dtype\": \"F32\"", "\"model.norm.weight\": {\"dtype\": \"I32\"");
    convert_fails(d, GH_ERR_UNSUPPORTED, "model.safetensors: tensor 'model.norm.weight' has dtype I32", NULL);
    /* a dtype name safetensors does not have */
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    patch_file(p, "\"dtype\": \"I32\"", "\"dtype\": \"Q32\"");
    convert_fails(d, GH_ERR_UNSUPPORTED, "tensor 'model.norm.weight': unknown dtype \"Q32\"", "model.safetensors");
    /* a missing tensor, and one the converter does not know (never dropped silently) */
    d = copy_patched("llama", "bad_missing", "model.safetensors", "\"model.norm.weight\"", "\"model.norm.weighx\"");
    convert_fails(d, GH_ERR_FORMAT, "tensor 'model.norm.weight' is missing", "model.safetensors");
    d = copy_patched("llama", "bad_extra", "model.safetensors", "\"lm_head.weight\"", "\"lm_head.weighx\"");
    snprintf(p, sizeof p, "%s/config.json", d);
    patch_file(p, "\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true ");
    convert_fails(d, GH_ERR_UNSUPPORTED, "tensor 'lm_head.weighx' is not part of LlamaForCausalLM", "model.safetensors");
    /* a classifier with two labels is not a reward model */
    convert_fails(path_of("%s", "rm_2labels"), GH_ERR_UNSUPPORTED, "tensor 'score.weight' has 2 labels", "model.safetensors");
    /* tokenizer.json giving one id to two tokens, or skipping an id */
    d = copy_patched("bert", "bad_dup_id", "tokenizer.json", "\"score\": 93", "\"score\": 92");
    convert_fails(d, GH_ERR_FORMAT, "tokenizer.json: tokens \"##ing\" (model.vocab) and \"score\" (model.vocab) both have id 92", NULL);
    d = copy_patched("bert", "bad_hole_id", "tokenizer.json", "\"prompt\": 97", "\"prompt\": 98");
    convert_fails(d, GH_ERR_FORMAT, "tokenizer.json: no token has id 97 (the id after token \"response\"", NULL);
    /* no weights; no config */
    d = copy_dir("llama", "bad_nofile");
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    assert_int_equal(remove(p), 0);
    convert_fails(d, GH_ERR_IO, "no model.safetensors or model.safetensors.index.json", NULL);
    snprintf(p, sizeof p, "%s/config.json", d);
    assert_int_equal(remove(p), 0);
    convert_fails(d, GH_ERR_IO, "config.json", NULL);
}

/* A safetensors file from a header string and `data_len` zero bytes. */
static const char *st_file(const char *name, const char *header, uint64_t hlen_override, size_t data_len) {
    const char *path = tu_tmp(name);
    size_t hl = strlen(header);
    size_t total = 8 + hl + data_len;
    uint8_t *b = calloc(1, total);
    uint64_t h = hlen_override ? hlen_override : hl;
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(h >> (8 * i));
    memcpy(b + 8, header, hl);
    assert_int_equal(tu_write_file(path, b, total), 0);
    free(b);
    return path;
}

static void st_fails(const char *path, gh_status want, const char *needle) {
    gh_st *st = NULL;
    gh_status s = gh_st_open_file(path, &st);
    if (s != want) print_message("%s: status %d (%s), wanted %d\n", path, s, gh_last_error(), want);
    assert_int_equal(s, want);
    assert_null(st);
    assert_contains(gh_last_error(), path);
    assert_contains(gh_last_error(), needle);
}

static void test_corrupted_safetensors(void **state) {
    (void)state;
    const char *ok = "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]},"
                     " \"b\": {\"dtype\": \"BF16\", \"shape\": [4], \"data_offsets\": [24, 32]}, \"__metadata__\": {}}";
    gh_st *st = NULL;
    assert_ok(gh_st_open_file(st_file("ok.safetensors", ok, 0, 32), &st));
    assert_int_equal(gh_st_n_tensors(st), 2);
    const gh_st_tensor *t = gh_st_find(st, "a");
    assert_non_null(t);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    float v[6];
    assert_ok(gh_st_read_f32(gh_st_find(st, "b"), v));
    assert_true(v[0] == 0.0f);
    gh_st_free(st);
    tu_write_file(tu_tmp("short.safetensors"), "abc", 3);
    st_fails(tu_tmp("short.safetensors"), GH_ERR_FORMAT, "too short");
    st_fails(st_file("hlen.safetensors", ok, 1u << 20, 32), GH_ERR_FORMAT, "header length 1048576 runs past the end");
    st_fails(st_file("json.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_off", 0, 32),
             GH_ERR_FORMAT, "not a JSON object");
    st_fails(st_file("range.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}}", 0, 16),
             GH_ERR_FORMAT, "tensor 'a': data_offsets [0, 24] lie outside the data section (16 bytes)");
    st_fails(st_file("size.safetensors", "{\"a\": {\"dtype\": \"F16\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}}", 0, 24),
             GH_ERR_FORMAT, "tensor 'a': data_offsets hold 24 bytes, but shape and dtype F16 need 12");
    st_fails(st_file("overlap.safetensors",
                     "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                     " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 0, 16),
             GH_ERR_FORMAT, "tensors 'a' and 'b' overlap");
    st_fails(st_file("neg.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 0, 8),
             GH_ERR_FORMAT, "tensor 'a': shape[0] is not a non-negative integer");
    st_fails(st_file("dims.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1], \"data_offsets\": [0, 4]}}", 0, 4),
             GH_ERR_UNSUPPORTED, "tensor 'a': 5 dimensions");
    st_fails(st_file("nodt.safetensors", "{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 0, 4),
             GH_ERR_FORMAT, "tensor 'a': \"dtype\" missing");
    st_fails(st_file("twice.safetensors",
                     "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                     " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 0, 8),
             GH_ERR_FORMAT, "tensor 'a' appears twice");
    st_fails(st_file("notjson.safetensors", "GGUF....", 0, 8), GH_ERR_FORMAT, "not a safetensors file");
    /* a readable F64 tensor is refused when read as floats, naming it */
    assert_ok(gh_st_open_file(st_file("f64.safetensors", "{\"d\": {\"dtype\": \"F64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", 0, 8), &st));
    assert_int_equal(gh_st_read_f32(gh_st_find(st, "d"), v), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), "tensor 'd' has dtype F64");
    gh_st_free(st);
}

/* ------------------------------------------------------------ the command */

static void test_cli(void **state) {
    (void)state;
    NEED_TORCH();
    int st;
    char *o = tu_cli(&st, "convert hf %s/mistral -o %s --type q8_0", g_dir, tu_tmp("cli.gguf"));
    if (st) print_message("%s\n", o);
    assert_int_equal(st, 0);
    assert_contains(o, "wrote ");
    assert_contains(o, "llama (MistralForCausalLM), 21 tensors");
    assert_contains(o, "sliding window of 64 tokens");
    free(o);
    o = tu_cli(&st, "convert hf %s/qwen2_rm -o %s", g_dir, tu_tmp("cli_rm.gguf"));
    assert_int_equal(st, 0);
    assert_contains(o, "reward head (last token)");
    free(o);
    o = tu_cli(&st, "convert hf %s/nope -o %s", g_dir, tu_tmp("cli2.gguf"));
    assert_int_equal(st, 1);
    assert_contains(o, "nope/config.json");
    free(o);
    o = tu_cli(&st, "convert hf %s/llama", g_dir);
    assert_int_equal(st, 2);
    assert_contains(o, "no output file");
    free(o);
    o = tu_cli(&st, "convert gguf x -o y");
    assert_int_equal(st, 2);
    assert_contains(o, "unknown source format 'gguf' (hf or llama2c)");
    free(o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_vs_torch),
        cmocka_unit_test(test_mistral_vs_torch),
        cmocka_unit_test(test_qwen2_vs_torch),
        cmocka_unit_test(test_reward_heads_vs_torch),
        cmocka_unit_test(test_bert_vs_torch),
        cmocka_unit_test(test_cli_vs_torch),
        cmocka_unit_test(test_tokenizers),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_other_gguf_tools),
        cmocka_unit_test(test_quantize_on_the_way_in),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_corrupted_safetensors),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests_name("convert_hf", tests, setup, NULL);
}
