/* test_cpu_backend.c — every op of the CPU backend against straightforward
 * long double loops, in f32 and f64, on awkward sizes; and the BLAS core. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/verify.h"
#include "bpnn.h"
#include "cli/cli.h"
#include "testutil.h"
#include "util/error.h"

static backend *open_precision(int p)
{
    backend *be = NULL;
    ck_assert_int_eq(cpu_backend_create((bpnn_precision)p, &be), BPNN_OK);
    return be;
}

/* Deterministic values in [-1, 1) with 20 significant bits, so that f32
 * holds them exactly and both precisions compute on the same inputs. */
static void fill(double *v, size_t n, unsigned seed)
{
    unsigned long long s = 0x9E3779B97F4A7C15ULL * (seed + 1);
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        v[i] = (double)(s >> 44) * 0x1.0p-19 - 1.0;
    }
}

static backend_buffer *upload(backend *be, const double *v, size_t n)
{
    backend_buffer *b;
    ck_assert_int_eq(backend_alloc(be, BACKEND_REAL, n, &b), BPNN_OK);
    ck_assert_int_eq(be->ops->upload(be, view_at(b, 0), n, v), BPNN_OK);
    return b;
}

static void download(backend *be, backend_buffer *b, double *v, size_t n)
{
    ck_assert_int_eq(be->ops->download(be, view_at(b, 0), n, v), BPNN_OK);
}

static double tolerance(int p)
{
    return p == BPNN_F64 ? 1e-13 : 2e-6;
}

START_TEST(test_gemm_all_transposes)
{
    static const size_t shapes[][3] = {{1, 1, 1},    {7, 5, 3},  {13, 1, 29},
                                       {33, 17, 65}, {5, 31, 1}, {64, 10, 784}};
    int p = _i;
    backend *be = open_precision(p);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        size_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        for (int ta = 0; ta < 2; ta++) {
            for (int tb = 0; tb < 2; tb++) {
                /* leading dimensions wider than the matrices, and offsets */
                size_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
                size_t oa = 5, ob = 1, oc = 7;
                size_t na = oa + (ta ? k : m) * lda, nb = ob + (tb ? n : k) * ldb,
                       nc = oc + m * ldc;
                double *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b),
                       *c = malloc(nc * sizeof *c), *out = malloc(nc * sizeof *out);
                fill(a, na, 1), fill(b, nb, 2), fill(c, nc, 3);
                backend_buffer *ba = upload(be, a, na), *bb = upload(be, b, nb),
                               *bc = upload(be, c, nc);
                ck_assert_int_eq(be->ops->gemm(be, ta, tb, m, n, k, 0.75, view_at(ba, oa), lda,
                                               view_at(bb, ob), ldb, -0.5, view_at(bc, oc), ldc),
                                 BPNN_OK);
                download(be, bc, out, nc);
                for (size_t i = 0; i < m; i++) {
                    for (size_t j = 0; j < n; j++) {
                        long double sum = 0, scale = 0;
                        for (size_t q = 0; q < k; q++) {
                            long double x = a[oa + (ta ? q * lda + i : i * lda + q)];
                            long double y = b[ob + (tb ? j * ldb + q : q * ldb + j)];
                            sum += x * y;
                            scale += fabsl(x * y);
                        }
                        long double want = 0.75L * sum - 0.5L * c[oc + i * ldc + j];
                        double got = out[oc + i * ldc + j];
                        ck_assert_msg(fabsl(got - want) <= tolerance(p) * 4 * (scale + 1),
                                      "gemm %zux%zux%zu ta=%d tb=%d [%zu,%zu]: %g vs %Lg", m, n, k,
                                      ta, tb, i, j, got, want);
                    }
                    /* the padding between rows is never written */
                    for (size_t j = n; j < ldc && i + 1 < m; j++)
                        ck_assert(out[oc + i * ldc + j] == c[oc + i * ldc + j]);
                }
                ck_assert(memcmp(out, c, oc * sizeof *c) == 0);
                backend_release(be, ba), backend_release(be, bb), backend_release(be, bc);
                free(a), free(b), free(c), free(out);
            }
        }
    }
    be->ops->destroy(be);
}
END_TEST

