/* report.c — the GENIES HTML report: the paper's table (rows shifts, columns
 * methods, differential elicitation with zero-shot accuracy and TTC beside it),
 * category and GENIES means, a per-category chart, and per-method detail
 * tables (accuracy with intervals, source ID accuracy, both RMS calibration
 * errors, Brier score). Built on goodhart/report.h, so it is self-contained and
 * byte-identical for identical inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "genies/genies_internal.h"
#include "goodhart/report.h"

/* Locale-independent number cells. */
static void fmt(char *b, size_t n, double v, int digits) {
    if (isnan(v)) snprintf(b, n, "–");
    else snprintf(b, n, "%.*f", digits, v);
}

static void fmt_ci(char *b, size_t n, gh_ci c) {
    if (isnan(c.value)) { snprintf(b, n, "–"); return; }
    if (isnan(c.lo)) snprintf(b, n, "%.3f", c.value);
    else snprintf(b, n, "%.3f [%.3f, %.3f]", c.value, c.lo, c.hi);
}

gh_status gh_genies_report(const char *path, const char *title, const gh_genies_shifts *sh, int32_t n_methods,
                           const char *const *methods, gh_genies_row *const *rows) {
    if (n_methods < 1) return gh_error(GH_ERR_INVALID_ARG, "genies report: no methods");
    gh_report *r = gh_report_new(title ? title : "GENIES");
    if (!r) return gh_last_error()[0] ? GH_ERR_NOMEM : gh_error(GH_ERR_NOMEM, "out of memory");
    gh_report_paragraph(r,
        "Each method is trained on the source distribution's preference pairs and tested on the target's. "
        "Differential elicitation = (A - A0) / TTC, where A is the method's accuracy on the target, A0 the "
        "zero-shot accuracy on the target and TTC the target-tuned capability (the best accuracy of any method "
        "trained and tested on the target, or on its reference distribution). Intervals are bootstrap 95% "
        "intervals over the target's pairs, resampled jointly with zero-shot's.");

    const char **cats = calloc((size_t)sh->n + 1, sizeof *cats);
    int nc = cats ? gn_categories(sh, cats) : 0;
    size_t ncol = 4 + (size_t)n_methods;
    size_t nrow = (size_t)sh->n + (size_t)nc + 1;
    const char **header = calloc(ncol, sizeof *header);
    char **cells = calloc(nrow * ncol, sizeof *cells);
    char **hbuf = calloc((size_t)n_methods, sizeof *hbuf);
    gh_status s = cats && header && cells && hbuf ? GH_OK : gh_error(GH_ERR_NOMEM, "out of memory");
    if (!s) {
        header[0] = "shift (source → target)";
        header[1] = "category";
        header[2] = "zero-shot accuracy";
        header[3] = "TTC";
        for (int32_t m = 0; m < n_methods; m++) {
            size_t l = strlen(methods[m]) + 32;
            if ((hbuf[m] = malloc(l))) snprintf(hbuf[m], l, "%s: elicitation", methods[m]);
            header[4 + m] = hbuf[m] ? hbuf[m] : methods[m];
        }
        size_t row = 0;
        char b[128];
#define CELL(rw, c, str) (cells[(rw) * ncol + (c)] = strdup(str))
        for (int32_t i = 0; i < sh->n; i++, row++) {
            const gh_genies_shift *x = &sh->shifts[i];
            snprintf(b, sizeof b, "%.50s → %.50s%s", x->source, x->target, x->duplicate ? " (repeat)" : "");
            CELL(row, 0, b);
            CELL(row, 1, x->category);
            fmt(b, sizeof b, rows[0][i].baseline_accuracy, 3);
            CELL(row, 2, b);
            fmt(b, sizeof b, rows[0][i].target_tuned_capability, 3);
            CELL(row, 3, b);
            for (int32_t m = 0; m < n_methods; m++) {
                fmt_ci(b, sizeof b, rows[m][i].de_ci);
                CELL(row, 4 + m, b);
            }
        }
        for (int k = 0; k <= nc; k++, row++) {
            const char *c = k < nc ? cats[k] : NULL;
            snprintf(b, sizeof b, "%s%.60s", c ? "mean: " : "GENIES mean", c ? (*c ? c : "(none)") : "");
            CELL(row, 0, b);
            CELL(row, 1, c ? c : "all");
            CELL(row, 2, "");
            CELL(row, 3, "");
            for (int32_t m = 0; m < n_methods; m++) {
                fmt(b, sizeof b, gn_mean_over(sh, rows[m], c, true, NULL, NULL), 3);
                CELL(row, 4 + m, b);
            }
        }
#undef CELL
        for (size_t i = 0; i < nrow * ncol; i++)
            if (!cells[i]) s = gh_error(GH_ERR_NOMEM, "out of memory");
        if (!s) s = gh_report_heading(r, 1, "Differential elicitation");
        if (!s) s = gh_report_table(r, "Differential elicitation per shift (rows) and method (columns), with the "
                                       "zero-shot accuracy and target-tuned capability of each target; then the "
                                       "mean per category and over all shifts.",
                                    ncol, header, nrow, (const char *const *)cells);
    }

    /* the chart: per category (and GENIES), one stick per method from 0 to the mean elicitation */
    if (!s && nc > 0) {
        int nx = nc + 1;
        double *xs = calloc((size_t)n_methods * nx, sizeof *xs), *ys = calloc((size_t)n_methods * nx, sizeof *ys);
        double *lo = calloc((size_t)n_methods * nx, sizeof *lo), *hi = calloc((size_t)n_methods * nx, sizeof *hi);
        gh_series *ser = calloc((size_t)n_methods, sizeof *ser);
        gh_strbuf note = {0};
        if (!xs || !ys || !lo || !hi || !ser) s = gh_error(GH_ERR_NOMEM, "out of memory");
        for (int32_t m = 0; m < n_methods && !s && m < GH_PLOT_MAX_SERIES; m++) {
            for (int k = 0; k < nx; k++) {
                size_t j = (size_t)m * nx + k;
                double off = n_methods > 1 ? -0.3 + 0.6 * m / (n_methods - 1) : 0;
                xs[j] = k + 1 + off;
                ys[j] = gn_mean_over(sh, rows[m], k < nc ? cats[k] : NULL, true, NULL, NULL);
                lo[j] = ys[j] < 0 ? ys[j] : 0;
                hi[j] = ys[j] < 0 ? 0 : ys[j];
            }
            ser[m] = (gh_series){methods[m], GH_SERIES_SCATTER, (size_t)nx, xs + (size_t)m * nx,
                                 ys + (size_t)m * nx, lo + (size_t)m * nx, hi + (size_t)m * nx};
        }
        gh_strbuf_put(&note, "Mean differential elicitation per shift category and over all GENIES shifts; each method is "
                             "a stick from 0 to its mean (methods side by side within a category). Categories: ");
        for (int k = 0; k < nx; k++)
            gh_strbuf_printf(&note, "%s%d = %.40s", k ? ", " : "", k + 1, k < nc ? (*cats[k] ? cats[k] : "(none)") : "GENIES mean");
        gh_strbuf_put(&note, ".");
        if (!s && note.oom) s = gh_error(GH_ERR_NOMEM, "out of memory");
        if (!s) {
            gh_plot pl = {0};
            pl.title = "Mean differential elicitation per category";
            pl.x_label = "category (numbered as in the caption)";
            pl.y_label = "differential elicitation";
            pl.caption = note.p;
            pl.n_series = (size_t)(n_methods < GH_PLOT_MAX_SERIES ? n_methods : GH_PLOT_MAX_SERIES);
            pl.series = ser;
            pl.has_ref_y = true;
            pl.ref_y = 0;
            pl.width = 760;
            pl.height = 440;
            s = gh_report_heading(r, 1, "Per category");
            if (!s) s = gh_report_plot(r, &pl);
        }
        gh_strbuf_free(&note);
        free(xs); free(ys); free(lo); free(hi); free(ser);
    }

    /* per-method detail */
    const char *dh[8] = {"shift", "accuracy A [95% CI]", "source ID accuracy", "elicitation [95% CI]",
                         "RMS calibration (published)", "RMS calibration (corrected)", "Brier", "pairs"};
    for (int32_t m = 0; m < n_methods && !s; m++) {
        char **dc = calloc((size_t)sh->n * 8, sizeof *dc);
        if (!dc) { s = gh_error(GH_ERR_NOMEM, "out of memory"); break; }
        char b[128];
        for (int32_t i = 0; i < sh->n; i++) {
            const gh_genies_row *w = &rows[m][i];
            char **c = dc + (size_t)i * 8;
            snprintf(b, sizeof b, "%.50s → %.50s", sh->shifts[i].source, sh->shifts[i].target);
            c[0] = strdup(b);
            fmt_ci(b, sizeof b, (gh_ci){w->generalization_accuracy, w->acc_ci.lo, w->acc_ci.hi});
            c[1] = strdup(b);
            fmt(b, sizeof b, w->source_id_accuracy, 3); c[2] = strdup(b);
            fmt_ci(b, sizeof b, (gh_ci){w->differential_elicitation, w->de_ci.lo, w->de_ci.hi});
            c[3] = strdup(b);
            fmt(b, sizeof b, w->rms_published, 3); c[4] = strdup(b);
            fmt(b, sizeof b, w->rms_corrected, 3); c[5] = strdup(b);
            fmt(b, sizeof b, w->brier, 3); c[6] = strdup(b);
            snprintf(b, sizeof b, "%lld", (long long)w->n_target); c[7] = strdup(b);
        }
        for (size_t i = 0; i < (size_t)sh->n * 8; i++)
            if (!dc[i]) s = gh_error(GH_ERR_NOMEM, "out of memory");
        char cap[200];
        snprintf(cap, sizeof cap, "%.60s: per-shift metrics (generalization mean %.3f).", methods[m],
                 gn_mean_over(sh, rows[m], NULL, false, NULL, NULL));
        if (!s) s = gh_report_heading(r, 2, methods[m]);
        if (!s) s = gh_report_table(r, cap, 8, dh, (size_t)sh->n, (const char *const *)dc);
        for (size_t i = 0; i < (size_t)sh->n * 8; i++) free(dc[i]);
        free(dc);
    }
    if (!s) s = gh_report_write(r, path);
    if (cells)
        for (size_t i = 0; i < nrow * ncol; i++) free(cells[i]);
    free(cells);
    if (hbuf)
        for (int32_t m = 0; m < n_methods; m++) free(hbuf[m]);
    free(hbuf);
    free(header);
    free(cats);
    gh_report_free(r);
    return s;
}
