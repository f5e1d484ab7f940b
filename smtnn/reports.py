"""Results for people and programs: the one place that renders text and JSON and maps results to exit codes.

Exit codes: 0 holds / converged estimate / written; 1 violated; 3 unknown or gap above the
tolerance; 2 bad input (one line on stderr, no traceback, nothing written).
"""
from __future__ import annotations

EXIT_OK, EXIT_VIOLATED, EXIT_BAD_INPUT, EXIT_UNKNOWN, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _kind(result) -> str:
    """verification, estimate or estimates (a per-class dict of estimates)."""
    if isinstance(result, dict):
        return "estimates"
    from .result import VerificationResult

    return "verification" if isinstance(result, VerificationResult) else "estimate"


def exit_code(result) -> int:
    """0 holds / converged, 1 violated, 3 unknown or not converged; for core and twins results alike.

    An estimate is converged when it and every estimate in its ``details`` meet their tolerance
    (twins: the worst class's min and max by the chosen engine; the rest are bounds asked as bounds).
    """
    from .result import Verdict

    kind = _kind(result)
    results = list(result.values()) if kind == "estimates" else [result]
    if kind != "verification":
        return EXIT_OK if all(r.converged and all(d.converged for d in r.details) for r in results) else EXIT_UNKNOWN
    verdicts = {r.verdict for r in results}
    if Verdict.VIOLATED in verdicts:
        return EXIT_VIOLATED
    return EXIT_OK if verdicts == {Verdict.HOLDS} else EXIT_UNKNOWN


def status(result) -> str:
    """The one-word status of a batch line: holds, violated, converged or unknown."""
    code = exit_code(result)
    if code == EXIT_VIOLATED:
        return "violated"
    if code == EXIT_OK:
        return "holds" if getattr(result, "verdict", None) is not None and result.verdict.value == "holds" else "converged"
    return "unknown"


def to_json(result, **kwargs) -> str:
    """JSON text of a result (see :func:`smtnn.result.to_json`)."""
    from .result import to_json as encode

    return encode(result, **kwargs)


def text(result) -> str:
    """A few human-readable lines."""
    kind = _kind(result)
    if kind == "estimates":
        return "\n".join(f"class {c}: {text(r)}" for c, r in result.items())
    return _text(result, kind)


def _interval(e) -> str:
    return f"[{float(e.lower):.9g}, {float(e.upper):.9g}] gap {float(e.gap):.2g}"


def _text(result, kind: str) -> str:
    p = result.provenance
    tail = f"[{p.solver}, {p.precision}, {p.seconds:.3f} s; {p.method}]"
    if kind == "estimate":
        line = f"{_name(result)}: {_interval(result)}{_rsm(result)} {tail}"
    else:
        line = f"{result.property}: {result.verdict.value.upper()} {tail}"
    if result.witness is not None:
        line += "\n  " + result.witness.as_text()
    if result.reason:
        line += f"\n  note: {result.reason}"
    for d in _shown_details(result):
        q = d.query
        sense = "" if d.property.startswith(q.get("sense", "")) else f"{q['sense']} "
        line += (f"\n  {sense}{d.property} by {q.get('engine', d.provenance.solver)}: {_interval(d)}{_rsm(d)} "
                 f"({d.provenance.solver}, {d.provenance.seconds:.3f} s)" + (f"; note: {d.reason}" if d.reason else ""))
    return line


def _name(result) -> str:
    """What an estimate bounds; for LRSM the networks and classes it compares."""
    q = result.query
    if result.property == "lrsm":
        return (f"lrsm N1={q['N1']} vs N2={q['N2']}, ci={q['ci']}, worst cj={q['worst_cj']}: "
                f"min log-RSM by {q['engine']}")
    return result.property + (f" (output {q['output']})" if "output" in q else "")


def _rsm(estimate) -> str:
    """For a log-RSM: the certified RSM = exp(log-RSM) beside it."""
    if estimate.property != "lrsm" and not estimate.property.startswith("log-RSM"):
        return ""
    from .twins.result import rsm

    lo, hi = rsm(estimate)
    return f"; RSM in [{float(lo):.9g}, {float(hi):.9g}]"


def _shown_details(result) -> list:
    """The details worth a line: for LRSM the worst class's extremes, else all."""
    if result.property == "lrsm":
        return [d for d in result.details if d.query.get("cj") == result.query["worst_cj"]]
    return list(result.details)
