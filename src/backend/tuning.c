/* tuning.c — GEMM tuning files: the folder, the file of a device, reading
 * and writing them (tuning.h), and the public functions of bpnn.h "GEMM
 * tuning", which hand the OpenCL side to opencl/tuning.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/backend.h"
#include "backend/tuning.h"
#include "bpnn_config.h"
#include "util/error.h"

#if BPNN_WITH_OPENCL
#include "backend/opencl/opencl_backend.h"
#endif

#define FORMAT_LINE "bpnn-cl-tuning"
#define FORMAT_VERSION 1
/* Far more than a file of ours holds (about 2 KiB): anything longer is not one. */
#define MAX_FILE_BYTES 65536
#define FIX_HINT "run bpnn-cl tune again, or delete the file"

static const char *const known_kernels[] = {
    "Xgemm", "XgemmDirect", "Copy", "Pad", "Transpose", "Padtranspose", "GemmRoutine", "Xaxpy",
};

/* ---- the folder and the file name ------------------------------------------ */

bpnn_status tuning_dir(char *out, size_t size)
{
    const char *dir = getenv("BPNN_TUNING_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (dir && dir[0])
        n = snprintf(out, size, "%s", dir);
    else if (xdg && xdg[0] == '/') /* XDG: a relative value is to be ignored */
        n = snprintf(out, size, "%s/bpnn-cl/tuning", xdg);
    else if (home && home[0])
        n = snprintf(out, size, "%s/.cache/bpnn-cl/tuning", home);
    else
        return bpnn_fail(BPNN_ERR_INVALID,
                         "no folder for GEMM tuning files: none of BPNN_TUNING_DIR, "
                         "XDG_CACHE_HOME and HOME is set: set BPNN_TUNING_DIR");
    if (n < 0 || (size_t)n >= size)
        return bpnn_fail(BPNN_ERR_INVALID, "GEMM tuning folder name too long: %.200s...", out);
    return BPNN_OK;
}

/* `text` trimmed, its control characters made spaces, into out. */
static void normalize(const char *text, char *out, size_t size)
{
    if (!text)
        text = "";
    while (*text == ' ' || *text == '\t')
        text++;
    size_t n = 0;
    for (; *text && n + 1 < size; text++)
        out[n++] = ((unsigned char)*text < 0x20 || *text == 0x7f) ? ' ' : *text;
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

/* Lower-case letters and digits, other runs as one dash, at most `limit`
 * characters; `fallback` when nothing is left. */
static void slug(const char *text, size_t limit, const char *fallback, char *out)
{
    size_t n = 0;
    int dash = 0;
    for (; *text && n < limit; text++) {
        char c = *text;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (dash && n > 0 && n + 1 < limit)
                out[n++] = '-';
            out[n++] = c;
            dash = 0;
        } else
            dash = 1;
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, limit + 1, "%s", fallback);
}

/* FNV-1a, 32 bits, over the normalized strings, each ended by a newline. */
static uint32_t identity_hash(const tuning_identity *id)
{
    const char *parts[] = {id->platform, id->vendor, id->name, id->driver};
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < 4; i++) {
        char text[512];
        normalize(parts[i], text, sizeof text);
        for (const char *c = text; *c; c++)
            h = (h ^ (unsigned char)*c) * 16777619u;
        h = (h ^ '\n') * 16777619u;
    }
    return h;
}

bpnn_status tuning_file_path(const tuning_identity *id, bpnn_precision precision, char *out,
                             size_t size)
{
    char dir[4096], name[512], driver[512], name_slug[48 + 1], driver_slug[24 + 1];
    BPNN_TRY(tuning_dir(dir, sizeof dir));
    normalize(id->name, name, sizeof name);
    normalize(id->driver, driver, sizeof driver);
    slug(name, 48, "device", name_slug);
    slug(driver, 24, "driver", driver_slug);
    int n = snprintf(out, size, "%s/%s_%s_%08x_%s.tuning", dir, name_slug, driver_slug,
                     (unsigned)identity_hash(id), bpnn_precision_name(precision));
    if (n < 0 || (size_t)n >= size)
        return bpnn_fail(BPNN_ERR_INVALID, "GEMM tuning file name too long: in %.200s", dir);
    return BPNN_OK;
}

