"""The digits reference MLP and its twins: scikit-learn's bundled 8x8 digits, inputs scaled to [0, 1].

``python -m case_studies.twins.digits`` trains the reference (fixed seed), builds the five twins
(pruned 50 % / 80 %, int8 / int4 symmetric per-tensor quantization, a distilled student) and
saves all six as Keras .h5 files under ``case_studies/twins/models/``.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from smtnn.network import Network

MODEL_DIR = Path(__file__).parent / "models"
SEED = 0
HIDDEN = (64, 64)
STUDENT_HIDDEN = (32,)
TEST_FRACTION = 0.3
REFERENCE = "digits_mlp"
TWINS = {   # name -> how it is made
    "pruned50": "magnitude pruning, 50 % of each layer's weights set to 0",
    "pruned80": "magnitude pruning, 80 % of each layer's weights set to 0",
    "int8": "post-training quantization, symmetric int8 per tensor",
    "int4": "post-training quantization, symmetric int4 per tensor",
    "distilled": f"knowledge distillation: relu student {STUDENT_HIDDEN} fitted to the reference's logits",
}


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, x_test, y_train, y_test): load_digits scaled to [0, 1], stratified split with a fixed seed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return train_test_split(x / 16.0, y, test_size=TEST_FRACTION, random_state=SEED, stratify=y)


def train_reference(x: np.ndarray, y: np.ndarray) -> Network:
    """A relu MLP with two hidden layers (scikit-learn MLPClassifier, fixed seed) as a Network."""
    from sklearn.neural_network import MLPClassifier

    clf = _quiet(MLPClassifier(HIDDEN, activation="relu", random_state=SEED, max_iter=500).fit, x, y)
    net = Network.from_arrays(clf.coefs_, clf.intercepts_, ["relu"] * len(HIDDEN) + ["softmax"], kernel_layout="in_out",
                              input_names=tuple(f"pixel{i}" for i in range(x.shape[1])))
    return dataclasses.replace(net, name=REFERENCE)


def make_twins(reference: Network, x_train: np.ndarray) -> dict[str, Network]:
    from smtnn.twins import generate

    made = {
        "pruned50": generate.prune(reference, 0.5),
        "pruned80": generate.prune(reference, 0.8),
        "int8": generate.quantize(reference, "int", 8),
        "int4": generate.quantize(reference, "int", 4),
        "distilled": _quiet(generate.distill, reference, x_train, hidden=STUDENT_HIDDEN, seed=SEED, max_iter=3000),
    }
    return {k: dataclasses.replace(v, name=f"{REFERENCE}_{k}", input_names=reference.input_names) for k, v in made.items()}


def _quiet(fn, *args, **kwargs):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


def path(name: str) -> Path:
    return MODEL_DIR / (REFERENCE + ".h5" if name == REFERENCE else f"{REFERENCE}_{name}.h5")


def load() -> dict[str, Network]:
    """The saved reference and twins, keyed 'digits_mlp', 'pruned50', ..."""
    from smtnn.loaders import load_network

    return {name: load_network(path(name)) for name in [REFERENCE, *TWINS]}


def main(argv=None) -> int:
    from smtnn.twins import generate

    x_train, x_test, y_train, y_test = data()
    reference = train_reference(x_train, y_train)
    nets = {REFERENCE: reference, **make_twins(reference, x_train)}
    summary = {}
    for name, net in nets.items():
        generate.save(net, path(name))
        summary[name] = {"file": path(name).name, "parameters": net.n_parameters,
                         "hidden": [l.outputs for l in net.layers[:-1]],
                         "test_accuracy": float((net.predict(x_test) == y_test).mean()),
                         "agreement_with_reference": float((net.predict(x_test) == reference.predict(x_test)).mean()),
                         "how": TWINS.get(name, f"MLPClassifier{HIDDEN}, relu, adam, seed {SEED}")}
    (MODEL_DIR / "models.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
