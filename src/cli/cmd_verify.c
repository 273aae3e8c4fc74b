/* cmd_verify.c — bpnn-cl verify: a device's ops against the CPU path. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "Usage: bpnn-cl verify [OPTIONS]\n"
    "Runs every backend op (GEMM in all four transpose combinations, the layer\n"
    "kernels, the reductions, the vector ops, the mini-batch gathers and the\n"
    "fused optimizer updates, transfers) on random inputs of\n"
    "awkward sizes (1, odd, primes, not multiples of any work-group size) and at\n"
    "offsets, on the device and on the CPU path, and prints per op the error\n"
    "max|x - ref| / max|ref| (ref: the CPU's result) beside its threshold:\n"
    "  f64: 1e-12 element-wise, 1e-10 GEMM and reductions\n"
    "  f32: 1e-5 element-wise, 1e-4 GEMM and reductions\n"
    "  argmax, label transfers and label gathers: the fraction of rows that\n"
    "  differ, threshold 0.\n"
    "\n"
    "  --device D          cpu, gpu, opencl, opencl:P:D or auto (default auto)\n"
    "  --precision P       f32, f64 or both (default both; f64 is skipped on a\n"
    "                      device without fp64 unless asked for alone)\n"
    "  --threads N         host threads for BLAS and our loops\n"
    "  --json              one JSON object on stdout\n"
    "\n"
    "Exit status: 0 every op passed, 1 some op failed (or a device fault), 2 invalid\n"
    "request (bad flag or value, no such device, a precision the device lacks).\n";

static const struct option options[] = {
    {"device", required_argument, NULL, OPT_DEVICE},
    {"precision", required_argument, NULL, OPT_PRECISION},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

typedef struct verify_output {
    int json;
    json_t *results; /* --json: one object per op */
    int failed;
    char failed_ops[512];
} verify_output;

static void report(const bpnn_verify_result *r, void *user)
{
    verify_output *out = user;
    if (!r->passed) {
        out->failed++;
        size_t used = strlen(out->failed_ops);
        snprintf(out->failed_ops + used, sizeof out->failed_ops - used, "%s%s %s", used ? ", " : "",
                 r->op, bpnn_precision_name(r->precision));
    }
    if (out->json) {
        json_t *entry = json_pack("{s:s, s:s, s:o, s:f, s:b, s:i, s:s}", "op", r->op, "precision",
                                  bpnn_precision_name(r->precision), "error",
                                  cli_json_number(r->error), "threshold", r->threshold, "pass",
                                  r->passed, "cases", r->cases, "worst_case", r->worst_case);
        if (r->status != BPNN_OK)
            json_object_set_new(entry, "error_message", json_string(r->message));
        json_array_append_new(out->results, entry);
        return;
    }
    printf("  %-28s %-10.3g %-9.0e %s", r->op, r->error, r->threshold, r->passed ? "PASS" : "FAIL");
    if (r->status != BPNN_OK)
        printf("  %s", r->message);
    else if (!r->passed)
        printf("  (worst: %s)", r->worst_case);
    putchar('\n');
    fflush(stdout);
}

