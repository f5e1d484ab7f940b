"""The pySMT term domain: a network's values as terms over symbolic inputs and parameters.

A perturbed weight times an activation becomes a bilinear term.  Certified pre-activation
bounds (when given) fix relu and leaky relu phases; an open phase becomes an if-then-else.
Sigmoid and tanh units become fresh variables with a :class:`Definition`
(dReal uses the definition; Z3 sees only certified range bounds).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pysmt.fnode import FNode


@dataclass(frozen=True)
class Definition:
    """symbol = kind(argument) for a transcendental hidden unit ('sigmoid' or 'tanh')."""

    symbol: FNode
    kind: str
    argument: FNode


class TermDomain:
    """Terms built by an :class:`~smtnn.encoder.Encoder`, parameters given as one term per flat index.

    ``bounds[k]`` (optional) encloses layer k's pre-activations; ``definitions`` collects the
    transcendental units' definitions.
    """

    description = "pySMT terms"

    def __init__(self, encoder, params: Sequence[FNode] = (), bounds=None, definitions: list | None = None):
        self.encoder = encoder
        self.mgr = encoder.mgr
        self.params = params
        self.bounds = bounds
        self.definitions = definitions if definitions is not None else []
        self.slices = encoder.network.layer_slices()

    def _bound(self, index, unit: int):
        if index is None or not self.bounds:
            return None
        return self.bounds[index][unit]

    def affine(self, index, layer, h: Sequence[FNode]) -> list[FNode]:
        ws, bs = self.slices[index]
        w, b = self.params[ws], self.params[bs]
        n = layer.inputs
        return [self.encoder.affine(w[r * n:(r + 1) * n], h, b[r]) for r in range(layer.outputs)]

    def linear(self, index, layer, pre):
        return pre

    def relu(self, index, layer, pre):
        return self._two_pieces(index, pre, lambda a: self.encoder.real(0))

    def leaky_relu(self, index, layer, pre):
        return self._two_pieces(index, pre, lambda a: self.mgr.Times(self.encoder.real(layer.alpha), a))

    def _two_pieces(self, index, pre, below):
        """a where a >= 0, below(a) where a < 0; the bounds drop a piece they exclude."""
        m, real = self.mgr, self.encoder.real
        out = []
        for j, a in enumerate(pre):
            bound = self._bound(index, j)
            negative = below(a)
            if bound is not None and bound.lo >= 0:
                out.append(a)
            elif bound is not None and bound.hi <= 0:
                out.append(negative)
            else:
                out.append(m.Ite(m.GE(a, real(0)), a, negative))
        return out

    def _transcendental(self, kind: str, pre):
        out = []
        for a in pre:
            h = self.encoder.fresh(kind)
            self.definitions.append(Definition(h, kind, a))
            out.append(h)
        return out

    def sigmoid(self, index, layer, pre):
        return self._transcendental("sigmoid", pre)

    def tanh(self, index, layer, pre):
        return self._transcendental("tanh", pre)
