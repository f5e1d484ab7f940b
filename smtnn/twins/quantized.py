"""Decision preservation between a float network N1 and its onnxruntime-quantized twin N2 (static quantization).

N2 is the integer network :class:`~smtnn.loaders.quantized.QuantizedNetwork` evaluates.  "holds" is proved by
exact interval arithmetic in rationals over boxes: every QuantizeLinear maps [lo, hi] to the integers
[ceil(lo/s - 1/2), floor(hi/s + 1/2)] + zero point, saturated (a tie may round either way in this bound, so
it contains what onnxruntime computes), and on a box where both networks' classes are fixed and equal the
property holds there; boxes that are not decided are split along their widest input, within a budget.
"violated" comes only with an input at which the exact forward passes of N1 and N2 (integer rounding
included) pick different classes.  Otherwise the answer is "unknown" with the reason.  Dynamic quantization
is refused: its scale is computed from each input.
"""

from __future__ import annotations

import math
import time
from fractions import Fraction

import numpy as np

from ..budget import Stop, budgeted
from ..domain import Box
from ..errors import InvalidInputError, UnsupportedModelError
from ..exact import Enclosure
from ..network import PIECEWISE_LINEAR, Network
from ..result import Verdict, VerificationResult
from ..semantics import walk
from ..semantics.enclosures import PointParameterEnclosures
from .pair import ball, exact_class
from .result import decision_result

Interval = tuple[Fraction, Fraction]
ENGINE = "exact-intervals"
METHOD = "exact interval arithmetic over split boxes; sampled and split-centre counterexamples replayed exactly"


def _affine(values: list[Interval], weights, bias) -> list[Interval]:
    out = []
    for i in range(len(weights)):
        lo = hi = Fraction(bias[i]) if bias is not None else Fraction(0)
        for w, (a, b) in zip(weights[i], values):
            if w > 0:
                lo, hi = lo + w * a, hi + w * b
            elif w < 0:
                lo, hi = lo + w * b, hi + w * a
        out.append((lo, hi))
    return out


def _relu(values: list[Interval], alpha: Fraction = Fraction(0)) -> list[Interval]:
    def one(a, b):
        f = (lambda v: v if v >= 0 else alpha * v)
        return (f(a), f(b))
    return [one(a, b) for a, b in values]


def _float_bounds(network: Network, values: list[Interval], parameters: list[Fraction]) -> list[Interval]:
    """Exact interval image of the float network N1 (its parameters as exact rationals, flat) over a box."""
    refused = next((layer.activation for layer in network.layers[:-1] if layer.activation not in PIECEWISE_LINEAR), None)
    if refused is not None:
        raise UnsupportedModelError(f"'{network.name}' has {refused} hidden units; this check reads relu/linear networks")
    domain = PointParameterEnclosures(network, parameters)
    logits = walk(network, domain, [Enclosure(lo, hi) for lo, hi in values])
    return [(v.lo, v.hi) for v in logits]


