/* train.c — the library's entry points for cost, training and prediction:
 * data and parameters go to the device once, the optimizer runs there, the
 * parameters come back once. Mini-batch optimizers are in minibatch.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cg.h"
#include "core/lbfgs.h"
#include "core/memory_plan.h"
#include "core/minibatch.h"
#include "core/network.h"
#include "core/scored_set.h"
#include "util/error.h"
#include "util/timer.h"

const char *bpnn_optimizer_name(bpnn_optimizer optimizer)
{
    static const char *const names[] = {"cg", "lbfgs", "sgd", "momentum", "adam"};
    return (unsigned)optimizer < sizeof names / sizeof *names ? names[optimizer] : "unknown";
}

int bpnn_optimizer_is_minibatch(bpnn_optimizer optimizer)
{
    return optimizer == BPNN_OPT_SGD || optimizer == BPNN_OPT_MOMENTUM ||
           optimizer == BPNN_OPT_ADAM;
}

/* Chosen on Fashion-MNIST, 784-256-10, batch 128, cosine schedule (README). */
double bpnn_default_learning_rate(bpnn_optimizer optimizer)
{
    switch (optimizer) {
    case BPNN_OPT_SGD: return 0.5;
    case BPNN_OPT_MOMENTUM: return 0.05;
    case BPNN_OPT_ADAM: return 5e-3;
    default: return 0;
    }
}

const char *bpnn_lr_schedule_name(bpnn_lr_schedule schedule)
{
    static const char *const names[] = {"constant", "step", "cosine"};
    return (unsigned)schedule < sizeof names / sizeof *names ? names[schedule] : "unknown";
}

void bpnn_train_options_default(bpnn_train_options *options)
{
    if (!options)
        return;
    *options = (bpnn_train_options){.lambda = 1.0,
                                    .optimizer = BPNN_OPT_CG,
                                    .max_iter = 100,
                                    .gtol = 1e-5,
                                    .history = 10,
                                    .epochs = 10,
                                    .batch = 128,
                                    .momentum = 0.9,
                                    .beta1 = 0.9,
                                    .beta2 = 0.999,
                                    .epsilon = 1e-8,
                                    .lr_schedule = BPNN_LR_COSINE,
                                    .lr_step_epochs = 3,
                                    .lr_decay = 0.1,
                                    .seed = 1,
                                    .checkpoint_every = 1,
                                    .ranks = 1};
}

static bpnn_status check_shapes(const bpnn_model *model, const bpnn_dataset *data, int need_labels)
{
    if (data->features != (size_t)model->sizes[0])
        return bpnn_fail(BPNN_ERR_INVALID,
                         "sizes do not match: the data have %zu features, the network's input "
                         "layer %d",
                         data->features, model->sizes[0]);
    if (data->rows == 0)
        return bpnn_fail(BPNN_ERR_INVALID, "no samples in the data");
    if (need_labels && !data->labels)
        return bpnn_fail(BPNN_ERR_INVALID, "the data have no labels");
    return BPNN_OK;
}

/* The pointers every entry point needs, and a model whose layout and
 * parameter vector agree: a hand-assembled one that does not would have
 * the device read past its parameters. */
static bpnn_status check_arguments(const char *function, const bpnn_device *be,
                                   const bpnn_model *model, const bpnn_dataset *data)
{
    if (!be)
        return bpnn_fail_null(function, "device");
    if (!model)
        return bpnn_fail_null(function, "model");
    if (!data)
        return bpnn_fail_null(function, "data");
    int consistent =
        model->layer_count >= 2 && model->layer_count <= BPNN_MAX_LAYERS && model->params != NULL;
    for (int l = 0; consistent && l < model->layer_count; l++)
        consistent = model->sizes[l] >= 1;
    if (!consistent || model->param_count != bpnn_param_count(model->layer_count, model->sizes))
        return bpnn_fail(BPNN_ERR_INVALID,
                         "invalid argument: %s: the model's layer sizes and parameters do not "
                         "agree (make models with bpnn_model_create)",
                         function);
    if (!data->x && data->rows > 0 && data->features > 0)
        return bpnn_fail(BPNN_ERR_INVALID, "invalid argument: %s: data has rows but x is NULL",
                         function);
    return BPNN_OK;
}

/* Parameters on the device, uploaded from the model. */
static bpnn_status upload_params(backend *be, const bpnn_model *model, backend_buffer **out)
{
    BPNN_TRY(backend_alloc(be, BACKEND_REAL, model->param_count, out));
    bpnn_status status = be->ops->upload(be, view_at(*out, 0), model->param_count, model->params);
    if (status != BPNN_OK) {
        backend_release(be, *out);
        *out = NULL;
    }
    return status;
}

