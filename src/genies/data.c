/* data.c — GENIES data: distributions as GENIES JSON or Hugging Face preference
 * JSON Lines, validated record by record, and shifts files (see genies.h).
 *
 * Every string of a loaded set is copied into the set's arena, so the parsed
 * document can be freed at once; a record's k-1 pairs share one copy of its
 * prompt. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/file.h"
#include "base/jsonl.h"
#include "base/utf8.h"
#include "bon/jbuf.h"
#include "genies/genies_internal.h"

/* ---- helpers shared by the module ------------------------------------------ */

char *gn_arena_dup(gn_arena *a, const char *s) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        char **nb = realloc(a->blocks, cap * sizeof *nb);
        if (!nb) return NULL;
        a->blocks = nb;
        a->cap = cap;
    }
    char *d = strdup(s);
    if (d) a->blocks[a->n++] = d;
    return d;
}

void gn_arena_free(gn_arena *a) {
    for (size_t i = 0; i < a->n; i++) free(a->blocks[i]);
    free(a->blocks);
    memset(a, 0, sizeof *a);
}

gh_status gn_write_atomic(const char *path, const char *data, size_t len) {
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (!tmp) return gh_error(GH_ERR_NOMEM, "out of memory");
    snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        gh_status s = gh_error(GH_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        free(tmp);
        return s;
    }
    bool ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        gh_status s = gh_error(GH_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return s;
    }
    free(tmp);
    return GH_OK;
}

