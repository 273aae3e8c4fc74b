/* model.c — the network layout, the flat parameter vector and its metadata. */
#include <stdlib.h>
#include <string.h>

#include "bpnn.h"
#include "util/error.h"

size_t bpnn_param_count(int layer_count, const int *sizes)
{
    size_t count = 0;
    for (int l = 0; l + 1 < layer_count; l++)
        count += (size_t)sizes[l + 1] * ((size_t)sizes[l] + 1);
    return count;
}

size_t bpnn_theta_offset(const int *sizes, int l)
{
    return bpnn_param_count(l, sizes);
}

int bpnn_model_class_count(const bpnn_model *model)
{
    return model->sizes[model->layer_count - 1];
}

bpnn_status bpnn_model_create(int layer_count, const int *sizes, bpnn_precision precision,
                              bpnn_model **out)
{
    *out = NULL;
    if (layer_count < 2 || layer_count > BPNN_MAX_LAYERS)
        return bpnn_fail(BPNN_ERR_INVALID, "a network needs 2 to %d layers, not %d: --layers",
                         BPNN_MAX_LAYERS, layer_count);
    for (int l = 0; l < layer_count; l++)
        if (sizes[l] < 1)
            return bpnn_fail(BPNN_ERR_INVALID, "layer %d has %d units: --layers", l + 1, sizes[l]);
    size_t count = bpnn_param_count(layer_count, sizes); /* sizes < 2^31: no overflow */
    if (count > INT32_MAX) /* BLAS counts vectors in 32-bit integers */
        return bpnn_fail(BPNN_ERR_INVALID,
                         "network too large: %zu parameters, at most %d: --layers", count,
                         INT32_MAX);
    bpnn_model *model = calloc(1, sizeof *model);
    if (!model)
        return bpnn_fail_oom("model");
    model->layer_count = layer_count;
    memcpy(model->sizes, sizes, (size_t)layer_count * sizeof *sizes);
    model->precision = precision;
    model->param_count = bpnn_param_count(layer_count, sizes);
    model->params = calloc(model->param_count, sizeof *model->params);
    if (!model->params) {
        free(model);
        return bpnn_fail_oom("model parameters");
    }
    *out = model;
    return BPNN_OK;
}

static void free_class_names(bpnn_model *model)
{
    if (!model->class_names)
        return;
    for (int k = 0; k < bpnn_model_class_count(model); k++)
        free(model->class_names[k]);
    free(model->class_names);
    model->class_names = NULL;
}

void bpnn_model_free(bpnn_model *model)
{
    if (!model)
        return;
    free_class_names(model);
    free(model->params);
    free(model->norm_shift);
    free(model->norm_scale);
    free(model);
}

bpnn_status bpnn_model_set_class_names(bpnn_model *model, const char *const *names)
{
    free_class_names(model);
    if (!names)
        return BPNN_OK;
    int count = bpnn_model_class_count(model);
    model->class_names = calloc((size_t)count, sizeof *model->class_names);
    if (!model->class_names)
        return bpnn_fail_oom("class names");
    for (int k = 0; k < count; k++) {
        model->class_names[k] = strdup(names[k]);
        if (!model->class_names[k])
            return bpnn_fail_oom("class names");
    }
    return BPNN_OK;
}
