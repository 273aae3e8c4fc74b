/* test_checkpoint.c — checkpoint files (round trip, corruption, truncation,
 * versions, atomic replacement), identity matching and data fingerprints. */
#include <dirent.h>
#include <errno.h>
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
#include "io/checkpoint.h"
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

/* Finite values over many magnitudes, with signed zero, a subnormal and the
 * extremes, so only an exact encoding brings them back. */
static double test_value(uint64_t *state, size_t i)
{
    double u = (double)(next_random(state) >> 11) / 9007199254740992.0 - 0.5;
    double value = u * pow(10.0, (double)((int)(i % 17) - 8));
    switch (i % 23) {
    case 0: return -0.0;
    case 1: return 4.9406564584124654e-324;
    case 2: return -1.7976931348623157e308;
    case 3: return 0.1;
    default: return value;
    }
}

static double *test_vector(size_t count, uint64_t seed)
{
    double *v = malloc(count * sizeof *v);
    ck_assert_ptr_nonnull(v);
    uint64_t state = seed;
    for (size_t i = 0; i < count; i++)
        v[i] = test_value(&state, i);
    return v;
}

static const int sizes3[] = {5, 4, 3};

/* A checkpoint with every field set to a value of its own; `vectors` says
 * which of state1 (1), state2 (2) and best_params (4) it has. */
static checkpoint make_checkpoint(int layer_count, const int *sizes, unsigned vectors,
                                  uint64_t seed)
{
    checkpoint c;
    memset(&c, 0, sizeof c);
    c.layer_count = layer_count;
    memcpy(c.sizes, sizes, (size_t)layer_count * sizeof *sizes);
    c.precision = (seed & 1) ? BPNN_F64 : BPNN_F32;
    c.optimizer = BPNN_OPT_ADAM;
    c.batch = 128 + (size_t)seed;
    c.seed = 0xfedcba9876543210u ^ seed;
    c.lambda = 1.0 / 3.0;
    c.learning_rate = 1e-3;
    c.momentum = 0.9;
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.epsilon = 1e-8;
    c.nesterov = 1;
    c.lr_schedule = BPNN_LR_STEP;
    c.lr_step_epochs = 3;
    c.lr_decay = 0.1;
    c.warmup_epochs = 2;
    c.epochs = 40;
    c.data_rows = 60000;
    c.data_features = (uint64_t)sizes[0];
    c.data_crc = 0x89abcdefu;
    c.val_rows = 6000;
    c.val_crc = 0x01234567u;
    c.epoch = 7;
    c.step = 0x100000003u;
    c.best_epoch = 5;
    c.best_val_cost = -0.0;
    c.epochs_since_best = 2;
    c.elapsed_seconds = 12.345678901234567;
    c.param_count = bpnn_param_count(layer_count, sizes);
    c.params = test_vector(c.param_count, seed);
    if (vectors & 1)
        c.state1 = test_vector(c.param_count, seed + 100);
    if (vectors & 2)
        c.state2 = test_vector(c.param_count, seed + 200);
    if (vectors & 4)
        c.best_params = test_vector(c.param_count, seed + 300);
    return c;
}

static void assert_same_bits(const void *a, const void *b, size_t size, const char *what)
{
    ck_assert_msg(memcmp(a, b, size) == 0, "%s differs", what);
}

#define SAME(field) assert_same_bits(&a->field, &b->field, sizeof a->field, #field)

static void assert_same_vector(const double *a, const double *b, size_t count, const char *what)
{
    ck_assert_msg((a == NULL) == (b == NULL), "%s present in one only", what);
    if (a)
        for (size_t i = 0; i < count; i++)
            ck_assert_msg(memcmp(&a[i], &b[i], sizeof *a) == 0, "%s[%zu]: %.17g vs %.17g", what, i,
                          a[i], b[i]);
}

