"""SMT-LIB 2 export of the paper's negated queries (Eqs. 6-10) in the parametric encoding.

QF_NRA where no exp is needed; dReal's dialect (``exp`` terms, logic ALL, which z3 also reads
whole) where a sigmoid or tanh must stay inside the formula (see :mod:`smtnn.backends.smtlib`).
A sigmoid *output* is compared through its logit: the exported constraint on z is a rational
relaxation of the exact one (at most 1e-30 wider), so UNSAT of the file proves the property; a
model is only a candidate to replay.
"""
from __future__ import annotations

import os
import tempfile
from fractions import Fraction

from .backends import smtlib
from .domain import Box
from .encoder import Encoder, Query
from .errors import InvalidInputError
from .exact import logit_bracket, sigmoid_enclosure, to_fraction
from .bounds import replay_logits
from .network import Network
from .perturbation import Perturbation

PROPERTIES = ("local-epsilon", "global-epsilon", "local-label", "global-label", "global-sigma")


def negated_query(prop: str, network: Network, perturbation: Perturbation, *, x0=None, domain: Box | None = None,
                  epsilon=None, sigma=None) -> Query:
    """The formula whose UNSAT proves `prop` (one of PROPERTIES); binary networks."""
    if prop not in PROPERTIES:
        raise InvalidInputError(f"unknown property '{prop}'; choose one of {', '.join(PROPERTIES)}")
    if not network.binary:
        raise InvalidInputError("SMT-LIB export covers binary (sigmoid-output) networks; multi-class queries run through the Python API")
    enc = Encoder(network, perturbation)
    m = enc.mgr
    symbols = enc.parameter_symbols()
    defs = []
    local = prop.startswith("local")
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
    t = logit_bracket(network.threshold)
    meta = {"network": network.name, "property": prop, "perturbation": perturbation.description}
    if domain is not None:
        meta["domain"] = domain.as_json()
    if local:
        meta["x0"] = [str(v) for v in x]
    extra = []
    if prop.endswith("epsilon"):
        if epsilon is None:
            raise InvalidInputError(f"{prop} needs ε")
        eps = to_fraction(epsilon)
        meta["epsilon"] = str(eps)
        if local:   # |σ(zp) - σ(z0)| > ε  ⟺  zp > logit(σ(z0) + ε) or zp < logit(σ(z0) - ε); relaxed outward
            f0 = sigmoid_enclosure(z0_value)
            options = []
            if f0.hi + eps < 1:
                options.append(m.GT(zp, enc.real(logit_bracket(f0.lo + eps).lo if f0.lo + eps < 1 else t.lo)))
            if f0.lo - eps > 0:
                options.append(m.LT(zp, enc.real(logit_bracket(f0.hi - eps).hi)))
            parts.append(m.Or(options) if options else m.FALSE())
        else:
            extra.append(("abs-sigmoid-difference", zp, z0, eps))
    else:
        down = m.And(m.GE(z0, enc.real(t.lo)), m.LT(zp, enc.real(t.hi)))
        up = m.And(m.LT(z0, enc.real(t.hi)), m.GE(zp, enc.real(t.lo)))
        if prop == "global-sigma":
            if sigma is None:
                raise InvalidInputError("global-sigma needs σ")
            s = to_fraction(sigma)
            meta["sigma"] = str(s)
            l = network.threshold
            down = m.And(down, m.GE(z0, enc.real(logit_bracket(l + s).lo))) if l + s < 1 else m.FALSE()
            up = m.And(up, m.LE(z0, enc.real(logit_bracket(l - s).hi))) if l - s > 0 else m.FALSE()
        parts.append(m.Or(down, up))
    query = Query(enc, m.And(parts), defs, input_symbols, symbols, meta)
    query.meta["_extra"] = extra
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


def write_atomically(path, text: str) -> None:
    """Write text to path through a temporary file, so a failure leaves nothing half-written."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise InvalidInputError(f"cannot write {path}: it is a directory; give a file name")
    if not os.path.isdir(directory):
        raise InvalidInputError(f"cannot write {path}: no such directory {directory} (create it first)")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".smtnn-", suffix=".tmp")
    except OSError as err:
        raise InvalidInputError(f"cannot write in {directory}: {err.strerror or err}; check its permissions") from None
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise InvalidInputError(f"cannot write {path}: {err.strerror or err}") from None
        raise
