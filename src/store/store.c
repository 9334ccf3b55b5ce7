/* store.c — the run store (include/goodhart/store.h) over SQLite.
 *
 * One database file holds three tables:
 *   gh_schema(name, value)          what this file is and which schema version
 *   gh_meta(key, value)             run-level settings, for gh_store_check_meta
 *   gh_kv(id, ns, key, val)         the entries; id is the rowid, so ordering
 *                                   by it is insertion order
 * and the header's application_id is set to GH_STORE_APP_ID, so a goodhart
 * store is recognised before any table is read, and another program's SQLite
 * file is refused without being touched (not even switched to WAL).
 *
 * Namespaces are a column rather than one SQL table each: no table names built
 * from caller strings, and an index on (ns) — whose entries SQLite orders by
 * (ns, rowid) — gives each namespace its own insertion-ordered scan.
 *
 * Locking: the connection is opened FULLMUTEX, but a cached statement's
 * bind/step/reset sequence must not interleave between threads either, so
 * every call also holds the handle's own recursive mutex (recursive so that an
 * iteration callback may call back into the store).
 */
#include "goodhart/store.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/hash.h"

/* "ghRS" in the header's application_id field (offset 68). */
#define GH_STORE_APP_ID 0x67685253

struct gh_store {
    sqlite3 *db;
    char *path;
    pthread_mutex_t mu;
    sqlite3_stmt *put, *get, *has, *del, *count;
};

/* ---- errors ---------------------------------------------------------------- */

/* Turns a failed SQLite call into a status and one sentence naming the file and
 * what was being done. Must be called before any other call on the connection,
 * which would overwrite sqlite3_errmsg. */
static gh_status sql_fail(const gh_store *s, int rc, const char *what) {
    const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return gh_error(GH_ERR_FORMAT, "%s: corrupt run store (%s) while %s", s->path, msg, what);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return gh_error(GH_ERR_IO, "%s: %s: the store stayed locked by another writer for over %d s",
                        s->path, what, GH_STORE_BUSY_MS / 1000);
    case SQLITE_NOMEM:
        return gh_error(GH_ERR_NOMEM, "%s: out of memory while %s", s->path, what);
    case SQLITE_TOOBIG:
        return gh_error(GH_ERR_LIMIT, "%s: %s: value too large for the store (%s)", s->path, what, msg);
    case SQLITE_FULL:
        return gh_error(GH_ERR_IO, "%s: %s: disk full (%s)", s->path, what, msg);
    default:
        return gh_error(GH_ERR_IO, "%s: %s failed: %s", s->path, what, msg);
    }
}

/* "writing NS/KEY", cut so that long keys leave room for the rest. */
static const char *entry_what(char *buf, size_t cap, const char *verb, const char *ns, const char *key) {
    snprintf(buf, cap, "%s %.60s/%.80s", verb, ns, key);
    return buf;
}

static gh_status check_args(const gh_store *s, const char *ns, const char *key, const char *fn) {
    if (!s) return gh_error(GH_ERR_INVALID_ARG, "%s: NULL store", fn);
    if (!ns) return gh_error(GH_ERR_INVALID_ARG, "%s: %s: NULL namespace", s->path, fn);
    if (!key) return gh_error(GH_ERR_INVALID_ARG, "%s: %s: NULL key", s->path, fn);
    return GH_OK;
}

static void lock(gh_store *s) { pthread_mutex_lock(&s->mu); }
static void unlock(gh_store *s) { pthread_mutex_unlock(&s->mu); }

/* ---- open / close ---------------------------------------------------------- */

static const char *const SCHEMA_SQL =
    "CREATE TABLE IF NOT EXISTS gh_schema(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS gh_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS gh_kv(id INTEGER PRIMARY KEY, ns TEXT NOT NULL, key TEXT NOT NULL,"
    "  val BLOB NOT NULL, UNIQUE(ns, key));"
    "CREATE INDEX IF NOT EXISTS gh_kv_ns ON gh_kv(ns);"
    "INSERT OR IGNORE INTO gh_schema(name, value) VALUES('format', 'goodhart run store');";

/* Reads one integer from a single-row query (a PRAGMA or a count). */
static int query_int(sqlite3 *db, const char *sql, int64_t *out) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    /* keep the step's error message: finalize would re-report it anyway */
    sqlite3_finalize(st);
    return rc;
}