static void assert_same_checkpoint(const checkpoint *a, const checkpoint *b)
{
    SAME(layer_count);
    for (int l = 0; l < a->layer_count; l++)
        ck_assert_int_eq(a->sizes[l], b->sizes[l]);
    SAME(precision);
    SAME(optimizer);
    SAME(batch);
    SAME(seed);
    SAME(lambda);
    SAME(learning_rate);
    SAME(momentum);
    SAME(beta1);
    SAME(beta2);
    SAME(epsilon);
    SAME(nesterov);
    SAME(lr_schedule);
    SAME(lr_step_epochs);
    SAME(lr_decay);
    SAME(warmup_epochs);
    SAME(epochs);
    SAME(data_rows);
    SAME(data_features);
    SAME(data_crc);
    SAME(val_rows);
    SAME(val_crc);
    SAME(epoch);
    SAME(step);
    SAME(best_epoch);
    SAME(best_val_cost);
    SAME(epochs_since_best);
    SAME(elapsed_seconds);
    SAME(param_count);
    assert_same_vector(a->params, b->params, a->param_count, "params");
    assert_same_vector(a->state1, b->state1, a->param_count, "state1");
    assert_same_vector(a->state2, b->state2, a->param_count, "state2");
    assert_same_vector(a->best_params, b->best_params, a->param_count, "best_params");
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

/* Entries in dir; a leftover temporary file fails the test. */
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

static void put_le32(unsigned char *at, uint32_t value)
{
    for (int i = 0; i < 4; i++)
        at[i] = (unsigned char)(value >> (8 * i));
}

static void put_le64(unsigned char *at, uint64_t value)
{
    for (int i = 0; i < 8; i++)
        at[i] = (unsigned char)(value >> (8 * i));
}

/* Writes the CRC field again over the (patched) content. */
static void reseal(unsigned char *data, size_t size)
{
    uLong crc = crc32_z(crc32_z(0L, Z_NULL, 0), data, size - 4);
    put_le32(data + size - 4, (uint32_t)crc);
}

/* A load that must fail with BPNN_ERR_INVALID, a one-line message holding
 * `expected`, and no vectors left in the output. */
static void assert_load_fails(const char *path, const char *expected)
{
    checkpoint c;
    memset(&c, 0xa5, sizeof c); /* must be reset */
    bpnn_clear_error();
    bpnn_status status = checkpoint_load(path, &c);
    ck_assert_msg(status == BPNN_ERR_INVALID, "status %d, expected 2 (%s)", (int)status,
                  bpnn_error_message());
    ck_assert_ptr_null(c.params);
    ck_assert_ptr_null(c.state1);
    ck_assert_ptr_null(c.state2);
    ck_assert_ptr_null(c.best_params);
    if (expected)
        ck_assert_msg(strstr(bpnn_error_message(), expected) != NULL, "message \"%s\" lacks \"%s\"",
                      bpnn_error_message(), expected);
    ck_assert_msg(strchr(bpnn_error_message(), '\n') == NULL, "message is not one line");
}

static unsigned char *saved_bytes(const checkpoint *c, const char *path, size_t *size)
{
    ck_assert_msg(checkpoint_save(c, path) == BPNN_OK, "%s", bpnn_error_message());
    return read_bytes(path, size);
}

/* The layout's size: prologue, layer count and sizes, identity (132 bytes),
 * progress (36), param count and flags (12), vectors, CRC. */
static size_t expected_size(const checkpoint *c, int vectors)
{
    return 12 + 4 + 4 * (size_t)c->layer_count + 132 + 36 + 12 +
           (size_t)vectors * 8 * c->param_count + 4;
}

/* ---- files ---------------------------------------------------------------------- */

/* 8 cases: every combination of state1, state2 and best_params. */
START_TEST(test_round_trip_bit_exact)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "run.ckpt");
    checkpoint c = make_checkpoint(3, sizes3, (unsigned)_i, 10 + (uint64_t)_i);
    ck_assert_int_eq(checkpoint_save(&c, path), BPNN_OK);
    ck_assert_ptr_null((const void *)bpnn_pending_temp_path);
    checkpoint loaded;
    ck_assert_msg(checkpoint_load(path, &loaded) == BPNN_OK, "%s", bpnn_error_message());
    assert_same_checkpoint(&c, &loaded);
    ck_assert_int_eq(checkpoint_check_match(&loaded, &c, path), BPNN_OK);

    /* Saving what was loaded gives the same bytes. */
    size_t size_a, size_b;
    unsigned char *a = read_bytes(path, &size_a);
    char *again = join(dir, "again.ckpt");
    unsigned char *b = saved_bytes(&loaded, again, &size_b);
    int vectors = 1 + (_i & 1) + ((_i >> 1) & 1) + ((_i >> 2) & 1);
    ck_assert_uint_eq(size_a, expected_size(&c, vectors));
    ck_assert_uint_eq(size_a, size_b);
    ck_assert(memcmp(a, b, size_a) == 0);
    ck_assert_int_eq(count_entries(dir), 2);

    checkpoint_free(&loaded);
    ck_assert_ptr_null(loaded.params);
    ck_assert_ptr_null(loaded.state2);
    checkpoint_free(&loaded); /* twice is harmless */
    free(a);
    free(b);
    free(again);
    checkpoint_free(&c);
    free(path);
}
END_TEST

/* Every scalar field at the edges of its range (NaN and infinities where a
 * double may hold them) comes back with the same bits. */
START_TEST(test_round_trip_extremes)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "run.ckpt");
    const int sizes[] = {1, 1};
    checkpoint c = make_checkpoint(2, sizes, 7, 3);
    c.precision = BPNN_F32;
    c.optimizer = BPNN_OPT_SGD;
    c.batch = SIZE_MAX;
    c.seed = UINT64_MAX;
    c.lambda = 0.0;
    uint64_t nan_bits = 0x7ff8000000abcdefu;
    memcpy(&c.learning_rate, &nan_bits, sizeof c.learning_rate);
    c.momentum = -0.0;
    c.beta1 = INFINITY;
    c.beta2 = -INFINITY;
    c.epsilon = 4.9406564584124654e-324;
    c.nesterov = 0;
    c.lr_schedule = BPNN_LR_COSINE;
    c.lr_step_epochs = INT32_MAX;
    c.lr_decay = 1.7976931348623157e308;
    c.warmup_epochs = 0;
    c.epochs = INT32_MAX;
    c.data_rows = UINT64_MAX;
    c.data_features = 0;
    c.data_crc = UINT32_MAX;
    c.val_rows = 0;
    c.val_crc = 0;
    c.epoch = 0;
    c.step = UINT64_MAX;
    c.best_epoch = 0;
    c.best_val_cost = INFINITY;
    c.epochs_since_best = INT32_MAX;
    c.elapsed_seconds = 0.0;
    ck_assert_int_eq(checkpoint_save(&c, path), BPNN_OK);
    checkpoint loaded;
    ck_assert_msg(checkpoint_load(path, &loaded) == BPNN_OK, "%s", bpnn_error_message());
    assert_same_checkpoint(&c, &loaded);
    checkpoint_free(&loaded);
    checkpoint_free(&c);
    free(path);
}
END_TEST

