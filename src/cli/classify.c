#include "classify.h"

#include <stdlib.h>

#include "same_file.h"

bpnn_status classify_parse(const char *command, int argc, char **argv, const struct option *options,
                           int out_code, const char *out_flag, const char *help, classify_args *a)
{
    *a = (classify_args){.out_flag = out_flag};
    cli_data_init(&a->data);
    cli_device_init(&a->device);
    int code, handled;
    while ((code = cli_next_option(command, argc, argv, options)) != -1) {
        if (code == '?')
            return BPNN_ERR_INVALID;
        if ((handled = cli_data_option(&a->data, code, optarg)) ||
            (handled = cli_device_option(&a->device, code, optarg))) {
            if (handled < 0)
                return BPNN_ERR_INVALID;
        } else if (code == OPT_HELP) {
            fputs(help, stdout);
            a->help_shown = 1;
            return BPNN_OK;
        } else if (code == OPT_MODEL) {
            a->model_path = optarg;
        } else if (code == OPT_PROBA) {
            a->proba = 1;
        } else if (code == out_code) {
            a->out_path = optarg;
        }
    }
    if (!a->out_path)
        return BPNN_OK;
    BPNN_TRY(cli_check_writable(out_flag, a->out_path));
    char out_option[64];
    snprintf(out_option, sizeof out_option, "--%s", out_flag);
    const cli_file files[] = {
        {"--model", a->model_path, 0, NULL},
        {"--data", a->data.data_path, 0, NULL},
        {"--labels", a->data.labels_path, 0, NULL},
        {out_option, a->out_path, 1, NULL},
    };
    return cli_check_same_files(files, sizeof files / sizeof *files);
}

bpnn_status classify(const char *model_path, const cli_data *data, const cli_device *device,
                     int with_scores, classification *out)
{
    *out = (classification){0};
    if (!model_path)
        return bpnn_fail(BPNN_ERR_INVALID, "no model given: --model FILE is required");
    BPNN_TRY(bpnn_model_load(model_path, &out->model));
    cli_device opened = *device;
    if (!device->precision_given) /* else: e.g. an f64 model evaluated in f32 */
        opened.precision = out->model->precision;
    BPNN_TRY(cli_open_device(&opened, &out->device));
    cli_data read = *data;
    if (!read.labels_from_given)
        read.load.label_offset = out->model->label_offset;
    BPNN_TRY(cli_load_data(&read, "t10k", &out->data, &out->is_fashion));
    if (out->data.features != (size_t)out->model->sizes[0])
        return bpnn_fail(BPNN_ERR_INVALID,
                         "sizes do not match: the data have %zu features, the model's input "
                         "layer %d: %s",
                         out->data.features, out->model->sizes[0], model_path);
    if (out->data.labels)
        BPNN_TRY(
            bpnn_dataset_check_labels(&out->data, bpnn_model_class_count(out->model),
                                      data->data_path ? data->data_path : "Fashion-MNIST t10k"));
    bpnn_normalize_apply(out->model, &out->data);
    out->predicted = malloc((out->data.rows ? out->data.rows : 1) * sizeof *out->predicted);
    if (!out->predicted)
        return bpnn_fail_oom("predictions");
    if (with_scores) {
        size_t k = (size_t)bpnn_model_class_count(out->model);
        out->scores = malloc((out->data.rows ? out->data.rows : 1) * k * sizeof *out->scores);
        if (!out->scores)
            return bpnn_fail_oom("the output activations");
        BPNN_TRY(bpnn_predict_scores(out->device, out->model, &out->data, out->scores));
    }
    return bpnn_predict(out->device, out->model, &out->data, out->predicted);
}

void classification_free(classification *c)
{
    free(c->predicted);
    free(c->scores);
    bpnn_dataset_free(&c->data);
    bpnn_model_free(c->model);
    bpnn_device_close(c->device);
}
