/* goodhart/sandbox.h — the rollout directory an agent acts in, and the only
 * ways anything touches it.
 *
 * A sandbox is one directory (the rollout's root). The agent's <bash> blocks run
 * in goodhart's own restricted shell, not /bin/sh: a small set of builtins (at
 * least cd ls pwd cat echo grep, with pipes, > and >>) that resolve every path
 * inside the root and refuse anything that would leave it — "..", absolute
 * paths, symlinks pointing out, redirections — with a message in stderr. Any
 * other command is refused in stderr too. Python files that reward and oversight
 * rules must run (possibly edited by the agent) run with the system's python3
 * in a child process that sees only the root, has no network, and has CPU-time,
 * memory, output and wall-clock limits.
 */
#ifndef GOODHART_SANDBOX_H
#define GOODHART_SANDBOX_H

#include "goodhart/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gh_sandbox gh_sandbox;

typedef struct gh_sandbox_limits {
    int64_t max_output_bytes; /* per stream; more is cut with a note (default 64 KiB) */
    int64_t max_file_bytes;   /* largest file a command may write (default 1 MiB) */
    double cpu_s;             /* python3: CPU seconds (default 5) */
    double wall_s;            /* python3: wall-clock seconds (default 10) */
    int64_t mem_bytes;        /* python3: address space (default 512 MiB) */
} gh_sandbox_limits;

gh_sandbox_limits gh_sandbox_default_limits(void);

/* Opens `root` (created if missing, must be a directory) as a sandbox; the
 * shell's working directory starts at the root. */
gh_status gh_sandbox_open(const char *root, const gh_sandbox_limits *lim, gh_sandbox **out);
void gh_sandbox_free(gh_sandbox *sb);
const char *gh_sandbox_root(const gh_sandbox *sb);
/* An error message of this sandbox's functions as an agent or a transcript may
 * see it: without the leading "sandbox ROOT: " that names the host path (the
 * rest names files relative to the root). A message without it is returned as
 * it is. Points into `msg`. */
const char *gh_sandbox_message(const gh_sandbox *sb, const char *msg);

/* Files by path relative to the root (parents created on write); a path that
 * would leave the root is refused. */
gh_status gh_sandbox_write(gh_sandbox *sb, const char *rel, const char *data, size_t n);
gh_status gh_sandbox_read(gh_sandbox *sb, const char *rel, char **data, size_t *n);

typedef struct gh_sh_result {
    int32_t status;       /* exit status of the last command of the line (0: success) */
    char *out;            /* stdout, NUL-terminated, malloc'd */
    char *err;            /* stderr (refusals explained here) */
    bool timed_out;       /* python3 only: a limit was hit (CPU, wall clock) */
} gh_sh_result;

void gh_sh_result_clear(gh_sh_result *r);

/* Runs one command line of the restricted shell. A refused command is not a
 * library error: it gives status != 0 and a message in r->err. */
gh_status gh_sandbox_exec(gh_sandbox *sb, const char *line, gh_sh_result *r);

/* Runs `python3 SCRIPT ARGS...` (SCRIPT relative to the root) isolated as
 * described above, cwd = the root. */
gh_status gh_sandbox_python(gh_sandbox *sb, const char *script, const char *const *args, int32_t n_args,
                            gh_sh_result *r);

/* How python3 is isolated on this machine: "namespace" (user, mount, network
 * and PID namespaces; only the root and read-only system directories are
 * visible) or "audit" (where namespaces are not permitted: a PEP 578 audit
 * hook and rlimits, weaker; see docs/sandbox.md). GH_SANDBOX_PYTHON=audit
 * forces the latter. */
const char *gh_sandbox_python_mode(void);

/* A snapshot of every regular file under the root (path, size, SHA-256), and
 * the difference of two snapshots. */
typedef struct gh_snapshot gh_snapshot;
gh_status gh_sandbox_snapshot(gh_sandbox *sb, gh_snapshot **out);
void gh_snapshot_free(gh_snapshot *s);

typedef enum gh_change { GH_FILE_ADDED = 1, GH_FILE_MODIFIED = 2, GH_FILE_DELETED = 3 } gh_change;
typedef struct gh_file_change {
    char *path;
    gh_change change;
} gh_file_change;

gh_status gh_snapshot_diff(const gh_snapshot *before, const gh_snapshot *after, gh_file_change **changes,
                           int32_t *n);
void gh_file_changes_free(gh_file_change *c, int32_t n);

#ifdef __cplusplus
}
#endif
#endif
