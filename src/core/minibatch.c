/* minibatch.c — see minibatch.h.
 *
 * The training set is uploaded once. Each epoch draws its order from the
 * run's seed and the epoch number alone (random.h), uploads that order (4
 * bytes a row) and gathers every batch's rows on the device; the last batch
 * of an epoch holds the remaining rows (m mod batch), never dropped. When
 * the memory plan streams, the same rows are gathered on the host and
 * uploaded batch by batch instead: the device sees the same batches, so the
 * result is the same. Each step descends
 *   (1/b) sum_batch grad loss_i + (lambda/m) Theta[:,1:]
 * (m the training rows), the gradient of J's estimate on the batch.
 *
 * Shared among participants (participants.h), every participant takes the
 * same number of steps per epoch, each on its own share's part of the global
 * batch, and the step's gradient is summed over them in one reduction. */
#include "core/minibatch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/network.h"
#include "core/objective.h"
#include "core/random.h"
#include "core/scored_set.h"
#include "io/checkpoint.h"
#include "util/error.h"
#include "util/timer.h"

double minibatch_learning_rate(const bpnn_train_options *o, double base, uint64_t step,
                               uint64_t steps_per_epoch)
{
    uint64_t warmup = (uint64_t)(o->warmup_epochs > 0 ? o->warmup_epochs : 0) * steps_per_epoch;
    if (step < warmup)
        return base * (double)(step + 1) / (double)warmup;
    /* the schedules start where the warm-up ends */
    uint64_t after = step - warmup;
    switch (o->lr_schedule) {
    case BPNN_LR_STEP: {
        uint64_t epochs = after / steps_per_epoch;
        return base * pow(o->lr_decay, (double)(epochs / (uint64_t)o->lr_step_epochs));
    }
    case BPNN_LR_COSINE: {
        uint64_t total = (uint64_t)o->epochs * steps_per_epoch;
        if (total <= warmup)
            return base;
        double t = (double)after / (double)(total - warmup);
        return base * 0.5 * (1.0 + cos(M_PI * (t < 1 ? t : 1)));
    }
    case BPNN_LR_CONSTANT:
    default: return base;
    }
}

typedef struct minibatch {
    backend *be;
    const bpnn_train_options *o;
    bpnn_model *model;
    const bpnn_dataset *data;
    const memory_plan *plan;
    size_t n, m, batch; /* batch: the most rows of this share in one step */
    uint64_t steps;     /* per epoch */
    /* Shared training: every participant takes the same number of steps, each
     * on rows from its own share; shares[j] is participant j's row count. */
    participants *parts;
    double *shares;
    size_t total_rows, total_val_rows, global_batch;
    double base_lr;
    backend_update update;
    /* resident data, or nothing when streamed */
    backend_buffer *x, *labels, *order;
    /* the epoch's order on the host; the batch gathered here when streamed */
    int32_t *host_order, *stage_labels;
    double *stage_x;
    double *zeros; /* n zeros: optimizer state's start, a participant's empty step */
    backend_buffer *batch_x, *batch_labels;
    network *net;
    backend_buffer *params, *grad, *s1, *s2, *best;
    scored_set train_set, val_set, test_set;
    /* position */
    int epoch;     /* epochs completed */
    uint64_t step; /* steps taken in all */
    /* A step's cost is read while the device works on the next step
     * (take_step): the step whose read is in flight, and its learning rate. */
    int cost_in_flight;
    uint64_t in_flight_step;
    double in_flight_lr;
    int best_epoch, since_best;
    double best_val_cost;
    double elapsed_before; /* optimizer seconds of the runs before a resume */
    uint32_t data_crc, val_crc;
} minibatch;

/* The rows participant j takes per step: the batch when alone; else its share
 * spread evenly over the steps every participant takes. */
static size_t share_batch(const minibatch *mb, int j)
{
    if (!participants_many(mb->parts))
        return mb->batch;
    size_t rows = (size_t)mb->shares[j];
    return (size_t)((rows + mb->steps - 1) / mb->steps);
}

/* How many rows participant j takes in step s (0-based) of an epoch. */
static size_t step_rows(const minibatch *mb, int j, uint64_t s)
{
    size_t rows = participants_many(mb->parts) ? (size_t)mb->shares[j] : mb->m;
    size_t batch = share_batch(mb, j), first = (size_t)s * batch;
    return first >= rows ? 0 : rows - first < batch ? rows - first : batch;
}

