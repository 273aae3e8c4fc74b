/* test_pictures.c — the PNG pictures: each drawing function writes a PNG
 * that cairo reads back with the expected size and pixels (a constant tile
 * has its gray, a ramp runs black to white, different tiles differ, text is
 * rendered); bad output paths leave no temporary file; training logs are read
 * with clear errors; and bpnn-cl show / train --plot / eval --confusion work
 * end to end with the contract's exit statuses. */
#include <cairo.h>
#include <dirent.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpnn.h"
#include "cli/picture.h"
#include "testutil.h"

#define BACKGROUND 0x4A5468u /* the grid's padding colour (picture_grid.c) */

static char dir[64];
static char program[4096];

static void setup(void)
{
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    const char *env = getenv("BPNN_CL");
    snprintf(program, sizeof program, "%s", env ? env : "");
}

static void teardown(void)
{
    char command[256];
    snprintf(command, sizeof command, "rm -rf %s", dir);
    ck_assert_int_eq(system(command), 0);
}

static char *path_in(const char *name)
{
    static char paths[8][512];
    static int next = 0;
    char *path = paths[next++ % 8];
    snprintf(path, sizeof paths[0], "%s/%s", dir, name);
    return path;
}

static void write_text(const char *name, const char *text)
{
    FILE *f = fopen(path_in(name), "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* Runs `bpnn-cl ARGS` in the test folder; *err gets stderr (static buffer). */
static int run(const char *args, const char **err)
{
    static char err_text[1 << 16];
    ck_assert_msg(program[0], "BPNN_CL names the program under test");
    char command[8192];
    snprintf(command, sizeof command, "cd %s && %s %s >stdout.txt 2>stderr.txt </dev/null", dir,
             program, args);
    int status = system(command);
    ck_assert_msg(status != -1 && WIFEXITED(status), "bpnn-cl did not exit: %s", args);
    FILE *f = fopen(path_in("stderr.txt"), "r");
    ck_assert_ptr_nonnull(f);
    err_text[fread(err_text, 1, sizeof err_text - 1, f)] = '\0';
    fclose(f);
    if (err)
        *err = err_text;
    return WEXITSTATUS(status);
}

static void assert_one_line_error(const char *err, const char *needle)
{
    ck_assert_msg(strncmp(err, "bpnn-cl: ", 9) == 0, "error line: %s", err);
    const char *newline = strchr(err, '\n');
    ck_assert_msg(newline && newline[1] == '\0', "not one line: %s", err);
    ck_assert_msg(strstr(err, needle) != NULL, "'%s' not in: %s", needle, err);
}

static void assert_message_has(const char *needle)
{
    const char *message = bpnn_error_message();
    ck_assert_msg(strstr(message, needle) != NULL, "'%s' not in: %s", needle, message);
}

/* ---- reading PNGs back --------------------------------------------------------- */

static cairo_surface_t *read_png(const char *path, int width, int height)
{
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    ck_assert_msg(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS, "%s: %s", path,
                  cairo_status_to_string(cairo_surface_status(s)));
    if (width > 0) {
        ck_assert_int_eq(cairo_image_surface_get_width(s), width);
        ck_assert_int_eq(cairo_image_surface_get_height(s), height);
    }
    cairo_surface_flush(s);
    return s;
}

static unsigned pixel(cairo_surface_t *s, int x, int y)
{
    ck_assert(x >= 0 && y >= 0 && x < cairo_image_surface_get_width(s) &&
              y < cairo_image_surface_get_height(s));
    const unsigned char *row =
        cairo_image_surface_get_data(s) + (size_t)y * (size_t)cairo_image_surface_get_stride(s);
    uint32_t value;
    memcpy(&value, row + 4 * (size_t)x, sizeof value);
    return value & 0xFFFFFFu;
}

static unsigned gray(unsigned g)
{
    return g << 16 | g << 8 | g;
}

/* No file in the test folder but those expected: no temporary left behind. */
static void assert_no_temp_files(void)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        ck_assert_msg(strstr(e->d_name, ".tmp-") == NULL, "temporary file left: %s", e->d_name);
    closedir(d);
}

/* ---- the grid --------------------------------------------------------------------- */

START_TEST(grid_shape_and_scale)
{
    static const size_t counts[][3] = {{100, 10, 10}, {25, 5, 5}, {7, 2, 4},  {1, 1, 1},
                                       {3, 1, 3},     {10, 3, 4}, {99, 9, 11}};
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
        size_t rows, columns;
        picture_grid_shape(counts[i][0], &rows, &columns);
        ck_assert_uint_eq(rows, counts[i][1]);
        ck_assert_uint_eq(columns, counts[i][2]);
    }
    ck_assert_int_eq(picture_default_scale(28, 28), 3);
    ck_assert_int_eq(picture_default_scale(20, 20), 4);
    ck_assert_int_eq(picture_default_scale(400, 300), 1);
    ck_assert_int_eq(picture_default_scale(2, 2), 8);
    picture_tiles t = {.count = 100, .width = 28, .height = 28};
    int w, h;
    picture_grid_size(&t, &w, &h);
    ck_assert_int_eq(w, 3 + 10 * (28 * 3 + 3));
    ck_assert_int_eq(h, 873);
}
END_TEST

