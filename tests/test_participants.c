/* test_participants.c — one training shared among participants, each with a
 * share of the rows, through the library's reduce callback: here the
 * participants are threads of this process and the reduction sums their
 * values in rank order behind a barrier, as bpnn-cl's MPI ranks do across
 * processes. Full-batch training must follow the training alone to
 * rounding; mini-batch training sees other batches and must end close. */
#include <pthread.h>
#include <string.h>

#include "bpnn.h"
#include "core/random.h"
#include "testutil.h"

#define MAX_PARTICIPANTS 4

typedef struct table {
    int count;
    pthread_barrier_t barrier;
    double *values[MAX_PARTICIPANTS];
    double *sum;
    size_t capacity;
} table;

typedef struct participant {
    table *table;
    int rank;
    bpnn_dataset share;
    const bpnn_train_options *options;
    bpnn_train_result result;
    bpnn_status status;
    double *params;
    size_t param_count;
    const int *sizes;
} participant;

static bpnn_status sum_in_rank_order(double *values, size_t count, void *user)
{
    participant *me = user;
    table *t = me->table;
    t->values[me->rank] = values;
    pthread_barrier_wait(&t->barrier);
    if (me->rank == 0) {
        if (count > t->capacity) {
            t->sum = realloc(t->sum, count * sizeof *t->sum);
            t->capacity = count;
        }
        for (size_t i = 0; i < count; i++) {
            double s = 0;
            for (int r = 0; r < t->count; r++)
                s += t->values[r][i];
            t->sum[i] = s;
        }
    }
    pthread_barrier_wait(&t->barrier);
    memcpy(values, t->sum, count * sizeof *values);
    pthread_barrier_wait(&t->barrier); /* nobody reuses the sum before all have it */
    return BPNN_OK;
}

static void make_data(size_t rows, size_t features, uint64_t seed, bpnn_dataset *out)
{
    *out = (bpnn_dataset){.rows = rows, .features = features};
    out->x = malloc(rows * features * sizeof *out->x);
    out->labels = malloc(rows * sizeof *out->labels);
    xoshiro256 g;
    xoshiro256_seed(&g, seed);
    for (size_t i = 0; i < rows; i++) {
        int k = (int)(i % 3);
        out->labels[i] = k;
        for (size_t j = 0; j < features; j++)
            out->x[i * features + j] =
                (j % 3 == (size_t)k ? 1.0 : -0.5) + 1.5 * (2 * xoshiro256_uniform(&g) - 1);
    }
}

/* Rows [first, first + rows) of `data`. */
static void take_share(const bpnn_dataset *data, size_t first, size_t rows, bpnn_dataset *out)
{
    *out = (bpnn_dataset){.rows = rows, .features = data->features};
    out->x = malloc(rows * data->features * sizeof *out->x);
    out->labels = malloc(rows * sizeof *out->labels);
    memcpy(out->x, data->x + first * data->features, rows * data->features * sizeof *out->x);
    memcpy(out->labels, data->labels + first, rows * sizeof *out->labels);
}

/* The overlapped halves, as a caller without a thread of its own may give
 * them: start sums at once (every participant starts the same sums in the
 * same order), wait has nothing left to do. */
static bpnn_status start_in_rank_order(double *values, size_t count, void *user, void **request)
{
    *request = values;
    return sum_in_rank_order(values, count, user);
}

static bpnn_status wait_done(void *request, void *user)
{
    (void)user;
    ck_assert_ptr_nonnull(request);
    return BPNN_OK;
}

static void *train_share(void *arg)
{
    participant *me = arg;
    bpnn_device *device = NULL;
    me->status = bpnn_device_open("cpu", BPNN_F64, &device);
    bpnn_model *model = NULL;
    if (me->status == BPNN_OK)
        me->status = bpnn_model_create(3, me->sizes, BPNN_F64, &model);
    if (me->status == BPNN_OK) {
        bpnn_init_random(model, 3);
        bpnn_train_options o = *me->options;
        o.rank = me->rank;
        o.reduce = sum_in_rank_order;
        o.reduce_user = me;
        if (o.reduce_start) {
            o.reduce_start = start_in_rank_order;
            o.reduce_wait = wait_done;
        }
        me->status = bpnn_train(device, model, &me->share, &o, &me->result);
        me->param_count = model->param_count;
        me->params = malloc(model->param_count * sizeof *me->params);
        memcpy(me->params, model->params, model->param_count * sizeof *me->params);
    }
    bpnn_model_free(model);
    bpnn_device_close(device);
    return NULL;
}

