/* model_file.c — saving and loading models (the layout is in model_file.h).
 *
 * Loading reads the whole file (models are small) and walks its layout with
 * bounds checks before anything is allocated from a size field; the CRC is
 * checked over the whole content first, so a size is trusted only in a file
 * that is intact, and every allocation is bounded by the file's length. */
#include "io/model_file.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "io/le_bytes.h"
#include "io/read_file.h"
#include "util/error.h"

enum { MAGIC_SIZE = 8, PROLOGUE_SIZE = 12, CRC_SIZE = 4 };

static const unsigned char model_magic[MAGIC_SIZE] = BPNN_MODEL_MAGIC;

/* What a model's numbers must be to be used: finite weights and lambda,
 * finite shifts and positive finite scales (x' = (x - shift) / scale).
 * NULL when they are, else why not, into `why`. */
static const char *check_values(const bpnn_model *model, char *why, size_t why_size)
{
    for (size_t i = 0; i < model->param_count; i++)
        if (!isfinite(model->params[i])) {
            snprintf(why, why_size, "parameter %zu is %g", i + 1, model->params[i]);
            return why;
        }
    if (!(isfinite(model->lambda) && model->lambda >= 0)) {
        snprintf(why, why_size, "lambda is %g", model->lambda);
        return why;
    }
    if (model->normalization == BPNN_NORMALIZE_NONE || !model->norm_shift || !model->norm_scale)
        return NULL;
    for (int j = 0; j < model->sizes[0]; j++) {
        if (!isfinite(model->norm_shift[j])) {
            snprintf(why, why_size, "the normalization shift of feature %d is %g", j + 1,
                     model->norm_shift[j]);
            return why;
        }
        if (!(isfinite(model->norm_scale[j]) && model->norm_scale[j] > 0)) {
            snprintf(why, why_size, "the normalization scale of feature %d is %g", j + 1,
                     model->norm_scale[j]);
            return why;
        }
    }
    return NULL;
}

/* ---- saving ------------------------------------------------------------------ */

/* A model the library built is always consistent; this guards the file
 * against one assembled by hand. */
static bpnn_status check_savable(const bpnn_model *model, const char *path)
{
    const char *why = NULL;
    if (model->layer_count < 2 || model->layer_count > BPNN_MAX_LAYERS)
        why = "layer count outside 2..BPNN_MAX_LAYERS";
    else if (model->precision != BPNN_F32 && model->precision != BPNN_F64)
        why = "unknown precision";
    else if (model->normalization != BPNN_NORMALIZE_NONE &&
             model->normalization != BPNN_NORMALIZE_ZSCORE &&
             model->normalization != BPNN_NORMALIZE_MINMAX)
        why = "unknown normalization";
    else if (model->image_width < 0 || model->image_height < 0)
        why = "negative image size";
    else if (model->epoch < 0)
        why = "negative epoch";
    if (!why)
        for (int l = 0; l < model->layer_count; l++)
            if (model->sizes[l] < 1)
                why = "a layer without units";
    if (!why && (model->param_count != bpnn_param_count(model->layer_count, model->sizes) ||
                 !model->params))
        why = "parameter count does not match the layer sizes";
    if (!why && model->normalization != BPNN_NORMALIZE_NONE &&
        (!model->norm_shift || !model->norm_scale))
        why = "normalization without statistics";
    if (!why && model->class_names)
        for (int k = 0; k < bpnn_model_class_count(model); k++)
            if (!model->class_names[k] || strlen(model->class_names[k]) > UINT32_MAX)
                why = "a missing or overlong class name";
    char values[96];
    if (!why)
        why = check_values(model, values, sizeof values);
    if (why)
        return bpnn_fail(BPNN_ERR_INVALID, "cannot save an inconsistent model (%s): %s", why, path);
    return BPNN_OK;
}

static size_t encoded_size(const bpnn_model *model)
{
    size_t features = (size_t)model->sizes[0];
    size_t size = MAGIC_SIZE + 4 /* version */ + 4 /* precision */ + 4 /* layer count */ +
                  4 * (size_t)model->layer_count + 4 /* label offset */ + 8 /* image */ +
                  8 /* lambda */ + 4 /* epoch */ + 4 /* normalization */;
    if (model->normalization != BPNN_NORMALIZE_NONE)
        size += 2 * 8 * features;
    size += 4; /* class-name flag */
    if (model->class_names)
        for (int k = 0; k < bpnn_model_class_count(model); k++)
            size += 4 + strlen(model->class_names[k]);
    size_t element = model->precision == BPNN_F32 ? 4 : 8;
    size += 8 + model->param_count * element + CRC_SIZE;
    return size;
}

