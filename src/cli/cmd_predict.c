/* cmd_predict.c — bpnn-cl predict: the seed's predict.csv. */
#include <stdlib.h>
#include <string.h>

#include "bpnn.h"
#include "classify.h"

static const char help[] =
    "Usage: bpnn-cl predict --model FILE [OPTIONS]\n"
    "Writes the predicted class of every sample as CSV: a header `prediction,label`\n"
    "(the label column only when the data have labels), then one row a sample,\n"
    "labels in the files' own convention. With no --data: Fashion-MNIST t10k.\n"
    "\n"
    "  --model FILE        a model written by bpnn-cl train --out\n"
    "  --proba             also the output layer's activations, one column a class\n"
    "                      (score_<label>, each in (0, 1); they need not sum to 1:\n"
    "                      the units are independent sigmoids)\n"
    "  --out FILE          write here (default: stdout); replaced whole or not at "
    "all\n" CLI_DATA_HELP CLI_DEVICE_HELP
    "  (--precision defaults to the model's)\n\n" CLI_EXIT_HELP;

static const struct option options[] = {
    CLI_DATA_OPTIONS,
    CLI_DEVICE_OPTIONS,
    {"model", required_argument, NULL, OPT_MODEL},
    {"out", required_argument, NULL, OPT_OUT},
    {"proba", no_argument, NULL, OPT_PROBA},
    {NULL, 0, NULL, 0},
};

/* The CSV text, built in memory so the file is written whole. */
static bpnn_status format_csv(const classification *c, char **text, size_t *size)
{
    FILE *stream = open_memstream(text, size);
    if (!stream)
        return bpnn_fail_oom("predictions CSV");
    int with_labels = c->data.labels != NULL;
    int offset = c->model->label_offset, k = bpnn_model_class_count(c->model);
    fputs(with_labels ? "prediction,label" : "prediction", stream);
    for (int j = 0; c->scores && j < k; j++)
        fprintf(stream, ",score_%ld", cli_label(j, offset));
    fputc('\n', stream);
    for (size_t i = 0; i < c->data.rows; i++) {
        fprintf(stream, "%ld", cli_label(c->predicted[i], offset));
        if (with_labels)
            fprintf(stream, ",%ld", cli_label(c->data.labels[i], offset));
        /* digits enough for the model's precision to round-trip */
        for (int j = 0; c->scores && j < k; j++)
            fprintf(stream, c->model->precision == BPNN_F64 ? ",%.17g" : ",%.9g",
                    c->scores[i * (size_t)k + (size_t)j]);
        fputc('\n', stream);
    }
    if (fclose(stream) != 0)
        return bpnn_fail_oom("predictions CSV");
    return BPNN_OK;
}

int cmd_predict(int argc, char **argv)
{
    classify_args a;
    bpnn_status status = classify_parse("predict", argc, argv, options, OPT_OUT, "out", help, &a);
    if (a.help_shown)
        return 0;
    const cli_data data = a.data;
    const cli_device device = a.device;
    const char *model_path = a.model_path, *out_path = a.out_path;
    classification c = {0};
    char *text = NULL;
    size_t size = 0;
    if (status == BPNN_OK)
        status = classify(model_path, &data, &device, a.proba, &c);
    if (status == BPNN_OK)
        status = format_csv(&c, &text, &size);
    if (status == BPNN_OK) {
        if (out_path)
            status = bpnn_write_file_atomic(out_path, text, size, "predictions file");
        else if (fwrite(text, 1, size, stdout) != size || fflush(stdout) != 0)
            status = bpnn_fail(BPNN_ERR_RUNTIME, "write error: stdout");
    }
    if (status == BPNN_OK && out_path && !device.json)
        fprintf(stderr, "bpnn-cl: %zu predictions written to %s\n", c.data.rows, out_path);
    free(text);
    classification_free(&c);
    return status == BPNN_OK ? 0 : cli_fail(device.json, status);
}
