"""The task layer (queries as data, property specs), its one budget, and the command line's options and outputs.

Each test would fail on the code before the task layer: it names the defect it guards against.
"""
from __future__ import annotations

import ast
import json
import os
import stat
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pytest

from smtnn import Network, perturbation, properties, tasks
from smtnn.budget import Budget
from smtnn.cli import joined_negatives, main
from smtnn.loaders import save_npz
from smtnn.result import Verdict
from smtnn.tasks import PROPERTIES, Query

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "case_studies" / "models"
CATS = str(MODELS / "cats.h5")
ATHLETES = str(MODELS / "athletes_relu.h5")
TWIN = str(ROOT / "case_studies" / "twins" / "models" / "athletes_relu_int8.h5")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def one_error_line(capsys, argv, *words) -> str:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (argv, out, err)
    assert "Traceback" not in out + err
    assert len(err.splitlines()) == 1 and err.startswith("smtnn: error: "), err
    for word in words:
        assert word in err, err
    return err


def smtnn(*argv, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smtnn", *map(str, argv)], capture_output=True, text=True, env=ENV,
                          timeout=timeout, cwd=ROOT)


# -- the task layer ----------------------------------------------------------------------------
def import_graph() -> dict[str, set[str]]:
    """Module -> the smtnn modules it imports, at module level or inside functions."""
    modules = {}
    for path in (ROOT / "smtnn").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - max(node.level - 1, 0)] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:   # a submodule named in the import, else the module imported from
                    candidate = f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target
                    if candidate in modules and candidate != name:
                        graph[name].add(candidate)
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in modules and a.name != name)
    return graph


