/* source.c — opening a data file once and reading it through zlib, which
 * reads raw files and gzip streams alike. The first bytes are read at open
 * and handed out again by the first reads, so the reader can be chosen by
 * content without opening the file twice: a FIFO or a pipe can only be read
 * once. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data.h"
#include "util/error.h"

/* Large enough that a 47 MB image file costs a few hundred system calls. */
enum { DATA_ZLIB_BUFFER = 1 << 18 };

/* zlib's documented limit: deflate never expands data more than this. */
#define DEFLATE_MAX_RATIO 1032u

static bpnn_status zlib_read(data_source *s, unsigned char *bytes, size_t size, size_t *got)
{
    size_t done = 0;
    while (done < size) {
        size_t want = size - done;
        if (want > (1u << 30))
            want = 1u << 30;
        int n = gzread(s->file, bytes + done, (unsigned)want);
        if (n < 0) {
            int code = Z_OK;
            const char *message = gzerror(s->file, &code);
            *got = done;
            if (code == Z_ERRNO)
                return bpnn_fail(BPNN_ERR_RUNTIME, "read error: %s: %s", s->name, strerror(errno));
            if (code == Z_MEM_ERROR)
                return bpnn_fail_oom("decompressing a data file");
            return bpnn_fail(BPNN_ERR_INVALID, "corrupt gzip data: %s: %s", s->name, message);
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *got = done;
    return BPNN_OK;
}

/* A descriptor for `path`, or for a copy of standard input ("-") that can be
 * closed without closing the process's own. */
static bpnn_status open_descriptor(const char *path, const char *what, const char *name, int *out)
{
    int fd = strcmp(path, "-") == 0 ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0)
                                    : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int error = errno;
        /* A path that cannot be opened is a request that cannot be served as
         * given; running out of descriptors or memory is not the user's fault. */
        bpnn_status status = (error == ENOMEM || error == EMFILE || error == ENFILE)
                                 ? BPNN_ERR_RUNTIME
                                 : BPNN_ERR_INVALID;
        return bpnn_fail(status, "cannot open %s: %s: %s", what, name, strerror(error));
    }
    *out = fd;
    return BPNN_OK;
}

bpnn_status data_source_open(const char *path, const char *what, data_source *out)
{
    memset(out, 0, sizeof *out);
    out->path = path;
    out->name = strcmp(path, "-") == 0 ? "standard input" : path;
    int fd = -1;
    BPNN_TRY(open_descriptor(path, what, out->name, &fd));
    struct stat info;
    if (fstat(fd, &info) != 0) {
        int error = errno;
        close(fd);
        return bpnn_fail(BPNN_ERR_RUNTIME, "cannot read %s: %s: %s", what, out->name,
                         strerror(error));
    }
    if (S_ISDIR(info.st_mode)) {
        close(fd);
        return bpnn_fail(BPNN_ERR_INVALID, "cannot open %s: %s: is a directory", what, out->name);
    }
    /* Reading a terminal would wait for typing that never comes. */
    if (isatty(fd)) {
        close(fd);
        return bpnn_fail(BPNN_ERR_INVALID,
                         "cannot read %s from a terminal: %s: pipe the data in (cat FILE | "
                         "bpnn-cl ... --data -) or name a file",
                         what, out->name);
    }
    /* Some regular files (under /proc) report no length; they are read as
     * pipes are. */
    out->regular = S_ISREG(info.st_mode) && info.st_size > 0;
    out->length = out->regular ? (uint64_t)info.st_size : 0;
    out->file = gzdopen(fd, "rb");
    if (!out->file) {
        close(fd);
        return bpnn_fail_oom("opening a data file");
    }
    /* zlib allocates three times this: no more than a small file needs. */
    size_t buffer = DATA_ZLIB_BUFFER;
    if (out->regular && out->length < buffer)
        buffer = out->length < 4096 ? 4096 : (size_t)out->length;
    gzbuffer(out->file, (unsigned)buffer);
    bpnn_status status = zlib_read(out, out->head, sizeof out->head, &out->head_size);
    if (status != BPNN_OK) {
        data_source_close(out);
        return status;
    }
    out->compressed = out->head_size > 0 && !gzdirect(out->file);
    return BPNN_OK;
}

bpnn_status data_source_read(data_source *s, void *buffer, size_t size, size_t *got)
{
    unsigned char *bytes = buffer;
    size_t from_head = s->head_size - s->head_used;
    if (from_head > size)
        from_head = size;
    memcpy(bytes, s->head + s->head_used, from_head);
    s->head_used += from_head;
    size_t more = 0;
    bpnn_status status = BPNN_OK;
    /* A head shorter than DATA_HEAD_SIZE was the whole file. */
    if (from_head < size && s->head_size == sizeof s->head)
        status = zlib_read(s, bytes + from_head, size - from_head, &more);
    *got = from_head + more;
    s->consumed += *got;
    return status;
}

uint64_t data_source_bound(const data_source *s)
{
    if (!s->regular)
        return UINT64_MAX;
    uint64_t most = s->length;
    if (s->compressed)
        most = most > UINT64_MAX / DEFLATE_MAX_RATIO ? UINT64_MAX : most * DEFLATE_MAX_RATIO;
    return most > s->consumed ? most - s->consumed : 0;
}

bpnn_status data_source_skip(data_source *s, uint64_t size, uint64_t *got)
{
    *got = 0;
    size_t from_head = s->head_size - s->head_used;
    if (from_head > size)
        from_head = (size_t)size;
    s->head_used += from_head;
    s->consumed += from_head;
    *got = from_head;
    uint64_t rest = size - from_head;
    if (rest == 0 || s->head_size < sizeof s->head)
        return BPNN_OK;
    if (s->regular && !s->compressed) {
        /* Never past the end, so that a truncated file still reads short. */
        uint64_t left = s->length > s->consumed ? s->length - s->consumed : 0;
        uint64_t step = rest < left ? rest : left;
        if (step > 0 && gzseek(s->file, (z_off_t)step, SEEK_CUR) < 0)
            return bpnn_fail(BPNN_ERR_RUNTIME, "cannot seek in %s: %s", s->name, strerror(errno));
        s->consumed += step;
        *got += step;
        return BPNN_OK;
    }
    unsigned char dropped[1 << 14];
    while (rest > 0) {
        size_t want = rest < sizeof dropped ? (size_t)rest : sizeof dropped, n = 0;
        BPNN_TRY(zlib_read(s, dropped, want, &n));
        s->consumed += n;
        *got += n;
        rest -= n;
        if (n < want)
            break;
    }
    return BPNN_OK;
}

void data_source_close(data_source *s)
{
    if (s->file)
        gzclose_r(s->file);
    s->file = NULL;
}

bpnn_load_options data_options(const bpnn_load_options *options)
{
    bpnn_load_options result;
    if (options)
        result = *options;
    else
        bpnn_load_options_default(&result);
    return result;
}
