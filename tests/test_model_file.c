/* test_model_file.c — model files (round trip, corruption, truncation,
 * versions, atomic replacement) and the CSV / NPY exports. */
#include <dirent.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "bpnn.h"
#include "io/model_file.h"
#include "testutil.h"
#include "util/error.h"

/* ---- helpers ------------------------------------------------------------------ */

static uint64_t next_random(uint64_t *state)
{
    /* splitmix64: any well-spread values will do */
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Values over many magnitudes, with signed zero, a subnormal and, for f64,
 * extremes; f32 models hold only values a float represents. */
static double test_value(uint64_t *state, size_t i, bpnn_precision precision)
{
    double u = (double)(next_random(state) >> 11) / 9007199254740992.0 - 0.5;
    double value = u * pow(10.0, (double)((int)(i % 13) - 6));
    if (i == 0)
        value = -0.0;
    else if (i == 1)
        value = precision == BPNN_F64 ? 4.9406564584124654e-324 : 1.40129846e-45;
    else if (i == 2)
        value = precision == BPNN_F64 ? -1.7976931348623157e308 : -3.40282347e38;
    else if (i == 3)
        value = 0.1;
    return precision == BPNN_F32 ? (double)(float)value : value;
}

static bpnn_model *make_model(int layer_count, const int *sizes, bpnn_precision precision,
                              int with_names, bpnn_normalization normalization, uint64_t seed)
{
    bpnn_model *model;
    ck_assert_int_eq(bpnn_model_create(layer_count, sizes, precision, &model), BPNN_OK);
    uint64_t state = seed;
    for (size_t i = 0; i < model->param_count; i++)
        model->params[i] = test_value(&state, i, precision);
    model->lambda = 0.1 * (double)(seed % 7) + 1.0 / 3.0;
    model->label_offset = with_names ? 1 : -7;
    model->epoch = (int)(seed % 5 + 1) * 1000003;
    if (sizes[0] == 6) {
        model->image_width = 2;
        model->image_height = 3;
    }
    model->normalization = normalization;
    if (normalization != BPNN_NORMALIZE_NONE) {
        model->norm_shift = malloc((size_t)sizes[0] * sizeof(double));
        model->norm_scale = malloc((size_t)sizes[0] * sizeof(double));
        ck_assert_ptr_nonnull(model->norm_shift);
        ck_assert_ptr_nonnull(model->norm_scale);
        for (int j = 0; j < sizes[0]; j++) {
            model->norm_shift[j] = 0.1 * j - 0.3;
            model->norm_scale[j] = 1.0 / (j + 3);
        }
    }
    if (with_names) {
        int classes = sizes[layer_count - 1];
        char **names = calloc((size_t)classes, sizeof *names);
        ck_assert_ptr_nonnull(names);
        for (int k = 0; k < classes; k++) {
            names[k] = malloc(32);
            ck_assert_ptr_nonnull(names[k]);
            if (k == 0)
                strcpy(names[k], "T-shirt/top");
            else if (k == 1)
                strcpy(names[k], "");
            else if (k == 2)
                strcpy(names[k], "na\xc3\xafve, \"quoted\"\n");
            else
                snprintf(names[k], 32, "class %d", k);
        }
        ck_assert_int_eq(bpnn_model_set_class_names(model, (const char *const *)names), BPNN_OK);
        for (int k = 0; k < classes; k++)
            free(names[k]);
        free(names);
    }
    return model;
}

static void assert_same_model(const bpnn_model *a, const bpnn_model *b)
{
    ck_assert_int_eq(a->layer_count, b->layer_count);
    for (int l = 0; l < a->layer_count; l++)
        ck_assert_int_eq(a->sizes[l], b->sizes[l]);
    ck_assert_int_eq(a->precision, b->precision);
    ck_assert_msg(memcmp(&a->lambda, &b->lambda, sizeof a->lambda) == 0, "lambda differs");
    ck_assert_uint_eq(a->param_count, b->param_count);
    for (size_t i = 0; i < a->param_count; i++)
        ck_assert_msg(memcmp(&a->params[i], &b->params[i], sizeof(double)) == 0,
                      "parameter %zu: %.17g vs %.17g", i, a->params[i], b->params[i]);
    ck_assert_int_eq(a->label_offset, b->label_offset);
    ck_assert_int_eq(a->epoch, b->epoch);
    ck_assert_int_eq(a->image_width, b->image_width);
    ck_assert_int_eq(a->image_height, b->image_height);
    ck_assert_int_eq(a->normalization, b->normalization);
    if (a->normalization != BPNN_NORMALIZE_NONE) {
        size_t bytes = (size_t)a->sizes[0] * sizeof(double);
        ck_assert(memcmp(a->norm_shift, b->norm_shift, bytes) == 0);
        ck_assert(memcmp(a->norm_scale, b->norm_scale, bytes) == 0);
    } else {
        ck_assert_ptr_null(b->norm_shift);
        ck_assert_ptr_null(b->norm_scale);
    }
    ck_assert_int_eq(a->class_names == NULL, b->class_names == NULL);
    if (a->class_names)
        for (int k = 0; k < bpnn_model_class_count(a); k++)
            ck_assert_str_eq(a->class_names[k], b->class_names[k]);
}

static char *join(const char *dir, const char *name)
{
    size_t size = strlen(dir) + strlen(name) + 2;
    char *path = malloc(size);
    ck_assert_ptr_nonnull(path);
    snprintf(path, size, "%s/%s", dir, name);
    return path;
}

static unsigned char *read_bytes(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    ck_assert_msg(file != NULL, "cannot open %s", path);
    fseek(file, 0, SEEK_END);
    long length = ftell(file);
    ck_assert_int_ge(length, 0);
    fseek(file, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)length + 1);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(fread(data, 1, (size_t)length, file), (size_t)length);
    fclose(file);
    data[length] = '\0';
    *size = (size_t)length;
    return data;
}

