/* test_opencl.c — the OpenCL backend against the CPU backend, op by op and
 * through the core, and its error paths.
 *
 * Runs under CK_FORK=no (tests/meson.build): every OpenCL call happens inside
 * a test function, never in main() before Check could fork. Without an OpenCL
 * platform the tests skip with a message on stderr, except in CI (CI set),
 * where that is a failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/opencl/opencl_backend.h"
#include "backend/verify.h"
#include "testutil.h"
#include "testutil_opencl.h"
#include "util/error.h"
#include "util/timer.h"

/* ---- probing ------------------------------------------------------------------ */

static int first_device_has_fp64(void)
{
    opencl_device_info *list;
    size_t n;
    ck_assert_int_eq(opencl_list_devices(&list, &n), BPNN_OK);
    int fp64 = 0;
    backend *be;
    /* the device "opencl" resolves to */
    if (opencl_backend_open("opencl", BPNN_F32, &be) == BPNN_OK) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(list[i].spec, be->spec) == 0)
                fp64 = list[i].fp64;
        bpnn_device_close(be);
    }
    free(list);
    return fp64;
}

static backend *open_or_fail(const char *spec, bpnn_precision precision)
{
    backend *be = NULL;
    bpnn_status status = opencl_backend_open(spec, precision, &be);
    ck_assert_msg(status == BPNN_OK && be, "opening %s %s: %s", spec,
                  bpnn_precision_name(precision), bpnn_error_message());
    return be;
}

static backend *open_cpu(bpnn_precision precision)
{
    backend *be = NULL;
    ck_assert_int_eq(cpu_backend_create(precision, &be), BPNN_OK);
    return be;
}

#define ck_assert_contains(haystack, needle)                                                       \
    ck_assert_msg(strstr((haystack), (needle)) != NULL, "expected \"%s\" in: %s", (needle),        \
                  (haystack))

/* ---- devices and selection ---------------------------------------------------- */

START_TEST(test_list_devices)
{
    REQUIRE_OPENCL();
    opencl_device_info *list;
    size_t n;
    ck_assert_int_eq(opencl_list_devices(&list, &n), BPNN_OK);
    ck_assert_uint_gt(n, 0);
    for (size_t i = 0; i < n; i++) {
        char spec[32];
        snprintf(spec, sizeof spec, "opencl:%d:%d", list[i].platform_index, list[i].device_index);
        ck_assert_str_eq(list[i].spec, spec);
        ck_assert(list[i].name[0]);
        ck_assert(list[i].platform_name[0]);
        ck_assert(list[i].driver_version[0]);
        ck_assert_uint_gt(list[i].compute_units, 0);
        ck_assert(list[i].global_memory > 0);
        ck_assert(list[i].max_allocation > 0 && list[i].max_allocation <= list[i].global_memory);
        printf("device %s: %s (%s), %u compute units, %.1f GiB, max alloc %.1f GiB, fp64 %s, "
               "driver %s, %s\n",
               list[i].spec, list[i].name, list[i].type, list[i].compute_units,
               (double)list[i].global_memory / (1u << 30),
               (double)list[i].max_allocation / (1u << 30), list[i].fp64 ? "yes" : "no",
               list[i].driver_version, list[i].platform_name);
    }
    /* every listed device opens by its index */
    backend *be = open_or_fail(list[0].spec, BPNN_F32);
    ck_assert_str_eq(be->spec, list[0].spec);
    ck_assert_str_eq(be->name, list[0].name);
    ck_assert_contains(be->description, list[0].platform_name);
    bpnn_device_close(be);
    free(list);
}
END_TEST

START_TEST(test_bad_device_strings)
{
    REQUIRE_OPENCL();
    static const char *const bad[] = {"opencl:9:9",   "opencl:0:99", "opencl:x", "opencl:0",
                                      "opencl:0:0:0", "opencl:-1:0", "fpga",     "",
                                      "GPU"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        backend *be = (backend *)1;
        bpnn_status status = bpnn_device_open(bad[i], BPNN_F32, &be);
        ck_assert_msg(status == BPNN_ERR_INVALID, "--device \"%s\": status %d (%s)", bad[i], status,
                      bpnn_error_message());
        ck_assert_ptr_null(be);
        ck_assert_contains(bpnn_error_message(), bad[i]);
        /* the backend's own parser refuses them too */
        be = (backend *)1;
        ck_assert_int_eq(opencl_backend_open(bad[i], BPNN_F32, &be), BPNN_ERR_INVALID);
        ck_assert_ptr_null(be);
    }
    /* out of range: the message lists what exists */
    backend *be;
    ck_assert_int_eq(bpnn_device_open("opencl:9:9", BPNN_F32, &be), BPNN_ERR_INVALID);
    ck_assert_contains(bpnn_error_message(), "no such OpenCL device");
    ck_assert_contains(bpnn_error_message(), "opencl:0:0");
    ck_assert_contains(bpnn_error_message(), "--device cpu");
    printf("opencl:9:9 -> %s\n", bpnn_error_message());
}
END_TEST

START_TEST(test_gpu_without_gpu)
{
    REQUIRE_OPENCL();
    opencl_device_info *list;
    size_t n;
    ck_assert_int_eq(opencl_list_devices(&list, &n), BPNN_OK);
    const opencl_device_info *gpu = NULL;
    for (size_t i = 0; i < n && !gpu; i++)
        if (list[i].is_gpu)
            gpu = &list[i];
    backend *be = NULL;
    bpnn_status status = bpnn_device_open("gpu", BPNN_F32, &be);
    if (gpu) {
        /* a machine with a GPU: --device gpu is that GPU */
        ck_assert_msg(status == BPNN_OK, "%s", bpnn_error_message());
        ck_assert_str_eq(be->spec, gpu->spec);
        printf("--device gpu -> %s (%s)\n", be->spec, be->name);
        bpnn_device_close(be);
        ck_assert_int_eq(opencl_gpu_available(BPNN_F32), 1);
    } else {
        ck_assert_int_eq(status, BPNN_ERR_INVALID);
        ck_assert_ptr_null(be);
        const char *m = bpnn_error_message();
        printf("--device gpu -> %s\n", m);
        ck_assert_contains(m, "no OpenCL GPU found");
        ck_assert_contains(m, list[0].spec); /* the devices found */
        ck_assert_contains(m, list[0].name);
        ck_assert_contains(m, "--device opencl");
        ck_assert_contains(m, "--device cpu");
        ck_assert_int_eq(opencl_gpu_available(BPNN_F32), 0);
        /* auto falls back to the CPU */
        ck_assert_int_eq(opencl_backend_open("auto", BPNN_F32, &be), BPNN_OK);
        ck_assert_ptr_null(be);
        ck_assert_int_eq(bpnn_device_open("auto", BPNN_F32, &be), BPNN_OK);
        ck_assert_str_eq(be->spec, "cpu");
        bpnn_device_close(be);
    }
    free(list);
}
END_TEST

START_TEST(test_no_fp64)
{
    REQUIRE_OPENCL();
    setenv("BPNN_OPENCL_ASSUME_NO_FP64", "1", 1);
    backend *be = (backend *)1;
    bpnn_status status = bpnn_device_open("opencl", BPNN_F64, &be);
    const char *m = bpnn_error_message();
    printf("f64 without fp64 -> %s\n", m);
    int listed_fp64 = 1;
    opencl_device_info *list;
    size_t n;
    if (opencl_list_devices(&list, &n) == BPNN_OK) {
        listed_fp64 = n > 0 && list[0].fp64;
        free(list);
    }
    int gpu_f64 = opencl_gpu_available(BPNN_F64);
    /* f32 still opens, with compensated float sums */
    backend *f32 = NULL;
    bpnn_status f32_status = opencl_backend_open("opencl", BPNN_F32, &f32);
    unsetenv("BPNN_OPENCL_ASSUME_NO_FP64");

    ck_assert_int_eq(status, BPNN_ERR_INVALID);
    ck_assert_ptr_null(be);
    ck_assert_contains(m, "f64 not supported");
    ck_assert_contains(m, "cl_khr_fp64");
    ck_assert_contains(m, "--precision f32");
    ck_assert_int_eq(listed_fp64, 0);
    ck_assert_int_eq(gpu_f64, 0);
    ck_assert_msg(f32_status == BPNN_OK, "%s", bpnn_error_message());
    ck_assert_int_eq(opencl_backend_accumulates_in_double(f32), 0);
    bpnn_device_close(f32);
}
END_TEST

/* ---- op by op against the CPU ------------------------------------------------- */

typedef struct verify_tally {
    int ops;
    int failed;
    char failures[1024];
} verify_tally;

static void print_result(const backend_verify_result *r, void *user)
{
    verify_tally *t = user;
    t->ops++;
    printf("  %-28s %s  error %-10.3g threshold %-7.0e %s  (%d cases; worst %s)%s%s\n", r->op,
           bpnn_precision_name(r->precision), r->error, r->threshold, r->passed ? "PASS" : "FAIL",
           r->cases, r->worst_case, r->status ? ": " : "", r->status ? r->message : "");
    if (!r->passed) {
        t->failed++;
        size_t used = strlen(t->failures);
        snprintf(t->failures + used, sizeof t->failures - used, "%s%s (%.3g: %s)", used ? ", " : "",
                 r->op, r->error, r->message);
    }
    fflush(stdout);
}

/* Verifies the device `spec` in `precision` (ops starting with `only`), every op passing. */
static void verify_device(backend *dev, const char *only, int expected_ops)
{
    backend *cpu = open_cpu(dev->precision);
    verify_tally tally = {0};
    int failures = -1;
    printf("verify %s %s%s%s:\n", dev->spec, bpnn_precision_name(dev->precision),
           only ? " ops " : "", only ? only : "");
    double t0 = bpnn_now();
    ck_assert_int_eq(backend_verify(dev, cpu, only, print_result, &tally, &failures), BPNN_OK);
    printf("  %d ops in %.2f s\n", tally.ops, bpnn_now() - t0);
    bpnn_device_close(cpu);
    ck_assert_msg(failures == 0 && tally.failed == 0, "%d ops failed: %s", tally.failed,
                  tally.failures);
    if (expected_ops > 0)
        ck_assert_int_eq(tally.ops, expected_ops);
}

