/* timer.h — monotonic wall-clock seconds. */
#ifndef BPNN_UTIL_TIMER_H
#define BPNN_UTIL_TIMER_H

#include <time.h>

static inline double bpnn_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#endif
