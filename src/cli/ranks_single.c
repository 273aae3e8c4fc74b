/* ranks_single.c — ranks.h for a build without MPI: one process, rank 0. */
#include "ranks.h"

void cli_ranks_init(int *argc, char ***argv)
{
    (void)argc, (void)argv;
}

void cli_ranks_finalize(void)
{
}

int cli_ranks_rank(void)
{
    return 0;
}

int cli_ranks_count(void)
{
    return 1;
}

int cli_ranks_local_rank(void)
{
    return 0;
}

bpnn_status cli_ranks_sum(double *values, size_t count, void *user)
{
    (void)values, (void)count, (void)user; /* the sum over one rank is its own */
    return BPNN_OK;
}

cli_ranks_stats cli_ranks_get_stats(void)
{
    return (cli_ranks_stats){0};
}

int cli_ranks_can_overlap(void)
{
    return 0;
}

bpnn_status cli_ranks_start(double *values, size_t count, void *user, void **request)
{
    (void)values, (void)count, (void)user;
    *request = NULL;
    return BPNN_OK;
}

bpnn_status cli_ranks_wait(void *request, void *user)
{
    (void)request, (void)user;
    return BPNN_OK;
}

void cli_ranks_abort(int code)
{
    (void)code;
}

const char *cli_ranks_description(void)
{
    return "no MPI";
}