static void write_bytes(const char *path, const void *data, size_t size)
{
    FILE *file = fopen(path, "wb");
    ck_assert_ptr_nonnull(file);
    ck_assert_uint_eq(fwrite(data, 1, size, file), size);
    ck_assert_int_eq(fclose(file), 0);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(d)))
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) {
            ck_assert_msg(strstr(entry->d_name, ".tmp-") == NULL, "temp file left: %s",
                          entry->d_name);
            count++;
        }
    closedir(d);
    return count;
}

static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *entry;
            while ((entry = readdir(d)))
                if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) {
                    char *child = join(path, entry->d_name);
                    remove_tree(child);
                    free(child);
                }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void put_le32(unsigned char *at, uint32_t value)
{
    for (int i = 0; i < 4; i++)
        at[i] = (unsigned char)(value >> (8 * i));
}

/* Writes the CRC field again over the (patched) content. */
static void reseal(unsigned char *data, size_t size)
{
    uLong crc = crc32_z(crc32_z(0L, Z_NULL, 0), data, size - 4);
    put_le32(data + size - 4, (uint32_t)crc);
}

static void assert_load_fails(const char *path, const char *expected)
{
    static bpnn_model sentinel;
    bpnn_model *model = &sentinel; /* must be reset to NULL */
    bpnn_clear_error();
    bpnn_status status = bpnn_model_load(path, &model);
    ck_assert_msg(status == BPNN_ERR_INVALID, "status %d, expected 2 (%s)", (int)status,
                  bpnn_error_message());
    ck_assert_ptr_null(model);
    if (expected)
        ck_assert_msg(strstr(bpnn_error_message(), expected) != NULL, "message \"%s\" lacks \"%s\"",
                      bpnn_error_message(), expected);
    ck_assert_msg(strchr(bpnn_error_message(), '\n') == NULL, "message is not one line");
}

/* A saved model's bytes; the path stays valid until the directory goes. */
static unsigned char *saved_bytes(const bpnn_model *model, const char *path, size_t *size)
{
    ck_assert_int_eq(bpnn_model_save(model, path), BPNN_OK);
    return read_bytes(path, size);
}

static const int layout3[] = {5, 4, 3};
static const int layout4[] = {6, 5, 4, 3};

/* ---- model files ---------------------------------------------------------------- */

/* 24 cases: precision x depth x class names x normalization. */
START_TEST(test_round_trip_bit_exact)
{
    bpnn_precision precision = (_i & 1) ? BPNN_F64 : BPNN_F32;
    int deep = (_i >> 1) & 1;
    int with_names = (_i >> 2) & 1;
    bpnn_normalization normalization = (bpnn_normalization)(_i >> 3);
    const char *dir = test_tmpdir();
    char *path = join(dir, "model.bpnn");
    bpnn_model *model = make_model(deep ? 4 : 3, deep ? layout4 : layout3, precision, with_names,
                                   normalization, 1000 + (uint64_t)_i);
    ck_assert_int_eq(bpnn_model_save(model, path), BPNN_OK);
    ck_assert_ptr_null((const void *)bpnn_pending_temp_path);
    bpnn_model *loaded = NULL;
    ck_assert_msg(bpnn_model_load(path, &loaded) == BPNN_OK, "%s", bpnn_error_message());
    assert_same_model(model, loaded);

    /* Saving what was loaded gives the same bytes. */
    size_t size_a, size_b;
    unsigned char *a = read_bytes(path, &size_a);
    char *again = join(dir, "again.bpnn");
    unsigned char *b = saved_bytes(loaded, again, &size_b);
    ck_assert_uint_eq(size_a, size_b);
    ck_assert(memcmp(a, b, size_a) == 0);
    ck_assert_int_eq(count_entries(dir), 2);

    free(a);
    free(b);
    free(again);
    bpnn_model_free(model);
    bpnn_model_free(loaded);
    remove_tree(dir);
    free(path);
}
END_TEST

START_TEST(test_layout_is_little_endian_field_by_field)
{
    const int sizes[] = {2, 1};
    const char *dir = test_tmpdir();
    char *path = join(dir, "m.bpnn");
    bpnn_model *model;
    ck_assert_int_eq(bpnn_model_create(2, sizes, BPNN_F32, &model), BPNN_OK);
    model->params[0] = 1.0;
    model->params[1] = -2.0;
    model->params[2] = 0.5;
    model->lambda = 1.0;
    model->label_offset = -1;
    model->epoch = 0x01020304;
    size_t size;
    unsigned char *data = saved_bytes(model, path, &size);
    static const unsigned char expected[] = {
        'B',  'P',  'N',  'N',  'M', 'D', 'L',  0,                   /* magic */
        2,    0,    0,    0,                                         /* version */
        0,    0,    0,    0,                                         /* precision f32 */
        2,    0,    0,    0,                                         /* layer count */
        2,    0,    0,    0,    1,   0,   0,    0,                   /* sizes */
        0xff, 0xff, 0xff, 0xff,                                      /* label offset -1 */
        0,    0,    0,    0,    0,   0,   0,    0,                   /* image 0 x 0 */
        0,    0,    0,    0,    0,   0,   0xf0, 0x3f,                /* lambda 1.0 */
        4,    3,    2,    1,                                         /* epoch */
        0,    0,    0,    0,                                         /* normalization none */
        0,    0,    0,    0,                                         /* no class names */
        3,    0,    0,    0,    0,   0,   0,    0,                   /* param count */
        0,    0,    0x80, 0x3f, 0,   0,   0,    0xc0, 0, 0, 0, 0x3f, /* 1, -2, 0.5 as f32 */
    };
    ck_assert_uint_eq(size, sizeof expected + 4);
    ck_assert(memcmp(data, expected, sizeof expected) == 0);
    uint32_t crc = (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), data, sizeof expected);
    ck_assert_uint_eq(data[size - 4] | data[size - 3] << 8 | data[size - 2] << 16 |
                          (uint32_t)data[size - 1] << 24,
                      crc);
    free(data);
    bpnn_model_free(model);
    remove_tree(dir);
    free(path);
}
END_TEST

