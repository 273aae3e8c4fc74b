/* fuzz_layers.c — the --layers parser (cli_parse_layers). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    int count = 0, sizes[BPNN_MAX_LAYERS];
    if (cli_parse_layers(text, &count, sizes) == BPNN_OK)
        for (int l = 0; l < count; l++)
            if (sizes[l] < 1 || count < 2 || count > BPNN_MAX_LAYERS)
                abort(); /* the parser promised positive sizes */
    free(text);
    return 0;
}
