/* safetensors.c — the .safetensors reader the Hugging Face converter uses
 * (see safetensors.h for the format).
 *
 * Each file is mapped read-only. Its header is parsed with cJSON and every
 * entry is checked before anything points into the data: the header length
 * against the file size, the dtype against the known names, the shape (at most
 * four non-negative integers, product without overflow), the data offsets
 * (inside the data section, end - begin = elements × element size) and, once
 * all entries are read, that no two tensors overlap. A sharded model's index
 * is checked the same way: every shard it names must exist (a plain file name
 * next to the index, no directories), and every tensor it lists must be in the
 * shard it names.
 */
#include "convert/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/file.h"
#include "kernels/kernels.h"

#define ST_MAX_HEADER ((uint64_t)100 << 20) /* the format's own limit: 100 MB */

typedef struct st_file {
    char *path;
    void *map;
    size_t size;
} st_file;

struct gh_st {
    char source[4096];
    st_file *files;
    int32_t n_files;
    gh_st_tensor *t;   /* sorted by name once loading is done */
    int64_t n, cap;
};

static const struct { const char *name; gh_st_dtype d; uint32_t size; } k_dtypes[] = {
    {"F32", GH_ST_F32, 4},   {"F16", GH_ST_F16, 2},   {"BF16", GH_ST_BF16, 2},       {"F64", GH_ST_F64, 8},
    {"I8", GH_ST_I8, 1},     {"U8", GH_ST_U8, 1},     {"I16", GH_ST_I16, 2},         {"U16", GH_ST_U16, 2},
    {"I32", GH_ST_I32, 4},   {"U32", GH_ST_U32, 4},   {"I64", GH_ST_I64, 8},         {"U64", GH_ST_U64, 8},
    {"BOOL", GH_ST_BOOL, 1}, {"F8_E4M3", GH_ST_F8_E4M3, 1}, {"F8_E5M2", GH_ST_F8_E5M2, 1},
};
#define N_DTYPES (sizeof k_dtypes / sizeof k_dtypes[0])

const char *gh_st_dtype_name(gh_st_dtype d) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (k_dtypes[i].d == d) return k_dtypes[i].name;
    return "?";
}

static uint32_t dtype_size(gh_st_dtype d) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (k_dtypes[i].d == d) return k_dtypes[i].size;
    return 0;
}

static gh_status st_alloc(gh_st **out, const char *source) {
    gh_st *st = calloc(1, sizeof *st);
    if (!st) return gh_error(GH_ERR_NOMEM, "out of memory");
    snprintf(st->source, sizeof st->source, "%s", source);
    *out = st;
    return GH_OK;
}

void gh_st_free(gh_st *st) {
    if (!st) return;
    for (int32_t i = 0; i < st->n_files; i++) {
        if (st->files[i].map) munmap(st->files[i].map, st->files[i].size);
        free(st->files[i].path);
    }
    free(st->files);
    for (int64_t i = 0; i < st->n; i++) free((char *)st->t[i].name);
    free(st->t);
    free(st);
}

/* A JSON number that is a non-negative integer below 2^53 (exact in a double). */
static bool json_u53(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || d != (double)(uint64_t)d) return false;
    *out = (uint64_t)d;
    return true;
}

static int cmp_begin(const void *a, const void *b) {
    const gh_st_tensor *x = *(const gh_st_tensor *const *)a, *y = *(const gh_st_tensor *const *)b;
    uintptr_t p = (uintptr_t)x->data, q = (uintptr_t)y->data;
    return p < q ? -1 : p > q;
}

