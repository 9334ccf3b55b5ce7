/* file.h — reading a whole file into memory, making run directories, large
 * zero-filled memory in huge pages (internal). */
#ifndef GH_FILE_H
#define GH_FILE_H

#include <stddef.h>

#include "goodhart/common.h"

/* Reads all of `path` into a malloc'd, NUL-terminated buffer. A file larger
 * than max_bytes fails with GH_ERR_LIMIT; every error names the path. */
gh_status gh_read_file(const char *path, size_t max_bytes, char **out, size_t *len);

/* Creates a directory and its missing parents (as mkdir -p); an existing one is fine. */
gh_status gh_mkdir_p(const char *dir);

/* `bytes` of private zero-filled memory, pages mapped on first touch, with
 * huge pages advised (streams that read or write it all take fewer TLB
 * misses and page faults; the advice may be ignored). NULL with errno set if
 * it cannot be mapped; release with munmap(p, bytes). */
void *gh_map_huge(size_t bytes);

#endif
