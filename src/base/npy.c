/* npy.c — NumPy .npy reading and writing (see include/goodhart/npy.h).
 *
 * The format: the magic "\x93NUMPY", a major and minor version byte, the
 * header length (uint16 little-endian for 1.0, uint32 for 2.0 and 3.0), then
 * the header — a Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and ended by '\n' so that the data starts on a 64-byte
 * boundary — then the raw elements. We parse that dict literal ourselves
 * (three keys, strings, booleans, tuples of integers) rather than trusting
 * it, and check every size against the file before allocating.
 *
 * Writers always go through the streaming writer: a temporary file beside
 * the target, a header sized for a 19-digit row count, rows appended, and at
 * close the real count written over the placeholder before the rename.
 */
#include "goodhart/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c assumes a little-endian host (data is copied as stored)"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_HEADER (1u << 20) /* far above any real header; guards allocation */
#define NPY_MAX_DIMS 32           /* NumPy's own limit */

/* ---------------------------------------------------------------- reading */

typedef struct npy_hdr {
    char order;     /* '<', '>', '|' or '=' */
    char kind;      /* 'f', 'i', 'u', 'b', ... */
    int32_t size;   /* bytes per element */
    char descr[32];
    bool fortran;
    int32_t ndim;
    int64_t shape[NPY_MAX_DIMS];
    int64_t count;  /* elements */
    int64_t data_offset;
} npy_hdr;

typedef struct hparse {
    const char *s, *end;
    const char *path;
} hparse;

static void hp_ws(hparse *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')) p->s++;
}

static bool hp_eat(hparse *p, char c) {
    hp_ws(p);
    if (p->s < p->end && *p->s == c) { p->s++; return true; }
    return false;
}

/* A quoted string without escapes (dtype strings and key names need none). */
static gh_status hp_string(hparse *p, char *out, size_t cap, const char *what) {
    hp_ws(p);
    if (p->s >= p->end || (*p->s != '\'' && *p->s != '"'))
        return gh_error(GH_ERR_FORMAT, "%s: npy header: expected a quoted %s", p->path, what);
    char q = *p->s++;
    size_t n = 0;
    while (p->s < p->end && *p->s != q) {
        if (*p->s == '\\' || n + 1 >= cap)
            return gh_error(GH_ERR_FORMAT, "%s: npy header: %s string too long or escaped", p->path, what);
        out[n++] = *p->s++;
    }
    if (p->s >= p->end) return gh_error(GH_ERR_FORMAT, "%s: npy header: unterminated %s string", p->path, what);
    p->s++;
    out[n] = '\0';
    return GH_OK;
}

static gh_status hp_shape(hparse *p, npy_hdr *h) {
    if (!hp_eat(p, '(')) return gh_error(GH_ERR_FORMAT, "%s: npy header: 'shape' is not a tuple", p->path);
    h->ndim = 0;
    for (;;) {
        if (hp_eat(p, ')')) return GH_OK;
        hp_ws(p);
        if (p->s >= p->end || *p->s < '0' || *p->s > '9')
            return gh_error(GH_ERR_FORMAT, "%s: npy header: 'shape' holds something other than non-negative integers",
                            p->path);
        int64_t v = 0;
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
            int d = *p->s++ - '0';
            if (v > (INT64_MAX - d) / 10)
                return gh_error(GH_ERR_FORMAT, "%s: npy header: a 'shape' dimension overflows 64 bits", p->path);
            v = v * 10 + d;
        }
        if (p->s < p->end && (*p->s == 'L' || *p->s == 'l')) p->s++; /* Python 2 long literal */
        if (h->ndim >= NPY_MAX_DIMS)
            return gh_error(GH_ERR_FORMAT, "%s: npy header: more than %d dimensions", p->path, NPY_MAX_DIMS);
        h->shape[h->ndim++] = v;
        if (hp_eat(p, ',')) continue;
        if (hp_eat(p, ')')) return GH_OK;
        return gh_error(GH_ERR_FORMAT, "%s: npy header: malformed 'shape' tuple", p->path);
    }
}

