"""Exact integer arithmetic on a piecewise-linear network: fast forward passes and affine forms per pattern.

The forward pass is the walk in :class:`smtnn.semantics.integers.IntegerDomain` (each layer an
integer matrix over a power of two); the affine maps of a fixed activation pattern are the
backward walk in :class:`smtnn.semantics.integers.PatternBackward`, products of the same integer
matrices, far faster than Fractions and just as exact.
"""
from __future__ import annotations

import weakref
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np

from ..network import Network
from .walk import walk, walk_backward
from .integers import AffineForms, IntegerDomain, IntegerValue, PatternBackward, ScaledLayer

__all__ = ["AffineForms", "ExactNetwork", "exact_network"]

RECENT = 64
"""Inputs whose exact logits an :class:`ExactNetwork` keeps."""


class ExactNetwork:
    """A network's layers as integer matrices over powers of two (:class:`ScaledLayer`)."""

    def __init__(self, network: Network):
        self.network = network
        self.layers = [ScaledLayer(layer) for layer in network.layers]
        self._recent: dict[tuple, tuple[Fraction, ...]] = {}

    def logits(self, x: Sequence[Fraction]) -> list[Fraction]:
        """Exact logits at an exact input (the last RECENT inputs remembered: every class's search starts at the
        same box centre and replays the same attack points)."""
        key = tuple(x)
        found = self._recent.get(key)
        if found is None:
            found = tuple(walk(self.network, IntegerDomain(self.layers), IntegerValue.of(key)).fractions())
            if len(self._recent) >= RECENT:
                del self._recent[next(iter(self._recent))]
            self._recent[key] = found
        return list(found)

    def forms(self, layer: int, rows: np.ndarray, masks: Sequence[np.ndarray] | Callable[[int], np.ndarray]) -> AffineForms:
        """rows · a_layer(x) as an affine form in x on the region of the activation pattern `masks`.

        ``rows`` is an integer matrix over the pre-activations of ``layer``; ``masks[k]`` (or ``masks(k)``,
        read when the walk reaches layer k) says which units of hidden layer k are active (ignored for
        linear layers).  The backward walk substitutes the pattern's linear maps from ``layer`` down to
        the inputs (:class:`smtnn.semantics.integers.PatternBackward`).
        """
        active = masks if callable(masks) else masks.__getitem__
        return walk_backward(self.network, PatternBackward(self.layers, active), AffineForms.rows(rows), start=layer)


_EXACT_NETWORKS: dict[int, tuple[weakref.ref, ExactNetwork]] = {}


def exact_network(network: Network) -> ExactNetwork:
    """The network's layers as integer matrices, built once per network (the last few are remembered)."""
    entry = _EXACT_NETWORKS.get(id(network))
    if entry is None or entry[0]() is not network:
        if len(_EXACT_NETWORKS) >= 8:
            _EXACT_NETWORKS.pop(next(iter(_EXACT_NETWORKS)))
        entry = _EXACT_NETWORKS[id(network)] = (weakref.ref(network), ExactNetwork(network))
    return entry[1]
