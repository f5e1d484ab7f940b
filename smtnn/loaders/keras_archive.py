"""Keras 3 ``.keras`` archives: a zip holding config.json (the architecture) and model.weights.h5 (the weights).

Read with zipfile and h5py only.  Members are size-checked before they are expanded (a zip bomb is refused
with one line), and the weights file gets the same HDF5 checks as a model file (no links to other files,
no external storage).  In model.weights.h5 each layer's arrays sit in ``layers/<key>/vars/0, 1, ...`` where
the key is the layer's class in snake case, numbered in order (dense, dense_1, batch_normalization, ...).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from ..errors import ModelFileError
from ..network import Network
from ._common import check_stored_activations, damaged_file_errors
from ._hdf5 import checked_group, read_array
from .fold import finish_chain
from .keras_model import keras_ops, layer_chain, layer_name

MAX_CONFIG_BYTES = 16 * 2**20
MAX_WEIGHTS_BYTES = 2 * 2**30
MAX_RATIO = 200
MAX_MEMBERS = 10_000


def load_keras_archive(path: Path, activations: Sequence[str] | None = None) -> Network:
    """A network from a Keras 3 .keras archive (``model.save('model.keras')``)."""
    with damaged_file_errors(path, "Keras .keras archive"), zipfile.ZipFile(path) as archive:
        members = {info.filename: info for info in archive.infolist()}
        if len(members) > MAX_MEMBERS:
            raise ModelFileError(f"{path} holds {len(members)} files; a .keras archive holds three: save the model again")
        for needed in ("config.json", "model.weights.h5"):
            if needed not in members:
                raise ModelFileError(f"{path} is a .keras archive without {needed}; save the model again with model.save")
        config = json.loads(_member(archive, members["config.json"], MAX_CONFIG_BYTES, path))
        weights = _member(archive, members["model.weights.h5"], MAX_WEIGHTS_BYTES, path)
        layers = layer_chain(config, path)
        with h5py.File(io.BytesIO(weights), "r") as f:
            root = checked_group(f, "layers", path)
            if root is None:
                raise ModelFileError(f"{path} holds no layer weights in model.weights.h5; save the model again")

            def arrays(layer: dict, key: str) -> list[tuple[str, np.ndarray]]:
                group = checked_group(root, f"{key}/vars", path) or checked_group(root, f"{layer_name(layer)}/vars", path)
                if group is None:
                    raise ModelFileError(f"{path} holds no weights for layer '{layer_name(layer)}'; save the model again")
                keys = sorted(group.keys(), key=lambda k: int(k) if k.isdigit() else -1)
                return [(k, read_array(group, k, f"weight {k} of layer '{layer_name(layer)}'", path)) for k in keys]

            ops, n_inputs = keras_ops(layers, arrays, path)
    layers_, notes = finish_chain(ops, n_inputs)
    if activations is not None:
        check_stored_activations(activations, layers_, path)
    return Network(tuple(layers_), name="; ".join(notes))


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, path: Path) -> bytes:
    """A member's bytes, refusing one that expands beyond ``limit`` or far beyond its compressed size."""
    if info.file_size > limit:
        raise ModelFileError(
            f"{path}: {info.filename} expands to {info.file_size} bytes, more than the {limit} smtnn reads; "
            "it is not a Keras model of dense layers"
        )
    if info.compress_size and info.file_size > MAX_RATIO * info.compress_size and info.file_size > 2**20:
        raise ModelFileError(
            f"{path}: {info.filename} expands {info.file_size // info.compress_size} times (a zip bomb); smtnn refuses it"
        )
    with archive.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ModelFileError(f"{path}: {info.filename} expands beyond its declared size (a zip bomb); smtnn refuses it")
    return data