static gh_status parse_dict(const char *path, const char *s, size_t len, npy_hdr *h) {
    hparse p = {s, s + len, path};
    bool have_descr = false, have_fortran = false, have_shape = false;
    gh_status st;
    if (!hp_eat(&p, '{')) return gh_error(GH_ERR_FORMAT, "%s: npy header is not a dict literal", path);
    for (;;) {
        if (hp_eat(&p, '}')) break;
        char key[32];
        if ((st = hp_string(&p, key, sizeof key, "key"))) return st;
        if (!hp_eat(&p, ':')) return gh_error(GH_ERR_FORMAT, "%s: npy header: expected ':' after '%s'", path, key);
        if (!strcmp(key, "descr")) {
            hp_ws(&p);
            if (p.s < p.end && *p.s == '[')
                return gh_error(GH_ERR_UNSUPPORTED, "%s: structured (record) dtypes are not supported", path);
            if ((st = hp_string(&p, h->descr, sizeof h->descr, "'descr'"))) return st;
            have_descr = true;
        } else if (!strcmp(key, "fortran_order")) {
            hp_ws(&p);
            if ((size_t)(p.end - p.s) >= 4 && !memcmp(p.s, "True", 4)) { h->fortran = true; p.s += 4; }
            else if ((size_t)(p.end - p.s) >= 5 && !memcmp(p.s, "False", 5)) { h->fortran = false; p.s += 5; }
            else return gh_error(GH_ERR_FORMAT, "%s: npy header: 'fortran_order' is not True or False", path);
            have_fortran = true;
        } else if (!strcmp(key, "shape")) {
            if ((st = hp_shape(&p, h))) return st;
            have_shape = true;
        } else {
            return gh_error(GH_ERR_FORMAT, "%s: npy header: unexpected key '%s'", path, key);
        }
        if (hp_eat(&p, ',')) continue;
        if (hp_eat(&p, '}')) break;
        return gh_error(GH_ERR_FORMAT, "%s: npy header: expected ',' or '}' after '%s'", path, key);
    }
    if (!have_descr || !have_fortran || !have_shape)
        return gh_error(GH_ERR_FORMAT, "%s: npy header lacks '%s'", path,
                        !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
    /* descr: byte order, kind, size ("<f4", "|b1") */
    const char *d = h->descr;
    if (!strchr("<>|=", d[0]) || !d[1] || d[2] < '1' || d[2] > '9')
        return gh_error(GH_ERR_UNSUPPORTED, "%s: unsupported dtype '%s'", path, h->descr);
    h->order = d[0];
    h->kind = d[1];
    char *endp;
    long sz = strtol(d + 2, &endp, 10);
    if (*endp || sz <= 0 || sz > 64) return gh_error(GH_ERR_UNSUPPORTED, "%s: unsupported dtype '%s'", path, h->descr);
    h->size = (int32_t)(h->kind == 'U' ? sz * 4 : sz); /* 'U' counts UCS-4 characters */
    if (h->order == '>' && h->size > 1)
        return gh_error(GH_ERR_UNSUPPORTED, "%s: big-endian dtype '%s' is not supported (save it as '<%c%d')", path,
                        h->descr, h->kind, h->size);
    if (h->fortran && h->ndim > 1)
        return gh_error(GH_ERR_UNSUPPORTED,
                        "%s: Fortran-order arrays are not supported (save with np.ascontiguousarray first)", path);
    return GH_OK;
}

/* Opens path, parses the header, checks the data size against the file
 * length (exactly: no truncation, nothing after the data). */
static gh_status npy_open(const char *path, FILE **fout, npy_hdr *h) {
    memset(h, 0, sizeof *h);
    FILE *f = fopen(path, "rb");
    if (!f) return gh_error(GH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    gh_status st = GH_OK;
    char *hdr = NULL;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) { st = gh_error(GH_ERR_IO, "%s: cannot stat: %s", path, strerror(errno)); goto fail; }
    unsigned char pre[12];
    if (fread(pre, 1, 8, f) != 8 || memcmp(pre, NPY_MAGIC, 6) != 0) {
        st = gh_error(GH_ERR_FORMAT, "%s: not a NumPy .npy file (bad magic)", path);
        goto fail;
    }
    int major = pre[6], minor = pre[7];
    uint32_t hlen;
    int64_t pre_len;
    if (major == 1) {
        if (fread(pre + 8, 1, 2, f) != 2) { st = gh_error(GH_ERR_FORMAT, "%s: truncated .npy header", path); goto fail; }
        hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
        pre_len = 10;
    } else if (major == 2 || major == 3) {
        if (fread(pre + 8, 1, 4, f) != 4) { st = gh_error(GH_ERR_FORMAT, "%s: truncated .npy header", path); goto fail; }
        hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
        pre_len = 12;
    } else {
        st = gh_error(GH_ERR_UNSUPPORTED, "%s: .npy format version %d.%d is not supported (1.0, 2.0, 3.0 are)", path,
                      major, minor);
        goto fail;
    }
    if (hlen > NPY_MAX_HEADER) {
        st = gh_error(GH_ERR_FORMAT, "%s: implausible .npy header length %" PRIu32, path, hlen);
        goto fail;
    }
    if ((int64_t)sb.st_size < pre_len + (int64_t)hlen) {
        st = gh_error(GH_ERR_FORMAT, "%s: truncated .npy header (%" PRIu32 " bytes announced, file has %lld)", path,
                      hlen, (long long)sb.st_size);
        goto fail;
    }
    hdr = malloc(hlen + 1);
    if (!hdr) { st = gh_error(GH_ERR_NOMEM, "%s: out of memory", path); goto fail; }
    if (fread(hdr, 1, hlen, f) != hlen) { st = gh_error(GH_ERR_IO, "%s: read error in .npy header", path); goto fail; }
    hdr[hlen] = '\0';
    if (memchr(hdr, '\0', hlen)) { st = gh_error(GH_ERR_FORMAT, "%s: .npy header contains a NUL byte", path); goto fail; }
    if ((st = parse_dict(path, hdr, hlen, h))) goto fail;
    h->data_offset = pre_len + hlen;
    /* element count and byte size without overflow */
    int64_t count = 1;
    for (int32_t i = 0; i < h->ndim; i++) {
        if (h->shape[i] != 0 && count > INT64_MAX / h->shape[i]) {
            st = gh_error(GH_ERR_FORMAT, "%s: .npy shape is absurd (element count overflows)", path);
            goto fail;
        }
        count *= h->shape[i];
    }
    if (count > INT64_MAX / h->size) {
        st = gh_error(GH_ERR_FORMAT, "%s: .npy shape is absurd (byte size overflows)", path);
        goto fail;
    }
    h->count = count;
    int64_t want = count * h->size, have = (int64_t)sb.st_size - h->data_offset;
    if (have < want) {
        st = gh_error(GH_ERR_FORMAT, "%s: truncated .npy data: shape needs %" PRId64 " bytes, file holds %" PRId64,
                      path, want, have);
        goto fail;
    }
    if (have > want) {
        st = gh_error(GH_ERR_FORMAT, "%s: %" PRId64 " unexpected bytes after the .npy data (shape needs %" PRId64 ")",
                      path, have - want, want);
        goto fail;
    }
    free(hdr);
    *fout = f;
    return GH_OK;
fail:
    free(hdr);
    fclose(f);
    return st;
}

static const char *shape_str(const npy_hdr *h, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "(");
    for (int32_t i = 0; i < h->ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%" PRId64, i ? ", " : "", h->shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, h->ndim == 1 ? ",)" : ")");
    return buf;
}

