/* test_data.c — the data loaders (IDX, CSV, dispatch by content), label
 * checks and normalization, on small files written at run time; headers that
 * declare more than their files hold, binary and MAT-looking files, CSV
 * delimiters and comments, FIFOs and standard input. */
#define _XOPEN_SOURCE 700 /* posix_openpt, for a terminal as standard input */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "bpnn.h"
#include "testutil.h"
#include "util/error.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* ---- fixtures ---------------------------------------------------------------- */

static char *path_in(const char *dir, const char *name)
{
    static char paths[8][512];
    static int next = 0;
    char *path = paths[next++ % 8];
    snprintf(path, sizeof paths[0], "%s/%s", dir, name);
    return path;
}

static void write_file(const char *path, const void *bytes, size_t size)
{
    FILE *file = fopen(path, "wb");
    ck_assert_ptr_nonnull(file);
    ck_assert_uint_eq(fwrite(bytes, 1, size, file), size);
    ck_assert_int_eq(fclose(file), 0);
}

static void write_gz(const char *path, const void *bytes, size_t size)
{
    gzFile file = gzopen(path, "wb");
    ck_assert_ptr_nonnull(file);
    ck_assert_int_eq(gzwrite(file, bytes, (unsigned)size), (int)size);
    ck_assert_int_eq(gzclose(file), Z_OK);
}

static void write_text(const char *path, const char *text)
{
    write_file(path, text, strlen(text));
}

static void put_u32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

/* The pixel byte at flat index i of the fixture images. */
static unsigned char pixel(size_t i)
{
    return (unsigned char)(i == 0 ? 0 : i == 1 ? 255 : (i * 37 + 11) % 256);
}

/* An IDX file: magic, dims, then `payload` bytes of the pattern (or labels). */
static size_t idx_bytes(unsigned char *out, uint32_t magic, int dim_count, const uint32_t *dims,
                        size_t payload, int labels)
{
    put_u32(out, magic);
    for (int d = 0; d < dim_count; d++)
        put_u32(out + 4 + 4 * d, dims[d]);
    size_t header = 4 + 4 * (size_t)dim_count;
    for (size_t i = 0; i < payload; i++)
        out[header + i] = labels ? (unsigned char)(i % 3 + 1) : pixel(i);
    return header + payload;
}

/* 5 images of 3 x 4 pixels, labels 1, 2, 3, 1, 2. */
enum { N_IMAGES = 5, HEIGHT = 3, WIDTH = 4 };

static void write_images(const char *path, int gz, uint32_t magic, uint32_t count, size_t payload)
{
    unsigned char bytes[512];
    uint32_t dims[3] = {count, HEIGHT, WIDTH};
    size_t size = idx_bytes(bytes, magic, 3, dims, payload, 0);
    if (gz)
        write_gz(path, bytes, size);
    else
        write_file(path, bytes, size);
}

static void write_labels(const char *path, int gz, uint32_t count, size_t payload)
{
    unsigned char bytes[512];
    size_t size = idx_bytes(bytes, 0x00000801, 1, &count, payload, 1);
    if (gz)
        write_gz(path, bytes, size);
    else
        write_file(path, bytes, size);
}

static void assert_message_has(const char *needle)
{
    const char *message = bpnn_error_message();
    ck_assert_msg(strstr(message, needle) != NULL, "message \"%s\" lacks \"%s\"", message, needle);
    ck_assert_msg(strchr(message, '\n') == NULL, "message \"%s\" is not one line", message);
}

/* A failed load leaves an empty data set behind. */
static void assert_empty(const bpnn_dataset *data)
{
    ck_assert_ptr_null(data->x);
    ck_assert_ptr_null(data->labels);
    ck_assert_uint_eq(data->rows, 0);
}

static void check_fixture_images(const bpnn_dataset *data, size_t rows, int with_labels)
{
    ck_assert_uint_eq(data->rows, rows);
    ck_assert_uint_eq(data->features, HEIGHT * WIDTH);
    ck_assert_int_eq(data->image_width, WIDTH);
    ck_assert_int_eq(data->image_height, HEIGHT);
    for (size_t i = 0; i < rows * HEIGHT * WIDTH; i++)
        ck_assert_msg(data->x[i] == (double)pixel(i) / 255, "pixel %zu: %.17g, expected %d/255", i,
                      data->x[i], pixel(i));
    ck_assert(data->x[0] == 0.0 && data->x[1] == 1.0);
    if (with_labels) {
        ck_assert_ptr_nonnull(data->labels);
        for (size_t i = 0; i < rows; i++)
            ck_assert_int_eq(data->labels[i], (int)(i % 3 + 1));
    } else {
        ck_assert_ptr_null(data->labels);
    }
}

/* ---- IDX --------------------------------------------------------------------- */

START_TEST(idx_good_raw_and_gz)
{
    const char *dir = test_fixture_dir();
    for (int gz = 0; gz <= 1; gz++) {
        char *images = path_in(dir, gz ? "images.gz" : "images");
        char *labels = path_in(dir, gz ? "labels.gz" : "labels");
        write_images(images, gz, 0x00000803, N_IMAGES, N_IMAGES * HEIGHT * WIDTH);
        write_labels(labels, gz, N_IMAGES, N_IMAGES);
        bpnn_dataset data;
        ck_assert_int_eq(bpnn_load_idx(images, labels, NULL, &data), BPNN_OK);
        check_fixture_images(&data, N_IMAGES, 1);
        ck_assert_int_eq(bpnn_dataset_class_count(&data), 4);
        bpnn_dataset_free(&data);
        assert_empty(&data);

        ck_assert_int_eq(bpnn_load_idx(images, NULL, NULL, &data), BPNN_OK);
        check_fixture_images(&data, N_IMAGES, 0);
        ck_assert_int_eq(bpnn_dataset_class_count(&data), 0);
        bpnn_dataset_free(&data);
    }
}
END_TEST

START_TEST(idx_label_offset)
{
    const char *dir = test_fixture_dir();
    char *images = path_in(dir, "images"), *labels = path_in(dir, "labels");
    write_images(images, 0, 0x00000803, N_IMAGES, N_IMAGES * HEIGHT * WIDTH);
    write_labels(labels, 1, N_IMAGES, N_IMAGES); /* 1, 2, 3, 1, 2 */
    bpnn_load_options options;
    bpnn_load_options_default(&options);
    options.label_offset = 1;
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_load_idx(images, labels, &options, &data), BPNN_OK);
    for (size_t i = 0; i < N_IMAGES; i++)
        ck_assert_int_eq(data.labels[i], (int)(i % 3));
    bpnn_dataset_free(&data);

    options.label_offset = 2; /* the first label, 1, becomes class -1 */
    ck_assert_int_eq(bpnn_load_idx(images, labels, &options, &data), BPNN_ERR_INVALID);
    assert_message_has("negative class");
    assert_message_has(labels);
    assert_message_has("record 1");
    assert_empty(&data);
}
END_TEST

START_TEST(idx_limit)
{
    const char *dir = test_fixture_dir();
    char *images = path_in(dir, "images.gz"), *labels = path_in(dir, "labels.gz");
    write_images(images, 1, 0x00000803, N_IMAGES, N_IMAGES * HEIGHT * WIDTH);
    write_labels(labels, 1, N_IMAGES, N_IMAGES);
    bpnn_load_options options;
    bpnn_load_options_default(&options);
    options.limit = 2;
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_load_idx(images, labels, &options, &data), BPNN_OK);
    check_fixture_images(&data, 2, 1);
    bpnn_dataset_free(&data);

    options.limit = N_IMAGES;
    ck_assert_int_eq(bpnn_load_idx(images, labels, &options, &data), BPNN_OK);
    check_fixture_images(&data, N_IMAGES, 1);
    bpnn_dataset_free(&data);

    options.limit = N_IMAGES + 1;
    ck_assert_int_eq(bpnn_load_idx(images, labels, &options, &data), BPNN_ERR_INVALID);
    assert_message_has("limit exceeds the data");
    assert_message_has(images);
    assert_message_has("6 images requested, the file holds 5");
    assert_empty(&data);
}
END_TEST

START_TEST(idx_limit_stops_before_truncation)
{
    /* Readers stop decoding after N records: a damaged tail is not read. */
    const char *dir = test_fixture_dir();
    char *images = path_in(dir, "images");
    write_images(images, 0, 0x00000803, N_IMAGES, 2 * HEIGHT * WIDTH + 3);
    bpnn_load_options options;
    bpnn_load_options_default(&options);
    options.limit = 2;
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_load_idx(images, NULL, &options, &data), BPNN_OK);
    check_fixture_images(&data, 2, 0);
    bpnn_dataset_free(&data);
}
END_TEST

