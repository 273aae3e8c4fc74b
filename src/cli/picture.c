/* picture.c — the canvas every picture is drawn on: a cairo image surface,
 * checked after drawing, encoded as PNG in memory and written whole. */
#include "picture_canvas.h"

#include <stdlib.h>
#include <string.h>

#include "bpnn.h"

bpnn_status picture_cairo_fail(cairo_status_t status, const char *what)
{
    if (status == CAIRO_STATUS_NO_MEMORY)
        return bpnn_fail_oom(what);
    return bpnn_fail(BPNN_ERR_RUNTIME, "drawing failed: %s: cairo: %s", what,
                     cairo_status_to_string(status));
}

void picture_set_color(cairo_t *cr, unsigned rgb)
{
    cairo_set_source_rgb(cr, (rgb >> 16 & 0xFF) / 255.0, (rgb >> 8 & 0xFF) / 255.0,
                         (rgb & 0xFF) / 255.0);
}

bpnn_status picture_canvas_open(picture_canvas *canvas, int width, int height, unsigned background,
                                const char *what)
{
    memset(canvas, 0, sizeof *canvas);
    if (width < 1 || height < 1 || width > PICTURE_MAX_SIDE || height > PICTURE_MAX_SIDE)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "picture too large: %s: %d x %d pixels, at most %d on a side: show "
                         "fewer items or a smaller --scale",
                         what, width, height, PICTURE_MAX_SIDE);
    canvas->surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    cairo_status_t status = cairo_surface_status(canvas->surface);
    if (status != CAIRO_STATUS_SUCCESS) {
        picture_canvas_close(canvas);
        return picture_cairo_fail(status, what);
    }
    canvas->cr = cairo_create(canvas->surface);
    status = cairo_status(canvas->cr);
    if (status != CAIRO_STATUS_SUCCESS) {
        picture_canvas_close(canvas);
        return picture_cairo_fail(status, what);
    }
    canvas->width = width;
    canvas->height = height;
    picture_set_color(canvas->cr, background);
    cairo_paint(canvas->cr);
    cairo_select_font_face(canvas->cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_NORMAL);
    return BPNN_OK;
}

void picture_canvas_close(picture_canvas *canvas)
{
    if (canvas->cr)
        cairo_destroy(canvas->cr);
    if (canvas->surface)
        cairo_surface_destroy(canvas->surface);
    memset(canvas, 0, sizeof *canvas);
}

/* The PNG bytes, grown as cairo hands them over. */
typedef struct png_buffer {
    unsigned char *data;
    size_t size, capacity;
} png_buffer;

static cairo_status_t png_append(void *closure, const unsigned char *data, unsigned int length)
{
    png_buffer *b = closure;
    if (length > b->capacity - b->size) {
        size_t capacity = b->capacity ? b->capacity : 1 << 16;
        while (capacity - b->size < length) {
            if (capacity > SIZE_MAX / 2)
                return CAIRO_STATUS_NO_MEMORY;
            capacity *= 2;
        }
        unsigned char *grown = realloc(b->data, capacity);
        if (!grown)
            return CAIRO_STATUS_NO_MEMORY;
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->size, data, length);
    b->size += length;
    return CAIRO_STATUS_SUCCESS;
}

bpnn_status picture_canvas_save(picture_canvas *canvas, const char *path, const char *what)
{
    /* A context records its first error and ignores drawing after it, so
     * one check here covers every call made on it. */
    cairo_status_t status = cairo_status(canvas->cr);
    if (status != CAIRO_STATUS_SUCCESS)
        return picture_cairo_fail(status, what);
    cairo_surface_flush(canvas->surface);
    png_buffer png = {0};
    status = cairo_surface_write_to_png_stream(canvas->surface, png_append, &png);
    if (status != CAIRO_STATUS_SUCCESS) {
        free(png.data);
        return picture_cairo_fail(status, what);
    }
    bpnn_status result = bpnn_write_file_atomic(path, png.data, png.size, what);
    free(png.data);
    return result;
}

static void set_font_size(cairo_t *cr, double size)
{
    cairo_set_font_size(cr, size > 1 ? size : 1);
}

double picture_text_width(cairo_t *cr, const char *text, double size)
{
    cairo_text_extents_t extents;
    set_font_size(cr, size);
    cairo_text_extents(cr, text, &extents);
    return extents.x_advance;
}

void picture_text(cairo_t *cr, double x, double y, const char *text, double size, double align_x,
                  double align_y, double angle)
{
    cairo_font_extents_t font;
    cairo_text_extents_t extents;
    set_font_size(cr, size);
    cairo_font_extents(cr, &font);
    cairo_text_extents(cr, text, &extents);
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, angle);
    /* The baseline sits `ascent` below the top of the line. */
    cairo_move_to(cr, -align_x * extents.x_advance,
                  font.ascent - align_y * (font.ascent + font.descent));
    cairo_show_text(cr, text);
    cairo_restore(cr);
}
