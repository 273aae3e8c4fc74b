/* cli_common.c — parsing, data selection and reporting shared by the commands. */
#include "cli.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ranks.h"

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

const char *const cli_fashion_mnist_classes[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

void cli_data_init(cli_data *data)
{
    *data = (cli_data){0};
    bpnn_load_options_default(&data->load);
}

void cli_device_init(cli_device *device)
{
    *device = (cli_device){.spec = "auto", .precision = BPNN_F32};
}

bpnn_status cli_parse_long(const char *flag, const char *arg, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long value = strtol(arg, &end, 10);
    if (end == arg || *end != '\0' || errno == ERANGE)
        return bpnn_fail(BPNN_ERR_INVALID, "not an integer: --%s %s", flag, arg);
    if (value < min || value > max)
        return bpnn_fail(BPNN_ERR_INVALID, "out of range: --%s %s: expected %ld..%ld", flag, arg,
                         min, max);
    *out = value;
    return BPNN_OK;
}

bpnn_status cli_parse_double(const char *flag, const char *arg, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double value = strtod(arg, &end);
    if (end == arg || *end != '\0' || errno == ERANGE || !isfinite(value))
        return bpnn_fail(BPNN_ERR_INVALID, "not a number: --%s %s", flag, arg);
    if (value < min || value > max)
        return bpnn_fail(BPNN_ERR_INVALID, "out of range: --%s %s: expected %g..%g", flag, arg, min,
                         max);
    *out = value;
    return BPNN_OK;
}

bpnn_status cli_parse_layers(const char *arg, int *count, int *sizes)
{
    const char *p = arg;
    int n = 0;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || (*end != ',' && *end != '\0') || errno == ERANGE || v < 1 || v > 1000000)
            return bpnn_fail(BPNN_ERR_INVALID,
                             "malformed --layers %s: expected positive sizes separated by "
                             "commas, e.g. 784,25,10",
                             arg);
        if (n == BPNN_MAX_LAYERS)
            return bpnn_fail(BPNN_ERR_INVALID, "too many layers: --layers %s: at most %d", arg,
                             BPNN_MAX_LAYERS);
        sizes[n++] = (int)v;
        if (*end == '\0')
            break;
        p = end + 1;
    }
    if (n < 2)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "malformed --layers %s: at least an input and an output size, e.g. "
                         "784,25,10",
                         arg);
    *count = n;
    return BPNN_OK;
}

int cli_data_option(cli_data *data, int code, const char *arg)
{
    long v;
    switch (code) {
    case OPT_DATA: data->data_path = arg; return 1;
    case OPT_LABELS: data->labels_path = arg; return 1;
    case OPT_TEST_DATA: data->test_data_path = arg; return 1;
    case OPT_TEST_LABELS: data->test_labels_path = arg; return 1;
    case OPT_MAT_X: data->load.mat_x = arg; return 1;
    case OPT_MAT_Y: data->load.mat_y = arg; return 1;
    case OPT_NO_LABELS: data->load.has_labels = 0; return 1;
    case OPT_HEADER:
        if (strcmp(arg, "auto") == 0)
            data->load.header = BPNN_HEADER_AUTO;
        else if (strcmp(arg, "yes") == 0)
            data->load.header = BPNN_HEADER_YES;
        else if (strcmp(arg, "no") == 0)
            data->load.header = BPNN_HEADER_NO;
        else {
            bpnn_fail(BPNN_ERR_INVALID, "bad value: --header %s: expected auto, yes or no", arg);
            return -1;
        }
        return 1;
    case OPT_DELIMITER:
        if (strcmp(arg, ",") == 0 || strcmp(arg, ";") == 0)
            data->load.delimiter = arg[0];
        else if (strcmp(arg, "tab") == 0 || strcmp(arg, "\\t") == 0 || strcmp(arg, "\t") == 0)
            data->load.delimiter = '\t';
        else if (strcmp(arg, "auto") == 0)
            data->load.delimiter = 0;
        else {
            bpnn_fail(BPNN_ERR_INVALID,
                      "bad value: --delimiter %s: expected , ; tab (or \\t) or auto", arg);
            return -1;
        }
        return 1;
    case OPT_LABEL_COL:
        if (cli_parse_long("label-col", arg, -1, 1000000, &v) != BPNN_OK)
            return -1;
        data->load.label_col = (int)v;
        return 1;
    case OPT_LABELS_FROM:
        if (cli_parse_long("labels-from", arg, 0, 1, &v) != BPNN_OK)
            return -1;
        data->load.label_offset = (int)v;
        data->labels_from_given = 1;
        return 1;
    case OPT_LIMIT:
    case OPT_TEST_LIMIT:
        if (cli_parse_long(code == OPT_LIMIT ? "limit" : "test-limit", arg, 1, LONG_MAX, &v) !=
            BPNN_OK)
            return -1;
        if (code == OPT_LIMIT)
            data->load.limit = (size_t)v;
        else
            data->test_limit = (size_t)v;
        return 1;
    case OPT_NORMALIZE:
        if (strcmp(arg, "none") == 0)
            data->normalization = BPNN_NORMALIZE_NONE;
        else if (strcmp(arg, "zscore") == 0)
            data->normalization = BPNN_NORMALIZE_ZSCORE;
        else if (strcmp(arg, "minmax") == 0)
            data->normalization = BPNN_NORMALIZE_MINMAX;
        else {
            bpnn_fail(BPNN_ERR_INVALID,
                      "bad value: --normalize %s: expected none, zscore or minmax", arg);
            return -1;
        }
        return 1;
    default: return 0;
    }
}

