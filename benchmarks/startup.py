"""Start-up: how long `smtnn --help` and a 1 ms query take as whole processes, and which heavy modules `--help` imports.

Each command runs `repeats` times (at least 5) after one warm-up; the median wall and CPU seconds
(user + system, the children's own accounting) are reported beside the bare interpreter
(`python -c pass`), which no change to smtnn can make faster.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

from . import common

HEAVY = ("pysmt", "z3", "numpy", "scipy", "highspy", "mpmath", "h5py", "onnx", "smtnn.properties")
CATS = str(common.ROOT / "case_studies" / "models" / "cats.h5")
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "smtnn --help": [sys.executable, "-m", "smtnn", "--help"],
    "smtnn verify local-label (cats)": [sys.executable, "-m", "smtnn", "verify", "local-label", CATS, "--delta", "0.01",
                                        "--x0", "10,2.5"],
}
TARGET_SECONDS = 0.2


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(common.ROOT), os.environ.get("PYTHONPATH", "")]))}


def _timed(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of argv."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=_env(), cwd=common.ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_imports_of_help() -> list[str]:
    """The heavy top-level modules `smtnn --help` imports (from `python -X importtime`)."""
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "smtnn", "--help"], env=_env(), cwd=common.ROOT,
                         capture_output=True, text=True, check=True)
    names = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
    return sorted(h for h in HEAVY if h in names)


def run(settings: common.Settings) -> dict:
    repeats = max(5, settings.repeats)
    rows = []
    for label, argv in COMMANDS.items():
        _timed(argv)   # warm-up: the file cache
        runs = [_timed(argv) for _ in range(repeats)]
        rows.append({"command": label, "runs": repeats, "wall_seconds": common.median([w for w, _ in runs]),
                     "cpu_seconds": common.median([c for _, c in runs])})
        common.log(f"[startup] {label}: median {rows[-1]['wall_seconds']:.3f} s wall, {rows[-1]['cpu_seconds']:.3f} s CPU")
    help_row = next(r for r in rows if r["command"] == "smtnn --help")
    heavy = heavy_imports_of_help()
    return {"rows": rows, "heavy_imports_of_help": heavy, "target_seconds": TARGET_SECONDS,
            "pass": help_row["wall_seconds"] < TARGET_SECONDS and not heavy}
