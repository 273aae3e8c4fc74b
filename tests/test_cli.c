/* test_cli.c — bpnn-cl end to end, as a user runs it: training to 100% on a
 * generated problem, predict/eval/export on its model, and every bad input
 * answered with one line and the contract's exit status. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpnn.h"
#include "io/checkpoint.h"
#include "testutil.h"

static const char *dir;
static char program[4096];

/* Runs `bpnn-cl ARGS` (a shell fragment); stdout and stderr go to files whose
 * contents are returned (static buffers, valid until the next call). */
static int run(const char *args, const char **out, const char **err)
{
    static char out_text[1 << 16], err_text[1 << 16];
    char command[8192];
    snprintf(command, sizeof command, "cd %s && %s %s >stdout.txt 2>stderr.txt </dev/null", dir,
             program, args);
    int status = system(command);
    ck_assert_msg(status != -1 && WIFEXITED(status), "bpnn-cl did not exit: %s", args);
    char path[4200];
    FILE *f;
    snprintf(path, sizeof path, "%s/stdout.txt", dir);
    f = fopen(path, "r");
    out_text[fread(out_text, 1, sizeof out_text - 1, f)] = '\0';
    fclose(f);
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    f = fopen(path, "r");
    err_text[fread(err_text, 1, sizeof err_text - 1, f)] = '\0';
    fclose(f);
    if (out)
        *out = out_text;
    if (err)
        *err = err_text;
    return WEXITSTATUS(status);
}

static void write_file(const char *name, const void *data, size_t size)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, size, f), size);
    fclose(f);
}

static char *read_file(const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char text[1 << 20];
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    return strdup(text);
}

/* Three clusters in the plane, labels written 1..3 (or 0..2) in column 0. */
static void write_clusters(const char *name, int rows, int label_base)
{
    char text[1 << 16];
    size_t used = (size_t)snprintf(text, sizeof text, "label,x,y\r\n");
    for (int i = 0; i < rows; i++) {
        int k = i % 3;
        double angle = 2.0 * M_PI * k / 3, r = 0.15 * ((i * 7919) % 100) / 100.0;
        double x = 2 * cos(angle) + r * cos(i * 1.7), y = 2 * sin(angle) + r * sin(i * 1.3);
        used += (size_t)snprintf(text + used, sizeof text - used, "%d,%.6f,%.6f\r\n",
                                 k + label_base, x, y);
    }
    write_file(name, text, used);
}

/* One line on stderr, "bpnn-cl: ..." containing `needle`. */
static void assert_one_line_error(const char *err, const char *needle)
{
    ck_assert_msg(strncmp(err, "bpnn-cl: ", 9) == 0, "error line: %s", err);
    const char *newline = strchr(err, '\n');
    ck_assert_msg(newline && newline[1] == '\0', "not one line: %s", err);
    ck_assert_msg(strstr(err, needle) != NULL, "'%s' not in: %s", needle, err);
}

static void setup(void)
{
    dir = test_tmpdir();
    const char *env = getenv("BPNN_CL");
    ck_assert_msg(env != NULL, "BPNN_CL names the program under test");
    snprintf(program, sizeof program, "%s", env);
}

