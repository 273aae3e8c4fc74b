/* cmd_show.c — bpnn-cl show: pictures of data samples, of hidden units'
 * input weights and of training curves, as PNG files. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "picture.h"
#include "same_file.h"

static const char usage[] =
    "Usage: bpnn-cl show data|weights|curve [OPTIONS] --out FILE.png\n"
    "Draws a picture as a PNG file (replaced whole or not at all):\n"
    "  data      random samples of a data set in a grid (default: Fashion-MNIST)\n"
    "  weights   each hidden unit's input weights as an image (--model FILE)\n"
    "  curve     cost and accuracy against the iteration from a train --log file\n"
    "Also: bpnn-cl train --plot FILE.png, bpnn-cl eval --confusion FILE.png.\n"
    "\n"
    "  bpnn-cl show PICTURE --help   options of a picture\n"
    "\n" CLI_EXIT_HELP;

#define GRID_HELP(image_default, order_default)                                                    \
    "  --image WxH         image width and height (default: " image_default ",\n"                  \
    "                      else the square root of the pixel count)\n"                             \
    "  --order row|column  pixels of an image one row after another (C, IDX) or one\n"             \
    "                      column after another (MATLAB's img(:)'); " order_default "\n"           \
    "  --scale N           output pixels per image pixel (default: tiles about 80\n"               \
    "                      pixels wide, 3 for 28x28)\n"                                            \
    "  --out FILE          the PNG file to write\n"

static const char data_help[] =
    "Usage: bpnn-cl show data [OPTIONS] --out FILE.png\n"
    "Random samples in a near-square grid (floor(sqrt(count)) rows), one pixel of\n"
    "padding, each image in gray scaled to its own range (the seed's display_data).\n"
    "With no --data: Fashion-MNIST's training images.\n"
    "\n"
    "  --count N           how many samples (default 100, or all when fewer)\n"
    "  --seed N            which samples (default 1)\n"
    "  --captions          the class name (or label) under each image\n" GRID_HELP(
        "from IDX data", "default: column\n"
                         "                      for MAT data, else row") CLI_DATA_HELP
    "\n" CLI_EXIT_HELP;

static const char weights_help[] =
    "Usage: bpnn-cl show weights --model FILE [OPTIONS] --out FILE.png\n"
    "One image per unit of layer L+1: the weights from layer L into it (Theta_L's\n"
    "row, the bias excluded), in gray scaled to each unit's own range, in a\n"
    "near-square grid. Layer 1 shows the first hidden layer's units as images of\n"
    "the input.\n"
    "\n"
    "  --model FILE        a model written by bpnn-cl train --out\n"
    "  --layer L           which Theta (default 1)\n" GRID_HELP("the model's, for layer 1",
                                                                "default: row") "\n" CLI_EXIT_HELP;

static const char curve_help[] =
    "Usage: bpnn-cl show curve --log FILE [OPTIONS] --out FILE.png\n"
    "The cost and, when the log has them (train --log-accuracy), the train and test\n"
    "accuracy against the iteration, from a log written by bpnn-cl train --log.\n"
    "A log that several runs appended to holds several curves: the last is drawn.\n"
    "\n"
    "  --log FILE          the JSONL log\n"
    "  --title TEXT        the title (default: Training curve: FILE)\n"
    "  --out FILE          the PNG file to write\n"
    "\n" CLI_EXIT_HELP;

static const struct option data_options[] = {
    CLI_DATA_OPTIONS,
    {"count", required_argument, NULL, OPT_COUNT},
    {"seed", required_argument, NULL, OPT_SEED},
    {"captions", no_argument, NULL, OPT_CAPTIONS},
    {"image", required_argument, NULL, OPT_IMAGE},
    {"order", required_argument, NULL, OPT_ORDER},
    {"scale", required_argument, NULL, OPT_SCALE},
    {"out", required_argument, NULL, OPT_OUT},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static const struct option weights_options[] = {
    {"model", required_argument, NULL, OPT_MODEL}, {"layer", required_argument, NULL, OPT_LAYER},
    {"image", required_argument, NULL, OPT_IMAGE}, {"order", required_argument, NULL, OPT_ORDER},
    {"scale", required_argument, NULL, OPT_SCALE}, {"out", required_argument, NULL, OPT_OUT},
    {"help", no_argument, NULL, OPT_HELP},         {NULL, 0, NULL, 0},
};

static const struct option curve_options[] = {
    {"log", required_argument, NULL, OPT_LOG},
    {"title", required_argument, NULL, OPT_TITLE},
    {"out", required_argument, NULL, OPT_OUT},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* The options the grid pictures share. */
typedef struct grid_args {
    const char *out_path;
    int width, height; /* --image; 0 when not given */
    int order;         /* -1 not given, 0 row, 1 column */
    int scale;
} grid_args;

