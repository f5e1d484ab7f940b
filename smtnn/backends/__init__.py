"""Solver backends behind one interface; optional ones never break the import.

SMT solvers (z3, cvc5, dreal) decide pySMT formulas; the LP backend (highs) bounds and optimizes
linear functions of piecewise-linear networks with certified duals and exact leaves.

The registry maps a solver name to a loader that imports its module only when asked (pySMT's
factory habit): a missing cvc5 or dReal makes only that backend unavailable, with an error that
says how to install it.  Callers choose by capability (:func:`select`, ``backend.capabilities``),
never by testing a name.
"""
from __future__ import annotations

import os
import shutil
from typing import Callable

from ..errors import SolverUnavailableError
from .base import Answer, Backend, Capabilities, Session, Status

SOLVERS = ("z3", "cvc5", "dreal")
"""The formula solvers (``--solver``)."""
BACKENDS = SOLVERS + ("highs",)
"""Every registered backend, in the order :func:`select` tries them."""
DREAL_ENV = "SMTNN_DREAL"
DREAL_HINT = ("install the 'dreal' extra and the ibex 2.7.4 library its wheel links against, or put dReal's "
              f"'dreal' program on PATH (or name it with --dreal-path / {DREAL_ENV}) (README, section 'dReal'); "
              "or use --solver z3")
CVC5_HINT = "install it with: pip install 'smtnn[cvc5]' (or pip install cvc5); or use --solver z3"


def _z3(precision=None, path=None) -> Backend:
    from .z3_backend import Z3Backend

    return Z3Backend()


def _cvc5(precision=None, path=None) -> Backend:
    try:
        from .cvc5_backend import CVC5Backend
    except ImportError as err:
        raise SolverUnavailableError(f"cvc5 is not available ({err}); {CVC5_HINT}") from None
    return CVC5Backend()


def dreal_program(path: str | None = None) -> str | None:
    """The dReal executable to run: `path`, else $SMTNN_DREAL, else `dreal` on PATH (None if there is none)."""
    chosen = path or os.environ.get(DREAL_ENV)
    if chosen:
        found = shutil.which(chosen) or (chosen if os.path.isfile(chosen) and os.access(chosen, os.X_OK) else None)
        if found is None:
            raise SolverUnavailableError(f"the dReal program '{chosen}' is not an executable file; "
                                         f"fix --dreal-path / {DREAL_ENV}")
        return found
    return shutil.which("dreal")


def _dreal(precision=None, path=None) -> Backend:
    """dReal's Python module where it imports (unless a program is named explicitly), else its executable."""
    named = path or os.environ.get(DREAL_ENV)
    module_error = None
    if not named:
        try:
            from .dreal_backend import DRealBackend

            return DRealBackend(precision)
        except ImportError as err:
            module_error = err
    program = dreal_program(path)
    if program is not None:
        from .dreal_exe import DRealExecutableBackend

        return DRealExecutableBackend(program, precision)
    raise SolverUnavailableError(f"dReal is not available ({module_error}; no 'dreal' program on PATH); {DREAL_HINT}")


def _highs(precision=None, path=None) -> Backend:
    from .lp_backend import LPBackend

    return LPBackend()


_REGISTRY: dict[str, Callable[..., Backend]] = {"z3": _z3, "cvc5": _cvc5, "dreal": _dreal, "highs": _highs}


def get_backend(name: str, precision=None, path: str | None = None) -> Backend:
    """The backend called `name` (one of BACKENDS).

    Args:
        precision: δ of a δ-complete backend (dReal; default 1e-6); ignored by exact ones.
        path: dReal's executable (else $SMTNN_DREAL, else the Python module, else `dreal` on PATH).
    Raises:
        SolverUnavailableError: the name is unknown or the solver is not installed (the message says how to install it).
    """
    loader = _REGISTRY.get(name)
    if loader is None:
        raise SolverUnavailableError(f"unknown solver '{name}'; choose one of: {', '.join(BACKENDS)}")
    return loader(precision=precision, path=path)


def available() -> dict[str, Backend | str]:
    """Each registered backend: itself where it loads, else why not (one line)."""
    out: dict[str, Backend | str] = {}
    for name in BACKENDS:
        try:
            out[name] = get_backend(name)
        except SolverUnavailableError as err:
            out[name] = str(err)
    return out


def select(**wanted: bool) -> Backend:
    """The first available backend (in BACKENDS order) with every wanted capability, e.g. select(exact=True, optimization=True)."""
    for name in BACKENDS:
        try:
            backend = get_backend(name)
        except SolverUnavailableError:
            continue
        if not backend.capabilities.missing(**wanted):
            return backend
    raise SolverUnavailableError(f"no installed solver has the capabilities {sorted(k for k, v in wanted.items() if v)}")


__all__ = ["Answer", "Backend", "BACKENDS", "Capabilities", "Session", "Status", "SOLVERS", "DREAL_ENV", "available",
           "dreal_program", "get_backend", "select"]
