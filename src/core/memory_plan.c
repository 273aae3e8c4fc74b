/* memory_plan.c — see memory_plan.h. The byte counts follow what train.c,
 * minibatch.c and network.c allocate; the device also needs room for
 * CLBlast's GEMM temp buffer and the driver's own, hence the headroom. */
#include "core/memory_plan.h"

#include <stdio.h>

#include "util/error.h"

/* The plan uses at most this share of the device's memory. */
#define USABLE_SHARE 0.8
/* Streamed blocks are at least this many rows, so that GEMMs stay GEMMs. */
#define MIN_BLOCK_ROWS 64

typedef struct widths {
    uint64_t real;     /* bytes per value */
    uint64_t features; /* input layer */
    uint64_t units;    /* every layer after the input: activations */
    uint64_t hidden;   /* layers with deltas */
    uint64_t widest;   /* the widest layer after the input */
} widths;

static widths widths_of(const backend *be, const bpnn_model *model)
{
    widths w = {.real = be->precision == BPNN_F64 ? 8 : 4, .features = (uint64_t)model->sizes[0]};
    for (int l = 1; l < model->layer_count; l++) {
        w.units += (uint64_t)model->sizes[l];
        w.widest = (uint64_t)model->sizes[l] > w.widest ? (uint64_t)model->sizes[l] : w.widest;
    }
    w.hidden = w.units; /* deltas for every layer after the input */
    /* the output layer keeps its pre-activations too */
    w.units += (uint64_t)model->sizes[model->layer_count - 1];
    return w;
}

/* One row of a data set on the device: values and label. */
static uint64_t data_row_bytes(const widths *w)
{
    return w->features * w->real + 4;
}

/* One row evaluated: activations, output pre-activations, predicted class,
 * and deltas when the gradient is wanted. */
static uint64_t eval_row_bytes(const widths *w, int with_gradient)
{
    return (w->units + (with_gradient ? w->hidden : 0)) * w->real + 4;
}

/* "1.5 MiB", "300.0 KiB", "12 bytes" into a buffer of 32. */
static const char *human(uint64_t bytes, char *text)
{
    if (bytes >= (uint64_t)1 << 30)
        snprintf(text, 32, "%.1f GiB", (double)bytes / (double)(1u << 30));
    else if (bytes >= (uint64_t)1 << 20)
        snprintf(text, 32, "%.1f MiB", (double)bytes / (double)(1u << 20));
    else if (bytes >= 1024)
        snprintf(text, 32, "%.1f KiB", (double)bytes / 1024.0);
    else
        snprintf(text, 32, "%llu bytes", (unsigned long long)bytes);
    return text;
}

bpnn_status memory_plan_make(const backend *be, const bpnn_model *model, const bpnn_dataset *train,
                             const bpnn_dataset *const *extra, int extra_count, size_t batch,
                             int vectors, memory_plan *out)
{
    *out = (memory_plan){0};
    widths w = widths_of(be, model);
    /* Every byte count below is at most a few row sizes times all the rows:
     * refuse what 64 bits cannot count rather than plan with a wrapped sum. */
    uint64_t all_rows = train->rows;
    for (int i = 0; i < extra_count; i++)
        all_rows += extra[i] ? extra[i]->rows : 0;
    uint64_t row_bytes = data_row_bytes(&w) + eval_row_bytes(&w, 1) + 8;
    if (all_rows > UINT64_MAX / 16 / row_bytes)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "too large: %llu rows of %llu bytes each are more than can be counted",
                         (unsigned long long)all_rows, (unsigned long long)row_bytes);
    uint64_t fixed = (uint64_t)vectors * model->param_count * w.real;
    uint64_t resident = fixed, largest = train->rows * w.features * w.real;
    uint64_t eval_rows = train->rows; /* the training set, evaluated whole */
    resident += train->rows * (data_row_bytes(&w) + eval_row_bytes(&w, batch == 0));
    if (batch) /* the epoch's order, the batch and its working set */
        resident += train->rows * 4 + batch * (data_row_bytes(&w) + eval_row_bytes(&w, 1));
    for (int i = 0; i < extra_count; i++) {
        if (!extra[i])
            continue;
        resident += extra[i]->rows * (data_row_bytes(&w) + eval_row_bytes(&w, 0));
        eval_rows = extra[i]->rows > eval_rows ? extra[i]->rows : eval_rows;
    }
    uint64_t eval_largest = eval_rows * w.widest * w.real;
    out->largest_buffer = largest > eval_largest ? largest : eval_largest;
    out->resident_bytes = resident;
    uint64_t memory = be->memory_bytes;
    if (memory == 0) /* host memory: the data are where they are */
        return BPNN_OK;
    uint64_t usable = (uint64_t)(USABLE_SHARE * (double)memory);
    out->usable_bytes = usable;
    uint64_t max_allocation = be->max_allocation ? be->max_allocation : memory;
    if (resident <= usable && out->largest_buffer <= max_allocation)
        return BPNN_OK;

    /* Streamed: parameters and optimizer state, the batch's working set, each
     * evaluated set's predicted classes, and a block of rows for each network
     * that evaluates a set, all together in half of what is usable (the
     * other half for the GEMM library's temporary buffers). */
    uint64_t batch_bytes = batch * (data_row_bytes(&w) + eval_row_bytes(&w, 1));
    uint64_t block_row = data_row_bytes(&w) + eval_row_bytes(&w, batch == 0);
    uint64_t networks = batch == 0 ? 2 : 1; /* cg, lbfgs: the gradient pass too */
    uint64_t classes = train->rows * 4;
    for (int i = 0; i < extra_count; i++)
        if (extra[i]) {
            networks++;
            classes += extra[i]->rows * 4;
        }
    uint64_t base = fixed + batch_bytes + classes;
    uint64_t rows = base < usable / 2 ? (usable / 2 - base) / (networks * block_row) : 0;
    uint64_t row_limit = max_allocation / (w.features * w.real);
    rows = rows < row_limit ? rows : row_limit;
    if (rows > eval_rows)
        rows = eval_rows;
    out->streamed_bytes = base + networks * rows * block_row;
    if (rows < MIN_BLOCK_ROWS && rows < eval_rows) {
        char m[32], u[32], f[32], b[32], r[32];
        return bpnn_fail(BPNN_ERR_RUNTIME,
                         "device memory too small: %s (%s) offers %s (%s usable); the "
                         "parameters and optimizer state need %s, a batch %s and blocks of %d "
                         "rows %s even with the data streamed from the host: use smaller layers "
                         "or a smaller --batch",
                         be->spec, be->name, human(memory, m), human(usable, u), human(fixed, f),
                         human(batch_bytes, b), MIN_BLOCK_ROWS,
                         human(networks * MIN_BLOCK_ROWS * block_row, r));
    }
    out->streamed = 1;
    out->rows_per_block = (size_t)rows;
    return BPNN_OK;
}
