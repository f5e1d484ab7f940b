"""Keras HDF5 files read and written with h5py alone: full models (.h5) and weights-only files."""

from __future__ import annotations

import itertools
import json
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from ..errors import ModelFileError, UnsupportedModelError
from ..network import Dense, Network
from ._common import atomic_target, check_stored_activations, damaged_file_errors
from ._hdf5 import kernel_and_bias, named_arrays, strings, text
from .keras_weights import ACCEPTED_LAYERS, weights_only_layers

_ACTIVATION_ALIASES = {"softmax_v2": "softmax", "none": "linear"}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
KERAS_VERSION = "2.15.0"
THRESHOLD_ATTR = "smtnn_threshold"
INPUT_NAMES_ATTR = "smtnn_input_names"


def load_keras_h5(path: Path, activations: Sequence[str] | None = None) -> Network:
    """A network from a Keras full-model .h5 or, given ``activations``, a weights-only .h5 file."""
    with damaged_file_errors(path, "HDF5 file"), h5py.File(path, "r") as f:
        if "model_config" in f.attrs:
            layers = _full_model(f, path)
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
        return Network(tuple(layers), **_smtnn_attrs(f))


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


def _full_model(f: h5py.File, path: Path) -> list[Dense]:
    config = json.loads(text(f.attrs["model_config"]))
    if not isinstance(config, dict) or not isinstance(config.get("config"), (dict, list)):
        raise ModelFileError(f"{path} has a model_config that is not a Keras model description; save the model again")
    weights = f.get("model_weights")
    if not isinstance(weights, h5py.Group):
        raise ModelFileError(f"{path} has an architecture but no model_weights group; save the model with its weights")
    return _dense_layers(_layer_chain(config, path), weights, path)


def _layer_chain(config: dict, path: Path) -> list[dict]:
    kind, inner = config.get("class_name"), config["config"]
    if kind == "Sequential":
        layers = inner if isinstance(inner, list) else inner["layers"]
        _check_classes(layers)
        return list(layers)
    if kind in ("Functional", "Model"):
        _check_classes(inner["layers"])
        return _functional_chain(inner["layers"], path)
    raise UnsupportedModelError(
        f"model class '{kind}' is not supported; smtnn reads Sequential models and Functional models that are one chain of layers"
    )


def _check_classes(layers: list[dict]) -> None:
    for layer in layers:
        kind = layer["class_name"]
        if kind not in ACCEPTED_LAYERS:
            raise UnsupportedModelError(
                f"layer '{_layer_name(layer)}' of type {kind} is not supported; accepted layers: {', '.join(ACCEPTED_LAYERS)}"
            )


def _layer_name(layer: dict) -> str:
    config = layer.get("config")
    name = layer.get("name") or (config.get("name") if isinstance(config, dict) else None)
    return str(name) if name else "?"


def _functional_chain(layers: list[dict], path: Path) -> list[dict]:
    names = [_layer_name(layer) for layer in layers]
    if len(set(names)) != len(names):
        raise ModelFileError(f"{path} names two layers alike in its model_config; save the model again")
    parents, children = {}, defaultdict(list)
    for name, layer in zip(names, layers, strict=True):
        nodes = layer.get("inbound_nodes") or []
        if len(nodes) > 1:
            raise UnsupportedModelError(f"layer '{name}' is called {len(nodes)} times; smtnn reads a single chain of layers")
        parents[name] = _inbound_names(nodes)
        if len(parents[name]) > 1:
            raise UnsupportedModelError(f"layer '{name}' takes {len(parents[name])} inputs; smtnn reads a single chain of layers")
        for parent in parents[name]:
            children[parent].append(name)
    starts = [n for n in names if not parents[n]]
    if len(starts) != 1:
        raise UnsupportedModelError(f"the model has {len(starts)} inputs ({', '.join(starts)}); smtnn reads single-input chains")
    order = starts
    while children[order[-1]] and len(order) <= len(names):
        if len(children[order[-1]]) > 1:
            raise UnsupportedModelError(
                f"layer '{order[-1]}' feeds {len(children[order[-1]])} layers; smtnn reads a single chain of layers"
            )
        order = order + children[order[-1]]
    if sorted(order) != sorted(names):
        raise UnsupportedModelError(
            "the model's layers do not form one chain from input to output; smtnn reads a single chain of layers"
        )
    by_name = dict(zip(names, layers, strict=True))
    return [by_name[n] for n in order]


