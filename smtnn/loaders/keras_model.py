"""A Keras model description (model_config / config.json) to fold operations, for .h5 files and .keras archives.

The layers of one chain become :mod:`.fold` operations: Dense (kernel, bias, activation), the
normalisations that fold exactly into an affine layer (BatchNormalization, Normalization, Rescaling),
standalone activations (Activation, ReLU, LeakyReLU, Softmax), and layers that are the identity at
inference (Dropout and its kin) or reshape only (InputLayer, Flatten, Reshape; row-major order, as Keras).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import ModelFileError, UnsupportedModelError
from .fold import Activation, Elementwise, Linear, batch_norm, fractions, inverse_sqrt
from ._hdf5 import kernel_and_bias

IDENTITY_LAYERS = ("InputLayer", "Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
                   "SpatialDropout1D")
ACCEPTED_LAYERS = ("Dense", "Flatten", "Reshape", "Activation", "ReLU", "LeakyReLU", "Softmax", "BatchNormalization",
                   "Normalization", "Rescaling") + IDENTITY_LAYERS
WEIGHTED_LAYERS = ("Dense", "BatchNormalization", "Normalization")
_ACTIVATION_ALIASES = {"softmax_v2": "softmax", "none": "linear", "leakyrelu": "leaky_relu"}
_ACTIVATIONS = ("relu", "linear", "sigmoid", "tanh", "softmax", "leaky_relu")
KERAS_EPSILON = 1e-7

WeightSource = Callable[[dict, str], list[tuple[str, np.ndarray]]]


def snake_case(name: str) -> str:
    """Keras's class-name-to-key rule (BatchNormalization -> batch_normalization, ReLU -> re_lu)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def layer_chain(config: dict, path: Path) -> list[dict]:
    """The layer descriptions of a Sequential model or a Functional model that is one chain."""
    if not isinstance(config, dict) or not isinstance(config.get("config"), (dict, list)):
        raise ModelFileError(f"{path} has a model description that is not a Keras model; save the model again")
    kind, inner = config.get("class_name"), config["config"]
    if kind == "Sequential":
        layers = inner if isinstance(inner, list) else inner.get("layers")
        if not isinstance(layers, list):
            raise ModelFileError(f"{path} describes a Sequential model without layers; save the model again")
        _check_classes(layers)
        return list(layers)
    if kind in ("Functional", "Model"):
        _check_classes(inner.get("layers") or [])
        return _functional_chain(inner["layers"], path)
    raise UnsupportedModelError(
        f"model class '{kind}' is not supported; smtnn reads Sequential models and Functional models that are one chain of layers"
    )


def _check_classes(layers: list) -> None:
    for layer in layers:
        kind = layer.get("class_name") if isinstance(layer, dict) else None
        if kind not in ACCEPTED_LAYERS:
            raise UnsupportedModelError(
                f"layer '{layer_name(layer) if isinstance(layer, dict) else '?'}' of type {kind} is not supported; "
                f"accepted layers: {', '.join(ACCEPTED_LAYERS)}"
            )


def layer_name(layer: dict) -> str:
    config = layer.get("config")
    name = layer.get("name") or (config.get("name") if isinstance(config, dict) else None)
    return str(name) if name else "?"


def _functional_chain(layers: list[dict], path: Path) -> list[dict]:
    names = [layer_name(layer) for layer in layers]
    if len(set(names)) != len(names):
        raise ModelFileError(f"{path} names two layers alike in its model description; save the model again")
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


def _declared_shape(layer: dict) -> tuple | None:
    config = layer.get("config") or {}
    for declared in (config.get("batch_input_shape"), config.get("batch_shape"),
                     (layer.get("build_config") or {}).get("input_shape")):
        shape = _shape_of(declared)
        if shape is not None and len(shape) >= 2 and all(isinstance(d, int) for d in shape[1:]):
            return tuple(shape[1:])
    return None


def activation_name(value: object, layer: str) -> str:
    if isinstance(value, dict):
        inner = value.get("config")
        if isinstance(inner, dict):
            inner = inner.get("name")
        value = inner if isinstance(inner, str) else value.get("class_name")
    if value is None:
        return "linear"
    if not isinstance(value, str):
        raise ModelFileError(f"layer '{layer}' has an unreadable activation {value!r}; save the model again")
    name = _ACTIVATION_ALIASES.get(value.lower(), value.lower())
    if name not in _ACTIVATIONS:
        raise UnsupportedModelError(
            f"layer '{layer}' uses activation '{value}'; smtnn reads {', '.join(a for a in _ACTIVATIONS if a != 'leaky_relu')}"
        )
    return name


