/* picture_curve.c — the training curve: cost (left axis) and train/test
 * accuracy (right axis, percent) against the iteration; and the reader of
 * the JSONL logs `train --log` writes. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "picture.h"
#include "picture_canvas.h"

enum { CURVE_WIDTH = 800, CURVE_HEIGHT = 500 };

#define COLOR_COST 0x1F77B4u
#define COLOR_TRAIN 0xE3701Au
#define COLOR_TEST 0x2CA02Cu
#define COLOR_TEXT 0x222222u
#define COLOR_GRID 0xE4E4E4u
#define COLOR_FRAME 0x555555u

/* ---- axes ------------------------------------------------------------------ */

typedef struct axis {
    double lo, hi, step;
    int decimals;
} axis;

/* A step of 1, 2 or 5 times a power of ten giving about `target` intervals. */
static double nice_step(double range, int target)
{
    double raw = range / target;
    double magnitude = pow(10, floor(log10(raw)));
    double f = raw / magnitude;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * magnitude;
}

static axis make_axis(double lo, double hi, int target, int integral)
{
    if (!(hi > lo)) {
        double pad = lo != 0 ? fabs(lo) * 0.1 : 1;
        if (integral && pad < 1)
            pad = 1;
        lo -= pad;
        hi += pad;
    }
    axis a;
    a.step = nice_step(hi - lo, target);
    if (integral && a.step < 1)
        a.step = 1;
    a.lo = floor(lo / a.step + 1e-9) * a.step;
    a.hi = ceil(hi / a.step - 1e-9) * a.step;
    a.decimals = a.step >= 1 ? 0 : (int)ceil(-log10(a.step) - 1e-9);
    return a;
}

typedef struct plot_area {
    double left, top, width, height;
} plot_area;

static double to_x(const plot_area *p, const axis *a, double v)
{
    return p->left + (v - a->lo) / (a->hi - a->lo) * p->width;
}

static double to_y(const plot_area *p, const axis *a, double v)
{
    return p->top + p->height - (v - a->lo) / (a->hi - a->lo) * p->height;
}

static void tick_label(const axis *a, double v, char *text, size_t size)
{
    if (fabs(v) < a->step * 1e-9)
        v = 0; /* no "-0" */
    snprintf(text, size, "%.*f", a->decimals, v);
}

/* ---- series ---------------------------------------------------------------- */

typedef enum series_kind { SERIES_COST, SERIES_TRAIN, SERIES_TEST } series_kind;

static double series_value(const bpnn_iteration *r, series_kind kind)
{
    switch (kind) {
    case SERIES_COST: return isfinite(r->cost) ? r->cost : NAN;
    case SERIES_TRAIN: return r->train_accuracy >= 0 ? 100 * r->train_accuracy : NAN;
    default: return r->test_accuracy >= 0 ? 100 * r->test_accuracy : NAN;
    }
}

static int series_range(const bpnn_iteration *records, size_t count, series_kind kind, double *lo,
                        double *hi)
{
    int any = 0;
    for (size_t i = 0; i < count; i++) {
        double v = series_value(&records[i], kind);
        if (isnan(v))
            continue;
        *lo = any ? fmin(*lo, v) : v;
        *hi = any ? fmax(*hi, v) : v;
        any = 1;
    }
    return any;
}

static void draw_series(cairo_t *cr, const plot_area *p, const axis *ax, const axis *ay,
                        const bpnn_iteration *records, size_t count, series_kind kind,
                        unsigned color)
{
    picture_set_color(cr, color);
    cairo_set_line_width(cr, 2);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    int drawing = 0;
    for (size_t i = 0; i < count; i++) {
        double v = series_value(&records[i], kind);
        if (isnan(v)) { /* a gap */
            drawing = 0;
            continue;
        }
        double x = to_x(p, ax, records[i].iteration), y = to_y(p, ay, v);
        if (drawing)
            cairo_line_to(cr, x, y);
        else
            cairo_move_to(cr, x, y);
        drawing = 1;
    }
    cairo_stroke(cr);
    if (count <= 40) { /* few points: mark them, so one record still shows */
        for (size_t i = 0; i < count; i++) {
            double v = series_value(&records[i], kind);
            if (isnan(v))
                continue;
            cairo_new_sub_path(cr);
            cairo_arc(cr, to_x(p, ax, records[i].iteration), to_y(p, ay, v), 3, 0, 2 * M_PI);
        }
        cairo_fill(cr);
    }
}