def _inbound_names(nodes: object) -> list[str]:
    """Layer names a node list refers to, in Keras 2 ([name, i, j, kwargs]) or Keras 3 (keras_history) form."""
    found: list[str] = []

    def walk(item: object) -> None:
        if isinstance(item, dict):
            history = item.get("keras_history")
            if isinstance(history, list) and history and isinstance(history[0], str):
                found.append(history[0])
                return
            for value in item.values():
                walk(value)
        elif isinstance(item, list):
            if len(item) >= 3 and isinstance(item[0], str) and all(isinstance(v, int) for v in item[1:3]):
                found.append(item[0])
                return
            for value in item:
                walk(value)

    walk(nodes)
    return list(dict.fromkeys(found))


def _shape_of(value: object) -> tuple | None:
    if isinstance(value, dict):
        value = value.get("items")
    return tuple(value) if isinstance(value, (list, tuple)) else None


def _dense_layers(layers: list[dict], weights: h5py.Group, path: Path) -> list[Dense]:
    dense: list[Dense] = []
    dims: tuple | None = None
    for layer in layers:
        kind, name = layer["class_name"], _layer_name(layer)
        config = layer.get("config") or {}
        for declared in (
            config.get("batch_input_shape"),
            config.get("batch_shape"),
            (layer.get("build_config") or {}).get("input_shape"),
        ):
            shape = _shape_of(declared)
            if shape is not None and len(shape) >= 1:
                dims = shape[1:]
        if kind in ("InputLayer", "Dropout"):
            continue
        if dims is not None and len(dims) > 1:
            raise UnsupportedModelError(
                f"{kind} layer '{name}' receives a tensor of shape {dims}; smtnn reads flat input vectors: "
                "export the model with a flat Input and no Flatten of multi-dimensional data"
            )
        if kind == "Flatten":
            continue
        activation = _activation_name(config.get("activation"), name)
        if kind == "Activation":
            dense = _fold_activation(dense, activation, name)
            continue
        kernel, bias = _dense_params(weights, name, config, path)
        dense.append(Dense(np.ascontiguousarray(kernel.T), bias, activation, name))
        dims = (kernel.shape[1],)
    if not dense:
        raise UnsupportedModelError(f"{path} has no Dense layer; smtnn reads networks of Dense layers")
    return dense


def _fold_activation(dense: list[Dense], activation: str, name: str) -> list[Dense]:
    if activation == "linear":
        return dense
    if not dense:
        raise UnsupportedModelError(
            f"Activation layer '{name}' comes before any Dense layer; smtnn reads activations of Dense layers only"
        )
    last = dense[-1]
    if last.activation != "linear":
        raise UnsupportedModelError(
            f"Activation layer '{name}' applies {activation} after Dense '{last.name}' which already applies {last.activation}; "
            "smtnn reads one activation per Dense layer"
        )
    return dense[:-1] + [Dense(last.weights, last.bias, activation, last.name)]


def _activation_name(value: object, layer: str) -> str:
    if isinstance(value, dict):
        inner = value.get("config")
        if isinstance(inner, dict):
            inner = inner.get("name")
        value = inner if isinstance(inner, str) else value.get("class_name")
    if value is None:
        return "linear"
    if not isinstance(value, str):
        raise ModelFileError(f"layer '{layer}' has an unreadable activation {value!r}; save the model again")
    return _ACTIVATION_ALIASES.get(value.lower(), value.lower())


def _dense_params(weights: h5py.Group, name: str, config: dict, path: Path) -> tuple[np.ndarray, np.ndarray]:
    group = weights.get(name)
    if not isinstance(group, h5py.Group):
        raise ModelFileError(f"{path} has no weights for Dense layer '{name}'; the file is incomplete: save the model again")
    arrays = named_arrays(group, name, path)
    use_bias = config.get("use_bias", True) is not False
    if len(arrays) != (2 if use_bias else 1):
        raise ModelFileError(
            f"Dense layer '{name}' in {path} stores {len(arrays)} weight arrays, expected "
            f"{'kernel and bias' if use_bias else 'a kernel only (use_bias is false)'}; save the model again"
        )
    kernel, bias = kernel_and_bias(arrays)
    if kernel.ndim != 2:
        raise UnsupportedModelError(f"Dense layer '{name}' has a kernel of shape {kernel.shape}; smtnn reads 2-D kernels")
    units = config.get("units", kernel.shape[1])
    if units != kernel.shape[1]:
        raise ModelFileError(
            f"Dense layer '{name}' declares {units} units but its kernel has shape {kernel.shape}; save the model again"
        )
    return kernel, np.zeros(kernel.shape[1]) if bias is None else bias
