"""The budget of a query or a library call: its timeout and its memory cap, and how they are enforced.

**The one policy** (for the command line, batches, :meth:`smtnn.tasks.Query.run` and every
public function of :mod:`smtnn.properties` and :mod:`smtnn.twins`):

- *Time is one clock per call.*  Searches that run one after another each get an equal share of
  what is left (what is left / searches still to run): a search that finishes early passes its
  unused time on, and the last may use all that is left (:class:`Budget`).  Every phase (loading,
  building a relaxation, screening, each search, the final replays) checks the deadline and, once
  it has passed, ends at once with the bounds it has.  This cooperative deadline is the fast path:
  a call given only ``timeout=`` runs in the caller's process.  A phase that cannot look at the
  clock (an exact solver search: Z3 ignores its timeout while it preprocesses a large polynomial
  formula) runs in a forked child killed at its deadline, keeping the bounds it reported.
- *A memory cap, or a hard deadline, needs a process of its own.*  A library call given
  ``memory=MB`` (and any query run by the command line or a batch with a limit) runs in a forked
  child (:mod:`smtnn.child`) whose address space may grow by that much (plus Z3's own memory limit);
  the child is killed if it overruns its timeout by more than :func:`grace`.  The caller's own
  limits (rlimits, signal handlers, Z3's parameters) are never changed.
- *Bounds so far survive the stop.*  While it runs, the child sends the bounds it has certified
  so far (:func:`report`); a call that is stopped (timeout, memory cap, killed) returns them — an
  Estimate with its certified [lower, upper] so far, or an UNKNOWN verdict — with the reason
  ("timeout: ..." or "memory cap ...").  With no report yet, an estimate falls back to the range
  its quantity can take (e.g. [0, 1] for a change of probability).
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, NamedTuple

FLOOR = 0.001   # seconds: a search is never given less (it then answers at once with its bounds so far)
ADDRESS_SPACE_SLACK_MB = 64   # a capped child's address space may exceed its cap by this (Python's own heap)


@dataclass
class Budget:
    """The wall-clock budget of one query (``timeout`` None: unlimited), started at ``start``."""

    start: float = field(default_factory=time.perf_counter)
    timeout: float | None = None

    def remaining(self) -> float | None:
        """What is left of the budget; never below FLOOR."""
        if self.timeout is None:
            return None
        return max(self.timeout - (time.perf_counter() - self.start), FLOOR)

    def share(self, searches_left: int) -> float | None:
        """The time for the next of `searches_left` searches that still run one after another."""
        left = self.remaining()
        return None if left is None else max(left / max(1, searches_left), FLOOR)

    def deadline(self, fraction: float = 1.0) -> float | None:
        """The perf_counter time at which `fraction` of the budget has gone (None: unlimited)."""
        return None if self.timeout is None else self.start + fraction * self.timeout

    def spent(self) -> bool:
        """Has the whole budget gone?"""
        return self.timeout is not None and time.perf_counter() - self.start >= self.timeout


def grace(timeout: float) -> float:
    """Extra seconds a call gets past its timeout to stop by itself (with its bounds) before it is killed."""
    return max(2.0, 0.1 * timeout)


class Bounds(NamedTuple):
    """Bounds an engine has certified so far for the quantity its public call estimates (a witness attains `lower`)."""

    lower: Fraction
    upper: Fraction
    witness: Any = None


REPORT_EVERY = 0.2   # seconds between two progress reports of one call
_meaning: list = []   # in an enforced child: how the outermost budgeted call turns raw Bounds into its result
_last_report = [0.0]


def report(value: Any, force: bool = False) -> None:
    """Send the bounds certified so far (raw :class:`Bounds` or a result object) to the process that enforces this
    call's budget, if there is one; at most one report per REPORT_EVERY seconds unless `force`."""
    from .child import in_child, report as send

    if not in_child() or (not force and time.perf_counter() - _last_report[0] < REPORT_EVERY):
        return
    _last_report[0] = time.perf_counter()
    try:
        send(_meaning[-1](value) if _meaning else value)
    except Exception:   # progress is best effort: it never breaks the computation it describes
        pass


@dataclass(frozen=True)
class Stop:
    """Why and when a budgeted call was stopped from outside, and the last bounds it reported."""

    reason: str
    seconds: float
    progress: Any = None


