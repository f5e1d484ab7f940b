"""SMT-LIB 2 scripts that declare a logic their contents belong to and that dReal, z3 and cvc5 read whole.

- Without exp: ``(set-logic QF_NRA)``, standard SMT-LIB (z3, cvc5 and dReal read it).
- With exp (sigmoid/tanh inside the formula): ``(set-logic ALL)``.  No standard logic has exp; it
  is dReal's dialect (dReal 4 accepts ``ALL`` and ``exp``), and z3 reads ``exp`` under ``ALL``
  (under ``QF_NRA`` it prints an error and goes on with the remaining assertions).  tanh is
  written through exp (tanh a = 2/(1 + exp(-2a)) - 1, an identity), since z3 has no ``tanh``.
- Integers beyond 2^53 are written as decimals ``N.0``: dReal 4 stops on such an integer
  ("Fail to convert a int64_t value to double"), while it encloses a decimal in an interval
  (sound); for z3 and cvc5 the decimal is the same exact rational.
"""
from __future__ import annotations

import io
import re
from typing import Sequence

from pysmt.fnode import FNode
from pysmt.smtlib.printers import SmtPrinter

from ..encoder import Definition
from .base import symbols_in

EXACT_INTEGER_LIMIT = 2 ** 53
LOGIC_WITHOUT_EXP = "QF_NRA"
LOGIC_WITH_EXP = "ALL"
DIALECT_WITHOUT_EXP = "; dialect: QF_NRA (standard SMT-LIB 2: exact polynomial real arithmetic; z3, cvc5, dReal)"
DIALECT_WITH_EXP = ("; dialect: dReal (real arithmetic with exp; logic ALL, which dReal 4 and z3 read whole; "
                    "solvers without exp such as cvc5 refuse it)")
_NUMERAL = re.compile(r"(?<![\w.])(\d{16,})(?![\w.])")


def _safe_numerals(text: str) -> str:
    return _NUMERAL.sub(lambda m: m.group(1) + ".0" if int(m.group(1)) > EXACT_INTEGER_LIMIT else m.group(1), text)


def term(node: FNode) -> str:
    """One pySMT term as SMT-LIB text (large integers as decimals, see the module docstring)."""
    buf = io.StringIO()
    SmtPrinter(buf).printer(node)
    return _safe_numerals(buf.getvalue())


def sigmoid_text(argument: str) -> str:
    return f"(/ 1 (+ 1 (exp (- {argument}))))"


def tanh_text(argument: str) -> str:
    return f"(- (/ 2 (+ 1 (exp (* (- 2) {argument})))) 1)"


def definition_text(d: Definition) -> str:
    arg = term(d.argument)
    body = sigmoid_text(arg) if d.kind == "sigmoid" else tanh_text(arg)
    return f"(assert (= {d.symbol.symbol_name()} {body}))"


def script(formulas: Sequence[FNode], definitions: Sequence[Definition] = (), *, comments: Sequence[str] = (),
           extra_assertions: Sequence[str] = (), uses_exp: bool | None = None) -> str:
    """A whole SMT-LIB 2 script: header comments, logic, declarations, assertions, (check-sat), (exit).

    `extra_assertions` are complete ``(assert ...)`` lines written by the caller (they may use exp;
    say so with `uses_exp`).
    """
    needs_exp = bool(definitions) if uses_exp is None else uses_exp or bool(definitions)
    lines = [f"; {c}" for c in comments]
    lines.append(DIALECT_WITH_EXP if needs_exp else DIALECT_WITHOUT_EXP)
    lines.append(f"(set-logic {LOGIC_WITH_EXP if needs_exp else LOGIC_WITHOUT_EXP})")
    names = {s.symbol_name() for s in symbols_in(list(formulas) + [d.argument for d in definitions])}
    names |= {d.symbol.symbol_name() for d in definitions}
    lines += [f"(declare-fun {n} () Real)" for n in sorted(names)]
    lines += [definition_text(d) for d in definitions]
    lines += [f"(assert {term(f)})" for f in formulas]
    lines += [_safe_numerals(a) for a in extra_assertions]
    lines += ["(check-sat)", "(exit)"]
    return "\n".join(lines) + "\n"


def uses_exp(text: str) -> bool:
    """Whether an SMT-LIB text applies exp or tanh (comments ignored)."""
    body = "\n".join(line.split(";", 1)[0] for line in text.splitlines())
    return re.search(r"\((exp|tanh)\s", body) is not None


def solve_script(backend, text: str, timeout: float | None = None):
    """Check an SMT-LIB script's assertions with a backend; an Answer (models keyed by symbol name).

    A script with exp is refused by a backend without transcendental functions (one line); the
    dReal executable reads the text itself, every other backend through pySMT's parser (which has
    no exp, so dReal's Python module is given only scripts without it).
    """
    if uses_exp(text):
        backend.require("a query with exp", transcendental=True)
    solve_text = getattr(backend, "solve_text", None)
    if solve_text is not None:
        return solve_text(text, timeout)
    if uses_exp(text):
        from ..errors import UnsupportedQueryError

        raise UnsupportedQueryError(f"{backend.describe()['solver']} cannot read a script with exp (pySMT's parser has "
                                    "no exp); give dReal's program with --dreal-path or SMTNN_DREAL")
    from pysmt.environment import Environment
    from pysmt.smtlib.parser import SmtLibParser

    from .base import Terms

    env = Environment()
    parsed = SmtLibParser(env).get_script(io.StringIO(text))
    session = backend.session(Terms(env))
    session.add(parsed.get_last_formula())
    return session.check(timeout)
