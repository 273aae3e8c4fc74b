/* train.c — the library's entry points for cost, training and prediction:
 * data and parameters go to the device once, the optimizer runs there, the
 * parameters come back once. */
#include <math.h>
#include <stdlib.h>

#include "core/cg.h"
#include "core/network.h"
#include "util/error.h"
#include "util/timer.h"

void bpnn_train_options_default(bpnn_train_options *options)
{
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
                                    .checkpoint_every = 1};
}

static bpnn_status check_shapes(const bpnn_model *model, const bpnn_dataset *data,
                                int need_labels)
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

static bpnn_status problem_open(backend *be, const bpnn_model *model, const bpnn_dataset *data,
                                int with_gradient, problem *p)
{
    *p = (problem){0};
    BPNN_TRY(check_shapes(model, data, 1));
    bpnn_status status = network_upload_data(be, data, &p->x, &p->labels);
    if (status == BPNN_OK)
        status = upload_params(be, model, &p->params);
    if (status == BPNN_OK && with_gradient)
        status = backend_alloc(be, BACKEND_REAL, model->param_count, &p->grad);
    if (status == BPNN_OK)
        status = network_create(be, model->layer_count, model->sizes, data->rows, p->x,
                                p->labels, with_gradient, &p->net);
    if (status != BPNN_OK)
        problem_close(be, p);
    return status;
}

