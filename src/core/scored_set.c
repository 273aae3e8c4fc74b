/* scored_set.c — see scored_set.h. */
#include "core/scored_set.h"

#include <stdlib.h>

#include "util/error.h"

bpnn_status scored_set_open(backend *be, const bpnn_model *model, const bpnn_dataset *data,
                            backend_buffer *x, backend_buffer *labels, size_t rows_per_block,
                            scored_set *set)
{
    *set = (scored_set){.data = data, .x = x, .labels = labels};
    bpnn_status status = BPNN_OK;
    if (rows_per_block) {
        status = network_create_streamed(be, model->layer_count, model->sizes, data, rows_per_block,
                                         0, &set->net);
    } else {
        if (!x) {
            set->owns_data = 1;
            status = network_upload_data(be, data, &set->x, data->labels ? &set->labels : NULL);
        }
        if (status == BPNN_OK)
            status = network_create(be, model->layer_count, model->sizes, data->rows, set->x,
                                    set->labels, 0, &set->net);
    }
    if (status == BPNN_OK)
        status = backend_alloc(be, BACKEND_INDEX, data->rows, &set->classes);
    if (status == BPNN_OK &&
        !(set->host_classes = malloc((data->rows ? data->rows : 1) * sizeof(int32_t))))
        status = bpnn_fail_oom("predicted classes");
    if (status != BPNN_OK)
        scored_set_close(be, set);
    return status;
}

void scored_set_close(backend *be, scored_set *set)
{
    network_free(set->net);
    backend_release(be, set->classes);
    if (set->owns_data) {
        backend_release(be, set->x);
        backend_release(be, set->labels);
    }
    free(set->host_classes);
    *set = (scored_set){0};
}

bpnn_status scored_set_accuracy(backend *be, scored_set *set, backend_buffer *params,
                                double *accuracy)
{
    size_t rows = set->data->rows, correct = 0;
    if (rows > 0) {
        BPNN_TRY(network_predict(set->net, params, set->classes));
        BPNN_TRY(be->ops->download_index(be, view_at(set->classes, 0), rows, set->host_classes));
    }
    for (size_t i = 0; i < rows; i++)
        correct += set->host_classes[i] == set->data->labels[i];
    double counts[2] = {(double)correct, (double)rows};
    BPNN_TRY(participants_sum(set->participants, counts, 2));
    *accuracy = counts[0] / counts[1];
    return BPNN_OK;
}

bpnn_status scored_set_cost(scored_set *set, backend_buffer *params, double lambda, double *cost)
{
    if (!participants_many(set->participants))
        return network_cost_gradient(set->net, params, lambda, cost, NULL);
    /* each share's mean loss weighed by its rows, then the regularization once */
    double sums[2] = {0, (double)set->data->rows};
    if (set->data->rows > 0)
        BPNN_TRY(network_cost_gradient(set->net, params, 0.0, &sums[0], NULL));
    sums[0] *= (double)set->data->rows;
    BPNN_TRY(participants_sum(set->participants, sums, 2));
    double regularization;
    BPNN_TRY(network_regularization(set->net, params, lambda, &regularization, NULL));
    *cost = sums[0] / sums[1] + regularization;
    return BPNN_OK;
}
