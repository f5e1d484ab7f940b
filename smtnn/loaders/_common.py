"""Shared checks for the loaders: readable paths, one-line errors, activation lists, atomic writes."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError, ModelFileError, SmtnnError

FORMATS_HINT = "smtnn reads Keras .keras, .h5 and .weights.h5 (with activations), .npz and .onnx files"


def one_line(text: object) -> str:
    """Collapse a library message to one line so every smtnn error stays one line."""
    return re.sub(r"\s+", " ", str(text)).strip()


def readable_file(path: str | os.PathLike) -> Path:
    """The path of an existing, non-empty regular file, or a ModelFileError saying what is wrong."""
    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"no such file: {p} (check the path)")
    if p.is_dir():
        raise ModelFileError(f"{p} is a directory, not a model file; {FORMATS_HINT}")
    try:
        size = p.stat().st_size
        with open(p, "rb"):
            pass
    except OSError as exc:
        raise ModelFileError(f"cannot read {p}: {one_line(exc.strerror or exc)}; check its permissions") from exc
    if size == 0:
        raise ModelFileError(f"{p} is empty (0 bytes); the model was not saved completely: save it again")
    return p


@contextlib.contextmanager
def damaged_file_errors(path: Path, kind: str) -> Iterator[None]:
    """Turn any library exception raised while reading ``path`` into one ModelFileError."""
    try:
        yield
    except SmtnnError:
        raise
    except Exception as exc:
        detail = one_line(f"{type(exc).__name__}: {exc}")
        raise ModelFileError(
            f"{path} is not a readable {kind} ({detail}); the file is damaged, truncated or of another format: save it again"
        ) from exc


def activation_list(activations: str | Sequence[str] | None) -> list[str] | None:
    """Activation names from a list or a comma-separated string ('relu,sigmoid'), lower-cased."""
    if activations is None:
        return None
    items = activations.split(",") if isinstance(activations, str) else list(activations)
    names = [str(a).strip().lower() for a in items]
    if not names or any(not n for n in names):
        raise InvalidInputError(
            f"activations {activations!r} has an empty entry; give one name per dense layer, e.g. relu,sigmoid"
        )
    return names


def numeric_array(value: object, what: str, path: Path) -> np.ndarray:
    """A float64 copy of a stored numeric array, refusing strings, objects and complex numbers."""
    array = np.asarray(value)
    if array.dtype.kind not in "fiub":
        raise ModelFileError(f"{what} in {path} has dtype {array.dtype}; weights must be real numbers")
    return np.array(array, dtype=np.float64)


@contextlib.contextmanager
def atomic_target(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces it on success and is removed on failure."""
    target = Path(path)
    if not target.parent.is_dir():
        raise ModelFileError(f"cannot write {target}: no such directory {target.parent} (create it first)")
    if target.is_dir():
        raise ModelFileError(f"cannot write {target}: it is a directory; give a file name")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise ModelFileError(f"cannot write in {target.parent}: {one_line(exc.strerror or exc)}; check its permissions") from exc
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, SmtnnError):
            raise
        raise ModelFileError(f"cannot write {target}: {one_line(exc)}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_stored_activations(given: Sequence[str], layers: Sequence, path: Path) -> None:
    """Refuse an activations option that contradicts the activations a model file stores."""
    stored = [layer.activation for layer in layers]
    if list(given) != stored:
        raise InvalidInputError(
            f"{path} stores the activations {','.join(stored)}; omit the activations option or give exactly these"
        )
