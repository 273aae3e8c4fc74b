/* atomic_file.c — write to a temporary file, fsync, rename; a group of files
 * renamed together; temporary files of killed saves cleaned up. */
#include "bpnn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"

static const char temp_suffix[] = ".tmp-XXXXXX";
enum { TEMP_RANDOM = 6 }; /* the X's mkstemp fills in */

const char *volatile bpnn_pending_temp_path = NULL;

/* The temporary files of a group being written (bpnn_write_files_atomic). */
static const char *volatile pending_group[BPNN_ATOMIC_GROUP_MAX];
static volatile sig_atomic_t group_renaming;

void bpnn_remove_pending_temp(void)
{
    const char *path = bpnn_pending_temp_path;
    if (path)
        unlink(path);
    for (int i = 0; i < BPNN_ATOMIC_GROUP_MAX; i++) {
        path = pending_group[i];
        if (path)
            unlink(path);
    }
}

int bpnn_interrupt_deferred(void)
{
    return group_renaming != 0;
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

/* The folder of `path` ("." when it names none), or NULL when out of memory. */
static char *directory_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Makes the rename itself durable; a failure here loses nothing already
 * renamed, so it is not reported. */
static void sync_directory_of(const char *path)
{
    char *dir = directory_of(path);
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

static int is_temp_name(const char *name, const char *base, size_t base_length)
{
    static const size_t marker = sizeof temp_suffix - 1 - TEMP_RANDOM; /* ".tmp-" */
    if (strncmp(name, base, base_length) != 0 ||
        strncmp(name + base_length, temp_suffix, marker) != 0)
        return 0;
    const char *random = name + base_length + marker;
    for (int i = 0; i < TEMP_RANDOM; i++) {
        char c = random[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    return random[TEMP_RANDOM] == '\0';
}

/* Removes the PATH.tmp-XXXXXX files a killed save of `path` left behind. A
 * writer holds an flock on its temporary file for as long as it lives, so a
 * file whose lock can be taken has no writer any more; one still being
 * written (another process saving to the same path) is left alone. */
static void remove_stale_temps(const char *path)
{
    char *dir = directory_of(path);
    if (!dir)
        return;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t base_length = strlen(base), dir_length = strlen(dir);
    DIR *listing = opendir(dir);
    for (struct dirent *entry; listing && (entry = readdir(listing)) != NULL;) {
        if (!is_temp_name(entry->d_name, base, base_length))
            continue;
        size_t size = dir_length + 1 + strlen(entry->d_name) + 1;
        char *stale = malloc(size);
        if (!stale)
            break;
        snprintf(stale, size, "%s/%s", dir, entry->d_name);
        int fd = open(stale, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
            flock(fd, LOCK_EX | LOCK_NB) == 0)
            unlink(stale);
        if (fd >= 0)
            close(fd);
        free(stale);
    }
    if (listing)
        closedir(listing);
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

/* One file on its way: the temporary file, written and closed. */
typedef struct temp_file {
    char *temp;   /* PATH.tmp-XXXXXX, NULL once renamed or removed */
    char *backup; /* the replaced file kept under another name (groups) */
    int fd;       /* open and locked while it is written, else -1 */
    int existed;  /* the target existed before (groups) */
} temp_file;

/* Creates PATH.tmp-XXXXXX, locked and named in `*pending` from the moment it
 * exists, so a signal at any point finds it to remove. */
static bpnn_status create_temp(const char *path, const char *what, const char *volatile *pending,
                               temp_file *t)
{
    *t = (temp_file){.fd = -1};
    size_t length = strlen(path);
    t->temp = malloc(length + sizeof temp_suffix);
    if (!t->temp)
        return bpnn_fail_oom(what);
    mode_t mode = new_file_mode(path);
    for (;;) {
        memcpy(t->temp, path, length);
        memcpy(t->temp + length, temp_suffix, sizeof temp_suffix);
        /* Registered before mkstemp, which writes the name into the buffer
         * before it creates the file. */
        *pending = t->temp;
        t->fd = mkstemp(t->temp);
        if (t->fd < 0) {
            int error = errno;
            *pending = NULL;
            free(t->temp);
            t->temp = NULL;
            return bpnn_fail(status_for_errno(error), "cannot create %s: %s: %s", what, path,
                             strerror(error));
        }
        /* Another save's cleanup may have taken the file between mkstemp
         * and the lock: then the name no longer leads to it, and a new one
         * is made. */
        struct stat named, opened;
        if (flock(t->fd, LOCK_EX) != 0 || fstat(t->fd, &opened) != 0 ||
            (stat(t->temp, &named) == 0 && named.st_ino == opened.st_ino &&
             named.st_dev == opened.st_dev))
            break;
        close(t->fd);
    }
    /* mkstemp creates 0600; a model or export is an ordinary file. Failing
     * to widen the mode only leaves it private. */
    (void)fchmod(t->fd, mode);
    return BPNN_OK;
}

static void discard_temp(temp_file *t, const char *volatile *pending)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    if (t->temp) {
        unlink(t->temp);
        *pending = NULL;
        free(t->temp);
        t->temp = NULL;
    }
}

/* Writes, syncs and closes the temporary file; on failure removes it. */
static bpnn_status fill_temp(temp_file *t, const char *volatile *pending, const char *path,
                             const void *data, size_t size, const char *what)
{
    int failed = write_all(t->fd, data, size) != 0 || fsync(t->fd) != 0;
    int error = errno;
    if (!failed) {
        failed = close(t->fd) != 0;
        error = errno;
        t->fd = -1;
    }
    if (failed) {
        discard_temp(t, pending);
        return bpnn_fail(BPNN_ERR_RUNTIME, "cannot write %s: %s: %s", what, path, strerror(error));
    }
    return BPNN_OK;
}

bpnn_status bpnn_write_file_atomic(const char *path, const void *data, size_t size,
                                   const char *what)
{
    remove_stale_temps(path);
    temp_file t;
    BPNN_TRY(create_temp(path, what, &bpnn_pending_temp_path, &t));
    BPNN_TRY(fill_temp(&t, &bpnn_pending_temp_path, path, data, size, what));
    if (bpnn_interrupt_flag) {
        discard_temp(&t, &bpnn_pending_temp_path);
        return bpnn_fail(BPNN_ERR_INTERRUPTED, "interrupted while writing %s: %s", what, path);
    }
    if (rename(t.temp, path) != 0) {
        int error = errno;
        discard_temp(&t, &bpnn_pending_temp_path);
        /* A signal between the check above and the rename: its handler
         * removed the temp file, so the rename found nothing to move. */
        if (bpnn_interrupt_flag)
            return bpnn_fail(BPNN_ERR_INTERRUPTED, "interrupted while writing %s: %s", what, path);
        return bpnn_fail(status_for_errno(error), "cannot write %s: %s: %s", what, path,
                         strerror(error));
    }
    bpnn_pending_temp_path = NULL;
    free(t.temp);
    sync_directory_of(path);
    return BPNN_OK;
}

/* ---- groups --------------------------------------------------------------------- */

/* A name PATH.tmp-XXXXXX not in use, for a hard link to the file being
 * replaced: a killed run's leftovers match the stale-file pattern. */
static char *backup_name(const char *path)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static uint64_t state;
    if (!state)
        state = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL) ^ 0x9E3779B97F4A7C15ull;
    size_t length = strlen(path);
    char *name = malloc(length + sizeof temp_suffix);
    if (!name)
        return NULL;
    memcpy(name, path, length);
    memcpy(name + length, temp_suffix, sizeof temp_suffix);
    for (int i = 0; i < TEMP_RANDOM; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        name[length + sizeof temp_suffix - 1 - TEMP_RANDOM + i] =
            alphabet[state % (sizeof alphabet - 1)];
    }
    return name;
}

/* Keeps the file `path` under a second name until the group is in place.
 * Where hard links are not possible the group goes on without: a failed
 * rename then cannot put that one file back. */
static void keep_backup(temp_file *t, const char *path)
{
    struct stat st;
    t->existed = lstat(path, &st) == 0;
    if (!t->existed || !S_ISREG(st.st_mode))
        return;
    for (int attempt = 0; attempt < 16; attempt++) {
        char *name = backup_name(path);
        if (!name)
            return;
        if (link(path, name) == 0) {
            t->backup = name;
            return;
        }
        int error = errno;
        free(name);
        if (error != EEXIST)
            return;
    }
}

/* Undoes the rename of one file: its earlier version back, or the new file
 * gone when there was none. Where the earlier version cannot be put back,
 * its second name is kept: it is then the only copy. */
static void put_back(temp_file *t, const char *path)
{
    if (t->backup) {
        rename(t->backup, path);
        free(t->backup);
        t->backup = NULL;
    } else if (!t->existed) {
        unlink(path);
    }
}

static void drop_backup(temp_file *t)
{
    if (t->backup) {
        unlink(t->backup);
        free(t->backup);
        t->backup = NULL;
    }
}

bpnn_status bpnn_write_files_atomic(size_t count, const char *const paths[],
                                    const void *const data[], const size_t sizes[],
                                    const char *what)
{
    if (count > BPNN_ATOMIC_GROUP_MAX)
        return bpnn_fail(BPNN_ERR_INVALID, "too many files written together: %zu, at most %d",
                         count, BPNN_ATOMIC_GROUP_MAX);
    temp_file files[BPNN_ATOMIC_GROUP_MAX];
    for (size_t i = 0; i < count; i++)
        remove_stale_temps(paths[i]);
    bpnn_status status = BPNN_OK;
    size_t written = 0;
    for (; written < count && status == BPNN_OK; written++) {
        status = create_temp(paths[written], what, &pending_group[written], &files[written]);
        if (status == BPNN_OK)
            status = fill_temp(&files[written], &pending_group[written], paths[written],
                               data[written], sizes[written], what);
    }
    if (status == BPNN_OK && bpnn_interrupt_flag)
        status =
            bpnn_fail(BPNN_ERR_INTERRUPTED, "interrupted while writing %s: %s", what, paths[0]);
    if (status != BPNN_OK) {
        for (size_t i = 0; i < written; i++)
            discard_temp(&files[i], &pending_group[i]);
        return status;
    }

    /* From the first rename to the last a signal only sets the flag (see
     * bpnn_interrupt_deferred): the group is completed or put back whole. */
    group_renaming = 1;
    size_t renamed = 0;
    for (; renamed < count; renamed++) {
        temp_file *t = &files[renamed];
        keep_backup(t, paths[renamed]);
        if (rename(t->temp, paths[renamed]) != 0) {
            int error = errno;
            status =
                bpnn_fail(status_for_errno(error), "cannot write %s: %s: %s: nothing was replaced",
                          what, paths[renamed], strerror(error));
            break;
        }
        pending_group[renamed] = NULL;
        free(t->temp);
        t->temp = NULL;
    }
    if (status == BPNN_OK && bpnn_interrupt_flag)
        status =
            bpnn_fail(BPNN_ERR_INTERRUPTED, "interrupted while writing %s: %s", what, paths[0]);
    if (status != BPNN_OK)
        for (size_t i = 0; i < renamed; i++)
            put_back(&files[i], paths[i]);
    for (size_t i = 0; i < count; i++) {
        discard_temp(&files[i], &pending_group[i]);
        drop_backup(&files[i]);
    }
    group_renaming = 0;
    if (status == BPNN_OK)
        for (size_t i = 0; i < count; i++)
            sync_directory_of(paths[i]);
    return status;
}
