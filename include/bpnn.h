/* bpnn.h — public API of libbpnn: classic backpropagation networks
 * (sigmoid layers with bias units, regularized logistic cost, conjugate
 * gradient) on the host CPU or on an OpenCL device.
 *
 * Every function that can fail returns a bpnn_status; the message that goes
 * with the last failure of the calling thread is bpnn_error_message().
 *
 * Pointers: a pointer argument may be NULL only where its function's comment
 * says so. Passing NULL elsewhere is BPNN_ERR_INVALID naming the function and
 * the argument, never a crash; functions without a status do nothing (the
 * *_free and init functions), or return "" (names) or 0 (counts). */
#ifndef BPNN_H
#define BPNN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* What the library exports: the functions and variables declared here, and
 * nothing else (it is built with hidden visibility). */
#if defined(__GNUC__)
#define BPNN_API __attribute__((visibility("default")))
#else
#define BPNN_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define BPNN_VERSION "0.1.0"

/* The values are the exit statuses of the bpnn-cl program. */
typedef enum bpnn_status {
    BPNN_OK = 0,
    BPNN_ERR_RUNTIME = 1,      /* a valid request failed: I/O, driver, out of memory */
    BPNN_ERR_INVALID = 2,      /* the request cannot be served as given */
    BPNN_ERR_DIVERGED = 3,     /* non-finite cost or gradient */
    BPNN_ERR_INTERRUPTED = 130 /* SIGINT/SIGTERM seen through bpnn_interrupt_flag */
} bpnn_status;

/* The message of the last failure on this thread: "<what>: <where>[: <hint>]". */
BPNN_API const char *bpnn_error_message(void);

#if defined(__GNUC__)
#define BPNN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define BPNN_PRINTF(f, a)
#endif

/* Sets this thread's message and returns `status`: for callbacks (a reduce
 * or progress function) and programs built on the library, so that their
 * failures read like the library's own. bpnn_fail_oom says "out of host
 * memory: <what>" (BPNN_ERR_RUNTIME). */
BPNN_API bpnn_status bpnn_fail(bpnn_status status, const char *format, ...) BPNN_PRINTF(2, 3);
BPNN_API bpnn_status bpnn_fail_oom(const char *what);
/* Forgets this thread's message (bpnn_error_message says "no error"). */
BPNN_API void bpnn_clear_error(void);

/* Propagates a failure: BPNN_TRY(call) returns the status of a failed call. */
#define BPNN_TRY(call)                                                                             \
    do {                                                                                           \
        bpnn_status bpnn_try_status_ = (call);                                                     \
        if (bpnn_try_status_ != BPNN_OK)                                                           \
            return bpnn_try_status_;                                                               \
    } while (0)

typedef enum bpnn_precision { BPNN_F32 = 0, BPNN_F64 = 1 } bpnn_precision;
BPNN_API const char *bpnn_precision_name(bpnn_precision precision);

/* Set to nonzero (from a signal handler) to make a running training stop with
 * BPNN_ERR_INTERRUPTED at its next cost evaluation. */
extern BPNN_API volatile sig_atomic_t bpnn_interrupt_flag;

/* ---- data sets ---------------------------------------------------------- */

/* A data set in host memory: rows x features, row-major, as double; labels
 * 0-based class indices (NULL when the data set has none). */
typedef struct bpnn_dataset {
    size_t rows;
    size_t features;
    double *x;
    int32_t *labels;
    int image_width; /* 0 when the data are not images */
    int image_height;
    /* A share of a larger data set (bpnn_load_options.share_count, or
     * bpnn_dataset_shard): the whole set's index of this share's first row and
     * the whole set's rows. 0 and 0 for a whole data set. */
    size_t share_first;
    size_t share_of;
} bpnn_dataset;

/* data may be NULL. */
BPNN_API void bpnn_dataset_free(bpnn_dataset *data);
/* Largest label + 1 (0 when there are no labels or data is NULL). */
BPNN_API int bpnn_dataset_class_count(const bpnn_dataset *data);

/* Loading. Errors name the file and the record or line. `limit` (0: all)
 * stops decoding after that many records; a limit larger than the file holds
 * is BPNN_ERR_INVALID naming both numbers. Paths may name FIFOs; "-" is
 * standard input. Each is read once. */
typedef enum bpnn_csv_header {
    BPNN_HEADER_AUTO = 0,
    BPNN_HEADER_YES,
    BPNN_HEADER_NO
} bpnn_csv_header;

typedef struct bpnn_load_options {
    size_t limit;
    bpnn_csv_header header; /* CSV: auto = the first row has no numeric cell */
    int label_col;          /* CSV: 0-based column of the label, -1 the last */
    int has_labels;         /* CSV: 0 reads every column as a feature */
    int label_offset;       /* class = label - label_offset (--labels-from) */
    const char *mat_x;      /* MAT: variable names, "X" and "y" by default */
    const char *mat_y;
    char delimiter; /* CSV: ',', ';' or '\t'; 0 guesses it from the first line */
    /* share_count > 1: keep only share share_index of the m rows (after
     * `limit`), rows [index m / count, (index + 1) m / count), as one of
     * `count` participants of a shared training does. IDX files are read from
     * the share's first record on; CSV files are read twice (rows counted,
     * then the share's parsed), so they cannot be pipes; MAT variables are
     * read whole by matio, then cut. An empty share is BPNN_ERR_INVALID. */
    int share_index, share_count;
} bpnn_load_options;

