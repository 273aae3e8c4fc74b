/* test_core.c — the algorithm on the CPU path: cost and gradient against
 * independent references, gradient checking, initialization, CG, L-BFGS. */
#include <math.h>
#include <string.h>

#include "backend/backend.h"
#include "bpnn.h"
#include "core/lbfgs.h"
#include "core/network.h"
#include "seed_reference.h"
#include "testutil.h"

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

/* A gradient that is wrong in one entry must fail the check's metric. */
START_TEST(test_gradient_check_detects_error)
{
    bpnn_device *cpu = open_cpu(BPNN_F64);
    bpnn_gradcheck g;
    static const int sizes[] = {3, 5, 3};
    ck_assert_int_eq(bpnn_gradient_check(cpu, 3, sizes, 5, 0, 1e-4, &g), BPNN_OK);
    g.backprop[7] *= 1.001;
    double diff = 0, sum = 0;
    for (size_t i = 0; i < g.count; i++) {
        diff += pow(g.numeric[i] - g.backprop[i], 2);
        sum += pow(g.numeric[i] + g.backprop[i], 2);
    }
    ck_assert(sqrt(diff / sum) > 1e-9);
    bpnn_gradcheck_free(&g);
    bpnn_device_close(cpu);
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
                                       backend_buffer *gb)
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
    return h->be->ops->upload(h->be, view_at(gb, 0), h->n, g);
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
                                          backend_buffer *g)
{
    network_objective *t = context;
    return network_cost_gradient(t->net, x, t->lambda, f, g);
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

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *t = tcase_create("cost");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_cost_matches_plain_loops);
    tcase_add_loop_test(t, test_matches_seed_reference, 0,
                        (int)(sizeof seed_references / sizeof *seed_references));
    tcase_add_test(t, test_gradient_check);
    tcase_add_test(t, test_gradient_check_detects_error);
    tcase_add_test(t, test_f32_close_to_f64);
    tcase_add_test(t, test_cost_stable_for_saturated_outputs);
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
    return s;
}

int main(void)
{
    return run_suite(core_suite());
}
