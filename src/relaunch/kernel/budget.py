"""Budgets: how many restarts a policy allows, and over what span.

A budget is a frozen, stateless value. What it has used so far lives in the kernel's ``State`` as
a *budget state*: an int, a float or a (nested) tuple of them, so a state serialises to JSON
without knowing which budget made it. A budget only ever computes new budget states; it never
changes one. New budgets (for a system whose rule fits none of these) subclass :class:`Budget`.

Times are the restart's own time (``restart_at``: the run's end plus the delay), so that a window
budget bounds the restarts themselves, jitter included; ``failed_at`` is there for budgets that
count failures instead.

``remaining`` says how many restarts a budget would still admit at a given time, one straight after
another (each failing at once): what a status column shows as "budget left" and what the
``relaunch_budget_remaining`` gauge exports. It is a reading, never a decision.
"""

from __future__ import annotations

import abc
import math
from bisect import bisect_right
from typing import Any, ClassVar, TypeAlias

import attrs

from .validate import count, finite, normalize

__all__ = [
    "Budget",
    "BudgetState",
    "CountBudget",
    "FixedWindow",
    "SlidingWindow",
    "TumblingWindow",
    "Unlimited",
    "UnstableRuns",
]

#: What a budget has used: an int, a float or a (nested) tuple of them. Opaque outside its budget,
#: hence ``Any`` to the type checker.
BudgetState: TypeAlias = Any


def _counted(number: int, noun: str) -> str:
    """``1 restart``, ``3 restarts``: budget descriptions end up in reasons and the README."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _ordinal(number: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``11th``, ``16th``, ``22nd``."""
    if number % 100 in (11, 12, 13):
        return f"{number}th"
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th') }"


def _just_after(base: float, span: float) -> float:
    """The smallest float ``t`` with ``t - base > span``: the first instant a window has moved on."""
    t = base + span
    while not t - base > span:
        t = math.nextafter(t, math.inf)
    return t


class Budget(abc.ABC):
    """Base of the budgets. Subclasses implement every method below without side effects."""

    __slots__ = ()
    kind: ClassVar[str]
    #: Whether ``earliest`` can ever be finite, so that ``Exhausted.WAIT`` makes sense.
    can_wait: ClassVar[bool] = False
    #: Whether the budget learns when runs start from the restarts it admits, so that every
    #: restart must pass through ``admit`` (the policy then refuses uncounted LOST restarts).
    tracks_runs: ClassVar[bool] = False

    @abc.abstractmethod
    def initial(self, at: float) -> BudgetState:
        """The budget state of a workload first started at ``at``."""
        ...

    @abc.abstractmethod
    def admit(self, used: BudgetState, failed_at: float, restart_at: float) -> BudgetState | None:
        """The budget state after a restart at ``restart_at``, or None if the budget refuses it."""
        ...

    def earliest(self, used: BudgetState, failed_at: float, restart_at: float) -> float:
        """The earliest time >= ``restart_at`` at which ``admit`` accepts, or ``math.inf``."""
        return math.inf

    def admit_waited(self, used: BudgetState, failed_at: float, restart_at: float) -> BudgetState | None:
        """The budget state after a refused restart waited until ``restart_at`` (``Exhausted.WAIT``).

        ``restart_at`` comes from ``earliest``. By default the waited restart is admitted as any
        other; a budget that counts failures rather than restarts (``TumblingWindow``) admits it
        without counting the failure a second time.
        """
        return self.admit(used, failed_at, restart_at)

    @abc.abstractmethod
    def remaining(self, used: BudgetState, at: float) -> float:
        """How many restarts ``admit`` would accept at ``at``, one after another, or ``math.inf``.

        Each restart is taken to fail and be restarted at ``at`` itself (``failed_at`` and
        ``restart_at`` both ``at``), so this is what is left if the workload crash-looped from now.
        """
        ...

    @abc.abstractmethod
    def reset(self, used: BudgetState, at: float) -> BudgetState:
        """The budget state after a stable run that ended at ``at`` resets the budget."""
        ...

    @abc.abstractmethod
    def phrase(self, used: BudgetState, attempt: int) -> str:
        """How a retry is numbered in reasons: ``1 of 9``, or ``4 (2 of 3 in 5s)``."""
        ...

    @abc.abstractmethod
    def describe(self) -> str:
        """A short human description, e.g. ``at most 10 restarts in any 600s``."""


