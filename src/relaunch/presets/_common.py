"""What several presets share: systemd-style exit-status lists, and the start-failure rule."""

from __future__ import annotations

import signal as _signal
from collections.abc import Iterable

from ..kernel import RESTARTS, ExitClass, Mode, PolicyError, StartFailed

__all__ = ["ALL_SIGNALS", "exit_statuses", "start_failed"]

#: Every signal an Outcome can carry.
ALL_SIGNALS = frozenset(range(1, 65))


def exit_statuses(field: str, values: object) -> tuple[frozenset[int], frozenset[int]]:
    """systemd's exit-status lists: an int is an exit code, a name such as ``"SIGTERM"`` a signal."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise PolicyError(f"{field}: must be a collection of exit codes and signal names, got {values!r}")
    codes, signals = set(), set()
    for value in values:
        if isinstance(value, str) and value.startswith("SIG") and value in _signal.Signals.__members__:
            signals.add(int(_signal.Signals[value]))
        elif not isinstance(value, bool) and isinstance(value, int) and 0 <= value <= 255:
            codes.add(value)
        else:
            raise PolicyError(
                f"{field}: each item must be an exit code in 0..255 or a signal name "
                f"such as 'SIGTERM', got {value!r}"
            )
    return frozenset(codes), frozenset(signals)


def start_failed(mode: Mode, exit_class: ExitClass) -> StartFailed:
    """Retry a failed start when the mode restarts the exit class the system turns it into."""
    return StartFailed.RETRY if exit_class in RESTARTS[mode] else StartFailed.GIVE_UP
