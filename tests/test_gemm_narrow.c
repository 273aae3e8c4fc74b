/* test_gemm_narrow.c — the CPU path's GEMMs with a narrow side
 * (backend/cpu_gemm_narrow.c) against long double loops, f32 and f64: the
 * shapes the network gives them and their edges (one column, widths and
 * depths that are no multiple of a vector, rows that are no multiple of a
 * block, strides and offsets as Theta's, the alphas and betas the network
 * uses, NaN in C with beta 0), the shapes left to the BLAS, and the same bits
 * whatever the chunks' order and thread, directly and through the backend's
 * gemm op with 1 and 2 threads. */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu_gemm_narrow.h"
#include "bpnn.h"
#include "cli/cli.h"
#include "testutil.h"

/* Deterministic values in [-1, 1) with 20 significant bits (exact in f32). */
static void fill(double *v, size_t n, unsigned seed)
{
    unsigned long long s = 0x9E3779B97F4A7C15ULL * (seed + 1);
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        v[i] = (double)(s >> 44) * 0x1.0p-19 - 1.0;
    }
}

/* ---- ways to run the chunks ---- */

static void in_order(size_t chunks, gemm_narrow_chunk_fn fn, void *ctx)
{
    for (size_t c = 0; c < chunks; c++)
        fn(ctx, c);
}

static void backwards(size_t chunks, gemm_narrow_chunk_fn fn, void *ctx)
{
    for (size_t c = chunks; c-- > 0;)
        fn(ctx, c);
}

/* A second thread, started once (a thread per call costs ASan more than the
 * kernels), runs the odd chunks while the caller runs the even ones. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int posted, done;
    size_t chunks;
    gemm_narrow_chunk_fn fn;
    void *ctx;
} odd = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};

static void *run_odd(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&odd.lock);
    for (;;) {
        while (odd.posted == odd.done)
            pthread_cond_wait(&odd.changed, &odd.lock);
        pthread_mutex_unlock(&odd.lock);
        for (size_t c = 1; c < odd.chunks; c += 2)
            odd.fn(odd.ctx, c);
        pthread_mutex_lock(&odd.lock);
        odd.done++;
        pthread_cond_broadcast(&odd.changed);
    }
    return NULL;
}

static void start_odd(void)
{
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, run_odd, NULL), 0);
    pthread_detach(thread);
}

static void two_threads(size_t chunks, gemm_narrow_chunk_fn fn, void *ctx)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, start_odd);
    pthread_mutex_lock(&odd.lock);
    odd.chunks = chunks, odd.fn = fn, odd.ctx = ctx;
    odd.posted++;
    pthread_cond_broadcast(&odd.changed);
    pthread_mutex_unlock(&odd.lock);
    for (size_t c = 0; c < chunks; c += 2)
        fn(ctx, c);
    pthread_mutex_lock(&odd.lock);
    while (odd.done != odd.posted)
        pthread_cond_wait(&odd.changed, &odd.lock);
    pthread_mutex_unlock(&odd.lock);
}

static const gemm_narrow_parallel_fn runners[] = {in_order, backwards, two_threads};

/* ---- one case ---- */

typedef struct gemm_case {
    int ta, tb;
    size_t m, n, k;
    double alpha, beta;
    size_t pad_a, pad_b; /* leading dimensions wider than the matrices by this */
} gemm_case;

static int taken_here(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    return __builtin_cpu_supports("avx512f") != 0;
#else
    return 0;
#endif
}

/* Runs `g` on precision p with every runner: 1 when the kernels took it
 * (checked against long double and bit for bit across runners), 0 when they
 * left it to the BLAS (C untouched). */
