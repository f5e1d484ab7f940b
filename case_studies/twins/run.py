"""The twins case study: ``python -m case_studies.twins.run`` (from the repository root).

Digits: the 64-64 ReLU MLP and its five twins (pruned 50/80 %, int8/int4, distilled), for the
first ``--inputs`` test inputs and every radius: the exact worst-class LRSM, the relaxation's
bound and decision preservation, with a timeout per query.  Athletes: the 2-3-1 ReLU MLP against
its int8 and int4 twins on its domain.  Writes ``twins.md``, ``twins.json``,
``twins_digits.png`` and ``twins_athletes.png`` to ``--out`` (default case_studies/results);
``--report-only`` re-renders them from an existing ``twins.json`` (the athletes part is recomputed).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from case_studies.twins import digits, experiment, report
from smtnn import batch

RADII = ("0.01", "0.02", "0.05")


def digits_rows(args, out: Path) -> tuple[list[dict], dict]:
    """Run every (twin, radius, input) query as one batch on `args.workers` processes; the rows and the set-up description.

    Rows are kept in ``.twins_digits.jsonl`` under `out` as they finish, so an interrupted run resumes;
    the file is removed once every row is in.
    """
    radii = [r.strip() for r in args.radii.split(",") if r.strip()]
    twins = [t.strip() for t in args.twins.split(",") if t.strip()]
    tasks = [{"twin": t, "radius": r, "index": i, "timeout": args.timeout} for r in radii for i in range(args.inputs) for t in twins]
    tasks.sort(key=lambda task: -float(task["radius"]))          # the slow radius first, for balance
    start = time.perf_counter()
    progress_file = out / ".twins_digits.jsonl"
    lines = batch.run_batch(tasks, progress_file, workers=max(1, args.workers), runner=experiment.row, progress="digits")
    rows = [line["result"] for line in lines]
    progress_file.unlink()
    setup = {
        "reference": f"`{digits.REFERENCE}`: 64-64 ReLU MLP, softmax output, scikit-learn MLPClassifier (adam, seed {digits.SEED}) "
                     "on load_digits scaled to [0, 1] (70/30 stratified split, seed 0)",
        "roles": "N1 = the twin, N2 = the reference; ci = the reference's class at x; cj = every other class (worst reported)",
        "inputs": f"the first {args.inputs} test inputs; radii {', '.join(radii)}; balls clipped to [0, 1]",
        "timeout": f"{args.timeout:g} s for the worst-class LRSM search of one input, and again for its decision-preservation query",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {args.workers} worker processes",
        "wall time": f"digits {time.perf_counter() - start:.0f} s",
    }
    return rows, setup


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m case_studies.twins.run", description=__doc__.splitlines()[0])
    p.add_argument("--inputs", type=int, default=50, help="test inputs (the first n of the test split)")
    p.add_argument("--radii", default=",".join(RADII), help="comma-separated radii")
    p.add_argument("--twins", default=",".join(digits.TWINS), help="comma-separated twins")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds per query (LRSM search; decisions)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes")
    p.add_argument("--retrain", action="store_true", help="retrain the digits networks even if saved")
    p.add_argument("--no-athletes", action="store_true")
    p.add_argument("--report-only", action="store_true", help="re-render twins.md and the figures from twins.json")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "results"))
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": "twins.json", "digits_png": "twins_digits.png", "athletes_png": "twins_athletes.png"}
    if args.report_only:
        saved = json.loads((out / files["json"]).read_text())
        models, rows, setup = saved["models"], saved["rows"], saved["setup"]
    else:
        if args.retrain or not all(digits.path(n).exists() for n in [digits.REFERENCE, *digits.TWINS]):
            digits.main([])
        models = json.loads((digits.MODEL_DIR / "models.json").read_text())
        try:
            rows, setup = digits_rows(args, out)
        except batch.BatchInterrupted as err:
            print(f"interrupted: {err}", file=sys.stderr)
            return 130
    rows.sort(key=lambda r: (report.SCHEME_ORDER.index(r["twin"]), float(r["radius"]), r["index"]))
    summary = report.aggregate(rows)
    report.digits_figure(rows, summary, out / files["digits_png"])
    athletes = None
    if not args.no_athletes:
        from case_studies.twins import athletes as ath

        t0 = time.perf_counter()
        data = ath.run(args.timeout)
        ath.figure(data, out / files["athletes_png"])
        athletes = {k: {"whole_domain": v["whole_domain"], "cells": v["cells"]} for k, v in data["results"].items()}
        setup["wall time"] = setup["wall time"].split(", athletes")[0] + f", athletes {time.perf_counter() - t0:.1f} s"
    report.write_json(out / files["json"], {"setup": setup, "models": models, "summary": summary,
                                            "ranking": report.ranking(summary), "athletes": athletes, "rows": rows})
    (out / "twins.md").write_text(report.markdown(setup, models, rows, summary, athletes, files))
    print(f"wrote {out / 'twins.md'}, {out / files['json']}, {out / files['digits_png']}" +
          ("" if athletes is None else f", {out / files['athletes_png']}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
