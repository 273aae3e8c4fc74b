/* fuzz_idx_images.c — bpnn_load_idx on an IDX images file (raw or gzip),
 * no labels, default options. */
#include "fuzz_file.h"

#include "bpnn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bpnn_dataset set;
    if (bpnn_load_idx(fuzz_file(0, data, size), NULL, NULL, &set) == BPNN_OK)
        bpnn_dataset_free(&set);
    return 0;
}
