/* verify.c — every backend op against the CPU backend (see verify.h). */
#include "backend/verify.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

double backend_verify_threshold(bpnn_precision precision, int is_reduction)
{
    if (precision == BPNN_F64)
        return is_reduction ? 1e-10 : 1e-12;
    return is_reduction ? 1e-4 : 1e-5;
}

/* ---- the comparison's state ------------------------------------------------- */

/* One logical buffer, held by both backends with the same contents. */
typedef struct pair {
    backend_buffer *dev, *cpu;
    backend_buffer_kind kind;
    size_t count;
} pair;

#define MAX_PAIRS 8

typedef struct vctx {
    backend *dev, *cpu;
    uint64_t rng;
    backend_verify_result *result;
    pair pairs[MAX_PAIRS]; /* those of the case running, released after it */
    size_t pair_count;
} vctx;

/* Elements offset + r * ld + c for r < rows, c < cols: where an op writes. */
typedef struct region {
    size_t offset, rows, cols, ld;
} region;

static region contiguous(size_t offset, size_t count)
{
    region r = {offset, 1, count, count};
    return r;
}

static region strided(size_t offset, size_t rows, size_t cols, size_t ld)
{
    region r = {offset, rows, cols, ld};
    return r;
}

static int in_region(const region *r, size_t i)
{
    if (i < r->offset || r->rows == 0 || r->cols == 0)
        return 0;
    size_t d = i - r->offset;
    return d / r->ld < r->rows && d % r->ld < r->cols;
}

