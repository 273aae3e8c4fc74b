"""ONNX export: onnxruntime runs an exported model to bpnn-cl predict's
predictions on the whole Fashion-MNIST test set, not one differing."""

import csv

import numpy as np
import pytest

import bpnn

from conftest import fashion, run_cli

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def cli_predictions(model_path, out_path):
    run_cli("predict", "--model", model_path, "--out", out_path, "--device", "cpu")
    with open(out_path) as f:
        return np.array([int(row["prediction"]) for row in csv.DictReader(f)])


def onnx_run(onnx_model, X):
    session = ort.InferenceSession(onnx_model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    scores, labels = session.run(["scores", "label"], {"input": X})
    return scores, labels


@pytest.mark.parametrize("options", [
    ["--layers", "784,32,10", "--optimizer", "adam", "--epochs", 2],
    ["--layers", "784,16,12,10", "--optimizer", "adam", "--epochs", 1, "--precision", "f64",
     "--normalize", "zscore"],
], ids=["784-32-10-f32", "784-16-12-10-f64-zscore"])
def test_onnxruntime_matches_cli_predict(tmp_path, options):
    images, labels = fashion("train")
    run_cli("train", *options, "--device", "cpu", "--quiet", "--out", tmp_path / "m.bpnn")
    expected = cli_predictions(tmp_path / "m.bpnn", tmp_path / "p.csv")
    model = bpnn.Model.load(tmp_path / "m.bpnn")
    exported = model.to_onnx(tmp_path / "m.onnx")
    ops = [node.op_type for node in exported.graph.node]
    assert set(ops) <= {"Sub", "Div", "Cast", "Gemm", "Sigmoid", "ArgMax", "Add"}
    assert ops.count("Gemm") == len(model.layers) - 1
    X, _ = bpnn.load_data(*fashion("t10k"))
    assert X.shape == (10000, 784) and expected.shape == (10000,)
    scores, predicted = onnx_run(onnx.load(str(tmp_path / "m.onnx")), X)
    differing = int(np.sum(predicted != expected))
    print(f"onnxruntime {ort.__version__} against bpnn-cl predict, {model.layers} "
          f"{model.precision} {model.normalization}: {differing} of {len(expected)} "
          f"predictions differ")
    assert differing == 0
    np.testing.assert_allclose(scores, model.predict_scores(X, device="cpu"),
                               rtol=1e-5 if model.precision == "f32" else 1e-12, atol=1e-6)


def test_label_offset_and_metadata(tmp_path):
    model = bpnn.Model([3, 4, 2], precision="f64")
    model.init_random(3)
    model.label_offset = 1
    model.class_names = ["no", "yes"]
    exported = model.to_onnx(input_type="float32")
    X = np.random.default_rng(0).random((20, 3)).astype(np.float32)
    _, labels = onnx_run(exported, X)
    np.testing.assert_array_equal(labels, model.predict(X, device="cpu") + 1)
    meta = {p.key: p.value for p in exported.metadata_props}
    assert meta["class_names"] == "no\nyes" and meta["label_offset"] == "1"


def test_python_m_bpnn_export(tmp_path):
    import subprocess
    import sys

    model = bpnn.Model([3, 2, 2])
    model.save(tmp_path / "m.bpnn")
    subprocess.run([sys.executable, "-m", "bpnn", "export-onnx", str(tmp_path / "m.bpnn"),
                    str(tmp_path / "m.onnx")], check=True)
    onnx.checker.check_model(onnx.load(str(tmp_path / "m.onnx")))
