/* network.c — docs/algorithm.md, over backend ops. Theta_l[:,1:] is
 * always used in place (offset 1, ld = s_l + 1): no column of ones exists.
 * Rows are evaluated block by block; the gradient GEMMs accumulate. */
#include "core/network.h"
#include "core/objective.h"

#include <math.h>
#include <stdlib.h>

#include "util/error.h"

static backend_view theta_view(backend_buffer *params, const int *sizes, int l)
{
    return view_at(params, bpnn_theta_offset(sizes, l + 1));
}

static backend_view weights_view(backend_buffer *params, const int *sizes, int l)
{
    return view_at(params, bpnn_theta_offset(sizes, l + 1) + 1);
}

/* Rows per block: what fits the backend's batch_bytes, at least 64 rows so
 * that GEMMs stay GEMMs, at most all of them. */
static size_t block_rows(const backend *be, size_t rows, int features)
{
    if (be->batch_bytes == 0)
        return rows;
    size_t element = be->precision == BPNN_F64 ? sizeof(double) : sizeof(float);
    size_t fit = be->batch_bytes / ((size_t)features * element);
    fit = fit < 64 ? 64 : fit;
    return fit < rows ? fit : rows;
}

bpnn_status network_create(backend *be, int layer_count, const int *sizes, size_t rows,
                           backend_buffer *x, backend_buffer *labels, int with_gradient,
                           network **out)
{
    *out = NULL;
    network *net = calloc(1, sizeof *net);
    if (!net)
        return bpnn_fail_oom("network");
    net->be = be;
    net->layer_count = layer_count;
    for (int l = 0; l < layer_count; l++)
        net->sizes[l] = sizes[l];
    net->rows = rows;
    net->regularization_rows = rows;
    net->block_rows = block_rows(be, rows, sizes[0]);
    net->x = x;
    net->labels = labels;
    bpnn_status status = BPNN_OK;
    int last = layer_count - 1;
    for (int l = 1; l <= last && status == BPNN_OK; l++) {
        if (net->block_rows > SIZE_MAX / (size_t)sizes[l]) {
            status = bpnn_fail(BPNN_ERR_INVALID,
                               "too large: %zu rows of layer %d's %d units are more values than "
                               "can be counted",
                               net->block_rows, l + 1, sizes[l]);
            break;
        }
        size_t count = net->block_rows * (size_t)sizes[l];
        status = backend_alloc(be, BACKEND_REAL, count, &net->activation[l]);
        if (status == BPNN_OK && with_gradient)
            status = backend_alloc(be, BACKEND_REAL, count, &net->delta[l]);
    }
    if (status == BPNN_OK)
        status =
            backend_alloc(be, BACKEND_REAL, net->block_rows * (size_t)sizes[last], &net->output_z);
    if (status != BPNN_OK) {
        network_free(net);
        return status;
    }
    *out = net;
    return BPNN_OK;
}

bpnn_status network_create_streamed(backend *be, int layer_count, const int *sizes,
                                    const bpnn_dataset *host, size_t rows_per_block,
                                    int with_gradient, network **out)
{
    *out = NULL;
    backend_buffer *x = NULL, *labels = NULL;
    size_t block = rows_per_block < host->rows ? rows_per_block : host->rows;
    if (host->features && block > SIZE_MAX / host->features)
        return bpnn_fail(BPNN_ERR_INVALID, "too large: blocks of %zu rows of %zu features", block,
                         host->features);
    bpnn_status status = backend_alloc(be, BACKEND_REAL, block * host->features, &x);
    if (status == BPNN_OK && host->labels)
        status = backend_alloc(be, BACKEND_INDEX, block, &labels);
    if (status == BPNN_OK)
        status = network_create(be, layer_count, sizes, block, x, labels, with_gradient, out);
    if (status != BPNN_OK) {
        backend_release(be, labels);
        backend_release(be, x);
        return status;
    }
    (*out)->host = host;
    (*out)->rows = host->rows;
    (*out)->regularization_rows = host->rows;
    return BPNN_OK;
}

void network_bind(network *net, backend_buffer *x, backend_buffer *labels, size_t rows)
{
    net->x = x;
    net->labels = labels;
    net->rows = rows;
    net->mean_rows = 0;
}

void network_free(network *net)
{
    if (!net)
        return;
    if (net->host) {
        backend_release(net->be, net->x);
        backend_release(net->be, net->labels);
    }
    for (int l = 1; l < net->layer_count; l++) {
        backend_release(net->be, net->activation[l]);
        backend_release(net->be, net->delta[l]);
    }
    backend_release(net->be, net->output_z);
    free(net);
}

/* Where row `first` of the data sits on the device: a streamed network
 * holds only the current block. */
static size_t device_row(const network *net, size_t first)
{
    return net->host ? 0 : first;
}

/* A_l of the block starting at row `first`: the data itself for l = 0. */
static backend_view layer_input(network *net, int l, size_t first)
{
    return l == 0 ? view_at(net->x, device_row(net, first) * (size_t)net->sizes[0])
                  : view_at(net->activation[l], 0);
}

