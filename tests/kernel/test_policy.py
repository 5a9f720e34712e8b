"""Policy.decide on hand-picked cases: the mode table, exit rules, causes, and bad input."""

from __future__ import annotations

import itertools
import json
import math
import signal

import pytest

from relaunch import (
    Action,
    Cause,
    Constant,
    CountBudget,
    Exhausted,
    ExitRules,
    Mode,
    Outcome,
    OutcomeError,
    Policy,
    PolicyError,
    Reset,
    Rule,
    SlidingWindow,
    Stability,
    StartFailed,
    State,
    StateError,
    presets,
)

SIGKILL, SIGTERM, SIGSEGV = int(signal.SIGKILL), int(signal.SIGTERM), int(signal.SIGSEGV)


def _decide(policy: Policy, **outcome: object) -> tuple[Action, Rule]:
    outcome.setdefault("started_at", 0.0)
    outcome.setdefault("ended_at", 1.0)
    decision = policy.decide(policy.start(at=0.0), Outcome(**outcome))  # type: ignore[arg-type]
    return decision.action, decision.rule


RETRY = (Action.RETRY, Rule.BACKOFF)


@pytest.mark.parametrize(
    ("mode", "clean", "code", "sig", "oom"),
    # Mode x exit class, after systemd's service_shall_restart (src/core/service.c).
    [
        (Mode.ALWAYS, True, True, True, True),
        (Mode.ON_FAILURE, False, True, True, True),
        (Mode.ON_SUCCESS, True, False, False, False),
        (Mode.ON_ABNORMAL, False, False, True, True),
        (Mode.ON_ABORT, False, False, True, False),
        (Mode.NEVER, False, False, False, False),
    ],
)
def test_mode_table(mode: Mode, clean: bool, code: bool, sig: bool, oom: bool) -> None:
    """Each restart mode restarts exactly the exit classes systemd's Restart= value does."""
    policy = Policy(mode=mode, backoff=Constant(1.0))
    assert (_decide(policy, exit_code=0)[0] is Action.RETRY) is clean
    assert (_decide(policy, exit_code=3)[0] is Action.RETRY) is code
    assert (_decide(policy, signal=SIGSEGV)[0] is Action.RETRY) is sig
    assert (_decide(policy, cause=Cause.OOM, exit_code=137)[0] is Action.RETRY) is oom
    assert _decide(policy, exit_code=0)[1] in {Rule.BACKOFF, Rule.SUCCESS}


def test_prevent_wins_over_force_and_force_over_mode() -> None:
    """Prevent lists stop even listed force codes; force lists restart even under Mode.NEVER."""
    exits = ExitRules(prevent_codes={3}, force_codes={3, 4}, force_signals={SIGTERM})
    never = Policy(mode=Mode.NEVER, backoff=Constant(1.0), exits=exits)
    assert _decide(never, exit_code=3) == (Action.STOP, Rule.PREVENTED)
    assert _decide(never, exit_code=4) == (Action.RETRY, Rule.FORCED)
    assert _decide(never, signal=SIGTERM) == (Action.RETRY, Rule.FORCED)
    assert _decide(never, exit_code=5) == (Action.STOP, Rule.MODE)


def test_success_codes_and_signals_are_clean() -> None:
    """Listed codes and signals count as clean exits, which on-failure does not restart."""
    policy = Policy(
        mode=Mode.ON_FAILURE,
        backoff=Constant(1.0),
        exits=ExitRules(success_codes={0, 2}, success_signals={SIGTERM}),
    )
    assert _decide(policy, exit_code=2) == (Action.STOP, Rule.SUCCESS)
    assert _decide(policy, signal=SIGTERM) == (Action.STOP, Rule.SUCCESS)
    assert _decide(policy, signal=SIGKILL) == RETRY


def test_operator_stop_is_never_restarted() -> None:
    """STOPPED ends supervision under every mode, even with exit codes the policy would force."""
    for mode in Mode:
        policy = Policy(mode=mode, backoff=Constant(1.0), exits=ExitRules(force_codes={1}))
        assert _decide(policy, cause=Cause.STOPPED, exit_code=1) == (Action.STOP, Rule.OPERATOR_STOP)


def test_lost_is_restarted_without_spending_the_budget() -> None:
    """A cause-aware policy restarts LOST runs in every mode but never, and keeps its budget."""
    policy = Policy(mode=Mode.ON_FAILURE, backoff=Constant(1.0), budget=CountBudget(1))
    state, started = policy.start(at=0.0), 0.0
    for _ in range(20):
        decision = policy.decide(state, Outcome(started_at=started, ended_at=started + 1.0, cause=Cause.LOST))
        assert (decision.action, decision.rule) == (Action.RETRY, Rule.LOST)
        state, started = decision.state, started + 1.0 + decision.delay
    assert state.budget == 0
    assert _decide(Policy(mode=Mode.NEVER, backoff=Constant(1.0)), cause=Cause.LOST) == (
        Action.STOP,
        Rule.MODE,
    )


