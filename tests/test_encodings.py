"""The committed SMT-LIB queries are current, and z3 agrees with smtnn on every QF_NRA one."""
import json
from pathlib import Path

import pytest
import z3

from case_studies import export_encodings

ENCODINGS = Path(__file__).resolve().parent.parent / "encodings"
MANIFEST = json.loads((ENCODINGS / "manifest.json").read_text())


def test_encodings_are_not_stale(tmp_path):
    fresh = export_encodings.write(tmp_path)
    assert fresh == MANIFEST, "manifest is stale: run python -m case_studies.export_encodings"
    for record in fresh:
        assert (tmp_path / record["file"]).read_text() == (ENCODINGS / record["file"]).read_text(), (
            f"{record['file']} is stale: run python -m case_studies.export_encodings")


@pytest.mark.parametrize("record", [r for r in MANIFEST if r["dialect"] == "QF_NRA"], ids=lambda r: r["file"])
def test_z3_solves_exported_query_like_smtnn(record):
    solver = z3.Solver()
    solver.set("timeout", 120_000)
    solver.from_string((ENCODINGS / record["file"]).read_text())
    status = str(solver.check())
    assert record["expected_status"] in ("sat", "unsat")
    assert status == record["expected_status"], f"z3 says {status}, smtnn's engine says {record['smtnn_verdict']}"


def test_free_symbols_of_a_network_formula_cost_memory_linear_in_its_size():
    """The solver sessions declare a formula's symbols with :func:`symbols_in`; pySMT's get_free_variables keeps a set
    per subterm (about 95 MB on this 2 -> 64^4 -> 1 formula, gigabytes at 200k parameters).  Same symbols, little memory."""
    import tracemalloc

    import numpy as np

    from smtnn import Network, perturbation
    from smtnn.backends.base import symbols_in
    from smtnn.domain import Box
    from smtnn.encoder import Encoder

    rng = np.random.default_rng(0)
    sizes = [2, 64, 64, 64, 64, 1]
    net = Network.from_arrays(weights=[rng.normal(size=(b, a)) / 8 for a, b in zip(sizes, sizes[1:])],
                              biases=[rng.normal(size=b) * 0.1 for b in sizes[1:]],
                              activations=["relu"] * 4 + ["sigmoid"])
    encoder = Encoder(net, perturbation.uniform(net, "0.001"))
    x = net.check_input(["0.5", "-0.5"])
    logits = encoder.logits([encoder.real(v) for v in x], encoder.parameter_terms(encoder.parameter_symbols()),
                            Box(tuple(x), tuple(x)), [])
    tracemalloc.start()
    found = symbols_in(logits)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(found) == len(set(found))
    assert set(found) == set(logits[0].get_free_variables())
    assert peak < 5 * 2 ** 20, peak
