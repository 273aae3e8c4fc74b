/* cmd_train.c — bpnn-cl train: the seed's experiment, and any other. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "model_rescue.h"
#include "picture.h"
#include "ranks.h"
#include "same_file.h"
#include "train_progress.h"

static const char help[] =
    "Usage: bpnn-cl train [OPTIONS]\n"
    "Trains a network and reports training and test accuracy. With no --data:\n"
    "Fashion-MNIST from /usr/share/datasets/fashion-mnist (train split; t10k as the\n"
    "test set).\n"
    "\n"
    "Network:\n"
    "  --layers L          sizes, e.g. 784,25,10 or 784,256,128,10\n"
    "                      (default <features>,25,<classes>)\n"
    "  --lambda X          L2 regularization, bias weights excluded (default 1)\n"
    "  --seed N            initialization, validation split and shuffles (default 1)\n"
    "  --out FILE          save the model (no file unless given)\n"
    "\n"
    "Optimizer (default cg; adam when --epochs, --batch or --lr is given):\n"
    "  --optimizer O       cg, lbfgs (whole training set per iteration) or\n"
    "                      sgd, momentum, adam (mini-batches)\n"
    "  --max-iter N        cg, lbfgs: iterations as SciPy's fmin_cg counts (default 100)\n"
    "  --gtol X            cg, lbfgs: stop when max |gradient| < X (default 1e-5)\n"
    "  --history N         lbfgs: correction pairs kept (default 10)\n"
    "  --epochs N          passes over the training set (default 10)\n"
    "  --batch N           rows per step; the last batch holds the rest (default 128)\n"
    "  --lr X              learning rate (default: sgd 0.5, momentum 0.05, adam 0.005)\n"
    "  --lr-schedule S     constant, step or cosine (default cosine: down to 0 at the end)\n"
    "  --lr-step N, --lr-decay X  step schedule: times X every N epochs (default 3, 0.1)\n"
    "  --warmup N          linear warm-up over the first N epochs (default 0)\n"
    "  --momentum X        momentum: its coefficient (default 0.9); --nesterov\n"
    "  --beta1 X, --beta2 X, --epsilon X  adam (default 0.9, 0.999, 1e-8)\n"
    "\n"
    "Validation, stopping and checkpoints (sgd, momentum, adam):\n"
    "  --val-split F       hold out this fraction of the training rows (seeded shuffle)\n"
    "  --val-data FILE     validation set (labels: --val-labels FILE)\n"
    "  --patience N        stop after N epochs without a lower validation cost and\n"
    "                      keep the best epoch's parameters\n"
    "  --checkpoint FILE   save the run's whole state (atomically) every\n"
    "                      --checkpoint-every N epochs (default 1)\n"
    "  --resume FILE       continue the run a checkpoint holds (give the same options;\n"
    "                      it keeps checkpointing to FILE unless --checkpoint says else)\n"
    "\n"
    "Data:\n" CLI_DATA_HELP
    "  --test-data FILE    test set (labels: --test-labels FILE); --test-limit N\n"
    "  --normalize none|zscore|minmax  feature scaling from the training rows\n"
    "\n"
    "Device and output:\n" CLI_DEVICE_HELP
    "  --stats             bytes moved host<->device, time in GEMM and kernels\n"
    "  --log FILE          append one JSON line per iteration or epoch (kept on a crash)\n"
    "  --log-accuracy      measure train/test accuracy at every iteration or epoch\n"
    "  --plot FILE         draw the training curve as PNG at the end (see show curve)\n"
    "  --quiet             no progress on stderr\n"
    "  --dry-run           load the data and print the memory plan on the device\n"
    "                      (resident or streamed, sizes, the device's limits), then\n"
    "                      exit: nothing uploaded or trained, no file written; a run\n"
    "                      that cannot fit fails as training would (exit 1)\n"
    "  --no-overlap        under mpirun: sum a mini-batch gradient after backpropagation\n"
    "                      instead of layer by layer during it\n"
    "BPNN_DEVICE_MEMORY=BYTES (K, M, G suffixes) pretends the device has that much\n"
    "memory: data that do not fit are streamed from the host.\n"
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
    {"history", required_argument, NULL, OPT_HISTORY},
    {"epochs", required_argument, NULL, OPT_EPOCHS},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"lr", required_argument, NULL, OPT_LR},
    {"momentum", required_argument, NULL, OPT_MOMENTUM},
    {"nesterov", no_argument, NULL, OPT_NESTEROV},
    {"beta1", required_argument, NULL, OPT_BETA1},
    {"beta2", required_argument, NULL, OPT_BETA2},
    {"epsilon", required_argument, NULL, OPT_EPSILON},
    {"lr-schedule", required_argument, NULL, OPT_LR_SCHEDULE},
    {"lr-step", required_argument, NULL, OPT_LR_STEP},
    {"lr-decay", required_argument, NULL, OPT_LR_DECAY},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"val-split", required_argument, NULL, OPT_VAL_SPLIT},
    {"val-data", required_argument, NULL, OPT_VAL_DATA},
    {"val-labels", required_argument, NULL, OPT_VAL_LABELS},
    {"patience", required_argument, NULL, OPT_PATIENCE},
    {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
    {"checkpoint-every", required_argument, NULL, OPT_CHECKPOINT_EVERY},
    {"resume", required_argument, NULL, OPT_RESUME},
    {"seed", required_argument, NULL, OPT_SEED},
    {"out", required_argument, NULL, OPT_OUT},
    {"stats", no_argument, NULL, OPT_STATS},
    {"log", required_argument, NULL, OPT_LOG},
    {"log-accuracy", no_argument, NULL, OPT_LOG_ACCURACY},
    {"plot", required_argument, NULL, OPT_PLOT},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"no-overlap", no_argument, NULL, OPT_NO_OVERLAP},
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
    int dry_run;    /* --dry-run: the memory plan, not the training */
    int no_overlap; /* --no-overlap: mini-batch gradients summed after backpropagation */
    int optimizer_given;
    const char *minibatch_flag; /* the first mini-batch-only flag given, for messages */
    const char *fullbatch_flag; /* the first cg/lbfgs-only flag given */
    const char *only_for[BPNN_OPT_ADAM + 1]; /* a flag given that one optimizer alone takes */
    const char *lr_step_flag;                /* --lr-step or --lr-decay */
    int checkpoint_every_given;
    double val_split;
    const char *val_data_path, *val_labels_path;
} train_args;

