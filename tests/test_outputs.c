/* test_outputs.c — a user's files are never destroyed by mistake: outputs
 * that would clobber an input (or each other) are refused before any work,
 * an export replaces all its files or none, a trained model survives an
 * --out that cannot be written, a log survives a write failure, temporary
 * files of killed saves are cleaned up; and faults injected one at a time
 * (the Nth host allocation, device buffer or file write) into a training
 * run, its saves and an export end in a clean error, never a crash, a leak
 * or a half-written file. */
#define _GNU_SOURCE /* unshare, CLONE_NEWNS */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpnn.h"
#include "io/checkpoint.h"
#include "testutil.h"

static const char *dir;
static char program[4096], shim[4096];

static void setup(void)
{
    dir = test_tmpdir();
    const char *env = getenv("BPNN_CL");
    ck_assert_msg(env != NULL, "BPNN_CL names the program under test");
    snprintf(program, sizeof program, "%s", env);
    env = getenv("BPNN_FAULT_SHIM");
    snprintf(shim, sizeof shim, "%s", env ? env : "");
}

static char *path_in(const char *name)
{
    static char paths[8][4200];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, sizeof paths[0], "%s/%s", dir, name);
    return path;
}

/* Runs `ENV bpnn-cl ARGS` in the test's folder (ENV: variable assignments
 * for the program alone). Returns the exit status; stdout and stderr are
 * kept in static buffers until the next call. */
static int run_with(const char *env, const char *args, const char **out, const char **err)
{
    static char out_text[1 << 16], err_text[1 << 16];
    char command[16384];
    snprintf(command, sizeof command, "cd %s && %s exec %s %s >stdout.txt 2>stderr.txt </dev/null",
             dir, env, program, args);
    int status = system(command);
    ck_assert_msg(status != -1 && WIFEXITED(status), "bpnn-cl did not exit (signal %d): %s",
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0, args);
    FILE *f = fopen(path_in("stdout.txt"), "r");
    out_text[fread(out_text, 1, sizeof out_text - 1, f)] = '\0';
    fclose(f);
    f = fopen(path_in("stderr.txt"), "r");
    err_text[fread(err_text, 1, sizeof err_text - 1, f)] = '\0';
    fclose(f);
    if (out)
        *out = out_text;
    if (err)
        *err = err_text;
    return WEXITSTATUS(status);
}

static int run(const char *args, const char **out, const char **err)
{
    return run_with("", args, out, err);
}

