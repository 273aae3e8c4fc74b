/* cmd_eval.c — bpnn-cl eval: accuracy, per-class accuracy, confusion matrix. */
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "picture.h"

static const char help[] =
    "Usage: bpnn-cl eval --model FILE [OPTIONS]\n"
    "Accuracy, per-class accuracy (recall) and the confusion matrix (rows: true\n"
    "class, columns: predicted) of a model on labelled data, with class names\n"
    "where the model has them. With no --data: Fashion-MNIST t10k.\n"
    "\n"
    "  --model FILE        a model written by bpnn-cl train --out\n"
    "  --confusion FILE    also draw the confusion matrix as a heat map (PNG)\n" CLI_DATA_HELP
        CLI_DEVICE_HELP "  (--precision defaults to the model's)\n\n" CLI_EXIT_HELP;

static const struct option options[] = {
    CLI_DATA_OPTIONS,
    CLI_DEVICE_OPTIONS,
    {"model", required_argument, NULL, OPT_MODEL},
    {"confusion", required_argument, NULL, OPT_CONFUSION},
    {NULL, 0, NULL, 0},
};

/* The name of class k: the model's, else the label as the files write it. */
static const char *class_name(const bpnn_model *model, int k, char *buffer, size_t size)
{
    if (model->class_names)
        return model->class_names[k];
    snprintf(buffer, size, "%ld", cli_label(k, model->label_offset));
    return buffer;
}

/* --confusion: the heat map, class names or labels along the sides. */
static bpnn_status draw_confusion(const classification *c, const size_t *confusion, int classes,
                                  double accuracy, const char *path)
{
    char(*labels)[32] = malloc((size_t)classes * sizeof *labels);
    const char **names = malloc((size_t)classes * sizeof *names);
    bpnn_status status = BPNN_OK;
    if (!labels || !names)
        status = bpnn_fail_oom("confusion picture");
    for (int k = 0; status == BPNN_OK && k < classes; k++)
        names[k] = class_name(c->model, k, labels[k], sizeof labels[k]);
    char title[128];
    snprintf(title, sizeof title, "Confusion matrix: accuracy %.2f%% (%zu samples)", 100 * accuracy,
             c->data.rows);
    if (status == BPNN_OK)
        status = picture_confusion(confusion, classes, names, title, path);
    free(labels);
    free(names);
    return status;
}

static void print_text(const classification *c, const size_t *confusion, int classes,
                       double accuracy)
{
    char name[32];
    if (c->model->epoch > 0)
        printf("model: parameters of epoch %d\n", c->model->epoch);
    printf("accuracy: %.2f%% (%zu samples)\n\n%-12s %8s %8s\n", 100 * accuracy, c->data.rows,
           "class", "samples", "accuracy");
    for (int k = 0; k < classes; k++) {
        size_t total = 0;
        for (int j = 0; j < classes; j++)
            total += confusion[(size_t)k * classes + j];
        printf("%-12s %8zu ", class_name(c->model, k, name, sizeof name), total);
        if (total)
            printf("%7.2f%%\n", 100.0 * confusion[(size_t)k * classes + k] / total);
        else
            printf("%8s\n", "-");
    }
    printf("\nconfusion (rows: true class, columns: predicted)\n%12s", "");
    for (int j = 0; j < classes; j++)
        printf(" %6ld", cli_label(j, c->model->label_offset));
    putchar('\n');
    for (int k = 0; k < classes; k++) {
        printf("%-12.12s", class_name(c->model, k, name, sizeof name));
        for (int j = 0; j < classes; j++)
            printf(" %6zu", confusion[(size_t)k * classes + j]);
        putchar('\n');
    }
}

static void print_json(const classification *c, const size_t *confusion, int classes,
                       double accuracy)
{
    char name[32];
    json_t *recall = json_array(), *matrix = json_array(), *names = json_array();
    for (int k = 0; k < classes; k++) {
        size_t total = 0;
        json_t *row = json_array();
        for (int j = 0; j < classes; j++) {
            total += confusion[(size_t)k * classes + j];
            json_array_append_new(row,
                                  json_integer((json_int_t)confusion[(size_t)k * classes + j]));
        }
        json_array_append_new(matrix, row);
        json_array_append_new(
            recall, total ? json_real((double)confusion[(size_t)k * classes + k] / (double)total)
                          : json_null());
        if (c->model->class_names)
            json_array_append_new(names, json_string(c->model->class_names[k]));
        else
            json_array_append_new(names, json_string(class_name(c->model, k, name, sizeof name)));
    }
    cli_print_json(json_pack("{s:o, s:o, s:o, s:o, s:I, s:i}", "accuracy",
                             cli_json_number(accuracy), "per_class_accuracy", recall, "confusion",
                             matrix, "classes", names, "samples", (json_int_t)c->data.rows,
                             "model_epoch", c->model->epoch));
}

int cmd_eval(int argc, char **argv)
{
    classify_args a;
    bpnn_status status =
        classify_parse("eval", argc, argv, options, OPT_CONFUSION, "confusion", help, &a);
    if (a.help_shown)
        return 0;
    const cli_data data = a.data;
    const cli_device device = a.device;
    const char *model_path = a.model_path, *confusion_path = a.out_path;
    classification c = {0};
    size_t *confusion = NULL;
    if (status == BPNN_OK)
        status = classify(model_path, &data, &device, 0, &c);
    if (status == BPNN_OK && !c.data.labels)
        status = bpnn_fail(BPNN_ERR_INVALID, "eval needs labelled data: %s", data.data_path);
    int classes = c.model ? bpnn_model_class_count(c.model) : 0;
    if (status == BPNN_OK && !(confusion = calloc((size_t)classes * classes, sizeof *confusion)))
        status = bpnn_fail_oom("confusion matrix");
    if (status == BPNN_OK) {
        size_t correct = 0;
        for (size_t i = 0; i < c.data.rows; i++) {
            confusion[(size_t)c.data.labels[i] * classes + c.predicted[i]]++;
            correct += c.data.labels[i] == c.predicted[i];
        }
        double accuracy = (double)correct / (double)c.data.rows;
        if (confusion_path)
            status = draw_confusion(&c, confusion, classes, accuracy, confusion_path);
        if (status == BPNN_OK && device.json)
            print_json(&c, confusion, classes, accuracy);
        else if (status == BPNN_OK)
            print_text(&c, confusion, classes, accuracy);
    }
    free(confusion);
    classification_free(&c);
    return status == BPNN_OK ? 0 : cli_fail(device.json, status);
}
