/* Tests of the GGUF reader on malformed and hostile input. Each failure path of
 * the reader gets a file crafted byte by byte (or a valid file cut or
 * corrupted), and each test checks the status and that the message names the
 * file and the problem. Sweeps truncate a file at every byte and overwrite
 * every header/metadata byte with a few values: under the sanitizer build
 * these also prove the reader never reads out of bounds. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/gguf.h"

#define NAME "crafted.gguf"

/* ------------------------------------------------------------------ byte builder */

typedef struct bb {
    uint8_t *p;
    size_t n, cap;
} bb;

static void bb_put(bb *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void bb_u8(bb *b, uint8_t v) { bb_put(b, &v, 1); }
static void bb_u32(bb *b, uint32_t v) { bb_put(b, &v, 4); }
static void bb_u64(bb *b, uint64_t v) { bb_put(b, &v, 8); }
static void bb_str(bb *b, const char *s) {
    bb_u64(b, strlen(s));
    bb_put(b, s, strlen(s));
}
static void bb_zeros(bb *b, size_t n) {
    for (size_t i = 0; i < n; i++) bb_u8(b, 0);
}
static void bb_pad(bb *b, size_t a) { bb_zeros(b, (a - b->n % a) % a); }

static void hdr(bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    bb_put(b, "GGUF", 4);
    bb_u32(b, version);
    bb_u64(b, n_tensors);
    bb_u64(b, n_kv);
}

static void kv_u32(bb *b, const char *key, uint32_t v) {
    bb_str(b, key);
    bb_u32(b, GH_GGUF_UINT32);
    bb_u32(b, v);
}

static void tinfo(bb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset) {
    bb_str(b, name);
    bb_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) bb_u64(b, ne[d]);
    bb_u32(b, type);
    bb_u64(b, offset);
}

/* ------------------------------------------------------------------ checks */

/* Opens b (with some trailing bytes cut off) and expects failure. */
static void expect_fail_n(const bb *b, size_t len, gh_status want, const char *needle, const char *file, int line) {
    gh_gguf *g = (gh_gguf *)b; /* must come back NULL */
    gh_status s = gh_gguf_open_memory(b->p, len, NAME, &g);
    if (s != want) {
        fprintf(stderr, "%s:%d: expected status %s, got %s (%s)\n", file, line, gh_status_str(want),
                gh_status_str(s), gh_last_error());
        if (s == GH_OK) gh_gguf_free(g);
        fail();
    }
    assert_null(g);
    tu_assert_contains(gh_last_error(), NAME ": ", file, line);
    tu_assert_contains(gh_last_error(), needle, file, line);
}
#define expect_fail(b, want, needle) expect_fail_n((b), (b)->n, (want), (needle), __FILE__, __LINE__)

static gh_gguf *expect_ok(const bb *b) {
    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open_memory(b->p, b->n, NAME, &g));
    return g;
}