/* The optimizers by the names --optimizer takes. */
static bpnn_status parse_optimizer(const char *arg, bpnn_optimizer *out)
{
    for (int o = BPNN_OPT_CG; o <= BPNN_OPT_ADAM; o++)
        if (strcmp(arg, bpnn_optimizer_name((bpnn_optimizer)o)) == 0) {
            *out = (bpnn_optimizer)o;
            return BPNN_OK;
        }
    return bpnn_fail(BPNN_ERR_INVALID,
                     "unknown optimizer: --optimizer %s: expected cg, lbfgs, sgd, momentum or adam",
                     arg);
}

static bpnn_status parse_schedule(const char *arg, bpnn_lr_schedule *out)
{
    for (int s = BPNN_LR_CONSTANT; s <= BPNN_LR_COSINE; s++)
        if (strcmp(arg, bpnn_lr_schedule_name((bpnn_lr_schedule)s)) == 0) {
            *out = (bpnn_lr_schedule)s;
            return BPNN_OK;
        }
    return bpnn_fail(BPNN_ERR_INVALID,
                     "unknown schedule: --lr-schedule %s: expected constant, step or cosine", arg);
}

static int parse_int(const char *flag, const char *arg, long min, long max, int *out,
                     bpnn_status *status)
{
    long v;
    *status = cli_parse_long(flag, arg, min, max, &v);
    if (*status == BPNN_OK)
        *out = (int)v;
    return *status == BPNN_OK;
}

/* Mini-batch and full-batch options, and the optimizer they imply. */
static bpnn_status parse_optimizer_option(train_args *a, int code, const char *arg, int *handled)
{
    bpnn_train_options *t = &a->train;
    bpnn_status st = BPNN_OK;
    long v;
    const char *minibatch = NULL, *fullbatch = NULL;
    *handled = 1;
    switch (code) {
    case OPT_OPTIMIZER:
        st = parse_optimizer(arg, &t->optimizer);
        a->optimizer_given = 1;
        break;
    case OPT_MAX_ITER:
        parse_int("max-iter", arg, 0, 100000000, &t->max_iter, &st);
        fullbatch = "--max-iter";
        break;
    case OPT_GTOL:
        st = cli_parse_double("gtol", arg, 0, 1e12, &t->gtol);
        fullbatch = "--gtol";
        break;
    case OPT_HISTORY:
        parse_int("history", arg, 1, 1000, &t->history, &st);
        fullbatch = a->only_for[BPNN_OPT_LBFGS] = "--history";
        break;
    case OPT_EPOCHS:
        parse_int("epochs", arg, 1, 1000000, &t->epochs, &st);
        minibatch = "--epochs";
        break;
    case OPT_BATCH:
        st = cli_parse_long("batch", arg, 1, INT32_MAX, &v);
        t->batch = (size_t)v;
        minibatch = "--batch";
        break;
    case OPT_LR:
        st = cli_parse_double("lr", arg, 1e-300, 1e300, &t->learning_rate);
        minibatch = "--lr";
        break;
    case OPT_MOMENTUM:
        st = cli_parse_double("momentum", arg, 0, 1, &t->momentum);
        minibatch = a->only_for[BPNN_OPT_MOMENTUM] = "--momentum";
        break;
    case OPT_NESTEROV:
        t->nesterov = 1;
        minibatch = a->only_for[BPNN_OPT_MOMENTUM] = "--nesterov";
        break;
    case OPT_BETA1:
        st = cli_parse_double("beta1", arg, 0, 0.999999999, &t->beta1);
        minibatch = a->only_for[BPNN_OPT_ADAM] = "--beta1";
        break;
    case OPT_BETA2:
        st = cli_parse_double("beta2", arg, 0, 0.999999999, &t->beta2);
        minibatch = a->only_for[BPNN_OPT_ADAM] = "--beta2";
        break;
    case OPT_EPSILON:
        st = cli_parse_double("epsilon", arg, 1e-300, 1, &t->epsilon);
        minibatch = a->only_for[BPNN_OPT_ADAM] = "--epsilon";
        break;
    case OPT_LR_SCHEDULE:
        st = parse_schedule(arg, &t->lr_schedule);
        minibatch = "--lr-schedule";
        break;
    case OPT_LR_STEP:
        parse_int("lr-step", arg, 1, 1000000, &t->lr_step_epochs, &st);
        minibatch = a->lr_step_flag = "--lr-step";
        break;
    case OPT_LR_DECAY:
        st = cli_parse_double("lr-decay", arg, 0, 1, &t->lr_decay);
        minibatch = a->lr_step_flag = "--lr-decay";
        break;
    case OPT_WARMUP:
        parse_int("warmup", arg, 0, 1000000, &t->warmup_epochs, &st);
        minibatch = "--warmup";
        break;
    case OPT_VAL_SPLIT:
        st = cli_parse_double("val-split", arg, 1e-9, 0.999999, &a->val_split);
        minibatch = "--val-split";
        break;
    case OPT_VAL_DATA:
        a->val_data_path = arg;
        minibatch = "--val-data";
        break;
    case OPT_VAL_LABELS:
        a->val_labels_path = arg;
        minibatch = "--val-labels";
        break;
    case OPT_PATIENCE:
        parse_int("patience", arg, 1, 1000000, &t->patience, &st);
        minibatch = "--patience";
        break;
    case OPT_CHECKPOINT:
        t->checkpoint_path = arg;
        minibatch = "--checkpoint";
        break;
    case OPT_CHECKPOINT_EVERY:
        parse_int("checkpoint-every", arg, 1, 1000000, &t->checkpoint_every, &st);
        minibatch = "--checkpoint-every";
        a->checkpoint_every_given = 1;
        break;
    case OPT_RESUME:
        t->resume_path = arg;
        minibatch = "--resume";
        break;
    default: *handled = 0;
    }
    if (minibatch && !a->minibatch_flag)
        a->minibatch_flag = minibatch;
    if (fullbatch && !a->fullbatch_flag)
        a->fullbatch_flag = fullbatch;
    return st;
}

