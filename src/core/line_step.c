/* line_step.c — see line_step.h; the searches themselves are in
 * line_search.c. */
#include "core/line_step.h"
#include "core/line_search.h"

#include <math.h>
#include <string.h>

#include "util/error.h"

bpnn_status line_step_open(line_step *s, backend *be, size_t n, backend_buffer *x,
                           objective_fn objective, void *context)
{
    *s = (line_step){
        .be = be, .n = n, .objective = objective, .context = context, .caller_x = x, .x = x};
    bpnn_status status = backend_alloc(be, BACKEND_REAL, n, &s->g);
    if (status == BPNN_OK)
        status = backend_alloc(be, BACKEND_REAL, n, &s->d);
    if (status == BPNN_OK)
        status = backend_alloc(be, BACKEND_REAL, n, &s->x_try);
    if (status == BPNN_OK)
        status = backend_alloc(be, BACKEND_REAL, n, &s->g_try);
    if (status != BPNN_OK)
        line_step_close(s, status);
    return status;
}

/* The scalars of the point (x_try, g_try) the objective just evaluated,
 * into the slots of objective.h: queued behind the gradient, read with the
 * cost. The optimizers take what they need from them instead of reading
 * reductions one at a time. */
static bpnn_status queue_trial_scalars(void *context)
{
    line_step *s = context;
    backend *be = s->be;
    BPNN_TRY(be->ops->dot(be, s->n, view_at(s->g_try, 0), view_at(s->d, 0), SLOT_SLOPE));
    BPNN_TRY(be->ops->dot(be, s->n, view_at(s->g_try, 0), view_at(s->g_try, 0), SLOT_GG));
    BPNN_TRY(be->ops->dot(be, s->n, view_at(s->g, 0), view_at(s->g_try, 0), SLOT_G_GTRY));
    return be->ops->max_abs(be, s->n, view_at(s->g_try, 0), SLOT_GNORM);
}

/* f at x_try and its gradient into g_try, with the trial scalars. */
static bpnn_status evaluate_trial(line_step *s, double *f)
{
    objective_extras extras = {.queue = queue_trial_scalars, .user = s};
    BPNN_TRY(s->objective(s->context, s->x_try, f, s->g_try, &extras));
    s->evaluations++;
    s->slope_try = extras.slots[SLOT_SLOPE];
    s->gg_try = extras.slots[SLOT_GG];
    s->g_gtry = extras.slots[SLOT_G_GTRY];
    s->gnorm_try = extras.slots[SLOT_GNORM];
    return BPNN_OK;
}

/* The starting point's g . g and max |g_i| (there is no direction yet). */
static bpnn_status queue_start_scalars(void *context)
{
    line_step *s = context;
    backend *be = s->be;
    BPNN_TRY(be->ops->dot(be, s->n, view_at(s->g, 0), view_at(s->g, 0), SLOT_GG));
    return be->ops->max_abs(be, s->n, view_at(s->g, 0), SLOT_GNORM);
}

bpnn_status line_step_start(line_step *s, double *f, double *gg, double *gnorm)
{
    objective_extras extras = {.queue = queue_start_scalars, .user = s};
    BPNN_TRY(s->objective(s->context, s->x, f, s->g, &extras));
    s->evaluations = 1;
    *gg = extras.slots[SLOT_GG];
    *gnorm = extras.slots[SLOT_GNORM];
    if (!isfinite(*f) || !isfinite(*gg))
        return bpnn_fail(BPNN_ERR_DIVERGED,
                         "training diverged: non-finite cost or gradient at the starting point: "
                         "check the data (try --normalize zscore)");
    return BPNN_OK;
}

bpnn_status line_step_steepest_descent(line_step *s)
{
    BPNN_TRY(s->be->ops->copy(s->be, s->n, view_at(s->g, 0), view_at(s->d, 0)));
    return s->be->ops->scal(s->be, s->n, -1.0, view_at(s->d, 0));
}

/* phi(alpha) = f(x + alpha d) and phi'(alpha) = g(x + alpha d) . d, from one
 * evaluation that leaves the point in x_try, g_try. */
static bpnn_status phi(void *context, double alpha, double *value, double *slope)
{
    line_step *s = context;
    backend *be = s->be;
    BPNN_TRY(be->ops->copy(be, s->n, view_at(s->x, 0), view_at(s->x_try, 0)));
    BPNN_TRY(be->ops->axpy(be, s->n, alpha, view_at(s->d, 0), view_at(s->x_try, 0)));
    BPNN_TRY(evaluate_trial(s, value));
    *slope = s->slope_try;
    if (!isfinite(*value) || !isfinite(*slope))
        return bpnn_fail(BPNN_ERR_DIVERGED,
                         "training diverged: cost %g, slope %g at step %g: try a smaller --lambda "
                         "or --normalize zscore",
                         *value, *slope, alpha);
    return BPNN_OK;
}

bpnn_status line_step_wolfe(line_step *s, double f0, double slope0, double first_step, double c1,
                            double c2, double *f_new, int *found)
{
    line_search search = {.phi = phi,
                          .context = s,
                          .f0 = f0,
                          .slope0 = slope0,
                          .c1 = c1,
                          .c2 = c2,
                          .first_step = first_step};
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

void line_step_accept(line_step *s)
{
    swap_buffers(&s->x, &s->x_try);
    swap_buffers(&s->g, &s->g_try);
}

bpnn_status line_step_close(line_step *s, bpnn_status status)
{
    /* After swaps the best point may sit in what began as the trial buffer;
     * the caller's buffer is then the trial one and must not be released. */
    if (status == BPNN_OK && s->x != s->caller_x)
        status = s->be->ops->copy(s->be, s->n, view_at(s->x, 0), view_at(s->caller_x, 0));
    if (s->x != s->caller_x)
        swap_buffers(&s->x, &s->x_try);
    backend_release(s->be, s->g);
    backend_release(s->be, s->d);
    backend_release(s->be, s->x_try);
    backend_release(s->be, s->g_try);
    s->g = s->d = s->x_try = s->g_try = NULL;
    return status;
}

bpnn_status line_step_report(line_step *s, iteration_fn on_iteration, int k, double f, int *stop,
                             optimizer_result *result)
{
    /* kept up to date, so that a run that fails later (interrupted) still
     * says how far it got */
    result->iterations = k;
    result->evaluations = s->evaluations;
    result->f = f;
    *stop = 0;
    if (on_iteration)
        BPNN_TRY(on_iteration(s->context, k, s->evaluations, f, s->x, stop));
    if (*stop)
        result->stop_reason = "stopped";
    return BPNN_OK;
}

void line_step_finish(const line_step *s, int k, double f, double gnorm, double gtol,
                      optimizer_result *result)
{
    if (gnorm <= gtol && strcmp(result->stop_reason, "stopped") != 0)
        result->stop_reason = "gtol";
    result->iterations = k;
    result->evaluations = s->evaluations;
    result->f = f;
}
