"""The outward-rounded float64 interval domain: bounds of every value over boxes of inputs (rows) and
one box of parameters.  Sums are widened by :func:`smtnn.rounding.sum_pad`, transcendental
activations by a relative pad far above their few-ulp error, so every bound is sound.
"""
from __future__ import annotations

import numpy as np

from ..rounding import round_down, round_up, sum_pad

TRANSCENDENTAL_PAD = 1e-13
"""Relative pad of float sigmoid/tanh values (NumPy's exp and tanh err by a few ulps)."""


def padded(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Widen float values of a transcendental function by TRANSCENDENTAL_PAD (relative) and 1e-300."""
    return lo - TRANSCENDENTAL_PAD * np.abs(lo) - 1e-300, hi + TRANSCENDENTAL_PAD * np.abs(hi) + 1e-300


def leaky_ends(alpha: float, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outward-rounded leaky relu of the ends of intervals (monotone for 0 <= alpha <= 1)."""
    with np.errstate(under="ignore"):
        return (np.where(lo >= 0, lo, round_down(alpha * np.minimum(lo, 0.0))),
                np.where(hi >= 0, hi, round_up(alpha * np.minimum(hi, 0.0))))


class IntervalDomain:
    """Values are pairs (lo, hi) of arrays (boxes, units); parameters lie in [plo, phi] (flat float vectors)."""

    description = "outward-rounded float64 intervals"

    def __init__(self, network, plo: np.ndarray, phi: np.ndarray):
        self.plo, self.phi = plo, phi
        self.slices = network.layer_slices()

    def affine(self, index, layer, value):
        hlo, hhi = value
        ws, bs = self.slices[index]
        plo, phi = self.plo, self.phi
        wlo = plo[ws].reshape(layer.weights.shape)
        whi = phi[ws].reshape(layer.weights.shape)
        prods = np.stack([wlo[None] * hlo[:, None, :], wlo[None] * hhi[:, None, :],
                          whi[None] * hlo[:, None, :], whi[None] * hhi[:, None, :]])
        lo = prods.min(axis=0).sum(axis=2) + plo[bs]
        hi = prods.max(axis=0).sum(axis=2) + phi[bs]
        magnitude = np.abs(prods).max(axis=0).sum(axis=2) + np.maximum(np.abs(plo[bs]), np.abs(phi[bs]))
        pad = sum_pad(magnitude, layer.inputs)
        return lo - pad, hi + pad

    def linear(self, index, layer, value):
        return value

    def relu(self, index, layer, value):
        return np.maximum(value[0], 0.0), np.maximum(value[1], 0.0)

    def leaky_relu(self, index, layer, value):
        return leaky_ends(float(layer.alpha), *value)

    def sigmoid(self, index, layer, value):
        return padded(1.0 / (1.0 + np.exp(-value[0])), 1.0 / (1.0 + np.exp(-value[1])))

    def tanh(self, index, layer, value):
        return padded(np.tanh(value[0]), np.tanh(value[1]))
