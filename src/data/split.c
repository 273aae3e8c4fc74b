/* split.c — a validation set held out of the training rows after a shuffle
 * drawn from the run's seed (its own stream of it, random.h), so that the
 * same seed holds out the same rows on every device and in a resumed run. */
#include <stdlib.h>
#include <string.h>

#include "bpnn.h"
#include "core/random.h"
#include "util/error.h"

/* Copies the rows where pick[i] == want, in their original order. */
static bpnn_status copy_rows(const bpnn_dataset *data, const unsigned char *pick,
                             unsigned char want, size_t rows, bpnn_dataset *out)
{
    *out = (bpnn_dataset){.rows = rows,
                          .features = data->features,
                          .image_width = data->image_width,
                          .image_height = data->image_height};
    out->x = malloc((rows ? rows : 1) * data->features * sizeof *out->x);
    out->labels = data->labels ? malloc((rows ? rows : 1) * sizeof *out->labels) : NULL;
    if (!out->x || (data->labels && !out->labels)) {
        bpnn_dataset_free(out);
        return bpnn_fail_oom("the validation split");
    }
    size_t at = 0;
    for (size_t i = 0; i < data->rows; i++) {
        if (pick[i] != want)
            continue;
        memcpy(out->x + at * data->features, data->x + i * data->features,
               data->features * sizeof *out->x);
        if (data->labels)
            out->labels[at] = data->labels[i];
        at++;
    }
    return BPNN_OK;
}

bpnn_status bpnn_dataset_split(bpnn_dataset *data, double fraction, uint64_t seed,
                               bpnn_dataset *validation)
{
    if (!data)
        return bpnn_fail_null("bpnn_dataset_split", "data");
    if (!validation)
        return bpnn_fail_null("bpnn_dataset_split", "validation");
    *validation = (bpnn_dataset){0};
    if (!(fraction > 0 && fraction < 1))
        return bpnn_fail(BPNN_ERR_INVALID, "--val-split %g: expected a fraction in (0, 1)",
                         fraction);
    size_t held = (size_t)(fraction * (double)data->rows + 0.5);
    if (held == 0 || held >= data->rows)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "--val-split %g of %zu rows holds out %zu: each side needs at least "
                         "one row",
                         fraction, data->rows, held);
    int32_t *order = malloc(data->rows * sizeof *order);
    unsigned char *pick = calloc(data->rows, 1);
    bpnn_dataset kept = {0};
    bpnn_status status = order && pick ? BPNN_OK : bpnn_fail_oom("the validation split");
    if (status == BPNN_OK) {
        xoshiro256 g;
        xoshiro256_seed_stream(&g, seed, RANDOM_STREAM_VALIDATION);
        xoshiro256_permutation(&g, data->rows, order);
        for (size_t i = 0; i < held; i++)
            pick[order[i]] = 1;
        status = copy_rows(data, pick, 1, held, validation);
    }
    if (status == BPNN_OK)
        status = copy_rows(data, pick, 0, data->rows - held, &kept);
    if (status == BPNN_OK) {
        bpnn_dataset_free(data);
        *data = kept;
    } else {
        bpnn_dataset_free(validation);
    }
    free(order);
    free(pick);
    return status;
}

bpnn_status bpnn_dataset_shard(bpnn_dataset *data, int index, int count)
{
    if (!data)
        return bpnn_fail_null("bpnn_dataset_shard", "data");
    if (count < 1 || index < 0 || index >= count)
        return bpnn_fail(BPNN_ERR_INVALID, "share %d of %d: no such share", index, count);
    size_t first = data->rows * (size_t)index / (size_t)count;
    size_t last = data->rows * (size_t)(index + 1) / (size_t)count;
    if (first == last)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "too few rows to share: %zu rows among %d participants leave share %d "
                         "empty",
                         data->rows, count, index);
    size_t rows = last - first;
    /* moved to the front in place, then the rest let go */
    memmove(data->x, data->x + first * data->features, rows * data->features * sizeof *data->x);
    if (data->labels)
        memmove(data->labels, data->labels + first, rows * sizeof *data->labels);
    data->rows = rows;
    double *x = realloc(data->x, rows * data->features * sizeof *x);
    if (x)
        data->x = x;
    return BPNN_OK;
}
