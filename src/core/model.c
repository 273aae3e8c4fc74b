/* model.c — the network layout, the flat parameter vector and its metadata. */
#include <stdlib.h>
#include <string.h>

#include "bpnn.h"
#include "util/error.h"

/* SIZE_MAX when the count does not fit (or a size is negative): 32 layers
 * of 2^31 units hold more than 2^64 parameters, and a wrapped count would
 * pass every later size check. */
size_t bpnn_param_count(int layer_count, const int *sizes)
{
    if (!sizes)
        return 0;
    size_t count = 0;
    for (int l = 0; l + 1 < layer_count; l++) {
        if (sizes[l] < 0 || sizes[l + 1] < 0)
            return SIZE_MAX;
        size_t rows = (size_t)sizes[l + 1], cols = (size_t)sizes[l] + 1;
        if (rows > SIZE_MAX / cols || rows * cols > SIZE_MAX - count)
            return SIZE_MAX;
        count += rows * cols;
    }
    return count;
}

size_t bpnn_theta_offset(const int *sizes, int l)
{
    return bpnn_param_count(l, sizes);
}

int bpnn_model_class_count(const bpnn_model *model)
{
    if (!model || model->layer_count < 1 || model->layer_count > BPNN_MAX_LAYERS)
        return 0;
    return model->sizes[model->layer_count - 1];
}

bpnn_status bpnn_model_create(int layer_count, const int *sizes, bpnn_precision precision,
                              bpnn_model **out)
{
    if (!out)
        return bpnn_fail_null("bpnn_model_create", "out");
    *out = NULL;
    if (!sizes)
        return bpnn_fail_null("bpnn_model_create", "sizes");
    if (precision != BPNN_F32 && precision != BPNN_F64)
        return bpnn_fail(BPNN_ERR_INVALID, "unknown precision code %d", (int)precision);
    if (layer_count < 2 || layer_count > BPNN_MAX_LAYERS)
        return bpnn_fail(BPNN_ERR_INVALID, "a network needs 2 to %d layers, not %d: --layers",
                         BPNN_MAX_LAYERS, layer_count);
    for (int l = 0; l < layer_count; l++)
        if (sizes[l] < 1)
            return bpnn_fail(BPNN_ERR_INVALID, "layer %d has %d units: --layers", l + 1, sizes[l]);
    size_t count = bpnn_param_count(layer_count, sizes);
    if (count == SIZE_MAX)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "network too large: more parameters than can be counted, at most %d: "
                         "--layers",
                         INT32_MAX);
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
    if (!model)
        return bpnn_fail_null("bpnn_model_set_class_names", "model");
    int count = bpnn_model_class_count(model);
    for (int k = 0; names && k < count; k++)
        if (!names[k])
            return bpnn_fail(BPNN_ERR_INVALID,
                             "invalid argument: bpnn_model_set_class_names: names[%d] is NULL", k);
    free_class_names(model);
    if (!names)
        return BPNN_OK;
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
