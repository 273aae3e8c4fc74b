/* memory_plan.h — what a training run needs on its device, worked out
 * before anything is uploaded, and the choice it leads to: the data resident
 * on the device, streamed from the host in blocks, or refused with the
 * figures when even streaming cannot fit. */
#ifndef BPNN_CORE_MEMORY_PLAN_H
#define BPNN_CORE_MEMORY_PLAN_H

#include "backend/backend.h"

typedef struct memory_plan {
    int streamed;            /* the data sets stay on the host */
    size_t rows_per_block;   /* streamed: rows uploaded at a time for evaluations */
    uint64_t resident_bytes; /* the whole run with every data set on the device */
    uint64_t streamed_bytes; /* the run with the data streamed */
    uint64_t largest_buffer; /* the largest single buffer of the resident plan */
    uint64_t usable_bytes;   /* the share of the device's memory a plan may fill (0: host) */
} memory_plan;

/* `batch` is the mini-batch size (0 for cg and lbfgs; at most the rows),
 * `vectors` the number of parameter-sized buffers the optimizer keeps
 * (parameters and gradient included); `extra` lists the other data sets
 * evaluated during the run (validation, test; NULL entries skipped). Streamed,
 * each evaluated set (and, for cg and lbfgs, the cost-and-gradient pass over
 * the training set) holds a block of rows_per_block rows of its own. Fails with BPNN_ERR_RUNTIME,
 * the figures and a hint, when even the streamed run cannot fit. */
bpnn_status memory_plan_make(const backend *be, const bpnn_model *model, const bpnn_dataset *train,
                             const bpnn_dataset *const *extra, int extra_count, size_t batch,
                             int vectors, memory_plan *out);

#endif
