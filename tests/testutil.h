/* testutil.h — what every Check suite shares. */
#ifndef BPNN_TESTUTIL_H
#define BPNN_TESTUTIL_H

#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Runs the suite and turns its result into the process exit status. */
static inline int run_suite(Suite *suite)
{
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* |a - b| <= tol * max(|a|, |b|, tiny), both finite: an infinite a would
 * otherwise be within any tolerance of anything (inf <= tol * inf). */
#define ck_assert_rel(a, b, tol)                                                                   \
    do {                                                                                           \
        double ck_a_ = (a), ck_b_ = (b);                                                           \
        double ck_scale_ = fmax(fmax(fabs(ck_a_), fabs(ck_b_)), 1e-300);                           \
        ck_assert_msg(isfinite(ck_a_) && isfinite(ck_b_) &&                                        \
                          fabs(ck_a_ - ck_b_) <= (tol)*ck_scale_,                                  \
                      "%s = %.17g vs %s = %.17g: relative difference %.3g > %.3g", #a, ck_a_, #b,  \
                      ck_b_, fabs(ck_a_ - ck_b_) / ck_scale_, (double)(tol));                      \
    } while (0)

/* Temporary directories made by this process, removed (with what tests
 * wrote into them) when it exits. */
static char test_dirs[256][64];
static int test_dir_count;

/* rm -r, for the small trees tests make. */
static void test_remove_tree(const char *path)
{
    struct stat st;
    DIR *dir;
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && (dir = opendir(path))) {
        char child[4096];
        for (struct dirent *entry; (entry = readdir(dir)) != NULL;) {
            if (entry->d_name[0] == '.' &&
                (entry->d_name[1] == '\0' || (entry->d_name[1] == '.' && entry->d_name[2] == '\0')))
                continue;
            snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
            test_remove_tree(child);
        }
        closedir(dir);
    }
    remove(path);
}

static void test_remove_dirs(void)
{
    for (int i = 0; i < test_dir_count; i++)
        test_remove_tree(test_dirs[i]);
    test_dir_count = 0;
}

/* A fresh temporary directory for files a test writes. */
static inline const char *test_tmpdir(void)
{
    if (test_dir_count == (int)(sizeof test_dirs / sizeof *test_dirs))
        abort();
    char *path = test_dirs[test_dir_count];
    snprintf(path, sizeof test_dirs[0], "/tmp/bpnn-test-XXXXXX");
    if (!mkdtemp(path))
        abort();
    if (test_dir_count++ == 0)
        atexit(test_remove_dirs);
    return path;
}

/* One temporary directory shared by the tests of this process. */
static inline const char *test_fixture_dir(void)
{
    static const char *dir;
    if (!dir)
        dir = test_tmpdir();
    return dir;
}

#endif
