"""Property tests of the kernel over generated policies, states and outcomes (h2-style contracts).

Each test's docstring is the one sentence it proves.
"""

from __future__ import annotations

import copy
import json
import math

import attrs
import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

from relaunch import (
    Action,
    Cause,
    CountBudget,
    Exhausted,
    ExitRules,
    FixedWindow,
    Lost,
    Mode,
    NoJitter,
    Outcome,
    OutcomeError,
    Policy,
    Reset,
    Rule,
    SlidingWindow,
    Stability,
    StartFailed,
    State,
    StateError,
)
from relaunch import strategies as rst


@st.composite
def reachable(
    draw: st.DrawFn, policy_strategy: st.SearchStrategy[Policy] | None = None
) -> tuple[Policy, State]:
    """A policy and a state it can reach from a fresh start through generated runs."""
    policy = draw(policy_strategy if policy_strategy is not None else rst.policies())
    state = policy.start(at=draw(st.floats(min_value=-1e6, max_value=1e6)), seed=draw(rst.seeds))
    runs = draw(st.lists(rst.run_specs(), max_size=12))
    for decision in rst.drive(policy, state, runs, at=state.last_at):
        state = decision.state
    return policy, state


def _next_outcome(draw: st.DrawFn, state: State) -> Outcome:
    return draw(rst.outcomes(after=state.last_at))


@given(st.data())
def test_totality(data: st.DataObject) -> None:
    """Any valid policy, reachable state and later outcome give a Decision with a finite delay >= 0."""
    policy, state = data.draw(reachable())
    decision = policy.decide(state, _next_outcome(data.draw, state))
    assert isinstance(decision.action, Action)
    assert isinstance(decision.rule, Rule)
    assert math.isfinite(decision.delay)
    assert decision.delay >= 0.0
    assert decision.restarts == (decision.action in (Action.RETRY, Action.RESET))
    assert decision.delay == 0.0 or decision.restarts
    assert isinstance(decision.reason, str)
    assert decision.reason


@given(st.data())
def test_determinism_and_purity(data: st.DataObject) -> None:
    """Equal inputs give equal decisions, and deciding never modifies the state or the outcome."""
    policy, state = data.draw(reachable())
    outcome = _next_outcome(data.draw, state)
    state_copy, outcome_copy = copy.deepcopy(state), copy.deepcopy(outcome)
    first = policy.decide(state, outcome)
    second = policy.decide(state_copy, outcome_copy)
    assert first == second
    assert first.reason == second.reason
    assert state == state_copy
    assert outcome == outcome_copy


@given(st.data())
def test_outcomes_before_the_last_time_are_rejected(data: st.DataObject) -> None:
    """An outcome that ends before the state's last recorded time raises OutcomeError and nothing else."""
    policy, state = data.draw(reachable())
    ended = data.draw(st.floats(max_value=state.last_at, exclude_max=True, min_value=state.last_at - 1e6))
    outcome = Outcome(started_at=ended - 1.0, ended_at=ended, exit_code=1)
    with pytest.raises(OutcomeError, match="before the state's last recorded time"):
        policy.decide(state, outcome)


def _restarts_every_crash(policy: Policy, **changes: object) -> Policy:
    """``policy`` with the mode and exit rules that restart every crash (exit 1), and ``changes``."""
    return attrs.evolve(policy, mode=Mode.ALWAYS, exits=ExitRules(), **changes)


_short_stability = rst.stabilities().filter(lambda s: s is None or s.after > 0.0 or s.strict)


@given(st.data(), st.integers(min_value=0, max_value=30))
def test_count_budget_gives_up_at_exactly_failure_n_plus_1(data: st.DataObject, budget: int) -> None:
    """With a count budget of N and every run shorter than the stable threshold, the decision is GIVE_UP at exactly failure N+1."""
    policy = data.draw(rst.policies(budget=st.just(CountBudget(budget)), stability=_short_stability))
    policy = _restarts_every_crash(policy, on_exhausted=Exhausted.GIVE_UP)
    runs = data.draw(rst.crash_loops(policy, min_size=budget + 5, max_size=budget + 5))
    actions = [d.action for d in rst.drive(policy, policy.start(at=0.0), runs)]
    assert actions == [Action.RETRY] * budget + [Action.GIVE_UP]


def _restart_times(policy: Policy, runs: list[rst.Run], seed: int) -> list[float]:
    times = []
    for decision in rst.drive(policy, policy.start(at=0.0, seed=seed), runs):
        if decision.restarts:
            times.append(decision.outcome.ended_at + decision.delay)
    return times


