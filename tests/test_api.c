/* test_api.c — the public API refuses what would corrupt it: NULL where
 * bpnn.h does not allow it, labels outside the output layer, model files
 * holding numbers no model can have, layer sizes whose products overflow;
 * and an interrupted training still reports how far it got. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "backend/backend.h"
#include "bpnn.h"
#include "core/network.h"
#include "testutil.h"

static bpnn_device *open_cpu(void)
{
    bpnn_device *device = NULL;
    ck_assert_int_eq(bpnn_device_open("cpu", BPNN_F64, &device), BPNN_OK);
    return device;
}

/* A status of BPNN_ERR_INVALID whose message names the function and the
 * argument. */
#define ck_assert_null_refused(call, function, argument)                                           \
    do {                                                                                           \
        ck_assert_int_eq((call), BPNN_ERR_INVALID);                                                \
        ck_assert_msg(strstr(bpnn_error_message(), function) &&                                    \
                          strstr(bpnn_error_message(), argument " is NULL"),                       \
                      "message: %s", bpnn_error_message());                                        \
    } while (0)

START_TEST(test_null_arguments_refused)
{
    static const int sizes[] = {3, 5, 3};
    bpnn_device *cpu = open_cpu();
    bpnn_model *model;
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_debug_problem(3, sizes, 5, BPNN_F64, &model, &data), BPNN_OK);
    bpnn_train_options options;
    bpnn_train_options_default(&options);
    bpnn_train_result result;
    double cost, seconds[1];
    int32_t classes[5];

    ck_assert_null_refused(bpnn_train(cpu, model, &data, NULL, &result), "bpnn_train", "options");
    ck_assert_null_refused(bpnn_train(cpu, model, &data, &options, NULL), "bpnn_train", "result");
    ck_assert_null_refused(bpnn_train(NULL, model, &data, &options, &result), "bpnn_train",
                           "device");
    ck_assert_null_refused(bpnn_train(cpu, NULL, &data, &options, &result), "bpnn_train", "model");
    ck_assert_null_refused(bpnn_train(cpu, model, NULL, &options, &result), "bpnn_train", "data");
    /* alone, a gather is a copy */
    double mine[2] = {1.5, -2}, *all = NULL;
    ck_assert_null_refused(bpnn_gather(&options, mine, 2, NULL), "bpnn_gather", "all");
    ck_assert_null_refused(bpnn_gather(&options, NULL, 2, &all), "bpnn_gather", "mine");
    ck_assert_int_eq(bpnn_gather(NULL, mine, 2, &all), BPNN_OK);
    ck_assert(all[0] == 1.5 && all[1] == -2);
    free(all);
    bpnn_memory_plan plan;
    ck_assert_null_refused(bpnn_train_plan(cpu, model, &data, &options, NULL), "bpnn_train_plan",
                           "out");
    ck_assert_null_refused(bpnn_train_plan(NULL, model, &data, &options, &plan), "bpnn_train_plan",
                           "device");
    ck_assert_null_refused(bpnn_train_plan(cpu, model, &data, NULL, &plan), "bpnn_train_plan",
                           "options");
    /* host memory: resident, no limit */
    ck_assert_int_eq(bpnn_train_plan(cpu, model, &data, &options, &plan), BPNN_OK);
    ck_assert_int_eq(plan.streamed, 0);
    ck_assert_uint_gt(plan.resident_bytes, 0);
    ck_assert_uint_eq(plan.device_memory, 0);
    ck_assert_null_refused(bpnn_cost_gradient(cpu, model, &data, 0, NULL, NULL),
                           "bpnn_cost_gradient", "cost");
    ck_assert_null_refused(bpnn_cost_gradient(NULL, model, &data, 0, &cost, NULL),
                           "bpnn_cost_gradient", "device");
    ck_assert_null_refused(bpnn_predict(cpu, model, &data, NULL), "bpnn_predict", "classes");
    ck_assert_null_refused(bpnn_predict(cpu, NULL, &data, classes), "bpnn_predict", "model");
    ck_assert_null_refused(bpnn_time_evaluations(cpu, model, &data, 0, 1, NULL),
                           "bpnn_time_evaluations", "seconds");
    ck_assert_int_eq(bpnn_time_evaluations(cpu, model, &data, 0, 0, NULL), BPNN_OK);
    ck_assert_null_refused(bpnn_time_evaluations(cpu, model, NULL, 0, 1, seconds),
                           "bpnn_time_evaluations", "data");
    ck_assert_null_refused(bpnn_model_create(3, sizes, BPNN_F64, NULL), "bpnn_model_create", "out");
    bpnn_model *other = (bpnn_model *)1;
    ck_assert_null_refused(bpnn_model_create(3, NULL, BPNN_F64, &other), "bpnn_model_create",
                           "sizes");
    ck_assert_ptr_null(other);
    ck_assert_null_refused(bpnn_model_set_class_names(NULL, NULL), "bpnn_model_set_class_names",
                           "model");
    ck_assert_null_refused(bpnn_model_save(NULL, "/tmp/x"), "bpnn_model_save", "model");
    ck_assert_null_refused(bpnn_model_save(model, NULL), "bpnn_model_save", "path");
    ck_assert_null_refused(bpnn_model_load("/tmp/x", NULL), "bpnn_model_load", "out");
    ck_assert_null_refused(bpnn_model_load(NULL, &other), "bpnn_model_load", "path");
    ck_assert_null_refused(bpnn_device_open("cpu", BPNN_F64, NULL), "bpnn_device_open", "out");
    bpnn_dataset debug;
    ck_assert_null_refused(bpnn_debug_problem(3, sizes, 5, BPNN_F64, NULL, &debug),
                           "bpnn_debug_problem", "model");
    ck_assert_null_refused(bpnn_debug_problem(3, sizes, 5, BPNN_F64, &other, NULL),
                           "bpnn_debug_problem", "data");
    ck_assert_null_refused(bpnn_gradient_check(cpu, 3, sizes, 5, 0, 1e-4, NULL),
                           "bpnn_gradient_check", "out");
    bpnn_gradcheck check;
    ck_assert_null_refused(bpnn_gradient_check(NULL, 3, sizes, 5, 0, 1e-4, &check),
                           "bpnn_gradient_check", "device");

    /* NULL where bpnn.h allows it */
    ck_assert_int_eq(bpnn_cost_gradient(cpu, model, &data, 0, &cost, NULL), BPNN_OK);
    ck_assert_int_eq(bpnn_model_set_class_names(model, NULL), BPNN_OK);
    bpnn_model_free(NULL);
    bpnn_dataset_free(NULL);
    bpnn_gradcheck_free(NULL);
    bpnn_device_close(NULL);
    bpnn_device *device = NULL;
    ck_assert_int_eq(bpnn_device_open(NULL, BPNN_F64, &device), BPNN_OK); /* "auto" */
    bpnn_device_close(device);
    /* functions without a status */
    bpnn_train_options_default(NULL);
    bpnn_init_random(NULL, 1);
    bpnn_init_debug(NULL, 3);
    ck_assert_int_eq(bpnn_model_class_count(NULL), 0);
    ck_assert_int_eq(bpnn_dataset_class_count(NULL), 0);
    ck_assert_uint_eq(bpnn_param_count(3, NULL), 0);
    ck_assert_str_eq(bpnn_device_spec(NULL), "");
    ck_assert_str_eq(bpnn_device_name(NULL), "");
    ck_assert_str_eq(bpnn_device_description(NULL), "");
    ck_assert_ptr_null(bpnn_device_blas_core(NULL));
    bpnn_device_stats stats = {.gemm_calls = 7};
    bpnn_device_get_stats(NULL, &stats);
    ck_assert_uint_eq(stats.gemm_calls, 0);
    bpnn_device_get_stats(cpu, NULL);
    bpnn_device_set_profiling(NULL, 1);

    bpnn_model_free(model);
    bpnn_dataset_free(&data);
    bpnn_device_close(cpu);
}
END_TEST