/* The failure at open: every problem with what the file is reads
 * "PATH: not a goodhart run store (...)". */
static gh_status open_fail(gh_store *s, int rc, const char *what) {
    int prim = rc & 0xff;
    if (prim == SQLITE_NOTADB || prim == SQLITE_CORRUPT || prim == SQLITE_ERROR)
        return gh_error(GH_ERR_FORMAT, "%s: not a goodhart run store (%s)", s->path, sqlite3_errmsg(s->db));
    return sql_fail(s, rc, what);
}

/* Decides what the file is: ours (check the version), new (create the schema),
 * or something else (refuse, leaving the file untouched). */
static gh_status identify_or_create(gh_store *s) {
    int64_t app = 0, n_objects = 0;
    /* both reads in one snapshot: another process may be creating the schema
     * between them (seen as "no application id, yet tables": not ours) */
    int rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = query_int(s->db, "PRAGMA application_id", &app);
    if (rc == SQLITE_OK) rc = query_int(s->db, "SELECT count(*) FROM sqlite_master", &n_objects);
    if (rc != SQLITE_OK) {
        gh_status e = open_fail(s, rc, "reading the header");
        if (!sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return e;
    }
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (app != GH_STORE_APP_ID) {
        if (app != 0)
            return gh_error(GH_ERR_FORMAT, "%s: not a goodhart run store (an SQLite database with application id 0x%08x)",
                            s->path, (unsigned)(uint32_t)app);
        if (n_objects != 0)
            return gh_error(GH_ERR_FORMAT, "%s: not a goodhart run store (an SQLite database of another program)", s->path);
    }

    /* WAL is a property of the file; switching needs no transaction open but
     * an exclusive lock, and SQLite answers BUSY at once (no busy handler)
     * while a second process opens the same fresh file: so wait here. */
    sqlite3_stmt *st = NULL;
    for (int waited_ms = 0;; waited_ms += 5) {
        rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_step(st);
        if ((rc & 0xff) != SQLITE_BUSY || waited_ms >= GH_STORE_BUSY_MS) break;
        sqlite3_finalize(st);
        st = NULL;
        sqlite3_sleep(5);
    }
    if (rc != SQLITE_ROW) {
        gh_status e = open_fail(s, rc, "switching to WAL journal mode");
        sqlite3_finalize(st);
        return e;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    if (!mode || strcmp(mode, "wal") != 0) {
        gh_status e = gh_error(GH_ERR_IO, "%s: cannot use WAL journal mode here (SQLite kept '%s'); "
                               "is it on a network file system?", s->path, mode ? mode : "?");
        sqlite3_finalize(st);
        return e;
    }
    sqlite3_finalize(st);
    rc = sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK) return sql_fail(s, rc, "setting synchronous=NORMAL");

    if (app == 0) {
        /* A new file. Another process may be creating it at this moment: the
         * write lock serialises us, and the second one finds the work done. */
        rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK) return sql_fail(s, rc, "creating the schema");
        rc = query_int(s->db, "PRAGMA application_id", &app);
        if (rc == SQLITE_OK && app == 0) rc = query_int(s->db, "SELECT count(*) FROM sqlite_master", &n_objects);
        if (rc == SQLITE_OK && app == 0 && n_objects != 0) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return gh_error(GH_ERR_FORMAT, "%s: not a goodhart run store (an SQLite database of another program)", s->path);
        }
        if (rc == SQLITE_OK && app == 0) {
            char sql[1024];
            snprintf(sql, sizeof sql,
                     "%s INSERT OR IGNORE INTO gh_schema(name, value) VALUES('version', '%d');"
                     "PRAGMA application_id=%d; PRAGMA user_version=%d;",
                     SCHEMA_SQL, GH_STORE_SCHEMA_VERSION, GH_STORE_APP_ID, GH_STORE_SCHEMA_VERSION);
            rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        }
        if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            gh_status e = sql_fail(s, rc, "creating the schema");
            if (!sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return e;
        }
    }

    int64_t version = 0;
    rc = query_int(s->db, "PRAGMA user_version", &version);
    if (rc != SQLITE_OK) return open_fail(s, rc, "reading the schema version");
    if (version > GH_STORE_SCHEMA_VERSION)
        return gh_error(GH_ERR_UNSUPPORTED, "%s: run store schema version %lld is newer than this goodhart reads (%d)",
                        s->path, (long long)version, GH_STORE_SCHEMA_VERSION);
    if (version < 1)
        return gh_error(GH_ERR_FORMAT, "%s: not a goodhart run store (schema version %lld)", s->path, (long long)version);
    return GH_OK;
}

