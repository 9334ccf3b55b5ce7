/* file.c — whole-file reads for inputs small enough to hold in memory
 * (llama2.c checkpoints, tokenizer.json; GGUF models are mapped instead), and
 * the huge-page memory a model's copy and a KV cache live in. */
#include "base/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

void *gh_map_huge(size_t bytes) {
    void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes ? bytes : 1, MADV_HUGEPAGE); /* advice only: no huge pages is fine */
#endif
    return p;
}

gh_status gh_read_file(const char *path, size_t max_bytes, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return gh_error(GH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 65536) {
            if (cap > max_bytes) {
                fclose(f);
                free(buf);
                return gh_error(GH_ERR_LIMIT, "%s: larger than %zu bytes", path, max_bytes);
            }
            size_t nc = cap ? cap * 2 : 1 << 20;
            char *nb = realloc(buf, nc + 1);
            if (!nb) { fclose(f); free(buf); return gh_error(GH_ERR_NOMEM, "%s: out of memory reading", path); }
            buf = nb;
            cap = nc;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) { free(buf); return gh_error(GH_ERR_IO, "%s: read error", path); }
    if (n > max_bytes) { free(buf); return gh_error(GH_ERR_LIMIT, "%s: larger than %zu bytes", path, max_bytes); }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return GH_OK;
}

gh_status gh_mkdir_p(const char *dir) {
    char p[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p) return gh_error(GH_ERR_INVALID_ARG, "directory path '%.64s' is empty or too long", dir);
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0777) && errno != EEXIST) return gh_error(GH_ERR_IO, "%s: cannot create the directory: %s", p, strerror(errno));
        p[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) return gh_error(GH_ERR_IO, "%s: not a directory", dir);
    return GH_OK;
}
