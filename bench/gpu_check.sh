#!/usr/bin/env bash
# One device call's worth of GPU checks (issue 3): run it on a lent GPU
# machine from the project root, after preparing here:
#   printf '/.gpu/\n/.gpu.tar.xz\n' >> .git/info/exclude
#   <the GPU machine's prepare script> build && bench/gpu_check.sh --prepare
#   (it copies bpnn-cl and the libraries it loads into .gpu/ with a run.sh that
#   points the OpenCL loader at the NVIDIA driver)
# then, with the device tool: command "tar xJf .gpu.tar.xz && bench/gpu_check.sh",
# carry [".gpu.tar.xz"]. --prepare adds the seed experiment's data (5000
# training images and the t10k test set, 7 MB; that machine has no Debian
# datasets) and CLBlast's tuners for `bpnn-cl tune` (Debian's clblast-utils,
# 3.3 MB, beside bpnn-cl in .gpu/bin, where tune looks after PATH), and packs
# .gpu, 76 MB with OpenBLAS, into 21 MB under the 64 MiB carry limit.
# Everything the checks print is the report.
#
# Issue 8's part: bench, then tune (CLBlast's tuners and the split between
# direct and indirect GEMM for the bench's 784-256-10 step, kept in a tuning
# file), then the same bench again, which applies the file: GEMM GFLOP/s and
# samples/s untuned and tuned in one call. On PoCL here (2 cores) that bench
# takes about 10 s and tune with its default --fraction about 6 minutes,
# nearly all of it building CLBlast's kernels on the CPU; a GPU driver builds
# them in a fraction of that, and the tune step is cut off at 4 minutes.
set -u
tuners="xgemm_direct xgemm copy_fast copy_pad transpose_fast transpose_pad"
if [[ ${1:-} == --prepare ]]; then
  src=/usr/share/datasets/fashion-mnist
  mkdir -p .gpu/data .gpu/bin .gpu/lib
  for t in $tuners; do
    tuner=$(command -v "clblast_tuner_$t") || {
      echo "gpu_check.sh: clblast_tuner_$t not found: apt-get install clblast-utils" >&2
      exit 2
    }
    cp "$tuner" .gpu/bin/
    # the libraries it loads that .gpu/lib lacks (the C and C++ runtimes stay
    # behind, as the GPU machine's prepare script leaves them)
    ldd "$tuner" | awk '/=> \//{print $3}' | while read -r lib; do
      case $(basename "$lib") in
        libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|libstdc++.so.*|libgcc_s.so.*) ;;
        *) [[ -e .gpu/lib/$(basename "$lib") ]] || cp -L "$lib" .gpu/lib/ ;;
      esac
    done
  done
  /usr/bin/python3 - "$src" .gpu/data <<'PY'
import gzip, sys
src, out = sys.argv[1], sys.argv[2]
def head(name, count, record):
    raw = gzip.open(f"{src}/{name}").read()
    dims = raw[4:4 + 4 * raw[3]]
    body = raw[4 + 4 * raw[3]:][: count * record]
    dims = count.to_bytes(4, "big") + dims[4:]
    gzip.open(f"{out}/{name}", "wb").write(raw[:4] + dims + body)
head("train-images-idx3-ubyte.gz", 5000, 784)
head("train-labels-idx1-ubyte.gz", 5000, 1)
head("t10k-images-idx3-ubyte.gz", 10000, 784)
head("t10k-labels-idx1-ubyte.gz", 10000, 1)
PY
  tar cJf .gpu.tar.xz .gpu
  du -sh .gpu.tar.xz
  exit 0
fi
run=.gpu/run.sh
# a tuning folder of this run's own: the first bench runs CLBlast's own parameters
POCL_CACHE_DIR=$(mktemp -d) BPNN_TUNING_DIR=$(mktemp -d)
export BPNN_FASHION_MNIST_DIR=$PWD/.gpu/data POCL_CACHE_DIR BPNN_TUNING_DIR
step() { echo "=== $*"; local started=$SECONDS; "$run" "$@"; echo "=== exit $? after $((SECONDS - started)) s"; }
step bpnn-cl devices
step bpnn-cl verify --device gpu
step bpnn-cl gradcheck --device gpu
CI=true step test_opencl
for precision in f64 f32; do
  for device in gpu cpu; do
    step bpnn-cl train --device "$device" --precision "$precision" --limit 5000 \
      --layers 784,25,10 --lambda 1 --optimizer cg --max-iter 100 --seed 1 --stats --json
  done
done
step bpnn-cl bench --device gpu --precision f32 --samples 60000
step bpnn-cl bench --device cpu --precision f32 --samples 60000
# issue 8: a tuning file with non-default parameters applied and checked
# against the CPU path, then a real tune, then the bench again with its file
CK_RUN_CASE=files step test_tuning_opencl
# (timeout signals the whole process group: the tuner running is stopped too)
echo "=== bpnn-cl tune --device gpu --precision f32 (cut off after 240 s)"
started=$SECONDS
timeout 240 "$run" bpnn-cl tune --device gpu --precision f32
echo "=== exit $? after $((SECONDS - started)) s"
step bpnn-cl devices
step bpnn-cl bench --device gpu --precision f32 --samples 60000
cat "$BPNN_TUNING_DIR"/*.tuning 2>/dev/null
