/* goodhart/store.h — the run store: an embedded SQLite key/value store that
 * long experiments (Best-of-N sweeps, GENIES grids, ICRL rollouts) and the HTTP
 * response cache write each finished unit of work into as it completes, keyed
 * by what determines it (model hash, record, seed, settings). An interrupted run
 * reopens its store and skips the keys already there; a repeated one costs
 * nothing.
 *
 * Layout. Values live in namespaces ("samples", "scores", "http", ...): within
 * a namespace a key maps to one value of arbitrary bytes (usually JSON text).
 * Entries are kept in insertion order: replacing a key's value keeps the key's
 * original position. Beside them, run-level metadata (string key -> string
 * value) records the settings a run was started with, so that a resumed run
 * can refuse to mix results from different settings (gh_store_check_meta).
 *
 * Durability. The database runs in WAL journal mode with synchronous=NORMAL:
 * every put (or gh_store_begin/commit batch) is one transaction, appended to
 * the write-ahead log before it returns. A committed transaction survives the
 * process being killed (kill -9, a crash, an OOM kill), because the log is in
 * the operating system's page cache and SQLite replays it on the next open.
 * A power loss or kernel crash may lose the last transactions committed before
 * it (NORMAL does not fsync the log on every commit, only at checkpoints), but
 * never corrupts the database: the log's frames are checksummed and a torn
 * tail is discarded. For a run store that is the right trade: a lost unit of
 * work is simply redone on resume, and a commit costs no fsync.
 *
 * Concurrency. Several processes may open the same store and write at once:
 * SQLite serialises writers and each waits up to GH_STORE_BUSY_MS for the lock
 * before failing with GH_ERR_IO. One handle may also be shared by several
 * threads (the connection is opened SQLITE_OPEN_FULLMUTEX and each call below
 * holds the handle's own lock): calls are serialised, not parallel. A batch
 * (gh_store_begin ... gh_store_commit) belongs to the handle, so on a shared
 * handle it also takes in other threads' writes made meanwhile; give each
 * thread its own handle when batches must stay separate. Never use a handle
 * across fork(): the child opens its own. While a store is open SQLite keeps
 * PATH-wal and PATH-shm beside it; the last handle to close folds the log
 * back into PATH and removes them.
 *
 * Errors name the store's file: "runs/x/store.db: not a goodhart run store
 * (file is not a database)", "...: this run was started with model=a; now
 * model=b (use a new run directory or --force)".
 */
#ifndef GOODHART_STORE_H
#define GOODHART_STORE_H

#include <stdio.h>

#include "goodhart/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The schema version this build writes; a store with a newer one is refused. */
#define GH_STORE_SCHEMA_VERSION 1
/* How long a writer waits for another process's write lock before failing. */
#define GH_STORE_BUSY_MS 60000

typedef struct gh_store gh_store;

/* Opens the store at `path`, creating it (and its schema) if the file does not
 * exist or is empty. Fails with GH_ERR_FORMAT and "PATH: not a goodhart run
 * store (...)" if the file is not SQLite, is another program's database, or is
 * damaged past the header; GH_ERR_UNSUPPORTED if it was written by a newer
 * schema version; GH_ERR_IO if it cannot be opened. */
gh_status gh_store_open(const char *path, gh_store **out);
/* Closes the handle (NULL is fine). A batch still open is rolled back. */
void gh_store_close(gh_store *s);
/* The path the store was opened with. */
const char *gh_store_path(const gh_store *s);

/* ---- key/value entries, per namespace ---------------------------------- */

/* Inserts or replaces ns/key atomically. `val` may be NULL only when len is 0.
 * A replaced entry keeps its place in the insertion order. */
gh_status gh_store_put(gh_store *s, const char *ns, const char *key, const void *val, size_t len);
/* Looks ns/key up. Found: GH_OK, *val a malloc'd copy (free() it) followed by
 * one extra NUL byte not counted in *len, so JSON text can be used as a C
 * string; an empty value gives a non-NULL "" and *len 0. Not found: GH_OK with
 * *val NULL and *len 0. Any other status is a real failure. `len` may be NULL. */
