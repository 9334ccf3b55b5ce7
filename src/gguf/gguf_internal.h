/* gguf_internal.h — small facts about the GGUF encoding shared by the reader
 * (gguf_read.c) and the writer (gguf_write.c). Not part of the public API. */
#ifndef GH_GGUF_INTERNAL_H
#define GH_GGUF_INTERNAL_H

#include "goodhart/gguf.h"

/* Both sides move scalars and arrays of scalars as raw bytes, and GGUF v2/v3 is
 * little-endian: a big-endian host would need byte swapping everywhere. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "goodhart's GGUF code assumes a little-endian host"
#endif

#define GGUF_MAGIC "GGUF"
#define GGUF_VERSION 3
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_KEY_ALIGNMENT "general.alignment"

/* Bytes of one scalar value of type t; 0 for STRING, ARRAY and unknown types. */
static inline uint64_t gguf_scalar_size(gh_gguf_type t) {
    switch (t) {
    case GH_GGUF_UINT8: case GH_GGUF_INT8: case GH_GGUF_BOOL: return 1;
    case GH_GGUF_UINT16: case GH_GGUF_INT16: return 2;
    case GH_GGUF_UINT32: case GH_GGUF_INT32: case GH_GGUF_FLOAT32: return 4;
    case GH_GGUF_UINT64: case GH_GGUF_INT64: case GH_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static inline bool gguf_is_pow2(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

#endif
