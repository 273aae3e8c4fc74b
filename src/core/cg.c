/* cg.c — see cg.h; the line searches are in line_search.c. */
#include "core/cg.h"
#include "core/line_search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* The new direction must descend at least this much (fmin_cg's sigma_3). */
#define DESCENT_FRACTION 0.01

typedef struct cg_state {
    backend *be;
    size_t n;
    objective_fn objective;
    void *context;
    int evaluations;
    backend_buffer *x, *g, *d;     /* current point, gradient, direction */
    backend_buffer *x_try, *g_try; /* the line search's latest point */
} cg_state;

/* phi(alpha) = f(x + alpha d) and phi'(alpha) = g(x + alpha d) . d, from one
 * evaluation that leaves the point in x_try, g_try. */
static bpnn_status phi(void *context, double alpha, double *value, double *slope)
{
    cg_state *s = context;
    backend *be = s->be;
    BPNN_TRY(be->ops->copy(be, s->n, view_at(s->x, 0), view_at(s->x_try, 0)));
    BPNN_TRY(be->ops->axpy(be, s->n, alpha, view_at(s->d, 0), view_at(s->x_try, 0)));
    BPNN_TRY(s->objective(s->context, s->x_try, value, s->g_try));
    s->evaluations++;
    BPNN_TRY(be->ops->dot(be, s->n, view_at(s->g_try, 0), view_at(s->d, 0), slope));
    if (!isfinite(*value) || !isfinite(*slope))
        return bpnn_fail(BPNN_ERR_DIVERGED,
                         "training diverged: cost %g, slope %g at step %g: try a smaller --lambda "
                         "or --normalize zscore",
                         *value, *slope, alpha);
    return BPNN_OK;
}

/* A step along d meeting the strong Wolfe conditions, by More-Thuente and,
 * when that fails, by bracketing and zoom (fmin_cg's order); on success
 * x_try and g_try hold the new point. The first step is fmin_cg's guess from
 * the last decrease. */
static bpnn_status wolfe_step(cg_state *s, const cg_options *o, double f0, double f_previous,
                              double slope0, double *f_new, int *found)
{
    double first = 1.0;
    if (slope0 != 0 && isfinite(f_previous))
        first = fmin(1.0, 1.01 * 2 * (f0 - f_previous) / slope0);
    if (!(first > 0))
        first = 1.0;
    line_search search = {.phi = phi, .context = s, .f0 = f0, .slope0 = slope0,
                          .c1 = o->c1, .c2 = o->c2, .first_step = first};
    double alpha;
    BPNN_TRY(line_search_more_thuente(&search, &alpha, f_new, found));
    if (!*found)
        BPNN_TRY(line_search_zoom(&search, &alpha, f_new, found));
    return BPNN_OK;
}

static void swap_buffers(backend_buffer **a, backend_buffer **b)
{
    backend_buffer *t = *a;
    *a = *b;
    *b = t;
}

/* d = -g */
static bpnn_status steepest_descent(cg_state *s)
{
    BPNN_TRY(s->be->ops->copy(s->be, s->n, view_at(s->g, 0), view_at(s->d, 0)));
    return s->be->ops->scal(s->be, s->n, -1.0, view_at(s->d, 0));
}

