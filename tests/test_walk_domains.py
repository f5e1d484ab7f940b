"""The linear bound's backward pass and the sandwich witness, run on the one walk, give exactly the old loops' floats.

The old hand-written loops are kept here, private, as the reference: on random networks (relu, leaky
relu, linear, sigmoid and tanh hidden layers; fixed and perturbed parameter boxes; point and box
inputs) every output must agree bit for bit.
"""
from __future__ import annotations

import numpy as np
import pytest

from smtnn import linear_bounds as lb
from smtnn import local_reduction
from smtnn import perturbation as P
from smtnn.linear_bounds import (KINKED, _TINY, _UNIT, _leaky_lines, _matmul_error, _product_lines, _relu_lines,
                                 lower_matvec, round_down, sum_down, upper_matvec)
from smtnn.network import Network

KINDS = ("relu", "leaky_relu", "linear", "sigmoid", "tanh")


def _old_linear_lower(boxes, bounds, objective):
    """The backward loop as it stood before it became a backward domain (the reference)."""
    lam = np.asarray(objective, dtype=np.float64)
    const = np.zeros(lam.shape[0])
    for k in range(len(boxes) - 1, -1, -1):
        box = boxes[k]
        hlo, hhi = bounds.activation_bounds(boxes, k)
        pos, neg = np.maximum(lam, 0.0), np.minimum(lam, 0.0)
        const = sum_down(const, lower_matvec(pos, box.blo), lower_matvec(neg, box.bhi))
        if box.fixed:
            coeff = lam @ box.wlo
            error = _matmul_error(lam, box.wlo)
        else:
            a_lo, c_lo, a_hi, c_hi = _product_lines(box, hlo, hhi)
            stacked_lam, stacked_a = np.hstack([pos, neg]), np.vstack([a_lo, a_hi])
            coeff = stacked_lam @ stacked_a
            error = _matmul_error(stacked_lam, stacked_a)
            row_lo = lower_matvec(c_lo, np.ones(c_lo.shape[1]))
            row_hi = upper_matvec(c_hi, np.ones(c_hi.shape[1]))
            const = sum_down(const, lower_matvec(pos, row_lo), lower_matvec(neg, row_hi))
        magnitude = np.maximum(np.abs(hlo), np.abs(hhi))
        const = round_down(const - upper_matvec(error, magnitude))
        if k == 0:
            return sum_down(const, lower_matvec(np.maximum(coeff, 0.0), hlo), lower_matvec(np.minimum(coeff, 0.0), hhi))
        kind = boxes[k - 1].activation
        if kind == "linear":
            lam = coeff
            continue
        if kind not in KINKED:
            return sum_down(const, lower_matvec(np.maximum(coeff, 0.0), hlo), lower_matvec(np.minimum(coeff, 0.0), hhi))
        pre_lo, pre_hi = bounds.pre[k - 1]
        if kind == "relu":
            lower_slope, upper_slope, intercept = _relu_lines(pre_lo, pre_hi)
        else:
            lower_slope, upper_slope, intercept = _leaky_lines(pre_lo, pre_hi, boxes[k - 1].alpha)
        cpos, cneg = np.maximum(coeff, 0.0), np.minimum(coeff, 0.0)
        lam = cpos * lower_slope[None, :] + cneg * upper_slope[None, :]
        const = round_down(const + lower_matvec(cneg, intercept))
        rounding = (2 * _UNIT) * np.abs(lam) + _TINY
        const = round_down(const - upper_matvec(rounding, np.maximum(np.abs(pre_lo), np.abs(pre_hi))))
    raise AssertionError("unreachable")


def _old_sandwich_witness(boxes, x, targets, row):
    """The forward loop of :func:`local_reduction.sandwich_witness` before it ran on the walk (the reference)."""
    h = np.asarray(x, dtype=np.float64)
    flat = []
    for box, target in zip(boxes[:-1], targets):
        low_w = np.where(h[None, :] >= 0, box.wlo, box.whi)
        high_w = np.where(h[None, :] >= 0, box.whi, box.wlo)
        z_low, z_high = low_w @ h + box.blo, high_w @ h + box.bhi
        span = z_high - z_low
        t = np.clip(np.where(span > 0, (target - z_low) / np.where(span > 0, span, 1.0), 0.0), 0.0, 1.0)
        w = low_w + t[:, None] * (high_w - low_w)
        b = box.blo + t * (box.bhi - box.blo)
        flat += [w.ravel(), b]
        h = np.maximum(w @ h + b, 0.0)
    out, c = boxes[-1], np.asarray(row, dtype=np.float64)
    w = np.where(c[:, None] > 0, out.whi, np.where(c[:, None] < 0, out.wlo, (out.wlo + out.whi) / 2))
    b = np.where(c > 0, out.bhi, np.where(c < 0, out.blo, (out.blo + out.bhi) / 2))
    flat += [w.ravel(), b]
    return np.concatenate(flat), float(c @ (w @ h + b))