bpnn_status tuning_disabled(int *disabled)
{
    const char *value = getenv("BPNN_TUNING");
    *disabled = 0;
    if (!value || !value[0] || strcmp(value, "on") == 0 || strcmp(value, "1") == 0)
        return BPNN_OK;
    if (strcmp(value, "off") == 0 || strcmp(value, "0") == 0) {
        *disabled = 1;
        return BPNN_OK;
    }
    return bpnn_fail(BPNN_ERR_INVALID,
                     "invalid BPNN_TUNING=%.100s: expected off (CLBlast's own GEMM parameters) or "
                     "on (the tuning file's, the default)",
                     value);
}

/* ---- checking ------------------------------------------------------------------ */

static int known_kernel(const char *name)
{
    for (size_t i = 0; i < sizeof known_kernels / sizeof *known_kernels; i++)
        if (strcmp(name, known_kernels[i]) == 0)
            return 1;
    return 0;
}

static int parameter_name_ok(const char *name)
{
    if (!(name[0] >= 'A' && name[0] <= 'Z'))
        return 0;
    size_t n = 0;
    for (; name[n]; n++)
        if (!((name[n] >= 'A' && name[n] <= 'Z') || (name[n] >= '0' && name[n] <= '9') ||
              name[n] == '_'))
            return 0;
    return n < 32;
}

/* Why `t` is not well formed, into why; 0 when it is. */
static int tuning_problem(const bpnn_tuning *t, char *why, size_t size)
{
    if (t->count < 1 || t->count > BPNN_TUNING_MAX_KERNELS) {
        snprintf(why, size, "%d kernels (1 to %d)", t->count, BPNN_TUNING_MAX_KERNELS);
        return 1;
    }
    for (int i = 0; i < t->count; i++) {
        const bpnn_tuning_kernel *k = &t->kernel[i];
        if (!memchr(k->name, '\0', sizeof k->name) || !known_kernel(k->name)) {
            snprintf(why, size,
                     "unknown CLBlast kernel '%.31s' (known: Xgemm, XgemmDirect, Copy, "
                     "Pad, Transpose, Padtranspose, GemmRoutine, Xaxpy)",
                     k->name);
            return 1;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(t->kernel[j].name, k->name) == 0) {
                snprintf(why, size, "kernel %s twice", k->name);
                return 1;
            }
        if (k->count < 1 || k->count > BPNN_TUNING_MAX_PARAMETERS) {
            snprintf(why, size, "kernel %s with %d parameters (1 to %d)", k->name, k->count,
                     BPNN_TUNING_MAX_PARAMETERS);
            return 1;
        }
        for (int p = 0; p < k->count; p++) {
            if (!memchr(k->parameter[p], '\0', sizeof k->parameter[p]) ||
                !parameter_name_ok(k->parameter[p])) {
                snprintf(why, size, "kernel %s: parameter name '%.31s' (A-Z, 0-9 and _)", k->name,
                         k->parameter[p]);
                return 1;
            }
            for (int q = 0; q < p; q++)
                if (strcmp(k->parameter[q], k->parameter[p]) == 0) {
                    snprintf(why, size, "kernel %s: parameter %s twice", k->name, k->parameter[p]);
                    return 1;
                }
        }
    }
    return 0;
}

bpnn_status tuning_check(const bpnn_tuning *t)
{
    char why[256];
    if (tuning_problem(t, why, sizeof why))
        return bpnn_fail(BPNN_ERR_INVALID, "invalid GEMM tuning: %s", why);
    return BPNN_OK;
}

/* ---- reading ------------------------------------------------------------------- */

typedef struct parse_state {
    const char *path;
    int line;
    char platform[512], vendor[512], name[512], driver[512];
    int seen_format, seen_platform, seen_vendor, seen_name, seen_driver, seen_precision, seen_note;
    bpnn_precision precision;
} parse_state;

static bpnn_status malformed(const parse_state *s, const char *what)
{
    return bpnn_fail(BPNN_ERR_INVALID, "malformed GEMM tuning file: %s: line %d: %s: " FIX_HINT,
                     s->path, s->line, what);
}

