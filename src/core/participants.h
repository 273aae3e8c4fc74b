/* participants.h — one training shared among participants (bpnn-cl's MPI
 * ranks, or any caller's): each holds a share of the rows and a replica of
 * the parameters, and every sum over rows is completed by the caller's
 * reduce function, which gives every participant the same result. With one
 * participant every sum is its own and nothing is exchanged. */
#ifndef BPNN_CORE_PARTICIPANTS_H
#define BPNN_CORE_PARTICIPANTS_H

#include "backend/backend.h"

enum { PARTICIPANTS_MAX_PENDING = BPNN_MAX_LAYERS + 1 };

typedef struct participants {
    bpnn_reduce_fn reduce;      /* NULL: one participant */
    bpnn_reduce_start_fn start; /* NULL: no overlapped sums */
    bpnn_reduce_wait_fn wait;
    void *user;
    int rank, count;
    double *scratch; /* what a gradient crosses in */
    size_t scratch_size;
    /* overlapped: the sums started and not yet waited for, in order */
    void *pending[PARTICIPANTS_MAX_PENDING];
    int pending_count;
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

/* Overlapped sums of a gradient (participants_overlaps): begin, then one
 * layer_done per layer as backpropagation completes it (its slice of the
 * gradient, [offset, offset + count)), then finish with the scalars, which
 * waits for every sum and puts the summed gradient back on the device
 * (`computed`: the backpropagation's status; a failure is returned after the
 * sums already started are waited for). */
static inline int participants_overlaps(const participants *p)
{
    return participants_many(p) && p->start && p->wait;
}
bpnn_status participants_overlap_begin(participants *p, size_t n, size_t head_count);
bpnn_status participants_overlap_layer(participants *p, backend *be, backend_buffer *grad,
                                       size_t offset, size_t count, size_t head_count);
bpnn_status participants_overlap_finish(participants *p, backend *be, backend_buffer *grad,
                                        size_t n, double *head, size_t head_count,
                                        bpnn_status computed);

#endif
