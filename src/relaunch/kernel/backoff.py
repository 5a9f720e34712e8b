"""Backoff shapes: how long to wait before the n-th restart of an unstable streak.

Each shape is a frozen, stateless value with one method, ``delay(step)``, where ``step`` is 1 for
the first restart. Every shape has a finite ``cap`` (its largest delay), and none overflows at
huge step numbers: shapes that grow find, once at construction, the step from which they return
the cap, so ``delay(10**9)`` costs the same as ``delay(2)``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import attrs

from ._check import count, finite, normalize
from .errors import PolicyError

__all__ = [
    "Backoff",
    "Constant",
    "Exponential",
    "Fibonacci",
    "Geometric",
    "ImmediateFirst",
    "Linear",
    "Table",
]


class Backoff:
    """Base of the backoff shapes: ``delay(step)`` for ``step >= 1``, never above ``cap``."""

    __slots__ = ()
    kind: ClassVar[str]

    @property
    def cap(self) -> float:
        """The largest delay this shape returns."""
        raise NotImplementedError

    def delay(self, step: int) -> float:
        """Seconds to wait before restart number ``step`` (1-based) of an unstable streak."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short human description, e.g. ``exponential 5s x2 up to 60s``."""
        raise NotImplementedError


@attrs.frozen(slots=True)
class Constant(Backoff):
    """The same delay before every restart (Nomad's ``delay``, systemd's plain ``RestartSec``)."""

    kind: ClassVar[str] = "constant"
    seconds: float

    def __attrs_post_init__(self) -> None:
        normalize(self, "seconds", finite("Constant.seconds", self.seconds))

    @property
    def cap(self) -> float:
        return self.seconds

    def delay(self, step: int) -> float:
        return self.seconds

    def describe(self) -> str:
        return f"constant {self.seconds:g}s"


@attrs.frozen(slots=True)
class Linear(Backoff):
    """``initial + (step - 1) * increment``, up to ``cap`` (supervisord waits 1, 2, 3 ... s)."""

    kind: ClassVar[str] = "linear"
    initial: float
    increment: float
    cap: float = 3600.0

    def __attrs_post_init__(self) -> None:
        normalize(self, "initial", finite("Linear.initial", self.initial))
        normalize(self, "increment", finite("Linear.increment", self.increment))
        normalize(self, "cap", finite("Linear.cap", self.cap))
        if self.cap < self.initial:
            raise PolicyError(f"Linear.cap: must be >= initial ({self.initial:g}), got {self.cap!r}")

    def delay(self, step: int) -> float:
        # (step - 1) * increment stays finite for any int step a supervisor can reach (< 1e300).
        return min(self.initial + (step - 1) * self.increment, self.cap)

    def describe(self) -> str:
        return f"linear {self.initial:g}s +{self.increment:g}s up to {self.cap:g}s"


def _first_capped_step(initial: float, factor: float, cap: float) -> int:
    """The smallest step whose uncapped delay ``initial * factor ** (step - 1)`` reaches ``cap``."""
    if factor == 1.0:
        return 1 if initial >= cap else 2**62
    # The logarithm gives the answer up to float error; the loops settle it exactly.
    step = max(1, int(math.log(cap / initial) / math.log(factor)))
    while initial * factor ** (step - 1) < cap:
        step += 1
    while step > 1 and initial * factor ** (step - 2) >= cap:
        step -= 1
    return step


@attrs.frozen(slots=True)
class Exponential(Backoff):
    """``initial * factor ** (step - 1)``, capped: ToolHive's 5, 10, 20, 40, 60 s; Docker's 0.1 s doubling."""

    kind: ClassVar[str] = "exponential"
    initial: float
    factor: float = 2.0
    cap: float = 60.0
    _capped_from: int = attrs.field(init=False, eq=False, repr=False, hash=False)

    def __attrs_post_init__(self) -> None:
        normalize(self, "initial", finite("Exponential.initial", self.initial, strict=True))
        normalize(self, "factor", finite("Exponential.factor", self.factor, minimum=1.0))
        normalize(self, "cap", finite("Exponential.cap", self.cap))
        if self.cap < self.initial:
            raise PolicyError(f"Exponential.cap: must be >= initial ({self.initial:g}), got {self.cap!r}")
        capped_from = _first_capped_step(self.initial, self.factor, self.cap)
        object.__setattr__(self, "_capped_from", capped_from)

    def delay(self, step: int) -> float:
        if step >= self._capped_from:
            return self.cap
        return self.initial * self.factor ** (step - 1)

    def describe(self) -> str:
        return f"exponential {self.initial:g}s x{self.factor:g} up to {self.cap:g}s"


