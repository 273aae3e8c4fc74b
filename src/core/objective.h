/* objective.h — what the full-batch optimizers (cg.c, lbfgs.c) minimize and
 * how they report: the cost and gradient at a point held on the backend, and
 * a callback after every iteration. */
#ifndef BPNN_CORE_OBJECTIVE_H
#define BPNN_CORE_OBJECTIVE_H

#include "backend/backend.h"

/* f(x) and its gradient into g (both length n, on the backend). */
typedef bpnn_status (*objective_fn)(void *context, backend_buffer *x, double *f, backend_buffer *g);

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
