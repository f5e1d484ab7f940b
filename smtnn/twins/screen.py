"""Cheap certified screens for twin queries: linear (CROWN-style) bounds of each network over the box.

:func:`pre_activations` gives each hidden layer's pre-activation bounds by the outward-rounded
backward linear pass of :mod:`smtnn.linear_bounds` (the unperturbed network as a point parameter
box); the LP relaxation intersects them with its interval bounds, so fewer units are left open
and fewer bounds need LP tightening.  :func:`robust_class` asks whether every input of the box
gets one class, from certified lower bounds of the score margins: when both twins provably pick
the same class everywhere, decision preservation holds without any LP.
"""
from __future__ import annotations

import numpy as np

from .. import linear_bounds
from ..domain import Box
from ..network import Network


def _float_box(box: Box) -> tuple[np.ndarray, np.ndarray]:
    return linear_bounds.domain_box(box.lower, box.upper)


def pre_activations(network: Network, box: Box) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Sound (lower, upper) of every hidden layer's pre-activations over the box, or None if unsupported."""
    if not linear_bounds.supported(network):
        return None
    xlo, xhi = _float_box(box)
    bounds = linear_bounds.refined_pre_activations(linear_bounds.nominal_box(network), xlo, xhi)
    return None if bounds is None else list(bounds.pre)


def margin_bounds(network: Network, box: Box, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sound [lower, upper] of rows @ logits over the box (intervals intersected with linear bounds)."""
    xlo, xhi = _float_box(box)
    return linear_bounds.objective_bounds(network, linear_bounds.nominal_box(network), xlo, xhi, rows)


def guess_class(network: Network, box: Box) -> int:
    """The float64 forward pass's class at the box centre: only a guess for :func:`robust_class` to prove."""
    centre = np.array([float((a + b) / 2) for a, b in zip(box.lower, box.upper)])
    return int(network.predict(centre[None, :])[0])


def robust_class(network: Network, box: Box, guess: int) -> bool:
    """True when the certified bounds show that every input of the box gets class `guess` (the network's
    decision rule: z >= 0 for a sigmoid output; the first largest score, logits negated for argmin)."""
    if not linear_bounds.supported(network):
        return False
    if network.binary:
        lo, hi = margin_bounds(network, box, np.array([[1.0]]))
        return bool(lo[0] >= 0) if guess == 1 else bool(hi[0] < 0)
    others = [m for m in range(network.n_classes) if m != guess]
    rows = np.zeros((len(others), network.n_outputs))
    for i, m in enumerate(others):
        rows[i, guess], rows[i, m] = network.score_sign, -network.score_sign
    lo, _ = margin_bounds(network, box, rows)
    # ties go to the lowest index: against a lower class the margin must be > 0, against a higher one >= 0
    return all(lo[i] > 0 if m < guess else lo[i] >= 0 for i, m in enumerate(others))