/* The rows of step s over all participants: the mean the step's gradient takes. */
static size_t global_step_rows(const minibatch *mb, uint64_t s)
{
    if (!participants_many(mb->parts))
        return step_rows(mb, 0, s);
    size_t rows = 0;
    for (int j = 0; j < mb->parts->count; j++)
        rows += step_rows(mb, j, s);
    return rows;
}

static int state_vectors(bpnn_optimizer optimizer)
{
    return optimizer == BPNN_OPT_ADAM ? 2 : optimizer == BPNN_OPT_MOMENTUM ? 1 : 0;
}

static backend_update_kind update_kind(const bpnn_train_options *o)
{
    switch (o->optimizer) {
    case BPNN_OPT_MOMENTUM: return o->nesterov ? UPDATE_NESTEROV : UPDATE_MOMENTUM;
    case BPNN_OPT_ADAM: return UPDATE_ADAM;
    default: return UPDATE_SGD;
    }
}

/* A parameter-sized buffer, zeroed when `zero` (optimizer state starts at 0). */
static bpnn_status alloc_params(minibatch *mb, backend_buffer **out, int zero)
{
    BPNN_TRY(backend_alloc(mb->be, BACKEND_REAL, mb->n, out));
    return zero ? mb->be->ops->upload(mb->be, view_at(*out, 0), mb->n, mb->zeros) : BPNN_OK;
}

static bpnn_status open_buffers(minibatch *mb)
{
    backend *be = mb->be;
    const bpnn_dataset *d = mb->data;
    const bpnn_train_options *o = mb->o;
    size_t rows_per_block = mb->plan->streamed ? mb->plan->rows_per_block : 0;
    if (!(mb->host_order = malloc(mb->m * sizeof *mb->host_order)))
        return bpnn_fail_oom("the epoch's order");
    if (mb->plan->streamed) {
        if (!(mb->stage_x = malloc(mb->batch * d->features * sizeof *mb->stage_x)) ||
            !(mb->stage_labels = malloc(mb->batch * sizeof *mb->stage_labels)))
            return bpnn_fail_oom("the batch staging area");
    } else {
        BPNN_TRY(network_upload_data(be, d, &mb->x, &mb->labels));
        BPNN_TRY(backend_alloc(be, BACKEND_INDEX, mb->m, &mb->order));
    }
    BPNN_TRY(backend_alloc(be, BACKEND_REAL, mb->batch * d->features, &mb->batch_x));
    BPNN_TRY(backend_alloc(be, BACKEND_INDEX, mb->batch, &mb->batch_labels));
    BPNN_TRY(network_create(be, mb->model->layer_count, mb->model->sizes, mb->batch, mb->batch_x,
                            mb->batch_labels, 1, &mb->net));
    mb->net->regularization_rows = mb->total_rows;
    if (!(mb->zeros = calloc(mb->n, sizeof *mb->zeros)))
        return bpnn_fail_oom("optimizer state");
    BPNN_TRY(backend_alloc(be, BACKEND_REAL, mb->n, &mb->params));
    BPNN_TRY(be->ops->upload(be, view_at(mb->params, 0), mb->n, mb->model->params));
    BPNN_TRY(backend_alloc(be, BACKEND_REAL, mb->n, &mb->grad));
    int states = state_vectors(o->optimizer);
    if (states >= 1)
        BPNN_TRY(alloc_params(mb, &mb->s1, 1));
    if (states >= 2)
        BPNN_TRY(alloc_params(mb, &mb->s2, 1));
    if (o->validation) /* the best epoch's parameters, kept in every checkpoint */
        BPNN_TRY(alloc_params(mb, &mb->best, 0));
    BPNN_TRY(scored_set_open(be, mb->model, d, mb->x, mb->labels, rows_per_block, &mb->train_set));
    mb->train_set.participants = mb->parts;
    mb->train_set.net->regularization_rows = mb->total_rows;
    if (o->validation)
        BPNN_TRY(scored_set_open(be, mb->model, o->validation, NULL, NULL, rows_per_block,
                                 &mb->val_set));
    mb->val_set.participants = mb->parts;
    if (o->test && o->progress && o->accuracy_every_iteration)
        BPNN_TRY(
            scored_set_open(be, mb->model, o->test, NULL, NULL, rows_per_block, &mb->test_set));
    return BPNN_OK;
}

