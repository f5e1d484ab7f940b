"""Feed-forward dense networks: the object every stage of smtnn reads.

A :class:`Network` is a chain of :class:`Dense` layers.  Hidden layers use relu, leaky relu
(negative slope ``alpha`` in [0, 1]), linear, sigmoid or tanh; the last layer is the output:
one sigmoid unit (binary, class 1 when the confidence is at least the level ``threshold``) or
k >= 2 logits (softmax or linear) read by the ``decision`` rule: "argmax" (the class of the
largest logit) or "argmin" (of the smallest, as in ACAS Xu's advisories); an exact tie goes to
the lowest index.  Weights are stored as the float64 values the model file holds;
:meth:`Network.exact_parameters` gives the rationals they denote.  Shapes and finiteness are
checked at construction.
"""
from __future__ import annotations

import functools

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .errors import InvalidInputError, UnsupportedModelError
from .exact import to_fraction
from .semantics import walk
from .semantics.floats import FloatDomain

HIDDEN_ACTIVATIONS = ("relu", "leaky_relu", "linear", "sigmoid", "tanh")
OUTPUT_ACTIVATIONS = ("sigmoid", "softmax", "linear")
PIECEWISE_LINEAR = ("relu", "leaky_relu", "linear")
DECISIONS = ("argmax", "argmin")


@dataclass(frozen=True)
class Dense:
    """y = activation(W x + b) with W of shape (outputs, inputs).

    ``alpha`` is leaky relu's negative slope (leaky_relu(a) = a for a >= 0, alpha·a below), the
    exact rational of the model file's float; it is None for every other activation.
    """

    weights: np.ndarray
    bias: np.ndarray
    activation: str
    name: str = ""
    alpha: Fraction | None = None

    @property
    def inputs(self) -> int:
        return self.weights.shape[1]

    @property
    def outputs(self) -> int:
        return self.weights.shape[0]

    @property
    def size(self) -> int:
        return self.weights.size + self.bias.size


@dataclass(frozen=True)
class ParameterName:
    """Where one scalar parameter sits: layer index, 'weight' or 'bias', row and column."""

    layer: int
    kind: str
    row: int
    column: int = -1

    def __str__(self) -> str:
        if self.kind == "bias":
            return f"layer{self.layer}.b[{self.row}]"
        return f"layer{self.layer}.W[{self.row},{self.column}]"