/* "NAME=VALUE NAME=VALUE ..." after "kernel KERNEL ". */
static bpnn_status parse_kernel(parse_state *s, char *rest, bpnn_tuning *t)
{
    char *space = strchr(rest, ' ');
    if (!space)
        return malformed(s, "a kernel line without parameters");
    *space = '\0';
    if (!known_kernel(rest)) {
        char what[160];
        snprintf(what, sizeof what, "unknown CLBlast kernel '%.60s'", rest);
        return malformed(s, what);
    }
    for (int i = 0; i < t->count; i++)
        if (strcmp(t->kernel[i].name, rest) == 0)
            return malformed(s, "the same kernel twice");
    if (t->count == BPNN_TUNING_MAX_KERNELS)
        return malformed(s, "too many kernels");
    bpnn_tuning_kernel *k = &t->kernel[t->count];
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "%.31s", rest);
    char *save = NULL;
    for (char *item = strtok_r(space + 1, " ", &save); item; item = strtok_r(NULL, " ", &save)) {
        char *equals = strchr(item, '=');
        if (!equals || equals == item || !equals[1])
            return malformed(s, "a parameter not written NAME=VALUE");
        *equals = '\0';
        if (!parameter_name_ok(item))
            return malformed(s, "a parameter name other than A-Z, 0-9 and _");
        const char *digits = equals + 1;
        size_t value = 0;
        for (const char *d = digits; *d; d++) {
            if (*d < '0' || *d > '9')
                return malformed(s, "a parameter value that is not a whole number");
            if (value > (SIZE_MAX - 9) / 10 || d - digits > 12)
                return malformed(s, "a parameter value too large");
            value = value * 10 + (size_t)(*d - '0');
        }
        for (int q = 0; q < k->count; q++)
            if (strcmp(k->parameter[q], item) == 0)
                return malformed(s, "the same parameter twice");
        if (k->count == BPNN_TUNING_MAX_PARAMETERS)
            return malformed(s, "too many parameters for one kernel");
        snprintf(k->parameter[k->count], sizeof k->parameter[k->count], "%.31s", item);
        k->value[k->count++] = value;
    }
    if (k->count == 0)
        return malformed(s, "a kernel line without parameters");
    t->count++;
    return BPNN_OK;
}

static bpnn_status parse_line(parse_state *s, char *line, bpnn_tuning *t)
{
    const char *start = line;
    while (*start == ' ' || *start == '\t')
        start++;
    if (*start == '\0' || *start == '#')
        return BPNN_OK;
    char *space = strchr(line, ' ');
    const char *rest = space ? space + 1 : "";
    if (space)
        *space = '\0';
    if (!s->seen_format) {
        if (strcmp(line, "format") != 0 || strncmp(rest, FORMAT_LINE " ", 15) != 0)
            return malformed(s, "not a bpnn-cl tuning file (its first line is not \"format "
                                "bpnn-cl-tuning 1\")");
        char *end;
        long version = strtol(rest + 15, &end, 10);
        if (*end != '\0' || version < 1)
            return malformed(s, "an unreadable format version");
        if (version > FORMAT_VERSION)
            return bpnn_fail(BPNN_ERR_INVALID,
                             "GEMM tuning file from a newer bpnn-cl: %s: format %ld, this "
                             "bpnn-cl reads format %d: " FIX_HINT,
                             s->path, version, FORMAT_VERSION);
        s->seen_format = 1;
        return BPNN_OK;
    }
    struct {
        const char *key;
        char *value;
        int *seen;
    } texts[] = {{"platform", s->platform, &s->seen_platform},
                 {"vendor", s->vendor, &s->seen_vendor},
                 {"device", s->name, &s->seen_name},
                 {"driver", s->driver, &s->seen_driver},
                 {"note", t->note, &s->seen_note}};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        if (strcmp(line, texts[i].key) != 0)
            continue;
        if (*texts[i].seen)
            return malformed(s, "the same item twice");
        *texts[i].seen = 1;
        normalize(rest, texts[i].value, i == 4 ? sizeof t->note : sizeof s->platform);
        return BPNN_OK;
    }
    if (strcmp(line, "precision") == 0) {
        if (s->seen_precision)
            return malformed(s, "the same item twice");
        if (strcmp(rest, "f32") != 0 && strcmp(rest, "f64") != 0)
            return malformed(s, "a precision other than f32 and f64");
        s->seen_precision = 1;
        s->precision = strcmp(rest, "f64") == 0 ? BPNN_F64 : BPNN_F32;
        return BPNN_OK;
    }
    if (strcmp(line, "kernel") == 0) {
        char copy[4096];
        snprintf(copy, sizeof copy, "%s", rest);
        return parse_kernel(s, copy, t);
    }
    char what[160];
    snprintf(what, sizeof what, "unknown item '%.60s'", line);
    return malformed(s, what);
}