def reaches(graph, start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            if nxt == goal:
                return True
            seen.add(nxt)
            todo.append(nxt)
    return False


def test_no_module_of_the_package_is_on_an_import_circle():
    """Imports inside functions count too: the LP backend once reached the twins' leaf optimizer, which selected a
    backend from the registry (backends -> lp_backend -> twins.bnb -> twins.leaf -> backends)."""
    graph = import_graph()
    assert not [name for name in graph if reaches(graph, name, name)]


def test_the_way_in_has_no_import_circle():
    """cli <-> batch <-> twins/command imported each other; batch read argparse's private _actions."""
    graph = import_graph()
    for name in ("smtnn.cli", "smtnn.tasks", "smtnn.batch", "smtnn.reports", "smtnn.export", "smtnn.specs", "smtnn.options",
                 "smtnn.twins.command", "smtnn.budget", "smtnn.outputs", "smtnn.child"):
        assert not reaches(graph, name, name), f"{name} is on an import circle"
    assert not [m for m, targets in graph.items() if "smtnn.cli" in targets and m != "smtnn.__main__"]
    for path in (ROOT / "smtnn").rglob("*.py"):
        assert "._actions" not in path.read_text(), path


def test_every_property_spec_names_functions_that_exist():
    from smtnn import export

    for name, spec in PROPERTIES.items():
        assert callable(getattr(properties, spec.verify)), name
        assert spec.estimate is None or callable(getattr(properties, spec.estimate)), name
        assert spec.negation in export.NEGATIONS, name
    assert set(tasks.VERIFY) == set(PROPERTIES) and set(tasks.ESTIMATE) < set(PROPERTIES)


def test_a_query_gives_the_answer_of_the_direct_call():
    """Python, CLI and batch build the same Query; its result is that of the properties function."""
    from smtnn.loaders import load_network

    net = load_network(CATS)
    pert = perturbation.uniform(net, "0.01")
    for x0, verdict in (("10,2.5", None), ("14.3,3.1", None)):
        direct = properties.verify_local_label(net, pert, x0.split(","))
        via = Query("verify", "local-label", (CATS,), {"delta": "0.01", "x0": x0}).run()
        assert via.verdict is direct.verdict and via.witness == direct.witness
    est = Query("estimate", "global-sigma", (CATS,), {"delta": "0.005", "domain": "6.3:20.5,2.0:3.9"}).run()
    direct = properties.global_sigma(net, perturbation.uniform(net, "0.005"), tasks.domain("6.3:20.5,2.0:3.9"))
    assert {c: (e.lower, e.upper) for c, e in est.items()} == {c: (e.lower, e.upper) for c, e in direct.items()}


def test_the_export_uses_the_sigma_levels_of_the_solving_path(tmp_path):
    """Eq. 10's σ levels are written once (properties.sigma_levels), rounded outward, and the export writes them."""
    for threshold, sigma in ((Fraction(1, 2), Fraction(1, 10)), (Fraction(3, 10), Fraction(1, 5))):
        hi, lo = properties.sigma_levels(threshold, sigma)
        mpmath.mp.prec = 200
        logit = lambda p: mpmath.log(mpmath.mpf(p.numerator) / p.denominator / (1 - mpmath.mpf(p.numerator) / p.denominator))
        assert mpmath.mpf(hi.numerator) / hi.denominator <= logit(threshold + sigma)   # every |f - l| >= σ is kept
        assert mpmath.mpf(lo.numerator) / lo.denominator >= logit(threshold - sigma)
    out = tmp_path / "q.smt2"
    assert main(["export", "global-sigma", CATS, "--delta", "0.005", "--domain", "6.3:20.5,2.0:3.9", "--sigma", "0.1",
                 "-o", str(out)]) == 0
    hi, lo = properties.sigma_levels(Fraction(1, 2), Fraction(1, 10))
    text = out.read_text()
    assert f"{hi.numerator}" in text and f"{abs(lo.numerator)}" in text


# -- one budget --------------------------------------------------------------------------------
def test_budget_shares_what_is_left():
    budget = Budget(time.perf_counter(), 10.0)
    assert 4.9 < budget.share(2) <= 5.0 and 9.9 < budget.share(1) <= 10.0
    assert Budget(time.perf_counter() - 20, 10.0).share(3) == 0.001
    assert Budget(timeout=None).share(2) is None


def test_the_query_timeout_reaches_the_api_undivided(monkeypatch):
    """local-epsilon used to get T/2 and a 3-class local label T/2 again, on top of the API's own sharing."""
    seen = {}

    def spy(name):
        original = getattr(properties, name)

        def recorded(*args, **kwargs):
            seen[name] = kwargs["timeout"]
            return original(*args, **kwargs)
        return recorded

    for name in ("local_epsilon", "verify_local_label"):
        monkeypatch.setattr(properties, name, spy(name))
    Query("estimate", "local-epsilon", (CATS,), {"delta": "0.01", "x0": "10,2.5", "timeout": "60"}).prepare().compute()
    Query("verify", "local-label", (ATHLETES,), {"delta": "0.01", "x0": "1.8,80", "timeout": "60"}).prepare().compute()
    assert seen == {"local_epsilon": 60, "verify_local_label": 60}


def test_local_label_classes_share_one_clock(monkeypatch):
    """Each class pair gets an equal share of what is left (not T/(k-1) fixed, nor all of it for the first)."""
    net = Network.from_arrays([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]],
                              [[0.0, 0.0], [0.0, 0.0, 0.0]], ["relu", "softmax"])
    given = []
    original = properties._local_extreme

    def recorded(*args):
        given.append(args[6])
        return original(*args)

    monkeypatch.setattr(properties, "_local_extreme", recorded)
    monkeypatch.setattr(properties.float_first, "local_label", lambda *args: properties.float_first.Decision.nothing())
    properties.verify_local_label(net, perturbation.uniform(net, "0.001"), ["1", "0.2"], timeout=30)
    assert len(given) == 2 and 14 < given[0] <= 15 and 20 < given[1] <= 30   # the second gets what the first left