/* A labelled data set, the parameters and (optionally) a gradient on the
 * device, with the network that evaluates them. */
typedef struct problem {
    backend_buffer *x, *labels, *params, *grad;
    network *net;
} problem;

static void problem_close(backend *be, problem *p)
{
    network_free(p->net);
    backend_release(be, p->grad);
    backend_release(be, p->params);
    backend_release(be, p->labels);
    backend_release(be, p->x);
    *p = (problem){0};
}

/* rows_per_block > 0: the data stay on the host, streamed in blocks. */
static bpnn_status problem_open(backend *be, const bpnn_model *model, const bpnn_dataset *data,
                                int with_gradient, size_t rows_per_block, problem *p)
{
    *p = (problem){0};
    BPNN_TRY(check_shapes(model, data, 1));
    bpnn_status status = BPNN_OK;
    if (!rows_per_block)
        status = network_upload_data(be, data, &p->x, &p->labels);
    if (status == BPNN_OK)
        status = upload_params(be, model, &p->params);
    if (status == BPNN_OK && with_gradient)
        status = backend_alloc(be, BACKEND_REAL, model->param_count, &p->grad);
    if (status == BPNN_OK && rows_per_block)
        status = network_create_streamed(be, model->layer_count, model->sizes, data, rows_per_block,
                                         with_gradient, &p->net);
    else if (status == BPNN_OK)
        status = network_create(be, model->layer_count, model->sizes, data->rows, p->x, p->labels,
                                with_gradient, &p->net);
    if (status != BPNN_OK)
        problem_close(be, p);
    return status;
}

bpnn_status bpnn_cost_gradient(bpnn_device *be, const bpnn_model *model, const bpnn_dataset *data,
                               double lambda, double *cost, double *gradient)
{
    BPNN_TRY(check_arguments("bpnn_cost_gradient", be, model, data));
    if (!cost)
        return bpnn_fail_null("bpnn_cost_gradient", "cost");
    if (data->labels)
        BPNN_TRY(bpnn_dataset_check_labels(data, bpnn_model_class_count(model), "the data"));
    problem p;
    BPNN_TRY(problem_open(be, model, data, gradient != NULL, 0, &p));
    bpnn_status status = network_cost_gradient(p.net, p.params, lambda, cost, p.grad);
    if (status == BPNN_OK && gradient)
        status = be->ops->download(be, view_at(p.grad, 0), model->param_count, gradient);
    problem_close(be, &p);
    return status;
}

bpnn_status bpnn_time_evaluations(bpnn_device *be, const bpnn_model *model,
                                  const bpnn_dataset *data, double lambda, int repeat,
                                  double *seconds)
{
    BPNN_TRY(check_arguments("bpnn_time_evaluations", be, model, data));
    if (repeat > 0 && !seconds)
        return bpnn_fail_null("bpnn_time_evaluations", "seconds");
    problem p;
    BPNN_TRY(problem_open(be, model, data, 1, 0, &p));
    bpnn_status status = BPNN_OK;
    for (int i = -1; status == BPNN_OK && i < repeat; i++) {
        double cost, started = bpnn_now();
        status = network_cost_gradient(p.net, p.params, lambda, &cost, p.grad);
        if (status == BPNN_OK) /* cost came back, so the work is done */
            status = be->ops->finish(be);
        if (i >= 0)
            seconds[i] = bpnn_now() - started;
    }
    problem_close(be, &p);
    return status;
}

typedef struct training {
    backend *be;
    network *net;
    double lambda;
    const bpnn_train_options *options;
    double started;
    scored_set train_set, test_set;
    int measure;
    participants *participants;
    size_t n;
} training;

