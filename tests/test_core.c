/* test_core.c — the algorithm on the CPU path: cost and gradient against
 * independent references, gradient checking, initialization, CG, L-BFGS. */
#include <math.h>
#include <string.h>

#include "backend/backend.h"
#include "bpnn.h"
#include "core/cg.h"
#include "core/lbfgs.h"
#include "core/line_search.h"
#include "core/line_step.h"
#include "core/network.h"
#include "core/random.h"
#include "scipy_reference.h"
#include "seed_reference.h"
#include "testutil.h"
#include "util/error.h"

static bpnn_device *open_cpu(bpnn_precision precision)
{
    bpnn_device *device = NULL;
    ck_assert_int_eq(bpnn_device_open("cpu", precision, &device), BPNN_OK);
    return device;
}

/* The seed's cost in its own form, -y log h - (1-y) log(1-h), by plain loops
 * over a model held as Theta matrices: shares no code with the library. */
static double plain_loop_cost(const bpnn_model *model, const bpnn_dataset *data, double lambda)
{
    int L = model->layer_count, K = model->sizes[L - 1];
    double total = 0;
    for (size_t i = 0; i < data->rows; i++) {
        double a[64], next[64];
        int width = model->sizes[0];
        for (int j = 0; j < width; j++)
            a[j] = data->x[i * data->features + (size_t)j];
        const double *theta = model->params;
        for (int l = 0; l + 1 < L; l++) {
            int out = model->sizes[l + 1];
            for (int r = 0; r < out; r++) {
                double z = theta[r * (width + 1)];
                for (int c = 0; c < width; c++)
                    z += theta[r * (width + 1) + c + 1] * a[c];
                next[r] = 1 / (1 + exp(-z));
            }
            theta += out * (width + 1);
            width = out;
            memcpy(a, next, sizeof(double) * (size_t)width);
        }
        for (int k = 0; k < K; k++) {
            double y = data->labels[i] == k;
            total += -y * log(a[k]) - (1 - y) * log(1 - a[k]);
        }
    }
    double squares = 0;
    const double *theta = model->params;
    for (int l = 0; l + 1 < L; l++) {
        int rows = model->sizes[l + 1], cols = model->sizes[l] + 1;
        for (int r = 0; r < rows; r++)
            for (int c = 1; c < cols; c++)
                squares += theta[r * cols + c] * theta[r * cols + c];
        theta += rows * cols;
    }
    double m = (double)data->rows;
    return total / m + lambda / (2 * m) * squares;
}

START_TEST(test_cost_matches_plain_loops)
{
    static const int layers[][4] = {{3, 5, 3}, {3, 5, 4, 3}, {4, 7, 2}};
    static const int counts[] = {3, 4, 3};
    bpnn_device *cpu = open_cpu(BPNN_F64);
    for (int n = 0; n < 3; n++) {
        for (double lambda = 0; lambda <= 3; lambda += 3) {
            bpnn_model *model;
            bpnn_dataset data;
            ck_assert_int_eq(bpnn_debug_problem(counts[n], layers[n], 7, BPNN_F64, &model, &data),
                             BPNN_OK);
            double cost;
            ck_assert_int_eq(bpnn_cost_gradient(cpu, model, &data, lambda, &cost, NULL), BPNN_OK);
            ck_assert_rel(cost, plain_loop_cost(model, &data, lambda), 1e-12);
            bpnn_model_free(model);
            bpnn_dataset_free(&data);
        }
    }
    bpnn_device_close(cpu);
}
END_TEST

/* The reference cost and gradient (numpy float64) of the seed's debug
 * networks 3-5-3 and 3-5-4-3, lambda 0 and 3. */
START_TEST(test_matches_seed_reference)
{
    const seed_reference *ref = &seed_references[_i];
    bpnn_device *cpu = open_cpu(BPNN_F64);
    bpnn_model *model;
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_debug_problem(ref->layer_count, ref->sizes, 5, BPNN_F64, &model, &data),
                     BPNN_OK);
    ck_assert_int_eq((int)model->param_count, ref->count);
    double cost, gradient[64];
    ck_assert_int_eq(bpnn_cost_gradient(cpu, model, &data, ref->lambda, &cost, gradient), BPNN_OK);
    ck_assert_rel(cost, ref->cost, 1e-12);
    for (int i = 0; i < ref->count; i++)
        ck_assert_rel(gradient[i], ref->gradient[i], 1e-12);
    bpnn_model_free(model);
    bpnn_dataset_free(&data);
    bpnn_device_close(cpu);
}
END_TEST

START_TEST(test_gradient_check)
{
    static const struct {
        int count, sizes[4];
        double lambda;
    } cases[] = {{3, {3, 5, 3}, 0}, {3, {3, 5, 3}, 3}, {4, {3, 5, 4, 3}, 0}, {4, {3, 5, 4, 3}, 3}};
    bpnn_device *cpu = open_cpu(BPNN_F64);
    for (size_t n = 0; n < sizeof cases / sizeof *cases; n++) {
        bpnn_gradcheck g;
        ck_assert_int_eq(
            bpnn_gradient_check(cpu, cases[n].count, cases[n].sizes, 5, cases[n].lambda, 1e-4, &g),
            BPNN_OK);
        ck_assert_msg(g.relative_difference < 1e-9, "relative difference %g",
                      g.relative_difference);
        /* and not zero by accident: the gradient has substance */
        double norm = 0;
        for (size_t i = 0; i < g.count; i++)
            norm += g.backprop[i] * g.backprop[i];
        ck_assert(norm > 1e-6);
        bpnn_gradcheck_free(&g);
    }
    bpnn_device_close(cpu);
}
END_TEST

/* A backend whose backpropagation is wrong in one op and right in all
 * others: the forward pass, so the cost and the numerical gradient, stay
 * exact, and bpnn_gradient_check must report the difference. */
static backend_ops broken_ops;
static const backend_ops *intact_ops;

static bpnn_status output_delta_off(backend *be, size_t rows, size_t classes, backend_view h,
                                    backend_view labels, backend_view delta)
{
    BPNN_TRY(intact_ops->output_delta(be, rows, classes, h, labels, delta));
    return intact_ops->scal(be, rows * classes, 1.001, delta);
}

static bpnn_status sigmoid_gradient_off(backend *be, size_t count, backend_view a,
                                        backend_view delta)
{
    BPNN_TRY(intact_ops->sigmoid_gradient_mul(be, count, a, delta));
    return intact_ops->scal(be, count, 1.001, delta);
}

/* _i = 0: the output layer's delta 0.1% too large; 1: the hidden layers'. */
START_TEST(test_gradient_check_detects_error)
{
    static const int sizes[] = {3, 5, 4, 3};
    backend *be;
    ck_assert_int_eq(cpu_backend_create(BPNN_F64, &be), BPNN_OK);
    intact_ops = be->ops;
    broken_ops = *be->ops;
    if (_i == 0)
        broken_ops.output_delta = output_delta_off;
    else
        broken_ops.sigmoid_gradient_mul = sigmoid_gradient_off;
    be->ops = &broken_ops;
    bpnn_gradcheck g;
    ck_assert_int_eq(bpnn_gradient_check(be, 4, sizes, 5, 0, 1e-4, &g), BPNN_OK);
    /* about 1e-4 and above: far outside the 1e-9 a right gradient meets */
    ck_assert_msg(g.relative_difference > 1e-6, "relative difference %g", g.relative_difference);
    ck_assert(g.max_abs_difference > 1e-9);
    bpnn_gradcheck_free(&g);
    be->ops = intact_ops;
    bpnn_device_close(be);
}
END_TEST

/* The CPU backend evaluates the rows in blocks (its batch_bytes): one byte
 * makes blocks of the least size, 64 rows, so 300 rows are five blocks, the
 * last one short. Cost, gradient and predictions must be the one-block
 * results. */
START_TEST(test_blocks_add_up)
{
    static const int sizes[] = {3, 5, 4, 3};
    bpnn_precision precision = (bpnn_precision)_i;
    double tolerance = precision == BPNN_F64 ? 1e-12 : 1e-5;
    bpnn_model *model;
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_debug_problem(4, sizes, 300, precision, &model, &data), BPNN_OK);
    backend *whole, *blocked;
    ck_assert_int_eq(cpu_backend_create(precision, &whole), BPNN_OK);
    ck_assert_int_eq(cpu_backend_create(precision, &blocked), BPNN_OK);
    whole->batch_bytes = 0;
    blocked->batch_bytes = 1;
    network *net;
    ck_assert_int_eq(network_create(blocked, 4, sizes, data.rows, NULL, NULL, 0, &net), BPNN_OK);
    ck_assert_int_lt(net->block_rows * 4, data.rows);
    ck_assert_int_gt(data.rows % net->block_rows, 0);
    network_free(net);
    double cost, blocked_cost, gradient[64], blocked_gradient[64];
    ck_assert_int_eq(bpnn_cost_gradient(whole, model, &data, 3, &cost, gradient), BPNN_OK);
    ck_assert_int_eq(bpnn_cost_gradient(blocked, model, &data, 3, &blocked_cost, blocked_gradient),
                     BPNN_OK);
    ck_assert_rel(blocked_cost, cost, tolerance);
    double largest = 0;
    for (size_t i = 0; i < model->param_count; i++)
        largest = fmax(largest, fabs(gradient[i]));
    for (size_t i = 0; i < model->param_count; i++)
        ck_assert_msg(fabs(blocked_gradient[i] - gradient[i]) <= tolerance * largest,
                      "gradient[%zu]: %.17g in blocks, %.17g whole", i, blocked_gradient[i],
                      gradient[i]);
    /* the debug problem's outputs vary across rows, so every block's
     * predictions count */
    int32_t predicted[300], blocked_predicted[300];
    ck_assert_int_eq(bpnn_predict(whole, model, &data, predicted), BPNN_OK);
    ck_assert_int_eq(bpnn_predict(blocked, model, &data, blocked_predicted), BPNN_OK);
    ck_assert_int_eq(memcmp(predicted, blocked_predicted, sizeof predicted), 0);
    bpnn_model_free(model);
    bpnn_dataset_free(&data);
    bpnn_device_close(whole);
    bpnn_device_close(blocked);
}
END_TEST