@attrs.frozen(slots=True)
class Geometric(Backoff):
    """systemd's ``RestartSteps``: ``first * (last / first) ** ((step - 1) / steps)``, then ``last``.

    Source: systemd ``src/core/service.c``, ``service_restart_usec_next``.
    """

    kind: ClassVar[str] = "geometric"
    first: float
    last: float
    steps: int

    def __attrs_post_init__(self) -> None:
        normalize(self, "first", finite("Geometric.first", self.first, strict=True))
        normalize(self, "last", finite("Geometric.last", self.last, strict=True))
        normalize(self, "steps", count("Geometric.steps", self.steps, minimum=1))
        if self.last < self.first:
            raise PolicyError(f"Geometric.last: must be >= first ({self.first:g}), got {self.last!r}")

    @property
    def cap(self) -> float:
        return self.last

    def delay(self, step: int) -> float:
        if step > self.steps:
            return self.last
        ratio: float = (self.last / self.first) ** ((step - 1) / self.steps)
        return min(self.first * ratio, self.last)

    def describe(self) -> str:
        return f"geometric {self.first:g}s to {self.last:g}s in {self.steps} steps"


def _fibonacci_table(initial: float, cap: float) -> tuple[float, ...]:
    """The delays below ``cap``; ``initial > 0`` makes the sequence grow, so this ends."""
    delays: list[float] = []
    current, following = initial, initial
    while current < cap:
        delays.append(current)
        current, following = following, current + following
    return tuple(delays)


@attrs.frozen(slots=True)
class Fibonacci(Backoff):
    """``initial`` times the Fibonacci numbers 1, 1, 2, 3, 5, 8 ..., capped."""

    kind: ClassVar[str] = "fibonacci"
    initial: float
    cap: float = 60.0
    _below_cap: tuple[float, ...] = attrs.field(init=False, eq=False, repr=False, hash=False)

    def __attrs_post_init__(self) -> None:
        normalize(self, "initial", finite("Fibonacci.initial", self.initial, strict=True))
        normalize(self, "cap", finite("Fibonacci.cap", self.cap))
        if self.cap < self.initial:
            raise PolicyError(f"Fibonacci.cap: must be >= initial ({self.initial:g}), got {self.cap!r}")
        object.__setattr__(self, "_below_cap", _fibonacci_table(self.initial, self.cap))

    def delay(self, step: int) -> float:
        below = self._below_cap
        return below[step - 1] if step <= len(below) else self.cap

    def describe(self) -> str:
        return f"fibonacci {self.initial:g}s up to {self.cap:g}s"


def _delays(value: object) -> tuple[float, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise PolicyError(f"Table.delays: must be a non-empty sequence of seconds, got {value!r}")
    if not value:
        raise PolicyError("Table.delays: must be a non-empty sequence of seconds, got []")
    return tuple(finite(f"Table.delays[{index}]", item) for index, item in enumerate(value))


@attrs.frozen(slots=True)
class Table(Backoff):
    """An explicit list of delays; the last one repeats."""

    kind: ClassVar[str] = "table"
    delays: tuple[float, ...] = attrs.field(converter=_delays)

    @property
    def cap(self) -> float:
        return max(self.delays)

    def delay(self, step: int) -> float:
        delays = self.delays
        return delays[step - 1] if step <= len(delays) else delays[-1]

    def describe(self) -> str:
        return "table " + ", ".join(f"{d:g}" for d in self.delays) + " s (last repeats)"


def _backoff(value: object) -> Backoff:
    if not isinstance(value, Backoff):
        raise PolicyError(f"ImmediateFirst.inner: must be a Backoff, got {value!r}")
    return value


@attrs.frozen(slots=True)
class ImmediateFirst(Backoff):
    """Restart at once the first time, then follow ``inner`` (the kubelet: 0, 10, 20, 40 ... s)."""

    kind: ClassVar[str] = "immediate-first"
    inner: Backoff = attrs.field(converter=_backoff)

    @property
    def cap(self) -> float:
        return self.inner.cap

    def delay(self, step: int) -> float:
        return 0.0 if step <= 1 else self.inner.delay(step - 1)

    def describe(self) -> str:
        return f"immediate, then {self.inner.describe()}"
