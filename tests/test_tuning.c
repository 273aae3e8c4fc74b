/* test_tuning.c — GEMM tuning files without a device: where they live, what
 * a device's file is called, writing and reading them back, every way a file
 * can be malformed or another device's (each answered with one message
 * naming the file and the line), and `bpnn-cl tune`'s refusals before any
 * work. The OpenCL side (files applied when a device opens, the GEMMs'
 * results with them, a real tuner run) is test_tuning_opencl.c. */
#include <string.h>
#include <sys/wait.h>

#include "backend/tuning.h"
#include "bpnn.h"
#include "testutil.h"
#include "testutil_tuning.h"

static const tuning_identity pocl = {"Portable Computing Language", "GenuineIntel",
                                     "pthread-skylake-avx512-Intel(R) Xeon(R) Processor",
                                     "3.1+debian"};

static void set_env(const char *name, const char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

/* A tuning of two kernels, as bpnn-cl tune keeps them. */
static bpnn_tuning sample_tuning(void)
{
    bpnn_tuning t = {.count = 2};
    snprintf(t.kernel[0].name, sizeof t.kernel[0].name, "XgemmDirect");
    static const char *const names[] = {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD",
                                        "PADA", "PADB",   "VWMD",   "VWND",   "WGD"};
    static const size_t values[] = {2, 8, 8, 8, 8, 1, 1, 2, 2, 32};
    for (int p = 0; p < 10; p++) {
        snprintf(t.kernel[0].parameter[p], sizeof t.kernel[0].parameter[p], "%s", names[p]);
        t.kernel[0].value[p] = values[p];
    }
    t.kernel[0].count = 10;
    snprintf(t.kernel[1].name, sizeof t.kernel[1].name, "GemmRoutine");
    snprintf(t.kernel[1].parameter[0], sizeof t.kernel[1].parameter[0], "XGEMM_MIN_INDIRECT_SIZE");
    t.kernel[1].value[0] = 1048576;
    t.kernel[1].count = 1;
    snprintf(t.note, sizeof t.note, "tuned for 784-256-10, batch 256");
    return t;
}

static void write_text(const char *path, const char *text, size_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, size, f), size);
    fclose(f);
}

START_TEST(test_folder)
{
    char dir[4096];
    set_env("BPNN_TUNING_DIR", "/somewhere/tuning");
    set_env("XDG_CACHE_HOME", "/xdg");
    set_env("HOME", "/home/u");
    ck_assert_int_eq(tuning_dir(dir, sizeof dir), BPNN_OK);
    ck_assert_str_eq(dir, "/somewhere/tuning");
    set_env("BPNN_TUNING_DIR", "");
    ck_assert_int_eq(tuning_dir(dir, sizeof dir), BPNN_OK);
    ck_assert_str_eq(dir, "/xdg/bpnn-cl/tuning");
    set_env("XDG_CACHE_HOME", "relative/cache"); /* XDG: ignored when relative */
    ck_assert_int_eq(tuning_dir(dir, sizeof dir), BPNN_OK);
    ck_assert_str_eq(dir, "/home/u/.cache/bpnn-cl/tuning");
    set_env("XDG_CACHE_HOME", NULL);
    set_env("HOME", NULL);
    ck_assert_int_eq(tuning_dir(dir, sizeof dir), BPNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "set BPNN_TUNING_DIR"));
}
END_TEST

