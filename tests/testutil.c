/* testutil.c — see testutil.h. */
#include "testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "goodhart/convert.h"

/* Paths handed out stay valid until exit: a recycled buffer once let a test
 * write over a file it had meant only to read. */
static char **g_paths;
static size_t g_n_paths;

static void free_paths(void) {
    for (size_t i = 0; i < g_n_paths; i++) free(g_paths[i]);
    free(g_paths);
}

static char *path_buf(void) {
    if (g_n_paths == 0) atexit(free_paths);
    char **np = realloc(g_paths, (g_n_paths + 1) * sizeof *np);
    if (!np) abort();
    g_paths = np;
    char *b = malloc(4096);
    if (!b) abort();
    return g_paths[g_n_paths++] = b;
}

const char *tu_shared(const char *rel) {
    const char *base = getenv("GH_SHARED");
    char *b = path_buf();
    snprintf(b, 4096, "%s/%s", base && *base ? base : "../shared", rel);
    return b;
}

static char g_tmpdir[256];

static void rm_tmpdir(void) {
    if (g_tmpdir[0] && !getenv("GH_KEEP_TMP")) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmpdir);
    }
}

const char *tu_tmpdir(void) {
    if (!g_tmpdir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(g_tmpdir, sizeof g_tmpdir, "%s/gh-test-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(g_tmpdir)) { perror("mkdtemp"); abort(); }
        atexit(rm_tmpdir);
    }
    return g_tmpdir;
}

const char *tu_tmp(const char *name) {
    char *b = path_buf();
    snprintf(b, 4096, "%s/%s", tu_tmpdir(), name);
    return b;
}

char *tu_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) { cap *= 2; buf = realloc(buf, cap + 1); }
    }
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

int tu_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

const char *tu_stories_gguf(void) {
    static char path[4096];
    if (!path[0]) {
        snprintf(path, sizeof path, "%s", tu_tmp("stories260K.gguf"));
        char m[4096], t[4096];
        snprintf(m, sizeof m, "%s", tu_shared("models/stories260K.bin"));
        snprintf(t, sizeof t, "%s", tu_shared("models/tok512.bin"));
        gh_status s = gh_convert_llama2c(m, t, path, GH_TYPE_F32);
        if (s != GH_OK) {
            fprintf(stderr, "converting stories260K failed: %s\n", gh_last_error());
            abort();
        }
    }
    return path;
}

char *tu_run(const char *cmd, int *status) {
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) { *status = -1; return strdup(""); }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, p)) > 0) {
        n += r;
        if (n == cap) { cap *= 2; buf = realloc(buf, cap + 1); }
    }
    buf[n] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return buf;
}

const char *tu_bin(void) {
    const char *b = getenv("GH_BIN");
    return b && *b ? b : "build/goodhart";
}

bool tu_crosscheck_required(void) {
    const char *ci = getenv("CI"), *r = getenv("GH_REQUIRE_CROSSCHECK");
    return (ci && !strcmp(ci, "true")) || (r && !strcmp(r, "1"));
}

char *tu_cli(int *status, const char *fmt, ...) {
    char args[16384], cmd[17000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s", tu_bin(), args);
    return tu_run(cmd, status);
}

void tu_assert_contains(const char *haystack, const char *needle, const char *file, int line) {
    if (!haystack || !strstr(haystack, needle)) {
        fprintf(stderr, "%s:%d: expected to find \"%s\" in:\n%s\n", file, line, needle,
                haystack ? haystack : "(null)");
        fail();
    }
}

void tu_assert_ok(gh_status s, const char *what, const char *file, int line) {
    if (s != GH_OK) {
        fprintf(stderr, "%s:%d: %s failed: %s: %s\n", file, line, what, gh_status_str(s),
                gh_last_error());
        fail();
    }
}
