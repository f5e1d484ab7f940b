"""Exported SMT-LIB declares a logic its contents belong to, solvers read every file whole, and cvc5 agrees with z3.

Regression (issue 14, item 7): queries with exp declared (set-logic QF_NRA); plain `z3 file.smt2`
printed an error for the exp assertion, then `sat` for the remaining ones.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest
import z3

from smtnn.backends import get_backend
from smtnn.backends.base import Status
from smtnn.backends.smtlib import EXACT_INTEGER_LIMIT, LOGIC_WITH_EXP, LOGIC_WITHOUT_EXP, term, uses_exp
from smtnn.errors import SolverUnavailableError, UnsupportedQueryError

ENCODINGS = Path(__file__).resolve().parent.parent / "encodings"
MANIFEST = json.loads((ENCODINGS / "manifest.json").read_text())
FILES = sorted(ENCODINGS.glob("*.smt2"))


def logic_of(text: str) -> str:
    (logic,) = re.findall(r"^\(set-logic (\S+)\)$", text, flags=re.M)
    return logic


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_file_declares_the_logic_of_its_contents(path):
    text = path.read_text()
    record = next(r for r in MANIFEST if r["file"] == path.name)
    if uses_exp(text):
        assert logic_of(text) == LOGIC_WITH_EXP and "; dialect: dReal" in text and record["dialect"] == "dreal"
    else:
        assert logic_of(text) == LOGIC_WITHOUT_EXP and record["dialect"] == "QF_NRA"
    assert "tanh" not in text.split("(set-logic")[1]   # z3 has no tanh: it is written through exp


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_z3_python_api_reads_every_file_whole(path):
    text = path.read_text()
    solver = z3.Solver()
    solver.from_string(text)   # raises Z3Exception on any error, e.g. "unknown constant exp" under QF_NRA
    assert len(solver.assertions()) == text.count("(assert ")


def test_z3_refuses_exp_under_qf_nra():
    """The check above can fail: the old header (QF_NRA with exp) is rejected by z3."""
    path = next(p for p in FILES if uses_exp(p.read_text()))
    old = path.read_text().replace(f"(set-logic {LOGIC_WITH_EXP})", "(set-logic QF_NRA)")
    with pytest.raises(z3.Z3Exception, match="exp"):
        z3.Solver().from_string(old)


@pytest.mark.skipif(shutil.which("z3") is None, reason="no z3 program on PATH: the z3-solver wheel (a dependency) usually installs one; else apt-get install z3")
def test_z3_program_reads_every_file_without_error(tmp_path):
    """The z3 program, given each file without its (check-sat), prints nothing: every command is accepted."""
    for path in FILES:
        stripped = tmp_path / path.name
        stripped.write_text(path.read_text().replace("(check-sat)\n", ""))
        done = subprocess.run(["z3", str(stripped)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stdout.strip() == "", (path.name, done.stdout[:300])


def test_large_integers_become_decimals_that_dreal_reads():
    """dReal 4 rejects integers beyond 2^53; a decimal N.0 is the same rational for z3 and an enclosure for dReal."""
    from pysmt.environment import Environment

    mgr = Environment().formula_manager
    big = EXACT_INTEGER_LIMIT + 1
    text = term(mgr.Real(Fraction(big, 2)))
    assert f"{big}.0" in text and str(EXACT_INTEGER_LIMIT) not in text.replace(f"{big}.0", "")
    small = term(mgr.Real(Fraction(EXACT_INTEGER_LIMIT, 7)))
    assert f"{EXACT_INTEGER_LIMIT}" in small and ".0" not in small
    x = z3.Real("x")
    solver = z3.Solver()
    solver.from_string(f"(declare-fun x () Real)(assert (= x {text}))")
    solver.add(x * 2 != big)
    assert solver.check() == z3.unsat   # the decimal is exactly the integer


def cvc5_backend():
    try:
        return get_backend("cvc5")
    except SolverUnavailableError as err:
        pytest.skip(str(err))


@pytest.mark.parametrize("record", [r for r in MANIFEST if r["dialect"] == "QF_NRA"], ids=lambda r: r["file"])
def test_cvc5_agrees_with_z3_on_exported_queries(record):
    """Cross-check: cvc5, reading the exported file through the backend interface, answers as z3 and smtnn do."""
    from smtnn.backends.smtlib import solve_script

    answer = solve_script(cvc5_backend(), (ENCODINGS / record["file"]).read_text(), timeout=120)
    assert answer.status.value == record["expected_status"], answer.reason


def test_cvc5_refuses_queries_with_exp_in_one_line():
    from smtnn.backends.smtlib import solve_script

    path = next(p for p in FILES if uses_exp(p.read_text()))
    with pytest.raises(UnsupportedQueryError) as err:
        solve_script(cvc5_backend(), path.read_text())
    assert "\n" not in str(err.value) and "exp" in str(err.value) and "--solver dreal" in str(err.value)


def test_z3_backend_reads_exported_files_too():
    """The same file route works for z3 (a sanity check of solve_script against the manifest)."""
    from smtnn.backends.smtlib import solve_script

    record = next(r for r in MANIFEST if r["dialect"] == "QF_NRA" and r["expected_status"] == "sat")
    answer = solve_script(get_backend("z3"), (ENCODINGS / record["file"]).read_text(), timeout=60)
    assert answer.status is Status.SAT and answer.model