/* One row between the title and the plot, so it never covers a curve. */
static void draw_legend(cairo_t *cr, const plot_area *p, const char *const *names,
                        const unsigned *colors, int entries)
{
    double size = 12, sample = 26, gap = 28, total = 0;
    for (int i = 0; i < entries; i++)
        total += sample + 6 + picture_text_width(cr, names[i], size) + (i ? gap : 0);
    double x = p->left + (p->width - total) / 2, y = p->top - 16;
    for (int i = 0; i < entries; i++) {
        picture_set_color(cr, colors[i]);
        cairo_set_line_width(cr, 2.5);
        cairo_move_to(cr, x, y);
        cairo_line_to(cr, x + sample, y);
        cairo_stroke(cr);
        picture_set_color(cr, COLOR_TEXT);
        picture_text(cr, x + sample + 6, y, names[i], size, 0, 0.5, 0);
        x += sample + 6 + picture_text_width(cr, names[i], size) + gap;
    }
}

static void draw_title(cairo_t *cr, double x, double y, const char *title)
{
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    picture_set_color(cr, COLOR_TEXT);
    picture_text(cr, x, y, title, 16, 0.5, 0, 0);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
}

bpnn_status picture_curve(const bpnn_iteration *records, size_t count, const char *x_label,
                          const char *title, const char *path)
{
    const char *what = "curve picture";
    if (count == 0)
        return bpnn_fail(BPNN_ERR_INVALID, "nothing to draw: %s: no iterations", path);
    double x_lo = records[0].iteration, x_hi = x_lo;
    for (size_t i = 1; i < count; i++) {
        x_lo = fmin(x_lo, records[i].iteration);
        x_hi = fmax(x_hi, records[i].iteration);
    }
    double c_lo = 0, c_hi = 1, a_lo = 0, a_hi = 0, t_lo = 0, t_hi = 0;
    int has_cost = series_range(records, count, SERIES_COST, &c_lo, &c_hi);
    int has_train = series_range(records, count, SERIES_TRAIN, &a_lo, &a_hi);
    int has_test = series_range(records, count, SERIES_TEST, &t_lo, &t_hi);
    if (has_test) {
        a_lo = has_train ? fmin(a_lo, t_lo) : t_lo;
        a_hi = has_train ? fmax(a_hi, t_hi) : t_hi;
    }
    int has_accuracy = has_train || has_test;

    axis ax = make_axis(x_lo, x_hi, 8, 1);
    axis ay = make_axis(c_lo, c_hi, 6, 0);
    axis aa = make_axis(a_lo, a_hi, 6, 0);
    if (a_hi <= 100 && aa.hi > 100)
        aa.hi = 100;
    if (a_lo >= 0 && aa.lo < 0)
        aa.lo = 0;
    plot_area p = {.left = 80, .top = 70};
    p.width = CURVE_WIDTH - p.left - (has_accuracy ? 80 : 28);
    p.height = CURVE_HEIGHT - p.top - 62;

    picture_canvas canvas;
    BPNN_TRY(picture_canvas_open(&canvas, CURVE_WIDTH, CURVE_HEIGHT, 0xFFFFFFu, what));
    cairo_t *cr = canvas.cr;
    char text[64];

    /* Grid and ticks: x below, cost on the left, accuracy on the right. */
    cairo_set_line_width(cr, 1);
    for (double v = ax.lo; v <= ax.hi + ax.step * 1e-6; v += ax.step) {
        double x = round(to_x(&p, &ax, v)) + 0.5;
        picture_set_color(cr, COLOR_GRID);
        cairo_move_to(cr, x, p.top);
        cairo_line_to(cr, x, p.top + p.height);
        cairo_stroke(cr);
        picture_set_color(cr, COLOR_FRAME);
        cairo_move_to(cr, x, p.top + p.height);
        cairo_line_to(cr, x, p.top + p.height + 5);
        cairo_stroke(cr);
        tick_label(&ax, v, text, sizeof text);
        picture_set_color(cr, COLOR_TEXT);
        picture_text(cr, x, p.top + p.height + 8, text, 11, 0.5, 0, 0);
    }
    for (double v = ay.lo; v <= ay.hi + ay.step * 1e-6; v += ay.step) {
        double y = round(to_y(&p, &ay, v)) + 0.5;
        picture_set_color(cr, COLOR_GRID);
        cairo_move_to(cr, p.left, y);
        cairo_line_to(cr, p.left + p.width, y);
        cairo_stroke(cr);
        picture_set_color(cr, COLOR_FRAME);
        cairo_move_to(cr, p.left - 5, y);
        cairo_line_to(cr, p.left, y);
        cairo_stroke(cr);
        tick_label(&ay, v, text, sizeof text);
        picture_set_color(cr, COLOR_COST);
        picture_text(cr, p.left - 8, y, text, 11, 1, 0.5, 0);
    }
    if (has_accuracy) {
        for (double v = aa.lo; v <= aa.hi + aa.step * 1e-6; v += aa.step) {
            double y = round(to_y(&p, &aa, v)) + 0.5;
            picture_set_color(cr, COLOR_FRAME);
            cairo_move_to(cr, p.left + p.width, y);
            cairo_line_to(cr, p.left + p.width + 5, y);
            cairo_stroke(cr);
            tick_label(&aa, v, text, sizeof text);
            picture_set_color(cr, COLOR_TEXT);
            picture_text(cr, p.left + p.width + 8, y, text, 11, 0, 0.5, 0);
        }
    }
    picture_set_color(cr, COLOR_FRAME);
    cairo_rectangle(cr, p.left + 0.5, p.top + 0.5, p.width, p.height);
    cairo_stroke(cr);

    /* Axis titles. */
    picture_set_color(cr, COLOR_TEXT);
    picture_text(cr, p.left + p.width / 2, CURVE_HEIGHT - 26, x_label, 13, 0.5, 0, 0);
    picture_set_color(cr, COLOR_COST);
    picture_text(cr, 18, p.top + p.height / 2, "cost", 13, 0.5, 0.5, -M_PI / 2);
    if (has_accuracy) {
        picture_set_color(cr, COLOR_TEXT);
        picture_text(cr, CURVE_WIDTH - 18, p.top + p.height / 2, "accuracy (%)", 13, 0.5, 0.5,
                     M_PI / 2);
    }
    draw_title(cr, CURVE_WIDTH / 2.0, 14, title);

    /* The curves, clipped to the plot area. */
    cairo_save(cr);
    cairo_rectangle(cr, p.left, p.top, p.width + 1, p.height + 1);
    cairo_clip(cr);
    if (has_cost)
        draw_series(cr, &p, &ax, &ay, records, count, SERIES_COST, COLOR_COST);
    if (has_train)
        draw_series(cr, &p, &ax, &aa, records, count, SERIES_TRAIN, COLOR_TRAIN);
    if (has_test)
        draw_series(cr, &p, &ax, &aa, records, count, SERIES_TEST, COLOR_TEST);
    cairo_restore(cr);

    const char *names[3];
    unsigned colors[3];
    int entries = 0;
    names[entries] = "cost";
    colors[entries++] = COLOR_COST;
    if (has_train) {
        names[entries] = "train accuracy";
        colors[entries++] = COLOR_TRAIN;
    }
    if (has_test) {
        names[entries] = "test accuracy";
        colors[entries++] = COLOR_TEST;
    }
    draw_legend(cr, &p, names, colors, entries);

    bpnn_status status = picture_canvas_save(&canvas, path, what);
    picture_canvas_close(&canvas);
    return status;
}

