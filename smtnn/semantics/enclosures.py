"""The exact domain: certified enclosures [lo, hi] with rational ends.

With point parameters and a point input every relu/leaky relu/linear value is an exact rational
(zero width); sigmoid and tanh are enclosed by mpmath interval arithmetic.  With boxes of
parameters and inputs the walk is sound interval propagation (maybe loose).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Sequence

from ..exact import Enclosure, sigmoid_enclosure, tanh_enclosure

ZERO = Fraction(0)


def add(a: Enclosure, b: Enclosure) -> Enclosure:
    return Enclosure(a.lo + b.lo, a.hi + b.hi)


def mul(a: Enclosure, b: Enclosure) -> Enclosure:
    products = (a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi)
    return Enclosure(min(products), max(products))


def leaky(alpha: Fraction, v: Fraction) -> Fraction:
    """leaky_relu of one rational."""
    return v if v >= 0 else alpha * v


def activate(kind: str, value: Enclosure, alpha: Fraction | None = None) -> Enclosure:
    """Enclosure of a monotone activation over one enclosure."""
    return getattr(EnclosureDomain(), kind)(0, _SlopeCarrier(alpha), [value])[0]


class _SlopeCarrier:
    """A stand-in layer carrying only leaky relu's slope (for :func:`activate`)."""

    def __init__(self, alpha):
        self.alpha = alpha


class EnclosureDomain:
    """Interval propagation over a box of parameters given as flat rational bounds (or, without a
    network, only the activations)."""

    description = "exact enclosures"

    def __init__(self, network=None, lower: Sequence[Fraction] = (), upper: Sequence[Fraction] = ()):
        self.lower, self.upper = list(lower), list(upper)
        self.slices = network.layer_slices() if network is not None else []

    def affine(self, index, layer, inputs: Sequence[Enclosure]) -> list[Enclosure]:
        ws, bs = self.slices[index]
        lo_w, hi_w = self.lower[ws], self.upper[ws]
        n_in = layer.inputs
        out = []
        for r, (lo_b, hi_b) in enumerate(zip(self.lower[bs], self.upper[bs])):
            acc = Enclosure(lo_b, hi_b)
            for c, h in enumerate(inputs):
                acc = add(acc, mul(Enclosure(lo_w[r * n_in + c], hi_w[r * n_in + c]), h))
            out.append(acc)
        return out

    def linear(self, index, layer, values):
        return values

    def relu(self, index, layer, values):
        return [Enclosure(max(v.lo, ZERO), max(v.hi, ZERO)) for v in values]

    def leaky_relu(self, index, layer, values):
        alpha = layer.alpha
        return [Enclosure(leaky(alpha, v.lo), leaky(alpha, v.hi)) for v in values]

    def sigmoid(self, index, layer, values):
        return [Enclosure(sigmoid_enclosure(v.lo).lo, sigmoid_enclosure(v.hi).hi) for v in values]

    def tanh(self, index, layer, values):
        return [Enclosure(tanh_enclosure(v.lo).lo, tanh_enclosure(v.hi).hi) for v in values]


class PointParameterEnclosures(EnclosureDomain):
    """Interval propagation at exact point parameters (a flat rational sequence): the same enclosures as
    :class:`EnclosureDomain` with lower == upper, with one product per weight instead of four."""

    def __init__(self, network, parameters: Sequence[Fraction]):
        super().__init__(network, parameters, parameters)

    def affine(self, index, layer, inputs: Sequence[Enclosure]) -> list[Enclosure]:
        ws, bs = self.slices[index]
        weights, n_in = self.lower[ws], layer.inputs
        out = []
        for r, b in enumerate(self.lower[bs]):
            lo = hi = b
            for w, h in zip(weights[r * n_in:(r + 1) * n_in], inputs):
                if w > 0:
                    lo, hi = lo + w * h.lo, hi + w * h.hi
                elif w < 0:
                    lo, hi = lo + w * h.hi, hi + w * h.lo
            out.append(Enclosure(lo, hi))
        return out