def _quantized_bounds(quantized, values: list[Interval]) -> list[Interval]:
    """Interval image of the quantized graph (the op semantics of QuantizedNetwork, rounding either way at ties)."""
    from ..loaders.onnx_loader import attributes
    from ..loaders.quantized import _NUMPY_RANGES, _fractions

    def dequantized_constant(q, scale, zero, axis):
        q = np.asarray(q, dtype=np.int64)
        s = _fractions(np.asarray(scale))
        z = np.asarray(zero if zero is not None else 0, dtype=np.int64)
        if s.size > 1:
            shape = [1] * q.ndim
            shape[axis % q.ndim] = s.size
            s = s.reshape(shape)
            z = z.reshape(shape) if z.size > 1 else z
        return s * _fractions(q - z)

    def scalar(value) -> Fraction:
        array = np.asarray(value)
        if array.size != 1:
            raise UnsupportedModelError("per-channel activation quantization is not read by this check")
        return Fraction(array.reshape(-1)[0].item())

    def quantize(data, scale, zero):
        z = np.asarray(zero if zero is not None else np.uint8(0))
        lo, hi = _NUMPY_RANGES.get(z.dtype, (0, 255))
        s, zz = scalar(scale), int(z.reshape(-1)[0])
        clamp = (lambda k: min(max(k + zz, lo), hi))
        return [(Fraction(clamp(math.ceil(a / s - Fraction(1, 2)))), Fraction(clamp(math.floor(b / s + Fraction(1, 2)))))
                for a, b in data], (s, zz)

    def dequantize(data, scale, zero):
        s, zz = scalar(scale), int(np.asarray(zero if zero is not None else 0).reshape(-1)[0])
        return [(s * (a - zz), s * (b - zz)) for a, b in data]

    def exact_matrix(array):
        return [[v if isinstance(v, Fraction) else Fraction(float(v)) for v in row] for row in np.asarray(array, dtype=object)]

    tensors: dict = {quantized.input: ("data", values)}
    for node in quantized.nodes:
        op, attrs = node.op_type, attributes(node)
        args = [tensors.get(n, ("const", quantized.constants[n]) if n in quantized.constants else None) if n else None
                for n in node.input]
        if op == "Constant":
            from onnx import numpy_helper

            tensors[node.output[0]] = ("const", numpy_helper.to_array(attrs["value"]))
            continue
        if not any(a is not None and a[0] == "data" for a in args):
            if op != "DequantizeLinear":
                raise UnsupportedModelError(f"node '{node.name}' ({op}) on constants is not read by this check")
            zero = args[2][1] if len(args) > 2 and args[2] is not None else None
            tensors[node.output[0]] = ("const", dequantized_constant(args[0][1], args[1][1], zero, int(attrs.get("axis", 1))))
            continue
        data = args[0][1]
        extra = (lambda i: args[i][1] if len(args) > i and args[i] is not None else None)
        if op in ("Identity", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Dropout"):
            out = data
        elif op == "QuantizeLinear":
            out, _ = quantize(data, extra(1), extra(2))
        elif op == "DequantizeLinear":
            out = dequantize(data, extra(1), extra(2))
        elif op == "Relu":
            out = _relu(data)
        elif op in ("Gemm", "MatMul"):
            if op == "Gemm" and (attrs.get("transA", 0) or float(attrs.get("alpha", 1.0)) != 1 or float(attrs.get("beta", 1.0)) != 1):
                raise UnsupportedModelError(f"Gemm '{node.name}' with transA/alpha/beta is not read by this check")
            weights = np.asarray(extra(1), dtype=object)
            weights = weights if op == "Gemm" and attrs.get("transB", 0) else weights.T
            bias = None if op == "MatMul" or extra(2) is None else [
                v if isinstance(v, Fraction) else Fraction(float(v)) for v in np.asarray(extra(2), dtype=object).reshape(-1)]
            out = _affine(data, exact_matrix(weights), bias)
        elif op in ("QGemm", "QLinearMatMul"):
            real = dequantize(data, extra(1), extra(2))
            trans_b = op == "QGemm" and bool(attrs.get("transB", 0))
            if op == "QGemm" and (attrs.get("transA", 0) or float(attrs.get("alpha", 1.0)) != 1):
                raise UnsupportedModelError(f"QGemm '{node.name}' with transA/alpha is not read by this check")
            weights = dequantized_constant(extra(3), extra(4), extra(5), 0 if trans_b else 1)
            weights = weights if trans_b else weights.T
            bias = None
            if op == "QGemm" and extra(6) is not None:
                scale = scalar(extra(1)) * _fractions(np.asarray(extra(4)).reshape(-1))
                bias = list(_fractions(np.asarray(extra(6))).reshape(-1) * scale)
            out = _affine(real, weights, bias)
            y = (6, 7) if op == "QLinearMatMul" else (7, 8)
            if extra(y[0]) is not None:
                out, _ = quantize(out, extra(y[0]), extra(y[1]))
        else:
            raise UnsupportedModelError(
                f"node '{node.name}' ({op}) is not read by this check; it reads onnxruntime's static quantization (QDQ, QOperator)"
            )
        tensors[node.output[0]] = ("data", out)
    return tensors[quantized.output][1]


def _fixed_class(bounds: list[Interval]) -> int | None:
    """The class every point of the bounds picks (argmax, ties to the lowest index), or None."""
    for c, (lo, _) in enumerate(bounds):
        if all(lo > hi for _, hi in bounds[:c]) and all(lo >= hi for _, hi in bounds[c + 1:]):
            return c
    return None


def _stopped(stop: Stop, first, *_, **__) -> VerificationResult:
    """A call stopped from outside (memory cap, hard timeout): UNKNOWN with the reason."""
    return decision_result(Verdict.UNKNOWN, solver="none", method=METHOD, seconds=stop.seconds, reason=stop.reason,
                           query={"decision": first.decision})


@budgeted(_stopped)
def quantized_decisions(first: Network, second, x0=None, radius=None, *, box: Box | None = None, clip=None,
                        timeout: float | None = None, max_boxes: int = 2000, samples: int = 200,
                        seed: int = 0) -> VerificationResult:
    """Does the statically quantized N2 decide like the float N1 on every input of B(x0, radius) (or ``box``)?"""
    start = time.perf_counter()
    if "DynamicQuantizeLinear" in {n.op_type for n in second.nodes}:
        raise UnsupportedModelError(
            f"'{second.path.name}' uses dynamic quantization: its scale is computed from each input, which twins "
            "decisions does not model; quantize it statically (quantize_static) to compare it"
        )
    if first.binary:
        raise UnsupportedModelError(f"'{first.name}' is a binary network; this check compares multi-class argmax decisions")
    if first.n_inputs != second.n_inputs:
        raise InvalidInputError(f"N1 takes {first.n_inputs} inputs but N2 takes {second.n_inputs}; twins need the same inputs")
    if box is None:
        if x0 is None or radius is None:
            raise InvalidInputError("give x0 with radius (a ball), or a box")
        box = ball(x0, radius, clip)
    box = box.check_for(first.n_inputs)
    parameters = [Fraction(float(v)) for v in first.parameter_vector()]
    witness = _sample_disagreement(first, second, box, samples, seed)
    if witness is not None:
        return _result(Verdict.VIOLATED, start, witness=tuple(witness[0]), classes=witness[1])
    pending, proved = [(tuple(box.lower), tuple(box.upper))], 0
    while pending:
        if proved + len(pending) > max_boxes or (timeout is not None and time.perf_counter() - start > timeout):
            return _result(Verdict.UNKNOWN, start,
                           reason=f"{len(pending)} sub-boxes undecided after {proved} proved (budget reached); "
                                  "try a smaller region or a larger --timeout",
                           stats={"boxes_proved": proved})
        lower, upper = pending.pop()
        intervals = list(zip(lower, upper))
        c1 = _fixed_class(_float_bounds(first, intervals, parameters))
        c2 = _fixed_class(_quantized_bounds(second, intervals))
        if c1 is not None and c1 == c2:
            proved += 1
            continue
        centre = [(a + b) / 2 for a, b in intervals]
        classes = _exact_classes(first, second, centre)
        if classes[0] != classes[1]:
            return _result(Verdict.VIOLATED, start, witness=tuple(centre), classes=classes, stats={"boxes_proved": proved})
        axis = max(range(len(intervals)), key=lambda i: upper[i] - lower[i])
        if upper[axis] == lower[axis]:
            return _result(Verdict.UNKNOWN, start, reason="a point box is not decided by the interval bounds",
                           stats={"boxes_proved": proved})
        mid = (lower[axis] + upper[axis]) / 2
        pending.append((lower, upper[:axis] + (mid,) + upper[axis + 1:]))
        pending.append((lower[:axis] + (mid,) + lower[axis + 1:], upper))
    return _result(Verdict.HOLDS, start, stats={"boxes_proved": proved})


def _result(verdict: Verdict, start: float, **kwargs) -> VerificationResult:
    return decision_result(verdict, solver="none", method=METHOD, seconds=time.perf_counter() - start,
                           query={"engine": ENGINE, "decision": "argmax"}, **kwargs)


def _exact_classes(first: Network, second, x) -> tuple[int, int]:
    z = second.logits_exact([x])[0]
    return exact_class(first, x), next(i for i, v in enumerate(z) if v == max(z))


def _sample_disagreement(first: Network, second, box: Box, samples: int, seed: int):
    """A sampled input (float64, taken exactly) where the exact classes differ, with the two classes."""
    rng = np.random.default_rng(seed)
    lo = np.array([float(v) for v in box.lower])
    hi = np.array([float(v) for v in box.upper])
    points = np.vstack([(lo + hi) / 2, rng.uniform(lo, hi, size=(samples, len(lo)))])
    points = np.clip(points, lo, hi)
    labels = second.predict(points)
    guesses = first.predict(points)
    for point, label, guess in zip(points, labels, guesses):
        x = [Fraction(float(v)) for v in point]
        if not all(a <= v <= b for a, v, b in zip(box.lower, x, box.upper)):
            continue
        classes = _exact_classes(first, second, x) if label != guess else None
        if classes is not None and classes[0] != classes[1]:
            return x, classes
    return None
