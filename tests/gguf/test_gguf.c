/* Tests of the GGUF writer and reader on valid files: round trips of every
 * metadata type and of tensors of several types and shapes, alignments, key
 * replacement, the typed getters and their error messages, writer failures
 * (bad arguments, unwritable paths, a full disk), the type table, and the real
 * vocab-only GGUF files from llama.cpp in ../shared/tokenizers.
 * Malformed and hostile files are in test_gguf_hostile.c. */
#include "testutil.h"

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "goodhart/gguf.h"

/* ------------------------------------------------------------------ helpers */

static void assert_str_eq(gh_str s, const char *want, size_t want_len) {
    if (s.len != want_len || memcmp(s.ptr, want, want_len) != 0) {
        fprintf(stderr, "string mismatch: got '%.*s' (%llu bytes), want '%.*s' (%zu bytes)\n", (int)s.len, s.ptr,
                (unsigned long long)s.len, (int)want_len, want, want_len);
        fail();
    }
}
#define assert_gstr(s, lit) assert_str_eq((s), (lit), sizeof(lit) - 1)

static int64_t key_of(const gh_gguf *g, const char *k) {
    int64_t i = gh_gguf_find_key(g, k);
    if (i < 0) {
        fprintf(stderr, "key '%s' missing\n", k);
        fail();
    }
    return i;
}

/* Counts files in the temp dir whose name contains ".tmp." (writer leftovers). */
static int count_tmp_leftovers(void) {
    DIR *d = opendir(tu_tmpdir());
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

/* Deterministic tensor contents. */
static uint8_t *pattern(size_t n, unsigned seed) {
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 7 + seed * 31 + (i >> 8));
    return p;
}

/* ------------------------------------------------------------------ type table */

static void test_type_table(void **state) {
    (void)state;
    static const struct { gh_type t; const char *name; int64_t bs, bb; } want[] = {
        {GH_TYPE_F32, "f32", 1, 4},      {GH_TYPE_F16, "f16", 1, 2},       {GH_TYPE_BF16, "bf16", 1, 2},
        {GH_TYPE_Q4_0, "q4_0", 32, 18},  {GH_TYPE_Q4_1, "q4_1", 32, 20},   {GH_TYPE_Q5_0, "q5_0", 32, 22},
        {GH_TYPE_Q5_1, "q5_1", 32, 24},  {GH_TYPE_Q8_0, "q8_0", 32, 34},   {GH_TYPE_Q8_1, "q8_1", 32, 36},
        {GH_TYPE_Q2_K, "q2_K", 256, 84}, {GH_TYPE_Q3_K, "q3_K", 256, 110}, {GH_TYPE_Q4_K, "q4_K", 256, 144},
        {GH_TYPE_Q5_K, "q5_K", 256, 176}, {GH_TYPE_Q6_K, "q6_K", 256, 210}, {GH_TYPE_Q8_K, "q8_K", 256, 292},
        {GH_TYPE_I8, "i8", 1, 1},        {GH_TYPE_I16, "i16", 1, 2},       {GH_TYPE_I32, "i32", 1, 4},
        {GH_TYPE_I64, "i64", 1, 8},      {GH_TYPE_F64, "f64", 1, 8},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_string_equal(gh_type_name(want[i].t), want[i].name);
        assert_int_equal(gh_type_block_size(want[i].t), want[i].bs);
        assert_int_equal(gh_type_block_bytes(want[i].t), want[i].bb);
        gh_type t = GH_TYPE_COUNT;
        assert_true(gh_type_from_name(want[i].name, &t));
        assert_int_equal(t, want[i].t);
    }
    gh_type t;
    assert_true(gh_type_from_name("Q4_K", &t));
    assert_int_equal(t, GH_TYPE_Q4_K);
    assert_true(gh_type_from_name("q6_k", &t));
    assert_int_equal(t, GH_TYPE_Q6_K);
    assert_true(gh_type_from_name("F32", &t));
    assert_int_equal(t, GH_TYPE_F32);
    assert_false(gh_type_from_name("q4", &t));
    assert_false(gh_type_from_name("f32x", &t));
    assert_false(gh_type_from_name("", &t));
    assert_false(gh_type_from_name(NULL, &t));
    /* ggml numbers we do not handle (removed q4_2, iq2_xxs) and out-of-range ones */
    assert_null(gh_type_name((gh_type)4));
    assert_null(gh_type_name((gh_type)16));
    assert_null(gh_type_name((gh_type)-1));
    assert_null(gh_type_name((gh_type)1000));
    assert_int_equal(gh_type_block_size((gh_type)16), 0);
    assert_int_equal(gh_type_block_bytes((gh_type)1000), 0);

    assert_int_equal(gh_type_row_bytes(GH_TYPE_F32, 10), 40);
    assert_int_equal(gh_type_row_bytes(GH_TYPE_Q4_0, 64), 36);
    assert_int_equal(gh_type_row_bytes(GH_TYPE_Q4_K, 512), 288);
    assert_int_equal(gh_type_row_bytes(GH_TYPE_Q4_0, 0), 0);
    assert_int_equal(gh_type_row_bytes(GH_TYPE_Q4_0, 33), -1);
    assert_int_equal(gh_type_row_bytes(GH_TYPE_F32, -1), -1);
    assert_int_equal(gh_type_row_bytes((gh_type)16, 256), -1);
    assert_int_equal(gh_type_row_bytes(GH_TYPE_F64, INT64_C(1) << 61), -1); /* 2^64 bytes */

    assert_string_equal(gh_gguf_type_name(GH_GGUF_UINT8), "u8");
    assert_string_equal(gh_gguf_type_name(GH_GGUF_STRING), "string");
    assert_string_equal(gh_gguf_type_name(GH_GGUF_ARRAY), "array");
    assert_string_equal(gh_gguf_type_name(GH_GGUF_FLOAT64), "f64");
    assert_string_equal(gh_gguf_type_name((gh_gguf_type)99), "unknown");
}

/* ------------------------------------------------------------------ round trip */

typedef struct tspec {
    const char *name;
    gh_type type;
    uint32_t n_dims;
    int64_t ne[4];
} tspec;

static const tspec k_tensors[] = {
    {"f32.vec", GH_TYPE_F32, 1, {7}},
    {"f16.mat", GH_TYPE_F16, 2, {3, 5}},
    {"bf16.mat", GH_TYPE_BF16, 2, {4, 2}},
    {"q4_0.w", GH_TYPE_Q4_0, 2, {64, 3}},
    {"q8_0.w", GH_TYPE_Q8_0, 3, {32, 2, 2}},
    {"q4_K.w", GH_TYPE_Q4_K, 4, {256, 1, 1, 2}},
    {"q6_K.w", GH_TYPE_Q6_K, 2, {512, 1}},
    {"i32.idx", GH_TYPE_I32, 1, {4}},
    {"empty", GH_TYPE_F32, 2, {0, 3}},
    {"blk.0.attn_q.weight", GH_TYPE_F32, 2, {5, 5}},
};
#define N_TENSORS (sizeof k_tensors / sizeof k_tensors[0])

