/* le_bytes.h — little-endian encoding of the binary files (model files and
 * checkpoints), so every format writes the same bytes on every host. The put_
 * functions return the position after what they wrote. */
#ifndef BPNN_IO_LE_BYTES_H
#define BPNN_IO_LE_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

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

/* ---- reading a layout whose length the file bounds ---- */

/* Both formats end in a 4-byte CRC; `size` counts the bytes before it. */
#define LE_CRC_SIZE 4

typedef struct le_reader {
    const unsigned char *data;
    size_t size; /* the bytes before the CRC */
    size_t at;
    size_t needed; /* after a short read: the file length the layout needs */
} le_reader;

typedef enum walk_result { WALK_OK, WALK_SHORT, WALK_BAD } walk_result;

/* Nonzero when n more bytes are there; else records how many were needed. */
static inline int le_have(le_reader *r, size_t n)
{
    if (n <= r->size - r->at)
        return 1;
    r->needed = n > SIZE_MAX - r->at - LE_CRC_SIZE ? SIZE_MAX : r->at + n + LE_CRC_SIZE;
    return 0;
}

static inline uint32_t le_take_u32(le_reader *r)
{
    uint32_t value = get_u32(r->data + r->at);
    r->at += 4;
    return value;
}

static inline uint64_t le_take_u64(le_reader *r)
{
    uint64_t value = get_u64(r->data + r->at);
    r->at += 8;
    return value;
}

static inline double le_take_f64(le_reader *r)
{
    double value = get_f64(r->data + r->at);
    r->at += 8;
    return value;
}

/* In a walk function with a le_reader *r and a message buffer why/why_size:
 * NEED returns WALK_SHORT when the bytes are not there, BAD WALK_BAD with
 * the reason. */
#define LE_NEED(n)                                                                                 \
    do {                                                                                           \
        if (!le_have(r, (n)))                                                                      \
            return WALK_SHORT;                                                                     \
    } while (0)

#define LE_BAD(...)                                                                                \
    do {                                                                                           \
        snprintf(why, why_size, __VA_ARGS__);                                                      \
        return WALK_BAD;                                                                           \
    } while (0)

/* CRC32 (zlib's) of the bytes: the trailer of both formats. */
static inline uint32_t le_crc32(const unsigned char *data, size_t size)
{
    return (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), data, size);
}

/* The reader over a whole file that ends in its CRC, after a prologue of
 * `prologue` bytes already checked, and whether the CRC matches. A short
 * file fails both the CRC and the layout, and the layout then says by how
 * much; a damaged one of the right length fails only the CRC, which is
 * checked before any field is believed. */
static inline le_reader le_reader_over(const unsigned char *data, size_t size, size_t prologue,
                                       int *crc_ok)
{
    int whole = size >= prologue + LE_CRC_SIZE;
    *crc_ok = whole && le_crc32(data, size - LE_CRC_SIZE) == get_u32(data + size - LE_CRC_SIZE);
    return (le_reader){.data = data, .size = whole ? size - LE_CRC_SIZE : prologue};
}

#endif