/* Trains on `data` shared by `count` threads (uneven shares); participant
 * 0's result and parameters come back (all must agree). */
static void train_shared(const bpnn_dataset *data, int count, const bpnn_train_options *options,
                         bpnn_train_result *result, double **params)
{
    static const int sizes[3] = {6, 7, 3};
    table t = {.count = count};
    pthread_barrier_init(&t.barrier, NULL, (unsigned)count);
    participant p[MAX_PARTICIPANTS];
    pthread_t threads[MAX_PARTICIPANTS];
    for (int r = 0; r < count; r++) {
        size_t first = data->rows * (size_t)r / (size_t)count;
        size_t last = data->rows * (size_t)(r + 1) / (size_t)count;
        p[r] = (participant){.table = &t, .rank = r, .options = options, .sizes = sizes};
        take_share(data, first, last - first, &p[r].share);
        ck_assert_int_eq(pthread_create(&threads[r], NULL, train_share, &p[r]), 0);
    }
    for (int r = 0; r < count; r++)
        pthread_join(threads[r], NULL);
    for (int r = 0; r < count; r++) {
        ck_assert_msg(p[r].status == BPNN_OK, "participant %d: %d", r, p[r].status);
        /* every replica holds the same parameters, bit for bit */
        ck_assert(memcmp(p[r].params, p[0].params, p[0].param_count * sizeof(double)) == 0);
        ck_assert_double_eq(p[r].result.final_cost, p[0].result.final_cost);
        if (r > 0)
            free(p[r].params);
        bpnn_dataset_free(&p[r].share);
    }
    *result = p[0].result;
    *params = p[0].params;
    pthread_barrier_destroy(&t.barrier);
    free(t.sum);
}

START_TEST(test_full_batch_follows_one_participant)
{
    bpnn_set_threads(1);
    bpnn_dataset data;
    make_data(301, 6, 1, &data);
    static const bpnn_optimizer optimizers[] = {BPNN_OPT_CG, BPNN_OPT_LBFGS};
    for (int i = 0; i < 2; i++) {
        bpnn_train_options o;
        bpnn_train_options_default(&o);
        o.optimizer = optimizers[i];
        o.max_iter = 20;
        o.lambda = 0.5;
        bpnn_train_result alone, shared;
        double *p_alone, *p_shared;
        train_shared(&data, 1, &o, &alone, &p_alone);
        for (int count = 2; count <= 3; count++) {
            o.ranks = count;
            train_shared(&data, count, &o, &shared, &p_shared);
            printf("%s, %d participants: final cost %.17g, alone %.17g\n",
                   bpnn_optimizer_name(o.optimizer), count, shared.final_cost, alone.final_cost);
            ck_assert_rel(shared.final_cost, alone.final_cost, 1e-12);
            ck_assert_int_eq(shared.iterations, alone.iterations);
            ck_assert_double_eq(shared.train_accuracy, alone.train_accuracy);
            free(p_shared);
        }
        o.ranks = 1;
        free(p_alone);
    }
    bpnn_dataset_free(&data);
}
END_TEST