static int prepare(gh_store *s, const char *sql, sqlite3_stmt **st) {
    return sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

gh_status gh_store_open(const char *path, gh_store **out) {
    if (!out) return gh_error(GH_ERR_INVALID_ARG, "gh_store_open: NULL output");
    *out = NULL;
    if (!path || !*path) return gh_error(GH_ERR_INVALID_ARG, "gh_store_open: empty path");
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return gh_error(GH_ERR_IO, "%s: is a directory, not a run store file", path);

    gh_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return gh_error(GH_ERR_NOMEM, "%s: out of memory", path);
    }
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&s->mu, &attr);
    pthread_mutexattr_destroy(&attr);

    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        gh_error(GH_ERR_IO, "%s: cannot open run store: %s", path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        gh_store_close(s);
        return GH_ERR_IO;
    }
    gh_status st = GH_OK;
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        st = gh_error(GH_ERR_IO, "%s: run store is not writable (permission denied)", path);
        goto fail;
    }
    sqlite3_busy_timeout(s->db, GH_STORE_BUSY_MS);
    /* The file may come from anywhere: no schema tricks, no functions in it. */
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);

    if ((st = identify_or_create(s)) != GH_OK) goto fail;

    if ((rc = prepare(s, "INSERT INTO gh_kv(ns, key, val) VALUES(?1, ?2, ?3) "
                         "ON CONFLICT(ns, key) DO UPDATE SET val = excluded.val", &s->put)) != SQLITE_OK ||
        (rc = prepare(s, "SELECT val FROM gh_kv WHERE ns = ?1 AND key = ?2", &s->get)) != SQLITE_OK ||
        (rc = prepare(s, "SELECT 1 FROM gh_kv WHERE ns = ?1 AND key = ?2", &s->has)) != SQLITE_OK ||
        (rc = prepare(s, "DELETE FROM gh_kv WHERE ns = ?1 AND key = ?2", &s->del)) != SQLITE_OK ||
        (rc = prepare(s, "SELECT count(*) FROM gh_kv WHERE ns = ?1", &s->count)) != SQLITE_OK) {
        st = open_fail(s, rc, "preparing statements");
        goto fail;
    }
    *out = s;
    return GH_OK;
fail:
    gh_store_close(s);
    return st;
}

void gh_store_close(gh_store *s) {
    if (!s) return;
    sqlite3_finalize(s->put);
    sqlite3_finalize(s->get);
    sqlite3_finalize(s->has);
    sqlite3_finalize(s->del);
    sqlite3_finalize(s->count);
    /* an open batch is rolled back by close; the last connection checkpoints
     * the log into the database and removes it */
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s->path);
    free(s);
}

const char *gh_store_path(const gh_store *s) { return s ? s->path : ""; }

/* ---- entries ------------------------------------------------------------------- */

/* Leaves a cached statement ready for the next call. */
static void done(sqlite3_stmt *st) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static int bind_entry(sqlite3_stmt *st, const char *ns, const char *key) {
    int rc = sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    return rc;
}

/* A column as NUL-terminated bytes: column_text adds the terminator that
 * column_blob does not promise. NULL only when out of memory. */
static const char *col_bytes(sqlite3_stmt *st, int i, size_t *n) {
    const char *p = (const char *)sqlite3_column_text(st, i);
    *n = (size_t)sqlite3_column_bytes(st, i);
    if (!p && *n == 0 && sqlite3_errcode(sqlite3_db_handle(st)) != SQLITE_NOMEM) p = ""; /* empty value */
    return p;
}

