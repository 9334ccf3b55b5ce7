/* metrics.c — GENIES metrics: accuracy, Brier score, the two RMS calibration
 * errors, evaluation files, the per-shift table and its CSV (see genies.h).
 *
 * The published RMS calibration error draws a random orientation for each
 * pair from Python's `random` module seeded with 42, so reproducing it means
 * reproducing CPython's Mersenne Twister (MT19937 seeded by init_by_array, and
 * random.choice's rejection sampling on getrandbits). The formula's quirks are
 * kept on purpose: the label mean of *all* pairs is compared with each bin's
 * mean probability, bins of fewer than 20 are dropped, bins are not weighted,
 * and a probability of exactly 1 falls past the last bin (numpy.digitize). The
 * corrected variant fixes all four. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "base/file.h"
#include "base/rng.h"
#include "genies/genies_internal.h"

/* ---- CPython's Mersenne Twister ------------------------------------------- */

enum { MT_N = 624, MT_M = 397 };

typedef struct mt19937 {
    uint32_t s[MT_N];
    int i;
} mt19937;

static void mt_init_genrand(mt19937 *m, uint32_t seed) {
    m->s[0] = seed;
    for (int k = 1; k < MT_N; k++) m->s[k] = 1812433253u * (m->s[k - 1] ^ (m->s[k - 1] >> 30)) + (uint32_t)k;
    m->i = MT_N;
}

