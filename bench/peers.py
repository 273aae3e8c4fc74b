#!/usr/bin/python3
"""PyTorch and scikit-learn on bpnn-cl's benchmark tasks; bench/compare runs them.

One run per process, so that the thread settings and OpenBLAS's core, which
the libraries read when they load, are the caller's environment's. Prints one
JSON object on stdout.

  pytorch-adam   784-256-10 sigmoid layers, the seed's cost (logistic loss
                 summed over the K outputs, L2 without the biases), Adam with
                 bpnn-cl's cosine schedule, per-epoch shuffles, f32
  sklearn-adam   MLPClassifier, logistic hidden units, Adam, the same batches
                 and L2 strength, f32
  pytorch-lbfgs  the seed's task (784-25-10, first 5000 images, lambda 1, f64)
                 with torch.optim.LBFGS, strong Wolfe line search
"""
import argparse
import itertools
import json
import math
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_numpy import DATA, read_idx  # noqa: E402  (the seed's IDX reader)


def load(limit, dtype):
    import numpy as np
    X = read_idx(f"{DATA}/train-images-idx3-ubyte.gz", limit)
    X = X.reshape(X.shape[0], -1).astype(dtype) / dtype(255)
    y = read_idx(f"{DATA}/train-labels-idx1-ubyte.gz", limit).astype(np.int64)
    Xt = read_idx(f"{DATA}/t10k-images-idx3-ubyte.gz")
    Xt = Xt.reshape(Xt.shape[0], -1).astype(dtype) / dtype(255)
    yt = read_idx(f"{DATA}/t10k-labels-idx1-ubyte.gz").astype(np.int64)
    return X, y, Xt, yt


def seed_init(layers, seed, torch, dtype):
    """The seed's initialization: uniform in +-sqrt(6 / (fan_in + fan_out))."""
    g = torch.Generator().manual_seed(seed)
    weights, biases = [], []
    for fan_in, fan_out in zip(layers[:-1], layers[1:]):
        eps = math.sqrt(6 / (fan_in + fan_out))
        w = (torch.rand(fan_out, fan_in + 1, generator=g, dtype=dtype) * 2 - 1) * eps
        weights.append(w[:, 1:].contiguous().requires_grad_())
        biases.append(w[:, 0].contiguous().requires_grad_())
    return weights, biases


def torch_logits(torch, weights, biases, x):
    for w, b in zip(weights[:-1], biases[:-1]):
        x = torch.sigmoid(torch.addmm(b, x, w.t()))
    return torch.addmm(biases[-1], x, weights[-1].t())


def torch_seed_cost(torch, weights, biases, x, y_onehot, lam, m):
    """The seed's J on rows x: the logistic loss summed over the outputs,
    averaged over the rows, plus lambda / (2 m) times the squared weights
    (biases excluded); m is the whole training set's size, so that a batch's
    gradient is bpnn-cl's step. BCE with logits is that loss of the sigmoid
    outputs, computed without overflow."""
    z = torch_logits(torch, weights, biases, x)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y_onehot, reduction="sum")
    reg = sum(torch.sum(w * w) for w in weights)
    return loss / x.shape[0] + lam / (2 * m) * reg


def torch_accuracy(torch, weights, biases, x, y):
    with torch.no_grad():
        return float((torch_logits(torch, weights, biases, x).argmax(1) == y).double().mean())


def torch_problem(a, single):
    """torch, the layer sizes, the data as tensors (one-hot targets Y) and
    the seed's initial weights, in f32 (single) or f64."""
    import numpy as np
    import torch
    torch.set_num_threads(a.threads)
    layers = [int(v) for v in a.layers.split(",")]
    X, y, Xt, yt = load(a.limit, np.float32 if single else np.float64)
    X, y, Xt, yt = (torch.from_numpy(v) for v in (X, y, Xt, yt))
    dtype = torch.float32 if single else torch.float64
    Y = torch.nn.functional.one_hot(y, layers[-1]).to(dtype)
    weights, biases = seed_init(layers, a.seed, torch, dtype)
    return torch, layers, X, y, Xt, yt, Y, weights, biases


