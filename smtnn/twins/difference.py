"""Sound bounds on the differences of two same-shaped networks on the same input (ReluDiff-style).

With d = a1 - a2 (pre-activations) and δ = h1 - h2 (outputs) of corresponding units,
    d_k = (W1 - W2) h1_{k-1} + W2 δ_{k-1} + (b1 - b2),   δ_0 = 0 (the same x),
and relu(a1) - relu(a2) lies between min(d, 0) and max(d, 0) (it equals d when both units are
active, 0 when both are inactive).  Twins that differ little (int8) get tight d and δ, which
the relaxation adds as rows linking the two copies.  Since d is itself a linear expression of
the LP's columns (a1 - a2), :func:`relu_chords` also gives the relaxation the chords of max(d, 0)
above δ and of min(d, 0) below it over [d_lo, d_hi] (the triangle relaxation of the difference,
as in ReluDiff/NeuroDiff), which keeps δ tied to x where a box would forget it.
Float rounding is bounded outward.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from . import intervals
from ..rounding import UNIT, float_down, float_up


def affine(w1, b1, w2, b2, h1_lo, h1_hi, delta_lo, delta_hi) -> tuple[np.ndarray, np.ndarray]:
    """Enclosure of a1 - a2 from h1 in [h1_lo, h1_hi] and h1 - h2 in [delta_lo, delta_hi]."""
    dw, db = w1 - w2, b1 - b2
    lo1, hi1 = intervals.affine(dw, np.zeros_like(db), h1_lo, h1_hi)
    lo2, hi2 = intervals.affine(w2, db, delta_lo, delta_hi)
    slack = 4 * UNIT * (np.abs(dw) @ np.maximum(np.abs(h1_lo), np.abs(h1_hi)) + np.abs(db))
    return np.nextafter(lo1 + lo2 - slack, -np.inf), np.nextafter(hi1 + hi2 + slack, np.inf)


def relu(d_lo, d_hi, lo1, hi1, lo2, hi2) -> tuple[np.ndarray, np.ndarray]:
    """Enclosure of relu(a1) - relu(a2) given a1 - a2 in [d_lo, d_hi] and each a's own bounds."""
    both_on = (lo1 >= 0) & (lo2 >= 0)
    both_off = (hi1 <= 0) & (hi2 <= 0)
    out_lo = np.where(both_on, d_lo, np.minimum(d_lo, 0.0))
    out_hi = np.where(both_on, d_hi, np.maximum(d_hi, 0.0))
    out_lo, out_hi = np.where(both_off, 0.0, out_lo), np.where(both_off, 0.0, out_hi)
    h_lo = np.nextafter(np.maximum(lo1, 0) - np.maximum(hi2, 0), -np.inf)
    h_hi = np.nextafter(np.maximum(hi1, 0) - np.maximum(lo2, 0), np.inf)
    return np.maximum(out_lo, h_lo), np.minimum(out_hi, h_hi)


def relu_chords(d_lo: float, d_hi: float) -> tuple[float, float, float, float]:
    """(s_up, c_up, s_low, c_low): s_low·d + c_low <= relu(a1) - relu(a2) <= s_up·d + c_up for d = a1 - a2 in [d_lo, d_hi].

    The slopes are the chords' slopes (any float is sound); the offsets are exact maxima/minima over
    the two ends (max(d, 0) - s d is convex, min(d, 0) - s d concave), rounded outward.
    """
    lo, hi = Fraction(d_lo), Fraction(d_hi)
    if hi <= 0:
        s_up, s_low = 0.0, 1.0
    elif lo >= 0:
        s_up, s_low = 1.0, 0.0
    else:
        s_up, s_low = float(hi / (hi - lo)), float(-lo / (hi - lo))
    su, sl = Fraction(s_up), Fraction(s_low)
    c_up = float_up(max(max(lo, 0) - su * lo, max(hi, 0) - su * hi))
    c_low = float_down(min(min(lo, 0) - sl * lo, min(hi, 0) - sl * hi))
    return s_up, c_up, s_low, c_low


def compatible(a, b) -> bool:
    """Same depth, widths and activations (and leaky relu slopes): the difference bounds apply."""
    return len(a.layers) == len(b.layers) and all(
        la.weights.shape == lb.weights.shape and (la.activation, la.alpha) == (lb.activation, lb.alpha)
        for la, lb in zip(a.layers, b.layers))