static double uniform(vctx *c, double lo, double hi)
{
    /* splitmix64: enough for test inputs, the same sequence everywhere */
    uint64_t z = (c->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + (hi - lo) * ((double)(z >> 11) * 0x1.0p-53);
}

static backend_view on(backend *be, const vctx *c, const pair *p, size_t offset)
{
    return view_at(be == c->dev ? p->dev : p->cpu, offset);
}

static void note_case(vctx *c, double error, const char *format, ...) BPNN_PRINTF(3, 4);

static void note_case(vctx *c, double error, const char *format, ...)
{
    backend_verify_result *r = c->result;
    r->cases++;
    if (error != error)
        error = INFINITY;
    if (r->cases == 1 || error > r->error) {
        r->error = error;
        va_list args;
        va_start(args, format);
        vsnprintf(r->worst_case, sizeof r->worst_case, format, args);
        va_end(args);
    }
}

static void release_pairs(vctx *c)
{
    for (size_t i = 0; i < c->pair_count; i++) {
        backend_release(c->dev, c->pairs[i].dev);
        backend_release(c->cpu, c->pairs[i].cpu);
    }
    c->pair_count = 0;
}

static bpnn_status pair_alloc(vctx *c, backend_buffer_kind kind, size_t count, pair **out)
{
    if (c->pair_count == MAX_PAIRS)
        return bpnn_fail(BPNN_ERR_RUNTIME, "internal error: verify: too many buffers in one case");
    pair *p = &c->pairs[c->pair_count];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->count = count;
    BPNN_TRY(backend_alloc(c->cpu, kind, count, &p->cpu));
    bpnn_status status = backend_alloc(c->dev, kind, count, &p->dev);
    if (status != BPNN_OK) {
        backend_release(c->cpu, p->cpu);
        return status;
    }
    c->pair_count++;
    *out = p;
    return BPNN_OK;
}

static bpnn_status pair_set(vctx *c, pair *p, const double *values)
{
    BPNN_TRY(c->cpu->ops->upload(c->cpu, view_at(p->cpu, 0), p->count, values));
    return c->dev->ops->upload(c->dev, view_at(p->dev, 0), p->count, values);
}

/* A REAL pair of `count` values uniform in [lo, hi]. */
static bpnn_status random_pair(vctx *c, size_t count, double lo, double hi, pair **out)
{
    BPNN_TRY(pair_alloc(c, BACKEND_REAL, count, out));
    double *values = malloc(count * sizeof *values);
    if (!values)
        return bpnn_fail_oom("verify inputs");
    for (size_t i = 0; i < count; i++)
        values[i] = uniform(c, lo, hi);
    bpnn_status status = pair_set(c, *out, values);
    free(values);
    return status;
}

/* An index pair of `count` labels uniform in 0..classes-1. */
static bpnn_status label_pair(vctx *c, size_t count, size_t classes, pair **out)
{
    BPNN_TRY(pair_alloc(c, BACKEND_INDEX, count, out));
    int32_t *labels = malloc(count * sizeof *labels);
    if (!labels)
        return bpnn_fail_oom("verify labels");
    for (size_t i = 0; i < count; i++) {
        size_t k = (size_t)uniform(c, 0, (double)classes);
        labels[i] = (int32_t)(k < classes ? k : classes - 1);
    }
    bpnn_status status = c->cpu->ops->upload_index(c->cpu, view_at((*out)->cpu, 0), count, labels);
    if (status == BPNN_OK)
        status = c->dev->ops->upload_index(c->dev, view_at((*out)->dev, 0), count, labels);
    free(labels);
    return status;
}

/* What an INDEX output holds before the op writes it: no class, and not the
 * -1 a gather writes for an index outside its source either, so a kernel
 * that reads (or keeps) it is caught, as NaN catches one among REALs. */
#define UNWRITTEN_INDEX (-2)

static bpnn_status unwritten_index_pair(vctx *c, size_t count, pair **out)
{
    BPNN_TRY(pair_alloc(c, BACKEND_INDEX, count, out));
    int32_t *values = malloc(count * sizeof *values);
    if (!values)
        return bpnn_fail_oom("verify labels");
    for (size_t i = 0; i < count; i++)
        values[i] = UNWRITTEN_INDEX;
    bpnn_status status = c->cpu->ops->upload_index(c->cpu, view_at((*out)->cpu, 0), count, values);
    if (status == BPNN_OK)
        status = c->dev->ops->upload_index(c->dev, view_at((*out)->dev, 0), count, values);
    free(values);
    return status;
}

/* The metric over `where`; anything outside it must be left exactly as it was
 * (both sides start equal), else the error is infinite. */
static bpnn_status pair_error(vctx *c, const pair *p, region where, double *error)
{
    *error = INFINITY;
    double *x = malloc(p->count * sizeof *x), *ref = malloc(p->count * sizeof *ref);
    if (!x || !ref) {
        free(x);
        free(ref);
        return bpnn_fail_oom("verify outputs");
    }
    bpnn_status status = c->dev->ops->download(c->dev, view_at(p->dev, 0), p->count, x);
    if (status == BPNN_OK)
        status = c->cpu->ops->download(c->cpu, view_at(p->cpu, 0), p->count, ref);
    if (status == BPNN_OK) {
        double diff = 0, scale = 0;
        int stray = 0;
        for (size_t i = 0; i < p->count; i++) {
            if (!in_region(&where, i)) {
                /* bit-equal outside the output (NaN fills compare as equal too) */
                stray |= memcmp(&x[i], &ref[i], sizeof x[i]) != 0;
                continue;
            }
            double d = fabs(x[i] - ref[i]);
            if (d != d)
                d = (x[i] != x[i] && ref[i] != ref[i]) ? 0 : INFINITY;
            if (d > diff)
                diff = d;
            if (fabs(ref[i]) > scale)
                scale = fabs(ref[i]);
        }
        *error = stray ? INFINITY : scale > 0 ? diff / scale : diff;
    }
    free(x);
    free(ref);
    return status;
}

/* Fraction of labels in `where` that differ; outside it, any difference is 1. */
static bpnn_status pair_index_error(vctx *c, const pair *p, region where, double *error)
{
    *error = 1;
    int32_t *x = malloc(p->count * sizeof *x), *ref = malloc(p->count * sizeof *ref);
    if (!x || !ref) {
        free(x);
        free(ref);
        return bpnn_fail_oom("verify outputs");
    }
    bpnn_status status = c->dev->ops->download_index(c->dev, view_at(p->dev, 0), p->count, x);
    if (status == BPNN_OK)
        status = c->cpu->ops->download_index(c->cpu, view_at(p->cpu, 0), p->count, ref);
    if (status == BPNN_OK) {
        size_t differ = 0, total = 0;
        int stray = 0;
        for (size_t i = 0; i < p->count; i++) {
            if (in_region(&where, i)) {
                total++;
                differ += x[i] != ref[i];
            } else {
                stray |= x[i] != ref[i];
            }
        }
        *error = stray ? 1 : total ? (double)differ / (double)total : 0;
    }
    free(x);
    free(ref);
    return status;
}

static double scalar_error(double x, double ref)
{
    double d = fabs(x - ref);
    if (d != d)
        return (x != x && ref != ref) ? 0 : INFINITY;
    return fabs(ref) > 0 ? d / fabs(ref) : d;
}

/* Both backends, CPU first, one call each. */
#define EACH_BACKEND(c, be) for (backend *be = (c)->cpu; be; be = be == (c)->cpu ? (c)->dev : NULL)

/* Offsets and padding: every operand sits inside a larger buffer. */
#define OFF 3
#define TAIL 5

/* ---- the ops ------------------------------------------------------------------ */

static const size_t vector_sizes[] = {1, 2, 7, 61, 255, 257, 1031, 100003};
#define VECTOR_SIZES (sizeof vector_sizes / sizeof vector_sizes[0])

static bpnn_status verify_upload_download(vctx *c)
{
    for (size_t s = 0; s < VECTOR_SIZES; s++) {
        size_t n = vector_sizes[s];
        pair *p;
        BPNN_TRY(random_pair(c, OFF + n + TAIL, -1e3, 1e3, &p));
        double error;
        BPNN_TRY(pair_error(c, p, contiguous(0, p->count), &error));
        note_case(c, error, "n=%zu", n);
        release_pairs(c);
    }
    return BPNN_OK;
}

static bpnn_status verify_upload_download_index(vctx *c)
{
    for (size_t s = 0; s < VECTOR_SIZES; s++) {
        size_t n = vector_sizes[s];
        pair *p;
        BPNN_TRY(label_pair(c, OFF + n + TAIL, 1000, &p));
        double error;
        BPNN_TRY(pair_index_error(c, p, contiguous(0, p->count), &error));
        note_case(c, error, "n=%zu", n);
        release_pairs(c);
    }
    return BPNN_OK;
}

static bpnn_status gemm_case(vctx *c, int ta, int tb, size_t m, size_t n, size_t k, size_t pad,
                             double alpha, double beta)
{
    size_t rows_a = ta ? k : m, cols_a = ta ? m : k;
    size_t rows_b = tb ? n : k, cols_b = tb ? k : n;
    size_t lda = cols_a + pad, ldb = cols_b + (pad ? pad + 1 : 0), ldc = n + pad;
    size_t a_off = 5, b_off = 1, c_off = OFF;
    pair *a, *b, *cc;
    BPNN_TRY(random_pair(c, a_off + rows_a * lda + TAIL, -1, 1, &a));
    BPNN_TRY(random_pair(c, b_off + rows_b * ldb + TAIL, -1, 1, &b));
    /* beta = 0: C's old contents must not be read, so they are NaN */
    BPNN_TRY(
        random_pair(c, c_off + m * ldc + TAIL, beta == 0 ? NAN : -1, beta == 0 ? NAN : 1, &cc));
    EACH_BACKEND(c, be)
    BPNN_TRY(be->ops->gemm(be, ta, tb, m, n, k, alpha, on(be, c, a, a_off), lda,
                           on(be, c, b, b_off), ldb, beta, on(be, c, cc, c_off), ldc));
    double error;
    BPNN_TRY(pair_error(c, cc, strided(c_off, m, n, ldc), &error));
    note_case(c, error, "m=%zu n=%zu k=%zu lda=%zu ldb=%zu ldc=%zu beta=%g", m, n, k, lda, ldb, ldc,
              beta);
    return BPNN_OK;
}

static bpnn_status verify_gemm(vctx *c, int ta, int tb)
{
    static const size_t shapes[][3] = {{1, 1, 1},     {1, 7, 3},      {17, 1, 5},
                                       {13, 31, 1},   {37, 29, 41},   {64, 64, 64},
                                       {101, 67, 83}, {130, 257, 67}, {5003, 10, 26}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (int variant = 0; variant < 2; variant++) {
            size_t pad = variant ? 3 : 0;
            double beta = variant ? 0.5 : 0.0;
            bpnn_status status =
                gemm_case(c, ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], pad, 0.75, beta);
            release_pairs(c);
            BPNN_TRY(status);
        }
    }
    return BPNN_OK;
}

