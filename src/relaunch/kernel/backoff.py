"""Backoff shapes: how long to wait before the n-th restart of an unstable streak.

Each shape is a frozen, stateless value with one method, ``delay(step)``, where ``step`` is 1 for
the first restart. Every shape has a finite ``cap`` (its largest delay), and none overflows at
huge step numbers: shapes that grow find, once at construction, the step from which they return
the cap, so ``delay(10**9)`` costs the same as ``delay(2)``.
"""

from __future__ import annotations

import abc
import math
from typing import ClassVar

import attrs

from .errors import PolicyError
from .validate import count, finite, normalize

__all__ = [
    "Backoff",
    "Compounded",
    "Constant",
    "Exponential",
    "Fibonacci",
    "Geometric",
    "ImmediateFirst",
    "Linear",
    "Table",
]


class Backoff(abc.ABC):
    """Base of the backoff shapes: ``delay(step)`` for ``step >= 1``, never above ``cap``."""

    __slots__ = ()
    kind: ClassVar[str]

    @property
    @abc.abstractmethod
    def cap(self) -> float:
        """The largest delay this shape returns."""
        ...

    @abc.abstractmethod
    def delay(self, step: int) -> float:
        """Seconds to wait before restart number ``step`` (1-based) of an unstable streak."""
        ...

    @abc.abstractmethod
    def describe(self) -> str:
        """A short human description, e.g. ``exponential 5s x2 up to 60s``."""
        ...


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

    def reaches(step: int) -> bool:
        try:
            return initial * factor ** (step - 1) >= cap
        except OverflowError:  # factor ** n beyond the largest float is past any finite cap
            return True

    # The logarithm gives the answer up to float error; the loops settle it exactly.
    step = max(1, int((math.log(cap) - math.log(initial)) / math.log(factor)))
    while not reaches(step):
        step += 1
    while step > 1 and reaches(step - 1):
        step -= 1
    return step


def _ratio(owner: str, low: float, high: float) -> None:
    """Refuse bounds whose ratio overflows, so that no delay computation between them can."""
    if not math.isfinite(high / low):
        raise PolicyError(f"{owner}: the ratio of {high!r} to {low!r} overflows; use a larger initial delay")


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
        _ratio("Exponential.initial", self.initial, self.cap)
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
        _ratio("Geometric.first", self.first, self.last)

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


#: A compounded curve longer than this is a configuration mistake (a factor barely above 1).
_MAX_COMPOUNDED_STEPS = 10_000


def _compounded_table(initial: float, factor: float, ceiling: float, grid: float) -> tuple[float, ...]:
    """The delays of a compounded curve up to the first one that repeats (it repeats from then on)."""
    # Work in whole grid units, as PM2 works in whole milliseconds, and divide at the end: 337 / 1000
    # is the float nearest 0.337, while 337 * 0.001 is not.
    per_second = 1.0 / grid
    # Whole units are exact floats only up to 2**53; a finer grid could not be floored exactly
    # (and 1 / a subnormal grid is infinite).
    if not max(initial, ceiling) * per_second <= 2.0**53:
        raise PolicyError(
            f"Compounded.grid: must leave at most 2**53 steps below {max(initial, ceiling):g}s, got {grid!r}"
        )
    if abs(per_second - round(per_second)) <= 1e-9 * per_second:
        per_second = float(round(per_second))
    ceiling_units = ceiling * per_second
    # The first delay is on the grid too (PM2's base is whole milliseconds); a base that is on the
    # grid but not exactly representable (0.29 s is 289.99999999999994 ms) is not floored below it.
    units = initial * per_second
    nearest = float(round(units))
    units = nearest if abs(units - nearest) <= 1e-9 * max(1.0, units) else float(math.floor(units))
    delays = [units / per_second]
    while len(delays) <= _MAX_COMPOUNDED_STEPS:
        following = float(math.floor(min(ceiling_units, units * factor)))
        if following == units:
            return tuple(delays)
        delays.append(following / per_second)
        units = following
    raise PolicyError(
        f"Compounded.factor: {factor!r} takes more than {_MAX_COMPOUNDED_STEPS} steps "
        f"from {initial:g}s to settle below {ceiling:g}s"
    )


@attrs.frozen(slots=True)
class Compounded(Backoff):
    """Each delay is the previous one times ``factor``, at most ``ceiling``, rounded down to ``grid``.

    The first delay, ``initial``, is rounded down to the grid as well.

    PM2's ``exp_backoff_restart_delay`` (Unitech/pm2 ``lib/God.js``, ``handleExit``): the base
    delay first, then ``Math.floor(Math.min(15000, previous * 1.5))`` milliseconds, so 100 ms
    gives 100, 150, 225, 337, 505 ... 15000 ms. Unlike :class:`Exponential`, each delay is
    computed from the previous *rounded* one, which is why the sequence is a table here. The
    ceiling bounds the growth, not the first delay (PM2 starts at its base even above 15 s), so
    ``cap`` is the larger of ``initial`` and ``ceiling``.
    """

    kind: ClassVar[str] = "compounded"
    initial: float
    factor: float = 1.5
    ceiling: float = 15.0
    grid: float = 0.001
    _table: tuple[float, ...] = attrs.field(init=False, eq=False, repr=False, hash=False)

    def __attrs_post_init__(self) -> None:
        normalize(self, "initial", finite("Compounded.initial", self.initial))
        normalize(self, "factor", finite("Compounded.factor", self.factor, minimum=1.0))
        normalize(self, "ceiling", finite("Compounded.ceiling", self.ceiling))
        normalize(self, "grid", finite("Compounded.grid", self.grid, strict=True))
        table = _compounded_table(self.initial, self.factor, self.ceiling, self.grid)
        object.__setattr__(self, "_table", table)

    @property
    def cap(self) -> float:
        return max(self._table)

    def delay(self, step: int) -> float:
        table = self._table
        return table[step - 1] if step <= len(table) else table[-1]

    def describe(self) -> str:
        return (
            f"compounded {self.initial:g}s x{self.factor:g} up to {self.ceiling:g}s "
            f"(rounded down to {self.grid:g}s)"
        )


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
