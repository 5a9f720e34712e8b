"""The probe state machine (``relaunch.kernel.health``): Docker's and the kubelet's semantics, then properties.

Each test's docstring is the one sentence it proves.
"""

from __future__ import annotations

import copy
import json
import math
import pickle

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from relaunch import (
    HealthCheck,
    HealthState,
    OutcomeError,
    PolicyError,
    ProbeResult,
    RelaunchError,
    StateError,
    Verdict,
)
from relaunch.kernel.health import HEALTH_SCHEMA

PASS, FAIL, TIMEOUT = ProbeResult.PASS, ProbeResult.FAIL, ProbeResult.TIMEOUT
STARTING, HEALTHY, UNHEALTHY = Verdict.STARTING, Verdict.HEALTHY, Verdict.UNHEALTHY


def feed(check: HealthCheck, state: HealthState, probes: list[tuple[float, ProbeResult]]) -> list[Verdict]:
    verdicts = []
    for at, result in probes:
        verdict, state = check.observe(state, result, at)
        verdicts.append(verdict)
    return verdicts


def run_at_due(check: HealthCheck, results: list[ProbeResult], started: float = 0.0) -> list[Verdict]:
    """Probe at each ``next_probe_at`` the machine asks for, as a supervisor would."""
    state = check.begin(started)
    verdicts = []
    for result in results:
        verdict, state = check.observe(state, result, state.next_probe_at)
        verdicts.append(verdict)
        if verdict is UNHEALTHY:
            break
    return verdicts


class TestDefaults:
    """The defaults and the named constructors say what their systems say."""

    def test_defaults_are_dockers(self) -> None:
        """HealthCheck() is Docker's default HEALTHCHECK (moby daemon/health.go default constants)."""
        check = HealthCheck()
        assert (check.interval, check.timeout, check.retries) == (30.0, 30.0, 3)
        assert (check.start_period, check.start_interval, check.success_threshold) == (0.0, 5.0, 1)
        assert check.pass_ends_start_period is True

    def test_docker_zero_means_default(self) -> None:
        """docker() with the Engine API's zeros is Docker's default check; other values are kept."""
        assert HealthCheck.docker() == HealthCheck()
        assert HealthCheck.docker(interval=2, retries=5, start_period=10) == HealthCheck(
            interval=2.0, retries=5, start_period=10.0
        )

    def test_docker_minimum_duration(self) -> None:
        """docker() refuses durations under Docker's 1 ms minimum, and negative retries (validateHealthCheck)."""
        with pytest.raises(PolicyError, match=r"HealthCheck\.interval: .*1 ms, got 0\.0005"):
            HealthCheck.docker(interval=0.0005)
        with pytest.raises(PolicyError, match=r"HealthCheck\.retries: must be >= 0, got -1"):
            HealthCheck.docker(retries=-1)

    def test_kubelet_defaults(self) -> None:
        """kubelet() defaults to SetDefaults_Probe's period 10, timeout 1, failure threshold 3."""
        check = HealthCheck.kubelet()
        assert (check.interval, check.timeout, check.retries, check.start_period) == (10.0, 1.0, 3, 0.0)

    def test_kubelet_liveness_needs_success_threshold_one(self) -> None:
        """kubelet() refuses a success threshold other than 1, as the API does for liveness probes."""
        with pytest.raises(PolicyError, match=r"HealthCheck\.kubelet\.success_threshold: .* got 2"):
            HealthCheck.kubelet(success_threshold=2)

    def test_kubelet_initial_delay_is_the_first_probe_and_it_counts(self) -> None:
        """With initialDelaySeconds, the first probe is at the delay, and its failure counts."""
        check = HealthCheck.kubelet(period=10, failure_threshold=1, initial_delay=30)
        state = check.begin(0.0)
        assert state.next_probe_at == 30.0
        assert check.observe(state, FAIL, 30.0)[0] is UNHEALTHY

    def test_nomad_limit_and_grace(self) -> None:
        """nomad() counts `limit` failures after `grace`, probing every interval; limit 0 is refused."""
        check = HealthCheck.nomad(interval=5, timeout=2, limit=2, grace=12)
        assert (check.retries, check.start_period, check.start_interval) == (2, 12.0, 5.0)
        # At 5 and 10 in grace, ignored; at 15 and 20 counted.
        assert run_at_due(check, [FAIL] * 10) == [STARTING, STARTING, STARTING, UNHEALTHY]
        with pytest.raises(PolicyError, match=r"HealthCheck\.nomad\.limit: must be >= 1, got 0"):
            HealthCheck.nomad(interval=5, timeout=2, limit=0)

    def test_nomad_grace_is_not_shortened_by_a_pass(self) -> None:
        """Under Nomad, a pass within grace does not make later failures within it count (restarter.apply)."""
        check = HealthCheck.nomad(interval=1, timeout=1, limit=1, grace=10)
        state = check.begin(0.0)
        assert feed(check, state, [(1.0, PASS), (2.0, FAIL), (3.0, FAIL), (10.0, FAIL)]) == [
            HEALTHY,
            HEALTHY,
            HEALTHY,
            UNHEALTHY,
        ]

    def test_checks_round_trip_through_dicts(self) -> None:
        """to_dict/from_dict give back an equal check, and from_dict names a bad key."""
        for check in (HealthCheck(), HealthCheck.kubelet(initial_delay=3), HealthCheck.nomad(5, 1, 3)):
            data = json.loads(json.dumps(check.to_dict()))
            assert HealthCheck.from_dict(data) == check
        with pytest.raises(PolicyError, match=r"health\.retries: must be >= 1, got 0"):
            HealthCheck.from_dict({**HealthCheck().to_dict(), "retries": 0})
        with pytest.raises(PolicyError, match=r"health\.wibble: unknown key"):
            HealthCheck.from_dict({"wibble": 1})


