/* svg.c — plots as SVG: axes with 1-2-5 (or power-of-two / decade) ticks,
 * lines with markers and shaded confidence bands, scatter points with error
 * bars, a reference line, a corner note and a legend.
 *
 * Layout, in pixels of a W x H canvas (default 640 x 400):
 *
 *     +--------------------------------------------------+
 *     |                      title                       |  top margin
 *     | y |------------------------------|               |
 *     |   | note                         |  legend       |
 *     | l |          plot area           |  (named       |
 *     | a |          PW x PH             |   series)     |
 *     | b |------------------------------|               |
 *     |          tick labels, x label                    |  bottom margin
 *     +--------------------------------------------------+
 *
 * Text widths are estimated (0.6 em a character) since no font is measured;
 * the left margin grows with the longest y tick label and the legend with the
 * longest series name (names too long for it are cut, ending in "…").
 *
 * Every data value goes through one axis transform and is written with two
 * decimals, so the SVG is byte-stable; a point that cannot be placed (not
 * finite, <= 0 on a log axis) is skipped, and the range always has positive
 * width, so no coordinate is ever "nan" or "inf".
 */
#include "report/report_internal.h"

#include <math.h>
#include <string.h>

/* Okabe & Ito's colour-blind-safe palette, without its yellow (too pale on
 * white). Blue and vermillion first: the first two series are the ones most
 * often compared. */
static const char *const k_colour[7] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                        "#E69F00", "#56B4E9", "#000000"};
enum { N_COLOUR = 7, N_MARKER = 5 };

/* Values beyond this cannot be scaled (differences would overflow). */
#define PLOT_MAX_ABS 1e300

typedef struct axis {
    bool log;
    double tlo, thi; /* shown range, in transformed units (log10 on a log axis) */
    gh_ticks ticks;
} axis;

static bool ok(double v, bool log) { return isfinite(v) && fabs(v) <= PLOT_MAX_ABS && (!log || v > 0); }
static double tf(double v, bool log) { return log ? log10(v) : v; }

/* Range of everything that will be drawn along one axis. */
typedef struct extent {
    double min, max;
    bool any;
} extent;

static void extend(extent *e, double v, bool log) {
    if (!ok(v, log)) return;
    if (!e->any || v < e->min) e->min = v;
    if (!e->any || v > e->max) e->max = v;
    e->any = true;
}

/* Picks the shown range (data range plus 5% on each side, in transformed
 * units) and the ticks inside it. An empty range becomes [0, 1] (or [1, 10]);
 * a single value v becomes v ± 10% (or [v/2, 2v]). */
static void axis_fit(axis *a, extent e, bool base2, size_t max_ticks) {
    double lo = e.any ? e.min : (a->log ? 1 : 0), hi = e.any ? e.max : (a->log ? 10 : 1);
    if (lo == hi) {
        if (a->log) { lo /= 2; hi *= 2; }
        else {
            double pad = lo != 0 ? fabs(lo) * 0.1 : 1;
            lo -= pad;
            hi += pad;
        }
    }
    double t0 = tf(lo, a->log), t1 = tf(hi, a->log), pad = (t1 - t0) * 0.05;
    a->tlo = t0 - pad;
    a->thi = t1 + pad;
    if (!(a->thi > a->tlo)) { a->tlo = t0 - 1; a->thi = t0 + 1; } /* unreachable guard */
    if (a->log) gh_ticks_log(pow(10, a->tlo), pow(10, a->thi), base2, max_ticks, &a->ticks);
    else gh_ticks_linear(a->tlo, a->thi, max_ticks, &a->ticks);
}

/* Fraction 0..1 of the way along the axis. */
static double frac(const axis *a, double v) { return (tf(v, a->log) - a->tlo) / (a->thi - a->tlo); }

typedef struct frame {
    double L, T, PW, PH; /* plot area */
    axis x, y;
} frame;

static double px(const frame *f, double v) { return f->L + frac(&f->x, v) * f->PW; }
static double py(const frame *f, double v) { return f->T + f->PH - frac(&f->y, v) * f->PH; }

static void num(gh_strbuf *b, double v) { gh_rbuf_fixed(b, v, 2); }

/* "x y" */
static void xy(gh_strbuf *b, double x, double y) {
    num(b, x);
    gh_strbuf_put(b, " ");
    num(b, y);
}

/* Appends one marker as a closed sub-path centred on (x, y). The shapes have
 * roughly equal area so that no series looks heavier than another. */
