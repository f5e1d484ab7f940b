"""Keras HDF5 files read and written with h5py alone: full models (.h5) and weights-only files."""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from ..errors import ModelFileError
from ..network import Dense, Network
from ._common import atomic_target, check_stored_activations, damaged_file_errors
from ._hdf5 import checked_group, named_arrays, strings, text
from .fold import finish_chain
from .keras_model import keras_ops, layer_chain, layer_name
from .keras_weights import weights_only_layers

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
KERAS_VERSION = "2.15.0"
THRESHOLD_ATTR = "smtnn_threshold"
INPUT_NAMES_ATTR = "smtnn_input_names"


def load_keras_h5(path: Path, activations: Sequence[str] | None = None) -> Network:
    """A network from a Keras full-model .h5 or, given ``activations``, a weights-only .h5 file."""
    notes: list[str] = []
    with damaged_file_errors(path, "HDF5 file"), h5py.File(path, "r") as f:
        if "model_config" in f.attrs:
            layers, notes = _full_model(f, path)
            if activations is not None:
                check_stored_activations(activations, layers, path)
        else:
            layers = weights_only_layers(f, activations, path)
        if layers is None:
            entries = ", ".join(list(f.keys())[:5]) or "nothing"
            raise ModelFileError(
                f"{path} is an HDF5 file but not a Keras model (no model_config, no Keras weights; it holds {entries}); "
                "save the model with model.save('model.h5') or model.save_weights('model.weights.h5')"
            )
        return Network(tuple(layers), name="; ".join(notes), **_smtnn_attrs(f))


def save_keras_h5(network: Network, path: str | os.PathLike) -> None:
    """Write ``network`` as a Keras-2-layout Sequential .h5 that Keras and :func:`load_keras_h5` read back exactly."""
    names = _keras_names(network)
    input_name = next(n for n in (f"input_layer_{i}" if i else "input_layer" for i in itertools.count()) if n not in names)
    input_layer = {
        "class_name": "InputLayer",
        "config": {
            "batch_input_shape": [None, network.n_inputs],
            "dtype": "float64",
            "sparse": False,
            "name": input_name,
        },
    }
    layers = [input_layer] + [_dense_config(name, layer) for name, layer in zip(names, network.layers, strict=True)]
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}
    with atomic_target(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["keras_version"] = KERAS_VERSION
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        f.attrs[THRESHOLD_ATTR] = str(network.threshold)
        f.attrs[INPUT_NAMES_ATTR] = _byte_strings(network.input_names)
        weights = f.create_group("model_weights")
        weights.attrs["layer_names"] = _byte_strings(names)
        weights.attrs["backend"] = "tensorflow"
        weights.attrs["keras_version"] = KERAS_VERSION
        for name, layer in zip(names, network.layers, strict=True):
            group = weights.create_group(name)
            kernel, bias = f"{name}/kernel:0", f"{name}/bias:0"
            group.attrs["weight_names"] = _byte_strings([kernel, bias])
            group.create_dataset(kernel, data=np.ascontiguousarray(layer.weights.T))
            group.create_dataset(bias, data=layer.bias)


def _dense_config(name: str, layer: Dense) -> dict:
    return {
        "class_name": "Dense",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": "float64",
            "units": layer.outputs,
            "activation": layer.activation,
            "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "activity_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        },
    }


def _byte_strings(items: Sequence[str]) -> np.ndarray:
    """Fixed-length byte strings, the form Keras 2 writes list attributes in."""
    return np.array([item.encode("utf8") for item in items], dtype=bytes)


def _keras_names(network: Network) -> list[str]:
    names = [layer.name for layer in network.layers]
    if len(set(names)) == len(names) and all(_SAFE_NAME.match(n) for n in names):
        return names
    return [f"dense_{i}" for i in range(len(names))]


def _smtnn_attrs(f: h5py.File) -> dict:
    out: dict = {}
    if THRESHOLD_ATTR in f.attrs:
        out["threshold"] = text(f.attrs[THRESHOLD_ATTR])
    names = strings(f, INPUT_NAMES_ATTR)
    if names:
        out["input_names"] = tuple(names)
    return out


def _full_model(f: h5py.File, path: Path) -> tuple[list[Dense], list[str]]:
    config = json.loads(text(f.attrs["model_config"]))
    weights = checked_group(f, "model_weights", path)
    if weights is None:
        raise ModelFileError(f"{path} has an architecture but no model_weights group; save the model with its weights")
    layers = layer_chain(config, path)

    def arrays(layer: dict, key: str) -> list[tuple[str, np.ndarray]]:
        name = layer_name(layer)
        group = checked_group(weights, name, path)
        if group is None:
            raise ModelFileError(
                f"{path} has no weights for {layer['class_name']} layer '{name}'; the file is incomplete: save the model again"
            )
        return named_arrays(group, name, path)

    ops, n_inputs = keras_ops(layers, arrays, path)
    return finish_chain(ops, n_inputs)
