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
#      data races, out-of-bounds accesses and API misuse: any report fails;
#      there too, `train --dry-run` plans against its real 128 MiB;
#   6. installs the Python package as the README's "Python" section says, in a
#      fresh copy of the tree, and runs its tests (python/tests) there with the
#      current scikit-learn, onnx and onnxruntime from PyPI, then again with
#      Debian's scikit-learn 1.2.
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

# Runs bpnn-cl ARGS... under Oclgrind's checks into $log and fails on any
# report of Oclgrind's, on an exit status other than $1, or when no line of
# the output matches the extended regular expression $2. BPNN_DEVICE_MEMORY is
# unset: the device's own figures are the ones under test.
oclgrind_expect() {
    want=$1
    pattern=$2
    shift 2
    echo "+ oclgrind --check-api --data-races bpnn-cl $*"
    env -u BPNN_DEVICE_MEMORY oclgrind --check-api --data-races build-test/bpnn-cl "$@" \
        >"$log" 2>&1
    got=$?
    cat "$log"
    ok=0
    if grep -Eq '^(Data race|Invalid|Uninitialized|OCLGRIND|Work-group divergence)' "$log"; then
        echo "oclgrind reported a problem with our kernels or API use" >&2
        ok=1
    fi
    if [ "$got" -ne "$want" ]; then
        echo "exit status $got, expected $want" >&2
        ok=1
    fi
    if ! grep -Eq "$pattern" "$log"; then
        echo "no line of the output matches: $pattern" >&2
        ok=1
    fi
    return $ok
}

# The memory plan against a real limit: Oclgrind's device reports 128 MiB of
# global memory and as its largest allocation. (Oclgrind 21.10 itself creates
# larger buffers without a word; bpnn-cl's allocations check those figures.)
# Dry runs only: a training run that the limit streams passes over more than
# 100 MiB of data, about an hour of simulation (docs/environment.md).
oclgrind_memory_plans() {
    limits='^device: 128\.0 MiB global memory \(134217728 bytes\), 102\.4 MiB usable, largest allocation 128\.0 MiB'
    plans=0
    # Fashion-MNIST's 60000 x 784 training images, 179 MiB in f32
    oclgrind_expect 0 '^plan: streamed from the host, evaluated in blocks of [0-9]+ rows$' \
        train --device gpu --optimizer adam --dry-run || plans=1
    grep -Eq "$limits" "$log" || { echo "not the device's own limits" >&2 && plans=1; }
    oclgrind_expect 0 '^plan: resident, every data set on the device$' \
        train --device gpu --optimizer adam --limit 1000 --dry-run || plans=1
    grep -Eq "$limits" "$log" || { echo "not the device's own limits" >&2 && plans=1; }
    # 15.9 million parameters and Adam's state: 243 MiB that no streaming saves
    huge="train --device gpu --optimizer adam --layers 784,20000,10"
    refused='^bpnn-cl: device memory too small: opencl:[0-9]+:[0-9]+ .* offers 128\.0 MiB \(102\.4 MiB usable\); the parameters and optimizer state need [0-9.]+ MiB'
    # shellcheck disable=SC2086
    oclgrind_expect 1 "$refused" $huge --dry-run || plans=1
    cp "$log" "$log.dry"
    # shellcheck disable=SC2086
    oclgrind_expect 1 "$refused" $huge || plans=1
    if ! cmp -s "$log" "$log.dry"; then
        echo "the dry run and the run are refused differently" >&2
        plans=1
    fi
    rm -f "$log.dry"
    return $plans
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
    oclgrind_memory_plans || status=1
    rm -f "$log"
    return $status
}

# The README's Python install command, run as written in a copy of the tree
# that holds no build or venv (as a clone would), under build-test/python:
# its venv is build-test/python/src/.venv. The package's tests then run in
# that venv against build-test's bpnn-cl, and in a second venv over Debian's
# numpy, scikit-learn 1.2, pandas and pytest (python3-sklearn ...).
python_checks() {
    dir="$root/build-test/python"
    rm -rf "$dir" && mkdir -p "$dir/src" || return 1
    tar -C "$root" --exclude=./.git --exclude='./build*' --exclude=./.venv -cf - . |
        tar -C "$dir/src" -xf - || return 1
    install=$(awk '/^## Python/ {p = 1} p && /^```/ {n++; next} p && n == 1 {print} n == 2 {exit}' \
        README.md)
    echo "+ $install"
    (cd "$dir/src" && bash -euo pipefail -c "$install") || return 1
    status=0
    export BPNN_CLI="$root/build-test/bpnn-cl" POCL_CACHE_DIR="$root/build-test/pocl-cache"
    venv="$dir/src/.venv"
    echo "+ pytest with scikit-learn, onnx and onnxruntime from PyPI"
    "$venv/bin/pip" install -q pytest scikit-learn scipy pandas onnx onnxruntime || return 1
    # SCIPY_ARRAY_API=1: scikit-learn's check_array_api_input runs instead of skipping
    SCIPY_ARRAY_API=1 "$venv/bin/python" -m pytest -p no:cacheprovider -v -s -rs \
        "$dir/src/python/tests" || status=1
    echo "+ pytest with Debian's scikit-learn"
    debian="$dir/venv-debian"
    /usr/bin/python3 -m venv --system-site-packages "$debian" &&
        "$debian/bin/pip" install -q --no-deps "$dir/src" || return 1
    "$debian/bin/python" -m pytest -p no:cacheprovider -v -s -rs "$dir/src/python/tests" ||
        status=1
    return $status
}

step "build -Werror, every suite" suites build-test
step "AddressSanitizer + UndefinedBehaviorSanitizer, every suite" \
    suites build-asan -Db_sanitize=address,undefined -Db_lundef=false
step "fuzz smoke runs" fuzz/smoke.sh "$root/build-fuzz" 15
step "Oclgrind: verify, gradcheck and memory plans" oclgrind_checks
step "Python package: the README's install, its tests" python_checks

echo "summary: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
