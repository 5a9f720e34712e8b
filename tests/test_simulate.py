"""The simulator and its scenarios: timelines are the kernel's own decisions, in virtual time."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaunch import Action, Cause, Policy, presets, scenarios
from relaunch import strategies as rst
from relaunch.kernel import (
    Constant,
    CountBudget,
    Exhausted,
    Exponential,
    FullJitter,
    HealthCheck,
    SlidingWindow,
    Stability,
)
from relaunch.policyfile import preset, preset_names
from relaunch.scenarios import (
    BUILTIN,
    Ending,
    Fixed,
    Forever,
    Model,
    Replay,
    Scenario,
    ScenarioError,
    WorkloadPhase,
    load,
)
from relaunch.simulate import Simulation, simulate, unhealthy_at
from relaunch.units import parse_duration, span

_EXTRA_POLICIES = [
    Policy(name="unlimited"),
    Policy(backoff=Exponential(initial=1.0, cap=30.0), jitter=FullJitter(), name="full-jitter"),
    Policy(
        backoff=Constant(seconds=5.0),
        budget=SlidingWindow(max_restarts=3, period=60.0),
        on_exhausted=Exhausted.WAIT,
        stability=Stability(after=120.0),
        name="window-wait",
    ),
]
POLICIES = [preset(name) for name in preset_names()] + _EXTRA_POLICIES


def _check_against_kernel(result: Simulation) -> None:
    """Each decision is what the kernel returns for that run from the previous decision's state."""
    policy = result.policy
    state = policy.start(at=0.0, seed=result.seed)
    for index, step in enumerate(result.steps):
        if step.decision is None:  # the run still going at the horizon is the last one
            assert index == len(result.steps) - 1
            assert step.ended_at == result.until
            return
        assert step.ending is not None
        expected = policy.decide(state, step.ending.outcome(step.started_at, step.ended_at))
        assert step.decision == expected
        if index + 1 < len(result.steps):
            assert expected.restarts
            assert result.steps[index + 1].started_at == step.ended_at + expected.delay
        state = expected.state
    last = result.steps[-1].decision
    assert last is not None
    # It ended either because the policy does not restart, or the next start is past the horizon.
    assert not last.restarts or result.steps[-1].ended_at + last.delay >= result.until


@pytest.mark.parametrize("scenario", list(BUILTIN), ids=str)
@pytest.mark.parametrize("policy", POLICIES, ids=lambda policy: policy.name)
def test_a_timeline_is_the_kernels_decisions_step_by_step(policy: Policy, scenario: str) -> None:
    """For every policy and built-in scenario, the timeline equals the kernel's decisions one by one."""
    _check_against_kernel(simulate(policy, BUILTIN[scenario]))


@given(
    st.sampled_from(POLICIES),
    st.sampled_from(list(BUILTIN.values())),
    st.integers(0, 2**64 - 1),
    st.floats(1.0, 6 * 3600.0),
)
def test_any_seed_and_horizon_follow_the_kernel(
    policy: Policy, scenario: Scenario, seed: int, until: float
) -> None:
    """For any seed and horizon, the timeline follows the kernel and the summary adds up."""
    result = simulate(policy, scenario, until=until, seed=seed)
    _check_against_kernel(result)
    summary = result.summary
    assert summary.runs == len(result.steps)
    assert math.isclose(summary.uptime + summary.downtime, until)
    assert 0.0 <= summary.availability <= 1.0
    assert (summary.gave_up_at is not None) == (
        result.steps[-1].decision is not None and result.steps[-1].decision.action is Action.GIVE_UP
    )
    assert summary.longest_outage <= summary.downtime + 1e-9


@given(
    rst.policies(),
    st.sampled_from(list(BUILTIN.values())),
    st.integers(0, 2**64 - 1),
    st.floats(1.0, 3600.0),
)
def test_any_policy_follows_the_kernel(policy: Policy, scenario: Scenario, seed: int, until: float) -> None:
    """For any policy relaunch.strategies can draw, the timeline is the kernel's decisions step by step."""
    _check_against_kernel(simulate(policy, scenario, until=until, seed=seed))


