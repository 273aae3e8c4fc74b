/* test_minibatch.c — mini-batch training on the CPU path through the public
 * API: each optimizer descends, shuffles are reproducible, the validation
 * split, early stopping, checkpoints and exact resume, refused checkpoints,
 * memory planning and streaming, the divergence guard, the schedules. */
#include <stdint.h>
#include <string.h>

#include "backend/backend.h"
#include "bpnn.h"
#include "core/minibatch.h"
#include "core/random.h"
#include "testutil.h"

/* Three noisy Gaussian blobs in `features` dimensions: separable enough to
 * learn, noisy enough that validation cost eventually rises on few rows. */
static void make_blobs(size_t rows, size_t features, uint64_t seed, double noise, bpnn_dataset *out)
{
    *out = (bpnn_dataset){.rows = rows, .features = features};
    out->x = malloc(rows * features * sizeof *out->x);
    out->labels = malloc(rows * sizeof *out->labels);
    ck_assert(out->x && out->labels);
    xoshiro256 g;
    xoshiro256_seed(&g, seed);
    for (size_t i = 0; i < rows; i++) {
        int k = (int)(i % 3);
        out->labels[i] = k;
        for (size_t j = 0; j < features; j++) {
            double centre = (j % 3 == (size_t)k) ? 1.0 : -0.5;
            out->x[i * features + j] = centre + noise * (2 * xoshiro256_uniform(&g) - 1);
        }
    }
}

static bpnn_device *open_cpu(bpnn_precision precision)
{
    bpnn_device *device = NULL;
    ck_assert_int_eq(bpnn_device_open("cpu", precision, &device), BPNN_OK);
    return device;
}

static bpnn_model *new_model(size_t features, int hidden, bpnn_precision precision)
{
    int sizes[3] = {(int)features, hidden, 3};
    bpnn_model *model = NULL;
    ck_assert_int_eq(bpnn_model_create(3, sizes, precision, &model), BPNN_OK);
    bpnn_init_random(model, 7);
    return model;
}

static void minibatch_options(bpnn_train_options *o, bpnn_optimizer optimizer, int epochs)
{
    bpnn_train_options_default(o);
    o->optimizer = optimizer;
    o->epochs = epochs;
    o->batch = 32;
    o->lambda = 0.1;
}

/* Trains a fresh model; returns it with the result. */
static bpnn_model *train(bpnn_device *device, const bpnn_dataset *data, const bpnn_train_options *o,
                         bpnn_status expect, bpnn_train_result *r)
{
    bpnn_model *model = new_model(data->features, 8, device->precision);
    bpnn_status status = bpnn_train(device, model, data, o, r);
    ck_assert_msg(status == expect, "bpnn_train: %d, expected %d: %s", status, expect,
                  bpnn_error_message());
    return model;
}

static double cost_of(bpnn_device *device, const bpnn_model *model, const bpnn_dataset *data,
                      double lambda)
{
    double cost;
    ck_assert_int_eq(bpnn_cost_gradient(device, model, data, lambda, &cost, NULL), BPNN_OK);
    return cost;
}

START_TEST(test_each_optimizer_descends)
{
    static const bpnn_optimizer optimizers[] = {BPNN_OPT_SGD, BPNN_OPT_MOMENTUM, BPNN_OPT_ADAM};
    bpnn_device *device = open_cpu(BPNN_F64);
    bpnn_dataset data;
    make_blobs(300, 6, 1, 0.8, &data);
    bpnn_model *start = new_model(6, 8, BPNN_F64);
    double initial = cost_of(device, start, &data, 0.1);
    for (int nesterov = 0; nesterov < 2; nesterov++) {
        for (size_t i = 0; i < sizeof optimizers / sizeof *optimizers; i++) {
            bpnn_train_options o;
            minibatch_options(&o, optimizers[i], 20);
            o.nesterov = nesterov;
            if (optimizers[i] == BPNN_OPT_ADAM)
                o.learning_rate = 0.02; /* 200 steps are few for the default */
            bpnn_train_result r;
            bpnn_model *model = train(device, &data, &o, BPNN_OK, &r);
            double final = cost_of(device, model, &data, 0.1);
            ck_assert_msg(final < 0.5 * initial, "%s: cost %g from %g",
                          bpnn_optimizer_name(optimizers[i]), final, initial);
            ck_assert_rel(r.final_cost, final, 1e-12);
            ck_assert_msg(r.train_accuracy > 0.9, "%s: accuracy %g",
                          bpnn_optimizer_name(optimizers[i]), r.train_accuracy);
            /* 300 rows in batches of 32: 9 full batches and one of 12 */
            ck_assert_int_eq(r.evaluations, 20 * 10);
            ck_assert_int_eq(r.iterations, 20);
            ck_assert_int_eq(model->epoch, 20);
            ck_assert_str_eq(r.stop_reason, "epochs");
            bpnn_model_free(model);
        }
    }
    bpnn_model_free(start);
    bpnn_dataset_free(&data);
    bpnn_device_close(device);
}
END_TEST

