/* Tests of the report library: the HTML document (escaping, no external
 * resources, numbering, atomic writes and their errors), the SVG plots
 * (skipped non-finite points, empty and constant data, well-formed XML checked
 * by Python's parser, byte-stable output) and the tick algorithm.
 *
 * With GH_REPORT_EXAMPLE_DIR set, the example report (synthetic Best-of-N
 * curves) and its plots as .svg files are also written there, for a person to
 * look at. */
#include "testutil.h"

#include "goodhart/report.h"
#include "report/report_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const HOSTILE = "<script>alert(1)</script>&\"'";
static const char *const HOSTILE_ESC = "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;";

/* ---- helpers ---------------------------------------------------------------- */

static char *lower(const char *s) {
    char *c = strdup(s);
    for (char *p = c; *p; p++) *p = (char)tolower((unsigned char)*p);
    return c;
}

/* Checks one SVG text: no "nan"/"inf" anywhere, every number in it within
 * [-lim, lim] (coordinates stay on the canvas; tick labels are small). */
static void check_svg_numbers(const char *svg, double lim) {
    char *l = lower(svg);
    if (strstr(l, "nan") || strstr(l, "inf")) {
        fprintf(stderr, "non-finite text in SVG:\n%s\n", svg);
        fail();
    }
    free(l);
    for (const char *p = svg; *p; p++) {
        if (!isdigit((unsigned char)*p) || (p > svg && (isalnum((unsigned char)p[-1]) || p[-1] == '.' || p[-1] == '#')))
            continue;
        char *end;
        double v = strtod(p, &end);
        if (!(isfinite(v) && fabs(v) <= lim)) {
            fprintf(stderr, "number %.40s out of range\n", p);
            fail();
        }
        p = end - 1;
    }
}

/* Well-formed XML according to Python's parser (an independent check). */
static void check_xml(const char *text, const char *name) {
    const char *path = tu_tmp(name);
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import xml.etree.ElementTree as E,sys; E.parse(sys.argv[1])\" '%s'", path);
    int st;
    char *out = tu_run(cmd, &st);
    if (st != 0) fprintf(stderr, "%s is not well-formed XML:\n%s\n", path, out);
    assert_int_equal(st, 0);
    free(out);
}

/* The checker itself rejects broken XML (so check_xml can fail). */
static void test_xml_checker(void **state) {
    (void)state;
    const char *path = tu_tmp("broken.svg");
    const char *broken = "<svg><g></svg>";
    assert_int_equal(tu_write_file(path, broken, strlen(broken)), 0);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import xml.etree.ElementTree as E,sys; E.parse(sys.argv[1])\" '%s'", path);
    int st;
    char *out = tu_run(cmd, &st);
    assert_int_not_equal(st, 0);
    free(out);
}

static char *svg_of(const gh_plot *p) {
    char *s = NULL;
    assert_ok(gh_report_svg(p, &s));
    assert_non_null(s);
    return s;
}

/* ---- the example: synthetic Best-of-N results -------------------------------- */

enum { N_RULES = 5, N_N = 8, N_SCATTER = 240, N_BETA = 7 };
static const char *const k_rules[N_RULES] = {"bon", "rbon-kl", "rbon-wd", "random", "oracle"};

typedef struct example {
    double n[N_N];
    double gold[N_RULES][N_N], lo[N_RULES][N_N], hi[N_RULES][N_N];
    double proxy_s[N_SCATTER], gold_s[N_SCATTER];
    double beta[N_BETA], sweep[2][N_BETA];
    gh_series curves[N_RULES], scatter[1], betas[2];
    gh_plot plots[3];
} example;

/* A fixed-seed generator so the example is the same every time. */
static double lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0;
}