/* Parses one entry of a header into *t (name set by the caller). */
static gh_status parse_entry(const char *path, const cJSON *e, const uint8_t *data, uint64_t data_len,
                             gh_st_tensor *t) {
    const char *name = e->string;
    if (!cJSON_IsObject(e)) return gh_error(GH_ERR_FORMAT, "%s: tensor '%s': header entry is not an object", path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) return gh_error(GH_ERR_FORMAT, "%s: tensor '%s': \"dtype\" missing or not a string", path, name);
    size_t k;
    for (k = 0; k < N_DTYPES; k++)
        if (!strcmp(dt->valuestring, k_dtypes[k].name)) break;
    if (k == N_DTYPES)
        return gh_error(GH_ERR_UNSUPPORTED, "%s: tensor '%s': unknown dtype \"%.32s\"", path, name, dt->valuestring);
    t->dtype = k_dtypes[k].d;
    if (!cJSON_IsArray(sh)) return gh_error(GH_ERR_FORMAT, "%s: tensor '%s': \"shape\" missing or not an array", path, name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > GH_ST_MAX_DIMS)
        return gh_error(GH_ERR_UNSUPPORTED, "%s: tensor '%s': %d dimensions (at most %d are supported)", path, name, nd,
                        GH_ST_MAX_DIMS);
    t->n_dims = nd;
    uint64_t n = 1;
    for (int d = 0; d < nd; d++) {
        uint64_t v;
        if (!json_u53(cJSON_GetArrayItem(sh, d), &v) || v > ((uint64_t)1 << 40))
            return gh_error(GH_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer", path, name, d);
        t->shape[d] = (int64_t)v;
        if (v && n > ((uint64_t)1 << 50) / v)
            return gh_error(GH_ERR_FORMAT, "%s: tensor '%s': shape overflows", path, name);
        n *= v;
    }
    for (int d = nd; d < GH_ST_MAX_DIMS; d++) t->shape[d] = 1;
    t->n_elem = (int64_t)n;
    uint64_t b, en;
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 || !json_u53(cJSON_GetArrayItem(of, 0), &b) ||
        !json_u53(cJSON_GetArrayItem(of, 1), &en))
        return gh_error(GH_ERR_FORMAT, "%s: tensor '%s': \"data_offsets\" is not [begin, end]", path, name);
    if (b > en || en > data_len)
        return gh_error(GH_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] lie outside the data section (%llu bytes)", path,
                        name, (unsigned long long)b, (unsigned long long)en, (unsigned long long)data_len);
    uint64_t need = n * dtype_size(t->dtype);
    if (en - b != need)
        return gh_error(GH_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets hold %llu bytes, but shape and dtype %s need %llu", path, name,
                        (unsigned long long)(en - b), gh_st_dtype_name(t->dtype), (unsigned long long)need);
    t->nbytes = need;
    t->data = data + b;
    return GH_OK;
}

