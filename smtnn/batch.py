"""Batches of independent queries: run on all local cores or a Dask cluster, written as they finish, resumable.

A batch is a list of queries; in a file (``smtnn batch QUERIES.jsonl --out RESULTS.jsonl``) one JSON
object per line::

    {"command": "verify", "property": "local-label", "model": "case_studies/models/cats.h5", "delta": "0.01", "x0": [10, 2.5]}
    {"command": "estimate", "property": "global-sigma", "model": "case_studies/models/cats.h5", "delta": 0.005,
     "domain": [[6.3, 20.5], [2.0, 3.9]], "timeout": 60}
    {"command": "twins", "property": "lrsm", "first": "a.h5", "second": "b.h5", "x0": [0.5, 0.5], "radius": "0.01"}

``command`` is verify, estimate or twins; ``property`` and the model file(s) (``model``; for twins
``first`` and ``second``) are required; every other field is a long option of that command without
its dashes (``delta``, ``layers``, ``relative``, ``per_layer``, ``quantize``, ``x0``, ``domain``,
``epsilon``, ``sigma``, ``tolerance``, ``threshold``, ``decision``, ``activations``, ``solver``,
``timeout``, ``memory``; twins: ``radius``, ``clip``, ``ci``, ``cj``, ``engine``, ``compare``).  Numbers are
read exactly as written, like on the command line (0.005 is 1/200; from Python, a float is its
binary value); a list stands for comma-separated values; a domain is ``[[lower, upper], ...]``,
``{"lower": [...], "upper": [...]}`` or ``"lo:hi,lo:hi"``.  Model paths are relative to the working
directory and must be readable by the workers.  Each query becomes a :class:`smtnn.tasks.Query`
directly (:func:`query_of`), checked before anything runs; its model is read only when it runs,
so an unreadable model makes that query an error line and the others run.

Each finished query is one line of the results file, appended (and synced) as it completes:
``{"key": ..., "status": ..., "result": ..., "query": ...}`` where ``key`` identifies the query
(a SHA-256 of its normalized JSON, the batch's timeout and memory cap included where the query
gives none, and of its model files' contents), ``status`` is holds, violated, converged, unknown or
error, and ``result`` is the JSON ``--json`` prints.  Keys already in the results file are skipped,
so re-running an interrupted batch resumes it; delete a line to recompute it, or give
``retry_errors`` to run the error lines again.  The results file is locked (``flock``) while a
batch writes it, and pool workers die with the batch (``PR_SET_PDEATHSIG``).  Lines are in completion order; :func:`run_batch` and :func:`load_batch` return them in query
order, identical (up to the timings) whatever the number of workers.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

from .errors import InvalidInputError, SmtnnError

COMMANDS = {"verify": ("property", "model"), "estimate": ("property", "model"), "twins": ("property", "first", "second")}
STATUSES = ("holds", "violated", "converged", "unknown", "error")
from .reports import EXIT_BAD_INPUT, EXIT_OK, EXIT_UNKNOWN, EXIT_VIOLATED
from .options import option_text
_NOT_FIELDS = {"help", "json", "output"}
CHUNK_SECONDS, MAX_CHUNK = 0.2, 64   # fast queries travel to the workers in chunks of about 0.2 s
SYNC_INTERVAL = 0.5   # seconds: each line is flushed at once (kept if the process dies); synced to disk at most this often


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a batch: the finished results are kept; the message says how many and how to resume."""

    def __init__(self, done: int, total: int, out_path):
        self.done, self.total, self.out_path = done, total, out_path
        super().__init__(f"{done} of {total} queries done (kept in {out_path}); run the same batch again to resume")


class Progress:
    """A progress bar of finished queries on stderr (tqdm); silent when disabled."""

    def __init__(self, total: int, desc: str = "queries", initial: int = 0, enabled: bool = True):
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=initial, desc=desc, unit="query", file=sys.stderr, disable=not enabled,
                        leave=True, dynamic_ncols=True)

    def update(self, k: int = 1) -> None:
        self.bar.update(k)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- queries -------------------------------------------------------------------------------