gh_status gh_store_get(gh_store *s, const char *ns, const char *key, void **val, size_t *len);
/* *found = whether ns/key exists (without reading its value). */
gh_status gh_store_has(gh_store *s, const char *ns, const char *key, bool *found);
/* Removes ns/key; *deleted (may be NULL) says whether it existed. */
gh_status gh_store_delete(gh_store *s, const char *ns, const char *key, bool *deleted);
/* Number of entries in namespace ns (0 for a namespace never written). */
gh_status gh_store_count(gh_store *s, const char *ns, int64_t *n);

/* Called once per entry of a namespace, in insertion order. `val` is valid
 * only during the call and is NUL-terminated (the NUL is not counted in len).
 * Returning anything but GH_OK stops the iteration, and gh_store_iter returns
 * that status unchanged (with whatever message the callback recorded). The
 * callback may read and write the store through the same handle, but must not
 * add or delete entries of the namespace being iterated. Other threads using
 * the same handle wait until the iteration ends. */
typedef gh_status (*gh_store_iter_fn)(void *user, const char *key, const void *val, size_t len);
gh_status gh_store_iter(gh_store *s, const char *ns, gh_store_iter_fn fn, void *user);

/* Batching: puts/deletes between begin and commit form one transaction (one
 * log write instead of one per entry; all or none survive a crash). Begin
 * takes the write lock at once (BEGIN IMMEDIATE), so a batch never fails
 * half-way on a lock; batches do not nest. */
gh_status gh_store_begin(gh_store *s);
gh_status gh_store_commit(gh_store *s);
gh_status gh_store_rollback(gh_store *s);

/* ---- run metadata -------------------------------------------------------- */

gh_status gh_store_meta_put(gh_store *s, const char *key, const char *value);
/* *value: malloc'd copy, or NULL when the key was never set. */
gh_status gh_store_meta_get(gh_store *s, const char *key, char **value);
/* The guard for resumed runs. If `key` is not yet recorded, records
 * `expected` and returns GH_OK (a fresh run); if it is recorded with the same
 * value, GH_OK (a resume with the same settings); otherwise GH_ERR_MISMATCH
 * with "PATH: this run was started with KEY=OLD; now KEY=NEW (use a new run
 * directory or --force)". Record-if-absent is atomic, so two processes
 * starting the same run at once agree on one value. */
gh_status gh_store_check_meta(gh_store *s, const char *key, const char *expected);

/* ---- keys -------------------------------------------------------------------- */

/* A stable key for a unit of work: the lowercase hex SHA-256 of the parts,
 * each preceded by its length, so ("ab","c") and ("a","bc") differ, as do
 * ("a") and ("a",""). The encoding is fixed ("ghkey1", then per part its
 * length as 8 little-endian bytes and its bytes), so keys stay valid across
 * machines and versions. Fails only on a NULL part or out of memory. */
gh_status gh_store_key_parts(char out[65], size_t n, const char *const *parts);
/* The same over byte strings with explicit lengths. */
gh_status gh_store_key_bytes(char out[65], size_t n, const void *const *parts, const size_t *lens);
/* The same with the parts as arguments, ended by NULL:
 * gh_store_key(key, model_hash, prompt_id, seed_str, NULL). At most 64 parts. */
gh_status gh_store_key(char out[65], ...)
#if defined(__GNUC__)
    __attribute__((sentinel))
#endif
    ;

/* ---- integrity and export ------------------------------------------------------ */

/* Runs SQLite's full integrity check; GH_ERR_FORMAT with its first complaint
 * if the store is damaged. Reads the whole file. */
gh_status gh_store_verify(gh_store *s);

/* Writes every value of namespace ns, one per line, in insertion order (JSON
 * Lines). Values must be JSON text: a value that is not fails with
 * GH_ERR_FORMAT naming its key; one spread over several lines (pretty-printed)
 * is written with the whitespace between tokens removed. */
gh_status gh_store_export_jsonl(gh_store *s, const char *ns, FILE *f);
/* The same into a file, replaced atomically (written beside it, then renamed). */
gh_status gh_store_export_jsonl_path(gh_store *s, const char *ns, const char *path);

#ifdef __cplusplus
}
#endif
#endif