#define ALL_OPS 25 /* backend_verify's table */

START_TEST(test_verify_f32)
{
    REQUIRE_OPENCL();
    backend *dev = open_or_fail("opencl", BPNN_F32);
    verify_device(dev, NULL, ALL_OPS);
    bpnn_device_close(dev);
}
END_TEST

START_TEST(test_verify_f64)
{
    REQUIRE_OPENCL();
    if (!first_device_has_fp64()) {
        /* then f64 must be refused; test_no_fp64 checks the message */
        backend *be;
        ck_assert_int_eq(opencl_backend_open("opencl", BPNN_F64, &be), BPNN_ERR_INVALID);
        printf("device without fp64: f64 verify not applicable\n");
        return;
    }
    backend *dev = open_or_fail("opencl", BPNN_F64);
    ck_assert_int_eq(opencl_backend_accumulates_in_double(dev), 1);
    verify_device(dev, NULL, ALL_OPS);
    bpnn_device_close(dev);
}
END_TEST

START_TEST(test_verify_f32_compensated)
{
    REQUIRE_OPENCL();
    /* the float-only path of the reductions, as on a device without fp64 */
    setenv("BPNN_OPENCL_ASSUME_NO_FP64", "1", 1);
    backend *dev = NULL;
    bpnn_status status = opencl_backend_open("opencl", BPNN_F32, &dev);
    unsetenv("BPNN_OPENCL_ASSUME_NO_FP64");
    ck_assert_msg(status == BPNN_OK, "%s", bpnn_error_message());
    ck_assert_int_eq(opencl_backend_accumulates_in_double(dev), 0);
    verify_device(dev, NULL, ALL_OPS);

    /* compensation at work: 1 + n * 1e-8 in float loses every small term
     * without it; the result must be within a few float ulps of the truth. */
    size_t n = 100000;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    ck_assert(x && y);
    for (size_t i = 0; i < n; i++) {
        x[i] = i == 0 ? 1.0 : 1e-4;
        y[i] = i == 0 ? 1.0 : 1e-4;
    }
    backend_buffer *bx, *by;
    ck_assert_int_eq(backend_alloc(dev, BACKEND_REAL, n, &bx), BPNN_OK);
    ck_assert_int_eq(backend_alloc(dev, BACKEND_REAL, n, &by), BPNN_OK);
    ck_assert_int_eq(dev->ops->upload(dev, view_at(bx, 0), n, x), BPNN_OK);
    ck_assert_int_eq(dev->ops->upload(dev, view_at(by, 0), n, y), BPNN_OK);
    double dot = 0, exact = 0;
    ck_assert_int_eq(backend_read_dot(dev, n, view_at(bx, 0), view_at(by, 0), &dot), BPNN_OK);
    float term = (float)1e-4 * (float)1e-4; /* each product is rounded to float first */
    exact = 1.0 + (double)(n - 1) * (double)term;
    printf("compensated dot: %.9g, exact %.9g\n", dot, exact);
    ck_assert_rel(dot, exact, 1e-6);
    backend_release(dev, bx);
    backend_release(dev, by);
    free(x);
    free(y);
    bpnn_device_close(dev);
}
END_TEST

START_TEST(test_gemm_paths)
{
    REQUIRE_OPENCL();
    int precisions = first_device_has_fp64() ? 2 : 1;
    for (int p = 0; p < precisions; p++) {
        bpnn_precision precision = p ? BPNN_F64 : BPNN_F32;
        backend *dev = open_or_fail("opencl", precision);
        size_t start_bytes = opencl_backend_gemm_temp_bytes(dev);

        ck_assert_int_eq(opencl_backend_force_gemm_path(dev, OPENCL_GEMM_DIRECT), BPNN_OK);
        printf("direct GEMM:\n");
        verify_device(dev, "gemm", 4);
        size_t direct_bytes = opencl_backend_gemm_temp_bytes(dev);

        ck_assert_int_eq(opencl_backend_force_gemm_path(dev, OPENCL_GEMM_INDIRECT), BPNN_OK);
        printf("indirect GEMM:\n");
        bpnn_status indirect = BPNN_OK;
        /* restore the tuned parameters even when the check fails */
        backend *cpu = open_cpu(precision);
        verify_tally tally = {0};
        int failures = -1;
        indirect = backend_verify(dev, cpu, "gemm", print_result, &tally, &failures);
        size_t indirect_bytes = opencl_backend_gemm_temp_bytes(dev);
        ck_assert_int_eq(opencl_backend_force_gemm_path(dev, OPENCL_GEMM_DEFAULT), BPNN_OK);
        bpnn_device_close(cpu);

        ck_assert_int_eq(indirect, BPNN_OK);
        ck_assert_msg(failures == 0, "indirect GEMM: %s", tally.failures);
        ck_assert_int_eq(tally.ops, 4);
        /* the direct kernel needs no temp space; the indirect one pads into it */
        ck_assert_uint_eq(direct_bytes, start_bytes);
        ck_assert_uint_gt(indirect_bytes, direct_bytes);
        printf("GEMM temp buffer: %zu bytes direct, %zu bytes indirect\n", direct_bytes,
               indirect_bytes);
        bpnn_device_close(dev);
    }
}
END_TEST

START_TEST(test_gemm_edge_sizes)
{
    REQUIRE_OPENCL();
    backend *dev = open_or_fail("opencl", BPNN_F32);
    /* C is 3 x 4 with ldc 5 at offset 2 */
    double c[2 + 3 * 5 + 1], out[sizeof c / sizeof c[0]];
    size_t count = sizeof c / sizeof c[0];
    for (size_t i = 0; i < count; i++)
        c[i] = (double)i + 1;
    backend_buffer *a, *b, *cc;
    ck_assert_int_eq(backend_alloc(dev, BACKEND_REAL, 4, &a), BPNN_OK);
    ck_assert_int_eq(backend_alloc(dev, BACKEND_REAL, 4, &b), BPNN_OK);
    ck_assert_int_eq(backend_alloc(dev, BACKEND_REAL, count, &cc), BPNN_OK);
    for (int beta_zero = 0; beta_zero < 2; beta_zero++) {
        double beta = beta_zero ? 0.0 : 0.5;
        if (beta_zero)
            for (size_t i = 0; i < count; i++)
                c[i] = NAN; /* beta 0: old contents are not read */
        ck_assert_int_eq(dev->ops->upload(dev, view_at(cc, 0), count, c), BPNN_OK);
        /* k = 0: C = beta C (BLAS semantics; CLBlast itself refuses k = 0) */
        ck_assert_int_eq(dev->ops->gemm(dev, 0, 0, 3, 4, 0, 1.0, view_at(a, 0), 1, view_at(b, 0), 4,
                                        beta, view_at(cc, 2), 5),
                         BPNN_OK);
        /* m = 0, n = 0: nothing */
        ck_assert_int_eq(dev->ops->gemm(dev, 0, 0, 0, 4, 2, 1.0, view_at(a, 0), 2, view_at(b, 0), 4,
                                        beta, view_at(cc, 2), 5),
                         BPNN_OK);
        ck_assert_int_eq(dev->ops->gemm(dev, 1, 1, 3, 0, 2, 1.0, view_at(a, 0), 3, view_at(b, 0), 2,
                                        beta, view_at(cc, 2), 5),
                         BPNN_OK);
        ck_assert_int_eq(dev->ops->download(dev, view_at(cc, 0), count, out), BPNN_OK);
        for (size_t i = 0; i < count; i++) {
            int inside = i >= 2 && (i - 2) / 5 < 3 && (i - 2) % 5 < 4;
            if (inside)
                ck_assert_msg(out[i] == (beta_zero ? 0.0 : 0.5 * c[i]), "C[%zu] = %g", i, out[i]);
            else if (beta_zero)
                ck_assert_msg(isnan(out[i]), "C[%zu] = %g outside C", i, out[i]);
            else
                ck_assert_msg(out[i] == c[i], "C[%zu] = %g outside C", i, out[i]);
        }
    }
    /* empty reductions and vectors */
    double v = -1;
    ck_assert_int_eq(backend_read_dot(dev, 0, view_at(a, 0), view_at(b, 0), &v), BPNN_OK);
    ck_assert(v == 0);
    ck_assert_int_eq(backend_read_max_abs(dev, 0, view_at(a, 0), &v), BPNN_OK);
    ck_assert(v == 0);
    ck_assert_int_eq(dev->ops->axpy(dev, 0, 2.0, view_at(a, 0), view_at(b, 0)), BPNN_OK);
    ck_assert_int_eq(dev->ops->finish(dev), BPNN_OK);
    backend_release(dev, a);
    backend_release(dev, b);
    backend_release(dev, cc);
    bpnn_device_close(dev);
}
END_TEST

START_TEST(test_nan_propagates)
{
    REQUIRE_OPENCL();
    /* max_abs lets a NaN through (divergence must be seen), as the CPU does */
    backend *dev = open_or_fail("opencl", BPNN_F32);
    size_t n = 1000;
    double *x = calloc(n, sizeof *x);
    ck_assert_ptr_nonnull(x);
    x[517] = NAN;
    x[3] = 5;
    backend_buffer *b;
    ck_assert_int_eq(backend_alloc(dev, BACKEND_REAL, n, &b), BPNN_OK);
    ck_assert_int_eq(dev->ops->upload(dev, view_at(b, 0), n, x), BPNN_OK);
    double v = 0;
    ck_assert_int_eq(backend_read_max_abs(dev, n, view_at(b, 0), &v), BPNN_OK);
    ck_assert_msg(isnan(v), "max_abs = %g", v);
    ck_assert_int_eq(backend_read_dot(dev, n, view_at(b, 0), view_at(b, 0), &v), BPNN_OK);
    ck_assert_msg(isnan(v), "dot = %g", v);
    backend_release(dev, b);
    free(x);
    bpnn_device_close(dev);
}
END_TEST

