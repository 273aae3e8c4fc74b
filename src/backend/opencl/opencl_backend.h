/* opencl_backend.h — the OpenCL backend seen from outside: device listing,
 * opening by --device string, and a few hooks for tests.
 *
 * No OpenCL types cross this header, so select.c, the CLI and the tests
 * include it without the OpenCL headers.
 *
 * Device strings (docs/contract.md "Devices"), enumeration order being platforms
 * in clGetPlatformIDs order and, within each, devices of every type in
 * clGetDeviceIDs order (the order of `clinfo -l`):
 *   "gpu"         the first GPU;
 *   "opencl"      the first GPU, else the first accelerator, else the first
 *                 CPU device (any other type last);
 *   "opencl:P:D"  platform P, device D, both 0-based;
 *   "auto"        the first GPU that has the requested precision; when there
 *                 is none, opencl_backend_open returns BPNN_OK with *out NULL
 *                 and the caller falls back to the CPU backend.
 *
 * Environment:
 *   BPNN_KERNEL_DIR             read common.cl, network.cl, reduce.cl,
 *                               optimizer.cl from this folder instead of the
 *                               copies embedded at build time (kernel
 *                               development; the tests use it to reach the
 *                               build-failure path).
 *   BPNN_OPENCL_ASSUME_NO_FP64  when set to 1, every device is treated as
 *                               lacking cl_khr_fp64: f64 is refused (exit 2)
 *                               and f32 reductions use compensated float
 *                               summation, as on such a device.
 *   BPNN_DEVICE_MEMORY          bytes (suffix K, M or G: powers of 1024): a
 *                               device opened through bpnn_device_open acts
 *                               as if it had at most this much global memory
 *                               and largest allocation; allocations beyond
 *                               fail as "device memory exhausted" (backend.h,
 *                               select.c). opencl_backend_open alone ignores
 *                               it.
 *   BPNN_TUNING_DIR, BPNN_TUNING  where GEMM tuning files are, and off to
 *                               apply none (bpnn.h "GEMM tuning"). */
#ifndef BPNN_OPENCL_BACKEND_H
#define BPNN_OPENCL_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

typedef struct opencl_device_info {
    int platform_index;
    int device_index;
    char spec[32]; /* "opencl:P:D" */
    char name[128];
    char vendor[128];
    const char *type; /* "GPU", "CPU", "accelerator", "other" */
    int is_gpu;
    unsigned compute_units;
    uint64_t global_memory;   /* bytes */
    uint64_t max_allocation;  /* bytes, CL_DEVICE_MAX_MEM_ALLOC_SIZE */
    int fp64;                 /* cl_khr_fp64 (as the simulation above sees it) */
    char device_version[128]; /* "OpenCL 3.0 PoCL ..." */
    char driver_version[64];
    char platform_name[128];
    char platform_version[128];
} opencl_device_info;

/* Every OpenCL device in enumeration order. No platform at all is not an
 * error: BPNN_OK with *count 0 (and *out NULL). Free with free(). */
bpnn_status opencl_list_devices(opencl_device_info **out, size_t *count);

/* Opens the device `spec` names (above) in `precision`. Errors: BPNN_ERR_INVALID
 * (exit 2) for a string that names no device, listing the devices found, and for
 * f64 on a device without cl_khr_fp64; BPNN_ERR_RUNTIME (exit 1) for a driver
 * failure, including a kernel build failure (its log in the message). */
bpnn_status opencl_backend_open(const char *spec, bpnn_precision precision, backend **out);

/* Which device of `list` (as opencl_list_devices gives it) `spec` names in
 * `precision`: its index, or -1 when none does ("auto": no GPU with that
 * precision, so the CPU). An f64 request on a device without fp64 still
 * resolves; opening it then fails. */
long opencl_resolve(const opencl_device_info *list, size_t count, const char *spec,
                    bpnn_precision precision);

/* 1 when some OpenCL GPU has `precision` (what "auto" would open), else 0;
 * never fails (no platform: 0). */
int opencl_gpu_available(bpnn_precision precision);

/* 1 when an OpenCL platform with at least one device exists (test probes). */
int opencl_platform_available(void);

/* The kernel sources embedded at build time, in build order. */
size_t opencl_kernel_source_count(void);
const char *opencl_kernel_source_name(size_t index);
const char *opencl_kernel_source_text(size_t index, size_t *length);

/* ---- work-group sizes (runtime.c, ops.c) ---- */

/* What one kernel's work-group size is chosen from: the device's and the
 * kernel's own limits, as clGetDeviceInfo and clGetKernelWorkGroupInfo give
 * them. */