static uint64_t expected_nbytes(const tspec *t) {
    int64_t rows = 1;
    for (uint32_t d = 1; d < t->n_dims; d++) rows *= t->ne[d];
    return (uint64_t)(gh_type_row_bytes(t->type, t->ne[0]) * rows);
}

static const uint8_t k_u8s[] = {1, 2, 255};
static const int8_t k_i8s[] = {-128, 0, 127};
static const uint16_t k_u16s[] = {0, 65535};
static const int16_t k_i16s[] = {-32768, 32767, 5};
static const uint32_t k_u32s[] = {0, 3000000000u, 7};
static const int32_t k_i32s[] = {-1, 0, 7, INT32_MIN};
static const uint64_t k_u64s[] = {UINT64_MAX, 0};
static const int64_t k_i64s[] = {INT64_MIN, INT64_MAX, -3};
static const float k_f32s[] = {0.5f, -2.0f, 1e10f};
static const double k_f64s[] = {1e-300, -0.25};
static const uint8_t k_bools_raw[] = {1, 0, 2}; /* 2 must be stored as 1 */
static const char *const k_strs[] = {"", "abc", "\xc4\xa0t", "x\0y", "<unk>"};
static const uint64_t k_str_lens[] = {0, 3, 3, 3, 5};

/* Builds the sample writer; `bufs` receives the tensor buffers to free. */
static gh_gguf_writer *build_sample(uint8_t **bufs, uint32_t alignment) {
    gh_gguf_writer *w = NULL;
    assert_ok(gh_gguf_writer_init(&w));
    assert_ok(gh_gguf_set_str(w, "general.architecture", "llama"));
    assert_ok(gh_gguf_set_u8(w, "t.u8", 250));
    assert_ok(gh_gguf_set_i8(w, "t.i8", -100));
    assert_ok(gh_gguf_set_u16(w, "t.u16", 65000));
    assert_ok(gh_gguf_set_i16(w, "t.i16", -30000));
    assert_ok(gh_gguf_set_u32(w, "t.u32", 4000000000u));
    assert_ok(gh_gguf_set_i32(w, "t.i32", -2000000000));
    assert_ok(gh_gguf_set_u64(w, "t.u64", UINT64_MAX));
    assert_ok(gh_gguf_set_i64(w, "t.i64", INT64_MIN));
    assert_ok(gh_gguf_set_f32(w, "t.f32", 3.25f));
    assert_ok(gh_gguf_set_f64(w, "t.f64", -1e300));
    assert_ok(gh_gguf_set_bool(w, "t.true", true));
    assert_ok(gh_gguf_set_bool(w, "t.false", false));
    assert_ok(gh_gguf_set_str(w, "t.str", "hello, world"));
    assert_ok(gh_gguf_set_str(w, "t.empty", ""));
    assert_ok(gh_gguf_set_strn(w, "t.nul", "a\0b", 3));
    assert_ok(gh_gguf_set_arr(w, "a.u8", GH_GGUF_UINT8, k_u8s, 3));
    assert_ok(gh_gguf_set_arr(w, "a.i8", GH_GGUF_INT8, k_i8s, 3));
    assert_ok(gh_gguf_set_arr(w, "a.u16", GH_GGUF_UINT16, k_u16s, 2));
    assert_ok(gh_gguf_set_arr(w, "a.i16", GH_GGUF_INT16, k_i16s, 3));
    assert_ok(gh_gguf_set_arr(w, "a.u32", GH_GGUF_UINT32, k_u32s, 3));
    assert_ok(gh_gguf_set_arr(w, "a.i32", GH_GGUF_INT32, k_i32s, 4));
    assert_ok(gh_gguf_set_arr(w, "a.u64", GH_GGUF_UINT64, k_u64s, 2));
    assert_ok(gh_gguf_set_arr(w, "a.i64", GH_GGUF_INT64, k_i64s, 3));
    assert_ok(gh_gguf_set_arr(w, "a.f32", GH_GGUF_FLOAT32, k_f32s, 3));
    assert_ok(gh_gguf_set_arr(w, "a.f64", GH_GGUF_FLOAT64, k_f64s, 2));
    assert_ok(gh_gguf_set_arr(w, "a.bool", GH_GGUF_BOOL, k_bools_raw, 3));
    assert_ok(gh_gguf_set_arr(w, "a.empty", GH_GGUF_FLOAT32, NULL, 0));
    assert_ok(gh_gguf_set_arr_str(w, "a.str", k_strs, k_str_lens, 5));
    const char *nul_terminated[] = {"one", "two", "three"};
    assert_ok(gh_gguf_set_arr_str(w, "a.str2", nul_terminated, NULL, 3));
    assert_ok(gh_gguf_set_arr_str(w, "a.str_empty", NULL, NULL, 0));
    if (alignment) assert_ok(gh_gguf_set_alignment(w, alignment));
    for (size_t i = 0; i < N_TENSORS; i++) {
        const tspec *t = &k_tensors[i];
        bufs[i] = pattern(expected_nbytes(t), (unsigned)i);
        assert_ok(gh_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, bufs[i]));
    }
    return w;
}

