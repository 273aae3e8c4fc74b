/* optimizer.cl - one mini-batch step of each optimizer, fused: every
 * work-item reads its parameter, gradient and state once and writes them
 * once (backend.h's backend_update has the formulas). The arithmetic is the
 * CPU backend's, term by term and in REAL, so both paths agree to rounding.
 * Contraction into fma would round differently from the CPU loops. */
#pragma OPENCL FP_CONTRACT OFF

/* p -= lr g */
__kernel void sgd_update(ulong n, REAL lr, __global REAL *p, ulong p_offset, __global const REAL *g,
                         ulong g_offset)
{
    size_t i = get_global_id(0);
    if (i >= n)
        return;
    p[p_offset + i] -= lr * g[g_offset + i];
}

/* v = momentum v + g; p -= lr v, or with nesterov p -= lr (g + momentum v) */
__kernel void momentum_update(ulong n, REAL lr, REAL momentum, int nesterov, __global REAL *p,
                              ulong p_offset, __global const REAL *g, ulong g_offset,
                              __global REAL *v, ulong v_offset)
{
    size_t i = get_global_id(0);
    if (i >= n)
        return;
    REAL grad = g[g_offset + i];
    REAL velocity = momentum * v[v_offset + i] + grad;
    v[v_offset + i] = velocity;
    p[p_offset + i] -= nesterov ? lr * (grad + momentum * velocity) : lr * velocity;
}

/* m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2;
 * p -= lr (m / bias1) / (sqrt(v / bias2) + epsilon) */
__kernel void adam_update(ulong n, REAL lr, REAL beta1, REAL beta2, REAL epsilon, REAL bias1,
                          REAL bias2, __global REAL *p, ulong p_offset, __global const REAL *g,
                          ulong g_offset, __global REAL *m, ulong m_offset, __global REAL *v,
                          ulong v_offset)
{
    size_t i = get_global_id(0);
    if (i >= n)
        return;
    REAL grad = g[g_offset + i];
    REAL first = beta1 * m[m_offset + i] + ((REAL)1 - beta1) * grad;
    REAL second = beta2 * v[v_offset + i] + ((REAL)1 - beta2) * (grad * grad);
    m[m_offset + i] = first;
    v[v_offset + i] = second;
    p[p_offset + i] -= lr * (first / bias1) / (sqrt(second / bias2) + epsilon);
}