typedef struct opencl_group_limits {
    size_t kernel_max;       /* CL_KERNEL_WORK_GROUP_SIZE (its registers, say) */
    size_t device_max;       /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    size_t dim0_max;         /* CL_DEVICE_MAX_WORK_ITEM_SIZES[0] */
    size_t multiple;         /* CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE: the warp */
    uint64_t local_memory;   /* CL_DEVICE_LOCAL_MEM_SIZE */
    uint64_t kernel_local;   /* CL_KERNEL_LOCAL_MEM_SIZE: the kernel's own __local */
    size_t scratch_per_item; /* __local bytes a launch adds per work-item */
} opencl_group_limits;

/* The work-group size of a kernel: the largest power of two (the reductions'
 * trees halve it) within every limit above and at most 256 work-items (or one
 * warp, if a device's warp were larger), so a multiple of any power-of-two
 * warp that fits; 0 when not even one work-item's scratch fits. */
size_t opencl_work_group_size(const opencl_group_limits *limits);

/* Work-groups that fill a device of `compute_units` (8 per unit, 8 to 1024):
 * the reductions' partial sums and bias_gradient's row slices aim at it. */
size_t opencl_fill_groups(unsigned compute_units);

/* bias_gradient's grid (ops.c, kernels/network.cl): work-groups of `width`
 * consecutive columns by `lanes` rows, `tiles` of them across the columns and
 * `slices` down the rows, each slice `slice_rows` rows (a multiple of lanes;
 * the last may hold fewer). One slice: one pass that writes grad; more: a
 * second pass adds the slices' partial sums per column. */
typedef struct opencl_bias_plan {
    size_t width, lanes;
    size_t tiles, slices, slice_rows;
} opencl_bias_plan;

/* The grid for rows x cols: width the smallest power of two that holds cols,
 * at most max(warp, 32) (a warp's loads then fall on one row's consecutive
 * values) and within `group` (the kernel's power-of-two work-group size) and
 * max_width; lanes the rest of the group, at most max_lanes; as many slices
 * as fill `fill_groups` work-groups together with the tiles, but no fewer
 * than 8 rows per lane in each. */
opencl_bias_plan opencl_plan_bias_gradient(size_t rows, size_t cols, size_t group, size_t warp,
                                           size_t max_width, size_t max_lanes, size_t fill_groups);

/* ---- GEMM tuning (tuning.c; the files are ../tuning.c's) ---- */

/* The device an open OpenCL backend runs on, or NULL when `be` is not one. */
const opencl_device_info *opencl_backend_info(const backend *be);
/* What the backend's GEMMs run with (bpnn_device_tuning). */
void opencl_tuning_info(const backend *be, bpnn_tuning_info *out);
/* bpnn_device_set_tuning on an OpenCL backend (`tuning` checked well formed,
 * or NULL). */
bpnn_status opencl_tuning_set(backend *be, const bpnn_tuning *tuning);

/* ---- test hooks ---- */

/* Which CLBlast GEMM implementation the backend's device uses from now on, by
 * overriding the "GemmRoutine" parameter XGEMM_MIN_INDIRECT_SIZE for its
 * precision. The override is process-wide (CLBlast keeps no per-queue state);
 * OPENCL_GEMM_DEFAULT restores what the backend was opened with:
 * CLBlastClearCache(), then the GEMM tuning file's parameters again when one
 * was applied. */
typedef enum opencl_gemm_path {
    OPENCL_GEMM_DEFAULT = 0,
    OPENCL_GEMM_DIRECT = 1,
    OPENCL_GEMM_INDIRECT = 2
} opencl_gemm_path;
bpnn_status opencl_backend_force_gemm_path(backend *be, opencl_gemm_path path);

/* Bytes held by the backend's one GEMM temp buffer (grows, never shrinks). */
size_t opencl_backend_gemm_temp_bytes(const backend *be);

/* 1 when the backend's reductions accumulate in double, 0 when compensated in float. */
int opencl_backend_accumulates_in_double(const backend *be);

/* The work-group size chosen for the kernel named `kernel` ("bias_gradient"),
 * 0 for no such kernel; the work-groups the reductions spread over. */
size_t opencl_backend_work_group_size(const backend *be, const char *kernel);
size_t opencl_backend_reduce_groups(const backend *be);

/* The grid bias_gradient runs rows x cols on, on this backend's device. */
opencl_bias_plan opencl_backend_bias_gradient_plan(const backend *be, size_t rows, size_t cols);

#endif