static void check_sample(const gh_gguf *g, uint8_t *const *bufs, uint32_t alignment, const uint8_t *file_base) {
    assert_int_equal(gh_gguf_version(g), 3);
    assert_int_equal(gh_gguf_alignment(g), alignment ? alignment : 32);
    assert_int_equal(gh_gguf_n_kv(g), alignment ? 32 : 31);
    /* insertion order */
    assert_string_equal(gh_gguf_key(g, 0), "general.architecture");
    assert_string_equal(gh_gguf_key(g, 1), "t.u8");
    assert_string_equal(gh_gguf_key(g, 30), "a.str_empty");
    if (alignment) assert_string_equal(gh_gguf_key(g, 31), "general.alignment");
    assert_null(gh_gguf_key(g, 99));
    assert_null(gh_gguf_key(g, -1));
    assert_int_equal(gh_gguf_kv_type(g, 99), GH_GGUF_TYPE_COUNT);
    assert_int_equal(gh_gguf_find_key(g, "nope"), -1);

    /* scalars through the typed getters and by index */
    gh_str s;
    assert_ok(gh_gguf_get_str(g, "general.architecture", &s));
    assert_gstr(s, "llama");
    uint32_t u32;
    int64_t i64;
    uint64_t u64;
    double f64;
    float f32;
    bool b;
    assert_ok(gh_gguf_get_u32(g, "t.u8", &u32));
    assert_int_equal(u32, 250);
    assert_int_equal(gh_gguf_kv_type(g, key_of(g, "t.u8")), GH_GGUF_UINT8);
    assert_ok(gh_gguf_get_i64(g, "t.i8", &i64));
    assert_int_equal(i64, -100);
    assert_int_equal(gh_gguf_kv_type(g, key_of(g, "t.i8")), GH_GGUF_INT8);
    assert_ok(gh_gguf_get_u32(g, "t.u16", &u32));
    assert_int_equal(u32, 65000);
    assert_ok(gh_gguf_get_i64(g, "t.i16", &i64));
    assert_int_equal(i64, -30000);
    assert_ok(gh_gguf_get_u32(g, "t.u32", &u32));
    assert_int_equal(u32, 4000000000u);
    assert_ok(gh_gguf_get_i64(g, "t.i32", &i64));
    assert_int_equal(i64, -2000000000);
    assert_ok(gh_gguf_kv_uint(g, key_of(g, "t.u64"), &u64));
    assert_true(u64 == UINT64_MAX);
    assert_ok(gh_gguf_get_i64(g, "t.i64", &i64));
    assert_true(i64 == INT64_MIN);
    assert_ok(gh_gguf_kv_int(g, key_of(g, "t.i64"), &i64));
    assert_true(i64 == INT64_MIN);
    assert_ok(gh_gguf_get_f32(g, "t.f32", &f32));
    assert_true(f32 == 3.25f);
    assert_ok(gh_gguf_kv_float(g, key_of(g, "t.f64"), &f64));
    assert_true(f64 == -1e300);
    assert_int_equal(gh_gguf_kv_type(g, key_of(g, "t.f64")), GH_GGUF_FLOAT64);
    assert_ok(gh_gguf_get_bool(g, "t.true", &b));
    assert_true(b);
    assert_ok(gh_gguf_get_bool(g, "t.false", &b));
    assert_false(b);
    assert_ok(gh_gguf_kv_int(g, key_of(g, "t.true"), &i64));
    assert_int_equal(i64, 1);
    assert_ok(gh_gguf_get_str(g, "t.str", &s));
    assert_gstr(s, "hello, world");
    assert_ok(gh_gguf_kv_str(g, key_of(g, "t.empty"), &s));
    assert_int_equal(s.len, 0);
    assert_ok(gh_gguf_get_str(g, "t.nul", &s));
    assert_str_eq(s, "a\0b", 3);

    /* numeric arrays: packed bytes equal the input */
    static const struct { const char *key; gh_gguf_type t; const void *data; uint64_t n, esz; } arrs[] = {
        {"a.u8", GH_GGUF_UINT8, k_u8s, 3, 1},     {"a.i8", GH_GGUF_INT8, k_i8s, 3, 1},
        {"a.u16", GH_GGUF_UINT16, k_u16s, 2, 2},  {"a.i16", GH_GGUF_INT16, k_i16s, 3, 2},
        {"a.u32", GH_GGUF_UINT32, k_u32s, 3, 4},  {"a.i32", GH_GGUF_INT32, k_i32s, 4, 4},
        {"a.u64", GH_GGUF_UINT64, k_u64s, 2, 8},  {"a.i64", GH_GGUF_INT64, k_i64s, 3, 8},
        {"a.f32", GH_GGUF_FLOAT32, k_f32s, 3, 4}, {"a.f64", GH_GGUF_FLOAT64, k_f64s, 2, 8},
    };
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) {
        int64_t k = key_of(g, arrs[i].key);
        gh_gguf_type et;
        uint64_t n;
        const void *data;
        assert_int_equal(gh_gguf_kv_type(g, k), GH_GGUF_ARRAY);
        assert_ok(gh_gguf_arr_info(g, k, &et, &n));
        assert_int_equal(et, arrs[i].t);
        assert_int_equal(n, arrs[i].n);
        assert_ok(gh_gguf_arr_data(g, k, &data));
        assert_memory_equal(data, arrs[i].data, n * arrs[i].esz);
    }
    const void *data;
    gh_gguf_type et;
    uint64_t n;
    assert_ok(gh_gguf_arr_data(g, key_of(g, "a.bool"), &data));
    assert_memory_equal(data, "\1\0\1", 3);
    assert_ok(gh_gguf_arr_info(g, key_of(g, "a.empty"), &et, &n));
    assert_int_equal(et, GH_GGUF_FLOAT32);
    assert_int_equal(n, 0);

    /* conversions */
    float fv[4];
    int32_t iv[4];
    assert_ok(gh_gguf_arr_to_f32(g, key_of(g, "a.f32"), fv, 3));
    assert_memory_equal(fv, k_f32s, sizeof k_f32s);
    assert_ok(gh_gguf_arr_to_f32(g, key_of(g, "a.i16"), fv, 3));
    assert_true(fv[0] == -32768.0f && fv[1] == 32767.0f && fv[2] == 5.0f);
    assert_ok(gh_gguf_arr_to_f32(g, key_of(g, "a.f64"), fv, 2));
    assert_true(fv[1] == -0.25f);
    assert_ok(gh_gguf_arr_to_f32(g, key_of(g, "a.empty"), NULL, 0));
    assert_ok(gh_gguf_arr_to_i32(g, key_of(g, "a.i32"), iv, 4));
    assert_memory_equal(iv, k_i32s, sizeof k_i32s);
    assert_ok(gh_gguf_arr_to_i32(g, key_of(g, "a.u8"), iv, 3));
    assert_true(iv[0] == 1 && iv[1] == 2 && iv[2] == 255);
    assert_int_equal(gh_gguf_arr_to_i32(g, key_of(g, "a.i64"), iv, 3), GH_ERR_FORMAT); /* INT64_MIN */
    assert_contains(gh_last_error(), "element 0 (-9223372036854775808) does not fit in i32");

    /* string arrays */
    int64_t k = key_of(g, "a.str");
    assert_ok(gh_gguf_arr_info(g, k, &et, &n));
    assert_int_equal(et, GH_GGUF_STRING);
    assert_int_equal(n, 5);
    for (uint64_t j = 0; j < n; j++) {
        assert_ok(gh_gguf_arr_str(g, k, j, &s));
        assert_str_eq(s, k_strs[j], k_str_lens[j]);
    }
    k = key_of(g, "a.str2");
    assert_ok(gh_gguf_arr_str(g, k, 2, &s));
    assert_gstr(s, "three");
    assert_ok(gh_gguf_arr_info(g, key_of(g, "a.str_empty"), &et, &n));
    assert_int_equal(et, GH_GGUF_STRING);
    assert_int_equal(n, 0);

    /* tensors */
    assert_int_equal(gh_gguf_n_tensors(g), N_TENSORS);
    assert_null(gh_gguf_tensor(g, N_TENSORS));
    assert_null(gh_gguf_tensor(g, -1));
    uint32_t a = alignment ? alignment : 32;
    for (size_t i = 0; i < N_TENSORS; i++) {
        const tspec *t = &k_tensors[i];
        int64_t ti = gh_gguf_find_tensor(g, t->name);
        assert_int_equal(ti, (int64_t)i);
        const gh_tensor_info *info = gh_gguf_tensor(g, ti);
        assert_non_null(info);
        assert_string_equal(info->name, t->name);
        assert_int_equal(info->type, t->type);
        assert_int_equal(info->n_dims, t->n_dims);
        for (uint32_t d = 0; d < GH_MAX_DIMS; d++)
            assert_int_equal(info->ne[d], d < t->n_dims ? t->ne[d] : 1);
        assert_int_equal(info->nbytes, expected_nbytes(t));
        assert_int_equal(info->offset % a, 0);
        if (info->nbytes) assert_memory_equal(info->data, bufs[i], info->nbytes);
        if (file_base) assert_int_equal((uint64_t)((const uint8_t *)info->data - file_base) % a, 0);
    }
    assert_int_equal(gh_gguf_find_tensor(g, "missing"), -1);
    assert_int_equal(gh_gguf_find_tensor(g, NULL), -1);
}

