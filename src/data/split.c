/* split.c — a validation set held out of the training rows after a shuffle
 * drawn from the run's seed (its own stream of it, random.h), so that the
 * same seed holds out the same rows on every device, in a resumed run and
 * whatever the number of participants sharing the data. */
#include <stdlib.h>
#include <string.h>

#include "bpnn.h"
#include "core/random.h"
#include "data/data.h"
#include "util/error.h"

bpnn_status data_share_range(size_t rows, int index, int count, const char *name, size_t *first,
                             size_t *last)
{
    if (count < 1 || index < 0 || index >= count)
        return bpnn_fail(BPNN_ERR_INVALID, "share %d of %d: no such share", index, count);
    *first = rows * (size_t)index / (size_t)count;
    *last = rows * (size_t)(index + 1) / (size_t)count;
    if (*first == *last)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "too few rows to share: %s: %zu rows among %d participants leave share "
                         "%d empty",
                         name, rows, count, index);
    return BPNN_OK;
}

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

/* pick[i] = 1 for the rows of `data` held out: the first `held` of a
 * permutation of the whole set's rows. Returns how many of them are here. */
static size_t pick_held_out(const bpnn_dataset *data, size_t whole, size_t held, uint64_t seed,
                            int32_t *order, unsigned char *pick)
{
    xoshiro256 g;
    xoshiro256_seed_stream(&g, seed, RANDOM_STREAM_VALIDATION);
    xoshiro256_permutation(&g, whole, order);
    size_t here = 0;
    for (size_t i = 0; i < held; i++) {
        size_t row = (size_t)order[i];
        if (row >= data->share_first && row - data->share_first < data->rows) {
            pick[row - data->share_first] = 1;
            here++;
        }
    }
    return here;
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
    size_t whole = data->share_of ? data->share_of : data->rows;
    size_t held = (size_t)(fraction * (double)whole + 0.5);
    if (held == 0 || held >= whole)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "--val-split %g of %zu rows holds out %zu: each side needs at least "
                         "one row",
                         fraction, whole, held);
    int32_t *order = malloc(whole * sizeof *order);
    unsigned char *pick = calloc(data->rows, 1);
    bpnn_dataset kept = {0};
    bpnn_status status = order && pick ? BPNN_OK : bpnn_fail_oom("the validation split");
    size_t here = 0;
    if (status == BPNN_OK) {
        here = pick_held_out(data, whole, held, seed, order, pick);
        if (here == 0 || here == data->rows)
            status = bpnn_fail(BPNN_ERR_INVALID,
                               "--val-split %g: share %zu..%zu of %zu rows holds %s of the "
                               "validation rows: use fewer participants or another split",
                               fraction, data->share_first + 1, data->share_first + data->rows,
                               whole, here == 0 ? "none" : "only");
    }
    if (status == BPNN_OK)
        status = copy_rows(data, pick, 1, here, validation);
    if (status == BPNN_OK)
        status = copy_rows(data, pick, 0, data->rows - here, &kept);
    if (status == BPNN_OK) {
        /* The parts of a share are shares of the whole set's parts: the rows
         * of the earlier shares' parts come first. */
        if (data->share_of) {
            size_t earlier_held = 0;
            for (size_t i = 0; i < held; i++)
                earlier_held += (size_t)order[i] < data->share_first;
            validation->share_first = earlier_held;
            validation->share_of = held;
            kept.share_first = data->share_first - earlier_held;
            kept.share_of = whole - held;
        }
        bpnn_dataset_free(data);
        *data = kept;
    } else {
        bpnn_dataset_free(validation);
    }
    free(order);
    free(pick);
    return status;
}

bpnn_status data_keep_share(bpnn_dataset *data, int index, int count, const char *name)
{
    if (data->share_of)
        return bpnn_fail(BPNN_ERR_INVALID, "share %d of %d: %s: the data are a share already",
                         index, count, name);
    size_t first = 0, last = 0;
    BPNN_TRY(data_share_range(data->rows, index, count, name, &first, &last));
    size_t rows = last - first;
    /* moved to the front in place, then the rest let go */
    memmove(data->x, data->x + first * data->features, rows * data->features * sizeof *data->x);
    if (data->labels)
        memmove(data->labels, data->labels + first, rows * sizeof *data->labels);
    data->share_first = first;
    data->share_of = data->rows;
    data->rows = rows;
    double *x = realloc(data->x, rows * data->features * sizeof *x);
    if (x)
        data->x = x;
    return BPNN_OK;
}

bpnn_status bpnn_dataset_shard(bpnn_dataset *data, int index, int count)
{
    if (!data)
        return bpnn_fail_null("bpnn_dataset_shard", "data");
    return data_keep_share(data, index, count, "the data");
}
