/* gguf_read.c — the GGUF reader: validates a GGUF v2/v3 image (a read-only
 * mapping of a file, or memory the caller owns) and answers questions about
 * its metadata and tensors without copying anything big.
 *
 * Parsing is one forward pass over the header, the key/value section and the
 * tensor infos, through a cursor that checks every read against the image size.
 * Nothing is allocated from a count the file merely claims: counts are first
 * compared with the bytes left (each entry has a minimum encoded size), and
 * tables grow only as entries are actually parsed, so a hostile 100-byte file
 * cannot make us allocate gigabytes. Tensor data is never touched: a tensor
 * costs the same to open whether it holds 1 KB or 1 GB.
 *
 * What is kept: per key, a pointer to its value inside the image (plus, for
 * string arrays, a table of pointers to each element so that vocabularies of
 * 150k tokens can be read in O(1) per token); per tensor, a gh_tensor_info whose
 * `data` points into the image. Keys and tensor names are looked up through
 * small open-addressing hash tables, which also catch duplicates.
 */
#include "goodhart/gguf.h"
#include "gguf_internal.h"
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Nested arrays are legal GGUF but nobody writes them; bound the recursion so a
 * hostile file cannot exhaust the stack. */
#define GGUF_MAX_ARRAY_DEPTH 8

/* Smallest encodings, used to reject impossible counts before any work:
 * key/value = u64 key length + u32 type + 1-byte value;
 * tensor info = u64 name length + u32 n_dims + one u64 dim + u32 type + u64 offset;
 * string = its u64 length; array = u32 element type + u64 count. */
#define MIN_KV_BYTES 13u
#define MIN_TENSOR_BYTES 32u
#define MIN_STRING_BYTES 8u
#define MIN_ARRAY_BYTES 12u

typedef struct gguf_kv {
    char *key;            /* NUL-terminated copy */
    gh_gguf_type type;
    gh_gguf_type elem;    /* ARRAY: element type */
    uint64_t n;           /* ARRAY: element count; STRING: byte length */
    const uint8_t *p;     /* scalar: its bytes; STRING: its bytes; ARRAY: the first element */
    const uint8_t **strs; /* ARRAY of STRING: each element (at its u64 length) */
} gguf_kv;

/* Open-addressing hash table of indices (-1 = empty slot). */
typedef struct name_index {
    int64_t *slot;
    uint64_t mask;
} name_index;

struct gh_gguf {
    char *name;           /* path, or the name given to gh_gguf_open_memory */
    const uint8_t *base;
    uint64_t size;
    void *map;            /* the mapping when we own one */
    size_t map_len;
    bool copied; /* map is private memory holding a copy (gh_gguf_open_copy) */
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset; /* start of the tensor data section */
    gguf_kv *kv;
    int64_t n_kv, cap_kv;
    gh_tensor_info *tensors;
    int64_t n_tensors, cap_tensors;
    name_index kv_index, tensor_index;
};

/* ---------------------------------------------------------------- errors */

typedef struct parser {
    gh_gguf *g;
    uint64_t pos;
    char ctx[192]; /* what is being read, e.g. "key 'general.name'" */
} parser;

/* Writes `s[0..len)` quoted for a message: printable ASCII as is, other bytes as
 * \xNN, cut after 80 bytes. */
static void quote(char *dst, size_t cap, const uint8_t *s, uint64_t len) {
    size_t o = 0;
    uint64_t show = len > 80 ? 80 : len;
    if (cap < 8) { if (cap) dst[0] = '\0'; return; }
    dst[o++] = '\'';
    for (uint64_t i = 0; i < show && o + 8 < cap; i++) {
        uint8_t c = s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') dst[o++] = (char)c;
        else o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
    }
    if (show < len && o + 5 < cap) { memcpy(dst + o, "...", 3); o += 3; }
    dst[o++] = '\'';
    dst[o] = '\0';
}

static gh_status fail(const parser *ps, gh_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static gh_status fail(const parser *ps, gh_status s, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ps->ctx[0]) return gh_error(s, "%s: %s: %s", ps->g->name, ps->ctx, msg);
    return gh_error(s, "%s: %s", ps->g->name, msg);
}

/* ---------------------------------------------------------------- cursor */

static uint64_t left(const parser *ps) { return ps->g->size - ps->pos; }

static gh_status need(parser *ps, uint64_t n, const char *what) {
    if (n > left(ps))
        return fail(ps, GH_ERR_FORMAT,
                    "file truncated: %s needs %" PRIu64 " bytes at offset %" PRIu64
                    " but the file has %" PRIu64 " bytes",
                    what, n, ps->pos, ps->g->size);
    return GH_OK;
}

static gh_status rd_u32(parser *ps, const char *what, uint32_t *v) {
    gh_status s = need(ps, 4, what);
    if (s) return s;
    memcpy(v, ps->g->base + ps->pos, 4);
    ps->pos += 4;
    return GH_OK;
}

static gh_status rd_u64(parser *ps, const char *what, uint64_t *v) {
    gh_status s = need(ps, 8, what);
    if (s) return s;
    memcpy(v, ps->g->base + ps->pos, 8);
    ps->pos += 8;
    return GH_OK;
}

/* A string: u64 length, then that many bytes (not NUL-terminated). */
static gh_status rd_str(parser *ps, const char *what, const uint8_t **p, uint64_t *len) {
    char lenwhat[96];
    snprintf(lenwhat, sizeof lenwhat, "%s length", what);
    gh_status s = rd_u64(ps, lenwhat, len);
    if (s) return s;
    if (*len > left(ps))
        return fail(ps, GH_ERR_FORMAT,
                    "%s of %" PRIu64 " bytes at offset %" PRIu64
                    " runs past the end of the file (%" PRIu64 " bytes)",
                    what, *len, ps->pos, ps->g->size);
    *p = ps->g->base + ps->pos;
    ps->pos += *len;
    return GH_OK;
}