static int check_case(const gemm_case *g, int p)
{
    size_t m = g->m, n = g->n, k = g->k;
    size_t lda = (g->ta ? m : k) + g->pad_a, ldb = (g->tb ? k : n) + g->pad_b, ldc = n + 3;
    size_t oa = 3, ob = 1, oc = 5; /* offsets: Theta[:,1:] sits one value in */
    size_t na = oa + (g->ta ? k : m) * lda + 7, nb = ob + (g->tb ? n : k) * ldb + 7,
           nc = oc + m * ldc + 7;
    double *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c = malloc(nc * sizeof *c);
    fill(a, na, (unsigned)(m + 7 * n + 31 * k)), fill(b, nb, 2), fill(c, nc, 3);
    if (g->beta == 0) /* C is not read: its NaN must not come through */
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++)
                c[oc + i * ldc + j] = NAN;
    size_t es = p == BPNN_F64 ? sizeof(double) : sizeof(float);
    /* 64-byte aligned like the backend's buffers; the offsets misalign */
    void *ra = aligned_alloc(64, (na * es + 63) / 64 * 64);
    void *rb = aligned_alloc(64, (nb * es + 63) / 64 * 64);
    void *first = aligned_alloc(64, (nc * es + 63) / 64 * 64);
    void *again = aligned_alloc(64, (nc * es + 63) / 64 * 64);
    for (size_t i = 0; i < na; i++)
        p == BPNN_F64 ? (void)(((double *)ra)[i] = a[i]) : (void)(((float *)ra)[i] = (float)a[i]);
    for (size_t i = 0; i < nb; i++)
        p == BPNN_F64 ? (void)(((double *)rb)[i] = b[i]) : (void)(((float *)rb)[i] = (float)b[i]);
    int took = -1;
    for (size_t r = 0; r < sizeof runners / sizeof *runners; r++) {
        void *out = r == 0 ? first : again;
        for (size_t i = 0; i < nc; i++)
            p == BPNN_F64 ? (void)(((double *)out)[i] = c[i])
                          : (void)(((float *)out)[i] = (float)c[i]);
        int t = p == BPNN_F64 ? gemm_narrow_f64(g->ta, g->tb, m, n, k, g->alpha, (double *)ra + oa,
                                                lda, (double *)rb + ob, ldb, g->beta,
                                                (double *)out + oc, ldc, runners[r])
                              : gemm_narrow_f32(g->ta, g->tb, m, n, k, (float)g->alpha,
                                                (float *)ra + oa, lda, (float *)rb + ob, ldb,
                                                (float)g->beta, (float *)out + oc, ldc, runners[r]);
        ck_assert(took < 0 || t == took);
        took = t;
        if (r > 0)
            ck_assert_msg(memcmp(first, again, nc * es) == 0,
                          "%s %zux%zux%zu ta=%d tb=%d: runner %zu gave other bits",
                          p == BPNN_F64 ? "f64" : "f32", m, n, k, g->ta, g->tb, r);
    }
    double tol = p == BPNN_F64 ? 1e-13 : 2e-6;
    for (size_t i = 0; i < nc; i++) {
        double got = p == BPNN_F64 ? ((double *)first)[i] : ((float *)first)[i];
        double old = p == BPNN_F64 ? c[i] : (double)(float)c[i];
        size_t row = (i - oc) / ldc, col = (i - oc) % ldc;
        int inside = i >= oc && row < m && col < n;
        if (!took || !inside) { /* outside C, and the padding between its rows */
            if (!(got == old || (isnan(got) && isnan(old))))
                ck_abort_msg("[%zu] written: %g -> %g", i, old, got);
            continue;
        }
        long double sum = 0, scale = 0;
        for (size_t q = 0; q < k; q++) {
            long double x = a[oa + (g->ta ? q * lda + row : row * lda + q)];
            long double y = b[ob + (g->tb ? col * ldb + q : q * ldb + col)];
            if (p != BPNN_F64)
                x = (float)x, y = (float)y;
            sum += x * y;
            scale += fabsl(x * y);
        }
        long double want = (long double)g->alpha * sum + (g->beta != 0 ? g->beta * old : 0);
        scale = fabsl((long double)g->alpha) * scale + (g->beta != 0 ? fabs(g->beta * old) : 0);
        /* ck_abort, not ck_assert: Check records every passing assertion */
        if (!(isfinite(got) && fabsl(got - want) <= tol * 4 * (scale + 1)))
            ck_abort_msg("%s %zux%zux%zu ta=%d tb=%d alpha=%g beta=%g C[%zu,%zu]: %.17g vs %.17Lg",
                         p == BPNN_F64 ? "f64" : "f32", m, n, k, g->ta, g->tb, g->alpha, g->beta,
                         row, col, got, want);
    }
    free(ra), free(rb), free(first), free(again), free(a), free(b), free(c);
    return took;
}

