"""The backward walk: exact affine forms of an activation pattern agree with exact forward passes inside its region."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from smtnn.bounds import replay_logits
from smtnn.errors import UnsupportedModelError
from smtnn.network import Dense, Network
from smtnn.semantics import supported_backward, walk, walk_backward
from smtnn.semantics.integers import AffineForms, IntegerDomain, IntegerValue, PatternBackward, ScaledLayer
from smtnn.semantics.exactnet import ExactNetwork


def random_network(seed: int) -> Network:
    rng = np.random.default_rng(seed)
    sizes = [int(v) for v in rng.integers(2, 7, size=int(rng.integers(3, 6)))]
    kinds = [str(rng.choice(["relu", "leaky_relu", "linear"])) for _ in sizes[1:-1]] + ["softmax"]
    weights = [rng.normal(size=(b, a)) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(size=b) for b in sizes[1:]]
    return Network.from_arrays(weights, biases, kinds, alphas=[0.125 if k == "leaky_relu" else None for k in kinds])


def evaluate(forms: AffineForms, x) -> list[Fraction]:
    return [sum((Fraction(int(p), 1 << forms.exponent) * v for p, v in zip(row, x)), Fraction(0)) + c
            for row, c in zip(forms.numerators, forms.constants)]


@pytest.mark.parametrize("seed", range(12))
def test_pattern_forms_equal_exact_forward_passes(seed):
    net = random_network(seed)
    rng = np.random.default_rng(100 + seed)
    layers = [ScaledLayer(layer) for layer in net.layers]
    for _ in range(3):
        x = [Fraction(float(v)) for v in rng.uniform(-2, 2, size=net.n_inputs)]
        forward = IntegerDomain(layers)
        pre: list = []
        walk(net, forward, IntegerValue.of(x), record=pre)
        masks = forward.masks   # the pattern at x: x lies in its region
        last = len(net.layers) - 1
        for start in range(last + 1):
            width = net.layers[start].outputs
            rows = rng.integers(-3, 4, size=(2, width))
            record: list = []
            forms = walk_backward(net, PatternBackward(layers, masks.__getitem__), AffineForms.rows(rows), start=start,
                                  record=record)
            assert len(record) == start + 1
            want = [sum((int(r) * a for r, a in zip(row, pre[start].fractions())), Fraction(0)) for row in rows]
            assert evaluate(forms, x) == want
        # the output layer against an independent exact replay in rationals
        logits = [z.lo for z in replay_logits(net, x, net.exact_parameters())]
        eye = np.eye(net.n_outputs, dtype=int)
        assert evaluate(ExactNetwork(net).forms(last, eye, masks), x) == logits


def test_a_backward_domain_refuses_activations_it_lacks():
    hidden = Dense(np.array([[1.0]]), np.array([0.0]), "sigmoid")
    net = Network((hidden, Dense(np.array([[1.0], [2.0]]), np.array([0.0, 0.0]), "softmax")))
    domain = PatternBackward([ScaledLayer(layer) for layer in net.layers], lambda k: np.array([True]))
    assert "sigmoid" not in supported_backward(domain) and "relu" in supported_backward(domain)
    with pytest.raises(UnsupportedModelError, match="hidden layer 0 .* 'sigmoid'.*supported: relu, leaky_relu, linear"):
        walk_backward(net, domain, AffineForms.rows(np.eye(2, dtype=int)))
    assert walk_backward(net, domain, AffineForms.rows(np.eye(1, dtype=int)), start=0).numerators.shape == (1, 1)


def test_a_step_that_returns_finished_ends_the_walk_with_its_result():
    from smtnn.semantics import Finished

    layers = [Dense(np.eye(2), np.zeros(2), kind) for kind in ("relu", "sigmoid", "linear")]
    net = Network((*layers, Dense(np.ones((2, 2)), np.zeros(2), "softmax")))
    steps: list = []

    class Stops:
        def affine_back(self, index, layer, value):
            steps.append(("affine", index))
            return value + 1

        def linear_back(self, index, layer, value):
            steps.append(("linear", index))
            return value

        def relu_back(self, index, layer, value):
            raise AssertionError("the walk went on below the layer that finished it")

        def sigmoid_back(self, index, layer, value):
            steps.append(("sigmoid", index))
            return Finished(("done", value))

    record: list = []
    assert walk_backward(net, Stops(), 0, record=record) == ("done", 2)
    assert steps == [("affine", 3), ("linear", 2), ("affine", 2), ("sigmoid", 1)]
    assert record == [0, 1]