START_TEST(test_train_predict_eval_export)
{
    write_clusters("train.csv", 60, 1);
    const char *out, *err;
    ck_assert_int_eq(run("train --data train.csv --labels-from 1 --layers 2,6,3 --lambda 0.01 "
                         "--max-iter 200 --device cpu --out model.bpnn --json",
                         &out, &err),
                     0);
    ck_assert_msg(strstr(out, "\"train_accuracy\": 1.0") != NULL, "%s\n%s", out, err);
    static const char *const keys[] = {"final_cost",
                                       "iterations",
                                       "evaluations",
                                       "stop_reason",
                                       "train_seconds",
                                       "total_seconds",
                                       "\"device\": \"cpu\"",
                                       "device_name",
                                       "\"precision\": \"f32\"",
                                       "layers",
                                       "lambda",
                                       "blas_core",
                                       "version"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        ck_assert_msg(strstr(out, keys[i]) != NULL, "no %s in %s", keys[i], out);
    ck_assert_ptr_null(strstr(out, "test_accuracy")); /* no test set given */

    /* predict: labels printed in the file's own convention (1..3) */
    ck_assert_int_eq(run("predict --model model.bpnn --data train.csv --labels-from 1 --out "
                         "pred.csv",
                         NULL, &err),
                     0);
    char *pred = read_file("pred.csv");
    ck_assert_ptr_nonnull(pred);
    ck_assert(strncmp(pred, "prediction,label\n", 17) == 0);
    int rows = 0, agree = 0;
    for (char *line = strchr(pred, '\n') + 1; *line; line = strchr(line, '\n') + 1) {
        int p, l;
        ck_assert_int_eq(sscanf(line, "%d,%d", &p, &l), 2);
        ck_assert(l >= 1 && l <= 3 && p >= 1 && p <= 3);
        ck_assert_int_eq(l, rows % 3 + 1);
        agree += p == l;
        rows++;
    }
    ck_assert_int_eq(rows, 60);
    ck_assert_int_eq(agree, 60);
    free(pred);

    /* the label offset is stored in the model: no --labels-from needed */
    ck_assert_int_eq(run("eval --model model.bpnn --data train.csv --json", &out, &err), 0);
    ck_assert_msg(strstr(out, "\"accuracy\": 1.0") != NULL, "%s", out);
    ck_assert(strstr(out, "per_class_accuracy") && strstr(out, "confusion"));
    ck_assert_msg(strstr(out, "\"classes\": [\n    \"1\",\n    \"2\",\n    \"3\"") != NULL, "%s",
                  out);
    ck_assert_int_eq(run("eval --model model.bpnn --data train.csv", &out, &err), 0);
    ck_assert(strstr(out, "accuracy: 100.00%") != NULL);

    /* --proba: the output activations beside the class, their argmax */
    ck_assert_int_eq(run("predict --model model.bpnn --data train.csv --proba", &out, &err), 0);
    ck_assert_msg(strncmp(out, "prediction,label,score_1,score_2,score_3\n", 41) == 0, "%s", out);
    rows = 0;
    for (const char *line = strchr(out, '\n') + 1; *line; line = strchr(line, '\n') + 1) {
        int p, l;
        double s[3];
        ck_assert_int_eq(sscanf(line, "%d,%d,%lf,%lf,%lf", &p, &l, &s[0], &s[1], &s[2]), 5);
        int best = 0;
        for (int k = 0; k < 3; k++) {
            ck_assert(s[k] > 0 && s[k] < 1);
            best = s[k] > s[best] ? k : best;
        }
        ck_assert_int_eq(p, best + 1);
        rows++;
    }
    ck_assert_int_eq(rows, 60);

    /* predict without labels: one column */
    write_file("unlabelled.csv", "0.0,2.0\n2.0,0.0\n", 16);
    ck_assert_int_eq(
        run("predict --model model.bpnn --data unlabelled.csv --no-labels", &out, &err), 0);
    ck_assert_msg(strcmp(out, "prediction\n2\n1\n") == 0, "%s", out);

    char weights[4200];
    snprintf(weights, sizeof weights, "%s/w", dir);
    ck_assert_int_eq(mkdir(weights, 0755), 0);
    ck_assert_int_eq(run("export --model model.bpnn --out w --format csv", NULL, &err), 0);
    char *theta = read_file("w/Theta1.csv");
    ck_assert_ptr_nonnull(theta);
    int lines = 0, commas = 0;
    for (char *c = theta; *c; c++)
        lines += *c == '\n', commas += *c == ',';
    ck_assert_int_eq(lines, 6);      /* 6 hidden units */
    ck_assert_int_eq(commas, 6 * 2); /* 3 columns: bias, x, y */
    free(theta);
}
END_TEST

START_TEST(test_gradcheck)
{
    const char *out, *err;
    ck_assert_int_eq(run("gradcheck --json", &out, &err), 0);
    char *at = strstr(out, "\"relative_difference\": ");
    ck_assert_ptr_nonnull(at);
    double rel = strtod(at + 23, NULL);
    ck_assert_msg(rel > 0 && rel < 1e-9, "%g", rel);
    ck_assert_int_eq(run("gradcheck --lambda 3 --layers 3,5,4,3", &out, &err), 0);
    ck_assert(strstr(out, "relative difference:") && strstr(out, "PASS"));
}
END_TEST

START_TEST(test_help_and_version)
{
    static const char *const commands[] = {"train",  "predict", "eval",   "gradcheck",
                                           "export", "devices", "verify", "bench"};
    const char *out;
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        char args[64];
        snprintf(args, sizeof args, "%s --help", commands[i]);
        ck_assert_int_eq(run(args, &out, NULL), 0);
        ck_assert_msg(strstr(out, "Usage: bpnn-cl ") != NULL, "%s: %s", commands[i], out);
        ck_assert_msg(strstr(out, "Exit status") != NULL, "%s help lacks exit codes", commands[i]);
    }
    ck_assert_int_eq(run("--help", &out, NULL), 0);
    ck_assert(strstr(out, "Commands:") != NULL);
    ck_assert_int_eq(run("--version", &out, NULL), 0);
    ck_assert(strncmp(out, "bpnn-cl 0.", 10) == 0);
}
END_TEST

