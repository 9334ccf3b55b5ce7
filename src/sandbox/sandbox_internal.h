/* sandbox_internal.h — what the parts of the sandbox (path resolution, the
 * restricted shell, the python3 runner, snapshots) share (internal).
 *
 * Every file the shell touches is reached by walking the path one component
 * at a time from an open descriptor of the root with openat(...O_NOFOLLOW...),
 * never by building a string and handing it to open(2): a symlink anywhere on
 * the way, a ".." above the root or an absolute path is refused before any
 * byte is read or written.
 */
#ifndef GH_SANDBOX_INTERNAL_H
#define GH_SANDBOX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "base/strbuf.h"
#include "goodhart/sandbox.h"

#define SB_MAX_DEPTH 64 /* directories deep a path may go below the root */

struct gh_sandbox {
    char *root;            /* the root as given (for messages and python3) */
    int rootfd;            /* O_DIRECTORY descriptor of the root, held open */
    char *cwd;             /* shell working directory relative to the root, "" = root */
    gh_sandbox_limits lim;
};

/* A resolved path: an open directory and one name in it. For a path that
 * names a directory itself ("", ".", "a/..") name is "." and dirfd is it. */
typedef struct sb_path {
    int dirfd;      /* owned; close with sb_path_free */
    char name[256];
    char rel[4096]; /* normalised path relative to the root ("" = root) */
} sb_path;

/* Resolves `path` for the shell: relative to `cwd` (a path relative to the
 * root), "~" or "~/..." relative to the root. Returns 0, or -1 with a message
 * for the user in `why` (an absolute path, ".." above the root, a symlink on
 * the way, a missing directory). The final component is not looked at. */
int sb_resolve(gh_sandbox *sb, const char *cwd, const char *path, sb_path *out, char *why, size_t why_n);
void sb_path_free(sb_path *p);

/* lstat of the final component (never follows a symlink). 0 or -1/errno. */
int sb_lstat(const sb_path *p, struct stat *st);
/* Opens the final component for reading (a regular file, or a directory when
 * want_dir); refuses symlinks, devices, FIFOs and multiply linked files.
 * Returns a descriptor, or -1 with `why`. */
int sb_open_read(const sb_path *p, bool want_dir, char *why, size_t why_n);
/* Opens the final component for writing (created 0644 if missing; truncated
 * unless append). Same refusals. Returns a descriptor, or -1 with `why`. */
int sb_open_write(const sb_path *p, bool append, char *why, size_t why_n);
/* Reads a whole descriptor (at most max bytes; more is GH_ERR_LIMIT-like -1). */
int sb_read_fd(int fd, size_t max, char **data, size_t *n);
/* mkdir -p of a path relative to `cwd` (for writes that create parents). */
int sb_mkdirs(gh_sandbox *sb, const char *cwd, const char *path, char *why, size_t why_n);

/* The most a builtin reads from one file. */
size_t sb_read_cap(const gh_sandbox *sb);

/* python3 isolation modes (gh_sandbox_python_mode names them). */
typedef enum sb_pymode {
    SB_PY_AUTO = 0,      /* namespaces if this machine allows them, else audit */
    SB_PY_NAMESPACE = 1, /* user+mount+net+pid+ipc namespaces, pivot_root, rlimits, audit hook */
    SB_PY_AUDIT = 2,     /* python3 -I -S, audit hook, rlimits (weaker; see docs/sandbox.md) */
    SB_PY_NAMESPACE_NOHOOK = 3, /* tests only: the kernel layer alone */
} sb_pymode;

/* Tests: forces a mode for later gh_sandbox_python calls (SB_PY_AUTO undoes). */
void sb_python_force_mode(sb_pymode m);
/* Whether namespaces work here (probed once). */
bool sb_python_namespaces_available(void);

#endif
