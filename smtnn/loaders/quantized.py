"""Quantized ONNX models from onnxruntime's quantizer, read as the integer network they are, in exact arithmetic.

onnxruntime writes three forms: QDQ (QuantizeLinear/DequantizeLinear pairs around float Gemm/MatMul),
QOperator (QGemm, QLinearMatMul on integer tensors) and dynamic quantization (DynamicQuantizeLinear on
activations, MatMulInteger, then float rescaling).  :class:`QuantizedNetwork` evaluates any of them for one
input at a time (a batch of inputs is evaluated row by row, as if each were run alone, since dynamic
quantization picks its scale from the whole tensor it sees) with the ONNX operator definitions taken as
exact arithmetic:

* weights, biases and scales are the exact rationals of the stored numbers: scale x (q - zero point);
* integer products and sums are exact (an int32 accumulator that never overflows at these sizes);
* QuantizeLinear is round(x / scale) + zero point, rounding half to even, saturated to the integer type;
  this is where the relus of a QDQ file live (the lower end of the range is 0), so they are never dropped;
* DynamicQuantizeLinear takes the uint8 range of [min(0, x), max(0, x)] for scale and zero point.

Float arithmetic between these steps (onnxruntime multiplies scales in float32) is taken exactly, so
a value that float32 rounds across a rounding boundary can differ; the tests measure how often labels
agree with onnxruntime.  The verification engines do not model activation rounding yet: loading such a
file as a :class:`~smtnn.network.Network` is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError, UnsupportedModelError
from ._common import readable_file
from .onnx_loader import attributes, needed_nodes, output_choice, read_model

INTEGER_RANGES = {2: (0, 255), 3: (-128, 127), 4: (0, 65535), 5: (-32768, 32767), 6: (-2**31, 2**31 - 1)}
_NUMPY_RANGES = {np.dtype(np.uint8): (0, 255), np.dtype(np.int8): (-128, 127), np.dtype(np.uint16): (0, 65535),
                 np.dtype(np.int16): (-32768, 32767), np.dtype(np.int32): (-2**31, 2**31 - 1)}
SHAPE_ONLY = ("Identity", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Dropout")
QUANTIZED_SUPPORTED = ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "QGemm",
                       "QLinearMatMul", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "Cast", *SHAPE_ONLY)
_END_OPS = ("Softmax", "Sigmoid")


@dataclass
class _Ints:
    """An integer tensor, one row per input, with the integer range of its type."""

    q: np.ndarray
    lo: int
    hi: int


@dataclass
class _Floats:
    """Input rows as the exact binary64 values they are."""

    v: np.ndarray


@dataclass
class _Lin:
    """mult * acc + offset: an integer accumulator with exact per-column rationals, not yet expanded."""

    acc: np.ndarray
    mult: np.ndarray
    offset: np.ndarray | None


@dataclass
class _Exact:
    """A tensor of exact rationals (object array), one row per input."""

    v: np.ndarray


def _fractions(array) -> np.ndarray:
    array = np.asarray(array)
    out = np.empty(array.shape, dtype=object)
    flat = out.reshape(-1)
    for i, value in enumerate(array.reshape(-1).tolist()):
        flat[i] = Fraction(value)
    return out


def _round_half_even(values: np.ndarray) -> np.ndarray:
    """Python's round on Fractions is exact and rounds ties to even."""
    return np.vectorize(lambda v: round(v), otypes=[object])(values)


