/* ranks_mpi.c — ranks.h over MPI. MPI is joined only when a launcher
 * started the program (its environment says so), so that a plain bpnn-cl
 * never pays for MPI's start-up nor prints its warnings. */
#include "ranks.h"

#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int joined, rank, count = 1, local_rank;
static int serialized; /* MPI may be called from the reducing thread */
static double *incoming;
static size_t incoming_size;
static cli_ranks_stats totals; /* of this rank's reductions */

/* A sum started (cli_ranks_start) and run by the reducing thread. */
typedef struct sum_job {
    double *values;
    size_t count;
    int done;
    bpnn_status status;
    char message[512]; /* the reducing thread's failure, for the waiting one */
    struct sum_job *next;
} sum_job;

/* The reducing thread runs the sums in the order they were started, one at a
 * time; while it runs, it alone calls MPI (MPI_THREAD_SERIALIZED). */
static struct {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    sum_job *first, *last;
    int running, stopping;
} worker = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};

static int launched_by_mpi(void)
{
    static const char *const variables[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE",
                                            "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof variables / sizeof *variables; i++)
        if (getenv(variables[i]))
            return 1;
    return 0;
}

void cli_ranks_init(int *argc, char ***argv)
{
    int provided = MPI_THREAD_SINGLE;
    if (!launched_by_mpi() ||
        MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
        return;
    joined = 1;
    serialized = provided >= MPI_THREAD_SERIALIZED;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &count);
    /* the ranks sharing this host, for one GPU each */
    MPI_Comm host;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &host) ==
        MPI_SUCCESS) {
        MPI_Comm_rank(host, &local_rank);
        MPI_Comm_free(&host);
    }
}

static void stop_worker(void)
{
    if (!worker.running)
        return;
    pthread_mutex_lock(&worker.lock);
    worker.stopping = 1;
    pthread_cond_broadcast(&worker.changed);
    pthread_mutex_unlock(&worker.lock);
    pthread_join(worker.thread, NULL);
    worker.running = worker.stopping = 0;
}

void cli_ranks_finalize(void)
{
    stop_worker();
    free(incoming);
    incoming = NULL;
    if (joined)
        MPI_Finalize();
    joined = 0;
}

int cli_ranks_rank(void)
{
    return rank;
}

int cli_ranks_count(void)
{
    return count;
}

int cli_ranks_local_rank(void)
{
    return local_rank;
}

/* Chunk c of `count` values split among n ranks: [begin, end). */
static void chunk(size_t total, int n, int c, size_t *begin, size_t *end)
{
    *begin = total * (size_t)c / (size_t)n;
    *end = total * (size_t)(c + 1) / (size_t)n;
}

static bpnn_status mpi_failed(const char *call, int code)
{
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    return bpnn_fail(BPNN_ERR_RUNTIME, "%s failed: rank %d of %d: %s", call, rank, count, text);
}

/* A ring allreduce: n - 1 steps in which each rank adds the chunk its left
 * neighbour passes on (a reduce-scatter: afterwards rank r holds the whole
 * sum of chunk r + 1), then n - 1 steps that pass the sums around. Each
 * chunk is summed in ring order starting from its own rank, the same order
 * every time, and every rank ends with the same bits. Bytes sent per rank:
 * 2 (n - 1) / n of the vector. */
