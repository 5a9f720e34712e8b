"""The kernel's :class:`State`: everything a policy remembers about one workload, as a value.

A State is never modified: ``Policy.decide`` returns a new one. It is a tuple underneath (with
named, read-only properties) because ``decide`` builds one per call and a tuple is built about
four times faster than a frozen attrs instance (measured on CPython 3.11: 0.08 us against 0.48 us
for nine fields), which is what keeps a decision near the cost of allocating its result. It is not
constructed directly: ``Policy.start`` makes the first one and ``State.from_dict`` rebuilds a
persisted one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .errors import StateError
from .vocabulary import Rule

if TYPE_CHECKING:
    from .budget import BudgetState

__all__ = ["SCHEMA", "State", "budget_from_json", "budget_to_json", "make_state", "replace"]

#: Version of the ``to_dict`` format; ``from_dict`` refuses any other.
SCHEMA = 1

_GIVE_UP_RULES = {rule.value: rule for rule in (Rule.BUDGET_EXHAUSTED, Rule.START_FAILED)}
_KEYS = (
    "schema",
    "seed",
    "attempt",
    "step",
    "restarts",
    "budget",
    "previous_delay",
    "last_at",
    "given_up",
)


class State(tuple[int, int, int, int, "BudgetState", float, float, "Rule | None"]):
    """What a policy remembers about one workload between decisions."""

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> State:
        raise TypeError("States come from Policy.start() or State.from_dict(), not the constructor")

    @property
    def seed(self) -> int:
        """The seed of this workload's reproducible jitter."""
        return self[0]

    @property
    def attempt(self) -> int:
        """Restarts in the current unstable streak (0 after a stable run)."""
        return self[1]

    @property
    def step(self) -> int:
        """Position on the backoff curve: the last restart used ``backoff.delay(step)``."""
        return self[2]

    @property
    def restarts(self) -> int:
        """Every automatic restart since ``Policy.start``."""
        return self[3]

    @property
    def budget(self) -> BudgetState:
        """What the policy's budget has used (its shape belongs to the budget)."""
        return self[4]

    @property
    def previous_delay(self) -> float:
        """The delay before the last restart (decorrelated jitter grows from it)."""
        return self[5]

    @property
    def last_at(self) -> float:
        """The latest time this state has seen: the first start, or the end of the last run."""
        return self[6]

    @property
    def given_up(self) -> bool:
        """True once a decision gave up; every later decision gives up again."""
        return self[7] is not None

    @property
    def given_up_by(self) -> Rule | None:
        """The rule that gave up, or None."""
        return self[7]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data, with the schema version, that ``from_dict`` turns back into this State."""
        seed, attempt, step, restarts, budget, previous, last_at, given_up = self
        return {
            "schema": SCHEMA,
            "seed": seed,
            "attempt": attempt,
            "step": step,
            "restarts": restarts,
            "budget": budget_to_json(budget),
            "previous_delay": previous,
            "last_at": last_at,
            "given_up": None if given_up is None else given_up.value,
        }

    @classmethod
    def from_dict(cls, data: object) -> State:
        """Rebuild a State from ``to_dict`` output; raise :class:`StateError` naming the bad key."""
        if not isinstance(data, dict):
            raise StateError(f"state: must be a dict, got {type(data).__name__}")
        for key in data:
            if key not in _KEYS:
                raise StateError(f"state.{key}: unknown key (expected {', '.join(_KEYS)})")
        for key in _KEYS:
            if key not in data:
                raise StateError(f"state.{key}: missing")
        if data["schema"] != SCHEMA or isinstance(data["schema"], bool):
            raise StateError(f"state.schema: must be {SCHEMA}, got {data['schema']!r}")
        seed = _count("seed", data["seed"])
        if seed >= 1 << 64:
            raise StateError(f"state.seed: must be below 2**64, got {seed!r}")
        given_up = data["given_up"]
        if given_up is not None and (not isinstance(given_up, str) or given_up not in _GIVE_UP_RULES):
            allowed = ", ".join(sorted(_GIVE_UP_RULES))
            raise StateError(f"state.given_up: must be null or one of {allowed}, got {given_up!r}")
        return make_state(
            seed,
            _count("attempt", data["attempt"]),
            _count("step", data["step"]),
            _count("restarts", data["restarts"]),
            budget_from_json("state.budget", data["budget"]),
            _time("previous_delay", data["previous_delay"], minimum=0.0),
            _time("last_at", data["last_at"]),
            None if given_up is None else _GIVE_UP_RULES[given_up],
        )

    def __eq__(self, other: object) -> bool:
        return type(other) is State and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = tuple.__hash__

    def __repr__(self) -> str:
        seed, attempt, step, restarts, budget, previous, last_at, given_up = self
        return (
            f"State(seed={seed!r}, attempt={attempt!r}, step={step!r}, restarts={restarts!r}, "
            f"budget={budget!r}, previous_delay={previous!r}, last_at={last_at!r}, "
            f"given_up={None if given_up is None else given_up.value!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (State.from_dict, (self.to_dict(),))


_new = tuple.__new__


def make_state(
    seed: int,
    attempt: int,
    step: int,
    restarts: int,
    budget: BudgetState,
    previous_delay: float,
    last_at: float,
    given_up: Rule | None,
) -> State:
    """Build a State without validation: for the kernel, which only builds valid ones."""
    return _new(State, (seed, attempt, step, restarts, budget, previous_delay, last_at, given_up))


_INDEX = {name: i for i, name in enumerate(_KEYS[1:])}


def replace(state: State, **changes: Any) -> State:
    """``state`` with the named fields changed (``attempt=0``): for the kernel's cold paths.

    The names are ``State``'s properties, ``given_up`` taking the Rule (``given_up_by``).
    """
    values = list(state)
    for key, value in changes.items():
        values[_INDEX[key]] = value
    return _new(State, values)


def _count(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise StateError(f"state.{key}: must be a non-negative integer, got {value!r}")
    return value


def _time(key: str, value: object, minimum: float = -math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StateError(f"state.{key}: must be a finite number, got {value!r}")
    if value < minimum:
        raise StateError(f"state.{key}: must be >= {minimum:g}, got {value!r}")
    return float(value)


def budget_to_json(budget: BudgetState) -> Any:
    """A budget state as JSON (tuples become lists): for every state that holds one."""
    if isinstance(budget, tuple):
        return [budget_to_json(item) for item in budget]
    return budget


def budget_from_json(path: str, value: object) -> BudgetState:
    """The budget state ``budget_to_json`` wrote; a :class:`StateError` names ``path`` otherwise."""
    if isinstance(value, list):
        return tuple(budget_from_json(f"{path}[{i}]", item) for i, item in enumerate(value))
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StateError(f"{path}: must be a finite number or a list of them, got {value!r}")
    return value
