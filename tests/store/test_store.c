/* Tests of the run store (include/goodhart/store.h): entries, order, binary
 * values, metadata guards, key hashing, export, refusing files that are not
 * stores, several writer processes at once, and surviving a kill -9. */
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "goodhart/store.h"

/* ---- helpers ---------------------------------------------------------------- */

static gh_store *open_ok(const char *path) {
    gh_store *s = NULL;
    assert_ok(gh_store_open(path, &s));
    assert_non_null(s);
    return s;
}

static void put_str(gh_store *s, const char *ns, const char *key, const char *v) {
    assert_ok(gh_store_put(s, ns, key, v, strlen(v)));
}

/* Asserts ns/key holds exactly the string `want` (NULL: absent). */
static void expect_str(gh_store *s, const char *ns, const char *key, const char *want) {
    void *v = (void *)1;
    size_t n = 99;
    assert_ok(gh_store_get(s, ns, key, &v, &n));
    if (!want) {
        assert_null(v);
        assert_int_equal(n, 0);
        return;
    }
    assert_non_null(v);
    assert_int_equal(n, strlen(want));
    assert_string_equal((char *)v, want);
    free(v);
}

typedef struct collected {
    char keys[64][32];
    char vals[64][64];
    int n;
    int stop_after; /* 0: never */
} collected;

static gh_status collect(void *user, const char *key, const void *val, size_t len) {
    collected *c = user;
    if (c->n >= 64 || len >= 64) return gh_error(GH_ERR_LIMIT, "too many");
    snprintf(c->keys[c->n], 32, "%s", key);
    memcpy(c->vals[c->n], val, len + 1); /* the NUL is promised */
    c->n++;
    if (c->stop_after && c->n == c->stop_after) return gh_error(GH_ERR_LIMIT, "stop here");
    return GH_OK;
}

/* The value every writer process stores for (writer, i): distinctive, so a
 * mixed-up or torn entry cannot pass. */
static void entry_value(char *buf, size_t cap, int writer, int i) {
    snprintf(buf, cap, "{\"writer\":%d,\"i\":%d,\"pad\":\"%0*d\"}", writer, i, 10 + (i * 37) % 300, i);
}

/* ---- entries ------------------------------------------------------------------ */

