"""bpnn.Model against bpnn-cl: the same files, the same training, the same
predictions, the same messages."""

import csv
import math
import pickle

import numpy as np
import pytest

import bpnn
from bpnn import _data, _lib

from conftest import cli_error, fashion, run_cli


def test_devices_as_the_cli_lists_them():
    listed = bpnn.devices()
    assert listed[0].spec == "cpu" and listed[0].type == "host"
    assert all(isinstance(d, bpnn.DeviceInfo) for d in listed)
    out = run_cli("devices").stdout
    specs = [line.split()[0] for line in out.splitlines()
             if line.startswith("cpu") or line.startswith("opencl:")]
    assert [d.spec for d in listed] == specs
    device = bpnn.device("cpu")
    assert device.spec == "cpu" and device.name == listed[0].name


def test_enum_names_match_library():
    for i, name in enumerate(bpnn.OPTIMIZERS):
        assert _lib.text(_lib.lib.bpnn_optimizer_name(i)) == name
    for i, name in enumerate(bpnn.LR_SCHEDULES):
        assert _lib.text(_lib.lib.bpnn_lr_schedule_name(i)) == name


def test_layout_and_views():
    model = bpnn.Model([3, 4, 2], precision="f64")
    assert model.layers == (3, 4, 2) and model.param_count == 4 * 4 + 2 * 5
    assert model.n_classes == 2 and model.precision == "f64"
    t1, t2 = model.thetas
    assert t1.shape == (4, 4) and t2.shape == (2, 5)
    t2[1, 0] = 0.5  # a view: the model changes
    assert model.params[16 + 5] == 0.5
    model.init_debug()
    np.testing.assert_array_equal(model.params, [math.sin(i) / 10 for i in range(1, 27)])
    params = model.params
    del model  # the view keeps the model's memory alive
    assert params[0] == math.sin(1) / 10


def test_save_load_roundtrip(tmp_path):
    model = bpnn.Model([4, 3, 3])
    model.init_random(7)
    model.class_names = ["a", "b", "c"]
    model.label_offset = 1
    model.image_shape = (2, 2)
    model.lambda_ = 0.5
    model.set_normalization("zscore", [1, 2, 3, 4], [1, 2, 4, 8])
    model.save(tmp_path / "m.bpnn")
    back = bpnn.Model.load(tmp_path / "m.bpnn")
    assert back.layers == (4, 3, 3) and back.class_names == ["a", "b", "c"]
    assert back.label_offset == 1 and back.image_shape == (2, 2) and back.lambda_ == 0.5
    assert back.normalization == "zscore"
    np.testing.assert_array_equal(back.norm_scale, [1, 2, 4, 8])
    # an f32 model's file holds its parameters as f32
    np.testing.assert_array_equal(back.params, model.params.astype(np.float32))
    copy = pickle.loads(pickle.dumps(back))
    np.testing.assert_array_equal(copy.params, back.params)
    np.testing.assert_array_equal(copy.norm_shift, [1, 2, 3, 4])
    assert copy.class_names == ["a", "b", "c"]


def test_no_copy_where_layout_allows():
    X = np.random.default_rng(0).random((5, 3))
    y = np.array([0, 1, 0, 1, 1], dtype=np.int32)
    data = _data.from_arrays(X, y)
    assert data.x is X and data.labels is y
    assert _data.from_arrays(np.asfortranarray(X)).x is not X  # reordered: a copy
    readonly = X.copy()
    readonly.flags.writeable = False
    assert _data.from_arrays(readonly).x is readonly


def test_normalizing_fit_leaves_the_callers_array(fashion_small):
    X, y = fashion_small
    before = X.copy()
    model = bpnn.Model([784, 8, 10])
    model.fit(X, y, max_iter=2, normalize="zscore", device="cpu")
    np.testing.assert_array_equal(X, before)
    assert model.normalization == "zscore" and model.norm_shift.shape == (784,)


# Each: the options as bpnn-cl takes them, and as Model.fit takes them.
TRAININGS = [
    (["--max-iter", 5], dict(max_iter=5)),
    (["--optimizer", "lbfgs", "--max-iter", 5, "--history", 4, "--precision", "f64"],
     dict(optimizer="lbfgs", max_iter=5, history=4, precision="f64")),
    (["--optimizer", "sgd", "--epochs", 2, "--batch", 64, "--lr-schedule", "step",
      "--lr-step", 1, "--lr-decay", 0.5],
     dict(optimizer="sgd", epochs=2, batch=64, lr_schedule="step", lr_step=1, lr_decay=0.5)),
    (["--optimizer", "momentum", "--epochs", 2, "--nesterov", "--momentum", 0.8, "--lr", 0.02,
      "--normalize", "minmax"], dict(optimizer="momentum", epochs=2, nesterov=True,
                                     momentum=0.8, lr=0.02, normalize="minmax")),
    (["--epochs", 3, "--val-split", 0.2, "--patience", 1, "--normalize", "zscore",
      "--beta1", 0.8, "--warmup", 1, "--seed", 5, "--lambda", 0.3],
     dict(epochs=3, val_split=0.2, patience=1, normalize="zscore", beta1=0.8, warmup=1,
          seed=5, lambda_=0.3)),
]


