/* report_internal.h — pieces shared by the HTML builder (html.c) and the SVG
 * plotter (svg.c): escaping into a gh_strbuf, locale-independent number
 * formatting (buf.c), and the axis tick algorithm (ticks.c). Not public; the
 * tests include it to check the tick algorithm directly. */
#ifndef GH_REPORT_INTERNAL_H
#define GH_REPORT_INTERNAL_H

#include "goodhart/report.h"

#include <stdarg.h>

#include "base/strbuf.h"

/* The report builds its text in a gh_strbuf (base/strbuf.h). Its printf is
 * only for integers and strings that need no escaping — never for doubles,
 * whose formatting would follow the locale (use gh_rbuf_fixed). */
/* Appends text escaped for HTML and XML (& < > " '); bytes that are not
 * well-formed UTF-8 become U+FFFD, as do control characters other than tab,
 * newline and carriage return, and U+FFFE/U+FFFF (not allowed in XML 1.0).
 * At most max_chars code points are kept (0 = all); a cut string ends in "…". */
void gh_rbuf_escape(gh_strbuf *b, const char *s, size_t max_chars);
/* Appends v with exactly `decimals` digits after the point (0..12), always with
 * '.', never "-0" and never "nan"/"inf" (a non-finite v is written as 0). Values
 * too large for fixed notation are written as m.mmme±X. */
void gh_rbuf_fixed(gh_strbuf *b, double v, int decimals);
/* Number of code points gh_rbuf_escape would write for s (before cutting). */
size_t gh_utf8_chars(const char *s);

/* Renders a plot as SVG into b (svg.c). standalone: a document of its own, with
 * the xmlns attribute; otherwise an element for inline use in HTML5, which needs
 * no namespace (and so the report holds no URL at all). Checks the plot first;
 * on failure nothing is appended. */
gh_status gh_svg_render(const gh_plot *p, bool standalone, gh_strbuf *b);

/* ---- ticks ----------------------------------------------------------------- */

#define GH_MAX_TICKS 32

typedef struct gh_ticks {
    size_t n;
    double v[GH_MAX_TICKS];      /* tick positions, increasing, inside [lo, hi] */
    char label[GH_MAX_TICKS][32]; /* their labels (UTF-8; '−' for minus) */
} gh_ticks;

/* Ticks on a linear axis spanning [lo, hi] (lo < hi): multiples of the finest
 * step from the 1-2-5 sequence (…, 0.1, 0.2, 0.5, 1, 2, 5, …) that gives at
 * most max_ticks (2..GH_MAX_TICKS) ticks inside the range — unless that step
 * leaves fewer than two, then the next finer one (at most 2.5 * max_ticks + 1
 * ticks). Labels share the number of decimals the step needs. */
void gh_ticks_linear(double lo, double hi, size_t max_ticks, gh_ticks *t);
/* Ticks on a logarithmic axis spanning [lo, hi] (0 < lo < hi). base2: powers
 * of two (every k-th if there are more than max_ticks); otherwise powers of
 * ten, with 2x and 5x multiples added when fewer than two decades fit, and
 * linear ticks when even those are too few. */
void gh_ticks_log(double lo, double hi, bool base2, size_t max_ticks, gh_ticks *t);

#endif
