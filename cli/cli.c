/* cli.c — helpers shared by the subcommands (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/utf8.h"

int cli_fail(const char *cmd) {
    fprintf(stderr, "goodhart %s: %s\n", cmd, gh_last_error());
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "goodhart %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see 'goodhart %s --help')\n", cmd);
    va_end(ap);
    return 2;
}

bool cli_flag(const char *arg, const char *short_name, const char *long_name) {
    return (short_name && !strcmp(arg, short_name)) || (long_name && !strcmp(arg, long_name));
}

bool cli_opt(char **argv, int *i, int argc, const char *short_name, const char *long_name,
             const char **val, bool *missing) {
    const char *a = argv[*i];
    if (long_name) {
        size_t n = strlen(long_name);
        if (!strncmp(a, long_name, n) && a[n] == '=') { *val = a + n + 1; return true; }
    }
    if (!cli_flag(a, short_name, long_name)) return false;
    if (*i + 1 >= argc) { *missing = true; *val = NULL; return true; }
    *val = argv[++*i];
    return true;
}

bool cli_parse_int(const char *s, long long lo, long long hi, long long *out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool cli_parse_float(const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

char *cli_read_stdin(size_t *len) {
    size_t cap = 4096, n = 0, r;
    char *buf = malloc(cap + 1);
    if (!buf) return NULL;
    while ((r = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) { free(buf); return NULL; }
            buf = nb;
            cap *= 2;
        }
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Backend options shared by every command that opens a model (see
 * CLI_BACKEND_USAGE); set while parsing, used by cli_open_backend. */
static gh_backend_params backend_opts;
static bool backend_opts_set;

int cli_backend_opt(const char *cmd, char **argv, int *i, int argc) {
    if (!backend_opts_set) { backend_opts = gh_backend_default_params(); backend_opts_set = true; }
    const char *v = NULL;
    bool missing = false;
    long long ll;
    double d;
    if (cli_opt(argv, i, argc, NULL, "--chat-template", &v, &missing)) backend_opts.chat_template = v;
    else if (cli_opt(argv, i, argc, NULL, "--api-key-env", &v, &missing)) backend_opts.api_key_env = v;
    else if (cli_opt(argv, i, argc, NULL, "--cache", &v, &missing)) backend_opts.cache_path = v;
    else if (cli_opt(argv, i, argc, NULL, "--max-inflight", &v, &missing)) {
        if (!missing && !cli_parse_int(v, 1, 1024, &ll))
            return cli_usage_error(cmd, "--max-inflight needs a count in [1, 1024], got '%s'", v), -1;
        if (!missing) backend_opts.max_inflight = (int32_t)ll;
    } else if (cli_opt(argv, i, argc, NULL, "--timeout", &v, &missing)) {
        if (!missing && (!cli_parse_float(v, 0, 1e6, &d) || d <= 0))
            return cli_usage_error(cmd, "--timeout needs seconds > 0, got '%s'", v), -1;
        if (!missing) backend_opts.timeout_s = d;
    } else if (cli_opt(argv, i, argc, NULL, "--retries", &v, &missing)) {
        if (!missing && !cli_parse_int(v, 0, 100, &ll))
            return cli_usage_error(cmd, "--retries needs a count in [0, 100], got '%s'", v), -1;
        if (!missing) backend_opts.max_retries = (int32_t)ll;
    } else return 0;
    if (missing) return cli_usage_error(cmd, "option '%s' needs a value", argv[*i]), -1;
    return 1;
}

int cli_open_backend(const char *cmd, const char *ref, int32_t n_threads, gh_backend **out) {
    if (!backend_opts_set) { backend_opts = gh_backend_default_params(); backend_opts_set = true; }
    gh_backend_params p = backend_opts;
    p.n_threads = n_threads;
    if (gh_backend_open(ref, &p, out) != GH_OK) return cli_fail(cmd);
    return 0;
}

void cli_json_string(FILE *f, const char *s, size_t len) {
    char *u = gh_utf8_sanitize(s, len);
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(u ? u : ""); *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
    free(u);
}

/* Progress on a terminal: one line rewritten in place ("\r"), ended when a
 * stage completes. Silent when stderr is not a terminal (logs, CI, pipes). */
void cli_progress(void *user, const char *stage, int64_t done, int64_t total) {
    static int tty = -1;
    if (tty < 0) tty = isatty(2);
    if (!tty) return;
    fprintf(stderr, "\r%s%s %lld/%lld", user ? (const char *)user : "", stage, (long long)done, (long long)total);
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
}

bool cli_parse_doubles(const char *s, double lo, double hi, double **out, int32_t *n) {
    *out = NULL;
    *n = 0;
    int32_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    double *v = malloc((size_t)cap * sizeof *v);
    char *copy = strdup(s);
    if (!v || !copy) { free(v); free(copy); return false; }
    int32_t k = 0;
    bool ok = true;
    for (char *tok = copy, *next; tok && ok; tok = next) {
        next = strchr(tok, ',');
        if (next) *next++ = 0;
        ok = cli_parse_float(tok, lo, hi, &v[k]);
        k++;
    }
    free(copy);
    if (!ok) { free(v); return false; }
    *out = v;
    *n = k;
    return true;
}