START_TEST(test_network_ops)
{
    int p = _i;
    backend *be = open_precision(p);
    const size_t rows = 11, cols = 7, classes = 7, stride = 5;
    double z[77], bias[40], a[77], out[77], d[77];
    fill(z, 77, 4);
    fill(bias, 40, 5);
    for (int i = 0; i < 77; i++)
        z[i] *= 32; /* saturating values too (exact in f32) */
    /* bias_sigmoid, out of place */
    backend_buffer *bz = upload(be, z, 77), *bb = upload(be, bias, 40), *ba;
    ck_assert_int_eq(backend_alloc(be, BACKEND_REAL, 77, &ba), BPNN_OK);
    ck_assert_int_eq(be->ops->bias_sigmoid(be, rows, cols, view_at(bb, 2), stride, view_at(bz, 0),
                                           view_at(ba, 0)),
                     BPNN_OK);
    download(be, ba, a, 77);
    download(be, bz, out, 77);
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            long double zz = (long double)z[i * cols + j] + bias[2 + j * stride];
            ck_assert(fabsl(out[i * cols + j] - zz) <= tolerance(p) * (fabsl(zz) + 1));
            ck_assert(fabsl(a[i * cols + j] - 1 / (1 + expl(-zz))) <= tolerance(p));
        }
    /* output_delta from labels */
    int32_t labels[11];
    for (int i = 0; i < 11; i++)
        labels[i] = (i * 3) % 7;
    backend_buffer *bl, *bd;
    ck_assert_int_eq(backend_alloc(be, BACKEND_INDEX, 11, &bl), BPNN_OK);
    ck_assert_int_eq(be->ops->upload_index(be, view_at(bl, 0), 11, labels), BPNN_OK);
    ck_assert_int_eq(backend_alloc(be, BACKEND_REAL, 77, &bd), BPNN_OK);
    ck_assert_int_eq(
        be->ops->output_delta(be, rows, classes, view_at(ba, 0), view_at(bl, 0), view_at(bd, 0)),
        BPNN_OK);
    download(be, bd, d, 77);
    for (size_t i = 0; i < rows; i++)
        for (size_t k = 0; k < classes; k++)
            ck_assert(fabs(d[i * classes + k] - (a[i * classes + k] - (labels[i] == (int)k))) <=
                      tolerance(p));
    /* sigmoid_gradient_mul */
    ck_assert_int_eq(be->ops->sigmoid_gradient_mul(be, 77, view_at(ba, 0), view_at(bd, 0)),
                     BPNN_OK);
    download(be, bd, out, 77);
    for (size_t i = 0; i < 77; i++)
        ck_assert(fabs(out[i] - d[i] * a[i] * (1 - a[i])) <= tolerance(p));
    /* bias_gradient into a strided column: overwriting (beta 0, NaN there is
     * never read), then accumulating (beta 0.5) */
    double grad[40];
    for (int i = 0; i < 40; i++)
        grad[i] = i % stride == 1 ? NAN : 1.0;
    backend_buffer *bg = upload(be, grad, 40);
    double zs[77];
    download(be, bz, zs, 77);
    for (int pass = 0; pass < 2; pass++) {
        double beta = pass ? 0.5 : 0.0, before[40];
        download(be, bg, before, 40);
        ck_assert_int_eq(be->ops->bias_gradient(be, rows, cols, view_at(bz, 0), 0.25, beta,
                                                view_at(bg, 1), stride),
                         BPNN_OK);
        download(be, bg, grad, 40);
        for (size_t j = 0; j < cols; j++) {
            long double sum = 0;
            for (size_t i = 0; i < rows; i++)
                sum += zs[i * cols + j];
            long double want = 0.25L * sum + (pass ? beta * before[1 + j * stride] : 0);
            ck_assert(fabsl(grad[1 + j * stride] - want) <= tolerance(p) * 100);
        }
        ck_assert(grad[0] == 1.0 && grad[2] == 1.0);
    }
    /* logistic loss, stable at |z| up to 30: sum softplus(z) - y z */
    double loss;
    ck_assert_int_eq(
        be->ops->logistic_loss(be, rows, classes, view_at(bz, 0), view_at(bl, 0), 3, 0), BPNN_OK);
    ck_assert_int_eq(be->ops->read_slots(be, 3, 1, &loss), BPNN_OK);
    long double want = 0;
    for (size_t i = 0; i < rows; i++)
        for (size_t k = 0; k < classes; k++) {
            long double v = zs[i * classes + k];
            want += log1pl(expl(v)) - (labels[i] == (int)k ? v : 0);
        }
    ck_assert(fabsl(loss - want) <= tolerance(p) * fabsl(want) * 10);
    /* argmax, ties to the first */
    int32_t classes_out[11];
    backend_buffer *bc;
    ck_assert_int_eq(backend_alloc(be, BACKEND_INDEX, 11, &bc), BPNN_OK);
    ck_assert_int_eq(be->ops->argmax_rows(be, rows, classes, view_at(ba, 0), view_at(bc, 0)),
                     BPNN_OK);
    ck_assert_int_eq(be->ops->download_index(be, view_at(bc, 0), 11, classes_out), BPNN_OK);
    for (size_t i = 0; i < rows; i++) {
        size_t best = 0;
        for (size_t k = 1; k < classes; k++)
            if (a[i * classes + k] > a[i * classes + best])
                best = k;
        ck_assert_int_eq(classes_out[i], (int)best);
    }
    backend_release(be, bz), backend_release(be, bb), backend_release(be, ba);
    backend_release(be, bl), backend_release(be, bd), backend_release(be, bg);
    backend_release(be, bc);
    be->ops->destroy(be);
}
END_TEST

