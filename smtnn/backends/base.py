"""What every solver backend does: check a query, return SAT/UNSAT/UNKNOWN with a model and timing.

A backend declares what it can do (:class:`Capabilities`); callers ask for a capability, never
for a name.  :class:`Session` fixes the steps (records calls and seconds, relaxes transcendental
definitions for backends without exp) and a backend fills in the hooks ``_add``, ``_check``,
``push`` and ``pop``.
"""
from __future__ import annotations

import enum
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

from pysmt.environment import Environment
from pysmt.fnode import FNode

from ..encoder import Definition, Encoder
from ..errors import UnsupportedQueryError


class Status(enum.Enum):
    SAT = "sat"
    UNSAT = "unsat"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Capabilities:
    """What a backend can decide.

    exact: SAT/UNSAT are exact (False: δ-complete, SAT is only a δ-sat candidate to replay);
    nonlinear: products of variables (the parametric encoding's bilinear terms);
    transcendental: exp (sigmoid/tanh units stay inside the formula instead of being relaxed);
    optimization: an exact optimum of a linear objective (``Session.maximize``, or a branch and bound);
    incremental: push/pop without re-solving from scratch;
    formulas: decides pySMT formulas through a :class:`Session` (the SMT solvers);
    linear_relaxation: certified LP bounds of linear functions of piecewise-linear networks over a box
    and exact optima by branch and bound on their phases (the LP backend; :mod:`.lp_backend`).
    """

    exact: bool
    nonlinear: bool
    transcendental: bool
    optimization: bool
    incremental: bool
    formulas: bool = True
    linear_relaxation: bool = False

    def missing(self, **wanted: bool) -> list[str]:
        """The names of the wanted capabilities this backend lacks."""
        unknown = [name for name in wanted if not hasattr(self, name)]
        if unknown:
            raise ValueError(f"unknown capabilities {unknown}")
        return [name for name, want in wanted.items() if want and not getattr(self, name)]


@dataclass
class Answer:
    """One solver call: its status, a model (symbol name -> rational) when SAT, why when UNKNOWN."""

    status: Status
    model: dict[str, Fraction] = field(default_factory=dict)
    reason: str = ""
    seconds: float = 0.0
    value: Fraction | None = None


@dataclass
class Terms:
    """A pySMT environment for formulas built outside an Encoder (SMT-LIB files, LP leaves)."""

    env: Environment

    @property
    def mgr(self):
        return self.env.formula_manager


def symbols_in(formulas: Sequence[FNode]) -> list[FNode]:
    """The free symbols of formulas, each shared subterm visited once.

    pySMT's ``get_free_variables`` memoises a set per subterm, which grows as (terms × symbols): gigabytes
    on a network whose every parameter is a symbol.
    """
    seen, symbols, stack = set(), [], list(formulas)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.is_symbol():
            symbols.append(node)
        else:
            stack.extend(node.args())
    return symbols


class Session(ABC):
    """An incremental solver: assertions added at a level are dropped by the matching pop."""

    def __init__(self, backend: "Backend", encoder: Encoder | Terms):
        self.backend, self.encoder = backend, encoder
        self.calls = 0
        self.seconds = 0.0

    def add(self, formula: FNode, definitions: Sequence[Definition] = ()) -> None:
        """Assert formula; transcendental definitions are kept exactly or, without exp, relaxed to their certified ranges."""
        if definitions and not self.backend.capabilities.transcendental:
            formula = self.encoder.mgr.And(formula, self.encoder.definition_bounds(definitions, None))
            definitions = ()
        self._add(formula, definitions)

    @abstractmethod
    def _add(self, formula: FNode, definitions: Sequence[Definition]) -> None: ...

    @abstractmethod
    def push(self) -> None: ...

    @abstractmethod
    def pop(self) -> None: ...

    def check(self, timeout: float | None = None) -> Answer:
        """Run the solver on the current assertions; record calls and seconds."""
        start = time.perf_counter()
        answer = self._check(timeout)
        answer.seconds = time.perf_counter() - start
        self.calls += 1
        self.seconds += answer.seconds
        return answer

    @abstractmethod
    def _check(self, timeout: float | None) -> Answer: ...

    def maximize(self, objective: FNode, timeout: float | None = None) -> Answer:
        """Exact optimum of a linear objective when the backend supports it (value in Answer.value)."""
        return Answer(Status.UNKNOWN, reason=f"{self.backend.name} has no exact optimizer")


class Backend(ABC):
    """A solver: its name, its capabilities, its precision (δ-complete backends), and sessions."""

    name: str = ""
    capabilities: Capabilities
    precision: Fraction | None = None

    @property
    def exact(self) -> bool:
        return self.capabilities.exact

    @abstractmethod
    def session(self, encoder: Encoder) -> Session: ...

    def require(self, what: str, **wanted: bool) -> None:
        """Refuse `what` with one line if this backend lacks a wanted capability."""
        missing = self.capabilities.missing(**wanted)
        if missing:
            advice = "use --solver dreal" if "transcendental" in missing else "choose another --solver"
            raise UnsupportedQueryError(f"{self.name} cannot decide {what}: it has no {' or '.join(missing)} "
                                        f"capability; {advice}")

    def describe(self) -> dict:
        return {"solver": self.name, "precision": "exact" if self.precision is None else f"δ = {float(self.precision):g}"}