/* ---- reading a log ------------------------------------------------------------- */

static bpnn_status bad_record(const char *path, size_t line_no, const char *problem)
{
    return bpnn_fail(BPNN_ERR_INVALID, "malformed log record: %s:%zu: %s", path, line_no, problem);
}

/* An optional accuracy: a number in [0, 1], or null/absent (-1). */
static bpnn_status read_accuracy(json_t *record, const char *key, const char *path, size_t line_no,
                                 double *out)
{
    json_t *v = json_object_get(record, key);
    *out = -1;
    if (!v || json_is_null(v))
        return BPNN_OK;
    if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "malformed log record: %s:%zu: \"%s\" is not a fraction in 0..1", path,
                         line_no, key);
    *out = json_number_value(v);
    return BPNN_OK;
}

static bpnn_status parse_record(const char *line, const char *path, size_t line_no,
                                bpnn_iteration *out, const char **x_key)
{
    json_error_t error;
    json_t *record = json_loads(line, JSON_REJECT_DUPLICATES, &error);
    if (!record)
        return bpnn_fail(BPNN_ERR_INVALID, "malformed log line: %s:%zu: %s", path, line_no,
                         error.text);
    bpnn_status status = BPNN_OK;
    memset(out, 0, sizeof *out);
    json_t *x = NULL, *cost = NULL, *v;
    if (!json_is_object(record)) {
        status = bad_record(path, line_no, "not a JSON object");
        goto done;
    }
    if ((x = json_object_get(record, "iteration")) != NULL)
        *x_key = "iteration";
    else if ((x = json_object_get(record, "epoch")) != NULL)
        *x_key = "epoch";
    if (!x || !json_is_integer(x) || json_integer_value(x) < 0 ||
        json_integer_value(x) > INT32_MAX) {
        status = bad_record(path, line_no, "no \"iteration\" (or \"epoch\") count");
        goto done;
    }
    out->iteration = (int)json_integer_value(x);
    cost = json_object_get(record, "cost");
    if (cost && json_is_number(cost))
        out->cost = json_number_value(cost);
    else if (cost && json_is_null(cost))
        out->cost = NAN; /* a non-finite cost is logged as null */
    else {
        status = bad_record(path, line_no, "no \"cost\" number");
        goto done;
    }
    if ((v = json_object_get(record, "evaluations")) && json_is_integer(v))
        out->evaluations = (int)json_integer_value(v);
    if ((v = json_object_get(record, "seconds")) && json_is_number(v))
        out->seconds = json_number_value(v);
    status = read_accuracy(record, "train_accuracy", path, line_no, &out->train_accuracy);
    if (status == BPNN_OK)
        status = read_accuracy(record, "test_accuracy", path, line_no, &out->test_accuracy);
done:
    json_decref(record);
    return status;
}