def pytorch_adam(a):
    torch, layers, X, y, Xt, yt, Y, weights, biases = torch_problem(a, single=True)
    m = X.shape[0]
    opt = torch.optim.Adam(weights + biases, lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    steps_per_epoch = (m + a.batch - 1) // a.batch
    total = a.epochs * steps_per_epoch
    # bpnn-cl's default schedule: cosine from lr down to 0 over all steps,
    # updated every step (step s uses lr * (1 + cos(pi s / total)) / 2)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / total, 1))))
    g = torch.Generator().manual_seed(a.seed)

    def batches():  # a new permutation of the rows each epoch
        for _ in range(a.epochs):
            perm = torch.randperm(m, generator=g)
            for first in range(0, m, a.batch):
                yield perm[first:first + a.batch]

    steps = done = 0
    # timed: the epochs (shuffle, batch gathers, forward, backward, Adam
    # steps); not the data loading before nor the evaluation after
    started = time.perf_counter()
    for rows in itertools.islice(batches(), a.max_steps or None):
        opt.zero_grad(set_to_none=True)
        torch_seed_cost(torch, weights, biases, X[rows], Y[rows], a.lam, m).backward()
        opt.step()
        sched.step()
        steps += 1
        done += rows.shape[0]
    seconds = time.perf_counter() - started
    return {"samples_per_s": done / seconds, "train_seconds": seconds, "steps": steps,
            "samples": done, "threads": torch.get_num_threads(),
            "timer": "the epochs: shuffles, batch gathers, forward, backward, Adam steps",
            "test_accuracy": torch_accuracy(torch, weights, biases, Xt, yt),
            "train_accuracy": torch_accuracy(torch, weights, biases, X, y)}


def pytorch_lbfgs(a):
    torch, layers, X, y, Xt, yt, Y, weights, biases = torch_problem(a, single=False)
    m = X.shape[0]
    # bpnn-cl's settings: 10 correction pairs, strong Wolfe (c1 1e-4, c2 0.9,
    # torch's own), stop on max|gradient| < 1e-5; max_eval lifted from
    # torch's 1.25 x max_iter so that the iterations, not the evaluations,
    # end the run, as for bpnn-cl's --max-iter
    opt = torch.optim.LBFGS(weights + biases, lr=1, max_iter=a.max_iter, max_eval=10 * a.max_iter,
                            tolerance_grad=1e-5, tolerance_change=1e-9, history_size=10,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad(set_to_none=True)
        cost = torch_seed_cost(torch, weights, biases, X, Y, a.lam, m)
        cost.backward()
        return cost

    started = time.perf_counter()
    opt.step(closure)
    seconds = time.perf_counter() - started
    state = opt.state[opt._params[0]]  # where LBFGS keeps its counters
    with torch.no_grad():
        cost = float(torch_seed_cost(torch, weights, biases, X, Y, a.lam, m))
    return {"train_seconds": seconds, "iterations": state["n_iter"], "evaluations": state["func_evals"],
            "final_cost": cost, "threads": torch.get_num_threads(),
            "train_accuracy": torch_accuracy(torch, weights, biases, X, y),
            "test_accuracy": torch_accuracy(torch, weights, biases, Xt, yt)}


def sklearn_adam(a):
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    layers = [int(v) for v in a.layers.split(",")]
    X, y, Xt, yt = load(a.limit, np.float32)
    epochs = a.epochs
    if a.max_steps:  # a probe: whole epochs only, on fewer rows
        X, y = X[:a.max_steps * a.batch], y[:a.max_steps * a.batch]
        epochs = 1
    m = X.shape[0]
    # MLPClassifier adds alpha / (2 batch) * ||W||^2 to each batch's mean
    # loss: alpha = lambda * batch / m is bpnn-cl's lambda / (2 m) ||W||^2.
    # Its output layer is softmax with cross-entropy (its own, for several
    # classes); its Adam has a constant rate (no schedule for adam).
    clf = MLPClassifier(hidden_layer_sizes=tuple(layers[1:-1]), activation="logistic", solver="adam",
                        alpha=a.lam * a.batch / m, batch_size=a.batch, learning_rate_init=a.lr,
                        max_iter=epochs, shuffle=True, random_state=a.seed, tol=0.0,
                        n_iter_no_change=epochs + 1, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter epochs is the plan
        started = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - started
    done = clf.n_iter_ * m
    return {"samples_per_s": done / seconds, "train_seconds": seconds, "samples": done,
            "dtype": str(clf.coefs_[0].dtype),
            "timer": "fit(): input checks, label binarization, initialization, the epochs "
                     "(shuffles, batch gathers, forward, loss, backward, Adam steps)",
            "test_accuracy": float(np.mean(clf.predict(Xt) == yt)),
            "train_accuracy": float(np.mean(clf.predict(X) == y))}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", choices=["pytorch-adam", "pytorch-lbfgs", "sklearn-adam"])
    p.add_argument("--layers", default="784,256,10")
    p.add_argument("--limit", type=int, default=None, help="first N training images (default all)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--lambda", dest="lam", type=float, default=1.0)
    p.add_argument("--max-iter", type=int, default=100)
    p.add_argument("--max-steps", type=int, default=0, help="stop after N batches (thread probes)")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="torch.set_num_threads (OpenBLAS's threads: OPENBLAS_NUM_THREADS)")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    run = {"pytorch-adam": pytorch_adam, "pytorch-lbfgs": pytorch_lbfgs, "sklearn-adam": sklearn_adam}
    print(json.dumps(run[a.run](a)))


if __name__ == "__main__":
    main()
