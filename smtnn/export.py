"""SMT-LIB 2 export of the paper's negated queries (Eqs. 6-10) in the parametric encoding.

QF_NRA where no exp is needed; dReal's dialect (``exp`` terms, logic ALL, which z3 also reads
whole) where a sigmoid or tanh must stay inside the formula (see :mod:`smtnn.backends.smtlib`).
A sigmoid *output* is compared through its logit: the exported constraint on z is a rational
relaxation of the exact one (at most 1e-30 wider), so UNSAT of the file proves the property; a
model is only a candidate to replay.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from pysmt.fnode import FNode

from .backends import smtlib
from .domain import Box
from .encoder import Encoder, Query
from .errors import InvalidInputError
from .exact import logit_bracket, sigmoid_enclosure, to_fraction
from .bounds import replay_logits
from .network import Network
from .perturbation import Perturbation
from .outputs import output_target, write_atomically  # noqa: F401  (every output file is written there)
from .properties import binary_flip, sigma_levels
from .specs import PROPERTIES


@dataclass
class _Negation:
    """What the negation builders of one query share: the encoder, the nominal and perturbed logits, the metadata."""

    encoder: Encoder
    network: Network
    local: bool
    z0: FNode
    zp: FNode
    z0_value: Fraction | None
    meta: dict
    parts: list
    extra: list


def _negate_local_epsilon(q: _Negation, epsilon, sigma) -> None:
    """Eq. 6: |σ(zp) - σ(z0)| > ε  ⟺  zp > logit(σ(z0) + ε) or zp < logit(σ(z0) - ε); relaxed outward."""
    m, enc = q.encoder.mgr, q.encoder
    eps = _level(q, "epsilon", epsilon)
    t = logit_bracket(q.network.threshold)
    f0 = sigmoid_enclosure(q.z0_value)
    options = []
    if f0.hi + eps < 1:
        options.append(m.GT(q.zp, enc.real(logit_bracket(f0.lo + eps).lo if f0.lo + eps < 1 else t.lo)))
    if f0.lo - eps > 0:
        options.append(m.LT(q.zp, enc.real(logit_bracket(f0.hi - eps).hi)))
    q.parts.append(m.Or(options) if options else m.FALSE())


def _negate_global_epsilon(q: _Negation, epsilon, sigma) -> None:
    """Eq. 7: |σ(zp(x)) - σ(z0(x))| > ε, written with exp (dReal's dialect)."""
    q.extra.append(("abs-sigmoid-difference", q.zp, q.z0, _level(q, "epsilon", epsilon)))


def _negate_label(q: _Negation, epsilon, sigma) -> None:
    """Eqs. 8-10: the label flips (Eq. 10: and the nominal confidence is at least σ from the level)."""
    levels = None
    if q.meta["property"] == "global-sigma":
        levels = sigma_levels(q.network.threshold, _level(q, "sigma", sigma))
    m = q.encoder.mgr
    q.parts.append(binary_flip(m, q.encoder.real, q.z0, q.zp, q.zp, q.network.threshold, levels))


NEGATIONS = {"local_epsilon": _negate_local_epsilon, "global_epsilon": _negate_global_epsilon, "label": _negate_label}


def _level(q: _Negation, name: str, value) -> Fraction:
    if value is None:
        raise InvalidInputError(f"{q.meta['property']} needs {'ε' if name == 'epsilon' else 'σ'}")
    level = to_fraction(value)
    q.meta[name] = str(level)
    return level


def negated_query(prop: str, network: Network, perturbation: Perturbation, *, x0=None, domain: Box | None = None,
                  epsilon=None, sigma=None) -> Query:
    """The formula whose UNSAT proves `prop` (a name of :data:`smtnn.specs.PROPERTIES`); binary networks."""
    if prop not in PROPERTIES:
        raise InvalidInputError(f"unknown property '{prop}'; choose one of {', '.join(PROPERTIES)}")
    spec = PROPERTIES[prop]
    if not network.binary:
        raise InvalidInputError("SMT-LIB export covers binary (sigmoid-output) networks; multi-class queries run through the Python API")
    enc = Encoder(network, perturbation)
    m = enc.mgr
    symbols = enc.parameter_symbols()
    defs = []
    local = spec.scope == "local"
    z0_value = None
    if local:
        if x0 is None:
            raise InvalidInputError(f"{prop} needs an input x0")
        x = network.check_input(x0)
        if domain is not None:
            domain.check_point(x)
        inputs = [enc.real(v) for v in x]
        box = Box(tuple(x), tuple(x))
        z0_value = replay_logits(network, x, perturbation.nominal)[0].lo
        z0 = enc.real(z0_value)
        input_symbols = []
    else:
        if domain is None:
            raise InvalidInputError(f"{prop} needs a domain")
        domain.check_for(network.n_inputs)
        input_symbols = enc.input_symbols()
        inputs, box = input_symbols, domain
        z0 = enc.logits(inputs, enc.parameter_terms(), box, defs, nominal=True)[0]
    zp = enc.logits(inputs, enc.parameter_terms(symbols), box, defs)[0]
    parts = [enc.parameter_box(symbols)]
    if not local:
        parts.append(enc.within(input_symbols, domain.lower, domain.upper))
    meta = {"network": network.name, "property": prop, "perturbation": perturbation.description}
    if domain is not None:
        meta["domain"] = domain.as_json()
    if local:
        meta["x0"] = [str(v) for v in x]
    negation = _Negation(enc, network, local, z0, zp, z0_value, meta, parts, [])
    NEGATIONS[spec.negation](negation, epsilon, sigma)
    query = Query(enc, m.And(parts), defs, input_symbols, symbols, meta)
    query.meta["_extra"] = negation.extra
    return query


def to_smtlib(query: Query) -> str:
    """SMT-LIB 2 text of a query: QF_NRA, or dReal's dialect (logic ALL) when it needs exp."""
    extra = query.meta.get("_extra", [])
    comments = [f"smtnn query: {k} = {v}" for k, v in query.meta.items() if not k.startswith("_")]
    assertions = []
    for _, zp, z0, eps in extra:
        diff = f"(- {smtlib.sigmoid_text(smtlib.term(zp))} {smtlib.sigmoid_text(smtlib.term(z0))})"
        eps_text = f"(/ {eps.numerator} {eps.denominator})"
        assertions.append(f"(assert (or (> {diff} {eps_text}) (< {diff} (- {eps_text}))))")
    return smtlib.script([query.formula], query.definitions, comments=comments, extra_assertions=assertions,
                         uses_exp=bool(extra))

