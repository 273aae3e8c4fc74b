/* cpu.c — the host backend: GEMMs through CBLAS (OpenBLAS) or, with a narrow
 * side, cpu_gemm_narrow.c's kernels; everything else in plain C loops. It is
 * the fast path without a GPU and the reference the OpenCL backend is checked
 * against, op by op. */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "backend/cpu_gemm_narrow.h"
#include "util/error.h"

struct backend_buffer {
    backend_buffer_kind kind;
    size_t count;
    void *data;
};

/* BPNN_FAIL_BUFFER=N: the Nth buffer allocation fails as if memory had run
 * out, so that tests can sweep N over a run and reach every caller's error
 * path (buffers are allocated by one thread at a time). */
static int injected_buffer_failure(void)
{
    static long target = -1, count;
    if (target < 0) {
        const char *value = getenv("BPNN_FAIL_BUFFER");
        target = value ? strtol(value, NULL, 10) : 0;
    }
    return target > 0 && ++count == target;
}

/* A cache line, and the widest vector load (AVX-512). */
#define BUFFER_ALIGNMENT 64

static bpnn_status cpu_alloc(backend_buffer_kind kind, size_t count, size_t element_size,
                             backend_buffer **out)
{
    *out = NULL;
    if (count > (SIZE_MAX - BUFFER_ALIGNMENT) / element_size)
        return bpnn_fail(BPNN_ERR_INVALID, "buffer of %zu elements overflows the address space",
                         count);
    int injected = injected_buffer_failure();
    backend_buffer *buffer = injected ? NULL : calloc(1, sizeof *buffer);
    /* Aligned the same way in every run: OpenBLAS's kernels take other paths
     * (and round differently) for other alignments, and a run must repeat
     * bit for bit whatever the heap looked like. */
    size_t bytes = (count ? count * element_size : 1) + BUFFER_ALIGNMENT - 1;
    void *data = injected
                     ? NULL
                     : aligned_alloc(BUFFER_ALIGNMENT, bytes / BUFFER_ALIGNMENT * BUFFER_ALIGNMENT);
    if (!buffer || !data) {
        free(buffer);
        free(data);
        return bpnn_fail(BPNN_ERR_RUNTIME, "out of host memory: %zu bytes for a buffer on cpu",
                         count * element_size);
    }
    buffer->kind = kind;
    buffer->count = count;
    buffer->data = data;
    *out = buffer;
    return BPNN_OK;
}

static void cpu_release(backend *be, backend_buffer *buffer)
{
    (void)be;
    free(buffer->data);
    free(buffer);
}

static void cpu_destroy(backend *be)
{
    free(be);
}

static bpnn_status cpu_upload_index(backend *be, backend_view dst, size_t count, const int32_t *src)
{
    (void)be;
    memcpy((int32_t *)dst.buffer->data + dst.offset, src, count * sizeof *src);
    return BPNN_OK;
}

static bpnn_status cpu_download_index(backend *be, backend_view src, size_t count, int32_t *dst)
{
    (void)be;
    memcpy(dst, (const int32_t *)src.buffer->data + src.offset, count * sizeof *dst);
    return BPNN_OK;
}

static bpnn_status cpu_finish(backend *be)
{
    (void)be;
    return BPNN_OK;
}

/* The reductions' slots (backend.h) live beside the backend in host memory. */
typedef struct cpu_backend {
    backend base; /* first: a backend* is a cpu_backend* */
    double slots[BACKEND_SLOTS];
    double reading[BACKEND_SLOTS]; /* the read in flight: its values, count */
    size_t reading_count;
    int reading_started;
} cpu_backend;

static bpnn_status check_slots(const char *op, size_t first, size_t count)
{
    if (first > BACKEND_SLOTS || count > BACKEND_SLOTS - first)
        return bpnn_fail(BPNN_ERR_INVALID, "%s: slots %zu..%zu outside the %d the backend has", op,
                         first, first + count, BACKEND_SLOTS);
    return BPNN_OK;
}

static bpnn_status cpu_set_slot(backend *be, size_t slot, int accumulate, double value)
{
    BPNN_TRY(check_slots("reduction", slot, 1));
    double *s = &((cpu_backend *)be)->slots[slot];
    *s = accumulate ? *s + value : value;
    return BPNN_OK;
}

