/* cmd_bench.c — bpnn-cl bench: time cost-and-gradient evaluations. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "Usage: bpnn-cl bench [OPTIONS]\n"
    "Times full cost-and-gradient evaluations (one forward and one backward pass,\n"
    "what one CG function evaluation costs) on synthetic data of the given shape,\n"
    "already on the device, after one warm-up evaluation; reports the median, the\n"
    "minimum and the GEMM rate.\n"
    "\n"
    "  --layers L          network (default 784,25,10)\n"
    "  --samples M         rows of synthetic data (default 5000)\n"
    "  --repeat N          timed evaluations (default 20)\n" CLI_DEVICE_HELP "\n" CLI_EXIT_HELP;

static const struct option options[] = {
    CLI_DEVICE_OPTIONS,
    {"layers", required_argument, NULL, OPT_LAYERS},
    {"samples", required_argument, NULL, OPT_LIMIT},
    {"repeat", required_argument, NULL, OPT_REPEAT},
    {NULL, 0, NULL, 0},
};

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Multiply-adds x 2 of one evaluation: forward GEMMs, weight-gradient GEMMs,
 * and the delta GEMMs of every hidden layer. */
static double evaluation_flops(int layer_count, const int *sizes, size_t m)
{
    double flops = 0;
    for (int l = 0; l + 1 < layer_count; l++) {
        double layer = 2.0 * (double)m * sizes[l] * sizes[l + 1];
        flops += l == 0 ? 2 * layer : 3 * layer;
    }
    return flops;
}

static bpnn_status synthetic_data(const bpnn_model *model, size_t m, bpnn_dataset *data)
{
    *data = (bpnn_dataset){.rows = m, .features = (size_t)model->sizes[0]};
    data->x = malloc(m * data->features * sizeof *data->x);
    data->labels = malloc(m * sizeof *data->labels);
    if (!data->x || !data->labels)
        return bpnn_fail_oom("benchmark data");
    unsigned long long state = 88172645463325252ULL; /* xorshift64: any fixed data will do */
    for (size_t i = 0; i < m * data->features; i++) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        data->x[i] = (double)(state >> 11) * 0x1.0p-53;
    }
    for (size_t i = 0; i < m; i++)
        data->labels[i] = (int32_t)(i % (size_t)bpnn_model_class_count(model));
    return BPNN_OK;
}

int cmd_bench(int argc, char **argv)
{
    cli_device device;
    cli_device_init(&device);
    int layer_count = 3, sizes[BPNN_MAX_LAYERS] = {784, 25, 10};
    long samples = 5000, repeat = 20;
    bpnn_status status = BPNN_OK;
    int code, handled;
    while (status == BPNN_OK && (code = cli_next_option("bench", argc, argv, options)) != -1) {
        if (code == '?')
            status = BPNN_ERR_INVALID;
        else if ((handled = cli_device_option(&device, code, optarg)))
            status = handled < 0 ? BPNN_ERR_INVALID : BPNN_OK;
        else if (code == OPT_HELP) {
            fputs(help, stdout);
            return 0;
        } else if (code == OPT_LAYERS)
            status = cli_parse_layers(optarg, &layer_count, sizes);
        else if (code == OPT_LIMIT)
            status = cli_parse_long("samples", optarg, 1, 100000000, &samples);
        else if (code == OPT_REPEAT)
            status = cli_parse_long("repeat", optarg, 1, 1000000, &repeat);
    }
    bpnn_device *dev = NULL;
    bpnn_model *model = NULL;
    bpnn_dataset data = {0};
    double *times = NULL;
    if (status == BPNN_OK)
        status = cli_open_device(&device, &dev);
    if (status == BPNN_OK)
        status = bpnn_model_create(layer_count, sizes, device.precision, &model);
    if (status == BPNN_OK)
        status = synthetic_data(model, (size_t)samples, &data);
    if (status == BPNN_OK) {
        bpnn_init_random(model, 1);
        times = malloc((size_t)repeat * sizeof *times);
        if (!times)
            status = bpnn_fail_oom("benchmark");
    }
    if (status == BPNN_OK)
        status = bpnn_time_evaluations(dev, model, &data, 1.0, (int)repeat, times);
    if (status == BPNN_OK) {
        qsort(times, (size_t)repeat, sizeof *times, compare_doubles);
        double median = times[repeat / 2];
        double gflops = evaluation_flops(layer_count, sizes, (size_t)samples) / median * 1e-9;
        if (device.json)
            cli_print_json(json_pack("{s:s, s:s, s:s, s:I, s:i, s:f, s:f, s:f, s:s}", "device",
                                     bpnn_device_spec(dev), "device_name", bpnn_device_name(dev),
                                     "precision", bpnn_precision_name(device.precision), "samples",
                                     (json_int_t)samples, "repeat", (int)repeat, "median_ms",
                                     1e3 * median, "min_ms", 1e3 * times[0], "gflops", gflops,
                                     "blas_core", bpnn_blas_core()));
        else
            printf("%s (%s), %s, %ld samples: median %.3f ms, min %.3f ms per evaluation, "
                   "%.1f GFLOP/s\n",
                   bpnn_device_spec(dev), bpnn_device_name(dev),
                   bpnn_precision_name(device.precision), samples, 1e3 * median, 1e3 * times[0],
                   gflops);
    }
    free(times);
    bpnn_dataset_free(&data);
    bpnn_model_free(model);
    bpnn_device_close(dev);
    return status == BPNN_OK ? 0 : cli_fail(device.json, status);
}
