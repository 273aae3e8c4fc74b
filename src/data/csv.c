/* csv.c — delimited data (comma, semicolon or tab; guessed from the first
 * line unless given), one sample a line, `#` comment lines, read in large
 * blocks and parsed in place. Numbers are read in the C locale whatever the
 * program's. */
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "util/error.h"

enum { CSV_BLOCK = 1 << 20, CSV_FIRST_BYTES = 1 << 24 };

/* ---- lines ------------------------------------------------------------------ */

typedef struct line_reader {
    data_source *source;
    char *buffer;
    size_t capacity, start, end; /* unread bytes are buffer[start, end) */
    int at_eof;
    size_t line; /* 1-based number of the line last returned */
} line_reader;

/* The next line without its "\n" or "\r\n", NUL-terminated in the buffer
 * (and writable until the next call); *have = 0 at the end of the file. */
static bpnn_status next_line(line_reader *r, char **line, size_t *length, int *have)
{
    for (;;) {
        char *begin = r->buffer + r->start;
        char *newline = memchr(begin, '\n', r->end - r->start);
        if (newline || (r->at_eof && r->start < r->end)) {
            char *end = newline ? newline : r->buffer + r->end;
            r->start = (size_t)(end - r->buffer) + (newline ? 1 : 0);
            if (end > begin && end[-1] == '\r')
                end--;
            *end = '\0';
            *line = begin;
            *length = (size_t)(end - begin);
            *have = 1;
            r->line++;
            return BPNN_OK;
        }
        if (r->at_eof) {
            *have = 0;
            return BPNN_OK;
        }
        /* The partial line moves to the front; the buffer doubles when one
         * line fills it; one byte stays free for the terminating NUL. */
        memmove(r->buffer, begin, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
        if (r->capacity - r->end - 1 == 0) {
            if (r->capacity > SIZE_MAX / 2)
                return bpnn_fail_oom("a CSV line");
            char *bigger = realloc(r->buffer, r->capacity * 2);
            if (!bigger)
                return bpnn_fail_oom("a CSV line");
            r->buffer = bigger;
            r->capacity *= 2;
        }
        size_t want = r->capacity - r->end - 1, got = 0;
        BPNN_TRY(data_source_read(r->source, r->buffer + r->end, want, &got));
        r->end += got;
        if (got < want)
            r->at_eof = 1;
    }
}

static int is_blank(const char *line, size_t length)
{
    for (size_t i = 0; i < length; i++)
        if (line[i] != ' ' && line[i] != '\t')
            return 0;
    return 1;
}

/* A line whose first non-blank character is '#'. */
static int is_comment(const char *line, size_t length)
{
    size_t i = 0;
    while (i < length && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return i < length && line[i] == '#';
}

/* The first byte that no text file holds (a control character other than
 * tab and carriage return), or NULL. */
static const char *binary_byte(const char *line, size_t length)
{
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7F)
            return line + i;
    }
    return NULL;
}

/* ---- fields and numbers ------------------------------------------------------- */

typedef struct field {
    char *begin, *end; /* the text without surrounding blanks and quotes */
} field;

/* Blanks around a field: spaces, and tabs unless they separate fields. */
static int is_field_blank(char c, char delimiter)
{
    return c == ' ' || (c == '\t' && delimiter != '\t');
}

/* Splits off the field at p (the line ends at e); returns where the next one
 * starts, or NULL after the last. */
static char *next_field(char *p, char *e, char delimiter, field *f)
{
    while (p < e && is_field_blank(*p, delimiter))
        p++;
    if (p < e && *p == '"') {
        char *quote = p + 1;
        for (;;) {
            quote = memchr(quote, '"', (size_t)(e - quote));
            if (!quote || quote + 1 >= e || quote[1] != '"')
                break;
            quote += 2; /* "" is a quote inside the field */
        }
        char *after = quote ? quote + 1 : e;
        while (after < e && is_field_blank(*after, delimiter))
            after++;
        if (quote && (after == e || *after == delimiter)) {
            f->begin = p + 1;
            f->end = quote;
            return after < e ? after + 1 : NULL;
        }
        /* Unterminated or followed by text: the raw field, which is no number. */
    }
    char *stop = memchr(p, delimiter, (size_t)(e - p));
    char *end = stop ? stop : e;
    f->begin = p;
    while (end > p && is_field_blank(end[-1], delimiter))
        end--;
    f->end = end;
    return stop ? stop + 1 : NULL;
}