static void make_example(example *e) {
    memset(e, 0, sizeof *e);
    for (int j = 0; j < N_N; j++) e->n[j] = (double)(1 << j);
    for (int r = 0; r < N_RULES; r++)
        for (int j = 0; j < N_N; j++) {
            double l = (double)j, g;
            switch (r) {
            case 0: g = 0.30 + 0.11 * l - 0.016 * l * l; break; /* over-optimised */
            case 1: g = 0.30 + 0.08 * l - 0.006 * l * l; break;
            case 2: g = 0.30 + 0.07 * l - 0.004 * l * l; break;
            case 3: g = 0.30; break;
            default: g = 0.30 + 0.10 * l - 0.002 * l * l; break;
            }
            double w = 0.09 / sqrt(1.0 + l);
            e->gold[r][j] = g;
            e->lo[r][j] = g - w;
            e->hi[r][j] = g + w;
        }
    e->gold[2][5] = NAN; /* a missing point: the line and band break there */
    uint64_t s = 42;
    for (int i = 0; i < N_SCATTER; i++) {
        double q = lcg(&s), z = lcg(&s) - 0.5;
        e->proxy_s[i] = 2.0 * q - 0.4 + 0.3 * z;
        e->gold_s[i] = q + 0.6 * (lcg(&s) - 0.5);
    }
    e->proxy_s[7] = INFINITY;
    e->gold_s[9] = NAN;
    static const double betas[N_BETA] = {0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0};
    for (int i = 0; i < N_BETA; i++) {
        e->beta[i] = betas[i];
        double lb = log10(betas[i]);
        e->sweep[0][i] = 0.62 - 0.05 * (lb + 1.2) * (lb + 1.2);
        e->sweep[1][i] = 0.60 - 0.03 * (lb + 1.6) * (lb + 1.6);
    }
    for (int r = 0; r < N_RULES; r++)
        e->curves[r] = (gh_series){.name = k_rules[r], .kind = GH_SERIES_LINE, .n = N_N, .x = e->n,
                                   .y = e->gold[r], .lo = e->lo[r], .hi = e->hi[r]};
    e->scatter[0] = (gh_series){.name = "candidates", .kind = GH_SERIES_SCATTER, .n = N_SCATTER,
                                .x = e->proxy_s, .y = e->gold_s};
    e->betas[0] = (gh_series){.name = "rbon-kl", .kind = GH_SERIES_LINE, .n = N_BETA, .x = e->beta, .y = e->sweep[0]};
    e->betas[1] = (gh_series){.name = "rbon-wd", .kind = GH_SERIES_LINE, .n = N_BETA, .x = e->beta, .y = e->sweep[1]};
    e->plots[0] = (gh_plot){.title = "Gold reward of the pick vs n",
                            .x_label = "n (candidates considered)", .y_label = "gold reward",
                            .caption = "Goodhart curves: mean gold reward of the selected sample; shaded: 95% CI.",
                            .log_x = true, .n_series = N_RULES, .series = e->curves,
                            .has_ref_y = true, .ref_y = 0.30, .ref_label = "random pick"};
    e->plots[1] = (gh_plot){.title = "Proxy vs gold, all candidates", .x_label = "proxy reward",
                            .y_label = "gold reward", .n_series = 1, .series = e->scatter,
                            .note = "Spearman \xCF\x81 = 0.62\nn = 238"};
    e->plots[2] = (gh_plot){.title = "\xCE\xB2 sweep (dev split)", .x_label = "\xCE\xB2", .y_label = "gold reward at n = 128",
                            .log_x = true, .n_series = 2, .series = e->betas};
}

