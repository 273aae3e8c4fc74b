/* read_file.c — a file of our own read whole, with early exit on a foreign
 * magic. */
#include "io/read_file.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/error.h"

bpnn_status bpnn_read_file_bytes(const char *path, const unsigned char *magic, size_t magic_size,
                                 const char *what, unsigned char **out, size_t *out_size)
{
    *out = NULL;
    *out_size = 0;
    FILE *file = fopen(path, "rb");
    if (!file) {
        int error = errno;
        if (error == ENOENT)
            return bpnn_fail(BPNN_ERR_INVALID, "%s does not exist: %s", what, path);
        return bpnn_fail(BPNN_ERR_INVALID, "cannot open %s: %s: %s", what, path, strerror(error));
    }
    struct stat st;
    size_t capacity = 4096;
    if (fstat(fileno(file), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            fclose(file);
            return bpnn_fail(BPNN_ERR_INVALID, "%s is a directory: %s", what, path);
        }
        if (S_ISREG(st.st_mode) && st.st_size > 0 && (uintmax_t)st.st_size < SIZE_MAX)
            capacity = (size_t)st.st_size + 1; /* + 1: EOF seen without a regrow */
    }
    if (capacity < magic_size)
        capacity = magic_size;
    unsigned char *data = malloc(capacity);
    if (!data) {
        fclose(file);
        return bpnn_fail_oom(what);
    }
    size_t size = 0;
    for (;;) {
        if (size == capacity) {
            unsigned char *grown = capacity <= SIZE_MAX / 2 ? realloc(data, capacity * 2) : NULL;
            if (!grown) {
                free(data);
                fclose(file);
                return bpnn_fail_oom(what);
            }
            data = grown;
            capacity *= 2;
        }
        size_t want = size < magic_size ? magic_size - size : capacity - size;
        size_t got = fread(data + size, 1, want, file);
        size += got;
        if (got < want)
            break;
        if (size >= magic_size && memcmp(data, magic, magic_size) != 0)
            break;
    }
    if (ferror(file)) {
        int error = errno;
        free(data);
        fclose(file);
        return bpnn_fail(BPNN_ERR_RUNTIME, "cannot read %s: %s: %s", what, path, strerror(error));
    }
    fclose(file);
    *out = data;
    *out_size = size;
    return BPNN_OK;
}
