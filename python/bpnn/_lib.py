"""ctypes bindings of libbpnn's public API (include/bpnn.h).

The structures below mirror the header field for field; python/tests/
test_abi.py compiles the header and compares every size and offset, so that
a change to the header fails the tests instead of corrupting memory.
"""

import ctypes
import os
import re
import warnings

c_double_p = ctypes.POINTER(ctypes.c_double)
c_int32_p = ctypes.POINTER(ctypes.c_int32)

# enums are ints in C
BPNN_OK = 0
BPNN_ERR_RUNTIME = 1
BPNN_ERR_INVALID = 2
BPNN_ERR_DIVERGED = 3
BPNN_ERR_INTERRUPTED = 130

BPNN_MAX_LAYERS = 32


class Dataset(ctypes.Structure):
    _fields_ = [
        ("rows", ctypes.c_size_t),
        ("features", ctypes.c_size_t),
        ("x", c_double_p),
        ("labels", c_int32_p),
        ("image_width", ctypes.c_int),
        ("image_height", ctypes.c_int),
        ("share_first", ctypes.c_size_t),
        ("share_of", ctypes.c_size_t),
    ]


class LoadOptions(ctypes.Structure):
    _fields_ = [
        ("limit", ctypes.c_size_t),
        ("header", ctypes.c_int),
        ("label_col", ctypes.c_int),
        ("has_labels", ctypes.c_int),
        ("label_offset", ctypes.c_int),
        ("mat_x", ctypes.c_char_p),
        ("mat_y", ctypes.c_char_p),
        ("delimiter", ctypes.c_char),
        ("share_index", ctypes.c_int),
        ("share_count", ctypes.c_int),
    ]


class ModelStruct(ctypes.Structure):
    _fields_ = [
        ("layer_count", ctypes.c_int),
        ("sizes", ctypes.c_int * BPNN_MAX_LAYERS),
        ("precision", ctypes.c_int),
        ("lambda_", ctypes.c_double),
        ("params", c_double_p),
        ("param_count", ctypes.c_size_t),
        ("label_offset", ctypes.c_int),
        ("class_names", ctypes.POINTER(ctypes.c_char_p)),
        ("image_width", ctypes.c_int),
        ("image_height", ctypes.c_int),
        ("normalization", ctypes.c_int),
        ("norm_shift", c_double_p),
        ("norm_scale", c_double_p),
        ("epoch", ctypes.c_int),
    ]


class DeviceStats(ctypes.Structure):
    _fields_ = [
        ("bytes_to_device", ctypes.c_uint64),
        ("bytes_from_device", ctypes.c_uint64),
        ("gemm_seconds", ctypes.c_double),
        ("kernel_seconds", ctypes.c_double),
        ("gemm_calls", ctypes.c_uint64),
        ("kernel_calls", ctypes.c_uint64),
        ("host_syncs", ctypes.c_uint64),
        ("host_wait_seconds", ctypes.c_double),
    ]


class DeviceInfo(ctypes.Structure):
    _fields_ = [
        ("spec", ctypes.c_char * 32),
        ("type", ctypes.c_char * 16),
        ("name", ctypes.c_char * 128),
        ("vendor", ctypes.c_char * 128),
        ("description", ctypes.c_char * 256),
        ("platform_index", ctypes.c_int),
        ("device_index", ctypes.c_int),
        ("compute_units", ctypes.c_uint),
        ("global_memory", ctypes.c_uint64),
        ("max_allocation", ctypes.c_uint64),
        ("fp64", ctypes.c_int),
        ("platform_name", ctypes.c_char * 128),
        ("device_version", ctypes.c_char * 128),
        ("driver_version", ctypes.c_char * 64),
        ("platform_version", ctypes.c_char * 128),
    ]


class Iteration(ctypes.Structure):
    _fields_ = [
        ("kind", ctypes.c_int),
        ("iteration", ctypes.c_int),
        ("evaluations", ctypes.c_int),
        ("cost", ctypes.c_double),
        ("seconds", ctypes.c_double),
        ("train_accuracy", ctypes.c_double),
        ("test_accuracy", ctypes.c_double),
        ("epoch", ctypes.c_int),
        ("epochs", ctypes.c_int),
        ("step", ctypes.c_long),
        ("steps", ctypes.c_long),
        ("samples_per_second", ctypes.c_double),
        ("learning_rate", ctypes.c_double),
        ("val_cost", ctypes.c_double),
        ("val_accuracy", ctypes.c_double),
        ("epoch_seconds", ctypes.c_double),
    ]


PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(Iteration), ctypes.c_void_p)
REDUCE_FN = ctypes.CFUNCTYPE(ctypes.c_int, c_double_p, ctypes.c_size_t, ctypes.c_void_p)
REDUCE_START_FN = ctypes.CFUNCTYPE(ctypes.c_int, c_double_p, ctypes.c_size_t, ctypes.c_void_p,
                                   ctypes.POINTER(ctypes.c_void_p))
REDUCE_WAIT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


class TrainOptions(ctypes.Structure):
    _fields_ = [
        ("lambda_", ctypes.c_double),
        ("optimizer", ctypes.c_int),
        ("max_iter", ctypes.c_int),
        ("gtol", ctypes.c_double),
        ("history", ctypes.c_int),
        ("epochs", ctypes.c_int),
        ("batch", ctypes.c_size_t),
        ("learning_rate", ctypes.c_double),
        ("momentum", ctypes.c_double),
        ("nesterov", ctypes.c_int),
        ("beta1", ctypes.c_double),
        ("beta2", ctypes.c_double),
        ("epsilon", ctypes.c_double),
        ("lr_schedule", ctypes.c_int),
        ("lr_step_epochs", ctypes.c_int),
        ("lr_decay", ctypes.c_double),
        ("warmup_epochs", ctypes.c_int),
        ("seed", ctypes.c_uint64),
        ("validation", ctypes.POINTER(Dataset)),
        ("patience", ctypes.c_int),
        ("checkpoint_path", ctypes.c_char_p),
        ("checkpoint_every", ctypes.c_int),
        ("resume_path", ctypes.c_char_p),
        ("reduce", REDUCE_FN),
        ("reduce_user", ctypes.c_void_p),
        ("reduce_start", REDUCE_START_FN),
        ("reduce_wait", REDUCE_WAIT_FN),
        ("rank", ctypes.c_int),
        ("ranks", ctypes.c_int),
        ("data_fingerprint", ctypes.c_uint32),
        ("validation_fingerprint", ctypes.c_uint32),
        ("progress", PROGRESS_FN),
        ("progress_user", ctypes.c_void_p),
        ("accuracy_every_iteration", ctypes.c_int),
        ("test", ctypes.POINTER(Dataset)),
    ]


class TrainResult(ctypes.Structure):
    _fields_ = [
        ("iterations", ctypes.c_int),
        ("evaluations", ctypes.c_int),
        ("final_cost", ctypes.c_double),
        ("stop_reason", ctypes.c_char_p),
        ("train_seconds", ctypes.c_double),
        ("train_accuracy", ctypes.c_double),
        ("optimizer_transfer_bytes", ctypes.c_uint64),
        ("optimizer_host_syncs", ctypes.c_uint64),
        ("best_epoch", ctypes.c_int),
        ("val_accuracy", ctypes.c_double),
        ("val_cost", ctypes.c_double),
        ("resumed_epoch", ctypes.c_int),
        ("streamed", ctypes.c_int),
    ]


class MemoryPlan(ctypes.Structure):
    _fields_ = [
        ("streamed", ctypes.c_int),
        ("rows_per_block", ctypes.c_size_t),
        ("resident_bytes", ctypes.c_uint64),
        ("streamed_bytes", ctypes.c_uint64),
        ("largest_buffer", ctypes.c_uint64),
        ("device_memory", ctypes.c_uint64),
        ("usable_bytes", ctypes.c_uint64),
        ("max_allocation", ctypes.c_uint64),
    ]


class GradCheck(ctypes.Structure):
    _fields_ = [
        ("count", ctypes.c_size_t),
        ("backprop", c_double_p),
        ("numeric", c_double_p),
        ("cost", ctypes.c_double),
        ("relative_difference", ctypes.c_double),
        ("max_abs_difference", ctypes.c_double),
    ]


class VerifyResult(ctypes.Structure):
    _fields_ = [
        ("op", ctypes.c_char_p),
        ("precision", ctypes.c_int),
        ("error", ctypes.c_double),
        ("threshold", ctypes.c_double),
        ("passed", ctypes.c_int),
        ("cases", ctypes.c_int),
        ("worst_case", ctypes.c_char * 96),
        ("status", ctypes.c_int),
        ("message", ctypes.c_char * 512),
    ]


VERIFY_FN = ctypes.CFUNCTYPE(None, ctypes.POINTER(VerifyResult), ctypes.c_void_p)


def text(value):
    return value.decode("utf-8", "replace") if value is not None else None