/* Maps `path` and appends its tensors (checked; see the top of the file). */
static gh_status load_file(gh_st *st, const char *path) {
    st_file *nf = realloc(st->files, (size_t)(st->n_files + 1) * sizeof *nf);
    if (!nf) return gh_error(GH_ERR_NOMEM, "out of memory");
    st->files = nf;
    st_file *f = &st->files[st->n_files];
    memset(f, 0, sizeof *f);
    if (!(f->path = strdup(path))) return gh_error(GH_ERR_NOMEM, "out of memory");
    st->n_files++;

    int fd = open(path, O_RDONLY);
    if (fd < 0) return gh_error(GH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return gh_error(GH_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size < 8) {
        close(fd);
        return gh_error(GH_ERR_FORMAT, "%s: %lld bytes, too short for a safetensors header", path, (long long)sb.st_size);
    }
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return gh_error(GH_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    f->map = m;
    f->size = (size_t)sb.st_size;
    const uint8_t *p = m;
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)p[i] << (8 * i);
    if (hl > f->size - 8)
        return gh_error(GH_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%zu bytes)", path,
                        (unsigned long long)hl, f->size);
    if (hl > ST_MAX_HEADER)
        return gh_error(GH_ERR_LIMIT, "%s: header of %llu bytes is larger than the format allows (100 MB)", path,
                        (unsigned long long)hl);
    if (hl < 2 || p[8] != '{')
        return gh_error(GH_ERR_FORMAT, "%s: not a safetensors file (the header does not start with '{')", path);
    cJSON *h = cJSON_ParseWithLength((const char *)p + 8, (size_t)hl);
    if (!h || !cJSON_IsObject(h)) {
        const char *at = cJSON_GetErrorPtr();
        long off = h || !at ? -1 : (long)(at - (const char *)p - 8);
        cJSON_Delete(h);
        return gh_error(GH_ERR_FORMAT, "%s: safetensors header is not a JSON object (near header byte %ld)", path, off);
    }
    const uint8_t *data = p + 8 + hl;
    uint64_t data_len = f->size - 8 - hl;
    int64_t first = st->n;
    gh_status s = GH_OK;
    const cJSON *e;
    cJSON_ArrayForEach(e, h) {
        if (!strcmp(e->string, "__metadata__")) continue;
        if (st->n == st->cap) {
            int64_t nc = st->cap ? st->cap * 2 : 64;
            gh_st_tensor *nt = realloc(st->t, (size_t)nc * sizeof *nt);
            if (!nt) { s = gh_error(GH_ERR_NOMEM, "out of memory"); break; }
            st->t = nt;
            st->cap = nc;
        }
        gh_st_tensor *t = &st->t[st->n];
        memset(t, 0, sizeof *t);
        if (!(t->name = strdup(e->string))) { s = gh_error(GH_ERR_NOMEM, "out of memory"); break; }
        st->n++;
        t->file = f->path;
        if ((s = parse_entry(path, e, data, data_len, t))) break;
    }
    cJSON_Delete(h);
    if (s) return s;
    /* no two tensors of this file may share bytes */
    int64_t nt = st->n - first;
    if (nt > 1) {
        const gh_st_tensor **by = malloc((size_t)nt * sizeof *by);
        if (!by) return gh_error(GH_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < nt; i++) by[i] = &st->t[first + i];
        qsort(by, (size_t)nt, sizeof *by, cmp_begin);
        for (int64_t i = 1; i < nt && !s; i++) {
            const uint8_t *prev_end = (const uint8_t *)by[i - 1]->data + by[i - 1]->nbytes;
            if ((const uint8_t *)by[i]->data < prev_end && by[i]->nbytes && by[i - 1]->nbytes)
                s = gh_error(GH_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap in the data section", path,
                             by[i - 1]->name, by[i]->name);
        }
        free(by);
    }
    return s;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const gh_st_tensor *)a)->name, ((const gh_st_tensor *)b)->name);
}

/* Sorts by name and rejects a name held twice (two shards, or one header). */
static gh_status finish(gh_st *st) {
    if (st->n > 1) qsort(st->t, (size_t)st->n, sizeof *st->t, cmp_name);
    for (int64_t i = 1; i < st->n; i++)
        if (!strcmp(st->t[i - 1].name, st->t[i].name))
            return gh_error(GH_ERR_FORMAT, "tensor '%s' appears twice (%s and %s)", st->t[i].name, st->t[i - 1].file,
                            st->t[i].file);
    return GH_OK;
}

gh_status gh_st_open_file(const char *path, gh_st **out) {
    *out = NULL;
    gh_st *st = NULL;
    gh_status s = st_alloc(&st, path);
    if (!s) s = load_file(st, path);
    if (!s) s = finish(st);
    if (s) { gh_st_free(st); return s; }
    *out = st;
    return GH_OK;
}

static bool file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

