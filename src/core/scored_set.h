/* scored_set.h — a labelled data set on the device with what measuring a
 * model on it needs: accuracy (argmax against the labels) and the mean
 * logistic loss. Used for the training set's final accuracy, validation and
 * test sets during training. */
#ifndef BPNN_CORE_SCORED_SET_H
#define BPNN_CORE_SCORED_SET_H

#include "core/network.h"
#include "core/participants.h"

typedef struct scored_set {
    const bpnn_dataset *data;
    backend_buffer *x, *labels, *classes;
    int owns_data; /* x and labels were uploaded here */
    network *net;
    int32_t *host_classes;
    /* when `data` is one participant's share: accuracy and cost are those of
     * all shares together (NULL: the data set is whole) */
    participants *participants;
} scored_set;

/* Evaluates `data` on the device: from x and labels already there when
 * given, else uploaded here; streamed from the host in blocks of
 * rows_per_block when that is nonzero (x, labels then unused). */
bpnn_status scored_set_open(backend *be, const bpnn_model *model, const bpnn_dataset *data,
                            backend_buffer *x, backend_buffer *labels, size_t rows_per_block,
                            scored_set *set);
void scored_set_close(backend *be, scored_set *set);

bpnn_status scored_set_accuracy(backend *be, scored_set *set, backend_buffer *params,
                                double *accuracy);
/* J at `params` with the given lambda (0: the mean logistic loss alone). */
bpnn_status scored_set_cost(scored_set *set, backend_buffer *params, double lambda, double *cost);

#endif
