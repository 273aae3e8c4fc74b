/* test_tuning_opencl.c — GEMM tuning files on an OpenCL device: a file with
 * valid parameters other than CLBlast's is applied when the device opens and
 * the GEMMs still match the CPU path; its parameters reach CLBlast (they
 * move GEMMs between the direct and the indirect kernel); a malformed file,
 * a file for another device, driver or precision, and one CLBlast refuses
 * are each ignored with their one-line reason while the device works; and
 * `bpnn-cl tune` run for real on a tiny fraction of CLBlast's searches
 * writes a file that train then reports applied (skipped without
 * clblast-utils, except in CI).
 *
 * Runs under CK_FORK=no (tests/meson.build), like test_opencl.c: every
 * OpenCL call happens inside a test function. */
#include <string.h>
#include <sys/wait.h>

#include "backend/backend.h"
#include "backend/opencl/opencl_backend.h"
#include "backend/tuning.h"
#include "testutil.h"
#include "testutil_opencl.h"
#include "testutil_tuning.h"
#include "util/timer.h"

/* A fresh, empty tuning folder for this test, and tuning on. */
static const char *fresh_tuning_dir(void)
{
    const char *dir = test_tmpdir();
    setenv("BPNN_TUNING_DIR", dir, 1);
    unsetenv("BPNN_TUNING");
    return dir;
}

static bpnn_device *open_device(void)
{
    bpnn_device *d = NULL;
    bpnn_status status = bpnn_device_open("opencl", BPNN_F32, &d);
    ck_assert_msg(status == BPNN_OK && d, "opening opencl: %s", bpnn_error_message());
    return d;
}

static bpnn_tuning_info tuning_of(bpnn_device *d)
{
    bpnn_tuning_info info;
    bpnn_device_tuning(d, &info);
    return info;
}

static void add_kernel(bpnn_tuning *t, const char *name, const char *const *names,
                       const size_t *values, int count)
{
    bpnn_tuning_kernel *k = &t->kernel[t->count++];
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "%s", name);
    for (int p = 0; p < count; p++) {
        snprintf(k->parameter[p], sizeof k->parameter[p], "%s", names[p]);
        k->value[p] = values[p];
    }
    k->count = count;
}

/* Parameters for every kernel of CLBlast's GEMM that CLBlast accepts and
 * computes right with on any device (work-groups of 64, a few KiB of local
 * memory), chosen unlike its defaults; GEMMs with m n k below
 * min_indirect^3 run the direct kernel. */
static bpnn_tuning valid_tuning(size_t min_indirect)
{
    bpnn_tuning t = {0};
    static const char *const xgemm[] = {"GEMMK", "KREG",  "KWG",   "KWI", "MDIMA", "MDIMC",
                                        "MWG",   "NDIMB", "NDIMC", "NWG", "SA",    "SB",
                                        "STRM",  "STRN",  "VWM",   "VWN"};
    static const size_t xgemm_values[] = {0, 1, 16, 2, 8, 8, 32, 8, 8, 32, 1, 1, 0, 0, 2, 2};
    add_kernel(&t, "Xgemm", xgemm, xgemm_values, 16);
    static const char *const direct[] = {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD",
                                         "PADA", "PADB",   "VWMD",   "VWND",   "WGD"};
    static const size_t direct_values[] = {2, 8, 8, 8, 8, 1, 1, 2, 2, 32};
    add_kernel(&t, "XgemmDirect", direct, direct_values, 10);
    static const char *const copy[] = {"COPY_DIMX", "COPY_DIMY", "COPY_VW", "COPY_WPT"};
    static const size_t copy_values[] = {16, 8, 2, 2};
    add_kernel(&t, "Copy", copy, copy_values, 4);
    static const char *const pad[] = {"PAD_DIMX", "PAD_DIMY", "PAD_WPTX", "PAD_WPTY"};
    static const size_t pad_values[] = {16, 8, 2, 1};
    add_kernel(&t, "Pad", pad, pad_values, 4);
    static const char *const transpose[] = {"TRA_DIM", "TRA_PAD", "TRA_SHUFFLE", "TRA_WPT"};
    static const size_t transpose_values[] = {8, 1, 0, 2};
    add_kernel(&t, "Transpose", transpose, transpose_values, 4);
    static const char *const padtranspose[] = {"PADTRA_PAD", "PADTRA_TILE", "PADTRA_WPT"};
    static const size_t padtranspose_values[] = {1, 16, 2};
    add_kernel(&t, "Padtranspose", padtranspose, padtranspose_values, 3);
    static const char *const routine[] = {"XGEMM_MIN_INDIRECT_SIZE"};
    add_kernel(&t, "GemmRoutine", routine, &min_indirect, 1);
    snprintf(t.note, sizeof t.note, "test_tuning_opencl");
    return t;
}

