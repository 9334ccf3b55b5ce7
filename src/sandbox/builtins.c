/* builtins.c — the commands of the restricted shell.
 *
 * Each builtin is a C function over byte buffers: it reads its standard input
 * from c->in, writes to c->out / c->err (capped buffers) and returns an exit
 * status. Files are reached only through sb_resolve/sb_open_* (path.c), so no
 * builtin can see or change anything outside the sandbox root, and none can
 * follow a symlink. Options are the common ones of the GNU tools; anything
 * else is an error message, never silently ignored.
 */
#include "sandbox/shell_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define WHY 640

/* ---- helpers ----------------------------------------------------------------- */

static int resolve(sh_ctx *c, const char *cmd, const char *path, sb_path *p) {
    char why[WHY];
    if (sb_resolve(c->sb, c->sb->cwd, path, p, why, sizeof why) != 0) {
        sh_printf(c->err, "%s: %s\n", cmd, why);
        return -1;
    }
    return 0;
}

/* Reads file `path` ("-": standard input) into a malloc'd buffer. */
static int load(sh_ctx *c, const char *cmd, const char *path, char **data, size_t *n) {
    if (strcmp(path, "-") == 0) {
        *n = c->in_n;
        *data = malloc(c->in_n + 1);
        if (!*data) return -1;
        if (c->in_n) memcpy(*data, c->in, c->in_n);
        (*data)[c->in_n] = '\0';
        return 0;
    }
    sb_path p;
    char why[WHY];
    if (resolve(c, cmd, path, &p) != 0) return -1;
    int fd = sb_open_read(&p, false, why, sizeof why);
    sb_path_free(&p);
    if (fd < 0) { sh_printf(c->err, "%s: %s\n", cmd, why); return -1; }
    int rc = sb_read_fd(fd, sb_read_cap(c->sb), data, n);
    int e = errno;
    close(fd);
    if (rc != 0) {
        sh_printf(c->err, "%s: %s: %s\n", cmd, path, e == EFBIG ? "file too large for the sandbox" : strerror(e));
        return -1;
    }
    return 0;
}

/* Writes a whole file through the path checks, with the file-size limit. */
static int store(sh_ctx *c, const char *cmd, const char *path, const char *data, size_t n) {
    if ((int64_t)n > c->sb->lim.max_file_bytes) {
        sh_printf(c->err, "%s: %s: file size limit (%lld bytes) exceeded\n", cmd, path,
                  (long long)c->sb->lim.max_file_bytes);
        return -1;
    }
    sb_path p;
    char why[WHY];
    if (resolve(c, cmd, path, &p) != 0) return -1;
    int fd = sb_open_write(&p, false, why, sizeof why);
    sb_path_free(&p);
    if (fd < 0) { sh_printf(c->err, "%s: %s\n", cmd, why); return -1; }
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            sh_printf(c->err, "%s: %s: %s\n", cmd, path, strerror(errno));
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    close(fd);
    return 0;
}

/* Iterates the lines of a buffer: (*ls, *ll) is the line without its '\n'. */
static bool next_line(const char *d, size_t n, size_t *pos, const char **ls, size_t *ll) {
    if (*pos >= n) return false;
    const char *s = d + *pos;
    const char *e = memchr(s, '\n', n - *pos);
    size_t l = e ? (size_t)(e - s) : n - *pos;
    *ls = s;
    *ll = l;
    *pos += l + (e ? 1 : 0);
    return true;
}

static bool parse_count(const char *s, long *v) {
    if (!s || !*s) return false;
    char *e;
    errno = 0;
    long x = strtol(s, &e, 10);
    if (*e || errno || x < 0) return false;
    *v = x;
    return true;
}

/* ---- echo pwd cd true false --------------------------------------------------- */

static int b_echo(sh_ctx *c, int argc, char **argv) {
    bool nl = true, esc = false;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1] || strspn(a + 1, "neE") != strlen(a + 1)) break;
        for (const char *q = a + 1; *q; q++) {
            if (*q == 'n') nl = false;
            else if (*q == 'e') esc = true;
            else esc = false;
        }
    }
    for (int first = i; i < argc; i++) {
        if (i > first) sh_put(c->out, " ", 1);
        const char *a = argv[i];
        if (!esc) { sh_puts(c->out, a); continue; }
        for (const char *q = a; *q; q++) {
            if (*q != '\\' || !q[1]) { sh_put(c->out, q, 1); continue; }
            char ch;
            switch (*++q) {
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            case '\\': ch = '\\'; break;
            case 'c': return 0;
            default: sh_put(c->out, "\\", 1); ch = *q; break;
            }
            sh_put(c->out, &ch, 1);
        }
    }
    if (nl) sh_put(c->out, "\n", 1);
    return 0;
}

static int b_pwd(sh_ctx *c, int argc, char **argv) {
    (void)argc;
    (void)argv;
    sh_printf(c->out, "~%s%s\n", c->sb->cwd[0] ? "/" : "", c->sb->cwd);
    return 0;
}

static int b_cd(sh_ctx *c, int argc, char **argv) {
    if (argc > 2) { sh_puts(c->err, "cd: too many arguments\n"); return 1; }
    const char *to = argc == 2 ? argv[1] : "~";
    sb_path p;
    char why[WHY];
    if (resolve(c, "cd", to, &p) != 0) return 1;
    int fd = sb_open_read(&p, true, why, sizeof why);
    if (fd < 0) { sh_printf(c->err, "cd: %s\n", why); sb_path_free(&p); return 1; }
    close(fd);
    char *nc = strdup(p.rel);
    sb_path_free(&p);
    if (!nc) return 1;
    free(c->sb->cwd);
    c->sb->cwd = nc;
    return 0;
}

static int b_true(sh_ctx *c, int argc, char **argv) { (void)c; (void)argc; (void)argv; return 0; }
static int b_false(sh_ctx *c, int argc, char **argv) { (void)c; (void)argc; (void)argv; return 1; }

/* ---- cat head tail wc ----------------------------------------------------------- */

static int b_cat(sh_ctx *c, int argc, char **argv) {
    bool number = false, opts = true;
    int nfiles = 0, rc = 0;
    long lineno = 1;
    for (int i = 1; i <= argc; i++) {
        const char *a = i < argc ? argv[i] : NULL;
        if (a && opts && strcmp(a, "--") == 0) { opts = false; continue; }
        if (a && opts && a[0] == '-' && a[1]) {
            if (strcmp(a, "-n") == 0) { number = true; continue; }
            sh_printf(c->err, "cat: invalid option '%s' (supported: -n)\n", a);
            return 1;
        }
        if (!a && nfiles) break;
        if (!a) a = "-";
        nfiles++;
        char *d;
        size_t n;
        if (load(c, "cat", a, &d, &n) != 0) { rc = 1; continue; }
        if (!number) sh_put(c->out, d, n);
        else {
            size_t pos = 0;
            const char *ls;
            size_t ll;
            while (next_line(d, n, &pos, &ls, &ll)) {
                sh_printf(c->out, "%6ld\t", lineno++);
                sh_put(c->out, ls, ll);
                sh_put(c->out, "\n", 1);
            }
        }
        free(d);
    }
    return rc;
}