/* A key or tensor name: a string with no NUL inside, copied with a NUL. */
static gh_status rd_name(parser *ps, const char *what, char **out) {
    const uint8_t *p;
    uint64_t len;
    gh_status s = rd_str(ps, what, &p, &len);
    if (s) return s;
    if (memchr(p, 0, len)) {
        char q[400];
        quote(q, sizeof q, p, len);
        return fail(ps, GH_ERR_FORMAT, "%s %s contains a NUL byte", what, q);
    }
    char *c = malloc(len + 1);
    if (!c) return fail(ps, GH_ERR_NOMEM, "out of memory copying a %" PRIu64 "-byte %s", len, what);
    memcpy(c, p, len);
    c[len] = '\0';
    *out = c;
    return GH_OK;
}

/* ---------------------------------------------------------------- values */

/* Parses one value of `type` at the cursor. `kv` (top level only) receives
 * where it lies; nested array elements pass NULL. */
static gh_status parse_value(parser *ps, gh_gguf_type type, int depth, gguf_kv *kv) {
    gh_status s;
    const uint8_t *base = ps->g->base;
    uint64_t sz = gguf_scalar_size(type);
    if (sz) {
        char what[32];
        snprintf(what, sizeof what, "%s value", gh_gguf_type_name(type));
        if ((s = need(ps, sz, what))) return s;
        if (type == GH_GGUF_BOOL && base[ps->pos] > 1)
            return fail(ps, GH_ERR_FORMAT, "bool value %u at offset %" PRIu64 " is neither 0 nor 1",
                        base[ps->pos], ps->pos);
        if (kv) kv->p = base + ps->pos;
        ps->pos += sz;
        return GH_OK;
    }
    if (type == GH_GGUF_STRING) {
        const uint8_t *p;
        uint64_t len;
        if ((s = rd_str(ps, "string value", &p, &len))) return s;
        if (kv) { kv->p = p; kv->n = len; }
        return GH_OK;
    }
    if (type != GH_GGUF_ARRAY) /* callers check, but stay total */
        return fail(ps, GH_ERR_FORMAT, "unknown value type %u", (unsigned)type);

    if (depth >= GGUF_MAX_ARRAY_DEPTH)
        return fail(ps, GH_ERR_UNSUPPORTED, "arrays nested more than %d deep at offset %" PRIu64,
                    GGUF_MAX_ARRAY_DEPTH, ps->pos);
    uint32_t elem;
    uint64_t n;
    if ((s = rd_u32(ps, "array element type", &elem))) return s;
    if (elem >= GH_GGUF_TYPE_COUNT)
        return fail(ps, GH_ERR_FORMAT, "array has unknown element type %u (at offset %" PRIu64 ")",
                    elem, ps->pos - 4);
    if ((s = rd_u64(ps, "array length", &n))) return s;
    gh_gguf_type et = (gh_gguf_type)elem;
    uint64_t esz = gguf_scalar_size(et);
    uint64_t min = esz ? esz : et == GH_GGUF_STRING ? MIN_STRING_BYTES : MIN_ARRAY_BYTES;
    if (n > left(ps) / min)
        return fail(ps, GH_ERR_FORMAT,
                    "array of %" PRIu64 " %s elements at offset %" PRIu64
                    " cannot fit in the %" PRIu64 " bytes left in the file",
                    n, gh_gguf_type_name(et), ps->pos - 12, left(ps));
    uint64_t start = ps->pos;
    if (esz) {
        if (et == GH_GGUF_BOOL) {
            for (uint64_t j = 0; j < n; j++)
                if (base[start + j] > 1)
                    return fail(ps, GH_ERR_FORMAT, "bool array element %" PRIu64 " is %u, neither 0 nor 1",
                                j, base[start + j]);
        }
        ps->pos += n * esz;
    } else if (et == GH_GGUF_STRING) {
        for (uint64_t j = 0; j < n; j++) {
            const uint8_t *p;
            uint64_t len;
            if ((s = rd_str(ps, "array string", &p, &len))) return s;
        }
    } else {
        for (uint64_t j = 0; j < n; j++)
            if ((s = parse_value(ps, GH_GGUF_ARRAY, depth + 1, NULL))) return s;
    }
    if (kv) {
        kv->elem = et;
        kv->n = n;
        kv->p = base + start;
        if (et == GH_GGUF_STRING && n > 0) {
            /* Second pass over strings already validated: the table is sized by
             * what the file really holds (n <= bytes consumed / 8). */
            kv->strs = malloc(n * sizeof *kv->strs);
            if (!kv->strs) return fail(ps, GH_ERR_NOMEM, "out of memory indexing %" PRIu64 " strings", n);
            uint64_t q = start;
            for (uint64_t j = 0; j < n; j++) {
                uint64_t len;
                kv->strs[j] = base + q;
                memcpy(&len, base + q, 8);
                q += 8 + len;
            }
        }
    }
    return GH_OK;
}

/* ---------------------------------------------------------------- name index */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

typedef const char *(*name_at_fn)(const gh_gguf *g, int64_t i);
static const char *kv_name_at(const gh_gguf *g, int64_t i) { return g->kv[i].key; }
static const char *tensor_name_at(const gh_gguf *g, int64_t i) { return g->tensors[i].name; }

static int64_t index_find(const gh_gguf *g, const name_index *ix, name_at_fn at, const char *name) {
    if (!ix->slot || !name) return -1;
    for (uint64_t h = hash_str(name) & ix->mask;; h = (h + 1) & ix->mask) {
        int64_t i = ix->slot[h];
        if (i < 0) return -1;
        if (strcmp(at(g, i), name) == 0) return i;
    }
}