/* The same seed gives the same batches and so the same parameters, bit for
 * bit; another seed another order. */
START_TEST(test_shuffle_determinism)
{
    bpnn_device *device = open_cpu(BPNN_F32);
    bpnn_dataset data;
    make_blobs(200, 5, 2, 0.8, &data);
    bpnn_train_options o;
    minibatch_options(&o, BPNN_OPT_ADAM, 3);
    bpnn_train_result r;
    bpnn_model *a = train(device, &data, &o, BPNN_OK, &r);
    bpnn_model *b = train(device, &data, &o, BPNN_OK, &r);
    o.seed = 2;
    bpnn_model *c = train(device, &data, &o, BPNN_OK, &r);
    ck_assert(memcmp(a->params, b->params, a->param_count * sizeof *a->params) == 0);
    ck_assert(memcmp(a->params, c->params, a->param_count * sizeof *a->params) != 0);

    /* the permutation itself: a permutation, a function of (seed, stream) */
    int32_t p1[1000], p2[1000], seen[1000] = {0};
    xoshiro256 g;
    xoshiro256_seed_stream(&g, 5, RANDOM_STREAM_EPOCH0 + 3);
    xoshiro256_permutation(&g, 1000, p1);
    xoshiro256_seed_stream(&g, 5, RANDOM_STREAM_EPOCH0 + 3);
    xoshiro256_permutation(&g, 1000, p2);
    ck_assert(memcmp(p1, p2, sizeof p1) == 0);
    for (int i = 0; i < 1000; i++)
        seen[p1[i]]++;
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(seen[i], 1);
    xoshiro256_seed_stream(&g, 5, RANDOM_STREAM_EPOCH0 + 4);
    xoshiro256_permutation(&g, 1000, p2);
    ck_assert(memcmp(p1, p2, sizeof p1) != 0);
    bpnn_model_free(a);
    bpnn_model_free(b);
    bpnn_model_free(c);
    bpnn_dataset_free(&data);
    bpnn_device_close(device);
}
END_TEST

START_TEST(test_validation_split)
{
    bpnn_dataset data, val, again, val_again;
    make_blobs(101, 4, 3, 0.5, &data);
    make_blobs(101, 4, 3, 0.5, &again);
    /* each row tagged by its first value: the rows must be partitioned */
    for (size_t i = 0; i < data.rows; i++)
        data.x[i * 4] = again.x[i * 4] = (double)i;
    ck_assert_int_eq(bpnn_dataset_split(&data, 0.2, 9, &val), BPNN_OK);
    ck_assert_uint_eq(val.rows, 20);
    ck_assert_uint_eq(data.rows, 81);
    int seen[101] = {0};
    for (size_t i = 0; i < val.rows; i++)
        seen[(int)val.x[i * 4]]++;
    for (size_t i = 0; i < data.rows; i++) {
        seen[(int)data.x[i * 4]]++;
        ck_assert_int_eq(data.labels[i], (int)data.x[i * 4] % 3); /* labels follow rows */
        if (i > 0)
            ck_assert(data.x[i * 4] > data.x[(i - 1) * 4]); /* original order kept */
    }
    for (int i = 0; i < 101; i++)
        ck_assert_int_eq(seen[i], 1);
    /* the same seed holds out the same rows; another seed others */
    ck_assert_int_eq(bpnn_dataset_split(&again, 0.2, 9, &val_again), BPNN_OK);
    ck_assert(memcmp(val.x, val_again.x, val.rows * 4 * sizeof *val.x) == 0);
    bpnn_dataset_free(&again);
    bpnn_dataset_free(&val_again);
    make_blobs(101, 4, 3, 0.5, &again);
    for (size_t i = 0; i < again.rows; i++)
        again.x[i * 4] = (double)i;
    ck_assert_int_eq(bpnn_dataset_split(&again, 0.2, 10, &val_again), BPNN_OK);
    ck_assert(memcmp(val.x, val_again.x, val.rows * 4 * sizeof *val.x) != 0);
    /* nothing left on one side */
    bpnn_dataset tiny, tiny_val;
    make_blobs(3, 2, 1, 0.5, &tiny);
    ck_assert_int_eq(bpnn_dataset_split(&tiny, 0.01, 1, &tiny_val), BPNN_ERR_INVALID);
    ck_assert_int_eq(bpnn_dataset_split(&tiny, 1.0, 1, &tiny_val), BPNN_ERR_INVALID);
    ck_assert_uint_eq(tiny.rows, 3);
    bpnn_dataset_free(&tiny);
    bpnn_dataset_free(&data);
    bpnn_dataset_free(&val);
    bpnn_dataset_free(&again);
    bpnn_dataset_free(&val_again);
}
END_TEST