/* head and tail: -n N, -N, tail -n +N. */
static int head_tail(sh_ctx *c, int argc, char **argv, bool head) {
    const char *cmd = head ? "head" : "tail";
    long count = 10;
    bool from_start = false;
    const char *files[256];
    int nf = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        if (strcmp(a, "-n") == 0) {
            if (i + 1 >= argc) { sh_printf(c->err, "%s: option -n needs a number\n", cmd); return 1; }
            v = argv[++i];
        } else if (strncmp(a, "-n", 2) == 0) v = a + 2;
        else if (a[0] == '-' && a[1] >= '0' && a[1] <= '9') v = a + 1;
        else if (a[0] == '-' && a[1]) { sh_printf(c->err, "%s: invalid option '%s' (supported: -n N)\n", cmd, a); return 1; }
        if (v) {
            if (!head && v[0] == '+') { from_start = true; v++; }
            if (!parse_count(v, &count)) { sh_printf(c->err, "%s: invalid number of lines: '%s'\n", cmd, v); return 1; }
            continue;
        }
        if (nf < 256) files[nf++] = a;
    }
    if (nf == 0) files[nf++] = "-";
    int rc = 0;
    for (int f = 0; f < nf; f++) {
        char *d;
        size_t n;
        if (load(c, cmd, files[f], &d, &n) != 0) { rc = 1; continue; }
        if (nf > 1) sh_printf(c->out, "%s==> %s <==\n", f ? "\n" : "", files[f]);
        long total = 0;
        for (size_t i = 0; i < n; i++) total += d[i] == '\n';
        if (n && d[n - 1] != '\n') total++;
        long first = head ? 0 : from_start ? (count > 0 ? count - 1 : 0) : (total > count ? total - count : 0);
        long last = head ? count : total;
        size_t pos = 0;
        const char *ls;
        size_t ll;
        for (long k = 0; next_line(d, n, &pos, &ls, &ll) && k < last; k++) {
            if (k < first) continue;
            sh_put(c->out, ls, ll);
            if (ls + ll < d + n) sh_put(c->out, "\n", 1);
        }
        free(d);
    }
    return rc;
}
static int b_head(sh_ctx *c, int argc, char **argv) { return head_tail(c, argc, argv, true); }
static int b_tail(sh_ctx *c, int argc, char **argv) { return head_tail(c, argc, argv, false); }

/* One wc row (a file's or the total's): the selected counts, space-separated. */
static void wc_counts(sh_ctx *c, bool fl, bool fw, bool fc, long l, long w, long n) {
    const char *sep = "";
    if (fl) { sh_printf(c->out, "%ld", l); sep = " "; }
    if (fw) { sh_printf(c->out, "%s%ld", sep, w); sep = " "; }
    if (fc) sh_printf(c->out, "%s%ld", sep, n);
}

static int b_wc(sh_ctx *c, int argc, char **argv) {
    bool fl = false, fw = false, fc = false;
    const char *files[256];
    int nf = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1]) {
            for (const char *q = a + 1; *q; q++) {
                if (*q == 'l') fl = true;
                else if (*q == 'w') fw = true;
                else if (*q == 'c' || *q == 'm') fc = true;
                else { sh_printf(c->err, "wc: invalid option '-%c' (supported: -l -w -c)\n", *q); return 1; }
            }
            continue;
        }
        if (nf < 256) files[nf++] = a;
    }
    if (!fl && !fw && !fc) fl = fw = fc = true;
    bool from_stdin = nf == 0;
    if (from_stdin) files[nf++] = "-";
    long tl = 0, tw = 0, tc = 0;
    int rc = 0;
    for (int f = 0; f < nf; f++) {
        char *d;
        size_t n;
        if (load(c, "wc", files[f], &d, &n) != 0) { rc = 1; continue; }
        long l = 0, w = 0;
        bool inword = false;
        for (size_t i = 0; i < n; i++) {
            char ch = d[i];
            if (ch == '\n') l++;
            bool sp = ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
            if (!sp && !inword) w++;
            inword = !sp;
        }
        free(d);
        tl += l;
        tw += w;
        tc += (long)n;
        wc_counts(c, fl, fw, fc, l, w, (long)n);
        if (!from_stdin) sh_printf(c->out, " %s", files[f]);
        sh_put(c->out, "\n", 1);
    }
    if (nf > 1) {
        wc_counts(c, fl, fw, fc, tl, tw, tc);
        sh_puts(c->out, " total\n");
    }
    return rc;
}

/* ---- ls ------------------------------------------------------------------------ */

typedef struct ls_opts {
    bool all, almost, longf, recursive, classify;
    int entries; /* listed so far (capped) */
} ls_opts;

static void mode_str(mode_t m, char s[11]) {
    s[0] = S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : S_ISREG(m) ? '-' : '?';
    const char *rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++) s[1 + i] = (m & (1u << (8 - i))) ? rwx[i] : '-';
    s[10] = '\0';
}

static void ls_entry(sh_ctx *c, int dirfd, const char *name, const char *shown, ls_opts *o) {
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        sh_printf(c->err, "ls: %s: %s\n", shown, strerror(errno));
        return;
    }
    const char *suffix = "";
    if (o->classify) suffix = S_ISDIR(st.st_mode) ? "/" : S_ISLNK(st.st_mode) ? "@" : (st.st_mode & 0111) ? "*" : "";
    if (!o->longf) { sh_printf(c->out, "%s%s\n", shown, suffix); return; }
    char ms[11];
    mode_str(st.st_mode, ms);
    sh_printf(c->out, "%s %2lu %8lld %s%s", ms, (unsigned long)st.st_nlink, (long long)st.st_size, shown, suffix);
    if (S_ISLNK(st.st_mode)) {
        char tgt[512];
        ssize_t k = readlinkat(dirfd, name, tgt, sizeof tgt - 1);
        if (k >= 0) { tgt[k] = '\0'; sh_printf(c->out, " -> %s", tgt); }
    }
    sh_put(c->out, "\n", 1);
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Which entries sorted_names keeps: all but "." and ".." (what every walker
 * wants), none starting with '.' (plain ls), or every one (ls -a). */
enum { NAMES_NO_DOTDIRS, NAMES_NO_HIDDEN, NAMES_ALL };

/* Reads the entries of `d` (at most `max`), sorted by name so that output does
 * not depend on the filesystem's order. Returns the array (NULL when empty or
 * out of memory; a name that cannot be copied is skipped) and its length in
 * *n; release with free_names. */
static char **sorted_names(DIR *d, int keep, int max, int *n) {
    char **names = NULL;
    int cap = 0, seen = 0;
    struct dirent *e;
    *n = 0;
    while (seen < max && (e = readdir(d))) {
        const char *nm = e->d_name;
        bool dotdir = strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0;
        if (keep == NAMES_NO_DOTDIRS && dotdir) continue;
        if (keep == NAMES_NO_HIDDEN && nm[0] == '.') continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        seen++;
        names[*n] = strdup(nm);
        if (names[*n]) (*n)++;
    }
    if (*n > 1) qsort(names, (size_t)*n, sizeof *names, cmp_name);
    return names;
}

static void free_names(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Lists the directory open as `fd` (taken over), shown as `label`. */
static int ls_dir(sh_ctx *c, int fd, const char *label, bool header, ls_opts *o, int depth) {
    DIR *d = fdopendir(fd);
    if (!d) { close(fd); sh_printf(c->err, "ls: %s: %s\n", label, strerror(errno)); return 1; }
    /* -A wins over -a for "." and ".."; ls -a at the sandbox's top shows "..", harmless. */
    int keep = o->almost ? NAMES_NO_DOTDIRS : o->all ? NAMES_ALL : NAMES_NO_HIDDEN;
    /* Entries are capped over the whole (recursive) listing. */
    int left = o->entries < 100000 ? 100001 - o->entries : 1, n;
    char **names = sorted_names(d, keep, left, &n);
    o->entries += n;
    if (header) sh_printf(c->out, "%s:\n", label);
    int dfd = dirfd(d);
    for (int i = 0; i < n; i++) ls_entry(c, dfd, names[i], names[i], o);
    int rc = 0;
    if (o->recursive && depth < SB_MAX_DEPTH) {
        for (int i = 0; i < n; i++) {
            if (strcmp(names[i], ".") == 0 || strcmp(names[i], "..") == 0) continue;
            struct stat st;
            if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) continue;
            int sub = openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) continue;
            char lab[4200];
            snprintf(lab, sizeof lab, "%s/%s", label, names[i]);
            sh_put(c->out, "\n", 1);
            rc |= ls_dir(c, sub, lab, true, o, depth + 1);
        }
    }
    free_names(names, n);
    closedir(d);
    return rc;
}