/* Six 4x3 tiles at scale 2 in 2 rows of 3: constant 0.5, constant 0, a ramp,
 * constant 1, constant 7 (beyond the pixel scale) and constant -1. */
START_TEST(grid_known_tiles)
{
    enum { W = 4, H = 3, N = W * H, S = 2 };
    double values[6 * N];
    for (int k = 0; k < N; k++) {
        values[0 * N + k] = 0.5;
        values[1 * N + k] = 0;
        values[2 * N + k] = k; /* 0 .. 11 */
        values[3 * N + k] = 1;
        values[4 * N + k] = 7;
        values[5 * N + k] = -1;
    }
    picture_tiles t = {
        .values = values, .count = 6, .stride = N, .width = W, .height = H, .scale = S};
    char *path = path_in("grid.png");
    ck_assert_int_eq(picture_grid(&t, path), BPNN_OK);
    int width = S + 3 * (W * S + S), height = S + 2 * (H * S + S);
    cairo_surface_t *png = read_png(path, width, height);
    /* The tile at (column c, row r) starts at S + c * (W S + S), S + r * (H S + S). */
#define TILE_X(i, x) (S + ((i) % 3) * (W * S + S) + (x)*S)
#define TILE_Y(i, y) (S + ((i) / 3) * (H * S + S) + (y)*S)
    ck_assert_uint_eq(pixel(png, 0, 0), BACKGROUND);
    ck_assert_uint_eq(pixel(png, TILE_X(0, 0) - 1, TILE_Y(0, 0)), BACKGROUND);
    ck_assert_uint_eq(pixel(png, TILE_X(0, 1), TILE_Y(0, 1)), gray(128)); /* 0.5 -> 127.5 */
    ck_assert_uint_eq(pixel(png, TILE_X(1, 2), TILE_Y(1, 2)), gray(0));
    ck_assert_uint_eq(pixel(png, TILE_X(2, 0), TILE_Y(2, 0)), gray(0));         /* ramp: min */
    ck_assert_uint_eq(pixel(png, TILE_X(2, 3), TILE_Y(2, 2)), gray(255));       /* ramp: max */
    ck_assert_uint_eq(pixel(png, TILE_X(2, 1), TILE_Y(2, 0)), gray(23));        /* 1/11 */
    ck_assert_uint_eq(pixel(png, TILE_X(2, 0) + 1, TILE_Y(2, 0) + 1), gray(0)); /* S x S */
    ck_assert_uint_eq(pixel(png, TILE_X(3, 3), TILE_Y(3, 2)), gray(255));
    ck_assert_uint_eq(pixel(png, TILE_X(4, 0), TILE_Y(4, 0)), gray(255));
    ck_assert_uint_eq(pixel(png, TILE_X(5, 0), TILE_Y(5, 0)), gray(0));
    cairo_surface_destroy(png);
    assert_no_temp_files();
#undef TILE_X
#undef TILE_Y
}
END_TEST

