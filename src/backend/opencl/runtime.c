/* runtime.c — OpenCL platforms and devices, selection by --device string,
 * the context, the queue and the program of our kernels. */
#include <clblast_c.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/opencl/kernel_sources.h"
#include "backend/opencl/opencl_internal.h"
#include "util/error.h"

const char *const opencl_kernel_names[K_COUNT] = {
    [K_BIAS_SIGMOID] = "bias_sigmoid",
    [K_OUTPUT_DELTA] = "output_delta",
    [K_SIGMOID_GRADIENT_MUL] = "sigmoid_gradient_mul",
    [K_REGULARIZE_ADD] = "regularize_add",
    [K_ARGMAX_ROWS] = "argmax_rows",
    [K_SCALE_MATRIX] = "scale_matrix",
    [K_BIAS_GRADIENT] = "bias_gradient",
    [K_BIAS_GRADIENT_FINAL] = "bias_gradient_final",
    [K_DOT_PARTIAL] = "dot_partial",
    [K_SUM_SQUARES_NONBIAS_PARTIAL] = "sum_squares_nonbias_partial",
    [K_LOGISTIC_LOSS_PARTIAL] = "logistic_loss_partial",
    [K_SUM_FINAL] = "sum_final",
    [K_MAX_ABS_PARTIAL] = "max_abs_partial",
    [K_MAX_ABS_FINAL] = "max_abs_final",
    [K_GATHER_ROWS] = "gather_rows",
    [K_GATHER_LABELS] = "gather_labels",
    [K_SGD_UPDATE] = "sgd_update",
    [K_MOMENTUM_UPDATE] = "momentum_update",
    [K_ADAM_UPDATE] = "adam_update",
};

/* ---- status names ---------------------------------------------------------- */

const char *opencl_error_name(cl_int error)
{
    switch (error) {
#define NAME(code)                                                                                 \
    case code: return #code
        NAME(CL_SUCCESS);
        NAME(CL_DEVICE_NOT_FOUND);
        NAME(CL_DEVICE_NOT_AVAILABLE);
        NAME(CL_COMPILER_NOT_AVAILABLE);
        NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE);
        NAME(CL_OUT_OF_RESOURCES);
        NAME(CL_OUT_OF_HOST_MEMORY);
        NAME(CL_PROFILING_INFO_NOT_AVAILABLE);
        NAME(CL_MEM_COPY_OVERLAP);
        NAME(CL_IMAGE_FORMAT_MISMATCH);
        NAME(CL_IMAGE_FORMAT_NOT_SUPPORTED);
        NAME(CL_BUILD_PROGRAM_FAILURE);
        NAME(CL_MAP_FAILURE);
        NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET);
        NAME(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST);
        NAME(CL_COMPILE_PROGRAM_FAILURE);
        NAME(CL_LINKER_NOT_AVAILABLE);
        NAME(CL_LINK_PROGRAM_FAILURE);
        NAME(CL_DEVICE_PARTITION_FAILED);
        NAME(CL_KERNEL_ARG_INFO_NOT_AVAILABLE);
        NAME(CL_INVALID_VALUE);
        NAME(CL_INVALID_DEVICE_TYPE);
        NAME(CL_INVALID_PLATFORM);
        NAME(CL_INVALID_DEVICE);
        NAME(CL_INVALID_CONTEXT);
        NAME(CL_INVALID_QUEUE_PROPERTIES);
        NAME(CL_INVALID_COMMAND_QUEUE);
        NAME(CL_INVALID_HOST_PTR);
        NAME(CL_INVALID_MEM_OBJECT);
        NAME(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR);
        NAME(CL_INVALID_IMAGE_SIZE);
        NAME(CL_INVALID_SAMPLER);
        NAME(CL_INVALID_BINARY);
        NAME(CL_INVALID_BUILD_OPTIONS);
        NAME(CL_INVALID_PROGRAM);
        NAME(CL_INVALID_PROGRAM_EXECUTABLE);
        NAME(CL_INVALID_KERNEL_NAME);
        NAME(CL_INVALID_KERNEL_DEFINITION);
        NAME(CL_INVALID_KERNEL);
        NAME(CL_INVALID_ARG_INDEX);
        NAME(CL_INVALID_ARG_VALUE);
        NAME(CL_INVALID_ARG_SIZE);
        NAME(CL_INVALID_KERNEL_ARGS);
        NAME(CL_INVALID_WORK_DIMENSION);
        NAME(CL_INVALID_WORK_GROUP_SIZE);
        NAME(CL_INVALID_WORK_ITEM_SIZE);
        NAME(CL_INVALID_GLOBAL_OFFSET);
        NAME(CL_INVALID_EVENT_WAIT_LIST);
        NAME(CL_INVALID_EVENT);
        NAME(CL_INVALID_OPERATION);
        NAME(CL_INVALID_GL_OBJECT);
        NAME(CL_INVALID_BUFFER_SIZE);
        NAME(CL_INVALID_MIP_LEVEL);
        NAME(CL_INVALID_GLOBAL_WORK_SIZE);
        NAME(CL_INVALID_PROPERTY);
        NAME(CL_INVALID_IMAGE_DESCRIPTOR);
        NAME(CL_INVALID_COMPILER_OPTIONS);
        NAME(CL_INVALID_LINKER_OPTIONS);
        NAME(CL_INVALID_DEVICE_PARTITION_COUNT);