def test_lrsm_searches_share_its_timeout(monkeypatch):
    """twins lrsm used to give the whole timeout to the min and again to each max: its sum stays within it now."""
    from smtnn.loaders import load_network
    from smtnn.twins import lrsm, optimize

    given = []   # (seconds since the call began, timeout given): every search must be allowed to end by the deadline
    original = optimize.Analysis.extreme

    def recorded(self, forms, sense, engine="exact", **kwargs):
        if kwargs.get("timeout") is not None:
            given.append((time.perf_counter() - start, kwargs["timeout"]))
        return original(self, forms, sense, engine, **kwargs)

    monkeypatch.setattr(optimize.Analysis, "extreme", recorded)
    first, second = load_network(TWIN), load_network(ATHLETES)
    start = time.perf_counter()
    report = lrsm(first, second, ["1.8", "80"], "0.1", timeout=8, compare=("relaxation", "z3"))
    assert report.upper >= report.lower
    assert len(given) >= 3 and all(at + seconds <= 8 + 0.05 or seconds <= 0.001 for at, seconds in given), given


def slow_loader(seconds):
    from smtnn import loaders

    original = loaders.load_network

    def slow(path, **kwargs):
        time.sleep(seconds)
        return original(path, **kwargs)
    return slow


def test_model_loading_is_inside_the_timeout(monkeypatch):
    from smtnn import loaders

    monkeypatch.setattr(loaders, "load_network", slow_loader(60))
    tasks._NETWORKS.clear()
    start = time.perf_counter()
    result = Query("verify", "local-label", (CATS,), {"delta": "0.01", "x0": "10,2.5", "timeout": "0.5"}).run()
    assert time.perf_counter() - start < 0.5 + 2 + 1.5
    assert result.verdict is Verdict.UNKNOWN and result.reason.startswith("timeout")


def test_the_memory_cap_holds_while_the_model_loads(monkeypatch):
    from smtnn import loaders

    def greedy(path, **kwargs):
        blocks = [bytearray(64 << 20) for _ in range(16)]   # 1 GB
        return blocks

    monkeypatch.setattr(loaders, "load_network", greedy)
    tasks._NETWORKS.clear()
    result = Query("verify", "local-label", (CATS,), {"delta": "0.01", "x0": "10,2.5", "memory": "100"}).run()
    assert result.verdict is Verdict.UNKNOWN and "memory cap of 100 MB" in result.reason


@pytest.mark.parametrize("kind", ["fifo", "device", "loop"])
def test_model_paths_that_are_not_files(capsys, tmp_path, kind):
    """A FIFO hung forever (past --timeout); /dev/zero was 'saved incompletely'; a symlink loop was 'no such file'."""
    if kind == "fifo":
        path = tmp_path / "model.h5"
        os.mkfifo(path)
        words = ("FIFO",)
    elif kind == "device":
        path, words = "/dev/zero", ("character device",)
    else:
        path = tmp_path / "model.h5"
        os.symlink(tmp_path / "other.h5", path)
        os.symlink(path, tmp_path / "other.h5")
        words = ("loop of symbolic links",)
    start = time.perf_counter()
    one_error_line(capsys, ["verify", "local-label", path, "--delta", "0.01", "--x0", "1,1", "--timeout", "5"], *words)
    assert time.perf_counter() - start < 2


# -- options -----------------------------------------------------------------------------------
@pytest.mark.parametrize("argv,words", [
    (["verify", "local-label", CATS, "--delta", "1e400", "--x0", "10,2.5"], ("--delta", "too large")),
    (["twins", "lrsm", TWIN, ATHLETES, "--x0", "1.8,80", "--radius", "1e400"], ("--radius", "too large")),
    (["verify", "local-label", CATS, "--delta", "0.01", "--x0", "10,2.5", "--timeout", "3000000"], ("--timeout", "at most")),
    (["verify", "local-label", CATS, "--delta", "0.01", "--x0", "10,2.5", "--memory", "1e30"], ("--memory",)),
    (["verify", "local-label", CATS, "--delta", "0.01", "--layers", "", "--x0", "10,2.5"], ("--layers", "at least one")),
    (["verify", "local-label", CATS, "--relative", "0.01", "--layers", "0", "--x0", "10,2.5"], ("--layers", "--delta only")),
    (["verify", "local-label", CATS, "--per-layer", "0.01,0.01", "--layers", "0", "--x0", "10,2.5"], ("--layers",)),
    (["verify", "local-label", CATS, "--quantize", "float16", "--layers", "0", "--x0", "10,2.5"], ("--layers",)),
    (["verify", "local-label", CATS, "--delta", "0.01", "--x0", "10,2.5", "--decision", "median"], ("--decision",)),
    (["export", "local-label", CATS, "--delta", "0.01", "--x0", "10,2.5", "-o", ""], ("-o/--output", ".smt2 file")),
    (["twins", "lrsm", TWIN, ATHLETES, "--x0", "1.8,80", "--radius", "0.1", "--ci", "one"], ("--ci",)),
])
def test_every_numeric_option_is_range_checked(capsys, argv, words):
    one_error_line(capsys, argv, *words)


