/* le_bytes.h — little-endian encoding of the binary files (model files and
 * checkpoints), so every format writes the same bytes on every host. The put_
 * functions return the position after what they wrote. */
#ifndef BPNN_IO_LE_BYTES_H
#define BPNN_IO_LE_BYTES_H

#include <stdint.h>
#include <string.h>

static inline unsigned char *put_u32(unsigned char *at, uint32_t value)
{
    for (int i = 0; i < 4; i++)
        *at++ = (unsigned char)(value >> (8 * i));
    return at;
}

static inline unsigned char *put_u64(unsigned char *at, uint64_t value)
{
    for (int i = 0; i < 8; i++)
        *at++ = (unsigned char)(value >> (8 * i));
    return at;
}

/* Floats travel as their bit patterns: signed zeros, subnormals and NaN
 * payloads come back as they were. */
static inline unsigned char *put_f64(unsigned char *at, double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    return put_u64(at, bits);
}

static inline unsigned char *put_f32(unsigned char *at, float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return put_u32(at, bits);
}

static inline uint32_t get_u32(const unsigned char *at)
{
    uint32_t value = 0;
    for (int i = 3; i >= 0; i--)
        value = (value << 8) | at[i];
    return value;
}

static inline uint64_t get_u64(const unsigned char *at)
{
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--)
        value = (value << 8) | at[i];
    return value;
}

static inline double get_f64(const unsigned char *at)
{
    uint64_t bits = get_u64(at);
    double value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static inline float get_f32(const unsigned char *at)
{
    uint32_t bits = get_u32(at);
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

#endif