static bpnn_status verify_gemm_nn(vctx *c)
{
    return verify_gemm(c, 0, 0);
}
static bpnn_status verify_gemm_nt(vctx *c)
{
    return verify_gemm(c, 0, 1);
}
static bpnn_status verify_gemm_tn(vctx *c)
{
    return verify_gemm(c, 1, 0);
}
static bpnn_status verify_gemm_tt(vctx *c)
{
    return verify_gemm(c, 1, 1);
}

/* rows x cols shapes for the layer ops: single rows and columns, odd, primes,
 * and the seed's 25 and 10 with their bias column. */
static const size_t layer_shapes[][2] = {{1, 1},   {1, 7},    {13, 1},   {17, 5},
                                         {61, 26}, {257, 10}, {1031, 3}, {5003, 11}};
#define LAYER_SHAPES (sizeof layer_shapes / sizeof layer_shapes[0])

static bpnn_status bias_sigmoid_case(vctx *c, size_t rows, size_t cols, size_t stride, int in_place)
{
    size_t items = rows * cols;
    pair *bias, *z, *a = NULL;
    BPNN_TRY(random_pair(c, OFF + (cols - 1) * stride + 1 + TAIL, -1, 1, &bias));
    BPNN_TRY(random_pair(c, OFF + items + TAIL, -10, 10, &z));
    if (!in_place) /* only written: NaN, so a kernel that reads a is caught */
        BPNN_TRY(random_pair(c, 1 + items + TAIL, NAN, NAN, &a));
    EACH_BACKEND(c, be)
    BPNN_TRY(be->ops->bias_sigmoid(be, rows, cols, on(be, c, bias, OFF), stride, on(be, c, z, OFF),
                                   in_place ? on(be, c, z, OFF) : on(be, c, a, 1)));
    double ez, ea = 0;
    BPNN_TRY(pair_error(c, z, contiguous(OFF, items), &ez));
    if (!in_place)
        BPNN_TRY(pair_error(c, a, contiguous(1, items), &ea));
    note_case(c, fmax(ez, ea), "rows=%zu cols=%zu bias_stride=%zu%s", rows, cols, stride,
              in_place ? " in place" : "");
    return BPNN_OK;
}

static bpnn_status verify_bias_sigmoid(vctx *c)
{
    for (size_t s = 0; s < LAYER_SHAPES; s++) {
        for (int variant = 0; variant < 2; variant++) {
            size_t rows = layer_shapes[s][0], cols = layer_shapes[s][1];
            /* variant 1: the bias is Theta's column 0, stride s_l + 1, in place */
            bpnn_status status = bias_sigmoid_case(c, rows, cols, variant ? cols + 4 : 1, variant);
            release_pairs(c);
            BPNN_TRY(status);
        }
    }
    return BPNN_OK;
}

static bpnn_status output_delta_case(vctx *c, size_t rows, size_t classes)
{
    size_t items = rows * classes;
    pair *h, *labels, *delta;
    BPNN_TRY(random_pair(c, OFF + items + TAIL, 0, 1, &h));
    BPNN_TRY(label_pair(c, 2 + rows + TAIL, classes, &labels));
    BPNN_TRY(random_pair(c, 1 + items + TAIL, NAN, NAN, &delta)); /* only written */
    EACH_BACKEND(c, be)
    BPNN_TRY(be->ops->output_delta(be, rows, classes, on(be, c, h, OFF), on(be, c, labels, 2),
                                   on(be, c, delta, 1)));
    double error;
    BPNN_TRY(pair_error(c, delta, contiguous(1, items), &error));
    note_case(c, error, "rows=%zu classes=%zu", rows, classes);
    return BPNN_OK;
}

