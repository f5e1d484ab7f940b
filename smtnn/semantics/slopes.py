"""The interval-slope domain: per input box, each value's range and an enclosure of its Clarke gradient.

Values are pairs (low, high) of :class:`Slope`: the lower and upper ends of a value's
enclosure over the parameter box, each a function of x carried with its range over the box and
its gradient enclosure (hull rules for min/max, relu and products: Clarke 1983, Prop. 2.3.12,
Thm. 2.6.6).  Every float64 result is widened outward (:mod:`smtnn.rounding`).  See
:mod:`smtnn.slopes` for the mean-value bounds built on it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..rounding import TINY as _TINY, ULP_ONE as _UNIT, sum_pad
from .intervals import leaky_ends, padded


@dataclass
class Slope:
    """Per box and neuron, a function of x: its range [lo, hi] over the box and gradient enclosure [glo, ghi] per input axis."""

    lo: np.ndarray    # (boxes, neurons)
    hi: np.ndarray
    glo: np.ndarray   # (boxes, neurons, axes)
    ghi: np.ndarray


def _scaled(c: np.ndarray, f: Slope) -> Slope:
    """c · f for constants c (neurons,) and a function f given per box (boxes,) with gradients (boxes, axes)."""
    a, b = c[None, :] * f.lo[:, None], c[None, :] * f.hi[:, None]
    ga, gb = c[None, :, None] * f.glo[:, None, :], c[None, :, None] * f.ghi[:, None, :]
    return Slope(np.minimum(a, b), np.maximum(a, b), np.minimum(ga, gb), np.maximum(ga, gb))


def _extreme(candidates: list[Slope], upper: bool) -> Slope:
    """max (upper) or min of candidate functions: range from the ends, gradient hull over those that may be attained."""
    los = np.stack([c.lo for c in candidates])
    his = np.stack([c.hi for c in candidates])
    glos = np.stack([c.glo for c in candidates])
    ghis = np.stack([c.ghi for c in candidates])
    if upper:
        lo, hi = los.max(axis=0), his.max(axis=0)
        active = his >= lo[None]
    else:
        lo, hi = los.min(axis=0), his.min(axis=0)
        active = los <= hi[None]
    glo = np.where(active[..., None], glos, np.inf).min(axis=0)
    ghi = np.where(active[..., None], ghis, -np.inf).max(axis=0)
    return Slope(lo, hi, glo, ghi)


def _column(f: Slope, j: int) -> Slope:
    return Slope(f.lo[:, j], f.hi[:, j], f.glo[:, j], f.ghi[:, j])


def _affine(wlo, whi, blo, bhi, low: Slope, high: Slope) -> tuple[Slope, Slope]:
    """Ends of [W]·[h] + [b] as functions of x: each product's min/max over the four corners, summed."""
    boxes, n_out, axes = low.lo.shape[0], wlo.shape[0], low.glo.shape[2]
    acc = {end: Slope(np.zeros((boxes, n_out)), np.zeros((boxes, n_out)), np.zeros((boxes, n_out, axes)),
                      np.zeros((boxes, n_out, axes))) for end in ("low", "high")}
    mag_v = np.zeros((boxes, n_out))
    mag_g = np.zeros((boxes, n_out, axes))
    weights = (wlo,) if wlo is whi else (wlo, whi)
    for j in range(wlo.shape[1]):
        ends = [_column(low, j)]
        if high is not low:
            ends.append(_column(high, j))
        candidates = [_scaled(w[:, j], f) for w in weights for f in ends]
        for end, upper in (("low", False), ("high", True)):
            part, total = _extreme(candidates, upper), acc[end]
            total.lo += part.lo
            total.hi += part.hi
            total.glo += part.glo
            total.ghi += part.ghi
        mag_v += np.max([np.maximum(np.abs(c.lo), np.abs(c.hi)) for c in candidates], axis=0)
        mag_g += np.max([np.maximum(np.abs(c.glo), np.abs(c.ghi)) for c in candidates], axis=0)
    mag_v += np.maximum(np.abs(blo), np.abs(bhi))[None]
    pad_v, pad_g = sum_pad(mag_v, wlo.shape[1]), sum_pad(mag_g, wlo.shape[1])
    out = []
    for end, bias in (("low", blo), ("high", bhi)):
        f = acc[end]
        out.append(Slope(f.lo + bias[None] - pad_v, f.hi + bias[None] + pad_v, f.glo - pad_g, f.ghi + pad_g))
    if len(weights) == 1 and high is low and np.array_equal(blo, bhi):   # point parameters, one function: one end
        return out[0], out[0]
    return out[0], out[1]