@attrs.frozen(slots=True)
class Unlimited(Budget):
    """No limit: the workload is restarted for as long as the policy says it should be."""

    kind: ClassVar[str] = "unlimited"

    def initial(self, at: float) -> BudgetState:
        return 0

    def admit(self, used: BudgetState, failed_at: float, restart_at: float) -> BudgetState | None:
        return 0

    def remaining(self, used: BudgetState, at: float) -> float:
        return math.inf

    def reset(self, used: BudgetState, at: float) -> BudgetState:
        return 0

    def phrase(self, used: BudgetState, attempt: int) -> str:
        return str(attempt)

    def describe(self) -> str:
        return "unlimited restarts"


@attrs.frozen(slots=True)
class CountBudget(Budget):
    """At most ``max_restarts`` restarts (per stable epoch, when the policy's stable runs reset it).

    Budget state: the number of restarts used.
    """

    kind: ClassVar[str] = "count"
    max_restarts: int

    def __attrs_post_init__(self) -> None:
        normalize(self, "max_restarts", count("CountBudget.max_restarts", self.max_restarts))

    def initial(self, at: float) -> BudgetState:
        return 0

    def admit(self, used: BudgetState, failed_at: float, restart_at: float) -> BudgetState | None:
        return used + 1 if used < self.max_restarts else None

    def remaining(self, used: BudgetState, at: float) -> float:
        spent: int = used
        return max(0, self.max_restarts - spent)

    def reset(self, used: BudgetState, at: float) -> BudgetState:
        return 0

    def phrase(self, used: BudgetState, attempt: int) -> str:
        return f"{used} of {self.max_restarts}"

    def describe(self) -> str:
        return f"at most {_counted(self.max_restarts, 'restart')}"


#: Restart times per chunk of a sliding window's state. Admitting a restart copies one chunk and
#: the tuple of chunks, so a window of n restarts costs O(chunk + n / chunk) per decision instead
#: of O(n): with 32, a window of 1000 restarts copies about 60 references, not 1000.
_CHUNK = 32


def _chunked(times: list[float]) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(times[i : i + _CHUNK]) for i in range(0, len(times), _CHUNK))


@attrs.frozen(slots=True)
class SlidingWindow(Budget):
    """At most ``max_restarts`` restarts in any ``period`` seconds (Erlang/OTP's intensity and period).

    The window is inclusive, as OTP's: a restart exactly ``period`` seconds old still counts.
    Budget state: ``(count, chunks)``, the sorted times of the restarts that can still count, in
    chunks of at most 32 (see :meth:`times` for the flat list).
    """

    kind: ClassVar[str] = "sliding-window"
    can_wait: ClassVar[bool] = True
    max_restarts: int
    period: float

    def __attrs_post_init__(self) -> None:
        normalize(self, "max_restarts", count("SlidingWindow.max_restarts", self.max_restarts))
        normalize(self, "period", finite("SlidingWindow.period", self.period, strict=True))

    @staticmethod
    def times(used: BudgetState) -> tuple[float, ...]:
        """The restart times a budget state holds, oldest first."""
        return tuple(time for chunk in used[1] for time in chunk)

    def _live(self, used: BudgetState, at: float) -> tuple[int, tuple[tuple[float, ...], ...]]:
        """``used`` without the restarts that have left the window ending at ``at``."""
        number, chunks = used
        period = self.period
        while chunks:
            first = chunks[0]
            if at - first[-1] > period:  # the whole chunk has left
                chunks = chunks[1:]
                number -= len(first)
                continue
            if at - first[0] > period:
                index = 1
                while at - first[index] > period:
                    index += 1
                chunks = (first[index:], *chunks[1:])
                number -= index
            break
        return number, chunks

    def initial(self, at: float) -> BudgetState:
        return (0, ())

    def admit(self, used: BudgetState, failed_at: float, restart_at: float) -> BudgetState | None:
        number, chunks = self._live(used, restart_at)
        if number >= self.max_restarts:
            return None
        if not chunks:
            return (1, ((restart_at,),))
        last = chunks[-1]
        if restart_at >= last[-1]:
            if len(last) < _CHUNK:
                return (number + 1, (*chunks[:-1], (*last, restart_at)))
            return (number + 1, (*chunks, (restart_at,)))
        # Restart times only go backwards if a caller restarted early; keep them sorted anyway.
        times = list(self.times((number, chunks)))
        times.insert(bisect_right(times, restart_at), restart_at)
        return (number + 1, _chunked(times))

    def remaining(self, used: BudgetState, at: float) -> float:
        # Restarts recorded after ``at`` (a restart scheduled beyond a reading) count as admit counts them.
        return max(0, self.max_restarts - self._live(used, at)[0])

    def earliest(self, used: BudgetState, failed_at: float, restart_at: float) -> float:
        if self.max_restarts == 0:
            return math.inf
        number, chunks = self._live(used, restart_at)
        if number < self.max_restarts:
            return restart_at
        # The restart is admitted once the max_restarts-th newest one has left the window.
        from_end = self.max_restarts
        for chunk in reversed(chunks):
            if from_end <= len(chunk):
                return max(restart_at, _just_after(chunk[-from_end], self.period))
            from_end -= len(chunk)
        raise AssertionError("a full window holds max_restarts times")  # pragma: no cover

    def reset(self, used: BudgetState, at: float) -> BudgetState:
        return (0, ())

    def phrase(self, used: BudgetState, attempt: int) -> str:
        return f"{attempt} ({used[0]} of {self.max_restarts} in {self.period:g}s)"

    def describe(self) -> str:
        return f"at most {_counted(self.max_restarts, 'restart')} in any {self.period:g}s"