static void encode(const bpnn_model *model, unsigned char *data, size_t size)
{
    unsigned char *at = data;
    memcpy(at, model_magic, MAGIC_SIZE);
    at += MAGIC_SIZE;
    at = put_u32(at, BPNN_MODEL_FORMAT_VERSION);
    at = put_u32(at, (uint32_t)model->precision);
    at = put_u32(at, (uint32_t)model->layer_count);
    for (int l = 0; l < model->layer_count; l++)
        at = put_u32(at, (uint32_t)model->sizes[l]);
    at = put_u32(at, (uint32_t)(int32_t)model->label_offset);
    at = put_u32(at, (uint32_t)model->image_width);
    at = put_u32(at, (uint32_t)model->image_height);
    at = put_f64(at, model->lambda);
    at = put_u32(at, (uint32_t)model->epoch);
    at = put_u32(at, (uint32_t)model->normalization);
    if (model->normalization != BPNN_NORMALIZE_NONE) {
        for (int j = 0; j < model->sizes[0]; j++)
            at = put_f64(at, model->norm_shift[j]);
        for (int j = 0; j < model->sizes[0]; j++)
            at = put_f64(at, model->norm_scale[j]);
    }
    at = put_u32(at, model->class_names ? 1u : 0u);
    if (model->class_names)
        for (int k = 0; k < bpnn_model_class_count(model); k++) {
            size_t length = strlen(model->class_names[k]);
            at = put_u32(at, (uint32_t)length);
            memcpy(at, model->class_names[k], length);
            at += length;
        }
    at = put_u64(at, (uint64_t)model->param_count);
    if (model->precision == BPNN_F32)
        for (size_t i = 0; i < model->param_count; i++)
            at = put_f32(at, (float)model->params[i]);
    else
        for (size_t i = 0; i < model->param_count; i++)
            at = put_f64(at, model->params[i]);
    put_u32(at, le_crc32(data, size - CRC_SIZE));
}

bpnn_status bpnn_model_save(const bpnn_model *model, const char *path)
{
    if (!model)
        return bpnn_fail_null("bpnn_model_save", "model");
    if (!path)
        return bpnn_fail_null("bpnn_model_save", "path");
    BPNN_TRY(check_savable(model, path));
    size_t size = encoded_size(model);
    unsigned char *data = malloc(size);
    if (!data)
        return bpnn_fail_oom("model file contents");
    encode(model, data, size);
    bpnn_status status = bpnn_write_file_atomic(path, data, size, "model file");
    free(data);
    return status;
}

/* ---- loading ------------------------------------------------------------------ */

/* Where the parts of a model file lie, found without allocating. */
typedef struct layout {
    uint32_t precision;
    int layer_count;
    int sizes[BPNN_MAX_LAYERS];
    int32_t label_offset;
    int image_width, image_height;
    double lambda;
    int epoch;
    uint32_t normalization;
    size_t norm_at; /* the shift values, then the scale values */
    int has_names;
    size_t names_at; /* the first name's length field */
    size_t param_count;
    size_t params_at;
} layout;

/* Checks the layout after the prologue (magic and a supported `version`):
 * every field in range, every length within the file, nothing after the
 * parameters. */