/* Builds the index over n names; on a duplicate returns the two indices. */
static gh_status index_build(const gh_gguf *g, name_index *ix, name_at_fn at, int64_t n, int64_t *dup_a,
                             int64_t *dup_b) {
    *dup_a = *dup_b = -1;
    if (n == 0) return GH_OK;
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)n) cap <<= 1;
    ix->slot = malloc(cap * sizeof *ix->slot);
    if (!ix->slot) return gh_error(GH_ERR_NOMEM, "%s: out of memory indexing %" PRId64 " names", g->name, n);
    memset(ix->slot, 0xff, cap * sizeof *ix->slot); /* all -1 */
    ix->mask = cap - 1;
    for (int64_t i = 0; i < n; i++) {
        const char *name = at(g, i);
        uint64_t h = hash_str(name) & ix->mask;
        for (; ix->slot[h] >= 0; h = (h + 1) & ix->mask) {
            if (strcmp(at(g, ix->slot[h]), name) == 0) {
                *dup_a = ix->slot[h];
                *dup_b = i;
                return GH_OK;
            }
        }
        ix->slot[h] = i;
    }
    return GH_OK;
}

/* ---------------------------------------------------------------- parsing */

static gh_status parse_header(parser *ps, uint64_t *n_tensors, uint64_t *n_kv) {
    gh_gguf *g = ps->g;
    gh_status s;
    if (g->size < 4)
        return fail(ps, GH_ERR_FORMAT, "file is too small (%" PRIu64 " bytes) to be a GGUF file", g->size);
    if (memcmp(g->base, GGUF_MAGIC, 4) != 0) {
        char q[64];
        quote(q, sizeof q, g->base, 4);
        return fail(ps, GH_ERR_FORMAT, "bad magic %s (expected 'GGUF'): not a GGUF file", q);
    }
    ps->pos = 4;
    snprintf(ps->ctx, sizeof ps->ctx, "header");
    if ((s = rd_u32(ps, "version", &g->version))) return s;
    uint32_t v = g->version;
    uint32_t swapped = (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
    if (v == 1)
        return fail(ps, GH_ERR_UNSUPPORTED, "unsupported version: GGUF version 1 is not supported "
                                            "(only versions 2 and 3; re-convert the model)");
    if (v != 2 && v != 3) {
        if (swapped >= 1 && swapped <= 3)
            return fail(ps, GH_ERR_UNSUPPORTED, "unsupported version: big-endian GGUF (version %u) "
                                                "is not supported", swapped);
        return fail(ps, GH_ERR_UNSUPPORTED, "unsupported version: GGUF version %u "
                                            "(only versions 2 and 3 are supported)", v);
    }
    if ((s = rd_u64(ps, "tensor count", n_tensors))) return s;
    if ((s = rd_u64(ps, "metadata count", n_kv))) return s;
    uint64_t rem = left(ps);
    if (*n_kv > rem / MIN_KV_BYTES)
        return fail(ps, GH_ERR_FORMAT, "claims %" PRIu64 " metadata keys, more than the %" PRIu64
                    " bytes after the header can hold", *n_kv, rem);
    if (*n_tensors > rem / MIN_TENSOR_BYTES)
        return fail(ps, GH_ERR_FORMAT, "claims %" PRIu64 " tensors, more than the %" PRIu64
                    " bytes after the header can hold", *n_tensors, rem);
    if (*n_kv * MIN_KV_BYTES + *n_tensors * MIN_TENSOR_BYTES > rem)
        return fail(ps, GH_ERR_FORMAT, "claims %" PRIu64 " metadata keys and %" PRIu64
                    " tensors, more than the %" PRIu64 " bytes after the header can hold",
                    *n_kv, *n_tensors, rem);
    return GH_OK;
}

static gh_status parse_kvs(parser *ps, uint64_t n_kv) {
    gh_gguf *g = ps->g;
    gh_status s;
    for (uint64_t i = 0; i < n_kv; i++) {
        snprintf(ps->ctx, sizeof ps->ctx, "metadata entry %" PRIu64, i);
        if (g->n_kv == g->cap_kv) {
            int64_t cap = g->cap_kv ? 2 * g->cap_kv : 32;
            gguf_kv *k = realloc(g->kv, (size_t)cap * sizeof *k);
            if (!k) return fail(ps, GH_ERR_NOMEM, "out of memory");
            g->kv = k;
            g->cap_kv = cap;
        }
        gguf_kv *kv = &g->kv[g->n_kv];
        memset(kv, 0, sizeof *kv);
        if ((s = rd_name(ps, "key", &kv->key))) return s;
        g->n_kv++; /* owned from here on, freed with g */
        char q[128];
        quote(q, sizeof q, (const uint8_t *)kv->key, strlen(kv->key));
        snprintf(ps->ctx, sizeof ps->ctx, "key %s", q);
        uint32_t type;
        if ((s = rd_u32(ps, "value type", &type))) return s;
        if (type >= GH_GGUF_TYPE_COUNT)
            return fail(ps, GH_ERR_FORMAT, "unknown value type %u (at offset %" PRIu64 ")", type,
                        ps->pos - 4);
        kv->type = (gh_gguf_type)type;
        if ((s = parse_value(ps, kv->type, 0, kv))) return s;
    }
    ps->ctx[0] = '\0';
    int64_t a, b;
    if ((s = index_build(g, &g->kv_index, kv_name_at, g->n_kv, &a, &b))) return s;
    if (a >= 0)
        return fail(ps, GH_ERR_FORMAT, "duplicate key '%s' (metadata entries %" PRId64 " and %" PRId64 ")",
                    g->kv[a].key, a, b);

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = index_find(g, &g->kv_index, kv_name_at, GGUF_KEY_ALIGNMENT);
    if (ai >= 0) {
        const gguf_kv *kv = &g->kv[ai];
        if (kv->type != GH_GGUF_UINT32)
            return fail(ps, GH_ERR_FORMAT, "key '" GGUF_KEY_ALIGNMENT "' has type %s, expected u32",
                        gh_gguf_type_name(kv->type));
        uint32_t al;
        memcpy(&al, kv->p, 4);
        if (!gguf_is_pow2(al))
            return fail(ps, GH_ERR_FORMAT, "key '" GGUF_KEY_ALIGNMENT "' is %u, not a power of two", al);
        g->alignment = al;
    }
    return GH_OK;
}

static gh_status parse_tensor_infos(parser *ps, uint64_t n_tensors) {
    gh_gguf *g = ps->g;
    gh_status s;
    for (uint64_t i = 0; i < n_tensors; i++) {
        snprintf(ps->ctx, sizeof ps->ctx, "tensor %" PRIu64, i);
        if (g->n_tensors == g->cap_tensors) {
            int64_t cap = g->cap_tensors ? 2 * g->cap_tensors : 64;
            gh_tensor_info *t = realloc(g->tensors, (size_t)cap * sizeof *t);
            if (!t) return fail(ps, GH_ERR_NOMEM, "out of memory");
            g->tensors = t;
            g->cap_tensors = cap;
        }
        gh_tensor_info *t = &g->tensors[g->n_tensors];
        memset(t, 0, sizeof *t);
        char *name;
        if ((s = rd_name(ps, "tensor name", &name))) return s;
        t->name = name;
        g->n_tensors++;
        char q[128];
        quote(q, sizeof q, (const uint8_t *)name, strlen(name));
        snprintf(ps->ctx, sizeof ps->ctx, "tensor %s", q);

        if ((s = rd_u32(ps, "dimension count", &t->n_dims))) return s;
        if (t->n_dims < 1 || t->n_dims > GH_MAX_DIMS)
            return fail(ps, GH_ERR_FORMAT, "has %u dimensions (expected 1 to %d)", t->n_dims, GH_MAX_DIMS);
        bool any_zero = false;
        for (uint32_t d = 0; d < GH_MAX_DIMS; d++) {
            uint64_t ne = 1;
            if (d < t->n_dims) {
                if ((s = rd_u64(ps, "dimension", &ne))) return s;
                if (ne > (uint64_t)INT64_MAX)
                    return fail(ps, GH_ERR_FORMAT, "ne[%u] = %" PRIu64 " is negative or too large", d, ne);
            }
            t->ne[d] = (int64_t)ne;
            any_zero |= ne == 0;
        }
        uint32_t type;
        if ((s = rd_u32(ps, "tensor type", &type))) return s;
        if (type >= GH_TYPE_COUNT || gh_type_block_size((gh_type)type) == 0)
            return fail(ps, GH_ERR_UNSUPPORTED, "unknown or unsupported ggml type %u", type);
        t->type = (gh_type)type;
        if ((s = rd_u64(ps, "data offset", &t->offset))) return s;

        /* The product of the dimensions (zeros counted as 1) must fit int64, so
         * that callers may multiply any of them freely, even for an empty tensor;
         * the byte size then can only overflow through the block layout. */
        int64_t prod = 1;
        for (uint32_t d = 0; d < GH_MAX_DIMS; d++) {
            int64_t ne = t->ne[d] ? t->ne[d] : 1;
            if (prod > INT64_MAX / ne)
                return fail(ps, GH_ERR_FORMAT,
                            "shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
                            "] has too many elements (overflows 64 bits)",
                            t->ne[0], t->ne[1], t->ne[2], t->ne[3]);
            prod *= ne;
        }
        if (t->ne[0] % gh_type_block_size(t->type) != 0)
            return fail(ps, GH_ERR_FORMAT, "type %s: ne[0] = %" PRId64 " is not a multiple of the block size %" PRId64,
                        gh_type_name(t->type), t->ne[0], gh_type_block_size(t->type));
        int64_t row = gh_type_row_bytes(t->type, t->ne[0]);
        if (row < 0) return fail(ps, GH_ERR_FORMAT, "data size overflows 64 bits");
        int64_t rows = any_zero ? 0 : t->ne[1] * t->ne[2] * t->ne[3];
        if (row != 0 && rows > INT64_MAX / row)
            return fail(ps, GH_ERR_FORMAT, "data size overflows 64 bits");
        t->nbytes = (uint64_t)(row * rows);
    }
    return GH_OK;
}

/* Places the data section after the tensor infos and checks each tensor's data. */
static gh_status place_tensor_data(parser *ps) {
    gh_gguf *g = ps->g;
    gh_status s;
    uint64_t a = g->alignment;
    g->data_offset = ps->pos + (a - ps->pos % a) % a;
    ps->ctx[0] = '\0';
    if (g->n_tensors > 0 && g->data_offset > g->size)
        return fail(ps, GH_ERR_FORMAT, "file truncated: tensor data section would start at offset %" PRIu64
                    ", past the end of the file (%" PRIu64 " bytes)", g->data_offset, g->size);
    uint64_t avail = g->data_offset <= g->size ? g->size - g->data_offset : 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        gh_tensor_info *t = &g->tensors[i];
        char q[128];
        quote(q, sizeof q, (const uint8_t *)t->name, strlen(t->name));
        snprintf(ps->ctx, sizeof ps->ctx, "tensor %s", q);
        if (t->offset % a != 0)
            return fail(ps, GH_ERR_FORMAT, "data offset %" PRIu64 " is not a multiple of the alignment (%u)",
                        t->offset, g->alignment);
        if (t->offset > avail || t->nbytes > avail - t->offset)
            return fail(ps, GH_ERR_FORMAT, "data (offset %" PRIu64 ", %" PRIu64 " bytes) extends past end of file (%"
                        PRIu64 " bytes; data section starts at %" PRIu64 ")",
                        t->offset, t->nbytes, g->size, g->data_offset);
        t->data = g->base + g->data_offset + t->offset;
    }
    ps->ctx[0] = '\0';
    int64_t da, db;
    if ((s = index_build(g, &g->tensor_index, tensor_name_at, g->n_tensors, &da, &db))) return s;
    if (da >= 0)
        return fail(ps, GH_ERR_FORMAT, "duplicate tensor name '%s' (tensors %" PRId64 " and %" PRId64 ")",
                    g->tensors[da].name, da, db);
    return GH_OK;
}

