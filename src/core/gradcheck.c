/* gradcheck.c — the seed's checkNNGradients: backpropagation against central
 * differences on a small deterministic network. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bpnn.h"
#include "util/error.h"

bpnn_status bpnn_debug_problem(int layer_count, const int *sizes, size_t m,
                               bpnn_precision precision, bpnn_model **model, bpnn_dataset *data)
{
    if (!model)
        return bpnn_fail_null("bpnn_debug_problem", "model");
    *model = NULL;
    if (!data)
        return bpnn_fail_null("bpnn_debug_problem", "data");
    *data = (bpnn_dataset){0};
    if (m == 0)
        return bpnn_fail(BPNN_ERR_INVALID, "debug problem: m = 0 rows");
    BPNN_TRY(bpnn_model_create(layer_count, sizes, precision, model));
    if (m > SIZE_MAX / sizeof *data->x / (size_t)sizes[0]) {
        bpnn_model_free(*model);
        *model = NULL;
        return bpnn_fail(BPNN_ERR_INVALID, "debug problem too large: %zu rows of %d features", m,
                         sizes[0]);
    }
    for (int l = 0; l + 1 < layer_count; l++)
        bpnn_init_debug((*model)->params + bpnn_theta_offset(sizes, l + 1),
                        (size_t)sizes[l + 1] * ((size_t)sizes[l] + 1));
    int classes = sizes[layer_count - 1];
    data->rows = m;
    data->features = (size_t)sizes[0];
    data->x = malloc(m * data->features * sizeof *data->x);
    data->labels = malloc(m * sizeof *data->labels);
    if (!data->x || !data->labels) {
        bpnn_dataset_free(data);
        bpnn_model_free(*model);
        *model = NULL;
        return bpnn_fail_oom("debug problem");
    }
    bpnn_init_debug(data->x, m * data->features);
    for (size_t i = 0; i < m; i++)
        data->labels[i] = (int32_t)((i + 1) % (size_t)classes);
    return BPNN_OK;
}

static bpnn_status numeric_gradient(bpnn_device *device, bpnn_model *model,
                                    const bpnn_dataset *data, double lambda, double epsilon,
                                    double *out)
{
    for (size_t i = 0; i < model->param_count; i++) {
        double saved = model->params[i], plus, minus;
        model->params[i] = saved + epsilon;
        bpnn_status status = bpnn_cost_gradient(device, model, data, lambda, &plus, NULL);
        model->params[i] = saved - epsilon;
        if (status == BPNN_OK)
            status = bpnn_cost_gradient(device, model, data, lambda, &minus, NULL);
        model->params[i] = saved;
        BPNN_TRY(status);
        out[i] = (plus - minus) / (2 * epsilon);
    }
    return BPNN_OK;
}

bpnn_status bpnn_gradient_check(bpnn_device *device, int layer_count, const int *sizes, size_t m,
                                double lambda, double epsilon, bpnn_gradcheck *out)
{
    if (!out)
        return bpnn_fail_null("bpnn_gradient_check", "out");
    *out = (bpnn_gradcheck){0};
    if (!device)
        return bpnn_fail_null("bpnn_gradient_check", "device");
    if (!(epsilon > 0 && isfinite(epsilon)))
        return bpnn_fail(BPNN_ERR_INVALID, "gradient check: step %g: it must be positive", epsilon);
    bpnn_model *model = NULL;
    bpnn_dataset data;
    BPNN_TRY(bpnn_debug_problem(layer_count, sizes, m, BPNN_F64, &model, &data));
    size_t n = model->param_count;
    out->count = n;
    out->backprop = calloc(n, sizeof *out->backprop);
    out->numeric = calloc(n, sizeof *out->numeric);
    bpnn_status status = out->backprop && out->numeric ? BPNN_OK : bpnn_fail_oom("gradient check");
    if (status == BPNN_OK)
        status = bpnn_cost_gradient(device, model, &data, lambda, &out->cost, out->backprop);
    if (status == BPNN_OK)
        status = numeric_gradient(device, model, &data, lambda, epsilon, out->numeric);
    if (status == BPNN_OK) {
        double diff = 0, sum = 0;
        for (size_t i = 0; i < n; i++) {
            double d = out->numeric[i] - out->backprop[i], s = out->numeric[i] + out->backprop[i];
            diff += d * d;
            sum += s * s;
            out->max_abs_difference = fmax(out->max_abs_difference, fabs(d));
        }
        out->relative_difference = sqrt(diff) / sqrt(sum);
    } else {
        bpnn_gradcheck_free(out);
    }
    bpnn_dataset_free(&data);
    bpnn_model_free(model);
    return status;
}

void bpnn_gradcheck_free(bpnn_gradcheck *check)
{
    if (!check)
        return;
    free(check->backprop);
    free(check->numeric);
    check->backprop = check->numeric = NULL;
}
