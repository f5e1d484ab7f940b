"""Exact integer arithmetic on a piecewise-linear network: fast forward passes and affine forms per pattern.

The forward pass is the walk in :class:`smtnn.semantics.integers.IntegerDomain` (each layer an
integer matrix over a power of two); the affine maps of a fixed activation pattern are products
of the same integer matrices, far faster than Fractions and just as exact.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np

from ..network import Network
from ..semantics import walk
from ..semantics.integers import IntegerDomain, IntegerValue, ScaledLayer


@dataclass(frozen=True)
class AffineForms:
    """rows · a(x) = (numerators x) / 2^exponent + constants, one row per form."""

    numerators: np.ndarray
    exponent: int
    constants: list[Fraction]


class ExactNetwork:
    """A network's layers as integer matrices over powers of two (:class:`ScaledLayer`)."""

    def __init__(self, network: Network):
        self.network = network
        self.layers = [ScaledLayer(layer) for layer in network.layers]

    def logits(self, x: Sequence[Fraction]) -> list[Fraction]:
        """Exact logits at an exact input."""
        return walk(self.network, IntegerDomain(self.layers), IntegerValue.of(x)).fractions()

    def forms(self, layer: int, rows: np.ndarray, masks: Sequence[np.ndarray]) -> AffineForms:
        """rows · a_layer(x) as an affine form in x on the region of the activation pattern `masks`.

        ``rows`` is an integer matrix over the pre-activations of ``layer``; ``masks[k]`` says which
        units of hidden layer k are active (ignored for linear layers).  This back-substitutes the
        pattern's linear maps from ``layer`` down to the inputs.
        """
        s = self.layers[layer]
        rows = np.asarray(rows, dtype=object)
        const = [Fraction(int(v), 1 << s.bias_exponent) for v in rows @ s.bias]
        p, e = rows @ s.weights, s.weight_exponent
        for k in range(layer - 1, -1, -1):
            s = self.layers[k]
            active = np.asarray(masks[k], dtype=bool)
            if s.activation == "relu":
                p = p * active
            elif s.activation == "leaky_relu":   # slope 1 = 2^E / 2^E where active, N / 2^E elsewhere
                p = p * np.array([(1 << s.slope_exponent) if on else s.slope for on in active], dtype=object)
                e += s.slope_exponent
            for i, v in enumerate(p @ s.bias):
                const[i] += Fraction(int(v), 1 << (e + s.bias_exponent))
            p, e = p @ s.weights, e + s.weight_exponent
        return AffineForms(p, e, const)
