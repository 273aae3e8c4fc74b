/* cmd_train.c — bpnn-cl train: the seed's experiment, and any other. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/blas_core.h"
#include "cli/cli.h"
#include "io/picture.h"
#include "util/error.h"
#include "util/timer.h"

static const char help[] =
    "Usage: bpnn-cl train [OPTIONS]\n"
    "Trains a network by conjugate gradient on the whole training set and reports\n"
    "training and test accuracy. With no --data: Fashion-MNIST from\n"
    "/usr/share/datasets/fashion-mnist (train split; t10k as the test set).\n"
    "\n"
    "Network and optimizer:\n"
    "  --layers L          sizes, e.g. 784,25,10 or 784,256,128,10\n"
    "                      (default <features>,25,<classes>)\n"
    "  --lambda X          L2 regularization, bias weights excluded (default 1)\n"
    "  --optimizer cg      conjugate gradient, Polak-Ribiere+ (the only one)\n"
    "  --max-iter N        CG iterations as SciPy's fmin_cg counts (default 100)\n"
    "  --gtol X            stop when max |gradient| < X (default 1e-5)\n"
    "  --seed N            initialization seed (default 1)\n"
    "  --out FILE          save the model (no file unless given)\n"
    "\n"
    "Data:\n" CLI_DATA_HELP
    "  --test-data FILE    test set (labels: --test-labels FILE); --test-limit N\n"
    "  --normalize none|zscore|minmax  feature scaling from the training rows\n"
    "\n"
    "Device and output:\n" CLI_DEVICE_HELP
    "  --stats             bytes moved host<->device, time in GEMM and kernels\n"
    "  --log FILE          append one JSON line per iteration (kept on a crash)\n"
    "  --log-accuracy      measure train/test accuracy at every iteration\n"
    "  --plot FILE         draw the training curve as PNG at the end (see show curve)\n"
    "  --quiet             no per-iteration progress on stderr\n"
    "\n" CLI_EXIT_HELP;

static const struct option options[] = {
    CLI_DATA_OPTIONS,
    CLI_DEVICE_OPTIONS,
    {"test-data", required_argument, NULL, OPT_TEST_DATA},
    {"test-labels", required_argument, NULL, OPT_TEST_LABELS},
    {"test-limit", required_argument, NULL, OPT_TEST_LIMIT},
    {"normalize", required_argument, NULL, OPT_NORMALIZE},
    {"layers", required_argument, NULL, OPT_LAYERS},
    {"lambda", required_argument, NULL, OPT_LAMBDA},
    {"optimizer", required_argument, NULL, OPT_OPTIMIZER},
    {"max-iter", required_argument, NULL, OPT_MAX_ITER},
    {"gtol", required_argument, NULL, OPT_GTOL},
    {"seed", required_argument, NULL, OPT_SEED},
    {"out", required_argument, NULL, OPT_OUT},
    {"stats", no_argument, NULL, OPT_STATS},
    {"log", required_argument, NULL, OPT_LOG},
    {"log-accuracy", no_argument, NULL, OPT_LOG_ACCURACY},
    {"plot", required_argument, NULL, OPT_PLOT},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {NULL, 0, NULL, 0},
};

/* Without --layers, more classes than this are taken for a stray label. */
#define MAX_INFERRED_CLASSES 10000

typedef struct train_args {
    cli_data data;
    cli_device device;
    int layer_count;
    int sizes[BPNN_MAX_LAYERS];
    bpnn_train_options train;
    uint64_t seed;
    const char *out_path, *log_path, *plot_path;
    int stats, quiet, log_accuracy;
} train_args;

