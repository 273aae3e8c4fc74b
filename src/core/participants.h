/* participants.h — one training shared among participants (bpnn-cl's MPI
 * ranks, or any caller's): each holds a share of the rows and a replica of
 * the parameters, and every sum over rows is completed by the caller's
 * reduce function, which gives every participant the same result. With one
 * participant every sum is its own and nothing is exchanged. */
#ifndef BPNN_CORE_PARTICIPANTS_H
#define BPNN_CORE_PARTICIPANTS_H

#include "backend/backend.h"

typedef struct participants {
    bpnn_reduce_fn reduce; /* NULL: one participant */
    void *user;
    int rank, count;
    double *scratch; /* what a gradient crosses in */
    size_t scratch_size;
} participants;

/* From the training options; checks rank and count. */
bpnn_status participants_init(participants *p, const bpnn_train_options *options);
void participants_free(participants *p);

static inline int participants_many(const participants *p)
{
    return p && p->reduce && p->count > 1;
}

/* values[i] = the sum of every participant's values[i]. */
bpnn_status participants_sum(participants *p, double *values, size_t count);

/* 1 on every participant when any of them passes a nonzero flag. */
bpnn_status participants_any(participants *p, int flag, int *any);

/* The gradient (n values on the device) and `head_count` scalars before it,
 * summed over the participants in one reduction. */
bpnn_status participants_sum_gradient(participants *p, backend *be, backend_buffer *grad, size_t n,
                                      double *head, size_t head_count);

#endif
