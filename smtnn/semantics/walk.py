"""The one walk over a network's layers.

A network computes, layer after layer, an affine step followed (on hidden layers) by an
activation; the output layer's affine values are the logits.  :func:`walk` is the only loop
over the layers in smtnn: what a step means depends on the *domain* it is given (exact
rationals, integers, outward-rounded float intervals, interval slopes, pySMT terms, LP rows,
floats with gradients).  A domain implements

- ``affine(index, layer, value)``: the values of W h + b from the values h of the layer's inputs;
- one method per hidden activation kind, named after it (``relu``, ``leaky_relu``, ``linear``,
  ``sigmoid``, ``tanh``), with the signature ``kind(index, layer, pre)``.

A new activation is one method per domain; a new arithmetic is one new domain.  A domain
without a method for an activation the network uses is rejected before any step runs, with a
message listing what that domain supports.

:func:`walk_backward` is the one loop that goes the other way: it carries linear functionals of
one layer's affine values down to the network's inputs (back-substitution, as in CROWN/DeepPoly
or the exact affine forms of a fixed activation pattern).  A backward domain implements

- ``affine_back(index, layer, value)``: functionals of the layer's affine values W h + b become
  functionals of its inputs h (the domain collects the bias terms b);
- one method per hidden activation kind, named ``<kind>_back`` (``relu_back``, ...), with the
  signature ``kind_back(index, layer, value)``: functionals of the activations of hidden layer
  ``index`` become functionals of its affine values (a fixed phase, or a linear relaxation chosen
  per sign of the coefficients).

A ``kind_back`` step may return :class:`Finished` to end the walk there with a result (CROWN bounds
sigmoid and tanh activations by constants, so nothing below such a layer matters).
"""
from __future__ import annotations

from typing import Any, Protocol

from ..errors import UnsupportedModelError

ACTIVATION_KINDS = ("relu", "leaky_relu", "linear", "sigmoid", "tanh")
"""The hidden activations a domain may implement, one method each."""


class Domain(Protocol):
    """An arithmetic the walk runs in (see the module docstring)."""

    def affine(self, index: int, layer, value: Any) -> Any: ...


def supported(domain) -> tuple[str, ...]:
    """The hidden activation kinds the domain implements."""
    return tuple(kind for kind in ACTIVATION_KINDS if callable(getattr(domain, kind, None)))


def check_supported(network, domain, stop: int | None = None) -> None:
    """Raise UnsupportedModelError unless the domain implements every hidden activation the walk will meet."""
    last = len(network.layers) - 1
    kinds = supported(domain)
    for index, layer in enumerate(network.layers[:last][:stop]):
        if layer.activation not in kinds:
            raise UnsupportedModelError(
                f"hidden layer {index} '{layer.name}' uses activation '{layer.activation}', which "
                f"{getattr(domain, 'description', type(domain).__name__)} does not support; "
                f"supported: {', '.join(kinds)}")


def walk(network, domain, inputs, *, stop: int | None = None, record: list | None = None):
    """Feed `inputs` through the layers in `domain`.

    Returns the logits (the output layer's affine values), or, with ``stop`` below the number
    of layers, the activations of layer ``stop - 1``.  ``record`` (a list) receives every
    walked layer's affine values (pre-activations) in order.
    """
    check_supported(network, domain, stop)
    last = len(network.layers) - 1
    value = inputs
    for index, layer in enumerate(network.layers[:stop]):
        pre = domain.affine(index, layer, value)
        if record is not None:
            record.append(pre)
        if index == last:
            return pre
        value = getattr(domain, layer.activation)(index, layer, pre)
    return value


BACKWARD = "_back"
"""The suffix of a backward domain's activation methods (``relu_back``)."""


class Finished:
    """A backward domain's answer that ends :func:`walk_backward` early: the walk returns ``result``."""

    __slots__ = ("result",)

    def __init__(self, result):
        self.result = result


def supported_backward(domain) -> tuple[str, ...]:
    """The hidden activation kinds the backward domain implements."""
    return tuple(kind for kind in ACTIVATION_KINDS if callable(getattr(domain, kind + BACKWARD, None)))


def check_supported_backward(network, domain, start: int) -> None:
    """Raise UnsupportedModelError unless the backward domain implements every hidden activation below layer `start`."""
    for index, layer in enumerate(network.layers[:start]):
        if layer.activation not in ACTIVATION_KINDS or not callable(getattr(domain, layer.activation + BACKWARD, None)):
            kinds = supported_backward(domain)
            raise UnsupportedModelError(
                f"hidden layer {index} '{layer.name}' uses activation '{layer.activation}', which "
                f"{getattr(domain, 'description', type(domain).__name__)} does not support; "
                f"supported: {', '.join(kinds)}")


def walk_backward(network, domain, value, *, start: int | None = None, record: list | None = None):
    """Carry `value`, linear functionals of the affine values of layer ``start`` (default: the logits), to the inputs.

    At layer k: ``domain.affine_back(k, layer, value)`` (functionals of its inputs), then, below
    ``start``, first ``domain.<activation>_back(k, layer, value)`` of the hidden layer k reached.
    Returns the functionals of the network's inputs, or the result of a :class:`Finished` a step returned.  ``record`` (a list) receives the value at
    every walked layer's affine values, from ``start`` down.
    """
    last = len(network.layers) - 1
    start = last if start is None else start
    if not 0 <= start <= last:
        raise ValueError(f"layer {start} is not a layer of a {last + 1}-layer network")
    check_supported_backward(network, domain, start)
    for index in range(start, -1, -1):
        layer = network.layers[index]
        if index < start:
            value = getattr(domain, layer.activation + BACKWARD)(index, layer, value)
            if isinstance(value, Finished):
                return value.result
        if record is not None:
            record.append(value)
        value = domain.affine_back(index, layer, value)
    return value