static bpnn_status parse(int argc, char **argv, train_args *a)
{
    cli_data_init(&a->data);
    cli_device_init(&a->device);
    bpnn_train_options_default(&a->train);
    a->seed = 1;
    int code, handled;
    long v;
    while ((code = cli_next_option("train", argc, argv, options)) != -1) {
        if (code == '?')
            return BPNN_ERR_INVALID;
        if ((handled = cli_data_option(&a->data, code, optarg)) ||
            (handled = cli_device_option(&a->device, code, optarg))) {
            if (handled < 0)
                return BPNN_ERR_INVALID;
            continue;
        }
        switch (code) {
        case OPT_HELP: fputs(help, stdout); exit(0);
        case OPT_LAYERS: BPNN_TRY(cli_parse_layers(optarg, &a->layer_count, a->sizes)); break;
        case OPT_LAMBDA: BPNN_TRY(cli_parse_double("lambda", optarg, 0, 1e12, &a->train.lambda)); break;
        case OPT_GTOL: BPNN_TRY(cli_parse_double("gtol", optarg, 0, 1e12, &a->train.gtol)); break;
        case OPT_MAX_ITER:
            BPNN_TRY(cli_parse_long("max-iter", optarg, 0, 100000000, &v));
            a->train.max_iter = (int)v;
            break;
        case OPT_SEED:
            BPNN_TRY(cli_parse_long("seed", optarg, 0, LONG_MAX, &v));
            a->seed = (uint64_t)v;
            break;
        case OPT_OPTIMIZER:
            if (strcmp(optarg, "cg") != 0)
                return bpnn_fail(BPNN_ERR_INVALID, "unknown optimizer: --optimizer %s: expected cg",
                                 optarg);
            break;
        case OPT_OUT: a->out_path = optarg; break;
        case OPT_LOG: a->log_path = optarg; break;
        case OPT_LOG_ACCURACY: a->log_accuracy = 1; break;
        case OPT_PLOT: a->plot_path = optarg; break;
        case OPT_STATS: a->stats = 1; break;
        case OPT_QUIET: a->quiet = 1; break;
        default: return bpnn_fail(BPNN_ERR_INVALID, "unhandled option: see bpnn-cl train --help");
        }
    }
    if (a->out_path)
        BPNN_TRY(cli_check_writable("out", a->out_path));
    if (a->log_path)
        BPNN_TRY(cli_check_writable("log", a->log_path));
    if (a->plot_path)
        BPNN_TRY(cli_check_writable("plot", a->plot_path));
    if (a->data.test_labels_path && !a->data.test_data_path)
        return bpnn_fail(BPNN_ERR_INVALID, "--test-labels needs --test-data");
    if (a->data.labels_from_given && a->data.load.label_offset != 0 && !a->data.data_path)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "--labels-from %d: Fashion-MNIST's labels are 0..9; --labels-from is "
                         "for --data files",
                         a->data.load.label_offset);
    if (a->data.test_limit && a->data.data_path && !a->data.test_data_path)
        return bpnn_fail(BPNN_ERR_INVALID, "--test-limit needs --test-data (or the default data)");
    return BPNN_OK;
}

/* Completes --layers from the data, or checks the given sizes against it. */
static bpnn_status resolve_layers(train_args *a, const bpnn_dataset *train, int is_fashion)
{
    int classes = is_fashion ? 10 : bpnn_dataset_class_count(train);
    if (a->layer_count == 0 && classes > MAX_INFERRED_CLASSES)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "labels go up to %d: %s: if that many classes are meant, give them "
                         "with --layers",
                         classes - 1, a->data.data_path);
    if (a->layer_count == 0) {
        a->layer_count = 3;
        a->sizes[0] = (int)train->features;
        a->sizes[1] = 25;
        a->sizes[2] = classes;
    }
    if ((size_t)a->sizes[0] != train->features)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "sizes do not match: --layers starts with %d but the data have %zu "
                         "features",
                         a->sizes[0], train->features);
    int last = a->sizes[a->layer_count - 1];
    if (is_fashion && last != classes)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "sizes do not match: --layers ends with %d but Fashion-MNIST has %d "
                         "classes",
                         last, classes);
    if (last < 2)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "sizes do not match: the output layer has %d unit; a classifier needs "
                         "at least 2 classes",
                         last);
    return bpnn_dataset_check_labels(train, last, a->data.data_path ? a->data.data_path
                                                                    : "Fashion-MNIST train");
}

typedef struct progress {
    const train_args *args;
    FILE *log;
    int failed;
    /* --plot: every iteration kept for the curve drawn at the end */
    bpnn_iteration *records;
    size_t record_count, record_capacity;
    int records_failed;
} progress;

