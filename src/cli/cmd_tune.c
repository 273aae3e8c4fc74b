/* cmd_tune.c — bpnn-cl tune: CLBlast's tuners (Debian's clblast-utils) run
 * for one OpenCL device on the shapes of one mini-batch training step; the
 * best parameters they find, and the size from which the indirect GEMM
 * beats the direct one, are then timed on exactly that step's GEMMs against
 * CLBlast's own parameters and the earlier tuning file, and the fastest is
 * kept as the device's GEMM tuning file (bpnn.h "GEMM tuning"), which every
 * later command that opens the device applies. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

static const char help[] =
    "Usage: bpnn-cl tune [OPTIONS]\n"
    "Tunes CLBlast's GEMMs for one OpenCL device, driver and precision, on the\n"
    "GEMMs of one mini-batch training step of the network. CLBlast's tuners\n"
    "(Debian package clblast-utils: clblast_tuner_xgemm_direct, _xgemm,\n"
    "_copy_fast, _copy_pad, _transpose_fast and _transpose_pad, found on PATH or\n"
    "beside bpnn-cl) search the step's largest GEMM; the parameters they found\n"
    "fastest are checked against the CPU path (as verify checks GEMMs) and timed\n"
    "on the step's GEMMs with every GEMM on CLBlast's direct kernel, on its\n"
    "indirect one, and split between them where each GEMM's own times say. The\n"
    "fastest of these, of CLBlast's own parameters and of the device's earlier\n"
    "tuning file is kept as the device's tuning file, which every command\n"
    "applies when it opens the device. When CLBlast's own parameters are the\n"
    "fastest, no file is kept (an earlier one is removed). Progress goes to\n"
    "stderr, the before/after summary to stdout.\n"
    "\n"
    "  --device D          gpu, opencl or opencl:P:D (default opencl: the first GPU,\n"
    "                      else accelerator, else CPU OpenCL device)\n"
    "  --precision P       f32 or f64 (default f32); each has its own file\n"
    "  --layers L          network whose step is tuned (default 784,256,10)\n"
    "  --batch N           mini-batch rows (default 256)\n"
    "  --fraction F        share of each tuner's configurations tried, at random,\n"
    "                      0 < F <= 1 (default 0.001; each tuner tries at least\n"
    "                      about 16 of its largest search, and 1 tries them all,\n"
    "                      which takes hours)\n"
    "  --threads N         host threads for BLAS and our loops (and PoCL's)\n"
    "  --json              one JSON object on stdout\n"
    "\n"
    "Tuning files: BPNN_TUNING_DIR, else $XDG_CACHE_HOME/bpnn-cl/tuning, else\n"
    "~/.cache/bpnn-cl/tuning; delete one (or set BPNN_TUNING=off) to go back to\n"
    "CLBlast's own parameters. bpnn-cl devices lists the files.\n"
    "\n" CLI_EXIT_HELP;

static const struct option options[] = {
    CLI_DEVICE_OPTIONS,
    {"layers", required_argument, NULL, OPT_LAYERS},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"fraction", required_argument, NULL, OPT_FRACTION},
    {NULL, 0, NULL, 0},
};

/* ---- the tuners ------------------------------------------------------------------ */

/* Which GEMM a tuner gets sizes from, and how they are rounded. */
typedef enum tuner_shape { SHAPE_DIRECT, SHAPE_INDIRECT, SHAPE_COPY } tuner_shape;

typedef struct tuner {
    const char *program;
    const char *kernel; /* the kernel in CLBlast's database (and OverrideParameters) */
    /* The least fraction passed: about 16 configurations of the tuner's
     * largest search in CLBlast 1.5.3 (xgemm: 578, 120800, 407 and 16566
     * configurations in its four stages; xgemm_direct 46 and 8420; copy 144,
     * pad 81, transpose 96, padtranspose 38 here), so that no tuner tries
     * nothing. */
    double least_fraction;
    tuner_shape shape;
} tuner;

static const tuner tuners[] = {
    {"clblast_tuner_xgemm_direct", "XgemmDirect", 16.0 / 8420, SHAPE_DIRECT},
    {"clblast_tuner_xgemm", "Xgemm", 16.0 / 120800, SHAPE_INDIRECT},
    {"clblast_tuner_copy_fast", "Copy", 16.0 / 144, SHAPE_COPY},
    {"clblast_tuner_copy_pad", "Pad", 16.0 / 81, SHAPE_COPY},
    {"clblast_tuner_transpose_fast", "Transpose", 16.0 / 96, SHAPE_COPY},
    {"clblast_tuner_transpose_pad", "Padtranspose", 16.0 / 38, SHAPE_COPY},
};
enum {
    TUNER_COUNT = sizeof tuners / sizeof *tuners,
    TUNER_DIRECT = 0, /* tuners[0]: the direct GEMM's; the others serve the indirect GEMM */
    TUNER_XGEMM = 1,
    MAX_GEMMS = 3 * BPNN_MAX_LAYERS,
    TOP_RESULTS = 8,
    /* CLBlast's own, the earlier file, three tries of each path, the split */
    MAX_CANDIDATES = 9
};

typedef struct tuner_run {
    char path[4096];
    size_t m, n, k;
    double divisor; /* CLBlast 1.5's -fraction: it tries 1/divisor of each stage */
    double seconds;
    int failed;  /* did not run to its end (exit status or signal in `failure`) */
    int results; /* configurations that ran and matched the reference */
    /* The fastest results, fastest first: the next ones stand in when one
     * computes wrong results in the library at other sizes than the tuner's. */
    int top_count;
    bpnn_tuning_kernel top[TOP_RESULTS];
    double top_ms[TOP_RESULTS];
    char failure[512];
} tuner_run;

/* ---- one step's GEMMs --------------------------------------------------------------- */

