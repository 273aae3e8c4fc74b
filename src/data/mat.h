/* mat.h — MATLAB .mat data through libmatio: a matrix X (rows = samples) and
 * a label vector y. v5 files (plain or with compressed variables) are checked
 * element by element before matio sees them, because matio reads a file cut
 * short as if the missing values were zeros, and allocates from sizes it
 * does not check; v7.3 (HDF5) files are left to HDF5's own checks. */
#ifndef BPNN_DATA_MAT_H
#define BPNN_DATA_MAT_H

#include <stddef.h>

#include "bpnn.h"

/* Whether the first bytes (after any gunzip) are a MAT v5 or v7.3 header. */
int data_is_mat(const unsigned char *head, size_t size);

/* Whether a file is meant as a MAT file: its first bytes start "MATLAB" or
 * its name ends in ".mat". Such a file that is no valid MAT file gets a MAT
 * error, not a CSV one. */
int data_looks_like_mat(const char *path, const unsigned char *head, size_t size);

/* Whether the file at `path` starts with a MAT header (0 when it cannot be
 * read). A FIFO or standard input, which cannot be read again, is told by its
 * name alone. */
int data_path_is_mat(const char *path);

/* Walks the v5 element tags of `path` (128-byte header, then type and byte
 * count per element, inside variables and inside compressed variables too)
 * and fails with BPNN_ERR_INVALID, naming the byte, when an element does not
 * end within the file or the variable that holds it, a compressed variable
 * does not inflate cleanly, or an array holds fewer values, cells or fields
 * than its dimensions declare. v7.3 files pass unchecked. */
bpnn_status data_check_mat(const char *path);

/* Reads options->mat_x (default "X": samples x features, any real numeric
 * class) and options->mat_y (default "y": a vector of integers of any
 * numeric class, one per row, class = label - options->label_offset); with
 * options->has_labels = 0, y is not read. options->limit takes the first rows.
 * Errors are BPNN_ERR_INVALID and name the file and the variable. */
bpnn_status data_load_mat(const char *path, const bpnn_load_options *options, bpnn_dataset *out);

#endif