START_TEST(test_f32_close_to_f64)
{
    static const int sizes[] = {3, 5, 4, 3};
    bpnn_device *cpu64 = open_cpu(BPNN_F64), *cpu32 = open_cpu(BPNN_F32);
    bpnn_model *model;
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_debug_problem(4, sizes, 5, BPNN_F64, &model, &data), BPNN_OK);
    double c64, c32, g64[64], g32[64];
    ck_assert_int_eq(bpnn_cost_gradient(cpu64, model, &data, 3, &c64, g64), BPNN_OK);
    ck_assert_int_eq(bpnn_cost_gradient(cpu32, model, &data, 3, &c32, g32), BPNN_OK);
    ck_assert_rel(c32, c64, 1e-6);
    for (size_t i = 0; i < model->param_count; i++)
        ck_assert(fabs(g32[i] - g64[i]) < 1e-6);
    bpnn_model_free(model);
    bpnn_dataset_free(&data);
    bpnn_device_close(cpu64);
    bpnn_device_close(cpu32);
}
END_TEST

/* softplus form: a confident wrong output costs |z|, never inf or NaN. */
START_TEST(test_cost_stable_for_saturated_outputs)
{
    static const int sizes[] = {1, 2};
    bpnn_model *model;
    ck_assert_int_eq(bpnn_model_create(2, sizes, BPNN_F32, &model), BPNN_OK);
    /* output k: z_k = bias_k + w_k x with x = 1: z = (200, -200) for label 1 */
    double params[] = {100, 100, -100, -100};
    memcpy(model->params, params, sizeof params);
    double x = 1;
    int32_t label = 1;
    bpnn_dataset data = {.rows = 1, .features = 1, .x = &x, .labels = &label};
    for (int p = 0; p < 2; p++) {
        bpnn_device *cpu = open_cpu((bpnn_precision)p);
        double cost;
        ck_assert_int_eq(bpnn_cost_gradient(cpu, model, &data, 0, &cost, NULL), BPNN_OK);
        ck_assert_rel(cost, 400.0, 1e-6);
        bpnn_device_close(cpu);
    }
    bpnn_model_free(model);
}
END_TEST

/* ck_assert_rel itself: run in a suite of its own (forked, so a failure
 * cannot unwind into this test), it must fail on anything not finite. */
START_TEST(test_rel_assertion_cases)
{
    static const double cases[][2] = {
        {INFINITY, 400}, {400, INFINITY}, {INFINITY, INFINITY}, {NAN, 1}, {1, 1 + 1e-13}};
    ck_assert_rel(cases[_i][0], cases[_i][1], 1e-6);
}
END_TEST

START_TEST(test_rel_assertion_refuses_non_finite)
{
    Suite *suite = suite_create("ck_assert_rel");
    TCase *t = tcase_create("cases");
    tcase_add_loop_test(t, test_rel_assertion_cases, 0, 5);
    suite_add_tcase(suite, t);
    SRunner *runner = srunner_create(suite);
    srunner_set_fork_status(runner, CK_FORK);
    srunner_run_all(runner, CK_SILENT);
    int failed = srunner_ntests_failed(runner), run = srunner_ntests_run(runner);
    srunner_free(runner);
    ck_assert_int_eq(run, 5);
    ck_assert_int_eq(failed, 4); /* all but the finite pair */
}
END_TEST

START_TEST(test_init_bounds_and_determinism)
{
    static const int sizes[] = {784, 25, 10};
    bpnn_model *a, *b, *c;
    ck_assert_int_eq(bpnn_model_create(3, sizes, BPNN_F64, &a), BPNN_OK);
    ck_assert_int_eq(bpnn_model_create(3, sizes, BPNN_F64, &b), BPNN_OK);
    ck_assert_int_eq(bpnn_model_create(3, sizes, BPNN_F64, &c), BPNN_OK);
    ck_assert_int_eq((int)a->param_count, 25 * 785 + 10 * 26);
    bpnn_init_random(a, 42);
    bpnn_init_random(b, 42);
    bpnn_init_random(c, 43);
    ck_assert_int_eq(memcmp(a->params, b->params, a->param_count * sizeof(double)), 0);
    ck_assert_int_ne(memcmp(a->params, c->params, a->param_count * sizeof(double)), 0);
    for (int l = 0; l < 2; l++) {
        double e = sqrt(6.0 / (sizes[l] + sizes[l + 1]));
        size_t offset = bpnn_theta_offset(sizes, l + 1);
        size_t count = (size_t)sizes[l + 1] * (size_t)(sizes[l] + 1);
        double lo = 1, hi = -1, mean = 0;
        for (size_t i = 0; i < count; i++) {
            double v = a->params[offset + i];
            ck_assert(v >= -e && v <= e);
            lo = fmin(lo, v);
            hi = fmax(hi, v);
            mean += v / (double)count;
        }
        /* uniform over the whole interval: reaches near both ends, centred */
        ck_assert(lo < -0.95 * e && hi > 0.95 * e);
        ck_assert(fabs(mean) < 0.05 * e);
    }
    bpnn_model_free(a);
    bpnn_model_free(b);
    bpnn_model_free(c);
}
END_TEST

START_TEST(test_debug_init_is_row_major_sin)
{
    double w[15];
    bpnn_init_debug(w, 15);
    /* Theta 5 x 3 row-major: row 1, column 0 is element 3, i.e. sin(4)/10 */
    ck_assert_rel(w[3], sin(4.0) / 10, 1e-15);
    ck_assert_rel(w[14], sin(15.0) / 10, 1e-15);
}
END_TEST

/* Two interleaved spirals are not linearly separable: a hidden layer and a
 * working optimizer are needed to fit them. */
static void spiral_problem(size_t m, bpnn_dataset *data)
{
    data->rows = m;
    data->features = 2;
    data->x = malloc(m * 2 * sizeof(double));
    data->labels = malloc(m * sizeof(int32_t));
    for (size_t i = 0; i < m; i++) {
        int k = (int)(i % 2);
        double t = 1.0 + 3.0 * (double)(i / 2) / (double)(m / 2);
        double angle = t * 2.0 + k * M_PI;
        data->x[2 * i] = t * cos(angle) / 4;
        data->x[2 * i + 1] = t * sin(angle) / 4;
        data->labels[i] = k;
    }
}

START_TEST(test_cg_lowers_cost)
{
    static const int sizes[] = {2, 20, 2};
    for (int p = 0; p < 2; p++) {
        bpnn_device *cpu = open_cpu((bpnn_precision)p);
        bpnn_model *model;
        bpnn_dataset data;
        spiral_problem(200, &data);
        ck_assert_int_eq(bpnn_model_create(3, sizes, (bpnn_precision)p, &model), BPNN_OK);
        bpnn_init_random(model, 1);
        double start;
        ck_assert_int_eq(bpnn_cost_gradient(cpu, model, &data, 0, &start, NULL), BPNN_OK);
        bpnn_train_options options;
        bpnn_train_options_default(&options);
        options.lambda = 0;
        options.max_iter = 400;
        bpnn_train_result result;
        ck_assert_int_eq(bpnn_train(cpu, model, &data, &options, &result), BPNN_OK);
        double end;
        ck_assert_int_eq(bpnn_cost_gradient(cpu, model, &data, 0, &end, NULL), BPNN_OK);
        /* the reported cost is the cost at the returned parameters */
        ck_assert_rel(result.final_cost, end, p == BPNN_F64 ? 1e-12 : 1e-5);
        ck_assert_msg(start > 1.3 && end < 0.25, "cost %g -> %g", start, end);
        ck_assert_int_gt(result.evaluations, result.iterations);
        int32_t predicted[200];
        ck_assert_int_eq(bpnn_predict(cpu, model, &data, predicted), BPNN_OK);
        int correct = 0;
        for (int i = 0; i < 200; i++)
            correct += predicted[i] == data.labels[i];
        ck_assert_int_ge(correct, 190);
        ck_assert(result.train_accuracy == correct / 200.0); /* measured on the device */
        bpnn_model_free(model);
        bpnn_dataset_free(&data);
        bpnn_device_close(cpu);
    }
}
END_TEST

START_TEST(test_cg_stops_on_gtol)
{
    static const int sizes[] = {2, 3, 2};
    bpnn_device *cpu = open_cpu(BPNN_F64);
    bpnn_model *model;
    bpnn_dataset data;
    spiral_problem(20, &data);
    ck_assert_int_eq(bpnn_model_create(3, sizes, BPNN_F64, &model), BPNN_OK);
    bpnn_init_random(model, 3);
    bpnn_train_options options;
    bpnn_train_options_default(&options);
    options.lambda = 10; /* strongly convex enough to converge fast */
    options.max_iter = 5000;
    options.gtol = 1e-7;
    bpnn_train_result result;
    ck_assert_int_eq(bpnn_train(cpu, model, &data, &options, &result), BPNN_OK);
    ck_assert_str_eq(result.stop_reason, "gtol");
    double cost, gradient[64];
    ck_assert_int_eq(bpnn_cost_gradient(cpu, model, &data, 10, &cost, gradient), BPNN_OK);
    for (size_t i = 0; i < model->param_count; i++)
        ck_assert(fabs(gradient[i]) <= 1e-7);
    bpnn_model_free(model);
    bpnn_dataset_free(&data);
    bpnn_device_close(cpu);
}
END_TEST