/* Reads everything a caller could ask for (the fuzzer does the same). */
static void touch_all(const gh_gguf *g) {
    volatile uint64_t sink = 0;
    for (int64_t i = 0; i < gh_gguf_n_kv(g); i++) {
        const char *k = gh_gguf_key(g, i);
        assert_non_null(k);
        assert_int_equal(gh_gguf_find_key(g, k), i);
        int64_t iv;
        uint64_t uv;
        double dv;
        gh_str s;
        gh_gguf_type et;
        uint64_t n;
        const void *data;
        if (gh_gguf_kv_int(g, i, &iv) == GH_OK) sink += (uint64_t)iv;
        if (gh_gguf_kv_uint(g, i, &uv) == GH_OK) sink += uv;
        if (gh_gguf_kv_float(g, i, &dv) == GH_OK) sink += (uint64_t)(dv == dv);
        if (gh_gguf_kv_str(g, i, &s) == GH_OK && s.len) sink += (uint8_t)s.ptr[s.len - 1];
        if (gh_gguf_arr_info(g, i, &et, &n) == GH_OK) {
            if (gh_gguf_arr_data(g, i, &data) == GH_OK && n) sink += ((const uint8_t *)data)[n - 1];
            for (uint64_t j = 0; j < n && j < 64; j++)
                if (gh_gguf_arr_str(g, i, j, &s) == GH_OK && s.len) sink += (uint8_t)s.ptr[s.len - 1];
            if (n <= 64) {
                float f[64];
                int32_t i32[64];
                (void)gh_gguf_arr_to_f32(g, i, f, n);
                (void)gh_gguf_arr_to_i32(g, i, i32, n);
            }
        }
    }
    for (int64_t i = 0; i < gh_gguf_n_tensors(g); i++) {
        const gh_tensor_info *t = gh_gguf_tensor(g, i);
        assert_int_equal(gh_gguf_find_tensor(g, t->name), i);
        if (t->nbytes) sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    (void)sink;
}

/* A small valid file: one key, one f32 tensor [4] at offset 0. */
static void minimal(bb *b, uint32_t type, uint64_t ne0, uint64_t offset, size_t data_bytes) {
    hdr(b, 3, 1, 1);
    kv_u32(b, "k", 7);
    uint64_t ne[1] = {ne0};
    tinfo(b, "w", 1, ne, type, offset);
    bb_pad(b, 32);
    bb_zeros(b, data_bytes);
}

/* ------------------------------------------------------------------ header */

static void test_header(void **state) {
    (void)state;
    bb b = {0};
    bb_put(&b, "GGU", 3);
    for (size_t n = 0; n <= 3; n++) expect_fail_n(&b, n, GH_ERR_FORMAT, "too small", __FILE__, __LINE__);
    b.n = 0;
    hdr(&b, 3, 0, 0);
    gh_gguf *g = expect_ok(&b); /* the smallest valid file: 24 bytes */
    assert_int_equal(gh_gguf_n_kv(g), 0);
    gh_gguf_free(g);
    memcpy(b.p, "GGML", 4);
    expect_fail(&b, GH_ERR_FORMAT, "bad magic 'GGML'");
    memcpy(b.p, "\x00\xff\n'", 4);
    expect_fail(&b, GH_ERR_FORMAT, "bad magic '\\x00\\xff\\x0a\\x27'");
    memcpy(b.p, "GGUF", 4);
    for (size_t n = 4; n < 24; n++) expect_fail_n(&b, n, GH_ERR_FORMAT, "header: file truncated", __FILE__, __LINE__);

    uint32_t v = 1;
    memcpy(b.p + 4, &v, 4);
    expect_fail(&b, GH_ERR_UNSUPPORTED, "unsupported version: GGUF version 1");
    v = 4;
    memcpy(b.p + 4, &v, 4);
    expect_fail(&b, GH_ERR_UNSUPPORTED, "unsupported version: GGUF version 4");
    v = 0;
    memcpy(b.p + 4, &v, 4);
    expect_fail(&b, GH_ERR_UNSUPPORTED, "GGUF version 0");
    v = 0x03000000u;
    memcpy(b.p + 4, &v, 4);
    expect_fail(&b, GH_ERR_UNSUPPORTED, "big-endian");
    v = 2;
    memcpy(b.p + 4, &v, 4);
    g = expect_ok(&b);
    assert_int_equal(gh_gguf_version(g), 2);
    gh_gguf_free(g);
    free(b.p);
}

/* Counts larger than the file could hold are refused before anything is
 * allocated for them. */
static void test_absurd_counts(void **state) {
    (void)state;
    bb b = {0};
    hdr(&b, 3, 0, UINT64_MAX);
    bb_zeros(&b, 100);
    expect_fail(&b, GH_ERR_FORMAT, "header: claims 18446744073709551615 metadata keys, more than the 100 bytes");
    b.n = 0;
    hdr(&b, 3, UINT64_C(1) << 40, 0);
    bb_zeros(&b, 100);
    expect_fail(&b, GH_ERR_FORMAT, "claims 1099511627776 tensors");
    b.n = 0;
    hdr(&b, 3, 3, 3); /* 3*32 + 3*13 = 135 > 100 */
    bb_zeros(&b, 100);
    expect_fail(&b, GH_ERR_FORMAT, "claims 3 metadata keys and 3 tensors");
    /* a count that passes the bound but runs out of entries */
    b.n = 0;
    hdr(&b, 3, 0, 2);
    kv_u32(&b, "a", 1);
    bb_zeros(&b, 12); /* an empty key of type u8, and no byte for its value */
    expect_fail(&b, GH_ERR_FORMAT, "key '': file truncated: u8 value needs 1 bytes at offset 53");
    free(b.p);
}

/* ------------------------------------------------------------------ metadata */

static void test_strings(void **state) {
    (void)state;
    bb b = {0};
    /* key length past the end */
    hdr(&b, 3, 0, 1);
    bb_u64(&b, 1000);
    bb_put(&b, "general.name", 12);
    bb_zeros(&b, 8);
    expect_fail(&b, GH_ERR_FORMAT, "metadata entry 0: key of 1000 bytes at offset 32 runs past the end of the file (52 bytes)");
    /* absurd key length (would overflow a naive pos + len) */
    b.n = 0;
    hdr(&b, 3, 0, 1);
    bb_u64(&b, UINT64_MAX);
    bb_zeros(&b, 20);
    expect_fail(&b, GH_ERR_FORMAT, "key of 18446744073709551615 bytes");
    /* string value length past the end */
    b.n = 0;
    hdr(&b, 3, 0, 1);
    bb_str(&b, "general.name");
    bb_u32(&b, GH_GGUF_STRING);
    bb_u64(&b, 9);
    bb_put(&b, "llama", 5);
    expect_fail(&b, GH_ERR_FORMAT, "key 'general.name': string value of 9 bytes at offset 56 runs past the end");
    b.n -= 5;
    bb_put(&b, "llama2-7b", 9);
    gh_gguf *g = expect_ok(&b);
    gh_str s;
    assert_ok(gh_gguf_get_str(g, "general.name", &s));
    assert_int_equal(s.len, 9);
    gh_gguf_free(g);
    /* value string length huge */
    b.n = 0;
    hdr(&b, 3, 0, 1);
    bb_str(&b, "k");
    bb_u32(&b, GH_GGUF_STRING);
    bb_u64(&b, UINT64_MAX - 3);
    bb_zeros(&b, 16);
    expect_fail(&b, GH_ERR_FORMAT, "string value of 18446744073709551612 bytes");
    /* a key with a NUL inside */
    b.n = 0;
    hdr(&b, 3, 0, 1);
    bb_u64(&b, 3);
    bb_put(&b, "a\0b", 3);
    bb_u32(&b, GH_GGUF_UINT8);
    bb_u8(&b, 1);
    expect_fail(&b, GH_ERR_FORMAT, "key 'a\\x00b' contains a NUL byte");
    free(b.p);
}

static void test_value_types(void **state) {
    (void)state;
    bb b = {0};
    hdr(&b, 3, 0, 1);
    bb_str(&b, "my.key");
    bb_u32(&b, 13);
    bb_zeros(&b, 8);
    expect_fail(&b, GH_ERR_FORMAT, "key 'my.key': unknown value type 13");
    b.n = 0;
    hdr(&b, 3, 0, 1);
    bb_str(&b, "my.key");
    bb_u32(&b, 0xffffffffu);
    bb_zeros(&b, 8);
    expect_fail(&b, GH_ERR_FORMAT, "unknown value type 4294967295");
    /* a scalar cut short */
    b.n = 0;
    hdr(&b, 3, 0, 1);
    bb_str(&b, "my.key");
    bb_u32(&b, GH_GGUF_UINT64);
    bb_zeros(&b, 5);
    expect_fail(&b, GH_ERR_FORMAT, "key 'my.key': file truncated: u64 value needs 8 bytes at offset 42");
    /* bools must be 0 or 1 */
    b.n = 0;
    hdr(&b, 3, 0, 1);
    bb_str(&b, "flag");
    bb_u32(&b, GH_GGUF_BOOL);
    bb_u8(&b, 2);
    expect_fail(&b, GH_ERR_FORMAT, "key 'flag': bool value 2 at offset 40 is neither 0 nor 1");
    b.p[b.n - 1] = 1;
    gh_gguf *g = expect_ok(&b);
    bool v = false;
    assert_ok(gh_gguf_get_bool(g, "flag", &v));
    assert_true(v);
    gh_gguf_free(g);
    /* duplicate keys */
    b.n = 0;
    hdr(&b, 3, 0, 3);
    kv_u32(&b, "a", 1);
    kv_u32(&b, "b", 2);
    kv_u32(&b, "a", 3);
    expect_fail(&b, GH_ERR_FORMAT, "duplicate key 'a' (metadata entries 0 and 2)");
    free(b.p);
}

static void test_arrays(void **state) {
    (void)state;
    bb b = {0};
    /* unknown element type */
    hdr(&b, 3, 0, 1);
    bb_str(&b, "arr");
    bb_u32(&b, GH_GGUF_ARRAY);
    bb_u32(&b, 77);
    bb_u64(&b, 1);
    bb_zeros(&b, 8);
    expect_fail(&b, GH_ERR_FORMAT, "key 'arr': array has unknown element type 77");
    /* absurd counts, for each kind of element */
    static const uint32_t kinds[] = {GH_GGUF_UINT8, GH_GGUF_FLOAT64, GH_GGUF_STRING, GH_GGUF_ARRAY};
    static const char *const kind_names[] = {"u8 elements", "f64 elements", "string elements", "array elements"};
    static const uint64_t counts[] = {UINT64_MAX, UINT64_C(1) << 61, 1000};
    for (size_t k = 0; k < 4; k++) {
        for (size_t c = 0; c < 3; c++) {
            b.n = 0;
            hdr(&b, 3, 0, 1);
            bb_str(&b, "arr");
            bb_u32(&b, GH_GGUF_ARRAY);
            bb_u32(&b, kinds[k]);
            bb_u64(&b, counts[c]);
            bb_zeros(&b, 64);
            expect_fail(&b, GH_ERR_FORMAT, kind_names[k]);
            assert_contains(gh_last_error(), "cannot fit in the 64 bytes left in the file");
        }
    }
    /* string element running past the end */
    b.n = 0;
    hdr(&b, 3, 0, 1);
    bb_str(&b, "tokenizer.ggml.tokens");
    bb_u32(&b, GH_GGUF_ARRAY);
    bb_u32(&b, GH_GGUF_STRING);
    bb_u64(&b, 2);
    bb_str(&b, "<s>");
    bb_u64(&b, 100);
    bb_put(&b, "abc", 3);
    expect_fail(&b, GH_ERR_FORMAT, "key 'tokenizer.ggml.tokens': array string of 100 bytes");
    /* bool array with a 3 in it */
    b.n = 0;
    hdr(&b, 3, 0, 1);
    bb_str(&b, "bools");
    bb_u32(&b, GH_GGUF_ARRAY);
    bb_u32(&b, GH_GGUF_BOOL);
    bb_u64(&b, 3);
    bb_put(&b, "\1\0\3", 3);
    expect_fail(&b, GH_ERR_FORMAT, "key 'bools': bool array element 2 is 3");
    /* nested arrays: parsed, validated, exposed by type and count */
    b.n = 0;
    hdr(&b, 3, 0, 2);
    bb_str(&b, "nested");
    bb_u32(&b, GH_GGUF_ARRAY);
    bb_u32(&b, GH_GGUF_ARRAY);
    bb_u64(&b, 2);
    bb_u32(&b, GH_GGUF_UINT16); /* [0] = u16[2] */
    bb_u64(&b, 2);
    bb_u32(&b, 0x00020001u);
    bb_u32(&b, GH_GGUF_STRING); /* [1] = string[1] */
    bb_u64(&b, 1);
    bb_str(&b, "hi");
    kv_u32(&b, "after", 5);
    gh_gguf *g = expect_ok(&b);
    int64_t k = gh_gguf_find_key(g, "nested");
    gh_gguf_type et;
    uint64_t n;
    const void *data;
    gh_str s;
    float f[2];
    assert_ok(gh_gguf_arr_info(g, k, &et, &n));
    assert_int_equal(et, GH_GGUF_ARRAY);
    assert_int_equal(n, 2);
    assert_int_equal(gh_gguf_arr_data(g, k, &data), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "array of array");
    assert_int_equal(gh_gguf_arr_str(g, k, 0, &s), GH_ERR_FORMAT);
    assert_int_equal(gh_gguf_arr_to_f32(g, k, f, 2), GH_ERR_FORMAT);
    uint32_t after;
    assert_ok(gh_gguf_get_u32(g, "after", &after)); /* the parse resumed at the right place */
    assert_int_equal(after, 5);
    gh_gguf_free(g);
    /* a nested element that is itself broken */
    b.n = 0;
    hdr(&b, 3, 0, 1);
    bb_str(&b, "nested");
    bb_u32(&b, GH_GGUF_ARRAY);
    bb_u32(&b, GH_GGUF_ARRAY);
    bb_u64(&b, 1);
    bb_u32(&b, 99);
    bb_u64(&b, 0);
    expect_fail(&b, GH_ERR_FORMAT, "key 'nested': array has unknown element type 99");
    /* nesting deeper than the reader follows */
    b.n = 0;
    hdr(&b, 3, 0, 1);
    bb_str(&b, "deep");
    bb_u32(&b, GH_GGUF_ARRAY);
    for (int d = 0; d < 20; d++) {
        bb_u32(&b, GH_GGUF_ARRAY);
        bb_u64(&b, 1);
    }
    bb_zeros(&b, 64);
    expect_fail(&b, GH_ERR_UNSUPPORTED, "key 'deep': arrays nested more than 8 deep");
    free(b.p);
}

static void test_alignment_key(void **state) {
    (void)state;
    bb b = {0};
    static const uint32_t bad[] = {0, 3, 48, 0x80000001u};
    for (size_t i = 0; i < 4; i++) {
        b.n = 0;
        hdr(&b, 3, 0, 1);
        kv_u32(&b, "general.alignment", bad[i]);
        expect_fail(&b, GH_ERR_FORMAT, "not a power of two");
        assert_contains(gh_last_error(), "key 'general.alignment' is");
    }
    b.n = 0;
    hdr(&b, 3, 0, 1);
    bb_str(&b, "general.alignment");
    bb_u32(&b, GH_GGUF_UINT64);
    bb_u64(&b, 64);
    expect_fail(&b, GH_ERR_FORMAT, "key 'general.alignment' has type u64, expected u32");
    /* a valid non-default alignment governs tensor offsets */
    b.n = 0;
    hdr(&b, 3, 2, 1);
    kv_u32(&b, "general.alignment", 64);
    uint64_t ne[1] = {4};
    tinfo(&b, "a", 1, ne, GH_TYPE_F32, 0);
    tinfo(&b, "b", 1, ne, GH_TYPE_F32, 32); /* fine for 32, not for 64 */
    bb_pad(&b, 64);
    bb_zeros(&b, 128);
    expect_fail(&b, GH_ERR_FORMAT, "tensor 'b': data offset 32 is not a multiple of the alignment (64)");
    free(b.p);
}

/* ------------------------------------------------------------------ tensors */

static void test_tensor_infos(void **state) {
    (void)state;
    bb b = {0};
    minimal(&b, GH_TYPE_F32, 4, 0, 16);
    gh_gguf *g = expect_ok(&b);
    touch_all(g);
    gh_gguf_free(g);

    /* dimension counts */
    static const uint32_t bad_dims[] = {0, 5, 0xffffffffu};
    for (size_t i = 0; i < 3; i++) {
        b.n = 0;
        hdr(&b, 3, 1, 0);
        bb_str(&b, "blk.0.attn_q.weight");
        bb_u32(&b, bad_dims[i]);
        bb_zeros(&b, 64);
        expect_fail(&b, GH_ERR_FORMAT, "tensor 'blk.0.attn_q.weight': has ");
        assert_contains(gh_last_error(), "dimensions (expected 1 to 4)");
    }
    /* negative dimension */
    b.n = 0;
    hdr(&b, 3, 1, 0);
    uint64_t ne2[2] = {4, (uint64_t)-1};
    tinfo(&b, "w", 2, ne2, GH_TYPE_F32, 0);
    expect_fail(&b, GH_ERR_FORMAT, "tensor 'w': ne[1] = 18446744073709551615 is negative or too large");
    /* element count overflowing */
    b.n = 0;
    hdr(&b, 3, 1, 0);
    uint64_t ne4[4] = {UINT64_C(1) << 20, UINT64_C(1) << 20, UINT64_C(1) << 20, 8};
    tinfo(&b, "w", 4, ne4, GH_TYPE_F32, 0);
    expect_fail(&b, GH_ERR_FORMAT, "tensor 'w': shape [1048576, 1048576, 1048576, 8] has too many elements");
    /* a zero dimension makes an empty tensor... */
    b.n = 0;
    hdr(&b, 3, 1, 0);
    uint64_t nez[4] = {0, UINT64_C(1) << 30, UINT64_C(1) << 30, 1};
    tinfo(&b, "w", 4, nez, GH_TYPE_F32, 0);
    bb_pad(&b, 32);
    g = expect_ok(&b);
    assert_int_equal(gh_gguf_tensor(g, 0)->nbytes, 0);
    gh_gguf_free(g);
    /* ...but the other dimensions still may not overflow when multiplied */
    nez[1] = nez[2] = UINT64_C(1) << 62;
    b.n = 0;
    hdr(&b, 3, 1, 0);
    tinfo(&b, "w", 4, nez, GH_TYPE_F32, 0);
    bb_pad(&b, 32);
    expect_fail(&b, GH_ERR_FORMAT, "shape [0, 4611686018427387904, 4611686018427387904, 1] has too many elements");
    /* elements fit in 63 bits but the bytes do not */
    b.n = 0;
    hdr(&b, 3, 1, 0);
    uint64_t neb[2] = {UINT64_C(1) << 60, 2};
    tinfo(&b, "w", 2, neb, GH_TYPE_F32, 0);
    expect_fail(&b, GH_ERR_FORMAT, "tensor 'w': data size overflows 64 bits");
    b.n = 0;
    hdr(&b, 3, 1, 0);
    uint64_t nec[1] = {UINT64_C(1) << 61};
    tinfo(&b, "w", 1, nec, GH_TYPE_F64, 0);
    expect_fail(&b, GH_ERR_FORMAT, "tensor 'w': data size overflows 64 bits");
    /* unknown and unsupported ggml types */
    static const uint32_t bad_types[] = {4, 5, 16, 19, 29, 39, 40, 99, 0xffffffffu};
    for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
        b.n = 0;
        minimal(&b, bad_types[i], 256, 0, 1024);
        char want[64];
        snprintf(want, sizeof want, "unknown or unsupported ggml type %u", bad_types[i]);
        expect_fail(&b, GH_ERR_UNSUPPORTED, want);
        assert_contains(gh_last_error(), NAME ": tensor 'w': ");
    }
    /* ne[0] not a multiple of the block size */
    b.n = 0;
    minimal(&b, GH_TYPE_Q4_0, 33, 0, 64);
    expect_fail(&b, GH_ERR_FORMAT, "tensor 'w': type q4_0: ne[0] = 33 is not a multiple of the block size 32");
    b.n = 0;
    minimal(&b, GH_TYPE_Q6_K, 128, 0, 256);
    expect_fail(&b, GH_ERR_FORMAT, "type q6_K: ne[0] = 128 is not a multiple of the block size 256");
    /* tensor name problems */
    b.n = 0;
    hdr(&b, 3, 1, 0);
    bb_u64(&b, 1u << 20);
    bb_zeros(&b, 40);
    expect_fail(&b, GH_ERR_FORMAT, "tensor 0: tensor name of 1048576 bytes");
    b.n = 0;
    hdr(&b, 3, 1, 0);
    bb_u64(&b, 2);
    bb_put(&b, "w\0", 2);
    bb_zeros(&b, 40);
    expect_fail(&b, GH_ERR_FORMAT, "tensor name 'w\\x00' contains a NUL byte");
    /* duplicate tensor names */
    b.n = 0;
    hdr(&b, 3, 3, 0);
    uint64_t ne1[1] = {8};
    tinfo(&b, "x", 1, ne1, GH_TYPE_F32, 0);
    tinfo(&b, "y", 1, ne1, GH_TYPE_F32, 32);
    tinfo(&b, "x", 1, ne1, GH_TYPE_F32, 64);
    bb_pad(&b, 32);
    bb_zeros(&b, 96);
    expect_fail(&b, GH_ERR_FORMAT, "duplicate tensor name 'x' (tensors 0 and 2)");
    free(b.p);
}