def stopped_as(result: Any, reason: str, seconds: float | None = None) -> Any:
    """A reported result as the answer of a stopped call: its reason says why (its bounds and verdict stay as proven)."""
    if isinstance(result, dict):
        return {key: stopped_as(value, reason, seconds) for key, value in result.items()}
    if not dataclasses.is_dataclass(result):
        return result
    names = {f.name for f in dataclasses.fields(result)}
    changes = {}
    if "reason" in names:
        changes["reason"] = f"{reason}; {result.reason}" if result.reason and reason not in result.reason else reason
    if seconds is not None and "seconds" in names:
        changes["seconds"] = seconds
    if seconds is not None and "provenance" in names:
        changes["provenance"] = dataclasses.replace(result.provenance, seconds=seconds)
    return dataclasses.replace(result, **changes)


def budgeted(stopped: Callable[..., Any]):
    """Give a public library function a ``memory=MB`` keyword and enforce its budget by the policy above.

    Without ``memory=`` (or inside a process whose budget is already enforced) the function runs
    here, with its cooperative ``timeout``.  With it, the call runs in a child process under the
    cap and killed at ``timeout`` + :func:`grace`; if it is stopped,
    ``stopped(Stop(...), *args, **kwargs)`` builds the answer from the last bounds the child reported.
    """
    def decorate(function):
        signature = inspect.signature(function)

        @functools.wraps(function)
        def call(*args, memory=None, **kwargs):
            from .child import in_child

            if in_child() and not _meaning:   # the outermost call in an enforced child: it says what reports mean
                _meaning.append(lambda raw: stopped(Stop("", 0.0, raw), *args, **kwargs))
                try:
                    return function(*args, **kwargs)
                finally:
                    _meaning.pop()
            if memory is None or in_child():
                return function(*args, **kwargs)
            return _enforced(function, stopped, args, kwargs, memory)

        params = list(signature.parameters.values())
        keyword = inspect.Parameter("memory", inspect.Parameter.KEYWORD_ONLY, default=None)
        at = next((i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD), len(params))
        call.__signature__ = signature.replace(parameters=params[:at] + [keyword] + params[at:])
        call.stopped = stopped
        return call
    return decorate


def _enforced(function, stopped, args: tuple, kwargs: dict, memory) -> Any:
    from .child import DIED, DONE, ERROR, MEMORY, TIMEOUT, run_in_child
    from .options import memory_megabytes, timeout_seconds

    memory_mb = memory_megabytes(memory)
    timeout = timeout_seconds(kwargs.get("timeout"))
    _import_engines()
    start = time.perf_counter()
    outcome = run_in_child(_child_call, function, stopped, args, kwargs, memory_mb,
                           timeout=None if timeout is None else timeout + grace(timeout),
                           memory_mb=memory_mb + ADDRESS_SPACE_SLACK_MB)
    if outcome.status == DONE:
        return outcome.value
    if outcome.status == ERROR:
        raise outcome.value
    reason = {TIMEOUT: f"timeout: stopped after {timeout:g} s" if timeout else "timeout",
              MEMORY: f"memory cap of {memory_mb} MB reached" + (f" ({outcome.detail})" if outcome.detail else ""),
              DIED: f"the computation's process died ({outcome.detail})"}[outcome.status]
    seconds = time.perf_counter() - start
    if outcome.progress is not None:
        return stopped_as(outcome.progress, reason, seconds)
    return stopped(Stop(reason, seconds), *args, **kwargs)


def _child_call(function, stopped, args: tuple, kwargs: dict, memory_mb: int) -> Any:
    """The child's side of an enforced call: reports mean what `stopped` makes of them; then the capped call."""
    _meaning.append(lambda raw: stopped(Stop("", 0.0, raw), *args, **kwargs))
    return run_capped(function, args, kwargs, memory_mb)


def run_capped(function: Callable, args: tuple, kwargs: dict, memory_mb: int | None) -> Any:
    """In the child: Z3's own memory limit, then the call; Z3 running out of its memory is a MemoryError."""
    if memory_mb is not None:
        try:
            from .backends.z3_backend import limit_memory
        except ImportError:
            pass
        else:
            limit_memory(memory_mb)
    try:
        return function(*args, **kwargs)
    except Exception as err:
        if memory_mb is not None and type(err).__name__ == "Z3Exception" and "memory" in str(err):
            raise MemoryError(str(err)) from None
        raise


def _import_engines() -> None:
    """Import the engines before forking: the memory cap is for the call's work, not for loading libraries."""
    import importlib

    for name in ("properties", "backends.z3_backend", "twins"):
        try:
            importlib.import_module(f"{__package__}.{name}")
        except ImportError:
            pass