static bpnn_status cpu_read_slots(backend *be, size_t first, size_t count, double *out)
{
    BPNN_TRY(check_slots("read_slots", first, count));
    memcpy(out, ((cpu_backend *)be)->slots + first, count * sizeof *out);
    return BPNN_OK;
}

/* The host computed the values already: the read in flight is a copy. */
static bpnn_status cpu_start_read_slots(backend *be, size_t first, size_t count)
{
    cpu_backend *cpu = (cpu_backend *)be;
    BPNN_TRY(check_slots("start_read_slots", first, count));
    if (cpu->reading_started)
        return bpnn_fail(BPNN_ERR_INVALID, "start_read_slots: a read is in flight already");
    memcpy(cpu->reading, cpu->slots + first, count * sizeof *cpu->reading);
    cpu->reading_count = count;
    cpu->reading_started = 1;
    return BPNN_OK;
}

static bpnn_status cpu_finish_read_slots(backend *be, double *out)
{
    cpu_backend *cpu = (cpu_backend *)be;
    if (!cpu->reading_started)
        return bpnn_fail(BPNN_ERR_INVALID, "finish_read_slots: no read in flight");
    memcpy(out, cpu->reading, cpu->reading_count * sizeof *out);
    cpu->reading_started = 0;
    return BPNN_OK;
}

/* An index outside src reads no memory: the label becomes -1, which matches
 * no class (as the OpenCL kernel does). */
static bpnn_status cpu_gather_labels(backend *be, size_t rows, backend_view src, backend_view index,
                                     backend_view dst)
{
    (void)be;
    const int32_t *s = (const int32_t *)src.buffer->data + src.offset;
    const int32_t *idx = (const int32_t *)index.buffer->data + index.offset;
    int32_t *d = (int32_t *)dst.buffer->data + dst.offset;
    size_t src_count = src.buffer->count - src.offset;
    for (size_t i = 0; i < rows; i++)
        d[i] = idx[i] >= 0 && (size_t)idx[i] < src_count ? s[idx[i]] : -1;
    return BPNN_OK;
}

static double dot_f32_in_double(blasint n, const float *x, blasint incx, const float *y,
                                blasint incy)
{
    (void)incx, (void)incy; /* always 1 here */
    double sum = 0;
    for (blasint i = 0; i < n; i++)
        sum += (double)x[i] * (double)y[i];
    return sum;
}

/* The logistic function 1 / (1 + e^-v) in f32 without a libm call, so that
 * it has a vector twin (below) that rounds the same: e^x = 2^n e^r with
 * n = round(x / ln 2) and |r| <= ln 2 / 2 (ln 2 in two parts, after Cody and
 * Waite), e^r by Cephes' expf polynomial. x is clamped to [-87, 88] so that
 * 2^n stays a normal float; above 88, e^x is +inf and the sigmoid 0, as with
 * expf. A NaN stays NaN (divergence must show). Checked over all 2^32 inputs:
 * within 1.48e-7 relative of the exact sigmoid (1 / (1 + expf(-v)): 1.47e-7),
 * and the vector twin gives the same bits for every one. */
#define SIGMOID_LOW (-87.0f)
#define SIGMOID_HIGH 88.0f
#define SIGMOID_LOG2E 1.44269504088896341f
#define SIGMOID_ROUND 12582912.0f /* 1.5 * 2^23: adding it rounds to an integer */
#define SIGMOID_ROUND_BITS 0x4B400000u
#define SIGMOID_LN2_HI 0.693359375f
#define SIGMOID_LN2_LO (-2.12194440e-4f)
#define SIGMOID_P0 1.9875691500e-4f
#define SIGMOID_P1 1.3981999507e-3f
#define SIGMOID_P2 8.3334519073e-3f
#define SIGMOID_P3 4.1665795894e-2f
#define SIGMOID_P4 1.6666665459e-1f
#define SIGMOID_P5 5.0000001201e-1f

#ifdef __clang__
/* a * b + c stays two roundings, as in the vector twin (GCC does not
 * contract in ISO C mode) */
