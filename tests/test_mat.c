/* test_mat.c — MATLAB .mat data through matio: fixtures written with matio
 * itself (double and single X; uint8, double and every integer class of y;
 * compressed and not; v5 and v7.3), exact numbers, --limit, and every bad
 * input answered with a clear error: truncation at every length, corrupt
 * elements, missing variables, wrong shapes, non-numeric and non-integral
 * labels; files written byte by byte whose arrays declare more than they
 * hold (short data, phantom cells and fields, deep nesting); MAT data from a
 * FIFO and from standard input. Last, the parity check: the same
 * samples as IDX (labels 0..K-1) and as MAT (labels 1..K) train to the same
 * parameters. */
#include <fcntl.h>
#include <matio.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "bpnn.h"
#include "data/mat.h"
#include "testutil.h"

/* ---- fixtures ------------------------------------------------------------------ */

static char *path_in(const char *name)
{
    static char paths[8][512];
    static int next = 0;
    char *path = paths[next++ % 8];
    snprintf(path, sizeof paths[0], "%s/%s", test_fixture_dir(), name);
    return path;
}

/* A variable for write_mat: matio's own description of it. */
typedef struct var {
    const char *name;
    enum matio_classes class_type;
    enum matio_types data_type;
    int rank;
    size_t dims[3];
    void *data;
    int opt;
} var;

static void write_mat(const char *path, enum mat_ft version, int compress, const var *vars,
                      int count)
{
    unlink(path);
    mat_t *mat = Mat_CreateVer(path, NULL, version);
    ck_assert_msg(mat != NULL, "Mat_CreateVer %s", path);
    for (int i = 0; i < count; i++) {
        size_t dims[3];
        memcpy(dims, vars[i].dims, sizeof dims);
        matvar_t *v = Mat_VarCreate(vars[i].name, vars[i].class_type, vars[i].data_type,
                                    vars[i].rank, dims, vars[i].data, vars[i].opt);
        ck_assert_msg(v != NULL, "Mat_VarCreate %s", vars[i].name);
        ck_assert_int_eq(
            Mat_VarWrite(mat, v, compress ? MAT_COMPRESSION_ZLIB : MAT_COMPRESSION_NONE), 0);
        Mat_VarFree(v);
    }
    ck_assert_int_eq(Mat_Close(mat), 0);
}

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(bytes);
    ck_assert_uint_eq(fread(bytes, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return bytes;
}

static void write_bytes(const char *path, const void *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, size, f), size);
    ck_assert_int_eq(fclose(f), 0);
}

static void assert_message_has(const char *needle)
{
    const char *message = bpnn_error_message();
    ck_assert_msg(strstr(message, needle) != NULL, "'%s' not in: %s", needle, message);
    ck_assert_msg(strchr(message, '\n') == NULL, "not one line: %s", message);
}

static void assert_empty(const bpnn_dataset *d)
{
    ck_assert_ptr_null(d->x);
    ck_assert_ptr_null(d->labels);
    ck_assert_uint_eq(d->rows, 0);
}

static bpnn_status load(const char *path, int offset, bpnn_dataset *out)
{
    bpnn_load_options o;
    bpnn_load_options_default(&o);
    o.label_offset = offset;
    return bpnn_load_data(path, NULL, &o, out);
}

/* The fixture: 5 samples x 3 features, X(i,j) = (i+1) * 0.25 - j (exact in
 * float too), and labels 1, 2, 3, 1, 2. */
enum { ROWS = 5, COLS = 3 };
static double x_value(int i, int j)
{
    return (i + 1) * 0.25 - j;
}
static const unsigned char y_labels[ROWS] = {1, 2, 3, 1, 2};

static void fill_x_double(double *x)
{
    for (int j = 0; j < COLS; j++) /* column-major, as MATLAB stores it */
        for (int i = 0; i < ROWS; i++)
            x[j * ROWS + i] = x_value(i, j);
}

static void check_fixture(const bpnn_dataset *d, size_t rows, int offset)
{
    ck_assert_uint_eq(d->rows, rows);
    ck_assert_uint_eq(d->features, COLS);
    ck_assert_int_eq(d->image_width, 0);
    for (size_t i = 0; i < rows; i++) {
        for (int j = 0; j < COLS; j++)
            ck_assert_msg(d->x[i * COLS + j] == x_value((int)i, j), "x[%zu][%d] = %.17g", i, j,
                          d->x[i * COLS + j]);
        ck_assert_int_eq(d->labels[i], y_labels[i] - offset);
    }
}

/* X double and y uint8, compressed or not. */
static void write_fixture(const char *path, int compress)
{
    static double x[ROWS * COLS];
    static unsigned char y[ROWS];
    fill_x_double(x);
    memcpy(y, y_labels, sizeof y);
    var vars[] = {{"X", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {ROWS, COLS}, x, 0},
                  {"y", MAT_C_UINT8, MAT_T_UINT8, 2, {ROWS, 1}, y, 0}};
    write_mat(path, MAT_FT_MAT5, compress, vars, 2);
}

/* ---- reading ------------------------------------------------------------------- */

START_TEST(mat_double_x_uint8_y)
{
    for (int compress = 0; compress < 2; compress++) {
        char *path = path_in(compress ? "zipped.mat" : "plain.mat");
        write_fixture(path, compress);
        ck_assert_int_eq(data_check_mat(path), BPNN_OK);
        bpnn_dataset d;
        ck_assert_int_eq(load(path, 1, &d), BPNN_OK);
        check_fixture(&d, ROWS, 1);
        bpnn_dataset_free(&d);
        ck_assert_int_eq(load(path, 0, &d), BPNN_OK);
        check_fixture(&d, ROWS, 0);
        bpnn_dataset_free(&d);
    }
}
END_TEST

START_TEST(mat_single_x_double_y_row_vector)
{
    float x[ROWS * COLS];
    double xd[ROWS * COLS], y[ROWS];
    fill_x_double(xd);
    for (int k = 0; k < ROWS * COLS; k++)
        x[k] = (float)xd[k];
    x[0] = 0.1f; /* not exact in binary: must come back as the float's value */
    for (int i = 0; i < ROWS; i++)
        y[i] = y_labels[i];
    for (int compress = 0; compress < 2; compress++) {
        char *path = path_in("single.mat");
        var vars[] = {{"X", MAT_C_SINGLE, MAT_T_SINGLE, 2, {ROWS, COLS}, x, 0},
                      {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {1, ROWS}, y, 0}};
        write_mat(path, MAT_FT_MAT5, compress, vars, 2);
        bpnn_dataset d;
        ck_assert_int_eq(load(path, 1, &d), BPNN_OK);
        ck_assert(d.x[0] == (double)0.1f);
        d.x[0] = x_value(0, 0);
        check_fixture(&d, ROWS, 1);
        bpnn_dataset_free(&d);
    }
}
END_TEST

START_TEST(mat_every_numeric_class_of_y)
{
    static const struct {
        enum matio_classes c;
        enum matio_types t;
        size_t size;
    } classes[] = {
        {MAT_C_DOUBLE, MAT_T_DOUBLE, 8}, {MAT_C_SINGLE, MAT_T_SINGLE, 4},
        {MAT_C_INT8, MAT_T_INT8, 1},     {MAT_C_UINT8, MAT_T_UINT8, 1},
        {MAT_C_INT16, MAT_T_INT16, 2},   {MAT_C_UINT16, MAT_T_UINT16, 2},
        {MAT_C_INT32, MAT_T_INT32, 4},   {MAT_C_UINT32, MAT_T_UINT32, 4},
        {MAT_C_INT64, MAT_T_INT64, 8},   {MAT_C_UINT64, MAT_T_UINT64, 8},
    };
    double x[ROWS * COLS];
    fill_x_double(x);
    for (size_t c = 0; c < sizeof classes / sizeof *classes; c++) {
        unsigned char y[ROWS * 8];
        for (int i = 0; i < ROWS; i++) {
            switch (classes[c].c) {
            case MAT_C_DOUBLE: ((double *)(void *)y)[i] = y_labels[i]; break;
            case MAT_C_SINGLE: ((float *)(void *)y)[i] = y_labels[i]; break;
            case MAT_C_INT8: ((int8_t *)(void *)y)[i] = (int8_t)y_labels[i]; break;
            case MAT_C_UINT8: y[i] = y_labels[i]; break;
            case MAT_C_INT16: ((int16_t *)(void *)y)[i] = y_labels[i]; break;
            case MAT_C_UINT16: ((uint16_t *)(void *)y)[i] = y_labels[i]; break;
            case MAT_C_INT32: ((int32_t *)(void *)y)[i] = y_labels[i]; break;
            case MAT_C_UINT32: ((uint32_t *)(void *)y)[i] = y_labels[i]; break;
            case MAT_C_INT64: ((int64_t *)(void *)y)[i] = y_labels[i]; break;
            default: ((uint64_t *)(void *)y)[i] = y_labels[i]; break;
            }
        }
        var vars[] = {{"X", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {ROWS, COLS}, x, 0},
                      {"y", classes[c].c, classes[c].t, 2, {ROWS, 1}, y, 0}};
        char *path = path_in("classes.mat");
        write_mat(path, MAT_FT_MAT5, (int)(c % 2), vars, 2);
        bpnn_dataset d;
        ck_assert_msg(load(path, 1, &d) == BPNN_OK, "class %d: %s", (int)classes[c].c,
                      bpnn_error_message());
        check_fixture(&d, ROWS, 1);
        bpnn_dataset_free(&d);
    }
}
END_TEST

START_TEST(mat_x_stored_compactly)
{
    /* MATLAB may store a double array as bytes on disk (class double, data
     * type uint8); the class decides what the values are. */
    unsigned char x[ROWS * COLS], y[ROWS];
    for (int k = 0; k < ROWS * COLS; k++)
        x[k] = (unsigned char)(k * 17);
    memcpy(y, y_labels, sizeof y);
    var vars[] = {{"X", MAT_C_DOUBLE, MAT_T_UINT8, 2, {ROWS, COLS}, x, 0},
                  {"y", MAT_C_DOUBLE, MAT_T_UINT8, 2, {ROWS, 1}, y, 0}};
    write_mat(path_in("compact.mat"), MAT_FT_MAT5, 0, vars, 2);
    bpnn_dataset d;
    ck_assert_int_eq(load(path_in("compact.mat"), 1, &d), BPNN_OK);
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < COLS; j++)
            ck_assert(d.x[i * COLS + j] == x[j * ROWS + i]);
    ck_assert_int_eq(d.labels[2], 2);
    bpnn_dataset_free(&d);
}
END_TEST

START_TEST(mat_limit_and_names)
{
    for (int compress = 0; compress < 2; compress++) {
        char *path = path_in("limit.mat");
        write_fixture(path, compress);
        bpnn_load_options o;
        bpnn_load_options_default(&o);
        o.label_offset = 1;
        o.limit = 3;
        bpnn_dataset d;
        ck_assert_int_eq(bpnn_load_data(path, NULL, &o, &d), BPNN_OK);
        check_fixture(&d, 3, 1);
        bpnn_dataset_free(&d);

        o.limit = 6;
        ck_assert_int_eq(bpnn_load_data(path, NULL, &o, &d), BPNN_ERR_INVALID);
        assert_message_has("limit exceeds the data: ");
        assert_message_has("6 samples requested, the file holds 5");
        assert_empty(&d);

        /* --no-labels: X alone, y not needed */
        o.limit = 0;
        o.has_labels = 0;
        o.mat_y = "nothing";
        ck_assert_int_eq(bpnn_load_data(path, NULL, &o, &d), BPNN_OK);
        ck_assert_ptr_null(d.labels);
        ck_assert_uint_eq(d.rows, ROWS);
        bpnn_dataset_free(&d);
    }
    double x[ROWS * COLS];
    unsigned char y[ROWS];
    fill_x_double(x);
    memcpy(y, y_labels, sizeof y);
    var vars[] = {{"features", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {ROWS, COLS}, x, 0},
                  {"classes", MAT_C_UINT8, MAT_T_UINT8, 2, {ROWS, 1}, y, 0}};
    char *path = path_in("names.mat");
    write_mat(path, MAT_FT_MAT5, 1, vars, 2);
    bpnn_load_options o;
    bpnn_load_options_default(&o);
    o.label_offset = 1;
    o.mat_x = "features";
    o.mat_y = "classes";
    bpnn_dataset d;
    ck_assert_int_eq(bpnn_load_data(path, NULL, &o, &d), BPNN_OK);
    check_fixture(&d, ROWS, 1);
    bpnn_dataset_free(&d);
}
END_TEST

START_TEST(mat_v73)
{
    double x[ROWS * COLS];
    unsigned char y[ROWS];
    fill_x_double(x);
    memcpy(y, y_labels, sizeof y);
    var vars[] = {{"X", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {ROWS, COLS}, x, 0},
                  {"y", MAT_C_UINT8, MAT_T_UINT8, 2, {ROWS, 1}, y, 0}};
    char *path = path_in("v73.mat");
    write_mat(path, MAT_FT_MAT73, 1, vars, 2);
    bpnn_dataset d;
    ck_assert_int_eq(load(path, 1, &d), BPNN_OK);
    check_fixture(&d, ROWS, 1);
    bpnn_dataset_free(&d);

    /* HDF5 checks its own structure: a cut file is refused, in one line. */
    size_t size;
    unsigned char *bytes = read_all(path, &size);
    char *cut = path_in("v73-cut.mat");
    write_bytes(cut, bytes, size / 2);
    ck_assert_int_eq(load(cut, 1, &d), BPNN_ERR_INVALID);
    assert_message_has("truncated MAT file: ");
    assert_message_has("HDF5: File has been truncated");
    assert_empty(&d);
    free(bytes);
}
END_TEST

/* A big-endian v5 file written byte by byte: X 2x2 double, y 2x1 double. */
static size_t put_be32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
    return 4;
}

