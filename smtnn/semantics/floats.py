"""The float64 domain: the plain numeric forward pass (the float reference), optionally with gradients.

Values are batches of activations (rows).  Nothing here is rounded outward: these numbers
rank candidates and draw figures, they never decide a verdict.
"""
from __future__ import annotations

import numpy as np


class FloatDomain:
    """W h + b and the activations in float64, on a batch of rows."""

    description = "the float64 forward pass"

    def affine(self, index, layer, h):
        return h @ layer.weights.T + layer.bias

    def linear(self, index, layer, a):
        return a

    def relu(self, index, layer, a):
        return np.maximum(a, 0.0)

    def leaky_relu(self, index, layer, a):
        return np.where(a >= 0, a, float(layer.alpha) * a)

    def sigmoid(self, index, layer, a):
        return 1.0 / (1.0 + np.exp(-a))

    def tanh(self, index, layer, a):
        return np.tanh(a)


class FloatGradients(FloatDomain):
    """The float forward pass that also keeps, per hidden layer, the activation's derivative, for
    reverse-mode (sub)gradients of linear forms of the logits (PGD candidates, never proofs)."""

    description = "the float64 forward pass with gradients"

    def __init__(self):
        self.weights: list[np.ndarray] = []
        self.derivatives: list[np.ndarray | None] = []

    def affine(self, index, layer, h):
        self.weights.append(layer.weights)
        return super().affine(index, layer, h)

    def linear(self, index, layer, a):
        self.derivatives.append(None)
        return a

    def relu(self, index, layer, a):
        mask = a >= 0
        self.derivatives.append(mask)
        return np.where(mask, a, 0.0)

    def leaky_relu(self, index, layer, a):
        slope = np.where(a >= 0, 1.0, float(layer.alpha))
        self.derivatives.append(slope)
        return a * slope

    def sigmoid(self, index, layer, a):
        s = super().sigmoid(index, layer, a)
        self.derivatives.append(s * (1.0 - s))
        return s

    def tanh(self, index, layer, a):
        t = np.tanh(a)
        self.derivatives.append(1.0 - t ** 2)
        return t

    def pullback(self, cotangent: np.ndarray) -> np.ndarray:
        """Rows of cotangent · ∂logits/∂x at the walked batch (a subgradient where relu units sit at 0)."""
        g = cotangent @ self.weights[-1]
        for weights, derivative in zip(reversed(self.weights[:-1]), reversed(self.derivatives)):
            if derivative is not None:
                g = g * derivative
            g = g @ weights
        return g


class ParameterGradients(FloatGradients):
    """The float forward pass of one input at a flat parameter vector (the network's layout), for
    reverse-mode gradients in both the parameters and the input (parameter-space attacks).

    Relu's subgradient at its kink is 0 here (an inactive unit stays inactive under a vertex jump).
    """

    description = "the float64 forward pass with parameter gradients"

    def __init__(self, network, parameters: np.ndarray):
        super().__init__()
        self.parameters = parameters
        self.slices = network.layer_slices()
        self.inputs: list[np.ndarray] = []

    def affine(self, index, layer, h):
        ws, bs = self.slices[index]
        w = self.parameters[ws].reshape(layer.weights.shape)
        self.weights.append(w)
        self.inputs.append(h)
        return w @ h + self.parameters[bs]

    def relu(self, index, layer, a):
        self.derivatives.append((a > 0).astype(float))
        return np.maximum(a, 0.0)

    def sigmoid(self, index, layer, a):
        with np.errstate(over="ignore"):
            return super().sigmoid(index, layer, a)

    def parameter_pullback(self, cotangent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cotangent · ∂logits/∂p as a flat vector, cotangent · ∂logits/∂x) at the walked input."""
        grad = np.zeros_like(self.parameters)
        g = np.asarray(cotangent, dtype=np.float64)
        for k in range(len(self.weights) - 1, -1, -1):
            ws, bs = self.slices[k]
            grad[ws] = np.outer(g, self.inputs[k]).ravel()
            grad[bs] = g
            g = self.weights[k].T @ g
            if k > 0 and self.derivatives[k - 1] is not None:
                g = g * self.derivatives[k - 1]
        return grad, g
