/* cpu_gemm_narrow.c — GEMMs with one narrow side, on AVX-512, without the
 * BLAS's packing.
 *
 * The seed's task (784-25-10 over 5000 rows, f64) spends nearly all its time
 * in two GEMMs per block of rows X (network.c): the forward Z = X W^T (m x 25
 * from 784, W's rows 785 apart) and the weight gradient G = D^T X / m (25 x
 * 784 from m). OpenBLAS packs X into its own layout for both, twice per
 * evaluation, and its 25-wide panels fit its register blocks poorly: perf
 * showed dgemm_kernel 45% of the run and the packing 29%. These kernels read
 * the operands where they lie:
 *   dot   (NT, n narrow): vectors along k, both operands row by row, R x J
 *         dot products in registers, summed across lanes at the end; no lane
 *         is wasted on a narrow n.
 *   axpy  (TN with m narrow, NN and NT with k short): vectors along C's rows,
 *         each A(r,s) broadcast against B's row s (the weight gradient:
 *         D[i,j] times X's row i).
 * Chunks of rows (dot) or of columns (axpy) go to cpu.c's thread pool; each
 * output element is computed by the same operations in the same order in
 * any chunk, so results do not depend on the thread count.
 *
 * The shape rule (gemm_*, cpu_gemm_narrow.inc) takes what wins by a clear
 * margin here (Xeon family 6 model 207, AVX-512, OpenBLAS 0.3.21 Cooperlake
 * kernels), a narrow side of at most NARROW_MAX:
 *   NT  n <= 32, m >= 64: dot (k > 32) or axpy over B^T (k <= 32);
 *   TN  m <= 32, k >= 64: axpy;
 *   NN  n <= 32, k <= 32, m >= 64: axpy;
 * everything else (alpha 0 too) goes to the BLAS. Measured one thread at a
 * time on a shared machine (CPU time, medians of 31-41 interleaved pairs;
 * the ratio moved between sessions within the range given), OpenBLAS ->
 * these, GFLOP/s:
 *   forward   NT 334x25x784 f64  23-35 -> 38-58 (1.6-1.7x); f32 668 rows 1.4-1.6x
 *   gradient  TN 25x784x334 f64  34-41 -> 42-60 (1.2-1.5x); f32 668 rows 1.4x
 *   layer 2   NT 334x10x25 f64 1.9-2.2x, TN 10x25x334 1.5-1.7x, NN 334x25x10 1.2-1.6x
 *   b256 f32  NT 256x10x256 1.9-2.4x; TN 10x256x256 1.04x
 *   both big GEMMs as network.c runs them, 5000 rows in 2 MiB blocks, f64:
 *   12.0-13.4 ms -> 7.7-8.5 ms an evaluation (1.6x); bpnn-cl bench's
 *   evaluations of 784-25-10 f64 a second: 73 -> 104 with 1 thread, 92 -> 154
 *   with 2 (1.4x, 1.6x).
 * Where the rule stops: NT n = 32/48/64 gave 1.29/1.22/1.17x in f64 but
 * 1.09/1.04/0.98x in f32, TN m = 32/64/96 1.27/1.15/0.95x; with m < 64 rows
 * (NT) or k < 64 steps (TN) OpenBLAS runs its unpacked small-matrix kernels
 * (M N K <= 10^6) and wins (NT 48x25x784: 0.95x f64, 0.85x f32; TN
 * 25x784x48: 0.89x, 0.87x); the b256 delta NN 256x256x10 was 0.95x. */
#include "backend/cpu_gemm_narrow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define NARROW_AVX512 1
#define TARGET_AVX512 __attribute__((target("avx512f")))
#define ALWAYS_INLINE __attribute__((always_inline))
#define NARROW_CONCAT_(a, b) a##_##b
#define NARROW_CONCAT(a, b) NARROW_CONCAT_(a, b)

/* Register blocks (32 vector registers): the dot kernel's R x J sums and R
 * rows of A (5 + 25 + one row of B at a time); the axpy kernel's R rows of C
 * by V vectors of columns (R = AX_R1 with one vector, at most AX_R else).
 * The switches in cpu_gemm_narrow.inc list every height up to these. */