gh_status gh_store_put(gh_store *s, const char *ns, const char *key, const void *val, size_t len) {
    gh_status e = check_args(s, ns, key, "gh_store_put");
    if (e) return e;
    if (!val && len) return gh_error(GH_ERR_INVALID_ARG, "%s: gh_store_put: NULL value of %zu bytes", s->path, len);
    char what[200];
    lock(s);
    int rc = bind_entry(s->put, ns, key);
    /* a zero-length value is bound from "" (a NULL pointer would bind SQL NULL) */
    if (rc == SQLITE_OK) rc = sqlite3_bind_blob64(s->put, 3, len ? val : "", (sqlite3_uint64)len, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_step(s->put);
    e = rc == SQLITE_DONE ? GH_OK : sql_fail(s, rc, entry_what(what, sizeof what, "writing", ns, key));
    done(s->put);
    unlock(s);
    return e;
}

gh_status gh_store_get(gh_store *s, const char *ns, const char *key, void **val, size_t *len) {
    if (val) *val = NULL;
    if (len) *len = 0;
    gh_status e = check_args(s, ns, key, "gh_store_get");
    if (e) return e;
    if (!val) return gh_error(GH_ERR_INVALID_ARG, "%s: gh_store_get: NULL output", s->path);
    char what[200];
    lock(s);
    int rc = bind_entry(s->get, ns, key);
    if (rc == SQLITE_OK) rc = sqlite3_step(s->get);
    if (rc == SQLITE_ROW) {
        size_t n;
        const char *p = col_bytes(s->get, 0, &n);
        char *copy = p ? malloc(n + 1) : NULL;
        if (!copy) {
            e = gh_error(GH_ERR_NOMEM, "%s: out of memory reading %.60s/%.80s (%zu bytes)", s->path, ns, key, n);
        } else {
            memcpy(copy, p, n);
            copy[n] = '\0';
            *val = copy;
            if (len) *len = n;
        }
    } else if (rc != SQLITE_DONE) {
        e = sql_fail(s, rc, entry_what(what, sizeof what, "reading", ns, key));
    }
    done(s->get);
    unlock(s);
    return e;
}

gh_status gh_store_has(gh_store *s, const char *ns, const char *key, bool *found) {
    if (found) *found = false;
    gh_status e = check_args(s, ns, key, "gh_store_has");
    if (e) return e;
    if (!found) return gh_error(GH_ERR_INVALID_ARG, "%s: gh_store_has: NULL output", s->path);
    char what[200];
    lock(s);
    int rc = bind_entry(s->has, ns, key);
    if (rc == SQLITE_OK) rc = sqlite3_step(s->has);
    if (rc == SQLITE_ROW) *found = true;
    else if (rc != SQLITE_DONE) e = sql_fail(s, rc, entry_what(what, sizeof what, "looking up", ns, key));
    done(s->has);
    unlock(s);
    return e;
}

gh_status gh_store_delete(gh_store *s, const char *ns, const char *key, bool *deleted) {
    if (deleted) *deleted = false;
    gh_status e = check_args(s, ns, key, "gh_store_delete");
    if (e) return e;
    char what[200];
    lock(s);
    int rc = bind_entry(s->del, ns, key);
    if (rc == SQLITE_OK) rc = sqlite3_step(s->del);
    if (rc == SQLITE_DONE) {
        if (deleted) *deleted = sqlite3_changes(s->db) > 0;
    } else {
        e = sql_fail(s, rc, entry_what(what, sizeof what, "deleting", ns, key));
    }
    done(s->del);
    unlock(s);
    return e;
}

gh_status gh_store_count(gh_store *s, const char *ns, int64_t *n) {
    if (n) *n = 0;
    gh_status e = check_args(s, ns, "", "gh_store_count");
    if (e) return e;
    if (!n) return gh_error(GH_ERR_INVALID_ARG, "%s: gh_store_count: NULL output", s->path);
    char what[200];
    lock(s);
    int rc = sqlite3_bind_text(s->count, 1, ns, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_step(s->count);
    if (rc == SQLITE_ROW) *n = sqlite3_column_int64(s->count, 0);
    else e = sql_fail(s, rc, (snprintf(what, sizeof what, "counting namespace %.60s", ns), what));
    done(s->count);
    unlock(s);
    return e;
}

gh_status gh_store_iter(gh_store *s, const char *ns, gh_store_iter_fn fn, void *user) {
    gh_status e = check_args(s, ns, "", "gh_store_iter");
    if (e) return e;
    if (!fn) return gh_error(GH_ERR_INVALID_ARG, "%s: gh_store_iter: NULL callback", s->path);
    char what[200];
    snprintf(what, sizeof what, "reading namespace %.60s", ns);
    lock(s);
    /* a statement of its own, so that the callback may use the cached ones */
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT key, val FROM gh_kv WHERE ns = ?1 ORDER BY id", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        size_t n;
        const char *v = col_bytes(st, 1, &n);
        if (!k || !v) {
            e = gh_error(GH_ERR_NOMEM, "%s: out of memory while %s", s->path, what);
            break;
        }
        if ((e = fn(user, k, v, n)) != GH_OK) break;
        rc = SQLITE_OK;
    }
    if (e == GH_OK && rc != SQLITE_DONE) e = sql_fail(s, rc, what);
    sqlite3_finalize(st);
    unlock(s);
    return e;
}

/* ---- batches ---------------------------------------------------------------- */

gh_status gh_store_begin(gh_store *s) {
    if (!s) return gh_error(GH_ERR_INVALID_ARG, "gh_store_begin: NULL store");
    gh_status e = GH_OK;
    lock(s);
    if (!sqlite3_get_autocommit(s->db)) {
        e = gh_error(GH_ERR_INVALID_ARG, "%s: gh_store_begin: a batch is already open on this handle", s->path);
    } else {
        int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK) e = sql_fail(s, rc, "starting a batch");
    }
    unlock(s);
    return e;
}

