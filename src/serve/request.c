/* request.c — checking request bodies before anything runs: every field is
 * known, appears once and has the right type and range, or the request gets an
 * OpenAI-style error object naming the field. No handler reads a field that did
 * not pass through here, so malformed bodies cannot reach the model. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "serve/serve_internal.h"

int srv_fail(srv_err *e, int32_t status, const char *type, const char *code, const char *param,
             const char *fmt, ...) {
    e->status = status;
    e->type = type;
    e->code = code;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int srv_fail_status(srv_err *e, gh_status st, const char *param) {
    const char *m = gh_last_error();
    switch (st) {
    case GH_ERR_INVALID_ARG: case GH_ERR_FORMAT:
        return srv_bad(e, "invalid_value", param, "%s", m);
    case GH_ERR_LIMIT:
        return srv_bad(e, "context_length_exceeded", param, "%s", m);
    case GH_ERR_UNSUPPORTED:
        return srv_bad(e, "unsupported", param, "%s", m);
    case GH_ERR_NOMEM:
        return srv_fail(e, 503, "server_error", "out_of_memory", param, "%s", m);
    default:
        return srv_fail(e, 500, "server_error", "internal_error", param, "%s", m);
    }
}

char *srv_err_json(const srv_err *e) {
    cJSON *root = cJSON_CreateObject(), *o = cJSON_AddObjectToObject(root, "error");
    char *msg = gh_utf8_sanitize(e->msg, strlen(e->msg)); /* messages may quote request bytes */
    cJSON_AddStringToObject(o, "message", msg ? msg : "error");
    cJSON_AddStringToObject(o, "type", e->type ? e->type : "server_error");
    if (e->param[0]) cJSON_AddStringToObject(o, "param", e->param);
    else cJSON_AddNullToObject(o, "param");
    if (e->code) cJSON_AddStringToObject(o, "code", e->code);
    else cJSON_AddNullToObject(o, "code");
    free(msg);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

int req_parse(const char *body, size_t len, cJSON **out, srv_err *e) {
    *out = NULL;
    if (len == 0) return srv_bad(e, "invalid_json", NULL, "the request body is empty; send a JSON object");
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (!j) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        return srv_bad(e, "invalid_json", NULL, "the request body is not valid JSON (error near byte %zu of %zu)", at, len);
    }
    /* nothing but whitespace may follow the value */
    for (const char *p = end; p && p < body + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(j);
            return srv_bad(e, "invalid_json", NULL, "unexpected bytes after the JSON value at byte %zu", (size_t)(p - body));
        }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return srv_bad(e, "invalid_json", NULL, "the request body must be a JSON object");
    }
    *out = j;
    return 0;
}

int req_fields(const cJSON *obj, const char *const *allowed, srv_err *e) {
    for (const cJSON *c = obj->child; c; c = c->next) {
        if (!c->string) return srv_bad(e, "invalid_json", NULL, "a field has no name");
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++) known = !strcmp(*a, c->string);
        if (!known)
            return srv_bad(e, "unknown_field", c->string, "unknown field '%.60s' for this endpoint", c->string);
        for (const cJSON *d = obj->child; d != c; d = d->next)
            if (!strcmp(d->string, c->string))
                return srv_bad(e, "duplicate_field", c->string, "field '%.60s' appears more than once", c->string);
    }
    return 0;
}

int req_int(const cJSON *obj, const char *name, int64_t lo, int64_t hi, int64_t def, int64_t *out, srv_err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v)) { *out = def; return 0; }
    if (!cJSON_IsNumber(v)) return srv_bad(e, "invalid_type", name, "'%s' must be an integer", name);
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d))
        return srv_bad(e, "invalid_type", name, "'%s' must be an integer, got %g", name, d);
    if (d < (double)lo || d > (double)hi)
        return srv_bad(e, "invalid_value", name, "'%s' must be in [%lld, %lld], got %.17g", name, (long long)lo,
                       (long long)hi, d);
    *out = (int64_t)d;
    return 0;
}

int req_num(const cJSON *obj, const char *name, double lo, double hi, double def, double *out, srv_err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v)) { *out = def; return 0; }
    if (!cJSON_IsNumber(v)) return srv_bad(e, "invalid_type", name, "'%s' must be a number", name);
    double d = v->valuedouble;
    if (!isfinite(d) || d < lo || d > hi)
        return srv_bad(e, "invalid_value", name, "'%s' must be in [%g, %g], got %g", name, lo, hi, d);
    *out = d;
    return 0;
}