#define DOT_R 5
#define DOT_J 5
#define AX_R 6
#define AX_R1 12
#define AX_V 4
#define AX_COLS (AX_V * LANES)
/* The axpy kernel keeps C's rows together up to this many (a weight
 * gradient's units); more rows are cut into groups of at most this many. */
#define AX_GROUP_ROWS 64
/* The axpy kernel's steps per group (a group's rows of B stay in L1 while
 * every block of C's rows passes over them), and how many steps ahead it asks
 * for B's rows. No measurable difference between 16 and 64 steps, or 4 and
 * 16 ahead; without the groups or the prefetch, the gradient GEMMs of the
 * seed's task took 10-40% longer. */
#define AX_STEPS 32
#define AX_AHEAD 8
/* The shape rule's limits (the comment at the top). */
#define NARROW_MAX 32
#define SHORT_K 32
#define MIN_ROWS 64
#define MIN_STEPS 64
/* Multiply-adds per chunk of work handed to a thread: a fork-join costs about
 * a microsecond, this many about 10 us. */
#define CHUNK_WORK 262144

/* Rows per chunk: about CHUNK_WORK multiply-adds at `per_row` a row, a
 * multiple of `multiple`. */
static size_t chunk_rows(size_t per_row, size_t multiple)
{
    size_t rows = CHUNK_WORK / per_row;
    return rows < multiple ? multiple : rows / multiple * multiple;
}

static int narrow_avx512(void)
{
    return __builtin_cpu_supports("avx512f");
}

#define REAL double
#define SUFFIX f64
#define LANES 8
#define VEC __m512d
#define MASK __mmask8
#define FULL_MASK ((__mmask8)0xff)
#define LANE_MASK(count) ((__mmask8)((1u << (count)) - 1))
#define VZERO() _mm512_setzero_pd()
#define VSET1(x) _mm512_set1_pd(x)
#define VLOADU(p) _mm512_loadu_pd(p)
#define VLOADZ(mask, p) _mm512_maskz_loadu_pd(mask, p)
#define VSTOREM(p, mask, v) _mm512_mask_storeu_pd(p, mask, v)
#define VSTOREU(p, v) _mm512_storeu_pd(p, v)
#define VFMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define VMUL(a, b) _mm512_mul_pd(a, b)
#define VSUM(v) _mm512_reduce_add_pd(v)
#include "cpu_gemm_narrow.inc"

#define REAL float
#define SUFFIX f32
#define LANES 16
#define VEC __m512
#define MASK __mmask16
#define FULL_MASK ((__mmask16)0xffff)
#define LANE_MASK(count) ((__mmask16)((1u << (count)) - 1))
#define VZERO() _mm512_setzero_ps()
#define VSET1(x) _mm512_set1_ps(x)
#define VLOADU(p) _mm512_loadu_ps(p)
#define VLOADZ(mask, p) _mm512_maskz_loadu_ps(mask, p)
#define VSTOREM(p, mask, v) _mm512_mask_storeu_ps(p, mask, v)
#define VSTOREU(p, v) _mm512_storeu_ps(p, v)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VMUL(a, b) _mm512_mul_ps(a, b)
#define VSUM(v) _mm512_reduce_add_ps(v)
#include "cpu_gemm_narrow.inc"
#endif

/* The kernels where the CPU has AVX-512 (__builtin_cpu_supports also checks
 * that the OS saves the ZMM state); elsewhere the BLAS does everything. */
int gemm_narrow_f32(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                    const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
                    size_t ldc, gemm_narrow_parallel_fn parallel)
{
#ifdef NARROW_AVX512
    if (narrow_avx512())
        return gemm_f32(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, parallel);
#endif
    (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda;
    (void)b, (void)ldb, (void)beta, (void)c, (void)ldc, (void)parallel;
    return 0;
}

int gemm_narrow_f64(int trans_a, int trans_b, size_t m, size_t n, size_t k, double alpha,
                    const double *a, size_t lda, const double *b, size_t ldb, double beta,
                    double *c, size_t ldc, gemm_narrow_parallel_fn parallel)
{
#ifdef NARROW_AVX512
    if (narrow_avx512())
        return gemm_f64(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, parallel);
#endif
    (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda;
    (void)b, (void)ldb, (void)beta, (void)c, (void)ldc, (void)parallel;
    return 0;
}
