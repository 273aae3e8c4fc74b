/* checkpoint.h — the state of a mini-batch training run, saved so that a
 * resumed run continues bit for bit as if it had never stopped.
 *
 * A run is reproducible from its identity (network, precision, optimizer and
 * its settings, seed, data) plus where it stopped: each epoch's shuffle
 * depends on (seed, epoch) alone, so no generator state is kept.
 *
 * Layout, every integer and float little-endian, written field by field:
 *   magic "BPNNCKP\0" (8 bytes), format version u32;
 *   identity: layer_count u32, sizes u32 x layer_count, precision u32 (0 f32,
 *   1 f64), optimizer u32 (bpnn_optimizer), batch u64, seed u64, lambda f64,
 *   learning_rate f64, momentum f64, beta1 f64, beta2 f64, epsilon f64,
 *   nesterov u32 (0/1), lr_schedule u32 (bpnn_lr_schedule), lr_step_epochs
 *   i32, lr_decay f64, warmup_epochs i32, epochs i32, data_rows u64,
 *   data_features u64, data_crc u32, val_rows u64, val_crc u32;
 *   progress: epoch i32, step u64, best_epoch i32, best_val_cost f64,
 *   epochs_since_best i32, elapsed_seconds f64;
 *   vectors: param_count u64, vector flags u32 (1 state1, 2 state2, 4
 *   best_params), then params and each flagged vector in that order as f64 x
 *   param_count (f64 whatever the precision: f32 values are exact in it);
 *   CRC32 (zlib) u32 over every byte before it.
 * Signed fields (i32) are never negative in a valid file. */
#ifndef BPNN_IO_CHECKPOINT_H
#define BPNN_IO_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "bpnn.h"

#define BPNN_CHECKPOINT_MAGIC "BPNNCKP" /* 8 bytes with its terminating NUL */
#define BPNN_CHECKPOINT_FORMAT_VERSION 1u

typedef struct checkpoint {
    /* What it belongs to: a resume is refused when any of these differs. */
    int layer_count;
    int sizes[BPNN_MAX_LAYERS];
    bpnn_precision precision;
    bpnn_optimizer optimizer;
    size_t batch;
    uint64_t seed;
    double lambda;
    double learning_rate, momentum, beta1, beta2, epsilon;
    int nesterov;
    bpnn_lr_schedule lr_schedule;
    int lr_step_epochs;
    double lr_decay;
    int warmup_epochs;
    int epochs; /* of the run; compared only under the cosine schedule, whose
                 * every step depends on it (other runs may be extended) */
    uint64_t data_rows, data_features;
    uint32_t data_crc; /* checkpoint_data_crc of the training data */
    uint64_t val_rows;
    uint32_t val_crc; /* of the validation set; both 0 when there is none */
    /* Where it stopped. */
    int epoch;      /* epochs completed */
    uint64_t step;  /* optimizer steps taken in all (Adam's t) */
    int best_epoch; /* early stopping: the epoch of best_params (0: none) */
    double best_val_cost;
    int epochs_since_best;
    double elapsed_seconds;
    /* param_count doubles each; params always, the others NULL when the run
     * does not use them (state1: velocity or Adam's m; state2: Adam's v). */
    size_t param_count;
    double *params, *state1, *state2, *best_params;
} checkpoint;

/* Writes `c` to `path` through a temporary file and rename (atomic_file.h):
 * an existing checkpoint is replaced only by a complete new one.
 * Errors: BPNN_ERR_INVALID for a checkpoint that cannot be written as it is
 * (sizes or counts out of range, a non-finite vector element) or a path that
 * cannot be written; otherwise as bpnn_write_file_atomic. */
bpnn_status checkpoint_save(const checkpoint *c, const char *path);

/* Reads a checkpoint into *out (its vectors malloc'ed; checkpoint_free them).
 * On failure *out holds no vectors. Errors: BPNN_ERR_INVALID for a file that
 * is missing, not a checkpoint, of a newer format, truncated, corrupt or holds
 * a non-finite value in a vector; BPNN_ERR_RUNTIME when reading fails. */
bpnn_status checkpoint_load(const char *path, checkpoint *out);

/* Frees the vectors and sets them to NULL; the rest is left as it was. */
void checkpoint_free(checkpoint *c);

/* BPNN_OK when every identity field of `saved` equals that of `expected`
 * (floating-point fields bit for bit); else BPNN_ERR_INVALID naming the first
 * that differs and `path`, as in "checkpoint does not match: it was written
 * for optimizer adam, this run uses sgd: PATH". Progress and vectors are not
 * compared. */
bpnn_status checkpoint_check_match(const checkpoint *saved, const checkpoint *expected,
                                   const char *path);

/* CRC32 (zlib) fingerprint of a data set: its shape, its values (as the bits
 * of their doubles) and its labels (whether it has them, and each one). */
uint32_t checkpoint_data_crc(const bpnn_dataset *data);

#endif
