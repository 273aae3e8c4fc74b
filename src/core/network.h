/* network.h — the BP network on a backend: forward pass, regularized
 * logistic cost, backpropagation, prediction. Written once over backend ops. */
#ifndef BPNN_CORE_NETWORK_H
#define BPNN_CORE_NETWORK_H

#include "backend/backend.h"

/* The device-side working set for a data set of `rows` samples, evaluated
 * in blocks of block_rows (the backend's batch_bytes decides): activations
 * and deltas hold one block. */
typedef struct network {
    backend *be;
    int layer_count;
    int sizes[BPNN_MAX_LAYERS];
    size_t rows;
    size_t block_rows;
    /* The regularization term's m: lambda/(2 m) sum Theta^2. The training
     * set's row count when the rows are one mini-batch of it; else rows. */
    size_t regularization_rows;
    /* The data terms are means over this many rows: 0 for rows itself; all
     * participants' rows when these are one participant's share of the data
     * (then each participant's cost and gradient add up to the whole's). */
    size_t mean_rows;
    backend_buffer *x;      /* rows x sizes[0]; not owned */
    backend_buffer *labels; /* rows int32; not owned, may be NULL */
    /* Streamed: the data stay on the host and each block is uploaded into x
     * and labels (then owned, block_rows long) before it is evaluated. */
    const bpnn_dataset *host;
    backend_buffer *activation[BPNN_MAX_LAYERS]; /* [l], l >= 1: block x sizes[l] */
    backend_buffer *output_z;                    /* block x K, output pre-activations */
    backend_buffer *delta[BPNN_MAX_LAYERS];      /* [l], l >= 1; the input has none */
    /* When set, called as backpropagation completes layer l's gradient
     * (Theta_l's slice of it) in the last block of rows, from the last layer
     * down: a participant starts summing that slice while the layers below
     * are computed. */
    bpnn_status (*layer_done)(void *user, int l);
    void *layer_user;
} network;

/* with_gradient = 0 allocates what a forward pass needs, no deltas. */
bpnn_status network_create(backend *be, int layer_count, const int *sizes, size_t rows,
                           backend_buffer *x, backend_buffer *labels, int with_gradient,
                           network **out);
/* A network over a host data set too large for the device: blocks of at
 * most rows_per_block rows are uploaded as they are evaluated. */
bpnn_status network_create_streamed(backend *be, int layer_count, const int *sizes,
                                    const bpnn_dataset *host, size_t rows_per_block,
                                    int with_gradient, network **out);
void network_free(network *net);

/* Points the network at other device rows (at most block_rows of them, or
 * any number for a non-streamed network whose buffers hold them). */
void network_bind(network *net, backend_buffer *x, backend_buffer *labels, size_t rows);

/* The regularized cost J and, when grad is not NULL, its gradient. */
bpnn_status network_cost_gradient(network *net, backend_buffer *params, double lambda, double *cost,
                                  backend_buffer *grad);
/* The same without waiting for the device: the cost stays in its parts, in
 * slots SLOT_LOSS and SLOT_SQUARES (objective.h), until the caller reads
 * them (with whatever else it needs) and network_cost_from_slots forms J
 * from slots 0 .. SLOT_SQUARES. */
bpnn_status network_queue_cost_gradient(network *net, backend_buffer *params, double lambda,
                                        backend_buffer *grad);
double network_cost_from_slots(const network *net, double lambda, const double *slots);
/* The regularization alone: lambda/(2 m) sum ||Theta[:,1:]||^2 into *cost and,
 * when grad is not NULL, (lambda/m) Theta[:,1:] added to it (m the
 * regularization_rows). For a gradient summed over participants first. */
bpnn_status network_regularization(network *net, backend_buffer *params, double lambda,
                                   double *cost, backend_buffer *grad);

static inline size_t network_mean_rows(const network *net)
{
    return net->mean_rows ? net->mean_rows : net->rows;
}

/* The argmax class of every row into `classes` (INDEX, rows long). */
bpnn_status network_predict(network *net, backend_buffer *params, backend_buffer *classes);

/* The output layer's activations of every row into host memory (rows x K). */
bpnn_status network_scores(network *net, backend_buffer *params, double *scores);

/* Uploads a host data set (and its labels when present) to the backend. */
bpnn_status network_upload_data(backend *be, const bpnn_dataset *data, backend_buffer **x,
                                backend_buffer **labels);

#endif
