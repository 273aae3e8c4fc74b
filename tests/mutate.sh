#!/bin/bash
# mutate.sh — a mutation pass over the core and the kernels: each mutant of
# tests/mutants.txt (a small edit of one file) is applied alone to a scratch
# copy of the working tree, which is rebuilt incrementally, and the suites
# listed for it run; a mutant is killed when one of them fails, survives when
# all pass, and is stillborn when it does not build.
#
#   tests/mutate.sh [--check] [ID...]
#
# --check only verifies that every mutant applies (its text occurs where the
# list says). IDs restrict the pass to those mutants. Environment:
#   MUTATE_DIR         the scratch folder (default /tmp/bpnn-mutate): tree/,
#                      build/, pocl-cache/ and the logs of the last pass
#   MUTATE_POCL_SEED   a warm PoCL cache to start pocl-cache/ from (a cold one
#                      costs minutes of CLBlast compiles on the first kernel
#                      mutant)
# Exit status: 0 when every mutant was killed, 1 when some survived or were
# stillborn, 2 on a usage or setup error.
set -u

source_dir=$(cd "$(dirname "$0")/.." && pwd)
scratch=${MUTATE_DIR:-/tmp/bpnn-mutate}
list=$source_dir/tests/mutants.txt
check_only=0
wanted=()
for arg in "$@"; do
    case $arg in
    --check) check_only=1 ;;
    -h | --help)
        sed -n '2,20p' "$0"
        exit 0
        ;;
    -*)
        echo "mutate.sh: unknown option $arg" >&2
        exit 2
        ;;
    *) wanted+=("$arg") ;;
    esac
done

# Applies one mutant to the file $1: replaces occurrence $2 (0: the only one)
# of $3 by $4, literally, with \n standing for a newline. Fails (status 3)
# when the text is not where the list says.
apply_mutant() {
    MUTANT_OCC=$2 MUTANT_FROM=$3 MUTANT_TO=$4 perl -0777 -i -pe '
        BEGIN { ($from, $to) = map { s/\\n/\n/g; $_ } ($ENV{MUTANT_FROM}, $ENV{MUTANT_TO}); }
        my $n = () = /\Q$from\E/g;
        my $occ = $ENV{MUTANT_OCC};
        if (($occ == 0 && $n != 1) || $occ > $n) {
            print STDERR "occurs $n times\n";
            exit 3;
        }
        my $seen = 0;
        s/\Q$from\E/++$seen == ($occ || 1) ? $to : $from/ge;
    ' "$1"
}

selected() {
    [ ${#wanted[@]} -eq 0 ] && return 0
    local id
    for id in "${wanted[@]}"; do
        [ "$id" = "$1" ] && return 0
    done
    return 1
}

mkdir -p "$scratch" || exit 2
echo "copying $source_dir to $scratch/tree"
# Files newer in the scratch tree are kept: they are the ones restored after
# a mutant, whose objects the last pass rebuilt from the restored text.
mkdir -p "$scratch/tree"
(cd "$source_dir" && tar --exclude=./.git --exclude='./build*' -cf - .) |
    (cd "$scratch/tree" && tar --keep-newer-files -xf - 2>/dev/null) || exit 2
tree=$scratch/tree
build=$scratch/build

if [ $check_only = 1 ]; then
    status=0
    while IFS=$'\t' read -r id file occurrence suites from to; do
        case $id in '#'* | '') continue ;; esac
        selected "$id" || continue
        cp "$tree/$file" "$scratch/check.tmp"
        if ! message=$(apply_mutant "$scratch/check.tmp" "$occurrence" "$from" "$to" 2>&1); then
            echo "does not apply: $id ($file: $message)"
            status=1
        elif cmp -s "$tree/$file" "$scratch/check.tmp"; then
            echo "changes nothing: $id"
            status=1
        fi
    done <"$list"
    rm -f "$scratch/check.tmp"
    [ $status = 0 ] && echo "every mutant applies"
    exit $status
fi

if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$tree" >"$scratch/setup.log" 2>&1 || {
        echo "mutate.sh: meson setup failed, see $scratch/setup.log" >&2
        exit 2
    }
