"""Interval slopes: ranges and Clarke-gradient enclosures of the logit bounds over input boxes.

Interval propagation over the parameter box at a point x gives two functions of x, the lower
and upper ends of each logit's enclosure (exactly max/min over p when the perturbation
decouples, see :mod:`smtnn.bounds`).  Both are piecewise smooth.  This module carries, for
every box of inputs, each end's range and an enclosure of its Clarke generalized gradient,
with the hull rules for min/max, ReLU and products (Clarke 1983, Prop. 2.3.12, Thm. 2.6.6).
Lebourg's mean-value theorem then bounds a function over a box by its value at the centre plus
Σ_i |∂_i| r_i, which shrinks quadratically near a smooth optimum where first-order interval
bounds shrink only linearly.  All float64 results are widened outward for rounding.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .network import Network

_UNIT = 2.0 ** -52
_TINY = np.finfo(float).tiny


@dataclass
class Slope:
    """Per box and neuron, a function of x: its range [lo, hi] over the box and gradient enclosure [glo, ghi] per input axis."""

    lo: np.ndarray    # (boxes, neurons)
    hi: np.ndarray
    glo: np.ndarray   # (boxes, neurons, axes)
    ghi: np.ndarray


def _pad(magnitude: np.ndarray, terms: int) -> np.ndarray:
    return (terms + 2) * _UNIT * magnitude + _TINY


def _scaled(c: np.ndarray, lo, hi, glo, ghi):
    """c · f for constants c (neurons,) and a function f given per box (boxes,) with gradients (boxes, axes)."""
    a, b = c[None, :] * lo[:, None], c[None, :] * hi[:, None]
    ga, gb = c[None, :, None] * glo[:, None, :], c[None, :, None] * ghi[:, None, :]
    return np.minimum(a, b), np.maximum(a, b), np.minimum(ga, gb), np.maximum(ga, gb)


def _extreme(candidates, upper: bool):
    """max (upper) or min of candidate functions: range from the ends, gradient hull over those that may be attained."""
    los = np.stack([c[0] for c in candidates])
    his = np.stack([c[1] for c in candidates])
    glos = np.stack([c[2] for c in candidates])
    ghis = np.stack([c[3] for c in candidates])
    if upper:
        lo, hi = los.max(axis=0), his.max(axis=0)
        active = his >= lo[None]
    else:
        lo, hi = los.min(axis=0), his.min(axis=0)
        active = los <= hi[None]
    glo = np.where(active[..., None], glos, np.inf).min(axis=0)
    ghi = np.where(active[..., None], ghis, -np.inf).max(axis=0)
    return lo, hi, glo, ghi


def _affine(wlo, whi, blo, bhi, low: Slope, high: Slope) -> tuple[Slope, Slope]:
    """Ends of [W]·[h] + [b] as functions of x: each product's min/max over the four corners, summed."""
    boxes, n_out, axes = low.lo.shape[0], wlo.shape[0], low.glo.shape[2]
    acc = {end: [np.zeros((boxes, n_out)) for _ in range(2)] + [np.zeros((boxes, n_out, axes)) for _ in range(2)]
           for end in ("low", "high")}
    mag_v = np.zeros((boxes, n_out))
    mag_g = np.zeros((boxes, n_out, axes))
    weights = (wlo,) if wlo is whi else (wlo, whi)
    for j in range(wlo.shape[1]):
        ends = [(low.lo[:, j], low.hi[:, j], low.glo[:, j], low.ghi[:, j])]
        if high is not low:
            ends.append((high.lo[:, j], high.hi[:, j], high.glo[:, j], high.ghi[:, j]))
        candidates = [_scaled(w[:, j], *f) for w in weights for f in ends]
        for end, upper in (("low", False), ("high", True)):
            for k, part in enumerate(_extreme(candidates, upper)):
                acc[end][k] += part
        mag_v += np.max([np.maximum(np.abs(c[0]), np.abs(c[1])) for c in candidates], axis=0)
        mag_g += np.max([np.maximum(np.abs(c[2]), np.abs(c[3])) for c in candidates], axis=0)
    mag_v += np.maximum(np.abs(blo), np.abs(bhi))[None]
    pad_v, pad_g = _pad(mag_v, wlo.shape[1]), _pad(mag_g, wlo.shape[1])
    out = []
    for end, bias in (("low", blo), ("high", bhi)):
        lo, hi, glo, ghi = acc[end]
        out.append(Slope(lo + bias[None] - pad_v, hi + bias[None] + pad_v, glo - pad_g, ghi + pad_g))
    if len(weights) == 1 and high is low and np.array_equal(blo, bhi):   # point parameters, one function: one end
        return out[0], out[0]
    return out[0], out[1]


