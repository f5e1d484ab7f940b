"""Model files made the way users make them, each with its own library's inference as the reference.

Keras 3 (``model.save`` to .keras and .h5, torch backend), torch's ONNX exporters, skl2onnx and
onnxruntime's quantizer write small networks; every :class:`Made` file carries the inputs it was checked
on and what the writing library (or onnxruntime, for ONNX) computes there.  ``python -m tests.model_zoo DIR``
writes them all to DIR; the test-suite calls :func:`make_all` into a temporary folder, and a few outputs are
committed under tests/data/models with their reference values (see its README) so that the loaders are
checked where these libraries are absent.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")

SEED = 20261130


@dataclass
class Made:
    """One written model file with reference inputs and outputs.

    ``outputs`` are what the library computes on ``inputs``: logits, probabilities or sigmoid values (``reads``
    says which), or, for quantized files, onnxruntime's labels.
    """

    kind: str
    path: Path
    inputs: np.ndarray
    outputs: np.ndarray
    reads: str                      # "logits" | "probabilities" | "sigmoid" | "relu" | "labels"
    library: str
    extra: list[Path] = field(default_factory=list)


def _quiet():
    import logging

    warnings.filterwarnings("ignore")
    logging.getLogger("absl").setLevel(logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)
    return contextlib.redirect_stdout(io.StringIO())


# -- ONNX helpers -----------------------------------------------------------------------------------
def to_double(model):
    """The same ONNX graph computing in float64 (initializers, constants, casts and declared types)."""
    import onnx
    from onnx import TensorProto, numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph

    def widen(tensor):
        if tensor.data_type == TensorProto.FLOAT:
            tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float64), tensor.name))

    for tensor in graph.initializer:
        widen(tensor)
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                widen(attr.t)
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.DOUBLE
    for value in list(graph.input) + list(graph.output):
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            value.type.tensor_type.elem_type = TensorProto.DOUBLE
    del graph.value_info[:]
    return model


def onnxruntime_outputs(model, inputs: np.ndarray, shape: tuple, output: int = 0) -> np.ndarray:
    """The float64 outputs of ``model`` (converted with :func:`to_double`), one input row at a time.

    onnxruntime computes them; where it has no float64 kernel for an op (LeakyRelu, for one), onnx's own
    reference implementation does.
    """
    import onnxruntime

    double = to_double(model)
    try:
        session = onnxruntime.InferenceSession(double.SerializeToString(), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        run = lambda x: session.run(None, {name: x})  # noqa: E731
    except Exception:  # noqa: BLE001 - onnxruntime: "Could not find an implementation for ... (double)"
        from onnx.reference import ReferenceEvaluator

        evaluator = ReferenceEvaluator(double)
        name = double.graph.input[0].name
        run = lambda x: evaluator.run(None, {name: x})  # noqa: E731
    rows = [np.asarray(run(x.reshape(shape))[output], dtype=np.float64).reshape(-1) for x in inputs]
    return np.array(rows)


def onnxruntime_labels(path: Path, inputs: np.ndarray, shape: tuple) -> np.ndarray:
    """onnxruntime's labels (first index of the largest output) of the file as it is, one input at a time."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.array([int(np.argmax(session.run(None, {name: x.reshape(shape).astype(np.float32)})[0].reshape(-1)))
                     for x in inputs])


# -- Keras 3 ------------------------------------------------------------------------------------------
def keras_models(folder: Path) -> list[Made]:
    import keras

    keras.config.set_floatx("float64")
    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    made = []

    def record(model, name: str, kind: str, reads: str, suffixes=(".keras", ".h5")):
        shape = model.input_shape[1:]
        inputs = rng.normal(size=(40, *shape))
        with _quiet():
            outputs = np.asarray(model.predict(inputs, verbose=0), dtype=np.float64)
        for suffix in suffixes:
            path = folder / f"{name}{suffix}"
            with _quiet():
                model.save(path)
            made.append(Made(f"{kind} ({suffix})", path, inputs.reshape(len(inputs), -1), outputs, reads, "keras"))

    data = rng.normal(size=(64, 4)) * [1, 2, 3, 4] + [1, -2, 3, 0]
    norm = keras.layers.Normalization()
    norm.adapt(data)
    model = keras.Sequential([
        keras.Input((4,)), norm, keras.layers.Dense(8), keras.layers.BatchNormalization(), keras.layers.ReLU(),
        keras.layers.Dense(6), keras.layers.LeakyReLU(negative_slope=0.1), keras.layers.Dropout(0.2),
        keras.layers.Dense(3), keras.layers.Softmax(),
    ])
    _train_batch_norm(model, data)
    record(model, "keras_normalized_bn_leaky", "Keras Normalization, BatchNormalization, ReLU/LeakyReLU/Softmax layers",
           "probabilities")

    inputs = keras.Input((3, 3, 1), name="image")
    x = keras.layers.Rescaling(1 / 255.0, offset=-0.5)(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5, activation="tanh", name="hidden")(x)
    x = keras.layers.BatchNormalization(center=False, name="bn")(x)
    x = keras.layers.Dense(3, activation="sigmoid", name="scores")(x)
    model = keras.Model(inputs, x)
    _train_batch_norm(model, rng.uniform(0, 255, size=(32, 3, 3, 1)))
    record(model, "keras_functional_image", "Keras functional, image input, Rescaling, several sigmoid outputs", "sigmoid")

    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    record(model, "keras_binary", "Keras binary sigmoid classifier", "sigmoid")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Activation("leaky_relu"),
                              keras.layers.Dense(3)])
    record(model, "keras_linear_logits", "Keras Activation layer, linear logits", "logits")
    keras.config.set_floatx("float32")
    return made


