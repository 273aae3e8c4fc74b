/* backend.h — the one interface between the algorithm and a device.
 *
 * The core (src/core/) is written once over these ops; the CPU backend
 * (cpu.c) and the OpenCL backend (opencl/) implement them. Buffers live on
 * the device and hold either REAL values (float or double, the backend's
 * precision) or int32 class labels. Positions inside a buffer are given as
 * views (buffer + element offset), so Theta[:,1:] is used in place.
 *
 * Matrices are row-major. Scalars cross the interface as double; reductions
 * accumulate in double (or compensated where a device lacks fp64).
 *
 * Reductions do not hand their result to the host: each writes it into one
 * of BACKEND_SLOTS scalar slots the backend keeps beside its buffers (on a
 * GPU, in device memory), and read_slots brings slots to the host in one
 * transfer. A GPU makes the host pay a round trip for every read, so the
 * optimizers queue the several sums they need and read them together (once
 * per line-search step). backend_read_* below wrap the one-sum case. */
#ifndef BPNN_BACKEND_H
#define BPNN_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "bpnn.h"

/* The public bpnn_device is a backend: one struct, two names. */
typedef struct bpnn_device backend;
typedef struct backend_buffer backend_buffer;

typedef struct backend_view {
    backend_buffer *buffer;
    size_t offset; /* in elements */
} backend_view;

static inline backend_view view_at(backend_buffer *buffer, size_t offset)
{
    backend_view v = {buffer, offset};
    return v;
}

typedef enum backend_buffer_kind { BACKEND_REAL = 0, BACKEND_INDEX = 1 } backend_buffer_kind;

/* Scalar slots for reductions; the last is the scratch of backend_read_*. */
#define BACKEND_SLOTS 16
#define BACKEND_SLOT_SCRATCH (BACKEND_SLOTS - 1)

/* One step of a mini-batch optimizer, applied in one fused pass over the
 * parameters p with gradient g and per-parameter state s1, s2:
 *   SGD       p -= lr g
 *   MOMENTUM  s1 = momentum s1 + g; p -= lr s1
 *   NESTEROV  s1 = momentum s1 + g; p -= lr (g + momentum s1)
 *   ADAM      s1 = beta1 s1 + (1 - beta1) g; s2 = beta2 s2 + (1 - beta2) g^2;
 *             p -= lr (s1 / bias1) / (sqrt(s2 / bias2) + epsilon)
 * with bias1 = 1 - beta1^t, bias2 = 1 - beta2^t at step t (computed by the
 * caller). Arithmetic is in the backend's precision. */
typedef enum backend_update_kind {
    UPDATE_SGD = 0,
    UPDATE_MOMENTUM = 1,
    UPDATE_NESTEROV = 2,
    UPDATE_ADAM = 3
} backend_update_kind;

typedef struct backend_update {
    backend_update_kind kind;
    double lr;
    double momentum;
    double beta1, beta2, epsilon;
    double bias1, bias2;
} backend_update;

