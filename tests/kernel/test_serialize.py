"""Policy serialisation: ``Policy.to_dict`` / ``Policy.from_dict`` and TOML policy files."""

from __future__ import annotations

import enum
import json
import subprocess
import sys
import textwrap
import tomllib
import types
import typing
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaunch import Policy, PolicyError, presets
from relaunch import strategies as rst
from relaunch.kernel import Backoff, Exponential, Stability
from relaunch.kernel.serialize import kinds
from relaunch.policyfile import dumps_toml, preset, preset_names

# -- a generic strategy over every registered part -----------------------------------------------

# Nothing below a millisecond: Exponential(initial=1e-310) and (2.3e-308, factor 1e4) raise
# OverflowError in the kernel (reported to its owner); this file tests serialisation.
_FLOATS = st.one_of(st.sampled_from([0.0, 0.1, 0.5, 1.0, 2.0, 5.0, 60.0]), st.floats(1e-3, 1e4))


def _values(hint: Any, depth: int) -> st.SearchStrategy[Any]:
    """Plain, mostly valid values for a field of type ``hint``; the part's validators filter the rest."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        (arm,) = (a for a in args if a is not type(None))
        return st.none() | _values(arm, depth)
    if origin is frozenset:
        return st.frozensets(st.integers(1, 64), max_size=4)
    if origin is tuple:
        return st.lists(_FLOATS, min_size=1, max_size=5).map(tuple)
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.integers(0, 20)
    if hint is float:
        return _FLOATS
    if hint is str:
        return st.text(max_size=12)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return st.sampled_from(list(hint.__members__.values()))
    if depth > 3:
        return st.nothing()
    if isinstance(hint, type) and not attrs.has(hint):  # a part's base: any of its kinds
        return st.one_of([_instances(cls, depth + 1) for cls in kinds(hint).values()])
    return _instances(hint, depth + 1)


def _build(cls: type, arguments: dict[str, Any]) -> Any:
    try:
        return cls(**arguments)
    except PolicyError:
        return None


def _instances(cls: type, depth: int) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    fields = {field.alias: _values(hints[field.name], depth) for field in attrs.fields(cls) if field.init}
    return (
        st.fixed_dictionaries(fields)
        .map(lambda arguments: _build(cls, arguments))
        .filter(lambda value: value is not None)
    )


policies = _instances(Policy, 0)


# -- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_round_trips_exactly(name: str) -> None:
    """Every preset comes back equal from its dict, through JSON and through a TOML policy file."""
    policy = preset(name)
    data = policy.to_dict()
    assert Policy.from_dict(data) == policy
    assert Policy.from_dict(json.loads(json.dumps(data))) == policy
    assert Policy.from_dict(tomllib.loads(dumps_toml(data))) == policy


@given(policies)
def test_any_policy_round_trips_exactly(policy: Policy) -> None:
    """Any valid policy, built from any registered parts, comes back equal from to_dict, JSON and TOML."""
    data = policy.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert Policy.from_dict(data) == policy
    assert Policy.from_dict(tomllib.loads(dumps_toml(data))) == policy


@given(rst.policies())
def test_the_kernels_own_policy_strategy_round_trips(policy: Policy) -> None:
    """Every policy relaunch.strategies can draw comes back equal from its dict and its TOML file."""
    assert Policy.from_dict(policy.to_dict()) == policy
    assert Policy.from_dict(tomllib.loads(dumps_toml(policy.to_dict()))) == policy


def test_the_dict_shape_is_plain_and_tagged() -> None:
    """Parts carry their kind, enums are values, frozensets sorted lists, a Flag its name."""
    data = presets.toolhive().to_dict()
    assert data["mode"] == "always"
    assert data["backoff"] == {"kind": "exponential", "initial": 5.0, "factor": 2.0, "cap": 60.0}
    assert data["budget"] == {"kind": "count", "max_restarts": 9}
    assert data["jitter"] == {"kind": "none"}
    assert data["stability"]["resets"] == "both"
    assert data["exits"]["success_codes"] == [0]
    assert presets.toolhive_legacy().to_dict()["stability"] is None


def test_missing_keys_take_the_defaults() -> None:
    """A dict need only name what differs from the defaults; required fields are required."""
    assert Policy.from_dict({}) == Policy()
    assert Policy.from_dict({"backoff": {"kind": "constant", "seconds": 3}}).backoff.cap == 3.0


def test_none_is_spelled_none_where_there_is_no_null() -> None:
    """TOML has no null: "none" stands for None in an optional field, and only there."""
    policy = Policy.from_dict({"stability": {"after": 60, "restart_delay": "none"}})
    assert policy.stability == Stability(after=60.0, restart_delay=None)
    assert Policy.from_dict({"stability": "none"}).stability is None
    with pytest.raises(PolicyError, match=r"^policy\.count_lost: must be true or false, got 'none'$"):
        Policy.from_dict({"count_lost": "none"})


# -- errors name the key path and the allowed values ---------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"backoff": {"kind": "exponential", "initial": 1, "factor": 0.5}},
            "policy.backoff.factor: must be >= 1, got 0.5",
        ),
        (
            {"backoff": {"kind": "exponential", "initial": 1, "factor": "two"}},
            "policy.backoff.factor: must be a number, got 'two'",
        ),
        ({"backoff": {"kind": "exponential"}}, "policy.backoff.initial: missing (required)"),
        (
            {"backoff": {"initial": 1}},
            "policy.backoff.kind: missing, expected one of " + ", ".join(kinds(Backoff)),
        ),
        (
            {"backoff": {"kind": "expo"}},
            "policy.backoff.kind: unknown 'expo', expected one of " + ", ".join(kinds(Backoff)),
        ),
        (
            {"backoff": {"kind": "exponential", "initial": 1, "facter": 3}},
            "policy.backoff.facter: unknown key, expected one of initial, factor, cap",
        ),
        (
            {"mode": "sometimes"},
            "policy.mode: unknown 'sometimes', expected one of always, on-failure, on-success, "
            "on-abnormal, on-watchdog, on-abort, never",
        ),
        (
            {"stability": {"after": 30, "resets": "all"}},
            "policy.stability.resets: unknown 'all', expected one of delay, budget, both",
        ),
        ({"budget": "count"}, "policy.budget: must be a table of keys, got 'count'"),
        ({"exits": {"success_codes": 0}}, "policy.exits.success_codes: must be a list, got 0"),
        (
            {"exits": {"prevent_codes": [256]}},
            "policy.exits.prevent_codes: exit codes must be integers in 0..255, got 256",
        ),
        (
            {"backoff": {"kind": "table", "delays": [1, "x"]}},
            "policy.backoff.delays[1]: must be a number, got 'x'",
        ),
        (
            {
                "backoff": {
                    "kind": "immediate-first",
                    "inner": {"kind": "linear", "initial": 5, "increment": -1},
                }
            },
            "policy.backoff.inner.increment: must be >= 0, got -1",
        ),
        (
            {"on_exhausted": "wait"},
            "policy.on_exhausted: WAIT needs a window budget, got 'unlimited restarts'",
        ),
        (
            {"colour": "red"},
            "policy.colour: unknown key, expected one of "
            + ", ".join(field.alias for field in attrs.fields(Policy) if field.init),
        ),
        (["always"], "policy: must be a table of keys, got ['always']"),
    ],
)
def test_bad_data_is_rejected_with_its_key_path(data: Any, message: str) -> None:
    """A wrong key, type or value raises PolicyError naming the path and, for choices, the choices."""
    with pytest.raises(PolicyError) as raised:
        Policy.from_dict(data)
    assert str(raised.value) == message


def test_a_part_added_later_serialises_with_no_change() -> None:
    """A Backoff subclass defined after import is found by its kind, round-trips, and is listed."""
    script = textwrap.dedent(
        """
        from typing import ClassVar
        import attrs
        from relaunch import Policy
        from relaunch.kernel import Backoff

        @attrs.frozen
        class Steps(Backoff):
            kind: ClassVar[str] = "steps"
            low: float
            high: float = 10.0
            cap = property(lambda self: self.high)
            def delay(self, step): return self.low if step < 3 else self.high
            def describe(self): return "steps"

        policy = Policy(backoff=Steps(1.0))
        data = policy.to_dict()
        assert data["backoff"] == {"kind": "steps", "low": 1.0, "high": 10.0}, data
        assert Policy.from_dict(data) == policy
        try:
            Policy.from_dict({"backoff": {"kind": "nope"}})
        except ValueError as error:
            print(error)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip().endswith(", steps, table")


def test_from_dict_builds_exactly_the_parts_named() -> None:
    """The dict's kind picks the class; its keys are that class's own."""
    policy = Policy.from_dict({"backoff": {"kind": "exponential", "initial": 2, "cap": 8}})
    assert policy.backoff == Exponential(initial=2.0, factor=2.0, cap=8.0)
