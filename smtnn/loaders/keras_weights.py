"""Keras weights-only HDF5 files (Keras 2 save_weights, Keras 3 .weights.h5): Dense layers, activations given."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from ..errors import InvalidInputError, ModelFileError, UnsupportedModelError
from ..network import Dense
from ._hdf5 import checked_group, kernel_and_bias, named_arrays, read_array, strings, text

ACCEPTED_LAYERS = ("Dense", "InputLayer", "Dropout", "Flatten", "Activation")
_SUFFIXED = re.compile(r"^(.*?)(?:_(\d+))?$")

RawLayer = tuple[str, np.ndarray, np.ndarray]


def weights_only_layers(f: h5py.File, activations: Sequence[str] | None, path: Path) -> list[Dense] | None:
    """The Dense layers of a weights-only file, or None when ``f`` is not one."""
    if "layer_names" in f.attrs:
        return _with_activations(_keras2_weights(f, path), activations, path)
    layers = checked_group(f, "layers", path)
    if layers is not None:
        return _with_activations(_keras3_weights(layers, path), activations, path)
    return None


def _keras2_weights(f: h5py.File, path: Path) -> list[RawLayer]:
    out = []
    for name in strings(f, "layer_names") or []:
        group = checked_group(f, name, path)
        if group is None:
            raise ModelFileError(f"{path} lists layer '{name}' but holds no weights for it; save the weights again")
        arrays = named_arrays(group, name, path)
        if arrays:
            out.append(_raw_dense(name, arrays, path))
    return out


def _keras3_weights(layers: h5py.Group, path: Path) -> list[RawLayer]:
    entries = []
    for key in layers:
        group = checked_group(layers, key, path)
        if not isinstance(group, h5py.Group):
            raise ModelFileError(f"{path} has an unexpected entry layers/{key}; save the weights again")
        if "layers" in group:
            raise UnsupportedModelError(f"layers/{key} in {path} is a nested model; smtnn reads flat models of Dense layers")
        variables = checked_group(group, "vars", path)
        keys = sorted(variables.keys(), key=int) if isinstance(variables, h5py.Group) else []
        if not keys:
            continue
        base, index = _SUFFIXED.match(key).groups()
        if base != "dense":
            raise UnsupportedModelError(
                f"layers/{key} in {path} holds weights of a {base} layer; accepted layers: {', '.join(ACCEPTED_LAYERS)}"
            )
        name = variables.attrs.get("name", key)
        arrays = [(k, read_array(variables, k, f"layers/{key}/vars/{k}", path)) for k in keys]
        entries.append((int(index or 0), _raw_dense(text(name), arrays, path)))
    return [raw for _, raw in sorted(entries, key=lambda e: e[0])]


def _raw_dense(name: str, arrays: list[tuple[str, np.ndarray]], path: Path) -> RawLayer:
    kernel, bias = kernel_and_bias(arrays) if len(arrays) <= 2 else (None, None)
    if kernel is None or kernel.ndim != 2 or (bias is not None and bias.ndim != 1):
        raise UnsupportedModelError(
            f"layer '{name}' in {path} holds weights of shapes {[a.shape for _, a in arrays]}; "
            "without an architecture smtnn reads only Dense layers (kernel, bias)"
        )
    return name, kernel, np.zeros(kernel.shape[1]) if bias is None else bias


def _with_activations(raw: list[RawLayer], activations: Sequence[str] | None, path: Path) -> list[Dense]:
    if not raw:
        raise ModelFileError(f"{path} holds no dense layer weights; save the weights again")
    example = ",".join(["relu"] * (len(raw) - 1) + ["sigmoid" if raw[-1][1].shape[1] == 1 else "softmax"])
    if activations is None:
        raise InvalidInputError(
            f"{path} holds weights only, no architecture; pass the activation of each of its {len(raw)} dense layers, "
            f"e.g. activations='{example}' (CLI: --activations {example})"
        )
    if len(activations) != len(raw):
        raise InvalidInputError(
            f"{len(activations)} activations given for the {len(raw)} dense layers of {path}; give one per layer, e.g. {example}"
        )
    return [Dense(np.ascontiguousarray(k.T), b, a, name) for (name, k, b), a in zip(raw, activations, strict=True)]