#pragma STDC FP_CONTRACT OFF
#endif

static inline float sigmoid_f32(float v)
{
    float x = -v;
    float xc = x < SIGMOID_LOW ? SIGMOID_LOW : x;
    xc = xc > SIGMOID_HIGH ? SIGMOID_HIGH : xc;
    float t = xc * SIGMOID_LOG2E + SIGMOID_ROUND;
    float n = t - SIGMOID_ROUND;
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    bits = (bits - SIGMOID_ROUND_BITS + 127u) << 23; /* 2^n */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float r = xc - n * SIGMOID_LN2_HI;
    r = r - n * SIGMOID_LN2_LO;
    float q = SIGMOID_P0;
    q = q * r + SIGMOID_P1;
    q = q * r + SIGMOID_P2;
    q = q * r + SIGMOID_P3;
    q = q * r + SIGMOID_P4;
    q = q * r + SIGMOID_P5;
    float e = (q * (r * r) + r + 1.0f) * scale;
    e = x > SIGMOID_HIGH ? INFINITY : e;
    return 1.0f / (1.0f + e);
}

/* ---- AVX-512 kernels for f32 ----
 * The build targets plain x86-64 (SSE2), where the loops below would run 4
 * lanes wide or, where a libm call sits in them (sqrtf, expf), not
 * vectorized at all: Adam's update ran one parameter at a time and cost a
 * third of the GEMMs' time. These functions are compiled for AVX-512 and
 * taken when the CPU has it (__builtin_cpu_supports also checks that the OS
 * saves the ZMM state). Each does the scalar loop's operations in the same
 * order, without FMA, so every lane rounds as the scalar loop does: the
 * results are the same bits whichever path runs, and runs repeat bit for bit. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define CPU_AVX512 1
#define TARGET_AVX512 __attribute__((target("avx512f")))

static int cpu_avx512(void)
{
    return __builtin_cpu_supports("avx512f");
}

/* Lanes [0, n - i) of the 16 starting at i, n > i. */
TARGET_AVX512 static inline __mmask16 lanes_f32(size_t n, size_t i)
{
    return n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
}

/* sigmoid_f32 on 16 lanes, operation for operation. */
TARGET_AVX512 static inline __m512 sigmoid_f32x16(__m512 v)
{
    const __m512 low = _mm512_set1_ps(SIGMOID_LOW), high = _mm512_set1_ps(SIGMOID_HIGH);
    const __m512 round = _mm512_set1_ps(SIGMOID_ROUND), one = _mm512_set1_ps(1.0f);
    __m512 x = _mm512_castsi512_ps(
        _mm512_xor_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u)));
    __m512 xc = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, low, _CMP_LT_OQ), x, low);
    xc = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(xc, high, _CMP_GT_OQ), xc, high);
    __m512 t = _mm512_add_ps(_mm512_mul_ps(xc, _mm512_set1_ps(SIGMOID_LOG2E)), round);
    __m512 n = _mm512_sub_ps(t, round);
    __m512 scale = _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_add_epi32(_mm512_castps_si512(t),
                                           _mm512_set1_epi32((int)(127u - SIGMOID_ROUND_BITS))),
                          23));
    __m512 r = _mm512_sub_ps(xc, _mm512_mul_ps(n, _mm512_set1_ps(SIGMOID_LN2_HI)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(SIGMOID_LN2_LO)));
    __m512 q = _mm512_set1_ps(SIGMOID_P0);
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(SIGMOID_P1));
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(SIGMOID_P2));
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(SIGMOID_P3));
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(SIGMOID_P4));
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(SIGMOID_P5));
    __m512 e = _mm512_mul_ps(
        _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(q, _mm512_mul_ps(r, r)), r), one), scale);
    e = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, high, _CMP_GT_OQ), e, _mm512_set1_ps(INFINITY));
    return _mm512_div_ps(one, _mm512_add_ps(one, e));
}

/* cpu_ops.inc's sigmoid_rows for f32: rows of `cols` values `ld` apart, bias
 * contiguous; z and a may be the same array. */