BPNN_API void bpnn_load_options_default(bpnn_load_options *options);

/* IDX images (idx3-ubyte, type 0x08) and optional labels (idx1-ubyte), raw or
 * gzip-compressed; pixels become p / 255. */
BPNN_API bpnn_status bpnn_load_idx(const char *images_path, const char *labels_path,
                                   const bpnn_load_options *options, bpnn_dataset *out);
/* CSV with one sample a line; the label column per the options. */
BPNN_API bpnn_status bpnn_load_csv(const char *path, const bpnn_load_options *options,
                                   bpnn_dataset *out);
/* Chooses the reader by content (IDX magic, gzip, MAT header) or else CSV.
 * labels_path is for IDX only and may be NULL. */
BPNN_API bpnn_status bpnn_load_data(const char *path, const char *labels_path,
                                    const bpnn_load_options *options, bpnn_dataset *out);
/* 1 when the file at `path` is a MAT file (its first bytes, or for a FIFO
 * or "-" its name): MATLAB stores each image column by column. */
BPNN_API int bpnn_is_mat_file(const char *path);
/* Moves round(fraction * rows) rows, chosen by a shuffle drawn from `seed`,
 * out of `data` into `validation` (both keep their rows' original order).
 * 0 < fraction < 1 and both parts non-empty, else BPNN_ERR_INVALID. On a
 * share the shuffle is of the whole set's rows, so that the shares together
 * hold out exactly the rows a split of the whole set would. */
BPNN_API bpnn_status bpnn_dataset_split(bpnn_dataset *data, double fraction, uint64_t seed,
                                        bpnn_dataset *validation);
/* Keeps share `index` of `count` of the rows: rows [index m / count,
 * (index + 1) m / count), the share of one participant of a training shared
 * among `count` (bpnn_train_options.reduce), as the loaders' share options
 * read it. BPNN_ERR_INVALID when the share would be empty. */
BPNN_API bpnn_status bpnn_dataset_shard(bpnn_dataset *data, int index, int count);
/* BPNN_ERR_INVALID naming `source` and the row when a label is not in 0..classes-1. */
BPNN_API bpnn_status bpnn_dataset_check_labels(const bpnn_dataset *data, int classes,
                                               const char *source);

/* ---- models --------------------------------------------------------------- */

typedef enum bpnn_normalization {
    BPNN_NORMALIZE_NONE = 0,
    BPNN_NORMALIZE_ZSCORE = 1,
    BPNN_NORMALIZE_MINMAX = 2
} bpnn_normalization;

#define BPNN_MAX_LAYERS 32

/* A network and everything needed to apply it to raw data again. Parameters
 * are held as double on the host whatever the precision (f32 values are exact
 * in double); their order is Theta_1 then Theta_2 ..., each
 * sizes[l+1] x (sizes[l] + 1) row-major with the bias weights in column 0. */
typedef struct bpnn_model {
    int layer_count; /* input, hidden..., output */
    int sizes[BPNN_MAX_LAYERS];
    bpnn_precision precision;
    double lambda;
    double *params;
    size_t param_count;
    int label_offset;              /* file label = class + label_offset */
    char **class_names;            /* class_count() entries, or NULL */
    int image_width, image_height; /* 0 when unknown */
    bpnn_normalization normalization;
    double *norm_shift; /* per feature: x' = (x - shift) / scale */
    double *norm_scale;
    /* mini-batch: the epoch whose parameters these are (after early stopping
     * the best one; a run stopped mid-epoch counts its last whole epoch);
     * 0 for cg and lbfgs */
    int epoch;
} bpnn_model;

BPNN_API int bpnn_model_class_count(const bpnn_model *model);
/* SIZE_MAX when the count does not fit a size_t (or a size is negative). */
BPNN_API size_t bpnn_param_count(int layer_count, const int *sizes);
/* Offset of Theta_l (1-based l, as the seed names them) in the flat vector. */
BPNN_API size_t bpnn_theta_offset(const int *sizes, int l);

/* An empty model of the given layout (parameters zero, no normalization).
 * At most BPNN_MAX_LAYERS layers of at least one unit, at most INT32_MAX
 * parameters (counted without overflow), else BPNN_ERR_INVALID. */
BPNN_API bpnn_status bpnn_model_create(int layer_count, const int *sizes, bpnn_precision precision,
                                       bpnn_model **out);
BPNN_API void bpnn_model_free(bpnn_model *model); /* model may be NULL */
/* Copies the class names (count = class count) into the model; names NULL
 * removes them (none of the names may be NULL). */
BPNN_API bpnn_status bpnn_model_set_class_names(bpnn_model *model, const char *const *names);

/* Uniform in [-e, e], e = sqrt(6 / (s_l + s_{l+1})), drawn in double by
 * xoshiro256** seeded with `seed`, in flat order: the same on every backend. */
BPNN_API void bpnn_init_random(const bpnn_model *model, uint64_t seed);
/* The seed's debug initialization: out[i] = sin(i + 1) / 10, i < count. */
BPNN_API void bpnn_init_debug(double *out, size_t count);

/* Fits the normalization statistics of `data` into the model and applies them. */
BPNN_API bpnn_status bpnn_normalize_fit(bpnn_model *model, bpnn_normalization kind,
                                        bpnn_dataset *data);