START_TEST(test_regularization_ops)
{
    int p = _i;
    backend *be = open_precision(p);
    const size_t rows = 5, cols = 9;
    double theta[50], grad[50], out[50];
    fill(theta, 50, 6), fill(grad, 50, 7);
    backend_buffer *bt = upload(be, theta, 50), *bg = upload(be, grad, 50);
    ck_assert_int_eq(be->ops->regularize_add(be, rows, cols, view_at(bt, 3), 0.3, view_at(bg, 3)),
                     BPNN_OK);
    download(be, bg, out, 50);
    long double squares = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t i = 3 + r * cols + c;
            double want = c == 0 ? grad[i] : grad[i] + 0.3 * theta[i];
            ck_assert(fabs(out[i] - want) <= tolerance(p));
            if (c)
                squares += (long double)theta[i] * theta[i];
        }
    ck_assert_msg(out[0] == grad[0] && out[49] == grad[49], "%.17g %.17g %.17g %.17g", out[0],
                  grad[0], out[49], grad[49]);
    /* into a slot, then added to it: twice the sum; a slot past the last
     * and a read past it are refused */
    double sum[2];
    ck_assert_int_eq(be->ops->sum_squares_nonbias(be, rows, cols, view_at(bt, 3), 5, 0), BPNN_OK);
    ck_assert_int_eq(be->ops->read_slots(be, 5, 1, &sum[0]), BPNN_OK);
    ck_assert_int_eq(be->ops->sum_squares_nonbias(be, rows, cols, view_at(bt, 3), 5, 1), BPNN_OK);
    ck_assert_int_eq(be->ops->read_slots(be, 5, 1, &sum[1]), BPNN_OK);
    ck_assert(fabsl(sum[0] - squares) <= 1e-12 * squares);
    ck_assert(sum[1] == 2 * sum[0]);
    ck_assert_int_eq(be->ops->sum_squares_nonbias(be, rows, cols, view_at(bt, 3), BACKEND_SLOTS, 0),
                     BPNN_ERR_INVALID);
    ck_assert_int_eq(be->ops->read_slots(be, BACKEND_SLOTS - 1, 2, sum), BPNN_ERR_INVALID);
    /* a read in two halves, one at a time */
    double twice = sum[1];
    ck_assert_int_eq(be->ops->finish_read_slots(be, sum), BPNN_ERR_INVALID);
    ck_assert_int_eq(be->ops->start_read_slots(be, 5, 1), BPNN_OK);
    ck_assert_int_eq(be->ops->start_read_slots(be, 5, 1), BPNN_ERR_INVALID);
    ck_assert_int_eq(be->ops->finish_read_slots(be, sum), BPNN_OK);
    ck_assert(sum[0] == twice);
    bpnn_clear_error();
    backend_release(be, bt), backend_release(be, bg);
    be->ops->destroy(be);
}
END_TEST

START_TEST(test_vector_ops)
{
    int p = _i;
    backend *be = open_precision(p);
    const size_t n = 1001;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *out = malloc(n * sizeof *out);
    fill(x, n, 8), fill(y, n, 9);
    backend_buffer *bx = upload(be, x, n), *by = upload(be, y, n);
    double dot, amax;
    ck_assert_int_eq(backend_read_dot(be, n - 2, view_at(bx, 1), view_at(by, 2), &dot), BPNN_OK);
    long double want = 0;
    for (size_t i = 0; i < n - 2; i++)
        want += (long double)x[1 + i] * y[2 + i];
    /* accumulated in double in both precisions */
    ck_assert(fabsl(dot - want) <= 1e-12 * n);
    ck_assert_int_eq(backend_read_max_abs(be, n, view_at(bx, 0), &amax), BPNN_OK);
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(x[i]));
    ck_assert(amax == m);
    ck_assert_int_eq(be->ops->axpy(be, n, -0.5, view_at(bx, 0), view_at(by, 0)), BPNN_OK);
    download(be, by, out, n);
    for (size_t i = 0; i < n; i++)
        ck_assert(fabs(out[i] - (y[i] - 0.5 * x[i])) <= tolerance(p));
    ck_assert_int_eq(be->ops->scal(be, n, 3.0, view_at(by, 0)), BPNN_OK);
    ck_assert_int_eq(be->ops->copy(be, n - 1, view_at(by, 0), view_at(bx, 1)), BPNN_OK);
    download(be, bx, y, n);
    ck_assert(y[0] == x[0]);
    for (size_t i = 1; i < n; i++)
        ck_assert(fabs(y[i] - 3 * out[i - 1]) <= tolerance(p) * 4);
    backend_release(be, bx), backend_release(be, by);
    free(x), free(y), free(out);
    be->ops->destroy(be);
}
END_TEST

/* Mini-batch gathers: rows and labels picked by an index view, at offsets,
 * with repeats and with indices outside src (NaN rows, -1 labels). */
