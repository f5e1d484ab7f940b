"""Sound interval propagation in float64: every bound is widened by its rounding-error bound."""
from __future__ import annotations

import numpy as np

from ..rounding import sum_error


def affine(weights: np.ndarray, bias: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Enclosure of W h + b for h in [lo, hi], rounded outward."""
    p, q = weights * lo, weights * hi
    small, large = np.minimum(p, q), np.maximum(p, q)
    out_lo = small.sum(axis=1) + bias
    out_hi = large.sum(axis=1) + bias
    err_lo = sum_error(weights.shape[1] + 1, np.abs(small).sum(axis=1) + np.abs(bias))
    err_hi = sum_error(weights.shape[1] + 1, np.abs(large).sum(axis=1) + np.abs(bias))
    return np.nextafter(out_lo - err_lo, -np.inf), np.nextafter(out_hi + err_hi, np.inf)
