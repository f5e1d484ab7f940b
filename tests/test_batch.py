"""Batches: identical results serially, on local processes and on Dask; resume after an interruption; timeouts and
memory caps end a query UNKNOWN with its reason; bad input to `smtnn batch` is one error line and exit code 2."""
from __future__ import annotations

import json
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from smtnn import Network, batch
from smtnn.child import DONE, MEMORY, TIMEOUT, run_in_child
from smtnn.cli import main
from smtnn.tasks import Query, Task
from smtnn.loaders import save_npz
from smtnn.result import Verdict

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # case_studies/ is not an installed package
    sys.path.insert(0, str(ROOT))
MODELS = ROOT / "case_studies" / "models"
CATS = str(MODELS / "cats.h5")
ATHLETES = str(MODELS / "athletes_relu.h5")
CATS_DOMAIN = [[6.3, 20.5], [2.0, 3.9]]


def cats_queries() -> list[dict]:
    """Twelve small, independent queries on the cats classifier."""
    local = [{"command": "verify", "property": "local-label", "model": CATS, "delta": d, "x0": x}
             for d in ("0.005", "0.01") for x in ([7.5, 2.5], [8, 2.4], [14.3, 3.1])]
    eps = [{"command": "estimate", "property": "local-epsilon", "model": CATS, "delta": "0.01", "x0": x}
           for x in ([10, 2.5], [20, 3.8])]
    return local + eps + [
        {"command": "verify", "property": "local-epsilon", "model": CATS, "delta": "0.01", "x0": "12,2.9", "epsilon": "0.02"},
        {"command": "verify", "property": "global-label", "model": CATS, "delta": "0.005", "domain": CATS_DOMAIN},
        {"command": "estimate", "property": "global-sigma", "model": CATS, "delta": "0.005", "domain": CATS_DOMAIN},
        {"command": "estimate", "property": "global-epsilon", "model": CATS, "relative": "0.01", "domain": "6.3:20.5,2.0:3.9"},
    ]


