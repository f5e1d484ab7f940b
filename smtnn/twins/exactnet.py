"""Exact integer arithmetic on a relu/linear network: fast forward passes and affine forms per pattern.

Every float64 parameter is m * 2^e exactly, so each layer is an integer matrix over a common
power of two.  Forward passes and the affine maps of a fixed activation pattern are then
products of Python integers (NumPy object arrays), far faster than Fractions and just as exact.
"""
from __future__ import annotations

from fractions import Fraction
from math import lcm
from typing import Sequence

import numpy as np

from ..network import Network


def scaled(values: np.ndarray) -> tuple[np.ndarray, int]:
    """(integers N, exponent E) with values == N / 2^E exactly."""
    values = np.asarray(values, dtype=np.float64)
    mant, exp = np.frexp(values)
    ints = (mant * 2.0 ** 53).astype(np.int64)
    shifts = exp.astype(np.int64) - 53
    nonzero = ints != 0
    e = int(max(0, -shifts[nonzero].min())) if nonzero.any() else 0
    out = np.empty(values.shape, dtype=object)
    flat_i, flat_s, flat_o = ints.ravel(), shifts.ravel(), out.reshape(-1)
    for k in range(flat_i.size):
        flat_o[k] = int(flat_i[k]) << int(flat_s[k] + e) if flat_i[k] else 0
    return out, e


class ExactNetwork:
    """A network's layers as (integer weights, exponent, integer biases, exponent)."""

    def __init__(self, network: Network):
        self.network = network
        self.layers = []
        for layer in network.layers:
            w, ew = scaled(layer.weights)
            b, eb = scaled(layer.bias)
            self.layers.append((w, ew, b, eb, layer.activation))

    def logits(self, x: Sequence[Fraction]) -> list[Fraction]:
        """Exact logits at an exact input."""
        den = lcm(*[Fraction(v).denominator for v in x]) if len(x) else 1
        h = np.array([int(Fraction(v) * den) for v in x], dtype=object)
        for k, (w, ew, b, eb, act) in enumerate(self.layers):
            d_new = lcm(den << ew, 1 << eb)
            a = (w @ h) * (d_new // (den << ew)) + b * (d_new // (1 << eb))
            den = d_new
            if k == len(self.layers) - 1:
                return [Fraction(int(v), den) for v in a]
            h = np.array([v if v > 0 else 0 for v in a], dtype=object) if act == "relu" else a
        raise AssertionError("unreachable")

    def pattern(self, x: Sequence[Fraction]) -> list[np.ndarray]:
        """Per hidden layer, which units are active (pre-activation >= 0) at x, exactly."""
        den = lcm(*[Fraction(v).denominator for v in x]) if len(x) else 1
        h = np.array([int(Fraction(v) * den) for v in x], dtype=object)
        masks = []
        for w, ew, b, eb, act in self.layers[:-1]:
            d_new = lcm(den << ew, 1 << eb)
            a = (w @ h) * (d_new // (den << ew)) + b * (d_new // (1 << eb))
            den = d_new
            masks.append(np.array([v >= 0 for v in a]))
            h = np.array([v if v > 0 else 0 for v in a], dtype=object) if act == "relu" else a
        return masks

    def forms(self, layer: int, rows: np.ndarray, masks: Sequence[np.ndarray]) -> tuple[np.ndarray, int, list[Fraction]]:
        """rows · a_layer(x) = (P x) / 2^E + const on the region of the activation pattern `masks`.

        ``rows`` is an integer matrix over the pre-activations of ``layer``; ``masks[k]`` says which
        units of hidden layer k pass (ignored for linear layers).
        """
        w, ew, b, eb, _ = self.layers[layer]
        rows = np.asarray(rows, dtype=object)
        const = [Fraction(int(v), 1 << eb) for v in rows @ b]
        p, e = rows @ w, ew
        for k in range(layer - 1, -1, -1):
            w, ew, b, eb, act = self.layers[k]
            if act == "relu":
                p = p * np.asarray(masks[k], dtype=bool)
            for i, v in enumerate(p @ b):
                const[i] += Fraction(int(v), 1 << (e + eb))
            p, e = p @ w, e + ew
        return p, e, const
