"""Results for people and programs: the one place that renders text and JSON and maps results to exit codes.

Exit codes: 0 holds / converged estimate / written; 1 violated; 3 unknown or gap above the
tolerance; 2 bad input (one line on stderr, no traceback, nothing written).
"""
from __future__ import annotations

EXIT_OK, EXIT_VIOLATED, EXIT_BAD_INPUT, EXIT_UNKNOWN, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _kind(result) -> str:
    """verification, estimate, estimates (a per-class dict), lrsm, decisions or epsilon."""
    if isinstance(result, dict):
        return "estimates"
    from .result import Estimate, VerificationResult

    if isinstance(result, VerificationResult):
        return "verification"
    if isinstance(result, Estimate):
        return "estimate"
    return result.as_json()["kind"]


def exit_code(result) -> int:
    """0 holds / converged, 1 violated, 3 unknown or not converged; for core results and twins reports alike."""
    from .result import Verdict

    kind = _kind(result)
    if kind in ("verification", "estimate", "estimates"):
        results = list(result.values()) if kind == "estimates" else [result]
        if kind != "verification":
            return EXIT_OK if all(r.converged for r in results) else EXIT_UNKNOWN
        verdicts = {r.verdict for r in results}
        if Verdict.VIOLATED in verdicts:
            return EXIT_VIOLATED
        return EXIT_OK if verdicts == {Verdict.HOLDS} else EXIT_UNKNOWN
    if kind == "lrsm":
        return EXIT_OK if result.engine == "relaxation" or (
            result.worst_min().exact and all(v.exact for v in result.worst.maximum.values() if v.engine == result.engine)) \
            else EXIT_UNKNOWN
    if kind == "decisions" or result.verdict is not None:
        return {Verdict.HOLDS: EXIT_OK, Verdict.VIOLATED: EXIT_VIOLATED}.get(result.verdict, EXIT_UNKNOWN)
    return EXIT_OK if result.maximum.exact or result.maximum.engine == "relaxation" else EXIT_UNKNOWN


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
    if kind in ("verification", "estimate"):
        return _core_text(result, kind)
    return _twins_text(result, kind)


def _core_text(result, kind: str) -> str:
    p = result.provenance
    tail = f"[{p.solver}, {p.precision}, {p.seconds:.3f} s; {p.method}]"
    if kind == "estimate":
        line = f"{result.property}: [{float(result.lower):.9g}, {float(result.upper):.9g}] gap {float(result.gap):.2g} {tail}"
    else:
        line = f"{result.property}: {result.verdict.value.upper()} {tail}"
    if result.witness is not None:
        line += "\n  " + result.witness.as_text()
    if result.reason:
        line += f"\n  note: {result.reason}"
    return line


def _interval(e) -> str:
    return f"[{float(e.lower):.9g}, {float(e.upper):.9g}] gap {float(e.gap):.2g} ({e.engine}, {e.seconds:.3f} s)"


def _twins_text(result, kind: str) -> str:
    if kind == "lrsm":
        w = result.worst
        lines = [f"lrsm N1={result.first} vs N2={result.second}, ci={result.ci}, worst cj={w.cj} ({result.seconds:.3f} s)"]
        for end, table in (("min", w.minimum), ("max", w.maximum)):
            for e in table.values():
                lo, hi = e.exp()
                lines.append(f"  {end} log-RSM {_interval(e)}; RSM in [{float(lo):.9g}, {float(hi):.9g}]")
                if e.reason:
                    lines.append(f"    note: {e.reason}")
        if w.minimum.get(result.engine) is not None and w.minimum[result.engine].witness is not None:
            lines.append(f"  witness of the min: x' = {[float(v) for v in w.minimum[result.engine].witness]}")
        return "\n".join(lines)
    if kind == "decisions":
        line = f"decisions: {result.verdict.value.upper()} ({result.engine}, {result.seconds:.3f} s)"
        if result.witness is not None:
            line += f"\n  counterexample x' = {[float(v) for v in result.witness]}: N1 picks {result.classes[0]}, N2 picks {result.classes[1]}"
        if result.reason:
            line += f"\n  note: {result.reason}"
        return line
    m = result.maximum
    line = f"epsilon: max |z1 - z2|_inf in {_interval(m)} at output {result.output}"
    if result.verdict is not None:
        line += f"; ε = {float(result.epsilon):.9g}: {result.verdict.value.upper()}"
    return line
