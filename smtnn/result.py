"""Verdicts and estimates as values: what was decided, by which solver, how precisely, how fast."""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any


class Verdict(enum.Enum):
    HOLDS = "holds"          # an UNSAT answer (or a proven optimum) stands behind it
    VIOLATED = "violated"    # a counterexample replayed on the concrete network
    UNKNOWN = "unknown"      # neither; `reason` says why


@dataclass(frozen=True)
class Witness:
    """A concrete input and parameter vector, replayed exactly; `value` encloses the measured quantity.

    ``parameters`` holds only the parameters that differ from the network's own (exact rationals);
    ``meaning`` says what ``value`` measures (a flip's logit or winning margin, a change of f, σ, a
    log-RSM).  For two networks (twins) the parameters are both networks' own and ``classes`` gives
    the class each network picks at ``input`` (N1, N2); a decision counterexample measures no value.
    JSON gives every number both as a float (to read) and as an exact rational string "p/q" (to replay).
    """

    parameters: dict[str, Fraction]
    input: tuple[Fraction, ...] | None
    value_lower: Fraction | None = None
    value_upper: Fraction | None = None
    meaning: str = ""
    classes: tuple[int, int] | None = None

    def as_json(self) -> dict:
        has_value = self.value_lower is not None
        return {
            "input": None if self.input is None else [float(v) for v in self.input],
            "input_exact": None if self.input is None else [str(v) for v in self.input],
            "parameters": {k: float(v) for k, v in self.parameters.items()},
            "parameters_exact": {k: str(v) for k, v in self.parameters.items()},
            "value": [float(self.value_lower), float(self.value_upper)] if has_value else None,
            "value_exact": [str(self.value_lower), str(self.value_upper)] if has_value else None,
            "value_meaning": self.meaning,
            "classes": None if self.classes is None else {"N1": self.classes[0], "N2": self.classes[1]},
        }

    def as_text(self, where: str = "") -> str:
        """Lines that show the witness exactly enough to replay it (rationals beside the floats)."""
        if self.value_lower is None:
            head = f"witness{where}:" + (f" {self.meaning}" if self.meaning else "")
        else:
            value = f"{float(self.value_lower):.9g}" + ("" if self.value_lower == self.value_upper else f"..{float(self.value_upper):.9g}")
            head = f"witness{where}: value {value}" + (f" ({self.meaning})" if self.meaning else "")
        lines = [head]
        if self.input is not None:
            lines.append("  input " + ", ".join(f"{float(v):.9g} (= {v})" for v in self.input))
        if self.classes is not None:
            lines.append(f"  N1 picks {self.classes[0]}, N2 picks {self.classes[1]}")
        elif self.parameters:
            lines.append("  parameters " + ", ".join(f"{k}={float(v):.9g} (= {v})" for k, v in self.parameters.items()))
        else:
            lines.append("  parameters: none changed")
        return "\n  ".join(lines)


@dataclass(frozen=True)
class Provenance:
    """Which solver ran, with what precision, how many calls, for how long, by which method.

    ``stats`` holds a search's own counts (nodes, leaves, unstable relus, ...), plain JSON values.
    """

    solver: str
    precision: str
    method: str
    seconds: float
    calls: int = 0
    stats: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"solver": self.solver, "precision": self.precision, "method": self.method,
                "seconds": round(self.seconds, 6), "solver_calls": self.calls, "stats": self.stats}


@dataclass(frozen=True)
class VerificationResult:
    """The answer to one negated definition (Eqs. 6-10), or to decision preservation / ε-equivalence of twins.

    ``details``: the estimates the verdict rests on (for ε-equivalence, the certified max |z1 - z2|_inf).
    """

    property: str
    verdict: Verdict
    provenance: Provenance
    witness: Witness | None = None
    reason: str = ""
    query: dict = field(default_factory=dict)
    details: tuple["Estimate", ...] = ()

    def as_json(self) -> dict:
        return {"kind": "verification", "property": self.property, "verdict": self.verdict.value,
                "reason": self.reason, "witness": self.witness.as_json() if self.witness else None,
                **self.provenance.as_json(), "query": self.query, "details": [d.as_json() for d in self.details]}


@dataclass(frozen=True)
class Estimate:
    """A certified interval [lower, upper] for a largest ε or σ (Eqs. 11-13), or a twins extreme.

    The attained end (``lower`` of a largest value, ``upper`` of a smallest one) is the value of a
    replayed witness; the other end is backed by UNSAT answers, a proven optimum or an LP dual
    certificate.  ``gap`` = upper - lower; ``reason`` says why it is above the tolerance.
    ``tolerance`` None: only a certified bound was asked (a relaxation, a comparison, a class
    pruned by its bound), so any gap meets it.  ``details``: the estimates this one summarises
    (per class pair, end and engine for LRSM), each with its own ``query``.
    """

    property: str
    lower: Fraction
    upper: Fraction
    tolerance: Fraction | None
    provenance: Provenance
    witness: Witness | None = None
    reason: str = ""
    query: dict = field(default_factory=dict)
    details: tuple["Estimate", ...] = ()

    @property
    def gap(self) -> Fraction:
        return self.upper - self.lower

    @property
    def converged(self) -> bool:
        return self.tolerance is None or self.gap <= self.tolerance

    def as_json(self) -> dict:
        return {"kind": "estimate", "property": self.property,
                "bounds": [float(self.lower), float(self.upper)], "bounds_exact": [str(self.lower), str(self.upper)],
                "gap": float(self.gap),
                "converged": self.converged, "tolerance": None if self.tolerance is None else float(self.tolerance),
                "reason": self.reason, "witness": self.witness.as_json() if self.witness else None,
                **self.provenance.as_json(), "query": self.query, "details": [d.as_json() for d in self.details]}


def to_json(result: Any, **kwargs) -> str:
    """JSON text of a result or of a mapping/list of results."""
    def encode(obj):
        if hasattr(obj, "as_json"):
            return obj.as_json()
        if isinstance(obj, Fraction):
            return float(obj)
        if isinstance(obj, dict):
            return {k: encode(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [encode(v) for v in obj]
        return obj
    return json.dumps(encode(result), **kwargs)
