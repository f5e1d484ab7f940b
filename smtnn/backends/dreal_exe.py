"""dReal 4's ``dreal`` program as a backend: it reads the SMT-LIB script smtnn exports.

The query goes to ``dreal --precision δ --model FILE``.  dReal 4 answers ``unsat`` (a proof: no
point satisfies the formula) or ``delta-sat with delta = δ`` followed by its model, one line per
variable ``name : [lo, hi]``.  A δ-sat model is only a candidate: its midpoints go back to the
caller, which replays them exactly on the network (as for the Python backend).  Any other output,
an exit code other than 0, or a timeout is an UNKNOWN answer that says what happened.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
from fractions import Fraction
from typing import Sequence

from pysmt.fnode import FNode

from ..encoder import Definition, Encoder
from . import smtlib
from .base import Answer, Backend, Capabilities, Session, Status, Terms

DEFAULT_PRECISION = Fraction(1, 10 ** 6)
_BOUND = r"[-+]?(?:inf|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_MODEL_LINE = re.compile(rf"^\s*(\S+)\s*:\s*\[\s*({_BOUND})\s*,\s*({_BOUND})\s*\]\s*$")


def parse_output(stdout: str, returncode: int = 0, stderr: str = "") -> Answer:
    """dReal's printed answer as an Answer: UNSAT, SAT with the midpoints of its δ-sat box, or UNKNOWN."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if returncode == 0 and first == "unsat" and len(lines) == 1:
        return Answer(Status.UNSAT)
    if returncode == 0 and first.startswith("delta-sat"):
        model = {}
        for line in lines[1:]:
            match = _MODEL_LINE.match(line)
            if match is None:
                return Answer(Status.UNKNOWN, reason=f"dreal: unreadable model line '{line[:80]}'")
            name, lo, hi = match.groups()
            if "inf" not in lo and "inf" not in hi:   # an unbounded variable is left to the replay's clamping
                model[name] = (Fraction(lo) + Fraction(hi)) / 2
        return Answer(Status.SAT, model, reason="δ-sat")
    if returncode != 0:
        detail = (stderr.strip().splitlines() or [first or "no output"])[-1]
        return Answer(Status.UNKNOWN, reason=f"dreal exited with code {returncode}: {detail[:200]}")
    return Answer(Status.UNKNOWN, reason=f"dreal: unexpected output '{first[:80]}'")


class DRealExecutableSession(Session):
    """Assertions kept per push level; each check writes the whole script and runs dReal once."""

    def __init__(self, backend: "DRealExecutableBackend", encoder: Encoder | Terms):
        super().__init__(backend, encoder)
        self.levels: list[list[tuple[FNode, Sequence[Definition]]]] = [[]]

    def _add(self, formula: FNode, definitions: Sequence[Definition]) -> None:
        self.levels[-1].append((formula, tuple(definitions)))

    def push(self) -> None:
        self.levels.append([])

    def pop(self) -> None:
        self.levels.pop()

    def _check(self, timeout):
        parts = [item for level in self.levels for item in level]
        text = smtlib.script([f for f, _ in parts], [d for _, ds in parts for d in ds],
                             comments=["smtnn query for the dReal executable"])
        return self.backend.solve_text(text, timeout)


class DRealExecutableBackend(Backend):
    """dReal's δ-complete decision procedure through its ``dreal`` program, precision δ (default 1e-6)."""

    name = "dreal"
    capabilities = Capabilities(exact=False, nonlinear=True, transcendental=True, optimization=False, incremental=False)

    def __init__(self, program: str, precision=None):
        self.program = program
        self.precision = Fraction(precision) if precision is not None else DEFAULT_PRECISION

    def session(self, encoder: Encoder | Terms) -> Session:
        return DRealExecutableSession(self, encoder)

    def command(self, path: str) -> list[str]:
        return [self.program, "--precision", repr(float(self.precision)), "--model", path]

    def solve_text(self, text: str, timeout: float | None = None) -> Answer:
        """Run dReal on one SMT-LIB script; stop it (and anything it started) when the timeout is up."""
        fd, path = tempfile.mkstemp(prefix="smtnn-", suffix=".smt2")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            try:
                process = subprocess.Popen(self.command(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           stdin=subprocess.DEVNULL, text=True, start_new_session=True)
            except OSError as err:
                return Answer(Status.UNKNOWN, reason=f"dreal could not be started ({self.program}): {err.strerror or err}")
            try:
                stdout, stderr = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:   # it ended in the meantime
                    pass
                process.communicate()
                return Answer(Status.UNKNOWN, reason=f"dreal: timeout after {timeout:g} s")
            return parse_output(stdout, process.returncode, stderr)
        finally:
            os.unlink(path)

    def describe(self) -> dict:
        return {"solver": "dreal (executable)", "precision": f"δ = {float(self.precision):g}"}
