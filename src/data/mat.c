/* mat.c — MATLAB .mat data (X: samples x features, y: labels) through
 * libmatio, after checking a v5 file's element structure ourselves: matio
 * reads a file cut short as if the missing values were zeros. */
#include "data/mat.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <matio.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <threads.h>
#include <zlib.h>

#include "data/data.h"
#include "util/error.h"

enum {
    MAT_HEADER_SIZE = 128,
    MAT_MAX_DEPTH = 64, /* cells in cells: deeper is refused (matio recurses) */
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

int data_looks_like_mat(const char *path, const unsigned char *head, size_t size)
{
    size_t length = strlen(path);
    return (size >= 6 && memcmp(head, "MATLAB", 6) == 0) ||
           (length >= 4 && strcasecmp(path + length - 4, ".mat") == 0);
}

int data_path_is_mat(const char *path)
{
    /* A FIFO or standard input was read once already and cannot be looked
     * at again: its name is all there is. */
    struct stat info;
    if (strcmp(path, "-") == 0 || stat(path, &info) != 0 || !S_ISREG(info.st_mode)) {
        size_t length = strlen(path);
        return length >= 4 && strcasecmp(path + length - 4, ".mat") == 0;
    }
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
 * or a miCOMPRESSED element whose zlib stream inflates to a miMATRIX.
 *
 * The walk reads every tag in order and checks that each element ends within
 * the element that holds it and within the file, and it reads each array the
 * way matio will: array flags, dimensions, name, then per class the data
 * (numeric and char: as many values as the dimensions declare), the cells or
 * the struct fields (as many arrays as the dimensions and field count
 * declare), so that no size matio allocates from or reads by can exceed what
 * the file holds. */

enum {
    MI_INT8 = 1,
    MI_INT32 = 5,
    MI_UINT32 = 6,
    MI_MATRIX = 14,
    MI_COMPRESSED = 15,
};

typedef struct mat_walk {
    const char *path; /* as shown in messages */
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

/* One element's tag. */
typedef struct mat_tag {
    uint64_t at;   /* where the tag starts */
    uint64_t body; /* where its data start (a small element's: inside the tag) */
    uint32_t type;
    uint64_t size; /* bytes of data */
    int small;
    unsigned char data[4]; /* a small element's bytes */
} mat_tag;

/* The top-level variable being walked, for messages. */
typedef struct mat_variable {
    uint64_t at;
    char name[64];
} mat_variable;

static uint32_t mat_u32(const mat_walk *w, const unsigned char *b)
{
    if (w->swap)
        return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    uint32_t v;
    memcpy(&v, b, sizeof v);
    return v;
}

static uint64_t multiply_saturated(uint64_t a, uint64_t b)
{
    return a && b > UINT64_MAX / a ? UINT64_MAX : a * b;
}

static bpnn_status truncated_file(const mat_walk *w, uint64_t at, uint64_t end)
{
    return bpnn_fail(BPNN_ERR_INVALID,
                     "truncated MAT file: %s: the element at byte %" PRIu64 " ends at byte %" PRIu64
                     " but the file has %" PRIu64 " bytes",
                     w->path, at, end, w->file_size);
}

/* "corrupt MAT file: PATH: the element at byte N[ (inflated) of the
 * compressed variable at byte M]: DETAIL" */
static bpnn_status corrupt(const mat_cursor *c, uint64_t at, const char *format, ...)
    BPNN_PRINTF(3, 4);
static bpnn_status corrupt(const mat_cursor *c, uint64_t at, const char *format, ...)
{
    char detail[200], where[96] = "";
    va_list args;
    va_start(args, format);
    vsnprintf(detail, sizeof detail, format, args);
    va_end(args);
    if (c->raw)
        snprintf(where, sizeof where, " (inflated) of the compressed variable at byte %" PRIu64,
                 c->element_at);
    return bpnn_fail(BPNN_ERR_INVALID,
                     "corrupt MAT file: %s: the element at byte %" PRIu64 "%s: %s", c->walk->path,
                     at, where, detail);
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

/* Reads the tag at the cursor of an element that must end by `end` (the end
 * of the array holding it, at `holder_at`). */
static bpnn_status read_tag(mat_cursor *c, uint64_t end, uint64_t holder_at, mat_tag *t)
{
    const mat_walk *w = c->walk;
    memset(t, 0, sizeof *t);
    t->at = c->pos;
    unsigned char b[8];
    size_t got = 0;
    BPNN_TRY(cursor_read(c, b, sizeof b, &got));
    if (got < sizeof b || end - t->at < sizeof b)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "corrupt MAT file: %s: an element tag at byte %" PRIu64
                         "%s is cut off by the end of the variable at byte %" PRIu64,
                         w->path, t->at, c->raw ? " (inflated)" : "",
                         c->raw ? c->element_at : holder_at);
    uint32_t first = mat_u32(w, b);
    if (first >> 16) {
        if ((first >> 16) > 4)
            return corrupt(c, t->at, "a small element claims %" PRIu32 " bytes (at most 4)",
                           first >> 16);
        t->small = 1;
        t->type = first & 0xFFFF;
        t->size = first >> 16;
        t->body = t->at + 4;
        memcpy(t->data, b + 4, 4);
        return BPNN_OK;
    }
    t->type = first;
    t->size = mat_u32(w, b + 4);
    t->body = c->pos;
    if (t->size > end - t->body)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "corrupt MAT file: %s: the element at byte %" PRIu64
                         "%s ends at byte %" PRIu64 ", past the end of the variable "
                         "holding it (byte %" PRIu64 ")",
                         w->path, t->at, c->raw ? " (inflated)" : "", t->body + t->size, end);
    return BPNN_OK;
}

/* Skips what is left of element `t` after `read` bytes of its data, and its
 * padding to 8 bytes (the last element of an array may go without). */
static bpnn_status finish_element(mat_cursor *c, const mat_tag *t, uint64_t read, uint64_t end)
{
    if (t->small)
        return BPNN_OK;
    uint64_t pad = (8 - t->size % 8) % 8, skipped = 0;
    if (pad > end - (t->body + t->size))
        pad = end - (t->body + t->size);
    BPNN_TRY(cursor_skip(c, t->size - read + pad, &skipped));
    if (skipped < t->size - read)
        return corrupt(c, t->at, "the data end early");
    return BPNN_OK;
}

/* Reads the first `size` bytes of element `t` (whose data are at least
 * that long). */
static bpnn_status read_data(mat_cursor *c, const mat_tag *t, void *buffer, size_t size)
{
    if (t->small) {
        memcpy(buffer, t->data, size);
        return BPNN_OK;
    }
    size_t got = 0;
    BPNN_TRY(cursor_read(c, buffer, size, &got));
    if (got < size)
        return corrupt(c, t->at, "the data end early");
    return BPNN_OK;
}

static bpnn_status skip_to(mat_cursor *c, uint64_t end)
{
    uint64_t skipped = 0;
    if (c->pos >= end)
        return BPNN_OK;
    BPNN_TRY(cursor_skip(c, end - c->pos, &skipped));
    return BPNN_OK;
}

/* Bytes per value of a data element's type; 0 when it holds no numbers. */
static unsigned value_size(uint32_t type)
{
    switch (type) {
    case 1: /* miINT8 */
    case 2: /* miUINT8 */
    case 16: /* miUTF8 */ return 1;
    case 3: /* miINT16 */
    case 4: /* miUINT16 */
    case 17: /* miUTF16 */ return 2;
    case 5: /* miINT32 */
    case 6: /* miUINT32 */
    case 7: /* miSINGLE */
    case 18: /* miUTF32 */ return 4;
    case 9:  /* miDOUBLE */
    case 12: /* miINT64 */
    case 13: /* miUINT64 */ return 8;
    default: return 0;
    }
}

/* "variable X" or "an array inside variable X" */
static void array_label(const mat_variable *var, int depth, char *text, size_t size)
{
    snprintf(text, size, "%svariable %s", depth > 1 ? "an array inside " : "",
             var->name[0] ? var->name : "(unnamed)");
}

/* The real or imaginary part of a numeric or char array of `values` values. */
static bpnn_status walk_values(mat_cursor *c, uint64_t end, uint64_t holder_at, uint64_t values,
                               const char *part, const mat_variable *var, int depth,
                               const char *dims)
{
    char label[96];
    array_label(var, depth, label, sizeof label);
    if (c->pos >= end)
        return corrupt(c, holder_at, "%s is %s but has no %s part", label, dims, part);
    mat_tag t;
    BPNN_TRY(read_tag(c, end, holder_at, &t));
    unsigned each = value_size(t.type);
    if (each == 0)
        return corrupt(c, t.at,
                       "the %s part of %s has data type %" PRIu32 ", which holds no numbers", part,
                       label, t.type);
    if (t.size / each < values)
        return corrupt(c, t.at, "%s is %s (%" PRIu64 " values) but its %s part holds %" PRIu64,
                       label, dims, values, part, t.size / each);
    return finish_element(c, &t, 0, end);
}

static bpnn_status walk_matrix(mat_cursor *c, const mat_tag *m, int depth, mat_variable *var);

/* `count` arrays, each a miMATRIX: the cells of a cell array, or the fields
 * of every element of a struct. */
static bpnn_status walk_arrays(mat_cursor *c, uint64_t end, uint64_t holder_at, uint64_t count,
                               const char *what, mat_variable *var, int depth)
{
    for (uint64_t i = 0; i < count; i++) {
        if (c->pos >= end) {
            char label[96];
            array_label(var, depth, label, sizeof label);
            return corrupt(c, holder_at, "%s declares %" PRIu64 " %s but holds %" PRIu64, label,
                           count, what, i);
        }
        mat_tag t;
        BPNN_TRY(read_tag(c, end, holder_at, &t));
        if (t.small || t.type != MI_MATRIX)
            return corrupt(c, t.at, "one of the %s is not an array (type %" PRIu32 ")", what,
                           t.type);
        BPNN_TRY(walk_matrix(c, &t, depth + 1, var));
        BPNN_TRY(finish_element(c, &t, t.size, end));
    }
    return BPNN_OK;
}

/* The struct part after dimensions and name: field name length, names, then
 * every element's fields. */
static bpnn_status walk_struct(mat_cursor *c, uint64_t end, uint64_t holder_at, uint64_t elements,
                               mat_variable *var, int depth)
{
    mat_tag t;
    BPNN_TRY(read_tag(c, end, holder_at, &t));
    if (t.type != MI_INT32 || t.size != 4)
        return corrupt(c, t.at, "a struct's field name length is not one miINT32");
    unsigned char b[4];
    BPNN_TRY(read_data(c, &t, b, sizeof b));
    BPNN_TRY(finish_element(c, &t, 4, end));
    uint32_t name_length = mat_u32(c->walk, b);
    BPNN_TRY(read_tag(c, end, holder_at, &t));
    if (t.type != MI_INT8)
        return corrupt(c, t.at, "a struct's field names are not miINT8 text");
    if (name_length == 0 ? t.size != 0 : name_length > INT32_MAX || t.size % name_length != 0)
        return corrupt(c, t.at,
                       "a struct's field names take %" PRIu64 " bytes, not a multiple of the "
                       "field name length %" PRIu32,
                       t.size, name_length);
    uint64_t fields = name_length ? t.size / name_length : 0;
    BPNN_TRY(finish_element(c, &t, 0, end));
    return walk_arrays(c, end, holder_at, multiply_saturated(elements, fields), "struct fields",
                       var, depth);
}

/* Elements up to `end`, arrays among them walked as arrays. */
static bpnn_status walk_parts(mat_cursor *c, uint64_t end, uint64_t holder_at, mat_variable *var,
                              int depth)
{
    while (c->pos < end) {
        mat_tag t;
        BPNN_TRY(read_tag(c, end, holder_at, &t));
        if (!t.small && t.type == MI_MATRIX) {
            BPNN_TRY(walk_matrix(c, &t, depth + 1, var));
            BPNN_TRY(finish_element(c, &t, t.size, end));
        } else {
            BPNN_TRY(finish_element(c, &t, 0, end));
        }
    }
    return BPNN_OK;
}

/* The array whose miMATRIX tag is `m` (the cursor at its data). */
static bpnn_status walk_matrix(mat_cursor *c, const mat_tag *m, int depth, mat_variable *var)
{
    uint64_t end = m->body + m->size;
    if (m->size == 0) {
        /* An empty cell or field; a variable needs at least its flags. */
        if (depth > 1)
            return BPNN_OK;
        return corrupt(c, m->at, "the variable is empty (no array flags)");
    }
    if (depth > MAT_MAX_DEPTH)
        return corrupt(c, m->at, "arrays nested more than %d deep", MAT_MAX_DEPTH);
    mat_tag t;
    BPNN_TRY(read_tag(c, end, m->at, &t));
    if (t.small || t.type != MI_UINT32 || t.size != 8)
        return corrupt(c, t.at, "an array's flags are not two miUINT32 words");
    unsigned char flags[8];
    BPNN_TRY(read_data(c, &t, flags, sizeof flags));
    BPNN_TRY(finish_element(c, &t, sizeof flags, end));
    uint32_t word = mat_u32(c->walk, flags);
    unsigned array_class = word & 0xFF;
    int complex = (word & 0x800) != 0;
    /* Opaque objects (MATLAB's strings, tables) hold no dimensions: their
     * parts are walked as elements. */
    if (array_class == MAT_C_OPAQUE)
        return walk_parts(c, end, m->at, var, depth);
    if (array_class < MAT_C_CELL || array_class > MAT_C_FUNCTION)
        return corrupt(c, m->at, "unknown array class %u", array_class);

    BPNN_TRY(read_tag(c, end, m->at, &t));
    if (t.small || t.type != MI_INT32 || t.size < 8 || t.size % 4 != 0)
        return corrupt(c, t.at, "an array's dimensions are not two or more miINT32 values");
    uint64_t elements = 1;
    char dims[48] = "";
    size_t used = 0;
    for (uint64_t k = 0; k < t.size / 4; k++) {
        unsigned char b[4];
        BPNN_TRY(read_data(c, &t, b, sizeof b));
        int32_t d = (int32_t)mat_u32(c->walk, b);
        if (d < 0)
            return corrupt(c, t.at, "dimension %" PRIu64 " is negative (%" PRId32 ")", k + 1, d);
        elements = multiply_saturated(elements, (uint64_t)d);
        if (used + 16 < sizeof dims)
            used +=
                (size_t)snprintf(dims + used, sizeof dims - used, "%s%" PRId32, k ? "x" : "", d);
        else if (used + 4 <= sizeof dims && !strstr(dims, "..."))
            used += (size_t)snprintf(dims + used, sizeof dims - used, "...");
    }
    BPNN_TRY(finish_element(c, &t, t.size, end));

    BPNN_TRY(read_tag(c, end, m->at, &t));
    if (t.type != MI_INT8)
        return corrupt(c, t.at, "an array's name is not miINT8 text");
    if (depth == 1) {
        size_t n = t.size < sizeof var->name - 1 ? (size_t)t.size : sizeof var->name - 1;
        BPNN_TRY(read_data(c, &t, var->name, n));
        var->name[n] = '\0';
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)var->name[i] < 0x20 || (unsigned char)var->name[i] >= 0x7F)
                var->name[i] = '?';
        BPNN_TRY(finish_element(c, &t, n, end));
    } else {
        BPNN_TRY(finish_element(c, &t, 0, end));
    }