static bpnn_status training_objective(void *context, backend_buffer *x, double *f,
                                      backend_buffer *g, objective_extras *extras)
{
    training *t = context;
    backend *be = t->be;
    *f = 0;
    if (bpnn_interrupt_flag)
        return bpnn_fail(BPNN_ERR_INTERRUPTED, "interrupted");
    if (!participants_many(t->participants)) {
        /* one wait for the device: the cost's parts and the extras together */
        double slots[CORE_SLOTS];
        double *read = extras ? extras->slots : slots;
        BPNN_TRY(network_queue_cost_gradient(t->net, x, t->lambda, g));
        if (extras)
            BPNN_TRY(extras->queue(extras->user));
        BPNN_TRY(be->ops->read_slots(be, 0, CORE_SLOTS, read));
        *f = network_cost_from_slots(t->net, t->lambda, read);
        return BPNN_OK;
    }
    /* this share's part of the mean over all rows, summed over the shares in
     * one reduction; the regularization is added once, after */
    BPNN_TRY(network_cost_gradient(t->net, x, 0.0, f, g));
    BPNN_TRY(participants_sum_gradient(t->participants, be, g, t->n, f, 1));
    double regularization;
    BPNN_TRY(network_regularization(t->net, x, t->lambda, &regularization, g));
    *f += regularization;
    return objective_read_extras(be, extras);
}

static bpnn_status training_iteration(void *context, int iteration, int evaluations, double f,
                                      backend_buffer *x, int *stop)
{
    training *t = context;
    bpnn_iteration it = {.iteration = iteration,
                         .evaluations = evaluations,
                         .cost = f,
                         .train_accuracy = -1,
                         .test_accuracy = -1};
    if (t->measure) {
        BPNN_TRY(scored_set_accuracy(t->be, &t->train_set, x, &it.train_accuracy));
        if (t->options->test)
            BPNN_TRY(scored_set_accuracy(t->be, &t->test_set, x, &it.test_accuracy));
    }
    it.seconds = bpnn_now() - t->started;
    it.val_cost = it.val_accuracy = -1;
    /* every participant stops when one is asked to */
    return participants_any(t->participants,
                            t->options->progress(&it, t->options->progress_user) != 0, stop);
}

/* cg or lbfgs on the whole training set. */
static bpnn_status full_batch_train(backend *be, bpnn_model *model, const bpnn_dataset *data,
                                    const bpnn_train_options *options, const memory_plan *plan,
                                    participants *parts, bpnn_train_result *result)
{
    size_t rows_per_block = plan->streamed ? plan->rows_per_block : 0;
    training t = {.be = be,
                  .lambda = options->lambda,
                  .options = options,
                  .measure = options->progress && options->accuracy_every_iteration,
                  .participants = parts,
                  .n = model->param_count};
    problem p; /* its gradient buffer goes unused: the optimizer keeps its own */
    BPNN_TRY(problem_open(be, model, data, 1, rows_per_block, &p));
    t.net = p.net;
    /* a share's cost is its part of the mean over every participant's rows */
    double total_rows = (double)data->rows;
    bpnn_status status = participants_sum(parts, &total_rows, 1);
    if (status == BPNN_OK && participants_many(parts)) {
        p.net->mean_rows = (size_t)total_rows;
        p.net->regularization_rows = (size_t)total_rows;
    }
    /* always: the final training accuracy is measured on the data in place */
    if (status == BPNN_OK)
        status = scored_set_open(be, model, data, p.x, p.labels, rows_per_block, &t.train_set);
    t.train_set.participants = parts;
    if (status == BPNN_OK && t.measure && options->test)
        status = scored_set_open(be, model, options->test, NULL, NULL, rows_per_block, &t.test_set);
    optimizer_result r = {0};
    if (status == BPNN_OK) {
        iteration_fn on_iteration = options->progress ? training_iteration : NULL;
        backend_stats before = be->stats;
        t.started = bpnn_now();
        if (options->optimizer == BPNN_OPT_LBFGS) {
            lbfgs_options o = {.max_iter = options->max_iter,
                               .gtol = options->gtol,
                               .history = options->history,
                               .c1 = 1e-4,
                               .c2 = 0.9,
                               .on_iteration = on_iteration};
            status =
                lbfgs_minimize(be, model->param_count, p.params, training_objective, &t, &o, &r);
        } else {
            cg_options o = {.max_iter = options->max_iter,
                            .gtol = options->gtol,
                            .c1 = 1e-4,
                            .c2 = 0.4,
                            .on_iteration = on_iteration};
            status = cg_minimize(be, model->param_count, p.params, training_objective, &t, &o, &r);
        }
        if (status == BPNN_OK)
            status = be->ops->finish(be);
        result->train_seconds = bpnn_now() - t.started;
        result->optimizer_transfer_bytes = be->stats.bytes_to_device - before.bytes_to_device +
                                           be->stats.bytes_from_device - before.bytes_from_device;
        result->optimizer_host_syncs = be->stats.host_syncs - before.host_syncs;
    }
    if (status == BPNN_OK)
        status = be->ops->download(be, view_at(p.params, 0), model->param_count, model->params);
    if (status == BPNN_OK)
        status = scored_set_accuracy(be, &t.train_set, p.params, &result->train_accuracy);
    if (status == BPNN_ERR_INTERRUPTED) {
        result->iterations = r.iterations;
        result->evaluations = r.evaluations;
    }
    if (status == BPNN_OK) {
        model->lambda = options->lambda;
        model->epoch = 0;
        result->iterations = r.iterations;
        result->evaluations = r.evaluations;
        result->final_cost = r.f;
        result->stop_reason = r.stop_reason;
        result->streamed = plan->streamed;
    }
    scored_set_close(be, &t.test_set);
    scored_set_close(be, &t.train_set);
    problem_close(be, &p);
    return status;
}

