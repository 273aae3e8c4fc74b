/* ops.c — the OpenCL backend's ops: CLBlast for GEMM and BLAS-1 (axpy, scal,
 * copy), our kernels (the .cl files in kernels/) for the rest. Everything stays on the
 * device; only the scalar of a reduction comes back.
 *
 * dot and max_abs are ours, not CLBlast's Xdot/iXamax: Xdot sums in the
 * working precision (float for f32), and iXamax returns an index whose value
 * would cost a second read-back. Ours sum in double where the device has
 * fp64, else in compensated float, like the CPU path's dsdot. */
#include <clblast_c.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/opencl/opencl_internal.h"
#include "util/error.h"
#include "util/timer.h"

/* ---- kernel arguments and launches ----------------------------------------- */

typedef struct karg {
    size_t size;
    const void *value; /* NULL: __local space of `size` bytes */
} karg;

#define ARG_U(x)                                                                                   \
    {                                                                                              \
        sizeof(cl_ulong), &(cl_ulong)                                                              \
        {                                                                                          \
            (cl_ulong)(x)                                                                          \
        }                                                                                          \
    }
#define ARG_MEM(view)                                                                              \
    {                                                                                              \
        sizeof(cl_mem), &(view).buffer->mem                                                        \
    }
#define ARG_LOCAL(bytes)                                                                           \
    {                                                                                              \
        (bytes), NULL                                                                              \
    }

/* A REAL (or term_t) scalar in the device's width; the slot outlives the launch. */
typedef union scalar_slot {
    cl_float f;
    cl_double d;
} scalar_slot;

static karg scalar_arg(int as_double, scalar_slot *slot, double value)
{
    karg a;
    if (as_double) {
        slot->d = value;
        a.size = sizeof(cl_double);
        a.value = &slot->d;
    } else {
        slot->f = (cl_float)value;
        a.size = sizeof(cl_float);
        a.value = &slot->f;
    }
    return a;
}

static karg real_arg(const opencl_backend *cl, scalar_slot *slot, double value)
{
    return scalar_arg(cl->base.precision == BPNN_F64, slot, value);
}

/* The sums' accumulator on the device: double, or float2 (sum, compensation). */
#define ACC_BYTES 8

/* Counts a call in which the host waited for the device (a blocking read or
 * write, clFinish) that began at `started`: what a GPU punishes. */
static void count_wait(opencl_backend *cl, double started)
{
    cl->base.stats.host_syncs++;
    cl->base.stats.host_wait_seconds += bpnn_now() - started;
}

/* Queues one event (and, for GEMM, the marker before it) for the stats. */
static bpnn_status record_event(opencl_backend *cl, cl_event start, cl_event end, int is_gemm)
{
    if (cl->pending_count == OPENCL_PENDING_EVENTS) {
        bpnn_status status = opencl_harvest_events(cl);
        if (status != BPNN_OK) {
            if (start)
                clReleaseEvent(start);
            clReleaseEvent(end);
            return status;
        }
    }
    opencl_timed_event *e = &cl->pending[cl->pending_count++];
    e->start = start;
    e->end = end;
    e->is_gemm = is_gemm;
    return BPNN_OK;
}

static double event_time(cl_event event, cl_profiling_info what, int *ok)
{
    cl_ulong t = 0;
    if (clGetEventProfilingInfo(event, what, sizeof t, &t, NULL) != CL_SUCCESS)
        *ok = 0;
    return (double)t * 1e-9;
}

bpnn_status opencl_harvest_events(opencl_backend *cl)
{
    bpnn_status status = BPNN_OK;
    for (size_t i = 0; i < cl->pending_count; i++) {
        opencl_timed_event *e = &cl->pending[i];
        cl_int err = clWaitForEvents(1, &e->end);
        if (err != CL_SUCCESS && status == BPNN_OK)
            status = opencl_fail_call(cl, "clWaitForEvents", err);
        if (err == CL_SUCCESS) {
            int ok = 1;
            /* GEMM: from the end of the work before it (the marker) to the end of
             * its last kernel, so CLBlast's helper kernels count too. */
            double start = e->start ? event_time(e->start, CL_PROFILING_COMMAND_END, &ok)
                                    : event_time(e->end, CL_PROFILING_COMMAND_START, &ok);
            double end = event_time(e->end, CL_PROFILING_COMMAND_END, &ok);
            if (ok && end >= start) {
                if (e->is_gemm)
                    cl->base.stats.gemm_seconds += end - start;
                else
                    cl->base.stats.kernel_seconds += end - start;
            }
        }
        if (e->start)
            clReleaseEvent(e->start);
        clReleaseEvent(e->end);
    }
    cl->pending_count = 0;
    return status;
}

static bpnn_status set_args(opencl_backend *cl, opencl_kernel_id id, const karg *args, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        cl_int err = clSetKernelArg(cl->kernels[id], (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS) {
            char call[96];
            snprintf(call, sizeof call, "clSetKernelArg(%s, %zu)", opencl_kernel_names[id], i);
            return opencl_fail_call(cl, call, err);
        }
    }
    return BPNN_OK;
}

/* Runs kernel `id` over a grid of `dims` dimensions, global[d] work-items in
 * groups of local[d] (global[d] a multiple). */
static bpnn_status launch_grid(opencl_backend *cl, opencl_kernel_id id, const karg *args,
                               size_t arg_count, cl_uint dims, const size_t *global,
                               const size_t *local)
{
    BPNN_TRY(set_args(cl, id, args, arg_count));
    cl_event event = NULL;
    cl_int err = clEnqueueNDRangeKernel(cl->queue, cl->kernels[id], dims, NULL, global, local, 0,
                                        NULL, cl->base.profiling ? &event : NULL);
    if (err != CL_SUCCESS) {
        char call[96];
        snprintf(call, sizeof call, "clEnqueueNDRangeKernel(%s)", opencl_kernel_names[id]);
        return opencl_fail_call(cl, call, err);
    }
    cl->base.stats.kernel_calls++;
    return event ? record_event(cl, NULL, event, 0) : BPNN_OK;
}

/* Runs kernel `id` over `global` work-items in groups of `local` (global a multiple). */
static bpnn_status launch(opencl_backend *cl, opencl_kernel_id id, const karg *args,
                          size_t arg_count, size_t global, size_t local)
{
    return launch_grid(cl, id, args, arg_count, 1, &global, &local);
}

/* One work-item per element; the kernels ignore the rounded-up tail. */
static bpnn_status launch_items(opencl_backend *cl, opencl_kernel_id id, const karg *args,
                                size_t arg_count, size_t items)
{
    if (items == 0)
        return BPNN_OK;
    size_t local = cl->local_size[id];
    size_t global = (items + local - 1) / local * local;
    return launch(cl, id, args, arg_count, global, local);
}

