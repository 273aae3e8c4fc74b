/* checkpoint.c — saving, loading and matching checkpoints (the layout is in
 * checkpoint.h).
 *
 * Loading follows model_file.c: the whole file is read, its layout walked
 * with bounds checks and no allocation, and vectors are allocated only in a
 * file whose CRC holds and whose layout fits its length, so every allocation
 * is bounded by the file's size. */
#include "io/checkpoint.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "bpnn.h"
#include "io/le_bytes.h"
#include "io/model_file.h"
#include "io/read_file.h"
#include "util/error.h"

enum { MAGIC_SIZE = 8, PROLOGUE_SIZE = 12, CRC_SIZE = 4 };

/* Bytes of the fixed fields after the layer sizes: identity, then progress,
 * then param_count and the vector flags. */
enum {
    IDENTITY_SIZE = 4 + 4 + 8 + 8 + 8 + 5 * 8 + 4 + 4 + 4 + 8 + 4 + 4 + 8 + 8 + 4 + 8 + 4,
    PROGRESS_SIZE = 4 + 8 + 4 + 8 + 4 + 8,
    VECTORS_HEAD_SIZE = 8 + 4
};

enum { HAS_STATE1 = 1, HAS_STATE2 = 2, HAS_BEST = 4, ALL_VECTORS = 7 };

static const unsigned char checkpoint_magic[MAGIC_SIZE] = BPNN_CHECKPOINT_MAGIC;
static const unsigned char model_magic[MAGIC_SIZE] = BPNN_MODEL_MAGIC;

static uint32_t vector_flags(const checkpoint *c)
{
    return (c->state1 ? HAS_STATE1 : 0u) | (c->state2 ? HAS_STATE2 : 0u) |
           (c->best_params ? HAS_BEST : 0u);
}

static int vector_count(uint32_t flags)
{
    return 1 + !!(flags & HAS_STATE1) + !!(flags & HAS_STATE2) + !!(flags & HAS_BEST);
}

/* ---- saving ------------------------------------------------------------------ */

/* The first non-finite element of v, or param_count when there is none. */
static size_t first_non_finite(const double *v, size_t count)
{
    size_t i = 0;
    while (i < count && isfinite(v[i]))
        i++;
    return i;
}

/* A checkpoint the trainer built is consistent; this keeps a file from
 * holding what checkpoint_load would refuse. */
static bpnn_status check_savable(const checkpoint *c, const char *path)
{
    const char *why = NULL;
    if (c->layer_count < 2 || c->layer_count > BPNN_MAX_LAYERS)
        why = "layer count outside 2..BPNN_MAX_LAYERS";
    else if (c->precision != BPNN_F32 && c->precision != BPNN_F64)
        why = "unknown precision";
    else if ((unsigned)c->optimizer > BPNN_OPT_ADAM)
        why = "unknown optimizer";
    else if ((unsigned)c->lr_schedule > BPNN_LR_COSINE)
        why = "unknown learning-rate schedule";
    else if (c->nesterov != 0 && c->nesterov != 1)
        why = "nesterov neither 0 nor 1";
    else if (c->lr_step_epochs < 0 || c->warmup_epochs < 0 || c->epochs < 0 || c->epoch < 0 ||
             c->best_epoch < 0 || c->epochs_since_best < 0)
        why = "a negative epoch count";
    if (!why)
        for (int l = 0; l < c->layer_count; l++)
            if (c->sizes[l] < 1)
                why = "a layer without units";
    if (!why && (c->param_count != bpnn_param_count(c->layer_count, c->sizes) || !c->params))
        why = "parameter count does not match the layer sizes";
    if (why)
        return bpnn_fail(BPNN_ERR_INVALID, "cannot save an inconsistent checkpoint (%s): %s", why,
                         path);
    const double *vectors[] = {c->params, c->state1, c->state2, c->best_params};
    static const char *const names[] = {"params", "state1", "state2", "best_params"};
    for (int v = 0; v < 4; v++) {
        if (!vectors[v])
            continue;
        size_t i = first_non_finite(vectors[v], c->param_count);
        if (i < c->param_count)
            return bpnn_fail(BPNN_ERR_INVALID,
                             "cannot save a checkpoint with a non-finite value (%s[%zu] = %g): "
                             "%s",
                             names[v], i, vectors[v][i], path);
    }
    return BPNN_OK;
}