/* Python's random.seed(int): the integer's 32-bit words as the key of init_by_array. */
static void mt_seed_py(mt19937 *m, uint32_t seed) {
    const uint32_t key[1] = {seed};
    const int klen = 1;
    mt_init_genrand(m, 19650218u);
    uint32_t *s = m->s;
    int i = 1, j = 0;
    for (int k = MT_N > klen ? MT_N : klen; k; k--) {
        s[i] = (s[i] ^ ((s[i - 1] ^ (s[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
        i++, j++;
        if (i >= MT_N) { s[0] = s[MT_N - 1]; i = 1; }
        if (j >= klen) j = 0;
    }
    for (int k = MT_N - 1; k; k--) {
        s[i] = (s[i] ^ ((s[i - 1] ^ (s[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= MT_N) { s[0] = s[MT_N - 1]; i = 1; }
    }
    s[0] = 0x80000000u;
    m->i = MT_N;
}

static uint32_t mt_next(mt19937 *m) {
    if (m->i >= MT_N) {
        for (int k = 0; k < MT_N; k++) {
            uint32_t y = (m->s[k] & 0x80000000u) | (m->s[(k + 1) % MT_N] & 0x7fffffffu);
            m->s[k] = m->s[(k + MT_M) % MT_N] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        m->i = 0;
    }
    uint32_t y = m->s[m->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

void gh_genies_py_choice01(uint32_t seed, int64_t n, uint8_t *out) {
    mt19937 m;
    mt_seed_py(&m, seed);
    for (int64_t k = 0; k < n; k++) {
        /* _randbelow(2): k = (2).bit_length() = 2 bits, redrawn while >= 2 */
        uint32_t r;
        do r = mt_next(&m) >> 30;
        while (r >= 2);
        out[k] = (uint8_t)r;
    }
}

/* ---- metrics of one evaluation ------------------------------------------------ */

double gh_genies_accuracy(const double *p, int64_t n) {
    if (n <= 0) return NAN;
    double c = 0;
    for (int64_t i = 0; i < n; i++) c += p[i] > 0.5 ? 1.0 : p[i] == 0.5 ? 0.5 : 0.0;
    return c / (double)n;
}

double gh_genies_brier(const double *p, int64_t n) {
    if (n <= 0) return NAN;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (1 - p[i]) * (1 - p[i]);
    return s / (double)n;
}

/* numpy's pairwise summation (np.add.reduce on a contiguous float64 array),
 * so the published formula's bin means match numpy to the last bit. */
static double np_pairwise_sum(const double *a, int64_t n) {
    if (n < 8) {
        double r = 0.;
        for (int64_t i = 0; i < n; i++) r += a[i];
        return r;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        int64_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return np_pairwise_sum(a, n2) + np_pairwise_sum(a + n2, n - n2);
}

double gh_genies_rms_published(const double *p, int64_t n) {
    if (n <= 0) return NAN;
    uint8_t *lab = malloc((size_t)n);
    if (!lab) return NAN;
    gh_genies_py_choice01(42, n, lab);
    double lab_mean = 0;
    for (int64_t i = 0; i < n; i++) lab_mean += lab[i];
    lab_mean /= (double)n;
    /* numpy.linspace(0, 1, 6): i * 0.2, the last edge exactly 1 */
    double edges[6];
    for (int b = 0; b < 5; b++) edges[b] = (double)b * (1.0 / 5.0);
    edges[5] = 1.0;
    double *in_bin = malloc((size_t)n * sizeof *in_bin);
    if (!in_bin) { free(lab); return NAN; }
    double scores[5];
    int n_scores = 0;
    for (int b = 1; b <= 5; b++) {
        int64_t cnt = 0;
        for (int64_t i = 0; i < n; i++) {
            double q = lab[i] ? p[i] : 1 - p[i];
            if (edges[b - 1] <= q && q < edges[b]) in_bin[cnt++] = q;
        }
        if (cnt < 20) continue;
        double d = lab_mean - np_pairwise_sum(in_bin, cnt) / (double)cnt;
        scores[n_scores++] = d * d;
    }
    free(in_bin);
    free(lab);
    return n_scores ? sqrt(np_pairwise_sum(scores, n_scores) / n_scores) : NAN;
}

double gh_genies_rms_corrected(const double *p, int64_t n) {
    if (n <= 0) return NAN;
    double sum_q[5] = {0}, sum_y[5] = {0};
    int64_t cnt[5] = {0};
    for (int64_t i = 0; i < n; i++)
        for (int o = 0; o < 2; o++) {
            double q = o ? 1 - p[i] : p[i], y = o ? 0 : 1;
            int b = (int)(q * 5);
            if (b > 4) b = 4;
            if (b < 0) b = 0;
            sum_q[b] += q;
            sum_y[b] += y;
            cnt[b]++;
        }
    double acc = 0;
    for (int b = 0; b < 5; b++) {
        if (!cnt[b]) continue;
        double d = sum_y[b] / (double)cnt[b] - sum_q[b] / (double)cnt[b];
        acc += (double)cnt[b] / (double)(2 * n) * d * d;
    }
    return sqrt(acc);
}

/* ---- evaluation files ------------------------------------------------------------ */

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

gh_status gh_genies_eval_read(const char *path, gh_genies_eval *out) {
    memset(out, 0, sizeof *out);
    out->accuracy = out->rms_stored = NAN;
    char *text = NULL;
    size_t len = 0;
    gh_status s = gh_read_file(path, (size_t)256 << 20, &text, &len);
    if (s) return s;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return gh_error(GH_ERR_FORMAT, "%s: not a JSON object", path);
    }
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "eval_accuracy");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "eval_probabilities");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "eval_rms_calibration_error");
    if (a && !cJSON_IsNumber(a)) s = gh_error(GH_ERR_FORMAT, "%s: \"eval_accuracy\" is not a number", path);
    if (!s && r && cJSON_IsNumber(r)) out->rms_stored = r->valuedouble;
    if (!s && pr) {
        if (!cJSON_IsArray(pr)) s = gh_error(GH_ERR_FORMAT, "%s: \"eval_probabilities\" is not an array", path);
        int n = s ? 0 : cJSON_GetArraySize(pr);
        if (!s && n > 0 && !(out->p = malloc((size_t)n * sizeof *out->p))) s = gh_error(GH_ERR_NOMEM, "out of memory");
        int k = 0;
        for (const cJSON *x = s ? NULL : pr->child; x && !s; x = x->next, k++) {
            if (!cJSON_IsNumber(x) || !(x->valuedouble >= 0 && x->valuedouble <= 1))
                s = gh_error(GH_ERR_FORMAT, "%s: eval_probabilities[%d] is not a probability in [0, 1]", path, k);
            else out->p[k] = x->valuedouble;
        }
        out->n = s ? 0 : n;
    }
    if (!s) {
        if (a) out->accuracy = a->valuedouble;
        else if (out->n) out->accuracy = gh_genies_accuracy(out->p, out->n);
        else s = gh_error(GH_ERR_FORMAT, "%s: neither \"eval_accuracy\" nor \"eval_probabilities\"", path);
    }
    cJSON_Delete(j);
    if (s) gh_genies_eval_free(out);
    return s;
}

void gh_genies_eval_free(gh_genies_eval *e) {
    free(e->p);
    e->p = NULL;
    e->n = 0;
}

/* ---- the table ------------------------------------------------------------------- */

gh_genies_metrics_params gh_genies_default_metrics_params(void) {
    gh_genies_metrics_params p = {0};
    p.baseline = "zero_shot";
    p.n_boot = 1000;
    return p;
}

static void warn(const gh_genies_metrics_params *p, const char *fmt, const char *a) {
    if (!p->warn) return;
    char msg[1200];
    snprintf(msg, sizeof msg, fmt, a);
    p->warn(p->warn_user, msg);
}

/* Reads DIR/evaluations/METHOD/MODEL-TRAIN/EVAL.json if it exists: *found says. */
static gh_status read_eval(const char *dir, const char *method, const char *model, const char *train,
                           const char *eval, gh_genies_eval *e, bool *found) {
    *found = false;
    size_t n = strlen(model) + strlen(train) + 2, m = strlen(eval) + 6;
    char *md = malloc(n), *ev = malloc(m);
    char *path = NULL;
    gh_status s = GH_OK;
    if (md && ev) {
        snprintf(md, n, "%s-%s", model, train);
        snprintf(ev, m, "%s.json", eval);
        char *ed = gn_path(dir, "evaluations", method, NULL);
        path = ed ? gn_path(ed, md, ev, NULL) : NULL;
        free(ed);
    }
    if (!path) s = gh_error(GH_ERR_NOMEM, "out of memory");
    else if (file_exists(path)) {
        s = gh_genies_eval_read(path, e);
        *found = !s;
    }
    free(md);
    free(ev);
    free(path);
    return s;
}

static char *eval_path(const char *dir, const char *method, const char *model, const char *train, const char *eval) {
    char md[512], ev[300];
    snprintf(md, sizeof md, "%s-%s", model, train);
    snprintf(ev, sizeof ev, "%s.json", eval);
    char *ed = gn_path(dir, "evaluations", method, NULL);
    char *p = ed ? gn_path(ed, md, ev, NULL) : NULL;
    free(ed);
    return p;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* TTC: the study's file, else the best ID accuracy on the reference among the methods in evaluations/. */
static gh_status ttc_for(const char *dir, const gh_genies_shift *x, const gh_genies_metrics_params *p, double *acc,
                         char *name, size_t name_size) {
    *acc = NAN;
    name[0] = 0;
    char fn[300];
    snprintf(fn, sizeof fn, "%s.json", x->target);
    char *path = gn_path(dir, "target_tuned_capability", p->model, fn);
    if (!path) return gh_error(GH_ERR_NOMEM, "out of memory");
    gh_status s = GH_OK;
    if (file_exists(path)) {
        char *text = NULL;
        size_t len = 0;
        s = gh_read_file(path, (size_t)16 << 20, &text, &len);
        cJSON *j = s ? NULL : cJSON_ParseWithLength(text, len);
        free(text);
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "best_intervention_accuracy");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "best_intervention");
        if (!s && (!cJSON_IsNumber(a) || !cJSON_IsString(b)))
            s = gh_error(GH_ERR_FORMAT, "%s: needs \"best_intervention\" (a string) and \"best_intervention_accuracy\" (a number)", path);
        if (!s) {
            *acc = a->valuedouble;
            snprintf(name, name_size, "%s", b->valuestring);
        }
        cJSON_Delete(j);
        free(path);
        return s;
    }
    free(path);
    /* every method directory, in name order so ties go to the first name */
    char *ed = gn_path(dir, "evaluations", NULL, NULL);
    DIR *d = ed ? opendir(ed) : NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.') continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                char **nn = realloc(names, cap * sizeof *nn);
                if (!nn) break;
                names = nn;
            }
            if (!(names[n] = strdup(de->d_name))) break;
            n++;
        }
        closedir(d);
    }
    free(ed);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && !s; i++) {
        if (!strcmp(names[i], "random")) continue;
        gh_genies_eval e;
        bool found;
        s = read_eval(dir, names[i], p->model, x->target_reference, x->target_reference, &e, &found);
        if (!s && found && (isnan(*acc) || e.accuracy > *acc)) {
            *acc = e.accuracy;
            snprintf(name, name_size, "%s", names[i]);
        }
        if (found) gh_genies_eval_free(&e);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    if (!s && isnan(*acc)) warn(p, "no target-tuned capability for %s (no target_tuned_capability file, no ID evaluation)", x->target);
    return s;
}

/* Bootstrap of accuracy and differential elicitation over the target pairs,
 * resampled jointly for the method and the baseline when both have the same pairs. */
static void bootstrap(gh_genies_row *r, const gh_genies_eval *g, const gh_genies_eval *b, int32_t n_boot,
                      uint64_t seed, uint64_t stream) {
    r->acc_ci = (gh_ci){r->generalization_accuracy, NAN, NAN};
    r->de_ci = (gh_ci){r->differential_elicitation, NAN, NAN};
    if (n_boot <= 0 || !g->n) return;
    double *va = malloc((size_t)n_boot * sizeof *va), *vd = malloc((size_t)n_boot * sizeof *vd);
    if (!va || !vd) { free(va); free(vd); return; }
    bool paired = b && b->n == g->n;
    int64_t nd = 0;
    for (int32_t k = 0; k < n_boot; k++) {
        gh_rng rng;
        gh_rng_seed(&rng, seed ^ (stream * 0x9e3779b97f4a7c15ull), (uint64_t)k);
        double ca = 0, cb = 0;
        for (int64_t i = 0; i < g->n; i++) {
            int64_t j = (int64_t)(gh_rng_next(&rng) % (uint64_t)g->n);
            double q = g->p[j];
            ca += q > 0.5 ? 1 : q == 0.5 ? 0.5 : 0;
            if (paired) { q = b->p[j]; cb += q > 0.5 ? 1 : q == 0.5 ? 0.5 : 0; }
        }
        va[k] = ca / (double)g->n;
        double a0 = paired ? cb / (double)g->n : r->baseline_accuracy;
        double de = (va[k] - a0) / r->target_tuned_capability;
        if (isfinite(de)) vd[nd++] = de;
    }
    gn_percentiles(va, n_boot, &r->acc_ci.lo, &r->acc_ci.hi);
    if (nd) gn_percentiles(vd, nd, &r->de_ci.lo, &r->de_ci.hi);
    free(va);
    free(vd);
}

gh_status gh_genies_metrics(const char *dir, const gh_genies_shifts *sh, const gh_genies_metrics_params *p,
                            gh_genies_row *rows) {
    if (!p || !p->model || !p->method) return gh_error(GH_ERR_INVALID_ARG, "genies metrics: the model and method names are required");
    const char *base = p->baseline ? p->baseline : "zero_shot";
    gh_status s = GH_OK;
    for (int32_t i = 0; i < sh->n && !s; i++) {
        const gh_genies_shift *x = &sh->shifts[i];
        gh_genies_row *r = &rows[i];
        memset(r, 0, sizeof *r);
        r->shift = x;
        r->generalization_accuracy = r->baseline_accuracy = r->target_tuned_capability = r->source_id_accuracy = NAN;
        r->rms_published = r->rms_corrected = r->brier = r->differential_elicitation = NAN;
        snprintf(r->baseline_intervention, sizeof r->baseline_intervention, "%s", base);
        gh_genies_eval g = {0}, b = {0}, sid = {0};
        bool fg = false, fb = false, fs = false;
        s = read_eval(dir, p->method, p->model, x->source, x->target, &g, &fg);
        if (!s) s = read_eval(dir, base, p->model, x->source, x->target, &b, &fb);
        if (!s && !fb) s = read_eval(dir, base, p->model, x->target, x->target, &b, &fb);
        if (!s) s = read_eval(dir, p->method, p->model, x->source, x->source, &sid, &fs);
        if (!s) s = ttc_for(dir, x, p, &r->target_tuned_capability, r->ttc_intervention, sizeof r->ttc_intervention);
        if (!s) {
            char *path;
            if (!fg && (path = eval_path(dir, p->method, p->model, x->source, x->target))) { warn(p, "missing %s", path); free(path); }
            if (!fb && (path = eval_path(dir, base, p->model, x->source, x->target))) { warn(p, "missing %s", path); free(path); }
            if (!fs && (path = eval_path(dir, p->method, p->model, x->source, x->source))) { warn(p, "missing %s", path); free(path); }
            if (fg) {
                r->generalization_accuracy = g.accuracy;
                r->n_target = g.n;
                if (g.n) {
                    r->rms_published = gh_genies_rms_published(g.p, g.n);
                    r->rms_corrected = gh_genies_rms_corrected(g.p, g.n);
                    r->brier = gh_genies_brier(g.p, g.n);
                } else {
                    r->rms_published = g.rms_stored;
                }
            }
            if (fb) r->baseline_accuracy = b.accuracy;
            if (fs) r->source_id_accuracy = sid.accuracy;
            r->differential_elicitation = (r->generalization_accuracy - r->baseline_accuracy) / r->target_tuned_capability;
            bootstrap(r, &g, fb ? &b : NULL, fg ? p->n_boot : 0, p->seed, (uint64_t)i);
        }
        gh_genies_eval_free(&g);
        gh_genies_eval_free(&b);
        gh_genies_eval_free(&sid);
    }
    return s;
}

/* ---- CSV ------------------------------------------------------------------------------ */

void gh_genies_pyrepr(double v, char *buf, size_t size) {
    if (isnan(v)) { snprintf(buf, size, "nan"); return; }
    if (isinf(v)) { snprintf(buf, size, v > 0 ? "inf" : "-inf"); return; }
    /* the shortest digits that read back as v */
    char e[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v) break;
    }
    /* e is [-]D[.DDD]e[+-]XX */
    const char *q = e;
    bool neg = *q == '-';
    if (neg) q++;
    char digits[24];
    int nd = 0;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') digits[nd++] = *q;
    int ex = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    char out[64];
    int o = 0;
    if (neg) out[o++] = '-';
    if (ex >= -4 && ex < 16) {
        if (ex >= 0) {
            for (int k = 0; k <= ex; k++) out[o++] = k < nd ? digits[k] : '0';
            out[o++] = '.';
            if (nd > ex + 1)
                for (int k = ex + 1; k < nd; k++) out[o++] = digits[k];
            else out[o++] = '0';
        } else {
            out[o++] = '0';
            out[o++] = '.';
            for (int k = 0; k < -ex - 1; k++) out[o++] = '0';
            for (int k = 0; k < nd; k++) out[o++] = digits[k];
        }
        out[o] = 0;
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int k = 1; k < nd; k++) out[o++] = digits[k];
        }
        out[o] = 0;
        snprintf(out + o, sizeof out - (size_t)o, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
    }
    snprintf(buf, size, "%s", out);
}

static void csv_num(FILE *f, double v) {
    if (isnan(v)) return;
    char b[40];
    gh_genies_pyrepr(v, b, sizeof b);
    fputs(b, f);
}

/* A CSV field, quoted when it has a comma, quote or line break. */
static void csv_str(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) { fputs(s, f); return; }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

gh_status gh_genies_write_csv(FILE *f, const gh_genies_row *rows, int32_t n) {
    fputs("source,target,target_reference,generalization_accuracy,baseline_accuracy,baseline_intervention,"
          "target_tuned_capability,target_tuned_capability_intervention,source_ID_accuracy,RMS_calibration_error,"
          "differential_elicitation\n", f);
    for (int32_t i = 0; i < n; i++) {
        const gh_genies_row *r = &rows[i];
        csv_str(f, r->shift->source); fputc(',', f);
        csv_str(f, r->shift->target); fputc(',', f);
        csv_str(f, r->shift->target_reference); fputc(',', f);
        csv_num(f, r->generalization_accuracy); fputc(',', f);
        csv_num(f, r->baseline_accuracy); fputc(',', f);
        csv_str(f, r->baseline_intervention); fputc(',', f);
        csv_num(f, r->target_tuned_capability); fputc(',', f);
        csv_str(f, r->ttc_intervention); fputc(',', f);
        csv_num(f, r->source_id_accuracy); fputc(',', f);
        csv_num(f, r->rms_published); fputc(',', f);
        csv_num(f, r->differential_elicitation); fputc('\n', f);
    }
    return ferror(f) ? gh_error(GH_ERR_IO, "cannot write the CSV") : GH_OK;
}

gh_status gh_genies_write_csv_full(FILE *f, const char *method, const gh_genies_row *rows, int32_t n) {
    fputs("method,source,target,target_reference,category,n_target,generalization_accuracy,accuracy_lo,accuracy_hi,"
          "baseline_accuracy,target_tuned_capability,target_tuned_capability_intervention,differential_elicitation,"
          "elicitation_lo,elicitation_hi,source_ID_accuracy,rms_calibration_error_published,"
          "rms_calibration_error_corrected,brier_score\n", f);
    for (int32_t i = 0; i < n; i++) {
        const gh_genies_row *r = &rows[i];
        csv_str(f, method); fputc(',', f);
        csv_str(f, r->shift->source); fputc(',', f);
        csv_str(f, r->shift->target); fputc(',', f);
        csv_str(f, r->shift->target_reference); fputc(',', f);
        csv_str(f, r->shift->category); fputc(',', f);
        fprintf(f, "%lld,", (long long)r->n_target);
        const double v[] = {r->generalization_accuracy, r->acc_ci.lo, r->acc_ci.hi, r->baseline_accuracy,
                            r->target_tuned_capability};
        for (size_t k = 0; k < sizeof v / sizeof *v; k++) { csv_num(f, v[k]); fputc(',', f); }
        csv_str(f, r->ttc_intervention); fputc(',', f);
        const double w[] = {r->differential_elicitation, r->de_ci.lo, r->de_ci.hi, r->source_id_accuracy,
                            r->rms_published, r->rms_corrected, r->brier};
        for (size_t k = 0; k < sizeof w / sizeof *w; k++) { csv_num(f, w[k]); fputc(k + 1 < sizeof w / sizeof *w ? ',' : '\n', f); }
    }
    return ferror(f) ? gh_error(GH_ERR_IO, "cannot write the CSV") : GH_OK;
}

/* ---- per category and the GENIES mean ---------------------------------------------------- */

int32_t gn_categories(const gh_genies_shifts *sh, const char **cats) {
    int32_t nc = 0;
    for (int32_t i = 0; i < sh->n; i++) {
        const char *c = sh->shifts[i].category;
        bool seen = false;
        for (int32_t k = 0; k < nc && !seen; k++) seen = !strcmp(cats[k], c);
        if (!seen) cats[nc++] = c;
    }
    return nc;
}

double gn_mean_over(const gh_genies_shifts *sh, const gh_genies_row *rows, const char *cat, bool elicitation,
                    int32_t *n_shifts, int32_t *n_used) {
    double s = 0;
    int32_t n = 0, ns = 0;
    for (int32_t i = 0; i < sh->n; i++) {
        if (sh->shifts[i].duplicate) continue;
        if (cat && strcmp(sh->shifts[i].category, cat)) continue;
        ns++;
        double v = elicitation ? rows[i].differential_elicitation : rows[i].generalization_accuracy;
        if (isfinite(v)) { s += v; n++; }
    }
    if (n_shifts) *n_shifts = ns;
    if (n_used) *n_used = n;
    return n ? s / n : NAN;
}

gh_status gh_genies_write_summary_csv(FILE *f, const gh_genies_shifts *sh, int32_t n_methods,
                                      const char *const *methods, gh_genies_row *const *rows) {
    const char **cats = calloc((size_t)(sh->n ? sh->n : 1), sizeof *cats);
    if (!cats) return gh_error(GH_ERR_NOMEM, "out of memory");
    int32_t nc = gn_categories(sh, cats);
    fputs("method,scope,category,n_shifts,n_elicitation,mean_generalization_accuracy,"
          "mean_differential_elicitation\n", f);
    for (int32_t m = 0; m < n_methods; m++)
        for (int32_t k = 0; k <= nc; k++) {
            const char *c = k < nc ? cats[k] : NULL;
            int32_t ns, nu;
            double de = gn_mean_over(sh, rows[m], c, true, &ns, &nu);
            double ga = gn_mean_over(sh, rows[m], c, false, NULL, NULL);
            csv_str(f, methods[m]);
            fputs(c ? ",category," : ",all,", f);
            csv_str(f, c ? c : "");
            fprintf(f, ",%d,%d,", ns, nu);
            csv_num(f, ga);
            fputc(',', f);
            csv_num(f, de);
            fputc('\n', f);
        }
    free(cats);
    return ferror(f) ? gh_error(GH_ERR_IO, "cannot write the CSV") : GH_OK;
}
