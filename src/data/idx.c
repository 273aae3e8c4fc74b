/* idx.c — IDX files (LeCun's MNIST format): idx3-ubyte images and
 * idx1-ubyte labels, raw or gzip-compressed, read in large blocks. */
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "data/data.h"
#include "util/error.h"

enum { IDX_UBYTE = 0x08, IDX_BLOCK = 1 << 20, IDX_HELPED_BLOCK = 1 << 16 };

/* An IDX file whose header has been read. */
typedef struct idx_file {
    data_source *source;
    uint32_t dims[3];
    size_t first; /* the record read first: a share's first row, else 0 */
} idx_file;

static const char *idx_type_name(unsigned type)
{
    switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    default: return NULL;
    }
}

static uint32_t big_endian_u32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Reads the header of `source`, expecting `dim_count` dimensions of
 * unsigned bytes (3: images, 1: labels). */
static bpnn_status idx_header(data_source *source, unsigned dim_count, idx_file *out)
{
    memset(out, 0, sizeof *out);
    const char *name = source->name;
    unsigned char header[16];
    size_t header_size = 4 + 4 * (size_t)dim_count;
    size_t got = 0;
    BPNN_TRY(data_source_read(source, header, 4, &got));
    if (got == 0)
        return bpnn_fail(BPNN_ERR_INVALID, "empty IDX file: %s", name);
    if (got < 4)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "truncated IDX file: %s: header ends after %zu of %zu bytes", name, got,
                         header_size);
    uint32_t magic = big_endian_u32(header);
    uint32_t expected = (uint32_t)IDX_UBYTE << 8 | dim_count;
    const char *kind = dim_count == 3 ? "idx3-ubyte images" : "idx1-ubyte labels";
    const char *type_name = idx_type_name(header[2]);
    if (header[0] == 0 && header[1] == 0 && header[3] == dim_count && type_name &&
        header[2] != IDX_UBYTE)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "unsupported IDX type code 0x%02X (%s): %s: only 0x08 (unsigned byte) "
                         "is supported",
                         header[2], type_name, name);
    if (magic != expected)
        return bpnn_fail(BPNN_ERR_INVALID, "wrong IDX magic: %s: 0x%08X, expected 0x%08X (%s)",
                         name, (unsigned)magic, (unsigned)expected, kind);
    BPNN_TRY(data_source_read(source, header + 4, header_size - 4, &got));
    if (got < header_size - 4)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "truncated IDX file: %s: header ends after %zu of %zu bytes", name,
                         4 + got, header_size);
    for (unsigned d = 0; d < dim_count; d++)
        out->dims[d] = big_endian_u32(header + 4 + 4 * d);
    out->source = source;
    return BPNN_OK;
}

/* Whether the file can hold `records` records of `record_size` bytes after
 * its header. A raw file's length says exactly how many it holds; gzip data
 * can only be refused when even deflate's best ratio could not yield them. */
static bpnn_status idx_check_size(const idx_file *idx, size_t records, size_t record_size,
                                  const char *noun)
{
    const data_source *s = idx->source;
    uint64_t bound = data_source_bound(s);
    if (bound == UINT64_MAX || (uint64_t)records <= bound / record_size)
        return BPNN_OK;
    if (!s->compressed)
        return bpnn_fail(BPNN_ERR_INVALID, "truncated IDX file: %s: %" PRIu64 " of %" PRIu32 " %s",
                         s->name, bound / record_size, idx->dims[0], noun);
    return bpnn_fail(BPNN_ERR_INVALID,
                     "truncated IDX file: %s: the header declares %" PRIu32 " %s of %zu bytes, "
                     "more than its %" PRIu64 " bytes of gzip data can hold",
                     s->name, idx->dims[0], noun, record_size, s->length);
}

/* Bytes to pixels, run on a helper thread while the next block inflates. */
typedef struct convert_job {
    const unsigned char *bytes;
    size_t count;
    double *out;
    const double *pixel_value;
} convert_job;

static int convert_pixels(void *arg)
{
    const convert_job *job = arg;
    for (size_t i = 0; i < job->count; i++)
        job->out[i] = job->pixel_value[job->bytes[i]];
    return 0;
}

/* Passes over the records before idx->first (of `record_size` bytes). */
static bpnn_status skip_records(idx_file *idx, size_t record_size, const char *noun)
{
    uint64_t want = (uint64_t)idx->first * record_size, got = 0;
    BPNN_TRY(data_source_skip(idx->source, want, &got));
    if (got < want)
        return bpnn_fail(BPNN_ERR_INVALID, "truncated IDX file: %s: %" PRIu64 " of %" PRIu32 " %s",
                         idx->source->name, got / record_size, idx->dims[0], noun);
    return BPNN_OK;
}