START_TEST(test_every_flipped_byte_detected)
{
    const int sizes[] = {2, 3, 2};
    const char *dir = test_tmpdir();
    char *path = join(dir, "model.bpnn");
    char *bad = join(dir, "bad.bpnn");
    for (int precision = 0; precision < 2; precision++) {
        bpnn_model *model =
            make_model(3, sizes, (bpnn_precision)precision, 1, BPNN_NORMALIZE_ZSCORE, 7);
        size_t size;
        unsigned char *data = saved_bytes(model, path, &size);
        static const unsigned char masks[] = {0x01, 0x80, 0xff};
        for (size_t at = 0; at < size; at++)
            for (size_t m = 0; m < sizeof masks; m++) {
                data[at] ^= masks[m];
                write_bytes(bad, data, size);
                data[at] ^= masks[m];
                bpnn_model *loaded = NULL;
                bpnn_status status = bpnn_model_load(bad, &loaded);
                ck_assert_msg(status == BPNN_ERR_INVALID, "byte %zu ^ 0x%02x of %zu: status %d", at,
                              masks[m], size, (int)status);
                ck_assert_ptr_null(loaded);
            }
        /* The untouched bytes still load. */
        write_bytes(bad, data, size);
        bpnn_model *loaded = NULL;
        ck_assert_int_eq(bpnn_model_load(bad, &loaded), BPNN_OK);
        assert_same_model(model, loaded);
        bpnn_model_free(loaded);
        free(data);
        bpnn_model_free(model);
    }
    remove_tree(dir);
    free(path);
    free(bad);
}
END_TEST

START_TEST(test_flipped_parameter_byte_says_crc)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "model.bpnn");
    bpnn_model *model = make_model(3, layout3, BPNN_F64, 0, BPNN_NORMALIZE_NONE, 3);
    size_t size;
    unsigned char *data = saved_bytes(model, path, &size);
    data[size - 10] ^= 0x10;
    write_bytes(path, data, size);
    assert_load_fails(path, "model file is corrupt (CRC mismatch)");
    free(data);
    bpnn_model_free(model);
    remove_tree(dir);
    free(path);
}
END_TEST

START_TEST(test_truncation_detected)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "model.bpnn");
    char *cut = join(dir, "cut.bpnn");
    bpnn_model *model = make_model(4, layout4, BPNN_F32, 1, BPNN_NORMALIZE_MINMAX, 11);
    size_t size;
    unsigned char *data = saved_bytes(model, path, &size);
    const size_t lengths[] = {1,  4,  7,  8,   11,       12,       13,       16,       20,
                              40, 60, 80, 100, size / 2, size - 5, size - 4, size - 3, size - 1};
    for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++) {
        write_bytes(cut, data, lengths[i]);
        assert_load_fails(cut, "model file is truncated");
    }
    write_bytes(cut, data, 0);
    assert_load_fails(cut, "model file is empty");
    free(data);
    bpnn_model_free(model);
    remove_tree(dir);
    free(path);
    free(cut);
}
END_TEST

START_TEST(test_trailing_bytes_refused)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "model.bpnn");
    bpnn_model *model = make_model(3, layout3, BPNN_F64, 0, BPNN_NORMALIZE_NONE, 5);
    size_t size;
    unsigned char *data = saved_bytes(model, path, &size);
    unsigned char *longer = calloc(size + 8, 1);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, data, size);
    write_bytes(path, longer, size + 1); /* a byte appended after the CRC */
    assert_load_fails(path, "corrupt");
    /* Bytes between the parameters and a valid CRC. */
    memcpy(longer, data, size - 4);
    reseal(longer, size + 8);
    write_bytes(path, longer, size + 8);
    assert_load_fails(path, "unexpected bytes after the parameters");
    free(longer);
    free(data);
    bpnn_model_free(model);
    remove_tree(dir);
    free(path);
}
END_TEST

START_TEST(test_wrong_magic_refused)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "model.bpnn");
    bpnn_model *model = make_model(3, layout3, BPNN_F32, 0, BPNN_NORMALIZE_NONE, 5);
    size_t size;
    unsigned char *data = saved_bytes(model, path, &size);
    data[0] = 'X';
    write_bytes(path, data, size);
    assert_load_fails(path, "not a bpnn-cl model file: ");
    write_bytes(path, "1,2,3\n4,5,6\n", 12);
    assert_load_fails(path, "not a bpnn-cl model file: ");
    write_bytes(path, "BP!", 3);
    assert_load_fails(path, "not a bpnn-cl model file: ");
    assert_load_fails(dir, "is a directory");
    free(data);
    bpnn_model_free(model);
    remove_tree(dir);
    free(path);
}
END_TEST

START_TEST(test_missing_file_refused)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "nothing-here.bpnn");
    assert_load_fails(path, "model file does not exist: ");
    ck_assert(strstr(bpnn_error_message(), path) != NULL);
    remove_tree(dir);
    free(path);
}
END_TEST

START_TEST(test_newer_version_refused)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "model.bpnn");
    bpnn_model *model = make_model(3, layout3, BPNN_F64, 1, BPNN_NORMALIZE_ZSCORE, 9);
    size_t size;
    unsigned char *data = saved_bytes(model, path, &size);
    put_le32(data + 8, 3);
    reseal(data, size);
    write_bytes(path, data, size);
    assert_load_fails(path, "model format version 3 is newer than this bpnn-cl supports (2)");
    ck_assert(strstr(bpnn_error_message(), "upgrade bpnn-cl") != NULL);
    /* Newer is said even when the rest is not understood. */
    write_bytes(path, data, 12);
    assert_load_fails(path, "is newer than this bpnn-cl supports");
    put_le32(data + 8, 0);
    reseal(data, size);
    write_bytes(path, data, size);
    assert_load_fails(path, "corrupt");
    free(data);
    bpnn_model_free(model);
    remove_tree(dir);
    free(path);
}
END_TEST

/* A version-1 file (before the epoch field) built byte by byte: it loads,
 * with epoch 0. */
