/* tuning.c — GEMM tuning on an OpenCL backend: the device's tuning file
 * applied with CLBlastOverrideParameters when the backend opens, and
 * bpnn_device_set_tuning. The files themselves are ../tuning.c's.
 *
 * A tuning file that cannot be used is a warning, not an error: it only
 * ever makes the GEMMs faster or slower, never their results right or wrong
 * (CLBlast's own parameters compute the same products), and it lives in a
 * cache folder the user may not think of. Refusing to open the device would
 * stop every command, training included, until the file is found and
 * deleted; running silently untuned would hide a slowdown the user tuned to
 * avoid. So the device opens with CLBlast's own parameters and the reason,
 * naming the file and the fix, is kept for bpnn_device_tuning: bpnn-cl
 * prints it as a one-line warning whenever it opens the device. */
#include <clblast_c.h>
#include <stdio.h>
#include <string.h>

#include "backend/opencl/opencl_internal.h"
#include "backend/tuning.h"
#include "util/error.h"

const opencl_device_info *opencl_backend_info(const backend *be)
{
    return be && be->ops == &opencl_ops ? &((const opencl_backend *)be)->info : NULL;
}

void opencl_tuning_info(const backend *be, bpnn_tuning_info *out)
{
    *out = ((const opencl_backend *)be)->tuning_info;
}

static tuning_identity identity_of(const opencl_backend *cl)
{
    return (tuning_identity){cl->info.platform_name, cl->info.vendor, cl->info.name,
                             cl->info.driver_version};
}

/* Temp-buffer sizes CLBlast gave under the old parameters no longer hold. */
static void forget_gemm_sizes(opencl_backend *cl)
{
    memset(cl->gemm_sizes, 0, sizeof cl->gemm_sizes);
    cl->gemm_sizes_next = 0;
}

/* CLBlastOverrideParameters for each kernel of `t` in turn; the first
 * failure's status, with *failed its kernel's index. */
static CLBlastStatusCode override_all(opencl_backend *cl, const bpnn_tuning *t, int *failed)
{
    CLBlastPrecision precision =
        cl->base.precision == BPNN_F64 ? CLBlastPrecisionDouble : CLBlastPrecisionSingle;
    for (int i = 0; i < t->count; i++) {
        const bpnn_tuning_kernel *k = &t->kernel[i];
        const char *names[BPNN_TUNING_MAX_PARAMETERS];
        for (int p = 0; p < k->count; p++)
            names[p] = k->parameter[p];
        CLBlastStatusCode s = CLBlastOverrideParameters(cl->device, k->name, precision,
                                                        (size_t)k->count, names, k->value);
        if (s != CLBlastSuccess) {
            *failed = i;
            return s;
        }
    }
    return CLBlastSuccess;
}

