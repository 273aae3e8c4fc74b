"""bpnn_dataset over numpy arrays, and the library's loaders."""

import ctypes
import os

import numpy as np

from . import _lib
from ._errors import check
from ._lib import lib


class _ArrayView:
    """Exposes C memory to numpy while keeping its owner alive: the array's
    base is this object, which holds the owner."""

    def __init__(self, owner, address, shape, dtype, readonly=False):
        self.owner = owner
        self.__array_interface__ = {
            "shape": tuple(shape),
            "typestr": np.dtype(dtype).str,
            "data": (address, readonly),
            "version": 3,
        }


def view(owner, address, shape, dtype, readonly=False):
    if not address or 0 in tuple(shape):
        return np.zeros(shape, dtype)
    return np.asarray(_ArrayView(owner, address, shape, dtype, readonly))


class Data:
    """A bpnn_dataset. Over numpy arrays it points into them (float64 and
    int32, C order: no copy when the caller's arrays are already so) and
    keeps them referenced; owned=True means the library allocated it and
    bpnn_dataset_free releases it."""

    def __init__(self, x=None, labels=None, owned=False):
        self.struct = _lib.Dataset()
        self.owned = owned
        self.x = None
        self.labels = None
        if x is not None:
            self.set_arrays(x, labels)

    def set_arrays(self, x, labels):
        self.x = x
        self.labels = labels
        s = self.struct
        s.rows, s.features = x.shape
        s.x = x.ctypes.data_as(_lib.c_double_p)
        s.labels = labels.ctypes.data_as(_lib.c_int32_p) if labels is not None else None

    @property
    def ref(self):
        return ctypes.byref(self.struct)

    @property
    def pointer(self):
        return ctypes.pointer(self.struct)

    def arrays(self):
        """X and y as numpy arrays (views of C memory when owned)."""
        s = self.struct
        if not self.owned:
            return self.x, self.labels
        x = view(self, ctypes.cast(s.x, ctypes.c_void_p).value, (s.rows, s.features), np.float64)
        y = None
        if s.labels:
            y = view(self, ctypes.cast(s.labels, ctypes.c_void_p).value, (s.rows,), np.int32)
        return x, y

    def __del__(self):
        if self.owned and lib is not None:
            lib.bpnn_dataset_free(ctypes.byref(self.struct))


def as_features(X, copy=False, name="X"):
    """X as C-ordered float64 rows x features: the caller's array itself
    when it is one already (and copy is False)."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional (rows x features), got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {X.dtype}")
    out = np.require(X, dtype=np.float64, requirements=["C_CONTIGUOUS", "ALIGNED"])
    if copy and np.shares_memory(out, X):
        out = out.copy()
    return out


def as_classes(y, rows, name="y"):
    """Class indices 0..K-1 as C-ordered int32."""
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != rows:
        raise ValueError(f"{name} must be 1-dimensional with one class a row ({rows}), "
                         f"got shape {y.shape}")
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold integer class indices, got dtype {y.dtype}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError(f"{name} must hold integer class indices")
    if y.size and (y.min() < 0 or y.max() > np.iinfo(np.int32).max):
        raise ValueError(f"{name} must hold class indices 0..K-1")
    return np.require(y, dtype=np.int32, requirements=["C_CONTIGUOUS", "ALIGNED"])


def from_arrays(X, y=None, copy=False, name="X"):
    X = as_features(X, copy=copy, name=name)
    labels = as_classes(y, X.shape[0]) if y is not None else None
    return Data(X, labels)


def split(data, fraction, seed):
    """bpnn_dataset_split over a data set held in numpy memory: the same rows
    held out as bpnn-cl train --val-split F --seed S. The library's split
    frees the arrays it is given (bpnn_dataset_free, free()) and allocates
    the two parts, so it is given a malloc'd copy, never numpy's buffer."""
    x, y = data.arrays()
    owned = Data(owned=True)
    s = owned.struct
    s.rows, s.features = x.shape
    s.share_first, s.share_of = data.struct.share_first, data.struct.share_of
    nx = x.size * 8
    s.x = ctypes.cast(_libc_malloc(max(nx, 8)), _lib.c_double_p)
    if not s.x:
        raise MemoryError("the validation split")
    ctypes.memmove(s.x, x.ctypes.data, nx)
    if y is not None:
        s.labels = ctypes.cast(_libc_malloc(max(y.size * 4, 4)), _lib.c_int32_p)
        if not s.labels:
            raise MemoryError("the validation split")
        ctypes.memmove(s.labels, y.ctypes.data, y.size * 4)
    validation = Data(owned=True)
    check(lib.bpnn_dataset_split(owned.ref, float(fraction), int(seed), validation.ref))
    return owned, validation


_libc = ctypes.CDLL(None)
_libc.malloc.restype = ctypes.c_void_p
_libc.malloc.argtypes = [ctypes.c_size_t]


def _libc_malloc(size):
    return _libc.malloc(size)


_HEADERS = {"auto": 0, "yes": 1, "no": 2, True: 1, False: 2, None: 0}
_DELIMITERS = {None: b"\0", ",": b",", ";": b";", "\t": b"\t", "tab": b"\t"}


def load_data(path, labels=None, *, limit=0, header="auto", label_col=0, has_labels=True,
              labels_from=0, mat_x="X", mat_y="y", delimiter=None):
    """Reads a data set as bpnn-cl does (IDX raw or .gz, CSV, MAT; chosen by
    content): returns (X, y), X float64 rows x features (IDX pixels p / 255),
    y int32 classes (label - labels_from), or None without labels. The
    arrays are the library's memory, not copies."""
    options = _lib.LoadOptions()
    lib.bpnn_load_options_default(ctypes.byref(options))
    options.limit = int(limit)
    if header not in _HEADERS:
        raise ValueError(f"header must be 'auto', 'yes' or 'no', got {header!r}")
    options.header = _HEADERS[header]
    options.label_col = int(label_col)
    options.has_labels = 1 if has_labels else 0
    options.label_offset = int(labels_from)
    options.mat_x = mat_x.encode()
    options.mat_y = mat_y.encode()
    if delimiter not in _DELIMITERS:
        raise ValueError(f"delimiter must be ',', ';' or 'tab', got {delimiter!r}")
    options.delimiter = _DELIMITERS[delimiter]
    data = Data(owned=True)
    check(lib.bpnn_load_data(os.fsencode(path), os.fsencode(labels) if labels else None,
                             ctypes.byref(options), data.ref))
    return data.arrays()