static gh_report *build_example(example *e) {
    make_example(e);
    gh_report *r = gh_report_new("Best-of-N on stories260K (synthetic example)");
    assert_non_null(r);
    assert_ok(gh_report_heading(r, 1, "What this shows"));
    assert_ok(gh_report_paragraph(r, "Each rule picks one of n samples.\nThe gold reward of the pick is "
                                     "averaged over prompts.\n\nA second paragraph; hostile text follows:"));
    assert_ok(gh_report_paragraph(r, HOSTILE));
    assert_ok(gh_report_heading(r, 2, HOSTILE));
    assert_ok(gh_report_plot(r, &e->plots[0]));
    assert_ok(gh_report_plot(r, &e->plots[1]));
    assert_ok(gh_report_plot(r, &e->plots[2]));
    const char *hdr[4] = {"rule", "best \xCE\xB2", "gold @128", "proxy @128"};
    const char *cells[] = {"bon", "", "0.26 \xC2\xB1 0.03", "1.71",
                           "rbon-kl", "0.03", "0.49 \xC2\xB1 0.03", "1.32",
                           "rbon-wd", "0.01", "0.52 \xC2\xB1 0.02", "1.28",
                           HOSTILE, "-", "", "-1e-3"};
    assert_ok(gh_report_table(r, "Summary on the test split", 4, hdr, 4, cells));
    assert_ok(gh_report_preformatted(r, "goodhart bon run --n 128 --seed 1\n  <tabs>\tand & ampersands"));
    return r;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_ticks_linear(void **state) {
    (void)state;
    gh_ticks t;
    gh_ticks_linear(0, 0.93, 6, &t);
    assert_int_equal(t.n, 5);
    const char *want[5] = {"0", "0.2", "0.4", "0.6", "0.8"};
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(t.label[i], want[i]);
        assert_true(fabs(t.v[i] - 0.2 * (double)i) < 1e-12);
    }
    /* the padded range the plot uses for data in [0, 0.93] gives the same ticks */
    gh_ticks_linear(-0.0465, 0.9765, 8, &t);
    assert_int_equal(t.n, 5);
    assert_string_equal(t.label[4], "0.8");

    gh_ticks_linear(-3.7, 2.2, 8, &t); /* step 1; minus signs typeset */
    assert_int_equal(t.n, 6);
    assert_string_equal(t.label[0], "\xE2\x88\x92" "3");
    assert_string_equal(t.label[3], "0");
    assert_string_equal(t.label[5], "2");

    gh_ticks_linear(0, 12345, 8, &t);
    assert_int_equal(t.n, 7);
    assert_string_equal(t.label[1], "2000");

    gh_ticks_linear(0.0010, 0.0015, 8, &t); /* step 1e-4: labels with four decimals */
    assert_int_equal(t.n, 6);
    assert_string_equal(t.label[0], "0.0010");
    assert_string_equal(t.label[5], "0.0015");

    /* a range too narrow for its magnitude: the two ends, still distinct */
    gh_ticks_linear(1e17, 1e17 + 64, 8, &t);
    assert_true(t.n == 2 && t.v[0] < t.v[1]);

    /* property sweep over many ranges: 2..max ticks, inside the range, equal
     * 1-2-5 steps, distinct labels */
    uint64_t s = 7;
    int n_over = 0;
    for (int it = 0; it < 2000; it++) {
        double a = (lcg(&s) - 0.5) * pow(10, (int)(lcg(&s) * 12) - 6);
        double w = pow(10, (lcg(&s) * 10) - 5) * (0.5 + lcg(&s));
        size_t max = 4 + (size_t)(lcg(&s) * 6);
        gh_ticks_linear(a, a + w, max, &t);
        /* more than max only where the coarser 1-2-5 step would leave one tick */
        assert_true(t.n >= 2 && (double)t.n <= 2.5 * (double)max + 1);
        if (t.n > max) n_over++;
        double step = t.v[1] - t.v[0];
        double m = step / pow(10, floor(log10(step)));
        /* the step is measured from k * step values, exact to an ulp of the value */
        double tol = 1e-6 + 1e-13 * fmax(fabs(t.v[0]), fabs(t.v[1])) / step;
        assert_true(fabs(m - 1) < tol || fabs(m - 2) < tol || fabs(m - 5) < tol || fabs(m - 10) < tol);
        for (size_t i = 0; i < t.n; i++) {
            assert_true(t.v[i] >= a - 1e-9 * w && t.v[i] <= a + w + 1e-9 * w);
            if (i) {
                /* k * step is exact to an ulp of the value, which can be large next to the step */
                assert_true(fabs((t.v[i] - t.v[i - 1]) - step) < 1e-6 * step + 1e-14 * fabs(t.v[i]));
                assert_string_not_equal(t.label[i], t.label[i - 1]);
            }
        }
    }
    assert_true(n_over < 100); /* the exception stays one */
    /* the case that needs it: max 4 over [-44357.7, -35404.9] */
    gh_ticks_linear(-44357.7, -35404.9, 4, &t);
    assert_int_equal(t.n, 5);
    assert_string_equal(t.label[0], "\xE2\x88\x92" "44000");
}