static size_t encoded_size(const checkpoint *c)
{
    return PROLOGUE_SIZE + 4 + 4 * (size_t)c->layer_count + IDENTITY_SIZE + PROGRESS_SIZE +
           VECTORS_HEAD_SIZE + (size_t)vector_count(vector_flags(c)) * 8 * c->param_count +
           CRC_SIZE;
}

static unsigned char *put_i32(unsigned char *at, int value)
{
    return put_u32(at, (uint32_t)(int32_t)value);
}

static unsigned char *put_vector(unsigned char *at, const double *v, size_t count)
{
    for (size_t i = 0; i < count; i++)
        at = put_f64(at, v[i]);
    return at;
}

static void encode(const checkpoint *c, unsigned char *data, size_t size)
{
    unsigned char *at = data;
    memcpy(at, checkpoint_magic, MAGIC_SIZE);
    at += MAGIC_SIZE;
    at = put_u32(at, BPNN_CHECKPOINT_FORMAT_VERSION);

    at = put_u32(at, (uint32_t)c->layer_count);
    for (int l = 0; l < c->layer_count; l++)
        at = put_u32(at, (uint32_t)c->sizes[l]);
    at = put_u32(at, (uint32_t)c->precision);
    at = put_u32(at, (uint32_t)c->optimizer);
    at = put_u64(at, (uint64_t)c->batch);
    at = put_u64(at, c->seed);
    at = put_f64(at, c->lambda);
    at = put_f64(at, c->learning_rate);
    at = put_f64(at, c->momentum);
    at = put_f64(at, c->beta1);
    at = put_f64(at, c->beta2);
    at = put_f64(at, c->epsilon);
    at = put_u32(at, (uint32_t)c->nesterov);
    at = put_u32(at, (uint32_t)c->lr_schedule);
    at = put_i32(at, c->lr_step_epochs);
    at = put_f64(at, c->lr_decay);
    at = put_i32(at, c->warmup_epochs);
    at = put_i32(at, c->epochs);
    at = put_u64(at, c->data_rows);
    at = put_u64(at, c->data_features);
    at = put_u32(at, c->data_crc);
    at = put_u64(at, c->val_rows);
    at = put_u32(at, c->val_crc);

    at = put_i32(at, c->epoch);
    at = put_u64(at, c->step);
    at = put_i32(at, c->best_epoch);
    at = put_f64(at, c->best_val_cost);
    at = put_i32(at, c->epochs_since_best);
    at = put_f64(at, c->elapsed_seconds);

    at = put_u64(at, (uint64_t)c->param_count);
    at = put_u32(at, vector_flags(c));
    at = put_vector(at, c->params, c->param_count);
    if (c->state1)
        at = put_vector(at, c->state1, c->param_count);
    if (c->state2)
        at = put_vector(at, c->state2, c->param_count);
    if (c->best_params)
        at = put_vector(at, c->best_params, c->param_count);
    put_u32(at, le_crc32(data, size - CRC_SIZE));
}

bpnn_status checkpoint_save(const checkpoint *c, const char *path)
{
    BPNN_TRY(check_savable(c, path));
    if (c->param_count > (SIZE_MAX - 4096) / (4 * 8))
        return bpnn_fail_oom("checkpoint file contents");
    size_t size = encoded_size(c);
    unsigned char *data = malloc(size);
    if (!data)
        return bpnn_fail_oom("checkpoint file contents");
    encode(c, data, size);
    bpnn_status status = bpnn_write_file_atomic(path, data, size, "checkpoint file");
    free(data);
    return status;
}

/* ---- loading ------------------------------------------------------------------ */

/* A count stored as i32 that must not be negative. */
#define TAKE_COUNT(field, name)                                                                    \
    do {                                                                                           \
        int32_t value_ = (int32_t)le_take_u32(r);                                                  \
        if (value_ < 0)                                                                            \
            LE_BAD("%s %" PRId32 " is negative", name, value_);                                    \
        field = (int)value_;                                                                       \
    } while (0)

