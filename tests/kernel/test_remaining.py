"""``Budget.remaining`` and ``Policy.remaining``: how many restarts a budget would still admit."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from relaunch import (
    Budget,
    Cause,
    CountBudget,
    FixedWindow,
    Outcome,
    Policy,
    SlidingWindow,
    StartFailed,
    StateError,
    TumblingWindow,
    Unlimited,
    UnstableRuns,
)
from relaunch import strategies as rst
from relaunch.kernel import BudgetState

#: More consecutive admissions than any drawn budget allows (``rst.budgets`` caps them at 12):
#: a budget that admits this many is taken to admit without end.
_BOUND = 40

_gaps = st.floats(min_value=0.0, max_value=100.0)


def _admitted_at(budget: Budget, used: BudgetState, at: float) -> float:
    """How many restarts ``admit`` accepts at ``at`` one after another, or inf past ``_BOUND``."""
    for admitted in range(_BOUND):
        next_used = budget.admit(used, at, at)
        if next_used is None:
            return admitted
        used = next_used
    return math.inf


@st.composite
def _used(draw: st.DrawFn, budget: Budget) -> tuple[BudgetState, float]:
    """A budget state reached through admitted, refused and reset restarts, and its latest time."""
    now = draw(st.floats(min_value=-1e4, max_value=1e4))
    used = budget.initial(now)
    for _ in range(draw(st.integers(min_value=0, max_value=20))):
        now += draw(_gaps)
        if draw(st.integers(min_value=0, max_value=5)) == 0:
            used = budget.reset(used, now)
            continue
        admitted = budget.admit(used, now, now + draw(_gaps))
        if admitted is not None:
            used = admitted
    return used, now


@given(st.data())
def test_remaining_counts_what_admit_accepts(data: st.DataObject) -> None:
    """remaining(used, at) equals the number of consecutive restarts admit() accepts at `at` (inf when it never refuses)."""
    budget = data.draw(rst.budgets(), label="budget")
    used, now = data.draw(_used(budget), label="used, latest time")
    at = now + data.draw(_gaps, label="gap to the reading")
    expected = _admitted_at(budget, used, at)
    note(f"admit accepted {expected} at {at}")
    assert budget.remaining(used, at) == expected


@given(st.data())
def test_remaining_never_grows_with_an_admitted_restart(data: st.DataObject) -> None:
    """A restart admitted at `at` leaves exactly one restart fewer at `at` (none fewer if unlimited)."""
    budget = data.draw(rst.budgets(), label="budget")
    used, now = data.draw(_used(budget), label="used, latest time")
    admitted = budget.admit(used, now, now)
    if admitted is None:
        assert budget.remaining(used, now) == 0
    else:
        assert budget.remaining(admitted, now) == budget.remaining(used, now) - 1


def test_unlimited_never_runs_out() -> None:
    """An unlimited budget has infinitely many restarts left."""
    assert Unlimited().remaining(0, 5.0) == math.inf


def test_count_budget_counts_down() -> None:
    """A count budget has its limit less what it used, and never less than none."""
    budget = CountBudget(3)
    assert [budget.remaining(used, 0.0) for used in range(5)] == [3, 2, 1, 0, 0]


def test_sliding_window_frees_a_restart_only_after_the_period() -> None:
    """A sliding window frees its oldest restart once it is more than the period old (inclusive, as OTP)."""
    budget = SlidingWindow(max_restarts=3, period=60.0)
    used = budget.initial(0.0)
    for at in (0.0, 10.0, 20.0):
        used = budget.admit(used, at, at)
    assert budget.remaining(used, 30.0) == 0
    assert budget.remaining(used, 60.0) == 0
    assert budget.remaining(used, 60.5) == 1
    assert budget.remaining(used, 81.0) == 3


def test_fixed_window_counts_the_first_start_and_opens_a_new_window() -> None:
    """A fixed window counting the first start has one restart fewer, and its whole limit once the window is over."""
    budget = FixedWindow(limit=5, interval=10.0)
    used = budget.initial(0.0)
    assert budget.remaining(used, 5.0) == 4
    assert budget.remaining(used, 10.0) == 4  # a window of exactly interval seconds is still open
    assert budget.remaining(used, 10.5) == 5


def test_tumbling_window_after_a_waited_restart_has_none_left() -> None:
    """A tumbling window whose count went above the limit by a waited restart has none left until it tumbles."""
    budget = TumblingWindow(limit=1, interval=10.0)
    used = budget.admit(budget.initial(0.0), 1.0, 2.0)
    used = budget.admit_waited(used, 3.0, 10.0)
    assert used == (0.0, 2)
    assert budget.remaining(used, 5.0) == 0
    assert budget.remaining(used, 10.5) == 1


def test_unstable_runs_counts_the_run_under_way_while_it_is_short() -> None:
    """PM2's count: the run under way is one of the unstable ones while it is shorter than min_uptime."""
    budget = UnstableRuns(limit=4, min_uptime=5.0, horizon=100.0)
    used = budget.initial(0.0)
    assert budget.remaining(used, 1.0) == 3  # this run would be the first unstable one
    assert budget.remaining(used, 5.0) == 4  # a run of exactly min_uptime is not short (strict)
    assert budget.remaining(used, 6.0) == 4
    assert budget.remaining(used, 100.0) == math.inf  # past the horizon nothing counts
    assert UnstableRuns(limit=4, min_uptime=0.0, horizon=100.0).remaining(used, 1.0) == math.inf


