"""The group rule: what one member's decision means for the rest of its group, and lives here alone.

Two rules, as for ``policy.py``:

* Everything that decides which other members restart or give up is in this module: the table
  :data:`TAKES_WITH` (strategy -> the members a member takes with it) and the table of what each
  of a member's own actions asks of the group. Each member's own restarts stay with its
  ``Policy``; a group only adds what its strategy and its shared budget say.
* It knows nothing of the world: it never reads a clock, never sleeps, never does I/O, and never
  learns how members are started or stopped. Time comes in as data (``at``).

The model is Erlang/OTP's supervisor (erlang/otp ``lib/stdlib/src/supervisor.erl``):

* Children are kept in start order and terminated in reverse start order (the module doc's
  "Supervision Principles"; ``terminate_children``). ``Group.members`` is that order, and every
  ``give_up`` lists members in reverse of it.
* ``restart/2`` passes every restart through ``add_restart/1`` first: the restart times no older
  than ``period`` seconds (inclusive) are kept, and when more than ``intensity`` of them would be,
  the supervisor terminates all its children and itself. A restart counts once however many
  children it takes with it. The group's ``budget`` is that shared count:
  ``SlidingWindow(max_restarts=intensity, period=period)`` is OTP's rule exactly; any other
  budget works the same way.
* ``restart/3``: ``one_for_one`` restarts the child alone; ``one_for_all`` terminates and restarts
  every other child too; ``rest_for_one`` (``split_child``) those after it in start order.
* ``do_restart/3``: a child that ends normally and is not to be restarted changes nothing for
  the others; here, a member whose own decision is ``STOP``.

Where OTP has no counterpart, because its children have no budget of their own: a member whose
own policy gives up (``GIVE_UP``) takes out of the group the members its strategy would have
restarted with it. ``one_for_one`` takes none; ``one_for_all`` takes every other member, so the
group gives up; ``rest_for_one`` takes those after it, which depend on it and cannot run
without it. A member that gave up is left out of later restarts until its own decision restarts it
again (an operator started it alone); once every member has given up, the group has given up and
decides nothing until :meth:`Group.start` (an operator's start of the group).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Any

import attrs

from . import serialize
from .budget import Budget, BudgetState, Unlimited
from .errors import PolicyError, StateError
from .state import budget_from_json, budget_to_json
from .vocabulary import Action, Strategy

__all__ = ["TAKES_WITH", "Group", "GroupDecision", "GroupState"]

#: Version of ``GroupState.to_dict``'s format; ``from_dict`` refuses any other.
SCHEMA = 1

_Members = tuple[str, ...]


def _alone(members: _Members, index: int) -> _Members:
    return ()


def _all_others(members: _Members, index: int) -> _Members:
    return members[:index] + members[index + 1 :]


def _after(members: _Members, index: int) -> _Members:
    return members[index + 1 :]


#: The other members, in start order, that a member (at ``index`` in the start order) takes with
#: it: into its restart when it restarts, out of the group when it gives up.
TAKES_WITH: dict[Strategy, Callable[[_Members, int], _Members]] = {
    Strategy.ONE_FOR_ONE: _alone,
    Strategy.ONE_FOR_ALL: _all_others,
    Strategy.REST_FOR_ONE: _after,
}


class _Asks(enum.Enum):
    """What a member's own decision asks of its group."""

    __hash__ = object.__hash__

    #: A restart: spends the shared budget and takes ``TAKES_WITH`` along.
    RESTART = "restart"
    #: The member is down for good: ``TAKES_WITH`` goes down with it.
    GIVE_UP = "give up"
    #: A clean end or an operator's stop: nothing for the others.
    NOTHING = "nothing"


_ASKS: dict[Action, _Asks] = {
    Action.RETRY: _Asks.RESTART,
    Action.RESET: _Asks.RESTART,
    Action.GIVE_UP: _Asks.GIVE_UP,
    Action.STOP: _Asks.NOTHING,
}


def _check_tables() -> None:
    if missing := set(Strategy) - set(TAKES_WITH):
        raise ImportError(f"group.TAKES_WITH: no row for {sorted(s.name for s in missing)}")
    if missing_actions := set(Action) - set(_ASKS):
        raise ImportError(f"group._ASKS: no row for {sorted(a.name for a in missing_actions)}")


_check_tables()


def _names(members: _Members) -> str:
    return ", ".join(members)


