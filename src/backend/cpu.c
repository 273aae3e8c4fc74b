/* cpu.c — the host backend: GEMMs through CBLAS (OpenBLAS), everything else
 * in plain C loops. It is the fast path without a GPU and the reference the
 * OpenCL backend is checked against, op by op. */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "util/error.h"

struct backend_buffer {
    backend_buffer_kind kind;
    size_t count;
    void *data;
};

/* BPNN_FAIL_BUFFER=N: the Nth buffer allocation fails as if memory had run
 * out, so that tests can sweep N over a run and reach every caller's error
 * path (buffers are allocated by one thread at a time). */
static int injected_buffer_failure(void)
{
    static long target = -1, count;
    if (target < 0) {
        const char *value = getenv("BPNN_FAIL_BUFFER");
        target = value ? strtol(value, NULL, 10) : 0;
    }
    return target > 0 && ++count == target;
}

/* A cache line, and the widest vector load (AVX-512). */
#define BUFFER_ALIGNMENT 64

static bpnn_status cpu_alloc(backend_buffer_kind kind, size_t count, size_t element_size,
                             backend_buffer **out)
{
    *out = NULL;
    if (count > (SIZE_MAX - BUFFER_ALIGNMENT) / element_size)
        return bpnn_fail(BPNN_ERR_INVALID, "buffer of %zu elements overflows the address space",
                         count);
    int injected = injected_buffer_failure();
    backend_buffer *buffer = injected ? NULL : calloc(1, sizeof *buffer);
    /* Aligned the same way in every run: OpenBLAS's kernels take other paths
     * (and round differently) for other alignments, and a run must repeat
     * bit for bit whatever the heap looked like. */
    size_t bytes = (count ? count * element_size : 1) + BUFFER_ALIGNMENT - 1;
    void *data = injected
                     ? NULL
                     : aligned_alloc(BUFFER_ALIGNMENT, bytes / BUFFER_ALIGNMENT * BUFFER_ALIGNMENT);
    if (!buffer || !data) {
        free(buffer);
        free(data);
        return bpnn_fail(BPNN_ERR_RUNTIME, "out of host memory: %zu bytes for a buffer on cpu",
                         count * element_size);
    }
    buffer->kind = kind;
    buffer->count = count;
    buffer->data = data;
    *out = buffer;
    return BPNN_OK;
}

static void cpu_release(backend *be, backend_buffer *buffer)
{
    (void)be;
    free(buffer->data);
    free(buffer);
}

static void cpu_destroy(backend *be)
{
    free(be);
}

static bpnn_status cpu_upload_index(backend *be, backend_view dst, size_t count, const int32_t *src)
{
    (void)be;
    memcpy((int32_t *)dst.buffer->data + dst.offset, src, count * sizeof *src);
    return BPNN_OK;
}

static bpnn_status cpu_download_index(backend *be, backend_view src, size_t count, int32_t *dst)
{
    (void)be;
    memcpy(dst, (const int32_t *)src.buffer->data + src.offset, count * sizeof *dst);
    return BPNN_OK;
}

static bpnn_status cpu_finish(backend *be)
{
    (void)be;
    return BPNN_OK;
}

/* An index outside src reads no memory: the label becomes -1, which matches
 * no class (as the OpenCL kernel does). */
static bpnn_status cpu_gather_labels(backend *be, size_t rows, backend_view src, backend_view index,
                                     backend_view dst)
{
    (void)be;
    const int32_t *s = (const int32_t *)src.buffer->data + src.offset;
    const int32_t *idx = (const int32_t *)index.buffer->data + index.offset;
    int32_t *d = (int32_t *)dst.buffer->data + dst.offset;
    size_t src_count = src.buffer->count - src.offset;
    for (size_t i = 0; i < rows; i++)
        d[i] = idx[i] >= 0 && (size_t)idx[i] < src_count ? s[idx[i]] : -1;
    return BPNN_OK;
}

static double dot_f32_in_double(blasint n, const float *x, blasint incx, const float *y,
                                blasint incy)
{
    (void)incx, (void)incy; /* always 1 here */
    double sum = 0;
    for (blasint i = 0; i < n; i++)
        sum += (double)x[i] * (double)y[i];
    return sum;
}

#define CPU_CONCAT_(a, b) a##_##b
#define CPU_CONCAT(a, b) CPU_CONCAT_(a, b)

#define REAL float
#define SUFFIX f32
#define BLAS(name) cblas_s##name
#define MATH(fn) fn##f
/* sdot accumulates in float, and OpenBLAS 0.3.21's dsdot kernels for Haswell
 * and newer lose bits too (5e-9 relative over 1001 terms, measured): f32 dot
 * products are a plain double loop. */
#define DOT dot_f32_in_double
#include "cpu_ops.inc"
#undef REAL
#undef SUFFIX
#undef BLAS
#undef MATH
#undef DOT

#define REAL double
#define SUFFIX f64
#define BLAS(name) cblas_d##name
#define MATH(fn) fn
#define DOT cblas_ddot
#include "cpu_ops.inc"
#undef REAL
#undef SUFFIX
#undef BLAS
#undef MATH
#undef DOT

bpnn_status cpu_backend_create(bpnn_precision precision, backend **out)
{
    backend *be = calloc(1, sizeof *be);
    if (!be)
        return bpnn_fail_oom("cpu backend");
    be->ops = precision == BPNN_F64 ? &cpu_ops_f64 : &cpu_ops_f32;
    be->precision = precision;
    snprintf(be->spec, sizeof be->spec, "cpu");
    /* OpenBLAS packs X once for the forward GEMM and once for the gradient
     * GEMM: in blocks of 1.5-3 MB of rows the second packing reads from
     * cache; measured with 784 features, 5000 rows, f64: 9.5 ms per
     * evaluation against 12.2 ms unblocked. */
    be->batch_bytes = (size_t)2 << 20;
    be->blas_core = bpnn_blas_core();
    /* Host memory: the training plan does not limit itself unless
     * BPNN_DEVICE_MEMORY says so (select.c). */
    be->memory_bytes = 0;
    be->max_allocation = 0;
    snprintf(be->name, sizeof be->name, "host CPU (OpenBLAS %s, %d threads)", bpnn_blas_core(),
             openblas_get_num_threads());
    snprintf(be->description, sizeof be->description, "CBLAS: OpenBLAS, core %s", bpnn_blas_core());
    *out = be;
    return BPNN_OK;
}
