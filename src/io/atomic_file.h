/* atomic_file.h — files that appear whole or not at all.
 *
 * Every output except logs is written to a temporary file in the target's own
 * directory ("PATH.tmp-XXXXXX"), flushed to disk with fsync and renamed over
 * PATH, so an existing file is replaced only by a complete new one. */
#ifndef BPNN_IO_ATOMIC_FILE_H
#define BPNN_IO_ATOMIC_FILE_H

#include <stddef.h>

#include "bpnn.h"

/* The most files bpnn_write_files_atomic takes at once (an export: one per
 * layer). */
#define BPNN_ATOMIC_GROUP_MAX 32

/* The temporary file being written right now, or NULL. It is set from the
 * moment the temporary file exists until it has been renamed or removed, so a
 * SIGINT/SIGTERM handler can remove it: call bpnn_remove_pending_temp() from
 * the handler (it only uses unlink, which is async-signal-safe) and then
 * either _exit(130) or set bpnn_interrupt_flag and return. One file is
 * written at a time (the program is single-threaded where it writes). */
extern const char *volatile bpnn_pending_temp_path;

/* Removes the pending temporary files, if any. Async-signal-safe. */
void bpnn_remove_pending_temp(void);

/* Nonzero while a group of files is being renamed into place: a signal
 * handler then only sets bpnn_interrupt_flag and returns, and the writer
 * puts the earlier files back before it reports BPNN_ERR_INTERRUPTED.
 * Async-signal-safe. */
int bpnn_interrupt_deferred(void);

/* Writes `size` bytes to `path` through a temporary file and rename. The new
 * file keeps the mode of the file it replaces, else 0666 less the umask.
 * `what` names the file in messages ("model file", "export file").
 * Errors: BPNN_ERR_INVALID when the file cannot be created or renamed into
 * place because of the path (missing directory, permission, a directory in
 * the way); BPNN_ERR_RUNTIME when writing or syncing fails after the file was
 * opened; BPNN_ERR_INTERRUPTED when bpnn_interrupt_flag is set before the
 * rename (a run being interrupted leaves existing files untouched). On every
 * failure the temporary file is gone and an existing `path` is untouched.
 * Temporary files of `path` that a killed save left behind (no live writer
 * holds their lock) are removed first. */
bpnn_status bpnn_write_file_atomic(const char *path, const void *data, size_t size,
                                   const char *what);

/* Writes `count` files that belong together (at most BPNN_ATOMIC_GROUP_MAX)
 * so that all of them are replaced or none: every file goes to its temporary
 * file first; only when all are written and synced are they renamed into
 * place, and a failed rename puts back the files already replaced (kept
 * under a second name meanwhile). Errors as bpnn_write_file_atomic, the
 * message naming the file and the reason; writing errors are
 * BPNN_ERR_RUNTIME. */
bpnn_status bpnn_write_files_atomic(size_t count, const char *const paths[],
                                    const void *const data[], const size_t sizes[],
                                    const char *what);

#endif