class QuantizedNetwork:
    """The exact forward pass of an onnxruntime-quantized ONNX model (see the module docstring)."""

    def __init__(self, path: str | Path):
        self.path = readable_file(path)
        model = read_model(self.path)
        from onnx import numpy_helper

        graph = model.graph
        self.constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.output, note = output_choice(graph, self.path)
        self.nodes = needed_nodes(graph, self.output)
        inputs = [i for i in graph.input if i.name not in self.constants]
        if len(inputs) != 1:
            raise UnsupportedModelError(f"{self.path} has {len(inputs)} data inputs; smtnn reads one-input models")
        self.input = inputs[0].name
        dims = inputs[0].type.tensor_type.shape.dim
        shape = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in dims]
        self.n_inputs = math.prod(shape[1:]) if len(shape) > 1 else math.prod(shape)
        for node in self.nodes:
            if node.op_type in _END_OPS and node.output[0] == self.output:
                self.output = node.input[0]
            elif node.op_type not in QUANTIZED_SUPPORTED and node.op_type != "Constant":
                raise UnsupportedModelError(
                    f"{self.path}: node '{node.name}' uses {node.op_type}, outside the quantized ops smtnn evaluates "
                    f"exactly ({', '.join(QUANTIZED_SUPPORTED)})"
                )
        self.nodes = [n for n in needed_nodes(graph, self.output)]
        ops = {n.op_type for n in self.nodes}
        self.form = ("dynamic" if "DynamicQuantizeLinear" in ops else "QOperator" if ops & {"QGemm", "QLinearMatMul"}
                     else "QDQ")
        self.description = f"{self.path.name}: onnxruntime {self.form} quantized model, exact integer forward pass"
        if note:
            self.description += f"; {note}"

    # -- the forward pass ------------------------------------------------------------------------
    def logits(self, inputs) -> list[list[Fraction]]:
        """Exact output values (before a final softmax/sigmoid) for each input row."""
        x = np.atleast_2d(np.asarray(inputs, dtype=np.float64))
        if x.shape[1] != self.n_inputs:
            raise InvalidInputError(f"{self.path.name} takes {self.n_inputs} inputs, got rows of {x.shape[1]}")
        if not np.isfinite(x).all():
            raise InvalidInputError(f"the inputs of {self.path.name} must be finite numbers")
        batches = [x[i:i + 1] for i in range(len(x))] if self.form == "dynamic" else [x]
        rows = []
        for batch in batches:
            rows += [list(row) for row in _exact_value(self._run(_Floats(batch))).reshape(len(batch), -1)]
        return rows

    def logits_exact(self, rows) -> list[list[Fraction]]:
        """Exact output values for inputs given as exact rationals (a counterexample's replay)."""
        out = []
        for row in rows:
            x = np.array([[Fraction(v) for v in row]], dtype=object)
            if x.shape[1] != self.n_inputs:
                raise InvalidInputError(f"{self.path.name} takes {self.n_inputs} inputs, got {x.shape[1]}")
            out.append(list(_exact_value(self._run(_Exact(x))).reshape(-1)))
        return out

    def predict(self, inputs) -> np.ndarray:
        """Labels: the first index of the largest output value, per input row."""
        out = []
        for z in self.logits(inputs):
            best = max(z)
            out.append(next(i for i, v in enumerate(z) if v == best))
        return np.array(out, dtype=int)

    def _run(self, x: _Exact):
        values: dict = {self.input: x}
        for node in self.nodes:
            args = [values.get(name, self.constants.get(name)) if name else None for name in node.input]
            outs = self._node(node, args)
            for name, value in zip(node.output, outs):
                values[name] = value
        return values[self.output]

    def _node(self, node, args) -> list:
        op, attrs = node.op_type, attributes(node)
        if op == "Constant":
            from onnx import numpy_helper

            return [numpy_helper.to_array(attrs["value"]) if "value" in attrs else np.asarray(next(iter(attrs.values())))]
        if op in SHAPE_ONLY:
            return [args[0], None]
        if op == "Cast":
            return [args[0] if isinstance(args[0], _Exact) else _as_exact(args[0])]
        if op == "QuantizeLinear":
            return [_quantize(args[0], args[1], args[2] if len(args) > 2 else None, attrs)]
        if op == "DequantizeLinear":
            return [_dequantize(args[0], args[1], args[2] if len(args) > 2 else None, attrs)]
        if op == "DynamicQuantizeLinear":
            return _dynamic_quantize(args[0] if isinstance(args[0], _Floats) else _as_exact(args[0]))
        if op == "Relu":
            value = _as_exact(args[0])
            return [_Exact(np.where(value.v > 0, value.v, Fraction(0)))] if isinstance(value, _Exact) else [value]
        if op in ("Add", "Sub", "Mul", "Div"):
            a_v, b_v = _exact_value(args[0]), _exact_value(args[1])
            result = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](a_v, b_v)
            return [_Exact(np.asarray(result, dtype=object))]
        if op in ("Gemm", "MatMul"):
            return [self._gemm(op, args, attrs)]
        if op == "MatMulInteger":
            a, b = args[0], args[1]
            a_zp = _zero(args[2] if len(args) > 2 else None)
            b_zp = _zero(args[3] if len(args) > 3 else None)
            qa = _ints(a) - a_zp
            qb = np.asarray(b, dtype=np.int64) - np.asarray(b_zp, dtype=np.int64)
            return [_Ints(qa @ qb, -2**31, 2**31 - 1)]
        if op == "QLinearMatMul":
            a = _dequantize(args[0], args[1], args[2], {})
            b = _dequantize(args[3], args[4], args[5], {})
            return [_quantize(_product(a, b, False, None), args[6], args[7], {})]
        if op == "QGemm":
            if attrs.get("transA", 0) or float(attrs.get("alpha", 1.0)) != 1.0:
                raise UnsupportedModelError(f"{self.path}: QGemm '{node.name}' uses transA or alpha; smtnn reads plain QGemm")
            a = _dequantize(args[0], args[1], args[2], {})
            trans_b = bool(attrs.get("transB", 0))
            b = _dequantize(args[3], args[4], args[5], {"axis": 0 if trans_b else 1})
            bias = None
            if len(args) > 6 and args[6] is not None:
                scale = _fractions(np.asarray(args[1])).reshape(-1)[0] * _fractions(np.asarray(args[4]).reshape(-1))
                bias = _fractions(np.asarray(args[6])) * scale
            result = _product(a, b, trans_b, bias)
            if len(args) > 7 and args[7] is not None:
                return [_quantize(result, args[7], args[8] if len(args) > 8 else None, {})]
            return [result]
        raise UnsupportedModelError(f"{self.path}: node '{node.name}' uses {op}, which smtnn does not evaluate")  # pragma: no cover

    def _gemm(self, op, args, attrs) -> _Exact:
        a, b = args[0], args[1]
        a = _as_exact(a) if isinstance(a, _Ints) else a
        trans_a = bool(attrs.get("transA", 0)) if op == "Gemm" else False
        trans_b = bool(attrs.get("transB", 0)) if op == "Gemm" else False
        data = isinstance(a, _Exact) or (isinstance(a, _Dequantized) and not a.constant)
        weights = isinstance(b, np.ndarray) or (isinstance(b, _Dequantized) and b.constant)
        if trans_a or not data or not weights:
            raise UnsupportedModelError(f"{self.path}: {op} must multiply the data by constant weights")
        if op == "Gemm" and (float(attrs.get("alpha", 1.0)) != 1.0 or float(attrs.get("beta", 1.0)) != 1.0):
            raise UnsupportedModelError(f"{self.path}: Gemm with alpha/beta is not read in quantized models")
        bias = None
        if len(args) > 2 and args[2] is not None:
            bias = _exact_value(args[2]).reshape(-1)
        return _product(a, b, trans_b, bias)