static int b_ls(sh_ctx *c, int argc, char **argv) {
    ls_opts o = {0};
    const char *ops[256];
    int no = 0;
    bool opts = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts && strcmp(a, "--") == 0) { opts = false; continue; }
        if (opts && a[0] == '-' && a[1]) {
            for (const char *q = a + 1; *q; q++) {
                switch (*q) {
                case 'a': o.all = true; break;
                case 'A': o.almost = true; break;
                case 'l': o.longf = true; break;
                case 'R': o.recursive = true; break;
                case 'F': o.classify = true; break;
                case '1': case 'h': break;
                default: sh_printf(c->err, "ls: invalid option '-%c' (supported: -a -A -l -R -F -1)\n", *q); return 2;
                }
            }
            continue;
        }
        if (no < 256) ops[no++] = a;
    }
    if (no == 0) ops[no++] = ".";
    int rc = 0;
    /* Files first, then directories (as ls does). */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < no; i++) {
            sb_path p;
            char why[WHY];
            if (resolve(c, "ls", ops[i], &p) != 0) { if (pass == 0) rc = 2; continue; }
            struct stat st;
            if (sb_lstat(&p, &st) != 0) {
                if (pass == 0) { sh_printf(c->err, "ls: cannot access '%s': %s\n", ops[i], strerror(errno)); rc = 2; }
                sb_path_free(&p);
                continue;
            }
            bool isdir = S_ISDIR(st.st_mode);
            if (pass == 0 && S_ISLNK(st.st_mode)) {
                /* Named on the command line, GNU ls would list the target. */
                sh_printf(c->err, "ls: %s: is a symbolic link; links are not followed in the sandbox\n", ops[i]);
                rc = 2;
            } else if (pass == 0 && !isdir) ls_entry(c, p.dirfd, p.name, ops[i], &o);
            if (pass == 1 && isdir) {
                int fd = sb_open_read(&p, true, why, sizeof why);
                if (fd < 0) { sh_printf(c->err, "ls: %s\n", why); rc = 2; }
                else rc |= ls_dir(c, fd, ops[i], no > 1 || o.recursive, &o, 0);
                if (i + 1 < no) sh_put(c->out, "\n", 1);
            }
            sb_path_free(&p);
        }
    }
    return rc;
}

/* ---- grep ---------------------------------------------------------------------- */

typedef struct grep_opts {
    bool icase, invert, number, count, list, recursive, ext, fixed, word, line, only, quiet, with_name, no_name;
    regex_t *re;
    int n_re;
    bool show_names;
    bool matched, error;
} grep_opts;

/* Escapes a fixed string for a basic regular expression. */
static char *bre_escape(const char *s) {
    size_t l = strlen(s);
    char *o = malloc(2 * l + 1), *q = o;
    if (!o) return NULL;
    for (; *s; s++) {
        if (strchr(".[]*^$\\", *s)) *q++ = '\\';
        *q++ = *s;
    }
    *q = '\0';
    return o;
}

static int grep_compile(sh_ctx *c, grep_opts *g, const char *pat) {
    char *base = g->fixed ? bre_escape(pat) : strdup(pat);
    if (!base) return -1;
    bool ere = g->ext && !g->fixed;
    size_t l = strlen(base) + 16;
    char *full = malloc(l);
    if (!full) { free(base); return -1; }
    if (g->line) snprintf(full, l, ere ? "^(%s)$" : "^\\(%s\\)$", base);
    else if (g->word) snprintf(full, l, ere ? "\\<(%s)\\>" : "\\<\\(%s\\)\\>", base);
    else snprintf(full, l, "%s", base);
    free(base);
    int fl = (ere ? REG_EXTENDED : 0) | (g->icase ? REG_ICASE : 0);
    int e = regcomp(&g->re[g->n_re], full, fl);
    free(full);
    if (e) {
        char msg[200];
        regerror(e, &g->re[g->n_re], msg, sizeof msg);
        sh_printf(c->err, "grep: invalid pattern '%s': %s\n", pat, msg);
        return -1;
    }
    g->n_re++;
    return 0;
}

static bool grep_match(grep_opts *g, const char *line, regmatch_t *m, int eflags) {
    for (int i = 0; i < g->n_re; i++)
        if (regexec(&g->re[i], line, 1, m, eflags) == 0) return true;
    return false;
}

static void grep_buffer(sh_ctx *c, grep_opts *g, const char *name, const char *d, size_t n) {
    if (memchr(d, '\0', n < 8192 ? n : 8192)) {
        /* Binary: report a match only. */
        bool hit = false;
        size_t pos = 0;
        const char *ls;
        size_t ll;
        char *line = NULL;
        while (!hit && next_line(d, n, &pos, &ls, &ll)) {
            line = strndup(ls, ll);
            regmatch_t m;
            if (line && grep_match(g, line, &m, 0) != g->invert) hit = true;
            free(line);
        }
        if (hit) {
            g->matched = true;
            if (!g->quiet) sh_printf(c->out, "Binary file %s matches\n", name);
        }
        return;
    }
    long cnt = 0, lineno = 0;
    size_t pos = 0;
    const char *ls;
    size_t ll;
    while (next_line(d, n, &pos, &ls, &ll)) {
        lineno++;
        char *line = strndup(ls, ll);
        if (!line) return;
        regmatch_t m;
        bool hit = grep_match(g, line, &m, 0);
        if (hit != g->invert) {
            cnt++;
            g->matched = true;
            if (g->quiet || g->list || g->count) { free(line); if (g->list || g->quiet) break; continue; }
            if (g->only && !g->invert) {
                const char *p = line;
                int ef = 0;
                while (*p && grep_match(g, p, &m, ef) ) {
                    if (m.rm_eo == m.rm_so) { p += m.rm_eo + 1; ef = REG_NOTBOL; continue; }
                    if (g->show_names) sh_printf(c->out, "%s:", name);
                    if (g->number) sh_printf(c->out, "%ld:", lineno);
                    sh_put(c->out, p + m.rm_so, (size_t)(m.rm_eo - m.rm_so));
                    sh_put(c->out, "\n", 1);
                    p += m.rm_eo;
                    ef = REG_NOTBOL;
                }
            } else {
                if (g->show_names) sh_printf(c->out, "%s:", name);
                if (g->number) sh_printf(c->out, "%ld:", lineno);
                sh_put(c->out, ls, ll);
                sh_put(c->out, "\n", 1);
            }
        }
        free(line);
    }
    if (g->quiet) return;
    if (g->count) {
        if (g->show_names) sh_printf(c->out, "%s:", name);
        sh_printf(c->out, "%ld\n", cnt);
    } else if (g->list && cnt) {
        sh_printf(c->out, "%s\n", name);
    }
}

static void grep_tree(sh_ctx *c, grep_opts *g, int fd, const char *label, int depth) {
    DIR *d = fdopendir(fd);
    if (!d) { close(fd); return; }
    int n;
    char **names = sorted_names(d, NAMES_NO_DOTDIRS, INT_MAX, &n);
    int dfd = dirfd(d);
    for (int i = 0; i < n; i++) {
        char path[4200];
        if (!*label) snprintf(path, sizeof path, "%s", names[i]);
        else snprintf(path, sizeof path, "%s%s%s", label, label[strlen(label) - 1] == '/' ? "" : "/", names[i]);
        struct stat st;
        if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISDIR(st.st_mode) && depth < SB_MAX_DEPTH) {
            int sub = openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) grep_tree(c, g, sub, path, depth + 1);
        } else if (S_ISREG(st.st_mode) && st.st_nlink == 1) {
            int f = openat(dfd, names[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
            if (f < 0) continue;
            char *data;
            size_t dn;
            if (sb_read_fd(f, sb_read_cap(c->sb), &data, &dn) == 0) {
                grep_buffer(c, g, path, data, dn);
                free(data);
            }
            close(f);
        }
        if (g->quiet && g->matched) break;
    }
    free_names(names, n);
    closedir(d);
}