char *gn_path(const char *a, const char *b, const char *c, const char *d) {
    const char *parts[4] = {a, b, c, d};
    size_t n = 1;
    for (int i = 0; i < 4; i++)
        if (parts[i]) n += strlen(parts[i]) + 1;
    char *p = malloc(n);
    if (!p) return NULL;
    p[0] = 0;
    for (int i = 0; i < 4; i++) {
        if (!parts[i]) continue;
        if (p[0]) strcat(p, "/");
        strcat(p, parts[i]);
    }
    return p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void gn_percentiles(double *v, int64_t n, double *lo, double *hi) {
    if (n <= 0) { *lo = *hi = NAN; return; }
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    /* linear interpolation between order statistics (numpy's default) */
    double q[2] = {0.025, 0.975}, *o[2] = {lo, hi};
    for (int k = 0; k < 2; k++) {
        double pos = q[k] * (double)(n - 1);
        int64_t i = (int64_t)pos;
        double fr = pos - (double)i;
        *o[k] = i + 1 < n ? v[i] + fr * (v[i + 1] - v[i]) : v[i];
    }
}

/* ---- loading sets ------------------------------------------------------------ */

gh_genies_load_params gh_genies_default_load_params(void) {
    gh_genies_load_params p = {0};
    p.max_bytes = (size_t)1 << 30;
    return p;
}

typedef struct loader {
    gh_genies_set *set;
    gn_arena arena;
    const gh_genies_load_params *p;
    size_t cap;
} loader;

/* A malformed record: fatal (returns the error) or skipped (warned, GH_OK). */
static gh_status bad(loader *L, const char *where, int64_t idx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static gh_status bad(loader *L, const char *where, int64_t idx, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char full[1200];
    snprintf(full, sizeof full, "%s: %s %lld: %s", L->set->path, where, (long long)idx, msg);
    if (L->p->fatal) return gh_error(GH_ERR_FORMAT, "%s", full);
    L->set->n_skipped++;
    if (L->p->warn) L->p->warn(L->p->warn_user, full);
    return GH_OK;
}

static gh_status add_pair(loader *L, int64_t rec, const char *prompt, const char *chosen, const char *rejected) {
    gh_genies_set *s = L->set;
    if ((size_t)s->n_pairs == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        gh_genies_pair *np = realloc(s->pairs, cap * sizeof *np);
        if (!np) return gh_error(GH_ERR_NOMEM, "out of memory");
        s->pairs = np;
        L->cap = cap;
    }
    s->pairs[s->n_pairs++] = (gh_genies_pair){rec, prompt, chosen, rejected};
    return GH_OK;
}

/* Checks a text field: non-empty, UTF-8. NULL if fine, else the problem. */
static const char *text_problem(const char *t, char *buf, size_t n) {
    if (!*t) return "empty";
    long off = gh_utf8_invalid_offset(t, strlen(t));
    if (off >= 0) {
        snprintf(buf, n, "not UTF-8 (byte %ld)", off);
        return buf;
    }
    return NULL;
}

static gh_status load_record(loader *L, int64_t idx, const cJSON *r) {
    char b1[64];
    const char *why;
    if (!cJSON_IsObject(r)) return bad(L, "record", idx, "not a JSON object");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(r, "prompt");
    if (!cJSON_IsString(pr)) return bad(L, "record", idx, "field \"prompt\" is missing or not a string");
    if ((why = text_problem(pr->valuestring, b1, sizeof b1))) return bad(L, "record", idx, "prompt is %s", why);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(r, "responses");
    if (!cJSON_IsObject(rs)) return bad(L, "record", idx, "field \"responses\" is missing or not an object");
    int n = cJSON_GetArraySize(rs), n_pref = 0, k = 0;
    if (n < 2) return bad(L, "record", idx, "%d response(s); a pair needs 2", n);
    const cJSON *pref = NULL;
    for (const cJSON *x = rs->child; x; x = x->next, k++) {
        if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
            return bad(L, "record", idx, "response %d: score is not a number", k);
        if ((why = text_problem(x->string, b1, sizeof b1))) return bad(L, "record", idx, "response %d is %s", k, why);
        for (const cJSON *y = rs->child; y != x; y = y->next)
            if (!strcmp(y->string, x->string)) return bad(L, "record", idx, "response %d repeats an earlier response's text", k);
        if (x->valuedouble == 1.0) { n_pref++; pref = x; }
    }
    if (n_pref == 0) return bad(L, "record", idx, "no preferred response (no score is 1)");
    if (n_pref > 1) return bad(L, "record", idx, "%d preferred responses (scores of 1); exactly one is needed", n_pref);
    const char *prompt = gn_arena_dup(&L->arena, pr->valuestring);
    const char *chosen = gn_arena_dup(&L->arena, pref->string);
    if (!prompt || !chosen) return gh_error(GH_ERR_NOMEM, "out of memory");
    for (const cJSON *x = rs->child; x; x = x->next) {
        if (x == pref) continue;
        const char *rej = gn_arena_dup(&L->arena, x->string);
        if (!rej) return gh_error(GH_ERR_NOMEM, "out of memory");
        gh_status s = add_pair(L, idx, prompt, chosen, rej);
        if (s) return s;
    }
    return GH_OK;
}

static gh_status loader_init(loader *L, const char *path, const gh_genies_load_params *p,
                             const gh_genies_load_params *def) {
    memset(L, 0, sizeof *L);
    L->p = p ? p : def;
    L->set = calloc(1, sizeof *L->set);
    if (!L->set || !(L->set->path = strdup(path))) {
        free(L->set);
        return gh_error(GH_ERR_NOMEM, "out of memory");
    }
    return GH_OK;
}

static gh_status loader_finish(loader *L, gh_status s, gh_genies_set **out) {
    gn_arena *a = malloc(sizeof *a);
    if (!s && !a) s = gh_error(GH_ERR_NOMEM, "out of memory");
    if (s) {
        free(a);
        gn_arena_free(&L->arena);
        free(L->set->pairs);
        free(L->set->path);
        free(L->set);
        return s;
    }
    *a = L->arena;
    L->set->priv = a;
    *out = L->set;
    return GH_OK;
}

gh_status gh_genies_load_json(const char *path, const gh_genies_load_params *p, gh_genies_set **out) {
    *out = NULL;
    gh_genies_load_params def = gh_genies_default_load_params();
    loader L;
    gh_status s = loader_init(&L, path, p, &def);
    if (s) return s;
    char *text = NULL;
    size_t len = 0;
    s = gh_read_file(path, L.p->max_bytes ? L.p->max_bytes : def.max_bytes, &text, &len);
    cJSON *doc = NULL;
    if (!s) {
        doc = cJSON_ParseWithLength(text, len);
        if (!doc) {
            const char *e = cJSON_GetErrorPtr();
            s = gh_error(GH_ERR_FORMAT, "%s: not valid JSON (near byte %lld)", path,
                         e && e >= text && e <= text + len ? (long long)(e - text) : -1LL);
        } else if (!cJSON_IsArray(doc)) {
            s = gh_error(GH_ERR_FORMAT, "%s: not a JSON array of records", path);
        }
    }
    int64_t idx = 0;
    if (!s)
        for (const cJSON *r = doc->child; r && !s; r = r->next, idx++) {
            L.set->n_records++;
            s = load_record(&L, idx, r);
        }
    cJSON_Delete(doc);
    free(text);
    return loader_finish(&L, s, out);
}

static gh_status jsonl_record(void *user, const char *path, int64_t line, const cJSON *r) {
    (void)path;
    loader *L = user;
    L->set->n_records++;
    const char *f[3] = {"prompt", "chosen", "rejected"}, *v[3];
    char b1[64];
    for (int k = 0; k < 3; k++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(r, f[k]);
        if (!cJSON_IsString(x)) return bad(L, "line", line, "field \"%s\" is missing or not a string", f[k]);
        const char *why = text_problem(x->valuestring, b1, sizeof b1);
        if (why) return bad(L, "line", line, "%s is %s", f[k], why);
        v[k] = x->valuestring;
    }
    if (!strcmp(v[1], v[2])) return bad(L, "line", line, "chosen and rejected are the same text");
    const char *pr = gn_arena_dup(&L->arena, v[0]), *c = gn_arena_dup(&L->arena, v[1]),
               *rj = gn_arena_dup(&L->arena, v[2]);
    if (!pr || !c || !rj) return gh_error(GH_ERR_NOMEM, "out of memory");
    /* consecutive lines with the same prompt and chosen response are one record's pairs: share the prompt */
    return add_pair(L, line, pr, c, rj);
}

gh_status gh_genies_load_jsonl(const char *path, const gh_genies_load_params *p, gh_genies_set **out) {
    *out = NULL;
    gh_genies_load_params def = gh_genies_default_load_params();
    loader L;
    gh_status s = loader_init(&L, path, p, &def);
    if (s) return s;
    s = gh_jsonl_each(path, L.p->max_bytes ? L.p->max_bytes : def.max_bytes, jsonl_record, &L, NULL);
    return loader_finish(&L, s, out);
}

gh_status gh_genies_load(const char *path, const gh_genies_load_params *p, gh_genies_set **out) {
    size_t n = strlen(path);
    if (n >= 6 && !strcmp(path + n - 6, ".jsonl")) return gh_genies_load_jsonl(path, p, out);
    return gh_genies_load_json(path, p, out);
}

gh_status gh_genies_write_jsonl(const gh_genies_set *set, const char *path) {
    gh_strbuf b = {0};
    for (int64_t i = 0; i < set->n_pairs; i++) {
        const gh_genies_pair *q = &set->pairs[i];
        gh_strbuf_put(&b, "{\"prompt\":");
        jb_str(&b, q->prompt);
        gh_strbuf_put(&b, ",\"chosen\":");
        jb_str(&b, q->chosen);
        gh_strbuf_put(&b, ",\"rejected\":");
        jb_str(&b, q->rejected);
        gh_strbuf_put(&b, "}\n");
    }
    if (b.oom) {
        gh_strbuf_free(&b);
        return gh_error(GH_ERR_NOMEM, "out of memory");
    }
    gh_status s = gn_write_atomic(path, b.p ? b.p : "", b.len);
    gh_strbuf_free(&b);
    return s;
}

void gh_genies_set_free(gh_genies_set *s) {
    if (!s) return;
    if (s->priv) {
        gn_arena_free(s->priv);
        free(s->priv);
    }
    free(s->pairs);
    free(s->path);
    free(s);
}

/* ---- shifts -------------------------------------------------------------------- */

static char *str_field(const cJSON *o, const char *k, bool *bad_type) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!x) return NULL;
    if (!cJSON_IsString(x) || !*x->valuestring) { *bad_type = true; return NULL; }
    return strdup(x->valuestring);
}

