/* classify.h — what predict and eval share: a model applied to a data set. */
#ifndef BPNN_CLI_CLASSIFY_H
#define BPNN_CLI_CLASSIFY_H

#include "cli.h"

typedef struct classification {
    bpnn_model *model;
    bpnn_dataset data;
    int is_fashion;
    int32_t *predicted; /* data.rows classes */
    double *scores;     /* data.rows x K output activations (predict --proba), or NULL */
    bpnn_device *device;
} classification;

/* The options predict and eval share. */
typedef struct classify_args {
    cli_data data;
    cli_device device;
    const char *model_path;
    const char *out_path; /* predict --out, eval --confusion: checked writable */
    const char *out_flag;
    int proba;      /* predict --proba: the output layer's activations too */
    int help_shown; /* --help was printed: exit 0 */
} classify_args;

/* Parses `command`'s options; `out_code` is the option naming its output
 * file (flag `out_flag`). */
bpnn_status classify_parse(const char *command, int argc, char **argv, const struct option *options,
                           int out_code, const char *out_flag, const char *help, classify_args *a);

/* Loads the model and the data (default: Fashion-MNIST t10k) in the model's
 * label convention unless --labels-from says otherwise, normalizes them as
 * the model was trained, and predicts every row (and, with `with_scores`,
 * keeps the output layer's activations). */
bpnn_status classify(const char *model_path, const cli_data *data, const cli_device *device,
                     int with_scores, classification *out);
void classification_free(classification *c);

#endif