/* A view must lie inside its buffer: a bad offset from the core would otherwise
 * write past the buffer on the device, silently. */
static bpnn_status check_view(const opencl_backend *cl, const char *op, backend_view v, size_t span,
                              backend_buffer_kind kind)
{
    if (!v.buffer)
        return bpnn_fail(BPNN_ERR_RUNTIME, "internal error: %s: no buffer: on %s", op,
                         cl->info.spec);
    if (v.buffer->kind != kind)
        return bpnn_fail(
            BPNN_ERR_RUNTIME, "internal error: %s: %s buffer given where %s is expected: on %s", op,
            v.buffer->kind == BACKEND_INDEX ? "an index" : "a REAL",
            kind == BACKEND_INDEX ? "an index buffer" : "a REAL buffer", cl->info.spec);
    if (span > 0 && (v.offset > v.buffer->count || span > v.buffer->count - v.offset))
        return bpnn_fail(BPNN_ERR_RUNTIME,
                         "internal error: %s: elements %zu..%zu outside a buffer of %zu: on %s", op,
                         v.offset, v.offset + span - 1, v.buffer->count, cl->info.spec);
    return BPNN_OK;
}

/* ---- memory ------------------------------------------------------------------ */

/* The limits are the backend's memory fields: the device's own figures, or the
 * smaller ones BPNN_DEVICE_MEMORY pretends (select.c). */
static bpnn_status create_mem(opencl_backend *cl, size_t bytes, const char *what, cl_mem *out)
{
    *out = NULL;
    uint64_t max_allocation = cl->base.max_allocation, global_memory = cl->base.memory_bytes;
    int pretended_allocation = max_allocation < cl->info.max_allocation;
    int pretended_memory = global_memory < cl->info.global_memory;
    if (bytes > max_allocation)
        return bpnn_fail(BPNN_ERR_RUNTIME,
                         "device memory exhausted: %s (%zu bytes) exceeds the largest "
                         "allocation of %s (%s), %" PRIu64 " bytes (%s): "
                         "use fewer rows (--limit), smaller layers or --device cpu",
                         what, bytes, cl->info.spec, cl->info.name, max_allocation,
                         pretended_allocation ? "as BPNN_DEVICE_MEMORY pretends"
                                              : "CL_DEVICE_MAX_MEM_ALLOC_SIZE");
    if (cl->allocated_bytes + bytes > global_memory)
        return bpnn_fail(BPNN_ERR_RUNTIME,
                         "device memory exhausted: %s (%zu bytes) on top of %" PRIu64
                         " bytes in use exceeds the global memory of %s (%s), %" PRIu64
                         " bytes%s: use fewer rows (--limit), smaller layers or --device cpu",
                         what, bytes, cl->allocated_bytes, cl->info.spec, cl->info.name,
                         global_memory,
                         pretended_memory ? " (as BPNN_DEVICE_MEMORY pretends)" : "");
    cl_int err;
    cl_mem mem = clCreateBuffer(cl->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS)
        return opencl_fail_call(cl, "clCreateBuffer", err);
    cl->allocated_bytes += bytes;
    *out = mem;
    return BPNN_OK;
}

static void release_mem(opencl_backend *cl, cl_mem mem, size_t bytes)
{
    if (!mem)
        return;
    clReleaseMemObject(mem);
    cl->allocated_bytes -= bytes;
}

static bpnn_status ocl_alloc(backend *be, backend_buffer_kind kind, size_t count,
                             backend_buffer **out)
{
    opencl_backend *cl = opencl_of(be);
    *out = NULL;
    size_t element = kind == BACKEND_INDEX ? sizeof(cl_int) : cl->real_size;
    if (count > SIZE_MAX / element)
        return bpnn_fail(BPNN_ERR_INVALID, "buffer of %zu elements overflows the address space",
                         count);
    size_t bytes = (count ? count : 1) * element; /* OpenCL refuses empty buffers */
    backend_buffer *buffer = calloc(1, sizeof *buffer);
    if (!buffer)
        return bpnn_fail_oom("OpenCL buffer record");
    char what[64];
    snprintf(what, sizeof what, "a buffer of %zu %s", count,
             kind == BACKEND_INDEX ? "labels" : "values");
    bpnn_status status = create_mem(cl, bytes, what, &buffer->mem);
    if (status != BPNN_OK) {
        free(buffer);
        return status;
    }
    buffer->kind = kind;
    buffer->count = count;
    buffer->bytes = bytes;
    buffer->next = cl->buffers;
    if (cl->buffers)
        cl->buffers->prev = buffer;
    cl->buffers = buffer;
    *out = buffer;
    return BPNN_OK;
}

static void ocl_release(backend *be, backend_buffer *buffer)
{
    opencl_backend *cl = opencl_of(be);
    if (!buffer)
        return;
    if (buffer->prev)
        buffer->prev->next = buffer->next;
    else
        cl->buffers = buffer->next;
    if (buffer->next)
        buffer->next->prev = buffer->prev;
    release_mem(cl, buffer->mem, buffer->bytes);
    free(buffer);
}

/* Conversions go through a bounded staging area, not a copy of the whole set. */
#define STAGING_ELEMENTS ((size_t)1 << 18)

static bpnn_status ocl_upload(backend *be, backend_view dst, size_t count, const double *src)
{
    opencl_backend *cl = opencl_of(be);
    BPNN_TRY(check_view(cl, "upload", dst, count, BACKEND_REAL));
    if (count == 0)
        return BPNN_OK;
    cl_int err = CL_SUCCESS;
    if (be->precision == BPNN_F64) {
        double started = bpnn_now();
        err = clEnqueueWriteBuffer(cl->queue, dst.buffer->mem, CL_TRUE,
                                   dst.offset * sizeof(cl_double), count * sizeof(cl_double), src,
                                   0, NULL, NULL);
        count_wait(cl, started);
    } else {
        size_t chunk = count < STAGING_ELEMENTS ? count : STAGING_ELEMENTS;
        cl_float *staging = malloc(chunk * sizeof *staging);
        if (!staging)
            return bpnn_fail_oom("OpenCL upload staging");
        for (size_t done = 0; done < count && err == CL_SUCCESS; done += chunk) {
            size_t n = count - done < chunk ? count - done : chunk;
            for (size_t i = 0; i < n; i++)
                staging[i] = (cl_float)src[done + i];
            double started = bpnn_now();
            err = clEnqueueWriteBuffer(cl->queue, dst.buffer->mem, CL_TRUE,
                                       (dst.offset + done) * sizeof(cl_float), n * sizeof(cl_float),
                                       staging, 0, NULL, NULL);
            count_wait(cl, started);
        }
        free(staging);
    }
    if (err != CL_SUCCESS)
        return opencl_fail_call(cl, "clEnqueueWriteBuffer", err);
    be->stats.bytes_to_device += count * cl->real_size;
    return BPNN_OK;
}

