/* cmd_bench.c — bpnn-cl bench: how fast each device trains a network of a
 * given shape on synthetic data, measured against the rate of the device's
 * own GEMMs on exactly that training step's shapes, in the same run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "Usage: bpnn-cl bench [OPTIONS]\n"
    "Measures on each device, on synthetic data of the network's shape (no data\n"
    "set needed), one after another in this run:\n"
    "  gemm       the GEMMs of one mini-batch step (forward, weight gradient and\n"
    "             delta products, exactly as a step runs them), GFLOP/s\n"
    "  train      Adam mini-batch training: samples/s and the GEMM GFLOP/s it\n"
    "             achieves; efficiency = train GFLOP/s / gemm GFLOP/s\n"
    "  eval       full-batch cost-and-gradient evaluations per second (what CG\n"
    "             and L-BFGS pay per evaluation) over --samples rows\n"
    "FLOPs per step: 2 b s_l s_(l+1) per product, 2 products for the first layer\n"
    "and 3 for the others (b the batch, s the layer sizes). Each figure is the\n"
    "median of --repeat timings (min and max beside it), warm-up excluded. On\n"
    "OpenCL the training epochs also split into device time in GEMMs and in our\n"
    "kernels (profiling events) and the host's waits for the device (transfers\n"
    "and scalars), and the one-time costs (opening the device, the first step's\n"
    "program builds) are given apart.\n"
    "\n"
    "  --device D          cpu, gpu, opencl, opencl:P:D, auto, or all; repeat it\n"
    "                      for several (default auto)\n"
    "  --layers L          network (default 784,256,10)\n"
    "  --batch N           mini-batch rows (default 256)\n"
    "  --steps N           steps per timed epoch (default 50)\n"
    "  --samples M         rows of the full-batch evaluations (default 5000)\n"
    "  --repeat N          timed epochs and evaluations (default 5); the GEMMs are\n"
    "                      timed step by step, as many steps as the epochs take\n"
    "  --precision P       f32 or f64 (default f32)\n"
    "  --threads N         host threads for BLAS and our loops\n"
    "  --json              one JSON object on stdout: {\"devices\": [...]}\n"
    "\n" CLI_EXIT_HELP;

enum { MAX_DEVICES = 16 };

static const struct option options[] = {
    CLI_DEVICE_OPTIONS,
    {"layers", required_argument, NULL, OPT_LAYERS},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"steps", required_argument, NULL, OPT_COUNT},
    {"samples", required_argument, NULL, OPT_LIMIT},
    {"repeat", required_argument, NULL, OPT_REPEAT},
    {NULL, 0, NULL, 0},
};

typedef struct bench_args {
    cli_device device;
    const char *specs[MAX_DEVICES];
    int spec_count;
    int layer_count, sizes[BPNN_MAX_LAYERS];
    long batch, steps, samples, repeat;
} bench_args;

/* The median, the least and the largest of `count` values (sorted here). */
typedef struct spread {
    double median, min, max;
} spread;

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static spread spread_of(double *values, int count)
{
    qsort(values, (size_t)count, sizeof *values, compare_doubles);
    double median =
        count % 2 ? values[count / 2] : 0.5 * (values[count / 2 - 1] + values[count / 2]);
    return (spread){median, values[0], values[count - 1]};
}

/* Rates from times: work / seconds, so the slowest time gives the min rate. */
static spread rate_of(spread seconds, double work)
{
    return (spread){work / seconds.median, work / seconds.max, work / seconds.min};
}

/* What one device measured. */
typedef struct device_figures {
    char spec[32], name[128];
    double open_seconds, first_step_seconds;
    spread gemm_gflops, train_samples, eval_per_s;
    double train_gflops, efficiency, flops_per_sample;
    int opencl;
    bpnn_tuning_info tuning;  /* OpenCL: the GEMM parameters in use */
    bpnn_device_stats epochs; /* the timed epochs' device statistics */
    double epochs_seconds;
} device_figures;

