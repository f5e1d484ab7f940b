"""What a network computes, written once: :func:`walk` over the layers, in one of several domains.

Domains (one module each unless said): :mod:`.floats` (float64, with gradients), :mod:`.enclosures`
(exact rationals and certified enclosures), :mod:`.integers` (exact integers of float parameters; :mod:`.exactnet` keeps a network's integer layers),
:mod:`.intervals` (outward-rounded float64 intervals), :mod:`.slopes` (interval slopes),
:mod:`.terms` (pySMT terms; the twins' pair encoding refines its relu phases in
:mod:`smtnn.twins.encode`), the LP relaxation rows (:class:`smtnn.twins.relaxation.RowDomain`, which
lives with the LP it fills), and :mod:`.corners`, the parameter-box corner extreme derived once
for numbers and for terms.

:func:`walk_backward` carries linear functionals from a layer down to the inputs; its domains
implement ``affine_back`` and ``<kind>_back`` (:class:`.integers.PatternBackward`: the exact affine
forms of a fixed activation pattern; :class:`smtnn.linear_bounds.LinearBoundBackward`: CROWN's outward-rounded
linear bounds over a parameter box, which live with the float bounds they refine).

To add a hidden activation: name it in ``network.HIDDEN_ACTIVATIONS`` (and ``PIECEWISE_LINEAR``
if it is), then give every domain a method of that name (and backward domains ``<kind>_back``).  To add an arithmetic: write a class
with ``affine`` and one method per activation it supports, and call :func:`walk`.
"""
from .walk import ACTIVATION_KINDS, Domain, Finished, check_supported, supported, supported_backward, walk, walk_backward

__all__ = ["ACTIVATION_KINDS", "Domain", "Finished", "check_supported", "supported", "supported_backward", "walk", "walk_backward"]
