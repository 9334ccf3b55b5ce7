/* path.c — resolving the shell's paths inside the sandbox root.
 *
 * A path is split into components and walked from a descriptor of the root:
 * each directory is opened with openat(parent, name, O_DIRECTORY|O_NOFOLLOW),
 * so a symlink on the way fails in the kernel (ELOOP/ENOTDIR) even if it was
 * swapped in after we looked; ".." pops the walk's own stack of descriptors and
 * can never go above the root; absolute paths are refused outright. The final
 * component is opened the same way by sb_open_read/sb_open_write, which also
 * refuse anything but a regular file (or a directory where one is wanted).
 */
#include "sandbox/sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

size_t sb_read_cap(const gh_sandbox *sb) {
    size_t cap = 16u << 20;
    if (sb->lim.max_file_bytes > 0 && (uint64_t)sb->lim.max_file_bytes > cap) cap = (size_t)sb->lim.max_file_bytes;
    return cap;
}

void sb_path_free(sb_path *p) {
    if (p->dirfd >= 0) close(p->dirfd);
    p->dirfd = -1;
}

/* Splits `s` (modified in place) into components, appending to comps. */
static int split(char *s, char **comps, int n, int max) {
    char *save = NULL; /* strtok_r: rollouts may run on several threads */
    for (char *t = strtok_r(s, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (n >= max) return -1;
        comps[n++] = t;
    }
    return n;
}

int sb_resolve(gh_sandbox *sb, const char *cwd, const char *path, sb_path *out, char *why, size_t why_n) {
    out->dirfd = -1;
    out->name[0] = '\0';
    out->rel[0] = '\0';
    if (!path) path = "";
    if (path[0] == '/') {
        snprintf(why, why_n, "%s: absolute paths lead outside the sandbox; use a path relative to the current "
                             "directory (~ is the sandbox's top folder)", path);
        return -1;
    }
    size_t plen = strlen(path), clen = strlen(cwd);
    if (plen > 4000 || clen > 4000) { snprintf(why, why_n, "path too long"); return -1; }
    char buf[8200];
    enum { MAXC = 512 };
    char *comps[MAXC];
    int nc = 0;
    /* "~" and "~/..." start at the root; everything else at cwd. */
    const char *p = path;
    if (p[0] == '~' && (p[1] == '\0' || p[1] == '/')) {
        p++;
        buf[0] = '\0';
    } else {
        memcpy(buf, cwd, clen + 1);
    }
    size_t bl = strlen(buf);
    char *pcopy = buf + bl + 1;
    memcpy(pcopy, p, strlen(p) + 1);
    nc = split(buf, comps, 0, MAXC);
    int base_n = nc;
    if (nc >= 0) nc = split(pcopy, comps, nc, MAXC);
    if (nc < 0) { snprintf(why, why_n, "%s: too many path components", path); return -1; }
    (void)base_n;

    int fds[SB_MAX_DEPTH + 1];
    const char *names[SB_MAX_DEPTH + 1];
    int depth = 0;
    fds[0] = openat(sb->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fds[0] < 0) { snprintf(why, why_n, "cannot open the sandbox root: %s", strerror(errno)); return -1; }
    names[0] = "";
    const char *final = NULL;
    for (int i = 0; i < nc; i++) {
        const char *c = comps[i];
        bool last = i == nc - 1;
        if (strcmp(c, ".") == 0) { if (last) final = NULL; continue; }
        if (strcmp(c, "..") == 0) {
            if (depth == 0) {
                snprintf(why, why_n, "%s: '..' would go above the sandbox's top folder; nothing outside it can be reached", path);
                goto fail;
            }
            close(fds[depth--]);
            if (last) final = NULL;
            continue;
        }
        if (strlen(c) > 255) { snprintf(why, why_n, "%s: file name too long", path); goto fail; }
        if (last) { final = c; break; }
        if (depth >= SB_MAX_DEPTH) { snprintf(why, why_n, "%s: too deep", path); goto fail; }
        struct stat st;
        if (fstatat(fds[depth], c, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            snprintf(why, why_n, "%s: %s", path, strerror(errno));
            goto fail;
        }
        if (S_ISLNK(st.st_mode)) {
            snprintf(why, why_n, "%s: '%s' is a symbolic link; links are not followed in the sandbox", path, c);
            goto fail;
        }
        if (!S_ISDIR(st.st_mode)) { snprintf(why, why_n, "%s: Not a directory", path); goto fail; }
        int fd = openat(fds[depth], c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ELOOP || errno == ENOTDIR)
                snprintf(why, why_n, "%s: '%s' is a symbolic link or not a directory; refused", path, c);
            else
                snprintf(why, why_n, "%s: %s", path, strerror(errno));
            goto fail;
        }
        fds[++depth] = fd;
        names[depth] = c;
    }
    /* Keep only the deepest descriptor. */
    for (int i = 0; i < depth; i++) close(fds[i]);
    out->dirfd = fds[depth];
    size_t rl = 0;
    for (int i = 1; i <= depth; i++) {
        int w = snprintf(out->rel + rl, sizeof out->rel - rl, "%s%s", rl ? "/" : "", names[i]);
        if (w < 0 || (size_t)w >= sizeof out->rel - rl) { snprintf(why, why_n, "path too long"); sb_path_free(out); return -1; }
        rl += (size_t)w;
    }
    if (final) {
        snprintf(out->name, sizeof out->name, "%s", final);
        int w = snprintf(out->rel + rl, sizeof out->rel - rl, "%s%s", rl ? "/" : "", final);
        if (w < 0 || (size_t)w >= sizeof out->rel - rl) { snprintf(why, why_n, "path too long"); sb_path_free(out); return -1; }
    } else {
        strcpy(out->name, ".");
    }
    return 0;
fail:
    for (int i = 0; i <= depth; i++) close(fds[i]);
    return -1;
}

int sb_lstat(const sb_path *p, struct stat *st) {
    if (strcmp(p->name, ".") == 0) return fstat(p->dirfd, st);
    return fstatat(p->dirfd, p->name, st, AT_SYMLINK_NOFOLLOW);
}

/* Shared checks for a descriptor just opened on the final component. */
static int check_opened(int fd, const struct stat *before, bool want_dir, const char *what, char *why, size_t why_n) {
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_dev != before->st_dev || st.st_ino != before->st_ino) {
        snprintf(why, why_n, "%s: changed while being opened; refused", what);
        close(fd);
        return -1;
    }
    if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
        snprintf(why, why_n, "%s: %s", what, S_ISDIR(st.st_mode) ? "Is a directory" : "not a regular file; refused");
        close(fd);
        return -1;
    }
    if (!want_dir && st.st_nlink > 1) {
        snprintf(why, why_n, "%s: has several hard links; refused in the sandbox", what);
        close(fd);
        return -1;
    }
    return fd;
}