@attrs.frozen(slots=True)
class FixedWindow(Budget):
    """At most ``limit`` counted starts in a window of ``interval`` seconds (systemd's start limit).

    The first window opens at the workload's first start; once a window is more than
    ``interval`` seconds old, the next restart opens a new one (systemd ``src/basic/ratelimit.c``,
    ``ratelimit_below``). With ``count_first_start`` the first start counts in its window, as
    systemd's does; without it only restarts count (Nomad's tumbling window). Budget state:
    ``(window_begin, counted)``.
    """

    kind: ClassVar[str] = "fixed-window"
    can_wait: ClassVar[bool] = True
    limit: int
    interval: float
    count_first_start: bool = True

    def __attrs_post_init__(self) -> None:
        normalize(self, "limit", count("FixedWindow.limit", self.limit))
        normalize(self, "interval", finite("FixedWindow.interval", self.interval, strict=True))

    def initial(self, at: float) -> BudgetState:
        return (at, 1 if self.count_first_start else 0)

    def admit(self, used: BudgetState, failed_at: float, restart_at: float) -> BudgetState | None:
        begin, counted = used
        if restart_at - begin > self.interval:
            begin, counted = restart_at, 0
        return (begin, counted + 1) if counted < self.limit else None

    def remaining(self, used: BudgetState, at: float) -> float:
        begin: float
        counted: int
        begin, counted = used
        if at - begin > self.interval:  # the next restart opens a fresh window
            return self.limit
        return max(0, self.limit - counted)

    def earliest(self, used: BudgetState, failed_at: float, restart_at: float) -> float:
        if self.limit == 0:
            return math.inf
        begin, counted = used
        if restart_at - begin > self.interval or counted < self.limit:
            return restart_at
        return max(restart_at, _just_after(begin, self.interval))

    def reset(self, used: BudgetState, at: float) -> BudgetState:
        return (at, 0)

    def phrase(self, used: BudgetState, attempt: int) -> str:
        return f"{attempt} ({used[1]} of {self.limit} starts in {self.interval:g}s)"

    def describe(self) -> str:
        return f"at most {_counted(self.limit, 'start')} per {self.interval:g}s window"


