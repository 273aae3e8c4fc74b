/* data.h — what the data loaders share: opening a file through zlib (raw and
 * gzip alike) and reading it in blocks with errors that name the file. */
#ifndef BPNN_DATA_DATA_H
#define BPNN_DATA_DATA_H

#include <stddef.h>
#include <zlib.h>

#include "bpnn.h"

/* Opens `path` for reading; `what` names its role in the message
 * ("cannot open IDX images: PATH: No such file or directory"). A path that
 * does not exist, cannot be read or is a directory is BPNN_ERR_INVALID. */
bpnn_status data_open(const char *path, const char *what, gzFile *out);

/* Reads up to `size` bytes, fewer only at the end of the data. A read error is
 * BPNN_ERR_RUNTIME; corrupt gzip data is BPNN_ERR_INVALID. */
bpnn_status data_read(gzFile file, const char *path, void *buffer, size_t size, size_t *got);

/* The first bytes of the file after gunzip (for choosing the reader). */
bpnn_status data_peek(const char *path, unsigned char *head, size_t size, size_t *got);

/* Options or, when NULL, the defaults. */
bpnn_load_options data_options(const bpnn_load_options *options);

#endif