/* Reads count elements of `size` bytes each, in chunks, handing each chunk
 * to conv(chunk, first_index, n, ctx). */
typedef gh_status (*chunk_fn)(const void *chunk, int64_t first, int64_t n, void *ctx);

static gh_status read_chunks(FILE *f, const char *path, const npy_hdr *h, chunk_fn fn, void *ctx) {
    enum { CHUNK = 1 << 16 };
    unsigned char *buf = malloc((size_t)CHUNK * (size_t)h->size);
    if (!buf) return gh_error(GH_ERR_NOMEM, "%s: out of memory", path);
    gh_status st = GH_OK;
    for (int64_t i = 0; i < h->count && !st; i += CHUNK) {
        int64_t n = h->count - i < CHUNK ? h->count - i : CHUNK;
        if (fread(buf, (size_t)h->size, (size_t)n, f) != (size_t)n) {
            st = gh_error(GH_ERR_IO, "%s: read error in .npy data", path);
            break;
        }
        st = fn(buf, i, n, ctx);
    }
    free(buf);
    return st;
}

typedef struct f32_ctx {
    float *out;
    int64_t cols;
    const char *path;
    bool f64;
} f32_ctx;

static gh_status f32_chunk(const void *chunk, int64_t first, int64_t n, void *vctx) {
    f32_ctx *c = vctx;
    for (int64_t k = 0; k < n; k++) {
        double v;
        if (c->f64) { memcpy(&v, (const char *)chunk + 8 * k, 8); }
        else { float fv; memcpy(&fv, (const char *)chunk + 4 * k, 4); v = fv; }
        float x = (float)v;
        if (!isfinite(x)) {
            int64_t i = first + k;
            return gh_error(GH_ERR_FORMAT, "%s: value at row %" PRId64 ", column %" PRId64 " is %s%s", c->path,
                            i / c->cols, i % c->cols, isnan(v) ? "NaN" : "infinite",
                            isfinite(v) ? " as float32 (out of range)" : "");
        }
        c->out[first + k] = x;
    }
    return GH_OK;
}