/* Reads `count` images of `features` pixels into data->x (allocated here),
 * from image idx->first on.
 * Inflating and converting (which first touches the fresh pages of the
 * output) take about as long each, so they overlap: block k is converted on
 * a helper thread while block k + 1 is read. */
static bpnn_status read_images(idx_file *idx, size_t count, size_t features, bpnn_dataset *data)
{
    data_source *source = idx->source;
    double pixel_value[256]; /* exactly p / 255, looked up */
    for (int p = 0; p < 256; p++)
        pixel_value[p] = (double)p / 255;
    if (features > SIZE_MAX / sizeof(double) / count)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "IDX images too large for this machine: %s: %zu images of %zu pixels",
                         source->name, count, features);
    BPNN_TRY(idx_check_size(idx, idx->first + count, features, "images"));
    BPNN_TRY(skip_records(idx, features, "images"));
    /* A raw file has been measured against the header; gzip and pipes are
     * not trusted with memory: their rows grow as they are read, so a
     * truncated stream is reported as such, not as out of memory. */
    size_t capacity = count;
    if (source->compressed || !source->regular) {
        capacity = ((size_t)64 << 20) / sizeof(double) / features;
        if (capacity == 0)
            capacity = 1;
        if (capacity > count)
            capacity = count;
    }
    size_t block_rows = IDX_BLOCK / features ? IDX_BLOCK / features : 1;
    if (block_rows > count)
        block_rows = count;
    double *x = malloc(capacity * features * sizeof *x);
    unsigned char *blocks[2] = {malloc(block_rows * features), malloc(block_rows * features)};
    bpnn_status status = BPNN_OK;
    if (!x || !blocks[0] || !blocks[1]) {
        status = bpnn_fail_oom("IDX images");
        goto done;
    }
    size_t done = 0; /* rows converted */
    size_t rows = block_rows, got = 0;
    int current = 0;
    status = data_source_read(source, blocks[current], rows * features, &got);
    while (status == BPNN_OK && rows > 0) {
        if (done + rows > capacity) { /* no helper is running here */
            size_t grown = capacity * 2 < count ? capacity * 2 : count;
            if (grown < done + rows)
                grown = done + rows;
            double *bigger = realloc(x, grown * features * sizeof *x);
            if (!bigger) {
                status = bpnn_fail_oom("IDX images");
                break;
            }
            x = bigger;
            capacity = grown;
        }
        convert_job job = {blocks[current], got, x + done * features, pixel_value};
        /* A thread costs more than converting a small block. */
        thrd_t helper;
        int helped =
            got >= IDX_HELPED_BLOCK && thrd_create(&helper, convert_pixels, &job) == thrd_success;
        if (!helped)
            convert_pixels(&job);
        int complete = got == rows * features;
        size_t next_rows = count - done - rows < block_rows ? count - done - rows : block_rows;
        size_t next_got = 0;
        if (complete && next_rows > 0)
            status = data_source_read(source, blocks[!current], next_rows * features, &next_got);
        if (helped)
            thrd_join(helper, NULL);
        if (!complete) {
            status =
                bpnn_fail(BPNN_ERR_INVALID, "truncated IDX file: %s: %zu of %zu images",
                          source->name, idx->first + done + got / features, (size_t)idx->dims[0]);
            break;
        }
        done += rows;
        rows = next_rows;
        got = next_got;
        current = !current;
    }
done:
    free(blocks[0]);
    free(blocks[1]);
    if (status != BPNN_OK) {
        free(x);
        return status;
    }
    data->x = x;
    return BPNN_OK;
}

/* Reads `count` labels as classes (label - offset) into data->labels. The
 * images were read first, so `count` is no larger than what their file
 * really held, and a raw labels file has been measured against it too. */
static bpnn_status read_labels(idx_file *idx, size_t count, int offset, bpnn_dataset *data)
{
    data_source *source = idx->source;
    BPNN_TRY(idx_check_size(idx, idx->first + count, 1, "labels"));
    BPNN_TRY(skip_records(idx, 1, "labels"));
    size_t block_size = count < IDX_BLOCK ? count : IDX_BLOCK;
    int32_t *labels = malloc(count * sizeof *labels);
    unsigned char *block = malloc(block_size);
    if (!labels || !block) {
        free(labels);
        free(block);
        return bpnn_fail_oom("IDX labels");
    }
    size_t done = 0;
    bpnn_status status = BPNN_OK;
    while (done < count && status == BPNN_OK) {
        size_t want = count - done < block_size ? count - done : block_size;
        size_t got = 0;
        status = data_source_read(source, block, want, &got);
        for (size_t i = 0; i < got && status == BPNN_OK; i++) {
            long long cls = (long long)block[i] - offset;
            if (cls < 0)
                status = bpnn_fail(BPNN_ERR_INVALID,
                                   "negative class: %s: record %zu has label %d, below the label "
                                   "offset %d",
                                   source->name, idx->first + done + i + 1, block[i], offset);
            else if (cls > INT32_MAX)
                status = bpnn_fail(BPNN_ERR_INVALID,
                                   "class too large: %s: record %zu has label %d, "
                                   "label offset %d",
                                   source->name, idx->first + done + i + 1, block[i], offset);
            labels[done + i] = (int32_t)cls;
        }
        if (status == BPNN_OK && got < want)
            status = bpnn_fail(BPNN_ERR_INVALID, "truncated IDX file: %s: %zu of %zu labels",
                               source->name, idx->first + done + got, (size_t)idx->dims[0]);
        done += got;
    }
    free(block);
    if (status != BPNN_OK) {
        free(labels);
        return status;
    }
    data->labels = labels;
    return BPNN_OK;
}

