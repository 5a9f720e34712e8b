"""Time for adapters: one injectable clock that both tells the time and does the waiting.

The kernel takes time only as data; adapters read it here. A clock gives two readings:
``time()`` is the kernel's time axis (Unix seconds, because container runtimes report wall-clock
start and finish times and persisted State must stay comparable across supervisor restarts), and
``monotonic()`` is what delays are scheduled on (wall time can be stepped). The clock also owns
waiting, so a test double can make waits end when the test moves time forward, in the manner of
trio's ``MockClock.jump()`` (python-trio/trio, ``trio/_core/_mock_clock.py``).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """What the supervisor core needs to know about time."""

    def time(self) -> float:
        """Seconds since the Unix epoch: the time axis of Outcomes and persisted State."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards: the axis restart delays are timed on."""
        ...

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        """Wait on ``cond`` (held by the caller) for at most ``timeout`` seconds of this clock."""
        ...


class SystemClock:
    """The real clock: ``time.time``, ``time.monotonic`` and a real ``Condition.wait``."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        cond.wait(timeout)


class ManualClock:
    """A test double: time stands still until ``advance()``, which also wakes every waiter.

    Both readings move together; ``time()`` starts at ``start`` and ``monotonic()`` at 0.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._start = start
        self._waiters: set[threading.Condition] = set()

    def time(self) -> float:
        with self._lock:
            return self._start + self._offset

    def monotonic(self) -> float:
        with self._lock:
            return self._offset

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        with self._lock:
            self._waiters.add(cond)
        # Time here moves only by advance(), which notifies every registered waiter. A waiter that
        # registers just after an advance() would miss that notify, so it also re-checks every
        # few real milliseconds; that bounds the cost of the race without affecting results.
        cond.wait(0.01)

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and wake everything waiting on this clock."""
        if seconds < 0:
            raise ValueError(f"advance: seconds must be >= 0, got {seconds!r}")
        with self._lock:
            self._offset += seconds
            waiters = list(self._waiters)
        for cond in waiters:
            with cond:
                cond.notify_all()
