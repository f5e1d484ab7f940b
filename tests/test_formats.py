"""Files made the way users make them compute what their own library computes (issue 11 item 5).

Three sources: the committed files of tests/data/models with their library's reference values (no extra
library needed), the files tests/model_zoo.py writes with keras, torch, skl2onnx and onnxruntime when these
are installed (skipped with the reason otherwise), and the published VNN-COMP 2021 networks, checked
against onnxruntime (or onnx's reference implementation) in float64.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from smtnn.errors import UnsupportedModelError
from smtnn.loaders import load_network
from smtnn.loaders.quantized import load_quantized
from tests.format_check import RELATIVE, agrees, worst_relative_error

DATA = Path(__file__).parent / "data"
COMMITTED = sorted((DATA / "models").glob("*.reference.npz"))
VNNCOMP = sorted((DATA / "vnncomp2021").glob("*/*.onnx"))


def _has(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


# -- committed files ------------------------------------------------------------------------------------
@pytest.mark.parametrize("reference", COMMITTED, ids=lambda p: p.name.removesuffix(".reference.npz"))
def test_committed_file_matches_its_library(reference):
    data = np.load(reference)
    model = reference.with_name(reference.name.removesuffix(".reference.npz"))
    inputs = data["inputs"].astype(np.float64)
    ok, message = agrees(model, str(data["reads"]), inputs, data["outputs"])
    assert ok, f"{model.name} ({data['kind']}): {message}"


def test_committed_files_cover_every_library():
    libraries = {str(np.load(r)["library"]) for r in COMMITTED}
    assert libraries == {"keras", "torch", "sklearn", "onnxruntime"}


def test_folding_is_named_in_the_network_name():
    network = load_network(DATA / "models" / "keras_normalized_bn_leaky.keras")
    assert "Normalization 'normalization'" in network.name and "BatchNormalization" in network.name
    assert [layer.activation for layer in network.layers] == ["relu", "leaky_relu", "softmax"]
    assert network.layers[1].alpha == Fraction(0.1)
    scaler = load_network(DATA / "models" / "sklearn_scaler_mlp_zipmap.onnx")
    assert "Scaler" in scaler.name and "class scores" in scaler.name


# -- files written now by the libraries -------------------------------------------------------------------
@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    from tests.model_zoo import make_all

    made, missing = make_all(tmp_path_factory.mktemp("zoo"))
    return made, missing


@pytest.mark.skipif(not _has("keras", "torch", "onnxruntime", "skl2onnx"),
                    reason="needs keras, torch, onnxruntime and skl2onnx: pip install -e '.[test]' on Python 3.11 installs them")
def test_library_written_files_match_their_library(zoo):
    made, missing = zoo
    assert not missing, missing
    failures = []
    for item in made:
        try:
            ok, message = agrees(item.path, item.reads, item.inputs, item.outputs)
        except Exception as exc:  # noqa: BLE001 - collected so that one run names every failing kind
            ok, message = False, f"{type(exc).__name__}: {exc}"
        if not ok:
            failures.append(f"{item.kind}: {message}")
    assert not failures, failures
    assert len(made) >= 20


@pytest.mark.skipif(not _has("torch", "onnxruntime", "sklearn"), reason="needs torch, onnxruntime and scikit-learn: pip install -e '.[test]' on Python 3.11 installs them")
def test_quantized_labels_equal_onnxruntime_on_thousands_of_inputs(zoo):
    """Every quantized form on 2000 inputs (1000 for dynamic quantization), digits-like and uniform noise:
    labels agree exactly."""
    from tests.model_zoo import onnxruntime_labels

    made, _ = zoo
    quantized = [item for item in made if item.reads == "labels"]
    assert len(quantized) == 5
    rng = np.random.default_rng(7)
    near = np.clip(quantized[0].inputs[rng.integers(0, len(quantized[0].inputs), 1000)]
                   + rng.normal(scale=0.15, size=(1000, 64)), 0, 1)
    inputs = np.vstack([near, rng.uniform(0, 1, size=(1000, 64))]).astype(np.float32).astype(np.float64)
    for item in quantized:
        rows = inputs if "dynamic" not in item.kind else inputs[::2]   # evaluated one row at a time: slower
        want = onnxruntime_labels(item.path, rows, (1, 64))
        got = load_quantized(item.path).predict(rows)
        assert np.array_equal(got, want), f"{item.kind}: {int((got != want).sum())} labels differ"


@pytest.mark.skipif(not _has("torch", "onnxruntime", "sklearn"), reason="needs torch, onnxruntime and scikit-learn: pip install -e '.[test]' on Python 3.11 installs them")
def test_quantized_relus_live_in_the_activation_quantization(zoo):
    """In QDQ files the Relu nodes are gone; dropping the quantization (naive weight extraction) changes labels."""
    made, _ = zoo
    qdq = next(item for item in made if item.kind.endswith("QDQ per-tensor"))
    assert "Relu" not in {node.op_type for node in onnx.load(str(qdq.path)).graph.node}
    quantized = load_quantized(qdq.path)
    logits = np.array([[float(v) for v in z] for z in quantized.logits(qdq.inputs[:50])])
    naive = _naive_dequantized_logits(qdq.path, qdq.inputs[:50])
    assert np.abs(logits - naive).max() > 1e-3


def _naive_dequantized_logits(path, inputs):
    """Dequantized weights with every QuantizeLinear/DequantizeLinear on activations removed (what not to do)."""
    model = onnx.load(str(path))
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    weights = []
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in values:
            q, scale, zero = (values[name].astype(np.float64) for name in node.input[:3])
            values[node.output[0]] = (q - zero) * scale
    for node in model.graph.node:
        if node.op_type == "Gemm":
            weights.append((values[node.input[1]], values[node.input[2]]))
    h = inputs
    for i, (w, b) in enumerate(weights):
        h = h @ w.T + b
    return h


# -- published benchmark networks --------------------------------------------------------------------------
def _reference_outputs(path: Path, inputs: np.ndarray) -> np.ndarray:
    from tests.model_zoo import onnxruntime_outputs

    model = onnx.load(str(path))
    initializers = {t.name for t in model.graph.initializer}
    data_input = next(i for i in model.graph.input if i.name not in initializers)   # old graphs list weights as inputs
    dims = [d.dim_value or 1 for d in data_input.type.tensor_type.shape.dim]
    if _has("onnxruntime"):
        return onnxruntime_outputs(model, inputs, tuple(dims))
    from onnx.reference import ReferenceEvaluator

    from tests.model_zoo import to_double

    evaluator = ReferenceEvaluator(to_double(model))
    return np.array([np.asarray(evaluator.run(None, {data_input.name: x.reshape(dims)})[0]).reshape(-1) for x in inputs])


@pytest.mark.parametrize("path", VNNCOMP, ids=lambda p: p.stem)
def test_vnncomp_network_matches_onnxruntime(path):
    network = load_network(path)
    rng = np.random.default_rng(3)
    inputs = rng.uniform(-1, 1, size=(20, network.n_inputs))
    want = _reference_outputs(path, inputs)
    got = np.atleast_2d(network.logits(inputs))
    if "the one relu output" in network.name or "relu outputs" in network.name:
        got = np.maximum(got, 0)
    assert worst_relative_error(got, want) <= RELATIVE


def test_vnncomp_shapes_and_folds_are_read():
    acas = load_network(DATA / "vnncomp2021" / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx")
    assert acas.n_inputs == 5 and acas.n_outputs == 5 and len(acas.layers) == 7 and "Sub" in acas.name
    mnist = load_network(DATA / "vnncomp2021" / "mnistfc" / "mnist-net_256x2.onnx")
    assert mnist.n_inputs == 784 and [layer.outputs for layer in mnist.layers] == [256, 256, 10]
    small = load_network(DATA / "vnncomp2021" / "test" / "test_small.onnx")
    assert small.binary and "logit of a binary decision" in small.name


# -- quantized files in the verification commands ---------------------------------------------------------
def test_quantized_file_is_refused_as_a_network_with_one_line():
    with pytest.raises(UnsupportedModelError) as info:
        load_network(DATA / "models" / "digits_int8_qdq.onnx")
    message = str(info.value)
    assert "\n" not in message and "quantized" in message and "load_quantized" in message


def _twins(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smtnn", "twins", *args], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).parent.parent)


def _digit(index: int) -> np.ndarray:
    return np.load(DATA / "models" / "digits_int8_qdq.onnx.reference.npz")["inputs"][index].astype(np.float64)


def test_twins_refuses_dynamic_quantization_and_lrsm_of_a_quantized_twin_with_one_line():
    models = DATA / "models"
    x0 = ",".join(repr(float(v)) for v in _digit(0))
    result = _twins("decisions", str(models / "digits_float.onnx"), str(models / "digits_int8_dynamic.onnx"), f"--x0={x0}",
                    "--radius", "0.01")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "dynamic quantization" in lines[0]
    result = _twins("lrsm", str(models / "digits_float.onnx"), str(models / "digits_int8_qdq.onnx"), f"--x0={x0}", "--radius", "0.01")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and "activation quantization" in result.stderr


@pytest.mark.parametrize("name", ["digits_int8_qdq.onnx", "digits_int8_qoperator_per_channel.onnx"])
def test_twins_decisions_of_the_int8_digits_model_is_definite(name):
    """A small ball is proved (exit 0); a large one gives a counterexample that replays exactly (exit 1)."""
    import json

    from smtnn.twins.pair import exact_class

    models = DATA / "models"
    x0 = _digit(0)
    shown = ",".join(repr(float(v)) for v in x0)
    proved = _twins("decisions", str(models / "digits_float.onnx"), str(models / name), f"--x0={shown}", "--radius", "0.005",
                    "--clip", "0:1", "--json")
    assert proved.returncode == 0, proved.stderr
    assert json.loads(proved.stdout)["verdict"] == "holds"
    flipped = _twins("decisions", str(models / "digits_float.onnx"), str(models / name), f"--x0={shown}", "--radius", "0.3",
                     "--clip", "0:1", "--json")
    assert flipped.returncode == 1, flipped.stderr
    report = json.loads(flipped.stdout)
    witness = [Fraction(v) for v in report["witness"]["input_exact"]]
    assert all(max(0, Fraction(float(c)) - Fraction(3, 10)) <= w <= min(1, Fraction(float(c)) + Fraction(3, 10))
               for w, c in zip(witness, x0))
    float_class = exact_class(load_network(models / "digits_float.onnx"), witness)
    logits = load_quantized(models / name).logits_exact([witness])[0]
    assert [float_class, logits.index(max(logits))] == [report["witness"]["classes"]["N1"], report["witness"]["classes"]["N2"]]
    assert float_class != logits.index(max(logits))


def test_quantized_interval_bounds_enclose_the_exact_forward_pass():
    """The enclosures behind "holds" contain the exact logits of sampled inputs, both networks, many boxes."""
    from smtnn.twins.pair import exact_logits
    from smtnn.twins.quantized import _float_bounds, _quantized_bounds

    models = DATA / "models"
    first = load_network(models / "digits_float.onnx")
    parameters = [Fraction(float(v)) for v in first.parameter_vector()]
    rng = np.random.default_rng(11)
    for name in ("digits_int8_qdq.onnx", "digits_int8_qoperator_per_channel.onnx"):
        second = load_quantized(models / name)
        for index, radius in ((0, 0.01), (1, 0.05), (2, 0.2)):
            lo, hi = np.clip(_digit(index) - radius, 0, 1), np.clip(_digit(index) + radius, 0, 1)
            box = [(Fraction(float(a)), Fraction(float(b))) for a, b in zip(lo, hi)]
            n2, n1 = _quantized_bounds(second, box), _float_bounds(first, box, parameters)
            points = rng.uniform(lo, hi, size=(30, 64))
            points[0] = lo
            for point, z2 in zip(points, second.logits(points)):
                z1 = exact_logits(first, [Fraction(float(v)) for v in point])
                assert all(a <= v <= b for (a, b), v in zip(n2, z2))
                assert all(a <= v <= b for (a, b), v in zip(n1, z1))


def test_holds_is_not_contradicted_by_sampling():
    from smtnn.twins.quantized import quantized_decisions

    models = DATA / "models"
    first, second = load_network(models / "digits_float.onnx"), load_quantized(models / "digits_int8_qdq.onnx")
    x0 = _digit(1)
    report = quantized_decisions(first, second, x0=[Fraction(float(v)) for v in x0], radius=Fraction(1, 200), clip=(0, 1))
    assert report.verdict.value == "holds"
    points = np.clip(x0 + np.random.default_rng(2).uniform(-1 / 200, 1 / 200, size=(3000, 64)), 0, 1)
    assert np.array_equal(second.predict(points), first.predict(points))


# -- exact folding, checked by hand --------------------------------------------------------------------------
def _write(path: Path, nodes, initializers: dict, input_shape, output="y", opset=13) -> Path:
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in initializers.items()],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return path


def test_input_normalisation_by_powers_of_two_folds_without_rounding(tmp_path):
    """(x - m) / 2 then W x + b: W' = W / 2 and b' = b - W m / 2 are floats again, nothing is rounded."""
    nodes = [helper.make_node("Sub", ["x", "m"], ["c"]), helper.make_node("Div", ["c", "s"], ["n"]),
             helper.make_node("Flatten", ["n"], ["f"]), helper.make_node("MatMul", ["f", "W"], ["z"]),
             helper.make_node("Add", ["z", "b"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "V", "c2"], ["y"], transB=1)]
    W = np.array([[1.0, -2.0], [3.0, 0.5]])
    path = _write(tmp_path / "norm.onnx", nodes, {"m": [[1.0, 3.0]], "s": [[2.0, 2.0]], "W": W, "b": [0.25, -1.0],
                                                  "V": np.eye(2), "c2": [0.0, 0.0]}, [1, 2])
    network = load_network(path)
    first = network.layers[0]
    assert np.array_equal(first.weights, (W / 2).T)
    assert first.bias.tolist() == [0.25 - (1 * 1 + 3 * 3) / 2, -1.0 - (-2 * 1 + 0.5 * 3) / 2]
    assert "rounded" not in network.name and "Sub" in network.name and "Div" in network.name


def test_batch_norm_folds_into_the_layer_before(tmp_path):
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["z"], transB=1),
             helper.make_node("BatchNormalization", ["z", "g", "beta", "mu", "var"], ["n"], epsilon=0.0),
             helper.make_node("Relu", ["n"], ["r"]), helper.make_node("Gemm", ["r", "V", "c"], ["y"], transB=1)]
    path = _write(tmp_path / "bn.onnx", nodes, {"W": [[1.0, 2.0], [3.0, 4.0]], "b": [1.0, 1.0], "g": [2.0, 1.0],
                                               "beta": [0.5, 0.0], "mu": [1.0, 2.0], "var": [4.0, 0.25],
                                               "V": np.eye(2), "c": [0.0, 0.0]}, [1, 2])
    first = load_network(path).layers[0]
    # scale g / sqrt(var) = (1, 2); y = scale * (W x + b - mu) + beta
    assert first.weights.tolist() == [[1.0, 2.0], [6.0, 8.0]]
    assert first.bias.tolist() == [0.5, -2.0]


def test_weights_times_input_and_leaky_relu(tmp_path):
    nodes = [helper.make_node("MatMul", ["W", "x"], ["z"]), helper.make_node("LeakyRelu", ["z"], ["h"], alpha=0.125),
             helper.make_node("MatMul", ["V", "h"], ["y"])]
    path = _write(tmp_path / "wx.onnx", nodes, {"W": [[1.0, -1.0], [2.0, 1.0]], "V": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]},
                  [2, 1])
    network = load_network(path)
    assert network.layers[0].activation == "leaky_relu" and network.layers[0].alpha == Fraction(1, 8)
    # x = (1, 3): z = (-2, 5) -> h = (-0.25, 5) -> y = (-0.25, 5, 4.75)
    assert network.logits([1.0, 3.0]).tolist() == [-0.25, 5.0, 4.75]


def test_transpose_reorders_inputs(tmp_path):
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]), helper.make_node("Flatten", ["t"], ["f"]),
             helper.make_node("Gemm", ["f", "W", "b"], ["y"], transB=1)]
    W = np.array([[1.0, 10.0, 100.0, 1000.0], [0.0, 0.0, 0.0, 1.0]])
    path = _write(tmp_path / "t.onnx", nodes, {"W": W, "b": [0.0, 0.0]}, [1, 2, 2])
    # x = [[a, b], [c, d]] transposed is [a, c, b, d]
    assert load_network(path).logits([1.0, 2.0, 3.0, 4.0]).tolist() == [1 + 30 + 200 + 4000, 4.0]


def test_dropout_identity_cast_and_constant_nodes_are_plumbing(tmp_path):
    nodes = [helper.make_node("Constant", [], ["m"], value=numpy_helper.from_array(np.array([1.0, 1.0], dtype=np.float32))),
             helper.make_node("Identity", ["W0"], ["W"]), helper.make_node("Cast", ["x"], ["xc"], to=TensorProto.FLOAT),
             helper.make_node("Sub", ["xc", "m"], ["s"]), helper.make_node("Gemm", ["s", "W", "b"], ["z"], transB=1),
             helper.make_node("Dropout", ["z"], ["d"]), helper.make_node("Relu", ["d"], ["r"]),
             helper.make_node("Gemm", ["r", "W", "b"], ["y"], transB=1)]
    path = _write(tmp_path / "p.onnx", nodes, {"W0": np.eye(2), "b": [0.0, 0.0]}, [1, 2])
    assert load_network(path).logits([3.0, 0.0]).tolist() == [2.0, 0.0]


def test_a_fixed_example_batch_is_read_as_one_input(tmp_path):
    """Exporters can fix the batch of their example input (here 3); the leading axis is the batch."""
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["f"]), helper.make_node("Gemm", ["f", "W", "b"], ["y"], transB=1)]
    shape = numpy_helper.from_array(np.array([3, 4], dtype=np.int64), "shape")
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [shape, numpy_helper.from_array(np.arange(8, dtype=np.float32).reshape(2, 4), "W"),
                               numpy_helper.from_array(np.zeros(2, dtype=np.float32), "b")])
    path = tmp_path / "batch3.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    network = load_network(path)
    assert network.n_inputs == 4 and network.logits([1.0, 0.0, 0.0, 1.0]).tolist() == [3.0, 11.0]


def test_quantized_forward_pass_on_exact_inputs_equals_the_float_input_path():
    """logits_exact (rational inputs, everything in rationals) agrees with the fast certified path."""
    reference = np.load(DATA / "models" / "digits_int8_qoperator_per_channel.onnx.reference.npz")
    network = load_quantized(DATA / "models" / "digits_int8_qoperator_per_channel.onnx")
    rows = reference["inputs"][:20].astype(np.float64)
    exact = network.logits_exact([[Fraction(float(v)) for v in row] for row in rows])
    assert exact == network.logits(rows)
    assert exact[0] != exact[1]