def test_the_same_seed_gives_the_same_timeline() -> None:
    """Scenarios are seeded: equal seeds give equal timelines, other seeds other ones."""
    flaky = BUILTIN["flaky"]
    policy = presets.recommended()
    assert simulate(policy, flaky, seed=7) == simulate(policy, flaky, seed=7)
    assert simulate(policy, flaky, seed=7).steps != simulate(policy, flaky, seed=8).steps


def test_the_disruption_schedule_does_not_depend_on_the_policy() -> None:
    """Every policy meets the same daemon disruptions: its LOST runs end at times of the same schedule."""
    flaps = BUILTIN["daemon-flaps"]
    always_up = simulate(presets.toolhive(), flaps)
    schedule = [step.ended_at for step in always_up.steps if step.decision is not None]
    assert all(30.0 <= b - a <= 90.0 for a, b in zip([0.0, *schedule], schedule, strict=False))
    for policy in POLICIES:
        for step in simulate(policy, flaps).steps:
            if step.ending is not None:
                assert step.ending.cause is Cause.LOST
                assert step.ended_at in schedule


def test_daemon_flaps_tells_the_5171_story() -> None:
    """ToolHive before PR #5172 gives up on a healthy service; after it, and cause-aware, never."""
    flaps = BUILTIN["daemon-flaps"]
    legacy = simulate(presets.toolhive_legacy(), flaps).summary
    assert legacy.gave_up_at is not None
    assert legacy.restarts == 9
    for policy in (presets.toolhive(), presets.recommended()):
        assert simulate(policy, flaps).summary.gave_up_at is None


def test_crash_loop_runs_exit_1_after_half_a_second() -> None:
    """crash-loop: every run exits 1 after 0.5 s."""
    result = simulate(Policy(backoff=Constant(seconds=1.0)), BUILTIN["crash-loop"], until=60.0)
    ended = [step for step in result.steps if step.ending is not None]
    assert len(ended) == 40
    assert all(step.duration == 0.5 and step.ending == Ending(exit_code=1) for step in ended)


def test_bad_deploy_crashes_for_ten_minutes_then_runs() -> None:
    """bad-deploy: runs started in the first 10 minutes crash after 2 s; the first one after runs on."""
    result = simulate(Policy(backoff=Constant(seconds=7.0)), BUILTIN["bad-deploy"])
    *crashes, healthy = result.steps
    assert all(step.started_at < 600.0 and step.duration == 2.0 for step in crashes)
    assert healthy.started_at >= 600.0
    assert healthy.decision is None
    assert healthy.ended_at == 3600.0


def test_oom_creep_runs_shrink_and_are_oom_killed() -> None:
    """oom-creep: run k is OOM-killed (exit 137) after 1200 * 0.7**k seconds, at least 5."""
    result = simulate(Policy(backoff=Constant(seconds=1.0)), BUILTIN["oom-creep"])
    for k, step in enumerate(result.steps[:-1]):
        assert step.ending == Ending(Cause.OOM, exit_code=137)
        assert math.isclose(step.duration, max(1200.0 * 0.7**k, 5.0))
    assert result.steps[-2].duration == 5.0


def test_a_give_up_leaves_the_workload_down_until_the_horizon() -> None:
    """After GIVE_UP nothing restarts: the outage runs to the horizon and is the longest."""
    result = simulate(presets.toolhive(max_retries=3), BUILTIN["crash-loop"])
    summary = result.summary
    assert [step.decision.action for step in result.steps if step.decision] == [
        Action.RETRY,
        Action.RETRY,
        Action.GIVE_UP,
    ]
    assert summary.gave_up_at == result.steps[-1].ended_at
    assert summary.longest_outage == 3600.0 - summary.gave_up_at
    assert summary.uptime == 1.5


def test_a_clean_stop_ends_the_simulation() -> None:
    """A STOP decision (nothing to restart) ends the timeline and is reported as stopped."""
    once = Scenario("once", "exits 0", 100.0, Model((WorkloadPhase(Fixed(10.0), Ending(exit_code=0)),)))
    summary = simulate(Policy.from_dict({"mode": "on-failure"}), once).summary
    assert (summary.runs, summary.restarts, summary.stopped_at, summary.gave_up_at) == (1, 0, 10.0, None)


