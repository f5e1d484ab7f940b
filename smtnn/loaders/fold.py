"""Folding a chain of layer operations into the Dense layers of a :class:`~smtnn.network.Network`.

Loaders translate a file's layers into a short list of operations on the flat input vector:
``Linear`` (a weight matrix and bias from the file), ``Elementwise`` (y = s * x + c per entry: input
normalisation, BatchNormalization, a Scaler, a bias Add), ``Gather`` (a reshuffle of entries: Transpose,
broadcasting) and ``Activation``.  :class:`ChainBuilder` composes them exactly, in rationals, and rounds
each folded parameter once to the nearest binary64 (counted in :attr:`ChainBuilder.notes`).  Shape-only
operations (Flatten, Reshape, Identity, Cast, Dropout) are absent: row-major flattening keeps the order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..errors import UnsupportedModelError
from ..network import Dense

SQRT_BITS = 160


@dataclass
class Linear:
    """y = W x + b with W of shape (outputs, inputs), exactly as the file stores it."""

    weights: np.ndarray
    bias: np.ndarray | None
    name: str


@dataclass
class Elementwise:
    """y_i = scale_i * x_i + offset_i (exact rationals; None for all ones / all zeros)."""

    scale: list[Fraction] | None
    offset: list[Fraction] | None
    what: str


@dataclass
class Gather:
    """y_i = x_index[i]: a reordering or duplication of entries (Transpose, broadcasting)."""

    index: np.ndarray
    what: str


@dataclass
class Activation:
    kind: str
    name: str
    alpha: Fraction | None = None


def inverse_sqrt(value: Fraction) -> Fraction:
    """1/sqrt(value) to within a relative 2^-SQRT_BITS (its correctly rounded binary64 is what is kept)."""
    if value <= 0:
        raise UnsupportedModelError(f"a normalisation divides by the square root of {float(value)}; it must be positive")
    shift = 2 * SQRT_BITS
    root = math.isqrt((value.denominator << shift) * value.numerator)
    return Fraction(root, value.numerator << SQRT_BITS)


def batch_norm(gamma, beta, mean, variance, epsilon, what: str) -> Elementwise:
    """gamma * (x - mean) / sqrt(variance + epsilon) + beta as scale and offset (ONNX and Keras semantics)."""
    eps = Fraction(float(epsilon))
    scale, offset = [], []
    for g, b, m, v in zip(*(np.asarray(a, dtype=np.float64).reshape(-1) for a in (gamma, beta, mean, variance)), strict=True):
        s = Fraction(float(g)) * inverse_sqrt(Fraction(float(v)) + eps)
        scale.append(s)
        offset.append(Fraction(float(b)) - s * Fraction(float(m)))
    return Elementwise(scale, offset, what)


def fractions(values) -> list[Fraction]:
    return [Fraction(float(v)) for v in np.asarray(values, dtype=np.float64).reshape(-1)]


@dataclass
class _Pending:
    """An affine map from the last fresh variable (input or activation output) whose activation is unknown."""

    weights: np.ndarray          # float64 (exact file values) or object array of Fractions
    bias: list[Fraction]
    name: str
    folded: bool = False


@dataclass
class ChainBuilder:
    """Composes operations into Dense layers; records what was folded and how many parameters were rounded."""

    n_inputs: int
    layers: list[Dense] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rounded: int = 0
    folded: int = 0
    width: int = 0
    _fresh_width: int = 0
    _pre_index: np.ndarray | None = None
    _pre_scale: list[Fraction] | None = None
    _pre_offset: list[Fraction] | None = None
    _pending: _Pending | None = None

    def __post_init__(self):
        self.width = self._fresh_width = self.n_inputs

    # -- operations ----------------------------------------------------------------------------
    def add(self, op) -> None:
        if isinstance(op, Linear):
            self._linear(op)
        elif isinstance(op, Elementwise):
            self._elementwise(op)
        elif isinstance(op, Gather):
            self._gather(op)
        elif isinstance(op, Activation):
            self._activation(op)
        else:  # pragma: no cover - loaders only build the four kinds
            raise TypeError(op)

    def _linear(self, op: Linear) -> None:
        w = np.asarray(op.weights, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != self.width:
            raise UnsupportedModelError(
                f"layer '{op.name}' expects {w.shape[-1]} inputs, but the layer before it gives {self.width}"
            )
        bias = fractions(op.bias) if op.bias is not None else [Fraction(0)] * w.shape[0]
        if self._pending is not None:
            self._emit("linear", None)
        folded = self._pre_index is not None or self._pre_scale is not None or self._pre_offset is not None
        w, bias = self._fold_pre(w, bias, op.name)
        self._pending = _Pending(w, bias, op.name, folded)
        self.width = w.shape[0]

    def _fold_pre(self, w: np.ndarray, bias: list[Fraction], name: str) -> tuple[np.ndarray, list[Fraction]]:
        """W (s * x[index] + c) + b  ->  W' x + b', exactly."""
        index, scale, offset = self._pre_index, self._pre_scale, self._pre_offset
        self._pre_index = self._pre_scale = self._pre_offset = None
        if offset is not None:
            exact = _exact(w)
            bias = [b + sum((wij * cj for wij, cj in zip(row, offset) if cj), Fraction(0)) for b, row in zip(bias, exact)]
        if scale is not None:
            w = _exact(w) * np.array(scale, dtype=object)
        if index is not None:
            n = self._fresh_width
            if len(set(index.tolist())) == index.size and n == index.size:
                gathered = np.empty_like(w)
                gathered[:, index] = w
                w = gathered
            else:
                exact = _exact(w)
                summed = np.full((w.shape[0], n), Fraction(0), dtype=object)
                for j, target in enumerate(index):
                    summed[:, target] = summed[:, target] + exact[:, j]
                w = summed
        return w, bias

    def _elementwise(self, op: Elementwise) -> None:
        n = self.width
        for values, what in ((op.scale, "scale"), (op.offset, "offset")):
            if values is not None and len(values) != n:
                raise UnsupportedModelError(f"{op.what} has {len(values)} {what} values for a vector of {n}")
        self.notes.append(op.what)
        if self._pending is not None:
            p = self._pending
            p.folded = True
            if op.scale is not None:
                p.weights = _exact(p.weights) * np.array(op.scale, dtype=object)[:, None]
                p.bias = [s * b for s, b in zip(op.scale, p.bias)]
            if op.offset is not None:
                p.bias = [b + c for b, c in zip(p.bias, op.offset)]
            return
        scale = op.scale
        if self._pre_scale is None and self._pre_offset is None:
            self._pre_scale, self._pre_offset = scale, op.offset
            return
        old_scale = self._pre_scale or [Fraction(1)] * n
        old_offset = self._pre_offset or [Fraction(0)] * n
        new_scale = scale or [Fraction(1)] * n
        new_offset = op.offset or [Fraction(0)] * n
        self._pre_scale = [a * b for a, b in zip(new_scale, old_scale)]
        self._pre_offset = [a * c + d for a, c, d in zip(new_scale, old_offset, new_offset)]

    def _gather(self, op: Gather) -> None:
        index = np.asarray(op.index, dtype=np.int64).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= self.width):
            raise UnsupportedModelError(f"{op.what} reads entries outside a vector of {self.width}")
        if np.array_equal(index, np.arange(self.width)):
            return
        self.notes.append(op.what)
        if self._pending is not None:
            p = self._pending
            p.folded = True
            p.weights = p.weights[index]
            p.bias = [p.bias[i] for i in index]
        else:
            if self._pre_scale is not None:
                self._pre_scale = [self._pre_scale[i] for i in index]
            if self._pre_offset is not None:
                self._pre_offset = [self._pre_offset[i] for i in index]
            self._pre_index = index if self._pre_index is None else self._pre_index[index]
        self.width = index.size

    def _activation(self, op: Activation) -> None:
        if self._pending is None:
            raise UnsupportedModelError(
                f"activation '{op.name}' ({op.kind}) does not follow an affine layer; smtnn reads dense layers, each "
                "followed by at most one activation"
            )
        self._emit(op.kind, op.alpha)

    def _emit(self, activation: str, alpha: Fraction | None) -> None:
        p = self._pending
        self._pending = None
        weights = self._rounded(p.weights, p.folded)
        bias = self._rounded(np.array(p.bias, dtype=object), p.folded)
        self.layers.append(Dense(weights, bias, activation, p.name, alpha))
        self._fresh_width = weights.shape[0]

    def _rounded(self, values: np.ndarray, folded: bool) -> np.ndarray:
        if values.dtype != object:
            return np.ascontiguousarray(values, dtype=np.float64)
        flat = values.reshape(-1)
        out = np.array([float(v) for v in flat], dtype=np.float64)
        if not folded:
            return out.reshape(values.shape)
        exact = sum(1 for v, f in zip(flat, out) if Fraction(f) == v)
        self.folded += flat.size
        self.rounded += flat.size - exact
        return out.reshape(values.shape)

    # -- the end of the chain ---------------------------------------------------------------------
    def finish(self) -> list[Dense]:
        """The Dense layers; a trailing Elementwise/Gather after the last activation is refused."""
        if self._pending is not None:
            self._emit("linear", None)
        if self._pre_scale is not None or self._pre_offset is not None or self._pre_index is not None:
            raise UnsupportedModelError(
                "the model transforms the output after its last activation; smtnn reads a dense layer as the output"
            )
        if not self.layers:
            raise UnsupportedModelError("the model has no dense (affine) layer; smtnn reads networks of dense layers")
        return self.layers

    def description(self) -> str:
        """What was folded, in a few words (empty when nothing was)."""
        parts = [p for p in dict.fromkeys(self.notes) if p]
        if not parts:
            return ""
        text = "folded " + ", ".join(parts)
        if self.rounded:
            text += f"; {self.rounded} of {self.folded} folded parameters rounded to the nearest float64"
        return text


def _exact(values: np.ndarray) -> np.ndarray:
    """An object array of the exact rationals (floats convert exactly)."""
    if values.dtype == object:
        return values
    out = np.empty(values.shape, dtype=object)
    flat = out.reshape(-1)
    for i, v in enumerate(values.reshape(-1).tolist()):
        flat[i] = Fraction(v)
    return out


MONOTONE_OUTPUTS = {"sigmoid": "sigmoid", "tanh": "tanh", "leaky_relu": "leaky relu", "relu": "relu"}


def finish_chain(ops: list, n_inputs: int) -> tuple[list[Dense], list[str]]:
    """Dense layers from fold operations, and notes on how the output is read.

    The output is a softmax over k >= 2 logits, one sigmoid unit, or k >= 2 logits read by argmax.
    Several sigmoid (tanh, leaky relu) outputs are increasing functions of their logits, so their argmax
    is the argmax of the logits.  A relu output is read before the relu (the two argmaxes differ only when
    every logit is below 0), and one linear or relu output unit is read as the logit of a binary decision.
    """
    ops = [op for op in ops if not (isinstance(op, Activation) and op.kind == "linear")]
    tail = ops[-1] if ops else None
    output = "linear"
    notes: list[str] = []
    if isinstance(tail, Activation) and tail.kind in ("softmax", *MONOTONE_OUTPUTS):
        ops = ops[:-1]
        output = tail.kind
    builder = ChainBuilder(n_inputs)
    for op in ops:
        builder.add(op)
    width = builder.width
    if output == "softmax":
        if width < 2:
            raise UnsupportedModelError("the output is a softmax over one unit (always 1); use a sigmoid output")
        activation = "softmax"
    elif output == "sigmoid" and width == 1:
        activation = "sigmoid"
    elif width == 1:
        activation = "sigmoid"
        shown = "linear" if output == "linear" else output
        notes.append(f"the one {shown} output unit read as the logit of a binary decision (class 1 when the logit is >= 0)")
    else:
        activation = "linear"
        if output in MONOTONE_OUTPUTS:
            why = ("the argmax of relu outputs differs from that of the logits only when every logit is below 0"
                   if output == "relu" else "it is increasing")
            notes.append(f"the {width} {MONOTONE_OUTPUTS[output]} outputs decided by the argmax of their logits ({why})")
    if builder._pending is None:
        raise UnsupportedModelError("the model ends with an activation after its last dense layer; smtnn reads a dense output layer")
    builder._emit(activation, None)
    layers = builder.finish()
    description = builder.description()
    return layers, ([description] if description else []) + notes
