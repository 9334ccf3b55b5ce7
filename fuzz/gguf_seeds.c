/* gguf_seeds.c — writes a seed corpus for gguf_fuzz: small valid GGUF files that
 * between them use every metadata type, string and numeric arrays, a nested
 * array, a non-default alignment, version 2, and tensors of several types and
 * shapes. Starting from valid files lets the fuzzer reach the deep checks
 * (tensor offsets, alignment) instead of dying on the magic.
 *
 *   gguf_seeds DIR      (DIR is created if needed)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "goodhart/gguf.h"

static const char *g_dir;
static int g_count;

static void die(const char *what) {
    fprintf(stderr, "gguf_seeds: %s: %s\n", what, gh_last_error());
    exit(1);
}

static void write_seed(gh_gguf_writer *w, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gguf", g_dir, name);
    if (gh_gguf_writer_write(w, path) != GH_OK) die(name);
    gh_gguf_writer_free(w);
    g_count++;
}

#define CHK(expr) do { if ((expr) != GH_OK) die(#expr); } while (0)

static gh_gguf_writer *new_writer(void) {
    gh_gguf_writer *w = NULL;
    if (gh_gguf_writer_init(&w) != GH_OK) die("init");
    return w;
}

/* Raw bytes, for what the writer cannot express (nested arrays, version 2). */
static void write_raw(const char *name, const void *data, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gguf", g_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "gguf_seeds: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    g_count++;
}