START_TEST(test_layout_prologue_and_crc)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "run.ckpt");
    checkpoint c = make_checkpoint(3, sizes3, 0, 4);
    size_t size;
    unsigned char *data = saved_bytes(&c, path, &size);
    static const unsigned char prologue[] = {'B', 'P', 'N', 'N', 'C', 'K', 'P', 0, 1, 0,
                                             0,   0,   3,   0,   0,   0,   5,   0, 0, 0,
                                             4,   0,   0,   0,   3,   0,   0,   0};
    ck_assert(memcmp(data, prologue, sizeof prologue) == 0);
    uint32_t crc = (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), data, size - 4);
    ck_assert_uint_eq(data[size - 4] | data[size - 3] << 8 | data[size - 2] << 16 |
                          (uint32_t)data[size - 1] << 24,
                      crc);
    /* The parameters come last before the CRC, as f64 even for f32 runs. */
    ck_assert_int_eq(c.precision, BPNN_F32);
    const unsigned char *last = data + size - 4 - 8;
    uint64_t bits = 0;
    for (int i = 7; i >= 0; i--)
        bits = bits << 8 | last[i];
    double value;
    memcpy(&value, &bits, sizeof value);
    ck_assert(memcmp(&value, &c.params[c.param_count - 1], sizeof value) == 0);
    free(data);
    checkpoint_free(&c);
    free(path);
}
END_TEST

START_TEST(test_every_flipped_byte_detected)
{
    const int sizes[] = {2, 2, 1};
    const char *dir = test_tmpdir();
    char *path = join(dir, "run.ckpt");
    char *bad = join(dir, "bad.ckpt");
    checkpoint c = make_checkpoint(3, sizes, 7, 5);
    size_t size;
    unsigned char *data = saved_bytes(&c, path, &size);
    static const unsigned char masks[] = {0x01, 0x80, 0xff};
    for (size_t at = 0; at < size; at++)
        for (size_t m = 0; m < sizeof masks; m++) {
            data[at] ^= masks[m];
            write_bytes(bad, data, size);
            data[at] ^= masks[m];
            checkpoint loaded;
            bpnn_status status = checkpoint_load(bad, &loaded);
            ck_assert_msg(status == BPNN_ERR_INVALID, "byte %zu ^ 0x%02x of %zu: status %d", at,
                          masks[m], size, (int)status);
            ck_assert_ptr_null(loaded.params);
        }
    write_bytes(bad, data, size);
    checkpoint loaded;
    ck_assert_int_eq(checkpoint_load(bad, &loaded), BPNN_OK);
    assert_same_checkpoint(&c, &loaded);
    checkpoint_free(&loaded);
    free(data);
    checkpoint_free(&c);
    free(path);
    free(bad);
}
END_TEST

START_TEST(test_flipped_vector_byte_says_crc)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "run.ckpt");
    checkpoint c = make_checkpoint(3, sizes3, 3, 6);
    size_t size;
    unsigned char *data = saved_bytes(&c, path, &size);
    data[size - 20] ^= 0x10;
    write_bytes(path, data, size);
    assert_load_fails(path, "checkpoint file is corrupt (CRC mismatch): ");
    ck_assert(strstr(bpnn_error_message(), path) != NULL);
    free(data);
    checkpoint_free(&c);
    free(path);
}
END_TEST

START_TEST(test_truncation_at_every_length)
{
    const int sizes[] = {2, 1};
    const char *dir = test_tmpdir();
    char *path = join(dir, "run.ckpt");
    char *cut = join(dir, "cut.ckpt");
    checkpoint c = make_checkpoint(2, sizes, 7, 8);
    size_t size;
    unsigned char *data = saved_bytes(&c, path, &size);
    write_bytes(cut, data, 0);
    assert_load_fails(cut, "checkpoint file is empty: ");
    for (size_t length = 1; length < size; length++) {
        write_bytes(cut, data, length);
        assert_load_fails(cut, "checkpoint file is truncated");
    }
    free(data);
    checkpoint_free(&c);
    free(path);
    free(cut);
}
END_TEST

START_TEST(test_trailing_bytes_refused)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "run.ckpt");
    checkpoint c = make_checkpoint(3, sizes3, 1, 9);
    size_t size;
    unsigned char *data = saved_bytes(&c, path, &size);
    unsigned char *longer = calloc(size + 8, 1);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, data, size);
    write_bytes(path, longer, size + 1); /* a byte after the CRC */
    assert_load_fails(path, "corrupt");
    memcpy(longer, data, size - 4);
    reseal(longer, size + 8);
    write_bytes(path, longer, size + 8);
    assert_load_fails(path, "8 unexpected bytes after the vectors");
    free(longer);
    free(data);
    checkpoint_free(&c);
    free(path);
}
END_TEST