@pytest.mark.parametrize("cli_options,options", TRAININGS,
                         ids=["cg", "lbfgs", "sgd", "momentum", "adam"])
def test_training_matches_cli_bit_for_bit(tmp_path, fashion_small, cli_options, options):
    images, labels = fashion("train")
    run_cli("train", "--data", images, "--labels", labels, "--limit", 2000, "--layers",
            "784,16,10", "--device", "cpu", "--quiet", "--out", tmp_path / "cli.bpnn",
            *cli_options)
    X, y = fashion_small
    model = bpnn.Model([784, 16, 10], precision=options.get("precision", "f32"))
    result = model.fit(X, y, device="cpu", **options)
    assert result.device == "cpu"
    cli = bpnn.Model.load(tmp_path / "cli.bpnn")
    np.testing.assert_array_equal(model.params, cli.params)
    assert model.normalization == cli.normalization
    if cli.normalization != "none":
        np.testing.assert_array_equal(model.norm_shift, cli.norm_shift)
    assert model.epoch == cli.epoch


def test_predictions_match_cli(tmp_path):
    images, labels = fashion("train")
    test_images, test_labels = fashion("t10k")
    run_cli("train", "--data", images, "--labels", labels, "--limit", 1000, "--layers",
            "784,12,10", "--max-iter", 10, "--device", "cpu", "--quiet", "--normalize", "zscore",
            "--out", tmp_path / "m.bpnn")
    run_cli("predict", "--model", tmp_path / "m.bpnn", "--out", tmp_path / "p.csv",
            "--device", "cpu")
    with open(tmp_path / "p.csv") as f:
        expected = np.array([int(row["prediction"]) for row in csv.DictReader(f)])
    model = bpnn.Model.load(tmp_path / "m.bpnn")
    X, y = bpnn.load_data(test_images, test_labels)
    predicted = model.predict(X, device="cpu")
    np.testing.assert_array_equal(predicted + model.label_offset, expected)
    scores = model.predict_scores(X[:100], device="cpu")
    assert scores.shape == (100, 10) and np.all((scores > 0) & (scores < 1))
    np.testing.assert_array_equal(np.argmax(scores, axis=1), predicted[:100])


def test_errors_carry_the_library_message(tmp_path):
    missing = tmp_path / "missing.bpnn"
    with pytest.raises(bpnn.InvalidRequestError) as error:
        bpnn.Model.load(missing)
    assert error.value.status == 2
    assert str(error.value) == cli_error("eval", "--model", missing)
    with pytest.raises(bpnn.InvalidRequestError) as error:
        bpnn.Device("opencl:9:9")
    assert isinstance(error.value, ValueError)
    model = bpnn.Model([784, 4, 10])
    model.save(tmp_path / "m.bpnn")
    assert str(error.value) == cli_error("eval", "--model", tmp_path / "m.bpnn", "--device",
                                         "opencl:9:9")


def test_library_checks_become_exceptions():
    model = bpnn.Model([3, 2, 2])
    with pytest.raises(bpnn.InvalidRequestError, match="label out of range"):
        model.fit(np.zeros((4, 3)), np.array([0, 1, 2, 0]), max_iter=1, device="cpu")
    with pytest.raises(bpnn.InvalidRequestError, match="sizes do not match"):
        model.predict(np.zeros((4, 5)))
    with pytest.raises(bpnn.InvalidRequestError):
        bpnn.Model([3] * 40)  # more than BPNN_MAX_LAYERS
    with pytest.raises(bpnn.InvalidRequestError, match="mini-batch"):
        model.fit(np.zeros((4, 3)), np.zeros(4), optimizer="cg", epochs=3)
    with pytest.raises(bpnn.InvalidRequestError, match="adam"):
        model.fit(np.zeros((4, 3)), np.zeros(4), optimizer="sgd", beta1=0.5)


def test_progress_callback_and_stop(fashion_small):
    X, y = fashion_small
    seen = []

    def progress(p):
        seen.append(p)
        return p.kind == "epoch" and p.epoch == 2

    model = bpnn.Model([784, 8, 10])
    result = model.fit(X, y, epochs=5, batch=200, device="cpu", progress=progress,
                       test=(X[:100], y[:100]), log_accuracy=True)
    assert result.stop_reason == "stopped"
    epochs = [p for p in seen if p.kind == "epoch"]
    assert [p.epoch for p in epochs] == [1, 2]
    assert sum(p.kind == "step" for p in seen) == 2 * 10 - 2  # the last step reports as its epoch
    assert epochs[0].test_accuracy is not None and epochs[0].train_accuracy is not None
    assert [p.epoch for p in result.history] == [1, 2]