/* A distribution name becomes a directory name: no separators or dot-dot. */
static bool safe_name(const char *s) {
    return *s && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") && strcmp(s, "..");
}

gh_status gh_genies_shifts_load(const char *path, gh_genies_shifts **out) {
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    gh_status s = gh_read_file(path, (size_t)64 << 20, &text, &len);
    if (s) return s;
    cJSON *doc = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsArray(doc)) {
        cJSON_Delete(doc);
        return gh_error(GH_ERR_FORMAT, "%s: not a JSON array of shifts", path);
    }
    gh_genies_shifts *sh = calloc(1, sizeof *sh);
    int n = cJSON_GetArraySize(doc);
    if (!sh || !(sh->shifts = calloc(n ? (size_t)n : 1, sizeof *sh->shifts))) {
        free(sh);
        cJSON_Delete(doc);
        return gh_error(GH_ERR_NOMEM, "out of memory");
    }
    int i = 0;
    for (const cJSON *o = doc->child; o && !s; o = o->next, i++) {
        gh_genies_shift *x = &sh->shifts[i];
        sh->n = i + 1;
        if (!cJSON_IsObject(o)) { s = gh_error(GH_ERR_FORMAT, "%s: shift %d is not a JSON object", path, i); break; }
        bool bt = false;
        x->source = str_field(o, "source", &bt);
        x->target = str_field(o, "target", &bt);
        x->target_reference = str_field(o, "target_reference", &bt);
        x->category = str_field(o, "category", &bt);
        x->label = str_field(o, "label", &bt);
        if (bt) { s = gh_error(GH_ERR_FORMAT, "%s: shift %d: a field is not a non-empty string", path, i); break; }
        if (!x->source || !x->target) {
            s = gh_error(GH_ERR_FORMAT, "%s: shift %d: \"%s\" is missing", path, i, x->source ? "target" : "source");
            break;
        }
        if (!x->target_reference) x->target_reference = strdup(x->target);
        if (!x->category) x->category = strdup("");
        if (!x->label) x->label = strdup("");
        if (!x->target_reference || !x->category || !x->label) { s = gh_error(GH_ERR_NOMEM, "out of memory"); break; }
        if (!safe_name(x->source) || !safe_name(x->target) || !safe_name(x->target_reference)) {
            s = gh_error(GH_ERR_FORMAT, "%s: shift %d: a distribution name may not contain '/' or be '.' or '..'", path, i);
            break;
        }
        for (int j = 0; j < i; j++) {
            const gh_genies_shift *y = &sh->shifts[j];
            if (!strcmp(x->source, y->source) && !strcmp(x->target, y->target) &&
                !strcmp(x->target_reference, y->target_reference)) { x->duplicate = true; break; }
        }
        if (!x->duplicate) sh->n_unique++;
    }
    cJSON_Delete(doc);
    if (s) {
        gh_genies_shifts_free(sh);
        return s;
    }
    *out = sh;
    return GH_OK;
}

void gh_genies_shifts_free(gh_genies_shifts *sh) {
    if (!sh) return;
    for (int32_t i = 0; i < sh->n; i++) {
        gh_genies_shift *x = &sh->shifts[i];
        free(x->source);
        free(x->target);
        free(x->target_reference);
        free(x->category);
        free(x->label);
    }
    free(sh->shifts);
    free(sh);
}