class TestBadParameters:
    """A bad parameter raises PolicyError naming the field and the value."""

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("interval", 0, r"HealthCheck\.interval: must be > 0, got 0"),
            ("timeout", -1.0, r"HealthCheck\.timeout: must be > 0, got -1\.0"),
            ("timeout", math.nan, r"HealthCheck\.timeout: must be finite, got nan"),
            ("retries", 0, r"HealthCheck\.retries: must be >= 1, got 0"),
            ("retries", 2.0, r"HealthCheck\.retries: must be an integer, got 2\.0"),
            ("start_period", -0.5, r"HealthCheck\.start_period: must be >= 0, got -0\.5"),
            ("start_interval", math.inf, r"HealthCheck\.start_interval: must be finite, got inf"),
            ("success_threshold", True, r"HealthCheck\.success_threshold: must be an integer, got True"),
            ("pass_ends_start_period", 1, r"HealthCheck\.pass_ends_start_period: must be a bool, got 1"),
        ],
    )
    def test_each_field_is_checked(self, field: str, value: object, message: str) -> None:
        """Each field's bad value is refused with the field's name and the value."""
        with pytest.raises(PolicyError, match=message):
            HealthCheck(**{field: value})  # type: ignore[arg-type]


class TestDockerSemantics:
    """moby daemon/health.go handleProbeResult and monitor, translated; expected values from
    moby daemon/health_test.go TestHealthStates where marked."""

    def test_retries_one_first_failure_is_unhealthy(self) -> None:
        """With retries 1 the first failure is unhealthy (TestHealthStates: starting -> failed)."""
        check = HealthCheck(retries=1)
        assert feed(check, check.begin(0.0), [(1.0, FAIL)]) == [UNHEALTHY]

    def test_retries_three(self) -> None:
        """Two failures leave a run STARTING with a streak of 2; the third is unhealthy (TestHealthStates)."""
        check = HealthCheck(retries=3)
        state = check.begin(0.0)
        verdict, state = check.observe(state, FAIL, 20.0)
        verdict, state = check.observe(state, FAIL, 40.0)
        assert (verdict, state.failures) == (STARTING, 2)
        assert check.observe(state, FAIL, 60.0)[0] is UNHEALTHY

    def test_start_period(self) -> None:
        """Failures in the start period do not count, after it they do, a pass resets (TestHealthStates)."""
        check = HealthCheck(retries=2, start_period=30.0)
        state = check.begin(0.0)
        verdict, state = check.observe(state, FAIL, 20.0)
        assert (verdict, state.failures) == (STARTING, 0)
        verdict, state = check.observe(state, FAIL, 50.0)
        assert (verdict, state.failures) == (STARTING, 1)
        verdict, state = check.observe(state, PASS, 80.0)
        assert (verdict, state.failures) == (HEALTHY, 0)

    def test_a_pass_ends_the_start_period(self) -> None:
        """A pass in the start period makes the run healthy, and failures count from then on."""
        check = HealthCheck(retries=1, start_period=60.0)
        state = check.begin(0.0)
        assert feed(check, state, [(5.0, FAIL), (10.0, PASS), (15.0, FAIL)]) == [STARTING, HEALTHY, UNHEALTHY]

    def test_timeout_is_a_failure(self) -> None:
        """A TIMEOUT counts as a failure (cmdProbe.run reports it as exit code -1)."""
        check = HealthCheck(retries=2)
        assert feed(check, check.begin(0.0), [(30.0, TIMEOUT), (90.0, FAIL)]) == [STARTING, UNHEALTHY]

    def test_probe_schedule(self) -> None:
        """The first probe waits start_interval in a start period, interval without; start_interval
        holds while starting in the start period, interval after it or once healthy (monitor)."""
        assert HealthCheck().begin(100.0).next_probe_at == 130.0
        check = HealthCheck(start_period=12.0, start_interval=5.0, interval=30.0)
        state = check.begin(0.0)
        dues = [state.next_probe_at]
        for _ in range(3):
            _, state = check.observe(state, FAIL, state.next_probe_at)
            dues.append(state.next_probe_at)
        assert dues == [5.0, 10.0, 15.0, 45.0]
        state = check.begin(0.0)
        _, state = check.observe(state, PASS, 5.0)
        assert state.next_probe_at == 35.0

    def test_healthy_stays_healthy_through_a_short_streak(self) -> None:
        """Failures below retries leave a healthy run HEALTHY (the status is unchanged until the threshold)."""
        check = HealthCheck(retries=3)
        state = check.begin(0.0)
        assert feed(check, state, [(30.0, PASS), (60.0, FAIL), (90.0, FAIL), (120.0, PASS)]) == [
            HEALTHY,
            HEALTHY,
            HEALTHY,
            HEALTHY,
        ]

    def test_unhealthy_is_final_for_the_run(self) -> None:
        """Unlike Docker, a pass after UNHEALTHY does not undo it: the run is being killed; no probe is due."""
        check = HealthCheck(retries=1)
        verdict, state = check.observe(check.begin(0.0), FAIL, 30.0)
        assert verdict is UNHEALTHY
        assert state.next_probe_at == math.inf
        assert check.observe(state, PASS, 60.0) == (UNHEALTHY, state)
        assert check.begin(100.0).verdict is STARTING


