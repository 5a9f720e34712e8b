"""Jitter: spreading restarts so that workloads killed together do not restart together.

Jitter here is pure and reproducible. A draw is a function of the state's ``seed`` and a counter
(the number of restarts so far) through splitmix64, a counter-based hash, never of ``random``:
the same seed and inputs give the same delays, in a test, a simulation or a resumed supervisor.
The formulas for full, equal and decorrelated jitter are the ones in the AWS Architecture Blog
post "Exponential Backoff And Jitter" (Marc Brooker, 2015).
"""

from __future__ import annotations

import abc
from typing import ClassVar

import attrs

from .validate import finite, normalize

__all__ = [
    "DecorrelatedJitter",
    "EqualJitter",
    "FullJitter",
    "Jitter",
    "NoJitter",
    "ProportionalJitter",
    "RandomDelay",
    "uniform",
]

_MASK = (1 << 64) - 1


def uniform(seed: int, counter: int) -> float:
    """A float in [0, 1) that depends only on ``seed`` and ``counter`` (splitmix64's finaliser)."""
    z = (seed + (counter + 1) * 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    z ^= z >> 31
    return (z >> 11) * (1.0 / (1 << 53))


class Jitter(abc.ABC):
    """Base of the jitter strategies: ``apply`` turns the backoff's delay into the delay used."""

    __slots__ = ()
    kind: ClassVar[str]

    @abc.abstractmethod
    def apply(self, delay: float, cap: float, previous: float, seed: int, counter: int) -> float:
        """The jittered delay; ``previous`` is the delay used before the last restart (0 at first)."""
        ...

    def upper(self, cap: float) -> float:
        """The largest delay ``apply`` can return for a backoff capped at ``cap``."""
        return cap

    @abc.abstractmethod
    def describe(self) -> str:
        """A short human description, e.g. ``equal jitter``."""


@attrs.frozen(slots=True)
class NoJitter(Jitter):
    """Use the backoff's delay as it is."""

    kind: ClassVar[str] = "none"

    def apply(self, delay: float, cap: float, previous: float, seed: int, counter: int) -> float:
        return delay

    def describe(self) -> str:
        return "no jitter"


@attrs.frozen(slots=True)
class FullJitter(Jitter):
    """Uniform in [0, delay) ("full jitter")."""

    kind: ClassVar[str] = "full"

    def apply(self, delay: float, cap: float, previous: float, seed: int, counter: int) -> float:
        return delay * uniform(seed, counter)

    def describe(self) -> str:
        return "full jitter"


@attrs.frozen(slots=True)
class EqualJitter(Jitter):
    """Half the delay plus a uniform draw in [0, delay / 2) ("equal jitter")."""

    kind: ClassVar[str] = "equal"

    def apply(self, delay: float, cap: float, previous: float, seed: int, counter: int) -> float:
        half = delay / 2.0
        return half + half * uniform(seed, counter)

    def describe(self) -> str:
        return "equal jitter"


@attrs.frozen(slots=True)
class DecorrelatedJitter(Jitter):
    """Uniform between the backoff's delay and three times the previous delay, capped.

    AWS's "decorrelated jitter" (``min(cap, uniform(base, previous * 3))``) with the backoff's delay
    for this step as ``base``: over a constant backoff it is exactly AWS's formula.
    """

    kind: ClassVar[str] = "decorrelated"

    def apply(self, delay: float, cap: float, previous: float, seed: int, counter: int) -> float:
        high = max(previous * 3.0, delay)
        return min(cap, delay + (high - delay) * uniform(seed, counter))

    def describe(self) -> str:
        return "decorrelated jitter"


@attrs.frozen(slots=True)
class ProportionalJitter(Jitter):
    """Add a uniform draw in [0, fraction * delay): Nomad adds up to 25 % (``fraction=0.25``)."""

    kind: ClassVar[str] = "proportional"
    fraction: float

    def __attrs_post_init__(self) -> None:
        normalize(self, "fraction", finite("ProportionalJitter.fraction", self.fraction))

    def apply(self, delay: float, cap: float, previous: float, seed: int, counter: int) -> float:
        return delay + delay * self.fraction * uniform(seed, counter)

    def upper(self, cap: float) -> float:
        return cap * (1.0 + self.fraction)

    def describe(self) -> str:
        return f"+0..{self.fraction * 100:g}% jitter"


@attrs.frozen(slots=True)
class RandomDelay(Jitter):
    """Add a uniform draw in [0, width) seconds, whatever the delay: a random delay of fixed width.

    systemd's ``RestartRandomizedDelaySec=`` (``systemd.service(5)``: a random time up to the
    given span is added to each restart's delay, ``RestartSec=`` or the ``RestartSteps=`` one).
    """

    kind: ClassVar[str] = "random-delay"
    width: float

    def __attrs_post_init__(self) -> None:
        normalize(self, "width", finite("RandomDelay.width", self.width))

    def apply(self, delay: float, cap: float, previous: float, seed: int, counter: int) -> float:
        return delay + self.width * uniform(seed, counter)

    def upper(self, cap: float) -> float:
        return cap + self.width

    def describe(self) -> str:
        return f"+0..{self.width:g}s random delay"