bpnn_status bpnn_cost_gradient(bpnn_device *be, const bpnn_model *model,
                               const bpnn_dataset *data, double lambda, double *cost,
                               double *gradient)
{
    problem p;
    BPNN_TRY(problem_open(be, model, data, gradient != NULL, &p));
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
    problem p;
    BPNN_TRY(problem_open(be, model, data, 1, &p));
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

/* A data set on the device with what measuring its accuracy needs. */
typedef struct scored_set {
    const bpnn_dataset *data;
    backend_buffer *x, *labels, *classes;
    network *net;
    int32_t *host_classes;
} scored_set;

static bpnn_status scored_set_open(backend *be, const bpnn_model *model, const bpnn_dataset *data,
                                   backend_buffer *x, scored_set *set)
{
    *set = (scored_set){.data = data, .x = x};
    bpnn_status status = BPNN_OK;
    if (!x)
        status = network_upload_data(be, data, &set->x, NULL);
    if (status == BPNN_OK)
        status = backend_alloc(be, BACKEND_INDEX, data->rows, &set->classes);
    if (status == BPNN_OK)
        status = network_create(be, model->layer_count, model->sizes, data->rows, set->x, NULL, 0,
                                &set->net);
    if (status == BPNN_OK && !(set->host_classes = malloc(data->rows * sizeof(int32_t))))
        status = bpnn_fail_oom("predicted classes");
    return status;
}

static void scored_set_close(backend *be, scored_set *set, int owns_x)
{
    network_free(set->net);
    backend_release(be, set->classes);
    if (owns_x)
        backend_release(be, set->x);
    free(set->host_classes);
}

static bpnn_status scored_set_accuracy(backend *be, scored_set *set, backend_buffer *params,
                                       double *accuracy)
{
    size_t rows = set->data->rows, correct = 0;
    BPNN_TRY(network_predict(set->net, params, set->classes));
    BPNN_TRY(be->ops->download_index(be, view_at(set->classes, 0), rows, set->host_classes));
    for (size_t i = 0; i < rows; i++)
        correct += set->host_classes[i] == set->data->labels[i];
    *accuracy = (double)correct / (double)rows;
    return BPNN_OK;
}

typedef struct training {
    backend *be;
    network *net;
    double lambda;
    const bpnn_train_options *options;
    double started;
    scored_set train_set, test_set;
    int measure;
} training;

static bpnn_status training_objective(void *context, backend_buffer *x, double *f,
                                      backend_buffer *g)
{
    training *t = context;
    if (bpnn_interrupt_flag)
        return bpnn_fail(BPNN_ERR_INTERRUPTED, "interrupted");
    return network_cost_gradient(t->net, x, t->lambda, f, g);
}

static bpnn_status training_iteration(void *context, int iteration, int evaluations, double f,
                                      backend_buffer *x, int *stop)
{
    training *t = context;
    bpnn_iteration it = {.iteration = iteration, .evaluations = evaluations, .cost = f,
                         .train_accuracy = -1, .test_accuracy = -1};
    if (t->measure) {
        BPNN_TRY(scored_set_accuracy(t->be, &t->train_set, x, &it.train_accuracy));
        if (t->options->test)
            BPNN_TRY(scored_set_accuracy(t->be, &t->test_set, x, &it.test_accuracy));
    }
    it.seconds = bpnn_now() - t->started;
    it.val_cost = it.val_accuracy = -1;
    *stop = t->options->progress(&it, t->options->progress_user) != 0;
    return BPNN_OK;
}

bpnn_status bpnn_train(bpnn_device *be, bpnn_model *model, const bpnn_dataset *data,
                       const bpnn_train_options *options, bpnn_train_result *result)
{
    if (options->test)
        BPNN_TRY(check_shapes(model, options->test, 1));
    training t = {.be = be, .lambda = options->lambda, .options = options,
                  .measure = options->progress && options->accuracy_every_iteration};
    problem p; /* its gradient buffer goes unused: the optimizer keeps its own */
    BPNN_TRY(problem_open(be, model, data, 1, &p));
    t.net = p.net;
    bpnn_status status = BPNN_OK;
    /* always: the final training accuracy is measured on the data in place */
    status = scored_set_open(be, model, data, p.x, &t.train_set);
    if (status == BPNN_OK && t.measure && options->test)
        status = scored_set_open(be, model, options->test, NULL, &t.test_set);
    cg_result cg = {0};
    if (status == BPNN_OK) {
        cg_options o = {.max_iter = options->max_iter, .gtol = options->gtol, .c1 = 1e-4,
                        .c2 = 0.4, .on_iteration = options->progress ? training_iteration : NULL};
        backend_stats before = be->stats;
        t.started = bpnn_now();
        status = cg_minimize(be, model->param_count, p.params, training_objective, &t, &o, &cg);
        if (status == BPNN_OK)
            status = be->ops->finish(be);
        result->train_seconds = bpnn_now() - t.started;
        result->optimizer_transfer_bytes =
            be->stats.bytes_to_device - before.bytes_to_device +
            be->stats.bytes_from_device - before.bytes_from_device;
    }
    if (status == BPNN_OK)
        status = be->ops->download(be, view_at(p.params, 0), model->param_count, model->params);
    if (status == BPNN_OK)
        status = scored_set_accuracy(be, &t.train_set, p.params, &result->train_accuracy);
    if (status == BPNN_OK) {
        model->lambda = options->lambda;
        result->iterations = cg.iterations;
        result->evaluations = cg.evaluations;
        result->final_cost = cg.f;
        result->stop_reason = cg.stop_reason;
    }
    scored_set_close(be, &t.test_set, 1);
    scored_set_close(be, &t.train_set, 0);
    problem_close(be, &p);
    return status;
}

bpnn_status bpnn_predict(bpnn_device *be, const bpnn_model *model, const bpnn_dataset *data,
                         int32_t *classes)
{
    BPNN_TRY(check_shapes(model, data, 0));
    backend_buffer *params = NULL;
    scored_set set = {0};
    bpnn_status status = upload_params(be, model, &params);
    if (status == BPNN_OK)
        status = scored_set_open(be, model, data, NULL, &set);
    if (status == BPNN_OK)
        status = network_predict(set.net, params, set.classes);
    if (status == BPNN_OK)
        status = be->ops->download_index(be, view_at(set.classes, 0), data->rows, classes);
    scored_set_close(be, &set, 1);
    backend_release(be, params);
    return status;
}