def test_negative_values_need_no_equals_sign(capsys):
    assert joined_negatives(["verify", "--x0", "-0.3,1", "--domain", "-1:1,-2:2", "-v"]) == \
        ["verify", "--x0=-0.3,1", "--domain=-1:1,-2:2", "-v"]
    assert main(["verify", "local-label", CATS, "--delta", "0.01", "--x0", "-0.5,2.5"]) in (0, 1)
    assert main(["estimate", "global-sigma", CATS, "--delta", "0.005", "--domain", "-1:20.5,2.0:3.9"]) in (0, 3)
    out, err = capsys.readouterr()
    assert "class 1" in out and err == ""


def test_decision_option(capsys, tmp_path):
    """--decision picks the rule: logits (1, 0.999, 0.5) flip under argmax (margin 0.001) but not under argmin."""
    model = tmp_path / "three.npz"
    np.savez(model, W0=np.eye(3), b0=np.zeros(3), activations=np.array(["linear"]))
    query = ["verify", "local-label", str(model), "--delta", "0.01", "--x0", "1,0.999,0.5", "--json"]
    assert main(query + ["--decision", "argmax"]) == 1
    assert json.loads(capsys.readouterr().out)["query"]["decision"] == "argmax"
    assert main(query + ["--decision", "argmin"]) == 0
    assert json.loads(capsys.readouterr().out)["query"]["decision"] == "argmin"
    one_error_line(capsys, ["verify", "local-label", CATS, "--delta", "0.01", "--x0", "10,2.5", "--decision", "argmin"],
                   "argmin")   # one sigmoid unit has no smallest logit


def test_corner_analysis_is_named_only_where_it_ran(monkeypatch):
    """A non-decoupled perturbation decided by its interval bound is not an 'exact corner analysis'."""
    from smtnn.bounds import extreme_at

    rng = np.random.default_rng(5)
    net = Network.from_arrays([rng.normal(size=(4, 2)).tolist(), rng.normal(size=(4, 4)).tolist(), rng.normal(size=(1, 4)).tolist()],
                              [rng.normal(size=4).tolist(), rng.normal(size=4).tolist(), [5.0]], ["relu", "relu", "sigmoid"])
    pert = perturbation.uniform(net, "0.0001")
    x0 = [Fraction(1, 10), Fraction(1, 10)]
    assert not extreme_at(net, pert, x0, [-1]).exact
    result = properties.verify_local_label(net, pert, x0)
    assert result.verdict is Verdict.HOLDS
    assert "exact corner analysis" not in result.provenance.method
    monkeypatch.setattr(properties.float_first, "local_label", lambda *args: properties.float_first.Decision.nothing())
    decoupled = properties.verify_local_label(net, perturbation.subset(net, "0.0001", layers=[-1]), x0)
    assert "exact corner analysis" in decoupled.provenance.method


# -- outputs -----------------------------------------------------------------------------------
EXPORT = ["export", "local-label", CATS, "--delta", "0.01", "--x0", "10,2.5", "-o"]


def test_export_refuses_what_is_not_a_file(capsys, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    one_error_line(capsys, [*EXPORT, fifo], "not a regular file")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)          # it used to be replaced by a file
    loop = tmp_path / "loop.smt2"
    os.symlink(loop, loop)
    one_error_line(capsys, [*EXPORT, loop], "loop")


def test_export_writes_through_a_symlink(tmp_path):
    target, link = tmp_path / "target.smt2", tmp_path / "link.smt2"
    target.write_text("old")
    os.symlink(target, link)
    assert main([*EXPORT, str(link)]) == 0
    assert link.is_symlink() and target.read_text().startswith("; smtnn query")


