/* mat.c — MATLAB .mat data (X: samples x features, y: labels) through
 * libmatio, after checking a v5 file's element structure ourselves: matio
 * reads a file cut short as if the missing values were zeros. */
#include "data/mat.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <matio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <threads.h>
#include <zlib.h>

#include "data/data.h"
#include "util/error.h"

enum {
    MAT_HEADER_SIZE = 128,
    MAT_TYPE_MATRIX = 14,     /* miMATRIX */
    MAT_TYPE_COMPRESSED = 15, /* miCOMPRESSED */
    MAT_MAX_DEPTH = 64,       /* deeper nesting is bounds-checked as a whole */
    MAT_CHUNK = 1 << 16,
};

/* ---- matio's messages ---------------------------------------------------------
 * matio prints to stderr unless given a log function. What it says is kept
 * per thread and becomes part of our one-line error: the first line of its
 * first complaint; for HDF5 (v7.3 files) the deepest cause of the first error
 * stack ("minor: File has been truncated"). matio's Mat_Open of a v7.3 file
 * that HDF5 refuses logs the error yet returns a handle, so a logged error
 * is itself a failure. */

typedef struct matio_log_state {
    char first[200]; /* first line of the first complaint */
    char cause[120]; /* HDF5: the last "minor:" of the first error stack */
    int stacks;      /* HDF5 error stacks seen ("#000" frames) */
    int failed;      /* an error or critical message was logged */
} matio_log_state;

static _Thread_local matio_log_state matio_said;
static once_flag matio_log_once = ONCE_FLAG_INIT;

static void copy_line(char *to, size_t size, const char *from)
{
    size_t length = strcspn(from, "\r\n");
    if (length >= size)
        length = size - 1;
    memcpy(to, from, length);
    to[length] = '\0';
}

static void matio_log(int level, char *message)
{
    if (level > MATIO_LOG_LEVEL_WARNING || !message)
        return;
    if (level <= MATIO_LOG_LEVEL_CRITICAL)
        matio_said.failed = 1;
    if (strncmp(message, "HDF5 error #000", 15) == 0)
        matio_said.stacks++;
    const char *minor = strstr(message, "minor: ");
    if (minor && matio_said.stacks <= 1)
        copy_line(matio_said.cause, sizeof matio_said.cause, minor + 7);
    if (!matio_said.first[0])
        copy_line(matio_said.first, sizeof matio_said.first, message);
}

static void matio_log_install(void)
{
    Mat_LogInitFunc("bpnn-cl", matio_log);
}

static void matio_log_clear(void)
{
    memset(&matio_said, 0, sizeof matio_said);
}

/* What matio said, for a message: "HDF5: File has been truncated", or its
 * first line, or `otherwise`. */
static const char *matio_text(char *buffer, size_t size, const char *otherwise)
{
    if (matio_said.cause[0])
        snprintf(buffer, size, "HDF5: %s", matio_said.cause);
    else if (matio_said.first[0])
        snprintf(buffer, size, "%s", matio_said.first);
    else
        snprintf(buffer, size, "%s", otherwise);
    return buffer;
}

/* ---- recognising the file --------------------------------------------------- */

int data_is_mat(const unsigned char *head, size_t size)
{
    /* v5 and v7.3 files both open with a 116-byte text header like this. */
    static const char v5[] = "MATLAB 5.0 MAT-file";
    static const char v73[] = "MATLAB 7.3 MAT-file";
    return (size >= sizeof v5 - 1 && memcmp(head, v5, sizeof v5 - 1) == 0) ||
           (size >= sizeof v73 - 1 && memcmp(head, v73, sizeof v73 - 1) == 0);
}

int data_path_is_mat(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return 0;
    unsigned char head[32];
    size_t got = fread(head, 1, sizeof head, file);
    fclose(file);
    return data_is_mat(head, got);
}

/* ---- the element walk ----------------------------------------------------------
 * A v5 file is a 128-byte header and then data elements, each an 8-byte tag
 * (type, byte count) and its bytes padded to 8; a tag whose first word has
 * nonzero upper 16 bits is a "small" element holding up to 4 bytes in the
 * tag's second word. A variable is a miMATRIX whose bytes are again elements,
 * or a miCOMPRESSED element whose zlib stream inflates to a miMATRIX. The walk
 * reads every tag in order and checks that each element ends within the
 * element that holds it and within the file. */

