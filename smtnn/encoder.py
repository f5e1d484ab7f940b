"""Networks as pySMT terms: the paper's encoding and the parameter-eliminated one.

:class:`Encoder` owns one pySMT :class:`~pysmt.environment.Environment` and builds, in it,
- the **parametric** logits z(x, p): free parameters are real variables, so a perturbed
  weight times an activation is a bilinear term (the paper's encoding, Eqs. 6-13);
- the **eliminated** extremes max/min_p c·z(x, p) as piecewise-linear terms in x alone, valid
  when the perturbation decouples (see :mod:`smtnn.bounds`): each hidden neuron's range is
  [act(A_lo(x)), act(A_hi(x))] and each bilinear term is maximized at a corner.
ReLU becomes an if-then-else unless interval bounds fix its phase.  Sigmoid and tanh hidden
units become fresh variables with a :class:`Definition`; the dReal backend and the dReal
export use the definitions, Z3 sees only their certified interval bounds (a relaxation).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

from pysmt.environment import Environment
from pysmt.fnode import FNode
from pysmt.typing import REAL

from .bounds import activate, propagate
from .domain import Box
from .exact import Enclosure
from .network import Network
from .perturbation import Perturbation


@dataclass(frozen=True)
class Definition:
    """symbol = kind(argument) for a transcendental hidden unit ('sigmoid' or 'tanh')."""

    symbol: FNode
    kind: str
    argument: FNode


@dataclass
class Query:
    """A satisfiability query: a pySMT formula, its transcendental definitions and its variables."""

    encoder: "Encoder"
    formula: FNode
    definitions: list[Definition] = field(default_factory=list)
    inputs: list[FNode] = field(default_factory=list)
    parameters: dict[int, FNode] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def needs_exp(self) -> bool:
        return bool(self.definitions)


class Encoder:
    """Builds terms for one network and one perturbation in a private pySMT environment."""

    def __init__(self, network: Network, perturbation: Perturbation, env: Environment | None = None):
        self.network = network
        self.perturbation = perturbation
        self.env = env or Environment()
        self.mgr = self.env.formula_manager
        self._fresh = 0

    # -- atoms -------------------------------------------------------------------------
    def real(self, value: Fraction) -> FNode:
        return self.mgr.Real(Fraction(value))

    def symbol(self, name: str) -> FNode:
        return self.mgr.Symbol(name, REAL)

    def fresh(self, prefix: str) -> FNode:
        self._fresh += 1
        return self.symbol(f"{prefix}_{self._fresh}")

    def input_symbols(self, tag: str = "x") -> list[FNode]:
        return [self.symbol(f"{tag}{i}") for i in range(self.network.n_inputs)]

    def parameter_symbols(self) -> dict[int, FNode]:
        """One real variable per free parameter, named after its place in the network."""
        names = self.network.parameter_names()
        return {i: self.symbol("p_" + str(names[i]).replace("[", "_").replace("]", "").replace(",", "_").replace(".", "_"))
                for i in self.perturbation.free}

    def parameter_terms(self, symbols: dict[int, FNode] | None = None) -> list[FNode]:
        """Per parameter: its variable when free (and given), else its nominal rational."""
        symbols = symbols or {}
        return [symbols.get(i, self.real(p)) for i, p in enumerate(self.perturbation.nominal)]

    def within(self, terms: Sequence[FNode], lower: Sequence[Fraction], upper: Sequence[Fraction]) -> FNode:
        m = self.mgr
        return m.And([m.And(m.GE(t, self.real(lo)), m.LE(t, self.real(hi))) for t, lo, hi in zip(terms, lower, upper)])

    def parameter_box(self, symbols: dict[int, FNode]) -> FNode:
        """(p >= p0 - δ) ∧ (p <= p0 + δ) for every free parameter (Eqs. 6-13)."""
        idx = sorted(symbols)
        return self.within([symbols[i] for i in idx], [self.perturbation.lower[i] for i in idx], [self.perturbation.upper[i] for i in idx])

    def affine(self, row: Sequence[FNode], inputs: Sequence[FNode], bias: FNode) -> FNode:
        m = self.mgr
        terms = [m.Times(w, h) for w, h in zip(row, inputs) if not (w.is_constant() and w.constant_value() == 0)]
        return m.Plus(terms + [bias]) if terms else bias

    def relu(self, a: FNode, bound: Enclosure | None) -> FNode:
        m = self.mgr
        if bound is not None and bound.lo >= 0:
            return a
        if bound is not None and bound.hi <= 0:
            return self.real(0)
        return m.Ite(m.GE(a, self.real(0)), a, self.real(0))

    # -- the paper's encoding ----------------------------------------------------------
    def logits(self, inputs: Sequence[FNode], params: Sequence[FNode], input_box: Box | None,
               definitions: list[Definition], nominal: bool = False) -> list[FNode]:
        """Logit terms of the network at symbolic inputs and parameters.

        ``input_box`` (with the perturbation box, or the nominal point when ``nominal``) bounds
        every pre-activation, fixing ReLU phases and bounding transcendental units.
        """
        net = self.network
        pert = self.perturbation
        lower, upper = (pert.nominal, pert.nominal) if nominal else (pert.lower, pert.upper)
        pre_bounds = None
        if input_box is not None:
            boxes = [Enclosure(lo, hi) for lo, hi in zip(input_box.lower, input_box.upper)]
            pre_bounds = propagate(net, boxes, list(lower), list(upper))
        h = list(inputs)
        for k, (layer, (ws, bs)) in enumerate(zip(net.layers, net.layer_slices())):
            w = params[ws]
            b = params[bs]
            pre = [self.affine(w[r * layer.inputs:(r + 1) * layer.inputs], h, b[r]) for r in range(layer.outputs)]
            if k == len(net.layers) - 1:
                return pre
            bounds = pre_bounds[k] if pre_bounds else [None] * len(pre)
            h = [self.activation(layer.activation, a, bd, definitions) for a, bd in zip(pre, bounds)]
        raise AssertionError("unreachable")

    def activation(self, kind: str, a: FNode, bound: Enclosure | None, definitions: list[Definition]) -> FNode:
        if kind == "linear":
            return a
        if kind == "relu":
            return self.relu(a, bound)
        h = self.fresh(kind)
        definitions.append(Definition(h, kind, a))
        return h

    def definition_bounds(self, definitions: Sequence[Definition], box: Box | None) -> FNode:
        """Certified range constraints of transcendental units: monotone images of their arguments' bounds."""
        m = self.mgr
        parts = [m.And(m.GT(d.symbol, self.real(-1 if d.kind == "tanh" else 0)), m.LT(d.symbol, self.real(1))) for d in definitions]
        return m.And(parts)

    # -- the eliminated encoding -------------------------------------------------------
    def eliminated_extreme(self, inputs: Sequence[FNode], coeffs: Sequence[int], input_box: Box) -> FNode:
        """max over the parameter box of c·z(x, p) as a piecewise-linear term in x (requires decoupling, PWL)."""
        m = self.mgr
        net, pert = self.network, self.perturbation
        lower, upper, nominal = pert.lower, pert.upper, pert.nominal
        slices = net.layer_slices()
        boxes = [Enclosure(lo, hi) for lo, hi in zip(input_box.lower, input_box.upper)]
        n_layers = len(net.layers)
        split = max(n_layers - 2, 0)
        u = list(inputs)
        u_bounds = boxes
        if split:
            nominal_terms = [self.real(p) for p in nominal]
            defs: list[Definition] = []
            pre_nom = propagate(net, boxes, list(nominal), list(nominal), upto=split)
            h = list(inputs)
            for k in range(split):
                layer = net.layers[k]
                ws, bs = slices[k]
                w, b = nominal_terms[ws], nominal_terms[bs]
                pre = [self.affine(w[r * layer.inputs:(r + 1) * layer.inputs], h, b[r]) for r in range(layer.outputs)]
                h = [self.activation(layer.activation, a, bd, defs) for a, bd in zip(pre, pre_nom[k])]
            u = h
            u_bounds = [activate(net.layers[split - 1].activation, v) for v in pre_nom[split - 1]]
        out_ws, out_bs = slices[-1]
        n_hidden = net.layers[-1].inputs

        def corner_max(lo: Fraction, hi: Fraction, term: FNode, bound: Enclosure) -> FNode:
            """max over w in [lo, hi] of w·term."""
            if lo == hi:
                return m.Times(self.real(lo), term)
            if bound.lo >= 0:
                return m.Times(self.real(hi), term)
            if bound.hi <= 0:
                return m.Times(self.real(lo), term)
            return m.Ite(m.GE(term, self.real(0)), m.Times(self.real(hi), term), m.Times(self.real(lo), term))

        const = Fraction(0)
        for c, a in enumerate(coeffs):
            if a:
                i = out_bs.start + c
                const += max(a * lower[i], a * upper[i])
        total = [self.real(const)]
        for k in range(n_hidden):
            g_lo = sum((min(a * lower[out_ws.start + c * n_hidden + k], a * upper[out_ws.start + c * n_hidden + k]) for c, a in enumerate(coeffs) if a), Fraction(0))
            g_hi = sum((max(a * lower[out_ws.start + c * n_hidden + k], a * upper[out_ws.start + c * n_hidden + k]) for c, a in enumerate(coeffs) if a), Fraction(0))
            if n_layers == 1:
                total.append(corner_max(g_lo, g_hi, u[k], u_bounds[k]))
                continue
            hidden = net.layers[-2]
            hws, hbs = slices[-2]
            lo_terms, hi_terms = [], []
            for j in range(hidden.inputs):
                i = hws.start + k * hidden.inputs + j
                hi_terms.append(corner_max(lower[i], upper[i], u[j], u_bounds[j]))
                lo_terms.append(m.Times(self.real(-1), corner_max(-upper[i], -lower[i], u[j], u_bounds[j])))
            ib = hbs.start + k
            a_hi = m.Plus(hi_terms + [self.real(upper[ib])])
            a_lo = m.Plus(lo_terms + [self.real(lower[ib])])
            h_hi = self.activation(hidden.activation, a_hi, None, [])
            h_lo = self.activation(hidden.activation, a_lo, None, [])
            if hidden.activation == "relu":
                total.append(m.Times(self.real(g_hi), h_hi if g_hi >= 0 else h_lo))
            else:
                total.append(self.max_of([m.Times(self.real(g), h) for g in sorted({g_lo, g_hi}) for h in (h_lo, h_hi)]))
        return m.Plus(total)

    def max_of(self, terms: Sequence[FNode]) -> FNode:
        m = self.mgr
        best = terms[0]
        for t in terms[1:]:
            best = m.Ite(m.GE(best, t), best, t)
        return best
