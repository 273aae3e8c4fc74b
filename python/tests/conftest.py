"""Shared settings of the Python package's tests.

BPNN_CLI names the bpnn-cl built from the same tree (scripts/test.sh sets
it); the tests that compare with the program skip without it. The tests
import the installed package (pip install . at the root)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import bpnn  # noqa: F401  before numpy: bpnn's OpenBLAS kernels are chosen as it loads

REPO = Path(__file__).resolve().parents[2]
INCLUDE_DIR = os.environ.get("BPNN_INCLUDE", str(REPO / "include"))
FASHION = Path(os.environ.get("BPNN_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))


def cli_path():
    path = os.environ.get("BPNN_CLI") or shutil.which("bpnn-cl")
    if not path:
        pytest.skip("BPNN_CLI does not name a bpnn-cl to compare with")
    return path


def run_cli(*args, check=True):
    result = subprocess.run([cli_path(), *map(str, args)], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"bpnn-cl {' '.join(map(str, args))}: exit {result.returncode}: "
                             f"{result.stderr}")
    return result


def cli_error(*args):
    """bpnn-cl's one-line error, without its "bpnn-cl: " prefix."""
    result = run_cli(*args, check=False)
    assert result.returncode != 0
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("bpnn-cl: ")
    return line[len("bpnn-cl: "):]


def fashion(split="train"):
    images = FASHION / f"{split}-images-idx3-ubyte.gz"
    labels = FASHION / f"{split}-labels-idx1-ubyte.gz"
    if not images.exists():
        pytest.skip(f"Fashion-MNIST is not installed ({FASHION}): apt-get install "
                    "dataset-fashion-mnist")
    return str(images), str(labels)


@pytest.fixture(scope="session")
def fashion_small():
    """The first 2000 Fashion-MNIST training images and labels."""
    return bpnn.load_data(*fashion("train"), limit=2000)
