/* picture_confusion.c — the confusion matrix as a heat map: rows the true
 * class, columns the predicted one, each cell shaded by its share of the row
 * (the recall on the diagonal) and labelled with its count. */
#include <math.h>
#include <stdio.h>

#include "picture.h"
#include "picture_canvas.h"

#define COLOR_TEXT 0x222222u
#define COLOR_LINE 0xFFFFFFu

/* White to dark blue; `t` in 0..1. */
static void shade(cairo_t *cr, double t)
{
    static const double light[3] = {0.97, 0.98, 1.0}, dark[3] = {0.03, 0.19, 0.42};
    cairo_set_source_rgb(cr, light[0] + t * (dark[0] - light[0]),
                         light[1] + t * (dark[1] - light[1]), light[2] + t * (dark[2] - light[2]));
}

bpnn_status picture_confusion(const size_t *confusion, int classes, const char *const *names,
                              const char *title, const char *path)
{
    const char *what = "confusion picture";
    if (classes < 1)
        return bpnn_fail(BPNN_ERR_INVALID, "nothing to draw: %s: no classes", path);
    if (classes > 1000)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "picture too large: %s: %d classes, a confusion picture shows at most "
                         "1000",
                         path, classes);
    double cell = fmin(56, fmax(12, 640.0 / classes));
    double count_size = fmin(13, cell * 0.3), label_size = fmin(13, fmax(7, cell * 0.3));

    /* Room for the longest class name on the left and, slanted, below. */
    picture_canvas probe;
    BPNN_TRY(picture_canvas_open(&probe, 1, 1, 0xFFFFFFu, what));
    double widest = 0;
    for (int k = 0; k < classes; k++)
        widest = fmax(widest, picture_text_width(probe.cr, names[k], label_size));
    cairo_select_font_face(probe.cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    double title_width = picture_text_width(probe.cr, title, 15);
    picture_canvas_close(&probe);

    const double slant = M_PI / 4;
    double left = 40 + widest + 10, top = 60;
    double matrix = cell * classes;
    double bottom = widest * sin(slant) + label_size + 50;
    int width = (int)ceil(fmax(left + matrix + 30, title_width + 40));
    int height = (int)ceil(top + matrix + bottom);
    picture_canvas canvas;
    BPNN_TRY(picture_canvas_open(&canvas, width, height, 0xFFFFFFu, what));
    cairo_t *cr = canvas.cr;

    char text[32];
    for (int k = 0; k < classes; k++) {
        size_t total = 0;
        for (int j = 0; j < classes; j++)
            total += confusion[(size_t)k * classes + j];
        for (int j = 0; j < classes; j++) {
            size_t n = confusion[(size_t)k * classes + j];
            double share = total ? (double)n / (double)total : 0;
            /* The square root lifts the few confusions next to the diagonal's
             * large shares, so they show. */
            double t = sqrt(share);
            double x = left + j * cell, y = top + k * cell;
            shade(cr, t);
            cairo_rectangle(cr, x, y, cell, cell);
            cairo_fill(cr);
            if (count_size >= 6) {
                snprintf(text, sizeof text, "%zu", n);
                if (t > 0.55)
                    cairo_set_source_rgb(cr, 1, 1, 1);
                else
                    picture_set_color(cr, COLOR_TEXT);
                picture_text(cr, x + cell / 2, y + cell / 2, text, count_size, 0.5, 0.5, 0);
            }
        }
    }
    /* Thin white lines between the cells, a frame around them. */
    picture_set_color(cr, COLOR_LINE);
    cairo_set_line_width(cr, 1);
    for (int k = 1; k < classes; k++) {
        cairo_move_to(cr, left + k * cell, top);
        cairo_line_to(cr, left + k * cell, top + matrix);
        cairo_move_to(cr, left, top + k * cell);
        cairo_line_to(cr, left + matrix, top + k * cell);
    }
    cairo_stroke(cr);
    picture_set_color(cr, 0x888888u);
    cairo_rectangle(cr, left, top, matrix, matrix);
    cairo_stroke(cr);

    picture_set_color(cr, COLOR_TEXT);
    for (int k = 0; k < classes; k++) {
        /* True classes on the left; predicted classes below, slanted. */
        picture_text(cr, left - 8, top + (k + 0.5) * cell, names[k], label_size, 1, 0.5, 0);
        picture_text(cr, left + (k + 0.5) * cell + label_size * 0.35, top + matrix + 6, names[k],
                     label_size, 1, 0.5, -slant);
    }
    picture_text(cr, 16, top + matrix / 2, "true class", 13, 0.5, 0.5, -M_PI / 2);
    picture_text(cr, left + matrix / 2, height - 22, "predicted class", 13, 0.5, 0, 0);

    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    picture_text(cr, width / 2.0, 12, title, 15, 0.5, 0, 0);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    picture_set_color(cr, 0x666666u);
    picture_text(cr, width / 2.0, 34, "shade: share of the true class (row)", 11, 0.5, 0, 0);

    bpnn_status status = picture_canvas_save(&canvas, path, what);
    picture_canvas_close(&canvas);
    return status;
}
