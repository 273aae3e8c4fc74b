/* gemm_timing.c — the GEMM rate a device reaches on exactly the GEMMs of one
 * mini-batch training step (bpnn_time_step_gemms): what `bpnn-cl bench`
 * divides the training rate by to say how close a step comes to its GEMMs,
 * and each GEMM's own time (bpnn_time_step_gemms_each), from which `bpnn-cl
 * tune` chooses which of them run CLBlast's direct GEMM. */
#include <math.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "core/random.h"
#include "util/error.h"
#include "util/timer.h"

/* The buffers of one step's GEMMs for `batch` rows: each layer's activations
 * and deltas (batch x s_l) and weights with their bias column (s_{l+1} x
 * (s_l + 1)), as network.c lays them out. */
typedef struct step_buffers {
    int layer_count;
    const int *sizes;
    size_t batch;
    backend_buffer *activation[BPNN_MAX_LAYERS], *delta[BPNN_MAX_LAYERS];
    backend_buffer *weights[BPNN_MAX_LAYERS], *gradient[BPNN_MAX_LAYERS];
} step_buffers;

static void release_all(backend *be, step_buffers *b)
{
    for (int l = 0; l < BPNN_MAX_LAYERS; l++) {
        backend_release(be, b->activation[l]);
        backend_release(be, b->delta[l]);
        backend_release(be, b->weights[l]);
        backend_release(be, b->gradient[l]);
    }
}

/* A buffer of `count` values in [-0.5, 0.5): no denormals, no overflow. */
static bpnn_status random_buffer(backend *be, size_t count, xoshiro256 *g, backend_buffer **out)
{
    double *values = malloc(count * sizeof *values);
    if (!values)
        return bpnn_fail_oom("the GEMM benchmark's inputs");
    for (size_t i = 0; i < count; i++)
        values[i] = xoshiro256_uniform(g) - 0.5;
    bpnn_status status = backend_alloc(be, BACKEND_REAL, count, out);
    if (status == BPNN_OK)
        status = be->ops->upload(be, view_at(*out, 0), count, values);
    free(values);
    return status;
}

static bpnn_status allocate(backend *be, step_buffers *b)
{
    xoshiro256 g;
    xoshiro256_seed(&g, 1);
    const int *s = b->sizes;
    for (int l = 0; l < b->layer_count; l++) {
        BPNN_TRY(random_buffer(be, b->batch * (size_t)s[l], &g, &b->activation[l]));
        BPNN_TRY(random_buffer(be, b->batch * (size_t)s[l], &g, &b->delta[l]));
        if (l + 1 < b->layer_count) {
            size_t theta = (size_t)s[l + 1] * ((size_t)s[l] + 1);
            BPNN_TRY(random_buffer(be, theta, &g, &b->weights[l]));
            BPNN_TRY(random_buffer(be, theta, &g, &b->gradient[l]));
        }
    }
    return BPNN_OK;
}

/* With `each` (may be NULL): waits for the GEMM just queued and stores its
 * seconds in each[(*g)++]. */
static bpnn_status lap(backend *be, double *each, int *g, double *since)
{
    if (!each)
        return BPNN_OK;
    BPNN_TRY(be->ops->finish(be));
    double now = bpnn_now();
    each[(*g)++] = now - *since;
    *since = now;
    return BPNN_OK;
}

/* One step's GEMMs, in the order backpropagation runs them: the forward
 * products, then per layer from the top the weight gradient and (below the
 * output, above the input) the delta. `each` (may be NULL): the seconds of
 * each GEMM, the device finished after every one. */
static bpnn_status run_step(backend *be, const step_buffers *b, double *each)
{
    const int *s = b->sizes;
    size_t m = b->batch;
    int last = b->layer_count - 1, g = 0;
    double since = bpnn_now();
    for (int l = 0; l < last; l++) {
        size_t in = (size_t)s[l], out = (size_t)s[l + 1];
        BPNN_TRY(be->ops->gemm(be, 0, 1, m, out, in, 1.0, view_at(b->activation[l], 0), in,
                               view_at(b->weights[l], 1), in + 1, 0.0,
                               view_at(b->activation[l + 1], 0), out));
        BPNN_TRY(lap(be, each, &g, &since));
    }
    for (int l = last - 1; l >= 0; l--) {
        size_t in = (size_t)s[l], out = (size_t)s[l + 1];
        BPNN_TRY(be->ops->gemm(be, 1, 0, out, in, m, 1.0 / (double)m, view_at(b->delta[l + 1], 0),
                               out, view_at(b->activation[l], 0), in, 0.0,
                               view_at(b->gradient[l], 1), in + 1));
        BPNN_TRY(lap(be, each, &g, &since));
        if (l > 0) {
            BPNN_TRY(be->ops->gemm(be, 0, 0, m, in, out, 1.0, view_at(b->delta[l + 1], 0), out,
                                   view_at(b->weights[l], 1), in + 1, 0.0, view_at(b->delta[l], 0),
                                   in));
            BPNN_TRY(lap(be, each, &g, &since));
        }
    }
    return be->ops->finish(be);
}

