/* cli.h — what the bpnn-cl subcommands share: option codes, parsing of
 * values, data selection, error reporting and JSON output. */
#ifndef BPNN_CLI_H
#define BPNN_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

#include "bpnn.h"

/* Long-option codes; short options use their letter. */
enum cli_option {
    OPT_DATA = 256,
    OPT_LABELS,
    OPT_TEST_DATA,
    OPT_TEST_LABELS,
    OPT_HEADER,
    OPT_LABEL_COL,
    OPT_LABELS_FROM,
    OPT_LIMIT,
    OPT_TEST_LIMIT,
    OPT_NORMALIZE,
    OPT_NO_LABELS,
    OPT_MAT_X,
    OPT_MAT_Y,
    OPT_DEVICE,
    OPT_PRECISION,
    OPT_THREADS,
    OPT_JSON,
    OPT_MODEL,
    OPT_OUT,
    OPT_LAYERS,
    OPT_LAMBDA,
    OPT_OPTIMIZER,
    OPT_MAX_ITER,
    OPT_GTOL,
    OPT_SEED,
    OPT_STATS,
    OPT_LOG,
    OPT_LOG_ACCURACY,
    OPT_QUIET,
    OPT_FORMAT,
    OPT_REPEAT,
    OPT_COUNT,
    OPT_IMAGE,
    OPT_CAPTIONS,
    OPT_SCALE,
    OPT_ORDER,
    OPT_LAYER,
    OPT_TITLE,
    OPT_PLOT,
    OPT_CONFUSION,
    OPT_HISTORY,
    OPT_EPOCHS,
    OPT_BATCH,
    OPT_LR,
    OPT_MOMENTUM,
    OPT_NESTEROV,
    OPT_BETA1,
    OPT_BETA2,
    OPT_EPSILON,
    OPT_LR_SCHEDULE,
    OPT_LR_STEP,
    OPT_LR_DECAY,
    OPT_WARMUP,
    OPT_VAL_SPLIT,
    OPT_VAL_DATA,
    OPT_VAL_LABELS,
    OPT_PATIENCE,
    OPT_CHECKPOINT,
    OPT_CHECKPOINT_EVERY,
    OPT_RESUME,
    OPT_DELIMITER,
    OPT_DRY_RUN,
    OPT_PROBA,
    OPT_NO_OVERLAP,
    OPT_FRACTION,
    OPT_HELP = 'h'
};

/* Options every data-reading command takes (train, predict, eval). */
#define CLI_DATA_OPTIONS                                                                           \
    {"data", required_argument, NULL, OPT_DATA}, {"labels", required_argument, NULL, OPT_LABELS},  \
        {"header", required_argument, NULL, OPT_HEADER},                                           \
        {"label-col", required_argument, NULL, OPT_LABEL_COL},                                     \
        {"labels-from", required_argument, NULL, OPT_LABELS_FROM},                                 \
        {"limit", required_argument, NULL, OPT_LIMIT},                                             \
        {"no-labels", no_argument, NULL, OPT_NO_LABELS},                                           \
        {"mat-x", required_argument, NULL, OPT_MAT_X},                                             \
        {"delimiter", required_argument, NULL, OPT_DELIMITER},                                     \
    {                                                                                              \
        "mat-y", required_argument, NULL, OPT_MAT_Y                                                \
    }

#define CLI_DEVICE_OPTIONS                                                                         \
    {"device", required_argument, NULL, OPT_DEVICE},                                               \
        {"precision", required_argument, NULL, OPT_PRECISION},                                     \
        {"threads", required_argument, NULL, OPT_THREADS}, {"json", no_argument, NULL, OPT_JSON},  \
    {                                                                                              \
        "help", no_argument, NULL, OPT_HELP                                                        \
    }

#define CLI_DATA_HELP                                                                              \
    "  --data FILE         IDX (raw or .gz), CSV or MAT data, - for standard input;\n"             \
    "                      default: Fashion-MNIST\n"                                               \
    "  --labels FILE       IDX labels for --data (idx1-ubyte)\n"                                   \
    "  --header auto|yes|no  CSV header row (auto: a first row with no number)\n"                  \
    "  --label-col C       CSV label column, 0-based; -1 the last (default 0)\n"                   \
    "  --delimiter D       CSV delimiter , ; or tab (default: guessed from line 1)\n"              \
    "  --labels-from 0|1   first class label in the files (1: labels 1..K)\n"                      \
    "  --limit N           only the first N samples\n"                                             \
    "  --no-labels         CSV: every column is a feature; MAT: X alone\n"                         \
    "  --mat-x NAME, --mat-y NAME  MAT variable names (default X, y)\n"