static void test_tensor_data(void **state) {
    (void)state;
    bb b = {0};
    /* misaligned offset */
    minimal(&b, GH_TYPE_F32, 4, 4, 64);
    expect_fail(&b, GH_ERR_FORMAT, "tensor 'w': data offset 4 is not a multiple of the alignment (32)");
    /* offset past the end */
    b.n = 0;
    minimal(&b, GH_TYPE_F32, 4, 1024, 64);
    expect_fail(&b, GH_ERR_FORMAT, "tensor 'w': data (offset 1024, 16 bytes) extends past end of file (160 bytes");
    /* starts inside, ends outside */
    b.n = 0;
    minimal(&b, GH_TYPE_F32, 16, 32, 64);
    expect_fail(&b, GH_ERR_FORMAT, "data (offset 32, 64 bytes) extends past end of file (160 bytes; data section starts at 96)");
    /* exactly fitting is fine, and data points there */
    b.n = 0;
    minimal(&b, GH_TYPE_F32, 8, 32, 64);
    memcpy(b.p + 96 + 32, "\x11\x22\x33\x44", 4);
    gh_gguf *g = expect_ok(&b);
    const gh_tensor_info *t = gh_gguf_tensor(g, 0);
    assert_ptr_equal(t->data, b.p + 96 + 32);
    assert_int_equal(t->nbytes, 32);
    assert_memory_equal(t->data, "\x11\x22\x33\x44", 4);
    gh_gguf_free(g);
    /* offsets that would wrap a naive offset + size */
    b.n = 0;
    minimal(&b, GH_TYPE_F32, 8, UINT64_MAX - 31, 64);
    expect_fail(&b, GH_ERR_FORMAT, "extends past end of file");
    b.n = 0;
    minimal(&b, GH_TYPE_F32, UINT64_C(1) << 60, 32, 64);
    expect_fail(&b, GH_ERR_FORMAT, "extends past end of file");
    /* the data section itself would start past the end (file cut in the padding) */
    b.n = 0;
    minimal(&b, GH_TYPE_F32, 0, 0, 0);
    b.n -= 4;
    expect_fail(&b, GH_ERR_FORMAT, "tensor data section would start at offset 96, past the end of the file (92 bytes)");
    free(b.p);
}