static walk_result walk_layout(le_reader *r, uint32_t version, layout *lay, char *why,
                               size_t why_size)
{
    memset(lay, 0, sizeof *lay);
    r->at = PROLOGUE_SIZE;

    LE_NEED(8);
    lay->precision = le_take_u32(r);
    if (lay->precision > 1)
        LE_BAD("unknown precision code %" PRIu32, lay->precision);
    uint32_t layer_count = le_take_u32(r);
    if (layer_count < 2 || layer_count > BPNN_MAX_LAYERS)
        LE_BAD("layer count %" PRIu32 " is outside 2..%d", layer_count, BPNN_MAX_LAYERS);
    lay->layer_count = (int)layer_count;
    LE_NEED(4 * (size_t)layer_count);
    for (int l = 0; l < lay->layer_count; l++) {
        uint32_t units = le_take_u32(r);
        if (units == 0 || units > INT_MAX)
            LE_BAD("layer %d has %" PRIu32 " units", l + 1, units);
        lay->sizes[l] = (int)units;
    }

    /* Version 1 predates mini-batch training and has no epoch field. */
    LE_NEED(4 + 8 + 8 + (version >= 2 ? 4 : 0) + 4);
    lay->label_offset = (int32_t)le_take_u32(r);
    uint32_t width = le_take_u32(r), height = le_take_u32(r);
    if (width > INT_MAX || height > INT_MAX)
        LE_BAD("image size %" PRIu32 "x%" PRIu32 " is implausible", width, height);
    lay->image_width = (int)width;
    lay->image_height = (int)height;
    lay->lambda = get_f64(r->data + r->at);
    r->at += 8;
    if (version >= 2) {
        uint32_t epoch = le_take_u32(r);
        if (epoch > INT_MAX)
            LE_BAD("epoch %" PRIu32 " is implausible", epoch);
        lay->epoch = (int)epoch;
    }
    lay->normalization = le_take_u32(r);
    if (lay->normalization > BPNN_NORMALIZE_MINMAX)
        LE_BAD("unknown normalization code %" PRIu32, lay->normalization);
    if (lay->normalization != BPNN_NORMALIZE_NONE) {
        size_t features = (size_t)lay->sizes[0];
        if (features > SIZE_MAX / 16) {
            le_have(r, SIZE_MAX);
            return WALK_SHORT;
        }
        LE_NEED(16 * features);
        lay->norm_at = r->at;
        r->at += 16 * features;
    }

    LE_NEED(4);
    uint32_t flag = le_take_u32(r);
    if (flag > 1)
        LE_BAD("class-name flag %" PRIu32 " is neither 0 nor 1", flag);
    lay->has_names = (int)flag;
    if (flag) {
        lay->names_at = r->at;
        int classes = lay->sizes[lay->layer_count - 1];
        for (int k = 0; k < classes; k++) {
            LE_NEED(4);
            size_t length = le_take_u32(r);
            LE_NEED(length);
            if (memchr(r->data + r->at, '\0', length))
                LE_BAD("class name %d contains a NUL byte", k + 1);
            r->at += length;
        }
    }

    LE_NEED(8);
    uint64_t stored = get_u64(r->data + r->at);
    r->at += 8;
    uint64_t expected = 0;
    for (int l = 0; l + 1 < lay->layer_count; l++) {
        uint64_t rows = (uint64_t)lay->sizes[l + 1], cols = (uint64_t)lay->sizes[l] + 1;
        if (rows > UINT64_MAX / cols || rows * cols > UINT64_MAX - expected)
            LE_BAD("the layer sizes give more parameters than can be counted");
        expected += rows * cols;
    }
    if (stored != expected)
        LE_BAD("parameter count %" PRIu64 " does not match the layer sizes (%" PRIu64 ")", stored,
               expected);
    size_t element = lay->precision == BPNN_F32 ? 4 : 8;
    if (expected > SIZE_MAX / element) {
        le_have(r, SIZE_MAX);
        return WALK_SHORT;
    }
    lay->param_count = (size_t)expected;
    LE_NEED(lay->param_count * element);
    lay->params_at = r->at;
    r->at += lay->param_count * element;

    if (r->at != r->size)
        LE_BAD("%zu unexpected bytes after the parameters", r->size - r->at);
    return WALK_OK;
}

#undef NEED
#undef BAD