@given(
    st.data(), st.integers(min_value=0, max_value=8), st.floats(min_value=0.01, max_value=100.0), rst.seeds
)
def test_sliding_window_never_holds_more_than_n_restarts(
    data: st.DataObject, limit: int, period: float, seed: int
) -> None:
    """With a sliding-window budget, no closed window of W seconds ever holds more than N restarts, jittered delays included."""
    policy = data.draw(rst.policies(budget=st.just(SlidingWindow(limit, period)), stability=_short_stability))
    policy = _restarts_every_crash(policy)
    times = _restart_times(policy, data.draw(rst.crash_loops(policy, max_size=60)), seed)
    note(f"restart times: {times}")
    for index, end in enumerate(times):
        in_window = [t for t in times[: index + 1] if end - t <= period]
        assert len(in_window) <= limit


@given(
    st.data(), st.integers(min_value=1, max_value=8), st.floats(min_value=0.01, max_value=100.0), rst.seeds
)
def test_fixed_window_never_counts_more_than_its_limit(
    data: st.DataObject, limit: int, interval: float, seed: int
) -> None:
    """With a fixed-window budget, each window (opened at the first start, then at the first start more than W after it) holds at most N counted starts."""
    budget = FixedWindow(limit, interval, count_first_start=data.draw(st.booleans()))
    policy = data.draw(rst.policies(budget=st.just(budget), stability=_short_stability))
    policy = _restarts_every_crash(policy)
    restarts = _restart_times(policy, data.draw(rst.crash_loops(policy, max_size=60)), seed)
    # systemd's ratelimit_below, replayed independently: the first window opens at the first start.
    begin, counted = 0.0, 1 if budget.count_first_start else 0
    for start in restarts:
        if start - begin > interval:
            begin, counted = start, 0
        counted += 1
        assert counted <= limit


@given(st.data())
def test_delays_never_exceed_the_cap(data: st.DataObject) -> None:
    """Outside Exhausted.WAIT, every delay is at most the policy's max_delay (the backoff cap with jitter's bound)."""
    policy, state = data.draw(reachable())
    runs = data.draw(st.lists(rst.run_specs(), max_size=30))
    for decision in rst.drive(policy, state, runs, at=state.last_at):
        if decision.rule is not Rule.BUDGET_WAIT:
            assert decision.delay <= policy.max_delay


@given(st.data())
def test_delays_never_decrease_within_a_streak_without_jitter(data: st.DataObject) -> None:
    """Without jitter and with a non-decreasing backoff, delays never decrease within an unstable streak."""
    policy = data.draw(
        rst.policies(
            backoff=rst.backoffs(monotone=True),
            jitter=st.just(NoJitter()),
            stability=_short_stability,
        )
    )
    policy = _restarts_every_crash(policy, on_exhausted=Exhausted.GIVE_UP)
    runs = data.draw(rst.crash_loops(policy, max_size=60))
    delays = [d.delay for d in rst.drive(policy, policy.start(at=0.0), runs) if d.action is Action.RETRY]
    assert delays == sorted(delays)


@given(st.data())
def test_give_up_is_absorbing(data: st.DataObject) -> None:
    """Once a decision is GIVE_UP, every later decision on that state is GIVE_UP again."""
    policy, state = data.draw(reachable())
    if not state.given_up:  # make it give up: a failed start under a policy that gives up on one
        policy = attrs.evolve(policy, start_failed=StartFailed.GIVE_UP)
        failed = Outcome(started_at=state.last_at, ended_at=state.last_at, cause=Cause.START_FAILED)
        state = policy.decide(state, failed).state
    assert state.given_up
    for _ in range(5):
        decision = policy.decide(state, _next_outcome(data.draw, state))
        assert decision.action is Action.GIVE_UP
        assert decision.state.given_up
        state = decision.state


@given(st.data())
def test_operator_stops_never_restart(data: st.DataObject) -> None:
    """An outcome with Cause.STOPPED is never restarted, whatever the policy, state or exit."""
    policy, state = data.draw(reachable())
    outcome = data.draw(rst.outcomes(after=state.last_at).filter(lambda o: o.cause is Cause.STOPPED))
    assert not policy.decide(state, outcome).restarts


@given(st.data())
def test_lost_never_exhausts_a_cause_aware_policy(data: st.DataObject) -> None:
    """A policy that neither counts LOST nor restores as Docker does (Lost.RESTORE) never gives up on a LOST outcome."""
    policy, state = data.draw(
        reachable(rst.policies().filter(lambda p: not p.count_lost and p.lost is not Lost.RESTORE))
    )
    assume(not state.given_up)
    runs = data.draw(
        st.lists(rst.run_specs().map(lambda r: rst.Run(r.duration, cause=Cause.LOST)), max_size=40)
    )
    for decision in rst.drive(policy, state, runs, at=state.last_at):
        assert decision.action is not Action.GIVE_UP