/* ------------------------------------------------------------------ sweeps */

/* A writer-made file with a bit of everything. */
static uint8_t *rich_file(size_t *len, uint64_t *needed, uint64_t *data_start) {
    gh_gguf_writer *w = NULL;
    assert_ok(gh_gguf_writer_init(&w));
    assert_ok(gh_gguf_set_str(w, "general.architecture", "llama"));
    assert_ok(gh_gguf_set_u32(w, "llama.context_length", 128));
    assert_ok(gh_gguf_set_f32(w, "llama.rope.freq_base", 10000.0f));
    assert_ok(gh_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", true));
    assert_ok(gh_gguf_set_i64(w, "i64", -5));
    const char *toks[] = {"<unk>", "<s>", "</s>", "a", ""};
    assert_ok(gh_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 5));
    const float scores[] = {0, -1, -2, -3, -4};
    assert_ok(gh_gguf_set_arr(w, "tokenizer.ggml.scores", GH_GGUF_FLOAT32, scores, 5));
    const uint8_t flags[] = {1, 0};
    assert_ok(gh_gguf_set_arr(w, "flags", GH_GGUF_BOOL, flags, 2));
    assert_ok(gh_gguf_set_alignment(w, 16));
    static uint8_t data[2048];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 13);
    const int64_t ne_a[2] = {32, 2}, ne_b[1] = {3}, ne_c[2] = {256, 1};
    assert_ok(gh_gguf_add_tensor(w, "token_embd.weight", GH_TYPE_Q8_0, 2, ne_a, data));
    assert_ok(gh_gguf_add_tensor(w, "norm", GH_TYPE_F32, 1, ne_b, data));
    assert_ok(gh_gguf_add_tensor(w, "q4k", GH_TYPE_Q4_K, 2, ne_c, data));
    const char *path = tu_tmp("rich.gguf");
    assert_ok(gh_gguf_writer_write(w, path));
    gh_gguf_writer_free(w);
    uint8_t *bytes = (uint8_t *)tu_read_file(path, len);
    assert_non_null(bytes);
    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open_memory(bytes, *len, NAME, &g));
    *needed = 0;
    *data_start = len ? *len : 0;
    for (int64_t i = 0; i < gh_gguf_n_tensors(g); i++) {
        const gh_tensor_info *t = gh_gguf_tensor(g, i);
        uint64_t end = (uint64_t)((const uint8_t *)t->data - bytes) + t->nbytes;
        if (end > *needed) *needed = end;
        if (end - t->nbytes < *data_start) *data_start = end - t->nbytes;
    }
    touch_all(g);
    gh_gguf_free(g);
    return bytes;
}