START_TEST(grid_column_major)
{
    /* A 2-wide, 3-high tile of 0..5: row-major, pixel (1, 0) is value 1;
     * column-major (MATLAB's img(:)), it is value 3. */
    double values[6] = {0, 1, 2, 3, 4, 5};
    picture_tiles t = {
        .values = values, .count = 1, .stride = 6, .width = 2, .height = 3, .scale = 1};
    char *path = path_in("order.png");
    ck_assert_int_eq(picture_grid(&t, path), BPNN_OK);
    cairo_surface_t *png = read_png(path, 4, 5);
    ck_assert_uint_eq(pixel(png, 2, 1), gray(51));
    cairo_surface_destroy(png);
    t.column_major = 1;
    ck_assert_int_eq(picture_grid(&t, path), BPNN_OK);
    png = read_png(path, 4, 5);
    ck_assert_uint_eq(pixel(png, 2, 1), gray(153));
    ck_assert_uint_eq(pixel(png, 1, 2), gray(51));
    cairo_surface_destroy(png);
}
END_TEST

START_TEST(grid_captions_render_text)
{
    enum { N = 28 * 28 };
    double *values = calloc(4 * N, sizeof *values);
    const char *captions[4] = {"T-shirt/top", "Ankle boot", "7", "#12"};
    picture_tiles t = {
        .values = values, .count = 4, .stride = N, .width = 28, .height = 28, .captions = captions};
    int plain_w, plain_h, w, h;
    picture_tiles plain = t;
    plain.captions = NULL;
    picture_grid_size(&plain, &plain_w, &plain_h);
    picture_grid_size(&t, &w, &h);
    ck_assert_int_eq(w, plain_w);
    ck_assert_int_gt(h, plain_h + 2 * 10); /* a band under each of the 2 rows */
    char *path = path_in("captions.png");
    ck_assert_int_eq(picture_grid(&t, path), BPNN_OK);
    cairo_surface_t *png = read_png(path, w, h);
    /* The band under the first tile: the text's pixels differ from the
     * background (a machine without fonts would draw nothing). */
    int band_top = 3 + 28 * 3, band_bottom = (h - 3) / 2, lit = 0;
    for (int y = band_top; y < band_bottom; y++)
        for (int x = 3; x < 3 + 28 * 3; x++)
            lit += pixel(png, x, y) != BACKGROUND;
    ck_assert_msg(lit > 40, "caption text not rendered: %d pixels", lit);
    cairo_surface_destroy(png);
    free(values);
}
END_TEST

START_TEST(grid_bad_output)
{
    double values[4] = {0, 1, 2, 3};
    picture_tiles t = {.values = values, .count = 1, .stride = 4, .width = 2, .height = 2};
    ck_assert_int_eq(picture_grid(&t, "/nonexistent-bpnn-folder/grid.png"), BPNN_ERR_INVALID);
    assert_message_has("cannot create picture: /nonexistent-bpnn-folder/grid.png");
    /* A folder where the file should go: refused at the rename, temp removed. */
    ck_assert_int_eq(picture_grid(&t, dir), BPNN_ERR_INVALID);
    assert_message_has(dir);
    assert_no_temp_files();
    /* An existing file is replaced whole. */
    char *path = path_in("replace.png");
    write_text("replace.png", "old");
    ck_assert_int_eq(picture_grid(&t, path), BPNN_OK);
    cairo_surface_destroy(read_png(path, 0, 0));
    /* Nothing to draw, or too much. */
    t.count = 0;
    ck_assert_int_eq(picture_grid(&t, path), BPNN_ERR_INVALID);
    t.count = 1;
    t.width = t.height = 1;
    t.scale = 64;
    t.values = values;
    ck_assert_int_eq(picture_grid(&t, path), BPNN_OK);
    double *big = calloc(100000, sizeof *big);
    picture_tiles huge = {
        .values = big, .count = 100000, .stride = 1, .width = 1, .height = 1, .scale = 64};
    ck_assert_int_eq(picture_grid(&huge, path), BPNN_ERR_INVALID);
    assert_message_has("picture too large: ");
    free(big);
    assert_no_temp_files();
}
END_TEST

/* ---- curves and logs -------------------------------------------------------------- */