static bpnn_status verify_output_delta(vctx *c)
{
    for (size_t s = 0; s < LAYER_SHAPES; s++) {
        bpnn_status status = output_delta_case(c, layer_shapes[s][0], layer_shapes[s][1]);
        release_pairs(c);
        BPNN_TRY(status);
    }
    return BPNN_OK;
}

static bpnn_status sigmoid_gradient_case(vctx *c, size_t n)
{
    pair *a, *delta;
    BPNN_TRY(random_pair(c, OFF + n + TAIL, 0, 1, &a));
    BPNN_TRY(random_pair(c, 2 + n + TAIL, -1, 1, &delta));
    EACH_BACKEND(c, be)
    BPNN_TRY(be->ops->sigmoid_gradient_mul(be, n, on(be, c, a, OFF), on(be, c, delta, 2)));
    double error;
    BPNN_TRY(pair_error(c, delta, contiguous(2, n), &error));
    note_case(c, error, "count=%zu", n);
    return BPNN_OK;
}

static bpnn_status verify_sigmoid_gradient_mul(vctx *c)
{
    for (size_t s = 0; s < VECTOR_SIZES; s++) {
        bpnn_status status = sigmoid_gradient_case(c, vector_sizes[s]);
        release_pairs(c);
        BPNN_TRY(status);
    }
    return BPNN_OK;
}

static bpnn_status bias_gradient_case(vctx *c, size_t rows, size_t cols, size_t stride, double beta)
{
    pair *delta, *grad;
    BPNN_TRY(random_pair(c, OFF + rows * cols + TAIL, -1, 1, &delta));
    /* beta = 0: grad is only written, so it is NaN */
    BPNN_TRY(random_pair(c, 1 + (cols - 1) * stride + 1 + TAIL, beta == 0 ? NAN : -1,
                         beta == 0 ? NAN : 1, &grad));
    double scale = 1.0 / (double)rows;
    EACH_BACKEND(c, be)
    BPNN_TRY(be->ops->bias_gradient(be, rows, cols, on(be, c, delta, OFF), scale, beta,
                                    on(be, c, grad, 1), stride));
    double error;
    BPNN_TRY(pair_error(c, grad, strided(1, cols, 1, stride), &error));
    note_case(c, error, "rows=%zu cols=%zu grad_stride=%zu beta=%g", rows, cols, stride, beta);
    return BPNN_OK;
}

/* The layer shapes and wider ones for bias_gradient's grid (kernels/network.cl):
 * rows fewer than a work-group's lanes, columns 1, beyond one tile (33, 70,
 * 600, 1025: several tiles, the last one partial), many rows in row slices
 * whose last is shorter, and many tiles with few rows (one pass). The OpenCL
 * tests check that these reach every path on the device under test. */
const size_t backend_verify_bias_shapes[][2] = {
    {1, 1},     {1, 7},  {13, 1},   {17, 5},   {61, 26},  {257, 10}, {1031, 3},
    {5003, 11}, {1, 33}, {3, 1025}, {600, 70}, {20, 600}, {4099, 1}, {700, 33}};
const size_t backend_verify_bias_shape_count =
    sizeof backend_verify_bias_shapes / sizeof backend_verify_bias_shapes[0];

static bpnn_status verify_bias_gradient(vctx *c)
{
    for (size_t s = 0; s < backend_verify_bias_shape_count; s++) {
        for (int variant = 0; variant < 2; variant++) {
            size_t rows = backend_verify_bias_shapes[s][0], cols = backend_verify_bias_shapes[s][1];
            /* variant 1: into Theta's gradient column 0, stride s_l + 1,
             * accumulating as the core does over blocks of rows */
            bpnn_status status =
                bias_gradient_case(c, rows, cols, variant ? 7 : 1, variant ? 1.0 : 0.0);
            release_pairs(c);
            BPNN_TRY(status);
        }
    }
    return BPNN_OK;
}

/* Theta shapes: s_{l+1} x (s_l + 1), so column counts are at least 1. */
static const size_t theta_shapes[][2] = {{1, 1},    {1, 2},   {7, 1},   {3, 5},
                                         {25, 785}, {10, 26}, {257, 31}};
#define THETA_SHAPES (sizeof theta_shapes / sizeof theta_shapes[0])

static bpnn_status regularize_case(vctx *c, size_t rows, size_t cols)
{
    pair *theta, *grad;
    BPNN_TRY(random_pair(c, OFF + rows * cols + TAIL, -1, 1, &theta));
    BPNN_TRY(random_pair(c, 2 + rows * cols + TAIL, -1, 1, &grad));
    EACH_BACKEND(c, be)
    BPNN_TRY(
        be->ops->regularize_add(be, rows, cols, on(be, c, theta, OFF), 0.37, on(be, c, grad, 2)));
    double error;
    BPNN_TRY(pair_error(c, grad, contiguous(2, rows * cols), &error));
    note_case(c, error, "rows=%zu cols=%zu", rows, cols);
    return BPNN_OK;
}

static bpnn_status verify_regularize_add(vctx *c)
{
    for (size_t s = 0; s < THETA_SHAPES; s++) {
        bpnn_status status = regularize_case(c, theta_shapes[s][0], theta_shapes[s][1]);
        release_pairs(c);
        BPNN_TRY(status);
    }
    return BPNN_OK;
}

/* The reductions leave their result in a slot: each case below uses the
 * slot its shape picks, and the sums run twice, set then added, so that the
 * slot addressing and `accumulate` are checked with the value. */
static size_t slot_for(size_t a, size_t b)
{
    return (a + b) % BACKEND_SLOTS;
}

