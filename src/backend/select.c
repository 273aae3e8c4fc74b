/* select.c — from a --device string to an opened backend (docs/contract.md "Devices"). */
#include <cblas.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "bpnn_config.h"
#include "util/error.h"

#if BPNN_WITH_OPENCL
#include "backend/opencl/opencl_backend.h"
#endif

#define DEVICE_HINT "use cpu, gpu, opencl, opencl:P:D or auto (see bpnn-cl devices)"

/* "opencl:P:D" with P and D decimal integers. */
static int is_indexed_opencl(const char *spec)
{
    if (strncmp(spec, "opencl:", 7) != 0)
        return 0;
    const char *p = spec + 7;
    char *end;
    if (*p < '0' || *p > '9')
        return 0;
    strtoul(p, &end, 10);
    if (*end != ':' || end[1] < '0' || end[1] > '9')
        return 0;
    strtoul(end + 1, &end, 10);
    return *end == '\0';
}

static int is_known_spec(const char *spec)
{
    return strcmp(spec, "cpu") == 0 || strcmp(spec, "auto") == 0 || strcmp(spec, "gpu") == 0 ||
           strcmp(spec, "opencl") == 0 || is_indexed_opencl(spec);
}

/* "1234", "512K", "3M", "2G" (powers of 1024) into *bytes; 0 when malformed,
 * zero or beyond 64 bits. */
static int parse_bytes(const char *text, uint64_t *bytes)
{
    uint64_t value = 0;
    const char *p = text;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return 0;
        value = value * 10 + digit;
    }
    if (p == text)
        return 0;
    unsigned shift = 0;
    switch (toupper((unsigned char)*p)) {
    case 'K': shift = 10, p++; break;
    case 'M': shift = 20, p++; break;
    case 'G': shift = 30, p++; break;
    default: break;
    }
    if (*p != '\0' || value == 0 || value > UINT64_MAX >> shift)
        return 0;
    *bytes = value << shift;
    return 1;
}

/* BPNN_DEVICE_MEMORY in bytes; 0 when it is unset or empty. */
static bpnn_status pretended_memory(uint64_t *bytes)
{
    *bytes = 0;
    const char *text = getenv("BPNN_DEVICE_MEMORY");
    if (!text || !text[0] || parse_bytes(text, bytes))
        return BPNN_OK;
    return bpnn_fail(BPNN_ERR_INVALID,
                     "invalid BPNN_DEVICE_MEMORY=%s: expected a positive number of bytes, "
                     "optionally followed by K, M or G (powers of 1024), e.g. 512M; unset it to "
                     "use the device's own memory",
                     text);
}

/* A smaller device than the real one, so that plans for small GPUs can be
 * tried on any machine. The OpenCL backend checks its allocations against
 * these fields, so there the pretence is enforced, not only planned for. */
static void pretend_smaller(bpnn_device *device, uint64_t bytes)
{
    if (device->memory_bytes == 0 || bytes < device->memory_bytes)
        device->memory_bytes = bytes;
    if (device->max_allocation == 0 || bytes < device->max_allocation)
        device->max_allocation = bytes;
}

static bpnn_status open_device(const char *spec, bpnn_precision precision, bpnn_device **out)
{
    if (strcmp(spec, "cpu") == 0)
        return cpu_backend_create(precision, out);
#if BPNN_WITH_OPENCL
    BPNN_TRY(opencl_backend_open(spec, precision, out));
    if (!*out) /* auto found no GPU with this precision */
        return cpu_backend_create(precision, out);
    return BPNN_OK;
#else
    if (strcmp(spec, "auto") == 0)
        return cpu_backend_create(precision, out);
    return bpnn_fail(BPNN_ERR_INVALID,
                     "device not available: --device %s: this bpnn-cl was built without OpenCL; "
                     "use --device cpu",
                     spec);
#endif
}

bpnn_status bpnn_device_open(const char *spec, bpnn_precision precision, bpnn_device **out)
{
    if (!out)
        return bpnn_fail_null("bpnn_device_open", "out");
    *out = NULL;
    if (precision != BPNN_F32 && precision != BPNN_F64)
        return bpnn_fail(BPNN_ERR_INVALID, "unknown precision code %d", (int)precision);
    if (!spec)
        spec = "auto";
    if (!is_known_spec(spec))
        return bpnn_fail(BPNN_ERR_INVALID, "unknown device: --device %s: " DEVICE_HINT, spec);
    /* Read before opening: a typo is reported without a slow device start. */
    uint64_t pretended;
    BPNN_TRY(pretended_memory(&pretended));
    BPNN_TRY(open_device(spec, precision, out));
    if (pretended)
        pretend_smaller(*out, pretended);
    return BPNN_OK;
}

void bpnn_set_threads(int threads)
{
    if (threads <= 0)
        return;
    openblas_set_num_threads(threads);
    /* PoCL reads its thread count once, at its first OpenCL call; a value the
     * user set wins. */
    char count[16];
    snprintf(count, sizeof count, "%d", threads);
    setenv("POCL_MAX_PTHREAD_COUNT", count, 0);
}

void bpnn_device_close(bpnn_device *device)
{
    if (device)
        device->ops->destroy(device);
}

void bpnn_device_get_stats(bpnn_device *device, bpnn_device_stats *out)
{
    /* the work queued so far finishes first, so that its timings are in
     * (profiling events are read as they complete) */
    if (device && out && device->ops->finish(device) != BPNN_OK)
        bpnn_clear_error(); /* the next call that needs the device reports it */
    if (out)
        *out = device ? device->stats : (bpnn_device_stats){0};
}

void bpnn_device_set_profiling(bpnn_device *device, int on)
{
    if (device)
        device->profiling = on;
}

const char *bpnn_device_blas_core(const bpnn_device *device)
{
    return device ? device->blas_core : NULL;
}

const char *bpnn_device_spec(const bpnn_device *device)
{
    return device ? device->spec : "";
}

const char *bpnn_device_name(const bpnn_device *device)
{
    return device ? device->name : "";
}

const char *bpnn_device_description(const bpnn_device *device)
{
    return device ? device->description : "";
}