double bpnn_step_gemm_flops(int layer_count, const int *sizes, size_t batch)
{
    double flops = 0;
    for (int l = 0; sizes && l + 1 < layer_count; l++) {
        double product = 2.0 * (double)batch * sizes[l] * sizes[l + 1];
        flops += l == 0 ? 2 * product : 3 * product; /* the input has no delta */
    }
    return flops;
}

static bpnn_status check_request(const char *function, bpnn_device *be, int layer_count,
                                 const int *sizes, size_t batch, int repeat, double *seconds)
{
    if (!be)
        return bpnn_fail_null(function, "device");
    if (!sizes)
        return bpnn_fail_null(function, "sizes");
    if (repeat > 0 && !seconds)
        return bpnn_fail_null(function, "seconds");
    if (layer_count < 2 || layer_count > BPNN_MAX_LAYERS || batch == 0)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "nothing to time: %d layers, batch %zu (at least 2 layers, 1 row)",
                         layer_count, batch);
    for (int l = 0; l < layer_count; l++)
        if (sizes[l] < 1)
            return bpnn_fail(BPNN_ERR_INVALID, "layer %d has %d units", l + 1, sizes[l]);
    return BPNN_OK;
}

bpnn_status bpnn_time_step_gemms(bpnn_device *be, int layer_count, const int *sizes, size_t batch,
                                 int repeat, double *seconds)
{
    BPNN_TRY(check_request("bpnn_time_step_gemms", be, layer_count, sizes, batch, repeat, seconds));
    step_buffers b = {.layer_count = layer_count, .sizes = sizes, .batch = batch};
    bpnn_status status = allocate(be, &b);
    /* one step unmeasured: first calls build kernels and warm caches */
    if (status == BPNN_OK)
        status = run_step(be, &b, NULL);
    for (int i = 0; status == BPNN_OK && i < repeat; i++) {
        double started = bpnn_now();
        status = run_step(be, &b, NULL);
        seconds[i] = bpnn_now() - started;
    }
    release_all(be, &b);
    return status;
}

static int compare_doubles(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

bpnn_status bpnn_time_step_gemms_each(bpnn_device *be, int layer_count, const int *sizes,
                                      size_t batch, int repeat, double *seconds)
{
    BPNN_TRY(
        check_request("bpnn_time_step_gemms_each", be, layer_count, sizes, batch, repeat, seconds));
    if (repeat < 1)
        return bpnn_fail(BPNN_ERR_INVALID, "nothing to time: repeat %d (at least 1)", repeat);
    int count = 3 * layer_count - 4;
    double *laps = malloc((size_t)repeat * (size_t)count * sizeof *laps);
    double *one = malloc((size_t)repeat * sizeof *one);
    step_buffers b = {.layer_count = layer_count, .sizes = sizes, .batch = batch};
    bpnn_status status = laps && one ? allocate(be, &b) : bpnn_fail_oom("GEMM timings");
    if (status == BPNN_OK)
        status = run_step(be, &b, NULL);
    for (int i = 0; status == BPNN_OK && i < repeat; i++)
        status = run_step(be, &b, laps + (size_t)i * (size_t)count);
    for (int g = 0; status == BPNN_OK && g < count; g++) {
        for (int i = 0; i < repeat; i++)
            one[i] = laps[(size_t)i * (size_t)count + (size_t)g];
        qsort(one, (size_t)repeat, sizeof *one, compare_doubles);
        seconds[g] = repeat % 2 ? one[repeat / 2] : 0.5 * (one[repeat / 2 - 1] + one[repeat / 2]);
    }
    release_all(be, &b);
    free(laps);
    free(one);
    return status;
}
