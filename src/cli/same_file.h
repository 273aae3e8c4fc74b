/* same_file.h — outputs that never clobber inputs: a command's output that
 * is the same file as one of its inputs, or as another of its outputs, is
 * refused before any work. */
#ifndef BPNN_CLI_SAME_FILE_H
#define BPNN_CLI_SAME_FILE_H

#include <stddef.h>

#include "bpnn.h"

/* A file a command reads or writes, named by its option ("--out"). */
typedef struct cli_file {
    const char *option;
    const char *path; /* NULL: the option was not given */
    int output;       /* written by the command */
    /* An option that may name the same file by design (train: --resume
     * reads the checkpoint that --checkpoint goes on writing), or NULL. */
    const char *same_allowed;
} cli_file;

/* BPNN_ERR_INVALID, naming both options, when an output is the same file as
 * an input or as another output. Files that exist are the same when they are
 * the same inode (a hard link or a symbolic link counts, another spelling of
 * the path too); an output that does not exist yet can only be the same as
 * another such output, when both resolve to one path. */
bpnn_status cli_check_same_files(const cli_file *files, size_t count);

#endif
