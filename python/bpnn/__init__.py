"""bpnn: classic backpropagation networks (sigmoid layers, regularized
logistic cost; conjugate gradient, L-BFGS, SGD, momentum, Adam) on the host
CPU or an OpenCL device, over libbpnn, the library of bpnn-cl.

    import bpnn
    bpnn.devices()                          # as bpnn-cl devices lists them
    X, y = bpnn.load_data("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
                          "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz")
    model = bpnn.Model([784, 25, 10])
    result = model.fit(X, y, optimizer="adam", epochs=5, device="cpu")
    model.predict(X[:5]); model.save("model.bpnn"); model.to_onnx("model.onnx")

bpnn.sklearn.BPNNClassifier is a scikit-learn estimator over Model.
"""

# The library first, numpy after: a numpy linked to the system's OpenBLAS
# would load it before libbpnn could choose its kernels (_lib._load).
from ._lib import lib as _library  # noqa: F401
from ._data import load_data
from ._device import (Device, DeviceInfo, blas_core, device, devices, has_opencl, resolve,
                      set_threads, verify)
from ._errors import BPNNError, BPNNRuntimeError, DivergedError, InvalidRequestError
from ._model import (LR_SCHEDULES, NORMALIZATIONS, OPTIMIZERS, Model, Progress, TrainResult,
                     gradient_check, time_evaluations)

__version__ = "0.1.0"

__all__ = [
    "BPNNError", "BPNNRuntimeError", "Device", "DeviceInfo", "DivergedError",
    "InvalidRequestError", "LR_SCHEDULES", "Model", "NORMALIZATIONS", "OPTIMIZERS", "Progress",
    "TrainResult", "blas_core", "device", "devices", "gradient_check", "has_opencl",
    "load_data", "resolve", "set_threads", "time_evaluations", "verify",
]