static size_t put_be_double(unsigned char *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    for (int k = 0; k < 8; k++)
        b[k] = (unsigned char)(u >> (56 - 8 * k));
    return 8;
}

static size_t big_endian_matrix(unsigned char *b, char name, const double *values, uint32_t rows,
                                uint32_t cols)
{
    size_t n = 0, count = (size_t)rows * cols;
    n += put_be32(b + n, 14); /* miMATRIX */
    n += put_be32(b + n, (uint32_t)(16 + 16 + 8 + 8 + 8 * count));
    n += put_be32(b + n, 6); /* array flags: miUINT32, 8 bytes, class double (6) */
    n += put_be32(b + n, 8);
    n += put_be32(b + n, 6);
    n += put_be32(b + n, 0);
    n += put_be32(b + n, 5); /* dimensions: miINT32 */
    n += put_be32(b + n, 8);
    n += put_be32(b + n, rows);
    n += put_be32(b + n, cols);
    n += put_be32(b + n, 1u << 16 | 1); /* name: small miINT8 element of 1 byte */
    b[n++] = (unsigned char)name;
    b[n++] = 0;
    b[n++] = 0;
    b[n++] = 0;
    n += put_be32(b + n, 9); /* real part: miDOUBLE */
    n += put_be32(b + n, (uint32_t)(8 * count));
    for (size_t k = 0; k < count; k++)
        n += put_be_double(b + n, values[k]);
    return n;
}

START_TEST(mat_big_endian)
{
    unsigned char file[512];
    memset(file, ' ', 128);
    memcpy(file, "MATLAB 5.0 MAT-file, Platform: sparc", 36);
    memset(file + 116, 0, 8);
    file[124] = 0x01; /* version 0x0100, big-endian */
    file[125] = 0x00;
    file[126] = 'M';
    file[127] = 'I';
    const double x[4] = {0.5, -1.25, 3, 4.75}; /* column-major 2x2 */
    const double y[2] = {2, 1};
    size_t n = 128;
    n += big_endian_matrix(file + n, 'X', x, 2, 2);
    n += big_endian_matrix(file + n, 'y', y, 2, 1);
    char *path = path_in("big.mat");
    write_bytes(path, file, n);
    ck_assert_int_eq(data_check_mat(path), BPNN_OK);
    bpnn_dataset d;
    ck_assert_msg(load(path, 1, &d) == BPNN_OK, "%s", bpnn_error_message());
    ck_assert_uint_eq(d.rows, 2);
    ck_assert_uint_eq(d.features, 2);
    ck_assert(d.x[0] == 0.5 && d.x[1] == 3 && d.x[2] == -1.25 && d.x[3] == 4.75);
    ck_assert(d.labels[0] == 1 && d.labels[1] == 0);
    bpnn_dataset_free(&d);

    /* The same file cut inside y: the walk reads big-endian tags too. */
    write_bytes(path, file, n - 4);
    ck_assert_int_eq(load(path, 1, &d), BPNN_ERR_INVALID);
    assert_message_has("truncated MAT file: ");
}
END_TEST

/* ---- bad files ------------------------------------------------------------------ */

START_TEST(mat_truncated_at_every_length)
{
    for (int compress = 0; compress < 2; compress++) {
        char *path = path_in("whole.mat"), *cut = path_in("cut.mat");
        write_fixture(path, compress);
        size_t size;
        unsigned char *bytes = read_all(path, &size);
        int truncated = 0, boundaries = 0;
        for (size_t length = 20; length < size; length++) {
            write_bytes(cut, bytes, length);
            bpnn_dataset d;
            bpnn_status status = load(cut, 1, &d);
            ck_assert_msg(status == BPNN_ERR_INVALID, "%s cut at %zu of %zu: status %d",
                          compress ? "compressed" : "plain", length, size, (int)status);
            assert_empty(&d);
            const char *message = bpnn_error_message();
            ck_assert_msg(strchr(message, '\n') == NULL, "not one line: %s", message);
            if (strstr(message, "truncated MAT file: ") && strstr(message, cut))
                truncated++;
            else if (strstr(message, "no variable y in MAT file: ") &&
                     strstr(message, "it has variables X"))
                boundaries++; /* cut exactly between X and y: a valid file without y */
            else if (length == 128 && strstr(message, "no variable X in MAT file: ") &&
                     strstr(message, "it has no variables"))
                boundaries++; /* the header alone: a valid empty file */
            else
                ck_abort_msg("cut at %zu of %zu: unexpected message: %s", length, size, message);
        }
        ck_assert_int_eq(boundaries, 2);
        ck_assert_uint_eq((size_t)truncated, size - 20 - 2);
        free(bytes);
    }
}
END_TEST

START_TEST(mat_corrupt_elements)
{
    /* Uncompressed: the real part of X claims more bytes than X holds. */
    char *path = path_in("corrupt.mat");
    write_fixture(path, 0);
    size_t size;
    unsigned char *bytes = read_all(path, &size);
    /* X's real part is its 5th sub-element: header 128, X tag 8, flags 16,
     * dims 16, name 8 (small) -> the real part's tag at 176. */
    uint32_t type, count;
    memcpy(&type, bytes + 176, 4);
    memcpy(&count, bytes + 180, 4);
    ck_assert_uint_eq(type, MAT_T_DOUBLE);
    ck_assert_uint_eq(count, ROWS * COLS * 8);
    count += 64;
    memcpy(bytes + 180, &count, 4);
    write_bytes(path, bytes, size);
    bpnn_dataset d;
    ck_assert_int_eq(load(path, 1, &d), BPNN_ERR_INVALID);
    assert_message_has("corrupt MAT file: ");
    assert_message_has("past the end of the variable holding it");
    free(bytes);

    /* Compressed: bytes changed inside the zlib stream. */
    write_fixture(path, 1);
    bytes = read_all(path, &size);
    for (size_t k = 150; k < 170 && k < size; k++)
        bytes[k] ^= 0x5A;
    write_bytes(path, bytes, size);
    ck_assert_int_eq(load(path, 1, &d), BPNN_ERR_INVALID);
    assert_message_has("corrupt MAT file: ");
    assert_empty(&d);
    free(bytes);

    /* A header with no endian indicator is not a MAT file. */
    char header[128];
    memset(header, ' ', sizeof header);
    memcpy(header, "MATLAB 5.0 MAT-file, Platform: GLNXA64", 38);
    write_bytes(path, header, sizeof header);
    ck_assert_int_eq(load(path, 1, &d), BPNN_ERR_INVALID);
    assert_message_has("not a MAT file: ");
    assert_message_has(path);

    /* gzip around a .mat: named, not misread */
    write_fixture(path, 0);
    bytes = read_all(path, &size);
    char *gz = path_in("zipped.mat.gz");
    gzFile file = gzopen(gz, "wb");
    ck_assert_int_eq(gzwrite(file, bytes, (unsigned)size), (int)size);
    gzclose(file);
    ck_assert_int_eq(load(gz, 1, &d), BPNN_ERR_INVALID);
    assert_message_has("gzip-compressed MAT file: ");
    free(bytes);

    /* a separate labels file is for IDX */
    ck_assert_int_eq(bpnn_load_data(path, path, NULL, &d), BPNN_ERR_INVALID);
    assert_message_has("a separate labels file is for IDX images only");
}
END_TEST