static void close_buffers(minibatch *mb)
{
    backend *be = mb->be;
    if (mb->cost_in_flight) { /* a run that ended early: the device is the caller's still */
        double unread[BACKEND_SLOTS];
        if (be->ops->finish_read_slots(be, unread) != BPNN_OK)
            bpnn_clear_error();
        mb->cost_in_flight = 0;
    }
    scored_set_close(be, &mb->test_set);
    scored_set_close(be, &mb->val_set);
    scored_set_close(be, &mb->train_set);
    network_free(mb->net);
    backend_release(be, mb->best);
    backend_release(be, mb->s2);
    backend_release(be, mb->s1);
    backend_release(be, mb->grad);
    backend_release(be, mb->params);
    backend_release(be, mb->batch_labels);
    backend_release(be, mb->batch_x);
    backend_release(be, mb->order);
    backend_release(be, mb->labels);
    backend_release(be, mb->x);
    free(mb->host_order);
    free(mb->stage_x);
    free(mb->stage_labels);
    free(mb->zeros);
    free(mb->shares);
}

/* The epoch's order, on the host and (resident data) on the device. */
static bpnn_status shuffle(minibatch *mb, int epoch)
{
    xoshiro256 g;
    /* each participant its own order of its own share; the first's is the
     * order of a training alone */
    uint64_t rank = participants_many(mb->parts) ? (uint64_t)mb->parts->rank : 0;
    xoshiro256_seed_stream(&g, mb->o->seed, RANDOM_STREAM_EPOCH0 + (uint64_t)epoch + (rank << 32));
    xoshiro256_permutation(&g, mb->m, mb->host_order);
    if (mb->plan->streamed)
        return BPNN_OK;
    return mb->be->ops->upload_index(mb->be, view_at(mb->order, 0), mb->m, mb->host_order);
}

/* Rows order[first .. first + rows) into the batch buffers. */
static bpnn_status load_batch(minibatch *mb, size_t first, size_t rows)
{
    backend *be = mb->be;
    size_t features = mb->data->features;
    if (!mb->plan->streamed) {
        BPNN_TRY(be->ops->gather_rows(be, rows, features, view_at(mb->x, 0),
                                      view_at(mb->order, first), view_at(mb->batch_x, 0)));
        return be->ops->gather_labels(be, rows, view_at(mb->labels, 0), view_at(mb->order, first),
                                      view_at(mb->batch_labels, 0));
    }
    for (size_t i = 0; i < rows; i++) {
        size_t row = (size_t)mb->host_order[first + i];
        memcpy(mb->stage_x + i * features, mb->data->x + row * features,
               features * sizeof *mb->stage_x);
        mb->stage_labels[i] = mb->data->labels[row];
    }
    BPNN_TRY(be->ops->upload(be, view_at(mb->batch_x, 0), rows * features, mb->stage_x));
    return be->ops->upload_index(be, view_at(mb->batch_labels, 0), rows, mb->stage_labels);
}

static bpnn_status diverged(const minibatch *mb, int epoch, uint64_t step, double cost, double lr)
{
    return bpnn_fail(BPNN_ERR_DIVERGED,
                     "training diverged: the cost is %s at epoch %d, step %llu of %llu "
                     "(learning rate %g): try a lower --lr (or --normalize zscore)",
                     isnan(cost) ? "NaN"
                     : cost > 0  ? "+inf"
                                 : "-inf",
                     epoch + 1, (unsigned long long)step, (unsigned long long)mb->steps, lr);
}

/* network.layer_done while overlapping: starts the sum of layer l's slice. */
static bpnn_status sum_layer(void *user, int l)
{
    minibatch *mb = user;
    /* Theta between layers l and l + 1 (0-based) follows the l layers' before it */
    size_t offset = bpnn_param_count(l + 1, mb->model->sizes);
    size_t count = bpnn_param_count(l + 2, mb->model->sizes) - offset;
    return participants_overlap_layer(mb->parts, mb->be, mb->grad, offset, count, 1);
}

