/* train_progress.h — what `bpnn-cl train` shows and records while it runs:
 * per-iteration lines (cg, lbfgs), a progress bar per epoch on a terminal
 * ending in an epoch summary line (one plain line per epoch otherwise), the
 * --log JSON lines and the records --plot draws from. */
#ifndef BPNN_CLI_TRAIN_PROGRESS_H
#define BPNN_CLI_TRAIN_PROGRESS_H

#include <stdio.h>

#include "bpnn.h"

typedef struct train_progress {
    int quiet;
    int terminal;         /* stderr is a terminal: draw the bar */
    const char *log_path; /* --log, or NULL */
    int log_fd;           /* valid while log_open */
    int log_open;
    int log_created;  /* this run created the log file */
    int log_failed;   /* errno of the first failed write, else 0 */
    int keep_records; /* --plot */
    bpnn_iteration *records;
    size_t record_count, record_capacity;
    int records_failed;
    double last_draw; /* when the bar was last drawn */
    int bar_shown;
} train_progress;

/* The log is opened when the first record comes, so that a run that stops
 * before it leaves no empty log behind. */
void train_progress_init(train_progress *p, int quiet, const char *log_path, int keep_records);
/* Refuses (BPNN_ERR_INVALID) a --log file that exists and cannot be
 * written, before any work. */
bpnn_status train_progress_check_log(const char *log_path);
/* The bpnn_progress_fn (user = the train_progress). */
int train_progress_report(const bpnn_iteration *it, void *user);
/* Clears a bar left on the terminal (an error ends the run mid-epoch). */
void train_progress_clear(train_progress *p);
/* Closes the log (a log this run created and wrote nothing to is removed;
 * one that existed is never truncated nor removed) and frees the records. */
void train_progress_free(train_progress *p);

#endif
