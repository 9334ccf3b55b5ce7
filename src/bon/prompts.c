/* prompts.c — the prompt set of a Best-of-N experiment, read from JSON Lines
 * (id, prompt, optional reference). Every problem names the file, the line
 * and the field. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/utf8.h"
#include "goodhart/bon.h"

void gh_bon_prompts_free(gh_bon_prompt *p, int64_t n) {
    if (!p) return;
    for (int64_t i = 0; i < n; i++) {
        free((char *)p[i].id);
        free((char *)p[i].prompt);
        free((char *)p[i].reference);
    }
    free(p);
}

static bool valid_utf8(const char *s) {
    char *t = gh_utf8_sanitize(s, strlen(s));
    bool ok = t && !strcmp(t, s);
    free(t);
    return ok;
}

gh_status gh_bon_prompts_read(const char *path, gh_bon_prompt **out, int64_t *n_out) {
    *out = NULL;
    *n_out = 0;
    char *data = NULL;
    size_t len = 0;
    gh_status s = gh_read_file(path, (size_t)1 << 30, &data, &len);
    if (s) return s;
    gh_bon_prompt *ps = NULL;
    int64_t n = 0, cap = 0, line = 0;
    char *p = data, *end = data + len;
    while (p < end && !s) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        line++;
        *e = 0;
        char *q = p;
        p = e + 1;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (!*q) continue;
        cJSON *j = cJSON_Parse(q);
        if (!j || !cJSON_IsObject(j)) {
            s = gh_error(GH_ERR_FORMAT, "%s:%lld: not a JSON object", path, (long long)line);
            cJSON_Delete(j);
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            gh_bon_prompt *np = realloc(ps, (size_t)cap * sizeof *np);
            if (!np) { cJSON_Delete(j); s = gh_error(GH_ERR_NOMEM, "out of memory"); break; }
            ps = np;
        }
        gh_bon_prompt *r = &ps[n];
        memset(r, 0, sizeof *r);
        n++;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "prompt");
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(j, "reference");
        char buf[64];
        if (!id) { snprintf(buf, sizeof buf, "%lld", (long long)line); r->id = strdup(buf); }
        else if (cJSON_IsString(id)) r->id = strdup(id->valuestring);
        else if (cJSON_IsNumber(id)) { snprintf(buf, sizeof buf, "%.17g", id->valuedouble); r->id = strdup(buf); }
        else s = gh_error(GH_ERR_FORMAT, "%s:%lld: field \"id\" must be a string or a number", path, (long long)line);
        if (!s && (!cJSON_IsString(pr)))
            s = gh_error(GH_ERR_FORMAT, "%s:%lld: record \"%s\": field \"prompt\" is %s", path, (long long)line,
                         r->id ? r->id : "?", pr ? "not a string" : "missing");
        if (!s && ref && !cJSON_IsString(ref) && !cJSON_IsNull(ref))
            s = gh_error(GH_ERR_FORMAT, "%s:%lld: record \"%s\": field \"reference\" is not a string", path, (long long)line, r->id);
        if (!s) {
            r->prompt = strdup(pr->valuestring);
            if (cJSON_IsString(ref)) r->reference = strdup(ref->valuestring);
            if (!r->id || !r->prompt || (cJSON_IsString(ref) && !r->reference)) s = gh_error(GH_ERR_NOMEM, "out of memory");
        }
        if (!s && (!valid_utf8(r->prompt) || (r->reference && !valid_utf8(r->reference)) || !valid_utf8(r->id)))
            s = gh_error(GH_ERR_FORMAT, "%s:%lld: record \"%s\": text is not valid UTF-8", path, (long long)line, r->id);
        cJSON_Delete(j);
    }
    free(data);
    if (!s && n == 0) s = gh_error(GH_ERR_FORMAT, "%s: no prompts in the file", path);
    for (int64_t i = 0; i < n && !s; i++)
        for (int64_t k = 0; k < i && !s; k++)
            if (!strcmp(ps[i].id, ps[k].id)) s = gh_error(GH_ERR_FORMAT, "%s: prompt id \"%s\" appears twice", path, ps[i].id);
    if (s) { gh_bon_prompts_free(ps, n); return s; }
    *out = ps;
    *n_out = n;
    return GH_OK;
}
