/* fuzz_mat.c — MAT v5 files through bpnn_load_data (the structural walk in
 * mat.c, then matio). matio is not instrumented, so raw bytes would seldom
 * get past the header: the harness writes the 128-byte header itself and
 * the input is what follows it. Input: an options byte (bit 0 big-endian,
 * bit 1 --no-labels, bits 2-3 --limit 0..3, bit 4 --labels-from 1, bit 5
 * the bytes are the whole file, header included), then the elements. */
#include "fuzz_file.h"

#include <string.h>

#include "bpnn.h"

enum { HEADER = 128 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned options_byte = data[0];
    data++;
    size--;
    uint8_t *file = malloc(HEADER + size + 1);
    if (!file)
        abort();
    size_t file_size;
    if (options_byte & 32) {
        memcpy(file, data, size);
        file_size = size;
    } else {
        memset(file, ' ', HEADER);
        memcpy(file, "MATLAB 5.0 MAT-file, Platform: fuzz", 35);
        memset(file + 116, 0, 8);
        int big = options_byte & 1;
        file[124] = big ? 0x01 : 0x00; /* version 0x0100 */
        file[125] = big ? 0x00 : 0x01;
        file[126] = big ? 'M' : 'I';
        file[127] = big ? 'I' : 'M';
        memcpy(file + HEADER, data, size);
        file_size = HEADER + size;
    }
    bpnn_load_options options;
    bpnn_load_options_default(&options);
    options.has_labels = !(options_byte & 2);
    options.limit = (options_byte >> 2) & 3;
    options.label_offset = (options_byte >> 4) & 1;
    bpnn_dataset set;
    if (bpnn_load_data(fuzz_file(0, file, file_size), NULL, &options, &set) == BPNN_OK)
        bpnn_dataset_free(&set);
    free(file);
    return 0;
}
