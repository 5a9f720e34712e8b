"""The group rule (``relaunch.kernel.group``): OTP's strategies and a restart budget shared by members."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from relaunch import (
    TAKES_WITH,
    Action,
    CountBudget,
    Group,
    GroupDecision,
    GroupState,
    PolicyError,
    SlidingWindow,
    StateError,
    Strategy,
    Unlimited,
)
from relaunch import strategies as rst

MEMBERS = ("db", "api", "cache")


def _group(strategy: Strategy, budget: object = None) -> Group:
    return Group("web", strategy, MEMBERS, Unlimited() if budget is None else budget)  # type: ignore[arg-type]


# -- restarts, per strategy -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "member", "restarted"),
    [
        (Strategy.ONE_FOR_ONE, "api", ()),
        (Strategy.ONE_FOR_ALL, "api", ("db", "cache")),
        (Strategy.ONE_FOR_ALL, "db", ("api", "cache")),
        (Strategy.REST_FOR_ONE, "db", ("api", "cache")),
        (Strategy.REST_FOR_ONE, "api", ("cache",)),
        (Strategy.REST_FOR_ONE, "cache", ()),
    ],
)
@pytest.mark.parametrize("action", [Action.RETRY, Action.RESET])
def test_a_restart_takes_the_strategys_members_with_it(
    strategy: Strategy, member: str, restarted: tuple[str, ...], action: Action
) -> None:
    """A member's retry or reset restarts the other members its strategy names, in start order, and counts once."""
    group = _group(strategy, CountBudget(5))
    decision = group.decide(group.start(0.0), member, action, 1.0)
    assert decision.restart == restarted
    assert decision.give_up == ()
    assert decision.state.restarts == 1
    assert decision.state.budget == 1
    assert not decision.state.given_up


def test_the_reason_names_the_members_and_the_shared_budget() -> None:
    """A restart's reason says who ended, what the strategy restarts with it and where the budget stands."""
    group = _group(Strategy.ONE_FOR_ALL, SlidingWindow(3, 60.0))
    state = group.decide(group.start(0.0), "db", Action.RETRY, 1.0).state
    decision = group.decide(state, "api", Action.RETRY, 2.0)
    assert (
        decision.reason
        == "api ended: one_for_all restarts db, cache with it (group restart 2 (2 of 3 in 60s))"
    )
    one_for_one = _group(Strategy.ONE_FOR_ONE, CountBudget(3))
    alone = one_for_one.decide(one_for_one.start(0.0), "api", Action.RETRY, 1.0)
    assert alone.reason == "api ended: one_for_one restarts no other member (group restart 1 of 3)"


def test_a_refused_restart_gives_up_every_member() -> None:
    """When the shared budget refuses a restart, every member is given up, the member itself included, in reverse start order."""
    group = _group(Strategy.ONE_FOR_ONE, SlidingWindow(2, 60.0))
    state = group.start(0.0)
    for at in (1.0, 2.0):
        state = group.decide(state, "api", Action.RETRY, at).state
    decision = group.decide(state, "db", Action.RETRY, 3.0)
    assert decision.restart == ()
    assert decision.give_up == ("cache", "api", "db")
    assert decision.state.given_up
    assert decision.state.given_up_members == MEMBERS
    assert decision.state.restarts == 2
    assert "budget (at most 2 restarts in any 60s) is used up" in decision.reason


def test_a_refused_restart_lists_only_members_not_given_up_before() -> None:
    """A member that had given up already is not given up a second time."""
    group = _group(Strategy.ONE_FOR_ONE, CountBudget(0))
    state = group.decide(group.start(0.0), "cache", Action.GIVE_UP, 1.0).state
    decision = group.decide(state, "api", Action.RETRY, 2.0)
    assert decision.give_up == ("api", "db")


def test_the_window_is_inclusive_as_otps() -> None:
    """A restart exactly one period old still counts against the group (supervisor.erl add_restart keeps R >= Now - Period)."""
    group = _group(Strategy.ONE_FOR_ONE, SlidingWindow(2, 60.0))
    state = group.start(0.0)
    for at in (0.0, 30.0):
        state = group.decide(state, "api", Action.RETRY, at).state
    assert group.decide(state, "api", Action.RETRY, 60.0).state.given_up
    assert not group.decide(state, "api", Action.RETRY, 60.5).state.given_up