START_TEST(test_gather_ops)
{
    static const size_t shapes[][3] = {/* src rows, cols, batch */
                                       {1, 1, 1},     {5, 3, 7},     {17, 13, 9},
                                       {64, 785, 33}, {101, 1, 250}, {3, 26, 2}};
    int p = _i;
    backend *be = open_precision(p);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        size_t src_rows = shapes[s][0], cols = shapes[s][1], batch = shapes[s][2];
        const size_t src_off = 3, index_off = 2, dst_off = 5, tail = 4;
        size_t n_src = src_off + src_rows * cols, n_dst = dst_off + batch * cols + tail;
        size_t n_index = index_off + batch + 2; /* two more: outside src, below and above */
        double *src = malloc(n_src * sizeof *src), *dst = malloc(n_dst * sizeof *dst),
               *out = malloc(n_dst * sizeof *out);
        int32_t *index = malloc(n_index * sizeof *index), *labels = malloc(n_src * sizeof *labels),
                *label_out = malloc(n_dst * sizeof *label_out);
        ck_assert(src && dst && out && index && labels && label_out);
        fill(src, n_src, 10 + (unsigned)s);
        fill(dst, n_dst, 20 + (unsigned)s);
        for (size_t i = 0; i < n_src; i++)
            labels[i] = (int32_t)(i * 7 % 10);
        for (size_t i = 0; i < n_dst; i++)
            label_out[i] = -5;
        for (size_t i = 0; i < n_index; i++)
            index[i] = (int32_t)((i * 7 + 3) % src_rows);
        index[index_off + batch] = -1;
        index[index_off + batch + 1] = (int32_t)src_rows;

        backend_buffer *bs = upload(be, src, n_src), *bd = upload(be, dst, n_dst), *bi, *bl, *blo;
        ck_assert_int_eq(backend_alloc(be, BACKEND_INDEX, n_index, &bi), BPNN_OK);
        ck_assert_int_eq(be->ops->upload_index(be, view_at(bi, 0), n_index, index), BPNN_OK);
        ck_assert_int_eq(backend_alloc(be, BACKEND_INDEX, n_src, &bl), BPNN_OK);
        ck_assert_int_eq(be->ops->upload_index(be, view_at(bl, 0), n_src, labels), BPNN_OK);
        ck_assert_int_eq(backend_alloc(be, BACKEND_INDEX, n_dst, &blo), BPNN_OK);
        ck_assert_int_eq(be->ops->upload_index(be, view_at(blo, 0), n_dst, label_out), BPNN_OK);

        ck_assert_int_eq(be->ops->gather_rows(be, batch, cols, view_at(bs, src_off),
                                              view_at(bi, index_off), view_at(bd, dst_off)),
                         BPNN_OK);
        ck_assert_int_eq(be->ops->gather_labels(be, batch, view_at(bl, src_off),
                                                view_at(bi, index_off), view_at(blo, dst_off)),
                         BPNN_OK);
        download(be, bd, out, n_dst);
        ck_assert_int_eq(be->ops->download_index(be, view_at(blo, 0), n_dst, label_out), BPNN_OK);
        for (size_t i = 0; i < n_dst; i++) {
            int inside = i >= dst_off && i < dst_off + batch * cols;
            if (!inside) {
                ck_assert_msg(out[i] == dst[i], "gather_rows wrote element %zu outside dst", i);
                ck_assert_int_eq(label_out[i], -5);
                continue;
            }
            size_t row = (i - dst_off) / cols, col = (i - dst_off) % cols;
            size_t from = (size_t)index[index_off + row];
            /* a copy: exact in both precisions (fill's values fit in f32) */
            ck_assert_msg(out[i] == src[src_off + from * cols + col],
                          "%zux%zu batch %zu: dst[%zu,%zu] = %g, src[%zu,%zu] = %g", src_rows, cols,
                          batch, row, col, out[i], from, col, src[src_off + from * cols + col]);
            if (col == 0)
                ck_assert_int_eq(label_out[dst_off + row], labels[src_off + from]);
        }

        /* indices outside src: a NaN row and a -1 label, nothing read outside */
        ck_assert_int_eq(be->ops->gather_rows(be, 2, cols, view_at(bs, src_off),
                                              view_at(bi, index_off + batch), view_at(bd, 0)),
                         BPNN_OK);
        ck_assert_int_eq(be->ops->gather_labels(be, 2, view_at(bl, n_src - src_rows),
                                                view_at(bi, index_off + batch), view_at(blo, 0)),
                         BPNN_OK);
        download(be, bd, out, n_dst);
        ck_assert_int_eq(be->ops->download_index(be, view_at(blo, 0), 2, label_out), BPNN_OK);
        for (size_t i = 0; i < 2 * cols; i++)
            ck_assert_msg(isnan(out[i]), "row for an index outside src: element %zu = %g", i,
                          out[i]);
        ck_assert_int_eq(label_out[0], -1);
        ck_assert_int_eq(label_out[1], -1);

        backend_release(be, bs), backend_release(be, bd), backend_release(be, bi);
        backend_release(be, bl), backend_release(be, blo);
        free(src), free(dst), free(out), free(index), free(labels), free(label_out);
    }
    be->ops->destroy(be);
}
END_TEST

/* The reference optimizer step, in long double, over the same formulas as
 * backend.h's backend_update. */
static void reference_update(const backend_update *u, size_t n, long double *p,
                             const long double *g, long double *s1, long double *s2)
{
    for (size_t i = 0; i < n; i++) {
        switch (u->kind) {
        case UPDATE_SGD: p[i] -= u->lr * g[i]; break;
        case UPDATE_MOMENTUM:
            s1[i] = u->momentum * s1[i] + g[i];
            p[i] -= u->lr * s1[i];
            break;
        case UPDATE_NESTEROV:
            s1[i] = u->momentum * s1[i] + g[i];
            p[i] -= u->lr * (g[i] + u->momentum * s1[i]);
            break;
        case UPDATE_ADAM:
            s1[i] = u->beta1 * s1[i] + (1 - (long double)u->beta1) * g[i];
            s2[i] = u->beta2 * s2[i] + (1 - (long double)u->beta2) * g[i] * g[i];
            p[i] -= u->lr * (s1[i] / u->bias1) / (sqrtl(s2[i] / u->bias2) + u->epsilon);
            break;
        }
    }
}

