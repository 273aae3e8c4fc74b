/* participants.c — see participants.h. */
#include "core/participants.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

bpnn_status participants_init(participants *p, const bpnn_train_options *options)
{
    *p = (participants){.reduce = options->reduce,
                        .user = options->reduce_user,
                        .rank = options->rank,
                        .count = options->ranks > 0 ? options->ranks : 1};
    if (p->rank < 0 || p->rank >= p->count)
        return bpnn_fail(BPNN_ERR_INVALID, "participant %d of %d: the rank must be in 0..%d",
                         p->rank, p->count, p->count - 1);
    if (p->count > 1 && !p->reduce)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "%d participants but no reduce function: they could not agree", p->count);
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

bpnn_status participants_sum_gradient(participants *p, backend *be, backend_buffer *grad, size_t n,
                                      double *head, size_t head_count)
{
    if (!participants_many(p))
        return BPNN_OK;
    size_t size = head_count + n;
    if (size > p->scratch_size) {
        double *bigger = realloc(p->scratch, size * sizeof *bigger);
        if (!bigger)
            return bpnn_fail_oom("the gradient's reduction buffer");
        p->scratch = bigger;
        p->scratch_size = size;
    }
    memcpy(p->scratch, head, head_count * sizeof *head);
    BPNN_TRY(be->ops->download(be, view_at(grad, 0), n, p->scratch + head_count));
    BPNN_TRY(p->reduce(p->scratch, size, p->user));
    memcpy(head, p->scratch, head_count * sizeof *head);
    return be->ops->upload(be, view_at(grad, 0), n, p->scratch + head_count);
}