static void test_roundtrip_file(void **state) {
    (void)state;
    uint8_t *bufs[N_TENSORS];
    gh_gguf_writer *w = build_sample(bufs, 0);
    const char *path = tu_tmp("roundtrip.gguf");
    assert_ok(gh_gguf_writer_write(w, path));
    gh_gguf_writer_free(w);
    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open(path, &g));
    assert_string_equal(gh_gguf_path(g), path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(gh_gguf_size(g), (uint64_t)st.st_size);
    check_sample(g, bufs, 0, NULL);
    /* the data pointers point into the (page-aligned) mapping */
    for (int64_t i = 0; i < gh_gguf_n_tensors(g); i++)
        assert_int_equal((uintptr_t)gh_gguf_tensor(g, i)->data % 32, 0);
    gh_gguf_free(g);

    /* read into memory instead of mapped (gh_gguf_open_copy): the same
     * values, data in a private read-only copy, not the file's pages */
    assert_ok(gh_gguf_open_copy(path, &g));
    assert_string_equal(gh_gguf_path(g), path);
    assert_int_equal(gh_gguf_size(g), (uint64_t)st.st_size);
    check_sample(g, bufs, 0, NULL);
    for (int64_t i = 0; i < gh_gguf_n_tensors(g); i++)
        assert_int_equal((uintptr_t)gh_gguf_tensor(g, i)->data % 32, 0);
    gh_gguf_free(g);

    /* the same bytes through gh_gguf_open_memory: data points into our buffer */
    size_t len;
    uint8_t *bytes = (uint8_t *)tu_read_file(path, &len);
    assert_non_null(bytes);
    assert_ok(gh_gguf_open_memory(bytes, len, "mem.gguf", &g));
    assert_string_equal(gh_gguf_path(g), "mem.gguf");
    check_sample(g, bufs, 0, bytes);
    const gh_tensor_info *t = gh_gguf_tensor(g, 0);
    assert_true((const uint8_t *)t->data >= bytes && (const uint8_t *)t->data + t->nbytes <= bytes + len);
    gh_gguf_free(g);
    free(bytes);
    for (size_t i = 0; i < N_TENSORS; i++) free(bufs[i]);
    assert_int_equal(count_tmp_leftovers(), 0);
}

static void test_roundtrip_alignments(void **state) {
    (void)state;
    static const uint32_t aligns[] = {1, 8, 64, 256, 4096};
    for (size_t ai = 0; ai < sizeof aligns / sizeof aligns[0]; ai++) {
        uint8_t *bufs[N_TENSORS];
        gh_gguf_writer *w = build_sample(bufs, aligns[ai]);
        const char *path = tu_tmp("aligned.gguf");
        assert_ok(gh_gguf_writer_write(w, path));
        gh_gguf_writer_free(w);
        size_t len;
        uint8_t *bytes = (uint8_t *)tu_read_file(path, &len);
        assert_non_null(bytes);
        assert_int_equal(len % aligns[ai], 0); /* every tensor, the last included, is padded */
        gh_gguf *g = NULL;
        assert_ok(gh_gguf_open_memory(bytes, len, path, &g));
        check_sample(g, bufs, aligns[ai], bytes);
        uint32_t a;
        assert_ok(gh_gguf_get_u32(g, "general.alignment", &a));
        assert_int_equal(a, aligns[ai]);
        gh_gguf_free(g);
        free(bytes);
        for (size_t i = 0; i < N_TENSORS; i++) free(bufs[i]);
    }
}

/* A file with no tensors has no data section and no trailing padding, like the
 * vocab-only files llama.cpp ships. */
static void test_no_tensors(void **state) {
    (void)state;
    gh_gguf_writer *w = NULL;
    assert_ok(gh_gguf_writer_init(&w));
    assert_ok(gh_gguf_set_str(w, "k", "v"));
    const char *path = tu_tmp("notensors.gguf");
    assert_ok(gh_gguf_writer_write(w, path));
    gh_gguf_writer_free(w);
    size_t len;
    char *bytes = tu_read_file(path, &len);
    assert_int_equal(len, 24 + 8 + 1 + 4 + 8 + 1);
    free(bytes);
    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open(path, &g));
    assert_int_equal(gh_gguf_n_tensors(g), 0);
    assert_int_equal(gh_gguf_n_kv(g), 1);
    assert_int_equal(gh_gguf_find_tensor(g, "k"), -1);
    gh_gguf_free(g);

    /* and an entirely empty one */
    assert_ok(gh_gguf_writer_init(&w));
    assert_ok(gh_gguf_writer_write(w, path));
    gh_gguf_writer_free(w);
    assert_ok(gh_gguf_open(path, &g));
    assert_int_equal(gh_gguf_n_kv(g), 0);
    assert_int_equal(gh_gguf_size(g), 24);
    gh_gguf_free(g);
}

static void test_replace_key(void **state) {
    (void)state;
    gh_gguf_writer *w = NULL;
    assert_ok(gh_gguf_writer_init(&w));
    assert_ok(gh_gguf_set_u32(w, "a", 1));
    assert_ok(gh_gguf_set_str(w, "b", "bee"));
    assert_ok(gh_gguf_set_u32(w, "c", 3));
    assert_ok(gh_gguf_set_u32(w, "a", 2));       /* same type */
    assert_ok(gh_gguf_set_str(w, "c", "sea"));   /* another type */
    const char *path = tu_tmp("replace.gguf");
    assert_ok(gh_gguf_writer_write(w, path));
    /* the writer can be written twice (tensor data still referenced) */
    assert_ok(gh_gguf_set_bool(w, "d", true));
    assert_ok(gh_gguf_writer_write(w, tu_tmp("replace2.gguf")));
    gh_gguf_writer_free(w);
    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open(path, &g));
    assert_int_equal(gh_gguf_n_kv(g), 3);
    assert_string_equal(gh_gguf_key(g, 0), "a");
    assert_string_equal(gh_gguf_key(g, 1), "b");
    assert_string_equal(gh_gguf_key(g, 2), "c");
    uint32_t v;
    assert_ok(gh_gguf_get_u32(g, "a", &v));
    assert_int_equal(v, 2);
    gh_str s;
    assert_ok(gh_gguf_get_str(g, "c", &s));
    assert_gstr(s, "sea");
    gh_gguf_free(g);
    assert_ok(gh_gguf_open(tu_tmp("replace2.gguf"), &g));
    assert_int_equal(gh_gguf_n_kv(g), 4);
    gh_gguf_free(g);
}

/* ------------------------------------------------------------------ getters */