START_TEST(mat_missing_variables)
{
    double x[ROWS * COLS];
    fill_x_double(x);
    var only_x[] = {{"X", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {ROWS, COLS}, x, 0}};
    char *path = path_in("only_x.mat");
    write_mat(path, MAT_FT_MAT5, 1, only_x, 1);
    bpnn_dataset d;
    ck_assert_int_eq(load(path, 0, &d), BPNN_ERR_INVALID);
    assert_message_has("no variable y in MAT file: ");
    assert_message_has(path);
    assert_message_has("it has variables X; name the labels with --mat-y (or --no-labels)");
    assert_empty(&d);

    write_fixture(path, 0);
    bpnn_load_options o;
    bpnn_load_options_default(&o);
    o.mat_x = "images";
    ck_assert_int_eq(bpnn_load_data(path, NULL, &o, &d), BPNN_ERR_INVALID);
    assert_message_has("no variable images in MAT file: ");
    assert_message_has("it has variables X, y; name the features (rows = samples) with --mat-x");

    /* a file with no variables at all */
    var none[] = {{"z", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {1, 1}, x, 0}};
    write_mat(path, MAT_FT_MAT5, 0, none, 0);
    ck_assert_int_eq(load(path, 0, &d), BPNN_ERR_INVALID);
    assert_message_has("no variable X in MAT file: ");
    assert_message_has("it has no variables");
}
END_TEST

START_TEST(mat_wrong_shapes)
{
    double x[2 * 3 * 4] = {0}, y[ROWS * 2] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    char *path = path_in("shapes.mat");
    bpnn_dataset d;

    var x3d[] = {{"X", MAT_C_DOUBLE, MAT_T_DOUBLE, 3, {2, 3, 4}, x, 0},
                 {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {2, 1}, y, 0}};
    write_mat(path, MAT_FT_MAT5, 0, x3d, 2);
    ck_assert_int_eq(load(path, 0, &d), BPNN_ERR_INVALID);
    assert_message_has("wrong shape: X in MAT file ");
    assert_message_has("is 2x3x4; the features (rows = samples) must be 2-D");

    var y_matrix[] = {{"X", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {ROWS, 2}, x, 0},
                      {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {ROWS, 2}, y, 0}};
    write_mat(path, MAT_FT_MAT5, 1, y_matrix, 2);
    ck_assert_int_eq(load(path, 0, &d), BPNN_ERR_INVALID);
    assert_message_has("wrong shape: y in MAT file ");
    assert_message_has("is 5x2; the labels must be a vector");

    var y_short[] = {{"X", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {ROWS, 2}, x, 0},
                     {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {ROWS - 1, 1}, y, 0}};
    write_mat(path, MAT_FT_MAT5, 0, y_short, 2);
    ck_assert_int_eq(load(path, 0, &d), BPNN_ERR_INVALID);
    assert_message_has("sizes do not match: MAT file ");
    assert_message_has("X has 5 rows (samples), y has 4 labels");

    var x_empty[] = {{"X", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {0, 3}, NULL, 0},
                     {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {0, 1}, NULL, 0}};
    write_mat(path, MAT_FT_MAT5, 0, x_empty, 2);
    ck_assert_int_eq(load(path, 0, &d), BPNN_ERR_INVALID);
    assert_message_has("no samples: X in MAT file ");
    assert_empty(&d);
}
END_TEST

START_TEST(mat_non_numeric)
{
    double x[ROWS * COLS];
    fill_x_double(x);
    char *path = path_in("kinds.mat");
    bpnn_dataset d;

    char text[ROWS + 1] = "abcab";
    var y_char[] = {{"X", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {ROWS, COLS}, x, 0},
                    {"y", MAT_C_CHAR, MAT_T_UINT8, 2, {1, ROWS}, text, 0}};
    write_mat(path, MAT_FT_MAT5, 0, y_char, 2);
    ck_assert_int_eq(load(path, 0, &d), BPNN_ERR_INVALID);
    assert_message_has("not numeric: y in MAT file ");
    assert_message_has("is a 1x5 char; the labels must be a numeric array");

    for (int compress = 0; compress < 2; compress++) {
        /* Mat_VarFree of the cell array frees the cells it holds. */
        size_t one[2] = {1, 1};
        matvar_t **cells = calloc(2, sizeof *cells);
        double a = 1, b = 2;
        cells[0] = Mat_VarCreate(NULL, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, one, &a, 0);
        cells[1] = Mat_VarCreate(NULL, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, one, &b, 0);
        size_t dims[2] = {2, 1};
        unlink(path);
        mat_t *mat = Mat_CreateVer(path, NULL, MAT_FT_MAT5);
        size_t xdims[2] = {2, 1};
        matvar_t *vx = Mat_VarCreate("X", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, xdims, x, 0);
        matvar_t *vy = Mat_VarCreate("y", MAT_C_CELL, MAT_T_CELL, 2, dims, cells, 0);
        ck_assert_int_eq(
            Mat_VarWrite(mat, vx, compress ? MAT_COMPRESSION_ZLIB : MAT_COMPRESSION_NONE), 0);
        ck_assert_int_eq(
            Mat_VarWrite(mat, vy, compress ? MAT_COMPRESSION_ZLIB : MAT_COMPRESSION_NONE), 0);
        Mat_VarFree(vx);
        Mat_VarFree(vy);
        free(cells);
        Mat_Close(mat);
        ck_assert_int_eq(data_check_mat(path), BPNN_OK); /* a cell array walks fine */
        ck_assert_int_eq(load(path, 0, &d), BPNN_ERR_INVALID);
        assert_message_has("not numeric: y in MAT file ");
        assert_message_has("is a 2x1 cell array");
    }

    double re[ROWS] = {1, 2, 3, 1, 2}, im[ROWS] = {0};
    mat_complex_split_t split = {re, im};
    var y_complex[] = {{"X", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {ROWS, COLS}, x, 0},
                       {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {ROWS, 1}, &split, MAT_F_COMPLEX}};
    write_mat(path, MAT_FT_MAT5, 1, y_complex, 2);
    ck_assert_int_eq(load(path, 0, &d), BPNN_ERR_INVALID);
    assert_message_has("complex numbers: y in MAT file ");

    mat_uint32_t ir[2] = {0, 1}, jc[3] = {0, 1, 2};
    double values[2] = {1, 2};
    mat_sparse_t sparse = {
        .nzmax = 2, .ir = ir, .nir = 2, .jc = jc, .njc = 3, .ndata = 2, .data = values};
    double y[2] = {0, 1};
    var x_sparse[] = {{"X", MAT_C_SPARSE, MAT_T_DOUBLE, 2, {2, 2}, &sparse, 0},
                      {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {2, 1}, y, 0}};
    write_mat(path, MAT_FT_MAT5, 0, x_sparse, 2);
    ck_assert_int_eq(load(path, 0, &d), BPNN_ERR_INVALID);
    assert_message_has("sparse matrix in MAT file: ");
    assert_message_has("store it with full(X)");
    assert_empty(&d);
}
END_TEST