static void test_put_get_replace_delete_order(void **state) {
    (void)state;
    const char *path = tu_tmp("basic.db");
    gh_store *s = open_ok(path);
    assert_string_equal(gh_store_path(s), path);

    int64_t n = -1;
    assert_ok(gh_store_count(s, "samples", &n));
    assert_int_equal(n, 0);
    expect_str(s, "samples", "missing", NULL);

    put_str(s, "samples", "c", "{\"v\":1}");
    put_str(s, "samples", "a", "{\"v\":2}");
    put_str(s, "samples", "b", "{\"v\":3}");
    put_str(s, "other", "a", "{\"other\":true}"); /* same key, another namespace */
    expect_str(s, "samples", "a", "{\"v\":2}");
    expect_str(s, "other", "a", "{\"other\":true}");

    /* replace keeps the entry's place; delete removes exactly one */
    put_str(s, "samples", "c", "{\"v\":10}");
    expect_str(s, "samples", "c", "{\"v\":10}");
    put_str(s, "samples", "d", "{\"v\":4}");
    bool deleted = false, found = true;
    assert_ok(gh_store_delete(s, "samples", "a", &deleted));
    assert_true(deleted);
    assert_ok(gh_store_delete(s, "samples", "a", &deleted));
    assert_false(deleted);
    assert_ok(gh_store_has(s, "samples", "a", &found));
    assert_false(found);
    assert_ok(gh_store_has(s, "samples", "b", &found));
    assert_true(found);
    assert_ok(gh_store_has(s, "other", "a", &found));
    assert_true(found);

    assert_ok(gh_store_count(s, "samples", &n));
    assert_int_equal(n, 3);
    assert_ok(gh_store_count(s, "other", &n));
    assert_int_equal(n, 1);

    collected c = {0};
    assert_ok(gh_store_iter(s, "samples", collect, &c));
    assert_int_equal(c.n, 3);
    assert_string_equal(c.keys[0], "c");
    assert_string_equal(c.vals[0], "{\"v\":10}");
    assert_string_equal(c.keys[1], "b");
    assert_string_equal(c.keys[2], "d");
    gh_store_close(s);

    /* everything is still there after reopening, in the same order */
    s = open_ok(path);
    memset(&c, 0, sizeof c);
    assert_ok(gh_store_iter(s, "samples", collect, &c));
    assert_int_equal(c.n, 3);
    assert_string_equal(c.keys[0], "c");
    assert_string_equal(c.keys[1], "b");
    assert_string_equal(c.keys[2], "d");
    assert_string_equal(c.vals[2], "{\"v\":4}");

    /* a callback's status stops the iteration and comes back unchanged */
    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    assert_int_equal(gh_store_iter(s, "samples", collect, &c), GH_ERR_LIMIT);
    assert_int_equal(c.n, 2);
    assert_string_equal(gh_last_error(), "stop here");

    /* an empty namespace iterates zero times */
    memset(&c, 0, sizeof c);
    assert_ok(gh_store_iter(s, "never-written", collect, &c));
    assert_int_equal(c.n, 0);

    /* impossible arguments are refused, not crashed on */
    assert_int_equal(gh_store_put(s, NULL, "k", "v", 1), GH_ERR_INVALID_ARG);
    assert_int_equal(gh_store_put(s, "ns", NULL, "v", 1), GH_ERR_INVALID_ARG);
    assert_int_equal(gh_store_put(s, "ns", "k", NULL, 3), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), path);
    assert_int_equal(gh_store_get(NULL, "ns", "k", NULL, NULL), GH_ERR_INVALID_ARG);
    gh_store_close(s);
    gh_store_close(NULL);
}

static void test_binary_values(void **state) {
    (void)state;
    gh_store *s = open_ok(tu_tmp("binary.db"));
    unsigned char bytes[512];
    for (int i = 0; i < 512; i++) bytes[i] = (unsigned char)(i * 7); /* NULs at 0 and 256 */
    bytes[1] = 0;
    assert_ok(gh_store_put(s, "bin", "all", bytes, sizeof bytes));
    assert_ok(gh_store_put(s, "bin", "empty", NULL, 0));
    assert_ok(gh_store_put(s, "bin", "nul", "\0", 1));

    void *v = NULL;
    size_t n = 0;
    assert_ok(gh_store_get(s, "bin", "all", &v, &n));
    assert_int_equal(n, sizeof bytes);
    assert_memory_equal(v, bytes, sizeof bytes);
    assert_int_equal(((unsigned char *)v)[n], 0); /* the promised terminator */
    free(v);

    /* an empty value is found (non-NULL, length 0), unlike a missing one */
    assert_ok(gh_store_get(s, "bin", "empty", &v, &n));
    assert_non_null(v);
    assert_int_equal(n, 0);
    free(v);
    assert_ok(gh_store_get(s, "bin", "nul", &v, &n));
    assert_int_equal(n, 1);
    assert_int_equal(((unsigned char *)v)[0], 0);
    free(v);
    gh_store_close(s);
}

static void test_batches(void **state) {
    (void)state;
    gh_store *s = open_ok(tu_tmp("batch.db"));
    assert_int_equal(gh_store_commit(s), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "no batch is open");

    assert_ok(gh_store_begin(s));
    assert_int_equal(gh_store_begin(s), GH_ERR_INVALID_ARG);
    char key[32], val[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        snprintf(val, sizeof val, "%d", i * i);
        put_str(s, "b", key, val);
    }
    assert_ok(gh_store_commit(s));
    int64_t n = 0;
    assert_ok(gh_store_count(s, "b", &n));
    assert_int_equal(n, 1000);
    expect_str(s, "b", "k999", "998001");

    assert_ok(gh_store_begin(s));
    put_str(s, "b", "gone", "1");
    put_str(s, "b", "k0", "changed");
    assert_ok(gh_store_rollback(s));
    expect_str(s, "b", "gone", NULL);
    expect_str(s, "b", "k0", "0");

    /* a batch left open at close is rolled back, not half-written */
    assert_ok(gh_store_begin(s));
    put_str(s, "b", "uncommitted", "1");
    gh_store_close(s);
    s = open_ok(tu_tmp("batch.db"));
    expect_str(s, "b", "uncommitted", NULL);
    assert_ok(gh_store_count(s, "b", &n));
    assert_int_equal(n, 1000);
    gh_store_close(s);
}

