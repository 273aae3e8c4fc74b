/* opencl_internal.h — what runtime.c (devices, context, program) and ops.c
 * (the backend's ops) share. Not for use outside src/backend/opencl/. */
#ifndef BPNN_OPENCL_INTERNAL_H
#define BPNN_OPENCL_INTERNAL_H

#include <CL/cl.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "backend/opencl/opencl_backend.h"

/* Our kernels (the .cl files in kernels/), by the names they are built under. */
typedef enum opencl_kernel_id {
    K_BIAS_SIGMOID,
    K_OUTPUT_DELTA,
    K_SIGMOID_GRADIENT_MUL,
    K_REGULARIZE_ADD,
    K_ARGMAX_ROWS,
    K_SCALE_MATRIX,
    K_BIAS_GRADIENT,
    K_BIAS_GRADIENT_FINAL,
    K_DOT_PARTIAL,
    K_SUM_SQUARES_NONBIAS_PARTIAL,
    K_LOGISTIC_LOSS_PARTIAL,
    K_SUM_FINAL,
    K_MAX_ABS_PARTIAL,
    K_MAX_ABS_FINAL,
    K_GATHER_ROWS,
    K_GATHER_LABELS,
    K_SGD_UPDATE,
    K_MOMENTUM_UPDATE,
    K_ADAM_UPDATE,
    K_COUNT
} opencl_kernel_id;

extern const char *const opencl_kernel_names[K_COUNT];

struct backend_buffer {
    cl_mem mem;
    backend_buffer_kind kind;
    size_t count; /* elements */
    size_t bytes;
    backend_buffer *prev, *next; /* live buffers, released on destroy */
};

/* Profiling: events whose times are added to the stats once they complete. */
typedef struct opencl_timed_event {
    cl_event start; /* a marker before a GEMM (NULL for our kernels) */
    cl_event end;
    int is_gemm;
} opencl_timed_event;

#define OPENCL_PENDING_EVENTS 256
#define OPENCL_GEMM_SIZE_CACHE 32

typedef struct opencl_gemm_size_entry {
    int used;
    int trans_a, trans_b;
    size_t m, n, k, a_offset, lda, b_offset, ldb, c_offset, ldc;
    size_t bytes;
} opencl_gemm_size_entry;

typedef struct opencl_backend {
    backend base; /* first: a backend* is an opencl_backend* */
    opencl_device_info info;
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    cl_program program;
    cl_kernel kernels[K_COUNT];
    size_t local_size[K_COUNT]; /* opencl_work_group_size's choice per kernel */
    size_t max_items[2];        /* CL_DEVICE_MAX_WORK_ITEM_SIZES, dimensions 0 and 1 */
    size_t warp;                /* bias_gradient's preferred work-group size multiple */

    int acc_double;   /* reductions accumulate in double */
    size_t real_size; /* sizeof(REAL) on the device */

    /* Reduction partials: reduce_groups accumulators, then the BACKEND_SLOTS
     * slots (backend.h) where results stay until read_slots. */
    cl_mem partial;
    size_t reduce_groups;
    /* start_read_slots's copy in flight: its event (NULL when none), the
     * host memory it lands in, and how many slots */
    cl_event slots_read;
    cl_double slots_landing[BACKEND_SLOTS];
    size_t slots_read_count;

    /* The one CLBlast GEMM temp buffer and the sizes CLBlast asked for. */
    cl_mem gemm_temp;
    size_t gemm_temp_bytes;
    opencl_gemm_size_entry gemm_sizes[OPENCL_GEMM_SIZE_CACHE];
    size_t gemm_sizes_next;

    /* bias_gradient's per-slice column sums (acc_t), grown like gemm_temp. */
    cl_mem bias_partial;
    size_t bias_partial_bytes;

    uint64_t allocated_bytes; /* live buffers of ours */
    backend_buffer *buffers;

    opencl_timed_event pending[OPENCL_PENDING_EVENTS];
    size_t pending_count;

    /* GEMM tuning (tuning.c): what the GEMMs run with, and the tuning file's
     * parameters when they were applied (re-applied after CLBlastClearCache). */
    bpnn_tuning_info tuning_info;
    bpnn_tuning tuning;
    int tuning_applied;
} opencl_backend;

static inline opencl_backend *opencl_of(backend *be)
{
    return (opencl_backend *)be;
}

/* Names of OpenCL and CLBlast status codes ("CL_OUT_OF_RESOURCES"). */
const char *opencl_error_name(cl_int error);
const char *opencl_clblast_status_name(int status);

/* Fails with the call's name, the code and the device; memory exhaustion gets
 * a hint. Always BPNN_ERR_RUNTIME. */
bpnn_status opencl_fail_call(const opencl_backend *cl, const char *call, cl_int error);
bpnn_status opencl_fail_clblast(const opencl_backend *cl, const char *call, int status);

/* Adds completed profiling events to the stats and releases them (waits for them). */
bpnn_status opencl_harvest_events(opencl_backend *cl);

/* The backend's ops (ops.c), its constructor's second half and its destructor
 * (runtime.c; calls opencl_ops_cleanup). */
extern const backend_ops opencl_ops;
void opencl_destroy(backend *be);
bpnn_status opencl_ops_init(opencl_backend *cl);
void opencl_ops_cleanup(opencl_backend *cl);

/* GEMM tuning (tuning.c). At opening, once the context exists: applies the
 * device's tuning file, if any; `alone` says no other backend has a context
 * (CLBlast's parameters can be reset then). Fails only for a malformed
 * BPNN_TUNING; an unusable file is reported in tuning_info, not failed. */
bpnn_status opencl_tuning_open(opencl_backend *cl, int alone);
/* After CLBlastClearCache: the tuning file's parameters again, if applied. */
bpnn_status opencl_tuning_reapply(opencl_backend *cl);

#endif