# -- give-ups, per strategy -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "member", "given_up", "down", "group_gave_up"),
    [
        (Strategy.ONE_FOR_ONE, "api", (), ("api",), False),
        (Strategy.ONE_FOR_ALL, "api", ("cache", "db"), MEMBERS, True),
        (Strategy.REST_FOR_ONE, "api", ("cache",), ("api", "cache"), False),
        (Strategy.REST_FOR_ONE, "db", ("cache", "api"), MEMBERS, True),
        (Strategy.REST_FOR_ONE, "cache", (), ("cache",), False),
    ],
)
def test_a_member_that_gives_up_takes_the_strategys_members_with_it(
    strategy: Strategy, member: str, given_up: tuple[str, ...], down: tuple[str, ...], group_gave_up: bool
) -> None:
    """A member whose own budget is spent gives up the members its strategy names, in reverse start order, spending nothing."""
    group = _group(strategy, CountBudget(5))
    decision = group.decide(group.start(0.0), member, Action.GIVE_UP, 1.0)
    assert decision.restart == ()
    assert decision.give_up == given_up
    assert decision.state.given_up_members == down
    assert decision.state.given_up is group_gave_up
    assert decision.state.restarts == 0
    assert decision.state.budget == 0


def test_rest_for_one_leaves_given_up_members_out_of_later_restarts() -> None:
    """Under rest_for_one, members that gave up with the one they depend on are not restarted when an earlier member restarts."""
    group = _group(Strategy.REST_FOR_ONE)
    state = group.decide(group.start(0.0), "api", Action.GIVE_UP, 1.0).state
    decision = group.decide(state, "db", Action.RETRY, 2.0)
    assert decision.restart == ()
    assert decision.state.given_up_members == ("api", "cache")


def test_a_member_restarted_by_its_own_decision_rejoins() -> None:
    """A member that gave up and then restarts by its own decision (an operator started it) is back in the group."""
    group = _group(Strategy.REST_FOR_ONE)
    state = group.decide(group.start(0.0), "api", Action.GIVE_UP, 1.0).state
    decision = group.decide(state, "api", Action.RETRY, 2.0)
    assert decision.state.given_up_members == ("cache",)
    assert decision.restart == ()  # cache is still given up
    assert group.decide(decision.state, "db", Action.RETRY, 3.0).restart == ("api",)


def test_one_for_one_gives_up_when_the_last_member_does() -> None:
    """Under one_for_one the group has given up once every member has, one by one."""
    group = _group(Strategy.ONE_FOR_ONE)
    state = group.start(0.0)
    for at, member in enumerate(MEMBERS, start=1):
        assert not state.given_up
        decision = group.decide(state, member, Action.GIVE_UP, float(at))
        assert decision.give_up == ()
        state = decision.state
    assert state.given_up
    assert decision.reason == "cache gave up: one_for_one gives up no other member; group web has given up"


@pytest.mark.parametrize("strategy", list(Strategy))
def test_a_stop_changes_nothing_for_the_group(strategy: Strategy) -> None:
    """A clean end or an operator's stop restarts and gives up nothing, and spends nothing."""
    group = _group(strategy, CountBudget(1))
    start = group.start(0.0)
    decision = group.decide(start, "db", Action.STOP, 4.0)
    assert (decision.restart, decision.give_up) == ((), ())
    assert decision.state == GroupState(start.budget, 0, (), False, 4.0)
    assert decision.reason == "db stopped: nothing for the group to do"


def test_a_given_up_group_decides_nothing_until_started() -> None:
    """A given-up group returns empty decisions with the same state, and Group.start gives it a fresh one."""
    group = _group(Strategy.ONE_FOR_ALL, CountBudget(1))
    state = group.decide(group.start(0.0), "db", Action.GIVE_UP, 1.0).state
    for action in Action:
        decision = group.decide(state, "api", action, 2.0)
        assert decision == GroupDecision((), (), state, decision.reason)
        assert "group web has given up" in decision.reason
    fresh = group.start(3.0)
    assert fresh == GroupState(0, 0, (), False, 3.0)
    assert group.decide(fresh, "api", Action.RETRY, 4.0).restart == ("db", "cache")


# -- remaining ---------------------------------------------------------------------------------------


