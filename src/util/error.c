#include "error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_message[1024];

volatile sig_atomic_t bpnn_interrupt_flag = 0;

const char *bpnn_error_message(void)
{
    return last_message[0] ? last_message : "no error";
}

bpnn_status bpnn_fail(bpnn_status status, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(last_message, sizeof last_message, format, args);
    va_end(args);
    return status;
}

bpnn_status bpnn_fail_oom(const char *what)
{
    return bpnn_fail(BPNN_ERR_RUNTIME, "out of host memory: %s", what);
}

bpnn_status bpnn_fail_null(const char *function, const char *argument)
{
    return bpnn_fail(BPNN_ERR_INVALID,
                     "invalid argument: %s: %s is NULL (bpnn.h says which may be)", function,
                     argument);
}

void bpnn_clear_error(void)
{
    last_message[0] = '\0';
}

const char *bpnn_precision_name(bpnn_precision precision)
{
    return precision == BPNN_F64 ? "f64" : "f32";
}