static bpnn_status parse_image(const char *arg, int *width, int *height)
{
    char *end;
    errno = 0;
    long w = strtol(arg, &end, 10), h = 0;
    if (end != arg && (*end == 'x' || *end == 'X')) {
        const char *rest = end + 1;
        h = strtol(rest, &end, 10);
        if (end == rest)
            h = 0;
    }
    if (errno || *end != '\0' || w < 1 || h < 1 || w > 100000 || h > 100000)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "malformed --image %s: expected WIDTHxHEIGHT, e.g. 28x28", arg);
    *width = (int)w;
    *height = (int)h;
    return BPNN_OK;
}

/* 1 when `code` was a grid option (handled or failed: *status says), else 0. */
static int grid_option(grid_args *g, int code, const char *arg, bpnn_status *status)
{
    long v;
    *status = BPNN_OK;
    switch (code) {
    case OPT_OUT: g->out_path = arg; return 1;
    case OPT_IMAGE: *status = parse_image(arg, &g->width, &g->height); return 1;
    case OPT_SCALE:
        if ((*status = cli_parse_long("scale", arg, 1, 64, &v)) == BPNN_OK)
            g->scale = (int)v;
        return 1;
    case OPT_ORDER:
        if (strcmp(arg, "row") == 0)
            g->order = 0;
        else if (strcmp(arg, "column") == 0)
            g->order = 1;
        else
            *status =
                bpnn_fail(BPNN_ERR_INVALID, "bad value: --order %s: expected row or column", arg);
        return 1;
    default: return 0;
    }
}

static bpnn_status check_out(const char *command, const char *out_path)
{
    if (!out_path)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "no output file: bpnn-cl %s needs --out FILE.png: see bpnn-cl %s --help",
                         command, command);
    return cli_check_writable("out", out_path);
}

/* The image shape: --image, else what the source knows, else a square. */
static bpnn_status image_shape(const grid_args *g, size_t pixels, int known_width, int known_height,
                               const char *source, int *width, int *height)
{
    if (g->width) {
        if ((size_t)g->width * (size_t)g->height != pixels)
            return bpnn_fail(
                BPNN_ERR_INVALID, "sizes do not match: --image %dx%d is %zu pixels, %s has %zu",
                g->width, g->height, (size_t)g->width * (size_t)g->height, source, pixels);
        *width = g->width;
        *height = g->height;
        return BPNN_OK;
    }
    if (known_width > 0 && (size_t)known_width * (size_t)known_height == pixels) {
        *width = known_width;
        *height = known_height;
        return BPNN_OK;
    }
    size_t side = 1;
    while ((side + 1) * (side + 1) <= pixels)
        side++;
    if (side * side != pixels || side > INT_MAX)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "unknown image shape: %s has %zu values per image, not a square: give "
                         "--image WIDTHxHEIGHT",
                         source, pixels);
    *width = *height = (int)side;
    return BPNN_OK;
}

static void report_grid(const picture_tiles *t, const char *what, const char *path)
{
    size_t rows, columns;
    int width, height;
    picture_grid_shape(t->count, &rows, &columns);
    picture_grid_size(t, &width, &height);
    fprintf(stderr, "bpnn-cl: %zu %s of %dx%d in a %zux%zu grid (%dx%d pixels) written to %s\n",
            t->count, what, t->width, t->height, rows, columns, width, height, path);
}

/* ---- show data ---------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

typedef struct data_picture {
    cli_data data;
    grid_args grid;
    long count;
    uint64_t seed;
    int captions;
    bpnn_dataset set;
    int is_fashion;
    size_t *rows;
    double *values;
    char **captions_text; /* `shown` entries */
    size_t shown;
} data_picture;