def test_group_remaining_counts_down_and_is_zero_once_given_up() -> None:
    """A group has its shared budget's restarts left after each restart, and none once it has given up."""
    group = _group(Strategy.ONE_FOR_ONE, CountBudget(2))
    state = group.start(0.0)
    left = [group.remaining(state, 0.0)]
    for at, member in ((1.0, "db"), (2.0, "api"), (3.0, "cache")):
        state = group.decide(state, member, Action.RETRY, at).state
        left.append(group.remaining(state, at))
    assert left == [2, 1, 0, 0]
    assert _group(Strategy.ONE_FOR_ONE).remaining(group.start(0.0), 0.0) == math.inf


# -- bad input ----------------------------------------------------------------------------------------


def test_an_unknown_member_is_refused_naming_it_and_the_group() -> None:
    """A decision about a name that is not a member names the name, the group and its members."""
    group = _group(Strategy.ONE_FOR_ONE)
    with pytest.raises(
        StateError, match=r"decide\.member: 'web2' is not a member of group web \(members: db, api, cache\)"
    ):
        group.decide(group.start(0.0), "web2", Action.RETRY, 1.0)


@pytest.mark.parametrize(
    ("member", "action", "at", "message"),
    [
        ("api", "retry", 1.0, r"decide\.action: must be an Action, got 'retry'"),
        ("api", Action.RETRY, math.nan, r"decide\.at: must be a finite number, got nan"),
        ("api", Action.RETRY, True, r"decide\.at: must be a finite number, got True"),
        ("api", Action.RETRY, -1.0, r"decide\.at: -1\.0 is before the group state's last recorded time 0\.0"),
        (3, Action.RETRY, 1.0, r"decide\.member: 3 is not a member"),
    ],
)
def test_bad_decide_input_is_refused(member: object, action: object, at: object, message: str) -> None:
    """A malformed member, action or time is refused with the argument and the value named."""
    group = _group(Strategy.ONE_FOR_ALL)
    with pytest.raises(StateError, match=message):
        group.decide(group.start(0.0), member, action, at)  # type: ignore[arg-type]


def test_another_groups_state_is_refused() -> None:
    """A state naming members the group does not have, or made by another budget, is refused as foreign."""
    group = _group(Strategy.ONE_FOR_ONE, SlidingWindow(3, 60.0))
    other = Group("jobs", Strategy.ONE_FOR_ONE, ("worker",), CountBudget(3))
    state = other.decide(other.start(0.0), "worker", Action.GIVE_UP, 1.0).state
    with pytest.raises(StateError, match=r"state\.given_up_members: worker not members of group web"):
        group.decide(state, "db", Action.RETRY, 2.0)
    with pytest.raises(StateError, match=r"state\.budget: does not fit group web's budget"):
        group.decide(other.start(0.0), "db", Action.RETRY, 2.0)
    with pytest.raises(StateError, match=r"state: must be a GroupState, got dict"):
        group.decide({}, "db", Action.RETRY, 2.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"members": ()}, r"Group\.members: must name at least one member, got \(\)"),
        ({"members": ("db", "api", "db")}, r"Group\.members: 'db' is listed twice"),
        ({"members": ("db", "")}, r"Group\.members: each must be a non-empty string, got ''"),
        ({"members": ("db", 7)}, r"Group\.members: each must be a non-empty string, got 7"),
        ({"members": "db"}, r"Group\.members: must be a tuple of names in start order, got 'db'"),
        ({"name": ""}, r"Group\.name: must be a non-empty string, got ''"),
        ({"strategy": "one_for_one"}, r"Group\.strategy: must be a Strategy, got 'one_for_one'"),
        ({"budget": 3}, r"Group\.budget: must be a Budget, got 3"),
    ],
)
def test_a_bad_group_is_refused_at_construction(arguments: dict[str, object], message: str) -> None:
    """A group with a bad name, strategy, member list or budget is refused, naming the field and the value."""
    values: dict[str, object] = {"name": "web", "strategy": Strategy.ONE_FOR_ONE, "members": MEMBERS}
    with pytest.raises(PolicyError, match=message):
        Group(**{**values, **arguments})  # type: ignore[arg-type]


