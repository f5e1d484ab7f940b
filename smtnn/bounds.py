"""Exact replay and parameter-space extremes at a fixed input.

:func:`replay_logits` is the reference forward pass in exact rational arithmetic (certified
intervals where sigmoid or tanh is involved); every witness smtnn reports goes through it.  It
and :func:`propagate` are walks in :class:`smtnn.semantics.enclosures.EnclosureDomain`.

:func:`extreme_at` maximizes a linear function c·z of the logits over the parameter box at a
fixed input.  When no perturbed parameter lies before the last hidden layer, the problem
decouples: each hidden neuron's parameters are its own, so its activation ranges over an
interval independently of the others, and each bilinear term g_k·h_k attains its extremes at
a corner of its box.  The bound is then attained by a corner witness (exact).  Otherwise the
bound comes from interval propagation (sound, maybe loose) and ``exact`` is False.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from .exact import Enclosure
from .network import Network
from .perturbation import Perturbation
from .semantics import walk
from .semantics.corners import CornerNumbers, corner_extreme
from .semantics.enclosures import EnclosureDomain, activate, add, mul

Q = Fraction

__all__ = ["activate", "propagate", "replay_logits", "linear_value", "Extreme", "first_perturbed_layer", "decouples",
           "extreme_at"]


def propagate(network: Network, inputs: Sequence[Enclosure], lower, upper, upto: int | None = None) -> list[list[Enclosure]]:
    """Interval propagation: the enclosures of every layer's pre-activations (sound for boxes of inputs and parameters)."""
    pre: list[list[Enclosure]] = []
    walk(network, EnclosureDomain(network, lower, upper), list(inputs), stop=upto, record=pre)
    return pre


def replay_logits(network: Network, x: Sequence[Fraction], params: Sequence[Fraction]) -> list[Enclosure]:
    """The logits of the network with these exact parameters at this exact input (zero width for piecewise-linear units)."""
    params = list(params)
    return walk(network, EnclosureDomain(network, params, params), [Enclosure.point(v) for v in x])


def linear_value(coeffs: Sequence[int], logits: Sequence[Enclosure]) -> Enclosure:
    """Enclosure of c·z."""
    acc = Enclosure.point(Q(0))
    for c, z in zip(coeffs, logits):
        if c:
            acc = add(acc, mul(Enclosure.point(Q(c)), z))
    return acc


@dataclass(frozen=True)
class Extreme:
    """max c·z over the parameter box at one input: a sound upper bound and a replayed witness."""

    upper: Fraction
    witness: tuple[Fraction, ...]
    witness_value: Enclosure
    exact: bool


def first_perturbed_layer(network: Network, perturbation: Perturbation) -> int:
    """Index of the first layer with a free parameter (len(layers) if none)."""
    free = perturbation.free   # ascending
    if not free:
        return len(network.layers)
    return next(k for k, (_, bs) in enumerate(network.layer_slices()) if free[0] < bs.stop)


def decouples(network: Network, perturbation: Perturbation) -> bool:
    """True when no free parameter lies before the last hidden layer (then :func:`extreme_at` is exact)."""
    return first_perturbed_layer(network, perturbation) >= len(network.layers) - 2


def extreme_at(network: Network, perturbation: Perturbation, x: Sequence[Fraction], coeffs: Sequence[int]) -> Extreme:
    """Maximize c·z(x, p) over the perturbation box at a fixed input x (see the module docstring).

    The corner bound and witness come from :func:`smtnn.semantics.corners.corner_extreme`, the
    derivation :meth:`smtnn.encoder.Encoder.eliminated_extreme` also builds its terms from.
    """
    lower, upper, nominal = list(perturbation.lower), list(perturbation.upper), list(perturbation.nominal)
    split = max(len(network.layers) - 2, 0)
    exact = decouples(network, perturbation)
    inputs = [Enclosure.point(v) for v in x]
    # layers before `split` run on nominal parameters for the witness; the bound uses their full boxes
    if split:
        hidden = walk(network, EnclosureDomain(network, lower, upper), inputs, stop=split)
        signs = walk(network, EnclosureDomain(network, nominal, nominal), inputs, stop=split)
    else:
        hidden = signs = inputs
    corners = CornerNumbers(nominal)
    bound = corner_extreme(corners, network, perturbation, coeffs, hidden, signs)
    witness = corners.witness
    value = linear_value(coeffs, replay_logits(network, x, witness))
    if not exact:
        full = linear_value(coeffs, walk(network, EnclosureDomain(network, lower, upper), inputs))
        bound = min(bound, full.hi) if split == 0 else full.hi
    return Extreme(upper=max(bound, value.lo), witness=tuple(witness), witness_value=value, exact=exact)
