/* picture_canvas.h — what the picture files share: a cairo image surface
 * with its context, checked cairo calls, text, and the PNG written whole. */
#ifndef BPNN_IO_PICTURE_CANVAS_H
#define BPNN_IO_PICTURE_CANVAS_H

#include <cairo.h>

#include "bpnn.h"

/* Larger sides are refused before cairo is asked (its own limit is 32767). */
#define PICTURE_MAX_SIDE 16384

typedef struct picture_canvas {
    cairo_surface_t *surface;
    cairo_t *cr;
    int width, height;
} picture_canvas;

/* A width x height RGB canvas filled with `background` (0xRRGGBB), the
 * sans-serif font selected. `what` names the picture in messages. */
bpnn_status picture_canvas_open(picture_canvas *canvas, int width, int height, unsigned background,
                                const char *what);
/* Checks every drawing made, encodes PNG in memory and writes it to `path`
 * through a temporary file and rename. */
bpnn_status picture_canvas_save(picture_canvas *canvas, const char *path, const char *what);
void picture_canvas_close(picture_canvas *canvas);

/* A failed cairo status as a bpnn_status (out of memory or BPNN_ERR_RUNTIME). */
bpnn_status picture_cairo_fail(cairo_status_t status, const char *what);

void picture_set_color(cairo_t *cr, unsigned rgb);

/* Draws `text` with its anchor point at (x, y): align_x 0 left, 0.5 centre,
 * 1 right of the text's advance; align_y 0 top, 0.5 middle, 1 bottom of the
 * font's ascent + descent; rotated by `angle` radians about the anchor. */
void picture_text(cairo_t *cr, double x, double y, const char *text, double size, double align_x,
                  double align_y, double angle);
/* Width of `text` at `size`. */
double picture_text_width(cairo_t *cr, const char *text, double size);

#endif