/* This share's part of the step's gradient and cost (the mean over the
 * step's rows everywhere), summed over the shares: layer by layer while
 * backpropagation goes on when the caller's reduction can overlap, else in
 * one sum after it. A share with no rows this step adds zeros, in the same
 * sums as the others. */
static bpnn_status shared_gradient(minibatch *mb, uint64_t in_epoch, size_t first, size_t rows,
                                   double *cost)
{
    backend *be = mb->be;
    *cost = 0;
    int overlap = participants_overlaps(mb->parts);
    if (overlap)
        BPNN_TRY(participants_overlap_begin(mb->parts, mb->n, 1));
    bpnn_status status = BPNN_OK;
    if (rows > 0) {
        status = load_batch(mb, first, rows);
        if (status == BPNN_OK) {
            network_bind(mb->net, mb->batch_x, mb->batch_labels, rows);
            mb->net->mean_rows = global_step_rows(mb, in_epoch);
            mb->net->layer_done = overlap ? sum_layer : NULL;
            mb->net->layer_user = mb;
            status = network_cost_gradient(mb->net, mb->params, 0.0, cost, mb->grad);
            mb->net->layer_done = NULL;
        }
    } else {
        status = be->ops->upload(be, view_at(mb->grad, 0), mb->n, mb->zeros);
        for (int l = mb->model->layer_count - 2; overlap && status == BPNN_OK && l >= 0; l--)
            status = sum_layer(mb, l);
    }
    if (overlap) /* waits for the layers' sums even after a failure */
        return participants_overlap_finish(mb->parts, be, mb->grad, mb->n, cost, 1, status);
    BPNN_TRY(status);
    return participants_sum_gradient(mb->parts, be, mb->grad, mb->n, cost, 1);
}

/* A step whose cost came back: its number in the epoch (0-based), cost and
 * learning rate. */
typedef struct step_cost {
    int known;
    uint64_t in_epoch;
    double cost, lr;
} step_cost;

/* Waits for the cost read in flight, if any (a step's cost into *done). */
static bpnn_status collect_cost(minibatch *mb, step_cost *done)
{
    done->known = 0;
    if (!mb->cost_in_flight)
        return BPNN_OK;
    double slots[SLOT_SQUARES + 1];
    mb->cost_in_flight = 0;
    BPNN_TRY(mb->be->ops->finish_read_slots(mb->be, slots));
    *done = (step_cost){1, mb->in_flight_step,
                        network_cost_from_slots(mb->net, mb->o->lambda, slots), mb->in_flight_lr};
    return BPNN_OK;
}

/* One step on rows order[first .. first + rows). Alone, the step's cost stays
 * on the device while the next step is queued: the host collects it then,
 * so that a GPU always has the next step in hand instead of waiting for the
 * host's round trip; *done is the step before (its cost checked by the
 * caller), or nothing. Shared, the cost comes back with the gradient's sum:
 * *done is this step. */
static bpnn_status take_step(minibatch *mb, uint64_t in_epoch, size_t first, size_t rows,
                             step_cost *done)
{
    backend *be = mb->be;
    double lr = minibatch_learning_rate(mb->o, mb->base_lr, mb->step, mb->steps);
    if (!participants_many(mb->parts)) {
        BPNN_TRY(load_batch(mb, first, rows));
        network_bind(mb->net, mb->batch_x, mb->batch_labels, rows);
        BPNN_TRY(network_queue_cost_gradient(mb->net, mb->params, mb->o->lambda, mb->grad));
        BPNN_TRY(collect_cost(mb, done));
        BPNN_TRY(be->ops->start_read_slots(be, 0, SLOT_SQUARES + 1));
        mb->cost_in_flight = 1;
        mb->in_flight_step = in_epoch;
        mb->in_flight_lr = lr;
    } else {
        double cost;
        /* the regularization once, after the sum */
        BPNN_TRY(shared_gradient(mb, in_epoch, first, rows, &cost));
        double regularization;
        BPNN_TRY(
            network_regularization(mb->net, mb->params, mb->o->lambda, &regularization, mb->grad));
        *done = (step_cost){1, in_epoch, cost + regularization, lr};
        if (!isfinite(done->cost)) /* before the update, as every participant does */
            return BPNN_OK;
    }
    mb->step++;
    backend_update u = mb->update;
    u.lr = lr;
    if (u.kind == UPDATE_ADAM) {
        u.bias1 = 1.0 - pow(u.beta1, (double)mb->step);
        u.bias2 = 1.0 - pow(u.beta2, (double)mb->step);
    }
    backend_view none = view_at(NULL, 0);
    return be->ops->update(be, &u, mb->n, view_at(mb->params, 0), view_at(mb->grad, 0),
                           mb->s1 ? view_at(mb->s1, 0) : none, mb->s2 ? view_at(mb->s2, 0) : none);
}