/* Cutting the file anywhere before the end of the last tensor's data must give a
 * clean format error naming the file. Each prefix is copied into its own
 * allocation so that ASan catches any read past it. */
static void test_truncate_everywhere(void **state) {
    (void)state;
    size_t len;
    uint64_t needed, data_start;
    uint8_t *bytes = rich_file(&len, &needed, &data_start);
    assert_true(needed <= len && needed > 200);
    for (size_t cut = 0; cut < needed; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, bytes, cut);
        gh_gguf *g = (gh_gguf *)copy;
        gh_status s = gh_gguf_open_memory(copy, cut, NAME, &g);
        if (s != GH_ERR_FORMAT) {
            fprintf(stderr, "cut at %zu of %zu: status %s (%s)\n", cut, len, gh_status_str(s), gh_last_error());
            fail();
        }
        assert_null(g);
        assert_contains(gh_last_error(), NAME ": ");
        if (cut >= 4) /* with the magic in place, it is always a truncation or an end-of-file overrun */
            if (!strstr(gh_last_error(), "truncated") && !strstr(gh_last_error(), "past the end") &&
                !strstr(gh_last_error(), "past end") && !strstr(gh_last_error(), "can hold") &&
                !strstr(gh_last_error(), "cannot fit")) {
                fprintf(stderr, "cut at %zu: unexpected message: %s\n", cut, gh_last_error());
                fail();
            }
        free(copy);
    }
    /* the trailing padding after the last tensor is not needed */
    for (size_t cut = needed; cut <= len; cut++) {
        gh_gguf *g = NULL;
        assert_ok(gh_gguf_open_memory(bytes, cut, NAME, &g));
        gh_gguf_free(g);
    }
    free(bytes);
}

