"""The runtimes the conformance suite runs against, each behind one small kit.

A kit makes runtimes of one kind that share one world (so a second supervisor finds what the
first left running), and specs of three kinds: one that runs until stopped, one that exits with
a given code after a moment, one that cannot start. ``live_copies`` counts the runs of a
workload that are alive in the world, by the runtime's own means of finding them (a process's
mark, a container's label), so a test can check that nothing runs twice and nothing is left
untracked.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from relaunch.adapters.runtime import (
    Ended,
    LiveRun,
    Missing,
    Observation,
    Resume,
    RunEnd,
    Running,
    Sink,
    StartError,
)

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float = 20.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something true, and return that; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Kit(Protocol):
    name: str

    def runtime(self) -> Any: ...

    def forever(self) -> Any: ...

    def exits(self, code: int, after: float = 0.2) -> Any: ...

    def unstartable(self) -> Any: ...

    def live_copies(self, workload: str) -> int: ...

    def cleanup(self) -> None: ...


# -- an in-memory runtime that keeps the contract ----------------------------------------------


@dataclass(frozen=True)
class SimSpec:
    """A simulated workload: runs ``run_for`` seconds (None: until stopped) and exits ``code``."""

    run_for: float | None = None
    code: int = 0
    startable: bool = True


@dataclass
class _SimRun:
    key: str
    started_at: float
    spec: SimSpec
    timer: threading.Timer | None = None


@dataclass
class World:
    """What simulated runtimes share: the live runs, as processes outlive their supervisor."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    runs: dict[str, _SimRun] = field(default_factory=dict)
    ended: dict[str, RunEnd] = field(default_factory=dict)
    keys: itertools.count[int] = field(default_factory=itertools.count)


class SimulatedRuntime:
    """The runtime contract (``runtime.py``) over a :class:`World`, with no engine at all."""

    supervisor_id = "sim"

    def __init__(self, world: World) -> None:
        self._world = world
        self._sink: Sink | None = None
        self._specs: dict[str, SimSpec] = {}
        self._closed = False

    def open(self, sink: Sink, resume: Resume) -> None:
        self._sink = sink

    def watch(self, name: str, spec: Any, run: LiveRun | None) -> None:
        if not isinstance(spec, SimSpec):
            raise TypeError(f"spec: must be a SimSpec, got {type(spec).__name__}")
        self._specs[name] = spec
        with self._world.lock:
            live = self._world.runs.get(name)
            if live is not None and live.timer is None and spec.run_for is not None:
                self._arm(name, live)

    def observe(self, name: str) -> Observation:
        with self._world.lock:
            run = self._world.runs.get(name)
            if run is not None:
                return Running(LiveRun(run.key, run.started_at))
            end = self._world.ended.get(name)
        return Missing() if end is None else Ended(end)

    def start(self, name: str, *, create: bool) -> None:
        spec = self._specs[name]
        if not spec.startable:
            raise StartError(f"{name}: cannot start (simulated)")
        with self._world.lock:
            if name in self._world.runs:
                return
            run = _SimRun(f"sim-{next(self._world.keys)}", time.time(), spec)
            self._world.runs[name] = run
        assert self._sink is not None
        self._sink.run_started(name, LiveRun(run.key, run.started_at))
        if spec.run_for is not None:
            with self._world.lock:
                self._arm(name, run)

    def stop(self, name: str) -> None:
        with self._world.lock:
            run = self._world.runs.get(name)
        if run is None:
            assert self._sink is not None
            self._sink.removed(name)
            return
        self._end(name, run, 0)

    def close(self) -> None:
        self._closed = True
        with self._world.lock:
            for run in self._world.runs.values():
                if run.timer is not None:
                    run.timer.cancel()
                    run.timer = None

    def _arm(self, name: str, run: _SimRun) -> None:
        assert run.spec.run_for is not None
        run.timer = threading.Timer(run.spec.run_for, self._end, (name, run, run.spec.code))
        run.timer.daemon = True
        run.timer.start()

    def _end(self, name: str, run: _SimRun, code: int) -> None:
        with self._world.lock:
            if self._world.runs.get(name) is not run:
                return
            del self._world.runs[name]
            if run.timer is not None:
                run.timer.cancel()
            end = RunEnd(run.key, run.started_at, time.time(), exit_code=code)
            self._world.ended[name] = end
        if not self._closed and self._sink is not None:
            self._sink.run_ended(name, end)


