"""The benchmark command: ``python -m benchmarks.run [--quick] [--repeats 3] [--only SECTION ...] [--dreal-timeout S]``.

Run from the repository root.  Writes ``benchmarks.md``, ``benchmarks.json`` and ``scaling.png`` to
``--out`` (default ``benchmarks/results``) atomically, after every section; sections not run this time
are kept from the existing ``benchmarks.json`` there (each carries its own mode and date).  Progress
goes to stderr, the targets table to stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from . import common, report

SECTIONS = report.SECTIONS


def _now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def _previous(path: Path) -> dict:
    """The sections of an existing benchmarks.json (empty if there is none or it cannot be read)."""
    try:
        old = json.loads(path.read_text())
        return dict(old.get("sections", {})) if isinstance(old, dict) else {}
    except (OSError, ValueError):
        return {}


def _run_section(name: str, settings: common.Settings, sections: dict):
    if name == "table1":
        from . import table1
        return table1.run(settings)
    if name == "figures":
        from . import figures, table1
        rows = table1.bands(sections["table1"]["rows"]) if "table1" in sections and sections["table1"].get("meta", {}).get("fresh") \
            else table1.untimed_rows()
        return figures.run(settings, rows)
    if name == "twins":
        from . import twins
        return twins.run(settings)
    if name == "scaling":
        from . import scaling
        return scaling.run(settings)
    if name == "dreal":
        from . import dreal_baseline
        return dreal_baseline.run(settings)
    if name == "startup":
        from . import startup
        return startup.run(settings)
    raise KeyError(name)


def write(payload: dict, out: Path) -> None:
    """benchmarks.json, benchmarks.md and (when the scaling section exists) scaling.png, each written atomically."""
    payload["targets"] = [{"target": t, "measured": m, "pass": ok} for t, m, ok in report.targets(payload["sections"])]
    payload["speedups_over_dreal_bisection"] = report.speedups(payload["sections"])
    common.write_json(out / "benchmarks.json", payload)
    common.write_atomic(out / "benchmarks.md", report.markdown(payload))
    report.plot(payload, out / "scaling.png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and short timeouts (minutes); default: the full suite")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement, the median is reported (default 3)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, metavar="SECTION",
                        help=f"run only these sections ({', '.join(SECTIONS)}); default: all")
    parser.add_argument("--dreal-timeout", type=float, default=None, help="seconds per dReal run (default 60, quick 5)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per exact scaling run (default 60, quick 5)")
    parser.add_argument("--out", type=Path, default=common.RESULTS_DIR, help="output directory (default benchmarks/results)")
    args = parser.parse_args(argv)
    try:
        settings = common.settings(args.quick, args.repeats, dreal_timeout=args.dreal_timeout, timeout=args.timeout)
    except ValueError as err:
        parser.error(str(err))
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.run" + (" " + " ".join(sys.argv[1:] if argv is None else argv)).rstrip()
    run_id = uuid.uuid4().hex[:12]
    selected = [s for s in SECTIONS if args.only is None or s in args.only]
    sections = {k: v for k, v in _previous(args.out / "benchmarks.json").items() if k in SECTIONS}
    for stale in selected:
        sections.pop(stale, None)
    payload = {"command": command, "run_id": run_id, "written": _now(), "machine": common.machine(), "sections": sections}
    start = time.perf_counter()
    common.log(f"benchmarks ({settings.mode} mode, {settings.repeats} repeat(s)): {', '.join(selected)} -> {args.out}")
    for name in selected:
        t0 = time.perf_counter()
        result = _run_section(name, settings, sections)
        meta = {"mode": settings.mode, "repeats": settings.repeats, "seconds": time.perf_counter() - t0, "finished": _now(),
                "command": command, "run_id": run_id, "fresh": True, "settings": settings.as_json()}
        sections[name] = common.jsonable({**result, "meta": meta})
        payload["written"] = _now()
        write(payload, args.out)
        common.log(f"[{name}] {meta['seconds']:.1f} s")
    for section in sections.values():   # "fresh" only guides this run's figures section
        section.get("meta", {}).pop("fresh", None)
    payload["seconds"] = time.perf_counter() - start
    write(payload, args.out)
    print("| target | measured | |")
    for target, measured, ok in report.targets(sections):
        print(f"| {target} | {measured} | {report.verdict(ok)} |")
    print(f"wrote {args.out / 'benchmarks.md'}, {args.out / 'benchmarks.json'}"
          + (f", {args.out / 'scaling.png'}" if "scaling" in sections else "") + f" in {payload['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