/* Applies the model's stored normalization to `data` in place. */
BPNN_API void bpnn_normalize_apply(const bpnn_model *model, bpnn_dataset *data);

/* Model files: fixed little-endian layout with a CRC32 trailer; written to a
 * temporary file and renamed into place. Loading checks the values too:
 * finite parameters, a finite lambda >= 0, finite normalization shifts and
 * positive finite scales; a file with others is corrupt (BPNN_ERR_INVALID),
 * and saving a model with others is refused likewise. */
BPNN_API bpnn_status bpnn_model_save(const bpnn_model *model, const char *path);
BPNN_API bpnn_status bpnn_model_load(const char *path, bpnn_model **out);

/* ---- devices ------------------------------------------------------------- */

/* An opened compute device: the host CPU path or an OpenCL device. */
typedef struct bpnn_device bpnn_device;

/* spec: "cpu", "gpu", "opencl", "opencl:P:D" or "auto" (see bpnn-cl --help);
 * NULL means "auto". */
BPNN_API bpnn_status bpnn_device_open(const char *spec, bpnn_precision precision,
                                      bpnn_device **out);
BPNN_API void bpnn_device_close(bpnn_device *device); /* device may be NULL */

/* A device --device can name, as `bpnn-cl devices` lists it. */
typedef struct bpnn_device_info {
    char spec[32];         /* "cpu" or "opencl:P:D" */
    char type[16];         /* "host", or OpenCL's "GPU", "CPU", "accelerator", "other" */
    char name[128];        /* the host path: its BLAS; OpenCL: the device's name */
    char vendor[128];      /* "" for the host path */
    char description[256]; /* the BLAS core and threads; OpenCL: platform, version, driver */
    int platform_index, device_index; /* -1 for the host path */
    unsigned compute_units;           /* 0 for the host path */
    uint64_t global_memory;           /* bytes; 0 for the host path (no limit) */
    uint64_t max_allocation;          /* bytes, the largest single buffer; 0 likewise */
    int fp64;                         /* f64 runs on it */
    char platform_name[128];          /* OpenCL's; "" for the host path */
    char device_version[128];         /* "OpenCL 3.0 PoCL ..." */
    char driver_version[64];
    char platform_version[128];
} bpnn_device_info;

/* Every device: the host path ("cpu") first, then each OpenCL device in
 * enumeration order, the order opencl:P:D counts. *out (free it with
 * bpnn_device_list_free) holds *count entries, at least one. */
BPNN_API bpnn_status bpnn_list_devices(bpnn_device_info **out, size_t *count);
/* 1 when this library was built with its OpenCL path. */
BPNN_API int bpnn_has_opencl(void);
BPNN_API void bpnn_device_list_free(bpnn_device_info *list); /* list may be NULL */
/* The device that "cpu", "gpu", "opencl" or "auto" selects for `precision`,
 * as a spec ("opencl:0:1", "cpu") into out (size bytes); "" when "gpu" or
 * "opencl" finds none ("auto" then falls back to "cpu"). */
BPNN_API bpnn_status bpnn_device_resolve(const char *spec, bpnn_precision precision, char *out,
                                         size_t size);
BPNN_API const char *bpnn_device_spec(const bpnn_device *device); /* resolved, e.g. "opencl:0:0" */
BPNN_API const char *bpnn_device_name(const bpnn_device *device);
BPNN_API const char *bpnn_device_description(const bpnn_device *device); /* platform, driver */
/* What crossed between host and device, and where the time went; the
 * timings are collected while profiling is on (OpenCL events). */
typedef struct bpnn_device_stats {
    uint64_t bytes_to_device;
    uint64_t bytes_from_device;
    double gemm_seconds;
    double kernel_seconds;
    uint64_t gemm_calls;
    uint64_t kernel_calls;
    /* calls in which the host waited for the device (blocking reads and
     * writes, scalars of reductions, clFinish) and the seconds it waited:
     * transfers and the device's queued work together. 0 on the cpu path. */
    uint64_t host_syncs;
    double host_wait_seconds;
} bpnn_device_stats;

/* Waits for the work queued on the device first, so that the timings of
 * everything done so far are in. device may be NULL (all zero). */
BPNN_API void bpnn_device_get_stats(bpnn_device *device, bpnn_device_stats *out);
BPNN_API void bpnn_device_set_profiling(bpnn_device *device, int on);
/* The OpenBLAS kernel family the device computes with, or NULL when it does
 * not use the host's BLAS (OpenCL devices). */
BPNN_API const char *bpnn_device_blas_core(const bpnn_device *device);

/* Host threads for BLAS and our loops (0 keeps the default). */
BPNN_API void bpnn_set_threads(int threads);
/* The OpenBLAS kernel family in use, e.g. "SkylakeX". */
BPNN_API const char *bpnn_blas_core(void);
/* The family this CPU can run by its CPUID ("Cooperlake", "SkylakeX",
 * "Haswell"), or NULL when nothing better than OpenBLAS's choice is known.
 * Debian 12's OpenBLAS 0.3.21 takes recent CPUs for old ones and runs 4-7x
 * slow; it reads OPENBLAS_CORETYPE once, when it is loaded, so only a process
 * started with that variable set gets the better kernels (bpnn-cl restarts
 * itself so; the library never changes its host process's environment). */