/* ---- metadata -------------------------------------------------------------------- */

static void test_meta(void **state) {
    (void)state;
    const char *path = tu_tmp("meta.db");
    gh_store *s = open_ok(path);
    char *v = (char *)1;
    assert_ok(gh_store_meta_get(s, "model", &v));
    assert_null(v);

    /* first check records; the same value passes; another one is refused */
    assert_ok(gh_store_check_meta(s, "model", "a.gguf"));
    assert_ok(gh_store_meta_get(s, "model", &v));
    assert_string_equal(v, "a.gguf");
    free(v);
    assert_ok(gh_store_check_meta(s, "model", "a.gguf"));
    gh_store_close(s);

    s = open_ok(path);
    assert_int_equal(gh_store_check_meta(s, "model", "b.gguf"), GH_ERR_MISMATCH);
    char want[512];
    snprintf(want, sizeof want,
             "%s: this run was started with model=a.gguf; now model=b.gguf (use a new run directory or --force)", path);
    assert_string_equal(gh_last_error(), want);

    /* --force: the caller overwrites the setting */
    assert_ok(gh_store_meta_put(s, "model", "b.gguf"));
    assert_ok(gh_store_check_meta(s, "model", "b.gguf"));
    assert_int_equal(gh_store_check_meta(s, "model", "a.gguf"), GH_ERR_MISMATCH);

    /* long settings are cut in the message, which still ends with the advice */
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_ok(gh_store_meta_put(s, "settings", big));
    assert_int_equal(gh_store_check_meta(s, "settings", "{}"), GH_ERR_MISMATCH);
    assert_contains(gh_last_error(), "...; now settings={} (use a new run directory or --force)");

    /* metadata and entries do not mix */
    int64_t n = 1;
    assert_ok(gh_store_count(s, "", &n));
    assert_int_equal(n, 0);
    gh_store_close(s);
}

/* ---- keys ---------------------------------------------------------------------- */

static void test_keys(void **state) {
    (void)state;
    char k1[65], k2[65];
    /* pinned: the encoding must never change, or every stored run would miss
     * (computed independently: sha256(b"ghkey1" + per part <u64 LE len> + bytes)) */
    assert_ok(gh_store_key(k1, "model.gguf", "prompt-17", "seed=3", NULL));
    assert_string_equal(k1, "a2007585d46a882a354055897c3e0ac683b379f2a5e5352f792d18f574e6b07a");
    const char *parts[] = {"model.gguf", "prompt-17", "seed=3"};
    assert_ok(gh_store_key_parts(k2, 3, parts));
    assert_string_equal(k1, k2);
    assert_ok(gh_store_key_parts(k2, 0, NULL));
    assert_string_equal(k2, "7764af20f07adbdb7763f8179305df6cc4c6d1b776751807d4e1ef3467c6d2cc");

    /* unambiguous: the joins that a plain concatenation would confuse */
    assert_ok(gh_store_key(k1, "ab", "c", NULL));
    assert_ok(gh_store_key(k2, "a", "bc", NULL));
    assert_string_not_equal(k1, k2);
    assert_ok(gh_store_key(k1, "a", NULL));
    assert_ok(gh_store_key(k2, "a", "", NULL));
    assert_string_not_equal(k1, k2);
    assert_ok(gh_store_key(k1, "", "a", NULL));
    assert_string_not_equal(k1, k2);

    /* byte parts may hold NULs; equal to the string form where they agree */
    const void *bp[] = {"a\0b", "c"};
    size_t bl[] = {3, 1};
    assert_ok(gh_store_key_bytes(k1, 2, bp, bl));
    bl[0] = 1;
    assert_ok(gh_store_key_bytes(k2, 2, bp, bl));
    assert_string_not_equal(k1, k2);
    assert_ok(gh_store_key(k1, "a", "c", NULL));
    assert_string_equal(k1, k2);
    assert_int_equal(strlen(k1), 64);

    const char *bad[] = {"a", NULL};
    assert_int_equal(gh_store_key_parts(k1, 2, bad), GH_ERR_INVALID_ARG);
    assert_string_equal(k1, "");
}