/* The whole file (at most MAX_FILE_BYTES) into a NUL-ended buffer. */
static bpnn_status read_whole(const char *path, char **out, int *missing)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) {
            *missing = 1;
            return BPNN_OK;
        }
        return bpnn_fail(BPNN_ERR_INVALID, "cannot open GEMM tuning file: %s: %s", path,
                         strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && !S_ISREG(st.st_mode)) {
        fclose(f);
        return bpnn_fail(BPNN_ERR_INVALID, "GEMM tuning file is not a regular file: %s", path);
    }
    char *text = malloc(MAX_FILE_BYTES + 2);
    if (!text) {
        fclose(f);
        return bpnn_fail_oom("GEMM tuning file");
    }
    size_t got = fread(text, 1, MAX_FILE_BYTES + 1, f);
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(text);
        return bpnn_fail(BPNN_ERR_RUNTIME, "cannot read GEMM tuning file: %s", path);
    }
    if (got > MAX_FILE_BYTES) {
        free(text);
        return bpnn_fail(BPNN_ERR_INVALID,
                         "malformed GEMM tuning file: %s: larger than %d bytes: " FIX_HINT, path,
                         MAX_FILE_BYTES);
    }
    if (memchr(text, '\0', got)) {
        free(text);
        return bpnn_fail(BPNN_ERR_INVALID,
                         "malformed GEMM tuning file: %s: binary content (a NUL byte): " FIX_HINT,
                         path);
    }
    text[got] = '\0';
    *out = text;
    return BPNN_OK;
}

static bpnn_status parse_text(parse_state *s, char *text, bpnn_tuning *out)
{
    for (char *line = text; line && *line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t length = strlen(line);
        if (length > 0 && line[length - 1] == '\r')
            line[--length] = '\0';
        s->line++;
        if (length >= 4000)
            return malformed(s, "a line longer than 4000 characters");
        BPNN_TRY(parse_line(s, line, out));
        line = next;
    }
    s->line++;
    if (!s->seen_format)
        return malformed(s, "no \"format bpnn-cl-tuning 1\" line (an empty file?)");
    const char *missing_item = !s->seen_platform    ? "no platform line"
                               : !s->seen_vendor    ? "no vendor line"
                               : !s->seen_name      ? "no device line"
                               : !s->seen_driver    ? "no driver line"
                               : !s->seen_precision ? "no precision line"
                               : out->count == 0    ? "no kernel line"
                                                    : NULL;
    if (missing_item)
        return malformed(s, missing_item);
    return BPNN_OK;
}

