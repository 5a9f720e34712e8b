"""The mode table and the per-cause table: what each mode restarts, and how each cause is treated."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaunch import (
    CAUSES,
    RESTARTS,
    Action,
    Cause,
    CountBudget,
    ExitClass,
    Mode,
    Outcome,
    Policy,
    Rule,
    Stability,
)
from relaunch import strategies as rst
from relaunch.runs import Run, drive


def test_every_cause_and_every_mode_has_a_row() -> None:
    """The tables cover the vocabulary (the module also checks this when it is imported)."""
    assert set(CAUSES) == set(Cause)
    assert set(RESTARTS) == set(Mode)


@pytest.mark.parametrize(
    ("mode", "restarted"),
    [
        (Mode.ALWAYS, True),
        (Mode.ON_FAILURE, True),
        (Mode.ON_ABNORMAL, True),
        (Mode.ON_WATCHDOG, True),
        (Mode.ON_SUCCESS, False),
        (Mode.ON_ABORT, False),
        (Mode.NEVER, False),
    ],
)
def test_a_health_kill_is_a_failure_in_the_mode_table(mode: Mode, restarted: bool) -> None:
    """UNHEALTHY is restarted by always, on-failure, on-abnormal and on-watchdog only."""
    policy = Policy(mode=mode)
    decision = policy.decide(policy.start(0.0), Outcome(0.0, 5.0, exit_code=137, cause=Cause.UNHEALTHY))
    assert decision.restarts is restarted
    assert decision.rule is (Rule.UNHEALTHY if restarted else Rule.MODE)


def test_on_watchdog_restarts_nothing_but_a_health_kill() -> None:
    """Restart=on-watchdog leaves every exit, signal and OOM kill down."""
    policy = Policy(mode=Mode.ON_WATCHDOG)
    assert RESTARTS[Mode.ON_WATCHDOG] == {ExitClass.UNHEALTHY}
    for outcome in (
        Outcome(0.0, 1.0, exit_code=1),
        Outcome(0.0, 1.0, signal=6),
        Outcome(0.0, 1.0, exit_code=0),
        Outcome(0.0, 1.0, exit_code=137, cause=Cause.OOM),
    ):
        assert policy.decide(policy.start(0.0), outcome).action is Action.STOP


@given(rst.policies(), st.floats(min_value=0.0, max_value=1e7), st.none() | st.sampled_from([137, 143]))
def test_a_health_kill_is_never_a_stable_run(policy: Policy, duration: float, code: int | None) -> None:
    """However long an UNHEALTHY run lasted, its decision is never a stable reset."""
    decision = policy.decide(policy.start(0.0), Outcome(0.0, duration, exit_code=code, cause=Cause.UNHEALTHY))
    assert decision.rule is not Rule.STABLE_RESET
    assert decision.action is not Action.RESET
    assert not policy.is_stable(decision.outcome)


@given(st.integers(min_value=0, max_value=6), st.floats(min_value=0.0, max_value=1e5))
def test_health_kills_spend_the_budget(budget: int, duration: float) -> None:
    """A loop of health kills, however long each run, gives up at exactly kill budget + 1."""
    policy = Policy(budget=CountBudget(budget), stability=Stability(after=60.0))
    runs = [Run(duration, exit_code=137, cause=Cause.UNHEALTHY)] * (budget + 3)
    actions = [d.action for d in drive(policy, policy.start(0.0), runs)]
    assert actions == [Action.RETRY] * budget + [Action.GIVE_UP]


def test_a_stable_exit_still_resets_where_a_health_kill_does_not() -> None:
    """The same hour-long run resets the budget when it exits, and spends it when it is killed as unhealthy."""
    policy = Policy(budget=CountBudget(1), stability=Stability(after=60.0))
    exited = policy.decide(policy.start(0.0), Outcome(0.0, 3600.0, exit_code=1))
    killed = policy.decide(policy.start(0.0), Outcome(0.0, 3600.0, exit_code=137, cause=Cause.UNHEALTHY))
    assert (exited.action, exited.rule) == (Action.RESET, Rule.STABLE_RESET)
    assert (killed.action, killed.rule) == (Action.RETRY, Rule.UNHEALTHY)
    assert "never stable" in killed.reason


def test_exit_rules_screen_a_health_kill_as_they_screen_an_exit() -> None:
    """RestartPreventExitStatus stops a health kill by its exit status, as systemd checks the main process's status first."""
    from relaunch import ExitRules

    policy = Policy(exits=ExitRules(prevent_signals=frozenset({6})))
    decision = policy.decide(policy.start(0.0), Outcome(0.0, 9.0, signal=6, cause=Cause.UNHEALTHY))
    assert (decision.action, decision.rule) == (Action.STOP, Rule.PREVENTED)
