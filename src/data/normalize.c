/* normalize.c — per-feature statistics fitted on the training rows, stored
 * in the model and applied as x' = (x - shift) / scale to any data set. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bpnn.h"
#include "util/error.h"

/* shift = mean, scale = population standard deviation. A constant column
 * (min == max) gets its value as shift and scale 1, so it becomes exactly 0:
 * the mean of equal values need not round back to the value itself. */
static void fit_zscore(const bpnn_dataset *data, double *shift, double *scale, double *low,
                       double *high)
{
    size_t n = data->features;
    for (size_t j = 0; j < n; j++) {
        shift[j] = 0;
        low[j] = high[j] = data->x[j];
    }
    for (size_t i = 0; i < data->rows; i++) {
        const double *row = data->x + i * n;
        for (size_t j = 0; j < n; j++) {
            shift[j] += row[j];
            low[j] = fmin(low[j], row[j]);
            high[j] = fmax(high[j], row[j]);
        }
    }
    for (size_t j = 0; j < n; j++) {
        shift[j] /= (double)data->rows;
        /* The mean of values within [low, high] stays within them. */
        shift[j] = fmin(fmax(shift[j], low[j]), high[j]);
        scale[j] = 0;
    }
    /* Second pass over deviations divided by the largest one: neither the
     * squares of large values overflow nor those of tiny ones underflow. */
    for (size_t j = 0; j < n; j++) {
        high[j] = fmax(high[j] - shift[j], shift[j] - low[j]); /* largest |x - mean| */
        low[j] = high[j] > 0 ? 1 / high[j] : 0;
    }
    for (size_t i = 0; i < data->rows; i++) {
        const double *row = data->x + i * n;
        for (size_t j = 0; j < n; j++) {
            double d = (row[j] - shift[j]) * low[j];
            scale[j] += d * d;
        }
    }
    for (size_t j = 0; j < n; j++) {
        /* high == 0: a constant column, only centred. */
        double deviation = high[j] * sqrt(scale[j] / (double)data->rows);
        scale[j] = deviation > 0 && isfinite(deviation) ? deviation : 1;
    }
}

static void fit_minmax(const bpnn_dataset *data, double *shift, double *scale)
{
    size_t n = data->features;
    for (size_t j = 0; j < n; j++)
        shift[j] = scale[j] = data->x[j]; /* scale holds the maximum first */
    for (size_t i = 0; i < data->rows; i++) {
        const double *row = data->x + i * n;
        for (size_t j = 0; j < n; j++) {
            shift[j] = fmin(shift[j], row[j]);
            scale[j] = fmax(scale[j], row[j]);
        }
    }
    for (size_t j = 0; j < n; j++) {
        double range = scale[j] - shift[j];
        scale[j] = range > 0 && isfinite(range) ? range : 1;
    }
}

bpnn_status bpnn_normalize_fit(bpnn_model *model, bpnn_normalization kind, bpnn_dataset *data)
{
    if (kind == BPNN_NORMALIZE_NONE) {
        free(model->norm_shift);
        free(model->norm_scale);
        model->norm_shift = model->norm_scale = NULL;
        model->normalization = BPNN_NORMALIZE_NONE;
        return BPNN_OK;
    }
    if (kind != BPNN_NORMALIZE_ZSCORE && kind != BPNN_NORMALIZE_MINMAX)
        return bpnn_fail(BPNN_ERR_INVALID, "unknown normalization %d: --normalize", (int)kind);
    if (data->rows == 0)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "no rows to fit normalization statistics on: --normalize");
    if (data->features != (size_t)model->sizes[0])
        return bpnn_fail(BPNN_ERR_INVALID,
                         "data and network differ: normalization: %zu features, the input layer "
                         "has %d units",
                         data->features, model->sizes[0]);
    size_t n = data->features;
    double *shift = malloc(n * sizeof *shift);
    double *scale = malloc(n * sizeof *scale);
    double *low = kind == BPNN_NORMALIZE_ZSCORE ? malloc(n * sizeof *low) : NULL;
    double *high = kind == BPNN_NORMALIZE_ZSCORE ? malloc(n * sizeof *high) : NULL;
    if (!shift || !scale || (kind == BPNN_NORMALIZE_ZSCORE && (!low || !high))) {
        free(shift);
        free(scale);
        free(low);
        free(high);
        return bpnn_fail_oom("normalization statistics");
    }
    if (kind == BPNN_NORMALIZE_ZSCORE)
        fit_zscore(data, shift, scale, low, high);
    else
        fit_minmax(data, shift, scale);
    free(low);
    free(high);
    free(model->norm_shift);
    free(model->norm_scale);
    model->norm_shift = shift;
    model->norm_scale = scale;
    model->normalization = kind;
    bpnn_normalize_apply(model, data);
    return BPNN_OK;
}

void bpnn_normalize_apply(const bpnn_model *model, bpnn_dataset *data)
{
    if (model->normalization == BPNN_NORMALIZE_NONE || !model->norm_shift || !model->norm_scale)
        return;
    /* The statistics cover the input layer; callers check that the data
     * have that many features. Never read past the statistics. */
    size_t n = data->features;
    size_t covered = n < (size_t)model->sizes[0] ? n : (size_t)model->sizes[0];
    const double *shift = model->norm_shift, *scale = model->norm_scale;
    for (size_t i = 0; i < data->rows; i++) {
        double *row = data->x + i * n;
        for (size_t j = 0; j < covered; j++)
            row[j] = (row[j] - shift[j]) / scale[j];
    }
}
