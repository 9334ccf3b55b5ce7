/* testutil.h — helpers shared by the test programs (cmocka).
 * Tests run from the repository root; ../shared is found through $GH_SHARED or
 * the default "../shared". */
#ifndef GH_TESTUTIL_H
#define GH_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <cmocka.h>

#include "goodhart/common.h"

/* Path of a file under shared/ (valid until exit). Tests never write there. */
const char *tu_shared(const char *rel);
/* A fresh private temporary directory for this process (removed at exit). */
const char *tu_tmpdir(void);
/* Path of `name` inside tu_tmpdir() (valid until exit). */
const char *tu_tmp(const char *name);
/* Reads a whole file; returns malloc'd bytes (NUL-terminated) or NULL. */
char *tu_read_file(const char *path, size_t *len);
int tu_write_file(const char *path, const void *data, size_t len);
/* stories260K converted to GGUF (F32), once per process. */
const char *tu_stories_gguf(void);
/* Runs a shell command, captures stdout+stderr (malloc'd) and the exit status. */
char *tu_run(const char *cmd, int *status);
/* The goodhart binary under test: $GH_BIN, default build/goodhart. */
const char *tu_bin(void);
/* True under CI (CI=true) or GH_REQUIRE_CROSSCHECK=1 (scripts/test.sh): an
 * external cross-check whose tools are missing (PyTorch, the npm packages)
 * must then fail the test instead of skipping it. */
bool tu_crosscheck_required(void);
/* Skips the current test with a message on stderr, or fails it when
 * tu_crosscheck_required(). */
#define tu_skip_or_fail(...) do { fprintf(stderr, __VA_ARGS__); \
    if (tu_crosscheck_required()) fail_msg("a required cross-check cannot run (CI=true or GH_REQUIRE_CROSSCHECK=1)"); \
    skip(); } while (0)
/* Runs "goodhart ARGS" (printf-style ARGS, shell syntax) like tu_run. */
char *tu_cli(int *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Asserts that `haystack` contains `needle`, printing both if not. */
#define assert_contains(haystack, needle) tu_assert_contains((haystack), (needle), __FILE__, __LINE__)
void tu_assert_contains(const char *haystack, const char *needle, const char *file, int line);
/* 1 in a build with AddressSanitizer (slower; freed memory quarantined), else 0. */
#if defined(__SANITIZE_ADDRESS__)
#define TU_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_SANITIZED 1
#endif
#endif
#ifndef TU_SANITIZED
#define TU_SANITIZED 0
#endif
/* Asserts s == GH_OK, printing gh_last_error() if not. */
#define assert_ok(expr) tu_assert_ok((expr), #expr, __FILE__, __LINE__)
void tu_assert_ok(gh_status s, const char *what, const char *file, int line);

#endif