/* Every optimizer kind over several steps (Adam's bias corrections change
 * with the step) at offsets; the padding around each view stays untouched. */
START_TEST(test_update_ops)
{
    static const size_t sizes[] = {1, 2, 7, 61, 1031};
    static const backend_update_kind kinds[] = {UPDATE_SGD, UPDATE_MOMENTUM, UPDATE_NESTEROV,
                                                UPDATE_ADAM};
    enum { STEPS = 4, PAD = 3 };
    int p = _i;
    backend *be = open_precision(p);
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
            size_t n = sizes[z], total = n + 2 * PAD;
            backend_update u = {.kind = kinds[k],
                                .lr = 0.3,
                                .momentum = 0.9,
                                .beta1 = 0.9,
                                .beta2 = 0.999,
                                .epsilon = 1e-8};
            double *init[4], *out = malloc(total * sizeof *out); /* p, g, s1, s2 */
            long double *ref[4];
            backend_buffer *buf[4];
            for (int b = 0; b < 4; b++) {
                init[b] = malloc(total * sizeof *init[b]);
                ref[b] = malloc(total * sizeof *ref[b]);
                ck_assert(init[b] && ref[b]);
                fill(init[b], total, 30 + (unsigned)(b + 4 * z));
                if (b == 3) /* a second moment is positive (and exact in f32) */
                    for (size_t i = 0; i < total; i++)
                        init[b][i] = fabs(init[b][i]) * 0.5 + 0x1p-10;
                for (size_t i = 0; i < total; i++)
                    ref[b][i] = init[b][i];
                buf[b] = upload(be, init[b], total);
            }
            ck_assert(out);
            int stateful = u.kind != UPDATE_SGD, adam = u.kind == UPDATE_ADAM;
            for (int step = 1; step <= STEPS; step++) {
                u.bias1 = 1 - pow(u.beta1, step);
                u.bias2 = 1 - pow(u.beta2, step);
                if (step > 1) { /* a new gradient */
                    fill(init[1], total, 100 + (unsigned)step);
                    for (size_t i = 0; i < total; i++)
                        ref[1][i] = init[1][i];
                    ck_assert_int_eq(be->ops->upload(be, view_at(buf[1], 0), total, init[1]),
                                     BPNN_OK);
                }
                /* state buffers absent (NULL) where the kind needs none */
                ck_assert_int_eq(be->ops->update(be, &u, n, view_at(buf[0], PAD),
                                                 view_at(buf[1], PAD),
                                                 view_at(stateful ? buf[2] : NULL, PAD),
                                                 view_at(adam ? buf[3] : NULL, PAD)),
                                 BPNN_OK);
                reference_update(&u, n, ref[0] + PAD, ref[1] + PAD, ref[2] + PAD, ref[3] + PAD);
            }
            for (int b = 0; b < 4; b++) {
                if (b == 1)
                    continue;
                download(be, buf[b], out, total);
                for (size_t i = 0; i < total; i++) {
                    int written = i >= PAD && i < PAD + n &&
                                  (b == 0 || (b == 2 && stateful) || (b == 3 && adam));
                    long double want = written ? ref[b][i] : init[b][i];
                    ck_assert_msg(fabsl(out[i] - want) <= tolerance(p) * 8 * (1 + fabsl(want)),
                                  "update kind %d n=%zu buffer %d [%zu]: %.17g vs %.17Lg",
                                  (int)u.kind, n, b, i, out[i], want);
                    if (!written)
                        ck_assert(out[i] == init[b][i]);
                }
            }
            for (int b = 0; b < 4; b++) {
                backend_release(be, buf[b]);
                free(init[b]);
                free(ref[b]);
            }
            free(out);
        }
    }
    be->ops->destroy(be);
}
END_TEST

/* max_abs lets a NaN through wherever it sits (divergence must show), and
 * an infinity is the largest magnitude. */
START_TEST(test_max_abs_non_finite)
{
    int p = _i;
    backend *be = open_precision(p);
    static const double with_nan[] = {0.5, -3, NAN, 2, -7};
    static const double with_inf[] = {0.5, -INFINITY, 2};
    static const double plain[] = {0.25, -3, 2};
    backend_buffer *a = upload(be, with_nan, 5), *b = upload(be, with_inf, 3),
                   *c = upload(be, plain, 3);
    double m;
    ck_assert_int_eq(backend_read_max_abs(be, 5, view_at(a, 0), &m), BPNN_OK);
    ck_assert_msg(isnan(m), "max_abs %g over a NaN", m);
    ck_assert_int_eq(backend_read_max_abs(be, 3, view_at(a, 2), &m), BPNN_OK); /* NaN first */
    ck_assert(isnan(m));
    ck_assert_int_eq(backend_read_max_abs(be, 2, view_at(a, 0), &m), BPNN_OK); /* before it */
    ck_assert(m == 3);
    ck_assert_int_eq(backend_read_max_abs(be, 3, view_at(b, 0), &m), BPNN_OK);
    ck_assert(m == INFINITY);
    ck_assert_int_eq(backend_read_max_abs(be, 3, view_at(c, 0), &m), BPNN_OK);
    ck_assert(m == 3);
    backend_release(be, a), backend_release(be, b), backend_release(be, c);
    be->ops->destroy(be);
}
END_TEST