gh_status gh_npy_read_f32(const char *path, float **data, int64_t *rows, int64_t *cols) {
    if (!path || !data || !rows || !cols) return gh_error(GH_ERR_INVALID_ARG, "gh_npy_read_f32: NULL argument");
    FILE *f;
    npy_hdr h;
    gh_status st = npy_open(path, &f, &h);
    if (st) return st;
    char sb[128];
    if (h.kind != 'f' || (h.size != 4 && h.size != 8) || h.order == '|') {
        fclose(f);
        return gh_error(GH_ERR_UNSUPPORTED, "%s: dtype '%s' where float32 features were expected (<f4 or <f8)", path,
                        h.descr);
    }
    if (h.ndim != 1 && h.ndim != 2) {
        fclose(f);
        return gh_error(GH_ERR_UNSUPPORTED, "%s: shape %s: features must be a 1-D or 2-D array", path,
                        shape_str(&h, sb, sizeof sb));
    }
    int64_t r = h.shape[0], c = h.ndim == 2 ? h.shape[1] : 1;
    if ((uint64_t)h.count > SIZE_MAX / sizeof(float)) {
        fclose(f);
        return gh_error(GH_ERR_NOMEM, "%s: shape %s does not fit in memory", path, shape_str(&h, sb, sizeof sb));
    }
    float *out = malloc(h.count ? (size_t)h.count * sizeof(float) : 1);
    if (!out) {
        fclose(f);
        return gh_error(GH_ERR_NOMEM, "%s: out of memory for shape %s", path, shape_str(&h, sb, sizeof sb));
    }
    f32_ctx ctx = {out, c ? c : 1, path, h.size == 8};
    st = read_chunks(f, path, &h, f32_chunk, &ctx);
    fclose(f);
    if (st) { free(out); return st; }
    *data = out;
    *rows = r;
    *cols = c;
    return GH_OK;
}

typedef struct lab_ctx {
    uint8_t *out;
    const char *path;
    char kind;
    int32_t size;
} lab_ctx;