def _crash(at: float) -> Outcome:
    return Outcome(started_at=at, ended_at=at, exit_code=1)


def test_policy_remaining_reads_its_budget() -> None:
    """A policy has its budget's restarts left after each retry, and none once it gave up."""
    policy = Policy(budget=CountBudget(2))
    state = policy.start(at=0.0)
    left = [policy.remaining(state, 0.0)]
    for _ in range(3):
        state = policy.decide(state, _crash(state.last_at)).state
        left.append(policy.remaining(state, state.last_at))
    assert left == [2, 1, 0, 0]
    assert state.given_up


def test_policy_remaining_is_zero_once_given_up_with_budget_left() -> None:
    """A policy that gave up for another reason than its budget still has no restarts left."""
    policy = Policy(budget=CountBudget(5), start_failed=StartFailed.GIVE_UP)
    state = policy.start(at=0.0)
    failed = Outcome(cause=Cause.START_FAILED, started_at=0.0, ended_at=1.0)
    state = policy.decide(state, failed).state
    assert state.given_up
    assert policy.budget.remaining(state.budget, 1.0) == 5
    assert policy.remaining(state, 1.0) == 0


@given(st.data())
def test_policy_remaining_delegates(data: st.DataObject) -> None:
    """Policy.remaining equals its budget's remaining on the state's budget until the policy gives up, then 0."""
    policy = data.draw(rst.policies(), label="policy")
    state = policy.start(at=0.0)
    runs = data.draw(st.lists(rst.run_specs(), max_size=10), label="runs")
    for decision in rst.drive(policy, state, runs, at=0.0):
        state = decision.state
    at = state.last_at + data.draw(_gaps, label="gap")
    expected = 0 if state.given_up else policy.budget.remaining(state.budget, at)
    assert policy.remaining(state, at) == expected


@pytest.mark.parametrize("at", [math.nan, math.inf, "5", True, None])
def test_policy_remaining_refuses_a_bad_time(at: object) -> None:
    """A time that is not a finite number is refused, naming the argument and the value."""
    policy = Policy()
    with pytest.raises(StateError, match=r"remaining\.at: must be a finite number"):
        policy.remaining(policy.start(at=0.0), at)  # type: ignore[arg-type]


def test_policy_remaining_refuses_another_budgets_state() -> None:
    """A state made by a policy with another kind of budget is refused as foreign, not misread."""
    sliding = Policy(budget=SlidingWindow(3, 60.0))
    counted = Policy(budget=CountBudget(3))
    with pytest.raises(StateError, match=r"state\.budget: does not fit"):
        counted.remaining(sliding.start(at=0.0), 1.0)


def test_policy_remaining_refuses_what_is_not_a_state() -> None:
    """Anything but a State is refused with its type named."""
    with pytest.raises(StateError, match="state: must be a State, got dict"):
        Policy().remaining({}, 1.0)  # type: ignore[arg-type]
