"""Shared pieces of the benchmarks: run settings (quick/full), repeated timing, the machine, JSON and atomic writes."""
from __future__ import annotations

import dataclasses
import enum
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
TOLERANCE = Fraction(1, 10 ** 6)


@dataclass(frozen=True)
class Settings:
    """What one run measures; :func:`settings` fills it for the quick or the full mode."""

    mode: str                      # "quick" or "full"
    repeats: int                   # timed runs per measurement (the median is reported)
    tolerance: Fraction            # gap every estimate must close (Table 1, scaling, dReal bisection)
    figure_points: int             # random inputs per figure (Figures 6-8)
    twins_inputs: int              # digits test inputs for exact LRSM
    twins_timeout: float           # seconds per exact LRSM query
    widths: tuple[int, ...]        # scaling series
    layers: tuple[int, ...]
    dims: tuple[int, ...]
    timeout: float                 # seconds per exact-path scaling run
    dreal_timeout: float           # seconds per dReal run (bisection or Minimize), killed in its child
    dreal_scaling: tuple[tuple[int, int, int], ...]   # (input dim, hidden layers, width) cases run on dReal

    def as_json(self) -> dict:
        return jsonable(dataclasses.asdict(self))


def settings(quick: bool, repeats: int = 3, *, dreal_timeout: float | None = None, timeout: float | None = None) -> Settings:
    """The quick mode (minutes, for development) or the full mode (the issue's sizes)."""
    if repeats < 1:
        raise ValueError("--repeats must be at least 1")
    if quick:
        return Settings("quick", repeats, TOLERANCE, 50, 2, 60.0, (2, 8, 32), (1, 2), (2, 8),
                        5.0 if timeout is None else timeout, 5.0 if dreal_timeout is None else dreal_timeout,
                        ((2, 1, 2),))
    return Settings("full", repeats, TOLERANCE, 1000, 10, 60.0, (2, 4, 8, 16, 32, 64), (1, 2), (2, 8),
                    60.0 if timeout is None else timeout, 60.0 if dreal_timeout is None else dreal_timeout,
                    tuple((2, layers, width) for layers in (1, 2) for width in (2, 4, 8)))


# -- timing -------------------------------------------------------------------------------------
def repeat(fn: Callable[[], Any], repeats: int, stop: Callable[[Any], bool] = lambda result: False) -> tuple[Any, list[float]]:
    """Run fn up to `repeats` times (time.perf_counter); stop early once stop(result) (a timeout need not be repeated).

    Returns the last result and the seconds of every run.
    """
    runs, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - start)
        if stop(result):
            break
    return result, runs


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# -- progress ---------------------------------------------------------------------------------------
def bar(total: int, desc: str):
    """A tqdm progress bar on stderr (a do-nothing stand-in when tqdm is missing)."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        class _Null:
            def update(self, n=1): ...
            def set_postfix_str(self, s): ...
            def close(self): ...
        return _Null()
    return tqdm(total=total, desc=desc, file=sys.stderr, unit="run", leave=False, mininterval=0.5, dynamic_ncols=True)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the machine -------------------------------------------------------------------------------------
def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _ram_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _version(module: str) -> str:
    try:
        if module == "z3":
            import z3
            return z3.get_version_string()
        if module == "dreal":
            import dreal
            return getattr(dreal, "__version__", "4 (version unknown)")
        from importlib.metadata import version
        return version(module)
    except Exception as err:  # noqa: BLE001 - any import failure means "not installed" here
        return f"not installed ({describe_error(err)})"


def describe_error(err: BaseException) -> str:
    """'Type: first line of the message', with directories stripped from file paths (no machine paths in results)."""
    text = str(err).splitlines()[0][:160] if str(err) else ""
    return f"{type(err).__name__}: " + re.sub(r"(?:[A-Za-z]:)?[/\\](?:[^\s/\\:'\"]+[/\\])+", "", text)


def _git(*args) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def machine() -> dict:
    """CPU, cores, RAM, OS, Python and solver versions, load average and source revision of this run."""
    ram = _ram_bytes()
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = None
    if commit is not None:
        try:   # plumbing, read-only: exit code 1 when tracked files differ from HEAD
            dirty = subprocess.run(["git", "diff-index", "--quiet", "HEAD", "--"], cwd=ROOT, timeout=10).returncode == 1
        except (OSError, subprocess.SubprocessError):
            dirty = None
    return {
        "cpu": _cpu_model() or platform.machine(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "ram_gib": None if ram is None else round(ram / 2 ** 30, 1),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load_average_at_start": load,
        "versions": {m: _version(m) for m in ("smtnn", "z3", "pysmt", "dreal", "numpy", "scipy", "highspy", "mpmath")},
        "commit": None if commit is None else commit + (" (working tree modified)" if dirty else ""),
    }


# -- JSON and files --------------------------------------------------------------------------------------
def jsonable(value):
    """Plain JSON values: Fractions and NumPy numbers as floats, tuples as lists, enums by value."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, (Fraction, np.floating, float)):
        f = float(value)
        return f if np.isfinite(f) else str(f)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    return str(value)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write through a temporary file in the same directory and rename it, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp's 0600 would make the results private
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, payload: dict) -> None:
    write_atomic(path, json.dumps(jsonable(payload), indent=1, ensure_ascii=False) + "\n")