class TestKubeletSemantics:
    """pkg/kubelet/prober/worker.go doProbe, translated: thresholds count runs of equal results."""

    def test_success_threshold_passes_in_a_row(self) -> None:
        """A starting run is healthy after success_threshold passes in a row; a failure restarts the count."""
        check = HealthCheck(success_threshold=3, retries=5)
        state = check.begin(0.0)
        results = [PASS, PASS, FAIL, PASS, PASS, PASS]
        verdicts = feed(check, state, [(30.0 * (i + 1), r) for i, r in enumerate(results)])
        assert verdicts == [STARTING, STARTING, STARTING, STARTING, STARTING, HEALTHY]

    def test_failure_threshold(self) -> None:
        """failureThreshold failures in a row are unhealthy, and a single success in between resets the run."""
        check = HealthCheck.kubelet(failure_threshold=3)
        results = [FAIL, FAIL, PASS, FAIL, FAIL, FAIL]
        assert run_at_due(check, results) == [STARTING, STARTING, HEALTHY, HEALTHY, HEALTHY, UNHEALTHY]


class TestStateData:
    """HealthState is a value: it round-trips through dicts and pickle, and from_dict names a bad key."""

    def test_round_trip(self) -> None:
        """Every state reached by probing round-trips through JSON and pickle."""
        check = HealthCheck(retries=2)
        state = check.begin(0.0)
        states = [state]
        for at, result in [(30.0, PASS), (60.0, FAIL), (90.0, FAIL)]:
            _, state = check.observe(state, result, at)
            states.append(state)
        for state in states:
            data = json.loads(json.dumps(state.to_dict()))
            assert data["schema"] == HEALTH_SCHEMA
            assert HealthState.from_dict(data) == state
            assert pickle.loads(pickle.dumps(state)) == state
        assert states[-1].to_dict()["next_probe_at"] is None

    @pytest.mark.parametrize(
        ("key", "value", "message"),
        [
            ("schema", 2, r"health_state\.schema: must be 1, got 2"),
            ("verdict", "sick", r"health_state\.verdict: must be one of .* got 'sick'"),
            ("failures", -1, r"health_state\.failures: must be a non-negative integer, got -1"),
            ("last_at", math.nan, r"health_state\.last_at: must be a finite number, got nan"),
            ("next_probe_at", None, r"health_state\.next_probe_at: must be null exactly when unhealthy"),
        ],
    )
    def test_bad_dict(self, key: str, value: object, message: str) -> None:
        """A bad key in a persisted state raises StateError naming it."""
        data = HealthCheck().begin(0.0).to_dict()
        with pytest.raises(StateError, match=message):
            HealthState.from_dict({**data, key: value})

    def test_not_constructed_directly(self) -> None:
        """HealthStates come only from begin() and from_dict()."""
        with pytest.raises(TypeError):
            HealthState()


