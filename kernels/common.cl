/* common.cl - types shared by every kernel. Built with
 *   -DREAL=float or -DREAL=double   the backend's precision
 *   -DBPNN_ACC_DOUBLE               reductions accumulate in double (the device
 *                                   has cl_khr_fp64); without it they keep a
 *                                   compensated (Neumaier) float sum.
 * Sizes and offsets arrive as ulong; every kernel guards its index, so global
 * sizes may be rounded up to any work-group size. */
#ifdef BPNN_ACC_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

#ifndef REAL
#error "REAL must be defined as float or double"
#endif

#ifdef BPNN_ACC_DOUBLE
/* A term is formed in double (a float product is exact there) and summed in double. */
typedef double term_t;
typedef double acc_t;
#define ACC_ZERO 0.0

acc_t acc_add(acc_t a, term_t v)
{
    return a + v;
}

acc_t acc_merge(acc_t a, acc_t b)
{
    return a + b;
}
#else
/* Neumaier's compensated sum: .x the running sum, .y the lost low-order parts.
 * The value is .x + .y, formed in double on the host. */
typedef float term_t;
typedef float2 acc_t;
#define ACC_ZERO ((float2)(0.0f, 0.0f))

acc_t acc_add(acc_t a, term_t v)
{
    float t = a.x + v;
    float lost = fabs(a.x) >= fabs(v) ? (a.x - t) + v : (v - t) + a.x;
    return (float2)(t, a.y + lost);
}

acc_t acc_merge(acc_t a, acc_t b)
{
    acc_t r = acc_add(a, b.x);
    r.y += b.y;
    return r;
}
#endif

/* Folds each work-item's accumulator into scratch[0] (all work-items call it;
 * the work-group size is a power of two). */
acc_t group_fold(acc_t mine, __local acc_t *scratch)
{
    size_t lid = get_local_id(0);
    scratch[lid] = mine;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t step = get_local_size(0) / 2; step > 0; step /= 2) {
        if (lid < step)
            scratch[lid] = acc_merge(scratch[lid], scratch[lid + step]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return scratch[0];
}

/* max(|a|, |b|) that lets a NaN through, as the CPU path does (divergence shows). */
REAL max_abs_merge(REAL a, REAL b)
{
    return (isnan(a) || a >= b) ? a : b;
}