TARGET_AVX512 static void sigmoid_rows_f32_avx512(size_t rows, size_t cols, size_t ld,
                                                  const float *bias, float *z, float *a)
{
    for (size_t i = 0; i < rows; i++) {
        for (size_t j = 0; j < cols; j += 16) {
            __mmask16 k = lanes_f32(cols, j);
            __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(k, z + i * ld + j),
                                     _mm512_maskz_loadu_ps(k, bias + j));
            _mm512_mask_storeu_ps(z + i * ld + j, k, v);
            _mm512_mask_storeu_ps(a + i * ld + j, k, sigmoid_f32x16(v));
        }
    }
}

/* cpu_ops.inc's adam over n floats, 16 lanes at a time; p, g, m and v do
 * not overlap. */
TARGET_AVX512 static void adam_f32_avx512(size_t n, float *restrict p, const float *restrict g,
                                          float *restrict m, float *restrict v, float step,
                                          float beta1, float beta2, float inv_sqrt_bias2,
                                          float epsilon)
{
    const __m512 b1 = _mm512_set1_ps(beta1), c1 = _mm512_set1_ps(1.0f - beta1);
    const __m512 b2 = _mm512_set1_ps(beta2), c2 = _mm512_set1_ps(1.0f - beta2);
    const __m512 rate = _mm512_set1_ps(step), scale = _mm512_set1_ps(inv_sqrt_bias2);
    const __m512 eps = _mm512_set1_ps(epsilon);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 k = lanes_f32(n, i);
        __m512 gi = _mm512_maskz_loadu_ps(k, g + i);
        __m512 first = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_maskz_loadu_ps(k, m + i)),
                                     _mm512_mul_ps(c1, gi));
        __m512 second = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_maskz_loadu_ps(k, v + i)),
                                      _mm512_mul_ps(c2, _mm512_mul_ps(gi, gi)));
        _mm512_mask_storeu_ps(m + i, k, first);
        _mm512_mask_storeu_ps(v + i, k, second);
        __m512 denom = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(second), scale), eps);
        _mm512_mask_storeu_ps(p + i, k,
                              _mm512_sub_ps(_mm512_maskz_loadu_ps(k, p + i),
                                            _mm512_mul_ps(rate, _mm512_div_ps(first, denom))));
    }
}
#endif

/* ---- the element-wise ops on every thread ----
 * OpenBLAS runs the GEMMs on --threads threads; between two GEMMs its
 * helpers only spin while ours ran Adam's update, the gather and the sigmoid
 * alone (a third of a mini-batch step at 2 threads). parallel_for cuts such
 * a loop into chunks that the calling thread and a few helpers claim from
 * one counter. The caller starts at once and claims every chunk no helper
 * did, so a helper that wakes late, or not at all on a busy machine, costs
 * at most a wait for the chunk it holds. A chunk computes the same values on
 * any thread, so our ops give the same bits whatever the thread count (the
 * GEMMs of OpenBLAS do not). The thread count is OpenBLAS's
 * (bpnn_set_threads, --threads): one number rules both, and with 1 nothing
 * but the caller runs. Measured with 784-256-10, batch 256, 2 threads: 152k
 * samples/s without it, 173k with it; with the other core busy, the same. */

/* Work of one chunk (elements), and no split below two chunks: a fork-join
 * costs about a microsecond, a chunk of Adam's update about five. */
#define PARALLEL_CHUNK 8192
#define POOL_MAX_HELPERS 15
/* After a job a helper waits this long for the next one, yielding, before it
 * sleeps: the element-wise ops of a step come in bursts between GEMMs. */
#define POOL_SPIN_NS 100000

typedef void (*chunk_fn)(void *ctx, size_t chunk);

static struct {
    pthread_mutex_t lock; /* the job's fields, sleeping, starting helpers */
    pthread_cond_t wake;
    pthread_mutex_t caller; /* one parallel_for at a time; others run alone */
    int helpers;            /* started */
    int sleepers;           /* waiting on wake */
    chunk_fn fn;            /* the job, written under lock */
    void *ctx;
    size_t chunks;
    int allowed;                /* helpers that may take part */
    atomic_uint generation;     /* the job's number */
    atomic_uint_fast64_t claim; /* generation << 32 | next chunk */
    atomic_size_t done;         /* chunks finished */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER,
          .caller = PTHREAD_MUTEX_INITIALIZER};

