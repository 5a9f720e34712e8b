"""ToolHive PR #5172's own table test (pkg/workloads/manager_test.go), as unit tests of presets.toolhive.

Each case feeds runs of given lengths to ``presets.toolhive(max_retries=3)`` the way ToolHive's
``RunWorkload`` loop would, and counts the runs until the loop ends, as the PR's cases do.
"""

from __future__ import annotations

import pytest

from relaunch import Action, Cause, Outcome, presets

SHORT, STABLE = 1.0, 45.0


def _runs_until_end(runs: list[tuple[float, Cause]]) -> tuple[int, str]:
    policy = presets.toolhive(max_retries=3)
    state = policy.start(at=0.0)
    started = 0.0
    for count, (duration, cause) in enumerate(runs, start=1):
        exit_code = 1 if cause is Cause.EXITED else None
        outcome = Outcome(started_at=started, ended_at=started + duration, exit_code=exit_code, cause=cause)
        decision = policy.decide(state, outcome)
        if not decision.restarts:
            return count, decision.action.value
        state, started = decision.state, outcome.ended_at + decision.delay
    raise AssertionError("the loop was still restarting when the runs ran out")


def _crash(duration: float) -> tuple[float, Cause]:
    return (duration, Cause.EXITED)


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        pytest.param(
            [_crash(SHORT)] * 10, (3, "give-up"), id="all runs short exhaust the budget after 3 runs"
        ),
        pytest.param(
            [_crash(STABLE)] + [_crash(SHORT)] * 10, (4, "give-up"), id="one stable run first gives 4 runs"
        ),
        pytest.param(
            [_crash(SHORT), _crash(STABLE)] + [_crash(SHORT)] * 10,
            (5, "give-up"),
            id="a stable run mid-sequence gives 5 runs",
        ),
        pytest.param(
            [_crash(30.0)] + [_crash(SHORT)] * 10,
            (4, "give-up"),
            id="a run of exactly the threshold is stable",
        ),
        pytest.param(
            [_crash(STABLE), (SHORT, Cause.STOPPED)],
            (2, "stop"),
            id="stable run then a clean stop ends after 2",
        ),
        pytest.param(
            [(0.0, Cause.START_FAILED)] * 3, (1, "give-up"), id="a start failure gives up after 1 run"
        ),
        pytest.param([(SHORT, Cause.STOPPED)], (1, "stop"), id="an immediate clean stop ends after 1 run"),
    ],
)
def test_pr5172_table(runs: list[tuple[float, Cause]], expected: tuple[int, str]) -> None:
    assert _runs_until_end(runs) == expected


def test_delays_double_from_5s_to_60s_and_reset_restarts_at_once() -> None:
    """The default ToolHive loop waits 5, 10, 20, 40, 60, 60 ... s, and 0 s after a stable run."""
    policy = presets.toolhive()
    state, started, delays = policy.start(at=0.0), 0.0, []
    for _ in range(7):
        decision = policy.decide(state, Outcome(started_at=started, ended_at=started + 1.0, exit_code=1))
        delays.append(decision.delay)
        state, started = decision.state, started + 1.0 + decision.delay
    assert delays == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0, 60.0]
    stable = policy.decide(state, Outcome(started_at=started, ended_at=started + 31.0, exit_code=1))
    assert (stable.action, stable.delay, stable.state.attempt) == (Action.RESET, 0.0, 0)
    after = policy.decide(
        stable.state, Outcome(started_at=started + 31.0, ended_at=started + 32.0, exit_code=1)
    )
    assert (after.action, after.delay, after.attempt) == (Action.RETRY, 5.0, 1)


def test_legacy_never_resets_so_daemon_flaps_exhaust_it() -> None:
    """Before PR #5172 ten healthy runs killed by daemon disruptions give up for good (stacklok/toolhive #5171)."""
    policy = presets.toolhive_legacy()
    state, started = policy.start(at=0.0), 0.0
    actions = []
    for _ in range(10):
        outcome = Outcome(started_at=started, ended_at=started + 120.0, cause=Cause.LOST)
        decision = policy.decide(state, outcome)
        actions.append(decision.action)
        state, started = decision.state, outcome.ended_at + decision.delay
    assert actions == [Action.RETRY] * 9 + [Action.GIVE_UP]


def test_reason_names_the_run_the_threshold_the_retry_and_the_delay() -> None:
    """The first short crash explains itself: run length, threshold, retry number and delay."""
    policy = presets.toolhive()
    decision = policy.decide(policy.start(at=0.0), Outcome(started_at=0.0, ended_at=3.0, exit_code=1))
    assert decision.reason == "ran 3.0s (< 30.0s stable threshold), exit 1; retry 1 of 9 in 5.0s"