static bpnn_status synthetic_data(int classes, size_t features, size_t m, bpnn_dataset *data)
{
    *data = (bpnn_dataset){.rows = m, .features = features};
    data->x = malloc(m * features * sizeof *data->x);
    data->labels = malloc(m * sizeof *data->labels);
    if (!data->x || !data->labels)
        return bpnn_fail_oom("benchmark data");
    unsigned long long state = 88172645463325252ULL; /* xorshift64: any fixed data will do */
    for (size_t i = 0; i < m * features; i++) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        data->x[i] = (double)(state >> 11) * 0x1.0p-53;
    }
    for (size_t i = 0; i < m; i++)
        data->labels[i] = (int32_t)(i % (size_t)classes);
    return BPNN_OK;
}

/* Per-epoch seconds of the training run, from its epoch reports; the device
 * statistics are taken when the first (warm-up) epoch ends and when the last
 * ends (each wait for the device costs a timed epoch a sync of its own). */
typedef struct epoch_clock {
    bpnn_device *device;
    double *seconds;
    int count;
    bpnn_device_stats after_warmup, after_last;
    double warmup_seconds;
} epoch_clock;

static int on_epoch(const bpnn_iteration *it, void *user)
{
    epoch_clock *clock = user;
    if (it->kind != BPNN_PROGRESS_EPOCH)
        return 0;
    if (it->epoch == 1) {
        clock->warmup_seconds = it->epoch_seconds;
        bpnn_device_get_stats(clock->device, &clock->after_warmup);
    } else {
        clock->seconds[clock->count++] = it->epoch_seconds;
        bpnn_device_get_stats(clock->device, &clock->after_last);
    }
    return 0;
}

static bpnn_status measure_training(const bench_args *a, bpnn_device *device, device_figures *f)
{
    bpnn_model *model = NULL;
    bpnn_dataset data = {0};
    int classes = a->sizes[a->layer_count - 1];
    epoch_clock clock = {.device = device};
    clock.seconds = malloc((size_t)a->repeat * sizeof *clock.seconds);
    bpnn_status status = clock.seconds ? BPNN_OK : bpnn_fail_oom("benchmark timings");
    if (status == BPNN_OK)
        status = bpnn_model_create(a->layer_count, a->sizes, a->device.precision, &model);
    if (status == BPNN_OK)
        status = synthetic_data(classes, (size_t)a->sizes[0], (size_t)(a->batch * a->steps), &data);
    bpnn_train_result result;
    if (status == BPNN_OK) {
        bpnn_init_random(model, 1);
        bpnn_train_options o;
        bpnn_train_options_default(&o);
        o.optimizer = BPNN_OPT_ADAM;
        o.epochs = (int)a->repeat + 1; /* the first warms up */
        o.batch = (size_t)a->batch;
        o.lr_schedule = BPNN_LR_CONSTANT;
        o.progress = on_epoch;
        o.progress_user = &clock;
        bpnn_device_set_profiling(device, f->opencl);
        status = bpnn_train(device, model, &data, &o, &result);
    }
    if (status == BPNN_OK && clock.count != (int)a->repeat)
        status =
            bpnn_fail(BPNN_ERR_RUNTIME, "bench: %d timed epochs of %ld", clock.count, a->repeat);
    if (status == BPNN_OK) {
        /* the timed epochs alone (the final accuracy pass comes after) */
        const bpnn_device_stats now = clock.after_last, *w = &clock.after_warmup;
        f->epochs =
            (bpnn_device_stats){.gemm_seconds = now.gemm_seconds - w->gemm_seconds,
                                .kernel_seconds = now.kernel_seconds - w->kernel_seconds,
                                .gemm_calls = now.gemm_calls - w->gemm_calls,
                                .kernel_calls = now.kernel_calls - w->kernel_calls,
                                .host_syncs = now.host_syncs - w->host_syncs,
                                .host_wait_seconds = now.host_wait_seconds - w->host_wait_seconds};
        f->first_step_seconds = clock.warmup_seconds / (double)a->steps;
        for (int i = 0; i < clock.count; i++)
            f->epochs_seconds += clock.seconds[i];
        f->train_samples = rate_of(spread_of(clock.seconds, clock.count), (double)data.rows);
        f->flops_per_sample =
            bpnn_step_gemm_flops(a->layer_count, a->sizes, (size_t)a->batch) / (double)a->batch;
        f->train_gflops = f->train_samples.median * f->flops_per_sample * 1e-9;
    }
    bpnn_device_set_profiling(device, 0);
    free(clock.seconds);
    bpnn_dataset_free(&data);
    bpnn_model_free(model);
    return status;
}

