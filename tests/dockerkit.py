"""Helpers for the Docker tests: a supervisor harness that records decisions, and waiting."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

from conftest import IMAGE
from relaunch import Action, Cause
from relaunch.adapters.docker import ContainerSpec, DockerRuntime, container_name
from relaunch.adapters.supervisor import DecisionEvent, Phase, Supervisor

# Exits 0 at once on SIGTERM (a shell as PID 1 otherwise ignores it and `docker stop` waits for
# its timeout, measured), so stops and daemon shutdowns take milliseconds.
RUN_FOREVER = "trap 'exit 0' TERM; sleep 1000 & wait"

# Short test timings (backoffs of 0.05 to 0.5 s, so a test of many restarts takes seconds); the
# watchdog notices a frozen daemon within ping_interval + ping_timeout.
FAST = {
    "stop_grace": 0.5,
    "ping_interval": 0.2,
    "ping_timeout": 0.5,
    "reconnect_initial": 0.05,
    "reconnect_cap": 0.5,
    "api_timeout": 5.0,
    "stop_timeout": 5,
}


def spec(command: str, **options: Any) -> ContainerSpec:
    return ContainerSpec(IMAGE, ["sh", "-c", command], {"network_mode": "none", **options})


def engine_events(
    client: docker.DockerClient, since: float, *, podman: bool, **filters: str | list[str]
) -> list[dict[str, Any]]:
    """The engine's events from ``since`` (Unix seconds) until now, for the test's own checks.

    Whole seconds, the only kind Podman takes (a fraction gives no events, measured), so the
    window reaches up to a second back and ``until`` waits for the next second; Podman filters by
    its own event names (``died`` for ``die``).
    """
    if podman and "event" in filters:
        names = [filters["event"]] if isinstance(filters["event"], str) else filters["event"]
        filters["event"] = ["died" if e == "die" else e for e in names]
    events = client.api.events(
        since=int(since), until=math.ceil(time.time()), filters={"type": "container", **filters}, decode=True
    )
    return [e for e in events if int(e["timeNano"]) >= since * 1e9]


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


@dataclass
class Harness:
    """One supervisor on one engine, recording every decision it makes."""

    supervisor: Supervisor
    runtime: DockerRuntime
    host: str
    decisions: list[DecisionEvent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, name: str) -> list[DecisionEvent]:
        with self.lock:
            return [d for d in self.decisions if d.name == name]

    def actions(self, name: str) -> list[Action]:
        return [d.decision.action for d in self.of(name)]

    def causes(self, name: str) -> list[Cause]:
        return [d.outcome.cause for d in self.of(name)]

    def wait_decisions(self, name: str, count: int, timeout: float = 15.0) -> list[DecisionEvent]:
        wait_until(lambda: len(self.of(name)) >= count, timeout, f"{count} decisions for {name}")
        return self.of(name)

    def wait_phase(self, name: str, phase: Phase, timeout: float = 15.0) -> None:
        wait_until(lambda: self.supervisor.status(name).phase is phase, timeout, f"{name} {phase}")

    def container(self, client: docker.DockerClient, name: str) -> Any:
        return client.containers.get(container_name(self.runtime.supervisor_id, name))


class Harnesses:
    """Makes harnesses and closes them all at the end of the test."""

    def __init__(self, host: str, supervisor_id: str, tmp_path: Path) -> None:
        self.host = host
        self.supervisor_id = supervisor_id
        self.state_path = str(tmp_path / "state.json")
        self.made: list[Harness] = []

    def __call__(self, host: str | None = None, **runtime_options: Any) -> Harness:
        host = host or self.host
        runtime = DockerRuntime(self.supervisor_id, base_url=host, **{**FAST, **runtime_options})
        harness_decisions: list[DecisionEvent] = []
        lock = threading.Lock()

        def record(event: DecisionEvent) -> None:
            with lock:
                harness_decisions.append(event)

        sup = Supervisor(runtime, self.state_path, on_decision=record)
        harness = Harness(sup, runtime, host, harness_decisions, lock)
        self.made.append(harness)
        return harness

    def close(self) -> None:
        for harness in self.made:
            harness.supervisor.close()