# Properties ---------------------------------------------------------------------------------------

_seconds = st.floats(min_value=0.001, max_value=3600.0, allow_nan=False, allow_infinity=False)


@st.composite
def checks(draw: st.DrawFn) -> HealthCheck:
    return HealthCheck(
        interval=draw(_seconds),
        timeout=draw(_seconds),
        retries=draw(st.integers(1, 10)),
        start_period=draw(st.one_of(st.just(0.0), _seconds)),
        start_interval=draw(_seconds),
        success_threshold=draw(st.integers(1, 5)),
        pass_ends_start_period=draw(st.booleans()),
    )


results = st.sampled_from(ProbeResult)
#: Gaps between probes: on schedule (None) or any time later, as a late or manual probe.
gaps = st.one_of(st.none(), st.floats(min_value=0.0, max_value=7200.0, allow_nan=False))


Trace = list[tuple[float, ProbeResult, Verdict, HealthState]]


def drive(check: HealthCheck, probes: list[tuple[ProbeResult, float | None]], started: float = 0.0) -> Trace:
    """Probe on schedule (a gap of None) or after a gap, with the given results; every step's outcome."""
    state = check.begin(started)
    trace: Trace = []
    at = started
    for result, gap in probes:
        at = state.next_probe_at if gap is None else at + gap
        if at == math.inf:
            at = state.last_at
        verdict, state = check.observe(state, result, at)
        trace.append((at, result, verdict, state))
    return trace


@given(checks(), st.lists(gaps, max_size=60))
def test_always_passing_is_never_unhealthy(check: HealthCheck, schedule: list[float | None]) -> None:
    """A workload that always passes is never declared unhealthy, and is healthy from its success_threshold-th probe."""
    trace = drive(check, [(PASS, gap) for gap in schedule])
    for index, (_at, _result, verdict, state) in enumerate(trace):
        assert verdict is not UNHEALTHY
        assert verdict is (HEALTHY if index + 1 >= check.success_threshold else STARTING)
        assert state.failures == 0


@given(checks(), st.lists(gaps, min_size=1, max_size=60), st.sampled_from([FAIL, TIMEOUT]))
def test_always_failing_is_unhealthy_at_the_threshold(
    check: HealthCheck, schedule: list[float | None], failure: ProbeResult
) -> None:
    """A workload that always fails is declared unhealthy at exactly the retries-th failure after the start period."""
    started = 0.0
    trace = drive(check, [(failure, gap) for gap in schedule], started)
    counted = 0
    for at, _result, verdict, _state in trace:
        if at >= started + check.start_period:
            counted += 1
        expected = UNHEALTHY if counted >= check.retries else STARTING
        note(f"at={at} counted={counted} verdict={verdict}")
        assert verdict is expected