/* Parameter-sized buffers each optimizer keeps, parameters and gradient included. */
static int optimizer_vectors(const bpnn_train_options *o)
{
    switch (o->optimizer) {
    case BPNN_OPT_CG: return 6;
    case BPNN_OPT_LBFGS: return 6 + 2 * ((o->history > 0 ? o->history : 1) + 1);
    default: break;
    }
    /* parameters, gradient, optimizer state, the best epoch's parameters */
    int states = o->optimizer == BPNN_OPT_ADAM ? 2 : o->optimizer == BPNN_OPT_MOMENTUM ? 1 : 0;
    return 2 + states + (o->validation ? 1 : 0);
}

static bpnn_status check_options(const bpnn_train_options *o)
{
    if (!(o->lambda >= 0 && isfinite(o->lambda)))
        return bpnn_fail(BPNN_ERR_INVALID, "--lambda %g: expected a finite value >= 0", o->lambda);
    if ((unsigned)o->optimizer > BPNN_OPT_ADAM)
        return bpnn_fail(BPNN_ERR_INVALID, "unknown optimizer %d", (int)o->optimizer);
    if (o->optimizer == BPNN_OPT_LBFGS && o->history < 1)
        return bpnn_fail(BPNN_ERR_INVALID, "--history %d: L-BFGS keeps at least 1 pair",
                         o->history);
    if (!bpnn_optimizer_is_minibatch(o->optimizer) &&
        (o->validation || o->patience || o->checkpoint_path || o->resume_path))
        return bpnn_fail(BPNN_ERR_INVALID,
                         "validation, early stopping, checkpoints and resume are for the "
                         "mini-batch optimizers (sgd, momentum, adam), not %s",
                         bpnn_optimizer_name(o->optimizer));
    if (o->patience > 0 && !o->validation)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "early stopping needs a validation set: --patience with --val-split "
                         "or --val-data");
    return BPNN_OK;
}

/* Everything bpnn_train checks before it starts, then its memory plan: one
 * function, so that bpnn_train_plan answers what bpnn_train would do. */
static bpnn_status plan_training(const char *function, const bpnn_device *be,
                                 const bpnn_model *model, const bpnn_dataset *data,
                                 const bpnn_train_options *options, memory_plan *plan)
{
    BPNN_TRY(check_arguments(function, be, model, data));
    if (!options)
        return bpnn_fail_null(function, "options");
    BPNN_TRY(check_options(options));
    /* a label outside the output layer would train towards no class at all */
    int classes = bpnn_model_class_count(model);
    BPNN_TRY(check_shapes(model, data, 1));
    BPNN_TRY(bpnn_dataset_check_labels(data, classes, "the training data"));
    if (options->test) {
        BPNN_TRY(check_arguments(function, be, model, options->test));
        BPNN_TRY(check_shapes(model, options->test, 1));
        BPNN_TRY(bpnn_dataset_check_labels(options->test, classes, "the test data"));
    }
    if (options->validation) {
        BPNN_TRY(check_arguments(function, be, model, options->validation));
        BPNN_TRY(check_shapes(model, options->validation, 1));
        BPNN_TRY(bpnn_dataset_check_labels(options->validation, classes, "the validation data"));
    }
    int minibatch = bpnn_optimizer_is_minibatch(options->optimizer);
    if (minibatch && data->rows > INT32_MAX)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "too many rows for mini-batch training: %zu, at most %d (epochs are "
                         "shuffled in 32-bit indices)",
                         data->rows, INT32_MAX);
    /* the data sets evaluated besides the training set */
    const bpnn_dataset *extra[2] = {
        options->validation,
        options->progress && options->accuracy_every_iteration ? options->test : NULL};
    size_t batch = options->batch < data->rows ? options->batch : data->rows;
    return memory_plan_make(be, model, data, extra, 2, minibatch ? batch : 0,
                            optimizer_vectors(options), plan);
}

