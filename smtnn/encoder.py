"""Networks as pySMT terms: the paper's encoding and the parameter-eliminated one.

:class:`Encoder` owns one pySMT :class:`~pysmt.environment.Environment` and builds, in it,
- the **parametric** logits z(x, p): free parameters are real variables, so a perturbed
  weight times an activation is a bilinear term (the paper's encoding, Eqs. 6-13);
- the **eliminated** extremes max/min_p c·z(x, p) as piecewise-linear terms in x alone, valid
  when the perturbation decouples (see :mod:`smtnn.bounds`): each hidden neuron's range is
  [act(A_lo(x)), act(A_hi(x))] and each bilinear term is maximized at a corner.
Both are walks in :mod:`smtnn.semantics`: the logits in the term domain
(:class:`~smtnn.semantics.terms.TermDomain`), the eliminated extreme by the corner derivation
(:mod:`smtnn.semantics.corners`) that :func:`smtnn.bounds.extreme_at` evaluates in numbers.
ReLU and leaky ReLU become if-then-else unless interval bounds fix their phase.  Sigmoid and
tanh hidden units become fresh variables with a :class:`Definition`; the dReal backend and the
dReal export use the definitions, Z3 sees only their certified interval bounds (a relaxation).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

from pysmt.environment import Environment
from pysmt.fnode import FNode
from pysmt.typing import REAL

from .bounds import propagate
from .domain import Box
from .exact import Enclosure
from .network import Network
from .perturbation import Perturbation
from .semantics import walk
from .semantics.corners import CornerTerms, corner_extreme
from .semantics.enclosures import EnclosureDomain
from .semantics.terms import Definition, TermDomain  # noqa: F401  (Definition: part of the encoder's vocabulary)


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

    # -- the paper's encoding ----------------------------------------------------------
    def logits(self, inputs: Sequence[FNode], params: Sequence[FNode], input_box: Box | None,
               definitions: list[Definition], nominal: bool = False) -> list[FNode]:
        """Logit terms of the network at symbolic inputs and parameters.

        ``input_box`` (with the perturbation box, or the nominal point when ``nominal``) bounds
        every pre-activation, fixing ReLU phases and bounding transcendental units.
        """
        pert = self.perturbation
        lower, upper = (pert.nominal, pert.nominal) if nominal else (pert.lower, pert.upper)
        pre_bounds = None
        if input_box is not None:
            boxes = [Enclosure(lo, hi) for lo, hi in zip(input_box.lower, input_box.upper)]
            pre_bounds = propagate(self.network, boxes, list(lower), list(upper))
        return walk(self.network, TermDomain(self, params, pre_bounds, definitions), list(inputs))

    def definition_bounds(self, definitions: Sequence[Definition], box: Box | None) -> FNode:
        """Certified range constraints of transcendental units: monotone images of their arguments' bounds."""
        m = self.mgr
        parts = [m.And(m.GT(d.symbol, self.real(-1 if d.kind == "tanh" else 0)), m.LT(d.symbol, self.real(1))) for d in definitions]
        return m.And(parts)

    # -- the eliminated encoding -------------------------------------------------------
    def eliminated_extreme(self, inputs: Sequence[FNode], coeffs: Sequence[int], input_box: Box) -> FNode:
        """max over the parameter box of c·z(x, p) as a piecewise-linear term in x (requires decoupling, PWL).

        The derivation is :func:`smtnn.semantics.corners.corner_extreme`, the one
        :func:`smtnn.bounds.extreme_at` evaluates at a single input.
        """
        net, nominal = self.network, self.perturbation.nominal
        boxes = [Enclosure(lo, hi) for lo, hi in zip(input_box.lower, input_box.upper)]
        split = max(len(net.layers) - 2, 0)
        hidden, signs = list(inputs), boxes
        if split:
            pre_nom: list = []
            signs = walk(net, EnclosureDomain(net, nominal, nominal), boxes, stop=split, record=pre_nom)
            nominal_terms = [self.real(p) for p in nominal]
            hidden = walk(net, TermDomain(self, nominal_terms, pre_nom, []), list(inputs), stop=split)
        return corner_extreme(CornerTerms(self, TermDomain(self)), net, self.perturbation, coeffs, hidden, signs)
