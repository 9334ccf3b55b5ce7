/* shell_internal.h — what the restricted shell's parser (shell.c) and its
 * builtins (builtins.c) share (internal).
 *
 * Commands never talk to file descriptors: each builtin reads its standard
 * input from a byte buffer and writes to capped output buffers, and the parser
 * moves buffers between the commands of a pipeline and into files.
 */
#ifndef GH_SANDBOX_SHELL_INTERNAL_H
#define GH_SANDBOX_SHELL_INTERNAL_H

#include "sandbox/sandbox_internal.h"

/* A capped output buffer: bytes past `cap` are counted in `dropped`, not kept. */
typedef struct sh_obuf {
    gh_strbuf b;
    size_t cap;
    size_t dropped;
} sh_obuf;

void sh_put(sh_obuf *o, const char *s, size_t n);
void sh_puts(sh_obuf *o, const char *s);
void sh_printf(sh_obuf *o, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

typedef struct sh_ctx {
    gh_sandbox *sb;
    const char *in; /* standard input (may be NULL when empty) */
    size_t in_n;
    sh_obuf *out, *err;
    bool timed_out; /* set by python3 when a limit stopped it */
} sh_ctx;

typedef int (*sh_builtin_fn)(sh_ctx *c, int argc, char **argv);

/* The builtin called `name`, or NULL. */
sh_builtin_fn sh_find_builtin(const char *name);
/* "cd ls pwd ..." for the refusal message. */
const char *sh_builtin_names(void);

/* Runs python3 SCRIPT with cwd = the root joined with `cwd` (shell use). */
gh_status sb_python_run(gh_sandbox *sb, const char *cwd, const char *script, const char *const *args,
                        int32_t n_args, gh_sh_result *r);

#endif