static size_t count_fields(char *line, size_t length, char delimiter)
{
    size_t count = 0;
    field f;
    char *p = line;
    do {
        p = next_field(p, line + length, delimiter, &f);
        count++;
    } while (p);
    return count;
}

/* The delimiter of a file whose first line is `line`: the most frequent of
 * comma, semicolon and tab outside quotes, a comma on a tie or when there
 * is none (a single column). */
static char guess_delimiter(const char *line, size_t length)
{
    static const char candidates[3] = {',', ';', '\t'};
    size_t counts[3] = {0, 0, 0};
    int quoted = 0;
    for (size_t i = 0; i < length; i++) {
        if (line[i] == '"')
            quoted = !quoted;
        for (int k = 0; k < 3 && !quoted; k++)
            counts[k] += line[i] == candidates[k];
    }
    int best = 0;
    for (int k = 1; k < 3; k++)
        if (counts[k] > counts[best])
            best = k;
    return candidates[best];
}

typedef enum cell_kind { CELL_NUMBER, CELL_TEXT, CELL_NONFINITE } cell_kind;

/* Reads [b, e) as a number. Plain decimals of up to 15 digits are converted
 * here, exactly as strtod would (an integer below 2^53 divided by an exact
 * power of ten is one correctly rounded operation); the rest go to strtod. */
static cell_kind parse_number(char *b, char *e, double *out)
{
    static const double exact_power_of_ten[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                                  1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    if (b == e)
        return CELL_TEXT;
    const char *p = b;
    int negative = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    uint64_t mantissa = 0;
    int digits = 0, fraction_digits = 0;
    for (; p < e && (unsigned)(*p - '0') < 10; p++, digits++)
        mantissa = mantissa * 10 + (uint64_t)(*p - '0');
    if (p < e && *p == '.')
        for (p++; p < e && (unsigned)(*p - '0') < 10; p++, digits++, fraction_digits++)
            mantissa = mantissa * 10 + (uint64_t)(*p - '0');
    if (p == e && digits > 0 && digits <= 15) {
        double value = (double)mantissa / exact_power_of_ten[fraction_digits];
        *out = negative ? -value : value;
        return CELL_NUMBER;
    }
    char saved = *e;
    *e = '\0';
    char *stop;
    double value = strtod(b, &stop);
    *e = saved;
    if (stop != e)
        return CELL_TEXT;
    *out = value;
    return isfinite(value) ? CELL_NUMBER : CELL_NONFINITE;
}

/* The cell as it can be shown in a one-line message. */
static const char *cell_text(const field *f, char *shown, size_t size)
{
    size_t n = 0;
    for (const char *c = f->begin; c < f->end && n + 4 < size; c++)
        shown[n++] = (*c >= 0x20 && *c < 0x7f) ? *c : '?';
    if (n + 4 >= size && f->begin + n < f->end) {
        memcpy(shown + n, "...", 3);
        n += 3;
    }
    shown[n] = '\0';
    return shown;
}

/* ---- rows ------------------------------------------------------------------- */

typedef struct csv_table {
    const char *path;
    char delimiter;
    size_t columns;
    size_t label_index; /* == columns when there is no label column */
    size_t features;
    int label_offset;
    size_t most_rows; /* what the rest of the file can hold at most */
    double *x;
    int32_t *labels;
    size_t rows, capacity;
    /* Of the data rows seen, those in [keep_first, keep_last) are parsed and
     * kept; `counting` keeps none (a share's first pass). */
    size_t seen, keep_first, keep_last;
    int counting;
} csv_table;

static bpnn_status grow(csv_table *t)
{
    /* Start with about CSV_FIRST_BYTES of rows (no more than the file can
     * hold), then double. */
    size_t first = CSV_FIRST_BYTES / sizeof(double) / t->features;
    if (first > t->most_rows)
        first = t->most_rows;
    size_t capacity = t->capacity ? t->capacity * 2 : first ? first : 1;
    if (t->capacity > SIZE_MAX / 2)
        return bpnn_fail_oom("CSV rows");
    if (capacity > SIZE_MAX / sizeof(double) / t->features)
        return bpnn_fail_oom("CSV rows");
    double *x = realloc(t->x, capacity * t->features * sizeof *x);
    if (!x)
        return bpnn_fail_oom("CSV rows");
    t->x = x;
    if (t->label_index < t->columns) {
        int32_t *labels = realloc(t->labels, capacity * sizeof *labels);
        if (!labels)
            return bpnn_fail_oom("CSV labels");
        t->labels = labels;
    }
    t->capacity = capacity;
    return BPNN_OK;
}

static bpnn_status ragged(const csv_table *t, size_t line_no, size_t columns)
{
    return bpnn_fail(BPNN_ERR_INVALID, "ragged CSV row: %s:%zu: %zu column%s, expected %zu",
                     t->path, line_no, columns, columns == 1 ? "" : "s", t->columns);
}

/* A cell that is no good: the row's shape is reported first when it is wrong. */
static bpnn_status bad_cell(const csv_table *t, char *line, size_t length, size_t line_no,
                            size_t column, const field *f, cell_kind kind, const char *what)
{
    size_t columns = count_fields(line, length, t->delimiter);
    if (columns != t->columns)
        return ragged(t, line_no, columns);
    char shown[48];
    if (!what)
        what = kind == CELL_NONFINITE ? "non-finite value" : "non-numeric cell";
    return bpnn_fail(BPNN_ERR_INVALID, "%s: %s:%zu:%zu: \"%s\"", what, t->path, line_no, column,
                     cell_text(f, shown, sizeof shown));
}

static bpnn_status parse_row(csv_table *t, char *line, size_t length, size_t line_no)
{
    const char *binary = binary_byte(line, length);
    if (binary)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "binary content in CSV data: %s:%zu: byte 0x%02X at column %zu of the "
                         "line",
                         t->path, line_no, (unsigned char)*binary, (size_t)(binary - line) + 1);
    if (t->rows == t->capacity)
        BPNN_TRY(grow(t));
    double *row = t->x + t->rows * t->features;
    char *e = line + length, *p = line;
    size_t column = 0;
    field f;
    do {
        p = next_field(p, e, t->delimiter, &f);
        if (column >= t->columns) {
            column++;
            continue;
        }
        double value;
        cell_kind kind = parse_number(f.begin, f.end, &value);
        if (kind != CELL_NUMBER)
            return bad_cell(t, line, length, line_no, column + 1, &f, kind,
                            column == t->label_index && kind == CELL_TEXT ? "non-numeric label"
                                                                          : NULL);
        if (column == t->label_index) {
            if (value != floor(value))
                return bad_cell(t, line, length, line_no, column + 1, &f, kind,
                                "non-integral label");
            if (value < INT32_MIN || value > INT32_MAX)
                return bad_cell(t, line, length, line_no, column + 1, &f, kind,
                                "label out of range");
            long long cls = (long long)value - t->label_offset;
            if (cls < 0 || cls > INT32_MAX) {
                size_t columns = count_fields(line, length, t->delimiter);
                if (columns != t->columns)
                    return ragged(t, line_no, columns);
                return bpnn_fail(
                    BPNN_ERR_INVALID,
                    "%s class: %s:%zu:%zu: label %lld minus the label offset %d is %lld",
                    cls < 0 ? "negative" : "too large a", t->path, line_no, column + 1,
                    (long long)value, t->label_offset, cls);
            }
            t->labels[t->rows] = (int32_t)cls;
        } else {
            *row++ = value;
        }
        column++;
    } while (p);
    if (column != t->columns)
        return ragged(t, line_no, column);
    t->rows++;
    return BPNN_OK;
}

/* Auto-detection: a header is a first row with no numeric cell. */
static int is_header(char *line, size_t length, char delimiter)
{
    char *p = line;
    field f;
    do {
        p = next_field(p, line + length, delimiter, &f);
        double value;
        if (parse_number(f.begin, f.end, &value) != CELL_TEXT)
            return 0;
    } while (p);
    return 1;
}

/* Refuses what is no text: a file of random bytes is named as such, not
 * parsed into a puzzling shape. */