/* Other arguments no run can use. */
START_TEST(test_unusable_arguments_refused)
{
    static const int sizes[] = {3, 5, 3};
    bpnn_device *cpu = open_cpu();
    bpnn_model *model;
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_debug_problem(3, sizes, 5, BPNN_F64, &model, &data), BPNN_OK);
    bpnn_model *other = NULL;
    ck_assert_int_eq(bpnn_model_create(3, sizes, (bpnn_precision)7, &other), BPNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "precision"));
    bpnn_device *device = NULL;
    ck_assert_int_eq(bpnn_device_open("cpu", (bpnn_precision)-1, &device), BPNN_ERR_INVALID);
    ck_assert_ptr_null(device);
    bpnn_dataset none;
    ck_assert_int_eq(bpnn_debug_problem(3, sizes, 0, BPNN_F64, &other, &none), BPNN_ERR_INVALID);
    ck_assert_ptr_null(other);
    bpnn_gradcheck check;
    ck_assert_int_eq(bpnn_gradient_check(cpu, 3, sizes, 5, 0, 0, &check), BPNN_ERR_INVALID);
    ck_assert_int_eq(bpnn_gradient_check(cpu, 3, sizes, 5, 0, NAN, &check), BPNN_ERR_INVALID);
    static const char *const names[] = {"a", NULL, "c"};
    ck_assert_int_eq(bpnn_model_set_class_names(model, names), BPNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "names[1]"));
    ck_assert_ptr_null(model->class_names);

    bpnn_train_options options;
    bpnn_train_options_default(&options);
    bpnn_train_result result;
    for (int k = 0; k < 3; k++) {
        options.lambda = k == 0 ? -1 : k == 1 ? NAN : INFINITY;
        ck_assert_int_eq(bpnn_train(cpu, model, &data, &options, &result), BPNN_ERR_INVALID);
        ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "lambda"));
    }
    bpnn_train_options_default(&options);
    /* a model whose parameter vector does not match its layers */
    model->param_count--;
    ck_assert_int_eq(bpnn_train(cpu, model, &data, &options, &result), BPNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "do not agree"));
    double cost;
    ck_assert_int_eq(bpnn_cost_gradient(cpu, model, &data, 0, &cost, NULL), BPNN_ERR_INVALID);
    model->param_count++;
    double *params = model->params;
    model->params = NULL;
    ck_assert_int_eq(bpnn_cost_gradient(cpu, model, &data, 0, &cost, NULL), BPNN_ERR_INVALID);
    model->params = params;
    double *x = data.x;
    data.x = NULL;
    ck_assert_int_eq(bpnn_cost_gradient(cpu, model, &data, 0, &cost, NULL), BPNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "x is NULL"));
    data.x = x;
    bpnn_model_free(model);
    bpnn_dataset_free(&data);
    bpnn_device_close(cpu);
}
END_TEST