static bpnn_status sum_squares_case(vctx *c, size_t rows, size_t cols)
{
    pair *theta;
    BPNN_TRY(random_pair(c, OFF + rows * cols + TAIL, -1, 1, &theta));
    double x = 0, ref = 0;
    size_t slot = slot_for(rows, cols);
    for (int accumulate = 0; accumulate < 2; accumulate++) {
        BPNN_TRY(c->cpu->ops->sum_squares_nonbias(c->cpu, rows, cols, on(c->cpu, c, theta, OFF),
                                                  slot, accumulate));
        BPNN_TRY(c->dev->ops->sum_squares_nonbias(c->dev, rows, cols, on(c->dev, c, theta, OFF),
                                                  slot, accumulate));
    }
    BPNN_TRY(c->cpu->ops->read_slots(c->cpu, slot, 1, &ref));
    BPNN_TRY(c->dev->ops->read_slots(c->dev, slot, 1, &x));
    note_case(c, scalar_error(x, ref), "rows=%zu cols=%zu", rows, cols);
    return BPNN_OK;
}

static bpnn_status verify_sum_squares_nonbias(vctx *c)
{
    for (size_t s = 0; s < THETA_SHAPES; s++) {
        bpnn_status status = sum_squares_case(c, theta_shapes[s][0], theta_shapes[s][1]);
        release_pairs(c);
        BPNN_TRY(status);
    }
    return BPNN_OK;
}

static bpnn_status loss_case(vctx *c, size_t rows, size_t classes)
{
    pair *z, *labels;
    /* wide enough for both softplus tails and the f32 overflow of a naive form */
    BPNN_TRY(random_pair(c, OFF + rows * classes + TAIL, -100, 100, &z));
    BPNN_TRY(label_pair(c, 1 + rows + TAIL, classes, &labels));
    double x = 0, ref = 0;
    size_t slot = slot_for(rows, classes);
    for (int accumulate = 0; accumulate < 2; accumulate++) {
        BPNN_TRY(c->cpu->ops->logistic_loss(c->cpu, rows, classes, on(c->cpu, c, z, OFF),
                                            on(c->cpu, c, labels, 1), slot, accumulate));
        BPNN_TRY(c->dev->ops->logistic_loss(c->dev, rows, classes, on(c->dev, c, z, OFF),
                                            on(c->dev, c, labels, 1), slot, accumulate));
    }
    BPNN_TRY(c->cpu->ops->read_slots(c->cpu, slot, 1, &ref));
    BPNN_TRY(c->dev->ops->read_slots(c->dev, slot, 1, &x));
    note_case(c, scalar_error(x, ref), "rows=%zu classes=%zu", rows, classes);
    return BPNN_OK;
}

static bpnn_status verify_logistic_loss(vctx *c)
{
    for (size_t s = 0; s < LAYER_SHAPES; s++) {
        bpnn_status status = loss_case(c, layer_shapes[s][0], layer_shapes[s][1]);
        release_pairs(c);
        BPNN_TRY(status);
    }
    return BPNN_OK;
}

/* ties: every value one of 0, 0.25 and 0.5, so most rows have several
 * maxima and the first must win on both backends */
static bpnn_status argmax_case(vctx *c, size_t rows, size_t classes, int ties)
{
    pair *h, *out;
    BPNN_TRY(random_pair(c, OFF + rows * classes + TAIL, 0, 1, &h));
    if (ties) {
        double *values = malloc(h->count * sizeof *values);
        if (!values)
            return bpnn_fail_oom("verify inputs");
        for (size_t i = 0; i < h->count; i++)
            values[i] = floor(uniform(c, 0, 3)) / 4;
        bpnn_status status = pair_set(c, h, values);
        free(values);
        BPNN_TRY(status);
    }
    BPNN_TRY(unwritten_index_pair(c, 2 + rows + TAIL, &out));
    EACH_BACKEND(c, be)
    BPNN_TRY(be->ops->argmax_rows(be, rows, classes, on(be, c, h, OFF), on(be, c, out, 2)));
    double error;
    BPNN_TRY(pair_index_error(c, out, contiguous(2, rows), &error));
    note_case(c, error, "rows=%zu classes=%zu%s", rows, classes, ties ? " ties" : "");
    return BPNN_OK;
}

static bpnn_status verify_argmax_rows(vctx *c)
{
    for (size_t s = 0; s < LAYER_SHAPES; s++) {
        for (int ties = 0; ties < 2; ties++) {
            bpnn_status status = argmax_case(c, layer_shapes[s][0], layer_shapes[s][1], ties);
            release_pairs(c);
            BPNN_TRY(status);
        }
    }
    return BPNN_OK;
}

/* cancelling (f32): x_i = 1 + a tiny random part, y_i = +1, -1, +1, ...:
 * the sum is tiny against its terms, as g . d is near a line search's end,
 * and a float sum that drops low-order bits (no compensation) is far off.
 * In f64 both sides round at 1e-16 of the terms, which is more than 1e-10 of
 * such a sum: the case would measure the reference, not the device. */
/* x . y into a slot, read in two halves (start_read_slots, then y . y into
 * the same slot, then finish_read_slots), then read again: out[0] must be
 * x . y, the slot as it was when the read was queued, and out[1] y . y. */
