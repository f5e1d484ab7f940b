"""Run one function in a forked child with a wall-clock limit and a memory cap, so no query can hang or exhaust the machine.

Used for dReal checks (its API has no timeout) and for queries run with a timeout or a memory
cap (``smtnn verify --memory``, ``smtnn batch``).  POSIX only (fork).
"""
from __future__ import annotations

import os
import pickle
import select
import signal
import time
from dataclasses import dataclass
from typing import Any, Callable

DONE, TIMEOUT, MEMORY, ERROR, DIED = "done", "timeout", "memory", "error", "died"
_MB = 1 << 20


@dataclass
class Outcome:
    """How the child ended: DONE with its value, ERROR with its exception, TIMEOUT, MEMORY, or DIED (how, in `detail`)."""

    status: str
    value: Any = None
    detail: str = ""


def run_in_child(function: Callable, *args, timeout: float | None = None, memory_mb: float | None = None) -> Outcome:
    """`function(*args)` in a forked child, killed after `timeout` seconds; its address space may grow by `memory_mb` MB.

    A MemoryError in the child, or a child that dies while a memory cap is set, is reported
    as MEMORY; exceptions come back as ERROR (re-raise them where the call was made).
    """
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(write_fd, function, args, memory_mb, parent)
    os.close(write_fd)
    deadline = None if timeout is None else time.monotonic() + timeout
    chunks, finished = [], False
    poller = select.poll()
    poller.register(read_fd, select.POLLIN)
    try:
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return Outcome(TIMEOUT)
            if poller.poll(None if left is None else max(1, int(left * 1000))):
                chunk = os.read(read_fd, 1 << 16)
                if not chunk:
                    finished = True
                    break
                chunks.append(chunk)
    finally:
        os.close(read_fd)
        status = _reap(pid, kill=not finished)
    payload = b"".join(chunks)
    if payload:
        try:
            kind, value = pickle.loads(payload)
            return Outcome(kind, value)
        except Exception:
            pass
    how = f"signal {-status}" if status < 0 else f"exit code {status}"
    return Outcome(MEMORY if memory_mb is not None else DIED, detail=f"the query process ended with {how}")


def _reap(pid: int, kill: bool) -> int:
    """Wait for the child (killing it first if it still runs); its exit code, or minus the signal that ended it."""
    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _child(write_fd: int, function: Callable, args: tuple, memory_mb: float | None, parent: int) -> None:
    """The child's whole life: never returns into the caller's stack, always ends by os._exit."""
    code = 0
    try:
        die_with_parent(parent)
        if memory_mb is not None:
            _limit_address_space(memory_mb)
        try:
            payload = (DONE, function(*args))
        except MemoryError:
            payload = (MEMORY, None)
        except KeyboardInterrupt:
            os._exit(130)
        except BaseException as err:  # reported to the parent, which re-raises it
            payload = (ERROR, err)
        try:
            data = pickle.dumps(payload)
        except Exception as err:   # an exception that does not pickle: send its text
            data = pickle.dumps((ERROR, RuntimeError(f"{type(payload[1]).__name__}: {payload[1]} ({err})")))
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def die_with_parent(parent: int) -> None:
    """Linux: this process gets SIGKILL when its parent ends (PR_SET_PDEATHSIG), so a killed batch leaves no worker
    or query running; if the parent `parent` has already gone, it ends at once."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except Exception:
        pass
    if os.getppid() != parent:   # the parent died before the signal was armed
        os._exit(1)


def _limit_address_space(memory_mb: float) -> None:
    """RLIMIT_AS = the address space already mapped (inherited from the parent) + memory_mb."""
    import resource

    try:
        with open("/proc/self/statm") as handle:
            baseline = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return   # no /proc: RLIMIT_AS could not be set relative to the inherited mappings
    limit = baseline + int(memory_mb * _MB)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