static gh_gguf *open_getter_file(void) {
    gh_gguf_writer *w = NULL;
    assert_ok(gh_gguf_writer_init(&w));
    assert_ok(gh_gguf_set_str(w, "llama.context_length", "4096"));
    assert_ok(gh_gguf_set_i32(w, "neg", -1));
    assert_ok(gh_gguf_set_u64(w, "big", UINT64_C(1) << 40));
    assert_ok(gh_gguf_set_u64(w, "huge", UINT64_MAX));
    assert_ok(gh_gguf_set_u8(w, "small", 200));
    assert_ok(gh_gguf_set_i64(w, "five", 5));
    assert_ok(gh_gguf_set_f64(w, "dbig", 1e300));
    assert_ok(gh_gguf_set_f64(w, "dhalf", 0.5));
    assert_ok(gh_gguf_set_f64(w, "dinf", INFINITY));
    assert_ok(gh_gguf_set_bool(w, "flag", true));
    const uint32_t u32s[] = {1, 3000000000u, 2};
    assert_ok(gh_gguf_set_arr(w, "u32s", GH_GGUF_UINT32, u32s, 3));
    const float fs[] = {1.0f, 2.5f};
    assert_ok(gh_gguf_set_arr(w, "fs", GH_GGUF_FLOAT32, fs, 2));
    const double ds[] = {1.0, 1e300};
    assert_ok(gh_gguf_set_arr(w, "ds", GH_GGUF_FLOAT64, ds, 2));
    const uint8_t bs[] = {1, 0};
    assert_ok(gh_gguf_set_arr(w, "bs", GH_GGUF_BOOL, bs, 2));
    const char *ss[] = {"x", "y"};
    assert_ok(gh_gguf_set_arr_str(w, "ss", ss, NULL, 2));
    const char *path = tu_tmp("getters.gguf");
    assert_ok(gh_gguf_writer_write(w, path));
    gh_gguf_writer_free(w);
    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open(path, &g));
    return g;
}

#define assert_err(expr, status, needle)                    \
    do {                                                    \
        assert_int_equal((expr), (status));                 \
        assert_contains(gh_last_error(), (needle));         \
    } while (0)

static void test_getters(void **state) {
    (void)state;
    gh_gguf *g = open_getter_file();
    uint32_t u32 = 0;
    int64_t i64 = 0;
    uint64_t u64 = 0;
    float f32 = 0;
    double f64 = 0;
    bool b = false;
    gh_str s;

    assert_err(gh_gguf_get_u32(g, "llama.context_length", &u32), GH_ERR_FORMAT,
               "key 'llama.context_length' has type string, expected an integer");
    assert_contains(gh_last_error(), "getters.gguf");
    assert_err(gh_gguf_get_u32(g, "nope", &u32), GH_ERR_FORMAT, "key 'nope' not found");
    assert_contains(gh_last_error(), "getters.gguf");
    assert_err(gh_gguf_get_u32(g, "neg", &u32), GH_ERR_FORMAT, "key 'neg' value -1 does not fit in u32");
    assert_err(gh_gguf_get_u32(g, "big", &u32), GH_ERR_FORMAT, "key 'big' value 1099511627776 does not fit in u32");
    assert_ok(gh_gguf_get_u32(g, "small", &u32));
    assert_int_equal(u32, 200);
    assert_ok(gh_gguf_get_u32(g, "five", &u32));
    assert_int_equal(u32, 5);
    assert_err(gh_gguf_get_u32(g, "flag", &u32), GH_ERR_FORMAT, "key 'flag' has type bool, expected an integer");
    assert_err(gh_gguf_get_u32(g, "u32s", &u32), GH_ERR_FORMAT, "key 'u32s' has type array of u32, expected an integer");

    assert_err(gh_gguf_get_i64(g, "huge", &i64), GH_ERR_FORMAT, "value 18446744073709551615 does not fit in i64");
    assert_ok(gh_gguf_get_i64(g, "big", &i64));
    assert_int_equal(i64, INT64_C(1) << 40);
    assert_err(gh_gguf_get_i64(g, "dhalf", &i64), GH_ERR_FORMAT, "has type f64, expected an integer");

    assert_err(gh_gguf_get_f32(g, "dbig", &f32), GH_ERR_FORMAT, "key 'dbig' value 1.0000000000000001e+300 does not fit in f32");
    assert_ok(gh_gguf_get_f32(g, "dhalf", &f32));
    assert_true(f32 == 0.5f);
    assert_ok(gh_gguf_get_f32(g, "dinf", &f32));
    assert_true(isinf(f32));
    assert_err(gh_gguf_get_f32(g, "five", &f32), GH_ERR_FORMAT, "key 'five' has type i64, expected a float");
    assert_err(gh_gguf_get_f32(g, "gone", &f32), GH_ERR_FORMAT, "key 'gone' not found");

    assert_ok(gh_gguf_get_bool(g, "flag", &b));
    assert_true(b);
    assert_err(gh_gguf_get_bool(g, "small", &b), GH_ERR_FORMAT, "key 'small' has type u8, expected bool");
    assert_err(gh_gguf_get_str(g, "small", &s), GH_ERR_FORMAT, "key 'small' has type u8, expected string");
    assert_err(gh_gguf_get_str(g, "none", &s), GH_ERR_FORMAT, "key 'none' not found");

    /* _or: default when absent, still an error when mistyped */
    assert_ok(gh_gguf_get_u32_or(g, "absent", 77, &u32));
    assert_int_equal(u32, 77);
    assert_ok(gh_gguf_get_u32_or(g, "small", 77, &u32));
    assert_int_equal(u32, 200);
    assert_err(gh_gguf_get_u32_or(g, "llama.context_length", 77, &u32), GH_ERR_FORMAT, "expected an integer");
    assert_ok(gh_gguf_get_f32_or(g, "absent", 1.5f, &f32));
    assert_true(f32 == 1.5f);
    assert_ok(gh_gguf_get_f32_or(g, "dhalf", 1.5f, &f32));
    assert_true(f32 == 0.5f);
    assert_err(gh_gguf_get_f32_or(g, "flag", 1.5f, &f32), GH_ERR_FORMAT, "key 'flag' has type bool, expected a float");
    assert_ok(gh_gguf_get_bool_or(g, "absent", true, &b));
    assert_true(b);
    b = false;
    assert_ok(gh_gguf_get_bool_or(g, "flag", false, &b));
    assert_true(b);
    assert_err(gh_gguf_get_bool_or(g, "five", false, &b), GH_ERR_FORMAT, "expected bool");

    /* by index */
    int64_t neg = key_of(g, "neg"), huge = key_of(g, "huge"), flag = key_of(g, "flag");
    assert_ok(gh_gguf_kv_int(g, neg, &i64));
    assert_int_equal(i64, -1);
    assert_ok(gh_gguf_kv_int(g, flag, &i64));
    assert_int_equal(i64, 1);
    assert_err(gh_gguf_kv_int(g, huge, &i64), GH_ERR_FORMAT, "does not fit in i64");
    assert_err(gh_gguf_kv_int(g, key_of(g, "dhalf"), &i64), GH_ERR_FORMAT, "expected an integer or bool");
    assert_ok(gh_gguf_kv_uint(g, huge, &u64));
    assert_true(u64 == UINT64_MAX);
    assert_ok(gh_gguf_kv_uint(g, key_of(g, "five"), &u64));
    assert_int_equal(u64, 5);
    assert_err(gh_gguf_kv_uint(g, neg, &u64), GH_ERR_FORMAT, "key 'neg' value -1 does not fit in u64");
    assert_err(gh_gguf_kv_uint(g, flag, &u64), GH_ERR_FORMAT, "expected an integer");
    assert_ok(gh_gguf_kv_float(g, key_of(g, "dhalf"), &f64));
    assert_true(f64 == 0.5);
    assert_err(gh_gguf_kv_float(g, neg, &f64), GH_ERR_FORMAT, "expected a float");
    assert_err(gh_gguf_kv_str(g, neg, &s), GH_ERR_FORMAT, "key 'neg' has type i32, expected string");
    assert_err(gh_gguf_kv_int(g, 1000, &i64), GH_ERR_INVALID_ARG, "index 1000 out of range");
    assert_err(gh_gguf_kv_uint(g, -1, &u64), GH_ERR_INVALID_ARG, "out of range");
    assert_err(gh_gguf_kv_float(g, 1000, &f64), GH_ERR_INVALID_ARG, "out of range");
    assert_err(gh_gguf_kv_str(g, 1000, &s), GH_ERR_INVALID_ARG, "out of range");

    /* arrays */
    gh_gguf_type et;
    uint64_t n;
    const void *data;
    float fv[4];
    int32_t iv[4];
    int64_t u32s = key_of(g, "u32s"), fs = key_of(g, "fs"), ds = key_of(g, "ds"), bs = key_of(g, "bs"),
            ss = key_of(g, "ss");
    assert_err(gh_gguf_arr_info(g, neg, &et, &n), GH_ERR_FORMAT, "key 'neg' has type i32, expected an array");
    assert_err(gh_gguf_arr_info(g, 1000, &et, &n), GH_ERR_INVALID_ARG, "out of range");
    assert_err(gh_gguf_arr_data(g, ss, &data), GH_ERR_INVALID_ARG, "key 'ss' is an array of string");
    assert_err(gh_gguf_arr_data(g, neg, &data), GH_ERR_FORMAT, "expected an array");
    assert_err(gh_gguf_arr_str(g, u32s, 0, &s), GH_ERR_FORMAT, "key 'u32s' has type array of u32, expected an array of string");
    assert_err(gh_gguf_arr_str(g, ss, 2, &s), GH_ERR_INVALID_ARG, "key 'ss': index 2 out of range (2 elements)");
    assert_ok(gh_gguf_arr_str(g, ss, 1, &s));
    assert_gstr(s, "y");
    assert_err(gh_gguf_arr_to_i32(g, u32s, iv, 3), GH_ERR_FORMAT, "key 'u32s' element 1 (3000000000) does not fit in i32");
    assert_ok(gh_gguf_arr_to_f32(g, u32s, fv, 3));
    assert_true(fv[1] == 3e9f);
    assert_err(gh_gguf_arr_to_f32(g, u32s, fv, 4), GH_ERR_FORMAT, "key 'u32s' has 3 elements, expected 4");
    assert_err(gh_gguf_arr_to_i32(g, fs, iv, 2), GH_ERR_FORMAT, "element 1 (2.5) does not fit in i32");
    assert_err(gh_gguf_arr_to_f32(g, ds, fv, 2), GH_ERR_FORMAT, "element 1 (1.0000000000000001e+300) does not fit in f32");
    assert_err(gh_gguf_arr_to_f32(g, ss, fv, 2), GH_ERR_FORMAT, "expected an array of numbers");
    assert_err(gh_gguf_arr_to_i32(g, bs, iv, 2), GH_ERR_FORMAT, "key 'bs' has type array of bool, expected an array of numbers");
    assert_err(gh_gguf_arr_to_i32(g, neg, iv, 1), GH_ERR_FORMAT, "expected an array");
    gh_gguf_free(g);
}