def without_timings(value):
    """A result line without its seconds: what must be identical from run to run."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if "seconds" not in k}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def file_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class Counting:
    """Counts run_query calls (serial runs only: the calls happen in this process)."""

    def __init__(self, monkeypatch, interrupt_after: int | None = None):
        self.calls, self.interrupt_after = 0, interrupt_after
        original = batch.run_query

        def counted(*args, **kwargs):
            if self.interrupt_after is not None and self.calls == self.interrupt_after:
                raise KeyboardInterrupt
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(batch, "run_query", counted)


# -- identical results whatever runs them ---------------------------------------------------
@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    path = tmp_path_factory.mktemp("serial") / "results.jsonl"
    return path, batch.run_batch(cats_queries(), path, workers=1, progress=False)


def test_serial_batch_answers_every_query(serial):
    path, lines = serial
    queries = cats_queries()
    assert len(lines) == len(queries) == len(file_lines(path))
    assert [line["query"]["property"] for line in lines] == [q["property"] for q in queries]
    assert {line["status"] for line in lines} <= {"holds", "violated", "converged"}
    flips = {tuple(line["query"]["x0"].split(",")): line["status"] for line in lines if line["query"]["property"] == "local-label"}
    assert set(flips.values()) == {"holds", "violated"}   # the batch covers both answers
    sigma = lines[-2]["result"]
    assert set(sigma) == {"0", "1"} and all(r["converged"] for r in sigma.values())


def test_two_local_workers_give_the_serial_results(serial, tmp_path):
    path, lines = serial
    parallel = batch.run_batch(cats_queries(), tmp_path / "results.jsonl", workers=2, progress=False)
    assert without_timings(parallel) == without_timings(lines)
    by_key = lambda rows: sorted(without_timings(rows), key=lambda row: row["key"])
    assert by_key(file_lines(tmp_path / "results.jsonl")) == by_key(file_lines(path))


def test_dask_cluster_gives_the_serial_results(serial, tmp_path):
    import distributed   # part of the test extra (dask[distributed]); a missing install fails here, it is not skipped
    _, lines = serial
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        on_dask = batch.run_batch(cats_queries(), tmp_path / "results.jsonl", scheduler=cluster.scheduler_address, progress=False)
    assert without_timings(on_dask) == without_timings(lines)
    assert without_timings(batch.load_batch(cats_queries(), tmp_path / "results.jsonl")) == without_timings(lines)


def test_twins_queries_run_in_a_batch(tmp_path):
    twin = str(MODELS.parent / "twins" / "models" / "athletes_relu_int8.h5")
    queries = [{"command": "twins", "property": p, "first": twin, "second": ATHLETES, "x0": [1.8, 80], "radius": r}
               for p in ("lrsm", "decisions") for r in ("0.1", "0.5")]
    serial = batch.run_batch(queries, tmp_path / "a.jsonl", workers=1, progress=False)
    parallel = batch.run_batch(queries, tmp_path / "b.jsonl", workers=2, progress=False)
    assert without_timings(serial) == without_timings(parallel)
    assert [(line["result"]["kind"], line["result"]["property"]) for line in serial] == \
        [("estimate", "lrsm")] * 2 + [("verification", "decisions")] * 2
    assert {line["status"] for line in serial} <= {"converged", "holds", "violated"}


def test_figures_batch_matches_direct_calls():
    """case_studies.figures runs its local queries as a batch; the answers are those of the direct Python calls."""
    from case_studies import figures
    from case_studies.models import load_case_study
    from smtnn import perturbation, properties

    rows = [{"network": "cats", "delta": d, "quantity": q, "upper": Fraction(1, 2)}
            for d in figures.DELTAS for q in ("epsilon", "sigma_male", "sigma_female")]
    points = figures.random_points("cats", 12, seed=3)
    analysis = figures.analyse("cats", points, rows, workers=2)
    network = load_case_study("cats")
    for delta in figures.DELTAS:
        pert = perturbation.uniform(network, delta)
        eps = [properties.local_epsilon(network, pert, x) for x in points]
        assert analysis[delta]["epsilon"].tolist() == [float(e.upper) for e in eps]
        assert analysis[delta]["epsilon_gap_max"] == float(max(e.gap for e in eps))
        assert analysis[delta]["verdicts"] == [properties.verify_local_label(network, pert, x).verdict for x in points]


def test_keys_follow_the_exact_values():
    """JSON numbers are exact decimals, like on the command line; a Python float is its binary value."""
    as_text = batch.normalize({"command": "verify", "property": "local-label", "model": CATS, "delta": "0.01", "x0": "10,2.5"})
    from_json = batch.normalize(json.loads(f'{{"command": "verify", "property": "local-label", "model": "{CATS}", '
                                           '"delta": 0.01, "x0": [10, 2.5]}', parse_float=str))
    assert batch.query_key(as_text) == batch.query_key(from_json)
    binary = batch.normalize({"command": "verify", "property": "local-label", "model": CATS, "delta": 0.01, "x0": [10, 2.5]})
    assert Fraction(binary["delta"]) == Fraction(0.01) != Fraction("0.01")
    assert batch.query_key(binary) != batch.query_key(as_text)


# -- interruption and resume ----------------------------------------------------------------
def test_an_interrupted_batch_keeps_its_lines_and_resumes(tmp_path, monkeypatch):
    queries, path = cats_queries()[:8], tmp_path / "results.jsonl"
    counter = Counting(monkeypatch, interrupt_after=3)
    with pytest.raises(batch.BatchInterrupted) as stopped:
        batch.run_batch(queries, path, workers=1, progress=False)
    assert (stopped.value.done, stopped.value.total) == (3, 8) and "resume" in str(stopped.value)
    assert len(file_lines(path)) == 3
    counter.interrupt_after, counter.calls = None, 0
    lines = batch.run_batch(queries, path, workers=1, progress=False)
    assert counter.calls == 5                      # only the missing queries ran
    assert len(file_lines(path)) == 8 and [line["key"] for line in lines] == [batch.query_key(batch.normalize(q)) for q in queries]


def test_a_torn_last_line_is_recomputed(tmp_path, monkeypatch):
    queries, path = cats_queries()[:4], tmp_path / "results.jsonl"
    batch.run_batch(queries, path, workers=1, progress=False)
    text = path.read_text()
    path.write_text(text[: len(text) - 40])        # a crash in the middle of the last line
    counter = Counting(monkeypatch)
    lines = batch.run_batch(queries, path, workers=1, progress=False)
    assert counter.calls == 1
    assert len(file_lines(path)) == 4 and len({line["key"] for line in lines}) == 4


def test_cli_interrupt_prints_one_line_and_exits_130(tmp_path, monkeypatch, capsys):
    queries = tmp_path / "queries.jsonl"
    queries.write_text("\n".join(json.dumps(q) for q in cats_queries()[:5]) + "\n")
    Counting(monkeypatch, interrupt_after=2)
    code = main(["batch", str(queries), "--out", str(tmp_path / "out.jsonl"), "--workers", "1", "--no-progress"])
    _, err = capsys.readouterr()
    assert code == 130
    assert err.splitlines() == [f"smtnn: interrupted: 2 of 5 queries done (kept in {tmp_path / 'out.jsonl'}); "
                                "run the same batch again to resume"]


# -- timeouts and memory caps ---------------------------------------------------------------
def test_a_slow_query_ends_unknown_at_its_timeout(tmp_path):
    slow = {"command": "estimate", "property": "global-epsilon", "model": ATHLETES, "delta": "0.01",
            "domain": "1.21:2.18,31:170", "tolerance": "1e-30"}      # the gap cannot close: the search runs until stopped
    start = time.perf_counter()
    [line] = batch.run_batch([slow], tmp_path / "results.jsonl", timeout=1, progress=False)
    assert time.perf_counter() - start < 6
    assert line["status"] == "unknown" and "timeout" in line["result"]["reason"]
    low, high = line["result"]["bounds"]
    assert 0.4 < low <= high < 0.5                  # the bounds reached so far


def test_a_hung_query_is_killed_at_its_timeout(monkeypatch):
    query = Query("verify", "local-label", (CATS,), {"delta": "0.01", "x0": "10,2.5", "timeout": "0.5"})
    monkeypatch.setattr(Task, "compute", lambda self: time.sleep(60))
    start = time.perf_counter()
    result = query.run()
    assert time.perf_counter() - start < 0.5 + 2 + 1.5
    assert result.verdict is Verdict.UNKNOWN and result.reason.startswith("timeout")


def deep_network() -> Network:
    """2-8-8-1 ReLU with every layer perturbed: the parametric (bilinear) encoding, heavy for Z3."""
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(8, 2)), rng.normal(size=(8, 8)), rng.normal(size=(1, 8))]
    biases = [rng.normal(size=8), rng.normal(size=8), rng.normal(size=1)]
    return Network.from_arrays([w.tolist() for w in weights], [b.tolist() for b in biases], ["relu", "relu", "sigmoid"])


def test_a_memory_cap_ends_heavy_queries_unknown(tmp_path, capsys):
    model = tmp_path / "deep.npz"
    save_npz(deep_network(), model)
    heavy = [{"command": "verify", "property": "global-sigma", "model": str(model), "delta": "0.01", "domain": "0:1,0:1",
              "sigma": "0.1"},                                       # Z3 (nlsat) needs well over 24 MB here
             {"command": "estimate", "property": "global-epsilon", "model": ATHLETES, "delta": "0.01",
              "domain": "1.21:2.18,31:170", "tolerance": "1e-30"}]   # boxes without end
    lines = batch.run_batch(heavy, tmp_path / "results.jsonl", memory_mb=24, workers=1, progress=False)
    for line in lines:
        assert line["status"] == "unknown", line
        assert "memory cap of 24 MB" in line["result"]["reason"], line["result"]["reason"]
    assert "box limit" in lines[1]["result"]["reason"] and lines[1]["result"]["bounds"][0] > 0.4
    code = main(["verify", "global-sigma", str(model), "--delta", "0.01", "--domain", "0:1,0:1", "--sigma", "0.1", "--memory", "24"])
    out, err = capsys.readouterr()
    assert code == 3 and "memory cap of 24 MB" in out and "Traceback" not in out + err


def test_the_child_process_limits():
    assert run_in_child(sum, [1, 2, 3]).value == 6
    assert run_in_child(time.sleep, 30, timeout=0.3).status == TIMEOUT
    assert run_in_child(bytearray, 512 << 20, memory_mb=64).status == MEMORY
    assert run_in_child(len, bytearray(1 << 20), memory_mb=64).status == DONE


# -- bad input ------------------------------------------------------------------------------
def error_line(capsys, argv, *words) -> str:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (argv, out, err)
    assert "Traceback" not in out + err
    assert len(err.splitlines()) == 1 and err.startswith("smtnn: error: "), err
    for word in words:
        assert word in err, err
    return err


GOOD = {"command": "verify", "property": "local-label", "model": CATS, "delta": "0.01", "x0": [10, 2.5]}


@pytest.mark.parametrize("lines, words", [
    ([json.dumps(GOOD), '{"command": "verify", "property": "local-label", '], ("line 2", "not valid JSON")),
    ([json.dumps(GOOD), json.dumps({**GOOD, "property": "local-labl"})], ("line 2", "unknown property 'local-labl'")),
    (["", json.dumps({**GOOD, "colour": "red"})], ("line 2", "unknown field 'colour'")),
    ([json.dumps({**GOOD, "command": "check"})], ("'command'",)),
    ([json.dumps({k: v for k, v in GOOD.items() if k != "x0"})], ("x0",)),
    ([json.dumps({**GOOD, "delta": True})], ("delta",)),
    ([json.dumps({**GOOD, "memory": "lots"})], ("--memory",)),
    (["[1, 2]"], ("JSON object",)),
    ([""], ("no queries",)),
])
def test_bad_query_files(tmp_path, capsys, lines, words):
    queries, out = tmp_path / "queries.jsonl", tmp_path / "out.jsonl"
    queries.write_text("\n".join(lines) + "\n")
    error_line(capsys, ["batch", queries, "--out", out, "--no-progress"], *words)
    assert not out.exists()


def test_bad_batch_options(tmp_path, capsys):
    queries, out = tmp_path / "queries.jsonl", tmp_path / "out.jsonl"
    queries.write_text(json.dumps(GOOD) + "\n")
    error_line(capsys, ["batch", tmp_path / "missing.jsonl", "--out", out], "cannot read")
    error_line(capsys, ["batch", queries, "--out", tmp_path / "no" / "out.jsonl"], "no such directory")
    error_line(capsys, ["batch", queries, "--out", tmp_path], "directory")
    error_line(capsys, ["batch", queries, "--out", queries], "queries file")
    error_line(capsys, ["batch", queries, "--out", out, "--workers", "0"], "--workers")
    error_line(capsys, ["batch", queries, "--out", out, "--timeout", "-1"], "--timeout")
    error_line(capsys, ["batch", queries, "--out", out, "--memory", "0"], "--memory")
    assert not out.exists()
    out.write_text('{"key": "k", "status": "holds", "result": {}, "query": {}}\nnot a result\n' + json.dumps({"key": "j", "result": 1}) + "\n")
    before = out.read_text()
    error_line(capsys, ["batch", queries, "--out", out], "line 2", "not a result line")
    assert out.read_text() == before


def test_batch_cli_summary_and_exit_code(tmp_path, capsys):
    queries, out = tmp_path / "queries.jsonl", tmp_path / "out.jsonl"
    queries.write_text("\n".join(json.dumps(q) for q in cats_queries()[:6]) + "\n")
    assert main(["batch", str(queries), "--out", str(out), "--workers", "1", "--no-progress"]) == 1   # some label flips
    assert capsys.readouterr().out.strip().startswith("6 queries: ")
    assert main(["batch", str(queries), "--out", str(out), "--no-progress"]) == 1                     # resumed: nothing ran
    assert len(file_lines(out)) == 6


# -- reliability: unreadable models, limits in the key, retries, one writer, kill -9 ------------------
def test_an_unreadable_model_is_that_querys_error_and_the_rest_run(tmp_path, capsys):
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    queries = [GOOD, {**GOOD, "model": str(tmp_path / "missing.h5")}, {**GOOD, "model": str(damaged)}, {**GOOD, "delta": "0.005"}]
    lines = batch.run_batch(queries, tmp_path / "out.jsonl", workers=1, progress=False)
    assert [line["status"] for line in lines] == ["holds", "error", "error", "holds"]
    assert "missing.h5" in lines[1]["result"]["error"] and "damaged.h5" in lines[2]["result"]["error"]
    path = tmp_path / "queries.jsonl"
    path.write_text("\n".join(json.dumps(q) for q in queries) + "\n")
    assert main(["batch", str(path), "--out", str(tmp_path / "cli.jsonl"), "--workers", "1", "--no-progress"]) == 2
    assert capsys.readouterr().out.startswith("4 queries: 2 holds, 2 error")


def test_batch_limits_are_part_of_the_key(tmp_path, monkeypatch):
    """A re-run with a larger budget used to return the old timeouts: the batch's limits are now in each key."""
    queries, path = cats_queries()[:3], tmp_path / "results.jsonl"
    counter = Counting(monkeypatch)
    batch.run_batch(queries, path, workers=1, progress=False, timeout=30)
    batch.run_batch(queries, path, workers=1, progress=False, timeout=30)
    assert counter.calls == 3
    lines = batch.run_batch(queries, path, workers=1, progress=False, timeout=60, memory_mb=2000)
    assert counter.calls == 6
    assert all(line["query"]["timeout"] == "60" and line["query"]["memory"] == "2000" for line in lines)
    own = [{**q, "timeout": 5} for q in queries]      # a query's own timeout wins over the batch's
    assert [line["query"]["timeout"] for line in batch.run_batch(own, path, workers=1, progress=False, timeout=60)] == ["5"] * 3