static bpnn_status check_text(const csv_table *t, const char *line, size_t length, size_t line_no)
{
    const char *binary = binary_byte(line, length);
    if (!binary)
        return BPNN_OK;
    if (line_no == 1 && length >= 2 &&
        ((line[0] == '\xFF' && line[1] == '\xFE') || (line[0] == '\xFE' && line[1] == '\xFF')))
        return bpnn_fail(BPNN_ERR_INVALID, "not a CSV file: %s: UTF-16 text; save it as UTF-8",
                         t->path);
    return bpnn_fail(BPNN_ERR_INVALID,
                     "not a CSV file: %s: binary content (byte 0x%02X on line %zu)", t->path,
                     (unsigned char)*binary, line_no);
}

/* Sets the delimiter and the shape from the first row (header or data);
 * `unread` is what the reader holds beyond this line. */
static bpnn_status set_shape(csv_table *t, const bpnn_load_options *opt, char *line, size_t length,
                             size_t line_no, uint64_t unread)
{
    t->delimiter = opt->delimiter ? opt->delimiter : guess_delimiter(line, length);
    t->columns = count_fields(line, length, t->delimiter);
    t->label_index = t->columns;
    if (opt->has_labels) {
        if (opt->label_col >= 0 && (size_t)opt->label_col >= t->columns)
            return bpnn_fail(BPNN_ERR_INVALID,
                             "label column out of range: %s:%zu: column %d (0-based), the row has "
                             "%zu columns",
                             t->path, line_no, opt->label_col, t->columns);
        t->label_index = opt->label_col < 0 ? t->columns - 1 : (size_t)opt->label_col;
        if (t->columns < 2)
            return bpnn_fail(BPNN_ERR_INVALID,
                             "no feature columns in CSV: %s:%zu: the row has only the label column",
                             t->path, line_no);
    }
    t->features = t->columns - (opt->has_labels ? 1 : 0);
    /* Every cell of a row holds at least one character, and the cells are
     * separated: a row takes at least 2 * columns - 1 bytes. */
    uint64_t most = unread / (2 * (uint64_t)t->columns - 1) + 1;
    t->most_rows = most > SIZE_MAX ? SIZE_MAX : (size_t)most;
    return BPNN_OK;
}

static bpnn_status load_csv(line_reader *r, const bpnn_load_options *opt, csv_table *t)
{
    size_t header_line = 0, first_blank = 0;
    int shaped = 0, have = 0;
    char *line = NULL;
    size_t length = 0;
    while (opt->limit == 0 || t->seen < opt->limit) {
        BPNN_TRY(next_line(r, &line, &length, &have));
        if (!have)
            break;
        if (r->line == 1 && length >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            line += 3; /* a UTF-8 byte order mark, as spreadsheets write */
            length -= 3;
        }
        if (!shaped)
            BPNN_TRY(check_text(t, line, length, r->line));
        if (is_comment(line, length))
            continue;
        if (is_blank(line, length)) {
            if (!first_blank)
                first_blank = r->line;
            continue;
        }
        if (first_blank)
            return bpnn_fail(
                BPNN_ERR_INVALID,
                "blank line in CSV data: %s:%zu: only trailing blank lines are allowed", t->path,
                first_blank);
        if (!shaped) {
            uint64_t bound = data_source_bound(r->source);
            uint64_t unread = bound == UINT64_MAX ? UINT64_MAX : bound + (r->end - r->start);
            BPNN_TRY(set_shape(t, opt, line, length, r->line, unread));
            shaped = 1;
            if (opt->header == BPNN_HEADER_YES ||
                (opt->header == BPNN_HEADER_AUTO && is_header(line, length, t->delimiter))) {
                header_line = r->line;
                continue;
            }
        }
        if (t->seen >= t->keep_last)
            break; /* the rest is other participants' */
        if (!t->counting && t->seen >= t->keep_first)
            BPNN_TRY(parse_row(t, line, length, r->line));
        t->seen++;
    }
    if (!shaped)
        return bpnn_fail(BPNN_ERR_INVALID, "empty CSV file: %s", t->path);
    if (t->keep_last != SIZE_MAX)
        return BPNN_OK; /* a share's second pass: the first checked the whole */
    if (t->seen == 0)
        return bpnn_fail(BPNN_ERR_INVALID, "no data rows in CSV file: %s: only a header (line %zu)",
                         t->path, header_line);
    if (opt->limit > t->seen)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "limit exceeds the data: %s: %zu rows requested, the file holds %zu",
                         t->path, opt->limit, t->seen);
    return BPNN_OK;
}