/* Verifies `spec` in one precision. *skipped when "both" meets a device without fp64. */
static bpnn_status verify_precision(const cli_device *options, bpnn_precision precision,
                                    int skip_if_unsupported, verify_output *out, json_t *runs,
                                    int *skipped)
{
    *skipped = 0;
    bpnn_device *device = NULL;
    cli_device one = *options;
    one.precision = precision;
    bpnn_status status = cli_open_device(&one, &device);
    if (status == BPNN_ERR_INVALID && skip_if_unsupported && precision == BPNN_F64 &&
        strstr(bpnn_error_message(), "cl_khr_fp64")) {
        /* "both" on a device without fp64: f64 is not a failure of the device */
        *skipped = 1;
        if (out->json)
            json_array_append_new(runs, json_pack("{s:s, s:b, s:s}", "precision", "f64", "skipped",
                                                  1, "reason", bpnn_error_message()));
        else
            printf("f64: skipped: %s\n\n", bpnn_error_message());
        bpnn_clear_error();
        return BPNN_OK;
    }
    if (status == BPNN_OK && bpnn_device_blas_core(device))
        status = bpnn_fail(BPNN_ERR_INVALID,
                           "nothing to verify: --device %s is the cpu path, the reference "
                           "itself: name an OpenCL device (see bpnn-cl devices)",
                           options->spec);
    if (status != BPNN_OK) {
        bpnn_device_close(device);
        return status;
    }
    if (!out->json) {
        printf("verify %s (%s; %s) against cpu, %s:\n", bpnn_device_spec(device),
               bpnn_device_name(device), bpnn_device_description(device),
               bpnn_precision_name(precision));
        printf("  %-28s %-10s %-9s %s\n", "op", "error", "threshold", "result");
    }
    int failures_before = out->failed;
    double t0 = cli_now();
    status = bpnn_verify(device, NULL, report, out, NULL);
    double seconds = cli_now() - t0;
    if (status == BPNN_OK) {
        int failed = out->failed - failures_before;
        if (out->json)
            json_array_append_new(runs, json_pack("{s:s, s:s, s:s, s:i, s:f}", "precision",
                                                  bpnn_precision_name(precision), "device",
                                                  bpnn_device_spec(device), "device_name",
                                                  bpnn_device_name(device), "failures", failed,
                                                  "seconds", seconds));
        else
            printf("%s: %s (%.2f s)\n\n", bpnn_precision_name(precision),
                   failed ? "FAIL" : "every op passed", seconds);
    }
    bpnn_device_close(device);
    return status;
}

int cmd_verify(int argc, char **argv)
{
    cli_device device;
    cli_device_init(&device);
    int both = 1;
    bpnn_status status = BPNN_OK;
    int code, handled;
    while (status == BPNN_OK && (code = cli_next_option("verify", argc, argv, options)) != -1) {
        if (code == '?')
            status = BPNN_ERR_INVALID;
        else if (code == OPT_HELP) {
            fputs(help, stdout);
            return 0;
        } else if (code == OPT_PRECISION && strcmp(optarg, "both") == 0)
            both = 1;
        else if (code == OPT_PRECISION && strcmp(optarg, "f32") != 0 && strcmp(optarg, "f64") != 0)
            status = bpnn_fail(BPNN_ERR_INVALID,
                               "bad value: --precision %s: expected f32, f64 or both", optarg);
        else if ((handled = cli_device_option(&device, code, optarg))) {
            status = handled < 0 ? BPNN_ERR_INVALID : BPNN_OK;
            if (code == OPT_PRECISION)
                both = 0;
        }
    }
    if (status != BPNN_OK)
        return cli_fail(device.json, status);

    verify_output out = {.json = device.json};
    json_t *runs = json_array();
    out.results = json_array();
    int skipped = 0;
    if (both) {
        status = verify_precision(&device, BPNN_F32, 0, &out, runs, &skipped);
        if (status == BPNN_OK)
            status = verify_precision(&device, BPNN_F64, 1, &out, runs, &skipped);
    } else {
        status = verify_precision(&device, device.precision, 0, &out, runs, &skipped);
    }
    if (status != BPNN_OK) {
        json_decref(runs);
        json_decref(out.results);
        return cli_fail(device.json, status);
    }
    if (out.failed)
        bpnn_fail(BPNN_ERR_RUNTIME, "verification failed: %d op%s beyond the threshold: %s",
                  out.failed, out.failed == 1 ? "" : "s", out.failed_ops);
    if (device.json) {
        json_t *object =
            json_pack("{s:o, s:o, s:i, s:b, s:s}", "runs", runs, "results", out.results, "failures",
                      out.failed, "pass", out.failed == 0, "version", BPNN_VERSION);
        if (out.failed) {
            json_object_set_new(object, "error", json_string(bpnn_error_message()));
            json_object_set_new(object, "exit", json_integer(BPNN_ERR_RUNTIME));
        }
        cli_print_json(object);
    } else {
        json_decref(runs);
        json_decref(out.results);
    }
    if (out.failed) {
        fprintf(stderr, "bpnn-cl: %s\n", bpnn_error_message());
        return BPNN_ERR_RUNTIME;
    }
    return 0;
}