START_TEST(test_version1_file_loads)
{
    static const unsigned char v1[] = {
        'B', 'P', 'N', 'N', 'M', 'D', 'L',  0,    /* magic */
        1,   0,   0,   0,                         /* version 1 */
        1,   0,   0,   0,                         /* precision f64 */
        2,   0,   0,   0,                         /* layer count */
        1,   0,   0,   0,   2,   0,   0,    0,    /* sizes 1, 2 */
        2,   0,   0,   0,                         /* label offset 2 */
        0,   0,   0,   0,   0,   0,   0,    0,    /* image 0 x 0 */
        0,   0,   0,   0,   0,   0,   0xe0, 0x3f, /* lambda 0.5 (no epoch after it) */
        0,   0,   0,   0,                         /* normalization none */
        0,   0,   0,   0,                         /* no class names */
        4,   0,   0,   0,   0,   0,   0,    0,    /* param count */
        0,   0,   0,   0,   0,   0,   0xf0, 0x3f, /* 1.0 */
        0,   0,   0,   0,   0,   0,   0,    0xc0, /* -2.0 */
        0,   0,   0,   0,   0,   0,   0xd0, 0x3f, /* 0.25 */
        0,   0,   0,   0,   0,   0,   0,    0x80, /* -0.0 */
        0,   0,   0,   0,                         /* CRC, filled in below */
    };
    unsigned char data[sizeof v1];
    memcpy(data, v1, sizeof v1);
    put_le32(data + sizeof data - 4,
             (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), data, sizeof data - 4));
    const char *dir = test_tmpdir();
    char *path = join(dir, "v1.bpnn");
    write_bytes(path, data, sizeof data);
    bpnn_model *model = NULL;
    ck_assert_msg(bpnn_model_load(path, &model) == BPNN_OK, "%s", bpnn_error_message());
    ck_assert_int_eq(model->epoch, 0);
    ck_assert_int_eq(model->precision, BPNN_F64);
    ck_assert_int_eq(model->layer_count, 2);
    ck_assert_int_eq(model->sizes[0], 1);
    ck_assert_int_eq(model->sizes[1], 2);
    ck_assert_int_eq(model->label_offset, 2);
    ck_assert(model->lambda == 0.5);
    ck_assert_uint_eq(model->param_count, 4);
    ck_assert(model->params[0] == 1.0 && model->params[1] == -2.0);
    ck_assert(model->params[2] == 0.25 && model->params[3] == 0.0 && signbit(model->params[3]));
    ck_assert_int_eq(model->normalization, BPNN_NORMALIZE_NONE);
    ck_assert_ptr_null(model->class_names);

    /* Saved again it becomes version 2. */
    size_t size;
    unsigned char *again = saved_bytes(model, path, &size);
    ck_assert_uint_eq(size, sizeof data + 4);
    ck_assert_int_eq(again[8], 2);
    free(again);
    bpnn_model_free(model);
    remove_tree(dir);
    free(path);
}
END_TEST

/* Every kind of version-2 file, rewritten as version 1 (the epoch field
 * taken out), loads as the same model with epoch 0. */
START_TEST(test_version1_of_every_kind_loads)
{
    bpnn_precision precision = (_i & 1) ? BPNN_F64 : BPNN_F32;
    int with_names = (_i >> 1) & 1;
    bpnn_normalization normalization = (bpnn_normalization)(_i >> 2);
    const char *dir = test_tmpdir();
    char *path = join(dir, "model.bpnn");
    bpnn_model *model =
        make_model(4, layout4, precision, with_names, normalization, 2001 + (uint64_t)_i);
    ck_assert_int_ne(model->epoch, 0);
    size_t size;
    unsigned char *data = saved_bytes(model, path, &size);
    size_t epoch_at = 12 + 4 + 4 + 4 * 4 + 4 + 8 + 8; /* after lambda */
    memmove(data + epoch_at, data + epoch_at + 4, size - epoch_at - 4);
    size -= 4;
    put_le32(data + 8, 1);
    reseal(data, size);
    write_bytes(path, data, size);
    bpnn_model *loaded = NULL;
    ck_assert_msg(bpnn_model_load(path, &loaded) == BPNN_OK, "%s", bpnn_error_message());
    ck_assert_int_eq(loaded->epoch, 0);
    model->epoch = 0;
    assert_same_model(model, loaded);
    /* A version-1 file cut short is still called truncated. */
    write_bytes(path, data, size - 5);
    assert_load_fails(path, "model file is truncated");
    bpnn_model_free(loaded);
    free(data);
    bpnn_model_free(model);
    remove_tree(dir);
    free(path);
}
END_TEST

START_TEST(test_epoch_round_trip)
{
    const int values[] = {0, 1, 37, 2147483647};
    const char *dir = test_tmpdir();
    char *path = join(dir, "model.bpnn");
    bpnn_model *model = make_model(3, layout3, BPNN_F32, 0, BPNN_NORMALIZE_NONE, 61);
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        model->epoch = values[i];
        ck_assert_int_eq(bpnn_model_save(model, path), BPNN_OK);
        bpnn_model *loaded = NULL;
        ck_assert_msg(bpnn_model_load(path, &loaded) == BPNN_OK, "%s", bpnn_error_message());
        ck_assert_int_eq(loaded->epoch, values[i]);
        assert_same_model(model, loaded);
        bpnn_model_free(loaded);
    }
    model->epoch = -1;
    bpnn_clear_error();
    ck_assert_int_eq(bpnn_model_save(model, path), BPNN_ERR_INVALID);
    ck_assert(strstr(bpnn_error_message(), "negative epoch") != NULL);
    bpnn_model_free(model);
    remove_tree(dir);
    free(path);
}
END_TEST

/* Fields out of range in a file whose CRC is valid (a broken writer). The
 * offsets are those of a 3-layer model without names or normalization. */