/* Reads the rows of `source` that `t` (its keep range or counting set)
 * asks for. */
static bpnn_status read_table(data_source *source, const bpnn_load_options *opt, csv_table *t)
{
    t->path = source->name;
    t->label_offset = opt->label_offset;
    /* The buffer need not be larger than the file (+ 2: EOF seen, and the
     * terminating NUL). */
    uint64_t bound = data_source_bound(source);
    size_t capacity = 2 * CSV_BLOCK;
    if (bound < capacity - 2)
        capacity = (size_t)bound + 2;
    line_reader reader = {.source = source, .capacity = capacity};
    reader.buffer = malloc(reader.capacity);
    locale_t c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    bpnn_status status;
    if (!reader.buffer || !c_locale) {
        status = bpnn_fail_oom("reading CSV");
    } else {
        /* strtod follows the thread's locale: "0.5" must not depend on LANG. */
        locale_t previous = uselocale(c_locale);
        status = load_csv(&reader, opt, t);
        uselocale(previous);
    }
    if (c_locale)
        freelocale(c_locale);
    free(reader.buffer);
    if (status != BPNN_OK) {
        free(t->x);
        free(t->labels);
        t->x = NULL;
        t->labels = NULL;
    }
    return status;
}

/* A share: the rows counted first, then the file opened again and the
 * share's rows parsed (the rest of the file is not read). */
static bpnn_status read_share(data_source *source, const bpnn_load_options *opt, csv_table *table)
{
    if (!source->regular)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "cannot share CSV data read from a pipe: %s: each participant reads the "
                         "file for its share; name a file",
                         source->name);
    csv_table count = {.counting = 1, .keep_last = SIZE_MAX};
    BPNN_TRY(read_table(source, opt, &count));
    BPNN_TRY(data_share_range(count.seen, opt->share_index, opt->share_count, source->name,
                              &table->keep_first, &table->keep_last));
    data_source again;
    BPNN_TRY(data_source_open(source->path, "CSV data", &again));
    bpnn_status status = read_table(&again, opt, table);
    data_source_close(&again);
    table->seen = count.seen;
    return status;
}

bpnn_status data_load_csv_source(data_source *source, const bpnn_load_options *options,
                                 bpnn_dataset *out)
{
    memset(out, 0, sizeof *out);
    bpnn_load_options opt = data_options(options);
    if (opt.has_labels && opt.label_col < -1)
        return bpnn_fail(BPNN_ERR_INVALID,
                         "bad label column %d: %s: 0-based, or -1 for the last column",
                         opt.label_col, source->name);
    if (opt.delimiter && opt.delimiter != ',' && opt.delimiter != ';' && opt.delimiter != '\t')
        return bpnn_fail(BPNN_ERR_INVALID,
                         "bad CSV delimiter 0x%02X: %s: a comma, a semicolon, a tab, or 0 to "
                         "guess it from the first line",
                         (unsigned char)opt.delimiter, source->name);
    csv_table table = {.keep_last = SIZE_MAX};
    int shared = opt.share_count > 1;
    BPNN_TRY(shared ? read_share(source, &opt, &table) : read_table(source, &opt, &table));
    /* Give back what the doubling over-allocated. */
    double *x = realloc(table.x, table.rows * table.features * sizeof *x);
    out->x = x ? x : table.x;
    if (table.labels) {
        int32_t *labels = realloc(table.labels, table.rows * sizeof *labels);
        out->labels = labels ? labels : table.labels;
    }
    out->rows = table.rows;
    out->features = table.features;
    if (shared) {
        out->share_first = table.keep_first;
        out->share_of = table.seen;
    }
    return BPNN_OK;
}

bpnn_status bpnn_load_csv(const char *path, const bpnn_load_options *options, bpnn_dataset *out)
{
    memset(out, 0, sizeof *out);
    data_source source;
    BPNN_TRY(data_source_open(path, "CSV data", &source));
    bpnn_status status = data_load_csv_source(&source, options, out);
    data_source_close(&source);
    return status;
}