static const char *display(const sb_path *p) { return p->rel[0] ? p->rel : "."; }

int sb_open_read(const sb_path *p, bool want_dir, char *why, size_t why_n) {
    struct stat st;
    if (sb_lstat(p, &st) != 0) { snprintf(why, why_n, "%s: %s", display(p), strerror(errno)); return -1; }
    if (S_ISLNK(st.st_mode)) {
        snprintf(why, why_n, "%s: is a symbolic link; links are not followed in the sandbox", display(p));
        return -1;
    }
    if (want_dir && !S_ISDIR(st.st_mode)) { snprintf(why, why_n, "%s: Not a directory", display(p)); return -1; }
    if (!want_dir && S_ISDIR(st.st_mode)) { snprintf(why, why_n, "%s: Is a directory", display(p)); return -1; }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
        snprintf(why, why_n, "%s: not a regular file; refused", display(p));
        return -1;
    }
    int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (want_dir ? O_DIRECTORY : 0);
    int fd = openat(p->dirfd, p->name, flags);
    if (fd < 0) { snprintf(why, why_n, "%s: %s", display(p), strerror(errno)); return -1; }
    return check_opened(fd, &st, want_dir, display(p), why, why_n);
}

int sb_open_write(const sb_path *p, bool append, char *why, size_t why_n) {
    if (strcmp(p->name, ".") == 0) { snprintf(why, why_n, "%s: Is a directory", display(p)); return -1; }
    struct stat st;
    bool exists = fstatat(p->dirfd, p->name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists) {
        if (S_ISLNK(st.st_mode)) {
            snprintf(why, why_n, "%s: is a symbolic link; links are not followed in the sandbox", display(p));
            return -1;
        }
        if (S_ISDIR(st.st_mode)) { snprintf(why, why_n, "%s: Is a directory", display(p)); return -1; }
        if (!S_ISREG(st.st_mode)) { snprintf(why, why_n, "%s: not a regular file; refused", display(p)); return -1; }
        if (st.st_nlink > 1) {
            snprintf(why, why_n, "%s: has several hard links; refused in the sandbox", display(p));
            return -1;
        }
    } else if (errno != ENOENT) {
        snprintf(why, why_n, "%s: %s", display(p), strerror(errno));
        return -1;
    }
    /* Open without truncating first, check what we got, then truncate: a
     * file swapped in between must not be emptied before the check. */
    int flags = O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (append ? O_APPEND : 0) | (exists ? 0 : O_CREAT | O_EXCL);
    int fd = openat(p->dirfd, p->name, flags, 0644);
    if (fd < 0) {
        if (errno == ELOOP) snprintf(why, why_n, "%s: is a symbolic link; refused", display(p));
        else snprintf(why, why_n, "%s: %s", display(p), strerror(errno));
        return -1;
    }
    if (!exists && fstat(fd, &st) != 0) { close(fd); snprintf(why, why_n, "%s: %s", display(p), strerror(errno)); return -1; }
    fd = check_opened(fd, &st, false, display(p), why, why_n);
    if (fd >= 0 && !append && ftruncate(fd, 0) != 0) {
        snprintf(why, why_n, "%s: %s", display(p), strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int sb_read_fd(int fd, size_t max, char **data, size_t *n) {
    size_t cap = 4096, len = 0;
    char *b = malloc(cap + 1);
    if (!b) return -1;
    for (;;) {
        if (len == cap) {
            if (cap > max) { free(b); errno = EFBIG; return -1; }
            char *nb = realloc(b, cap * 2 + 1);
            if (!nb) { free(b); errno = ENOMEM; return -1; }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + len, cap - len);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            free(b);
            errno = e;
            return -1;
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    if (len > max) { free(b); errno = EFBIG; return -1; }
    b[len] = '\0';
    *data = b;
    *n = len;
    return 0;
}

int sb_mkdirs(gh_sandbox *sb, const char *cwd, const char *path, char *why, size_t why_n) {
    char cur[4200];
    size_t cl = 0;
    cur[0] = '\0';
    if (path[0] == '~' && (path[1] == '\0' || path[1] == '/')) {
        cur[cl++] = '~';
        cur[cl] = '\0';
        path++;
    }
    const char *s = path;
    while (*s) {
        while (*s == '/') s++;
        if (!*s) break;
        const char *e = strchr(s, '/');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (cl + l + 2 >= sizeof cur) { snprintf(why, why_n, "path too long"); return -1; }
        if (cl) cur[cl++] = '/';
        memcpy(cur + cl, s, l);
        cl += l;
        cur[cl] = '\0';
        s += l;
        sb_path p;
        if (sb_resolve(sb, cwd, cur, &p, why, why_n) != 0) return -1;
        if (strcmp(p.name, ".") != 0) {
            struct stat st;
            if (fstatat(p.dirfd, p.name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                if (S_ISLNK(st.st_mode)) {
                    snprintf(why, why_n, "%s: is a symbolic link; links are not followed in the sandbox", p.rel);
                    sb_path_free(&p);
                    return -1;
                }
                if (!S_ISDIR(st.st_mode)) {
                    snprintf(why, why_n, "%s: File exists and is not a directory", p.rel);
                    sb_path_free(&p);
                    return -1;
                }
            } else if (mkdirat(p.dirfd, p.name, 0755) != 0 && errno != EEXIST) {
                snprintf(why, why_n, "%s: %s", p.rel, strerror(errno));
                sb_path_free(&p);
                return -1;
            }
        }
        sb_path_free(&p);
    }
    return 0;
}
