/* candfile.c — precomputed Best-of-N candidates (JSON Lines, see goodhart/bon.h):
 * one prompt per line, so that samples and scores from any other system can be
 * selected by `goodhart bon select` and analysed like goodhart's own.
 *
 * The whole file is read and validated up front; a bad value anywhere is an
 * error naming the file, the line, the record id (once known), the candidate
 * and the field, rather than a NaN that surfaces later as a strange pick.
 * Fields no rule needs may be absent (NAN / -1 / NULL in the record); which
 * rule needs what is checked separately by gh_bon_file_check. */
#include "goodhart/bon.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/utf8.h"

/* Candidate files carry embeddings (N x dim numbers per line) and can be large;
 * the limit only guards against reading something absurd into memory. */
#define CANDFILE_MAX_BYTES ((size_t)16 << 30)

struct gh_bon_file {
    char *path;
    int64_t n, cap;
    gh_bon_record *rec;
};

/* Where an error is: file, line and (once parsed) the record id. */
typedef struct where {
    const char *path;
    int64_t line;
    const char *id;
} where;

static gh_status fail(const where *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static gh_status fail(const where *w, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w->id) return gh_error(GH_ERR_FORMAT, "%s:%lld: record \"%.80s\": %s", w->path, (long long)w->line, w->id, msg);
    return gh_error(GH_ERR_FORMAT, "%s:%lld: %s", w->path, (long long)w->line, msg);
}

/* Offset of the first ill-formed UTF-8 byte of s, or -1 if all of s is well-formed. */
static long utf8_bad_offset(const char *s) { return gh_utf8_invalid_offset(s, strlen(s)); }

static const char *type_name(const cJSON *j) {
    if (cJSON_IsNull(j)) return "null";
    if (cJSON_IsBool(j)) return "a boolean";
    if (cJSON_IsNumber(j)) return "a number";
    if (cJSON_IsString(j)) return "a string";
    if (cJSON_IsArray(j)) return "an array";
    if (cJSON_IsObject(j)) return "an object";
    return "invalid";
}

/* cJSON keeps every member of an object, duplicates included, and answers
 * lookups with the first; a repeated key is ambiguous, so it is an error.
 * `what` names the object in the message. */
static gh_status check_keys(const where *w, const cJSON *obj, const char *what) {
    for (const cJSON *a = obj->child; a; a = a->next) {
        long bad = utf8_bad_offset(a->string);
        if (bad >= 0) return fail(w, "%s: a key is not valid UTF-8 (byte %ld)", what, bad);
        for (const cJSON *b = a->next; b; b = b->next)
            if (!strcmp(a->string, b->string)) return fail(w, "%s: key \"%.80s\" appears twice", what, a->string);
    }
    return GH_OK;
}

static gh_status dup_string(const where *w, const cJSON *j, const char *what, char **out) {
    if (!cJSON_IsString(j) || !j->valuestring) return fail(w, "%s is %s (must be a string)", what, type_name(j));
    long bad = utf8_bad_offset(j->valuestring);
    if (bad >= 0) return fail(w, "%s is not valid UTF-8 (byte %ld)", what, bad);
    *out = strdup(j->valuestring);
    if (!*out) return gh_error(GH_ERR_NOMEM, "out of memory");
    return GH_OK;
}

static void record_free(gh_bon_record *r) {
    free(r->id);
    free(r->prompt);
    if (r->text)
        for (int32_t i = 0; i < r->n; i++) free(r->text[i]);
    free(r->text);
    if (r->score_names)
        for (int32_t i = 0; i < r->n_scores; i++) free(r->score_names[i]);
    free(r->score_names);
    free(r->scores);
    free(r->logprob);
    free(r->n_tokens);
    free(r->embedding);
    memset(r, 0, sizeof *r);
}

/* The record's id: a string, or a number kept as its shortest exact text. */
static gh_status parse_id(const where *w, const cJSON *j, gh_bon_record *r) {
    if (!j) return fail(w, "the record has no \"id\"");
    if (cJSON_IsString(j)) {
        if (j->valuestring && !*j->valuestring) return fail(w, "\"id\" is empty");
        return dup_string(w, j, "\"id\"", &r->id);
    }
    if (!cJSON_IsNumber(j)) return fail(w, "\"id\" is %s (must be a string or a number)", type_name(j));
    double v = j->valuedouble;
    if (!isfinite(v)) return fail(w, "\"id\" is not a finite number");
    char buf[40];
    if (v == floor(v) && fabs(v) < 1e15) snprintf(buf, sizeof buf, "%.0f", v);
    else snprintf(buf, sizeof buf, "%.17g", v);
    r->id = strdup(buf);
    if (!r->id) return gh_error(GH_ERR_NOMEM, "out of memory");
    r->id_number = true;
    return GH_OK;
}