    switch (array_class) {
    case MAT_C_CELL: BPNN_TRY(walk_arrays(c, end, m->at, elements, "cells", var, depth)); break;
    case MAT_C_FUNCTION: /* matio reads one array per element, as for cells */
        BPNN_TRY(walk_arrays(c, end, m->at, elements, "function handles", var, depth));
        break;
    case MAT_C_STRUCT: BPNN_TRY(walk_struct(c, end, m->at, elements, var, depth)); break;
    case MAT_C_OBJECT:
        BPNN_TRY(read_tag(c, end, m->at, &t)); /* the class name */
        if (t.type != MI_INT8)
            return corrupt(c, t.at, "an object's class name is not miINT8 text");
        BPNN_TRY(finish_element(c, &t, 0, end));
        BPNN_TRY(walk_struct(c, end, m->at, elements, var, depth));
        break;
    case MAT_C_SPARSE: break; /* refused when read; matio reads only its flags and dims */
    default:                  /* numeric, char and logical arrays */
        if (elements == 0 && c->pos >= end)
            break;
        BPNN_TRY(walk_values(c, end, m->at, elements, "real", var, depth, dims));
        if (complex)
            BPNN_TRY(walk_values(c, end, m->at, elements, "imaginary", var, depth, dims));
        break;
    }
    /* Anything after the parts matio reads is skipped by matio too. */
    return skip_to(c, end);
}