START_TEST(mat_bad_labels_and_values)
{
    double x[ROWS * COLS], y[ROWS];
    fill_x_double(x);
    char *path = path_in("labels.mat");
    bpnn_dataset d;
    var vars[] = {{"X", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {ROWS, COLS}, x, 0},
                  {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {ROWS, 1}, y, 0}};

    for (int i = 0; i < ROWS; i++)
        y[i] = y_labels[i];
    y[2] = 2.5;
    write_mat(path, MAT_FT_MAT5, 0, vars, 2);
    ck_assert_int_eq(load(path, 1, &d), BPNN_ERR_INVALID);
    assert_message_has("non-integral label in MAT file: ");
    assert_message_has(": y(3) is 2.5");
    assert_empty(&d);

    y[2] = NAN;
    write_mat(path, MAT_FT_MAT5, 1, vars, 2);
    ck_assert_int_eq(load(path, 1, &d), BPNN_ERR_INVALID);
    assert_message_has("non-integral label in MAT file: ");

    y[2] = 1e12;
    write_mat(path, MAT_FT_MAT5, 1, vars, 2);
    ck_assert_int_eq(load(path, 1, &d), BPNN_ERR_INVALID);
    assert_message_has("label out of range in MAT file: ");

    y[2] = 0; /* 0 in a 1..K file */
    write_mat(path, MAT_FT_MAT5, 0, vars, 2);
    ck_assert_int_eq(load(path, 1, &d), BPNN_ERR_INVALID);
    assert_message_has("negative class: ");
    assert_message_has("y(3) is 0, minus the label offset 1 that is -1");
    ck_assert_int_eq(load(path, 0, &d), BPNN_OK);
    bpnn_dataset_free(&d);

    y[2] = 3;
    x[ROWS * 2 + 1] = INFINITY; /* X(2,3) */
    write_mat(path, MAT_FT_MAT5, 0, vars, 2);
    ck_assert_int_eq(load(path, 1, &d), BPNN_ERR_INVALID);
    assert_message_has("non-finite value in MAT file: ");
    assert_message_has("X(2,3) is inf");
    assert_empty(&d);
}
END_TEST

/* The program, as a user runs it, on a truncated file: exit 2, one line. */
START_TEST(mat_cli_errors)
{
    const char *program = getenv("BPNN_CL");
    ck_assert_msg(program != NULL, "BPNN_CL names the program under test");
    char *path = path_in("cli.mat"), *err = path_in("stderr.txt");
    write_fixture(path, 1);
    size_t size;
    unsigned char *bytes = read_all(path, &size);
    write_bytes(path, bytes, size - 10);
    free(bytes);
    char command[2048];
    snprintf(command, sizeof command,
             "%s train --data %s --labels-from 1 --device cpu --quiet >/dev/null 2>%s", program,
             path, err);
    int status = system(command);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 2);
    size_t err_size;
    char *text = (char *)read_all(err, &err_size);
    text[err_size] = '\0';
    ck_assert_msg(strncmp(text, "bpnn-cl: truncated MAT file: ", 29) == 0, "%s", text);
    ck_assert_msg(strchr(text, '\n') == text + err_size - 1, "not one line: %s", text);
    free(text);
}
END_TEST

/* ---- arrays that declare more than they hold ------------------------------------- */

/* A v5 file assembled byte by byte, little-endian. */
typedef struct mat_bytes {
    unsigned char b[16384];
    size_t n;
} mat_bytes;

static void put32(mat_bytes *m, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        m->b[m->n++] = (unsigned char)(v >> (8 * k));
}

static void pad8(mat_bytes *m)
{
    while (m->n % 8)
        m->b[m->n++] = 0;
}

static void put_header(mat_bytes *m)
{
    memset(m->b, ' ', 116);
    memcpy(m->b, "MATLAB 5.0 MAT-file, Platform: test", 35);
    memset(m->b + 116, 0, 8);
    m->b[124] = 0x00; /* version 0x0100, little-endian */
    m->b[125] = 0x01;
    m->b[126] = 'I';
    m->b[127] = 'M';
    m->n = 128;
}

/* Opens a miMATRIX; returns where its byte count goes (close_matrix). */
static size_t open_matrix(mat_bytes *m, unsigned array_class, int complex, int rank,
                          const int32_t *dims, const char *name)
{
    put32(m, 14);
    size_t count_at = m->n;
    put32(m, 0);
    put32(m, 6); /* array flags */
    put32(m, 8);
    put32(m, array_class | (complex ? 0x800u : 0));
    put32(m, 0);
    put32(m, 5); /* dimensions */
    put32(m, (uint32_t)(4 * rank));
    for (int d = 0; d < rank; d++)
        put32(m, (uint32_t)dims[d]);
    pad8(m);
    put32(m, 1); /* name */
    put32(m, (uint32_t)strlen(name));
    memcpy(m->b + m->n, name, strlen(name));
    m->n += strlen(name);
    pad8(m);
    return count_at;
}

static void close_matrix(mat_bytes *m, size_t count_at)
{
    uint32_t count = (uint32_t)(m->n - count_at - 4);
    for (int k = 0; k < 4; k++)
        m->b[count_at + k] = (unsigned char)(count >> (8 * k));
}

static void put_doubles(mat_bytes *m, const double *values, size_t count)
{
    put32(m, 9); /* miDOUBLE */
    put32(m, (uint32_t)(8 * count));
    memcpy(m->b + m->n, values, 8 * count);
    m->n += 8 * count;
}

/* A double matrix `name` of rows x cols that stores only `stored` values. */
static void put_double_matrix(mat_bytes *m, const char *name, int32_t rows, int32_t cols,
                              size_t stored)
{
    double values[64];
    for (size_t k = 0; k < stored; k++)
        values[k] = (double)(k % 3);
    int32_t dims[2] = {rows, cols};
    size_t at = open_matrix(m, MAT_C_DOUBLE, 0, 2, dims, name);
    put_doubles(m, values, stored);
    close_matrix(m, at);
}

/* The miMATRIX element starting at byte `from` replaced by a miCOMPRESSED one. */
static void compress_from(mat_bytes *m, size_t from)
{
    unsigned char packed[16384];
    uLongf size = sizeof packed;
    ck_assert_int_eq(compress(packed, &size, m->b + from, m->n - from), Z_OK);
    m->n = from;
    put32(m, 15);
    put32(m, (uint32_t)size);
    memcpy(m->b + m->n, packed, size);
    m->n += size;
}

static bpnn_status load_bytes(const mat_bytes *m, bpnn_dataset *d)
{
    char *path = path_in("built.mat");
    write_bytes(path, m->b, m->n);
    return load(path, 0, d);
}