gh_status gh_st_open_dir(const char *dir, gh_st **out) {
    *out = NULL;
    char ipath[4096], path[4096];
    if (snprintf(ipath, sizeof ipath, "%s/model.safetensors.index.json", dir) >= (int)sizeof ipath)
        return gh_error(GH_ERR_INVALID_ARG, "%s: path too long", dir);
    if (!file_exists(ipath)) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (!file_exists(path)) {
            snprintf(path, sizeof path, "%s/pytorch_model.bin", dir);
            return gh_error(GH_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json%s", dir,
                            file_exists(path) ? " (pytorch_model.bin is a Python pickle, which is not read: "
                                                "save the model as safetensors)" : "");
        }
        return gh_st_open_file(path, out);
    }
    char *buf = NULL;
    size_t len = 0;
    gh_status s = gh_read_file(ipath, (size_t)1 << 28, &buf, &len);
    if (s) return s;
    cJSON *idx = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!idx) return gh_error(GH_ERR_FORMAT, "%s: not valid JSON", ipath);
    gh_st *st = NULL;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(idx, "weight_map"), *e;
    if (!cJSON_IsObject(wm)) { s = gh_error(GH_ERR_FORMAT, "%s: \"weight_map\" missing or not an object", ipath); goto done; }
    if ((s = st_alloc(&st, ipath))) goto done;
    /* every entry names a plain file next to the index; open each file once */
    cJSON_ArrayForEach(e, wm) {
        if (!cJSON_IsString(e) || !e->valuestring[0] || strchr(e->valuestring, '/') || e->valuestring[0] == '.') {
            s = gh_error(GH_ERR_FORMAT, "%s: weight_map[\"%s\"]: not a plain file name", ipath, e->string);
            goto done;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->valuestring);
        bool seen = false;
        for (int32_t i = 0; i < st->n_files && !seen; i++) seen = !strcmp(st->files[i].path, path);
        if (seen) continue;
        if (!file_exists(path)) {
            s = gh_error(GH_ERR_IO, "%s: missing shard: %s lists tensor '%s' in it", path, ipath, e->string);
            goto done;
        }
        if ((s = load_file(st, path))) goto done;
    }
    if ((s = finish(st))) goto done;
    cJSON_ArrayForEach(e, wm) {
        const gh_st_tensor *t = gh_st_find(st, e->string);
        snprintf(path, sizeof path, "%s/%s", dir, e->valuestring);
        if (!t || strcmp(t->file, path)) {
            s = gh_error(GH_ERR_FORMAT, "%s: tensor '%s' is listed in %s but %s", path, e->string, ipath,
                         t ? "lies in another shard" : "is not in it");
            goto done;
        }
    }
done:
    cJSON_Delete(idx);
    if (s) { gh_st_free(st); return s; }
    *out = st;
    return GH_OK;
}

int64_t gh_st_n_tensors(const gh_st *st) { return st->n; }
const gh_st_tensor *gh_st_tensor_at(const gh_st *st, int64_t i) { return i >= 0 && i < st->n ? &st->t[i] : NULL; }
const char *gh_st_source(const gh_st *st) { return st->source; }

const gh_st_tensor *gh_st_find(const gh_st *st, const char *name) {
    int64_t lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->t[mid].name, name);
        if (!c) return &st->t[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

gh_status gh_st_read_rows_f32(const gh_st_tensor *t, int64_t r0, int64_t n_rows, float *out) {
    int64_t cols = t->n_dims >= 2 ? t->n_elem / (t->shape[0] ? t->shape[0] : 1) : t->n_elem;
    int64_t rows = t->n_dims >= 2 ? t->shape[0] : 1;
    if (r0 < 0 || n_rows < 0 || r0 + n_rows > rows)
        return gh_error(GH_ERR_INVALID_ARG, "%s: tensor '%s': rows [%lld, %lld) out of range (%lld rows)", t->file,
                        t->name, (long long)r0, (long long)(r0 + n_rows), (long long)rows);
    int64_t n = n_rows * cols, off = r0 * cols;
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case GH_ST_F32: memcpy(out, p + off * 4, (size_t)n * 4); return GH_OK;
    case GH_ST_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + (off + i) * 2, 2);
            out[i] = gh_fp16_to_fp32(h);
        }
        return GH_OK;
    case GH_ST_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + (off + i) * 2, 2);
            out[i] = gh_bf16_to_fp32(h);
        }
        return GH_OK;
    default:
        return gh_error(GH_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (only F32, F16 and BF16 are converted)",
                        t->file, t->name, gh_st_dtype_name(t->dtype));
    }
}

gh_status gh_st_read_f32(const gh_st_tensor *t, float *out) {
    if (t->n_dims >= 2) return gh_st_read_rows_f32(t, 0, t->shape[0], out);
    return gh_st_read_rows_f32(t, 0, 1, out);
}
