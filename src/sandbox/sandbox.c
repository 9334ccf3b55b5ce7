/* sandbox.c — opening a rollout directory as a sandbox, and the library's own
 * file reads and writes inside it (environments create their files and read
 * the agent's answers through these, under the same path rules as the shell).
 */
#include "sandbox/sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"

gh_sandbox_limits gh_sandbox_default_limits(void) {
    gh_sandbox_limits l;
    l.max_output_bytes = 64 * 1024;
    l.max_file_bytes = 1024 * 1024;
    l.cpu_s = 5.0;
    l.wall_s = 10.0;
    l.mem_bytes = (int64_t)512 * 1024 * 1024;
    return l;
}

gh_status gh_sandbox_open(const char *root, const gh_sandbox_limits *lim, gh_sandbox **out) {
    *out = NULL;
    if (!root || !*root) return gh_error(GH_ERR_INVALID_ARG, "sandbox: empty root path");
    gh_status s = gh_mkdir_p(root);
    if (s != GH_OK) return s;
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return gh_error(GH_ERR_IO, "sandbox %s: cannot open as a directory: %s", root, strerror(errno));
    gh_sandbox *sb = calloc(1, sizeof *sb);
    if (!sb) { close(fd); return gh_error(GH_ERR_NOMEM, "sandbox %s: out of memory", root); }
    sb->root = strdup(root);
    sb->cwd = strdup("");
    if (!sb->root || !sb->cwd) {
        close(fd);
        free(sb->root);
        free(sb->cwd);
        free(sb);
        return gh_error(GH_ERR_NOMEM, "sandbox %s: out of memory", root);
    }
    sb->rootfd = fd;
    sb->lim = lim ? *lim : gh_sandbox_default_limits();
    gh_sandbox_limits d = gh_sandbox_default_limits();
    if (sb->lim.max_output_bytes <= 0) sb->lim.max_output_bytes = d.max_output_bytes;
    if (sb->lim.max_file_bytes <= 0) sb->lim.max_file_bytes = d.max_file_bytes;
    if (!(sb->lim.cpu_s > 0)) sb->lim.cpu_s = d.cpu_s;
    if (!(sb->lim.wall_s > 0)) sb->lim.wall_s = d.wall_s;
    if (sb->lim.mem_bytes <= 0) sb->lim.mem_bytes = d.mem_bytes;
    *out = sb;
    return GH_OK;
}

void gh_sandbox_free(gh_sandbox *sb) {
    if (!sb) return;
    if (sb->rootfd >= 0) close(sb->rootfd);
    free(sb->root);
    free(sb->cwd);
    free(sb);
}

const char *gh_sandbox_root(const gh_sandbox *sb) { return sb->root; }

const char *gh_sandbox_message(const gh_sandbox *sb, const char *msg) {
    if (!msg) return "";
    size_t rl = strlen(sb->root);
    if (strncmp(msg, "sandbox ", 8) == 0 && strncmp(msg + 8, sb->root, rl) == 0 && strncmp(msg + 8 + rl, ": ", 2) == 0)
        return msg + 8 + rl + 2;
    return msg;
}

void gh_sh_result_clear(gh_sh_result *r) {
    if (!r) return;
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

gh_status gh_sandbox_write(gh_sandbox *sb, const char *rel, const char *data, size_t n) {
    char why[512];
    if (!rel || !*rel) return gh_error(GH_ERR_INVALID_ARG, "sandbox %s: empty file path", sb->root);
    /* Parents first: everything up to the last '/'. */
    const char *slash = strrchr(rel, '/');
    if (slash && slash != rel) {
        char parent[4200];
        size_t pl = (size_t)(slash - rel);
        if (pl >= sizeof parent) return gh_error(GH_ERR_INVALID_ARG, "sandbox %s: %s: path too long", sb->root, rel);
        memcpy(parent, rel, pl);
        parent[pl] = '\0';
        if (sb_mkdirs(sb, "", parent, why, sizeof why) != 0)
            return gh_error(GH_ERR_INVALID_ARG, "sandbox %s: %s", sb->root, why);
    }
    sb_path p;
    if (sb_resolve(sb, "", rel, &p, why, sizeof why) != 0)
        return gh_error(GH_ERR_INVALID_ARG, "sandbox %s: %s", sb->root, why);
    int fd = sb_open_write(&p, false, why, sizeof why);
    sb_path_free(&p);
    if (fd < 0) return gh_error(GH_ERR_IO, "sandbox %s: %s", sb->root, why);
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            return gh_error(GH_ERR_IO, "sandbox %s: %s: write failed: %s", sb->root, rel, strerror(e));
        }
        off += (size_t)w;
    }
    if (close(fd) != 0) return gh_error(GH_ERR_IO, "sandbox %s: %s: close failed: %s", sb->root, rel, strerror(errno));
    return GH_OK;
}

gh_status gh_sandbox_read(gh_sandbox *sb, const char *rel, char **data, size_t *n) {
    char why[512];
    *data = NULL;
    *n = 0;
    sb_path p;
    if (sb_resolve(sb, "", rel ? rel : "", &p, why, sizeof why) != 0)
        return gh_error(GH_ERR_INVALID_ARG, "sandbox %s: %s", sb->root, why);
    int fd = sb_open_read(&p, false, why, sizeof why);
    sb_path_free(&p);
    if (fd < 0) return gh_error(GH_ERR_IO, "sandbox %s: %s", sb->root, why);
    int rc = sb_read_fd(fd, sb_read_cap(sb), data, n);
    int e = errno;
    close(fd);
    if (rc != 0)
        return gh_error(e == EFBIG ? GH_ERR_LIMIT : GH_ERR_IO, "sandbox %s: %s: %s", sb->root, rel,
                        e == EFBIG ? "file too large" : strerror(e));
    return GH_OK;
}