/* Fills the scalar fields of *c from the layout after the prologue and
 * checks that the vectors lie within the file, ending where the CRC begins;
 * their positions are returned in *vectors_at and *flags. */
static walk_result walk_layout(le_reader *r, checkpoint *c, size_t *vectors_at, uint32_t *flags,
                               char *why, size_t why_size)
{
    r->at = PROLOGUE_SIZE;
    LE_NEED(4);
    uint32_t layer_count = le_take_u32(r);
    if (layer_count < 2 || layer_count > BPNN_MAX_LAYERS)
        LE_BAD("layer count %" PRIu32 " is outside 2..%d", layer_count, BPNN_MAX_LAYERS);
    c->layer_count = (int)layer_count;
    LE_NEED(4 * (size_t)layer_count);
    for (int l = 0; l < c->layer_count; l++) {
        uint32_t units = le_take_u32(r);
        if (units == 0 || units > INT_MAX)
            LE_BAD("layer %d has %" PRIu32 " units", l + 1, units);
        c->sizes[l] = (int)units;
    }

    LE_NEED(IDENTITY_SIZE);
    uint32_t precision = le_take_u32(r);
    if (precision > BPNN_F64)
        LE_BAD("unknown precision code %" PRIu32, precision);
    c->precision = (bpnn_precision)precision;
    uint32_t optimizer = le_take_u32(r);
    if (optimizer > BPNN_OPT_ADAM)
        LE_BAD("unknown optimizer code %" PRIu32, optimizer);
    c->optimizer = (bpnn_optimizer)optimizer;
    uint64_t batch = le_take_u64(r);
#if SIZE_MAX < UINT64_MAX
    if (batch > SIZE_MAX)
        LE_BAD("batch %" PRIu64 " does not fit this machine", batch);
#endif
    c->batch = (size_t)batch;
    c->seed = le_take_u64(r);
    c->lambda = le_take_f64(r);
    c->learning_rate = le_take_f64(r);
    c->momentum = le_take_f64(r);
    c->beta1 = le_take_f64(r);
    c->beta2 = le_take_f64(r);
    c->epsilon = le_take_f64(r);
    uint32_t nesterov = le_take_u32(r);
    if (nesterov > 1)
        LE_BAD("nesterov flag %" PRIu32 " is neither 0 nor 1", nesterov);
    c->nesterov = (int)nesterov;
    uint32_t schedule = le_take_u32(r);
    if (schedule > BPNN_LR_COSINE)
        LE_BAD("unknown learning-rate schedule code %" PRIu32, schedule);
    c->lr_schedule = (bpnn_lr_schedule)schedule;
    TAKE_COUNT(c->lr_step_epochs, "lr_step_epochs");
    c->lr_decay = le_take_f64(r);
    TAKE_COUNT(c->warmup_epochs, "warmup_epochs");
    TAKE_COUNT(c->epochs, "epochs");
    c->data_rows = le_take_u64(r);
    c->data_features = le_take_u64(r);
    c->data_crc = le_take_u32(r);
    c->val_rows = le_take_u64(r);
    c->val_crc = le_take_u32(r);

    LE_NEED(PROGRESS_SIZE);
    TAKE_COUNT(c->epoch, "epoch");
    c->step = le_take_u64(r);
    TAKE_COUNT(c->best_epoch, "best_epoch");
    c->best_val_cost = le_take_f64(r);
    TAKE_COUNT(c->epochs_since_best, "epochs_since_best");
    c->elapsed_seconds = le_take_f64(r);

    LE_NEED(VECTORS_HEAD_SIZE);
    uint64_t stored = le_take_u64(r);
    uint64_t expected = 0;
    for (int l = 0; l + 1 < c->layer_count; l++) {
        uint64_t rows = (uint64_t)c->sizes[l + 1], cols = (uint64_t)c->sizes[l] + 1;
        if (rows > UINT64_MAX / cols || rows * cols > UINT64_MAX - expected)
            LE_BAD("the layer sizes give more parameters than can be counted");
        expected += rows * cols;
    }
    if (stored != expected)
        LE_BAD("parameter count %" PRIu64 " does not match the layer sizes (%" PRIu64 ")", stored,
               expected);
    *flags = le_take_u32(r);
    if (*flags > ALL_VECTORS)
        LE_BAD("vector flags 0x%" PRIx32 " name unknown vectors", *flags);
    size_t vectors = (size_t)vector_count(*flags);
    if (expected > SIZE_MAX / 8 / vectors) {
        le_have(r, SIZE_MAX);
        return WALK_SHORT;
    }
    c->param_count = (size_t)expected;
    LE_NEED(vectors * 8 * c->param_count);
    *vectors_at = r->at;
    r->at += vectors * 8 * c->param_count;

    if (r->at != r->size)
        LE_BAD("%zu unexpected bytes after the vectors", r->size - r->at);
    return WALK_OK;
}