@given(checks(), st.lists(st.tuples(results, gaps), max_size=60))
def test_one_pass_resets_the_failure_streak(
    check: HealthCheck, probes: list[tuple[ProbeResult, float | None]]
) -> None:
    """One pass resets the failure streak, and a run is unhealthy exactly when retries counted failures came in a row."""
    streak = 0
    unhealthy = False
    start_ends = check.start_period
    for at, result, verdict, state in drive(check, probes):
        if unhealthy:
            assert verdict is UNHEALTHY
            continue
        if result is PASS:
            streak = 0
            assert state.failures == 0
            if check.pass_ends_start_period and verdict is HEALTHY:
                start_ends = min(start_ends, at)
        elif at >= start_ends:
            streak += 1
        unhealthy = streak >= check.retries
        assert (verdict is UNHEALTHY) == unhealthy
        assert state.failures == streak


@given(checks(), st.lists(st.tuples(results, gaps), max_size=40))
def test_observe_is_deterministic_and_total(
    check: HealthCheck, probes: list[tuple[ProbeResult, float | None]]
) -> None:
    """observe is deterministic and total over valid inputs: it never raises, the same inputs give equal
    outputs, the input state is unchanged, the next probe is due after the result came in, and an
    unhealthy state stays exactly as it was."""
    state = check.begin(0.0)
    at = 0.0
    for result, gap in probes:
        at = state.next_probe_at if gap is None else at + gap
        if at == math.inf:
            at = state.last_at
        before = copy.deepcopy(state)
        first = check.observe(state, result, at)
        assert check.observe(state, result, at) == first
        assert state == before
        verdict, state = first
        assert type(state) is HealthState
        assert verdict is state.verdict
        if before.verdict is UNHEALTHY:
            assert state == before
            continue
        assert state.last_at == at
        assert state.next_probe_at > at or (verdict is UNHEALTHY and state.next_probe_at == math.inf)
        assert state.passes <= check.success_threshold
        assert HealthState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


bad_states = st.one_of(
    st.none(),
    st.integers(),
    st.tuples(st.sampled_from(Verdict), st.integers(), st.integers(), st.floats(), st.floats(), st.floats()),
)
bad_results = st.one_of(st.none(), st.sampled_from(["pass", "fail", 0, True]), st.sampled_from(Verdict))
bad_times = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, True, "1", None]),
    st.floats(max_value=29.999, allow_nan=False, allow_infinity=False),
)


@given(checks(), st.data())
def test_bad_inputs_raise_and_change_nothing(check: HealthCheck, data: st.DataObject) -> None:
    """Bad inputs raise the error family (StateError, OutcomeError) and leave the check and the state unchanged."""
    state = check.begin(0.0)
    _, state = check.observe(state, PASS, 30.0)
    state_before, check_before = copy.deepcopy(state), copy.deepcopy(check)
    kind = data.draw(st.sampled_from(["state", "result", "at"]))
    if kind == "state":
        with pytest.raises(StateError):
            check.observe(data.draw(bad_states), PASS, 60.0)  # type: ignore[arg-type]
    elif kind == "result":
        with pytest.raises(OutcomeError):
            check.observe(state, data.draw(bad_results), 60.0)  # type: ignore[arg-type]
    else:
        with pytest.raises(OutcomeError):
            check.observe(state, PASS, data.draw(bad_times))  # type: ignore[arg-type]
    assert state == state_before
    assert check == check_before
    assert check.observe(state, PASS, 60.0) == check_before.observe(state_before, PASS, 60.0)


@given(st.sampled_from([math.nan, math.inf, -math.inf, True, "0", None]))
def test_bad_begin_raises_state_error(at: object) -> None:
    """begin refuses a time that is not a finite number with StateError, part of the error family."""
    with pytest.raises(StateError) as error:
        HealthCheck().begin(at)  # type: ignore[arg-type]
    assert isinstance(error.value, RelaunchError)
