/* blas_core.h — making OpenBLAS run the kernels this CPU deserves.
 *
 * Debian 12's OpenBLAS 0.3.21 takes recent CPUs for a Prescott and runs 4-7x
 * slow. It reads OPENBLAS_CORETYPE once, when it loads, before main(); so a
 * program re-executes itself once with the variable set (docs/environment.md). */
#ifndef BPNN_BLAS_CORE_H
#define BPNN_BLAS_CORE_H

/* The OpenBLAS core CPUID says this CPU can run ("Cooperlake", "SkylakeX",
 * "Haswell"), or NULL when it knows nothing better than OpenBLAS's default. */
const char *blas_core_from_cpuid(void);

/* Call first in main(): when OpenBLAS runs a weaker core than CPUID allows,
 * and the user has not set OPENBLAS_CORETYPE, re-executes the program with it
 * set (once, guarded by BPNN_BLAS_REEXEC). Returns only when no re-exec was
 * needed or the exec failed. */
void blas_core_reexec_if_weaker(char **argv);

/* Whether the running core is weaker than CPUID allows (for a warning). */
int blas_core_is_weaker(void);

#endif
