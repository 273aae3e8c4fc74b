/* line_search.h — steps along a direction that meet the strong Wolfe
 * conditions f(a) <= f(0) + c1 a f'(0) and |f'(a)| <= c2 |f'(0)|.
 *
 * Two searches, tried in this order as SciPy's fmin_cg does: More and
 * Thuente's (MINPACK-2 dcsrch), then Nocedal and Wright's bracketing and
 * zoom (Algorithms 3.5 and 3.6). Each leaves the accepted point as the last
 * one it evaluated, so the caller's trial buffers already hold it. */
#ifndef BPNN_CORE_LINE_SEARCH_H
#define BPNN_CORE_LINE_SEARCH_H

#include "bpnn.h"

/* f and f' at step `alpha` along the direction. */
typedef bpnn_status (*line_function)(void *context, double alpha, double *value, double *slope);

typedef struct line_search {
    line_function phi;
    void *context;
    double f0, slope0; /* at alpha = 0; slope0 < 0 */
    double c1, c2;
    double first_step;
} line_search;

/* On success *found = 1 with the step and its value; *found = 0 when the
 * search gave up (the status is still BPNN_OK). */
bpnn_status line_search_more_thuente(const line_search *s, double *alpha, double *f, int *found);
bpnn_status line_search_zoom(const line_search *s, double *alpha, double *f, int *found);

#endif
