"""How one run of a workload ended: the kernel's only input besides time.

An :class:`Outcome` is built by an adapter (or a test, or a simulation) and validated once, here, so
the state machine can trust it on its hot path. :func:`make_outcome` builds one without the checks,
for a caller whose values are valid by construction (the loop's own clock, constant exit codes), as
``state.make_state`` and ``decision.make_decision`` do for the kernel: user input always goes
through ``Outcome(...)``.
"""

from __future__ import annotations

import math

import attrs

from .errors import OutcomeError
from .vocabulary import Cause

__all__ = ["Cause", "Outcome", "make_outcome"]


def _time(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OutcomeError(f"Outcome.{field}: must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise OutcomeError(f"Outcome.{field}: must be finite, got {value!r}")
    return number


def _optional_int(field: str, value: object, low: int, high: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise OutcomeError(f"Outcome.{field}: must be None or an integer in {low}..{high}, got {value!r}")


@attrs.frozen(slots=True)
class Outcome:
    """One finished run: when it started and ended (the caller's monotonic seconds) and how it ended.

    ``exit_code`` is 0..255 and ``signal`` 1..64. An ``EXITED`` run has exactly one of them (a
    process either exits or is killed); other causes may carry either, both or neither, as the
    runtime reports them (Docker reports an OOM kill as exit code 137, for example; a health kill
    carries the exit the kill caused, if the runtime saw one).
    """

    started_at: float
    ended_at: float
    exit_code: int | None = None
    signal: int | None = None
    cause: Cause = Cause.EXITED

    def __attrs_post_init__(self) -> None:
        started = _time("started_at", self.started_at)
        ended = _time("ended_at", self.ended_at)
        if ended < started:
            raise OutcomeError(
                f"Outcome.ended_at: must not be before started_at ({started!r}), got {ended!r}"
            )
        _optional_int("exit_code", self.exit_code, 0, 255)
        _optional_int("signal", self.signal, 1, 64)
        if not isinstance(self.cause, Cause):
            raise OutcomeError(f"Outcome.cause: must be a Cause, got {self.cause!r}")
        if self.cause is Cause.EXITED and (self.exit_code is None) == (self.signal is None):
            raise OutcomeError(
                "Outcome.exit_code: an EXITED outcome needs exactly one of exit_code and signal, "
                f"got exit_code={self.exit_code!r} signal={self.signal!r}"
            )
        # Ints are accepted for convenience and stored as floats, so equal outcomes compare equal.
        object.__setattr__(self, "started_at", started)
        object.__setattr__(self, "ended_at", ended)

    @property
    def duration(self) -> float:
        """How long the run lasted, in seconds."""
        return self.ended_at - self.started_at


# The slots' own setters: a frozen class refuses setattr, and its __init__ goes through
# object.__setattr__ once per field (measured on CPython 3.11: Outcome(...) with its checks 1.5 us,
# object.__setattr__ five times 0.5 us, these five 0.33 us).
_new = object.__new__
_set_started, _set_ended, _set_code, _set_signal, _set_cause = (
    getattr(Outcome, name).__set__ for name in ("started_at", "ended_at", "exit_code", "signal", "cause")
)


def make_outcome(
    started_at: float, ended_at: float, exit_code: int | None, signal: int | None, cause: Cause
) -> Outcome:
    """Build an Outcome without validation, for callers that only hold valid values.

    The values must be what ``Outcome(...)`` would store: floats (not ints) with ``started_at <=
    ended_at``, both finite; ``exit_code`` None or 0..255; ``signal`` None or 1..64; an ``EXITED``
    cause with exactly one of them. The result is then equal to ``Outcome(...)``'s
    (``tests/kernel/test_outcome.py`` checks it for every valid input).
    """
    outcome = _new(Outcome)
    _set_started(outcome, started_at)
    _set_ended(outcome, ended_at)
    _set_code(outcome, exit_code)
    _set_signal(outcome, signal)
    _set_cause(outcome, cause)
    return outcome
