"""Validation shared by the kernel's parts, the presets and policy files: each failure names the field.

Every function takes the field's name as the caller spells it (``Exponential.factor``,
``docker.max_retries``) and either returns the value, normalised, or raises :class:`PolicyError`
naming that field and the value it got. Presets and policy files use these, never copies.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TypeVar

from .errors import PolicyError

__all__ = ["boolean", "choice", "codes", "count", "finite", "normalize", "signals"]

_T = TypeVar("_T")


def finite(field: str, value: object, *, minimum: float = 0.0, strict: bool = False) -> float:
    """Return ``value`` as a float if it is a finite number >= ``minimum`` (> when ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(f"{field}: must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise PolicyError(f"{field}: must be finite, got {value!r}")
    if number < minimum or (strict and number == minimum):
        relation = ">" if strict else ">="
        raise PolicyError(f"{field}: must be {relation} {minimum:g}, got {value!r}")
    return number


def count(field: str, value: object, *, minimum: int = 0) -> int:
    """Return ``value`` if it is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(f"{field}: must be an integer, got {value!r}")
    if value < minimum:
        raise PolicyError(f"{field}: must be >= {minimum}, got {value!r}")
    return value


def _ints(field: str, values: object, low: int, high: int, what: str) -> frozenset[int]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise PolicyError(f"{field}: must be a collection of {what}, got {values!r}")
    result = set()
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise PolicyError(f"{field}: {what} must be integers in {low}..{high}, got {value!r}")
        result.add(value)
    return frozenset(result)


def codes(field: str, values: object) -> frozenset[int]:
    """Return a frozenset of exit codes, each in 0..255."""
    return _ints(field, values, 0, 255, "exit codes")


def signals(field: str, values: object) -> frozenset[int]:
    """Return a frozenset of signal numbers, each in 1..64."""
    return _ints(field, values, 1, 64, "signals")


def normalize(instance: object, field: str, value: object) -> None:
    """Store a checked, normalised value on a frozen attrs instance (from ``__attrs_post_init__``)."""
    object.__setattr__(instance, field, value)


def choice(field: str, value: object, allowed: Mapping[str, _T]) -> _T:
    """Return ``allowed[value]`` if ``value`` is one of its keys (a system's own spelling)."""
    if not isinstance(value, str) or value not in allowed:
        raise PolicyError(f"{field}: must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return allowed[value]


def boolean(field: str, value: object) -> bool:
    """Return ``value`` if it is True or False (not merely truthy)."""
    if not isinstance(value, bool):
        raise PolicyError(f"{field}: must be True or False, got {value!r}")
    return value