#undef NEED
#undef BAD
#undef TAKE_COUNT

/* Copies one vector out of the file, refusing a non-finite element: a run
 * resumed from it could only diverge. */
static bpnn_status take_vector(const unsigned char **at, size_t count, const char *name,
                               const char *path, double **out)
{
    double *v = malloc((count ? count : 1) * sizeof *v);
    if (!v)
        return bpnn_fail_oom("checkpoint vectors");
    for (size_t i = 0; i < count; i++, *at += 8) {
        v[i] = get_f64(*at);
        if (!isfinite(v[i])) {
            bpnn_status status = bpnn_fail(BPNN_ERR_INVALID,
                                           "checkpoint holds a non-finite value (%s[%zu] = %g): %s",
                                           name, i, v[i], path);
            free(v);
            return status;
        }
    }
    *out = v;
    return BPNN_OK;
}

static bpnn_status take_vectors(const unsigned char *data, size_t vectors_at, uint32_t flags,
                                const char *path, checkpoint *c)
{
    const unsigned char *at = data + vectors_at;
    BPNN_TRY(take_vector(&at, c->param_count, "params", path, &c->params));
    if (flags & HAS_STATE1)
        BPNN_TRY(take_vector(&at, c->param_count, "state1", path, &c->state1));
    if (flags & HAS_STATE2)
        BPNN_TRY(take_vector(&at, c->param_count, "state2", path, &c->state2));
    if (flags & HAS_BEST)
        BPNN_TRY(take_vector(&at, c->param_count, "best_params", path, &c->best_params));
    return BPNN_OK;
}

/* Everything that can be said from the magic and the version alone. */
static bpnn_status check_prologue(const unsigned char *data, size_t size, const char *path)
{
    if (size == 0)
        return bpnn_fail(BPNN_ERR_INVALID, "checkpoint file is empty: %s", path);
    size_t compared = size < MAGIC_SIZE ? size : MAGIC_SIZE;
    if (memcmp(data, checkpoint_magic, compared) != 0) {
        if (size >= MAGIC_SIZE && memcmp(data, model_magic, MAGIC_SIZE) == 0)
            return bpnn_fail(BPNN_ERR_INVALID,
                             "not a bpnn-cl checkpoint file: %s: it is a model file; resume "
                             "from a file written by --checkpoint",
                             path);
        return bpnn_fail(BPNN_ERR_INVALID, "not a bpnn-cl checkpoint file: %s", path);
    }
    if (size < PROLOGUE_SIZE)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "checkpoint file is truncated (%zu bytes, the header alone needs %d): "
                         "%s",
                         size, PROLOGUE_SIZE, path);
    uint32_t version = get_u32(data + MAGIC_SIZE);
    if (version > BPNN_CHECKPOINT_FORMAT_VERSION)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "checkpoint format version %" PRIu32
                         " is newer than this bpnn-cl supports (%u): %s: upgrade bpnn-cl",
                         version, BPNN_CHECKPOINT_FORMAT_VERSION, path);
    if (version == 0)
        return bpnn_fail(BPNN_ERR_INVALID, "checkpoint file is corrupt (format version 0): %s",
                         path);
    return BPNN_OK;
}

