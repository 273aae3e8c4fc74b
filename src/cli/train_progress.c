/* train_progress.c — see train_progress.h. */
#include "train_progress.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* The bar is redrawn at most this often (seconds): a redraw per step would
 * cost more than a small step. */
#define REDRAW_INTERVAL 0.1
#define BAR_WIDTH 24

void train_progress_init(train_progress *p, int quiet, const char *log_path, int keep_records)
{
    *p = (train_progress){.quiet = quiet,
                          .terminal = isatty(STDERR_FILENO),
                          .log_path = log_path,
                          .keep_records = keep_records};
}

bpnn_status train_progress_check_log(const char *log_path)
{
    struct stat st;
    if (stat(log_path, &st) == 0 && access(log_path, W_OK) != 0)
        return bpnn_fail(BPNN_ERR_INVALID, "cannot write the log: --log %s: %s", log_path,
                         strerror(errno));
    return BPNN_OK;
}

void train_progress_free(train_progress *p)
{
    if (p->log_open) {
        struct stat st;
        if (p->log_created && fstat(p->log_fd, &st) == 0 && st.st_size == 0)
            unlink(p->log_path);
        close(p->log_fd);
        p->log_open = 0;
    }
    free(p->records);
    p->records = NULL;
}

static int write_all(int fd, const char *data, size_t size)
{
    while (size > 0) {
        ssize_t written = write(fd, data, size);
        if (written < 0 && errno == EINTR)
            continue;
        if (written < 0)
            return errno;
        data += written;
        size -= (size_t)written;
    }
    return 0;
}

/* Opens the log for appending (errno on failure). A run that stopped in the
 * middle of a record left a torn last line: it is ended first, so that this
 * run's records start on lines of their own and readers skip only it. */
