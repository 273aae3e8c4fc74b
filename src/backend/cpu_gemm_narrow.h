/* cpu_gemm_narrow.h — GEMMs with one narrow side, on AVX-512, without
 * packing (cpu_gemm_narrow.c says which shapes and why). */
#ifndef BPNN_CPU_GEMM_NARROW_H
#define BPNN_CPU_GEMM_NARROW_H

#include <stddef.h>

/* Runs fn(ctx, c) for every chunk c < chunks, on as many threads as the
 * caller allows (cpu.c's parallel_for); chunks may run in any order. */
typedef void (*gemm_narrow_chunk_fn)(void *ctx, size_t chunk);
typedef void (*gemm_narrow_parallel_fn)(size_t chunks, gemm_narrow_chunk_fn fn, void *ctx);

/* C (m x n) = alpha op(A) op(B) + beta C, row-major, as cblas_?gemm, when the
 * shape is one these kernels take on this CPU: returns 1 once C is written,
 * 0 (nothing done) when the caller should use the BLAS. With beta = 0, C is
 * not read. The values do not depend on the thread count. */
int gemm_narrow_f32(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                    const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
                    size_t ldc, gemm_narrow_parallel_fn parallel);
int gemm_narrow_f64(int trans_a, int trans_b, size_t m, size_t n, size_t k, double alpha,
                    const double *a, size_t lda, const double *b, size_t ldb, double beta,
                    double *c, size_t ldc, gemm_narrow_parallel_fn parallel);

#endif