/* Each bad request: exit 2, one line naming what and where, and (with
 * --json) the error object on stdout. */
START_TEST(test_bad_input)
{
    write_clusters("good.csv", 30, 0);
    write_file("ragged.csv", "0,1,2\n1,3,4\n2,5\n", 16);
    write_file("text.csv", "0,1,2\n1,x,4\n", 12);
    unsigned char idx[16 + 8] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2};
    write_file("short-images", idx, sizeof idx); /* 3 images of 4 pixels declared, 2 present */
    write_file("labels", (unsigned char[]){0, 0, 8, 1, 0, 0, 0, 3, 0, 1, 2}, 11);
    unsigned char images[16 + 6] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0,
                                    2, 0, 0, 0, 1, 9, 8, 7, 6, 5, 4};
    write_file("images", images, sizeof images); /* 3 images of 2x1 pixels */
    write_file("labels-typo.csv", "0,1,2\n100000000,3,4\n", 20);
    static const struct {
        const char *args, *needle;
    } cases[] = {
        {"train --data missing.csv", "missing.csv"},
        {"train --data short-images --labels labels", "truncated"},
        {"train --data ragged.csv --header no", "ragged.csv:3"},
        {"train --data text.csv --header no", "text.csv:2"},
        {"train --data good.csv --layers 2,4,2", "label"}, /* 3 classes, 2 outputs */
        {"train --data good.csv --layers 3,4,3", "features"},
        {"train --frobnicate", "--frobnicate"},
        {"train --layers 784,,10", "--layers"},
        {"train --layers 784", "--layers"},
        {"train --lambda -1", "--lambda"},
        {"train --max-iter many", "--max-iter"},
        {"train --precision f16", "--precision"},
        {"train --device fpga", "fpga"},
        {"train --data good.csv --out /nonexistent/m.bpnn", "/nonexistent"},
        {"predict --model missing.bpnn --data good.csv", "missing.bpnn"},
        {"predict --model good.csv --data good.csv", "good.csv"},
        {"eval --data good.csv", "--model"},
        {"export --model m --out . --format xml", "xml"},
        {"frobnicate", "frobnicate"},
        {"train --data good.csv --out .", "folder"},
        {"train --data labels-typo.csv", "--layers"}, /* a label of 10^8 is no class count */
        {"train --data good.csv --labels-from 1 --layers 2,4,3", "label"}, /* 0 - 1 < 0 */
        {"verify --device cpu", "reference"},
        {"train --data images --labels labels --test-data images --max-iter 1", "--test-labels"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *out, *err;
        int status = run(cases[i].args, &out, &err);
        ck_assert_msg(status == 2, "%s: exit %d: %s", cases[i].args, status, err);
        assert_one_line_error(err, cases[i].needle);
    }
    const char *out, *err;
    ck_assert_int_eq(run("train --data missing.csv --json", &out, &err), 2);
    ck_assert_msg(strstr(out, "\"error\": \"") && strstr(out, "\"exit\": 2"), "%s", out);
    /* the error object even when --json comes after the bad option */
    ck_assert_int_eq(run("train --lambda x --json", &out, &err), 2);
    ck_assert_msg(strstr(out, "\"error\": \"not a number: --lambda x\""), "%s", out);
}
END_TEST