START_TEST(test_wrong_magic_refused)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "run.ckpt");
    checkpoint c = make_checkpoint(3, sizes3, 0, 10);
    size_t size;
    unsigned char *data = saved_bytes(&c, path, &size);
    data[6] = 'X';
    write_bytes(path, data, size);
    assert_load_fails(path, "not a bpnn-cl checkpoint file: ");
    write_bytes(path, "1,2,3\n4,5,6\n", 12);
    assert_load_fails(path, "not a bpnn-cl checkpoint file: ");
    write_bytes(path, "BPNNX", 5);
    assert_load_fails(path, "not a bpnn-cl checkpoint file: ");

    /* A model file given where a checkpoint belongs says so. */
    bpnn_model *model;
    ck_assert_int_eq(bpnn_model_create(3, sizes3, BPNN_F32, &model), BPNN_OK);
    ck_assert_int_eq(bpnn_model_save(model, path), BPNN_OK);
    assert_load_fails(path, "not a bpnn-cl checkpoint file: ");
    ck_assert(strstr(bpnn_error_message(), "it is a model file") != NULL);
    bpnn_model_free(model);

    char *missing = join(dir, "nothing-here.ckpt");
    assert_load_fails(missing, "checkpoint file does not exist: ");
    ck_assert(strstr(bpnn_error_message(), missing) != NULL);
    assert_load_fails(dir, "checkpoint file is a directory: ");
    free(missing);
    free(data);
    checkpoint_free(&c);
    free(path);
}
END_TEST

START_TEST(test_newer_version_refused)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "run.ckpt");
    checkpoint c = make_checkpoint(3, sizes3, 3, 11);
    size_t size;
    unsigned char *data = saved_bytes(&c, path, &size);
    put_le32(data + 8, 2);
    reseal(data, size);
    write_bytes(path, data, size);
    assert_load_fails(path, "checkpoint format version 2 is newer than this bpnn-cl supports (1)");
    ck_assert(strstr(bpnn_error_message(), "upgrade bpnn-cl") != NULL);
    /* Newer is said even when nothing else is there. */
    write_bytes(path, data, 12);
    assert_load_fails(path, "is newer than this bpnn-cl supports");
    put_le32(data + 8, 0);
    reseal(data, size);
    write_bytes(path, data, size);
    assert_load_fails(path, "corrupt (format version 0)");
    free(data);
    checkpoint_free(&c);
    free(path);
}
END_TEST

/* Fields out of range in a file whose CRC holds (a broken writer). Offsets
 * are those of a 3-layer checkpoint. */
START_TEST(test_implausible_fields_refused)
{
    enum {
        LAYERS = 12,
        SIZES = 16,
        PRECISION = 28,
        OPTIMIZER = 32,
        NESTEROV = 100,
        SCHEDULE = 104,
        STEP_EPOCHS = 108,
        WARMUP = 120,
        EPOCHS = 124,
        EPOCH = 160,
        BEST_EPOCH = 172,
        SINCE_BEST = 184,
        COUNT = 196,
        FLAGS = 204
    };
    const struct {
        size_t offset;
        uint32_t value;
        const char *message;
    } cases[] = {
        {LAYERS, 1, "layer count 1 is outside 2..32"},
        {LAYERS, 33, "layer count 33 is outside 2..32"},
        {LAYERS, 0xffffffffu, "layer count 4294967295 is outside"},
        {SIZES + 4, 0, "layer 2 has 0 units"},
        {SIZES, 0x80000000u, "layer 1 has 2147483648 units"},
        {SIZES, 4, "parameter count 39 does not match the layer sizes (35)"},
        {PRECISION, 2, "unknown precision code 2"},
        {OPTIMIZER, 5, "unknown optimizer code 5"},
        {NESTEROV, 2, "nesterov flag 2 is neither 0 nor 1"},
        {SCHEDULE, 3, "unknown learning-rate schedule code 3"},
        {STEP_EPOCHS, 0xffffffffu, "lr_step_epochs -1 is negative"},
        {WARMUP, 0x80000000u, "warmup_epochs -2147483648 is negative"},
        {EPOCHS, 0xfffffffeu, "epochs -2 is negative"},
        {EPOCH, 0xffffffffu, "epoch -1 is negative"},
        {BEST_EPOCH, 0xffffffffu, "best_epoch -1 is negative"},
        {SINCE_BEST, 0xffffffffu, "epochs_since_best -1 is negative"},
        {COUNT, 38, "parameter count 38 does not match the layer sizes (39)"},
        {FLAGS, 8, "vector flags 0x8 name unknown vectors"},
        {FLAGS, 3, "truncated"},
        {FLAGS, 0, "unexpected bytes after the vectors"},
    };
    const char *dir = test_tmpdir();
    char *path = join(dir, "run.ckpt");
    checkpoint c = make_checkpoint(3, sizes3, 4, 12);
    ck_assert_uint_eq(c.param_count, 39);
    size_t size;
    unsigned char *data = saved_bytes(&c, path, &size);
    /* Where the fields lie, from values make_checkpoint set. */
    ck_assert_uint_eq(data[OPTIMIZER], BPNN_OPT_ADAM);
    ck_assert_uint_eq(data[NESTEROV], 1);
    ck_assert_uint_eq(data[SCHEDULE], BPNN_LR_STEP);
    ck_assert_uint_eq(data[STEP_EPOCHS], 3);
    ck_assert_uint_eq(data[WARMUP], 2);
    ck_assert_uint_eq(data[EPOCHS], 40);
    ck_assert_uint_eq(data[EPOCH], 7);
    ck_assert_uint_eq(data[BEST_EPOCH], 5);
    ck_assert_uint_eq(data[SINCE_BEST], 2);
    ck_assert_uint_eq(data[COUNT], 39);
    ck_assert_uint_eq(data[FLAGS], 4);
    unsigned char *patched = malloc(size);
    ck_assert_ptr_nonnull(patched);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        memcpy(patched, data, size);
        put_le32(patched + cases[i].offset, cases[i].value);
        reseal(patched, size);
        write_bytes(path, patched, size);
        assert_load_fails(path, cases[i].message);
    }
    /* A parameter count past anything the file could hold is refused before
     * anything is allocated from it. */
    memcpy(patched, data, size);
    put_le64(patched + COUNT, UINT64_MAX);
    reseal(patched, size);
    write_bytes(path, patched, size);
    assert_load_fails(path, "parameter count 18446744073709551615 does not match");
    free(patched);
    free(data);
    checkpoint_free(&c);
    free(path);
}
END_TEST

