/* normalize.c — per-feature statistics fitted on the training rows, stored
 * in the model and applied as x' = (x - shift) / scale to any data set. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bpnn.h"
#include "util/error.h"

/* A training shared among participants (`with`, NULL when alone): each
 * holds a share of the rows, and the statistics are those of all of them,
 * the same on each. Sums are completed by the caller's reduction; extremes
 * are gathered (bpnn_gather) and taken in participant order. Alone, nothing
 * is exchanged and the statistics are computed exactly as over one data
 * set. */
static bpnn_status sum_over(const bpnn_train_options *with, double *values, size_t count)
{
    return with ? with->reduce(values, count, with->reduce_user) : BPNN_OK;
}

/* low[j] = the least and high[j] the largest of every participant's. */
static bpnn_status extremes_over(const bpnn_train_options *with, double *low, double *high,
                                 size_t n)
{
    if (!with)
        return BPNN_OK;
    double *mine = malloc(2 * n * sizeof *mine), *all = NULL;
    if (!mine)
        return bpnn_fail_oom("normalization statistics");
    memcpy(mine, low, n * sizeof *low);
    memcpy(mine + n, high, n * sizeof *high);
    bpnn_status status = bpnn_gather(with, mine, 2 * n, &all);
    free(mine);
    for (int r = 0; status == BPNN_OK && r < with->ranks; r++)
        for (size_t j = 0; j < n; j++) {
            low[j] = r ? fmin(low[j], all[(size_t)r * 2 * n + j]) : all[j];
            high[j] = r ? fmax(high[j], all[(size_t)r * 2 * n + n + j]) : all[n + j];
        }
    free(all);
    return status;
}

static void local_extremes(const bpnn_dataset *data, double *low, double *high)
{
    size_t n = data->features;
    for (size_t j = 0; j < n; j++)
        low[j] = high[j] = data->x[j];
    for (size_t i = 0; i < data->rows; i++) {
        const double *row = data->x + i * n;
        for (size_t j = 0; j < n; j++) {
            low[j] = fmin(low[j], row[j]);
            high[j] = fmax(high[j], row[j]);
        }
    }
}

/* shift = mean, scale = population standard deviation. A constant column
 * (min == max) gets its value as shift and scale 1, so it becomes exactly 0:
 * the mean of equal values need not round back to the value itself.
 * `sums` holds n + 1 values. */
static bpnn_status fit_zscore(const bpnn_dataset *data, const bpnn_train_options *with,
                              double *shift, double *scale, double *low, double *high, double *sums)
{
    size_t n = data->features;
    local_extremes(data, low, high);
    BPNN_TRY(extremes_over(with, low, high, n));
    for (size_t j = 0; j < n; j++)
        sums[j] = 0;
    sums[n] = (double)data->rows;
    for (size_t i = 0; i < data->rows; i++) {
        const double *row = data->x + i * n;
        for (size_t j = 0; j < n; j++)
            sums[j] += row[j];
    }
    BPNN_TRY(sum_over(with, sums, n + 1));
    double rows = sums[n];
    for (size_t j = 0; j < n; j++) {
        /* The mean of values within [low, high] stays within them. */
        shift[j] = fmin(fmax(sums[j] / rows, low[j]), high[j]);
        sums[j] = 0;
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
            sums[j] += d * d;
        }
    }
    BPNN_TRY(sum_over(with, sums, n));
    for (size_t j = 0; j < n; j++) {
        /* high == 0: a constant column, only centred. */
        double deviation = high[j] * sqrt(sums[j] / rows);
        scale[j] = deviation > 0 && isfinite(deviation) ? deviation : 1;
    }
    return BPNN_OK;
}

static bpnn_status fit_minmax(const bpnn_dataset *data, const bpnn_train_options *with,
                              double *shift, double *scale)
{
    size_t n = data->features;
    local_extremes(data, shift, scale); /* scale holds the maximum first */
    BPNN_TRY(extremes_over(with, shift, scale, n));
    for (size_t j = 0; j < n; j++) {
        double range = scale[j] - shift[j];
        scale[j] = range > 0 && isfinite(range) ? range : 1;
    }
    return BPNN_OK;
}

bpnn_status bpnn_normalize_fit(bpnn_model *model, bpnn_normalization kind, bpnn_dataset *data)
{
    return bpnn_normalize_fit_shared(model, kind, data, NULL);
}

bpnn_status bpnn_normalize_fit_shared(bpnn_model *model, bpnn_normalization kind,
                                      bpnn_dataset *data, const bpnn_train_options *shared)
{
    if (!model)
        return bpnn_fail_null("bpnn_normalize_fit", "model");
    if (!data)
        return bpnn_fail_null("bpnn_normalize_fit", "data");
    const bpnn_train_options *with = shared && shared->reduce && shared->ranks > 1 ? shared : NULL;
    if (with && (with->rank < 0 || with->rank >= with->ranks))
        return bpnn_fail(BPNN_ERR_INVALID, "participant %d of %d: no such participant", with->rank,
                         with->ranks);
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
    /* zscore's work space: extremes, and n + 1 sums */
    double *work = kind == BPNN_NORMALIZE_ZSCORE ? malloc((3 * n + 1) * sizeof *work) : NULL;
    bpnn_status status = shift && scale && (kind != BPNN_NORMALIZE_ZSCORE || work)
                             ? BPNN_OK
                             : bpnn_fail_oom("normalization statistics");
    if (status == BPNN_OK)
        status = kind == BPNN_NORMALIZE_ZSCORE
                     ? fit_zscore(data, with, shift, scale, work, work + n, work + 2 * n)
                     : fit_minmax(data, with, shift, scale);
    free(work);
    if (status != BPNN_OK) {
        free(shift);
        free(scale);
        return status;
    }
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