/* ---- checkpoints ---- */

static void describe(const minibatch *mb, checkpoint *c)
{
    const bpnn_train_options *o = mb->o;
    const bpnn_model *model = mb->model;
    *c = (checkpoint){.layer_count = model->layer_count,
                      .precision = mb->be->precision,
                      .optimizer = o->optimizer,
                      .batch = mb->global_batch,
                      .seed = o->seed,
                      .lambda = o->lambda,
                      .learning_rate = mb->base_lr,
                      .momentum = o->optimizer == BPNN_OPT_MOMENTUM ? o->momentum : 0,
                      .nesterov = o->optimizer == BPNN_OPT_MOMENTUM ? o->nesterov : 0,
                      .beta1 = o->optimizer == BPNN_OPT_ADAM ? o->beta1 : 0,
                      .beta2 = o->optimizer == BPNN_OPT_ADAM ? o->beta2 : 0,
                      .epsilon = o->optimizer == BPNN_OPT_ADAM ? o->epsilon : 0,
                      .lr_schedule = o->lr_schedule,
                      .lr_step_epochs = o->lr_schedule == BPNN_LR_STEP ? o->lr_step_epochs : 0,
                      .lr_decay = o->lr_schedule == BPNN_LR_STEP ? o->lr_decay : 0,
                      .warmup_epochs = o->warmup_epochs,
                      .epochs = o->epochs,
                      .data_rows = mb->total_rows,
                      .data_features = mb->data->features,
                      .data_crc = mb->data_crc,
                      .val_rows = mb->total_val_rows,
                      .val_crc = mb->val_crc,
                      .param_count = mb->n};
    for (int l = 0; l < model->layer_count; l++)
        c->sizes[l] = model->sizes[l];
}

static bpnn_status download_vector(minibatch *mb, backend_buffer *buffer, double **out)
{
    *out = NULL;
    if (!buffer)
        return BPNN_OK;
    if (!(*out = malloc(mb->n * sizeof **out)))
        return bpnn_fail_oom("the checkpoint");
    return mb->be->ops->download(mb->be, view_at(buffer, 0), mb->n, *out);
}

static bpnn_status save_checkpoint(minibatch *mb, double elapsed)
{
    if (participants_many(mb->parts) && mb->parts->rank != 0)
        return BPNN_OK; /* the state is the same everywhere: one writer */
    checkpoint c;
    describe(mb, &c);
    c.epoch = mb->epoch;
    c.step = mb->step;
    c.best_epoch = mb->best_epoch;
    c.best_val_cost = mb->best_val_cost;
    c.epochs_since_best = mb->since_best;
    c.elapsed_seconds = elapsed;
    bpnn_status status = download_vector(mb, mb->params, &c.params);
    if (status == BPNN_OK)
        status = download_vector(mb, mb->s1, &c.state1);
    if (status == BPNN_OK)
        status = download_vector(mb, mb->s2, &c.state2);
    if (status == BPNN_OK)
        status = download_vector(mb, mb->best, &c.best_params);
    if (status == BPNN_OK)
        status = checkpoint_save(&c, mb->o->checkpoint_path);
    checkpoint_free(&c);
    return status;
}

static bpnn_status upload_vector(minibatch *mb, const double *values, backend_buffer *buffer,
                                 const char *what)
{
    if (!buffer)
        return BPNN_OK;
    if (!values)
        return bpnn_fail(BPNN_ERR_INVALID, "checkpoint does not match: it holds no %s: %s", what,
                         mb->o->resume_path);
    return mb->be->ops->upload(mb->be, view_at(buffer, 0), mb->n, values);
}

