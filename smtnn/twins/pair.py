"""Two networks compared on one input space: checks, margins as logit coefficients, exact classes."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np

from .. import float_first
from ..domain import Box
from ..errors import InvalidInputError, UnsupportedModelError
from ..exact import to_fraction
from ..network import Network
from ..semantics.exactnet import exact_network

Coeffs = tuple[tuple[int, ...], tuple[int, ...]]   # one integer vector per network, over its real outputs


@dataclass(frozen=True)
class Twins:
    """N1 (the twin under study) and N2 (the reference) with the same inputs and classes."""

    first: Network
    second: Network

    def __post_init__(self):
        a, b = self.first, self.second
        if a.n_inputs != b.n_inputs:
            raise InvalidInputError(f"N1 '{a.name}' takes {a.n_inputs} inputs but N2 '{b.name}' takes {b.n_inputs}; twins need the same inputs")
        if a.n_classes != b.n_classes:
            raise InvalidInputError(f"N1 '{a.name}' has {a.n_classes} classes but N2 '{b.name}' has {b.n_classes}; twins need the same classes")
        for n in (a, b):
            if not n.piecewise_linear:
                raise UnsupportedModelError(f"'{n.name}' has sigmoid/tanh hidden units; twin analysis needs relu/linear hidden layers")
            if a.decision != b.decision:
                raise InvalidInputError(f"N1 '{a.name}' decides by {a.decision} but N2 '{b.name}' by {b.decision}; twins need one decision rule")
            if n.binary and n.threshold != Fraction(1, 2):
                raise UnsupportedModelError(f"'{n.name}' decides at level {float(n.threshold)}; twin analysis needs the level 0.5 (z >= 0)")

    @property
    def networks(self) -> tuple[Network, Network]:
        return (self.first, self.second)

    @property
    def n_classes(self) -> int:
        return self.first.n_classes

    def check_class(self, c, what: str) -> int:
        """A class index after checking its range."""
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < self.n_classes:
            raise InvalidInputError(f"{what} = {c!r} is not a class index; the twins have classes 0..{self.n_classes - 1}")
        return int(c)

    def check_box(self, box: Box) -> Box:
        return box.check_for(self.first.n_inputs)

    def margin_coeffs(self, ci: int, cj: int) -> Coeffs:
        """log-RSM = (z1_ci - z1_cj) - (z2_ci - z2_cj) as coefficients on both networks' outputs."""
        one, two = margin_vector(self.first, ci, cj), margin_vector(self.second, ci, cj)
        return (one, tuple(-v for v in two))


def load_twin(path, *, quantized: bool = True):
    """A twin from a model file: a Network, or (``quantized``) the exact integer network of an onnxruntime-quantized
    ONNX file, which only twins decisions compares (see :mod:`.quantized`)."""
    from pathlib import Path

    from ..loaders import load_network, load_quantized
    from ..loaders.quantized import is_quantized

    p = Path(path)
    if quantized and p.suffix.lower() == ".onnx" and p.is_file() and is_quantized(p):
        return load_quantized(p)
    return load_network(p)


def margin_vector(network: Network, ci: int, cj: int) -> tuple[int, ...]:
    """z_ci - z_cj as coefficients; a sigmoid output z is the logit pair (0, z)."""
    if network.binary:
        return (ci - cj,)
    c = [0] * network.n_outputs
    c[ci] += 1
    c[cj] -= 1
    return tuple(c)


def ball(center: Sequence, radius, clip: tuple | None = None) -> Box:
    """Box.around(center, radius), intersected with [clip[0], clip[1]] on every input when given."""
    box = Box.around(center, radius)
    if clip is None:
        return box
    lo, hi = to_fraction(clip[0]), to_fraction(clip[1])
    return Box(tuple(max(v, lo) for v in box.lower), tuple(min(v, hi) for v in box.upper))


def exact_logits(network: Network, x: Sequence[Fraction]) -> list[Fraction]:
    """The logits at an exact input in exact rational arithmetic (relu/linear networks; integer matrix products)."""
    if network.piecewise_linear:   # straight from the float weights as integers: no rational per parameter
        return exact_network(network).logits(x)
    out = float_first.exact_logits(network, list(x))
    return [z.lo for z in out]


def decide(network: Network, logits: Sequence[Fraction]) -> int:
    """The class of exact logits: z >= 0 for a sigmoid output, else the first index of the largest (argmax) or smallest (argmin) logit."""
    if network.binary:
        return int(logits[0] >= 0)
    logits = [network.score_sign * z for z in logits]
    best = max(logits)
    return next(i for i, z in enumerate(logits) if z == best)


def exact_class(network: Network, x: Sequence[Fraction]) -> int:
    return decide(network, exact_logits(network, x))