static void patch_f64(unsigned char *at, double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    put_le64(at, bits);
}

/* A run resumed from a non-finite value could only diverge. */
START_TEST(test_non_finite_vectors_refused)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "run.ckpt");
    checkpoint c = make_checkpoint(3, sizes3, 7, 13);
    size_t size;
    unsigned char *data = saved_bytes(&c, path, &size);
    size_t vectors_at = size - 4 - 4 * 8 * c.param_count;
    const struct {
        size_t element;
        double value;
        const char *message;
    } cases[] = {
        {0, NAN, "non-finite value (params[0] = nan)"},
        {38, INFINITY, "non-finite value (params[38] = inf)"},
        {39 + 2, -INFINITY, "non-finite value (state1[2] = -inf)"},
        {78 + 5, NAN, "non-finite value (state2[5] = nan)"},
        {117 + 38, INFINITY, "non-finite value (best_params[38] = inf)"},
    };
    unsigned char *patched = malloc(size);
    ck_assert_ptr_nonnull(patched);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        memcpy(patched, data, size);
        patch_f64(patched + vectors_at + 8 * cases[i].element, cases[i].value);
        reseal(patched, size);
        write_bytes(path, patched, size);
        assert_load_fails(path, cases[i].message);
        ck_assert(strstr(bpnn_error_message(), path) != NULL);
    }

    /* Nor is one saved. */
    c.state2[3] = NAN;
    bpnn_clear_error();
    ck_assert_int_eq(checkpoint_save(&c, path), BPNN_ERR_INVALID);
    ck_assert(strstr(bpnn_error_message(), "non-finite value (state2[3] = nan)") != NULL);
    free(patched);
    free(data);
    checkpoint_free(&c);
    free(path);
}
END_TEST

START_TEST(test_inconsistent_checkpoint_not_saved)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "run.ckpt");
    checkpoint c = make_checkpoint(3, sizes3, 0, 14);
    const char *messages[] = {"parameter count does not match the layer sizes",
                              "layer count outside", "a layer without units", "unknown optimizer",
                              "a negative epoch count"};
    for (int i = 0; i < 5; i++) {
        checkpoint bad = c;
        switch (i) {
        case 0: bad.param_count--; break;
        case 1: bad.layer_count = 1; break;
        case 2: bad.sizes[1] = 0; break;
        case 3: bad.optimizer = (bpnn_optimizer)9; break;
        default: bad.epoch = -1; break;
        }
        bpnn_clear_error();
        ck_assert_int_eq(checkpoint_save(&bad, path), BPNN_ERR_INVALID);
        ck_assert_msg(strstr(bpnn_error_message(), messages[i]) != NULL, "%s",
                      bpnn_error_message());
    }
    ck_assert_int_eq(count_entries(dir), 0);
    checkpoint_free(&c);
    free(path);
}
END_TEST

/* ---- atomic replacement ----------------------------------------------------------- */

START_TEST(test_save_replaces_existing)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "run.ckpt");
    checkpoint first = make_checkpoint(3, sizes3, 7, 21);
    checkpoint second = make_checkpoint(3, sizes3, 1, 22);
    second.epoch = 8;
    ck_assert_int_eq(checkpoint_save(&first, path), BPNN_OK);
    ck_assert_int_eq(checkpoint_save(&second, path), BPNN_OK);
    ck_assert_int_eq(count_entries(dir), 1);
    checkpoint loaded;
    ck_assert_int_eq(checkpoint_load(path, &loaded), BPNN_OK);
    assert_same_checkpoint(&second, &loaded);
    checkpoint_free(&loaded);
    checkpoint_free(&first);
    checkpoint_free(&second);
    free(path);
}
END_TEST

/* Saves `c` over `path` in a directory this process may not write to: as
 * root, whom permissions do not stop, from a child that gave root up.
 * Returns the status, or -1 when the test cannot be arranged. */