def test_members_may_be_given_as_a_list() -> None:
    """A list of members becomes the tuple the group keeps, so a group stays hashable."""
    group = Group("web", Strategy.ONE_FOR_ONE, ["db", "api"])  # type: ignore[arg-type]
    assert group.members == ("db", "api")
    assert hash(group) == hash(Group("web", Strategy.ONE_FOR_ONE, ("db", "api")))


def test_describe_says_the_strategy_members_and_budget() -> None:
    """describe() names the strategy, the members in start order and the shared budget."""
    group = _group(Strategy.REST_FOR_ONE, SlidingWindow(3, 60.0))
    assert (
        group.describe()
        == "group web: rest_for_one over db, api, cache; at most 3 restarts in any 60s, shared"
    )


def test_from_dict_names_the_bad_key() -> None:
    """A group dict with a bad value is refused with its key path."""
    data = _group(Strategy.ONE_FOR_ALL).to_dict()
    with pytest.raises(PolicyError, match=r"group\.strategy: unknown 'all_for_one'"):
        Group.from_dict({**data, "strategy": "all_for_one"})
    with pytest.raises(PolicyError, match=r"group\.members: 'db' is listed twice"):
        Group.from_dict({**data, "members": ["db", "db"]})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema": 2}, r"group_state\.schema: must be 1, got 2"),
        ({"restarts": -1}, r"group_state\.restarts: must be a non-negative integer, got -1"),
        ({"given_up_members": "db"}, r"group_state\.given_up_members: must be a list of names, got 'db'"),
        ({"given_up": 0}, r"group_state\.given_up: must be true or false, got 0"),
        ({"last_at": "now"}, r"group_state\.last_at: must be a finite number, got 'now'"),
        ({"budget": [1, "x"]}, r"group_state\.budget\[1\]: must be a finite number"),
        ({"extra": 1}, r"group_state\.extra: unknown key"),
    ],
)
def test_group_state_from_dict_names_the_bad_key(change: dict[str, object], message: str) -> None:
    """A persisted group state with a bad or unknown key is refused, naming the key and the value."""
    data = _group(Strategy.ONE_FOR_ONE, SlidingWindow(3, 60.0)).start(0.0).to_dict()
    with pytest.raises(StateError, match=message):
        GroupState.from_dict({**data, **change})
    missing = dict(data)
    del missing["restarts"]
    with pytest.raises(StateError, match=r"group_state\.restarts: missing"):
        GroupState.from_dict(missing)


# -- properties -------------------------------------------------------------------------------------

_events = st.lists(
    st.tuples(st.integers(min_value=0), st.sampled_from(Action), st.floats(min_value=0.0, max_value=30.0)),
    max_size=30,
)


def _drive(
    group: Group, state: GroupState, events: list[tuple[int, Action, float]]
) -> Iterator[tuple[GroupState, str, Action, float, GroupDecision]]:
    """Each event's input state, member, action, time and decision, in order."""
    at = state.last_at
    for index, action, gap in events:
        at += gap
        member = group.members[index % len(group.members)]
        decision = group.decide(state, member, action, at)
        yield state, member, action, at, decision
        state = decision.state


@given(
    rst.groups(budget=st.builds(SlidingWindow, st.integers(0, 5), st.floats(0.5, 60.0))),
    st.floats(min_value=-1e4, max_value=1e4),
    _events,
)
def test_the_shared_budget_bounds_restarts_in_any_window(
    group: Group, start: float, events: list[tuple[int, Action, float]]
) -> None:
    """Within any window of the shared budget's length, a group admits no more restarts than the budget's limit, whatever members crash and when."""
    assert isinstance(group.budget, SlidingWindow)
    admitted = [
        at
        for before, _, _, at, decision in _drive(group, group.start(start), events)
        if decision.state.restarts > before.restarts
    ]
    note(f"restarts admitted at {admitted}")
    for first in admitted:
        # Measured as the budget measures age (at - first), which float rounding can tell from first + period.
        in_window = [at for at in admitted if 0 <= at - first <= group.budget.period]
        assert len(in_window) <= group.budget.max_restarts


