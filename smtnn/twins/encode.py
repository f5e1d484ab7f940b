"""Both networks as one pySMT formula over shared inputs, relu phases fixed by certified bounds.

Each network is walked in pySMT terms (:class:`~smtnn.semantics.terms.TermDomain`, nominal
parameters as constants).  A relu unit whose certified bounds fix its phase becomes its
pre-activation or 0; an unstable one becomes a variable h with h = ite(a >= 0, a, 0) plus the
redundant triangle lemmas h >= 0, h >= a, h <= s (a - lo) and lo <= a <= hi, which give Z3's
simplex the LP relaxation before any case split.  Leaky relu is the same with alpha·a below 0
(lemmas h >= alpha·a, h >= a and the chord above).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Sequence

from pysmt.environment import Environment
from pysmt.fnode import FNode

from .. import perturbation
from ..encoder import Encoder
from ..semantics import walk
from ..semantics.terms import TermDomain
from .relaxation import Relaxation


class _PhaseTerms(TermDomain):
    """Terms of one network of the pair: relu and leaky relu phases come from the relaxation's certified bounds."""

    def __init__(self, pair: "PairEncoding", t: int, enc: Encoder, relax: Relaxation, parts: list[FNode]):
        super().__init__(enc, enc.parameter_terms())
        self.pair, self.t, self.relax, self.parts = pair, t, relax, parts

    def _phases(self, k: int, layer, pre: list[FNode], alpha: Fraction) -> list[FNode]:
        enc, out = self.encoder, []
        for j, a in enumerate(pre):
            unit = self.relax.units[(self.t, k, j)]
            if unit.lo >= 0:
                out.append(a)
            elif unit.hi <= 0:
                out.append(enc.real(0) if alpha == 0 else self.mgr.Times(enc.real(alpha), a))
            else:
                out.append(self._open(a, Fraction(unit.lo), Fraction(unit.hi), alpha, f"n{self.t}_l{k}_u{j}"))
        return out

    def _open(self, pre: FNode, lo: Fraction, hi: Fraction, alpha: Fraction, name: str) -> FNode:
        """h = ite(a >= 0, a, alpha·a) for an open unit, with the triangle lemmas (alpha = 0: relu)."""
        m, enc = self.mgr, self.encoder
        self.pair.unstable += 1
        a, h = enc.symbol("a_" + name), enc.symbol("h_" + name)
        zero = enc.real(0)
        if alpha == 0:
            below = zero
            upper = m.Times(enc.real(hi / (hi - lo)), m.Minus(a, enc.real(lo)))
            lemmas = [m.GE(h, zero), m.GE(h, a), m.LE(h, upper)]
        else:
            below = m.Times(enc.real(alpha), a)
            slope = (hi - alpha * lo) / (hi - lo)
            offset = alpha * lo - slope * lo
            lemmas = [m.GE(h, below), m.GE(h, a), m.LE(h, m.Plus(m.Times(enc.real(slope), a), enc.real(offset)))]
        self.parts += [
            m.Equals(a, pre),
            m.Equals(h, m.Ite(m.GE(a, zero), a, below)),
            m.GE(a, enc.real(lo)), m.LE(a, enc.real(hi)),
            *lemmas,
        ]
        return h

    def relu(self, k, layer, pre):
        return self._phases(k, layer, pre, Fraction(0))

    def leaky_relu(self, k, layer, pre):
        return self._phases(k, layer, pre, Fraction(layer.alpha))


class PairEncoding:
    """The formula (box and unit definitions) and the logit terms of every network."""

    def __init__(self, relaxation: Relaxation, env: Environment | None = None):
        self.env = env or Environment()
        self.encoders = [Encoder(net, perturbation.uniform(net, 0), self.env) for net in relaxation.networks]
        first = self.encoders[0]
        self.mgr = first.mgr
        self.inputs = first.input_symbols("x")
        box = relaxation.box
        parts = [first.within(self.inputs, box.lower, box.upper)]
        self.logits: list[list[FNode]] = []
        self.unstable = 0
        for t, enc in enumerate(self.encoders):
            self.logits.append(self._network(t, enc, relaxation, parts))
        self.formula = self.mgr.And(parts)

    def _network(self, t: int, enc: Encoder, relax: Relaxation, parts: list[FNode]) -> list[FNode]:
        return walk(enc.network, _PhaseTerms(self, t, enc, relax, parts), list(self.inputs))

    def objective(self, coeffs: Sequence[Sequence[int]]) -> FNode:
        """c1·z1 + c2·z2 as a term."""
        m = self.mgr
        terms = [m.Times(self.encoders[0].real(Fraction(c)), z) for zs, cs in zip(self.logits, coeffs) for c, z in zip(cs, zs) if c]
        return m.Plus(terms) if terms else self.encoders[0].real(0)
