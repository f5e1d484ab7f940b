"""Twin generators: magnitude pruning, post-training quantization, knowledge distillation; .h5 output."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InvalidInputError
from ..network import Network
from ..perturbation import quantized_values


def prune(network: Network, fraction: float, *, name: str | None = None) -> Network:
    """Set the `fraction` of smallest-magnitude weights of every layer to 0 (biases kept)."""
    if not 0 <= fraction <= 1:
        raise InvalidInputError(f"the pruned fraction must lie in [0, 1], got {fraction}")
    vector = network.parameter_vector().copy()
    for ws, _ in network.layer_slices():
        w = vector[ws]
        k = int(round(fraction * w.size))
        if k:
            w[np.argsort(np.abs(w), kind="stable")[:k]] = 0.0
        vector[ws] = w
    pruned = network.with_parameters(vector)
    return dataclasses.replace(pruned, name=name or f"{network.name}_pruned{int(round(100 * fraction))}")


def quantize(network: Network, scheme: str = "int", bits: int | None = 8, *, name: str | None = None) -> Network:
    """Post-training quantization ('int': symmetric per tensor, 'fixed': b fractional bits, 'float16').

    The twin stores, as float64, the nearest double to each exact quantized value
    (:func:`smtnn.perturbation.quantized_values`); for 'fixed' and 'float16' that is the value itself.
    """
    values = quantized_values(network, scheme, None if scheme == "float16" else bits)
    twin = network.with_parameters(np.array([float(v) for v in values]))
    label = scheme if scheme == "float16" else f"{scheme}{bits}"
    return dataclasses.replace(twin, name=name or f"{network.name}_{label}")


def distill(teacher: Network, inputs: np.ndarray, hidden: Sequence[int] = (16,), *, seed: int = 0,
            max_iter: int = 2000, name: str | None = None) -> Network:
    """A relu student MLP fitted (scikit-learn MLPRegressor, fixed seed) to the teacher's logits on `inputs`."""
    try:
        from sklearn.neural_network import MLPRegressor
    except ImportError:  # pragma: no cover
        raise InvalidInputError("distillation needs scikit-learn: pip install scikit-learn") from None
    inputs = np.asarray(inputs, dtype=float)
    if inputs.ndim != 2 or inputs.shape[1] != teacher.n_inputs:
        raise InvalidInputError(f"distillation inputs must have shape (n, {teacher.n_inputs}), got {inputs.shape}")
    if not hidden or any(int(h) < 1 for h in hidden):
        raise InvalidInputError(f"the student needs at least one hidden layer of positive width, got {tuple(hidden)}")
    targets = np.atleast_2d(teacher.logits(inputs))
    model = MLPRegressor(hidden_layer_sizes=tuple(int(h) for h in hidden), activation="relu", random_state=seed, max_iter=max_iter,
                         tol=1e-6, n_iter_no_change=50)
    model.fit(inputs, targets if targets.shape[1] > 1 else targets[:, 0])
    activations = ["relu"] * len(hidden) + [teacher.layers[-1].activation]
    student = Network.from_arrays(model.coefs_, model.intercepts_, activations, kernel_layout="in_out",
                                  threshold=teacher.threshold, input_names=teacher.input_names)
    return dataclasses.replace(student, name=name or f"{teacher.name}_distilled")


def save(network: Network, path: str | os.PathLike) -> Path:
    """Write the twin as a Keras .h5 file (:func:`smtnn.loaders.save_keras_h5`)."""
    from ..loaders import save_keras_h5

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_keras_h5(network, path)
    return path
