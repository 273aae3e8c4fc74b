/* reduce.cl - reductions in two passes. Pass 1: every work-group folds a
 * grid-strided share of the terms and writes one accumulator to partial[group].
 * Pass 2 (one work-group): folds the partials into partial[result_slot], the
 * only value the host reads back. The work-group size is a power of two; the
 * scratch space is one accumulator per work-item. */

REAL group_fold_max(REAL mine, __local REAL *scratch)
{
    size_t lid = get_local_id(0);
    scratch[lid] = mine;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t step = get_local_size(0) / 2; step > 0; step /= 2) {
        if (lid < step)
            scratch[lid] = max_abs_merge(scratch[lid], scratch[lid + step]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return scratch[0];
}

/* sum of x[i] y[i] */
__kernel void dot_partial(ulong n, __global const REAL *x, ulong x_offset, __global const REAL *y,
                          ulong y_offset, __global acc_t *partial, __local acc_t *scratch)
{
    acc_t sum = ACC_ZERO;
    for (size_t i = get_global_id(0); i < n; i += get_global_size(0))
        sum = acc_add(sum, (term_t)x[x_offset + i] * (term_t)y[y_offset + i]);
    sum = group_fold(sum, scratch);
    if (get_local_id(0) == 0)
        partial[get_group_id(0)] = sum;
}

/* sum of theta[r,c]^2 over c >= 1 */
__kernel void sum_squares_nonbias_partial(ulong rows, ulong cols, __global const REAL *theta,
                                          ulong theta_offset, __global acc_t *partial,
                                          __local acc_t *scratch)
{
    acc_t sum = ACC_ZERO;
    for (size_t i = get_global_id(0); i < rows * cols; i += get_global_size(0)) {
        if (i % cols != 0) {
            term_t v = (term_t)theta[theta_offset + i];
            sum = acc_add(sum, v * v);
        }
    }
    sum = group_fold(sum, scratch);
    if (get_local_id(0) == 0)
        partial[get_group_id(0)] = sum;
}

/* sum over i,k of softplus(z[i,k]) - (labels[i] == k) z[i,k], with
 * softplus(v) = max(v, 0) + log1p(exp(-|v|)): no log(0), no overflow. */
__kernel void logistic_loss_partial(ulong rows, ulong classes, __global const REAL *z,
                                    ulong z_offset, __global const int *labels, ulong labels_offset,
                                    __global acc_t *partial, __local acc_t *scratch)
{
    acc_t sum = ACC_ZERO;
    for (size_t i = get_global_id(0); i < rows * classes; i += get_global_size(0)) {
        term_t v = (term_t)z[z_offset + i];
        term_t softplus = fmax(v, (term_t)0) + log1p(exp(-fabs(v)));
        sum = acc_add(sum, softplus);
        if (labels[labels_offset + i / classes] == (long)(i % classes))
            sum = acc_add(sum, -v);
    }
    sum = group_fold(sum, scratch);
    if (get_local_id(0) == 0)
        partial[get_group_id(0)] = sum;
}

/* Pass 2 of every sum: the sum of partial[0..count) into partial[slot], or
 * added to it (accumulate = 1). */
__kernel void sum_final(ulong count, ulong slot, ulong accumulate, __global acc_t *partial,
                        __local acc_t *scratch)
{
    acc_t sum = ACC_ZERO;
    for (size_t i = get_local_id(0); i < count; i += get_local_size(0))
        sum = acc_merge(sum, partial[i]);
    sum = group_fold(sum, scratch);
    if (get_local_id(0) == 0)
        partial[slot] = accumulate ? acc_merge(partial[slot], sum) : sum;
}

/* max |x[i]| (NaN wins); partials are REALs in the same buffer. */
__kernel void max_abs_partial(ulong n, __global const REAL *x, ulong x_offset,
                              __global REAL *partial, __local REAL *scratch)
{
    REAL best = (REAL)0;
    for (size_t i = get_global_id(0); i < n; i += get_global_size(0))
        best = max_abs_merge(best, fabs(x[x_offset + i]));
    best = group_fold_max(best, scratch);
    if (get_local_id(0) == 0)
        partial[get_group_id(0)] = best;
}

/* Pass 2 of max_abs: the partials are REALs at the buffer's start, the
 * result an accumulator in slot `slot` like every sum's (accumulate is not
 * used: max_abs sets its slot). */
__kernel void max_abs_final(ulong count, ulong slot, ulong accumulate, __global REAL *partial,
                            __local REAL *scratch)
{
    REAL best = (REAL)0;
    for (size_t i = get_local_id(0); i < count; i += get_local_size(0))
        best = max_abs_merge(best, partial[i]);
    best = group_fold_max(best, scratch);
    if (get_local_id(0) == 0) {
        __global acc_t *slots = (__global acc_t *)partial;
#ifdef BPNN_ACC_DOUBLE
        slots[slot] = (acc_t)best;
#else
        slots[slot] = (acc_t)(best, 0.0f);
#endif
    }
}