/* ---- labels ------------------------------------------------------------------ */

/* _i: 0 the training data, 1 the validation data, 2 the test data; each
 * with a label K (one past the output layer) and then -1, in row 4. */
START_TEST(test_train_refuses_labels_outside_output_layer)
{
    static const int sizes[] = {3, 5, 3};
    static const char *const sets[] = {"training data", "validation data", "test data"};
    bpnn_device *cpu = open_cpu();
    bpnn_model *model;
    bpnn_dataset data, other;
    ck_assert_int_eq(bpnn_debug_problem(3, sizes, 5, BPNN_F64, &model, &data), BPNN_OK);
    bpnn_model *unused;
    ck_assert_int_eq(bpnn_debug_problem(3, sizes, 5, BPNN_F64, &unused, &other), BPNN_OK);
    bpnn_model_free(unused);
    double before[64];
    memcpy(before, model->params, model->param_count * sizeof *before);
    bpnn_train_options options;
    bpnn_train_options_default(&options);
    options.max_iter = 3;
    if (_i == 1) {
        options.optimizer = BPNN_OPT_SGD;
        options.validation = &other;
    } else if (_i == 2) {
        options.test = &other;
    }
    bpnn_dataset *bad = _i == 0 ? &data : &other;
    for (int k = 0; k < 2; k++) {
        bad->labels[3] = k == 0 ? 3 : -1;
        bpnn_train_result result;
        ck_assert_int_eq(bpnn_train(cpu, model, &data, &options, &result), BPNN_ERR_INVALID);
        const char *message = bpnn_error_message();
        ck_assert_msg(strstr(message, sets[_i]) && strstr(message, "row 4"), "message: %s",
                      message);
        ck_assert_int_eq(memcmp(before, model->params, model->param_count * sizeof *before), 0);
    }
    /* the cost too: a label outside the outputs matches no output */
    double cost;
    data.labels[3] = 3;
    ck_assert_int_eq(bpnn_cost_gradient(cpu, model, &data, 0, &cost, NULL), BPNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "row 4"));
    bpnn_model_free(model);
    bpnn_dataset_free(&data);
    bpnn_dataset_free(&other);
    bpnn_device_close(cpu);
}
END_TEST

