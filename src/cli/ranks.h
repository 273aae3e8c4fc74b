/* ranks.h — bpnn-cl as one of several processes (MPI ranks) training one
 * model: who this process is, the reduction that keeps the ranks' replicas
 * equal, and how a failing rank ends them all. Built over MPI when meson
 * finds it (ranks_mpi.c), else as the one process there is
 * (ranks_single.c). */
#ifndef BPNN_CLI_RANKS_H
#define BPNN_CLI_RANKS_H

#include <stddef.h>
#include <stdint.h>

#include "bpnn.h"

/* Joins the ranks when the program was started by mpirun (or another MPI
 * launcher); else this is rank 0 of 1 and MPI is never touched. */
void cli_ranks_init(int *argc, char ***argv);
void cli_ranks_finalize(void);

int cli_ranks_rank(void);
int cli_ranks_count(void);
/* This rank's index among the ranks on its host (GPU choice). */
int cli_ranks_local_rank(void);

/* bpnn_reduce_fn: sums element-wise over the ranks, in place, in a fixed
 * order (a ring: every rank gets the same bits whatever the timing). */
bpnn_status cli_ranks_sum(double *values, size_t count, void *user);

/* The same sum in two halves (bpnn_reduce_start_fn, bpnn_reduce_wait_fn):
 * a thread of this rank runs the sums in the order they were started, over
 * the same ring, while the caller computes. Available when MPI grants
 * MPI_THREAD_SERIALIZED (cli_ranks_can_overlap). */
int cli_ranks_can_overlap(void);
bpnn_status cli_ranks_start(double *values, size_t count, void *user, void **request);
bpnn_status cli_ranks_wait(void *request, void *user);

/* What this rank's reductions cost so far: their number, the bytes it sent
 * (about 2 (N - 1) / N of each vector) and the seconds the program waited
 * for them (for slower ranks too; an overlapped sum only while waited for). */
typedef struct cli_ranks_stats {
    uint64_t reductions, bytes_sent;
    double seconds;
} cli_ranks_stats;
cli_ranks_stats cli_ranks_get_stats(void);

/* Ends every rank with `code` after a failure of this one (its message
 * already printed); returns only when this is the one process. */
void cli_ranks_abort(int code);

/* "MPI (Open MPI v4.1.4)" or "no MPI", for --version. */
const char *cli_ranks_description(void);

#endif