/* The optimizer the flags ask for, and flags that do not fit it refused. */
static bpnn_status resolve_optimizer(train_args *a)
{
    bpnn_train_options *t = &a->train;
    if (!a->optimizer_given && a->minibatch_flag)
        t->optimizer = BPNN_OPT_ADAM;
    int minibatch = bpnn_optimizer_is_minibatch(t->optimizer);
    if (minibatch && a->fullbatch_flag)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "%s is for cg and lbfgs, not --optimizer %s: mini-batch runs are set by "
                         "--epochs and --batch",
                         a->fullbatch_flag, bpnn_optimizer_name(t->optimizer));
    if (!minibatch && a->minibatch_flag)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "%s is for the mini-batch optimizers (sgd, momentum, adam), not "
                         "--optimizer %s",
                         a->minibatch_flag, bpnn_optimizer_name(t->optimizer));
    for (int o = BPNN_OPT_CG; o <= BPNN_OPT_ADAM; o++)
        if (a->only_for[o] && t->optimizer != (bpnn_optimizer)o)
            return bpnn_fail(BPNN_ERR_INVALID, "%s is for --optimizer %s, not %s", a->only_for[o],
                             bpnn_optimizer_name((bpnn_optimizer)o),
                             bpnn_optimizer_name(t->optimizer));
    if (a->val_split > 0 && a->val_data_path)
        return bpnn_fail(BPNN_ERR_INVALID, "--val-split and --val-data exclude each other");
    if (a->val_labels_path && !a->val_data_path)
        return bpnn_fail(BPNN_ERR_INVALID, "--val-labels needs --val-data");
    if (t->patience && !(a->val_split > 0 || a->val_data_path))
        return bpnn_fail(BPNN_ERR_INVALID,
                         "--patience needs a validation set: --val-split F or --val-data FILE");
    if (a->lr_step_flag && t->lr_schedule != BPNN_LR_STEP)
        return bpnn_fail(BPNN_ERR_INVALID, "%s is for --lr-schedule step, not %s", a->lr_step_flag,
                         bpnn_lr_schedule_name(t->lr_schedule));
    if (a->checkpoint_every_given && !t->checkpoint_path && !t->resume_path)
        return bpnn_fail(BPNN_ERR_INVALID, "--checkpoint-every needs --checkpoint FILE");
    if (t->resume_path && access(t->resume_path, R_OK) != 0)
        return bpnn_fail(BPNN_ERR_INVALID, "cannot read the checkpoint: --resume %s: %s",
                         t->resume_path, strerror(errno));
    if (t->resume_path && !t->checkpoint_path)
        t->checkpoint_path = t->resume_path;
    if (t->checkpoint_path)
        BPNN_TRY(cli_check_writable("checkpoint", t->checkpoint_path));
    return BPNN_OK;
}

/* No output is an input or another output; --resume goes on writing the
 * checkpoint it reads. */
