/* cg.c — see cg.h; the buffers and the Wolfe step it shares with L-BFGS are
 * in line_step.c. */
#include "core/cg.h"
#include "core/line_step.h"

#include <math.h>
#include <string.h>

#include "util/error.h"

/* The new direction must descend at least this much (fmin_cg's sigma_3). */
#define DESCENT_FRACTION 0.01

/* The first trial step, fmin_cg's guess from the last decrease. */
static double first_step(double f0, double f_previous, double slope0)
{
    double first = 1.0;
    if (slope0 != 0 && isfinite(f_previous))
        first = fmin(1.0, 1.01 * 2 * (f0 - f_previous) / slope0);
    if (!(first > 0))
        first = 1.0;
    return first;
}

/* Every scalar an iteration needs comes with the line search's evaluations
 * (line_step.h): the slope g . d at the start of a search is known from the
 * last one, never read, and the host waits for the device once per
 * evaluation, nothing more. */
static bpnn_status iterate(line_step *s, const cg_options *o, cg_result *result)
{
    backend *be = s->be;
    double f, f_previous, gnorm, gg;
    BPNN_TRY(line_step_start(s, &f, &gg, &gnorm));
    f_previous = f + sqrt(gg) / 2; /* fmin_cg's guess, which sets the first step */
    BPNN_TRY(line_step_steepest_descent(s));
    double slope0 = -gg; /* g . d with d = -g */
    int k = 0, restarted = 1;
    result->stop_reason = "max_iter";
    while (gnorm > o->gtol && k < o->max_iter) {
        double f_new;
        int found;
        BPNN_TRY(line_step_wolfe(s, f, slope0, first_step(f, f_previous, slope0), o->c1, o->c2,
                                 &f_new, &found));
        if (!found) {
            if (restarted) { /* already along -g: nowhere left to go */
                result->stop_reason = "line_search";
                break;
            }
            BPNN_TRY(line_step_steepest_descent(s));
            slope0 = -gg;
            restarted = 1;
            continue;
        }
        f_previous = f;
        f = f_new;
        /* Polak-Ribiere+: beta = max(0, g_new . (g_new - g) / g . g) */
        double gg_new = s->gg_try, slope_new = s->slope_try;
        double beta = fmax(0.0, (gg_new - s->g_gtry) / gg);
        gnorm = s->gnorm_try;
        line_step_accept(s);
        gg = gg_new;
        k++;
        restarted = 0;
        /* d = -g + beta d, restarted along -g when it would not descend or
         * every n steps; its slope d . g = beta (d_old . g) - g . g follows
         * from the scalars at hand */
        BPNN_TRY(be->ops->scal(be, s->n, beta, view_at(s->d, 0)));
        BPNN_TRY(be->ops->axpy(be, s->n, -1.0, view_at(s->g, 0), view_at(s->d, 0)));
        slope0 = beta * slope_new - gg;
        if (beta == 0 || slope0 > -DESCENT_FRACTION * gg || (size_t)k % s->n == 0) {
            BPNN_TRY(line_step_steepest_descent(s));
            slope0 = -gg;
            restarted = 1;
        }
        int stop;
        BPNN_TRY(line_step_report(s, o->on_iteration, k, f, &stop, result));
        if (stop)
            break;
    }
    line_step_finish(s, k, f, gnorm, o->gtol, result);
    return BPNN_OK;
}

bpnn_status cg_minimize(backend *be, size_t n, backend_buffer *x, objective_fn objective,
                        void *context, const cg_options *options, cg_result *result)
{
    line_step s;
    BPNN_TRY(line_step_open(&s, be, n, x, objective, context));
    return line_step_close(&s, iterate(&s, options, result));
}