/* ---- export -------------------------------------------------------------------------- */

static void test_export_jsonl(void **state) {
    (void)state;
    gh_store *s = open_ok(tu_tmp("export.db"));
    put_str(s, "rec", "2", "{\"id\":2,\"text\":\"b\\nc\"}");
    put_str(s, "rec", "1", "{\n  \"id\": 1,\n  \"text\": \"a b\"\n}\n"); /* pretty-printed */
    put_str(s, "rec", "3", "[1, 2.50, \"x\"]");
    const char *out = tu_tmp("export.jsonl");
    assert_ok(gh_store_export_jsonl_path(s, "rec", out));
    char *text = tu_read_file(out, NULL);
    assert_non_null(text);
    assert_string_equal(text, "{\"id\":2,\"text\":\"b\\nc\"}\n"
                              "{\"id\":1,\"text\":\"a b\"}\n"
                              "[1, 2.50, \"x\"]\n");
    free(text);

    /* FILE* form, and an empty namespace exports nothing */
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_ok(gh_store_export_jsonl(s, "none", f));
    assert_int_equal(ftell(f), 0);
    fclose(f);

    /* values that are not JSON (or would break the line structure) are named */
    put_str(s, "bad", "ok", "{}");
    put_str(s, "bad", "prose", "not json");
    const char *out2 = tu_tmp("bad.jsonl");
    assert_int_equal(gh_store_export_jsonl_path(s, "bad", out2), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "key prose (entry 2): value is not JSON text");
    assert_contains(gh_last_error(), out2);
    struct stat sb;
    assert_int_not_equal(stat(out2, &sb), 0); /* nothing half-written left behind */
    assert_ok(gh_store_delete(s, "bad", "prose", NULL));
    put_str(s, "bad", "rawbreak", "\"a\nb\"");
    assert_int_equal(gh_store_export_jsonl_path(s, "bad", out2), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "key rawbreak");
    assert_ok(gh_store_delete(s, "bad", "rawbreak", NULL));
    assert_ok(gh_store_put(s, "bad", "trailing", "{} {}", 5));
    assert_int_equal(gh_store_export_jsonl_path(s, "bad", out2), GH_ERR_FORMAT);
    assert_ok(gh_store_put(s, "bad", "trailing", "{}\0x", 4));
    assert_int_equal(gh_store_export_jsonl_path(s, "bad", out2), GH_ERR_FORMAT);
    assert_ok(gh_store_put(s, "bad", "trailing", "", 0));
    assert_int_equal(gh_store_export_jsonl_path(s, "bad", out2), GH_ERR_FORMAT);
    gh_store_close(s);
}

/* ---- files that are not stores -------------------------------------------------------- */

static void expect_refused(const char *path, gh_status want, const char *why) {
    gh_store *s = (gh_store *)1;
    assert_int_equal(gh_store_open(path, &s), want);
    assert_null(s);
    assert_contains(gh_last_error(), path);
    assert_contains(gh_last_error(), why);
}