typedef struct mat_walk {
    const char *path;
    FILE *file;
    uint64_t file_size;
    int swap; /* the file's byte order is not this machine's */
} mat_walk;

/* A sequential reader over the file, or over one compressed variable's
 * inflated bytes (then `raw` is the file's reader it draws from). */
typedef struct mat_cursor {
    mat_walk *walk;
    struct mat_cursor *raw;
    uint64_t pos;        /* bytes consumed: a file offset, or an inflated offset */
    uint64_t element_at; /* inflating: the file offset of the miCOMPRESSED tag */
    uint64_t raw_left;   /* inflating: compressed bytes not read from the file yet */
    z_stream z;
    int stream_end;
    unsigned char *in;
} mat_cursor;

static uint32_t mat_u32(const mat_walk *w, const unsigned char *b)
{
    if (w->swap)
        return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    uint32_t v;
    memcpy(&v, b, sizeof v);
    return v;
}

static bpnn_status truncated_file(const mat_walk *w, uint64_t at, uint64_t end)
{
    return bpnn_fail(BPNN_ERR_INVALID,
                     "truncated MAT file: %s: the element at byte %" PRIu64 " ends at byte %" PRIu64
                     " but the file has %" PRIu64 " bytes",
                     w->path, at, end, w->file_size);
}

static bpnn_status raw_read(mat_cursor *c, void *buffer, size_t size, size_t *got)
{
    *got = fread(buffer, 1, size, c->walk->file);
    c->pos += *got;
    if (*got < size && ferror(c->walk->file))
        return bpnn_fail(BPNN_ERR_RUNTIME, "read error: %s", c->walk->path);
    return BPNN_OK;
}

static bpnn_status inflated_read(mat_cursor *c, unsigned char *buffer, size_t size, size_t *got)
{
    c->z.next_out = buffer;
    c->z.avail_out = (uInt)size;
    while (c->z.avail_out > 0 && !c->stream_end) {
        if (c->z.avail_in == 0) {
            if (c->raw_left == 0)
                return bpnn_fail(BPNN_ERR_INVALID,
                                 "corrupt MAT file: %s: the compressed variable at byte %" PRIu64
                                 " ends before its zlib stream does",
                                 c->walk->path, c->element_at);
            size_t want = c->raw_left < MAT_CHUNK ? (size_t)c->raw_left : MAT_CHUNK, in = 0;
            BPNN_TRY(raw_read(c->raw, c->in, want, &in));
            if (in < want)
                return truncated_file(c->walk, c->element_at, c->raw->pos + (want - in));
            c->raw_left -= in;
            c->z.next_in = c->in;
            c->z.avail_in = (uInt)in;
        }
        int rc = inflate(&c->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END)
            c->stream_end = 1;
        else if (rc == Z_MEM_ERROR)
            return bpnn_fail_oom("inflating a MAT variable");
        else if (rc != Z_OK)
            return bpnn_fail(BPNN_ERR_INVALID,
                             "corrupt MAT file: %s: the compressed variable at byte %" PRIu64
                             " does not inflate: %s",
                             c->walk->path, c->element_at, c->z.msg ? c->z.msg : "bad zlib stream");
    }
    *got = size - c->z.avail_out;
    c->pos += *got;
    return BPNN_OK;
}

static bpnn_status cursor_read(mat_cursor *c, void *buffer, size_t size, size_t *got)
{
    return c->raw ? inflated_read(c, buffer, size, got) : raw_read(c, buffer, size, got);
}