int cli_device_option(cli_device *device, int code, const char *arg)
{
    long v;
    switch (code) {
    case OPT_DEVICE: device->spec = arg; return 1;
    case OPT_JSON: device->json = 1; return 1;
    case OPT_PRECISION:
        device->precision_given = 1;
        if (strcmp(arg, "f32") == 0)
            device->precision = BPNN_F32;
        else if (strcmp(arg, "f64") == 0)
            device->precision = BPNN_F64;
        else {
            bpnn_fail(BPNN_ERR_INVALID, "bad value: --precision %s: expected f32 or f64", arg);
            return -1;
        }
        return 1;
    case OPT_THREADS:
        if (cli_parse_long("threads", arg, 1, 1024, &v) != BPNN_OK)
            return -1;
        device->threads = (int)v;
        return 1;
    default: return 0;
    }
}

int cli_next_option(const char *command, int argc, char **argv, const struct option *options)
{
    opterr = 0;
    int index = 0;
    int code = getopt_long(argc, argv, "h", options, &index);
    if (code == '?' || code == ':') {
        const char *bad = argv[optind - 1];
        if (optopt && optopt != '?' && optopt < 256 && optopt != 'h')
            bpnn_fail(BPNN_ERR_INVALID, "unknown option: -%c: see bpnn-cl %s --help", optopt,
                      command);
        else if (optopt)
            bpnn_fail(BPNN_ERR_INVALID, "option needs a value: %s: see bpnn-cl %s --help", bad,
                      command);
        else
            bpnn_fail(BPNN_ERR_INVALID, "unknown option: %s: see bpnn-cl %s --help", bad, command);
        return '?';
    }
    if (code == -1 && optind < argc) {
        bpnn_fail(BPNN_ERR_INVALID, "unexpected argument: %s: see bpnn-cl %s --help", argv[optind],
                  command);
        return '?';
    }
    return code;
}

const char *cli_fashion_mnist_dir(void)
{
    const char *dir = getenv("BPNN_FASHION_MNIST_DIR");
    return dir && *dir ? dir : FASHION_MNIST_DIR;
}

static bpnn_status load_fashion_mnist(const cli_data *data, const char *split, size_t limit,
                                      bpnn_dataset *out)
{
    char images[4096], labels[4096];
    const char *dir = cli_fashion_mnist_dir();
    snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", dir, split);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", dir, split);
    if (access(images, R_OK) != 0 || access(labels, R_OK) != 0)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "default data set not found: %s: install it with `apt-get install "
                         "dataset-fashion-mnist`, or give --data",
                         images);
    bpnn_load_options options = data->load;
    options.limit = limit;
    options.label_offset = 0;
    return bpnn_load_idx(images, labels, &options, out);
}

bpnn_status cli_load_data(const cli_data *data, const char *split, bpnn_dataset *out,
                          int *is_fashion)
{
    *is_fashion = data->data_path == NULL;
    if (*is_fashion)
        return load_fashion_mnist(data, split, data->load.limit, out);
    return bpnn_load_data(data->data_path, data->labels_path, &data->load, out);
}

