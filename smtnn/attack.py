"""Parameter-space attacks: float searches for violations, never verdicts on their own.

A candidate from here only becomes a witness after the exact replay in :mod:`smtnn.float_first`.
For a fixed input and an activation pattern, the logits are multilinear in the layers' parameter
groups, so their extremes over the box sit at vertices: :func:`vertex_ascent` jumps to the vertex
the gradient's signs point at, again and again (projected gradient steps of full length), and
keeps the best.  :func:`input_and_parameter_ascent` adds projected sign-gradient steps on the
input for global properties.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .network import Network

_DERIVATIVE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "relu": lambda a, h: (a > 0).astype(float),
    "linear": lambda a, h: np.ones_like(a),
    "sigmoid": lambda a, h: h * (1 - h),
    "tanh": lambda a, h: 1 - h * h,
}
_ACTIVATE = {
    "relu": lambda a: np.maximum(a, 0.0),
    "linear": lambda a: a,
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-np.clip(a, -700, 700))),
    "tanh": np.tanh,
}


def can_attack(network: Network) -> bool:
    """True when every hidden activation has a derivative here."""
    return all(layer.activation in _DERIVATIVE for layer in network.layers[:-1])


def objective_and_gradients(network: Network, params: np.ndarray, x: np.ndarray, coeffs: np.ndarray):
    """coeffs · z(x, p) in floats, with its gradients in the flat parameter vector and in x."""
    layers = []
    h, cache = x, []
    for k, (layer, (ws, bs)) in enumerate(zip(network.layers, network.layer_slices())):
        w = params[ws].reshape(layer.weights.shape)
        a = w @ h + params[bs]
        layers.append(w)
        last = k == len(network.layers) - 1
        cache.append((h, a, None if last else _ACTIVATE[layer.activation](a)))
        h = a if last else cache[-1][2]
    value = float(coeffs @ h)
    grad = np.zeros_like(params)
    g = np.asarray(coeffs, dtype=np.float64)
    for k in range(len(network.layers) - 1, -1, -1):
        ws, bs = network.layer_slices()[k]
        h_in = cache[k][0]
        grad[ws] = np.outer(g, h_in).ravel()
        grad[bs] = g
        g = layers[k].T @ g
        if k > 0:
            _, a_prev, h_prev = cache[k - 1]
            g = g * _DERIVATIVE[network.layers[k - 1].activation](a_prev, h_prev)
    return value, grad, g


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