START_TEST(test_diverged_data_reported)
{
    static const int sizes[] = {2, 3, 2};
    bpnn_device *cpu = open_cpu(BPNN_F64);
    bpnn_model *model;
    bpnn_dataset data;
    spiral_problem(10, &data);
    data.x[3] = NAN;
    ck_assert_int_eq(bpnn_model_create(3, sizes, BPNN_F64, &model), BPNN_OK);
    bpnn_init_random(model, 1);
    bpnn_train_options options;
    bpnn_train_options_default(&options);
    bpnn_train_result result;
    ck_assert_int_eq(bpnn_train(cpu, model, &data, &options, &result), BPNN_ERR_DIVERGED);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "diverged"));
    bpnn_model_free(model);
    bpnn_dataset_free(&data);
    bpnn_device_close(cpu);
}
END_TEST

START_TEST(test_shape_mismatch_rejected)
{
    static const int sizes[] = {3, 4, 2};
    bpnn_device *cpu = open_cpu(BPNN_F64);
    bpnn_model *model;
    bpnn_dataset data;
    spiral_problem(10, &data); /* 2 features, the network wants 3 */
    ck_assert_int_eq(bpnn_model_create(3, sizes, BPNN_F64, &model), BPNN_OK);
    double cost;
    ck_assert_int_eq(bpnn_cost_gradient(cpu, model, &data, 0, &cost, NULL), BPNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "do not match"));
    bpnn_model_free(model);
    bpnn_dataset_free(&data);
    bpnn_device_close(cpu);
}
END_TEST

START_TEST(test_device_strings)
{
    bpnn_device *device = NULL;
    ck_assert_int_eq(bpnn_device_open("fpga", BPNN_F32, &device), BPNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "unknown device"));
    ck_assert_int_eq(bpnn_device_open("opencl:x", BPNN_F32, &device), BPNN_ERR_INVALID);
    ck_assert_int_eq(bpnn_device_open("opencl:1:", BPNN_F32, &device), BPNN_ERR_INVALID);
    ck_assert_int_eq(bpnn_device_open("cpu", BPNN_F64, &device), BPNN_OK);
    ck_assert_str_eq(bpnn_device_spec(device), "cpu");
    bpnn_device_close(device);
}
END_TEST

/* ---- L-BFGS ----------------------------------------------------------------- */

#define HOST_MAX_N 32

/* A cost written on the host: f(x) and its gradient into g. */
typedef double (*host_cost_fn)(size_t n, const double *x, double *g);

/* An objective_fn over backend buffers that downloads x, evaluates a host
 * cost and uploads the gradient; it can also sabotage line searches, to
 * drive the optimizer down its failure paths. */
typedef struct host_objective {
    backend *be;
    size_t n;
    host_cost_fn cost;
    int calls;
    int iterations_seen;
    double last_f;
    int stop_at; /* set *stop at this iteration (0: never) */
    /* Searches from the point of iteration poison_at (0: never) until a step
     * is taken see every trial point off the ray along -g (or, with
     * poison_steepest_too, every trial point) cost more than that point. */
    int poison_at;
    int poison_steepest_too;
    int poisoned_calls;
    int anchored;
    double anchor[HOST_MAX_N], anchor_g[HOST_MAX_N], anchor_f; /* at poison_at */
} host_objective;

/* Whether x lies on the ray anchor - t anchor_g, t > 0. */
static int along_steepest(const host_objective *h, const double *x)
{
    double vg = 0, vv = 0, gg = 0;
    for (size_t i = 0; i < h->n; i++) {
        double v = x[i] - h->anchor[i];
        vg += v * h->anchor_g[i];
        vv += v * v;
        gg += h->anchor_g[i] * h->anchor_g[i];
    }
    return -vg > (1 - 1e-9) * sqrt(vv * gg);
}

static bpnn_status host_objective_eval(void *context, backend_buffer *xb, double *f,
                                       backend_buffer *gb, objective_extras *extras)
{
    host_objective *h = context;
    double x[HOST_MAX_N], g[HOST_MAX_N];
    ck_assert_int_eq(h->be->ops->download(h->be, view_at(xb, 0), h->n, x), BPNN_OK);
    *f = h->cost(h->n, x, g);
    h->calls++;
    if (h->anchored && (h->poison_steepest_too || !along_steepest(h, x))) {
        *f = h->anchor_f + 1 + fabs(*f); /* above the anchor's cost, whatever the step */
        h->poisoned_calls++;
    }
    BPNN_TRY(h->be->ops->upload(h->be, view_at(gb, 0), h->n, g));
    return objective_read_extras(h->be, extras);
}

static bpnn_status host_objective_iteration(void *context, int iteration, int evaluations, double f,
                                            backend_buffer *xb, int *stop)
{
    host_objective *h = context;
    ck_assert_int_eq(iteration, h->iterations_seen + 1);
    ck_assert_int_eq(evaluations, h->calls);
    ck_assert(f < h->last_f);
    h->iterations_seen = iteration;
    h->last_f = f;
    /* a run of poisoned searches ends with the first step taken after it */
    h->anchored = 0;
    if (iteration == h->poison_at) {
        ck_assert_int_eq(h->be->ops->download(h->be, view_at(xb, 0), h->n, h->anchor), BPNN_OK);
        h->anchor_f = h->cost(h->n, h->anchor, h->anchor_g);
        h->anchored = 1;
    }
    *stop = h->stop_at != 0 && iteration >= h->stop_at;
    return BPNN_OK;
}

/* 1/2 sum a_i (x_i - c_i)^2 with a_i from 1 to 1000 (condition 1000) and
 * c_i = (i + 1) / 4: the minimizer is c. */
static double quadratic_curvature(size_t i, size_t n)
{
    return pow(1000.0, (double)i / (double)(n - 1));
}

static double quadratic_cost(size_t n, const double *x, double *g)
{
    double f = 0;
    for (size_t i = 0; i < n; i++) {
        double a = quadratic_curvature(i, n), r = x[i] - (double)(i + 1) / 4;
        f += a * r * r / 2;
        g[i] = a * r;
    }
    return f;
}

/* Extended Rosenbrock: sum over pairs of 100 (x2 - x1^2)^2 + (1 - x1)^2; the
 * minimizer is all ones, the valley makes the curvature change along the way. */
static double rosenbrock_cost(size_t n, const double *x, double *g)
{
    double f = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        double valley = x[i + 1] - x[i] * x[i], offset = 1 - x[i];
        f += 100 * valley * valley + offset * offset;
        g[i] = -400 * x[i] * valley - 2 * offset;
        g[i + 1] = 200 * valley;
    }
    return f;
}

static backend *cpu_f64(void)
{
    backend *be = NULL;
    ck_assert_int_eq(cpu_backend_create(BPNN_F64, &be), BPNN_OK);
    return be;
}

/* The Wolfe constants lbfgs.h documents, gtol 1e-10 and a callback. */
static lbfgs_options lbfgs_test_options(int max_iter, int history, iteration_fn on_iteration)
{
    return (lbfgs_options){.max_iter = max_iter,
                           .gtol = 1e-10,
                           .history = history,
                           .c1 = 1e-4,
                           .c2 = 0.9,
                           .on_iteration = on_iteration};
}

/* Runs L-BFGS on a host cost from x0 and leaves the final point in x. */
static bpnn_status run_host_lbfgs(host_objective *h, const lbfgs_options *options, const double *x0,
                                  double *x, lbfgs_result *result)
{
    backend_buffer *xb;
    ck_assert_int_eq(backend_alloc(h->be, BACKEND_REAL, h->n, &xb), BPNN_OK);
    ck_assert_int_eq(h->be->ops->upload(h->be, view_at(xb, 0), h->n, x0), BPNN_OK);
    h->last_f = INFINITY;
    bpnn_status status = lbfgs_minimize(h->be, h->n, xb, host_objective_eval, h, options, result);
    ck_assert_int_eq(h->be->ops->download(h->be, view_at(xb, 0), h->n, x), BPNN_OK);
    backend_release(h->be, xb);
    return status;
}

START_TEST(test_lbfgs_quadratic_minimizer)
{
    backend *be = cpu_f64();
    enum { N = 20 };
    double x0[N] = {0}, x[N], g[N];
    int iterations_with_one_pair = 0;
    for (int history = 1; history <= 10; history += 9) {
        host_objective h = {.be = be, .n = N, .cost = quadratic_cost};
        lbfgs_options o = lbfgs_test_options(2000, history, host_objective_iteration);
        lbfgs_result r;
        ck_assert_int_eq(run_host_lbfgs(&h, &o, x0, x, &r), BPNN_OK);
        ck_assert_msg(strcmp(r.stop_reason, "gtol") == 0, "history %d: %s after %d iterations",
                      history, r.stop_reason, r.iterations);
        /* |x - c| <= |g| / min a = gtol */
        for (int i = 0; i < N; i++)
            ck_assert_msg(fabs(x[i] - (i + 1) / 4.0) <= 1e-10, "history %d: x[%d] = %.17g", history,
                          i, x[i]);
        ck_assert(r.f == quadratic_cost(N, x, g)); /* the cost at the point returned */
        ck_assert_int_eq(r.iterations, h.iterations_seen);
        ck_assert_int_eq(r.evaluations, h.calls);
        ck_assert_int_gt(r.evaluations, r.iterations);
        /* more pairs describe the spread of curvatures better */
        if (history == 1)
            iterations_with_one_pair = r.iterations;
        else
            ck_assert_msg(r.iterations < 0.8 * iterations_with_one_pair, "%d vs %d iterations",
                          r.iterations, iterations_with_one_pair);
    }
    bpnn_device_close(be);
}
END_TEST