/* alpha, beta as the network calls: forward (1, 0), the first block's weight
 * gradient (1/m, 0), the others' (1/m, 1); and any other pair. */
static const double alpha_beta[][2] = {{1, 0}, {1.0 / 5000, 0}, {1.0 / 5000, 1}, {0.75, -0.5}};

START_TEST(test_forward_shapes)
{
    /* Z = X W^T: NT, n narrow; Theta's rows are 785 apart (pad_b 1) */
    static const size_t ms[] = {64, 65, 69, 70, 334, 668};
    static const size_t ns[] = {1, 2, 5, 7, 8, 10, 16, 17, 25, 31, 32};
    static const size_t ks[] = {1, 7, 8, 9, 25, 32, 33, 63, 65, 100, 784};
    int p = _i;
    int expected = taken_here();
    for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
            for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
                /* many rows with the network's shapes only: the suite stays short */
                if (ms[mi] > 70 && ((ns[ni] != 25 && ns[ni] != 10) ||
                                    (ks[ki] != 784 && ks[ki] != 25 && ks[ki] != 33)))
                    continue;
                size_t ab = (mi + ni + ki) % 4;
                gemm_case g = {
                    0,      1,         ms[mi], ns[ni], ks[ki], alpha_beta[ab][0], alpha_beta[ab][1],
                    ki % 3, 1 + ni % 2};
                ck_assert_int_eq(check_case(&g, p), expected);
            }
}
END_TEST

START_TEST(test_gradient_shapes)
{
    /* grad = D^T A / m (+ grad): TN, m narrow (the units), k the rows */
    static const size_t ms[] = {1, 2, 5, 6, 7, 10, 12, 13, 25, 31, 32};
    static const size_t ns[] = {1, 7, 8, 9, 25, 31, 32, 33, 64, 65, 100, 784};
    static const size_t ks[] = {64, 65, 97, 334, 668};
    int p = _i;
    int expected = taken_here();
    for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
            for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
                if (ks[ki] > 100 && ((ms[mi] != 25 && ms[mi] != 10) ||
                                     (ns[ni] != 784 && ns[ni] != 25 && ns[ni] != 33)))
                    continue;
                size_t ab = (mi + ni + ki) % 4;
                gemm_case g = {
                    1,      0,     ms[mi], ns[ni], ks[ki], alpha_beta[ab][0], alpha_beta[ab][1],
                    ki % 2, ni % 3};
                ck_assert_int_eq(check_case(&g, p), expected);
            }
}
END_TEST

START_TEST(test_short_shapes)
{
    /* the delta D_l = D_{l+1} Theta_l[:,1:] (NN) and a forward with few
     * inputs (NT): k short, n narrow */
    static const size_t ms[] = {64, 67, 128, 334};
    static const size_t ns[] = {1, 3, 8, 10, 16, 17, 25, 32};
    static const size_t ks[] = {0, 1, 2, 9, 10, 16, 25, 31, 32};
    int p = _i;
    int expected = taken_here();
    for (int tb = 0; tb < 2; tb++)
        for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
            for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
                for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
                    size_t ab = (mi + ni + ki) % 4;
                    gemm_case g = {
                        0,      tb, ms[mi], ns[ni], ks[ki], alpha_beta[ab][0], alpha_beta[ab][1],
                        ni % 2, 1};
                    ck_assert_int_eq(check_case(&g, p), expected);
                }
}
END_TEST

START_TEST(test_shapes_left_to_blas)
{
    /* too wide, too few rows or steps, too long for the short path, a
     * transpose not handled, alpha 0: nothing is written, the BLAS runs */
    static const gemm_case left[] = {
        {0, 1, 334, 33, 784, 1, 0, 0, 1},  {0, 1, 63, 25, 784, 1, 0, 0, 1},
        {1, 0, 33, 784, 334, 1, 0, 0, 0},  {1, 0, 25, 784, 63, 1, 1, 0, 0},
        {0, 0, 334, 25, 33, 1, 0, 0, 1},   {0, 0, 334, 33, 10, 1, 0, 0, 1},
        {0, 0, 63, 25, 10, 1, 0, 0, 1},    {1, 1, 25, 25, 334, 1, 0, 0, 0},
        {0, 1, 334, 25, 784, 0, 0.5, 0, 1}};
    int p = _i;
    for (size_t i = 0; i < sizeof left / sizeof *left; i++)
        ck_assert_int_eq(check_case(&left[i], p), 0);
}
END_TEST

