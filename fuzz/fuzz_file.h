/* fuzz_file.h — the readers take paths: each input is written to a memory
 * file (memfd) that they open as /proc/self/fd/N, a regular file of the
 * input's length, without touching a disk. Included first by every harness
 * that loads a file. */
#ifndef BPNN_FUZZ_FILE_H
#define BPNN_FUZZ_FILE_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* The path of memory file `slot` (0..3) now holding `size` bytes of `data`. */
static inline const char *fuzz_file(int slot, const void *data, size_t size)
{
    static int fds[4] = {-1, -1, -1, -1};
    static char paths[4][40];
    if (fds[slot] < 0) {
        fds[slot] = memfd_create("bpnn-fuzz", MFD_CLOEXEC);
        if (fds[slot] < 0)
            abort();
        snprintf(paths[slot], sizeof paths[slot], "/proc/self/fd/%d", fds[slot]);
    }
    if (ftruncate(fds[slot], 0) != 0 || (size && pwrite(fds[slot], data, size, 0) != (ssize_t)size))
        abort();
    return paths[slot];
}

#endif
