"""Comparing smtnn's reading of a model file with the writing library's own inference (see tests/model_zoo.py)."""

from __future__ import annotations

import numpy as np

from smtnn.loaders import load_network

RELATIVE = 1e-6


def smtnn_values(path, reads: str, inputs: np.ndarray) -> np.ndarray:
    """What smtnn computes for ``reads`` (logits, probabilities, sigmoid values, relu outputs or labels)."""
    if reads == "labels":
        from smtnn.loaders.quantized import load_quantized

        return load_quantized(path).predict(inputs)
    network = load_network(path)
    logits = np.atleast_2d(network.logits(inputs))
    if reads == "logits":
        return logits
    if reads == "probabilities":
        return np.atleast_2d(network.predict_proba(inputs))
    if reads == "sigmoid":
        return 1.0 / (1.0 + np.exp(-logits))
    if reads == "relu":
        return np.maximum(logits, 0.0)
    raise ValueError(reads)


def worst_relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """max over rows of |got - want|_inf / |want|_inf (the relative error of each output vector)."""
    got, want = np.atleast_2d(got), np.atleast_2d(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = np.maximum(np.abs(want).max(axis=1), 1e-300)
    return float((np.abs(got - want).max(axis=1) / scale).max())


def agrees(path, reads: str, inputs: np.ndarray, outputs: np.ndarray) -> tuple[bool, str]:
    """Whether smtnn matches the reference: labels exactly, values within 1e-6 relative."""
    got = smtnn_values(path, reads, inputs)
    if reads == "labels":
        wrong = int((np.asarray(got) != np.asarray(outputs)).sum())
        return wrong == 0, f"{wrong} of {len(outputs)} labels differ"
    error = worst_relative_error(got, outputs)
    return error <= RELATIVE, f"relative error {error:.2e}"
