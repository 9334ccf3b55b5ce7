/* gguf_write.c — the GGUF writer: collects metadata and tensors, then writes a
 * GGUF v3 file in one pass.
 *
 * Each metadata value is encoded when it is set (a small byte buffer per key),
 * so writing is just concatenation. Tensor data is only referenced until
 * gh_gguf_writer_write, which streams it straight from the caller's memory.
 *
 * Layout written: header, key/values in first-set order, tensor infos, zero
 * padding to the alignment, then each tensor's data padded to the alignment.
 * The file is written under a temporary name in the destination's directory
 * and renamed into place only once complete and flushed, so a crash or a full
 * disk never leaves a half-written file where a model is expected.
 */
#include "goodhart/gguf.h"
#include "gguf_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* llama.cpp keeps tensor names in 64-byte buffers (63 bytes + NUL); longer
 * names would make files it refuses. */
#define GGUF_MAX_TENSOR_NAME 63

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} wbuf;

typedef struct wkv {
    char *key;
    gh_gguf_type type;
    wbuf val; /* the encoded value (what follows the type field) */
} wkv;

typedef struct wtensor {
    char *name;
    gh_type type;
    uint32_t n_dims;
    int64_t ne[GH_MAX_DIMS];
    uint64_t nbytes;
    const void *data;
} wtensor;

struct gh_gguf_writer {
    wkv *kv;
    int64_t n_kv, cap_kv;
    wtensor *t;
    int64_t n_t, cap_t;
    uint32_t alignment;
};

/* ---------------------------------------------------------------- buffers */

static void wb_put(wbuf *b, const void *d, size_t n) {
    if (b->oom || n == 0) return;
    if (n > SIZE_MAX - b->n) { b->oom = true; return; }
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n) cap = cap > SIZE_MAX / 2 ? b->n + n : cap * 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void wb_u32(wbuf *b, uint32_t v) { wb_put(b, &v, 4); }
static void wb_u64(wbuf *b, uint64_t v) { wb_put(b, &v, 8); }
static void wb_str(wbuf *b, const void *s, uint64_t len) {
    wb_u64(b, len);
    wb_put(b, s, (size_t)len);
}

/* ---------------------------------------------------------------- init/free */

gh_status gh_gguf_writer_init(gh_gguf_writer **out) {
    if (!out) return gh_error(GH_ERR_INVALID_ARG, "gh_gguf_writer_init: out is NULL");
    gh_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) return gh_error(GH_ERR_NOMEM, "out of memory creating a GGUF writer");
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    *out = w;
    return GH_OK;
}

void gh_gguf_writer_free(gh_gguf_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val.p);
    }
    free(w->kv);
    for (int64_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->t);
    free(w);
}

/* ---------------------------------------------------------------- metadata */

/* Stores `val` (ownership taken, freed on failure) under `key`. */
static gh_status put(gh_gguf_writer *w, const char *key, gh_gguf_type type, wbuf val) {
    if (!w || !key || !key[0]) {
        free(val.p);
        return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: a metadata key must be a non-empty string");
    }
    if (val.oom) {
        free(val.p);
        return gh_error(GH_ERR_NOMEM, "GGUF writer: out of memory encoding key '%s'", key);
    }
    if (strcmp(key, GGUF_KEY_ALIGNMENT) == 0) {
        uint32_t a = 0;
        if (type == GH_GGUF_UINT32) memcpy(&a, val.p, 4);
        if (type != GH_GGUF_UINT32 || !gguf_is_pow2(a)) {
            free(val.p);
            return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: key '" GGUF_KEY_ALIGNMENT
                            "' must be a u32 power of two");
        }
        w->alignment = a;
    }
    for (int64_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) { /* replace in place: keeps first-set order */
            free(w->kv[i].val.p);
            w->kv[i].type = type;
            w->kv[i].val = val;
            return GH_OK;
        }
    }
    if (w->n_kv == w->cap_kv) {
        int64_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        wkv *k = realloc(w->kv, (size_t)cap * sizeof *k);
        if (!k) {
            free(val.p);
            return gh_error(GH_ERR_NOMEM, "GGUF writer: out of memory adding key '%s'", key);
        }
        w->kv = k;
        w->cap_kv = cap;
    }
    char *kc = strdup(key);
    if (!kc) {
        free(val.p);
        return gh_error(GH_ERR_NOMEM, "GGUF writer: out of memory adding key '%s'", key);
    }
    w->kv[w->n_kv++] = (wkv){.key = kc, .type = type, .val = val};
    return GH_OK;
}