START_TEST(idx_truncated_images)
{
    const char *dir = test_fixture_dir();
    for (int gz = 0; gz <= 1; gz++) {
        char *images = path_in(dir, gz ? "images.gz" : "images");
        /* three and a half images of five */
        write_images(images, gz, 0x00000803, N_IMAGES, 3 * HEIGHT * WIDTH + HEIGHT * WIDTH / 2);
        bpnn_dataset data;
        ck_assert_int_eq(bpnn_load_idx(images, NULL, NULL, &data), BPNN_ERR_INVALID);
        assert_message_has("truncated IDX file: ");
        assert_message_has(images);
        assert_message_has("3 of 5 images");
        assert_empty(&data);
    }
}
END_TEST

START_TEST(idx_truncated_gzip_stream)
{
    /* The gzip stream itself cut short (no trailer, data missing). */
    const char *dir = test_fixture_dir();
    char *whole = path_in(dir, "whole.gz"), *cut = path_in(dir, "cut.gz");
    unsigned char bytes[4096];
    uint32_t dims[3] = {20, 10, 10};
    size_t size = idx_bytes(bytes, 0x00000803, 3, dims, 2000, 0);
    write_gz(whole, bytes, size);
    FILE *file = fopen(whole, "rb");
    ck_assert_ptr_nonnull(file);
    unsigned char packed[8192];
    size_t packed_size = fread(packed, 1, sizeof packed, file);
    fclose(file);
    ck_assert_uint_gt(packed_size, 100);
    write_file(cut, packed, packed_size / 2);
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_load_idx(cut, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has(cut);
    assert_message_has("of 20 images");
    assert_empty(&data);
}
END_TEST

START_TEST(idx_truncated_labels)
{
    const char *dir = test_fixture_dir();
    char *images = path_in(dir, "images"), *labels = path_in(dir, "labels.gz");
    write_images(images, 0, 0x00000803, N_IMAGES, N_IMAGES * HEIGHT * WIDTH);
    write_labels(labels, 1, N_IMAGES, 2);
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_load_idx(images, labels, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("truncated IDX file: ");
    assert_message_has(labels);
    assert_message_has("2 of 5 labels");
    assert_empty(&data);
}
END_TEST

START_TEST(idx_truncated_header)
{
    const char *dir = test_fixture_dir();
    char *images = path_in(dir, "images");
    unsigned char bytes[10] = {0, 0, 8, 3, 0, 0, 0, 5, 0, 0};
    write_file(images, bytes, sizeof bytes);
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_load_idx(images, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("truncated IDX file: ");
    assert_message_has("header ends after 10 of 16 bytes");
    write_file(images, bytes, 2);
    ck_assert_int_eq(bpnn_load_idx(images, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("header ends after 2 of 16 bytes");
}
END_TEST

START_TEST(idx_wrong_magic)
{
    const char *dir = test_fixture_dir();
    char *images = path_in(dir, "images"), *labels = path_in(dir, "labels");
    /* A labels file given as images, and the other way round. */
    write_labels(images, 0, N_IMAGES, N_IMAGES);
    write_images(labels, 0, 0x00000803, N_IMAGES, N_IMAGES * HEIGHT * WIDTH);
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_load_idx(images, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("wrong IDX magic: ");
    assert_message_has(images);
    assert_message_has("0x00000801, expected 0x00000803");
    assert_empty(&data);

    write_images(images, 1, 0x00000803, N_IMAGES, N_IMAGES * HEIGHT * WIDTH);
    ck_assert_int_eq(bpnn_load_idx(images, labels, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("wrong IDX magic: ");
    assert_message_has(labels);
    assert_message_has("expected 0x00000801");
    assert_empty(&data);

    write_text(images, "label,pixel1\n1,2\n");
    ck_assert_int_eq(bpnn_load_idx(images, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("wrong IDX magic: ");
}
END_TEST

START_TEST(idx_unsupported_type)
{
    const char *dir = test_fixture_dir();
    char *images = path_in(dir, "images");
    write_images(images, 0, 0x00000D03, N_IMAGES, N_IMAGES * HEIGHT * WIDTH);
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_load_idx(images, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("unsupported IDX type code 0x0D (float)");
    assert_message_has(images);
    /* bpnn_load_data sends it to the IDX reader too, which names the type. */
    ck_assert_int_eq(bpnn_load_data(images, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("unsupported IDX type code 0x0D");
    assert_empty(&data);
}
END_TEST

START_TEST(idx_count_mismatch)
{
    const char *dir = test_fixture_dir();
    char *images = path_in(dir, "images"), *labels = path_in(dir, "labels");
    write_images(images, 0, 0x00000803, N_IMAGES, N_IMAGES * HEIGHT * WIDTH);
    write_labels(labels, 0, N_IMAGES - 1, N_IMAGES - 1);
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_load_idx(images, labels, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("IDX image and label counts differ");
    assert_message_has("5 images");
    assert_message_has("4 labels");
    assert_message_has(labels);
    assert_empty(&data);
}
END_TEST

START_TEST(idx_missing_and_empty)
{
    const char *dir = test_fixture_dir();
    char *images = path_in(dir, "images"), *missing = path_in(dir, "no-such-file.gz");
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_load_idx(missing, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("cannot open IDX images: ");
    assert_message_has(missing);
    assert_message_has("No such file or directory");
    assert_empty(&data);

    write_images(images, 0, 0x00000803, N_IMAGES, N_IMAGES * HEIGHT * WIDTH);
    ck_assert_int_eq(bpnn_load_idx(images, missing, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("cannot open IDX labels: ");
    assert_empty(&data);

    ck_assert_int_eq(bpnn_load_idx(dir, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("is a directory");

    write_file(images, "", 0);
    ck_assert_int_eq(bpnn_load_idx(images, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("empty IDX file: ");
    assert_message_has(images);
    ck_assert_int_eq(bpnn_load_data(images, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("empty data file: ");
    ck_assert_int_eq(bpnn_load_data(missing, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("No such file or directory");

    write_images(images, 0, 0x00000803, 0, 0);
    ck_assert_int_eq(bpnn_load_idx(images, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("IDX file holds no images: ");
}
END_TEST

START_TEST(idx_corrupt_gzip)
{
    const char *dir = test_fixture_dir();
    char *images = path_in(dir, "images.gz");
    write_images(images, 1, 0x00000803, N_IMAGES, N_IMAGES * HEIGHT * WIDTH);
    FILE *file = fopen(images, "r+b");
    ck_assert_ptr_nonnull(file);
    /* Overwrite the deflate data after the 10-byte gzip header. */
    unsigned char junk[24];
    memset(junk, 0xFF, sizeof junk);
    ck_assert_int_eq(fseek(file, 10, SEEK_SET), 0);
    ck_assert_uint_eq(fwrite(junk, 1, sizeof junk, file), sizeof junk);
    fclose(file);
    bpnn_dataset data;
    bpnn_status status = bpnn_load_idx(images, NULL, NULL, &data);
    ck_assert_int_eq(status, BPNN_ERR_INVALID);
    assert_message_has(images);
    assert_empty(&data);
}
END_TEST

/* ---- dispatch by content ------------------------------------------------------- */

START_TEST(load_data_dispatch)
{
    const char *dir = test_fixture_dir();
    char *images = path_in(dir, "images.gz"), *labels = path_in(dir, "labels");
    char *csv = path_in(dir, "data.csv"), *mat = path_in(dir, "data.mat");
    write_images(images, 1, 0x00000803, N_IMAGES, N_IMAGES * HEIGHT * WIDTH);
    write_labels(labels, 0, N_IMAGES, N_IMAGES);
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_load_data(images, labels, NULL, &data), BPNN_OK);
    check_fixture_images(&data, N_IMAGES, 1);
    bpnn_dataset_free(&data);

    write_text(csv, "1,0.25,0.5\n0,1,2\n");
    ck_assert_int_eq(bpnn_load_data(csv, NULL, NULL, &data), BPNN_OK);
    ck_assert_uint_eq(data.rows, 2);
    ck_assert_uint_eq(data.features, 2);
    ck_assert(data.x[1] == 0.5 && data.labels[0] == 1);
    ck_assert_int_eq(data.image_width, 0);
    bpnn_dataset_free(&data);

    ck_assert_int_eq(bpnn_load_data(csv, labels, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("a separate labels file is for IDX images only");

    char header[128];
    memset(header, ' ', sizeof header);
    memcpy(header, "MATLAB 5.0 MAT-file, Platform: GLNXA64", 38);
    write_file(mat, header, sizeof header);
    ck_assert_int_eq(bpnn_load_data(mat, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("not a MAT file: ");
    assert_message_has(mat);
    assert_empty(&data);
}
END_TEST

/* ---- CSV --------------------------------------------------------------------- */

static bpnn_status load_csv_text(const char *text, const char *name,
                                 const bpnn_load_options *options, bpnn_dataset *data,
                                 char **path_out)
{
    char *path = path_in(test_fixture_dir(), name);
    write_text(path, text);
    if (path_out)
        *path_out = path;
    return bpnn_load_csv(path, options, data);
}

static bpnn_load_options csv_options(bpnn_csv_header header, int label_col)
{
    bpnn_load_options options;
    bpnn_load_options_default(&options);
    options.header = header;
    options.label_col = label_col;
    return options;
}

START_TEST(csv_header_auto)
{
    bpnn_dataset data;
    ck_assert_int_eq(load_csv_text("label,a,b\n1,0.5,2\n0,1e-3,-4\n", "d.csv", NULL, &data, NULL),
                     BPNN_OK);
    ck_assert_uint_eq(data.rows, 2);
    ck_assert_uint_eq(data.features, 2);
    ck_assert(data.x[0] == 0.5 && data.x[1] == 2 && data.x[2] == 1e-3 && data.x[3] == -4);
    ck_assert_int_eq(data.labels[0], 1);
    ck_assert_int_eq(data.labels[1], 0);
    bpnn_dataset_free(&data);

    /* No header: a first row with a numeric cell is data. */
    ck_assert_int_eq(load_csv_text("2,7,8\n1,5,6\n", "d.csv", NULL, &data, NULL), BPNN_OK);
    ck_assert_uint_eq(data.rows, 2);
    ck_assert(data.x[0] == 7 && data.labels[0] == 2);
    bpnn_dataset_free(&data);

    /* A quoted header with a quoted comma. */
    ck_assert_int_eq(load_csv_text("\"label\",\"a, b\",c\n1,2,3\n", "d.csv", NULL, &data, NULL),
                     BPNN_OK);
    ck_assert_uint_eq(data.rows, 1);
    ck_assert_uint_eq(data.features, 2);
    bpnn_dataset_free(&data);
}
END_TEST

START_TEST(csv_header_yes_and_no)
{
    bpnn_dataset data;
    bpnn_load_options yes = csv_options(BPNN_HEADER_YES, 0);
    ck_assert_int_eq(load_csv_text("9,9,9\n1,2,3\n", "d.csv", &yes, &data, NULL), BPNN_OK);
    ck_assert_uint_eq(data.rows, 1);
    ck_assert(data.x[0] == 2 && data.x[1] == 3 && data.labels[0] == 1);
    bpnn_dataset_free(&data);

    bpnn_load_options no = csv_options(BPNN_HEADER_NO, 0);
    ck_assert_int_eq(load_csv_text("9,9,9\n1,2,3\n", "d.csv", &no, &data, NULL), BPNN_OK);
    ck_assert_uint_eq(data.rows, 2);
    ck_assert(data.labels[0] == 9 && data.labels[1] == 1);
    bpnn_dataset_free(&data);

    char *path;
    ck_assert_int_eq(load_csv_text("label,a,b\n1,2,3\n", "d.csv", &no, &data, &path),
                     BPNN_ERR_INVALID);
    assert_message_has("non-numeric label: ");
    char where[600];
    snprintf(where, sizeof where, "%s:1:1: \"label\"", path);
    assert_message_has(where);
    assert_empty(&data);
}
END_TEST

START_TEST(csv_label_column)
{
    bpnn_dataset data;
    bpnn_load_options last = csv_options(BPNN_HEADER_AUTO, -1);
    ck_assert_int_eq(load_csv_text("a,b,label\n0.5,2,1\n3,4,0\n", "d.csv", &last, &data, NULL),
                     BPNN_OK);
    ck_assert_uint_eq(data.features, 2);
    ck_assert(data.x[0] == 0.5 && data.x[1] == 2 && data.x[2] == 3 && data.x[3] == 4);
    ck_assert(data.labels[0] == 1 && data.labels[1] == 0);
    bpnn_dataset_free(&data);

    bpnn_load_options middle = csv_options(BPNN_HEADER_AUTO, 1);
    ck_assert_int_eq(load_csv_text("10,1,20\n30,2,40\n", "d.csv", &middle, &data, NULL), BPNN_OK);
    ck_assert(data.x[0] == 10 && data.x[1] == 20 && data.x[2] == 30 && data.x[3] == 40);
    ck_assert(data.labels[0] == 1 && data.labels[1] == 2);
    bpnn_dataset_free(&data);

    bpnn_load_options beyond = csv_options(BPNN_HEADER_AUTO, 3);
    ck_assert_int_eq(load_csv_text("10,1,20\n", "d.csv", &beyond, &data, NULL), BPNN_ERR_INVALID);
    assert_message_has("label column out of range: ");
    assert_message_has("column 3 (0-based), the row has 3 columns");

    bpnn_load_options features_only = csv_options(BPNN_HEADER_AUTO, 0);
    features_only.has_labels = 0;
    ck_assert_int_eq(load_csv_text("10,1,20\n30,2,40\n", "d.csv", &features_only, &data, NULL),
                     BPNN_OK);
    ck_assert_uint_eq(data.features, 3);
    ck_assert_ptr_null(data.labels);
    ck_assert(data.x[0] == 10 && data.x[5] == 40);
    ck_assert_int_eq(bpnn_dataset_class_count(&data), 0);
    bpnn_dataset_free(&data);

    ck_assert_int_eq(load_csv_text("1\n2\n", "d.csv", NULL, &data, NULL), BPNN_ERR_INVALID);
    assert_message_has("no feature columns in CSV: ");
}
END_TEST

START_TEST(csv_crlf_and_trailing_blank_line)
{
    bpnn_dataset data;
    ck_assert_int_eq(
        load_csv_text("label,a\r\n1,0.5\r\n2,0.25\r\n\r\n", "d.csv", NULL, &data, NULL), BPNN_OK);
    ck_assert_uint_eq(data.rows, 2);
    ck_assert(data.x[0] == 0.5 && data.x[1] == 0.25);
    ck_assert(data.labels[0] == 1 && data.labels[1] == 2);
    bpnn_dataset_free(&data);

    /* No final newline; a byte order mark; blanks around cells. */
    ck_assert_int_eq(
        load_csv_text("\xEF\xBB\xBFlabel, a\n 1 , 0.5\n2,\t0.25", "d.csv", NULL, &data, NULL),
        BPNN_OK);
    ck_assert_uint_eq(data.rows, 2);
    ck_assert(data.x[0] == 0.5 && data.x[1] == 0.25 && data.labels[0] == 1);
    bpnn_dataset_free(&data);

    /* Several trailing blank lines are fine, a blank line inside is not. */
    ck_assert_int_eq(load_csv_text("1,2\n\n\n", "d.csv", NULL, &data, NULL), BPNN_OK);
    ck_assert_uint_eq(data.rows, 1);
    bpnn_dataset_free(&data);
    char *path;
    ck_assert_int_eq(load_csv_text("1,2\n\n3,4\n", "d.csv", NULL, &data, &path), BPNN_ERR_INVALID);
    char where[600];
    snprintf(where, sizeof where, "blank line in CSV data: %s:2", path);
    assert_message_has(where);
    assert_empty(&data);
}
END_TEST

START_TEST(csv_integral_float_labels)
{
    bpnn_dataset data;
    ck_assert_int_eq(load_csv_text("3,1\n3.0,1\n3.000000000000000000e+00,1\n\"4\",1\n+2,1\n",
                                   "d.csv", NULL, &data, NULL),
                     BPNN_OK);
    ck_assert_uint_eq(data.rows, 5);
    ck_assert(data.labels[0] == 3 && data.labels[1] == 3 && data.labels[2] == 3 &&
              data.labels[3] == 4 && data.labels[4] == 2);
    bpnn_dataset_free(&data);

    char *path;
    ck_assert_int_eq(load_csv_text("label,a\n1,2\n3.5,1\n", "d.csv", NULL, &data, &path),
                     BPNN_ERR_INVALID);
    char where[600];
    snprintf(where, sizeof where, "non-integral label: %s:3", path);
    assert_message_has(where);
    assert_message_has("3.5");
    assert_empty(&data);
}
END_TEST

START_TEST(csv_negative_class_and_offset)
{
    bpnn_dataset data;
    bpnn_load_options from_one = csv_options(BPNN_HEADER_AUTO, 0);
    from_one.label_offset = 1;
    ck_assert_int_eq(load_csv_text("1,5\n2,6\n3,7\n", "d.csv", &from_one, &data, NULL), BPNN_OK);
    ck_assert(data.labels[0] == 0 && data.labels[1] == 1 && data.labels[2] == 2);
    ck_assert_int_eq(bpnn_dataset_class_count(&data), 3);
    bpnn_dataset_free(&data);

    char *path;
    char where[600];
    ck_assert_int_eq(load_csv_text("1,5\n0,6\n", "d.csv", &from_one, &data, &path),
                     BPNN_ERR_INVALID);
    snprintf(where, sizeof where, "negative class: %s:2:1", path);
    assert_message_has(where);
    assert_message_has("label 0 minus the label offset 1 is -1");
    assert_empty(&data);

    ck_assert_int_eq(load_csv_text("1,5\n2,6\n-1,7\n", "d.csv", NULL, &data, &path),
                     BPNN_ERR_INVALID);
    snprintf(where, sizeof where, "negative class: %s:3:1", path);
    assert_message_has(where);
}
END_TEST

START_TEST(csv_ragged_row)
{
    bpnn_dataset data;
    char *path;
    char where[600];
    ck_assert_int_eq(load_csv_text("label,a,b\n1,2,3\n1,2\n", "d.csv", NULL, &data, &path),
                     BPNN_ERR_INVALID);
    snprintf(where, sizeof where, "ragged CSV row: %s:3: 2 columns, expected 3", path);
    assert_message_has(where);
    assert_empty(&data);

    ck_assert_int_eq(load_csv_text("1,2,3\n1,2,3,4,5\n", "d.csv", NULL, &data, &path),
                     BPNN_ERR_INVALID);
    snprintf(where, sizeof where, "ragged CSV row: %s:2: 5 columns, expected 3", path);
    assert_message_has(where);

    /* The shape is reported before a bad cell in the same row. */
    ck_assert_int_eq(load_csv_text("1,2,3\n1,x\n", "d.csv", NULL, &data, &path), BPNN_ERR_INVALID);
    snprintf(where, sizeof where, "ragged CSV row: %s:2: 2 columns, expected 3", path);
    assert_message_has(where);
}
END_TEST

START_TEST(csv_non_numeric_cell)
{
    bpnn_dataset data;
    char *path;
    char where[600];
    ck_assert_int_eq(load_csv_text("label,a,b\n1,2,3\n1,2,abc\n", "d.csv", NULL, &data, &path),
                     BPNN_ERR_INVALID);
    snprintf(where, sizeof where, "non-numeric cell: %s:3:3: \"abc\"", path);
    assert_message_has(where);
    assert_empty(&data);

    ck_assert_int_eq(load_csv_text("1,2,3\n1,,3\n", "d.csv", NULL, &data, &path), BPNN_ERR_INVALID);
    snprintf(where, sizeof where, "non-numeric cell: %s:2:2: \"\"", path);
    assert_message_has(where);

    ck_assert_int_eq(load_csv_text("1,2,3\n1,2,3x\n", "d.csv", NULL, &data, &path),
                     BPNN_ERR_INVALID);
    snprintf(where, sizeof where, "non-numeric cell: %s:2:3", path);
    assert_message_has(where);

    ck_assert_int_eq(load_csv_text("1,2,3\n1,nan,3\n", "d.csv", NULL, &data, &path),
                     BPNN_ERR_INVALID);
    snprintf(where, sizeof where, "non-finite value: %s:2:2", path);
    assert_message_has(where);

    ck_assert_int_eq(load_csv_text("1,2,3\n1,1e999,3\n", "d.csv", NULL, &data, &path),
                     BPNN_ERR_INVALID);
    assert_message_has("non-finite value: ");
}
END_TEST

START_TEST(csv_empty)
{
    bpnn_dataset data;
    char *path;
    ck_assert_int_eq(load_csv_text("", "d.csv", NULL, &data, &path), BPNN_ERR_INVALID);
    assert_message_has("empty CSV file: ");
    assert_message_has(path);
    assert_empty(&data);

    ck_assert_int_eq(load_csv_text("\n\r\n\n", "d.csv", NULL, &data, NULL), BPNN_ERR_INVALID);
    assert_message_has("empty CSV file: ");

    ck_assert_int_eq(load_csv_text("label,a,b\n", "d.csv", NULL, &data, NULL), BPNN_ERR_INVALID);
    assert_message_has("no data rows in CSV file: ");
    assert_message_has("only a header");
    assert_empty(&data);

    char *missing = path_in(test_fixture_dir(), "missing.csv");
    ck_assert_int_eq(bpnn_load_csv(missing, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("cannot open CSV data: ");
    assert_message_has("No such file or directory");
}
END_TEST

START_TEST(csv_limit)
{
    bpnn_dataset data;
    bpnn_load_options options = csv_options(BPNN_HEADER_AUTO, 0);
    options.limit = 2;
    /* The third data row is bad, but never read. */
    ck_assert_int_eq(load_csv_text("label,a\n1,2\n0,3\n1,junk\n", "d.csv", &options, &data, NULL),
                     BPNN_OK);
    ck_assert_uint_eq(data.rows, 2);
    ck_assert(data.x[0] == 2 && data.x[1] == 3);
    bpnn_dataset_free(&data);

    options.limit = 4;
    char *path;
    ck_assert_int_eq(load_csv_text("label,a\n1,2\n0,3\n1,4\n", "d.csv", &options, &data, &path),
                     BPNN_ERR_INVALID);
    assert_message_has("limit exceeds the data: ");
    assert_message_has(path);
    assert_message_has("4 rows requested, the file holds 3");
    assert_empty(&data);
}
END_TEST

START_TEST(csv_numbers_as_strtod)
{
    /* The fast path for plain decimals must give strtod's exact double. */
    static const char *cells[] = {
        "0.1",
        "0.2",
        "0.3",
        "123456.789",
        "-0.000001",
        "3.141592653589793",
        "999999999999999",
        "0.30000000000000004",
        "12345678901234567890",
        "1.7976931348623157e308",
        "4.9e-324",
        "-0",
        "5.",
        ".5",
        "255",
        "0.00392156862745098",
        "1E3",
        "0x10",
        "007",
        "123456789012.345",
    };
    enum { COUNT = sizeof cells / sizeof cells[0] };
    char text[2048] = "0";
    for (int i = 0; i < COUNT; i++) {
        strcat(text, ",");
        strcat(text, cells[i]);
    }
    strcat(text, "\n");
    bpnn_dataset data;
    ck_assert_int_eq(load_csv_text(text, "d.csv", NULL, &data, NULL), BPNN_OK);
    ck_assert_uint_eq(data.features, COUNT);
    for (int i = 0; i < COUNT; i++) {
        double expected = strtod(cells[i], NULL);
        ck_assert_msg(memcmp(&data.x[i], &expected, sizeof expected) == 0,
                      "cell \"%s\": %.17g, strtod says %.17g", cells[i], data.x[i], expected);
    }
    bpnn_dataset_free(&data);
}
END_TEST

START_TEST(csv_gzip_and_long_lines)
{
    /* A .csv.gz reads like a .csv; lines longer than the read block work. */
    enum { COLUMNS = 600000 };
    char *text = malloc((size_t)COLUMNS * 3 * 5 + 64);
    if (!text)
        abort();
    size_t n = 0;
    for (int row = 0; row < 3; row++) {
        for (int j = 0; j < COLUMNS; j++) {
            char cell[16];
            int length = snprintf(cell, sizeof cell, j ? ",%d" : "%d", j ? (j + row) % 1000 : row);
            memcpy(text + n, cell, (size_t)length);
            n += (size_t)length;
        }
        text[n++] = '\n';
    }
    char *path = path_in(test_fixture_dir(), "wide.csv.gz");
    write_gz(path, text, n);
    free(text);
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_load_data(path, NULL, NULL, &data), BPNN_OK);
    ck_assert_uint_eq(data.rows, 3);
    ck_assert_uint_eq(data.features, COLUMNS - 1);
    ck_assert(data.labels[2] == 2);
    ck_assert(data.x[0] == 1 && data.x[(size_t)2 * (COLUMNS - 1) + 997] == 0);
    bpnn_dataset_free(&data);
}
END_TEST

/* ---- labels ------------------------------------------------------------------ */

START_TEST(check_labels_range)
{
    int32_t labels[4] = {0, 2, 1, 3};
    double x[4] = {0, 0, 0, 0};
    bpnn_dataset data = {.rows = 4, .features = 1, .x = x, .labels = labels};
    ck_assert_int_eq(bpnn_dataset_class_count(&data), 4);
    ck_assert_int_eq(bpnn_dataset_check_labels(&data, 4, "train.csv"), BPNN_OK);
    ck_assert_int_eq(bpnn_dataset_check_labels(&data, 3, "train.csv"), BPNN_ERR_INVALID);
    assert_message_has(
        "label out of range: train.csv: row 4 has class 3, the network has 3 classes (0..2)");

    labels[0] = -1;
    ck_assert_int_eq(bpnn_dataset_check_labels(&data, 10, "test.csv"), BPNN_ERR_INVALID);
    assert_message_has("label out of range: test.csv: row 1 has class -1");

    data.labels = NULL;
    ck_assert_int_eq(bpnn_dataset_check_labels(&data, 3, "x"), BPNN_OK);
}
END_TEST

/* ---- normalization ------------------------------------------------------------- */

static bpnn_model *model_for(int features)
{
    int sizes[2] = {features, 2};
    bpnn_model *model;
    ck_assert_int_eq(bpnn_model_create(2, sizes, BPNN_F64, &model), BPNN_OK);
    return model;
}

START_TEST(normalize_zscore)
{
    /* columns: 1 2 3 | constant 0.1 | 0 10 -4 | constant 5 */
    double x[12] = {1, 0.1, 0, 5, 2, 0.1, 10, 5, 3, 0.1, -4, 5};
    bpnn_dataset data = {.rows = 3, .features = 4, .x = x};
    bpnn_model *model = model_for(4);
    ck_assert_int_eq(bpnn_normalize_fit(model, BPNN_NORMALIZE_ZSCORE, &data), BPNN_OK);
    ck_assert_int_eq(model->normalization, BPNN_NORMALIZE_ZSCORE);
    double mean2 = 2, sd0 = sqrt(2.0 / 3), sd2 = sqrt((4.0 + 64 + 36) / 3);
    ck_assert_rel(model->norm_shift[0], 2, 1e-15);
    ck_assert_rel(model->norm_scale[0], sd0, 1e-15);
    ck_assert(model->norm_shift[1] == 0.1 && model->norm_scale[1] == 1);
    ck_assert_rel(model->norm_shift[2], mean2, 1e-15);
    ck_assert_rel(model->norm_scale[2], sd2, 1e-15);
    ck_assert(model->norm_shift[3] == 5 && model->norm_scale[3] == 1);
    double expected[3][4] = {
        {-1 / sd0, 0, -2 / sd2, 0}, {0, 0, 8 / sd2, 0}, {1 / sd0, 0, -6 / sd2, 0}};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            if (expected[i][j] == 0)
                ck_assert_msg(fabs(x[i * 4 + j]) < 1e-15, "x[%d][%d] = %g", i, j, x[i * 4 + j]);
            else
                ck_assert_rel(x[i * 4 + j], expected[i][j], 1e-14);
        }
    /* Constant columns become exactly 0, never NaN or huge. */
    for (int i = 0; i < 3; i++)
        ck_assert(x[i * 4 + 1] == 0 && x[i * 4 + 3] == 0);

    /* A second data set with the stored statistics. */
    double y[4] = {4, 0.6, 2, 5};
    bpnn_dataset test = {.rows = 1, .features = 4, .x = y};
    bpnn_normalize_apply(model, &test);
    ck_assert_rel(y[0], 2 / sd0, 1e-14);
    ck_assert_rel(y[1], 0.5, 1e-14);
    ck_assert(y[2] == 0);
    ck_assert(y[3] == 0);
    bpnn_model_free(model);
}
END_TEST

START_TEST(normalize_minmax)
{
    double x[9] = {1, 7, -2, 3, 7, 0, 2, 7, 6};
    bpnn_dataset data = {.rows = 3, .features = 3, .x = x};
    bpnn_model *model = model_for(3);
    ck_assert_int_eq(bpnn_normalize_fit(model, BPNN_NORMALIZE_MINMAX, &data), BPNN_OK);
    ck_assert(model->norm_shift[0] == 1 && model->norm_scale[0] == 2);
    ck_assert(model->norm_shift[1] == 7 && model->norm_scale[1] == 1);
    ck_assert(model->norm_shift[2] == -2 && model->norm_scale[2] == 8);
    double expected[9] = {0, 0, 0, 1, 0, 0.25, 0.5, 0, 1};
    for (int i = 0; i < 9; i++)
        ck_assert_msg(x[i] == expected[i], "x[%d] = %.17g, expected %g", i, x[i], expected[i]);

    double y[3] = {5, 8, 2};
    bpnn_dataset test = {.rows = 1, .features = 3, .x = y};
    bpnn_normalize_apply(model, &test);
    ck_assert(y[0] == 2 && y[1] == 1 && y[2] == 0.5);
    bpnn_model_free(model);
}
END_TEST

START_TEST(normalize_none_and_mismatch)
{
    double x[4] = {1, 2, 3, 4};
    bpnn_dataset data = {.rows = 2, .features = 2, .x = x};
    bpnn_model *model = model_for(2);
    ck_assert_int_eq(bpnn_normalize_fit(model, BPNN_NORMALIZE_ZSCORE, &data), BPNN_OK);
    ck_assert_ptr_nonnull(model->norm_shift);
    double y[4] = {1, 2, 3, 4};
    bpnn_dataset other = {.rows = 2, .features = 2, .x = y};
    ck_assert_int_eq(bpnn_normalize_fit(model, BPNN_NORMALIZE_NONE, &other), BPNN_OK);
    ck_assert_ptr_null(model->norm_shift);
    ck_assert_ptr_null(model->norm_scale);
    ck_assert_int_eq(model->normalization, BPNN_NORMALIZE_NONE);
    bpnn_normalize_apply(model, &other);
    ck_assert(y[0] == 1 && y[3] == 4);
    bpnn_model_free(model);

    model = model_for(3);
    ck_assert_int_eq(bpnn_normalize_fit(model, BPNN_NORMALIZE_MINMAX, &other), BPNN_ERR_INVALID);
    assert_message_has("2 features, the input layer has 3 units");
    ck_assert_ptr_null(model->norm_shift);
    bpnn_model_free(model);
}
END_TEST

START_TEST(normalize_extreme_values)
{
    /* Squares of these would overflow or underflow in a naive variance. */
    double x[4] = {1e300, 1e-300, -1e300, 3e-300};
    bpnn_dataset data = {.rows = 2, .features = 2, .x = x};
    bpnn_model *model = model_for(2);
    ck_assert_int_eq(bpnn_normalize_fit(model, BPNN_NORMALIZE_ZSCORE, &data), BPNN_OK);
    ck_assert_rel(model->norm_scale[0], 1e300, 1e-15);
    ck_assert_rel(model->norm_scale[1], 1e-300, 1e-15);
    for (int i = 0; i < 4; i++)
        ck_assert_rel(fabs(x[i]), 1, 1e-14);
    bpnn_model_free(model);
}
END_TEST

/* ---- untrusted input ----------------------------------------------------------- */

START_TEST(idx_declared_size_checked_first)
{
    /* A raw file is measured against its header before anything is read or
     * allocated: 4294967295 images of 255 x 255 would be 494 TiB of doubles. */
    const char *dir = test_fixture_dir();
    char *images = path_in(dir, "huge"), *labels = path_in(dir, "labels");
    unsigned char bytes[64];
    uint32_t dims[3] = {UINT32_MAX, 255, 255};
    size_t size = idx_bytes(bytes, 0x00000803, 3, dims, 40, 0);
    write_file(images, bytes, size);
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_load_idx(images, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("truncated IDX file: ");
    assert_message_has(images);
    assert_message_has("0 of 4294967295 images");
    assert_empty(&data);

    /* gzip: refused when even deflate's best ratio (1032:1) could not give
     * the declared bytes. */
    char *packed = path_in(dir, "huge.gz");
    write_gz(packed, bytes, size);
    ck_assert_int_eq(bpnn_load_idx(packed, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("truncated IDX file: ");
    assert_message_has("the header declares 4294967295 images of 65025 bytes, more than its");
    assert_message_has("bytes of gzip data can hold");
    assert_empty(&data);

    /* Within the ratio a gzip file is read as it inflates: cut short, it is
     * reported by how much. */
    dims[0] = 5000;
    dims[1] = dims[2] = 2;
    size = idx_bytes(bytes, 0x00000803, 3, dims, 20, 0);
    write_gz(packed, bytes, size);
    ck_assert_int_eq(bpnn_load_idx(packed, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("5 of 5000 images");

    /* A raw labels file shorter than its header says. */
    write_images(images, 0, 0x00000803, N_IMAGES, N_IMAGES * HEIGHT * WIDTH);
    write_labels(labels, 0, N_IMAGES, 3);
    ck_assert_int_eq(bpnn_load_idx(images, labels, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("truncated IDX file: ");
    assert_message_has(labels);
    assert_message_has("3 of 5 labels");
    assert_empty(&data);
}
END_TEST

/* Bytes of a fixed pseudo-random stream (xorshift), never a known magic. */
static void random_bytes(unsigned char *out, size_t size, uint64_t seed)
{
    for (size_t i = 0; i < size; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out[i] = (unsigned char)(seed >> 24);
    }
    out[0] = 'Z';
}

START_TEST(csv_binary_content)
{
    const char *dir = test_fixture_dir();
    char *csv = path_in(dir, "random.csv");
    unsigned char bytes[4096];
    bpnn_dataset data;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        random_bytes(bytes, sizeof bytes, seed * 0x9E3779B97F4A7C15u);
        write_file(csv, bytes, sizeof bytes);
        ck_assert_int_eq(bpnn_load_data(csv, NULL, NULL, &data), BPNN_ERR_INVALID);
        assert_message_has("not a CSV file: ");
        assert_message_has(csv);
        assert_message_has("binary content");
        assert_empty(&data);
        ck_assert_int_eq(bpnn_load_csv(csv, NULL, &data), BPNN_ERR_INVALID);
        assert_message_has("not a CSV file: ");
    }
    /* A NUL after a good header and rows: named with its line. */
    write_file(csv, "a,b\n1,2\n3,\0\n", 12);
    ck_assert_int_eq(bpnn_load_csv(csv, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("binary content in CSV data: ");
    assert_message_has(":3: byte 0x00");
    /* UTF-16, as some spreadsheets save "Unicode text". */
    write_file(csv,
               "\xFF\xFE"
               "a\0,\0b\0\n\0",
               10);
    ck_assert_int_eq(bpnn_load_data(csv, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("not a CSV file: ");
    assert_message_has("UTF-16 text; save it as UTF-8");
}
END_TEST

START_TEST(mat_looking_files_get_mat_errors)
{
    const char *dir = test_fixture_dir();
    bpnn_dataset data;
    /* Starts like a MAT file, is none. */
    char *odd = path_in(dir, "odd.dat");
    write_text(odd, "MATLAB 4.2 data,1,2\n1,2,3\n");
    ck_assert_int_eq(bpnn_load_data(odd, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("not a MAT file: ");
    assert_message_has(odd);
    assert_empty(&data);
    /* Named .mat, holds text or random bytes. */
    char *named = path_in(dir, "data.MAT");
    write_text(named, "label,a\n1,2\n");
    ck_assert_int_eq(bpnn_load_data(named, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("not a MAT file: ");
    unsigned char bytes[1024];
    random_bytes(bytes, sizeof bytes, 42);
    write_file(named, bytes, sizeof bytes);
    ck_assert_int_eq(bpnn_load_data(named, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("not a MAT file: ");
    assert_message_has("MAT v4 files are not read");
    /* A MAT header cut short. */
    write_text(named, "MATLAB 5.0 MAT-file, Platform");
    ck_assert_int_eq(bpnn_load_data(named, NULL, NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("truncated MAT file: ");
    assert_message_has("header ends after 29 of 128 bytes");
}
END_TEST

START_TEST(csv_delimiters)
{
    bpnn_dataset data;
    bpnn_load_options options = csv_options(BPNN_HEADER_AUTO, 0);
    /* Guessed from the first line: semicolon, tab, comma. */
    static const char *const texts[] = {
        "label;a;b\n1;0.5;2\n0;1e-3;-4\n",
        "label\ta\tb\n1\t0.5\t2\n0\t1e-3\t-4\n",
        "1, 0.5 ,2\n0,1e-3,\"-4\"\n",
        "1;\"0.5\";2\r\n0 ; 1e-3 ; -4\r\n",
    };
    for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
        ck_assert_msg(load_csv_text(texts[k], "d.csv", NULL, &data, NULL) == BPNN_OK, "%zu: %s", k,
                      bpnn_error_message());
        ck_assert_uint_eq(data.rows, 2);
        ck_assert_uint_eq(data.features, 2);
        ck_assert(data.x[0] == 0.5 && data.x[1] == 2 && data.x[2] == 1e-3 && data.x[3] == -4);
        ck_assert(data.labels[0] == 1 && data.labels[1] == 0);
        bpnn_dataset_free(&data);
    }
    /* Given: a comma inside a semicolon file is part of a cell. */
    options.delimiter = ';';
    ck_assert_int_eq(load_csv_text("y,z;a\n1;2\n", "d.csv", &options, &data, NULL), BPNN_OK);
    ck_assert_uint_eq(data.rows, 1);
    ck_assert(data.labels[0] == 1 && data.x[0] == 2);
    bpnn_dataset_free(&data);
    /* A tab file with an empty cell: tabs are not skipped as blanks there. */
    options.delimiter = '\t';
    ck_assert_int_eq(load_csv_text("1\t\t2\n", "d.csv", &options, &data, NULL), BPNN_ERR_INVALID);
    assert_message_has("non-numeric cell: ");
    assert_message_has(":1:2: \"\"");
    /* A wrong delimiter given: the row has one column. */
    options.delimiter = ',';
    ck_assert_int_eq(load_csv_text("1;2;3\n", "d.csv", &options, &data, NULL), BPNN_ERR_INVALID);
    assert_message_has("no feature columns in CSV: ");
    options.delimiter = '|';
    ck_assert_int_eq(load_csv_text("1|2\n", "d.csv", &options, &data, NULL), BPNN_ERR_INVALID);
    assert_message_has("bad CSV delimiter 0x7C: ");
    assert_empty(&data);
}
END_TEST

START_TEST(csv_comments)
{
    bpnn_dataset data;
    char *path;
    ck_assert_int_eq(load_csv_text("# made by hand\nlabel,a,b\n# the first sample\n1,0.5,2\n"
                                   "  # indented\n0,1,3\n\n# after the data\n\n",
                                   "c.csv", NULL, &data, &path),
                     BPNN_OK);
    ck_assert_uint_eq(data.rows, 2);
    ck_assert(data.x[0] == 0.5 && data.x[3] == 3 && data.labels[1] == 0);
    bpnn_dataset_free(&data);
    /* numpy.savetxt writes its header as a comment: the data have none. */
    ck_assert_int_eq(load_csv_text("# label a b\n1 ,4\n", "c.csv", NULL, &data, NULL), BPNN_OK);
    ck_assert_uint_eq(data.rows, 1);
    bpnn_dataset_free(&data);
    /* Line numbers still count the comments. */
    ck_assert_int_eq(load_csv_text("# one\n# two\n1,2\n1,x\n", "c.csv", NULL, &data, &path),
                     BPNN_ERR_INVALID);
    assert_message_has(":4:2: \"x\"");
    /* Only comments is no data. */
    ck_assert_int_eq(load_csv_text("# nothing\n", "c.csv", NULL, &data, NULL), BPNN_ERR_INVALID);
    assert_message_has("empty CSV file: ");
}
END_TEST

/* A child process that opens each FIFO in turn for writing and writes its
 * bytes, as a producer program would; it gives up after 20 s so a failing
 * test leaves nothing behind. */
static pid_t feed_fifos(int count, char *const *paths, const void *const *bytes,
                        const size_t *sizes)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        alarm(20);
        for (int k = 0; k < count; k++) {
            int fd = open(paths[k], O_WRONLY);
            if (fd < 0 || write(fd, bytes[k], sizes[k]) != (ssize_t)sizes[k])
                _exit(1);
            close(fd);
        }
        _exit(0);
    }
    return pid;
}

static void reap(pid_t pid)
{
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer status %d", status);
}

START_TEST(fifo_sources)
{
    const char *dir = test_tmpdir();
    char *fifo = path_in(dir, "data.fifo"), *labels_fifo = path_in(dir, "labels.fifo");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(mkfifo(labels_fifo, 0600), 0);
    bpnn_dataset data;

    /* CSV: sniffed and parsed from one read of the FIFO. */
    static const char csv[] = "label,a,b\n1,0.5,2\n0,1,3\n";
    const void *bytes[2] = {csv};
    size_t sizes[2] = {sizeof csv - 1};
    pid_t writer = feed_fifos(1, &fifo, bytes, sizes);
    ck_assert_msg(bpnn_load_data(fifo, NULL, NULL, &data) == BPNN_OK, "%s", bpnn_error_message());
    reap(writer);
    ck_assert_uint_eq(data.rows, 2);
    ck_assert(data.x[1] == 2 && data.labels[1] == 0);
    bpnn_dataset_free(&data);

    /* IDX images and labels, gzip-compressed, from two FIFOs. */
    char *images = path_in(dir, "images.gz"), *labels = path_in(dir, "labels.gz");
    write_images(images, 1, 0x00000803, N_IMAGES, N_IMAGES * HEIGHT * WIDTH);
    write_labels(labels, 1, N_IMAGES, N_IMAGES);
    unsigned char image_bytes[512], label_bytes[512];
    FILE *f = fopen(images, "rb");
    sizes[0] = fread(image_bytes, 1, sizeof image_bytes, f);
    fclose(f);
    f = fopen(labels, "rb");
    sizes[1] = fread(label_bytes, 1, sizeof label_bytes, f);
    fclose(f);
    bytes[0] = image_bytes;
    bytes[1] = label_bytes;
    char *fifos[2] = {fifo, labels_fifo};
    writer = feed_fifos(2, fifos, bytes, sizes);
    ck_assert_msg(bpnn_load_data(fifo, labels_fifo, NULL, &data) == BPNN_OK, "%s",
                  bpnn_error_message());
    reap(writer);
    check_fixture_images(&data, N_IMAGES, 1);
    bpnn_dataset_free(&data);

    /* An error names the FIFO and the line. */
    static const char bad[] = "1,2\n1,2,3\n";
    bytes[0] = bad;
    sizes[0] = sizeof bad - 1;
    writer = feed_fifos(1, &fifo, bytes, sizes);
    ck_assert_int_eq(bpnn_load_data(fifo, NULL, NULL, &data), BPNN_ERR_INVALID);
    reap(writer);
    assert_message_has("ragged CSV row: ");
    assert_message_has(":2: 3 columns");
    assert_message_has(fifo);
}
END_TEST

/* Runs `load` with standard input a pipe that a child process fills with
 * `text`; standard input is put back afterwards. */
static bpnn_status load_from_stdin(const char *text, const bpnn_load_options *options,
                                   bpnn_dataset *data)
{
    int saved = dup(STDIN_FILENO), fds[2];
    ck_assert_int_ge(saved, 0);
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        size_t size = strlen(text);
        _exit(write(fds[1], text, size) == (ssize_t)size ? 0 : 1);
    }
    close(fds[1]);
    ck_assert_int_eq(dup2(fds[0], STDIN_FILENO), STDIN_FILENO);
    close(fds[0]);
    bpnn_status status = bpnn_load_data("-", NULL, options, data);
    ck_assert_int_eq(dup2(saved, STDIN_FILENO), STDIN_FILENO);
    close(saved);
    reap(pid);
    return status;
}

START_TEST(stdin_source)
{
    bpnn_dataset data;
    bpnn_load_options options = csv_options(BPNN_HEADER_AUTO, -1);
    ck_assert_int_eq(load_from_stdin("a\tb\tlabel\n0.5\t2\t1\n1\t3\t0\n", &options, &data),
                     BPNN_OK);
    ck_assert_uint_eq(data.rows, 2);
    ck_assert(data.x[0] == 0.5 && data.x[3] == 3 && data.labels[0] == 1);
    bpnn_dataset_free(&data);

    ck_assert_int_eq(load_from_stdin("1,2\n1,x\n", NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("non-numeric cell: standard input:2:2: \"x\"");
    ck_assert_int_eq(load_from_stdin("", NULL, &data), BPNN_ERR_INVALID);
    assert_message_has("empty data file: standard input");
    assert_empty(&data);

    /* A terminal would wait for typing: refused at once. */
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
        printf("SKIP stdin_source terminal: no pseudo-terminal here\n");
        return;
    }
    int terminal = open(ptsname(master), O_RDWR | O_NOCTTY);
    ck_assert_int_ge(terminal, 0);
    int saved = dup(STDIN_FILENO);
    ck_assert_int_eq(dup2(terminal, STDIN_FILENO), STDIN_FILENO);
    bpnn_status status = bpnn_load_data("-", NULL, NULL, &data);
    ck_assert_int_eq(dup2(saved, STDIN_FILENO), STDIN_FILENO);
    close(saved);
    close(terminal);
    close(master);
    ck_assert_int_eq(status, BPNN_ERR_INVALID);
    assert_message_has("cannot read data file from a terminal: standard input");
}
END_TEST

/* The program reads standard input with --data - and the --delimiter flag. */
START_TEST(cli_stdin_and_delimiter)
{
    const char *program = getenv("BPNN_CL");
    ck_assert_msg(program != NULL, "BPNN_CL names the program under test");
    const char *dir = test_fixture_dir();
    char *csv = path_in(dir, "semi.csv"), *err = path_in(dir, "stderr.txt");
    /* Semicolons, and commas that only a wrong guess would split on. */
    write_text(csv, "# two classes\nlabel;a;b\n1;0.5;2\n0;1;3\n1;0.25;2.5\n0;1.5;3.5\n");
    char command[2048];
    snprintf(command, sizeof command,
             "%s train --data - --delimiter ';' --layers 2,3,2 --max-iter 2 --device cpu "
             "--quiet < %s >/dev/null 2>%s",
             program, csv, err);
    int status = system(command);
    ck_assert(WIFEXITED(status));
    ck_assert_msg(WEXITSTATUS(status) == 0, "exit %d", WEXITSTATUS(status));
    snprintf(command, sizeof command,
             "cat %s | %s train --data - --delimiter , --device cpu --quiet >/dev/null 2>%s", csv,
             program, err);
    status = system(command);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 2);
    FILE *f = fopen(err, "r");
    char text[512] = "";
    ck_assert_ptr_nonnull(fgets(text, sizeof text, f));
    fclose(f);
    ck_assert_msg(strstr(text, "bpnn-cl: no feature columns in CSV: standard input:2") == text,
                  "%s", text);
    snprintf(command, sizeof command,
             "%s train --data %s --delimiter '|' --device cpu >/dev/null 2>%s", program, csv, err);
    status = system(command);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 2);
    f = fopen(err, "r");
    ck_assert_ptr_nonnull(fgets(text, sizeof text, f));
    fclose(f);
    ck_assert_msg(strstr(text, "bad value: --delimiter |") != NULL, "%s", text);
}
END_TEST

/* ---- the real data ------------------------------------------------------------- */

START_TEST(fashion_mnist_train_limit)
{
    if (access(FASHION_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        printf("SKIP fashion_mnist_train_limit: %s not installed (apt-get install "
               "dataset-fashion-mnist)\n",
               FASHION_DIR);
        return;
    }
    bpnn_load_options options;
    bpnn_load_options_default(&options);
    options.limit = 100;
    bpnn_dataset data;
    ck_assert_int_eq(bpnn_load_data(FASHION_DIR "/train-images-idx3-ubyte.gz",
                                    FASHION_DIR "/train-labels-idx1-ubyte.gz", &options, &data),
                     BPNN_OK);
    ck_assert_uint_eq(data.rows, 100);
    ck_assert_uint_eq(data.features, 784);
    ck_assert_int_eq(data.image_width, 28);
    ck_assert_int_eq(data.image_height, 28);
    for (size_t i = 0; i < data.rows; i++)
        ck_assert(data.labels[i] >= 0 && data.labels[i] <= 9);
    for (size_t i = 0; i < data.rows * data.features; i++)
        ck_assert(data.x[i] >= 0 && data.x[i] <= 1);
    ck_assert_int_eq(bpnn_dataset_check_labels(&data, 10, "fashion-mnist"), BPNN_OK);
    bpnn_dataset_free(&data);
}
END_TEST

/* ---- shares (one participant's rows of a shared training) -------------------- */

/* Loads share r of `count` for every r and checks that together, in order,
 * they are `whole`, each knowing where it starts. */
static void assert_shares_make(const bpnn_dataset *whole, const char *path, const char *labels,
                               const bpnn_load_options *base, int count)
{
    size_t at = 0;
    for (int r = 0; r < count; r++) {
        bpnn_load_options options = *base;
        options.share_index = r;
        options.share_count = count;
        bpnn_dataset part;
        ck_assert_msg(bpnn_load_data(path, labels, &options, &part) == BPNN_OK, "%s %d/%d: %s",
                      path, r, count, bpnn_error_message());
        ck_assert_uint_eq(part.share_first, at);
        ck_assert_uint_eq(part.share_of, count > 1 ? whole->rows : 0);
        ck_assert_uint_eq(part.rows, whole->rows * (size_t)(r + 1) / (size_t)count - at);
        ck_assert_uint_eq(part.features, whole->features);
        ck_assert(memcmp(part.x, whole->x + at * whole->features,
                         part.rows * part.features * sizeof *part.x) == 0);
        ck_assert((part.labels == NULL) == (whole->labels == NULL));
        if (part.labels)
            ck_assert(memcmp(part.labels, whole->labels + at, part.rows * sizeof *part.labels) ==
                      0);
        at += part.rows;
        bpnn_dataset_free(&part);
    }
    ck_assert_uint_eq(at, whole->rows);
}

START_TEST(shares_make_the_whole)
{
    const char *dir = test_fixture_dir();
    char *images = path_in(dir, "share-images"), *labels = path_in(dir, "share-labels");
    char *csv = path_in(dir, "share.csv");
    const char *text = "# a comment\n"
                       "a,b,label\n"
                       "0.5,2,1\n1,3,0\n# between rows\n2,4,1\n3,5,2\n4,6,0\n5,7,1\n6,8,2\n\n";
    bpnn_load_options options;
    bpnn_load_options_default(&options);
    options.label_col = -1; /* CSV: the last column */
    for (int gz = 0; gz <= 1; gz++) {
        write_images(images, gz, 0x00000803, N_IMAGES, N_IMAGES * HEIGHT * WIDTH);
        write_labels(labels, gz, N_IMAGES, N_IMAGES);
        if (gz)
            write_gz(csv, text, strlen(text));
        else
            write_text(csv, text);
        for (size_t limit = 0; limit <= 4; limit += 4) {
            options.limit = limit;
            bpnn_dataset whole;
            ck_assert_int_eq(bpnn_load_data(images, labels, &options, &whole), BPNN_OK);
            ck_assert_uint_eq(whole.share_of, 0);
            for (int count = 1; count <= 4; count++)
                assert_shares_make(&whole, images, labels, &options, count);
            bpnn_dataset_free(&whole);
            ck_assert_int_eq(bpnn_load_data(csv, NULL, &options, &whole), BPNN_OK);
            ck_assert_uint_eq(whole.rows, limit ? limit : 7);
            for (int count = 1; count <= 4; count++)
                assert_shares_make(&whole, csv, NULL, &options, count);
            bpnn_dataset_free(&whole);
        }
    }
}
END_TEST

START_TEST(shares_refused)
{
    const char *dir = test_fixture_dir();
    char *images = path_in(dir, "share-images"), *labels = path_in(dir, "share-labels");
    bpnn_load_options options;
    bpnn_load_options_default(&options);
    options.share_count = 6; /* 5 images: share 0 would be empty */
    bpnn_dataset data;
    write_images(images, 0, 0x00000803, N_IMAGES, N_IMAGES * HEIGHT * WIDTH);
    write_labels(labels, 0, N_IMAGES, N_IMAGES);
    ck_assert_int_eq(bpnn_load_idx(images, labels, &options, &data), BPNN_ERR_INVALID);
    assert_message_has("too few rows to share");
    assert_message_has("5 rows among 6 participants leave share 0 empty");
    assert_empty(&data);
    options.share_index = 6;
    options.share_count = 3;
    ck_assert_int_eq(bpnn_load_idx(images, labels, &options, &data), BPNN_ERR_INVALID);
    assert_message_has("share 6 of 3: no such share");
    /* A raw file cut short within the last share: every share's reader
     * finds it, not only the last's. */
    write_images(images, 0, 0x00000803, N_IMAGES, 4 * HEIGHT * WIDTH);
    options.share_count = 2;
    options.share_index = 0;
    ck_assert_int_eq(bpnn_load_idx(images, labels, &options, &data), BPNN_ERR_INVALID);
    assert_message_has("truncated IDX file");
    options.share_index = 1;
    ck_assert_int_eq(bpnn_load_idx(images, NULL, &options, &data), BPNN_ERR_INVALID);
    assert_message_has("truncated IDX file");
    assert_empty(&data);
    /* a bad row in share 1 is share 1's error: share 0 never parses it */
    char *csv = path_in(dir, "share-bad.csv");
    write_text(csv, "1,2,0\n3,4,1\n5,x,0\n7,8,1\n");
    options.share_index = 0;
    ck_assert_int_eq(bpnn_load_csv(csv, &options, &data), BPNN_OK);
    ck_assert_uint_eq(data.rows, 2);
    bpnn_dataset_free(&data);
    options.share_index = 1;
    ck_assert_int_eq(bpnn_load_csv(csv, &options, &data), BPNN_ERR_INVALID);
    assert_message_has("share-bad.csv:3:2");
    /* a pipe can be read once: its rows cannot be counted first */
    options.share_index = 0;
    ck_assert_int_eq(load_from_stdin("1,2,0\n3,4,1\n", &options, &data), BPNN_ERR_INVALID);
    assert_message_has("cannot share CSV data read from a pipe: standard input");
    assert_empty(&data);
}
END_TEST

static Suite *data_suite(void)
{
    Suite *suite = suite_create("data");
    TCase *idx = tcase_create("idx");
    tcase_set_timeout(idx, 30);
    tcase_add_test(idx, idx_good_raw_and_gz);
    tcase_add_test(idx, idx_label_offset);
    tcase_add_test(idx, idx_limit);
    tcase_add_test(idx, idx_limit_stops_before_truncation);
    tcase_add_test(idx, idx_truncated_images);
    tcase_add_test(idx, idx_truncated_gzip_stream);
    tcase_add_test(idx, idx_truncated_labels);
    tcase_add_test(idx, idx_truncated_header);
    tcase_add_test(idx, idx_wrong_magic);
    tcase_add_test(idx, idx_unsupported_type);
    tcase_add_test(idx, idx_count_mismatch);
    tcase_add_test(idx, idx_missing_and_empty);
    tcase_add_test(idx, idx_corrupt_gzip);
    tcase_add_test(idx, load_data_dispatch);
    suite_add_tcase(suite, idx);

    TCase *csv = tcase_create("csv");
    tcase_set_timeout(csv, 30);
    tcase_add_test(csv, csv_header_auto);
    tcase_add_test(csv, csv_header_yes_and_no);
    tcase_add_test(csv, csv_label_column);
    tcase_add_test(csv, csv_crlf_and_trailing_blank_line);
    tcase_add_test(csv, csv_integral_float_labels);
    tcase_add_test(csv, csv_negative_class_and_offset);
    tcase_add_test(csv, csv_ragged_row);
    tcase_add_test(csv, csv_non_numeric_cell);
    tcase_add_test(csv, csv_empty);
    tcase_add_test(csv, csv_limit);
    tcase_add_test(csv, csv_numbers_as_strtod);
    tcase_add_test(csv, csv_gzip_and_long_lines);
    tcase_add_test(csv, shares_make_the_whole);
    suite_add_tcase(suite, csv);

    TCase *transforms = tcase_create("labels_and_normalization");
    tcase_set_timeout(transforms, 30);
    tcase_add_test(transforms, check_labels_range);
    tcase_add_test(transforms, normalize_zscore);
    tcase_add_test(transforms, normalize_minmax);
    tcase_add_test(transforms, normalize_none_and_mismatch);
    tcase_add_test(transforms, normalize_extreme_values);
    suite_add_tcase(suite, transforms);

    TCase *untrusted = tcase_create("untrusted_input");
    tcase_set_timeout(untrusted, 60);
    tcase_add_test(untrusted, idx_declared_size_checked_first);
    tcase_add_test(untrusted, csv_binary_content);
    tcase_add_test(untrusted, mat_looking_files_get_mat_errors);
    tcase_add_test(untrusted, csv_delimiters);
    tcase_add_test(untrusted, csv_comments);
    tcase_add_test(untrusted, fifo_sources);
    tcase_add_test(untrusted, stdin_source);
    tcase_add_test(untrusted, cli_stdin_and_delimiter);
    tcase_add_test(untrusted, shares_refused);
    suite_add_tcase(suite, untrusted);

    TCase *real = tcase_create("fashion_mnist");
    tcase_set_timeout(real, 60);
    tcase_add_test(real, fashion_mnist_train_limit);
    suite_add_tcase(suite, real);
    return suite;
}

int main(void)
{
    return run_suite(data_suite());
}
