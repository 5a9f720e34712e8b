"""Kernel parts that model particular systems: Compounded (backoff.py), TumblingWindow and
UnstableRuns (budget.py), Lost and Policy.restart_unstable (policy.py). Each is a frozen attrs value with a ``kind``, validated at construction
with a PolicyError naming ``Class.field`` and the value."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from relaunch import (
    Action,
    Cause,
    CountBudget,
    Exhausted,
    Mode,
    Outcome,
    Policy,
    PolicyError,
    Rule,
    Stability,
    State,
)
from relaunch.kernel import Compounded, Constant, Lost, Reset, TumblingWindow, UnstableRuns


@pytest.mark.parametrize(
    ("part", "kind"),
    [
        (Compounded(0.1), "compounded"),
        (TumblingWindow(2, 30.0), "tumbling-window"),
        (UnstableRuns(16, 1.0, 16.0), "unstable-runs"),
    ],
)
def test_new_parts_are_frozen_attrs_values_with_a_kind(part: Any, kind: str) -> None:
    """Each new part is a frozen attrs class with plain-value init fields and a ``kind``."""
    assert attrs.has(type(part))
    assert type(part).kind == kind
    field = next(f for f in attrs.fields(type(part)) if f.init)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(part, field.name, 1)
    rebuilt = type(part)(**{f.name: getattr(part, f.name) for f in attrs.fields(type(part)) if f.init})
    assert rebuilt == part
    assert hash(rebuilt) == hash(part)


# --- Compounded ----------------------------------------------------------------------------------


def test_compounded_rounds_each_step_down_to_the_grid() -> None:
    """Each delay is floor(previous * factor) on the grid, capped at the ceiling (PM2's curve)."""
    backoff = Compounded(0.1)
    expected = [0.1, 0.15, 0.225, 0.337, 0.505, 0.757, 1.135, 1.702, 2.553, 3.829, 5.743, 8.614, 12.921, 15.0]
    assert [backoff.delay(step) for step in range(1, 15)] == expected
    assert backoff.delay(10**12) == 15.0
    assert backoff.cap == 15.0


def test_compounded_ceiling_bounds_growth_not_the_first_delay() -> None:
    """A base above the ceiling is used once, then the ceiling (PM2 starts at its base)."""
    backoff = Compounded(20.0)
    assert [backoff.delay(step) for step in (1, 2, 3)] == [20.0, 15.0, 15.0]
    assert backoff.cap == 20.0
    assert Compounded(0.0).delay(5) == 0.0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"initial": -1.0}, r"Compounded\.initial.*-1"),
        ({"initial": 1.0, "factor": 0.5}, r"Compounded\.factor.*0\.5"),
        ({"initial": 1.0, "grid": 0.0}, r"Compounded\.grid.*0"),
        ({"initial": 1.0, "ceiling": float("nan")}, r"Compounded\.ceiling.*nan"),
        # Too fine a grid for exact whole units (cli's generic fuzzer found the overflow).
        ({"initial": 1.0, "grid": 5e-324}, r"Compounded\.grid.*5e-324"),
        ({"initial": 0.0, "ceiling": 1e300, "grid": 1e-300}, r"Compounded\.grid"),
        # A factor barely above 1 climbs one grid unit per step: refused rather than tabled.
        ({"initial": 10_000.0, "factor": 1.0000001, "ceiling": 100_000.0}, r"Compounded\.factor"),
    ],
)
def test_compounded_rejects_bad_values(params: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        Compounded(**params)


# --- TumblingWindow ------------------------------------------------------------------------------


def test_tumbling_window_counts_failures_and_reopens_at_a_late_failure() -> None:
    """Failures count at failure time; one more than ``interval`` after the window opened reopens it."""
    window = TumblingWindow(limit=2, interval=10.0)
    used = window.initial(0.0)
    used = window.admit(used, 1.0, 100.0)  # the restart time does not matter, the failure's does
    assert used == (0.0, 1)
    used = window.admit(used, 2.0, 2.0)
    assert window.admit(used, 10.0, 10.0) is None  # exactly at the end: still this window
    assert window.admit(used, 10.5, 10.5) == (10.5, 1)


def test_tumbling_window_waits_until_the_window_ends() -> None:
    """Exhausted.WAIT restarts at the window's end, without counting the failure again."""
    policy = Policy(
        mode=Mode.ALWAYS,
        backoff=Constant(1.0),
        budget=TumblingWindow(limit=1, interval=10.0),
        on_exhausted=Exhausted.WAIT,
    )
    state = policy.start(at=0.0)
    first = policy.decide(state, Outcome(0.0, 1.0, exit_code=1))
    waited = policy.decide(first.state, Outcome(2.0, 3.0, exit_code=1))
    assert (waited.rule, waited.delay) == (Rule.BUDGET_WAIT, 7.0)
    assert waited.state.budget == (0.0, 2)
    after = policy.decide(waited.state, Outcome(10.0, 11.0, exit_code=1))
    assert (after.rule, after.state.budget) == (Rule.BACKOFF, (11.0, 1))


def test_tumbling_window_with_no_attempts_never_waits() -> None:
    """limit=0 refuses every failure, and earliest() says no wait can help."""
    assert TumblingWindow(0, 10.0).earliest((0.0, 0), 1.0, 1.0) == float("inf")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": -1, "interval": 1.0}, r"TumblingWindow\.limit.*-1"),
        ({"limit": 1, "interval": 0}, r"TumblingWindow\.interval.*0"),
    ],
)
def test_tumbling_window_rejects_bad_values(params: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        TumblingWindow(**params)


# --- UnstableRuns --------------------------------------------------------------------------------


def test_unstable_runs_counts_short_runs_within_the_horizon() -> None:
    """A run shorter than min_uptime ending before the horizon counts; the limit-th count refuses."""
    budget = UnstableRuns(limit=2, min_uptime=1.0, horizon=10.0)
    used = budget.initial(0.0)
    used = budget.admit(used, 0.5, 0.5)  # short: counted, the next run starts at 0.5
    assert used == (0.0, 1, 0.5)
    used = budget.admit(used, 1.5, 1.5)  # ran exactly min_uptime: not unstable
    assert used == (0.0, 1, 1.5)
    assert budget.admit(used, 2.0, 2.0) is None  # short again: the 2nd unstable run
    late = (0.0, 1, 10.0)
    assert budget.admit(late, 10.5, 10.5) == (0.0, 1, 10.5)  # past the horizon: not counted
    assert UnstableRuns(0, 1.0, 0.0).admit((0.0, 0, 0.0), 5.0, 5.0) is None


def test_unstable_runs_needs_to_see_every_restart() -> None:
    """A policy whose LOST restarts bypass the budget would mis-time runs, so it is refused."""
    with pytest.raises(PolicyError, match=r"Policy\.lost"):
        Policy(budget=UnstableRuns(3, 1.0, 3.0))
    Policy(budget=UnstableRuns(3, 1.0, 3.0), count_lost=True)
    Policy(budget=UnstableRuns(3, 1.0, 3.0), lost=Lost.FRESH)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": -1, "min_uptime": 1.0, "horizon": 1.0}, r"UnstableRuns\.limit.*-1"),
        ({"limit": 1, "min_uptime": -1.0, "horizon": 1.0}, r"UnstableRuns\.min_uptime.*-1"),
        ({"limit": 1, "min_uptime": 1.0, "horizon": float("inf")}, r"UnstableRuns\.horizon.*inf"),
    ],
)
def test_unstable_runs_rejects_bad_values(params: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        UnstableRuns(**params)


# --- Lost ----------------------------------------------------------------------------------------


def test_lost_fresh_restarts_at_once_with_a_fresh_state() -> None:
    """Lost.FRESH: delay 0, attempt 0, step 0, and the budget as Policy.start at the run's end."""
    policy = Policy(budget=CountBudget(1), lost=Lost.FRESH)
    state = policy.start(at=0.0, seed=7)
    crashed = policy.decide(state, Outcome(0.0, 1.0, exit_code=1))
    fresh = policy.decide(crashed.state, Outcome(2.0, 3.0, cause=Cause.LOST))
    assert (fresh.action, fresh.delay, fresh.attempt, fresh.rule) == (Action.RESET, 0.0, 0, Rule.LOST)
    assert fresh.state == State.from_dict({**policy.start(at=3.0, seed=7).to_dict(), "restarts": 2})
    assert "fresh" in fresh.reason


def test_lost_stable_restarts_as_after_a_stable_run() -> None:
    """Lost.STABLE: the decision a stable run would get, under the LOST rule."""
    policy = Policy(
        stability=Stability(after=100.0, resets=Reset.DELAY, restart_delay=None), lost=Lost.STABLE
    )
    state = policy.decide(policy.start(at=0.0), Outcome(0.0, 1.0, exit_code=1)).state
    as_lost = policy.decide(state, Outcome(2.0, 3.0, cause=Cause.LOST))
    as_stable = policy.decide(state, Outcome(2.0, 300.0, exit_code=1))
    assert (as_lost.action, as_lost.rule, as_lost.delay) == (Action.RESET, Rule.LOST, as_stable.delay)
    assert as_lost.state.step == as_stable.state.step == 1
    assert "stable" in as_lost.reason


def test_lost_options_are_validated() -> None:
    with pytest.raises(PolicyError, match=r"Policy\.count_lost"):
        Policy(lost=Lost.FRESH, count_lost=True)
    with pytest.raises(PolicyError, match=r"Policy\.lost.*stability"):
        Policy(lost=Lost.STABLE)
    with pytest.raises(PolicyError, match=r"Policy\.lost.*'fresh'"):
        Policy(lost="fresh")  # type: ignore[arg-type]


# --- restart_unstable ----------------------------------------------------------------------------


def test_restart_unstable_forces_short_runs_and_leaves_stable_ones_to_the_mode() -> None:
    """A run below the stability threshold restarts whatever its exit; a prevented exit still stops."""
    policy = Policy(
        mode=Mode.NEVER,
        stability=Stability(after=1.0),
        restart_unstable=True,
        exits=attrs.evolve(Policy().exits, prevent_codes=frozenset({7})),
    )
    state = policy.start(at=0.0)
    assert policy.decide(state, Outcome(0.0, 0.5, exit_code=0)).rule is Rule.FORCED
    assert policy.decide(state, Outcome(0.0, 0.5, signal=9)).rule is Rule.FORCED
    assert policy.decide(state, Outcome(0.0, 1.0, exit_code=0)).rule is Rule.SUCCESS
    assert policy.decide(state, Outcome(0.0, 0.5, exit_code=7)).rule is Rule.PREVENTED
    assert "not stable" in policy.describe()


def test_restart_unstable_needs_a_stability_threshold() -> None:
    with pytest.raises(PolicyError, match=r"Policy\.restart_unstable"):
        Policy(restart_unstable=True)
    with pytest.raises(PolicyError, match=r"Policy\.restart_unstable.*1"):
        Policy(restart_unstable=1, stability=Stability(after=1.0))  # type: ignore[arg-type]