static gh_status put_scalar(gh_gguf_writer *w, const char *key, gh_gguf_type type, const void *v) {
    wbuf b = {0};
    wb_put(&b, v, (size_t)gguf_scalar_size(type));
    return put(w, key, type, b);
}

gh_status gh_gguf_set_u8(gh_gguf_writer *w, const char *key, uint8_t v) { return put_scalar(w, key, GH_GGUF_UINT8, &v); }
gh_status gh_gguf_set_i8(gh_gguf_writer *w, const char *key, int8_t v) { return put_scalar(w, key, GH_GGUF_INT8, &v); }
gh_status gh_gguf_set_u16(gh_gguf_writer *w, const char *key, uint16_t v) { return put_scalar(w, key, GH_GGUF_UINT16, &v); }
gh_status gh_gguf_set_i16(gh_gguf_writer *w, const char *key, int16_t v) { return put_scalar(w, key, GH_GGUF_INT16, &v); }
gh_status gh_gguf_set_u32(gh_gguf_writer *w, const char *key, uint32_t v) { return put_scalar(w, key, GH_GGUF_UINT32, &v); }
gh_status gh_gguf_set_i32(gh_gguf_writer *w, const char *key, int32_t v) { return put_scalar(w, key, GH_GGUF_INT32, &v); }
gh_status gh_gguf_set_u64(gh_gguf_writer *w, const char *key, uint64_t v) { return put_scalar(w, key, GH_GGUF_UINT64, &v); }
gh_status gh_gguf_set_i64(gh_gguf_writer *w, const char *key, int64_t v) { return put_scalar(w, key, GH_GGUF_INT64, &v); }
gh_status gh_gguf_set_f32(gh_gguf_writer *w, const char *key, float v) { return put_scalar(w, key, GH_GGUF_FLOAT32, &v); }
gh_status gh_gguf_set_f64(gh_gguf_writer *w, const char *key, double v) { return put_scalar(w, key, GH_GGUF_FLOAT64, &v); }

gh_status gh_gguf_set_bool(gh_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    return put_scalar(w, key, GH_GGUF_BOOL, &b);
}

gh_status gh_gguf_set_strn(gh_gguf_writer *w, const char *key, const char *v, uint64_t len) {
    if (!v && len > 0)
        return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: key '%s': NULL string of length %" PRIu64,
                        key ? key : "(null)", len);
    wbuf b = {0};
    wb_str(&b, v, len);
    return put(w, key, GH_GGUF_STRING, b);
}

gh_status gh_gguf_set_str(gh_gguf_writer *w, const char *key, const char *v) {
    if (!v) return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: key '%s': NULL string", key ? key : "(null)");
    return gh_gguf_set_strn(w, key, v, strlen(v));
}

gh_status gh_gguf_set_arr(gh_gguf_writer *w, const char *key, gh_gguf_type elem_type, const void *data,
                          uint64_t n) {
    const char *k = key ? key : "(null)";
    uint64_t esz = gguf_scalar_size(elem_type);
    if (!esz)
        return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: key '%s': gh_gguf_set_arr needs a scalar element type, "
                        "not %s", k, gh_gguf_type_name(elem_type));
    if (!data && n > 0) return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: key '%s': NULL array data", k);
    if (n > (SIZE_MAX - 16) / esz)
        return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: key '%s': array of %" PRIu64 " elements is too large", k, n);
    wbuf b = {0};
    wb_u32(&b, (uint32_t)elem_type);
    wb_u64(&b, n);
    if (elem_type == GH_GGUF_BOOL) { /* store strictly 0/1, whatever the caller's bytes */
        const uint8_t *src = data;
        for (uint64_t j = 0; j < n; j++) {
            uint8_t v = src[j] != 0;
            wb_put(&b, &v, 1);
        }
    } else {
        wb_put(&b, data, (size_t)(n * esz));
    }
    return put(w, key, GH_GGUF_ARRAY, b);
}