static int b_grep(sh_ctx *c, int argc, char **argv) {
    grep_opts g = {0};
    const char *pats[64];
    int np = 0;
    const char *files[256];
    int nf = 0;
    bool opts = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts && strcmp(a, "--") == 0) { opts = false; continue; }
        if (opts && a[0] == '-' && a[1] && a[1] != '-') {
            for (const char *q = a + 1; *q; q++) {
                switch (*q) {
                case 'i': g.icase = true; break;
                case 'v': g.invert = true; break;
                case 'n': g.number = true; break;
                case 'c': g.count = true; break;
                case 'l': g.list = true; break;
                case 'r': case 'R': g.recursive = true; break;
                case 'E': g.ext = true; break;
                case 'F': g.fixed = true; break;
                case 'w': g.word = true; break;
                case 'x': g.line = true; break;
                case 'o': g.only = true; break;
                case 'q': g.quiet = true; break;
                case 's': break;
                case 'H': g.with_name = true; break;
                case 'h': g.no_name = true; break;
                case 'e':
                    if (q[1]) { if (np < 64) pats[np++] = q + 1; }
                    else if (i + 1 < argc) { if (np < 64) pats[np++] = argv[++i]; }
                    else { sh_puts(c->err, "grep: option -e needs a pattern\n"); return 2; }
                    goto next_arg; /* the rest of this argument was the pattern */
                default:
                    sh_printf(c->err, "grep: invalid option '-%c' (supported: -i -v -n -c -l -r -E -F -w -x -o -q -H -h -e)\n", *q);
                    return 2;
                }
            }
        next_arg:
            continue;
        }
        if (opts && strncmp(a, "--", 2) == 0) {
            sh_printf(c->err, "grep: option '%s' is not supported\n", a);
            return 2;
        }
        if (nf < 256) files[nf++] = a;
    }
    /* Without -e, the first operand is the pattern. */
    if (np == 0 && nf > 0) {
        pats[np++] = files[0];
        memmove(files, files + 1, (size_t)(nf - 1) * sizeof *files);
        nf--;
    }
    if (np == 0) { sh_puts(c->err, "usage: grep [OPTIONS] PATTERN [FILE...]\n"); return 2; }
    regex_t res[64];
    g.re = res;
    for (int i = 0; i < np; i++)
        if (grep_compile(c, &g, pats[i]) != 0) { for (int k = 0; k < g.n_re; k++) regfree(&res[k]); return 2; }
    bool from_stdin = nf == 0 && !g.recursive;
    if (nf == 0 && g.recursive) files[nf++] = "";
    g.show_names = !g.no_name && (g.with_name || nf > 1 || g.recursive);
    if (from_stdin) {
        g.show_names = g.with_name;
        grep_buffer(c, &g, "(standard input)", c->in ? c->in : "", c->in_n);
    }
    for (int f = 0; f < nf; f++) {
        sb_path p;
        char why[WHY];
        if (strcmp(files[f], "-") == 0) { grep_buffer(c, &g, "(standard input)", c->in ? c->in : "", c->in_n); continue; }
        if (resolve(c, "grep", *files[f] ? files[f] : ".", &p) != 0) { g.error = true; continue; }
        struct stat st;
        if (sb_lstat(&p, &st) != 0) {
            sh_printf(c->err, "grep: %s: %s\n", files[f], strerror(errno));
            g.error = true;
        } else if (S_ISDIR(st.st_mode)) {
            if (!g.recursive) { sh_printf(c->err, "grep: %s: Is a directory\n", files[f]); g.error = true; }
            else {
                int fd = sb_open_read(&p, true, why, sizeof why);
                if (fd < 0) { sh_printf(c->err, "grep: %s\n", why); g.error = true; }
                else grep_tree(c, &g, fd, files[f], 0);
            }
        } else {
            char *d;
            size_t n;
            sb_path_free(&p);
            if (load(c, "grep", files[f], &d, &n) != 0) { g.error = true; continue; }
            grep_buffer(c, &g, files[f], d, n);
            free(d);
            continue;
        }
        sb_path_free(&p);
    }
    for (int k = 0; k < g.n_re; k++) regfree(&res[k]);
    if (g.matched && (g.quiet || !g.error)) return 0;
    return g.error ? 2 : 1;
}

/* ---- mkdir touch rm ------------------------------------------------------------ */

static int b_mkdir(sh_ctx *c, int argc, char **argv) {
    bool parents = false;
    int rc = 0, n = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-p") == 0) { parents = true; continue; }
        if (argv[i][0] == '-' && argv[i][1]) { sh_printf(c->err, "mkdir: invalid option '%s' (supported: -p)\n", argv[i]); return 1; }
    }
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) continue;
        n++;
        char why[WHY];
        if (parents) {
            if (sb_mkdirs(c->sb, c->sb->cwd, argv[i], why, sizeof why) != 0) { sh_printf(c->err, "mkdir: %s\n", why); rc = 1; }
            continue;
        }
        sb_path p;
        if (resolve(c, "mkdir", argv[i], &p) != 0) { rc = 1; continue; }
        if (strcmp(p.name, ".") == 0 || mkdirat(p.dirfd, p.name, 0755) != 0) {
            sh_printf(c->err, "mkdir: cannot create directory '%s': %s\n", argv[i],
                      strcmp(p.name, ".") == 0 ? "File exists" : strerror(errno));
            rc = 1;
        }
        sb_path_free(&p);
    }
    if (!n) { sh_puts(c->err, "mkdir: missing operand\n"); return 1; }
    return rc;
}

static int b_touch(sh_ctx *c, int argc, char **argv) {
    int rc = 0;
    if (argc < 2) { sh_puts(c->err, "touch: missing file operand\n"); return 1; }
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) { sh_printf(c->err, "touch: invalid option '%s'\n", argv[i]); return 1; }
        sb_path p;
        char why[WHY];
        if (resolve(c, "touch", argv[i], &p) != 0) { rc = 1; continue; }
        struct stat st;
        if (sb_lstat(&p, &st) == 0) {
            if (S_ISLNK(st.st_mode)) { sh_printf(c->err, "touch: %s: is a symbolic link; refused\n", argv[i]); rc = 1; }
            else if (utimensat(p.dirfd, p.name, NULL, AT_SYMLINK_NOFOLLOW) != 0) {
                sh_printf(c->err, "touch: %s: %s\n", argv[i], strerror(errno));
                rc = 1;
            }
        } else {
            int fd = sb_open_write(&p, true, why, sizeof why);
            if (fd < 0) { sh_printf(c->err, "touch: %s\n", why); rc = 1; }
            else close(fd);
        }
        sb_path_free(&p);
    }
    return rc;
}

