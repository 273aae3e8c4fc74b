/* picture.h — pictures as PNG files, drawn with cairo: a grid of images
 * (data samples or hidden units' input weights), a training curve, and a
 * confusion matrix as a heat map.
 *
 * Each picture is drawn in memory, encoded as PNG in memory and written
 * whole through a temporary file and rename (atomic_file.h). Errors:
 * BPNN_ERR_INVALID for what the caller asked (a picture too large, a path
 * that cannot be created); BPNN_ERR_RUNTIME when cairo fails or memory runs
 * out; BPNN_ERR_INTERRUPTED as bpnn_write_file_atomic. */
#ifndef BPNN_IO_PICTURE_H
#define BPNN_IO_PICTURE_H

#include <stddef.h>

#include "bpnn.h"

/* ---- a grid of images (the seed's display_data) -------------------------- */

/* `count` tiles of width x height values; tile i starts at values + i * stride.
 * Each tile is shown in gray scaled to its own range (min black, max white;
 * a constant tile shows its value on the 0..1 pixel scale), in a near-square
 * grid (floor(sqrt(count)) rows) with one image pixel of padding, every
 * image pixel drawn as scale x scale output pixels. */
typedef struct picture_tiles {
    const double *values;
    size_t count, stride;
    int width, height;
    int column_major;            /* values run down columns (MATLAB's img(:)') */
    const char *const *captions; /* count texts shown under the tiles, or NULL */
    int scale;                   /* 0: picture_default_scale */
} picture_tiles;

/* The scale that makes a tile about 80 pixels wide (3 for 28 x 28), 1..8. */
int picture_default_scale(int width, int height);

/* Rows and columns of the grid for `count` tiles. */
void picture_grid_shape(size_t count, size_t *rows, size_t *columns);

/* Output size in pixels (for messages and tests). */
void picture_grid_size(const picture_tiles *tiles, int *width, int *height);

bpnn_status picture_grid(const picture_tiles *tiles, const char *path);

/* ---- training curves ------------------------------------------------------------ */

/* Cost and, where measured (>= 0), train and test accuracy against the
 * iteration, with labelled axes, ticks, legend and title. Non-finite costs
 * leave a gap. `x_label` names the x axis ("iteration", "epoch"). */
bpnn_status picture_curve(const bpnn_iteration *records, size_t count, const char *x_label,
                          const char *title, const char *path);

/* Reads a `train --log` file (one JSON object a line: "iteration" or
 * "epoch", "cost" (a number or null), optional "train_accuracy",
 * "test_accuracy", "evaluations", "seconds"). A log appended by several
 * runs holds several curves (the iteration starts again); the last is
 * returned and *runs says how many there were. *x_label is "iteration" or
 * "epoch". A torn line (a record cut short by a run that stopped while
 * writing it) is skipped and counted in *torn. Errors name the file and
 * line. */
bpnn_status picture_read_log(const char *path, bpnn_iteration **records, size_t *count, int *runs,
                             const char **x_label, size_t *torn);

/* ---- confusion matrix ---------------------------------------------------------- */

/* classes x classes counts, rows the true class, columns the predicted one;
 * names[k] labels class k. Cells are shaded by their share of the row. */
bpnn_status picture_confusion(const size_t *confusion, int classes, const char *const *names,
                              const char *title, const char *path);

#endif