def _time(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StateError(f"{field}: must be a finite number, got {value!r}")
    return float(value)


@attrs.frozen(slots=True)
class GroupState:
    """What a group remembers between decisions. Made by :meth:`Group.start` and ``decide``.

    It never changes: ``decide`` returns a new one inside its :class:`GroupDecision`.
    """

    #: What the shared budget has used (its shape belongs to the budget).
    budget: BudgetState
    #: Restarts the shared budget admitted since ``Group.start``.
    restarts: int
    #: The members that have given up, in start order.
    given_up_members: tuple[str, ...]
    #: True once every member has given up: nothing restarts until ``Group.start``.
    given_up: bool
    #: The latest time this state has seen: the group's start, or its latest decision.
    last_at: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data, with the schema version, that ``from_dict`` turns back into this state."""
        return {
            "schema": SCHEMA,
            "budget": budget_to_json(self.budget),
            "restarts": self.restarts,
            "given_up_members": list(self.given_up_members),
            "given_up": self.given_up,
            "last_at": self.last_at,
        }

    @classmethod
    def from_dict(cls, data: object) -> GroupState:
        """Rebuild a state from ``to_dict`` output; raise :class:`StateError` naming the bad key."""
        if not isinstance(data, dict):
            raise StateError(f"group_state: must be a dict, got {type(data).__name__}")
        keys = ("schema", "budget", "restarts", "given_up_members", "given_up", "last_at")
        for key in data:
            if key not in keys:
                raise StateError(f"group_state.{key}: unknown key (expected {', '.join(keys)})")
        for key in keys:
            if key not in data:
                raise StateError(f"group_state.{key}: missing")
        if data["schema"] != SCHEMA or isinstance(data["schema"], bool):
            raise StateError(f"group_state.schema: must be {SCHEMA}, got {data['schema']!r}")
        restarts = data["restarts"]
        if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 0:
            raise StateError(f"group_state.restarts: must be a non-negative integer, got {restarts!r}")
        members = data["given_up_members"]
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise StateError(f"group_state.given_up_members: must be a list of names, got {members!r}")
        if not isinstance(data["given_up"], bool):
            raise StateError(f"group_state.given_up: must be true or false, got {data['given_up']!r}")
        return cls(
            budget_from_json("group_state.budget", data["budget"]),
            restarts,
            tuple(members),
            data["given_up"],
            _time("group_state.last_at", data["last_at"]),
        )


@attrs.frozen(slots=True)
class GroupDecision:
    """What the supervisor does to the other members after one member's decision, as a value."""

    #: The other members to restart now because of this one, in start order. The member itself
    #: is restarted by its own policy's decision and is never listed here.
    restart: tuple[str, ...]
    #: The members to give up, in reverse start order (the order OTP terminates in). The member
    #: itself is listed only when the group overrides its own decision: when the shared budget
    #: refused the restart its policy asked for.
    give_up: tuple[str, ...]
    #: The state to pass to the next ``decide``.
    state: GroupState
    #: One sentence for logs and status, e.g. ``api ended: one_for_all restarts db, cache with it
    #: (group restart 2 (2 of 3 in 60s))``.
    reason: str


def _is(kind: type, what: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, kind):
            raise PolicyError(f"Group.{attribute.name}: must be {what}, got {value!r}")

    return check


def _name(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise PolicyError(f"Group.name: must be a non-empty string, got {value!r}")


def _member_list(value: object) -> _Members:
    if isinstance(value, str) or not isinstance(value, tuple | list):
        raise PolicyError(f"Group.members: must be a tuple of names in start order, got {value!r}")
    if not value:
        raise PolicyError(f"Group.members: must name at least one member, got {value!r}")
    seen: set[str] = set()
    for member in value:
        if not isinstance(member, str) or not member:
            raise PolicyError(f"Group.members: each must be a non-empty string, got {member!r}")
        if member in seen:
            raise PolicyError(f"Group.members: {member!r} is listed twice")
        seen.add(member)
    return tuple(value)


@attrs.frozen(slots=True)
class Group:
    """Members supervised together: a strategy and a budget shared by their restarts (an OTP supervisor).

    Frozen and validated once, at construction. Each member also has its own ``Policy``, which
    decides its own restarts; :meth:`decide` says what one member's decision means for the others.
    """

    #: A label for reasons, logs and the group's state.
    name: str = attrs.field(validator=_name)
    #: Which other members a member's restart or give-up takes with it (``TAKES_WITH``).
    strategy: Strategy = attrs.field(validator=_is(Strategy, "a Strategy"))
    #: The members' names in start order: non-empty and unique.
    members: tuple[str, ...] = attrs.field(converter=_member_list)
    #: The restarts the members share (OTP's intensity and period are a ``SlidingWindow``).
    budget: Budget = attrs.field(factory=Unlimited, validator=_is(Budget, "a Budget"))

    # Derived once: a member's position in the start order.
    _index: dict[str, int] = attrs.field(init=False, eq=False, hash=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_index", {member: i for i, member in enumerate(self.members)})

    def start(self, at: float) -> GroupState:
        """The state of the group started at ``at``, every member with it (an operator's start too)."""
        start = _time("start.at", at)
        return GroupState(self.budget.initial(start), 0, (), False, start)

    def decide(self, state: GroupState, member: str, action: Action, at: float) -> GroupDecision:
        """What ``member``'s own decision ``action``, made at ``at``, means for the group. Pure.

        ``at`` is when the member's run ended: the time its own policy decided at. It never goes
        back: a window budget could not bound restarts whose times arrive out of order.
        """
        self._check(state, member, action, at)
        if state.given_up:
            reason = (
                f"{member} ended: group {self.name} has given up; nothing restarts until it is started again"
            )
            return GroupDecision((), (), state, reason)
        asks = _ASKS[action]
        if asks is _Asks.RESTART:
            return self._restart(state, member, float(at))
        if asks is _Asks.GIVE_UP:
            return self._give_up(state, member, float(at))
        next_state = attrs.evolve(state, last_at=float(at))
        return GroupDecision((), (), next_state, f"{member} stopped: nothing for the group to do")

    def remaining(self, state: GroupState, at: float) -> float:
        """How many more restarts the shared budget admits at ``at`` (``Budget.remaining``), 0 if given up."""
        if type(state) is not GroupState:
            raise StateError(f"state: must be a GroupState, got {type(state).__name__}")
        when = _time("remaining.at", at)
        if state.given_up:
            return 0
        try:
            return self.budget.remaining(state.budget, when)
        except (TypeError, ValueError, IndexError) as error:
            raise self._foreign(error) from None

    def describe(self) -> str:
        """One line: the strategy, the members in start order and the shared budget."""
        return (
            f"group {self.name}: {self.strategy.value} over {_names(self.members)}; "
            f"{self.budget.describe()}, shared"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data that :meth:`from_dict` turns back into an equal group."""
        return serialize.to_dict(self)

    @classmethod
    def from_dict(cls, data: object) -> Group:
        """Rebuild a group from :meth:`to_dict` output; raise :class:`PolicyError` naming the bad key."""
        return serialize.from_dict(cls, data, "group")

    def _check(self, state: GroupState, member: str, action: Action, at: float) -> None:
        """Refuse input that does not fit this group, before anything is decided."""
        if type(state) is not GroupState:
            raise StateError(f"state: must be a GroupState, got {type(state).__name__}")
        if not isinstance(member, str) or member not in self._index:
            raise StateError(
                f"decide.member: {member!r} is not a member of group {self.name} "
                f"(members: {_names(self.members)})"
            )
        if not isinstance(action, Action):
            raise StateError(f"decide.action: must be an Action, got {action!r}")
        when = _time("decide.at", at)
        if when < state.last_at:
            raise StateError(
                f"decide.at: {at!r} is before the group state's last recorded time {state.last_at!r}"
            )
        strangers = [name for name in state.given_up_members if name not in self._index]
        if strangers:
            raise StateError(
                f"state.given_up_members: {_names(tuple(strangers))} not members of group {self.name}"
            )

    def _restart(self, state: GroupState, member: str, at: float) -> GroupDecision:
        try:
            admitted = self.budget.admit(state.budget, at, at)
        except (TypeError, ValueError, IndexError) as error:
            raise self._foreign(error) from None
        if admitted is None:  # OTP: reached_max_restart_intensity; every child is shut down
            give_up = tuple(m for m in reversed(self.members) if m not in state.given_up_members)
            next_state = GroupState(state.budget, state.restarts, self.members, True, at)
            reason = (
                f"{member} ended: the group's budget ({self.budget.describe()}) is used up; "
                f"giving up {_names(give_up)}"
            )
            return GroupDecision((), give_up, next_state, reason)
        # A member that had given up restarts by its own decision: it is back in the group.
        down = tuple(m for m in state.given_up_members if m != member)
        taken = TAKES_WITH[self.strategy](self.members, self._index[member])
        restart = tuple(m for m in taken if m not in down)
        restarts = state.restarts + 1
        next_state = GroupState(admitted, restarts, down, False, at)
        others = f"{_names(restart)} with it" if restart else "no other member"
        reason = (
            f"{member} ended: {self.strategy.value} restarts {others} "
            f"(group restart {self.budget.phrase(admitted, restarts)})"
        )
        return GroupDecision(restart, (), next_state, reason)

    def _give_up(self, state: GroupState, member: str, at: float) -> GroupDecision:
        taken = TAKES_WITH[self.strategy](self.members, self._index[member])
        already = set(state.given_up_members)
        give_up = tuple(m for m in reversed(taken) if m not in already)
        down_now = already | {member, *taken}
        down = tuple(m for m in self.members if m in down_now)
        group_gave_up = len(down) == len(self.members)
        next_state = GroupState(state.budget, state.restarts, down, group_gave_up, at)
        others = f"{_names(give_up)} with it" if give_up else "no other member"
        reason = f"{member} gave up: {self.strategy.value} gives up {others}"
        if group_gave_up:
            reason += f"; group {self.name} has given up"
        return GroupDecision((), give_up, next_state, reason)

    def _foreign(self, error: Exception) -> StateError:
        return StateError(
            f"state.budget: does not fit group {self.name}'s budget ({self.budget.describe()}): {error}"
        )