static int save_into_unwritable(const checkpoint *c, const char *dir, const char *path)
{
    if (geteuid() != 0) {
        ck_assert_int_eq(chmod(dir, 0555), 0);
        bpnn_status status = checkpoint_save(c, path);
        ck_assert_int_eq(chmod(dir, 0755), 0);
        ck_assert_msg(strstr(bpnn_error_message(), "cannot create checkpoint file: ") != NULL, "%s",
                      bpnn_error_message());
        return (int)status;
    }
    ck_assert_int_eq(chmod(dir, 0755), 0);
    fflush(NULL);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(100);
        if (access(dir, W_OK) == 0)
            _exit(101); /* permissions do not bind here (a capability kept) */
        bpnn_status status = checkpoint_save(c, path);
        if (status == BPNN_OK)
            _exit(0);
        if (!strstr(bpnn_error_message(), "cannot create checkpoint file: "))
            _exit(102);
        _exit((int)status);
    }
    int wstatus;
    ck_assert_int_eq(waitpid(child, &wstatus, 0), child);
    ck_assert(WIFEXITED(wstatus));
    int code = WEXITSTATUS(wstatus);
    if (code == 100 || code == 101)
        return -1;
    ck_assert_msg(code != 102, "the message does not say the file could not be created");
    return code;
}

START_TEST(test_unwritable_directory_keeps_existing)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "run.ckpt");
    checkpoint first = make_checkpoint(3, sizes3, 3, 31);
    checkpoint second = make_checkpoint(3, sizes3, 7, 32);
    size_t before_size;
    unsigned char *before = saved_bytes(&first, path, &before_size);
    int status = save_into_unwritable(&second, dir, path);
    if (status < 0) {
        fprintf(stderr, "SKIP test_unwritable_directory_keeps_existing: cannot drop root\n");
    } else {
        ck_assert_int_eq(status, BPNN_ERR_INVALID);
        ck_assert_int_eq(count_entries(dir), 1);
        size_t after_size;
        unsigned char *after = read_bytes(path, &after_size);
        ck_assert_uint_eq(after_size, before_size);
        ck_assert(memcmp(before, after, before_size) == 0);
        free(after);
    }
    free(before);
    checkpoint_free(&first);
    checkpoint_free(&second);
    free(path);
}
END_TEST

/* A write error after the temporary file was opened (the file size limit):
 * exit status 1, the existing checkpoint as it was. */
START_TEST(test_write_error_keeps_existing)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "run.ckpt");
    checkpoint small = make_checkpoint(2, (const int[]){2, 1}, 0, 41);
    checkpoint large = make_checkpoint(3, sizes3, 7, 42);
    size_t before_size;
    unsigned char *before = saved_bytes(&small, path, &before_size);

    struct rlimit saved_limit, limit;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved_limit), 0);
    limit = saved_limit;
    limit.rlim_cur = before_size + 16;
    void (*saved_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    bpnn_status status = checkpoint_save(&large, path);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved_limit), 0);
    signal(SIGXFSZ, saved_handler);

    ck_assert_msg(status == BPNN_ERR_RUNTIME, "status %d: %s", (int)status, bpnn_error_message());
    ck_assert(strstr(bpnn_error_message(), "cannot write checkpoint file: ") != NULL);
    ck_assert_ptr_null((const void *)bpnn_pending_temp_path);
    ck_assert_int_eq(count_entries(dir), 1);
    size_t after_size;
    unsigned char *after = read_bytes(path, &after_size);
    ck_assert_uint_eq(after_size, before_size);
    ck_assert(memcmp(before, after, before_size) == 0);
    free(before);
    free(after);
    checkpoint_free(&small);
    checkpoint_free(&large);
    free(path);
}
END_TEST

START_TEST(test_interrupted_save_keeps_existing)
{
    const char *dir = test_tmpdir();
    char *path = join(dir, "run.ckpt");
    checkpoint first = make_checkpoint(3, sizes3, 1, 51);
    checkpoint second = make_checkpoint(3, sizes3, 2, 52);
    ck_assert_int_eq(checkpoint_save(&first, path), BPNN_OK);
    bpnn_interrupt_flag = 1;
    bpnn_status status = checkpoint_save(&second, path);
    bpnn_interrupt_flag = 0;
    ck_assert_int_eq(status, BPNN_ERR_INTERRUPTED);
    ck_assert_int_eq(count_entries(dir), 1);
    checkpoint loaded;
    ck_assert_int_eq(checkpoint_load(path, &loaded), BPNN_OK);
    assert_same_checkpoint(&first, &loaded);
    checkpoint_free(&loaded);
    checkpoint_free(&first);
    checkpoint_free(&second);
    free(path);
}
END_TEST

/* ---- matching ------------------------------------------------------------------ */

static void assert_mismatch(const checkpoint *saved, const checkpoint *expected,
                            const char *message)
{
    const char *path = "/some/run.ckpt";
    bpnn_clear_error();
    ck_assert_int_eq(checkpoint_check_match(saved, expected, path), BPNN_ERR_INVALID);
    const char *got = bpnn_error_message();
    ck_assert_msg(strncmp(got, "checkpoint does not match: it was written for ", 46) == 0, "%s",
                  got);
    ck_assert_msg(strstr(got, message) != NULL, "message \"%s\" lacks \"%s\"", got, message);
    ck_assert_msg(strstr(got, ": /some/run.ckpt") != NULL, "no path in \"%s\"", got);
    ck_assert_msg(strchr(got, '\n') == NULL, "message is not one line");
}

