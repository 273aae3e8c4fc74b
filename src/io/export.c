/* export.c — the parameters as CSV and NPY files, one per layer. */
#include "bpnn.h"

#include <errno.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bpnn.h"
#include "util/error.h"

static bpnn_status check_output_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        int error = errno;
        if (error == ENOENT)
            return bpnn_fail(BPNN_ERR_INVALID, "output directory does not exist: %s", dir);
        return bpnn_fail(BPNN_ERR_INVALID, "cannot use output directory: %s: %s", dir,
                         strerror(error));
    }
    if (!S_ISDIR(st.st_mode))
        return bpnn_fail(BPNN_ERR_INVALID, "output path is not a directory: %s", dir);
    return BPNN_OK;
}

char *bpnn_export_path(const char *dir, int l, const char *extension)
{
    size_t length = strlen(dir);
    const char *separator = length > 0 && dir[length - 1] == '/' ? "" : "/";
    size_t size = length + 32 + strlen(extension);
    char *path = malloc(size);
    if (path)
        snprintf(path, size, "%s%sTheta%d.%s", dir, separator, l, extension);
    return path;
}

/* ---- CSV ----------------------------------------------------------------------- */

/* Longest %.17g of a double ("-2.2250738585072014e-308": 24) with room. */
enum { MAX_NUMBER_TEXT = 32 };

/* The text of Theta_l, numbers formatted under the C locale's LC_NUMERIC so a
 * decimal comma can never appear even where the process set one. */
static void *format_theta_csv(const bpnn_model *model, int l, size_t *out_size)
{
    size_t rows = (size_t)model->sizes[l], cols = (size_t)model->sizes[l - 1] + 1;
    const double *theta = model->params + bpnn_theta_offset(model->sizes, l);
    size_t capacity = rows * cols * (MAX_NUMBER_TEXT + 1) + 1;
    char *text = malloc(capacity);
    if (!text)
        return NULL;

    locale_t c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t previous = c_numeric ? uselocale(c_numeric) : (locale_t)0;
    int f32 = model->precision == BPNN_F32;
    size_t used = 0;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            double value = theta[i * cols + j];
            int n = f32 ? snprintf(text + used, capacity - used, "%.9g", (double)(float)value)
                        : snprintf(text + used, capacity - used, "%.17g", value);
            used += (size_t)n;
            text[used++] = j + 1 < cols ? ',' : '\n';
        }
    if (c_numeric) {
        uselocale(previous);
        freelocale(c_numeric);
    }
    *out_size = used;
    return text;
}

/* ---- NPY ----------------------------------------------------------------------- */

enum { NPY_PREAMBLE = 10, NPY_ALIGNMENT = 64 };

/* Theta_l as an NPY 1.0 file: magic, version, header length, the header
 * dict padded with spaces and ended by a newline so the data start at a
 * multiple of 64, then the values little-endian in C order. */
static void *format_theta_npy(const bpnn_model *model, int l, size_t *out_size)
{
    size_t rows = (size_t)model->sizes[l], cols = (size_t)model->sizes[l - 1] + 1;
    const double *theta = model->params + bpnn_theta_offset(model->sizes, l);
    int f32 = model->precision == BPNN_F32;
    size_t element = f32 ? 4 : 8;

    char dict[160];
    int dict_length = snprintf(dict, sizeof dict,
                               "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, %zu), }",
                               f32 ? "<f4" : "<f8", rows, cols);
    size_t header = (size_t)dict_length + 1; /* + the newline */
    header += (NPY_ALIGNMENT - (NPY_PREAMBLE + header) % NPY_ALIGNMENT) % NPY_ALIGNMENT;
    size_t size = NPY_PREAMBLE + header + rows * cols * element;
    unsigned char *data = malloc(size);
    if (!data)
        return NULL;

    memcpy(data, "\x93NUMPY\x01\x00", 8);
    data[8] = (unsigned char)(header & 0xff);
    data[9] = (unsigned char)(header >> 8);
    memset(data + NPY_PREAMBLE, ' ', header);
    memcpy(data + NPY_PREAMBLE, dict, (size_t)dict_length);
    data[NPY_PREAMBLE + header - 1] = '\n';

    unsigned char *at = data + NPY_PREAMBLE + header;
    for (size_t i = 0; i < rows * cols; i++) {
        uint64_t bits;
        if (f32) {
            float value = (float)theta[i];
            uint32_t bits32;
            memcpy(&bits32, &value, sizeof bits32);
            bits = bits32;
        } else {
            memcpy(&bits, &theta[i], sizeof bits);
        }
        for (size_t b = 0; b < element; b++)
            *at++ = (unsigned char)(bits >> (8 * b));
    }
    *out_size = size;
    return data;
}

/* ---- both ---------------------------------------------------------------------- */

typedef void *(*theta_format)(const bpnn_model *model, int l, size_t *size);

/* Every Theta_l is formatted before the first file is written, and the
 * files are replaced as a group: a failure at any point leaves the earlier
 * export whole. */
static bpnn_status export_thetas(const bpnn_model *model, const char *dir, const char *ext,
                                 theta_format format)
{
    BPNN_TRY(check_output_dir(dir));
    void *files[BPNN_MAX_LAYERS] = {0};
    char *paths[BPNN_MAX_LAYERS] = {0};
    size_t sizes[BPNN_MAX_LAYERS] = {0};
    int count = model->layer_count - 1;
    bpnn_status status = BPNN_OK;
    for (int l = 1; l <= count && status == BPNN_OK; l++)
        if (!(files[l - 1] = format(model, l, &sizes[l - 1])) ||
            !(paths[l - 1] = bpnn_export_path(dir, l, ext)))
            status = bpnn_fail_oom("weight export");
    if (status == BPNN_OK)
        status = bpnn_write_files_atomic((size_t)count, (const char *const *)paths,
                                         (const void *const *)files, sizes, "export file");
    for (int l = 0; l < count; l++) {
        free(files[l]);
        free(paths[l]);
    }
    return status;
}

bpnn_status bpnn_export_csv(const bpnn_model *model, const char *dir)
{
    return export_thetas(model, dir, "csv", format_theta_csv);
}

bpnn_status bpnn_export_npy(const bpnn_model *model, const char *dir)
{
    return export_thetas(model, dir, "npy", format_theta_npy);
}