START_TEST(test_file_names)
{
    set_env("BPNN_TUNING_DIR", "/t");
    char f32[4096], f64[4096], other_driver[4096];
    ck_assert_int_eq(tuning_file_path(&pocl, BPNN_F32, f32, sizeof f32), BPNN_OK);
    ck_assert_int_eq(tuning_file_path(&pocl, BPNN_F64, f64, sizeof f64), BPNN_OK);
    tuning_identity updated = pocl;
    updated.driver = "3.2";
    ck_assert_int_eq(tuning_file_path(&updated, BPNN_F32, other_driver, sizeof other_driver),
                     BPNN_OK);
    /* readable, one file per device name, driver and precision */
    ck_assert_msg(
        strncmp(f32, "/t/pthread-skylake-avx512-intel-r-xeon-r-processor_3-1-debian_", 62) == 0,
        "%s", f32);
    ck_assert_msg(strstr(f32, "_f32.tuning") && strstr(f64, "_f64.tuning"), "%s %s", f32, f64);
    ck_assert_str_ne(f32, other_driver);
    /* names that differ only in punctuation still get two files */
    tuning_identity a = pocl, b = pocl;
    a.name = "GPU (A)";
    b.name = "GPU A";
    char path_a[4096], path_b[4096];
    ck_assert_int_eq(tuning_file_path(&a, BPNN_F32, path_a, sizeof path_a), BPNN_OK);
    ck_assert_int_eq(tuning_file_path(&b, BPNN_F32, path_b, sizeof path_b), BPNN_OK);
    ck_assert_str_ne(path_a, path_b);
    /* the public form, from a listed device; the host path has none */
    bpnn_device_info info = {.platform_index = 0, .device_index = 0};
    snprintf(info.platform_name, sizeof info.platform_name, "%s", pocl.platform);
    snprintf(info.vendor, sizeof info.vendor, "%s", pocl.vendor);
    snprintf(info.name, sizeof info.name, "%s", pocl.name);
    snprintf(info.driver_version, sizeof info.driver_version, "%s", pocl.driver);
    char listed[4096];
    ck_assert_int_eq(bpnn_tuning_path(&info, BPNN_F32, listed, sizeof listed), BPNN_OK);
    ck_assert_str_eq(listed, f32);
    info.platform_index = -1;
    ck_assert_int_eq(bpnn_tuning_path(&info, BPNN_F32, listed, sizeof listed), BPNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "nothing to tune"));
}
END_TEST

START_TEST(test_write_and_read_back)
{
    const char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/new/folder/device_f32.tuning", dir);
    bpnn_tuning t = sample_tuning(), back;
    /* without create_folder a missing folder is the writer's error */
    ck_assert_int_eq(tuning_write(path, &pocl, BPNN_F32, &t, 0), BPNN_ERR_INVALID);
    ck_assert_int_eq(tuning_write(path, &pocl, BPNN_F32, &t, 1), BPNN_OK);
    int missing = 1;
    ck_assert_int_eq(tuning_read(path, &pocl, BPNN_F32, &back, &missing), BPNN_OK);
    ck_assert_int_eq(missing, 0);
    ck_assert_int_eq(back.count, t.count);
    for (int i = 0; i < t.count; i++) {
        ck_assert_str_eq(back.kernel[i].name, t.kernel[i].name);
        ck_assert_int_eq(back.kernel[i].count, t.kernel[i].count);
        for (int p = 0; p < t.kernel[i].count; p++) {
            ck_assert_str_eq(back.kernel[i].parameter[p], t.kernel[i].parameter[p]);
            ck_assert_uint_eq(back.kernel[i].value[p], t.kernel[i].value[p]);
        }
    }
    ck_assert_str_eq(back.note, t.note);
    /* the device's strings are compared trimmed, control characters as spaces */
    tuning_identity spaced = pocl;
    spaced.name = "  pthread-skylake-avx512-Intel(R) Xeon(R) Processor \t";
    ck_assert_int_eq(tuning_read(path, &spaced, BPNN_F32, &back, &missing), BPNN_OK);
    /* no file: missing, not an error */
    snprintf(path, sizeof path, "%s/none.tuning", dir);
    ck_assert_int_eq(tuning_read(path, &pocl, BPNN_F32, &back, &missing), BPNN_OK);
    ck_assert_int_eq(missing, 1);
}
END_TEST

START_TEST(test_other_device_driver_precision)
{
    const char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/x.tuning", dir);
    bpnn_tuning t = sample_tuning(), back;
    ck_assert_int_eq(tuning_write(path, &pocl, BPNN_F32, &t, 0), BPNN_OK);
    int missing;
    tuning_identity other = pocl;
    other.driver = "3.2";
    ck_assert_int_eq(tuning_read(path, &other, BPNN_F32, &back, &missing), BPNN_ERR_INVALID);
    const char *m = bpnn_error_message();
    ck_assert_msg(strstr(m, "GEMM tuning file for another device or driver: ") && strstr(m, path) &&
                      strstr(m, "driver 3.1+debian") && strstr(m, "driver 3.2"),
                  "%s", m);
    ck_assert_int_eq(back.count, 0); /* nothing of it is handed out */
    other = pocl;
    other.name = "NVIDIA H200";
    ck_assert_int_eq(tuning_read(path, &other, BPNN_F32, &back, &missing), BPNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "NVIDIA H200"));
    ck_assert_int_eq(tuning_read(path, &pocl, BPNN_F64, &back, &missing), BPNN_ERR_INVALID);
    ck_assert_msg(strstr(bpnn_error_message(), "GEMM tuning file for another precision: ") &&
                      strstr(bpnn_error_message(), "written for f32"),
                  "%s", bpnn_error_message());
}
END_TEST

