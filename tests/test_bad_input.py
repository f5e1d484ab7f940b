"""Bad input, through the CLI and the Python API: exit code 2, ONE line 'smtnn: error: ...' on stderr, no traceback.

Every CLI case runs as `smtnn verify ...` and, where the property allows it, as `smtnn export ... -o out.smt2`
(then no output file and no temporary file may be left behind).  Models are built by hand in tmp_path.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from smtnn import Box, Network, perturbation, properties
from smtnn.cli import main
from smtnn.errors import InvalidInputError, ModelFileError, SmtnnError, SolverUnavailableError, UnsupportedModelError
from smtnn.loaders import load_network, save_keras_h5, save_npz

DOMAIN = ["--domain", "0:1,0:1"]


# -- models ------------------------------------------------------------------------------
def binary_network() -> Network:
    """2 inputs -> 2 relu -> 1 sigmoid."""
    return Network.from_arrays([[[1.0, -2.0], [0.5, 0.25]], [[1.0, 1.0]]], [[0.1, 0.2], [-0.3]], ["relu", "sigmoid"])


def three_class_network() -> Network:
    return Network.from_arrays([[[1.0, -2.0], [0.5, 0.25]], [[1.0, 1.0], [0.5, -1.0], [0.0, 1.0]]],
                               [[0.1, 0.2], [-0.3, 0.0, 0.0]], ["relu", "softmax"])


@pytest.fixture
def model(tmp_path) -> Path:
    path = tmp_path / "model.h5"
    save_keras_h5(binary_network(), path)
    return path


def write_keras(path: Path, layers: list[dict], weights: dict[str, dict[str, np.ndarray]]) -> Path:
    """A Keras-2-layout full model: model_config plus model_weights/<layer>/<layer>/kernel:0, bias:0."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": layers}}).encode()
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = np.array([entry["config"]["name"].encode() for entry in layers], dtype=bytes)
        for entry in layers:
            name = entry["config"]["name"]
            layer_group = group.create_group(name)
            arrays = weights.get(name, {})
            names = [f"{name}/{kind}:0" for kind in arrays]
            layer_group.attrs["weight_names"] = np.array([n.encode() for n in names], dtype=bytes)
            for n, array in zip(names, arrays.values()):
                layer_group.create_dataset(n, data=array)
    return path


def dense(name: str, units: int, activation: str) -> dict:
    return {"class_name": "Dense", "config": {"name": name, "units": units, "activation": activation, "use_bias": True}}


INPUT = {"class_name": "InputLayer", "config": {"name": "input", "batch_input_shape": [None, 2]}}