static gh_status lab_chunk(const void *chunk, int64_t first, int64_t n, void *vctx) {
    lab_ctx *c = vctx;
    const unsigned char *b = chunk;
    for (int64_t k = 0; k < n; k++) {
        double v;
        const unsigned char *e = b + (size_t)k * (size_t)c->size;
        if (c->kind == 'f') {
            if (c->size == 4) { float fv; memcpy(&fv, e, 4); v = fv; }
            else memcpy(&v, e, 8);
        } else if (c->size == 1) {
            v = c->kind == 'i' ? (double)(int8_t)e[0] : (double)e[0];
        } else if (c->size == 4) {
            int32_t iv; memcpy(&iv, e, 4); v = iv;
        } else {
            int64_t iv; memcpy(&iv, e, 8); v = (double)iv;
        }
        if (v != 0.0 && v != 1.0)
            return gh_error(GH_ERR_FORMAT, "%s: label %" PRId64 " is %g; labels must be 0 or 1", c->path, first + k, v);
        c->out[first + k] = (uint8_t)(v == 1.0);
    }
    return GH_OK;
}

gh_status gh_npy_read_labels(const char *path, uint8_t **y, int64_t *n) {
    if (!path || !y || !n) return gh_error(GH_ERR_INVALID_ARG, "gh_npy_read_labels: NULL argument");
    FILE *f;
    npy_hdr h;
    gh_status st = npy_open(path, &f, &h);
    if (st) return st;
    char sb[128];
    bool ok = (h.size == 1 && (h.kind == 'b' || h.kind == 'u' || h.kind == 'i')) ||
              (h.order != '|' && h.kind == 'i' && (h.size == 4 || h.size == 8)) ||
              (h.order != '|' && h.kind == 'f' && (h.size == 4 || h.size == 8));
    if (!ok) {
        fclose(f);
        return gh_error(GH_ERR_UNSUPPORTED, "%s: dtype '%s' cannot hold labels (use |b1, |u1, <i4, <i8, <f4 or <f8)",
                        path, h.descr);
    }
    if (!(h.ndim == 1 || (h.ndim == 2 && h.shape[1] == 1))) {
        fclose(f);
        return gh_error(GH_ERR_UNSUPPORTED, "%s: shape %s: labels must be a 1-D array", path,
                        shape_str(&h, sb, sizeof sb));
    }
    if ((uint64_t)h.count > SIZE_MAX) { fclose(f); return gh_error(GH_ERR_NOMEM, "%s: too many labels", path); }
    uint8_t *out = malloc(h.count ? (size_t)h.count : 1);
    if (!out) { fclose(f); return gh_error(GH_ERR_NOMEM, "%s: out of memory", path); }
    lab_ctx ctx = {out, path, h.kind, h.size};
    st = read_chunks(f, path, &h, lab_chunk, &ctx);
    fclose(f);
    if (st) { free(out); return st; }
    *y = out;
    *n = h.shape[0];
    return GH_OK;
}

/* ---------------------------------------------------------------- writing */

struct gh_npy_writer {
    FILE *f;
    char *path;
    char *tmp;
    gh_npy_dtype dtype;
    int64_t cols;      /* 0: 1-D */
    int64_t rows;
    size_t hdr_total;  /* magic + version + length + dict + padding */
    bool failed;
};

static const char *dtype_descr(gh_npy_dtype t) {
    return t == GH_NPY_F32 ? "<f4" : t == GH_NPY_I64 ? "<i8" : "|u1";
}
static size_t dtype_size(gh_npy_dtype t) { return t == GH_NPY_F32 ? 4 : t == GH_NPY_I64 ? 8 : 1; }

/* The header dict for the given rows; 1-D when cols == 0. */
static int dict_str(char *buf, size_t cap, gh_npy_dtype t, int64_t rows, int64_t cols) {
    if (cols == 0)
        return snprintf(buf, cap, "{'descr': '%s', 'fortran_order': False, 'shape': (%" PRId64 ",), }",
                        dtype_descr(t), rows);
    return snprintf(buf, cap, "{'descr': '%s', 'fortran_order': False, 'shape': (%" PRId64 ", %" PRId64 "), }",
                    dtype_descr(t), rows, cols);
}

