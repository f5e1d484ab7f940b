"""ONNX models: a chain of affine layers and elementwise activations, with the graph's plumbing folded away.

The graph is read as it is exported by torch (both exporters), skl2onnx, Keras converters and the
VNN-COMP benchmarks: constants are folded (Constant, Identity, Cast, Reshape, arithmetic on
initializers, evaluated by onnx's reference implementation), shape-only nodes on the data path are
dropped (Flatten, Reshape, Squeeze, Unsqueeze, Identity, Cast, Dropout), Transpose becomes a
reordering, and Sub/Add/Mul/Div by constants and BatchNormalization fold exactly into the
neighbouring affine layer (see :mod:`.fold`).  When a graph has several outputs (skl2onnx's label and
probabilities), the probabilities that its ArgMax reads are the network's output.  Weights kept in
an external data file are read only from the model's own folder.  Quantized graphs are refused here
and read by :mod:`.quantized`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import ModelFileError, UnsupportedModelError
from ..network import Network
from ._common import check_stored_activations, damaged_file_errors, one_line
from .fold import Activation, Elementwise, Gather, Linear, batch_norm, finish_chain, fractions

SHAPE_ONLY_OPS = ("Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Cast", "Dropout")
ELEMENTWISE_OPS = ("Add", "Sub", "Mul", "Div")
ACTIVATION_OPS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softmax": "softmax", "LeakyRelu": "leaky_relu"}
SUPPORTED_OPS = ("Gemm", "MatMul", *ELEMENTWISE_OPS, *ACTIVATION_OPS, "BatchNormalization", "Transpose", *SHAPE_ONLY_OPS,
                 "Constant")
QUANTIZED_OPS = (
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearMatMul", "QGemm", "MatMulInteger",
    "QLinearAdd", "QLinearConv", "ConvInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "QAttention",
)
_FLOAT_TYPES = (1, 10, 11, 16)  # float, float16, double, bfloat16
_CHAIN = "smtnn reads a single chain of Gemm/MatMul layers with elementwise activations"


@dataclass
class _Sym:
    """The one tensor computed from the model input, by its shape (batch dimensions count as 1)."""

    shape: tuple[int, ...]


def load_onnx(path: Path, activations: Sequence[str] | None = None) -> Network:
    """A network from an ONNX file through the onnx package (``pip install smtnn[onnx]``)."""
    model = read_model(path)
    graph = model.graph
    ops = {n.op_type for n in graph.node}
    if ops & set(QUANTIZED_OPS):
        raise UnsupportedModelError(
            f"{path} is a quantized model ({', '.join(sorted(ops & set(QUANTIZED_OPS)))}): its activations are rounded to "
            "integers, which these engines do not model; `smtnn twins decisions FLOAT.onnx QUANTIZED.onnx` compares it "
            "with its float model, and smtnn.loaders.load_quantized reads its exact integer forward pass"
        )
    walker = _Walker(model, path)
    network = walker.network()
    if activations is not None:
        check_stored_activations(activations, network.layers, path)
    return network


def read_model(path: Path):
    """The ModelProto with external data loaded, refusing data files outside the model's folder."""
    onnx = onnx_module()
    with damaged_file_errors(path, "ONNX model"):
        model = onnx.load(str(path), load_external_data=False)
    folder = path.resolve().parent
    external = [t for t in _all_tensors(model) if t.data_location == onnx.TensorProto.EXTERNAL]
    for tensor in external:
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        target = (folder / location).resolve()
        if not location or os.path.isabs(location) or folder not in target.parents:
            raise ModelFileError(
                f"{path} keeps tensor '{tensor.name}' in '{location}', outside the model's folder; smtnn reads external "
                "data only from files next to the model: save the model with its data beside it"
            )
        if not target.is_file():
            raise ModelFileError(
                f"{path} keeps its weights in '{location}', which is missing; copy that file next to the model"
            )
        offset, length = int(info.get("offset", 0) or 0), int(info.get("length", 0) or 0)
        if offset + length > target.stat().st_size:
            raise ModelFileError(f"{path}: the external data file '{location}' is shorter than the model says; copy it again")
    if external:
        from onnx.external_data_helper import load_external_data_for_model

        with damaged_file_errors(path, "ONNX model with external data"):
            load_external_data_for_model(model, str(folder))
    return model


