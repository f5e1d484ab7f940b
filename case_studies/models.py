"""The three networks of the paper's case studies (section 5), their data and input domains.

* ``cats``: the published logistic regression ``y = sigmoid(c0 + c1*H + c2*W)`` with
  H = heart weight (g) and W = body weight (kg), one Dense(1, sigmoid) unit.
* ``athletes_relu`` / ``athletes_linear``: 2-3-1 MLPs (three hidden units with relu or
  linear activation, one sigmoid output) that tell male from female Rio 2016 athletes by
  height (m) and weight (kg).  The paper's weights are not published in full, so these
  are retrained with scikit-learn on standardized inputs; the standardization is then
  folded into the first layer, so the saved networks take the raw measurements.

Running ``python -m case_studies.models`` (from the repository root) rebuilds the three
``.h5`` files under ``case_studies/models/`` and their README.  Training needs
scikit-learn; loading the saved networks does not.

Everything is read from this directory (``data/`` and ``models/``), never from elsewhere.
The module uses absolute imports only, so scripts in ``case_studies/`` may also import it
as ``models``.
"""
from __future__ import annotations

import csv
import dataclasses
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

from smtnn.network import Network

PACKAGE_DIR = Path(__file__).parent
DATA_DIR = PACKAGE_DIR / "data"
MODEL_DIR = PACKAGE_DIR / "models"

CATS_CSV = DATA_DIR / "cats.csv"
ATHLETES_CSV = DATA_DIR / "rio2016_athletes.csv"

#: The saved networks, located relative to this package's directory.
NETWORK_FILES = {
    "cats": MODEL_DIR / "cats.h5",
    "athletes_relu": MODEL_DIR / "athletes_relu.h5",
    "athletes_linear": MODEL_DIR / "athletes_linear.h5",
}

#: Input order (and units) of each network.
CATS_INPUTS = ("heart_weight_g", "body_weight_kg")
ATHLETES_INPUTS = ("height_m", "weight_kg")
INPUT_NAMES = {
    "cats": CATS_INPUTS,
    "athletes_relu": ATHLETES_INPUTS,
    "athletes_linear": ATHLETES_INPUTS,
}

#: The published coefficients of the cats classifier (paper, section 5), as decimal literals.
CATS_COEFFICIENTS = {"c0": "-3.51518067", "c1": "0.07577862", "c2": "1.18118408"}

#: Input domains D: the bounding box of the data (inputs in network order), as exact
#: decimal strings (lower bounds, upper bounds).  ``main`` checks them against the CSV files.
DOMAINS = {
    "cats": (["6.3", "2.0"], ["20.5", "3.9"]),
    "athletes": (["1.21", "31"], ["2.18", "170"]),
}

#: Training set-up of the athletes MLPs (scikit-learn MLPClassifier).
SEED = 0
SOLVER = "adam"
MAX_ITER = 200
HIDDEN_UNITS = 3
SKLEARN_ACTIVATION = {"relu": "relu", "linear": "identity"}


def domain(name: str) -> tuple[list[str], list[str]]:
    """The input box D of a case study as (lower list, upper list) of decimal strings."""
    key = "athletes" if name.startswith("athletes") else name
    if key not in DOMAINS:
        raise KeyError(f"unknown case study {name!r}; known: {', '.join(NETWORK_FILES)}")
    lower, upper = DOMAINS[key]
    return list(lower), list(upper)


# -- data ------------------------------------------------------------------------------
def read_cats() -> tuple[list[tuple[str, str]], np.ndarray]:
    """The 144 cats: input rows (heart_weight_g, body_weight_kg) as CSV strings, labels (M=1)."""
    with open(CATS_CSV, newline="") as handle:
        rows = list(csv.DictReader(handle))
    inputs = [(r["heart_weight_g"], r["body_weight_kg"]) for r in rows]
    labels = np.array([1 if r["sex"] == "M" else 0 for r in rows], dtype=int)
    return inputs, labels


def read_athletes() -> tuple[list[tuple[str, str]], np.ndarray]:
    """Athletes with both height and weight: rows (height_m, weight_kg) as strings, labels (male=1)."""
    with open(ATHLETES_CSV, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["height_m"].strip() and r["weight_kg"].strip()]
    inputs = [(r["height_m"].strip(), r["weight_kg"].strip()) for r in rows]
    labels = np.array([1 if r["sex"] == "male" else 0 for r in rows], dtype=int)
    return inputs, labels