static void keep_record(progress *p, const bpnn_iteration *it)
{
    if (p->records_failed)
        return;
    if (p->record_count == p->record_capacity) {
        size_t grown = p->record_capacity ? 2 * p->record_capacity : 128;
        bpnn_iteration *bigger = realloc(p->records, grown * sizeof *bigger);
        if (!bigger) {
            p->records_failed = 1;
            return;
        }
        p->records = bigger;
        p->record_capacity = grown;
    }
    p->records[p->record_count++] = *it;
}

static int on_iteration(const bpnn_iteration *it, void *user)
{
    progress *p = user;
    if (p->args->plot_path)
        keep_record(p, it);
    if (!p->args->quiet) {
        fprintf(stderr, "iteration %5d | cost %.6e | evaluations %d", it->iteration, it->cost,
                it->evaluations);
        if (it->train_accuracy >= 0)
            fprintf(stderr, " | train %.2f%%", 100 * it->train_accuracy);
        if (it->test_accuracy >= 0)
            fprintf(stderr, " | test %.2f%%", 100 * it->test_accuracy);
        fprintf(stderr, " | %.2f s\n", it->seconds);
    }
    if (p->log && !p->failed) {
        json_t *line = json_pack("{s:i, s:i, s:o, s:f}", "iteration", it->iteration,
                                 "evaluations", it->evaluations, "cost",
                                 cli_json_number(it->cost), "seconds", it->seconds);
        if (it->train_accuracy >= 0)
            json_object_set_new(line, "train_accuracy", json_real(it->train_accuracy));
        if (it->test_accuracy >= 0)
            json_object_set_new(line, "test_accuracy", json_real(it->test_accuracy));
        /* Appended and flushed per record, so a crashed run keeps its log. */
        if (json_dumpf(line, p->log, JSON_COMPACT | JSON_REAL_PRECISION(17)) != 0 ||
            fputc('\n', p->log) == EOF || fflush(p->log) != 0)
            p->failed = 1;
        json_decref(line);
    }
    return 0;
}

static bpnn_status accuracy(bpnn_device *device, const bpnn_model *model,
                            const bpnn_dataset *data, double *out)
{
    int32_t *classes = malloc((data->rows ? data->rows : 1) * sizeof *classes);
    if (!classes)
        return bpnn_fail_oom("predictions");
    bpnn_status status = bpnn_predict(device, model, data, classes);
    size_t correct = 0;
    for (size_t i = 0; status == BPNN_OK && i < data->rows; i++)
        correct += classes[i] == data->labels[i];
    *out = (double)correct / (double)data->rows;
    free(classes);
    return status;
}

static void print_stats(const bpnn_device *device, const bpnn_train_result *result)
{
    bpnn_device_stats stats;
    bpnn_device_get_stats(device, &stats);
    const bpnn_device_stats *s = &stats;
    if (s->gemm_calls == 0 && s->bytes_to_device == 0) {
        fprintf(stderr, "stats: %s works in host memory: no transfers, no device timings\n",
                bpnn_device_spec(device));
        return;
    }
    fprintf(stderr,
            "stats: %llu bytes to device, %llu bytes from device in all; during the optimizer "
            "%llu bytes, %.1f per iteration\n"
            "stats: %llu GEMMs %.3f s, %llu kernels %.3f s\n",
            (unsigned long long)s->bytes_to_device, (unsigned long long)s->bytes_from_device,
            (unsigned long long)result->optimizer_transfer_bytes,
            result->iterations ? (double)result->optimizer_transfer_bytes / result->iterations
                               : 0.0,
            (unsigned long long)s->gemm_calls, s->gemm_seconds,
            (unsigned long long)s->kernel_calls, s->kernel_seconds);
}

static json_t *layers_json(const bpnn_model *model)
{
    json_t *layers = json_array();
    for (int l = 0; l < model->layer_count; l++)
        json_array_append_new(layers, json_integer(model->sizes[l]));
    return layers;
}

typedef struct train_run {
    train_args args;
    bpnn_device *device;
    bpnn_dataset train, test;
    int has_test, is_fashion;
    bpnn_model *model;
    FILE *log;
    progress progress;
    bpnn_train_result result;
    double test_accuracy;
} train_run;