static bpnn_status dot_read_in_halves(vctx *c, backend *be, pair *x, pair *y, size_t n, size_t slot,
                                      double out[2])
{
    BPNN_TRY(be->ops->dot(be, n, on(be, c, x, OFF), on(be, c, y, 1), slot));
    BPNN_TRY(be->ops->start_read_slots(be, slot, 1));
    bpnn_status status = be->ops->dot(be, n, on(be, c, y, 1), on(be, c, y, 1), slot);
    bpnn_status finished = be->ops->finish_read_slots(be, &out[0]);
    BPNN_TRY(status);
    BPNN_TRY(finished);
    return be->ops->read_slots(be, slot, 1, &out[1]);
}

static bpnn_status dot_case(vctx *c, size_t n, int cancelling)
{
    pair *x, *y;
    BPNN_TRY(random_pair(c, OFF + n + TAIL, -1, 1, &x));
    BPNN_TRY(random_pair(c, 1 + n + TAIL, -1, 1, &y));
    if (cancelling) {
        double *values = malloc((OFF + n + TAIL) * sizeof *values); /* x's count, y's less */
        if (!values)
            return bpnn_fail_oom("verify inputs");
        for (size_t i = 0; i < 1 + n + TAIL; i++)
            values[i] = i % 2 ? 1 : -1;
        bpnn_status status = pair_set(c, y, values);
        for (size_t i = 0; status == BPNN_OK && i < OFF + n + TAIL; i++)
            values[i] = 1 + uniform(c, -1e-5, 1e-5);
        if (status == BPNN_OK)
            status = pair_set(c, x, values);
        free(values);
        BPNN_TRY(status);
    }
    double v[2], ref[2];
    size_t slot = slot_for(n, (size_t)cancelling);
    BPNN_TRY(dot_read_in_halves(c, c->cpu, x, y, n, slot, ref));
    BPNN_TRY(dot_read_in_halves(c, c->dev, x, y, n, slot, v));
    note_case(c, fmax(scalar_error(v[0], ref[0]), scalar_error(v[1], ref[1])), "n=%zu%s", n,
              cancelling ? " cancelling" : "");
    return BPNN_OK;
}

static bpnn_status verify_dot(vctx *c)
{
    for (size_t s = 0; s < VECTOR_SIZES; s++) {
        for (int cancelling = 0; cancelling < (c->dev->precision == BPNN_F32 ? 2 : 1);
             cancelling++) {
            bpnn_status status = dot_case(c, vector_sizes[s], cancelling);
            release_pairs(c);
            BPNN_TRY(status);
        }
    }
    return BPNN_OK;
}

static bpnn_status max_abs_case(vctx *c, size_t n)
{
    pair *x;
    BPNN_TRY(random_pair(c, OFF + n + TAIL, -1, 1, &x));
    /* the largest magnitude negative, somewhere inside */
    size_t at = OFF + (size_t)uniform(c, 0, (double)n);
    double big = -3.5;
    BPNN_TRY(c->cpu->ops->upload(c->cpu, view_at(x->cpu, at), 1, &big));
    BPNN_TRY(c->dev->ops->upload(c->dev, view_at(x->dev, at), 1, &big));
    double v = 0, ref = 0;
    size_t slot = slot_for(n, 1);
    BPNN_TRY(c->cpu->ops->max_abs(c->cpu, n, on(c->cpu, c, x, OFF), slot));
    BPNN_TRY(c->dev->ops->max_abs(c->dev, n, on(c->dev, c, x, OFF), slot));
    BPNN_TRY(c->cpu->ops->read_slots(c->cpu, slot, 1, &ref));
    BPNN_TRY(c->dev->ops->read_slots(c->dev, slot, 1, &v));
    note_case(c, scalar_error(v, ref), "n=%zu", n);
    return BPNN_OK;
}

static bpnn_status verify_max_abs(vctx *c)
{
    for (size_t s = 0; s < VECTOR_SIZES; s++) {
        bpnn_status status = max_abs_case(c, vector_sizes[s]);
        release_pairs(c);
        BPNN_TRY(status);
    }
    return BPNN_OK;
}

/* axpy, scal, copy: which = 0, 1, 2 */
static bpnn_status vector_case(vctx *c, int which, size_t n)
{
    pair *x, *y;
    BPNN_TRY(random_pair(c, OFF + n + TAIL, -1, 1, &x));
    /* copy only writes y: NaN there */
    BPNN_TRY(random_pair(c, 2 + n + TAIL, which == 2 ? NAN : -1, which == 2 ? NAN : 1, &y));
    EACH_BACKEND(c, be)
    {
        if (which == 0)
            BPNN_TRY(be->ops->axpy(be, n, -0.3, on(be, c, x, OFF), on(be, c, y, 2)));
        else if (which == 1)
            BPNN_TRY(be->ops->scal(be, n, 1.7, on(be, c, y, 2)));
        else
            BPNN_TRY(be->ops->copy(be, n, on(be, c, x, OFF), on(be, c, y, 2)));
    }
    double error;
    BPNN_TRY(pair_error(c, y, contiguous(2, n), &error));
    note_case(c, error, "n=%zu", n);
    return BPNN_OK;
}

static bpnn_status verify_vector(vctx *c, int which)
{
    for (size_t s = 0; s < VECTOR_SIZES; s++) {
        bpnn_status status = vector_case(c, which, vector_sizes[s]);
        release_pairs(c);
        BPNN_TRY(status);
    }
    return BPNN_OK;
}

static bpnn_status verify_axpy(vctx *c)
{
    return verify_vector(c, 0);
}
static bpnn_status verify_scal(vctx *c)
{
    return verify_vector(c, 1);
}
static bpnn_status verify_copy(vctx *c)
{
    return verify_vector(c, 2);
}