static bpnn_status ocl_download(backend *be, backend_view src, size_t count, double *dst)
{
    opencl_backend *cl = opencl_of(be);
    BPNN_TRY(check_view(cl, "download", src, count, BACKEND_REAL));
    if (count == 0)
        return BPNN_OK;
    cl_int err = CL_SUCCESS;
    if (be->precision == BPNN_F64) {
        double started = bpnn_now();
        err =
            clEnqueueReadBuffer(cl->queue, src.buffer->mem, CL_TRUE, src.offset * sizeof(cl_double),
                                count * sizeof(cl_double), dst, 0, NULL, NULL);
        count_wait(cl, started);
    } else {
        size_t chunk = count < STAGING_ELEMENTS ? count : STAGING_ELEMENTS;
        cl_float *staging = malloc(chunk * sizeof *staging);
        if (!staging)
            return bpnn_fail_oom("OpenCL download staging");
        for (size_t done = 0; done < count && err == CL_SUCCESS; done += chunk) {
            size_t n = count - done < chunk ? count - done : chunk;
            double started = bpnn_now();
            err = clEnqueueReadBuffer(cl->queue, src.buffer->mem, CL_TRUE,
                                      (src.offset + done) * sizeof(cl_float), n * sizeof(cl_float),
                                      staging, 0, NULL, NULL);
            count_wait(cl, started);
            for (size_t i = 0; i < n && err == CL_SUCCESS; i++)
                dst[done + i] = (double)staging[i];
        }
        free(staging);
    }
    if (err != CL_SUCCESS)
        return opencl_fail_call(cl, "clEnqueueReadBuffer", err);
    be->stats.bytes_from_device += count * cl->real_size;
    return BPNN_OK;
}

static bpnn_status ocl_upload_index(backend *be, backend_view dst, size_t count, const int32_t *src)
{
    opencl_backend *cl = opencl_of(be);
    BPNN_TRY(check_view(cl, "upload_index", dst, count, BACKEND_INDEX));
    if (count == 0)
        return BPNN_OK;
    double started = bpnn_now();
    cl_int err =
        clEnqueueWriteBuffer(cl->queue, dst.buffer->mem, CL_TRUE, dst.offset * sizeof(cl_int),
                             count * sizeof(cl_int), src, 0, NULL, NULL);
    count_wait(cl, started);
    if (err != CL_SUCCESS)
        return opencl_fail_call(cl, "clEnqueueWriteBuffer(labels)", err);
    be->stats.bytes_to_device += count * sizeof(cl_int);
    return BPNN_OK;
}

static bpnn_status ocl_download_index(backend *be, backend_view src, size_t count, int32_t *dst)
{
    opencl_backend *cl = opencl_of(be);
    BPNN_TRY(check_view(cl, "download_index", src, count, BACKEND_INDEX));
    if (count == 0)
        return BPNN_OK;
    double started = bpnn_now();
    cl_int err =
        clEnqueueReadBuffer(cl->queue, src.buffer->mem, CL_TRUE, src.offset * sizeof(cl_int),
                            count * sizeof(cl_int), dst, 0, NULL, NULL);
    count_wait(cl, started);
    if (err != CL_SUCCESS)
        return opencl_fail_call(cl, "clEnqueueReadBuffer(labels)", err);
    be->stats.bytes_from_device += count * sizeof(cl_int);
    return BPNN_OK;
}

/* ---- GEMM ---------------------------------------------------------------------- */

/* What CLBlast needs as temp space for this call (0 on the direct path); the
 * core repeats a handful of shapes, so the answers are remembered. */
static bpnn_status gemm_temp_size(opencl_backend *cl, int trans_a, int trans_b, size_t m, size_t n,
                                  size_t k, size_t a_offset, size_t lda, size_t b_offset,
                                  size_t ldb, size_t c_offset, size_t ldc, size_t *bytes)
{
    for (size_t i = 0; i < OPENCL_GEMM_SIZE_CACHE; i++) {
        const opencl_gemm_size_entry *e = &cl->gemm_sizes[i];
        if (e->used && e->trans_a == trans_a && e->trans_b == trans_b && e->m == m && e->n == n &&
            e->k == k && e->a_offset == a_offset && e->lda == lda && e->b_offset == b_offset &&
            e->ldb == ldb && e->c_offset == c_offset && e->ldc == ldc) {
            *bytes = e->bytes;
            return BPNN_OK;
        }
    }
    CLBlastTranspose ta = trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    size_t size = 0;
    CLBlastStatusCode s;
    const char *call;
    if (cl->base.precision == BPNN_F64) {
        call = "CLBlastDGemmTempBufferSize";
        s = CLBlastDGemmTempBufferSize(CLBlastLayoutRowMajor, ta, tb, m, n, k, a_offset, lda,
                                       b_offset, ldb, c_offset, ldc, &cl->queue, &size);
    } else {
        call = "CLBlastSGemmTempBufferSize";
        s = CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor, ta, tb, m, n, k, a_offset, lda,
                                       b_offset, ldb, c_offset, ldc, &cl->queue, &size);
    }
    if (s != CLBlastSuccess)
        return opencl_fail_clblast(cl, call, s);
    opencl_gemm_size_entry *e = &cl->gemm_sizes[cl->gemm_sizes_next];
    cl->gemm_sizes_next = (cl->gemm_sizes_next + 1) % OPENCL_GEMM_SIZE_CACHE;
    *e = (opencl_gemm_size_entry){1,   trans_a,  trans_b, m,        n,   k,   a_offset,
                                  lda, b_offset, ldb,     c_offset, ldc, size};
    *bytes = size;
    return BPNN_OK;
}

/* Replaces a scratch buffer of ours (*mem, *held bytes) with one of `bytes`. */
static bpnn_status grow_scratch(opencl_backend *cl, cl_mem *mem, size_t *held, size_t bytes,
                                const char *what)
{
    /* Commands already queued keep the old buffer alive until they finish. */
    release_mem(cl, *mem, *held);
    *mem = NULL;
    *held = 0;
    BPNN_TRY(create_mem(cl, bytes, what, mem));
    *held = bytes;
    return BPNN_OK;
}