def test_errors_are_retried_on_request(tmp_path, monkeypatch):
    model = tmp_path / "model.h5"
    model.write_bytes(b"not a model")
    queries, path = [{**GOOD, "model": str(model)}, GOOD], tmp_path / "results.jsonl"
    counter = Counting(monkeypatch)
    assert [line["status"] for line in batch.run_batch(queries, path, workers=1, progress=False)] == ["error", "holds"]
    batch.run_batch(queries, path, workers=1, progress=False)
    assert counter.calls == 2                       # a cached error stays cached ...
    lines = batch.run_batch(queries, path, workers=1, progress=False, retry_errors=True)
    assert counter.calls == 3                       # ... until --retry-errors runs it again (only it)
    assert lines[0]["status"] == "error" and len(file_lines(path)) == 3
    model.write_bytes(Path(CATS).read_bytes())      # a repaired model is a new key: it runs without asking
    assert batch.run_batch(queries, path, workers=1, progress=False)[0]["status"] == "holds" and counter.calls == 4


def test_a_second_batch_on_the_same_results_file_is_refused(tmp_path, capsys):
    import fcntl

    queries, out = tmp_path / "queries.jsonl", tmp_path / "out.jsonl"
    queries.write_text(json.dumps(GOOD) + "\n")
    with open(out, "a") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)   # another batch is writing it
        error_line(capsys, ["batch", queries, "--out", out, "--no-progress"], "in use by another smtnn batch")
    assert out.read_text() == ""
    assert main(["batch", str(queries), "--out", str(out), "--no-progress"]) == 0