def _last_axis(config: dict, rank: int, name: str, kind: str) -> None:
    axis = config.get("axis", -1)
    axes = axis if isinstance(axis, list) else [axis]
    if [a + rank if a < 0 else a for a in axes] != [rank - 1]:
        raise UnsupportedModelError(f"{kind} layer '{name}' works on axis {axis}; smtnn reads the last (features) axis")


def keras_ops(layers: list[dict], weights: WeightSource, path: Path) -> tuple[list, int]:
    """Fold operations for a chain of Keras layers, and the number of (flattened) inputs."""
    ops: list = []
    shape: tuple | None = None
    n_inputs: int | None = None
    counters: dict[str, int] = defaultdict(int)
    for layer in layers:
        kind, name = layer["class_name"], layer_name(layer)
        config = layer.get("config") or {}
        snake = snake_case(kind)
        key = snake if counters[snake] == 0 else f"{snake}_{counters[snake]}"
        counters[snake] += 1
        declared = _declared_shape(layer)
        if shape is None and declared is not None:
            shape = declared
        if n_inputs is None and shape is not None:
            n_inputs = math.prod(shape)
        if kind in IDENTITY_LAYERS:
            continue
        if kind == "Flatten":
            shape = None if shape is None else (math.prod(shape),)
            continue
        if kind == "Reshape":
            target = tuple(config.get("target_shape") or ())
            if shape is not None and -1 in target:
                known = math.prod(d for d in target if d != -1)
                target = tuple(math.prod(shape) // known if d == -1 else d for d in target)
            shape = target
            continue
        if kind == "Dense":
            kernel, bias = _dense_params(weights(layer, key), name, config, path)
            if shape is not None and len(shape) > 1:
                raise UnsupportedModelError(
                    f"Dense layer '{name}' receives a tensor of shape {shape}; smtnn reads Dense layers on flat vectors "
                    "(put a Flatten before it)"
                )
            if n_inputs is None:
                n_inputs = kernel.shape[0]
            ops.append(Linear(np.ascontiguousarray(kernel.T), bias, name))
            activation = activation_name(config.get("activation"), name)
            if activation != "linear":
                ops.append(Activation(activation, name, Fraction(0.2) if activation == "leaky_relu" else None))
            shape = (kernel.shape[1],)
            continue
        if kind == "Activation":
            activation = activation_name(config.get("activation"), name)
            ops.append(Activation(activation, name, Fraction(0.2) if activation == "leaky_relu" else None))
            continue
        if kind == "Softmax":
            if shape is not None:
                _last_axis(config, len(shape) + 1, name, kind)
            ops.append(Activation("softmax", name))
            continue
        if kind in ("ReLU", "LeakyReLU"):
            ops.append(_relu_layer(kind, name, config))
            continue
        if shape is None:
            raise UnsupportedModelError(
                f"{kind} layer '{name}' comes before the input shape is known; declare the model's Input shape"
            )
        width = math.prod(shape)
        if kind == "Rescaling":
            scale = np.broadcast_to(np.asarray(config.get("scale", 1.0), dtype=np.float64), shape).reshape(-1)
            offset = np.broadcast_to(np.asarray(config.get("offset", 0.0), dtype=np.float64), shape).reshape(-1)
            ops.append(Elementwise(fractions(scale), fractions(offset), f"Rescaling '{name}'"))
            continue
        _last_axis(config, len(shape) + 1, name, kind)
        arrays = weights(layer, key)
        if kind == "BatchNormalization":
            ops.append(_batch_norm(arrays, config, shape, name, path))
        else:
            ops.append(_normalization(arrays, config, shape, name, path))
        if ops[-1].scale is not None and len(ops[-1].scale) != width:  # pragma: no cover - broadcast guarantees it
            raise UnsupportedModelError(f"{kind} layer '{name}' does not match its input shape {shape}")
    if n_inputs is None:
        raise UnsupportedModelError(f"{path} has no Dense layer; smtnn reads networks of Dense layers")
    return ops, n_inputs


def _relu_layer(kind: str, name: str, config: dict) -> Activation:
    if kind == "LeakyReLU":
        slope = config.get("negative_slope", config.get("alpha", 0.3))
        return Activation("leaky_relu", name, Fraction(float(slope)))
    if config.get("max_value") is not None or float(config.get("threshold", 0.0) or 0.0) != 0.0:
        raise UnsupportedModelError(
            f"ReLU layer '{name}' has a max_value or threshold; smtnn reads max(x, 0) and leaky relus only"
        )
    slope = float(config.get("negative_slope", 0.0) or 0.0)
    return Activation("leaky_relu", name, Fraction(slope)) if slope else Activation("relu", name)


def _by_leaf(arrays: list[tuple[str, np.ndarray]], wanted: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """Arrays keyed by their leaf names when every leaf is one of ``wanted``; else None (positional)."""
    leaves = {name.rsplit("/", 1)[-1].split(":")[0]: a for name, a in arrays}
    return leaves if set(leaves) <= set(wanted) and len(leaves) == len(arrays) else None


def _batch_norm(arrays, config: dict, shape: tuple, name: str, path: Path) -> Elementwise:
    order = [k for k, on in (("gamma", config.get("scale", True)), ("beta", config.get("center", True))) if on]
    order += ["moving_mean", "moving_variance"]
    named = _by_leaf(arrays, ("gamma", "beta", "moving_mean", "moving_variance"))
    if named is None:
        if len(arrays) != len(order):
            raise ModelFileError(
                f"BatchNormalization layer '{name}' in {path} stores {len(arrays)} arrays, expected {', '.join(order)}"
            )
        named = dict(zip(order, (a for _, a in arrays), strict=True))
    if set(named) != set(order):
        raise ModelFileError(f"BatchNormalization layer '{name}' in {path} stores {sorted(named)}, expected {order}")
    channels = shape[-1]
    full = {k: np.broadcast_to(np.asarray(v, dtype=np.float64).reshape(-1), shape).reshape(-1) for k, v in named.items()
            if np.asarray(v).size == channels}
    if len(full) != len(named):
        raise ModelFileError(f"BatchNormalization layer '{name}' in {path} has parameters that do not match {channels} channels")
    width = math.prod(shape)
    return batch_norm(full.get("gamma", np.ones(width)), full.get("beta", np.zeros(width)), full["moving_mean"],
                      full["moving_variance"], config.get("epsilon", 1e-3), f"BatchNormalization '{name}'")


def _normalization(arrays, config: dict, shape: tuple, name: str, path: Path) -> Elementwise:
    """Keras Normalization: (x - mean) / max(sqrt(variance), 1e-7), or its inverse with invert=True."""
    mean, variance = config.get("mean"), config.get("variance")
    if mean is None or variance is None:
        named = _by_leaf(arrays, ("mean", "variance", "count"))
        values = named if named is not None else dict(zip(("mean", "variance", "count"), (a for _, a in arrays)))
        if "mean" not in values or "variance" not in values:
            raise ModelFileError(f"Normalization layer '{name}' in {path} stores no mean and variance; adapt and save it again")
        mean, variance = values["mean"], values["variance"]
    try:
        mean = np.broadcast_to(np.asarray(mean, dtype=np.float64), shape).reshape(-1)
        variance = np.broadcast_to(np.asarray(variance, dtype=np.float64), shape).reshape(-1)
    except ValueError as exc:
        raise ModelFileError(f"Normalization layer '{name}' in {path} does not match the input shape {shape}") from exc
    floor = Fraction(KERAS_EPSILON)
    scale, offset = [], []
    for m, v in zip(fractions(mean), fractions(variance)):
        if v < floor * floor:
            divisor_inverse = 1 / floor
        else:
            divisor_inverse = inverse_sqrt(v)
        if config.get("invert"):
            scale.append(1 / divisor_inverse)
            offset.append(m)
        else:
            scale.append(divisor_inverse)
            offset.append(-m * divisor_inverse)
    return Elementwise(scale, offset, f"Normalization '{name}'")


def _dense_params(arrays, name: str, config: dict, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
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
    return kernel, bias