typedef struct epoch_log {
    int count;
    double val_cost[512];
    int stop_after; /* epochs; 0 never */
} epoch_log;

static int record_epochs(const bpnn_iteration *it, void *user)
{
    epoch_log *log = user;
    if (it->kind != BPNN_PROGRESS_EPOCH)
        return 0;
    ck_assert_int_eq(it->epoch, log->count + 1);
    log->val_cost[log->count++] = it->val_cost;
    return log->stop_after && log->count >= log->stop_after;
}

/* Few noisy rows, a high constant rate and many epochs: validation cost
 * turns up, training stops `patience` epochs after the best one and keeps
 * that epoch's parameters. */
START_TEST(test_early_stopping)
{
    bpnn_device *device = open_cpu(BPNN_F64);
    bpnn_dataset data, val;
    make_blobs(60, 6, 4, 2.5, &data);
    make_blobs(300, 6, 5, 2.5, &val);
    bpnn_train_options o;
    minibatch_options(&o, BPNN_OPT_ADAM, 400);
    o.lambda = 0;
    o.learning_rate = 0.05;
    o.lr_schedule = BPNN_LR_CONSTANT;
    o.batch = 8;
    o.validation = &val;
    o.patience = 5;
    epoch_log log = {0};
    o.progress = record_epochs;
    o.progress_user = &log;
    bpnn_train_result r;
    bpnn_model *model = train(device, &data, &o, BPNN_OK, &r);
    ck_assert_str_eq(r.stop_reason, "early_stopping");
    int best = 1;
    for (int e = 1; e <= log.count; e++)
        if (log.val_cost[e - 1] < log.val_cost[best - 1])
            best = e;
    ck_assert_int_eq(r.best_epoch, best);
    ck_assert_int_eq(log.count, best + o.patience);
    ck_assert_int_eq(model->epoch, best);
    ck_assert_int_eq(r.iterations, log.count);
    /* the parameters kept are the best epoch's: their validation cost is it */
    ck_assert_rel(cost_of(device, model, &val, 0), log.val_cost[best - 1], 1e-12);
    ck_assert_rel(r.val_cost, log.val_cost[best - 1], 1e-12);
    bpnn_model_free(model);
    /* patience without a validation set is refused */
    o.validation = NULL;
    model = train(device, &data, &o, BPNN_ERR_INVALID, &r);
    bpnn_model_free(model);
    bpnn_dataset_free(&data);
    bpnn_dataset_free(&val);
    bpnn_device_close(device);
}
END_TEST

static char checkpoint_path[256];

/* Stopped after 2 of 5 epochs (by the callback, after its checkpoint) and
 * resumed, a run ends where the uninterrupted one does, bit for bit. */