/* Removes entry `name` of `dirfd`, recursively when `rec`. */
static int rm_at(sh_ctx *c, int pfd, const char *name, const char *shown, bool rec, int depth) {
    struct stat st;
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        sh_printf(c->err, "rm: cannot remove '%s': %s\n", shown, strerror(errno));
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(pfd, name, 0) != 0) { sh_printf(c->err, "rm: cannot remove '%s': %s\n", shown, strerror(errno)); return 1; }
        return 0;
    }
    if (!rec) { sh_printf(c->err, "rm: cannot remove '%s': Is a directory (use rm -r)\n", shown); return 1; }
    if (depth > SB_MAX_DEPTH) { sh_printf(c->err, "rm: '%s': too deep\n", shown); return 1; }
    int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) { sh_printf(c->err, "rm: cannot remove '%s': %s\n", shown, strerror(errno)); return 1; }
    DIR *d = fdopendir(fd);
    if (!d) { close(fd); return 1; }
    int rc = 0;
    /* Collect names first: removing while reading a directory is unspecified.
     * (Sorted too, so that error messages come in a stable order.) */
    int n;
    char **names = sorted_names(d, NAMES_NO_DOTDIRS, INT_MAX, &n);
    for (int i = 0; i < n; i++) {
        char sub[4200];
        snprintf(sub, sizeof sub, "%s/%s", shown, names[i]);
        rc |= rm_at(c, dirfd(d), names[i], sub, true, depth + 1);
    }
    free_names(names, n);
    closedir(d);
    if (!rc && unlinkat(pfd, name, AT_REMOVEDIR) != 0) {
        sh_printf(c->err, "rm: cannot remove '%s': %s\n", shown, strerror(errno));
        rc = 1;
    }
    return rc;
}

static int b_rm(sh_ctx *c, int argc, char **argv) {
    bool rec = false, force = false;
    int n = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1]) {
            for (const char *q = a + 1; *q; q++) {
                if (*q == 'r' || *q == 'R') rec = true;
                else if (*q == 'f') force = true;
                else if (*q == 'd' || *q == 'v') {}
                else { sh_printf(c->err, "rm: invalid option '-%c' (supported: -r -f)\n", *q); return 1; }
            }
        }
    }
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) continue;
        n++;
        sb_path p;
        if (resolve(c, "rm", argv[i], &p) != 0) { rc = 1; continue; }
        if (strcmp(p.name, ".") == 0) {
            sh_printf(c->err, "rm: refusing to remove '%s' (a directory that is '.', '..' or the sandbox's top)\n", argv[i]);
            rc = 1;
        } else {
            struct stat st;
            if (force && fstatat(p.dirfd, p.name, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT) {}
            else rc |= rm_at(c, p.dirfd, p.name, argv[i], rec, 0);
        }
        sb_path_free(&p);
    }
    if (!n && !force) { sh_puts(c->err, "rm: missing operand\n"); return 1; }
    return rc;
}

/* ---- cp mv --------------------------------------------------------------------- */

static const char *base_name(const char *p) {
    size_t l = strlen(p);
    while (l > 1 && p[l - 1] == '/') l--;
    const char *s = p + l;
    while (s > p && s[-1] != '/') s--;
    return s;
}

/* Whether `path` names an existing directory (not through a symlink). */
static bool is_dir(sh_ctx *c, const char *path) {
    sb_path p;
    char why[WHY];
    if (sb_resolve(c->sb, c->sb->cwd, path, &p, why, sizeof why) != 0) return false;
    struct stat st;
    bool d = sb_lstat(&p, &st) == 0 && S_ISDIR(st.st_mode);
    sb_path_free(&p);
    return d;
}

static void join(char *out, size_t n, const char *dir, const char *name) {
    size_t l = strlen(dir);
    snprintf(out, n, "%s%s%s", dir, l && dir[l - 1] == '/' ? "" : "/", name);
}

/* Checks the operands of cp/mv (SOURCE... DEST): DEST must be a directory
 * when there are several sources; *into says whether it is one. */
static int dest_operand(sh_ctx *c, const char *cmd, int no, const char **ops, bool *into) {
    if (no < 2) { sh_printf(c->err, "%s: missing destination file operand\n", cmd); return 1; }
    const char *dst = ops[no - 1];
    *into = is_dir(c, dst);
    if (no > 2 && !*into) { sh_printf(c->err, "%s: target '%s' is not a directory\n", cmd, dst); return 1; }
    return 0;
}

/* Where source `src` goes: into the directory `dst`, or to `dst` itself. */
static void dest_path(char *out, size_t n, const char *dst, bool into, const char *src) {
    if (into) join(out, n, dst, base_name(src));
    else snprintf(out, n, "%s", dst);
}

static int cp_one(sh_ctx *c, const char *src, const char *dst, bool rec, int depth) {
    sb_path p;
    if (resolve(c, "cp", src, &p) != 0) return 1;
    struct stat st;
    if (sb_lstat(&p, &st) != 0) {
        sh_printf(c->err, "cp: cannot stat '%s': %s\n", src, strerror(errno));
        sb_path_free(&p);
        return 1;
    }
    sb_path_free(&p);
    if (S_ISLNK(st.st_mode)) { sh_printf(c->err, "cp: %s: is a symbolic link; not copied\n", src); return 1; }
    if (!S_ISDIR(st.st_mode)) {
        char *d;
        size_t n;
        if (load(c, "cp", src, &d, &n) != 0) return 1;
        int rc = store(c, "cp", dst, d, n) != 0;
        free(d);
        return rc;
    }
    if (!rec) { sh_printf(c->err, "cp: -r not specified; omitting directory '%s'\n", src); return 1; }
    if (depth > 16) { sh_printf(c->err, "cp: %s: too deep (copying a directory into itself?)\n", src); return 1; }
    char why[WHY];
    if (!is_dir(c, dst) && sb_mkdirs(c->sb, c->sb->cwd, dst, why, sizeof why) != 0) {
        sh_printf(c->err, "cp: %s\n", why);
        return 1;
    }
    if (resolve(c, "cp", src, &p) != 0) return 1;
    int fd = sb_open_read(&p, true, why, sizeof why);
    sb_path_free(&p);
    if (fd < 0) { sh_printf(c->err, "cp: %s\n", why); return 1; }
    DIR *dir = fdopendir(fd);
    if (!dir) { close(fd); return 1; }
    int n;
    char **names = sorted_names(dir, NAMES_NO_DOTDIRS, INT_MAX, &n);
    closedir(dir);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char s2[4200], d2[4200];
        join(s2, sizeof s2, src, names[i]);
        join(d2, sizeof d2, dst, names[i]);
        rc |= cp_one(c, s2, d2, rec, depth + 1);
    }
    free_names(names, n);
    return rc;
}

static int b_cp(sh_ctx *c, int argc, char **argv) {
    bool rec = false;
    const char *ops[256];
    int no = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1]) {
            for (const char *q = a + 1; *q; q++) {
                if (*q == 'r' || *q == 'R' || *q == 'a') rec = true;
                else if (*q == 'f' || *q == 'v' || *q == 'p') {}
                else { sh_printf(c->err, "cp: invalid option '-%c' (supported: -r)\n", *q); return 1; }
            }
            continue;
        }
        if (no < 256) ops[no++] = a;
    }
    bool into;
    if (dest_operand(c, "cp", no, ops, &into) != 0) return 1;
    const char *dst = ops[no - 1];
    int rc = 0;
    for (int i = 0; i < no - 1; i++) {
        char d2[4200];
        dest_path(d2, sizeof d2, dst, into, ops[i]);
        rc |= cp_one(c, ops[i], d2, rec, 0);
    }
    return rc;
}

static int b_mv(sh_ctx *c, int argc, char **argv) {
    const char *ops[256];
    int no = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1]) {
            if (strspn(a + 1, "fvn") == strlen(a + 1)) continue;
            sh_printf(c->err, "mv: invalid option '%s'\n", a);
            return 1;
        }
        if (no < 256) ops[no++] = a;
    }
    bool into;
    if (dest_operand(c, "mv", no, ops, &into) != 0) return 1;
    const char *dst = ops[no - 1];
    int rc = 0;
    for (int i = 0; i < no - 1; i++) {
        char d2[4200];
        dest_path(d2, sizeof d2, dst, into, ops[i]);
        sb_path ps, pd;
        if (resolve(c, "mv", ops[i], &ps) != 0) { rc = 1; continue; }
        if (strcmp(ps.name, ".") == 0) {
            sh_printf(c->err, "mv: refusing to move '%s'\n", ops[i]);
            sb_path_free(&ps);
            rc = 1;
            continue;
        }
        if (resolve(c, "mv", d2, &pd) != 0) { sb_path_free(&ps); rc = 1; continue; }
        if (strcmp(pd.name, ".") == 0) {
            sh_printf(c->err, "mv: cannot move to '%s'\n", d2);
            rc = 1;
        } else if (renameat(ps.dirfd, ps.name, pd.dirfd, pd.name) != 0) {
            sh_printf(c->err, "mv: cannot move '%s' to '%s': %s\n", ops[i], d2, strerror(errno));
            rc = 1;
        }
        sb_path_free(&ps);
        sb_path_free(&pd);
    }
    return rc;
}

