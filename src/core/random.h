/* random.h — the one generator of the library: xoshiro256** (Blackman and
 * Vigna) seeded through splitmix64. Initial weights, validation splits and
 * per-epoch shuffles all draw from it on the host, so a seed means the same
 * numbers on every backend and precision. */
#ifndef BPNN_CORE_RANDOM_H
#define BPNN_CORE_RANDOM_H

#include <stddef.h>
#include <stdint.h>

typedef struct xoshiro256 {
    uint64_t s[4];
} xoshiro256;

static inline uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void xoshiro256_seed(xoshiro256 *g, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        g->s[i] = splitmix64(&seed);
}

/* A generator of its own for each use of a run's seed (stream 0 the initial
 * weights, then the validation split, then one per epoch's shuffle), so
 * that epoch e's order depends on (seed, e) alone: a resumed run needs no
 * generator state beyond the epoch it restarts at. */
static inline void xoshiro256_seed_stream(xoshiro256 *g, uint64_t seed, uint64_t stream)
{
    uint64_t mixed = seed;
    uint64_t key = splitmix64(&mixed) ^ (stream * 0xd1342543de82ef95ULL + 0x632be59bd9b4e019ULL);
    xoshiro256_seed(g, key);
}

static inline uint64_t xoshiro256_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t xoshiro256_next(xoshiro256 *g)
{
    uint64_t result = xoshiro256_rotl(g->s[1] * 5, 7) * 9;
    uint64_t t = g->s[1] << 17;
    g->s[2] ^= g->s[0];
    g->s[3] ^= g->s[1];
    g->s[1] ^= g->s[2];
    g->s[0] ^= g->s[3];
    g->s[2] ^= t;
    g->s[3] = xoshiro256_rotl(g->s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double xoshiro256_uniform(xoshiro256 *g)
{
    return (double)(xoshiro256_next(g) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, bound), bound > 0: draws past the last whole multiple of
 * bound are rejected, so there is no modulo bias. */
static inline uint64_t xoshiro256_below(xoshiro256 *g, uint64_t bound)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t r;
    do
        r = xoshiro256_next(g);
    while (r >= limit);
    return r % bound;
}

/* order = a uniformly random permutation of 0..count-1 (Fisher-Yates). */
static inline void xoshiro256_permutation(xoshiro256 *g, size_t count, int32_t *order)
{
    for (size_t i = 0; i < count; i++)
        order[i] = (int32_t)i;
    for (size_t i = count; i > 1; i--) {
        size_t j = (size_t)xoshiro256_below(g, i);
        int32_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

/* Streams of a run's seed (xoshiro256_seed_stream). */
enum { RANDOM_STREAM_VALIDATION = 1, RANDOM_STREAM_EPOCH0 = 16 };

#endif