def test_lost_is_restarted_under_never_only_when_the_policy_says_so() -> None:
    """restart_lost_under_never restarts a LOST run under NEVER as its Lost says, and nothing else."""
    policy = Policy(mode=Mode.NEVER, backoff=Constant(1.0), restart_lost_under_never=True)
    assert _decide(policy, cause=Cause.LOST) == (Action.RETRY, Rule.LOST)
    assert _decide(policy, cause=Cause.EXITED, exit_code=1) == (Action.STOP, Rule.MODE)
    assert "a lost run is restarted although the mode is never" in policy.describe()
    never = Policy(mode=Mode.NEVER, backoff=Constant(1.0))
    assert _decide(never, cause=Cause.LOST) == (Action.STOP, Rule.MODE)
    assert "lost run is restarted" not in never.describe()
    assert "lost run is restarted" not in Policy(restart_lost_under_never=True).describe()
    with pytest.raises(PolicyError, match=r"Policy\.restart_lost_under_never: must be a bool, got 1"):
        Policy(mode=Mode.NEVER, restart_lost_under_never=1)  # type: ignore[arg-type]


def test_counting_lost_spends_the_budget() -> None:
    """With count_lost, LOST runs spend the budget like crashes (systems that cannot tell)."""
    policy = Policy(backoff=Constant(1.0), budget=CountBudget(1), count_lost=True)
    first = policy.decide(policy.start(at=0.0), Outcome(started_at=0.0, ended_at=1.0, cause=Cause.LOST))
    second = policy.decide(first.state, Outcome(started_at=2.0, ended_at=3.0, cause=Cause.LOST))
    assert (first.action, second.action) == (Action.RETRY, Action.GIVE_UP)


def test_start_failed_gives_up_or_retries_and_is_never_stable() -> None:
    """START_FAILED follows start_failed, and a long failed start is still not a stable run."""
    retry = Policy(backoff=Constant(1.0), stability=Stability(after=1.0), start_failed=StartFailed.RETRY)
    assert _decide(retry, cause=Cause.START_FAILED, ended_at=50.0) == RETRY
    give_up = Policy(backoff=Constant(1.0), start_failed=StartFailed.GIVE_UP)
    assert _decide(give_up, cause=Cause.START_FAILED) == (Action.GIVE_UP, Rule.START_FAILED)


def test_docker_style_reset_keeps_the_count() -> None:
    """A stable run that resets only the delay still spends the budget (Docker's restart count)."""
    policy = Policy(
        backoff=Constant(0.1),
        budget=CountBudget(1),
        stability=Stability(after=10.0, resets=Reset.DELAY, restart_delay=None),
    )
    first = policy.decide(policy.start(at=0.0), Outcome(started_at=0.0, ended_at=20.0, exit_code=1))
    assert (first.action, first.state.budget) == (Action.RESET, 1)
    second = policy.decide(first.state, Outcome(started_at=20.1, ended_at=40.0, exit_code=1))
    assert (second.action, second.rule) == (Action.GIVE_UP, Rule.BUDGET_EXHAUSTED)


def test_wait_mode_waits_for_the_window() -> None:
    """Exhausted.WAIT delays the restart until the sliding window admits it, instead of giving up."""
    policy = Policy(backoff=Constant(0.0), budget=SlidingWindow(2, 10.0), on_exhausted=Exhausted.WAIT)
    state, started, restarts = policy.start(at=0.0), 0.0, []
    for _ in range(5):
        decision = policy.decide(state, Outcome(started_at=started, ended_at=started + 1.0, exit_code=1))
        started = decision.outcome.ended_at + decision.delay
        restarts.append(started)
        state = decision.state
    assert restarts[:2] == [1.0, 2.0]
    assert restarts[2] == math.nextafter(11.0, math.inf)  # 1.0 has left the inclusive window
    assert all(later > earlier for earlier, later in itertools.pairwise(restarts))


def test_wait_needs_a_window_budget() -> None:
    with pytest.raises(PolicyError, match="on_exhausted: WAIT needs a window budget"):
        Policy(backoff=Constant(1.0), budget=CountBudget(3), on_exhausted=Exhausted.WAIT)


