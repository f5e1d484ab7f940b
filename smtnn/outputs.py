"""Output files: written only where a regular file is (or may be), atomically, with the user's umask."""
from __future__ import annotations

import errno
import os
import stat
import tempfile

from .errors import InvalidInputError


def output_target(path) -> str:
    """The file an output path writes: a regular file or a new name; a symbolic link is written through to its target.

    Devices, FIFOs, sockets and directories are refused (one line), so no output replaces anything but a file.
    """
    if not str(path).strip():
        raise InvalidInputError("the output file name is empty; give a file name (e.g. -o query.smt2)")
    try:
        target = os.path.realpath(path, strict=False)
    except OSError as err:
        raise InvalidInputError(f"cannot write {path}: {err.strerror or err}") from None
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise InvalidInputError(f"cannot write {path}: a loop of symbolic links; give a file name") from None
        raise InvalidInputError(f"cannot write {path}: {err.strerror or err}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise InvalidInputError(f"cannot write {path}: it is a directory; give a file name")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise InvalidInputError(f"cannot write {path}: it is not a regular file (a device, FIFO or socket); give a file name")
    directory = os.path.dirname(target) or "."
    if not os.path.isdir(directory):
        raise InvalidInputError(f"cannot write {path}: no such directory {os.path.dirname(os.path.abspath(path))} (create it first)")
    return target


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomically(path, text: str) -> None:
    """Write text to path through a temporary file, so a failure leaves nothing half-written.

    Only regular files are written (see :func:`output_target`); a symbolic link is written through
    (the link stays, its target is replaced); a new file gets the mode 0666 less the umask.
    """
    target = output_target(path)
    directory = os.path.dirname(target) or "."
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".smtnn-", suffix=".tmp")
    except OSError as err:
        raise InvalidInputError(f"cannot write in {directory}: {err.strerror or err}; check its permissions") from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise InvalidInputError(f"cannot write {path}: {err.strerror or err}") from None
        raise