static bpnn_status build_model(const unsigned char *data, const layout *lay, bpnn_model **out)
{
    bpnn_model *model;
    BPNN_TRY(
        bpnn_model_create(lay->layer_count, lay->sizes, (bpnn_precision)lay->precision, &model));
    model->lambda = lay->lambda;
    model->epoch = lay->epoch;
    model->label_offset = lay->label_offset;
    model->image_width = lay->image_width;
    model->image_height = lay->image_height;
    model->normalization = (bpnn_normalization)lay->normalization;
    if (model->normalization != BPNN_NORMALIZE_NONE) {
        size_t features = (size_t)model->sizes[0];
        model->norm_shift = malloc(features * sizeof *model->norm_shift);
        model->norm_scale = malloc(features * sizeof *model->norm_scale);
        if (!model->norm_shift || !model->norm_scale) {
            bpnn_model_free(model);
            return bpnn_fail_oom("normalization statistics");
        }
        const unsigned char *at = data + lay->norm_at;
        for (size_t j = 0; j < features; j++, at += 8)
            model->norm_shift[j] = get_f64(at);
        for (size_t j = 0; j < features; j++, at += 8)
            model->norm_scale[j] = get_f64(at);
    }
    if (lay->has_names) {
        int classes = bpnn_model_class_count(model);
        model->class_names = calloc((size_t)classes, sizeof *model->class_names);
        if (!model->class_names) {
            bpnn_model_free(model);
            return bpnn_fail_oom("class names");
        }
        const unsigned char *at = data + lay->names_at;
        for (int k = 0; k < classes; k++) {
            size_t length = get_u32(at);
            at += 4;
            model->class_names[k] = malloc(length + 1);
            if (!model->class_names[k]) {
                bpnn_model_free(model);
                return bpnn_fail_oom("class names");
            }
            memcpy(model->class_names[k], at, length);
            model->class_names[k][length] = '\0';
            at += length;
        }
    }
    const unsigned char *at = data + lay->params_at;
    if (model->precision == BPNN_F32)
        for (size_t i = 0; i < model->param_count; i++, at += 4)
            model->params[i] = (double)get_f32(at);
    else
        for (size_t i = 0; i < model->param_count; i++, at += 8)
            model->params[i] = get_f64(at);
    *out = model;
    return BPNN_OK;
}

/* Everything that can be said from the magic and the version alone. */
static bpnn_status check_prologue(const unsigned char *data, size_t size, const char *path)
{
    if (size == 0)
        return bpnn_fail(BPNN_ERR_INVALID, "model file is empty: %s", path);
    size_t compared = size < MAGIC_SIZE ? size : MAGIC_SIZE;
    if (memcmp(data, model_magic, compared) != 0)
        return bpnn_fail(BPNN_ERR_INVALID, "not a bpnn-cl model file: %s", path);
    if (size < PROLOGUE_SIZE)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "model file is truncated (%zu bytes, the header alone needs %d): %s", size,
                         PROLOGUE_SIZE, path);
    uint32_t version = get_u32(data + MAGIC_SIZE);
    if (version > BPNN_MODEL_FORMAT_VERSION)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "model format version %" PRIu32
                         " is newer than this bpnn-cl supports (%u): %s: upgrade bpnn-cl",
                         version, BPNN_MODEL_FORMAT_VERSION, path);
    if (version == 0)
        return bpnn_fail(BPNN_ERR_INVALID, "model file is corrupt (format version 0): %s", path);
    return BPNN_OK;
}

bpnn_status bpnn_model_load(const char *path, bpnn_model **out)
{
    if (!out)
        return bpnn_fail_null("bpnn_model_load", "out");
    *out = NULL;
    if (!path)
        return bpnn_fail_null("bpnn_model_load", "path");
    unsigned char *data;
    size_t size;
    BPNN_TRY(bpnn_read_file_bytes(path, model_magic, MAGIC_SIZE, "model file", &data, &size));
    bpnn_status status = check_prologue(data, size, path);
    if (status != BPNN_OK) {
        free(data);
        return status;
    }

    int crc_ok;
    le_reader r = le_reader_over(data, size, PROLOGUE_SIZE, &crc_ok);
    layout lay;
    char why[160] = "";
    walk_result walk = walk_layout(&r, get_u32(data + MAGIC_SIZE), &lay, why, sizeof why);

    if (walk == WALK_SHORT) {
        if (r.needed == SIZE_MAX)
            status =
                bpnn_fail(BPNN_ERR_INVALID, "model file is truncated (%zu bytes): %s", size, path);
        else
            status = bpnn_fail(BPNN_ERR_INVALID,
                               "model file is truncated (%zu bytes, the layout needs at least "
                               "%zu): %s",
                               size, r.needed, path);
    } else if (!crc_ok) {
        status = bpnn_fail(BPNN_ERR_INVALID, "model file is corrupt (CRC mismatch): %s", path);
    } else if (walk == WALK_BAD) {
        status = bpnn_fail(BPNN_ERR_INVALID, "model file is corrupt (%s): %s", why, path);
    } else {
        status = build_model(data, &lay, out);
    }
    /* intact and well formed, but numbers no model can hold (written by
     * hand or by another program): refused rather than predicting NaN */
    const char *bad = status == BPNN_OK ? check_values(*out, why, sizeof why) : NULL;
    if (bad) {
        bpnn_model_free(*out);
        *out = NULL;
        status = bpnn_fail(BPNN_ERR_INVALID, "model file is corrupt (%s): %s", bad, path);
    }
    free(data);
    return status;
}
