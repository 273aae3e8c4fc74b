/* tuning.h — GEMM tuning files (bpnn.h "GEMM tuning"): where they live, their
 * format, reading and writing. The OpenCL side (applying parameters with
 * CLBlastOverrideParameters, the file of a device being opened) is
 * opencl/tuning.c; this part needs no OpenCL.
 *
 * The format, one item per line ('#' starts a comment line):
 *   format bpnn-cl-tuning 1
 *   platform TEXT         the OpenCL platform's name
 *   vendor TEXT           the device's vendor
 *   device TEXT           the device's name
 *   driver TEXT           CL_DRIVER_VERSION
 *   precision f32|f64
 *   note TEXT             optional
 *   kernel NAME P=V ...   one line per CLBlast kernel, every parameter of it
 * TEXT is the rest of the line, compared with the device's own strings after
 * both are trimmed and their control characters made spaces. */
#ifndef BPNN_BACKEND_TUNING_H
#define BPNN_BACKEND_TUNING_H

#include <stddef.h>

#include "bpnn.h"

/* Who a tuning file is for. */
typedef struct tuning_identity {
    const char *platform, *vendor, *name, *driver;
} tuning_identity;

/* The folder of tuning files: BPNN_TUNING_DIR, else
 * $XDG_CACHE_HOME/bpnn-cl/tuning (an absolute XDG_CACHE_HOME), else
 * $HOME/.cache/bpnn-cl/tuning. BPNN_ERR_INVALID when none is set. */
bpnn_status tuning_dir(char *out, size_t size);

/* The folder's file for `id` in `precision`: NAME_DRIVER_HASH_f32.tuning,
 * NAME and DRIVER cut to letters, digits and dashes, HASH over all four
 * strings (two devices whose names differ only in punctuation get two
 * files). */
bpnn_status tuning_file_path(const tuning_identity *id, bpnn_precision precision, char *out,
                             size_t size);

/* BPNN_TUNING: 1 when it says off (off or 0), 0 when unset, empty, on or 1;
 * BPNN_ERR_INVALID for anything else. */
bpnn_status tuning_disabled(int *disabled);

/* Reads `path` for `id` and `precision`. *missing = 1 (and BPNN_OK) when
 * there is no such file. BPNN_ERR_INVALID naming the file and the line when
 * it is malformed, written for another device, driver or precision, or
 * cannot be opened; BPNN_ERR_RUNTIME when reading fails. */
bpnn_status tuning_read(const char *path, const tuning_identity *id, bpnn_precision precision,
                        bpnn_tuning *out, int *missing);

/* BPNN_ERR_INVALID unless `t` is well formed: 1..BPNN_TUNING_MAX_KERNELS
 * known kernels, each once, with 1..BPNN_TUNING_MAX_PARAMETERS parameters
 * named [A-Z][A-Z0-9_]*, each once. */
bpnn_status tuning_check(const bpnn_tuning *t);

/* Writes `t` for `id` and `precision` to `path` (whole or not at all);
 * create_folder: the folder and its parents are made first when missing. */
bpnn_status tuning_write(const char *path, const tuning_identity *id, bpnn_precision precision,
                         const bpnn_tuning *t, int create_folder);

#endif
