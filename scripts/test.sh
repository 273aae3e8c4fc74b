#!/bin/sh
# scripts/test.sh — everything CI checks, in one command (the README's second):
#   1. installs what is missing (scripts/install-deps.sh, with the test tools);
#   2. builds with warnings as errors and runs every Check suite, the OpenCL
#      ones on PoCL's CPU device and the MPI one with mpirun;
#   3. builds with AddressSanitizer and UndefinedBehaviorSanitizer and runs the
#      suites again (the OpenCL suite too: PoCL works under ASan, only its own
#      and LLVM's leaks are suppressed, tests/lsan.supp);
#   4. builds the libFuzzer targets and runs each a short while (fuzz/smoke.sh);
#   5. runs `verify` and `gradcheck` on Oclgrind, a simulated GPU that reports
#      data races, out-of-bounds accesses and API misuse: any report fails.
# Each step prints its own results; the last line counts the steps.
set -u
cd "$(dirname "$0")/.." || exit 1
root=$(pwd)
BPNN_TEST_TOOLS=1 scripts/install-deps.sh || exit 1

passed=0
failed=0
step() {
    name=$1
    shift
    echo "==== $name"
    if "$@"; then
        passed=$((passed + 1))
        echo "==== $name: passed"
    else
        failed=$((failed + 1))
        echo "==== $name: FAILED"
    fi
}

suites() { # build dir, meson options...
    dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" -Dwerror=true "$@" || return 1
    fi
    ninja -C "$dir" || return 1
    # One PoCL cache for the whole run: the steps run one after another (two
    # processes must not write it at once), and the sanitizer build then finds
    # the CLBlast kernels compiled (a cold compile under ASan takes minutes).
    POCL_CACHE_DIR="$root/build-test/pocl-cache" meson test -C "$dir" --verbose
}

# Oclgrind simulates every work-item: keep the runs small (f32, the debug network).
oclgrind_checks() {
    log=$(mktemp)
    status=0
    for command in "verify --device gpu --precision f32" "gradcheck --device gpu"; do
        echo "+ oclgrind --check-api --data-races bpnn-cl $command"
        # shellcheck disable=SC2086
        oclgrind --check-api --data-races build-test/bpnn-cl $command >"$log" 2>&1 || status=1
        cat "$log"
        if grep -Eq '^(Data race|Invalid|Uninitialized|OCLGRIND|Work-group divergence)' "$log"; then
            echo "oclgrind reported a problem with our kernels or API use" >&2
            status=1
        fi
    done
    rm -f "$log"
    return $status
}

step "build -Werror, every suite" suites build-test
step "AddressSanitizer + UndefinedBehaviorSanitizer, every suite" \
    suites build-asan -Db_sanitize=address,undefined -Db_lundef=false
step "fuzz smoke runs" fuzz/smoke.sh "$root/build-fuzz" 15
step "Oclgrind: verify and gradcheck" oclgrind_checks

echo "summary: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
