/* jsonl.c — see jsonl.h. */
#include "base/jsonl.h"

#include <stdlib.h>
#include <string.h>

#include "base/file.h"

gh_status gh_jsonl_each(const char *path, size_t max_bytes, gh_jsonl_fn fn, void *user, int64_t *n_records) {
    char *data = NULL;
    size_t len = 0;
    gh_status s = gh_read_file(path, max_bytes, &data, &len);
    if (s) return s;
    int64_t line = 0, n = 0;
    for (char *p = data, *end = data + len; p < end && !s;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        *e = 0; /* gh_read_file leaves a NUL after the data, so the last line is terminated too */
        line++;
        char *q = p;
        p = e + 1;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (!*q) continue;
        if ((size_t)(e - q) != strlen(q)) { s = gh_error(GH_ERR_FORMAT, "%s:%lld: a NUL byte inside the line", path, (long long)line); break; }
        cJSON *j = cJSON_Parse(q);
        if (!cJSON_IsObject(j)) s = gh_error(GH_ERR_FORMAT, "%s:%lld: not a JSON object", path, (long long)line);
        else { s = fn(user, path, line, j); n++; }
        cJSON_Delete(j);
    }
    free(data);
    if (n_records) *n_records = n;
    return s;
}
