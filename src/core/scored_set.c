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
    if (status == BPNN_OK && !(set->host_classes = malloc(data->rows * sizeof(int32_t))))
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
    BPNN_TRY(network_predict(set->net, params, set->classes));
    BPNN_TRY(be->ops->download_index(be, view_at(set->classes, 0), rows, set->host_classes));
    for (size_t i = 0; i < rows; i++)
        correct += set->host_classes[i] == set->data->labels[i];
    *accuracy = (double)correct / (double)rows;
    return BPNN_OK;
}

bpnn_status scored_set_cost(scored_set *set, backend_buffer *params, double lambda, double *cost)
{
    return network_cost_gradient(set->net, params, lambda, cost, NULL);
}