# -- the contract ------------------------------------------------------------------------
def one_error_line(capsys, argv, *words) -> str:
    """Run the CLI; assert exit code 2 and exactly one 'smtnn: error:' line without a traceback; return it."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (argv, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("smtnn: error: "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def rejected(capsys, tmp_path, argv, *words, export: bool = True) -> str:
    """`smtnn verify <argv>` and, when `export`, `smtnn export <argv> -o out.smt2` both fail cleanly."""
    line = one_error_line(capsys, ["verify", *argv], *words)
    if export:
        out_dir = tmp_path / "exports"
        out_dir.mkdir(exist_ok=True)
        target = out_dir / "out.smt2"
        one_error_line(capsys, ["export", *argv, "-o", target], *words)
        assert not target.exists()
        assert list(out_dir.iterdir()) == [], "export left a file behind"
    return line


def api_error(error: type[SmtnnError], fn, *args, **kwargs) -> str:
    with pytest.raises(error) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message
    return message


# -- model files ---------------------------------------------------------------------------
def test_missing_file(capsys, tmp_path):
    path = tmp_path / "nope.h5"
    rejected(capsys, tmp_path, ["global-label", path, "--delta", "0.01", *DOMAIN], "no such file", str(path))
    api_error(ModelFileError, load_network, path)


def test_directory(capsys, tmp_path):
    rejected(capsys, tmp_path, ["global-label", tmp_path, "--delta", "0.01", *DOMAIN], "is a directory")
    api_error(ModelFileError, load_network, tmp_path)


def test_zero_byte_file(capsys, tmp_path):
    path = tmp_path / "empty.h5"
    path.touch()
    rejected(capsys, tmp_path, ["global-label", path, "--delta", "0.01", *DOMAIN], "empty (0 bytes)")
    api_error(ModelFileError, load_network, path)


@pytest.mark.parametrize("keep", [0.5, 600])
def test_truncated_hdf5(capsys, tmp_path, model, keep):
    data = model.read_bytes()
    path = tmp_path / "truncated.h5"
    path.write_bytes(data[: int(len(data) * keep) if keep < 1 else keep])
    rejected(capsys, tmp_path, ["global-label", path, "--delta", "0.01", *DOMAIN], "truncated")
    api_error(ModelFileError, load_network, path)


def test_hdf5_that_is_not_a_keras_model(capsys, tmp_path):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("measurements", data=np.arange(10.0))
    rejected(capsys, tmp_path, ["global-label", path, "--delta", "0.01", *DOMAIN], "not a Keras model")
    api_error(ModelFileError, load_network, path)


@pytest.mark.parametrize("layer", [
    {"class_name": "Conv2D", "config": {"name": "conv", "filters": 2, "kernel_size": [3, 3]}},
    {"class_name": "LSTM", "config": {"name": "lstm", "units": 2}},
])
def test_unsupported_layer(capsys, tmp_path, layer):
    path = write_keras(tmp_path / "unsupported.h5", [INPUT, dense("d0", 2, "relu"), layer, dense("out", 1, "sigmoid")],
                       {"d0": {"kernel": np.ones((2, 2)), "bias": np.zeros(2)}, "out": {"kernel": np.ones((2, 1)), "bias": np.zeros(1)}})
    kind = layer["class_name"]
    line = rejected(capsys, tmp_path, ["global-label", path, "--delta", "0.01", *DOMAIN], kind, "Dense")
    assert "accepted layers" in line
    api_error(UnsupportedModelError, load_network, path)


@pytest.mark.parametrize("case", ["kernel chain", "bias length", "declared units"])
def test_mismatched_weight_shapes(capsys, tmp_path, case):
    kernels = {"d0": {"kernel": np.ones((2, 3)), "bias": np.zeros(3)}, "out": {"kernel": np.ones((3, 1)), "bias": np.zeros(1)}}
    layers = [INPUT, dense("d0", 3, "relu"), dense("out", 1, "sigmoid")]
    if case == "kernel chain":
        kernels["out"]["kernel"] = np.ones((4, 1))
        words = ("expects 4 inputs",)
    elif case == "bias length":
        kernels["d0"]["bias"] = np.zeros(2)
        words = ("3 units but 2 biases",)
    else:
        layers[1] = dense("d0", 5, "relu")
        words = ("declares 5 units",)
    path = write_keras(tmp_path / "shapes.h5", layers, kernels)
    rejected(capsys, tmp_path, ["global-label", path, "--delta", "0.01", *DOMAIN], *words)
    api_error(SmtnnError, load_network, path)
    api_error(UnsupportedModelError, Network.from_arrays, [np.ones((3, 2)), np.ones((1, 4))], [np.zeros(3), np.zeros(1)],
              ["relu", "sigmoid"])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("fmt", ["h5", "npz"])
def test_nan_or_inf_weights(capsys, tmp_path, bad, fmt):
    kernel = np.array([[1.0], [bad]])
    if fmt == "h5":
        path = write_keras(tmp_path / "bad.h5", [INPUT, dense("out", 1, "sigmoid")], {"out": {"kernel": kernel, "bias": np.zeros(1)}})
    else:
        path = tmp_path / "bad.npz"
        np.savez(path, W0=kernel.T, b0=np.zeros(1), activations=np.array(["sigmoid"]))
    rejected(capsys, tmp_path, ["global-label", path, "--delta", "0.01", *DOMAIN], "NaN or infinite")
    api_error(UnsupportedModelError, load_network, path)
    api_error(UnsupportedModelError, Network.from_arrays, [kernel.T], [[0.0]], ["sigmoid"])


# -- values ------------------------------------------------------------------------------
@pytest.mark.parametrize("option,value,words", [
    ("--delta", "-0.01", ("non-negative",)),
    ("--delta", "nan", ("not a number",)),
    ("--delta", "inf", ("not a number",)),
    ("--delta=-inf", None, ("not a number",)),
    ("--relative", "-0.5", ("non-negative",)),
    ("--per-layer", "0.1,-0.1", ("non-negative",)),
    ("--per-layer", "0.1,nan", ("not a number",)),
    ("--delta", "1e-999999", ("exponent", "1e-1000")),
    ("--delta", "1e999999", ("exponent",)),
    ("--delta", "1" * 5000, ("characters",)),
])
def test_bad_delta(capsys, tmp_path, model, option, value, words):
    rejected(capsys, tmp_path, ["global-label", model, option, *([] if value is None else [value]), *DOMAIN], *words)


def test_bad_delta_api():
    net = binary_network()
    for delta in (-1, "-0.001", float("nan"), float("inf"), "nan"):
        api_error(InvalidInputError, perturbation.uniform, net, delta)
        api_error(InvalidInputError, perturbation.relative, net, delta)
        api_error(InvalidInputError, perturbation.subset, net, delta, layers=[-1])
        api_error(InvalidInputError, perturbation.per_layer, net, [delta, "0.1"])


def test_perturbation_of_another_network():
    """A box is checked against the network it is used with: a same-shaped network with one weight changed by
    one ulp is refused (deferred boxes compare floats, eager ones rationals); an equal copy is accepted."""
    net = binary_network()
    weights = [layer.weights.copy() for layer in net.layers]
    weights[1][0, 1] = np.nextafter(weights[1][0, 1], np.inf)
    other = Network.from_arrays(weights, [layer.bias for layer in net.layers], ["relu", "sigmoid"])
    copy = Network.from_arrays([layer.weights for layer in net.layers], [layer.bias for layer in net.layers],
                               ["relu", "sigmoid"])
    x0 = [0.5, 0.5]
    for build in (lambda n: perturbation.uniform(n, "0.01"), lambda n: perturbation.relative(n, "0.01"),
                  lambda n: perturbation.subset(n, "0.01", layers=[-1])):
        with pytest.raises(InvalidInputError, match="built for another network"):
            properties.verify_local_label(other, build(net), x0)
        assert properties.verify_local_label(copy, build(net), x0).verdict == properties.verify_local_label(net, build(net), x0).verdict


def test_empty_domain(capsys, tmp_path, model):
    line = rejected(capsys, tmp_path, ["global-label", model, "--delta", "0.01", "--domain", "0:1,2:1"], "empty")
    assert "input 1" in line
    api_error(InvalidInputError, Box, ("0", "2"), ("1", "1"))
    api_error(InvalidInputError, Box, (), ())


@pytest.mark.parametrize("domain", ["0:1", "0:1,0:1,0:1"])
def test_domain_of_wrong_dimension(capsys, tmp_path, model, domain):
    rejected(capsys, tmp_path, ["global-label", model, "--delta", "0.01", "--domain", domain], "intervals but the network takes 2")


@pytest.mark.parametrize("domain", ["1:,0:1", ":,0:1", "0:1,", "0-1,0:1", "0:1:2,0:1", "a:1,0:1"])
def test_malformed_domain(capsys, tmp_path, model, domain):
    """Regression: '1:' and ':' used to crash with 'not enough values to unpack'."""
    rejected(capsys, tmp_path, ["global-label", model, "--delta", "0.01", "--domain", domain], "--domain")


@pytest.mark.parametrize("x0", ["1", "1,1,1", ""])
def test_x0_of_wrong_length(capsys, tmp_path, model, x0):
    rejected(capsys, tmp_path, ["local-label", model, "--delta", "0.01", "--x0", x0], "takes 2 inputs")
    net = binary_network()
    box = perturbation.uniform(net, "0.01")
    api_error(InvalidInputError, properties.verify_local_label, net, box, [1] * (len(x0.split(",")) if x0 else 0))
    api_error(InvalidInputError, properties.local_epsilon, net, box, [0.5, 0.5, 0.5])


def test_x0_outside_domain(capsys, tmp_path, model):
    rejected(capsys, tmp_path, ["local-label", model, "--delta", "0.01", "--x0", "0.5,1.5", *DOMAIN],
             "x0[1] = 1.5 lies outside the domain")
    api_error(InvalidInputError, Box(("0", "0"), ("1", "1")).check_point, [Box(("0",), ("1",)).lower[0], 2])


def test_unknown_solver(capsys, tmp_path, model):
    rejected(capsys, tmp_path, ["global-label", model, "--delta", "0.01", *DOMAIN, "--solver", "yices"], "unknown solver 'yices'")
    net = binary_network()
    api_error(SolverUnavailableError, properties.verify_global_label, net, perturbation.uniform(net, "0.01"),
              Box(("0", "0"), ("1", "1")), solver="yices")


def test_dreal_not_installed(capsys, tmp_path, model, monkeypatch):
    """With dReal unimportable, asking for it names the way to install it."""
    monkeypatch.setitem(sys.modules, "dreal", None)            # `import dreal` now raises ImportError
    monkeypatch.delitem(sys.modules, "smtnn.backends.dreal_backend", raising=False)
    monkeypatch.setattr("smtnn.backends.dreal_program", lambda path=None: None)   # nor is its program on PATH
    line = rejected(capsys, tmp_path, ["global-label", model, "--delta", "0.01", *DOMAIN, "--solver", "dreal"], "dReal")
    from smtnn.backends import DREAL_HINT, get_backend

    assert DREAL_HINT in line and "install" in DREAL_HINT   # the one line names the install route
    net = binary_network()

    api_error(SolverUnavailableError, get_backend, "dreal")
    api_error(SolverUnavailableError, properties.verify_global_label, net, perturbation.uniform(net, "0.01"),
              Box(("0", "0"), ("1", "1")), solver="dreal")


@pytest.mark.parametrize("extra,words", [
    (["--x0", "a,1"], ("--x0", "'a'")),
    (["--x0", "1,1", "--epsilon", "lots"], ("--epsilon", "'lots'")),
    (["--x0", "1,1", "--timeout", "soon"], ("--timeout", "'soon'")),
    (["--x0", "1,1", "--timeout", "nan"], ("--timeout",)),          # regression: reached z3 as int(nan)
    (["--x0", "1,1", "--timeout", "inf"], ("--timeout",)),          # regression: OverflowError
    (["--x0", "1,1", "--timeout", "0"], ("--timeout",)),
    (["--x0", "1,1", "--threshold", "half"], ("--threshold", "'half'")),
    (["--x0", "1,1", "--threshold", "1.5"], ("strictly between 0 and 1",)),
])
def test_non_numeric_local_values(capsys, tmp_path, model, extra, words):
    rejected(capsys, tmp_path, ["local-epsilon", model, "--delta", "0.01", *extra], *words)


@pytest.mark.parametrize("perturbation_args,words", [
    (["--delta", "tiny"], ("--delta", "'tiny'")),
    (["--delta", "0.01,0.02"], ("--delta", "one number")),           # regression: 'too many values to unpack'
    (["--relative", "0.1,0.2"], ("--relative", "one number")),       # used to take the first silently
    (["--delta", "0.01", "--layers", "last"], ("--layers", "'last'")),
    (["--delta", "0.01", "--layers", "1.5"], ("--layers", "'1.5'")),  # regression: int('1.5') crashed
    (["--delta", "0.01", "--layers", "7"], ("layer 7 does not exist",)),
    (["--per-layer", "0.1,x"], ("--per-layer", "'x'")),
    (["--quantize", "int:eight"], ("--quantize", "'eight'")),
    (["--quantize", "int:1"], ("at least 2 bits",)),
    (["--quantize", "posit:8"], ("unknown quantization scheme 'posit'",)),
    (["--quantize", "fixed"], ("fractional bits", "fixed:8")),
    (["--quantize", "float16:8"], ("float16",)),
    (["--delta", "0.01", "--relative", "0.1"], ("exactly one perturbation model",)),
    ([], ("exactly one perturbation model",)),
])
def test_non_numeric_perturbation_values(capsys, tmp_path, model, perturbation_args, words):
    rejected(capsys, tmp_path, ["global-sigma", model, *perturbation_args, *DOMAIN, "--sigma", "0.1"], *words)


@pytest.mark.parametrize("argv,words", [
    (["estimate", "global-sigma", "{model}", "--delta", "0.01", *DOMAIN, "--tolerance", "fine"], ("--tolerance", "'fine'")),
    (["estimate", "global-sigma", "{model}", "--delta", "0.01", *DOMAIN, "--tolerance", "0"], ("tolerance must be positive",)),
    (["verify", "global-sigma", "{model}", "--delta", "0.01", *DOMAIN, "--sigma", "big"], ("--sigma", "'big'")),
    (["verify", "global-sigma", "{model}", "--delta", "0.01", *DOMAIN, "--sigma", "-0.1"], ("non-negative",)),
    (["verify", "local-epsilon", "{model}", "--delta", "0.01", "--x0", "1,1", "--epsilon", "-1"], ("non-negative",)),
])
def test_non_numeric_other_values(capsys, model, argv, words):
    one_error_line(capsys, [str(model) if a == "{model}" else a for a in argv], *words)


@pytest.mark.parametrize("argv,words", [
    (["verify", "frobnicate", "{model}", "--delta", "0.01", *DOMAIN], ("unknown property 'frobnicate'", "global-label")),
    (["export", "frobnicate", "{model}", "--delta", "0.01", *DOMAIN, "-o", "{out}"], ("unknown property 'frobnicate'",)),
    (["estimate", "local-label", "{model}", "--delta", "0.01", "--x0", "1,1"], ("unknown property 'local-label'", "global-sigma")),
    (["verify", "global_label", "{model}", "--delta", "0.01", *DOMAIN], ("unknown property 'global_label'",)),
    (["check", "global-label", "{model}", "--delta", "0.01", *DOMAIN], ("invalid choice: 'check'",)),
    ([], ("required",)),
])
def test_unknown_property(capsys, tmp_path, model, argv, words):
    out = tmp_path / "out.smt2"
    one_error_line(capsys, [str(model) if a == "{model}" else str(out) if a == "{out}" else a for a in argv], *words)
    assert not out.exists()


def test_missing_arguments(capsys, tmp_path, model):
    rejected(capsys, tmp_path, ["local-label", model, "--delta", "0.01"], "needs --x0")
    rejected(capsys, tmp_path, ["global-label", model, "--delta", "0.01"], "needs --domain")
    one_error_line(capsys, ["verify", "global-sigma", model, "--delta", "0.01", *DOMAIN], "needs --sigma")
    one_error_line(capsys, ["export", "global-label", model, "--delta", "0.01", *DOMAIN], "-o/--output")


def test_multi_class_where_binary_is_needed(capsys, tmp_path):
    path = tmp_path / "three.npz"
    save_npz(three_class_network(), path)
    rejected(capsys, tmp_path, ["global-sigma", path, "--delta", "0.01", *DOMAIN, "--sigma", "0.1"], "sigmoid")


def test_activations_contradicting_the_file(capsys, tmp_path, model):
    rejected(capsys, tmp_path, ["global-label", model, "--delta", "0.01", *DOMAIN, "--activations", "tanh,sigmoid"],
             "stores the activations relu,sigmoid")


# -- export targets (regressions: an OSError traceback, before) ----------------------------------
def test_export_into_missing_directory(capsys, tmp_path, model):
    target = tmp_path / "no" / "such" / "dir" / "out.smt2"
    one_error_line(capsys, ["export", "global-label", model, "--delta", "0.01", *DOMAIN, "-o", target], "no such directory")
    assert not target.parent.exists()


def test_export_onto_a_directory(capsys, tmp_path, model):
    target = tmp_path / "outdir"
    target.mkdir()
    one_error_line(capsys, ["export", "global-label", model, "--delta", "0.01", *DOMAIN, "-o", target], "is a directory")
    assert target.is_dir() and list(target.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.h5", "outdir"], "a temporary file was left behind"


def test_good_input_still_works(capsys, tmp_path, model):
    """The contract's positive side: the same model and options with valid values succeed."""
    assert main(["verify", "local-label", str(model), "--delta", "0.01", "--x0", "1,1", "--timeout", "5"]) == 0
    target = tmp_path / "ok.smt2"
    assert main(["export", "global-label", str(model), "--delta", "0.01", "--layers", "-1", *DOMAIN, "-o", str(target)]) == 0
    assert target.read_text().startswith("; smtnn query")
    out, err = capsys.readouterr()
    assert err == ""