bpnn_status cli_load_test_data(const cli_data *data, int is_fashion, bpnn_dataset *out, int *loaded)
{
    *loaded = 0;
    if (!data->test_data_path && !is_fashion)
        return BPNN_OK;
    bpnn_status status;
    if (data->test_data_path) {
        bpnn_load_options options = data->load;
        options.limit = data->test_limit;
        status = bpnn_load_data(data->test_data_path, data->test_labels_path, &options, out);
    } else {
        status = load_fashion_mnist(data, "t10k", data->test_limit, out);
    }
    *loaded = status == BPNN_OK;
    return status;
}

bpnn_status cli_open_device(const cli_device *device, bpnn_device **out)
{
    bpnn_set_threads(device->threads);
    BPNN_TRY(bpnn_device_open(device->spec, device->precision, out));
    /* an unusable GEMM tuning file costs speed, not results: said, not failed */
    bpnn_tuning_info tuning;
    bpnn_device_tuning(*out, &tuning);
    if (tuning.state == BPNN_TUNING_IGNORED)
        fprintf(stderr, "bpnn-cl: warning: %s\n", tuning.message);
    return BPNN_OK;
}

json_t *cli_json_tuning(const bpnn_tuning_info *t)
{
    static const char *const states[] = {
        [BPNN_TUNING_NONE] = "none",       [BPNN_TUNING_APPLIED] = "applied",
        [BPNN_TUNING_IGNORED] = "ignored", [BPNN_TUNING_DISABLED] = "off",
        [BPNN_TUNING_SET] = "set",         [BPNN_TUNING_HOST] = "host"};
    if (t->state == BPNN_TUNING_HOST || (unsigned)t->state >= sizeof states / sizeof *states)
        return NULL;
    return json_pack("{s:s, s:o, s:s}", "state", states[t->state], "file",
                     t->path[0] ? json_string(t->path) : json_null(), "message", t->message);
}

bpnn_status cli_check_writable(const char *flag, const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return bpnn_fail_oom("path");
    const char *dir = dirname(copy);
    struct stat st;
    bpnn_status status = BPNN_OK;
    if (*path == '\0')
        status = bpnn_fail(BPNN_ERR_INVALID, "empty output path: --%s", flag);
    else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        status = bpnn_fail(BPNN_ERR_INVALID, "output is a folder, not a file: --%s %s", flag, path);
    else if (stat(dir, &st) != 0)
        status = bpnn_fail(BPNN_ERR_INVALID, "output folder does not exist: --%s %s", flag, path);
    else if (!S_ISDIR(st.st_mode))
        status = bpnn_fail(BPNN_ERR_INVALID, "not a folder: %s: --%s %s", dir, flag, path);
    else if (access(dir, W_OK) != 0)
        status = bpnn_fail(BPNN_ERR_INVALID, "output folder not writable: --%s %s", flag, path);
    free(copy);
    return status;
}

void cli_print_json(json_t *object)
{
    json_dumpf(object, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(object);
}

json_t *cli_json_number(double value)
{
    return isfinite(value) ? json_real(value) : json_null();
}

int cli_json_requested;

/* Jansson takes UTF-8 only: a message naming a file in another encoding
 * keeps its ASCII and shows '?' for the rest. */
static json_t *json_text(const char *text)
{
    json_t *value = json_string(text);
    if (value)
        return value;
    char *copy = strdup(text);
    if (!copy)
        return json_string("out of memory");
    for (char *c = copy; *c; c++)
        if ((unsigned char)*c >= 0x80)
            *c = '?';
    value = json_string(copy);
    free(copy);
    return value;
}

json_t *cli_json_error(bpnn_status status)
{
    json_t *object = json_object();
    json_object_set_new(object, "error", json_text(bpnn_error_message()));
    json_object_set_new(object, "exit", json_integer((int)status));
    return object;
}

int cli_fail(int json, bpnn_status status)
{
    if (cli_ranks_count() > 1) /* which of the ranks failed */
        fprintf(stderr, "bpnn-cl: rank %d of %d: %s\n", cli_ranks_rank(), cli_ranks_count(),
                bpnn_error_message());
    else
        fprintf(stderr, "bpnn-cl: %s\n", bpnn_error_message());
    if (json || cli_json_requested)
        cli_print_json(cli_json_error(status));
    return (int)status;
}

double cli_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