/* Each malformed file gets "malformed GEMM tuning file: PATH: line N: WHAT:
 * run bpnn-cl tune again, or delete the file" (or its own message). */
START_TEST(test_malformed_files)
{
    static const char header[] = "format bpnn-cl-tuning 1\nplatform Portable Computing Language\n"
                                 "vendor GenuineIntel\n"
                                 "device pthread-skylake-avx512-Intel(R) Xeon(R) Processor\n"
                                 "driver 3.1+debian\nprecision f32\n";
    static const struct {
        const char *body; /* after the header, or the whole file when header_too is 0 */
        int header_too;
        const char *expected;
    } cases[] = {
        {"", 0, "line 1: no \"format bpnn-cl-tuning 1\" line (an empty file?)"},
        {"# only a comment\n", 0, "line 2: no \"format bpnn-cl-tuning 1\" line"},
        {"garbage\n", 0, "line 1: not a bpnn-cl tuning file"},
        {"{\"json\": 1}\n", 0, "line 1: not a bpnn-cl tuning file"},
        {"format bpnn-cl-tuning x\n", 0, "line 1: an unreadable format version"},
        {"format bpnn-cl-tuning 2\n", 0, "from a newer bpnn-cl: "},
        {"format bpnn-cl-tuning 1\nplatform P\n", 0, "line 3: no vendor line"},
        {"", 1, "line 7: no kernel line"},
        {"kernel Xgemm\n", 1, "line 7: a kernel line without parameters"},
        {"kernel Xgemm \n", 1, "line 7: a kernel line without parameters"},
        {"kernel Sgemm MWG=1\n", 1, "line 7: unknown CLBlast kernel 'Sgemm'"},
        {"kernel Xgemm MWG=64 MWG=32\n", 1, "line 7: the same parameter twice"},
        {"kernel Xgemm MWG=sixty\n", 1, "line 7: a parameter value that is not a whole number"},
        {"kernel Xgemm MWG=-1\n", 1, "line 7: a parameter value that is not a whole number"},
        {"kernel Xgemm MWG=99999999999999999999\n", 1, "line 7: a parameter value too large"},
        {"kernel Xgemm MWG\n", 1, "line 7: a parameter not written NAME=VALUE"},
        {"kernel Xgemm =64\n", 1, "line 7: a parameter not written NAME=VALUE"},
        {"kernel Xgemm mwg=64\n", 1, "line 7: a parameter name other than A-Z, 0-9 and _"},
        {"kernel Pad PAD_DIMX=8\nkernel Pad PAD_DIMX=8\n", 1, "line 8: the same kernel twice"},
        {"driver 3.2\nkernel Pad PAD_DIMX=8\n", 1, "line 7: the same item twice"},
        {"colour blue\nkernel Pad PAD_DIMX=8\n", 1, "line 7: unknown item 'colour'"},
    };
    const char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/bad.tuning", dir);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[2048];
        int n =
            snprintf(text, sizeof text, "%s%s", cases[i].header_too ? header : "", cases[i].body);
        write_text(path, text, (size_t)n);
        bpnn_tuning t;
        int missing = 1;
        ck_assert_int_eq(tuning_read(path, &pocl, BPNN_F32, &t, &missing), BPNN_ERR_INVALID);
        ck_assert_int_eq(missing, 0);
        const char *m = bpnn_error_message();
        ck_assert_msg(strstr(m, path) && strstr(m, cases[i].expected), "case %zu: %s", i, m);
        ck_assert_msg(strstr(m, "run bpnn-cl tune again, or delete the file"), "case %zu: %s", i,
                      m);
        ck_assert_msg(!strchr(m, '\n'), "case %zu: not one line: %s", i, m);
        ck_assert_int_eq(t.count, 0);
    }
    /* a NUL byte, and a file far larger than any of ours */
    write_text(path, "format bpnn-cl-tuning 1\n\0\n", 26);
    bpnn_tuning t;
    int missing;
    ck_assert_int_eq(tuning_read(path, &pocl, BPNN_F32, &t, &missing), BPNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "binary content"));
    char *big = malloc(70000);
    memset(big, '#', 70000);
    write_text(path, big, 70000);
    free(big);
    ck_assert_int_eq(tuning_read(path, &pocl, BPNN_F32, &t, &missing), BPNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "larger than 65536 bytes"));
    /* a folder where the file should be */
    snprintf(path, sizeof path, "%s/folder.tuning", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_int_eq(tuning_read(path, &pocl, BPNN_F32, &t, &missing), BPNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "not a regular file"));
    /* comments, blank lines and CRLF are fine */
    snprintf(path, sizeof path, "%s/crlf.tuning", dir);
    static const char crlf[] = "# c\r\n\r\nformat bpnn-cl-tuning 1\r\nplatform Portable Computing "
                               "Language\r\nvendor GenuineIntel\r\ndevice pthread-skylake-avx512-"
                               "Intel(R) Xeon(R) Processor\r\ndriver 3.1+debian\r\nprecision "
                               "f32\r\n  # indented comment\r\nkernel Pad PAD_DIMX=8  PAD_DIMY=4"
                               "\r\n";
    write_text(path, crlf, sizeof crlf - 1);
    ck_assert_int_eq(tuning_read(path, &pocl, BPNN_F32, &t, &missing), BPNN_OK);
    ck_assert_int_eq(t.count, 1);
    ck_assert_int_eq(t.kernel[0].count, 2);
    ck_assert_uint_eq(t.kernel[0].value[1], 4);
}
END_TEST