/* Overwrites each byte before the tensor data with several values. Whatever the
 * result, it must be a clean OK (then every accessor is exercised) or a
 * FORMAT/UNSUPPORTED error naming the file. */
static void test_corrupt_everywhere(void **state) {
    (void)state;
    size_t len;
    uint64_t needed, data_start;
    uint8_t *bytes = rich_file(&len, &needed, &data_start);
    uint8_t *copy = malloc(len);
    static const uint8_t vals[] = {0x00, 0xff, 0x01, 0x7f, 0x80, 0x10};
    size_t n_ok = 0, n_fail = 0;
    assert_true(data_start > 300 && data_start < len);
    for (size_t pos = 0; pos < data_start; pos++) {
        for (size_t v = 0; v < sizeof vals + 1; v++) {
            memcpy(copy, bytes, len);
            copy[pos] = v < sizeof vals ? vals[v] : (uint8_t)(bytes[pos] ^ 0x80);
            gh_gguf *g = NULL;
            gh_status s = gh_gguf_open_memory(copy, len, NAME, &g);
            if (s == GH_OK) {
                touch_all(g);
                gh_gguf_free(g);
                n_ok++;
            } else {
                if (s != GH_ERR_FORMAT && s != GH_ERR_UNSUPPORTED) {
                    fprintf(stderr, "byte %zu = 0x%02x: status %s (%s)\n", pos, copy[pos], gh_status_str(s),
                            gh_last_error());
                    fail();
                }
                assert_null(g);
                assert_contains(gh_last_error(), NAME ": ");
                n_fail++;
            }
        }
    }
    assert_true(n_ok > 0 && n_fail > 0);
    free(copy);
    free(bytes);
}

