/* goodhart/gguf.h — reading and writing GGUF files (the llama.cpp model format).
 *
 * The reader maps the file read-only and hands out pointers into it: tensor data
 * is never copied. Every count, length, offset and size in the file is checked
 * against the file's size before it is used, so a truncated, corrupted or hostile
 * file fails with GH_ERR_FORMAT / GH_ERR_UNSUPPORTED and a message naming the file
 * and the problem, never with an out-of-bounds read.
 *
 * Format (v2/v3, little-endian): magic "GGUF", u32 version, u64 n_tensors,
 * u64 n_kv, then n_kv × (string key, u32 type, value), then n_tensors ×
 * (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset), padding
 * to `general.alignment` (default 32), then the tensor data; each tensor's
 * offset is relative to the start of the data section and aligned.
 */
#ifndef GOODHART_GGUF_H
#define GOODHART_GGUF_H

#include "goodhart/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Metadata value types, numbered as in the GGUF specification. */
typedef enum gh_gguf_type {
    GH_GGUF_UINT8 = 0,
    GH_GGUF_INT8 = 1,
    GH_GGUF_UINT16 = 2,
    GH_GGUF_INT16 = 3,
    GH_GGUF_UINT32 = 4,
    GH_GGUF_INT32 = 5,
    GH_GGUF_FLOAT32 = 6,
    GH_GGUF_BOOL = 7,
    GH_GGUF_STRING = 8,
    GH_GGUF_ARRAY = 9,
    GH_GGUF_UINT64 = 10,
    GH_GGUF_INT64 = 11,
    GH_GGUF_FLOAT64 = 12,
    GH_GGUF_TYPE_COUNT
} gh_gguf_type;

/* Tensor element types, numbered as ggml numbers them (only some are
 * computed with; the reader accepts the others it knows the block size of). */
typedef enum gh_type {
    GH_TYPE_F32 = 0,
    GH_TYPE_F16 = 1,
    GH_TYPE_Q4_0 = 2,
    GH_TYPE_Q4_1 = 3,
    GH_TYPE_Q5_0 = 6,
    GH_TYPE_Q5_1 = 7,
    GH_TYPE_Q8_0 = 8,
    GH_TYPE_Q8_1 = 9,
    GH_TYPE_Q2_K = 10,
    GH_TYPE_Q3_K = 11,
    GH_TYPE_Q4_K = 12,
    GH_TYPE_Q5_K = 13,
    GH_TYPE_Q6_K = 14,
    GH_TYPE_Q8_K = 15,
    GH_TYPE_I8 = 24,
    GH_TYPE_I16 = 25,
    GH_TYPE_I32 = 26,
    GH_TYPE_I64 = 27,
    GH_TYPE_F64 = 28,
    GH_TYPE_BF16 = 30,
    GH_TYPE_COUNT = 40
} gh_type;

#define GH_MAX_DIMS 4

/* A borrowed view of a string inside the file: not NUL-terminated. */
typedef struct gh_str {
    const char *ptr;
    uint64_t len;
} gh_str;

typedef struct gh_tensor_info {
    const char *name;            /* NUL-terminated copy owned by the gh_gguf */
    gh_type type;
    uint32_t n_dims;
    int64_t ne[GH_MAX_DIMS];     /* ne[0] is the innermost (contiguous) dimension; unused dims are 1 */
    uint64_t offset;             /* relative to the data section */
    uint64_t nbytes;
    const void *data;            /* points into the mapping (or the memory given) */
} gh_tensor_info;

typedef struct gh_gguf gh_gguf;

/* Opens and validates a GGUF file (mmap, read-only). */
gh_status gh_gguf_open(const char *path, gh_gguf **out);
/* The same, with the file read whole into private memory advised for
 * transparent huge pages instead of mapped: faster to stream (decode reads
 * every weight once per step), slower to open, not shared with other
 * processes. Tensor data stay read-only. */
