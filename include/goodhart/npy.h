/* goodhart/npy.h — NumPy .npy arrays: the format features, labels and
 * activations travel in, so that Python users open them with np.load.
 *
 * Reading accepts format versions 1.0, 2.0 and 3.0, little-endian C-order
 * arrays only (big-endian or Fortran-order files fail with GH_ERR_UNSUPPORTED
 * and say so). Sizes are checked against the file length before anything is
 * allocated, and a feature file holding NaN or infinity is refused with the
 * file, row and column named.
 *
 * Writing produces version 1.0 files whose header is padded to a multiple of
 * 64 bytes, as NumPy does. Whole-array writes are atomic (a temporary file
 * beside the target, renamed into place when complete). The streaming writer
 * appends rows to a temporary file and patches the final row count into the
 * header at close, so arrays larger than memory can be written record by
 * record; an unfinished file never appears under the target name.
 */
#ifndef GOODHART_NPY_H
#define GOODHART_NPY_H

#include "goodhart/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads a 1-D or 2-D array of dtype <f4 or <f8 (converted to float) into a
 * malloc'd [rows][cols] float array (free() it). A 1-D array of n elements is
 * returned as n rows of 1 column. Every value must be finite. */
gh_status gh_npy_read_f32(const char *path, float **data, int64_t *rows, int64_t *cols);

/* Reads 0/1 labels: a 1-D array (or an n x 1 column) of dtype |b1, |u1, |i1,
 * <i4, <i8, <f4 or <f8 whose values are all exactly 0 or 1. *y is malloc'd. */
gh_status gh_npy_read_labels(const char *path, uint8_t **y, int64_t *n);

/* Writes a 2-D <f4 array [rows][cols], atomically. Non-finite values are
 * refused (the reader would refuse them). */
gh_status gh_npy_write_f32(const char *path, const float *data, int64_t rows, int64_t cols);
/* Writes a 1-D <i8 array of n values, atomically. */
gh_status gh_npy_write_i64(const char *path, const int64_t *data, int64_t n);
/* Writes a 1-D |u1 array of n values, atomically (labels: np.load gives uint8). */
gh_status gh_npy_write_u8(const char *path, const uint8_t *data, int64_t n);

/* ---- streaming writer ---- */
typedef enum gh_npy_dtype {
    GH_NPY_F32 = 0, /* <f4 */
    GH_NPY_I64 = 1, /* <i8 */
    GH_NPY_U8 = 2,  /* |u1 */
} gh_npy_dtype;

typedef struct gh_npy_writer gh_npy_writer;

/* Starts a 2-D <f4 array of `cols` columns at `path` (cols >= 1). */
gh_status gh_npy_writer_open(const char *path, int64_t cols, gh_npy_writer **out);
/* The same for any dtype; cols == 0 makes a 1-D array (one value per row). */
gh_status gh_npy_writer_open_dtype(const char *path, gh_npy_dtype dtype, int64_t cols,
                                   gh_npy_writer **out);
/* Appends n_rows rows of `cols` values each (float, int64_t or uint8_t as
 * opened; for F32 every value must be finite). */
gh_status gh_npy_writer_append(gh_npy_writer *w, const void *rows_data, int64_t n_rows);
/* Rows appended so far. */
int64_t gh_npy_writer_rows(const gh_npy_writer *w);
/* Patches the row count into the header, flushes and renames the file into
 * place; frees w whatever happens (on failure the temporary file is removed). */
gh_status gh_npy_writer_close(gh_npy_writer *w);
/* Gives up: removes the temporary file and frees w (NULL is fine). */
void gh_npy_writer_abort(gh_npy_writer *w);

#ifdef __cplusplus
}
#endif
#endif
