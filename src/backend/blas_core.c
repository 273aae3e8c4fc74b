/* blas_core.c — which OpenBLAS kernel family runs, and which this CPU could
 * run (bpnn.h). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bpnn.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void)
{
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

const char *bpnn_blas_core_best(void)
{
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
        return NULL;
    int fma = (ecx >> 12) & 1, osxsave = (ecx >> 27) & 1;
    if (!osxsave)
        return NULL;
    unsigned long long xcr0 = read_xcr0();
    int os_avx = (xcr0 & 0x6) == 0x6;      /* SSE and AVX state saved */
    int os_avx512 = (xcr0 & 0xe6) == 0xe6; /* plus opmask and ZMM state */
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
        return NULL;
    int avx2 = (ebx >> 5) & 1;
    int avx512 = ((ebx >> 16) & 1) && ((ebx >> 17) & 1) && ((ebx >> 30) & 1) && ((ebx >> 31) & 1);
    unsigned int eax1 = 0, ebx1, ecx1, edx1;
    __get_cpuid_count(7, 1, &eax1, &ebx1, &ecx1, &edx1);
    int bf16 = (eax1 >> 5) & 1;
    if (avx512 && os_avx512)
        return bf16 ? "Cooperlake" : "SkylakeX";
    if (avx2 && fma && os_avx)
        return "Haswell";
    return NULL;
}
#else
const char *bpnn_blas_core_best(void)
{
    return NULL;
}
#endif

/* How capable a core's kernels are; unknown names count as weakest. */
static int core_rank(const char *name)
{
    static const char *const ranked[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake",
                                         "SapphireRapids"};
    static const int rank[] = {1, 1, 2, 3, 3};
    for (size_t i = 0; i < sizeof ranked / sizeof *ranked; i++)
        if (name && strcasecmp(name, ranked[i]) == 0)
            return rank[i];
    return 0;
}

int bpnn_blas_core_is_weaker(void)
{
    const char *best = bpnn_blas_core_best();
    return best && core_rank(openblas_get_corename()) < core_rank(best);
}

const char *bpnn_blas_core(void)
{
    return openblas_get_corename();
}