gh_status gh_gguf_open_copy(const char *path, gh_gguf **out);
/* For a file opened with gh_gguf_open_copy: makes the tensor data writable
 * (true) or read-only again (false), for a loader that rearranges tensors
 * in place in memory (the model's regrouped Q4_0 weights; the file is not
 * touched). GH_ERR_UNSUPPORTED for a mapped file. */
gh_status gh_gguf_copy_writable(gh_gguf *g, bool writable);
/* Parses a GGUF image already in memory (not copied; must outlive the handle).
 * `name` is used in error messages. Used by the fuzzer and by tests. */
gh_status gh_gguf_open_memory(const void *data, size_t size, const char *name, gh_gguf **out);
void gh_gguf_free(gh_gguf *g);

const char *gh_gguf_path(const gh_gguf *g);
uint32_t gh_gguf_version(const gh_gguf *g);
uint32_t gh_gguf_alignment(const gh_gguf *g);
/* Size of the whole file / memory image, bytes. */
uint64_t gh_gguf_size(const gh_gguf *g);

/* ---- metadata ---- */
int64_t gh_gguf_n_kv(const gh_gguf *g);
int64_t gh_gguf_find_key(const gh_gguf *g, const char *key); /* index, or -1 */
const char *gh_gguf_key(const gh_gguf *g, int64_t i);        /* NUL-terminated */
gh_gguf_type gh_gguf_kv_type(const gh_gguf *g, int64_t i);

/* Typed getters by key. They return GH_ERR_FORMAT (message naming the key) if
 * the key is missing or has another type. The integer getters accept any
 * integer type whose value fits the requested one. */
gh_status gh_gguf_get_u32(const gh_gguf *g, const char *key, uint32_t *out);
gh_status gh_gguf_get_i64(const gh_gguf *g, const char *key, int64_t *out);
gh_status gh_gguf_get_f32(const gh_gguf *g, const char *key, float *out); /* accepts f32 or f64 */
gh_status gh_gguf_get_bool(const gh_gguf *g, const char *key, bool *out);
gh_status gh_gguf_get_str(const gh_gguf *g, const char *key, gh_str *out);
/* Same, but return `def` when the key is absent (still an error if mistyped). */
gh_status gh_gguf_get_u32_or(const gh_gguf *g, const char *key, uint32_t def, uint32_t *out);
gh_status gh_gguf_get_f32_or(const gh_gguf *g, const char *key, float def, float *out);
gh_status gh_gguf_get_bool_or(const gh_gguf *g, const char *key, bool def, bool *out);

/* Values by index (any type). Scalars are copied out as widest type. */
gh_status gh_gguf_kv_int(const gh_gguf *g, int64_t i, int64_t *out);     /* any integer or bool */
gh_status gh_gguf_kv_uint(const gh_gguf *g, int64_t i, uint64_t *out);   /* unsigned ints (u64 full range) */
gh_status gh_gguf_kv_float(const gh_gguf *g, int64_t i, double *out);    /* f32 or f64 */
gh_status gh_gguf_kv_str(const gh_gguf *g, int64_t i, gh_str *out);

/* Arrays. Element strings are read with gh_gguf_arr_str; scalar elements are
 * exposed as a pointer to their packed little-endian bytes (may be unaligned:
 * copy with memcpy). Nested arrays are parsed and validated but only exposed by
 * their element type and count. */
gh_status gh_gguf_arr_info(const gh_gguf *g, int64_t i, gh_gguf_type *elem_type, uint64_t *n);
gh_status gh_gguf_arr_data(const gh_gguf *g, int64_t i, const void **data);
gh_status gh_gguf_arr_str(const gh_gguf *g, int64_t i, uint64_t j, gh_str *out);
/* Convenience: copy out an array of numbers (any numeric element type) as
 * float or int32 (values must fit). `out` has room for n elements. */
