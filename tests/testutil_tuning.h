/* testutil_tuning.h — what the tuning suites share: stand-ins for CLBlast's
 * tuners, so that what `bpnn-cl tune` does around them is tested whether or
 * not clblast-utils is installed. */
#ifndef BPNN_TESTUTIL_TUNING_H
#define BPNN_TESTUTIL_TUNING_H

#include <sys/stat.h>

#include "testutil.h"

/* A folder (to put first on PATH) holding a clblast_tuner_* for each tuner
 * tune runs, each the shell script `script`. */
static inline const char *fake_tuners(const char *script)
{
    static char dir[4200];
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    static const char *const names[] = {"xgemm_direct", "xgemm",          "copy_fast",
                                        "copy_pad",     "transpose_fast", "transpose_pad"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/clblast_tuner_%s", dir, names[i]);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(script, f);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(chmod(path, 0755), 0);
    }
    return dir;
}

#endif