static void test_not_a_store(void **state) {
    (void)state;
    const char *txt = tu_tmp("notes.txt");
    const char *content = "These are my notes, not a database. They are long enough to hold a header.\n"
                          "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\n";
    assert_int_equal(tu_write_file(txt, content, strlen(content)), 0);
    expect_refused(txt, GH_ERR_FORMAT, ": not a goodhart run store (file is not a database)");
    char *after = tu_read_file(txt, NULL);
    assert_string_equal(after, content); /* untouched */
    free(after);

    const char *tiny = tu_tmp("tiny.db");
    assert_int_equal(tu_write_file(tiny, "SQLite", 6), 0);
    expect_refused(tiny, GH_ERR_FORMAT, "not a goodhart run store (");

    /* another program's SQLite database: refused and left in its journal mode */
    const char *other = tu_tmp("other.db");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1);", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    expect_refused(other, GH_ERR_FORMAT, ": not a goodhart run store (an SQLite database of another program)");
    size_t n = 0;
    unsigned char *hdr = (unsigned char *)tu_read_file(other, &n);
    assert_true(n >= 100);
    assert_int_equal(hdr[18], 1); /* file format write version: 1 = rollback journal, 2 = WAL */
    free(hdr);

    /* a store from a newer goodhart */
    const char *newer = tu_tmp("newer.db");
    gh_store_close(open_ok(newer));
    assert_int_equal(sqlite3_open(newer, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    expect_refused(newer, GH_ERR_UNSUPPORTED, "run store schema version 99 is newer");

    expect_refused(tu_tmpdir(), GH_ERR_IO, "is a directory");
    expect_refused(tu_tmp("no-such-dir/x.db"), GH_ERR_IO, "cannot open run store");
}

/* Builds a store of `n` entries of about 1 KB each and closes it (the last
 * close folds the log into the main file, so the file alone is the store). */
static void build_store(const char *path, int n) {
    gh_store *s = open_ok(path);
    char key[32], val[1100];
    assert_ok(gh_store_begin(s));
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "k%05d", i);
        int len = snprintf(val, sizeof val, "{\"i\":%d,\"pad\":\"%01000d\"}", i, i);
        assert_ok(gh_store_put(s, "x", key, val, (size_t)len));
    }
    assert_ok(gh_store_commit(s));
    gh_store_close(s);
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", path);
    struct stat sb;
    assert_int_not_equal(stat(wal, &sb), 0);
}

static gh_status touch_all(void *user, const char *key, const void *val, size_t len) {
    (void)user, (void)key, (void)val, (void)len;
    return GH_OK;
}

/* Opens a damaged store and uses all of it; some step must fail with a clear
 * GH_ERR_FORMAT naming the file (and nothing may crash). */
static void expect_damage_reported(const char *path) {
    gh_store *s = NULL;
    gh_status st = gh_store_open(path, &s);
    if (st == GH_OK) {
        int64_t n = 0;
        st = gh_store_iter(s, "x", touch_all, NULL);
        if (st == GH_OK) st = gh_store_count(s, "x", &n);
        if (st == GH_OK) st = gh_store_verify(s);
        gh_store_close(s);
    } else {
        assert_contains(gh_last_error(), ": not a goodhart run store (");
    }
    assert_int_equal(st, GH_ERR_FORMAT);
    assert_contains(gh_last_error(), path);
    const char *m = gh_last_error();
    assert_true(strstr(m, "corrupt run store (") || strstr(m, "not a goodhart run store ("));
}

static void copy_prefix(const char *from, const char *to, size_t len) {
    size_t n = 0;
    char *data = tu_read_file(from, &n);
    assert_non_null(data);
    assert_true(len <= n);
    assert_int_equal(tu_write_file(to, data, len), 0);
    free(data);
}

