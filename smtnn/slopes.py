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

import numpy as np

from .network import Network
from .rounding import TINY as _TINY, ULP_ONE as _UNIT
from .semantics import walk
from .semantics.slopes import Slope, SlopeDomain, derivative_range, times_interval

__all__ = ["Slope", "derivative_range", "times_interval", "sigmoid_second_derivative_range", "logit_slopes",
           "mean_value_bound"]


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


def logit_slopes(network: Network, plo: np.ndarray, phi: np.ndarray, xlo: np.ndarray, xhi: np.ndarray,
                 gradients: bool = True) -> tuple[Slope, Slope]:
    """Slopes of the lower and upper ends of the logits' enclosures over input boxes (rows) and a parameter box.

    Pass the same array as plo and phi for point parameters (then both ends are one function);
    `gradients=False` gives the ranges only (empty gradient arrays).
    """
    boxes, axes = xlo.shape
    eye = np.broadcast_to(np.eye(axes)[None], (boxes, axes, axes)) if gradients else np.zeros((boxes, axes, 0))
    start = Slope(xlo, xhi, eye, eye)
    return walk(network, SlopeDomain(network, plo, phi), (start, start))


def mean_value_bound(value_at_centre: np.ndarray, grad_lo: np.ndarray, grad_hi: np.ndarray,
                     xlo: np.ndarray, xhi: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper bound f(c) + Σ_i max|∂_i f| r_i over each box (Lebourg), and each axis's share of the slack."""
    radius = np.maximum(xhi - centre, centre - xlo) * (1 + 2 * _UNIT)
    share = np.maximum(np.abs(grad_lo), np.abs(grad_hi)) * radius
    slack = share.sum(axis=1)
    return value_at_centre + slack * (1 + (xlo.shape[1] + 2) * _UNIT) + _TINY, share