/* ---- sed ----------------------------------------------------------------------- */

typedef enum { A_NONE, A_LINE, A_LAST, A_RE } addr_kind;
typedef struct sed_addr {
    addr_kind kind;
    long line;
    regex_t re;
} sed_addr;

typedef struct sed_cmd {
    sed_addr a1, a2;
    int n_addr;
    bool in_range;
    char op; /* s d p q */
    regex_t re;
    char *repl;
    bool global, print;
    long nth;
} sed_cmd;

typedef struct sed_prog {
    sed_cmd cmds[64];
    int n;
} sed_prog;

static void sed_free(sed_prog *p) {
    for (int i = 0; i < p->n; i++) {
        sed_cmd *s = &p->cmds[i];
        if (s->a1.kind == A_RE) regfree(&s->a1.re);
        if (s->a2.kind == A_RE) regfree(&s->a2.re);
        if (s->op == 's') { regfree(&s->re); free(s->repl); }
    }
    p->n = 0;
}

/* Reads a delimited part (regex or replacement) from *sp, ending at `delim`. */
static char *sed_part(const char **sp, char delim, bool is_re) {
    const char *s = *sp;
    gh_strbuf b = {0};
    while (*s && *s != delim) {
        if (*s == '\\' && s[1]) {
            if (s[1] == delim) { gh_strbuf_putn(&b, &delim, 1); s += 2; continue; }
            if (s[1] == 'n') { gh_strbuf_putn(&b, is_re ? "\n" : "\\n", is_re ? 1 : 2); s += 2; continue; }
            gh_strbuf_putn(&b, s, 2);
            s += 2;
            continue;
        }
        gh_strbuf_putn(&b, s, 1);
        s++;
    }
    if (*s != delim) { gh_strbuf_free(&b); return NULL; }
    *sp = s + 1;
    return b.p ? b.p : strdup("");
}

static int sed_addr_parse(sh_ctx *c, const char **sp, sed_addr *a, int reflags) {
    const char *s = *sp;
    a->kind = A_NONE;
    if (*s >= '0' && *s <= '9') {
        a->kind = A_LINE;
        a->line = strtol(s, (char **)&s, 10);
    } else if (*s == '$') {
        a->kind = A_LAST;
        s++;
    } else if (*s == '/') {
        s++;
        char *re = sed_part(&s, '/', true);
        if (!re) { sh_puts(c->err, "sed: unterminated address regex\n"); return -1; }
        int e = regcomp(&a->re, re, reflags);
        free(re);
        if (e) { sh_puts(c->err, "sed: invalid address regex\n"); return -1; }
        a->kind = A_RE;
    }
    *sp = s;
    return 0;
}

static int sed_parse(sh_ctx *c, const char *script, bool ere, sed_prog *p) {
    const char *s = script;
    int reflags = ere ? REG_EXTENDED : 0;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ';' || *s == '\n') s++;
        if (!*s) break;
        if (p->n == 64) { sh_puts(c->err, "sed: too many commands\n"); return -1; }
        sed_cmd *k = &p->cmds[p->n];
        memset(k, 0, sizeof *k);
        if (sed_addr_parse(c, &s, &k->a1, reflags) != 0) return -1;
        if (k->a1.kind != A_NONE) k->n_addr = 1;
        if (*s == ',') {
            s++;
            if (sed_addr_parse(c, &s, &k->a2, reflags) != 0 || k->a2.kind == A_NONE) {
                if (k->a1.kind == A_RE) regfree(&k->a1.re);
                sh_puts(c->err, "sed: bad address range\n");
                return -1;
            }
            k->n_addr = 2;
        }
        while (*s == ' ') s++;
        k->op = *s;
        p->n++; /* from here on sed_free owns the addresses */
        if (*s == 'd' || *s == 'p' || *s == 'q') {
            s++;
        } else if (*s == 's') {
            char delim = s[1];
            if (!delim || delim == '\\' || delim == '\n') { sh_puts(c->err, "sed: bad s command\n"); k->op = 0; return -1; }
            s += 2;
            char *re = sed_part(&s, delim, true);
            if (!re) { sh_puts(c->err, "sed: unterminated 's' command\n"); k->op = 0; return -1; }
            k->repl = sed_part(&s, delim, false);
            if (!k->repl) { free(re); sh_puts(c->err, "sed: unterminated 's' command\n"); k->op = 0; return -1; }
            int fl = reflags;
            while (*s && *s != ';' && *s != '\n' && *s != '}') {
                if (*s == 'g') k->global = true;
                else if (*s == 'p') k->print = true;
                else if (*s == 'i' || *s == 'I') fl |= REG_ICASE;
                else if (*s >= '1' && *s <= '9') k->nth = strtol(s, (char **)&s, 10), s--;
                else if (*s == ' ') {}
                else { free(re); free(k->repl); k->repl = NULL; k->op = 0; sh_printf(c->err, "sed: unknown option to 's': '%c'\n", *s); return -1; }
                s++;
            }
            int e = regcomp(&k->re, re, fl);
            free(re);
            if (e) {
                char msg[200];
                regerror(e, &k->re, msg, sizeof msg);
                free(k->repl);
                k->repl = NULL;
                k->op = 0;
                sh_printf(c->err, "sed: invalid regex: %s\n", msg);
                return -1;
            }
        } else {
            k->op = 0;
            sh_printf(c->err, "sed: unsupported command '%c' (supported: s/RE/REPL/[gip], d, p, q with addresses N, $, /RE/, N,M)\n",
                      *s ? *s : ' ');
            return -1;
        }
    }
    return 0;
}

static bool addr_hit(const sed_addr *a, long ln, bool last, const char *line) {
    switch (a->kind) {
    case A_LINE: return ln == a->line;
    case A_LAST: return last;
    case A_RE: return regexec(&a->re, line, 0, NULL, 0) == 0;
    default: return true;
    }
}

static bool sed_selects(sed_cmd *k, long ln, bool last, const char *line) {
    if (k->n_addr == 0) return true;
    if (k->n_addr == 1) return addr_hit(&k->a1, ln, last, line);
    if (!k->in_range) {
        if (!addr_hit(&k->a1, ln, last, line)) return false;
        k->in_range = true;
        if (k->a2.kind == A_LINE && k->a2.line <= ln) k->in_range = false;
        return true;
    }
    if (addr_hit(&k->a2, ln, last, line)) k->in_range = false;
    return true;
}

