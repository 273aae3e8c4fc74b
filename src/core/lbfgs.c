/* lbfgs.c — see lbfgs.h; the point, direction and Wolfe step it shares with
 * CG are in line_step.c. */
#include "core/lbfgs.h"
#include "core/line_step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* A pair is kept only when s . y > CURVATURE_FLOOR * y . y. s . y > 0 keeps
 * the inverse Hessian approximation positive definite, so the two-loop
 * direction descends; the strong Wolfe step guarantees it in exact
 * arithmetic, but rounding (f32 above all) can leave s . y tiny or negative.
 * Measuring it against y . y also bounds gamma = s . y / y . y, the scale of
 * H0, away from zero: a pair whose curvature estimate y . y / s . y exceeds
 * 1e10 is noise, and trusting it would shrink every later step to nothing. */
#define CURVATURE_FLOOR 1e-10

/* The last `limit` correction pairs s = x_new - x, y = g_new - g in a ring
 * of limit + 1 slots: a new pair is formed in the free slot at `head`, so a
 * pair that fails the curvature test never overwrites one still in use. */
typedef struct history {
    int limit, slots;
    int kept; /* pairs in use, the newest in slot head - 1 */
    int head;
    backend_buffer **s, **y;
    double *rho;   /* 1 / (s . y) per slot */
    double *alpha; /* the two-loop recursion's coefficients per slot */
    double gamma;  /* H0 = gamma I, from the newest pair */
} history;

static void history_close(backend *be, history *h)
{
    for (int i = 0; i < h->slots; i++) {
        if (h->s)
            backend_release(be, h->s[i]);
        if (h->y)
            backend_release(be, h->y[i]);
    }
    free(h->s);
    free(h->y);
    free(h->rho);
    free(h->alpha);
    *h = (history){0};
}

static bpnn_status history_open(backend *be, size_t n, int limit, history *h)
{
    *h = (history){.limit = limit, .slots = limit + 1};
    size_t slots = (size_t)h->slots;
    h->s = calloc(slots, sizeof *h->s);
    h->y = calloc(slots, sizeof *h->y);
    h->rho = calloc(slots, sizeof *h->rho);
    h->alpha = calloc(slots, sizeof *h->alpha);
    if (!h->s || !h->y || !h->rho || !h->alpha) {
        history_close(be, h);
        return bpnn_fail_oom("the L-BFGS history");
    }
    bpnn_status status = BPNN_OK;
    for (int i = 0; i < h->slots && status == BPNN_OK; i++) {
        status = backend_alloc(be, BACKEND_REAL, n, &h->s[i]);
        if (status == BPNN_OK)
            status = backend_alloc(be, BACKEND_REAL, n, &h->y[i]);
    }
    if (status != BPNN_OK)
        history_close(be, h);
    return status;
}

/* The slot of the pair `age` updates old (0: the newest). */
static int history_slot(const history *h, int age)
{
    return (h->head - 1 - age + 2 * h->slots) % h->slots;
}

/* Forms s = x_try - x and y = g_try - g in the free slot and keeps the pair
 * when its curvature is usable (CURVATURE_FLOOR); a kept pair pushes out the
 * oldest once `limit` are held. */
static bpnn_status history_remember(line_step *ls, history *h)
{
    backend *be = ls->be;
    size_t n = ls->n;
    backend_view s = view_at(h->s[h->head], 0), y = view_at(h->y[h->head], 0);
    BPNN_TRY(be->ops->copy(be, n, view_at(ls->x_try, 0), s));
    BPNN_TRY(be->ops->axpy(be, n, -1.0, view_at(ls->x, 0), s));
    BPNN_TRY(be->ops->copy(be, n, view_at(ls->g_try, 0), y));
    BPNN_TRY(be->ops->axpy(be, n, -1.0, view_at(ls->g, 0), y));
    double sy_yy[2];
    BPNN_TRY(be->ops->dot(be, n, s, y, SLOT_SY));
    BPNN_TRY(be->ops->dot(be, n, y, y, SLOT_YY));
    BPNN_TRY(be->ops->read_slots(be, SLOT_SY, 2, sy_yy));
    double sy = sy_yy[0], yy = sy_yy[1];
    if (!(sy > CURVATURE_FLOOR * yy))
        return BPNN_OK;
    h->rho[h->head] = 1 / sy;
    h->gamma = sy / yy;
    h->head = (h->head + 1) % h->slots;
    if (h->kept < h->limit)
        h->kept++;
    return BPNN_OK;
}