/* ---- model files --------------------------------------------------------------- */

static unsigned char *read_whole(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    rewind(f);
    unsigned char *bytes = malloc(*size);
    ck_assert_ptr_nonnull(bytes);
    ck_assert_uint_eq(fread(bytes, 1, *size, f), *size);
    fclose(f);
    return bytes;
}

/* Writes `bytes` with the CRC32 trailer recomputed, as a program that wrote
 * such numbers would. */
static void write_with_crc(const char *path, unsigned char *bytes, size_t size)
{
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), bytes, (uInt)(size - 4));
    for (int i = 0; i < 4; i++)
        bytes[size - 4 + (size_t)i] = (unsigned char)(crc >> (8 * i));
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, size, f), size);
    fclose(f);
}

static void put_f64(unsigned char *at, double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    for (int i = 0; i < 8; i++)
        at[i] = (unsigned char)(bits >> (8 * i));
}

/* An intact file (the CRC matches) of a 3-5-3 f64 model with zscore
 * statistics, one number replaced: loading it is BPNN_ERR_INVALID naming
 * the number. Offsets follow model_file.h's layout. */
START_TEST(test_model_load_refuses_bad_values)
{
    static const int sizes[] = {3, 5, 3};
    static const struct {
        const char *what; /* in the message */
        int field;        /* 0 lambda, 1 a shift, 2 a scale, 3 the last parameter */
        double value;
    } cases[] = {{"parameter 38", 3, NAN},
                 {"parameter 38", 3, INFINITY},
                 {"scale of feature 2", 2, 0},
                 {"scale of feature 2", 2, -1},
                 {"scale of feature 2", 2, NAN},
                 {"shift of feature 2", 1, INFINITY},
                 {"lambda", 0, NAN},
                 {"lambda", 0, -2}};
    const char *dir = test_tmpdir();
    char good[256], bad[256];
    snprintf(good, sizeof good, "%s/good.model", dir);
    snprintf(bad, sizeof bad, "%s/bad.model", dir);
    bpnn_model *model;
    ck_assert_int_eq(bpnn_model_create(3, sizes, BPNN_F64, &model), BPNN_OK);
    bpnn_init_debug(model->params, model->param_count);
    model->lambda = 1;
    model->normalization = BPNN_NORMALIZE_ZSCORE;
    model->norm_shift = calloc(3, sizeof(double));
    model->norm_scale = malloc(3 * sizeof(double));
    ck_assert_ptr_nonnull(model->norm_shift);
    ck_assert_ptr_nonnull(model->norm_scale);
    for (int j = 0; j < 3; j++)
        model->norm_scale[j] = 2;
    ck_assert_int_eq(bpnn_model_save(model, good), BPNN_OK);
    bpnn_model *loaded;
    ck_assert_int_eq(bpnn_model_load(good, &loaded), BPNN_OK);
    bpnn_model_free(loaded);

    size_t size;
    unsigned char *bytes = read_whole(good, &size);
    const size_t lambda_at = 8 + 4 + 4 + 4 + 4 * 3 + 4 + 8;
    const size_t shift_at = lambda_at + 8 + 4 + 4;
    const size_t at[] = {lambda_at, shift_at + 8, shift_at + 3 * 8 + 8, size - 4 - 8};
    unsigned char *copy = malloc(size);
    ck_assert_ptr_nonnull(copy);
    for (size_t n = 0; n < sizeof cases / sizeof *cases; n++) {
        memcpy(copy, bytes, size);
        put_f64(copy + at[cases[n].field], cases[n].value);
        write_with_crc(bad, copy, size);
        loaded = (bpnn_model *)1;
        ck_assert_int_eq(bpnn_model_load(bad, &loaded), BPNN_ERR_INVALID);
        ck_assert_ptr_null(loaded);
        const char *message = bpnn_error_message();
        ck_assert_msg(strstr(message, "corrupt") && strstr(message, cases[n].what) &&
                          strstr(message, bad),
                      "%s = %g: %s", cases[n].what, cases[n].value, message);
    }
    /* and no such model is written */
    for (int field = 0; field < 4; field++) {
        double *target = field == 0   ? &model->lambda
                         : field == 1 ? &model->norm_shift[1]
                         : field == 2 ? &model->norm_scale[1]
                                      : &model->params[model->param_count - 1];
        double saved = *target;
        *target = NAN;
        ck_assert_int_eq(bpnn_model_save(model, bad), BPNN_ERR_INVALID);
        ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "inconsistent"));
        *target = saved;
    }
    free(copy);
    free(bytes);
    bpnn_model_free(model);
}
END_TEST

