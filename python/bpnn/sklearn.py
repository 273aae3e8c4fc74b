"""BPNNClassifier: a scikit-learn estimator over bpnn.Model.

Its parameters follow MLPClassifier's names where the two mean the same
(hidden_layer_sizes, alpha, solver, learning_rate_init, batch_size,
max_iter, tol, momentum, nesterovs_momentum, beta_1, beta_2, epsilon,
early_stopping, validation_fraction, n_iter_no_change, random_state,
warm_start, verbose), and bpnn-cl's for the rest (lr_schedule,
lr_step_epochs, lr_decay, warmup_epochs, history, normalize, device,
precision), so that it can stand in for MLPClassifier(activation="logistic")
in pipelines, grid searches and cross-validation.
"""

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._model import LR_SCHEDULES, NORMALIZATIONS, OPTIMIZERS, Model

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # scikit-learn 1.2 to 1.5
    def _validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)


_MINIBATCH = ("sgd", "momentum", "adam")


class BPNNClassifier(ClassifierMixin, BaseEstimator):
    """A backpropagation network classifier: fully connected sigmoid layers,
    the regularized logistic cost (one sigmoid output per class), trained by
    libbpnn on the CPU or an OpenCL device.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (100,)
        Units of each hidden layer.
    alpha : float, default 1e-4
        L2 regularization: bpnn-cl's --lambda, the seed's
        lambda / (2 m) * sum(Theta[:, 1:] ** 2) added to the mean loss
        (m the training rows), which is MLPClassifier's alpha term too.
    solver : {"cg", "lbfgs", "sgd", "momentum", "adam"}, default "adam"
        cg and lbfgs minimize over the whole training set (max_iter
        iterations); sgd, momentum and adam run max_iter epochs of
        mini-batches.
    learning_rate_init : float or None, default None
        Mini-batch solvers' learning rate; None takes bpnn-cl's default
        (0.5 sgd, 0.05 momentum, 0.005 adam).
    batch_size : int or "auto", default "auto"
        Mini-batch rows; "auto" is bpnn-cl's 128, at most the rows given.
    max_iter : int, default 200
        Iterations (cg, lbfgs) or epochs (sgd, momentum, adam).
    tol : float, default 1e-5
        cg and lbfgs stop when the gradient's largest component is below it
        (bpnn-cl's --gtol).
    momentum, nesterovs_momentum : the momentum solver's (0.9, False).
    beta_1, beta_2, epsilon : Adam's (0.9, 0.999, 1e-8).
    lr_schedule : {"constant", "step", "cosine"}, default "cosine"
        The mini-batch learning rate over the run (bpnn-cl --lr-schedule);
        lr_step_epochs and lr_decay set "step", warmup_epochs a linear
        warm-up.
    history : int, default 10
        L-BFGS correction pairs.
    early_stopping : bool, default False
        Mini-batch solvers: hold out validation_fraction of the rows and
        stop after n_iter_no_change epochs without a lower validation cost,
        keeping the best epoch's parameters (bpnn-cl --val-split and
        --patience).
    normalize : {"none", "zscore", "minmax"}, default "none"
        Feature scaling fitted on the training rows and stored in the model.
    random_state : int, RandomState or None
        The seed of initialization, shuffles and validation split; an int is
        used as bpnn-cl's --seed.
    device : str, default "auto"
        bpnn-cl's --device: "cpu", "gpu", "opencl", "opencl:P:D" or "auto".
    precision : {"f32", "f64"}, default "f64"
        The arithmetic of training and prediction. float64 as scikit-learn
        computes (bpnn-cl's default is f32, faster): in f32 the output of a
        row can change in its last bits with the rows it is computed with
        (the BLAS kernel's blocking), beyond what scikit-learn's invariance
        checks allow.
    warm_start : bool, default False
        Train on from the previous fit's parameters (same classes and
        layout); the optimizer's state (Adam's moments) starts afresh.
    verbose : bool, default False
        Print each iteration's or epoch's line to stderr, as bpnn-cl train.

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_, model_ (the bpnn.Model),
    n_iter_ (iterations or epochs, summed over warm starts), loss_ (the
    final regularized cost J), loss_curve_ (cost per iteration or epoch),
    validation_scores_ and best_validation_score_ (early stopping),
    result_ (the bpnn.TrainResult), coefs_ and intercepts_ (views of the
    weights as MLPClassifier lays them out), n_layers_, n_outputs_,
    out_activation_ ("logistic").

    predict_proba gives the output layer's sigmoid activations divided by
    their sum in each row: the network is trained as K independent logistic
    outputs (the seed's cost), not a softmax, and this keeps their ranking
    (predict is its argmax) while summing to 1.
    """

    def __init__(self, hidden_layer_sizes=(100,), alpha=1e-4, solver="adam",
                 learning_rate_init=None, batch_size="auto", max_iter=200, tol=1e-5,
                 momentum=0.9, nesterovs_momentum=False, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, lr_schedule="cosine", lr_step_epochs=3, lr_decay=0.1,
                 warmup_epochs=0, history=10, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, normalize="none", random_state=None, device="auto",
                 precision="f64", warm_start=False, verbose=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.alpha = alpha
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.lr_schedule = lr_schedule
        self.lr_step_epochs = lr_step_epochs
        self.lr_decay = lr_decay
        self.warmup_epochs = warmup_epochs
        self.history = history
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.normalize = normalize
        self.random_state = random_state
        self.device = device
        self.precision = precision
        self.warm_start = warm_start
        self.verbose = verbose

    # ---- parameters to bpnn.Model.fit's options ---------------------------------

    def _hidden(self):
        sizes = self.hidden_layer_sizes
        if np.isscalar(sizes):
            sizes = (sizes,)
        sizes = list(sizes)
        if any(int(s) != s or s < 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got "
                             f"{self.hidden_layer_sizes!r}")
        return [int(s) for s in sizes]

    def _options(self, n_samples):
        if self.solver not in OPTIMIZERS:
            raise ValueError(f"solver must be one of {', '.join(OPTIMIZERS)}, got "
                             f"{self.solver!r}")
        if self.normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {', '.join(NORMALIZATIONS)}, got "
                             f"{self.normalize!r}")
        if not (self.alpha >= 0 and np.isfinite(self.alpha)):
            raise ValueError(f"alpha must be a finite value >= 0, got {self.alpha!r}")
        if int(self.max_iter) != self.max_iter or self.max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        o = {"optimizer": self.solver, "lambda_": float(self.alpha)}
        if self.solver not in _MINIBATCH:
            if self.early_stopping:
                raise ValueError(f"early_stopping is for the mini-batch solvers (sgd, "
                                 f"momentum, adam), not {self.solver!r}")
            o["max_iter"] = int(self.max_iter)
            o["gtol"] = float(self.tol)
            if self.solver == "lbfgs":
                o["history"] = int(self.history)
            return o
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got "
                             f"{self.lr_schedule!r}")
        if self.batch_size == "auto":
            batch = min(128, n_samples)
        else:
            if int(self.batch_size) != self.batch_size or self.batch_size < 1:
                raise ValueError(f"batch_size must be a positive integer or 'auto', got "
                                 f"{self.batch_size!r}")
            batch = min(int(self.batch_size), n_samples)
        o.update(epochs=int(self.max_iter), batch=batch, lr_schedule=self.lr_schedule,
                 warmup=int(self.warmup_epochs))
        if self.learning_rate_init is not None:
            o["lr"] = float(self.learning_rate_init)
        if self.lr_schedule == "step":
            o.update(lr_step=int(self.lr_step_epochs), lr_decay=float(self.lr_decay))
        if self.solver == "momentum":
            o.update(momentum=float(self.momentum), nesterov=bool(self.nesterovs_momentum))
        if self.solver == "adam":
            o.update(beta1=float(self.beta_1), beta2=float(self.beta_2),
                     epsilon=float(self.epsilon))
        if self.early_stopping:
            o.update(val_split=float(self.validation_fraction),
                     patience=int(self.n_iter_no_change))
        return o

    def _seed(self):
        if isinstance(self.random_state, (int, np.integer)) and self.random_state >= 0:
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    # ---- fitting and predicting --------------------------------------------------------

    def fit(self, X, y):
        """Trains on X (n_samples x n_features) and y (labels of any type)."""
        warm = self.warm_start and hasattr(self, "model_")
        X, y = _validate_data(self, X, y, dtype=np.float64, order="C", reset=not warm)
        check_classification_targets(y)
        classes, encoded = np.unique(y, return_inverse=True)
        hidden = self._hidden()
        options = self._options(X.shape[0])
        layers = [X.shape[1], *hidden, len(classes)]
        if warm:
            if not np.array_equal(classes, self.classes_):
                raise ValueError(f"warm_start can only be used where y has the same classes "
                                 f"as in the previous call to fit: {self.classes_} before, "
                                 f"{classes} now")
            if list(self.model_.layers) != layers or self.model_.precision != self.precision:
                raise ValueError(f"warm_start keeps the network: layers "
                                 f"{'-'.join(map(str, self.model_.layers))}, "
                                 f"{self.model_.precision}; the parameters now ask for "
                                 f"{'-'.join(map(str, layers))}, {self.precision}")
            model = self.model_
        else:
            model = Model(layers, precision=self.precision)
        result = model.fit(X, encoded.astype(np.int32), device=self.device,
                           precision=self.precision, seed=self._seed(),
                           normalize=None if warm else self.normalize, warm_start=warm,
                           verbose=bool(self.verbose), **options)
        if result.stop_reason == "max_iter":
            warnings.warn(f"{self.solver}: stopped after max_iter={self.max_iter} iterations "
                          f"before the gradient fell below tol={self.tol}", ConvergenceWarning)
        self.model_ = model
        self.classes_ = classes
        self.result_ = result
        self.n_iter_ = (self.n_iter_ if warm else 0) + result.iterations
        self.loss_ = result.final_cost
        self.loss_curve_ = [p.cost for p in result.history]
        if self.early_stopping:
            self.validation_scores_ = [p.val_accuracy for p in result.history]
            self.best_validation_score_ = result.val_accuracy
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
        self.n_layers_ = len(layers)
        self.n_outputs_ = len(classes)
        self.out_activation_ = "logistic"
        return self

    def _scores(self, X):
        check_is_fitted(self)
        X = _validate_data(self, X, dtype=np.float64, order="C", reset=False)
        return self.model_.predict_scores(X, device=self.device, precision=self.precision)

    def predict_proba(self, X):
        """The output activations of each row divided by their sum."""
        scores = self._scores(X)
        sums = scores.sum(axis=1, keepdims=True)
        dead = sums[:, 0] <= 0  # every output saturated at 0: no preference
        scores[dead] = 1.0
        sums[dead] = scores.shape[1]
        return scores / sums

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The class of the largest output in each row."""
        proba = self.predict_proba(X)  # checks that the estimator is fitted first
        return self.classes_[np.argmax(proba, axis=1)]

    # ---- MLPClassifier's views of the weights ---------------------------------------------

    @property
    def coefs_(self):
        check_is_fitted(self)
        return [theta[:, 1:].T for theta in self.model_.thetas]

    @property
    def intercepts_(self):
        check_is_fitted(self)
        return [theta[:, 0] for theta in self.model_.thetas]

    def to_onnx(self, path=None, **kwargs):
        """The fitted network as ONNX (bpnn.Model.to_onnx): its "label"
        output is the class index, classes_[label] the label."""
        check_is_fitted(self)
        return self.model_.to_onnx(path, **kwargs)
