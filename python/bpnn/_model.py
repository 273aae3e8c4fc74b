"""bpnn.Model: a network, its training and its predictions, over libbpnn."""

import ctypes
import json
import math
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from . import _lib
from ._data import from_arrays, split, view
from ._device import device as _open_device
from ._device import precision_code, precision_name
from ._errors import InvalidRequestError, check
from ._lib import lib

OPTIMIZERS = ("cg", "lbfgs", "sgd", "momentum", "adam")
LR_SCHEDULES = ("constant", "step", "cosine")
NORMALIZATIONS = ("none", "zscore", "minmax")
_PROGRESS_KINDS = ("iteration", "step", "epoch")


@dataclass
class Progress:
    """One progress report (bpnn_iteration): kind "iteration" (cg, lbfgs),
    "step" (mini-batch, every step) or "epoch" (mini-batch, its metrics).
    Values not measured are None."""

    kind: str
    iteration: int
    evaluations: int
    cost: float
    seconds: float
    train_accuracy: Optional[float]
    test_accuracy: Optional[float]
    epoch: int
    epochs: int
    step: int
    steps: int
    samples_per_second: float
    learning_rate: float
    val_cost: Optional[float]
    val_accuracy: Optional[float]
    epoch_seconds: float

    @classmethod
    def from_struct(cls, it):
        def measured(value):
            return value if value >= 0 else None

        return cls(
            kind=_PROGRESS_KINDS[it.kind] if 0 <= it.kind < 3 else str(it.kind),
            iteration=it.iteration, evaluations=it.evaluations, cost=it.cost,
            seconds=it.seconds, train_accuracy=measured(it.train_accuracy),
            test_accuracy=measured(it.test_accuracy), epoch=it.epoch, epochs=it.epochs,
            step=it.step, steps=it.steps, samples_per_second=it.samples_per_second,
            learning_rate=it.learning_rate, val_cost=measured(it.val_cost),
            val_accuracy=measured(it.val_accuracy), epoch_seconds=it.epoch_seconds)

    def record(self):
        """The object bpnn-cl train --log writes for an iteration or an epoch
        (one JSON line each; non-finite numbers as null)."""
        def number(value):
            return value if value is not None and math.isfinite(value) else None

        if self.kind == "epoch":
            out = {"epoch": self.epoch, "steps": self.steps, "cost": number(self.cost)}
            if self.val_cost is not None:
                out["val_cost"] = number(self.val_cost)
            if self.val_accuracy is not None:
                out["val_accuracy"] = number(self.val_accuracy)
            out.update(learning_rate=number(self.learning_rate),
                       samples_per_second=number(self.samples_per_second),
                       epoch_seconds=self.epoch_seconds)
        else:
            out = {"iteration": self.iteration, "evaluations": self.evaluations,
                   "cost": number(self.cost)}
        out["seconds"] = self.seconds
        if self.train_accuracy is not None:
            out["train_accuracy"] = number(self.train_accuracy)
        if self.test_accuracy is not None:
            out["test_accuracy"] = number(self.test_accuracy)
        return out

    def line(self):
        """The line bpnn-cl train prints for an iteration or an epoch."""
        if self.kind == "iteration":
            text = (f"iteration {self.iteration:5d} | cost {self.cost:.6e} | "
                    f"evaluations {self.evaluations} | {self.seconds:.2f} s")
        else:
            text = (f"epoch {self.epoch:3d}/{self.epochs} | cost {self.cost:.6f} | "
                    f"lr {self.learning_rate:.3g} | {self.samples_per_second:.0f} samples/s | "
                    f"{self.epoch_seconds:.2f} s")
            if self.val_accuracy is not None:
                text += f" | val {100 * self.val_accuracy:.2f}% cost {self.val_cost:.6f}"
        if self.train_accuracy is not None:
            text += f" | train {100 * self.train_accuracy:.2f}%"
        if self.test_accuracy is not None:
            text += f" | test {100 * self.test_accuracy:.2f}%"
        return text