gh_status gh_store_commit(gh_store *s) {
    if (!s) return gh_error(GH_ERR_INVALID_ARG, "gh_store_commit: NULL store");
    gh_status e = GH_OK;
    lock(s);
    if (sqlite3_get_autocommit(s->db)) {
        e = gh_error(GH_ERR_INVALID_ARG, "%s: gh_store_commit: no batch is open", s->path);
    } else {
        int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            e = sql_fail(s, rc, "committing a batch (the batch was rolled back)");
            /* leave the handle usable: a half-failed commit may still be open */
            if (!sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        }
    }
    unlock(s);
    return e;
}

gh_status gh_store_rollback(gh_store *s) {
    if (!s) return gh_error(GH_ERR_INVALID_ARG, "gh_store_rollback: NULL store");
    gh_status e = GH_OK;
    lock(s);
    if (sqlite3_get_autocommit(s->db)) {
        e = gh_error(GH_ERR_INVALID_ARG, "%s: gh_store_rollback: no batch is open", s->path);
    } else {
        int rc = sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        if (rc != SQLITE_OK) e = sql_fail(s, rc, "rolling back a batch");
    }
    unlock(s);
    return e;
}

/* ---- metadata ----------------------------------------------------------------- */

/* Runs `sql` with ?1 = key and ?2 = value (if non-NULL); if `got` is given,
 * returns a malloc'd copy of the first column of the first row (NULL if none). */
static gh_status meta_exec(gh_store *s, const char *sql, const char *key, const char *value, char **got,
                           const char *what) {
    sqlite3_stmt *st = NULL;
    gh_status e = GH_OK;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && value) rc = sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && got) {
        const char *p = (const char *)sqlite3_column_text(st, 0);
        if (!p || !(*got = strdup(p))) e = gh_error(GH_ERR_NOMEM, "%s: out of memory while %s", s->path, what);
    } else if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        e = sql_fail(s, rc, what);
    }
    sqlite3_finalize(st);
    return e;
}

