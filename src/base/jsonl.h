/* jsonl.h — reading JSON Lines files: one JSON object per line, blank lines
 * skipped. Every reader of records (prompts, preference pairs, evaluation sets)
 * goes through here, so they all report a bad line the same way:
 * "FILE:LINE: not a JSON object". */
#ifndef GH_BASE_JSONL_H
#define GH_BASE_JSONL_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "goodhart/common.h"

/* Called once per record; `obj` is freed after the call returns. A status other
 * than GH_OK stops the reading and is returned as is (the callback names the
 * file and line in its message: both are passed in). */
typedef gh_status (*gh_jsonl_fn)(void *user, const char *path, int64_t line, const cJSON *obj);

/* Reads the whole file (at most max_bytes) and calls fn for each record in
 * order. *n_records (may be NULL) receives how many were read. */
gh_status gh_jsonl_each(const char *path, size_t max_bytes, gh_jsonl_fn fn, void *user, int64_t *n_records);

#endif
