"""Parameter-space attacks: float searches for violations, never verdicts on their own.

A candidate from here only becomes a witness after the exact replay in :mod:`smtnn.float_first`.
For a fixed input and an activation pattern, the logits are multilinear in the layers' parameter
groups, so their extremes over the box sit at vertices: :func:`vertex_ascent` jumps to the vertex
the gradient's signs point at, again and again (projected gradient steps of full length), and
keeps the best.  :func:`input_and_parameter_ascent` adds projected sign-gradient steps on the
input for global properties.
"""
from __future__ import annotations

import numpy as np

from .network import Network
from .semantics import supported, walk
from .semantics.floats import ParameterGradients


def can_attack(network: Network) -> bool:
    """True when every hidden activation has a derivative in the float gradient domain."""
    kinds = supported(ParameterGradients)
    return all(layer.activation in kinds for layer in network.layers[:-1])


def objective_and_gradients(network: Network, params: np.ndarray, x: np.ndarray, coeffs: np.ndarray):
    """coeffs · z(x, p) in floats, with its gradients in the flat parameter vector and in x."""
    domain = ParameterGradients(network, params)
    logits = walk(network, domain, x)
    grad, gx = domain.parameter_pullback(coeffs)
    return float(coeffs @ logits), grad, gx


def vertex_ascent(network: Network, lower: np.ndarray, upper: np.ndarray, x: np.ndarray, coeffs: np.ndarray,
                  rounds: int = 8, start: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """A parameter vector in [lower, upper] with a large coeffs · z(x, p) (float search, no guarantee)."""
    p = network.parameter_vector().copy() if start is None else start.copy()
    best_p, best = p, -np.inf
    for _ in range(rounds):
        value, grad, _ = objective_and_gradients(network, p, x, coeffs)
        if value > best:
            best_p, best = p, value
        step = np.where(grad > 0, upper, np.where(grad < 0, lower, p))
        if np.array_equal(step, p):
            break
        p = step
    value, _, _ = objective_and_gradients(network, p, x, coeffs)
    if value > best:
        best_p, best = p, value
    return best_p, best


def input_and_parameter_ascent(network: Network, lower: np.ndarray, upper: np.ndarray, xlo: np.ndarray,
                               xhi: np.ndarray, x: np.ndarray, coeffs: np.ndarray, steps: int = 30):
    """Alternate sign-gradient steps on x (shrinking) and vertex jumps on p; returns (x, p, value)."""
    start = network.parameter_vector()
    p, value = vertex_ascent(network, lower, upper, x, coeffs, rounds=3, start=start)
    best = (x.copy(), p, value)
    size = (xhi - xlo) / 4
    for _ in range(steps):
        _, _, gx = objective_and_gradients(network, p, x, coeffs)
        x = np.clip(x + size * np.sign(gx), xlo, xhi)
        p, value = vertex_ascent(network, lower, upper, x, coeffs, rounds=3, start=start)
        if value > best[2]:
            best = (x.copy(), p, value)
        size = size * 0.8
    return best
