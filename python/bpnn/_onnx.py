"""ONNX export: the network as Gemm and Sigmoid nodes after the stored
normalization, computing what bpnn-cl predict computes.

The library normalizes in float64 on the host and an f32 network then
computes in float32, so the graph takes float64 input by default, normalizes
in float64, casts once to the network's precision and runs the layers in
it; with input_type="float32" the normalization is done in float32."""

import numpy as np

_TYPES = {"float64": np.float64, "float32": np.float32}


def to_onnx(model, path=None, *, input_type="float64", opset=13):
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as e:
        raise ImportError("Model.to_onnx needs the onnx package: pip install onnx "
                          "(or pip install 'bpnn[onnx]')") from e
    if input_type not in _TYPES:
        raise ValueError(f"input_type must be 'float64' or 'float32', got {input_type!r}")
    in_dtype = np.dtype(_TYPES[input_type])
    net_dtype = np.dtype(np.float32 if model.precision == "f32" else np.float64)
    elem = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}

    nodes, inits = [], []
    layers = model.layers
    current = "input"
    if model.normalization != "none":
        inits.append(numpy_helper.from_array(model.norm_shift.astype(in_dtype), "norm_shift"))
        inits.append(numpy_helper.from_array(model.norm_scale.astype(in_dtype), "norm_scale"))
        nodes.append(helper.make_node("Sub", [current, "norm_shift"], ["centred"],
                                      name="normalize_shift"))
        nodes.append(helper.make_node("Div", ["centred", "norm_scale"], ["normalized"],
                                      name="normalize_scale"))
        current = "normalized"
    if in_dtype != net_dtype:
        nodes.append(helper.make_node("Cast", [current], ["cast"], to=elem[net_dtype],
                                      name="to_network_precision"))
        current = "cast"
    for n, theta in enumerate(model.thetas, start=1):
        weights = np.ascontiguousarray(theta[:, 1:]).astype(net_dtype)
        bias = np.ascontiguousarray(theta[:, 0]).astype(net_dtype)
        inits.append(numpy_helper.from_array(weights, f"Theta{n}_weights"))
        inits.append(numpy_helper.from_array(bias, f"Theta{n}_bias"))
        # z = a W^T + b: Theta_l's bias column is the bias, the rest W
        nodes.append(helper.make_node("Gemm", [current, f"Theta{n}_weights", f"Theta{n}_bias"],
                                      [f"z{n + 1}"], transB=1, name=f"layer{n + 1}_gemm"))
        out = "scores" if n == len(layers) - 1 else f"a{n + 1}"
        nodes.append(helper.make_node("Sigmoid", [f"z{n + 1}"], [out],
                                      name=f"layer{n + 1}_sigmoid"))
        current = out
    # the first largest score, as bpnn_predict picks it; in the file's labels
    if model.label_offset:
        nodes.append(helper.make_node("ArgMax", ["scores"], ["class"], axis=1, keepdims=0,
                                      name="predicted_class"))
        inits.append(numpy_helper.from_array(np.array(model.label_offset, dtype=np.int64),
                                             "label_offset"))
        nodes.append(helper.make_node("Add", ["class", "label_offset"], ["label"],
                                      name="to_file_label"))
    else:
        nodes.append(helper.make_node("ArgMax", ["scores"], ["label"], axis=1, keepdims=0,
                                      name="predicted_class"))

    graph = helper.make_graph(
        nodes, "bpnn",
        [helper.make_tensor_value_info("input", elem[in_dtype], ["N", layers[0]])],
        [helper.make_tensor_value_info("scores", elem[net_dtype], ["N", layers[-1]]),
         helper.make_tensor_value_info("label", TensorProto.INT64, ["N"])],
        initializer=inits)
    onnx_model = helper.make_model(graph, producer_name="bpnn",
                                   opset_imports=[helper.make_opsetid("", int(opset))])
    # IR 8 is the version of opsets 13-17: older runtimes load the file too
    onnx_model.ir_version = min(onnx_model.ir_version, 8)
    onnx_model.doc_string = (f"bpnn network {'-'.join(map(str, layers))}, {model.precision}, "
                             f"normalization {model.normalization}")
    meta = {"layers": ",".join(map(str, layers)), "precision": model.precision,
            "normalization": model.normalization, "label_offset": str(model.label_offset)}
    if model.class_names:
        meta["class_names"] = "\n".join(model.class_names)
    helper.set_model_props(onnx_model, meta)
    onnx.checker.check_model(onnx_model)
    if path is not None:
        onnx.save(onnx_model, str(path))
    return onnx_model