/* ---- mini-batches ---------------------------------------------------------------- */

/* A batch of `batch` rows picked from src_rows rows (repeats allowed). */
static bpnn_status gather_rows_case(vctx *c, size_t src_rows, size_t cols, size_t batch)
{
    pair *src, *index, *dst;
    BPNN_TRY(random_pair(c, OFF + src_rows * cols + TAIL, -1e3, 1e3, &src));
    BPNN_TRY(label_pair(c, 2 + batch + TAIL, src_rows, &index));
    /* only written: NaN, so a kernel that reads dst is caught */
    BPNN_TRY(random_pair(c, 1 + batch * cols + TAIL, NAN, NAN, &dst));
    EACH_BACKEND(c, be)
    BPNN_TRY(be->ops->gather_rows(be, batch, cols, on(be, c, src, OFF), on(be, c, index, 2),
                                  on(be, c, dst, 1)));
    double error;
    BPNN_TRY(pair_error(c, dst, contiguous(1, batch * cols), &error));
    note_case(c, error, "src_rows=%zu cols=%zu batch=%zu", src_rows, cols, batch);
    return BPNN_OK;
}

static bpnn_status verify_gather_rows(vctx *c)
{
    for (size_t s = 0; s < LAYER_SHAPES; s++) {
        for (int variant = 0; variant < 2; variant++) {
            size_t src_rows = layer_shapes[s][0], cols = layer_shapes[s][1];
            /* variant 1: a batch larger than the set, rows repeated */
            size_t batch = variant ? 2 * src_rows + 3 : (src_rows + 1) / 2;
            bpnn_status status = gather_rows_case(c, src_rows, cols, batch);
            release_pairs(c);
            BPNN_TRY(status);
        }
    }
    return BPNN_OK;
}

static bpnn_status gather_labels_case(vctx *c, size_t src_count, size_t batch)
{
    pair *src, *index, *dst;
    BPNN_TRY(label_pair(c, OFF + src_count + TAIL, 10, &src));
    BPNN_TRY(label_pair(c, 2 + batch + TAIL, src_count, &index));
    BPNN_TRY(unwritten_index_pair(c, 1 + batch + TAIL, &dst));
    EACH_BACKEND(c, be)
    BPNN_TRY(be->ops->gather_labels(be, batch, on(be, c, src, OFF), on(be, c, index, 2),
                                    on(be, c, dst, 1)));
    double error;
    BPNN_TRY(pair_index_error(c, dst, contiguous(1, batch), &error));
    note_case(c, error, "src=%zu batch=%zu", src_count, batch);
    return BPNN_OK;
}

static bpnn_status verify_gather_labels(vctx *c)
{
    for (size_t s = 0; s < VECTOR_SIZES; s++) {
        size_t n = vector_sizes[s];
        bpnn_status status = gather_labels_case(c, n, n / 3 + 1);
        if (status == BPNN_OK)
            status = gather_labels_case(c, n, 2 * n + 1);
        release_pairs(c);
        BPNN_TRY(status);
    }
    return BPNN_OK;
}

#define UPDATE_STEPS 5

/* UPDATE_STEPS steps of one optimizer from random state, a new gradient each
 * step; the parameters and both states are compared at the end. The learning
 * rates are large so that the steps, not the starting values, dominate the
 * parameters' scale and an error in a step shows in the metric. */
static bpnn_status update_case(vctx *c, backend_update_kind kind, size_t n)
{
    backend_update u = {
        .kind = kind, .momentum = 0.9, .beta1 = 0.9, .beta2 = 0.999, .epsilon = 1e-8};
    u.lr = kind == UPDATE_ADAM ? 0.3 : 0.7;
    int stateful = kind != UPDATE_SGD, adam = kind == UPDATE_ADAM;
    pair *params, *grad, *s1 = NULL, *s2 = NULL;
    BPNN_TRY(random_pair(c, OFF + n + TAIL, -1, 1, &params));
    BPNN_TRY(random_pair(c, 1 + n + TAIL, -1, 1, &grad));
    if (stateful)
        BPNN_TRY(random_pair(c, 2 + n + TAIL, -1, 1, &s1));
    if (adam) /* a second moment is never negative */
        BPNN_TRY(random_pair(c, 4 + n + TAIL, 0, 1, &s2));
    double *g = malloc(grad->count * sizeof *g);
    if (!g)
        return bpnn_fail_oom("verify gradients");
    bpnn_status status = BPNN_OK;
    for (int step = 1; step <= UPDATE_STEPS && status == BPNN_OK; step++) {
        u.bias1 = 1 - pow(u.beta1, step);
        u.bias2 = 1 - pow(u.beta2, step);
        if (step > 1) {
            for (size_t i = 0; i < grad->count; i++)
                g[i] = uniform(c, -1, 1);
            status = pair_set(c, grad, g);
        }
        EACH_BACKEND(c, be)
        {
            if (status != BPNN_OK)
                break;
            /* no state buffer at all where the kind needs none */
            status = be->ops->update(be, &u, n, on(be, c, params, OFF), on(be, c, grad, 1),
                                     s1 ? on(be, c, s1, 2) : view_at(NULL, 0),
                                     s2 ? on(be, c, s2, 4) : view_at(NULL, 0));
        }
    }
    free(g);
    BPNN_TRY(status);
    double ep, e1 = 0, e2 = 0;
    BPNN_TRY(pair_error(c, params, contiguous(OFF, n), &ep));
    if (s1)
        BPNN_TRY(pair_error(c, s1, contiguous(2, n), &e1));
    if (s2)
        BPNN_TRY(pair_error(c, s2, contiguous(4, n), &e2));
    note_case(c, fmax(ep, fmax(e1, e2)), "n=%zu, %d steps", n, UPDATE_STEPS);
    return BPNN_OK;
}