START_TEST(test_check_and_switch)
{
    bpnn_tuning t = sample_tuning();
    ck_assert_int_eq(tuning_check(&t), BPNN_OK);
    snprintf(t.kernel[1].name, sizeof t.kernel[1].name, "Xdot");
    ck_assert_int_eq(tuning_check(&t), BPNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "unknown CLBlast kernel 'Xdot'"));
    t = sample_tuning();
    snprintf(t.kernel[1].name, sizeof t.kernel[1].name, "XgemmDirect");
    ck_assert_int_eq(tuning_check(&t), BPNN_ERR_INVALID);
    t = sample_tuning();
    t.kernel[0].count = 0;
    ck_assert_int_eq(tuning_check(&t), BPNN_ERR_INVALID);
    t = sample_tuning();
    snprintf(t.kernel[0].parameter[3], sizeof t.kernel[0].parameter[3], "KWID");
    ck_assert_int_eq(tuning_check(&t), BPNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "parameter KWID twice"));
    t = (bpnn_tuning){0};
    ck_assert_int_eq(tuning_check(&t), BPNN_ERR_INVALID);
    /* the writer refuses what the reader would */
    t = sample_tuning();
    t.kernel[0].parameter[0][0] = 'k';
    ck_assert_int_eq(tuning_write("/tmp/never-written.tuning", &pocl, BPNN_F32, &t, 0),
                     BPNN_ERR_INVALID);

    static const struct {
        const char *value;
        bpnn_status status;
        int disabled;
    } switches[] = {{NULL, BPNN_OK, 0},          {"", BPNN_OK, 0},
                    {"on", BPNN_OK, 0},          {"1", BPNN_OK, 0},
                    {"off", BPNN_OK, 1},         {"0", BPNN_OK, 1},
                    {"of", BPNN_ERR_INVALID, 0}, {"OFF", BPNN_ERR_INVALID, 0}};
    for (size_t i = 0; i < sizeof switches / sizeof *switches; i++) {
        set_env("BPNN_TUNING", switches[i].value);
        int disabled = -1;
        ck_assert_int_eq(tuning_disabled(&disabled), switches[i].status);
        if (switches[i].status == BPNN_OK)
            ck_assert_int_eq(disabled, switches[i].disabled);
        else
            ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "invalid BPNN_TUNING="));
    }
    set_env("BPNN_TUNING", NULL);
}
END_TEST