@given(st.data())
def test_stable_run_resets_exactly_what_the_policy_says(data: st.DataObject) -> None:
    """After a stable run the streak ends, and the backoff and budget are reset exactly as Stability.resets says."""
    stability = data.draw(rst.stabilities().filter(lambda s: s is not None))
    assert stability is not None
    policy, state = data.draw(reachable(rst.policies(stability=st.just(stability))))
    assume(not state.given_up)
    policy = _restarts_every_crash(policy)
    started = state.last_at + data.draw(st.floats(min_value=0.0, max_value=100.0))
    duration = stability.after + data.draw(st.floats(min_value=0.001, max_value=100.0))
    outcome = Outcome(started_at=started, ended_at=started + duration, exit_code=1)
    decision = policy.decide(state, outcome)
    assert decision.action in (Action.RESET, Action.GIVE_UP)
    assert decision.rule in (Rule.STABLE_RESET, Rule.BUDGET_WAIT, Rule.BUDGET_EXHAUSTED)
    if decision.action is Action.GIVE_UP:  # only when the budget is kept and already spent
        assert not stability.resets & Reset.BUDGET
        return
    after = decision.state
    assert after.attempt == 0
    follows_backoff = 1 if stability.restart_delay is None else 0
    if stability.resets & Reset.DELAY:
        assert after.step == follows_backoff
    else:
        assert after.step == state.step + follows_backoff
    if stability.resets & Reset.BUDGET:
        assert after.budget == policy.budget.reset(state.budget, outcome.ended_at)
    elif decision.rule is Rule.STABLE_RESET:  # the kept budget admitted this restart as any other
        restart_at = outcome.ended_at + decision.delay
        assert after.budget == policy.budget.admit(state.budget, outcome.ended_at, restart_at)


@given(st.data())
def test_state_round_trips_through_json(data: st.DataObject) -> None:
    """State.from_dict(State.to_dict(s)) == s for every reachable state, also through JSON text."""
    _policy, state = data.draw(reachable())
    assert State.from_dict(state.to_dict()) == state
    assert State.from_dict(json.loads(json.dumps(state.to_dict(), allow_nan=False))) == state


_bad_values = st.one_of(
    st.none(), st.booleans(), st.text(max_size=3), st.just(-1), st.just(math.nan), st.just([]), st.just({})
)


@given(st.data())
def test_malformed_state_dicts_raise_state_error(data: st.DataObject) -> None:
    """A persisted state with a key removed, added or given a wrong value raises StateError and nothing else."""
    _policy, state = data.draw(reachable())
    good = state.to_dict()
    bad = dict(good)
    key = data.draw(st.sampled_from(sorted(good)))
    how = data.draw(st.sampled_from(["drop", "add", "change"]))
    if how == "drop":
        del bad[key]
    elif how == "add":
        bad[key + "_extra"] = 1
    else:
        bad[key] = data.draw(_bad_values)
    try:
        rebuilt = State.from_dict(bad)
    except StateError:
        return
    # Some changes are still valid states (e.g. a budget of [] or given_up None); then they must
    # rebuild to exactly what they say.
    assert how == "change"
    assert rebuilt.to_dict() == bad


@given(st.data())
def test_exhausted_wait_never_gives_up_on_a_window_that_admits(data: st.DataObject) -> None:
    """Under Exhausted.WAIT with a window budget of at least one restart, a crash loop never gives up."""
    budget = data.draw(
        st.one_of(
            st.builds(SlidingWindow, st.integers(1, 5), st.floats(0.01, 50.0)),
            st.builds(FixedWindow, st.integers(1, 5), st.floats(0.01, 50.0), st.booleans()),
        )
    )
    policy = Policy(budget=budget, on_exhausted=Exhausted.WAIT, stability=Stability(after=1.0))
    runs = data.draw(rst.crash_loops(policy, max_size=40))
    assert all(d.action is Action.RETRY for d in rst.drive(policy, policy.start(at=0.0), runs))


@given(
    st.integers(min_value=0, max_value=80),
    st.floats(min_value=0.01, max_value=50.0),
    st.lists(st.floats(min_value=0.0, max_value=5.0), max_size=200),
    st.lists(st.booleans(), max_size=200),
)
def test_sliding_window_chunks_agree_with_a_flat_list(
    limit: int, period: float, gaps: list[float], early: list[bool]
) -> None:
    """SlidingWindow's chunked state admits, refuses and waits exactly as a flat sorted list of restart times would."""
    budget = SlidingWindow(limit, period)
    used, flat, now = budget.initial(0.0), [], 0.0
    for gap, backwards in zip(gaps, early + [False] * len(gaps), strict=False):
        # Mostly forward in time; sometimes a restart earlier than the last one (an early restart).
        at = max(0.0, now - gap) if backwards else now + gap
        now = max(now, at)
        live = [t for t in flat if at - t <= period]
        admitted = budget.admit(used, at, at)
        if len(live) >= limit:
            assert admitted is None
            if limit:  # earliest() is the first time at or after `at` that the window admits
                first = budget.earliest(used, at, at)
                assert budget.admit(used, at, first) is not None
                assert first == at or budget.admit(used, at, math.nextafter(first, -math.inf)) is None
            continue
        assert admitted is not None
        flat = sorted([*live, at])
        used = admitted
        assert SlidingWindow.times(used) == tuple(flat)
        assert used[0] == len(flat)
        assert all(len(chunk) <= 32 for chunk in used[1])