typedef struct tally {
    int ops, failures;
    char first[700];
} tally;

static void count_result(const bpnn_verify_result *r, void *user)
{
    tally *t = user;
    t->ops++;
    printf("  %-8s error %.3g (threshold %.3g) at %s %s\n", r->op, r->error, r->threshold,
           r->worst_case, r->passed ? "PASS" : "FAIL");
    if (!r->passed && t->failures++ == 0)
        snprintf(t->first, sizeof t->first, "%s: %.3g at %s %s", r->op, r->error, r->worst_case,
                 r->message);
}

/* verify's GEMM checks, every transpose, against the CPU path. */
static void gemms_match_cpu(bpnn_device *d, const char *only, int ops)
{
    tally t = {0};
    int failures = -1;
    ck_assert_msg(bpnn_verify(d, only, count_result, &t, &failures) == BPNN_OK, "%s",
                  bpnn_error_message());
    ck_assert_msg(failures == 0, "%s", t.first);
    ck_assert_int_eq(t.ops, ops);
}

/* An n x n x n GEMM, A times the identity, checked. */
static void square_gemm(backend *be, size_t n)
{
    backend_buffer *a, *b, *c;
    double *values = calloc(3 * n * n, sizeof *values);
    double *identity = values + n * n, *out = identity + n * n;
    ck_assert_ptr_nonnull(values);
    for (size_t i = 0; i < n * n; i++)
        values[i] = (double)(i % 17) - 8;
    for (size_t i = 0; i < n; i++)
        identity[i * n + i] = 1;
    ck_assert_int_eq(backend_alloc(be, BACKEND_REAL, n * n, &a), BPNN_OK);
    ck_assert_int_eq(backend_alloc(be, BACKEND_REAL, n * n, &b), BPNN_OK);
    ck_assert_int_eq(backend_alloc(be, BACKEND_REAL, n * n, &c), BPNN_OK);
    ck_assert_int_eq(be->ops->upload(be, view_at(a, 0), n * n, values), BPNN_OK);
    ck_assert_int_eq(be->ops->upload(be, view_at(b, 0), n * n, identity), BPNN_OK);
    bpnn_status status = be->ops->gemm(be, 0, 0, n, n, n, 1.0, view_at(a, 0), n, view_at(b, 0), n,
                                       0.0, view_at(c, 0), n);
    ck_assert_msg(status == BPNN_OK, "%s", bpnn_error_message());
    ck_assert_int_eq(be->ops->download(be, view_at(c, 0), n * n, out), BPNN_OK);
    for (size_t i = 0; i < n * n; i++)
        ck_assert_double_eq(out[i], values[i]);
    backend_release(be, a);
    backend_release(be, b);
    backend_release(be, c);
    free(values);
}

static void small_gemm(backend *be)
{
    square_gemm(be, 3);
}

START_TEST(test_file_applied_gemms_match_cpu)
{
    REQUIRE_OPENCL();
    fresh_tuning_dir();
    bpnn_device *d = open_device();
    char path[4096];
    ck_assert_int_eq(bpnn_device_tuning_path(d, path, sizeof path), BPNN_OK);
    bpnn_tuning_info info = tuning_of(d);
    ck_assert_int_eq(info.state, BPNN_TUNING_NONE);
    ck_assert_str_eq(info.path, path);
    ck_assert_msg(strstr(info.message, "no tuning file") && strstr(info.message, path), "%s",
                  info.message);
    /* 64^3: verify's cases up to 37 x 29 x 41 run the direct kernel, those
     * from 64 x 64 x 64 up the indirect one, so one check covers both */
    bpnn_tuning saved = valid_tuning(64), loaded;
    ck_assert_msg(bpnn_tuning_save(d, &saved, NULL) == BPNN_OK, "%s", bpnn_error_message());
    bpnn_device_close(d);

    d = open_device();
    info = tuning_of(d);
    ck_assert_int_eq(info.state, BPNN_TUNING_APPLIED);
    ck_assert_msg(strncmp(info.message, "applied from ", 13) == 0 && strstr(info.message, path),
                  "%s", info.message);
    ck_assert_int_eq(bpnn_tuning_load(d, NULL, &loaded), BPNN_OK);
    ck_assert_int_eq(loaded.count, saved.count);
    ck_assert_str_eq(loaded.note, "test_tuning_opencl");
    printf("GEMMs with the tuning file's parameters:\n");
    gemms_match_cpu(d, "gemm", 4);
    bpnn_device_close(d);
}
END_TEST

