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