bpnn_status bpnn_train_plan(const bpnn_device *device, const bpnn_model *model,
                            const bpnn_dataset *data, const bpnn_train_options *options,
                            bpnn_memory_plan *out)
{
    if (!out)
        return bpnn_fail_null("bpnn_train_plan", "out");
    memory_plan plan = {0};
    bpnn_status status = plan_training("bpnn_train_plan", device, model, data, options, &plan);
    /* a refused plan still carries the figures worked out before the refusal */
    *out = (bpnn_memory_plan){.streamed = status == BPNN_OK && plan.streamed,
                              .rows_per_block = status == BPNN_OK ? plan.rows_per_block : 0,
                              .resident_bytes = plan.resident_bytes,
                              .streamed_bytes = plan.streamed_bytes,
                              .largest_buffer = plan.largest_buffer,
                              .usable_bytes = plan.usable_bytes,
                              .device_memory = device ? device->memory_bytes : 0,
                              .max_allocation = device ? device->max_allocation : 0};
    return status;
}

bpnn_status bpnn_train(bpnn_device *be, bpnn_model *model, const bpnn_dataset *data,
                       const bpnn_train_options *options, bpnn_train_result *result)
{
    if (!result)
        return bpnn_fail_null("bpnn_train", "result");
    *result = (bpnn_train_result){.val_accuracy = -1, .val_cost = -1};
    memory_plan plan;
    BPNN_TRY(plan_training("bpnn_train", be, model, data, options, &plan));
    int minibatch = bpnn_optimizer_is_minibatch(options->optimizer);
    participants parts;
    bpnn_status status = participants_init(&parts, options);
    if (status == BPNN_OK && minibatch)
        status = minibatch_train(be, model, data, options, &plan, &parts, result);
    else if (status == BPNN_OK)
        status = full_batch_train(be, model, data, options, &plan, &parts, result);
    participants_free(&parts);
    if (status == BPNN_ERR_INTERRUPTED) {
        /* the iterations (epochs) and evaluations (steps) done so far; the
         * model keeps the parameters it came with */
        result->stop_reason = "interrupted";
        result->final_cost = NAN;
        result->train_accuracy = -1;
    }
    return status;
}

/* The forward pass over `data` (streamed in blocks when it does not fit the
 * device) into classes, scores, or both (either may be NULL). */
static bpnn_status predict_with(bpnn_device *be, const bpnn_model *model, const bpnn_dataset *data,
                                int32_t *classes, double *scores)
{
    /* a data set too large for the device is predicted in uploaded blocks
     * (the plan is that of a cost-and-gradient pass: generous) */
    memory_plan plan;
    BPNN_TRY(memory_plan_make(be, model, data, NULL, 0, 0, 1, &plan));
    backend_buffer *params = NULL;
    scored_set set = {0};
    bpnn_status status = upload_params(be, model, &params);
    if (status == BPNN_OK)
        status = scored_set_open(be, model, data, NULL, NULL,
                                 plan.streamed ? plan.rows_per_block : 0, &set);
    if (status == BPNN_OK && scores)
        status = network_scores(set.net, params, scores);
    if (status == BPNN_OK && classes)
        status = network_predict(set.net, params, set.classes);
    if (status == BPNN_OK && classes)
        status = be->ops->download_index(be, view_at(set.classes, 0), data->rows, classes);
    scored_set_close(be, &set);
    backend_release(be, params);
    return status;
}

/* The public predictions' checks, then the pass; `output` names the
 * caller's output argument, which must not be NULL. */
static bpnn_status predict_checked(const char *function, const char *output, bpnn_device *be,
                                   const bpnn_model *model, const bpnn_dataset *data,
                                   int32_t *classes, double *scores)
{
    BPNN_TRY(check_arguments(function, be, model, data));
    if (!classes && !scores)
        return bpnn_fail_null(function, output);
    BPNN_TRY(check_shapes(model, data, 0));
    return predict_with(be, model, data, classes, scores);
}

bpnn_status bpnn_predict(bpnn_device *be, const bpnn_model *model, const bpnn_dataset *data,
                         int32_t *classes)
{
    return predict_checked("bpnn_predict", "classes", be, model, data, classes, NULL);
}

bpnn_status bpnn_predict_scores(bpnn_device *be, const bpnn_model *model, const bpnn_dataset *data,
                                double *scores)
{
    return predict_checked("bpnn_predict_scores", "scores", be, model, data, NULL, scores);
}