@dataclass(frozen=True)
class Network:
    """A dense feed-forward classifier; see the module docstring for the conventions."""

    layers: tuple[Dense, ...]
    threshold: Fraction = Fraction(1, 2)
    name: str = "network"
    input_names: tuple[str, ...] = field(default=())
    decision: str = "argmax"

    def __post_init__(self):
        if not self.layers:
            raise UnsupportedModelError("the network has no layers: give at least one dense layer")
        layers = tuple(_checked_layer(i, layer) for i, layer in enumerate(self.layers))
        object.__setattr__(self, "layers", layers)
        for i in range(1, len(layers)):
            if layers[i].inputs != layers[i - 1].outputs:
                raise UnsupportedModelError(
                    f"layer {i} '{layers[i].name}' expects {layers[i].inputs} inputs, "
                    f"but layer {i - 1} '{layers[i - 1].name}' gives {layers[i - 1].outputs}"
                )
        for i, layer in enumerate(layers[:-1]):
            if layer.activation not in HIDDEN_ACTIVATIONS:
                raise UnsupportedModelError(
                    f"hidden layer {i} '{layer.name}' uses activation '{layer.activation}'; "
                    f"supported hidden activations: {', '.join(HIDDEN_ACTIVATIONS)}"
                )
        out = layers[-1]
        if out.activation not in OUTPUT_ACTIVATIONS:
            raise UnsupportedModelError(
                f"output layer '{out.name}' uses activation '{out.activation}'; "
                f"supported outputs: one sigmoid unit, or softmax/linear logits"
            )
        if out.activation == "sigmoid" and out.outputs != 1:
            raise UnsupportedModelError(
                f"a sigmoid output must have one unit, '{out.name}' has {out.outputs}; "
                "use softmax for several classes"
            )
        if out.activation != "sigmoid" and out.outputs < 2:
            raise UnsupportedModelError(
                f"output layer '{out.name}' has one {out.activation} unit; a binary classifier needs a sigmoid output"
            )
        threshold = to_fraction(self.threshold)
        if not 0 < threshold < 1:
            raise InvalidInputError(f"the decision level must lie strictly between 0 and 1, got {float(threshold)}")
        object.__setattr__(self, "threshold", threshold)
        if self.decision not in DECISIONS:
            raise InvalidInputError(f"unknown decision rule {self.decision!r}; choose {' or '.join(DECISIONS)}")
        if self.decision == "argmin" and out.activation == "sigmoid":
            raise InvalidInputError(f"the decision rule argmin needs k >= 2 output logits; '{out.name}' is one sigmoid unit "
                                    "(class 1 when its confidence reaches the level)")
        names = tuple(self.input_names) or tuple(f"x{i}" for i in range(self.n_inputs))
        if len(names) != self.n_inputs:
            raise InvalidInputError(f"{len(names)} input names for {self.n_inputs} inputs")
        object.__setattr__(self, "input_names", names)

    @classmethod
    def from_arrays(cls, weights, biases, activations, *, kernel_layout="out_in", alphas=None, **kwargs) -> "Network":
        """Build from lists of weight matrices, bias vectors and activation names.

        ``kernel_layout='in_out'`` takes Keras-style kernels of shape (inputs, outputs);
        ``alphas`` gives per layer the negative slope of a leaky_relu layer (None elsewhere).
        """
        if not (len(weights) == len(biases) == len(activations)):
            raise UnsupportedModelError(
                f"got {len(weights)} weight matrices, {len(biases)} bias vectors and "
                f"{len(activations)} activations; give one of each per layer"
            )
        alphas = [None] * len(weights) if alphas is None else list(alphas)
        if len(alphas) != len(weights):
            raise UnsupportedModelError(f"got {len(alphas)} leaky relu slopes for {len(weights)} layers; give one per layer")
        layers = []
        for i, (w, b, act, alpha) in enumerate(zip(weights, biases, activations, alphas)):
            w = np.atleast_2d(np.asarray(w, dtype=np.float64))
            if kernel_layout == "in_out":
                w = w.T
            layers.append(Dense(w, np.asarray(b, dtype=np.float64).reshape(-1), str(act), f"dense_{i}", alpha))
        return cls(tuple(layers), **kwargs)

    # -- shape -------------------------------------------------------------------------
    @property
    def n_inputs(self) -> int:
        return self.layers[0].inputs

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].outputs

    @property
    def binary(self) -> bool:
        """True for one sigmoid output unit (label by threshold), False for argmax over logits."""
        return self.layers[-1].activation == "sigmoid"

    @property
    def score_sign(self) -> int:
        """+1 for argmax, -1 for argmin: the class is the first largest of score_sign * z."""
        return -1 if self.decision == "argmin" else 1

    @property
    def n_classes(self) -> int:
        return 2 if self.binary else self.n_outputs

    @property
    def n_parameters(self) -> int:
        return sum(layer.size for layer in self.layers)

    @property
    def piecewise_linear(self) -> bool:
        """True when every hidden activation is relu, leaky relu or linear (the logits are polynomial in x and p)."""
        return all(layer.activation in PIECEWISE_LINEAR for layer in self.layers[:-1])

    def parameter_names(self) -> list[ParameterName]:
        """Names in the order of the flat parameter vector: per layer, W row-major then b."""
        return list(self._parameter_names)

    def parameter_name(self, index: int) -> ParameterName:
        """The name of flat parameter `index` (without building all names)."""
        for k, (ws, bs) in enumerate(self._layer_slices):
            if index < ws.stop:
                row, column = divmod(index - ws.start, self.layers[k].inputs)
                return ParameterName(k, "weight", row, column)
            if index < bs.stop:
                return ParameterName(k, "bias", index - bs.start)
        raise IndexError(f"parameter index {index} is out of range 0..{self.n_parameters - 1}")

    @functools.cached_property
    def _parameter_names(self) -> tuple[ParameterName, ...]:
        names = []
        for k, layer in enumerate(self.layers):
            names += [ParameterName(k, "weight", r, c) for r in range(layer.outputs) for c in range(layer.inputs)]
            names += [ParameterName(k, "bias", r) for r in range(layer.outputs)]
        return tuple(names)

    def parameter_vector(self) -> np.ndarray:
        """The flat float64 parameter vector (order of :meth:`parameter_names`)."""
        return np.concatenate([np.concatenate([l.weights.ravel(), l.bias]) for l in self.layers])

    def exact_parameters(self) -> list[Fraction]:
        """The exact rationals the stored floats denote, in flat order."""
        return list(self.exact_vector)

    @functools.cached_property
    def exact_vector(self) -> tuple[Fraction, ...]:
        """:meth:`exact_parameters` as a tuple, computed once (the weights are read-only, so it never goes stale)."""
        return tuple(Fraction(v) for v in self.parameter_vector().tolist())

    def layer_slices(self) -> list[tuple[slice, slice]]:
        """For each layer, the flat-vector slices of its weights and of its bias."""
        return list(self._layer_slices)

    @functools.cached_property
    def _layer_slices(self) -> tuple[tuple[slice, slice], ...]:
        out, start = [], 0
        for layer in self.layers:
            w = slice(start, start + layer.weights.size)
            b = slice(w.stop, w.stop + layer.bias.size)
            out.append((w, b))
            start = b.stop
        return tuple(out)

    def with_parameters(self, vector) -> "Network":
        """The same architecture with another flat parameter vector (floats)."""
        vector = np.asarray(vector, dtype=np.float64)
        if vector.shape != (self.n_parameters,):
            raise InvalidInputError(f"expected {self.n_parameters} parameters, got {vector.size}")
        layers = []
        for layer, (ws, bs) in zip(self.layers, self.layer_slices()):
            layers.append(Dense(vector[ws].reshape(layer.weights.shape), vector[bs].copy(), layer.activation, layer.name, layer.alpha))
        return Network(tuple(layers), self.threshold, self.name, self.input_names, self.decision)

    # -- numeric forward pass (the float reference) -------------------------------------
    def logits(self, inputs) -> np.ndarray:
        """Pre-output values z for a batch (rows) or a single input, in float64."""
        x = np.asarray(inputs, dtype=np.float64)
        z = walk(self, FloatDomain(), np.atleast_2d(x))
        return z[0] if x.ndim == 1 else z

    def predict_proba(self, inputs) -> np.ndarray:
        """Confidence f(x): sigmoid of the single logit, or softmax of the logits."""
        z = np.atleast_2d(self.logits(inputs))
        if self.binary:
            p = 1.0 / (1.0 + np.exp(-z[:, 0]))
        else:
            e = np.exp(z - z.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
        return p[0] if np.asarray(inputs).ndim == 1 else p

    def predict(self, inputs) -> np.ndarray:
        """Class labels: 1 when sigmoid(z) >= threshold (binary), else the first largest (argmax) or smallest (argmin) logit."""
        z = np.atleast_2d(self.logits(inputs))
        if self.binary:
            from .exact import logit_bracket

            t = float(logit_bracket(self.threshold).lo)
            labels = (z[:, 0] >= t).astype(int)
        else:
            labels = (self.score_sign * z).argmax(axis=1)   # numpy's argmax returns the first of equal values
        return labels[0] if np.asarray(inputs).ndim == 1 else labels

    def check_input(self, x, what: str = "x0") -> list[Fraction]:
        """An input as exact rationals, after checking its length."""
        values = list(np.asarray(x, dtype=object).reshape(-1)) if not isinstance(x, str) else [x]
        if len(values) != self.n_inputs:
            raise InvalidInputError(
                f"{what} has {len(values)} values but '{self.name}' takes {self.n_inputs} inputs ({', '.join(self.input_names)})"
            )
        return [to_fraction(v) for v in values]


def _checked_layer(index: int, layer: Dense) -> Dense:
    w = np.asarray(layer.weights, dtype=np.float64)
    b = np.asarray(layer.bias, dtype=np.float64).reshape(-1)
    name = layer.name or f"dense_{index}"
    if w.ndim != 2:
        raise UnsupportedModelError(f"layer {index} '{name}' has a weight array of shape {w.shape}; dense layers need 2-D")
    if b.shape[0] != w.shape[0]:
        raise UnsupportedModelError(
            f"layer {index} '{name}' has {w.shape[0]} units but {b.shape[0]} biases; the shapes must match"
        )
    if w.size == 0:
        raise UnsupportedModelError(f"layer {index} '{name}' has no parameters")
    if not (np.isfinite(w).all() and np.isfinite(b).all()):
        raise UnsupportedModelError(f"layer {index} '{name}' has NaN or infinite weights; retrain or repair the model")
    w.flags.writeable = False
    b.flags.writeable = False
    activation = str(layer.activation).lower()
    return Dense(w, b, activation, name, _checked_alpha(index, name, activation, layer.alpha))


def _checked_alpha(index: int, name: str, activation: str, alpha) -> Fraction | None:
    """Leaky relu's negative slope as the exact rational of a float in [0, 1] (monotone and convex); None for other activations."""
    if activation != "leaky_relu":
        if alpha is not None:
            raise UnsupportedModelError(f"layer {index} '{name}' has a negative slope alpha but activation '{activation}'; "
                                        "only leaky_relu layers take one")
        return None
    if alpha is None:
        raise UnsupportedModelError(f"leaky_relu layer {index} '{name}' has no negative slope alpha; give one in [0, 1]")
    try:
        value = to_fraction(alpha)
    except InvalidInputError:
        raise UnsupportedModelError(f"leaky_relu layer {index} '{name}' has slope {alpha!r}, not a finite number") from None
    if not 0 <= value <= 1:
        raise UnsupportedModelError(f"leaky_relu layer {index} '{name}' has negative slope {float(value)}; "
                                    "smtnn supports slopes in [0, 1] (monotone, convex)")
    if Fraction(float(value)) != value:   # every engine, float ones included, must use the same slope
        raise UnsupportedModelError(f"leaky_relu layer {index} '{name}' has slope {alpha!r}, which is not a binary64 "
                                    f"number; give the float the model stores (e.g. {float(value)!r})")
    return value
