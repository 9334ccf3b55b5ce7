/* safetensors.h — reading Hugging Face .safetensors files (internal to the
 * converter).
 *
 * Format: an 8-byte little-endian header length N, N bytes of JSON
 * ({"NAME": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [b, e]},
 * ..., "__metadata__": {...}}), then the data; offsets are relative to the
 * first byte after the header, shapes are outermost first (row-major).
 *
 * A model is one file (model.safetensors) or several shards listed by
 * model.safetensors.index.json ({"weight_map": {"NAME": "FILE", ...}}). Files
 * are mapped read-only; tensor data is never copied until asked for. Every
 * length, offset, shape and dtype is checked against the file before use, and
 * every error names the file and the tensor.
 */
#ifndef GH_SAFETENSORS_H
#define GH_SAFETENSORS_H

#include "goodhart/common.h"

#define GH_ST_MAX_DIMS 4

/* Element types named in the header. Only F32, F16 and BF16 can be read as
 * floats; the others are recognised so that their sizes can be checked. */
typedef enum gh_st_dtype {
    GH_ST_F32, GH_ST_F16, GH_ST_BF16, GH_ST_F64,
    GH_ST_I8, GH_ST_U8, GH_ST_I16, GH_ST_U16, GH_ST_I32, GH_ST_U32, GH_ST_I64, GH_ST_U64,
    GH_ST_BOOL, GH_ST_F8_E4M3, GH_ST_F8_E5M2,
} gh_st_dtype;

typedef struct gh_st_tensor {
    const char *name;             /* NUL-terminated, owned by the gh_st */
    const char *file;             /* path of the file holding it */
    gh_st_dtype dtype;
    int32_t n_dims;               /* 0 for a scalar */
    int64_t shape[GH_ST_MAX_DIMS];/* outermost first, as PyTorch writes it */
    int64_t n_elem;
    uint64_t nbytes;
    const void *data;             /* into the mapping */
} gh_st_tensor;

typedef struct gh_st gh_st;

/* Opens DIR/model.safetensors.index.json and its shards when the index exists,
 * else DIR/model.safetensors. */
gh_status gh_st_open_dir(const char *dir, gh_st **out);
/* Opens one file (adds to a fresh set). */
gh_status gh_st_open_file(const char *path, gh_st **out);
void gh_st_free(gh_st *st);

int64_t gh_st_n_tensors(const gh_st *st);
const gh_st_tensor *gh_st_tensor_at(const gh_st *st, int64_t i);
/* NULL when absent. */
const gh_st_tensor *gh_st_find(const gh_st *st, const char *name);
/* The files read: one name for messages ("DIR/model.safetensors" or the index). */
const char *gh_st_source(const gh_st *st);

const char *gh_st_dtype_name(gh_st_dtype d);
/* Converts all n_elem elements to float32 (F32, F16, BF16; others are
 * GH_ERR_UNSUPPORTED naming the file, tensor and dtype). */
gh_status gh_st_read_f32(const gh_st_tensor *t, float *out);
/* Same, for rows [r0, r0 + n_rows) of a 2-D tensor. */
gh_status gh_st_read_rows_f32(const gh_st_tensor *t, int64_t r0, int64_t n_rows, float *out);

#endif