#undef NAME
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
    }
}

const char *opencl_clblast_status_name(int status)
{
    switch (status) {
    case CLBlastNotImplemented: return "CLBlastNotImplemented";
    case CLBlastInvalidMatrixA: return "CLBlastInvalidMatrixA";
    case CLBlastInvalidMatrixB: return "CLBlastInvalidMatrixB";
    case CLBlastInvalidMatrixC: return "CLBlastInvalidMatrixC";
    case CLBlastInvalidVectorX: return "CLBlastInvalidVectorX";
    case CLBlastInvalidVectorY: return "CLBlastInvalidVectorY";
    case CLBlastInvalidDimension: return "CLBlastInvalidDimension";
    case CLBlastInvalidLeadDimA: return "CLBlastInvalidLeadDimA";
    case CLBlastInvalidLeadDimB: return "CLBlastInvalidLeadDimB";
    case CLBlastInvalidLeadDimC: return "CLBlastInvalidLeadDimC";
    case CLBlastInvalidIncrementX: return "CLBlastInvalidIncrementX";
    case CLBlastInvalidIncrementY: return "CLBlastInvalidIncrementY";
    case CLBlastInsufficientMemoryA: return "CLBlastInsufficientMemoryA";
    case CLBlastInsufficientMemoryB: return "CLBlastInsufficientMemoryB";
    case CLBlastInsufficientMemoryC: return "CLBlastInsufficientMemoryC";
    case CLBlastInsufficientMemoryX: return "CLBlastInsufficientMemoryX";
    case CLBlastInsufficientMemoryY: return "CLBlastInsufficientMemoryY";
    case CLBlastInsufficientMemoryTemp: return "CLBlastInsufficientMemoryTemp";
    case CLBlastInvalidBatchCount: return "CLBlastInvalidBatchCount";
    case CLBlastInvalidOverrideKernel: return "CLBlastInvalidOverrideKernel";
    case CLBlastMissingOverrideParameter: return "CLBlastMissingOverrideParameter";
    case CLBlastInvalidLocalMemUsage: return "CLBlastInvalidLocalMemUsage";
    case CLBlastNoHalfPrecision: return "CLBlastNoHalfPrecision";
    case CLBlastNoDoublePrecision: return "CLBlastNoDoublePrecision";
    case CLBlastInvalidVectorScalar: return "CLBlastInvalidVectorScalar";
    case CLBlastInsufficientMemoryScalar: return "CLBlastInsufficientMemoryScalar";
    case CLBlastDatabaseError: return "CLBlastDatabaseError";
    case CLBlastUnknownError: return "CLBlastUnknownError";
    case CLBlastUnexpectedError: return "CLBlastUnexpectedError";
    default:
        /* The remaining codes are OpenCL's own. */
        return opencl_error_name((cl_int)status);
    }
}

static int is_memory_error(int code)
{
    return code == CL_MEM_OBJECT_ALLOCATION_FAILURE || code == CL_OUT_OF_RESOURCES ||
           code == CL_OUT_OF_HOST_MEMORY || code == CLBlastTempBufferAllocFailure;
}

#define MEMORY_HINT ": the device may be out of memory; try fewer rows (--limit) or --device cpu"

bpnn_status opencl_fail_call(const opencl_backend *cl, const char *call, cl_int error)
{
    return bpnn_fail(BPNN_ERR_RUNTIME, "OpenCL call failed: %s returned %s (%d): on %s (%s)%s",
                     call, opencl_error_name(error), (int)error, cl->info.spec, cl->info.name,
                     is_memory_error(error) ? MEMORY_HINT : "");
}

bpnn_status opencl_fail_clblast(const opencl_backend *cl, const char *call, int status)
{
    /* parameters from a tuning file are the first suspect of a GEMM failure */
    int tuned = cl->tuning_info.state == BPNN_TUNING_APPLIED;
    return bpnn_fail(BPNN_ERR_RUNTIME,
                     "CLBlast call failed: %s returned %s (%d): on %s (%s)%s%s%s%s", call,
                     opencl_clblast_status_name(status), status, cl->info.spec, cl->info.name,
                     is_memory_error(status) ? MEMORY_HINT : "", tuned ? ": GEMM tuning from " : "",
                     tuned ? cl->tuning_info.path : "",
                     tuned ? " in use (BPNN_TUNING=off runs without it)" : "");
}

/* ---- enumeration ----------------------------------------------------------- */

typedef struct device_entry {
    cl_platform_id platform;
    cl_device_id device;
    opencl_device_info info;
} device_entry;

static int assume_no_fp64(void)
{
    const char *value = getenv("BPNN_OPENCL_ASSUME_NO_FP64");
    return value && strcmp(value, "1") == 0;
}

static void device_string(cl_device_id device, cl_device_info what, char *out, size_t size)
{
    out[0] = '\0';
    if (clGetDeviceInfo(device, what, size, out, NULL) != CL_SUCCESS)
        snprintf(out, size, "?");
    out[size - 1] = '\0';
}