def _train_batch_norm(model, data) -> None:
    """A few training steps so that BatchNormalization's moving statistics are not the identity."""
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.momentum = 0.0
    with _quiet():
        model(np.asarray(data), training=True)


# -- torch -> ONNX --------------------------------------------------------------------------------------
def torch_models(folder: Path) -> list[Made]:
    import onnx
    import torch

    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED + 1)
    made = []

    class ImageMLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = torch.nn.Flatten()
            self.hidden = torch.nn.Linear(12, 8)
            self.norm = torch.nn.BatchNorm1d(8)
            self.act = torch.nn.LeakyReLU(0.05)
            self.drop = torch.nn.Dropout(0.1)
            self.out = torch.nn.Linear(8, 4)

        def forward(self, x):
            return self.out(self.drop(self.act(self.norm(self.hidden(self.flatten(x))))))

    class Normalised(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.tensor([0.5, -1.0, 2.0]))
            self.register_buffer("std", torch.tensor([0.3, 2.0, 1.5]))
            self.net = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Sigmoid(), torch.nn.Linear(6, 5),
                                           torch.nn.Tanh(), torch.nn.Linear(5, 3), torch.nn.ReLU())

        def forward(self, x):
            return self.net((x - self.mean) / self.std)

    image = ImageMLP()
    image.train()
    with torch.no_grad():
        image(torch.randn(64, 3, 4) * 2 + 1)
    image.eval()
    normalised = Normalised().eval()
    jobs = [
        (image, (1, 3, 4), "torch_image_legacy", "torch Flatten, BatchNorm1d, LeakyReLU, Dropout (legacy exporter)", False, "logits"),
        (normalised, (1, 3), "torch_normalised_legacy", "torch input normalisation, sigmoid/tanh, relu output (legacy)", False, "relu"),
        (image, (1, 3, 4), "torch_image_dynamo", "torch Flatten, BatchNorm1d, LeakyReLU (dynamo exporter, .onnx.data)", True, "logits"),
        (normalised, (1, 3), "torch_normalised_dynamo", "torch input normalisation, sigmoid/tanh (dynamo exporter)", True, "relu"),
    ]
    for module, shape, name, kind, dynamo, reads in jobs:
        path = folder / f"{name}.onnx"
        example = (torch.randn(*shape),)
        try:
            with _quiet(), contextlib.redirect_stderr(io.StringIO()):
                if dynamo:
                    torch.onnx.export(module, example, str(path), dynamo=True, external_data=True)
                    _drop_trace_metadata(path)
                else:
                    torch.onnx.export(module, example, str(path), dynamo=False, input_names=["x"], output_names=["y"],
                                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
        except Exception as exc:  # the dynamo exporter needs onnxscript; its absence skips these kinds
            print(f"skipped {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        inputs = rng.normal(size=(40, int(np.prod(shape))))
        outputs = onnxruntime_outputs(onnx.load(str(path)), inputs, shape)
        extra = [p for p in folder.glob(f"{name}.onnx.data")]
        made.append(Made(kind, path, inputs, outputs, reads, "torch", extra))
    return made


def _drop_trace_metadata(path: Path) -> None:
    """Remove the dynamo exporter's per-node trace metadata (stack traces name the files of the machine that
    exported); the graph and its weights stay as they are."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for node in model.graph.node:
        kept = [p for p in node.metadata_props if not p.key.startswith("pkg.")]
        del node.metadata_props[:]
        node.metadata_props.extend(kept)
    onnx.save(model, str(path))


# -- scikit-learn -> ONNX -------------------------------------------------------------------------------
def sklearn_models(folder: Path) -> list[Made]:
    import onnx
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    features, labels = load_iris(return_X_y=True)
    rng = np.random.default_rng(SEED + 2)
    inputs = features[rng.choice(len(features), 40)] + rng.normal(scale=0.3, size=(40, 4))
    made = []
    jobs = [
        ("sklearn_scaler_mlp_zipmap", "skl2onnx StandardScaler + MLPClassifier (label + ZipMap)", StandardScaler(), labels, {}),
        ("sklearn_scaler_mlp_nozipmap", "skl2onnx StandardScaler + MLPClassifier (zipmap off)", StandardScaler(), labels,
         {"zipmap": False}),
        ("sklearn_minmax_binary", "skl2onnx MinMaxScaler + binary MLPClassifier", MinMaxScaler(), labels == 1, {}),
    ]
    for name, kind, scaler, target, options in jobs:
        with _quiet():
            pipeline = make_pipeline(scaler, MLPClassifier((8,), max_iter=400, random_state=0)).fit(features, target)
        model = to_onnx(pipeline, features[:1].astype(np.float32),
                        options={id(pipeline.steps[-1][1]): options} if options else None)
        path = folder / f"{name}.onnx"
        onnx.save(model, str(path))
        probabilities = pipeline.predict_proba(inputs)
        outputs = probabilities[:, 1:] if probabilities.shape[1] == 2 else probabilities
        made.append(Made(kind, path, inputs, outputs, "sigmoid" if probabilities.shape[1] == 2 else "probabilities",
                         "sklearn"))
    return made


# -- onnxruntime quantization ----------------------------------------------------------------------------
def quantized_models(folder: Path, calibration: int = 64) -> list[Made]:
    """A digits MLP (64 -> 24 relu -> 16 relu -> 10) in float32 and five onnxruntime-quantized copies of it."""
    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static
    from sklearn.datasets import load_digits

    digits, labels = load_digits(return_X_y=True)
    digits = digits / 16.0
    torch.manual_seed(SEED)
    net = torch.nn.Sequential(torch.nn.Linear(64, 24), torch.nn.ReLU(), torch.nn.Linear(24, 16), torch.nn.ReLU(),
                              torch.nn.Linear(16, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    x, y = torch.tensor(digits, dtype=torch.float32), torch.tensor(labels)
    for _ in range(150):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    net.eval()
    float_path = folder / "digits_float.onnx"
    with _quiet(), contextlib.redirect_stderr(io.StringIO()):
        torch.onnx.export(net, (x[:1],), str(float_path), dynamo=False, input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.rows = iter(digits[:calibration].astype(np.float32).reshape(-1, 1, 64))

        def get_next(self):
            row = next(self.rows, None)
            return None if row is None else {"x": row}

    rng = np.random.default_rng(SEED + 3)
    inputs = np.clip(digits[rng.choice(len(digits), 300)] + rng.normal(scale=0.05, size=(300, 64)), 0, 1)
    inputs = inputs.astype(np.float32).astype(np.float64)
    made = []
    jobs = [("QDQ", False), ("QDQ", True), ("QOperator", False), ("QOperator", True)]
    for form, per_channel in jobs:
        path = folder / f"digits_int8_{form.lower()}{'_per_channel' if per_channel else ''}.onnx"
        with _quiet(), contextlib.redirect_stderr(io.StringIO()):
            quantize_static(str(float_path), str(path), Reader(), quant_format=getattr(QuantFormat, form),
                            per_channel=per_channel, activation_type=QuantType.QUInt8 if form == "QOperator" else QuantType.QInt8,
                            weight_type=QuantType.QInt8)
        kind = f"onnxruntime quantize_static {form} {'per-channel' if per_channel else 'per-tensor'}"
        made.append(Made(kind, path, inputs, onnxruntime_labels(path, inputs, (1, 64)), "labels", "onnxruntime"))
    path = folder / "digits_int8_dynamic.onnx"
    with _quiet(), contextlib.redirect_stderr(io.StringIO()):
        quantize_dynamic(str(float_path), str(path), weight_type=QuantType.QInt8)
    made.append(Made("onnxruntime quantize_dynamic", path, inputs, onnxruntime_labels(path, inputs, (1, 64)), "labels",
                     "onnxruntime"))
    import onnx

    made.append(Made("torch digits MLP (float model of the quantized ones)", float_path, inputs,
                     onnxruntime_outputs(onnx.load(str(float_path)), inputs, (1, 64)), "logits", "torch"))
    return made


def make_all(folder: Path) -> tuple[list[Made], list[str]]:
    """Every kind whose library is installed, and a line per library that is not."""
    made, missing = [], []
    for maker, needs in ((keras_models, ("keras", "torch")), (torch_models, ("torch", "onnx", "onnxruntime")),
                         (sklearn_models, ("skl2onnx", "sklearn", "onnxruntime")),
                         (quantized_models, ("torch", "onnxruntime", "sklearn"))):
        absent = [m for m in needs if not _importable(m)]
        if absent:
            missing.append(f"{maker.__name__}: {', '.join(absent)} not installed")
            continue
        made += maker(folder)
    return made, missing


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def save_reference(made: Made) -> Path:
    """The inputs and library outputs beside a model file (``<file>.reference.npz``)."""
    target = made.path.with_name(made.path.name + ".reference.npz")
    inputs = made.inputs
    if np.array_equal(inputs.astype(np.float32).astype(np.float64), inputs):
        inputs = inputs.astype(np.float32)
    np.savez_compressed(target, inputs=inputs, outputs=made.outputs, reads=np.array(made.reads), kind=np.array(made.kind),
                        library=np.array(made.library))
    return target


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "zoo")
    out.mkdir(parents=True, exist_ok=True)
    made, missing = make_all(out)
    for item in made:
        save_reference(item)
        print(f"{item.kind}: {item.path} ({item.path.stat().st_size} bytes)")
    for line in missing:
        print("skipped", line)