static bpnn_status grow_gemm_temp(opencl_backend *cl, size_t bytes)
{
    return grow_scratch(cl, &cl->gemm_temp, &cl->gemm_temp_bytes, bytes, "the GEMM temp buffer");
}

static bpnn_status ocl_gemm(backend *be, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                            double alpha, backend_view a, size_t lda, backend_view b, size_t ldb,
                            double beta, backend_view c, size_t ldc)
{
    opencl_backend *cl = opencl_of(be);
    if (m == 0 || n == 0)
        return BPNN_OK;
    if (k == 0) { /* C = beta C, as BLAS does; CLBlast refuses k = 0 */
        BPNN_TRY(check_view(cl, "gemm", c, (m - 1) * ldc + n, BACKEND_REAL));
        scalar_slot s;
        karg args[] = {ARG_U(m),   ARG_U(n),        real_arg(cl, &s, beta),
                       ARG_MEM(c), ARG_U(c.offset), ARG_U(ldc)};
        return launch_items(cl, K_SCALE_MATRIX, args, 6, m * n);
    }
    BPNN_TRY(check_view(cl, "gemm", a, 0, BACKEND_REAL));
    BPNN_TRY(check_view(cl, "gemm", b, 0, BACKEND_REAL));
    BPNN_TRY(check_view(cl, "gemm", c, 0, BACKEND_REAL));
    size_t need = 0;
    BPNN_TRY(gemm_temp_size(cl, trans_a, trans_b, m, n, k, a.offset, lda, b.offset, ldb, c.offset,
                            ldc, &need));
    if (need > cl->gemm_temp_bytes)
        BPNN_TRY(grow_gemm_temp(cl, need));

    cl_event marker = NULL, event = NULL;
    if (be->profiling) {
        cl_int err = clEnqueueMarkerWithWaitList(cl->queue, 0, NULL, &marker);
        if (err != CL_SUCCESS)
            return opencl_fail_call(cl, "clEnqueueMarkerWithWaitList", err);
    }
    CLBlastTranspose ta = trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode s;
    if (be->precision == BPNN_F64)
        s = CLBlastDgemmWithTempBuffer(CLBlastLayoutRowMajor, ta, tb, m, n, k, alpha, a.buffer->mem,
                                       a.offset, lda, b.buffer->mem, b.offset, ldb, beta,
                                       c.buffer->mem, c.offset, ldc, &cl->queue,
                                       be->profiling ? &event : NULL, cl->gemm_temp);
    else
        s = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, ta, tb, m, n, k, (float)alpha,
                                       a.buffer->mem, a.offset, lda, b.buffer->mem, b.offset, ldb,
                                       (float)beta, c.buffer->mem, c.offset, ldc, &cl->queue,
                                       be->profiling ? &event : NULL, cl->gemm_temp);
    if (s != CLBlastSuccess) {
        if (marker)
            clReleaseEvent(marker);
        if (event)
            clReleaseEvent(event);
        char call[160];
        snprintf(call, sizeof call, "CLBlast%cgemmWithTempBuffer(%c%c, m=%zu n=%zu k=%zu)",
                 be->precision == BPNN_F64 ? 'D' : 'S', trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m,
                 n, k);
        return opencl_fail_clblast(cl, call, s);
    }
    be->stats.gemm_calls++;
    if (event)
        return record_event(cl, marker, event, 1);
    if (marker)
        clReleaseEvent(marker);
    return BPNN_OK;
}

/* ---- the network's element-wise steps --------------------------------------------- */

static bpnn_status ocl_bias_sigmoid(backend *be, size_t rows, size_t cols, backend_view bias,
                                    size_t bias_stride, backend_view z, backend_view a)
{
    opencl_backend *cl = opencl_of(be);
    size_t items = rows * cols;
    if (items == 0)
        return BPNN_OK;
    BPNN_TRY(check_view(cl, "bias_sigmoid", bias, (cols - 1) * bias_stride + 1, BACKEND_REAL));
    BPNN_TRY(check_view(cl, "bias_sigmoid", z, items, BACKEND_REAL));
    BPNN_TRY(check_view(cl, "bias_sigmoid", a, items, BACKEND_REAL));
    karg args[] = {ARG_U(rows),        ARG_U(cols),        ARG_MEM(bias),
                   ARG_U(bias.offset), ARG_U(bias_stride), ARG_MEM(z),
                   ARG_U(z.offset),    ARG_MEM(a),         ARG_U(a.offset)};
    return launch_items(cl, K_BIAS_SIGMOID, args, 9, items);
}

static bpnn_status ocl_output_delta(backend *be, size_t rows, size_t classes, backend_view h,
                                    backend_view labels, backend_view delta)
{
    opencl_backend *cl = opencl_of(be);
    size_t items = rows * classes;
    if (items == 0)
        return BPNN_OK;
    BPNN_TRY(check_view(cl, "output_delta", h, items, BACKEND_REAL));
    BPNN_TRY(check_view(cl, "output_delta", labels, rows, BACKEND_INDEX));
    BPNN_TRY(check_view(cl, "output_delta", delta, items, BACKEND_REAL));
    karg args[] = {ARG_U(rows),     ARG_U(classes),       ARG_MEM(h),     ARG_U(h.offset),
                   ARG_MEM(labels), ARG_U(labels.offset), ARG_MEM(delta), ARG_U(delta.offset)};
    return launch_items(cl, K_OUTPUT_DELTA, args, 8, items);
}

static bpnn_status ocl_sigmoid_gradient_mul(backend *be, size_t count, backend_view a,
                                            backend_view delta)
{
    opencl_backend *cl = opencl_of(be);
    if (count == 0)
        return BPNN_OK;
    BPNN_TRY(check_view(cl, "sigmoid_gradient_mul", a, count, BACKEND_REAL));
    BPNN_TRY(check_view(cl, "sigmoid_gradient_mul", delta, count, BACKEND_REAL));
    karg args[] = {ARG_U(count), ARG_MEM(a), ARG_U(a.offset), ARG_MEM(delta), ARG_U(delta.offset)};
    return launch_items(cl, K_SIGMOID_GRADIENT_MUL, args, 5, count);
}

/* bias_gradient's plan (opencl_backend.h): a lane sums at least this many rows
 * of a slice, else the lanes' fold and the partials' trip through global
 * memory cost more than the extra work-groups gain. */
#define BIAS_ROWS_PER_LANE 8
/* Columns a work-group's row spans at most, unless the warp is wider: 32
 * consecutive floats are one 128-byte memory transaction. */
#define BIAS_COALESCED_WIDTH 32