/* Moves `size` bytes ahead; fewer only at the end of the data (*got says). */
static bpnn_status cursor_skip(mat_cursor *c, uint64_t size, uint64_t *got)
{
    if (!c->raw) {
        uint64_t left = c->walk->file_size > c->pos ? c->walk->file_size - c->pos : 0;
        uint64_t step = size < left ? size : left;
        if (step > (uint64_t)INT64_MAX ||
            fseeko(c->walk->file, (off_t)(c->pos + step), SEEK_SET) != 0)
            return bpnn_fail(BPNN_ERR_RUNTIME, "seek error: %s", c->walk->path);
        c->pos += step;
        *got = step;
        return BPNN_OK;
    }
    unsigned char scratch[4096];
    *got = 0;
    while (*got < size) {
        size_t want = size - *got < sizeof scratch ? (size_t)(size - *got) : sizeof scratch, n = 0;
        BPNN_TRY(inflated_read(c, scratch, want, &n));
        *got += n;
        if (n < want)
            break;
    }
    return BPNN_OK;
}

static bpnn_status walk_elements(mat_cursor *c, uint64_t end, int depth, uint64_t holder_at);

/* The miCOMPRESSED element whose `size` bytes start at the file reader's
 * position: inflates it and walks what it holds. */
static bpnn_status walk_compressed(mat_cursor *raw, uint64_t at, uint64_t size)
{
    mat_cursor c = {.walk = raw->walk, .raw = raw, .element_at = at, .raw_left = size};
    c.in = malloc(MAT_CHUNK);
    if (!c.in)
        return bpnn_fail_oom("checking a MAT file");
    if (inflateInit(&c.z) != Z_OK) {
        free(c.in);
        return bpnn_fail_oom("checking a MAT file");
    }
    bpnn_status status = walk_elements(&c, UINT64_MAX, 1, at);
    /* Bytes after the end of the zlib stream but inside the element are
     * skipped; matio ignores them too. */
    uint64_t got = 0;
    if (status == BPNN_OK && c.raw_left > 0)
        status = cursor_skip(raw, c.raw_left, &got);
    inflateEnd(&c.z);
    free(c.in);
    return status;
}

/* Walks the elements from c->pos up to `end` (UINT64_MAX: the end of the
 * data). `holder_at` is the offset of the element holding them (0: none). */
