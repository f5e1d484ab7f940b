"""Twins results in the core family (:mod:`smtnn.result`): how a twins answer is built and read.

- A certified extreme of a linear function of both networks' logits over a box is an
  :class:`~smtnn.result.Estimate` whose ``query`` says ``sense`` (min or max) and ``engine``; its
  attained end (upper for a min, lower for a max) is the exact value of its witness, an input x
  with both networks at their own parameters.
- :func:`smtnn.twins.lrsm` gives an Estimate of the worst class's minimum of log-RSM, whose
  ``details`` are every computed extreme (per class pair cj, end and engine; see :func:`detail`).
- :func:`smtnn.twins.decisions` gives a :class:`~smtnn.result.VerificationResult`; a counterexample
  witness carries the classes N1 and N2 pick (``Witness.classes``).
- :func:`smtnn.twins.epsilon_equivalence` gives the Estimate of max |z1 - z2|_inf, or with ε a
  VerificationResult whose ``details`` hold that Estimate.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import mpmath

from ..exact import Enclosure
from ..result import Estimate, Provenance, Verdict, VerificationResult, Witness


def exp_enclosure(q: Fraction) -> tuple[Fraction, Fraction]:
    """Certified enclosure of exp(q) (mpmath interval arithmetic, 120 bits)."""
    iv = mpmath.iv
    e = Enclosure.of_mpi(iv.exp(iv.mpf(q.numerator) / q.denominator))
    return e.lo, e.hi


def rsm(estimate: Estimate) -> tuple[Fraction, Fraction]:
    """Certified [exp(lower), exp(upper)]: the RSM itself when the estimate is of a log-RSM."""
    return exp_enclosure(estimate.lower)[0], exp_enclosure(estimate.upper)[1]


def attained(estimate: Estimate) -> Fraction:
    """The end of a twins extreme that its witness attains (the upper end of a min, the lower end of a max)."""
    return estimate.upper if estimate.query.get("sense") == "min" else estimate.lower


def input_witness(x: Sequence[Fraction], value: Fraction | None = None, meaning: str = "",
                  classes: tuple[int, int] | None = None) -> Witness:
    """A twins witness: the exact input x, both networks at their own parameters."""
    return Witness({}, tuple(x), value, value, meaning, classes)


def extreme(quantity: str, sense: str, lower, upper, x, *, engine: str, solver: str, method: str, seconds: float,
            reason: str = "", stats: dict | None = None, complete: bool = True, tolerance=0) -> Estimate:
    """A certified extreme as an Estimate whose gap may be ``tolerance``; ``complete`` False (a relaxation
    bound) asks no tolerance of its gap."""
    stats = dict(stats or {})
    calls = int(stats.get("lp_calls", stats.get("solver_calls", 0)) or 0)
    value = upper if sense == "min" else lower
    witness = None if x is None else input_witness(x, value, quantity)
    return Estimate(quantity, lower, upper, Fraction(tolerance) if complete else None,
                    Provenance(solver, "exact", method, seconds, calls, stats), witness, reason,
                    {"sense": sense, "engine": engine})


def detail(result: Estimate, *, cj: int | None = None, sense: str = "min", engine: str | None = None) -> Estimate | None:
    """The extreme among an LRSM result's details for class cj (default: the worst), end and engine (default: the result's)."""
    cj = result.query["worst_cj"] if cj is None else cj
    engine = engine or result.query["engine"]
    return next((d for d in result.details
                 if d.query.get("cj") == cj and d.query["sense"] == sense and d.query["engine"] == engine), None)


def by_pair(result: Estimate) -> dict[int, dict[str, dict[str, Estimate]]]:
    """An LRSM result's details as {cj: {"min": {engine: Estimate}, "max": {engine: Estimate}}}."""
    out: dict[int, dict[str, dict[str, Estimate]]] = {}
    for d in result.details:
        out.setdefault(d.query["cj"], {"min": {}, "max": {}})[d.query["sense"]][d.query["engine"]] = d
    return out


def decision_result(verdict: Verdict, *, solver: str, method: str, seconds: float, witness: Sequence[Fraction] | None = None,
                    classes: tuple[int, int] | None = None, reason: str = "", stats: dict | None = None,
                    query: dict | None = None, calls: int = 0) -> VerificationResult:
    """Decision preservation as a VerificationResult; a counterexample names the classes N1 and N2 pick at it."""
    wit = None if witness is None else input_witness(witness, meaning="N1 and N2 pick different classes", classes=classes)
    return VerificationResult("decisions", verdict, Provenance(solver, "exact", method, seconds, calls, dict(stats or {})),
                              wit, reason, dict(query or {}))