static bpnn_status resume(minibatch *mb)
{
    checkpoint saved, expected;
    describe(mb, &expected);
    BPNN_TRY(checkpoint_load(mb->o->resume_path, &saved));
    bpnn_status status = checkpoint_check_match(&saved, &expected, mb->o->resume_path);
    if (status == BPNN_OK)
        status = upload_vector(mb, saved.params, mb->params, "parameters");
    if (status == BPNN_OK)
        status = upload_vector(mb, saved.state1, mb->s1, "optimizer state");
    if (status == BPNN_OK)
        status = upload_vector(mb, saved.state2, mb->s2, "second optimizer state");
    if (status == BPNN_OK)
        status = upload_vector(mb, saved.best_params, mb->best, "best parameters");
    if (status == BPNN_OK) {
        mb->epoch = saved.epoch;
        mb->step = saved.step;
        mb->best_epoch = saved.best_epoch;
        mb->best_val_cost = saved.best_val_cost;
        mb->since_best = saved.epochs_since_best;
        mb->elapsed_before = saved.elapsed_seconds;
    }
    checkpoint_free(&saved);
    return status;
}

/* ---- the epochs ---- */

static int report(const minibatch *mb, bpnn_iteration *it)
{
    return mb->o->progress ? mb->o->progress(it, mb->o->progress_user) : 0;
}

/* Validation (and, when asked, training and test accuracy) at the end of an
 * epoch; early stopping's bookkeeping. */
static bpnn_status end_epoch(minibatch *mb, bpnn_iteration *it)
{
    backend *be = mb->be;
    const bpnn_train_options *o = mb->o;
    /* Each step checks the cost it starts from; the epoch's last update is
     * checked here, before anything is validated or saved. */
    double largest;
    BPNN_TRY(backend_read_max_abs(be, mb->n, view_at(mb->params, 0), &largest));
    if (!isfinite(largest))
        return bpnn_fail(BPNN_ERR_DIVERGED,
                         "training diverged: the parameters are not finite after epoch %d "
                         "(learning rate %g): try a lower --lr (or --normalize zscore)",
                         mb->epoch, it->learning_rate);
    if (o->validation) {
        BPNN_TRY(scored_set_cost(&mb->val_set, mb->params, 0.0, &it->val_cost));
        BPNN_TRY(scored_set_accuracy(be, &mb->val_set, mb->params, &it->val_accuracy));
        if (!isfinite(it->val_cost))
            return bpnn_fail(BPNN_ERR_DIVERGED,
                             "training diverged: the validation cost is not finite after epoch "
                             "%d (learning rate %g): try a lower --lr",
                             mb->epoch, it->learning_rate);
        if (it->val_cost < mb->best_val_cost || mb->best_epoch == 0) {
            mb->best_val_cost = it->val_cost;
            mb->best_epoch = mb->epoch;
            mb->since_best = 0;
            BPNN_TRY(be->ops->copy(be, mb->n, view_at(mb->params, 0), view_at(mb->best, 0)));
        } else {
            mb->since_best++;
        }
    }
    if (o->progress && o->accuracy_every_iteration) {
        BPNN_TRY(scored_set_accuracy(be, &mb->train_set, mb->params, &it->train_accuracy));
        if (o->test)
            BPNN_TRY(scored_set_accuracy(be, &mb->test_set, mb->params, &it->test_accuracy));
    }
    return BPNN_OK;
}

/* An epoch's steps as their costs come back. */
typedef struct epoch_steps {
    int epoch;
    double epoch_started, started;
    double cost_sum;
    size_t rows_done; /* over all participants, through the last step accounted */
    bpnn_iteration it;
} epoch_steps;

/* Accounts a step whose cost came back (nothing when !d->known): a
 * non-finite cost ends the run as diverged; the epoch's running mean and,
 * but after its last step, a report, which may ask to stop (*stop). */