START_TEST(test_implausible_fields_refused)
{
    const int sizes[] = {3, 4, 2};
    enum {
        PRECISION = 12,
        LAYERS = 16,
        SIZES = 20,
        EPOCH = 52,
        NORMALIZATION = 56,
        FLAG = 60,
        COUNT = 64
    };
    const struct {
        size_t offset;
        uint32_t value;
        const char *message;
    } cases[] = {
        {PRECISION, 7, "unknown precision code 7"},
        {LAYERS, 1, "layer count 1 is outside 2..32"},
        {LAYERS, 33, "layer count 33 is outside 2..32"},
        {LAYERS, 0xffffffffu, "layer count 4294967295 is outside"},
        {SIZES + 4, 0, "layer 2 has 0 units"},
        {SIZES, 0x80000000u, "layer 1 has 2147483648 units"},
        {SIZES, 4, "parameter count 26 does not match the layer sizes (30)"},
        {SIZES + 8, 3, "parameter count 26 does not match the layer sizes (31)"},
        {EPOCH, 0x80000000u, "epoch 2147483648 is implausible"},
        {NORMALIZATION, 9, "unknown normalization code 9"},
        {FLAG, 2, "class-name flag 2 is neither 0 nor 1"},
        {COUNT, 25, "parameter count 25 does not match the layer sizes (26)"},
        {LAYERS, 2, "corrupt"},
    };
    const char *dir = test_tmpdir();
    char *path = join(dir, "model.bpnn");
    bpnn_model *model = make_model(3, sizes, BPNN_F64, 0, BPNN_NORMALIZE_NONE, 13);
    ck_assert_uint_eq(model->param_count, 26);
    size_t size;
    unsigned char *data = saved_bytes(model, path, &size);
    ck_assert_uint_eq(size, COUNT + 8 + 26 * 8 + 4);
    unsigned char *patched = malloc(size);
    ck_assert_ptr_nonnull(patched);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        memcpy(patched, data, size);
        put_le32(patched + cases[i].offset, cases[i].value);
        reseal(patched, size);
        write_bytes(path, patched, size);
        assert_load_fails(path, cases[i].message);
    }
    free(patched);
    free(data);
    bpnn_model_free(model);
    remove_tree(dir);
    free(path);
}
END_TEST

START_TEST(test_implausible_string_length_refused)
{
    const int sizes[] = {3, 4, 2};
    enum { FIRST_NAME_LENGTH = 64 };
    const char *dir = test_tmpdir();
    char *path = join(dir, "model.bpnn");
    bpnn_model *model = make_model(3, sizes, BPNN_F32, 1, BPNN_NORMALIZE_NONE, 13);
    size_t size;
    unsigned char *data = saved_bytes(model, path, &size);
    ck_assert_uint_eq(data[FIRST_NAME_LENGTH], strlen("T-shirt/top"));
    const uint32_t lengths[] = {0xffffffffu, 0x7fffffffu, (uint32_t)size};
    for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++) {
        put_le32(data + FIRST_NAME_LENGTH, lengths[i]);
        reseal(data, size);
        write_bytes(path, data, size);
        assert_load_fails(path, "truncated");
    }
    /* A NUL inside a name cannot come back as a C string. */
    put_le32(data + FIRST_NAME_LENGTH, (uint32_t)strlen("T-shirt/top"));
    data[FIRST_NAME_LENGTH + 4 + 2] = '\0';
    reseal(data, size);
    write_bytes(path, data, size);
    assert_load_fails(path, "class name 1 contains a NUL byte");
    free(data);
    bpnn_model_free(model);
    remove_tree(dir);
    free(path);
}
END_TEST

START_TEST(test_save_replaces_existing)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "model.bpnn");
    bpnn_model *first = make_model(3, layout3, BPNN_F64, 1, BPNN_NORMALIZE_ZSCORE, 21);
    bpnn_model *second = make_model(4, layout4, BPNN_F32, 0, BPNN_NORMALIZE_NONE, 22);
    ck_assert_int_eq(bpnn_model_save(first, path), BPNN_OK);
    ck_assert_int_eq(bpnn_model_save(second, path), BPNN_OK);
    ck_assert_int_eq(count_entries(dir), 1);
    bpnn_model *loaded;
    ck_assert_int_eq(bpnn_model_load(path, &loaded), BPNN_OK);
    assert_same_model(second, loaded);
    bpnn_model_free(loaded);
    bpnn_model_free(first);
    bpnn_model_free(second);
    remove_tree(dir);
    free(path);
}
END_TEST

START_TEST(test_failed_save_leaves_nothing)
{
    const char *dir = test_tmpdir();
    bpnn_model *model = make_model(3, layout3, BPNN_F32, 0, BPNN_NORMALIZE_NONE, 23);

    /* The directory does not exist: nothing is created anywhere. */
    char *missing = join(dir, "missing/model.bpnn");
    bpnn_clear_error();
    ck_assert_int_eq(bpnn_model_save(model, missing), BPNN_ERR_INVALID);
    ck_assert_msg(strstr(bpnn_error_message(), "cannot create model file: ") &&
                      strstr(bpnn_error_message(), missing),
                  "%s", bpnn_error_message());
    ck_assert_ptr_null((const void *)bpnn_pending_temp_path);
    ck_assert_int_eq(count_entries(dir), 0);

    /* A non-empty directory in the way: the temp file is written, the
     * rename fails, the temp file goes and the directory stays. */
    char *sub = join(dir, "sub");
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    char *inside = join(sub, "keep");
    write_bytes(inside, "x", 1);
    ck_assert_int_eq(bpnn_model_save(model, sub), BPNN_ERR_INVALID);
    ck_assert_msg(strstr(bpnn_error_message(), "cannot write model file: ") != NULL, "%s",
                  bpnn_error_message());
    ck_assert_ptr_null((const void *)bpnn_pending_temp_path);
    ck_assert_int_eq(count_entries(dir), 1);
    ck_assert_int_eq(count_entries(sub), 1);

    free(inside);
    free(sub);
    free(missing);
    bpnn_model_free(model);
    remove_tree(dir);
}
END_TEST

/* A write error after the temp file was opened (here: the file size limit)
 * is exit status 1 and leaves the existing file as it was. */