# Every structure the bindings pass across, by its C name (for test_abi.py).
STRUCTS = {
    "bpnn_dataset": Dataset,
    "bpnn_load_options": LoadOptions,
    "bpnn_model": ModelStruct,
    "bpnn_device_stats": DeviceStats,
    "bpnn_device_info": DeviceInfo,
    "bpnn_iteration": Iteration,
    "bpnn_train_options": TrainOptions,
    "bpnn_train_result": TrainResult,
    "bpnn_memory_plan": MemoryPlan,
    "bpnn_gradcheck": GradCheck,
    "bpnn_verify_result": VerifyResult,
}
# Python names that differ from the C ones (lambda is a keyword).
C_FIELD_NAMES = {"lambda_": "lambda"}

_status = ctypes.c_int
_dev_p = ctypes.c_void_p
_model_p = ctypes.POINTER(ModelStruct)
_data_p = ctypes.POINTER(Dataset)

# name: (restype, argtypes)
_SIGNATURES = {
    "bpnn_error_message": (ctypes.c_char_p, []),
    "bpnn_precision_name": (ctypes.c_char_p, [ctypes.c_int]),
    "bpnn_dataset_free": (None, [_data_p]),
    "bpnn_dataset_class_count": (ctypes.c_int, [_data_p]),
    "bpnn_load_options_default": (None, [ctypes.POINTER(LoadOptions)]),
    "bpnn_load_data": (_status, [ctypes.c_char_p, ctypes.c_char_p,
                                 ctypes.POINTER(LoadOptions), _data_p]),
    "bpnn_dataset_split": (_status, [_data_p, ctypes.c_double, ctypes.c_uint64, _data_p]),
    "bpnn_dataset_check_labels": (_status, [_data_p, ctypes.c_int, ctypes.c_char_p]),
    "bpnn_model_class_count": (ctypes.c_int, [_model_p]),
    "bpnn_param_count": (ctypes.c_size_t, [ctypes.c_int, ctypes.POINTER(ctypes.c_int)]),
    "bpnn_theta_offset": (ctypes.c_size_t, [ctypes.POINTER(ctypes.c_int), ctypes.c_int]),
    "bpnn_model_create": (_status, [ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.c_int,
                                    ctypes.POINTER(_model_p)]),
    "bpnn_model_free": (None, [_model_p]),
    "bpnn_model_set_class_names": (_status, [_model_p, ctypes.POINTER(ctypes.c_char_p)]),
    "bpnn_init_random": (None, [_model_p, ctypes.c_uint64]),
    "bpnn_init_debug": (None, [c_double_p, ctypes.c_size_t]),
    "bpnn_normalize_fit": (_status, [_model_p, ctypes.c_int, _data_p]),
    "bpnn_normalize_apply": (None, [_model_p, _data_p]),
    "bpnn_model_save": (_status, [_model_p, ctypes.c_char_p]),
    "bpnn_model_load": (_status, [ctypes.c_char_p, ctypes.POINTER(_model_p)]),
    "bpnn_device_open": (_status, [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(_dev_p)]),
    "bpnn_device_close": (None, [_dev_p]),
    "bpnn_device_spec": (ctypes.c_char_p, [_dev_p]),
    "bpnn_device_name": (ctypes.c_char_p, [_dev_p]),
    "bpnn_device_description": (ctypes.c_char_p, [_dev_p]),
    "bpnn_device_get_stats": (None, [_dev_p, ctypes.POINTER(DeviceStats)]),
    "bpnn_device_set_profiling": (None, [_dev_p, ctypes.c_int]),
    "bpnn_device_blas_core": (ctypes.c_char_p, [_dev_p]),
    "bpnn_list_devices": (_status, [ctypes.POINTER(ctypes.POINTER(DeviceInfo)),
                                    ctypes.POINTER(ctypes.c_size_t)]),
    "bpnn_device_list_free": (None, [ctypes.POINTER(DeviceInfo)]),
    "bpnn_has_opencl": (ctypes.c_int, []),
    "bpnn_device_resolve": (_status, [ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                      ctypes.c_size_t]),
    "bpnn_set_threads": (None, [ctypes.c_int]),
    "bpnn_blas_core": (ctypes.c_char_p, []),
    "bpnn_blas_core_best": (ctypes.c_char_p, []),
    "bpnn_blas_core_is_weaker": (ctypes.c_int, []),
    "bpnn_verify": (_status, [_dev_p, ctypes.c_char_p, VERIFY_FN, ctypes.c_void_p,
                              ctypes.POINTER(ctypes.c_int)]),
    "bpnn_export_csv": (_status, [_model_p, ctypes.c_char_p]),
    "bpnn_export_npy": (_status, [_model_p, ctypes.c_char_p]),
    "bpnn_cost_gradient": (_status, [_dev_p, _model_p, _data_p, ctypes.c_double, c_double_p,
                                     c_double_p]),
    "bpnn_optimizer_name": (ctypes.c_char_p, [ctypes.c_int]),
    "bpnn_optimizer_is_minibatch": (ctypes.c_int, [ctypes.c_int]),
    "bpnn_default_learning_rate": (ctypes.c_double, [ctypes.c_int]),
    "bpnn_lr_schedule_name": (ctypes.c_char_p, [ctypes.c_int]),
    "bpnn_train_options_default": (None, [ctypes.POINTER(TrainOptions)]),
    "bpnn_dataset_fingerprint": (_status, [_data_p, ctypes.POINTER(TrainOptions),
                                           ctypes.POINTER(ctypes.c_uint32)]),
    "bpnn_train": (_status, [_dev_p, _model_p, _data_p, ctypes.POINTER(TrainOptions),
                             ctypes.POINTER(TrainResult)]),
    "bpnn_train_plan": (_status, [_dev_p, _model_p, _data_p, ctypes.POINTER(TrainOptions),
                                  ctypes.POINTER(MemoryPlan)]),
    "bpnn_predict": (_status, [_dev_p, _model_p, _data_p, c_int32_p]),
    "bpnn_predict_scores": (_status, [_dev_p, _model_p, _data_p, c_double_p]),
    "bpnn_time_evaluations": (_status, [_dev_p, _model_p, _data_p, ctypes.c_double, ctypes.c_int,
                                        c_double_p]),
    "bpnn_gradient_check": (_status, [_dev_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int),
                                      ctypes.c_size_t, ctypes.c_double, ctypes.c_double,
                                      ctypes.POINTER(GradCheck)]),
    "bpnn_gradcheck_free": (None, [ctypes.POINTER(GradCheck)]),
}