static const char three_records[] =
    "{\"iteration\":1,\"evaluations\":2,\"cost\":2.5,\"seconds\":0.1}\n"
    "{\"iteration\":2,\"evaluations\":4,\"cost\":1.25,\"seconds\":0.2,\"train_accuracy\":0.5,"
    "\"test_accuracy\":0.4}\n"
    "{\"iteration\":3,\"evaluations\":5,\"cost\":null,\"seconds\":0.3,\"train_accuracy\":0.75,"
    "\"test_accuracy\":0.7}\n";

START_TEST(log_reading)
{
    write_text("run.jsonl", three_records);
    bpnn_iteration *records;
    size_t count, torn;
    int runs;
    const char *x_label;
    ck_assert_int_eq(
        picture_read_log(path_in("run.jsonl"), &records, &count, &runs, &x_label, &torn), BPNN_OK);
    ck_assert_uint_eq(count, 3);
    ck_assert_int_eq(runs, 1);
    ck_assert_str_eq(x_label, "iteration");
    ck_assert(records[0].cost == 2.5 && records[0].train_accuracy < 0);
    ck_assert(records[1].iteration == 2 && records[1].evaluations == 4);
    ck_assert(records[1].train_accuracy == 0.5 && records[1].test_accuracy == 0.4);
    ck_assert(isnan(records[2].cost));
    char *curve = path_in("curve.png");
    ck_assert_int_eq(picture_curve(records, count, x_label, "three records", curve), BPNN_OK);
    cairo_surface_destroy(read_png(curve, 800, 500));
    ck_assert_int_eq(picture_curve(records, 1, x_label, "one record", curve), BPNN_OK);
    ck_assert_int_eq(picture_curve(records, 0, x_label, "none", curve), BPNN_ERR_INVALID);
    free(records);

    /* Two runs appended to one log: the last is read. */
    char text[2048];
    snprintf(text, sizeof text, "%s\n{\"iteration\":1,\"cost\":3}\n", three_records);
    write_text("two.jsonl", text);
    ck_assert_int_eq(
        picture_read_log(path_in("two.jsonl"), &records, &count, &runs, &x_label, &torn), BPNN_OK);
    ck_assert_int_eq(runs, 2);
    ck_assert_uint_eq(count, 1);
    free(records);

    /* A record cut short by a run that stopped while writing it is skipped,
     * at the end or followed by a later run. */
    write_text("torn.jsonl", "{\"iteration\":1,\"cost\":3}\n{\"iteration\":2,\"co\n"
                             "{\"iteration\":1,\"cost\":2}\n{\"iteration\":2,\"cost\":1.");
    ck_assert_int_eq(
        picture_read_log(path_in("torn.jsonl"), &records, &count, &runs, &x_label, &torn), BPNN_OK);
    ck_assert_uint_eq(torn, 2);
    ck_assert_uint_eq(count, 1);
    ck_assert(records[0].iteration == 1 && records[0].cost == 2);
    free(records);

    write_text("epochs.jsonl", "{\"epoch\":1,\"cost\":3}\n{\"epoch\":2,\"cost\":2}\n");
    ck_assert_int_eq(
        picture_read_log(path_in("epochs.jsonl"), &records, &count, &runs, &x_label, &torn),
        BPNN_OK);
    ck_assert_str_eq(x_label, "epoch");
    free(records);
}
END_TEST

