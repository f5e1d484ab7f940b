"""Model files in, Network out: exact round trips, and one-line SmtnnErrors for every bad file."""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
import pytest

from smtnn.errors import InvalidInputError, ModelFileError, SmtnnError, UnsupportedModelError
from smtnn.loaders import load_network, save_keras_h5, save_npz
from smtnn.network import Network

import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RNG = np.random.default_rng(20240611)


def binary_network() -> Network:
    """3 inputs -> 4 relu -> 1 sigmoid, decision level 0.7."""
    weights = [RNG.normal(size=(4, 3)), RNG.normal(size=(1, 4))]
    biases = [RNG.normal(size=4), RNG.normal(size=1)]
    return Network.from_arrays(weights, biases, ["relu", "sigmoid"], threshold="0.7", input_names=("age", "dose", "weight"))


def three_class_network() -> Network:
    """2 inputs -> 5 tanh -> 3 linear logits."""
    weights = [RNG.normal(size=(5, 2)), RNG.normal(size=(3, 5))]
    biases = [RNG.normal(size=5), RNG.normal(size=3)]
    return Network.from_arrays(weights, biases, ["tanh", "linear"])


def assert_same_network(got: Network, want: Network) -> None:
    """Same activations, bit-identical parameters, and bit-identical logits at random points."""
    assert [layer.activation for layer in got.layers] == [layer.activation for layer in want.layers]
    for g, w in zip(got.layers, want.layers, strict=True):
        assert np.array_equal(g.weights, w.weights)
        assert np.array_equal(g.bias, w.bias)
    assert got.exact_parameters() == want.exact_parameters()
    points = RNG.normal(size=(25, want.n_inputs))
    assert np.array_equal(got.logits(points), want.logits(points))


def raises_one_line(error: type[SmtnnError], path, *words: str, **kwargs) -> str:
    """Load ``path``, expect ``error`` with a one-line message containing ``words``; return the message."""
    with pytest.raises(error) as info:
        load_network(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


# -- writers that mimic files made by Keras ----------------------------------------------------


def dense_entry(name: str, units: int, activation: str = "linear", use_bias: bool = True) -> dict:
    """A Dense layer as Keras 3 writes it into model_config."""
    dtype = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}
    return {
        "class_name": "Dense",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": dtype,
            "units": units,
            "activation": activation,
            "use_bias": use_bias,
        },
    }


def layer_entry(kind: str, name: str, **config) -> dict:
    return {"class_name": kind, "config": {"name": name, **config}}


def write_keras_model(path: Path, layers: list[dict], weights: dict[str, list[np.ndarray]], model: str = "Sequential") -> Path:
    """A full-model .h5 in the legacy layout Keras 3 writes: model_config plus model_weights/<layer>/sequential/<layer>/kernel."""
    if model == "Sequential":
        config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}
    else:
        config = {
            "class_name": "Functional",
            "config": {
                "name": "functional",
                "layers": layers,
                "input_layers": [layers[0]["name"], 0, 0],
                "output_layers": [layers[-1]["name"], 0, 0],
            },
        }
    with h5py.File(path, "w") as f:
        f.attrs["backend"] = "jax"
        f.attrs["keras_version"] = "3.15.1"
        f.attrs["model_config"] = json.dumps(config)
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = [entry["config"]["name"] for entry in layers]
        for entry in layers:
            name = entry["config"]["name"]
            layer_group = group.create_group(name)
            arrays = weights.get(name, [])
            names = [f"sequential/{name}/{kind}" for kind in ("kernel", "bias")[: len(arrays)]]
            layer_group.attrs["weight_names"] = names if names else np.zeros(0)
            for weight_name, array in zip(names, arrays, strict=True):
                layer_group.create_dataset(weight_name, data=array)
    return path