@dataclass
class TrainResult:
    """What bpnn_train reports (bpnn-cl train --json's names), and the
    iteration or epoch reports of the run in `history`."""

    iterations: int
    evaluations: int
    final_cost: float
    stop_reason: str
    train_seconds: float
    train_accuracy: float
    optimizer_transfer_bytes: int
    optimizer_host_syncs: int
    best_epoch: int
    val_accuracy: Optional[float]
    val_cost: Optional[float]
    resumed_epoch: int
    streamed: bool
    device: str = ""
    history: List[Progress] = field(default_factory=list)


# Options by the library's field names; None leaves the library's default
# (bpnn_train_options_default, the CLI's defaults).
_MINIBATCH_ONLY = ("epochs", "batch", "lr", "momentum", "nesterov", "beta1", "beta2", "epsilon",
                   "lr_schedule", "lr_step", "lr_decay", "warmup", "val_split", "validation",
                   "patience", "checkpoint", "checkpoint_every", "resume")
_FULLBATCH_ONLY = ("max_iter", "gtol", "history")
_ONLY_FOR = {"history": "lbfgs", "momentum": "momentum", "nesterov": "momentum",
             "beta1": "adam", "beta2": "adam", "epsilon": "adam"}


def _resolve_optimizer(optimizer, given):
    """The optimizer and the options given, checked as bpnn-cl train checks
    its flags: mini-batch options without an optimizer mean adam; an option
    the optimizer does not take is refused."""
    minibatch_given = [k for k in _MINIBATCH_ONLY if k in given]
    fullbatch_given = [k for k in _FULLBATCH_ONLY if k in given]
    if optimizer is None:
        optimizer = "adam" if minibatch_given else "cg"
    if optimizer not in OPTIMIZERS:
        raise InvalidRequestError(f"unknown optimizer: {optimizer!r}: expected cg, lbfgs, sgd, "
                                  "momentum or adam")
    minibatch = optimizer in ("sgd", "momentum", "adam")
    if minibatch and fullbatch_given:
        raise InvalidRequestError(f"{fullbatch_given[0]} is for cg and lbfgs, not optimizer "
                                  f"{optimizer}: mini-batch runs are set by epochs and batch")
    if not minibatch and minibatch_given:
        raise InvalidRequestError(f"{minibatch_given[0]} is for the mini-batch optimizers "
                                  f"(sgd, momentum, adam), not optimizer {optimizer}")
    for name, only in _ONLY_FOR.items():
        if name in given and optimizer != only:
            raise InvalidRequestError(f"{name} is for optimizer {only}, not {optimizer}")
    if "val_split" in given and "validation" in given:
        raise InvalidRequestError("val_split and validation exclude each other")
    if given.get("patience") and "val_split" not in given and "validation" not in given:
        raise InvalidRequestError("patience needs a validation set: val_split or validation")
    if ("lr_step" in given or "lr_decay" in given) and given.get("lr_schedule") != "step":
        raise InvalidRequestError("lr_step and lr_decay are for lr_schedule 'step'")
    if "checkpoint_every" in given and "checkpoint" not in given and "resume" not in given:
        raise InvalidRequestError("checkpoint_every needs checkpoint")
    return optimizer


def _choice(name, value, choices):
    if value not in choices:
        raise InvalidRequestError(f"unknown {name}: {value!r}: expected one of "
                                  f"{', '.join(choices)}")
    return choices.index(value)


class _Interruptible:
    """Ctrl-C during a training: while the library runs, the GIL is
    released and Python's SIGINT handler waits for Python code to run on
    the main thread. The progress callback, called at every iteration or
    step, is such code: the handler installed here runs there and sets
    bpnn_interrupt_flag, which the library reads at its next cost evaluation
    or step and stops with BPNN_ERR_INTERRUPTED, the model's parameters as
    they were; fit() then raises KeyboardInterrupt."""

    def __init__(self):
        self.fired = False
        self.previous = None
        self.installed = False

    def _handler(self, signum, frame):
        self.fired = True
        _lib.interrupt_flag.value = 1

    def __enter__(self):
        _lib.interrupt_flag.value = 0
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            # a handler set outside Python cannot be put back: leave it be;
            # an ignored Ctrl-C stays ignored
            if previous is not None and previous is not signal.SIG_IGN:
                self.previous = signal.signal(signal.SIGINT, self._handler)
                self.installed = True
        return self

    def __exit__(self, *exc):
        if self.installed:
            signal.signal(signal.SIGINT, self.previous)
        _lib.interrupt_flag.value = 0
        return False


