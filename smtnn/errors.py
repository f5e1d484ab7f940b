"""One exception family for everything smtnn rejects; each message says what is wrong and how to fix it."""


class SmtnnError(Exception):
    """Base class of every error smtnn raises on purpose."""


class InvalidInputError(SmtnnError, ValueError):
    """A value given by the user (δ, domain, x0, class index, option) is not acceptable."""


class ModelFileError(SmtnnError, OSError):
    """A model file is missing, empty, truncated or not in a format smtnn reads."""


class UnsupportedModelError(SmtnnError, ValueError):
    """A model uses a layer, activation or shape smtnn cannot encode."""


class SolverUnavailableError(SmtnnError, RuntimeError):
    """A requested solver is not installed or not known."""


class UnsupportedQueryError(SmtnnError, ValueError):
    """A query needs something the chosen solver cannot do (e.g. exp on a solver without transcendental functions)."""
