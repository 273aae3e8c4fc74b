/* model_file.h — the model file format (bpnn_model_save / bpnn_model_load are
 * declared in bpnn.h) and what a signal handler needs while one is written.
 *
 * Layout, every integer and float little-endian, written field by field:
 *   magic "BPNNMDL\0" (8 bytes), format version u32, precision u32 (0 f32,
 *   1 f64), layer_count u32, sizes u32 x layer_count, label_offset i32,
 *   image_width u32, image_height u32, lambda f64, epoch u32 (mini-batch
 *   epochs the parameters hold; absent in version 1, read as 0),
 *   normalization u32 (0 none, 1 zscore, 2 minmax) and unless none: shift f64
 *   x features, scale f64 x features; class-name flag u32 (0/1) and when 1, K
 *   names each as u32 length + bytes (no terminator); param_count u64; the
 *   parameters as f32 (f32 models) or f64 in flat order; CRC32 (zlib) u32
 *   over every byte before it.
 *
 * Versions: 1 the original layout, 2 adds epoch. Both are read; files are
 * written as the current version.
 *
 * Interrupts: while a model (or export) is being written its temporary file
 * is named by bpnn_pending_temp_path (atomic_file.h); a SIGINT/SIGTERM handler
 * calls bpnn_remove_pending_temp() and then _exit(130) or sets
 * bpnn_interrupt_flag (the writer then removes the file and returns
 * BPNN_ERR_INTERRUPTED instead of renaming it into place). */
#ifndef BPNN_IO_MODEL_FILE_H
#define BPNN_IO_MODEL_FILE_H

#include "bpnn.h"

#define BPNN_MODEL_MAGIC "BPNNMDL" /* 8 bytes with its terminating NUL */
#define BPNN_MODEL_FORMAT_VERSION 2u

#endif
