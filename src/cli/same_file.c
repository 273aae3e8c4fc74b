/* same_file.c — see same_file.h. */
#include "same_file.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* What a path names: the inode when it exists, else the absolute path it
 * would be created at (its folder resolved, so that "./m" and "m" agree). */
typedef struct file_identity {
    int exists;
    dev_t device;
    ino_t inode;
    char *resolved; /* when it does not exist; NULL when it cannot be resolved */
} file_identity;

static void identify(const char *path, file_identity *id)
{
    *id = (file_identity){0};
    struct stat st;
    if (stat(path, &st) == 0) {
        /* Only a file's contents can be lost: a device, FIFO or terminal
         * (--log /dev/stderr) written next to an input loses nothing. */
        id->exists = S_ISREG(st.st_mode) ? 1 : -1;
        id->device = st.st_dev;
        id->inode = st.st_ino;
        return;
    }
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    const char *name = slash ? slash + 1 : path;
    char *real = dir ? realpath(dir, NULL) : NULL;
    if (real) {
        size_t size = strlen(real) + 1 + strlen(name) + 1;
        if ((id->resolved = malloc(size)) != NULL)
            snprintf(id->resolved, size, "%s/%s", strcmp(real, "/") == 0 ? "" : real, name);
    }
    free(real);
    free(dir);
}

static int same(const file_identity *a, const file_identity *b, const char *path_a,
                const char *path_b)
{
    if (a->exists || b->exists)
        return a->exists == 1 && b->exists == 1 && a->device == b->device && a->inode == b->inode;
    if (a->resolved && b->resolved)
        return strcmp(a->resolved, b->resolved) == 0;
    return strcmp(path_a, path_b) == 0;
}

static int allowed(const cli_file *a, const cli_file *b)
{
    return (a->same_allowed && strcmp(a->same_allowed, b->option) == 0) ||
           (b->same_allowed && strcmp(b->same_allowed, a->option) == 0);
}

bpnn_status cli_check_same_files(const cli_file *files, size_t count)
{
    file_identity *ids = calloc(count ? count : 1, sizeof *ids);
    if (!ids)
        return bpnn_fail_oom("checking the output paths");
    for (size_t i = 0; i < count; i++)
        if (files[i].path)
            identify(files[i].path, &ids[i]);
    bpnn_status status = BPNN_OK;
    for (size_t i = 0; i < count && status == BPNN_OK; i++) {
        const cli_file *out = &files[i];
        if (!out->path || !out->output)
            continue;
        for (size_t j = 0; j < count && status == BPNN_OK; j++) {
            const cli_file *other = &files[j];
            /* each pair of outputs once, the earlier option named first */
            if (j == i || !other->path || (other->output && j > i) || allowed(out, other) ||
                !same(&ids[i], &ids[j], out->path, other->path))
                continue;
            if (other->output)
                status = bpnn_fail(BPNN_ERR_INVALID,
                                   "two outputs are the same file: %s %s and %s %s: give each "
                                   "its own file",
                                   other->option, other->path, out->option, out->path);
            else
                status = bpnn_fail(BPNN_ERR_INVALID,
                                   "output would overwrite an input: %s %s is the same file as "
                                   "%s %s: give %s another path",
                                   out->option, out->path, other->option, other->path, out->option);
        }
    }
    for (size_t i = 0; i < count; i++)
        free(ids[i].resolved);
    free(ids);
    return status;
}
