/* goodhart/report.h — self-contained HTML reports with inline SVG plots.
 *
 * Every experiment (Best-of-N, GENIES, probes, ICRL) ends in one HTML file a
 * researcher can open offline, print, or lift figures from for a paper:
 *   - no scripts, no fonts, images or styles fetched from anywhere (a
 *     Content-Security-Policy in the head forbids it even if one slipped in);
 *   - plots are inline SVG; each is also available alone (gh_report_svg) so it
 *     can be saved as a .svg file;
 *   - everything that comes from data (titles, names, cells, labels) is escaped,
 *     so hostile strings cannot inject markup; bytes that are not well-formed
 *     UTF-8 become U+FFFD and control characters are dropped (XML forbids them);
 *   - the output depends only on the input: no timestamps, fixed-precision
 *     coordinates, locale-independent number formatting, so two runs of the same
 *     experiment give byte-identical reports.
 *
 * Usage:
 *     gh_report *r = gh_report_new("Best-of-N on stories260K");
 *     gh_report_heading(r, 1, "Goodhart curves");
 *     gh_report_paragraph(r, "Gold reward of the pick against n ...");
 *     gh_report_plot(r, &plot);
 *     gh_report_table(r, "Summary", 3, header, n_rows, cells);
 *     gh_report_write(r, "run/report.html");
 *     gh_report_free(r);
 *
 * The builder functions copy what they are given, so the caller's strings and
 * arrays need not outlive the call. A failed call leaves the report as it was
 * before it; gh_report_write also refuses to write a report in which an earlier
 * call failed (and returns that failure), so callers may check only the write.
 * A report is not thread-safe; separate reports are independent.
 */
#ifndef GOODHART_REPORT_H
#define GOODHART_REPORT_H

#include "goodhart/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- plots ---------------------------------------------------------------- */

/* Most series in one plot: the palette (Okabe–Ito, colour-blind friendly) has
 * seven colours; series 8..12 reuse them with dashed lines and other markers, so
 * every series stays distinguishable in colour and in greyscale print. */
#define GH_PLOT_MAX_SERIES 12

typedef enum gh_series_kind {
    GH_SERIES_LINE = 0,    /* points joined in the given order, with markers; lo/hi = shaded band */
    GH_SERIES_SCATTER = 1, /* points only; lo/hi = vertical error bars */
} gh_series_kind;

typedef struct gh_series {
    const char *name;    /* legend entry (NULL or "" = not in the legend) */
    gh_series_kind kind;
    size_t n;            /* number of points (0 is allowed: nothing is drawn) */
    const double *x, *y; /* n values each (may be NULL only when n == 0) */
    const double *lo;    /* optional lower/upper confidence bounds of y (both or */
    const double *hi;    /* neither; NULL = none) */
} gh_series;

/* A point whose x or y is not finite, or is <= 0 on a log axis, or whose
 * magnitude exceeds 1e300 (it could not be scaled without overflow), is skipped;
 * a line is broken at a skipped point rather than joined across it. A band or
 * error bar is drawn only where lo and hi are finite as well. */
typedef struct gh_plot {
    const char *title;    /* drawn above the plot (NULL = none) */
    const char *x_label;  /* axis labels (NULL = none) */
    const char *y_label;
    const char *caption;  /* report: figure caption after "Figure k." (NULL = the title) */
    bool log_x;           /* logarithmic x axis (ticks 1,2,4,... when every x is a power
                             of two, as for n = 1,2,4,...,N; else decades) */
    bool log_y;           /* logarithmic y axis */
    size_t n_series;      /* at most GH_PLOT_MAX_SERIES */
    const gh_series *series;
    bool has_ref_y;       /* a dashed horizontal reference line at y = ref_y */
    double ref_y;
    const char *ref_label; /* its label (NULL = none) */
    const char *note;     /* text in the top-left corner of the plot area, e.g.
                             "Spearman ρ = 0.62"; '\n' starts a new line (NULL = none) */
    uint32_t width, height; /* SVG size in px; 0 = 640 x 400 */
} gh_plot;

/* The plot alone as a standalone SVG document (with the xmlns attribute, so it
 * can be saved as a .svg file). *out is malloc'd, NUL-terminated; free() it. */
gh_status gh_report_svg(const gh_plot *p, char **out);

/* ---- reports --------------------------------------------------------------- */

typedef struct gh_report gh_report;

/* A new empty report whose <title> and top heading are `title` (NULL = "Report").
 * Returns NULL only if memory is exhausted (gh_last_error() says so). */
gh_report *gh_report_new(const char *title);
void gh_report_free(gh_report *r);

/* A section heading; level 1..4 (level 1 is one below the report's title). */
gh_status gh_report_heading(gh_report *r, int level, const char *text);

/* Plain text, escaped. A blank line starts a new paragraph; single newlines are
 * kept as spaces. */
gh_status gh_report_paragraph(gh_report *r, const char *text);

/* A table, numbered "Table k." with `caption` (NULL = unnumbered, no caption).
 * header: n_cols strings (NULL = no header row); cells: n_rows * n_cols strings,
 * row by row (a NULL cell is empty). Cells that read as numbers are right-aligned. */
gh_status gh_report_table(gh_report *r, const char *caption, size_t n_cols,
                          const char *const *header, size_t n_rows, const char *const *cells);

/* A figure (inline SVG), numbered "Figure k." with the plot's caption. */
gh_status gh_report_plot(gh_report *r, const gh_plot *p);

/* Monospaced text kept as is (escaped): logs, command lines, configuration. */
gh_status gh_report_preformatted(gh_report *r, const char *text);

/* Writes the report to `path` atomically: a temporary file in the same folder,
 * flushed, then renamed over `path`, so readers never see half a report. */
gh_status gh_report_write(const gh_report *r, const char *path);

#ifdef __cplusplus
}
#endif
#endif