static void platform_string(cl_platform_id platform, cl_platform_info what, char *out, size_t size)
{
    out[0] = '\0';
    if (clGetPlatformInfo(platform, what, size, out, NULL) != CL_SUCCESS)
        snprintf(out, size, "?");
    out[size - 1] = '\0';
}

static int device_has_fp64(cl_device_id device)
{
    size_t size = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, 0, NULL, &size) != CL_SUCCESS || size == 0)
        return 0;
    char *extensions = malloc(size + 1);
    if (!extensions)
        return 0;
    int found = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, size, extensions, NULL) == CL_SUCCESS) {
        extensions[size] = '\0';
        /* as a whole word: cl_khr_fp64 followed by a space or the end */
        for (const char *p = strstr(extensions, "cl_khr_fp64"); p && !found;
             p = strstr(p + 1, "cl_khr_fp64")) {
            char after = p[strlen("cl_khr_fp64")];
            found = after == '\0' || after == ' ';
        }
    }
    free(extensions);
    return found;
}

static void query_device(cl_platform_id platform, cl_device_id device, int p, int d,
                         opencl_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->platform_index = p;
    info->device_index = d;
    snprintf(info->spec, sizeof info->spec, "opencl:%d:%d", p, d);
    device_string(device, CL_DEVICE_NAME, info->name, sizeof info->name);
    device_string(device, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    device_string(device, CL_DEVICE_VERSION, info->device_version, sizeof info->device_version);
    device_string(device, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    platform_string(platform, CL_PLATFORM_NAME, info->platform_name, sizeof info->platform_name);
    platform_string(platform, CL_PLATFORM_VERSION, info->platform_version,
                    sizeof info->platform_version);

    cl_device_type type = 0;
    clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    info->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    info->type = info->is_gpu                          ? "GPU"
                 : (type & CL_DEVICE_TYPE_ACCELERATOR) ? "accelerator"
                 : (type & CL_DEVICE_TYPE_CPU)         ? "CPU"
                                                       : "other";
    cl_uint units = 0;
    clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
    info->compute_units = units;
    cl_ulong global = 0, max_alloc = 0;
    clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof global, &global, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
    info->global_memory = global;
    info->max_allocation = max_alloc;
    info->fp64 = device_has_fp64(device) && !assume_no_fp64();
}

/* Every device in enumeration order. No platform: BPNN_OK with 0 entries. */
static bpnn_status enumerate(device_entry **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    cl_uint platform_count = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &platform_count);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR: the ICD loader found no driver */ ||
        (err == CL_SUCCESS && platform_count == 0))
        return BPNN_OK;
    if (err != CL_SUCCESS)
        return bpnn_fail(BPNN_ERR_RUNTIME,
                         "OpenCL call failed: clGetPlatformIDs returned %s (%d): listing "
                         "platforms: check the OpenCL driver (clinfo -l)",
                         opencl_error_name(err), (int)err);
    cl_platform_id *platforms = calloc(platform_count, sizeof *platforms);
    if (!platforms)
        return bpnn_fail_oom("OpenCL platform list");
    err = clGetPlatformIDs(platform_count, platforms, NULL);
    if (err != CL_SUCCESS) {
        free(platforms);
        return bpnn_fail(BPNN_ERR_RUNTIME,
                         "OpenCL call failed: clGetPlatformIDs returned %s (%d): listing "
                         "platforms: check the OpenCL driver (clinfo -l)",
                         opencl_error_name(err), (int)err);
    }
    device_entry *entries = NULL;
    size_t n = 0;
    for (cl_uint p = 0; p < platform_count; p++) {
        cl_uint device_count = 0;
        err = clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &device_count);
        if (err != CL_SUCCESS || device_count == 0)
            continue; /* a platform without devices (CL_DEVICE_NOT_FOUND) has none to offer */
        cl_device_id *devices = calloc(device_count, sizeof *devices);
        device_entry *grown = realloc(entries, (n + device_count) * sizeof *entries);
        if (!devices || !grown) {
            free(devices);
            free(grown ? grown : entries);
            free(platforms);
            return bpnn_fail_oom("OpenCL device list");
        }
        entries = grown;
        err = clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, device_count, devices, NULL);
        if (err == CL_SUCCESS) {
            for (cl_uint d = 0; d < device_count; d++) {
                entries[n].platform = platforms[p];
                entries[n].device = devices[d];
                query_device(platforms[p], devices[d], (int)p, (int)d, &entries[n].info);
                n++;
            }
        }
        free(devices);
    }
    free(platforms);
    *out = entries;
    *count = n;
    return BPNN_OK;
}

bpnn_status opencl_list_devices(opencl_device_info **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    device_entry *entries;
    size_t n;
    BPNN_TRY(enumerate(&entries, &n));
    if (n == 0)
        return BPNN_OK;
    opencl_device_info *infos = calloc(n, sizeof *infos);
    if (!infos) {
        free(entries);
        return bpnn_fail_oom("OpenCL device list");
    }
    for (size_t i = 0; i < n; i++)
        infos[i] = entries[i].info;
    free(entries);
    *out = infos;
    *count = n;
    return BPNN_OK;
}

