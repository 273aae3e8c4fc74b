/* kernel_sources.h — the OpenCL C sources embedded at build time
 * (kernels/embed.py generates the table from the .cl files in kernels/). */
#ifndef BPNN_OPENCL_KERNEL_SOURCES_H
#define BPNN_OPENCL_KERNEL_SOURCES_H

#include <stddef.h>

typedef struct opencl_kernel_source {
    const char *name; /* file name, e.g. "network.cl" */
    const char *text; /* NUL-terminated */
    size_t length;    /* without the NUL */
} opencl_kernel_source;

extern const opencl_kernel_source opencl_kernel_sources[];
extern const size_t opencl_kernel_sources_count;

#endif
