"""cvc5 through pySMT's converter: exact on rationals (QF_NRA by cylindrical algebraic coverings).

cvc5 has no exact exp here, so sigmoid/tanh units are seen only through their certified ranges
(a relaxation, as for Z3): UNSAT proves the property, a model is a candidate that is replayed.
It has no exact optimizer, so optima come from bisection.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

import cvc5
from pysmt.fnode import FNode
from pysmt.solvers.cvcfive import CVC5Converter

from ..encoder import Definition, Encoder
from .base import Answer, Backend, Capabilities, Session, Status, symbols_in


def _to_fraction(term) -> Fraction | None:
    """A model value as a rational; None for an irrational algebraic number (the replay then uses the box)."""
    if term.isRealValue():
        return Fraction(term.getRealValue())
    if term.isIntegerValue():
        return Fraction(term.getIntegerValue())
    return None


class CVC5Session(Session):
    def __init__(self, backend: "CVC5Backend", encoder: Encoder):
        super().__init__(backend, encoder)
        self.solver = cvc5.Solver()
        for option, value in (("produce-models", "true"), ("incremental", "true"), ("nl-cov", "true")):
            self.solver.setOption(option, value)
        self.solver.setLogic("QF_NRA")
        self.converter = CVC5Converter(encoder.env, self.solver)
        self._symbols: dict[str, object] = {}

    def _add(self, formula: FNode, definitions: Sequence[Definition]) -> None:
        for s in symbols_in([formula]):
            self._symbols[s.symbol_name()] = self.converter.convert(s)
        self.solver.assertFormula(self.converter.convert(formula))

    def push(self) -> None:
        self.solver.push()

    def pop(self) -> None:
        self.solver.pop()

    def _check(self, timeout):
        # cvc5's per-check limit; 0 means none, so a positive timeout must not round down to it
        self.solver.setOption("tlimit-per", str(max(1, math.ceil(1000 * timeout)) if timeout else 0))
        result = self.solver.checkSat()
        if result.isSat():
            model = {}
            for name, term in self._symbols.items():
                value = _to_fraction(self.solver.getValue(term))
                if value is not None:
                    model[name] = value
            return Answer(Status.SAT, model)
        if result.isUnsat():
            return Answer(Status.UNSAT)
        why = str(result.getUnknownExplanation())
        return Answer(Status.UNKNOWN, reason="cvc5: timeout" if "TIMEOUT" in why else f"cvc5: {why.lower() or 'unknown'}")


def _version() -> str:
    version = cvc5.Solver().getVersion()
    return version.decode() if isinstance(version, bytes) else str(version)


class CVC5Backend(Backend):
    """cvc5's nonlinear real arithmetic: exact answers on the rational encoding; no exp, no optimizer."""

    name = "cvc5"
    capabilities = Capabilities(exact=True, nonlinear=True, transcendental=False, optimization=False, incremental=True)
    precision = None

    def session(self, encoder: Encoder) -> Session:
        return CVC5Session(self, encoder)

    def describe(self) -> dict:
        return {"solver": f"cvc5 {_version()}", "precision": "exact"}