gh_status gh_store_meta_put(gh_store *s, const char *key, const char *value) {
    gh_status e = check_args(s, "", key, "gh_store_meta_put");
    if (e) return e;
    if (!value) return gh_error(GH_ERR_INVALID_ARG, "%s: gh_store_meta_put: NULL value for %s", s->path, key);
    char what[160];
    snprintf(what, sizeof what, "writing metadata %.100s", key);
    lock(s);
    e = meta_exec(s, "INSERT INTO gh_meta(key, value) VALUES(?1, ?2) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, value, NULL, what);
    unlock(s);
    return e;
}

gh_status gh_store_meta_get(gh_store *s, const char *key, char **value) {
    if (value) *value = NULL;
    gh_status e = check_args(s, "", key, "gh_store_meta_get");
    if (e) return e;
    if (!value) return gh_error(GH_ERR_INVALID_ARG, "%s: gh_store_meta_get: NULL output", s->path);
    char what[160];
    snprintf(what, sizeof what, "reading metadata %.100s", key);
    lock(s);
    e = meta_exec(s, "SELECT value FROM gh_meta WHERE key = ?1", key, NULL, value, what);
    unlock(s);
    return e;
}

gh_status gh_store_check_meta(gh_store *s, const char *key, const char *expected) {
    gh_status e = check_args(s, "", key, "gh_store_check_meta");
    if (e) return e;
    if (!expected) return gh_error(GH_ERR_INVALID_ARG, "%s: gh_store_check_meta: NULL value for %s", s->path, key);
    char what[160], *old = NULL;
    snprintf(what, sizeof what, "recording metadata %.100s", key);
    lock(s);
    /* record-if-absent in one statement, then read back whichever value won */
    e = meta_exec(s, "INSERT INTO gh_meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO NOTHING",
                  key, expected, NULL, what);
    if (e == GH_OK) e = meta_exec(s, "SELECT value FROM gh_meta WHERE key = ?1", key, NULL, &old, what);
    unlock(s);
    if (e) return e;
    if (!old) /* deleted between the two statements by another process: treat as changed */
        return gh_error(GH_ERR_MISMATCH, "%s: metadata %s vanished while being checked", s->path, key);
    if (strcmp(old, expected) != 0) {
        /* settings can be long (a JSON object): cut both so the message keeps its end */
        e = gh_error(GH_ERR_MISMATCH, "%s: this run was started with %.100s=%.300s%s; now %.100s=%.300s%s "
                     "(use a new run directory or --force)", s->path, key, old, strlen(old) > 300 ? "..." : "",
                     key, expected, strlen(expected) > 300 ? "..." : "");
    }
    free(old);
    return e;
}

/* ---- keys --------------------------------------------------------------------- */

gh_status gh_store_key_bytes(char out[65], size_t n, const void *const *parts, const size_t *lens) {
    static const char tag[] = "ghkey1";
    out[0] = '\0';
    if (n && (!parts || !lens)) return gh_error(GH_ERR_INVALID_ARG, "gh_store_key: NULL parts");
    size_t total = sizeof tag - 1;
    for (size_t i = 0; i < n; i++) {
        if (!parts[i] && lens[i]) return gh_error(GH_ERR_INVALID_ARG, "gh_store_key: part %zu is NULL", i);
        if (lens[i] > SIZE_MAX - 8 - total) return gh_error(GH_ERR_NOMEM, "gh_store_key: parts too large");
        total += 8 + lens[i];
    }
    unsigned char *buf = malloc(total);
    if (!buf) return gh_error(GH_ERR_NOMEM, "gh_store_key: out of memory (%zu bytes)", total);
    size_t at = sizeof tag - 1;
    memcpy(buf, tag, at);
    for (size_t i = 0; i < n; i++) {
        uint64_t l = lens[i];
        for (int b = 0; b < 8; b++) buf[at++] = (unsigned char)(l >> (8 * b)); /* little-endian on every host */
        if (lens[i]) memcpy(buf + at, parts[i], lens[i]);
        at += lens[i];
    }
    gh_sha256_buf(buf, total, out);
    free(buf);
    return GH_OK;
}

gh_status gh_store_key_parts(char out[65], size_t n, const char *const *parts) {
    out[0] = '\0';
    if (n && !parts) return gh_error(GH_ERR_INVALID_ARG, "gh_store_key: NULL parts");
    size_t small[16], *lens = n <= 16 ? small : malloc(n * sizeof *lens);
    if (!lens) return gh_error(GH_ERR_NOMEM, "gh_store_key: out of memory");
    gh_status e = GH_OK;
    for (size_t i = 0; i < n && !e; i++) {
        if (!parts[i]) e = gh_error(GH_ERR_INVALID_ARG, "gh_store_key: part %zu is NULL", i);
        else lens[i] = strlen(parts[i]);
    }
    if (!e) e = gh_store_key_bytes(out, n, (const void *const *)parts, lens);
    if (lens != small) free(lens);
    return e;
}

gh_status gh_store_key(char out[65], ...) {
    const char *parts[64];
    size_t n = 0;
    va_list ap;
    va_start(ap, out);
    const char *p;
    while ((p = va_arg(ap, const char *)) != NULL) {
        if (n == 64) {
            va_end(ap);
            out[0] = '\0';
            return gh_error(GH_ERR_LIMIT, "gh_store_key: more than 64 parts (use gh_store_key_parts)");
        }
        parts[n++] = p;
    }
    va_end(ap);
    return gh_store_key_parts(out, n, parts);
}

/* ---- integrity and export ------------------------------------------------------ */

gh_status gh_store_verify(gh_store *s) {
    if (!s) return gh_error(GH_ERR_INVALID_ARG, "gh_store_verify: NULL store");
    gh_status e = GH_OK;
    lock(s);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        if (!r || strcmp(r, "ok") != 0) {
            /* the report is several lines; keep the message one line */
            char first[400];
            snprintf(first, sizeof first, "%s", r ? r : "?");
            for (char *p = first; *p; p++)
                if (*p == '\n') *p = ' ';
            e = gh_error(GH_ERR_FORMAT, "%s: corrupt run store (integrity check: %s)", s->path, first);
        }
    } else {
        e = sql_fail(s, rc, "checking integrity");
    }
    sqlite3_finalize(st);
    unlock(s);
    return e;
}