class TestBadInput:
    """Malformed input raises the right error, naming the field and the value, and changes nothing."""

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            (
                {"started_at": math.nan, "ended_at": 1.0, "exit_code": 1},
                "Outcome.started_at: must be finite, got nan",
            ),
            (
                {"started_at": 2.0, "ended_at": 1.0, "exit_code": 1},
                "Outcome.ended_at: must not be before started_at",
            ),
            (
                {"started_at": 0.0, "ended_at": 1.0, "exit_code": 256},
                "Outcome.exit_code: must be None or an integer in 0..255, got 256",
            ),
            (
                {"started_at": 0.0, "ended_at": 1.0, "signal": 0},
                "Outcome.signal: must be None or an integer in 1..64, got 0",
            ),
            (
                {"started_at": "0", "ended_at": 1.0, "exit_code": 1},
                "Outcome.started_at: must be a number, got '0'",
            ),
            ({"started_at": 0.0, "ended_at": 1.0}, "Outcome.exit_code: an EXITED outcome needs exactly one"),
            (
                {"started_at": 0.0, "ended_at": 1.0, "exit_code": 1, "cause": "lost"},
                "Outcome.cause: must be a Cause, got 'lost'",
            ),
        ],
    )
    def test_bad_outcomes(self, fields: dict[str, object], message: str) -> None:
        with pytest.raises(OutcomeError, match=r"^" + message.replace("(", r"\(").replace(".", r"\.")):
            Outcome(**fields)  # type: ignore[arg-type]

    def test_time_going_backwards(self) -> None:
        policy = presets.toolhive()
        state = policy.decide(policy.start(at=0.0), Outcome(started_at=0.0, ended_at=10.0, exit_code=1)).state
        before = state.to_dict()
        with pytest.raises(
            OutcomeError, match=r"Outcome.ended_at: 9.0 is before the state's last recorded time 10.0"
        ):
            policy.decide(state, Outcome(started_at=8.0, ended_at=9.0, exit_code=1))
        assert state.to_dict() == before

    def test_wrong_types(self) -> None:
        policy = presets.toolhive()
        with pytest.raises(OutcomeError, match="outcome: must be an Outcome, got dict"):
            policy.decide(policy.start(at=0.0), {"started_at": 0.0})  # type: ignore[arg-type]
        with pytest.raises(StateError, match="state: must be a State, got tuple"):
            policy.decide((0,) * 8, Outcome(started_at=0.0, ended_at=1.0, exit_code=1))  # type: ignore[arg-type]

    def test_state_of_another_policy(self) -> None:
        window = Policy(backoff=Constant(1.0), budget=SlidingWindow(3, 10.0))
        count = Policy(backoff=Constant(1.0), budget=CountBudget(3))
        with pytest.raises(StateError, match=r"state.budget: does not fit"):
            window.decide(count.start(at=0.0), Outcome(started_at=0.0, ended_at=1.0, exit_code=1))

    @pytest.mark.parametrize(
        ("at", "seed", "message"),
        [
            (math.inf, 0, "start.at: must be a finite number, got inf"),
            (0.0, -1, r"start.seed: must be an integer in 0..2\*\*64-1, got -1"),
            (0.0, 2**64, r"start.seed: must be an integer in 0..2\*\*64-1"),
        ],
    )
    def test_bad_start(self, at: float, seed: int, message: str) -> None:
        with pytest.raises(StateError, match=message):
            presets.toolhive().start(at=at, seed=seed)


class TestStateSerialisation:
    """States persist as JSON and come back equal; malformed dicts raise StateError with the key."""

    def test_round_trip_through_json(self) -> None:
        policy = presets.recommended()
        state = policy.start(at=5.0, seed=2**64 - 1)
        for n in range(4):
            outcome = Outcome(started_at=10.0 * n + 5, ended_at=10.0 * n + 6, exit_code=1)
            state = policy.decide(state, outcome).state
        assert State.from_dict(json.loads(json.dumps(state.to_dict()))) == state

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"schema": 2}, "state.schema: must be 1, got 2"),
            ({"attempt": -1}, "state.attempt: must be a non-negative integer, got -1"),
            ({"restarts": True}, "state.restarts: must be a non-negative integer, got True"),
            ({"last_at": "now"}, "state.last_at: must be a finite number, got 'now'"),
            ({"previous_delay": -1.0}, "state.previous_delay: must be >= 0, got -1.0"),
            (
                {"budget": [1.0, "x"]},
                r"state.budget\[1\]: must be a finite number or a list of them, got 'x'",
            ),
            (
                {"given_up": "tired"},
                "state.given_up: must be null or one of budget-exhausted, start-failed, got 'tired'",
            ),
            ({"extra": 1}, "state.extra: unknown key"),
            ({"seed": 2**64}, r"state.seed: must be below 2\*\*64"),
        ],
    )
    def test_malformed(self, change: dict[str, object], message: str) -> None:
        data = presets.toolhive().start(at=0.0).to_dict()
        data.update(change)
        with pytest.raises(StateError, match=message):
            State.from_dict(data)

    def test_missing_key(self) -> None:
        data = presets.toolhive().start(at=0.0).to_dict()
        del data["step"]
        with pytest.raises(StateError, match=r"state.step: missing"):
            State.from_dict(data)

    def test_states_are_not_constructed_directly(self) -> None:
        with pytest.raises(TypeError, match=r"Policy.start"):
            State(0, 0, 0, 0, 0, 0.0, 0.0, None)
