"""Every runtime keeps the contract of ``relaunch/adapters/runtime.py``, seen through the core.

The same tests run against the simulated runtime, the process runtime and the Docker runtime,
on Docker (DOCKER_HOST) and on Podman (PODMAN_HOST); skipped without one, a failure in CI.
Each test names the clause of the contract it checks.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ENGINES, engine_host
from relaunch import Action, Cause, Constant, CountBudget, Policy, Rule
from relaunch.adapters.runtime import Ended, Running, RuntimeUnavailable
from relaunch.adapters.store import StoreBusy
from relaunch.adapters.supervisor import DecisionEvent, Phase, Supervisor
from runtimes import ContainerKit, Kit, ProcessKit, SimulatedKit, wait_for


@pytest.fixture(params=["simulated", "process", "docker", "podman"])
def kit(request: pytest.FixtureRequest) -> Iterator[Kit]:
    made: Kit
    if request.param == "simulated":
        made = SimulatedKit()
    elif request.param == "process":
        made = ProcessKit()
    else:
        kind = ENGINES[request.param]
        made = ContainerKit(engine_host(kind), "t" + uuid.uuid4().hex[:10], kind.name)
    yield made
    made.cleanup()


class Supervised:
    """Supervisors of one kit on one store, recording decisions; all closed at the end."""

    def __init__(self, kit: Kit, path: Path) -> None:
        self.kit = kit
        self.path = str(path / "state.db")
        self.events: list[DecisionEvent] = []
        self.open: list[Supervisor] = []

    def __call__(self) -> Supervisor:
        sup = Supervisor(self.kit.runtime(), self.path, on_decision=self.events.append)
        self.open.append(sup)
        return sup

    def close(self, sup: Supervisor) -> None:
        sup.close()
        self.open.remove(sup)

    def decisions(self, name: str, count: int) -> list[DecisionEvent]:
        return wait_for(lambda: len(of := [e for e in self.events if e.name == name]) >= count and of)


@pytest.fixture
def supervised(kit: Kit, tmp_path: Path) -> Iterator[Supervised]:
    made = Supervised(kit, tmp_path)
    yield made
    for sup in list(made.open):
        for name in sup.names():
            if sup.status(name).phase in (Phase.RUNNING, Phase.STARTING):
                sup.stop(name)
        sup.close()


def workload() -> str:
    return "w" + uuid.uuid4().hex[:8]


def policy(restarts: int = 3) -> Policy:
    return Policy(backoff=Constant(0.05), budget=CountBudget(restarts))


def test_a_started_run_is_reported_and_observed_running(kit: Kit, supervised: Supervised) -> None:
    """start: a run that starts is reported (run_started) and observe() says Running."""
    sup, name = supervised(), workload()
    sup.add(name, kit.forever(), policy())
    wait_for(lambda: sup.status(name).phase is Phase.RUNNING)
    assert isinstance(sup._runtime.observe(name), Running)
    assert kit.live_copies(name) == 1


def test_an_ended_run_is_reported_once_with_its_exit_code(kit: Kit, supervised: Supervised) -> None:
    """run_ended: each run's end is reported once, with its exit code, and observe() agrees."""
    sup, name = supervised(), workload()
    sup.add(name, kit.exits(3), policy(1))
    first, second = supervised.decisions(name, 2)[:2]
    assert (first.outcome.cause, first.outcome.exit_code) == (Cause.EXITED, 3)
    assert first.decision.action is Action.RETRY
    assert second.decision.action is Action.GIVE_UP
    assert first.run != second.run  # two runs, each decided once
    time.sleep(0.3)
    assert len([e for e in supervised.events if e.name == name]) == 2
    observed = sup._runtime.observe(name)
    assert isinstance(observed, Ended)
    assert observed.end.run == second.run


def test_a_workload_that_cannot_start_is_a_start_failure(kit: Kit, supervised: Supervised) -> None:
    """start: StartError for a workload that cannot be started at all; nothing is left running."""
    sup, name = supervised(), workload()
    sup.add(name, kit.unstartable(), policy())
    event = supervised.decisions(name, 1)[0]
    assert (event.outcome.cause, event.run) == (Cause.START_FAILED, None)
    assert kit.live_copies(name) == 0


def test_an_operator_stop_ends_the_run_as_stopped(kit: Kit, supervised: Supervised) -> None:
    """stop: the live run is stopped and its end reported; the core never restarts it."""
    sup, name = supervised(), workload()
    sup.add(name, kit.forever(), policy())
    wait_for(lambda: sup.status(name).phase is Phase.RUNNING)
    sup.stop(name)
    event = supervised.decisions(name, 1)[0]
    assert (event.outcome.cause, event.decision.rule) == (Cause.STOPPED, Rule.OPERATOR_STOP)
    wait_for(lambda: kit.live_copies(name) == 0)


def test_close_leaves_the_run_and_the_next_supervisor_adopts_it(kit: Kit, supervised: Supervised) -> None:
    """close/watch: close() is prompt and leaves the run; the next supervisor adopts that one run."""
    first, name = supervised(), workload()
    first.add(name, kit.forever(), policy())
    wait_for(lambda: first.status(name).phase is Phase.RUNNING)
    began = time.monotonic()
    supervised.close(first)
    assert time.monotonic() - began < 2.0
    assert kit.live_copies(name) == 1
    second = supervised()
    second.add(name, kit.forever(), policy())
    wait_for(lambda: second.status(name).phase is Phase.RUNNING)
    time.sleep(0.3)
    assert kit.live_copies(name) == 1  # adopted, not started again
    assert [e for e in supervised.events if e.name == name] == []


def test_a_second_supervisor_on_the_store_is_refused(kit: Kit, supervised: Supervised) -> None:
    """One owner: a second supervisor on a held store refuses at once, naming the holder, and its
    runtime, never opened, has started no thread."""
    supervised()
    before = {t.ident for t in threading.enumerate()}
    runtime = kit.runtime()
    try:
        with pytest.raises(StoreBusy, match=r"pid \d+ on "):
            Supervisor(runtime, supervised.path)
        assert [t.name for t in threading.enumerate() if t.ident not in before] == []
    finally:
        runtime.close()


def test_watch_refuses_a_spec_of_another_runtime(kit: Kit, supervised: Supervised) -> None:
    """watch: a spec of the wrong kind is a TypeError, and nothing is added."""
    sup = supervised()
    with pytest.raises(TypeError, match="spec"):
        sup.add(workload(), object(), policy())
    assert sup.names() == []


def test_stop_before_any_start_is_reported_as_removed(kit: Kit, supervised: Supervised) -> None:
    """stop: with nothing running and no end on its way, the runtime reports the workload removed."""
    sup, name = supervised(), workload()
    sup.add(name, kit.forever(), policy())
    wait_for(lambda: sup.status(name).phase is Phase.RUNNING)
    sup.stop(name)
    supervised.decisions(name, 1)
    wait_for(lambda: kit.live_copies(name) == 0)
    try:
        sup._runtime.stop(name)  # nothing runs now
    except RuntimeUnavailable:  # pragma: no cover - only if the engine went away
        pytest.fail("the runtime was unavailable")
    assert sup.status(name).phase is Phase.STOPPED