static bpnn_status check_same_files(const train_args *a)
{
    const cli_file files[] = {
        {"--data", a->data.data_path, 0, NULL},
        {"--labels", a->data.labels_path, 0, NULL},
        {"--test-data", a->data.test_data_path, 0, NULL},
        {"--test-labels", a->data.test_labels_path, 0, NULL},
        {"--val-data", a->val_data_path, 0, NULL},
        {"--val-labels", a->val_labels_path, 0, NULL},
        {"--resume", a->train.resume_path, 0, "--checkpoint"},
        {"--out", a->out_path, 1, NULL},
        {"--log", a->log_path, 1, NULL},
        {"--plot", a->plot_path, 1, NULL},
        {"--checkpoint", a->train.checkpoint_path, 1, NULL},
    };
    return cli_check_same_files(files, sizeof files / sizeof *files);
}

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
        BPNN_TRY(parse_optimizer_option(a, code, optarg, &handled));
        if (handled)
            continue;
        switch (code) {
        case OPT_HELP: fputs(help, stdout); exit(0);
        case OPT_LAYERS: BPNN_TRY(cli_parse_layers(optarg, &a->layer_count, a->sizes)); break;
        case OPT_LAMBDA:
            BPNN_TRY(cli_parse_double("lambda", optarg, 0, 1e12, &a->train.lambda));
            break;
        case OPT_SEED:
            BPNN_TRY(cli_parse_long("seed", optarg, 0, LONG_MAX, &v));
            a->seed = (uint64_t)v;
            break;
        case OPT_OUT: a->out_path = optarg; break;
        case OPT_LOG: a->log_path = optarg; break;
        case OPT_LOG_ACCURACY: a->log_accuracy = 1; break;
        case OPT_PLOT: a->plot_path = optarg; break;
        case OPT_STATS: a->stats = 1; break;
        case OPT_QUIET: a->quiet = 1; break;
        case OPT_DRY_RUN: a->dry_run = 1; break;
        case OPT_NO_OVERLAP: a->no_overlap = 1; break;
        default: return bpnn_fail(BPNN_ERR_INVALID, "unhandled option: see bpnn-cl train --help");
        }
    }
    a->train.seed = a->seed;
    BPNN_TRY(resolve_optimizer(a));
    if (a->out_path)
        BPNN_TRY(cli_check_writable("out", a->out_path));
    if (a->log_path)
        BPNN_TRY(cli_check_writable("log", a->log_path));
    if (a->plot_path)
        BPNN_TRY(cli_check_writable("plot", a->plot_path));
    if (a->log_path)
        BPNN_TRY(train_progress_check_log(a->log_path));
    BPNN_TRY(check_same_files(a));
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
/* `classes`: the largest label + 1 over all ranks' shares. */
static bpnn_status resolve_layers(train_args *a, const bpnn_dataset *train, int is_fashion,
                                  int classes)
{
    if (is_fashion)
        classes = 10;
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
    return bpnn_dataset_check_labels(train, last,
                                     a->data.data_path ? a->data.data_path : "Fashion-MNIST train");
}

static bpnn_status accuracy(bpnn_device *device, const bpnn_model *model, const bpnn_dataset *data,
                            double *out)
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

static void print_stats(bpnn_device *device, const bpnn_train_result *result, int minibatch,
                        const cli_ranks_stats *before)
{
    /* a resumed run counts only the iterations (epochs) it ran itself */
    int ran = result->iterations - result->resumed_epoch;
    if (cli_ranks_count() > 1) {
        cli_ranks_stats r = cli_ranks_get_stats();
        r.reductions -= before->reductions;
        r.bytes_sent -= before->bytes_sent;
        r.seconds -= before->seconds;
        fprintf(stderr,
                "stats: rank 0 of %d: %llu reductions, %.1f MB sent, %.3f s in them (%.0f%% of "
                "the training time, waits for the other ranks included)\n",
                cli_ranks_count(), (unsigned long long)r.reductions, (double)r.bytes_sent / 1e6,
                r.seconds, result->train_seconds > 0 ? 100 * r.seconds / result->train_seconds : 0);
    }
    bpnn_tuning_info tuning;
    bpnn_device_tuning(device, &tuning);
    if (tuning.state != BPNN_TUNING_HOST)
        fprintf(stderr, "stats: GEMM tuning: %s\n", tuning.message);
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
            "%llu bytes, %.1f per %s\n"
            "stats: %llu GEMMs %.3f s, %llu kernels %.3f s\n",
            (unsigned long long)s->bytes_to_device, (unsigned long long)s->bytes_from_device,
            (unsigned long long)result->optimizer_transfer_bytes,
            ran > 0 ? (double)result->optimizer_transfer_bytes / ran : 0.0,
            minibatch ? "epoch" : "iteration", (unsigned long long)s->gemm_calls, s->gemm_seconds,
            (unsigned long long)s->kernel_calls, s->kernel_seconds);
    fprintf(stderr,
            "stats: the host waited for the device %llu times in all, %.3f s; during the "
            "optimizer %llu times, %.1f per %s",
            (unsigned long long)s->host_syncs, s->host_wait_seconds,
            (unsigned long long)result->optimizer_host_syncs,
            ran > 0 ? (double)result->optimizer_host_syncs / ran : 0.0,
            minibatch ? "epoch" : "iteration");
    if (!minibatch && result->evaluations > 0) /* cg and lbfgs wait once per evaluation */
        fprintf(stderr, ", %.2f per evaluation",
                (double)result->optimizer_host_syncs / result->evaluations);
    fputc('\n', stderr);
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
    bpnn_dataset train, test, val;
    int has_test, has_val, is_fashion;
    bpnn_model *model;
    size_t total_rows, total_val_rows; /* over every rank */
    cli_ranks_stats ranks_before;      /* the reductions before training */
    train_progress progress;
    char *rescued;     /* where the model went when --out could not be written */
    int error_in_json; /* the results object carried the error */
    bpnn_train_result result;
    double test_accuracy;
} train_run;