/* argmax_rows picks the first of tied maxima (predictions must not depend
 * on the backend). */
START_TEST(test_argmax_ties)
{
    int p = _i;
    backend *be = open_precision(p);
    enum { ROWS = 5, CLASSES = 4 };
    static const double h[ROWS * CLASSES] = {0.2, 0.7, 0.7, 0.1, /* 1 */
                                             0.5, 0.5, 0.5, 0.5, /* 0 */
                                             0.1, 0.2, 0.3, 0.3, /* 2 */
                                             0.9, 0.1, 0.9, 0.9, /* 0 */
                                             0,   0,   0,   1};  /* 3 */
    static const int32_t want[ROWS] = {1, 0, 2, 0, 3};
    backend_buffer *bh = upload(be, h, ROWS * CLASSES), *bc;
    ck_assert_int_eq(backend_alloc(be, BACKEND_INDEX, ROWS, &bc), BPNN_OK);
    ck_assert_int_eq(be->ops->argmax_rows(be, ROWS, CLASSES, view_at(bh, 0), view_at(bc, 0)),
                     BPNN_OK);
    int32_t got[ROWS];
    ck_assert_int_eq(be->ops->download_index(be, view_at(bc, 0), ROWS, got), BPNN_OK);
    for (int i = 0; i < ROWS; i++)
        ck_assert_int_eq(got[i], want[i]);
    backend_release(be, bh), backend_release(be, bc);
    be->ops->destroy(be);
}
END_TEST

/* ---- verify: a kernel that reads an output it should only write ---------------- */

/* The CPU ops, and a copy of them with one op replaced by a version that
 * reads its output before writing it: what a kernel that accumulates into
 * an output with a zero coefficient (NaN times 0 is NaN) or keeps the
 * smaller of what it finds and what is there would compute. */
static const backend_ops *honest_ops;
static backend_ops reading_ops;

/* Values of a rows x cols block (leading dimension ld) before an op runs. */
typedef struct before {
    double *values;
    size_t count;
} before;

static before take_before(backend *be, backend_view v, size_t rows, size_t cols, size_t ld)
{
    before b = {.count = rows ? (rows - 1) * ld + cols : 0};
    b.values = malloc((b.count ? b.count : 1) * sizeof *b.values);
    ck_assert_ptr_nonnull(b.values);
    ck_assert_int_eq(honest_ops->download(be, v, b.count, b.values), BPNN_OK);
    return b;
}

/* out += 0 * before over the block: NaN where the output held NaN. */
static bpnn_status add_zero_times_before(backend *be, backend_view v, size_t rows, size_t cols,
                                         size_t ld, before b)
{
    double *after = malloc((b.count ? b.count : 1) * sizeof *after);
    ck_assert_ptr_nonnull(after);
    ck_assert_int_eq(honest_ops->download(be, v, b.count, after), BPNN_OK);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            after[r * ld + c] += 0 * b.values[r * ld + c];
    bpnn_status status = honest_ops->upload(be, v, b.count, after);
    free(after);
    free(b.values);
    return status;
}

/* classes[i] = min(what it held, what the op found) */
static bpnn_status keep_smaller_index(backend *be, backend_view v, size_t count,
                                      const int32_t *held)
{
    int32_t *after = malloc((count ? count : 1) * sizeof *after);
    ck_assert_ptr_nonnull(after);
    ck_assert_int_eq(honest_ops->download_index(be, v, count, after), BPNN_OK);
    for (size_t i = 0; i < count; i++)
        after[i] = held[i] < after[i] ? held[i] : after[i];
    bpnn_status status = honest_ops->upload_index(be, v, count, after);
    free(after);
    return status;
}