/* Output that cannot be written is a failure, not a success. */
START_TEST(test_stdout_write_error)
{
    char command[8192];
    snprintf(command, sizeof command, "%s gradcheck >/dev/full 2>/dev/null", program);
    int status = system(command);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 1);
}
END_TEST

/* SIGINT outside training too (here: a long benchmark) ends the run with 130. */
START_TEST(test_interrupt_anywhere)
{
    char command[8192];
    snprintf(command, sizeof command, "exec %s bench --device cpu --repeat 1000 --steps 1000",
             program);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    usleep(500 * 1000);
    ck_assert_int_eq(kill(pid, SIGINT), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 130, "status %d", status);
}
END_TEST

/* bench: every figure, from one run, in the JSON the README documents; the
 * FLOP count is the stated formula's. */
START_TEST(test_bench_json)
{
    const char *out, *err;
    ck_assert_int_eq(run("bench --device cpu --layers 20,8,3 --batch 16 --steps 5 --repeat 3 "
                         "--samples 50 --json",
                         &out, &err),
                     0);
    static const char *const keys[] = {
        "\"devices\": [",    "\"device\": \"cpu\"", "\"precision\": \"f32\"", "\"batch\": 16",
        "gemm_gflops",       "train_samples_per_s", "train_gflops",           "efficiency",
        "evaluations_per_s", "first_step_seconds"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        ck_assert_msg(strstr(out, keys[i]) != NULL, "no %s in %s", keys[i], out);
    /* per sample: 2 x 20 x 8 twice (forward, weight gradient), 2 x 8 x 3 three times */
    ck_assert_msg(strstr(out, "\"flops_per_sample\": 784.0") != NULL, "%s", out);
    double efficiency = strtod(strstr(out, "\"efficiency\": ") + 14, NULL);
    ck_assert_msg(efficiency > 0 && efficiency < 100, "efficiency %g", efficiency);
    /* two devices in one run, and a bad one refused */
    ck_assert_int_eq(run("bench --device cpu --device cpu --layers 20,8,3 --batch 16 --steps 2 "
                         "--repeat 1 --samples 20",
                         &out, &err),
                     0);
    ck_assert_int_eq((int)(strstr(strstr(out, "  gemm ") + 1, "  gemm ") != NULL), 1);
    ck_assert_int_eq(run("bench --device fpga", &out, &err), 2);
}
END_TEST

START_TEST(test_default_data_missing)
{
    const char *err;
    char args[] = "train --max-iter 1";
    ck_assert_int_eq(setenv("BPNN_FASHION_MNIST_DIR", "/nonexistent-fashion", 1), 0);
    int status = run(args, NULL, &err);
    unsetenv("BPNN_FASHION_MNIST_DIR");
    ck_assert_int_eq(status, 2);
    assert_one_line_error(err, "apt-get install dataset-fashion-mnist");
}
END_TEST

START_TEST(test_default_data_trains)
{
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) != 0) {
        ck_assert_msg(getenv("CI") == NULL, "CI installs dataset-fashion-mnist");
        printf("SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)\n");
        return;
    }
    const char *out, *err;
    ck_assert_int_eq(run("train --limit 1000 --test-limit 2000 --max-iter 30 --device cpu --json "
                         "--out f.bpnn",
                         &out, &err),
                     0);
    char *at = strstr(out, "\"test_accuracy\": ");
    ck_assert_msg(at != NULL, "%s", out);
    double test = strtod(at + 17, NULL);
    ck_assert_msg(test > 0.65, "test accuracy %g after 30 iterations", test);
    ck_assert(strstr(out, "\"layers\": [\n    784,\n    25,\n    10\n  ]") != NULL);
    ck_assert_int_eq(run("eval --model f.bpnn --limit 500", &out, &err), 0);
    ck_assert_msg(strstr(out, "Ankle boot") != NULL, "%s", out);
    /* Fashion-MNIST has 10 classes: another output size is a mismatch */
    ck_assert_int_eq(run("train --layers 784,25 --limit 100", &out, &err), 2);
    assert_one_line_error(err, "10 classes");
    ck_assert_int_eq(run("train --layers 783,25,10 --limit 100", &out, &err), 2);
    assert_one_line_error(err, "784 features");
}
END_TEST