static void marker_path(gh_strbuf *b, int shape, double x, double y) {
    gh_strbuf_put(b, "M");
    switch (shape) {
    case 0: /* circle, r = 3.6 */
        xy(b, x - 3.6, y);
        gh_strbuf_put(b, "a3.6 3.6 0 1 0 7.2 0a3.6 3.6 0 1 0 -7.2 0Z");
        break;
    case 1: /* square */
        xy(b, x - 3.2, y - 3.2);
        gh_strbuf_put(b, "h6.4v6.4h-6.4Z");
        break;
    case 2: /* triangle, point up */
        xy(b, x, y - 4.6);
        gh_strbuf_put(b, "l4.2 7h-8.4Z");
        break;
    case 3: /* diamond */
        xy(b, x, y - 4.4);
        gh_strbuf_put(b, "l4.4 4.4l-4.4 4.4l-4.4 -4.4Z");
        break;
    default: /* triangle, point down */
        xy(b, x, y + 4.6);
        gh_strbuf_put(b, "l4.2 -7h-8.4Z");
        break;
    }
}

static const char *dash_attr(size_t i) { return i >= N_COLOUR ? " stroke-dasharray=\"6 3\"" : ""; }

static bool has_name(const gh_series *s) { return s->name && s->name[0]; }

static gh_status check(const gh_plot *p) {
    if (!p) return gh_error(GH_ERR_INVALID_ARG, "plot: NULL plot");
    const char *t = p->title ? p->title : "(untitled)";
    if (p->n_series > GH_PLOT_MAX_SERIES)
        return gh_error(GH_ERR_LIMIT, "plot \"%.60s\": %zu series; at most %d fit in one plot", t,
                        p->n_series, GH_PLOT_MAX_SERIES);
    if (p->n_series && !p->series)
        return gh_error(GH_ERR_INVALID_ARG, "plot \"%.60s\": n_series is %zu but series is NULL", t,
                        p->n_series);
    for (size_t i = 0; i < p->n_series; i++) {
        const gh_series *s = &p->series[i];
        const char *name = s->name ? s->name : "";
        if (s->kind != GH_SERIES_LINE && s->kind != GH_SERIES_SCATTER)
            return gh_error(GH_ERR_INVALID_ARG, "plot \"%.60s\", series %zu \"%.60s\": unknown kind %d",
                            t, i, name, (int)s->kind);
        if (s->n && (!s->x || !s->y))
            return gh_error(GH_ERR_INVALID_ARG, "plot \"%.60s\", series %zu \"%.60s\": %zu points but x or y is NULL",
                            t, i, name, s->n);
        if (!s->lo != !s->hi)
            return gh_error(GH_ERR_INVALID_ARG,
                            "plot \"%.60s\", series %zu \"%.60s\": give both lo and hi for a band, or neither",
                            t, i, name);
    }
    return GH_OK;
}

/* Bands (line series) or error bars (scatter series, and one-point runs of a
 * band) of series i. A band is drawn over each run of consecutive points
 * whose x, lo and hi can all be placed. */
static void draw_band(gh_strbuf *b, const frame *f, const gh_series *s, size_t i) {
    gh_strbuf area = {0}, bars = {0};
    size_t k = 0;
    while (k < s->n) {
        if (!(ok(s->x[k], f->x.log) && ok(s->lo[k], f->y.log) && ok(s->hi[k], f->y.log))) { k++; continue; }
        size_t end = k;
        if (s->kind == GH_SERIES_LINE)
            while (end + 1 < s->n && ok(s->x[end + 1], f->x.log) && ok(s->lo[end + 1], f->y.log) &&
                   ok(s->hi[end + 1], f->y.log))
                end++;
        if (end == k) {
            gh_strbuf_put(&bars, "M");
            xy(&bars, px(f, s->x[k]), py(f, s->lo[k]));
            gh_strbuf_put(&bars, "V");
            num(&bars, py(f, s->hi[k]));
        } else {
            for (size_t j = k; j <= end; j++) {
                gh_strbuf_put(&area, j == k ? "M" : "L");
                xy(&area, px(f, s->x[j]), py(f, s->hi[j]));
            }
            for (size_t j = end + 1; j-- > k;) {
                gh_strbuf_put(&area, "L");
                xy(&area, px(f, s->x[j]), py(f, s->lo[j]));
            }
            gh_strbuf_put(&area, "Z");
        }
        k = end + 1;
    }
    const char *c = k_colour[i % N_COLOUR];
    if (area.len)
        gh_strbuf_printf(b, "<path fill=\"%s\" fill-opacity=\"0.16\" stroke=\"none\" d=\"%s\"/>\n", c, area.p);
    if (bars.len)
        gh_strbuf_printf(b, "<path fill=\"none\" stroke=\"%s\" stroke-opacity=\"0.55\" stroke-width=\"1.2\" d=\"%s\"/>\n",
                       c, bars.p);
    if (area.oom || bars.oom) b->oom = true;
    gh_strbuf_free(&area);
    gh_strbuf_free(&bars);
}