static int open_log(train_progress *p)
{
    int fd = open(p->log_path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    p->log_created = fd >= 0;
    if (fd < 0 && errno == EEXIST) {
        fd = open(p->log_path, O_RDWR | O_APPEND | O_CLOEXEC);
        if (fd < 0 && errno == EACCES)
            fd = open(p->log_path, O_WRONLY | O_APPEND | O_CLOEXEC);
    }
    if (fd < 0)
        return errno;
    p->log_fd = fd;
    p->log_open = 1;
    struct stat st;
    char last;
    if (!p->log_created && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n')
        return write_all(fd, "\n", 1);
    return 0;
}

/* Reported once, when it happens: the run goes on and ends with exit 1. */
static void report_log_failure(train_progress *p, int error)
{
    p->log_failed = error;
    train_progress_clear(p);
    fprintf(stderr, "bpnn-cl: warning: writing the log failed: --log %s: %s: training goes on\n",
            p->log_path, strerror(error));
}

static void keep_record(train_progress *p, const bpnn_iteration *it)
{
    if (p->records_failed)
        return;
    if (p->record_count == p->record_capacity) {
        size_t grown = p->record_capacity ? 2 * p->record_capacity : 128;
        bpnn_iteration *bigger = realloc(p->records, grown * sizeof *bigger);
        if (!bigger) {
            p->records_failed = 1;
            return;
        }
        p->records = bigger;
        p->record_capacity = grown;
    }
    p->records[p->record_count++] = *it;
}

static void set_metric(json_t *line, const char *key, double value)
{
    if (value >= 0)
        json_object_set_new(line, key, cli_json_number(value));
}

/* One JSON object per iteration or epoch, each line written whole with one
 * write() as it comes, so that a crashed run keeps its log. */
static void write_log(train_progress *p, const bpnn_iteration *it)
{
    if (!p->log_path || p->log_failed)
        return;
    int error = p->log_open ? 0 : open_log(p);
    if (error) {
        report_log_failure(p, error);
        return;
    }
    json_t *line = json_object();
    if (it->kind == BPNN_PROGRESS_EPOCH) {
        json_object_set_new(line, "epoch", json_integer(it->epoch));
        json_object_set_new(line, "steps", json_integer(it->steps));
        json_object_set_new(line, "cost", cli_json_number(it->cost));
        set_metric(line, "val_cost", it->val_cost);
        set_metric(line, "val_accuracy", it->val_accuracy);
        json_object_set_new(line, "learning_rate", cli_json_number(it->learning_rate));
        json_object_set_new(line, "samples_per_second", cli_json_number(it->samples_per_second));
        json_object_set_new(line, "epoch_seconds", json_real(it->epoch_seconds));
    } else {
        json_object_set_new(line, "iteration", json_integer(it->iteration));
        json_object_set_new(line, "evaluations", json_integer(it->evaluations));
        json_object_set_new(line, "cost", cli_json_number(it->cost));
    }
    json_object_set_new(line, "seconds", json_real(it->seconds));
    set_metric(line, "train_accuracy", it->train_accuracy);
    set_metric(line, "test_accuracy", it->test_accuracy);
    char *text = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(line);
    size_t length = text ? strlen(text) : 0;
    char *record = text ? realloc(text, length + 2) : NULL;
    if (!record) {
        free(text);
        report_log_failure(p, ENOMEM);
        return;
    }
    record[length] = '\n';
    record[length + 1] = '\0';
    error = write_all(p->log_fd, record, length + 1);
    free(record);
    if (error)
        report_log_failure(p, error);
}

void train_progress_clear(train_progress *p)
{
    if (p->bar_shown)
        fputs("\r\033[K", stderr);
    p->bar_shown = 0;
}

static void draw_bar(train_progress *p, const bpnn_iteration *it)
{
    double now = cli_now();
    if (p->bar_shown && now - p->last_draw < REDRAW_INTERVAL)
        return;
    p->last_draw = now;
    int filled = it->steps > 0 ? (int)(BAR_WIDTH * it->step / it->steps) : 0;
    char bar[BAR_WIDTH + 1];
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '=' : i == filled ? '>' : ' ';
    bar[BAR_WIDTH] = '\0';
    double per_step = it->step > 0 ? it->epoch_seconds / (double)it->step : 0;
    double eta = per_step * (double)(it->steps - it->step);
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %ld/%ld | cost %.4f | %.0f samples/s | ETA %.0f s",
            it->epoch, it->epochs, bar, it->step, it->steps, it->cost, it->samples_per_second, eta);
    p->bar_shown = 1;
}

static void print_epoch(train_progress *p, const bpnn_iteration *it)
{
    train_progress_clear(p);
    fprintf(stderr, "epoch %3d/%d | cost %.6f", it->epoch, it->epochs, it->cost);
    if (it->val_accuracy >= 0)
        fprintf(stderr, " | val %.2f%% (cost %.4f)", 100 * it->val_accuracy, it->val_cost);
    if (it->train_accuracy >= 0)
        fprintf(stderr, " | train %.2f%%", 100 * it->train_accuracy);
    if (it->test_accuracy >= 0)
        fprintf(stderr, " | test %.2f%%", 100 * it->test_accuracy);
    fprintf(stderr, " | lr %.3g | %.0f samples/s | %.2f s\n", it->learning_rate,
            it->samples_per_second, it->epoch_seconds);
}

static void print_iteration(const bpnn_iteration *it)
{
    fprintf(stderr, "iteration %5d | cost %.6e | evaluations %d", it->iteration, it->cost,
            it->evaluations);
    if (it->train_accuracy >= 0)
        fprintf(stderr, " | train %.2f%%", 100 * it->train_accuracy);
    if (it->test_accuracy >= 0)
        fprintf(stderr, " | test %.2f%%", 100 * it->test_accuracy);
    fprintf(stderr, " | %.2f s\n", it->seconds);
}

int train_progress_report(const bpnn_iteration *it, void *user)
{
    train_progress *p = user;
    if (it->kind == BPNN_PROGRESS_STEP) {
        if (!p->quiet && p->terminal)
            draw_bar(p, it);
        return 0;
    }
    if (p->keep_records)
        keep_record(p, it);
    write_log(p, it);
    if (p->quiet)
        return 0;
    if (it->kind == BPNN_PROGRESS_EPOCH)
        print_epoch(p, it);
    else
        print_iteration(it);
    return 0;
}