/* Appends a score name unless present; returns its index or -1 (no memory). */
static int32_t add_score_name(gh_bon_record *r, int32_t *cap, const char *name) {
    for (int32_t k = 0; k < r->n_scores; k++)
        if (!strcmp(r->score_names[k], name)) return k;
    if (r->n_scores == *cap) {
        int32_t nc = *cap ? *cap * 2 : 4;
        char **nn = realloc(r->score_names, (size_t)nc * sizeof *nn);
        if (!nn) return -1;
        r->score_names = nn;
        *cap = nc;
    }
    if (!(r->score_names[r->n_scores] = strdup(name))) return -1;
    return r->n_scores++;
}

static gh_status parse_candidate(const where *w, const cJSON *c, int32_t i, gh_bon_record *r) {
    if (!cJSON_IsObject(c)) return fail(w, "candidate %d is %s (must be an object)", i, type_name(c));
    char what[64];
    snprintf(what, sizeof what, "candidate %d", i);
    gh_status s = check_keys(w, c, what);
    if (s) return s;

    const cJSON *j = cJSON_GetObjectItemCaseSensitive(c, "text");
    if (j) {
        snprintf(what, sizeof what, "candidate %d: \"text\"", i);
        if ((s = dup_string(w, j, what, &r->text[i]))) return s;
    }

    /* scores: names were collected in the first pass; every value is a finite number */
    j = cJSON_GetObjectItemCaseSensitive(c, "scores");
    if (j) {
        for (const cJSON *sc = j->child; sc; sc = sc->next) {
            if (!cJSON_IsNumber(sc))
                return fail(w, "candidate %d: score \"%.80s\" is %s (must be a finite number)", i, sc->string,
                            type_name(sc));
            if (!isfinite(sc->valuedouble))
                return fail(w, "candidate %d: score \"%.80s\" is %g (must be a finite number)", i, sc->string,
                            sc->valuedouble);
            int32_t k = gh_bon_record_score(r, sc->string);
            r->scores[(size_t)i * (size_t)r->n_scores + (size_t)k] = sc->valuedouble;
        }
    }

    j = cJSON_GetObjectItemCaseSensitive(c, "logprob_ref");
    if (j) {
        if (!cJSON_IsNumber(j))
            return fail(w, "candidate %d: \"logprob_ref\" is %s (must be a number)", i, type_name(j));
        double v = j->valuedouble;
        if (!isfinite(v)) return fail(w, "candidate %d: \"logprob_ref\" is %g (must be finite)", i, v);
        if (v > 0.0)
            return fail(w, "candidate %d: \"logprob_ref\" is %g (a log-probability is <= 0)", i, v);
        r->logprob[i] = v;
    }

    j = cJSON_GetObjectItemCaseSensitive(c, "n_tokens");
    if (j) {
        if (!cJSON_IsNumber(j))
            return fail(w, "candidate %d: \"n_tokens\" is %s (must be an integer >= 0)", i, type_name(j));
        double v = j->valuedouble;
        if (!(v >= 0.0 && v <= (double)INT32_MAX && v == floor(v)))
            return fail(w, "candidate %d: \"n_tokens\" is %g (must be an integer >= 0)", i, v);
        r->n_tokens[i] = (int32_t)v;
    }

    /* embedding: the dimension was fixed by candidate 0 in the first pass */
    j = cJSON_GetObjectItemCaseSensitive(c, "embedding");
    if (r->dim > 0) {
        if (!j) return fail(w, "candidate %d: \"embedding\" is missing (candidate 0 has %d values)", i, r->dim);
        if (!cJSON_IsArray(j))
            return fail(w, "candidate %d: \"embedding\" is %s (must be an array of numbers)", i, type_name(j));
        int32_t d = 0;
        float *e = r->embedding + (size_t)i * (size_t)r->dim;
        for (const cJSON *x = j->child; x; x = x->next, d++) {
            if (d >= r->dim) break;
            if (!cJSON_IsNumber(x))
                return fail(w, "candidate %d: \"embedding\"[%d] is %s (must be a number)", i, d, type_name(x));
            float f = (float)x->valuedouble;
            if (!isfinite(f))
                return fail(w, "candidate %d: \"embedding\"[%d] is %g (must be finite as a float)", i, d,
                            x->valuedouble);
            e[d] = f;
        }
        int32_t len = cJSON_GetArraySize(j);
        if (len != r->dim)
            return fail(w, "candidate %d: \"embedding\" has %d values, candidate 0 has %d", i, len, r->dim);
    } else if (j) {
        return fail(w, "candidate %d: has an \"embedding\" but candidate 0 has none", i);
    }
    return GH_OK;
}