def test_callback_exception_propagates(fashion_small):
    X, y = fashion_small

    def progress(p):
        raise RuntimeError("from the callback")

    with pytest.raises(RuntimeError, match="from the callback"):
        bpnn.Model([784, 8, 10]).fit(X, y, max_iter=5, device="cpu", progress=progress)


def test_checkpoint_resume_repeats_an_uninterrupted_run(tmp_path, fashion_small):
    X, y = fashion_small
    straight = bpnn.Model([784, 8, 10])
    straight.fit(X, y, epochs=3, device="cpu")
    first = bpnn.Model([784, 8, 10])
    first.fit(X, y, epochs=3, device="cpu", checkpoint=str(tmp_path / "run.ckpt"),
              progress=lambda p: p.kind == "epoch" and p.epoch == 1)
    resumed = bpnn.Model([784, 8, 10])
    result = resumed.fit(X, y, epochs=3, device="cpu", resume=str(tmp_path / "run.ckpt"))
    assert result.resumed_epoch == 1
    np.testing.assert_array_equal(resumed.params, straight.params)


def test_gradient_check():
    check = bpnn.gradient_check()
    assert check["relative_difference"] < 1e-9
    assert check["backprop"].shape == check["numeric"].shape


def test_cost_gradient_and_plan(fashion_small):
    X, y = fashion_small
    model = bpnn.Model([784, 8, 10], precision="f64")
    model.init_random(1)
    cost, gradient = model.cost_gradient(X, y, lambda_=1.0, device="cpu")
    assert np.isfinite(cost) and gradient.shape == (model.param_count,)
    plan = model.plan(X, y, device="cpu", optimizer="adam", batch=100)
    assert plan["streamed"] == 0 and plan["resident_bytes"] > X.nbytes


def test_load_data_options(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a;b;label\n1;2;1\n3;4;2\n")
    X, y = bpnn.load_data(path, header="yes", label_col=-1, labels_from=1, delimiter=";")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(y, [0, 1])
    with pytest.raises(bpnn.InvalidRequestError, match="d.csv"):
        bpnn.load_data(path, header="no")  # "a" is no number


def test_log_records_as_the_cli_writes_them(tmp_path, fashion_small):
    import json

    X, y = fashion_small
    images, labels = fashion("train")
    run_cli("train", "--data", images, "--labels", labels, "--limit", 2000, "--layers",
            "784,8,10", "--device", "cpu", "--quiet", "--epochs", 2, "--val-split", 0.1,
            "--log", tmp_path / "cli.jsonl")
    bpnn.Model([784, 8, 10]).fit(X, y, device="cpu", epochs=2, val_split=0.1,
                                 log=tmp_path / "py.jsonl")
    cli = [json.loads(line) for line in (tmp_path / "cli.jsonl").read_text().splitlines()]
    ours = [json.loads(line) for line in (tmp_path / "py.jsonl").read_text().splitlines()]
    assert [list(r) for r in ours] == [list(r) for r in cli]
    for a, b in zip(ours, cli):
        assert a["cost"] == b["cost"] and a["val_accuracy"] == b["val_accuracy"]


def test_opencl_device_trains_as_the_cpu(fashion_small):
    """The first OpenCL device (PoCL's CPU device in CI), named as --device
    names it: the same training as on the cpu path to rounding."""
    specs = [d.spec for d in bpnn.devices() if d.spec.startswith("opencl:")]
    if not specs:
        pytest.skip("no OpenCL device")
    X, y = fashion_small
    results, predictions = {}, {}
    for spec in ("cpu", specs[0]):
        model = bpnn.Model([784, 16, 10])
        results[spec] = model.fit(X[:1000], y[:1000], device=spec, epochs=2, batch=100)
        predictions[spec] = model.predict(X, device=spec)
    assert results[specs[0]].device == specs[0]
    assert results[specs[0]].final_cost == pytest.approx(results["cpu"].final_cost, rel=1e-5)
    assert np.mean(predictions["cpu"] == predictions[specs[0]]) > 0.99


def test_export_and_verify(tmp_path):
    model = bpnn.Model([3, 4, 2], precision="f64")
    model.init_random(2)
    model.export(tmp_path, format="npy")
    np.testing.assert_array_equal(np.load(tmp_path / "Theta1.npy"), model.thetas[0])
    np.testing.assert_array_equal(np.load(tmp_path / "Theta2.npy"), model.thetas[1])
    results = bpnn.verify("cpu", "f64", only="dot")
    assert results and all(r["passed"] for r in results)