/* Claims chunks of job `generation` until none is left; a helper that comes
 * after its job ended finds the generation changed and claims nothing. */
static void pool_work(unsigned generation, chunk_fn fn, void *ctx, size_t chunks)
{
    uint_fast64_t v = atomic_load(&pool.claim);
    for (;;) {
        if ((unsigned)(v >> 32) != generation || (size_t)(v & 0xffffffffu) >= chunks)
            return;
        if (!atomic_compare_exchange_weak(&pool.claim, &v, v + 1))
            continue;
        fn(ctx, (size_t)(v & 0xffffffffu));
        atomic_fetch_add(&pool.done, 1);
        v = atomic_load(&pool.claim);
    }
}

static long long pool_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void *pool_helper(void *arg)
{
    int index = (int)(intptr_t)arg;
    unsigned seen = atomic_load(&pool.generation);
    for (;;) {
        long long since = pool_ns();
        while (atomic_load(&pool.generation) == seen) {
            if (pool_ns() - since < POOL_SPIN_NS) {
                sched_yield(); /* to OpenBLAS's thread on this core, if any */
                continue;
            }
            pthread_mutex_lock(&pool.lock);
            pool.sleepers++;
            while (atomic_load(&pool.generation) == seen)
                pthread_cond_wait(&pool.wake, &pool.lock);
            pool.sleepers--;
            pthread_mutex_unlock(&pool.lock);
        }
        pthread_mutex_lock(&pool.lock);
        seen = atomic_load(&pool.generation);
        chunk_fn fn = pool.fn;
        void *ctx = pool.ctx;
        size_t chunks = pool.chunks;
        int allowed = pool.allowed;
        pthread_mutex_unlock(&pool.lock);
        if (index < allowed)
            pool_work(seen, fn, ctx, chunks);
    }
    return NULL;
}

/* A forked child has none of its parent's threads: it starts its own. */
static void pool_after_fork(void)
{
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_mutex_init(&pool.caller, NULL);
    pool.helpers = 0;
    pool.sleepers = 0;
}

static void pool_register_fork(void)
{
    pthread_atfork(NULL, NULL, pool_after_fork);
}

/* Starts helpers up to `wanted` (under lock); how many there are. */
static int pool_start(int wanted)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, pool_register_fork);
    wanted = wanted < POOL_MAX_HELPERS ? wanted : POOL_MAX_HELPERS;
    if (pool.helpers >= wanted)
        return pool.helpers;
    /* Signals stay with the program's own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    while (pool.helpers < wanted) {
        pthread_t thread;
        if (pthread_create(&thread, &attr, pool_helper, (void *)(intptr_t)pool.helpers) != 0)
            break; /* fewer helpers: the caller takes their share */
        pool.helpers++;
    }
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return pool.helpers;
}

/* fn(ctx, c) for every chunk c < chunks, on up to --threads threads. */
static void parallel_for(size_t chunks, chunk_fn fn, void *ctx)
{
    int threads = openblas_get_num_threads();
    if (chunks < 2 || threads < 2 || chunks > 0xffffffffu ||
        pthread_mutex_trylock(&pool.caller) != 0) {
        for (size_t c = 0; c < chunks; c++)
            fn(ctx, c);
        return;
    }
    pthread_mutex_lock(&pool.lock);
    int helpers = pool_start(threads - 1);
    unsigned generation = atomic_load(&pool.generation) + 1;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.chunks = chunks;
    pool.allowed = threads - 1;
    atomic_store(&pool.done, 0);
    atomic_store(&pool.claim, (uint_fast64_t)generation << 32);
    atomic_store(&pool.generation, generation);
    if (pool.sleepers > 0)
        pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    pool_work(generation, fn, ctx, chunks);
    if (helpers > 0)
        while (atomic_load(&pool.done) < chunks)
            sched_yield(); /* a helper finishes the chunk it holds */
    pthread_mutex_unlock(&pool.caller);
}