/* --plot: the curve of the iterations kept in memory. */
static bpnn_status plot_curve(const train_run *r)
{
    const train_progress *p = &r->progress;
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
    const char *x_label =
        bpnn_optimizer_is_minibatch(r->args.train.optimizer) ? "epoch" : "iteration";
    return picture_curve(p->records, p->record_count, x_label, title, r->args.plot_path);
}

/* A test or validation set: labelled, within the classes, as wide as the
 * training data. */
static bpnn_status check_labelled_set(const train_args *a, const bpnn_dataset *set,
                                      const bpnn_dataset *train, const char *name,
                                      const char *source, const char *labels_flag)
{
    if (!set->labels)
        return bpnn_fail(BPNN_ERR_INVALID, "%s data have no labels: %s: give %s", name, source,
                         labels_flag);
    BPNN_TRY(bpnn_dataset_check_labels(set, a->sizes[a->layer_count - 1], source));
    if (set->features != train->features)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "sizes do not match: %s data have %zu features, training data %zu", name,
                         set->features, train->features);
    return BPNN_OK;
}

/* --val-data, or the --val-split share of the training rows. */
static bpnn_status load_validation(train_run *r)
{
    train_args *a = &r->args;
    if (a->val_split > 0) {
        BPNN_TRY(bpnn_dataset_split(&r->train, a->val_split, a->seed, &r->val));
        r->has_val = 1;
    } else if (a->val_data_path) {
        bpnn_load_options options = a->data.load;
        options.limit = 0;
        if (a->train.ranks > 1) { /* each rank measures its share */
            options.share_index = a->train.rank;
            options.share_count = a->train.ranks;
        }
        BPNN_TRY(bpnn_load_data(a->val_data_path, a->val_labels_path, &options, &r->val));
        r->has_val = 1;
        BPNN_TRY(check_labelled_set(a, &r->val, &r->train, "validation", a->val_data_path,
                                    "--val-labels"));
    }
    return BPNN_OK;
}

static void print_plan(const train_run *r)
{
    const train_args *a = &r->args;
    const bpnn_train_options *t = &a->train;
    fprintf(stderr, "device %s: %s (%s)\n", bpnn_device_spec(r->device),
            bpnn_device_name(r->device), bpnn_device_description(r->device));
    if (bpnn_device_blas_core(r->device) && bpnn_blas_core_is_weaker())
        fprintf(stderr,
                "bpnn-cl: warning: OpenBLAS runs its %s kernels, slower than this "
                "CPU allows (%s)\n",
                bpnn_blas_core(), bpnn_blas_core_best());
    fprintf(stderr, "data: %zu training samples x %zu features", r->total_rows, r->train.features);
    if (cli_ranks_count() > 1)
        fprintf(stderr, " shared among %d ranks", cli_ranks_count());
    if (r->has_val)
        fprintf(stderr, ", %zu validation samples", r->total_val_rows);
    if (r->has_test)
        fprintf(stderr, ", %zu test samples", r->test.rows);
    fprintf(stderr, "\nnetwork:");
    for (int l = 0; l < a->layer_count; l++)
        fprintf(stderr, "%s%d", l ? "-" : " ", a->sizes[l]);
    fprintf(stderr, ", %zu parameters, lambda %g, %s, ", r->model->param_count, t->lambda,
            bpnn_precision_name(a->device.precision));
    if (!bpnn_optimizer_is_minibatch(t->optimizer)) {
        fprintf(stderr, "%s up to %d iterations\n", bpnn_optimizer_name(t->optimizer), t->max_iter);
        return;
    }
    double lr = t->learning_rate > 0 ? t->learning_rate : bpnn_default_learning_rate(t->optimizer);
    fprintf(stderr, "%s, %d epochs of batches of %zu, lr %g (%s", bpnn_optimizer_name(t->optimizer),
            t->epochs, t->batch, lr, bpnn_lr_schedule_name(t->lr_schedule));
    if (t->warmup_epochs)
        fprintf(stderr, ", %d warm-up epochs", t->warmup_epochs);
    fprintf(stderr, ")%s\n", t->resume_path ? ", resumed" : "");
}

/* --dry-run: the memory plan bpnn_train would follow, printed instead of
 * training, so that a run can be sized before it is started. A run that
 * cannot fit fails here with training's own status and message. Under
 * mpirun each rank plans for its share of the rows; rank 0 prints its own. */
