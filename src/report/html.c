/* html.c — the report document: a title, then headings, paragraphs, tables,
 * figures and preformatted blocks in the order they were added, written as one
 * self-contained HTML5 file.
 *
 * Self-contained means nothing is loaded from anywhere: the stylesheet is
 * inline, plots are inline SVG (no xmlns needed in HTML5, so the file holds no
 * URL at all), there are no scripts, and a Content-Security-Policy forbids any
 * fetch in case a future change lets one slip in. Figures and tables are
 * numbered in order of addition ("Figure 2.", "Table 1.") so that the text can
 * refer to them. Nothing in the file depends on the time or the machine, so
 * reports of repeated runs can be compared byte for byte.
 */
#include "report/report_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct gh_report {
    char *title;
    gh_strbuf body;       /* the blocks, already rendered */
    uint32_t n_figures; /* numbers given so far */
    uint32_t n_tables;
    gh_status failed;   /* first failure of a builder call (GH_OK if none) ... */
    char failure[256];  /* ... and its message, repeated by gh_report_write */
};

/* Print-friendly and plain: serif text, sans-serif figures and tables in the
 * style of a paper (rules above and below tables, captions above tables and
 * below figures), nothing that needs a font from the network. */
static const char k_style[] =
    "body{margin:0;background:#fff;color:#111;font:16px/1.55 Georgia,\"Times New Roman\",serif}\n"
    "main{max-width:54rem;margin:0 auto;padding:1.5rem 1.25rem 3rem}\n"
    "h1,h2,h3,h4,h5{font-family:Helvetica,Arial,sans-serif;line-height:1.25;margin:1.7em 0 .5em}\n"
    "h1{font-size:1.75rem;margin-top:.4em}\n"
    "h2{font-size:1.35rem;border-bottom:1px solid #ddd;padding-bottom:.2em}\n"
    "h3{font-size:1.15rem}h4,h5{font-size:1rem}\n"
    "p{margin:.65em 0}\n"
    "figure{margin:1.6em 0}\n"
    "figure svg{display:block;margin:0 auto;max-width:100%;height:auto}\n"
    "figcaption,caption{font-size:.92rem;color:#222;text-align:left}\n"
    "figcaption{margin:.5em auto 0;max-width:42rem}\n"
    ".label{font-weight:bold}\n"
    ".table{overflow-x:auto;margin:1.6em 0}\n"
    "table{border-collapse:collapse;margin:0 auto;font:14px/1.4 Helvetica,Arial,sans-serif;"
    "border-top:2px solid #111;border-bottom:2px solid #111}\n"
    "caption{caption-side:top;padding-bottom:.45em}\n"
    "thead th{border-bottom:1px solid #111;font-weight:bold}\n"
    "th,td{padding:.28em .75em;text-align:left;vertical-align:top}\n"
    "th.num,td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "tbody tr:nth-child(even){background:#f7f7f7}\n"
    "pre{font:13px/1.45 Menlo,Consolas,\"DejaVu Sans Mono\",monospace;background:#f6f6f6;"
    "border:1px solid #e3e3e3;padding:.7em .9em;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere}\n"
    "footer{max-width:54rem;margin:0 auto;padding:0 1.25rem 2rem;font:12px Helvetica,Arial,sans-serif;color:#777}\n"
    "@media print{body{font-size:11pt}main{max-width:none;padding:0}footer{padding:0}"
    "figure,table,pre{break-inside:avoid}h1,h2,h3,h4,h5{break-after:avoid}"
    "pre,tbody tr:nth-child(even){background:none}}\n";

/* Remembers the first failure so that gh_report_write can refuse and explain. */
static gh_status fail(gh_report *r, gh_status s) {
    if (r && r->failed == GH_OK) {
        r->failed = s;
        snprintf(r->failure, sizeof r->failure, "%s", gh_last_error());
    }
    return s;
}

static gh_status oom(gh_report *r, const char *what) {
    return fail(r, gh_error(GH_ERR_NOMEM, "report: out of memory adding %s", what));
}

/* Appends a finished block to the body, or reports the failure without
 * changing the body. */
static gh_status commit(gh_report *r, gh_strbuf *blk, const char *what) {
    if (blk->oom) { gh_strbuf_free(blk); return oom(r, what); }
    size_t before = r->body.len;
    gh_strbuf_putn(&r->body, blk->p ? blk->p : "", blk->len);
    gh_strbuf_free(blk);
    if (r->body.oom) {
        r->body.oom = false; /* the append did not happen; the body is intact */
        r->body.len = before;
        if (r->body.p) r->body.p[before] = '\0';
        return oom(r, what);
    }
    return GH_OK;
}

gh_report *gh_report_new(const char *title) {
    gh_report *r = calloc(1, sizeof *r);
    if (!r) { gh_error(GH_ERR_NOMEM, "report: out of memory"); return NULL; }
    r->title = strdup(title ? title : "Report");
    if (!r->title) {
        free(r);
        gh_error(GH_ERR_NOMEM, "report: out of memory");
        return NULL;
    }
    return r;
}

void gh_report_free(gh_report *r) {
    if (!r) return;
    free(r->title);
    gh_strbuf_free(&r->body);
    free(r);
}

gh_status gh_report_heading(gh_report *r, int level, const char *text) {
    if (!r) return gh_error(GH_ERR_INVALID_ARG, "report: NULL report");
    if (level < 1 || level > 4)
        return fail(r, gh_error(GH_ERR_INVALID_ARG, "report heading \"%.60s\": level %d, must be 1..4",
                                text ? text : "", level));
    gh_strbuf blk = {0};
    gh_strbuf_printf(&blk, "<h%d>", level + 1);
    gh_rbuf_escape(&blk, text ? text : "", 0);
    gh_strbuf_printf(&blk, "</h%d>\n", level + 1);
    return commit(r, &blk, "a heading");
}

/* True if the line [s, e) holds only spaces and tabs. */
static bool blank(const char *s, const char *e) {
    for (; s < e; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r') return false;
    return true;
}

gh_status gh_report_paragraph(gh_report *r, const char *text) {
    if (!r) return gh_error(GH_ERR_INVALID_ARG, "report: NULL report");
    if (!text) text = "";
    gh_strbuf blk = {0}, para = {0};
    const char *s = text;
    for (;;) {
        const char *e = strchr(s, '\n');
        if (!e) e = s + strlen(s);
        if (blank(s, e)) {
            if (para.len) {
                gh_strbuf_put(&blk, "<p>");
                gh_rbuf_escape(&blk, para.p, 0);
                gh_strbuf_put(&blk, "</p>\n");
                para.len = 0;
            }
        } else {
            if (para.len) gh_strbuf_put(&para, " ");
            gh_strbuf_putn(&para, s, (size_t)(e - s));
        }
        if (!*e) break;
        s = e + 1;
    }
    if (para.len) {
        gh_strbuf_put(&blk, "<p>");
        gh_rbuf_escape(&blk, para.p, 0);
        gh_strbuf_put(&blk, "</p>\n");
    }
    if (para.oom) blk.oom = true;
    gh_strbuf_free(&para);
    return commit(r, &blk, "a paragraph");
}

/* A cell reads as a number: "0.62", "-3", "1e-5", "12.5%", "0.62 ± 0.03". */
static bool numeric(const char *s) {
    if (!s) return false;
    while (*s == ' ') s++;
    char *end;
    strtod(s, &end);
    if (end == s) return false;
    s = end;
    while (*s == ' ') s++;
    if (strncmp(s, "\xC2\xB1", 2) == 0) { /* ± */
        s += 2;
        while (*s == ' ') s++;
        strtod(s, &end);
        if (end == s) return false;
        s = end;
    }
    if (*s == '%') s++;
    while (*s == ' ') s++;
    return *s == '\0';
}

gh_status gh_report_table(gh_report *r, const char *caption, size_t n_cols,
                          const char *const *header, size_t n_rows, const char *const *cells) {
    if (!r) return gh_error(GH_ERR_INVALID_ARG, "report: NULL report");
    const char *cap = caption ? caption : "";
    if (n_cols == 0)
        return fail(r, gh_error(GH_ERR_INVALID_ARG, "report table \"%.60s\": no columns", cap));
    if (n_rows && !cells)
        return fail(r, gh_error(GH_ERR_INVALID_ARG, "report table \"%.60s\": %zu rows but cells is NULL", cap,
                                n_rows));
    if (n_rows > SIZE_MAX / n_cols)
        return fail(r, gh_error(GH_ERR_LIMIT, "report table \"%.60s\": %zu x %zu cells overflow", cap, n_rows,
                                n_cols));
    /* a column is numeric (right-aligned, header too) if every non-empty cell is */
    bool *num = calloc(n_cols, sizeof *num);
    if (!num) return oom(r, "a table");
    for (size_t c = 0; c < n_cols; c++) {
        bool any = false, all = true;
        for (size_t i = 0; i < n_rows && all; i++) {
            const char *v = cells[i * n_cols + c];
            if (!v || !v[0]) continue;
            any = true;
            all = numeric(v);
        }
        num[c] = any && all;
    }
    gh_strbuf blk = {0};
    gh_strbuf_put(&blk, "<div class=\"table\"><table>\n");
    if (caption) {
        gh_strbuf_printf(&blk, "<caption><span class=\"label\">Table %u.</span> ", r->n_tables + 1);
        gh_rbuf_escape(&blk, caption, 0);
        gh_strbuf_put(&blk, "</caption>\n");
    }
    if (header) {
        gh_strbuf_put(&blk, "<thead><tr>");
        for (size_t c = 0; c < n_cols; c++) {
            gh_strbuf_put(&blk, num[c] ? "<th class=\"num\">" : "<th>");
            gh_rbuf_escape(&blk, header[c] ? header[c] : "", 0);
            gh_strbuf_put(&blk, "</th>");
        }
        gh_strbuf_put(&blk, "</tr></thead>\n");
    }
    gh_strbuf_put(&blk, "<tbody>\n");
    for (size_t i = 0; i < n_rows; i++) {
        gh_strbuf_put(&blk, "<tr>");
        for (size_t c = 0; c < n_cols; c++) {
            const char *v = cells[i * n_cols + c];
            gh_strbuf_put(&blk, num[c] ? "<td class=\"num\">" : "<td>");
            gh_rbuf_escape(&blk, v ? v : "", 0);
            gh_strbuf_put(&blk, "</td>");
        }
        gh_strbuf_put(&blk, "</tr>\n");
    }
    gh_strbuf_put(&blk, "</tbody></table></div>\n");
    free(num);
    gh_status st = commit(r, &blk, "a table");
    if (st == GH_OK && caption) r->n_tables++;
    return st;
}

gh_status gh_report_plot(gh_report *r, const gh_plot *p) {
    if (!r) return gh_error(GH_ERR_INVALID_ARG, "report: NULL report");
    gh_strbuf blk = {0};
    gh_strbuf_printf(&blk, "<figure id=\"figure-%u\">\n", r->n_figures + 1);
    gh_status st = gh_svg_render(p, false, &blk);
    if (st != GH_OK) { gh_strbuf_free(&blk); return fail(r, st); }
    gh_strbuf_printf(&blk, "<figcaption><span class=\"label\">Figure %u.</span>", r->n_figures + 1);
    const char *cap = p->caption ? p->caption : p->title;
    if (cap && cap[0]) {
        gh_strbuf_put(&blk, " ");
        gh_rbuf_escape(&blk, cap, 0);
    }
    gh_strbuf_put(&blk, "</figcaption>\n</figure>\n");
    st = commit(r, &blk, "a figure");
    if (st == GH_OK) r->n_figures++;
    return st;
}

gh_status gh_report_preformatted(gh_report *r, const char *text) {
    if (!r) return gh_error(GH_ERR_INVALID_ARG, "report: NULL report");
    gh_strbuf blk = {0};
    gh_strbuf_put(&blk, "<pre>");
    /* HTML drops one newline right after <pre>; keep a leading blank line */
    if (text && text[0] == '\n') gh_strbuf_put(&blk, "\n");
    gh_rbuf_escape(&blk, text ? text : "", 0);
    gh_strbuf_put(&blk, "</pre>\n");
    return commit(r, &blk, "a preformatted block");
}

/* The whole document. */
static gh_status render(const gh_report *r, gh_strbuf *doc) {
    gh_strbuf_put(doc, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                     "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                     "style-src 'unsafe-inline'\">\n"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                     "<meta name=\"generator\" content=\"goodhart " GH_VERSION "\">\n<title>");
    gh_rbuf_escape(doc, r->title, 0);
    gh_strbuf_put(doc, "</title>\n<style>\n");
    gh_strbuf_put(doc, k_style);
    gh_strbuf_put(doc, "</style>\n</head>\n<body>\n<main>\n<h1>");
    gh_rbuf_escape(doc, r->title, 0);
    gh_strbuf_put(doc, "</h1>\n");
    if (r->body.len) gh_strbuf_putn(doc, r->body.p, r->body.len);
    gh_strbuf_put(doc, "</main>\n<footer>Written by goodhart " GH_VERSION ".</footer>\n</body>\n</html>\n");
    return doc->oom ? GH_ERR_NOMEM : GH_OK;
}

static gh_status write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return GH_ERR_IO;
        }
        p += w;
        n -= (size_t)w;
    }
    return GH_OK;
}