START_TEST(test_lbfgs_rosenbrock_minimizer)
{
    backend *be = cpu_f64();
    enum { N = 10 };
    double x0[N], x[N], g[N];
    for (int i = 0; i < N; i++)
        x0[i] = i % 2 ? 1.0 : -1.2;
    host_objective h = {.be = be, .n = N, .cost = rosenbrock_cost};
    lbfgs_options o = lbfgs_test_options(1000, 5, host_objective_iteration);
    o.gtol = 1e-9;
    lbfgs_result r;
    ck_assert_int_eq(run_host_lbfgs(&h, &o, x0, x, &r), BPNN_OK);
    ck_assert_str_eq(r.stop_reason, "gtol");
    for (int i = 0; i < N; i++)
        ck_assert_msg(fabs(x[i] - 1) <= 1e-8, "x[%d] = %.17g", i, x[i]);
    ck_assert(r.f == rosenbrock_cost(N, x, g) && r.f < 1e-16);
    ck_assert_int_lt(r.iterations, 200);
    bpnn_device_close(be);
}
END_TEST

/* From iteration 3's point only a search along -g can succeed: the run
 * goes on only if the failed search made it forget the history and retry
 * along -g. */
START_TEST(test_lbfgs_resets_history_after_failed_search)
{
    backend *be = cpu_f64();
    enum { N = 20 };
    double x0[N] = {0}, x[N];
    host_objective h = {.be = be, .n = N, .cost = quadratic_cost, .poison_at = 3};
    lbfgs_options o = lbfgs_test_options(500, 5, host_objective_iteration);
    lbfgs_result r;
    ck_assert_int_eq(run_host_lbfgs(&h, &o, x0, x, &r), BPNN_OK);
    ck_assert_int_gt(h.poisoned_calls, 0);
    ck_assert_str_eq(r.stop_reason, "gtol");
    ck_assert_int_gt(r.iterations, 4);
    for (int i = 0; i < N; i++)
        ck_assert(fabs(x[i] - (i + 1) / 4.0) <= 1e-10);
    bpnn_device_close(be);
}
END_TEST

/* When -g fails too, the run stops with "line_search" and keeps the last
 * point it reached. */
START_TEST(test_lbfgs_stops_when_steepest_descent_fails)
{
    backend *be = cpu_f64();
    enum { N = 20 };
    double x0[N] = {0}, x[N], g[N];
    host_objective h = {
        .be = be, .n = N, .cost = quadratic_cost, .poison_at = 3, .poison_steepest_too = 1};
    lbfgs_options o = lbfgs_test_options(500, 5, host_objective_iteration);
    lbfgs_result r;
    ck_assert_int_eq(run_host_lbfgs(&h, &o, x0, x, &r), BPNN_OK);
    ck_assert_str_eq(r.stop_reason, "line_search");
    ck_assert_int_eq(r.iterations, 3);
    ck_assert_int_eq(r.evaluations, h.calls);
    ck_assert_int_gt(h.poisoned_calls, 2); /* two searches' worth */
    ck_assert(memcmp(x, h.anchor, sizeof x) == 0);
    ck_assert(r.f == quadratic_cost(N, x, g));
    bpnn_device_close(be);
}
END_TEST

START_TEST(test_lbfgs_stop_flag)
{
    backend *be = cpu_f64();
    enum { N = 20 };
    double x0[N] = {0}, x[N], g[N];
    host_objective h = {.be = be, .n = N, .cost = quadratic_cost, .stop_at = 4};
    lbfgs_options o = lbfgs_test_options(500, 5, host_objective_iteration);
    lbfgs_result r;
    ck_assert_int_eq(run_host_lbfgs(&h, &o, x0, x, &r), BPNN_OK);
    ck_assert_str_eq(r.stop_reason, "stopped");
    ck_assert_int_eq(r.iterations, 4);
    ck_assert_int_eq(r.evaluations, h.calls);
    ck_assert(r.f == quadratic_cost(N, x, g));
    bpnn_device_close(be);
}
END_TEST

static double nan_cost(size_t n, const double *x, double *g)
{
    double f = quadratic_cost(n, x, g);
    return x[0] != 0 ? NAN : f; /* finite only at the start */
}

START_TEST(test_lbfgs_divergence_and_bad_history)
{
    backend *be = cpu_f64();
    enum { N = 20 };
    double x0[N] = {0}, x[N];
    host_objective h = {.be = be, .n = N, .cost = nan_cost};
    lbfgs_options o = lbfgs_test_options(50, 5, NULL);
    lbfgs_result r;
    ck_assert_int_eq(run_host_lbfgs(&h, &o, x0, x, &r), BPNN_ERR_DIVERGED);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "diverged"));
    o.history = 0;
    h.cost = quadratic_cost;
    ck_assert_int_eq(run_host_lbfgs(&h, &o, x0, x, &r), BPNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(bpnn_error_message(), "history"));
    bpnn_device_close(be);
}
END_TEST

/* The seed's debug network as an objective on the device. */
typedef struct network_objective {
    network *net;
    double lambda;
    double start, last_f;
    int iterations_seen;
} network_objective;

static bpnn_status network_objective_eval(void *context, backend_buffer *x, double *f,
                                          backend_buffer *g, objective_extras *extras)
{
    network_objective *t = context;
    BPNN_TRY(network_cost_gradient(t->net, x, t->lambda, f, g));
    return objective_read_extras(t->net->be, extras);
}

static bpnn_status network_objective_iteration(void *context, int iteration, int evaluations,
                                               double f, backend_buffer *x, int *stop)
{
    network_objective *t = context;
    (void)evaluations;
    ck_assert_msg(f < t->last_f, "iteration %d: cost %.17g after %.17g", iteration, f, t->last_f);
    double at_x;
    ck_assert_int_eq(network_cost_gradient(t->net, x, t->lambda, &at_x, NULL), BPNN_OK);
    ck_assert(at_x == f); /* the cost reported is the cost at the point reported */
    t->last_f = f;
    t->iterations_seen = iteration;
    *stop = 0;
    return BPNN_OK;
}

START_TEST(test_lbfgs_debug_network)
{
    static const int sizes[] = {4, 5, 3};
    bpnn_precision precision = (bpnn_precision)_i;
    backend *be;
    ck_assert_int_eq(cpu_backend_create(precision, &be), BPNN_OK);
    bpnn_model *model;
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_debug_problem(3, sizes, 30, precision, &model, &data), BPNN_OK);
    backend_buffer *x, *labels, *params;
    network *net;
    ck_assert_int_eq(network_upload_data(be, &data, &x, &labels), BPNN_OK);
    ck_assert_int_eq(network_create(be, 3, sizes, data.rows, x, labels, 1, &net), BPNN_OK);
    ck_assert_int_eq(backend_alloc(be, BACKEND_REAL, model->param_count, &params), BPNN_OK);
    ck_assert_int_eq(be->ops->upload(be, view_at(params, 0), model->param_count, model->params),
                     BPNN_OK);
    network_objective t = {.net = net, .lambda = 1};
    ck_assert_int_eq(network_cost_gradient(net, params, t.lambda, &t.start, NULL), BPNN_OK);
    t.last_f = t.start;
    lbfgs_options o = lbfgs_test_options(15, 4, network_objective_iteration);
    lbfgs_result r;
    ck_assert_int_eq(
        lbfgs_minimize(be, model->param_count, params, network_objective_eval, &t, &o, &r),
        BPNN_OK);
    ck_assert_msg(strcmp(r.stop_reason, "max_iter") == 0,
                  "%s after %d iterations, cost %g -> %.17g", r.stop_reason, r.iterations, t.start,
                  r.f);
    ck_assert_int_eq(r.iterations, 15);
    ck_assert_int_eq(t.iterations_seen, 15);
    double end;
    ck_assert_int_eq(network_cost_gradient(net, params, t.lambda, &end, NULL), BPNN_OK);
    ck_assert(end == r.f);
    ck_assert_msg(end < 0.92 * t.start, "cost %g -> %g", t.start, end);
    network_free(net);
    backend_release(be, params);
    backend_release(be, labels);
    backend_release(be, x);
    bpnn_model_free(model);
    bpnn_dataset_free(&data);
    bpnn_device_close(be);
}
END_TEST

/* ---- line searches ---------------------------------------------------------- */

/* More and Thuente's test functions 1..6 (ACM TOMS 20, 1994, section 5),
 * as tests/make_scipy_reference.py defines them; a quadratic (0) with its
 * minimizer at 2; and (7) flaky_bowl's cost along -g from its start. */
static void mt_function(int number, double a, double *f, double *g)
{
    switch (number) {
    case 0:
        *f = (a - 2) * (a - 2);
        *g = 2 * (a - 2);
        return;
    case 1:
        *f = -a / (a * a + 2);
        *g = (a * a - 2) / ((a * a + 2) * (a * a + 2));
        return;
    case 2: {
        double t = a + 0.004;
        *f = pow(t, 5) - 2 * pow(t, 4);
        *g = 5 * pow(t, 4) - 8 * pow(t, 3);
        return;
    }
    case 3: {
        const double b = 0.01, l = 39;
        double p, dp;
        if (a <= 1 - b)
            p = 1 - a, dp = -1;
        else if (a >= 1 + b)
            p = a - 1, dp = 1;
        else
            p = (a - 1) * (a - 1) / (2 * b) + b / 2, dp = (a - 1) / b;
        *f = p + 2 * (1 - b) / (l * M_PI) * sin(l * M_PI * a / 2);
        *g = dp + (1 - b) * cos(l * M_PI * a / 2);
        return;
    }
    case 7:
        *f = 7 * (1 - a) * (1 - a);
        *g = -14 * (1 - a);
        return;
    default: {
        static const double betas[3][2] = {{0.001, 0.001}, {0.01, 0.001}, {0.001, 0.01}};
        double b1 = betas[number - 4][0], b2 = betas[number - 4][1];
        double g1 = sqrt(1 + b1 * b1) - b1, g2 = sqrt(1 + b2 * b2) - b2;
        double s1 = sqrt((1 - a) * (1 - a) + b2 * b2), s2 = sqrt(a * a + b1 * b1);
        *f = g1 * s1 + g2 * s2;
        *g = -g1 * (1 - a) / s1 + g2 * a / s2;
        return;
    }
    }
}

