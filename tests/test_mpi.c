/* test_mpi.c — `mpirun -np N bpnn-cl train` on this machine: full-batch
 * training with 2 and 3 ranks (3: uneven shares) ends where one process
 * does, mini-batch training with 2 ranks close to it, rank 0 alone writes,
 * a checkpoint resumes with another number of ranks, and a failing or
 * killed rank ends the whole job with a message instead of a hang. */
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bpnn.h"
#include "testutil.h"

static const char *dir;
static char program[4096];

/* More ranks than cores need --oversubscribe; Open MPI refuses root
 * without the two variables set in setup. */
#define MPIRUN "mpirun --oversubscribe"

static void setup(void)
{
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    /* In a sanitizer build, Open MPI's own allocations are reported as
     * leaks, with stacks too short to suppress by library: the processes
     * this suite starts skip leak detection (every other suite keeps it,
     * and runs the same code without MPI). */
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
    dir = test_tmpdir();
    const char *env = getenv("BPNN_CL");
    ck_assert_msg(env != NULL, "BPNN_CL names the program under test");
    snprintf(program, sizeof program, "%s", env);
}

/* The end of a long output, for a failure message (Check's have a limit). */
static const char *tail(const char *text)
{
    size_t length = text ? strlen(text) : 0;
    return !text ? "(none)" : length > 2000 ? text + length - 2000 : text;
}

static char *read_text(const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char text[1 << 18];
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    return strdup(text);
}

/* Runs a shell command in the test folder; stdout and stderr into files. */
static int shell(const char *command, char **out, char **err)
{
    char line[16384 + 4200];
    snprintf(line, sizeof line, "cd %s && %s >out.txt 2>err.txt </dev/null", dir, command);
    int status = system(line);
    ck_assert_msg(status != -1 && WIFEXITED(status), "did not exit: %s", command);
    *out = read_text("out.txt");
    *err = read_text("err.txt");
    return WEXITSTATUS(status);
}

/* `bpnn-cl train ARGS --json` on `ranks` ranks (0: without mpirun). */
static int train(int ranks, const char *args, char **out, char **err)
{
    char command[12288];
    if (ranks == 0)
        snprintf(command, sizeof command, "%s train %s --json", program, args);
    else
        snprintf(command, sizeof command, MPIRUN " -np %d %s train %s --json", ranks, program,
                 args);
    return shell(command, out, err);
}

static double json_number(const char *json, const char *key)
{
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\": ", key);
    const char *at = strstr(json, pattern);
    ck_assert_msg(at != NULL, "no %s in: %s", key, json);
    return strtod(at + strlen(pattern), NULL);
}

/* Four classes in 8 features, `rows` rows: labels in column 0. */
static void write_csv(const char *name, int rows)
{
    size_t capacity = (size_t)rows * 96 + 64, used = 0;
    char *text = malloc(capacity);
    for (int i = 0; i < rows; i++) {
        used += (size_t)snprintf(text + used, capacity - used, "%d", i % 4);
        for (int j = 0; j < 8; j++)
            used += (size_t)snprintf(text + used, capacity - used, ",%.4f",
                                     ((i % 4) == j % 4 ? 1.0 : 0.0) +
                                         0.8 * (((i * 7919 + j * 104729) % 1000) / 1000.0 - 0.5));
        text[used++] = '\n';
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(text, 1, used, f), used);
    fclose(f);
    free(text);
}

