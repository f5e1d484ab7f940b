"""Smoke test of the benchmark suite: the quick Table 1 section runs end to end and writes its results (no dReal needed)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ and case_studies/ are not installed packages
    sys.path.insert(0, str(ROOT))


def test_quick_table1_writes_12_certified_rows(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    done = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--only", "table1", "--repeats", "1",
                           "--out", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    payload = json.loads((tmp_path / "benchmarks.json").read_text())
    rows = payload["sections"]["table1"]["rows"]
    assert len(rows) == 12
    assert {(r["network"], r["delta"], r["quantity"]) for r in rows} == {
        (n, d, q) for n in ("cats", "athletes_relu", "athletes_linear") for d in ("0.005", "0.01") for q in ("epsilon", "sigma")}
    for r in rows:
        assert r["gap_ok"] and r["gap"] <= 1e-6, (r["network"], r["delta"], r["quantity"], r["gap"])
        assert all(v["lower"] <= v["upper"] for v in r["values"])
        assert r["seconds"] > 0
    assert payload["machine"]["cores"] >= 1 and payload["machine"]["versions"]["z3"]
    text = (tmp_path / "benchmarks.md").read_text()
    assert "## Table 1" in text and "## Machine" in text
    assert not list(tmp_path.glob(".*.tmp"))   # atomic writes leave no temporary files


def test_a_hanging_child_is_killed_with_its_last_bounds():
    from benchmarks.dreal_baseline import in_child

    def work(send):
        send({"lower": 0, "upper": 1, "calls": 0})
        time.sleep(60)

    out = in_child(work, 1.0)
    assert out["status"] == "timeout" and out["upper"] == 1 and out["calls"] == 0


def test_published_network_converter_matches_the_onnx_reference_evaluator():
    """The benchmark-only ONNX converter gives the logits onnx's own reference evaluator computes (ACAS Xu negated)."""
    import numpy as np
    import onnx
    from onnx.reference import ReferenceEvaluator

    from benchmarks.published import DATA, acas_points, load_chain, mnist_images

    cases = [(DATA / "mnistfc" / "mnist-net_256x2.onnx", False, mnist_images()[0], (1, 784, 1)),
             (DATA / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx", True, acas_points(1)[0], (1, 1, 1, 5))]
    for path, negate, x, shape in cases:
        model = onnx.load(str(path))
        name = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}][0]
        ref = ReferenceEvaluator(model).run(None, {name: x.reshape(shape).astype(np.float32)})[0].reshape(-1)
        net = load_chain(path, negate_output=negate)
        ours = net.logits(x)
        assert np.allclose(-ours if negate else ours, ref, rtol=1e-4, atol=1e-4)
