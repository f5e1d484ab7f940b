"""Run one function in a forked child with a wall-clock limit and a memory cap, so no query can hang or exhaust the machine.

Used for dReal checks (its API has no timeout), for queries run with a timeout or a memory
cap (``smtnn verify --memory``, ``smtnn batch``) and for library calls given ``memory=``
(:func:`smtnn.budget.budgeted`).  The child talks to its parent in length-prefixed pickled
frames: any number of progress reports (:func:`report`), then its outcome.  POSIX only (fork).
"""
from __future__ import annotations

import faulthandler
import os
import pickle
import select
import signal
import time
from dataclasses import dataclass
from typing import Any, Callable

DONE, TIMEOUT, MEMORY, ERROR, DIED = "done", "timeout", "memory", "error", "died"
PROGRESS = "progress"
_MB = 1 << 20
_HEADER = 8   # bytes of a frame's length prefix
WATCH_EVERY = 0.05   # seconds between two looks at a capped child's resident memory
_channel: int | None = None   # in a child: the pipe to the parent, for report()


@dataclass
class Outcome:
    """How the child ended: DONE with its value, ERROR with its exception, TIMEOUT, MEMORY, or DIED (how, in `detail`).

    ``progress`` is the last value the child sent with :func:`report` (None if it sent none).
    """

    status: str
    value: Any = None
    detail: str = ""
    progress: Any = None


def in_child() -> bool:
    """Is this process a child of :func:`run_in_child` (so its limits are already enforced from outside)?"""
    return _channel is not None


def report(value: Any) -> None:
    """In a child of :func:`run_in_child`: send `value` (e.g. the bounds certified so far) to the parent, which keeps
    the last one it received whatever happens to the child afterwards.  Elsewhere: nothing."""
    if _channel is None:
        return
    try:
        _send(_channel, (PROGRESS, value))
    except Exception:   # a value that does not pickle, or a parent that is gone: progress is best effort
        pass


def _send(fd: int, message) -> None:
    data = pickle.dumps(message)
    frame = len(data).to_bytes(_HEADER, "big") + data
    while frame:
        frame = frame[os.write(fd, frame):]


def run_in_child(function: Callable, *args, timeout: float | None = None, memory_mb: float | None = None) -> Outcome:
    """`function(*args)` in a forked child, killed after `timeout` seconds; its address space may grow by `memory_mb` MB.

    The cap holds twice: the child's address space (RLIMIT_AS, relative to what it inherits) and
    its resident memory, which the parent watches (it may not exceed the parent's at the fork by
    more than `memory_mb`).  A MemoryError in the child, a child over the cap, or a child that
    dies while a memory cap is set, is reported as MEMORY; exceptions come back as ERROR (re-raise them where the call was made).  The
    calling process's own limits are never changed.  The child may send progress with
    :func:`report`; the last value sent comes back in ``Outcome.progress``.
    """
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(write_fd, function, args, memory_mb, parent)
    os.close(write_fd)
    deadline = None if timeout is None else time.monotonic() + timeout
    resident_cap = None if memory_mb is None else _resident(parent) + memory_mb * _MB
    buffer, finished, progress, final, over = b"", False, None, None, False
    poller = select.poll()
    poller.register(read_fd, select.POLLIN)
    try:
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            if resident_cap is not None:   # RLIMIT_AS misses memory the child reuses from the heap it inherited
                if _resident(pid) > resident_cap:
                    over = True
                    break
                left = WATCH_EVERY if left is None else min(left, WATCH_EVERY)
            if poller.poll(None if left is None else max(1, int(left * 1000))):
                chunk = os.read(read_fd, 1 << 16)
                if not chunk:
                    finished = True
                    break
                buffer += chunk
                messages, buffer = _frames(buffer)
                for kind, value in messages:
                    if kind == PROGRESS:
                        progress = value
                    else:
                        final = (kind, value)
    finally:
        os.close(read_fd)
        status = _reap(pid, kill=not finished)
    if final is not None:
        return Outcome(final[0], final[1], progress=progress)
    if over:
        return Outcome(MEMORY, detail="its resident memory passed the cap", progress=progress)
    if not finished:
        return Outcome(TIMEOUT, progress=progress)
    how = f"signal {-status}" if status < 0 else f"exit code {status}"
    return Outcome(MEMORY if memory_mb is not None else DIED, detail=f"the query process ended with {how}", progress=progress)


def _resident(pid: int) -> int:
    """Bytes of process `pid` resident in memory (0 when /proc cannot say)."""
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _frames(buffer: bytes) -> tuple[list, bytes]:
    """The complete messages at the start of `buffer` (unpickled; a damaged one is dropped) and the rest."""
    out = []
    while len(buffer) >= _HEADER:
        size = int.from_bytes(buffer[:_HEADER], "big")
        if len(buffer) < _HEADER + size:
            break
        try:
            out.append(pickle.loads(buffer[_HEADER:_HEADER + size]))
        except Exception:
            pass
        buffer = buffer[_HEADER + size:]
    return out, buffer


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
    global _channel
    code = 0
    try:
        die_with_parent(parent)
        _channel = write_fd
        if memory_mb is not None:
            faulthandler.disable()   # a native solver may crash on a refused allocation; the parent reports it
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
            _send(write_fd, payload)
        except (pickle.PicklingError, TypeError, AttributeError) as err:   # a value that does not pickle: its text
            _send(write_fd, (ERROR, RuntimeError(f"{type(payload[1]).__name__}: {payload[1]} ({err})")))
        os.close(write_fd)
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