/* Rows of `cols` values per chunk: about PARALLEL_CHUNK values. */
static size_t rows_per_chunk(size_t cols)
{
    return cols >= PARALLEL_CHUNK ? 1 : PARALLEL_CHUNK / (cols ? cols : 1);
}

static size_t chunk_count(size_t items, size_t per_chunk)
{
    return items / per_chunk + (items % per_chunk != 0);
}

/* gather_rows asks for the lines of the row this many rows ahead before it
 * copies a row: rows sit at random places of a data set far larger than the
 * caches, and one row (3 KB for 784 features) is too short for the hardware
 * prefetcher to get going. */
#define GATHER_AHEAD 4

static void prefetch_bytes(const void *start, size_t bytes)
{
#if defined(__GNUC__) || defined(__clang__)
    const char *p = start;
    for (size_t at = 0; at < bytes; at += 64)
        __builtin_prefetch(p + at);
    __builtin_prefetch(p + bytes - 1);
#else
    (void)start, (void)bytes;
#endif
}

#define CPU_CONCAT_(a, b) a##_##b
#define CPU_CONCAT(a, b) CPU_CONCAT_(a, b)

#define REAL float
#define SUFFIX f32
#define BLAS(name) cblas_s##name
#define MATH(fn) fn##f
/* sdot accumulates in float, and OpenBLAS 0.3.21's dsdot kernels for Haswell
 * and newer lose bits too (5e-9 relative over 1001 terms, measured): f32 dot
 * products are a plain double loop. */
#define DOT dot_f32_in_double
#define SIGMOID(v) sigmoid_f32(v)
#define SQUARES_LANES 16
#define CPU_F32 1 /* the AVX-512 kernels above are f32 */
#include "cpu_ops.inc"
#undef CPU_F32
#undef SIGMOID
#undef SQUARES_LANES
#undef REAL
#undef SUFFIX
#undef BLAS
#undef MATH
#undef DOT

#define REAL double
#define SUFFIX f64
#define BLAS(name) cblas_d##name
#define MATH(fn) fn
#define DOT cblas_ddot
#define SIGMOID(v) (1 / (1 + exp(-(v))))
/* f64 keeps one running sum (and one thread): CG follows these costs, and
 * the f64 tests compare runs whose sums differ only in their blocking to
 * 1e-12, which 16 partial sums already exceeded (1.8e-12). */
#define SQUARES_LANES 1
#include "cpu_ops.inc"
#undef SIGMOID
#undef SQUARES_LANES
#undef REAL
#undef SUFFIX
#undef BLAS
#undef MATH
#undef DOT

bpnn_status cpu_backend_create(bpnn_precision precision, backend **out)
{
    cpu_backend *cpu = calloc(1, sizeof *cpu);
    if (!cpu)
        return bpnn_fail_oom("cpu backend");
    backend *be = &cpu->base;
    be->ops = precision == BPNN_F64 ? &cpu_ops_f64 : &cpu_ops_f32;
    be->precision = precision;
    snprintf(be->spec, sizeof be->spec, "cpu");
    /* OpenBLAS packs X once for the forward GEMM and once for the gradient
     * GEMM: in blocks of 1.5-3 MB of rows the second packing reads from
     * cache; measured with 784 features, 5000 rows, f64: 9.5 ms per
     * evaluation against 12.2 ms unblocked. cpu_gemm_narrow.c's kernels,
     * which now run these GEMMs unpacked, gain too: 7.7 ms against 9.7 ms
     * for both GEMMs (0.5-2 MiB blocks alike). */
    be->batch_bytes = (size_t)2 << 20;
    be->blas_core = bpnn_blas_core();
    /* Host memory: the training plan does not limit itself unless
     * BPNN_DEVICE_MEMORY says so (select.c). */
    be->memory_bytes = 0;
    be->max_allocation = 0;
    snprintf(be->name, sizeof be->name, "host CPU (OpenBLAS %s, %d threads)", bpnn_blas_core(),
             openblas_get_num_threads());
    snprintf(be->description, sizeof be->description, "CBLAS: OpenBLAS, core %s", bpnn_blas_core());
    *out = be;
    return BPNN_OK;
}
