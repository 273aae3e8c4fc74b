#!/bin/sh
# Installs the Debian packages bpnn-cl builds, tests and trains with, when
# any is missing. Works as root and as a user with sudo.
set -eu
packages="gcc meson ninja-build pkg-config python3 python3-venv check libopenblas-dev zlib1g-dev
  libjansson-dev ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo libclblast-dev
  clblast-utils dataset-fashion-mnist python3-numpy libcairo2-dev fonts-dejavu-core libmatio-dev
  libopenmpi-dev openmpi-bin"
# The test command (scripts/test.sh) also fuzzes (clang's libFuzzer) and runs
# the kernels on Oclgrind, a simulated GPU.
# The Python package's tests run a second time over Debian's scikit-learn 1.2.
if [ -n "${BPNN_TEST_TOOLS:-}" ]; then
  packages="$packages clang libclang-rt-14-dev oclgrind python3-sklearn python3-pandas python3-pytest"
fi
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
echo "install-deps: installing$missing" >&2
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing
