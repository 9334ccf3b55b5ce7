/* hash.h — SHA-256 of files and buffers (OpenSSL's libcrypto does the work). */
#ifndef GH_HASH_H
#define GH_HASH_H

#include <stddef.h>

#include "goodhart/common.h"

gh_status gh_sha256_file(const char *path, char hex[65]);
void gh_sha256_buf(const void *data, size_t len, char hex[65]);

#endif
