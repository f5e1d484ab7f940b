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


def _follow(group: h5py.Group, name: str, path: Path) -> h5py.HLObject | None:
    """The object at ``name`` under ``group`` (None when absent), refusing HDF5 external links on the way."""
    node: h5py.HLObject = group
    for part in [p for p in name.split("/") if p]:
        if not isinstance(node, h5py.Group):
            return None
        link = node.get(part, getlink=True)
        if link is None:
            return None
        if isinstance(link, h5py.ExternalLink):
            raise ModelFileError(
                f"{path} links '{name}' to the file '{link.filename}' (an HDF5 external link); smtnn reads weights stored "
                "in the model file only: save the model again"
            )
        node = node.get(part)
    return node


def checked_dataset(group: h5py.Group, name: str, path: Path) -> h5py.Dataset | None:
    """The dataset ``name`` under ``group``, refusing links to other files, external raw storage and virtual datasets.

    Each of these makes HDF5 read bytes from another file, so a model file could pull any local file into
    its weights (and from there into exported queries and results).
    """
    node = _follow(group, name, path)
    if not isinstance(node, h5py.Dataset):
        return None
    if node.is_virtual:
        raise ModelFileError(
            f"{path} stores '{name}' as an HDF5 virtual dataset (data mapped from other files); smtnn reads weights stored "
            "in the model file only: save the model again"
        )
    if node.id.get_create_plist().get_external_count() > 0:
        raise ModelFileError(
            f"{path} stores '{name}' in external raw storage (bytes of another file); smtnn reads weights stored in "
            "the model file only: save the model again"
        )
    return node


def checked_group(group: h5py.Group, name: str, path: Path) -> h5py.Group | None:
    """The group ``name`` under ``group`` (None when absent), refusing external links on the way."""
    node = _follow(group, name, path)
    return node if isinstance(node, h5py.Group) else None


def read_array(group: h5py.Group, name: str, what: str, path: Path) -> np.ndarray:
    """A float64 copy of a checked dataset (see :func:`checked_dataset`)."""
    node = checked_dataset(group, name, path)
    if node is None:
        raise ModelFileError(f"{path} lists {what} but does not hold it; save the model again")
    return numeric_array(node[()], what, path)


def named_arrays(group: h5py.Group, layer: str, path: Path) -> list[tuple[str, np.ndarray]]:
    """The (name, float64 array) weights of one layer group, in the order its weight_names attribute gives."""
    names = strings(group, "weight_names")
    if names is None:
        names = dataset_names(group, path)
    return [(weight, read_array(group, weight, f"weight '{weight}' of layer '{layer}'", path)) for weight in names]


def dataset_names(group: h5py.Group, path: Path, prefix: str = "") -> list[str]:
    """Paths of the datasets under ``group``, without following links to other files."""
    out = []
    for key in group:
        link = group.get(key, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            raise ModelFileError(
                f"{path} links '{prefix}{key}' to the file '{link.filename}' (an HDF5 external link); smtnn reads weights "
                "stored in the model file only: save the model again"
            )
        node = group.get(key)
        if isinstance(node, h5py.Group):
            out += dataset_names(node, path, f"{prefix}{key}/")
        elif isinstance(node, h5py.Dataset):
            out.append(f"{prefix}{key}")
    return out


def kernel_and_bias(arrays: list[tuple[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray | None]:
    """Kernel and optional bias from one or two named arrays, kernel first unless named otherwise."""
    leaves = [name.rsplit("/", 1)[-1].split(":")[0] for name, _ in arrays]
    values = [a for _, a in arrays]
    if len(values) == 2 and leaves == ["bias", "kernel"]:
        values.reverse()
    return values[0], values[1] if len(values) == 2 else None