static bpnn_status step_finished(minibatch *mb, epoch_steps *e, const step_cost *d, int *stop)
{
    if (!d->known)
        return BPNN_OK;
    if (!isfinite(d->cost))
        return diverged(mb, e->epoch, d->in_epoch + 1, d->cost, d->lr);
    e->cost_sum += d->cost;
    e->rows_done += global_step_rows(mb, d->in_epoch);
    double now = bpnn_now();
    bpnn_iteration *it = &e->it;
    it->step = (long)d->in_epoch + 1;
    /* steps taken in all through this one (the next may be queued already) */
    uint64_t taken = mb->step - (mb->cost_in_flight ? 1 : 0);
    it->evaluations = taken > INT32_MAX ? INT32_MAX : (int)taken;
    it->cost = e->cost_sum / (double)(d->in_epoch + 1);
    it->learning_rate = d->lr;
    it->epoch_seconds = now - e->epoch_started;
    it->seconds = mb->elapsed_before + now - e->started;
    it->samples_per_second =
        (double)e->rows_done / (it->epoch_seconds > 0 ? it->epoch_seconds : 1e-9);
    if (d->in_epoch + 1 < mb->steps && !*stop)
        BPNN_TRY(participants_any(mb->parts, report(mb, it), stop));
    return BPNN_OK;
}

static bpnn_status run_epochs(minibatch *mb, bpnn_train_result *result)
{
    const bpnn_train_options *o = mb->o;
    double started = bpnn_now();
    result->stop_reason = "epochs";
    while (mb->epoch < o->epochs) {
        /* at the top, so that a resumed run that had stopped early stays stopped */
        if (o->patience > 0 && mb->best_epoch > 0 && mb->since_best >= o->patience) {
            result->stop_reason = "early_stopping";
            break;
        }
        int epoch = mb->epoch;
        BPNN_TRY(shuffle(mb, epoch));
        epoch_steps e = {.epoch = epoch, .epoch_started = bpnn_now(), .started = started};
        e.it = (bpnn_iteration){.kind = BPNN_PROGRESS_STEP,
                                .iteration = epoch + 1,
                                .epoch = epoch + 1,
                                .epochs = o->epochs,
                                .steps = (long)mb->steps,
                                .train_accuracy = -1,
                                .test_accuracy = -1,
                                .val_cost = -1,
                                .val_accuracy = -1};
        int stop = 0;
        for (uint64_t s = 0; s < mb->steps && !stop; s++) {
            if (bpnn_interrupt_flag)
                return bpnn_fail(BPNN_ERR_INTERRUPTED, "interrupted");
            int rank = participants_many(mb->parts) ? mb->parts->rank : 0;
            size_t first = (size_t)s * share_batch(mb, rank), rows = step_rows(mb, rank, s);
            step_cost done;
            BPNN_TRY(take_step(mb, s, first, rows, &done));
            BPNN_TRY(step_finished(mb, &e, &done, &stop));
        }
        step_cost last; /* the epoch's last cost, when still in flight */
        BPNN_TRY(collect_cost(mb, &last));
        BPNN_TRY(step_finished(mb, &e, &last, &stop));
        bpnn_iteration it = e.it;
        if (stop) {
            result->stop_reason = "stopped";
            break;
        }
        mb->epoch++;
        BPNN_TRY(end_epoch(mb, &it));
        it.kind = BPNN_PROGRESS_EPOCH;
        it.seconds = mb->elapsed_before + bpnn_now() - started;
        BPNN_TRY(participants_any(mb->parts, report(mb, &it), &stop));
        if (o->checkpoint_path && (mb->epoch % o->checkpoint_every == 0 || mb->epoch == o->epochs))
            BPNN_TRY(save_checkpoint(mb, it.seconds));
        if (stop) {
            result->stop_reason = "stopped";
            break;
        }
    }
    return BPNN_OK;
}

/* Every participant's row count, the totals, the global batch and the steps
 * per epoch. */
static bpnn_status count_rows(minibatch *mb)
{
    const bpnn_train_options *o = mb->o;
    int count = participants_many(mb->parts) ? mb->parts->count : 1;
    if (!(mb->shares = calloc((size_t)count + 1, sizeof *mb->shares)))
        return bpnn_fail_oom("the participants' row counts");
    mb->shares[count > 1 ? mb->parts->rank : 0] = (double)mb->m;
    mb->shares[count] = o->validation ? (double)o->validation->rows : 0;
    BPNN_TRY(participants_sum(mb->parts, mb->shares, (size_t)count + 1));
    mb->total_rows = 0;
    for (int j = 0; j < count; j++)
        mb->total_rows += (size_t)mb->shares[j];
    mb->total_val_rows = (size_t)mb->shares[count];
    mb->global_batch = o->batch < mb->total_rows ? o->batch : mb->total_rows;
    mb->steps = (mb->total_rows + mb->global_batch - 1) / mb->global_batch;
    mb->batch = count > 1 ? share_batch(mb, mb->parts->rank) : mb->global_batch;
    return BPNN_OK;
}