gh_status gh_gguf_set_arr_str(gh_gguf_writer *w, const char *key, const char *const *strs, const uint64_t *lens,
                              uint64_t n) {
    const char *k = key ? key : "(null)";
    if (!strs && n > 0) return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: key '%s': NULL string array", k);
    wbuf b = {0};
    wb_u32(&b, GH_GGUF_STRING);
    wb_u64(&b, n);
    for (uint64_t j = 0; j < n; j++) {
        uint64_t len = lens ? lens[j] : (strs[j] ? strlen(strs[j]) : 0);
        if (!strs[j] && len > 0) {
            free(b.p);
            return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: key '%s': string %" PRIu64 " is NULL", k, j);
        }
        wb_str(&b, strs[j], len);
    }
    return put(w, key, GH_GGUF_ARRAY, b);
}

gh_status gh_gguf_set_alignment(gh_gguf_writer *w, uint32_t alignment) {
    if (!gguf_is_pow2(alignment))
        return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: alignment %u is not a power of two", alignment);
    return gh_gguf_set_u32(w, GGUF_KEY_ALIGNMENT, alignment);
}

/* ---------------------------------------------------------------- tensors */

gh_status gh_gguf_add_tensor(gh_gguf_writer *w, const char *name, gh_type type, uint32_t n_dims,
                             const int64_t *ne, const void *data) {
    if (!w || !name || !name[0]) return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: a tensor needs a name");
    if (strlen(name) > GGUF_MAX_TENSOR_NAME)
        return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: tensor name '%s' is longer than %d bytes", name,
                        GGUF_MAX_TENSOR_NAME);
    if (n_dims < 1 || n_dims > GH_MAX_DIMS || !ne)
        return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: tensor '%s': %u dimensions (expected 1 to %d)", name,
                        n_dims, GH_MAX_DIMS);
    if (!gh_type_name(type))
        return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: tensor '%s': unknown type %d", name, (int)type);
    wtensor t = {.type = type, .n_dims = n_dims, .data = data, .ne = {1, 1, 1, 1}};
    int64_t rows = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 0)
            return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: tensor '%s': ne[%u] = %" PRId64 " is negative", name, d,
                            ne[d]);
        t.ne[d] = ne[d];
    }
    /* the reader's rule: the product of the dimensions, zeros counted as 1, fits int64 */
    int64_t prod = 1;
    for (uint32_t d = 0; d < GH_MAX_DIMS; d++) {
        int64_t n = t.ne[d] ? t.ne[d] : 1;
        if (prod > INT64_MAX / n)
            return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: tensor '%s': shape overflows", name);
        prod *= n;
        if (d > 0) rows *= t.ne[d];
    }
    int64_t row = gh_type_row_bytes(type, t.ne[0]);
    if (row < 0 && t.ne[0] % gh_type_block_size(type) == 0)
        return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: tensor '%s': data size overflows", name);
    if (row < 0)
        return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: tensor '%s': ne[0] = %" PRId64
                        " is not a multiple of the %s block size %" PRId64, name, t.ne[0], gh_type_name(type),
                        gh_type_block_size(type));
    if (row != 0 && rows > INT64_MAX / row)
        return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: tensor '%s': data size overflows", name);
    t.nbytes = (uint64_t)(row * rows);
    if (!data && t.nbytes > 0) return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: tensor '%s': NULL data", name);
    for (int64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: tensor '%s' added twice", name);
    if (w->n_t == w->cap_t) {
        int64_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *p = realloc(w->t, (size_t)cap * sizeof *p);
        if (!p) return gh_error(GH_ERR_NOMEM, "GGUF writer: out of memory adding tensor '%s'", name);
        w->t = p;
        w->cap_t = cap;
    }
    if (!(t.name = strdup(name))) return gh_error(GH_ERR_NOMEM, "GGUF writer: out of memory adding tensor '%s'", name);
    w->t[w->n_t++] = t;
    return GH_OK;
}

/* ---------------------------------------------------------------- output */

/* A buffered file descriptor that remembers its first error. */
typedef struct outfile {
    int fd;
    int err; /* errno of the first failure, 0 if none */
    size_t n;
    uint8_t buf[1 << 16];
} outfile;

static void raw_write(outfile *o, const uint8_t *p, size_t n) {
    while (n > 0 && !o->err) {
        ssize_t r = write(o->fd, p, n > (1u << 30) ? (1u << 30) : n);
        if (r < 0) {
            if (errno == EINTR) continue;
            o->err = errno;
        } else if (r == 0) {
            o->err = ENOSPC;
        } else {
            p += r;
            n -= (size_t)r;
        }
    }
}

