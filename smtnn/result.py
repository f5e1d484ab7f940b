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
    ``meaning`` says what ``value`` measures (a flip's logit or winning margin, a change of f, σ).
    JSON gives every number both as a float (to read) and as an exact rational string "p/q" (to replay).
    """

    parameters: dict[str, Fraction]
    input: tuple[Fraction, ...] | None
    value_lower: Fraction
    value_upper: Fraction
    meaning: str = ""

    def as_json(self) -> dict:
        return {
            "input": None if self.input is None else [float(v) for v in self.input],
            "input_exact": None if self.input is None else [str(v) for v in self.input],
            "parameters": {k: float(v) for k, v in self.parameters.items()},
            "parameters_exact": {k: str(v) for k, v in self.parameters.items()},
            "value": [float(self.value_lower), float(self.value_upper)],
            "value_exact": [str(self.value_lower), str(self.value_upper)],
            "value_meaning": self.meaning,
        }

    def as_text(self, where: str = "") -> str:
        """Lines that show the witness exactly enough to replay it (rationals beside the floats)."""
        value = f"{float(self.value_lower):.9g}" + ("" if self.value_lower == self.value_upper else f"..{float(self.value_upper):.9g}")
        lines = [f"witness{where}: value {value}" + (f" ({self.meaning})" if self.meaning else "")]
        if self.input is not None:
            lines.append("  input " + ", ".join(f"{float(v):.9g} (= {v})" for v in self.input))
        if self.parameters:
            lines.append("  parameters " + ", ".join(f"{k}={float(v):.9g} (= {v})" for k, v in self.parameters.items()))
        else:
            lines.append("  parameters: none changed")
        return "\n  ".join(lines)


@dataclass(frozen=True)
class Provenance:
    """Which solver ran, with what precision, how many calls, for how long, by which method."""

    solver: str
    precision: str
    method: str
    seconds: float
    calls: int = 0

    def as_json(self) -> dict:
        return {"solver": self.solver, "precision": self.precision, "method": self.method,
                "seconds": round(self.seconds, 6), "solver_calls": self.calls}


@dataclass(frozen=True)
class VerificationResult:
    """The answer to one negated definition (Eqs. 6-10)."""

    property: str
    verdict: Verdict
    provenance: Provenance
    witness: Witness | None = None
    reason: str = ""
    query: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"kind": "verification", "property": self.property, "verdict": self.verdict.value,
                "reason": self.reason, "witness": self.witness.as_json() if self.witness else None,
                **self.provenance.as_json(), "query": self.query}


@dataclass(frozen=True)
class Estimate:
    """A certified interval [lower, upper] for a largest ε or σ (Eqs. 11-13).

    ``lower`` is the value of a replayed witness; ``upper`` is backed by UNSAT answers or a
    proven optimum.  ``gap`` = upper - lower; ``reason`` says why it is above the tolerance.
    """

    property: str
    lower: Fraction
    upper: Fraction
    tolerance: Fraction
    provenance: Provenance
    witness: Witness | None = None
    reason: str = ""
    query: dict = field(default_factory=dict)

    @property
    def gap(self) -> Fraction:
        return self.upper - self.lower

    @property
    def converged(self) -> bool:
        return self.gap <= self.tolerance

    def as_json(self) -> dict:
        return {"kind": "estimate", "property": self.property,
                "bounds": [float(self.lower), float(self.upper)], "bounds_exact": [str(self.lower), str(self.upper)],
                "gap": float(self.gap),
                "converged": self.converged, "tolerance": float(self.tolerance), "reason": self.reason,
                "witness": self.witness.as_json() if self.witness else None,
                **self.provenance.as_json(), "query": self.query}


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