static bpnn_status walk_elements(mat_cursor *c, uint64_t end);

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
    bpnn_status status = walk_elements(&c, UINT64_MAX);
    /* Bytes after the end of the zlib stream but inside the element are
     * skipped; matio ignores them too. */
    uint64_t got = 0;
    if (status == BPNN_OK && c.raw_left > 0)
        status = cursor_skip(raw, c.raw_left, &got);
    inflateEnd(&c.z);
    free(c.in);
    return status;
}

/* Walks the variables from c->pos up to `end`: the file's length, or
 * UINT64_MAX for the end of a compressed variable's stream. */
static bpnn_status walk_elements(mat_cursor *c, uint64_t end)
{
    const mat_walk *w = c->walk;
    while (end == UINT64_MAX || c->pos < end) {
        uint64_t at = c->pos;
        unsigned char tag[8];
        size_t got = 0;
        BPNN_TRY(cursor_read(c, tag, sizeof tag, &got));
        if (got == 0 && end == UINT64_MAX)
            return BPNN_OK; /* the end of an inflated stream */
        if (got < sizeof tag) {
            if (!c->raw)
                return truncated_file(w, at, at + sizeof tag);
            return corrupt(c, at, "the stream ends inside an element tag");
        }
        uint32_t first = mat_u32(w, tag), second = mat_u32(w, tag + 4);
        if (first >> 16) { /* small element: type and size in one word, data in the next */
            if ((first >> 16) > 4)
                return corrupt(c, at, "a small element claims %" PRIu32 " bytes (at most 4)",
                               first >> 16);
            continue;
        }
        mat_tag t = {.at = at, .body = c->pos, .type = first, .size = second};
        uint64_t body_end = t.body + t.size;
        if (end != UINT64_MAX && body_end > end)
            return truncated_file(w, at, body_end);
        if (t.type == MI_COMPRESSED && !c->raw) {
            BPNN_TRY(walk_compressed(c, at, t.size));
            continue; /* compressed elements are not padded */
        }
        if (t.type == MI_MATRIX) {
            mat_variable var = {.at = at};
            BPNN_TRY(walk_matrix(c, &t, 1, &var));
        } else {
            uint64_t skipped = 0;
            BPNN_TRY(cursor_skip(c, t.size, &skipped));
            if (skipped < t.size)
                return c->raw ? corrupt(c, at, "the stream ends inside the element")
                              : truncated_file(w, at, body_end);
        }
        /* Padding to 8 bytes; the last element of the file or of an inflated
         * stream may go without it. */
        uint64_t pad = (8 - t.size % 8) % 8, skipped = 0;
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

/* data_check_mat on the file at `open_path`, named `name` in messages. */
static bpnn_status check_mat(const char *open_path, const char *name)
{
    FILE *file = fopen(open_path, "rb");
    if (!file)
        return bpnn_fail(BPNN_ERR_INVALID, "cannot open MAT file: %s: %s", name, strerror(errno));
    struct stat info;
    if (fstat(fileno(file), &info) != 0 || !S_ISREG(info.st_mode)) {
        fclose(file);
        return bpnn_fail(BPNN_ERR_INVALID, "cannot read MAT file: %s: not a regular file", name);
    }
    mat_walk w = {.path = name, .file = file, .file_size = (uint64_t)info.st_size};
    unsigned char header[MAT_HEADER_SIZE];
    size_t got = fread(header, 1, sizeof header, file);
    bpnn_status status = BPNN_OK;
    if (got >= 2 && header[0] == 0x1f && header[1] == 0x8b) {
        status = bpnn_fail(BPNN_ERR_INVALID,
                           "gzip-compressed MAT file: %s: matio reads plain .mat files; gunzip it "
                           "first",
                           name);
    } else if (!data_is_mat(header, got)) {
        status = bpnn_fail(BPNN_ERR_INVALID,
                           "not a MAT file: %s: no \"MATLAB 5.0 MAT-file\" or \"MATLAB 7.3 "
                           "MAT-file\" header (MAT v4 files are not read: save with -v7)",
                           name);
    } else if (got < sizeof header) {
        status =
            bpnn_fail(BPNN_ERR_INVALID,
                      "truncated MAT file: %s: the header ends after %zu of 128 bytes", name, got);
    } else {
        int little = header[126] == 'I' && header[127] == 'M';
        int big = header[126] == 'M' && header[127] == 'I';
        if (!little && !big) {
            status = bpnn_fail(BPNN_ERR_INVALID,
                               "not a MAT file: %s: bytes 126-127 are not the endian indicator "
                               "\"IM\" or \"MI\"",
                               name);
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
                                   version, name);
            } else {
                mat_cursor c = {.walk = &w, .pos = MAT_HEADER_SIZE};
                status = walk_elements(&c, w.file_size);
            }
        }
    }
    fclose(file);
    return status;
}

