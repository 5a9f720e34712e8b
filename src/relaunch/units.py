"""Durations as people write them (``90``, ``45s``, ``10m``, ``1h30m``) and as the CLI prints them."""

from __future__ import annotations

import math
import re

__all__ = ["clock", "parse_duration", "span"]

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")


def parse_duration(text: object, field: str) -> float:
    """Seconds from a number or a string such as ``"90"``, ``"45s"``, ``"10m"``, ``"1h30m"``.

    Raises ValueError naming ``field`` and the value when it is not a finite duration >= 0.
    """
    if isinstance(text, bool):
        raise ValueError(f"{field}: must be a duration such as 90, '45s', '10m' or '2h', got {text!r}")
    if isinstance(text, int | float):
        seconds = float(text)
    elif isinstance(text, str) and text.strip():
        compact = text.strip().replace(" ", "")
        try:
            seconds = float(compact)
        except ValueError:
            parts = _PART.findall(compact)
            if not parts or "".join(number + unit for number, unit in parts) != compact:
                raise ValueError(
                    f"{field}: must be a duration such as 90, '45s', '10m' or '2h', got {text!r}"
                ) from None
            seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    else:
        raise ValueError(f"{field}: must be a duration such as 90, '45s', '10m' or '2h', got {text!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{field}: must be a finite duration >= 0, got {text!r}")
    return seconds


def span(seconds: float) -> str:
    """A compact duration: ``0.5s``, ``45.2s``, ``12m03s``, ``2h00m``."""
    if seconds < 60:
        return f"{seconds:.3g}s" if seconds < 1 and seconds != 0 else f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m" if hours >= 10 or not secs else f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s"


def clock(seconds: float) -> str:
    """A point in virtual time as ``H:MM:SS.s`` from the simulation's start."""
    tenths = round(seconds * 10)
    whole, tenth = divmod(tenths, 10)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}.{tenth}"
