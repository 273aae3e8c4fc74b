/* network.h — the BP network on a backend: forward pass, regularized
 * logistic cost, backpropagation, prediction. Written once over backend ops. */
#ifndef BPNN_CORE_NETWORK_H
#define BPNN_CORE_NETWORK_H

#include "backend/backend.h"

/* The device-side working set for one batch of `rows` samples. */
typedef struct network {
    backend *be;
    int layer_count;
    int sizes[BPNN_MAX_LAYERS];
    size_t rows;
    backend_buffer *x;                         /* rows x sizes[0]; not owned */
    backend_buffer *labels;                    /* rows int32; not owned, may be NULL */
    backend_buffer *activation[BPNN_MAX_LAYERS]; /* [l], l >= 1: rows x sizes[l]; [0] = x */
    backend_buffer *output_z;                  /* rows x K, output pre-activations */
    backend_buffer *delta[BPNN_MAX_LAYERS];    /* [l], l >= 2 (0-based l >= 1); no input delta */
} network;

/* with_gradient = 0 allocates what a forward pass needs, no deltas. */
bpnn_status network_create(backend *be, int layer_count, const int *sizes, size_t rows,
                           backend_buffer *x, backend_buffer *labels, int with_gradient,
                           network **out);
void network_free(network *net);

/* Forward pass: afterwards activation[L-1] holds H and output_z holds Z_L. */
bpnn_status network_forward(network *net, backend_buffer *params);
/* The regularized cost J and, when grad is not NULL, its gradient. */
bpnn_status network_cost_gradient(network *net, backend_buffer *params, double lambda,
                                  double *cost, backend_buffer *grad);
/* Forward pass, then the argmax class of every row into `classes` (INDEX). */
bpnn_status network_predict(network *net, backend_buffer *params, backend_buffer *classes);

/* Uploads a host data set (and its labels when present) to the backend. */
bpnn_status network_upload_data(backend *be, const bpnn_dataset *data, backend_buffer **x,
                                backend_buffer **labels);

#endif
