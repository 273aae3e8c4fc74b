"""Ctrl-C during a training: SIGINT sent to the process while Model.fit (or
BPNNClassifier.fit) runs in the library stops it within a second with
KeyboardInterrupt, the model's parameters as they were, and Python's own
SIGINT handler back in place."""

import os
import signal
import threading
import time

import numpy as np
import pytest

import bpnn


def interrupt_after(seconds, sent):
    def send():
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(seconds, send)
    timer.start()
    return timer


@pytest.mark.parametrize("options", [dict(optimizer="adam", epochs=100000, batch=32),
                                     dict(optimizer="cg", max_iter=100000, gtol=0)],
                         ids=["adam", "cg"])
def test_sigint_interrupts_fit_within_a_second(fashion_small, options):
    X, y = fashion_small
    model = bpnn.Model([784, 64, 10])
    start = bpnn.Model([784, 64, 10])
    start.init_random(1)
    sent = []
    timer = interrupt_after(0.5, sent)
    try:
        with pytest.raises(KeyboardInterrupt):
            model.fit(X, y, device="cpu", seed=1, **options)
        stopped = time.monotonic()
    finally:
        timer.cancel()
    assert sent, "the training ended before the signal was sent"
    assert stopped - sent[0] < 1.0
    # interrupted: the parameters the training started from
    np.testing.assert_array_equal(model.params, start.params)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert bpnn._lib.interrupt_flag.value == 0
    # and the next training runs
    assert model.fit(X[:200], y[:200], device="cpu", max_iter=2).iterations == 2


def test_sigint_interrupts_estimator_fit(fashion_small):
    pytest.importorskip("sklearn")
    from bpnn.sklearn import BPNNClassifier

    X, y = fashion_small
    estimator = BPNNClassifier(hidden_layer_sizes=(64,), max_iter=100000, batch_size=32,
                               device="cpu")
    sent = []
    timer = interrupt_after(0.5, sent)
    try:
        with pytest.raises(KeyboardInterrupt):
            estimator.fit(X, y)
        stopped = time.monotonic()
    finally:
        timer.cancel()
    assert sent and stopped - sent[0] < 1.0
    assert not hasattr(estimator, "model_")  # nothing half-fitted
