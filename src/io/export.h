/* export.h — the parameters as files other tools read: one file per layer,
 * Theta1, Theta2 ..., each s_{l+1} rows by s_l + 1 columns, the bias weights
 * in column 0 (the seed's layout). */
#ifndef BPNN_IO_EXPORT_H
#define BPNN_IO_EXPORT_H

#include "bpnn.h"

/* Theta<l>.csv in `dir`: comma separated, one row a line, numbers in the C
 * locale as %.9g (f32 models: the float value round-trips) or %.17g (f64). */
bpnn_status bpnn_export_csv(const bpnn_model *model, const char *dir);

/* Theta<l>.npy in `dir`: NPY format 1.0, dtype '<f4' (f32 models) or '<f8',
 * C order, shape (s_{l+1}, s_l + 1). */
bpnn_status bpnn_export_npy(const bpnn_model *model, const char *dir);

/* Both replace all the files or none (bpnn_write_files_atomic): each is
 * written to a temporary file first, and an export that fails leaves the
 * earlier one whole. Errors: BPNN_ERR_INVALID when `dir` does not exist, is
 * not a directory or a file cannot be created in it; BPNN_ERR_RUNTIME when
 * writing fails after the file was opened or memory runs out. */

/* DIR/Theta<l>.<extension>, the file layer l is exported to (malloc'd), or
 * NULL when out of memory. */
char *bpnn_export_path(const char *dir, int l, const char *extension);

#endif
