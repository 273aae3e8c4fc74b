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

/* bias_gradient: grad[j * grad_stride] = scale * sum_i delta[i,j] + beta * grad[j * grad_stride]
 * as a 2-D reduction, shaped for a GPU (ops.c plans the grid):
 * - dimension 0 runs along a row: the get_local_size(0) work-items of a row
 *   lane read that many consecutive columns, so a warp's loads coalesce
 *   (one work-group per column, as before, read each row's element alone,
 *   a whole memory transaction per value);
 * - dimension 1 splits the rows: get_group_id(1) is a slice of slice_rows
 *   consecutive rows and its get_local_size(1) lanes stride through it, so a
 *   matrix of many rows and few columns (60000 x 10) still spreads over many
 *   work-groups, not over as many as it has columns.
 * One slice: the work-group writes grad itself. Several: each writes its
 * column sums to partial[slice * cols + j] and bias_gradient_final adds them
 * up per column. The sums are acc_t, as in every reduction (common.cl). */

/* grad = scale * sum + beta * grad; beta = 0 never reads grad, which may hold
 * anything (NaN included). */
void store_bias_gradient(acc_t sum, term_t scale, term_t beta, __global REAL *g)
{
    term_t before = beta != 0 ? beta * (term_t)*g : (term_t)0;
#ifdef BPNN_ACC_DOUBLE
    *g = (REAL)(scale * sum + before);
#else
    *g = (REAL)(scale * (sum.x + sum.y) + before);
#endif
}

/* Pass 1 (or the only one). scratch holds one acc_t per work-item; the lanes
 * (get_local_size(1)) are a power of two. */
__kernel void bias_gradient(ulong rows, ulong cols, ulong slice_rows, __global const REAL *delta,
                            ulong delta_offset, term_t scale, term_t beta, __global REAL *grad,
                            ulong grad_offset, ulong grad_stride, __global acc_t *partial,
                            __local acc_t *scratch)
{
    size_t x = get_local_id(0), lane = get_local_id(1);
    size_t width = get_local_size(0), lanes = get_local_size(1);
    size_t j = get_global_id(0), slice = get_group_id(1);
    /* the host sizes the slices so that each starts within the rows */
    size_t begin = slice * slice_rows;
    size_t end = rows - begin < slice_rows ? rows : begin + slice_rows;
    acc_t sum = ACC_ZERO;
    if (j < cols)
        for (size_t i = begin + lane; i < end; i += lanes)
            sum = acc_add(sum, (term_t)delta[delta_offset + i * cols + j]);
    /* fold the lanes of each column: scratch[lane][x] */
    scratch[lane * width + x] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t step = lanes / 2; step > 0; step /= 2) {
        if (lane < step)
            scratch[lane * width + x] =
                acc_merge(scratch[lane * width + x], scratch[(lane + step) * width + x]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lane != 0 || j >= cols)
        return;
    if (get_num_groups(1) == 1)
        store_bias_gradient(scratch[x], scale, beta, grad + grad_offset + j * grad_stride);
    else
        partial[slice * cols + j] = scratch[x];
}

/* Pass 2: column j's slices, in order (consecutive work-items read
 * consecutive columns of each slice's row of partials). */
__kernel void bias_gradient_final(ulong cols, ulong slices, __global const acc_t *partial,
                                  term_t scale, term_t beta, __global REAL *grad, ulong grad_offset,
                                  ulong grad_stride)
{
    size_t j = get_global_id(0);
    if (j >= cols)
        return;
    acc_t sum = ACC_ZERO;
    for (size_t s = 0; s < slices; s++)
        sum = acc_merge(sum, partial[s * cols + j]);
    store_bias_gradient(sum, scale, beta, grad + grad_offset + j * grad_stride);
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
