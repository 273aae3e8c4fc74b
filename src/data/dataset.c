/* dataset.c — the data set object, load options, label checks and the
 * choice of reader by content. */
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "data/mat.h"
#include "util/error.h"

void bpnn_dataset_free(bpnn_dataset *data)
{
    if (!data)
        return;
    free(data->x);
    free(data->labels);
    memset(data, 0, sizeof *data);
}

int bpnn_dataset_class_count(const bpnn_dataset *data)
{
    if (!data || !data->labels)
        return 0;
    int32_t largest = -1;
    for (size_t i = 0; i < data->rows; i++)
        if (data->labels[i] > largest)
            largest = data->labels[i];
    return largest == INT32_MAX ? INT32_MAX : (int)largest + 1;
}

void bpnn_load_options_default(bpnn_load_options *options)
{
    memset(options, 0, sizeof *options);
    options->limit = 0;
    options->header = BPNN_HEADER_AUTO;
    options->label_col = 0;
    options->has_labels = 1;
    options->label_offset = 0;
    options->mat_x = "X";
    options->mat_y = "y";
    options->delimiter = 0;
}

bpnn_status bpnn_dataset_check_labels(const bpnn_dataset *data, int classes, const char *source)
{
    if (!data->labels)
        return BPNN_OK;
    if (classes < 1)
        return bpnn_fail(BPNN_ERR_INVALID, "a network needs at least one class: %s", source);
    for (size_t i = 0; i < data->rows; i++) {
        int32_t c = data->labels[i];
        if (c < 0 || c >= classes)
            return bpnn_fail(BPNN_ERR_INVALID,
                             "label out of range: %s: row %zu has class %d, the network has %d "
                             "classes (0..%d)",
                             source, i + 1, (int)c, classes, classes - 1);
    }
    return BPNN_OK;
}

static int is_idx(const unsigned char *head, size_t size)
{
    /* 0x00 0x00, a type code, 1 to 3 dimensions. Every known type code goes
     * to the IDX reader so that one it does not support is named as such. */
    if (size < 4 || head[0] != 0 || head[1] != 0 || head[3] < 1 || head[3] > 3)
        return 0;
    switch (head[2]) {
    case 0x08:
    case 0x09:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x0E: return 1;
    default: return 0;
    }
}

/* Chooses the reader of an opened source by its first bytes and name. */
static bpnn_status load_source(data_source *source, const char *labels_path,
                               const bpnn_load_options *options, bpnn_dataset *out)
{
    const char *path = source->name;
    if (source->head_size == 0)
        return bpnn_fail(BPNN_ERR_INVALID, "empty data file: %s", path);
    /* ---- MAT files: matio (src/data/mat.c); the labels are the variable y. */
    if (data_looks_like_mat(source->path, source->head, source->head_size)) {
        if (labels_path)
            return bpnn_fail(BPNN_ERR_INVALID,
                             "a separate labels file is for IDX images only: %s is a MAT file: "
                             "its labels are a variable (--mat-y), not %s",
                             path, labels_path);
        return data_load_mat_source(source, options, out);
    }
    if (is_idx(source->head, source->head_size))
        return data_load_idx_source(source, labels_path, options, out);
    if (labels_path)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "a separate labels file is for IDX images only: %s is CSV: its labels "
                         "are a column (--label-col), not %s",
                         path, labels_path);
    return data_load_csv_source(source, options, out);
}

bpnn_status bpnn_load_data(const char *path, const char *labels_path,
                           const bpnn_load_options *options, bpnn_dataset *out)
{
    memset(out, 0, sizeof *out);
    data_source source;
    BPNN_TRY(data_source_open(path, "data file", &source));
    bpnn_status status = load_source(&source, labels_path, options, out);
    data_source_close(&source);
    return status;
}