START_TEST(test_stats_and_profiling)
{
    REQUIRE_OPENCL();
    backend *dev = open_or_fail("opencl", BPNN_F32);
    dev->profiling = 1;
    size_t n = 1000;
    double *x = malloc(n * sizeof *x);
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n; i++)
        x[i] = sin((double)i);
    backend_buffer *a, *c;
    ck_assert_int_eq(backend_alloc(dev, BACKEND_REAL, n, &a), BPNN_OK);
    ck_assert_int_eq(backend_alloc(dev, BACKEND_REAL, n, &c), BPNN_OK);
    ck_assert_int_eq(dev->ops->upload(dev, view_at(a, 0), n, x), BPNN_OK);
    ck_assert_uint_eq(dev->stats.bytes_to_device, n * sizeof(float));
    ck_assert_uint_eq(dev->stats.bytes_from_device, 0);

    /* a GEMM and our kernels move nothing; a reduction brings back one scalar */
    ck_assert_int_eq(dev->ops->gemm(dev, 0, 1, 10, 10, 100, 1.0, view_at(a, 0), 100, view_at(a, 0),
                                    100, 0.0, view_at(c, 0), 10),
                     BPNN_OK);
    ck_assert_int_eq(
        dev->ops->bias_sigmoid(dev, 10, 10, view_at(a, 0), 1, view_at(c, 0), view_at(c, 0)),
        BPNN_OK);
    ck_assert_int_eq(dev->ops->axpy(dev, n, 0.5, view_at(a, 0), view_at(c, 0)), BPNN_OK);
    ck_assert_uint_eq(dev->stats.bytes_from_device, 0);
    double dot;
    ck_assert_int_eq(backend_read_dot(dev, n, view_at(a, 0), view_at(c, 0), &dot), BPNN_OK);
    ck_assert_uint_eq(dev->stats.bytes_from_device, 8);
    ck_assert_uint_eq(dev->stats.bytes_to_device, n * sizeof(float));
    ck_assert_int_eq(dev->ops->finish(dev), BPNN_OK);
    ck_assert_uint_eq(dev->stats.gemm_calls, 1);
    ck_assert_uint_ge(dev->stats.kernel_calls, 4); /* bias_sigmoid, axpy, dot's two passes */
    printf("stats: %llu B to, %llu B from, GEMM %.6f s in %llu calls, kernels %.6f s in %llu "
           "calls\n",
           (unsigned long long)dev->stats.bytes_to_device,
           (unsigned long long)dev->stats.bytes_from_device, dev->stats.gemm_seconds,
           (unsigned long long)dev->stats.gemm_calls, dev->stats.kernel_seconds,
           (unsigned long long)dev->stats.kernel_calls);
    ck_assert(dev->stats.gemm_seconds > 0);
    ck_assert(dev->stats.kernel_seconds > 0);
    backend_release(dev, a);
    backend_release(dev, c);
    free(x);
    bpnn_device_close(dev);
}
END_TEST

START_TEST(test_memory_checks)
{
    REQUIRE_OPENCL();
    backend *dev = open_or_fail("opencl", BPNN_F32);
    opencl_device_info *list;
    size_t n;
    ck_assert_int_eq(opencl_list_devices(&list, &n), BPNN_OK);
    uint64_t max_alloc = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].spec, dev->spec) == 0)
            max_alloc = list[i].max_allocation;
    free(list);
    ck_assert(max_alloc > 0);

    /* larger than the device's largest allocation: refused before asking the driver */
    backend_buffer *b = (backend_buffer *)1;
    ck_assert_int_eq(backend_alloc(dev, BACKEND_REAL, (size_t)(max_alloc / 4 + 1), &b),
                     BPNN_ERR_RUNTIME);
    ck_assert_ptr_null(b);
    printf("too large -> %s\n", bpnn_error_message());
    ck_assert_contains(bpnn_error_message(), "CL_DEVICE_MAX_MEM_ALLOC_SIZE");
    ck_assert_contains(bpnn_error_message(), dev->spec);
    /* a count whose size overflows */
    ck_assert_int_eq(backend_alloc(dev, BACKEND_REAL, SIZE_MAX / 2, &b), BPNN_ERR_INVALID);

    /* views outside their buffer are refused, not written */
    ck_assert_int_eq(backend_alloc(dev, BACKEND_REAL, 10, &b), BPNN_OK);
    double values[11] = {0};
    ck_assert_int_eq(dev->ops->upload(dev, view_at(b, 0), 11, values), BPNN_ERR_RUNTIME);
    ck_assert_contains(bpnn_error_message(), "outside a buffer");
    double v;
    ck_assert_int_eq(backend_read_dot(dev, 10, view_at(b, 1), view_at(b, 0), &v), BPNN_ERR_RUNTIME);
    ck_assert_int_eq(dev->ops->sigmoid_gradient_mul(dev, 6, view_at(b, 5), view_at(b, 0)),
                     BPNN_ERR_RUNTIME);
    backend_release(dev, b);
    /* buffers left allocated are released with the device (ASan sees no leak) */
    ck_assert_int_eq(backend_alloc(dev, BACKEND_INDEX, 7, &b), BPNN_OK);
    bpnn_device_close(dev);
}
END_TEST

/* ---- mini-batch ops against the CPU ------------------------------------------------ */

/* The same values in a new buffer on each of the two backends. */
static void upload_both(backend *const be[2], const double *values, size_t n,
                        backend_buffer *out[2])
{
    for (int d = 0; d < 2; d++) {
        ck_assert_int_eq(backend_alloc(be[d], BACKEND_REAL, n, &out[d]), BPNN_OK);
        ck_assert_int_eq(be[d]->ops->upload(be[d], view_at(out[d], 0), n, values), BPNN_OK);
    }
}

static void upload_index_both(backend *const be[2], const int32_t *values, size_t n,
                              backend_buffer *out[2])
{
    for (int d = 0; d < 2; d++) {
        ck_assert_int_eq(backend_alloc(be[d], BACKEND_INDEX, n, &out[d]), BPNN_OK);
        ck_assert_int_eq(be[d]->ops->upload_index(be[d], view_at(out[d], 0), n, values), BPNN_OK);
    }
}

/* max|device - cpu| / max|cpu| over a whole buffer (NaN on one side only: infinite). */
static double buffer_error(backend *const be[2], backend_buffer *const b[2], size_t n)
{
    double *x = malloc(n * sizeof *x), *ref = malloc(n * sizeof *ref);
    ck_assert(x && ref);
    ck_assert_int_eq(be[0]->ops->download(be[0], view_at(b[0], 0), n, ref), BPNN_OK);
    ck_assert_int_eq(be[1]->ops->download(be[1], view_at(b[1], 0), n, x), BPNN_OK);
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]) || isnan(ref[i])) {
            if (isnan(x[i]) != isnan(ref[i]))
                diff = INFINITY;
            continue;
        }
        diff = fmax(diff, fabs(x[i] - ref[i]));
        scale = fmax(scale, fabs(ref[i]));
    }
    free(x);
    free(ref);
    return scale > 0 ? diff / scale : diff;
}

static void release_both(backend *const be[2], backend_buffer *const b[2])
{
    for (int d = 0; d < 2; d++)
        backend_release(be[d], b[d]);
}

/* gather_rows and gather_labels on awkward shapes, with repeated indices and
 * two outside src; the device must match the CPU exactly (they copy). */
static void check_gathers(backend *const be[2])
{
    static const size_t shapes[][3] = {/* src rows, cols, batch */
                                       {1, 1, 1},
                                       {1031, 13, 257},
                                       {7, 785, 3},
                                       {257, 1, 1000},
                                       {61, 26, 61}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        size_t src_rows = shapes[s][0], cols = shapes[s][1], batch = shapes[s][2];
        const size_t src_off = 5, index_off = 3, dst_off = 2;
        size_t n_src = src_off + src_rows * cols, n_index = index_off + batch + 2;
        size_t n_dst = dst_off + (batch + 2) * cols + 7;
        double *src = malloc(n_src * sizeof *src), *dst = malloc(n_dst * sizeof *dst);
        int32_t *index = malloc(n_index * sizeof *index), *labels = malloc(n_src * sizeof *labels);
        int32_t *got = malloc(n_dst * sizeof *got), *want = malloc(n_dst * sizeof *want);
        ck_assert(src && dst && index && labels && got && want);
        for (size_t i = 0; i < n_src; i++) {
            src[i] = sin((double)i * 0.37) * 100;
            labels[i] = (int32_t)(i % 10);
        }
        for (size_t i = 0; i < n_dst; i++)
            dst[i] = NAN; /* only written */
        for (size_t i = 0; i < n_index; i++)
            index[i] = (int32_t)((i * 131 + 17) % src_rows);
        index[index_off + batch] = -3;
        index[index_off + batch + 1] = (int32_t)src_rows;
        backend_buffer *bs[2], *bd[2], *bi[2], *bl[2], *blo[2];
        upload_both(be, src, n_src, bs);
        upload_both(be, dst, n_dst, bd);
        upload_index_both(be, index, n_index, bi);
        upload_index_both(be, labels, n_src, bl);
        for (size_t i = 0; i < n_dst; i++)
            want[i] = -5;
        upload_index_both(be, want, n_dst, blo);
        for (int d = 0; d < 2; d++) {
            ck_assert_int_eq(
                be[d]->ops->gather_rows(be[d], batch + 2, cols, view_at(bs[d], src_off),
                                        view_at(bi[d], index_off), view_at(bd[d], dst_off)),
                BPNN_OK);
            ck_assert_int_eq(
                be[d]->ops->gather_labels(be[d], batch + 2, view_at(bl[d], n_src - src_rows),
                                          view_at(bi[d], index_off), view_at(blo[d], dst_off)),
                BPNN_OK);
        }
        double error = buffer_error(be, bd, n_dst);
        ck_assert_msg(error == 0, "gather_rows %zux%zu batch %zu %s: error %g", src_rows, cols,
                      batch, bpnn_precision_name(be[1]->precision), error);
        ck_assert_int_eq(be[0]->ops->download_index(be[0], view_at(blo[0], 0), n_dst, want),
                         BPNN_OK);
        ck_assert_int_eq(be[1]->ops->download_index(be[1], view_at(blo[1], 0), n_dst, got),
                         BPNN_OK);
        ck_assert(memcmp(got, want, n_dst * sizeof *got) == 0);
        /* the indices outside src: NaN rows and -1 labels, on the device too */
        ck_assert_int_eq(got[dst_off + batch], -1);
        ck_assert_int_eq(got[dst_off + batch + 1], -1);
        ck_assert_int_eq(
            be[1]->ops->download(be[1], view_at(bd[1], dst_off + batch * cols), 2 * cols, dst),
            BPNN_OK);
        for (size_t i = 0; i < 2 * cols; i++)
            ck_assert(isnan(dst[i]));
        release_both(be, bs), release_both(be, bd), release_both(be, bi);
        release_both(be, bl), release_both(be, blo);
        free(src), free(dst), free(index), free(labels), free(got), free(want);
    }
}