static gh_status parse(gh_gguf *g) {
    parser ps = {.g = g};
    uint64_t n_tensors, n_kv;
    gh_status s;
    if ((s = parse_header(&ps, &n_tensors, &n_kv))) return s;
    if ((s = parse_kvs(&ps, n_kv))) return s;
    if ((s = parse_tensor_infos(&ps, n_tensors))) return s;
    return place_tensor_data(&ps);
}

/* ---------------------------------------------------------------- open/free */

static gh_status open_common(gh_gguf *g, gh_gguf **out) {
    gh_status s = parse(g);
    if (s != GH_OK) {
        gh_gguf_free(g);
        return s;
    }
    *out = g;
    return GH_OK;
}

gh_status gh_gguf_open_memory(const void *data, size_t size, const char *name, gh_gguf **out) {
    if (!out) return gh_error(GH_ERR_INVALID_ARG, "gh_gguf_open_memory: out is NULL");
    *out = NULL;
    if (!name) name = "<memory>";
    if (!data && size > 0) return gh_error(GH_ERR_INVALID_ARG, "%s: NULL data with size %zu", name, size);
    gh_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->name = strdup(name))) {
        free(g);
        return gh_error(GH_ERR_NOMEM, "%s: out of memory", name);
    }
    static const uint8_t empty[1];
    g->base = data ? data : empty;
    g->size = size;
    return open_common(g, out);
}