class SlopeDomain:
    """Values are pairs (low, high) of slopes; parameters lie in [plo, phi] (pass one array twice for points).

    Each activation is monotone: an end's range goes through the function, its gradient is
    multiplied by the range of the derivative (relu's and leaky relu's kink by the hull of the slopes).
    """

    description = "interval slopes"

    def __init__(self, network, plo: np.ndarray, phi: np.ndarray):
        self.plo, self.phi = plo, phi
        self.slices = network.layer_slices()

    def affine(self, index, layer, value):
        ws, bs = self.slices[index]
        plo, phi = self.plo, self.phi
        if plo is phi:
            wlo = whi = plo[ws].reshape(layer.weights.shape)
        else:
            wlo, whi = plo[ws].reshape(layer.weights.shape), phi[ws].reshape(layer.weights.shape)
        return _affine(wlo, whi, plo[bs], phi[bs], *value)

    @staticmethod
    def _each(rule, value):
        low, high = value
        out = rule(low)
        return out, (out if high is low else rule(high))

    def linear(self, index, layer, value):
        return value

    def relu(self, index, layer, value):
        def rule(f: Slope) -> Slope:
            on, off = f.lo > 0, f.hi < 0
            glo = np.where(on[..., None], f.glo, np.where(off[..., None], 0.0, np.minimum(f.glo, 0.0)))
            ghi = np.where(on[..., None], f.ghi, np.where(off[..., None], 0.0, np.maximum(f.ghi, 0.0)))
            return Slope(np.maximum(f.lo, 0.0), np.maximum(f.hi, 0.0), glo, ghi)
        return self._each(rule, value)

    def leaky_relu(self, index, layer, value):
        alpha = float(layer.alpha)

        def rule(f: Slope) -> Slope:
            on, off = (f.lo > 0)[..., None], (f.hi < 0)[..., None]
            a_lo, a_hi = times_interval(np.float64(alpha), np.float64(alpha), f.glo, f.ghi)   # alpha·g, rounded outward
            glo = np.where(on, f.glo, np.where(off, a_lo, np.minimum(f.glo, a_lo)))
            ghi = np.where(on, f.ghi, np.where(off, a_hi, np.maximum(f.ghi, a_hi)))
            lo, hi = leaky_ends(alpha, f.lo, f.hi)
            return Slope(lo, hi, glo, ghi)
        return self._each(rule, value)

    def _smooth(self, kind, fn, value):
        def rule(f: Slope) -> Slope:
            lo, hi = padded(fn(f.lo), fn(f.hi))
            dlo, dhi = derivative_range(kind, f.lo, f.hi)
            glo, ghi = times_interval(dlo[..., None], dhi[..., None], f.glo, f.ghi)
            return Slope(lo, hi, glo, ghi)
        return self._each(rule, value)

    def sigmoid(self, index, layer, value):
        return self._smooth("sigmoid", lambda a: 1.0 / (1.0 + np.exp(-a)), value)

    def tanh(self, index, layer, value):
        return self._smooth("tanh", np.tanh, value)


def derivative_range(kind: str, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Enclosure of sigmoid' or tanh' over [lo, hi]: both peak at 0 and fall off with |v|."""
    if kind == "sigmoid":
        def d(v):
            s = 1.0 / (1.0 + np.exp(-v))
            return s * (1.0 - s)
        peak = 0.25
    else:
        def d(v):
            return 1.0 - np.tanh(v) ** 2
        peak = 1.0
    with np.errstate(over="ignore"):
        at_lo, at_hi = d(lo), d(hi)
    straddle = (lo <= 0) & (hi >= 0)
    top = np.where(straddle, peak, np.maximum(at_lo, at_hi))
    bottom = np.minimum(at_lo, at_hi)
    return np.maximum(bottom * (1 - 1e-12) - 1e-300, 0.0), top * (1 + 1e-12) + 1e-300


def times_interval(alo, ahi, blo, bhi):
    """Interval product, widened for rounding."""
    products = np.stack([alo * blo, alo * bhi, ahi * blo, ahi * bhi])
    lo, hi = products.min(axis=0), products.max(axis=0)
    return lo - 2 * _UNIT * np.abs(lo) - _TINY, hi + 2 * _UNIT * np.abs(hi) + _TINY