int req_bool(const cJSON *obj, const char *name, bool def, bool *out, srv_err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v)) { *out = def; return 0; }
    if (!cJSON_IsBool(v)) return srv_bad(e, "invalid_type", name, "'%s' must be true or false", name);
    *out = cJSON_IsTrue(v);
    return 0;
}

int req_str(const cJSON *obj, const char *name, bool required, const char **out, srv_err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) {
        if (required) return srv_bad(e, "missing_field", name, "'%s' is required", name);
        return 0;
    }
    if (!cJSON_IsString(v)) return srv_bad(e, "invalid_type", name, "'%s' must be a string", name);
    *out = v->valuestring;
    return 0;
}

int req_stop(const cJSON *obj, const char ***out, int32_t *n, srv_err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "stop");
    *out = NULL;
    *n = 0;
    if (!v || cJSON_IsNull(v)) return 0;
    int32_t k = cJSON_IsString(v) ? 1 : cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (k < 0) return srv_bad(e, "invalid_type", "stop", "'stop' must be a string or a list of strings");
    if (k > 4) return srv_bad(e, "invalid_value", "stop", "'stop' holds at most 4 strings, got %d", k);
    if (k == 0) return 0;
    const char **s = malloc((size_t)k * sizeof *s);
    if (!s) return srv_fail(e, 503, "server_error", "out_of_memory", "stop", "out of memory");
    int32_t i = 0;
    if (cJSON_IsString(v)) s[i++] = v->valuestring;
    else
        for (const cJSON *c = v->child; c; c = c->next) {
            if (!cJSON_IsString(c)) { free(s); return srv_bad(e, "invalid_type", "stop", "'stop' must be a list of strings"); }
            s[i++] = c->valuestring;
        }
    for (int32_t j = 0; j < k; j++)
        if (!s[j][0]) { free(s); return srv_bad(e, "invalid_value", "stop", "'stop' strings must not be empty"); }
    *out = s;
    *n = k;
    return 0;
}

int req_ids(const cJSON *v, const char *param, int32_t n_vocab, int32_t max_n, int32_t **ids, int32_t *n,
            srv_err *e) {
    *ids = NULL;
    *n = 0;
    if (!cJSON_IsArray(v)) return srv_bad(e, "invalid_type", param, "'%s' must be a list of token ids", param);
    int32_t k = cJSON_GetArraySize(v);
    if (k > max_n) return srv_bad(e, "context_length_exceeded", param, "'%s' has %d tokens; at most %d are allowed", param, k, max_n);
    int32_t *t = malloc(((size_t)k + 1) * sizeof *t);
    if (!t) return srv_fail(e, 503, "server_error", "out_of_memory", param, "out of memory");
    int32_t i = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
        double d = cJSON_IsNumber(c) ? c->valuedouble : NAN;
        if (!isfinite(d) || d != floor(d)) {
            free(t);
            return srv_bad(e, "invalid_type", param, "'%s'[%d] must be an integer token id", param, i);
        }
        if (d < 0 || d >= n_vocab) {
            free(t);
            return srv_bad(e, "invalid_value", param, "'%s'[%d] = %.17g is outside the vocabulary [0, %d)", param, i, d, n_vocab);
        }
        t[i] = (int32_t)d;
    }
    *ids = t;
    *n = k;
    return 0;
}

void req_inputs_free(srv_input *in, int32_t n) {
    if (!in) return;
    for (int32_t i = 0; i < n; i++) free(in[i].ids);
    free(in);
}