/* The line (broken at points that cannot be placed) and the markers of series i. */
static void draw_series(gh_strbuf *b, const frame *f, const gh_series *s, size_t i) {
    gh_strbuf line = {0}, marks = {0};
    bool open = false;
    for (size_t k = 0; k < s->n; k++) {
        if (!(ok(s->x[k], f->x.log) && ok(s->y[k], f->y.log))) { open = false; continue; }
        double x = px(f, s->x[k]), y = py(f, s->y[k]);
        gh_strbuf_put(&line, open ? "L" : "M");
        xy(&line, x, y);
        open = true;
        marker_path(&marks, (int)(i % N_MARKER), x, y);
    }
    const char *c = k_colour[i % N_COLOUR];
    if (s->kind == GH_SERIES_LINE && line.len)
        gh_strbuf_printf(b, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" stroke-linejoin=\"round\"%s d=\"%s\"/>\n",
                       c, dash_attr(i), line.p);
    if (marks.len) {
        if (s->kind == GH_SERIES_LINE)
            gh_strbuf_printf(b, "<path fill=\"%s\" stroke=\"#fff\" stroke-width=\"0.8\" d=\"%s\"/>\n", c, marks.p);
        else
            gh_strbuf_printf(b, "<path fill=\"%s\" fill-opacity=\"0.55\" stroke=\"%s\" stroke-width=\"0.6\" d=\"%s\"/>\n",
                           c, c, marks.p);
    }
    if (line.oom || marks.oom) b->oom = true;
    gh_strbuf_free(&line);
    gh_strbuf_free(&marks);
}

/* <text x y ...attrs>escaped</text> */
static void text_at(gh_strbuf *b, double x, double y, const char *attrs, const char *s, size_t max_chars) {
    gh_strbuf_put(b, "<text x=\"");
    num(b, x);
    gh_strbuf_put(b, "\" y=\"");
    num(b, y);
    gh_strbuf_printf(b, "\"%s>", attrs);
    gh_rbuf_escape(b, s, max_chars);
    gh_strbuf_put(b, "</text>\n");
}

static size_t chars_fit(double px_width, double font) {
    double n = px_width / (0.6 * font);
    return n < 4 ? 4 : (size_t)n;
}

/* Halo behind text drawn over data, so it stays legible. */
#define HALO " stroke=\"#fff\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\""

