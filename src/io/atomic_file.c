/* atomic_file.c — write to a temporary file, fsync, rename. */
#include "io/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

const char *volatile bpnn_pending_temp_path = NULL;

void bpnn_remove_pending_temp(void)
{
    const char *path = bpnn_pending_temp_path;
    if (path)
        unlink(path);
}

/* Failures that come from the path the user gave (exit 2) rather than from
 * the machine while writing (exit 1). */
static bpnn_status status_for_errno(int error)
{
    switch (error) {
    case ENOENT:
    case ENOTDIR:
    case EISDIR:
    case EACCES:
    case EPERM:
    case EROFS:
    case ENAMETOOLONG:
    case ELOOP:
    case EBUSY:
    case EEXIST:
    case ENOTEMPTY: return BPNN_ERR_INVALID;
    default: return BPNN_ERR_RUNTIME;
    }
}

static void discard_temp(char *temp, int fd)
{
    if (fd >= 0)
        close(fd);
    unlink(temp);
    bpnn_pending_temp_path = NULL;
    free(temp);
}

/* The mode the new file gets: that of the file it replaces, else what
 * open(..., 0666) would have given. */
static mode_t new_file_mode(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return st.st_mode & 07777;
    mode_t mask = umask(0);
    umask(mask);
    return 0666 & ~mask;
}

/* Makes the rename itself durable; a failure here loses nothing already
 * renamed, so it is not reported. */
static void sync_directory_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

static int write_all(int fd, const unsigned char *data, size_t size)
{
    size_t done = 0;
    while (done < size) {
        size_t chunk = size - done;
        if (chunk > ((size_t)1 << 30))
            chunk = (size_t)1 << 30;
        ssize_t written = write(fd, data + done, chunk);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        done += (size_t)written;
    }
    return 0;
}

bpnn_status bpnn_write_file_atomic(const char *path, const void *data, size_t size,
                                   const char *what)
{
    static const char suffix[] = ".tmp-XXXXXX";
    size_t length = strlen(path);
    char *temp = malloc(length + sizeof suffix);
    if (!temp)
        return bpnn_fail_oom(what);
    memcpy(temp, path, length);
    memcpy(temp + length, suffix, sizeof suffix);

    mode_t mode = new_file_mode(path);
    /* Registered before mkstemp, which writes the name into `temp` before it
     * creates the file: a signal at any point finds the file to remove. */
    bpnn_pending_temp_path = temp;
    int fd = mkstemp(temp);
    if (fd < 0) {
        int error = errno;
        bpnn_pending_temp_path = NULL;
        free(temp);
        return bpnn_fail(BPNN_ERR_INVALID, "cannot create %s: %s: %s", what, path, strerror(error));
    }
    /* mkstemp creates 0600; a model or export is an ordinary file. Failing
     * to widen the mode only leaves it private. */
    (void)fchmod(fd, mode);

    if (write_all(fd, data, size) != 0 || fsync(fd) != 0) {
        int error = errno;
        discard_temp(temp, fd);
        return bpnn_fail(BPNN_ERR_RUNTIME, "cannot write %s: %s: %s", what, path, strerror(error));
    }
    if (close(fd) != 0) {
        int error = errno;
        discard_temp(temp, -1);
        return bpnn_fail(BPNN_ERR_RUNTIME, "cannot write %s: %s: %s", what, path, strerror(error));
    }
    if (bpnn_interrupt_flag) {
        discard_temp(temp, -1);
        return bpnn_fail(BPNN_ERR_INTERRUPTED, "interrupted while writing %s: %s", what, path);
    }
    if (rename(temp, path) != 0) {
        int error = errno;
        discard_temp(temp, -1);
        /* A signal between the check above and the rename: its handler
         * removed the temp file, so the rename found nothing to move. */
        if (bpnn_interrupt_flag)
            return bpnn_fail(BPNN_ERR_INTERRUPTED, "interrupted while writing %s: %s", what, path);
        return bpnn_fail(status_for_errno(error), "cannot write %s: %s: %s", what, path,
                         strerror(error));
    }
    bpnn_pending_temp_path = NULL;
    free(temp);
    sync_directory_of(path);
    return BPNN_OK;
}