static bpnn_status dry_run(const train_run *r)
{
    const train_args *a = &r->args;
    bpnn_memory_plan p;
    BPNN_TRY(bpnn_train_plan(r->device, r->model, &r->train, &a->train, &p));
    if (cli_ranks_rank() != 0)
        return BPNN_OK;
    const double mib = 1024.0 * 1024.0;
    const char *pretended = getenv("BPNN_DEVICE_MEMORY");
    if (a->device.json) {
        json_t *o = json_object();
        json_object_set_new(o, "dry_run", json_true());
        json_object_set_new(o, "streamed", json_boolean(p.streamed));
        json_object_set_new(o, "rows_per_block", json_integer((json_int_t)p.rows_per_block));
        json_object_set_new(o, "resident_bytes", json_integer((json_int_t)p.resident_bytes));
        json_object_set_new(o, "streamed_bytes", json_integer((json_int_t)p.streamed_bytes));
        json_object_set_new(o, "largest_buffer", json_integer((json_int_t)p.largest_buffer));
        json_object_set_new(o, "device_memory", json_integer((json_int_t)p.device_memory));
        json_object_set_new(o, "usable_bytes", json_integer((json_int_t)p.usable_bytes));
        json_object_set_new(o, "max_allocation", json_integer((json_int_t)p.max_allocation));
        json_object_set_new(o, "device", json_string(bpnn_device_spec(r->device)));
        json_object_set_new(o, "device_name", json_string(bpnn_device_name(r->device)));
        json_object_set_new(o, "precision", json_string(bpnn_precision_name(a->device.precision)));
        json_object_set_new(o, "layers", layers_json(r->model));
        json_object_set_new(o, "optimizer", json_string(bpnn_optimizer_name(a->train.optimizer)));
        json_object_set_new(o, "samples", json_integer((json_int_t)r->total_rows));
        json_object_set_new(o, "version", json_string(BPNN_VERSION));
        cli_print_json(o);
        return BPNN_OK;
    }
    if (p.streamed)
        printf("plan: streamed from the host, evaluated in blocks of %zu rows\n", p.rows_per_block);
    else if (p.device_memory)
        printf("plan: resident, every data set on the device\n");
    else
        printf("plan: resident, in host memory\n");
    printf("resident: %.1f MiB (%llu bytes) with every data set on the device, largest buffer "
           "%.1f MiB (%llu bytes)\n",
           (double)p.resident_bytes / mib, (unsigned long long)p.resident_bytes,
           (double)p.largest_buffer / mib, (unsigned long long)p.largest_buffer);
    if (p.streamed)
        printf("streamed: %.1f MiB (%llu bytes) with the data on the host\n",
               (double)p.streamed_bytes / mib, (unsigned long long)p.streamed_bytes);
    if (p.device_memory)
        printf("device: %.1f MiB global memory (%llu bytes), %.1f MiB usable, largest allocation "
               "%.1f MiB (%llu bytes)%s%s\n",
               (double)p.device_memory / mib, (unsigned long long)p.device_memory,
               (double)p.usable_bytes / mib, (double)p.max_allocation / mib,
               (unsigned long long)p.max_allocation,
               pretended && pretended[0] ? ", BPNN_DEVICE_MEMORY=" : "",
               pretended && pretended[0] ? pretended : "");
    else
        printf("device: host memory, no limit set (BPNN_DEVICE_MEMORY sets one)\n");
    printf("dry run: nothing uploaded or trained, no file written\n");
    return BPNN_OK;
}

/* With several ranks on a host that has several GPUs, each rank takes its
 * own: "gpu" and "auto" name the local rank's GPU (in enumeration order). */
static const char *rank_device(const char *spec, char *buffer, size_t size)
{
    if (cli_ranks_count() < 2 || (strcmp(spec, "gpu") != 0 && strcmp(spec, "auto") != 0))
        return spec;
    bpnn_device_info *list = NULL;
    size_t count = 0, gpus = 0;
    if (bpnn_list_devices(&list, &count) != BPNN_OK)
        return spec;
    for (size_t i = 0; i < count; i++)
        gpus += strcmp(list[i].type, "GPU") == 0;
    if (gpus > 1) {
        size_t wanted = (size_t)cli_ranks_local_rank() % gpus;
        for (size_t i = 0, seen = 0; i < count; i++)
            if (strcmp(list[i].type, "GPU") == 0 && seen++ == wanted)
                snprintf(buffer, size, "%s", list[i].spec);
        spec = buffer;
    }
    bpnn_device_list_free(list);
    return spec;
}

/* Under mpirun every rank reads its own share of the training rows (and of
 * the validation rows), sums with the others, and fits the normalization on
 * all of them together (bpnn_normalize_fit_shared). */
static void join_ranks(train_run *r)
{
    bpnn_train_options *t = &r->args.train;
    t->rank = cli_ranks_rank();
    t->ranks = cli_ranks_count();
    if (t->ranks > 1)
        t->reduce = cli_ranks_sum;
    if (t->ranks > 1 && !r->args.no_overlap && cli_ranks_can_overlap()) {
        t->reduce_start = cli_ranks_start;
        t->reduce_wait = cli_ranks_wait;
    }
}