int opencl_platform_available(void)
{
    device_entry *entries;
    size_t n;
    if (enumerate(&entries, &n) != BPNN_OK) {
        bpnn_clear_error();
        return 0;
    }
    free(entries);
    return n > 0;
}

/* "opencl:P:D" with decimal P and D; anything else is not one. */
static int parse_indexed(const char *spec, long *p, long *d)
{
    if (strncmp(spec, "opencl:", 7) != 0)
        return 0;
    const char *s = spec + 7;
    char *end;
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    *p = strtol(s, &end, 10);
    if (errno || *end != ':' || end[1] < '0' || end[1] > '9')
        return 0;
    *d = strtol(end + 1, &end, 10);
    return !errno && *end == '\0';
}

static int is_opencl_spec(const char *spec)
{
    long p, d;
    return strcmp(spec, "gpu") == 0 || strcmp(spec, "opencl") == 0 || strcmp(spec, "auto") == 0 ||
           parse_indexed(spec, &p, &d);
}

long opencl_resolve(const opencl_device_info *list, size_t count, const char *spec,
                    bpnn_precision precision)
{
    long p, d;
    if (strcmp(spec, "gpu") == 0 || strcmp(spec, "auto") == 0) {
        int need_fp64 = strcmp(spec, "auto") == 0 && precision == BPNN_F64;
        for (size_t i = 0; i < count; i++)
            if (list[i].is_gpu && (!need_fp64 || list[i].fp64))
                return (long)i;
    } else if (strcmp(spec, "opencl") == 0) {
        static const char *const order[] = {"GPU", "accelerator", "CPU", "other"};
        for (size_t t = 0; t < 4; t++)
            for (size_t i = 0; i < count; i++)
                if (strcmp(list[i].type, order[t]) == 0)
                    return (long)i;
    } else if (parse_indexed(spec, &p, &d)) {
        for (size_t i = 0; i < count; i++)
            if (list[i].platform_index == p && list[i].device_index == d)
                return (long)i;
    }
    return -1;
}

/* opencl_resolve over the enumeration's entries. */
static long resolve_entries(const device_entry *entries, size_t n, const char *spec,
                            bpnn_precision precision)
{
    opencl_device_info *infos = n ? calloc(n, sizeof *infos) : NULL;
    if (n && !infos)
        return -2;
    for (size_t i = 0; i < n; i++)
        infos[i] = entries[i].info;
    long found = opencl_resolve(infos, n, spec, precision);
    free(infos);
    return found;
}

int opencl_gpu_available(bpnn_precision precision)
{
    device_entry *entries;
    size_t n;
    if (enumerate(&entries, &n) != BPNN_OK) {
        bpnn_clear_error();
        return 0;
    }
    long found = resolve_entries(entries, n, "auto", precision);
    free(entries);
    return found >= 0;
}

