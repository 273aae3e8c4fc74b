/* network.c — DESIGN.md "The algorithm", over backend ops. Theta_l[:,1:] is
 * always used in place (offset 1, ld = s_l + 1): no column of ones exists. */
#include "core/network.h"

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
    net->x = x;
    net->labels = labels;
    net->activation[0] = x;
    bpnn_status status = BPNN_OK;
    int last = layer_count - 1;
    for (int l = 1; l <= last && status == BPNN_OK; l++) {
        size_t count = rows * (size_t)sizes[l];
        status = backend_alloc(be, BACKEND_REAL, count, &net->activation[l]);
        if (status == BPNN_OK && with_gradient)
            status = backend_alloc(be, BACKEND_REAL, count, &net->delta[l]);
    }
    if (status == BPNN_OK)
        status = backend_alloc(be, BACKEND_REAL, rows * (size_t)sizes[last], &net->output_z);
    if (status != BPNN_OK) {
        network_free(net);
        return status;
    }
    *out = net;
    return BPNN_OK;
}

void network_free(network *net)
{
    if (!net)
        return;
    for (int l = 1; l < net->layer_count; l++) {
        backend_release(net->be, net->activation[l]);
        backend_release(net->be, net->delta[l]);
    }
    backend_release(net->be, net->output_z);
    free(net);
}

bpnn_status network_forward(network *net, backend_buffer *params)
{
    backend *be = net->be;
    const int *s = net->sizes;
    size_t m = net->rows;
    int last = net->layer_count - 1;
    for (int l = 0; l < last; l++) {
        /* Z = A_l Theta_l[:,1:]^T, then Z += bias and A_{l+1} = sigmoid(Z); hidden
         * layers keep only A (in place), the output keeps Z for the loss. */
        backend_buffer *z = l + 1 == last ? net->output_z : net->activation[l + 1];
        BPNN_TRY(be->ops->gemm(be, 0, 1, m, (size_t)s[l + 1], (size_t)s[l], 1.0,
                               view_at(net->activation[l], 0), (size_t)s[l],
                               weights_view(params, s, l), (size_t)s[l] + 1, 0.0, view_at(z, 0),
                               (size_t)s[l + 1]));
        BPNN_TRY(be->ops->bias_sigmoid(be, m, (size_t)s[l + 1], theta_view(params, s, l),
                                       (size_t)s[l] + 1, view_at(z, 0),
                                       view_at(net->activation[l + 1], 0)));
    }
    return BPNN_OK;
}

static bpnn_status regularization(network *net, backend_buffer *params, double *sum)
{
    backend *be = net->be;
    *sum = 0;
    for (int l = 0; l + 1 < net->layer_count; l++) {
        double part;
        BPNN_TRY(be->ops->sum_squares_nonbias(be, (size_t)net->sizes[l + 1],
                                              (size_t)net->sizes[l] + 1,
                                              theta_view(params, net->sizes, l), &part));
        *sum += part;
    }
    return BPNN_OK;
}

static bpnn_status backward(network *net, backend_buffer *params, double lambda,
                            backend_buffer *grad)
{
    backend *be = net->be;
    const int *s = net->sizes;
    size_t m = net->rows;
    int last = net->layer_count - 1;
    double inv_m = 1.0 / (double)m;
    BPNN_TRY(be->ops->output_delta(be, m, (size_t)s[last], view_at(net->activation[last], 0),
                                   view_at(net->labels, 0), view_at(net->delta[last], 0)));
    for (int l = last - 1; l >= 0; l--) {
        size_t fan_in = (size_t)s[l], fan_out = (size_t)s[l + 1];
        backend_view d = view_at(net->delta[l + 1], 0);
        /* grad Theta_l[:,1:] = D_{l+1}^T A_l / m (+ lambda/m Theta_l[:,1:]) */
        BPNN_TRY(be->ops->gemm(be, 1, 0, fan_out, fan_in, m, inv_m, d, fan_out,
                               view_at(net->activation[l], 0), fan_in, 0.0,
                               weights_view(grad, s, l), fan_in + 1));
        BPNN_TRY(be->ops->bias_gradient(be, m, fan_out, d, inv_m, theta_view(grad, s, l),
                                        fan_in + 1));
        if (lambda != 0)
            BPNN_TRY(be->ops->regularize_add(be, fan_out, fan_in + 1, theta_view(params, s, l),
                                             lambda * inv_m, theta_view(grad, s, l)));
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

bpnn_status network_cost_gradient(network *net, backend_buffer *params, double lambda,
                                  double *cost, backend_buffer *grad)
{
    backend *be = net->be;
    int last = net->layer_count - 1;
    double m = (double)net->rows;
    BPNN_TRY(network_forward(net, params));
    double loss, squares = 0;
    BPNN_TRY(be->ops->logistic_loss(be, net->rows, (size_t)net->sizes[last],
                                    view_at(net->output_z, 0), view_at(net->labels, 0), &loss));
    if (lambda != 0)
        BPNN_TRY(regularization(net, params, &squares));
    *cost = loss / m + lambda / (2.0 * m) * squares;
    if (grad)
        BPNN_TRY(backward(net, params, lambda, grad));
    return BPNN_OK;
}

bpnn_status network_predict(network *net, backend_buffer *params, backend_buffer *classes)
{
    int last = net->layer_count - 1;
    BPNN_TRY(network_forward(net, params));
    return net->be->ops->argmax_rows(net->be, net->rows, (size_t)net->sizes[last],
                                     view_at(net->activation[last], 0), view_at(classes, 0));
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