START_TEST(test_write_error_keeps_existing)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "model.bpnn");
    bpnn_model *small = make_model(3, layout3, BPNN_F32, 0, BPNN_NORMALIZE_NONE, 31);
    bpnn_model *large = make_model(4, layout4, BPNN_F64, 1, BPNN_NORMALIZE_ZSCORE, 32);
    size_t before_size;
    unsigned char *before = saved_bytes(small, path, &before_size);

    struct rlimit saved_limit, limit;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved_limit), 0);
    limit = saved_limit;
    limit.rlim_cur = 64;
    void (*saved_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    bpnn_status status = bpnn_model_save(large, path);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved_limit), 0);
    signal(SIGXFSZ, saved_handler);

    ck_assert_msg(status == BPNN_ERR_RUNTIME, "status %d: %s", (int)status, bpnn_error_message());
    ck_assert(strstr(bpnn_error_message(), "cannot write model file: ") != NULL);
    ck_assert_ptr_null((const void *)bpnn_pending_temp_path);
    ck_assert_int_eq(count_entries(dir), 1);
    size_t after_size;
    unsigned char *after = read_bytes(path, &after_size);
    ck_assert_uint_eq(after_size, before_size);
    ck_assert(memcmp(before, after, before_size) == 0);

    free(before);
    free(after);
    bpnn_model_free(small);
    bpnn_model_free(large);
    remove_tree(dir);
    free(path);
}
END_TEST

START_TEST(test_file_mode)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "model.bpnn");
    bpnn_model *model = make_model(3, layout3, BPNN_F32, 0, BPNN_NORMALIZE_NONE, 41);
    mode_t saved_mask = umask(022);
    ck_assert_int_eq(bpnn_model_save(model, path), BPNN_OK);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0644); /* not mkstemp's 0600 */
    ck_assert_int_eq(chmod(path, 0640), 0);
    ck_assert_int_eq(bpnn_model_save(model, path), BPNN_OK);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0640); /* a replaced file keeps its mode */
    umask(saved_mask);
    bpnn_model_free(model);
    remove_tree(dir);
    free(path);
}
END_TEST

START_TEST(test_interrupted_save_leaves_existing)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "model.bpnn");
    bpnn_model *first = make_model(3, layout3, BPNN_F32, 0, BPNN_NORMALIZE_NONE, 51);
    bpnn_model *second = make_model(3, layout3, BPNN_F64, 0, BPNN_NORMALIZE_NONE, 52);
    ck_assert_int_eq(bpnn_model_save(first, path), BPNN_OK);
    bpnn_interrupt_flag = 1;
    bpnn_status status = bpnn_model_save(second, path);
    bpnn_interrupt_flag = 0;
    ck_assert_int_eq(status, BPNN_ERR_INTERRUPTED);
    ck_assert_ptr_null((const void *)bpnn_pending_temp_path);
    ck_assert_int_eq(count_entries(dir), 1);
    bpnn_model *loaded;
    ck_assert_int_eq(bpnn_model_load(path, &loaded), BPNN_OK);
    assert_same_model(first, loaded);
    bpnn_remove_pending_temp(); /* nothing pending: a no-op */
    bpnn_model_free(loaded);
    bpnn_model_free(first);
    bpnn_model_free(second);
    remove_tree(dir);
    free(path);
}
END_TEST

/* ---- exports -------------------------------------------------------------------- */

static const int export_layout[] = {6, 5, 4, 1}; /* the last layer has one row */

/* Bias weights set apart so column 0 is recognisable. */
static bpnn_model *make_export_model(bpnn_precision precision)
{
    bpnn_model *model = make_model(4, export_layout, precision, 0, BPNN_NORMALIZE_NONE, 77);
    for (int l = 1; l < model->layer_count; l++) {
        size_t cols = (size_t)model->sizes[l - 1] + 1;
        double *theta = model->params + bpnn_theta_offset(model->sizes, l);
        for (int r = 0; r < model->sizes[l]; r++)
            theta[(size_t)r * cols] = 1000 + 100 * l + r;
    }
    return model;
}

static void theta_file(char *out, size_t size, const char *dir, int l, const char *extension)
{
    snprintf(out, size, "%s/Theta%d.%s", dir, l, extension);
}

START_TEST(test_csv_export)
{
    bpnn_precision precision = _i ? BPNN_F64 : BPNN_F32;
    const char *dir = test_tmpdir();
    bpnn_model *model = make_export_model(precision);
    ck_assert_msg(bpnn_export_csv(model, dir) == BPNN_OK, "%s", bpnn_error_message());
    ck_assert_int_eq(count_entries(dir), model->layer_count - 1);
    for (int l = 1; l < model->layer_count; l++) {
        char path[256];
        theta_file(path, sizeof path, dir, l, "csv");
        size_t size;
        char *text = (char *)read_bytes(path, &size);
        ck_assert_uint_gt(size, 0);
        ck_assert_int_eq(text[size - 1], '\n');
        ck_assert_ptr_null(strchr(text, '\r'));
        size_t rows = (size_t)model->sizes[l], cols = (size_t)model->sizes[l - 1] + 1;
        const double *theta = model->params + bpnn_theta_offset(model->sizes, l);
        char *at = text;
        size_t row = 0;
        while (*at) {
            ck_assert_uint_lt(row, rows);
            size_t col = 0;
            for (;;) {
                char *end;
                errno = 0;
                double value = strtod(at, &end);
                ck_assert_msg(end != at, "Theta%d row %zu: no number at \"%.20s\"", l, row, at);
                ck_assert_uint_lt(col, cols);
                double want = theta[row * cols + col];
                if (precision == BPNN_F64) {
                    ck_assert_msg(value == want && !signbit(value) == !signbit(want),
                                  "Theta%d[%zu][%zu]: %.17g read back as %.17g", l, row, col, want,
                                  value);
                } else {
                    float as_float = strtof(at, NULL);
                    ck_assert_msg(as_float == (float)want && (float)value == (float)want &&
                                      !signbit(as_float) == !signbit(want),
                                  "Theta%d[%zu][%zu]: %.9g read back as %.9g", l, row, col, want,
                                  (double)as_float);
                }
                if (col == 0)
                    ck_assert_msg(value == 1000 + 100 * l + (double)row, "bias not first");
                col++;
                at = end;
                if (*at == ',') {
                    at++;
                    continue;
                }
                ck_assert_int_eq(*at, '\n');
                at++;
                break;
            }
            ck_assert_uint_eq(col, cols);
            row++;
        }
        ck_assert_uint_eq(row, rows);
        free(text);
    }
    bpnn_model_free(model);
    remove_tree(dir);
}
END_TEST

