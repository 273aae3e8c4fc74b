/* model_rescue.c — see model_rescue.h. */
#include "model_rescue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Saves the model under a new name in `dir`, never over an existing file:
 * the name is reserved with mkstemp, then the save replaces that empty file.
 * Returns the file (malloc'd), or NULL with `why` set. */
static char *save_in(const bpnn_model *model, const char *dir, const char *name, char *why,
                     size_t why_size)
{
    size_t size = strlen(dir) + strlen(name) + 32;
    char *file = malloc(size);
    if (!file) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    snprintf(file, size, "%s%s%s.rescued-XXXXXX", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
             name);
    int fd = mkstemp(file);
    if (fd < 0) {
        snprintf(why, why_size, "%s: %s", file, strerror(errno));
        free(file);
        return NULL;
    }
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask); /* an ordinary file, as --out would have been */
    close(fd);
    if (bpnn_model_save(model, file) != BPNN_OK) {
        snprintf(why, why_size, "%s", bpnn_error_message());
        unlink(file);
        free(file);
        return NULL;
    }
    return file;
}

bpnn_status cli_save_model_or_rescue(const bpnn_model *model, const char *path, char **rescued)
{
    *rescued = NULL;
    if (bpnn_model_save(model, path) == BPNN_OK)
        return BPNN_OK;
    char failure[1024], why_here[1024] = "", why_temp[1024] = "";
    snprintf(failure, sizeof failure, "%s", bpnn_error_message());
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    char *here = getcwd(NULL, 0);
    if (here)
        *rescued = save_in(model, here, name, why_here, sizeof why_here);
    else
        snprintf(why_here, sizeof why_here, "the working folder: %s", strerror(errno));
    free(here);
    if (!*rescued) {
        const char *temp = getenv("TMPDIR");
        *rescued = save_in(model, temp && *temp ? temp : "/tmp", name, why_temp, sizeof why_temp);
    }
    if (*rescued)
        return bpnn_fail(BPNN_ERR_RUNTIME, "%s: the trained model was saved to %s instead", failure,
                         *rescued);
    return bpnn_fail(BPNN_ERR_RUNTIME,
                     "%s: the trained model could not be saved anywhere else either (%s; %s)",
                     failure, why_here, why_temp);
}