@attrs.frozen(slots=True)
class TumblingWindow(Budget):
    """At most ``limit`` failures in a window of ``interval`` seconds that tumbles at failures (Nomad).

    Source: hashicorp/nomad ``client/allocrunner/taskrunner/restarts/restarts.go``,
    ``RestartTracker.GetState``. The first window opens at the first start. Every failure is
    counted at the time it happens (not when its restart starts); a failure more than
    ``interval`` seconds after the window opened reopens it at that failure, with the count
    starting again. The failure that takes the count above ``limit`` is refused. Waiting
    (``Exhausted.WAIT``, Nomad's ``mode = "delay"``) restarts at the window's end exactly, which
    can be sooner than the normal delay; that restart is not counted again, and the next failure
    opens a new window. Budget state: ``(window_begin, failures)``.
    """

    kind: ClassVar[str] = "tumbling-window"
    can_wait: ClassVar[bool] = True
    limit: int
    interval: float

    def __attrs_post_init__(self) -> None:
        normalize(self, "limit", count("TumblingWindow.limit", self.limit))
        normalize(self, "interval", finite("TumblingWindow.interval", self.interval, strict=True))

    def _count(self, used: BudgetState, failed_at: float) -> tuple[float, int]:
        begin, failures = used
        # Nomad: ``now.After(startTime + Interval)`` reopens the window at this failure.
        if failed_at - begin > self.interval:
            return failed_at, 1
        return begin, failures + 1

    def initial(self, at: float) -> BudgetState:
        return (at, 0)

    def admit(self, used: BudgetState, failed_at: float, restart_at: float) -> BudgetState | None:
        begin, failures = self._count(used, failed_at)
        return (begin, failures) if failures <= self.limit else None

    def remaining(self, used: BudgetState, at: float) -> float:
        begin: float
        failures: int
        begin, failures = used
        if at - begin > self.interval:  # the next failure reopens the window
            return self.limit
        # A waited restart leaves the count above the limit (admit_waited).
        return max(0, self.limit - failures)

    def earliest(self, used: BudgetState, failed_at: float, restart_at: float) -> float:
        # Nomad restarts nothing at all with ``attempts = 0``, whatever the mode.
        if self.limit == 0:
            return math.inf
        begin, _failures = self._count(used, failed_at)
        return begin + self.interval

    def admit_waited(self, used: BudgetState, failed_at: float, restart_at: float) -> BudgetState | None:
        # The failure is counted (above the limit, as Nomad's count is); the restart is not.
        return self._count(used, failed_at)

    def reset(self, used: BudgetState, at: float) -> BudgetState:
        return (at, 0)

    def phrase(self, used: BudgetState, attempt: int) -> str:
        return f"{attempt} ({used[1]} of {self.limit} failures in a {self.interval:g}s window)"

    def describe(self) -> str:
        return (
            f"at most {_counted(self.limit, 'failure')} per {self.interval:g}s window (tumbling at failures)"
        )


@attrs.frozen(slots=True)
class UnstableRuns(Budget):
    """Give up at the ``limit``-th unstable run within ``horizon`` seconds of the first start (PM2).

    Source: Unitech/pm2 ``lib/God.js``, ``handleExit``. A run shorter than ``min_uptime`` (strict)
    that fails less than ``horizon`` seconds after the first start is unstable and counted; other
    runs are restarted without being counted, and nothing but a fresh start clears the count
    (PM2 resets ``unstable_restarts`` only on a manual restart or after giving up). The count is
    checked at every failure: the failure that brings it to ``limit`` is refused, so ``limit=16``
    allows 15 restarts, and ``limit=0`` none.

    A run's start is the restart time this budget admitted (PM2's ``pm_uptime`` is likewise set
    when PM2 starts the process), which is why it sees every restart (``tracks_runs``): a policy
    using it must count LOST runs or restart them fresh. After a stable run resets it, the next
    run is taken to start when the stable one ended. Budget state:
    ``(first_start, unstable, run_start)``.
    """

    kind: ClassVar[str] = "unstable-runs"
    tracks_runs: ClassVar[bool] = True
    limit: int
    min_uptime: float
    horizon: float

    def __attrs_post_init__(self) -> None:
        normalize(self, "limit", count("UnstableRuns.limit", self.limit))
        normalize(self, "min_uptime", finite("UnstableRuns.min_uptime", self.min_uptime))
        normalize(self, "horizon", finite("UnstableRuns.horizon", self.horizon))

    def initial(self, at: float) -> BudgetState:
        return (at, 0, at)

    def admit(self, used: BudgetState, failed_at: float, restart_at: float) -> BudgetState | None:
        first, unstable, run_start = used
        if failed_at - first < self.horizon and failed_at - run_start < self.min_uptime:
            unstable += 1
        return (first, unstable, restart_at) if unstable < self.limit else None

    def remaining(self, used: BudgetState, at: float) -> float:
        first, unstable, run_start = used
        # The run under way counts if it is still short at ``at``; each restart after it runs for
        # no time at all, which is unstable unless min_uptime is 0. Past the horizon nothing counts.
        within = at - first < self.horizon
        unstable += within and at - run_start < self.min_uptime
        if unstable >= self.limit:  # admit refuses even an uncounted failure then
            return 0
        return self.limit - unstable if within and self.min_uptime > 0 else math.inf

    def reset(self, used: BudgetState, at: float) -> BudgetState:
        return (at, 0, at)

    def phrase(self, used: BudgetState, attempt: int) -> str:
        return f"{attempt} ({used[1]} of {self.limit} unstable)"

    def describe(self) -> str:
        return (
            f"give up at the {_ordinal(self.limit)} run shorter than {self.min_uptime:g}s "
            f"within {self.horizon:g}s of the first start"
        )