static void out_flush(outfile *o) {
    raw_write(o, o->buf, o->n);
    o->n = 0;
}

static void out_put(outfile *o, const void *p, size_t n) {
    if (o->err || n == 0) return; /* n == 0: p may be NULL (an empty tensor) */
    if (n > sizeof o->buf - o->n) {
        out_flush(o);
        if (n >= sizeof o->buf) { /* big tensors go straight from the caller's memory */
            raw_write(o, p, n);
            return;
        }
    }
    memcpy(o->buf + o->n, p, n);
    o->n += n;
}

static void out_pad(outfile *o, uint64_t pos, uint32_t align) {
    static const uint8_t zeros[256];
    uint64_t pad = (align - pos % align) % align;
    while (pad > 0) {
        size_t k = pad > sizeof zeros ? sizeof zeros : (size_t)pad;
        out_put(o, zeros, k);
        pad -= k;
    }
}

static uint64_t align_up(uint64_t x, uint32_t a) { return x + (a - x % a) % a; }

gh_status gh_gguf_writer_write(gh_gguf_writer *w, const char *path) {
    if (!w || !path || !path[0]) return gh_error(GH_ERR_INVALID_ARG, "GGUF writer: no output path");

    /* Everything before the tensor data, in memory (metadata is small). */
    wbuf h = {0};
    wb_put(&h, GGUF_MAGIC, 4);
    wb_u32(&h, GGUF_VERSION);
    wb_u64(&h, (uint64_t)w->n_t);
    wb_u64(&h, (uint64_t)w->n_kv);
    for (int64_t i = 0; i < w->n_kv; i++) {
        wb_str(&h, w->kv[i].key, strlen(w->kv[i].key));
        wb_u32(&h, (uint32_t)w->kv[i].type);
        wb_put(&h, w->kv[i].val.p, w->kv[i].val.n);
    }
    uint64_t off = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        wb_str(&h, t->name, strlen(t->name));
        wb_u32(&h, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) wb_u64(&h, (uint64_t)t->ne[d]);
        wb_u32(&h, (uint32_t)t->type);
        wb_u64(&h, off);
        off = align_up(off + t->nbytes, w->alignment);
    }
    if (h.oom) {
        free(h.p);
        return gh_error(GH_ERR_NOMEM, "cannot write '%s': out of memory", path);
    }

    /* A unique name next to the destination, so that rename() stays on one
     * file system and is atomic. */
    static atomic_uint counter;
    size_t tlen = strlen(path) + 64;
    char *tmp = malloc(tlen);
    outfile *o = malloc(sizeof *o);
    if (!tmp || !o) {
        free(tmp);
        free(o);
        free(h.p);
        return gh_error(GH_ERR_NOMEM, "cannot write '%s': out of memory", path);
    }
    int fd = -1;
    for (int tries = 0; tries < 100 && fd < 0; tries++) {
        snprintf(tmp, tlen, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        int e = errno;
        gh_status s = gh_error(GH_ERR_IO, "cannot write '%s': cannot create temporary file '%s': %s", path, tmp,
                               strerror(e));
        free(tmp);
        free(o);
        free(h.p);
        return s;
    }
    o->fd = fd;
    o->err = 0;
    o->n = 0;

    out_put(o, h.p, h.n);
    if (w->n_t > 0) out_pad(o, h.n, w->alignment); /* no tensors: no data section to align */
    free(h.p);
    for (int64_t i = 0; i < w->n_t && !o->err; i++) {
        const wtensor *t = &w->t[i];
        out_put(o, t->data, (size_t)t->nbytes);
        out_pad(o, t->nbytes, w->alignment);
    }
    out_flush(o);
    if (!o->err && fsync(fd) != 0 && errno != EINVAL) o->err = errno; /* EINVAL: e.g. a pipe-like target */
    if (close(fd) != 0 && !o->err) o->err = errno;
    int err = o->err;
    free(o);
    if (err) {
        unlink(tmp);
        free(tmp);
        return gh_error(GH_ERR_IO, "cannot write '%s': %s", path, strerror(err));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return gh_error(GH_ERR_IO, "cannot write '%s': rename from temporary file failed: %s", path, strerror(e));
    }
    free(tmp);
    return GH_OK;
}
