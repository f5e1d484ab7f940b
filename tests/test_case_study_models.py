"""The case-study networks: saved files, published accuracy, training and input domains."""
from __future__ import annotations

import csv
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # case_studies/ is not an installed package
    sys.path.insert(0, str(ROOT))

from case_studies import models  # noqa: E402

ATHLETES = ("athletes_relu", "athletes_linear")


@pytest.fixture(scope="module")
def trained():
    return {name: models.build(name) for name in ATHLETES}


def test_files_are_inside_the_package():
    for name, path in models.NETWORK_FILES.items():
        assert path.is_file(), f"{path} is missing; run python -m case_studies.models"
        assert path.resolve().is_relative_to(Path(models.__file__).resolve().parent)


def test_saved_cats_is_the_published_classifier():
    saved = models.load_case_study("cats")
    fresh = models.cats_network()
    assert saved.name == "cats"
    assert saved.input_names == ("heart_weight_g", "body_weight_kg")
    assert [l.activation for l in saved.layers] == ["sigmoid"]
    np.testing.assert_array_equal(saved.parameter_vector(), fresh.parameter_vector())
    # c1*H + c2*W + c0, each coefficient the float of the published decimal literal
    assert saved.parameter_vector().tolist() == [0.07577862, 1.18118408, -3.51518067]


@pytest.mark.parametrize("name", ATHLETES)
def test_saved_athletes_match_retraining(name, trained):
    saved = models.load_case_study(name)
    fresh = trained[name]
    assert saved.name == name
    assert saved.input_names == ("height_m", "weight_kg")
    assert [l.activation for l in saved.layers] == [name.split("_")[1], "sigmoid"]
    assert [l.weights.shape for l in saved.layers] == [(3, 2), (1, 3)]
    # bit-identical on the machine that wrote the files; the tolerance only absorbs last-bit
    # differences of another BLAS or scikit-learn build
    np.testing.assert_allclose(saved.parameter_vector(), fresh.parameter_vector(), rtol=1e-6, atol=1e-9)
    assert np.array_equal(saved.predict(models.data("athletes")[0]), fresh.predict(models.data("athletes")[0]))


def test_cats_accuracy_is_113_of_144():
    with open(ROOT / "case_studies" / "data" / "cats.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 144
    c0, c1, c2 = (Fraction(models.CATS_COEFFICIENTS[k]) for k in ("c0", "c1", "c2"))
    exact = sum(
        (c0 + c1 * Fraction(r["heart_weight_g"]) + c2 * Fraction(r["body_weight_kg"]) >= 0) == (r["sex"] == "M")
        for r in rows
    )
    assert exact == 113
    x = np.array([[float(r["heart_weight_g"]), float(r["body_weight_kg"])] for r in rows])
    y = np.array([r["sex"] == "M" for r in rows], dtype=int)
    network = models.load_case_study("cats")
    assert int(np.sum(network.predict(x) == y)) == 113
    assert round(100 * models.accuracy(network, x, y), 1) == 78.5


@pytest.mark.parametrize("name", ATHLETES)
def test_athletes_training_accuracy(name):
    x, y = models.data("athletes")
    assert len(y) == 10858
    assert models.accuracy(models.load_case_study(name), x, y) > 0.7


@pytest.mark.parametrize("name", ["cats", *ATHLETES])
def test_domain_contains_every_row_and_is_the_bounding_box(name):
    rows, _ = models.read_cats() if name == "cats" else models.read_athletes()
    lower, upper = models.domain(name)
    lo, hi = [Fraction(v) for v in lower], [Fraction(v) for v in upper]
    assert len(lo) == len(hi) == models.load_case_study(name).n_inputs
    for row in rows:
        values = [Fraction(v) for v in row]
        assert all(l <= v <= h for l, v, h in zip(lo, values, hi)), row
    for k in range(len(lo)):  # tight: every bound is attained by some row
        assert any(Fraction(row[k]) == lo[k] for row in rows)
        assert any(Fraction(row[k]) == hi[k] for row in rows)
