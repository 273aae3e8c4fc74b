/* line_step.h — what the full-batch optimizers (cg.c, lbfgs.c) share: the
 * current point, its gradient and a search direction on the backend, the
 * trial point a line search evaluates, and one strong Wolfe step along the
 * direction. Only scalars come back to the host, once per evaluation: the
 * cost with the trial point's scalars below. */
#ifndef BPNN_CORE_LINE_STEP_H
#define BPNN_CORE_LINE_STEP_H

#include "core/objective.h"

typedef struct line_step {
    backend *be;
    size_t n;
    objective_fn objective;
    void *context;
    int evaluations;
    backend_buffer *caller_x;      /* where the best point must end up */
    backend_buffer *x, *g, *d;     /* current point, gradient, direction */
    backend_buffer *x_try, *g_try; /* the line search's latest point */
    /* that point's scalars, read with its cost: g_try . d, g_try . g_try,
     * g . g_try and max |g_try[i]| */
    double slope_try, gg_try, g_gtry, gnorm_try;
} line_step;

/* Allocates the buffers around the caller's x (n values); on failure
 * nothing stays allocated. */
bpnn_status line_step_open(line_step *s, backend *be, size_t n, backend_buffer *x,
                           objective_fn objective, void *context);

/* Evaluates the starting point: f, g . g and max |g_i|; a non-finite cost or
 * gradient is BPNN_ERR_DIVERGED. Counts as the first evaluation. */
bpnn_status line_step_start(line_step *s, double *f, double *gg, double *gnorm);

/* d = -g */
bpnn_status line_step_steepest_descent(line_step *s);

/* A step along d from (f0, slope0 = g . d < 0) meeting the strong Wolfe
 * conditions, by More-Thuente and, when that fails, by bracketing and zoom;
 * `first_step` is the first trial. On *found = 1, x_try and g_try hold the
 * new point, *f_new its cost and the *_try fields its scalars (the line
 * searches end on the point they evaluated last); *found = 0 is not an error. A non-finite
 * cost or slope on the way is BPNN_ERR_DIVERGED. */
bpnn_status line_step_wolfe(line_step *s, double f0, double slope0, double first_step, double c1,
                            double c2, double *f_new, int *found);

/* After iteration k (f the cost at the current point): records k, the
 * evaluations and f in the result and reports them through on_iteration
 * (may be NULL); *stop = 1 when the caller asked to stop, with the result's
 * stop_reason set to "stopped". */
bpnn_status line_step_report(line_step *s, iteration_fn on_iteration, int k, double f, int *stop,
                             optimizer_result *result);

/* Fills the result at the end of a run of k iterations: "gtol" when the
 * gradient got there (unless the caller stopped the run). */
void line_step_finish(const line_step *s, int k, double f, double gnorm, double gtol,
                      optimizer_result *result);

/* Makes the trial point (x_try, g_try) the current one. */
void line_step_accept(line_step *s);

/* Leaves the current point in the caller's x (when `status` is BPNN_OK),
 * releases the buffers and returns the first failure. */
bpnn_status line_step_close(line_step *s, bpnn_status status);

#endif
