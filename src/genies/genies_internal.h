/* genies_internal.h — what the GENIES files share (internal): a string arena
 * for loaded pairs, atomic file writes, small helpers. */
#ifndef GH_GENIES_INTERNAL_H
#define GH_GENIES_INTERNAL_H

#include <stddef.h>

#include "base/strbuf.h"
#include "goodhart/genies.h"

/* Owned copies of strings, freed together. */
typedef struct gn_arena {
    char **blocks;
    size_t n, cap;
} gn_arena;

char *gn_arena_dup(gn_arena *a, const char *s);
void gn_arena_free(gn_arena *a);

/* Writes len bytes to path through a temporary file beside it and a rename. */
gh_status gn_write_atomic(const char *path, const char *data, size_t len);

/* path = a/b/c joined with '/'; malloc'd. */
char *gn_path(const char *a, const char *b, const char *c, const char *d);

/* 95% percentile bootstrap interval bounds of vals[n] (sorted in place). */
void gn_percentiles(double *vals, int64_t n, double *lo, double *hi);

#endif
