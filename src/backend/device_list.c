/* device_list.c — the devices --device can name, as the public API lists
 * them: the host path first, then every OpenCL device in enumeration order
 * (the order opencl:P:D counts), and which of them "gpu", "opencl" and
 * "auto" select. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpnn.h"
#include "bpnn_config.h"
#include "util/error.h"

#if BPNN_WITH_OPENCL
#include "backend/opencl/opencl_backend.h"
#endif

/* Copies as much of `from` as fits, cut short on purpose. */
static void copy_text(char *to, size_t size, const char *from)
{
    size_t n = from ? strlen(from) : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(to, from, n);
    to[n] = '\0';
}

static bpnn_status host_entry(bpnn_device_info *out)
{
    bpnn_device *cpu = NULL;
    BPNN_TRY(bpnn_device_open("cpu", BPNN_F32, &cpu));
    *out = (bpnn_device_info){.platform_index = -1, .device_index = -1, .fp64 = 1};
    copy_text(out->spec, sizeof out->spec, "cpu");
    copy_text(out->type, sizeof out->type, "host");
    copy_text(out->name, sizeof out->name, bpnn_device_name(cpu));
    copy_text(out->description, sizeof out->description, bpnn_device_description(cpu));
    bpnn_device_close(cpu);
    return BPNN_OK;
}

bpnn_status bpnn_list_devices(bpnn_device_info **out, size_t *count)
{
    if (!out)
        return bpnn_fail_null("bpnn_list_devices", "out");
    if (!count)
        return bpnn_fail_null("bpnn_list_devices", "count");
    *out = NULL;
    *count = 0;
    size_t opencl_count = 0;
#if BPNN_WITH_OPENCL
    opencl_device_info *found = NULL;
    BPNN_TRY(opencl_list_devices(&found, &opencl_count));
#endif
    bpnn_device_info *list = calloc(1 + opencl_count, sizeof *list);
    bpnn_status status = list ? host_entry(&list[0]) : bpnn_fail_oom("the device list");
#if BPNN_WITH_OPENCL
    for (size_t i = 0; status == BPNN_OK && i < opencl_count; i++) {
        const opencl_device_info *d = &found[i];
        bpnn_device_info *e = &list[1 + i];
        copy_text(e->spec, sizeof e->spec, d->spec);
        copy_text(e->type, sizeof e->type, d->type);
        copy_text(e->name, sizeof e->name, d->name);
        copy_text(e->vendor, sizeof e->vendor, d->vendor);
        char text[512]; /* cut to the description's size below */
        snprintf(text, sizeof text, "platform %s (%s), driver %s", d->platform_name,
                 d->device_version, d->driver_version);
        copy_text(e->description, sizeof e->description, text);
        e->platform_index = d->platform_index;
        e->device_index = d->device_index;
        e->compute_units = d->compute_units;
        e->global_memory = d->global_memory;
        e->max_allocation = d->max_allocation;
        e->fp64 = d->fp64;
        copy_text(e->platform_name, sizeof e->platform_name, d->platform_name);
        copy_text(e->device_version, sizeof e->device_version, d->device_version);
        copy_text(e->driver_version, sizeof e->driver_version, d->driver_version);
        copy_text(e->platform_version, sizeof e->platform_version, d->platform_version);
    }
    free(found);
#endif
    if (status != BPNN_OK) {
        free(list);
        return status;
    }
    *out = list;
    *count = 1 + opencl_count;
    return BPNN_OK;
}

int bpnn_has_opencl(void)
{
    return BPNN_WITH_OPENCL;
}

void bpnn_device_list_free(bpnn_device_info *list)
{
    free(list);
}

bpnn_status bpnn_device_resolve(const char *spec, bpnn_precision precision, char *out, size_t size)
{
    if (!spec)
        return bpnn_fail_null("bpnn_device_resolve", "spec");
    if (!out || size == 0)
        return bpnn_fail_null("bpnn_device_resolve", "out");
    out[0] = '\0';
    int any = strcmp(spec, "auto") == 0;
    if (strcmp(spec, "cpu") == 0) {
        copy_text(out, size, "cpu");
        return BPNN_OK;
    }
    if (!any && strcmp(spec, "gpu") != 0 && strcmp(spec, "opencl") != 0)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "cannot resolve device %s: expected cpu, gpu, opencl or auto", spec);
#if BPNN_WITH_OPENCL
    opencl_device_info *found = NULL;
    size_t count = 0;
    BPNN_TRY(opencl_list_devices(&found, &count));
    long index = opencl_resolve(found, count, spec, precision);
    if (index >= 0)
        copy_text(out, size, found[index].spec);
    free(found);
#else
    (void)precision;
#endif
    if (any && out[0] == '\0')
        copy_text(out, size, "cpu");
    return BPNN_OK;
}
