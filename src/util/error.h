/* error.h — one place where failures get their message.
 *
 * A failing function calls bpnn_fail(status, "what: where[: hint]", ...) once,
 * where the failure is understood, and returns what it returns; callers above
 * only pass the status on. The message is per thread (bpnn_error_message). */
#ifndef BPNN_UTIL_ERROR_H
#define BPNN_UTIL_ERROR_H

#include "bpnn.h"

#if defined(__GNUC__)
#define BPNN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define BPNN_PRINTF(f, a)
#endif

bpnn_status bpnn_fail(bpnn_status status, const char *format, ...) BPNN_PRINTF(2, 3);
/* Out of host memory while doing `what`. */
bpnn_status bpnn_fail_oom(const char *what);
/* A public function's `argument` that must not be NULL was NULL. */
bpnn_status bpnn_fail_null(const char *function, const char *argument);
/* Clears the message (used by tests and before retries). */
void bpnn_clear_error(void);

/* Propagates a failure: BPNN_TRY(call) returns the status of a failed call. */
#define BPNN_TRY(call)                                                                             \
    do {                                                                                           \
        bpnn_status bpnn_try_status_ = (call);                                                     \
        if (bpnn_try_status_ != BPNN_OK)                                                           \
            return bpnn_try_status_;                                                               \
    } while (0)

#endif