/* "opencl:0:0 NAME (GPU, PLATFORM); ..." or "none" into out. */
static void describe_devices(const device_entry *entries, size_t n, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    if (n == 0) {
        snprintf(out, size, "none (no OpenCL platform; clinfo -l lists what the driver sees)");
        return;
    }
    for (size_t i = 0; i < n && used < size; i++) {
        int w = snprintf(out + used, size - used, "%s%s %s (%s, %s)", i ? "; " : "",
                         entries[i].info.spec, entries[i].info.name, entries[i].info.type,
                         entries[i].info.platform_name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* ---- the program ----------------------------------------------------------- */

static char *read_text_file(const char *path, size_t *length)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = NULL;
    size_t used = 0, capacity = 0;
    for (;;) {
        if (capacity - used < 4096) {
            char *grown = realloc(text, capacity + 65536);
            if (!grown) {
                free(text);
                fclose(f);
                return NULL;
            }
            text = grown;
            capacity += 65536;
        }
        size_t got = fread(text + used, 1, capacity - used - 1, f);
        used += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(text);
        return NULL;
    }
    text[used] = '\0';
    *length = used;
    return text;
}

size_t opencl_kernel_source_count(void)
{
    return opencl_kernel_sources_count;
}

const char *opencl_kernel_source_name(size_t index)
{
    return index < opencl_kernel_sources_count ? opencl_kernel_sources[index].name : NULL;
}

const char *opencl_kernel_source_text(size_t index, size_t *length)
{
    if (index >= opencl_kernel_sources_count)
        return NULL;
    if (length)
        *length = opencl_kernel_sources[index].length;
    return opencl_kernel_sources[index].text;
}

/* The sources in build order, embedded or from BPNN_KERNEL_DIR. */
static bpnn_status load_sources(const char *dir, char **texts, size_t *lengths)
{
    for (size_t i = 0; i < opencl_kernel_sources_count; i++) {
        texts[i] = NULL;
        lengths[i] = opencl_kernel_sources[i].length;
    }
    if (!dir)
        return BPNN_OK;
    for (size_t i = 0; i < opencl_kernel_sources_count; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, opencl_kernel_sources[i].name);
        texts[i] = read_text_file(path, &lengths[i]);
        if (!texts[i]) {
            int error = errno;
            for (size_t j = 0; j < i; j++)
                free(texts[j]);
            return bpnn_fail(BPNN_ERR_INVALID,
                             "cannot read kernel source: %s: %s: BPNN_KERNEL_DIR must hold %s and "
                             "the other kernels/*.cl files (unset it to use the built-in ones)",
                             path, strerror(error), opencl_kernel_sources[i].name);
        }
    }
    return BPNN_OK;
}

static bpnn_status build_failure(opencl_backend *cl, cl_int err, const char *origin)
{
    size_t log_size = 0;
    char *log = NULL;
    if (clGetProgramBuildInfo(cl->program, cl->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_size) ==
            CL_SUCCESS &&
        log_size > 0 && (log = malloc(log_size + 1)) != NULL) {
        if (clGetProgramBuildInfo(cl->program, cl->device, CL_PROGRAM_BUILD_LOG, log_size, log,
                                  NULL) != CL_SUCCESS)
            log[0] = '\0';
        log[log_size] = '\0';
    }
    const char *text = log && log[0] ? log : "(the driver gave no build log)";
    /* The message holds about 1 KiB: the log's start, where the first error is. */
    const size_t fits = 600;
    size_t length = strlen(text);
    char excerpt[640];
    snprintf(excerpt, sizeof excerpt, "%.*s", (int)(length < fits ? length : fits), text);
    for (char *c = excerpt; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    if (length > fits)
        fprintf(stderr, "bpnn-cl: OpenCL build log for %s on %s (%s):\n%s\n", origin, cl->info.spec,
                cl->info.name, text);
    bpnn_status status =
        bpnn_fail(BPNN_ERR_RUNTIME,
                  "OpenCL kernel build failed: clBuildProgram returned %s (%d) for %s on %s (%s): "
                  "build log: %s%s",
                  opencl_error_name(err), (int)err, origin, cl->info.spec, cl->info.name, excerpt,
                  length > fits ? " ... (full log on stderr)" : "");
    free(log);
    return status;
}

/* ---- work-group sizes ---------------------------------------------------------- */

/* Work-items per group we aim for: 8 warps of 32 or 4 wavefronts of 64, enough
 * to hide memory latency within a group while a GPU compute unit still holds
 * several groups; the reductions' trees then take 8 steps. */
#define WORK_GROUP_TARGET 256

/* Local memory a work-item may need: every kernel is sized as if it kept one
 * acc_t (double or float2) or REAL, 8 bytes at most, in __local scratch as the
 * reductions do. Element-wise kernels lose nothing: OpenCL 1.2 guarantees 32
 * KiB of local memory, room for 4096 such work-items. */
#define SCRATCH_PER_ITEM 8

/* Work-groups that fill a compute unit: a GPU's keeps about 2048 work-items
 * resident (NVIDIA SMs since Maxwell: 2048 threads, AMD CUs: 2560), 8 groups
 * of WORK_GROUP_TARGET; a CPU device's unit (one core) is kept busy as well. */
#define GROUPS_PER_UNIT 8
/* Reductions fold their partials in one work-group (reduce.cl's pass 2):
 * 1024 partials are 4 loads per work-item there. */
#define MAX_FILL_GROUPS 1024

size_t opencl_work_group_size(const opencl_group_limits *l)
{
    uint64_t limit = l->kernel_max < l->device_max ? l->kernel_max : l->device_max;
    if (l->dim0_max < limit)
        limit = l->dim0_max;
    if (l->kernel_local >= l->local_memory)
        return 0;
    if (l->scratch_per_item > 0 &&
        (l->local_memory - l->kernel_local) / l->scratch_per_item < limit)
        limit = (l->local_memory - l->kernel_local) / l->scratch_per_item;
    size_t target = l->multiple > WORK_GROUP_TARGET ? l->multiple : WORK_GROUP_TARGET;
    if (limit > target)
        limit = target;
    /* The largest power of two within the limit: with a power-of-two warp no
     * larger than it (every device we know), also a multiple of the warp. */
    size_t size = 0;
    if (limit > 0)
        for (size = 1; size * 2 <= limit; size *= 2)
            ;
    return size;
}

size_t opencl_fill_groups(unsigned compute_units)
{
    size_t groups = (size_t)compute_units * GROUPS_PER_UNIT;
    return groups < GROUPS_PER_UNIT   ? GROUPS_PER_UNIT
           : groups > MAX_FILL_GROUPS ? MAX_FILL_GROUPS
                                      : groups;
}

static bpnn_status device_info_failed(opencl_backend *cl, const char *what, cl_int err)
{
    char call[96];
    snprintf(call, sizeof call, "clGetDeviceInfo(%s)", what);
    return opencl_fail_call(cl, call, err);
}

static bpnn_status kernel_info_failed(opencl_backend *cl, opencl_kernel_id k, const char *what,
                                      cl_int err)
{
    char call[128];
    snprintf(call, sizeof call, "clGetKernelWorkGroupInfo(%s, %s)", opencl_kernel_names[k], what);
    return opencl_fail_call(cl, call, err);
}

/* Every kernel's work-group size from the device's and the kernel's own
 * limits (opencl_work_group_size), bias_gradient's warp, and the number of
 * work-groups the reductions spread over (reduce_groups). */
static bpnn_status choose_work_groups(opencl_backend *cl)
{
    size_t device_max = 0, items[3] = {0, 0, 0};
    cl_uint dimensions = 0, units = 0;
    cl_ulong local_memory = 0;
    cl_int err = clGetDeviceInfo(cl->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof device_max,
                                 &device_max, NULL);
    if (err != CL_SUCCESS)
        return device_info_failed(cl, "CL_DEVICE_MAX_WORK_GROUP_SIZE", err);
    err = clGetDeviceInfo(cl->device, CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS, sizeof dimensions,
                          &dimensions, NULL);
    if (err != CL_SUCCESS)
        return device_info_failed(cl, "CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS", err);
    if (dimensions < 2) /* OpenCL guarantees 3; bias_gradient needs 2 */
        return bpnn_fail(BPNN_ERR_RUNTIME,
                         "OpenCL device %s (%s) offers %u work-item dimensions; bpnn-cl needs 2: "
                         "use --device cpu",
                         cl->info.spec, cl->info.name, (unsigned)dimensions);
    /* the answer is one size_t per dimension: read 3 (OpenCL's minimum) at most */
    size_t *all = malloc(dimensions * sizeof *all);
    if (!all)
        return bpnn_fail_oom("OpenCL work-item sizes");
    err = clGetDeviceInfo(cl->device, CL_DEVICE_MAX_WORK_ITEM_SIZES, dimensions * sizeof *all, all,
                          NULL);
    if (err == CL_SUCCESS)
        memcpy(items, all, (dimensions < 3 ? dimensions : 3) * sizeof *all);
    free(all);
    if (err != CL_SUCCESS)
        return device_info_failed(cl, "CL_DEVICE_MAX_WORK_ITEM_SIZES", err);
    err = clGetDeviceInfo(cl->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local_memory, &local_memory,
                          NULL);
    if (err != CL_SUCCESS)
        return device_info_failed(cl, "CL_DEVICE_LOCAL_MEM_SIZE", err);
    err = clGetDeviceInfo(cl->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
    if (err != CL_SUCCESS)
        return device_info_failed(cl, "CL_DEVICE_MAX_COMPUTE_UNITS", err);
    cl->max_items[0] = items[0];
    cl->max_items[1] = items[1];
    cl->reduce_groups = opencl_fill_groups(units);

    for (int k = 0; k < K_COUNT; k++) {
        size_t kernel_max = 0, multiple = 0;
        cl_ulong kernel_local = 0;
        err = clGetKernelWorkGroupInfo(cl->kernels[k], cl->device, CL_KERNEL_WORK_GROUP_SIZE,
                                       sizeof kernel_max, &kernel_max, NULL);
        if (err != CL_SUCCESS)
            return kernel_info_failed(cl, k, "CL_KERNEL_WORK_GROUP_SIZE", err);
        err = clGetKernelWorkGroupInfo(cl->kernels[k], cl->device,
                                       CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE,
                                       sizeof multiple, &multiple, NULL);
        if (err != CL_SUCCESS)
            return kernel_info_failed(cl, k, "CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE", err);
        err = clGetKernelWorkGroupInfo(cl->kernels[k], cl->device, CL_KERNEL_LOCAL_MEM_SIZE,
                                       sizeof kernel_local, &kernel_local, NULL);
        if (err != CL_SUCCESS)
            return kernel_info_failed(cl, k, "CL_KERNEL_LOCAL_MEM_SIZE", err);
        opencl_group_limits limits = {.kernel_max = kernel_max,
                                      .device_max = device_max,
                                      .dim0_max = items[0],
                                      .multiple = multiple,
                                      .local_memory = local_memory,
                                      .kernel_local = kernel_local,
                                      .scratch_per_item = SCRATCH_PER_ITEM};
        cl->local_size[k] = opencl_work_group_size(&limits);
        if (cl->local_size[k] == 0)
            return bpnn_fail(BPNN_ERR_RUNTIME,
                             "OpenCL kernel %s fits no work-group on %s (%s): work-group size "
                             "at most %zu (kernel) and %zu (device), local memory %" PRIu64
                             " bytes of which the kernel uses %" PRIu64 ": use --device cpu",
                             opencl_kernel_names[k], cl->info.spec, cl->info.name, kernel_max,
                             device_max, (uint64_t)local_memory, (uint64_t)kernel_local);
        if (k == K_BIAS_GRADIENT)
            cl->warp = multiple > 0 ? multiple : 1;
    }
    return BPNN_OK;
}

static bpnn_status build_program(opencl_backend *cl)
{
    const char *dir = getenv("BPNN_KERNEL_DIR");
    if (dir && !dir[0])
        dir = NULL;
    char *loaded[16];
    size_t lengths[16];
    const char *texts[16];
    if (opencl_kernel_sources_count > 16)
        return bpnn_fail(BPNN_ERR_RUNTIME, "too many kernel sources: %zu",
                         opencl_kernel_sources_count);
    BPNN_TRY(load_sources(dir, loaded, lengths));
    for (size_t i = 0; i < opencl_kernel_sources_count; i++)
        texts[i] = loaded[i] ? loaded[i] : opencl_kernel_sources[i].text;

    cl_int err;
    cl->program = clCreateProgramWithSource(cl->context, (cl_uint)opencl_kernel_sources_count,
                                            texts, lengths, &err);
    for (size_t i = 0; i < opencl_kernel_sources_count; i++)
        free(loaded[i]);
    if (err != CL_SUCCESS) {
        cl->program = NULL;
        return opencl_fail_call(cl, "clCreateProgramWithSource", err);
    }

    char options[128];
    snprintf(options, sizeof options, "-DREAL=%s%s",
             cl->base.precision == BPNN_F64 ? "double" : "float",
             cl->acc_double ? " -DBPNN_ACC_DOUBLE" : "");
    err = clBuildProgram(cl->program, 1, &cl->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char origin[4200];
        if (dir)
            snprintf(origin, sizeof origin, "the kernels in BPNN_KERNEL_DIR=%s", dir);
        else
            snprintf(origin, sizeof origin, "the built-in kernels");
        return build_failure(cl, err, origin);
    }

    for (int k = 0; k < K_COUNT; k++) {
        cl->kernels[k] = clCreateKernel(cl->program, opencl_kernel_names[k], &err);
        if (err != CL_SUCCESS) {
            cl->kernels[k] = NULL;
            char call[96];
            snprintf(call, sizeof call, "clCreateKernel(%s)", opencl_kernel_names[k]);
            return opencl_fail_call(cl, call, err);
        }
    }
    return choose_work_groups(cl);
}

/* ---- open and destroy -------------------------------------------------------- */

/* OpenCL contexts of ours alive. CLBlast caches the programs it builds, per
 * context, in a static cache it empties only at exit; by then the OpenCL
 * implementation may be gone (Oclgrind's is: freeing them corrupts the heap).
 * The last backend to close empties the cache while its context lives. */
static atomic_int contexts_open;

void opencl_destroy(backend *be)
{
    opencl_backend *cl = opencl_of(be);
    if (!cl)
        return;
    if (cl->queue) {
        clFinish(cl->queue);
        if (opencl_harvest_events(cl) != BPNN_OK)
            bpnn_clear_error();
    }
    opencl_ops_cleanup(cl);
    for (int k = 0; k < K_COUNT; k++)
        if (cl->kernels[k])
            clReleaseKernel(cl->kernels[k]);
    if (cl->program)
        clReleaseProgram(cl->program);
    if (cl->context && atomic_fetch_sub(&contexts_open, 1) == 1)
        CLBlastClearCache(); /* nothing left to report it to: best effort */
    if (cl->queue)
        clReleaseCommandQueue(cl->queue);
    if (cl->context)
        clReleaseContext(cl->context);
    free(cl);
}

static bpnn_status create_backend(const device_entry *entry, bpnn_precision precision,
                                  backend **out)
{
    opencl_backend *cl = calloc(1, sizeof *cl);
    if (!cl)
        return bpnn_fail_oom("OpenCL backend");
    cl->base.ops = &opencl_ops;
    cl->base.precision = precision;
    cl->info = entry->info;
    cl->platform = entry->platform;
    cl->device = entry->device;
    cl->acc_double = entry->info.fp64;
    cl->real_size = precision == BPNN_F64 ? sizeof(cl_double) : sizeof(cl_float);
    snprintf(cl->base.spec, sizeof cl->base.spec, "%s", entry->info.spec);
    snprintf(cl->base.name, sizeof cl->base.name, "%s", entry->info.name);
    /* The allocation checks (ops.c) compare with these, so BPNN_DEVICE_MEMORY
     * lowering them (select.c) makes the device behave as a smaller one. */
    cl->base.memory_bytes = entry->info.global_memory;
    cl->base.max_allocation = entry->info.max_allocation;
    /* "OpenCL 3.0" from "OpenCL 3.0 <vendor text>": the platform's own version
     * string can run to a line of build flags. */
    const char *version = entry->info.device_version;
    const char *space = strchr(version, ' ');
    int version_length = space && strchr(space + 1, ' ') ? (int)(strchr(space + 1, ' ') - version)
                                                         : (int)strlen(version);
    if (version_length > 40)
        version_length = 40;
    snprintf(cl->base.description, sizeof cl->base.description, "%.100s, %.*s, driver %.40s",
             entry->info.platform_name, version_length, version, entry->info.driver_version);

    cl_int err;
    cl_context_properties properties[] = {CL_CONTEXT_PLATFORM,
                                          (cl_context_properties)entry->platform, 0};
    cl->context = clCreateContext(properties, 1, &cl->device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        cl->context = NULL;
        bpnn_status status = opencl_fail_call(cl, "clCreateContext", err);
        opencl_destroy(&cl->base);
        return status;
    }
    atomic_fetch_add(&contexts_open, 1);
    /* Profiling is always on: be->profiling may be set after opening (--stats),
     * and only then are events requested. */
    cl->queue = clCreateCommandQueue(cl->context, cl->device, CL_QUEUE_PROFILING_ENABLE, &err);
    if (err != CL_SUCCESS) {
        cl->queue = NULL;
        bpnn_status status = opencl_fail_call(cl, "clCreateCommandQueue", err);
        opencl_destroy(&cl->base);
        return status;
    }
    /* the device's GEMM tuning file, before the slow builds (tuning.c) */
    bpnn_status status = opencl_tuning_open(cl, atomic_load(&contexts_open) == 1);
    if (status == BPNN_OK)
        status = build_program(cl);
    if (status == BPNN_OK)
        status = opencl_ops_init(cl);
    if (status != BPNN_OK) {
        opencl_destroy(&cl->base);
        return status;
    }
    *out = &cl->base;
    return BPNN_OK;
}

bpnn_status opencl_backend_open(const char *spec, bpnn_precision precision, backend **out)
{
    *out = NULL;
    if (!is_opencl_spec(spec))
        return bpnn_fail(BPNN_ERR_INVALID,
                         "unknown device: --device %s: use cpu, gpu, opencl, opencl:P:D or auto "
                         "(see bpnn-cl devices)",
                         spec);
    device_entry *entries;
    size_t n;
    bpnn_status listed = enumerate(&entries, &n);
    if (listed != BPNN_OK && strcmp(spec, "auto") == 0) {
        bpnn_clear_error(); /* a broken OpenCL installation has no GPU to offer */
        return BPNN_OK;
    }
    BPNN_TRY(listed);
    long chosen = resolve_entries(entries, n, spec, precision);
    if (chosen == -2) {
        free(entries);
        return bpnn_fail_oom("OpenCL device list");
    }
    if (chosen < 0 && strcmp(spec, "auto") == 0) {
        free(entries);
        return BPNN_OK; /* no GPU with this precision: the caller uses the CPU */
    }
    char list[700];
    describe_devices(entries, n, list, sizeof list);
    bpnn_status status = BPNN_OK;
    if (chosen < 0 && strcmp(spec, "gpu") == 0)
        status = bpnn_fail(BPNN_ERR_INVALID,
                           "no OpenCL GPU found: --device gpu: devices found: %s: use "
                           "--device opencl for another OpenCL device, or --device cpu",
                           list);
    else if (chosen < 0 && strcmp(spec, "opencl") == 0)
        status = bpnn_fail(BPNN_ERR_INVALID,
                           "no OpenCL device found: --device opencl: devices found: %s: use "
                           "--device cpu",
                           list);
    else if (chosen < 0)
        status = bpnn_fail(BPNN_ERR_INVALID,
                           "no such OpenCL device: --device %s: devices found: %s: use one of "
                           "those (0-based platform:device, as bpnn-cl devices lists) or "
                           "--device cpu",
                           spec, list);
    else if (precision == BPNN_F64 && !entries[chosen].info.fp64)
        status = bpnn_fail(BPNN_ERR_INVALID,
                           "precision f64 not supported: %s (%s) lacks cl_khr_fp64: use "
                           "--precision f32, or --device cpu for f64",
                           entries[chosen].info.spec, entries[chosen].info.name);
    if (status == BPNN_OK)
        status = create_backend(&entries[chosen], precision, out);
    free(entries);
    return status;
}

/* ---- test hooks ---------------------------------------------------------------- */

bpnn_status opencl_backend_force_gemm_path(backend *be, opencl_gemm_path path)
{
    opencl_backend *cl = opencl_of(be);
    /* Cached temp sizes were asked for under the old parameters. */
    memset(cl->gemm_sizes, 0, sizeof cl->gemm_sizes);
    cl->gemm_sizes_next = 0;
    if (path == OPENCL_GEMM_DEFAULT) {
        CLBlastStatusCode s = CLBlastClearCache();
        return s == CLBlastSuccess ? opencl_tuning_reapply(cl)
                                   : opencl_fail_clblast(cl, "CLBlastClearCache", s);
    }
    /* GEMM is direct when m n k < XGEMM_MIN_INDIRECT_SIZE^3. */
    const char *names[] = {"XGEMM_MIN_INDIRECT_SIZE"};
    size_t values[] = {path == OPENCL_GEMM_DIRECT ? (size_t)1 << 20 : 1};
    CLBlastStatusCode s = CLBlastOverrideParameters(
        cl->device, "GemmRoutine",
        be->precision == BPNN_F64 ? CLBlastPrecisionDouble : CLBlastPrecisionSingle, 1, names,
        values);
    return s == CLBlastSuccess
               ? BPNN_OK
               : opencl_fail_clblast(cl, "CLBlastOverrideParameters(GemmRoutine)", s);
}

size_t opencl_backend_gemm_temp_bytes(const backend *be)
{
    return ((const opencl_backend *)be)->gemm_temp_bytes;
}

int opencl_backend_accumulates_in_double(const backend *be)
{
    return ((const opencl_backend *)be)->acc_double;
}

size_t opencl_backend_work_group_size(const backend *be, const char *kernel)
{
    const opencl_backend *cl = (const opencl_backend *)be;
    for (int k = 0; k < K_COUNT; k++)
        if (strcmp(opencl_kernel_names[k], kernel) == 0)
            return cl->local_size[k];
    return 0;
}

size_t opencl_backend_reduce_groups(const backend *be)
{
    return ((const opencl_backend *)be)->reduce_groups;
}
