/* goodhart/common.h — status codes, error reporting and version shared by every
 * part of the public API.
 *
 * Every library function that can fail returns a gh_status. On failure it also
 * leaves a human-readable message (naming the file, record or field and the
 * problem) in a thread-local buffer, read with gh_last_error(). The library never
 * calls exit() and never prints; the CLI decides what to show.
 */
#ifndef GOODHART_COMMON_H
#define GOODHART_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GH_VERSION "0.1.0"

typedef enum gh_status {
    GH_OK = 0,
    GH_ERR_IO = 1,          /* a file could not be opened, read, written or mapped */
    GH_ERR_FORMAT = 2,      /* input is malformed: bad magic, truncated, out of bounds */
    GH_ERR_UNSUPPORTED = 3, /* well-formed but not handled: unknown type, architecture */
    GH_ERR_INVALID_ARG = 4, /* the caller passed something impossible */
    GH_ERR_NOMEM = 5,       /* an allocation failed or a size would overflow */
    GH_ERR_LIMIT = 6,       /* a context, batch or buffer limit was reached */
    GH_ERR_MISMATCH = 7,    /* e.g. a probe applied to a model it was not trained on */
    GH_ERR_NETWORK = 8,     /* an HTTP backend could not be reached or answered badly */
    GH_ERR_CONTEXT = 9,     /* a prompt (a growing conversation) no longer fits the model's context */
} gh_status;

/* The message of the last failure on this thread ("" if none). */
const char *gh_last_error(void);

/* A short constant name of a status ("format error", ...). */
const char *gh_status_str(gh_status s);

/* Records a failure message (printf-style) for gh_last_error() and returns `s`,
 * so that library code can write `return gh_error(GH_ERR_FORMAT, "...", ...)`. */
gh_status gh_error(gh_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prefixes the current error message with "prefix: " (used to add file names). */
void gh_error_prefix(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

void gh_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
