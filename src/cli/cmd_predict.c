/* cmd_predict.c — bpnn-cl predict: the seed's predict.csv. */
#include <stdlib.h>
#include <string.h>

#include "cli/classify.h"
#include "io/atomic_file.h"
#include "util/error.h"

static const char help[] =
    "Usage: bpnn-cl predict --model FILE [OPTIONS]\n"
    "Writes the predicted class of every sample as CSV: a header `prediction,label`\n"
    "(the label column only when the data have labels), then one row a sample,\n"
    "labels in the files' own convention. With no --data: Fashion-MNIST t10k.\n"
    "\n"
    "  --model FILE        a model written by bpnn-cl train --out\n"
    "  --out FILE          write here (default: stdout); replaced whole or not at all\n" CLI_DATA_HELP
        CLI_DEVICE_HELP "\n" CLI_EXIT_HELP;

static const struct option options[] = {
    CLI_DATA_OPTIONS,
    CLI_DEVICE_OPTIONS,
    {"model", required_argument, NULL, OPT_MODEL},
    {"out", required_argument, NULL, OPT_OUT},
    {NULL, 0, NULL, 0},
};

/* The CSV text, built in memory so the file is written whole. */
static bpnn_status format_csv(const classification *c, char **text, size_t *size)
{
    FILE *stream = open_memstream(text, size);
    if (!stream)
        return bpnn_fail_oom("predictions CSV");
    int with_labels = c->data.labels != NULL;
    int offset = c->model->label_offset;
    fputs(with_labels ? "prediction,label\n" : "prediction\n", stream);
    for (size_t i = 0; i < c->data.rows; i++) {
        fprintf(stream, "%ld", cli_label(c->predicted[i], offset));
        if (with_labels)
            fprintf(stream, ",%ld", cli_label(c->data.labels[i], offset));
        fputc('\n', stream);
    }
    if (fclose(stream) != 0)
        return bpnn_fail_oom("predictions CSV");
    return BPNN_OK;
}

int cmd_predict(int argc, char **argv)
{
    cli_data data;
    cli_device device;
    cli_data_init(&data);
    cli_device_init(&device);
    const char *model_path = NULL, *out_path = NULL;
    bpnn_status status = BPNN_OK;
    int code, handled;
    while (status == BPNN_OK && (code = cli_next_option("predict", argc, argv, options)) != -1) {
        if (code == '?')
            status = BPNN_ERR_INVALID;
        else if ((handled = cli_data_option(&data, code, optarg)) ||
                 (handled = cli_device_option(&device, code, optarg)))
            status = handled < 0 ? BPNN_ERR_INVALID : BPNN_OK;
        else if (code == OPT_HELP) {
            fputs(help, stdout);
            return 0;
        } else if (code == OPT_MODEL)
            model_path = optarg;
        else if (code == OPT_OUT)
            out_path = optarg;
    }
    if (status == BPNN_OK && out_path)
        status = cli_check_writable("out", out_path);
    classification c = {0};
    char *text = NULL;
    size_t size = 0;
    if (status == BPNN_OK)
        status = classify(model_path, &data, &device, &c);
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
