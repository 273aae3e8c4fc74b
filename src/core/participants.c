/* participants.c — see participants.h. */
#include "core/participants.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

bpnn_status participants_init(participants *p, const bpnn_train_options *options)
{
    *p = (participants){.reduce = options->reduce,
                        .start = options->reduce_start,
                        .wait = options->reduce_wait,
                        .user = options->reduce_user,
                        .rank = options->rank,
                        .count = options->ranks > 0 ? options->ranks : 1};
    if (p->rank < 0 || p->rank >= p->count)
        return bpnn_fail(BPNN_ERR_INVALID, "participant %d of %d: the rank must be in 0..%d",
                         p->rank, p->count, p->count - 1);
    if (p->count > 1 && !p->reduce)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "%d participants but no reduce function: they could not agree", p->count);
    if (!p->start != !p->wait)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "reduce_start without reduce_wait, or the other way round: give both "
                         "or neither");
    return BPNN_OK;
}

void participants_free(participants *p)
{
    free(p->scratch);
    p->scratch = NULL;
    p->scratch_size = 0;
}

bpnn_status participants_sum(participants *p, double *values, size_t count)
{
    if (!participants_many(p) || count == 0)
        return BPNN_OK;
    return p->reduce(values, count, p->user);
}

bpnn_status participants_any(participants *p, int flag, int *any)
{
    double value = flag ? 1.0 : 0.0;
    BPNN_TRY(participants_sum(p, &value, 1));
    *any = value > 0;
    return BPNN_OK;
}

static bpnn_status ensure_scratch(participants *p, size_t size)
{
    if (size > p->scratch_size) {
        double *bigger = realloc(p->scratch, size * sizeof *bigger);
        if (!bigger)
            return bpnn_fail_oom("the gradient's reduction buffer");
        p->scratch = bigger;
        p->scratch_size = size;
    }
    return BPNN_OK;
}

bpnn_status participants_sum_gradient(participants *p, backend *be, backend_buffer *grad, size_t n,
                                      double *head, size_t head_count)
{
    if (!participants_many(p))
        return BPNN_OK;
    size_t size = head_count + n;
    BPNN_TRY(ensure_scratch(p, size));
    memcpy(p->scratch, head, head_count * sizeof *head);
    BPNN_TRY(be->ops->download(be, view_at(grad, 0), n, p->scratch + head_count));
    BPNN_TRY(p->reduce(p->scratch, size, p->user));
    memcpy(head, p->scratch, head_count * sizeof *head);
    return be->ops->upload(be, view_at(grad, 0), n, p->scratch + head_count);
}

bpnn_status participants_overlap_begin(participants *p, size_t n, size_t head_count)
{
    p->pending_count = 0;
    return ensure_scratch(p, head_count + n);
}

static bpnn_status start_sum(participants *p, double *values, size_t count)
{
    if (p->pending_count == PARTICIPANTS_MAX_PENDING)
        return bpnn_fail(BPNN_ERR_RUNTIME, "too many overlapped sums: %d", p->pending_count);
    void *request = NULL;
    BPNN_TRY(p->start(values, count, p->user, &request));
    p->pending[p->pending_count++] = request;
    return BPNN_OK;
}

/* Waits for every sum started, in order; the first failure is kept. */
static bpnn_status wait_all(participants *p, bpnn_status status)
{
    for (int i = 0; i < p->pending_count; i++) {
        bpnn_status waited = p->wait(p->pending[i], p->user);
        if (status == BPNN_OK)
            status = waited;
    }
    p->pending_count = 0;
    return status;
}

bpnn_status participants_overlap_layer(participants *p, backend *be, backend_buffer *grad,
                                       size_t offset, size_t count, size_t head_count)
{
    double *slice = p->scratch + head_count + offset;
    bpnn_status status = be->ops->download(be, view_at(grad, offset), count, slice);
    if (status == BPNN_OK)
        status = start_sum(p, slice, count);
    return status == BPNN_OK ? BPNN_OK : wait_all(p, status);
}

bpnn_status participants_overlap_finish(participants *p, backend *be, backend_buffer *grad,
                                        size_t n, double *head, size_t head_count,
                                        bpnn_status computed)
{
    if (computed != BPNN_OK)
        return wait_all(p, computed);
    memcpy(p->scratch, head, head_count * sizeof *head);
    BPNN_TRY(wait_all(p, start_sum(p, p->scratch, head_count)));
    memcpy(head, p->scratch, head_count * sizeof *head);
    return be->ops->upload(be, view_at(grad, 0), n, p->scratch + head_count);
}

bpnn_status bpnn_gather(const bpnn_train_options *shared, const double *mine, size_t count,
                        double **all)
{
    if (!all)
        return bpnn_fail_null("bpnn_gather", "all");
    *all = NULL;
    if (!mine && count > 0)
        return bpnn_fail_null("bpnn_gather", "mine");
    int alone = !shared || !shared->reduce || shared->ranks < 2;
    int ranks = alone ? 1 : shared->ranks, rank = alone ? 0 : shared->rank;
    if (rank < 0 || rank >= ranks)
        return bpnn_fail(BPNN_ERR_INVALID, "participant %d of %d: no such participant", rank,
                         ranks);
    size_t total = (size_t)ranks * count;
    double *values = calloc(total ? total : 1, sizeof *values);
    if (!values)
        return bpnn_fail_oom("gathering the participants' values");
    if (count > 0)
        memcpy(values + (size_t)rank * count, mine, count * sizeof *values);
    bpnn_status status =
        alone || total == 0 ? BPNN_OK : shared->reduce(values, total, shared->reduce_user);
    if (status != BPNN_OK) {
        free(values);
        return status;
    }
    *all = values;
    return BPNN_OK;
}