START_TEST(log_errors)
{
    static const struct {
        const char *text, *message;
    } cases[] = {
        {"{\"iteration\":1,\"cost\":2}\n{\"iteration\":2,\"cost\":}\n", "malformed log line: "},
        {"{\"iteration\":1}\n", "malformed log record: "},
        {"[1, 2]\n", "not a JSON object"},
        {"{\"iteration\":-1,\"cost\":1}\n", "no \"iteration\" (or \"epoch\") count"},
        {"{\"iteration\":1,\"cost\":\"high\"}\n", "no \"cost\" number"},
        {"{\"iteration\":1,\"cost\":1,\"train_accuracy\":3}\n", "not a fraction in 0..1"},
        {"{\"iteration\":1,\"cost\":1}\n{\"epoch\":2,\"cost\":1}\n", "mixed"},
        {"\n\n", "empty log: "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_text("bad.jsonl", cases[i].text);
        bpnn_iteration *records = (bpnn_iteration *)1;
        size_t count = 1, torn;
        int runs = 1;
        const char *x_label;
        ck_assert_int_eq(
            picture_read_log(path_in("bad.jsonl"), &records, &count, &runs, &x_label, &torn),
            BPNN_ERR_INVALID);
        assert_message_has(cases[i].message);
        assert_message_has(path_in("bad.jsonl"));
        ck_assert_ptr_null(records);
        ck_assert_uint_eq(count, 0);
    }
    bpnn_iteration *records;
    size_t count, torn;
    int runs;
    const char *x_label;
    write_text("bad.jsonl", "{\"iteration\":1,\"cost\":2}\n{\"iteration\":2,\"cost\":}\n");
    ck_assert_int_eq(
        picture_read_log(path_in("bad.jsonl"), &records, &count, &runs, &x_label, &torn),
        BPNN_ERR_INVALID);
    assert_message_has("bad.jsonl:2: "); /* names the line */
    ck_assert_int_eq(
        picture_read_log(path_in("missing.jsonl"), &records, &count, &runs, &x_label, &torn),
        BPNN_ERR_INVALID);
    assert_message_has("cannot open log: ");
    ck_assert_int_eq(picture_read_log(dir, &records, &count, &runs, &x_label, &torn),
                     BPNN_ERR_INVALID);
    assert_message_has("is a directory");
}
END_TEST

START_TEST(confusion_picture)
{
    const size_t matrix[9] = {50, 2, 0, 3, 40, 7, 0, 0, 61};
    const char *names[3] = {"T-shirt/top", "Trouser", "Ankle boot"};
    char *path = path_in("confusion.png");
    ck_assert_int_eq(picture_confusion(matrix, 3, names, "Confusion matrix", path), BPNN_OK);
    cairo_surface_t *png = read_png(path, 0, 0);
    ck_assert_int_gt(cairo_image_surface_get_width(png), 3 * 56);
    ck_assert_int_gt(cairo_image_surface_get_height(png), 3 * 56);
    cairo_surface_destroy(png);
    size_t *many = calloc(40 * 40, sizeof *many);
    const char *labels[40];
    char text[40][8];
    for (int k = 0; k < 40; k++) {
        many[k * 40 + k] = (size_t)k;
        snprintf(text[k], sizeof text[k], "%d", k + 1);
        labels[k] = text[k];
    }
    ck_assert_int_eq(picture_confusion(many, 40, labels, "forty classes", path), BPNN_OK);
    cairo_surface_destroy(read_png(path, 0, 0));
    free(many);
    ck_assert_int_eq(picture_confusion(matrix, 0, names, "none", path), BPNN_ERR_INVALID);
    ck_assert_int_eq(picture_confusion(matrix, 3, names, "x", "/nonexistent-bpnn-folder/c.png"),
                     BPNN_ERR_INVALID);
    assert_no_temp_files();
}
END_TEST

/* ---- bpnn-cl show, train --plot, eval --confusion ----------------------------------- */

/* Nine 2x2 images with labels: rows differ (a ramp turning, a constant). */
static void write_images_csv(void)
{
    write_text("images.csv", "label,p1,p2,p3,p4\n"
                             "0,0.5,0.5,0.5,0.5\n"
                             "1,0,0.25,0.5,1\n"
                             "2,1,0.5,0.25,0\n"
                             "0,0,1,0,1\n"
                             "1,1,0,1,0\n"
                             "2,0,0,1,1\n"
                             "0,1,1,0,0\n"
                             "1,0.2,0.4,0.6,0.8\n"
                             "2,0.9,0.1,0.1,0.9\n");
}

START_TEST(cli_show_data)
{
    write_images_csv();
    const char *err;
    ck_assert_int_eq(run("show data --data images.csv --count 9 --scale 2 --out grid.png", &err),
                     0);
    ck_assert_msg(strstr(err, "9 samples of 2x2 in a 3x3 grid (20x20 pixels) written to grid.png"),
                  "%s", err);
    cairo_surface_t *png = read_png(path_in("grid.png"), 20, 20);
    /* Nine tiles of 2x2 at scale 2 (4x4 pixels each, 2 pixels apart): no
     * two tiles alike, the constant one gray 128. */
    unsigned tiles[9][4];
    int constant = 0;
    for (int i = 0; i < 9; i++) {
        int x0 = 2 + (i % 3) * 6, y0 = 2 + (i / 3) * 6;
        for (int p = 0; p < 4; p++)
            tiles[i][p] = pixel(png, x0 + (p % 2) * 2, y0 + (p / 2) * 2);
        constant += tiles[i][0] == gray(128) && tiles[i][3] == gray(128);
        for (int j = 0; j < i; j++)
            ck_assert_msg(memcmp(tiles[i], tiles[j], sizeof tiles[i]) != 0,
                          "tiles %d and %d are alike", i, j);
    }
    ck_assert_int_eq(constant, 1);
    cairo_surface_destroy(png);

    /* Captions add a band; all rows by default when fewer than 100. */
    ck_assert_int_eq(run("show data --data images.csv --captions --out grid.png", &err), 0);
    png = read_png(path_in("grid.png"), 0, 0);
    ck_assert_int_gt(cairo_image_surface_get_height(png), cairo_image_surface_get_width(png));
    cairo_surface_destroy(png);
    ck_assert_int_eq(run("show data --data images.csv --image 4x1 --seed 3 --out g.png", &err), 0);
}
END_TEST

START_TEST(cli_show_errors)
{
    write_images_csv();
    write_text("six.csv", "0,1,2,3,4,5,6\n1,1,2,3,4,5,6\n");
    static const struct {
        const char *args, *message;
    } cases[] = {
        {"show data --data images.csv --image 3x3 --out g.png", "sizes do not match: --image 3x3"},
        {"show data --data six.csv --out g.png", "unknown image shape: six.csv has 6 values"},
        {"show data --data images.csv --count 10 --out g.png", "count exceeds the data"},
        {"show data --data images.csv --image 2 --out g.png", "malformed --image 2"},
        {"show data --data images.csv --order diagonal --out g.png", "bad value: --order"},
        {"show data --data images.csv", "no output file: bpnn-cl show data needs --out"},
        {"show data --data images.csv --out /nonexistent-bpnn/g.png",
         "output folder does not exist: --out"},
        {"show data --data missing.csv --out g.png", "missing.csv"},
        {"show data --bogus --out g.png", "unknown option: --bogus: see bpnn-cl show data --help"},
        {"show weights --out w.png", "no model given: --model FILE"},
        {"show weights --model missing.bpnn --out w.png", "missing.bpnn"},
        {"show curve --out c.png", "no log given: --log FILE"},
        {"show curve --log missing.jsonl --out c.png", "cannot open log: missing.jsonl"},
        {"show pie --out p.png", "unknown picture: show pie: expected data, weights or curve"},
    };
    const char *err;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ck_assert_msg(run(cases[i].args, &err) == 2, "%s: %s", cases[i].args, err);
        assert_one_line_error(err, cases[i].message);
    }
    assert_no_temp_files();
    ck_assert_int_eq(run("show", &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "Usage: bpnn-cl show data|weights|curve"));
    ck_assert_int_eq(run("show --help", NULL), 0);
    static const char *const helps[] = {"data", "weights", "curve"};
    for (int i = 0; i < 3; i++) {
        char args[64];
        snprintf(args, sizeof args, "show %s --help", helps[i]);
        ck_assert_int_eq(run(args, NULL), 0);
        FILE *f = fopen(path_in("stdout.txt"), "r");
        char text[256] = {0};
        ck_assert_uint_gt(fread(text, 1, sizeof text - 1, f), 0);
        fclose(f);
        char usage[64];
        snprintf(usage, sizeof usage, "Usage: bpnn-cl show %s", helps[i]);
        ck_assert_msg(strncmp(text, usage, strlen(usage)) == 0, "%s", text);
    }
}
END_TEST