def test_a_runaway_simulation_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Zero-length runs restarted at once never reach the horizon: the simulator says so."""
    monkeypatch.setattr("relaunch.simulate.MAX_RUNS", 100)
    instant = Scenario("instant", "exits at once", 10.0, Model((WorkloadPhase(Fixed(0.0)),)))
    with pytest.raises(ScenarioError, match="more than 100 runs before the horizon"):
        simulate(Policy(backoff=Constant(seconds=0.0)), instant)


# -- scenario files ------------------------------------------------------------------------------------


def test_a_jsonl_file_replays_its_runs_then_stays_up(tmp_path: Path) -> None:
    """Each line is one run; after the last the workload stays up."""
    path = tmp_path / "night.jsonl"
    path.write_text('{"duration": 45, "cause": "lost"}\n\n{"duration": "2s", "signal": 9}\n{"duration": 1}\n')
    scenario = load(str(path))
    result = simulate(Policy(backoff=Constant(seconds=1.0)), scenario, until=100.0)
    assert [step.ending for step in result.steps] == [
        Ending(Cause.LOST),
        Ending(signal=9),
        Ending(exit_code=1),
        None,
    ]
    assert [step.duration for step in result.steps[:3]] == [45.0, 2.0, 1.0]


def test_a_toml_model_has_phases_and_disruptions(tmp_path: Path) -> None:
    """A TOML model is the same model the built-ins use."""
    path = tmp_path / "model.toml"
    path.write_text(
        'description = "d"\nuntil = "1h"\n'
        '[[phase]]\nuntil = "5m"\nrun = 3\nexit_code = 2\n'
        '[[phase]]\nrun = "forever"\n'
        '[disruptions]\nevery = ["10m", "20m"]\n'
    )
    scenario = load(str(path))
    assert (scenario.name, scenario.description, scenario.until) == ("model", "d", 3600.0)
    result = simulate(Policy(backoff=Constant(seconds=10.0)), scenario)
    first = result.steps[0]
    assert (first.duration, first.ending) == (3.0, Ending(exit_code=2))
    lost = [step for step in result.steps if step.ending == Ending(Cause.LOST)]
    assert 2 <= len(lost) <= 6


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{not json}\n",
            "{path}:1: not valid JSON: Expecting property name enclosed in double quotes (column 2)",
        ),
        ('{"duration": 1}\n[1]\n', '{path}:2: must be an object such as {{"duration": 0.5, "exit_code": 1}}'),
        ('{"exit_code": 1}\n', "{path}:1: duration: missing (required)"),
        (
            '{"duration": "soon"}\n',
            "{path}:1: duration: must be a duration such as 90, '45s', '10m' or '2h', got 'soon'",
        ),
        (
            '{"duration": 1, "cause": "crashed"}\n',
            "{path}:1: cause: unknown 'crashed', expected one of exited, oom, unhealthy, start-failed, lost",
        ),
        (
            '{"duration": 1, "exit_code": 300}\n',
            "{path}:1: exit_code: must be an integer in 0..255, got 300",
        ),
        (
            '{"duration": 1, "code": 3}\n',
            "{path}:1: code: unknown key, expected one of duration, cause, exit_code, signal, hangs_after",
        ),
        ("\n", "{path}: no runs (one JSON object per line)"),
        (
            '{"duration": 10, "hangs_after": 10}\n',
            "{path}:1: hangs_after: must be shorter than the duration (10), got 10",
        ),
        (
            '{"duration": "forever", "hangs_after": "later"}\n',
            "{path}:1: hangs_after: must be a duration such as 90, '45s', '10m' or '2h', got 'later'",
        ),
    ],
)
def test_a_malformed_jsonl_line_is_named(tmp_path: Path, text: str, message: str) -> None:
    """A bad line names the file, the line number, the key and what is allowed."""
    path = tmp_path / "runs.jsonl"
    path.write_text(text)
    with pytest.raises(ScenarioError) as raised:
        load(str(path))
    assert str(raised.value) == message.format(path=path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("until = 3\n", "{path}: phase: needs at least one [[phase]] table"),
        ("[[phase]]\nexit_code = 1\n", "{path}: phase[0].run: missing (required)"),
        (
            "[[phase]]\nrun = [5, 1]\n",
            "{path}: phase[0].run: a range must be [low, high] with low <= high, got [5, 1]",
        ),
        ("[[phase]]\nrun = 1\nshrink = 2\n", "{path}: phase[0].shrink: must be a number in (0, 1], got 2"),
        ("[[phase]]\nrun = 1\n[disruptions]\n", "{path}: disruptions.every: missing (required)"),
        (
            "[[phase]]\nrun = 1\nspeed = 1\n",
            "{path}: phase[0].speed: unknown key, "
            "expected one of run, until, shrink, floor, cause, exit_code, signal, hangs_after, hang_probability",
        ),
        (
            "[[phase]\n",
            "{path}: not valid TOML: Expected ']]' at the end of an array declaration (at line 1, column 8)",
        ),
    ],
)
def test_a_malformed_toml_model_is_named(tmp_path: Path, text: str, message: str) -> None:
    """A bad model names the file and the key path."""
    path = tmp_path / "model.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as raised:
        load(str(path))
    assert str(raised.value) == message.format(path=path)


def test_an_unknown_scenario_lists_the_built_ins() -> None:
    with pytest.raises(ScenarioError) as raised:
        load("meltdown")
    assert str(raised.value) == (
        "unknown scenario 'meltdown', expected one of crash-loop, daemon-flaps, flaky, bad-deploy, "
        "oom-creep, hang or a .jsonl or .toml file"
    )


# -- units ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        ("90", 90.0),
        ("45s", 45.0),
        ("10m", 600.0),
        ("1h30m", 5400.0),
        ("2h", 7200.0),
        ("250ms", 0.25),
    ],
)
def test_durations_parse(text: object, seconds: float) -> None:
    assert parse_duration(text, "x") == seconds


@pytest.mark.parametrize("text", ["", "soon", "5 parsecs", "-3", True, None, "1h-5m", "inf"])
def test_bad_durations_are_refused(text: object) -> None:
    with pytest.raises(ValueError, match=r"^x: must be a"):
        parse_duration(text, "x")


def test_durations_print_compactly() -> None:
    """One format for people: a decimal under a minute, whole h/m/s above, always to the second."""
    assert [span(s) for s in (0.0, 0.25, 5.0, 59.94, 75.0, 3600.0, 3725.0, 86400.0)] == [
        "0.0s",
        "0.25s",
        "5.0s",
        "59.9s",
        "1m15s",
        "1h00m00s",
        "1h02m05s",
        "24h00m00s",
    ]


def test_presets_are_simulated_with_count_budget_reasons() -> None:
    """The reason text is the kernel's: budgets number their retries."""
    result = simulate(Policy(budget=CountBudget(2), backoff=Constant(seconds=1.0)), BUILTIN["crash-loop"])
    assert [step.decision.reason.split("; ")[-1] for step in result.steps if step.decision] == [
        "retry 1 of 2 in 1.0s",
        "retry 2 of 2 in 1.0s",
        "giving up: its budget (at most 2 restarts) is used up",
    ]