BPNN_API const char *bpnn_blas_core_best(void);
/* 1 when the family in use is weaker than bpnn_blas_core_best(). */
BPNN_API int bpnn_blas_core_is_weaker(void);

/* ---- cost, gradient, training, prediction ---------------------------------- */

/* The regularized cost and its gradient (param_count doubles) at the model's
 * parameters on `data`, computed on `device`. gradient may be NULL (the cost
 * alone). Labels outside 0..K-1 are BPNN_ERR_INVALID naming the row. */
BPNN_API bpnn_status bpnn_cost_gradient(bpnn_device *device, const bpnn_model *model,
                                        const bpnn_dataset *data, double lambda, double *cost,
                                        double *gradient);

/* How parameters are trained. cg and lbfgs minimize the cost over the whole
 * training set (max_iter iterations); sgd, momentum and adam take steps on
 * mini-batches (epochs over batches of `batch` rows, shuffled per epoch). */
typedef enum bpnn_optimizer {
    BPNN_OPT_CG = 0,
    BPNN_OPT_LBFGS = 1,
    BPNN_OPT_SGD = 2,
    BPNN_OPT_MOMENTUM = 3,
    BPNN_OPT_ADAM = 4
} bpnn_optimizer;

BPNN_API const char *bpnn_optimizer_name(bpnn_optimizer optimizer); /* "cg", ... */
/* 1 for sgd, momentum and adam. */
BPNN_API int bpnn_optimizer_is_minibatch(bpnn_optimizer optimizer);
/* The learning rate a mini-batch optimizer uses when none is given. */
BPNN_API double bpnn_default_learning_rate(bpnn_optimizer optimizer);

/* The mini-batch learning rate over the run, after any warm-up:
 * constant; step (times lr_decay every lr_step_epochs epochs); cosine (from
 * the rate down to 0 at the end of the last epoch, updated every step). */
typedef enum bpnn_lr_schedule {
    BPNN_LR_CONSTANT = 0,
    BPNN_LR_STEP = 1,
    BPNN_LR_COSINE = 2
} bpnn_lr_schedule;

BPNN_API const char *bpnn_lr_schedule_name(bpnn_lr_schedule schedule);

/* What a progress report is about. */
typedef enum bpnn_progress_kind {
    BPNN_PROGRESS_ITERATION = 0, /* cg, lbfgs: one iteration done */
    BPNN_PROGRESS_STEP = 1,      /* mini-batch: one step done (for progress bars) */
    BPNN_PROGRESS_EPOCH = 2      /* mini-batch: one epoch done, with its metrics */
} bpnn_progress_kind;

typedef struct bpnn_iteration {
    bpnn_progress_kind kind;
    int iteration;         /* cg/lbfgs iterations; mini-batch: the epoch */
    int evaluations;       /* cost-and-gradient evaluations so far */
    double cost;           /* cg/lbfgs: J; mini-batch: the mean of the epoch's batch
                            * costs so far (each the batch's estimate of J) */
    double seconds;        /* since the optimizer started */
    double train_accuracy; /* < 0 when not measured */
    double test_accuracy;  /* < 0 when not measured */
    /* mini-batch only (0 or < 0 otherwise) */
    int epoch;                 /* 1-based */
    int epochs;                /* of the run */
    long step;                 /* within the epoch, 1-based */
    long steps;                /* per epoch */
    double samples_per_second; /* this epoch so far */
    double learning_rate;      /* of the last step */
    double val_cost;           /* mean logistic loss on the validation set; < 0 none */
    double val_accuracy;       /* < 0 when there is no validation set */
    double epoch_seconds;      /* this epoch so far */
} bpnn_iteration;

/* Called with each report; a nonzero return stops training after that
 * point (stop_reason "stopped"), keeping the parameters reached. */
typedef int (*bpnn_progress_fn)(const bpnn_iteration *it, void *user);

/* Sums `count` doubles element-wise over every participant of a shared
 * training, in place, and gives each participant the same result (sums in a
 * fixed order); bpnn-cl implements it over MPI. */
typedef bpnn_status (*bpnn_reduce_fn)(double *values, size_t count, void *user);
/* The same sum split in two, so that the library computes while it runs:
 * start returns at once with a request, wait returns when `values` hold the
 * sum (and releases the request). Requests started in the same order on
 * every participant complete in that order. */
typedef bpnn_status (*bpnn_reduce_start_fn)(double *values, size_t count, void *user,
                                            void **request);
typedef bpnn_status (*bpnn_reduce_wait_fn)(void *request, void *user);

