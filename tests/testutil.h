/* testutil.h — what every Check suite shares. */
#ifndef BPNN_TESTUTIL_H
#define BPNN_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs the suite and turns its result into the process exit status. */
static inline int run_suite(Suite *suite)
{
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* |a - b| <= tol * max(|a|, |b|, tiny) */
#define ck_assert_rel(a, b, tol)                                                              \
    do {                                                                                      \
        double ck_a_ = (a), ck_b_ = (b);                                                      \
        double ck_scale_ = fmax(fmax(fabs(ck_a_), fabs(ck_b_)), 1e-300);                      \
        ck_assert_msg(fabs(ck_a_ - ck_b_) <= (tol)*ck_scale_,                                 \
                      "%s = %.17g vs %s = %.17g: relative difference %.3g > %.3g", #a, ck_a_, \
                      #b, ck_b_, fabs(ck_a_ - ck_b_) / ck_scale_, (double)(tol));             \
    } while (0)

/* A fresh temporary directory for files a test writes. */
static inline const char *test_tmpdir(void)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/bpnn-test-XXXXXX");
    if (!mkdtemp(path))
        abort();
    return path;
}

#endif