START_TEST(test_full_batch_ranks_follow_one_process)
{
    write_csv("data.csv", 601); /* 3 ranks: shares of 200, 200 and 201 rows */
    const char *args = "--data data.csv --layers 8,9,4 --precision f64 --device cpu --max-iter 20";
    /* z-score statistics are summed over the ranks' shares too */
    const char *optimizers[] = {"cg", "lbfgs", "cg --normalize zscore"};
    for (int i = 0; i < 3; i++) {
        char with[512];
        snprintf(with, sizeof with, "%s --optimizer %s", args, optimizers[i]);
        char *out, *err;
        ck_assert_msg(train(0, with, &out, &err) == 0, "%s", tail(err));
        double alone = json_number(out, "final_cost");
        double accuracy = json_number(out, "train_accuracy");
        free(out);
        free(err);
        for (int ranks = 2; ranks <= 3; ranks++) {
            ck_assert_msg(train(ranks, with, &out, &err) == 0, "%d ranks: %s", ranks, tail(err));
            double shared = json_number(out, "final_cost");
            printf("%s, %d ranks: final cost %.17g, one process %.17g\n", optimizers[i], ranks,
                   shared, alone);
            ck_assert_rel(shared, alone, 1e-12);
            ck_assert_double_eq(json_number(out, "train_accuracy"), accuracy);
            ck_assert_double_eq(json_number(out, "samples"), 601);
            ck_assert_double_eq(json_number(out, "ranks"), ranks);
            /* rank 0 alone prints: one JSON object */
            ck_assert_ptr_null(strstr(strstr(out, "final_cost") + 1, "final_cost"));
            free(out);
            free(err);
        }
    }
}
END_TEST

/* Mini-batch Adam over ranks: with the whole set as the batch every step is
 * the one process's step, to rounding; with batches of 32 each rank draws
 * its half of every batch from its own share, so the rows differ and the
 * descent is the same to within a tenth of the cost and two points of
 * accuracy after 2 epochs (measured: 0.635 against 0.582, both 100%). */
START_TEST(test_minibatch_ranks_close_to_one_process)
{
    write_csv("data.csv", 2000);
    const char *whole = "--data data.csv --layers 8,16,4 --optimizer adam --epochs 5 --batch 2000 "
                        "--lr 0.01 --precision f64 --device cpu";
    char *out, *err;
    ck_assert_msg(train(0, whole, &out, &err) == 0, "%s", tail(err));
    double cost = json_number(out, "final_cost");
    free(out);
    free(err);
    for (int ranks = 2; ranks <= 3; ranks++) {
        ck_assert_msg(train(ranks, whole, &out, &err) == 0, "%s", tail(err));
        ck_assert_rel(json_number(out, "final_cost"), cost, 1e-12);
        free(out);
        free(err);
    }

    const char *args = "--data data.csv --layers 8,16,4 --optimizer adam --epochs 2 --batch 32 "
                       "--lr 0.02 --device cpu --log run.jsonl --out model.bpnn";
    ck_assert_msg(train(0, args, &out, &err) == 0, "%s", tail(err));
    cost = json_number(out, "final_cost");
    double accuracy = json_number(out, "train_accuracy"), steps = json_number(out, "evaluations");
    free(out);
    free(err);
    char log_path[4200];
    snprintf(log_path, sizeof log_path, "%s/run.jsonl", dir);
    unlink(log_path);
    ck_assert_msg(train(2, args, &out, &err) == 0, "%s", tail(err));
    printf("adam, 2 ranks: final cost %.6f (one process %.6f), accuracy %.4f (%.4f)\n",
           json_number(out, "final_cost"), cost, json_number(out, "train_accuracy"), accuracy);
    ck_assert_double_eq(json_number(out, "evaluations"), steps);
    ck_assert_rel(json_number(out, "final_cost"), cost, 0.1);
    ck_assert(fabs(json_number(out, "train_accuracy") - accuracy) <= 0.02);
    /* rank 0 alone wrote the log: one line per epoch, not one per rank */
    char *log = read_text("run.jsonl");
    ck_assert_ptr_nonnull(log);
    int lines = 0;
    for (const char *c = log; *c; c++)
        lines += *c == '\n';
    ck_assert_int_eq(lines, 2);
    free(log);
    free(out);
    free(err);
}
END_TEST

/* Mini-batch gradients summed layer by layer while backpropagation goes on
 * (the default under mpirun) and summed after it (--no-overlap): the same
 * steps, the sums cut into other chunks, so the same run to rounding. */
