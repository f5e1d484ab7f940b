"""What a network computes, written once: :func:`walk` over the layers, in one of several domains.

Domains (one module each): :mod:`.floats` (float64, with gradients), :mod:`.enclosures` (exact
rationals and certified enclosures), :mod:`.integers` (exact integers of float parameters),
:mod:`.intervals` (outward-rounded float64 intervals), :mod:`.slopes` (interval slopes),
:mod:`.terms` (pySMT terms), :mod:`.rows` (LP relaxation rows), and :mod:`.corners`, the
parameter-box corner extreme derived once for numbers and for terms.
"""
from .walk import ACTIVATION_KINDS, Domain, check_supported, supported, walk

__all__ = ["ACTIVATION_KINDS", "Domain", "check_supported", "supported", "walk"]
