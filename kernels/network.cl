/* network.cl - the element-wise steps of forward and backward propagation.
 * Matrices are row-major and contiguous unless a stride is given. */

/* z[i,j] += bias[j * bias_stride]; a[i,j] = sigmoid(z[i,j]). a may alias z. */
__kernel void bias_sigmoid(ulong rows, ulong cols, __global const REAL *bias, ulong bias_offset,
                           ulong bias_stride, __global REAL *z, ulong z_offset, __global REAL *a,
                           ulong a_offset)
{
    size_t i = get_global_id(0);
    if (i >= rows * cols)
        return;
    size_t j = i % cols;
    REAL v = z[z_offset + i] + bias[bias_offset + j * bias_stride];
    z[z_offset + i] = v;
    a[a_offset + i] = (REAL)1 / ((REAL)1 + exp(-v));
}

/* delta[i,k] = h[i,k] - (labels[i] == k); the one-hot matrix never exists. */
__kernel void output_delta(ulong rows, ulong classes, __global const REAL *h, ulong h_offset,
                           __global const int *labels, ulong labels_offset, __global REAL *delta,
                           ulong delta_offset)
{
    size_t i = get_global_id(0);
    if (i >= rows * classes)
        return;
    size_t row = i / classes, k = i % classes;
    REAL hit = labels[labels_offset + row] == (long)k ? (REAL)1 : (REAL)0;
    delta[delta_offset + i] = h[h_offset + i] - hit;
}

/* delta[i] *= a[i] (1 - a[i]) */
__kernel void sigmoid_gradient_mul(ulong count, __global const REAL *a, ulong a_offset,
                                   __global REAL *delta, ulong delta_offset)
{
    size_t i = get_global_id(0);
    if (i >= count)
        return;
    REAL v = a[a_offset + i];
    delta[delta_offset + i] *= v * ((REAL)1 - v);
}

/* grad[r,c] += coef * theta[r,c] for c >= 1 (the bias column is never regularized). */
__kernel void regularize_add(ulong rows, ulong cols, __global const REAL *theta, ulong theta_offset,
                             REAL coef, __global REAL *grad, ulong grad_offset)
{
    size_t i = get_global_id(0);
    if (i >= rows * cols || i % cols == 0)
        return;
    grad[grad_offset + i] += coef * theta[theta_offset + i];
}

/* classes_out[i] = the first k with the largest h[i,k]. */
__kernel void argmax_rows(ulong rows, ulong classes, __global const REAL *h, ulong h_offset,
                          __global int *classes_out, ulong out_offset)
{
    size_t i = get_global_id(0);
    if (i >= rows)
        return;
    __global const REAL *row = h + h_offset + i * classes;
    size_t best = 0;
    for (size_t k = 1; k < classes; k++)
        if (row[k] > row[best])
            best = k;
    classes_out[out_offset + i] = (int)best;
}

/* C[r, c] *= beta (or = 0 when beta is 0) for an m x n block with leading
 * dimension ldc: GEMM with k = 0, which CLBlast refuses. */
__kernel void scale_matrix(ulong m, ulong n, REAL beta, __global REAL *c, ulong c_offset, ulong ldc)
{
    size_t i = get_global_id(0);
    if (i >= m * n)
        return;
    size_t at = c_offset + (i / n) * ldc + i % n;
    c[at] = beta == (REAL)0 ? (REAL)0 : beta * c[at];
}

/* grad[j * grad_stride] = scale * sum_i delta[i,j]: one work-group per column,
 * its work-items striding over the rows, then a tree in local memory
 * (the work-group size is a power of two). */
__kernel void bias_gradient(ulong rows, ulong cols, __global const REAL *delta, ulong delta_offset,
                            term_t scale, term_t beta, __global REAL *grad, ulong grad_offset,
                            ulong grad_stride, __local acc_t *scratch)
{
    size_t j = get_group_id(0);
    size_t lid = get_local_id(0), width = get_local_size(0);
    acc_t sum = ACC_ZERO;
    if (j < cols)
        for (size_t i = lid; i < rows; i += width)
            sum = acc_add(sum, (term_t)delta[delta_offset + i * cols + j]);
    sum = group_fold(sum, scratch);
    if (lid == 0 && j < cols) {
        __global REAL *g = grad + grad_offset + j * grad_stride;
        /* beta = 0 never reads grad, which may hold anything */
        term_t before = beta != 0 ? beta * (term_t)*g : (term_t)0;
#ifdef BPNN_ACC_DOUBLE
        *g = (REAL)(scale * sum + before);
#else
        *g = (REAL)(scale * (sum.x + sum.y) + before);
#endif
    }
}

/* dst[i,:] = src[index[i],:] for a mini-batch, one work-item per element so
 * wide rows spread over the device. src holds src_rows rows; an index outside
 * them gives a NaN row instead of a read outside the buffer. */
__kernel void gather_rows(ulong rows, ulong cols, __global const REAL *src, ulong src_offset,
                          ulong src_rows, __global const int *index, ulong index_offset,
                          __global REAL *dst, ulong dst_offset)
{
    size_t i = get_global_id(0);
    if (i >= rows * cols)
        return;
    size_t row = i / cols, col = i % cols;
    int from = index[index_offset + row];
    dst[dst_offset + i] = from >= 0 && (ulong)from < src_rows
                              ? src[src_offset + (size_t)from * cols + col]
                              : (REAL)NAN;
}

/* dst[i] = src[index[i]]; an index outside src's src_count labels gives -1
 * (no class). */
__kernel void gather_labels(ulong rows, __global const int *src, ulong src_offset, ulong src_count,
                            __global const int *index, ulong index_offset, __global int *dst,
                            ulong dst_offset)
{
    size_t i = get_global_id(0);
    if (i >= rows)
        return;
    int from = index[index_offset + i];
    dst[dst_offset + i] = from >= 0 && (ulong)from < src_count ? src[src_offset + from] : -1;
}