static void test_ticks_log(void **state) {
    (void)state;
    gh_ticks t;
    gh_ticks_log(0.8, 160, true, 9, &t); /* n = 1..128 padded */
    assert_int_equal(t.n, 8);
    const char *want[8] = {"1", "2", "4", "8", "16", "32", "64", "128"};
    for (size_t i = 0; i < 8; i++) assert_string_equal(t.label[i], want[i]);

    gh_ticks_log(0.8, 1300, true, 6, &t); /* 1..1024, 11 powers: every other */
    assert_int_equal(t.n, 6);
    assert_string_equal(t.label[0], "1");
    assert_string_equal(t.label[1], "4");
    assert_string_equal(t.label[5], "1024");

    gh_ticks_log(0.8, 1300, false, 8, &t); /* decades */
    assert_int_equal(t.n, 4);
    assert_string_equal(t.label[0], "1");
    assert_string_equal(t.label[3], "1000");

    gh_ticks_log(0.0008, 1.3, false, 8, &t);
    assert_int_equal(t.n, 4);
    assert_string_equal(t.label[0], "0.001");
    assert_string_equal(t.label[3], "1");

    gh_ticks_log(1.5, 9, false, 8, &t); /* under a decade: 2 and 5 */
    assert_int_equal(t.n, 2);
    assert_string_equal(t.label[0], "2");
    assert_string_equal(t.label[1], "5");

    gh_ticks_log(3, 4.5, false, 8, &t); /* narrower still: a linear grid */
    assert_true(t.n >= 2);
    assert_true(t.v[0] >= 3 && t.v[t.n - 1] <= 4.5);

    gh_ticks_log(1e-9, 1e9, false, 8, &t); /* 19 decades, thinned */
    assert_true(t.n >= 2 && t.n <= 8);
    assert_string_equal(t.label[t.n - 1], "1e9");
}

static void test_format_and_escape(void **state) {
    (void)state;
    gh_strbuf b = {0};
    gh_rbuf_fixed(&b, -0.004, 2);
    gh_strbuf_put(&b, "|");
    gh_rbuf_fixed(&b, 12.345678, 2);
    gh_strbuf_put(&b, "|");
    gh_rbuf_fixed(&b, -7.5, 0);
    gh_strbuf_put(&b, "|");
    gh_rbuf_fixed(&b, NAN, 2);
    gh_strbuf_put(&b, "|");
    gh_rbuf_fixed(&b, 3e20, 2);
    assert_string_equal(b.p, "0.00|12.35|-8|0.00|3.000e20");
    b.len = 0;
    /* invalid UTF-8 and control characters become U+FFFD; text is cut on a code point */
    gh_rbuf_escape(&b, "a\xff" "b\x01" "c\xCE\xB2" "d", 0);
    assert_string_equal(b.p, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xCE\xB2" "d");
    b.len = 0;
    gh_rbuf_escape(&b, "\xCE\xB2\xCE\xB2\xCE\xB2\xCE\xB2\xCE\xB2", 4);
    assert_string_equal(b.p, "\xCE\xB2\xCE\xB2\xCE\xB2\xE2\x80\xA6");
    b.len = 0;
    gh_rbuf_escape(&b, HOSTILE, 0);
    assert_string_equal(b.p, HOSTILE_ESC);
    b.len = 0;
    gh_rbuf_escape(&b, "\xE0\x80\xAF\xED\xA0\x80", 0); /* overlong '/', a surrogate */
    assert_null(strchr(b.p, '/'));
    gh_strbuf_free(&b);
}

static void test_report_document(void **state) {
    (void)state;
    example *e = malloc(sizeof *e);
    gh_report *r = build_example(e);
    const char *path = tu_tmp("report.html");
    assert_ok(gh_report_write(r, path));
    gh_report_free(r);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 1000);
    char *html = tu_read_file(path, NULL);
    assert_non_null(html);
    char *l = lower(html);
    /* nothing executable, nothing fetched */
    assert_null(strstr(l, "<script"));
    assert_null(strstr(l, "http://"));
    assert_null(strstr(l, "https://"));
    assert_null(strstr(l, "url("));
    assert_null(strstr(l, "@import"));
    assert_null(strstr(l, " src="));
    assert_null(strstr(l, " href="));
    free(l);
    /* hostile text appears escaped, in the paragraph, the heading and the table */
    assert_null(strstr(html, "alert(1)</script>"));
    size_t n_esc = 0;
    for (const char *p = html; (p = strstr(p, HOSTILE_ESC)); p++) n_esc++;
    assert_int_equal(n_esc, 3);
    assert_contains(html, "<h2>What this shows</h2>");
    assert_contains(html, "<p>Each rule picks one of n samples. The gold reward");
    assert_contains(html, "</p>\n<p>A second paragraph;");
    assert_contains(html, "<span class=\"label\">Figure 1.</span> Goodhart curves");
    assert_contains(html, "<span class=\"label\">Figure 3.</span> \xCE\xB2 sweep");
    assert_contains(html, "<span class=\"label\">Table 1.</span> Summary");
    assert_contains(html, "<th class=\"num\">gold @128</th>"); /* "0.26 ± 0.03" reads as a number */
    assert_contains(html, "<td>-</td>");                        /* column 2 has "-": text */
    assert_contains(html, "&lt;tabs&gt;\tand &amp; ampersands</pre>");
    assert_contains(html, "<style>");
    assert_contains(html, "Content-Security-Policy");

    /* each inline SVG: no non-finite values, coordinates on the canvas, well-formed */
    int n_svg = 0;
    for (char *p = html; (p = strstr(p, "<svg")); n_svg++) {
        char *end = strstr(p, "</svg>");
        assert_non_null(end);
        end += 6;
        char c = *end;
        *end = '\0';
        check_svg_numbers(p, 2000);
        char name[32];
        snprintf(name, sizeof name, "inline%d.svg", n_svg);
        check_xml(p, name);
        *end = c;
        p = end;
    }
    assert_int_equal(n_svg, 3);
    free(html);
    free(e);
}

