/* minibatch.h — sgd, momentum and adam: epochs of steps on shuffled
 * mini-batches, everything on the device (train.c dispatches here). */
#ifndef BPNN_CORE_MINIBATCH_H
#define BPNN_CORE_MINIBATCH_H

#include "backend/backend.h"
#include "core/memory_plan.h"
#include "core/participants.h"

bpnn_status minibatch_train(backend *be, bpnn_model *model, const bpnn_dataset *data,
                            const bpnn_train_options *options, const memory_plan *plan,
                            participants *parts, bpnn_train_result *result);

/* The learning rate of step `step` (0-based, counted over the whole run) of a
 * run of options->epochs epochs of steps_per_epoch steps each. */
double minibatch_learning_rate(const bpnn_train_options *options, double base, uint64_t step,
                               uint64_t steps_per_epoch);

#endif
