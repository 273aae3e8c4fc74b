#!/bin/sh
# public_api.sh BUILD_DIR SOURCE_DIR — libbpnn as its users get it:
#   1. libbpnn.so exports bpnn_* and nothing else, under the soname libbpnn.so.0;
#   2. the program includes nothing from src/ outside src/cli/ (the build
#      compiles it with include/ alone, and links it to libbpnn.so);
#   3. installed (meson install into a scratch folder), the README's C
#      example compiles with pkg-config, links and runs.
set -eu
build=$1
source=$2
failed=0
fail() {
    echo "FAIL: $*"
    failed=1
}

lib=$build/libbpnn.so
# AddressSanitizer adds an __odr_asan.NAME beside each exported variable
exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^__odr_asan\.' || true)
others=$(printf '%s\n' "$exported" | grep -v '^bpnn_' || true)
[ -z "$others" ] || fail "libbpnn.so exports more than bpnn_*: $(echo $others)"
echo "libbpnn.so exports $(printf '%s\n' "$exported" | wc -l) symbols, all bpnn_*"
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libbpnn.so.0 ] || fail "soname is '$soname', expected libbpnn.so.0"
# every function bpnn.h declares is exported (a missing BPNN_API marker)
for name in $(grep -o '^BPNN_API [^(]*(' "$source/include/bpnn.h" | sed 's/.*[ *]\(bpnn_[a-z0-9_]*\)($/\1/'); do
    printf '%s\n' "$exported" | grep -qx "$name" || fail "bpnn.h declares $name, libbpnn.so does not export it"
done

internal=$(grep -n '#include "' "$source"/src/cli/*.c "$source"/src/cli/*.h |
    grep -v -e '#include "bpnn.h"' -e '#include "[a-z_]*\.h"' || true)
[ -z "$internal" ] || fail "the program includes internal headers: $internal"
deps=$(readelf -d "$build/bpnn-cl" | grep NEEDED | grep -c libbpnn.so.0 || true)
[ "$deps" = 1 ] || fail "bpnn-cl does not link libbpnn.so.0"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
meson install -C "$build" --destdir "$scratch/root" --no-rebuild --quiet >"$scratch/install.log" 2>&1 ||
    { cat "$scratch/install.log"; fail "meson install"; }
pc=$(find "$scratch/root" -name bpnn.pc | head -n 1)
[ -n "$pc" ] || fail "no bpnn.pc installed"
man=$(find "$scratch/root" -name 'bpnn-cl.1*' | head -n 1)
[ -n "$man" ] || fail "no bpnn-cl(1) man page installed"
# the first C block of the README's library section
sed -n '/^## The library (C)/,/^## /p' "$source/README.md" |
    sed -n '/^```c$/,/^```$/p' | sed '1d;$d' >"$scratch/example.c"
[ -s "$scratch/example.c" ] || fail "no C example in the README"
libdir=$(dirname "$(find "$scratch/root" -name 'libbpnn.so.0' | head -n 1)")
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$scratch/root \
    pkg-config --cflags --libs bpnn)
# a sanitized library (the sanitizer build) wants its runtime in the program
sanitize=""
if nm -D "$lib" | grep -q ' U __asan_init'; then
    sanitize="-fsanitize=address,undefined"
fi
cc -std=c11 -Wall -Wextra -Werror $sanitize "$scratch/example.c" $flags -o "$scratch/example" ||
    fail "the README's C example does not compile with \`pkg-config --cflags --libs bpnn\`"
if [ -x "$scratch/example" ]; then
    output=$(cd "$scratch" && LD_LIBRARY_PATH=$libdir ./example) || fail "the example failed: $output"
    echo "README example: $output"
    accuracy=$(printf '%s\n' "$output" | sed -n 's/.*test accuracy \([0-9.]*\)%.*/\1/p')
    awk -v a="${accuracy:-0}" 'BEGIN { exit !(a >= 70) }' ||
        fail "the example's test accuracy ${accuracy:-?}% is below 70%"
    [ -s "$scratch/example.bpnn" ] || fail "the example saved no model"
fi
[ $failed = 0 ] && echo "public API: every check passed"
exit $failed