/* Applies s/// to `line`; returns a malloc'd result and whether it changed. */
static char *sed_subst(sed_cmd *k, const char *line, bool *changed) {
    gh_strbuf b = {0};
    const char *p = line;
    long count = 0;
    int ef = 0;
    regmatch_t m[10];
    *changed = false;
    bool after_match = false; /* p starts right after a non-empty match */
    while (regexec(&k->re, p, 10, m, ef) == 0) {
        if (after_match && m[0].rm_so == 0 && m[0].rm_eo == 0) {
            /* An empty match touching the previous match does not count (as in GNU sed). */
            after_match = false;
            if (!*p) break;
            gh_strbuf_putn(&b, p, 1);
            p++;
            ef = REG_NOTBOL;
            continue;
        }
        after_match = m[0].rm_eo > m[0].rm_so;
        count++;
        bool take = k->nth ? count == k->nth : true;
        if (take) {
            gh_strbuf_putn(&b, p, (size_t)m[0].rm_so);
            for (const char *r = k->repl; *r; r++) {
                if (*r == '&') { gh_strbuf_putn(&b, p + m[0].rm_so, (size_t)(m[0].rm_eo - m[0].rm_so)); continue; }
                if (*r == '\\' && r[1]) {
                    r++;
                    if (*r >= '1' && *r <= '9') {
                        int g = *r - '0';
                        if (m[g].rm_so >= 0) gh_strbuf_putn(&b, p + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
                    } else if (*r == 'n') gh_strbuf_putn(&b, "\n", 1);
                    else if (*r == 't') gh_strbuf_putn(&b, "\t", 1);
                    else gh_strbuf_putn(&b, r, 1);
                    continue;
                }
                gh_strbuf_putn(&b, r, 1);
            }
            *changed = true;
        } else {
            gh_strbuf_putn(&b, p, (size_t)m[0].rm_eo);
        }
        if (m[0].rm_eo == m[0].rm_so) {
            /* Empty match: copy one character and go on. */
            if (!p[m[0].rm_eo]) { p += m[0].rm_eo; break; }
            gh_strbuf_putn(&b, p + m[0].rm_eo, 1);
            p += m[0].rm_eo + 1;
        } else {
            p += m[0].rm_eo;
        }
        ef = REG_NOTBOL;
        if ((take && !k->global) || b.len > (64u << 20)) break;
    }
    gh_strbuf_put(&b, p);
    if (!b.p) return strdup("");
    return b.p;
}

/* Runs the program over one buffer into `o`. Returns false on out of memory. */
static void sed_run(sed_prog *prog, bool quiet, const char *d, size_t n, gh_strbuf *o) {
    for (int i = 0; i < prog->n; i++) prog->cmds[i].in_range = false;
    size_t pos = 0;
    const char *ls;
    size_t ll;
    long ln = 0;
    while (next_line(d, n, &pos, &ls, &ll)) {
        ln++;
        bool last = pos >= n;
        bool had_nl = ls + ll < d + n;
        char *line = strndup(ls, ll);
        if (!line) { o->oom = true; return; }
        bool deleted = false, quit = false;
        for (int i = 0; i < prog->n && !deleted && !quit; i++) {
            sed_cmd *k = &prog->cmds[i];
            if (!sed_selects(k, ln, last, line)) continue;
            if (k->op == 'd') deleted = true;
            else if (k->op == 'p') { gh_strbuf_put(o, line); gh_strbuf_put(o, "\n"); }
            else if (k->op == 'q') quit = true;
            else if (k->op == 's') {
                bool ch;
                char *nl = sed_subst(k, line, &ch);
                if (!nl) { free(line); o->oom = true; return; }
                free(line);
                line = nl;
                if (ch && k->print) { gh_strbuf_put(o, line); gh_strbuf_put(o, "\n"); }
            }
        }
        if (!deleted && !quiet) {
            gh_strbuf_put(o, line);
            if (had_nl) gh_strbuf_put(o, "\n");
        }
        free(line);
        if (quit) break;
    }
}

static int b_sed(sh_ctx *c, int argc, char **argv) {
    bool inplace = false, quiet = false, ere = false;
    gh_strbuf script = {0};
    bool have_script = false;
    const char *files[256];
    int nf = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-e") == 0 || strcmp(a, "--expression") == 0) {
            if (i + 1 >= argc) { sh_puts(c->err, "sed: option -e needs a script\n"); gh_strbuf_free(&script); return 1; }
            if (script.len) gh_strbuf_put(&script, "\n");
            gh_strbuf_put(&script, argv[++i]);
            have_script = true;
            continue;
        }
        if (a[0] == '-' && a[1] && a[1] != '-') {
            for (const char *q = a + 1; *q; q++) {
                if (*q == 'i') inplace = true;
                else if (*q == 'n') quiet = true;
                else if (*q == 'E' || *q == 'r') ere = true;
                else { sh_printf(c->err, "sed: invalid option '-%c' (supported: -i -n -E -e)\n", *q); gh_strbuf_free(&script); return 1; }
            }
            continue;
        }
        if (!have_script) { gh_strbuf_put(&script, a); have_script = true; continue; }
        if (nf < 256) files[nf++] = a;
    }
    if (!have_script) { sh_puts(c->err, "usage: sed [-i] [-n] [-E] SCRIPT [FILE...]\n"); return 1; }
    sed_prog prog = {0};
    if (sed_parse(c, script.p ? script.p : "", ere, &prog) != 0) { sed_free(&prog); gh_strbuf_free(&script); return 1; }
    gh_strbuf_free(&script);
    if (inplace && nf == 0) { sh_puts(c->err, "sed: -i needs a file\n"); sed_free(&prog); return 1; }
    if (nf == 0) files[nf++] = "-";
    int rc = 0;
    for (int f = 0; f < nf; f++) {
        char *d;
        size_t n;
        if (load(c, "sed", files[f], &d, &n) != 0) { rc = 1; continue; }
        gh_strbuf o = {0};
        sed_run(&prog, quiet, d, n, &o);
        free(d);
        if (o.oom) { sh_puts(c->err, "sed: out of memory\n"); rc = 1; }
        else if (inplace) { if (store(c, "sed", files[f], o.p ? o.p : "", o.len) != 0) rc = 1; }
        else sh_put(c->out, o.p ? o.p : "", o.len);
        gh_strbuf_free(&o);
    }
    sed_free(&prog);
    return rc;
}

/* ---- find sort uniq -------------------------------------------------------------- */

typedef struct find_opts {
    const char *name;
    bool iname;
    char type;
    long maxdepth;
    long found;
} find_opts;

static void find_visit(sh_ctx *c, find_opts *f, int pfd, const char *name, const char *shown, int depth) {
    struct stat st;
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return;
    bool ok = true;
    if (f->name) {
        const char *b = base_name(shown);
        ok = fnmatch(f->name, b, f->iname ? FNM_CASEFOLD : 0) == 0;
    }
    if (ok && f->type) ok = (f->type == 'f' && S_ISREG(st.st_mode)) || (f->type == 'd' && S_ISDIR(st.st_mode)) ||
                            (f->type == 'l' && S_ISLNK(st.st_mode));
    if (ok && ++f->found <= 100000) sh_printf(c->out, "%s\n", shown);
    if (!S_ISDIR(st.st_mode) || depth >= f->maxdepth || depth >= SB_MAX_DEPTH) return;
    int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return;
    DIR *d = fdopendir(fd);
    if (!d) { close(fd); return; }
    int n;
    char **names = sorted_names(d, NAMES_NO_DOTDIRS, INT_MAX, &n);
    for (int i = 0; i < n; i++) {
        char sub[4200];
        join(sub, sizeof sub, shown, names[i]);
        find_visit(c, f, dirfd(d), names[i], sub, depth + 1);
    }
    free_names(names, n);
    closedir(d);
}

