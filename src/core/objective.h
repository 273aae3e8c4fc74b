/* objective.h — what the full-batch optimizers (cg.c, lbfgs.c) minimize and
 * how they report: the cost and gradient at a point held on the backend, and
 * a callback after every iteration. */
#ifndef BPNN_CORE_OBJECTIVE_H
#define BPNN_CORE_OBJECTIVE_H

#include "backend/backend.h"

/* The reductions' slots (backend.h) the core uses: the objective's parts
 * of the cost, the line step's scalars of the trial point, L-BFGS's pair. */
enum core_slot {
    SLOT_LOSS,    /* the logistic loss summed over the rows */
    SLOT_SQUARES, /* the sum of the squared non-bias weights */
    SLOT_SLOPE,   /* g_try . d */
    SLOT_GG,      /* g_try . g_try */
    SLOT_G_GTRY,  /* g . g_try */
    SLOT_GNORM,   /* max |g_try[i]| */
    SLOT_SY,      /* L-BFGS's s . y */
    SLOT_YY,      /* and y . y, read together */
    CORE_SLOTS
};

/* Scalars an optimizer wants along with a cost: `queue` puts their
 * reductions into slots once the gradient is complete, and the objective
 * reads them with its cost, in one wait for the device, into `slots`. */
typedef struct objective_extras {
    bpnn_status (*queue)(void *user);
    void *user;
    double slots[BACKEND_SLOTS];
} objective_extras;

/* f(x) and its gradient into g (both length n, on the backend); with
 * `extras` (may be NULL), their scalars too. */
typedef bpnn_status (*objective_fn)(void *context, backend_buffer *x, double *f, backend_buffer *g,
                                    objective_extras *extras);

/* For an objective that has its cost already: the extras queued and read in
 * a wait of their own. */
static inline bpnn_status objective_read_extras(backend *be, objective_extras *extras)
{
    if (!extras)
        return BPNN_OK;
    bpnn_status status = extras->queue(extras->user);
    return status == BPNN_OK ? be->ops->read_slots(be, 0, CORE_SLOTS, extras->slots) : status;
}

/* Called after each iteration with the current point; a non-OK status stops
 * the run with it, *stop = 1 stops it cleanly (stop_reason "stopped"). */
typedef bpnn_status (*iteration_fn)(void *context, int iteration, int evaluations, double f,
                                    backend_buffer *x, int *stop);

/* How a full-batch optimizer ended. */
typedef struct optimizer_result {
    int iterations;
    int evaluations;
    double f;
    const char *stop_reason; /* "gtol", "max_iter", "line_search", "stopped" */
} optimizer_result;

#endif