static bpnn_status verify_update(vctx *c, backend_update_kind kind)
{
    for (size_t s = 0; s < VECTOR_SIZES; s++) {
        bpnn_status status = update_case(c, kind, vector_sizes[s]);
        release_pairs(c);
        BPNN_TRY(status);
    }
    return BPNN_OK;
}

static bpnn_status verify_update_sgd(vctx *c)
{
    return verify_update(c, UPDATE_SGD);
}
static bpnn_status verify_update_momentum(vctx *c)
{
    return verify_update(c, UPDATE_MOMENTUM);
}
static bpnn_status verify_update_nesterov(vctx *c)
{
    return verify_update(c, UPDATE_NESTEROV);
}
static bpnn_status verify_update_adam(vctx *c)
{
    return verify_update(c, UPDATE_ADAM);
}

/* ---- the table ------------------------------------------------------------------ */

typedef enum op_kind { ELEMENTWISE, REDUCTION, EXACT_INDEX } op_kind;

static const struct verify_op {
    const char *name;
    op_kind kind;
    bpnn_status (*run)(vctx *c);
} verify_ops[] = {
    {"upload/download", ELEMENTWISE, verify_upload_download},
    {"upload_index/download_index", EXACT_INDEX, verify_upload_download_index},
    {"gemm NN", REDUCTION, verify_gemm_nn},
    {"gemm NT", REDUCTION, verify_gemm_nt},
    {"gemm TN", REDUCTION, verify_gemm_tn},
    {"gemm TT", REDUCTION, verify_gemm_tt},
    {"bias_sigmoid", ELEMENTWISE, verify_bias_sigmoid},
    {"output_delta", ELEMENTWISE, verify_output_delta},
    {"sigmoid_gradient_mul", ELEMENTWISE, verify_sigmoid_gradient_mul},
    {"bias_gradient", REDUCTION, verify_bias_gradient},
    {"regularize_add", ELEMENTWISE, verify_regularize_add},
    {"sum_squares_nonbias", REDUCTION, verify_sum_squares_nonbias},
    {"logistic_loss", REDUCTION, verify_logistic_loss},
    {"argmax_rows", EXACT_INDEX, verify_argmax_rows},
    {"gather_rows", ELEMENTWISE, verify_gather_rows},
    {"gather_labels", EXACT_INDEX, verify_gather_labels},
    {"update sgd", ELEMENTWISE, verify_update_sgd},
    {"update momentum", ELEMENTWISE, verify_update_momentum},
    {"update nesterov", ELEMENTWISE, verify_update_nesterov},
    {"update adam", ELEMENTWISE, verify_update_adam},
    {"dot", REDUCTION, verify_dot},
    {"max_abs", REDUCTION, verify_max_abs},
    {"axpy", ELEMENTWISE, verify_axpy},
    {"scal", ELEMENTWISE, verify_scal},
    {"copy", ELEMENTWISE, verify_copy},
};

bpnn_status backend_verify(backend *device, backend *cpu, const char *only,
                           backend_verify_report report, void *user, int *failures)
{
    if (failures)
        *failures = 0;
    if (device->precision != cpu->precision)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "cannot verify: %s runs %s but the reference runs %s: open both in one "
                         "precision",
                         device->spec, bpnn_precision_name(device->precision),
                         bpnn_precision_name(cpu->precision));
    for (size_t i = 0; i < sizeof verify_ops / sizeof verify_ops[0]; i++) {
        const struct verify_op *op = &verify_ops[i];
        if (only && only[0] && strncmp(op->name, only, strlen(only)) != 0)
            continue;
        backend_verify_result result;
        memset(&result, 0, sizeof result);
        result.op = op->name;
        result.precision = device->precision;
        result.threshold = op->kind == EXACT_INDEX
                               ? 0
                               : backend_verify_threshold(device->precision, op->kind == REDUCTION);
        vctx c;
        memset(&c, 0, sizeof c);
        c.dev = device;
        c.cpu = cpu;
        c.rng = 0x5EED0000u + i; /* the same inputs on every run and device */
        c.result = &result;
        bpnn_clear_error();
        result.status = op->run(&c);
        release_pairs(&c);
        if (result.status != BPNN_OK) {
            snprintf(result.message, sizeof result.message, "%s", bpnn_error_message());
            result.error = INFINITY;
        }
        result.passed = result.status == BPNN_OK && result.error <= result.threshold;
        if (!result.passed && failures)
            (*failures)++;
        if (report)
            report(&result, user);
    }
    bpnn_clear_error();
    return BPNN_OK;
}

bpnn_status bpnn_verify(bpnn_device *device, const char *only, bpnn_verify_fn report, void *user,
                        int *failures)
{
    if (!device)
        return bpnn_fail_null("bpnn_verify", "device");
    if (!report)
        return bpnn_fail_null("bpnn_verify", "report");
    backend *cpu = NULL;
    BPNN_TRY(bpnn_device_open("cpu", device->precision, &cpu));
    bpnn_status status = backend_verify(device, cpu, only, report, user, failures);
    bpnn_device_close(cpu);
    return status;
}