typedef struct gemm_shape {
    size_t m, n, k;
} gemm_shape;

typedef struct tune_args {
    cli_device device;
    int layer_count, sizes[BPNN_MAX_LAYERS];
    long batch;
    double fraction;
} tune_args;

/* The step's GEMMs as bpnn_time_step_gemms runs them: forward (b, s_l+1,
 * s_l), then from the top the weight gradient (s_l+1, s_l, b) and, above the
 * input, the delta (b, s_l, s_l+1). */
static int step_gemms(const tune_args *a, gemm_shape *out)
{
    int count = 0;
    size_t b = (size_t)a->batch;
    const int *s = a->sizes;
    for (int l = 0; l + 1 < a->layer_count; l++)
        out[count++] = (gemm_shape){b, (size_t)s[l + 1], (size_t)s[l]};
    for (int l = a->layer_count - 2; l >= 0; l--) {
        out[count++] = (gemm_shape){(size_t)s[l + 1], (size_t)s[l], b};
        if (l > 0)
            out[count++] = (gemm_shape){b, (size_t)s[l], (size_t)s[l + 1]};
    }
    return count;
}

static unsigned long long volume(gemm_shape g)
{
    return (unsigned long long)g.m * g.n * g.k;
}

static size_t round_up(size_t value, size_t multiple)
{
    return (value + multiple - 1) / multiple * multiple;
}

/* The least t with t^3 > v: CLBlast runs the direct GEMM when m n k <
 * XGEMM_MIN_INDIRECT_SIZE^3, so this is the value that sends a GEMM of
 * volume v, and every smaller one, to the direct kernel. */
static size_t direct_above(unsigned long long v)
{
    unsigned long long t = (unsigned long long)cbrt((double)v);
    while (t > 0 && t * t * t > v)
        t--;
    while ((t + 1) * (t + 1) * (t + 1) <= v)
        t++;
    return (size_t)(t + 1);
}

/* ---- finding and running the tuners ---------------------------------------------- */

/* `name` on PATH, else beside this program (a bundle of bpnn-cl with the
 * tuners, as bench/gpu_check.sh packs one); 0 when neither has it. */
static int find_program(const char *name, char *out, size_t size)
{
    const char *path = getenv("PATH");
    if (path && path[0]) {
        char *copy = strdup(path);
        if (copy) {
            char *save = NULL;
            for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                if (snprintf(out, size, "%s/%s", dir[0] ? dir : ".", name) < (int)size &&
                    access(out, X_OK) == 0) {
                    free(copy);
                    return 1;
                }
            }
            free(copy);
        }
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            if (snprintf(out, size, "%s/%s", self, name) < (int)size && access(out, X_OK) == 0)
                return 1;
        }
    }
    return 0;
}

/* The last non-empty line of a log, shortened, into out. */
static void last_line(const char *log_path, char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen(log_path, "rb");
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n");
        line[n] = '\0';
        /* no terminal colours in a message */
        char *w = line;
        for (const char *r = line; *r; r++) {
            if (*r == '\033') {
                while (*r && !(*r >= 'a' && *r <= 'z') && !(*r >= 'A' && *r <= 'Z'))
                    r++;
                if (!*r)
                    break;
                continue;
            }
            *w++ = *r;
        }
        *w = '\0';
        if (line[0])
            snprintf(out, size, "%.*s", (int)(size - 1), line);
    }
    fclose(f);
}

/* Runs `argv` in `dir`, its output into dir/tuner.log; *exit_code is the
 * exit status, or 128 + the signal that ended it. Only async-signal-safe
 * calls between fork and exec: the parent has OpenCL running (its threads
 * and locks are not in the child, which must not touch OpenCL before exec). */
static bpnn_status run_in(const char *dir, char *const argv[], int *exit_code)
{
    char log_path[4300];
    snprintf(log_path, sizeof log_path, "%.4200s/tuner.log", dir);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return bpnn_fail(BPNN_ERR_RUNTIME, "cannot start %s: fork: %s", argv[0], strerror(errno));
    if (pid == 0) {
        /* bpnn-cl ended (interrupted, killed): so does the tuner */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int out = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        int in = open("/dev/null", O_RDONLY);
        if (chdir(dir) != 0 || out < 0 || in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
            dup2(out, 2) < 0)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return bpnn_fail(BPNN_ERR_RUNTIME, "waiting for %s: %s", argv[0], strerror(errno));
    }
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return BPNN_OK;
}

/* Every .json file in `dir` (CLBlast's tuners write one per search stage,
 * clblast_<family>_<precision>.json): the number of results and the fastest
 * few, their parameters as CLBlast's database names them (less PRECISION,
 * the tuner's own). A file that does not parse is skipped. */
static void read_results(const char *dir, const tuner *t, tuner_run *r)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        char path[4600];
        snprintf(path, sizeof path, "%.4200s/%.255s", dir, e->d_name);
        json_error_t error;
        json_t *root = json_load_file(path, 0, &error);
        json_t *results = root ? json_object_get(root, "results") : NULL;
        size_t i;
        json_t *result;
        json_array_foreach(results, i, result)
        {
            json_t *time = json_object_get(result, "time");
            json_t *parameters = json_object_get(result, "parameters");
            if (!json_is_number(time) || !json_is_object(parameters) ||
                json_number_value(time) <= 0)
                continue;
            r->results++;
            double ms = json_number_value(time);
            if (r->top_count == TOP_RESULTS && ms >= r->top_ms[TOP_RESULTS - 1])
                continue;
            bpnn_tuning_kernel k = {0};
            snprintf(k.name, sizeof k.name, "%s", t->kernel);
            const char *name;
            json_t *value;
            int ok = 1;
            json_object_foreach(parameters, name, value)
            {
                if (strcmp(name, "PRECISION") == 0)
                    continue;
                if (!json_is_integer(value) || json_integer_value(value) < 0 ||
                    k.count == BPNN_TUNING_MAX_PARAMETERS ||
                    strlen(name) >= sizeof k.parameter[0]) {
                    ok = 0;
                    break;
                }
                snprintf(k.parameter[k.count], sizeof k.parameter[0], "%s", name);
                k.value[k.count++] = (size_t)json_integer_value(value);
            }
            if (!ok || k.count == 0)
                continue;
            int at = r->top_count < TOP_RESULTS ? r->top_count++ : TOP_RESULTS - 1;
            for (; at > 0 && r->top_ms[at - 1] > ms; at--) {
                r->top[at] = r->top[at - 1];
                r->top_ms[at] = r->top_ms[at - 1];
            }
            r->top[at] = k;
            r->top_ms[at] = ms;
        }
        json_decref(root);
    }
    closedir(d);
}