typedef struct scalar_function {
    int number;
    int evaluations;
    /* a function gone wrong: f(a) = f(0) + a (rising) while the slope
     * claims descent, or f(a) = f(0) - a without end */
    int rising, unbounded;
    double poisoned_value; /* when not 0: f(a) for every a > 0 */
} scalar_function;

static bpnn_status scalar_phi(void *context, double alpha, double *value, double *slope)
{
    scalar_function *s = context;
    s->evaluations++;
    mt_function(s->number, alpha, value, slope);
    if (s->rising || s->unbounded) {
        double f0, g0;
        mt_function(s->number, 0, &f0, &g0);
        *value = s->rising ? f0 + alpha : f0 - alpha;
        *slope = g0;
    }
    if (s->poisoned_value != 0 && alpha > 0)
        *value = s->poisoned_value;
    return BPNN_OK;
}

static line_search scalar_search(scalar_function *fn, double c1, double c2, double first_step)
{
    line_search s = {
        .phi = scalar_phi, .context = fn, .c1 = c1, .c2 = c2, .first_step = first_step};
    mt_function(fn->number, 0, &s.f0, &s.slope0);
    return s;
}

static int strong_wolfe(const line_search *s, int number, double alpha)
{
    double f, g;
    mt_function(number, alpha, &f, &g);
    return alpha > 0 && f <= s->f0 + s->c1 * alpha * s->slope0 && fabs(g) <= -s->c2 * s->slope0;
}

/* Our More-Thuente is MINPACK-2's dcsrch: the same steps, so the same step
 * found after the same number of evaluations, from steps too short and too
 * long alike. */
START_TEST(test_more_thuente_matches_minpack)
{
    const line_search_reference *ref = &dcsrch_references[_i];
    scalar_function fn = {.number = ref->function};
    line_search s = scalar_search(&fn, ref->c1, ref->c2, ref->first_step);
    double alpha = 0, f = 0;
    int found = -1;
    ck_assert_int_eq(line_search_more_thuente(&s, &alpha, &f, &found), BPNN_OK);
    ck_assert_int_eq(found, ref->found);
    ck_assert_rel(alpha, ref->step, 1e-13);
    ck_assert_int_eq(fn.evaluations, ref->evaluations);
    ck_assert(strong_wolfe(&s, ref->function, alpha));
    double f_alpha, g_alpha;
    mt_function(ref->function, alpha, &f_alpha, &g_alpha);
    ck_assert(f == f_alpha);
}
END_TEST

/* The bracketing and zoom is SciPy's scalar_search_wolfe2 step by step
 * (with _zoom's safeguard margins measured inward, as ours are: see
 * make_scipy_reference.py), with one difference: when its ten doublings run
 * out, SciPy returns the last doubled step without checking it (and warns);
 * ours takes it only when it meets the strong Wolfe conditions. */
START_TEST(test_zoom_matches_scipy)
{
    const line_search_reference *ref = &wolfe2_references[_i];
    scalar_function fn = {.number = ref->function};
    line_search s = scalar_search(&fn, ref->c1, ref->c2, ref->first_step);
    double alpha = 0, f = 0;
    int found = -1;
    ck_assert_int_eq(line_search_zoom(&s, &alpha, &f, &found), BPNN_OK);
    ck_assert_int_eq(fn.evaluations, ref->evaluations);
    if (ref->found && ref->step == ref->first_step * 1024 &&
        !strong_wolfe(&s, ref->function, ref->step)) {
        ck_assert_int_eq(found, 0);
        return;
    }
    ck_assert_int_eq(found, ref->found);
    if (found) {
        /* the cubic's minimizer is formed in another order than numpy's */
        ck_assert_rel(alpha, ref->step, 1e-12);
        ck_assert(strong_wolfe(&s, ref->function, alpha));
    }
}
END_TEST

/* With a tight curvature condition the searches land next to the known
 * minimizers: 2 for the quadratic, sqrt(2) for function 1, 1.6 - 0.004 for
 * function 2 (|phi'(a)| <= c2 |phi'(0)| bounds the distance). Zoom, with
 * ten interpolations, does not get there on function 2 (nor does SciPy's:
 * see wolfe2_references) nor from 10 on function 1, and it doubles a first
 * step at most ten times, so from 1e-3 it stops short of 2. */
START_TEST(test_line_searches_find_known_minimizers)
{
    static const struct {
        int number;
        double minimizer;
        int zoom_too;
    } cases[] = {{0, 2, 1}, {1, M_SQRT2, 1}, {2, 1.596, 0}};
    static const double first_steps[] = {1e-3, 0.1, 1.0, 10.0};
    for (size_t n = 0; n < sizeof cases / sizeof *cases; n++) {
        for (size_t k = 0; k < sizeof first_steps / sizeof *first_steps; k++) {
            for (int zoom = 0; zoom < (cases[n].zoom_too && (k == 1 || k == 2) ? 2 : 1); zoom++) {
                scalar_function fn = {.number = cases[n].number};
                line_search s = scalar_search(&fn, 1e-4, 1e-6, first_steps[k]);
                double alpha = 0, f;
                int found;
                ck_assert_int_eq(zoom ? line_search_zoom(&s, &alpha, &f, &found)
                                      : line_search_more_thuente(&s, &alpha, &f, &found),
                                 BPNN_OK);
                ck_assert_msg(found, "function %d from %g: %s found nothing", cases[n].number,
                              first_steps[k], zoom ? "zoom" : "More-Thuente");
                ck_assert_msg(fabs(alpha - cases[n].minimizer) < 1e-5,
                              "function %d from %g: %s stopped at %.17g", cases[n].number,
                              first_steps[k], zoom ? "zoom" : "More-Thuente", alpha);
            }
        }
    }
}
END_TEST

/* Where no step meets the conditions, both searches give up (found = 0,
 * not an error) after a bounded number of evaluations. */
START_TEST(test_line_searches_give_up)
{
    for (int unbounded = 0; unbounded < 2; unbounded++) {
        for (int zoom = 0; zoom < 2; zoom++) {
            scalar_function fn = {.number = 0, .rising = !unbounded, .unbounded = unbounded};
            line_search s = scalar_search(&fn, 1e-4, 0.4, 1.0);
            double alpha = -1, f;
            int found = -1;
            ck_assert_int_eq(zoom ? line_search_zoom(&s, &alpha, &f, &found)
                                  : line_search_more_thuente(&s, &alpha, &f, &found),
                             BPNN_OK);
            ck_assert_int_eq(found, 0);
            ck_assert_int_gt(fn.evaluations, 1);
            ck_assert_int_le(fn.evaluations, 100);
        }
    }
}
END_TEST

/* 1/2 |x - (1, 2, 3)|^2 (7 at the start, x = 0) whose first `poisoned`
 * evaluations after the start cost 100 wherever they are. */
typedef struct flaky_bowl {
    backend *be;
    int calls, poisoned;
} flaky_bowl;

static bpnn_status flaky_bowl_eval(void *context, backend_buffer *xb, double *f, backend_buffer *gb,
                                   objective_extras *extras)
{
    flaky_bowl *b = context;
    double x[3], g[3];
    ck_assert_int_eq(b->be->ops->download(b->be, view_at(xb, 0), 3, x), BPNN_OK);
    *f = 0;
    for (int i = 0; i < 3; i++) {
        g[i] = x[i] - (i + 1);
        *f += g[i] * g[i] / 2;
    }
    if (b->calls > 0 && b->calls <= b->poisoned)
        *f = 100;
    b->calls++;
    BPNN_TRY(b->be->ops->upload(b->be, view_at(gb, 0), 3, g));
    return objective_read_extras(b->be, extras);
}

/* line_step_wolfe falls back on zoom when More-Thuente gives up. More-
 * Thuente gives up on the poisoned bowl after some evaluations (counted on
 * the same function as a scalar one); when only those are poisoned, zoom,
 * which comes next, sees honest values and finds the minimizer along -g. */
START_TEST(test_zoom_takes_over_when_more_thuente_fails)
{
    scalar_function poisoned = {.number = 7, .poisoned_value = 100};
    line_search s = scalar_search(&poisoned, 1e-4, 0.4, 0.25);
    double alpha, f = 0;
    int found = -1;
    ck_assert_int_eq(line_search_more_thuente(&s, &alpha, &f, &found), BPNN_OK);
    ck_assert_int_eq(found, 0);
    ck_assert_int_gt(poisoned.evaluations, 1);

    backend *be;
    ck_assert_int_eq(cpu_backend_create(BPNN_F64, &be), BPNN_OK);
    flaky_bowl bowl = {.be = be, .poisoned = poisoned.evaluations};
    backend_buffer *x;
    static const double zero[3] = {0};
    ck_assert_int_eq(backend_alloc(be, BACKEND_REAL, 3, &x), BPNN_OK);
    ck_assert_int_eq(be->ops->upload(be, view_at(x, 0), 3, zero), BPNN_OK);
    line_step ls;
    ck_assert_int_eq(line_step_open(&ls, be, 3, x, flaky_bowl_eval, &bowl), BPNN_OK);
    double f0, gg, gnorm;
    ck_assert_int_eq(line_step_start(&ls, &f0, &gg, &gnorm), BPNN_OK);
    ck_assert(f0 == s.f0 && -gg == s.slope0);
    ck_assert_int_eq(line_step_steepest_descent(&ls), BPNN_OK);
    ck_assert_int_eq(line_step_wolfe(&ls, f0, -gg, 0.25, 1e-4, 0.4, &f, &found), BPNN_OK);
    ck_assert_int_eq(found, 1);
    ck_assert_int_gt(bowl.calls, 1 + poisoned.evaluations);
    ck_assert_int_eq(ls.evaluations, bowl.calls);
    double at[3];
    ck_assert_int_eq(be->ops->download(be, view_at(ls.x_try, 0), 3, at), BPNN_OK);
    for (int i = 0; i < 3; i++)
        ck_assert(fabs(at[i] - (i + 1)) < 1e-12);
    ck_assert(f < 1e-20);
    ck_assert_int_eq(line_step_close(&ls, BPNN_OK), BPNN_OK);
    backend_release(be, x);
    bpnn_device_close(be);
}
END_TEST

