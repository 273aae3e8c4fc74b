/* lbfgs.h — limited-memory BFGS (Nocedal and Wright, Algorithm 7.4/7.5) with
 * the strong Wolfe line searches CG uses. The s/y history lives on the
 * backend; all vector math runs as backend ops and only scalars come back to
 * the host. Iterations and evaluations count as in cg.h. */
#ifndef BPNN_CORE_LBFGS_H
#define BPNN_CORE_LBFGS_H

#include "core/objective.h"

typedef struct lbfgs_options {
    int max_iter;
    double gtol;   /* stop when max |g_i| <= gtol */
    int history;   /* correction pairs kept (m), at least 1 */
    double c1, c2; /* Wolfe constants: 1e-4 and 0.9 */
    iteration_fn on_iteration;
} lbfgs_options;

typedef optimizer_result lbfgs_result;

/* Minimizes from x (n values), leaving the best point found in x. */
bpnn_status lbfgs_minimize(backend *be, size_t n, backend_buffer *x, objective_fn objective,
                           void *context, const lbfgs_options *options, lbfgs_result *result);

#endif