static int b_find(sh_ctx *c, int argc, char **argv) {
    find_opts f = {.maxdepth = 1000};
    const char *starts[64];
    int ns = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') { if (ns < 64) starts[ns++] = a; continue; }
        if (i + 1 >= argc) { sh_printf(c->err, "find: missing argument to '%s'\n", a); return 1; }
        const char *v = argv[++i];
        if (strcmp(a, "-name") == 0) f.name = v;
        else if (strcmp(a, "-iname") == 0) { f.name = v; f.iname = true; }
        else if (strcmp(a, "-type") == 0) {
            if (strlen(v) != 1 || !strchr("fdl", v[0])) { sh_printf(c->err, "find: unknown -type '%s'\n", v); return 1; }
            f.type = v[0];
        } else if (strcmp(a, "-maxdepth") == 0) {
            if (!parse_count(v, &f.maxdepth)) { sh_printf(c->err, "find: bad -maxdepth '%s'\n", v); return 1; }
        } else {
            sh_printf(c->err, "find: unsupported expression '%s' (supported: -name -iname -type -maxdepth)\n", a);
            return 1;
        }
    }
    if (ns == 0) starts[ns++] = ".";
    int rc = 0;
    for (int i = 0; i < ns; i++) {
        sb_path p;
        if (resolve(c, "find", starts[i], &p) != 0) { rc = 1; continue; }
        struct stat st;
        if (sb_lstat(&p, &st) != 0) { sh_printf(c->err, "find: '%s': %s\n", starts[i], strerror(errno)); rc = 1; }
        else find_visit(c, &f, p.dirfd, p.name, starts[i], 0);
        sb_path_free(&p);
    }
    return rc;
}

typedef struct line_ref {
    const char *s;
    size_t n;
} line_ref;

typedef struct sort_opts {
    bool numeric, reverse;
} sort_opts;

/* qsort_r comparator (no globals: rollouts may run on several threads). */
static int cmp_line(const void *a, const void *b, void *arg) {
    const line_ref *x = a, *y = b;
    const sort_opts *o = arg;
    int r;
    if (o->numeric) {
        double dx = strtod(x->s, NULL), dy = strtod(y->s, NULL);
        r = dx < dy ? -1 : dx > dy ? 1 : 0;
    } else {
        size_t m = x->n < y->n ? x->n : y->n;
        r = memcmp(x->s, y->s, m);
        if (!r) r = x->n < y->n ? -1 : x->n > y->n ? 1 : 0;
    }
    return o->reverse ? -r : r;
}

/* Loads the operands (or stdin) as one buffer of lines. */
static int load_all(sh_ctx *c, const char *cmd, int nf, const char **files, gh_strbuf *all) {
    if (nf == 0) { gh_strbuf_putn(all, c->in ? c->in : "", c->in_n); return 0; }
    for (int f = 0; f < nf; f++) {
        char *d;
        size_t n;
        if (load(c, cmd, files[f], &d, &n) != 0) return -1;
        gh_strbuf_putn(all, d, n);
        if (n && d[n - 1] != '\n') gh_strbuf_putn(all, "\n", 1);
        free(d);
    }
    return 0;
}

static int b_sort(sh_ctx *c, int argc, char **argv) {
    bool num = false, rev = false, uniq = false;
    const char *files[256];
    int nf = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1]) {
            for (const char *q = a + 1; *q; q++) {
                if (*q == 'n') num = true;
                else if (*q == 'r') rev = true;
                else if (*q == 'u') uniq = true;
                else { sh_printf(c->err, "sort: invalid option '-%c' (supported: -n -r -u)\n", *q); return 2; }
            }
            continue;
        }
        if (nf < 256) files[nf++] = a;
    }
    gh_strbuf all = {0};
    if (load_all(c, "sort", nf, files, &all) != 0) { gh_strbuf_free(&all); return 2; }
    size_t cnt = 0, pos = 0;
    const char *ls;
    size_t ll;
    const char *d = all.p ? all.p : "";
    while (next_line(d, all.len, &pos, &ls, &ll)) cnt++;
    line_ref *v = malloc((cnt ? cnt : 1) * sizeof *v);
    if (!v) { gh_strbuf_free(&all); return 2; }
    pos = 0;
    cnt = 0;
    while (next_line(d, all.len, &pos, &ls, &ll)) v[cnt++] = (line_ref){ls, ll};
    sort_opts so = {num, rev};
    if (cnt > 1) qsort_r(v, cnt, sizeof *v, cmp_line, &so);
    for (size_t i = 0; i < cnt; i++) {
        if (uniq && i && cmp_line(&v[i], &v[i - 1], &so) == 0) continue;
        sh_put(c->out, v[i].s, v[i].n);
        sh_put(c->out, "\n", 1);
    }
    free(v);
    gh_strbuf_free(&all);
    return 0;
}

static int b_uniq(sh_ctx *c, int argc, char **argv) {
    bool count = false;
    const char *files[1];
    int nf = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0) { count = true; continue; }
        if (argv[i][0] == '-' && argv[i][1]) { sh_printf(c->err, "uniq: invalid option '%s' (supported: -c)\n", argv[i]); return 1; }
        if (nf) { sh_puts(c->err, "uniq: only one input file is supported\n"); return 1; }
        files[nf++] = argv[i];
    }
    gh_strbuf all = {0};
    if (load_all(c, "uniq", nf, files, &all) != 0) { gh_strbuf_free(&all); return 1; }
    const char *d = all.p ? all.p : "";
    size_t pos = 0;
    const char *ls, *ps = NULL;
    size_t ll, pl = 0;
    long run = 0;
    while (true) {
        bool more = next_line(d, all.len, &pos, &ls, &ll);
        if (ps && (!more || ll != pl || memcmp(ls, ps, ll) != 0)) {
            if (count) sh_printf(c->out, "%7ld ", run);
            sh_put(c->out, ps, pl);
            sh_put(c->out, "\n", 1);
            run = 0;
        }
        if (!more) break;
        ps = ls;
        pl = ll;
        run++;
    }
    gh_strbuf_free(&all);
    return 0;
}

/* ---- python3 ------------------------------------------------------------------ */

static int b_python(sh_ctx *c, int argc, char **argv) {
    if (argc < 2 || argv[1][0] == '-') {
        sh_printf(c->err, "%s: only 'python3 FILE [ARGS...]' is available in this sandbox (no -c, -m or "
                          "interactive mode); write the code to a file first\n", argv[0]);
        return 2;
    }
    sb_path p;
    if (resolve(c, argv[0], argv[1], &p) != 0) return 2;
    char script[4200];
    snprintf(script, sizeof script, "%s", p.rel);
    sb_path_free(&p);
    gh_sh_result r = {0};
    gh_status s = sb_python_run(c->sb, c->sb->cwd, script, (const char *const *)argv + 2, argc - 2, &r);
    if (s != GH_OK) {
        /* no host path for the agent: "sandbox ROOT: python3: " comes off */
        const char *m = gh_sandbox_message(c->sb, gh_last_error());
        if (strncmp(m, "python3: ", 9) == 0) m += 9;
        sh_printf(c->err, "%s: %s\n", argv[0], m);
        gh_clear_error();
        return 2;
    }
    sh_puts(c->out, r.out ? r.out : "");
    sh_puts(c->err, r.err ? r.err : "");
    int st = r.status;
    if (r.timed_out) c->timed_out = true;
    gh_sh_result_clear(&r);
    return st;
}

/* ---- the table ---------------------------------------------------------------------- */

static const struct {
    const char *name;
    sh_builtin_fn fn;
} BUILTINS[] = {
    {"cd", b_cd},       {"ls", b_ls},       {"pwd", b_pwd},       {"cat", b_cat},     {"echo", b_echo},
    {"grep", b_grep},   {"head", b_head},   {"tail", b_tail},     {"wc", b_wc},       {"mkdir", b_mkdir},
    {"touch", b_touch}, {"rm", b_rm},       {"cp", b_cp},         {"mv", b_mv},       {"sed", b_sed},
    {"find", b_find},   {"sort", b_sort},   {"uniq", b_uniq},     {"true", b_true},   {"false", b_false},
    {"python3", b_python}, {"python", b_python},
};

sh_builtin_fn sh_find_builtin(const char *name) {
    for (size_t i = 0; i < sizeof BUILTINS / sizeof BUILTINS[0]; i++)
        if (strcmp(BUILTINS[i].name, name) == 0) return BUILTINS[i].fn;
    return NULL;
}

const char *sh_builtin_names(void) {
    return "cd ls pwd cat echo grep head tail wc mkdir touch rm cp mv sed find sort uniq true false python3";
}