static void test_svg_alone(void **state) {
    (void)state;
    example *e = malloc(sizeof *e);
    make_example(e);
    const char *dir = getenv("GH_REPORT_EXAMPLE_DIR");
    for (int i = 0; i < 3; i++) {
        char *svg = svg_of(&e->plots[i]);
        assert_true(strncmp(svg, "<?xml", 5) == 0);
        assert_contains(svg, "xmlns=\"http://www.w3.org/2000/svg\"");
        check_svg_numbers(svg + 60, 2000); /* past the xmlns URL's "www" */
        char name[32];
        snprintf(name, sizeof name, "plot%d.svg", i);
        check_xml(svg, name);
        if (dir && *dir) {
            char path[4096];
            snprintf(path, sizeof path, "%s/figure-%d.svg", dir, i + 1);
            tu_write_file(path, svg, strlen(svg));
        }
        free(svg);
    }
    /* the log-x power-of-two plot has 1..128 ticks; the scatter plot shows the note */
    char *svg = svg_of(&e->plots[0]);
    assert_contains(svg, ">128</text>");
    assert_contains(svg, "stroke-dasharray=\"5 4\""); /* the reference line */
    assert_contains(svg, "fill-opacity=\"0.16\"");    /* bands */
    free(svg);
    svg = svg_of(&e->plots[1]);
    assert_contains(svg, ">Spearman \xCF\x81 = 0.62</text>");
    assert_contains(svg, ">n = 238</text>");
    free(svg);
    if (dir && *dir) {
        gh_report *r = build_example(e);
        char path[4096];
        snprintf(path, sizeof path, "%s/example.html", dir);
        assert_ok(gh_report_write(r, path));
        gh_report_free(r);
    }
    free(e);
}

/* NaN, inf, a log axis with non-positive x, a series of NaN only: skipped, and
 * what remains is drawn with finite coordinates. */
