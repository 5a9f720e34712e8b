"""The runtime-agnostic supervisor core, driven by a scripted in-memory runtime and a manual clock.

These tests pin the core's own contract (scheduling, exactly-once, persistence, status, hooks,
close); the Docker tests check the same behaviour end to end against a real engine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from relaunch import Action, Cause, Constant, CountBudget, Exponential, Policy, Rule, presets
from relaunch.adapters import persistence
from relaunch.adapters.clock import ManualClock
from relaunch.adapters.runtime import (
    Ended,
    LiveRun,
    Missing,
    Observation,
    Resume,
    RunEnd,
    Running,
    RuntimeUnavailable,
    StartError,
)
from relaunch.adapters.scheduler import Scheduler
from relaunch.adapters.store import SqliteStore, StoreError, WorkloadRecord, read_store
from relaunch.adapters.supervisor import DecisionEvent, Phase, Supervisor


class FakeRuntime:
    """A runtime whose world is a dict; the test plays the workloads' deaths."""

    supervisor_id = "test"

    def __init__(self) -> None:
        self.sink: Supervisor | None = None
        self.world: dict[str, Observation] = {}
        self.starts: list[tuple[str, bool]] = []
        self.stops: list[str] = []
        self.fail_start: type[Exception] | None = None
        self.closed = False

    def open(self, sink: Supervisor, resume: Resume) -> None:
        self.sink = sink
        self.cursor = resume.cursor

    def watch(self, name: str, spec: Any, run: LiveRun | None) -> None:
        self.world.setdefault(name, Missing())

    def observe(self, name: str) -> Observation:
        return self.world[name]

    def start(self, name: str, *, create: bool) -> None:
        self.starts.append((name, create))
        if self.fail_start is not None:
            raise self.fail_start("cannot start")
        self.world[name] = Running()

    def stop(self, name: str) -> None:
        self.stops.append(name)

    def close(self) -> None:
        self.closed = True