def _activate(kind: str, f: Slope) -> Slope:
    """A monotone activation of an end: range through the function, gradient times the derivative's range."""
    if kind == "linear":
        return f
    if kind == "relu":
        on, off = f.lo > 0, f.hi < 0
        glo = np.where(on[..., None], f.glo, np.where(off[..., None], 0.0, np.minimum(f.glo, 0.0)))
        ghi = np.where(on[..., None], f.ghi, np.where(off[..., None], 0.0, np.maximum(f.ghi, 0.0)))
        return Slope(np.maximum(f.lo, 0.0), np.maximum(f.hi, 0.0), glo, ghi)
    fn = {"sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)), "tanh": np.tanh}[kind]
    lo, hi = fn(f.lo), fn(f.hi)
    lo, hi = lo - 1e-13 * np.abs(lo) - 1e-300, hi + 1e-13 * np.abs(hi) + 1e-300
    dlo, dhi = derivative_range(kind, f.lo, f.hi)
    glo, ghi = times_interval(dlo[..., None], dhi[..., None], f.glo, f.ghi)
    return Slope(lo, hi, glo, ghi)


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


_SIGMOID_INFLECTIONS = (-1.3169578969248166, 1.3169578969248166)   # ±ln(2+√3): extremes of sigmoid''


def sigmoid_second_derivative_range(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Enclosure of sigmoid'' = s(1-s)(1-2s) over [lo, hi]: its extremes lie at the ends or at ±ln(2+√3)."""
    def d2(v):
        s = 1.0 / (1.0 + np.exp(-v))
        return s * (1.0 - s) * (1.0 - 2.0 * s)
    with np.errstate(over="ignore"):
        values = [d2(lo), d2(hi)]
    for v in _SIGMOID_INFLECTIONS:
        inside = (lo <= v) & (v <= hi)
        values.append(np.where(inside, d2(np.float64(v)), values[0]))
    bottom, top = np.minimum.reduce(values), np.maximum.reduce(values)
    pad = 1e-12 * np.maximum(np.abs(bottom), np.abs(top)) + 1e-16
    return bottom - pad, top + pad


def times_interval(alo, ahi, blo, bhi):
    """Interval product, widened for rounding."""
    products = np.stack([alo * blo, alo * bhi, ahi * blo, ahi * bhi])
    lo, hi = products.min(axis=0), products.max(axis=0)
    return lo - 2 * _UNIT * np.abs(lo) - _TINY, hi + 2 * _UNIT * np.abs(hi) + _TINY


def logit_slopes(network: Network, plo: np.ndarray, phi: np.ndarray, xlo: np.ndarray, xhi: np.ndarray,
                 gradients: bool = True) -> tuple[Slope, Slope]:
    """Slopes of the lower and upper ends of the logits' enclosures over input boxes (rows) and a parameter box.

    Pass the same array as plo and phi for point parameters (then both ends are one function);
    `gradients=False` gives the ranges only (empty gradient arrays).
    """
    boxes, axes = xlo.shape
    eye = np.broadcast_to(np.eye(axes)[None], (boxes, axes, axes)) if gradients else np.zeros((boxes, axes, 0))
    low = high = Slope(xlo, xhi, eye, eye)
    for k, (layer, (ws, bs)) in enumerate(zip(network.layers, network.layer_slices())):
        if plo is phi:
            wlo = whi = plo[ws].reshape(layer.weights.shape)
        else:
            wlo, whi = plo[ws].reshape(layer.weights.shape), phi[ws].reshape(layer.weights.shape)
        low, high = _affine(wlo, whi, plo[bs], phi[bs], low, high)
        if k < len(network.layers) - 1:
            low = _activate(layer.activation, low)
            high = low if high is low else _activate(layer.activation, high)
    return low, high


def mean_value_bound(value_at_centre: np.ndarray, grad_lo: np.ndarray, grad_hi: np.ndarray,
                     xlo: np.ndarray, xhi: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper bound f(c) + Σ_i max|∂_i f| r_i over each box (Lebourg), and each axis's share of the slack."""
    radius = np.maximum(xhi - centre, centre - xlo) * (1 + 2 * _UNIT)
    share = np.maximum(np.abs(grad_lo), np.abs(grad_hi)) * radius
    slack = share.sum(axis=1)
    return value_at_centre + slack * (1 + (xlo.shape[1] + 2) * _UNIT) + _TINY, share