# -- hangs and health checks ---------------------------------------------------------------------------

_CHECKS = st.builds(
    HealthCheck,
    interval=st.floats(1.0, 120.0),
    timeout=st.floats(0.5, 60.0),
    retries=st.integers(1, 5),
    start_period=st.sampled_from([0.0, 10.0, 300.0]),
    start_interval=st.floats(1.0, 30.0),
)


def _hangs(every: float = 600.0, probability: float = 1.0, run: object = None) -> Scenario:
    """A model whose runs hang about every ``every`` seconds, and otherwise live ``run`` (forever)."""
    phase = WorkloadPhase(
        run or Forever(), hangs_after=scenarios.ExponentialDuration(every), hang_probability=probability
    )
    return Scenario("hangs", "hangs", 6 * 3600.0, Model((phase,)))


def test_hang_stays_down_forever_without_a_health_check() -> None:
    """hang: without a health check the first run hangs and is down, not restarted, until the horizon."""
    result = simulate(presets.recommended(), BUILTIN["hang"])
    (only,) = result.steps
    assert only.decision is None
    assert only.hung_at is not None
    assert result.summary.uptime == only.hung_at
    assert result.summary.longest_outage == result.until - only.hung_at
    assert result.summary.availability < 0.5


def test_hang_with_a_health_check_is_killed_as_unhealthy_and_restarted() -> None:
    """hang: with Docker's default check each hung run is killed as UNHEALTHY after retries timeouts."""
    check = HealthCheck()
    result = simulate(presets.recommended(), BUILTIN["hang"], health=check)
    _check_against_kernel(result)
    killed = [step for step in result.steps if step.decision is not None]
    assert len(killed) > 3
    for step in killed:
        assert step.ending is not None
        assert step.ending.cause is Cause.UNHEALTHY
        assert step.hung_at is not None
        # The first probe after the hang is at most one interval later; then 3 timeouts of 30 s.
        assert 90.0 <= step.ended_at - step.hung_at <= 30.0 + 3 * 30.0 + 2 * 30.0
    assert result.summary.availability > 0.95
    assert result.name == "recommended + health check"