def onnx_module():
    try:
        import onnx
    except ImportError as exc:
        raise ModelFileError("reading .onnx models needs the onnx package: pip install smtnn[onnx]") from exc
    return onnx


def _all_tensors(model):
    yield from model.graph.initializer
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t


def attributes(node) -> dict:
    onnx = onnx_module()
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def output_choice(graph, path: Path) -> tuple[str, str | None]:
    """The tensor read as the network's output, and a note when a graph output was set aside."""
    outputs = [o.name for o in graph.output]
    if len(outputs) == 1:
        return outputs[0], None
    argmax = [n for n in graph.node if n.op_type == "ArgMax"]
    if len(argmax) == 1:
        scores = argmax[0].input[0]
        positive = _binary_pair(graph, scores)
        if positive is not None:
            return positive, f"output '{positive}' read as P(class 1) (the scores are [1 - p, p])"
        return scores, f"output '{scores}' read as the class scores (label = their argmax)"
    raise UnsupportedModelError(
        f"{path} has {len(outputs)} outputs ({', '.join(outputs)}) and no single ArgMax naming the scores; {_CHAIN}, one output"
    )


def _binary_pair(graph, name: str) -> str | None:
    """p when ``name`` is Concat(1 - p, p) (skl2onnx's binary classifiers), else None."""
    from onnx import numpy_helper

    producer = {o: n for n in graph.node for o in n.output}
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    node = producer.get(name)
    while node is not None and node.op_type == "Identity":
        node = producer.get(node.input[0])
    if node is None or node.op_type != "Concat" or len(node.input) != 2:
        return None
    negative = producer.get(node.input[0])
    if negative is None or negative.op_type != "Sub" or list(negative.input[1:]) != [node.input[1]]:
        return None
    one = constants.get(negative.input[0])
    if one is None or one.size != 1 or float(one.reshape(-1)[0]) != 1.0:
        return None
    return node.input[1]


def needed_nodes(graph, output: str) -> list:
    """The nodes the output depends on, in graph order."""
    producer = {o: n for n in graph.node for o in n.output}
    wanted, stack = set(), [output]
    while stack:
        name = stack.pop()
        node = producer.get(name)
        if node is None or id(node) in wanted:
            continue
        wanted.add(id(node))
        stack.extend(x for x in node.input if x)
    return [n for n in graph.node if id(n) in wanted]


