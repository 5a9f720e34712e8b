"""What the kernel decides: a :class:`Decision` (an ``Action``, a delay, the next state, a ``Rule``).

``Action`` and ``Rule`` live in :mod:`.vocabulary` and are re-exported here. This module sits
below ``policy.py``, which builds decisions, and below the words for them (``_explain.py``): it
imports neither. A decision carries the policy that made it, typed as :class:`Explainer` (what a
decision reads of it), and finds its reason through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .vocabulary import Action, Rule

if TYPE_CHECKING:
    from .outcome import Outcome
    from .state import State

__all__ = ["Action", "Decision", "Explainer", "Rule", "make_decision"]


class Explainer(Protocol):
    """What a decision needs of the policy that made it: its name, and the words for its reason.

    :class:`~relaunch.kernel.policy.Policy` is the one implementation; naming it here instead
    would make this module import ``policy.py``, which imports this one.
    """

    @property
    def name(self) -> str:
        """The policy's label."""
        ...

    def explain(self, decision: Decision) -> str:
        """The one-line reason for ``decision``."""
        ...


class Decision(tuple[Action, float, int, "State", Rule, "Outcome", Explainer]):
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
    def policy(self) -> Explainer:
        """The policy that decided (a ``Policy``)."""
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


def make_decision(
    action: Action,
    delay: float,
    attempt: int,
    state: State,
    rule: Rule,
    outcome: Outcome,
    policy: Explainer,
) -> Decision:
    """Build a Decision without validation: for the kernel's cold paths, which build only valid ones.

    ``Policy.decide``'s hot path builds the same tuple inline (a call costs more than the tuple).
    """
    return tuple.__new__(Decision, (action, delay, attempt, state, rule, outcome, policy))