class SimulatedKit:
    name = "simulated"

    def __init__(self) -> None:
        self.world = World()

    def runtime(self) -> SimulatedRuntime:
        return SimulatedRuntime(self.world)

    def forever(self) -> SimSpec:
        return SimSpec()

    def exits(self, code: int, after: float = 0.2) -> SimSpec:
        return SimSpec(run_for=after, code=code)

    def unstartable(self) -> SimSpec:
        return SimSpec(startable=False)

    def live_copies(self, workload: str) -> int:
        with self.world.lock:
            return int(workload in self.world.runs)

    def cleanup(self) -> None:
        with self.world.lock:
            self.world.runs.clear()


# -- local processes ------------------------------------------------------------------------


def marked_pids(workload: str, owner_prefix: str = "process:") -> list[int]:
    """Live process group leaders marked as ``workload`` by a process runtime."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes().split(b"\0")
            stat = Path(entry.path, "stat").read_text(errors="replace")
        except OSError:
            continue
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if state in ("Z", "X") or int(pgrp) != int(entry.name):
            continue
        marks = {v.split(b"=", 1)[0]: v.split(b"=", 1)[1] for v in environ if b"=" in v}
        owner = marks.get(b"RELAUNCH_OWNER", b"").decode()
        if owner.startswith(owner_prefix) and marks.get(b"RELAUNCH_WORKLOAD") == workload.encode():
            pids.append(int(entry.name))
    return pids


class ProcessKit:
    name = "process"

    def __init__(self) -> None:
        from relaunch.adapters.process import ProcessSpec

        self._spec = ProcessSpec
        self.names: set[str] = set()

    def runtime(self) -> Any:
        from relaunch.adapters.process import ProcessRuntime

        return ProcessRuntime(stop_grace=0.5)

    def forever(self) -> Any:
        return self._spec(["sleep", "1000"])

    def exits(self, code: int, after: float = 0.2) -> Any:
        return self._spec(["sh", "-c", f"sleep {after}; exit {code}"])

    def unstartable(self) -> Any:
        return self._spec(["/nonexistent/relaunch-test-binary"])

    def live_copies(self, workload: str) -> int:
        self.names.add(workload)
        return len(marked_pids(workload))

    def cleanup(self) -> None:
        for name in self.names:
            for pid in marked_pids(name):
                os.killpg(pid, 9)


# -- containers -----------------------------------------------------------------------------


class ContainerKit:
    """The Docker runtime on one engine; ``name`` is its kind, "docker" or "podman"."""

    def __init__(self, host: str, supervisor_id: str, name: str = "docker") -> None:
        import docker

        self.name = name
        self.host = host
        self.supervisor_id = supervisor_id
        self.client = docker.DockerClient(base_url=host, timeout=30)

    def runtime(self) -> Any:
        from dockerkit import FAST
        from relaunch.adapters.docker import DockerRuntime

        return DockerRuntime(self.supervisor_id, base_url=self.host, **FAST)

    def forever(self) -> Any:
        from dockerkit import RUN_FOREVER, spec

        return spec(RUN_FOREVER)

    def exits(self, code: int, after: float = 0.2) -> Any:
        from dockerkit import spec

        return spec(f"sleep {after}; exit {code}")

    def unstartable(self) -> Any:
        from conftest import IMAGE
        from relaunch.adapters.docker import ContainerSpec

        return ContainerSpec(IMAGE, ["/nonexistent/relaunch-test-binary"], {"network_mode": "none"})

    def live_copies(self, workload: str) -> int:
        running = self.client.containers.list(
            filters={
                "label": [f"io.relaunch.supervisor={self.supervisor_id}", f"io.relaunch.workload={workload}"]
            }
        )
        return len(running)

    def cleanup(self) -> None:
        from conftest import remove_labelled

        remove_labelled(self.client, self.supervisor_id)
        self.client.close()