/* Each optimizer over several steps, a new gradient each step: parameters and
 * state after every step within `tolerance` of the CPU's (max-norm relative). */
static void check_updates(backend *const be[2], double tolerance)
{
    static const size_t sizes[] = {1, 255, 257, 100003};
    static const backend_update_kind kinds[] = {UPDATE_SGD, UPDATE_MOMENTUM, UPDATE_NESTEROV,
                                                UPDATE_ADAM};
    static const char *const names[] = {"sgd", "momentum", "nesterov", "adam"};
    enum { STEPS = 6 };
    for (size_t k = 0; k < 4; k++) {
        double kind_worst = 0;
        for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
            size_t n = sizes[z], offset[4] = {3, 1, 2, 4}, total = n + 8;
            backend_update u = {.kind = kinds[k],
                                .lr = 0.3,
                                .momentum = 0.9,
                                .beta1 = 0.9,
                                .beta2 = 0.999,
                                .epsilon = 1e-8};
            double *v = malloc(total * sizeof *v);
            ck_assert_ptr_nonnull(v);
            backend_buffer *b[4][2]; /* params, grad, s1, s2 */
            for (int i = 0; i < 4; i++) {
                for (size_t j = 0; j < total; j++) {
                    double x = sin((double)(j * 7 + (size_t)i * 1000 + 1) * 0.113);
                    v[j] = i == 3 ? x * x : x; /* a second moment is never negative */
                }
                upload_both(be, v, total, b[i]);
            }
            int stateful = u.kind != UPDATE_SGD, adam = u.kind == UPDATE_ADAM;
            for (int step = 1; step <= STEPS; step++) {
                u.bias1 = 1 - pow(u.beta1, step);
                u.bias2 = 1 - pow(u.beta2, step);
                for (size_t j = 0; j < total; j++)
                    v[j] = cos((double)(j * 13 + (size_t)step * 101) * 0.071);
                for (int d = 0; d < 2; d++) {
                    ck_assert_int_eq(be[d]->ops->upload(be[d], view_at(b[1][d], 0), total, v),
                                     BPNN_OK);
                    bpnn_status status = be[d]->ops->update(
                        be[d], &u, n, view_at(b[0][d], offset[0]), view_at(b[1][d], offset[1]),
                        view_at(stateful ? b[2][d] : NULL, offset[2]),
                        view_at(adam ? b[3][d] : NULL, offset[3]));
                    ck_assert_msg(status == BPNN_OK, "update %s on %s: %s", names[k], be[d]->spec,
                                  bpnn_error_message());
                }
                for (int i = 0; i < 4; i++) {
                    if (i == 1)
                        continue;
                    /* the whole buffer: also what lies outside the view must agree */
                    double error = buffer_error(be, b[i], total);
                    ck_assert_msg(error <= tolerance,
                                  "update %s n=%zu step %d buffer %d %s: error %.3g > %.3g",
                                  names[k], n, step, i, bpnn_precision_name(be[1]->precision),
                                  error, tolerance);
                    kind_worst = fmax(kind_worst, error);
                }
            }
            for (int i = 0; i < 4; i++)
                release_both(be, b[i]);
            free(v);
        }
        printf("  update %-8s %s: max error %.3g over %d steps (tolerance %.0e)\n", names[k],
               bpnn_precision_name(be[1]->precision), kind_worst, STEPS, tolerance);
    }
}

START_TEST(test_minibatch_ops_vs_cpu)
{
    REQUIRE_OPENCL();
    int precisions = first_device_has_fp64() ? 2 : 1;
    for (int p = 0; p < precisions; p++) {
        bpnn_precision precision = p ? BPNN_F64 : BPNN_F32;
        backend *be[2] = {open_cpu(precision), open_or_fail("opencl", precision)};
        check_gathers(be);
        /* a few roundings per step in REAL; OpenCL's float sqrt and division
         * may be off by 3 ulp */
        check_updates(be, precision == BPNN_F64 ? 1e-12 : 1e-5);
        bpnn_device_close(be[1]);
        bpnn_device_close(be[0]);
    }
}
END_TEST

START_TEST(test_minibatch_view_checks)
{
    REQUIRE_OPENCL();
    backend *dev = open_or_fail("opencl", BPNN_F32);
    backend_buffer *r, *idx;
    ck_assert_int_eq(backend_alloc(dev, BACKEND_REAL, 10, &r), BPNN_OK);
    ck_assert_int_eq(backend_alloc(dev, BACKEND_INDEX, 10, &idx), BPNN_OK);
    backend_update u = {.kind = UPDATE_ADAM,
                        .lr = 0.1,
                        .beta1 = 0.9,
                        .beta2 = 0.999,
                        .epsilon = 1e-8,
                        .bias1 = 0.1,
                        .bias2 = 0.001};
    /* a state view reaching past its buffer */
    ck_assert_int_eq(
        dev->ops->update(dev, &u, 5, view_at(r, 0), view_at(r, 5), view_at(r, 6), view_at(r, 0)),
        BPNN_ERR_RUNTIME);
    ck_assert_contains(bpnn_error_message(), "outside a buffer");
    /* Adam without its second moment */
    ck_assert_int_eq(
        dev->ops->update(dev, &u, 5, view_at(r, 0), view_at(r, 5), view_at(r, 0), view_at(NULL, 0)),
        BPNN_ERR_RUNTIME);
    ck_assert_contains(bpnn_error_message(), "no buffer");
    u.kind = (backend_update_kind)7;
    ck_assert_int_eq(
        dev->ops->update(dev, &u, 5, view_at(r, 0), view_at(r, 5), view_at(r, 0), view_at(r, 0)),
        BPNN_ERR_RUNTIME);
    ck_assert_contains(bpnn_error_message(), "optimizer kind");
    /* an index view that is REAL, and a dst too short for the batch */
    ck_assert_int_eq(dev->ops->gather_rows(dev, 2, 3, view_at(r, 0), view_at(r, 0), view_at(r, 0)),
                     BPNN_ERR_RUNTIME);
    ck_assert_int_eq(
        dev->ops->gather_rows(dev, 4, 3, view_at(r, 0), view_at(idx, 0), view_at(r, 0)),
        BPNN_ERR_RUNTIME);
    ck_assert_contains(bpnn_error_message(), "outside a buffer");
    ck_assert_int_eq(
        dev->ops->gather_labels(dev, 11, view_at(idx, 0), view_at(idx, 0), view_at(idx, 0)),
        BPNN_ERR_RUNTIME);
    backend_release(dev, r);
    backend_release(dev, idx);
    bpnn_device_close(dev);
}
END_TEST

/* ---- work-group sizes and bias_gradient's grid -------------------------------------- */

/* The choice from limits alone, at figures real GPUs report (no device needed). */
START_TEST(test_work_group_choice)
{
    /* NVIDIA-like: 1024 work-items, warp 32, 48 KiB local memory */
    opencl_group_limits gpu = {.kernel_max = 1024,
                               .device_max = 1024,
                               .dim0_max = 1024,
                               .multiple = 32,
                               .local_memory = 49152,
                               .kernel_local = 0,
                               .scratch_per_item = 8};
    ck_assert_uint_eq(opencl_work_group_size(&gpu), 256);
    opencl_group_limits l = gpu;
    l.kernel_max = 192; /* a kernel its registers limit: the power of two below */
    ck_assert_uint_eq(opencl_work_group_size(&l), 128);
    l = gpu;
    l.device_max = 64; /* a small device: its own maximum */
    ck_assert_uint_eq(opencl_work_group_size(&l), 64);
    l = gpu;
    l.dim0_max = 32;
    ck_assert_uint_eq(opencl_work_group_size(&l), 32);
    l = gpu;
    l.local_memory = 1024; /* 8 bytes of scratch per work-item: 128 fit */
    ck_assert_uint_eq(opencl_work_group_size(&l), 128);
    l = gpu;
    l.local_memory = 4096;
    l.kernel_local = 3072; /* the kernel's own __local comes first */
    ck_assert_uint_eq(opencl_work_group_size(&l), 128);
    l.kernel_local = 4096;
    ck_assert_uint_eq(opencl_work_group_size(&l), 0);
    l = gpu;
    l.multiple = 64; /* AMD's wavefront */
    ck_assert_uint_eq(opencl_work_group_size(&l), 256);
    l.multiple = 512; /* a warp wider than the target is one group */
    ck_assert_uint_eq(opencl_work_group_size(&l), 512);
    l = gpu;
    l.multiple = 1; /* Oclgrind */
    ck_assert_uint_eq(opencl_work_group_size(&l), 256);
    l.kernel_max = 1000; /* never a size that is not a power of two */
    l.device_max = 200;
    ck_assert_uint_eq(opencl_work_group_size(&l), 128);

    ck_assert_uint_eq(opencl_fill_groups(0), 8);
    ck_assert_uint_eq(opencl_fill_groups(1), 8);
    ck_assert_uint_eq(opencl_fill_groups(2), 16);
    ck_assert_uint_eq(opencl_fill_groups(100), 800);
    ck_assert_uint_eq(opencl_fill_groups(132), 1024); /* an H100/H200: capped */
}
END_TEST

