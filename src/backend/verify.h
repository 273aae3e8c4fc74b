/* verify.h — proves a backend against the CPU backend, op by op.
 *
 * Every op of backend_ops runs on the same random inputs, at awkward sizes
 * (1, odd, primes, not multiples of any work-group size) and at non-zero
 * offsets, on both backends; per op the error is docs/contract.md's
 *     max|x - ref| / max|ref|     (max|x - ref| when every ref is 0)
 * over all the op's outputs and cases, ref being the CPU backend's result.
 * A NaN where the reference is finite counts as an infinite error. Outputs
 * that are only written (gemm's and bias_gradient's with beta 0, the
 * activations bias_sigmoid writes beside z, output_delta's, copy's, the
 * gathers') start as NaN, or as -2 among labels and classes (argmax_rows,
 * gather_labels), so a kernel that reads them fails; argmax_rows also runs
 * on rows with tied maxima, where the first must win; the
 * optimizer updates run several steps per case, a new gradient each, and
 * compare the parameters and both states at the end.
 *
 * Thresholds (the same for every device):
 *               element-wise ops     GEMM and reductions
 *     f64       1e-12                1e-10
 *     f32       1e-5                 1e-4
 * argmax_rows and the label round trip compare integers: the error is the
 * fraction of rows that differ, threshold 0. Nothing here prints; the caller
 * (the CLI's verify command, the tests) reports. */
#ifndef BPNN_BACKEND_VERIFY_H
#define BPNN_BACKEND_VERIFY_H

#include "backend/backend.h"

typedef bpnn_verify_result backend_verify_result; /* bpnn.h */

typedef bpnn_verify_fn backend_verify_report;

/* Runs the ops whose names start with `only` (NULL or "": every op) on `device`
 * and on `cpu` (the same precision), calling `report` once per op. *failures
 * (may be NULL) gets the number of ops that did not pass. Returns BPNN_OK when
 * the comparison ran, whatever it found; an error only when it could not run
 * (different precisions, host memory). */
bpnn_status backend_verify(backend *device, backend *cpu, const char *only,
                           backend_verify_report report, void *user, int *failures);

/* The thresholds above, by kind of op. */
double backend_verify_threshold(bpnn_precision precision, int is_reduction);

/* The rows x cols shapes bias_gradient is verified at. */
extern const size_t backend_verify_bias_shapes[][2];
extern const size_t backend_verify_bias_shape_count;

#endif
