"""The kernel's properties, run over every preset with Hypothesis, and each bounded system against
a small independent model of the source it follows (systemd's ``ratelimit_below``, OTP's
``add_restart``, PM2's ``handleExit`` counting, Nomad's ``GetState``)."""

from __future__ import annotations

import math
import signal
from typing import Any

from hypothesis import given, note
from hypothesis import strategies as st

from relaunch import Action, Cause, Decision, Outcome, Policy, Rule, State, presets

# --- strategies ----------------------------------------------------------------------------------


def _floats(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


_SIGNAL_NAMES = sorted(s.name for s in signal.Signals if s.name.startswith("SIG") and 1 <= s.value <= 64)
_STATUSES = st.lists(st.one_of(st.integers(0, 255), st.sampled_from(_SIGNAL_NAMES)), max_size=4)
_CODES = st.lists(st.integers(0, 255), max_size=4)


@st.composite
def _nomad_blocks(draw: st.DrawFn) -> tuple[int, float, float, str]:
    """A restart block Nomad's RestartPolicy.Validate accepts: (attempts, interval, delay, mode)."""
    mode = draw(st.sampled_from(["fail", "delay"]))
    attempts = draw(st.integers(0 if mode == "fail" else 1, 5))
    interval = draw(_floats(5.0, 3600.0))
    delay = draw(_floats(0.0, min(30.0, interval / attempts if attempts else 30.0)))
    if attempts * delay > interval:  # float rounding at the edge
        delay = 0.0
    return attempts, interval, delay, mode


_RULES = st.lists(
    st.builds(
        lambda operator, values: {"action": "Restart", "exitCodes": {"operator": operator, "values": values}},
        st.sampled_from(["In", "NotIn"]),
        st.lists(st.integers(0, 255), max_size=4),
    ),
    max_size=3,
)

#: Every preset, with its parameters drawn across their valid ranges.
PRESETS: dict[str, st.SearchStrategy[Policy]] = {
    "docker": st.one_of(
        st.builds(presets.docker, st.sampled_from(["no", "always", "unless-stopped"])),
        st.builds(presets.docker, st.just("on-failure"), st.integers(0, 20)),
    ),
    "kubernetes": st.builds(
        presets.kubernetes,
        st.sampled_from(["Always", "OnFailure", "Never"]),
        _floats(0.001, 100.0),
        _floats(0.001, 1000.0),
        _floats(0.001, 2000.0),
        _RULES,
    ),
    "kubernetes_reduced": st.builds(presets.kubernetes_reduced),
    "systemd": st.builds(
        presets.systemd,
        restart=st.sampled_from(
            ["no", "always", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort"]
        ),
        # systemd counts in microseconds; below that the geometric curve's ratio can overflow.
        restart_sec=st.just(0.0) | _floats(1e-6, 10.0),
        restart_steps=st.integers(0, 10),
        restart_max_delay_sec=st.none() | _floats(0.0, 100.0),
        restart_randomized_delay_sec=st.just(0.0) | _floats(0.0, 30.0),
        start_limit_interval_sec=_floats(0.0, 60.0),
        start_limit_burst=st.integers(0, 10),
        success_exit_status=_STATUSES,
        restart_prevent_exit_status=_STATUSES,
        restart_force_exit_status=_STATUSES,
    ),
    "supervisord": st.builds(
        presets.supervisord,
        startsecs=_floats(0.0, 10.0),
        startretries=st.integers(0, 10),
        autorestart=st.sampled_from(["true", "false", "unexpected"]),
        exitcodes=_CODES,
    ),
    "otp": st.builds(
        presets.otp,
        intensity=st.integers(0, 10),
        period=_floats(0.1, 60.0),
        restart=st.sampled_from(["permanent", "transient", "temporary"]),
    ),
    "elixir": st.builds(
        presets.elixir,
        max_restarts=st.integers(0, 10),
        max_seconds=_floats(0.1, 60.0),
        restart=st.sampled_from(["permanent", "transient", "temporary"]),
    ),
    "pm2": st.builds(
        presets.pm2,
        autorestart=st.booleans(),
        min_uptime=_floats(0.0, 5.0),
        max_restarts=st.integers(0, 30),
        restart_delay=_floats(0.0, 5.0),
        exp_backoff_restart_delay=st.none() | _floats(0.0, 20.0),
        stop_exit_codes=_CODES,
    ),
    "nomad": st.builds(
        lambda block, job_type: presets.nomad(*block, job_type=job_type),
        _nomad_blocks(),
        st.sampled_from(["service", "batch", "system", "sysbatch"]),
    ),
    "toolhive": st.builds(
        presets.toolhive,
        max_retries=st.integers(1, 20),
        initial_delay=_floats(0.001, 10.0),
        max_backoff=_floats(10.0, 100.0),
        stable_run_threshold=st.none() | _floats(0.0, 100.0),
    ),
    "toolhive_legacy": st.builds(presets.toolhive_legacy),
    "recommended": st.builds(presets.recommended),
}
assert set(PRESETS) == set(presets.names()), "a preset is missing from the property tests"

any_preset = st.sampled_from(sorted(PRESETS)).flatmap(lambda name: PRESETS[name])

#: How a run ends: an exit code, a signal, or one of the other causes as runtimes report them.
_ENDINGS: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.builds(lambda code: {"exit_code": code}, st.integers(0, 255)),
    st.builds(lambda sig: {"signal": sig}, st.integers(1, 64)),
    st.sampled_from(
        [
            {"cause": Cause.OOM, "exit_code": 137},
            {"cause": Cause.OOM, "signal": 9},
            {"cause": Cause.OOM},
            {"cause": Cause.UNHEALTHY},
            {"cause": Cause.UNHEALTHY, "exit_code": 137},
            {"cause": Cause.UNHEALTHY, "signal": 9},
            {"cause": Cause.LOST},
            {"cause": Cause.START_FAILED},
            {"cause": Cause.STOPPED},
        ]
    ),
)
#: Run lengths, with the thresholds the presets use drawn often so boundaries get exercised.
_DURATIONS = st.one_of(_floats(0.0, 2000.0), st.sampled_from([0.0, 0.5, 1.0, 10.0, 30.0, 30.5, 600.0, 600.5]))
#: A run is (duration, ending, lag): lag is how much later than the decided delay it started.
_RUNS = st.lists(st.tuples(_DURATIONS, _ENDINGS, st.one_of(st.just(0.0), _floats(0.0, 100.0))), max_size=40)


def drive(
    policy: Policy, runs: list[tuple[float, dict[str, Any], float]], seed: int
) -> list[tuple[State, Decision]]:
    """Feed every run to ``policy``, restarted or not, and return each input state with its decision."""
    state = policy.start(at=0.0, seed=seed)
    started = 0.0
    steps = []
    for duration, ending, lag in runs:
        outcome = Outcome(started_at=started, ended_at=started + duration, **ending)
        decision = policy.decide(state, outcome)
        steps.append((state, decision))
        state = decision.state
        started = outcome.ended_at + decision.delay + lag
    return steps


_SEEDS = st.integers(0, 2**64 - 1)

# --- the kernel's properties, over every preset --------------------------------------------------


@given(any_preset, _RUNS, _SEEDS)
def test_every_preset_is_total(policy: Policy, runs: list[Any], seed: int) -> None:
    """Every preset answers every valid outcome with a Decision whose delay is finite and >= 0, and
    whose state survives to_dict/from_dict."""
    note(policy.describe())
    for _state, decision in drive(policy, runs, seed):
        assert type(decision) is Decision
        assert math.isfinite(decision.delay)
        assert decision.delay >= 0.0
        assert decision.restarts or decision.delay == 0.0
        assert State.from_dict(decision.state.to_dict()) == decision.state
        assert decision.reason


@given(any_preset, _RUNS, _SEEDS)
def test_every_preset_is_deterministic_and_pure(policy: Policy, runs: list[Any], seed: int) -> None:
    """The same preset, seed and outcomes give equal decisions, and deciding leaves its inputs alone."""
    first = drive(policy, runs, seed)
    again = drive(policy, runs, seed)
    assert [d for _, d in first] == [d for _, d in again]
    for state, decision in first:
        snapshot = state.to_dict()
        assert policy.decide(state, decision.outcome) == decision
        assert state.to_dict() == snapshot


@given(any_preset, _RUNS, _SEEDS)
def test_every_preset_keeps_give_up_absorbing_and_stops_final(
    policy: Policy, runs: list[Any], seed: int
) -> None:
    """Once a preset gives up it gives up on every later outcome, and it never restarts after an
    operator's stop."""
    given_up = False
    for _state, decision in drive(policy, runs, seed):
        if given_up:
            assert decision.action is Action.GIVE_UP
            assert decision.rule is Rule.GIVEN_UP
        given_up = given_up or decision.action is Action.GIVE_UP
        if decision.outcome.cause is Cause.STOPPED:
            assert not decision.restarts


@given(any_preset, _RUNS, _SEEDS)
def test_every_preset_keeps_its_delays_under_its_cap(policy: Policy, runs: list[Any], seed: int) -> None:
    """No delay exceeds the policy's cap (jitter included), except a wait for a budget window."""
    for _state, decision in drive(policy, runs, seed):
        if decision.rule is not Rule.BUDGET_WAIT:
            assert decision.delay <= policy.max_delay


_SYSTEM_PRESETS = sorted(set(PRESETS) - {"toolhive", "toolhive_legacy"})


@given(
    st.sampled_from(_SYSTEM_PRESETS).flatmap(lambda name: PRESETS[name]), st.lists(_DURATIONS, max_size=60)
)
def test_lost_runs_never_exhaust_a_system_preset(policy: Policy, durations: list[float]) -> None:
    """However many LOST runs come in a row, no system preset gives up over them (only ToolHive,
    which cannot tell an outage from a crash, spends its budget on them)."""
    runs = [(duration, {"cause": Cause.LOST}, 0.0) for duration in durations]
    for _state, decision in drive(policy, runs, seed=0):
        assert decision.action is not Action.GIVE_UP


# --- systems that never give up ------------------------------------------------------------------


@given(
    st.builds(
        presets.kubernetes,
        st.sampled_from(["Always", "OnFailure"]),
        _floats(0.001, 100.0),
        _floats(0.001, 1000.0),
        _floats(0.001, 2000.0),
    )
    | st.builds(presets.kubernetes_reduced),
    _RUNS,
)
def test_kubernetes_never_gives_up(policy: Policy, runs: list[Any]) -> None:
    """The kubelet has no restart limit: whatever the outcomes, no decision gives up, and no delay
    exceeds its max."""
    for _state, decision in drive(policy, runs, seed=0):
        assert decision.action is not Action.GIVE_UP
        assert decision.delay <= policy.backoff.cap


# --- tight crash loops stay within their limits --------------------------------------------------

_FAILURES = st.one_of(
    st.builds(lambda code: {"exit_code": code}, st.integers(1, 255)),
    st.builds(lambda sig: {"signal": sig}, st.integers(1, 64)),
    st.just({"cause": Cause.OOM, "exit_code": 137}),
)


@given(st.integers(1, 20), st.lists(st.tuples(_DURATIONS, _FAILURES), min_size=25, max_size=25))
def test_docker_on_failure_gives_up_at_exactly_failure_n_plus_one(max_retries: int, runs: list[Any]) -> None:
    """Docker with max_retries=N restarts N failures, stable or not, and gives up at failure N + 1."""
    decisions = drive(
        presets.docker("on-failure", max_retries=max_retries), [(d, e, 0.0) for d, e in runs], seed=0
    )
    assert [d.action is Action.GIVE_UP for _, d in decisions].index(True) == max_retries


@given(
    _floats(0.01, 10.0),
    st.integers(0, 10),
    st.sampled_from(["true", "false", "unexpected"]),
    st.lists(
        st.tuples(
            _floats(0.0, 0.99), _ENDINGS.filter(lambda e: e.get("cause") not in (Cause.STOPPED, Cause.LOST))
        ),
        min_size=12,
        max_size=12,
    ),
)
def test_supervisord_gives_up_at_the_failed_start_after_startretries(
    startsecs: float, startretries: int, autorestart: str, runs: list[Any]
) -> None:
    """Runs shorter than startsecs are failed starts whatever their ending: supervisord retries
    startretries of them and gives up at the next."""
    policy = presets.supervisord(startsecs=startsecs, startretries=startretries, autorestart=autorestart)
    decisions = drive(policy, [(startsecs * share, ending, 0.0) for share, ending in runs], seed=0)
    assert [d.action for _, d in decisions[: startretries + 1]] == [Action.RETRY] * startretries + [
        Action.GIVE_UP
    ]


@given(
    st.sampled_from(["otp", "elixir"]),
    st.integers(0, 6),
    _floats(0.1, 30.0),
    st.lists(_floats(0.0, 20.0), min_size=1, max_size=40),
)
def test_otp_window_matches_add_restart(
    name: str, intensity: int, period: float, durations: list[float]
) -> None:
    """OTP restarts at once and gives up exactly when the restarts within the last `period` seconds,
    this one included, would exceed the intensity (add_restart, inclusive at the edge)."""
    policy = presets.get(name, **dict(zip(_OTP_PARAMS[name], (intensity, period), strict=True)))
    restarts: list[float] = []
    for _state, decision in drive(policy, [(d, {"exit_code": 1}, 0.0) for d in durations], seed=0):
        now = decision.outcome.ended_at
        kept = [r for r in restarts if now - r <= period]
        if len(kept) + 1 > intensity:
            assert decision.action is Action.GIVE_UP
            return
        assert (decision.action, decision.delay) == (Action.RETRY, 0.0)
        restarts = [*kept, now]


_OTP_PARAMS = {"otp": ("intensity", "period"), "elixir": ("max_restarts", "max_seconds")}


@given(
    _floats(0.0, 3.0),
    st.integers(0, 8),
    _floats(0.0, 30.0),
    st.lists(_floats(0.0, 40.0), min_size=1, max_size=40),
)
def test_systemd_start_limit_matches_ratelimit_below(
    restart_sec: float, burst: int, interval: float, durations: list[float]
) -> None:
    """systemd refuses a restart exactly when ratelimit_below would: the first start opens a window,
    a start more than `interval` after it opens the next, and each window allows `burst` starts."""
    policy = presets.systemd(
        "always", restart_sec=restart_sec, start_limit_interval_sec=interval, start_limit_burst=burst
    )
    limited = interval > 0 and burst > 0
    begin, starts = 0.0, 1
    for _state, decision in drive(policy, [(d, {"exit_code": 1}, 0.0) for d in durations], seed=0):
        start = decision.outcome.ended_at + restart_sec
        if start - begin > interval:
            begin, starts = start, 0
        allowed = not limited or starts < burst
        if not allowed:
            assert decision.action is Action.GIVE_UP
            return
        starts += 1
        assert (decision.action, decision.delay) == (Action.RETRY, restart_sec)


@given(
    _floats(0.0, 5.0),
    st.integers(0, 30),
    _floats(0.0, 3.0),
    st.lists(_floats(0.0, 8.0), min_size=1, max_size=60),
)
def test_pm2_unstable_restarts_match_handle_exit(
    min_uptime: float, max_restarts: int, restart_delay: float, durations: list[float]
) -> None:
    """PM2 errors exactly when handleExit's count of runs shorter than min_uptime, ended within
    min_uptime * max_restarts of the first start, reaches max_restarts."""
    policy = presets.pm2(min_uptime=min_uptime, max_restarts=max_restarts, restart_delay=restart_delay)
    created, unstable, run_start = 0.0, 0, 0.0
    for _state, decision in drive(policy, [(d, {"exit_code": 1}, 0.0) for d in durations], seed=0):
        now = decision.outcome.ended_at
        if now - created < min_uptime * max_restarts and now - run_start < min_uptime:
            unstable += 1
        if unstable >= max_restarts:
            assert decision.action is Action.GIVE_UP
            return
        assert (decision.action, decision.delay) == (Action.RETRY, restart_delay)
        run_start = now + restart_delay


@given(_nomad_blocks(), st.lists(_floats(0.0, 60.0), min_size=1, max_size=40), _SEEDS)
def test_nomad_restarts_match_get_state(
    block: tuple[int, float, float, str], durations: list[float], seed: int
) -> None:
    """Nomad restarts, waits or fails exactly as GetState's tumbling window says, and every normal
    restart waits delay plus less than 25 % of it."""
    attempts, interval, delay, mode = block
    policy = presets.nomad(attempts=attempts, interval=interval, delay=delay, mode=mode)
    begin, count = 0.0, 0
    for _state, decision in drive(policy, [(d, {"exit_code": 1}, 0.0) for d in durations], seed):
        now = decision.outcome.ended_at
        if attempts == 0:
            assert decision.action is Action.GIVE_UP
            return
        if now - begin > interval:
            begin, count = now, 0
        count += 1
        if count > attempts and mode == "fail":
            assert decision.action is Action.GIVE_UP
            return
        assert decision.action is Action.RETRY
        if count > attempts:
            assert decision.rule is Rule.BUDGET_WAIT
            assert math.isclose(now + decision.delay, begin + interval, rel_tol=0, abs_tol=1e-9)
        else:
            assert decision.rule is Rule.BACKOFF
            # [delay, 1.25 delay): the open end is not asserted, as float rounding can reach it.
            assert delay <= decision.delay <= delay * 1.25