/* The file's bytes, in place (mmap of the file) or, with `copy`, read into
 * private anonymous memory advised for transparent huge pages. Why copy:
 * decode streams every weight once per step, and with 4 KiB pages the TLB
 * misses of that stream cost up to ~20 % of batch-1 speed, depending on how
 * the page cache happens to hold the file (measured, 1.1B f16 and q4_0: a
 * mapped file that had been in the cache a while gave 10.4-10.9 and 31.8
 * tokens/s, the copy 13.2-13.6 and 38.1; a freshly written file mapped in
 * place ~13.2). The copy costs a read of the file at load and memory that
 * other processes cannot share. */
/* Reads len bytes of fd into m (pread in pieces of up to 1 GiB). */
static gh_status read_whole(int fd, void *m, size_t len, const char *path) {
    for (size_t done = 0; done < len;) {
        const size_t want = len - done < ((size_t)1 << 30) ? len - done : (size_t)1 << 30;
        const ssize_t n = pread(fd, (char *)m + done, want, (off_t)done);
        if (n < 0) return gh_error(GH_ERR_IO, "cannot read '%s' at byte %zu: %s", path, done, strerror(errno));
        if (n == 0)
            return gh_error(GH_ERR_IO, "'%s' ended at byte %zu while being read (%zu expected)", path, done, len);
        done += (size_t)n;
    }
    return GH_OK;
}

static gh_status open_file(const char *path, bool copy, gh_gguf **out) {
    if (!out) return gh_error(GH_ERR_INVALID_ARG, "gh_gguf_open: out is NULL");
    *out = NULL;
    if (!path) return gh_error(GH_ERR_INVALID_ARG, "gh_gguf_open: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return gh_error(GH_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return gh_error(GH_ERR_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return gh_error(GH_ERR_IO, "'%s' is not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return gh_error(GH_ERR_IO, "'%s' is too large to map on this system", path);
    }
    gh_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->name = strdup(path))) {
        free(g);
        close(fd);
        return gh_error(GH_ERR_NOMEM, "%s: out of memory", path);
    }
    static const uint8_t empty[1];
    g->base = empty;
    g->size = (uint64_t)st.st_size;
    if (st.st_size > 0) {
        const size_t len = (size_t)st.st_size;
        void *m;
        if (copy) {
            m = gh_map_huge(len);
            if (!m) m = MAP_FAILED;
        } else {
            /* The mapping stays valid after close(). A file truncated by someone
             * else while mapped would fault (SIGBUS); that is outside what we
             * can check. */
            m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        }
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            gh_gguf_free(g);
            return gh_error(copy ? GH_ERR_NOMEM : GH_ERR_IO, "cannot %s '%s' (%lld bytes): %s",
                            copy ? "allocate memory for" : "map", path, (long long)st.st_size, strerror(e));
        }
        g->map = m;
        g->map_len = len;
        g->base = m;
        if (copy) {
            gh_status s = read_whole(fd, m, len, path);
            if (s) {
                close(fd);
                gh_gguf_free(g);
                return s;
            }
            mprotect(m, len, PROT_READ); /* read-only, as the mapping would be */
            g->copied = true;
        }
    }
    close(fd);
    return open_common(g, out);
}

gh_status gh_gguf_open(const char *path, gh_gguf **out) { return open_file(path, false, out); }
gh_status gh_gguf_open_copy(const char *path, gh_gguf **out) { return open_file(path, true, out); }

gh_status gh_gguf_copy_writable(gh_gguf *g, bool writable) {
    if (!g || !g->copied)
        return gh_error(GH_ERR_UNSUPPORTED, "'%s' is mapped from its file, not a copy in memory",
                        g && g->name ? g->name : "(null)");
    if (mprotect(g->map, g->map_len, writable ? PROT_READ | PROT_WRITE : PROT_READ) != 0)
        return gh_error(GH_ERR_IO, "cannot change the protection of '%s' in memory: %s", g->name, strerror(errno));
    return GH_OK;
}

void gh_gguf_free(gh_gguf *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].strs);
    }
    free(g->kv);
    for (int64_t i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->tensors);
    free(g->kv_index.slot);
    free(g->tensor_index.slot);
    if (g->map) munmap(g->map, g->map_len);
    free(g->name);
    free(g);
}