def test_batch_output_only_to_regular_files(tmp_path, capsys):
    queries, fifo = tmp_path / "queries.jsonl", tmp_path / "fifo"
    queries.write_text(json.dumps(GOOD) + "\n")
    import os

    os.mkfifo(fifo)
    error_line(capsys, ["batch", queries, "--out", fifo, "--no-progress"], "not a regular file")
    error_line(capsys, ["batch", queries, "--out", "", "--no-progress"], "empty")


SLOW = [{"command": "estimate", "property": "global-epsilon", "model": ATHLETES, "delta": d, "domain": "1.21:2.18,31:170",
         "tolerance": "1e-30", "timeout": "0.7"} for d in ("0.01", "0.011", "0.012", "0.013", "0.014", "0.015", "0.016", "0.017")]


def descendants(pid: int) -> set[int]:
    """Every process below pid (from /proc)."""
    import os

    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, set()).add(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def batch_process(queries: Path, out: Path, *extra):
    import os
    import subprocess

    return subprocess.Popen([sys.executable, "-m", "smtnn", "batch", str(queries), "--out", str(out), "--workers", "2",
                             "--no-progress", *extra], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_chaos_kill_9_at_random_moments_then_resume(tmp_path):
    """kill -9 of the batch leaves no worker or query process, and each resume gives every key exactly once."""
    import os
    import random
    import signal

    queries, out = tmp_path / "queries.jsonl", tmp_path / "out.jsonl"
    queries.write_text("\n".join(json.dumps(q) for q in SLOW) + "\n")
    rng = random.Random(7)
    for _ in range(3):
        process = batch_process(queries, out)
        time.sleep(rng.uniform(0.8, 2.5))
        below = descendants(process.pid)
        process.send_signal(signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 5
        while any(alive(p) for p in below) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in below if alive(p)], "processes outlived the killed batch"
    process = batch_process(queries, out)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 3, stderr                      # every query ends unknown at its timeout
    keys = [line["key"] for line in file_lines(out)]
    assert len(keys) == len(set(keys)) == len(SLOW)
    assert sorted(keys) == sorted(batch.query_key(batch.normalize(q)) for q in SLOW)


def test_chaos_two_writers_on_one_results_file(tmp_path):
    queries, out = tmp_path / "queries.jsonl", tmp_path / "out.jsonl"
    queries.write_text("\n".join(json.dumps(q) for q in SLOW[:4]) + "\n")
    first, second = batch_process(queries, out), batch_process(queries, out)
    results = [p.communicate(timeout=120) + (p.returncode,) for p in (first, second)]
    refused = [r for r in results if r[2] == 2]
    assert len(refused) <= 1 and all("in use by another smtnn batch" in r[1] and len(r[1].splitlines()) == 1 for r in refused)
    keys = [line["key"] for line in file_lines(out)]
    assert len(keys) == len(set(keys)) == 4                      # no query ran twice


def test_custom_runner_keys_include_the_batch_limits(tmp_path):
    queries = [{"n": 1}, {"n": 2}]
    plain = [line["key"] for line in batch.run_batch(queries, tmp_path / "a.jsonl", workers=1, progress=False, runner=echo)]
    limited = [line["key"] for line in batch.run_batch(queries, tmp_path / "b.jsonl", workers=1, progress=False, runner=echo,
                                                       timeout=30)]
    assert len(set(plain) | set(limited)) == 4


def echo(query: dict) -> dict:
    return dict(query)