static void test_nonfinite_skipped(void **state) {
    (void)state;
    double x[6] = {0, -1, 1, 2, NAN, 8}, y[6] = {1, 2, INFINITY, 0.5, 3, -INFINITY};
    double lo[6] = {0, 1, 2, NAN, 2, 0}, hi[6] = {2, 3, INFINITY, 1, 4, 1};
    double xn[2] = {NAN, NAN}, yn[2] = {1, 2};
    gh_series s[3] = {
        {.name = "line", .kind = GH_SERIES_LINE, .n = 6, .x = x, .y = y, .lo = lo, .hi = hi},
        {.name = "sc", .kind = GH_SERIES_SCATTER, .n = 6, .x = x, .y = y, .lo = lo, .hi = hi},
        {.name = "none", .kind = GH_SERIES_LINE, .n = 2, .x = xn, .y = yn},
    };
    for (int log_x = 0; log_x < 2; log_x++)
        for (int log_y = 0; log_y < 2; log_y++) {
            gh_plot p = {.title = "non-finite", .log_x = log_x, .log_y = log_y, .n_series = 3, .series = s,
                         .has_ref_y = true, .ref_y = NAN};
            char *svg = svg_of(&p);
            check_svg_numbers(svg + 60, 2000);
            check_xml(svg, "nonfinite.svg");
            /* the scatter's error bars, where some point has x, lo and hi placeable */
            if (!(log_x && log_y)) assert_contains(svg, "stroke-opacity=\"0.55\"");
            else assert_null(strstr(svg, "stroke-opacity=\"0.55\""));
            free(svg);
        }
}

static void test_empty_and_constant(void **state) {
    (void)state;
    double cx[4] = {5, 5, 5, 5}, cy[4] = {3, 3, 3, 3}, z[3] = {0, 0, 0};
    double big[2] = {-1e300, 1e300}, tiny[2] = {1e-300, 2e-300};
    gh_series empty = {.name = "empty", .kind = GH_SERIES_LINE, .n = 0};
    gh_series cons = {.name = "constant", .kind = GH_SERIES_SCATTER, .n = 4, .x = cx, .y = cy, .lo = cy, .hi = cy};
    gh_series zeros = {.name = "zeros", .kind = GH_SERIES_LINE, .n = 3, .x = z, .y = z};
    gh_series ext = {.name = "extreme", .kind = GH_SERIES_LINE, .n = 2, .x = big, .y = tiny};
    gh_plot plots[] = {
        {.title = "no series"},
        {.n_series = 1, .series = &empty},
        {.title = "empty, log", .log_x = true, .log_y = true, .n_series = 1, .series = &empty},
        {.title = "constant", .n_series = 1, .series = &cons},
        {.title = "constant, log", .log_x = true, .log_y = true, .n_series = 1, .series = &cons},
        {.title = "zeros", .n_series = 1, .series = &zeros},
        {.title = "tiny canvas", .width = 10, .height = 10, .n_series = 1, .series = &cons},
    };
    for (size_t i = 0; i < sizeof plots / sizeof plots[0]; i++) {
        char *svg = svg_of(&plots[i]);
        check_svg_numbers(svg + 60, 2000);
        check_xml(svg, "edge.svg");
        free(svg);
    }
    /* extreme magnitudes: finite output (labels may be large), well-formed */
    gh_plot p = {.title = "extreme", .n_series = 1, .series = &ext, .log_y = true};
    char *svg = svg_of(&p);
    check_svg_numbers(svg + 60, 1e301);
    check_xml(svg, "extreme.svg");
    free(svg);
}

/* Twelve series get seven colours, then dashes; a thirteenth is refused, as
 * are impossible series; a failed call leaves the report unwritable with the
 * reason. */