def normalize(query) -> dict:
    """The canonical form of a query: command, required fields, then options as command-line text, sorted."""
    if not isinstance(query, dict):
        raise InvalidInputError(f"a query is a JSON object with 'command', 'property' and the model file, got {json.dumps(query)[:60]}")
    command = query.get("command")
    if command not in COMMANDS:
        raise InvalidInputError(f"'command' must be one of {', '.join(COMMANDS)}, got {json.dumps(command)}")
    fields = {}
    for name, value in query.items():
        field = str(name).replace("-", "_")
        if field == "command" or value is None:
            continue
        if field in fields:
            raise InvalidInputError(f"field '{name}' is given twice")
        fields[field] = option_text(field, value)
    missing = [f for f in COMMANDS[command] if f not in fields]
    if missing:
        raise InvalidInputError(f"a {command} query needs the field{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}")
    head = {"command": command, **{f: fields.pop(f) for f in COMMANDS[command]}}
    return {**head, **dict(sorted(fields.items()))}


def query_of(query: dict):
    """The :class:`smtnn.tasks.Query` of a normalized query, checked (no model file is read)."""
    from .tasks import OPTIONS, Query

    command = query["command"]
    options = {}
    for name, value in query.items():
        if name == "command" or name in COMMANDS[command]:
            continue
        if name not in OPTIONS[command] or name in _NOT_FIELDS:
            known = sorted(o for o in OPTIONS[command] if o not in _NOT_FIELDS)
            raise InvalidInputError(f"unknown field '{name}' for {command}; known: {', '.join(known)}")
        options[name] = value
    return Query(command, query["property"], tuple(query[f] for f in COMMANDS[command][1:]), options).check()


_DIGESTS: dict = {}