/* SIGINT mid-run: exit 130 and an existing output untouched, no temp file. */
START_TEST(test_interrupt)
{
    char data[1 << 16];
    size_t used = 0;
    for (int i = 0; i < 2000; i++)
        used += (size_t)snprintf(data + used, sizeof data - used, "%d,%d,%d,%d\n", i % 4,
                                 (i * 37) % 101, (i * 53) % 97, (i * 11) % 89);
    write_file("big.csv", data, used);
    write_file("keep.bpnn", "precious", 8);
    char command[8192];
    snprintf(command, sizeof command,
             "cd %s && exec %s train --data big.csv --layers 3,200,4 --max-iter 100000 --gtol 0 "
             "--device cpu --out keep.bpnn --log run.jsonl --quiet",
             dir, program);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    usleep(1500 * 1000);
    ck_assert_int_eq(kill(pid, SIGINT), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 130, "status %d", status);
    char *kept = read_file("keep.bpnn");
    ck_assert_str_eq(kept, "precious");
    free(kept);
    /* the log was flushed record by record: the first iterations are in it */
    char *log = read_file("run.jsonl");
    ck_assert_ptr_nonnull(log);
    ck_assert_msg(strncmp(log, "{\"iteration\":1,", 15) == 0, "%s", log);
    ck_assert_ptr_nonnull(strchr(log, '\n'));
    free(log);
    char listing[8192];
    snprintf(listing, sizeof listing, "ls %s | grep -c tmp", dir);
    FILE *p = popen(listing, "r");
    int temps = -1;
    ck_assert_int_eq(fscanf(p, "%d", &temps), 1);
    pclose(p);
    ck_assert_int_eq(temps, 0);
}
END_TEST

/* A data set big enough that an epoch takes a while: 4 classes, 8 features. */
static void write_big_csv(const char *name, int rows)
{
    size_t capacity = (size_t)rows * 64 + 64, used = 0;
    char *data = malloc(capacity);
    ck_assert_ptr_nonnull(data);
    for (int i = 0; i < rows; i++) {
        used += (size_t)snprintf(data + used, capacity - used, "%d", i % 4);
        for (int j = 0; j < 8; j++)
            used += (size_t)snprintf(data + used, capacity - used, ",%d",
                                     ((i % 4) * 13 + (i * (37 + 6 * j)) % (89 + j)) % 101);
        data[used++] = '\n';
    }
    write_file(name, data, used);
    free(data);
}

static bpnn_model *load_model(const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    bpnn_model *model = NULL;
    ck_assert_msg(bpnn_model_load(path, &model) == BPNN_OK, "%s", bpnn_error_message());
    return model;
}

/* Mini-batch training end to end: epoch lines, the log per epoch, the
 * validation split, the JSON keys, and a model that records its epoch. */