static bpnn_status measure_evaluations(const bench_args *a, bpnn_device *device, device_figures *f)
{
    bpnn_model *model = NULL;
    bpnn_dataset data = {0};
    double *seconds = malloc((size_t)a->repeat * sizeof *seconds);
    bpnn_status status = seconds ? BPNN_OK : bpnn_fail_oom("benchmark timings");
    if (status == BPNN_OK)
        status = bpnn_model_create(a->layer_count, a->sizes, a->device.precision, &model);
    if (status == BPNN_OK)
        status = synthetic_data(a->sizes[a->layer_count - 1], (size_t)a->sizes[0],
                                (size_t)a->samples, &data);
    if (status == BPNN_OK) {
        bpnn_init_random(model, 1);
        status = bpnn_time_evaluations(device, model, &data, 1.0, (int)a->repeat, seconds);
    }
    if (status == BPNN_OK)
        f->eval_per_s = rate_of(spread_of(seconds, (int)a->repeat), 1.0);
    free(seconds);
    bpnn_dataset_free(&data);
    bpnn_model_free(model);
    return status;
}

static bpnn_status measure(const bench_args *a, const char *spec, device_figures *f)
{
    *f = (device_figures){0};
    cli_device one = a->device;
    one.spec = spec;
    bpnn_device *device = NULL;
    double started = cli_now();
    BPNN_TRY(cli_open_device(&one, &device));
    f->open_seconds = cli_now() - started;
    snprintf(f->spec, sizeof f->spec, "%s", bpnn_device_spec(device));
    snprintf(f->name, sizeof f->name, "%s", bpnn_device_name(device));
    f->opencl = bpnn_device_blas_core(device) == NULL;
    bpnn_device_tuning(device, &f->tuning);
    /* as many GEMM steps as training steps are timed (at most 10000), each
     * on its own: the median of many short timings stands the noise of a
     * shared machine */
    int gemm_steps = (int)(a->repeat * a->steps < 10000 ? a->repeat * a->steps : 10000);
    double *seconds = malloc((size_t)gemm_steps * sizeof *seconds);
    bpnn_status status = seconds ? BPNN_OK : bpnn_fail_oom("benchmark timings");
    if (status == BPNN_OK)
        status = bpnn_time_step_gemms(device, a->layer_count, a->sizes, (size_t)a->batch,
                                      gemm_steps, seconds);
    if (status == BPNN_OK)
        f->gemm_gflops =
            rate_of(spread_of(seconds, gemm_steps),
                    bpnn_step_gemm_flops(a->layer_count, a->sizes, (size_t)a->batch) * 1e-9);
    free(seconds);
    if (status == BPNN_OK)
        status = measure_training(a, device, f);
    if (status == BPNN_OK) {
        f->efficiency = f->train_gflops / f->gemm_gflops.median;
        status = measure_evaluations(a, device, f);
    }
    bpnn_device_close(device);
    return status;
}

static json_t *spread_json(spread s)
{
    return json_pack("{s:o, s:o, s:o}", "median", cli_json_number(s.median), "min",
                     cli_json_number(s.min), "max", cli_json_number(s.max));
}

