/* cg.h — nonlinear conjugate gradient (Polak-Ribiere+) with a strong Wolfe
 * line search, as SciPy's fmin_cg counts and stops (docs/contract.md). All vector
 * math runs as backend ops: only scalars come back to the host. */
#ifndef BPNN_CORE_CG_H
#define BPNN_CORE_CG_H

#include "core/objective.h"

typedef struct cg_options {
    int max_iter;
    double gtol;   /* stop when max |g_i| <= gtol */
    double c1, c2; /* Wolfe constants: 1e-4 and 0.4 as fmin_cg */
    iteration_fn on_iteration;
} cg_options;

typedef optimizer_result cg_result;

/* Minimizes from x (n values), leaving the best point found in x. */
bpnn_status cg_minimize(backend *be, size_t n, backend_buffer *x, objective_fn objective,
                        void *context, const cg_options *options, cg_result *result);

#endif