START_TEST(test_npy_export)
{
    bpnn_precision precision = _i ? BPNN_F64 : BPNN_F32;
    const char *dir = test_tmpdir();
    bpnn_model *model = make_export_model(precision);
    ck_assert_msg(bpnn_export_npy(model, dir) == BPNN_OK, "%s", bpnn_error_message());
    ck_assert_int_eq(count_entries(dir), model->layer_count - 1);
    size_t element = precision == BPNN_F32 ? 4 : 8;
    for (int l = 1; l < model->layer_count; l++) {
        char path[256];
        theta_file(path, sizeof path, dir, l, "npy");
        size_t size;
        unsigned char *data = read_bytes(path, &size);
        size_t rows = (size_t)model->sizes[l], cols = (size_t)model->sizes[l - 1] + 1;
        ck_assert(memcmp(data, "\x93NUMPY", 6) == 0);
        ck_assert_int_eq(data[6], 1);
        ck_assert_int_eq(data[7], 0);
        size_t header = data[8] | (size_t)data[9] << 8;
        ck_assert_uint_eq((10 + header) % 64, 0);
        ck_assert_int_eq(data[10 + header - 1], '\n');
        char dict[160];
        int dict_length = snprintf(dict, sizeof dict,
                                   "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, "
                                   "%zu), }",
                                   precision == BPNN_F32 ? "<f4" : "<f8", rows, cols);
        ck_assert_uint_lt((size_t)dict_length, header);
        ck_assert_msg(memcmp(data + 10, dict, (size_t)dict_length) == 0, "header %.*s", (int)header,
                      (const char *)data + 10);
        for (size_t i = 10 + (size_t)dict_length; i < 10 + header - 1; i++)
            ck_assert_int_eq(data[i], ' ');
        ck_assert_uint_eq(size, 10 + header + rows * cols * element);
        const double *theta = model->params + bpnn_theta_offset(model->sizes, l);
        const unsigned char *at = data + 10 + header;
        for (size_t i = 0; i < rows * cols; i++, at += element) {
            uint64_t bits = 0;
            for (size_t b = element; b-- > 0;)
                bits = bits << 8 | at[b];
            if (precision == BPNN_F32) {
                uint32_t bits32 = (uint32_t)bits;
                float value;
                memcpy(&value, &bits32, sizeof value);
                ck_assert_msg(memcmp(&value, &(float){(float)theta[i]}, 4) == 0,
                              "Theta%d element %zu", l, i);
            } else {
                double value;
                memcpy(&value, &bits, sizeof value);
                ck_assert_msg(memcmp(&value, &theta[i], 8) == 0, "Theta%d element %zu", l, i);
            }
        }
        free(data);
    }
    bpnn_model_free(model);
    remove_tree(dir);
}
END_TEST

START_TEST(test_export_directory_errors)
{
    const char *dir = test_tmpdir();
    bpnn_model *model = make_export_model(BPNN_F32);
    char *missing = join(dir, "nope");
    bpnn_clear_error();
    ck_assert_int_eq(bpnn_export_csv(model, missing), BPNN_ERR_INVALID);
    char expected[512];
    snprintf(expected, sizeof expected, "output directory does not exist: %s", missing);
    ck_assert_str_eq(bpnn_error_message(), expected);
    ck_assert_int_eq(bpnn_export_npy(model, missing), BPNN_ERR_INVALID);
    ck_assert_str_eq(bpnn_error_message(), expected);

    char *file = join(dir, "plain");
    write_bytes(file, "x", 1);
    ck_assert_int_eq(bpnn_export_npy(model, file), BPNN_ERR_INVALID);
    ck_assert(strstr(bpnn_error_message(), "not a directory") != NULL);

    /* A Theta file name taken by a directory: refused, nothing left over. */
    char *blocked = join(dir, "out");
    ck_assert_int_eq(mkdir(blocked, 0755), 0);
    char *theta1 = join(blocked, "Theta1.csv");
    ck_assert_int_eq(mkdir(theta1, 0755), 0);
    char *inside = join(theta1, "keep");
    write_bytes(inside, "x", 1);
    ck_assert_int_eq(bpnn_export_csv(model, blocked), BPNN_ERR_INVALID);
    ck_assert(strstr(bpnn_error_message(), "cannot write export file: ") != NULL);
    ck_assert_int_eq(count_entries(blocked), 1);
    ck_assert_ptr_null((const void *)bpnn_pending_temp_path);

    /* A trailing slash on the directory is fine. */
    char *slash = join(dir, "");
    ck_assert_int_eq(bpnn_export_npy(model, slash), BPNN_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/Theta3.npy", dir);
    ck_assert_int_eq(access(path, F_OK), 0);

    free(slash);
    free(inside);
    free(theta1);
    free(blocked);
    free(file);
    free(missing);
    bpnn_model_free(model);
    remove_tree(dir);
}
END_TEST

/* Even a process that set a decimal-comma locale writes C-locale numbers. */
START_TEST(test_csv_export_ignores_decimal_comma_locale)
{
    static const char *candidates[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
                                       "fr_FR.utf8",  "de_DE",      "fr_FR"};
    const char *found = NULL;
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates && !found; i++)
        if (setlocale(LC_NUMERIC, candidates[i]))
            found = candidates[i];
    if (!found) {
        fprintf(stderr, "SKIP test_csv_export_ignores_decimal_comma_locale: no decimal-comma "
                        "locale installed\n");
        return;
    }
    char probe[32];
    snprintf(probe, sizeof probe, "%.1f", 0.5);
    const char *dir = test_tmpdir();
    bpnn_model *model = make_export_model(BPNN_F64);
    ck_assert_int_eq(bpnn_export_csv(model, dir), BPNN_OK);
    setlocale(LC_NUMERIC, "C");
    char path[256];
    theta_file(path, sizeof path, dir, 3, "csv");
    size_t size;
    char *text = (char *)read_bytes(path, &size);
    size_t commas = 0;
    for (size_t i = 0; i < size; i++)
        commas += text[i] == ',';
    ck_assert_msg(commas == (size_t)export_layout[2], "%s printed 0.5 as %s; Theta3: %s", found,
                  probe, text);
    free(text);
    bpnn_model_free(model);
    remove_tree(dir);
}
END_TEST