static json_t *figures_json(const bench_args *a, const device_figures *f)
{
    json_t *layers = json_array();
    for (int l = 0; l < a->layer_count; l++)
        json_array_append_new(layers, json_integer(a->sizes[l]));
    json_t *o = json_object();
    json_object_set_new(o, "device", json_string(f->spec));
    json_object_set_new(o, "device_name", json_string(f->name));
    json_object_set_new(o, "precision", json_string(bpnn_precision_name(a->device.precision)));
    json_object_set_new(o, "layers", layers);
    json_object_set_new(o, "batch", json_integer(a->batch));
    json_object_set_new(o, "gemm_gflops", cli_json_number(f->gemm_gflops.median));
    json_object_set_new(o, "train_samples_per_s", cli_json_number(f->train_samples.median));
    json_object_set_new(o, "train_gflops", cli_json_number(f->train_gflops));
    json_object_set_new(o, "efficiency", cli_json_number(f->efficiency));
    json_object_set_new(o, "evaluations_per_s", cli_json_number(f->eval_per_s.median));
    json_object_set_new(o, "gemm_gflops_spread", spread_json(f->gemm_gflops));
    json_object_set_new(o, "train_samples_per_s_spread", spread_json(f->train_samples));
    json_object_set_new(o, "evaluations_per_s_spread", spread_json(f->eval_per_s));
    json_object_set_new(o, "flops_per_sample", cli_json_number(f->flops_per_sample));
    json_object_set_new(o, "evaluation_rows", json_integer(a->samples));
    json_object_set_new(o, "open_seconds", cli_json_number(f->open_seconds));
    json_object_set_new(o, "first_step_seconds", cli_json_number(f->first_step_seconds));
    if (f->opencl) {
        json_t *tuning = cli_json_tuning(&f->tuning);
        if (tuning)
            json_object_set_new(o, "gemm_tuning", tuning);
        const bpnn_device_stats *s = &f->epochs;
        json_object_set_new(
            o, "epochs_split",
            json_pack("{s:o, s:o, s:o, s:o, s:I, s:o}", "seconds",
                      cli_json_number(f->epochs_seconds), "gemm_seconds",
                      cli_json_number(s->gemm_seconds), "kernel_seconds",
                      cli_json_number(s->kernel_seconds), "host_wait_seconds",
                      cli_json_number(s->host_wait_seconds), "host_syncs",
                      (json_int_t)s->host_syncs, "host_syncs_per_step",
                      cli_json_number((double)s->host_syncs / (double)(a->repeat * a->steps))));
    }
    if (!f->opencl)
        json_object_set_new(o, "blas_core", json_string(bpnn_blas_core()));
    return o;
}

static void print_figures(const bench_args *a, const device_figures *f)
{
    printf("%s (%s), %s, batch %ld:\n", f->spec, f->name, bpnn_precision_name(a->device.precision),
           a->batch);
    printf("  gemm   %8.1f GFLOP/s    (min %.1f, max %.1f) on one step's GEMMs\n",
           f->gemm_gflops.median, f->gemm_gflops.min, f->gemm_gflops.max);
    printf("  train  %8.0f samples/s  (min %.0f, max %.0f) = %.1f GFLOP/s at %.3f MFLOP a "
           "sample: efficiency %.2f\n",
           f->train_samples.median, f->train_samples.min, f->train_samples.max, f->train_gflops,
           f->flops_per_sample * 1e-6, f->efficiency);
    printf("  eval   %8.2f per second (min %.2f, max %.2f) over %ld rows\n", f->eval_per_s.median,
           f->eval_per_s.min, f->eval_per_s.max, a->samples);
    if (f->opencl) {
        const bpnn_device_stats *s = &f->epochs;
        printf("  split  of %.3f s of timed epochs: GEMMs %.3f s, our kernels %.3f s (device "
               "time); host waits %.3f s in %llu syncs (%.1f a step)\n",
               f->epochs_seconds, s->gemm_seconds, s->kernel_seconds, s->host_wait_seconds,
               (unsigned long long)s->host_syncs,
               (double)s->host_syncs / (double)(a->repeat * a->steps));
    }
    printf("  once   opening the device %.3f s, the first step %.3f s\n", f->open_seconds,
           f->first_step_seconds);
    if (f->opencl)
        printf("  tuning %s\n", f->tuning.message);
}