START_TEST(test_minibatch_training)
{
    write_clusters("train.csv", 300, 0);
    const char *out, *err;
    int code = run("train --data train.csv --layers 2,8,3 --epochs 4 --batch 16 --lr 0.05 "
                   "--val-split 0.2 --device cpu --log run.jsonl --out m.bpnn --json",
                   &out, &err);
    ck_assert_msg(code == 0, "%s", err);
    ck_assert_ptr_nonnull(strstr(err, "adam, 4 epochs of batches of 16"));
    ck_assert_ptr_nonnull(strstr(err, "epoch   4/4 | cost "));
    ck_assert_ptr_nonnull(strstr(err, "| val "));
    ck_assert_ptr_null(strstr(err, "\r")); /* not a terminal: no bar */
    ck_assert_ptr_nonnull(strstr(out, "\"optimizer\": \"adam\""));
    ck_assert_ptr_nonnull(strstr(out, "\"epochs\": 4"));
    ck_assert_ptr_nonnull(strstr(out, "\"batch\": 16"));
    ck_assert_ptr_nonnull(strstr(out, "\"best_epoch\": "));
    ck_assert_ptr_nonnull(strstr(out, "\"val_accuracy\": "));
    ck_assert_ptr_nonnull(strstr(out, "\"samples\": 240"));
    char *log = read_file("run.jsonl");
    ck_assert_ptr_nonnull(log);
    ck_assert_msg(strncmp(log, "{\"epoch\":1,\"steps\":15,", 22) == 0, "%s", log);
    int lines = 0;
    for (const char *c = log; *c; c++)
        lines += *c == '\n';
    ck_assert_int_eq(lines, 4);
    ck_assert_ptr_nonnull(strstr(log, "\"val_accuracy\":"));
    free(log);
    bpnn_model *model = load_model("m.bpnn");
    ck_assert_int_eq(model->epoch, 4);
    bpnn_model_free(model);
    ck_assert_int_eq(run("eval --model m.bpnn --data train.csv", &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "model: parameters of epoch 4\n"));
    ck_assert_int_eq(run("show curve --log run.jsonl --out curve.png", NULL, &err), 0);

    /* without --out the run says how to keep the model */
    code = run("train --data train.csv --layers 2,8,3 --optimizer sgd --epochs 1 --device cpu",
               &out, &err);
    ck_assert_msg(code == 0, "%s", err);
    ck_assert_ptr_nonnull(strstr(out, "model not kept: give --out FILE to save it"));
}
END_TEST