static int is_power_of_two(size_t x)
{
    return x && (x & (x - 1)) == 0;
}

/* The grid covers rows x cols exactly once and keeps to its limits. */
static void check_bias_plan(opencl_bias_plan p, size_t rows, size_t cols, size_t group,
                            size_t max_width, size_t max_lanes)
{
    ck_assert_msg(is_power_of_two(p.width) && is_power_of_two(p.lanes), "%zu x %zu: %zu x %zu",
                  rows, cols, p.width, p.lanes);
    ck_assert_uint_le(p.width * p.lanes, group);
    ck_assert_uint_le(p.width, max_width);
    ck_assert_uint_le(p.lanes, max_lanes);
    ck_assert_uint_ge(p.tiles * p.width, cols);
    ck_assert_uint_lt((p.tiles - 1) * p.width, cols);
    ck_assert_uint_eq(p.slice_rows % p.lanes, 0);
    ck_assert_uint_ge(p.slices, 1);
    ck_assert_uint_ge(p.slices * p.slice_rows, rows);
    if (rows > 0) /* no empty slice: each begins within the rows */
        ck_assert_uint_lt((p.slices - 1) * p.slice_rows, rows);
}

START_TEST(test_bias_gradient_plan)
{
    /* an H200-like device: 132 compute units, warp 32, groups of 256 */
    size_t fill = opencl_fill_groups(132);
    opencl_bias_plan p = opencl_plan_bias_gradient(60000, 10, 256, 32, 1024, 1024, fill);
    check_bias_plan(p, 60000, 10, 256, 1024, 1024);
    /* 10 columns: 16 of a row's work-items read them, side by side */
    ck_assert_uint_eq(p.width, 16);
    ck_assert_uint_eq(p.tiles, 1);
    ck_assert_uint_ge(p.slices, 256); /* not 10 work-groups, one per column */
    p = opencl_plan_bias_gradient(256, 1024, 256, 32, 1024, 1024, fill);
    check_bias_plan(p, 256, 1024, 256, 1024, 1024);
    ck_assert_uint_eq(p.width, 32);
    ck_assert_uint_ge(p.tiles * p.slices, 128);
    p = opencl_plan_bias_gradient(5000, 25, 256, 32, 1024, 1024, fill);
    check_bias_plan(p, 5000, 25, 256, 1024, 1024);
    ck_assert_uint_ge(p.slices, 64);
    /* AMD: a wavefront of 64 spans 64 columns */
    p = opencl_plan_bias_gradient(5000, 1000, 256, 64, 1024, 1024, fill);
    check_bias_plan(p, 5000, 1000, 256, 1024, 1024);
    ck_assert_uint_eq(p.width, 64);
    /* few rows: one pass */
    p = opencl_plan_bias_gradient(20, 10, 256, 32, 1024, 1024, fill);
    ck_assert_uint_eq(p.slices, 1);
    p = opencl_plan_bias_gradient(0, 10, 256, 32, 1024, 1024, fill);
    check_bias_plan(p, 0, 10, 256, 1024, 1024);
    ck_assert_uint_eq(p.slices, 1);

    /* every shape, on odd limits too (a device with small dimension limits) */
    static const size_t limits[][5] = {/* group, warp, max width, max lanes, fill */
                                       {256, 32, 1024, 1024, 1024}, {256, 8, 4096, 4096, 16},
                                       {256, 1, 1024, 1024, 8},     {64, 64, 1024, 1024, 64},
                                       {256, 32, 16, 4, 40},        {1, 1, 1, 1, 8}};
    for (size_t k = 0; k < sizeof limits / sizeof limits[0]; k++)
        for (size_t rows = 0; rows < 3000; rows = rows * 3 + 1)
            for (size_t cols = 1; cols < 3000; cols = cols * 2 + 1) {
                const size_t *l = limits[k];
                p = opencl_plan_bias_gradient(rows, cols, l[0], l[1], l[2], l[3], l[4]);
                check_bias_plan(p, rows, cols, l[0], l[2], l[3]);
            }
}
END_TEST

/* On the device under test: its kernels' sizes keep to the rules, verify's
 * bias_gradient shapes reach every path of the kernel there, and the shapes
 * that motivated the 2-D grid match the CPU. */
START_TEST(test_bias_gradient_paths)
{
    REQUIRE_OPENCL();
    int precisions = first_device_has_fp64() ? 2 : 1;
    for (int pr = 0; pr < precisions; pr++) {
        bpnn_precision precision = pr ? BPNN_F64 : BPNN_F32;
        backend *dev = open_or_fail("opencl", precision), *cpu = open_cpu(precision);
        static const char *const kernels[] = {"bias_gradient", "bias_gradient_final",
                                              "dot_partial",   "sum_final",
                                              "max_abs_final", "bias_sigmoid"};
        for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
            size_t size = opencl_backend_work_group_size(dev, kernels[k]);
            printf("work-group size of %s: %zu\n", kernels[k], size);
            ck_assert_msg(is_power_of_two(size) && size <= 256, "%s: %zu", kernels[k], size);
        }
        ck_assert_uint_eq(opencl_backend_work_group_size(dev, "no_such_kernel"), 0);
        size_t fill = opencl_backend_reduce_groups(dev);
        ck_assert_uint_ge(fill, 8);
        ck_assert_uint_le(fill, 1024);

        int one_pass_tiles = 0, two_pass_tiles = 0, short_last_slice = 0, few_rows = 0,
            column_two_pass = 0, partial_tile = 0;
        for (size_t s = 0; s < backend_verify_bias_shape_count; s++) {
            size_t rows = backend_verify_bias_shapes[s][0], cols = backend_verify_bias_shapes[s][1];
            opencl_bias_plan p = opencl_backend_bias_gradient_plan(dev, rows, cols);
            one_pass_tiles |= p.slices == 1 && p.tiles > 1 && rows > p.lanes;
            two_pass_tiles |= p.slices > 1 && p.tiles > 1;
            short_last_slice |= p.slices > 1 && rows % p.slice_rows != 0;
            few_rows |= rows < p.lanes;
            column_two_pass |= cols == 1 && p.slices > 1;
            partial_tile |= cols > p.width && cols % p.width != 0;
        }
        ck_assert_msg(
            one_pass_tiles && two_pass_tiles && short_last_slice && few_rows && column_two_pass &&
                partial_tile,
            "verify's bias_gradient shapes miss a path on %s: one pass %d, two passes %d, "
            "short last slice %d, rows < lanes %d, one column in two passes %d, "
            "partial tile %d",
            dev->spec, one_pass_tiles, two_pass_tiles, short_last_slice, few_rows, column_two_pass,
            partial_tile);

        static const size_t shapes[][2] = {{60000, 10}, {256, 1024}, {5000, 25}};
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            size_t rows = shapes[s][0], cols = shapes[s][1], stride = cols + 1;
            opencl_bias_plan p = opencl_backend_bias_gradient_plan(dev, rows, cols);
            printf("bias_gradient %zu x %zu on %s: %zu x %zu work-items, %zu tiles x %zu slices of "
                   "%zu rows\n",
                   rows, cols, dev->spec, p.width, p.lanes, p.tiles, p.slices, p.slice_rows);
            ck_assert_uint_ge(p.tiles * p.slices, fill < 128 ? fill / 2 : 64);
            size_t count = 2 + cols * stride;
            double *delta = malloc(rows * cols * sizeof *delta);
            double *init = malloc(count * sizeof *init), *out[2];
            out[0] = malloc(count * sizeof *out[0]); /* the CPU's */
            out[1] = malloc(count * sizeof *out[1]); /* the device's */
            ck_assert(delta && init && out[0] && out[1]);
            uint64_t x = 88172645463325252ull;
            for (size_t i = 0; i < rows * cols; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                delta[i] = (double)(x >> 11) * 0x1.0p-53 * 2 - 1;
            }
            backend *be[2] = {cpu, dev};
            backend_buffer *bd[2], *bg[2];
            for (int beta = 0; beta < 2; beta++) {
                for (size_t i = 0; i < count; i++)
                    init[i] = beta ? 0.5 + (double)(i % 7) : NAN; /* beta 0: NaN, never read */
                for (int b = 0; b < 2; b++) {
                    ck_assert_int_eq(backend_alloc(be[b], BACKEND_REAL, rows * cols, &bd[b]),
                                     BPNN_OK);
                    ck_assert_int_eq(backend_alloc(be[b], BACKEND_REAL, count, &bg[b]), BPNN_OK);
                    ck_assert_int_eq(
                        be[b]->ops->upload(be[b], view_at(bd[b], 0), rows * cols, delta), BPNN_OK);
                    ck_assert_int_eq(be[b]->ops->upload(be[b], view_at(bg[b], 0), count, init),
                                     BPNN_OK);
                    /* beta 1 into a strided column at an offset, as Theta's gradient */
                    size_t step = beta ? stride : 1, at = beta ? 2 : 0;
                    ck_assert_int_eq(be[b]->ops->bias_gradient(be[b], rows, cols, view_at(bd[b], 0),
                                                               1.0 / rows, beta, view_at(bg[b], at),
                                                               step),
                                     BPNN_OK);
                    ck_assert_int_eq(be[b]->ops->download(be[b], view_at(bg[b], 0), count, out[b]),
                                     BPNN_OK);
                    backend_release(be[b], bd[b]);
                    backend_release(be[b], bg[b]);
                }
                double tolerance = backend_verify_threshold(precision, 1);
                for (size_t i = 0; i < count; i++) {
                    double ref = out[0][i], got = out[1][i];
                    if (isnan(ref)) /* not written on either side */
                        ck_assert_msg(isnan(got), "element %zu written: %g", i, got);
                    else
                        ck_assert_msg(fabs(got - ref) <= tolerance * fmax(fabs(ref), 1),
                                      "%zu x %zu beta %d element %zu: %.17g vs CPU %.17g", rows,
                                      cols, beta, i, got, ref);
                }
            }
            free(delta);
            free(init);
            free(out[0]);
            free(out[1]);
        }
        bpnn_device_close(cpu);
        bpnn_device_close(dev);
    }
}
END_TEST

