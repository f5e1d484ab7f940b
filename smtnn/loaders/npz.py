"""NumPy .npz networks: arrays W0, b0, W1, b1, ... (outputs x inputs), 'activations', optional 'threshold', 'input_names'."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError, ModelFileError
from ..network import Dense, Network
from ._common import atomic_target, check_stored_activations, damaged_file_errors, numeric_array

OPTIONAL_KEYS = ("activations", "threshold", "input_names")
_PARAMETER = re.compile(r"^([Wb])(\d+)$")
_LAYOUT = "W0, b0, W1, b1, ... (W of shape outputs x inputs) plus a string array 'activations'"


def load_npz(path: Path, activations: Sequence[str] | None = None) -> Network:
    """A network from an .npz archive; ``activations`` stands in when the archive stores none."""
    with damaged_file_errors(path, "npz archive"), np.load(path, allow_pickle=False) as archive:
        arrays = {key: _array(archive, key, path) for key in archive.files}
    _check_keys(arrays, path)
    n = sum(1 for key in arrays if key.startswith("W"))
    stored = [str(a).strip().lower() for a in np.atleast_1d(arrays["activations"])] if "activations" in arrays else None
    if stored is None and activations is None:
        raise InvalidInputError(
            f"{path} has no 'activations' array; store one (e.g. np.array(['relu', 'sigmoid'])) or pass activations"
        )
    names = stored if stored is not None else list(activations)
    if len(names) != n:
        raise InvalidInputError(f"{path} has {n} layers but {len(names)} activations ({','.join(names)}); give one per layer")
    layers = tuple(
        Dense(
            numeric_array(arrays[f"W{i}"], f"W{i}", path), numeric_array(arrays[f"b{i}"], f"b{i}", path), names[i], f"dense_{i}"
        )
        for i in range(n)
    )
    network = Network(layers, **_extras(arrays, path))
    if stored is not None and activations is not None:
        check_stored_activations(activations, network.layers, path)
    return network


def save_npz(network: Network, path: str | os.PathLike) -> None:
    """Write ``network`` in the layout :func:`load_npz` reads, keeping the exact threshold as a fraction string."""
    arrays: dict[str, np.ndarray] = {}
    for i, layer in enumerate(network.layers):
        arrays[f"W{i}"] = np.asarray(layer.weights)
        arrays[f"b{i}"] = np.asarray(layer.bias)
    arrays["activations"] = np.array([layer.activation for layer in network.layers], dtype=str)
    arrays["threshold"] = np.array(str(network.threshold))
    arrays["input_names"] = np.array(network.input_names, dtype=str)
    with atomic_target(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def _array(archive: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise
        raise ModelFileError(
            f"array '{key}' in {path} holds Python objects, which smtnn does not unpickle; "
            "store plain arrays, e.g. np.array(['relu', 'sigmoid'])"
        ) from exc


def _check_keys(arrays: dict[str, np.ndarray], path: Path) -> None:
    unknown = sorted(k for k in arrays if not _PARAMETER.match(k) and k not in OPTIONAL_KEYS)
    if unknown:
        raise ModelFileError(f"{path} has unexpected arrays {', '.join(unknown)}; expected {_LAYOUT}")
    params = {k for k in arrays if _PARAMETER.match(k)}
    expected = {f"{kind}{i}" for i in range(max(len(params) // 2, 1)) for kind in "Wb"}
    if params != expected:
        problem = sorted(expected - params) or sorted(params - expected)
        raise ModelFileError(
            f"{path} has weight arrays {', '.join(sorted(params)) or 'none'} (see {problem[0]}); expected {_LAYOUT}"
        )


def _extras(arrays: dict[str, np.ndarray], path: Path) -> dict:
    out: dict = {}
    if "threshold" in arrays:
        value = np.asarray(arrays["threshold"])
        if value.size != 1 or value.dtype.kind not in "fiuU":
            raise ModelFileError(f"{path} has a 'threshold' that is not one number; store e.g. np.array(0.5)")
        out["threshold"] = str(value.reshape(-1)[0]) if value.dtype.kind == "U" else float(value.reshape(-1)[0])
    if "input_names" in arrays:
        out["input_names"] = tuple(str(v) for v in np.atleast_1d(arrays["input_names"]))
    return out