static size_t put(uint8_t *p, size_t o, const void *d, size_t n) {
    memcpy(p + o, d, n);
    return o + n;
}
static size_t put32(uint8_t *p, size_t o, uint32_t v) { return put(p, o, &v, 4); }
static size_t put64(uint8_t *p, size_t o, uint64_t v) { return put(p, o, &v, 8); }
static size_t putstr(uint8_t *p, size_t o, const char *s) {
    o = put64(p, o, strlen(s));
    return put(p, o, s, strlen(s));
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gguf_seeds DIR\n");
        return 2;
    }
    g_dir = argv[1];
    if (mkdir(g_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "gguf_seeds: cannot create %s: %s\n", g_dir, strerror(errno));
        return 1;
    }

    /* 1. empty, and one scalar of each type */
    write_seed(new_writer(), "empty");
    gh_gguf_writer *w = new_writer();
    CHK(gh_gguf_set_u8(w, "u8", 1));
    CHK(gh_gguf_set_i8(w, "i8", -1));
    CHK(gh_gguf_set_u16(w, "u16", 2));
    CHK(gh_gguf_set_i16(w, "i16", -2));
    CHK(gh_gguf_set_u32(w, "u32", 3));
    CHK(gh_gguf_set_i32(w, "i32", -3));
    CHK(gh_gguf_set_u64(w, "u64", 4));
    CHK(gh_gguf_set_i64(w, "i64", -4));
    CHK(gh_gguf_set_f32(w, "f32", 0.5f));
    CHK(gh_gguf_set_f64(w, "f64", 1e300));
    CHK(gh_gguf_set_bool(w, "bool", true));
    CHK(gh_gguf_set_str(w, "str", "hello"));
    write_seed(w, "scalars");

    /* 2. arrays, vocabulary-like */
    w = new_writer();
    const char *toks[] = {"<unk>", "<s>", "</s>", "\xc4\xa0the", ""};
    const float scores[] = {0, 0, 0, -1.5f, -2};
    const int32_t types[] = {2, 3, 3, 1, 1};
    const uint8_t bools[] = {1, 0, 1};
    const double dbl[] = {1.0, 2.5};
    const uint64_t big[] = {UINT64_MAX, 3000000000u};
    CHK(gh_gguf_set_str(w, "tokenizer.ggml.model", "llama"));
    CHK(gh_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 5));
    CHK(gh_gguf_set_arr(w, "tokenizer.ggml.scores", GH_GGUF_FLOAT32, scores, 5));
    CHK(gh_gguf_set_arr(w, "tokenizer.ggml.token_type", GH_GGUF_INT32, types, 5));
    CHK(gh_gguf_set_arr(w, "bools", GH_GGUF_BOOL, bools, 3));
    CHK(gh_gguf_set_arr(w, "f64s", GH_GGUF_FLOAT64, dbl, 2));
    CHK(gh_gguf_set_arr(w, "u64s", GH_GGUF_UINT64, big, 2));
    CHK(gh_gguf_set_arr(w, "none", GH_GGUF_UINT8, NULL, 0));
    write_seed(w, "arrays");

    /* 3. tensors of several types, default alignment */
    static uint8_t data[4096];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 31 + 7);
    w = new_writer();
    CHK(gh_gguf_set_str(w, "general.architecture", "llama"));
    CHK(gh_gguf_set_u32(w, "llama.context_length", 128));
    const int64_t ne_f32[2] = {4, 3}, ne_q8[2] = {32, 2}, ne_q4k[1] = {256}, ne_f16[3] = {2, 2, 2},
                  ne_empty[2] = {0, 5}, ne_q40[4] = {32, 1, 1, 2};
    CHK(gh_gguf_add_tensor(w, "token_embd.weight", GH_TYPE_F32, 2, ne_f32, data));
    CHK(gh_gguf_add_tensor(w, "blk.0.attn_q.weight", GH_TYPE_Q8_0, 2, ne_q8, data));
    CHK(gh_gguf_add_tensor(w, "blk.0.ffn_down.weight", GH_TYPE_Q4_K, 1, ne_q4k, data));
    CHK(gh_gguf_add_tensor(w, "f16", GH_TYPE_F16, 3, ne_f16, data));
    CHK(gh_gguf_add_tensor(w, "empty", GH_TYPE_F32, 2, ne_empty, data));
    CHK(gh_gguf_add_tensor(w, "q4_0", GH_TYPE_Q4_0, 4, ne_q40, data));
    write_seed(w, "tensors");

    /* 4. small alignment, one tiny tensor */
    w = new_writer();
    CHK(gh_gguf_set_alignment(w, 8));
    const int64_t ne1[1] = {3};
    CHK(gh_gguf_add_tensor(w, "norm", GH_TYPE_F32, 1, ne1, data));
    CHK(gh_gguf_add_tensor(w, "idx", GH_TYPE_I32, 1, ne1, data));
    write_seed(w, "align8");

    /* 5. large alignment */
    w = new_writer();
    CHK(gh_gguf_set_alignment(w, 256));
    const int64_t ne_i8[1] = {5};
    CHK(gh_gguf_add_tensor(w, "i8", GH_TYPE_I8, 1, ne_i8, data));
    CHK(gh_gguf_add_tensor(w, "bf16", GH_TYPE_BF16, 1, ne_i8, data));
    write_seed(w, "align256");

    /* 6. hand-made: version 2, a nested array, one tensor */
    uint8_t raw[512];
    size_t o = 0;
    o = put(raw, o, "GGUF", 4);
    o = put32(raw, o, 2);
    o = put64(raw, o, 1); /* tensors */
    o = put64(raw, o, 2); /* keys */
    o = putstr(raw, o, "nested");
    o = put32(raw, o, GH_GGUF_ARRAY);
    o = put32(raw, o, GH_GGUF_ARRAY);
    o = put64(raw, o, 2);
    o = put32(raw, o, GH_GGUF_UINT16);
    o = put64(raw, o, 2);
    o = put32(raw, o, 0x00020001u);
    o = put32(raw, o, GH_GGUF_STRING);
    o = put64(raw, o, 1);
    o = putstr(raw, o, "hi");
    o = putstr(raw, o, "general.alignment");
    o = put32(raw, o, GH_GGUF_UINT32);
    o = put32(raw, o, 16);
    o = putstr(raw, o, "w");
    o = put32(raw, o, 1);
    o = put64(raw, o, 4);
    o = put32(raw, o, GH_TYPE_F32);
    o = put64(raw, o, 0);
    while (o % 16) raw[o++] = 0;
    o = put(raw, o, data, 16);
    write_raw("v2_nested", raw, o);

    printf("gguf_seeds: wrote %d seed files to %s\n", g_count, g_dir);
    return 0;
}