/* The network's shapes through the backend's gemm op (cpu.c's thread pool):
 * --threads 1 and 2 give the same bits. */
START_TEST(test_backend_threads_same_bits)
{
    static const gemm_case shapes[] = {
        {0, 1, 334, 25, 784, 1, 0, 0, 1}, {1, 0, 25, 784, 334, 1.0 / 5000, 1, 0, 1},
        {0, 1, 334, 10, 25, 1, 0, 0, 1},  {1, 0, 10, 25, 334, 1.0 / 5000, 0, 0, 1},
        {0, 0, 334, 25, 10, 1, 0, 0, 1},  {0, 1, 668, 25, 784, 1, 0, 0, 1}};
    int p = _i;
    backend *be = NULL;
    ck_assert_int_eq(cpu_backend_create((bpnn_precision)p, &be), BPNN_OK);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const gemm_case *g = &shapes[s];
        size_t lda = (g->ta ? g->m : g->k), ldb = (g->tb ? g->k : g->n) + g->pad_b, ldc = g->n;
        size_t na = (g->ta ? g->k : g->m) * lda, nb = 1 + (g->tb ? g->n : g->k) * ldb,
               nc = g->m * ldc;
        double *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b),
               *c = malloc(nc * sizeof *c), *out[2];
        fill(a, na, 11), fill(b, nb, 12), fill(c, nc, 13);
        backend_buffer *ba, *bb, *bc;
        ck_assert_int_eq(backend_alloc(be, BACKEND_REAL, na, &ba), BPNN_OK);
        ck_assert_int_eq(backend_alloc(be, BACKEND_REAL, nb, &bb), BPNN_OK);
        ck_assert_int_eq(backend_alloc(be, BACKEND_REAL, nc, &bc), BPNN_OK);
        ck_assert_int_eq(be->ops->upload(be, view_at(ba, 0), na, a), BPNN_OK);
        ck_assert_int_eq(be->ops->upload(be, view_at(bb, 0), nb, b), BPNN_OK);
        for (int t = 0; t < 2; t++) {
            bpnn_set_threads(t + 1);
            ck_assert_int_eq(be->ops->upload(be, view_at(bc, 0), nc, c), BPNN_OK);
            ck_assert_int_eq(be->ops->gemm(be, g->ta, g->tb, g->m, g->n, g->k, g->alpha,
                                           view_at(ba, 0), lda, view_at(bb, 1), ldb, g->beta,
                                           view_at(bc, 0), ldc),
                             BPNN_OK);
            out[t] = malloc(nc * sizeof *out[t]);
            ck_assert_int_eq(be->ops->download(be, view_at(bc, 0), nc, out[t]), BPNN_OK);
        }
        ck_assert_msg(memcmp(out[0], out[1], nc * sizeof *out[0]) == 0,
                      "%zux%zux%zu ta=%d tb=%d: 1 and 2 threads differ", g->m, g->n, g->k, g->ta,
                      g->tb);
        backend_release(be, ba), backend_release(be, bb), backend_release(be, bc);
        free(a), free(b), free(c), free(out[0]), free(out[1]);
    }
    be->ops->destroy(be);
}
END_TEST

static Suite *gemm_narrow_suite(void)
{
    Suite *s = suite_create("gemm_narrow");
    TCase *t = tcase_create("kernels");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, test_forward_shapes, BPNN_F32, BPNN_F64 + 1);
    tcase_add_loop_test(t, test_gradient_shapes, BPNN_F32, BPNN_F64 + 1);
    tcase_add_loop_test(t, test_short_shapes, BPNN_F32, BPNN_F64 + 1);
    tcase_add_loop_test(t, test_shapes_left_to_blas, BPNN_F32, BPNN_F64 + 1);
    tcase_add_loop_test(t, test_backend_threads_same_bits, BPNN_F32, BPNN_F64 + 1);
    suite_add_tcase(s, t);
    return s;
}

int main(int argc, char **argv)
{
    (void)argc;
    cli_blas_reexec_if_weaker(argv);
    return run_suite(gemm_narrow_suite());
}
