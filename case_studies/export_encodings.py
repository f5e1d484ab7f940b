"""Write the case studies' negated queries as SMT-LIB 2 files under encodings/, with a manifest.

Run from the repository root:  python -m case_studies.export_encodings
Each entry records the network, property, δ, domain or x0, threshold, dialect, and the verdict
smtnn's own engine gives (the tests check z3 reaches the same answer on the QF_NRA files).
"""
from __future__ import annotations

import argparse
import json
import math
from fractions import Fraction
from pathlib import Path

from smtnn import perturbation as perturbations
from smtnn import properties
from smtnn.domain import Box
from smtnn.export import negated_query, to_smtlib, write_atomically

from case_studies.models import domain, load_case_study

NETWORKS = ("cats", "athletes_relu", "athletes_linear")
DELTAS = ("0.005", "0.01")
ROOT = Path(__file__).resolve().parent.parent / "encodings"


def _round_up(value: Fraction, digits: int = 4) -> str:
    scale = 10 ** digits
    return str(Fraction(math.ceil(value * scale), scale))


def entries():
    """(file name, query text, manifest record) for every exported query."""
    for name in NETWORKS:
        net = load_case_study(name)
        lower, upper = domain(name)
        box = Box(tuple(lower), tuple(upper))
        centre = [str((Fraction(lo) + Fraction(hi)) / 2) for lo, hi in zip(lower, upper)]
        for delta in DELTAS:
            pert = perturbations.uniform(net, delta)
            sigma = properties.global_sigma(net, pert, box)
            sigma_bound = _round_up(max(e.upper for e in sigma.values()))
            eps = properties.global_epsilon(net, pert, box)
            eps_bound = _round_up(eps.upper)
            local = properties.local_epsilon(net, pert, centre)
            local_bound = _round_up(local.upper)
            jobs = [
                ("global-label", {}, properties.verify_global_label(net, pert, box)),
                ("global-sigma", {"sigma": sigma_bound}, properties.verify_global_sigma(net, pert, box, sigma_bound)),
                ("global-epsilon", {"epsilon": eps_bound}, properties.verify_global_epsilon(net, pert, box, eps_bound)),
                ("local-epsilon", {"epsilon": local_bound, "x0": centre},
                 properties.verify_local_epsilon(net, pert, centre, local_bound)),
                ("local-label", {"x0": centre}, properties.verify_local_label(net, pert, centre)),
            ]
            for prop, extra, verdict in jobs:
                kwargs = dict(extra)
                x0 = kwargs.pop("x0", None)
                query = negated_query(prop, net, pert, x0=x0, domain=box, **kwargs)
                text = to_smtlib(query)
                dialect = "dreal" if "dialect: dReal" in text else "QF_NRA"
                file = f"{name}_delta{delta}_{prop}.smt2"
                record = {"file": file, "network": name, "property": prop, "delta": delta,
                          "domain": {"lower": list(lower), "upper": list(upper)}, "dialect": dialect,
                          "smtnn_verdict": verdict.verdict.value,
                          "expected_status": {"holds": "unsat", "violated": "sat"}.get(verdict.verdict.value, "unknown")}
                record.update(extra)
                yield file, text, record


def write(directory: Path = ROOT) -> list[dict]:
    directory.mkdir(parents=True, exist_ok=True)
    manifest = []
    for file, text, record in entries():
        write_atomically(directory / file, text)
        manifest.append(record)
    write_atomically(directory / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="directory to write (default: encodings/)")
    args = parser.parse_args(argv)
    manifest = write(args.out)
    print(f"wrote {len(manifest)} queries and manifest.json to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