class _Run:
    """The data sets, options and device of one training, kept referenced
    while the library holds pointers into them."""


class Model:
    """A network and everything needed to apply it to raw data again
    (bpnn_model): the same model files as bpnn-cl train --out.

    Model([784, 25, 10]) has zero parameters until fit() (or init_random());
    parameters are held as float64 whatever the precision, the order
    Theta_1, Theta_2, ..., each (sizes[l+1], sizes[l] + 1) with the bias
    weights in column 0. `params` and `thetas` are views of the model's own
    memory: writing them changes the model."""

    def __init__(self, layers, precision="f32"):
        layers = [int(s) for s in layers]
        sizes = (ctypes.c_int * max(len(layers), 1))(*layers)
        ptr = ctypes.POINTER(_lib.ModelStruct)()
        check(lib.bpnn_model_create(len(layers), sizes, precision_code(precision),
                                    ctypes.byref(ptr)))
        self._ptr = ptr

    @classmethod
    def _adopt(cls, ptr):
        model = cls.__new__(cls)
        model._ptr = ptr
        return model

    @classmethod
    def load(cls, path):
        """A model file written by bpnn-cl train --out or Model.save."""
        ptr = ctypes.POINTER(_lib.ModelStruct)()
        check(lib.bpnn_model_load(os.fsencode(path), ctypes.byref(ptr)))
        return cls._adopt(ptr)

    def save(self, path):
        """Written whole to a temporary file, then renamed into place."""
        check(lib.bpnn_model_save(self._ptr, os.fsencode(path)))

    def __del__(self):
        ptr = getattr(self, "_ptr", None)
        if ptr and lib is not None:
            lib.bpnn_model_free(ptr)
            self._ptr = None

    @property
    def _s(self):
        return self._ptr.contents

    # ---- layout and metadata ------------------------------------------------

    @property
    def layers(self):
        """Units per layer: input, hidden..., output."""
        s = self._s
        return tuple(s.sizes[i] for i in range(s.layer_count))

    @property
    def n_features(self):
        return self.layers[0]

    @property
    def n_classes(self):
        return int(lib.bpnn_model_class_count(self._ptr))

    @property
    def param_count(self):
        return int(self._s.param_count)

    @property
    def precision(self):
        return precision_name(self._s.precision)

    @precision.setter
    def precision(self, value):
        self._s.precision = precision_code(value)

    @property
    def lambda_(self):
        """The regularization the model was trained with (--lambda)."""
        return self._s.lambda_

    @lambda_.setter
    def lambda_(self, value):
        self._s.lambda_ = float(value)

    @property
    def label_offset(self):
        """File label = class + label_offset (bpnn-cl --labels-from)."""
        return self._s.label_offset

    @label_offset.setter
    def label_offset(self, value):
        self._s.label_offset = int(value)

    @property
    def class_names(self):
        names = self._s.class_names
        if not names:
            return None
        return [_lib.text(names[k]) for k in range(self.n_classes)]

    @class_names.setter
    def class_names(self, names):
        if names is None:
            check(lib.bpnn_model_set_class_names(self._ptr, None))
            return
        names = [str(n) for n in names]
        if len(names) != self.n_classes:
            raise ValueError(f"{len(names)} class names for {self.n_classes} classes")
        array = (ctypes.c_char_p * len(names))(*(n.encode() for n in names))
        check(lib.bpnn_model_set_class_names(self._ptr, array))

    @property
    def image_shape(self):
        """(width, height) of image inputs, or None."""
        s = self._s
        return (s.image_width, s.image_height) if s.image_width > 0 else None

    @image_shape.setter
    def image_shape(self, shape):
        width, height = shape if shape else (0, 0)
        self._s.image_width, self._s.image_height = int(width), int(height)

    @property
    def epoch(self):
        """Mini-batch: the epoch whose parameters these are; 0 for cg, lbfgs."""
        return self._s.epoch

    # ---- parameters -----------------------------------------------------------

    @property
    def params(self):
        """The flat parameter vector: a float64 view of the model's memory."""
        s = self._s
        return view(self, ctypes.cast(s.params, ctypes.c_void_p).value, (s.param_count,),
                    np.float64)

    @params.setter
    def params(self, values):
        self.params[:] = values

    @property
    def thetas(self):
        """Theta_1, Theta_2, ...: views (sizes[l+1], sizes[l] + 1), bias column 0."""
        flat = self.params
        layers = self.layers
        out, at = [], 0
        for layer in range(len(layers) - 1):
            rows, cols = layers[layer + 1], layers[layer] + 1
            out.append(flat[at:at + rows * cols].reshape(rows, cols))
            at += rows * cols
        return out

    def init_random(self, seed=1):
        """Uniform in [-e, e], e = sqrt(6 / (s_l + s_{l+1})), from `seed`: the
        start bpnn-cl train --seed gives, the same on every device."""
        lib.bpnn_init_random(self._ptr, int(seed))

    def init_debug(self):
        """The seed's debug initialization: params[i] = sin(i + 1) / 10."""
        s = self._s
        lib.bpnn_init_debug(s.params, s.param_count)

    # ---- normalization --------------------------------------------------------

    @property
    def normalization(self):
        """"none", "zscore" or "minmax": applied as x' = (x - shift) / scale."""
        return NORMALIZATIONS[self._s.normalization]

    def _statistics(self, pointer):
        if not pointer:
            return None
        return view(self, ctypes.cast(pointer, ctypes.c_void_p).value, (self.n_features,),
                    np.float64)

    # Copies: a new fit replaces the library's arrays of statistics, which a
    # view would outlive.
    @property
    def norm_shift(self):
        """Per feature: x' = (x - shift) / scale (a copy), or None."""
        shift = self._statistics(self._s.norm_shift)
        return None if shift is None else shift.copy()

    @property
    def norm_scale(self):
        scale = self._statistics(self._s.norm_scale)
        return None if scale is None else scale.copy()

    def fit_normalization(self, X, kind):
        """Fits `kind`'s statistics on the rows of X into the model (X itself
        is not changed)."""
        data = from_arrays(X, copy=True)
        self._fit_normalization(data, kind)

    def _fit_normalization(self, data, kind):
        code = _choice("normalization", kind, NORMALIZATIONS)
        check(lib.bpnn_normalize_fit(self._ptr, code, data.ref))

    def set_normalization(self, kind, shift=None, scale=None):
        """Stores given statistics (as a model file holds them)."""
        code = _choice("normalization", kind, NORMALIZATIONS)
        if code == 0:
            self._fit_normalization(from_arrays(np.zeros((1, self.n_features))), "none")
            return
        shift = np.asarray(shift, dtype=np.float64).reshape(-1)
        scale = np.asarray(scale, dtype=np.float64).reshape(-1)
        if shift.shape != (self.n_features,) or scale.shape != (self.n_features,):
            raise ValueError(f"normalization statistics need {self.n_features} values each")
        # The library allocates the statistics when it fits them: a fit on
        # one row makes room, then the values are written in.
        self._fit_normalization(from_arrays(np.zeros((1, self.n_features))), "minmax")
        self._s.normalization = code
        self._statistics(self._s.norm_shift)[:] = shift
        self._statistics(self._s.norm_scale)[:] = scale

    def normalize(self, X):
        """X with the model's stored normalization applied (a new array)."""
        data = from_arrays(X, copy=True)
        lib.bpnn_normalize_apply(self._ptr, data.ref)
        return data.x

    def _input(self, X, y=None, name="X"):
        """A data set over X (and y) ready for the network: normalized into a
        copy when the model normalizes, else X itself where its layout allows."""
        data = from_arrays(X, y, copy=self._s.normalization != 0, name=name)
        if data.x.shape[1] != self.n_features:
            raise InvalidRequestError(f"sizes do not match: {name} has {data.x.shape[1]} "
                                      f"features, the network's input layer "
                                      f"{self.n_features}")
        lib.bpnn_normalize_apply(self._ptr, data.ref)
        return data

    # ---- prediction -------------------------------------------------------------

    def _device(self, device, precision):
        return _open_device(device, precision or self.precision)

    def predict(self, X, *, device="auto", precision=None):
        """Predicted classes 0..K-1 of the rows of X (raw: the model's
        normalization is applied); + label_offset gives bpnn-cl predict's
        labels. device and precision as bpnn-cl's --device and --precision
        (default: the model's precision)."""
        data = self._input(X)
        dev = self._device(device, precision)
        out = np.empty(data.x.shape[0], dtype=np.int32)
        with dev.lock:
            check(lib.bpnn_predict(dev.handle, self._ptr, data.ref,
                                   out.ctypes.data_as(_lib.c_int32_p)))
        return out

    def predict_scores(self, X, *, device="auto", precision=None):
        """The output layer's activations (rows x K sigmoid outputs)."""
        if not _lib.has("bpnn_predict_scores"):
            raise InvalidRequestError("this libbpnn has no bpnn_predict_scores")
        data = self._input(X)
        dev = self._device(device, precision)
        out = np.empty((data.x.shape[0], self.n_classes), dtype=np.float64)
        with dev.lock:
            check(lib.bpnn_predict_scores(dev.handle, self._ptr, data.ref,
                                          out.ctypes.data_as(_lib.c_double_p)))
        return out

    def cost_gradient(self, X, y, *, lambda_=None, device="auto", precision=None):
        """The regularized cost J and its gradient at the current parameters."""
        data = self._input(X, y)
        dev = self._device(device, precision)
        cost = ctypes.c_double()
        gradient = np.empty(self.param_count, dtype=np.float64)
        lam = self.lambda_ if lambda_ is None else float(lambda_)
        with dev.lock:
            check(lib.bpnn_cost_gradient(dev.handle, self._ptr, data.ref, lam,
                                         ctypes.byref(cost),
                                         gradient.ctypes.data_as(_lib.c_double_p)))
        return cost.value, gradient

    def accuracy(self, X, y, **kwargs):
        return float(np.mean(self.predict(X, **kwargs) == np.asarray(y)))

    # ---- training ----------------------------------------------------------------

    def _prepare(self, X, y, *, device, precision, warm_start, normalize, optimizer,
                 options, validation, val_split, test, seed):
        """Everything bpnn_train is given, in bpnn-cl train's order: the
        validation rows held out, fingerprints of the raw rows (checkpoints),
        then the normalization fitted on the training rows and applied to
        the others. Returns the run; the model is not changed yet."""
        run = _Run()
        run.device = self._device(device, precision)
        if warm_start and normalize is not None and normalize != self.normalization:
            raise InvalidRequestError(f"warm_start keeps the model's normalization "
                                      f"({self.normalization}), not {normalize!r}")
        run.normalize = self.normalization if warm_start else (normalize or "none")
        _choice("normalization", run.normalize, NORMALIZATIONS)
        normalizes = run.normalize != "none"
        run.train = from_arrays(X, y, copy=normalizes and val_split is None)
        if run.train.x.shape[1] != self.n_features:
            raise InvalidRequestError(f"sizes do not match: X has {run.train.x.shape[1]} "
                                      f"features, the network's input layer {self.n_features}")
        if y is None:
            raise InvalidRequestError("training data have no labels: y")
        run.validation = None
        if val_split is not None:
            run.train, run.validation = split(run.train, val_split, seed)
        elif validation is not None:
            xv, yv = validation
            run.validation = from_arrays(xv, yv, copy=normalizes, name="validation X")
        run.test = None
        if test is not None:
            xt, yt = test
            run.test = from_arrays(xt, yt, copy=normalizes, name="test X")

        o = _lib.TrainOptions()
        lib.bpnn_train_options_default(ctypes.byref(o))
        o.optimizer = OPTIMIZERS.index(optimizer)
        o.seed = int(seed)
        run.strings = []  # the encoded paths, alive while the library holds them
        for name, value in options.items():
            if name in ("checkpoint_path", "resume_path"):
                value = os.fsencode(value)
                run.strings.append(value)
            setattr(o, name, value)
        if o.resume_path and not o.checkpoint_path:
            o.checkpoint_path = o.resume_path  # a resumed run goes on writing it
        if run.validation is not None:
            o.validation = run.validation.pointer
        if run.test is not None:
            o.test = run.test.pointer
        if o.checkpoint_path or o.resume_path:
            fingerprint = ctypes.c_uint32()
            check(lib.bpnn_dataset_fingerprint(run.train.ref, ctypes.byref(o),
                                               ctypes.byref(fingerprint)))
            o.data_fingerprint = fingerprint.value
            if run.validation is not None:
                check(lib.bpnn_dataset_fingerprint(run.validation.ref, ctypes.byref(o),
                                                   ctypes.byref(fingerprint)))
                o.validation_fingerprint = fingerprint.value
        run.options = o
        return run

    def fit(self, X, y, *, device="auto", precision=None, optimizer=None, lambda_=None,
            max_iter=None, gtol=None, history=None, epochs=None, batch=None, lr=None,
            momentum=None, nesterov=None, beta1=None, beta2=None, epsilon=None,
            lr_schedule=None, lr_step=None, lr_decay=None, warmup=None, seed=1,
            val_split=None, validation=None, patience=None, checkpoint=None,
            checkpoint_every=None, resume=None, normalize=None, test=None,
            log_accuracy=False, progress=None, verbose=False, log=None, threads=None,
            warm_start=False):
        """Trains the model on X (rows x features, raw) and y (classes
        0..K-1), as bpnn-cl train with the same options does:

        optimizer "cg" (default), "lbfgs" (max_iter, gtol, history) or
        "sgd", "momentum", "adam" (epochs, batch, lr, momentum, nesterov,
        beta1, beta2, epsilon, lr_schedule "constant"|"step"|"cosine",
        lr_step, lr_decay, warmup, val_split or validation=(X, y),
        patience, checkpoint, checkpoint_every, resume); mini-batch options
        without an optimizer mean adam, and an option the optimizer does
        not take is refused, as by the CLI. lambda_ (default 1), seed
        (initialization, validation split, shuffles), normalize
        "none"|"zscore"|"minmax" (fitted on the training rows, stored in
        the model), test=(X, y) with log_accuracy for accuracies in the
        progress reports, device and precision as --device and --precision.

        Unless warm_start, the normalization is fitted and the parameters
        initialized from `seed` first; with warm_start the model's
        parameters and normalization are kept and trained on. X is used in
        place (no copy) when it is C-ordered float64 and nothing
        normalizes it.

        progress(p: Progress) is called at each iteration, step and epoch;
        a true return stops the training (stop_reason "stopped"). verbose
        prints bpnn-cl's iteration or epoch lines to stderr; log=PATH
        appends its --log records (JSON lines, for bpnn-cl show curve). Ctrl-C
        stops it at the next step or cost evaluation and raises
        KeyboardInterrupt, the parameters left as they were. Returns a
        TrainResult."""
        given = {k: v for k, v in dict(
            max_iter=max_iter, gtol=gtol, history=history, epochs=epochs, batch=batch, lr=lr,
            momentum=momentum, nesterov=nesterov, beta1=beta1, beta2=beta2, epsilon=epsilon,
            lr_schedule=lr_schedule, lr_step=lr_step, lr_decay=lr_decay, warmup=warmup,
            val_split=val_split, validation=validation, patience=patience,
            checkpoint=checkpoint, checkpoint_every=checkpoint_every,
            resume=resume).items() if v is not None}
        optimizer = _resolve_optimizer(optimizer, given)
        options = {}
        if lambda_ is not None:
            options["lambda_"] = float(lambda_)
        for name, c_name, kind in (("max_iter", "max_iter", int), ("gtol", "gtol", float),
                                   ("history", "history", int), ("epochs", "epochs", int),
                                   ("batch", "batch", int), ("lr", "learning_rate", float),
                                   ("momentum", "momentum", float), ("nesterov", "nesterov", int),
                                   ("beta1", "beta1", float), ("beta2", "beta2", float),
                                   ("epsilon", "epsilon", float),
                                   ("lr_step", "lr_step_epochs", int),
                                   ("lr_decay", "lr_decay", float),
                                   ("warmup", "warmup_epochs", int),
                                   ("patience", "patience", int),
                                   ("checkpoint", "checkpoint_path", str),
                                   ("checkpoint_every", "checkpoint_every", int),
                                   ("resume", "resume_path", str)):
            if name in given:
                value = given[name]
                options[c_name] = value if kind is str else kind(value)
        if "lr_schedule" in given:
            options["lr_schedule"] = _choice("lr_schedule", lr_schedule, LR_SCHEDULES)
        if "batch" in given and options["batch"] < 1:
            raise InvalidRequestError(f"batch {batch}: expected at least 1")
        if log_accuracy:
            options["accuracy_every_iteration"] = 1
        if threads is not None:
            lib.bpnn_set_threads(int(threads))

        run = self._prepare(X, y, device=device, precision=precision, warm_start=warm_start,
                            normalize=normalize, optimizer=optimizer, options=options,
                            validation=validation, val_split=val_split, test=test, seed=seed)
        if not warm_start:
            self._fit_normalization(run.train, run.normalize)
            self.init_random(seed)
        else:
            lib.bpnn_normalize_apply(self._ptr, run.train.ref)
        if run.normalize != "none":
            for extra in (run.validation, run.test):
                if extra is not None:
                    lib.bpnn_normalize_apply(self._ptr, extra.ref)

        records, failure = [], []
        log_file = open(log, "a", encoding="utf-8") if log is not None else None

        def report(it_pointer, user):
            try:
                p = Progress.from_struct(it_pointer.contents)
                if p.kind != "step":
                    records.append(p)
                    if verbose:
                        print(p.line(), file=sys.stderr, flush=True)
                    if log_file is not None:
                        # one line a record, flushed: a crashed run keeps its log
                        log_file.write(json.dumps(p.record(), separators=(",", ":")) + "\n")
                        log_file.flush()
                if progress is not None and progress(p):
                    return 1
                return 0
            except BaseException as e:  # raised again once the library returns
                failure.append(e)
                return 1

        callback = _lib.PROGRESS_FN(report)
        run.options.progress = callback
        result = _lib.TrainResult()
        try:
            with run.device.lock, _Interruptible() as interrupt:
                status = lib.bpnn_train(run.device.handle, self._ptr, run.train.ref,
                                        ctypes.byref(run.options), ctypes.byref(result))
        finally:
            if log_file is not None:
                log_file.close()
        if failure:
            raise failure[0]
        if interrupt.fired and status in (_lib.BPNN_OK, _lib.BPNN_ERR_INTERRUPTED):
            raise KeyboardInterrupt("interrupted")
        check(status)

        def measured(value):
            return value if value >= 0 else None

        return TrainResult(
            iterations=result.iterations, evaluations=result.evaluations,
            final_cost=result.final_cost, stop_reason=_lib.text(result.stop_reason),
            train_seconds=result.train_seconds, train_accuracy=result.train_accuracy,
            optimizer_transfer_bytes=result.optimizer_transfer_bytes,
            optimizer_host_syncs=result.optimizer_host_syncs,
            best_epoch=result.best_epoch, val_accuracy=measured(result.val_accuracy),
            val_cost=measured(result.val_cost), resumed_epoch=result.resumed_epoch,
            streamed=bool(result.streamed), device=run.device.spec, history=records)

    def plan(self, X, y, *, device="auto", precision=None, optimizer=None, batch=None,
             validation=None, val_split=None, history=None, seed=1):
        """The memory plan bpnn_train would follow (bpnn-cl train --dry-run),
        without training: a dict of bpnn_memory_plan's fields."""
        given = {k: v for k, v in dict(batch=batch, validation=validation, val_split=val_split,
                                       history=history).items() if v is not None}
        optimizer = _resolve_optimizer(optimizer, given)
        options = {}
        if batch is not None:
            options["batch"] = int(batch)
        if history is not None:
            options["history"] = int(history)
        run = self._prepare(X, y, device=device, precision=precision, warm_start=True,
                            normalize=None, optimizer=optimizer, options=options,
                            validation=validation, val_split=val_split, test=None, seed=seed)
        out = _lib.MemoryPlan()
        with run.device.lock:
            check(lib.bpnn_train_plan(run.device.handle, self._ptr, run.train.ref,
                                      ctypes.byref(run.options), ctypes.byref(out)))
        return {f: getattr(out, f) for f, _ in out._fields_}

    # ---- export -------------------------------------------------------------------

    def export(self, directory, format="csv"):
        """bpnn-cl export: Theta1.csv, Theta2.csv ... (or .npy) in directory,
        all replaced or none."""
        function = {"csv": lib.bpnn_export_csv, "npy": lib.bpnn_export_npy}.get(format)
        if function is None:
            raise InvalidRequestError(f"unknown export format: {format!r}: expected csv or npy "
                                      "(ONNX: to_onnx)")
        check(function(self._ptr, os.fsencode(directory)))

    def to_onnx(self, path=None, *, input_type="float64", opset=13):
        """The network as an ONNX graph (needs the `onnx` package): the stored
        normalization (Sub, Div), then per layer Gemm and Sigmoid, in the
        model's precision; outputs "scores" (rows x K activations) and
        "label" (argmax + label_offset, as bpnn-cl predict prints). With a
        path the model is also written there. Returns the onnx.ModelProto."""
        from ._onnx import to_onnx

        return to_onnx(self, path, input_type=input_type, opset=opset)

    # ---- copying and pickling -------------------------------------------------------

    def __getstate__(self):
        return {
            "layers": self.layers, "precision": self.precision, "lambda": self.lambda_,
            "params": self.params.copy(), "label_offset": self.label_offset,
            "class_names": self.class_names, "image_shape": self.image_shape,
            "normalization": self.normalization,
            "norm_shift": None if self.norm_shift is None else self.norm_shift.copy(),
            "norm_scale": None if self.norm_scale is None else self.norm_scale.copy(),
            "epoch": self.epoch,
        }

    def __setstate__(self, state):
        Model.__init__(self, state["layers"], state["precision"])
        self.params[:] = state["params"]
        self.lambda_ = state["lambda"]
        self.label_offset = state["label_offset"]
        self.class_names = state["class_names"]
        self.image_shape = state["image_shape"]
        if state["normalization"] != "none":
            self.set_normalization(state["normalization"], state["norm_shift"],
                                   state["norm_scale"])
        self._s.epoch = state["epoch"]

    def copy(self):
        other = Model.__new__(Model)
        other.__setstate__(self.__getstate__())
        return other

    def __repr__(self):
        return (f"<bpnn.Model {'-'.join(map(str, self.layers))}, {self.precision}, "
                f"{self.param_count} parameters, normalization {self.normalization}>")