static void check_resume(bpnn_precision precision, bpnn_optimizer optimizer, int with_val)
{
    bpnn_device *device = open_cpu(precision);
    bpnn_dataset data, val;
    make_blobs(150, 5, 6, 0.9, &data);
    make_blobs(60, 5, 7, 0.9, &val);
    bpnn_train_options o;
    minibatch_options(&o, optimizer, 5);
    o.nesterov = optimizer == BPNN_OPT_MOMENTUM;
    if (with_val) {
        o.validation = &val;
        o.patience = 10;
    }
    snprintf(checkpoint_path, sizeof checkpoint_path, "%s/run.ckpt", test_tmpdir());
    bpnn_train_result whole, part, rest;
    bpnn_model *uninterrupted = train(device, &data, &o, BPNN_OK, &whole);

    epoch_log log = {.stop_after = 2};
    o.progress = record_epochs;
    o.progress_user = &log;
    o.checkpoint_path = checkpoint_path;
    bpnn_model *first = train(device, &data, &o, BPNN_OK, &part);
    ck_assert_str_eq(part.stop_reason, "stopped");
    ck_assert_int_eq(part.iterations, 2);

    o.progress = NULL;
    o.resume_path = checkpoint_path;
    bpnn_model *resumed = train(device, &data, &o, BPNN_OK, &rest);
    ck_assert_int_eq(rest.resumed_epoch, 2);
    ck_assert_int_eq(rest.iterations, 5);
    ck_assert_int_eq(rest.evaluations, whole.evaluations);
    ck_assert(memcmp(resumed->params, uninterrupted->params,
                     resumed->param_count * sizeof *resumed->params) == 0);
    ck_assert(memcmp(first->params, uninterrupted->params,
                     first->param_count * sizeof *first->params) != 0);
    ck_assert_int_eq(resumed->epoch, uninterrupted->epoch);
    bpnn_model_free(uninterrupted);
    bpnn_model_free(first);
    bpnn_model_free(resumed);
    bpnn_dataset_free(&data);
    bpnn_dataset_free(&val);
    bpnn_device_close(device);
}

START_TEST(test_resume_is_exact)
{
    check_resume(BPNN_F32, BPNN_OPT_ADAM, 0);
    check_resume(BPNN_F64, BPNN_OPT_MOMENTUM, 1);
    check_resume(BPNN_F32, BPNN_OPT_SGD, 1);
}
END_TEST

/* A checkpoint refuses a run that is not the one it was written for. */
START_TEST(test_mismatched_checkpoint_refused)
{
    bpnn_device *device = open_cpu(BPNN_F32);
    bpnn_dataset data, other;
    make_blobs(100, 5, 8, 0.9, &data);
    make_blobs(100, 5, 9, 0.9, &other);
    bpnn_train_options o;
    minibatch_options(&o, BPNN_OPT_ADAM, 2);
    snprintf(checkpoint_path, sizeof checkpoint_path, "%s/run.ckpt", test_tmpdir());
    o.checkpoint_path = checkpoint_path;
    bpnn_train_result r;
    bpnn_model_free(train(device, &data, &o, BPNN_OK, &r));
    o.resume_path = checkpoint_path;
    o.checkpoint_path = NULL;

    struct {
        const char *needle;
        bpnn_train_options options;
        const bpnn_dataset *data;
    } cases[5];
    for (int i = 0; i < 5; i++) {
        cases[i].options = o;
        cases[i].data = &data;
    }
    cases[0].needle = "batch";
    cases[0].options.batch = 16;
    cases[1].needle = "optimizer";
    cases[1].options.optimizer = BPNN_OPT_SGD;
    cases[2].needle = "data";
    cases[2].data = &other;
    cases[3].needle = "seed";
    cases[3].options.seed = 3;
    cases[4].needle = "lambda";
    cases[4].options.lambda = 0.2;
    for (int i = 0; i < 5; i++) {
        bpnn_model *model = train(device, cases[i].data, &cases[i].options, BPNN_ERR_INVALID, &r);
        ck_assert_msg(strstr(bpnn_error_message(), cases[i].needle) &&
                          strstr(bpnn_error_message(), checkpoint_path),
                      "case %d: %s", i, bpnn_error_message());
        bpnn_model_free(model);
    }
    /* another precision or network: the device and model differ */
    bpnn_device *f64 = open_cpu(BPNN_F64);
    bpnn_model *model = new_model(5, 8, BPNN_F64);
    ck_assert_int_eq(bpnn_train(f64, model, &data, &o, &r), BPNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "precision"));
    bpnn_model_free(model);
    model = new_model(5, 9, BPNN_F32);
    ck_assert_int_eq(bpnn_train(device, model, &data, &o, &r), BPNN_ERR_INVALID);
    bpnn_model_free(model);
    bpnn_device_close(f64);
    bpnn_dataset_free(&data);
    bpnn_dataset_free(&other);
    bpnn_device_close(device);
}
END_TEST

