/* snapshot.c — what is in a sandbox (every regular file and symlink, with its
 * size and SHA-256) and what changed between two moments: the record of which
 * files the agent added, modified or deleted during a rollout.
 *
 * The walk uses the same openat(...O_NOFOLLOW...) discipline as the shell, so
 * a symlink is recorded as a link (hash of "symlink -> target"), never
 * followed. Entries are kept sorted by path so that the diff is one merge.
 */
#include "sandbox/sandbox_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/hash.h"

typedef struct snap_entry {
    char *path;
    int64_t size;
    char sha[65];
} snap_entry;

struct gh_snapshot {
    snap_entry *v;
    int32_t n, cap;
};

void gh_snapshot_free(gh_snapshot *s) {
    if (!s) return;
    for (int32_t i = 0; i < s->n; i++) free(s->v[i].path);
    free(s->v);
    free(s);
}

static int add_entry(gh_snapshot *s, const char *path, int64_t size, const char *sha) {
    if (s->n == s->cap) {
        int32_t nc = s->cap ? s->cap * 2 : 64;
        snap_entry *nv = realloc(s->v, (size_t)nc * sizeof *nv);
        if (!nv) return -1;
        s->v = nv;
        s->cap = nc;
    }
    snap_entry *e = &s->v[s->n];
    e->path = strdup(path);
    if (!e->path) return -1;
    e->size = size;
    memcpy(e->sha, sha, 65);
    s->n++;
    return 0;
}

static void hex(const unsigned char *d, unsigned n, char out[65]) {
    static const char H[] = "0123456789abcdef";
    for (unsigned i = 0; i < n && i < 32; i++) { out[2 * i] = H[d[i] >> 4]; out[2 * i + 1] = H[d[i] & 15]; }
    out[64] = '\0';
}

static int hash_fd(int fd, char out[65]) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return -1;
    int rc = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 ? 0 : -1;
    unsigned char buf[65536];
    while (rc == 0) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { rc = -1; break; }
        if (r == 0) break;
        if (EVP_DigestUpdate(ctx, buf, (size_t)r) != 1) rc = -1;
    }
    unsigned char md[32];
    unsigned mdn = 0;
    if (rc == 0 && EVP_DigestFinal_ex(ctx, md, &mdn) != 1) rc = -1;
    EVP_MD_CTX_free(ctx);
    if (rc == 0) hex(md, mdn, out);
    return rc;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const snap_entry *)a)->path, ((const snap_entry *)b)->path);
}

/* Walks directory `fd` (taken over) whose path relative to the root is `rel`. */
static gh_status walk(gh_sandbox *sb, gh_snapshot *s, int fd, const char *rel, int depth) {
    DIR *d = fdopendir(fd);
    if (!d) { close(fd); return gh_error(GH_ERR_IO, "snapshot %s/%s: %s", sb->root, rel, strerror(errno)); }
    gh_status st = GH_OK;
    struct dirent *e;
    while (st == GH_OK && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char path[4200];
        snprintf(path, sizeof path, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        struct stat sst;
        if (fstatat(dirfd(d), e->d_name, &sst, AT_SYMLINK_NOFOLLOW) != 0) continue; /* vanished */
        if (S_ISDIR(sst.st_mode)) {
            if (depth >= SB_MAX_DEPTH) { st = gh_error(GH_ERR_LIMIT, "snapshot %s: %s: too deep", sb->root, path); break; }
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) { st = gh_error(GH_ERR_IO, "snapshot %s: %s: %s", sb->root, path, strerror(errno)); break; }
            st = walk(sb, s, sub, path, depth + 1);
        } else if (S_ISLNK(sst.st_mode)) {
            char tgt[4096], sha[65];
            ssize_t k = readlinkat(dirfd(d), e->d_name, tgt, sizeof tgt - 1);
            if (k < 0) k = 0;
            tgt[k] = '\0';
            char desc[4200];
            int dl = snprintf(desc, sizeof desc, "symlink -> %s", tgt);
            gh_sha256_buf(desc, (size_t)dl, sha);
            if (add_entry(s, path, (int64_t)k, sha) != 0) st = gh_error(GH_ERR_NOMEM, "snapshot %s: out of memory", sb->root);
        } else if (S_ISREG(sst.st_mode)) {
            int f = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
            if (f < 0) { st = gh_error(GH_ERR_IO, "snapshot %s: %s: %s", sb->root, path, strerror(errno)); break; }
            char sha[65];
            int hr = hash_fd(f, sha);
            close(f);
            if (hr != 0) { st = gh_error(GH_ERR_IO, "snapshot %s: %s: read error", sb->root, path); break; }
            if (add_entry(s, path, (int64_t)sst.st_size, sha) != 0) st = gh_error(GH_ERR_NOMEM, "snapshot %s: out of memory", sb->root);
        }
        /* FIFOs, sockets, devices: not files an environment reads; skipped. */
    }
    closedir(d);
    return st;
}

gh_status gh_sandbox_snapshot(gh_sandbox *sb, gh_snapshot **out) {
    *out = NULL;
    gh_snapshot *s = calloc(1, sizeof *s);
    if (!s) return gh_error(GH_ERR_NOMEM, "snapshot %s: out of memory", sb->root);
    int fd = openat(sb->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) { free(s); return gh_error(GH_ERR_IO, "snapshot %s: %s", sb->root, strerror(errno)); }
    gh_status st = walk(sb, s, fd, "", 0);
    if (st != GH_OK) { gh_snapshot_free(s); return st; }
    if (s->n > 1) qsort(s->v, (size_t)s->n, sizeof *s->v, cmp_entry);
    *out = s;
    return GH_OK;
}

gh_status gh_snapshot_diff(const gh_snapshot *before, const gh_snapshot *after, gh_file_change **changes, int32_t *n) {
    *changes = NULL;
    *n = 0;
    int32_t cap = before->n + after->n, k = 0;
    gh_file_change *c = calloc(cap ? (size_t)cap : 1, sizeof *c);
    if (!c) return gh_error(GH_ERR_NOMEM, "snapshot diff: out of memory");
    int32_t i = 0, j = 0;
    while (i < before->n || j < after->n) {
        int cmp = i == before->n ? 1 : j == after->n ? -1 : strcmp(before->v[i].path, after->v[j].path);
        const char *path;
        gh_change ch = 0;
        if (cmp < 0) { path = before->v[i++].path; ch = GH_FILE_DELETED; }
        else if (cmp > 0) { path = after->v[j++].path; ch = GH_FILE_ADDED; }
        else {
            path = before->v[i].path;
            if (before->v[i].size != after->v[j].size || strcmp(before->v[i].sha, after->v[j].sha) != 0) ch = GH_FILE_MODIFIED;
            i++;
            j++;
        }
        if (!ch) continue;
        c[k].path = strdup(path);
        if (!c[k].path) { gh_file_changes_free(c, k); return gh_error(GH_ERR_NOMEM, "snapshot diff: out of memory"); }
        c[k++].change = ch;
    }
    *changes = c;
    *n = k;
    return GH_OK;
}

void gh_file_changes_free(gh_file_change *c, int32_t n) {
    if (!c) return;
    for (int32_t i = 0; i < n; i++) free(c[i].path);
    free(c);
}