static bpnn_status ring_sum(double *values, size_t total)
{
    size_t largest = total / (size_t)count + 1;
    if (largest > incoming_size) {
        double *bigger = realloc(incoming, largest * sizeof *bigger);
        if (!bigger)
            return bpnn_fail_oom("the ranks' reduction buffer");
        incoming = bigger;
        incoming_size = largest;
    }
    int right = (rank + 1) % count, left = (rank + count - 1) % count;
    for (int step = 0; step < count - 1; step++) {
        size_t send_begin, send_end, recv_begin, recv_end;
        chunk(total, count, (rank - step + count) % count, &send_begin, &send_end);
        chunk(total, count, (rank - step - 1 + 2 * count) % count, &recv_begin, &recv_end);
        int code = MPI_Sendrecv(values + send_begin, (int)(send_end - send_begin), MPI_DOUBLE,
                                right, 0, incoming, (int)(recv_end - recv_begin), MPI_DOUBLE, left,
                                0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (code != MPI_SUCCESS)
            return mpi_failed("MPI_Sendrecv (reduce)", code);
        for (size_t i = recv_begin; i < recv_end; i++)
            values[i] = incoming[i - recv_begin] + values[i];
    }
    for (int step = 0; step < count - 1; step++) {
        size_t send_begin, send_end, recv_begin, recv_end;
        chunk(total, count, (rank + 1 - step + count) % count, &send_begin, &send_end);
        chunk(total, count, (rank - step + count) % count, &recv_begin, &recv_end);
        int code = MPI_Sendrecv(values + send_begin, (int)(send_end - send_begin), MPI_DOUBLE,
                                right, 1, values + recv_begin, (int)(recv_end - recv_begin),
                                MPI_DOUBLE, left, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (code != MPI_SUCCESS)
            return mpi_failed("MPI_Sendrecv (gather)", code);
    }
    return BPNN_OK;
}

static void count_sum(size_t total)
{
    totals.reductions++;
    totals.bytes_sent += 2 * (uint64_t)(count - 1) * (total / (size_t)count) * sizeof(double);
}

static void *run_sums(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&worker.lock);
    for (;;) {
        while (!worker.first && !worker.stopping)
            pthread_cond_wait(&worker.changed, &worker.lock);
        sum_job *job = worker.first;
        if (!job)
            break; /* stopping, and nothing left */
        worker.first = job->next;
        if (!worker.first)
            worker.last = NULL;
        pthread_mutex_unlock(&worker.lock);
        bpnn_status status = ring_sum(job->values, job->count);
        if (status != BPNN_OK)
            snprintf(job->message, sizeof job->message, "%s", bpnn_error_message());
        pthread_mutex_lock(&worker.lock);
        job->status = status;
        job->done = 1;
        pthread_cond_broadcast(&worker.changed);
    }
    pthread_mutex_unlock(&worker.lock);
    return NULL;
}

int cli_ranks_can_overlap(void)
{
    return joined && count > 1 && serialized;
}

bpnn_status cli_ranks_start(double *values, size_t total, void *user, void **request)
{
    (void)user;
    *request = NULL;
    if (count == 1 || total == 0)
        return BPNN_OK;
    sum_job *job = calloc(1, sizeof *job);
    if (!job)
        return bpnn_fail_oom("an overlapped reduction");
    *job = (sum_job){.values = values, .count = total};
    if (!worker.running) {
        if (pthread_create(&worker.thread, NULL, run_sums, NULL) != 0) {
            free(job);
            return bpnn_fail(BPNN_ERR_RUNTIME, "cannot start the reducing thread: rank %d of %d",
                             rank, count);
        }
        worker.running = 1;
    }
    count_sum(total);
    pthread_mutex_lock(&worker.lock);
    if (worker.last)
        worker.last->next = job;
    else
        worker.first = job;
    worker.last = job;
    pthread_cond_broadcast(&worker.changed);
    pthread_mutex_unlock(&worker.lock);
    *request = job;
    return BPNN_OK;
}

bpnn_status cli_ranks_wait(void *request, void *user)
{
    (void)user;
    sum_job *job = request;
    if (!job)
        return BPNN_OK;
    double started = cli_now();
    pthread_mutex_lock(&worker.lock);
    while (!job->done)
        pthread_cond_wait(&worker.changed, &worker.lock);
    pthread_mutex_unlock(&worker.lock);
    totals.seconds += cli_now() - started;
    bpnn_status status = job->status;
    if (status != BPNN_OK)
        bpnn_fail(status, "%s", job->message);
    free(job);
    return status;
}

bpnn_status cli_ranks_sum(double *values, size_t total, void *user)
{
    if (count == 1 || total == 0)
        return BPNN_OK;
    if (worker.running) { /* the reducing thread alone calls MPI meanwhile */
        void *request;
        BPNN_TRY(cli_ranks_start(values, total, user, &request));
        return cli_ranks_wait(request, user);
    }
    double started = cli_now();
    count_sum(total);
    bpnn_status status = ring_sum(values, total);
    totals.seconds += cli_now() - started;
    return status;
}

cli_ranks_stats cli_ranks_get_stats(void)
{
    return totals;
}

void cli_ranks_abort(int code)
{
    if (joined && count > 1) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
}

const char *cli_ranks_description(void)
{
    static char text[MPI_MAX_LIBRARY_VERSION_STRING + 8];
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    MPI_Get_library_version(version, &length);
    /* the first line only: Open MPI adds its package and release date */
    version[strcspn(version, ",\n")] = '\0';
    snprintf(text, sizeof text, "MPI (%s)", version);
    return text;
}