/* A device pretended to hold a quarter of the data set streams it and
 * reaches the resident run's parameters, bit for bit on the CPU path; one
 * that cannot hold even a batch refuses with the figures. */
START_TEST(test_streaming_matches_resident)
{
    bpnn_dataset data;
    make_blobs(4000, 100, 10, 0.9, &data);
    const bpnn_optimizer optimizers[] = {BPNN_OPT_ADAM, BPNN_OPT_CG};
    for (size_t i = 0; i < 2; i++) {
        unsetenv("BPNN_DEVICE_MEMORY");
        bpnn_device *device = open_cpu(BPNN_F64);
        bpnn_train_options o;
        minibatch_options(&o, optimizers[i], 3);
        o.max_iter = 15;
        bpnn_train_result resident, streamed;
        bpnn_model *a = train(device, &data, &o, BPNN_OK, &resident);
        ck_assert_int_eq(resident.streamed, 0);
        bpnn_device_close(device);

        /* a quarter of the data set; half for cg, which evaluates two sets in blocks */
        char memory[32];
        size_t share = optimizers[i] == BPNN_OPT_CG ? 2 : 4;
        snprintf(memory, sizeof memory, "%zu", data.rows * data.features * sizeof(double) / share);
        setenv("BPNN_DEVICE_MEMORY", memory, 1);
        device = open_cpu(BPNN_F64);
        bpnn_model *b = train(device, &data, &o, BPNN_OK, &streamed);
        ck_assert_int_eq(streamed.streamed, 1);
        if (optimizers[i] == BPNN_OPT_CG) {
            /* full-batch: the same sums in other blocks, so the last bits differ */
            for (size_t j = 0; j < a->param_count; j++)
                ck_assert(fabs(a->params[j] - b->params[j]) <= 1e-9 * (1 + fabs(a->params[j])));
        } else { /* every batch is one block either way: the same operations */
            ck_assert(memcmp(a->params, b->params, a->param_count * sizeof *a->params) == 0);
        }
        ck_assert_int_eq(streamed.evaluations, resident.evaluations);
        ck_assert_double_eq(streamed.train_accuracy, resident.train_accuracy);
        /* cg: last-bit differences grow over 15 iterations (measured 2.3e-12
         * relative at a cost of 0.0036, 8e-15 absolute) */
        ck_assert_rel(streamed.final_cost, resident.final_cost,
                      optimizers[i] == BPNN_OPT_CG ? 1e-11 : 1e-12);
        bpnn_device_close(device);
        bpnn_model_free(a);
        bpnn_model_free(b);
    }
    setenv("BPNN_DEVICE_MEMORY", "4K", 1);
    bpnn_device *device = open_cpu(BPNN_F64);
    bpnn_train_options o;
    minibatch_options(&o, BPNN_OPT_ADAM, 1);
    bpnn_train_result r;
    bpnn_model_free(train(device, &data, &o, BPNN_ERR_RUNTIME, &r));
    ck_assert_msg(strstr(bpnn_error_message(), "device memory too small") &&
                      strstr(bpnn_error_message(), "4.0 KiB"),
                  "%s", bpnn_error_message());
    bpnn_device_close(device);
    unsetenv("BPNN_DEVICE_MEMORY");
    bpnn_dataset_free(&data);
}
END_TEST

START_TEST(test_divergence_guard)
{
    bpnn_device *device = open_cpu(BPNN_F32);
    bpnn_dataset data;
    make_blobs(200, 5, 11, 0.9, &data);
    bpnn_train_options o;
    minibatch_options(&o, BPNN_OPT_SGD, 5);
    o.learning_rate = 1e6;
    o.lambda = 1;
    bpnn_train_result r;
    bpnn_model_free(train(device, &data, &o, BPNN_ERR_DIVERGED, &r));
    const char *message = bpnn_error_message();
    ck_assert_msg(strstr(message, "the cost is ") && strstr(message, "at epoch ") &&
                      strstr(message, ", step ") && strstr(message, "--lr"),
                  "%s", message);
    bpnn_dataset_free(&data);
    bpnn_device_close(device);
}
END_TEST

