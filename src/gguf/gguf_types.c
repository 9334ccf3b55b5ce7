/* gguf_types.c — the tables behind the GGUF type helpers: names of metadata
 * value types, and names / block layouts of the ggml tensor types.
 *
 * A quantized ggml type stores its elements in fixed-size blocks (e.g. q4_0:
 * 32 weights in 18 bytes = one f16 scale + 16 bytes of nibbles). The reader and
 * the writer size every tensor from this table, so a type missing here is a type
 * the library refuses to load rather than one it might size wrongly.
 */
#include "goodhart/gguf.h"

#include <ctype.h>
#include <stddef.h>

typedef struct type_traits {
    const char *name;    /* as ggml prints it */
    int64_t block_size;  /* elements per block */
    int64_t block_bytes; /* bytes per block */
} type_traits;

/* Indexed by gh_type; unlisted entries are zero (unknown to us). */
static const type_traits g_types[GH_TYPE_COUNT] = {
    [GH_TYPE_F32] = {"f32", 1, 4},
    [GH_TYPE_F16] = {"f16", 1, 2},
    [GH_TYPE_Q4_0] = {"q4_0", 32, 18},
    [GH_TYPE_Q4_1] = {"q4_1", 32, 20},
    [GH_TYPE_Q5_0] = {"q5_0", 32, 22},
    [GH_TYPE_Q5_1] = {"q5_1", 32, 24},
    [GH_TYPE_Q8_0] = {"q8_0", 32, 34},
    [GH_TYPE_Q8_1] = {"q8_1", 32, 36},
    [GH_TYPE_Q2_K] = {"q2_K", 256, 84},
    [GH_TYPE_Q3_K] = {"q3_K", 256, 110},
    [GH_TYPE_Q4_K] = {"q4_K", 256, 144},
    [GH_TYPE_Q5_K] = {"q5_K", 256, 176},
    [GH_TYPE_Q6_K] = {"q6_K", 256, 210},
    [GH_TYPE_Q8_K] = {"q8_K", 256, 292},
    [GH_TYPE_I8] = {"i8", 1, 1},
    [GH_TYPE_I16] = {"i16", 1, 2},
    [GH_TYPE_I32] = {"i32", 1, 4},
    [GH_TYPE_I64] = {"i64", 1, 8},
    [GH_TYPE_F64] = {"f64", 1, 8},
    [GH_TYPE_BF16] = {"bf16", 1, 2},
};

static const type_traits *traits(gh_type t) {
    if ((int)t < 0 || (int)t >= GH_TYPE_COUNT || !g_types[t].name) return NULL;
    return &g_types[t];
}

const char *gh_type_name(gh_type t) {
    const type_traits *tr = traits(t);
    return tr ? tr->name : NULL;
}

static bool eq_nocase(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return false;
    return *a == *b;
}

bool gh_type_from_name(const char *name, gh_type *out) {
    if (!name) return false;
    for (int t = 0; t < GH_TYPE_COUNT; t++) {
        if (g_types[t].name && eq_nocase(name, g_types[t].name)) {
            if (out) *out = (gh_type)t;
            return true;
        }
    }
    return false;
}

int64_t gh_type_block_size(gh_type t) {
    const type_traits *tr = traits(t);
    return tr ? tr->block_size : 0;
}

int64_t gh_type_block_bytes(gh_type t) {
    const type_traits *tr = traits(t);
    return tr ? tr->block_bytes : 0;
}

int64_t gh_type_row_bytes(gh_type t, int64_t n) {
    const type_traits *tr = traits(t);
    if (!tr || n < 0 || n % tr->block_size != 0) return -1;
    int64_t blocks = n / tr->block_size;
    if (blocks > INT64_MAX / tr->block_bytes) return -1; /* would overflow */
    return blocks * tr->block_bytes;
}

const char *gh_gguf_type_name(gh_gguf_type t) {
    static const char *const names[GH_GGUF_TYPE_COUNT] = {
        [GH_GGUF_UINT8] = "u8",     [GH_GGUF_INT8] = "i8",     [GH_GGUF_UINT16] = "u16",
        [GH_GGUF_INT16] = "i16",    [GH_GGUF_UINT32] = "u32",  [GH_GGUF_INT32] = "i32",
        [GH_GGUF_FLOAT32] = "f32",  [GH_GGUF_BOOL] = "bool",   [GH_GGUF_STRING] = "string",
        [GH_GGUF_ARRAY] = "array",  [GH_GGUF_UINT64] = "u64",  [GH_GGUF_INT64] = "i64",
        [GH_GGUF_FLOAT64] = "f64",
    };
    if ((int)t < 0 || (int)t >= GH_GGUF_TYPE_COUNT) return "unknown";
    return names[t];
}
