/* data.h — what the data loaders share: a data file opened once (a path, a
 * FIFO, or "-" for standard input), read through zlib (raw and gzip alike),
 * with its first bytes kept for choosing the reader and a bound on how much
 * it can still yield, against which every size a header declares is checked
 * before it is allocated. */
#ifndef BPNN_DATA_DATA_H
#define BPNN_DATA_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "bpnn.h"

enum { DATA_HEAD_SIZE = 128 };

typedef struct data_source {
    const char *path; /* as given; "-" is standard input */
    const char *name; /* for messages: the path, or "standard input" */
    gzFile file;
    int regular;                        /* a regular file of known length */
    int compressed;                     /* gzip (known once the head is read) */
    uint64_t length;                    /* its bytes on disk, when regular */
    uint64_t consumed;                  /* decoded bytes handed out so far */
    unsigned char head[DATA_HEAD_SIZE]; /* the first decoded bytes */
    size_t head_size;                   /* fewer than DATA_HEAD_SIZE only when that is all */
    size_t head_used;                   /* of those, handed out by data_source_read */
} data_source;

/* Opens `path` ("-": standard input) and reads its head; `what` names its
 * role in the message ("cannot open IDX images: PATH: No such file or
 * directory"). A path that does not exist, cannot be read, is a directory or
 * a terminal is BPNN_ERR_INVALID. A FIFO is opened once, and waits for its
 * writer as any reader of a FIFO does. On failure nothing stays open. */
bpnn_status data_source_open(const char *path, const char *what, data_source *out);

/* Reads up to `size` decoded bytes, the head first; fewer only at the end of
 * the data. A read error is BPNN_ERR_RUNTIME; corrupt gzip data is
 * BPNN_ERR_INVALID. */
bpnn_status data_source_read(data_source *s, void *buffer, size_t size, size_t *got);

/* At most how many more decoded bytes the source can yield: the bytes left in
 * a raw regular file; for gzip, deflate's largest ratio (1032:1) times the
 * file's length; UINT64_MAX for a pipe or FIFO, whose length is unknown (its
 * readers grow their buffers as data arrive). */
uint64_t data_source_bound(const data_source *s);

/* Passes over `size` decoded bytes (a share's earlier rows): a seek in a raw
 * regular file, reading and dropping them otherwise. Fewer at the end of the
 * data (*got says how many). */
bpnn_status data_source_skip(data_source *s, uint64_t size, uint64_t *got);

void data_source_close(data_source *s);

/* Rows [*first, *last) of `rows`, share `index` of `count`
 * (bpnn_load_options); an empty share is BPNN_ERR_INVALID naming `name`. */
bpnn_status data_share_range(size_t rows, int index, int count, const char *name, size_t *first,
                             size_t *last);

/* Keeps share `index` of `count` of a whole data set's rows in place. */
bpnn_status data_keep_share(bpnn_dataset *data, int index, int count, const char *name);

/* Options or, when NULL, the defaults. */
bpnn_load_options data_options(const bpnn_load_options *options);

/* The readers behind bpnn_load_data, on a source it has opened. */
bpnn_status data_load_idx_source(data_source *images, const char *labels_path,
                                 const bpnn_load_options *options, bpnn_dataset *out);
bpnn_status data_load_csv_source(data_source *source, const bpnn_load_options *options,
                                 bpnn_dataset *out);
/* A regular file through its path (matio opens files by name), a pipe or
 * standard input through a temporary copy (matio seeks). */
bpnn_status data_load_mat_source(data_source *source, const bpnn_load_options *options,
                                 bpnn_dataset *out);

#endif