bpnn_status tuning_read(const char *path, const tuning_identity *id, bpnn_precision precision,
                        bpnn_tuning *out, int *missing)
{
    memset(out, 0, sizeof *out);
    *missing = 0;
    char *text;
    BPNN_TRY(read_whole(path, &text, missing));
    if (*missing)
        return BPNN_OK;
    parse_state s = {.path = path};
    bpnn_status status = parse_text(&s, text, out);
    free(text);
    if (status != BPNN_OK) {
        memset(out, 0, sizeof *out);
        return status;
    }
    char platform[512], vendor[512], name[512], driver[512];
    normalize(id->platform, platform, sizeof platform);
    normalize(id->vendor, vendor, sizeof vendor);
    normalize(id->name, name, sizeof name);
    normalize(id->driver, driver, sizeof driver);
    if (strcmp(platform, s.platform) != 0 || strcmp(vendor, s.vendor) != 0 ||
        strcmp(name, s.name) != 0 || strcmp(driver, s.driver) != 0)
        status = bpnn_fail(BPNN_ERR_INVALID,
                           "GEMM tuning file for another device or driver: %s: written for "
                           "'%.120s' (%.80s, driver %.60s), this is '%.120s' (%.80s, driver "
                           "%.60s): run bpnn-cl tune on this device",
                           path, s.name, s.platform, s.driver, name, platform, driver);
    else if (s.precision != precision)
        status = bpnn_fail(BPNN_ERR_INVALID,
                           "GEMM tuning file for another precision: %s: written for %s, the "
                           "device is open in %s",
                           path, bpnn_precision_name(s.precision), bpnn_precision_name(precision));
    if (status != BPNN_OK)
        memset(out, 0, sizeof *out);
    return status;
}

/* ---- writing ------------------------------------------------------------------- */

/* mkdir -p, each new folder 0777 less the umask. */
static bpnn_status make_folders(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return bpnn_fail(BPNN_ERR_INVALID, "cannot create the GEMM tuning folder: %s: %s", path,
                             strerror(errno));
        *p = saved;
        if (saved == '\0')
            return BPNN_OK;
    }
}

/* Appends to the text being built; 0 when it no longer fits. */
static int append(char *text, size_t size, size_t *used, const char *format, ...)
    __attribute__((format(printf, 4, 5)));
static int append(char *text, size_t size, size_t *used, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int n = vsnprintf(text + *used, size - *used, format, args);
    va_end(args);
    if (n < 0 || (size_t)n >= size - *used)
        return 0;
    *used += (size_t)n;
    return 1;
}

bpnn_status tuning_write(const char *path, const tuning_identity *id, bpnn_precision precision,
                         const bpnn_tuning *t, int create_folder)
{
    BPNN_TRY(tuning_check(t));
    char platform[512], vendor[512], name[512], driver[512], note[256];
    normalize(id->platform, platform, sizeof platform);
    normalize(id->vendor, vendor, sizeof vendor);
    normalize(id->name, name, sizeof name);
    normalize(id->driver, driver, sizeof driver);
    normalize(memchr(t->note, '\0', sizeof t->note) ? t->note : "", note, sizeof note);
    size_t size = 16384, used = 0;
    char *text = malloc(size);
    if (!text)
        return bpnn_fail_oom("GEMM tuning file");
    int fits = append(text, size, &used,
                      "# bpnn-cl GEMM tuning: CLBlast kernel parameters for one OpenCL device, "
                      "driver and precision,\n"
                      "# written by bpnn-cl tune. bpnn-cl applies them whenever it opens this "
                      "device in this\n"
                      "# precision; delete this file (or set BPNN_TUNING=off) for CLBlast's own "
                      "parameters.\n"
                      "format %s %d\nplatform %s\nvendor %s\ndevice %s\ndriver %s\nprecision %s\n",
                      FORMAT_LINE, FORMAT_VERSION, platform, vendor, name, driver,
                      bpnn_precision_name(precision));
    if (note[0])
        fits = fits && append(text, size, &used, "note %s\n", note);
    for (int i = 0; i < t->count; i++) {
        const bpnn_tuning_kernel *k = &t->kernel[i];
        fits = fits && append(text, size, &used, "kernel %s", k->name);
        for (int p = 0; p < k->count; p++)
            fits = fits && append(text, size, &used, " %s=%zu", k->parameter[p], k->value[p]);
        fits = fits && append(text, size, &used, "\n");
    }
    bpnn_status status = BPNN_OK;
    if (!fits)
        status = bpnn_fail(BPNN_ERR_INVALID, "GEMM tuning too large to write: %s", path);
    if (status == BPNN_OK && create_folder) {
        char *slash = strrchr(path, '/');
        if (slash && slash != path) {
            char dir[4096];
            snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
            status = make_folders(dir);
        }
    }
    if (status == BPNN_OK)
        status = bpnn_write_file_atomic(path, text, used, "GEMM tuning file");
    free(text);
    return status;
}

