"""Both networks as one pySMT formula over shared inputs, relu phases fixed by certified bounds.

Each network is encoded with its :class:`~smtnn.encoder.Encoder` (nominal parameters as
constants).  A relu unit whose certified bounds fix its phase becomes its pre-activation or 0;
an unstable one becomes a variable h with h = ite(a >= 0, a, 0) plus the redundant triangle
lemmas h >= 0, h >= a, h <= s (a - lo) and lo <= a <= hi, which give Z3's simplex the LP
relaxation before any case split.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Sequence

from pysmt.environment import Environment
from pysmt.fnode import FNode

from .. import perturbation
from ..encoder import Encoder
from .relaxation import Relaxation


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
        net = enc.network
        params = enc.parameter_terms()
        h: list[FNode] = list(self.inputs)
        for k, (layer, (ws, bs)) in enumerate(zip(net.layers, net.layer_slices())):
            w, b = params[ws], params[bs]
            pre = [enc.affine(w[r * layer.inputs:(r + 1) * layer.inputs], h, b[r]) for r in range(layer.outputs)]
            if k == len(net.layers) - 1:
                return pre
            out = []
            for j, a in enumerate(pre):
                unit = relax.units[(t, k, j)]
                if unit.kind == "linear" or unit.lo >= 0:
                    out.append(a)
                elif unit.hi <= 0:
                    out.append(enc.real(0))
                else:
                    out.append(self._relu(enc, a, Fraction(unit.lo), Fraction(unit.hi), parts, f"n{t}_l{k}_u{j}"))
            h = out
        raise AssertionError("unreachable")

    def _relu(self, enc: Encoder, pre: FNode, lo: Fraction, hi: Fraction, parts: list[FNode], name: str) -> FNode:
        m = self.mgr
        self.unstable += 1
        a, h = enc.symbol("a_" + name), enc.symbol("h_" + name)
        zero = enc.real(0)
        slope = hi / (hi - lo)
        parts += [
            m.Equals(a, pre),
            m.Equals(h, m.Ite(m.GE(a, zero), a, zero)),
            m.GE(a, enc.real(lo)), m.LE(a, enc.real(hi)),
            m.GE(h, zero), m.GE(h, a),
            m.LE(h, m.Times(enc.real(slope), m.Minus(a, enc.real(lo)))),
        ]
        return h

    def objective(self, coeffs: Sequence[Sequence[int]]) -> FNode:
        """c1·z1 + c2·z2 as a term."""
        m = self.mgr
        terms = [m.Times(self.encoders[0].real(Fraction(c)), z) for zs, cs in zip(self.logits, coeffs) for c, z in zip(cs, zs) if c]
        return m.Plus(terms) if terms else self.encoders[0].real(0)