typedef struct export_ctx {
    gh_store *s;
    const char *ns;
    FILE *f;
    char *scratch; /* for values that need their line breaks removed */
    size_t cap;
    int64_t record;
} export_ctx;

static bool has_line_break(const char *p, size_t n) {
    return memchr(p, '\n', n) || memchr(p, '\r', n);
}

static gh_status export_one(void *user, const char *key, const void *val, size_t len) {
    export_ctx *c = user;
    const char *v = val, *end = NULL;
    c->record++;
    cJSON *j = len ? cJSON_ParseWithLengthOpts(v, len, &end, 0) : NULL;
    bool ok = j != NULL;
    cJSON_Delete(j);
    /* one value and nothing after it but whitespace (no NUL bytes, no second value) */
    for (const char *p = end; ok && p < v + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') ok = false;
    if (ok && has_line_break(v, len)) {
        if (len + 1 > c->cap) {
            char *nb = realloc(c->scratch, len + 1);
            if (!nb) return gh_error(GH_ERR_NOMEM, "%s: out of memory exporting %.60s/%.80s", c->s->path, c->ns, key);
            c->scratch = nb;
            c->cap = len + 1;
        }
        memcpy(c->scratch, v, len);
        c->scratch[len] = '\0';
        cJSON_Minify(c->scratch); /* drops whitespace between tokens, never inside strings */
        v = c->scratch;
        len = strlen(v);
        ok = !has_line_break(v, len); /* a raw line break inside a string is not JSON */
    }
    if (!ok)
        return gh_error(GH_ERR_FORMAT, "%s: namespace %.60s, key %.80s (entry %lld): value is not JSON text, "
                        "cannot export it as JSON Lines", c->s->path, c->ns, key, (long long)c->record);
    if (fwrite(v, 1, len, c->f) != len || fputc('\n', c->f) == EOF)
        return gh_error(GH_ERR_IO, "%s: exporting namespace %.60s: write failed: %s", c->s->path, c->ns, strerror(errno));
    return GH_OK;
}

gh_status gh_store_export_jsonl(gh_store *s, const char *ns, FILE *f) {
    gh_status e = check_args(s, ns, "", "gh_store_export_jsonl");
    if (e) return e;
    if (!f) return gh_error(GH_ERR_INVALID_ARG, "%s: gh_store_export_jsonl: NULL file", s->path);
    export_ctx c = {.s = s, .ns = ns, .f = f};
    e = gh_store_iter(s, ns, export_one, &c);
    free(c.scratch);
    if (e == GH_OK && fflush(f) != 0)
        e = gh_error(GH_ERR_IO, "%s: exporting namespace %.60s: write failed: %s", s->path, ns, strerror(errno));
    return e;
}

gh_status gh_store_export_jsonl_path(gh_store *s, const char *ns, const char *path) {
    gh_status e = check_args(s, ns, "", "gh_store_export_jsonl_path");
    if (e) return e;
    if (!path) return gh_error(GH_ERR_INVALID_ARG, "%s: gh_store_export_jsonl_path: NULL path", s->path);
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp) return gh_error(GH_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        e = gh_error(GH_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return e;
    }
    e = gh_store_export_jsonl(s, ns, f);
    if (fclose(f) != 0 && e == GH_OK) e = gh_error(GH_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (e == GH_OK && rename(tmp, path) != 0)
        e = gh_error(GH_ERR_IO, "%s: cannot replace with %s: %s", path, tmp, strerror(errno));
    if (e != GH_OK) {
        /* name the export file too: the store's path alone would mislead */
        if (strstr(gh_last_error(), path) == NULL) gh_error_prefix("%s", path);
        unlink(tmp);
    }
    free(tmp);
    return e;
}