/* The real vocab files cut at many points: every cut fails cleanly. */
static void test_truncated_vocab(void **state) {
    (void)state;
    size_t len;
    uint8_t *bytes = (uint8_t *)tu_read_file(tu_shared("tokenizers/ggml-vocab-llama-spm.gguf"), &len);
    assert_non_null(bytes);
    size_t step = len / 97;
    for (size_t cut = 0; cut < len; cut += (cut < 2000 ? 7 : step)) {
        gh_gguf *g = NULL;
        gh_status s = gh_gguf_open_memory(bytes, cut, "ggml-vocab-llama-spm.gguf", &g);
        assert_int_equal(s, GH_ERR_FORMAT);
        assert_contains(gh_last_error(), "ggml-vocab-llama-spm.gguf: ");
    }
    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open_memory(bytes, len, "ggml-vocab-llama-spm.gguf", &g));
    touch_all(g);
    gh_gguf_free(g);
    free(bytes);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_absurd_counts),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_value_types),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_alignment_key),
        cmocka_unit_test(test_tensor_infos),
        cmocka_unit_test(test_tensor_data),
        cmocka_unit_test(test_truncate_everywhere),
        cmocka_unit_test(test_corrupt_everywhere),
        cmocka_unit_test(test_truncated_vocab),
    };
    return cmocka_run_group_tests_name("gguf/hostile", tests, NULL, NULL);
}