gh_status gh_gguf_arr_to_f32(const gh_gguf *g, int64_t i, float *out, uint64_t n);
gh_status gh_gguf_arr_to_i32(const gh_gguf *g, int64_t i, int32_t *out, uint64_t n);

/* ---- tensors ---- */
int64_t gh_gguf_n_tensors(const gh_gguf *g);
int64_t gh_gguf_find_tensor(const gh_gguf *g, const char *name); /* index, or -1 */
const gh_tensor_info *gh_gguf_tensor(const gh_gguf *g, int64_t i);

/* ---- type helpers ---- */
const char *gh_gguf_type_name(gh_gguf_type t);
const char *gh_type_name(gh_type t);          /* "f32", "q4_K", ... or NULL if unknown */
bool gh_type_from_name(const char *name, gh_type *out); /* case-insensitive */
int64_t gh_type_block_size(gh_type t);        /* elements per block; 0 if unknown */
int64_t gh_type_block_bytes(gh_type t);       /* bytes per block;    0 if unknown */
/* Bytes of a row of n elements (n must be a multiple of the block size); -1 otherwise. */
int64_t gh_type_row_bytes(gh_type t, int64_t n);

/* ---- writer ----
 * Collects metadata and tensors, then writes a GGUF v3 file. Tensor data is not
 * copied: it must stay valid until gh_gguf_writer_write returns. Keys are
 * written in the order they were first set; setting a key again replaces it. */
typedef struct gh_gguf_writer gh_gguf_writer;

gh_status gh_gguf_writer_init(gh_gguf_writer **out);
void gh_gguf_writer_free(gh_gguf_writer *w);

gh_status gh_gguf_set_u8(gh_gguf_writer *w, const char *key, uint8_t v);
gh_status gh_gguf_set_i8(gh_gguf_writer *w, const char *key, int8_t v);
gh_status gh_gguf_set_u16(gh_gguf_writer *w, const char *key, uint16_t v);
gh_status gh_gguf_set_i16(gh_gguf_writer *w, const char *key, int16_t v);
gh_status gh_gguf_set_u32(gh_gguf_writer *w, const char *key, uint32_t v);
gh_status gh_gguf_set_i32(gh_gguf_writer *w, const char *key, int32_t v);
gh_status gh_gguf_set_u64(gh_gguf_writer *w, const char *key, uint64_t v);
gh_status gh_gguf_set_i64(gh_gguf_writer *w, const char *key, int64_t v);
gh_status gh_gguf_set_f32(gh_gguf_writer *w, const char *key, float v);
gh_status gh_gguf_set_f64(gh_gguf_writer *w, const char *key, double v);
gh_status gh_gguf_set_bool(gh_gguf_writer *w, const char *key, bool v);
gh_status gh_gguf_set_str(gh_gguf_writer *w, const char *key, const char *v);
gh_status gh_gguf_set_strn(gh_gguf_writer *w, const char *key, const char *v, uint64_t len);
/* An array of scalars of elem_type (not STRING/ARRAY); `data` is copied. */
gh_status gh_gguf_set_arr(gh_gguf_writer *w, const char *key, gh_gguf_type elem_type,
                          const void *data, uint64_t n);
/* An array of strings; each string is copied. lens may be NULL (NUL-terminated). */
gh_status gh_gguf_set_arr_str(gh_gguf_writer *w, const char *key, const char *const *strs,
                              const uint64_t *lens, uint64_t n);
gh_status gh_gguf_set_alignment(gh_gguf_writer *w, uint32_t alignment); /* power of two */

/* Adds a tensor; ne[0] is the innermost dimension. nbytes is derived from type/ne. */
gh_status gh_gguf_add_tensor(gh_gguf_writer *w, const char *name, gh_type type, uint32_t n_dims,
                             const int64_t *ne, const void *data);
gh_status gh_gguf_writer_write(gh_gguf_writer *w, const char *path);

#ifdef __cplusplus
}
#endif
#endif