static bpnn_status reading_gemm(backend *be, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                                double alpha, backend_view a, size_t lda, backend_view b,
                                size_t ldb, double beta, backend_view c, size_t ldc)
{
    if (beta != 0)
        return honest_ops->gemm(be, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    before held = take_before(be, c, m, n, ldc);
    BPNN_TRY(honest_ops->gemm(be, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc));
    return add_zero_times_before(be, c, m, n, ldc, held);
}

static bpnn_status reading_bias_sigmoid(backend *be, size_t rows, size_t cols, backend_view bias,
                                        size_t bias_stride, backend_view z, backend_view a)
{
    if (a.buffer == z.buffer && a.offset == z.offset)
        return honest_ops->bias_sigmoid(be, rows, cols, bias, bias_stride, z, a);
    before held = take_before(be, a, 1, rows * cols, rows * cols);
    BPNN_TRY(honest_ops->bias_sigmoid(be, rows, cols, bias, bias_stride, z, a));
    return add_zero_times_before(be, a, 1, rows * cols, rows * cols, held);
}

static bpnn_status reading_output_delta(backend *be, size_t rows, size_t classes, backend_view h,
                                        backend_view labels, backend_view delta)
{
    before held = take_before(be, delta, 1, rows * classes, rows * classes);
    BPNN_TRY(honest_ops->output_delta(be, rows, classes, h, labels, delta));
    return add_zero_times_before(be, delta, 1, rows * classes, rows * classes, held);
}

static bpnn_status reading_bias_gradient(backend *be, size_t rows, size_t cols, backend_view delta,
                                         double scale, double beta, backend_view grad,
                                         size_t grad_stride)
{
    if (beta != 0)
        return honest_ops->bias_gradient(be, rows, cols, delta, scale, beta, grad, grad_stride);
    before held = take_before(be, grad, cols, 1, grad_stride);
    BPNN_TRY(honest_ops->bias_gradient(be, rows, cols, delta, scale, beta, grad, grad_stride));
    return add_zero_times_before(be, grad, cols, 1, grad_stride, held);
}

static bpnn_status reading_gather_rows(backend *be, size_t rows, size_t cols, backend_view src,
                                       backend_view index, backend_view dst)
{
    before held = take_before(be, dst, 1, rows * cols, rows * cols);
    BPNN_TRY(honest_ops->gather_rows(be, rows, cols, src, index, dst));
    return add_zero_times_before(be, dst, 1, rows * cols, rows * cols, held);
}

static bpnn_status reading_copy(backend *be, size_t n, backend_view x, backend_view y)
{
    before held = take_before(be, y, 1, n, n);
    BPNN_TRY(honest_ops->copy(be, n, x, y));
    return add_zero_times_before(be, y, 1, n, n, held);
}

static bpnn_status reading_argmax_rows(backend *be, size_t rows, size_t classes, backend_view h,
                                       backend_view classes_out)
{
    int32_t *held = malloc((rows ? rows : 1) * sizeof *held);
    ck_assert_ptr_nonnull(held);
    ck_assert_int_eq(honest_ops->download_index(be, classes_out, rows, held), BPNN_OK);
    bpnn_status status = honest_ops->argmax_rows(be, rows, classes, h, classes_out);
    if (status == BPNN_OK)
        status = keep_smaller_index(be, classes_out, rows, held);
    free(held);
    return status;
}

static bpnn_status reading_gather_labels(backend *be, size_t rows, backend_view src,
                                         backend_view index, backend_view dst)
{
    int32_t *held = malloc((rows ? rows : 1) * sizeof *held);
    ck_assert_ptr_nonnull(held);
    ck_assert_int_eq(honest_ops->download_index(be, dst, rows, held), BPNN_OK);
    bpnn_status status = honest_ops->gather_labels(be, rows, src, index, dst);
    if (status == BPNN_OK)
        status = keep_smaller_index(be, dst, rows, held);
    free(held);
    return status;
}

typedef struct verify_log {
    int failed;
    char ops[256];
} verify_log;

static void log_failures(const backend_verify_result *r, void *user)
{
    verify_log *log = user;
    if (r->passed)
        return;
    log->failed++;
    size_t used = strlen(log->ops);
    snprintf(log->ops + used, sizeof log->ops - used, "%s%s", used ? "," : "", r->op);
}

/* The CPU backend verified against itself passes every op; with one op
 * reading an output it should only write, verify fails that op (all four
 * GEMMs for gemm) and no other. */
START_TEST(test_verify_catches_output_readers)
{
    static const struct {
        const char *op;
        int failures;
    } cases[] = {{NULL, 0},           {"gemm", 4},          {"bias_sigmoid", 1},
                 {"output_delta", 1}, {"bias_gradient", 1}, {"argmax_rows", 1},
                 {"gather_rows", 1},  {"gather_labels", 1}, {"copy", 1}};
    int p = _i;
    backend *reference = open_precision(p), *device = open_precision(p);
    honest_ops = device->ops;
    for (size_t n = 0; n < sizeof cases / sizeof *cases; n++) {
        const char *op = cases[n].op;
        reading_ops = *honest_ops;
        if (!op)
            ;
        else if (strcmp(op, "gemm") == 0)
            reading_ops.gemm = reading_gemm;
        else if (strcmp(op, "bias_sigmoid") == 0)
            reading_ops.bias_sigmoid = reading_bias_sigmoid;
        else if (strcmp(op, "output_delta") == 0)
            reading_ops.output_delta = reading_output_delta;
        else if (strcmp(op, "bias_gradient") == 0)
            reading_ops.bias_gradient = reading_bias_gradient;
        else if (strcmp(op, "argmax_rows") == 0)
            reading_ops.argmax_rows = reading_argmax_rows;
        else if (strcmp(op, "gather_rows") == 0)
            reading_ops.gather_rows = reading_gather_rows;
        else if (strcmp(op, "gather_labels") == 0)
            reading_ops.gather_labels = reading_gather_labels;
        else
            reading_ops.copy = reading_copy;
        device->ops = &reading_ops;
        verify_log log = {0};
        int failures = -1;
        ck_assert_int_eq(backend_verify(device, reference, NULL, log_failures, &log, &failures),
                         BPNN_OK);
        ck_assert_msg(failures == cases[n].failures, "%s reading its output: %d failed (%s)",
                      op ? op : "nothing", failures, log.ops);
        if (op)
            for (const char *at = log.ops; at; at = strchr(at, ','), at = at ? at + 1 : NULL)
                ck_assert_msg(strncmp(at, op, strlen(op)) == 0, "%s: also failed %s", op, log.ops);
    }
    device->ops = honest_ops;
    reference->ops->destroy(reference);
    device->ops->destroy(device);
}
END_TEST

/* BPNN_DEVICE_MEMORY pretends a smaller device; on the CPU both fields take it. */
START_TEST(test_device_memory_variable)
{
    static const struct {
        const char *text;
        uint64_t bytes;
    } good[] = {{"12345", 12345},
                {"3k", 3 << 10},
                {"64M", (uint64_t)64 << 20},
                {"2G", (uint64_t)2 << 30},
                {"16777215g", (uint64_t)16777215 << 30}};
    bpnn_device *device;
    unsetenv("BPNN_DEVICE_MEMORY");
    ck_assert_int_eq(bpnn_device_open("cpu", BPNN_F64, &device), BPNN_OK);
    ck_assert(device->memory_bytes == 0 && device->max_allocation == 0);
    bpnn_device_close(device);
    setenv("BPNN_DEVICE_MEMORY", "", 1); /* empty: as if unset */
    ck_assert_int_eq(bpnn_device_open("cpu", BPNN_F64, &device), BPNN_OK);
    ck_assert(device->memory_bytes == 0 && device->max_allocation == 0);
    bpnn_device_close(device);
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        setenv("BPNN_DEVICE_MEMORY", good[i].text, 1);
        ck_assert_int_eq(bpnn_device_open("cpu", BPNN_F32, &device), BPNN_OK);
        ck_assert_msg(
            device->memory_bytes == good[i].bytes && device->max_allocation == good[i].bytes,
            "BPNN_DEVICE_MEMORY=%s: %llu and %llu bytes", good[i].text,
            (unsigned long long)device->memory_bytes, (unsigned long long)device->max_allocation);
        bpnn_device_close(device);
    }
    static const char *const bad[] = {"abc",          "12X", "0",  "0M", "-5",
                                      "1.5G",         "5 M", " 5", "M",  "18446744073709551616",
                                      "17179869184G", "2GB"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        setenv("BPNN_DEVICE_MEMORY", bad[i], 1);
        device = (bpnn_device *)1;
        bpnn_status status = bpnn_device_open("cpu", BPNN_F32, &device);
        ck_assert_msg(status == BPNN_ERR_INVALID, "BPNN_DEVICE_MEMORY=%s: status %d", bad[i],
                      status);
        ck_assert_ptr_null(device);
        ck_assert_msg(strstr(bpnn_error_message(), "BPNN_DEVICE_MEMORY") &&
                          strstr(bpnn_error_message(), bad[i]),
                      "message: %s", bpnn_error_message());
    }
    printf("BPNN_DEVICE_MEMORY=%s -> %s\n", bad[sizeof bad / sizeof *bad - 1],
           bpnn_error_message());
    unsetenv("BPNN_DEVICE_MEMORY");
}
END_TEST