int req_inputs(const cJSON *v, const char *param, int32_t n_vocab, int32_t max_inputs, int32_t max_ids,
               srv_input **out, int32_t *n, srv_err *e) {
    *out = NULL;
    *n = 0;
    if (!v || cJSON_IsNull(v)) return srv_bad(e, "missing_field", param, "'%s' is required", param);
    if (cJSON_IsString(v)) {
        srv_input *in = calloc(1, sizeof *in);
        if (!in) return srv_fail(e, 503, "server_error", "out_of_memory", param, "out of memory");
        in->text = v->valuestring;
        *out = in;
        *n = 1;
        return 0;
    }
    if (!cJSON_IsArray(v))
        return srv_bad(e, "invalid_type", param, "'%s' must be a string, a list of strings, a list of token ids or a list of lists of token ids", param);
    const cJSON *first = v->child;
    if (!first) return srv_bad(e, "invalid_value", param, "'%s' is an empty list", param);
    if (cJSON_IsNumber(first)) { /* one prompt of token ids */
        srv_input *in = calloc(1, sizeof *in);
        if (!in) return srv_fail(e, 503, "server_error", "out_of_memory", param, "out of memory");
        if (req_ids(v, param, n_vocab, max_ids, &in->ids, &in->n_ids, e)) { free(in); return -1; }
        *out = in;
        *n = 1;
        return 0;
    }
    int32_t k = cJSON_GetArraySize(v);
    if (k > max_inputs) return srv_bad(e, "invalid_value", param, "'%s' holds %d inputs; at most %d are allowed", param, k, max_inputs);
    srv_input *in = calloc((size_t)k, sizeof *in);
    if (!in) return srv_fail(e, 503, "server_error", "out_of_memory", param, "out of memory");
    int32_t i = 0;
    bool strings = cJSON_IsString(first);
    for (const cJSON *c = v->child; c; c = c->next, i++) {
        char p[64];
        snprintf(p, sizeof p, "%s[%d]", param, i);
        if (strings) {
            if (!cJSON_IsString(c)) {
                req_inputs_free(in, k);
                return srv_bad(e, "invalid_type", param, "'%s' mixes strings and other values", param);
            }
            in[i].text = c->valuestring;
        } else if (!cJSON_IsArray(c) || req_ids(c, p, n_vocab, max_ids, &in[i].ids, &in[i].n_ids, e)) {
            if (!cJSON_IsArray(c))
                srv_bad(e, "invalid_type", param, "'%s' must be a string, a list of strings, a list of token ids or a list of lists of token ids", param);
            req_inputs_free(in, k);
            return -1;
        }
    }
    *out = in;
    *n = k;
    return 0;
}

/* Skips one JSON value starting at p (the text is known to be valid JSON);
 * returns the position after it. */
static const char *skip_value(const char *p, const char *end) {
    int depth = 0;
    do {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',' || *p == ':')) {
            if (depth == 0 && (*p == ',' || *p == ':')) return p;
            p++;
        }
        if (p >= end) return end;
        if (*p == '"') {
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\') p++;
            p++;
        } else if (*p == '{' || *p == '[') { depth++; p++; }
        else if (*p == '}' || *p == ']') { if (depth == 0) return p; depth--; p++; }
        else while (p < end && !strchr(" \t\n\r,:]}", *p)) p++;
    } while (depth > 0 && p < end);
    return p;
}

int req_seed(const char *body, size_t len, const cJSON *obj, uint64_t *out, bool *found, srv_err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "seed");
    *found = v && !cJSON_IsNull(v);
    if (!*found) return 0;
    if (!cJSON_IsNumber(v)) return srv_bad(e, "invalid_type", "seed", "'seed' must be an integer");
    /* cJSON keeps doubles (53 bits); a seed is 64: read its digits from the text */
    const char *p = body, *end = body + len;
    while (p < end && *p != '{') p++;
    for (p++; p < end;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',')) p++;
        if (p >= end || *p != '"') break;
        const char *k0 = ++p;
        while (p < end && *p != '"') { if (*p == '\\') p++; p++; }
        bool is_seed = (size_t)(p - k0) == 4 && !memcmp(k0, "seed", 4);
        p++;
        while (p < end && *p != ':') p++;
        p++;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
        if (is_seed) {
            const char *n0 = p;
            while (p < end && *p >= '0' && *p <= '9') p++;
            bool plain = p > n0 && (p == end || strchr(" \t\n\r,}", *p));
            if (plain && p - n0 <= 20) {
                char d[24];
                memcpy(d, n0, (size_t)(p - n0));
                d[p - n0] = '\0';
                errno = 0;
                unsigned long long u = strtoull(d, NULL, 10);
                if (errno) return srv_bad(e, "invalid_value", "seed", "'seed' must be in [0, 2^64)");
                *out = (uint64_t)u;
                return 0;
            }
            break; /* a sign, fraction or exponent: judged from the double below */
        }
        p = skip_value(p, end);
    }
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d)) return srv_bad(e, "invalid_type", "seed", "'seed' must be an integer");
    if (d < 0 || d >= 9007199254740992.0)
        return srv_bad(e, "invalid_value", "seed", "'seed' must be in [0, 2^64), written as plain digits above 2^53; got %g", d);
    *out = (uint64_t)d;
    return 0;
}