static const char numpy_check[] =
    "import sys\n"
    "import numpy as np\n"
    "d, precision, sizes = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3].split(',')]\n"
    "dtype = np.float32 if precision == 'f32' else np.float64\n"
    "flat = np.fromfile(d + '/params.f64', dtype='<f8')\n"
    "offset = 0\n"
    "for l in range(1, len(sizes)):\n"
    "    rows, cols = sizes[l], sizes[l - 1] + 1\n"
    "    want = flat[offset:offset + rows * cols].reshape(rows, cols)\n"
    "    offset += rows * cols\n"
    "    a = np.load('%s/Theta%d.npy' % (d, l))\n"
    "    assert a.dtype == dtype and a.shape == (rows, cols), (l, a.dtype, a.shape)\n"
    "    assert a.flags['C_CONTIGUOUS']\n"
    "    assert a.tobytes() == want.astype(dtype).tobytes(), ('npy', l)\n"
    "    t = np.loadtxt('%s/Theta%d.csv' % (d, l), delimiter=',', ndmin=2)\n"
    "    assert t.shape == (rows, cols), (l, t.shape)\n"
    "    assert np.array_equal(t.astype(dtype), want.astype(dtype)), ('csv', l)\n"
    "    if precision == 'f64':\n"
    "        assert t.tobytes() == want.tobytes(), ('csv bits', l)\n"
    "    assert (a[:, 0] == 1000 + 100 * l + np.arange(rows)).all(), ('bias', l)\n"
    "assert offset == flat.size\n"
    "print('numpy read Theta1..%d back exactly' % (len(sizes) - 1))\n";

START_TEST(test_numpy_reads_exports)
{
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        fprintf(stderr, "SKIP test_numpy_reads_exports: /usr/bin/python3 with numpy not found "
                        "(apt-get install python3-numpy)\n");
        return;
    }
    bpnn_precision precision = _i ? BPNN_F64 : BPNN_F32;
    const char *dir = test_tmpdir();
    bpnn_model *model = make_export_model(precision);
    ck_assert_int_eq(bpnn_export_csv(model, dir), BPNN_OK);
    ck_assert_int_eq(bpnn_export_npy(model, dir), BPNN_OK);

    unsigned char *flat = malloc(model->param_count * 8);
    ck_assert_ptr_nonnull(flat);
    for (size_t i = 0; i < model->param_count; i++) {
        uint64_t bits;
        memcpy(&bits, &model->params[i], sizeof bits);
        for (int b = 0; b < 8; b++)
            flat[i * 8 + (size_t)b] = (unsigned char)(bits >> (8 * b));
    }
    char *params = join(dir, "params.f64");
    write_bytes(params, flat, model->param_count * 8);
    char *script = join(dir, "check.py");
    write_bytes(script, numpy_check, sizeof numpy_check - 1);

    char command[1024];
    snprintf(command, sizeof command, "/usr/bin/python3 '%s' '%s' %s %d,%d,%d,%d", script, dir,
             bpnn_precision_name(precision), export_layout[0], export_layout[1], export_layout[2],
             export_layout[3]);
    int status = system(command);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "numpy check failed (%d): %s", status, command);

    free(script);
    free(params);
    free(flat);
    bpnn_model_free(model);
    remove_tree(dir);
}
END_TEST

static Suite *model_file_suite(void)
{
    Suite *suite = suite_create("model_file");

    TCase *files = tcase_create("model file");
    tcase_set_timeout(files, 60);
    tcase_add_loop_test(files, test_round_trip_bit_exact, 0, 24);
    tcase_add_test(files, test_layout_is_little_endian_field_by_field);
    tcase_add_test(files, test_every_flipped_byte_detected);
    tcase_add_test(files, test_flipped_parameter_byte_says_crc);
    tcase_add_test(files, test_truncation_detected);
    tcase_add_test(files, test_trailing_bytes_refused);
    tcase_add_test(files, test_wrong_magic_refused);
    tcase_add_test(files, test_missing_file_refused);
    tcase_add_test(files, test_newer_version_refused);
    tcase_add_test(files, test_version1_file_loads);
    tcase_add_loop_test(files, test_version1_of_every_kind_loads, 0, 12);
    tcase_add_test(files, test_epoch_round_trip);
    tcase_add_test(files, test_implausible_fields_refused);
    tcase_add_test(files, test_implausible_string_length_refused);
    suite_add_tcase(suite, files);

    TCase *writing = tcase_create("atomic writing");
    tcase_set_timeout(writing, 60);
    tcase_add_test(writing, test_save_replaces_existing);
    tcase_add_test(writing, test_failed_save_leaves_nothing);
    tcase_add_test(writing, test_write_error_keeps_existing);
    tcase_add_test(writing, test_file_mode);
    tcase_add_test(writing, test_interrupted_save_leaves_existing);
    suite_add_tcase(suite, writing);

    TCase *exports = tcase_create("exports");
    tcase_set_timeout(exports, 120);
    tcase_add_loop_test(exports, test_csv_export, 0, 2);
    tcase_add_loop_test(exports, test_npy_export, 0, 2);
    tcase_add_test(exports, test_export_directory_errors);
    tcase_add_test(exports, test_csv_export_ignores_decimal_comma_locale);
    tcase_add_loop_test(exports, test_numpy_reads_exports, 0, 2);
    suite_add_tcase(suite, exports);
    return suite;
}

int main(void)
{
    return run_suite(model_file_suite());
}
