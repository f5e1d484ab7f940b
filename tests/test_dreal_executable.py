"""The dReal executable backend against a fake `dreal` program that prints recorded answers.

The answers follow dReal 4's output: `unsat`, or `delta-sat with delta = δ` and, with --model, one
line `name : [lo, hi]` per variable.  Every model goes through the exact replay, so a recorded
model that is no counterexample can never become VIOLATED.
"""
from __future__ import annotations

import json
import os
import stat
import sys
import time
from fractions import Fraction as Q
from pathlib import Path

import pytest

from smtnn import perturbation as P
from smtnn import properties as pr
from smtnn.backends import DREAL_ENV, dreal_program, get_backend
from smtnn.backends.base import Status
from smtnn.backends.dreal_exe import DRealExecutableBackend, parse_output
from smtnn.domain import Box
from smtnn.errors import SolverUnavailableError
from smtnn.network import Network
from smtnn.result import Verdict

FAKE = """#!{python}
import json, os, pathlib, sys, time
here = pathlib.Path(__file__).parent
query = pathlib.Path(sys.argv[-1]).read_text()
with open(here / "calls.jsonl", "a") as log:
    log.write(json.dumps({{"args": sys.argv[1:], "query": query}}) + "\\n")
if (here / "sleep").exists():
    (here / "pid").write_text(str(os.getpid()))
    time.sleep(60)
sys.stdout.write((here / "answer").read_text())
sys.stderr.write((here / "stderr").read_text() if (here / "stderr").exists() else "")
sys.exit(int((here / "code").read_text()) if (here / "code").exists() else 0)
"""