fi
ninja -C "$build" >"$scratch/build.log" 2>&1 || {
    echo "mutate.sh: the unmutated tree does not build, see $scratch/build.log" >&2
    exit 2
}
mkdir -p "$scratch/pocl-cache"
if [ -n "${MUTATE_POCL_SEED:-}" ] && [ -z "$(ls -A "$scratch/pocl-cache")" ]; then
    cp -a "$MUTATE_POCL_SEED/." "$scratch/pocl-cache/"
fi
mkdir -p "$scratch/logs"

# Every suite the list names must pass on the unmutated tree, or a failure
# would say nothing about a mutant.
all_suites=$(grep -v '^#' "$list" | cut -f4 | tr , '\n' | sort -u | paste -sd' ' -)
echo "baseline: $all_suites"
# shellcheck disable=SC2086
if ! POCL_CACHE_DIR=$scratch/pocl-cache meson test -C "$build" --no-rebuild --print-errorlogs \
    $all_suites >"$scratch/logs/baseline.log" 2>&1; then
    echo "mutate.sh: the unmutated tree fails its suites, see $scratch/logs/baseline.log" >&2
    exit 2
fi

killed=0 total=0
survivors=() stillborn=()
while IFS=$'\t' read -r id file occurrence suites from to <&3; do
    case $id in '#'* | '') continue ;; esac
    selected "$id" || continue
    total=$((total + 1))
    log=$scratch/logs/$id.log
    cp "$tree/$file" "$scratch/original"
    if ! apply_mutant "$tree/$file" "$occurrence" "$from" "$to" >"$log" 2>&1; then
        echo "STILLBORN  $id (does not apply: $(cat "$log"))"
        stillborn+=("$id")
        cat "$scratch/original" >"$tree/$file"
        continue
    fi
    targets=()
    IFS=, read -r -a names <<<"$suites"
    for name in "${names[@]}"; do
        targets+=("tests/test_$name")
    done
    started=$(date +%s)
    if ! ninja -C "$build" "${targets[@]}" >>"$log" 2>&1; then
        echo "STILLBORN  $id (does not build)"
        stillborn+=("$id")
    else
        # Timeouts count as kills (a mutant that loops forever); they are cut
        # short so that one costs a minute, not meson's five.
        if CK_TIMEOUT_MULTIPLIER=0.25 POCL_CACHE_DIR=$scratch/pocl-cache \
            meson test -C "$build" --no-rebuild --print-errorlogs --timeout-multiplier 0.25 \
            "${names[@]}" \
            >>"$log" 2>&1; then
            echo "SURVIVED   $id ($suites, $(($(date +%s) - started)) s)"
            survivors+=("$id")
        else
            failed=$(sed -n 's/^ *[0-9]*\/[0-9]* \([a-z_]*\) *\(FAIL\|TIMEOUT\).*/\1/p' "$log" |
                sort -u | paste -sd, -)
            echo "KILLED     $id (by ${failed:-a failed test run}, $(($(date +%s) - started)) s)"
            killed=$((killed + 1))
        fi
    fi
    # Rewritten, not copied back: the new time stamp makes ninja rebuild the
    # file for the next mutant.
    cat "$scratch/original" >"$tree/$file"
done 3<"$list"
rm -f "$scratch/original"
# Leave the build as the tree is, unmutated, for the next pass.
ninja -C "$build" >"$scratch/build.log" 2>&1

echo "mutation score: $killed killed of $total"
[ ${#survivors[@]} -gt 0 ] && echo "survived: ${survivors[*]}"
[ ${#stillborn[@]} -gt 0 ] && echo "stillborn: ${stillborn[*]}"
[ $killed = "$total" ]
