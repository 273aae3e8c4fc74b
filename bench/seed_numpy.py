#!/usr/bin/python3
"""The seed's algorithm in numpy + SciPy, as a peer to measure bpnn-cl against.

Sigmoid network with bias units, regularized logistic cost, backpropagation
(vectorized, or with the seed's per-sample loop: --per-sample), trained by
scipy.optimize.fmin_cg on the first --limit Fashion-MNIST training images.
Prints one JSON object: accuracies, final cost, evaluations, seconds.

--init FILE.npz starts from given weights (Theta1, Theta2 ... as bpnn-cl
export --format npy writes them, gathered by --init-dir) so both programs can
be compared from the same starting point.
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
from scipy.optimize import fmin_cg

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path, limit=None):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(magic & 0xff)]
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * len(dims)).reshape(dims)
    return data[:limit] if limit else data


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def unroll(params, layers):
    thetas, o = [], 0
    for a, b in zip(layers[:-1], layers[1:]):
        thetas.append(params[o:o + b * (a + 1)].reshape(b, a + 1))
        o += b * (a + 1)
    return thetas


def cost_grad(params, layers, X, Y, lam):
    m = X.shape[0]
    thetas = unroll(params, layers)
    acts = [X]
    for T in thetas:
        acts.append(sigmoid(np.hstack([np.ones((m, 1)), acts[-1]]) @ T.T))
    h = np.clip(acts[-1], 1e-15, 1 - 1e-15)
    J = -np.sum(Y * np.log(h) + (1 - Y) * np.log(1 - h)) / m
    J += lam / (2 * m) * sum(np.sum(T[:, 1:] ** 2) for T in thetas)
    grads = [None] * len(thetas)
    delta = acts[-1] - Y
    for l in range(len(thetas) - 1, -1, -1):
        a = np.hstack([np.ones((m, 1)), acts[l]])
        g = delta.T @ a / m
        g[:, 1:] += lam / m * thetas[l][:, 1:]
        grads[l] = g
        if l > 0:
            delta = (delta @ thetas[l][:, 1:]) * acts[l] * (1 - acts[l])
    return J, np.concatenate([g.ravel() for g in grads])


def cost_grad_per_sample(params, layers, X, Y, lam):
    """The seed's gradient: one sample at a time (3-layer networks)."""
    m = X.shape[0]
    T1, T2 = unroll(params, layers)
    J, _ = cost_grad(params, layers, X, Y, lam)
    G1, G2 = np.zeros_like(T1), np.zeros_like(T2)
    for t in range(m):
        a1 = np.concatenate([[1.0], X[t]])
        z2 = T1 @ a1
        a2 = np.concatenate([[1.0], sigmoid(z2)])
        a3 = sigmoid(T2 @ a2)
        d3 = a3 - Y[t]
        d2 = (T2[:, 1:].T @ d3) * sigmoid(z2) * (1 - sigmoid(z2))
        G2 += np.outer(d3, a2)
        G1 += np.outer(d2, a1)
    G1 /= m
    G2 /= m
    G1[:, 1:] += lam / m * T1[:, 1:]
    G2[:, 1:] += lam / m * T2[:, 1:]
    return J, np.concatenate([G1.ravel(), G2.ravel()])


def predict(params, layers, X):
    a = X
    for T in unroll(params, layers):
        a = sigmoid(np.hstack([np.ones((a.shape[0], 1)), a]) @ T.T)
    return np.argmax(a, axis=1)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=5000)
    p.add_argument("--layers", default="784,25,10")
    p.add_argument("--lambda", dest="lam", type=float, default=1.0)
    p.add_argument("--max-iter", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--init-dir", help="folder with Theta1.npy ... to start from")
    p.add_argument("--per-sample", action="store_true", help="the seed's per-sample gradient loop")
    a = p.parse_args()
    start = time.perf_counter()
    layers = [int(v) for v in a.layers.split(",")]
    X = read_idx(f"{DATA}/train-images-idx3-ubyte.gz", a.limit).reshape(a.limit, -1) / 255.0
    y = read_idx(f"{DATA}/train-labels-idx1-ubyte.gz", a.limit).astype(int)
    Xt = read_idx(f"{DATA}/t10k-images-idx3-ubyte.gz").reshape(10000, -1) / 255.0
    yt = read_idx(f"{DATA}/t10k-labels-idx1-ubyte.gz").astype(int)
    K = layers[-1]
    Y = np.eye(K)[y]
    if a.init_dir:
        params = np.concatenate([np.load(os.path.join(a.init_dir, f"Theta{l}.npy")).astype(np.float64).ravel()
                                 for l in range(1, len(layers))])
    else:
        rng = np.random.RandomState(a.seed)
        params = np.concatenate([
            ((rng.rand(b, fan_in + 1) * 2 - 1) * np.sqrt(6 / (fan_in + b))).ravel()
            for fan_in, b in zip(layers[:-1], layers[1:])])
    fn = cost_grad_per_sample if a.per_sample else cost_grad
    evaluations = [0]

    def f(w):
        evaluations[0] += 1
        return fn(w, layers, X, Y, a.lam)[0]

    def g(w):
        return fn(w, layers, X, Y, a.lam)[1]

    t0 = time.perf_counter()
    res = fmin_cg(f, params, fprime=g, maxiter=a.max_iter, disp=False, full_output=True)
    train_seconds = time.perf_counter() - t0
    w = res[0]
    print(json.dumps({
        "train_accuracy": float(np.mean(predict(w, layers, X) == y)),
        "test_accuracy": float(np.mean(predict(w, layers, Xt) == yt)),
        "final_cost": float(res[1]), "function_evaluations": int(res[2]),
        "gradient_evaluations": int(res[3]), "warnflag": int(res[4]),
        "train_seconds": train_seconds, "total_seconds": time.perf_counter() - start,
        "per_sample": a.per_sample}))


if __name__ == "__main__":
    main()