def _random_network(rng, kinds):
    sizes = [int(v) for v in rng.integers(2, 7, size=len(kinds) + 2)]
    weights = [rng.normal(0, np.sqrt(2 / a), (b, a)) for a, b in zip(sizes[:-1], sizes[1:])]
    for w in weights:   # exact zeros, tiny and large weights stress the rounding pads
        mask = rng.random(w.shape)
        w[mask < 0.05] = 0.0
        w[(mask > 0.05) & (mask < 0.1)] *= 1e-6
        w[mask > 0.95] *= 50
    biases = [rng.normal(0, 0.3, b) for b in sizes[1:]]
    alphas = [0.1 if k == "leaky_relu" else None for k in kinds] + [None]
    return Network.from_arrays(weights, biases, list(kinds) + ["linear"], alphas=alphas)


def _boxes(net, rng, case):
    if case == "fixed":
        return lb.nominal_box(net)
    delta = float(rng.choice([1e-3, 0.05, 0.5]))
    pert = {"uniform": P.uniform, "relative": P.relative}.get(case, lambda n, d: P.subset(n, d, layers=[case]))(net, delta)
    return lb.parameter_box(net, pert)


def _same(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True) and a.tobytes() == b.tobytes()


def _cases():
    for seed in range(30):
        rng = np.random.default_rng(seed)
        depth = 1 + seed % 4
        kinds = [KINDS[(seed + i) % len(KINDS)] if seed >= 10 else KINDS[seed % len(KINDS)] for i in range(depth)]
        yield seed, kinds, ("fixed", "uniform", "relative", 0, -1)[seed % 5]


@pytest.mark.parametrize("seed, kinds, case", list(_cases()))
def test_linear_lower_on_the_walk_equals_the_old_loop(seed, kinds, case, monkeypatch):
    rng = np.random.default_rng(1000 + seed)
    net = _random_network(rng, kinds)
    boxes = _boxes(net, rng, case)
    x = rng.uniform(-1, 1, net.n_inputs)
    radius = 0.0 if seed % 2 else float(rng.choice([1e-3, 0.1, 1.0]))
    xlo, xhi = x - radius, x + radius
    objective = np.vstack([np.eye(net.n_outputs), rng.normal(size=(3, net.n_outputs))])
    both = np.vstack([objective, -objective])
    for refine in (False, True):
        bounds = lb.refined_pre_activations(boxes, xlo, xhi, refine)
        for k in range(len(boxes)):   # every prefix, as the refined pre-activation pass asks
            width = boxes[k].wlo.shape[0]
            rows = np.vstack([np.eye(width), -np.eye(width), rng.normal(size=(2, width))])
            assert _same(lb.linear_lower(boxes[:k + 1], bounds, rows), _old_linear_lower(boxes[:k + 1], bounds, rows))
        assert _same(lb.linear_lower(boxes, bounds, both), _old_linear_lower(boxes, bounds, both))
    new = lb.objective_bounds(net, boxes, xlo, xhi, objective)
    monkeypatch.setattr(lb, "linear_lower", _old_linear_lower)
    old = lb.objective_bounds(net, boxes, xlo, xhi, objective)
    assert _same(new[0], old[0]) and _same(new[1], old[1])


@pytest.mark.parametrize("seed", range(30))
def test_sandwich_witness_on_the_walk_equals_the_old_loop(seed):
    rng = np.random.default_rng(2000 + seed)
    net = _random_network(rng, ["relu"] * (1 + seed % 3))
    boxes = _boxes(net, rng, ("fixed", "uniform", "relative", 0, -1)[seed % 5])
    x = rng.uniform(-1, 1, net.n_inputs)
    targets = [rng.normal(size=box.wlo.shape[0]) for box in boxes[:-1]]
    row = rng.integers(-1, 2, size=net.n_outputs).astype(float)
    new_params, new_value = local_reduction.sandwich_witness(boxes, x, targets, row)
    old_params, old_value = _old_sandwich_witness(boxes, x, targets, row)
    assert _same(new_params, old_params) and _same(new_value, old_value)
