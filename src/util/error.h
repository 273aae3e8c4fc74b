/* error.h — one place where failures get their message (bpnn_fail and
 * BPNN_TRY are public, bpnn.h; what is internal is here).
 *
 * A failing function calls bpnn_fail(status, "what: where[: hint]", ...) once,
 * where the failure is understood, and returns what it returns; callers above
 * only pass the status on. The message is per thread (bpnn_error_message). */
#ifndef BPNN_UTIL_ERROR_H
#define BPNN_UTIL_ERROR_H

#include "bpnn.h"

/* A public function's `argument` that must not be NULL was NULL. */
bpnn_status bpnn_fail_null(const char *function, const char *argument);

#endif
