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

/* The categories of the shifts in order of first appearance into cats
 * [sh->n]; returns how many. */
int32_t gn_categories(const gh_genies_shifts *sh, const char **cats);

/* Mean of the finite differential elicitations (elicitation) or generalization
 * accuracies over the unique shifts of category cat (NULL: every unique shift);
 * NaN when none is finite. n_shifts (may be NULL): the unique shifts in scope;
 * n_used (may be NULL): the finite values averaged. */
double gn_mean_over(const gh_genies_shifts *sh, const gh_genies_row *rows, const char *cat, bool elicitation,
                    int32_t *n_shifts, int32_t *n_used);

#endif