opencl_bias_plan opencl_plan_bias_gradient(size_t rows, size_t cols, size_t group, size_t warp,
                                           size_t max_width, size_t max_lanes, size_t fill_groups)
{
    opencl_bias_plan p;
    size_t widest = warp > BIAS_COALESCED_WIDTH ? warp : BIAS_COALESCED_WIDTH;
    if (widest > group)
        widest = group;
    if (widest > max_width)
        widest = max_width;
    /* powers of two: the lanes' tree needs group / width to be one */
    p.width = 1;
    while (p.width < cols && p.width * 2 <= widest)
        p.width *= 2;
    p.lanes = group / p.width;
    while (p.lanes > max_lanes && p.lanes > 1)
        p.lanes /= 2;
    if (p.lanes == 0)
        p.lanes = 1;
    p.tiles = cols / p.width + (cols % p.width != 0);
    size_t tiles = p.tiles ? p.tiles : 1;
    size_t want = fill_groups / tiles + (fill_groups % tiles != 0);
    size_t most = rows / (p.lanes * BIAS_ROWS_PER_LANE);
    size_t slices = want < most ? want : most;
    if (slices < 1)
        slices = 1;
    /* rounded up to whole lanes, then as many slices as that takes: none empty */
    size_t per_slice = rows / slices + (rows % slices != 0);
    p.slice_rows = (per_slice / p.lanes + (per_slice % p.lanes != 0)) * p.lanes;
    if (p.slice_rows == 0)
        p.slice_rows = p.lanes;
    p.slices = rows / p.slice_rows + (rows % p.slice_rows != 0);
    if (p.slices == 0)
        p.slices = 1;
    return p;
}

static opencl_bias_plan bias_plan(const opencl_backend *cl, size_t rows, size_t cols)
{
    return opencl_plan_bias_gradient(rows, cols, cl->local_size[K_BIAS_GRADIENT], cl->warp,
                                     cl->max_items[0], cl->max_items[1], cl->reduce_groups);
}

opencl_bias_plan opencl_backend_bias_gradient_plan(const backend *be, size_t rows, size_t cols)
{
    return bias_plan((const opencl_backend *)be, rows, cols);
}

static bpnn_status ocl_bias_gradient(backend *be, size_t rows, size_t cols, backend_view delta,
                                     double scale, double beta, backend_view grad,
                                     size_t grad_stride)
{
    opencl_backend *cl = opencl_of(be);
    if (cols == 0)
        return BPNN_OK;
    BPNN_TRY(check_view(cl, "bias_gradient", delta, rows * cols, BACKEND_REAL));
    BPNN_TRY(check_view(cl, "bias_gradient", grad, (cols - 1) * grad_stride + 1, BACKEND_REAL));
    opencl_bias_plan p = bias_plan(cl, rows, cols);
    if (p.slices > 1) {
        if (cols > SIZE_MAX / ACC_BYTES / p.slices)
            return bpnn_fail(BPNN_ERR_INVALID,
                             "bias_gradient: %zu x %zu partial sums overflow the address space",
                             p.slices, cols);
        size_t bytes = p.slices * cols * ACC_BYTES;
        if (bytes > cl->bias_partial_bytes)
            BPNN_TRY(grow_scratch(cl, &cl->bias_partial, &cl->bias_partial_bytes, bytes,
                                  "the bias gradient's partial sums"));
    }
    scalar_slot s, b;
    karg args[] = {ARG_U(rows),
                   ARG_U(cols),
                   ARG_U(p.slice_rows),
                   ARG_MEM(delta),
                   ARG_U(delta.offset),
                   scalar_arg(cl->acc_double, &s, scale),
                   scalar_arg(cl->acc_double, &b, beta),
                   ARG_MEM(grad),
                   ARG_U(grad.offset),
                   ARG_U(grad_stride),
                   {sizeof(cl_mem), &cl->bias_partial},
                   ARG_LOCAL(p.width * p.lanes * ACC_BYTES)};
    size_t global[2] = {p.tiles * p.width, p.slices * p.lanes};
    size_t local[2] = {p.width, p.lanes};
    BPNN_TRY(launch_grid(cl, K_BIAS_GRADIENT, args, 12, 2, global, local));
    if (p.slices == 1)
        return BPNN_OK; /* the one pass wrote grad */
    karg final_args[] = {ARG_U(cols),
                         ARG_U(p.slices),
                         {sizeof(cl_mem), &cl->bias_partial},
                         scalar_arg(cl->acc_double, &s, scale),
                         scalar_arg(cl->acc_double, &b, beta),
                         ARG_MEM(grad),
                         ARG_U(grad.offset),
                         ARG_U(grad_stride)};
    return launch_items(cl, K_BIAS_GRADIENT_FINAL, final_args, 8, cols);
}

static bpnn_status ocl_regularize_add(backend *be, size_t rows, size_t cols, backend_view theta,
                                      double coef, backend_view grad)
{
    opencl_backend *cl = opencl_of(be);
    size_t items = rows * cols;
    if (items == 0)
        return BPNN_OK;
    BPNN_TRY(check_view(cl, "regularize_add", theta, items, BACKEND_REAL));
    BPNN_TRY(check_view(cl, "regularize_add", grad, items, BACKEND_REAL));
    scalar_slot s;
    karg args[] = {ARG_U(rows),
                   ARG_U(cols),
                   ARG_MEM(theta),
                   ARG_U(theta.offset),
                   real_arg(cl, &s, coef),
                   ARG_MEM(grad),
                   ARG_U(grad.offset)};
    return launch_items(cl, K_REGULARIZE_ADD, args, 7, items);
}

static bpnn_status ocl_argmax_rows(backend *be, size_t rows, size_t classes, backend_view h,
                                   backend_view classes_out)
{
    opencl_backend *cl = opencl_of(be);
    if (rows == 0)
        return BPNN_OK;
    BPNN_TRY(check_view(cl, "argmax_rows", h, rows * classes, BACKEND_REAL));
    BPNN_TRY(check_view(cl, "argmax_rows", classes_out, rows, BACKEND_INDEX));
    karg args[] = {ARG_U(rows),     ARG_U(classes),       ARG_MEM(h),
                   ARG_U(h.offset), ARG_MEM(classes_out), ARG_U(classes_out.offset)};
    return launch_items(cl, K_ARGMAX_ROWS, args, 6, rows);
}

/* ---- mini-batches ---------------------------------------------------------------- */

