/* init.c — starting weights: the same on every backend and precision, because
 * they are drawn here, on the host, in double, in flat parameter order. */
#include <math.h>

#include "bpnn.h"
#include "core/random.h"

void bpnn_init_random(const bpnn_model *model, uint64_t seed)
{
    if (!model || !model->params)
        return;
    xoshiro256 g;
    xoshiro256_seed(&g, seed);
    double *p = model->params;
    for (int l = 0; l + 1 < model->layer_count; l++) {
        int fan_in = model->sizes[l], fan_out = model->sizes[l + 1];
        double e = sqrt(6.0 / (fan_in + fan_out));
        size_t count = (size_t)fan_out * ((size_t)fan_in + 1);
        for (size_t i = 0; i < count; i++)
            *p++ = (2.0 * xoshiro256_uniform(&g) - 1.0) * e;
    }
}

void bpnn_init_debug(double *out, size_t count)
{
    if (!out)
        return;
    for (size_t i = 0; i < count; i++)
        out[i] = sin((double)(i + 1)) / 10.0;
}