@pytest.mark.parametrize("umask,mode", [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600)])
def test_output_files_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        assert main([*EXPORT, str(tmp_path / "q.smt2")]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "q.smt2").st_mode) == mode


def test_export_honours_its_timeout(tmp_path, monkeypatch):
    from smtnn import loaders

    monkeypatch.setattr(loaders, "load_network", slow_loader(60))
    tasks._NETWORKS.clear()
    start = time.perf_counter()
    code = main([*EXPORT, str(tmp_path / "q.smt2"), "--timeout", "0.5"])
    assert code == 3 and time.perf_counter() - start < 4 and not (tmp_path / "q.smt2").exists()


def test_stdout_is_only_json_and_stderr_one_line(tmp_path):
    """twins --json carried HiGHS's banner; float16 casts of large weights printed numpy warnings."""
    run = smtnn("twins", "lrsm", TWIN, ATHLETES, "--x0", "1.8,80", "--radius", "0.1", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["property"] == "lrsm" and run.stderr == ""
    model = tmp_path / "big.npz"
    save_npz(Network.from_arrays([[[1e6, 2.0]], ], [[0.1]], ["sigmoid"]), model)
    run = smtnn("verify", "local-label", model, "--quantize", "float16", "--x0", "1,1")
    assert run.returncode == 2 and len(run.stderr.splitlines()) == 1 and "float16" in run.stderr, run.stderr


# -- start-up ----------------------------------------------------------------------------------
def test_help_imports_no_solver_or_numeric_library():
    """`smtnn --help` used to import pysmt, z3, numpy and the engines (0.55 s); the benchmark's check says none now."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.startup import heavy_imports_of_help

    assert heavy_imports_of_help() == []
    run = smtnn("--help")
    assert run.returncode == 0 and "verify" in run.stdout and run.stderr == ""


def test_a_memory_capped_query_keeps_stderr_clean(tmp_path):
    """The memory cap is for the query's work: libraries load before it is set (OpenBLAS used to fail loudly under it)."""
    rng = np.random.default_rng(0)
    net = Network.from_arrays([rng.normal(size=(8, 2)).tolist(), rng.normal(size=(8, 8)).tolist(), rng.normal(size=(1, 8)).tolist()],
                              [rng.normal(size=8).tolist(), rng.normal(size=8).tolist(), rng.normal(size=1).tolist()],
                              ["relu", "relu", "sigmoid"])
    save_npz(net, tmp_path / "deep.npz")
    run = smtnn("verify", "global-sigma", tmp_path / "deep.npz", "--delta", "0.01", "--domain", "0:1,0:1", "--sigma", "0.1",
                "--memory", "24")
    assert run.returncode == 3 and "memory cap of 24 MB" in run.stdout and run.stderr == "", run.stdout + run.stderr


def test_python_queries_take_numbers_lists_and_paths():
    """From Python a query may hold numbers (a float is its binary value), fractions, lists and a domain as pairs."""
    as_text = Query("estimate", "global-sigma", CATS, {"delta": "0.005", "domain": "6.3:20.5,2.0:3.9"})
    as_values = Query("estimate", "global-sigma", (Path(CATS),), {"delta": Fraction(1, 200), "domain": [["6.3", "20.5"], ["2.0", "3.9"]]})
    assert as_values.models == as_text.models == (CATS,)
    assert as_values.options == {"delta": "1/200", "domain": "6.3:20.5,2.0:3.9"}
    assert {c: e.upper for c, e in as_values.run().items()} == {c: e.upper for c, e in as_text.run().items()}
    binary = Query("verify", "local-label", CATS, {"delta": 0.01, "x0": [10, 2.5]})
    assert Fraction(binary.options["delta"]) == Fraction(0.01) and binary.options["x0"] == "10,2.5"
    with pytest.raises(tasks.InvalidInputError, match="unknown option 'colour'"):
        Query("verify", "local-label", CATS, {"delta": "0.01", "x0": "1,1", "colour": "red"}).check()