static gh_status parse_record(where *w, const cJSON *root, gh_bon_record *r) {
    if (!cJSON_IsObject(root)) return fail(w, "the line is %s (must be a JSON object)", type_name(root));
    gh_status s = check_keys(w, root, "the record");
    if (s) return s;
    if ((s = parse_id(w, cJSON_GetObjectItemCaseSensitive(root, "id"), r))) return s;
    w->id = r->id;

    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (j && (s = dup_string(w, j, "\"prompt\"", &r->prompt))) return s;

    const cJSON *cands = cJSON_GetObjectItemCaseSensitive(root, "candidates");
    if (!cands) return fail(w, "\"candidates\" is missing");
    if (!cJSON_IsArray(cands)) return fail(w, "\"candidates\" is %s (must be an array)", type_name(cands));
    int n = cJSON_GetArraySize(cands);
    if (n < 1) return fail(w, "\"candidates\" is empty (N = 0)");
    r->n = n;

    /* first pass: the shapes (score names in order of appearance, embedding size) */
    int32_t cap = 0;
    int32_t i = 0;
    for (const cJSON *c = cands->child; c; c = c->next, i++) {
        if (!cJSON_IsObject(c)) return fail(w, "candidate %d is %s (must be an object)", i, type_name(c));
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(c, "scores");
        if (sc) {
            char what[64];
            snprintf(what, sizeof what, "candidate %d: \"scores\"", i);
            if (!cJSON_IsObject(sc)) return fail(w, "%s is %s (must be an object)", what, type_name(sc));
            if ((s = check_keys(w, sc, what))) return s;
            for (const cJSON *x = sc->child; x; x = x->next)
                if (add_score_name(r, &cap, x->string) < 0) return gh_error(GH_ERR_NOMEM, "out of memory");
        }
        if (i == 0) {
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(c, "embedding");
            if (e) {
                if (!cJSON_IsArray(e))
                    return fail(w, "candidate 0: \"embedding\" is %s (must be an array of numbers)", type_name(e));
                r->dim = cJSON_GetArraySize(e);
                if (r->dim < 1) return fail(w, "candidate 0: \"embedding\" is empty");
            }
        }
    }

    const size_t N = (size_t)n;
    r->text = calloc(N, sizeof *r->text);
    r->scores = malloc((N * (size_t)(r->n_scores ? r->n_scores : 1)) * sizeof *r->scores);
    r->logprob = malloc(N * sizeof *r->logprob);
    r->n_tokens = malloc(N * sizeof *r->n_tokens);
    if (r->dim > 0) r->embedding = malloc(N * (size_t)r->dim * sizeof *r->embedding);
    if (!r->text || !r->scores || !r->logprob || !r->n_tokens || (r->dim > 0 && !r->embedding))
        return gh_error(GH_ERR_NOMEM, "out of memory for record \"%.80s\"", r->id);
    for (size_t k = 0; k < N * (size_t)r->n_scores; k++) r->scores[k] = NAN;
    for (size_t k = 0; k < N; k++) { r->logprob[k] = NAN; r->n_tokens[k] = -1; }

    i = 0;
    for (const cJSON *c = cands->child; c; c = c->next, i++)
        if ((s = parse_candidate(w, c, i, r))) return s;
    return GH_OK;
}

/* ---- the file ---- */

static gh_status add_line(gh_bon_file *f, char *line, size_t len, int64_t lineno) {
    where w = {f->path, lineno, NULL};
    if (strlen(line) != len) return fail(&w, "the line contains a NUL byte");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(line, &end, 1);
    if (!root) {
        long col = end && end >= line && end <= line + len ? (long)(end - line) + 1 : 0;
        return fail(&w, "malformed JSON near column %ld", col);
    }
    if (f->n == f->cap) {
        int64_t nc = f->cap ? f->cap * 2 : 64;
        gh_bon_record *nr = realloc(f->rec, (size_t)nc * sizeof *nr);
        if (!nr) { cJSON_Delete(root); return gh_error(GH_ERR_NOMEM, "out of memory"); }
        f->rec = nr;
        f->cap = nc;
    }
    gh_bon_record *r = &f->rec[f->n];
    memset(r, 0, sizeof *r);
    r->line = lineno;
    gh_status s = parse_record(&w, root, r);
    cJSON_Delete(root);
    if (s) { record_free(r); return s; }
    f->n++;
    return GH_OK;
}