static void test_series_and_errors(void **state) {
    (void)state;
    double x[2] = {1, 2}, y[2] = {1, 2};
    gh_series s[13];
    char names[13][24];
    for (int i = 0; i < 13; i++) {
        snprintf(names[i], sizeof names[i], "series %d", i);
        s[i] = (gh_series){.name = names[i], .kind = GH_SERIES_LINE, .n = 2, .x = x, .y = y};
    }
    gh_plot p = {.title = "many", .n_series = 12, .series = s};
    char *svg = svg_of(&p);
    const char *colours[7] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"};
    for (int i = 0; i < 7; i++) assert_contains(svg, colours[i]);
    assert_contains(svg, "stroke-dasharray=\"6 3\"");
    assert_contains(svg, ">series 11</text>");
    free(svg);

    char *out = (char *)1;
    p.n_series = 13;
    assert_int_equal(gh_report_svg(&p, &out), GH_ERR_LIMIT);
    assert_null(out);
    assert_contains(gh_last_error(), "13 series");
    p.n_series = 1;
    s[0].x = NULL;
    assert_int_equal(gh_report_svg(&p, &out), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "series 0 \"series 0\"");
    s[0].x = x;
    s[0].lo = y;
    assert_int_equal(gh_report_svg(&p, &out), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "both lo and hi");
    s[0].lo = NULL;
    assert_int_equal(gh_report_svg(NULL, &out), GH_ERR_INVALID_ARG);

    gh_report *r = gh_report_new("t");
    assert_ok(gh_report_paragraph(r, "fine"));
    assert_int_equal(gh_report_heading(r, 9, "deep"), GH_ERR_INVALID_ARG);
    assert_int_equal(gh_report_table(r, "no columns", 0, NULL, 0, NULL), GH_ERR_INVALID_ARG);
    const char *path = tu_tmp("refused.html");
    assert_int_equal(gh_report_write(r, path), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), path);
    assert_contains(gh_last_error(), "level 9"); /* the first failure is the one reported */
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0);
    gh_report_free(r);
}

static void test_write_errors_and_atomicity(void **state) {
    (void)state;
    gh_report *r = gh_report_new(NULL);
    assert_ok(gh_report_paragraph(r, "x"));
    const char *bad = tu_tmp("no-such-dir/sub/report.html");
    assert_int_equal(gh_report_write(r, bad), GH_ERR_IO);
    assert_contains(gh_last_error(), bad);
    assert_contains(gh_last_error(), "No such file or directory");
    /* a directory in the way: the temporary file is removed again */
    const char *dir = tu_tmp("atomic");
    assert_int_equal(mkdir(dir, 0755), 0);
    char target[4096];
    snprintf(target, sizeof target, "%s/occupied", dir);
    assert_int_equal(mkdir(target, 0755), 0);
    assert_int_equal(gh_report_write(r, target), GH_ERR_IO);
    assert_contains(gh_last_error(), target);
    /* overwrite an existing report; only the report is left in the folder */
    snprintf(target, sizeof target, "%s/r.html", dir);
    assert_int_equal(tu_write_file(target, "old", 3), 0);
    assert_ok(gh_report_write(r, target));
    assert_ok(gh_report_write(r, target));
    char *html = tu_read_file(target, NULL);
    assert_contains(html, "<title>Report</title>");
    free(html);
    struct stat st;
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.') continue;
        n++;
        assert_null(strstr(de->d_name, ".tmp-"));
    }
    closedir(d);
    assert_int_equal(n, 2); /* r.html and the directory "occupied" */
    gh_report_free(r);
}

static void test_byte_identical(void **state) {
    (void)state;
    example *e = malloc(sizeof *e);
    const char *p1 = tu_tmp("a.html"), *p2 = tu_tmp("b.html");
    gh_report *r = build_example(e);
    assert_ok(gh_report_write(r, p1));
    gh_report_free(r);
    r = build_example(e); /* a second, independent build of the same input */
    assert_ok(gh_report_write(r, p2));
    gh_report_free(r);
    size_t n1, n2;
    char *a = tu_read_file(p1, &n1), *b = tu_read_file(p2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a);
    free(b);
    free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ticks_linear),
        cmocka_unit_test(test_ticks_log),
        cmocka_unit_test(test_format_and_escape),
        cmocka_unit_test(test_xml_checker),
        cmocka_unit_test(test_report_document),
        cmocka_unit_test(test_svg_alone),
        cmocka_unit_test(test_nonfinite_skipped),
        cmocka_unit_test(test_empty_and_constant),
        cmocka_unit_test(test_series_and_errors),
        cmocka_unit_test(test_write_errors_and_atomicity),
        cmocka_unit_test(test_byte_identical),
    };
    return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