gh_status gh_svg_render(const gh_plot *p, bool standalone, gh_strbuf *out) {
    gh_status st = check(p);
    if (st != GH_OK) return st;
    double W = p->width ? p->width : 640, H = p->height ? p->height : 400;
    if (W < 240) W = 240;
    if (H < 160) H = 160;

    /* ranges */
    frame f = {0};
    f.x.log = p->log_x;
    f.y.log = p->log_y;
    extent ex = {0}, ey = {0};
    bool pow2 = true, any_legend = false;
    size_t longest_name = 0;
    for (size_t i = 0; i < p->n_series; i++) {
        const gh_series *s = &p->series[i];
        for (size_t k = 0; k < s->n; k++) {
            if (!ok(s->x[k], f.x.log)) continue;
            bool y_ok = ok(s->y[k], f.y.log);
            bool band_ok = s->lo && ok(s->lo[k], f.y.log) && ok(s->hi[k], f.y.log);
            if (!y_ok && !band_ok) continue;
            extend(&ex, s->x[k], f.x.log);
            int e;
            if (frexp(s->x[k], &e) != 0.5) pow2 = false;
            if (y_ok) extend(&ey, s->y[k], f.y.log);
            if (band_ok) { extend(&ey, s->lo[k], f.y.log); extend(&ey, s->hi[k], f.y.log); }
        }
        if (has_name(s)) {
            any_legend = true;
            size_t n = gh_utf8_chars(s->name);
            if (n > longest_name) longest_name = n;
        }
    }
    bool ref = p->has_ref_y && ok(p->ref_y, f.y.log);
    if (ref) extend(&ey, p->ref_y, f.y.log);

    /* margins; the y ticks are fitted first because their labels set the left margin */
    double T = p->title && p->title[0] ? 38 : 14;
    double B = 30 + (p->x_label && p->x_label[0] ? 18 : 0);
    double legend_w = 0;
    size_t legend_chars = 0;
    if (any_legend) {
        legend_chars = chars_fit(W * 0.34 - 46, 12);
        if (longest_name < legend_chars) legend_chars = longest_name;
        legend_w = 46 + (double)legend_chars * 7.2;
    }
    double PH = H - T - B;
    axis_fit(&f.y, ey, false, PH >= 240 ? 8 : 6);
    size_t ylab = 1;
    for (size_t i = 0; i < f.y.ticks.n; i++) {
        size_t n = gh_utf8_chars(f.y.ticks.label[i]);
        if (n > ylab) ylab = n;
    }
    double L = 14 + (p->y_label && p->y_label[0] ? 18 : 0) + (double)ylab * 6.6;
    double R = any_legend ? legend_w : 18;
    double PW = W - L - R;
    if (PW < 80) PW = 80;
    axis_fit(&f.x, ex, f.x.log && ex.any && pow2, PW >= 400 ? 9 : 6);
    f.L = L;
    f.T = T;
    f.PW = PW;
    f.PH = PH;

    gh_strbuf b = {0};
    if (standalone) gh_strbuf_put(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    gh_strbuf_printf(&b, "<svg%s width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
                       "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n",
                   standalone ? " xmlns=\"http://www.w3.org/2000/svg\"" : "", (int)W, (int)H, (int)W, (int)H);
    if (p->title && p->title[0]) {
        gh_strbuf_put(&b, "<title>");
        gh_rbuf_escape(&b, p->title, 0);
        gh_strbuf_put(&b, "</title>\n");
    }
    gh_strbuf_printf(&b, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", (int)W, (int)H);

    /* grid */
    gh_strbuf_put(&b, "<path stroke=\"#e3e3e3\" stroke-width=\"1\" fill=\"none\" d=\"");
    for (size_t i = 0; i < f.x.ticks.n; i++) {
        gh_strbuf_put(&b, "M");
        xy(&b, px(&f, f.x.ticks.v[i]), T);
        gh_strbuf_put(&b, "V");
        num(&b, T + PH);
    }
    for (size_t i = 0; i < f.y.ticks.n; i++) {
        gh_strbuf_put(&b, "M");
        xy(&b, L, py(&f, f.y.ticks.v[i]));
        gh_strbuf_put(&b, "H");
        num(&b, L + PW);
    }
    gh_strbuf_put(&b, "\"/>\n");

    /* reference line, below the data */
    if (ref) {
        double y = py(&f, p->ref_y);
        gh_strbuf_put(&b, "<path stroke=\"#555\" stroke-width=\"1.2\" stroke-dasharray=\"5 4\" d=\"M");
        xy(&b, L, y);
        gh_strbuf_put(&b, "H");
        num(&b, L + PW);
        gh_strbuf_put(&b, "\"/>\n");
    }

    /* data: all bands first so that no band hides another series' line */
    for (size_t i = 0; i < p->n_series; i++)
        if (p->series[i].lo) draw_band(&b, &f, &p->series[i], i);
    for (size_t i = 0; i < p->n_series; i++) draw_series(&b, &f, &p->series[i], i);

    if (ref && p->ref_label && p->ref_label[0])
        text_at(&b, L + PW - 5, py(&f, p->ref_y) - 5, " text-anchor=\"end\" font-size=\"11\" fill=\"#444\"" HALO,
                p->ref_label, chars_fit(PW * 0.6, 11));

    /* frame, ticks and tick labels */
    gh_strbuf_put(&b, "<rect fill=\"none\" stroke=\"#333\" stroke-width=\"1\" x=\"");
    num(&b, L);
    gh_strbuf_put(&b, "\" y=\"");
    num(&b, T);
    gh_strbuf_put(&b, "\" width=\"");
    num(&b, PW);
    gh_strbuf_put(&b, "\" height=\"");
    num(&b, PH);
    gh_strbuf_put(&b, "\"/>\n<path stroke=\"#333\" stroke-width=\"1\" d=\"");
    for (size_t i = 0; i < f.x.ticks.n; i++) {
        gh_strbuf_put(&b, "M");
        xy(&b, px(&f, f.x.ticks.v[i]), T + PH);
        gh_strbuf_put(&b, "v4");
    }
    for (size_t i = 0; i < f.y.ticks.n; i++) {
        gh_strbuf_put(&b, "M");
        xy(&b, L, py(&f, f.y.ticks.v[i]));
        gh_strbuf_put(&b, "h-4");
    }
    gh_strbuf_put(&b, "\"/>\n<g font-size=\"11\" fill=\"#222\" text-anchor=\"middle\">\n");
    for (size_t i = 0; i < f.x.ticks.n; i++)
        text_at(&b, px(&f, f.x.ticks.v[i]), T + PH + 17, "", f.x.ticks.label[i], 0);
    gh_strbuf_put(&b, "</g>\n<g font-size=\"11\" fill=\"#222\" text-anchor=\"end\">\n");
    for (size_t i = 0; i < f.y.ticks.n; i++)
        text_at(&b, L - 7, py(&f, f.y.ticks.v[i]) + 4, "", f.y.ticks.label[i], 0);
    gh_strbuf_put(&b, "</g>\n");

    /* axis labels and title */
    if (p->x_label && p->x_label[0])
        text_at(&b, L + PW / 2, H - 9, " text-anchor=\"middle\" font-size=\"13\"", p->x_label,
                chars_fit(W - 20, 13));
    if (p->y_label && p->y_label[0]) {
        gh_strbuf_put(&b, "<text transform=\"translate(17 ");
        num(&b, T + PH / 2);
        gh_strbuf_put(&b, ") rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">");
        gh_rbuf_escape(&b, p->y_label, chars_fit(PH, 13));
        gh_strbuf_put(&b, "</text>\n");
    }
    if (p->title && p->title[0])
        text_at(&b, L + PW / 2, 22, " text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\"", p->title,
                chars_fit(W - 20, 15));

    /* note, one <text> per line, over the data with a halo */
    if (p->note && p->note[0]) {
        const char *s = p->note;
        double y = T + 18;
        while (*s) {
            const char *e = strchr(s, '\n');
            size_t n = e ? (size_t)(e - s) : strlen(s);
            char line[512];
            if (n >= sizeof line) n = sizeof line - 1;
            memcpy(line, s, n);
            line[n] = '\0';
            if (n) text_at(&b, L + 8, y, " font-size=\"12\" fill=\"#111\"" HALO, line, chars_fit(PW - 16, 12));
            y += 16;
            s = e ? e + 1 : s + n;
            if (y > T + PH) break;
        }
    }

    /* legend, right of the plot area */
    if (any_legend) {
        double x0 = L + PW + 14, y = T + 10;
        for (size_t i = 0; i < p->n_series; i++) {
            const gh_series *s = &p->series[i];
            if (!has_name(s)) continue;
            const char *c = k_colour[i % N_COLOUR];
            if (s->lo && s->kind == GH_SERIES_LINE) {
                gh_strbuf_put(&b, "<rect x=\"");
                num(&b, x0);
                gh_strbuf_put(&b, "\" y=\"");
                num(&b, y - 5);
                gh_strbuf_printf(&b, "\" width=\"24\" height=\"10\" fill=\"%s\" fill-opacity=\"0.16\"/>\n", c);
            }
            if (s->kind == GH_SERIES_LINE) {
                gh_strbuf_put(&b, "<path fill=\"none\" stroke-width=\"1.8\"");
                gh_strbuf_printf(&b, " stroke=\"%s\"%s d=\"M", c, dash_attr(i));
                xy(&b, x0, y);
                gh_strbuf_put(&b, "h24\"/>\n");
            }
            gh_strbuf_printf(&b, "<path fill=\"%s\"%s d=\"", c,
                           s->kind == GH_SERIES_LINE ? " stroke=\"#fff\" stroke-width=\"0.8\"" : " fill-opacity=\"0.7\"");
            marker_path(&b, (int)(i % N_MARKER), x0 + 12, y);
            gh_strbuf_put(&b, "\"/>\n");
            text_at(&b, x0 + 30, y + 4, "", s->name, legend_chars);
            y += 18;
        }
    }
    gh_strbuf_put(&b, "</svg>\n");

    if (b.oom) {
        gh_strbuf_free(&b);
        return gh_error(GH_ERR_NOMEM, "plot \"%.60s\": out of memory writing the SVG", p->title ? p->title : "");
    }
    gh_strbuf_putn(out, b.p, b.len);
    gh_strbuf_free(&b);
    if (out->oom)
        return gh_error(GH_ERR_NOMEM, "plot \"%.60s\": out of memory writing the SVG", p->title ? p->title : "");
    return GH_OK;
}

gh_status gh_report_svg(const gh_plot *p, char **out) {
    if (!out) return gh_error(GH_ERR_INVALID_ARG, "gh_report_svg: NULL output pointer");
    *out = NULL;
    gh_strbuf b = {0};
    gh_status st = gh_svg_render(p, true, &b);
    if (st != GH_OK) { gh_strbuf_free(&b); return st; }
    *out = b.p;
    return GH_OK;
}