gh_status gh_report_write(const gh_report *r, const char *path) {
    if (!r || !path || !path[0]) return gh_error(GH_ERR_INVALID_ARG, "report: NULL report or empty path");
    if (r->failed != GH_OK)
        return gh_error(r->failed, "%s: report not written, an earlier step failed: %s", path, r->failure);
    gh_strbuf doc = {0};
    if (render(r, &doc) != GH_OK) {
        gh_strbuf_free(&doc);
        return gh_error(GH_ERR_NOMEM, "%s: out of memory rendering the report", path);
    }
    /* a temporary file beside the target (same file system, so rename is atomic) */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) { gh_strbuf_free(&doc); return gh_error(GH_ERR_NOMEM, "%s: out of memory", path); }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp-XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        gh_strbuf_free(&doc);
        return gh_error(GH_ERR_IO, "%s: cannot create the report (temporary file beside it): %s", path, strerror(e));
    }
    gh_status st = GH_OK;
    int e = 0;
    /* mkstemp makes the file private; a report is meant to be read */
    if (fchmod(fd, 0644) != 0 || write_all(fd, doc.p, doc.len) != GH_OK || fsync(fd) != 0) {
        e = errno;
        st = GH_ERR_IO;
    }
    if (close(fd) != 0 && st == GH_OK) { e = errno; st = GH_ERR_IO; }
    gh_strbuf_free(&doc);
    if (st != GH_OK) {
        unlink(tmp);
        free(tmp);
        return gh_error(st, "%s: cannot write the report: %s", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        free(tmp);
        return gh_error(GH_ERR_IO, "%s: cannot write the report (rename from temporary file): %s", path, strerror(e));
    }
    free(tmp);
    return GH_OK;
}