def test_a_hung_run_that_ends_by_itself_ends_as_it_would() -> None:
    """A run that hangs and then exits before the check's verdict ends with its own ending."""
    runs = Replay(((100.0, Ending(exit_code=3), 90.0), (math.inf, Ending(exit_code=0), math.inf)))
    scenario = Scenario("r", "r", 1000.0, runs)
    result = simulate(Policy(backoff=Constant(seconds=1.0)), scenario, health=HealthCheck())
    first = result.steps[0]
    assert (first.ended_at, first.ending, first.hung_at) == (100.0, Ending(exit_code=3), 90.0)
    assert result.summary.uptime == 90.0 + (1000.0 - 101.0)
    assert result.summary.longest_outage == 11.0


@given(st.sampled_from(POLICIES), _CHECKS, st.floats(5.0, 3600.0), st.integers(0, 2**64 - 1))
def test_a_health_check_bounds_every_hang(
    policy: Policy, check: HealthCheck, every: float, seed: int
) -> None:
    """With a health check, no hung run stays down longer than start period + max(interval, start
    interval) + retries x timeout + (retries - 1) x interval, plus the policy's delay."""
    result = simulate(policy, _hangs(every), seed=seed, health=check)
    _check_against_kernel(result)
    bound = (
        check.start_period
        + max(check.interval, check.start_interval)
        + check.retries * check.timeout
        + (check.retries - 1) * check.interval
    )
    for step, following in zip(result.steps, result.steps[1:], strict=False):
        if step.hung_at is not None:
            assert step.decision is not None
            assert following.started_at - step.hung_at <= bound + step.decision.delay + 1e-6
            assert step.ending is not None
            assert step.ending.cause is Cause.UNHEALTHY


@given(
    st.sampled_from(POLICIES),
    st.sampled_from([s for s in BUILTIN.values() if not s.hangs]),
    _CHECKS,
    st.integers(0, 2**64 - 1),
)
def test_without_hangs_a_health_check_changes_nothing(
    policy: Policy, scenario: Scenario, check: HealthCheck, seed: int
) -> None:
    """Without hangs, a simulation with a health check has the same steps and summary as one without."""
    with_check = simulate(policy, scenario, seed=seed, health=check)
    without = simulate(policy, scenario, seed=seed)
    assert (with_check.steps, with_check.summary) == (without.steps, without.summary)


@given(st.sampled_from(POLICIES), st.floats(0.0, 1.0), st.integers(0, 2**64 - 1))
def test_hung_time_is_down_time(policy: Policy, probability: float, seed: int) -> None:
    """Availability counts a run as up only until it ends or hangs, whichever is first."""
    result = simulate(policy, _hangs(900.0, probability, scenarios.ExponentialDuration(1800.0)), seed=seed)
    _check_against_kernel(result)
    expected = sum(
        (step.ended_at if step.hung_at is None else step.hung_at) - step.started_at for step in result.steps
    )
    assert math.isclose(result.summary.uptime, min(expected, result.until))
    for step in result.steps:
        assert step.hung_at is None or step.started_at <= step.hung_at < step.ended_at


