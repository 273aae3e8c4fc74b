/* read_file.h — reading a binary file of our own whole, for the loaders that
 * check a CRC over the entire content (model files, checkpoints). */
#ifndef BPNN_IO_READ_FILE_H
#define BPNN_IO_READ_FILE_H

#include <stddef.h>

#include "bpnn.h"

/* Reads `path` into a malloc'ed buffer (*out, *out_size; free it). Reading
 * stops after the first magic_size bytes when they differ from `magic`, so a
 * large file of another kind is not read whole; the caller tells it apart by
 * those bytes. `what` names the file in messages ("model file").
 * Errors: BPNN_ERR_INVALID when the file does not exist, cannot be opened or
 * is a directory; BPNN_ERR_RUNTIME when reading fails after it was opened. */
bpnn_status bpnn_read_file_bytes(const char *path, const unsigned char *magic, size_t magic_size,
                                 const char *what, unsigned char **out, size_t *out_size);

#endif