START_TEST(mat_short_data_element)
{
    /* X 3x2 double with one value stored, y complete. SciPy refuses it;
     * matio would read the bytes after it as X's values. */
    for (int compressed = 0; compressed < 2; compressed++) {
        mat_bytes m;
        put_header(&m);
        put_double_matrix(&m, "X", 3, 2, 1);
        if (compressed)
            compress_from(&m, 128);
        put_double_matrix(&m, "y", 3, 1, 3);
        bpnn_dataset d;
        ck_assert_int_eq(load_bytes(&m, &d), BPNN_ERR_INVALID);
        assert_message_has("corrupt MAT file: ");
        assert_message_has("variable X is 3x2 (6 values) but its real part holds 1");
        if (compressed)
            assert_message_has("(inflated) of the compressed variable at byte 128");
        assert_empty(&d);
    }
    /* Complex without its imaginary part. */
    mat_bytes m;
    put_header(&m);
    int32_t dims[2] = {2, 1};
    size_t at = open_matrix(&m, MAT_C_DOUBLE, 1, 2, dims, "X");
    double re[2] = {1, 2};
    put_doubles(&m, re, 2);
    close_matrix(&m, at);
    bpnn_dataset d;
    ck_assert_int_eq(load_bytes(&m, &d), BPNN_ERR_INVALID);
    assert_message_has("variable X is 2x1 but has no imaginary part");
    /* The whole file intact: the same bytes with every value load. */
    put_header(&m);
    put_double_matrix(&m, "X", 3, 2, 6);
    put_double_matrix(&m, "y", 3, 1, 3);
    ck_assert_msg(load_bytes(&m, &d) == BPNN_OK, "%s", bpnn_error_message());
    ck_assert_uint_eq(d.rows, 3);
    ck_assert(d.x[0] == 0 && d.x[2] == 1 && d.labels[2] == 2);
    bpnn_dataset_free(&d);
}
END_TEST

START_TEST(mat_structure_bounded_by_the_file)
{
    /* Each file holds a variable before X whose structure declares more than
     * it holds; matio would allocate from it (gigabytes from a few bytes). */
    bpnn_dataset d;
    mat_bytes m;

    /* A 65536 x 65536 cell array holding no cells. */
    put_header(&m);
    int32_t big[2] = {65536, 65536};
    close_matrix(&m, open_matrix(&m, MAT_C_CELL, 0, 2, big, "c"));
    put_double_matrix(&m, "X", 3, 2, 6);
    ck_assert_int_eq(load_bytes(&m, &d), BPNN_ERR_INVALID);
    assert_message_has("variable c declares 4294967296 cells but holds 0");
    assert_empty(&d);

    /* A function handle: matio reads one array per element, as for cells
     * (the fuzzer's first finding: its dimensions claimed 4 GiB). */
    put_header(&m);
    close_matrix(&m, open_matrix(&m, MAT_C_FUNCTION, 0, 2, big, "f"));
    ck_assert_int_eq(load_bytes(&m, &d), BPNN_ERR_INVALID);
    assert_message_has("variable f declares 4294967296 function handles but holds 0");
    put_header(&m);
    size_t f = open_matrix(&m, MAT_C_FUNCTION, 0, 2, big, "f");
    m.b[f + 4 + 16 + 4] = 0x46; /* the dimensions' byte count: 0xFFFFFF46 */
    m.b[f + 4 + 16 + 5] = m.b[f + 4 + 16 + 6] = m.b[f + 4 + 16 + 7] = 0xFF;
    close_matrix(&m, f);
    ck_assert_int_eq(load_bytes(&m, &d), BPNN_ERR_INVALID);
    assert_message_has("past the end of the variable holding it");

    /* A struct of 65536 x 65536 elements with one field, holding none. */
    put_header(&m);
    size_t at = open_matrix(&m, MAT_C_STRUCT, 0, 2, big, "s");
    put32(&m, 4u << 16 | 5); /* field name length 8, a small miINT32 */
    put32(&m, 8);
    put32(&m, 1); /* field names */
    put32(&m, 8);
    memcpy(m.b + m.n, "field\0\0\0", 8);
    m.n += 8;
    close_matrix(&m, at);
    put_double_matrix(&m, "X", 3, 2, 6);
    ck_assert_int_eq(load_bytes(&m, &d), BPNN_ERR_INVALID);
    assert_message_has("variable s declares 4294967296 struct fields but holds 0");

    /* Field names that the field name length does not divide. */
    put_header(&m);
    int32_t one[2] = {1, 1};
    at = open_matrix(&m, MAT_C_STRUCT, 0, 2, one, "s");
    put32(&m, 4u << 16 | 5);
    put32(&m, 3);
    put32(&m, 1);
    put32(&m, 8);
    memcpy(m.b + m.n, "abcdefgh", 8);
    m.n += 8;
    close_matrix(&m, at);
    ck_assert_int_eq(load_bytes(&m, &d), BPNN_ERR_INVALID);
    assert_message_has("not a multiple of the field name length 3");

    /* A negative dimension. */
    put_header(&m);
    int32_t negative[2] = {-1, 2};
    close_matrix(&m, open_matrix(&m, MAT_C_DOUBLE, 0, 2, negative, "X"));
    ck_assert_int_eq(load_bytes(&m, &d), BPNN_ERR_INVALID);
    assert_message_has("dimension 1 is negative (-1)");

    /* Cells inside cells, 70 deep (matio recurses once per level). */
    put_header(&m);
    size_t opened[70];
    for (int k = 0; k < 70; k++)
        opened[k] = open_matrix(&m, MAT_C_CELL, 0, 2, one, k ? "" : "c");
    for (int k = 69; k >= 0; k--)
        close_matrix(&m, opened[k]);
    ck_assert_int_eq(load_bytes(&m, &d), BPNN_ERR_INVALID);
    assert_message_has("arrays nested more than 64 deep");

    /* A variable with no array flags at all, and an unknown class. */
    put_header(&m);
    put32(&m, 14);
    put32(&m, 0);
    ck_assert_int_eq(load_bytes(&m, &d), BPNN_ERR_INVALID);
    assert_message_has("the variable is empty (no array flags)");
    put_header(&m);
    close_matrix(&m, open_matrix(&m, 40, 0, 2, one, "X"));
    ck_assert_int_eq(load_bytes(&m, &d), BPNN_ERR_INVALID);
    assert_message_has("unknown array class 40");
}
END_TEST