bpnn_status checkpoint_load(const char *path, checkpoint *out)
{
    memset(out, 0, sizeof *out);
    unsigned char *data;
    size_t size;
    BPNN_TRY(
        bpnn_read_file_bytes(path, checkpoint_magic, MAGIC_SIZE, "checkpoint file", &data, &size));
    bpnn_status status = check_prologue(data, size, path);
    if (status != BPNN_OK) {
        free(data);
        return status;
    }

    int crc_ok;
    le_reader r = le_reader_over(data, size, PROLOGUE_SIZE, &crc_ok);
    checkpoint c;
    memset(&c, 0, sizeof c);
    size_t vectors_at = 0;
    uint32_t flags = 0;
    char why[160] = "";
    walk_result walk = walk_layout(&r, &c, &vectors_at, &flags, why, sizeof why);

    if (walk == WALK_SHORT) {
        if (r.needed == SIZE_MAX)
            status = bpnn_fail(BPNN_ERR_INVALID, "checkpoint file is truncated (%zu bytes): %s",
                               size, path);
        else
            status = bpnn_fail(BPNN_ERR_INVALID,
                               "checkpoint file is truncated (%zu bytes, the layout needs at "
                               "least %zu): %s",
                               size, r.needed, path);
    } else if (!crc_ok) {
        status = bpnn_fail(BPNN_ERR_INVALID, "checkpoint file is corrupt (CRC mismatch): %s", path);
    } else if (walk == WALK_BAD) {
        status = bpnn_fail(BPNN_ERR_INVALID, "checkpoint file is corrupt (%s): %s", why, path);
    } else {
        status = take_vectors(data, vectors_at, flags, path, &c);
    }
    free(data);
    if (status != BPNN_OK) {
        checkpoint_free(&c);
        return status;
    }
    *out = c;
    return BPNN_OK;
}

void checkpoint_free(checkpoint *c)
{
    free(c->params);
    free(c->state1);
    free(c->state2);
    free(c->best_params);
    c->params = c->state1 = c->state2 = c->best_params = NULL;
}

/* ---- matching ------------------------------------------------------------------ */

static bpnn_status mismatch(const char *path, const char *saved, const char *expected,
                            const char *hint)
{
    return bpnn_fail(BPNN_ERR_INVALID,
                     "checkpoint does not match: it was written for %s, this run uses %s: %s%s%s",
                     saved, expected, path, hint ? ": " : "", hint ? hint : "");
}