def as_array(rows) -> np.ndarray:
    """String rows as a float64 array."""
    return np.array([[float(v) for v in row] for row in rows], dtype=np.float64)


def data(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Float inputs (network order) and labels of a case study's data set."""
    rows, labels = read_cats() if name == "cats" else read_athletes()
    return as_array(rows), labels


def bounding_box(rows) -> tuple[list[str], list[str]]:
    """Per-column min and max of string rows, compared exactly, returned as the CSV strings."""
    columns = list(zip(*rows))
    lower = [min(col, key=Fraction) for col in columns]
    upper = [max(col, key=Fraction) for col in columns]
    return lower, upper


def accuracy(network: Network, inputs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows the network labels correctly."""
    return float(np.mean(network.predict(inputs) == labels))


# -- networks --------------------------------------------------------------------------
def cats_network() -> Network:
    """The paper's logistic regression for the cats: sigmoid(c0 + c1*H + c2*W)."""
    c = {k: float(v) for k, v in CATS_COEFFICIENTS.items()}
    return Network.from_arrays(
        [[[c["c1"], c["c2"]]]], [[c["c0"]]], ["sigmoid"], name="cats", input_names=CATS_INPUTS
    )


def fit_athletes(activation: str):
    """Train the sklearn MLP on standardized inputs; returns (classifier, mean, std, X, y)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    if activation not in SKLEARN_ACTIVATION:
        raise ValueError(f"activation must be one of {', '.join(SKLEARN_ACTIVATION)}, got {activation!r}")
    x, y = data("athletes")
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    classifier = MLPClassifier(
        hidden_layer_sizes=(HIDDEN_UNITS,),
        activation=SKLEARN_ACTIVATION[activation],
        solver=SOLVER,
        max_iter=MAX_ITER,
        random_state=SEED,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit((x - mean) / std, y)
    return classifier, mean, std, x, y


def fold_standardization(classifier, mean: np.ndarray, std: np.ndarray, activation: str) -> Network:
    """The sklearn MLP as a Network on raw inputs: W' = W/std, b' = b - W.(mean/std)."""
    (w1, w2), (b1, b2) = classifier.coefs_, classifier.intercepts_  # kernels are (inputs, outputs)
    w1_raw = w1 / std[:, None]
    b1_raw = b1 - (mean / std) @ w1
    name = f"athletes_{activation}"
    return Network.from_arrays(
        [w1_raw, w2], [b1_raw, b2], [activation, "sigmoid"],
        kernel_layout="in_out", name=name, input_names=ATHLETES_INPUTS,
    )


def train_athletes(activation: str) -> Network:
    """Train the 2-3-1 athletes MLP ('relu' or 'linear' hidden units), on raw inputs.

    The folded network must label every row as scikit-learn does; otherwise this raises.
    """
    classifier, mean, std, x, _ = fit_athletes(activation)
    network = fold_standardization(classifier, mean, std, activation)
    ours = network.predict(x)
    theirs = classifier.predict((x - mean) / std)
    if not np.array_equal(ours, theirs):
        bad = np.flatnonzero(ours != theirs)
        raise RuntimeError(
            f"folding the standardization changed {bad.size} labels of {network.name} (rows {bad[:10].tolist()})"
        )
    return network


def build(name: str) -> Network:
    """A case-study network built (cats) or trained (athletes) from scratch."""
    if name == "cats":
        return cats_network()
    if name in ("athletes_relu", "athletes_linear"):
        return train_athletes(name.split("_", 1)[1])
    raise KeyError(f"unknown case study {name!r}; known: {', '.join(NETWORK_FILES)}")


def load_case_study(name: str) -> Network:
    """The saved network of a case study, with its name and input names set."""
    from smtnn.loaders import load_network

    if name not in NETWORK_FILES:
        raise KeyError(f"unknown case study {name!r}; known: {', '.join(NETWORK_FILES)}")
    network = load_network(NETWORK_FILES[name])
    return dataclasses.replace(network, name=name, input_names=INPUT_NAMES[name])


# -- main ------------------------------------------------------------------------------
def _check_domains() -> None:
    for name, reader in (("cats", read_cats), ("athletes", read_athletes)):
        box = bounding_box(reader()[0])
        if box != domain(name):
            raise RuntimeError(f"the domain of {name} is {domain(name)}, but the data span {box}")


def _matrix(rows) -> str:
    return "\n".join("    " + "  ".join(f"{float(v)!r:>22}" for v in row) for row in np.atleast_2d(rows))


def _describe(network: Network) -> str:
    lines = []
    for k, layer in enumerate(network.layers):
        lines.append(f"- layer {k} ({layer.activation}), W (rows = units, columns = inputs):\n")
        lines.append("  ```\n" + _matrix(layer.weights) + "\n  ```\n")
        lines.append("  b:\n  ```\n" + _matrix(layer.bias) + "\n  ```\n")
    return "".join(lines)


def write_readme(networks: dict[str, Network], accuracies: dict[str, tuple[int, int]]) -> Path:
    import sklearn

    def acc(name):
        right, total = accuracies[name]
        return f"{right}/{total} = {100 * right / total:.2f}%"

    cats_lo, cats_hi = domain("cats")
    ath_lo, ath_hi = domain("athletes")
    text = f"""# Case-study networks

Written by `python -m case_studies.models`; do not edit by hand. Each file is a
Keras-style HDF5 model; load it with `smtnn.loaders.load_network` or
`case_studies.models.load_case_study(name)`. Decision rule for all three: one sigmoid
output y, class 1 when y >= 0.5.

## cats.h5

The logistic regression published in the paper (section 5): one Dense(1, sigmoid) unit,
`y = sigmoid(c0 + c1*H + c2*W)`, with c0 = {CATS_COEFFICIENTS['c0']}, c1 = {CATS_COEFFICIENTS['c1']},
c2 = {CATS_COEFFICIENTS['c2']} (stored as the binary64 floats nearest to these decimals).

- inputs, in order: `heart_weight_g` (H, heart weight in g), `body_weight_kg` (W, body
  weight in kg)
- output: 1 = male, 0 = female
- accuracy on all 144 cats of `../data/cats.csv`: {acc('cats')}
- domain D (bounding box of the data): heart weight [{cats_lo[0]}, {cats_hi[0]}] g, body weight
  [{cats_lo[1]}, {cats_hi[1]}] kg

## athletes_relu.h5, athletes_linear.h5

2-3-1 MLPs: Dense(3, relu or linear) then Dense(1, sigmoid). The paper gives the
architecture but not all weights, so these networks are retrained here and differ from
the paper's.

- inputs, in order: `height_m` (height in m), `weight_kg` (weight in kg), raw values
- output: 1 = male, 0 = female
- data: the {accuracies['athletes_relu'][1]} rows of `../data/rio2016_athletes.csv` that have both
  height and weight; all of them are used for training
- training: scikit-learn {sklearn.__version__},
  `MLPClassifier(hidden_layer_sizes=({HIDDEN_UNITS},), activation='relu' | 'identity', solver='{SOLVER}',
  max_iter={MAX_ITER}, random_state={SEED})`, other options at their defaults, on inputs standardized by the
  mean and (population) standard deviation of the data; the standardization is then
  folded into the first layer (W' = W/std, b' = b - W.(mean/std)), and the folded
  network labels every row as the scikit-learn model does
- training accuracy: relu {acc('athletes_relu')}, linear {acc('athletes_linear')}
  (the paper reports 77.19% and 77.36% for its own Keras models)
- domain D (bounding box of the data): height [{ath_lo[0]}, {ath_hi[0]}] m, weight [{ath_lo[1]}, {ath_hi[1]}] kg

### athletes_relu

{_describe(networks['athletes_relu'])}
### athletes_linear

{_describe(networks['athletes_linear'])}"""
    path = MODEL_DIR / "README.md"
    path.write_text(text)
    return path


def main(argv=None) -> int:
    from smtnn.loaders import save_keras_h5

    _check_domains()
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    networks, accuracies = {}, {}
    for name in NETWORK_FILES:
        network = build(name)
        x, y = data(name)
        right = int(np.sum(network.predict(x) == y))
        networks[name], accuracies[name] = network, (right, len(y))
        save_keras_h5(network, NETWORK_FILES[name])
        print(f"{name}: accuracy {right}/{len(y)} = {100 * right / len(y):.2f}%  -> {NETWORK_FILES[name].relative_to(PACKAGE_DIR.parent)}")
    print(f"wrote {write_readme(networks, accuracies).relative_to(PACKAGE_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