typedef struct backend_ops {
    void (*destroy)(backend *be);

    /* ---- memory ---- */
    bpnn_status (*alloc)(backend *be, backend_buffer_kind kind, size_t count, backend_buffer **out);
    void (*release)(backend *be, backend_buffer *buffer);
    /* REAL buffers: values converted from/to double on the way. */
    bpnn_status (*upload)(backend *be, backend_view dst, size_t count, const double *src);
    bpnn_status (*download)(backend *be, backend_view src, size_t count, double *dst);
    /* INDEX buffers. */
    bpnn_status (*upload_index)(backend *be, backend_view dst, size_t count, const int32_t *src);
    bpnn_status (*download_index)(backend *be, backend_view src, size_t count, int32_t *dst);

    /* ---- the network ---- */
    /* C (m x n) = alpha * op(A) * op(B) + beta * C, op(A) m x k, op(B) k x n. */
    bpnn_status (*gemm)(backend *be, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                        double alpha, backend_view a, size_t lda, backend_view b, size_t ldb,
                        double beta, backend_view c, size_t ldc);
    /* z[i,j] += bias[j * bias_stride]; a[i,j] = sigmoid(z[i,j]). a may equal z.
     * z and a are rows x cols, contiguous. */
    bpnn_status (*bias_sigmoid)(backend *be, size_t rows, size_t cols, backend_view bias,
                                size_t bias_stride, backend_view z, backend_view a);
    /* delta[i,k] = h[i,k] - (labels[i] == k). */
    bpnn_status (*output_delta)(backend *be, size_t rows, size_t classes, backend_view h,
                                backend_view labels, backend_view delta);
    /* delta[i] *= a[i] * (1 - a[i]), i < count. */
    bpnn_status (*sigmoid_gradient_mul)(backend *be, size_t count, backend_view a,
                                        backend_view delta);
    /* grad[j * grad_stride] = scale * sum_i delta[i,j] + beta * grad[j * grad_stride];
     * with beta = 0 grad is not read (it may hold anything). */
    bpnn_status (*bias_gradient)(backend *be, size_t rows, size_t cols, backend_view delta,
                                 double scale, double beta, backend_view grad, size_t grad_stride);
    /* For a Theta of rows x cols (row-major, column 0 bias):
     * grad[r,c] += coef * theta[r,c] for every c >= 1. */
    bpnn_status (*regularize_add)(backend *be, size_t rows, size_t cols, backend_view theta,
                                  double coef, backend_view grad);
    /* Into slot `slot` (set, or added to it when `accumulate`): the sum of
     * theta[r,c]^2 over c >= 1. */
    bpnn_status (*sum_squares_nonbias)(backend *be, size_t rows, size_t cols, backend_view theta,
                                       size_t slot, int accumulate);
    /* Into slot `slot` (set, or added to it when `accumulate`): the sum over
     * i,k of softplus(z[i,k]) - (labels[i] == k) * z[i,k]. */
    bpnn_status (*logistic_loss)(backend *be, size_t rows, size_t classes, backend_view z,
                                 backend_view labels, size_t slot, int accumulate);
    /* classes[i] = argmax_k h[i,k] (first maximum). */
    bpnn_status (*argmax_rows)(backend *be, size_t rows, size_t classes, backend_view h,
                               backend_view classes_out);

    /* ---- mini-batches ---- */
    /* dst[i,:] = src[index[i],:] for i < rows; src and dst are row-major with
     * `cols` columns, index an INDEX view of `rows` entries. An index outside
     * the rows src's buffer holds gives a row of NaN (never a read outside
     * the buffer). */
    bpnn_status (*gather_rows)(backend *be, size_t rows, size_t cols, backend_view src,
                               backend_view index, backend_view dst);
    /* dst[i] = src[index[i]] for i < rows, all INDEX views (labels); an index
     * outside src's buffer gives -1. */
    bpnn_status (*gather_labels)(backend *be, size_t rows, backend_view src, backend_view index,
                                 backend_view dst);
    /* One fused optimizer step over n parameters (backend_update above); s1
     * and s2 are ignored where the kind needs no state (their buffer may then
     * be NULL). */
    bpnn_status (*update)(backend *be, const backend_update *u, size_t n, backend_view params,
                          backend_view grad, backend_view s1, backend_view s2);

    /* ---- vectors (the optimizer) ---- */
    /* Into slot `slot`: x . y, and max |x[i]| (a NaN wins). */
    bpnn_status (*dot)(backend *be, size_t n, backend_view x, backend_view y, size_t slot);
    bpnn_status (*max_abs)(backend *be, size_t n, backend_view x, size_t slot);
    /* out[i] = slot first + i for i < count, after the work queued before:
     * the one point where the host waits for the reductions. */
    bpnn_status (*read_slots)(backend *be, size_t first, size_t count, double *out);
    /* read_slots in two halves, so that the host reads while the device
     * works: start_read_slots queues the copy of slots [first, first + count)
     * and returns at once; finish_read_slots waits for that copy alone (not
     * for the work queued after it) and gives its values. One read may be in
     * flight at a time; a backend closed with one in flight drops it. */
    bpnn_status (*start_read_slots)(backend *be, size_t first, size_t count);
    bpnn_status (*finish_read_slots)(backend *be, double *out);
    bpnn_status (*axpy)(backend *be, size_t n, double alpha, backend_view x, backend_view y);
    bpnn_status (*scal)(backend *be, size_t n, double alpha, backend_view x);
    bpnn_status (*copy)(backend *be, size_t n, backend_view x, backend_view y);
    /* Waits for queued work (timing, before reading results). */
    bpnn_status (*finish)(backend *be);
} backend_ops;

/* Counters a backend keeps for --stats (bpnn.h). */
typedef bpnn_device_stats backend_stats;

struct bpnn_device {
    const backend_ops *ops;
    bpnn_precision precision;
    char spec[32];         /* resolved device string: "cpu", "opencl:0:0" */
    char name[128];        /* device name */
    char description[256]; /* platform, driver, BLAS core */
    backend_stats stats;
    int profiling; /* collect kernel/GEMM times in stats (OpenCL events) */
    /* The core evaluates data sets in blocks of about this many bytes of
     * input rows, so a block stays in cache from the forward GEMM to the
     * gradient GEMM; 0: the whole data set at once (devices with their own
     * memory, where big GEMMs pay). */
    size_t batch_bytes;
    const char *blas_core; /* the host BLAS's kernels, NULL when not used */
    /* What the training plan may use (bytes): the device's global memory and
     * its largest single allocation; 0 when unknown (the CPU path: host
     * memory). The OpenCL backend refuses allocations beyond them.
     *
     * Environment: BPNN_DEVICE_MEMORY=BYTES (suffix K, M or G: powers of
     * 1024) pretends a smaller device: bpnn_device_open (select.c) lowers
     * both fields to at most that value (on the CPU both become it), so a
     * plan for a small GPU can be tried anywhere. A malformed value is
     * BPNN_ERR_INVALID. */
    uint64_t memory_bytes;
    uint64_t max_allocation;
};

/* Opening and closing are bpnn_device_open / bpnn_device_close (bpnn.h),
 * implemented in select.c over these constructors. */
bpnn_status cpu_backend_create(bpnn_precision precision, backend **out);

/* Thin wrappers so the core reads as algorithm, not as vtable plumbing. */
static inline bpnn_status backend_alloc(backend *be, backend_buffer_kind kind, size_t count,
                                        backend_buffer **out)
{
    return be->ops->alloc(be, kind, count, out);
}
static inline void backend_release(backend *be, backend_buffer *buffer)
{
    if (buffer)
        be->ops->release(be, buffer);
}

/* One reduction, read at once: for callers with nothing else to read with it. */
static inline bpnn_status backend_read_dot(backend *be, size_t n, backend_view x, backend_view y,
                                           double *out)
{
    *out = 0;
    bpnn_status status = be->ops->dot(be, n, x, y, BACKEND_SLOT_SCRATCH);
    return status == BPNN_OK ? be->ops->read_slots(be, BACKEND_SLOT_SCRATCH, 1, out) : status;
}
static inline bpnn_status backend_read_max_abs(backend *be, size_t n, backend_view x, double *out)
{
    *out = 0;
    bpnn_status status = be->ops->max_abs(be, n, x, BACKEND_SLOT_SCRATCH);
    return status == BPNN_OK ? be->ops->read_slots(be, BACKEND_SLOT_SCRATCH, 1, out) : status;
}

#endif