static bpnn_status show_data_run(data_picture *d)
{
    BPNN_TRY(check_out("show data", d->grid.out_path));
    const cli_file files[] = {
        {"--data", d->data.data_path, 0, NULL},
        {"--labels", d->data.labels_path, 0, NULL},
        {"--out", d->grid.out_path, 1, NULL},
    };
    BPNN_TRY(cli_check_same_files(files, sizeof files / sizeof *files));
    BPNN_TRY(cli_load_data(&d->data, "train", &d->set, &d->is_fashion));
    const char *source = d->data.data_path ? d->data.data_path : "Fashion-MNIST";
    int width, height;
    BPNN_TRY(image_shape(&d->grid, d->set.features, d->set.image_width, d->set.image_height, source,
                         &width, &height));
    size_t count = d->count > 0 ? (size_t)d->count : d->set.rows < 100 ? d->set.rows : 100;
    if (count > d->set.rows)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "count exceeds the data: --count %zu, %s holds %zu samples", count, source,
                         d->set.rows);

    /* The first `count` places of a seeded shuffle (Fisher-Yates). */
    d->rows = malloc(d->set.rows * sizeof *d->rows);
    d->values = malloc(count * d->set.features * sizeof *d->values);
    d->captions_text = calloc(count, sizeof *d->captions_text);
    if (!d->rows || !d->values || !d->captions_text)
        return bpnn_fail_oom("picture of the data");
    d->shown = count;
    for (size_t i = 0; i < d->set.rows; i++)
        d->rows[i] = i;
    uint64_t state = d->seed;
    for (size_t i = 0; i < count; i++) {
        size_t j = i + (size_t)(splitmix64(&state) % (d->set.rows - i));
        size_t swap = d->rows[i];
        d->rows[i] = d->rows[j];
        d->rows[j] = swap;
        memcpy(d->values + i * d->set.features, d->set.x + d->rows[i] * d->set.features,
               d->set.features * sizeof *d->values);
        if (!d->captions)
            continue;
        char text[64];
        if (!d->set.labels)
            snprintf(text, sizeof text, "#%zu", d->rows[i] + 1);
        else if (d->is_fashion && d->set.labels[d->rows[i]] < 10)
            snprintf(text, sizeof text, "%s", cli_fashion_mnist_classes[d->set.labels[d->rows[i]]]);
        else
            snprintf(text, sizeof text, "%ld",
                     cli_label(d->set.labels[d->rows[i]], d->data.load.label_offset));
        if (!(d->captions_text[i] = strdup(text)))
            return bpnn_fail_oom("captions");
    }
    int column_major = d->grid.order >= 0 ? d->grid.order : bpnn_is_mat_file(d->data.data_path);
    picture_tiles tiles = {.values = d->values,
                           .count = count,
                           .stride = d->set.features,
                           .width = width,
                           .height = height,
                           .column_major = column_major,
                           .captions = d->captions ? (const char *const *)d->captions_text : NULL,
                           .scale = d->grid.scale};
    BPNN_TRY(picture_grid(&tiles, d->grid.out_path));
    report_grid(&tiles, "samples", d->grid.out_path);
    return BPNN_OK;
}

static int show_data(int argc, char **argv)
{
    data_picture d = {.grid = {.order = -1}, .seed = 1};
    cli_data_init(&d.data);
    bpnn_status status = BPNN_OK;
    int code, handled;
    long v;
    while (status == BPNN_OK &&
           (code = cli_next_option("show data", argc, argv, data_options)) != -1) {
        if (code == '?')
            status = BPNN_ERR_INVALID;
        else if ((handled = cli_data_option(&d.data, code, optarg)))
            status = handled < 0 ? BPNN_ERR_INVALID : BPNN_OK;
        else if (grid_option(&d.grid, code, optarg, &status))
            continue;
        else if (code == OPT_HELP) {
            fputs(data_help, stdout);
            return 0;
        } else if (code == OPT_COUNT)
            status = cli_parse_long("count", optarg, 1, 10000, &d.count);
        else if (code == OPT_SEED) {
            if ((status = cli_parse_long("seed", optarg, 0, LONG_MAX, &v)) == BPNN_OK)
                d.seed = (uint64_t)v;
        } else if (code == OPT_CAPTIONS)
            d.captions = 1;
    }
    if (status == BPNN_OK)
        status = show_data_run(&d);
    for (size_t i = 0; d.captions_text && i < d.shown; i++)
        free(d.captions_text[i]);
    free(d.captions_text);
    free(d.values);
    free(d.rows);
    bpnn_dataset_free(&d.set);
    return status == BPNN_OK ? 0 : cli_fail(0, status);
}

/* ---- show weights ------------------------------------------------------------- */

static bpnn_status show_weights_run(const char *model_path, int layer, const grid_args *g)
{
    BPNN_TRY(check_out("show weights", g->out_path));
    const cli_file files[] = {{"--model", model_path, 0, NULL}, {"--out", g->out_path, 1, NULL}};
    BPNN_TRY(cli_check_same_files(files, sizeof files / sizeof *files));
    if (!model_path)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "no model given: --model FILE is required: see bpnn-cl show weights "
                         "--help");
    bpnn_model *model = NULL;
    BPNN_TRY(bpnn_model_load(model_path, &model));
    bpnn_status status = BPNN_OK;
    if (layer > model->layer_count - 1) {
        status = bpnn_fail(BPNN_ERR_INVALID, "no such layer: --layer %d: %s has Theta_1..Theta_%d",
                           layer, model_path, model->layer_count - 1);
    } else {
        int inputs = model->sizes[layer - 1], units = model->sizes[layer];
        int width = 0, height = 0;
        char source[4200];
        snprintf(source, sizeof source, "Theta_%d of %s", layer, model_path);
        status = image_shape(g, (size_t)inputs, layer == 1 ? model->image_width : 0,
                             layer == 1 ? model->image_height : 0, source, &width, &height);
        if (status == BPNN_OK) {
            /* Row j of Theta_L, bias column skipped: the weights into unit j. */
            picture_tiles tiles = {.values =
                                       model->params + bpnn_theta_offset(model->sizes, layer) + 1,
                                   .count = (size_t)units,
                                   .stride = (size_t)inputs + 1,
                                   .width = width,
                                   .height = height,
                                   .column_major = g->order > 0,
                                   .scale = g->scale};
            status = picture_grid(&tiles, g->out_path);
            if (status == BPNN_OK)
                report_grid(&tiles, "units", g->out_path);
        }
    }
    bpnn_model_free(model);
    return status;
}