bpnn_status minibatch_train(backend *be, bpnn_model *model, const bpnn_dataset *data,
                            const bpnn_train_options *o, const memory_plan *plan,
                            participants *parts, bpnn_train_result *result)
{
    if (o->batch == 0 || o->epochs < 0 ||
        (o->lr_schedule == BPNN_LR_STEP && o->lr_step_epochs < 1) || o->checkpoint_every < 1)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "invalid mini-batch options: batch %zu, epochs %d, checkpoint every %d",
                         o->batch, o->epochs, o->checkpoint_every);
    minibatch mb = {.be = be,
                    .o = o,
                    .model = model,
                    .data = data,
                    .plan = plan,
                    .n = model->param_count,
                    .m = data->rows,
                    .parts = parts};
    mb.base_lr = o->learning_rate > 0 ? o->learning_rate : bpnn_default_learning_rate(o->optimizer);
    mb.update = (backend_update){.kind = update_kind(o),
                                 .momentum = o->momentum,
                                 .beta1 = o->beta1,
                                 .beta2 = o->beta2,
                                 .epsilon = o->epsilon};
    if (o->checkpoint_path || o->resume_path) {
        mb.data_crc = o->data_fingerprint ? o->data_fingerprint : checkpoint_data_crc(data);
        mb.val_crc = o->validation_fingerprint ? o->validation_fingerprint
                     : o->validation           ? checkpoint_data_crc(o->validation)
                                               : 0;
    }
    bpnn_status status = count_rows(&mb);
    if (status == BPNN_OK)
        status = open_buffers(&mb);
    if (status == BPNN_OK && o->resume_path)
        status = resume(&mb);
    result->resumed_epoch = mb.epoch;
    result->streamed = plan->streamed;
    backend_stats before = be->stats;
    double started = bpnn_now();
    if (status == BPNN_OK)
        status = run_epochs(&mb, result);
    if (status == BPNN_OK)
        status = be->ops->finish(be);
    result->train_seconds = bpnn_now() - started;
    result->optimizer_transfer_bytes = be->stats.bytes_to_device - before.bytes_to_device +
                                       be->stats.bytes_from_device - before.bytes_from_device;
    result->optimizer_host_syncs = be->stats.host_syncs - before.host_syncs;
    /* early stopping keeps the best epoch's parameters; a run stopped by its
     * caller keeps the parameters it reached */
    int restore = status == BPNN_OK && o->patience > 0 && mb.best_epoch > 0 &&
                  mb.best_epoch != mb.epoch && strcmp(result->stop_reason, "stopped") != 0;
    if (restore)
        status = be->ops->copy(be, mb.n, view_at(mb.best, 0), view_at(mb.params, 0));
    if (status == BPNN_OK)
        status = be->ops->download(be, view_at(mb.params, 0), mb.n, model->params);
    if (status == BPNN_OK)
        status = scored_set_cost(&mb.train_set, mb.params, o->lambda, &result->final_cost);
    if (status == BPNN_OK)
        status = scored_set_accuracy(be, &mb.train_set, mb.params, &result->train_accuracy);
    result->val_accuracy = result->val_cost = -1;
    if (status == BPNN_OK && o->validation) {
        status = scored_set_cost(&mb.val_set, mb.params, 0.0, &result->val_cost);
        if (status == BPNN_OK)
            status = scored_set_accuracy(be, &mb.val_set, mb.params, &result->val_accuracy);
    }
    if (status == BPNN_ERR_INTERRUPTED) { /* how far it got */
        result->iterations = mb.epoch;
        result->evaluations = (int)(mb.step > INT32_MAX ? INT32_MAX : mb.step);
        result->best_epoch = mb.best_epoch;
    }
    if (status == BPNN_OK) {
        model->epoch = restore ? mb.best_epoch : mb.epoch;
        model->lambda = o->lambda;
        result->iterations = mb.epoch;
        result->evaluations = (int)(mb.step > INT32_MAX ? INT32_MAX : mb.step);
        result->best_epoch = mb.best_epoch;
    }
    close_buffers(&mb);
    return status;
}