class _Walker:
    """Walks the needed nodes once: constants are evaluated, the data path becomes fold operations."""

    def __init__(self, model, path: Path):
        onnx = onnx_module()
        from onnx import numpy_helper

        self.onnx, self.path, self.model = onnx, path, model
        graph = model.graph
        with damaged_file_errors(path, "ONNX model"):
            self.values: dict = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.notes: list[str] = []
        self.output, note = output_choice(graph, path)
        if note:
            self.notes.append(note)
        self.nodes = needed_nodes(graph, self.output)
        inputs = [i for i in graph.input if i.name not in self.values]
        used = {x for n in self.nodes for x in n.input}
        inputs = [i for i in inputs if i.name in used or i.name == self.output]
        if len(inputs) != 1:
            raise UnsupportedModelError(
                f"the ONNX graph has {len(inputs)} data inputs ({', '.join(i.name for i in inputs)}); {_CHAIN}, one input"
            )
        self.input = inputs[0]
        declared = _input_shape(self.input)
        batched = len(declared) >= 3 or (len(declared) == 2 and declared[0] == 1)
        self.batch = declared[0] if batched else 1
        shape = (1, *declared[1:]) if batched else declared
        self.values[self.input.name] = _Sym(shape)
        self.n_inputs = math.prod(shape)
        self.ops: list = []
        self.opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=13)

    def network(self) -> Network:
        for node in self.nodes:
            self._node(node)
        result = self.values.get(self.output)
        if not isinstance(result, _Sym):
            raise UnsupportedModelError(f"the ONNX output '{self.output}' does not depend on the input; export the model again")
        layers, notes = finish_chain(self.ops, self.n_inputs)
        text = "; ".join(self.notes + notes)
        return Network(tuple(layers), name=text)

    # -- one node ------------------------------------------------------------------------------
    def _node(self, node) -> None:
        op, label = node.op_type, f"ONNX node '{node.name or node.op_type}' ({node.op_type})"
        if node.domain not in ("", "ai.onnx") and op != "Scaler":
            raise UnsupportedModelError(f"{label} is from the operator set '{node.domain}', which smtnn does not read")
        values = [self.values.get(x) if x else None for x in node.input]
        missing = [x for x, v in zip(node.input, values) if x and v is None]
        if missing:
            raise UnsupportedModelError(f"{label} reads '{missing[0]}', which no node computes; export the model again")
        symbolic = [i for i, v in enumerate(values) if isinstance(v, _Sym)]
        attrs = attributes(node)
        if not symbolic:
            outs = self._constant(node, values, label)
        else:
            outs = self._data(node, op, label, values, symbolic, attrs)
        for name, value in zip(node.output, outs):
            if name:
                self.values[name] = value

    def _constant(self, node, values, label) -> list:
        from onnx.reference import ReferenceEvaluator

        helper = self.onnx.helper
        names = [f"in{i}" for i in range(len(values))]
        inputs = [helper.make_tensor_value_info(n, self.onnx.TensorProto.UNDEFINED, None) for n in names]
        outputs = [helper.make_tensor_value_info(f"out{i}", self.onnx.TensorProto.UNDEFINED, None) for i in range(len(node.output))]
        copy = helper.make_node(node.op_type, [n if v is not None else "" for n, v in zip(names, values)],
                                [o.name for o in outputs], domain=node.domain)
        copy.attribute.extend(node.attribute)
        graph = helper.make_graph([copy], "constant", inputs, outputs)
        model = helper.make_model(graph, opset_imports=list(self.model.opset_import))
        try:
            feeds = {n: v for n, v in zip(names, values) if v is not None}
            return list(ReferenceEvaluator(model).run(None, feeds))
        except Exception as exc:
            raise UnsupportedModelError(f"{label} works on constants in a way smtnn cannot evaluate ({one_line(exc)})") from exc

    def _data(self, node, op, label, values, symbolic, attrs) -> list:
        if op == "Scaler":
            return [self._scaler(label, values[0], attrs)]
        if op not in SUPPORTED_OPS:
            raise UnsupportedModelError(
                f"{label} is on the path from input to output; supported ops: {', '.join(SUPPORTED_OPS)}"
            )
        if len(symbolic) > 1:
            raise UnsupportedModelError(f"{label} combines two tensors computed from the input (a branch); {_CHAIN}")
        index = symbolic[0]
        x: _Sym = values[index]
        if op in ("Identity", "Dropout"):
            return [x, None]
        if op == "Cast":
            if attrs.get("to") not in _FLOAT_TYPES:
                raise UnsupportedModelError(f"{label} casts the data to a non-float type; {_CHAIN}")
            return [x]
        if op == "Flatten":
            axis = attrs.get("axis", 1)
            axis = axis + len(x.shape) if axis < 0 else axis
            return [_Sym((math.prod(x.shape[:axis]), math.prod(x.shape[axis:])))]
        if op == "Reshape":
            target = [int(v) for v in np.asarray(values[1]).reshape(-1)]
            if self.batch > 1 and target and target[0] == self.batch:   # an exporter's fixed example batch
                target[0] = 1
            return [_Sym(_reshape(x.shape, target, label))]
        if op in ("Squeeze", "Unsqueeze"):
            axes = attrs.get("axes") if len(values) < 2 or values[1] is None else list(np.asarray(values[1]).reshape(-1))
            return [_Sym(_squeeze(x.shape, axes, op == "Unsqueeze", label))]
        if op == "Transpose":
            perm = attrs.get("perm") or list(reversed(range(len(x.shape))))
            order = np.arange(math.prod(x.shape)).reshape(x.shape).transpose(perm)
            self.ops.append(Gather(order.reshape(-1), f"Transpose '{node.name}'"))
            return [_Sym(tuple(order.shape))]
        if op in ELEMENTWISE_OPS:
            return [self._elementwise(node, op, label, values, index, x)]
        if op in ("Gemm", "MatMul"):
            return [self._affine(op, node.name or f"dense_{len(self.ops)}", label, values, index, x, attrs)]
        if op == "BatchNormalization":
            if index != 0 or len(x.shape) < 2:
                raise UnsupportedModelError(f"{label} normalises a tensor of shape {x.shape}; smtnn reads (batch, channels, ...)")
            channels = x.shape[1]
            params = [np.asarray(v, dtype=np.float64).reshape(-1) for v in values[1:5]]
            if any(p.size != channels for p in params):
                raise UnsupportedModelError(f"{label} has parameters for {params[0].size} channels, the data has {channels}")
            spread = math.prod(x.shape[2:])
            params = [np.repeat(p, spread) for p in params]
            self.ops.append(batch_norm(*params, attrs.get("epsilon", 1e-5), f"BatchNormalization '{node.name}'"))
            return [x]
        kind = ACTIVATION_OPS[op]
        if op == "Softmax":
            axis = attrs.get("axis", -1 if self.opset >= 13 else 1)
            if axis not in (-1, len(x.shape) - 1) and not (axis == 1 and math.prod(x.shape[2:]) == 1):
                raise UnsupportedModelError(f"{label} works on axis {axis}; smtnn reads a softmax over the last axis")
        alpha = Fraction(float(attrs.get("alpha", 0.01))) if op == "LeakyRelu" else None
        self.ops.append(Activation(kind, node.name or op, alpha))
        return [x]

    def _elementwise(self, node, op, label, values, index, x: _Sym) -> _Sym:
        other = values[1 - index]
        constant = np.asarray(other, dtype=np.float64)
        out_shape = np.broadcast_shapes(x.shape, constant.shape)
        if out_shape != x.shape:
            spread = np.broadcast_to(np.arange(math.prod(x.shape)).reshape(x.shape), out_shape)
            self.ops.append(Gather(spread.reshape(-1), f"broadcast in '{node.name}'"))
        c = fractions(np.broadcast_to(constant, out_shape))
        what = f"{op} '{node.name or op}'"
        if op == "Add":
            element = Elementwise(None, c, what)
        elif op == "Sub":
            element = Elementwise(None, [-v for v in c], what) if index == 0 else Elementwise([Fraction(-1)] * len(c), c, what)
        elif op == "Mul":
            element = Elementwise(c, None, what)
        else:
            if index != 0:
                raise UnsupportedModelError(f"{label} divides by the data; {_CHAIN}")
            if any(v == 0 for v in c):
                raise UnsupportedModelError(f"{label} divides by zero; repair the model")
            element = Elementwise([1 / v for v in c], None, what)
        last = self.ops[-1] if self.ops else None
        if op == "Add" and isinstance(last, Linear) and last.bias is None and out_shape == x.shape:
            last.bias = np.broadcast_to(constant, out_shape).reshape(-1).copy()
        else:
            self.ops.append(element)
        return _Sym(tuple(out_shape))

    def _affine(self, op, name, label, values, index, x: _Sym, attrs) -> _Sym:
        if op == "MatMul":
            a, b = values[0], values[1]
            alpha, bias, beta = 1.0, None, 1.0
            trans_a = trans_b = False
        else:
            a, b = values[0], values[1]
            trans_a, trans_b = bool(attrs.get("transA", 0)), bool(attrs.get("transB", 0))
            alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
            bias = values[2] if len(values) > 2 else None
            if isinstance(bias, _Sym):
                raise UnsupportedModelError(f"{label} adds a tensor computed from the input; {_CHAIN}")
        constant = np.asarray(b if index == 0 else a, dtype=np.float64)
        if constant.ndim != 2:
            raise UnsupportedModelError(f"{label} has a weight of shape {constant.shape}; smtnn reads 2-D weight matrices")
        if index == 0:   # data times weights: rows of the data are inputs
            dims = x.shape if not trans_a else tuple(reversed(x.shape))
            weights = (constant.T if trans_b else constant).T            # (outputs, inputs)
            if len(dims) == 0 or math.prod(dims[:-1]) != 1 or dims[-1] != weights.shape[1]:
                raise UnsupportedModelError(f"{label} multiplies data of shape {x.shape} by weights of shape {constant.shape}; {_CHAIN}")
            out_shape = dims[:-1] + (weights.shape[0],)
        else:            # weights times data (a column vector)
            weights = constant.T if trans_a else constant
            dims = x.shape if not trans_b else tuple(reversed(x.shape))
            if len(dims) == 1:
                column = dims[0]
                out_shape = (weights.shape[0],)
            else:
                column = dims[-2]
                if math.prod(dims) != column:
                    raise UnsupportedModelError(f"{label} multiplies weights {constant.shape} by data of shape {x.shape}; {_CHAIN}")
                out_shape = dims[:-2] + (weights.shape[0], dims[-1])
            if column != weights.shape[1]:
                raise UnsupportedModelError(f"{label} multiplies weights {constant.shape} by data of shape {x.shape}; {_CHAIN}")
        weights = _scaled(weights, alpha, label)
        bias_vector = None
        if bias is not None:
            bias_array = np.asarray(bias, dtype=np.float64)
            if bias_array.size not in (1, weights.shape[0]):
                raise UnsupportedModelError(f"{label} has a bias of shape {bias_array.shape} for {weights.shape[0]} units")
            bias_vector = _scaled(np.broadcast_to(bias_array.reshape(-1), (weights.shape[0],)).copy(), beta, label)
        self.ops.append(Linear(np.ascontiguousarray(weights), bias_vector, name))
        return _Sym(tuple(out_shape))

    def _scaler(self, label, x, attrs) -> _Sym:
        """skl2onnx's Scaler: y = (x - offset) * scale, with one value or one per feature."""
        if not isinstance(x, _Sym):
            raise UnsupportedModelError(f"{label} does not read the model input")
        n = math.prod(x.shape)
        offset = np.broadcast_to(np.asarray(attrs.get("offset", [0.0]), dtype=np.float64), (n,))
        scale = fractions(np.broadcast_to(np.asarray(attrs.get("scale", [1.0]), dtype=np.float64), (n,)))
        self.ops.append(Elementwise(scale, [-s * o for s, o in zip(scale, fractions(offset))], f"Scaler '{label.split(chr(39))[1]}'"))
        return x