/* main() re-executed this program with OPENBLAS_CORETYPE when OpenBLAS had
 * picked weaker kernels than CPUID allows (what bpnn-cl does). */
START_TEST(test_blas_core_matches_cpu)
{
    const char *best = bpnn_blas_core_best();
    printf("OpenBLAS core %s, CPUID allows %s\n", openblas_get_corename(), best ? best : "-");
    ck_assert_msg(!bpnn_blas_core_is_weaker(), "OpenBLAS runs %s although the CPU can run %s",
                  openblas_get_corename(), best);
}
END_TEST

static Suite *cpu_suite(void)
{
    Suite *s = suite_create("cpu_backend");
    TCase *t = tcase_create("ops");
    tcase_set_timeout(t, 60);
    tcase_add_loop_test(t, test_gemm_all_transposes, BPNN_F32, BPNN_F64 + 1);
    tcase_add_loop_test(t, test_network_ops, BPNN_F32, BPNN_F64 + 1);
    tcase_add_loop_test(t, test_regularization_ops, BPNN_F32, BPNN_F64 + 1);
    tcase_add_loop_test(t, test_vector_ops, BPNN_F32, BPNN_F64 + 1);
    tcase_add_loop_test(t, test_gather_ops, BPNN_F32, BPNN_F64 + 1);
    tcase_add_loop_test(t, test_update_ops, BPNN_F32, BPNN_F64 + 1);
    tcase_add_loop_test(t, test_max_abs_non_finite, BPNN_F32, BPNN_F64 + 1);
    tcase_add_loop_test(t, test_argmax_ties, BPNN_F32, BPNN_F64 + 1);
    tcase_add_loop_test(t, test_verify_catches_output_readers, BPNN_F32, BPNN_F64 + 1);
    tcase_add_test(t, test_device_memory_variable);
    tcase_add_test(t, test_blas_core_matches_cpu);
    suite_add_tcase(s, t);
    return s;
}

int main(int argc, char **argv)
{
    (void)argc;
    cli_blas_reexec_if_weaker(argv);
    return run_suite(cpu_suite());
}
