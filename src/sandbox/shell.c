/* shell.c — goodhart's restricted shell: the tokenizer, the parser and the
 * executor of the command lines an agent writes in <bash> blocks.
 *
 * The grammar is a small, predictable subset of POSIX sh:
 *   line     := pipeline ((';' | '&&' | '||' | newline) pipeline)*
 *   pipeline := command ('|' command)*
 *   command  := (word | redirection)*
 *   redir    := '>' '>>' '<' '2>' '2>>' '2>&1' '&>' word | '<<' WORD (here-document) | '<<<' word
 * Words take single quotes, double quotes, backslash escapes, a leading '~'
 * (the sandbox's top folder) and the globs * ? [..] (expanded inside the
 * sandbox only). Variables, command substitution, subshells, background jobs
 * and every command that is not a builtin are refused with a message in
 * stderr and status != 0 — never passed to a real shell. Redirections go
 * through the same path checks as the builtins; "/dev/null" is understood as
 * the empty input / the discarded output.
 */
#include "sandbox/shell_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- capped output buffers ---------------------------------------------- */

void sh_put(sh_obuf *o, const char *s, size_t n) {
    size_t room = o->b.len < o->cap ? o->cap - o->b.len : 0;
    size_t k = n < room ? n : room;
    if (k) gh_strbuf_putn(&o->b, s, k);
    o->dropped += n - k;
}

void sh_puts(sh_obuf *o, const char *s) { sh_put(o, s, strlen(s)); }

void sh_printf(sh_obuf *o, const char *fmt, ...) {
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) { sh_put(o, small, (size_t)n); return; }
    char *big = malloc((size_t)n + 1);
    if (!big) { o->dropped += (size_t)n; return; }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sh_put(o, big, (size_t)n);
    free(big);
}

/* ---- tokens --------------------------------------------------------------- */

typedef enum tok_kind {
    T_WORD,
    T_PIPE,    /* | */
    T_AND,     /* && */
    T_OR,      /* || */
    T_SEMI,    /* ; or newline */
    T_OUT,     /* > or 1> */
    T_APPEND,  /* >> or 1>> */
    T_IN,      /* < */
    T_ERR,     /* 2> */
    T_ERRAPP,  /* 2>> */
    T_ERR2OUT, /* 2>&1 */
    T_OUT2ERR, /* >&2 or 1>&2 */
    T_BOTH,    /* &> */
    T_HEREDOC, /* << WORD, body in text */
    T_HERESTR, /* <<< */
} tok_kind;

typedef struct tok {
    tok_kind kind;
    char *text; /* the word, unquoted; here-document body */
    char *pat;  /* the word as a glob pattern (quoted metacharacters escaped) */
    bool glob;  /* has an unquoted * ? or [ */
} tok;

typedef struct toks {
    tok *v;
    int n, cap;
} toks;

static void toks_free(toks *t) {
    for (int i = 0; i < t->n; i++) { free(t->v[i].text); free(t->v[i].pat); }
    free(t->v);
    t->v = NULL;
    t->n = t->cap = 0;
}

static tok *toks_push(toks *t, tok_kind k) {
    if (t->n == t->cap) {
        int nc = t->cap ? t->cap * 2 : 16;
        tok *nv = realloc(t->v, (size_t)nc * sizeof *nv);
        if (!nv) return NULL;
        t->v = nv;
        t->cap = nc;
    }
    tok *x = &t->v[t->n++];
    memset(x, 0, sizeof *x);
    x->kind = k;
    return x;
}

