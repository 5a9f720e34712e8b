"""What the kernel decides: an :class:`Action`, a machine-readable :class:`Rule`, and a :class:`Decision`."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .outcome import Outcome
    from .policy import Policy
    from .state import State

__all__ = ["Action", "Decision", "Rule"]


class Action(enum.Enum):
    """What the supervisor should do next."""

    #: Start the workload again after ``delay``; the run was part of an unstable streak.
    RETRY = "retry"
    #: The run was stable: the policy's reset applied; start again after ``delay``.
    RESET = "reset"
    #: Do not restart, now or later: the budget is spent (terminal until ``Policy.start``).
    GIVE_UP = "give-up"
    #: Nothing to restart: a clean end, an operator's stop, or an exit the policy leaves down.
    STOP = "stop"


class Rule(enum.Enum):
    """Which rule of the policy made the decision, for metrics and logs (values are stable)."""

    BACKOFF = "backoff"
    STABLE_RESET = "stable-reset"
    LOST = "lost"
    FORCED = "forced"
    BUDGET_WAIT = "budget-wait"
    BUDGET_EXHAUSTED = "budget-exhausted"
    START_FAILED = "start-failed"
    GIVEN_UP = "given-up"
    SUCCESS = "success"
    MODE = "mode"
    PREVENTED = "prevented"
    OPERATOR_STOP = "operator-stop"


class Decision(tuple[Action, float, int, "State", Rule, "Outcome", "Policy"]):
    """A frozen decision: ``action``, ``delay``, ``attempt``, the next ``state``, the ``rule``, ``reason``.

    A tuple underneath, like :class:`~relaunch.kernel.state.State`, because ``decide`` builds one
    on every call; ``reason`` is only formatted when read.
    """

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Decision:
        raise TypeError("Decisions are made by Policy.decide(), not constructed")

    @property
    def action(self) -> Action:
        """What to do: retry, reset, give up or stop."""
        return self[0]

    @property
    def delay(self) -> float:
        """Seconds to wait before starting again (0.0 unless the action restarts)."""
        return self[1]

    @property
    def attempt(self) -> int:
        """The restart's number within the current unstable streak (0 when not retrying)."""
        return self[2]

    @property
    def state(self) -> State:
        """The state to pass to the next ``decide`` (the input state is never modified)."""
        return self[3]

    @property
    def rule(self) -> Rule:
        """The rule that decided, as a stable code for metrics."""
        return self[4]

    @property
    def outcome(self) -> Outcome:
        """The outcome this decision answers."""
        return self[5]

    @property
    def policy(self) -> Policy:
        """The policy that decided."""
        return self[6]

    @property
    def restarts(self) -> bool:
        """True when the workload is to be started again (``RETRY`` or ``RESET``)."""
        return self[0] is Action.RETRY or self[0] is Action.RESET

    @property
    def reason(self) -> str:
        """A one-line human explanation, built on demand."""
        return self[6].explain(self)

    def __eq__(self, other: object) -> bool:
        return type(other) is Decision and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = tuple.__hash__

    def __repr__(self) -> str:
        return (
            f"Decision(action={self.action}, delay={self.delay!r}, attempt={self.attempt!r}, "
            f"rule={self.rule}, reason={self.reason!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (tuple(self),))


def _rebuild(values: tuple[Any, ...]) -> Decision:
    return tuple.__new__(Decision, values)