def _input_shape(value_info) -> tuple[int, ...]:
    tensor = value_info.type.tensor_type
    if not value_info.type.HasField("tensor_type") or not tensor.HasField("shape"):
        raise UnsupportedModelError(f"the ONNX input '{value_info.name}' has no declared shape; export it with a shape")
    dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in tensor.shape.dim)
    return dims


def _reshape(shape: tuple, target, label: str) -> tuple:
    target = [int(v) for v in np.asarray(target).reshape(-1)]
    out = [shape[i] if v == 0 and i < len(shape) else v for i, v in enumerate(target)]
    total = math.prod(shape)
    if out.count(-1) == 1:
        known = math.prod(v for v in out if v != -1)
        out[out.index(-1)] = total // known if known else 0
    if math.prod(out) != total or any(v < 0 for v in out):
        raise UnsupportedModelError(f"{label} reshapes {shape} to {target}; the sizes do not match")
    return tuple(out)


def _squeeze(shape: tuple, axes, unsqueeze: bool, label: str) -> tuple:
    dims = list(shape)
    if unsqueeze:
        for axis in sorted(int(a) + len(dims) + 1 if int(a) < 0 else int(a) for a in axes or []):
            dims.insert(axis, 1)
        return tuple(dims)
    if axes is None:
        return tuple(d for d in dims if d != 1)
    drop = {int(a) + len(dims) if int(a) < 0 else int(a) for a in axes}
    if any(dims[a] != 1 for a in drop):
        raise UnsupportedModelError(f"{label} squeezes an axis longer than 1")
    return tuple(d for i, d in enumerate(dims) if i not in drop)


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