/* The images from `images_source` (its head not yet consumed) and the labels
 * from `labels_path`, which is opened here. */
static bpnn_status load_idx(data_source *images_source, const char *labels_path,
                            const bpnn_load_options *options, bpnn_dataset *out)
{
    memset(out, 0, sizeof *out);
    bpnn_load_options opt = data_options(options);
    const char *images_name = images_source->name;
    idx_file images, labels;
    data_source labels_source = {0};
    BPNN_TRY(idx_header(images_source, 3, &images));
    bpnn_status status = BPNN_OK;
    if (labels_path) {
        BPNN_TRY(data_source_open(labels_path, "IDX labels", &labels_source));
        if ((status = idx_header(&labels_source, 1, &labels)) != BPNN_OK)
            goto done;
    }

    uint32_t count = images.dims[0], height = images.dims[1], width = images.dims[2];
    if (count == 0) {
        status = bpnn_fail(BPNN_ERR_INVALID, "IDX file holds no images: %s", images_name);
        goto done;
    }
    if (height == 0 || width == 0 || height > INT_MAX || width > INT_MAX ||
        (uint64_t)height * width > SIZE_MAX) {
        status = bpnn_fail(BPNN_ERR_INVALID, "bad IDX image size: %s: %" PRIu32 " x %" PRIu32,
                           images_name, height, width);
        goto done;
    }
    if (labels_path && labels.dims[0] != count) {
        status = bpnn_fail(BPNN_ERR_INVALID,
                           "IDX image and label counts differ: %s: %" PRIu32 " images, %s: %" PRIu32
                           " labels",
                           images_name, count, labels_source.name, labels.dims[0]);
        goto done;
    }
    size_t rows = count;
    if (opt.limit > 0) {
        if (opt.limit > rows) {
            status =
                bpnn_fail(BPNN_ERR_INVALID,
                          "limit exceeds the data: %s: %zu images requested, the file holds %zu",
                          images_name, opt.limit, rows);
            goto done;
        }
        rows = opt.limit;
    }
    size_t whole = rows, first = 0;
    if (opt.share_count > 1) {
        size_t last = 0;
        if ((status = data_share_range(rows, opt.share_index, opt.share_count, images_name, &first,
                                       &last)) != BPNN_OK)
            goto done;
        rows = last - first;
        images.first = labels.first = first;
        /* Every share's reader measures the whole against the file, so
         * that a raw file cut short fails on every participant alike. */
        if ((status = idx_check_size(&images, whole, (size_t)height * width, "images")) !=
                BPNN_OK ||
            (labels_path && (status = idx_check_size(&labels, whole, 1, "labels")) != BPNN_OK))
            goto done;
    }
    size_t features = (size_t)height * width;
    if ((status = read_images(&images, rows, features, out)) != BPNN_OK)
        goto done;
    if (labels_path && (status = read_labels(&labels, rows, opt.label_offset, out)) != BPNN_OK)
        goto done;
    out->rows = rows;
    out->features = features;
    out->image_width = (int)width;
    out->image_height = (int)height;
    if (opt.share_count > 1) {
        out->share_first = first;
        out->share_of = whole;
    }
done:
    data_source_close(&labels_source);
    if (status != BPNN_OK)
        bpnn_dataset_free(out);
    return status;
}

bpnn_status data_load_idx_source(data_source *images, const char *labels_path,
                                 const bpnn_load_options *options, bpnn_dataset *out)
{
    return load_idx(images, labels_path, options, out);
}

bpnn_status bpnn_load_idx(const char *images_path, const char *labels_path,
                          const bpnn_load_options *options, bpnn_dataset *out)
{
    memset(out, 0, sizeof *out);
    data_source images;
    BPNN_TRY(data_source_open(images_path, "IDX images", &images));
    bpnn_status status = load_idx(&images, labels_path, options, out);
    data_source_close(&images);
    return status;
}