/* ---- sizes ------------------------------------------------------------------------ */

/* Five layers of 2^31 - 1 units, then 4 and 1: the parameter count is
 * 4 (2^62 - 2^31) + 2^33 + 5 = 2^64 + 5, which a size_t sum wraps to 5. */
START_TEST(test_layer_products_overflow)
{
    static const int wrapping[] = {INT_MAX, INT_MAX, INT_MAX, INT_MAX, INT_MAX, 4, 1};
    ck_assert(bpnn_param_count(7, wrapping) == SIZE_MAX);
    bpnn_model *model = (bpnn_model *)1;
    ck_assert_int_eq(bpnn_model_create(7, wrapping, BPNN_F32, &model), BPNN_ERR_INVALID);
    ck_assert_ptr_null(model);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "too large"));
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_debug_problem(7, wrapping, 1, BPNN_F32, &model, &data), BPNN_ERR_INVALID);
    ck_assert_ptr_null(model);
    /* m rows of 3 features as doubles: more bytes than a size_t holds */
    static const int small[] = {3, 2, 2};
    ck_assert_int_eq(bpnn_debug_problem(3, small, SIZE_MAX / 16, BPNN_F32, &model, &data),
                     BPNN_ERR_INVALID);
    ck_assert_ptr_null(model);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "too large"));
    /* a block of rows times a layer's units */
    backend *be;
    ck_assert_int_eq(cpu_backend_create(BPNN_F32, &be), BPNN_OK);
    be->batch_bytes = 0; /* one block of every row */
    static const int wide[] = {1, 1 << 30, 2};
    network *net = (network *)1;
    ck_assert_int_eq(network_create(be, 3, wide, (size_t)1 << 40, NULL, NULL, 1, &net),
                     BPNN_ERR_INVALID);
    ck_assert_ptr_null(net);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "too large"));
    bpnn_device_close(be);
}
END_TEST

/* ---- interrupted training ---------------------------------------------------------- */

typedef struct interrupter {
    bpnn_progress_kind kind;
    int at; /* raise the flag after this iteration (epoch) */
    int reports;
} interrupter;

static int interrupt_at(const bpnn_iteration *it, void *user)
{
    interrupter *i = user;
    if (it->kind == i->kind) {
        i->reports++;
        if (it->iteration == i->at)
            bpnn_interrupt_flag = 1;
    }
    return 0;
}

/* _i = 0: CG, 1: L-BFGS, 2: SGD (interrupted after its second epoch). */
START_TEST(test_interrupted_training_reports_progress)
{
    static const int sizes[] = {3, 5, 3};
    bpnn_device *cpu = open_cpu();
    bpnn_model *model;
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_debug_problem(3, sizes, 40, BPNN_F64, &model, &data), BPNN_OK);
    double before[64];
    memcpy(before, model->params, model->param_count * sizeof *before);
    bpnn_train_options options;
    bpnn_train_options_default(&options);
    interrupter stopper = {.kind = BPNN_PROGRESS_ITERATION, .at = 3};
    options.optimizer = _i == 0 ? BPNN_OPT_CG : _i == 1 ? BPNN_OPT_LBFGS : BPNN_OPT_SGD;
    if (_i == 2) {
        stopper.kind = BPNN_PROGRESS_EPOCH;
        stopper.at = 2;
        options.batch = 8; /* 5 steps an epoch */
    }
    options.progress = interrupt_at;
    options.progress_user = &stopper;
    bpnn_train_result result;
    bpnn_status status = bpnn_train(cpu, model, &data, &options, &result);
    bpnn_interrupt_flag = 0;
    ck_assert_int_eq(status, BPNN_ERR_INTERRUPTED);
    ck_assert_int_eq(stopper.reports, stopper.at);
    ck_assert_str_eq(result.stop_reason, "interrupted");
    ck_assert_int_eq(result.iterations, stopper.at);
    if (_i == 2)
        ck_assert_int_eq(result.evaluations, 2 * 5);
    else
        ck_assert_int_gt(result.evaluations, result.iterations);
    ck_assert(isnan(result.final_cost));
    ck_assert(result.train_accuracy == -1);
    ck_assert(result.train_seconds >= 0);
    ck_assert_int_eq(memcmp(before, model->params, model->param_count * sizeof *before), 0);
    bpnn_model_free(model);
    bpnn_dataset_free(&data);
    bpnn_device_close(cpu);
}
END_TEST