def _file_digest(path: str) -> str:
    """SHA-256 of a model file's bytes; for a file that cannot be a model (missing, FIFO, device) what is wrong with it."""
    from .tasks import check_model_file

    try:
        check_model_file(path)
        stat = os.stat(path)
        version = (path, stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if version not in _DIGESTS:
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            _DIGESTS[version] = digest.hexdigest()
        return _DIGESTS[version]
    except (OSError, SmtnnError) as err:   # the query ends as an error; the key changes when the file does
        return f"unreadable: {type(err).__name__}: {err}"


def query_key(query: dict) -> str:
    """The stable key of a normalized query: SHA-256 of its JSON (limits included) and of its model files' contents."""
    digest = hashlib.sha256(json.dumps(query, sort_keys=True, separators=(",", ":")).encode())
    for field in COMMANDS[query["command"]][1:]:
        digest.update(_file_digest(query[field]).encode())
    return digest.hexdigest()


def _runner_name(runner: Callable) -> str:
    return f"{runner.__module__}.{runner.__qualname__}"


def _prepared(query, runner: Callable | None, timeout=None, memory_mb=None) -> tuple[dict, str]:
    """(the query as the workers get it, its key): checked and normalized, or for a custom runner as given.

    The batch's ``timeout``/``memory_mb`` become the query's own where it gives none, so they are part of its key.
    """
    if runner is None:
        q = normalize(query)
        limits = {"timeout": timeout, "memory": memory_mb}
        q = normalize({**q, **{k: v for k, v in limits.items() if v is not None and k not in q}})
        query_of(q)
        return q, query_key(q)
    try:
        text = json.dumps(query, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"a query must be plain JSON ({err})") from None
    limits = "".join(f"|{name}={value!r}" for name, value in (("timeout", timeout), ("memory", memory_mb)) if value is not None)
    return query, hashlib.sha256((text + _runner_name(runner) + limits).encode()).hexdigest()


def _for_workers(query: dict) -> dict:
    """The query with absolute model paths, for workers whose working directory may differ."""
    return {k: os.path.abspath(v) if k in ("model", "first", "second") else v for k, v in query.items()}


def run_query(query: dict, timeout: float | None = None, memory_mb: int | None = None) -> dict:
    """Run one normalized query (a worker's job): {"status", "result"}; errors become status "error", never a traceback.

    ``timeout`` and ``memory_mb`` apply when the query gives no timeout or memory of its own.
    """
    from . import reports

    try:
        result = query_of(query).run(timeout, memory_mb)
        return {"status": reports.status(result), "result": json.loads(reports.to_json(result))}
    except SmtnnError as err:
        return {"status": "error", "result": {"error": str(err)}}
    except Exception as err:
        return {"status": "error", "result": {"error": f"internal error: {type(err).__name__}: {err}"}}


# -- results file --------------------------------------------------------------------------
def _read_results(path: Path) -> tuple[dict[str, dict], int]:
    """Finished lines by key, and the length in bytes of the intact part (a torn last line is left out)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}, 0
    except OSError as err:
        raise InvalidInputError(f"cannot read {path}: {err.strerror or err}") from None
    done, intact = {}, 0
    lines = data.splitlines(keepends=True)
    for number, raw in enumerate(lines, 1):
        try:
            line = json.loads(raw) if raw.endswith(b"\n") else None
        except ValueError:
            line = None
        if not (isinstance(line, dict) and isinstance(line.get("key"), str) and "result" in line):
            if not raw.strip():
                intact += len(raw)
                continue
            if number == len(lines):
                break   # a line torn by a crash: dropped and recomputed
            raise InvalidInputError(f"{path} line {number} is not a result line of smtnn batch; "
                                    "give another --out file or remove that line")
        done[line["key"]] = line
        intact += len(raw)
    return done, intact


def _check_out_path(out_path) -> Path:
    """The results file to append to: a regular file or a new name (a symbolic link is written through)."""
    from .outputs import output_target

    path = Path(output_target(out_path))
    if path.exists() and not os.access(path, os.W_OK) or not path.exists() and not os.access(path.parent, os.W_OK):
        raise InvalidInputError(f"cannot write {out_path}: permission denied")
    return path


def _locked(path: Path, shown) -> object:
    """The results file opened for appending, under an exclusive advisory lock (fcntl.flock) held until it is closed.

    A second batch on the same file is refused with one line instead of running every query twice.
    """
    import fcntl

    try:
        handle = open(path, "a", encoding="utf-8")
    except OSError as err:
        raise InvalidInputError(f"cannot write {shown}: {err.strerror or err}") from None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise InvalidInputError(f"{shown} is in use by another smtnn batch; wait until it ends, or give another --out") from None
    return handle


def load_batch(queries: Sequence[dict], out_path, runner: Callable | None = None, timeout=None, memory_mb=None) -> list[dict | None]:
    """The finished result lines of `queries` run with these batch limits, in query order (None where not finished)."""
    keys = [_prepared(q, runner, timeout, memory_mb)[1] for q in queries]
    done, _ = _read_results(Path(out_path))
    return [done.get(k) for k in keys]


# -- running -------------------------------------------------------------------------------
def run_batch(queries: Sequence[dict], out_path, workers: int | None = None, scheduler: str | None = None,
              timeout: float | None = None, memory_mb: int | None = None, progress: bool | str = True,
              runner: Callable[[dict], dict] | None = None, retry_errors: bool = False,
              _where: Callable[[int], str] | None = None) -> list[dict]:
    """Run the queries not yet in `out_path` and append each result line as it finishes; all result lines, in query order.

    ``workers``: local processes (default: all cores; 1 runs in this process); ``scheduler``: the
    address of a Dask scheduler to run on instead; ``timeout`` (seconds) and ``memory_mb``: limits
    for queries that give none; ``progress``: a bar on stderr (a string names it; an object with
    ``update(k)``, such as a tqdm bar, is advanced instead).  ``runner``: a module-level function
    that turns one plain-JSON query into a JSON-able dict, run instead of smtnn's own queries
    (status "done"; its exceptions propagate).  ``retry_errors``: run again the queries saved
    with status error (their new line supersedes the old).  Every query is checked before anything
    runs (InvalidInputError naming the query); a query whose model cannot be read ends as an error
    line and the others run.  The results file is locked for the whole run (a second batch on it is
    refused).  Ctrl-C raises
    :class:`BatchInterrupted` after cancelling the pending queries; the finished lines stay.
    """
    from .tasks import memory_megabytes, timeout_seconds

    where = _where or (lambda i: f"query {i + 1}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise InvalidInputError(f"--workers: give a positive number of processes, got {workers!r}")
    timeout, memory_mb = timeout_seconds(timeout), memory_megabytes(memory_mb)
    normalized, keys = [], []
    for i, query in enumerate(queries):
        try:
            q, key = _prepared(query, runner, timeout, memory_mb)
        except SmtnnError as err:
            raise type(err)(f"{where(i)}: {err}") from None
        normalized.append(q)
        keys.append(key)
    path = _check_out_path(out_path)
    out = _locked(path, out_path)
    try:
        done, intact = _read_results(path)
        pending, seen = [], set()
        for key, q in zip(keys, normalized):
            if key not in seen and (key not in done or retry_errors and done[key]["status"] == "error"):
                pending.append((key, q))
            seen.add(key)
        client = _connect(scheduler) if scheduler is not None and pending else None
    except BaseException:
        out.close()
        raise
    total = len(set(keys))
    if path.stat().st_size != intact:
        os.truncate(path, intact)
    if hasattr(progress, "update"):
        bar = contextlib.nullcontext(progress)
    else:
        bar = Progress(total, progress if isinstance(progress, str) else "queries", total - len(pending), bool(progress))
    with out, bar as bar:
        queries_of, synced = dict(pending), [0.0]

        def finished(key: str, outcome: dict) -> None:
            line = {"key": key, "status": outcome["status"], "result": outcome["result"], "query": queries_of[key]}
            out.write(json.dumps(line) + "\n")
            out.flush()
            if time.monotonic() - synced[0] >= SYNC_INTERVAL:
                os.fsync(out.fileno())
                synced[0] = time.monotonic()
            done[key] = line
            bar.update()

        jobs = [(key, q if runner else _for_workers(q)) for key, q in pending]
        limits = (timeout, memory_mb, runner)
        try:
            if client is not None:
                _on_dask(jobs, client, limits, finished)
            elif (workers or os.cpu_count() or 1) == 1 or len(jobs) <= 1:
                run_chunk(jobs, *limits, on_each=finished)
            else:
                _on_processes(jobs, min(workers or os.cpu_count() or 1, len(jobs)), limits, finished)
        except KeyboardInterrupt:
            raise BatchInterrupted(sum(k in done for k in set(keys)), total, path) from None
        finally:
            os.fsync(out.fileno())
    return [done[k] for k in keys]


def _start_worker(batch_pid: int) -> None:
    """A pool worker dies with the batch (even on kill -9) and leaves Ctrl-C to it, which stops the workers."""
    from .child import die_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(batch_pid)


def run_chunk(chunk: list, timeout, memory_mb, runner=None, on_each: Callable | None = None) -> list:
    """A worker's job: several queries in turn; per query (key, {"status", "result"}, seconds)."""
    out = []
    for key, query in chunk:
        start = time.perf_counter()
        outcome = run_query(query, timeout, memory_mb) if runner is None else _run_custom(runner, query, timeout, memory_mb)
        out.append((key, outcome, time.perf_counter() - start))
        if on_each is not None:
            on_each(key, outcome)
    return out


def _run_custom(runner: Callable, query: dict, timeout, memory_mb) -> dict:
    if timeout is None and memory_mb is None:
        return {"status": "done", "result": runner(query)}
    from .child import DONE, ERROR, MEMORY, TIMEOUT, run_in_child

    outcome = run_in_child(runner, query, timeout=timeout, memory_mb=memory_mb)
    if outcome.status == DONE:
        return {"status": "done", "result": outcome.value}
    if outcome.status == ERROR:
        raise outcome.value
    reason = {TIMEOUT: f"timeout: stopped after {timeout:g} s" if timeout else "timeout",
              MEMORY: f"memory cap of {memory_mb} MB reached"}.get(outcome.status, outcome.detail)
    return {"status": "unknown", "result": {"reason": reason}}


def _windowed(jobs, submit, first_done, window: int, finished) -> None:
    """Keep `window` chunks in flight; a chunk holds about CHUNK_SECONDS of queries at the mean time seen so far (one at first)."""
    queue, running, seen = list(reversed(jobs)), set(), [0, 0.0]   # seen: queries finished, their seconds

    def refill():
        while queue and len(running) < window:
            mean = seen[1] / seen[0] if seen[0] else None
            size = 1 if mean is None else max(1, min(MAX_CHUNK, int(CHUNK_SECONDS / max(mean, 1e-6))))
            running.add(submit([queue.pop() for _ in range(min(size, len(queue)))]))

    refill()
    while running:
        for future in first_done(list(running)):
            running.discard(future)
            for key, outcome, seconds in future.result():
                seen[0] += 1
                seen[1] += seconds
                finished(key, outcome)
        refill()


def _on_processes(jobs, workers: int, limits: tuple, finished) -> None:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(max_workers=workers, initializer=_start_worker, initargs=(os.getpid(),))
    try:
        _windowed(jobs, lambda chunk: pool.submit(run_chunk, chunk, *limits),
                  lambda futures: wait(futures, return_when=FIRST_COMPLETED).done, 2 * workers, finished)
    except BaseException as err:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()
        for process in processes:
            process.join()
        if isinstance(err, BrokenProcessPool):
            raise SmtnnError("a worker process died (out of memory? give --memory); the finished results are kept, "
                             "run the same batch again to resume") from None
        raise
    pool.shutdown()


def _connect(scheduler: str):
    try:
        from distributed import Client
    except ImportError:
        raise InvalidInputError("--scheduler needs Dask's distributed scheduler: pip install 'smtnn[cluster]'") from None
    try:
        return Client(scheduler, timeout=10, set_as_default=False)
    except (OSError, ValueError, TypeError) as err:
        raise InvalidInputError(f"cannot connect to the Dask scheduler at {scheduler}: {err}") from None


def _on_dask(jobs, client, limits: tuple, finished) -> None:
    from distributed import wait

    futures = []

    def submit(chunk):
        futures.append(client.submit(run_chunk, chunk, *limits, pure=False))
        return futures[-1]

    try:
        threads = sum(client.nthreads().values()) or 1
        with client.as_current():
            _windowed(jobs, submit, lambda running: wait(running, return_when="FIRST_COMPLETED").done, 2 * threads, finished)
    except BaseException as err:
        client.cancel(futures)
        if not isinstance(err, (KeyboardInterrupt, SmtnnError)):
            raise SmtnnError(f"the Dask cluster failed to run a query ({type(err).__name__}: {err}); "
                             "the finished results are kept, run the same batch again to resume") from None
        raise
    finally:
        client.close()


# -- command line --------------------------------------------------------------------------
def read_queries(path) -> tuple[list[dict], list[int]]:
    """The queries of a JSON Lines file (numbers kept as written) and their line numbers; blank lines are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path} is not a text file of JSON queries (one JSON object per line)") from None
    except OSError as err:
        raise InvalidInputError(f"cannot read {path}: {err.strerror or err}") from None
    queries, numbers = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            query = json.loads(line, parse_float=str)
        except ValueError as err:
            raise InvalidInputError(f"{path} line {number}: not valid JSON ({getattr(err, 'msg', err)}, column "
                                    f"{getattr(err, 'colno', '?')})") from None
        if not isinstance(query, dict):
            raise InvalidInputError(f"{path} line {number}: a query must be a JSON object, got {line.strip()[:40]}")
        queries.append(query)
        numbers.append(number)
    if not queries:
        raise InvalidInputError(f"{path} has no queries (give one JSON object per line)")
    return queries, numbers


def run_command(args) -> int:
    """`smtnn batch`: run, print one summary line; exit 2 if a query failed, else 1 if one is violated, 3 if one is unknown."""
    queries, numbers = read_queries(args.queries)
    if Path(args.out).exists() and Path(args.out).resolve() == Path(args.queries).resolve():
        raise InvalidInputError("--out names the queries file; give another file for the results")
    workers = args.workers
    if workers is not None:
        try:
            workers = int(workers)
        except ValueError:
            raise InvalidInputError(f"--workers: give a positive number of processes, got '{args.workers}'") from None
    lines = run_batch(queries, args.out, workers=workers, scheduler=args.scheduler, timeout=args.timeout,
                      memory_mb=args.memory, progress=args.progress, retry_errors=args.retry_errors,
                      _where=lambda i: f"{args.queries} line {numbers[i]}")
    counts = Counter(line["status"] for line in lines)
    print(f"{len(lines)} queries: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s]) + f"; results in {args.out}")
    if counts["error"]:
        return EXIT_BAD_INPUT
    if counts["violated"]:
        return EXIT_VIOLATED
    return EXIT_UNKNOWN if counts["unknown"] else EXIT_OK