START_TEST(mat_other_classes_still_load)
{
    /* The structural walk accepts what matio writes: a struct, nested cells,
     * char, logical, sparse and empty arrays around X and y. */
    double x[ROWS * COLS];
    fill_x_double(x);
    unsigned char y[ROWS];
    memcpy(y, y_labels, sizeof y);
    for (int compress = 0; compress < 2; compress++) {
        char *path = path_in("classes.mat");
        unlink(path);
        mat_t *mat = Mat_CreateVer(path, NULL, MAT_FT_MAT5);
        ck_assert_ptr_nonnull(mat);
        enum matio_compression how = compress ? MAT_COMPRESSION_ZLIB : MAT_COMPRESSION_NONE;
        size_t one[2] = {1, 1}, two[2] = {2, 1}, none[2] = {0, 0};
        double a = 1.5;
        const char *fields[2] = {"alpha", "beta"};
        matvar_t *s = Mat_VarCreateStruct("info", 2, one, fields, 2);
        Mat_VarSetStructFieldByName(s, "alpha", 0,
                                    Mat_VarCreate(NULL, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, one, &a, 0));
        Mat_VarSetStructFieldByName(
            s, "beta", 0,
            Mat_VarCreate(NULL, MAT_C_CHAR, MAT_T_UINT8, 2, (size_t[]){1, 3}, "abc", 0));
        ck_assert_int_eq(Mat_VarWrite(mat, s, how), 0);
        Mat_VarFree(s);
        matvar_t **inner = calloc(1, sizeof *inner), **outer = calloc(2, sizeof *outer);
        inner[0] = Mat_VarCreate(NULL, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, one, &a, 0);
        outer[0] = Mat_VarCreate(NULL, MAT_C_CELL, MAT_T_CELL, 2, one, inner, 0);
        outer[1] = Mat_VarCreate(NULL, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, none, NULL, 0);
        matvar_t *cells = Mat_VarCreate("nested", MAT_C_CELL, MAT_T_CELL, 2, two, outer, 0);
        ck_assert_int_eq(Mat_VarWrite(mat, cells, how), 0);
        Mat_VarFree(cells);
        free(outer);
        free(inner);
        mat_uint8_t flags[2] = {1, 0};
        matvar_t *logical =
            Mat_VarCreate("mask", MAT_C_UINT8, MAT_T_UINT8, 2, two, flags, MAT_F_LOGICAL);
        ck_assert_int_eq(Mat_VarWrite(mat, logical, how), 0);
        Mat_VarFree(logical);
        mat_uint32_t ir[1] = {1}, jc[2] = {0, 1};
        double pr[1] = {4};
        mat_sparse_t sparse = {
            .nzmax = 1, .ir = ir, .nir = 1, .jc = jc, .njc = 2, .ndata = 1, .data = pr};
        matvar_t *sp = Mat_VarCreate("sp", MAT_C_SPARSE, MAT_T_DOUBLE, 2, (size_t[]){2, 1}, &sparse,
                                     MAT_F_DONT_COPY_DATA);
        ck_assert_int_eq(Mat_VarWrite(mat, sp, how), 0);
        Mat_VarFree(sp);
        matvar_t *vx =
            Mat_VarCreate("X", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, (size_t[]){ROWS, COLS}, x, 0);
        matvar_t *vy = Mat_VarCreate("y", MAT_C_UINT8, MAT_T_UINT8, 2, (size_t[]){ROWS, 1}, y, 0);
        ck_assert_int_eq(Mat_VarWrite(mat, vx, how), 0);
        ck_assert_int_eq(Mat_VarWrite(mat, vy, how), 0);
        Mat_VarFree(vx);
        Mat_VarFree(vy);
        ck_assert_int_eq(Mat_Close(mat), 0);
        ck_assert_msg(data_check_mat(path) == BPNN_OK, "%s", bpnn_error_message());
        bpnn_dataset d;
        ck_assert_msg(load(path, 1, &d) == BPNN_OK, "%s", bpnn_error_message());
        check_fixture(&d, ROWS, 1);
        bpnn_dataset_free(&d);
    }
}
END_TEST

/* A child that writes `size` bytes into `fd` (a pipe or an opened FIFO) and
 * exits; it gives up after 20 s so a failing test leaves nothing behind. */
static pid_t write_in_child(const char *fifo, int fd, const void *bytes, size_t size)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        alarm(20);
        if (fifo)
            fd = open(fifo, O_WRONLY);
        _exit(fd >= 0 && write(fd, bytes, size) == (ssize_t)size ? 0 : 1);
    }
    return pid;
}

static void reap(pid_t pid)
{
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer status %d", status);
}