#define CLI_DEVICE_HELP                                                                            \
    "  --device D          cpu, gpu, opencl, opencl:P:D or auto (default auto)\n"                  \
    "  --precision P       f32 or f64 (default f32)\n"                                             \
    "  --threads N         host threads for BLAS and our loops\n"                                  \
    "  --json              one JSON object on stdout\n"

#define CLI_EXIT_HELP                                                                              \
    "Exit status: 0 success, 1 run-time failure (I/O, device, memory), 2 invalid\n"                \
    "request (bad flag or value, missing or malformed data, no such device),\n"                    \
    "3 training diverged, 130 interrupted.\n"

/* Where the data of a command come from and how they are read. */
typedef struct cli_data {
    const char *data_path, *labels_path;
    const char *test_data_path, *test_labels_path;
    bpnn_load_options load;
    size_t test_limit;
    bpnn_normalization normalization;
    int labels_from_given;
} cli_data;

typedef struct cli_device {
    const char *spec;
    bpnn_precision precision;
    int precision_given;
    int threads;
    int json;
} cli_device;

void cli_data_init(cli_data *data);
void cli_device_init(cli_device *device);
/* Handles a data or device option; 1 when `code` was one, 0 when not, -1 on
 * a bad value (error set). */
int cli_data_option(cli_data *data, int code, const char *arg);
int cli_device_option(cli_device *device, int code, const char *arg);

/* Value parsers: BPNN_ERR_INVALID naming the flag on a bad value. */
bpnn_status cli_parse_long(const char *flag, const char *arg, long min, long max, long *out);
bpnn_status cli_parse_double(const char *flag, const char *arg, double min, double max,
                             double *out);
/* "784,25,10": 2..BPNN_MAX_LAYERS positive sizes. */
bpnn_status cli_parse_layers(const char *arg, int *count, int *sizes);

/* getopt_long over the command's options; BPNN_ERR_INVALID on an unknown
 * flag or a missing value, naming the command. Returns the option code, -1
 * at the end, '?' on error (message set). */
int cli_next_option(const char *command, int argc, char **argv, const struct option *options);

/* The default data set (Fashion-MNIST) folder; BPNN_FASHION_MNIST_DIR overrides. */
const char *cli_fashion_mnist_dir(void);
extern const char *const cli_fashion_mnist_classes[10];

/* Loads the main data set of a command (--data or Fashion-MNIST's `split`,
 * "train" or "t10k"); *is_fashion tells which. */
bpnn_status cli_load_data(const cli_data *data, const char *split, bpnn_dataset *out,
                          int *is_fashion);
/* Loads --test-data or, with the default data, Fashion-MNIST t10k. *loaded = 0 when none. */
bpnn_status cli_load_test_data(const cli_data *data, int is_fashion, bpnn_dataset *out,
                               int *loaded);

/* Opens the device per the options; prints nothing. */
bpnn_status cli_open_device(const cli_device *device, bpnn_device **out);

/* {"state": "applied"|"none"|"ignored"|"off"|"set", "file": the device's
 * tuning file or null, "message": one line} for an OpenCL device's GEMM
 * tuning (bpnn_device_tuning); NULL for the host path. */
json_t *cli_json_tuning(const bpnn_tuning_info *tuning);

/* Fails early when `path` cannot be created (its folder missing or not writable). */
bpnn_status cli_check_writable(const char *flag, const char *path);

/* --json appears among the command's arguments: errors found before the
 * option itself is parsed still get the JSON error object. */
extern int cli_json_requested;

/* Reports a failure: "bpnn-cl: MESSAGE" on stderr and, with --json, the error
 * object on stdout. Returns the exit status. */
int cli_fail(int json, bpnn_status status);
/* {"error": the current message, "exit": status}. */
json_t *cli_json_error(bpnn_status status);
/* Prints a JSON object on stdout and frees it. */
void cli_print_json(json_t *object);
/* A number, or null when it is not finite. */
json_t *cli_json_number(double value);

/* Call first in main(): when OpenBLAS runs a weaker kernel family than this
 * CPU allows and the user has not set OPENBLAS_CORETYPE, re-executes the
 * program with it set (once, guarded by BPNN_BLAS_REEXEC). Returns only when
 * no re-exec was needed or the exec failed. */
void cli_blas_reexec_if_weaker(char **argv);

/* Monotonic wall-clock seconds. */
double cli_now(void);

/* Label as the files write it: class + offset. */
static inline long cli_label(int class_index, int label_offset)
{
    return (long)class_index + label_offset;
}

int cmd_train(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_gradcheck(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_devices(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_show(int argc, char **argv);

#endif