START_TEST(test_minibatch_close_to_one_participant)
{
    bpnn_set_threads(1);
    bpnn_dataset data;
    make_data(600, 6, 2, &data);
    bpnn_train_options o;
    bpnn_train_options_default(&o);
    o.optimizer = BPNN_OPT_ADAM;
    o.epochs = 2;
    o.batch = 8;
    o.learning_rate = 0.02;
    o.lambda = 0.5;
    bpnn_train_result alone, shared;
    double *p_alone, *p_shared;
    train_shared(&data, 1, &o, &alone, &p_alone);
    o.ranks = 2;
    train_shared(&data, 2, &o, &shared, &p_shared);
    printf("adam, 2 participants: final cost %.6f (alone %.6f), accuracy %.4f (alone %.4f)\n",
           shared.final_cost, alone.final_cost, shared.train_accuracy, alone.train_accuracy);
    /* the same number of steps on batches of the same global size: other
     * rows in each batch, so the same descent to within a few percent */
    ck_assert_int_eq(shared.evaluations, alone.evaluations);
    ck_assert_rel(shared.final_cost, alone.final_cost, 0.05);
    ck_assert(fabs(shared.train_accuracy - alone.train_accuracy) < 0.03);
    /* layer by layer, each layer's slice summed as backpropagation finishes
     * it: the same sums element by element, so the same bits */
    bpnn_train_result overlapped;
    double *p_overlapped;
    o.reduce_start = start_in_rank_order; /* any non-NULL: train_share sets both */
    train_shared(&data, 2, &o, &overlapped, &p_overlapped);
    ck_assert_int_eq(overlapped.evaluations, shared.evaluations);
    ck_assert_double_eq(overlapped.final_cost, shared.final_cost);
    static const int sizes[3] = {6, 7, 3}; /* train_shared's network */
    ck_assert(memcmp(p_overlapped, p_shared, bpnn_param_count(3, sizes) * sizeof(double)) == 0);
    free(p_overlapped);
    free(p_alone);
    free(p_shared);
    bpnn_dataset_free(&data);
}
END_TEST

/* What every participant does to its share before training: hold out its
 * part of the validation rows, fingerprint both parts, fit the
 * normalization with the others. */
typedef struct preparation {
    table *table;
    int rank, count;
    bpnn_dataset share, val;
    bpnn_normalization kind;
    uint32_t train_print, val_print;
    double *shift, *scale;
    bpnn_status status;
} preparation;

static bpnn_status prepare_sum(double *values, size_t count, void *user)
{
    preparation *me = user;
    participant as = {.table = me->table, .rank = me->rank};
    return sum_in_rank_order(values, count, &as);
}

static void *prepare_share(void *arg)
{
    preparation *me = arg;
    static const int sizes[3] = {6, 7, 3};
    bpnn_train_options o;
    bpnn_train_options_default(&o);
    o.reduce = prepare_sum;
    o.reduce_user = me;
    o.rank = me->rank;
    o.ranks = me->count;
    bpnn_model *model = NULL;
    me->status = bpnn_dataset_split(&me->share, 0.2, 5, &me->val);
    if (me->status == BPNN_OK)
        me->status = bpnn_dataset_fingerprint(&me->share, &o, &me->train_print);
    if (me->status == BPNN_OK)
        me->status = bpnn_dataset_fingerprint(&me->val, &o, &me->val_print);
    if (me->status == BPNN_OK)
        me->status = bpnn_model_create(3, sizes, BPNN_F64, &model);
    if (me->status == BPNN_OK)
        me->status = bpnn_normalize_fit_shared(model, me->kind, &me->share, &o);
    if (me->status == BPNN_OK) {
        me->shift = malloc(6 * sizeof *me->shift);
        me->scale = malloc(6 * sizeof *me->scale);
        memcpy(me->shift, model->norm_shift, 6 * sizeof *me->shift);
        memcpy(me->scale, model->norm_scale, 6 * sizeof *me->scale);
    }
    bpnn_model_free(model);
    return NULL;
}

/* Rows [at, at + part->rows) of `whole` are those of `part`. */
static void assert_rows_equal(const bpnn_dataset *whole, size_t at, const bpnn_dataset *part)
{
    ck_assert_uint_le(at + part->rows, whole->rows);
    ck_assert(memcmp(whole->x + at * whole->features, part->x,
                     part->rows * part->features * sizeof *part->x) == 0);
    ck_assert(memcmp(whole->labels + at, part->labels, part->rows * sizeof *part->labels) == 0);
}

/* Shares split, fingerprinted and normalized together are the whole data set
 * split, fingerprinted and normalized alone: the same rows held out, the same
 * fingerprints (so a checkpoint resumes with another number of
 * participants), min-max statistics equal and z-score ones to rounding. */