/* One case per identity field: changed in `expected`, reported by name. */
START_TEST(test_each_identity_mismatch_named)
{
    checkpoint saved = make_checkpoint(3, sizes3, 0, 60);
    saved.precision = BPNN_F32;
    checkpoint e = saved;
    const char *message = NULL;
    switch (_i) {
    case 0:
        e.sizes[1] = 6;
        message = "layers 5,4,3, this run uses 5,6,3";
        break;
    case 1:
        e.layer_count = 4;
        e.sizes[3] = 2;
        message = "layers 5,4,3, this run uses 5,4,3,2";
        break;
    case 2:
        e.precision = BPNN_F64;
        message = "precision f32, this run uses f64";
        break;
    case 3:
        e.optimizer = BPNN_OPT_SGD;
        message = "optimizer adam, this run uses sgd";
        break;
    case 4:
        e.batch = 64;
        message = "batch 188, this run uses 64";
        break;
    case 5:
        e.seed = 2;
        message = "seed 18364758544493064748, this run uses 2";
        break;
    case 6:
        e.lambda = 1.0;
        message = "lambda 0.3333333333333333, this run uses 1";
        break;
    case 7:
        e.learning_rate = 0.01;
        message = "learning rate 0.001, this run uses 0.01";
        break;
    case 8:
        e.momentum = 0.5;
        message = "momentum 0.9, this run uses 0.5";
        break;
    case 9:
        e.nesterov = 0;
        message = "nesterov on, this run uses off";
        break;
    case 10:
        e.beta1 = 0.8;
        message = "beta1 0.9, this run uses 0.8";
        break;
    case 11:
        e.beta2 = 0.99;
        message = "beta2 0.999, this run uses 0.99";
        break;
    case 12:
        e.epsilon = 1e-7;
        message = "epsilon 1e-08, this run uses 1e-07";
        break;
    case 13:
        e.lr_schedule = BPNN_LR_COSINE;
        message = "lr schedule step, this run uses cosine";
        break;
    case 14:
        e.lr_step_epochs = 4;
        message = "lr step epochs 3, this run uses 4";
        break;
    case 15:
        e.lr_decay = 0.5;
        message = "lr decay 0.1, this run uses 0.5";
        break;
    case 16:
        e.warmup_epochs = 0;
        message = "warmup epochs 2, this run uses 0";
        break;
    case 17:
        saved.lr_schedule = e.lr_schedule = BPNN_LR_COSINE;
        e.epochs = 50;
        message = "epochs 40, this run uses 50: /some/run.ckpt: the cosine schedule";
        break;
    case 18:
        e.data_rows = 1000;
        message = "training data of 60000 rows, this run uses 1000 rows";
        break;
    case 19:
        e.data_features = 6;
        message = "training data of 5 features, this run uses 6 features";
        break;
    case 20:
        e.data_crc = 0x89abcdeeu;
        message = "training data with CRC32 89abcdef, this run uses 89abcdee";
        break;
    case 21:
        e.val_rows = 0;
        message = "a validation set of 6000 rows, this run uses none";
        break;
    case 22:
        saved.val_rows = 0;
        message = "no validation set, this run uses 6000 rows";
        break;
    case 23:
        e.val_crc = 7;
        message = "validation set with CRC32 01234567, this run uses 00000007";
        break;
    case 24:
        e.lambda = -0.0;
        saved.lambda = 0.0;
        message = "lambda 0, this run uses -0";
        break;
    default: ck_abort_msg("no case %d", _i);
    }
    assert_mismatch(&saved, &e, message);
    checkpoint_free(&saved);
}
END_TEST
enum { IDENTITY_CASES = 25 };

/* Where a run stopped and what it holds are not identity. */
START_TEST(test_progress_is_not_identity)
{
    checkpoint saved = make_checkpoint(3, sizes3, 7, 61);
    checkpoint e = make_checkpoint(3, sizes3, 0, 61);
    e.epoch = 0;
    e.step = 0;
    e.best_epoch = 0;
    e.best_val_cost = INFINITY;
    e.epochs_since_best = 0;
    e.elapsed_seconds = 99;
    e.epochs = 80; /* a step schedule may be extended */
    ck_assert_msg(checkpoint_check_match(&saved, &e, "p") == BPNN_OK, "%s", bpnn_error_message());
    /* The first difference is the one reported. */
    e.optimizer = BPNN_OPT_MOMENTUM;
    e.seed = 1;
    assert_mismatch(&saved, &e, "optimizer adam, this run uses momentum");
    checkpoint_free(&saved);
    checkpoint_free(&e);
}
END_TEST

/* ---- data fingerprints ----------------------------------------------------------- */

static bpnn_dataset make_data(size_t rows, size_t features, int labelled)
{
    bpnn_dataset d;
    memset(&d, 0, sizeof d);
    d.rows = rows;
    d.features = features;
    d.x = malloc(rows * features * sizeof *d.x);
    ck_assert_ptr_nonnull(d.x);
    for (size_t i = 0; i < rows * features; i++)
        d.x[i] = (double)i / 7.0 - 3.0;
    if (labelled) {
        d.labels = malloc(rows * sizeof *d.labels);
        ck_assert_ptr_nonnull(d.labels);
        for (size_t i = 0; i < rows; i++)
            d.labels[i] = (int32_t)(i % 3);
    }
    return d;
}