static bpnn_status ocl_gather_rows(backend *be, size_t rows, size_t cols, backend_view src,
                                   backend_view index, backend_view dst)
{
    opencl_backend *cl = opencl_of(be);
    size_t items = rows * cols;
    if (items == 0)
        return BPNN_OK;
    BPNN_TRY(check_view(cl, "gather_rows", src, 1, BACKEND_REAL));
    BPNN_TRY(check_view(cl, "gather_rows", index, rows, BACKEND_INDEX));
    BPNN_TRY(check_view(cl, "gather_rows", dst, items, BACKEND_REAL));
    /* The kernel bounds each index by the rows src's buffer holds. */
    size_t src_rows = (src.buffer->count - src.offset) / cols;
    karg args[] = {ARG_U(rows),         ARG_U(cols),     ARG_MEM(src),
                   ARG_U(src.offset),   ARG_U(src_rows), ARG_MEM(index),
                   ARG_U(index.offset), ARG_MEM(dst),    ARG_U(dst.offset)};
    return launch_items(cl, K_GATHER_ROWS, args, 9, items);
}

static bpnn_status ocl_gather_labels(backend *be, size_t rows, backend_view src, backend_view index,
                                     backend_view dst)
{
    opencl_backend *cl = opencl_of(be);
    if (rows == 0)
        return BPNN_OK;
    BPNN_TRY(check_view(cl, "gather_labels", src, 1, BACKEND_INDEX));
    BPNN_TRY(check_view(cl, "gather_labels", index, rows, BACKEND_INDEX));
    BPNN_TRY(check_view(cl, "gather_labels", dst, rows, BACKEND_INDEX));
    size_t src_count = src.buffer->count - src.offset;
    karg args[] = {ARG_U(rows),    ARG_MEM(src),        ARG_U(src.offset), ARG_U(src_count),
                   ARG_MEM(index), ARG_U(index.offset), ARG_MEM(dst),      ARG_U(dst.offset)};
    return launch_items(cl, K_GATHER_LABELS, args, 8, rows);
}

static bpnn_status ocl_update(backend *be, const backend_update *u, size_t n, backend_view params,
                              backend_view grad, backend_view s1, backend_view s2)
{
    opencl_backend *cl = opencl_of(be);
    if (u->kind != UPDATE_SGD && u->kind != UPDATE_MOMENTUM && u->kind != UPDATE_NESTEROV &&
        u->kind != UPDATE_ADAM)
        return bpnn_fail(BPNN_ERR_RUNTIME,
                         "internal error: update: unknown optimizer kind %d: on %s", (int)u->kind,
                         cl->info.spec);
    if (n == 0)
        return BPNN_OK;
    BPNN_TRY(check_view(cl, "update", params, n, BACKEND_REAL));
    BPNN_TRY(check_view(cl, "update", grad, n, BACKEND_REAL));
    scalar_slot lr;
    if (u->kind == UPDATE_SGD) {
        karg args[] = {ARG_U(n),        real_arg(cl, &lr, u->lr),
                       ARG_MEM(params), ARG_U(params.offset),
                       ARG_MEM(grad),   ARG_U(grad.offset)};
        return launch_items(cl, K_SGD_UPDATE, args, 6, n);
    }
    BPNN_TRY(check_view(cl, "update", s1, n, BACKEND_REAL));
    if (u->kind == UPDATE_MOMENTUM || u->kind == UPDATE_NESTEROV) {
        scalar_slot momentum;
        cl_int nesterov = u->kind == UPDATE_NESTEROV;
        karg args[] = {ARG_U(n),
                       real_arg(cl, &lr, u->lr),
                       real_arg(cl, &momentum, u->momentum),
                       {sizeof nesterov, &nesterov},
                       ARG_MEM(params),
                       ARG_U(params.offset),
                       ARG_MEM(grad),
                       ARG_U(grad.offset),
                       ARG_MEM(s1),
                       ARG_U(s1.offset)};
        return launch_items(cl, K_MOMENTUM_UPDATE, args, 10, n);
    }
    BPNN_TRY(check_view(cl, "update", s2, n, BACKEND_REAL));
    scalar_slot beta1, beta2, epsilon, bias1, bias2;
    karg args[] = {ARG_U(n),
                   real_arg(cl, &lr, u->lr),
                   real_arg(cl, &beta1, u->beta1),
                   real_arg(cl, &beta2, u->beta2),
                   real_arg(cl, &epsilon, u->epsilon),
                   real_arg(cl, &bias1, u->bias1),
                   real_arg(cl, &bias2, u->bias2),
                   ARG_MEM(params),
                   ARG_U(params.offset),
                   ARG_MEM(grad),
                   ARG_U(grad.offset),
                   ARG_MEM(s1),
                   ARG_U(s1.offset),
                   ARG_MEM(s2),
                   ARG_U(s2.offset)};
    return launch_items(cl, K_ADAM_UPDATE, args, 15, n);
}

/* ---- reductions ------------------------------------------------------------------ */

static bpnn_status check_slots(const char *op, size_t first, size_t count)
{
    if (first > BACKEND_SLOTS || count > BACKEND_SLOTS - first)
        return bpnn_fail(BPNN_ERR_INVALID, "%s: slots %zu..%zu outside the %d the backend has", op,
                         first, first + count, BACKEND_SLOTS);
    return BPNN_OK;
}

/* Runs pass 1 (`args` then the partial buffer and the scratch space) over
 * `items` terms and pass 2 over the partials, which leaves the result in slot
 * `slot` (backend.h) or adds it there: nothing is read back, nothing waits.
 * The slots follow the partials in the same buffer, an accumulator each. */
static bpnn_status reduce(opencl_backend *cl, opencl_kernel_id pass1, karg *args, size_t arg_count,
                          size_t items, int is_max, size_t slot, int accumulate)
{
    BPNN_TRY(check_slots(opencl_kernel_names[pass1], slot, 1));
    size_t element = is_max ? cl->real_size : ACC_BYTES;
    size_t local = cl->local_size[pass1];
    size_t groups = (items + local - 1) / local;
    if (groups > cl->reduce_groups)
        groups = cl->reduce_groups;
    if (groups > 0) { /* else pass 2 folds no partials: a zero */
        args[arg_count] = (karg){sizeof(cl_mem), &cl->partial};
        args[arg_count + 1] = (karg){local * element, NULL};
        BPNN_TRY(launch(cl, pass1, args, arg_count + 2, groups * local, local));
    }
    opencl_kernel_id pass2 = is_max ? K_MAX_ABS_FINAL : K_SUM_FINAL;
    size_t local2 = cl->local_size[pass2];
    karg final_args[] = {ARG_U(groups),
                         ARG_U(cl->reduce_groups + slot),
                         ARG_U(accumulate ? 1 : 0),
                         {sizeof(cl_mem), &cl->partial},
                         ARG_LOCAL(local2 * element)};
    return launch(cl, pass2, final_args, 5, local2, local2);
}