typedef struct bpnn_train_options {
    double lambda;            /* 1 */
    bpnn_optimizer optimizer; /* cg */
    /* cg, lbfgs */
    int max_iter; /* 100 */
    double gtol;  /* 1e-5 */
    int history;  /* lbfgs: correction pairs kept (10) */
    /* sgd, momentum, adam */
    int epochs;                     /* 10 */
    size_t batch;                   /* 128; the last batch of an epoch holds the rest */
    double learning_rate;           /* <= 0: bpnn_default_learning_rate(optimizer) */
    double momentum;                /* 0.9 (momentum) */
    int nesterov;                   /* 0 */
    double beta1, beta2, epsilon;   /* adam: 0.9, 0.999, 1e-8 */
    bpnn_lr_schedule lr_schedule;   /* cosine */
    int lr_step_epochs;             /* step schedule: every this many epochs (3) */
    double lr_decay;                /* step schedule: factor (0.1) */
    int warmup_epochs;              /* linear warm-up from 0 over this many epochs (0) */
    uint64_t seed;                  /* per-epoch shuffles (1) */
    const bpnn_dataset *validation; /* per-epoch validation cost and accuracy, or NULL */
    int patience;                   /* stop after this many epochs without a better validation
                                     * cost and restore the best parameters (0: never) */
    const char *checkpoint_path;    /* written every checkpoint_every epochs, or NULL */
    int checkpoint_every;           /* 1 */
    const char *resume_path;        /* a checkpoint to continue from, or NULL */
    /* Data-parallel training: each of `ranks` participants calls bpnn_train
     * with the same options and model and its own share of the training (and
     * validation) rows; `reduce` completes every sum over rows, so each step
     * or evaluation is that of the whole data set and the parameters stay
     * the same everywhere. Rank 0 alone writes checkpoints; every rank needs
     * resume_path. A progress callback's stop takes effect on all ranks. */
    bpnn_reduce_fn reduce; /* NULL: one participant */
    void *reduce_user;
    /* Optional (both or neither; reduce_user is theirs too): mini-batch
     * gradients are then summed layer by layer, each layer's started as
     * backpropagation finishes it, while the layers below are computed. */
    bpnn_reduce_start_fn reduce_start;
    bpnn_reduce_wait_fn reduce_wait;
    int rank, ranks; /* 0, 1 */
    /* the checkpoint identity of the whole training and validation data when
     * this participant holds a share of them (0: computed from the data given) */
    uint32_t data_fingerprint, validation_fingerprint;
    /* reports */
    bpnn_progress_fn progress;
    void *progress_user;
    int accuracy_every_iteration; /* measure accuracies for progress */
    const bpnn_dataset *test;     /* used only for progress accuracies */
} bpnn_train_options;

BPNN_API void bpnn_train_options_default(bpnn_train_options *options);

/* A training shared among participants (the options' reduce, reduce_user,
 * rank and ranks), each holding a share of the rows (bpnn_load_options'
 * share, then bpnn_dataset_split on each share):
 * - bpnn_normalize_fit_shared fits the statistics of all the participants'
 *   rows together, the same on each (alone or with `shared` NULL, exactly
 *   bpnn_normalize_fit);
 * - bpnn_dataset_fingerprint gives the checkpoint identity of the whole data
 *   set (bpnn_train_options.data_fingerprint): the CRC32 of all the shares'
 *   rows in participant order, equal to the fingerprint of the same rows
 *   held whole by one participant, so that a checkpoint resumes with any
 *   number of participants.
 * Every participant calls them together, like each of the training's sums. */
BPNN_API bpnn_status bpnn_normalize_fit_shared(bpnn_model *model, bpnn_normalization kind,
                                               bpnn_dataset *data,
                                               const bpnn_train_options *shared);
/* Every participant's `count` values, the same on each: *all (free it) holds
 * ranks x count values, participant r's from r x count on. Gathered through
 * the reduce callback: each fills its own values and leaves the others' 0,
 * so the sum is exact. Alone (`shared` NULL, or one rank): a copy of mine. */
BPNN_API bpnn_status bpnn_gather(const bpnn_train_options *shared, const double *mine, size_t count,
                                 double **all);
BPNN_API bpnn_status bpnn_dataset_fingerprint(const bpnn_dataset *data,
                                              const bpnn_train_options *shared, uint32_t *out);

typedef struct bpnn_train_result {
    int iterations;          /* cg/lbfgs iterations; mini-batch: epochs run */
    int evaluations;         /* cost-and-gradient evaluations (mini-batch: steps) */
    double final_cost;       /* J on the whole training set at the final parameters */
    const char *stop_reason; /* "gtol", "max_iter", "line_search", "epochs",
                              * "early_stopping", "stopped", "interrupted" */
    double train_seconds;
    double train_accuracy; /* on the training data, at the final parameters */
    /* Bytes that crossed host<->device while the optimizer ran (after the
     * upload, before the parameters come back). */
    uint64_t optimizer_transfer_bytes;
    /* Times the host waited for the device meanwhile (bpnn_device_stats). */
    uint64_t optimizer_host_syncs;
    /* mini-batch */
    int best_epoch;      /* the epoch whose parameters are kept (0: none) */
    double val_accuracy; /* at the kept parameters; < 0 without validation */
    double val_cost;
    int resumed_epoch; /* epochs done before this run (from --resume), else 0 */
    int streamed;      /* 1 when the data did not fit the device and were streamed */
} bpnn_train_result;

/* Trains model->params in place on `data` by options->optimizer. A label of
 * the training, validation or test data outside 0..K-1 (K the output
 * layer's units) is BPNN_ERR_INVALID naming the set and the row. Stopped by
 * bpnn_interrupt_flag (BPNN_ERR_INTERRUPTED), the result still says how far
 * it got: iterations (mini-batch: whole epochs) and evaluations (steps), the
 * train_seconds, stop_reason "interrupted", final_cost NaN and
 * train_accuracy -1; model->params are left as they were. */
BPNN_API bpnn_status bpnn_train(bpnn_device *device, bpnn_model *model, const bpnn_dataset *data,
                                const bpnn_train_options *options, bpnn_train_result *result);

/* What bpnn_train needs on its device, and its choice: every data set
 * resident on the device, or the data streamed from the host in blocks.
 * Sizes in bytes. */