/* The largest label + 1 over every rank's share: one network for all. */
static bpnn_status class_count(const train_run *r, int *out)
{
    const bpnn_train_options *t = &r->args.train;
    const double mine = bpnn_dataset_class_count(&r->train);
    double *all = NULL;
    BPNN_TRY(bpnn_gather(t, &mine, 1, &all));
    *out = (int)mine;
    for (int k = 0; k < (t->reduce ? t->ranks : 1); k++)
        if (all[k] > *out)
            *out = (int)all[k];
    free(all);
    return BPNN_OK;
}

/* Checkpoints know the data by a fingerprint of the raw rows (before the
 * normalization, whose statistics may differ in the last bit with another
 * number of ranks), the same whatever the number of ranks. */
static bpnn_status fingerprint_data(train_run *r)
{
    bpnn_train_options *t = &r->args.train;
    if (!t->checkpoint_path && !t->resume_path)
        return BPNN_OK;
    BPNN_TRY(bpnn_dataset_fingerprint(&r->train, t, &t->data_fingerprint));
    if (r->has_val)
        BPNN_TRY(bpnn_dataset_fingerprint(&r->val, t, &t->validation_fingerprint));
    return BPNN_OK;
}

static size_t whole_rows(const bpnn_dataset *data)
{
    return data->share_of ? data->share_of : data->rows;
}