START_TEST(mat_from_fifo_and_stdin)
{
    char *path = path_in("piped.mat"), *fifo = path_in("mat.fifo");
    write_fixture(path, 1);
    size_t size;
    unsigned char *bytes = read_all(path, &size);
    unlink(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    bpnn_dataset d;
    pid_t writer = write_in_child(fifo, -1, bytes, size);
    ck_assert_msg(load(fifo, 1, &d) == BPNN_OK, "%s", bpnn_error_message());
    reap(writer);
    check_fixture(&d, ROWS, 1);
    bpnn_dataset_free(&d);

    /* Standard input, and errors named by it. */
    for (int cut = 0; cut < 2; cut++) {
        int fds[2], saved = dup(STDIN_FILENO);
        ck_assert_int_eq(pipe(fds), 0);
        writer = write_in_child(NULL, fds[1], bytes, cut ? size - 10 : size);
        close(fds[1]);
        ck_assert_int_eq(dup2(fds[0], STDIN_FILENO), STDIN_FILENO);
        close(fds[0]);
        bpnn_status status = load("-", 1, &d);
        ck_assert_int_eq(dup2(saved, STDIN_FILENO), STDIN_FILENO);
        close(saved);
        reap(writer);
        if (cut) {
            ck_assert_int_eq(status, BPNN_ERR_INVALID);
            assert_message_has("truncated MAT file: standard input: ");
            assert_empty(&d);
        } else {
            ck_assert_msg(status == BPNN_OK, "%s", bpnn_error_message());
            check_fixture(&d, ROWS, 1);
            bpnn_dataset_free(&d);
        }
    }
    free(bytes);
}
END_TEST

/* ---- parity with IDX --------------------------------------------------------------- */

enum { P_ROWS = 60, P_SIDE = 4, P_CLASSES = 3 };

static void put_u32_be(unsigned char *b, uint32_t v)
{
    put_be32(b, v);
}

/* The same samples as an IDX pair (labels 0..K-1) and a MAT file (X = p/255,
 * y = label + 1). Pixels depend on the class, so the network learns. */
static void write_parity_files(const char *images, const char *labels, const char *mat)
{
    unsigned char image_file[16 + P_ROWS * P_SIDE * P_SIDE], label_file[8 + P_ROWS];
    put_u32_be(image_file, 0x00000803);
    put_u32_be(image_file + 4, P_ROWS);
    put_u32_be(image_file + 8, P_SIDE);
    put_u32_be(image_file + 12, P_SIDE);
    put_u32_be(label_file, 0x00000801);
    put_u32_be(label_file + 4, P_ROWS);
    static double x[P_ROWS * P_SIDE * P_SIDE];
    static double y[P_ROWS];
    uint32_t state = 12345;
    for (int i = 0; i < P_ROWS; i++) {
        int k = i % P_CLASSES;
        label_file[8 + i] = (unsigned char)k;
        y[i] = k + 1;
        for (int p = 0; p < P_SIDE * P_SIDE; p++) {
            state = state * 1664525u + 1013904223u;
            unsigned noise = state >> 26; /* 0..63 */
            unsigned char v = (unsigned char)((p % P_CLASSES == k ? 180 : 20) + noise);
            image_file[16 + i * P_SIDE * P_SIDE + p] = v;
            x[(size_t)p * P_ROWS + i] = (double)v / 255; /* column-major */
        }
    }
    write_bytes(images, image_file, sizeof image_file);
    write_bytes(labels, label_file, sizeof label_file);
    var vars[] = {{"X", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {P_ROWS, P_SIDE * P_SIDE}, x, 0},
                  {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {P_ROWS, 1}, y, 0}};
    write_mat(mat, MAT_FT_MAT5, 1, vars, 2);
}

START_TEST(mat_idx_parity)
{
    char *images = path_in("p-images"), *labels = path_in("p-labels"), *mat = path_in("p.mat");
    write_parity_files(images, labels, mat);
    bpnn_dataset from_idx, from_mat;
    bpnn_load_options o;
    bpnn_load_options_default(&o);
    ck_assert_int_eq(bpnn_load_data(images, labels, &o, &from_idx), BPNN_OK);
    o.label_offset = 1;
    ck_assert_int_eq(bpnn_load_data(mat, NULL, &o, &from_mat), BPNN_OK);
    ck_assert_uint_eq(from_idx.rows, from_mat.rows);
    ck_assert_uint_eq(from_idx.features, from_mat.features);
    ck_assert(memcmp(from_idx.x, from_mat.x, from_idx.rows * from_idx.features * sizeof(double)) ==
              0);
    ck_assert(memcmp(from_idx.labels, from_mat.labels, from_idx.rows * sizeof(int32_t)) == 0);

    int sizes[3] = {P_SIDE * P_SIDE, 6, P_CLASSES};
    bpnn_device *device;
    ck_assert_int_eq(bpnn_device_open("cpu", BPNN_F64, &device), BPNN_OK);
    bpnn_model *a, *b;
    ck_assert_int_eq(bpnn_model_create(3, sizes, BPNN_F64, &a), BPNN_OK);
    ck_assert_int_eq(bpnn_model_create(3, sizes, BPNN_F64, &b), BPNN_OK);
    bpnn_init_random(a, 7);
    bpnn_init_random(b, 7);
    a->label_offset = 0;
    b->label_offset = 1;
    bpnn_train_options t;
    bpnn_train_options_default(&t);
    t.max_iter = 8;
    t.lambda = 0.5;
    bpnn_train_result ra, rb;
    ck_assert_int_eq(bpnn_train(device, a, &from_idx, &t, &ra), BPNN_OK);
    ck_assert_int_eq(bpnn_train(device, b, &from_mat, &t, &rb), BPNN_OK);
    ck_assert_int_eq(ra.iterations, 8);
    ck_assert_int_eq(ra.evaluations, rb.evaluations);
    ck_assert(ra.final_cost == rb.final_cost);
    ck_assert(memcmp(a->params, b->params, a->param_count * sizeof(double)) == 0);

    int32_t pa[P_ROWS], pb[P_ROWS];
    ck_assert_int_eq(bpnn_predict(device, a, &from_idx, pa), BPNN_OK);
    ck_assert_int_eq(bpnn_predict(device, b, &from_mat, pb), BPNN_OK);
    int correct = 0;
    for (int i = 0; i < P_ROWS; i++) {
        /* In each file's own convention: the MAT label is the IDX label + 1. */
        long idx_label = pa[i] + a->label_offset, mat_label = pb[i] + b->label_offset;
        ck_assert_int_eq(mat_label, idx_label + 1);
        correct += pa[i] == from_idx.labels[i];
    }
    ck_assert_msg(correct > P_ROWS * 9 / 10, "the network learned: %d of %d", correct, P_ROWS);
    bpnn_model_free(a);
    bpnn_model_free(b);
    bpnn_device_close(device);
    bpnn_dataset_free(&from_idx);
    bpnn_dataset_free(&from_mat);
}
END_TEST

/* The same through the program: the two models' weights are the same files,
 * and predict prints each file's own labels. */
START_TEST(mat_idx_parity_cli)
{
    const char *program = getenv("BPNN_CL");
    ck_assert_msg(program != NULL, "BPNN_CL names the program under test");
    const char *dir = test_fixture_dir();
    write_parity_files(path_in("p-images"), path_in("p-labels"), path_in("p.mat"));
    char command[4096];
    snprintf(command, sizeof command,
             "cd %s && T='--device cpu --precision f64 --layers 16,6,3 --max-iter 8 --lambda 0.5 "
             "--quiet' && %s train --data p-images --labels p-labels $T --out idx.bpnn >/dev/null"
             " && %s train --data p.mat --labels-from 1 $T --out mat.bpnn >/dev/null"
             " && mkdir -p e-idx e-mat && %s export --model idx.bpnn --out e-idx 2>/dev/null"
             " && %s export --model mat.bpnn --out e-mat 2>/dev/null"
             " && cmp e-idx/Theta1.csv e-mat/Theta1.csv && cmp e-idx/Theta2.csv e-mat/Theta2.csv"
             " && %s predict --model idx.bpnn --data p-images --labels p-labels --out idx.csv"
             " && %s predict --model mat.bpnn --data p.mat --out mat.csv"
             " && awk -F, 'NR>1{print $1+1\",\"$2+1}' idx.csv > idx-shifted.csv"
             " && tail -n +2 mat.csv | cmp - idx-shifted.csv"
             " && rm -r e-idx e-mat",
             dir, program, program, program, program, program, program);
    int status = system(command);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "parity through the CLI failed");
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("mat");
    TCase *read = tcase_create("read");
    tcase_set_timeout(read, 60);
    tcase_add_test(read, mat_double_x_uint8_y);
    tcase_add_test(read, mat_single_x_double_y_row_vector);
    tcase_add_test(read, mat_every_numeric_class_of_y);
    tcase_add_test(read, mat_x_stored_compactly);
    tcase_add_test(read, mat_limit_and_names);
    tcase_add_test(read, mat_v73);
    tcase_add_test(read, mat_big_endian);
    suite_add_tcase(suite, read);

    TCase *bad = tcase_create("bad");
    tcase_set_timeout(bad, 120);
    tcase_add_test(bad, mat_truncated_at_every_length);
    tcase_add_test(bad, mat_corrupt_elements);
    tcase_add_test(bad, mat_missing_variables);
    tcase_add_test(bad, mat_wrong_shapes);
    tcase_add_test(bad, mat_non_numeric);
    tcase_add_test(bad, mat_bad_labels_and_values);
    tcase_add_test(bad, mat_cli_errors);
    suite_add_tcase(suite, bad);

    TCase *untrusted = tcase_create("untrusted");
    tcase_set_timeout(untrusted, 60);
    tcase_add_test(untrusted, mat_short_data_element);
    tcase_add_test(untrusted, mat_structure_bounded_by_the_file);
    tcase_add_test(untrusted, mat_other_classes_still_load);
    tcase_add_test(untrusted, mat_from_fifo_and_stdin);
    suite_add_tcase(suite, untrusted);

    TCase *parity = tcase_create("parity");
    tcase_set_timeout(parity, 120);
    tcase_add_test(parity, mat_idx_parity);
    tcase_add_test(parity, mat_idx_parity_cli);
    suite_add_tcase(suite, parity);
    return run_suite(suite);
}