@dataclass
class _Dequantized:
    """scale * (q - zero point) kept as integers and scales so that products stay integer until the end."""

    q: np.ndarray
    zero: np.ndarray
    scale: np.ndarray   # Fractions, broadcast against q
    constant: bool


def _zero(value) -> np.ndarray:
    if value is None:
        return np.int64(0)
    if isinstance(value, _Ints):
        return value.q.astype(np.int64)
    return np.asarray(value, dtype=np.int64)


def _ints(value) -> np.ndarray:
    if isinstance(value, _Ints):
        return value.q.astype(np.int64)
    return np.asarray(value, dtype=np.int64)


def _axis_shape(values: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    if values.size == 1:
        return values.reshape(())
    shape = [1] * ndim
    shape[axis % ndim] = values.size
    return values.reshape(shape)


def _dequantize(x, scale, zero, attrs) -> _Dequantized:
    constant = not isinstance(x, _Ints)
    q = _ints(x)
    axis = int(attrs.get("axis", 1))
    if isinstance(scale, _Exact):
        s = scale.v.reshape(-1, *([1] * (q.ndim - 1)))
        z = _zero(zero).reshape(-1, *([1] * (q.ndim - 1))) if zero is not None and np.size(_zero(zero)) > 1 else _zero(zero)
        return _Dequantized(q, z, s, constant)
    s = _axis_shape(_fractions(np.asarray(scale)), q.ndim, axis)
    z = _axis_shape(np.asarray(_zero(zero)), q.ndim, axis)
    return _Dequantized(q, z, s, constant)


def _as_exact(value):
    if isinstance(value, (_Floats, _Lin)):
        return _Exact(_exact_value(value))
    if isinstance(value, _Dequantized):
        return _Exact(value.scale * _fractions(value.q - value.zero)) if not value.constant else value
    if isinstance(value, _Ints):
        return _Exact(_fractions(value.q))
    return value


def _exact_value(value) -> np.ndarray:
    """Any value (tensor, dequantized constant, stored array) as an object array of exact rationals."""
    if isinstance(value, _Exact):
        return value.v
    if isinstance(value, _Floats):
        return _fractions(value.v)
    if isinstance(value, _Lin):
        out = _fractions(value.acc) * value.mult
        return np.asarray(out if value.offset is None else out + value.offset, dtype=object)
    if isinstance(value, _Dequantized):
        return np.asarray(value.scale * _fractions(value.q - value.zero), dtype=object)
    if isinstance(value, _Ints):
        return _fractions(value.q)
    return _fractions(np.asarray(value))


def _product(a, b, trans_b: bool, bias) -> _Exact:
    """a @ b (b transposed when trans_b) + bias, with integer accumulation when both sides are dequantized."""
    if isinstance(b, _Dequantized) and b.constant:
        qb = b.q - b.zero
        sb = b.scale
        if trans_b:
            qb, sb = qb.T, (sb.T if np.ndim(sb) == 2 else sb)
        sb_row = np.asarray(sb, dtype=object).reshape(-1) if np.size(sb) > 1 else np.asarray(sb, dtype=object).reshape(())
        if isinstance(a, _Dequantized) and not a.constant:
            acc = (a.q - a.zero) @ qb
            mult = np.broadcast_to(np.asarray(a.scale * sb_row, dtype=object), (acc.shape[-1],))
            offset = None if bias is None else np.asarray(bias, dtype=object).reshape(-1)
            return _Lin(acc, mult, offset)
        else:
            exact = _as_exact(a)
            out = (exact.v @ _fractions(qb)) * sb_row
    else:
        weights = np.asarray(b, dtype=np.float64)
        weights = weights.T if trans_b else weights
        out = _as_exact(a).v @ _fractions(weights)
    if bias is not None:
        out = out + np.asarray(bias, dtype=object).reshape(-1)
    return _Exact(np.asarray(out, dtype=object))


def _quantize(x, scale, zero, attrs) -> _Ints:
    z = np.asarray(zero) if zero is not None else np.uint8(0)
    if isinstance(x, (_Floats, _Lin)) and np.size(scale) == 1 and z.size == 1:
        lo, hi = _NUMPY_RANGES.get(z.dtype, (0, 255))
        if int(attrs.get("saturate", 1)) != 1:
            raise UnsupportedModelError("QuantizeLinear without saturation is not read")
        s = Fraction(float(np.asarray(scale).reshape(-1)[0]))
        rounded = _certified_round(x, s)
        return _Ints(np.clip(rounded + int(z.reshape(-1)[0]), lo, hi), lo, hi)
    if isinstance(x, (_Floats, _Lin)):
        x = _as_exact(x)
    if isinstance(x, _Dequantized):
        x = _Exact(x.scale * _fractions(x.q - x.zero))
    if not isinstance(x, _Exact):
        raise UnsupportedModelError("QuantizeLinear reads a value that is not a tensor")
    z = np.asarray(zero) if zero is not None else np.uint8(0)
    lo, hi = _NUMPY_RANGES.get(z.dtype, (0, 255))
    if int(attrs.get("saturate", 1)) != 1:
        raise UnsupportedModelError("QuantizeLinear without saturation is not read")
    axis = int(attrs.get("axis", 1))
    s = _axis_shape(_fractions(np.asarray(scale)), x.v.ndim, axis)
    zz = _axis_shape(z.astype(np.int64), x.v.ndim, axis)
    rounded = _round_half_even(x.v / s).astype(np.int64)
    return _Ints(np.clip(rounded + zz, lo, hi), lo, hi)


_TIE_MARGIN = 2.0 ** -40


def _certified_round(x, scale: Fraction) -> np.ndarray:
    """round(x / scale), half to even, exactly: in float64 where the quotient is clearly away from a tie
    (the float error is below 2^-40 of the operands' size), in rationals for the few entries that are not."""
    if isinstance(x, _Floats):
        approx = x.v / float(scale)                     # one correctly rounded division of exact binary64 values
        size = np.abs(approx)
    else:
        mult = np.array([float(m / scale) for m in x.mult])
        offset = np.zeros(len(mult)) if x.offset is None else np.array([float(c / scale) for c in x.offset])
        approx = x.acc * mult + offset
        size = np.abs(x.acc * mult) + np.abs(offset)
    rounded = np.rint(approx)
    distance = np.abs(np.abs(approx - np.floor(approx)) - 0.5)
    doubtful = ~(distance > size * _TIE_MARGIN + 2.0 ** -60) | ~np.isfinite(approx)
    out = rounded.astype(np.int64)
    for index in zip(*np.nonzero(doubtful)):
        out[index] = round(_exact_entry(x, index) / scale)
    return out


def _exact_entry(x, index) -> Fraction:
    if isinstance(x, _Floats):
        return Fraction(float(x.v[index]))
    value = x.mult[index[-1]] * int(x.acc[index])
    return value if x.offset is None else value + x.offset[index[-1]]


def _dynamic_quantize(x) -> list:
    """onnxruntime's DynamicQuantizeLinear: uint8 over [min(0, x), max(0, x)] of the tensor (one input row)."""
    values = x.v.reshape(-1)
    lo, hi = min(Fraction(0), Fraction(min(values))), max(Fraction(0), Fraction(max(values)))
    if hi == lo:
        scale = Fraction(0)
        zero = 0
        q = np.zeros(x.v.shape, dtype=np.int64)
    else:
        scale = (hi - lo) / 255
        zero = int(min(255, max(0, round(-lo / scale))))
        rounded = _certified_round(x, scale) if isinstance(x, _Floats) else _round_half_even(x.v / scale).astype(np.int64)
        q = np.clip(rounded + zero, 0, 255)
    return [_Ints(q, 0, 255), _Exact(np.array([[scale]], dtype=object)), _Ints(np.array([zero], dtype=np.int64), 0, 255)]


def is_quantized(path: str | Path) -> bool:
    """Whether an ONNX file holds quantized operators (QuantizeLinear, QGemm, MatMulInteger, ...)."""
    from .onnx_loader import QUANTIZED_OPS

    return any(node.op_type in QUANTIZED_OPS for node in read_model(readable_file(path)).graph.node)


def load_quantized(path: str | Path) -> QuantizedNetwork:
    """The exact forward pass of an onnxruntime-quantized ONNX file (QDQ, QOperator or dynamic)."""
    return QuantizedNetwork(path)
