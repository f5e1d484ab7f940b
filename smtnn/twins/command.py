"""The `smtnn twins` subcommand: lrsm, decisions and epsilon for two model files."""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

from ..errors import InvalidInputError, UnsupportedModelError
from ..network import Network
from ..result import Provenance, Verdict, VerificationResult, to_json

PROPERTIES = ("lrsm", "decisions", "epsilon")
EXIT_OK, EXIT_VIOLATED, EXIT_UNKNOWN = 0, 1, 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("property", help=" | ".join(PROPERTIES))
    p.add_argument("first", help="N1, the twin under study (model file)")
    p.add_argument("second", help="N2, the reference (model file)")
    p.add_argument("--x0", help="centre of the L-infinity ball, comma-separated")
    p.add_argument("--radius", help="radius r of the ball B(x0, r) (a decimal, taken exactly)")
    p.add_argument("--clip", help="lo:hi, intersect the ball with [lo, hi] on every input (e.g. 0:1)")
    p.add_argument("--domain", help="a box instead of a ball: lower:upper per input, comma-separated")
    p.add_argument("--ci", type=int, help="class ci (default: N1's class at x0 or at the box centre)")
    p.add_argument("--cj", type=int, help="class cj (default: every other class; the worst is reported)")
    p.add_argument("--engine", default="exact", help="exact (default), z3 or relaxation")
    p.add_argument("--compare", default="relaxation", help="engines run as well, comma-separated ('' for none)")
    p.add_argument("--epsilon", help="ε for the epsilon property")
    p.add_argument("--timeout", type=float, help="seconds per query")
    p.add_argument("--memory", help="memory cap in MB: the query ends unknown instead of exhausting the machine")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


@dataclass
class TwinsTask:
    """One checked twins query (lrsm, decisions or epsilon) with both networks loaded; run by the CLI and `smtnn batch`."""

    property: str
    first: object
    second: object
    region: dict
    engine: str
    timeout: float | None
    ci: int | None = None
    cj: int | None = None
    compare: tuple = ()
    epsilon: str | None = None
    memory_mb: int | None = None
    command: str = "twins"

    @property
    def solver(self) -> str:
        return self.engine

    def compute(self):
        from . import decisions, epsilon_equivalence, lrsm

        common = {"engine": self.engine, "timeout": self.timeout}
        if not (isinstance(self.first, Network) and isinstance(self.second, Network)):
            return _quantized(self)
        if self.property == "lrsm":
            return lrsm(self.first, self.second, **self.region, ci=self.ci, cj=self.cj, compare=self.compare, **common)
        if self.property == "decisions":
            return decisions(self.first, self.second, **self.region, **common)
        return epsilon_equivalence(self.first, self.second, **self.region, epsilon=self.epsilon, **common)

    def exit_code(self, result) -> int:
        if isinstance(result, VerificationResult):   # stopped from outside (timeout, memory cap)
            return EXIT_UNKNOWN
        if self.property == "lrsm":
            return EXIT_OK if self.engine == "relaxation" or (
                result.worst_min().exact and all(v.exact for v in result.worst.maximum.values() if v.engine == self.engine)) else EXIT_UNKNOWN
        if self.property == "decisions" or result.verdict is not None:
            return {Verdict.HOLDS: EXIT_OK, Verdict.VIOLATED: EXIT_VIOLATED}.get(result.verdict, EXIT_UNKNOWN)
        return EXIT_OK if result.maximum.exact or self.engine == "relaxation" else EXIT_UNKNOWN

    def text(self, result) -> str:
        if isinstance(result, VerificationResult):
            from ..cli import _text

            return _text(result)
        return text(result)

    def stopped(self, reason: str, seconds: float) -> VerificationResult:
        """The UNKNOWN answer of a query stopped from outside (timeout, memory cap)."""
        return VerificationResult(f"twins {self.property}", Verdict.UNKNOWN, Provenance(self.engine, "-", "stopped", seconds),
                                  None, reason, {"first": self.first.name, "second": self.second.name})


def _quantized(task: TwinsTask):
    """twins decisions of a float network and its statically quantized twin (either order)."""
    from .quantized import quantized_decisions

    first, second = task.first, task.second
    if task.property != "decisions" or isinstance(first, Network) == isinstance(second, Network):
        raise UnsupportedModelError(
            f"twins {task.property} does not model activation quantization; compare a float network with its quantized "
            "twin by twins decisions"
        )
    if isinstance(first, Network):
        return quantized_decisions(first, second, **task.region, timeout=task.timeout)
    report = quantized_decisions(second, first, **task.region, timeout=task.timeout)
    classes = None if report.classes is None else (report.classes[1], report.classes[0])
    return dataclasses.replace(report, classes=classes)


def prepare(args) -> TwinsTask:
    """Check a parsed `smtnn twins` command line and load both networks."""
    from ..cli import _cached_network, _domain, _memory, _numbers, _timeout
    from .pair import load_twin

    if args.property not in PROPERTIES:
        raise InvalidInputError(f"unknown twins property '{args.property}'; choose one of {', '.join(PROPERTIES)}")
    if args.timeout is not None and args.timeout <= 0:
        raise InvalidInputError("--timeout must be positive")
    timeout, memory_mb = _timeout(args.timeout), _memory(getattr(args, "memory", None))
    ball = args.x0 is not None or args.radius is not None
    if ball == (args.domain is not None) or (ball and (args.x0 is None or args.radius is None)):
        raise InvalidInputError("give --x0 with --radius (a ball), or --domain (a box)")
    first, second = _cached_network(args.first, load_twin, quantized=True), _cached_network(args.second, load_twin, quantized=True)
    region = {"box": _domain(args.domain)}
    if ball:
        clip = None
        if args.clip is not None:
            parts = args.clip.split(":")
            if len(parts) != 2:
                raise InvalidInputError(f"--clip: '{args.clip}' is not lo:hi (example: --clip 0:1)")
            clip = tuple(_numbers(",".join(parts), "--clip"))
        region = {"x0": _numbers(args.x0, "--x0"), "radius": _numbers(args.radius, "--radius")[0], "clip": clip}
    compare = tuple(e for e in args.compare.split(",") if e.strip())
    eps = _numbers(args.epsilon, "--epsilon")[0] if args.epsilon is not None else None
    return TwinsTask(args.property, first, second, region, args.engine, timeout, args.ci, args.cj, compare, eps, memory_mb)


def run(args) -> int:
    """`smtnn twins ...`: print the result; the exit code says holds / violated / unknown."""
    from ..cli import execute

    task = prepare(args)
    result = execute(task)
    print(to_json(result, indent=2) if args.json else task.text(result))
    return task.exit_code(result)


def _interval(e) -> str:
    return f"[{float(e.lower):.9g}, {float(e.upper):.9g}] gap {float(e.gap):.2g} ({e.engine}, {e.seconds:.3f} s)"


def text(result) -> str:
    """A few human-readable lines."""
    kind = result.as_json()["kind"]
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
