"""ONNX models made of one chain of Gemm/MatMul(+Add) layers and elementwise activations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import ModelFileError, UnsupportedModelError
from ..network import Dense, Network
from ._common import check_stored_activations, damaged_file_errors, numeric_array

SUPPORTED_OPS = ("Gemm", "MatMul", "Add", "Relu", "Sigmoid", "Tanh", "Softmax", "Flatten", "Identity")
ACTIVATION_OPS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softmax": "softmax"}
_CHAIN = "smtnn reads a single chain of Gemm/MatMul layers and activations"


@dataclass
class _Pending:
    """An affine layer read from Gemm or MatMul whose activation is not yet known."""

    weights: np.ndarray
    bias: np.ndarray | None
    name: str


def load_onnx(path: Path, activations: Sequence[str] | None = None) -> Network:
    """A network from an ONNX file through the onnx package (``pip install smtnn[onnx]``)."""
    onnx, numpy_helper = _onnx_modules()
    with damaged_file_errors(path, "ONNX model"):
        model = onnx.load(str(path))
        graph = model.graph
        constants = {t.name: numeric_array(numpy_helper.to_array(t), f"initializer '{t.name}'", path) for t in graph.initializer}
        nodes = [(n.op_type, n.name, list(n.input), list(n.output), _attributes(onnx, n)) for n in graph.node]
        inputs = [(i.name, _dims(i)) for i in graph.input if i.name not in constants]
        outputs = [o.name for o in graph.output]
    if not nodes:
        raise ModelFileError(f"{path} has an empty ONNX graph; export the model again")
    for op, name, *_ in nodes:
        if op not in SUPPORTED_OPS:
            raise UnsupportedModelError(
                f"ONNX node '{name}' uses op {op}, which smtnn does not read; supported ops: {', '.join(SUPPORTED_OPS)}"
            )
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedModelError(
            f"the ONNX graph has {len(inputs)} inputs and {len(outputs)} outputs; {_CHAIN}, one input and one output"
        )
    layers = _chain(nodes, constants, inputs[0], outputs[0], _opset(model))
    network = Network(tuple(layers))
    if activations is not None:
        check_stored_activations(activations, network.layers, path)
    return network


def _onnx_modules():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:
        raise ModelFileError("reading .onnx models needs the onnx package: pip install smtnn[onnx]") from exc
    return onnx, numpy_helper


def _attributes(onnx, node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _dims(value_info) -> tuple | None:
    if not value_info.type.HasField("tensor_type") or not value_info.type.tensor_type.HasField("shape"):
        return None
    dims = [d.dim_value if d.HasField("dim_value") else None for d in value_info.type.tensor_type.shape.dim]
    return tuple(dims[1:]) if len(dims) >= 2 else None


def _opset(model) -> int:
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    return max(versions, default=13)


def _chain(nodes: list, constants: dict, graph_input: tuple, output: str, opset: int) -> list[Dense]:
    current, dims = graph_input
    layers: list[Dense] = []
    pending: _Pending | None = None
    for op, name, node_inputs, node_outputs, attrs in nodes:
        label = f"ONNX node '{name or op}' ({op})"
        data = [x for x in node_inputs if x and x not in constants]
        if data != [current] or not node_outputs:
            raise UnsupportedModelError(
                f"{label} reads {data or 'only constants'} rather than the previous output '{current}'; {_CHAIN}"
            )
        if dims is not None and len(dims) > 1 and op != "Identity":
            raise UnsupportedModelError(
                f"{label} receives a tensor of shape {dims}; smtnn reads flat input vectors: export with a flat input"
            )
        if op in ("Gemm", "MatMul"):
            if pending is not None:
                layers.append(Dense(pending.weights, _bias(pending), "linear", pending.name))
            pending = _gemm(label, node_inputs, constants, attrs) if op == "Gemm" else _matmul(label, node_inputs, constants)
            pending.name = name or f"dense_{len(layers)}"
            dims = (pending.weights.shape[0],)
        elif op == "Add":
            pending = _add(label, pending, [constants[x] for x in node_inputs if x in constants])
        elif op in ACTIVATION_OPS:
            if pending is None:
                raise UnsupportedModelError(f"{label} does not follow a Gemm or MatMul; {_CHAIN}")
            if op == "Softmax" and attrs.get("axis", -1 if opset >= 13 else 1) not in (-1, 1):
                raise UnsupportedModelError(f"{label} works on axis {attrs['axis']}; smtnn reads a softmax over the last axis")
            layers.append(Dense(pending.weights, _bias(pending), ACTIVATION_OPS[op], pending.name))
            pending = None
        elif op == "Flatten" and attrs.get("axis", 1) != 1:
            raise UnsupportedModelError(
                f"{label} uses axis {attrs['axis']}; smtnn reads Flatten with axis 1 of a flat input only"
            )
        current = node_outputs[0]
    if pending is not None:
        layers.append(Dense(pending.weights, _bias(pending), "linear", pending.name))
    if current != output:
        raise UnsupportedModelError(f"the ONNX graph output '{output}' is not the end of the chain '{current}'; {_CHAIN}")
    if not layers:
        raise UnsupportedModelError(f"the ONNX graph has no Gemm or MatMul layer; {_CHAIN}")
    return layers


def _bias(pending: _Pending) -> np.ndarray:
    return np.zeros(pending.weights.shape[0]) if pending.bias is None else pending.bias


def _matrix(label: str, node_inputs: list, constants: dict) -> np.ndarray:
    if len(node_inputs) < 2 or node_inputs[1] not in constants:
        raise UnsupportedModelError(f"{label} must multiply the previous output by a constant initializer; {_CHAIN}")
    matrix = constants[node_inputs[1]]
    if matrix.ndim != 2:
        raise UnsupportedModelError(f"{label} has a weight of shape {matrix.shape}; smtnn reads 2-D weight matrices")
    return matrix


def _gemm(label: str, node_inputs: list, constants: dict, attrs: dict) -> _Pending:
    if attrs.get("transA", 0):
        raise UnsupportedModelError(f"{label} sets transA; smtnn reads Gemm on row inputs (transA=0)")
    matrix = _matrix(label, node_inputs, constants)
    weights = _scaled(matrix if attrs.get("transB", 0) else matrix.T, attrs.get("alpha", 1.0), label)
    bias = None
    if len(node_inputs) > 2 and node_inputs[2]:
        bias = _scaled(_broadcast(label, constants[node_inputs[2]], weights.shape[0]), attrs.get("beta", 1.0), label)
    return _Pending(np.ascontiguousarray(weights), bias, "")


def _matmul(label: str, node_inputs: list, constants: dict) -> _Pending:
    return _Pending(np.ascontiguousarray(_matrix(label, node_inputs, constants).T), None, "")


def _add(label: str, pending: _Pending | None, addends: list[np.ndarray]) -> _Pending:
    if pending is None or pending.bias is not None or len(addends) != 1:
        raise UnsupportedModelError(f"{label} must add one constant bias right after a MatMul or a Gemm without bias; {_CHAIN}")
    return _Pending(pending.weights, _broadcast(label, addends[0], pending.weights.shape[0]), pending.name)


def _broadcast(label: str, bias: np.ndarray, units: int) -> np.ndarray:
    if bias.size == units:
        return bias.reshape(-1)
    if bias.size == 1:
        return np.full(units, bias.reshape(-1)[0])
    raise UnsupportedModelError(f"{label} has a bias of shape {bias.shape} for {units} units; the shapes must match")


def _scaled(values: np.ndarray, factor: float, label: str) -> np.ndarray:
    """``factor * values``, refusing a product that float64 cannot hold exactly."""
    if factor == 1.0:
        return values
    scaled = values * factor
    exact = Fraction(factor)
    if any(Fraction(float(s)) != Fraction(float(v)) * exact for s, v in zip(scaled.flat, values.flat, strict=True)):
        raise UnsupportedModelError(
            f"{label} scales by {factor}, which rounds the weights; fold alpha/beta into the initializers"
        )
    return scaled
