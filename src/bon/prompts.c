/* prompts.c — the prompt set of a Best-of-N experiment, read from JSON Lines
 * (id, prompt, optional reference). Every problem names the file, the line
 * and the field. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonl.h"
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

static bool valid_utf8(const char *s) { return gh_utf8_invalid_offset(s, strlen(s)) < 0; }

typedef struct reader {
    gh_bon_prompt *ps;
    int64_t n, cap;
} reader;

static gh_status one_prompt(void *user, const char *path, int64_t line, const cJSON *j) {
    reader *rd = user;
    if (rd->n == rd->cap) {
        int64_t cap = rd->cap ? rd->cap * 2 : 64;
        gh_bon_prompt *np = realloc(rd->ps, (size_t)cap * sizeof *np);
        if (!np) return gh_error(GH_ERR_NOMEM, "out of memory");
        rd->ps = np;
        rd->cap = cap;
    }
    gh_bon_prompt *r = &rd->ps[rd->n++];
    memset(r, 0, sizeof *r);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(j, "reference");
    char buf[64];
    if (!id) { snprintf(buf, sizeof buf, "%lld", (long long)line); r->id = strdup(buf); }
    else if (cJSON_IsString(id)) r->id = strdup(id->valuestring);
    else if (cJSON_IsNumber(id)) { snprintf(buf, sizeof buf, "%.17g", id->valuedouble); r->id = strdup(buf); }
    else return gh_error(GH_ERR_FORMAT, "%s:%lld: field \"id\" must be a string or a number", path, (long long)line);
    if (!r->id) return gh_error(GH_ERR_NOMEM, "out of memory");
    if (!cJSON_IsString(pr))
        return gh_error(GH_ERR_FORMAT, "%s:%lld: record \"%s\": field \"prompt\" is %s", path, (long long)line, r->id,
                        pr ? "not a string" : "missing");
    if (ref && !cJSON_IsString(ref) && !cJSON_IsNull(ref))
        return gh_error(GH_ERR_FORMAT, "%s:%lld: record \"%s\": field \"reference\" is not a string", path, (long long)line, r->id);
    r->prompt = strdup(pr->valuestring);
    if (cJSON_IsString(ref)) r->reference = strdup(ref->valuestring);
    if (!r->prompt || (cJSON_IsString(ref) && !r->reference)) return gh_error(GH_ERR_NOMEM, "out of memory");
    if (!valid_utf8(r->prompt) || (r->reference && !valid_utf8(r->reference)) || !valid_utf8(r->id))
        return gh_error(GH_ERR_FORMAT, "%s:%lld: record \"%s\": text is not valid UTF-8", path, (long long)line, r->id);
    return GH_OK;
}

gh_status gh_bon_prompts_read(const char *path, gh_bon_prompt **out, int64_t *n_out) {
    *out = NULL;
    *n_out = 0;
    reader rd = {0};
    gh_status s = gh_jsonl_each(path, (size_t)1 << 30, one_prompt, &rd, NULL);
    if (!s && rd.n == 0) s = gh_error(GH_ERR_FORMAT, "%s: no prompts in the file", path);
    for (int64_t i = 0; i < rd.n && !s; i++)
        for (int64_t k = 0; k < i && !s; k++)
            if (!strcmp(rd.ps[i].id, rd.ps[k].id)) s = gh_error(GH_ERR_FORMAT, "%s: prompt id \"%s\" appears twice", path, rd.ps[i].id);
    if (s) { gh_bon_prompts_free(rd.ps, rd.n); return s; }
    *out = rd.ps;
    *n_out = rd.n;
    return GH_OK;
}