const char *gh_gguf_path(const gh_gguf *g) { return g->name; }
uint32_t gh_gguf_version(const gh_gguf *g) { return g->version; }
uint32_t gh_gguf_alignment(const gh_gguf *g) { return g->alignment; }
uint64_t gh_gguf_size(const gh_gguf *g) { return g->size; }

/* ---------------------------------------------------------------- metadata */

int64_t gh_gguf_n_kv(const gh_gguf *g) { return g->n_kv; }

int64_t gh_gguf_find_key(const gh_gguf *g, const char *key) {
    return index_find(g, &g->kv_index, kv_name_at, key);
}

const char *gh_gguf_key(const gh_gguf *g, int64_t i) {
    return (i >= 0 && i < g->n_kv) ? g->kv[i].key : NULL;
}

gh_gguf_type gh_gguf_kv_type(const gh_gguf *g, int64_t i) {
    return (i >= 0 && i < g->n_kv) ? g->kv[i].type : GH_GGUF_TYPE_COUNT;
}

/* A scalar decoded to the widest type of its kind. */
typedef enum num_kind { NUM_UNSIGNED, NUM_SIGNED, NUM_FLOAT, NUM_BOOL, NUM_NONE } num_kind;
typedef struct num {
    num_kind kind;
    uint64_t u;
    int64_t i;
    double f;
} num;

static num decode(gh_gguf_type t, const uint8_t *p) {
    num n = {.kind = NUM_NONE};
    switch (t) {
    case GH_GGUF_UINT8: n.kind = NUM_UNSIGNED; n.u = p[0]; break;
    case GH_GGUF_UINT16: { uint16_t v; memcpy(&v, p, 2); n.kind = NUM_UNSIGNED; n.u = v; break; }
    case GH_GGUF_UINT32: { uint32_t v; memcpy(&v, p, 4); n.kind = NUM_UNSIGNED; n.u = v; break; }
    case GH_GGUF_UINT64: { uint64_t v; memcpy(&v, p, 8); n.kind = NUM_UNSIGNED; n.u = v; break; }
    case GH_GGUF_INT8: { int8_t v; memcpy(&v, p, 1); n.kind = NUM_SIGNED; n.i = v; break; }
    case GH_GGUF_INT16: { int16_t v; memcpy(&v, p, 2); n.kind = NUM_SIGNED; n.i = v; break; }
    case GH_GGUF_INT32: { int32_t v; memcpy(&v, p, 4); n.kind = NUM_SIGNED; n.i = v; break; }
    case GH_GGUF_INT64: { int64_t v; memcpy(&v, p, 8); n.kind = NUM_SIGNED; n.i = v; break; }
    case GH_GGUF_FLOAT32: { float v; memcpy(&v, p, 4); n.kind = NUM_FLOAT; n.f = v; break; }
    case GH_GGUF_FLOAT64: { double v; memcpy(&v, p, 8); n.kind = NUM_FLOAT; n.f = v; break; }
    case GH_GGUF_BOOL: n.kind = NUM_BOOL; n.u = p[0] != 0; n.i = p[0] != 0; break;
    default: break;
    }
    return n;
}

static void num_str(const num *n, char *buf, size_t cap) {
    switch (n->kind) {
    case NUM_UNSIGNED: snprintf(buf, cap, "%" PRIu64, n->u); break;
    case NUM_SIGNED: snprintf(buf, cap, "%" PRId64, n->i); break;
    case NUM_FLOAT: snprintf(buf, cap, "%.17g", n->f); break;
    case NUM_BOOL: snprintf(buf, cap, "%s", n->u ? "true" : "false"); break;
    default: snprintf(buf, cap, "?"); break;
    }
}

static gh_status bad_index(const gh_gguf *g, int64_t i) {
    return gh_error(GH_ERR_INVALID_ARG, "%s: metadata index %" PRId64 " out of range (%" PRId64 " keys)", g->name,
                    i, g->n_kv);
}

static gh_status wrong_type(const gh_gguf *g, const gguf_kv *kv, const char *expected) {
    if (kv->type == GH_GGUF_ARRAY)
        return gh_error(GH_ERR_FORMAT, "%s: key '%s' has type array of %s, expected %s", g->name, kv->key,
                        gh_gguf_type_name(kv->elem), expected);
    return gh_error(GH_ERR_FORMAT, "%s: key '%s' has type %s, expected %s", g->name, kv->key,
                    gh_gguf_type_name(kv->type), expected);
}

static gh_status doesnt_fit(const gh_gguf *g, const gguf_kv *kv, const num *n, const char *target) {
    char v[64];
    num_str(n, v, sizeof v);
    return gh_error(GH_ERR_FORMAT, "%s: key '%s' value %s does not fit in %s", g->name, kv->key, v, target);
}

/* Finds `key`; GH_ERR_FORMAT naming it if absent. */
static gh_status need_key(const gh_gguf *g, const char *key, const gguf_kv **kv) {
    int64_t i = gh_gguf_find_key(g, key);
    if (i < 0) return gh_error(GH_ERR_FORMAT, "%s: key '%s' not found", g->name, key ? key : "(null)");
    *kv = &g->kv[i];
    return GH_OK;
}

static bool is_int_type(gh_gguf_type t) {
    return gguf_scalar_size(t) != 0 && t != GH_GGUF_BOOL && t != GH_GGUF_FLOAT32 && t != GH_GGUF_FLOAT64;
}

static gh_status kv_u32(const gh_gguf *g, const gguf_kv *kv, uint32_t *out) {
    if (!is_int_type(kv->type)) return wrong_type(g, kv, "an integer");
    num n = decode(kv->type, kv->p);
    if (n.kind == NUM_UNSIGNED ? n.u > UINT32_MAX : (n.i < 0 || n.i > (int64_t)UINT32_MAX))
        return doesnt_fit(g, kv, &n, "u32");
    *out = (uint32_t)(n.kind == NUM_UNSIGNED ? n.u : (uint64_t)n.i);
    return GH_OK;
}

