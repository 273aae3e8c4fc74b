/* fuzz_model.c — bpnn_model_load. A mutated file nearly always fails its
 * CRC32 before the layout is parsed, so the harness writes the file itself.
 * Input: a mode byte, then the bytes. Mode % 4 == 1: the bytes, then their
 * CRC (the magic mutated too); 2: the bytes as the whole file; else: the
 * magic, the bytes, then the CRC of both. */
#include "fuzz_file.h"

#include <string.h>
#include <zlib.h>

#include "bpnn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const uint8_t magic[8] = "BPNNMDL";
    unsigned mode = data[0] % 4;
    data++;
    size--;
    uint8_t *file = malloc(sizeof magic + size + 4);
    if (!file)
        abort();
    size_t file_size = 0;
    if (mode != 1 && mode != 2) {
        memcpy(file, magic, sizeof magic);
        file_size = sizeof magic;
    }
    memcpy(file + file_size, data, size);
    file_size += size;
    if (mode != 2) {
        uint32_t crc = (uint32_t)crc32(0, file, (uInt)file_size);
        for (int k = 0; k < 4; k++)
            file[file_size++] = (uint8_t)(crc >> (8 * k));
    }
    bpnn_model *model = NULL;
    if (bpnn_model_load(fuzz_file(0, file, file_size), &model) == BPNN_OK)
        bpnn_model_free(model);
    free(file);
    return 0;
}