START_TEST(test_overlapped_sums_follow_plain_ones)
{
    write_csv("data.csv", 1000);
    const char *args = "--data data.csv --layers 8,16,12,4 --optimizer adam --epochs 2 "
                       "--batch 64 --precision f64 --device cpu --stats";
    char with[512];
    char *out, *err;
    ck_assert_msg(train(2, args, &out, &err) == 0, "%s", tail(err));
    double cost = json_number(out, "final_cost"), steps = json_number(out, "evaluations");
    /* per step: three layers' sums and the cost's, then the stop flag's */
    const char *stats = strstr(err, "stats: rank 0 of 2: ");
    ck_assert_msg(stats != NULL, "%s", tail(err));
    long overlapped = strtol(stats + strlen("stats: rank 0 of 2: "), NULL, 10);
    free(out);
    free(err);
    snprintf(with, sizeof with, "%s --no-overlap", args);
    ck_assert_msg(train(2, with, &out, &err) == 0, "%s", tail(err));
    printf("adam over 2 ranks: final cost %.17g overlapped, %.17g after backpropagation\n", cost,
           json_number(out, "final_cost"));
    ck_assert_double_eq(json_number(out, "evaluations"), steps);
    ck_assert_rel(json_number(out, "final_cost"), cost, 1e-12);
    stats = strstr(err, "stats: rank 0 of 2: ");
    ck_assert_msg(stats != NULL, "%s", tail(err));
    long plain = strtol(stats + strlen("stats: rank 0 of 2: "), NULL, 10);
    ck_assert_int_eq(overlapped - plain, 3 * (long)steps);
    free(out);
    free(err);
}
END_TEST

/* A checkpoint of a 2-rank run resumes with 3 ranks and with one: the
 * ranks' shares, their validation parts and z-score statistics make the
 * whole data set's fingerprint whatever their number. */
START_TEST(test_resume_with_other_ranks)
{
    write_csv("data.csv", 900);
    const char *args = "--data data.csv --layers 8,16,4 --optimizer momentum --batch 32 "
                       "--lr-schedule constant --device cpu --normalize zscore --val-split 0.1";
    char with[1024];
    char *out, *err;
    snprintf(with, sizeof with, "%s --epochs 2 --checkpoint run.ckpt", args);
    ck_assert_msg(train(2, with, &out, &err) == 0, "%s", tail(err));
    free(out);
    free(err);
    for (int ranks = 3; ranks >= 0; ranks -= 3) {
        snprintf(with, sizeof with, "%s --epochs 3 --checkpoint again.ckpt --resume run.ckpt",
                 args);
        ck_assert_msg(train(ranks, with, &out, &err) == 0, "%d ranks: %s", ranks, tail(err));
        ck_assert_double_eq(json_number(out, "resumed_epoch"), 2);
        ck_assert_double_eq(json_number(out, "model_epoch"), 3);
        ck_assert(json_number(out, "train_accuracy") > 0.5);
        free(out);
        free(err);
    }
}
END_TEST

/* One rank fails (here: a device too small for it alone): every rank ends,
 * the message names the rank, and nothing hangs. */
START_TEST(test_failing_rank_ends_the_job)
{
    write_csv("data.csv", 600);
    char command[12288];
    snprintf(command, sizeof command,
             MPIRUN " -np 1 %s train --data data.csv --layers 8,16,4 --epochs 50 --device cpu : "
                    "-np 1 -x BPNN_DEVICE_MEMORY=1K %s train --data data.csv --layers 8,16,4 "
                    "--epochs 50 --device cpu",
             program, program);
    time_t started = time(NULL);
    char *out, *err;
    int code = shell(command, &out, &err);
    ck_assert_int_ne(code, 0);
    ck_assert_msg(strstr(err, "bpnn-cl: rank 1 of 2: device memory too small"), "%s", tail(err));
    ck_assert(time(NULL) - started < 30);
    free(out);
    free(err);
}
END_TEST

/* Each rank reads its own share: a bad row in the last share is found by
 * the last rank alone, which ends the job naming itself and the line. */