/* The host path has nothing to tune, through every public function. */
START_TEST(test_host_path)
{
    bpnn_device *cpu = NULL;
    ck_assert_int_eq(bpnn_device_open("cpu", BPNN_F32, &cpu), BPNN_OK);
    bpnn_tuning_info info;
    bpnn_device_tuning(cpu, &info);
    ck_assert_int_eq(info.state, BPNN_TUNING_HOST);
    char path[4096];
    ck_assert_int_eq(bpnn_device_tuning_path(cpu, path, sizeof path), BPNN_ERR_INVALID);
    bpnn_tuning t = sample_tuning();
    ck_assert_int_eq(bpnn_tuning_save(cpu, &t, NULL), BPNN_ERR_INVALID);
    ck_assert_int_eq(bpnn_tuning_load(cpu, NULL, &t), BPNN_ERR_INVALID);
    ck_assert_int_eq(bpnn_device_set_tuning(cpu, NULL), BPNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "nothing to tune"));
    ck_assert_int_eq(bpnn_device_set_tuning(NULL, NULL), BPNN_ERR_INVALID);
    ck_assert_int_eq(bpnn_tuning_load(cpu, NULL, NULL), BPNN_ERR_INVALID);
    bpnn_device_tuning(NULL, &info);
    ck_assert_int_eq(info.state, BPNN_TUNING_HOST);
    bpnn_device_close(cpu);
}
END_TEST

/* ---- bpnn-cl tune's refusals ------------------------------------------------------ */

static int run_cli(const char *environment, const char *args, char *err, size_t size)
{
    const char *program = getenv("BPNN_CL");
    ck_assert_msg(program != NULL, "BPNN_CL names the program under test");
    const char *dir = test_tmpdir();
    char command[8192];
    snprintf(command, sizeof command, "cd %s && %s %s %s >out.txt 2>err.txt </dev/null", dir,
             environment, program, args);
    int status = system(command);
    ck_assert_msg(status != -1 && WIFEXITED(status), "bpnn-cl did not exit: %s", args);
    char path[4200];
    snprintf(path, sizeof path, "%s/err.txt", dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    err[fread(err, 1, size - 1, f)] = '\0';
    fclose(f);
    return WEXITSTATUS(status);
}

static void assert_one_line(const char *err, const char *needle)
{
    ck_assert_msg(strncmp(err, "bpnn-cl: ", 9) == 0, "%s", err);
    const char *newline = strchr(err, '\n');
    ck_assert_msg(newline && newline[1] == '\0', "not one line: %s", err);
    ck_assert_msg(strstr(err, needle), "'%s' not in: %s", needle, err);
}

START_TEST(test_tune_refusals)
{
    char err[4096], environment[4600];
    /* no tuners: one line naming the package */
    ck_assert_int_eq(run_cli("PATH=/nonexistent", "tune --device opencl", err, sizeof err), 2);
    assert_one_line(err, "install Debian's clblast-utils (apt-get install clblast-utils)");
    snprintf(environment, sizeof environment, "PATH=%s:$PATH", fake_tuners("#!/bin/sh\nexit 1\n"));
    ck_assert_int_eq(run_cli(environment, "tune --device cpu", err, sizeof err), 2);
    assert_one_line(err, "nothing to tune: cpu is the host path");
    ck_assert_int_eq(run_cli(environment, "tune --fraction 0", err, sizeof err), 2);
    assert_one_line(err, "--fraction 0");
    ck_assert_int_eq(run_cli(environment, "tune --fraction 1.5", err, sizeof err), 2);
    assert_one_line(err, "out of range: --fraction 1.5");
    ck_assert_int_eq(run_cli(environment, "tune --batch 0", err, sizeof err), 2);
    ck_assert_int_eq(run_cli(environment, "tune --layers 784", err, sizeof err), 2);
    ck_assert_int_eq(run_cli(environment, "tune --bogus", err, sizeof err), 2);
    assert_one_line(err, "--bogus");
    ck_assert_int_eq(run_cli(environment, "tune extra", err, sizeof err), 2);
    ck_assert_int_eq(run_cli(environment, "tune --help", err, sizeof err), 0);
}
END_TEST

static Suite *tuning_suite(void)
{
    Suite *s = suite_create("tuning");
    TCase *files = tcase_create("files");
    tcase_add_test(files, test_folder);
    tcase_add_test(files, test_file_names);
    tcase_add_test(files, test_write_and_read_back);
    tcase_add_test(files, test_other_device_driver_precision);
    tcase_add_test(files, test_malformed_files);
    tcase_add_test(files, test_check_and_switch);
    tcase_add_test(files, test_host_path);
    suite_add_tcase(s, files);
    TCase *cli = tcase_create("cli");
    tcase_set_timeout(cli, 120);
    tcase_add_test(cli, test_tune_refusals);
    suite_add_tcase(s, cli);
    return s;
}

int main(void)
{
    return run_suite(tuning_suite());
}
