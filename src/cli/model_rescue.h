/* model_rescue.h — a trained model is never thrown away because its --out
 * file cannot be written (disk full, folder gone): it goes to a fallback
 * file, and the run says where. */
#ifndef BPNN_CLI_MODEL_RESCUE_H
#define BPNN_CLI_MODEL_RESCUE_H

#include "bpnn.h"

/* Saves `model` to `path`. When that fails, saves it as NAME.rescued-XXXXXX
 * (NAME: the last part of `path`) in the working folder, else in the temp
 * folder ($TMPDIR, else /tmp). Returns BPNN_OK, or BPNN_ERR_RUNTIME with a
 * message that gives the reason `path` failed and where the model went;
 * *rescued is then that file (free it) or NULL when no fallback could be
 * written either. */
bpnn_status cli_save_model_or_rescue(const bpnn_model *model, const char *path, char **rescued);

#endif
