"""Model files to :class:`~smtnn.network.Network`: Keras (.keras, .h5, .weights.h5), NumPy .npz and ONNX."""

from __future__ import annotations

import dataclasses
import os
import zipfile
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

from ..errors import ModelFileError
from ..network import Network
from ._common import FORMATS_HINT, activation_list, readable_file
from .keras_archive import load_keras_archive
from .keras_h5 import load_keras_h5, save_keras_h5
from .npz import load_npz, save_npz
from .onnx_loader import load_onnx
from .quantized import QuantizedNetwork, load_quantized

__all__ = ["QuantizedNetwork", "load_network", "load_quantized", "save_keras_h5", "save_npz"]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
_SUFFIXES = (".weights.h5", ".h5", ".hdf5", ".keras", ".npz", ".onnx")

Loader = Callable[[Path, Sequence[str] | None], Network]


def load_network(
    path: str | os.PathLike,
    *,
    threshold: float | str | Fraction | None = None,
    name: str | None = None,
    activations: str | Sequence[str] | None = None,
) -> Network:
    """Read a model file, recognised by its content (HDF5, zip) or its suffix (.onnx).

    ``activations`` (a list or 'relu,sigmoid') is required for weights-only Keras files, which store
    no architecture; for other files it must match the stored activations.  ``threshold`` and ``name``
    replace the file's decision level and the default name (the file name without suffix).
    """
    p = readable_file(path)
    network = _loader_for(p)(p, activation_list(activations))
    notes = network.name if network.name != "network" else ""
    changes: dict = {"name": name or (f"{_stem(p)} ({notes})" if notes else _stem(p))}
    if threshold is not None:
        changes["threshold"] = threshold
    return dataclasses.replace(network, **changes)


def _loader_for(path: Path) -> Loader:
    lower = path.name.lower()
    if _has_hdf5_signature(path):
        return load_keras_h5
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head in ZIP_SIGNATURES:
        members = _zip_members(path)
        if "config.json" in members and not any(m.endswith(".npy") for m in members):
            return load_keras_archive
        if lower.endswith(".npz") or (members and all(m.endswith(".npy") for m in members)):
            return load_npz
        raise ModelFileError(f"{path} is a zip archive but not an .npz of weight arrays; {FORMATS_HINT}")
    if lower.endswith(".onnx"):
        return load_onnx
    if lower.endswith((".h5", ".hdf5", ".keras")):
        raise ModelFileError(
            f"{path} is not an HDF5 file (no HDF5 signature); it is damaged or of another format: save the model again"
        )
    if lower.endswith(".npz"):
        raise ModelFileError(f"{path} is not an npz (zip) archive; it is damaged or of another format: save it with numpy.savez")
    raise ModelFileError(f"{path} is of an unknown format (suffix '{path.suffix}'); {FORMATS_HINT}")


def _has_hdf5_signature(path: Path) -> bool:
    """HDF5 files start with the signature at byte 0 or after a user block of 512, 1024, 2048, ... bytes."""
    size = path.stat().st_size
    offset = 0
    with open(path, "rb") as handle:
        while offset + len(HDF5_SIGNATURE) <= size:
            handle.seek(offset)
            if handle.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else offset * 2
    return False


def _zip_members(path: Path) -> list[str]:
    """The member names of a zip archive, or none when zipfile cannot read its directory."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except Exception:
        return []


def _stem(path: Path) -> str:
    name = path.name
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return path.stem or name
