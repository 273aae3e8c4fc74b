/* cmd_devices.c — bpnn-cl devices: the compute devices --device can name. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const char help[] =
    "Usage: bpnn-cl devices [--json]\n"
    "Lists the compute devices: cpu (the host path: OpenBLAS, its core and\n"
    "threads) and every OpenCL device in enumeration order, the order that\n"
    "--device opencl:P:D counts (0-based platform and device, as clinfo -l),\n"
    "with type, compute units, global memory, largest allocation, fp64 support,\n"
    "driver and GEMM tuning files (bpnn-cl tune); then which device gpu, opencl\n"
    "and auto select.\n"
    "\n"
    "  --json              one JSON object on stdout\n"
    "\n" CLI_EXIT_HELP;

static const struct option options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static double gib(uint64_t bytes)
{
    return (double)bytes / (double)(1u << 30);
}

/* The spec `name` selects ("gpu", "opencl", "auto"), or NULL for none. */
static const char *resolved(const char *name, bpnn_precision precision, char *buffer, size_t size)
{
    if (bpnn_device_resolve(name, precision, buffer, size) != BPNN_OK || buffer[0] == '\0')
        return NULL;
    return buffer;
}

static json_t *json_string_or_null(const char *text)
{
    return text ? json_string(text) : json_null();
}

/* The device's GEMM tuning file in `precision` when there is one (it is
 * applied, if it is valid, when the device opens in that precision). */
static const char *tuning_file(const bpnn_device_info *d, bpnn_precision precision, char *path,
                               size_t size)
{
    struct stat st;
    if (bpnn_tuning_path(d, precision, path, size) != BPNN_OK) {
        bpnn_clear_error();
        return NULL;
    }
    return stat(path, &st) == 0 ? path : NULL;
}

static void print_tuning(const bpnn_device_info *d)
{
    char f32[4096], f64[4096];
    const char *files[2] = {tuning_file(d, BPNN_F32, f32, sizeof f32),
                            tuning_file(d, BPNN_F64, f64, sizeof f64)};
    if (!files[0] && !files[1]) {
        if (f32[0])
            printf("             GEMM tuning: none (bpnn-cl tune writes %s)\n", f32);
        else
            printf("             GEMM tuning: none (no folder for tuning files: set "
                   "BPNN_TUNING_DIR)\n");
        return;
    }
    for (int p = 0; p < 2; p++)
        if (files[p])
            printf("             GEMM tuning %s: %s\n", p ? "f64" : "f32", files[p]);
}

int cmd_devices(int argc, char **argv)
{
    int json = 0, code;
    bpnn_status status = BPNN_OK;
    while (status == BPNN_OK && (code = cli_next_option("devices", argc, argv, options)) != -1) {
        if (code == '?')
            status = BPNN_ERR_INVALID;
        else if (code == OPT_HELP) {
            fputs(help, stdout);
            return 0;
        } else if (code == OPT_JSON)
            json = 1;
    }
    if (status != BPNN_OK)
        return cli_fail(json, status);

    bpnn_device_info *list = NULL;
    size_t count = 0;
    status = bpnn_list_devices(&list, &count);
    if (status != BPNN_OK)
        return cli_fail(json, status);
    char gpu_buffer[32], opencl_buffer[32], auto32_buffer[32], auto64_buffer[32];
    const char *gpu = resolved("gpu", BPNN_F32, gpu_buffer, sizeof gpu_buffer);
    const char *opencl = resolved("opencl", BPNN_F32, opencl_buffer, sizeof opencl_buffer);
    const char *auto32 = resolved("auto", BPNN_F32, auto32_buffer, sizeof auto32_buffer);
    const char *auto64 = resolved("auto", BPNN_F64, auto64_buffer, sizeof auto64_buffer);
    const bpnn_device_info *host = &list[0];
    if (json) {
        json_t *devices = json_array();
        json_array_append_new(devices, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "spec", "cpu",
                                                 "type", "host", "name", host->name, "description",
                                                 host->description, "blas_core", bpnn_blas_core(),
                                                 "fp64", 1));
        json_t *object = json_pack("{s:o}", "devices", devices);
        for (size_t i = 1; i < count; i++) {
            const bpnn_device_info *d = &list[i];
            json_t *entry = json_pack(
                "{s:s, s:i, s:i, s:s, s:s, s:s, s:i, s:I, s:I, s:b, s:s, s:s, s:s, s:s}", "spec",
                d->spec, "platform_index", d->platform_index, "device_index", d->device_index,
                "type", d->type, "name", d->name, "vendor", d->vendor, "compute_units",
                (int)d->compute_units, "global_memory", (json_int_t)d->global_memory,
                "max_allocation", (json_int_t)d->max_allocation, "fp64", d->fp64, "driver_version",
                d->driver_version, "device_version", d->device_version, "platform_name",
                d->platform_name, "platform_version", d->platform_version);
            char f32[4096], f64[4096];
            const char *file32 = tuning_file(d, BPNN_F32, f32, sizeof f32);
            const char *file64 = tuning_file(d, BPNN_F64, f64, sizeof f64);
            json_object_set_new(entry, "gemm_tuning",
                                json_pack("{s:o, s:o}", "f32", json_string_or_null(file32), "f64",
                                          json_string_or_null(file64)));
            json_array_append_new(devices, entry);
        }
        json_object_set_new(object, "opencl", json_boolean(bpnn_has_opencl()));
        json_object_set_new(object, "gpu", json_string_or_null(gpu));
        json_object_set_new(object, "opencl_default", json_string_or_null(opencl));
        json_object_set_new(object, "auto",
                            json_pack("{s:s, s:s}", "f32", auto32 ? auto32 : "cpu", "f64",
                                      auto64 ? auto64 : "cpu"));
        cli_print_json(object);
    } else {
        printf("cpu          %s\n             %s\n", host->name, host->description);
        for (size_t i = 1; i < count; i++) {
            const bpnn_device_info *d = &list[i];
            printf("%-12s %s (%s)\n", d->spec, d->name, d->vendor);
            printf("             %s, %u compute units, %.1f GiB global memory, %.1f GiB largest "
                   "allocation, fp64 %s\n",
                   d->type, d->compute_units, gib(d->global_memory), gib(d->max_allocation),
                   d->fp64 ? "yes" : "no");
            printf("             platform %s (%s), driver %s\n", d->platform_name,
                   d->device_version, d->driver_version);
            print_tuning(d);
        }
        if (!bpnn_has_opencl())
            printf("no OpenCL: this bpnn-cl was built without it\n");
        else if (count == 1)
            printf("no OpenCL device (no OpenCL platform; clinfo -l lists what the driver "
                   "sees)\n");
        printf("\n--device gpu: %s; --device opencl: %s; --device auto: %s (f32), %s (f64)\n",
               gpu ? gpu : "none", opencl ? opencl : "none", auto32 ? auto32 : "cpu",
               auto64 ? auto64 : "cpu");
    }
    bpnn_device_list_free(list);
    return 0;
}