/* ---- CG -------------------------------------------------------------------------- */

typedef struct cg_run {
    int count;
    int evaluations[64];
    double cost[64];
} cg_run;

static int record_iteration(const bpnn_iteration *it, void *user)
{
    cg_run *run = user;
    ck_assert_int_eq(it->iteration, run->count + 1);
    ck_assert_int_lt(run->count, 64);
    run->evaluations[run->count] = it->evaluations;
    run->cost[run->count] = it->cost;
    run->count++;
    return 0;
}

/* bpnn_train's CG against SciPy's fmin_cg, iteration by iteration, on the
 * seed's debug problem: the same line search decisions (the evaluation
 * counts agree exactly) and the same costs. The costs agree to 1e-12 while
 * the runs converge; without regularization the cost has no minimum, the
 * run wanders along a flat valley, and the last bits of rounding (numpy's
 * sums against BLAS's) grow by about ten times every five iterations: 1e-4
 * bounds them over the n iterations before bpnn-cl's first restart.
 * Where fmin_cg rejects a step because the next direction would descend too
 * little and searches again, bpnn-cl takes the step and restarts along -g
 * (docs/contract.md): the runs part there, and from then on ours must still get
 * to the minimum. */
START_TEST(test_cg_matches_scipy_trace)
{
    const cg_trace *ref = &cg_traces[_i];
    bpnn_device *cpu = open_cpu(BPNN_F64);
    bpnn_model *model;
    bpnn_dataset data;
    ck_assert_int_eq(
        bpnn_debug_problem(ref->layer_count, ref->sizes, (size_t)ref->m, BPNN_F64, &model, &data),
        BPNN_OK);
    ck_assert_int_eq((int)model->param_count, ref->max_iter);
    cg_run run = {0};
    bpnn_train_options options;
    bpnn_train_options_default(&options);
    options.lambda = ref->lambda;
    options.max_iter = ref->max_iter;
    options.gtol = ref->gtol;
    options.progress = record_iteration;
    options.progress_user = &run;
    bpnn_train_result result;
    ck_assert_int_eq(bpnn_train(cpu, model, &data, &options, &result), BPNN_OK);
    ck_assert_int_eq(run.count, result.iterations);
    ck_assert_int_ge(run.count, ref->comparable);
    double tolerance = ref->lambda > 0 ? 1e-12 : 1e-4, worst = 0;
    for (int k = 0; k < ref->comparable; k++) {
        const cg_trace_row *row = &ref->rows[k];
        ck_assert_msg(run.evaluations[k] == row->evaluations,
                      "iteration %d: %d evaluations, SciPy %d", k + 1, run.evaluations[k],
                      row->evaluations);
        ck_assert_rel(run.cost[k], row->cost, tolerance);
        worst = fmax(worst, fabs(run.cost[k] - row->cost) / row->cost);
    }
    printf("CG on %d layers, lambda %g: %d of %d iterations as SciPy's, costs within %.2g\n",
           ref->layer_count, ref->lambda, ref->comparable, ref->count, worst);
    const cg_trace_row *last = &ref->rows[ref->count - 1];
    double cost, gradient[64], gnorm = 0;
    ck_assert_int_eq(bpnn_cost_gradient(cpu, model, &data, ref->lambda, &cost, gradient), BPNN_OK);
    for (size_t i = 0; i < model->param_count; i++)
        gnorm = fmax(gnorm, fabs(gradient[i]));
    if (ref->comparable == ref->count) {
        ck_assert_str_eq(result.stop_reason, ref->warnflag == 0 ? "gtol" : "max_iter");
        ck_assert_int_eq(result.iterations, ref->count);
        ck_assert_int_eq(result.evaluations, last->evaluations);
        ck_assert_rel(result.final_cost, last->cost, tolerance);
        ck_assert_rel(gnorm, last->gnorm, ref->lambda > 0 ? 1e-3 : 1e-2);
    } else {
        ck_assert_str_eq(result.stop_reason, "gtol");
        ck_assert(gnorm <= ref->gtol);
        ck_assert_rel(result.final_cost, last->cost, 1e-9);
    }
    bpnn_model_free(model);
    bpnn_dataset_free(&data);
    bpnn_device_close(cpu);
}
END_TEST

/* Every point CG reaches, for tests that look at its directions. */
typedef struct cg_points {
    backend *be;
    size_t n;
    host_cost_fn cost;
    int count; /* points recorded: x_0 (the start) .. x_k */
    double x[64][HOST_MAX_N];
} cg_points;

static bpnn_status cg_points_eval(void *context, backend_buffer *xb, double *f, backend_buffer *gb,
                                  objective_extras *extras)
{
    cg_points *p = context;
    double x[HOST_MAX_N], g[HOST_MAX_N];
    ck_assert_int_eq(p->be->ops->download(p->be, view_at(xb, 0), p->n, x), BPNN_OK);
    *f = p->cost(p->n, x, g);
    BPNN_TRY(p->be->ops->upload(p->be, view_at(gb, 0), p->n, g));
    return objective_read_extras(p->be, extras);
}

static bpnn_status cg_points_iteration(void *context, int iteration, int evaluations, double f,
                                       backend_buffer *xb, int *stop)
{
    cg_points *p = context;
    (void)evaluations, (void)f;
    ck_assert_int_eq(iteration, p->count);
    ck_assert_int_lt(p->count, 64);
    ck_assert_int_eq(p->be->ops->download(p->be, view_at(xb, 0), p->n, p->x[p->count]), BPNN_OK);
    p->count++;
    *stop = 0;
    return BPNN_OK;
}

static cg_result run_host_cg(cg_points *p, const double *x0, int max_iter)
{
    backend_buffer *xb;
    ck_assert_int_eq(backend_alloc(p->be, BACKEND_REAL, p->n, &xb), BPNN_OK);
    ck_assert_int_eq(p->be->ops->upload(p->be, view_at(xb, 0), p->n, x0), BPNN_OK);
    memcpy(p->x[0], x0, p->n * sizeof *x0);
    p->count = 1;
    cg_options o = {.max_iter = max_iter,
                    .gtol = 1e-12,
                    .c1 = 1e-4,
                    .c2 = 0.4,
                    .on_iteration = cg_points_iteration};
    cg_result r;
    ck_assert_int_eq(cg_minimize(p->be, p->n, xb, cg_points_eval, p, &o, &r), BPNN_OK);
    backend_release(p->be, xb);
    return r;
}

/* Whether the step from x_k to x_{k+1} went along -g(x_k). */
static int stepped_along_steepest(const cg_points *p, int k)
{
    double g[HOST_MAX_N], sg = 0, ss = 0, gg = 0;
    p->cost(p->n, p->x[k], g);
    for (size_t i = 0; i < p->n; i++) {
        double s = p->x[k + 1][i] - p->x[k][i];
        sg += s * g[i];
        ss += s * s;
        gg += g[i] * g[i];
    }
    return -sg > (1 - 1e-12) * sqrt(ss * gg);
}

/* 1/2 (1.3 x1^2 + x2^2) - b x1 x2 with b^2 = 0.0395, started where
 * g = (1, 0): CG's first step (length 1, accepted at once) ends where
 * g = (-0.3, b). Polak-Ribiere+ then gives beta = 0.4295 and a direction d
 * with d . g = -0.00065: downhill, but by less than 0.01 |g|^2 = 0.0013, so
 * CG must start afresh along -g. */
static double shallow_descent_cost(size_t n, const double *x, double *g)
{
    (void)n;
    const double b = sqrt(0.0395);
    g[0] = 1.3 * x[0] - b * x[1];
    g[1] = x[1] - b * x[0];
    return (1.3 * x[0] * x[0] + x[1] * x[1]) / 2 - b * x[0] * x[1];
}

START_TEST(test_cg_restarts_when_direction_descends_too_little)
{
    backend *be = cpu_f64();
    cg_points p = {.be = be, .n = 2, .cost = shallow_descent_cost};
    const double b2 = 0.0395, x0[2] = {1 / (1.3 - b2), sqrt(b2) / (1.3 - b2)};
    double g[2];
    shallow_descent_cost(2, x0, g);
    ck_assert(fabs(g[0] - 1) < 1e-15 && fabs(g[1]) < 1e-15);
    run_host_cg(&p, x0, 2);
    ck_assert_int_eq(p.count, 3);
    ck_assert(fabs(p.x[1][0] - (x0[0] - 1)) < 1e-15 && fabs(p.x[1][1] - x0[1]) < 1e-15);
    ck_assert(stepped_along_steepest(&p, 1));
    bpnn_device_close(be);
}
END_TEST

/* On the extended Rosenbrock function in 4 unknowns CG starts afresh along
 * -g after every 4 iterations, and in between follows its conjugate
 * directions (a step along -g there would be a missing Polak-Ribiere term). */
