"""Compute devices: the host CPU path and OpenCL devices, named as bpnn-cl's
--device names them ("cpu", "gpu", "opencl", "opencl:P:D", "auto")."""

import ctypes
import threading
from dataclasses import dataclass

from . import _lib
from ._errors import BPNNError, check
from ._lib import lib

_PRECISIONS = {"f32": 0, "f64": 1}


def precision_code(precision):
    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be 'f32' or 'f64', got {precision!r}")
    return _PRECISIONS[precision]


def precision_name(code):
    return _lib.text(lib.bpnn_precision_name(code))


class Device:
    """An opened device. Opening an OpenCL device builds its programs, so
    bpnn's functions keep the devices they open by name (see device());
    calls on one device are serialized (it holds per-device buffers)."""

    def __init__(self, spec="auto", precision="f32"):
        handle = ctypes.c_void_p()
        check(lib.bpnn_device_open(spec.encode() if spec is not None else None,
                                   precision_code(precision), ctypes.byref(handle)))
        self._handle = handle
        self.precision = precision
        self.lock = threading.RLock()

    @property
    def handle(self):
        if not self._handle:
            raise ValueError("the device is closed")
        return self._handle

    @property
    def spec(self):
        """The resolved name, e.g. "cpu" or "opencl:0:0"."""
        return _lib.text(lib.bpnn_device_spec(self.handle))

    @property
    def name(self):
        return _lib.text(lib.bpnn_device_name(self.handle))

    @property
    def description(self):
        return _lib.text(lib.bpnn_device_description(self.handle))

    @property
    def blas_core(self):
        """The OpenBLAS kernel family, or None on OpenCL devices."""
        return _lib.text(lib.bpnn_device_blas_core(self.handle))

    def stats(self):
        """What crossed between host and device and where the time went
        (bpnn-cl train --stats); the timings need profiling on."""
        s = _lib.DeviceStats()
        lib.bpnn_device_get_stats(self.handle, ctypes.byref(s))
        return {name: getattr(s, name) for name, _ in s._fields_}

    def set_profiling(self, on):
        lib.bpnn_device_set_profiling(self.handle, 1 if on else 0)

    def close(self):
        if self._handle:
            lib.bpnn_device_close(self._handle)
            self._handle = ctypes.c_void_p()

    def __del__(self):
        if getattr(self, "_handle", None) and lib is not None:
            lib.bpnn_device_close(self._handle)

    def __repr__(self):
        if not self._handle:
            return "<bpnn.Device closed>"
        return f"<bpnn.Device {self.spec} ({self.name}), {self.precision}>"


_opened = {}
_opened_lock = threading.Lock()


def device(spec="auto", precision="f32"):
    """The device `spec` in `precision`, opened once per process and kept."""
    if isinstance(spec, Device):
        return spec
    if spec is None:
        spec = "auto"
    if not isinstance(spec, str):
        raise TypeError(f"device must be a name such as 'cpu' or a bpnn.Device, got {spec!r}")
    precision_code(precision)
    key = (spec, precision)
    with _opened_lock:
        if key not in _opened:
            _opened[key] = Device(spec, precision)
        return _opened[key]


@dataclass(frozen=True)
class DeviceInfo:
    """One entry of bpnn-cl devices."""

    spec: str
    type: str
    name: str
    vendor: str
    description: str
    platform_index: int
    device_index: int
    compute_units: int
    global_memory: int
    max_allocation: int
    fp64: bool
    platform_name: str
    device_version: str
    driver_version: str
    platform_version: str


def devices():
    """Every compute device, the host CPU first, then each OpenCL device in
    enumeration order; `spec` is the --device name (device="opencl:0:0")."""
    if not _lib.has("bpnn_list_devices"):
        raise BPNNError("this libbpnn cannot list devices (no bpnn_list_devices)")
    listing = ctypes.POINTER(_lib.DeviceInfo)()
    count = ctypes.c_size_t()
    check(lib.bpnn_list_devices(ctypes.byref(listing), ctypes.byref(count)))
    try:
        out = []
        for i in range(count.value):
            d = listing[i]
            out.append(DeviceInfo(
                spec=_lib.text(d.spec), type=_lib.text(d.type), name=_lib.text(d.name),
                vendor=_lib.text(d.vendor), description=_lib.text(d.description),
                platform_index=d.platform_index, device_index=d.device_index,
                compute_units=d.compute_units, global_memory=d.global_memory,
                max_allocation=d.max_allocation, fp64=bool(d.fp64),
                platform_name=_lib.text(d.platform_name),
                device_version=_lib.text(d.device_version),
                driver_version=_lib.text(d.driver_version),
                platform_version=_lib.text(d.platform_version)))
        return out
    finally:
        lib.bpnn_device_list_free(listing)


def resolve(spec="auto", precision="f32"):
    """The device `spec` selects ("cpu", "opencl:0:1"), without opening it;
    None when "gpu" or "opencl" finds none."""
    out = ctypes.create_string_buffer(64)
    check(lib.bpnn_device_resolve(spec.encode(), precision_code(precision), out, len(out)))
    return _lib.text(out.value) or None


def has_opencl():
    """Whether this libbpnn was built with its OpenCL path."""
    return bool(lib.bpnn_has_opencl())


def verify(spec="auto", precision="f32", only=None):
    """bpnn-cl verify: every op the training uses, on the device and on the
    host path, on random inputs of awkward sizes. Returns one dict per op
    (op, precision, error, threshold, passed, cases, worst_case, and the
    message of a call that failed)."""
    results = []

    def report(pointer, user):
        r = pointer.contents
        results.append({"op": _lib.text(r.op), "precision": precision_name(r.precision),
                        "error": r.error, "threshold": r.threshold, "passed": bool(r.passed),
                        "cases": r.cases, "worst_case": _lib.text(r.worst_case),
                        "status": r.status, "message": _lib.text(r.message)})

    callback = _lib.VERIFY_FN(report)
    dev = device(spec, precision)
    with dev.lock:
        check(lib.bpnn_verify(dev.handle, only.encode() if only else None, callback, None,
                              None))
    return results


def set_threads(threads):
    """Host threads for BLAS and the library's loops (bpnn-cl --threads)."""
    lib.bpnn_set_threads(int(threads))


def blas_core():
    """The OpenBLAS kernel family in use, e.g. "SkylakeX"."""
    return _lib.text(lib.bpnn_blas_core())
