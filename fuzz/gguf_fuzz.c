/* gguf_fuzz.c — libFuzzer target for the GGUF reader.
 *
 * Feeds arbitrary bytes to gh_gguf_open_memory and, when they parse, calls every
 * accessor on every key, array element and tensor, reading the first and last
 * byte of each string and each tensor's data so that AddressSanitizer sees any
 * pointer the reader hands out that leaves the input. A failed open must leave
 * a message that names the input. Built and run by fuzz/run.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/gguf.h"

#define FUZZ_NAME "fuzz.gguf"

static volatile uint64_t g_sink; /* keeps the reads from being optimized away */

static void check(int cond, const char *what) {
    if (!cond) {
        fprintf(stderr, "gguf_fuzz: invariant failed: %s (last error: %s)\n", what, gh_last_error());
        abort();
    }
}

static void touch_str(gh_str s) {
    if (s.len) g_sink += (uint8_t)s.ptr[0] + (uint8_t)s.ptr[s.len - 1];
}

static void touch_key(const gh_gguf *g, int64_t i) {
    const char *key = gh_gguf_key(g, i);
    check(key != NULL, "gh_gguf_key returned NULL for a valid index");
    check(gh_gguf_find_key(g, key) == i, "gh_gguf_find_key does not find a key by its own name");
    gh_gguf_type t = gh_gguf_kv_type(g, i);
    check(t < GH_GGUF_TYPE_COUNT, "kv type out of range");
    g_sink += (uint64_t)strlen(gh_gguf_type_name(t));

    /* typed getters by name: each either succeeds or fails with a message */
    uint32_t u32;
    int64_t i64;
    uint64_t u64;
    float f32;
    double f64;
    bool b;
    gh_str s;
    if (gh_gguf_get_u32(g, key, &u32) == GH_OK) g_sink += u32;
    if (gh_gguf_get_i64(g, key, &i64) == GH_OK) g_sink += (uint64_t)i64;
    if (gh_gguf_get_f32(g, key, &f32) == GH_OK) g_sink += f32 == f32;
    if (gh_gguf_get_bool(g, key, &b) == GH_OK) g_sink += b;
    if (gh_gguf_get_str(g, key, &s) == GH_OK) touch_str(s);
    if (gh_gguf_get_u32_or(g, key, 1, &u32) == GH_OK) g_sink += u32;
    if (gh_gguf_get_f32_or(g, key, 1.0f, &f32) == GH_OK) g_sink += f32 == f32;
    if (gh_gguf_get_bool_or(g, key, true, &b) == GH_OK) g_sink += b;

    /* by index */
    if (gh_gguf_kv_int(g, i, &i64) == GH_OK) g_sink += (uint64_t)i64;
    if (gh_gguf_kv_uint(g, i, &u64) == GH_OK) g_sink += u64;
    if (gh_gguf_kv_float(g, i, &f64) == GH_OK) g_sink += f64 == f64;
    if (gh_gguf_kv_str(g, i, &s) == GH_OK) touch_str(s);

    gh_gguf_type et;
    uint64_t n;
    if (gh_gguf_arr_info(g, i, &et, &n) != GH_OK) {
        check(t != GH_GGUF_ARRAY, "arr_info failed on an array");
        return;
    }
    check(t == GH_GGUF_ARRAY, "arr_info succeeded on a non-array");
    check(n <= gh_gguf_size(g), "array count larger than the input");
    const void *data;
    if (gh_gguf_arr_data(g, i, &data) == GH_OK && n) {
        const uint8_t *p = data;
        g_sink += p[0];
        /* the last byte of the last element */
        uint64_t esz = et == GH_GGUF_UINT8 || et == GH_GGUF_INT8 || et == GH_GGUF_BOOL ? 1
                     : et == GH_GGUF_UINT16 || et == GH_GGUF_INT16                    ? 2
                     : et == GH_GGUF_UINT64 || et == GH_GGUF_INT64 || et == GH_GGUF_FLOAT64 ? 8 : 4;
        g_sink += p[n * esz - 1];
    }
    for (uint64_t j = 0; j < n; j++) {
        if (gh_gguf_arr_str(g, i, j, &s) != GH_OK) break;
        touch_str(s);
    }
    check(gh_gguf_arr_str(g, i, n, &s) != GH_OK, "arr_str accepted an index past the end");
    float *fv = malloc((n ? n : 1) * sizeof *fv);
    int32_t *iv = malloc((n ? n : 1) * sizeof *iv);
    if (fv && iv) {
        if (gh_gguf_arr_to_f32(g, i, fv, n) == GH_OK && n) g_sink += fv[n - 1] == fv[n - 1];
        if (gh_gguf_arr_to_i32(g, i, iv, n) == GH_OK && n) g_sink += (uint32_t)iv[n - 1];
        check(n == 0 || gh_gguf_arr_to_f32(g, i, fv, n - 1) != GH_OK, "arr_to_f32 accepted a wrong count");
    }
    free(fv);
    free(iv);
}

static void touch_tensor(const gh_gguf *g, int64_t i, const uint8_t *base, size_t size) {
    const gh_tensor_info *t = gh_gguf_tensor(g, i);
    check(t != NULL, "gh_gguf_tensor returned NULL for a valid index");
    check(gh_gguf_find_tensor(g, t->name) == i, "gh_gguf_find_tensor does not find a tensor by its own name");
    check(t->n_dims >= 1 && t->n_dims <= GH_MAX_DIMS, "n_dims out of range");
    check(gh_type_name(t->type) != NULL, "tensor of an unknown type accepted");
    int64_t rows = 1;
    for (int d = 0; d < GH_MAX_DIMS; d++) {
        check(t->ne[d] >= 0, "negative dimension");
        if (d > 0) rows *= t->ne[d]; /* cannot overflow: the reader checked the product */
    }
    int64_t row = gh_type_row_bytes(t->type, t->ne[0]);
    check(row >= 0 && (uint64_t)(row * rows) == t->nbytes, "nbytes disagrees with type and shape");
    check(t->offset % gh_gguf_alignment(g) == 0, "misaligned tensor accepted");
    const uint8_t *p = t->data;
    check(p >= base && (uint64_t)(p - base) <= size && t->nbytes <= size - (uint64_t)(p - base),
          "tensor data outside the input");
    if (t->nbytes) g_sink += p[0] + p[t->nbytes - 1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gh_gguf *g = NULL;
    gh_status s = gh_gguf_open_memory(data, size, FUZZ_NAME, &g);
    if (s != GH_OK) {
        check(g == NULL, "handle left set after a failed open");
        check(s == GH_ERR_FORMAT || s == GH_ERR_UNSUPPORTED, "unexpected status for bad input");
        check(strncmp(gh_last_error(), FUZZ_NAME ": ", sizeof FUZZ_NAME + 1) == 0,
              "error message does not start with the input's name");
        return 0;
    }
    check(gh_gguf_version(g) == 2 || gh_gguf_version(g) == 3, "version");
    uint32_t a = gh_gguf_alignment(g);
    check(a && (a & (a - 1)) == 0, "alignment not a power of two");
    check(gh_gguf_size(g) == size, "size");
    for (int64_t i = 0; i < gh_gguf_n_kv(g); i++) touch_key(g, i);
    for (int64_t i = 0; i < gh_gguf_n_tensors(g); i++) touch_tensor(g, i, data, size);
    check(gh_gguf_key(g, gh_gguf_n_kv(g)) == NULL, "key past the end");
    check(gh_gguf_tensor(g, gh_gguf_n_tensors(g)) == NULL, "tensor past the end");
    int64_t dummy;
    check(gh_gguf_kv_int(g, -1, &dummy) == GH_ERR_INVALID_ARG, "negative index accepted");
    gh_gguf_free(g);
    return 0;
}