# z = w·x + b, w0 = 1, b0 = -1/2, δ = 1/10, x in [0, 1]: at x = 0.55 (class 1), b = -0.6 gives z = -0.05 (class 0)
FLIP = """delta-sat with delta = 1e-06
x0 : [0.54999999999999993, 0.55000000000000004]
p_layer0_W_0_0 : [1, 1]
p_layer0_b_0 : [-0.60000000000000009, -0.59999999999999998]
"""
NO_FLIP = """delta-sat with delta = 1e-06
x0 : [0.90000000000000002, 0.90000000000000002]
p_layer0_W_0_0 : [1, 1]
p_layer0_b_0 : [-0.5, -0.5]
"""


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A fake dreal in its own directory, named by $SMTNN_DREAL; returns a function setting its next answer."""
    program = tmp_path / "dreal"
    program.write_text(FAKE.format(python=sys.executable))
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(DREAL_ENV, str(program))

    def answer(text: str, code: int = 0, stderr: str = "", sleep: bool = False) -> Path:
        (tmp_path / "answer").write_text(text)
        (tmp_path / "code").write_text(str(code))
        (tmp_path / "stderr").write_text(stderr)
        if sleep:
            (tmp_path / "sleep").write_text("")
        return tmp_path

    return answer


def calls(directory: Path) -> list[dict]:
    return [json.loads(line) for line in (directory / "calls.jsonl").read_text().splitlines()]


def line_problem():
    net = Network.from_arrays([[[1.0]]], [[-0.5]], ["sigmoid"])
    return net, P.uniform(net, Q(1, 10)), Box(("0",), ("1",))


def test_named_program_is_chosen_and_said_in_provenance(fake):
    fake("unsat\n")
    backend = get_backend("dreal")
    assert isinstance(backend, DRealExecutableBackend) and backend.describe()["solver"] == "dreal (executable)"
    assert not backend.capabilities.exact and backend.capabilities.transcendental


def test_recorded_flip_is_replayed_into_a_witness(fake):
    directory = fake(FLIP)
    net, pert, box = line_problem()
    result = pr.verify_global_label(net, pert, box, solver="dreal", timeout=30)
    assert result.verdict is Verdict.VIOLATED and result.provenance.solver == "dreal (executable)"
    w = result.witness
    b = w.parameters.get("layer0.b[0]", Q(-1, 2))
    x = w.input[0]
    assert b == Q(-3, 5) and x - Q(1, 2) >= 0 > x + b          # replayed by hand: class 1 at p0, class 0 at p
    (call,) = calls(directory)
    assert call["args"][:3] == ["--precision", "1e-06", "--model"]
    assert "(set-logic QF_NRA)" in call["query"] and "(declare-fun x0 () Real)" in call["query"]
    assert "(check-sat)" in call["query"]


def test_recorded_model_that_does_not_flip_is_unknown(fake):
    fake(NO_FLIP)
    net, pert, box = line_problem()
    result = pr.verify_global_label(net, pert, box, solver="dreal", timeout=30)
    assert result.verdict is Verdict.UNKNOWN and "did not replay" in result.reason


def test_recorded_unsat_is_a_proof(fake):
    fake("unsat\n")
    net, pert, _ = line_problem()
    result = pr.verify_global_label(net, pert, Box(("0.9",), ("1",)), solver="dreal", timeout=30)
    assert result.verdict is Verdict.HOLDS    # and by hand: min_p z >= 0.9·0.9 - 0.6 > 0 on [0.9, 1]
    z3 = pr.verify_global_label(net, pert, Box(("0.9",), ("1",)), solver="z3")
    assert z3.verdict is Verdict.HOLDS


@pytest.mark.parametrize("output,code,stderr,words", [
    ("Segmentation fault\n", 0, "", "unexpected output 'Segmentation fault'"),
    ("sat\n", 0, "", "unexpected output 'sat'"),
    ("", 1, "parse error at line 3\n", "exited with code 1: parse error at line 3"),
    ("delta-sat with delta = 1e-06\nx0 : garbage\n", 0, "", "unreadable model line"),
    ("unsat\nunsat\n", 0, "", "unexpected output"),
])
def test_garbage_is_unknown_with_the_reason(fake, output, code, stderr, words):
    fake(output, code, stderr)
    net, pert, box = line_problem()
    result = pr.verify_global_label(net, pert, box, solver="dreal", timeout=30)
    assert result.verdict is Verdict.UNKNOWN and words in result.reason


def test_timeout_stops_the_program(fake):
    directory = fake("unsat\n", sleep=True)
    start = time.perf_counter()
    answer = get_backend("dreal").solve_text("(check-sat)\n", timeout=1.0)
    assert answer.status is Status.UNKNOWN and "timeout" in answer.reason
    assert time.perf_counter() - start < 10
    pid = int((directory / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_model_parsing_by_hand():
    answer = parse_output("delta-sat with delta = 0.001\nx : [-0.5, -0.25]\ny : [1e-3, 3e-3]\nz : [-inf, inf]\n")
    assert answer.status is Status.SAT
    assert answer.model == {"x": Q(-3, 8), "y": Q(2, 1000)}   # midpoints, exactly; unbounded z left to the replay
    assert parse_output("unsat\n").status is Status.UNSAT


def test_missing_or_wrong_program_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv(DREAL_ENV, str(tmp_path / "no-such-dreal"))
    with pytest.raises(SolverUnavailableError, match="not an executable file"):
        get_backend("dreal")
    monkeypatch.delenv(DREAL_ENV)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert dreal_program() is None
    with pytest.raises(SolverUnavailableError, match="no 'dreal' program on PATH") as err:
        if "dreal" in sys.modules and sys.modules["dreal"] is not None:
            pytest.skip("dReal's Python module is installed: get_backend('dreal') uses it; this checks the message where it is absent (run it without the dreal wheel)")
        get_backend("dreal")
    assert "\n" not in str(err.value)


def test_program_on_path_is_found(fake, monkeypatch):
    directory = fake("unsat\n")
    monkeypatch.delenv(DREAL_ENV)
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
    assert dreal_program() == str(directory / "dreal")
    assert get_backend("dreal", path=str(directory / "dreal")).program == str(directory / "dreal")


def test_cli_dreal_path_runs_the_named_program(fake, tmp_path, monkeypatch, capsys):
    """`smtnn verify ... --solver dreal --dreal-path PROGRAM`: the program's recorded flip is replayed; JSON says which dReal ran."""
    import numpy as np

    from smtnn.cli import main

    monkeypatch.delenv(DREAL_ENV)   # the flag alone names the program (and the variable is restored afterwards)
    directory = fake(FLIP)
    model = tmp_path / "line.npz"
    np.savez(model, W0=np.array([[1.0]]), b0=np.array([-0.5]), activations=np.array(["sigmoid"]))
    code = main(["verify", "global-label", str(model), "--delta", "0.1", "--domain", "0:1", "--solver", "dreal",
                 "--dreal-path", str(directory / "dreal"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "violated" and out["solver"] == "dreal (executable)"
    assert code != 0 and len(calls(directory)) == 1