/* ------------------------------------------------------------------ writer errors */

static void test_writer_arguments(void **state) {
    (void)state;
    gh_gguf_writer *w = NULL;
    assert_ok(gh_gguf_writer_init(&w));
    const int64_t ne[4] = {33, 2, 1, 1};
    float data[256] = {0};
    assert_err(gh_gguf_set_alignment(w, 0), GH_ERR_INVALID_ARG, "alignment 0 is not a power of two");
    assert_err(gh_gguf_set_alignment(w, 48), GH_ERR_INVALID_ARG, "alignment 48 is not a power of two");
    assert_err(gh_gguf_set_u64(w, "general.alignment", 64), GH_ERR_INVALID_ARG, "must be a u32 power of two");
    assert_err(gh_gguf_set_u32(w, "general.alignment", 3), GH_ERR_INVALID_ARG, "must be a u32 power of two");
    assert_err(gh_gguf_set_u32(w, "", 3), GH_ERR_INVALID_ARG, "non-empty");
    assert_err(gh_gguf_set_u32(w, NULL, 3), GH_ERR_INVALID_ARG, "non-empty");
    assert_err(gh_gguf_set_str(w, "k", NULL), GH_ERR_INVALID_ARG, "key 'k': NULL string");
    assert_err(gh_gguf_set_arr(w, "k", GH_GGUF_STRING, data, 1), GH_ERR_INVALID_ARG, "needs a scalar element type, not string");
    assert_err(gh_gguf_set_arr(w, "k", GH_GGUF_ARRAY, data, 1), GH_ERR_INVALID_ARG, "not array");
    assert_err(gh_gguf_set_arr(w, "k", GH_GGUF_FLOAT32, NULL, 1), GH_ERR_INVALID_ARG, "NULL array data");
    const char *strs[] = {"a", NULL};
    const uint64_t lens[] = {1, 4};
    assert_err(gh_gguf_set_arr_str(w, "k", strs, lens, 2), GH_ERR_INVALID_ARG, "key 'k': string 1 is NULL");
    assert_err(gh_gguf_add_tensor(w, "t", GH_TYPE_Q4_0, 2, ne, data), GH_ERR_INVALID_ARG,
               "tensor 't': ne[0] = 33 is not a multiple of the q4_0 block size 32");
    assert_err(gh_gguf_add_tensor(w, "t", GH_TYPE_F32, 0, ne, data), GH_ERR_INVALID_ARG, "0 dimensions");
    assert_err(gh_gguf_add_tensor(w, "t", GH_TYPE_F32, 5, ne, data), GH_ERR_INVALID_ARG, "5 dimensions");
    assert_err(gh_gguf_add_tensor(w, "t", (gh_type)16, 1, ne, data), GH_ERR_INVALID_ARG, "unknown type 16");
    const int64_t negne[1] = {-4};
    assert_err(gh_gguf_add_tensor(w, "t", GH_TYPE_F32, 1, negne, data), GH_ERR_INVALID_ARG, "ne[0] = -4 is negative");
    const int64_t bigne[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
    assert_err(gh_gguf_add_tensor(w, "t", GH_TYPE_F32, 2, bigne, data), GH_ERR_INVALID_ARG, "overflows");
    /* the reader's rule: dimensions multiplied (zeros as 1) must fit 63 bits even when empty */
    const int64_t zne[3] = {INT64_C(1) << 62, 0, 4};
    assert_err(gh_gguf_add_tensor(w, "t", GH_TYPE_I8, 3, zne, NULL), GH_ERR_INVALID_ARG, "tensor 't': shape overflows");
    const int64_t zok[3] = {INT64_C(1) << 40, 0, 4};
    assert_ok(gh_gguf_add_tensor(w, "zero", GH_TYPE_I8, 3, zok, NULL)); /* empty: no data needed */
    assert_err(gh_gguf_add_tensor(w, "t", GH_TYPE_F32, 1, ne, NULL), GH_ERR_INVALID_ARG, "NULL data");
    assert_err(gh_gguf_add_tensor(w, "", GH_TYPE_F32, 1, ne, data), GH_ERR_INVALID_ARG, "needs a name");
    char longname[80];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_err(gh_gguf_add_tensor(w, longname, GH_TYPE_F32, 1, ne, data), GH_ERR_INVALID_ARG, "longer than 63 bytes");
    assert_ok(gh_gguf_add_tensor(w, "t", GH_TYPE_F32, 1, ne, data));
    assert_err(gh_gguf_add_tensor(w, "t", GH_TYPE_F32, 1, ne, data), GH_ERR_INVALID_ARG, "tensor 't' added twice");
    assert_err(gh_gguf_writer_write(w, NULL), GH_ERR_INVALID_ARG, "no output path");
    /* nothing above changed the (default) alignment */
    const char *path = tu_tmp("args.gguf");
    assert_ok(gh_gguf_writer_write(w, path));
    gh_gguf_writer_free(w);
    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open(path, &g));
    assert_int_equal(gh_gguf_alignment(g), 32);
    assert_int_equal(gh_gguf_n_kv(g), 0);
    assert_int_equal(gh_gguf_n_tensors(g), 2);
    assert_int_equal(gh_gguf_tensor(g, 0)->nbytes, 0);
    assert_int_equal(gh_gguf_tensor(g, 0)->ne[0], INT64_C(1) << 40);
    assert_int_equal(gh_gguf_tensor(g, 1)->nbytes, 33 * 4); /* n_dims 1: ne[1] ignored */
    gh_gguf_free(g);
}

