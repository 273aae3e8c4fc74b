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
# datasets) and packs .gpu, 76 MB with OpenBLAS, into 21 MB under the 64 MiB
# carry limit. Everything the checks print is the report.
set -u
if [[ ${1:-} == --prepare ]]; then
  src=/usr/share/datasets/fashion-mnist
  mkdir -p .gpu/data
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
export BPNN_FASHION_MNIST_DIR=$PWD/.gpu/data POCL_CACHE_DIR=$(mktemp -d)
step() { echo "=== $*"; "$run" "$@"; echo "=== exit $?"; }
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
