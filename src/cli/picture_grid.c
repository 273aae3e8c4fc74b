/* picture_grid.c — images in a near-square grid, the seed's display_data:
 * data samples, or the input weights of hidden units. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "picture.h"
#include "picture_canvas.h"

#define GRID_BACKGROUND 0x4A5468u /* padding: a slate that no gray tile has */
#define GRID_CAPTION 0xF2F2F2u

int picture_default_scale(int width, int height)
{
    int side = width > height ? width : height;
    int scale = (int)lround(80.0 / (side > 0 ? side : 1));
    return scale < 1 ? 1 : scale > 8 ? 8 : scale;
}

void picture_grid_shape(size_t count, size_t *rows, size_t *columns)
{
    size_t r = (size_t)floor(sqrt((double)count));
    while (r * r > count) /* floating point at the edges */
        r--;
    while ((r + 1) * (r + 1) <= count)
        r++;
    if (r == 0)
        r = 1;
    *rows = r;
    *columns = (count + r - 1) / r;
}

static int grid_scale(const picture_tiles *t)
{
    return t->scale > 0 ? t->scale : picture_default_scale(t->width, t->height);
}

/* Caption text size and the band under each tile that holds it. */
static double caption_size(const picture_tiles *t)
{
    double size = t->width * grid_scale(t) / 7.0;
    return size < 8 ? 8 : size > 13 ? 13 : size;
}

static int caption_band(const picture_tiles *t)
{
    return t->captions ? (int)ceil(caption_size(t) * 1.5) : 0;
}

void picture_grid_size(const picture_tiles *t, int *width, int *height)
{
    size_t rows, columns;
    picture_grid_shape(t->count, &rows, &columns);
    double s = grid_scale(t);
    double w = s + (double)columns * ((double)t->width * s + s);
    double h = s + (double)rows * ((double)t->height * s + caption_band(t) + s);
    *width = w > INT32_MAX ? INT32_MAX : (int)w;
    *height = h > INT32_MAX ? INT32_MAX : (int)h;
}

/* One tile into `pixels` (RGB24, `stride` bytes a row), gray scaled to the
 * tile's own range. */
static void fill_tile(const picture_tiles *t, const double *v, unsigned char *pixels, int stride)
{
    size_t n = (size_t)t->width * (size_t)t->height;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t k = 0; k < n; k++) {
        if (isfinite(v[k])) {
            lo = fmin(lo, v[k]);
            hi = fmax(hi, v[k]);
        }
    }
    if (!(hi > lo)) {
        /* A constant tile has no range of its own: show it on the pixel
         * scale, 0 black and 1 white. */
        lo = isfinite(lo) ? fmin(lo, 0.0) : 0.0;
        hi = isfinite(hi) ? fmax(hi, 1.0) : 1.0;
    }
    for (int y = 0; y < t->height; y++) {
        uint32_t *row = (uint32_t *)(void *)(pixels + (size_t)y * (size_t)stride);
        for (int x = 0; x < t->width; x++) {
            size_t k = t->column_major ? (size_t)x * (size_t)t->height + (size_t)y
                                       : (size_t)y * (size_t)t->width + (size_t)x;
            double g = isfinite(v[k]) ? (v[k] - lo) / (hi - lo) : 0.0;
            uint32_t gray = (uint32_t)lround(255.0 * fmin(fmax(g, 0.0), 1.0));
            row[x] = 0xFF000000u | gray << 16 | gray << 8 | gray;
        }
    }
}

static void draw_caption(cairo_t *cr, const char *text, double x, double y, double width,
                         double band, double size)
{
    double shown = size, w = picture_text_width(cr, text, size);
    if (w > width - 2 && w > 0)
        shown = fmax(6.0, size * (width - 2) / w);
    cairo_save(cr);
    cairo_rectangle(cr, x, y, width, band);
    cairo_clip(cr);
    picture_set_color(cr, GRID_CAPTION);
    picture_text(cr, x + width / 2, y + band / 2, text, shown, 0.5, 0.5, 0);
    cairo_restore(cr);
}

bpnn_status picture_grid(const picture_tiles *t, const char *path)
{
    const char *what = "picture";
    if (t->count == 0 || t->width < 1 || t->height < 1)
        return bpnn_fail(BPNN_ERR_INVALID, "nothing to draw: %s: %zu images of %d x %d", path,
                         t->count, t->width, t->height);
    int width, height;
    picture_grid_size(t, &width, &height);
    picture_canvas canvas;
    BPNN_TRY(picture_canvas_open(&canvas, width, height, GRID_BACKGROUND, what));
    cairo_t *cr = canvas.cr;

    /* Each tile is filled at its own size and painted scaled up with
     * nearest-neighbour sampling, so every image pixel stays a sharp square. */
    cairo_surface_t *tile = cairo_image_surface_create(CAIRO_FORMAT_RGB24, t->width, t->height);
    cairo_status_t status = cairo_surface_status(tile);
    if (status != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(tile);
        picture_canvas_close(&canvas);
        return picture_cairo_fail(status, what);
    }
    size_t rows, columns;
    picture_grid_shape(t->count, &rows, &columns);
    int s = grid_scale(t), band = caption_band(t);
    double text_size = caption_size(t);
    for (size_t i = 0; i < t->count; i++) {
        double x = s + (double)(i % columns) * (t->width * s + s);
        double y = s + (double)(i / columns) * (t->height * s + band + s);
        cairo_surface_flush(tile);
        fill_tile(t, t->values + i * t->stride, cairo_image_surface_get_data(tile),
                  cairo_image_surface_get_stride(tile));
        cairo_surface_mark_dirty(tile);
        cairo_save(cr);
        cairo_translate(cr, x, y);
        cairo_scale(cr, s, s);
        cairo_set_source_surface(cr, tile, 0, 0);
        cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
        cairo_rectangle(cr, 0, 0, t->width, t->height);
        cairo_fill(cr);
        cairo_restore(cr);
        if (t->captions && t->captions[i])
            draw_caption(cr, t->captions[i], x, y + (double)t->height * s, (double)t->width * s,
                         band, text_size);
    }
    bpnn_status result = picture_canvas_save(&canvas, path, what);
    cairo_surface_destroy(tile);
    picture_canvas_close(&canvas);
    return result;
}