static void test_writer_unwritable(void **state) {
    (void)state;
    gh_gguf_writer *w = NULL;
    assert_ok(gh_gguf_writer_init(&w));
    assert_ok(gh_gguf_set_u32(w, "a", 1));
    const char *path = tu_tmp("no/such/dir/out.gguf");
    assert_err(gh_gguf_writer_write(w, path), GH_ERR_IO, path);
    assert_contains(gh_last_error(), "No such file or directory");
    /* destination is a directory: the rename fails, the temporary file goes */
    const char *dir = tu_tmp("a-directory.gguf");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_err(gh_gguf_writer_write(w, dir), GH_ERR_IO, dir);
    assert_int_equal(count_tmp_leftovers(), 0);
    gh_gguf_writer_free(w);
}

/* A full disk, simulated with RLIMIT_FSIZE: write() fails with EFBIG part way
 * through the tensor data. The destination keeps its old contents and no
 * temporary file is left behind. */
static void test_writer_disk_full(void **state) {
    (void)state;
    const char *path = tu_tmp("full.gguf");
    const char old[] = "previous contents";
    assert_int_equal(tu_write_file(path, old, sizeof old), 0);

    size_t nbytes = 1 << 20;
    uint8_t *big = pattern(nbytes, 1);
    gh_gguf_writer *w = NULL;
    assert_ok(gh_gguf_writer_init(&w));
    assert_ok(gh_gguf_set_str(w, "general.name", "big"));
    const int64_t ne[1] = {(int64_t)nbytes};
    assert_ok(gh_gguf_add_tensor(w, "big", GH_TYPE_I8, 1, ne, big));

    struct rlimit saved;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    void (*saved_sig)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = saved;
    lim.rlim_cur = 64 * 1024;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    gh_status s = gh_gguf_writer_write(w, path);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, saved_sig);

    assert_int_equal(s, GH_ERR_IO);
    assert_contains(gh_last_error(), path);
    assert_contains(gh_last_error(), "File too large");
    size_t len;
    char *now = tu_read_file(path, &len);
    assert_int_equal(len, sizeof old);
    assert_memory_equal(now, old, sizeof old);
    free(now);
    assert_int_equal(count_tmp_leftovers(), 0);

    /* with the limit lifted the same writer succeeds and replaces the file */
    assert_ok(gh_gguf_writer_write(w, path));
    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open(path, &g));
    assert_int_equal(gh_gguf_tensor(g, 0)->nbytes, nbytes);
    assert_memory_equal(gh_gguf_tensor(g, 0)->data, big, nbytes);
    gh_gguf_free(g);
    gh_gguf_writer_free(w);
    free(big);
}

static void test_open_errors(void **state) {
    (void)state;
    gh_gguf *g = (gh_gguf *)&g; /* must be reset to NULL on failure */
    const char *missing = tu_tmp("missing.gguf");
    assert_err(gh_gguf_open(missing, &g), GH_ERR_IO, missing);
    assert_contains(gh_last_error(), "No such file or directory");
    assert_null(g);
    assert_err(gh_gguf_open(tu_tmpdir(), &g), GH_ERR_IO, "is not a regular file");
    const char *empty = tu_tmp("empty.gguf");
    assert_int_equal(tu_write_file(empty, "", 0), 0);
    assert_err(gh_gguf_open(empty, &g), GH_ERR_FORMAT, "empty.gguf: file is too small (0 bytes)");
    assert_null(g);
    const char *text = tu_tmp("text.gguf");
    assert_int_equal(tu_write_file(text, "hello world, not a model at all", 31), 0);
    assert_err(gh_gguf_open(text, &g), GH_ERR_FORMAT, "text.gguf: bad magic 'hell'");
    /* the same checks and messages when the file is read into memory */
    assert_err(gh_gguf_open_copy(missing, &g), GH_ERR_IO, missing);
    assert_contains(gh_last_error(), "No such file or directory");
    assert_null(g);
    assert_err(gh_gguf_open_copy(tu_tmpdir(), &g), GH_ERR_IO, "is not a regular file");
    assert_err(gh_gguf_open_copy(empty, &g), GH_ERR_FORMAT, "empty.gguf: file is too small (0 bytes)");
    assert_err(gh_gguf_open_copy(text, &g), GH_ERR_FORMAT, "text.gguf: bad magic 'hell'");
    assert_null(g);
    /* a file that gives fewer bytes than its size says (as one that shrinks
     * while it is read would): sysfs files claim 4096 bytes and hold a line */
    const char *sys = "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size";
    struct stat sst;
    if (stat(sys, &sst) == 0 && S_ISREG(sst.st_mode) && sst.st_size == 4096 && access(sys, R_OK) == 0) {
        assert_err(gh_gguf_open_copy(sys, &g), GH_ERR_IO, "while being read (4096 expected)");
        assert_contains(gh_last_error(), sys);
        assert_null(g);
    }
    assert_err(gh_gguf_open_memory(NULL, 5, "x", &g), GH_ERR_INVALID_ARG, "NULL data");
    assert_err(gh_gguf_open_memory(NULL, 0, NULL, &g), GH_ERR_FORMAT, "<memory>: file is too small");
}

