/* stats.c — the sycophancy evaluations' shared pieces: JSON Lines reading with
 * line numbers, Wilson intervals for rates, percentile bootstrap for means. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonl.h"
#include "base/rng.h"
#include "syco/syco_internal.h"

void syco_lines_free(syco_lines *l) {
    for (int64_t i = 0; i < l->n; i++) cJSON_Delete(l->docs[i]);
    free(l->docs);
    free(l->line);
    memset(l, 0, sizeof *l);
}

static gh_status keep_line(void *user, const char *path, int64_t line, const cJSON *obj) {
    (void)path;
    syco_lines *out = user;
    if (out->n % 64 == 0) {
        int64_t cap = out->n + 64;
        cJSON **nd = realloc(out->docs, (size_t)cap * sizeof *nd);
        if (nd) out->docs = nd;
        int64_t *nl = realloc(out->line, (size_t)cap * sizeof *nl);
        if (nl) out->line = nl;
        if (!nd || !nl) return gh_error(GH_ERR_NOMEM, "out of memory");
    }
    cJSON *copy = cJSON_Duplicate(obj, 1);
    if (!copy) return gh_error(GH_ERR_NOMEM, "out of memory");
    out->docs[out->n] = copy;
    out->line[out->n++] = line;
    return GH_OK;
}

gh_status syco_lines_read(const char *path, syco_lines *out) {
    memset(out, 0, sizeof *out);
    gh_status s = gh_jsonl_each(path, (size_t)1 << 30, keep_line, out, NULL);
    if (!s && out->n == 0) s = gh_error(GH_ERR_FORMAT, "%s: no records", path);
    if (s) syco_lines_free(out);
    return s;
}

gh_status syco_string(const char *path, int64_t line, const cJSON *obj, const char *name, const char **out) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!x) return gh_error(GH_ERR_FORMAT, "%s:%lld: field \"%s\" is missing", path, (long long)line, name);
    if (!cJSON_IsString(x)) return gh_error(GH_ERR_FORMAT, "%s:%lld: field \"%s\" is not a string", path, (long long)line, name);
    if (!*x->valuestring) return gh_error(GH_ERR_FORMAT, "%s:%lld: field \"%s\" is empty", path, (long long)line, name);
    *out = x->valuestring;
    return GH_OK;
}

gh_syco_interval gh_syco_wilson(int64_t k, int64_t n) {
    if (n <= 0) return (gh_syco_interval){NAN, NAN, NAN};
    const double z = 1.959963984540054, p = (double)k / (double)n, nn = (double)n;
    double den = 1 + z * z / nn;
    double centre = (p + z * z / (2 * nn)) / den;
    double half = z / den * sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn));
    double lo = centre - half, hi = centre + half;
    return (gh_syco_interval){p, lo < 0 ? 0 : lo, hi > 1 ? 1 : hi};
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

gh_syco_interval gh_syco_bootstrap_mean(const double *x, int64_t n, int32_t reps, uint64_t seed) {
    if (n <= 0) return (gh_syco_interval){NAN, NAN, NAN};
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += x[i];
    gh_syco_interval r = {sum / (double)n, sum / (double)n, sum / (double)n};
    if (reps < 2) return r;
    double *m = malloc((size_t)reps * sizeof *m);
    if (!m) return (gh_syco_interval){r.value, NAN, NAN};
    gh_rng g;
    gh_rng_seed(&g, seed, 0);
    for (int32_t b = 0; b < reps; b++) {
        double s = 0;
        for (int64_t i = 0; i < n; i++) s += x[(int64_t)(gh_rng_uniform(&g) * (double)n)];
        m[b] = s / (double)n;
    }
    qsort(m, (size_t)reps, sizeof *m, cmp_double);
    /* percentiles 2.5 and 97.5 (nearest rank) */
    int32_t lo = (int32_t)floor(0.025 * (reps - 1) + 0.5), hi = (int32_t)floor(0.975 * (reps - 1) + 0.5);
    r.lo = m[lo];
    r.hi = m[hi];
    free(m);
    return r;
}