typedef struct bpnn_memory_plan {
    int streamed;            /* 1: the data stay on the host, uploaded as needed */
    size_t rows_per_block;   /* streamed: rows uploaded at a time for evaluations */
    uint64_t resident_bytes; /* the run with every data set on the device */
    uint64_t streamed_bytes; /* the run with the data streamed (0 when resident fits) */
    uint64_t largest_buffer; /* the largest single buffer of the resident run */
    uint64_t device_memory;  /* the device's global memory; 0: host memory, no limit */
    uint64_t usable_bytes;   /* the share of it a plan may fill */
    uint64_t max_allocation; /* the device's largest single allocation */
} bpnn_memory_plan;

/* The plan bpnn_train would make with these arguments, after the same
 * checks, without uploading or training anything. The device's figures are
 * those BPNN_DEVICE_MEMORY may pretend. When even streaming cannot fit, the
 * status and message are bpnn_train's (BPNN_ERR_RUNTIME with the figures)
 * and *out still holds the sizes worked out. */
BPNN_API bpnn_status bpnn_train_plan(const bpnn_device *device, const bpnn_model *model,
                                     const bpnn_dataset *data, const bpnn_train_options *options,
                                     bpnn_memory_plan *out);

/* Predicted classes (0-based) for every row of `data` (normalized already). */
BPNN_API bpnn_status bpnn_predict(bpnn_device *device, const bpnn_model *model,
                                  const bpnn_dataset *data, int32_t *classes);
/* The output layer's activations (each in (0, 1), one per class) for every
 * row of `data` (normalized already): rows x K, row-major, into `scores`.
 * Their argmax is bpnn_predict's class. */
BPNN_API bpnn_status bpnn_predict_scores(bpnn_device *device, const bpnn_model *model,
                                         const bpnn_dataset *data, double *scores);

/* Times `repeat` cost-and-gradient evaluations (what one CG function
 * evaluation costs) with the data and parameters already on the device,
 * after one warm-up evaluation; seconds[i] receives each (seconds may be NULL
 * when repeat is 0). */
BPNN_API bpnn_status bpnn_time_evaluations(bpnn_device *device, const bpnn_model *model,
                                           const bpnn_dataset *data, double lambda, int repeat,
                                           double *seconds);

/* The GEMMs of one mini-batch training step of `batch` rows, exactly as the
 * step runs them (forward A_l Theta_l^T; per layer from the top the weight
 * gradient D^T A and, above the input, the delta D Theta), on random data
 * already on the device: `repeat` timings after one warm-up, each until the
 * device has finished. bpnn_step_gemm_flops gives their floating-point
 * operations, 2 b s_l s_{l+1} per product: 2 products for the first layer,
 * 3 for the others (the input has no delta). */
BPNN_API bpnn_status bpnn_time_step_gemms(bpnn_device *device, int layer_count, const int *sizes,
                                          size_t batch, int repeat, double *seconds);
BPNN_API double bpnn_step_gemm_flops(int layer_count, const int *sizes, size_t batch);
/* The same GEMMs each timed on its own, the device finished after every one:
 * seconds[g] (3 layer_count - 4 values, in the order above: the forward
 * products from the input up, then from the top each layer's weight gradient
 * and, above the input, its delta) is GEMM g's median over `repeat` steps
 * (at least 1), after one warm-up step. */
BPNN_API bpnn_status bpnn_time_step_gemms_each(bpnn_device *device, int layer_count,
                                               const int *sizes, size_t batch, int repeat,
                                               double *seconds);

/* ---- GEMM tuning (OpenCL devices) ------------------------------------------ */

/* CLBlast computes the GEMMs on OpenCL devices with kernels whose parameters
 * (tile sizes, vector widths, the size above which the indirect GEMM runs
 * instead of the direct one) come from its database of tuned devices, or a
 * guess for the others. `bpnn-cl tune` searches for better ones for one
 * device, driver and precision and keeps them in a tuning file;
 * bpnn_device_open applies the file of the device it opens, when there is
 * one, with CLBlastOverrideParameters.
 *
 * The files live in BPNN_TUNING_DIR, else $XDG_CACHE_HOME/bpnn-cl/tuning,
 * else $HOME/.cache/bpnn-cl/tuning: one file per device name, driver version
 * and precision (bpnn_tuning_path names it). BPNN_TUNING=off opens every
 * device with CLBlast's own parameters (any value other than on, off, 1 or 0
 * is BPNN_ERR_INVALID when a device is opened). A file that cannot be used
 * (malformed, written for another device, driver or precision, refused by
 * CLBlast) does not stop the opening: the device runs CLBlast's own
 * parameters and bpnn_device_tuning says why in one line naming the file.
 *
 * CLBlast keeps parameters per device and precision for the whole process:
 * every open handle of one device in one precision runs the parameters
 * applied last. */

#define BPNN_TUNING_MAX_KERNELS 8
#define BPNN_TUNING_MAX_PARAMETERS 24

/* The parameters of one CLBlast kernel, named as CLBlast's database names
 * them: the kernel "Xgemm", "XgemmDirect", "Copy", "Pad", "Transpose",
 * "Padtranspose", "GemmRoutine" or "Xaxpy", and each of its parameters
 * ("MWG", "XGEMM_MIN_INDIRECT_SIZE", ...). CLBlast wants every parameter of a
 * kernel it is given. */