def _openblas_core_from_cpuinfo():
    """The OpenBLAS core this CPU can run, as bpnn_blas_core_best() names it
    from CPUID, read before the library (and OpenBLAS with it) is loaded;
    /proc/cpuinfo lists only the features the kernel enabled, which covers
    the probe's OS-support check."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    match = re.search(r"^flags\s*:(.*)$", text, re.MULTILINE)
    if not match:
        return None
    flags = set(match.group(1).split())
    if {"avx512f", "avx512dq", "avx512bw", "avx512vl"} <= flags:
        return "Cooperlake" if "avx512_bf16" in flags else "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


def _openblas_loaded():
    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as f:
            return "libopenblas" in f.read()
    except OSError:
        return True  # cannot tell: leave OpenBLAS's own choice alone


def _library_path():
    override = os.environ.get("BPNN_LIBRARY")
    if override:
        return override
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "libbpnn.so")


def _load():
    path = _library_path()
    # Debian 12's OpenBLAS takes recent CPUs for a Prescott and runs its
    # slowest kernels; it reads OPENBLAS_CORETYPE once, when it is loaded
    # (docs/environment.md). bpnn-cl re-executes itself with it set; a
    # Python process cannot, so it is set for the load alone, unless the
    # user set it or OpenBLAS is already in the process.
    core = None
    if "OPENBLAS_CORETYPE" not in os.environ and not _openblas_loaded():
        core = _openblas_core_from_cpuinfo()
    if core:
        os.environ["OPENBLAS_CORETYPE"] = core
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(f"cannot load libbpnn: {path}: {e}") from e
    finally:
        if core:
            # children (bpnn-cl, worker processes) make their own choice
            del os.environ["OPENBLAS_CORETYPE"]
    for name, (restype, argtypes) in _SIGNATURES.items():
        function = getattr(lib, name, None)
        if function is None:
            continue  # an older library: the feature that needs it says so
        function.restype = restype
        function.argtypes = argtypes
    if lib.bpnn_blas_core_is_weaker():
        best = text(lib.bpnn_blas_core_best())
        running = text(lib.bpnn_blas_core())
        # as bpnn-cl warns: OpenBLAS was loaded before libbpnn (numpy
        # linked to the system's OpenBLAS and imported before bpnn) or told
        # to run another core
        warnings.warn(f"OpenBLAS runs its {running} kernels, slower than this CPU allows "
                      f"({best}): import bpnn before numpy, or set OPENBLAS_CORETYPE={best}",
                      RuntimeWarning, stacklevel=3)
    return lib


lib = _load()
interrupt_flag = ctypes.c_int.in_dll(lib, "bpnn_interrupt_flag")


def has(name):
    return hasattr(lib, name)