START_TEST(cli_show_weights)
{
    /* 4-3-2: unit 0's weights constant 0.5 (with a large bias, which must not
     * show), unit 1's a ramp, unit 2's constant -1. */
    int sizes[3] = {4, 3, 2};
    bpnn_model *model;
    ck_assert_int_eq(bpnn_model_create(3, sizes, BPNN_F64, &model), BPNN_OK);
    const double theta1[3][5] = {{9, 0.5, 0.5, 0.5, 0.5}, {-9, 0, 1, 2, 3}, {0, -1, -1, -1, -1}};
    memcpy(model->params, theta1, sizeof theta1);
    ck_assert_int_eq(bpnn_model_save(model, path_in("m.bpnn")), BPNN_OK);
    bpnn_model_free(model);

    const char *err;
    ck_assert_int_eq(run("show weights --model m.bpnn --scale 4 --out w.png", &err), 0);
    ck_assert_msg(strstr(err, "3 units of 2x2 in a 1x3 grid (40x16 pixels)"), "%s", err);
    cairo_surface_t *png = read_png(path_in("w.png"), 40, 16);
    ck_assert_uint_eq(pixel(png, 4 + 1, 4 + 1), gray(128));
    ck_assert_uint_eq(pixel(png, 4 + 7, 4 + 7), gray(128));
    ck_assert_uint_eq(pixel(png, 16 + 1, 4 + 1), gray(0));   /* ramp: 0 */
    ck_assert_uint_eq(pixel(png, 16 + 5, 4 + 1), gray(85));  /* 1/3 */
    ck_assert_uint_eq(pixel(png, 16 + 7, 4 + 7), gray(255)); /* 3 */
    ck_assert_uint_eq(pixel(png, 28 + 3, 4 + 3), gray(0));
    cairo_surface_destroy(png);

    ck_assert_int_eq(run("show weights --model m.bpnn --layer 2 --out w2.png", &err), 2);
    assert_one_line_error(err, "unknown image shape: Theta_2 of m.bpnn has 3 values per image");
    ck_assert_int_eq(run("show weights --model m.bpnn --layer 2 --image 3x1 --out w2.png", &err),
                     0);
    cairo_surface_destroy(read_png(path_in("w2.png"), 0, 0));
    ck_assert_int_eq(run("show weights --model m.bpnn --layer 3 --out w3.png", &err), 2);
    assert_one_line_error(err, "no such layer: --layer 3: m.bpnn has Theta_1..Theta_2");
    assert_no_temp_files();
}
END_TEST