/* Writes the full header (version 1.0) padded with spaces to w->hdr_total. */
static gh_status write_header(gh_npy_writer *w) {
    char hdr[256];
    memcpy(hdr, NPY_MAGIC, 6);
    hdr[6] = 1;
    hdr[7] = 0;
    size_t hlen = w->hdr_total - 10;
    hdr[8] = (char)(hlen & 0xff);
    hdr[9] = (char)(hlen >> 8);
    int n = dict_str(hdr + 10, sizeof hdr - 10, w->dtype, w->rows, w->cols);
    for (size_t i = 10 + (size_t)n; i < w->hdr_total - 1; i++) hdr[i] = ' ';
    hdr[w->hdr_total - 1] = '\n';
    if (fseek(w->f, 0, SEEK_SET) != 0 || fwrite(hdr, 1, w->hdr_total, w->f) != w->hdr_total)
        return gh_error(GH_ERR_IO, "cannot write '%s': %s", w->path, strerror(errno));
    return GH_OK;
}

gh_status gh_npy_writer_open_dtype(const char *path, gh_npy_dtype dtype, int64_t cols, gh_npy_writer **out) {
    if (!path || !out || cols < 0 || (int)dtype < 0 || dtype > GH_NPY_U8)
        return gh_error(GH_ERR_INVALID_ARG, "gh_npy_writer_open: bad arguments for '%s'", path ? path : "(null)");
    *out = NULL;
    gh_npy_writer *w = calloc(1, sizeof *w);
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 48);
    char *pcopy = strdup(path);
    if (!w || !tmp || !pcopy) {
        free(w); free(tmp); free(pcopy);
        return gh_error(GH_ERR_NOMEM, "%s: out of memory", path);
    }
    static atomic_uint counter;
    int fd = -1;
    for (int tries = 0; tries < 100 && fd < 0; tries++) {
        snprintf(tmp, plen + 48, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
        fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        gh_status st = gh_error(GH_ERR_IO, "cannot write '%s': cannot create temporary file '%s': %s", path, tmp,
                                strerror(errno));
        free(w); free(tmp); free(pcopy);
        return st;
    }
    w->f = fdopen(fd, "w+b");
    if (!w->f) {
        gh_status st = gh_error(GH_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        close(fd); unlink(tmp); free(w); free(tmp); free(pcopy);
        return st;
    }
    w->path = pcopy;
    w->tmp = tmp;
    w->dtype = dtype;
    w->cols = cols;
    /* room for the largest row count (19 digits), rounded up to 64 bytes */
    char probe[160];
    int n = dict_str(probe, sizeof probe, dtype, INT64_MAX, cols);
    w->hdr_total = ((size_t)(10 + n + 1) + 63) / 64 * 64;
    gh_status st = write_header(w);
    if (st) { gh_npy_writer_abort(w); return st; }
    *out = w;
    return GH_OK;
}

gh_status gh_npy_writer_open(const char *path, int64_t cols, gh_npy_writer **out) {
    if (cols < 1) return gh_error(GH_ERR_INVALID_ARG, "%s: a 2-D array needs at least one column", path ? path : "");
    return gh_npy_writer_open_dtype(path, GH_NPY_F32, cols, out);
}

gh_status gh_npy_writer_append(gh_npy_writer *w, const void *rows_data, int64_t n_rows) {
    if (!w || n_rows < 0 || (n_rows > 0 && !rows_data))
        return gh_error(GH_ERR_INVALID_ARG, "gh_npy_writer_append: bad arguments");
    if (w->failed) return gh_error(GH_ERR_INVALID_ARG, "cannot write '%s': an earlier append failed", w->path);
    int64_t per = w->cols ? w->cols : 1;
    if (n_rows > INT64_MAX / per || n_rows * per > (int64_t)(SIZE_MAX / 8) || w->rows > INT64_MAX - n_rows)
        return gh_error(GH_ERR_LIMIT, "cannot write '%s': too many rows", w->path);
    size_t count = (size_t)(n_rows * per);
    if (count == 0) return GH_OK; /* nothing to write (and rows_data may be NULL) */
    if (w->dtype == GH_NPY_F32) {
        const float *x = rows_data;
        for (size_t i = 0; i < count; i++)
            if (!isfinite(x[i])) {
                w->failed = true;
                return gh_error(GH_ERR_INVALID_ARG, "cannot write '%s': value at row %" PRId64 ", column %" PRId64
                                " is %s", w->path, w->rows + (int64_t)i / per, (int64_t)i % per,
                                isnan(x[i]) ? "NaN" : "infinite");
            }
    }
    if (fwrite(rows_data, dtype_size(w->dtype), count, w->f) != count) {
        w->failed = true;
        return gh_error(GH_ERR_IO, "cannot write '%s': %s", w->path, strerror(errno));
    }
    w->rows += n_rows;
    return GH_OK;
}

int64_t gh_npy_writer_rows(const gh_npy_writer *w) { return w ? w->rows : 0; }

static void writer_free(gh_npy_writer *w) {
    free(w->path);
    free(w->tmp);
    free(w);
}

void gh_npy_writer_abort(gh_npy_writer *w) {
    if (!w) return;
    if (w->f) fclose(w->f);
    unlink(w->tmp);
    writer_free(w);
}

gh_status gh_npy_writer_close(gh_npy_writer *w) {
    if (!w) return gh_error(GH_ERR_INVALID_ARG, "gh_npy_writer_close: NULL writer");
    if (w->failed) {
        gh_status st = gh_error(GH_ERR_IO, "cannot write '%s': an earlier append failed", w->path);
        gh_npy_writer_abort(w);
        return st;
    }
    gh_status st = write_header(w);
    if (!st && fflush(w->f) != 0) st = gh_error(GH_ERR_IO, "cannot write '%s': %s", w->path, strerror(errno));
    if (!st && fsync(fileno(w->f)) != 0 && errno != EINVAL)
        st = gh_error(GH_ERR_IO, "cannot write '%s': fsync: %s", w->path, strerror(errno));
    int cerr = fclose(w->f);
    w->f = NULL;
    if (!st && cerr != 0) st = gh_error(GH_ERR_IO, "cannot write '%s': %s", w->path, strerror(errno));
    if (!st && rename(w->tmp, w->path) != 0)
        st = gh_error(GH_ERR_IO, "cannot write '%s': rename from temporary file failed: %s", w->path, strerror(errno));
    if (st) unlink(w->tmp);
    writer_free(w);
    return st;
}

static gh_status write_whole(const char *path, gh_npy_dtype t, const void *data, int64_t rows, int64_t cols) {
    if (rows < 0) return gh_error(GH_ERR_INVALID_ARG, "cannot write '%s': negative row count", path ? path : "");
    gh_npy_writer *w;
    gh_status st = gh_npy_writer_open_dtype(path, t, cols, &w);
    if (st) return st;
    if ((st = gh_npy_writer_append(w, data, rows))) { gh_npy_writer_abort(w); return st; }
    return gh_npy_writer_close(w);
}

gh_status gh_npy_write_f32(const char *path, const float *data, int64_t rows, int64_t cols) {
    if (cols < 1) return gh_error(GH_ERR_INVALID_ARG, "cannot write '%s': a 2-D array needs at least one column",
                                  path ? path : "");
    return write_whole(path, GH_NPY_F32, data, rows, cols);
}

gh_status gh_npy_write_i64(const char *path, const int64_t *data, int64_t n) {
    return write_whole(path, GH_NPY_I64, data, n, 0);
}

gh_status gh_npy_write_u8(const char *path, const uint8_t *data, int64_t n) {
    return write_whole(path, GH_NPY_U8, data, n, 0);
}
