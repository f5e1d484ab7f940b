"""Option values as the command line writes them: exact numbers kept as text, checked into one-line errors.

Shared by the task layer, batches and the twins task; numbers are validated here (finite in binary64,
within the limits the OS and the solvers accept) and converted to exact rationals where they are used.
"""
from __future__ import annotations

import math

from .errors import InvalidInputError

MAX_TIMEOUT = 1_000_000          # seconds (11.5 days): the OS timers take no more
MAX_MEMORY_MB = 1_000_000_000    # Z3's memory limit is a 32-bit number of MB


def _scalar(value, field: str) -> str:
    from fractions import Fraction

    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        import json

        raise InvalidInputError(f"field '{field}': expected a number or text, got {json.dumps(value)}")
    if isinstance(value, float):
        from decimal import Decimal

        return str(Decimal(value))   # a Python float stands for its exact binary value
    if isinstance(value, Fraction):
        return str(value)
    return str(value).strip()


def option_text(field: str, value) -> str:
    """An option's value as the command line writes it: numbers exactly, lists comma-separated, a domain 'lo:hi,...'."""
    if isinstance(value, str):
        return value.strip()
    if field == "domain" and isinstance(value, dict):
        if set(value) != {"lower", "upper"} or not isinstance(value["lower"], list) or not isinstance(value["upper"], list):
            raise InvalidInputError('field \'domain\': give {"lower": [...], "upper": [...]} or [[lower, upper], ...]')
        value = [list(pair) for pair in zip(value["lower"], value["upper"])]
    if isinstance(value, (list, tuple)):
        if field == "domain":
            if not all(isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in value):
                raise InvalidInputError("field 'domain': give one [lower, upper] pair per input")
            return ",".join(f"{_scalar(lo, field)}:{_scalar(hi, field)}" for lo, hi in value)
        return ",".join(_scalar(v, field) for v in value)
    return _scalar(value, field)


def as_float(text: str) -> float:
    """The binary64 value of a decimal or a fraction 'p/q' (ValueError if it is neither)."""
    try:
        return float(text)
    except ValueError:
        if "/" not in text:
            raise
        from fractions import Fraction

        try:
            return float(Fraction(text))
        except (ZeroDivisionError, OverflowError):
            raise ValueError(text) from None


def numbers(text: str, what: str) -> list[str]:
    """Comma-separated numbers, kept as written (exact decimals); each must be finite in binary64."""
    values = [v.strip() for v in str(text).split(",") if v.strip()]
    for v in values:
        try:
            number = as_float(v)
        except ValueError:
            raise InvalidInputError(f"{what}: '{v}' is not a number (give comma-separated numbers)") from None
        if v.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise InvalidInputError(f"{what}: '{v}' is not a number (give comma-separated finite numbers)")
        if not math.isfinite(number):
            from .exact import to_fraction

            to_fraction(v)   # its own message for a number too long or an exponent too large to expand
            raise InvalidInputError(f"{what}: '{v}' is too large (give a number within ±1.7e308)")
    return values


def number(text: str, what: str) -> str:
    values = numbers(text, what)
    if len(values) != 1:
        raise InvalidInputError(f"{what}: give one number, got '{text}'")
    return values[0]


def integer(text: str, what: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise InvalidInputError(f"{what}: '{text}' is not an integer") from None


def domain(text: str | None):
    """The Box of 'lo:hi,lo:hi,...' (None stays None)."""
    if text is None:
        return None
    from .domain import Box

    lower, upper = [], []
    for part in str(text).split(","):
        bounds = part.split(":")
        values = numbers(",".join(bounds), "--domain") if len(bounds) == 2 else []
        if len(values) != 2:
            raise InvalidInputError(f"--domain: '{part}' is not lower:upper (example: --domain 6.3:20.5,2.0:3.9)")
        lower.append(values[0])
        upper.append(values[1])
    return Box(tuple(lower), tuple(upper))


def timeout_seconds(value) -> float | None:
    """A timeout in seconds: positive, finite, at most MAX_TIMEOUT."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise InvalidInputError(f"--timeout must be a positive, finite number of seconds, got '{value}'")
    if seconds > MAX_TIMEOUT:
        raise InvalidInputError(f"--timeout: {value} s is too long; give at most {MAX_TIMEOUT} s (11.5 days)")
    return seconds


def memory_megabytes(value) -> int | None:
    """A memory cap in MB: at least 1, at most MAX_MEMORY_MB."""
    if value is None:
        return None
    try:
        mb = float(value)
    except (TypeError, ValueError):
        mb = math.nan
    if not (math.isfinite(mb) and 1 <= mb <= MAX_MEMORY_MB):
        raise InvalidInputError(f"--memory: '{value}' is not a number of megabytes (give 1 to {MAX_MEMORY_MB}, e.g. --memory 2000)")
    return int(mb)