/* --device all: every device bpnn_list_devices names. */
static bpnn_status expand_all(bench_args *a, char specs[][32])
{
    bpnn_device_info *list = NULL;
    size_t count = 0;
    BPNN_TRY(bpnn_list_devices(&list, &count));
    a->spec_count = 0;
    for (size_t i = 0; i < count && i < MAX_DEVICES; i++) {
        snprintf(specs[i], 32, "%s", list[i].spec);
        a->specs[a->spec_count++] = specs[i];
    }
    bpnn_device_list_free(list);
    return BPNN_OK;
}

static bpnn_status parse(int argc, char **argv, bench_args *a, int *help_shown)
{
    cli_device_init(&a->device);
    a->layer_count = 3;
    a->sizes[0] = 784, a->sizes[1] = 256, a->sizes[2] = 10;
    a->batch = 256, a->steps = 50, a->samples = 5000, a->repeat = 5;
    int code;
    while ((code = cli_next_option("bench", argc, argv, options)) != -1) {
        if (code == '?')
            return BPNN_ERR_INVALID;
        if (code == OPT_DEVICE) {
            if (a->spec_count == MAX_DEVICES)
                return bpnn_fail(BPNN_ERR_INVALID, "too many --device: at most %d", MAX_DEVICES);
            a->specs[a->spec_count++] = optarg;
            continue;
        }
        int handled = cli_device_option(&a->device, code, optarg);
        if (handled < 0)
            return BPNN_ERR_INVALID;
        if (handled)
            continue;
        switch (code) {
        case OPT_HELP:
            fputs(help, stdout);
            *help_shown = 1;
            return BPNN_OK;
        case OPT_LAYERS: BPNN_TRY(cli_parse_layers(optarg, &a->layer_count, a->sizes)); break;
        case OPT_BATCH: BPNN_TRY(cli_parse_long("batch", optarg, 1, 1 << 24, &a->batch)); break;
        case OPT_COUNT: BPNN_TRY(cli_parse_long("steps", optarg, 1, 100000, &a->steps)); break;
        case OPT_LIMIT:
            BPNN_TRY(cli_parse_long("samples", optarg, 1, 100000000, &a->samples));
            break;
        case OPT_REPEAT: BPNN_TRY(cli_parse_long("repeat", optarg, 1, 1000, &a->repeat)); break;
        default: return bpnn_fail(BPNN_ERR_INVALID, "unhandled option: see bpnn-cl bench --help");
        }
    }
    if (optind < argc)
        return bpnn_fail(BPNN_ERR_INVALID, "unexpected argument: %s: see bpnn-cl bench --help",
                         argv[optind]);
    if (a->spec_count == 0)
        a->specs[a->spec_count++] = a->device.spec;
    return BPNN_OK;
}

int cmd_bench(int argc, char **argv)
{
    bench_args a = {0};
    int help_shown = 0;
    bpnn_status status = parse(argc, argv, &a, &help_shown);
    if (help_shown)
        return 0;
    char all[MAX_DEVICES][32];
    for (int i = 0; status == BPNN_OK && i < a.spec_count; i++)
        if (strcmp(a.specs[i], "all") == 0)
            status = expand_all(&a, all);
    json_t *devices = json_array();
    for (int i = 0; status == BPNN_OK && i < a.spec_count; i++) {
        device_figures f;
        status = measure(&a, a.specs[i], &f);
        if (status != BPNN_OK)
            break;
        if (a.device.json)
            json_array_append_new(devices, figures_json(&a, &f));
        else
            print_figures(&a, &f);
    }
    if (status == BPNN_OK && a.device.json)
        cli_print_json(json_pack(
            "{s:o, s:s}", "devices", devices, "flops",
            "per step: 2 b s_l s_(l+1) per GEMM; the first layer's 2 GEMMs (forward, weight "
            "gradient), every other layer's 3 (and its delta)"));
    else
        json_decref(devices);
    return status == BPNN_OK ? 0 : cli_fail(a.device.json, status);
}