bpnn_status opencl_tuning_open(opencl_backend *cl, int alone)
{
    bpnn_tuning_info *info = &cl->tuning_info;
    memset(info, 0, sizeof *info);
    memset(&cl->tuning, 0, sizeof cl->tuning);
    cl->tuning_applied = 0;
    int disabled;
    BPNN_TRY(tuning_disabled(&disabled));
    tuning_identity id = identity_of(cl);
    if (tuning_file_path(&id, cl->base.precision, info->path, sizeof info->path) != BPNN_OK) {
        info->path[0] = '\0';
        info->state = BPNN_TUNING_NONE;
        snprintf(info->message, sizeof info->message, "none: CLBlast's own parameters (%.600s)",
                 bpnn_error_message());
        bpnn_clear_error();
        return BPNN_OK;
    }
    if (disabled) {
        info->state = BPNN_TUNING_DISABLED;
        snprintf(info->message, sizeof info->message,
                 "off: CLBlast's own parameters (BPNN_TUNING=off)");
        return BPNN_OK;
    }
    int missing = 0;
    if (tuning_read(info->path, &id, cl->base.precision, &cl->tuning, &missing) != BPNN_OK) {
        info->state = BPNN_TUNING_IGNORED;
        snprintf(info->message, sizeof info->message, "%.680s; CLBlast's own parameters in use",
                 bpnn_error_message());
        bpnn_clear_error();
        return BPNN_OK;
    }
    if (missing) {
        info->state = BPNN_TUNING_NONE;
        snprintf(info->message, sizeof info->message,
                 "none: CLBlast's own parameters (no tuning file %.600s; bpnn-cl tune writes it)",
                 info->path);
        return BPNN_OK;
    }
    int failed = 0;
    CLBlastStatusCode s = override_all(cl, &cl->tuning, &failed);
    if (s != CLBlastSuccess) {
        /* Undo the kernels already overridden, unless another backend's
         * parameters would go with them (CLBlast resets all or nothing). */
        int undone = alone && failed > 0 && CLBlastClearCache() == CLBlastSuccess;
        info->state = BPNN_TUNING_IGNORED;
        snprintf(info->message, sizeof info->message,
                 "GEMM tuning file refused by CLBlast: %.400s: kernel %s: "
                 "CLBlastOverrideParameters returned %s (%d): run bpnn-cl tune again, or delete "
                 "the file; CLBlast's own parameters in use%s",
                 info->path, cl->tuning.kernel[failed].name, opencl_clblast_status_name(s), (int)s,
                 failed > 0 && !undone ? " for that kernel and those after it" : "");
        memset(&cl->tuning, 0, sizeof cl->tuning);
        forget_gemm_sizes(cl);
        return BPNN_OK;
    }
    cl->tuning_applied = 1;
    forget_gemm_sizes(cl);
    info->state = BPNN_TUNING_APPLIED;
    snprintf(info->message, sizeof info->message, "applied from %.700s", info->path);
    return BPNN_OK;
}

bpnn_status opencl_tuning_reapply(opencl_backend *cl)
{
    forget_gemm_sizes(cl);
    if (!cl->tuning_applied)
        return BPNN_OK;
    int failed = 0;
    CLBlastStatusCode s = override_all(cl, &cl->tuning, &failed);
    if (s != CLBlastSuccess) {
        char call[96];
        snprintf(call, sizeof call, "CLBlastOverrideParameters(%s)",
                 cl->tuning.kernel[failed].name);
        return opencl_fail_clblast(cl, call, s);
    }
    return BPNN_OK;
}

bpnn_status opencl_tuning_set(backend *be, const bpnn_tuning *tuning)
{
    opencl_backend *cl = opencl_of(be);
    bpnn_tuning_info *info = &cl->tuning_info;
    forget_gemm_sizes(cl);
    cl->tuning_applied = 0;
    info->state = BPNN_TUNING_SET;
    if (!tuning) {
        CLBlastStatusCode s = CLBlastClearCache();
        if (s != CLBlastSuccess)
            return opencl_fail_clblast(cl, "CLBlastClearCache", s);
        snprintf(info->message, sizeof info->message,
                 "set: CLBlast's own parameters (bpnn_device_set_tuning)");
        return BPNN_OK;
    }
    int failed = 0;
    CLBlastStatusCode s = override_all(cl, tuning, &failed);
    if (s != CLBlastSuccess) {
        snprintf(info->message, sizeof info->message,
                 "set: bpnn_device_set_tuning failed at kernel %s; the kernels before it run the "
                 "parameters given, the others their earlier ones",
                 tuning->kernel[failed].name);
        if (s == CLBlastInvalidOverrideKernel || s == CLBlastMissingOverrideParameter)
            return bpnn_fail(BPNN_ERR_INVALID,
                             "GEMM tuning refused by CLBlast: kernel %s: "
                             "CLBlastOverrideParameters returned %s (%d): on %s (%s): CLBlast "
                             "wants every parameter of a kernel it knows",
                             tuning->kernel[failed].name, opencl_clblast_status_name(s), (int)s,
                             cl->info.spec, cl->info.name);
        char call[96];
        snprintf(call, sizeof call, "CLBlastOverrideParameters(%s)", tuning->kernel[failed].name);
        return opencl_fail_clblast(cl, call, s);
    }
    cl->tuning = *tuning;
    cl->tuning_applied = 1;
    snprintf(info->message, sizeof info->message,
             "set: %d kernels' parameters (bpnn_device_set_tuning)", tuning->count);
    return BPNN_OK;
}