static bpnn_status run(train_run *r, double started)
{
    train_args *a = &r->args;
    int rank = cli_ranks_rank();
    if (rank != 0) { /* rank 0 alone prints and writes */
        a->quiet = 1;
        a->out_path = a->log_path = a->plot_path = NULL;
        a->stats = 0;
    }
    char device[32];
    a->device.spec = rank_device(a->device.spec, device, sizeof device);
    /* Everything cheap is checked first: flags (parse), then the device. */
    BPNN_TRY(cli_open_device(&a->device, &r->device));
    join_ranks(r);
    cli_data shared = a->data; /* the training rows: this rank's share */
    if (a->train.ranks > 1) {
        shared.load.share_index = a->train.rank;
        shared.load.share_count = a->train.ranks;
    }
    BPNN_TRY(cli_load_data(&shared, "train", &r->train, &r->is_fashion));
    if (!r->train.labels)
        return bpnn_fail(BPNN_ERR_INVALID, "training data have no labels: %s", a->data.data_path);
    if (rank == 0) /* the test set is measured once, by rank 0 */
        BPNN_TRY(cli_load_test_data(&a->data, r->is_fashion, &r->test, &r->has_test));
    int classes;
    BPNN_TRY(class_count(r, &classes));
    BPNN_TRY(resolve_layers(a, &r->train, r->is_fashion, classes));
    if (r->has_test)
        BPNN_TRY(check_labelled_set(a, &r->test, &r->train, "test",
                                    a->data.test_data_path ? a->data.test_data_path
                                                           : "Fashion-MNIST t10k",
                                    "--test-labels"));
    BPNN_TRY(load_validation(r));
    BPNN_TRY(bpnn_model_create(a->layer_count, a->sizes, a->device.precision, &r->model));
    r->model->label_offset = a->data.load.label_offset;
    r->model->image_width = r->train.image_width;
    r->model->image_height = r->train.image_height;
    if (r->is_fashion)
        BPNN_TRY(bpnn_model_set_class_names(r->model, cli_fashion_mnist_classes));
    BPNN_TRY(fingerprint_data(r));
    BPNN_TRY(bpnn_normalize_fit_shared(r->model, a->data.normalization, &r->train, &a->train));
    if (r->has_test)
        bpnn_normalize_apply(r->model, &r->test);
    if (r->has_val)
        bpnn_normalize_apply(r->model, &r->val);
    bpnn_init_random(r->model, a->seed);
    r->total_rows = whole_rows(&r->train);
    r->total_val_rows = r->has_val ? whole_rows(&r->val) : 0;
    /* Printed once the data are in, so that a bad request stays one line. */
    if (!a->quiet)
        print_plan(r);
    train_progress_init(&r->progress, a->quiet, a->log_path, a->plot_path != NULL);
    a->train.progress = train_progress_report;
    a->train.progress_user = &r->progress;
    a->train.accuracy_every_iteration = a->log_accuracy;
    a->train.test = r->has_test ? &r->test : NULL;
    a->train.validation = r->has_val ? &r->val : NULL;
    bpnn_device_set_profiling(r->device, a->stats);
    if (a->dry_run) /* the options above are those the plan depends on */
        return dry_run(r);
    r->ranks_before = cli_ranks_get_stats();
    bpnn_status status = bpnn_train(r->device, r->model, &r->train, &a->train, &r->result);
    train_progress_clear(&r->progress);
    BPNN_TRY(status);
    if (rank != 0)
        return BPNN_OK; /* rank 0 reports and saves what every rank holds */
    if (a->stats)
        print_stats(r->device, &r->result, bpnn_optimizer_is_minibatch(a->train.optimizer),
                    &r->ranks_before);
    if (r->has_test)
        BPNN_TRY(accuracy(r->device, r->model, &r->test, &r->test_accuracy));
    /* A model or log that cannot be written fails the run (exit 1) after the
     * summary: the trained parameters are kept (model_rescue.h). */
    bpnn_status saved = BPNN_OK;
    if (a->out_path)
        saved = cli_save_model_or_rescue(r->model, a->out_path, &r->rescued);
    bpnn_status late = saved;
    if (late == BPNN_OK && r->progress.log_failed)
        late = bpnn_fail(BPNN_ERR_RUNTIME, "write error: --log %s: %s: the log is incomplete",
                         a->log_path, strerror(r->progress.log_failed));
    int plotted = late == BPNN_OK && a->plot_path && r->progress.record_count;
    if (late == BPNN_OK && a->plot_path)
        BPNN_TRY(plot_curve(r));
    double total = cli_now() - started;
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
        bpnn_tuning_info tuning_info;
        bpnn_device_tuning(r->device, &tuning_info);
        json_t *tuning = cli_json_tuning(&tuning_info);
        if (tuning)
            json_object_set_new(o, "gemm_tuning", tuning);
        json_object_set_new(o, "samples", json_integer((json_int_t)r->total_rows));
        if (cli_ranks_count() > 1)
            json_object_set_new(o, "ranks", json_integer(cli_ranks_count()));
        json_object_set_new(o, "optimizer", json_string(bpnn_optimizer_name(a->train.optimizer)));
        if (bpnn_optimizer_is_minibatch(a->train.optimizer)) {
            json_object_set_new(o, "epochs", json_integer(r->result.iterations));
            json_object_set_new(o, "batch", json_integer((json_int_t)a->train.batch));
            json_object_set_new(o, "model_epoch", json_integer(r->model->epoch));
            json_object_set_new(o, "streamed", json_boolean(r->result.streamed));
            if (r->has_val) {
                json_object_set_new(o, "val_accuracy", cli_json_number(r->result.val_accuracy));
                json_object_set_new(o, "val_cost", cli_json_number(r->result.val_cost));
                json_object_set_new(o, "best_epoch", json_integer(r->result.best_epoch));
            }
            if (a->train.resume_path)
                json_object_set_new(o, "resumed_epoch", json_integer(r->result.resumed_epoch));
        }
        if (a->out_path && (saved == BPNN_OK || r->rescued))
            json_object_set_new(o, "model", json_string(r->rescued ? r->rescued : a->out_path));
        if (late != BPNN_OK) {
            json_t *error = cli_json_error(late);
            json_object_update(o, error);
            json_decref(error);
            r->error_in_json = 1;
        }
        json_object_set_new(o, "version", json_string(BPNN_VERSION));
        cli_print_json(o);
    } else {
        if (bpnn_optimizer_is_minibatch(a->train.optimizer))
            printf("stopped: %s after %d epochs (%d steps), final cost %.6f\n",
                   r->result.stop_reason, r->result.iterations, r->result.evaluations,
                   r->result.final_cost);
        else
            printf("stopped: %s after %d iterations (%d evaluations), final cost %.6f\n",
                   r->result.stop_reason, r->result.iterations, r->result.evaluations,
                   r->result.final_cost);
        if (r->result.streamed)
            printf("the data did not fit the device and were streamed from the host\n");
        if (r->model->epoch && r->model->epoch != r->result.iterations)
            printf("kept the parameters of epoch %d (lowest validation cost)\n", r->model->epoch);
        printf("training accuracy: %.2f%% (%zu samples)\n", 100 * r->result.train_accuracy,
               r->total_rows);
        if (r->has_val)
            printf("validation:        %.2f%% (%zu samples), cost %.6f\n",
                   100 * r->result.val_accuracy, r->total_val_rows, r->result.val_cost);
        if (r->has_test)
            printf("test accuracy:     %.2f%% (%zu samples)\n", 100 * r->test_accuracy,
                   r->test.rows);
        printf("training time:     %.3f s (total %.3f s)\n", r->result.train_seconds, total);
        if (a->out_path && r->rescued)
            printf("model saved to %s (%s could not be written)\n", r->rescued, a->out_path);
        else if (a->out_path && saved == BPNN_OK)
            printf("model saved to %s\n", a->out_path);
        else if (a->out_path)
            printf("model not saved: %s could not be written\n", a->out_path);
        else
            printf("model not kept: give --out FILE to save it\n");
        if (a->train.checkpoint_path)
            printf("checkpoint: %s (continue with --resume %s)\n", a->train.checkpoint_path,
                   a->train.checkpoint_path);
        if (plotted)
            printf("curve drawn to %s\n", a->plot_path);
    }
    return late;
}

int cmd_train(int argc, char **argv)
{
    double started = cli_now();
    train_run r = {0};
    bpnn_status status = parse(argc, argv, &r.args);
    if (status == BPNN_OK)
        status = run(&r, started);
    if (r.error_in_json)
        cli_json_requested = 0; /* one object on stdout: the results, with the error */
    int code = status == BPNN_OK ? 0 : cli_fail(r.args.device.json && !r.error_in_json, status);
    free(r.rescued);
    bpnn_model_free(r.model);
    bpnn_dataset_free(&r.train);
    bpnn_dataset_free(&r.test);
    bpnn_dataset_free(&r.val);
    bpnn_device_close(r.device);
    train_progress_free(&r.progress);
    return code;
}
