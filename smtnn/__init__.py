"""smtnn: exact SMT-based verification of neural networks under parameter perturbation."""
from . import perturbation, properties
from .domain import Box
from .errors import (InvalidInputError, ModelFileError, SmtnnError, SolverUnavailableError,
                     UnsupportedModelError)
from .network import Dense, Network
from .result import Estimate, Verdict, VerificationResult, Witness, to_json


def load_network(path, **kwargs) -> Network:
    """Load a model file (Keras .h5 / .weights.h5, .npz, .onnx); see smtnn.loaders."""
    from .loaders import load_network as _load

    return _load(path, **kwargs)


__all__ = ["Box", "Dense", "Estimate", "InvalidInputError", "ModelFileError", "Network", "SmtnnError",
           "SolverUnavailableError", "UnsupportedModelError", "Verdict", "VerificationResult", "Witness",
           "load_network", "perturbation", "properties", "to_json"]