START_TEST(test_minibatch_bad_requests)
{
    write_clusters("train.csv", 60, 0);
    const char *err;
    static const struct {
        const char *args, *needle;
    } cases[] = {
        {"--optimizer adam --max-iter 5", "--max-iter is for cg and lbfgs"},
        {"--optimizer cg --epochs 5", "--epochs is for the mini-batch optimizers"},
        {"--optimizer lbfgs --lr 0.1", "--lr is for the mini-batch"},
        {"--optimizer rmsprop", "unknown optimizer: --optimizer rmsprop"},
        {"--epochs 0", "out of range: --epochs 0"},
        {"--batch -3", "out of range: --batch -3"},
        {"--lr-schedule linear", "unknown schedule"},
        {"--patience 3", "--patience needs a validation set"},
        {"--val-split 1.5", "out of range: --val-split"},
        {"--optimizer sgd --beta1 0.8", "--beta1 is for --optimizer adam, not sgd"},
        {"--optimizer adam --nesterov", "--nesterov is for --optimizer momentum, not adam"},
        {"--optimizer cg --history 5", "--history is for --optimizer lbfgs, not cg"},
        {"--val-labels y.idx", "--val-labels needs --val-data"},
        {"--epochs 2 --lr-decay 0.5", "--lr-decay is for --lr-schedule step, not cosine"},
        {"--epochs 2 --checkpoint-every 2", "--checkpoint-every needs --checkpoint FILE"},
        {"--resume missing.ckpt", "cannot read the checkpoint: --resume missing.ckpt"},
        {"--epochs 2 --checkpoint nodir/c.ckpt", "output folder does not exist: --checkpoint"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char args[512];
        snprintf(args, sizeof args, "train --data train.csv --layers 2,4,3 --device cpu %s",
                 cases[i].args);
        ck_assert_msg(run(args, NULL, &err) == 2, "%s: %s", cases[i].args, err);
        assert_one_line_error(err, cases[i].needle);
    }
}
END_TEST

/* A learning rate far too large: exit 3, naming epoch and step, with a remedy;
 * the checkpoint left is the last good epoch's, whole and finite. */
START_TEST(test_minibatch_divergence)
{
    write_clusters("train.csv", 300, 0);
    const char *err;
    ck_assert_int_eq(run("train --data train.csv --layers 2,8,3 --optimizer sgd --lr 1e6 "
                         "--epochs 20 --device cpu --checkpoint good.ckpt --quiet",
                         NULL, &err),
                     3);
    assert_one_line_error(err, "training diverged: the cost is ");
    ck_assert_ptr_nonnull(strstr(err, "at epoch "));
    ck_assert_ptr_nonnull(strstr(err, "lower --lr"));
    char path[4200];
    snprintf(path, sizeof path, "%s/good.ckpt", dir);
    struct stat st;
    if (stat(path, &st) == 0) { /* only when an epoch ended before the divergence */
        checkpoint c;
        ck_assert_msg(checkpoint_load(path, &c) == BPNN_OK, "%s", bpnn_error_message());
        ck_assert_int_ge(c.epoch, 1);
        for (size_t i = 0; i < c.param_count; i++)
            ck_assert(isfinite(c.params[i]));
        checkpoint_free(&c);
    }
}
END_TEST

/* Killed with SIGKILL in the middle of an epoch and resumed from its last
 * checkpoint, a run ends with the parameters of an uninterrupted one. */
START_TEST(test_kill_and_resume)
{
    write_big_csv("big.csv", 40000);
    const char *options = "--data big.csv --layers 8,128,4 --optimizer momentum --epochs 6 "
                          "--batch 4 --lr 0.01 --normalize zscore --device cpu --quiet";
    char args[1024];
    const char *err;
    snprintf(args, sizeof args, "train %s --out whole.bpnn", options);
    ck_assert_msg(run(args, NULL, &err) == 0, "%s", err);

    char command[8192];
    snprintf(command, sizeof command, "cd %s && exec %s train %s --checkpoint run.ckpt", dir,
             program, options);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    /* as soon as the first epoch's checkpoint exists, the second is under way */
    char checkpoint[4200];
    snprintf(checkpoint, sizeof checkpoint, "%s/run.ckpt", dir);
    struct stat st;
    int waited = 0;
    while (stat(checkpoint, &st) != 0 && waited++ < 6000)
        usleep(10 * 1000);
    ck_assert_msg(waited < 6000, "no checkpoint after 60 s");
    usleep(20 * 1000);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    const char *out;
    snprintf(args, sizeof args, "train %s --resume run.ckpt --out resumed.bpnn --json", options);
    ck_assert_msg(run(args, &out, &err) == 0, "%s", err);
    const char *resumed_at = strstr(out, "\"resumed_epoch\": ");
    ck_assert_ptr_nonnull(resumed_at);
    int epoch = atoi(resumed_at + 17);
    ck_assert_msg(epoch >= 1 && epoch < 6, "resumed at epoch %d: the kill came too late", epoch);
    bpnn_model *whole = load_model("whole.bpnn"), *resumed = load_model("resumed.bpnn");
    ck_assert_uint_eq(whole->param_count, resumed->param_count);
    ck_assert(memcmp(whole->params, resumed->params, whole->param_count * sizeof(double)) == 0);
    ck_assert_int_eq(resumed->epoch, 6);
    bpnn_model_free(whole);
    bpnn_model_free(resumed);

    /* the checkpoint refuses another run */
    snprintf(args, sizeof args, "train %s --resume run.ckpt --batch 16", options);
    ck_assert_int_eq(run(args, NULL, &err), 2);
    assert_one_line_error(err, "checkpoint does not match");
}
END_TEST

static int exists(const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* --dry-run prints the plan a run would follow on a device of the size
 * BPNN_DEVICE_MEMORY pretends (the CPU takes the pretence too): resident,
 * streamed or refused, the same decision as training makes, and no file. */
START_TEST(test_dry_run_plans)
{
    write_clusters("small.csv", 300, 0);
    write_big_csv("big.csv", 40000);
    const char *out, *err;
    const char *outputs = "--out m.bpnn --log run.jsonl --plot curve.png --checkpoint run.ckpt";
    char args[1024];

    /* host memory: resident, no limit */
    unsetenv("BPNN_DEVICE_MEMORY");
    snprintf(args, sizeof args,
             "train --data small.csv --layers 2,8,3 --epochs 2 --device cpu %s --dry-run", outputs);
    ck_assert_msg(run(args, &out, &err) == 0, "%s", err);
    ck_assert_msg(strncmp(out, "plan: resident, in host memory\n", 31) == 0, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "device: host memory, no limit"));
    ck_assert_ptr_nonnull(strstr(out, "dry run: nothing uploaded or trained, no file written\n"));
    ck_assert_ptr_nonnull(strstr(err, "network: 2-8-3, ")); /* the run's own header */
    ck_assert_ptr_null(strstr(err, "epoch "));
    const char *files[] = {"m.bpnn", "run.jsonl", "curve.png", "run.ckpt"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        ck_assert_msg(!exists(files[i]), "a dry run wrote %s", files[i]);

    /* a pretended 1 MiB: the small set stays resident, the large one is streamed */
    ck_assert_int_eq(setenv("BPNN_DEVICE_MEMORY", "1M", 1), 0);
    ck_assert_msg(run("train --data small.csv --layers 2,8,3 --epochs 2 --device cpu --dry-run",
                      &out, &err) == 0,
                  "%s", err);
    ck_assert_msg(strncmp(out, "plan: resident, every data set on the device\n", 45) == 0, "%s",
                  out);
    ck_assert_ptr_nonnull(
        strstr(out, "device: 1.0 MiB global memory (1048576 bytes), 0.8 MiB usable, largest "
                    "allocation 1.0 MiB (1048576 bytes), BPNN_DEVICE_MEMORY=1M\n"));
    ck_assert_ptr_null(strstr(out, "streamed:"));
    const char *big = "train --data big.csv --layers 8,16,4 --epochs 1 --device cpu --quiet";
    snprintf(args, sizeof args, "%s --dry-run", big);
    ck_assert_msg(run(args, &out, &err) == 0, "%s", err);
    ck_assert_msg(strncmp(out, "plan: streamed from the host, evaluated in blocks of ", 53) == 0,
                  "%s", out);
    long block = atol(out + 53);
    ck_assert_msg(block >= 64 && block < 40000, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "\nstreamed: "));
    ck_assert_str_eq(err, "");
    /* the run itself makes the same decision */
    ck_assert_msg(run(big, &out, &err) == 0, "%s", err);
    ck_assert_ptr_nonnull(strstr(out, "the data did not fit the device and were streamed"));
    snprintf(args, sizeof args, "%s --dry-run --json", big);
    ck_assert_msg(run(args, &out, &err) == 0, "%s", err);
    ck_assert_ptr_nonnull(strstr(out, "\"dry_run\": true"));
    ck_assert_ptr_nonnull(strstr(out, "\"streamed\": true"));
    ck_assert_ptr_nonnull(strstr(out, "\"device_memory\": 1048576"));

    /* parameters and optimizer state beyond the device: refused, as training refuses */
    const char *huge = "train --data big.csv --layers 8,20000,4 --epochs 1 --device cpu --quiet";
    snprintf(args, sizeof args, "%s --dry-run", huge);
    ck_assert_int_eq(run(args, &out, &err), 1);
    ck_assert_str_eq(out, "");
    assert_one_line_error(err, "device memory too small: cpu ");
    ck_assert_ptr_nonnull(strstr(err, "offers 1.0 MiB (819.2 KiB usable)"));
    char *refused = strdup(err);
    ck_assert_int_eq(run(huge, NULL, &err), 1);
    ck_assert_str_eq(err, refused);
    free(refused);
    unsetenv("BPNN_DEVICE_MEMORY");
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *t = tcase_create("end_to_end");
    tcase_add_checked_fixture(t, setup, NULL);
    tcase_set_timeout(t, 180);
    tcase_add_test(t, test_train_predict_eval_export);
    tcase_add_test(t, test_bench_json);
    tcase_add_test(t, test_gradcheck);
    tcase_add_test(t, test_help_and_version);
    tcase_add_test(t, test_bad_input);
    tcase_add_test(t, test_default_data_missing);
    tcase_add_test(t, test_default_data_trains);
    tcase_add_test(t, test_interrupt);
    tcase_add_test(t, test_interrupt_anywhere);
    tcase_add_test(t, test_stdout_write_error);
    tcase_add_test(t, test_minibatch_training);
    tcase_add_test(t, test_minibatch_bad_requests);
    tcase_add_test(t, test_minibatch_divergence);
    tcase_add_test(t, test_kill_and_resume);
    tcase_add_test(t, test_dry_run_plans);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(cli_suite());
}