/* ---- the public functions ------------------------------------------------------ */

static bpnn_status host_has_none(void)
{
    return bpnn_fail(BPNN_ERR_INVALID,
                     "nothing to tune: cpu is the host path (OpenBLAS): GEMM tuning is for "
                     "OpenCL devices (--device gpu, opencl or opencl:P:D)");
}

/* The identity of an open OpenCL device; 0 for the host path. */
static int device_identity(const bpnn_device *device, tuning_identity *id)
{
#if BPNN_WITH_OPENCL
    const opencl_device_info *info = opencl_backend_info(device);
    if (info) {
        *id =
            (tuning_identity){info->platform_name, info->vendor, info->name, info->driver_version};
        return 1;
    }
#else
    (void)device;
    (void)id;
#endif
    return 0;
}

void bpnn_device_tuning(const bpnn_device *device, bpnn_tuning_info *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
#if BPNN_WITH_OPENCL
    if (device && opencl_backend_info(device)) {
        opencl_tuning_info(device, out);
        return;
    }
#endif
    out->state = BPNN_TUNING_HOST;
    snprintf(out->message, sizeof out->message, "none: the host path has no GEMM tuning");
}

bpnn_status bpnn_tuning_path(const bpnn_device_info *info, bpnn_precision precision, char *out,
                             size_t size)
{
    if (!info)
        return bpnn_fail_null("bpnn_tuning_path", "info");
    if (!out || size == 0)
        return bpnn_fail_null("bpnn_tuning_path", "out");
    out[0] = '\0';
    if (info->platform_index < 0)
        return host_has_none();
    tuning_identity id = {info->platform_name, info->vendor, info->name, info->driver_version};
    return tuning_file_path(&id, precision, out, size);
}

bpnn_status bpnn_device_tuning_path(const bpnn_device *device, char *out, size_t size)
{
    if (!device)
        return bpnn_fail_null("bpnn_device_tuning_path", "device");
    if (!out || size == 0)
        return bpnn_fail_null("bpnn_device_tuning_path", "out");
    out[0] = '\0';
    tuning_identity id;
    if (!device_identity(device, &id))
        return host_has_none();
    return tuning_file_path(&id, device->precision, out, size);
}

bpnn_status bpnn_tuning_load(const bpnn_device *device, const char *path, bpnn_tuning *out)
{
    if (!device)
        return bpnn_fail_null("bpnn_tuning_load", "device");
    if (!out)
        return bpnn_fail_null("bpnn_tuning_load", "out");
    memset(out, 0, sizeof *out);
    tuning_identity id;
    if (!device_identity(device, &id))
        return host_has_none();
    char own[4096];
    if (!path) {
        BPNN_TRY(tuning_file_path(&id, device->precision, own, sizeof own));
        path = own;
    }
    int missing;
    BPNN_TRY(tuning_read(path, &id, device->precision, out, &missing));
    if (missing)
        return bpnn_fail(BPNN_ERR_INVALID, "no GEMM tuning file: %s: bpnn-cl tune writes it", path);
    return BPNN_OK;
}

bpnn_status bpnn_tuning_save(const bpnn_device *device, const bpnn_tuning *tuning, const char *path)
{
    if (!device)
        return bpnn_fail_null("bpnn_tuning_save", "device");
    if (!tuning)
        return bpnn_fail_null("bpnn_tuning_save", "tuning");
    tuning_identity id;
    if (!device_identity(device, &id))
        return host_has_none();
    char own[4096];
    if (!path)
        BPNN_TRY(tuning_file_path(&id, device->precision, own, sizeof own));
    return tuning_write(path ? path : own, &id, device->precision, tuning, !path);
}

bpnn_status bpnn_device_set_tuning(bpnn_device *device, const bpnn_tuning *tuning)
{
    if (!device)
        return bpnn_fail_null("bpnn_device_set_tuning", "device");
    if (tuning)
        BPNN_TRY(tuning_check(tuning));
#if BPNN_WITH_OPENCL
    if (opencl_backend_info(device))
        return opencl_tuning_set(device, tuning);
#endif
    return host_has_none();
}