def gradient_check(layers=(3, 5, 3), m=5, *, lambda_=0.0, epsilon=1e-4, device="cpu",
                   precision="f64"):
    """bpnn-cl gradcheck: backpropagation against central differences on the
    seed's debug problem. Returns a dict with both gradients and the
    relative difference."""
    layers = [int(s) for s in layers]
    sizes = (ctypes.c_int * len(layers))(*layers)
    dev = _open_device(device, precision)
    out = _lib.GradCheck()
    with dev.lock:
        check(lib.bpnn_gradient_check(dev.handle, len(layers), sizes, int(m), float(lambda_),
                                      float(epsilon), ctypes.byref(out)))
    try:
        n = out.count
        return {
            "backprop": np.ctypeslib.as_array(out.backprop, (n,)).copy() if n else np.zeros(0),
            "numeric": np.ctypeslib.as_array(out.numeric, (n,)).copy() if n else np.zeros(0),
            "cost": out.cost,
            "relative_difference": out.relative_difference,
            "max_abs_difference": out.max_abs_difference,
        }
    finally:
        lib.bpnn_gradcheck_free(ctypes.byref(out))


def time_evaluations(model, X, y, *, repeat=10, lambda_=None, device="auto", precision=None):
    """bpnn-cl bench: seconds of each of `repeat` cost-and-gradient
    evaluations with the data already on the device."""
    data = model._input(X, y)
    dev = model._device(device, precision)
    seconds = np.zeros(max(int(repeat), 1), dtype=np.float64)
    lam = model.lambda_ if lambda_ is None else float(lambda_)
    with dev.lock:
        check(lib.bpnn_time_evaluations(dev.handle, model._ptr, data.ref, lam, int(repeat),
                                        seconds.ctypes.data_as(_lib.c_double_p)))
    return seconds[:int(repeat)]