/* Slots as the device holds them (double, or a float sum and what it lost)
 * to doubles. */
static void slots_to_doubles(const opencl_backend *cl, const unsigned char *bytes, size_t count,
                             double *out)
{
    for (size_t i = 0; i < count; i++) {
        if (cl->acc_double) {
            cl_double v;
            memcpy(&v, bytes + i * ACC_BYTES, sizeof v);
            out[i] = v;
        } else {
            cl_float sum_and_lost[2];
            memcpy(sum_and_lost, bytes + i * ACC_BYTES, sizeof sum_and_lost);
            out[i] = (double)sum_and_lost[0] + (double)sum_and_lost[1];
        }
    }
}

/* Copies slots [first, first + count) to `host`, blocking or not (then
 * *event is the copy's). */
static bpnn_status enqueue_slots_read(opencl_backend *cl, size_t first, size_t count,
                                      cl_bool blocking, void *host, cl_event *event)
{
    double started = bpnn_now();
    cl_int err = clEnqueueReadBuffer(cl->queue, cl->partial, blocking,
                                     (cl->reduce_groups + first) * ACC_BYTES, count * ACC_BYTES,
                                     host, 0, NULL, event);
    if (blocking)
        count_wait(cl, started);
    if (err != CL_SUCCESS)
        return opencl_fail_call(cl, "clEnqueueReadBuffer(reduction slots)", err);
    cl->base.stats.bytes_from_device += count * ACC_BYTES;
    return BPNN_OK;
}

static bpnn_status ocl_read_slots(backend *be, size_t first, size_t count, double *out)
{
    opencl_backend *cl = opencl_of(be);
    BPNN_TRY(check_slots("read_slots", first, count));
    if (count == 0)
        return BPNN_OK;
    unsigned char bytes[BACKEND_SLOTS * ACC_BYTES];
    BPNN_TRY(enqueue_slots_read(cl, first, count, CL_TRUE, bytes, NULL));
    slots_to_doubles(cl, bytes, count, out);
    return BPNN_OK;
}

static bpnn_status ocl_start_read_slots(backend *be, size_t first, size_t count)
{
    opencl_backend *cl = opencl_of(be);
    BPNN_TRY(check_slots("start_read_slots", first, count));
    if (cl->slots_read)
        return bpnn_fail(BPNN_ERR_INVALID, "start_read_slots: a read is in flight already");
    cl_event event = NULL;
    BPNN_TRY(enqueue_slots_read(cl, first, count, CL_FALSE, cl->slots_landing, &event));
    /* queued, not yet sent to the device: flushed, it runs while the host
     * queues more */
    cl_int err = clFlush(cl->queue);
    if (err != CL_SUCCESS) {
        clWaitForEvents(1, &event);
        clReleaseEvent(event);
        return opencl_fail_call(cl, "clFlush", err);
    }
    cl->slots_read = event;
    cl->slots_read_count = count;
    return BPNN_OK;
}

static bpnn_status ocl_finish_read_slots(backend *be, double *out)
{
    opencl_backend *cl = opencl_of(be);
    if (!cl->slots_read)
        return bpnn_fail(BPNN_ERR_INVALID, "finish_read_slots: no read in flight");
    double started = bpnn_now();
    cl_int err = clWaitForEvents(1, &cl->slots_read);
    count_wait(cl, started);
    clReleaseEvent(cl->slots_read);
    cl->slots_read = NULL;
    if (err != CL_SUCCESS)
        return opencl_fail_call(cl, "clWaitForEvents(reduction slots)", err);
    slots_to_doubles(cl, (const unsigned char *)cl->slots_landing, cl->slots_read_count, out);
    return BPNN_OK;
}

static bpnn_status ocl_sum_squares_nonbias(backend *be, size_t rows, size_t cols,
                                           backend_view theta, size_t slot, int accumulate)
{
    opencl_backend *cl = opencl_of(be);
    BPNN_TRY(check_view(cl, "sum_squares_nonbias", theta, rows * cols, BACKEND_REAL));
    karg args[6] = {ARG_U(rows), ARG_U(cols), ARG_MEM(theta), ARG_U(theta.offset)};
    return reduce(cl, K_SUM_SQUARES_NONBIAS_PARTIAL, args, 4, rows * cols, 0, slot, accumulate);
}

static bpnn_status ocl_logistic_loss(backend *be, size_t rows, size_t classes, backend_view z,
                                     backend_view labels, size_t slot, int accumulate)
{
    opencl_backend *cl = opencl_of(be);
    BPNN_TRY(check_view(cl, "logistic_loss", z, rows * classes, BACKEND_REAL));
    BPNN_TRY(check_view(cl, "logistic_loss", labels, rows, BACKEND_INDEX));
    karg args[8] = {ARG_U(rows),     ARG_U(classes),  ARG_MEM(z),
                    ARG_U(z.offset), ARG_MEM(labels), ARG_U(labels.offset)};
    return reduce(cl, K_LOGISTIC_LOSS_PARTIAL, args, 6, rows * classes, 0, slot, accumulate);
}

static bpnn_status ocl_dot(backend *be, size_t n, backend_view x, backend_view y, size_t slot)
{
    opencl_backend *cl = opencl_of(be);
    BPNN_TRY(check_view(cl, "dot", x, n, BACKEND_REAL));
    BPNN_TRY(check_view(cl, "dot", y, n, BACKEND_REAL));
    karg args[7] = {ARG_U(n), ARG_MEM(x), ARG_U(x.offset), ARG_MEM(y), ARG_U(y.offset)};
    return reduce(cl, K_DOT_PARTIAL, args, 5, n, 0, slot, 0);
}

static bpnn_status ocl_max_abs(backend *be, size_t n, backend_view x, size_t slot)
{
    opencl_backend *cl = opencl_of(be);
    BPNN_TRY(check_view(cl, "max_abs", x, n, BACKEND_REAL));
    karg args[5] = {ARG_U(n), ARG_MEM(x), ARG_U(x.offset)};
    return reduce(cl, K_MAX_ABS_PARTIAL, args, 3, n, 1, slot, 0);
}

/* ---- BLAS-1 through CLBlast ---------------------------------------------------------- */

static bpnn_status clblast_done(opencl_backend *cl, CLBlastStatusCode s, const char *call,
                                cl_event event)
{
    if (s != CLBlastSuccess) {
        if (event)
            clReleaseEvent(event);
        return opencl_fail_clblast(cl, call, s);
    }
    cl->base.stats.kernel_calls++;
    return event ? record_event(cl, NULL, event, 0) : BPNN_OK;
}

