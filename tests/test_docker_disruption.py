"""Engine disruptions on a second private engine: SIGTERM, SIGKILL, SIGSTOP of the engine itself.

Each test signals only the engine the ``second_engine`` fixture started (dockerd, or the Podman
service), by its pid. Docker: deaths the daemon causes are ``LOST``; under
``presets.recommended()`` they cost no budget, while under ``presets.toolhive(max_retries=3)``
repeated disruptions exhaust it: ToolHive issue #5171. Podman: containers are children of conmon
and outlive the service, so a disruption kills nothing and a death meanwhile is an ordinary one,
read from the events file that outlived the service too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator

import docker
import pytest

from conftest import Engine
from dockerkit import RUN_FOREVER, Harness, Harnesses, spec, wait_until
from relaunch import Action, Cause, Rule, presets
from relaunch.adapters.supervisor import Phase

pytestmark = pytest.mark.docker

# Longer than the ~1.0 s measured between the last `stop` event of a daemon shutdown and the end
# of the events stream, so a shutdown is never mistaken for an operator's stop.
DISRUPTION = {"stop_grace": 2.0}


@pytest.fixture
def engine(second_engine: Engine) -> Iterator[Engine]:
    """The second engine, running and not frozen before and after each test."""
    second_engine.start()
    yield second_engine
    # Never leave it frozen; if it is not running at all, start() below brings it back.
    with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
        os.kill(second_engine.pid, signal.SIGCONT)
    second_engine.start()


@pytest.fixture
def engine_client(engine: Engine, supervisor_id: str) -> Iterator[docker.DockerClient]:
    from conftest import remove_labelled

    client = docker.DockerClient(base_url=engine.host, timeout=30)
    yield client
    remove_labelled(client, supervisor_id)
    client.close()


def disrupt(engine: Engine, sig: signal.Signals) -> None:
    """Take the daemon away with ``sig`` and bring it back (SIGSTOP: 5 s frozen, then SIGCONT)."""
    if sig is signal.SIGSTOP:
        pid = engine.signal(signal.SIGSTOP)
        time.sleep(5.0)
        os.kill(pid, signal.SIGCONT)
        return
    pid = engine.signal(sig)
    engine.wait_gone(pid)
    engine.start()


def wait_running(h: Harness, *names: str, timeout: float = 30.0) -> None:
    """Running, and the runtime following events: Podman's connection takes 0.3 s or more (its
    /info runs conmon and runc), and a disruption before it ends would test something else."""
    for name in names:
        h.wait_phase(name, Phase.RUNNING, timeout)
    wait_until(lambda: h.runtime._events._connected.is_set(), timeout, "the runtime connected")


def assert_survived(h: Harness, client: docker.DockerClient, runs: dict[str, str]) -> None:
    """Podman: each container still runs its run from before (StartedAt), and nothing was decided,
    once the runtime has reconnected and reconciled (2 s: ten reconnect attempts at most)."""
    time.sleep(2.0)
    wait_until(lambda: h.runtime._events._connected.is_set(), what="the runtime reconnected")
    for name, run in runs.items():
        container = h.container(client, name)
        assert (container.status, container.attrs["State"]["StartedAt"]) == ("running", run), name
        assert h.of(name) == [], name
        assert h.supervisor.status(name).phase is Phase.RUNNING


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_daemon_restart_is_lost_and_costs_no_budget(
    harness: Harnesses, engine: Engine, engine_client: docker.DockerClient, sig: signal.Signals
) -> None:
    """A daemon SIGTERM or SIGKILL, then restart: the death is LOST, restarted, budget untouched.

    Podman: the container survives the service (same run, no decision), and an operator's kill
    after the restart is seen as usual: the runtime is following the new service."""
    policy = presets.recommended()
    h = harness(engine.host, **DISRUPTION)
    h.supervisor.add("svc", spec(RUN_FOREVER), policy)
    wait_running(h, "svc")
    container = h.container(engine_client, "svc")
    run = container.attrs["State"]["StartedAt"]
    disrupt(engine, sig)
    if engine.kind.podman:
        assert_survived(h, engine_client, {"svc": run})
        container.kill()
        [event] = h.wait_decisions("svc", 1, timeout=30)
        assert (event.outcome.cause, event.decision.rule) == (Cause.STOPPED, Rule.OPERATOR_STOP)
        return
    [event] = h.wait_decisions("svc", 1, timeout=30)
    assert event.outcome.cause is Cause.LOST
    # recommended() restarts a lost run as after a stable one (RESET); either way, restarted.
    assert event.decision.restarts
    assert event.decision.rule is Rule.LOST
    assert event.decision.state.budget == policy.start(at=0.0).budget
    wait_running(h, "svc")
    container.reload()
    assert container.attrs["State"]["Running"]
    assert container.id == h.container(engine_client, "svc").id


def test_frozen_daemon_is_noticed_and_deaths_meanwhile_are_lost(
    harness: Harnesses,
    engine: Engine,
    engine_client: docker.DockerClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """dockerd SIGSTOPped for 5 s: the watchdog notices, a container that keeps running is left
    alone (same run, no decision), and one that died during the freeze is LOST and restarted.

    Podman: the one that died is what it was, a failure (exit 1, counted), restarted by the
    policy: its cleanup process wrote its death to the events file while the service was frozen.
    """
    caplog.set_level(logging.WARNING, logger="relaunch.docker")
    policy = presets.recommended()
    h = harness(engine.host, **DISRUPTION)
    h.supervisor.add("steady", spec(RUN_FOREVER), policy)
    h.supervisor.add("dies", spec("sleep 1.5; exit 1"), policy)
    wait_running(h, "steady", "dies")
    steady = h.container(engine_client, "steady")
    steady.reload()
    steady_run = steady.attrs["State"]["StartedAt"]
    disrupt(engine, signal.SIGSTOP)
    [event] = h.wait_decisions("dies", 1, timeout=30)
    if engine.kind.podman:
        assert (event.outcome.cause, event.outcome.exit_code) == (Cause.EXITED, 1)
        assert event.decision.action is Action.RETRY
        assert event.decision.state.budget != policy.start(at=0.0).budget
    else:
        assert event.outcome.cause is Cause.LOST
        assert event.decision.state.budget == policy.start(at=0.0).budget
    wait_running(h, "dies")
    assert "docker ping failed" in caplog.text
    steady.reload()
    assert steady.attrs["State"]["StartedAt"] == steady_run
    assert h.of("steady") == []
    assert h.supervisor.status("steady").phase is Phase.RUNNING


def test_issue_5171_repeated_disruptions_exhaust_toolhive_but_not_recommended(
    harness: Harnesses, engine: Engine, engine_client: docker.DockerClient
) -> None:
    """Three daemon restarts kill two healthy services: toolhive(max_retries=3) gives up on its
    one (every run short, LOST counted as a crash), recommended() keeps its one running.

    Podman: three service restarts kill neither; both run their first run throughout."""
    toolhive = presets.toolhive(max_retries=3, initial_delay=0.05, max_backoff=0.2)
    h = harness(engine.host, **DISRUPTION)
    h.supervisor.add("toolhive", spec(RUN_FOREVER), toolhive)
    h.supervisor.add("recommended", spec(RUN_FOREVER), presets.recommended())
    wait_running(h, "toolhive", "recommended")
    if engine.kind.podman:
        runs = {
            n: h.container(engine_client, n).attrs["State"]["StartedAt"] for n in ("toolhive", "recommended")
        }
        for round_ in range(1, 4):
            disrupt(engine, signal.SIGTERM if round_ != 2 else signal.SIGKILL)
            assert_survived(h, engine_client, runs)
        return
    for round_ in range(1, 4):
        disrupt(engine, signal.SIGTERM if round_ != 2 else signal.SIGKILL)
        h.wait_decisions("toolhive", round_, timeout=30)
        h.wait_decisions("recommended", round_, timeout=30)
        wait_running(h, "recommended")
        if round_ < 3:
            wait_running(h, "toolhive")
    assert h.causes("toolhive") == [Cause.LOST] * 3
    assert h.actions("toolhive") == [Action.RETRY, Action.RETRY, Action.GIVE_UP]
    assert h.supervisor.status("toolhive").phase is Phase.GIVEN_UP
    assert h.causes("recommended") == [Cause.LOST] * 3
    assert all(d.decision.restarts and d.decision.rule is Rule.LOST for d in h.of("recommended"))
    assert h.of("recommended")[-1].decision.state.budget == presets.recommended().start(at=0.0).budget
    wait_until(lambda: h.container(engine_client, "recommended").status == "running", what="running")
    assert h.container(engine_client, "toolhive").status == "exited"


def test_reconnects_forever_with_capped_backoff(
    harness: Harnesses, engine: Engine, engine_client: docker.DockerClient, caplog: pytest.LogCaptureFixture
) -> None:
    """While the daemon is down the runtime retries with backoff (0.05 s doubling, capped at 0.5 s
    here): a handful of attempts per second, neither a spin nor a give-up; then it is back."""
    caplog.set_level(logging.WARNING, logger="relaunch.docker")
    h = harness(engine.host, **DISRUPTION)
    h.supervisor.add("svc", spec(RUN_FOREVER), presets.recommended())
    wait_running(h, "svc")
    run = h.container(engine_client, "svc").attrs["State"]["StartedAt"]
    engine.wait_gone(engine.signal(signal.SIGKILL))

    def attempts() -> int:
        return sum("docker unreachable" in r.getMessage() for r in caplog.records)

    time.sleep(3.0)
    first = attempts()
    # 0.05 + 0.1 + 0.2 + 0.4 + 0.5 * 4 = 2.75 s: about 8 attempts in 3 s; a spin makes hundreds.
    assert 5 <= first <= 12, first
    time.sleep(1.0)
    assert 1 <= attempts() - first <= 3  # still trying, at the cap
    engine.start()
    if engine.kind.podman:  # the container outlived the service
        assert_survived(h, engine_client, {"svc": run})
        return
    [event] = h.wait_decisions("svc", 1, timeout=30)
    assert event.outcome.cause is Cause.LOST
    wait_running(h, "svc")


def test_supervisor_made_while_the_daemon_is_down_waits_for_it(
    harness: Harnesses, engine: Engine, engine_client: docker.DockerClient
) -> None:
    """With the daemon down, a new supervisor still takes its workloads (pending), and creates and
    starts them once the daemon answers; a first start is not a restart, so no decision."""
    engine.wait_gone(engine.signal(signal.SIGTERM))
    h = harness(engine.host, **DISRUPTION)
    h.supervisor.add("svc", spec(RUN_FOREVER), presets.recommended())
    assert h.supervisor.status("svc").phase is Phase.PENDING
    time.sleep(1.0)
    engine.start()
    wait_running(h, "svc")
    assert h.container(engine_client, "svc").status == "running"
    assert h.of("svc") == []


def test_slow_daemon_shutdown_is_still_lost(
    harness: Harnesses, engine: Engine, engine_client: docker.DockerClient
) -> None:
    """A daemon SIGTERM where one container ignores SIGTERM (killed after the 10 s stop timeout):
    the quick one's death is LOST, not an operator's stop, although the shutdown lasts 10 s,
    far past the stop grace. (The events stream ended at once in some runs and only after the
    slow container in others, measured; the daemon refuses new connections at once either way,
    which the watchdog's ping notices.)

    Podman: the service's shutdown stops no container, quick or slow."""
    h = harness(engine.host, **DISRUPTION)
    h.supervisor.add("quick", spec(RUN_FOREVER), presets.recommended())
    h.supervisor.add("slow", spec("trap '' TERM; sleep 1000 & wait"), presets.recommended())
    wait_running(h, "quick", "slow")
    runs = {n: h.container(engine_client, n).attrs["State"]["StartedAt"] for n in ("quick", "slow")}
    disrupt(engine, signal.SIGTERM)
    if engine.kind.podman:
        assert_survived(h, engine_client, runs)
        return
    quick = h.wait_decisions("quick", 1, timeout=30)[0]
    slow = h.wait_decisions("slow", 1, timeout=30)[0]
    assert slow.outcome.ended_at - quick.outcome.ended_at > 9.0  # the shutdown really was slow
    assert (quick.outcome.cause, slow.outcome.cause) == (Cause.LOST, Cause.LOST)
    wait_running(h, "quick", "slow")


def test_death_while_the_engine_is_down(
    harness: Harnesses, engine: Engine, engine_client: docker.DockerClient
) -> None:
    """A container that exits 3 while its engine is SIGKILLed and down. Docker: LOST (dockerd's
    restore finds it ended, inside the outage). Podman: the exit 3 as it was, a failure counted,
    from the events file its cleanup process wrote while the service was down."""
    policy = presets.recommended()
    h = harness(engine.host, **DISRUPTION)
    h.supervisor.add("w", spec("sleep 1.5; exit 3"), policy)
    wait_running(h, "w")
    pid = engine.signal(signal.SIGKILL)
    engine.wait_gone(pid)
    time.sleep(2.5)
    engine.start()
    [event] = h.wait_decisions("w", 1, timeout=30)
    if engine.kind.podman:
        assert (event.outcome.cause, event.outcome.exit_code) == (Cause.EXITED, 3)
        assert event.decision.state.budget != policy.start(at=0.0).budget
    else:
        assert event.outcome.cause is Cause.LOST
        assert event.decision.state.budget == policy.start(at=0.0).budget
    wait_running(h, "w")