/* BPNN_DEVICE_MEMORY pretends a smaller device, and allocations beyond it fail. */
START_TEST(test_device_memory_pretend)
{
    REQUIRE_OPENCL();
    unsetenv("BPNN_DEVICE_MEMORY");
    backend *real = NULL;
    ck_assert_int_eq(bpnn_device_open("opencl", BPNN_F32, &real), BPNN_OK);
    opencl_device_info *list;
    size_t n;
    ck_assert_int_eq(opencl_list_devices(&list, &n), BPNN_OK);
    uint64_t global = 0, max_alloc = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].spec, real->spec) == 0)
            global = list[i].global_memory, max_alloc = list[i].max_allocation;
    free(list);
    ck_assert(real->memory_bytes == global && real->max_allocation == max_alloc);
    bpnn_device_close(real);

    /* larger than the device: the device's own figures stay */
    setenv("BPNN_DEVICE_MEMORY", "1000000G", 1);
    backend *big = NULL;
    bpnn_status big_status = bpnn_device_open("opencl", BPNN_F32, &big);
    setenv("BPNN_DEVICE_MEMORY", "1M", 1);
    backend *small = NULL;
    bpnn_status small_status = bpnn_device_open("opencl", BPNN_F32, &small);
    setenv("BPNN_DEVICE_MEMORY", "12Q", 1);
    backend *bad = (backend *)1;
    bpnn_status bad_status = bpnn_device_open("opencl", BPNN_F32, &bad);
    char bad_message[512];
    snprintf(bad_message, sizeof bad_message, "%s", bpnn_error_message());
    unsetenv("BPNN_DEVICE_MEMORY");

    ck_assert_int_eq(big_status, BPNN_OK);
    ck_assert(big->memory_bytes == global && big->max_allocation == max_alloc);
    bpnn_device_close(big);
    ck_assert_int_eq(bad_status, BPNN_ERR_INVALID);
    ck_assert_ptr_null(bad);
    ck_assert_contains(bad_message, "BPNN_DEVICE_MEMORY=12Q");

    ck_assert_int_eq(small_status, BPNN_OK);
    ck_assert_uint_eq(small->memory_bytes, 1 << 20);
    ck_assert_uint_eq(small->max_allocation, 1 << 20);
    backend_buffer *b = (backend_buffer *)1, *first;
    /* 1.2 MB in one: beyond the largest allocation pretended */
    ck_assert_int_eq(backend_alloc(small, BACKEND_REAL, 300000, &b), BPNN_ERR_RUNTIME);
    ck_assert_ptr_null(b);
    printf("1.2 MB on a pretended 1 MiB device -> %s\n", bpnn_error_message());
    ck_assert_contains(bpnn_error_message(), "device memory exhausted");
    ck_assert_contains(bpnn_error_message(), "BPNN_DEVICE_MEMORY");
    /* 600 KB fits, a second 600 KB exceeds the pretended global memory */
    ck_assert_int_eq(backend_alloc(small, BACKEND_REAL, 150000, &first), BPNN_OK);
    ck_assert_int_eq(backend_alloc(small, BACKEND_REAL, 150000, &b), BPNN_ERR_RUNTIME);
    printf("2 x 600 KB on a pretended 1 MiB device -> %s\n", bpnn_error_message());
    ck_assert_contains(bpnn_error_message(), "device memory exhausted");
    ck_assert_contains(bpnn_error_message(), "global memory");
    ck_assert_contains(bpnn_error_message(), "BPNN_DEVICE_MEMORY");
    backend_release(small, first);
    ck_assert_int_eq(backend_alloc(small, BACKEND_REAL, 150000, &b), BPNN_OK);
    backend_release(small, b);
    bpnn_device_close(small);
}
END_TEST

/* ---- kernel sources ------------------------------------------------------------- */

static void write_file(const char *path, const char *text, size_t length)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert_uint_eq(fwrite(text, 1, length, f), length);
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_kernel_dir_and_build_failure)
{
    REQUIRE_OPENCL();
    const char *dir = test_tmpdir();
    char path[256];
    size_t count = opencl_kernel_source_count();
    ck_assert_uint_ge(count, 1);
    for (size_t i = 0; i < count; i++) {
        size_t length;
        const char *text = opencl_kernel_source_text(i, &length);
        ck_assert_ptr_nonnull(text);
        ck_assert_uint_eq(strlen(text), length);
        snprintf(path, sizeof path, "%s/%s", dir, opencl_kernel_source_name(i));
        write_file(path, text, length);
    }
    setenv("BPNN_KERNEL_DIR", dir, 1);

    /* the same sources from the folder: works */
    backend *be = NULL;
    bpnn_status good = opencl_backend_open("opencl", BPNN_F32, &be);
    char good_message[1024];
    snprintf(good_message, sizeof good_message, "%s", bpnn_error_message());
    bpnn_device_close(be);

    /* a broken source: the build fails with the log in the message */
    const char *name = opencl_kernel_source_name(count - 1);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    const char broken[] = "__kernel void broken(__global float *x)\n"
                          "{\n    x[0] = bpnn_no_such_identifier;\n}\n";
    write_file(path, broken, strlen(broken));
    be = (backend *)1;
    bpnn_status bad = opencl_backend_open("opencl", BPNN_F32, &be);
    char bad_message[1024];
    snprintf(bad_message, sizeof bad_message, "%s", bpnn_error_message());
    backend *bad_be = be;

    /* a missing source: named */
    unlink(path);
    be = (backend *)1;
    bpnn_status missing = opencl_backend_open("opencl", BPNN_F32, &be);
    char missing_message[1024];
    snprintf(missing_message, sizeof missing_message, "%s", bpnn_error_message());
    backend *missing_be = be;

    unsetenv("BPNN_KERNEL_DIR");
    for (size_t i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, opencl_kernel_source_name(i));
        unlink(path);
    }
    rmdir(dir);

    ck_assert_msg(good == BPNN_OK, "sources from BPNN_KERNEL_DIR: %s", good_message);
    printf("broken kernel -> %s\n", bad_message);
    ck_assert_int_eq(bad, BPNN_ERR_RUNTIME);
    ck_assert_ptr_null(bad_be);
    ck_assert_contains(bad_message, "OpenCL kernel build failed");
    ck_assert_contains(bad_message, "BPNN_KERNEL_DIR");
    ck_assert_contains(bad_message, "build log");
    ck_assert_contains(bad_message, "bpnn_no_such_identifier");
    printf("missing kernel -> %s\n", missing_message);
    ck_assert_int_eq(missing, BPNN_ERR_INVALID);
    ck_assert_ptr_null(missing_be);
    ck_assert_contains(missing_message, name);
}
END_TEST

typedef struct failure_log {
    int failed;
    char ops[256];
} failure_log;

static void collect_failures(const backend_verify_result *r, void *user)
{
    failure_log *log = user;
    if (r->passed)
        return;
    log->failed++;
    size_t used = strlen(log->ops);
    snprintf(log->ops + used, sizeof log->ops - used, "%s%s", used ? "," : "", r->op);
}

START_TEST(test_verify_catches_a_wrong_kernel)
{
    REQUIRE_OPENCL();
    /* sigmoid_gradient_mul off by 1e-3 relative: verify must fail that op, and only it */
    const char *exact = "delta[delta_offset + i] *= v * ((REAL)1 - v);";
    const char *wrong = "delta[delta_offset + i] *= v * ((REAL)1 - v) * (REAL)1.001;";
    const char *dir = test_tmpdir();
    char path[256];
    int replaced = 0;
    for (size_t i = 0; i < opencl_kernel_source_count(); i++) {
        size_t length;
        const char *text = opencl_kernel_source_text(i, &length);
        snprintf(path, sizeof path, "%s/%s", dir, opencl_kernel_source_name(i));
        const char *at = strstr(text, exact);
        if (!at) {
            write_file(path, text, length);
            continue;
        }
        char *changed = malloc(length + strlen(wrong) + 1);
        ck_assert_ptr_nonnull(changed);
        size_t before = (size_t)(at - text);
        memcpy(changed, text, before);
        strcpy(changed + before, wrong);
        strcat(changed, at + strlen(exact));
        write_file(path, changed, strlen(changed));
        free(changed);
        replaced++;
    }
    ck_assert_int_eq(replaced, 1);
    setenv("BPNN_KERNEL_DIR", dir, 1);
    backend *dev = NULL;
    bpnn_status status = opencl_backend_open("opencl", BPNN_F32, &dev);
    unsetenv("BPNN_KERNEL_DIR");
    for (size_t i = 0; i < opencl_kernel_source_count(); i++) {
        snprintf(path, sizeof path, "%s/%s", dir, opencl_kernel_source_name(i));
        unlink(path);
    }
    rmdir(dir);
    ck_assert_msg(status == BPNN_OK, "%s", bpnn_error_message());

    backend *cpu = open_cpu(BPNN_F32);
    failure_log log = {0};
    int failures = 0;
    ck_assert_int_eq(backend_verify(dev, cpu, NULL, collect_failures, &log, &failures), BPNN_OK);
    printf("verify with a wrong sigmoid_gradient_mul: %d failed (%s)\n", failures, log.ops);
    ck_assert_int_eq(failures, 1);
    ck_assert_str_eq(log.ops, "sigmoid_gradient_mul");
    bpnn_device_close(cpu);
    bpnn_device_close(dev);
}
END_TEST