/* ------------------------------------------------------------------ lookups */

/* A model-sized name table: 300 tensors and 300 keys, each found by name. */
static void test_many_names(void **state) {
    (void)state;
    gh_gguf_writer *w = NULL;
    assert_ok(gh_gguf_writer_init(&w));
    float one = 1.0f;
    const int64_t ne[1] = {1};
    char name[64];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", i);
        assert_ok(gh_gguf_add_tensor(w, name, GH_TYPE_F32, 1, ne, &one));
        snprintf(name, sizeof name, "key.%d", i);
        assert_ok(gh_gguf_set_i32(w, name, i));
    }
    const char *path = tu_tmp("many.gguf");
    assert_ok(gh_gguf_writer_write(w, path));
    gh_gguf_writer_free(w);
    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open(path, &g));
    assert_int_equal(gh_gguf_n_tensors(g), 300);
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", i);
        assert_int_equal(gh_gguf_find_tensor(g, name), i);
        assert_int_equal(gh_gguf_tensor(g, i)->offset, (uint64_t)i * 32);
        snprintf(name, sizeof name, "key.%d", i);
        int64_t v;
        assert_int_equal(gh_gguf_find_key(g, name), i);
        assert_ok(gh_gguf_get_i64(g, name, &v));
        assert_int_equal(v, i);
    }
    assert_int_equal(gh_gguf_find_tensor(g, "blk.300.ffn_down.weight"), -1);
    assert_int_equal(gh_gguf_find_key(g, "key.300"), -1);
    assert_int_equal(gh_gguf_find_key(g, NULL), -1);
    gh_gguf_free(g);
}

/* ------------------------------------------------------------------ real files */

static void check_vocab(const char *file, const char *model, const char *arch_ctx_key, uint32_t ctx,
                        uint64_t n_vocab, const char *tok0, const char *tok1) {
    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open(tu_shared(file), &g));
    assert_int_equal(gh_gguf_version(g), 3);
    assert_int_equal(gh_gguf_alignment(g), 32);
    assert_int_equal(gh_gguf_n_tensors(g), 0);
    gh_str s;
    assert_ok(gh_gguf_get_str(g, "tokenizer.ggml.model", &s));
    assert_str_eq(s, model, strlen(model));
    uint32_t v;
    assert_ok(gh_gguf_get_u32(g, arch_ctx_key, &v));
    assert_int_equal(v, ctx);
    int64_t k = key_of(g, "tokenizer.ggml.tokens");
    gh_gguf_type et;
    uint64_t n;
    assert_ok(gh_gguf_arr_info(g, k, &et, &n));
    assert_int_equal(et, GH_GGUF_STRING);
    assert_int_equal(n, n_vocab);
    assert_ok(gh_gguf_arr_str(g, k, 0, &s));
    assert_str_eq(s, tok0, strlen(tok0));
    assert_ok(gh_gguf_arr_str(g, k, 1, &s));
    assert_str_eq(s, tok1, strlen(tok1));
    /* every token readable and inside the file */
    for (uint64_t j = 0; j < n; j++) assert_ok(gh_gguf_arr_str(g, k, j, &s));
    int64_t tt = key_of(g, "tokenizer.ggml.token_type");
    assert_ok(gh_gguf_arr_info(g, tt, &et, &n));
    assert_int_equal(et, GH_GGUF_INT32);
    assert_int_equal(n, n_vocab);
    int32_t *types = malloc(n * sizeof *types);
    assert_ok(gh_gguf_arr_to_i32(g, tt, types, n));
    for (uint64_t j = 0; j < n; j++) assert_true(types[j] >= 1 && types[j] <= 6);
    free(types);
    gh_gguf_free(g);
}

static void test_vocab_files(void **state) {
    (void)state;
    check_vocab("tokenizers/ggml-vocab-llama-spm.gguf", "llama", "llama.context_length", 4096, 32000, "<unk>", "<s>");
    check_vocab("tokenizers/ggml-vocab-gpt-2.gguf", "gpt2", "gpt2.context_length", 1024, 50257, "!", "\"");
    check_vocab("tokenizers/ggml-vocab-bert-bge.gguf", "bert", "bert.context_length", 512, 30522, "[PAD]",
                "[unused0]");

    gh_gguf *g = NULL;
    assert_ok(gh_gguf_open(tu_shared("tokenizers/ggml-vocab-llama-spm.gguf"), &g));
    bool add_bos = false, add_eos = true;
    assert_ok(gh_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos));
    assert_ok(gh_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &add_eos));
    assert_true(add_bos);
    assert_false(add_eos);
    uint32_t bos;
    assert_ok(gh_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &bos));
    assert_int_equal(bos, 1);
    float eps;
    assert_ok(gh_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps));
    assert_true(fabsf(eps - 1e-5f) < 1e-9f);
    int64_t sk = key_of(g, "tokenizer.ggml.scores");
    float *scores = malloc(32000 * sizeof *scores);
    assert_ok(gh_gguf_arr_to_f32(g, sk, scores, 32000));
    assert_true(scores[0] == 0.0f);
    free(scores);
    gh_str s;
    assert_ok(gh_gguf_get_str(g, "general.architecture", &s));
    assert_gstr(s, "llama");
    gh_gguf_free(g);

    assert_ok(gh_gguf_open(tu_shared("tokenizers/ggml-vocab-gpt-2.gguf"), &g));
    int64_t mk = key_of(g, "tokenizer.ggml.merges");
    uint64_t n;
    assert_ok(gh_gguf_arr_info(g, mk, NULL, &n));
    assert_int_equal(n, 50000);
    assert_ok(gh_gguf_arr_str(g, mk, 0, &s));
    assert_gstr(s, "\xc4\xa0 t");
    gh_gguf_free(g);

    assert_ok(gh_gguf_open(tu_shared("tokenizers/ggml-vocab-bert-bge.gguf"), &g));
    bool causal = true;
    assert_ok(gh_gguf_get_bool(g, "bert.attention.causal", &causal));
    assert_false(causal);
    assert_ok(gh_gguf_get_f32(g, "bert.attention.layer_norm_epsilon", &eps));
    assert_true(fabsf(eps - 1e-12f) < 1e-15f);
    gh_gguf_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_table),
        cmocka_unit_test(test_roundtrip_file),
        cmocka_unit_test(test_roundtrip_alignments),
        cmocka_unit_test(test_no_tensors),
        cmocka_unit_test(test_replace_key),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_writer_arguments),
        cmocka_unit_test(test_writer_unwritable),
        cmocka_unit_test(test_writer_disk_full),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_many_names),
        cmocka_unit_test(test_vocab_files),
    };
    return cmocka_run_group_tests_name("gguf/gguf", tests, NULL, NULL);
}
