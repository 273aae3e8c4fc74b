/* fuzz_device.c — the --device syntax check and BPNN_DEVICE_MEMORY's parser,
 * both static in backend/select.c and reached through bpnn_device_open.
 * Input: the device string, optionally a newline and the value of
 * BPNN_DEVICE_MEMORY. Built without OpenCL, a valid spec opens the CPU
 * backend (cpu, auto) or fails at once (gpu, opencl, opencl:P:D). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpnn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    char *memory = strchr(text, '\n');
    if (memory) {
        *memory++ = '\0';
        setenv("BPNN_DEVICE_MEMORY", memory, 1);
    } else {
        unsetenv("BPNN_DEVICE_MEMORY");
    }
    bpnn_device *device = NULL;
    if (bpnn_device_open(text, BPNN_F32, &device) == BPNN_OK)
        bpnn_device_close(device);
    free(text);
    return 0;
}