static void test_corrupt_store(void **state) {
    (void)state;
    const char *src = tu_tmp("corrupt-src.db");
    build_store(src, 300);
    size_t n = 0;
    char *data = tu_read_file(src, &n);
    assert_true(n > 64 * 1024);

    /* truncated to half, and to a few bytes */
    const char *half = tu_tmp("half.db");
    copy_prefix(src, half, n / 2);
    expect_damage_reported(half);
    const char *stub = tu_tmp("stub.db");
    copy_prefix(src, stub, 50);
    expect_damage_reported(stub);

    /* garbage over pages in the middle */
    const char *scribbled = tu_tmp("scribbled.db");
    for (size_t i = n / 3; i < n / 3 + 12000; i++) data[i] = (char)(0x5a ^ (i * 131));
    assert_int_equal(tu_write_file(scribbled, data, n), 0);
    expect_damage_reported(scribbled);

    /* a clobbered header */
    const char *headless = tu_tmp("headless.db");
    memset(data, 'Z', 16);
    assert_int_equal(tu_write_file(headless, data, n), 0);
    expect_refused(headless, GH_ERR_FORMAT, ": not a goodhart run store (file is not a database)");
    free(data);

    /* and the intact original still verifies */
    gh_store *s = open_ok(src);
    assert_ok(gh_store_verify(s));
    gh_store_close(s);
}

/* ---- concurrency ------------------------------------------------------------------------- */

enum { N_WRITERS = 3, PER_WRITER = 200 };

static int writer_child(const char *path, int writer, int start_fd) {
    char go;
    if (read(start_fd, &go, 1) < 0) return 2; /* EOF when the parent releases all at once */
    gh_store *s = NULL;
    if (gh_store_open(path, &s) != GH_OK) {
        fprintf(stderr, "writer %d: %s\n", writer, gh_last_error());
        return 1;
    }
    char key[32], val[512];
    for (int i = 0; i < PER_WRITER; i++) {
        snprintf(key, sizeof key, "w%d-%d", writer, i);
        entry_value(val, sizeof val, writer, i);
        if (gh_store_put(s, "c", key, val, strlen(val)) != GH_OK) {
            fprintf(stderr, "writer %d: %s\n", writer, gh_last_error());
            gh_store_close(s);
            return 1;
        }
    }
    gh_store_close(s);
    return 0;
}

static void test_concurrent_processes(void **state) {
    (void)state;
    /* the store does not exist yet: the writers also race to create it */
    const char *path = tu_tmp("concurrent.db");
    int start[2];
    assert_int_equal(pipe(start), 0);
    pid_t pids[N_WRITERS];
    for (int w = 0; w < N_WRITERS; w++) {
        fflush(NULL);
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) {
            close(start[1]);
            _exit(writer_child(path, w, start[0]));
        }
    }
    close(start[0]);
    close(start[1]); /* go */
    for (int w = 0; w < N_WRITERS; w++) {
        int status = 0;
        assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    gh_store *s = open_ok(path);
    int64_t n = 0;
    assert_ok(gh_store_count(s, "c", &n));
    assert_int_equal(n, N_WRITERS * PER_WRITER);
    char key[32], val[512];
    for (int w = 0; w < N_WRITERS; w++)
        for (int i = 0; i < PER_WRITER; i++) {
            snprintf(key, sizeof key, "w%d-%d", w, i);
            entry_value(val, sizeof val, w, i);
            expect_str(s, "c", key, val);
        }
    assert_ok(gh_store_verify(s));
    gh_store_close(s);
}

typedef struct thread_arg {
    gh_store *s;
    int writer;
    gh_status status;
} thread_arg;

static void *writer_thread(void *p) {
    thread_arg *a = p;
    char key[32], val[512];
    for (int i = 0; i < PER_WRITER && a->status == GH_OK; i++) {
        snprintf(key, sizeof key, "t%d-%d", a->writer, i);
        entry_value(val, sizeof val, a->writer, i);
        a->status = gh_store_put(a->s, "t", key, val, strlen(val));
        bool found = false;
        if (a->status == GH_OK) a->status = gh_store_has(a->s, "t", key, &found);
        if (a->status == GH_OK && !found) a->status = GH_ERR_MISMATCH;
    }
    return NULL;
}

