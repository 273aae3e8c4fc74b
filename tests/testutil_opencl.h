/* testutil_opencl.h — what the OpenCL suites share: whether OpenCL tests
 * may skip (not in CI, where they must run on PoCL) and the guard at the top
 * of each. */
#ifndef BPNN_TESTUTIL_OPENCL_H
#define BPNN_TESTUTIL_OPENCL_H

#include <string.h>

#include "backend/opencl/opencl_backend.h"
#include "testutil.h"

static inline int in_ci(void)
{
    const char *ci = getenv("CI");
    return ci && ci[0] && strcmp(ci, "0") != 0 && strcmp(ci, "false") != 0;
}

static inline int opencl_ready(const char *test)
{
    static int available = -1;
    if (available < 0)
        available = opencl_platform_available();
    if (available)
        return 1;
    if (in_ci())
        ck_abort_msg("%s: no OpenCL platform, and CI is set: the OpenCL tests must run in CI "
                     "(install pocl-opencl-icd)",
                     test);
    fprintf(stderr, "SKIP %s: no OpenCL platform found; OpenCL tests are skipped outside CI\n",
            test);
    return 0;
}

#define REQUIRE_OPENCL()                                                                           \
    do {                                                                                           \
        if (!opencl_ready(__func__))                                                               \
            return;                                                                                \
    } while (0)

#endif