START_TEST(test_data_crc_covers_values_labels_shape)
{
    bpnn_dataset d = make_data(700, 11, 1); /* more than one 4096-byte block */
    uint32_t crc = checkpoint_data_crc(&d);
    ck_assert_uint_eq(checkpoint_data_crc(&d), crc);

    d.x[5000] = nextafter(d.x[5000], 1e9);
    ck_assert_uint_ne(checkpoint_data_crc(&d), crc);
    d.x[5000] = nextafter(d.x[5000], -1e9);
    ck_assert_uint_eq(checkpoint_data_crc(&d), crc);

    d.labels[699] = 1 - d.labels[699] + 1;
    ck_assert_uint_ne(checkpoint_data_crc(&d), crc);
    d.labels[699] = (int32_t)(699 % 3);
    ck_assert_uint_eq(checkpoint_data_crc(&d), crc);

    /* The same values seen as another shape. */
    d.rows = 1100;
    d.features = 7;
    int32_t *labels = d.labels;
    d.labels = NULL;
    uint32_t reshaped = checkpoint_data_crc(&d);
    d.rows = 700;
    d.features = 11;
    ck_assert_uint_ne(checkpoint_data_crc(&d), reshaped);
    /* With and without labels. */
    ck_assert_uint_ne(checkpoint_data_crc(&d), crc);
    d.labels = labels;

    /* Signed zeros differ: the values are hashed by their bits. */
    d.x[0] = 0.0;
    uint32_t plus = checkpoint_data_crc(&d);
    d.x[0] = -0.0;
    ck_assert_uint_ne(checkpoint_data_crc(&d), plus);
    bpnn_dataset_free(&d);
}
END_TEST

/* The fingerprint is zlib's CRC32 of a fixed little-endian encoding. */
START_TEST(test_data_crc_encoding)
{
    bpnn_dataset d = make_data(2, 1, 1);
    d.x[0] = 1.0;
    d.x[1] = -2.0;
    d.labels[0] = 1;
    d.labels[1] = -1;
    static const unsigned char bytes[] = {
        2, 0, 0, 0, 0,    0,    0,    0,    /* rows */
        1, 0, 0, 0, 0,    0,    0,    0,    /* features */
        0, 0, 0, 0, 0,    0,    0xf0, 0x3f, /* 1.0 */
        0, 0, 0, 0, 0,    0,    0,    0xc0, /* -2.0 */
        1, 0, 0, 0,                         /* labelled */
        1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, /* labels 1, -1 */
    };
    ck_assert_uint_eq(checkpoint_data_crc(&d),
                      (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), bytes, sizeof bytes));
    bpnn_dataset empty;
    memset(&empty, 0, sizeof empty);
    static const unsigned char nothing[20] = {0};
    ck_assert_uint_eq(checkpoint_data_crc(&empty),
                      (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), nothing, sizeof nothing));
    bpnn_dataset_free(&d);
}
END_TEST

static Suite *checkpoint_suite(void)
{
    Suite *suite = suite_create("checkpoint");

    TCase *files = tcase_create("checkpoint file");
    tcase_set_timeout(files, 60);
    tcase_add_loop_test(files, test_round_trip_bit_exact, 0, 8);
    tcase_add_test(files, test_round_trip_extremes);
    tcase_add_test(files, test_layout_prologue_and_crc);
    tcase_add_test(files, test_every_flipped_byte_detected);
    tcase_add_test(files, test_flipped_vector_byte_says_crc);
    tcase_add_test(files, test_truncation_at_every_length);
    tcase_add_test(files, test_trailing_bytes_refused);
    tcase_add_test(files, test_wrong_magic_refused);
    tcase_add_test(files, test_newer_version_refused);
    tcase_add_test(files, test_implausible_fields_refused);
    tcase_add_test(files, test_non_finite_vectors_refused);
    tcase_add_test(files, test_inconsistent_checkpoint_not_saved);
    suite_add_tcase(suite, files);

    TCase *writing = tcase_create("atomic writing");
    tcase_set_timeout(writing, 60);
    tcase_add_test(writing, test_save_replaces_existing);
    tcase_add_test(writing, test_unwritable_directory_keeps_existing);
    tcase_add_test(writing, test_write_error_keeps_existing);
    tcase_add_test(writing, test_interrupted_save_keeps_existing);
    suite_add_tcase(suite, writing);

    TCase *matching = tcase_create("matching");
    tcase_add_loop_test(matching, test_each_identity_mismatch_named, 0, IDENTITY_CASES);
    tcase_add_test(matching, test_progress_is_not_identity);
    suite_add_tcase(suite, matching);

    TCase *fingerprints = tcase_create("data fingerprints");
    tcase_add_test(fingerprints, test_data_crc_covers_values_labels_shape);
    tcase_add_test(fingerprints, test_data_crc_encoding);
    suite_add_tcase(suite, fingerprints);
    return suite;
}

int main(void)
{
    return run_suite(checkpoint_suite());
}
