"""Hostile model files are refused with one line, and nothing outside the model is read (issue 14 item 3).

Each case builds the file with the library an attacker would use (h5py, zipfile, onnx): HDF5 external raw
storage, external links and virtual datasets pointing at another file; a .keras archive whose member
expands enormously; ONNX external data outside the model's folder.  The secret file's bytes must never
become weights.
"""

from __future__ import annotations

import io
import json
import zipfile
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from smtnn.errors import ModelFileError
from smtnn.loaders import load_network
from smtnn.loaders.quantized import _certified_round, _Floats, _Lin
from tests.test_loaders import dense_entry, layer_entry, write_keras_model


def _secret(tmp_path: Path) -> Path:
    secret = tmp_path / "elsewhere" / "secret.bin"
    secret.parent.mkdir()
    secret.write_bytes(np.arange(8, dtype=np.float64).tobytes())
    return secret


def _one_line(path, *words) -> str:
    with pytest.raises(ModelFileError) as info:
        load_network(path)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


def _keras_h5(tmp_path: Path, kernel_writer) -> Path:
    layers = [layer_entry("InputLayer", "input_layer", batch_shape=[None, 8]), dense_entry("dense", 1, "sigmoid")]
    path = write_keras_model(tmp_path / "model.h5", layers, {"dense": [np.ones((8, 1)), np.zeros(1)]})
    with h5py.File(path, "a") as f:
        group = f["model_weights/dense/sequential/dense"]
        del group["kernel"]
        kernel_writer(group, "kernel")
    return path


def test_hdf5_external_raw_storage_is_refused(tmp_path):
    secret = _secret(tmp_path)
    path = _keras_h5(tmp_path, lambda g, n: g.create_dataset(n, shape=(8, 1), dtype="f8", external=[(str(secret), 0, 64)]))
    _one_line(path, "external raw storage")


def test_hdf5_external_link_is_refused(tmp_path):
    other = tmp_path / "elsewhere.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("kernel", data=np.full((8, 1), 7.0))
    path = _keras_h5(tmp_path, lambda g, n: g.__setitem__(n, h5py.ExternalLink(str(other), "/kernel")))
    _one_line(path, "external link", "elsewhere.h5")


def test_hdf5_virtual_dataset_is_refused(tmp_path):
    other = tmp_path / "source.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("data", data=np.full((8, 1), 7.0))

    def virtual(group, name):
        layout = h5py.VirtualLayout(shape=(8, 1), dtype="f8")
        layout[:] = h5py.VirtualSource(str(other), "data", shape=(8, 1))
        group.create_virtual_dataset(name, layout)

    _one_line(_keras_h5(tmp_path, virtual), "virtual dataset")


def test_external_link_on_a_layer_group_is_refused(tmp_path):
    other = tmp_path / "group.h5"
    with h5py.File(other, "w") as f:
        f.create_group("dense")
    layers = [layer_entry("InputLayer", "input_layer", batch_shape=[None, 8]), dense_entry("dense", 1, "sigmoid")]
    path = write_keras_model(tmp_path / "model.h5", layers, {"dense": [np.ones((8, 1)), np.zeros(1)]})
    with h5py.File(path, "a") as f:
        del f["model_weights/dense"]
        f["model_weights/dense"] = h5py.ExternalLink(str(other), "/dense")
    _one_line(path, "external link")


def _keras_archive(path: Path, weights: bytes, config: dict | None = None, compress=zipfile.ZIP_STORED) -> Path:
    config = config or {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"name": "input_layer", "batch_shape": [None, 8]}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 1, "activation": "sigmoid", "use_bias": True}}]}}
    with zipfile.ZipFile(path, "w", compression=compress) as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights)
    return path


def _weights_file(kernel_writer) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        group = f.create_group("layers/dense/vars")
        kernel_writer(group, "0")
        group.create_dataset("1", data=np.zeros(1))
    return buffer.getvalue()


def test_keras_archive_reads_weights_in_memory(tmp_path):
    kernel = np.arange(8.0).reshape(8, 1) / 8
    path = _keras_archive(tmp_path / "m.keras", _weights_file(lambda g, n: g.create_dataset(n, data=kernel)))
    network = load_network(path)
    assert network.layers[0].weights.T.tolist() == kernel.tolist() and network.binary


def test_keras_archive_weights_with_external_storage_are_refused(tmp_path):
    secret = _secret(tmp_path)
    weights = _weights_file(lambda g, n: g.create_dataset(n, shape=(8, 1), dtype="f8", external=[(str(secret), 0, 64)]))
    _one_line(_keras_archive(tmp_path / "m.keras", weights), "external raw storage")


def test_keras_archive_zip_bomb_is_refused(tmp_path):
    bomb = _keras_archive(tmp_path / "bomb.keras", bytes(64 * 2**20), compress=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 2**20
    _one_line(bomb, "zip bomb")


def _external_onnx(tmp_path: Path, location: str) -> Path:
    weights = numpy_helper.from_array(np.ones((2, 3), dtype=np.float32), "W")
    weights.ClearField("raw_data")
    weights.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "24")):
        entry = weights.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph([helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weights])
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    path = folder / "net.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    return path


@pytest.mark.parametrize("where", ["../elsewhere/secret.bin", "absolute"])
def test_onnx_external_data_outside_the_model_folder_is_refused(tmp_path, where):
    secret = _secret(tmp_path)
    path = _external_onnx(tmp_path, str(secret) if where == "absolute" else where)
    _one_line(path, "outside the model's folder")


def test_onnx_external_data_beside_the_model_is_read(tmp_path):
    path = _external_onnx(tmp_path, "net.onnx.data")
    (path.parent / "net.onnx.data").write_bytes(np.arange(6, dtype=np.float32).tobytes())
    network = load_network(path)
    assert network.layers[0].weights.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_onnx_missing_external_data_is_named(tmp_path):
    _one_line(_external_onnx(tmp_path, "net.onnx.data"), "net.onnx.data", "missing")


# -- exact rounding of the quantized forward pass ---------------------------------------------------------------
def test_certified_rounding_equals_exact_rounding_at_and_near_ties():
    """round(x / s) half to even: the float fast path must agree with rationals, ties included."""
    scale = Fraction(float(np.float32(0.0123)))
    rng = np.random.default_rng(5)
    ties = [float((k + Fraction(1, 2)) * scale) for k in range(-20, 20)]     # floats nearest to exact ties
    exact_ties = np.array([float(2 * scale * 3 / 2)])                          # 1.5 * s, exact in binary64
    values = np.concatenate([rng.normal(scale=2, size=500), ties, exact_ties, np.nextafter(exact_ties, 0)])
    got = _certified_round(_Floats(values.reshape(1, -1)), scale).reshape(-1)
    want = [round(Fraction(float(v)) / scale) for v in values]
    assert got.tolist() == want
    acc = rng.integers(-5000, 5000, size=(3, 40))
    mult = np.array([Fraction(float(np.float32(rng.uniform(1e-4, 1e-2)))) for _ in range(40)], dtype=object)
    offset = np.array([scale * Fraction(k, 2) for k in range(40)], dtype=object)   # half-steps: many exact ties
    lin = _Lin(acc, mult, offset)
    got = _certified_round(lin, scale)
    want = [[round((mult[j] * int(acc[i, j]) + offset[j]) / scale) for j in range(40)] for i in range(3)]
    assert got.tolist() == want
    assert _certified_round(_Lin(np.zeros((1, 40), dtype=np.int64), mult, offset), scale).tolist()[0] == [
        round(Fraction(k, 2)) for k in range(40)]
