#!/bin/sh
# fuzz/build.sh — builds the libFuzzer targets (fuzz/fuzz_*.c) with Debian's
# clang: the library's sources with -fsanitize=fuzzer-no-link,address,
# undefined (UB aborts), each harness linked with -fsanitize=fuzzer. A plain
# script, not meson: a separate build of its own that needs no option in the
# project's build, and no OpenCL (the device target is built without it).
# Incremental: a source is recompiled when it or a header it includes changed.
#
#   fuzz/build.sh [BUILD_DIR]      (default: build-fuzz in the repository)
#
# Needs: apt-get install -y clang libclang-rt-14-dev (plus the project's own
# build dependencies).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build-fuzz}
CC=${CC:-clang}
mkdir -p "$out/obj"
out=$(cd "$out" && pwd)

if ! printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' |
    "$CC" -x c -fsanitize=fuzzer -o "$out/probe" - 2>/dev/null; then
    echo "fuzz/build.sh: $CC cannot link -fsanitize=fuzzer: apt-get install -y clang libclang-rt-14-dev" >&2
    exit 1
fi
rm -f "$out/probe"

config="$out/bpnn_config.h"
printf '#define BPNN_WITH_OPENCL 0\n#define BPNN_WITH_MPI 0\n' >"$config.new"
cmp -s "$config.new" "$config" 2>/dev/null && rm "$config.new" || mv "$config.new" "$config"

packages="openblas zlib jansson cairo matio"
cflags="-g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DCL_TARGET_OPENCL_VERSION=120
 -fno-omit-frame-pointer -fno-sanitize-recover=all -I$out -I$root/include -I$root/src -I$root
 $(pkg-config --cflags $packages)"
libs="$(pkg-config --libs $packages) -lm -ldl -lpthread"

# The library as bpnn-cl links it, without OpenCL, and the CLI's parsers
# (cli_common.c and the single-process ranks it calls, where present).
sources=""
for source in "$root"/src/util/*.c "$root"/src/core/*.c "$root"/src/backend/*.c \
    "$root"/src/data/*.c "$root"/src/io/*.c "$root"/src/cli/cli_common.c \
    "$root"/src/cli/ranks_single.c; do
    [ -f "$source" ] && sources="$sources $source"
done

compile() { # source object
    "$CC" $cflags -fsanitize=fuzzer-no-link,address,undefined -MMD -MF "$2.d" -c "$1" -o "$2"
}
stale() { # object: missing, or older than its source or a header it includes
    [ -f "$1" ] && [ -f "$1.d" ] || return 0
    deps=$(sed -e 's/^[^:]*://' -e 's/\\$//' "$1.d")
    [ -n "$(find $deps -newer "$1" 2>/dev/null | head -n 1)" ]
}

objects=""
jobs=""
for source in $sources; do
    name=$(echo "${source#"$root"/src/}" | tr '/' '_')
    object="$out/obj/${name%.c}.o"
    objects="$objects $object"
    if stale "$object"; then
        compile "$source" "$object" &
        jobs="$jobs $!"
        # as many compilers as cores
        if [ "$(echo $jobs | wc -w)" -ge "$(nproc)" ]; then
            for job in $jobs; do wait "$job"; done
            jobs=""
        fi
    fi
done
for job in $jobs; do wait "$job"; done
rm -f "$out/libbpnn_fuzz.a"
ar rcs "$out/libbpnn_fuzz.a" $objects

for harness in "$root"/fuzz/fuzz_*.c; do
    target=$(basename "$harness" .c)
    "$CC" $cflags -fsanitize=fuzzer,address,undefined "$harness" "$out/libbpnn_fuzz.a" $libs \
        -o "$out/$target"
done
echo "fuzz/build.sh: targets in $out: $(cd "$out" && ls fuzz_* | tr '\n' ' ')"
