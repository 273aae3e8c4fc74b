/* init.c — starting weights: the same on every backend and precision, because
 * they are drawn here, on the host, in double, in flat parameter order. */
#include <math.h>

#include "bpnn.h"

/* xoshiro256** (Blackman and Vigna), seeded through splitmix64. */
typedef struct xoshiro256 {
    uint64_t s[4];
} xoshiro256;

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t xoshiro256_next(xoshiro256 *g)
{
    uint64_t result = rotl(g->s[1] * 5, 7) * 9;
    uint64_t t = g->s[1] << 17;
    g->s[2] ^= g->s[0];
    g->s[3] ^= g->s[1];
    g->s[1] ^= g->s[2];
    g->s[0] ^= g->s[3];
    g->s[2] ^= t;
    g->s[3] = rotl(g->s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double xoshiro256_uniform(xoshiro256 *g)
{
    return (double)(xoshiro256_next(g) >> 11) * 0x1.0p-53;
}

void bpnn_init_random(const bpnn_model *model, uint64_t seed)
{
    xoshiro256 g;
    for (int i = 0; i < 4; i++)
        g.s[i] = splitmix64(&seed);
    double *p = model->params;
    for (int l = 0; l + 1 < model->layer_count; l++) {
        int fan_in = model->sizes[l], fan_out = model->sizes[l + 1];
        double e = sqrt(6.0 / (fan_in + fan_out));
        size_t count = (size_t)fan_out * ((size_t)fan_in + 1);
        for (size_t i = 0; i < count; i++)
            *p++ = (2.0 * xoshiro256_uniform(&g) - 1.0) * e;
    }
}

void bpnn_init_debug(double *out, size_t count)
{
    for (size_t i = 0; i < count; i++)
        out[i] = sin((double)(i + 1)) / 10.0;
}