START_TEST(test_shares_prepare_as_the_whole)
{
    static const int sizes[3] = {6, 7, 3};
    bpnn_dataset data;
    make_data(301, 6, 3, &data);
    for (int kind = BPNN_NORMALIZE_ZSCORE; kind <= BPNN_NORMALIZE_MINMAX; kind++) {
        bpnn_dataset whole, whole_val;
        take_share(&data, 0, data.rows, &whole);
        ck_assert_int_eq(bpnn_dataset_split(&whole, 0.2, 5, &whole_val), BPNN_OK);
        uint32_t train_print, val_print;
        ck_assert_int_eq(bpnn_dataset_fingerprint(&whole, NULL, &train_print), BPNN_OK);
        ck_assert_int_eq(bpnn_dataset_fingerprint(&whole_val, NULL, &val_print), BPNN_OK);
        bpnn_model *model;
        ck_assert_int_eq(bpnn_model_create(3, sizes, BPNN_F64, &model), BPNN_OK);
        ck_assert_int_eq(bpnn_normalize_fit(model, (bpnn_normalization)kind, &whole), BPNN_OK);
        for (int count = 1; count <= 3; count++) {
            table t = {.count = count};
            pthread_barrier_init(&t.barrier, NULL, (unsigned)count);
            preparation p[MAX_PARTICIPANTS];
            pthread_t threads[MAX_PARTICIPANTS];
            for (int r = 0; r < count; r++) {
                p[r] = (preparation){
                    .table = &t, .rank = r, .count = count, .kind = (bpnn_normalization)kind};
                take_share(&data, 0, data.rows, &p[r].share);
                ck_assert_int_eq(bpnn_dataset_shard(&p[r].share, r, count), BPNN_OK);
                ck_assert_int_eq(pthread_create(&threads[r], NULL, prepare_share, &p[r]), 0);
            }
            for (int r = 0; r < count; r++)
                pthread_join(threads[r], NULL);
            size_t kept_at = 0, val_at = 0;
            for (int r = 0; r < count; r++) {
                ck_assert_msg(p[r].status == BPNN_OK, "%d of %d: %s", r, count,
                              bpnn_error_message());
                ck_assert_uint_eq(p[r].share.share_first, kept_at);
                ck_assert_uint_eq(p[r].share.share_of, whole.rows);
                ck_assert_uint_eq(p[r].val.share_first, val_at);
                ck_assert_uint_eq(p[r].val.share_of, whole_val.rows);
                ck_assert_uint_eq(p[r].train_print, train_print);
                ck_assert_uint_eq(p[r].val_print, val_print);
                for (int j = 0; j < 6; j++) {
                    if (kind == BPNN_NORMALIZE_MINMAX) {
                        ck_assert_double_eq(p[r].shift[j], model->norm_shift[j]);
                        ck_assert_double_eq(p[r].scale[j], model->norm_scale[j]);
                    } else {
                        ck_assert_rel(p[r].shift[j], model->norm_shift[j], 1e-14);
                        ck_assert_rel(p[r].scale[j], model->norm_scale[j], 1e-14);
                    }
                    ck_assert_double_eq(p[r].shift[j], p[0].shift[j]);
                }
                /* the held-out rows are the whole split's, in order (never
                 * normalized here); the kept ones too (normalized alike
                 * when the statistics are exact) */
                assert_rows_equal(&whole_val, val_at, &p[r].val);
                if (kind == BPNN_NORMALIZE_MINMAX)
                    assert_rows_equal(&whole, kept_at, &p[r].share);
                val_at += p[r].val.rows;
                kept_at += p[r].share.rows;
            }
            ck_assert_uint_eq(kept_at, whole.rows);
            ck_assert_uint_eq(val_at, whole_val.rows);
            for (int r = 0; r < count; r++) {
                free(p[r].shift);
                free(p[r].scale);
                bpnn_dataset_free(&p[r].share);
                bpnn_dataset_free(&p[r].val);
            }
            pthread_barrier_destroy(&t.barrier);
            free(t.sum);
        }
        bpnn_model_free(model);
        bpnn_dataset_free(&whole);
        bpnn_dataset_free(&whole_val);
    }
    bpnn_dataset_free(&data);
}
END_TEST

static Suite *participants_suite(void)
{
    Suite *s = suite_create("participants");
    TCase *t = tcase_create("shared");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_full_batch_follows_one_participant);
    tcase_add_test(t, test_minibatch_close_to_one_participant);
    tcase_add_test(t, test_shares_prepare_as_the_whole);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(participants_suite());
}