START_TEST(test_learning_rate_schedules)
{
    bpnn_train_options o;
    bpnn_train_options_default(&o);
    o.epochs = 4;
    o.lr_schedule = BPNN_LR_CONSTANT;
    ck_assert_double_eq(minibatch_learning_rate(&o, 0.1, 0, 10), 0.1);
    ck_assert_double_eq(minibatch_learning_rate(&o, 0.1, 39, 10), 0.1);
    o.lr_schedule = BPNN_LR_STEP;
    o.lr_step_epochs = 2;
    o.lr_decay = 0.5;
    ck_assert_double_eq(minibatch_learning_rate(&o, 0.1, 19, 10), 0.1);
    ck_assert_double_eq(minibatch_learning_rate(&o, 0.1, 20, 10), 0.05);
    o.lr_schedule = BPNN_LR_COSINE;
    ck_assert_double_eq(minibatch_learning_rate(&o, 0.1, 0, 10), 0.1);
    ck_assert_rel(minibatch_learning_rate(&o, 0.1, 20, 10), 0.05, 1e-15);
    ck_assert(minibatch_learning_rate(&o, 0.1, 39, 10) < 0.1 * 0.01);
    o.warmup_epochs = 1; /* linear from lr/10 to lr over the first 10 steps */
    ck_assert_rel(minibatch_learning_rate(&o, 0.1, 0, 10), 0.01, 1e-15);
    ck_assert_rel(minibatch_learning_rate(&o, 0.1, 9, 10), 0.1, 1e-15);
    ck_assert_rel(minibatch_learning_rate(&o, 0.1, 10, 10), 0.1, 1e-15);
    ck_assert_rel(minibatch_learning_rate(&o, 0.1, 25, 10), 0.05, 1e-15);
}
END_TEST

START_TEST(test_lbfgs_trains)
{
    bpnn_device *device = open_cpu(BPNN_F64);
    bpnn_dataset data;
    make_blobs(300, 6, 12, 1.2, &data);
    bpnn_train_options o;
    bpnn_train_options_default(&o);
    o.optimizer = BPNN_OPT_LBFGS;
    o.max_iter = 40;
    o.lambda = 0.1;
    bpnn_train_result lbfgs, cg;
    bpnn_model *a = train(device, &data, &o, BPNN_OK, &lbfgs);
    o.optimizer = BPNN_OPT_CG;
    bpnn_model *b = train(device, &data, &o, BPNN_OK, &cg);
    ck_assert_rel(lbfgs.final_cost, cost_of(device, a, &data, 0.1), 1e-12);
    ck_assert_msg(lbfgs.final_cost < 1.05 * cg.final_cost, "lbfgs %g, cg %g", lbfgs.final_cost,
                  cg.final_cost);
    ck_assert(lbfgs.train_accuracy > 0.9);
    ck_assert_int_eq(a->epoch, 0);
    /* validation and checkpoints are refused for full-batch optimizers */
    o.checkpoint_path = "/tmp/never";
    bpnn_model_free(train(device, &data, &o, BPNN_ERR_INVALID, &cg));
    bpnn_model_free(a);
    bpnn_model_free(b);
    bpnn_dataset_free(&data);
    bpnn_device_close(device);
}
END_TEST

static Suite *minibatch_suite(void)
{
    Suite *s = suite_create("minibatch");
    TCase *t = tcase_create("minibatch");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_each_optimizer_descends);
    tcase_add_test(t, test_shuffle_determinism);
    tcase_add_test(t, test_validation_split);
    tcase_add_test(t, test_early_stopping);
    tcase_add_test(t, test_resume_is_exact);
    tcase_add_test(t, test_mismatched_checkpoint_refused);
    tcase_add_test(t, test_streaming_matches_resident);
    tcase_add_test(t, test_divergence_guard);
    tcase_add_test(t, test_learning_rate_schedules);
    tcase_add_test(t, test_lbfgs_trains);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(minibatch_suite());
}