static backend_view block_labels(network *net, size_t first)
{
    return view_at(net->labels, device_row(net, first));
}

/* A streamed network uploads the block's rows (and labels) first. */
static bpnn_status stage_block(network *net, size_t first, size_t m)
{
    if (!net->host)
        return BPNN_OK;
    backend *be = net->be;
    size_t features = net->host->features;
    BPNN_TRY(
        be->ops->upload(be, view_at(net->x, 0), m * features, net->host->x + first * features));
    if (net->labels)
        BPNN_TRY(be->ops->upload_index(be, view_at(net->labels, 0), m, net->host->labels + first));
    return BPNN_OK;
}

/* Forward pass over `m` rows from `first`: afterwards activation[L-1] holds
 * H and output_z holds Z_L for those rows. */
static bpnn_status forward(network *net, backend_buffer *params, size_t first, size_t m)
{
    backend *be = net->be;
    const int *s = net->sizes;
    int last = net->layer_count - 1;
    for (int l = 0; l < last; l++) {
        /* Z = A_l Theta_l[:,1:]^T, then Z += bias and A_{l+1} = sigmoid(Z); hidden
         * layers keep only A (in place), the output keeps Z for the loss. */
        backend_buffer *z = l + 1 == last ? net->output_z : net->activation[l + 1];
        BPNN_TRY(be->ops->gemm(be, 0, 1, m, (size_t)s[l + 1], (size_t)s[l], 1.0,
                               layer_input(net, l, first), (size_t)s[l], weights_view(params, s, l),
                               (size_t)s[l] + 1, 0.0, view_at(z, 0), (size_t)s[l + 1]));
        BPNN_TRY(be->ops->bias_sigmoid(be, m, (size_t)s[l + 1], theta_view(params, s, l),
                                       (size_t)s[l] + 1, view_at(z, 0),
                                       view_at(net->activation[l + 1], 0)));
    }
    return BPNN_OK;
}

/* Adds the block's share to the gradient (the first block overwrites it):
 * grad Theta_l[:,1:] += D_{l+1}^T A_l / m, grad Theta_l[:,0] += colsum(D_{l+1}) / m. */
static bpnn_status backward(network *net, backend_buffer *params, size_t first, size_t m,
                            backend_buffer *grad)
{
    backend *be = net->be;
    const int *s = net->sizes;
    int last = net->layer_count - 1;
    double inv_m = 1.0 / (double)network_mean_rows(net), beta = first == 0 ? 0.0 : 1.0;
    BPNN_TRY(be->ops->output_delta(be, m, (size_t)s[last], view_at(net->activation[last], 0),
                                   block_labels(net, first), view_at(net->delta[last], 0)));
    for (int l = last - 1; l >= 0; l--) {
        size_t fan_in = (size_t)s[l], fan_out = (size_t)s[l + 1];
        backend_view d = view_at(net->delta[l + 1], 0);
        BPNN_TRY(be->ops->gemm(be, 1, 0, fan_out, fan_in, m, inv_m, d, fan_out,
                               layer_input(net, l, first), fan_in, beta, weights_view(grad, s, l),
                               fan_in + 1));
        BPNN_TRY(be->ops->bias_gradient(be, m, fan_out, d, inv_m, beta, theta_view(grad, s, l),
                                        fan_in + 1));
        if (net->layer_done && first + m == net->rows)
            BPNN_TRY(net->layer_done(net->layer_user, l));
        if (l == 0)
            break; /* D_1, the input's delta, would be a whole GEMM for nothing */
        /* D_l = (D_{l+1} Theta_l[:,1:]) .* a_l (1 - a_l) */
        BPNN_TRY(be->ops->gemm(be, 0, 0, m, fan_in, fan_out, 1.0, d, fan_out,
                               weights_view(params, s, l), fan_in + 1, 0.0,
                               view_at(net->delta[l], 0), fan_in));
        BPNN_TRY(be->ops->sigmoid_gradient_mul(be, m * fan_in, view_at(net->activation[l], 0),
                                               view_at(net->delta[l], 0)));
    }
    return BPNN_OK;
}

/* sum ||Theta_l[:,1:]||^2 into slot SLOT_SQUARES, and (lambda/m) Theta_l[:,1:]
 * added to the gradient when there is one. */
static bpnn_status regularize(network *net, backend_buffer *params, double lambda,
                              backend_buffer *grad)
{
    backend *be = net->be;
    for (int l = 0; l + 1 < net->layer_count; l++) {
        size_t rows = (size_t)net->sizes[l + 1], cols = (size_t)net->sizes[l] + 1;
        BPNN_TRY(be->ops->sum_squares_nonbias(be, rows, cols, theta_view(params, net->sizes, l),
                                              SLOT_SQUARES, l > 0));
        if (grad)
            BPNN_TRY(be->ops->regularize_add(be, rows, cols, theta_view(params, net->sizes, l),
                                             lambda / (double)net->regularization_rows,
                                             theta_view(grad, net->sizes, l)));
    }
    return BPNN_OK;
}