static gh_status kv_f32(const gh_gguf *g, const gguf_kv *kv, float *out) {
    if (kv->type != GH_GGUF_FLOAT32 && kv->type != GH_GGUF_FLOAT64) return wrong_type(g, kv, "a float");
    num n = decode(kv->type, kv->p);
    if (isfinite(n.f) && fabs(n.f) > FLT_MAX) return doesnt_fit(g, kv, &n, "f32");
    *out = (float)n.f;
    return GH_OK;
}

static gh_status kv_bool(const gh_gguf *g, const gguf_kv *kv, bool *out) {
    if (kv->type != GH_GGUF_BOOL) return wrong_type(g, kv, "bool");
    *out = kv->p[0] != 0;
    return GH_OK;
}

gh_status gh_gguf_get_u32(const gh_gguf *g, const char *key, uint32_t *out) {
    const gguf_kv *kv = NULL;
    gh_status s = need_key(g, key, &kv);
    return s ? s : kv_u32(g, kv, out);
}

gh_status gh_gguf_get_i64(const gh_gguf *g, const char *key, int64_t *out) {
    const gguf_kv *kv = NULL;
    gh_status s = need_key(g, key, &kv);
    if (s) return s;
    if (!is_int_type(kv->type)) return wrong_type(g, kv, "an integer");
    num n = decode(kv->type, kv->p);
    if (n.kind == NUM_UNSIGNED && n.u > (uint64_t)INT64_MAX) return doesnt_fit(g, kv, &n, "i64");
    *out = n.kind == NUM_UNSIGNED ? (int64_t)n.u : n.i;
    return GH_OK;
}

gh_status gh_gguf_get_f32(const gh_gguf *g, const char *key, float *out) {
    const gguf_kv *kv = NULL;
    gh_status s = need_key(g, key, &kv);
    return s ? s : kv_f32(g, kv, out);
}

gh_status gh_gguf_get_bool(const gh_gguf *g, const char *key, bool *out) {
    const gguf_kv *kv = NULL;
    gh_status s = need_key(g, key, &kv);
    return s ? s : kv_bool(g, kv, out);
}

gh_status gh_gguf_get_str(const gh_gguf *g, const char *key, gh_str *out) {
    const gguf_kv *kv = NULL;
    gh_status s = need_key(g, key, &kv);
    if (s) return s;
    if (kv->type != GH_GGUF_STRING) return wrong_type(g, kv, "string");
    out->ptr = (const char *)kv->p;
    out->len = kv->n;
    return GH_OK;
}

gh_status gh_gguf_get_u32_or(const gh_gguf *g, const char *key, uint32_t def, uint32_t *out) {
    int64_t i = gh_gguf_find_key(g, key);
    if (i < 0) { *out = def; return GH_OK; }
    return kv_u32(g, &g->kv[i], out);
}

gh_status gh_gguf_get_f32_or(const gh_gguf *g, const char *key, float def, float *out) {
    int64_t i = gh_gguf_find_key(g, key);
    if (i < 0) { *out = def; return GH_OK; }
    return kv_f32(g, &g->kv[i], out);
}

gh_status gh_gguf_get_bool_or(const gh_gguf *g, const char *key, bool def, bool *out) {
    int64_t i = gh_gguf_find_key(g, key);
    if (i < 0) { *out = def; return GH_OK; }
    return kv_bool(g, &g->kv[i], out);
}

gh_status gh_gguf_kv_int(const gh_gguf *g, int64_t i, int64_t *out) {
    if (i < 0 || i >= g->n_kv) return bad_index(g, i);
    const gguf_kv *kv = &g->kv[i];
    num n = gguf_scalar_size(kv->type) ? decode(kv->type, kv->p) : (num){.kind = NUM_NONE};
    if (n.kind != NUM_SIGNED && n.kind != NUM_UNSIGNED && n.kind != NUM_BOOL)
        return wrong_type(g, kv, "an integer or bool");
    if (n.kind == NUM_UNSIGNED && n.u > (uint64_t)INT64_MAX) return doesnt_fit(g, kv, &n, "i64");
    *out = n.kind == NUM_SIGNED ? n.i : (int64_t)n.u;
    return GH_OK;
}

gh_status gh_gguf_kv_uint(const gh_gguf *g, int64_t i, uint64_t *out) {
    if (i < 0 || i >= g->n_kv) return bad_index(g, i);
    const gguf_kv *kv = &g->kv[i];
    if (!is_int_type(kv->type)) return wrong_type(g, kv, "an integer");
    num n = decode(kv->type, kv->p);
    if (n.kind == NUM_SIGNED && n.i < 0) return doesnt_fit(g, kv, &n, "u64");
    *out = n.kind == NUM_UNSIGNED ? n.u : (uint64_t)n.i;
    return GH_OK;
}

gh_status gh_gguf_kv_float(const gh_gguf *g, int64_t i, double *out) {
    if (i < 0 || i >= g->n_kv) return bad_index(g, i);
    const gguf_kv *kv = &g->kv[i];
    if (kv->type != GH_GGUF_FLOAT32 && kv->type != GH_GGUF_FLOAT64) return wrong_type(g, kv, "a float");
    *out = decode(kv->type, kv->p).f;
    return GH_OK;
}

gh_status gh_gguf_kv_str(const gh_gguf *g, int64_t i, gh_str *out) {
    if (i < 0 || i >= g->n_kv) return bad_index(g, i);
    const gguf_kv *kv = &g->kv[i];
    if (kv->type != GH_GGUF_STRING) return wrong_type(g, kv, "string");
    out->ptr = (const char *)kv->p;
    out->len = kv->n;
    return GH_OK;
}

/* ---------------------------------------------------------------- arrays */