START_TEST(cli_show_curve)
{
    write_text("run.jsonl", three_records);
    const char *err;
    ck_assert_int_eq(run("show curve --log run.jsonl --out curve.png", &err), 0);
    cairo_surface_destroy(read_png(path_in("curve.png"), 800, 500));
    ck_assert_int_eq(run("show curve --log run.jsonl --title 'My run' --out curve.png", &err), 0);
    write_text("garbled.jsonl", "{\"iteration\":1,\"cost\":2}\nnot json\n");
    ck_assert_int_eq(run("show curve --log garbled.jsonl --out bad.png", &err), 2);
    assert_one_line_error(err, "malformed log line: garbled.jsonl:2: ");
    ck_assert_int_eq(access(path_in("bad.png"), F_OK), -1);
    assert_no_temp_files();
}
END_TEST

/* Three clusters in the plane, labels 0..2 in column 0. */
static void write_clusters(void)
{
    char text[1 << 14];
    size_t used = (size_t)snprintf(text, sizeof text, "label,x,y\n");
    for (int i = 0; i < 60; i++) {
        int k = i % 3;
        double angle = 2.0 * M_PI * k / 3, r = 0.15 * ((i * 7919) % 100) / 100.0;
        used +=
            (size_t)snprintf(text + used, sizeof text - used, "%d,%.6f,%.6f\n", k,
                             2 * cos(angle) + r * cos(i * 1.7), 2 * sin(angle) + r * sin(i * 1.3));
    }
    write_text("clusters.csv", text);
}

