"""Results of twin analyses: certified extremes, LRSM reports, decision and ε-equivalence verdicts."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import mpmath

from ..exact import Enclosure
from ..result import Verdict

ENGINES = ("exact", "z3", "relaxation")


def _floats(x) -> list[float] | None:
    return None if x is None else [float(v) for v in x]


@dataclass(frozen=True)
class Extreme:
    """A certified interval [lower, upper] for the min or max of a quantity over a box.

    The attained end (upper for a min, lower for a max) is the exact value of `witness`,
    replayed in rationals; the other end is proven (LP dual certificate, exact optimum).
    """

    quantity: str
    sense: str
    lower: Fraction
    upper: Fraction
    witness: tuple[Fraction, ...] | None
    engine: str
    method: str
    seconds: float
    reason: str = ""
    stats: dict = field(default_factory=dict)

    @property
    def gap(self) -> Fraction:
        return self.upper - self.lower

    @property
    def exact(self) -> bool:
        return self.gap == 0

    @property
    def attained(self) -> Fraction:
        return self.upper if self.sense == "min" else self.lower

    def exp(self) -> tuple[Fraction, Fraction]:
        """Certified [exp(lower), exp(upper)] (the RSM itself when the quantity is a log-RSM)."""
        return exp_enclosure(self.lower)[0], exp_enclosure(self.upper)[1]

    def as_json(self) -> dict:
        return {"quantity": self.quantity, "sense": self.sense, "bounds": [float(self.lower), float(self.upper)],
                "bounds_exact": [str(self.lower), str(self.upper)], "gap": float(self.gap), "exact": self.exact,
                "witness": _floats(self.witness), "witness_exact": None if self.witness is None else [str(v) for v in self.witness],
                "engine": self.engine, "method": self.method, "seconds": round(self.seconds, 6), "reason": self.reason,
                "stats": self.stats}


def exp_enclosure(q: Fraction) -> tuple[Fraction, Fraction]:
    """Certified enclosure of exp(q) (mpmath interval arithmetic, 120 bits)."""
    iv = mpmath.iv
    e = Enclosure.of_mpi(iv.exp(iv.mpf(q.numerator) / q.denominator))
    return e.lo, e.hi


@dataclass(frozen=True)
class PairReport:
    """log-RSM for one class pair: its min and max per engine (None when not computed)."""

    ci: int
    cj: int
    minimum: dict[str, Extreme]
    maximum: dict[str, Extreme]
    note: str = ""

    def as_json(self) -> dict:
        out = {"ci": self.ci, "cj": self.cj, "note": self.note,
               "min": {k: v.as_json() for k, v in self.minimum.items()},
               "max": {k: v.as_json() for k, v in self.maximum.items()}}
        for end, table in (("min", self.minimum), ("max", self.maximum)):
            for k, v in table.items():
                lo, hi = v.exp()
                out[end][k]["rsm"] = [float(lo), float(hi)]
        return out


@dataclass(frozen=True)
class LRSMReport:
    """Local relative safety margins of N1 with respect to N2 over a box (log-RSM and RSM)."""

    first: str
    second: str
    box: dict
    ci: int
    pairs: tuple[PairReport, ...]
    worst: PairReport
    engine: str
    seconds: float
    relaxation_seconds: float

    def worst_min(self, engine: str | None = None) -> Extreme:
        return self.worst.minimum[engine or self.engine]

    def as_json(self) -> dict:
        return {"kind": "lrsm", "N1": self.first, "N2": self.second, "box": self.box, "ci": self.ci,
                "worst_cj": self.worst.cj, "engine": self.engine, "worst": self.worst.as_json(),
                "pairs": [p.as_json() for p in self.pairs], "seconds": round(self.seconds, 6),
                "relaxation_seconds": round(self.relaxation_seconds, 6)}


@dataclass(frozen=True)
class DecisionReport:
    """Whether N2 decides like N1 on every input of the box; a replayed counterexample when not."""

    verdict: Verdict
    engine: str
    seconds: float
    witness: tuple[Fraction, ...] | None = None
    classes: tuple[int, int] | None = None
    reason: str = ""
    stats: dict = field(default_factory=dict)
    decision: str = "argmax"   # the networks' rule (lowest index on ties)

    def as_json(self) -> dict:
        return {"kind": "decisions", "verdict": self.verdict.value, "engine": self.engine, "decision": self.decision,
                "witness": _floats(self.witness), "witness_exact": None if self.witness is None else [str(v) for v in self.witness],
                "classes": None if self.classes is None else {"N1": self.classes[0], "N2": self.classes[1]},
                "reason": self.reason, "seconds": round(self.seconds, 6), "stats": self.stats}


@dataclass(frozen=True)
class EpsilonReport:
    """max over the box of |z1 - z2|_inf (certified) and, with ε, the verdict of ε-equivalence."""

    maximum: Extreme
    output: int
    epsilon: Fraction | None
    verdict: Verdict | None

    def as_json(self) -> dict:
        return {"kind": "epsilon", "max_abs_logit_difference": self.maximum.as_json(), "output": self.output,
                "epsilon": None if self.epsilon is None else float(self.epsilon),
                "verdict": None if self.verdict is None else self.verdict.value}
