/* fuzz_gzip.c — gzip-compressed data through bpnn_load_data (zlib below, the
 * IDX and CSV readers behind it). Input: a mode byte, then the file. Mode
 * bit 0 clear: the bytes are the file as they are (gzip members mutated
 * directly). Set: the harness gzips them first, at level 1 + bits 1-3, so
 * that mutations of the content reach the readers through a valid stream;
 * bit 4 then cuts the compressed file at 1/16 * (bits 5-7 + 8) of its
 * length. */
#include "fuzz_file.h"

#include <zlib.h>

#include "bpnn.h"

static size_t gzip_bytes(const uint8_t *data, size_t size, int level, uint8_t *out, size_t room)
{
    z_stream z = {0};
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)size;
    z.next_out = out;
    z.avail_out = (uInt)room;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        abort();
    size_t written = room - z.avail_out;
    deflateEnd(&z);
    return written;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    data++;
    size--;
    const char *path;
    if (mode & 1) {
        size_t room = compressBound((uLong)size) + 64;
        uint8_t *packed = malloc(room);
        if (!packed)
            abort();
        size_t packed_size = gzip_bytes(data, size, 1 + (int)((mode >> 1) & 7), packed, room);
        if (mode & 16)
            packed_size = packed_size * ((mode >> 5) + 8) / 16;
        path = fuzz_file(0, packed, packed_size);
        free(packed);
    } else {
        path = fuzz_file(0, data, size);
    }
    bpnn_dataset set;
    if (bpnn_load_data(path, NULL, NULL, &set) == BPNN_OK)
        bpnn_dataset_free(&set);
    return 0;
}
