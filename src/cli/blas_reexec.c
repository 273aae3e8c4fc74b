/* blas_reexec.c — bpnn-cl restarts itself once so that OpenBLAS runs the
 * kernels this CPU deserves: Debian 12's OpenBLAS 0.3.21 takes recent CPUs
 * for old ones and runs 4-7x slow, and reads OPENBLAS_CORETYPE only when it
 * is loaded, before main() (docs/environment.md). The program may change
 * its own environment; the library never does. */
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

void cli_blas_reexec_if_weaker(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE") || getenv("BPNN_BLAS_REEXEC") || !bpnn_blas_core_is_weaker())
        return;
    setenv("OPENBLAS_CORETYPE", bpnn_blas_core_best(), 1);
    setenv("BPNN_BLAS_REEXEC", "1", 1); /* once, even if the core is not taken */
    execv("/proc/self/exe", argv);
    /* The exec failed (no /proc?): carry on with the slow core. */
    unsetenv("OPENBLAS_CORETYPE");
}