static bool is_meta(char c) { return c == '|' || c == '&' || c == ';' || c == '<' || c == '>' || c == '(' || c == ')'; }
static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Refuses "$NAME", "${", "$(" and "$N": the shell has no variables. */
static bool dollar_expands(const char *s) {
    char c = s[1];
    return c == '{' || c == '(' || c == '_' || c == '?' || c == '@' || c == '*' || c == '#' || c == '$' ||
           c == '!' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

typedef struct pending_heredoc {
    int tok_index;
    char delim[256];
    bool strip_tabs;
} pending_heredoc;

/* Tokenizes `line`. Returns 0, or -1 with a message in `why`. */
static int tokenize(const char *line, toks *t, char *why, size_t why_n) {
    pending_heredoc hd[16];
    int n_hd = 0;
    const char *s = line;
    gh_strbuf w = {0}, pat = {0};
    while (*s) {
        if (is_space(*s)) { s++; continue; }
        if (*s == '#') { /* comment to end of line */
            while (*s && *s != '\n') s++;
            continue;
        }
        if (*s == '\n') {
            s++;
            /* A newline after | && || continues the command, as in sh. */
            tok_kind lk = t->n ? t->v[t->n - 1].kind : T_SEMI;
            if (lk != T_PIPE && lk != T_AND && lk != T_OR && !toks_push(t, T_SEMI)) goto oom;
            /* Here-document bodies follow the line that announced them. */
            for (int h = 0; h < n_hd; h++) {
                gh_strbuf body = {0};
                bool found = false;
                while (*s) {
                    const char *e = strchr(s, '\n');
                    size_t l = e ? (size_t)(e - s) : strlen(s);
                    const char *ls = s;
                    size_t ll = l;
                    if (hd[h].strip_tabs) while (ll && *ls == '\t') { ls++; ll--; }
                    s += l + (e ? 1 : 0);
                    if (ll == strlen(hd[h].delim) && memcmp(ls, hd[h].delim, ll) == 0) { found = true; break; }
                    gh_strbuf_putn(&body, ls, ll);
                    gh_strbuf_putn(&body, "\n", 1);
                }
                if (!found) {
                    gh_strbuf_free(&body);
                    snprintf(why, why_n, "syntax error: here-document ended before its delimiter '%s'", hd[h].delim);
                    goto fail;
                }
                if (body.oom) { gh_strbuf_free(&body); goto oom; }
                t->v[hd[h].tok_index].text = body.p ? body.p : strdup("");
            }
            n_hd = 0;
            continue;
        }
        /* Operators, including fd-numbered redirections like 2> and 2>&1. */
        if ((s[0] == '1' || s[0] == '2') && s[1] == '>') {
            bool err = s[0] == '2';
            if (err && strncmp(s, "2>&1", 4) == 0) { if (!toks_push(t, T_ERR2OUT)) goto oom; s += 4; continue; }
            if (!err && strncmp(s, "1>&2", 4) == 0) { if (!toks_push(t, T_OUT2ERR)) goto oom; s += 4; continue; }
            if (s[2] == '>') { if (!toks_push(t, err ? T_ERRAPP : T_APPEND)) goto oom; s += 3; continue; }
            if (!toks_push(t, err ? T_ERR : T_OUT)) goto oom;
            s += 2;
            continue;
        }
        if (is_meta(*s)) {
            if (strncmp(s, "&&", 2) == 0) { if (!toks_push(t, T_AND)) goto oom; s += 2; continue; }
            if (strncmp(s, "||", 2) == 0) { if (!toks_push(t, T_OR)) goto oom; s += 2; continue; }
            if (strncmp(s, "&>", 2) == 0) { if (!toks_push(t, T_BOTH)) goto oom; s += 2; continue; }
            if (strncmp(s, ">&2", 3) == 0) { if (!toks_push(t, T_OUT2ERR)) goto oom; s += 3; continue; }
            if (strncmp(s, ">>", 2) == 0) { if (!toks_push(t, T_APPEND)) goto oom; s += 2; continue; }
            if (strncmp(s, "<<<", 3) == 0) { if (!toks_push(t, T_HERESTR)) goto oom; s += 3; continue; }
            if (strncmp(s, "<<", 2) == 0) {
                s += 2;
                bool strip = false;
                if (*s == '-') { strip = true; s++; }
                while (is_space(*s)) s++;
                /* The delimiter, quotes removed (no expansion happens either way). */
                char d[256];
                size_t dl = 0;
                while (*s && !is_space(*s) && *s != '\n' && !is_meta(*s)) {
                    if ((*s == '\'' || *s == '"')) { s++; continue; }
                    if (*s == '\\' && s[1]) s++;
                    if (dl + 1 < sizeof d) d[dl++] = *s;
                    s++;
                }
                d[dl] = '\0';
                if (dl == 0) { snprintf(why, why_n, "syntax error: '<<' needs a delimiter word"); goto fail; }
                if (n_hd == (int)(sizeof hd / sizeof hd[0])) { snprintf(why, why_n, "too many here-documents"); goto fail; }
                if (!toks_push(t, T_HEREDOC)) goto oom;
                hd[n_hd].tok_index = t->n - 1;
                memcpy(hd[n_hd].delim, d, dl + 1);
                hd[n_hd].strip_tabs = strip;
                n_hd++;
                continue;
            }
            if (*s == '|') { if (!toks_push(t, T_PIPE)) goto oom; s++; continue; }
            if (*s == ';') { if (!toks_push(t, T_SEMI)) goto oom; s++; continue; }
            if (*s == '>') { if (!toks_push(t, T_OUT)) goto oom; s++; continue; }
            if (*s == '<') { if (!toks_push(t, T_IN)) goto oom; s++; continue; }
            if (*s == '&') { snprintf(why, why_n, "background jobs ('&') are not supported in this shell"); goto fail; }
            snprintf(why, why_n, "subshells and groups ('%c') are not supported in this shell", *s);
            goto fail;
        }
        /* A word. */
        w.len = pat.len = 0;
        if (w.p) w.p[0] = '\0';
        if (pat.p) pat.p[0] = '\0';
        bool glob = false, any = false;
        if (*s == '~' && (s[1] == '\0' || s[1] == '/' || is_space(s[1]) || s[1] == '\n' || is_meta(s[1]))) {
            gh_strbuf_putn(&w, "~", 1);
            gh_strbuf_putn(&pat, "~", 1);
            s++;
            any = true;
        }
        while (*s && !is_space(*s) && *s != '\n' && !is_meta(*s)) {
            any = true;
            char c = *s;
            if (c == '\'') {
                const char *e = strchr(s + 1, '\'');
                if (!e) { snprintf(why, why_n, "syntax error: unterminated single quote"); goto fail; }
                for (const char *q = s + 1; q < e; q++) {
                    gh_strbuf_putn(&w, q, 1);
                    if (strchr("*?[]\\", *q)) gh_strbuf_putn(&pat, "\\", 1);
                    gh_strbuf_putn(&pat, q, 1);
                }
                s = e + 1;
                continue;
            }
            if (c == '"') {
                s++;
                while (*s && *s != '"') {
                    char q = *s;
                    if (q == '\\' && (s[1] == '"' || s[1] == '\\' || s[1] == '$' || s[1] == '`')) {
                        q = s[1];
                        s++;
                    } else if (q == '\\' && s[1] == '\n') {
                        s += 2;
                        continue;
                    } else if (q == '$' && dollar_expands(s)) {
                        snprintf(why, why_n, "variables and command substitution ('%.2s...') are not supported in this "
                                             "shell; write the value itself", s);
                        goto fail;
                    } else if (q == '`') {
                        snprintf(why, why_n, "command substitution ('`') is not supported in this shell");
                        goto fail;
                    }
                    gh_strbuf_putn(&w, &q, 1);
                    if (strchr("*?[]\\", q)) gh_strbuf_putn(&pat, "\\", 1);
                    gh_strbuf_putn(&pat, &q, 1);
                    s++;
                }
                if (*s != '"') { snprintf(why, why_n, "syntax error: unterminated double quote"); goto fail; }
                s++;
                continue;
            }
            if (c == '\\') {
                if (s[1] == '\n') { s += 2; continue; } /* line continuation */
                if (!s[1]) { s++; continue; }
                gh_strbuf_putn(&w, s + 1, 1);
                gh_strbuf_putn(&pat, "\\", 1);
                gh_strbuf_putn(&pat, s + 1, 1);
                s += 2;
                continue;
            }
            if (c == '$' && dollar_expands(s)) {
                snprintf(why, why_n, "variables and command substitution ('%.2s...') are not supported in this shell; "
                                     "write the value itself", s);
                goto fail;
            }
            if (c == '`') { snprintf(why, why_n, "command substitution ('`') is not supported in this shell"); goto fail; }
            if (c == '*' || c == '?' || c == '[') glob = true;
            gh_strbuf_putn(&w, &c, 1);
            gh_strbuf_putn(&pat, &c, 1);
            s++;
        }
        if (!any) { s++; continue; }
        if (w.oom || pat.oom) goto oom;
        tok *x = toks_push(t, T_WORD);
        if (!x) goto oom;
        x->text = strdup(w.p ? w.p : "");
        x->pat = strdup(pat.p ? pat.p : "");
        x->glob = glob;
        if (!x->text || !x->pat) goto oom;
    }
    if (n_hd) {
        snprintf(why, why_n, "syntax error: here-document '%s' has no body (it starts on the next line)", hd[0].delim);
        goto fail;
    }
    gh_strbuf_free(&w);
    gh_strbuf_free(&pat);
    return 0;
oom:
    snprintf(why, why_n, "out of memory");
fail:
    gh_strbuf_free(&w);
    gh_strbuf_free(&pat);
    return -1;
}

/* ---- glob expansion inside the sandbox ----------------------------------- */

typedef struct strv {
    char **v;
    int n, cap;
} strv;

static int strv_push(strv *a, const char *s) {
    if (a->n == a->cap) {
        int nc = a->cap ? a->cap * 2 : 16;
        char **nv = realloc(a->v, (size_t)nc * sizeof *nv);
        if (!nv) return -1;
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n] = strdup(s);
    if (!a->v[a->n]) return -1;
    a->n++;
    return 0;
}

static void strv_free(strv *a) {
    for (int i = 0; i < a->n; i++) free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

enum { GLOB_MAX = 10000 };

/* Expands the components of `pat` from index `ci` on, below directory `prefix`
 * (a shell path, "" for the current directory). */
static void glob_rec(gh_sandbox *sb, const char *prefix, char **comps, int nc, int ci, strv *outv) {
    if (outv->n >= GLOB_MAX) return;
    if (ci == nc) { strv_push(outv, prefix); return; }
    const char *c = comps[ci];
    bool meta = strpbrk(c, "*?[") != NULL;
    char next[8192];
    if (!meta) {
        /* A literal component: unescape and go on without listing. */
        char lit[1024];
        size_t l = 0;
        for (const char *q = c; *q && l + 1 < sizeof lit; q++) {
            if (*q == '\\' && q[1]) q++;
            lit[l++] = *q;
        }
        lit[l] = '\0';
        snprintf(next, sizeof next, "%s%s%s", prefix, *prefix && prefix[strlen(prefix) - 1] != '/' ? "/" : "", lit);
        if (ci == nc - 1) {
            sb_path p;
            char why[512];
            if (sb_resolve(sb, sb->cwd, next, &p, why, sizeof why) == 0) {
                struct stat st;
                if (sb_lstat(&p, &st) == 0) strv_push(outv, next);
                sb_path_free(&p);
            }
            return;
        }
        glob_rec(sb, next, comps, nc, ci + 1, outv);
        return;
    }
    sb_path p;
    char why[512];
    if (sb_resolve(sb, sb->cwd, *prefix ? prefix : ".", &p, why, sizeof why) != 0) return;
    int fd = sb_open_read(&p, true, why, sizeof why);
    sb_path_free(&p);
    if (fd < 0) return;
    DIR *d = fdopendir(fd);
    if (!d) { close(fd); return; }
    strv names = {0};
    struct dirent *e;
    while ((e = readdir(d)) && names.n < GLOB_MAX) {
        if (e->d_name[0] == '.' && c[0] != '.') continue;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (fnmatch(c, e->d_name, FNM_PERIOD) == 0) strv_push(&names, e->d_name);
    }
    closedir(d);
    if (names.n > 1) qsort(names.v, (size_t)names.n, sizeof *names.v, cmp_str);
    for (int i = 0; i < names.n; i++) {
        snprintf(next, sizeof next, "%s%s%s", prefix, *prefix && prefix[strlen(prefix) - 1] != '/' ? "/" : "", names.v[i]);
        glob_rec(sb, next, comps, nc, ci + 1, outv);
    }
    strv_free(&names);
}

/* Appends the expansion of word `t` to `argv`. No match keeps the word. */
static int expand_word(gh_sandbox *sb, const tok *t, strv *argv) {
    if (!t->glob || t->pat[0] == '/' || t->pat[0] == '~') {
        if (t->glob && t->pat[0] == '~' && (t->pat[1] == '/' || !t->pat[1])) {
            /* "~/x*": expand below the root. */
        } else {
            return strv_push(argv, t->text);
        }
    }
    char *copy = strdup(t->pat);
    if (!copy) return -1;
    char *comps[256];
    int nc = 0;
    const char *prefix = "";
    char *s = copy;
    if (s[0] == '~') { prefix = "~"; s++; }
    char *save = NULL;
    for (char *c = strtok_r(s, "/", &save); c && nc < 256; c = strtok_r(NULL, "/", &save)) comps[nc++] = c;
    strv found = {0};
    glob_rec(sb, prefix, comps, nc, 0, &found);
    free(copy);
    int rc = 0;
    if (found.n == 0) rc = strv_push(argv, t->text);
    for (int i = 0; i < found.n && rc == 0; i++) rc = strv_push(argv, found.v[i]);
    strv_free(&found);
    return rc;
}

/* ---- execution -------------------------------------------------------------- */

typedef enum rtarget { R_NONE, R_FILE, R_NULL, R_ERR_TO_OUT, R_OUT_TO_ERR } rtarget;

typedef struct redir_file {
    int fd; /* open for writing; -1 when none */
    bool append;
    char name[512];
} redir_file;

static bool is_devnull(const char *s) { return strcmp(s, "/dev/null") == 0; }

/* Writes buffer `o` into the redirection file, with the file-size limit. */
static int flush_to_file(sh_ctx *c, redir_file *rf, sh_obuf *o) {
    if (rf->fd < 0) return 0;
    struct stat st;
    int64_t have = (rf->append && fstat(rf->fd, &st) == 0) ? (int64_t)st.st_size : 0;
    int64_t lim = c->sb->lim.max_file_bytes;
    size_t n = o->b.len;
    int rc = 0;
    if (o->dropped || have + (int64_t)n > lim) {
        sh_printf(c->err, "%s: file size limit reached (%lld bytes); output cut\n", rf->name, (long long)lim);
        n = have >= lim ? 0 : (size_t)(lim - have) < n ? (size_t)(lim - have) : n;
        rc = 1;
    }
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(rf->fd, o->b.p + off, n - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            sh_printf(c->err, "%s: write error: %s\n", rf->name, strerror(errno));
            return 1;
        }
        off += (size_t)w;
    }
    return rc;
}

/* Opens a redirection target for writing; -1 with a message on refusal. */
static int open_redir(sh_ctx *c, const char *word, bool append, redir_file *rf) {
    char why[600];
    sb_path p;
    snprintf(rf->name, sizeof rf->name, "%s", word);
    rf->append = append;
    rf->fd = -1;
    if (sb_resolve(c->sb, c->sb->cwd, word, &p, why, sizeof why) != 0) {
        sh_printf(c->err, "bash: %s\n", why);
        return -1;
    }
    rf->fd = sb_open_write(&p, append, why, sizeof why);
    sb_path_free(&p);
    if (rf->fd < 0) { sh_printf(c->err, "bash: %s\n", why); return -1; }
    return 0;
}

static int read_input_file(sh_ctx *c, const char *word, char **data, size_t *n) {
    char why[600];
    sb_path p;
    if (is_devnull(word)) { *data = strdup(""); *n = 0; return *data ? 0 : -1; }
    if (sb_resolve(c->sb, c->sb->cwd, word, &p, why, sizeof why) != 0) {
        sh_printf(c->err, "bash: %s\n", why);
        return -1;
    }
    int fd = sb_open_read(&p, false, why, sizeof why);
    sb_path_free(&p);
    if (fd < 0) { sh_printf(c->err, "bash: %s\n", why); return -1; }
    int rc = sb_read_fd(fd, sb_read_cap(c->sb), data, n);
    int e = errno;
    close(fd);
    if (rc != 0) { sh_printf(c->err, "bash: %s: %s\n", word, e == EFBIG ? "file too large" : strerror(e)); return -1; }
    return 0;
}

/* Runs tokens [a, b) as one simple command of a pipeline. `in` is the
 * previous command's output; `out` receives this one's. Returns its status. */
static int run_command(gh_sandbox *sb, const toks *t, int a, int b, const char *in, size_t in_n, sh_obuf *out,
                       sh_obuf *err, bool *timed_out) {
    sh_ctx c = {.sb = sb, .in = in, .in_n = in_n, .out = out, .err = err};
    strv argv = {0};
    char *input = NULL;
    size_t input_n = 0;
    bool have_input = false;
    redir_file rout = {.fd = -1}, rerr = {.fd = -1};
    bool out_null = false, err_null = false, err_to_out = false, out_to_err = false;
    int status = 0;
    for (int i = a; i < b; i++) {
        const tok *x = &t->v[i];
        if (x->kind == T_WORD) {
            if (expand_word(sb, x, &argv) != 0) { sh_puts(err, "bash: out of memory\n"); status = 1; goto done; }
            continue;
        }
        if (x->kind == T_HEREDOC) {
            free(input);
            input = strdup(x->text ? x->text : "");
            input_n = input ? strlen(input) : 0;
            have_input = true;
            continue;
        }
        if (x->kind == T_ERR2OUT) { err_to_out = true; continue; }
        if (x->kind == T_OUT2ERR) { out_to_err = true; continue; }
        /* Every other redirection takes the next word. */
        if (i + 1 >= b || t->v[i + 1].kind != T_WORD) {
            sh_puts(err, "bash: syntax error: a redirection needs a file name\n");
            status = 2;
            goto done;
        }
        const char *target = t->v[++i].text;
        switch (x->kind) {
        case T_IN:
            free(input);
            input = NULL;
            if (read_input_file(&c, target, &input, &input_n) != 0) { status = 1; goto done; }
            have_input = true;
            break;
        case T_HERESTR: {
            free(input);
            size_t l = strlen(target);
            input = malloc(l + 2);
            if (!input) { status = 1; goto done; }
            memcpy(input, target, l);
            input[l] = '\n';
            input[l + 1] = '\0';
            input_n = l + 1;
            have_input = true;
            break;
        }
        case T_OUT:
        case T_APPEND:
        case T_BOTH:
            if (rout.fd >= 0) { close(rout.fd); rout.fd = -1; }
            out_null = is_devnull(target);
            if (!out_null && open_redir(&c, target, x->kind == T_APPEND, &rout) != 0) { status = 1; goto done; }
            if (x->kind == T_BOTH) err_to_out = true;
            break;
        case T_ERR:
        case T_ERRAPP:
            if (rerr.fd >= 0) { close(rerr.fd); rerr.fd = -1; }
            err_null = is_devnull(target);
            if (!err_null && open_redir(&c, target, x->kind == T_ERRAPP, &rerr) != 0) { status = 1; goto done; }
            break;
        default:
            sh_puts(err, "bash: syntax error near an operator\n");
            status = 2;
            goto done;
        }
    }
    if (argv.n == 0) goto done; /* only redirections: files were created, like sh */

    /* Where this command's streams go. */
    sh_obuf fout = {.cap = (size_t)sb->lim.max_file_bytes + 1};
    sh_obuf ferr = {.cap = (size_t)sb->lim.max_file_bytes + 1};
    sh_obuf sink = {.cap = 0};
    sh_obuf *o = out, *e = err;
    if (rout.fd >= 0) o = &fout;
    else if (out_null) o = &sink;
    if (rerr.fd >= 0) e = &ferr;
    else if (err_null) e = &sink;
    if (err_to_out) e = o;
    if (out_to_err) o = e;
    c.out = o;
    c.err = e;
    if (have_input) { c.in = input; c.in_n = input_n; }

    sh_builtin_fn fn = sh_find_builtin(argv.v[0]);
    if (!fn) {
        sh_printf(e, "bash: %s: command not available in this sandbox (allowed: %s)\n", argv.v[0], sh_builtin_names());
        status = 127;
    } else {
        if (strv_push(&argv, "") != 0) { status = 1; goto flush; }
        argv.n--;
        free(argv.v[argv.n]);
        argv.v[argv.n] = NULL;
        status = fn(&c, argv.n, argv.v);
        if (c.timed_out) *timed_out = true;
    }
flush:
    if (rout.fd >= 0 && flush_to_file(&c, &rout, &fout) != 0 && status == 0) status = 1;
    if (rerr.fd >= 0) {
        sh_obuf *saved = c.err;
        c.err = err;
        if (flush_to_file(&c, &rerr, &ferr) != 0 && status == 0) status = 1;
        c.err = saved;
    }
    gh_strbuf_free(&fout.b);
    gh_strbuf_free(&ferr.b);
    gh_strbuf_free(&sink.b);
done:
    if (rout.fd >= 0) close(rout.fd);
    if (rerr.fd >= 0) close(rerr.fd);
    free(input);
    strv_free(&argv);
    return status;
}

static char *obuf_finish(sh_obuf *o, const char *stream) {
    if (o->dropped) {
        char note[160];
        snprintf(note, sizeof note, "%s[%s cut at %zu bytes: %zu more bytes not shown]\n",
                 o->b.len && o->b.p[o->b.len - 1] != '\n' ? "\n" : "", stream, o->cap, o->dropped);
        gh_strbuf_put(&o->b, note);
    }
    if (o->b.oom) { gh_strbuf_free(&o->b); return NULL; }
    if (!o->b.p) return strdup("");
    return o->b.p;
}

gh_status gh_sandbox_exec(gh_sandbox *sb, const char *line, gh_sh_result *r) {
    memset(r, 0, sizeof *r);
    if (!line) return gh_error(GH_ERR_INVALID_ARG, "sandbox %s: NULL command line", sb->root);
    sh_obuf out = {.cap = (size_t)sb->lim.max_output_bytes};
    sh_obuf err = {.cap = (size_t)sb->lim.max_output_bytes};
    toks t = {0};
    char why[600];
    int status = 0;
    bool timed_out = false;
    if (tokenize(line, &t, why, sizeof why) != 0) {
        sh_printf(&err, "bash: %s\n", why);
        status = 2;
        goto finish;
    }
    /* Check the connectors' syntax before running anything. */
    for (int i = 0; i < t.n; i++) {
        tok_kind k = t.v[i].kind;
        bool conn = k == T_PIPE || k == T_AND || k == T_OR;
        if (conn && (i == 0 || t.v[i - 1].kind == T_SEMI || t.v[i - 1].kind == T_PIPE || t.v[i - 1].kind == T_AND ||
                     t.v[i - 1].kind == T_OR || i == t.n - 1)) {
            sh_printf(&err, "bash: syntax error near '%s'\n", k == T_PIPE ? "|" : k == T_AND ? "&&" : "||");
            status = 2;
            goto finish;
        }
    }
    int i = 0;
    tok_kind prev_conn = T_SEMI;
    while (i < t.n) {
        /* One pipeline: up to ; && || or the end. */
        int j = i;
        while (j < t.n && t.v[j].kind != T_SEMI && t.v[j].kind != T_AND && t.v[j].kind != T_OR) j++;
        bool run = i < j && (prev_conn == T_SEMI || (prev_conn == T_AND && status == 0) || (prev_conn == T_OR && status != 0));
        if (run) {
            char *in = NULL;
            size_t in_n = 0;
            int a = i;
            while (a < j) {
                int b = a;
                while (b < j && t.v[b].kind != T_PIPE) b++;
                bool last = b == j;
                sh_obuf pipe_out = {.cap = sb_read_cap(sb)};
                sh_obuf *o = last ? &out : &pipe_out;
                status = run_command(sb, &t, a, b, in, in_n, o, &err, &timed_out);
                free(in);
                in = NULL;
                in_n = 0;
                if (!last) {
                    if (pipe_out.dropped)
                        sh_printf(&err, "bash: pipe data cut at %zu bytes\n", pipe_out.cap);
                    in = pipe_out.b.p ? pipe_out.b.p : NULL;
                    in_n = pipe_out.b.len;
                }
                a = b + 1;
            }
            free(in);
        }
        if (j < t.n) prev_conn = t.v[j].kind;
        i = j + 1;
    }
finish:
    toks_free(&t);
    r->status = status;
    r->timed_out = timed_out;
    r->out = obuf_finish(&out, "stdout");
    r->err = obuf_finish(&err, "stderr");
    if (!r->out || !r->err) {
        gh_sh_result_clear(r);
        return gh_error(GH_ERR_NOMEM, "sandbox %s: out of memory running a command", sb->root);
    }
    return GH_OK;
}