START_TEST(cli_train_plot_and_eval_confusion)
{
    write_clusters();
    const char *err;
    ck_assert_int_eq(run("train --data clusters.csv --layers 2,5,3 --max-iter 20 --device cpu "
                         "--log-accuracy --quiet --plot curve.png --out m.bpnn",
                         &err),
                     0);
    cairo_surface_destroy(read_png(path_in("curve.png"), 800, 500));
    ck_assert_int_eq(run("eval --model m.bpnn --data clusters.csv --device cpu --confusion "
                         "confusion.png",
                         &err),
                     0);
    cairo_surface_destroy(read_png(path_in("confusion.png"), 0, 0));
    ck_assert_int_eq(run("eval --model m.bpnn --data clusters.csv --device cpu --json "
                         "--confusion confusion2.png",
                         &err),
                     0);
    cairo_surface_destroy(read_png(path_in("confusion2.png"), 0, 0));

    /* Unwritable outputs are refused before any work. */
    ck_assert_int_eq(run("train --data clusters.csv --layers 2,5,3 --device cpu --plot "
                         "/nonexistent-bpnn/c.png",
                         &err),
                     2);
    assert_one_line_error(err, "output folder does not exist: --plot /nonexistent-bpnn/c.png");
    ck_assert_int_eq(run("eval --model m.bpnn --data clusters.csv --device cpu --confusion "
                         "/nonexistent-bpnn/c.png",
                         &err),
                     2);
    assert_one_line_error(err, "output folder does not exist: --confusion");
    /* --max-iter 0: nothing to plot, a warning and no file */
    ck_assert_int_eq(run("train --data clusters.csv --layers 2,5,3 --max-iter 0 --device cpu "
                         "--quiet --plot none.png",
                         &err),
                     0);
    ck_assert_ptr_nonnull(strstr(err, "no iterations to plot"));
    ck_assert_int_eq(access(path_in("none.png"), F_OK), -1);
    assert_no_temp_files();
}
END_TEST

START_TEST(cli_fashion_mnist_grid)
{
    const char *fashion = getenv("BPNN_FASHION_MNIST_DIR");
    char images[600];
    snprintf(images, sizeof images, "%s/train-images-idx3-ubyte.gz",
             fashion && *fashion ? fashion : "/usr/share/datasets/fashion-mnist");
    if (access(images, R_OK) != 0) {
        fprintf(stderr, "cli_fashion_mnist_grid: SKIPPED: %s not installed\n", images);
        return;
    }
    const char *err;
    ck_assert_int_eq(run("show data --limit 1000 --captions --out fashion.png", &err), 0);
    ck_assert_msg(strstr(err, "100 samples of 28x28 in a 10x10 grid"), "%s", err);
    cairo_surface_t *png = read_png(path_in("fashion.png"), 0, 0);
    ck_assert_int_eq(cairo_image_surface_get_width(png), 873);
    ck_assert_int_gt(cairo_image_surface_get_height(png), 873); /* caption bands */
    cairo_surface_destroy(png);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("pictures");
    TCase *drawing = tcase_create("drawing");
    tcase_add_checked_fixture(drawing, setup, teardown);
    tcase_set_timeout(drawing, 60);
    tcase_add_test(drawing, grid_shape_and_scale);
    tcase_add_test(drawing, grid_known_tiles);
    tcase_add_test(drawing, grid_column_major);
    tcase_add_test(drawing, grid_captions_render_text);
    tcase_add_test(drawing, grid_bad_output);
    tcase_add_test(drawing, log_reading);
    tcase_add_test(drawing, log_errors);
    tcase_add_test(drawing, confusion_picture);
    suite_add_tcase(suite, drawing);

    TCase *cli = tcase_create("cli");
    tcase_add_checked_fixture(cli, setup, teardown);
    tcase_set_timeout(cli, 120);
    tcase_add_test(cli, cli_show_data);
    tcase_add_test(cli, cli_show_errors);
    tcase_add_test(cli, cli_show_weights);
    tcase_add_test(cli, cli_show_curve);
    tcase_add_test(cli, cli_train_plot_and_eval_confusion);
    tcase_add_test(cli, cli_fashion_mnist_grid);
    suite_add_tcase(suite, cli);
    return run_suite(suite);
}
