/* test_export_numpy.c — the exported weights, read back by numpy, reproduce
 * bpnn-cl predict. A small model is trained through the program (f32 and f64,
 * one and two hidden layers), exported as CSV and as .npy, and
 * /usr/bin/python3 with numpy loads both (numpy.loadtxt, numpy.load), checks
 * dtype, shapes and that the two formats hold the same numbers, runs the
 * forward pass in float64 and compares its classes with predict's. They must
 * agree except at near-ties: samples whose two largest outputs differ by
 * less than 1e-6.
 *
 * Without numpy the suite is skipped (exit 77, shown as SKIP by meson) with a
 * message, except in CI (CI=true), where that is a failure. */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define PYTHON "/usr/bin/python3"

static const char script[] =
    "import sys\n"
    "import numpy as np\n"
    "data_csv, csv_dir, npy_dir, pred_csv, precision = sys.argv[1:6]\n"
    "count = int(sys.argv[6])\n"
    "dtype = np.dtype('<f4' if precision == 'f32' else '<f8')\n"
    "X = np.loadtxt(data_csv, delimiter=',', skiprows=1, ndmin=2)[:, 1:]\n"
    "thetas = []\n"
    "for l in range(1, count + 1):\n"
    "    from_csv = np.loadtxt(f'{csv_dir}/Theta{l}.csv', delimiter=',', ndmin=2)\n"
    "    from_npy = np.load(f'{npy_dir}/Theta{l}.npy')\n"
    "    assert from_npy.dtype == dtype, (l, from_npy.dtype)\n"
    "    assert from_npy.flags['C_CONTIGUOUS']\n"
    "    assert from_csv.shape == from_npy.shape, (l, from_csv.shape, from_npy.shape)\n"
    "    inputs = X.shape[1] if l == 1 else thetas[-1].shape[0]\n"
    "    assert from_npy.shape[1] == inputs + 1, (l, from_npy.shape, inputs)\n"
    "    # %.9g round-trips a float32, %.17g a float64: the same numbers\n"
    "    assert np.array_equal(from_csv.astype(dtype), from_npy), l\n"
    "    thetas.append(from_npy.astype(np.float64))\n"
    "a = X\n"
    "for t in thetas:\n"
    "    a = 1.0 / (1.0 + np.exp(-(a @ t[:, 1:].T + t[:, 0])))\n"
    "ours = a.argmax(axis=1)\n"
    "top2 = np.sort(a, axis=1)[:, -2:]\n"
    "near_tie = top2[:, 1] - top2[:, 0] < 1e-6\n"
    "theirs = np.loadtxt(pred_csv, delimiter=',', skiprows=1, ndmin=2)[:, 0].astype(int)\n"
    "assert theirs.shape == ours.shape, (theirs.shape, ours.shape)\n"
    "differ = ours != theirs\n"
    "print(f'export parity ({precision}, {count} matrices): {len(ours)} samples, '\n"
    "      f'{differ.sum()} differ, {(differ & near_tie).sum()} of them near-ties')\n"
    "sys.exit(1 if (differ & ~near_tie).any() else 0)\n";

static char dir[64];
static char program[4096];

static void setup(void)
{
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    const char *env = getenv("BPNN_CL");
    ck_assert_msg(env != NULL, "BPNN_CL names the program under test");
    snprintf(program, sizeof program, "%s", env);
}

static void teardown(void)
{
    char command[256];
    snprintf(command, sizeof command, "rm -rf %s", dir);
    ck_assert_int_eq(system(command), 0);
}

static void write_text(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* Four classes in six dimensions with some overlap, labels in column 0. */
static void write_data(void)
{
    static char text[1 << 16];
    size_t used = (size_t)snprintf(text, sizeof text, "label,a,b,c,d,e,f\n");
    uint32_t state = 2024;
    for (int i = 0; i < 240; i++) {
        int k = i % 4;
        used += (size_t)snprintf(text + used, sizeof text - used, "%d", k);
        for (int j = 0; j < 6; j++) {
            state = state * 1664525u + 1013904223u;
            double noise = (double)(state >> 8) / (1 << 24) - 0.5;
            double centre = (j % 4 == k) ? 1.0 : (j == k + 2 ? 0.5 : 0.0);
            used +=
                (size_t)snprintf(text + used, sizeof text - used, ",%.6f", centre + 1.2 * noise);
        }
        used += (size_t)snprintf(text + used, sizeof text - used, "\n");
    }
    write_text("data.csv", text);
}

static void check_parity(const char *precision, const char *layers, int matrices)
{
    write_data();
    write_text("parity.py", script);
    static char command[6 * 4096];
    snprintf(command, sizeof command,
             "cd %s && rm -rf csv npy && mkdir csv npy"
             " && %s train --data data.csv --layers %s --max-iter 40 --lambda 0.1 --precision %s"
             " --device cpu --quiet --out m.bpnn >/dev/null"
             " && %s export --model m.bpnn --format csv --out csv 2>/dev/null"
             " && %s export --model m.bpnn --format npy --out npy 2>/dev/null"
             " && %s predict --model m.bpnn --data data.csv --device cpu --out pred.csv"
             " && " PYTHON " parity.py data.csv csv npy pred.csv %s %d",
             dir, program, layers, precision, program, program, program, precision, matrices);
    int status = system(command);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "export parity failed for %s %s (see the lines above)", precision, layers);
}

START_TEST(export_parity_f32)
{
    check_parity("f32", "6,8,4", 2);
}
END_TEST

START_TEST(export_parity_f64)
{
    check_parity("f64", "6,8,4", 2);
}
END_TEST

START_TEST(export_parity_two_hidden_layers)
{
    check_parity("f32", "6,9,7,4", 3);
}
END_TEST

int main(void)
{
    if (system(PYTHON " -c 'import numpy' >/dev/null 2>&1") != 0) {
        const char *ci = getenv("CI");
        if (ci && strcmp(ci, "true") == 0) {
            fprintf(stderr, "export_numpy: FAILED: " PYTHON " with numpy is required in CI "
                            "(scripts/install-deps.sh installs python3-numpy)\n");
            return EXIT_FAILURE;
        }
        fprintf(stderr, "export_numpy: SKIPPED: " PYTHON " with numpy is not installed "
                        "(apt-get install python3-numpy)\n");
        return 77; /* meson: skipped */
    }
    Suite *suite = suite_create("export_numpy");
    TCase *parity = tcase_create("parity");
    tcase_add_checked_fixture(parity, setup, teardown);
    tcase_set_timeout(parity, 120);
    tcase_add_test(parity, export_parity_f32);
    tcase_add_test(parity, export_parity_f64);
    tcase_add_test(parity, export_parity_two_hidden_layers);
    suite_add_tcase(suite, parity);
    return run_suite(suite);
}