static void format_layers(char *out, size_t size, const checkpoint *c)
{
    size_t used = 0;
    out[0] = '\0';
    for (int l = 0; l < c->layer_count && used < size; l++) {
        int n = snprintf(out + used, size - used, l ? ",%d" : "%d", c->sizes[l]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

static int same_f64(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* The shortest form that reads back as the same double, so a value given as
 * 0.9 is shown as 0.9 and two values that differ never look alike. */
static void format_f64(char *out, size_t size, double value)
{
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(out, size, "%.*g", digits, value);
        if (isnan(value) || same_f64(strtod(out, NULL), value))
            return;
    }
}

/* Reports the first differing field of the form "<name> <value>". */
#define DIFFER_U64(name, field, unit, hint)                                                        \
    do {                                                                                           \
        if (saved->field != expected->field) {                                                     \
            snprintf(a, sizeof a, "%s %" PRIu64 "%s", name, (uint64_t)saved->field, unit);         \
            snprintf(b, sizeof b, "%" PRIu64 "%s", (uint64_t)expected->field, unit);               \
            return mismatch(path, a, b, hint);                                                     \
        }                                                                                          \
    } while (0)

#define DIFFER_INT(name, field)                                                                    \
    do {                                                                                           \
        if (saved->field != expected->field) {                                                     \
            snprintf(a, sizeof a, "%s %d", name, saved->field);                                    \
            snprintf(b, sizeof b, "%d", expected->field);                                          \
            return mismatch(path, a, b, NULL);                                                     \
        }                                                                                          \
    } while (0)

#define DIFFER_F64(name, field)                                                                    \
    do {                                                                                           \
        if (!same_f64(saved->field, expected->field)) {                                            \
            char value_[32];                                                                       \
            format_f64(value_, sizeof value_, saved->field);                                       \
            snprintf(a, sizeof a, "%s %s", name, value_);                                          \
            format_f64(b, sizeof b, expected->field);                                              \
            return mismatch(path, a, b, NULL);                                                     \
        }                                                                                          \
    } while (0)

#define DIFFER_NAME(name, field, to_name)                                                          \
    do {                                                                                           \
        if (saved->field != expected->field) {                                                     \
            snprintf(a, sizeof a, "%s %s", name, to_name(saved->field));                           \
            return mismatch(path, a, to_name(expected->field), NULL);                              \
        }                                                                                          \
    } while (0)

#define DIFFER_CRC(name, field, hint)                                                              \
    do {                                                                                           \
        if (saved->field != expected->field) {                                                     \
            snprintf(a, sizeof a, "%s with CRC32 %08" PRIx32, name, saved->field);                 \
            snprintf(b, sizeof b, "%08" PRIx32, expected->field);                                  \
            return mismatch(path, a, b, hint);                                                     \
        }                                                                                          \
    } while (0)

static const char *on_off(int flag)
{
    return flag ? "on" : "off";
}

bpnn_status checkpoint_check_match(const checkpoint *saved, const checkpoint *expected,
                                   const char *path)
{
    char a[BPNN_MAX_LAYERS * 12 + 64], b[BPNN_MAX_LAYERS * 12 + 64];
    int same_layers = saved->layer_count == expected->layer_count;
    for (int l = 0; same_layers && l < saved->layer_count; l++)
        same_layers = saved->sizes[l] == expected->sizes[l];
    if (!same_layers) {
        char layers[BPNN_MAX_LAYERS * 12];
        format_layers(layers, sizeof layers, saved);
        snprintf(a, sizeof a, "layers %s", layers);
        format_layers(b, sizeof b, expected);
        return mismatch(path, a, b, NULL);
    }
    DIFFER_NAME("precision", precision, bpnn_precision_name);
    DIFFER_NAME("optimizer", optimizer, bpnn_optimizer_name);
    DIFFER_U64("batch", batch, "", NULL);
    DIFFER_U64("seed", seed, "", NULL);
    DIFFER_F64("lambda", lambda);
    DIFFER_F64("learning rate", learning_rate);
    DIFFER_F64("momentum", momentum);
    DIFFER_NAME("nesterov", nesterov, on_off);
    DIFFER_F64("beta1", beta1);
    DIFFER_F64("beta2", beta2);
    DIFFER_F64("epsilon", epsilon);
    DIFFER_NAME("lr schedule", lr_schedule, bpnn_lr_schedule_name);
    DIFFER_INT("lr step epochs", lr_step_epochs);
    DIFFER_F64("lr decay", lr_decay);
    DIFFER_INT("warmup epochs", warmup_epochs);
    if (saved->lr_schedule == BPNN_LR_COSINE && saved->epochs != expected->epochs) {
        snprintf(a, sizeof a, "epochs %d", saved->epochs);
        snprintf(b, sizeof b, "%d", expected->epochs);
        return mismatch(path, a, b, "the cosine schedule spans the run's epochs");
    }
    DIFFER_U64("training data of", data_rows, " rows", NULL);
    DIFFER_U64("training data of", data_features, " features", NULL);
    DIFFER_CRC("training data", data_crc, "its values or labels differ");
    if (saved->val_rows != expected->val_rows) {
        if (saved->val_rows)
            snprintf(a, sizeof a, "a validation set of %" PRIu64 " rows", saved->val_rows);
        else
            snprintf(a, sizeof a, "no validation set");
        if (expected->val_rows)
            snprintf(b, sizeof b, "%" PRIu64 " rows", expected->val_rows);
        else
            snprintf(b, sizeof b, "none");
        return mismatch(path, a, b, NULL);
    }
    DIFFER_CRC("validation set", val_crc, "its values or labels differ");
    return BPNN_OK;
}

#undef DIFFER_U64
#undef DIFFER_INT
#undef DIFFER_F64
#undef DIFFER_NAME
#undef DIFFER_CRC

/* ---- data fingerprints ----------------------------------------------------------- */

typedef struct crc_stream {
    uLong crc;
    unsigned char buffer[4096];
    size_t used;
} crc_stream;

static void crc_flush(crc_stream *s)
{
    s->crc = crc32_z(s->crc, s->buffer, s->used);
    s->used = 0;
}

/* Room for n more bytes (n <= 8). */
static unsigned char *crc_room(crc_stream *s, size_t n)
{
    if (sizeof s->buffer - s->used < n)
        crc_flush(s);
    unsigned char *at = s->buffer + s->used;
    s->used += n;
    return at;
}

/* The bytes hashed are those of an encoding fixed like the file layouts
 * (little-endian, doubles by their bits), so a fingerprint means the same on
 * every host: the rows and the features (8 bytes each), every value, whether
 * there are labels (4 bytes), every label. A share hashes its values and its
 * labels apart (data_piece); CRC32's combination puts the pieces of all
 * shares together into the CRC of the whole set's bytes. */
typedef struct data_piece {
    uint32_t values_crc, labels_crc;
    uint64_t values_bytes, labels_bytes;
} data_piece;

static data_piece piece_of(const bpnn_dataset *data)
{
    crc_stream s = {.crc = crc32_z(0L, Z_NULL, 0), .used = 0};
    size_t values = data->rows * data->features;
    for (size_t i = 0; i < values; i++)
        put_f64(crc_room(&s, 8), data->x[i]);
    crc_flush(&s);
    data_piece p = {.values_crc = (uint32_t)s.crc, .values_bytes = 8 * (uint64_t)values};
    s.crc = crc32_z(0L, Z_NULL, 0);
    if (data->labels)
        for (size_t i = 0; i < data->rows; i++)
            put_u32(crc_room(&s, 4), (uint32_t)data->labels[i]);
    crc_flush(&s);
    p.labels_crc = (uint32_t)s.crc;
    p.labels_bytes = data->labels ? 4 * (uint64_t)data->rows : 0;
    return p;
}

static uint32_t combine_pieces(uint64_t rows, uint64_t features, int has_labels,
                               const data_piece *pieces, int count)
{
    unsigned char head[16], flag[4];
    put_u64(head, rows);
    put_u64(head + 8, features);
    put_u32(flag, has_labels ? 1u : 0u);
    uLong crc = crc32_z(crc32_z(0L, Z_NULL, 0), head, sizeof head);
    for (int i = 0; i < count; i++)
        crc = crc32_combine64(crc, pieces[i].values_crc, (z_off64_t)pieces[i].values_bytes);
    crc = crc32_z(crc, flag, sizeof flag);
    for (int i = 0; i < count; i++)
        crc = crc32_combine64(crc, pieces[i].labels_crc, (z_off64_t)pieces[i].labels_bytes);
    return (uint32_t)crc;
}

uint32_t checkpoint_data_crc(const bpnn_dataset *data)
{
    data_piece piece = piece_of(data);
    return combine_pieces(data->rows, data->features, data->labels != NULL, &piece, 1);
}

bpnn_status bpnn_dataset_fingerprint(const bpnn_dataset *data, const bpnn_train_options *shared,
                                     uint32_t *out)
{
    if (!data)
        return bpnn_fail_null("bpnn_dataset_fingerprint", "data");
    if (!out)
        return bpnn_fail_null("bpnn_dataset_fingerprint", "out");
    if (!shared || !shared->reduce || shared->ranks < 2) {
        *out = checkpoint_data_crc(data);
        return BPNN_OK;
    }
    int ranks = shared->ranks;
    /* every participant's piece and rows (CRCs and byte counts are integers
     * below 2^53: exact as doubles) */
    enum { SLOT = 5 };
    data_piece piece = piece_of(data);
    const double mine[SLOT] = {piece.values_crc, (double)piece.values_bytes, piece.labels_crc,
                               (double)piece.labels_bytes, (double)data->rows};
    double *all = NULL;
    BPNN_TRY(bpnn_gather(shared, mine, SLOT, &all));
    data_piece *pieces = malloc((size_t)ranks * sizeof *pieces);
    if (!pieces) {
        free(all);
        return bpnn_fail_oom("the data fingerprint");
    }
    uint64_t rows = 0;
    for (int r = 0; r < ranks; r++) {
        const double *slot = all + (size_t)r * SLOT;
        pieces[r] = (data_piece){(uint32_t)slot[0], (uint32_t)slot[2], (uint64_t)slot[1],
                                 (uint64_t)slot[3]};
        rows += (uint64_t)slot[4];
    }
    *out = combine_pieces(rows, data->features, data->labels != NULL, pieces, ranks);
    free(all);
    free(pieces);
    return BPNN_OK;
}
