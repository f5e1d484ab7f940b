"""Reading Keras HDF5 attributes and weight datasets, shared by the full-model and weights-only readers."""

from __future__ import annotations

import itertools
from pathlib import Path

import h5py
import numpy as np

from ..errors import ModelFileError
from ._common import numeric_array


def text(value: object) -> str:
    """A text attribute, whether h5py gives it as str, bytes or a one-element array."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf8")
    if isinstance(value, str):
        return value
    raise ModelFileError(f"expected a text attribute, found {type(value).__name__}")


def strings(node: h5py.HLObject, key: str) -> list[str] | None:
    """A list-of-strings attribute, also when Keras split it into key0, key1, ... chunks."""
    if key in node.attrs:
        chunks = [node.attrs[key]]
    elif f"{key}0" in node.attrs:
        chunks = [node.attrs[f"{key}{i}"] for i in itertools.takewhile(lambda i: f"{key}{i}" in node.attrs, itertools.count())]
    else:
        return None
    return [text(item) for chunk in chunks for item in np.atleast_1d(chunk).tolist()]


def named_arrays(group: h5py.Group, layer: str, path: Path) -> list[tuple[str, np.ndarray]]:
    """The (name, float64 array) weights of one layer group, in the order its weight_names attribute gives."""
    names = strings(group, "weight_names")
    if names is None:
        names = []
        group.visititems(lambda n, obj: names.append(n) if isinstance(obj, h5py.Dataset) else None)
    out = []
    for weight in names:
        node = group.get(weight)
        if not isinstance(node, h5py.Dataset):
            raise ModelFileError(f"{path} lists weight '{weight}' of layer '{layer}' but does not hold it; save the model again")
        out.append((weight, numeric_array(node[()], f"weight '{weight}' of layer '{layer}'", path)))
    return out


def kernel_and_bias(arrays: list[tuple[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray | None]:
    """Kernel and optional bias from one or two named arrays, kernel first unless named otherwise."""
    leaves = [name.rsplit("/", 1)[-1].split(":")[0] for name, _ in arrays]
    values = [a for _, a in arrays]
    if len(values) == 2 and leaves == ["bias", "kernel"]:
        values.reverse()
    return values[0], values[1] if len(values) == 2 else None