/* The device list starts with the host path, the resolver agrees with it,
 * and the scores are the output layer's activations (checked against the
 * forward pass written out here) whose argmax is bpnn_predict's class. */
START_TEST(test_devices_and_scores)
{
    bpnn_device_info *list = NULL;
    size_t count = 0;
    ck_assert_int_eq(bpnn_list_devices(&list, &count), BPNN_OK);
    ck_assert_uint_ge(count, 1);
    ck_assert_str_eq(list[0].spec, "cpu");
    ck_assert_str_eq(list[0].type, "host");
    ck_assert_int_eq(list[0].fp64, 1);
    ck_assert_int_eq(list[0].platform_index, -1);
    for (size_t i = 1; i < count; i++) {
        ck_assert_int_eq(strncmp(list[i].spec, "opencl:", 7), 0);
        ck_assert_uint_gt(list[i].global_memory, 0);
        ck_assert_uint_le(list[i].max_allocation, list[i].global_memory);
    }
    char spec[32];
    ck_assert_int_eq(bpnn_device_resolve("auto", BPNN_F64, spec, sizeof spec), BPNN_OK);
    ck_assert(spec[0] != '\0');
    ck_assert_int_eq(bpnn_device_resolve("cpu", BPNN_F32, spec, sizeof spec), BPNN_OK);
    ck_assert_str_eq(spec, "cpu");
    ck_assert_int_eq(bpnn_device_resolve("fpga", BPNN_F32, spec, sizeof spec), BPNN_ERR_INVALID);
    bpnn_device_list_free(list);

    static const int sizes[] = {4, 5, 3};
    bpnn_device *cpu = open_cpu();
    bpnn_model *model;
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_debug_problem(3, sizes, 30, BPNN_F64, &model, &data), BPNN_OK);
    double scores[30 * 3];
    int32_t classes[30];
    ck_assert_int_eq(bpnn_predict_scores(cpu, model, &data, scores), BPNN_OK);
    ck_assert_int_eq(bpnn_predict(cpu, model, &data, classes), BPNN_OK);
    const double *theta1 = model->params, *theta2 = model->params + 5 * 5;
    for (size_t i = 0; i < data.rows; i++) {
        double hidden[5], best = -1;
        int argmax = -1;
        for (int h = 0; h < 5; h++) { /* Theta1 is 5 x (1 + 4), bias first */
            double z = theta1[h * 5];
            for (int j = 0; j < 4; j++)
                z += theta1[h * 5 + 1 + j] * data.x[i * 4 + j];
            hidden[h] = 1 / (1 + exp(-z));
        }
        for (int k = 0; k < 3; k++) {
            double z = theta2[k * 6];
            for (int h = 0; h < 5; h++)
                z += theta2[k * 6 + 1 + h] * hidden[h];
            ck_assert_rel(scores[i * 3 + k], 1 / (1 + exp(-z)), 1e-14);
            if (scores[i * 3 + k] > best) {
                best = scores[i * 3 + k];
                argmax = k;
            }
        }
        ck_assert_int_eq(argmax, classes[i]);
    }
    ck_assert_null_refused(bpnn_predict_scores(cpu, model, &data, NULL), "bpnn_predict_scores",
                           "scores");
    bpnn_model_free(model);
    bpnn_dataset_free(&data);
    bpnn_device_close(cpu);
}
END_TEST

static Suite *api_suite(void)
{
    Suite *s = suite_create("api");
    TCase *t = tcase_create("refusals");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_null_arguments_refused);
    tcase_add_test(t, test_unusable_arguments_refused);
    tcase_add_loop_test(t, test_train_refuses_labels_outside_output_layer, 0, 3);
    tcase_add_test(t, test_model_load_refuses_bad_values);
    tcase_add_test(t, test_layer_products_overflow);
    tcase_add_test(t, test_devices_and_scores);
    suite_add_tcase(s, t);
    t = tcase_create("interrupted");
    tcase_set_timeout(t, 60);
    tcase_add_loop_test(t, test_interrupted_training_reports_progress, 0, 3);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(api_suite());
}