typedef struct bpnn_tuning_kernel {
    char name[32];
    int count;
    char parameter[BPNN_TUNING_MAX_PARAMETERS][32];
    size_t value[BPNN_TUNING_MAX_PARAMETERS];
} bpnn_tuning_kernel;

typedef struct bpnn_tuning {
    int count; /* kernels */
    bpnn_tuning_kernel kernel[BPNN_TUNING_MAX_KERNELS];
    char note[256]; /* one line of text kept in the file ("" for none) */
} bpnn_tuning;

typedef enum bpnn_tuning_state {
    BPNN_TUNING_NONE = 0, /* no tuning file for the device: CLBlast's parameters */
    BPNN_TUNING_APPLIED,  /* the tuning file's parameters are in use */
    BPNN_TUNING_IGNORED,  /* a tuning file exists but is not used (the message says why) */
    BPNN_TUNING_DISABLED, /* BPNN_TUNING=off: CLBlast's parameters */
    BPNN_TUNING_SET,      /* bpnn_device_set_tuning chose the parameters */
    BPNN_TUNING_HOST      /* the host path: nothing to tune */
} bpnn_tuning_state;

typedef struct bpnn_tuning_info {
    bpnn_tuning_state state;
    char path[4096];   /* the device's tuning file; "" for the host path or with no folder */
    char message[768]; /* one line: which parameters are in use, and why */
} bpnn_tuning_info;

/* What the device's GEMMs run with since it was opened (or since
 * bpnn_device_set_tuning). device may be NULL (BPNN_TUNING_HOST). */
BPNN_API void bpnn_device_tuning(const bpnn_device *device, bpnn_tuning_info *out);

/* The tuning file of a device as bpnn_list_devices lists it, or of an open
 * device, in `precision` (an open device: its own), into out (size bytes).
 * BPNN_ERR_INVALID for the host path (it has no tuning) and when no folder
 * is known (none of BPNN_TUNING_DIR, XDG_CACHE_HOME, HOME is set). */
BPNN_API bpnn_status bpnn_tuning_path(const bpnn_device_info *info, bpnn_precision precision,
                                      char *out, size_t size);
BPNN_API bpnn_status bpnn_device_tuning_path(const bpnn_device *device, char *out, size_t size);

/* Reads a tuning file (path NULL: the device's own) and checks that it was
 * written for this device, driver and precision. BPNN_ERR_INVALID, naming
 * the file, when it is missing, malformed or another device's;
 * BPNN_ERR_RUNTIME when reading fails. */
BPNN_API bpnn_status bpnn_tuning_load(const bpnn_device *device, const char *path,
                                      bpnn_tuning *out);

/* Writes `tuning` as the tuning file of `device` (path NULL: the device's
 * own, its folder created when missing) through bpnn_write_file_atomic.
 * BPNN_ERR_INVALID for parameters that are not well formed (names, counts)
 * and the writer's errors. */
BPNN_API bpnn_status bpnn_tuning_save(const bpnn_device *device, const bpnn_tuning *tuning,
                                      const char *path);

/* Applies `tuning` to the device's GEMMs from the next call on (each kernel
 * it names; the others keep their parameters). NULL restores CLBlast's own
 * parameters, for every device of the process (CLBlast cannot reset one
 * device alone; its compiled programs are dropped too). BPNN_ERR_INVALID for
 * the host path, for malformed parameters and for kernels or parameter sets
 * CLBlast refuses; BPNN_ERR_RUNTIME for other CLBlast failures. Parameters
 * that CLBlast accepts can still fail when a GEMM compiles them (too much
 * local memory, too large work-groups): check with bpnn_verify. */
BPNN_API bpnn_status bpnn_device_set_tuning(bpnn_device *device, const bpnn_tuning *tuning);

/* ---- gradient checking --------------------------------------------------- */

/* The seed's debug problem: every Theta_l = sin(1..n)/10 reshaped row-major,
 * X (m x s_1) by the same rule, labels y_i = i mod K for i = 1..m (m >= 1). */
BPNN_API bpnn_status bpnn_debug_problem(int layer_count, const int *sizes, size_t m,
                                        bpnn_precision precision, bpnn_model **model,
                                        bpnn_dataset *data);

typedef struct bpnn_gradcheck {
    size_t count;
    double *backprop; /* the gradient by backpropagation */
    double *numeric;  /* by central differences */
    double cost;
    double relative_difference; /* ||num - bp|| / ||num + bp|| */
    double max_abs_difference;
} bpnn_gradcheck;

/* Central differences with step `epsilon` against backpropagation, on the
 * debug problem, on `device` (open it in f64 for the seed's 1e-9 check). */
BPNN_API bpnn_status bpnn_gradient_check(bpnn_device *device, int layer_count, const int *sizes,
                                         size_t m, double lambda, double epsilon,
                                         bpnn_gradcheck *out);
BPNN_API void bpnn_gradcheck_free(bpnn_gradcheck *check); /* check may be NULL */

/* ---- device check ---------------------------------------------------------- */

/* One op of a device checked against the host path (bpnn_verify). */
typedef struct bpnn_verify_result {
    const char *op; /* "gemm NT", "dot", ... (static storage) */
    bpnn_precision precision;
    double error; /* max|x - ref| / max|ref|, the largest over the op's cases */
    double threshold;
    int passed;          /* error <= threshold and every call succeeded */
    int cases;           /* size cases run */
    char worst_case[96]; /* the sizes where the error was largest */
    bpnn_status status;  /* BPNN_OK, or the failure of a call (then passed is 0) */
    char message[512];   /* that failure's message */
} bpnn_verify_result;