/* ---- through the core: cost, gradient, gradient check, CG ---------------------------- */

/* A deterministic data set: features in [0, 1), labels spread over the classes. */
static void make_data(size_t rows, size_t features, int classes, uint64_t seed, bpnn_dataset *data)
{
    memset(data, 0, sizeof *data);
    data->rows = rows;
    data->features = features;
    data->x = malloc(rows * features * sizeof *data->x);
    data->labels = malloc(rows * sizeof *data->labels);
    ck_assert(data->x && data->labels);
    uint64_t s = seed;
    for (size_t i = 0; i < rows * features; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        data->x[i] = (double)(s >> 11) * 0x1.0p-53;
    }
    for (size_t i = 0; i < rows; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        data->labels[i] = (int32_t)((s >> 33) % (uint64_t)classes);
        /* make the classes learnable: the label shifts a few features */
        for (int k = 0; k < 3 && (size_t)k < features; k++)
            data->x[i * features + (size_t)((data->labels[i] + k) % (int)features)] += 0.5;
    }
}

static bpnn_model *make_model(int layer_count, const int *sizes, bpnn_precision precision,
                              uint64_t seed)
{
    bpnn_model *model = NULL;
    ck_assert_int_eq(bpnn_model_create(layer_count, sizes, precision, &model), BPNN_OK);
    bpnn_init_random(model, seed);
    return model;
}

static double max_rel_error(const double *x, const double *ref, size_t n)
{
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs(x[i] - ref[i]));
        scale = fmax(scale, fabs(ref[i]));
    }
    return scale > 0 ? diff / scale : diff;
}

START_TEST(test_cost_gradient_vs_cpu)
{
    REQUIRE_OPENCL();
    const int sizes[] = {23, 13, 7, 5};
    bpnn_dataset data;
    make_data(61, 23, 5, 11, &data);
    int precisions = first_device_has_fp64() ? 2 : 1;
    for (int p = 0; p < precisions; p++) {
        bpnn_precision precision = p ? BPNN_F64 : BPNN_F32;
        double tolerance = backend_verify_threshold(precision, 1);
        bpnn_model *model = make_model(4, sizes, precision, 3);
        double *g_cpu = malloc(model->param_count * sizeof *g_cpu);
        double *g_cl = malloc(model->param_count * sizeof *g_cl);
        ck_assert(g_cpu && g_cl);
        backend *cpu = open_cpu(precision), *dev = open_or_fail("opencl", precision);
        double j_cpu, j_cl;
        ck_assert_int_eq(bpnn_cost_gradient(cpu, model, &data, 1.3, &j_cpu, g_cpu), BPNN_OK);
        bpnn_status status = bpnn_cost_gradient(dev, model, &data, 1.3, &j_cl, g_cl);
        ck_assert_msg(status == BPNN_OK, "%s", bpnn_error_message());
        double e_cost = fabs(j_cl - j_cpu) / fabs(j_cpu);
        double e_grad = max_rel_error(g_cl, g_cpu, model->param_count);
        printf("cost+gradient %s: cost %.17g vs cpu %.17g (error %.3g), gradient error %.3g "
               "(threshold %g)\n",
               bpnn_precision_name(precision), j_cl, j_cpu, e_cost, e_grad, tolerance);
        ck_assert(e_cost <= tolerance);
        ck_assert(e_grad <= tolerance);
        bpnn_device_close(dev);
        bpnn_device_close(cpu);
        free(g_cpu);
        free(g_cl);
        bpnn_model_free(model);
    }
    bpnn_dataset_free(&data);
}
END_TEST

START_TEST(test_gradcheck_f64)
{
    REQUIRE_OPENCL();
    if (!first_device_has_fp64()) {
        printf("device without fp64: the f64 gradient check does not apply\n");
        return;
    }
    /* the seed's debug networks; costs from numpy float64 (seed_reference.h) */
    static const struct {
        int layer_count;
        int sizes[4];
        double lambda;
        double cost;
    } cases[] = {
        {3, {3, 5, 3}, 0.0, 2.0968019834852276},
        {3, {3, 5, 3}, 3.0, 2.1433733821049605},
        {4, {3, 5, 4, 3}, 0.0, 2.0980544377180523},
        {4, {3, 5, 4, 3}, 3.0, 2.1720866765801805},
    };
    backend *dev = open_or_fail("opencl", BPNN_F64);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bpnn_gradcheck g;
        bpnn_status status = bpnn_gradient_check(dev, cases[i].layer_count, cases[i].sizes, 5,
                                                 cases[i].lambda, 1e-4, &g);
        ck_assert_msg(status == BPNN_OK, "%s", bpnn_error_message());
        printf("gradcheck %d layers lambda %g on %s: relative difference %.3e, cost %.17g\n",
               cases[i].layer_count, cases[i].lambda, dev->spec, g.relative_difference, g.cost);
        ck_assert_msg(g.relative_difference < 1e-9, "relative difference %.3e",
                      g.relative_difference);
        ck_assert_rel(g.cost, cases[i].cost, 1e-12);
        bpnn_gradcheck_free(&g);
    }
    bpnn_device_close(dev);
}
END_TEST

static void train_with(const char *spec, bpnn_precision precision, const int *sizes, int layers,
                       const bpnn_dataset *data, const bpnn_train_options *options,
                       bpnn_train_result *result, double **params, size_t *count)
{
    backend *be = NULL;
    bpnn_status status = bpnn_device_open(spec, precision, &be);
    ck_assert_msg(status == BPNN_OK, "%s: %s", spec, bpnn_error_message());
    bpnn_model *model = make_model(layers, sizes, precision, 1);
    double t0 = bpnn_now();
    status = bpnn_train(be, model, data, options, result);
    ck_assert_msg(status == BPNN_OK, "training on %s: %s", spec, bpnn_error_message());
    printf("%s on %s %s: %d iterations, %d evaluations, final cost %.17g, %s%s, %.2f s\n",
           bpnn_optimizer_name(options->optimizer), be->spec, bpnn_precision_name(precision),
           result->iterations, result->evaluations, result->final_cost, result->stop_reason,
           result->streamed ? ", streamed" : "", bpnn_now() - t0);
    *count = model->param_count;
    *params = malloc(model->param_count * sizeof **params);
    ck_assert_ptr_nonnull(*params);
    memcpy(*params, model->params, model->param_count * sizeof **params);
    bpnn_model_free(model);
    bpnn_device_close(be);
}

static void train_on(const char *spec, bpnn_precision precision, const int *sizes, int layers,
                     const bpnn_dataset *data, int max_iter, bpnn_train_result *result,
                     double **params, size_t *count)
{
    bpnn_train_options options;
    bpnn_train_options_default(&options);
    options.lambda = 1.0;
    options.max_iter = max_iter;
    train_with(spec, precision, sizes, layers, data, &options, result, params, count);
}

START_TEST(test_cg_10_iterations_f64)
{
    REQUIRE_OPENCL();
    if (!first_device_has_fp64()) {
        printf("device without fp64: the f64 CG comparison does not apply\n");
        return;
    }
    const int sizes[] = {40, 17, 6};
    bpnn_dataset data;
    make_data(301, 40, 6, 5, &data);
    bpnn_train_result cpu, dev;
    double *p_cpu, *p_dev;
    size_t n;
    train_on("cpu", BPNN_F64, sizes, 3, &data, 10, &cpu, &p_cpu, &n);
    train_on("opencl", BPNN_F64, sizes, 3, &data, 10, &dev, &p_dev, &n);
    ck_assert_int_eq(dev.iterations, cpu.iterations);
    ck_assert_rel(dev.final_cost, cpu.final_cost, 1e-9);
    printf("parameters after 10 iterations: max relative difference %.3g\n",
           max_rel_error(p_dev, p_cpu, n));
    free(p_cpu);
    free(p_dev);
    bpnn_dataset_free(&data);
}
END_TEST

/* What a GPU punishes is the host waiting for the device. CG reads every
 * scalar it needs with the cost, so `train --stats` must count one wait per
 * cost evaluation and one at the end (the final clFinish): 12 per iteration
 * before the scalars stayed on the device. Run through the program, as a
 * user sees it, with the data set resident (streamed blocks are uploaded
 * with a wait each). */
START_TEST(test_cg_host_waits_per_evaluation)
{
    REQUIRE_OPENCL();
    const char *program = getenv("BPNN_CL");
    ck_assert_msg(program != NULL, "BPNN_CL names the program under test");
    bpnn_dataset data;
    make_data(400, 30, 4, 17, &data);
    const char *dir = test_fixture_dir();
    char csv[4096], out[4200], err[4200], command[16384];
    snprintf(csv, sizeof csv, "%s/waits.csv", dir);
    snprintf(out, sizeof out, "%s/waits.json", dir);
    snprintf(err, sizeof err, "%s/waits.txt", dir);
    FILE *f = fopen(csv, "w");
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < data.rows; i++) {
        fprintf(f, "%d", (int)data.labels[i]);
        for (size_t j = 0; j < data.features; j++)
            fprintf(f, ",%.17g", data.x[i * data.features + j]);
        fputc('\n', f);
    }
    ck_assert_int_eq(fclose(f), 0);
    bpnn_dataset_free(&data);
    for (int precision = 0; precision < 2; precision++) {
        if (precision == 1 && !first_device_has_fp64())
            break;
        /* In a sanitizer build LeakSanitizer's tracer crashes at the exit of
         * a bpnn-cl that ran PoCL (signal 11 in the tracer, with or without
         * this change): the child skips leak detection; this suite checks
         * the same code for leaks in its own process. */
        snprintf(command, sizeof command,
                 "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 %s train --device "
                 "opencl --precision %s --data %s --layers 30,12,4 --lambda 1 --optimizer cg "
                 "--max-iter 15 --seed 3 --stats --json >%s 2>%s",
                 program, precision ? "f64" : "f32", csv, out, err);
        ck_assert_int_eq(system(command), 0);
        char text[1 << 14];
        f = fopen(err, "r");
        ck_assert_ptr_nonnull(f);
        text[fread(text, 1, sizeof text - 1, f)] = '\0';
        fclose(f);
        const char *line = strstr(text, "during the optimizer ");
        const char *at = line ? strstr(line + 1, "during the optimizer ") : NULL;
        unsigned long long waits = 0;
        ck_assert_msg(at && sscanf(at, "during the optimizer %llu times", &waits) == 1,
                      "no count of waits in: %s", text);
        f = fopen(out, "r");
        ck_assert_ptr_nonnull(f);
        text[fread(text, 1, sizeof text - 1, f)] = '\0';
        fclose(f);
        const char *ev = strstr(text, "\"evaluations\":");
        const char *it = strstr(text, "\"iterations\":");
        long evaluations = 0, iterations = 0;
        ck_assert(ev && sscanf(ev, "\"evaluations\": %ld", &evaluations) == 1);
        ck_assert(it && sscanf(it, "\"iterations\": %ld", &iterations) == 1);
        printf("cg %s: %llu host waits for %ld evaluations in %ld iterations (%.2f per "
               "iteration)\n",
               precision ? "f64" : "f32", waits, evaluations, iterations,
               (double)waits / (double)iterations);
        ck_assert_int_eq(iterations, 15);
        ck_assert_uint_eq(waits, (unsigned long long)evaluations + 1);
        ck_assert((double)waits <= 3.0 * (double)iterations);
    }
}
END_TEST