def eventually(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait (real time) for the scheduler thread to catch up; fail if it never does."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def crash_policy(max_restarts: int = 2) -> Policy:
    return Policy(backoff=Exponential(initial=1.0, factor=2.0, cap=8.0), budget=CountBudget(max_restarts))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def events() -> list[DecisionEvent]:
    return []


@pytest.fixture
def sup(
    tmp_path: Path, runtime: FakeRuntime, clock: ManualClock, events: list[DecisionEvent]
) -> Iterator[Supervisor]:
    with Supervisor(runtime, str(tmp_path / "state.db"), clock=clock, on_decision=events.append) as s:
        yield s


def die(sup: Supervisor, runtime: FakeRuntime, clock: ManualClock, run: str, code: int, ran: float) -> None:
    end = clock.time()
    runtime.world["w"] = Ended(RunEnd(run, end - ran, end, exit_code=code))
    sup.run_ended("w", RunEnd(run, end - ran, end, exit_code=code))


def test_new_workload_is_created_and_started_once(sup: Supervisor, runtime: FakeRuntime) -> None:
    """A workload with no history is created and started immediately, exactly once."""
    sup.add("w", None, crash_policy())
    eventually(lambda: sup.status("w").phase is Phase.RUNNING)
    assert runtime.starts == [("w", True)]


def test_restart_waits_for_the_delay_on_the_injected_clock(
    sup: Supervisor, runtime: FakeRuntime, clock: ManualClock
) -> None:
    """A RETRY starts the workload again only once the clock has moved by the decision's delay."""
    sup.add("w", None, crash_policy())
    eventually(lambda: len(runtime.starts) == 1)
    clock.advance(5.0)
    die(sup, runtime, clock, "r1", 1, 5.0)
    status = sup.status("w")
    assert status.phase is Phase.BACKING_OFF
    assert status.restart_at == pytest.approx(clock.time() + 1.0)
    clock.advance(0.9)
    time.sleep(0.05)
    assert len(runtime.starts) == 1
    clock.advance(0.1)
    eventually(lambda: len(runtime.starts) == 2)
    assert runtime.starts[1] == ("w", False)


def test_each_run_is_handled_exactly_once(
    sup: Supervisor, runtime: FakeRuntime, clock: ManualClock, events: list[DecisionEvent]
) -> None:
    """The same run reported twice (event and reconciliation) gives one decision."""
    sup.add("w", None, crash_policy())
    eventually(lambda: len(runtime.starts) == 1)
    die(sup, runtime, clock, "r1", 1, 0.5)
    sup.observed("w", runtime.world["w"])
    die(sup, runtime, clock, "r1", 1, 0.5)
    assert [e.run for e in events] == ["r1"]


def test_crash_loop_gives_up_after_budget(
    sup: Supervisor, runtime: FakeRuntime, clock: ManualClock, events: list[DecisionEvent]
) -> None:
    """With a count budget of 2, the third failure gives up and no start is scheduled."""
    sup.add("w", None, crash_policy(2))
    for i in range(3):
        eventually(lambda i=i: len(runtime.starts) == i + 1)
        clock.advance(0.5)
        die(sup, runtime, clock, f"r{i}", 1, 0.5)
        clock.advance(10.0)
    assert [e.decision.action for e in events] == [Action.RETRY, Action.RETRY, Action.GIVE_UP]
    status = sup.status("w")
    assert status.phase is Phase.GIVEN_UP
    assert status.rule is Rule.BUDGET_EXHAUSTED
    assert status.restarts == 2
    time.sleep(0.05)
    assert len(runtime.starts) == 3


def test_stop_during_backoff_cancels_the_pending_start(
    sup: Supervisor, runtime: FakeRuntime, clock: ManualClock
) -> None:
    """An operator stop while backing off cancels the start and decides STOP."""
    sup.add("w", None, crash_policy())
    eventually(lambda: len(runtime.starts) == 1)
    die(sup, runtime, clock, "r1", 1, 0.5)
    sup.stop("w")
    clock.advance(100.0)
    time.sleep(0.05)
    assert len(runtime.starts) == 1
    assert runtime.stops == []  # nothing to stop: it was not running
    status = sup.status("w")
    assert status.phase is Phase.STOPPED
    assert status.rule is Rule.OPERATOR_STOP


def test_give_up_while_backing_off_is_given_up_and_of_a_stopped_one_leaves_it_stopped(
    sup: Supervisor, runtime: FakeRuntime, clock: ManualClock
) -> None:
    """A group's give-up cancels a pending restart (GIVEN_UP, its reason kept); one an operator stopped stays STOPPED."""
    sup.add("w", None, crash_policy())
    eventually(lambda: len(runtime.starts) == 1)
    die(sup, runtime, clock, "r1", 1, 0.5)
    sup.give_up("w", "group g: its budget is spent")
    clock.advance(100.0)
    time.sleep(0.05)
    assert len(runtime.starts) == 1
    assert (sup.status("w").phase, sup.status("w").reason) == (Phase.GIVEN_UP, "group g: its budget is spent")
    sup.start("w")
    eventually(lambda: len(runtime.starts) == 2)
    die(sup, runtime, clock, "r2", 1, 0.5)
    sup.stop("w")
    sup.give_up("w", "group g again")
    assert sup.status("w").phase is Phase.STOPPED


def test_stop_of_running_workload_makes_its_death_stopped(
    sup: Supervisor, runtime: FakeRuntime, clock: ManualClock, events: list[DecisionEvent]
) -> None:
    """The death that follows a supervisor stop is STOPPED whatever its exit code."""
    sup.add("w", None, crash_policy())
    eventually(lambda: sup.status("w").phase is Phase.RUNNING)
    sup.stop("w")
    assert runtime.stops == ["w"]
    die(sup, runtime, clock, "r1", 137, 1.0)
    assert events[-1].outcome.cause is Cause.STOPPED
    assert sup.status("w").phase is Phase.STOPPED


def test_start_error_is_fed_as_start_failed(
    sup: Supervisor, runtime: FakeRuntime, events: list[DecisionEvent]
) -> None:
    """A StartError from the runtime becomes a START_FAILED outcome (toolhive gives up on it)."""
    runtime.fail_start = StartError
    sup.add("w", None, presets.toolhive())
    eventually(lambda: bool(events))
    assert events[0].outcome.cause is Cause.START_FAILED
    assert sup.status("w").phase is Phase.GIVEN_UP


def test_unavailable_runtime_at_start_costs_no_budget(
    tmp_path: Path, runtime: FakeRuntime, events: list[DecisionEvent]
) -> None:
    """A start that finds the runtime down is retried later and never fed to the kernel."""
    runtime.fail_start = RuntimeUnavailable
    with Supervisor(runtime, str(tmp_path / "s.db"), unavailable_retry=0.02, on_decision=events.append) as s:
        s.add("w", None, crash_policy())
        eventually(lambda: len(runtime.starts) >= 3)
        runtime.fail_start = None
        eventually(lambda: s.status("w").phase is Phase.RUNNING)
    assert events == []


def test_removed_workload_is_stopped_not_recreated(
    sup: Supervisor, runtime: FakeRuntime, clock: ManualClock
) -> None:
    """A workload that had run and is now missing was removed: STOP, and no create."""
    sup.add("w", None, crash_policy())
    eventually(lambda: len(runtime.starts) == 1)
    die(sup, runtime, clock, "r1", 1, 0.5)
    sup.removed("w")
    clock.advance(100.0)
    time.sleep(0.05)
    assert runtime.starts == [("w", True)]
    assert sup.status("w").phase is Phase.STOPPED


def test_resume_keeps_budget_and_pending_start(tmp_path: Path, clock: ManualClock) -> None:
    """A new supervisor on the same file resumes the State, the last run and the pending start."""
    path = str(tmp_path / "state.db")
    first = FakeRuntime()
    events: list[DecisionEvent] = []
    with Supervisor(first, path, clock=clock, on_decision=events.append) as s:
        s.add("w", None, crash_policy(2))
        eventually(lambda: len(first.starts) == 1)
        die(s, first, clock, "r1", 1, 0.5)
        assert s.status("w").restarts == 1
    saved = read_store(path)[1]["w"]
    assert saved.last_run == "r1"
    assert saved.phase is Phase.BACKING_OFF

    second = FakeRuntime()
    second.world["w"] = first.world["w"]  # still exited with run r1
    with Supervisor(second, path, clock=clock, on_decision=events.append) as s:
        s.add("w", None, crash_policy(2))
        assert s.status("w").restarts == 1  # the budget was not reset
        assert [e.run for e in events] == ["r1"]  # r1 was not handled again
        clock.advance(1.0)
        eventually(lambda: second.starts == [("w", False)])


def test_state_file_of_another_supervisor_is_refused(tmp_path: Path, runtime: FakeRuntime) -> None:
    """A store belongs to one supervisor id; another id is refused by name."""
    path = str(tmp_path / "s.db")
    other = FakeRuntime()
    other.supervisor_id = "other"
    Supervisor(other, path).close()
    with pytest.raises(StoreError, match="'other'"):
        Supervisor(runtime, path)


def test_hook_failure_is_logged_and_supervision_goes_on(
    tmp_path: Path, runtime: FakeRuntime, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A raising decision hook does not stop the supervisor from recording the decision."""

    def bad_hook(event: DecisionEvent) -> None:
        raise RuntimeError("boom")

    with Supervisor(runtime, str(tmp_path / "s.db"), clock=clock, on_decision=bad_hook) as s:
        s.add("w", None, crash_policy())
        eventually(lambda: len(runtime.starts) == 1)
        die(s, runtime, clock, "r1", 1, 0.5)
        assert s.status("w").phase is Phase.BACKING_OFF
    assert "decision hook failed" in caplog.text


def test_decisions_are_logged_with_structured_fields(
    sup: Supervisor, runtime: FakeRuntime, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Every decision is one log record carrying workload, action, rule and delay as fields."""
    caplog.set_level("INFO", logger="relaunch.supervisor")
    sup.add("w", None, crash_policy())
    eventually(lambda: len(runtime.starts) == 1)
    die(sup, runtime, clock, "r1", 3, 0.5)
    [record] = [r for r in caplog.records if getattr(r, "action", None)]
    assert (record.workload, record.action, record.rule, record.delay) == ("w", "RETRY", "backoff", 1.0)
    assert record.exit_code == 3


def test_close_returns_within_a_second(tmp_path: Path, runtime: FakeRuntime) -> None:
    """close() stops the scheduler thread promptly even with a start scheduled far ahead."""
    s = Supervisor(runtime, str(tmp_path / "s.db"))
    s.add("w", None, crash_policy())
    eventually(lambda: len(runtime.starts) == 1)
    s.run_ended("w", RunEnd("r1", time.time() - 1, time.time(), exit_code=1))
    before = {t.name for t in threading.enumerate()}
    assert "relaunch-scheduler" in before
    began = time.monotonic()
    s.close()
    assert time.monotonic() - began < 1.0
    assert "relaunch-scheduler" not in {t.name for t in threading.enumerate()}
    assert runtime.closed


def test_unexpected_start_error_is_retried_not_fatal(
    tmp_path: Path, runtime: FakeRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    """A runtime bug at start is logged and retried later; the scheduler thread survives."""
    runtime.fail_start = KeyError
    with Supervisor(runtime, str(tmp_path / "s.db"), unavailable_retry=0.02) as s:
        s.add("w", None, crash_policy())
        eventually(lambda: len(runtime.starts) >= 2)
        runtime.fail_start = None
        eventually(lambda: s.status("w").phase is Phase.RUNNING)
    assert "unexpected error at start" in caplog.text


def test_hooks_run_outside_the_supervisor_lock(
    tmp_path: Path, runtime: FakeRuntime, clock: ManualClock
) -> None:
    """A hook can wait on another thread that uses the supervisor: hooks hold no lock."""
    seen: list[Phase] = []
    blocked: list[bool] = []  # recorded, not asserted, in the hook: hook errors are only logged

    def hook(event: DecisionEvent) -> None:
        other = threading.Thread(target=lambda: seen.append(s.status(event.name).phase))
        other.start()
        other.join(2.0)
        blocked.append(other.is_alive())

    with Supervisor(runtime, str(tmp_path / "s.db"), clock=clock, on_decision=hook) as s:
        s.add("w", None, crash_policy())
        eventually(lambda: len(runtime.starts) == 1)
        die(s, runtime, clock, "r1", 1, 0.5)
        s.stop("w")
    assert blocked == [False, False]
    assert seen == [Phase.BACKING_OFF, Phase.STOPPED]


def test_stop_request_survives_a_supervisor_restart(tmp_path: Path, clock: ManualClock) -> None:
    """A stop asked while the runtime was unreachable still makes the later death STOPPED."""
    path = str(tmp_path / "s.db")
    first = FakeRuntime()
    with Supervisor(first, path, clock=clock) as s:
        s.add("w", None, crash_policy())
        eventually(lambda: s.status("w").phase is Phase.RUNNING)
        s.stop("w")  # the fake runtime "stops" nothing: the death is reported later
    events: list[DecisionEvent] = []
    second = FakeRuntime()
    second.world["w"] = Running()
    with Supervisor(second, path, clock=clock, on_decision=events.append) as s:
        s.add("w", None, crash_policy())
        die(s, second, clock, "r1", 143, 1.0)
    assert [e.outcome.cause for e in events] == [Cause.STOPPED]


def test_a_hook_may_wait_for_a_thread_that_decides(
    tmp_path: Path, runtime: FakeRuntime, clock: ManualClock
) -> None:
    """A hook blocked on another thread that itself makes a decision does not deadlock; both
    decisions reach the hook, in order."""
    seen: list[str] = []
    blocked: list[bool] = []  # recorded, not asserted, in the hook: hook errors are only logged

    def hook(event: DecisionEvent) -> None:
        seen.append(event.decision.action.name)
        if len(seen) == 1:
            other = threading.Thread(target=s.stop, args=("w",))
            other.start()
            other.join(2.0)
            blocked.append(other.is_alive())

    with Supervisor(runtime, str(tmp_path / "s.db"), clock=clock, on_decision=hook) as s:
        s.add("w", None, crash_policy())
        eventually(lambda: len(runtime.starts) == 1)
        die(s, runtime, clock, "r1", 1, 0.5)
        eventually(lambda: len(seen) == 2)
    assert blocked == [False]
    assert seen == ["RETRY", "STOP"]


def test_operator_start_after_give_up_starts_with_a_fresh_state(
    sup: Supervisor, runtime: FakeRuntime, clock: ManualClock, events: list[DecisionEvent]
) -> None:
    """start() after a give-up resets the budget and starts at once; it is a no-op while running."""
    sup.add("w", None, crash_policy(0))
    eventually(lambda: len(runtime.starts) == 1)
    die(sup, runtime, clock, "r1", 1, 0.5)
    assert sup.status("w").phase is Phase.GIVEN_UP
    sup.start("w")
    eventually(lambda: sup.status("w").phase is Phase.RUNNING)
    assert len(runtime.starts) == 2
    assert sup.status("w").restarts == 0
    sup.start("w")
    time.sleep(0.05)
    assert len(runtime.starts) == 2


@pytest.mark.parametrize(("resume", "start_stopped"), [(True, False), (False, False), (False, True)])
def test_a_stopped_workload_resumes_at_start_only_if_the_policy_or_the_caller_says_so(
    tmp_path: Path, clock: ManualClock, resume: bool, start_stopped: bool
) -> None:
    """Policy.resume_stopped (Docker's always vs unless-stopped) or add(start_stopped=True) (relaunch run):
    an operator stop survives a restart or not."""
    path = str(tmp_path / "s.db")
    policy = Policy(backoff=Constant(1.0), budget=CountBudget(3), resume_stopped=resume)
    first = FakeRuntime()
    with Supervisor(first, path, clock=clock) as s:
        s.add("w", None, policy)
        eventually(lambda: len(first.starts) == 1)
        s.stop("w")
        first.world["w"] = Ended(RunEnd("r1", clock.time() - 1, clock.time(), exit_code=0))
        s.run_ended("w", first.world["w"].end)
        assert s.status("w").phase is Phase.STOPPED
    second = FakeRuntime()
    second.world["w"] = first.world["w"]
    with Supervisor(second, path, clock=clock) as s:
        s.add("w", None, policy, start_stopped=start_stopped)
        if resume or start_stopped:
            eventually(lambda: second.starts == [("w", False)])
        else:
            time.sleep(0.05)
            assert second.starts == []
            assert s.status("w").phase is Phase.STOPPED


class KeptEndsRuntime(FakeRuntime):
    """A FakeRuntime that says it keeps every run's end (as Docker's container State does), and
    notes, at each start, the last run the store had committed a decision on."""

    keeps_run_ends = True

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.committed_at_start: list[str | None] = []

    def start(self, name: str, *, create: bool) -> None:
        self.committed_at_start.append(read_store(self.path)[1][name].last_run)
        super().start(name, create=create)


@pytest.mark.parametrize(
    ("keeps_ends", "cause", "lazy"),
    [
        (True, Cause.EXITED, True),
        (True, Cause.OOM, True),
        (True, Cause.LOST, False),
        (False, Cause.EXITED, False),
    ],
)
def test_a_restart_decision_is_committed_lazily_only_for_an_end_the_runtime_keeps(
    tmp_path: Path,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    keeps_ends: bool,
    cause: Cause,
    lazy: bool,
) -> None:
    """A decision to restart after a delay waits for the start it orders (which commits it before
    the runtime is asked) only if the runtime keeps that end exactly; otherwise it is committed
    at once."""
    monkeypatch.setattr(persistence, "LAZY_COMMIT_S", 30.0)  # so a prompt commit was an urgent one
    path = tmp_path / "state.db"
    runtime = KeptEndsRuntime(path)
    if not keeps_ends:
        runtime.keeps_run_ends = False
    with Supervisor(runtime, str(path), clock=clock) as sup:
        sup.add("w", None, crash_policy())
        eventually(lambda: len(runtime.starts) == 1)
        end = RunEnd("r1", clock.time() - 5.0, clock.time(), exit_code=1, cause=cause)
        runtime.world["w"] = Ended(end)
        sup.run_ended("w", end)
        assert sup.status("w").phase is Phase.BACKING_OFF
        if lazy:
            time.sleep(0.2)
            assert read_store(path)[1]["w"].last_run is None
        else:
            eventually(lambda: read_store(path)[1]["w"].last_run == "r1")
        clock.advance(1.0)
        eventually(lambda: len(runtime.starts) == 2)
    assert runtime.committed_at_start == [None, "r1"]


def test_a_first_start_is_submitted_ahead_of_restarts(
    tmp_path: Path, runtime: FakeRuntime, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workload's first start goes to the start workers as ``first`` (ahead of queued restarts,
    ``test_scheduler.py``); its restarts do not."""
    submitted: list[bool] = []
    submit = Scheduler.submit

    def noting(self: Scheduler, call: Callable[[], None], *, first: bool = False) -> None:
        submitted.append(first)
        submit(self, call, first=first)

    monkeypatch.setattr(Scheduler, "submit", noting)
    policy = Policy(backoff=Constant(0.0), budget=CountBudget(5))
    with Supervisor(runtime, str(tmp_path / "state.db"), clock=clock) as sup:
        sup.add("w", None, policy)
        eventually(lambda: len(runtime.starts) == 1)
        die(sup, runtime, clock, "r1", 1, 0.5)
        eventually(lambda: len(runtime.starts) == 2)
    assert submitted == [True, False]
    assert runtime.starts == [("w", True), ("w", False)]


class SlowObserveRuntime(FakeRuntime):
    """A FakeRuntime whose observe takes as long as a slow engine's inspect."""

    def observe(self, name: str) -> Observation:
        time.sleep(0.2)
        return super().observe(name)


def saved_start(path: Path, clock: ManualClock, *, fresh: bool, last_run: str | None) -> None:
    """The store a supervisor leaves when killed after recording a start (phase STARTING) and
    before recording anything of the run it made."""
    store = SqliteStore(str(path))
    store.open(FakeRuntime.supervisor_id)
    record = WorkloadRecord(
        name="w",
        state=crash_policy().start(at=clock.time()),
        phase=Phase.STARTING,
        fresh=fresh,
        restart_at=None,
        stop_requested=False,
        last_run=last_run,
        last_outcome=None,
        reason=None,
        rule=None,
        run=None,
    )
    try:
        store.commit([record], None)
    finally:
        store.close()


@pytest.mark.parametrize("fresh", [True, False])
def test_a_recorded_start_whose_run_has_ended_is_judged_not_started_again(
    tmp_path: Path, clock: ManualClock, events: list[DecisionEvent], fresh: bool
) -> None:
    """A start recorded by a killed supervisor, whose run began and ended unseen, is judged (its
    crash counted) by the next supervisor before any new start, for a first start too."""
    path = tmp_path / "state.db"
    saved_start(path, clock, fresh=fresh, last_run=None if fresh else "r0")
    clock.advance(1.0)
    runtime = SlowObserveRuntime()
    runtime.world["w"] = Ended(RunEnd("r1", clock.time() - 0.5, clock.time(), exit_code=1))
    with Supervisor(runtime, str(path), clock=clock, on_decision=events.append) as sup:
        sup.add("w", None, crash_policy())
        eventually(lambda: len(events) == 1)
        assert (events[0].run, sup.status("w").restarts) == ("r1", 1)
        time.sleep(0.1)
        assert runtime.starts == []  # the restart waits for its delay (1 s on the clock)
        clock.advance(1.0)
        eventually(lambda: len(runtime.starts) == 1)


def test_a_run_that_ended_before_the_first_supervisor_is_not_judged(
    tmp_path: Path, clock: ManualClock, events: list[DecisionEvent]
) -> None:
    """A new workload whose run ended before it was supervised is started, its end not counted."""
    runtime = FakeRuntime()
    runtime.world["w"] = Ended(RunEnd("old", clock.time() - 10, clock.time() - 5, exit_code=1))
    with Supervisor(runtime, str(tmp_path / "state.db"), clock=clock, on_decision=events.append) as sup:
        sup.add("w", None, crash_policy())
        eventually(lambda: len(runtime.starts) == 1)
        assert (events, sup.status("w").restarts) == ([], 0)