static bpnn_status ocl_axpy(backend *be, size_t n, double alpha, backend_view x, backend_view y)
{
    opencl_backend *cl = opencl_of(be);
    if (n == 0)
        return BPNN_OK;
    BPNN_TRY(check_view(cl, "axpy", x, n, BACKEND_REAL));
    BPNN_TRY(check_view(cl, "axpy", y, n, BACKEND_REAL));
    cl_event event = NULL;
    cl_event *ev = be->profiling ? &event : NULL;
    if (be->precision == BPNN_F64)
        return clblast_done(cl,
                            CLBlastDaxpy(n, alpha, x.buffer->mem, x.offset, 1, y.buffer->mem,
                                         y.offset, 1, &cl->queue, ev),
                            "CLBlastDaxpy", event);
    return clblast_done(cl,
                        CLBlastSaxpy(n, (float)alpha, x.buffer->mem, x.offset, 1, y.buffer->mem,
                                     y.offset, 1, &cl->queue, ev),
                        "CLBlastSaxpy", event);
}

static bpnn_status ocl_scal(backend *be, size_t n, double alpha, backend_view x)
{
    opencl_backend *cl = opencl_of(be);
    if (n == 0)
        return BPNN_OK;
    BPNN_TRY(check_view(cl, "scal", x, n, BACKEND_REAL));
    cl_event event = NULL;
    cl_event *ev = be->profiling ? &event : NULL;
    if (be->precision == BPNN_F64)
        return clblast_done(cl, CLBlastDscal(n, alpha, x.buffer->mem, x.offset, 1, &cl->queue, ev),
                            "CLBlastDscal", event);
    return clblast_done(cl,
                        CLBlastSscal(n, (float)alpha, x.buffer->mem, x.offset, 1, &cl->queue, ev),
                        "CLBlastSscal", event);
}

static bpnn_status ocl_copy(backend *be, size_t n, backend_view x, backend_view y)
{
    opencl_backend *cl = opencl_of(be);
    if (n == 0 || (x.buffer == y.buffer && x.offset == y.offset))
        return BPNN_OK;
    BPNN_TRY(check_view(cl, "copy", x, n, BACKEND_REAL));
    BPNN_TRY(check_view(cl, "copy", y, n, BACKEND_REAL));
    if (x.buffer == y.buffer && x.offset < y.offset + n && y.offset < x.offset + n)
        return bpnn_fail(BPNN_ERR_RUNTIME,
                         "internal error: copy: overlapping ranges (elements %zu and %zu, %zu "
                         "long) are not supported: on %s",
                         x.offset, y.offset, n, cl->info.spec);
    cl_event event = NULL;
    cl_event *ev = be->profiling ? &event : NULL;
    if (be->precision == BPNN_F64)
        return clblast_done(
            cl,
            CLBlastDcopy(n, x.buffer->mem, x.offset, 1, y.buffer->mem, y.offset, 1, &cl->queue, ev),
            "CLBlastDcopy", event);
    return clblast_done(
        cl, CLBlastScopy(n, x.buffer->mem, x.offset, 1, y.buffer->mem, y.offset, 1, &cl->queue, ev),
        "CLBlastScopy", event);
}

static bpnn_status ocl_finish(backend *be)
{
    opencl_backend *cl = opencl_of(be);
    double started = bpnn_now();
    cl_int err = clFinish(cl->queue);
    count_wait(cl, started);
    if (err != CL_SUCCESS)
        return opencl_fail_call(cl, "clFinish", err);
    return opencl_harvest_events(cl);
}

/* ---- setup ---------------------------------------------------------------------------- */

bpnn_status opencl_ops_init(opencl_backend *cl)
{
    /* reduce_groups: set with the work-group sizes (runtime.c) */
    BPNN_TRY(create_mem(cl, (cl->reduce_groups + BACKEND_SLOTS) * ACC_BYTES, "the reduction buffer",
                        &cl->partial));
    /* Never NULL: CLBlast would then allocate a temp buffer per call. */
    BPNN_TRY(grow_gemm_temp(cl, 4096));
    /* Never NULL: bias_gradient's one-pass launches name it without using it. */
    BPNN_TRY(grow_scratch(cl, &cl->bias_partial, &cl->bias_partial_bytes, 4096,
                          "the bias gradient's partial sums"));
    return BPNN_OK;
}

void opencl_ops_cleanup(opencl_backend *cl)
{
    if (cl->slots_read) { /* a run that failed between the two halves */
        clWaitForEvents(1, &cl->slots_read);
        clReleaseEvent(cl->slots_read);
        cl->slots_read = NULL;
    }
    while (cl->buffers)
        ocl_release(&cl->base, cl->buffers);
    release_mem(cl, cl->partial, (cl->reduce_groups + BACKEND_SLOTS) * ACC_BYTES);
    cl->partial = NULL;
    release_mem(cl, cl->gemm_temp, cl->gemm_temp_bytes);
    cl->gemm_temp = NULL;
    cl->gemm_temp_bytes = 0;
    release_mem(cl, cl->bias_partial, cl->bias_partial_bytes);
    cl->bias_partial = NULL;
    cl->bias_partial_bytes = 0;
}

const backend_ops opencl_ops = {
    .destroy = opencl_destroy,
    .alloc = ocl_alloc,
    .release = ocl_release,
    .upload = ocl_upload,
    .download = ocl_download,
    .upload_index = ocl_upload_index,
    .download_index = ocl_download_index,
    .gemm = ocl_gemm,
    .bias_sigmoid = ocl_bias_sigmoid,
    .output_delta = ocl_output_delta,
    .sigmoid_gradient_mul = ocl_sigmoid_gradient_mul,
    .bias_gradient = ocl_bias_gradient,
    .regularize_add = ocl_regularize_add,
    .sum_squares_nonbias = ocl_sum_squares_nonbias,
    .logistic_loss = ocl_logistic_loss,
    .argmax_rows = ocl_argmax_rows,
    .gather_rows = ocl_gather_rows,
    .gather_labels = ocl_gather_labels,
    .update = ocl_update,
    .dot = ocl_dot,
    .max_abs = ocl_max_abs,
    .read_slots = ocl_read_slots,
    .start_read_slots = ocl_start_read_slots,
    .finish_read_slots = ocl_finish_read_slots,
    .axpy = ocl_axpy,
    .scal = ocl_scal,
    .copy = ocl_copy,
    .finish = ocl_finish,
};
