/* cmd_devices.c — bpnn-cl devices: the compute devices --device can name. */
#include <stdlib.h>
#include <string.h>

#include "bpnn_config.h"
#include "cli/cli.h"
#include "util/error.h"

#if BPNN_WITH_OPENCL
#include "backend/opencl/opencl_backend.h"
#endif

static const char help[] =
    "Usage: bpnn-cl devices [--json]\n"
    "Lists the compute devices: cpu (the host path: OpenBLAS, its core and\n"
    "threads) and every OpenCL device in enumeration order, the order that\n"
    "--device opencl:P:D counts (0-based platform and device, as clinfo -l),\n"
    "with type, compute units, global memory, largest allocation, fp64 support\n"
    "and driver; then which device gpu, opencl and auto select.\n"
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

#if BPNN_WITH_OPENCL
static json_t *json_spec_or_null(const opencl_device_info *list, long index)
{
    return index >= 0 ? json_string(list[index].spec) : json_null();
}

static const char *spec_or(const opencl_device_info *list, long index, const char *none)
{
    return index >= 0 ? list[index].spec : none;
}
#endif

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

    /* the host path, as --device cpu opens it */
    bpnn_device *cpu = NULL;
    status = bpnn_device_open("cpu", BPNN_F32, &cpu);
    if (status != BPNN_OK)
        return cli_fail(json, status);

#if BPNN_WITH_OPENCL
    opencl_device_info *list = NULL;
    size_t count = 0;
    status = opencl_list_devices(&list, &count);
    if (status != BPNN_OK) {
        bpnn_device_close(cpu);
        return cli_fail(json, status);
    }
    long gpu = opencl_resolve(list, count, "gpu", BPNN_F32);
    long opencl = opencl_resolve(list, count, "opencl", BPNN_F32);
    long auto32 = opencl_resolve(list, count, "auto", BPNN_F32);
    long auto64 = opencl_resolve(list, count, "auto", BPNN_F64);
#endif

    if (json) {
        json_t *devices = json_array();
        json_array_append_new(devices, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "spec", "cpu",
                                                 "type", "host", "name", bpnn_device_name(cpu),
                                                 "description", bpnn_device_description(cpu),
                                                 "blas_core", bpnn_blas_core(), "fp64", 1));
        json_t *object = json_pack("{s:o}", "devices", devices);
#if BPNN_WITH_OPENCL
        for (size_t i = 0; i < count; i++) {
            const opencl_device_info *d = &list[i];
            json_t *entry = json_pack(
                "{s:s, s:i, s:i, s:s, s:s, s:s, s:i, s:I, s:I, s:b, s:s, s:s, s:s, s:s}", "spec",
                d->spec, "platform_index", d->platform_index, "device_index", d->device_index,
                "type", d->type, "name", d->name, "vendor", d->vendor, "compute_units",
                (int)d->compute_units, "global_memory", (json_int_t)d->global_memory,
                "max_allocation", (json_int_t)d->max_allocation, "fp64", d->fp64, "driver_version",
                d->driver_version, "device_version", d->device_version, "platform_name",
                d->platform_name, "platform_version", d->platform_version);
            json_array_append_new(devices, entry);
        }
        json_object_set_new(object, "opencl", json_true());
        json_object_set_new(object, "gpu", json_spec_or_null(list, gpu));
        json_object_set_new(object, "opencl_default", json_spec_or_null(list, opencl));
        json_object_set_new(object, "auto",
                            json_pack("{s:s, s:s}", "f32", spec_or(list, auto32, "cpu"), "f64",
                                      spec_or(list, auto64, "cpu")));
#else
        json_object_set_new(object, "opencl", json_false());
        json_object_set_new(object, "gpu", json_null());
        json_object_set_new(object, "opencl_default", json_null());
        json_object_set_new(object, "auto", json_pack("{s:s, s:s}", "f32", "cpu", "f64", "cpu"));
#endif
        cli_print_json(object);
    } else {
        printf("cpu          %s\n             %s\n", bpnn_device_name(cpu),
               bpnn_device_description(cpu));
#if BPNN_WITH_OPENCL
        for (size_t i = 0; i < count; i++) {
            const opencl_device_info *d = &list[i];
            printf("%-12s %s (%s)\n", d->spec, d->name, d->vendor);
            printf("             %s, %u compute units, %.1f GiB global memory, %.1f GiB largest "
                   "allocation, fp64 %s\n",
                   d->type, d->compute_units, gib(d->global_memory), gib(d->max_allocation),
                   d->fp64 ? "yes" : "no");
            printf("             platform %s (%s), driver %s\n", d->platform_name,
                   d->device_version, d->driver_version);
        }
        if (count == 0)
            printf("no OpenCL device (no OpenCL platform; clinfo -l lists what the driver "
                   "sees)\n");
        printf("\n--device gpu: %s; --device opencl: %s; --device auto: %s (f32), %s (f64)\n",
               spec_or(list, gpu, "none"), spec_or(list, opencl, "none"),
               spec_or(list, auto32, "cpu"), spec_or(list, auto64, "cpu"));
#else
        (void)gib;
        printf("no OpenCL: this bpnn-cl was built without it\n");
#endif
    }
#if BPNN_WITH_OPENCL
    free(list);
#endif
    bpnn_device_close(cpu);
    return 0;
}
