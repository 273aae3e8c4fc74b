/* fuzz_idx_pair.c — IDX images and labels together. Input: an options byte
 * (bits 0-1 --limit 0..3, bit 2 --labels-from 1, bit 3 through
 * bpnn_load_data's dispatch), the images' length (2 bytes, little-endian),
 * the images file, then the labels file. */
#include "fuzz_file.h"

#include "bpnn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    unsigned options_byte = data[0];
    size_t images_size = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (images_size > size)
        images_size = size;
    const char *images = fuzz_file(0, data, images_size);
    const char *labels = fuzz_file(1, data + images_size, size - images_size);
    bpnn_load_options options;
    bpnn_load_options_default(&options);
    options.limit = options_byte & 3;
    options.label_offset = (options_byte >> 2) & 1;
    bpnn_dataset set;
    bpnn_status status = options_byte & 8 ? bpnn_load_data(images, labels, &options, &set)
                                          : bpnn_load_idx(images, labels, &options, &set);
    if (status == BPNN_OK)
        bpnn_dataset_free(&set);
    return 0;
}
