/* fuzz_csv.c — bpnn_load_csv with every option. Input: two option bytes,
 * then the file. Byte 0: bits 0-1 --header (auto, yes, no, auto), bit 2
 * --no-labels, bit 3 --labels-from 1, bits 4-5 --delimiter (guessed, comma,
 * semicolon, tab), bits 6-7 --limit 0..3. Byte 1: --label-col, -1..6. */
#include "fuzz_file.h"

#include "bpnn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const bpnn_csv_header headers[4] = {BPNN_HEADER_AUTO, BPNN_HEADER_YES, BPNN_HEADER_NO,
                                               BPNN_HEADER_AUTO};
    static const char delimiters[4] = {0, ',', ';', '\t'};
    bpnn_load_options options;
    bpnn_load_options_default(&options);
    options.header = headers[data[0] & 3];
    options.has_labels = !(data[0] & 4);
    options.label_offset = (data[0] >> 3) & 1;
    options.delimiter = delimiters[(data[0] >> 4) & 3];
    options.limit = data[0] >> 6;
    options.label_col = data[1] % 8 - 1;
    bpnn_dataset set;
    if (bpnn_load_csv(fuzz_file(0, data + 2, size - 2), &options, &set) == BPNN_OK)
        bpnn_dataset_free(&set);
    return 0;
}