static int blank(const char *line)
{
    return line[strspn(line, " \t\r\n")] == '\0';
}

/* A record cut short: the start of a JSON object that the parser finds
 * unfinished where the line ends, or ending in a cut literal, number or
 * escape (a log is written a whole line at a time, so only a run stopped
 * mid-write leaves one). */
static int torn(const char *line)
{
    const char *start = line + strspn(line, " \t");
    size_t length = strcspn(start, "\r\n");
    if (*start != '{')
        return 0;
    json_error_t error;
    json_t *value = json_loadb(start, length, 0, &error);
    if (value) {
        json_decref(value);
        return 0;
    }
    enum json_error_code code = json_error_code(&error);
    return code == json_error_premature_end_of_input ||
           (code == json_error_invalid_syntax && error.position >= (int)length &&
            (strncmp(error.text, "invalid token", 13) == 0 ||
             strncmp(error.text, "invalid escape", 14) == 0));
}

bpnn_status picture_read_log(const char *path, bpnn_iteration **records, size_t *count, int *runs,
                             const char **x_label, size_t *torn_lines)
{
    *records = NULL;
    *count = 0;
    *torn_lines = 0;
    *runs = 0;
    *x_label = "iteration";
    FILE *file = fopen(path, "r");
    if (!file) {
        int error = errno;
        return bpnn_fail(error == ENOMEM || error == EMFILE || error == ENFILE ? BPNN_ERR_RUNTIME
                                                                               : BPNN_ERR_INVALID,
                         "cannot open log: %s: %s", path, strerror(error));
    }
    struct stat info;
    if (fstat(fileno(file), &info) == 0 && S_ISDIR(info.st_mode)) {
        fclose(file);
        return bpnn_fail(BPNN_ERR_INVALID, "cannot open log: %s: is a directory", path);
    }
    bpnn_iteration *list = NULL;
    size_t used = 0, capacity = 0, line_no = 0, line_size = 0;
    char *line = NULL;
    const char *x_key = NULL;
    bpnn_status status = BPNN_OK;
    errno = 0;
    while (getline(&line, &line_size, file) >= 0) {
        line_no++;
        if (blank(line))
            continue;
        bpnn_iteration record;
        const char *key = x_key;
        if ((status = parse_record(line, path, line_no, &record, &key)) != BPNN_OK) {
            if (!torn(line))
                break;
            status = BPNN_OK;
            ++*torn_lines;
            continue;
        }
        if (x_key && strcmp(key, x_key) != 0) {
            status = bad_record(path, line_no, "iterations and epochs mixed in one log");
            break;
        }
        x_key = key;
        /* The count starts again: a later run appended to the same log. */
        if (used > 0 && record.iteration <= list[used - 1].iteration)
            used = 0;
        if (used == 0)
            ++*runs;
        if (used == capacity) {
            size_t grown = capacity ? 2 * capacity : 256;
            bpnn_iteration *bigger = realloc(list, grown * sizeof *bigger);
            if (!bigger) {
                status = bpnn_fail_oom("reading a log");
                break;
            }
            list = bigger;
            capacity = grown;
        }
        list[used++] = record;
    }
    /* getline also stops when it cannot grow its buffer, which is no end of
     * the file. */
    if (status == BPNN_OK && !feof(file))
        status = errno == ENOMEM ? bpnn_fail_oom("reading a log")
                                 : bpnn_fail(BPNN_ERR_RUNTIME, "read error: %s: %s", path,
                                             strerror(errno ? errno : EIO));
    if (status == BPNN_OK && used == 0)
        status = bpnn_fail(BPNN_ERR_INVALID,
                           "empty log: %s: no records; bpnn-cl train --log FILE writes one", path);
    free(line);
    fclose(file);
    if (status != BPNN_OK) {
        free(list);
        *runs = 0;
        *torn_lines = 0;
        return status;
    }
    *records = list;
    *count = used;
    if (x_key)
        *x_label = x_key;
    return BPNN_OK;
}
