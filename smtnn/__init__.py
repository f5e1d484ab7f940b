"""smtnn: exact SMT-based verification of neural networks under parameter perturbation.

The names below load on first use, so `smtnn --help` and a query import only what they need.
"""
from __future__ import annotations

import importlib

from .errors import (InvalidInputError, ModelFileError, SmtnnError, SolverUnavailableError,
                     UnsupportedModelError)

_LAZY = {"Box": "domain", "Dense": "network", "Network": "network", "Estimate": "result", "Verdict": "result",
         "VerificationResult": "result", "Witness": "result", "to_json": "result", "Query": "tasks"}
_SUBMODULES = ("perturbation", "properties")


def load_network(path, **kwargs):
    """Load a model file (Keras .h5 / .weights.h5, .npz, .onnx); see smtnn.loaders."""
    from .loaders import load_network as _load

    return _load(path, **kwargs)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = ["Box", "Dense", "Estimate", "InvalidInputError", "ModelFileError", "Network", "Query", "SmtnnError",
           "SolverUnavailableError", "UnsupportedModelError", "Verdict", "VerificationResult", "Witness",
           "load_network", "perturbation", "properties", "to_json"]
