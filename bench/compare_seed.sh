#!/usr/bin/env bash
# The seed's experiment (5000 Fashion-MNIST images, 784-25-10, lambda 1, CG
# 100 iterations, f64) timed start to exit for bpnn-cl and for the seed's
# numpy+SciPy algorithm (vectorized, and as the seed wrote it with a
# per-sample gradient loop), in one run on one machine; prints the ratios.
# Usage: bench/compare_seed.sh [BPNN_CL=build/bpnn-cl] [RUNS=3]
set -euo pipefail
bpnn=${1:-build/bpnn-cl}
runs=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
seconds() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -n 1; }
best() { sort -g | head -n 1; }

bpnn_times=$(for _ in $(seq "$runs"); do
  seconds "$bpnn" train --device cpu --limit 5000 --layers 784,25,10 --lambda 1 \
    --optimizer cg --max-iter 100 --precision f64 --quiet
done)
accuracy=$("$bpnn" train --device cpu --limit 5000 --layers 784,25,10 --lambda 1 \
  --max-iter 100 --precision f64 --quiet --json | /usr/bin/python3 -c \
  'import json,sys; d=json.load(sys.stdin); print("%.2f%% train, %.2f%% test" % (100*d["train_accuracy"], 100*d["test_accuracy"]))')
numpy_vec=$(seconds /usr/bin/python3 "$here/seed_numpy.py")
numpy_loop=$(seconds /usr/bin/python3 "$here/seed_numpy.py" --per-sample)
numpy_acc=$(/usr/bin/python3 "$here/seed_numpy.py" | /usr/bin/python3 -c \
  'import json,sys; d=json.load(sys.stdin); print("%.2f%% train, %.2f%% test" % (100*d["train_accuracy"], 100*d["test_accuracy"]))')
b=$(echo "$bpnn_times" | best)
echo "bpnn-cl (cpu, f64), best of $runs: ${b} s  ($accuracy)"
echo "numpy+SciPy, vectorized gradient:  ${numpy_vec} s  ($numpy_acc)"
echo "numpy+SciPy, per-sample gradient:  ${numpy_loop} s"
awk -v b="$b" -v v="$numpy_vec" -v l="$numpy_loop" 'BEGIN {
  printf "bpnn-cl takes 1/%.1f of the vectorized run and 1/%.1f of the per-sample run\n", v / b, l / b }'