def test_a_jsonl_run_may_hang(tmp_path: Path) -> None:
    """hangs_after in a JSON line: the run stops answering that long after its start."""
    path = tmp_path / "hung.jsonl"
    path.write_text('{"duration": "forever", "hangs_after": "10m"}\n')
    scenario = load(str(path))
    assert scenario.hangs
    result = simulate(presets.recommended(), scenario, health=HealthCheck(interval=10.0, timeout=5.0))
    first = result.steps[0]
    assert first.hung_at == 600.0
    assert first.ending == Ending(Cause.UNHEALTHY)


def test_a_toml_phase_may_hang(tmp_path: Path) -> None:
    """hangs_after and hang_probability in a [[phase]]: some runs hang, at that time after their start."""
    path = tmp_path / "hung.toml"
    path.write_text(
        'until = "24h"\n[[phase]]\nrun = "forever"\nhangs_after = [60, 120]\nhang_probability = 0.5\n'
    )
    scenario = load(str(path))
    assert scenario.hangs
    result = simulate(presets.recommended(), scenario, health=HealthCheck(interval=5.0, timeout=1.0))
    assert all(60.0 <= step.hung_at - step.started_at <= 120.0 for step in result.steps if step.hung_at)
    assert not BUILTIN["flaky"].hangs


@pytest.mark.parametrize(
    ("phase", "message"),
    [
        ('hangs_after = "forever"', "{path}: phase[0].hangs_after: must be finite, got 'forever'"),
        (
            "hangs_after = 60\nhang_probability = 1.5",
            "{path}: phase[0].hang_probability: must be a number in [0, 1], got 1.5",
        ),
        (
            "hang_probability = 0.5",
            "{path}: phase[0].hangs_after: missing (required with hang_probability)",
        ),
        (
            "hangs_after = [60, 10]",
            "{path}: phase[0].hangs_after: a range must be [low, high] with low <= high, got [60, 10]",
        ),
    ],
)
def test_a_malformed_hang_phase_is_named(tmp_path: Path, phase: str, message: str) -> None:
    """A bad hang key in a [[phase]] names the file, the phase, the key and the value."""
    path = tmp_path / "model.toml"
    path.write_text(f'[[phase]]\nrun = "forever"\n{phase}\n')
    with pytest.raises(ScenarioError) as raised:
        load(str(path))
    assert str(raised.value) == message.format(path=path)


@pytest.mark.parametrize(
    ("check", "hangs_at", "killed_at"),
    [
        # Passes at 10 and 20; timeouts answered at 32, 44 and 56: the third makes it unhealthy.
        (HealthCheck(interval=10.0, timeout=2.0, retries=3), 25.0, 56.0),
        # In the start period (to 60 s) timeouts every 5 + 2 s do not count: 7, 14 ... 56; 63 and
        # then 75 (10 s later, plus 2) do.
        (
            HealthCheck(interval=10.0, timeout=2.0, retries=2, start_period=60.0, start_interval=5.0),
            1.0,
            75.0,
        ),
        # The run ends (at 100) before the verdict: never unhealthy.
        (HealthCheck(interval=30.0, timeout=30.0, retries=3), 50.0, math.inf),
    ],
)
def test_unhealthy_at_is_the_probe_machines_verdict(
    check: HealthCheck, hangs_at: float, killed_at: float
) -> None:
    """The kill comes at the result that makes the kernel's probe machine say UNHEALTHY."""
    assert unhealthy_at(check, 0.0, hangs_at, 100.0) == killed_at


def test_a_long_start_period_probes_only_up_to_the_horizon() -> None:
    """A grace longer than the horizon (Nomad's: a pass does not end it) leaves the hung run hung."""
    check = HealthCheck(start_period=1e12, pass_ends_start_period=False)
    result = simulate(presets.recommended(), BUILTIN["hang"], health=check)
    (only,) = result.steps
    assert only.hung_at is not None
    assert only.decision is None


def test_the_hangs_example_is_a_model_that_hangs() -> None:
    """examples/leaky-hangs.toml loads, hangs, and a health check raises its availability."""
    scenario = load(str(Path(__file__).resolve().parent.parent / "examples" / "leaky-hangs.toml"))
    assert scenario.hangs
    policy = presets.recommended()
    without = simulate(policy, scenario).summary.availability
    assert simulate(policy, scenario, health=HealthCheck(interval=10.0)).summary.availability > without