/* d = -H g by the two-loop recursion over the kept pairs, H0 = gamma I. It
 * is linear in g, so starting from -g yields the descent direction itself. */
static bpnn_status two_loop_direction(line_step *ls, history *h)
{
    backend *be = ls->be;
    size_t n = ls->n;
    backend_view d = view_at(ls->d, 0);
    BPNN_TRY(line_step_steepest_descent(ls));
    for (int age = 0; age < h->kept; age++) {
        int i = history_slot(h, age);
        double sd;
        BPNN_TRY(backend_read_dot(be, n, view_at(h->s[i], 0), d, &sd));
        h->alpha[i] = h->rho[i] * sd;
        BPNN_TRY(be->ops->axpy(be, n, -h->alpha[i], view_at(h->y[i], 0), d));
    }
    BPNN_TRY(be->ops->scal(be, n, h->gamma, d));
    for (int age = h->kept - 1; age >= 0; age--) {
        int i = history_slot(h, age);
        double yd;
        BPNN_TRY(backend_read_dot(be, n, view_at(h->y[i], 0), d, &yd));
        BPNN_TRY(be->ops->axpy(be, n, h->alpha[i] - h->rho[i] * yd, view_at(h->s[i], 0), d));
    }
    return BPNN_OK;
}

static bpnn_status iterate(line_step *ls, history *h, const lbfgs_options *o, lbfgs_result *result)
{
    backend *be = ls->be;
    double f, gg, gnorm;
    BPNN_TRY(line_step_start(ls, &f, &gg, &gnorm));
    int k = 0;
    result->stop_reason = "max_iter";
    while (gnorm > o->gtol && k < o->max_iter) {
        double slope0 = 0, first = 1.0;
        if (h->kept > 0) {
            BPNN_TRY(two_loop_direction(ls, h));
            BPNN_TRY(backend_read_dot(be, ls->n, view_at(ls->g, 0), view_at(ls->d, 0), &slope0));
        }
        if (h->kept == 0 || !(slope0 < 0)) {
            /* No usable curvature yet, or rounding left the quasi-Newton
             * direction not descending: start afresh along -g. Its length
             * carries no scale, so the first trial keeps the step within
             * unit length (L-BFGS-B's 1/||g||_2; PyTorch's 1/||g||_1 needs
             * a reduction the backend does not have). */
            h->kept = 0;
            BPNN_TRY(line_step_steepest_descent(ls));
            slope0 = -gg; /* g . d with d = -g */
            first = fmin(1.0, 1.0 / sqrt(-slope0));
        }
        double f_new;
        int found;
        BPNN_TRY(line_step_wolfe(ls, f, slope0, first, o->c1, o->c2, &f_new, &found));
        if (!found) {
            if (h->kept == 0) { /* already along -g: nowhere left to go */
                result->stop_reason = "line_search";
                break;
            }
            /* The history may describe curvature far from here: forget it
             * and retry along -g. */
            h->kept = 0;
            continue;
        }
        BPNN_TRY(history_remember(ls, h));
        line_step_accept(ls);
        f = f_new;
        gg = ls->gg_try;
        gnorm = ls->gnorm_try;
        k++;
        if (!isfinite(gnorm))
            return bpnn_fail(BPNN_ERR_DIVERGED,
                             "training diverged: non-finite gradient at iteration %d: try a "
                             "smaller --lambda or --normalize zscore",
                             k);
        int stop;
        BPNN_TRY(line_step_report(ls, o->on_iteration, k, f, &stop, result));
        if (stop)
            break;
    }
    line_step_finish(ls, k, f, gnorm, o->gtol, result);
    return BPNN_OK;
}

bpnn_status lbfgs_minimize(backend *be, size_t n, backend_buffer *x, objective_fn objective,
                           void *context, const lbfgs_options *options, lbfgs_result *result)
{
    if (options->history < 1)
        return bpnn_fail(BPNN_ERR_INVALID, "L-BFGS history %d: it must be at least 1",
                         options->history);
    line_step ls;
    BPNN_TRY(line_step_open(&ls, be, n, x, objective, context));
    history h;
    bpnn_status status = history_open(be, n, options->history, &h);
    if (status == BPNN_OK) {
        status = iterate(&ls, &h, options, result);
        history_close(be, &h);
    }
    return line_step_close(&ls, status);
}
