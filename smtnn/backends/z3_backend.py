"""Z3 through pySMT's converter: exact on rationals; sigmoid/tanh units only by their certified ranges."""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

import z3
from pysmt.fnode import FNode
from pysmt.solvers.z3 import Z3Converter

from ..encoder import Definition, Encoder
from .base import Answer, Backend, Capabilities, Session, Status, symbols_in


def _to_fraction(value) -> Fraction:
    if isinstance(value, z3.RatNumRef):
        return Fraction(value.numerator_as_long(), value.denominator_as_long())
    if isinstance(value, z3.IntNumRef):
        return Fraction(value.as_long())
    if z3.is_algebraic_value(value):
        return _to_fraction(value.approx(40))
    raise ValueError(f"unexpected model value {value}")


_memory_cap_mb: int | None = None


def limit_memory(memory_mb: int | None) -> None:
    """Cap Z3's memory in this process (Z3's global memory_max_size, MB); a check that reaches it answers unknown."""
    global _memory_cap_mb
    _memory_cap_mb = None if memory_mb is None else max(1, int(memory_mb))
    z3.set_param("memory_max_size", _memory_cap_mb or 0)


def _unknown(what: str, reason: str) -> str:
    """Z3's reason for unknown, naming the memory cap when Z3 ran out of the memory it was allowed."""
    if _memory_cap_mb is not None and "memory" in reason:
        return f"{what}: memory cap of {_memory_cap_mb} MB reached ({reason})"
    if reason in ("canceled", "timeout"):   # Z3 says "canceled" when its timeout stops it
        return f"{what}: timeout"
    return f"{what}: {reason or 'unknown'}"


def _milliseconds(timeout) -> int:
    """Z3's timeout parameter: 0 means no limit, so a positive timeout below 1 ms must not round down to it."""
    return max(1, math.ceil(1000 * timeout)) if timeout else 0


class Z3Session(Session):
    def __init__(self, backend: "Z3Backend", encoder: Encoder):
        super().__init__(backend, encoder)
        self.context = z3.Context()
        self.converter = Z3Converter(encoder.env, self.context)
        self.solver = z3.Solver(ctx=self.context)
        self._levels: list[list[FNode]] = [[]]
        self._symbols: dict[str, z3.ExprRef] = {}

    def _add(self, formula: FNode, definitions: Sequence[Definition]) -> None:
        for s in symbols_in([formula]):
            self._symbols[s.symbol_name()] = self.converter.convert(s)
        self._levels[-1].append(formula)
        self.solver.add(self.converter.convert(formula))

    def push(self) -> None:
        self._levels.append([])
        self.solver.push()

    def pop(self) -> None:
        self._levels.pop()
        self.solver.pop()

    def _model(self, model: z3.ModelRef) -> dict[str, Fraction]:
        out = {}
        for name, sym in self._symbols.items():
            out[name] = _to_fraction(model.eval(sym, model_completion=True))
        return out

    def _check(self, timeout):
        self.solver.set("timeout", _milliseconds(timeout))
        try:
            result = self.solver.check()
        except z3.Z3Exception as err:
            if "memory" not in str(err):
                raise
            return Answer(Status.UNKNOWN, reason=_unknown("z3", str(err)))
        if result == z3.sat:
            return Answer(Status.SAT, self._model(self.solver.model()))
        if result == z3.unsat:
            return Answer(Status.UNSAT)
        return Answer(Status.UNKNOWN, reason=_unknown("z3", self.solver.reason_unknown()))

    def maximize(self, objective: FNode, timeout=None) -> Answer:
        import time

        start = time.perf_counter()
        opt = z3.Optimize(ctx=self.context)
        if timeout:
            opt.set("timeout", _milliseconds(timeout))
        for level in self._levels:
            for f in level:
                opt.add(self.converter.convert(f))
        handle = opt.maximize(self.converter.convert(objective))
        try:
            result = opt.check()
        except z3.Z3Exception as err:
            if "memory" not in str(err):
                raise
            result, memory_error = None, str(err)
        self.calls += 1
        seconds = time.perf_counter() - start
        self.seconds += seconds
        if result == z3.unsat:
            return Answer(Status.UNSAT, seconds=seconds)
        if result != z3.sat:
            reason = memory_error if result is None else opt.reason_unknown()
            return Answer(Status.UNKNOWN, reason=_unknown("z3 optimize", reason), seconds=seconds)
        value = handle.value()
        if not (isinstance(value, z3.RatNumRef) or isinstance(value, z3.IntNumRef)):
            return Answer(Status.UNKNOWN, reason=f"z3 optimize returned a non-rational optimum {value}", seconds=seconds)
        return Answer(Status.SAT, self._model(opt.model()), value=_to_fraction(value), seconds=seconds)


class Z3Backend(Backend):
    """Z3's nonlinear real arithmetic (nlsat): exact answers on the rational encoding."""

    name = "z3"
    capabilities = Capabilities(exact=True, nonlinear=True, transcendental=False, optimization=True, incremental=True)
    precision = None

    def session(self, encoder: Encoder) -> Session:
        return Z3Session(self, encoder)

    def describe(self) -> dict:
        return {"solver": f"z3 {z3.get_version_string()}", "precision": "exact"}