bpnn_status data_check_mat(const char *path)
{
    return check_mat(path, path);
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

/* data_load_mat on the file at `open_path`, named `path` in messages. */
static bpnn_status load_mat(const char *open_path, const char *path,
                            const bpnn_load_options *options, bpnn_dataset *out)
{
    memset(out, 0, sizeof *out);
    bpnn_load_options opt = data_options(options);
    const char *x_name = opt.mat_x ? opt.mat_x : "X", *y_name = opt.mat_y ? opt.mat_y : "y";
    call_once(&matio_log_once, matio_log_install);
    BPNN_TRY(check_mat(open_path, path));

    matio_log_clear();
    mat_t *mat = Mat_Open(open_path, MAT_ACC_RDONLY);
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
    /* matio reads a variable whole: a share is cut from it. */
    if (status == BPNN_OK && opt.share_count > 1)
        status = data_keep_share(out, opt.share_index, opt.share_count, path);
    Mat_VarFree(x);
    Mat_VarFree(y);
    Mat_Close(mat);
    if (status != BPNN_OK)
        bpnn_dataset_free(out);
    return status;
}

bpnn_status data_load_mat(const char *path, const bpnn_load_options *options, bpnn_dataset *out)
{
    return load_mat(path, path, options, out);
}

/* Copies what is left of `source` (its head included) into an unnamed
 * temporary file, which matio can seek in as it cannot in a pipe. */
static bpnn_status buffer_in_file(data_source *source, FILE **out)
{
    *out = NULL;
    FILE *file = tmpfile();
    if (!file)
        return bpnn_fail(BPNN_ERR_RUNTIME, "cannot buffer MAT data from %s: temporary file: %s",
                         source->name, strerror(errno));
    unsigned char *chunk = malloc(MAT_CHUNK);
    bpnn_status status = chunk ? BPNN_OK : bpnn_fail_oom("buffering MAT data");
    for (size_t got = MAT_CHUNK; status == BPNN_OK && got == MAT_CHUNK;) {
        status = data_source_read(source, chunk, MAT_CHUNK, &got);
        if (status == BPNN_OK && fwrite(chunk, 1, got, file) != got)
            status =
                bpnn_fail(BPNN_ERR_RUNTIME, "cannot buffer MAT data from %s: temporary file: %s",
                          source->name, strerror(errno));
    }
    free(chunk);
    if (status == BPNN_OK && fflush(file) != 0)
        status = bpnn_fail(BPNN_ERR_RUNTIME, "cannot buffer MAT data from %s: temporary file: %s",
                           source->name, strerror(errno));
    if (status != BPNN_OK) {
        fclose(file);
        return status;
    }
    *out = file;
    return BPNN_OK;
}

bpnn_status data_load_mat_source(data_source *source, const bpnn_load_options *options,
                                 bpnn_dataset *out)
{
    memset(out, 0, sizeof *out);
    if (source->compressed)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "gzip-compressed MAT file: %s: matio reads plain .mat files; gunzip it "
                         "first",
                         source->name);
    /* A regular file is read by matio through its path; a pipe, a FIFO or
     * standard input, read once, through a copy. */
    if (source->regular && strcmp(source->path, "-") != 0)
        return load_mat(source->path, source->name, options, out);
    FILE *copy;
    BPNN_TRY(buffer_in_file(source, &copy));
    char copy_path[64];
    snprintf(copy_path, sizeof copy_path, "/proc/self/fd/%d", fileno(copy));
    bpnn_status status = load_mat(copy_path, source->name, options, out);
    fclose(copy);
    return status;
}

int bpnn_is_mat_file(const char *path)
{
    return path && data_path_is_mat(path);
}