/* --plot: the curve of the iterations kept in memory. */
static bpnn_status plot_curve(const train_run *r)
{
    const progress *p = &r->progress;
    if (p->records_failed)
        return bpnn_fail_oom("the iterations for --plot");
    if (p->record_count == 0) {
        fprintf(stderr, "bpnn-cl: warning: no iterations to plot: --plot %s not written\n",
                r->args.plot_path);
        return BPNN_OK;
    }
    char title[256];
    size_t used = (size_t)snprintf(title, sizeof title, "Training:");
    for (int l = 0; l < r->model->layer_count && used < sizeof title; l++)
        used += (size_t)snprintf(title + used, sizeof title - used, "%s%d", l ? "-" : " ",
                                 r->model->sizes[l]);
    if (used < sizeof title)
        snprintf(title + used, sizeof title - used, ", lambda %g, %s, %s", r->args.train.lambda,
                 bpnn_precision_name(r->args.device.precision), bpnn_device_spec(r->device));
    return picture_curve(p->records, p->record_count, "iteration", title, r->args.plot_path);
}

static bpnn_status run(train_run *r, double started)
{
    train_args *a = &r->args;
    /* Everything cheap is checked first: flags (parse), then the device. */
    BPNN_TRY(cli_open_device(&a->device, &r->device));
    BPNN_TRY(cli_load_data(&a->data, "train", &r->train, &r->is_fashion));
    if (!r->train.labels)
        return bpnn_fail(BPNN_ERR_INVALID, "training data have no labels: %s",
                         a->data.data_path);
    BPNN_TRY(cli_load_test_data(&a->data, r->is_fashion, &r->test, &r->has_test));
    BPNN_TRY(resolve_layers(a, &r->train, r->is_fashion));
    if (r->has_test && !r->test.labels)
        return bpnn_fail(BPNN_ERR_INVALID, "test data have no labels: %s: give --test-labels",
                         a->data.test_data_path);
    if (r->has_test) {
        BPNN_TRY(bpnn_dataset_check_labels(&r->test, a->sizes[a->layer_count - 1],
                                           a->data.test_data_path ? a->data.test_data_path
                                                                  : "Fashion-MNIST t10k"));
        if (r->test.features != r->train.features)
            return bpnn_fail(BPNN_ERR_INVALID,
                             "sizes do not match: test data have %zu features, training data %zu",
                             r->test.features, r->train.features);
    }
    BPNN_TRY(bpnn_model_create(a->layer_count, a->sizes, a->device.precision, &r->model));
    r->model->label_offset = a->data.load.label_offset;
    r->model->image_width = r->train.image_width;
    r->model->image_height = r->train.image_height;
    if (r->is_fashion)
        BPNN_TRY(bpnn_model_set_class_names(r->model, cli_fashion_mnist_classes));
    BPNN_TRY(bpnn_normalize_fit(r->model, a->data.normalization, &r->train));
    if (r->has_test)
        bpnn_normalize_apply(r->model, &r->test);
    bpnn_init_random(r->model, a->seed);
    if (a->log_path && !(r->log = fopen(a->log_path, "a")))
        return bpnn_fail(BPNN_ERR_INVALID, "cannot open log file: --log %s", a->log_path);
    if (!a->quiet) {
        /* Printed once the data are in, so that a bad request stays one line. */
        fprintf(stderr, "device %s: %s (%s)\n", bpnn_device_spec(r->device),
                bpnn_device_name(r->device), bpnn_device_description(r->device));
        if (bpnn_device_blas_core(r->device) && blas_core_is_weaker())
            fprintf(stderr, "bpnn-cl: warning: OpenBLAS runs its %s kernels, slower than this "
                            "CPU allows (%s)\n",
                    bpnn_blas_core(), blas_core_from_cpuid());
        fprintf(stderr, "data: %zu training samples x %zu features", r->train.rows,
                r->train.features);
        if (r->has_test)
            fprintf(stderr, ", %zu test samples", r->test.rows);
        fprintf(stderr, "\nnetwork:");
        for (int l = 0; l < a->layer_count; l++)
            fprintf(stderr, "%s%d", l ? "-" : " ", a->sizes[l]);
        fprintf(stderr, ", %zu parameters, lambda %g, %s, cg up to %d iterations\n",
                r->model->param_count, a->train.lambda, bpnn_precision_name(a->device.precision),
                a->train.max_iter);
    }
    progress *p = &r->progress;
    *p = (progress){.args = a, .log = r->log};
    a->train.progress = on_iteration;
    a->train.progress_user = p;
    a->train.accuracy_every_iteration = a->log_accuracy;
    a->train.test = r->has_test ? &r->test : NULL;
    bpnn_device_set_profiling(r->device, a->stats);
    BPNN_TRY(bpnn_train(r->device, r->model, &r->train, &a->train, &r->result));
    if (p->failed)
        return bpnn_fail(BPNN_ERR_RUNTIME, "write error: --log %s", a->log_path);
    if (a->stats)
        print_stats(r->device, &r->result);
    if (r->has_test)
        BPNN_TRY(accuracy(r->device, r->model, &r->test, &r->test_accuracy));
    if (a->out_path)
        BPNN_TRY(bpnn_model_save(r->model, a->out_path));
    if (a->plot_path)
        BPNN_TRY(plot_curve(r));
    double total = bpnn_now() - started;
    if (a->device.json) {
        json_t *o = json_object();
        json_object_set_new(o, "train_accuracy", cli_json_number(r->result.train_accuracy));
        if (r->has_test)
            json_object_set_new(o, "test_accuracy", cli_json_number(r->test_accuracy));
        json_object_set_new(o, "final_cost", cli_json_number(r->result.final_cost));
        json_object_set_new(o, "iterations", json_integer(r->result.iterations));
        json_object_set_new(o, "evaluations", json_integer(r->result.evaluations));
        json_object_set_new(o, "stop_reason", json_string(r->result.stop_reason));
        json_object_set_new(o, "train_seconds", json_real(r->result.train_seconds));
        json_object_set_new(o, "total_seconds", json_real(total));
        json_object_set_new(o, "device", json_string(bpnn_device_spec(r->device)));
        json_object_set_new(o, "device_name", json_string(bpnn_device_name(r->device)));
        json_object_set_new(o, "precision", json_string(bpnn_precision_name(a->device.precision)));
        json_object_set_new(o, "layers", layers_json(r->model));
        json_object_set_new(o, "lambda", json_real(a->train.lambda));
        if (bpnn_device_blas_core(r->device))
            json_object_set_new(o, "blas_core", json_string(bpnn_device_blas_core(r->device)));
        json_object_set_new(o, "samples", json_integer((json_int_t)r->train.rows));
        if (a->out_path)
            json_object_set_new(o, "model", json_string(a->out_path));
        json_object_set_new(o, "version", json_string(BPNN_VERSION));
        cli_print_json(o);
    } else {
        printf("stopped: %s after %d iterations (%d evaluations), final cost %.6f\n",
               r->result.stop_reason, r->result.iterations, r->result.evaluations,
               r->result.final_cost);
        printf("training accuracy: %.2f%% (%zu samples)\n", 100 * r->result.train_accuracy,
               r->train.rows);
        if (r->has_test)
            printf("test accuracy:     %.2f%% (%zu samples)\n", 100 * r->test_accuracy,
                   r->test.rows);
        printf("training time:     %.3f s (total %.3f s)\n", r->result.train_seconds, total);
        if (a->out_path)
            printf("model saved to %s\n", a->out_path);
        if (a->plot_path && r->progress.record_count)
            printf("curve drawn to %s\n", a->plot_path);
    }
    return BPNN_OK;
}

int cmd_train(int argc, char **argv)
{
    double started = bpnn_now();
    train_run r = {0};
    bpnn_status status = parse(argc, argv, &r.args);
    if (status == BPNN_OK)
        status = run(&r, started);
    int code = status == BPNN_OK ? 0 : cli_fail(r.args.device.json, status);
    if (r.log)
        fclose(r.log);
    bpnn_model_free(r.model);
    bpnn_dataset_free(&r.train);
    bpnn_dataset_free(&r.test);
    bpnn_device_close(r.device);
    free(r.progress.records);
    return code;
}
