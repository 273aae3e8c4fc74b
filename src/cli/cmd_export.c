/* cmd_export.c — bpnn-cl export: the weights as files other tools read. */
#include <stdlib.h>
#include <string.h>

#include "bpnn.h"
#include "cli.h"
#include "same_file.h"

static const char help[] =
    "Usage: bpnn-cl export --model FILE --out DIR [--format csv|npy]\n"
    "Writes Theta1, Theta2 ... of a model into DIR, one file per layer, each\n"
    "s_{l+1} rows by s_l + 1 columns with the bias weights first (the seed's\n"
    "layout): CSV with %.9g (f32 models) or %.17g (f64) numbers in the C locale,\n"
    "or NumPy .npy ('<f4' or '<f8'). The files are replaced together, all or none:\n"
    "an export that fails leaves the earlier one whole.\n"
    "\n" CLI_EXIT_HELP;

static const struct option options[] = {
    {"model", required_argument, NULL, OPT_MODEL},
    {"out", required_argument, NULL, OPT_OUT},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* The model is not among the files the export writes (Theta1 ... of the
 * model's layer count). */
static bpnn_status check_same_files(const char *model_path, const char *dir, const char *format,
                                    int count)
{
    cli_file files[BPNN_MAX_LAYERS] = {{"--model", model_path, 0, NULL}};
    bpnn_status status = BPNN_OK;
    for (int l = 1; l <= count && status == BPNN_OK; l++) {
        files[l] = (cli_file){"--out", bpnn_export_path(dir, l, format), 1, NULL};
        if (!files[l].path)
            status = bpnn_fail_oom("export file name");
    }
    if (status == BPNN_OK)
        status = cli_check_same_files(files, (size_t)count + 1);
    for (int l = 1; l <= count; l++)
        free((char *)files[l].path);
    return status;
}

int cmd_export(int argc, char **argv)
{
    const char *model_path = NULL, *out_dir = NULL, *format = "csv";
    bpnn_status status = BPNN_OK;
    int code;
    while (status == BPNN_OK && (code = cli_next_option("export", argc, argv, options)) != -1) {
        switch (code) {
        case '?': status = BPNN_ERR_INVALID; break;
        case OPT_HELP: fputs(help, stdout); return 0;
        case OPT_MODEL: model_path = optarg; break;
        case OPT_OUT: out_dir = optarg; break;
        case OPT_FORMAT: format = optarg; break;
        }
    }
    if (status == BPNN_OK && strcmp(format, "csv") != 0 && strcmp(format, "npy") != 0)
        status =
            bpnn_fail(BPNN_ERR_INVALID, "unknown format: --format %s: expected csv or npy", format);
    if (status == BPNN_OK && (!model_path || !out_dir))
        status = bpnn_fail(BPNN_ERR_INVALID,
                           "export needs --model FILE and --out DIR: see bpnn-cl export --help");
    bpnn_model *model = NULL;
    if (status == BPNN_OK)
        status = bpnn_model_load(model_path, &model);
    if (status == BPNN_OK)
        status = check_same_files(model_path, out_dir, format, model->layer_count - 1);
    if (status == BPNN_OK)
        status = strcmp(format, "csv") == 0 ? bpnn_export_csv(model, out_dir)
                                            : bpnn_export_npy(model, out_dir);
    if (status == BPNN_OK)
        fprintf(stderr, "bpnn-cl: %d weight matrices written to %s as %s\n", model->layer_count - 1,
                out_dir, format);
    bpnn_model_free(model);
    return status == BPNN_OK ? 0 : cli_fail(0, status);
}