static void test_shared_handle_threads(void **state) {
    (void)state;
    gh_store *s = open_ok(tu_tmp("threads.db"));
    pthread_t th[4];
    thread_arg args[4];
    for (int t = 0; t < 4; t++) {
        args[t] = (thread_arg){.s = s, .writer = t, .status = GH_OK};
        assert_int_equal(pthread_create(&th[t], NULL, writer_thread, &args[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].status, GH_OK);
    }
    int64_t n = 0;
    assert_ok(gh_store_count(s, "t", &n));
    assert_int_equal(n, 4 * PER_WRITER);
    gh_store_close(s);
}

/* ---- crash safety ------------------------------------------------------------------------ */

/* Writes entries 0, 1, 2, ... (in batches of `batch`, 1 = one transaction
 * each) and reports each committed count on `fd`, until killed. */
static int crash_child(const char *path, int batch, int fd) {
    gh_store *s = NULL;
    if (gh_store_open(path, &s) != GH_OK) return 1;
    char key[32], val[512];
    for (int i = 0; i < 1000000; i += batch) {
        if (batch > 1 && gh_store_begin(s) != GH_OK) return 1;
        for (int j = i; j < i + batch; j++) {
            snprintf(key, sizeof key, "k%07d", j);
            entry_value(val, sizeof val, 9, j);
            if (gh_store_put(s, "crash", key, val, strlen(val)) != GH_OK) return 1;
        }
        if (batch > 1 && gh_store_commit(s) != GH_OK) return 1;
        int32_t committed = i + batch;
        if (write(fd, &committed, sizeof committed) != (ssize_t)sizeof committed) return 1;
    }
    return 1; /* never reached in the test: the parent kills first */
}

typedef struct verify_ctx {
    int64_t n;
    bool ok;
} verify_ctx;

static gh_status verify_entry(void *user, const char *key, const void *val, size_t len) {
    verify_ctx *c = user;
    char want_key[32], want[512];
    snprintf(want_key, sizeof want_key, "k%07lld", (long long)c->n);
    entry_value(want, sizeof want, 9, (int)c->n);
    /* entries come back in commit order, each exactly as written */
    if (strcmp(key, want_key) != 0 || len != strlen(want) || memcmp(val, want, len) != 0) c->ok = false;
    c->n++;
    return GH_OK;
}

static void kill_mid_write(const char *path, int batch) {
    enum { K = 120 };
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        _exit(crash_child(path, batch, fds[1]));
    }
    close(fds[1]);
    int32_t committed = 0, got;
    while (committed < K) {
        ssize_t r = read(fds[0], &got, sizeof got);
        if (r != (ssize_t)sizeof got) break; /* the child failed: asserted below */
        committed = got;
    }
    kill(pid, SIGKILL); /* while it goes on writing */
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(fds[0]);
    assert_true(committed >= K);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* SQLite's own check on the file as left, before goodhart touches it */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);

    gh_store *s = open_ok(path);
    assert_ok(gh_store_verify(s));
    int64_t n = 0;
    assert_ok(gh_store_count(s, "crash", &n));
    assert_true(n >= committed);
    assert_int_equal(n % batch, 0); /* a batch is all or nothing */
    verify_ctx c = {0, true};
    assert_ok(gh_store_iter(s, "crash", verify_entry, &c));
    assert_int_equal(c.n, n);
    assert_true(c.ok);
    gh_store_close(s);
}

static void test_crash_single_puts(void **state) {
    (void)state;
    kill_mid_write(tu_tmp("crash1.db"), 1);
}

static void test_crash_batches(void **state) {
    (void)state;
    kill_mid_write(tu_tmp("crash10.db"), 10);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_replace_delete_order),
        cmocka_unit_test(test_binary_values),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_meta),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_export_jsonl),
        cmocka_unit_test(test_not_a_store),
        cmocka_unit_test(test_corrupt_store),
        cmocka_unit_test(test_concurrent_processes),
        cmocka_unit_test(test_shared_handle_threads),
        cmocka_unit_test(test_crash_single_puts),
        cmocka_unit_test(test_crash_batches),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