def write_keras3_weights(path: Path, network: Network, extra_empty: tuple[str, ...] = ("dropout",)) -> Path:
    """A Keras 3 .weights.h5: layers/dense, layers/dense_1, ... each with vars/0 (kernel, inputs x outputs) and vars/1."""
    with h5py.File(path, "w") as f:
        f.create_group("vars").attrs["name"] = "sequential"
        layers = f.create_group("layers")
        for i, layer in enumerate(network.layers):
            variables = layers.create_group("dense" if i == 0 else f"dense_{i}").create_group("vars")
            variables.attrs["name"] = layer.name
            variables.create_dataset("0", data=layer.weights.T)
            variables.create_dataset("1", data=layer.bias)
        for name in extra_empty:
            layers.create_group(name).create_group("vars").attrs["name"] = name
    return path


def write_keras2_weights(path: Path, network: Network) -> Path:
    """A Keras 2 save_weights .h5: root layer_names, <layer>/<layer>/kernel:0 and bias:0."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"input_1"] + [layer.name.encode() for layer in network.layers]
        f.create_group("input_1").attrs["weight_names"] = np.zeros(0)
        for layer in network.layers:
            group = f.create_group(layer.name)
            group.attrs["weight_names"] = [f"{layer.name}/kernel:0".encode(), f"{layer.name}/bias:0".encode()]
            group.create_dataset(f"{layer.name}/kernel:0", data=layer.weights.T)
            group.create_dataset(f"{layer.name}/bias:0", data=layer.bias)
    return path


def write_onnx(path: Path, nodes: list, initializers: dict[str, np.ndarray], n_inputs: int, output: str = "y") -> Path:
    """An ONNX model with input 'x' of shape (N, n_inputs) and the given nodes and initializers."""
    graph = helper.make_graph(
        nodes,
        "net",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", n_inputs])],
        [helper.make_tensor_value_info(output, TensorProto.DOUBLE, None)],
        [numpy_helper.from_array(array, name) for name, array in initializers.items()],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


# -- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [binary_network, three_class_network])
def test_keras_h5_round_trip_is_bit_exact(tmp_path, make):
    network = make()
    save_keras_h5(network, tmp_path / "model.h5")
    loaded = load_network(tmp_path / "model.h5")
    assert_same_network(loaded, network)
    assert loaded.threshold == network.threshold
    assert loaded.input_names == network.input_names
    assert loaded.name == "model"


def test_saved_h5_has_the_keras2_layout(tmp_path):
    network = binary_network()
    save_keras_h5(network, tmp_path / "model.h5")
    with h5py.File(tmp_path / "model.h5", "r") as f:
        config = json.loads(f.attrs["model_config"])
        assert f.attrs["backend"] == "tensorflow" and f.attrs["keras_version"].startswith("2.")
        weights = f["model_weights"]
        assert [n.decode() for n in weights.attrs["layer_names"]] == ["dense_0", "dense_1"]
        assert [n.decode() for n in weights["dense_0"].attrs["weight_names"]] == ["dense_0/kernel:0", "dense_0/bias:0"]
        assert np.array_equal(weights["dense_0/dense_0/kernel:0"][()], network.layers[0].weights.T)
    assert config["class_name"] == "Sequential"
    kinds = [(layer["class_name"], layer["config"].get("activation")) for layer in config["config"]["layers"]]
    assert kinds == [("InputLayer", None), ("Dense", "relu"), ("Dense", "sigmoid")]
    assert config["config"]["layers"][0]["config"]["batch_input_shape"] == [None, 3]


def test_keras3_weights_file_needs_and_uses_activations(tmp_path):
    network = Network.from_arrays(
        [RNG.normal(size=(2, 3))] + [RNG.normal(size=(2, 2)) for _ in range(10)] + [RNG.normal(size=(1, 2))],
        [RNG.normal(size=2) for _ in range(11)] + [RNG.normal(size=1)],
        ["relu"] * 11 + ["sigmoid"],
    )
    path = write_keras3_weights(tmp_path / "model.weights.h5", network)
    raises_one_line(InvalidInputError, path, "weights only", "--activations relu,", "12 dense layers")
    raises_one_line(InvalidInputError, path, "2 activations given for the 12 dense layers", activations="relu,sigmoid")
    loaded = load_network(path, activations=",".join(["relu"] * 11 + ["sigmoid"]))
    assert_same_network(loaded, network)
    assert loaded.name == "model"


def test_keras2_weights_file_reads_with_activations(tmp_path):
    network = three_class_network()
    path = write_keras2_weights(tmp_path / "weights.h5", network)
    assert_same_network(load_network(path, activations=["tanh", "linear"]), network)


def test_keras3_full_model_with_dropout_activation_and_no_bias(tmp_path):
    k1, b1, k2, k3, b3 = (RNG.normal(size=s) for s in [(3, 4), 4, (4, 5), (5, 1), 1])
    layers = [
        layer_entry("InputLayer", "input_layer", batch_shape=[None, 3]),
        dense_entry("dense", 4, "relu"),
        layer_entry("Dropout", "dropout", rate=0.5),
        dense_entry("dense_1", 5, "linear", use_bias=False),
        layer_entry("Activation", "activation", activation="tanh"),
        layer_entry("Flatten", "flatten"),
        dense_entry("dense_2", 1, "sigmoid"),
    ]
    path = write_keras_model(tmp_path / "keras3.h5", layers, {"dense": [k1, b1], "dense_1": [k2], "dense_2": [k3, b3]})
    want = Network.from_arrays([k1, k2, k3], [b1, np.zeros(5), b3], ["relu", "tanh", "sigmoid"], kernel_layout="in_out")
    loaded = load_network(path)
    assert_same_network(loaded, want)
    assert [layer.name for layer in loaded.layers] == ["dense", "dense_1", "dense_2"]
    assert loaded.threshold == Fraction(1, 2)


def test_functional_chain_is_read_in_graph_order(tmp_path):
    k1, b1, k2, b2 = (RNG.normal(size=s) for s in [(2, 3), 3, (3, 2), 2])

    def called_on(entry: dict, parent: str) -> dict:
        history = {"class_name": "__keras_tensor__", "config": {"keras_history": [parent, 0, 0]}}
        return {**entry, "name": entry["config"]["name"], "inbound_nodes": [{"args": [history], "kwargs": {}}]}

    layers = [
        {**layer_entry("InputLayer", "inp", batch_shape=[None, 2]), "name": "inp", "inbound_nodes": []},
        called_on(dense_entry("out", 2, "softmax"), "hidden"),
        called_on(dense_entry("hidden", 3, "relu"), "inp"),
    ]
    path = write_keras_model(tmp_path / "functional.h5", layers, {"hidden": [k1, b1], "out": [k2, b2]}, model="Functional")
    want = Network.from_arrays([k1, k2], [b1, b2], ["relu", "softmax"], kernel_layout="in_out")
    assert_same_network(load_network(path), want)


def test_npz_round_trip_is_bit_exact(tmp_path):
    network = binary_network()
    save_npz(network, tmp_path / "model.npz")
    loaded = load_network(tmp_path / "model.npz")
    assert_same_network(loaded, network)
    assert loaded.threshold == Fraction(7, 10)
    assert loaded.input_names == ("age", "dose", "weight")


def test_hand_written_npz(tmp_path):
    network = three_class_network()
    arrays = {
        f"{kind}{i}": getattr(layer, attr)
        for i, layer in enumerate(network.layers)
        for kind, attr in (("W", "weights"), ("b", "bias"))
    }
    np.savez(tmp_path / "plain.npz", activations=np.array(["tanh", "linear"]), **arrays)
    assert_same_network(load_network(tmp_path / "plain.npz"), network)


def test_onnx_gemm_matmul_add_chain(tmp_path):
    network = Network.from_arrays(
        [RNG.normal(size=(4, 3)), RNG.normal(size=(5, 4)), RNG.normal(size=(3, 5))],
        [RNG.normal(size=4), RNG.normal(size=5), RNG.normal(size=3)],
        ["relu", "tanh", "softmax"],
    )
    (w0, w1, w2), (b0, b1, b2) = [layer.weights for layer in network.layers], [layer.bias for layer in network.layers]
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "W0", "b0"], ["h0"], transB=1),
        helper.make_node("Relu", ["h0"], ["a0"]),
        helper.make_node("MatMul", ["a0", "W1t"], ["h1"]),
        helper.make_node("Add", ["h1", "b1"], ["h1b"]),
        helper.make_node("Tanh", ["h1b"], ["a1"]),
        helper.make_node("Gemm", ["a1", "W2t", "b2"], ["h2"]),
        helper.make_node("Identity", ["h2"], ["h3"]),
        helper.make_node("Softmax", ["h3"], ["y"], axis=-1),
    ]
    path = write_onnx(
        tmp_path / "net.onnx", nodes, {"W0": w0, "b0": b0, "W1t": w1.T.copy(), "b1": b1, "W2t": w2.T.copy(), "b2": b2}, 3
    )
    assert_same_network(load_network(path), network)


def test_onnx_float32_initializers_widen_exactly(tmp_path):
    w, b = RNG.normal(size=(1, 3)).astype(np.float32), RNG.normal(size=1).astype(np.float32)
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["z"], transB=1), helper.make_node("Sigmoid", ["z"], ["y"])]
    loaded = load_network(write_onnx(tmp_path / "f32.onnx", nodes, {"W": w, "b": b}, 3))
    assert np.array_equal(loaded.layers[0].weights, w.astype(np.float64))
    assert loaded.binary


def test_onnx_gemm_alpha_beta_only_when_exact(tmp_path):
    w, b = RNG.normal(size=(1, 3)), RNG.normal(size=1)
    nodes = [
        helper.make_node("Gemm", ["x", "W", "b"], ["z"], transB=1, alpha=2.0, beta=0.5),
        helper.make_node("Sigmoid", ["z"], ["y"]),
    ]
    loaded = load_network(write_onnx(tmp_path / "scaled.onnx", nodes, {"W": w, "b": b}, 3))
    assert np.array_equal(loaded.layers[0].weights, 2 * w) and np.array_equal(loaded.layers[0].bias, b / 2)
    nodes[0] = helper.make_node("Gemm", ["x", "W", "b"], ["z"], transB=1, alpha=0.1)
    path = write_onnx(tmp_path / "rounded.onnx", nodes, {"W": np.full((1, 3), 1 / 3), "b": b}, 3)
    raises_one_line(UnsupportedModelError, path, "rounds the weights", "fold alpha/beta")


# -- options ------------------------------------------------------------------------------------


def test_threshold_name_and_activations_options(tmp_path):
    save_npz(binary_network(), tmp_path / "model.npz")
    loaded = load_network(tmp_path / "model.npz", threshold="0.9", name="triage")
    assert loaded.threshold == Fraction(9, 10) and loaded.name == "triage"
    assert load_network(tmp_path / "model.npz", activations="relu,sigmoid").n_inputs == 3
    raises_one_line(InvalidInputError, tmp_path / "model.npz", "stores the activations relu,sigmoid", activations="tanh,sigmoid")
    raises_one_line(InvalidInputError, tmp_path / "model.npz", "between 0 and 1", threshold=1.5)


# -- bad files ----------------------------------------------------------------------------------


def test_missing_path(tmp_path):
    raises_one_line(ModelFileError, tmp_path / "nope.h5", "no such file", "check the path")


def test_directory(tmp_path):
    raises_one_line(ModelFileError, tmp_path, "is a directory")


@pytest.mark.parametrize("suffix", [".h5", ".weights.h5", ".npz", ".onnx", ".bin"])
def test_zero_byte_file(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    path.touch()
    raises_one_line(ModelFileError, path, "is empty (0 bytes)", "save it again")


def test_text_file_named_h5(tmp_path):
    path = tmp_path / "model.h5"
    path.write_text("this is not a model\n")
    raises_one_line(ModelFileError, path, "not an HDF5 file")


def test_unknown_suffix(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"\x80\x02}q\x00.")
    raises_one_line(ModelFileError, path, "unknown format", ".npz")


def test_hdf5_that_is_not_keras(tmp_path):
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f.create_dataset("measurements", data=np.arange(5))
    raises_one_line(ModelFileError, tmp_path / "data.h5", "not a Keras model", "measurements", "model.save")


def test_keras_archive_without_weights_is_refused_with_a_hint(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "model.keras", "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("metadata.json", "{}")
    raises_one_line(ModelFileError, tmp_path / "model.keras", ".keras archive without model.weights.h5", "model.save")


def test_conv2d_layer_is_rejected_by_name(tmp_path):
    layers = [
        layer_entry("InputLayer", "input_layer", batch_shape=[None, 8, 8, 1]),
        layer_entry("Conv2D", "conv2d", filters=2, kernel_size=[3, 3]),
        layer_entry("Flatten", "flatten"),
        dense_entry("dense", 1, "sigmoid"),
    ]
    path = write_keras_model(tmp_path / "cnn.h5", layers, {"dense": [np.ones((72, 1)), np.zeros(1)]})
    raises_one_line(UnsupportedModelError, path, "'conv2d'", "Conv2D", "accepted layers: Dense")


def test_flatten_of_an_image_reads_pixels_in_row_major_order(tmp_path):
    layers = [
        layer_entry("InputLayer", "input_layer", batch_shape=[None, 2, 2]),
        layer_entry("Flatten", "flatten"),
        dense_entry("dense", 1, "sigmoid"),
    ]
    kernel = np.array([[1.0], [2.0], [3.0], [4.0]])
    path = write_keras_model(tmp_path / "image.h5", layers, {"dense": [kernel, np.zeros(1)]})
    network = load_network(path)
    assert network.n_inputs == 4
    image = np.array([[1.0, 10.0], [100.0, 1000.0]])
    assert network.logits(image.reshape(-1))[0] == 1 + 20 + 300 + 4000


def test_dense_on_an_image_without_flatten_is_rejected(tmp_path):
    layers = [
        layer_entry("InputLayer", "input_layer", batch_shape=[None, 2, 2]),
        dense_entry("dense", 1, "sigmoid"),
    ]
    path = write_keras_model(tmp_path / "image.h5", layers, {"dense": [np.ones((2, 1)), np.zeros(1)]})
    raises_one_line(UnsupportedModelError, path, "Dense layer 'dense'", "Flatten")


def test_branching_functional_model_is_rejected(tmp_path):
    def node(*parents: str) -> list:
        return [[[parent, 0, 0, {}] for parent in parents]]

    layers = [
        {**layer_entry("InputLayer", "x", batch_input_shape=[None, 2]), "name": "x", "inbound_nodes": []},
        {**dense_entry("a", 2), "name": "a", "inbound_nodes": node("x")},
        {**dense_entry("b", 2), "name": "b", "inbound_nodes": node("x")},
        {**dense_entry("c", 2), "name": "c", "inbound_nodes": node("a")},
    ]
    weights = {name: [np.ones((2, 2)), np.zeros(2)] for name in "abc"}
    path = write_keras_model(tmp_path / "branch.h5", layers, weights, model="Functional")
    raises_one_line(UnsupportedModelError, path, "single chain")


def test_keras_kernel_that_does_not_match_units(tmp_path):
    layers = [dense_entry("dense", 4, "relu"), dense_entry("dense_1", 1, "sigmoid")]
    weights = {"dense": [np.ones((3, 3)), np.zeros(3)], "dense_1": [np.ones((3, 1)), np.zeros(1)]}
    raises_one_line(ModelFileError, write_keras_model(tmp_path / "units.h5", layers, weights), "declares 4 units", "(3, 3)")


def test_keras_layers_that_do_not_chain(tmp_path):
    layers = [dense_entry("dense", 4, "relu"), dense_entry("dense_1", 1, "sigmoid")]
    weights = {"dense": [np.ones((3, 4)), np.zeros(4)], "dense_1": [np.ones((5, 1)), np.zeros(1)]}
    raises_one_line(
        UnsupportedModelError, write_keras_model(tmp_path / "chain.h5", layers, weights), "expects 5 inputs", "gives 4"
    )


def test_keras_missing_layer_weights(tmp_path):
    layers = [dense_entry("dense", 1, "sigmoid")]
    path = write_keras_model(tmp_path / "noweights.h5", layers, {"dense": [np.ones((3, 1)), np.zeros(1)]})
    with h5py.File(path, "a") as f:
        del f["model_weights/dense"]
    raises_one_line(ModelFileError, path, "no weights for Dense layer 'dense'", "save the model again")


def test_npz_shape_mismatch_and_missing_arrays(tmp_path):
    np.savez(
        tmp_path / "shapes.npz",
        W0=np.ones((4, 3)),
        b0=np.zeros(4),
        W1=np.ones((1, 5)),
        b1=np.zeros(1),
        activations=np.array(["relu", "sigmoid"]),
    )
    raises_one_line(UnsupportedModelError, tmp_path / "shapes.npz", "expects 5 inputs")
    np.savez(tmp_path / "bias.npz", W0=np.ones((1, 3)), b0=np.zeros(2), activations=np.array(["sigmoid"]))
    raises_one_line(UnsupportedModelError, tmp_path / "bias.npz", "1 units but 2 biases")
    np.savez(tmp_path / "gap.npz", W0=np.ones((1, 3)), activations=np.array(["sigmoid"]))
    raises_one_line(ModelFileError, tmp_path / "gap.npz", "b0", "W0, b0, W1, b1")
    np.savez(tmp_path / "noact.npz", W0=np.ones((1, 3)), b0=np.zeros(1))
    raises_one_line(InvalidInputError, tmp_path / "noact.npz", "no 'activations' array")
    assert load_network(tmp_path / "noact.npz", activations="sigmoid").binary
    np.savez(tmp_path / "pickled.npz", W0=np.ones((1, 3)), b0=np.zeros(1), activations=np.array(["sigmoid"], dtype=object))
    raises_one_line(ModelFileError, tmp_path / "pickled.npz", "Python objects", "np.array(['relu', 'sigmoid'])")


def test_nan_and_inf_weights(tmp_path):
    np.savez(tmp_path / "nan.npz", W0=np.array([[1.0, np.nan]]), b0=np.zeros(1), activations=np.array(["sigmoid"]))
    raises_one_line(UnsupportedModelError, tmp_path / "nan.npz", "NaN or infinite")
    layers = [dense_entry("dense", 1, "sigmoid")]
    path = write_keras_model(tmp_path / "inf.h5", layers, {"dense": [np.array([[np.inf], [1.0]]), np.zeros(1)]})
    raises_one_line(UnsupportedModelError, path, "NaN or infinite")


def test_onnx_unsupported_op_is_named(tmp_path):
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["z"], transB=1), helper.make_node("Elu", ["z"], ["y"])]
    path = write_onnx(tmp_path / "elu.onnx", nodes, {"W": np.ones((2, 3)), "b": np.zeros(2)}, 3)
    raises_one_line(UnsupportedModelError, path, "Elu", "supported ops: Gemm, MatMul")


def test_onnx_branching_graph_is_rejected(tmp_path):
    nodes = [
        helper.make_node("Gemm", ["x", "W", "b"], ["z"], transB=1),
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Add", ["z", "r"], ["y"]),
    ]
    path = write_onnx(tmp_path / "branch.onnx", nodes, {"W": np.ones((3, 3)), "b": np.zeros(3)}, 3)
    raises_one_line(UnsupportedModelError, path, "single chain")


def test_onnx_package_missing(tmp_path, monkeypatch):
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1)]
    path = write_onnx(tmp_path / "net.onnx", nodes, {"W": np.ones((2, 3)), "b": np.zeros(2)}, 3)
    monkeypatch.setitem(sys.modules, "onnx", None)
    raises_one_line(ModelFileError, path, "pip install smtnn[onnx]")


def valid_files(tmp_path: Path) -> list[Path]:
    save_keras_h5(binary_network(), tmp_path / "model.h5")
    save_npz(three_class_network(), tmp_path / "model.npz")
    write_keras3_weights(tmp_path / "model.weights.h5", binary_network())
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["z"], transB=1), helper.make_node("Sigmoid", ["z"], ["y"])]
    write_onnx(tmp_path / "model.onnx", nodes, {"W": RNG.normal(size=(1, 3)), "b": np.zeros(1)}, 3)
    return [tmp_path / name for name in ("model.h5", "model.npz", "model.weights.h5", "model.onnx")]


def load_or_smtnn_error(path: Path, **kwargs) -> None:
    """Loading may succeed or raise a SmtnnError with a one-line message; anything else fails the test."""
    try:
        load_network(path, **kwargs)
    except SmtnnError as error:
        assert "\n" not in str(error)


def test_truncated_copies_raise_only_smtnn_errors(tmp_path):
    out = tmp_path / "cut"
    out.mkdir()
    for path in valid_files(tmp_path):
        data = path.read_bytes()
        lengths = sorted({1, 7, 8, 100, 511, 512, 1024} | set(range(0, len(data), max(1, len(data) // 40))))
        for length in (n for n in lengths if 0 < n < len(data)):
            cut = out / path.name
            cut.write_bytes(data[:length])
            load_or_smtnn_error(cut, activations="relu,sigmoid" if "weights" in path.name else None)


@pytest.mark.parametrize("suffix", [".h5", ".weights.h5", ".hdf5", ".npz", ".onnx", ".keras", ".bin", ""])
def test_random_bytes_raise_only_smtnn_errors(tmp_path, suffix):
    rng = np.random.default_rng(7)
    for trial in range(20):
        path = tmp_path / f"random{trial}{suffix}"
        path.write_bytes(rng.integers(0, 256, size=int(rng.integers(1, 4000)), dtype=np.uint8).tobytes())
        with pytest.raises(SmtnnError) as info:
            load_network(path)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("prefix", [b"\x89HDF\r\n\x1a\n", b"PK\x03\x04"])
def test_random_bytes_behind_a_valid_signature(tmp_path, prefix):
    rng = np.random.default_rng(11)
    for trial in range(20):
        path = tmp_path / f"fake{trial}.h5"
        path.write_bytes(prefix + rng.integers(0, 256, size=int(rng.integers(1, 4000)), dtype=np.uint8).tobytes())
        with pytest.raises(SmtnnError):
            load_network(path)


def test_corrupted_bytes_inside_npz_and_onnx_files(tmp_path):
    """Overwritten bytes; not HDF5, whose C library can crash on corrupted metadata (truncation is caught)."""
    rng = np.random.default_rng(3)
    out = tmp_path / "flipped"
    out.mkdir()
    for path in [p for p in valid_files(tmp_path) if p.suffix in (".npz", ".onnx")]:
        data = bytearray(path.read_bytes())
        for _ in range(30):
            damaged = bytearray(data)
            for position in rng.integers(0, len(data), size=8):
                damaged[position] = int(rng.integers(0, 256))
            (out / path.name).write_bytes(bytes(damaged))
            load_or_smtnn_error(out / path.name, activations="relu,sigmoid" if "weights" in path.name else None)


# -- writing --------------------------------------------------------------------------------------


def test_save_into_missing_directory(tmp_path):
    with pytest.raises(ModelFileError, match="no such directory"):
        save_npz(binary_network(), tmp_path / "missing" / "model.npz")


@pytest.mark.parametrize("save, target", [(save_keras_h5, "model.h5"), (save_npz, "model.npz")])
def test_failed_save_leaves_old_file_and_no_temporary(tmp_path, monkeypatch, save, target):
    path = tmp_path / target
    path.write_bytes(b"old contents")

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", fail)
    monkeypatch.setattr(np, "savez", fail)
    with pytest.raises(RuntimeError):
        save(binary_network(), path)
    assert path.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target]