static bpnn_status walk_elements(mat_cursor *c, uint64_t end, int depth, uint64_t holder_at)
{
    const mat_walk *w = c->walk;
    const char *path = w->path;
    while (end == UINT64_MAX || c->pos < end) {
        uint64_t at = c->pos;
        unsigned char tag[8];
        size_t got = 0;
        BPNN_TRY(cursor_read(c, tag, sizeof tag, &got));
        if (got == 0 && end == UINT64_MAX)
            return BPNN_OK; /* the end of the file or of an inflated stream */
        int top = !c->raw && depth == 0;
        if (got < sizeof tag || (end != UINT64_MAX && end - at < sizeof tag)) {
            if (top)
                return truncated_file(w, at, at + sizeof tag);
            return bpnn_fail(BPNN_ERR_INVALID,
                             "corrupt MAT file: %s: an element tag at byte %" PRIu64
                             "%s is cut off by the end of the variable at byte %" PRIu64,
                             path, at, c->raw ? " (inflated)" : "",
                             c->raw ? c->element_at : holder_at);
        }
        uint32_t first = mat_u32(w, tag), second = mat_u32(w, tag + 4);
        if (first >> 16) { /* small element: type and size in one word, data in the next */
            if ((first >> 16) > 4)
                return bpnn_fail(BPNN_ERR_INVALID,
                                 "corrupt MAT file: %s: the small element at byte %" PRIu64
                                 "%s claims %" PRIu32 " bytes (at most 4)",
                                 path, at, c->raw ? " (inflated)" : "", first >> 16);
            continue;
        }
        uint32_t type = first;
        uint64_t size = second, body = c->pos, body_end = body + size;
        if (end != UINT64_MAX && body_end > end) {
            if (top)
                return truncated_file(w, at, body_end);
            return bpnn_fail(BPNN_ERR_INVALID,
                             "corrupt MAT file: %s: the element at byte %" PRIu64
                             "%s ends at byte %" PRIu64 ", past the end of the variable "
                             "holding it (byte %" PRIu64 ")",
                             path, at, c->raw ? " (inflated)" : "", body_end, end);
        }
        if (type == MAT_TYPE_COMPRESSED && !c->raw && depth == 0) {
            BPNN_TRY(walk_compressed(c, at, size));
            continue; /* compressed elements are not padded */
        }
        if (type == MAT_TYPE_MATRIX && depth < MAT_MAX_DEPTH) {
            BPNN_TRY(walk_elements(c, body_end, depth + 1, at));
        } else {
            uint64_t skipped = 0;
            BPNN_TRY(cursor_skip(c, size, &skipped));
            if (skipped < size)
                return c->raw ? bpnn_fail(BPNN_ERR_INVALID,
                                          "corrupt MAT file: %s: the compressed variable at byte "
                                          "%" PRIu64 " ends inside its element at inflated byte "
                                          "%" PRIu64,
                                          path, c->element_at, at)
                              : truncated_file(w, at, body_end);
        }
        /* Padding to 8 bytes; the last element of the file or of an inflated
         * stream may go without it. */
        uint64_t pad = (8 - size % 8) % 8, skipped = 0;
        if (end != UINT64_MAX && pad > end - c->pos)
            pad = end - c->pos;
        if (pad)
            BPNN_TRY(cursor_skip(c, pad, &skipped));
    }
    return BPNN_OK;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

bpnn_status data_check_mat(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return bpnn_fail(BPNN_ERR_INVALID, "cannot open MAT file: %s: %s", path, strerror(errno));
    struct stat info;
    if (fstat(fileno(file), &info) != 0 || !S_ISREG(info.st_mode)) {
        fclose(file);
        return bpnn_fail(BPNN_ERR_INVALID, "cannot read MAT file: %s: not a regular file", path);
    }
    mat_walk w = {.path = path, .file = file, .file_size = (uint64_t)info.st_size};
    unsigned char header[MAT_HEADER_SIZE];
    size_t got = fread(header, 1, sizeof header, file);
    bpnn_status status = BPNN_OK;
    if (got >= 2 && header[0] == 0x1f && header[1] == 0x8b) {
        status = bpnn_fail(BPNN_ERR_INVALID,
                           "gzip-compressed MAT file: %s: matio reads plain .mat files; gunzip it "
                           "first",
                           path);
    } else if (got < sizeof header) {
        status =
            bpnn_fail(BPNN_ERR_INVALID,
                      "truncated MAT file: %s: the header ends after %zu of 128 bytes", path, got);
    } else if (!data_is_mat(header, got)) {
        status = bpnn_fail(BPNN_ERR_INVALID, "not a MAT file: %s: no MATLAB header", path);
    } else {
        int little = header[126] == 'I' && header[127] == 'M';
        int big = header[126] == 'M' && header[127] == 'I';
        if (!little && !big) {
            status = bpnn_fail(BPNN_ERR_INVALID,
                               "not a MAT file: %s: bytes 126-127 are not the endian indicator "
                               "\"IM\" or \"MI\"",
                               path);
        } else {
            w.swap = little != host_is_little_endian();
            unsigned version = w.swap ? (unsigned)header[124] << 8 | header[125]
                                      : (unsigned)header[125] << 8 | header[124];
            if (version == 0x0200) {
                /* v7.3: an HDF5 file behind the header; HDF5 checks its own. */
            } else if (version != 0x0100) {
                status = bpnn_fail(BPNN_ERR_INVALID,
                                   "unsupported MAT file version 0x%04X: %s: expected 0x0100 (v5) "
                                   "or 0x0200 (v7.3)",
                                   version, path);
            } else {
                mat_cursor c = {.walk = &w, .pos = MAT_HEADER_SIZE};
                status = walk_elements(&c, w.file_size, 0, 0);
            }
        }
    }
    fclose(file);
    return status;
}

/* ---- reading the variables ------------------------------------------------------ */

static const char *class_name(enum matio_classes c)
{
    switch (c) {
    case MAT_C_EMPTY: return "empty";
    case MAT_C_CELL: return "cell array";
    case MAT_C_STRUCT: return "struct";
    case MAT_C_OBJECT: return "object";
    case MAT_C_CHAR: return "char";
    case MAT_C_SPARSE: return "sparse";
    case MAT_C_DOUBLE: return "double";
    case MAT_C_SINGLE: return "single";
    case MAT_C_INT8: return "int8";
    case MAT_C_UINT8: return "uint8";
    case MAT_C_INT16: return "int16";
    case MAT_C_UINT16: return "uint16";
    case MAT_C_INT32: return "int32";
    case MAT_C_UINT32: return "uint32";
    case MAT_C_INT64: return "int64";
    case MAT_C_UINT64: return "uint64";
    case MAT_C_FUNCTION: return "function handle";
    case MAT_C_OPAQUE: return "opaque object";
    default: return "unknown class";
    }
}

/* Bytes per element of a numeric class; 0 for any other class. */
static size_t class_size(enum matio_classes c)
{
    switch (c) {
    case MAT_C_DOUBLE:
    case MAT_C_INT64:
    case MAT_C_UINT64: return 8;
    case MAT_C_SINGLE:
    case MAT_C_INT32:
    case MAT_C_UINT32: return 4;
    case MAT_C_INT16:
    case MAT_C_UINT16: return 2;
    case MAT_C_INT8:
    case MAT_C_UINT8: return 1;
    default: return 0;
    }
}

/* "3x4" or "2x3x4" */
static void format_dims(const matvar_t *v, char *text, size_t size)
{
    size_t used = 0;
    text[0] = '\0';
    for (int d = 0; d < v->rank && used < size; d++)
        used += (size_t)snprintf(text + used, size - used, "%s%zu", d ? "x" : "", v->dims[d]);
}

/* "X, y, names" — what the file holds, for the message about a missing one. */
static void list_variables(mat_t *mat, char *text, size_t size)
{
    size_t count = 0, used = 0;
    char **names = Mat_GetDir(mat, &count); /* owned by `mat` */
    text[0] = '\0';
    if (!names || count == 0) {
        snprintf(text, size, "no variables");
        return;
    }
    used = (size_t)snprintf(text, size, "variables ");
    for (size_t i = 0; i < count && used < size; i++)
        used += (size_t)snprintf(text + used, size - used, "%s%s", i ? ", " : "",
                                 names[i] ? names[i] : "?");
}

/* Reads the info of variable `name`, which must be a real, dense numeric array. */
static bpnn_status numeric_info(mat_t *mat, const char *path, const char *name, const char *role,
                                const char *flag, matvar_t **out)
{
    *out = NULL;
    matvar_t *v = Mat_VarReadInfo(mat, name);
    if (!v) {
        char have[512];
        list_variables(mat, have, sizeof have);
        return bpnn_fail(
            BPNN_ERR_INVALID, "no variable %s in MAT file: %s: it has %s; name the %s with --%s%s",
            name, path, have, role, flag, strcmp(flag, "mat-y") == 0 ? " (or --no-labels)" : "");
    }
    bpnn_status status = BPNN_OK;
    char dims[64];
    format_dims(v, dims, sizeof dims);
    if (v->class_type == MAT_C_SPARSE)
        status = bpnn_fail(BPNN_ERR_INVALID,
                           "sparse matrix in MAT file: %s: %s is sparse; store it with full(%s)",
                           path, name, name);
    else if (class_size(v->class_type) == 0)
        status = bpnn_fail(BPNN_ERR_INVALID,
                           "not numeric: %s in MAT file %s is a %s %s; the %s must be a numeric "
                           "array (double, single, int*, uint*)",
                           name, path, dims, class_name(v->class_type), role);
    else if (v->isComplex)
        status = bpnn_fail(BPNN_ERR_INVALID, "complex numbers: %s in MAT file %s is complex %s",
                           name, path, class_name(v->class_type));
    else if (v->rank != 2)
        status =
            bpnn_fail(BPNN_ERR_INVALID, "wrong shape: %s in MAT file %s is %s; the %s must be 2-D",
                      name, path, dims, role);
    else if (v->dims[0] > INT_MAX || v->dims[1] > INT_MAX)
        status =
            bpnn_fail(BPNN_ERR_INVALID, "too large: %s in MAT file %s is %s", name, path, dims);
    if (status != BPNN_OK) {
        Mat_VarFree(v);
        return status;
    }
    *out = v;
    return BPNN_OK;
}

/* Element k of a numeric buffer of class `c`, as double (exact for every
 * class but 64-bit integers beyond 2^53, which no label or pixel reaches). */
static double element(const void *data, enum matio_classes c, size_t k)
{
    switch (c) {
    case MAT_C_DOUBLE: return ((const double *)data)[k];
    case MAT_C_SINGLE: return ((const float *)data)[k];
    case MAT_C_INT8: return ((const int8_t *)data)[k];
    case MAT_C_UINT8: return ((const uint8_t *)data)[k];
    case MAT_C_INT16: return ((const int16_t *)data)[k];
    case MAT_C_UINT16: return ((const uint16_t *)data)[k];
    case MAT_C_INT32: return ((const int32_t *)data)[k];
    case MAT_C_UINT32: return ((const uint32_t *)data)[k];
    case MAT_C_INT64: return (double)((const int64_t *)data)[k];
    case MAT_C_UINT64: return (double)((const uint64_t *)data)[k];
    default: return NAN;
    }
}

/* Reads the top-left rows x cols block of `v` (column-major, in its class). */
static bpnn_status read_block(mat_t *mat, matvar_t *v, const char *path, size_t rows, size_t cols,
                              void **out)
{
    *out = NULL;
    size_t each = class_size(v->class_type);
    if (rows && cols > SIZE_MAX / each / rows)
        return bpnn_fail(BPNN_ERR_INVALID, "too large: %s in MAT file %s", v->name, path);
    size_t bytes = rows * cols * each;
    void *data = malloc(bytes ? bytes : 1);
    if (!data)
        return bpnn_fail_oom("reading a MAT variable");
    int start[2] = {0, 0}, stride[2] = {1, 1}, edge[2] = {(int)rows, (int)cols};
    matio_log_clear();
    if (Mat_VarReadData(mat, v, data, start, stride, edge) != 0 || matio_said.failed) {
        char said[200];
        free(data);
        return bpnn_fail(BPNN_ERR_INVALID, "cannot read %s from MAT file: %s: %s", v->name, path,
                         matio_text(said, sizeof said, "matio failed"));
    }
    *out = data;
    return BPNN_OK;
}

static bpnn_status read_features(mat_t *mat, matvar_t *v, const char *path, size_t rows,
                                 bpnn_dataset *out)
{
    size_t features = v->dims[1];
    void *block;
    BPNN_TRY(read_block(mat, v, path, rows, features, &block));
    double *x = malloc(rows * features * sizeof *x);
    if (!x) {
        free(block);
        return bpnn_fail_oom("MAT features");
    }
    bpnn_status status = BPNN_OK;
    /* MATLAB stores columns one after another; rows are samples here. */
    for (size_t j = 0; j < features && status == BPNN_OK; j++) {
        for (size_t i = 0; i < rows; i++) {
            double value = element(block, v->class_type, j * rows + i);
            if (!isfinite(value)) {
                status = bpnn_fail(BPNN_ERR_INVALID,
                                   "non-finite value in MAT file: %s: %s(%zu,%zu) is %g", path,
                                   v->name, i + 1, j + 1, value);
                break;
            }
            x[i * features + j] = value;
        }
    }
    free(block);
    if (status != BPNN_OK) {
        free(x);
        return status;
    }
    out->x = x;
    return BPNN_OK;
}

static bpnn_status read_labels(mat_t *mat, matvar_t *v, const char *path, size_t rows, int offset,
                               bpnn_dataset *out)
{
    int column = v->dims[1] == 1; /* n x 1, else 1 x n */
    void *block;
    BPNN_TRY(read_block(mat, v, path, column ? rows : 1, column ? 1 : rows, &block));
    int32_t *labels = malloc((rows ? rows : 1) * sizeof *labels);
    if (!labels) {
        free(block);
        return bpnn_fail_oom("MAT labels");
    }
    bpnn_status status = BPNN_OK;
    for (size_t i = 0; i < rows; i++) {
        double value = element(block, v->class_type, i);
        if (!isfinite(value) || value != floor(value)) {
            status =
                bpnn_fail(BPNN_ERR_INVALID, "non-integral label in MAT file: %s: %s(%zu) is %.17g",
                          path, v->name, i + 1, value);
            break;
        }
        if (value < INT32_MIN || value > INT32_MAX) {
            status =
                bpnn_fail(BPNN_ERR_INVALID, "label out of range in MAT file: %s: %s(%zu) is %.17g",
                          path, v->name, i + 1, value);
            break;
        }
        long long cls = (long long)value - offset;
        if (cls < 0 || cls > INT32_MAX) {
            status = bpnn_fail(BPNN_ERR_INVALID,
                               "%s class: %s: %s(%zu) is %lld, minus the label offset %d that "
                               "is %lld",
                               cls < 0 ? "negative" : "too large a", path, v->name, i + 1,
                               (long long)value, offset, cls);
            break;
        }
        labels[i] = (int32_t)cls;
    }
    free(block);
    if (status != BPNN_OK) {
        free(labels);
        return status;
    }
    out->labels = labels;
    return BPNN_OK;
}

bpnn_status data_load_mat(const char *path, const bpnn_load_options *options, bpnn_dataset *out)
{
    memset(out, 0, sizeof *out);
    bpnn_load_options opt = data_options(options);
    const char *x_name = opt.mat_x ? opt.mat_x : "X", *y_name = opt.mat_y ? opt.mat_y : "y";
    call_once(&matio_log_once, matio_log_install);
    BPNN_TRY(data_check_mat(path));

    matio_log_clear();
    mat_t *mat = Mat_Open(path, MAT_ACC_RDONLY);
    if (!mat || matio_said.failed) {
        char said[200];
        matio_text(said, sizeof said, "matio cannot open it");
        if (mat)
            Mat_Close(mat);
        return bpnn_fail(BPNN_ERR_INVALID, "%s MAT file: %s: %s",
                         strstr(said, "truncated") ? "truncated" : "cannot read", path, said);
    }
    matvar_t *x = NULL, *y = NULL;
    bpnn_status status = numeric_info(mat, path, x_name, "features (rows = samples)", "mat-x", &x);
    size_t rows = x ? x->dims[0] : 0;
    if (status == BPNN_OK && (rows == 0 || x->dims[1] == 0))
        status = bpnn_fail(BPNN_ERR_INVALID, "no samples: %s in MAT file %s is %zux%zu", x_name,
                           path, x->dims[0], x->dims[1]);
    if (status == BPNN_OK && opt.has_labels) {
        status = numeric_info(mat, path, y_name, "labels", "mat-y", &y);
        if (status == BPNN_OK && y->dims[0] != 1 && y->dims[1] != 1)
            status = bpnn_fail(BPNN_ERR_INVALID,
                               "wrong shape: %s in MAT file %s is %zux%zu; the labels must be a "
                               "vector",
                               y_name, path, y->dims[0], y->dims[1]);
        else if (status == BPNN_OK && y->dims[0] * y->dims[1] != rows)
            status = bpnn_fail(BPNN_ERR_INVALID,
                               "sizes do not match: MAT file %s: %s has %zu rows (samples), %s "
                               "has %zu labels",
                               path, x_name, rows, y_name, y->dims[0] * y->dims[1]);
    }
    if (status == BPNN_OK && opt.limit > 0) {
        if (opt.limit > rows)
            status = bpnn_fail(BPNN_ERR_INVALID,
                               "limit exceeds the data: %s: %zu samples requested, the file "
                               "holds %zu",
                               path, opt.limit, rows);
        else
            rows = opt.limit;
    }
    if (status == BPNN_OK)
        status = read_features(mat, x, path, rows, out);
    if (status == BPNN_OK && y)
        status = read_labels(mat, y, path, rows, opt.label_offset, out);
    if (status == BPNN_OK) {
        out->rows = rows;
        out->features = x->dims[1];
    }
    Mat_VarFree(x);
    Mat_VarFree(y);
    Mat_Close(mat);
    if (status != BPNN_OK)
        bpnn_dataset_free(out);
    return status;
}