@given(rst.groups(), _events)
def test_each_strategy_restarts_exactly_its_members(
    group: Group, events: list[tuple[int, Action, float]]
) -> None:
    """one_for_all restarts exactly the other members that have not given up, rest_for_one exactly those after the member, one_for_one none."""
    takes = {
        Strategy.ONE_FOR_ONE: lambda member, other: False,
        Strategy.ONE_FOR_ALL: lambda member, other: other != member,
        Strategy.REST_FOR_ONE: lambda member, other: group.members.index(other) > group.members.index(member),
    }[group.strategy]
    for before, member, _, _, decision in _drive(group, group.start(0.0), events):
        if decision.state.restarts > before.restarts:
            expected = tuple(
                m for m in group.members if takes(member, m) and m not in before.given_up_members
            )
            assert decision.restart == expected
        else:
            assert decision.restart == ()


@given(rst.groups(), _events)
def test_give_ups_are_kept_in_the_state(group: Group, events: list[tuple[int, Action, float]]) -> None:
    """Each give_up lists, in reverse start order, only members that had not given up, and the state then holds them as given up."""
    for before, member, action, _, decision in _drive(group, group.start(0.0), events):
        order = [group.members.index(m) for m in decision.give_up]
        assert order == sorted(order, reverse=True)
        assert not set(decision.give_up) & set(before.given_up_members)
        assert set(decision.give_up) <= set(decision.state.given_up_members)
        if action is Action.GIVE_UP and not before.given_up:
            assert member in decision.state.given_up_members
        assert decision.state.given_up == (decision.state.given_up_members == group.members)


@given(rst.groups(), _events, _events)
def test_a_given_up_group_restarts_nothing_until_started(
    group: Group, events: list[tuple[int, Action, float]], later: list[tuple[int, Action, float]]
) -> None:
    """Once a group has given up, no decision restarts anything until it is started again."""
    state = group.start(0.0)
    for _, _, _, _, decision in _drive(group, state, events):
        state = decision.state
    if not state.given_up:
        state = group.decide(state, group.members[0], Action.GIVE_UP, state.last_at).state
        if group.strategy is not Strategy.ONE_FOR_ALL:
            for member in group.members:
                state = group.decide(state, member, Action.GIVE_UP, state.last_at).state
    assert state.given_up
    for before, _, _, _, decision in _drive(group, state, later):
        assert (decision.restart, decision.give_up, decision.state) == ((), (), before)
    again = state.last_at + 1.0
    assert group.start(again) == GroupState(group.budget.initial(again), 0, (), False, again)


@given(rst.groups(), _events, st.sampled_from(Action), st.integers(min_value=0))
def test_decide_is_pure(
    group: Group, events: list[tuple[int, Action, float]], action: Action, index: int
) -> None:
    """decide is pure: the same inputs give equal decisions and the inputs are unchanged."""
    state = group.start(0.0)
    for _, _, _, _, decision in _drive(group, state, events):
        state = decision.state
    member = group.members[index % len(group.members)]
    kept_state, kept_group = copy.deepcopy(state), copy.deepcopy(group)
    first = group.decide(state, member, action, state.last_at + 1.0)
    second = group.decide(state, member, action, state.last_at + 1.0)
    assert first == second
    assert state == kept_state
    assert group == kept_group


@given(rst.groups(), _events)
def test_groups_and_states_survive_json(group: Group, events: list[tuple[int, Action, float]]) -> None:
    """A group and every state it reaches come back equal from to_dict, JSON and from_dict."""
    assert Group.from_dict(json.loads(json.dumps(group.to_dict()))) == group
    for _, _, _, _, decision in _drive(group, group.start(0.0), events):
        assert GroupState.from_dict(json.loads(json.dumps(decision.state.to_dict()))) == decision.state


@given(rst.groups(), _events, st.floats(min_value=0.0, max_value=100.0))
def test_group_remaining_delegates(group: Group, events: list[tuple[int, Action, float]], gap: float) -> None:
    """Group.remaining equals the shared budget's remaining on the state's budget until the group gives up, then 0."""
    state = group.start(0.0)
    for _, _, _, _, decision in _drive(group, state, events):
        state = decision.state
    at = state.last_at + gap
    expected = 0 if state.given_up else group.budget.remaining(state.budget, at)
    assert group.remaining(state, at) == expected


def test_every_strategy_has_a_row() -> None:
    """The strategy table covers every strategy (the module also checks this when imported)."""
    assert set(TAKES_WITH) == set(Strategy)