START_TEST(test_cg_small_problem_converged)
{
    REQUIRE_OPENCL();
    if (!first_device_has_fp64()) {
        printf("device without fp64: the f64 CG comparison does not apply\n");
        return;
    }
    const int sizes[] = {8, 5, 3};
    bpnn_dataset data;
    make_data(67, 8, 3, 9, &data);
    bpnn_train_result cpu, dev;
    double *p_cpu, *p_dev;
    size_t n;
    train_on("cpu", BPNN_F64, sizes, 3, &data, 200, &cpu, &p_cpu, &n);
    train_on("opencl", BPNN_F64, sizes, 3, &data, 200, &dev, &p_dev, &n);
    ck_assert_rel(dev.final_cost, cpu.final_cost, 1e-6);
    free(p_cpu);
    free(p_dev);
    bpnn_dataset_free(&data);
}
END_TEST

/* Mini-batch training on the device follows the CPU path step for step:
 * the same batches (gathered on the device), the same fused updates. */
START_TEST(test_minibatch_training_vs_cpu)
{
    REQUIRE_OPENCL();
    const int sizes[] = {40, 17, 6};
    bpnn_dataset data;
    make_data(301, 40, 6, 5, &data);
    static const bpnn_optimizer optimizers[] = {BPNN_OPT_SGD, BPNN_OPT_MOMENTUM, BPNN_OPT_ADAM};
    int fp64 = first_device_has_fp64();
    for (int p = fp64 ? 0 : 1; p < 2; p++) {
        bpnn_precision precision = p == 0 ? BPNN_F64 : BPNN_F32;
        /* f32: each step's rounding differs a little (reductions in another order) */
        double tolerance = precision == BPNN_F64 ? 1e-9 : 1e-3;
        for (size_t i = 0; i < 3; i++) {
            bpnn_train_options o;
            bpnn_train_options_default(&o);
            o.optimizer = optimizers[i];
            o.nesterov = optimizers[i] == BPNN_OPT_MOMENTUM;
            o.epochs = 3;
            o.batch = 32; /* 9 full batches and one of 13 */
            bpnn_train_result cpu, dev;
            double *p_cpu, *p_dev;
            size_t n;
            train_with("cpu", precision, sizes, 3, &data, &o, &cpu, &p_cpu, &n);
            train_with("opencl", precision, sizes, 3, &data, &o, &dev, &p_dev, &n);
            double error = max_rel_error(p_dev, p_cpu, n);
            printf("%s %s: parameters after 30 steps: max relative difference %.3g\n",
                   bpnn_optimizer_name(o.optimizer), bpnn_precision_name(precision), error);
            ck_assert_msg(error <= tolerance, "%s %s: %g", bpnn_optimizer_name(o.optimizer),
                          bpnn_precision_name(precision), error);
            ck_assert_int_eq(dev.evaluations, 30);
            ck_assert_rel(dev.final_cost, cpu.final_cost, tolerance);
            free(p_cpu);
            free(p_dev);
        }
    }
    bpnn_dataset_free(&data);
}
END_TEST

START_TEST(test_lbfgs_vs_cpu)
{
    REQUIRE_OPENCL();
    if (!first_device_has_fp64()) {
        printf("device without fp64: the f64 L-BFGS comparison does not apply\n");
        return;
    }
    const int sizes[] = {40, 17, 6};
    bpnn_dataset data;
    make_data(301, 40, 6, 5, &data);
    bpnn_train_options o;
    bpnn_train_options_default(&o);
    o.optimizer = BPNN_OPT_LBFGS;
    o.max_iter = 10;
    bpnn_train_result cpu, dev;
    double *p_cpu, *p_dev;
    size_t n;
    train_with("cpu", BPNN_F64, sizes, 3, &data, &o, &cpu, &p_cpu, &n);
    train_with("opencl", BPNN_F64, sizes, 3, &data, &o, &dev, &p_dev, &n);
    ck_assert_int_eq(dev.iterations, cpu.iterations);
    ck_assert_int_eq(dev.evaluations, cpu.evaluations);
    ck_assert_rel(dev.final_cost, cpu.final_cost, 1e-10);
    free(p_cpu);
    free(p_dev);
    bpnn_dataset_free(&data);
}
END_TEST

/* A device pretended to hold a quarter of the data set: mini-batch training
 * streams the batches from the host and ends where the resident run does. */
START_TEST(test_streaming_on_device)
{
    REQUIRE_OPENCL();
    const int sizes[] = {400, 17, 6};
    bpnn_dataset data;
    make_data(4000, 400, 6, 7, &data);
    bpnn_train_options o;
    bpnn_train_options_default(&o);
    o.optimizer = BPNN_OPT_ADAM;
    o.epochs = 2;
    o.batch = 64;
    bpnn_train_result resident, streamed;
    double *p_resident, *p_streamed;
    size_t n;
    unsetenv("BPNN_DEVICE_MEMORY");
    train_with("opencl", BPNN_F32, sizes, 3, &data, &o, &resident, &p_resident, &n);
    char quarter[32];
    snprintf(quarter, sizeof quarter, "%zu", data.rows * data.features * sizeof(float) / 4);
    setenv("BPNN_DEVICE_MEMORY", quarter, 1);
    train_with("opencl", BPNN_F32, sizes, 3, &data, &o, &streamed, &p_streamed, &n);
    unsetenv("BPNN_DEVICE_MEMORY");
    ck_assert_int_eq(resident.streamed, 0);
    ck_assert_int_eq(streamed.streamed, 1);
    ck_assert_msg(memcmp(p_resident, p_streamed, n * sizeof *p_resident) == 0,
                  "streamed parameters differ: %g", max_rel_error(p_streamed, p_resident, n));
    ck_assert_rel(streamed.final_cost, resident.final_cost, 1e-6);
    free(p_resident);
    free(p_streamed);
    bpnn_dataset_free(&data);
}
END_TEST

static Suite *opencl_suite(void)
{
    Suite *s = suite_create("opencl");
    /* Under CK_NOFORK Check enforces no timeout; these are for fork mode, and
     * sized for a cold PoCL cache (a CLBlast compile takes tens of seconds). */
    TCase *devices = tcase_create("devices");
    tcase_set_timeout(devices, 300);
    tcase_add_test(devices, test_list_devices);
    tcase_add_test(devices, test_bad_device_strings);
    tcase_add_test(devices, test_gpu_without_gpu);
    tcase_add_test(devices, test_no_fp64);
    suite_add_tcase(s, devices);

    TCase *ops = tcase_create("ops");
    tcase_set_timeout(ops, 600);
    tcase_add_test(ops, test_verify_f32);
    tcase_add_test(ops, test_verify_f64);
    tcase_add_test(ops, test_verify_f32_compensated);
    tcase_add_test(ops, test_gemm_paths);
    tcase_add_test(ops, test_gemm_edge_sizes);
    tcase_add_test(ops, test_nan_propagates);
    tcase_add_test(ops, test_stats_and_profiling);
    tcase_add_test(ops, test_memory_checks);
    tcase_add_test(ops, test_minibatch_ops_vs_cpu);
    tcase_add_test(ops, test_minibatch_view_checks);
    tcase_add_test(ops, test_device_memory_pretend);
    tcase_add_test(ops, test_work_group_choice);
    tcase_add_test(ops, test_bias_gradient_plan);
    tcase_add_test(ops, test_bias_gradient_paths);
    suite_add_tcase(s, ops);

    TCase *kernels = tcase_create("kernels");
    tcase_set_timeout(kernels, 300);
    tcase_add_test(kernels, test_kernel_dir_and_build_failure);
    tcase_add_test(kernels, test_verify_catches_a_wrong_kernel);
    suite_add_tcase(s, kernels);

    TCase *core = tcase_create("core");
    tcase_set_timeout(core, 600);
    tcase_add_test(core, test_cost_gradient_vs_cpu);
    tcase_add_test(core, test_gradcheck_f64);
    tcase_add_test(core, test_cg_10_iterations_f64);
    tcase_add_test(core, test_cg_small_problem_converged);
    tcase_add_test(core, test_cg_host_waits_per_evaluation);
    tcase_add_test(core, test_minibatch_training_vs_cpu);
    tcase_add_test(core, test_lbfgs_vs_cpu);
    tcase_add_test(core, test_streaming_on_device);
    suite_add_tcase(s, core);
    return s;
}

int main(void)
{
    /* No OpenCL here: the probe runs inside the tests (docs/environment.md). */
    return run_suite(opencl_suite());
}