static bpnn_status iterate(cg_state *s, const cg_options *o, cg_result *result)
{
    backend *be = s->be;
    double f, f_previous, gnorm, gg;
    BPNN_TRY(s->objective(s->context, s->x, &f, s->g));
    s->evaluations = 1;
    BPNN_TRY(be->ops->dot(be, s->n, view_at(s->g, 0), view_at(s->g, 0), &gg));
    BPNN_TRY(be->ops->max_abs(be, s->n, view_at(s->g, 0), &gnorm));
    if (!isfinite(f) || !isfinite(gg))
        return bpnn_fail(BPNN_ERR_DIVERGED,
                         "training diverged: non-finite cost or gradient at the starting point: "
                         "check the data (try --normalize zscore)");
    f_previous = f + sqrt(gg) / 2; /* fmin_cg's guess, which sets the first step */
    BPNN_TRY(steepest_descent(s));
    int k = 0, restarted = 1;
    result->stop_reason = "max_iter";
    while (gnorm > o->gtol && k < o->max_iter) {
        double slope0, f_new;
        int found;
        BPNN_TRY(be->ops->dot(be, s->n, view_at(s->g, 0), view_at(s->d, 0), &slope0));
        BPNN_TRY(wolfe_step(s, o, f, f_previous, slope0, &f_new, &found));
        if (!found) {
            if (restarted) { /* already along -g: nowhere left to go */
                result->stop_reason = "line_search";
                break;
            }
            BPNN_TRY(steepest_descent(s));
            restarted = 1;
            continue;
        }
        f_previous = f;
        f = f_new;
        /* Polak-Ribiere+: beta = max(0, g_new . (g_new - g) / g . g) */
        double gg_new, g_gnew;
        BPNN_TRY(be->ops->dot(be, s->n, view_at(s->g_try, 0), view_at(s->g_try, 0), &gg_new));
        BPNN_TRY(be->ops->dot(be, s->n, view_at(s->g, 0), view_at(s->g_try, 0), &g_gnew));
        double beta = fmax(0.0, (gg_new - g_gnew) / gg);
        swap_buffers(&s->x, &s->x_try);
        swap_buffers(&s->g, &s->g_try);
        gg = gg_new;
        k++;
        restarted = 0;
        /* d = -g + beta d, restarted along -g when it would not descend or
         * every n steps */
        BPNN_TRY(be->ops->scal(be, s->n, beta, view_at(s->d, 0)));
        BPNN_TRY(be->ops->axpy(be, s->n, -1.0, view_at(s->g, 0), view_at(s->d, 0)));
        double descent;
        BPNN_TRY(be->ops->dot(be, s->n, view_at(s->d, 0), view_at(s->g, 0), &descent));
        if (beta == 0 || descent > -DESCENT_FRACTION * gg || (size_t)k % s->n == 0) {
            BPNN_TRY(steepest_descent(s));
            restarted = 1;
        }
        BPNN_TRY(be->ops->max_abs(be, s->n, view_at(s->g, 0), &gnorm));
        int stop = 0;
        if (o->on_iteration)
            BPNN_TRY(o->on_iteration(s->context, k, s->evaluations, f, s->x, &stop));
        if (stop) {
            result->stop_reason = "stopped";
            break;
        }
    }
    if (gnorm <= o->gtol && strcmp(result->stop_reason, "stopped") != 0)
        result->stop_reason = "gtol";
    result->iterations = k;
    result->evaluations = s->evaluations;
    result->f = f;
    return BPNN_OK;
}

bpnn_status cg_minimize(backend *be, size_t n, backend_buffer *x, objective_fn objective,
                        void *context, const cg_options *options, cg_result *result)
{
    cg_state s = {.be = be, .n = n, .objective = objective, .context = context, .x = x};
    bpnn_status status = backend_alloc(be, BACKEND_REAL, n, &s.g);
    if (status == BPNN_OK)
        status = backend_alloc(be, BACKEND_REAL, n, &s.d);
    if (status == BPNN_OK)
        status = backend_alloc(be, BACKEND_REAL, n, &s.x_try);
    if (status == BPNN_OK)
        status = backend_alloc(be, BACKEND_REAL, n, &s.g_try);
    if (status == BPNN_OK)
        status = iterate(&s, options, result);
    /* The best point may sit in the line search's buffer after swaps. */
    if (status == BPNN_OK && s.x != x)
        status = be->ops->copy(be, n, view_at(s.x, 0), view_at(x, 0));
    if (s.x != x)
        swap_buffers(&s.x, &s.x_try);
    backend_release(be, s.g);
    backend_release(be, s.d);
    backend_release(be, s.x_try);
    backend_release(be, s.g_try);
    return status;
}