/* Only the indirect GEMM uses the backend's temp buffer, which grows and
 * never shrinks: whether it grew tells which kernel a GEMM ran. */
START_TEST(test_parameters_reach_clblast)
{
    REQUIRE_OPENCL();
    fresh_tuning_dir();
    bpnn_device *d = open_device();
    /* every GEMM direct */
    bpnn_tuning t = {0};
    static const char *const routine[] = {"XGEMM_MIN_INDIRECT_SIZE"};
    static const size_t all_direct = (size_t)1 << 20;
    add_kernel(&t, "GemmRoutine", routine, &all_direct, 1);
    ck_assert_int_eq(bpnn_tuning_save(d, &t, NULL), BPNN_OK);
    bpnn_device_close(d);

    /* CLBlast's own choice, for comparison (on PoCL: even 3 x 3 x 3 indirect) */
    setenv("BPNN_TUNING", "off", 1);
    d = open_device();
    ck_assert_int_eq(tuning_of(d).state, BPNN_TUNING_DISABLED);
    size_t start = opencl_backend_gemm_temp_bytes(d);
    small_gemm(d);
    printf("GEMM temp buffer with CLBlast's own parameters after 3 x 3 x 3: %zu bytes (%s)\n",
           opencl_backend_gemm_temp_bytes(d),
           opencl_backend_gemm_temp_bytes(d) > start ? "indirect" : "direct");
    bpnn_device_close(d);

    unsetenv("BPNN_TUNING");
    d = open_device();
    ck_assert_int_eq(tuning_of(d).state, BPNN_TUNING_APPLIED);
    start = opencl_backend_gemm_temp_bytes(d);
    small_gemm(d);
    square_gemm(d, 40);
    ck_assert_uint_eq(opencl_backend_gemm_temp_bytes(d), start);
    /* a test hook's override wins until it is lifted ... */
    ck_assert_int_eq(opencl_backend_force_gemm_path(d, OPENCL_GEMM_INDIRECT), BPNN_OK);
    small_gemm(d);
    size_t indirect = opencl_backend_gemm_temp_bytes(d);
    ck_assert_uint_gt(indirect, start);
    /* ... and lifting it brings the file's parameters back: 40 x 40 x 40
     * indirect would need more than 3 x 3 x 3 did */
    ck_assert_int_eq(opencl_backend_force_gemm_path(d, OPENCL_GEMM_DEFAULT), BPNN_OK);
    square_gemm(d, 40);
    ck_assert_uint_eq(opencl_backend_gemm_temp_bytes(d), indirect);
    bpnn_device_close(d);

    /* a malformed BPNN_TUNING refuses the device, as BPNN_DEVICE_MEMORY does */
    setenv("BPNN_TUNING", "maybe", 1);
    d = NULL;
    ck_assert_int_eq(bpnn_device_open("opencl", BPNN_F32, &d), BPNN_ERR_INVALID);
    ck_assert_ptr_null(d);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "invalid BPNN_TUNING=maybe"));
    unsetenv("BPNN_TUNING");
}
END_TEST

/* Opens the device with `text` as its tuning file: ignored, with a one-line
 * message holding `expected` and the file's name; the GEMMs still work. */