START_TEST(test_cg_restarts_every_n_iterations)
{
    backend *be = cpu_f64();
    cg_points p = {.be = be, .n = 4, .cost = rosenbrock_cost};
    const double x0[4] = {-1.2, 1, -1.2, 1};
    run_host_cg(&p, x0, 40);
    ck_assert_int_ge(p.count, 30);
    int conjugate = 0, others = 0;
    for (int k = 1; k + 1 < p.count; k++) {
        if (k % 4 == 0) {
            ck_assert_msg(stepped_along_steepest(&p, k), "iteration %d: no restart", k + 1);
        } else {
            others++;
            conjugate += !stepped_along_steepest(&p, k);
        }
    }
    ck_assert_msg(conjugate * 4 > others * 3, "%d of %d steps conjugate", conjugate, others);
    bpnn_device_close(be);
}
END_TEST

/* CG on a host cost with the poisoning host_objective's checks. */
static bpnn_status run_host_cg_poisoned(host_objective *h, const double *x0, double *x,
                                        cg_result *result)
{
    backend_buffer *xb;
    ck_assert_int_eq(backend_alloc(h->be, BACKEND_REAL, h->n, &xb), BPNN_OK);
    ck_assert_int_eq(h->be->ops->upload(h->be, view_at(xb, 0), h->n, x0), BPNN_OK);
    h->last_f = INFINITY;
    cg_options o = {.max_iter = 2000,
                    .gtol = 1e-10,
                    .c1 = 1e-4,
                    .c2 = 0.4,
                    .on_iteration = host_objective_iteration};
    bpnn_status status = cg_minimize(h->be, h->n, xb, host_objective_eval, h, &o, result);
    ck_assert_int_eq(h->be->ops->download(h->be, view_at(xb, 0), h->n, x), BPNN_OK);
    backend_release(h->be, xb);
    return status;
}

/* From iteration 3's point only a search along -g can succeed: CG gets on
 * only by starting afresh along -g after its failed search. */
START_TEST(test_cg_restarts_after_failed_search)
{
    backend *be = cpu_f64();
    enum { N = 20 };
    double x0[N] = {0}, x[N];
    host_objective h = {.be = be, .n = N, .cost = quadratic_cost, .poison_at = 3};
    cg_result r;
    ck_assert_int_eq(run_host_cg_poisoned(&h, x0, x, &r), BPNN_OK);
    ck_assert_int_gt(h.poisoned_calls, 0);
    ck_assert_str_eq(r.stop_reason, "gtol");
    ck_assert_int_gt(r.iterations, 4);
    for (int i = 0; i < N; i++)
        ck_assert(fabs(x[i] - (i + 1) / 4.0) <= 1e-10);
    bpnn_device_close(be);
}
END_TEST

/* When -g fails too, CG stops with "line_search", keeping the last point. */
START_TEST(test_cg_stops_when_steepest_descent_fails)
{
    backend *be = cpu_f64();
    enum { N = 20 };
    double x0[N] = {0}, x[N], g[N];
    host_objective h = {
        .be = be, .n = N, .cost = quadratic_cost, .poison_at = 3, .poison_steepest_too = 1};
    cg_result r;
    ck_assert_int_eq(run_host_cg_poisoned(&h, x0, x, &r), BPNN_OK);
    ck_assert_str_eq(r.stop_reason, "line_search");
    ck_assert_int_eq(r.iterations, 3);
    ck_assert_int_eq(r.evaluations, h.calls);
    ck_assert_int_gt(h.poisoned_calls, 2);
    ck_assert(memcmp(x, h.anchor, sizeof x) == 0);
    ck_assert(r.f == quadratic_cost(N, x, g));
    bpnn_device_close(be);
}
END_TEST

/* ---- the optimizers bpnn_train runs ------------------------------------------------ */

typedef struct optimizer_trace {
    network *net;
    double lambda;
    int count;
    int evaluations[64];
    double cost[64];
} optimizer_trace;

static bpnn_status trace_eval(void *context, backend_buffer *x, double *f, backend_buffer *g,
                              objective_extras *extras)
{
    optimizer_trace *t = context;
    BPNN_TRY(network_cost_gradient(t->net, x, t->lambda, f, g));
    return objective_read_extras(t->net->be, extras);
}

static bpnn_status trace_iteration(void *context, int iteration, int evaluations, double f,
                                   backend_buffer *x, int *stop)
{
    optimizer_trace *t = context;
    (void)x;
    ck_assert_int_eq(iteration, t->count + 1);
    ck_assert_int_lt(t->count, 64);
    t->evaluations[t->count] = evaluations;
    t->cost[t->count++] = f;
    *stop = 0;
    return BPNN_OK;
}

/* bpnn_train's CG (_i = 0) and L-BFGS (1) are cg_minimize and lbfgs_minimize
 * with the Wolfe constants docs/contract.md and lbfgs.h name: c1 = 1e-4 and
 * c2 = 0.4 (CG) or 0.9 (L-BFGS), step for step. */
START_TEST(test_train_uses_documented_wolfe_constants)
{
    static const int sizes[] = {4, 5, 3};
    const int lbfgs = _i;
    bpnn_device *cpu = open_cpu(BPNN_F64);
    bpnn_model *model;
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_debug_problem(3, sizes, 30, BPNN_F64, &model, &data), BPNN_OK);

    backend_buffer *x, *labels, *params;
    network *net;
    ck_assert_int_eq(network_upload_data(cpu, &data, &x, &labels), BPNN_OK);
    ck_assert_int_eq(network_create(cpu, 3, sizes, data.rows, x, labels, 1, &net), BPNN_OK);
    ck_assert_int_eq(backend_alloc(cpu, BACKEND_REAL, model->param_count, &params), BPNN_OK);
    ck_assert_int_eq(cpu->ops->upload(cpu, view_at(params, 0), model->param_count, model->params),
                     BPNN_OK);
    optimizer_trace direct = {.net = net, .lambda = 1};
    optimizer_result r;
    if (lbfgs) {
        lbfgs_options o = {.max_iter = 15,
                           .gtol = 1e-5,
                           .history = 10,
                           .c1 = 1e-4,
                           .c2 = 0.9,
                           .on_iteration = trace_iteration};
        ck_assert_int_eq(
            lbfgs_minimize(cpu, model->param_count, params, trace_eval, &direct, &o, &r), BPNN_OK);
    } else {
        cg_options o = {
            .max_iter = 15, .gtol = 1e-5, .c1 = 1e-4, .c2 = 0.4, .on_iteration = trace_iteration};
        ck_assert_int_eq(cg_minimize(cpu, model->param_count, params, trace_eval, &direct, &o, &r),
                         BPNN_OK);
    }
    network_free(net);
    backend_release(cpu, params);
    backend_release(cpu, labels);
    backend_release(cpu, x);

    cg_run run = {0};
    bpnn_train_options options;
    bpnn_train_options_default(&options);
    options.optimizer = lbfgs ? BPNN_OPT_LBFGS : BPNN_OPT_CG;
    options.max_iter = 15;
    options.progress = record_iteration;
    options.progress_user = &run;
    bpnn_train_result result;
    ck_assert_int_eq(bpnn_train(cpu, model, &data, &options, &result), BPNN_OK);
    ck_assert_int_eq(run.count, direct.count);
    ck_assert_int_gt(run.count, 5);
    for (int k = 0; k < run.count; k++) {
        ck_assert_int_eq(run.evaluations[k], direct.evaluations[k]);
        ck_assert_rel(run.cost[k], direct.cost[k], 1e-15);
    }
    bpnn_model_free(model);
    bpnn_dataset_free(&data);
    bpnn_device_close(cpu);
}
END_TEST

/* Where L-BFGS has no curvature yet (its first iteration) the direction is
 * -g, whose length says nothing about the step: the first trial stays
 * within unit length (L-BFGS-B's 1 / |g|), however steep the start. */
typedef struct first_trial {
    backend *be;
    int calls;
    double point[HOST_MAX_N];
} first_trial;

static bpnn_status first_trial_eval(void *context, backend_buffer *xb, double *f,
                                    backend_buffer *gb, objective_extras *extras)
{
    first_trial *t = context;
    double x[HOST_MAX_N], g[HOST_MAX_N];
    ck_assert_int_eq(t->be->ops->download(t->be, view_at(xb, 0), 20, x), BPNN_OK);
    if (t->calls++ == 1)
        memcpy(t->point, x, sizeof x);
    *f = quadratic_cost(20, x, g);
    BPNN_TRY(t->be->ops->upload(t->be, view_at(gb, 0), 20, g));
    return objective_read_extras(t->be, extras);
}

START_TEST(test_lbfgs_first_trial_within_unit_length)
{
    backend *be = cpu_f64();
    double x0[20] = {0}, g0[20], length = 0;
    quadratic_cost(20, x0, g0);
    for (int i = 0; i < 20; i++)
        length += g0[i] * g0[i];
    ck_assert(sqrt(length) > 100); /* steep: a unit step along -g would go far */
    first_trial t = {.be = be};
    backend_buffer *xb;
    ck_assert_int_eq(backend_alloc(be, BACKEND_REAL, 20, &xb), BPNN_OK);
    ck_assert_int_eq(be->ops->upload(be, view_at(xb, 0), 20, x0), BPNN_OK);
    lbfgs_options o = lbfgs_test_options(1, 5, NULL);
    lbfgs_result r;
    ck_assert_int_eq(lbfgs_minimize(be, 20, xb, first_trial_eval, &t, &o, &r), BPNN_OK);
    double distance = 0;
    for (int i = 0; i < 20; i++)
        distance += t.point[i] * t.point[i];
    ck_assert_msg(fabs(sqrt(distance) - 1) < 1e-12, "first trial at distance %g", sqrt(distance));
    backend_release(be, xb);
    bpnn_device_close(be);
}
END_TEST

