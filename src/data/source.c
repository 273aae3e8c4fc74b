/* source.c — opening and reading data files through zlib, which reads raw
 * files and gzip streams alike. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data.h"
#include "util/error.h"

/* Large enough that a 47 MB image file costs a few hundred system calls. */
enum { DATA_ZLIB_BUFFER = 1 << 18 };

bpnn_status data_open(const char *path, const char *what, gzFile *out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int error = errno;
        /* A path that cannot be opened is a request that cannot be served as
         * given; running out of descriptors or memory is not the user's fault. */
        bpnn_status status = (error == ENOMEM || error == EMFILE || error == ENFILE)
                                 ? BPNN_ERR_RUNTIME
                                 : BPNN_ERR_INVALID;
        return bpnn_fail(status, "cannot open %s: %s: %s", what, path, strerror(error));
    }
    struct stat info;
    if (fstat(fd, &info) != 0) {
        int error = errno;
        close(fd);
        return bpnn_fail(BPNN_ERR_RUNTIME, "cannot read %s: %s: %s", what, path, strerror(error));
    }
    if (S_ISDIR(info.st_mode)) {
        close(fd);
        return bpnn_fail(BPNN_ERR_INVALID, "cannot open %s: %s: is a directory", what, path);
    }
    gzFile file = gzdopen(fd, "rb");
    if (!file) {
        close(fd);
        return bpnn_fail_oom("opening a data file");
    }
    gzbuffer(file, DATA_ZLIB_BUFFER);
    *out = file;
    return BPNN_OK;
}

bpnn_status data_read(gzFile file, const char *path, void *buffer, size_t size, size_t *got)
{
    unsigned char *bytes = buffer;
    size_t done = 0;
    while (done < size) {
        size_t want = size - done;
        if (want > (1u << 30))
            want = 1u << 30;
        int n = gzread(file, bytes + done, (unsigned)want);
        if (n < 0) {
            int code = Z_OK;
            const char *message = gzerror(file, &code);
            *got = done;
            if (code == Z_ERRNO)
                return bpnn_fail(BPNN_ERR_RUNTIME, "read error: %s: %s", path, strerror(errno));
            if (code == Z_MEM_ERROR)
                return bpnn_fail_oom("decompressing a data file");
            return bpnn_fail(BPNN_ERR_INVALID, "corrupt gzip data: %s: %s", path, message);
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *got = done;
    return BPNN_OK;
}

bpnn_status data_peek(const char *path, unsigned char *head, size_t size, size_t *got)
{
    gzFile file;
    BPNN_TRY(data_open(path, "data file", &file));
    bpnn_status status = data_read(file, path, head, size, got);
    gzclose_r(file);
    return status;
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