typedef void (*bpnn_verify_fn)(const bpnn_verify_result *result, void *user);

/* Runs every op the training uses (GEMMs in the four transpose
 * combinations, the layer kernels, reductions, gathers, optimizer updates,
 * transfers) on `device` and on the host path in the device's precision, on
 * random inputs of awkward sizes, and calls `report` once per op. Thresholds
 * (f64 / f32): element-wise 1e-12 / 1e-5, GEMM and reductions 1e-10 / 1e-4,
 * integer results exact. `only` (may be NULL) keeps the ops whose name starts
 * with it; `failures` (may be NULL) receives how many ops failed. A failed op
 * is reported, not returned: the status says whether the check itself could
 * run. */
BPNN_API bpnn_status bpnn_verify(bpnn_device *device, const char *only, bpnn_verify_fn report,
                                 void *user, int *failures);

/* ---- exports -------------------------------------------------------------- */

/* The parameters as files other tools read: one file per layer, Theta1,
 * Theta2 ..., each s_{l+1} rows by s_l + 1 columns, the bias weights in
 * column 0. */

/* Theta<l>.csv in `dir`: comma separated, one row a line, numbers in the C
 * locale as %.9g (f32 models: the float value round-trips) or %.17g (f64). */
BPNN_API bpnn_status bpnn_export_csv(const bpnn_model *model, const char *dir);

/* Theta<l>.npy in `dir`: NPY format 1.0, dtype '<f4' (f32 models) or '<f8',
 * C order, shape (s_{l+1}, s_l + 1). */
BPNN_API bpnn_status bpnn_export_npy(const bpnn_model *model, const char *dir);

/* Both replace all the files or none (bpnn_write_files_atomic): each is
 * written to a temporary file first, and an export that fails leaves the
 * earlier one whole. Errors: BPNN_ERR_INVALID when `dir` does not exist, is
 * not a directory or a file cannot be created in it; BPNN_ERR_RUNTIME when
 * writing fails after the file was opened or memory runs out. */

/* DIR/Theta<l>.<extension>, the file layer l is exported to (malloc'd), or
 * NULL when out of memory. */
BPNN_API char *bpnn_export_path(const char *dir, int l, const char *extension);

/* ---- files that appear whole or not at all ------------------------------- */

/* Every output except logs is written to a temporary file in the target's own
 * directory ("PATH.tmp-XXXXXX"), flushed to disk with fsync and renamed over
 * PATH, so an existing file is replaced only by a complete new one. Programs
 * built on the library write their own outputs the same way. */

/* The most files bpnn_write_files_atomic takes at once (an export: one per
 * layer). */
#define BPNN_ATOMIC_GROUP_MAX 32

/* The temporary file being written right now, or NULL. It is set from the
 * moment the temporary file exists until it has been renamed or removed, so a
 * SIGINT/SIGTERM handler can remove it: call bpnn_remove_pending_temp() from
 * the handler (it only uses unlink, which is async-signal-safe) and then
 * either _exit(130) or set bpnn_interrupt_flag and return. One file is
 * written at a time (the program is single-threaded where it writes). */
extern BPNN_API const char *volatile bpnn_pending_temp_path;

/* Removes the pending temporary files, if any. Async-signal-safe. */
BPNN_API void bpnn_remove_pending_temp(void);

/* Nonzero while a group of files is being renamed into place: a signal
 * handler then only sets bpnn_interrupt_flag and returns, and the writer
 * puts the earlier files back before it reports BPNN_ERR_INTERRUPTED.
 * Async-signal-safe. */
BPNN_API int bpnn_interrupt_deferred(void);

/* Writes `size` bytes to `path` through a temporary file and rename. The new
 * file keeps the mode of the file it replaces, else 0666 less the umask.
 * `what` names the file in messages ("model file", "export file").
 * Errors: BPNN_ERR_INVALID when the file cannot be created or renamed into
 * place because of the path (missing directory, permission, a directory in
 * the way); BPNN_ERR_RUNTIME when writing or syncing fails after the file was
 * opened; BPNN_ERR_INTERRUPTED when bpnn_interrupt_flag is set before the
 * rename (a run being interrupted leaves existing files untouched). On every
 * failure the temporary file is gone and an existing `path` is untouched.
 * Temporary files of `path` that a killed save left behind (no live writer
 * holds their lock) are removed first. */
BPNN_API bpnn_status bpnn_write_file_atomic(const char *path, const void *data, size_t size,
                                            const char *what);

/* Writes `count` files that belong together (at most BPNN_ATOMIC_GROUP_MAX)
 * so that all of them are replaced or none: every file goes to its temporary
 * file first; only when all are written and synced are they renamed into
 * place, and a failed rename puts back the files already replaced (kept
 * under a second name meanwhile). Errors as bpnn_write_file_atomic, the
 * message naming the file and the reason; writing errors are
 * BPNN_ERR_RUNTIME. */
BPNN_API bpnn_status bpnn_write_files_atomic(size_t count, const char *const paths[],
                                             const void *const data[], const size_t sizes[],
                                             const char *what);

#ifdef __cplusplus
}
#endif

#endif