static void write_file(const char *name, const void *data, size_t size)
{
    FILE *f = fopen(path_in(name), "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, size, f), size);
    fclose(f);
}

/* The bytes of a file (NUL-terminated, free them), or NULL when missing. */
static char *read_bytes(const char *name, size_t *size)
{
    FILE *f = fopen(path_in(name), "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long length = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)length + 1);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(fread(data, 1, (size_t)length, f), (size_t)length);
    data[length] = '\0';
    fclose(f);
    if (size)
        *size = (size_t)length;
    return data;
}

/* A copy of a file's bytes, to compare with later. */
typedef struct snapshot {
    char *data; /* NULL: the file did not exist */
    size_t size;
} snapshot;

static snapshot take(const char *name)
{
    snapshot s = {0};
    s.data = read_bytes(name, &s.size);
    return s;
}

static int matches(const char *name, const snapshot *s)
{
    size_t size;
    char *data = read_bytes(name, &size);
    int same = (!data && !s->data) ||
               (data && s->data && size == s->size && memcmp(data, s->data, size) == 0);
    free(data);
    return same;
}

static void restore(const char *name, const snapshot *s)
{
    if (s->data)
        write_file(name, s->data, s->size);
    else
        unlink(path_in(name));
}

/* Entries of a folder (under the test's) whose name contains `part`. */
static int count_named(const char *folder, const char *part)
{
    DIR *d = opendir(path_in(folder));
    ck_assert_ptr_nonnull(d);
    int count = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        count += strstr(e->d_name, part) != NULL;
    closedir(d);
    return count;
}

/* Three clusters in the plane, labels 0..2 in column 0. */
static void write_clusters(const char *name, int rows)
{
    char text[1 << 16];
    size_t used = (size_t)snprintf(text, sizeof text, "label,x,y\n");
    for (int i = 0; i < rows; i++) {
        int k = i % 3;
        double angle = 2.0 * M_PI * k / 3, r = 0.15 * ((i * 7919) % 100) / 100.0;
        used +=
            (size_t)snprintf(text + used, sizeof text - used, "%d,%.6f,%.6f\n", k,
                             2 * cos(angle) + r * cos(i * 1.7), 2 * sin(angle) + r * sin(i * 1.3));
    }
    write_file(name, text, used);
}

/* Every line on stderr is "bpnn-cl: ..."; those that are not warnings are
 * the error lines. */
static int error_lines(const char *err)
{
    int errors = 0;
    for (const char *line = err; *line;) {
        const char *end = strchr(line, '\n');
        ck_assert_msg(end != NULL, "unterminated line on stderr: %s", err);
        ck_assert_msg(strncmp(line, "bpnn-cl: ", 9) == 0, "not a bpnn-cl line: %s", err);
        errors += strncmp(line, "bpnn-cl: warning: ", 18) != 0;
        line = end + 1;
    }
    return errors;
}

static void assert_one_error(const char *err, const char *needle)
{
    ck_assert_msg(error_lines(err) == 1 && strchr(err, '\n')[1] == '\0', "not one line: %s", err);
    ck_assert_msg(strstr(err, needle) != NULL, "'%s' not in: %s", needle, err);
}

static const char small_train[] =
    "--data d.csv --layers 2,4,3 --max-iter 5 --precision f64 --device cpu --quiet";

/* A whole model file with the parameters of `reference`. Not the same
 * bytes: where the heap puts the buffers decides which OpenBLAS kernels run,
 * and so the last bits. */
static int is_model_like(const char *name, const bpnn_model *reference)
{
    bpnn_model *model = NULL;
    if (bpnn_model_load(path_in(name), &model) != BPNN_OK)
        return 0;
    int same = model->param_count == reference->param_count;
    for (size_t i = 0; same && i < model->param_count; i++)
        same = fabs(model->params[i] - reference->params[i]) <=
               1e-9 * (1 + fabs(reference->params[i]));
    bpnn_model_free(model);
    return same;
}

/* ---- same file ----------------------------------------------------------------- */

/* Every output option against an input and against another output: exit 2
 * before any work, one line naming both options, the input untouched and
 * nothing written. Same spelling, other spellings, symbolic and hard links. */
START_TEST(test_same_file_refused)
{
    write_clusters("d.csv", 30);
    write_clusters("t.csv", 30);
    write_clusters("v.csv", 30);
    write_file("l.idx", "labels", 6);
    ck_assert_int_eq(symlink("d.csv", path_in("sym.csv")), 0);
    ck_assert_int_eq(link(path_in("d.csv"), path_in("hard.csv")), 0);
    ck_assert_int_eq(mkdir(path_in("sub"), 0755), 0);
    ck_assert_int_eq(mkdir(path_in("w"), 0755), 0);
    const char *err;
    ck_assert_msg(run("train --data d.csv --layers 2,4,3 --max-iter 5 --device cpu --quiet --out "
                      "m.bpnn --log run.jsonl",
                      NULL, &err) == 0,
                  "%s", err);
    ck_assert_msg(run("train --data d.csv --layers 2,4,3 --epochs 2 --device cpu --quiet "
                      "--checkpoint c.ckpt",
                      NULL, &err) == 0,
                  "%s", err);
    ck_assert_int_eq(run("export --model m.bpnn --out w", NULL, &err), 0);
    static const struct {
        const char *args, *first, *second;
    } cases[] = {
        {"train --data d.csv --out d.csv", "--out d.csv", "--data d.csv"},
        {"train --data d.csv --out ./sub/../d.csv", "--out ./sub/../d.csv", "--data d.csv"},
        {"train --data d.csv --out sym.csv", "--out sym.csv", "--data d.csv"},
        {"train --data sym.csv --out hard.csv", "--out hard.csv", "--data sym.csv"},
        {"train --data d.csv --labels l.idx --out l.idx", "--out l.idx", "--labels l.idx"},
        {"train --data d.csv --test-data t.csv --log t.csv", "--log t.csv", "--test-data t.csv"},
        {"train --data d.csv --test-data t.csv --test-labels l.idx --plot l.idx", "--plot l.idx",
         "--test-labels l.idx"},
        {"train --data d.csv --epochs 1 --val-data v.csv --checkpoint v.csv", "--checkpoint v.csv",
         "--val-data v.csv"},
        {"train --data d.csv --epochs 1 --val-data v.csv --val-labels l.idx --out l.idx",
         "--out l.idx", "--val-labels l.idx"},
        {"train --data d.csv --epochs 1 --resume c.ckpt --out c.ckpt", "--out c.ckpt",
         "--resume c.ckpt"},
        {"train --data d.csv --epochs 1 --resume c.ckpt --log c.ckpt", "--log c.ckpt",
         "--resume c.ckpt"},
        {"train --data d.csv --out new.bpnn --log ./new.bpnn", "--out new.bpnn",
         "--log ./new.bpnn"},
        {"train --data d.csv --log new.png --plot sub/../new.png", "--log new.png",
         "--plot sub/../new.png"},
        {"train --data d.csv --epochs 1 --out m.bpnn --checkpoint m.bpnn", "--out m.bpnn",
         "--checkpoint m.bpnn"},
        {"predict --model m.bpnn --data d.csv --out m.bpnn", "--out m.bpnn", "--model m.bpnn"},
        {"predict --model m.bpnn --data d.csv --out hard.csv", "--out hard.csv", "--data d.csv"},
        {"eval --model m.bpnn --data d.csv --confusion sym.csv", "--confusion sym.csv",
         "--data d.csv"},
        {"show data --data d.csv --out d.csv", "--out d.csv", "--data d.csv"},
        {"show weights --model m.bpnn --out m.bpnn", "--out m.bpnn", "--model m.bpnn"},
        {"show curve --log run.jsonl --out run.jsonl", "--out run.jsonl", "--log run.jsonl"},
        {"export --model w/Theta2.csv --out w", "--out w/Theta2.csv", "--model w/Theta2.csv"},
    };
    /* the export case: a model file among the files the export writes */
    char copy[8600];
    snprintf(copy, sizeof copy, "cp %s %s", path_in("m.bpnn"), path_in("w/Theta2.csv"));
    ck_assert_int_eq(system(copy), 0);
    const char *names[] = {"d.csv",  "t.csv",  "v.csv",     "l.idx",
                           "m.bpnn", "c.ckpt", "run.jsonl", "w/Theta2.csv"};
    snapshot inputs[sizeof names / sizeof *names];
    for (size_t f = 0; f < sizeof names / sizeof *names; f++)
        inputs[f] = take(names[f]);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int status = run(cases[i].args, NULL, &err);
        ck_assert_msg(status == 2, "%s: exit %d: %s", cases[i].args, status, err);
        assert_one_error(err, cases[i].first);
        ck_assert_msg(strstr(err, cases[i].second) != NULL, "%s: %s", cases[i].second, err);
        for (size_t f = 0; f < sizeof names / sizeof *names; f++)
            ck_assert_msg(matches(names[f], &inputs[f]), "%s changed by: %s", names[f],
                          cases[i].args);
        ck_assert_int_eq(access(path_in("new.bpnn"), F_OK), -1);
        ck_assert_int_eq(access(path_in("new.png"), F_OK), -1);
    }
    for (size_t f = 0; f < sizeof inputs / sizeof *inputs; f++)
        free(inputs[f].data);

    /* --resume goes on writing the checkpoint it reads: by default or named */
    ck_assert_msg(run("train --data d.csv --layers 2,4,3 --epochs 2 --device cpu --quiet "
                      "--resume c.ckpt",
                      NULL, &err) == 0,
                  "%s", err);
    ck_assert_msg(run("train --data d.csv --layers 2,4,3 --epochs 2 --device cpu --quiet "
                      "--resume c.ckpt --checkpoint ./c.ckpt",
                      NULL, &err) == 0,
                  "%s", err);
}
END_TEST

/* ---- a full disk --------------------------------------------------------------- */

/* A small tmpfs mounted at FOLDER (under the test's) in a mount namespace of
 * this test's own, so nothing outside sees it: a real full disk. Needs root
 * (CAP_SYS_ADMIN); 0 where it cannot be had. */
static int mount_small_fs(const char *folder, const char *size)
{
    static int unshared;
    ck_assert_int_eq(mkdir(path_in(folder), 0755), 0);
    if (!unshared &&
        (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0))
        return 0;
    unshared = 1;
    char options[64];
    snprintf(options, sizeof options, "size=%s", size);
    return mount("tmpfs", path_in(folder), "tmpfs", 0, options) == 0;
}

static void unmount_small_fs(const char *folder)
{
    umount2(path_in(folder), MNT_DETACH);
}

/* Leaves about `bytes` free on the file system at FOLDER. */
static void fill_up(const char *folder, size_t bytes)
{
    char name[256];
    snprintf(name, sizeof name, "%s/filler", folder);
    int fd = open(path_in(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    static const char block[4096];
    while (write(fd, block, sizeof block) == (ssize_t)sizeof block)
        ;
    close(fd);
    struct stat st;
    ck_assert_int_eq(stat(path_in(name), &st), 0);
    ck_assert_int_eq(
        truncate(path_in(name), st.st_size > (off_t)bytes ? st.st_size - (off_t)bytes : 0), 0);
}

static void assert_same_export(const char *folder, const char *reference)
{
    for (int l = 1; l <= 2; l++) {
        char a[256], b[256];
        snprintf(a, sizeof a, "%s/Theta%d.csv", folder, l);
        snprintf(b, sizeof b, "%s/Theta%d.csv", reference, l);
        snapshot s = take(b);
        ck_assert_ptr_nonnull(s.data);
        ck_assert_msg(matches(a, &s), "%s is not %s", a, b);
        free(s.data);
    }
}

/* An export that does not fit replaces nothing: the earlier files stay
 * whole, no temporary file is left, the message names the file and the
 * reason. The full disk is a small tmpfs where this runs as root, and the
 * file size limit (EFBIG) everywhere. */
START_TEST(test_export_all_or_nothing)
{
    write_clusters("d.csv", 60);
    const char *err;
    /* Theta1 small, Theta2 large: the second file is the one that fails */
    ck_assert_int_eq(run("train --data d.csv --layers 2,2,3 --max-iter 3 --device cpu --quiet "
                         "--out small.bpnn",
                         NULL, &err),
                     0);
    ck_assert_int_eq(run("train --data d.csv --layers 2,2,400 --max-iter 3 --device cpu --quiet "
                         "--out large.bpnn",
                         NULL, &err),
                     0);
    ck_assert_int_eq(mkdir(path_in("before"), 0755), 0);
    ck_assert_int_eq(run("export --model small.bpnn --out before", NULL, &err), 0);

    int full_disk = mount_small_fs("full", "64k");
    if (full_disk) {
        ck_assert_int_eq(mkdir(path_in("full/w"), 0755), 0);
        ck_assert_int_eq(run("export --model small.bpnn --out full/w", NULL, &err), 0);
        fill_up("full", 4096);
        ck_assert_int_eq(run("export --model large.bpnn --out full/w", NULL, &err), 1);
        assert_one_error(err, "cannot write export file: full/w/Theta2.csv: No space left on "
                              "device");
        assert_same_export("full/w", "before");
        ck_assert_int_eq(count_named("full/w", ".tmp-"), 0);
        unmount_small_fs("full");
    } else {
        printf("no tmpfs (not root): the full disk is tried through the file size limit only\n");
    }

    ck_assert_int_eq(mkdir(path_in("w"), 0755), 0);
    ck_assert_int_eq(run("export --model small.bpnn --out w", NULL, &err), 0);
    /* `ulimit -f` counts 512-byte blocks in sh: 4 KiB holds Theta1 only */
    ck_assert_int_eq(run_with("ulimit -f 8 &&", "export --model large.bpnn --out w", NULL, &err),
                     1);
    assert_one_error(err, "cannot write export file: w/Theta2.csv: File too large");
    assert_same_export("w", "before");
    ck_assert_int_eq(count_named("w", ".tmp-"), 0);
    /* and with room, the large export replaces both */
    ck_assert_int_eq(run("export --model large.bpnn --out w", NULL, &err), 0);
    snapshot theta2 = take("w/Theta2.csv");
    ck_assert_uint_gt(theta2.size, 4096);
    free(theta2.data);
}
END_TEST

/* A trained model whose --out cannot be written (a full disk) is saved next
 * to the working folder instead: the summary is printed as usual, the run
 * says where the model went and exits 1; with --json one object carries
 * both. Without root the full disk is the fault shim's (ENOSPC on the first
 * file written). */
START_TEST(test_model_kept_after_failed_out)
{
    write_clusters("d.csv", 60);
    const char *out, *err;
    char args[512];
    snprintf(args, sizeof args, "train %s --out reference.bpnn", small_train);
    ck_assert_int_eq(run(args, NULL, &err), 0);
    bpnn_model *reference = NULL;
    ck_assert_int_eq(bpnn_model_load(path_in("reference.bpnn"), &reference), BPNN_OK);

    const char *target = "full/m.bpnn", *env = "";
    char shim_env[8192];
    if (!mount_small_fs("full", "16k")) {
        ck_assert_msg(shim[0] != '\0', "BPNN_FAULT_SHIM names the fault injection library");
        snprintf(shim_env, sizeof shim_env,
                 "BPNN_BLAS_REEXEC=1 LD_PRELOAD=%s ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}"
                 "verify_asan_link_order=0 BPNN_FAULT_WRITE=1",
                 shim);
        env = shim_env;
        printf("no tmpfs (not root): the full disk is the fault shim's\n");
    } else {
        fill_up("full", 0);
    }
    for (int json = 0; json <= 1; json++) {
        snprintf(args, sizeof args, "train %s --out %s%s", small_train, target,
                 json ? " --json" : "");
        ck_assert_int_eq(run_with(env, args, &out, &err), 1);
        assert_one_error(err, "cannot ");
        ck_assert_msg(strstr(err, "m.bpnn: No space left on device: the trained model was saved "
                                  "to ") != NULL,
                      "%s", err);
        ck_assert_int_eq(count_named(".", "m.bpnn.rescued-"), 1);
        if (json) {
            ck_assert_msg(strstr(out, "\"train_accuracy\": 1.0") != NULL, "%s", out);
            ck_assert_msg(strstr(out, "\"exit\": 1") && strstr(out, "\"error\": \"cannot "), "%s",
                          out);
            ck_assert_msg(strstr(out, "\"model\": \"") && strstr(out, "m.bpnn.rescued-"), "%s",
                          out);
            ck_assert_msg(strchr(out, '}') == strrchr(out, '}'), "one object: %s", out);
        } else {
            ck_assert_msg(strstr(out, "training accuracy: 100.00%") != NULL, "%s", out);
            ck_assert_msg(strstr(out, "model saved to ") && strstr(out, "m.bpnn.rescued-") &&
                              strstr(out, "(full/m.bpnn could not be written)"),
                          "%s", out);
        }
        /* the rescued file is the model --out would have held */
        DIR *d = opendir(dir);
        for (struct dirent *e; (e = readdir(d)) != NULL;)
            if (strstr(e->d_name, "m.bpnn.rescued-")) {
                ck_assert_msg(is_model_like(e->d_name, reference), "%s differs", e->d_name);
                unlink(path_in(e->d_name));
            }
        closedir(d);
    }
    unmount_small_fs("full");
    bpnn_model_free(reference);
}
END_TEST

/* ---- logs ---------------------------------------------------------------------- */

/* A log that hits the file size limit in the middle of a record: the run
 * says why at once, trains on, saves the model, and exits 1; `show curve`
 * draws the whole lines and says it skipped the torn one. */
START_TEST(test_log_write_failure)
{
    write_clusters("d.csv", 60);
    const char *out, *err;
    char args[512];
    snprintf(args, sizeof args,
             "train --data d.csv --layers 2,4,3 --max-iter 60 --gtol 0 --precision f64 "
             "--device cpu --quiet --log run.jsonl --out m.bpnn");
    /* 2 KiB and up: some 20 records fit, the next is cut; a limit that
     * happens to fall just after a whole record (its '}' or its newline:
     * record lengths vary with the timings in them) is moved on by a block */
    size_t size = 0;
    char *log = NULL;
    for (int blocks = 4; blocks < 8; blocks++) {
        char limit[64];
        snprintf(limit, sizeof limit, "rm -f run.jsonl && ulimit -f %d &&", blocks);
        ck_assert_int_eq(run_with(limit, args, &out, &err), 1);
        free(log);
        log = read_bytes("run.jsonl", &size);
        ck_assert_uint_eq(size, 512 * (size_t)blocks);
        if (log[size - 1] != '}' && log[size - 1] != '\n')
            break;
    }
    ck_assert_msg(strstr(err, "bpnn-cl: warning: writing the log failed: --log run.jsonl: File "
                              "too large") != NULL,
                  "%s", err);
    ck_assert_int_eq(error_lines(err), 1);
    ck_assert_msg(strstr(err, "bpnn-cl: write error: --log run.jsonl: File too large") != NULL,
                  "%s", err);
    ck_assert_msg(strstr(out, "model saved to m.bpnn") != NULL, "%s", out);
    bpnn_model *model = NULL;
    ck_assert_int_eq(bpnn_model_load(path_in("m.bpnn"), &model), BPNN_OK);
    bpnn_model_free(model);
    ck_assert_msg(log[size - 1] != '\n' && log[size - 1] != '}', "no record was cut");
    int whole = 0;
    for (size_t i = 0; i < size; i++)
        whole += log[i] == '\n';
    free(log);
    ck_assert_int_eq(run("show curve --log run.jsonl --out curve.png", NULL, &err), 0);
    ck_assert_msg(strstr(err, "skipped 1 torn line in run.jsonl") != NULL, "%s", err);
    char drawn[64];
    snprintf(drawn, sizeof drawn, "curve of %d iterations", whole);
    ck_assert_msg(whole > 10 && strstr(err, drawn) != NULL, "%s: %s", drawn, err);

    /* the next run appends on a line of its own: its records and the old
     * ones read, the torn line skipped */
    snapshot before = take("run.jsonl");
    ck_assert_int_eq(run("train --data d.csv --layers 2,4,3 --max-iter 3 --gtol 0 --precision "
                         "f64 --device cpu --quiet --log run.jsonl",
                         NULL, &err),
                     0);
    log = read_bytes("run.jsonl", &size);
    ck_assert_uint_gt(size, before.size);
    ck_assert(memcmp(log, before.data, before.size) == 0); /* appended, never rewritten */
    ck_assert_int_eq(log[before.size], '\n');
    ck_assert(strncmp(log + before.size + 1, "{\"iteration\":1,", 15) == 0);
    free(log);
    free(before.data);
    ck_assert_int_eq(run("show curve --log run.jsonl --out curve.png", NULL, &err), 0);
    ck_assert_msg(strstr(err, "skipped 1 torn line") && strstr(err, "holds 2 runs") &&
                      strstr(err, "curve of 3 iterations"),
                  "%s", err);
}
END_TEST

/* A run that writes no record leaves no log behind; an existing log, even
 * an empty one, is never removed nor truncated. */
START_TEST(test_no_empty_log)
{
    write_clusters("d.csv", 60);
    const char *err;
    /* refused after the data are read: before the first record */
    ck_assert_int_eq(
        run("train --data d.csv --layers 3,4,3 --device cpu --log new.jsonl", NULL, &err), 2);
    ck_assert_int_eq(access(path_in("new.jsonl"), F_OK), -1);
    /* the first write fails: the file it created goes */
    ck_assert_int_eq(run_with("ulimit -f 0 &&",
                              "train --data d.csv --layers 2,4,3 --max-iter 2 --device cpu "
                              "--quiet --log new.jsonl",
                              NULL, &err),
                     1);
    ck_assert_int_eq(access(path_in("new.jsonl"), F_OK), -1);
    write_file("empty.jsonl", "", 0);
    ck_assert_int_eq(
        run("train --data d.csv --layers 3,4,3 --device cpu --log empty.jsonl", NULL, &err), 2);
    ck_assert_int_eq(access(path_in("empty.jsonl"), F_OK), 0);
    write_file("old.jsonl", "{\"iteration\":1,\"cost\":2}\n", 25);
    ck_assert_int_eq(run_with("ulimit -f 0 &&",
                              "train --data d.csv --layers 2,4,3 --max-iter 2 --device cpu "
                              "--quiet --log old.jsonl",
                              NULL, &err),
                     1);
    snapshot old = {.data = "{\"iteration\":1,\"cost\":2}\n", .size = 25};
    ck_assert(matches("old.jsonl", &old));
}
END_TEST

/* ---- temporary files of killed saves ------------------------------------------- */

/* A save removes the PATH.tmp-XXXXXX files a killed save of the same path
 * left, and only those: not one another writer still holds (locked), not
 * another path's, not names of another shape. */
START_TEST(test_stale_temps_removed)
{
    write_clusters("d.csv", 60);
    static const char *const stale[] = {"m.bpnn.tmp-AbC123", "m.bpnn.tmp-000000"};
    static const char *const kept[] = {"m.bpnn.tmp-Live01", "other.bpnn.tmp-AbC123",
                                       "m.bpnn.tmp-short", "m.bpnn.tmp-AbC123.txt"};
    for (size_t i = 0; i < 2; i++)
        write_file(stale[i], "half a model", 12);
    for (size_t i = 0; i < 4; i++)
        write_file(kept[i], "keep", 4);
    int live = open(path_in(kept[0]), O_RDONLY);
    ck_assert_int_ge(live, 0);
    ck_assert_int_eq(flock(live, LOCK_EX), 0); /* a save still under way */
    const char *err;
    char args[512];
    snprintf(args, sizeof args, "train %s --out m.bpnn", small_train);
    ck_assert_msg(run(args, NULL, &err) == 0, "%s", err);
    for (size_t i = 0; i < 2; i++)
        ck_assert_msg(access(path_in(stale[i]), F_OK) == -1, "%s left", stale[i]);
    for (size_t i = 0; i < 4; i++)
        ck_assert_msg(access(path_in(kept[i]), F_OK) == 0, "%s removed", kept[i]);
    close(live);

    /* an export cleans up after each of its files */
    ck_assert_int_eq(mkdir(path_in("w"), 0755), 0);
    write_file("w/Theta1.csv.tmp-Qq9Zz0", "x", 1);
    write_file("w/Theta2.csv.tmp-Qq9Zz0", "x", 1);
    ck_assert_int_eq(run("export --model m.bpnn --out w", NULL, &err), 0);
    ck_assert_int_eq(count_named("w", ".tmp-"), 0);
}
END_TEST

/* ---- fault injection ----------------------------------------------------------- */

typedef enum fault { FAULT_ALLOC, FAULT_WRITE, FAULT_BUFFER } fault;
static const char *const fault_names[] = {"host allocation", "file write", "device buffer"};

/* Runs ARGS with the Nth fault of a kind injected. *fired: the fault
 * happened (for device buffers: the run failed, as no report says more). */
static int run_fault(fault kind, long n, const char *args, const char **err, int *fired)
{
    char env[8192];
    unlink(path_in("report"));
    if (kind == FAULT_BUFFER)
        snprintf(env, sizeof env, "BPNN_BLAS_REEXEC=1 TMPDIR=%s BPNN_FAIL_BUFFER=%ld",
                 path_in("spill"), n);
    else
        snprintf(env, sizeof env,
                 "BPNN_BLAS_REEXEC=1 TMPDIR=%s LD_PRELOAD=%s BPNN_FAULT_REPORT=%s "
                 "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 "
                 "BPNN_FAULT_%s=%ld",
                 path_in("spill"), shim, path_in("report"), kind == FAULT_ALLOC ? "ALLOC" : "WRITE",
                 n);
    int status = run_with(env, args, NULL, err);
    if (kind == FAULT_BUFFER) {
        *fired = status != 0;
        return status;
    }
    char *report = read_bytes("report", NULL);
    ck_assert_msg(report != NULL, "no report: the run did not exit normally: %s: %s", args, *err);
    long allocs = -1, writes = -1;
    ck_assert_int_eq(sscanf(report, "alloc %ld write %ld", &allocs, &writes), 2);
    free(report);
    *fired = (kind == FAULT_ALLOC ? allocs : writes) >= n;
    return status;
}

/* Sweeps N = 1, 2 ... over a run until the fault no longer happens. Every
 * run exits 0, 1 or 2 (never a crash, a leak report or another status), with
 * one error line when it fails; `check` then looks at the files. Returns how
 * many faults were injected. */
static long sweep(fault kind, const char *args, void (*prepare)(void),
                  void (*check)(int status, const char *args))
{
    enum { MOST = 5000 };
    long n = 1;
    for (; n < MOST; n++) {
        prepare();
        const char *err;
        int fired;
        int status = run_fault(kind, n, args, &err, &fired);
        ck_assert_msg(status == 0 || status == 1 || status == 2, "%s %ld: exit %d: %s: %s",
                      fault_names[kind], n, status, args, err);
        /* a success may also say what it wrote */
        ck_assert_msg(error_lines(err) == 1 || status == 0, "%s %ld: exit %d: %s: %s",
                      fault_names[kind], n, status, args, err);
        char where[8192];
        snprintf(where, sizeof where, "%s %ld: exit %d: %s: %s", fault_names[kind], n, status, args,
                 err);
        check(status, where);
        ck_assert_int_eq(count_named("spill", ".tmp-"), 0);
        if (!fired)
            break;
    }
    ck_assert_msg(n < MOST, "%s: more than %d faults: %s", fault_names[kind], MOST, args);
    printf("%s: %ld %s faults, each a clean failure\n", args, n - 1, fault_names[kind]);
    return n - 1;
}

/* What a faultless run writes, and what was there before. */
static snapshot old_model, old_log, old_checkpoint;
static bpnn_model *new_model;

static int is_new_model(const char *name)
{
    return is_model_like(name, new_model);
}

/* A whole PNG file: its signature, and the IEND chunk at its end. */
static int is_whole_png(const char *name)
{
    size_t size;
    char *data = read_bytes(name, &size);
    int whole = data && size > 20 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0 &&
                memcmp(data + size - 8, "IEND", 4) == 0;
    free(data);
    return whole;
}

static void prepare_train(void)
{
    restore("m.bpnn", &old_model);
    restore("run.jsonl", &old_log);
    restore("c.ckpt", &old_checkpoint);
    unlink(path_in("curve.png"));
}

/* The model is the old one or the whole new one (also where it was rescued
 * to); the log only grew, by whole records; a checkpoint is the old one or a
 * valid one; the picture is absent or whole; no temporary file is left. */
static void check_train(int status, const char *args)
{
    ck_assert_msg(is_new_model("m.bpnn") || (status != 0 && matches("m.bpnn", &old_model)),
                  "m.bpnn half-written or lost after: %s", args);
    size_t size;
    char *log = read_bytes("run.jsonl", &size);
    ck_assert_ptr_nonnull(log);
    ck_assert_msg(size >= old_log.size && memcmp(log, old_log.data, old_log.size) == 0,
                  "the log was rewritten: %s", args);
    ck_assert_msg(size == old_log.size || log[size - 1] == '\n', "a torn record: %s", args);
    free(log);
    if (!matches("c.ckpt", &old_checkpoint)) {
        checkpoint c;
        ck_assert_msg(checkpoint_load(path_in("c.ckpt"), &c) == BPNN_OK, "%s: %s",
                      bpnn_error_message(), args);
        checkpoint_free(&c);
    }
    ck_assert_msg(access(path_in("curve.png"), F_OK) != 0 || is_whole_png("curve.png"),
                  "curve.png half-written: %s", args);
    ck_assert_int_eq(count_named(".", ".tmp-"), 0);
    const char *places[] = {".", "spill"};
    for (int p = 0; p < 2; p++) {
        DIR *d = opendir(path_in(places[p]));
        for (struct dirent *e; (e = readdir(d)) != NULL;) {
            if (!strstr(e->d_name, ".rescued-"))
                continue;
            char name[512];
            snprintf(name, sizeof name, "%s/%s", places[p], e->d_name);
            ck_assert_msg(status == 1 && is_new_model(name), "%s: %s", name, args);
            unlink(path_in(name));
        }
        closedir(d);
    }
}

static void train_references(const char *args)
{
    write_clusters("d.csv", 60);
    ck_assert_int_eq(mkdir(path_in("spill"), 0755), 0);
    const char *err;
    ck_assert_msg(run("train --data d.csv --layers 2,3,3 --max-iter 2 --device cpu --quiet --out "
                      "m.bpnn --log run.jsonl",
                      NULL, &err) == 0,
                  "%s", err);
    old_model = take("m.bpnn");
    old_log = take("run.jsonl");
    old_checkpoint = (snapshot){.data = strdup("not a checkpoint"), .size = 16};
    restore("c.ckpt", &old_checkpoint);
    ck_assert_msg(run(args, NULL, &err) == 0, "%s: %s", args, err);
    ck_assert_int_eq(bpnn_model_load(path_in("m.bpnn"), &new_model), BPNN_OK);
    ck_assert(is_whole_png("curve.png"));
    ck_assert(!matches("m.bpnn", &old_model));
}

static const char train_cg[] =
    "train --data d.csv --layers 2,4,3 --max-iter 4 --precision f64 --device cpu --threads 1 "
    "--quiet --out m.bpnn --log run.jsonl --plot curve.png --log-accuracy --test-data d.csv";
static const char train_adam[] =
    "train --data d.csv --layers 2,4,3 --epochs 2 --batch 20 --val-split 0.2 --precision f64 "
    "--device cpu --threads 1 --quiet --out m.bpnn --log run.jsonl --plot curve.png --checkpoint "
    "c.ckpt";

START_TEST(test_faults_in_training)
{
    train_references(train_cg);
    ck_assert_int_ge(sweep(FAULT_ALLOC, train_cg, prepare_train, check_train), 30);
    ck_assert_int_ge(sweep(FAULT_WRITE, train_cg, prepare_train, check_train), 5);
    ck_assert_int_ge(sweep(FAULT_BUFFER, train_cg, prepare_train, check_train), 5);
}
END_TEST

START_TEST(test_faults_in_minibatch_training)
{
    train_references(train_adam);
    ck_assert_int_ge(sweep(FAULT_ALLOC, train_adam, prepare_train, check_train), 30);
    ck_assert_int_ge(sweep(FAULT_WRITE, train_adam, prepare_train, check_train), 10);
    ck_assert_int_ge(sweep(FAULT_BUFFER, train_adam, prepare_train, check_train), 5);
}
END_TEST

static void prepare_picture(void)
{
    unlink(path_in("curve.png"));
}

static void check_picture(int status, const char *args)
{
    ck_assert_msg(access(path_in("curve.png"), F_OK) != 0 ||
                      (status == 0 && is_whole_png("curve.png")),
                  "curve.png half-written: %s", args);
    ck_assert_int_eq(count_named(".", ".tmp-"), 0);
}

/* The log reader and the picture: a line that cannot be read into memory
 * is an error, never the end of the log. */
START_TEST(test_faults_in_show_curve)
{
    train_references(train_cg);
    static const char args[] = "show curve --log run.jsonl --out curve.png";
    ck_assert_int_ge(sweep(FAULT_ALLOC, args, prepare_picture, check_picture), 5);
    ck_assert_int_ge(sweep(FAULT_WRITE, args, prepare_picture, check_picture), 3);
}
END_TEST

static snapshot old_thetas[3], new_thetas[3];
static const char *const theta_names[3] = {"w/Theta1.npy", "w/Theta2.npy", "w/Theta3.npy"};

static void prepare_export(void)
{
    for (int l = 0; l < 3; l++)
        restore(theta_names[l], &old_thetas[l]);
}

/* All three files old, or all three new: never a mix, never a torn one. */
static void check_export(int status, const char *args)
{
    int old = 0, new = 0;
    for (int l = 0; l < 3; l++) {
        old += matches(theta_names[l], &old_thetas[l]);
        new += matches(theta_names[l], &new_thetas[l]);
    }
    ck_assert_msg(new == 3 || (status != 0 && old == 3), "%d old, %d new files after: %s", old, new,
                  args);
    ck_assert_int_eq(count_named("w", ".tmp-"), 0);
}

START_TEST(test_faults_in_export)
{
    write_clusters("d.csv", 60);
    ck_assert_int_eq(mkdir(path_in("spill"), 0755), 0);
    ck_assert_int_eq(mkdir(path_in("w"), 0755), 0);
    const char *err;
    ck_assert_int_eq(run("train --data d.csv --layers 2,5,4,3 --max-iter 2 --device cpu --quiet "
                         "--seed 1 --out a.bpnn",
                         NULL, &err),
                     0);
    ck_assert_int_eq(run("train --data d.csv --layers 2,5,4,3 --max-iter 2 --device cpu --quiet "
                         "--seed 2 --out b.bpnn",
                         NULL, &err),
                     0);
    ck_assert_int_eq(run("export --model b.bpnn --out w --format npy", NULL, &err), 0);
    for (int l = 0; l < 3; l++)
        new_thetas[l] = take(theta_names[l]);
    ck_assert_int_eq(run("export --model a.bpnn --out w --format npy", NULL, &err), 0);
    for (int l = 0; l < 3; l++) {
        old_thetas[l] = take(theta_names[l]);
        ck_assert(!matches(theta_names[l], &new_thetas[l]));
    }
    static const char args[] = "export --model b.bpnn --out w --format npy";
    ck_assert_int_ge(sweep(FAULT_ALLOC, args, prepare_export, check_export), 5);
    /* 3 files: mkstemp, write, fsync each, then 3 links and 3 renames */
    ck_assert_int_ge(sweep(FAULT_WRITE, args, prepare_export, check_export), 15);
}
END_TEST

static Suite *outputs_suite(void)
{
    Suite *s = suite_create("outputs");
    TCase *t = tcase_create("outputs");
    tcase_add_checked_fixture(t, setup, NULL);
    tcase_set_timeout(t, 600);
    tcase_add_test(t, test_same_file_refused);
    tcase_add_test(t, test_export_all_or_nothing);
    tcase_add_test(t, test_model_kept_after_failed_out);
    tcase_add_test(t, test_log_write_failure);
    tcase_add_test(t, test_no_empty_log);
    tcase_add_test(t, test_stale_temps_removed);
    tcase_add_test(t, test_faults_in_training);
    tcase_add_test(t, test_faults_in_minibatch_training);
    tcase_add_test(t, test_faults_in_export);
    tcase_add_test(t, test_faults_in_show_curve);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(outputs_suite());
}
