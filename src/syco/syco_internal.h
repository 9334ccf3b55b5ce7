/* syco_internal.h — what the sycophancy readers share: JSON Lines files read
 * whole (evaluation sets are small) and split into parsed objects with their
 * line numbers, so that every error can name the line. */
#ifndef GH_SYCO_INTERNAL_H
#define GH_SYCO_INTERNAL_H

#include <cjson/cJSON.h>

#include "goodhart/syco.h"

typedef struct syco_lines {
    int64_t n;
    cJSON **docs;     /* [n] JSON objects */
    int64_t *line;    /* [n] 1-based line numbers */
} syco_lines;

/* Parses every non-blank line of path as a JSON object; an empty file or a
 * line that is not an object is an error naming path:line. */
gh_status syco_lines_read(const char *path, syco_lines *out);
void syco_lines_free(syco_lines *l);

/* A string field, or an error "path:line: field "name" is missing / not a
 * string / empty". */
gh_status syco_string(const char *path, int64_t line, const cJSON *obj, const char *name, const char **out);

#endif
