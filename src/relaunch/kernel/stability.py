"""When a run counts as stable, and the words for it: :class:`Stability` owns both.

The state machine asks one question of a stability threshold, "was this run stable?", and every
reason, description and table that speaks of it asks the same object, so the test and its wording
are written once, here.
"""

from __future__ import annotations

import math

import attrs

from .errors import PolicyError
from .validate import finite, normalize
from .vocabulary import Reset

__all__ = ["RESETS", "Stability"]

#: How a reason names what a stable run resets.
RESETS: dict[Reset, str] = {
    Reset.DELAY: "the delay",
    Reset.BUDGET: "the budget",
    Reset.BOTH: "delay and budget",
}


@attrs.frozen(slots=True, cache_hash=True)
class Stability:
    """When a run counts as stable, and what a stable run resets.

    A run lasting at least ``after`` seconds (more than ``after`` when ``strict``) is stable; a
    start failure never is, nor a health kill. After a stable run the restart waits
    ``restart_delay`` seconds, or, when it is None, follows the backoff from its first step.
    """

    #: The threshold, in seconds.
    after: float
    #: Whether a run of exactly ``after`` seconds falls short (``>`` rather than ``>=``).
    strict: bool = False
    #: What a stable run resets: the backoff curve, the budget, or both.
    resets: Reset = Reset.BOTH
    #: The delay of the restart after a stable run; None: the backoff's first step.
    restart_delay: float | None = 0.0
    #: The shortest stable duration, so that "is it stable" is one comparison: ``after``, or the
    #: next float above it when ``strict`` (for floats, ``d > a`` exactly when ``d >= nextafter(a)``).
    threshold: float = attrs.field(init=False, eq=False, hash=False, repr=False)

    def __attrs_post_init__(self) -> None:
        normalize(self, "after", finite("Stability.after", self.after))
        if self.restart_delay is not None:
            normalize(self, "restart_delay", finite("Stability.restart_delay", self.restart_delay))
        if not isinstance(self.resets, Reset) or not self.resets:
            raise PolicyError(f"Stability.resets: must be DELAY, BUDGET or BOTH, got {self.resets!r}")
        if not isinstance(self.strict, bool):
            raise PolicyError(f"Stability.strict: must be a bool, got {self.strict!r}")
        normalize(self, "threshold", math.nextafter(self.after, math.inf) if self.strict else self.after)

    def holds(self, duration: float) -> bool:
        """Whether a run of ``duration`` seconds is long enough to be stable."""
        return duration >= self.threshold

    def relation(self, duration: float) -> str:
        """How ``duration`` compares with the threshold, as a reason writes it (``>=``, ``<`` ...)."""
        if self.holds(duration):
            return ">" if self.strict else ">="
        return "<=" if self.strict else "<"

    @property
    def resets_phrase(self) -> str:
        """What a stable run resets, in words: ``the delay``, ``the budget``, ``delay and budget``."""
        return RESETS[self.resets]

    def describe(self) -> str:
        relation = ">" if self.strict else ">="
        then = "the first backoff delay" if self.restart_delay is None else f"{self.restart_delay:g}s"
        return (
            f"a run {relation} {self.after:g}s is stable: resets {self.resets_phrase}, restarts after {then}"
        )