/* Removes the tuner's folder: its log and JSON files, nothing else. */
static void remove_run_folder(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char path[4600];
            snprintf(path, sizeof path, "%.4200s/%.255s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void run_tuner(const tune_args *a, const char *work, int platform, int device_index,
                      const tuner *t, const gemm_shape *largest, tuner_run *r)
{
    size_t m = largest->m, n = largest->n, k = largest->k;
    if (t->shape == SHAPE_INDIRECT) {
        /* the indirect GEMM pads its operands to whole tiles: its tuner
         * wants sizes its largest tiles divide */
        m = round_up(m, 128), n = round_up(n, 128), k = round_up(k, 32);
    } else if (t->shape == SHAPE_COPY) {
        /* the copy and transpose tuners overrun their buffers on PoCL at
         * sizes that are not multiples of 512 (heap corruption seen at 256 x
         * 256 and 256 x 784); these kernels only move memory, so the sizes
         * matter little to which parameters win */
        m = round_up(m > n ? m : n, 512), n = round_up(k, 512), k = 0;
    }
    r->m = m, r->n = n, r->k = k;
    double fraction = a->fraction > t->least_fraction ? a->fraction : t->least_fraction;
    r->divisor = fraction >= 1 ? 1 : 1 / fraction;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", work, t->program + strlen("clblast_tuner_"));
    char platform_text[16], device_text[16], precision[8], m_text[24], n_text[24], k_text[24],
        divisor_text[32];
    snprintf(platform_text, sizeof platform_text, "%d", platform);
    snprintf(device_text, sizeof device_text, "%d", device_index);
    snprintf(precision, sizeof precision, "%d", a->device.precision == BPNN_F64 ? 64 : 32);
    snprintf(m_text, sizeof m_text, "%zu", m);
    snprintf(n_text, sizeof n_text, "%zu", n);
    snprintf(k_text, sizeof k_text, "%zu", k);
    snprintf(divisor_text, sizeof divisor_text, "%.6g", r->divisor);
    char *argv[] = {r->path,   "-platform", platform_text, "-device", device_text, "-precision",
                    precision, "-m",        m_text,        "-n",      n_text,      "-k",
                    k_text,    "-fraction", divisor_text,  NULL};
    if (t->shape == SHAPE_COPY) /* no k: -fraction takes its place */
        argv[11] = "-fraction", argv[12] = divisor_text, argv[13] = NULL;
    fprintf(stderr,
            "tune: %s -platform %d -device %d -precision %s -m %zu -n %zu%s%s "
            "-fraction %s ...\n",
            t->program, platform, device_index, precision, m, n,
            t->shape == SHAPE_COPY ? "" : " -k ", t->shape == SHAPE_COPY ? "" : k_text,
            divisor_text);
    double started = cli_now();
    int exit_code = 0;
    if (mkdir(dir, 0700) != 0) {
        r->failed = 1;
        snprintf(r->failure, sizeof r->failure, "cannot create %.300s: %s", dir, strerror(errno));
        return;
    }
    if (run_in(dir, argv, &exit_code) != BPNN_OK) {
        r->failed = 1;
        snprintf(r->failure, sizeof r->failure, "%s", bpnn_error_message());
        bpnn_clear_error();
    } else if (exit_code != 0) {
        char log_path[4300], tail[256];
        snprintf(log_path, sizeof log_path, "%s/tuner.log", dir);
        last_line(log_path, tail, sizeof tail);
        r->failed = 1;
        if (exit_code > 128)
            snprintf(r->failure, sizeof r->failure, "ended by signal %d (%s)%s%s", exit_code - 128,
                     strsignal(exit_code - 128), tail[0] ? ": " : "", tail);
        else if (exit_code == 126 || exit_code == 127)
            snprintf(r->failure, sizeof r->failure,
                     "could not be started (exit status %d: not executable, or its folder %.300s "
                     "could not be entered)",
                     exit_code, dir);
        else
            snprintf(r->failure, sizeof r->failure, "exit status %d%s%s", exit_code,
                     tail[0] ? ": " : "", tail);
    }
    r->seconds = cli_now() - started;
    /* a tuner that died in a later stage may have written the earlier ones */
    read_results(dir, t, r);
    remove_run_folder(dir);
}

/* ---- timing the step's GEMMs ------------------------------------------------------ */

static int compare_doubles(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double median_of(double *values, int count)
{
    qsort(values, (size_t)count, sizeof *values, compare_doubles);
    return count % 2 ? values[count / 2] : 0.5 * (values[count / 2 - 1] + values[count / 2]);
}

/* The step's GEMM rate with the parameters the device has now: the median
 * of as many steps as take about a second (10 to 1000), after the warm-up
 * step in which CLBlast builds its programs. *seconds: all of it. */
static bpnn_status measure(const tune_args *a, bpnn_device *device, double *gflops, double *seconds)
{
    double started = cli_now();
    double probe[3];
    BPNN_TRY(bpnn_time_step_gemms(device, a->layer_count, a->sizes, (size_t)a->batch, 3, probe));
    double step = median_of(probe, 3);
    int repeat = step > 0 && step < 0.1 ? (int)(1.0 / step) : 10;
    repeat = repeat < 10 ? 10 : repeat > 1000 ? 1000 : repeat;
    double *times = malloc((size_t)repeat * sizeof *times);
    if (!times)
        return bpnn_fail_oom("GEMM timings");
    bpnn_status status =
        bpnn_time_step_gemms(device, a->layer_count, a->sizes, (size_t)a->batch, repeat, times);
    if (status == BPNN_OK)
        *gflops = bpnn_step_gemm_flops(a->layer_count, a->sizes, (size_t)a->batch) * 1e-9 /
                  median_of(times, repeat);
    free(times);
    *seconds = cli_now() - started;
    return status;
}

typedef enum candidate_kind { OWN, EARLIER, TUNED } candidate_kind;

/* Parameters timed on the step. */
typedef struct candidate {
    candidate_kind kind;
    char what[96];
    size_t min_indirect; /* TUNED: XGEMM_MIN_INDIRECT_SIZE */
    bpnn_tuning tuning;  /* EARLIER and TUNED */
    double gflops;       /* the whole step; NAN when it failed */
    double seconds;      /* applying, building, checking and timing */
    int wrong;           /* failed the GEMM check */
    int timed_each;      /* each[] holds each GEMM's seconds */
    double each[MAX_GEMMS];
    char error[700];
} candidate;

typedef struct verify_tally {
    int failures;
    char first[640];
} verify_tally;

static void on_verified(const bpnn_verify_result *r, void *user)
{
    verify_tally *tally = user;
    if (r->passed)
        return;
    if (tally->failures++ == 0)
        snprintf(tally->first, sizeof tally->first,
                 "%s: error %.3g, threshold %.3g, at %.95s%s%.300s", r->op, r->error, r->threshold,
                 r->worst_case, r->message[0] ? ": " : "", r->message);
}

/* Applies the candidate's parameters (from CLBlast's own, so that no kernel
 * keeps another candidate's) and times the step's GEMMs; `check`: first
 * checks them as verify checks GEMMs (against the CPU path, every
 * transpose, awkward sizes), and times each GEMM too. */
static void evaluate(const tune_args *a, bpnn_device *device, candidate *c, int check)
{
    double started = cli_now();
    c->gflops = NAN;
    bpnn_status status = bpnn_device_set_tuning(device, NULL);
    if (status == BPNN_OK && c->kind != OWN)
        status = bpnn_device_set_tuning(device, &c->tuning);
    verify_tally tally = {0};
    int failures = 0;
    if (status == BPNN_OK && check)
        status = bpnn_verify(device, "gemm", on_verified, &tally, &failures);
    if (status == BPNN_OK && failures > 0) {
        c->wrong = 1;
        snprintf(c->error, sizeof c->error, "wrong results (%d of verify's GEMM checks): %s",
                 failures, tally.first);
    } else if (status == BPNN_OK) {
        double step_seconds;
        status = measure(a, device, &c->gflops, &step_seconds);
        if (status == BPNN_OK && check) {
            status = bpnn_time_step_gemms_each(device, a->layer_count, a->sizes, (size_t)a->batch,
                                               20, c->each);
            c->timed_each = status == BPNN_OK;
        }
    }
    if (status != BPNN_OK) {
        c->gflops = NAN;
        snprintf(c->error, sizeof c->error, "%s", bpnn_error_message());
        bpnn_clear_error();
    }
    c->seconds = cli_now() - started;
    if (!isnan(c->gflops))
        fprintf(stderr, "tune: %s: %.1f GFLOP/s on the step's GEMMs (%.1f s)\n", c->what, c->gflops,
                c->seconds);
    else
        fprintf(stderr, "tune: %s: %s (%.1f s)\n", c->what, c->error, c->seconds);
}

/* ---- checks before the work --------------------------------------------------------- */

/* The tuning file's folder, or the nearest one above it that exists, must
 * be a folder this user can write to. */
static bpnn_status check_folder(const char *file)
{
    char probe[4096];
    snprintf(probe, sizeof probe, "%s", file);
    char *slash = strrchr(probe, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(probe, sizeof probe, ".");
    struct stat st;
    while (stat(probe, &st) != 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            return bpnn_fail(BPNN_ERR_INVALID, "cannot reach the GEMM tuning folder: %s: %s", probe,
                             strerror(errno));
        slash = strrchr(probe, '/');
        if (!slash)
            snprintf(probe, sizeof probe, ".");
        else if (slash == probe)
            probe[1] = '\0';
        else
            *slash = '\0';
    }
    if (!S_ISDIR(st.st_mode))
        return bpnn_fail(BPNN_ERR_INVALID,
                         "not a folder: %s: on the way to the GEMM tuning file %s: set "
                         "BPNN_TUNING_DIR to another folder",
                         probe, file);
    if (access(probe, W_OK | X_OK) != 0)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "GEMM tuning folder not writable: %s: for %s: set BPNN_TUNING_DIR to "
                         "another folder",
                         probe, file);
    return BPNN_OK;
}

/* ---- the result ---------------------------------------------------------------------- */

typedef struct tune_outcome {
    char path[4096];
    const candidate *kept; /* NULL: CLBlast's own won */
    const candidate *own, *best_tuned, *earlier;
    int written, removed;
    char earlier_problem[768]; /* why an existing file was not a candidate */
    char tuned_problem[1024];  /* why no tuned parameters were offered */
    double tuner_seconds, total_seconds;
} tune_outcome;

static json_t *tuning_json(const bpnn_tuning *t)
{
    json_t *o = json_object();
    for (int i = 0; t && i < t->count; i++) {
        json_t *k = json_object();
        for (int p = 0; p < t->kernel[i].count; p++)
            json_object_set_new(k, t->kernel[i].parameter[p],
                                json_integer((json_int_t)t->kernel[i].value[p]));
        json_object_set_new(o, t->kernel[i].name, k);
    }
    return o;
}

static json_t *rate_json(const candidate *c)
{
    return c ? cli_json_number(c->gflops) : json_null();
}

static void print_json(const tune_args *a, bpnn_device *device, const tuner_run *runs,
                       const candidate *candidates, int candidate_count, const tune_outcome *o)
{
    json_t *layers = json_array();
    for (int l = 0; l < a->layer_count; l++)
        json_array_append_new(layers, json_integer(a->sizes[l]));
    json_t *tuner_list = json_array();
    for (int i = 0; i < TUNER_COUNT; i++) {
        const tuner_run *r = &runs[i];
        json_t *t =
            json_pack("{s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:i, s:o}", "tuner", tuners[i].program,
                      "kernel", tuners[i].kernel, "m", (json_int_t)r->m, "n", (json_int_t)r->n, "k",
                      (json_int_t)r->k, "fraction", cli_json_number(1 / r->divisor), "seconds",
                      cli_json_number(r->seconds), "configurations", r->results, "best_ms",
                      r->top_count ? cli_json_number(r->top_ms[0]) : json_null());
        if (r->failed)
            json_object_set_new(t, "failure", json_string(r->failure));
        json_array_append_new(tuner_list, t);
    }
    json_t *candidate_list = json_array();
    for (int i = 0; i < candidate_count; i++) {
        const candidate *c = &candidates[i];
        json_t *j =
            json_pack("{s:s, s:o, s:o, s:o}", "what", c->what, "min_indirect_size",
                      c->kind == TUNED ? json_integer((json_int_t)c->min_indirect) : json_null(),
                      "gflops", cli_json_number(c->gflops), "seconds", cli_json_number(c->seconds));
        if (c->error[0])
            json_object_set_new(j, "error", json_string(c->error));
        json_array_append_new(candidate_list, j);
    }
    const candidate *after = o->kept ? o->kept : o->own;
    json_t *j = json_object();
    json_object_set_new(j, "device", json_string(bpnn_device_spec(device)));
    json_object_set_new(j, "device_name", json_string(bpnn_device_name(device)));
    json_object_set_new(j, "precision", json_string(bpnn_precision_name(a->device.precision)));
    json_object_set_new(j, "layers", layers);
    json_object_set_new(j, "batch", json_integer(a->batch));
    json_object_set_new(j, "fraction", json_real(a->fraction));
    json_object_set_new(j, "file", json_string(o->path));
    json_object_set_new(j, "kept",
                        json_string(!o->kept                   ? "none"
                                    : o->kept->kind == EARLIER ? "earlier"
                                                               : "tuned"));
    json_object_set_new(j, "written", json_boolean(o->written));
    json_object_set_new(j, "removed", json_boolean(o->removed));
    json_object_set_new(j, "before_gflops", rate_json(o->own));
    json_object_set_new(j, "earlier_gflops", rate_json(o->earlier));
    json_object_set_new(j, "tuned_gflops", rate_json(o->best_tuned));
    json_object_set_new(j, "after_gflops", rate_json(after));
    json_object_set_new(j, "speedup", cli_json_number(after->gflops / o->own->gflops));
    json_object_set_new(j, "min_indirect_size",
                        o->kept && o->kept->kind == TUNED
                            ? json_integer((json_int_t)o->kept->min_indirect)
                            : json_null());
    json_object_set_new(j, "parameters", tuning_json(o->kept ? &o->kept->tuning : NULL));
    if (o->earlier_problem[0])
        json_object_set_new(j, "earlier_problem", json_string(o->earlier_problem));
    if (o->tuned_problem[0])
        json_object_set_new(j, "tuned_problem", json_string(o->tuned_problem));
    json_object_set_new(j, "candidates", candidate_list);
    json_object_set_new(j, "tuners", tuner_list);
    json_object_set_new(j, "tuner_seconds", cli_json_number(o->tuner_seconds));
    json_object_set_new(j, "total_seconds", cli_json_number(o->total_seconds));
    json_object_set_new(j, "version", json_string(BPNN_VERSION));
    cli_print_json(j);
}

static void print_text(const tune_args *a, bpnn_device *device, const tuner_run *runs,
                       const tune_outcome *o)
{
    printf("%s (%s), %s, ", bpnn_device_spec(device), bpnn_device_name(device),
           bpnn_precision_name(a->device.precision));
    for (int l = 0; l < a->layer_count; l++)
        printf("%s%d", l ? "-" : "", a->sizes[l]);
    printf(", batch %ld, on one step's GEMMs:\n", a->batch);
    printf("  before  %7.1f GFLOP/s  CLBlast's own parameters\n", o->own->gflops);
    if (o->earlier)
        printf("  file    %7.1f GFLOP/s  the tuning file before this run\n", o->earlier->gflops);
    else if (o->earlier_problem[0])
        printf("  file    (not timed: %s)\n", o->earlier_problem);
    if (o->best_tuned)
        printf("  tuned   %7.1f GFLOP/s  %s\n", o->best_tuned->gflops, o->best_tuned->what);
    else
        printf("  tuned   (none offered: %s)\n", o->tuned_problem);
    const candidate *after = o->kept ? o->kept : o->own;
    printf("  after   %7.1f GFLOP/s  %.2fx before\n", after->gflops,
           after->gflops / o->own->gflops);
    if (o->kept && o->kept->kind == TUNED)
        printf("  kept    %s (written)\n", o->path);
    else if (o->kept)
        printf("  kept    %s (the earlier file: faster than this run's tuning)\n", o->path);
    else if (o->removed)
        printf("  kept    nothing: CLBlast's own parameters are the fastest; removed %s\n",
               o->path);
    else
        printf("  kept    nothing: CLBlast's own parameters are the fastest; no file written\n");
    int configurations = 0;
    for (int i = 0; i < TUNER_COUNT; i++)
        configurations += runs[i].results;
    printf("  time    tuners %.1f s (%d configurations), all %.1f s\n", o->tuner_seconds,
           configurations, o->total_seconds);
}

/* ---- the command ------------------------------------------------------------------------ */

static bpnn_status parse(int argc, char **argv, tune_args *a, int *help_shown)
{
    cli_device_init(&a->device);
    a->device.spec = "opencl";
    a->layer_count = 3;
    a->sizes[0] = 784, a->sizes[1] = 256, a->sizes[2] = 10;
    a->batch = 256;
    a->fraction = 0.001;
    int code;
    while ((code = cli_next_option("tune", argc, argv, options)) != -1) {
        if (code == '?')
            return BPNN_ERR_INVALID;
        int handled = cli_device_option(&a->device, code, optarg);
        if (handled < 0)
            return BPNN_ERR_INVALID;
        if (handled)
            continue;
        switch (code) {
        case OPT_HELP:
            fputs(help, stdout);
            *help_shown = 1;
            return BPNN_OK;
        case OPT_LAYERS: BPNN_TRY(cli_parse_layers(optarg, &a->layer_count, a->sizes)); break;
        case OPT_BATCH: BPNN_TRY(cli_parse_long("batch", optarg, 1, 1 << 24, &a->batch)); break;
        case OPT_FRACTION:
            BPNN_TRY(cli_parse_double("fraction", optarg, 0, 1, &a->fraction));
            if (a->fraction <= 0)
                return bpnn_fail(BPNN_ERR_INVALID,
                                 "out of range: --fraction %s: expected more than 0, at most 1",
                                 optarg);
            break;
        default: return bpnn_fail(BPNN_ERR_INVALID, "unhandled option: see bpnn-cl tune --help");
        }
    }
    if (optind < argc)
        return bpnn_fail(BPNN_ERR_INVALID, "unexpected argument: %s: see bpnn-cl tune --help",
                         argv[optind]);
    return BPNN_OK;
}

/* XGEMM_MIN_INDIRECT_SIZE that sends every GEMM to the direct kernel:
 * (2^20)^3 = 2^60 exceeds any m n k, and CLBlast's cube of it fits its
 * 64-bit arithmetic. */
#define ALL_DIRECT ((size_t)1 << 20)

/* The tuned parameters: each tuner's result choice[i] (-1: CLBlast's own for
 * that kernel), and which GEMMs run direct. */
static void tuned_set(const tuner_run *runs, const int *choice, size_t min_indirect,
                      bpnn_tuning *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < TUNER_COUNT; i++)
        if (choice[i] >= 0 && choice[i] < runs[i].top_count)
            out->kernel[out->count++] = runs[i].top[choice[i]];
    bpnn_tuning_kernel *routine = &out->kernel[out->count++];
    snprintf(routine->name, sizeof routine->name, "GemmRoutine");
    snprintf(routine->parameter[0], sizeof routine->parameter[0], "XGEMM_MIN_INDIRECT_SIZE");
    routine->value[0] = min_indirect;
    routine->count = 1;
}

static long gemmk_of(const bpnn_tuning_kernel *k)
{
    for (int p = 0; p < k->count; p++)
        if (strcmp(k->parameter[p], "GEMMK") == 0)
            return (long)k->value[p];
    return -1;
}

/* The result to try after `failed` computed wrong: the next one of another
 * GEMMK (CLBlast's two Xgemm kernels, one of which may be wrong in the
 * library at sizes the tuner did not try), else simply the next; -1 when
 * none is left. */
static int next_choice(const tuner_run *r, int failed)
{
    if (failed < 0)
        return -1;
    for (int j = failed + 1; j < r->top_count; j++)
        if (gemmk_of(&r->top[j]) != gemmk_of(&r->top[failed]))
            return j;
    return failed + 1 < r->top_count ? failed + 1 : -1;
}

/* The tuned kernels with every GEMM on one path, checked and timed (each
 * GEMM too). When they compute wrong, the path's kernels give way: the next
 * result of its GEMM tuner, then CLBlast's own parameters for all of the
 * path's kernels (three tries at most). `choice` ends at what passed. */
static candidate *time_path(const tune_args *a, bpnn_device *device, const tuner_run *runs,
                            int *choice, int direct, candidate *slots, int *n)
{
    candidate *c = NULL;
    for (int attempt = 0; attempt < 3; attempt++) {
        c = &slots[(*n)++];
        *c = (candidate){.kind = TUNED, .min_indirect = direct ? ALL_DIRECT : 1};
        tuned_set(runs, choice, c->min_indirect, &c->tuning);
        snprintf(c->what, sizeof c->what, "tuned, every GEMM %s%s", direct ? "direct" : "indirect",
                 attempt == 0   ? ""
                 : attempt == 1 ? " (second try)"
                                : " (third try)");
        evaluate(a, device, c, 1);
        if (!c->wrong)
            return c;
        int changed = 0;
        int main_tuner = direct ? TUNER_DIRECT : TUNER_XGEMM;
        int next = attempt == 0 ? next_choice(&runs[main_tuner], choice[main_tuner]) : -1;
        if (next >= 0) {
            choice[main_tuner] = next;
            changed = 1;
        } else {
            for (int i = 0; i < TUNER_COUNT; i++)
                if ((i == TUNER_DIRECT) == direct && choice[i] >= 0) {
                    choice[i] = -1;
                    changed = 1;
                }
        }
        if (!changed)
            break; /* CLBlast's own parameters compute wrong: nothing of ours to drop */
    }
    return c;
}

/* The split between direct and indirect GEMM that the per-GEMM times of the
 * two paths say is fastest: each threshold the step's volumes allow (every
 * GEMM indirect, the smallest direct, ..., every GEMM direct) is priced as
 * the sum of its GEMMs' times on their paths. */
static size_t best_split(const tune_args *a, const candidate *indirect, const candidate *direct)
{
    gemm_shape gemms[MAX_GEMMS];
    int count = step_gemms(a, gemms);
    size_t best = 1;
    double best_seconds = INFINITY;
    for (int s = -1; s < count; s++) {
        size_t split = s < 0 ? 1 : direct_above(volume(gemms[s]));
        unsigned long long cube = (unsigned long long)split * split * split;
        double seconds = 0;
        for (int g = 0; g < count; g++)
            seconds += volume(gemms[g]) < cube ? direct->each[g] : indirect->each[g];
        if (seconds < best_seconds || (seconds == best_seconds && split < best)) {
            best = split;
            best_seconds = seconds;
        }
    }
    /* every GEMM direct: as ALL_DIRECT, so that larger GEMMs (a full-batch
     * evaluation) run direct too, as they were checked */
    size_t largest = 1;
    for (int g = 0; g < count; g++) {
        size_t split = direct_above(volume(gemms[g]));
        largest = split > largest ? split : largest;
    }
    return best == largest ? ALL_DIRECT : best;
}

static void report_tuner(int i, const tuner_run *r)
{
    fprintf(stderr, "tune: %s: %d configurations in %.1f s", tuners[i].program, r->results,
            r->seconds);
    if (r->top_count && tuners[i].shape != SHAPE_COPY)
        fprintf(stderr, ", best %.1f GFLOP/s at %zu x %zu x %zu",
                2.0 * (double)r->m * (double)r->n * (double)r->k / (r->top_ms[0] * 1e6), r->m, r->n,
                r->k);
    else if (r->top_count)
        fprintf(stderr, ", best %.3f ms", r->top_ms[0]);
    fputc('\n', stderr);
    if (r->failed)
        fprintf(stderr, "bpnn-cl: warning: %s failed: %s%s\n", tuners[i].program, r->failure,
                r->top_count ? "" : ": its kernel keeps CLBlast's own parameters");
}

/* Opens the device and checks what can be checked before the long work. */
static bpnn_status prepare(const tune_args *a, tuner_run *runs, bpnn_device **device,
                           tune_outcome *o, int *platform, int *device_index)
{
    for (int i = 0; i < TUNER_COUNT; i++)
        if (!find_program(tuners[i].program, runs[i].path, sizeof runs[i].path))
            return bpnn_fail(BPNN_ERR_INVALID,
                             "CLBlast's tuners not found: %s is neither on PATH nor beside "
                             "bpnn-cl: install Debian's clblast-utils (apt-get install "
                             "clblast-utils)",
                             tuners[i].program);
    BPNN_TRY(cli_open_device(&a->device, device));
    BPNN_TRY(bpnn_device_tuning_path(*device, o->path, sizeof o->path));
    BPNN_TRY(check_folder(o->path));
    if (sscanf(bpnn_device_spec(*device), "opencl:%d:%d", platform, device_index) != 2)
        return bpnn_fail(BPNN_ERR_RUNTIME, "unexpected device spec %s", bpnn_device_spec(*device));
    return BPNN_OK;
}

static bpnn_status run_tuners(const tune_args *a, tuner_run *runs, int platform, int device_index,
                              tune_outcome *o)
{
    gemm_shape gemms[MAX_GEMMS];
    int gemm_count = step_gemms(a, gemms);
    const gemm_shape *largest = &gemms[0];
    for (int g = 1; g < gemm_count; g++)
        if (volume(gemms[g]) > volume(*largest))
            largest = &gemms[g];
    char work[4096];
    const char *tmp = getenv("TMPDIR");
    snprintf(work, sizeof work, "%s/bpnn-cl-tune-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(work))
        return bpnn_fail(BPNN_ERR_RUNTIME, "cannot create a folder for the tuners: %s: %s", work,
                         strerror(errno));
    double started = cli_now();
    for (int i = 0; i < TUNER_COUNT; i++) {
        run_tuner(a, work, platform, device_index, &tuners[i], largest, &runs[i]);
        report_tuner(i, &runs[i]);
    }
    rmdir(work);
    o->tuner_seconds = cli_now() - started;
    int any = 0;
    for (int i = 0; i < TUNER_COUNT; i++)
        any |= runs[i].top_count > 0;
    if (!any)
        return bpnn_fail(BPNN_ERR_RUNTIME,
                         "no tuner gave a result: %s: %s: nothing to keep (a larger --fraction "
                         "tries more configurations)",
                         tuners[TUNER_DIRECT].program,
                         runs[TUNER_DIRECT].failed ? runs[TUNER_DIRECT].failure
                                                   : "no configuration tried");
    return BPNN_OK;
}

/* The tuned candidates: both paths checked and timed, then the split between
 * them that their per-GEMM times favour, when it lies between. Returns the
 * fastest on the whole step, or NULL (with the reason in `why`). */
static const candidate *tuned_candidates(const tune_args *a, bpnn_device *device,
                                         const tuner_run *runs, candidate *slots, int *n, char *why,
                                         size_t why_size)
{
    int choice[TUNER_COUNT];
    for (int i = 0; i < TUNER_COUNT; i++)
        choice[i] = runs[i].top_count > 0 ? 0 : -1;
    candidate *indirect = time_path(a, device, runs, choice, 0, slots, n);
    candidate *direct = time_path(a, device, runs, choice, 1, slots, n);
    if (indirect->wrong || direct->wrong || !indirect->timed_each || !direct->timed_each) {
        const candidate *bad = indirect->wrong || !indirect->timed_each ? indirect : direct;
        snprintf(why, why_size, "%s: %s", bad->what, bad->error);
        return NULL;
    }
    /* the indirect path was timed before the direct kernel's final choice,
     * which its GEMMs never run: the file gets the final one */
    tuned_set(runs, choice, indirect->min_indirect, &indirect->tuning);
    candidate *best = indirect->gflops >= direct->gflops ? indirect : direct;
    size_t split = best_split(a, indirect, direct);
    if (split == 1 || split == ALL_DIRECT)
        return best;
    candidate *c = &slots[(*n)++];
    *c = (candidate){.kind = TUNED, .min_indirect = split};
    tuned_set(runs, choice, split, &c->tuning);
    snprintf(c->what, sizeof c->what, "tuned, GEMMs below %zu^3 direct", split);
    evaluate(a, device, c, 0);
    return !isnan(c->gflops) && c->gflops > best->gflops ? c : best;
}

static bpnn_status keep(const tune_args *a, bpnn_device *device, const candidate *best,
                        const candidate *own, tune_outcome *o)
{
    struct stat st;
    if (best->kind == TUNED) {
        bpnn_tuning kept = best->tuning;
        char layers[160] = "";
        for (int l = 0; l < a->layer_count; l++)
            snprintf(layers + strlen(layers), sizeof layers - strlen(layers), "%s%d", l ? "-" : "",
                     a->sizes[l]);
        snprintf(kept.note, sizeof kept.note,
                 "tuned for %s, batch %ld, --fraction %g: step GEMMs %.1f GFLOP/s, %.1f with "
                 "CLBlast's own parameters",
                 layers, a->batch, a->fraction, best->gflops, own->gflops);
        BPNN_TRY(bpnn_tuning_save(device, &kept, NULL));
        o->written = 1;
    } else if (best->kind == OWN && stat(o->path, &st) == 0) {
        /* the file there is slower than no file, or unusable: it goes */
        if (unlink(o->path) != 0)
            return bpnn_fail(BPNN_ERR_RUNTIME,
                             "cannot remove the GEMM tuning file %s (slower than CLBlast's own "
                             "parameters here): %s",
                             o->path, strerror(errno));
        o->removed = 1;
    }
    return BPNN_OK;
}

static bpnn_status tune(const tune_args *a, tuner_run *runs, candidate *candidates,
                        int *candidate_count, bpnn_device **device_out, tune_outcome *o)
{
    double started = cli_now();
    int platform, device_index;
    BPNN_TRY(prepare(a, runs, device_out, o, &platform, &device_index));
    bpnn_device *device = *device_out;
    fprintf(stderr, "tune: %s (%s), %s\n", bpnn_device_spec(device), bpnn_device_name(device),
            bpnn_precision_name(a->device.precision));

    int n = 0;
    candidate *own = &candidates[n++];
    *own = (candidate){.kind = OWN};
    snprintf(own->what, sizeof own->what, "CLBlast's own parameters");
    candidate *earlier = &candidates[n];
    struct stat st;
    if (bpnn_tuning_load(device, NULL, &earlier->tuning) == BPNN_OK) {
        earlier->kind = EARLIER;
        snprintf(earlier->what, sizeof earlier->what, "the tuning file before this run");
        n++;
    } else {
        if (stat(o->path, &st) == 0)
            snprintf(o->earlier_problem, sizeof o->earlier_problem, "%s", bpnn_error_message());
        bpnn_clear_error();
        earlier = NULL;
    }
    evaluate(a, device, own, 0);
    if (isnan(own->gflops))
        return bpnn_fail(BPNN_ERR_RUNTIME, "%s", own->error);
    if (earlier)
        evaluate(a, device, earlier, 0);
    *candidate_count = n;

    BPNN_TRY(run_tuners(a, runs, platform, device_index, o));
    const candidate *tuned = tuned_candidates(a, device, runs, candidates, &n, o->tuned_problem,
                                              sizeof o->tuned_problem);
    *candidate_count = n;

    const candidate *best = own;
    if (earlier && !isnan(earlier->gflops) && earlier->gflops > best->gflops)
        best = earlier;
    if (tuned && tuned->gflops > best->gflops)
        best = tuned;
    o->own = own;
    o->earlier = earlier;
    o->best_tuned = tuned;
    o->kept = best->kind == OWN ? NULL : best;
    BPNN_TRY(keep(a, device, best, own, o));
    o->total_seconds = cli_now() - started;
    return BPNN_OK;
}

int cmd_tune(int argc, char **argv)
{
    tune_args a = {0};
    int help_shown = 0;
    bpnn_status status = parse(argc, argv, &a, &help_shown);
    if (help_shown)
        return 0;
    if (status != BPNN_OK)
        return cli_fail(a.device.json, status);
    tuner_run runs[TUNER_COUNT];
    memset(runs, 0, sizeof runs);
    candidate *candidates = calloc(MAX_CANDIDATES, sizeof *candidates);
    tune_outcome *outcome = calloc(1, sizeof *outcome);
    bpnn_device *device = NULL;
    int candidate_count = 0;
    status = candidates && outcome ? BPNN_OK : bpnn_fail_oom("tune");
    if (status == BPNN_OK)
        status = tune(&a, runs, candidates, &candidate_count, &device, outcome);
    int exit_code = 0;
    if (status != BPNN_OK)
        exit_code = cli_fail(a.device.json, status);
    else if (a.device.json)
        print_json(&a, device, runs, candidates, candidate_count, outcome);
    else
        print_text(&a, device, runs, outcome);
    bpnn_device_close(device);
    free(candidates);
    free(outcome);
    return exit_code;
}