static void assert_ignored(const char *path, const char *expected)
{
    bpnn_device *d = open_device();
    bpnn_tuning_info info = tuning_of(d);
    ck_assert_msg(info.state == BPNN_TUNING_IGNORED, "state %d: %s", (int)info.state, info.message);
    ck_assert_msg(strstr(info.message, expected) && strstr(info.message, path) &&
                      !strchr(info.message, '\n') &&
                      strstr(info.message, "CLBlast's own parameters in use"),
                  "'%s' not in: %s", expected, info.message);
    small_gemm(d);
    bpnn_device_close(d);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(test_unusable_files_ignored)
{
    REQUIRE_OPENCL();
    fresh_tuning_dir();
    bpnn_device *d = open_device();
    char path[4096];
    ck_assert_int_eq(bpnn_device_tuning_path(d, path, sizeof path), BPNN_OK);
    const opencl_device_info *info = opencl_backend_info(d);
    ck_assert_ptr_nonnull(info);
    char name[128], platform[128], vendor[128], driver[64];
    snprintf(name, sizeof name, "%s", info->name);
    snprintf(platform, sizeof platform, "%s", info->platform_name);
    snprintf(vendor, sizeof vendor, "%s", info->vendor);
    snprintf(driver, sizeof driver, "%s", info->driver_version);
    bpnn_device_close(d);
    tuning_identity self = {platform, vendor, name, driver};
    bpnn_tuning valid = valid_tuning(64);

    write_text(path, "garbage\n");
    assert_ignored(path, "malformed GEMM tuning file: ");

    /* this device's file, written for an older driver */
    tuning_identity old_driver = self;
    old_driver.driver = "0.1-older";
    ck_assert_int_eq(tuning_write(path, &old_driver, BPNN_F32, &valid, 0), BPNN_OK);
    assert_ignored(path, "GEMM tuning file for another device or driver: ");

    /* an f64 file where the f32 one belongs */
    ck_assert_int_eq(tuning_write(path, &self, BPNN_F64, &valid, 0), BPNN_OK);
    assert_ignored(path, "GEMM tuning file for another precision: ");

    /* well formed, but a kernel short of parameters: CLBlast refuses it */
    write_text(path, "format bpnn-cl-tuning 1\n");
    FILE *f = fopen(path, "a");
    fprintf(f, "platform %s\nvendor %s\ndevice %s\ndriver %s\nprecision f32\n", platform, vendor,
            name, driver);
    fprintf(f, "kernel Copy COPY_DIMX=16\n");
    fclose(f);
    assert_ignored(path, "refused by CLBlast: ");
    assert_ignored(path, "CLBlastMissingOverrideParameter");

    /* another device's file, under its own name, is never read */
    remove(path);
    tuning_identity other = self;
    other.name = "Some Other GPU";
    char other_path[4096];
    ck_assert_int_eq(tuning_file_path(&other, BPNN_F32, other_path, sizeof other_path), BPNN_OK);
    ck_assert_int_eq(tuning_write(other_path, &other, BPNN_F32, &valid, 0), BPNN_OK);
    d = open_device();
    ck_assert_int_eq(tuning_of(d).state, BPNN_TUNING_NONE);
    bpnn_device_close(d);

    /* BPNN_TUNING=off: not even read */
    write_text(path, "garbage\n");
    setenv("BPNN_TUNING", "off", 1);
    d = open_device();
    ck_assert_int_eq(tuning_of(d).state, BPNN_TUNING_DISABLED);
    bpnn_device_close(d);
    unsetenv("BPNN_TUNING");
}
END_TEST

START_TEST(test_set_tuning)
{
    REQUIRE_OPENCL();
    fresh_tuning_dir();
    bpnn_device *d = open_device();
    bpnn_tuning t = {0};
    static const char *const names[] = {"MWG"};
    static const size_t values[] = {64};
    add_kernel(&t, "Xgemm", names, values, 1);
    ck_assert_int_eq(bpnn_device_set_tuning(d, &t), BPNN_ERR_INVALID);
    ck_assert_msg(strstr(bpnn_error_message(), "CLBlastMissingOverrideParameter"), "%s",
                  bpnn_error_message());
    snprintf(t.kernel[0].name, sizeof t.kernel[0].name, "Xdot");
    ck_assert_int_eq(bpnn_device_set_tuning(d, &t), BPNN_ERR_INVALID);
    ck_assert_int_eq(bpnn_device_set_tuning(d, NULL), BPNN_OK);
    ck_assert_int_eq(tuning_of(d).state, BPNN_TUNING_SET);
    small_gemm(d);
    bpnn_device_close(d);
}
END_TEST

/* ---- bpnn-cl tune, for real ----------------------------------------------------------- */

static int run_cli(const char *dir, const char *args, char *out, size_t out_size, char *err,
                   size_t err_size)
{
    char command[8192];
    snprintf(command, sizeof command, "cd %s && %s %s >out.txt 2>err.txt </dev/null", dir,
             getenv("BPNN_CL"), args);
    int status = system(command);
    ck_assert_msg(status != -1 && WIFEXITED(status), "bpnn-cl did not exit: %s", args);
    char path[4200];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    FILE *f = fopen(path, "r");
    out[fread(out, 1, out_size - 1, f)] = '\0';
    fclose(f);
    snprintf(path, sizeof path, "%s/err.txt", dir);
    f = fopen(path, "r");
    err[fread(err, 1, err_size - 1, f)] = '\0';
    fclose(f);
    return WEXITSTATUS(status);
}

static int tuners_installed(void)
{
    return system("command -v clblast_tuner_xgemm >/dev/null 2>&1") == 0;
}

/* The value of "key": "..." in a JSON text, into out. */
static void json_text(const char *json, const char *key, char *out, size_t size)
{
    char needle[128];
    snprintf(needle, sizeof needle, "\"%s\": \"", key);
    const char *at = strstr(json, needle);
    ck_assert_msg(at, "no %s in %s", key, json);
    at += strlen(needle);
    size_t n = strcspn(at, "\"");
    snprintf(out, size, "%.*s", (int)n, at);
}

START_TEST(test_tune_for_real)
{
    REQUIRE_OPENCL();
    ck_assert_msg(getenv("BPNN_CL"), "BPNN_CL names the program under test");
    if (!tuners_installed()) {
        ck_assert_msg(!in_ci(), "CI is set but clblast-utils is not installed "
                                "(scripts/install-deps.sh installs it)");
        fprintf(stderr, "SKIP test_tune_for_real: clblast-utils is not installed\n");
        return;
    }
    const char *tuning = fresh_tuning_dir();
    const char *dir = test_tmpdir();
    static char out[1 << 16], err[1 << 16];
    /* a small step and the least search of each tuner (about 16
     * configurations): 1 to 4 minutes on PoCL here (warm or cold PoCL cache,
     * sanitizers or not), most of it building CLBlast's kernels */
    double started = bpnn_now();
    int status = run_cli(dir,
                         "tune --device opencl --layers 64,32,10 --batch 32 --fraction 1e-9 "
                         "--json",
                         out, sizeof out, err, sizeof err);
    printf("bpnn-cl tune: %.1f s\n%s%s", bpnn_now() - started, err, out);
    ck_assert_msg(status == 0, "tune: exit %d: %s", status, err);
    static const char *const keys[] = {"\"before_gflops\"",
                                       "\"after_gflops\"",
                                       "\"tuned_gflops\"",
                                       "\"speedup\"",
                                       "\"candidates\"",
                                       "\"tuners\"",
                                       "\"clblast_tuner_xgemm_direct\"",
                                       "\"tuner_seconds\""};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        ck_assert_msg(strstr(out, keys[i]), "no %s in %s", keys[i], out);
    char kept[32], file[4096];
    json_text(out, "kept", kept, sizeof kept);
    json_text(out, "file", file, sizeof file);
    ck_assert_msg(strncmp(file, tuning, strlen(tuning)) == 0, "%s not in %s", file, tuning);
    struct stat st;
    int exists = stat(file, &st) == 0;

    /* train on three clusters in 4 dimensions, on the device tuned */
    char path[4200];
    snprintf(path, sizeof path, "%s/clusters.csv", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 90; i++)
        fprintf(f, "%d,%d,%d,%g,%g\n", i % 3, i % 3 == 0, i % 3 == 1, 0.01 * i, 0.5);
    fclose(f);
    status = run_cli(dir,
                     "train --device opencl --data clusters.csv --layers 4,8,3 --max-iter 5 "
                     "--stats",
                     out, sizeof out, err, sizeof err);
    ck_assert_msg(status == 0, "train: exit %d: %s", status, err);
    char expected[4300];
    if (strcmp(kept, "tuned") == 0) {
        ck_assert_msg(exists, "tune kept its parameters but %s is missing", file);
        bpnn_tuning t;
        bpnn_device *d = open_device();
        ck_assert_msg(bpnn_tuning_load(d, file, &t) == BPNN_OK, "%s", bpnn_error_message());
        bpnn_device_close(d);
        ck_assert_ptr_nonnull(strstr(t.note, "tuned for 64-32-10, batch 32"));
        snprintf(expected, sizeof expected, "stats: GEMM tuning: applied from %s\n", file);
    } else {
        /* CLBlast's own parameters were the fastest: no file */
        ck_assert_str_eq(kept, "none");
        ck_assert_msg(!exists, "tune kept nothing but wrote %s", file);
        snprintf(expected, sizeof expected, "stats: GEMM tuning: none: CLBlast's own parameters");
    }
    ck_assert_msg(strstr(err, expected), "'%s' not in: %s", expected, err);
}
END_TEST

START_TEST(test_tune_refusals_on_device)
{
    REQUIRE_OPENCL();
    ck_assert_msg(getenv("BPNN_CL"), "BPNN_CL names the program under test");
    const char *dir = test_tmpdir();
    static char out[1 << 16], err[1 << 16];
    char args[8192];
    /* a tuning folder that cannot be: said before any tuner runs */
    snprintf(args, sizeof args,
             "env PATH=%s:$PATH BPNN_TUNING_DIR=/proc/version/tuning %s tune --device opencl",
             fake_tuners("#!/bin/sh\necho should not run >&2\nexit 1\n"), getenv("BPNN_CL"));
    char command[8400];
    snprintf(command, sizeof command, "cd %s && %s >out.txt 2>err.txt </dev/null", dir, args);
    int status = system(command);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 2);
    char path[4200];
    snprintf(path, sizeof path, "%s/err.txt", dir);
    FILE *f = fopen(path, "r");
    err[fread(err, 1, sizeof err - 1, f)] = '\0';
    fclose(f);
    ck_assert_msg(strstr(err, "bpnn-cl: not a folder: /proc/version: on the way to the GEMM "
                              "tuning file /proc/version/tuning/") &&
                      !strstr(err, "should not run"),
                  "%s", err);
    (void)out;

    /* tuners that crash without a result: exit 1, each failure said */
    const char *tuning = fresh_tuning_dir();
    snprintf(args, sizeof args, "env PATH=%s:$PATH %s tune --device opencl --layers 8,4,2",
             fake_tuners("#!/bin/sh\necho 'tuner trouble' >&2\nkill -SEGV $$\n"),
             getenv("BPNN_CL"));
    snprintf(command, sizeof command, "cd %s && %s >out.txt 2>err.txt </dev/null", dir, args);
    status = system(command);
    ck_assert(WIFEXITED(status));
    f = fopen(path, "r");
    err[fread(err, 1, sizeof err - 1, f)] = '\0';
    fclose(f);
    ck_assert_msg(WEXITSTATUS(status) == 1, "exit %d: %s", WEXITSTATUS(status), err);
    ck_assert_msg(strstr(err, "bpnn-cl: warning: clblast_tuner_xgemm failed: ended by signal 11 "
                              "(Segmentation fault): tuner trouble: its kernel keeps CLBlast's "
                              "own parameters\n") &&
                      strstr(err, "bpnn-cl: no tuner gave a result: "),
                  "%s", err);
    DIR *d = opendir(tuning);
    int files = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        files += e->d_name[0] != '.';
    if (d)
        closedir(d);
    ck_assert_int_eq(files, 0);
}
END_TEST

static Suite *tuning_opencl_suite(void)
{
    Suite *s = suite_create("tuning_opencl");
    /* Under CK_NOFORK Check enforces no timeout; these are for fork mode,
     * sized for a cold PoCL cache. */
    TCase *files = tcase_create("files");
    tcase_set_timeout(files, 600);
    tcase_add_test(files, test_file_applied_gemms_match_cpu);
    tcase_add_test(files, test_parameters_reach_clblast);
    tcase_add_test(files, test_unusable_files_ignored);
    tcase_add_test(files, test_set_tuning);
    suite_add_tcase(s, files);
    TCase *tune = tcase_create("tune");
    tcase_set_timeout(tune, 600);
    tcase_add_test(tune, test_tune_refusals_on_device);
    tcase_add_test(tune, test_tune_for_real);
    suite_add_tcase(s, tune);
    return s;
}

int main(void)
{
    /* No OpenCL here: the probe runs inside the tests (docs/environment.md). */
    return run_suite(tuning_opencl_suite());
}