START_TEST(test_bad_share_ends_the_job)
{
    write_csv("data.csv", 600);
    char path[4200];
    snprintf(path, sizeof path, "%s/data.csv", dir);
    FILE *f = fopen(path, "a");
    fputs("1,0.5,x,0,0,0,0,0,0\n", f);
    fclose(f);
    time_t started = time(NULL);
    char *out, *err;
    int code = train(3, "--data data.csv --layers 8,16,4 --device cpu", &out, &err);
    ck_assert_int_eq(code, 2);
    ck_assert_msg(strstr(err, "rank 2 of 3: non-numeric cell: data.csv:601:3"), "%s", tail(err));
    ck_assert_ptr_null(strstr(err, "rank 0 of 3: non-numeric"));
    ck_assert(time(NULL) - started < 30);
    free(out);
    free(err);
}
END_TEST

/* The pids of the ranks started with `seed` (the brackets keep pgrep's own
 * shell out; a rank's argv[0] is bpnn-cl, mpirun's is not). */
static int find_ranks(long seed, pid_t *ranks, int most)
{
    char command[128];
    snprintf(command, sizeof command, "pgrep -f -- '[s]eed %ld$' | sort -n", seed);
    FILE *p = popen(command, "r");
    int n = 0, pid;
    while (n < most && fscanf(p, "%d", &pid) == 1) {
        char path[64], argv0[4096] = "";
        snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
        FILE *cmdline = fopen(path, "r");
        if (cmdline && fgets(argv0, sizeof argv0, cmdline) && strstr(argv0, "bpnn-cl"))
            ranks[n++] = (pid_t)pid;
        if (cmdline)
            fclose(cmdline);
    }
    pclose(p);
    return n;
}

/* A rank killed mid-training: the job ends within seconds, saying so. */
START_TEST(test_killed_rank_ends_the_job)
{
    write_csv("data.csv", 4000);
    long seed = 1000000 + (long)getpid(); /* this job's ranks alone carry it */
    char command[16384];
    snprintf(command, sizeof command,
             "cd %s && exec " MPIRUN " -np 2 %s train --data data.csv --layers 8,64,4 "
             "--optimizer sgd --epochs 100000 --batch 1 --device cpu --quiet "
             "--seed %ld >out.txt 2>err.txt </dev/null",
             dir, program, seed);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setpgid(0, 0); /* the whole job can be ended from here */
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    pid_t ranks[4];
    int found = 0;
    for (int tries = 0; tries < 300 && found < 2; tries++) {
        usleep(100 * 1000);
        found = find_ranks(seed, ranks, 4);
    }
    if (found < 2) {
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        ck_abort_msg("the ranks did not start");
    }
    sleep(1); /* well into training */
    ck_assert_int_eq(kill(ranks[1], SIGKILL), 0);
    time_t killed = time(NULL);
    int status = 0, waited = 0;
    while (waitpid(pid, &status, WNOHANG) == 0 && waited++ < 300)
        usleep(100 * 1000);
    if (waited >= 300) {
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        ck_abort_msg("the job still ran 30 s after a rank was killed");
    }
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    char *err = read_text("err.txt");
    printf("killed rank: the job ended after %ld s, exit %d\n", (long)(time(NULL) - killed),
           WEXITSTATUS(status));
    ck_assert_msg(strstr(err, "rank 1") && strstr(err, "signal 9"), "%s", tail(err));
    free(err);
}
END_TEST

static Suite *mpi_suite(void)
{
    Suite *s = suite_create("mpi");
    TCase *t = tcase_create("ranks");
    tcase_add_checked_fixture(t, setup, NULL);
    tcase_set_timeout(t, 240);
    tcase_add_test(t, test_full_batch_ranks_follow_one_process);
    tcase_add_test(t, test_minibatch_ranks_close_to_one_process);
    tcase_add_test(t, test_overlapped_sums_follow_plain_ones);
    tcase_add_test(t, test_resume_with_other_ranks);
    tcase_add_test(t, test_failing_rank_ends_the_job);
    tcase_add_test(t, test_bad_share_ends_the_job);
    tcase_add_test(t, test_killed_rank_ends_the_job);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(mpi_suite());
}