static int cmp_id(const void *a, const void *b) {
    const gh_bon_record *x = *(const gh_bon_record *const *)a, *y = *(const gh_bon_record *const *)b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Ids must be unique (results are keyed by them). Sorting pointers finds any
 * repeat in O(n log n); the message names both lines. */
static gh_status check_unique_ids(const gh_bon_file *f) {
    if (f->n < 2) return GH_OK;
    const gh_bon_record **v = malloc((size_t)f->n * sizeof *v);
    if (!v) return gh_error(GH_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < f->n; i++) v[i] = &f->rec[i];
    qsort(v, (size_t)f->n, sizeof *v, cmp_id);
    gh_status s = GH_OK;
    for (int64_t i = 1; i < f->n && !s; i++)
        if (!strcmp(v[i - 1]->id, v[i]->id)) {
            where w = {f->path, v[i]->line, v[i]->id};
            s = fail(&w, "\"id\" repeats the id of line %lld", (long long)v[i - 1]->line);
        }
    free(v);
    return s;
}

gh_status gh_bon_file_read(const char *path, gh_bon_file **out) {
    if (!out) return gh_error(GH_ERR_INVALID_ARG, "gh_bon_file_read: NULL output");
    *out = NULL;
    if (!path) return gh_error(GH_ERR_INVALID_ARG, "gh_bon_file_read: NULL path");
    char *buf;
    size_t len;
    gh_status s = gh_read_file(path, CANDFILE_MAX_BYTES, &buf, &len);
    if (s) return s;
    gh_bon_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) { free(f); free(buf); return gh_error(GH_ERR_NOMEM, "out of memory"); }

    size_t pos = 0;
    if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) pos = 3; /* a UTF-8 byte order mark */
    for (int64_t lineno = 1; pos < len && !s; lineno++) {
        char *line = buf + pos;
        char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (n > 0 && line[n - 1] == '\r') n--; /* CRLF files */
        line[n] = '\0';
        bool blank = true;
        for (size_t k = 0; k < n && blank; k++)
            blank = line[k] == ' ' || line[k] == '\t' || line[k] == '\r';
        if (blank) continue;
        s = add_line(f, line, n, lineno);
    }
    free(buf);
    if (!s) s = check_unique_ids(f);
    if (s) { gh_bon_file_free(f); return s; }
    *out = f;
    return GH_OK;
}

void gh_bon_file_free(gh_bon_file *f) {
    if (!f) return;
    for (int64_t i = 0; i < f->n; i++) record_free(&f->rec[i]);
    free(f->rec);
    free(f->path);
    free(f);
}

int64_t gh_bon_file_count(const gh_bon_file *f) { return f ? f->n : 0; }

const gh_bon_record *gh_bon_file_record(const gh_bon_file *f, int64_t i) {
    return f && i >= 0 && i < f->n ? &f->rec[i] : NULL;
}

int32_t gh_bon_record_score(const gh_bon_record *r, const char *name) {
    if (!r || !name) return -1;
    for (int32_t k = 0; k < r->n_scores; k++)
        if (!strcmp(r->score_names[k], name)) return k;
    return -1;
}

/* One score column must exist for every candidate of the record. */
static gh_status check_score(const gh_bon_file *f, const gh_bon_record *r, const char *name, const char *role,
                             gh_bon_rule rule) {
    where w = {f->path, r->line, r->id};
    int32_t k = gh_bon_record_score(r, name);
    for (int32_t i = 0; i < r->n; i++)
        if (k < 0 || isnan(r->scores[(size_t)i * (size_t)r->n_scores + (size_t)k]))
            return fail(&w, "candidate %d lacks score \"%.80s\" (the %s), which rule %s needs", i, name, role,
                        gh_bon_rule_name(rule));
    return GH_OK;
}

gh_status gh_bon_file_check(const gh_bon_file *f, gh_bon_rule rule, const char *reward, const char *gold) {
    if (!f) return gh_error(GH_ERR_INVALID_ARG, "gh_bon_file_check: NULL file");
    if ((unsigned)rule >= GH_BON_N_RULES) return gh_error(GH_ERR_INVALID_ARG, "unknown rule %d", (int)rule);
    const char *rn = gh_bon_rule_name(rule);
    for (int64_t ri = 0; ri < f->n; ri++) {
        const gh_bon_record *r = &f->rec[ri];
        where w = {f->path, r->line, r->id};
        gh_status s;
        if (gh_bon_rule_needs_reward(rule) && (s = check_score(f, r, reward ? reward : "proxy", "reward", rule)))
            return s;
        if (gh_bon_rule_needs_gold(rule) && (s = check_score(f, r, gold ? gold : "gold", "gold reward", rule)))
            return s;
        for (int32_t i = 0; i < r->n; i++) {
            if (gh_bon_rule_needs_logprob(rule) && isnan(r->logprob[i]))
                return fail(&w, "candidate %d lacks \"logprob_ref\", which rule %s needs", i, rn);
            if (gh_bon_rule_needs_tokens(rule) && r->n_tokens[i] < 0)
                return fail(&w, "candidate %d lacks \"n_tokens\", which rule %s needs", i, rn);
        }
        if (gh_bon_rule_needs_embedding(rule) && r->dim == 0)
            return fail(&w, "the candidates lack \"embedding\", which rule %s needs", rn);
    }
    return GH_OK;
}