/* 1/2 (1e12 x^2 + y^2): along -g from (1e-9, 1) the step is almost all x,
 * and its pair's curvature estimate y . y / s . y is about 1e12, beyond
 * the 1e10 lbfgs.c trusts: the pair is not kept, so the second step goes
 * along -g again. */
static double stiff_cost(size_t n, const double *x, double *g)
{
    (void)n;
    g[0] = 1e12 * x[0];
    g[1] = x[1];
    return (1e12 * x[0] * x[0] + x[1] * x[1]) / 2;
}

START_TEST(test_lbfgs_refuses_implausible_curvature)
{
    backend *be = cpu_f64();
    cg_points p = {.be = be, .n = 2, .cost = stiff_cost};
    const double x0[2] = {1e-9, 1};
    backend_buffer *xb;
    ck_assert_int_eq(backend_alloc(be, BACKEND_REAL, 2, &xb), BPNN_OK);
    ck_assert_int_eq(be->ops->upload(be, view_at(xb, 0), 2, x0), BPNN_OK);
    memcpy(p.x[0], x0, sizeof x0);
    p.count = 1;
    lbfgs_options o = lbfgs_test_options(2, 5, cg_points_iteration);
    lbfgs_result r;
    ck_assert_int_eq(lbfgs_minimize(be, 2, xb, cg_points_eval, &p, &o, &r), BPNN_OK);
    ck_assert_int_eq(p.count, 3);
    double s[2] = {p.x[1][0] - x0[0], p.x[1][1] - x0[1]}, g0[2], g1[2];
    stiff_cost(2, x0, g0);
    stiff_cost(2, p.x[1], g1);
    double sy = s[0] * (g1[0] - g0[0]) + s[1] * (g1[1] - g0[1]);
    double yy = (g1[0] - g0[0]) * (g1[0] - g0[0]) + (g1[1] - g0[1]) * (g1[1] - g0[1]);
    ck_assert_msg(sy > 0 && yy / sy > 1e10, "curvature estimate %g", yy / sy);
    ck_assert(stepped_along_steepest(&p, 1));
    backend_release(be, xb);
    bpnn_device_close(be);
}
END_TEST

/* ---- mini-batch steps -------------------------------------------------------------- */

/* Two epochs of SGD or Adam through bpnn_train against the same steps taken
 * here, each from bpnn_cost_gradient on the batch's rows: every epoch in its
 * own order (the seed's stream for that epoch), 20 rows in batches of 7, 7
 * and 6, the gradient (1/b) sum grad loss_i + (lambda/m) Theta[:,1:], Adam's
 * moments with their bias corrections 1 - beta^t. */
START_TEST(test_minibatch_steps_follow_the_formulas)
{
    static const int sizes[] = {3, 4, 3};
    enum { M = 20, BATCH = 7, EPOCHS = 2 };
    const int adam = _i;
    const double lambda = 0.5, lr = adam ? 0.05 : 0.5, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    bpnn_device *cpu = open_cpu(BPNN_F64);
    bpnn_model *model;
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_debug_problem(3, sizes, M, BPNN_F64, &model, &data), BPNN_OK);
    bpnn_model *reference;
    bpnn_dataset unused;
    ck_assert_int_eq(bpnn_debug_problem(3, sizes, 1, BPNN_F64, &reference, &unused), BPNN_OK);
    bpnn_dataset_free(&unused);
    size_t n = model->param_count;
    double first[64] = {0}, second[64] = {0}, g[64], batch_x[BATCH * 3];
    int32_t batch_labels[BATCH], order[M];
    long t = 0;
    for (int epoch = 0; epoch < EPOCHS; epoch++) {
        xoshiro256 generator;
        xoshiro256_seed_stream(&generator, 5, RANDOM_STREAM_EPOCH0 + (uint64_t)epoch);
        xoshiro256_permutation(&generator, M, order);
        for (size_t start = 0; start < M; start += BATCH) {
            size_t rows = M - start < BATCH ? M - start : BATCH;
            for (size_t i = 0; i < rows; i++) {
                memcpy(batch_x + 3 * i, data.x + 3 * (size_t)order[start + i], 3 * sizeof(double));
                batch_labels[i] = data.labels[order[start + i]];
            }
            bpnn_dataset batch = {
                .rows = rows, .features = 3, .x = batch_x, .labels = batch_labels};
            double cost;
            /* lambda b / m over b rows: (lambda / m) Theta */
            ck_assert_int_eq(
                bpnn_cost_gradient(cpu, reference, &batch, lambda * (double)rows / M, &cost, g),
                BPNN_OK);
            t++;
            for (size_t i = 0; i < n; i++) {
                if (!adam) {
                    reference->params[i] -= lr * g[i];
                    continue;
                }
                first[i] = beta1 * first[i] + (1 - beta1) * g[i];
                second[i] = beta2 * second[i] + (1 - beta2) * g[i] * g[i];
                reference->params[i] -= lr * (first[i] / (1 - pow(beta1, (double)t))) /
                                        (sqrt(second[i] / (1 - pow(beta2, (double)t))) + eps);
            }
        }
    }
    bpnn_train_options options;
    bpnn_train_options_default(&options);
    options.optimizer = adam ? BPNN_OPT_ADAM : BPNN_OPT_SGD;
    options.lambda = lambda;
    options.learning_rate = lr;
    options.lr_schedule = BPNN_LR_CONSTANT;
    options.epochs = EPOCHS;
    options.batch = BATCH;
    options.seed = 5;
    bpnn_train_result result;
    ck_assert_int_eq(bpnn_train(cpu, model, &data, &options, &result), BPNN_OK);
    ck_assert_int_eq(result.evaluations, (int)t);
    double largest = 0;
    for (size_t i = 0; i < n; i++)
        largest = fmax(largest, fabs(reference->params[i]));
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(model->params[i] - reference->params[i]) <= 1e-12 * largest,
                      "parameter %zu: %.17g trained, %.17g by the formulas", i, model->params[i],
                      reference->params[i]);
    bpnn_model_free(reference);
    bpnn_model_free(model);
    bpnn_dataset_free(&data);
    bpnn_device_close(cpu);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *t = tcase_create("cost");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_cost_matches_plain_loops);
    tcase_add_loop_test(t, test_matches_seed_reference, 0,
                        (int)(sizeof seed_references / sizeof *seed_references));
    tcase_add_test(t, test_gradient_check);
    tcase_add_loop_test(t, test_gradient_check_detects_error, 0, 2);
    tcase_add_loop_test(t, test_blocks_add_up, BPNN_F32, BPNN_F64 + 1);
    tcase_add_test(t, test_f32_close_to_f64);
    tcase_add_test(t, test_cost_stable_for_saturated_outputs);
    tcase_add_test(t, test_rel_assertion_refuses_non_finite);
    tcase_add_test(t, test_shape_mismatch_rejected);
    tcase_add_test(t, test_device_strings);
    suite_add_tcase(s, t);
    t = tcase_create("init");
    tcase_set_timeout(t, 30);
    tcase_add_test(t, test_init_bounds_and_determinism);
    tcase_add_test(t, test_debug_init_is_row_major_sin);
    suite_add_tcase(s, t);
    t = tcase_create("cg");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_cg_lowers_cost);
    tcase_add_test(t, test_cg_stops_on_gtol);
    tcase_add_test(t, test_diverged_data_reported);
    suite_add_tcase(s, t);
    t = tcase_create("lbfgs");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_lbfgs_quadratic_minimizer);
    tcase_add_test(t, test_lbfgs_rosenbrock_minimizer);
    tcase_add_test(t, test_lbfgs_resets_history_after_failed_search);
    tcase_add_test(t, test_lbfgs_stops_when_steepest_descent_fails);
    tcase_add_test(t, test_lbfgs_stop_flag);
    tcase_add_test(t, test_lbfgs_divergence_and_bad_history);
    tcase_add_loop_test(t, test_lbfgs_debug_network, BPNN_F32, BPNN_F64 + 1);
    suite_add_tcase(s, t);
    t = tcase_create("line_search");
    tcase_add_loop_test(t, test_more_thuente_matches_minpack, 0,
                        (int)(sizeof dcsrch_references / sizeof *dcsrch_references));
    tcase_add_loop_test(t, test_zoom_matches_scipy, 0,
                        (int)(sizeof wolfe2_references / sizeof *wolfe2_references));
    tcase_add_test(t, test_line_searches_find_known_minimizers);
    tcase_add_test(t, test_line_searches_give_up);
    tcase_add_test(t, test_zoom_takes_over_when_more_thuente_fails);
    suite_add_tcase(s, t);
    t = tcase_create("cg_steps");
    tcase_set_timeout(t, 60);
    tcase_add_loop_test(t, test_cg_matches_scipy_trace, 0,
                        (int)(sizeof cg_traces / sizeof *cg_traces));
    tcase_add_test(t, test_cg_restarts_when_direction_descends_too_little);
    tcase_add_test(t, test_cg_restarts_every_n_iterations);
    tcase_add_test(t, test_cg_restarts_after_failed_search);
    tcase_add_test(t, test_cg_stops_when_steepest_descent_fails);
    suite_add_tcase(s, t);
    t = tcase_create("optimizer_settings");
    tcase_add_loop_test(t, test_train_uses_documented_wolfe_constants, 0, 2);
    tcase_add_test(t, test_lbfgs_first_trial_within_unit_length);
    tcase_add_test(t, test_lbfgs_refuses_implausible_curvature);
    suite_add_tcase(s, t);
    t = tcase_create("minibatch_steps");
    tcase_add_loop_test(t, test_minibatch_steps_follow_the_formulas, 0, 2);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(core_suite());
}