bpnn_status network_queue_cost_gradient(network *net, backend_buffer *params, double lambda,
                                        backend_buffer *grad)
{
    backend *be = net->be;
    size_t classes = (size_t)net->sizes[net->layer_count - 1];
    for (size_t first = 0; first < net->rows; first += net->block_rows) {
        size_t m = net->rows - first < net->block_rows ? net->rows - first : net->block_rows;
        BPNN_TRY(stage_block(net, first, m));
        BPNN_TRY(forward(net, params, first, m));
        BPNN_TRY(be->ops->logistic_loss(be, m, classes, view_at(net->output_z, 0),
                                        block_labels(net, first), SLOT_LOSS, first > 0));
        if (grad)
            BPNN_TRY(backward(net, params, first, m, grad));
    }
    if (lambda != 0)
        BPNN_TRY(regularize(net, params, lambda, grad));
    return BPNN_OK;
}

double network_cost_from_slots(const network *net, double lambda, const double *slots)
{
    /* slots the queue did not write (no rows, no lambda) hold older values */
    double loss = net->rows > 0 ? slots[SLOT_LOSS] : 0;
    double squares = lambda != 0 ? slots[SLOT_SQUARES] : 0;
    return loss / (double)network_mean_rows(net) +
           lambda / (2.0 * (double)net->regularization_rows) * squares;
}

bpnn_status network_cost_gradient(network *net, backend_buffer *params, double lambda, double *cost,
                                  backend_buffer *grad)
{
    double slots[CORE_SLOTS];
    *cost = 0;
    BPNN_TRY(network_queue_cost_gradient(net, params, lambda, grad));
    BPNN_TRY(net->be->ops->read_slots(net->be, 0, SLOT_SQUARES + 1, slots));
    *cost = network_cost_from_slots(net, lambda, slots);
    return BPNN_OK;
}

bpnn_status network_regularization(network *net, backend_buffer *params, double lambda,
                                   double *cost, backend_buffer *grad)
{
    double squares = 0;
    *cost = 0;
    if (lambda == 0)
        return BPNN_OK;
    BPNN_TRY(regularize(net, params, lambda, grad));
    BPNN_TRY(net->be->ops->read_slots(net->be, SLOT_SQUARES, 1, &squares));
    *cost = lambda / (2.0 * (double)net->regularization_rows) * squares;
    return BPNN_OK;
}

bpnn_status network_predict(network *net, backend_buffer *params, backend_buffer *classes)
{
    backend *be = net->be;
    int last = net->layer_count - 1;
    for (size_t first = 0; first < net->rows; first += net->block_rows) {
        size_t m = net->rows - first < net->block_rows ? net->rows - first : net->block_rows;
        BPNN_TRY(stage_block(net, first, m));
        BPNN_TRY(forward(net, params, first, m));
        BPNN_TRY(be->ops->argmax_rows(be, m, (size_t)net->sizes[last],
                                      view_at(net->activation[last], 0), view_at(classes, first)));
    }
    return BPNN_OK;
}

bpnn_status network_scores(network *net, backend_buffer *params, double *scores)
{
    backend *be = net->be;
    int last = net->layer_count - 1;
    size_t k = (size_t)net->sizes[last];
    for (size_t first = 0; first < net->rows; first += net->block_rows) {
        size_t m = net->rows - first < net->block_rows ? net->rows - first : net->block_rows;
        BPNN_TRY(stage_block(net, first, m));
        BPNN_TRY(forward(net, params, first, m));
        BPNN_TRY(
            be->ops->download(be, view_at(net->activation[last], 0), m * k, scores + first * k));
    }
    return BPNN_OK;
}

bpnn_status network_upload_data(backend *be, const bpnn_dataset *data, backend_buffer **x,
                                backend_buffer **labels)
{
    *x = NULL;
    if (labels)
        *labels = NULL;
    if (data->rows > SIZE_MAX / (data->features ? data->features : 1))
        return bpnn_fail(BPNN_ERR_INVALID, "data set too large: %zu x %zu values", data->rows,
                         data->features);
    size_t count = data->rows * data->features;
    BPNN_TRY(backend_alloc(be, BACKEND_REAL, count, x));
    bpnn_status status = be->ops->upload(be, view_at(*x, 0), count, data->x);
    if (status == BPNN_OK && labels && data->labels) {
        status = backend_alloc(be, BACKEND_INDEX, data->rows, labels);
        if (status == BPNN_OK)
            status = be->ops->upload_index(be, view_at(*labels, 0), data->rows, data->labels);
    }
    if (status != BPNN_OK) {
        backend_release(be, *x);
        *x = NULL;
        if (labels) {
            backend_release(be, *labels);
            *labels = NULL;
        }
    }
    return status;
}
