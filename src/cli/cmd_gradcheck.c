/* cmd_gradcheck.c — bpnn-cl gradcheck: the seed's checkNNGradients. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define GRADCHECK_THRESHOLD 1e-9

static const char help[] =
    "Usage: bpnn-cl gradcheck [OPTIONS]\n"
    "Compares the gradient by backpropagation with central differences (step 1e-4)\n"
    "on the seed's debug network (weights and inputs sin(1..n)/10, labels i mod K),\n"
    "in f64, and prints both columns and their relative difference\n"
    "||num - bp|| / ||num + bp||, which must be below 1e-9 (else exit 1).\n"
    "\n"
    "  --layers L          network (default 3,5,3)\n"
    "  --samples M         debug samples (default 5)\n"
    "  --lambda X          regularization (default 0)\n"
    "  --device D          cpu, gpu, opencl, opencl:P:D or auto (default cpu)\n"
    "  --json              one JSON object on stdout\n"
    "\n" CLI_EXIT_HELP;

static const struct option options[] = {
    {"layers", required_argument, NULL, OPT_LAYERS},
    {"samples", required_argument, NULL, OPT_LIMIT},
    {"lambda", required_argument, NULL, OPT_LAMBDA},
    {"device", required_argument, NULL, OPT_DEVICE},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

typedef struct gradcheck_args {
    int layer_count;
    int sizes[BPNN_MAX_LAYERS];
    long samples;
    double lambda;
    cli_device device;
} gradcheck_args;

static bpnn_status parse(int argc, char **argv, gradcheck_args *a, int *help_shown)
{
    *a = (gradcheck_args){.layer_count = 3, .sizes = {3, 5, 3}, .samples = 5};
    cli_device_init(&a->device);
    a->device.spec = "cpu";
    a->device.precision = BPNN_F64;
    int code;
    while ((code = cli_next_option("gradcheck", argc, argv, options)) != -1) {
        switch (code) {
        case '?': return BPNN_ERR_INVALID;
        case OPT_HELP: *help_shown = 1; return BPNN_OK;
        case OPT_LAYERS: BPNN_TRY(cli_parse_layers(optarg, &a->layer_count, a->sizes)); break;
        case OPT_LIMIT: BPNN_TRY(cli_parse_long("samples", optarg, 1, 100000, &a->samples)); break;
        case OPT_LAMBDA: BPNN_TRY(cli_parse_double("lambda", optarg, 0, 1e12, &a->lambda)); break;
        case OPT_DEVICE: a->device.spec = optarg; break;
        case OPT_JSON: a->device.json = 1; break;
        }
    }
    if (a->sizes[a->layer_count - 1] < 2)
        return bpnn_fail(BPNN_ERR_INVALID, "the output layer needs at least 2 classes: --layers");
    return BPNN_OK;
}

static void print(const gradcheck_args *a, const bpnn_device *device, const bpnn_gradcheck *g,
                  int failed)
{
    if (a->device.json) {
        json_t *object = json_pack(
            "{s:o, s:o, s:o, s:s, s:s, s:s, s:f, s:b}", "relative_difference",
            cli_json_number(g->relative_difference), "max_abs_difference",
            cli_json_number(g->max_abs_difference), "cost", cli_json_number(g->cost), "device",
            bpnn_device_spec(device), "device_name", bpnn_device_name(device), "precision", "f64",
            "threshold", GRADCHECK_THRESHOLD, "pass", g->relative_difference < GRADCHECK_THRESHOLD);
        if (failed)
            json_object_update(object, cli_json_error(BPNN_ERR_RUNTIME));
        cli_print_json(object);
        return;
    }
    printf("%24s %24s\n", "numerical", "backpropagation");
    for (size_t i = 0; i < g->count; i++)
        printf("%24.15e %24.15e\n", g->numeric[i], g->backprop[i]);
    printf("\nThe above two columns should be very similar.\n"
           "(left: numerical gradient, right: backpropagation; device %s, f64, lambda %g)\n\n"
           "relative difference: %.3e (%s: threshold %g)\n",
           bpnn_device_spec(device), a->lambda, g->relative_difference,
           g->relative_difference < GRADCHECK_THRESHOLD ? "PASS" : "FAIL", GRADCHECK_THRESHOLD);
}

int cmd_gradcheck(int argc, char **argv)
{
    gradcheck_args a;
    int help_shown = 0;
    bpnn_status status = parse(argc, argv, &a, &help_shown);
    if (help_shown) {
        fputs(help, stdout);
        return 0;
    }
    bpnn_device *device = NULL;
    bpnn_gradcheck g = {0};
    if (status == BPNN_OK)
        status = cli_open_device(&a.device, &device);
    if (status == BPNN_OK)
        status = bpnn_gradient_check(device, a.layer_count, a.sizes, (size_t)a.samples, a.lambda,
                                     1e-4, &g);
    if (status == BPNN_OK) {
        int failed = !(g.relative_difference < GRADCHECK_THRESHOLD);
        if (failed)
            status =
                bpnn_fail(BPNN_ERR_RUNTIME,
                          "gradient check failed: relative difference %.3e is not below "
                          "%g: on %s",
                          g.relative_difference, GRADCHECK_THRESHOLD, bpnn_device_spec(device));
        print(&a, device, &g, failed);
        if (failed)
            fprintf(stderr, "bpnn-cl: %s\n", bpnn_error_message());
    } else {
        cli_fail(a.device.json, status);
    }
    bpnn_gradcheck_free(&g);
    bpnn_device_close(device);
    return (int)status;
}