static gh_status need_array(const gh_gguf *g, int64_t i, const gguf_kv **kv) {
    if (i < 0 || i >= g->n_kv) return bad_index(g, i);
    *kv = &g->kv[i];
    if ((*kv)->type != GH_GGUF_ARRAY) return wrong_type(g, *kv, "an array");
    return GH_OK;
}

gh_status gh_gguf_arr_info(const gh_gguf *g, int64_t i, gh_gguf_type *elem_type, uint64_t *n) {
    const gguf_kv *kv = NULL;
    gh_status s = need_array(g, i, &kv);
    if (s) return s;
    if (elem_type) *elem_type = kv->elem;
    if (n) *n = kv->n;
    return GH_OK;
}

gh_status gh_gguf_arr_data(const gh_gguf *g, int64_t i, const void **data) {
    const gguf_kv *kv = NULL;
    gh_status s = need_array(g, i, &kv);
    if (s) return s;
    if (!gguf_scalar_size(kv->elem))
        return gh_error(GH_ERR_INVALID_ARG, "%s: key '%s' is an array of %s, which has no packed data%s", g->name,
                        kv->key, gh_gguf_type_name(kv->elem),
                        kv->elem == GH_GGUF_STRING ? " (read it with gh_gguf_arr_str)" : "");
    *data = kv->p;
    return GH_OK;
}

gh_status gh_gguf_arr_str(const gh_gguf *g, int64_t i, uint64_t j, gh_str *out) {
    const gguf_kv *kv = NULL;
    gh_status s = need_array(g, i, &kv);
    if (s) return s;
    if (kv->elem != GH_GGUF_STRING) return wrong_type(g, kv, "an array of string");
    if (j >= kv->n)
        return gh_error(GH_ERR_INVALID_ARG, "%s: key '%s': index %" PRIu64 " out of range (%" PRIu64 " elements)",
                        g->name, kv->key, j, kv->n);
    memcpy(&out->len, kv->strs[j], 8);
    out->ptr = (const char *)kv->strs[j] + 8;
    return GH_OK;
}

/* Checks that key i is an array of numbers with exactly n elements. */
static gh_status numeric_array(const gh_gguf *g, int64_t i, uint64_t n, const gguf_kv **kv) {
    gh_status s = need_array(g, i, kv);
    if (s) return s;
    gh_gguf_type et = (*kv)->elem;
    if (!gguf_scalar_size(et) || et == GH_GGUF_BOOL) return wrong_type(g, *kv, "an array of numbers");
    if ((*kv)->n != n)
        return gh_error(GH_ERR_FORMAT, "%s: key '%s' has %" PRIu64 " elements, expected %" PRIu64, g->name,
                        (*kv)->key, (*kv)->n, n);
    return GH_OK;
}

static gh_status elem_doesnt_fit(const gh_gguf *g, const gguf_kv *kv, uint64_t j, const num *n, const char *target) {
    char v[64];
    num_str(n, v, sizeof v);
    return gh_error(GH_ERR_FORMAT, "%s: key '%s' element %" PRIu64 " (%s) does not fit in %s", g->name, kv->key, j,
                    v, target);
}

gh_status gh_gguf_arr_to_f32(const gh_gguf *g, int64_t i, float *out, uint64_t n) {
    const gguf_kv *kv = NULL;
    gh_status s = numeric_array(g, i, n, &kv);
    if (s) return s;
    uint64_t esz = gguf_scalar_size(kv->elem);
    if (kv->elem == GH_GGUF_FLOAT32) {
        if (n) memcpy(out, kv->p, n * 4); /* the common case: scores, as stored */
        return GH_OK;
    }
    for (uint64_t j = 0; j < n; j++) {
        num v = decode(kv->elem, kv->p + j * esz);
        switch (v.kind) {
        case NUM_UNSIGNED: out[j] = (float)v.u; break;
        case NUM_SIGNED: out[j] = (float)v.i; break;
        default:
            if (isfinite(v.f) && fabs(v.f) > FLT_MAX) return elem_doesnt_fit(g, kv, j, &v, "f32");
            out[j] = (float)v.f;
            break;
        }
    }
    return GH_OK;
}

gh_status gh_gguf_arr_to_i32(const gh_gguf *g, int64_t i, int32_t *out, uint64_t n) {
    const gguf_kv *kv = NULL;
    gh_status s = numeric_array(g, i, n, &kv);
    if (s) return s;
    uint64_t esz = gguf_scalar_size(kv->elem);
    if (kv->elem == GH_GGUF_INT32) {
        if (n) memcpy(out, kv->p, n * 4); /* the common case: token types, as stored */
        return GH_OK;
    }
    for (uint64_t j = 0; j < n; j++) {
        num v = decode(kv->elem, kv->p + j * esz);
        bool ok;
        switch (v.kind) {
        case NUM_UNSIGNED: ok = v.u <= INT32_MAX; out[j] = ok ? (int32_t)v.u : 0; break;
        case NUM_SIGNED: ok = v.i >= INT32_MIN && v.i <= INT32_MAX; out[j] = ok ? (int32_t)v.i : 0; break;
        default:
            ok = v.f >= INT32_MIN && v.f <= INT32_MAX && v.f == floor(v.f); /* false for NaN */
            out[j] = ok ? (int32_t)v.f : 0;
            break;
        }
        if (!ok) return elem_doesnt_fit(g, kv, j, &v, "i32");
    }
    return GH_OK;
}

/* ---------------------------------------------------------------- tensors */

int64_t gh_gguf_n_tensors(const gh_gguf *g) { return g->n_tensors; }

int64_t gh_gguf_find_tensor(const gh_gguf *g, const char *name) {
    return index_find(g, &g->tensor_index, tensor_name_at, name);
}

const gh_tensor_info *gh_gguf_tensor(const gh_gguf *g, int64_t i) {
    return (i >= 0 && i < g->n_tensors) ? &g->tensors[i] : NULL;
}
