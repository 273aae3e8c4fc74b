/* classify.h — what predict and eval share: a model applied to a data set. */
#ifndef BPNN_CLI_CLASSIFY_H
#define BPNN_CLI_CLASSIFY_H

#include "cli/cli.h"

typedef struct classification {
    bpnn_model *model;
    bpnn_dataset data;
    int is_fashion;
    int32_t *predicted; /* data.rows classes */
    bpnn_device *device;
} classification;

/* Loads the model and the data (default: Fashion-MNIST t10k) in the model's
 * label convention unless --labels-from says otherwise, normalizes them as
 * the model was trained, and predicts every row. */
bpnn_status classify(const char *model_path, const cli_data *data, const cli_device *device,
                     classification *out);
void classification_free(classification *c);

#endif
