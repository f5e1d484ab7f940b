"""dReal 4 through its Python API: δ-complete.  "unsat" is a proof; "δ-sat" is only a candidate to replay."""
from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import dreal  # noqa: F401  (ImportError here makes the backend unavailable, see backends.get_backend)
from pysmt import operators as op
from pysmt.fnode import FNode

from ..child import DONE, ERROR, TIMEOUT, run_in_child
from ..encoder import Definition, Encoder
from .base import Answer, Backend, Capabilities, Session, Status

DEFAULT_PRECISION = Fraction(1, 10 ** 6)


def _integer(n: int):
    """An integer as a dReal expression without rounding: float(n) is exact only up to 2^53, so larger
    integers are sums of 52-bit chunks times powers of two (each an exact double; dReal evaluates the
    sum in interval arithmetic, so the constant is enclosed, never moved)."""
    if abs(n) <= 2 ** 53:
        return dreal.Expression(float(n))
    sign, n = (-1 if n < 0 else 1), abs(n)
    out, scale = None, dreal.Expression(1.0)
    while n:
        chunk = n & (2 ** 52 - 1)
        if chunk:
            term = dreal.Expression(float(sign * chunk)) * scale
            out = term if out is None else out + term
        n >>= 52
        scale = scale * dreal.Expression(float(2 ** 52))
    return out


class _Translator:
    """pySMT terms to dReal expressions, one dReal variable per pySMT symbol."""

    def __init__(self):
        self.variables: dict[str, dreal.Variable] = {}
        self.memo: dict[FNode, object] = {}

    def variable(self, name: str):
        if name not in self.variables:
            self.variables[name] = dreal.Variable(name)
        return self.variables[name]

    def __call__(self, node: FNode):
        if node in self.memo:
            return self.memo[node]
        kind = node.node_type()
        args = [self(a) for a in node.args()]
        if kind == op.SYMBOL:
            out = self.variable(node.symbol_name())
        elif kind == op.REAL_CONSTANT:
            value = node.constant_value()
            out = _integer(value.numerator) / _integer(value.denominator) if value.denominator != 1 \
                else _integer(value.numerator)
        elif kind == op.BOOL_CONSTANT:
            out = dreal.Formula.TRUE() if node.constant_value() else dreal.Formula.FALSE()
        elif kind == op.PLUS:
            out = args[0]
            for a in args[1:]:
                out = out + a
        elif kind == op.TIMES:
            out = args[0]
            for a in args[1:]:
                out = out * a
        elif kind == op.MINUS:
            out = args[0] - args[1]
        elif kind == op.DIV:
            out = args[0] / args[1]
        elif kind == op.AND:
            out = dreal.And(*args) if len(args) > 1 else (args[0] if args else dreal.Formula.TRUE())
        elif kind == op.OR:
            out = dreal.Or(*args) if len(args) > 1 else (args[0] if args else dreal.Formula.FALSE())
        elif kind == op.NOT:
            out = dreal.Not(args[0])
        elif kind == op.IMPLIES:
            out = dreal.Or(dreal.Not(args[0]), args[1])
        elif kind == op.IFF:
            out = dreal.And(dreal.Or(dreal.Not(args[0]), args[1]), dreal.Or(dreal.Not(args[1]), args[0]))
        elif kind == op.LE:
            out = args[0] <= args[1]
        elif kind == op.LT:
            out = args[0] < args[1]
        elif kind == op.EQUALS:
            out = args[0] == args[1]
        elif kind == op.ITE:
            out = dreal.if_then_else(args[0], args[1], args[2])
        else:
            raise NotImplementedError(f"dReal translation of {op.op_to_str(kind)}")
        self.memo[node] = out
        return out

    def definition(self, d: Definition):
        arg = self(d.argument)
        value = 1 / (1 + dreal.exp(-arg)) if d.kind == "sigmoid" else dreal.tanh(arg)
        return self.variable(d.symbol.symbol_name()) == value


class DRealSession(Session):
    def __init__(self, backend: "DRealBackend", encoder: Encoder):
        super().__init__(backend, encoder)
        self.translate = _Translator()
        self.levels: list[list] = [[]]

    def _add(self, formula: FNode, definitions: Sequence[Definition]) -> None:
        self.levels[-1].append(self.translate(formula))
        for d in definitions:
            self.levels[-1].append(self.translate.definition(d))

    def push(self) -> None:
        self.levels.append([])

    def pop(self) -> None:
        self.levels.pop()

    def _check(self, timeout):
        parts = [f for level in self.levels for f in level]
        formula = dreal.And(*parts) if len(parts) > 1 else parts[0]
        if timeout is None:
            model = _solve(formula, float(self.backend.precision), self.translate.variables)
        else:
            model = _solve_with_timeout(formula, float(self.backend.precision), self.translate.variables, timeout)
            if model == "timeout":
                return Answer(Status.UNKNOWN, reason=f"dreal: timeout after {timeout:g} s")
        if model is None:
            return Answer(Status.UNSAT)
        return Answer(Status.SAT, {k: Fraction(v) for k, v in model.items()}, reason="δ-sat")


def _solve(formula, precision: float, variables: dict) -> dict | None:
    """Midpoints of dReal's δ-sat box, or None for unsat."""
    box = dreal.CheckSatisfiability(formula, precision)
    if box is None:
        return None
    return {name: box[var].mid() for name, var in variables.items()}


def _solve_with_timeout(formula, precision: float, variables: dict, timeout: float):
    """dReal's API has no timeout: solve in a forked child and stop it when time is up."""
    outcome = run_in_child(_solve, formula, precision, variables, timeout=timeout)
    if outcome.status == DONE:
        return outcome.value
    if outcome.status == TIMEOUT:
        return "timeout"
    if outcome.status == ERROR:
        raise outcome.value
    raise RuntimeError(f"dreal: {outcome.detail}")


class DRealBackend(Backend):
    """dReal's δ-complete decision procedure with precision δ (default 1e-6)."""

    name = "dreal"
    capabilities = Capabilities(exact=False, nonlinear=True, transcendental=True, optimization=False, incremental=False)

    def __init__(self, precision=None):
        self.precision = Fraction(precision) if precision is not None else DEFAULT_PRECISION

    def session(self, encoder: Encoder) -> Session:
        return DRealSession(self, encoder)

    def describe(self) -> dict:
        return {"solver": f"dreal (python) {getattr(dreal, '__version__', '4')}", "precision": f"δ = {float(self.precision):g}"}