static int show_weights(int argc, char **argv)
{
    grid_args g = {.order = -1};
    const char *model_path = NULL;
    long layer = 1;
    bpnn_status status = BPNN_OK;
    int code;
    while (status == BPNN_OK &&
           (code = cli_next_option("show weights", argc, argv, weights_options)) != -1) {
        if (code == '?')
            status = BPNN_ERR_INVALID;
        else if (grid_option(&g, code, optarg, &status))
            continue;
        else if (code == OPT_HELP) {
            fputs(weights_help, stdout);
            return 0;
        } else if (code == OPT_MODEL)
            model_path = optarg;
        else if (code == OPT_LAYER)
            status = cli_parse_long("layer", optarg, 1, BPNN_MAX_LAYERS - 1, &layer);
    }
    if (status == BPNN_OK)
        status = show_weights_run(model_path, (int)layer, &g);
    return status == BPNN_OK ? 0 : cli_fail(0, status);
}

/* ---- show curve --------------------------------------------------------------- */

static bpnn_status show_curve_run(const char *log_path, const char *title, const char *out_path)
{
    BPNN_TRY(check_out("show curve", out_path));
    const cli_file files[] = {{"--log", log_path, 0, NULL}, {"--out", out_path, 1, NULL}};
    BPNN_TRY(cli_check_same_files(files, sizeof files / sizeof *files));
    if (!log_path)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "no log given: --log FILE is required (written by bpnn-cl train --log "
                         "FILE): see bpnn-cl show curve --help");
    bpnn_iteration *records = NULL;
    size_t count = 0;
    int runs = 0;
    const char *x_label = "iteration";
    size_t torn = 0;
    BPNN_TRY(picture_read_log(log_path, &records, &count, &runs, &x_label, &torn));
    char default_title[512];
    if (!title) {
        char *copy = strdup(log_path);
        snprintf(default_title, sizeof default_title, "Training curve: %s",
                 copy ? basename(copy) : log_path);
        free(copy);
        title = default_title;
    }
    bpnn_status status = picture_curve(records, count, x_label, title, out_path);
    if (status == BPNN_OK) {
        if (torn)
            fprintf(stderr,
                    "bpnn-cl: skipped %zu torn line%s in %s (a record cut short by a run that "
                    "stopped while writing it)\n",
                    torn, torn == 1 ? "" : "s", log_path);
        if (runs > 1)
            fprintf(stderr, "bpnn-cl: %s holds %d runs; the last one is drawn\n", log_path, runs);
        fprintf(stderr, "bpnn-cl: curve of %zu %ss written to %s\n", count, x_label, out_path);
    }
    free(records);
    return status;
}

static int show_curve(int argc, char **argv)
{
    const char *log_path = NULL, *title = NULL, *out_path = NULL;
    bpnn_status status = BPNN_OK;
    int code;
    while (status == BPNN_OK &&
           (code = cli_next_option("show curve", argc, argv, curve_options)) != -1) {
        switch (code) {
        case '?': status = BPNN_ERR_INVALID; break;
        case OPT_HELP: fputs(curve_help, stdout); return 0;
        case OPT_LOG: log_path = optarg; break;
        case OPT_TITLE: title = optarg; break;
        case OPT_OUT: out_path = optarg; break;
        }
    }
    if (status == BPNN_OK)
        status = show_curve_run(log_path, title, out_path);
    return status == BPNN_OK ? 0 : cli_fail(0, status);
}

/* ---- dispatch ------------------------------------------------------------------ */

int cmd_show(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *picture = argv[1];
    if (strcmp(picture, "--help") == 0 || strcmp(picture, "-h") == 0 ||
        strcmp(picture, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(picture, "data") == 0)
        return show_data(argc - 1, argv + 1);
    if (strcmp(picture, "weights") == 0)
        return show_weights(argc - 1, argv + 1);
    if (strcmp(picture, "curve") == 0)
        return show_curve(argc - 1, argv + 1);
    bpnn_fail(BPNN_ERR_INVALID, "unknown picture: show %s: expected data, weights or curve",
              picture);
    return cli_fail(0, BPNN_ERR_INVALID);
}
