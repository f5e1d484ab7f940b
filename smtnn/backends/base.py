"""What every solver backend does: check a query, return SAT/UNSAT/UNKNOWN with a model and timing."""
from __future__ import annotations

import enum
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

from pysmt.fnode import FNode

from ..encoder import Definition, Encoder


class Status(enum.Enum):
    SAT = "sat"
    UNSAT = "unsat"
    UNKNOWN = "unknown"


@dataclass
class Answer:
    """One solver call: its status, a model (symbol name -> rational) when SAT, why when UNKNOWN."""

    status: Status
    model: dict[str, Fraction] = field(default_factory=dict)
    reason: str = ""
    seconds: float = 0.0
    value: Fraction | None = None


class Session(ABC):
    """An incremental solver: assertions added at a level are dropped by the matching pop."""

    def __init__(self, backend: "Backend", encoder: Encoder):
        self.backend, self.encoder = backend, encoder
        self.calls = 0
        self.seconds = 0.0

    @abstractmethod
    def add(self, formula: FNode, definitions: Sequence[Definition] = ()) -> None: ...

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
    """A solver: its name, whether its SAT answers are exact, its precision, and sessions."""

    name: str = ""
    exact: bool = True
    precision: Fraction | None = None

    @abstractmethod
    def session(self, encoder: Encoder) -> Session: ...

    def describe(self) -> dict:
        return {"solver": self.name, "precision": None if self.precision is None else float(self.precision)}
