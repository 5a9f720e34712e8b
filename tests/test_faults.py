"""The supervisor core under real faults: SIGKILL at any instant, two owners, too few descriptors,
crash loops that outlive supervisors, a full disk and a read-only file system.

No mocks: real supervisor processes (``fault_supervisor.py``) killed with SIGKILL, real
``RLIMIT_NOFILE`` limits, and a small tmpfs this test mounts, fills, remounts read-only and
unmounts (it needs root, as CI and this machine have).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import random
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import docker
import pytest

from conftest import IMAGE, EngineKind
from dockerkit import engine_events
from relaunch import Constant, CountBudget, Policy
from relaunch.adapters.docker import LABEL_SUPERVISOR
from relaunch.adapters.process import ProcessRuntime, ProcessSpec
from relaunch.adapters.store import StoreBusy, StoreError, read_store
from relaunch.adapters.supervisor import DecisionEvent, Phase, Supervisor
from runtimes import marked_pids, wait_for

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "fault_supervisor.py"


def owner_of(store: Path) -> str:
    return f"process:{read_store(store)[0].store_id}"


def kill_marked(names: list[str]) -> None:
    for name in names:
        for pid in marked_pids(name):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def launch(tmp: Path, config: dict[str, Any]) -> subprocess.Popen[str]:
    """The fault supervisor, its stdout a pipe (spawn lines) and its stderr ``tmp/log``.

    The workloads inherit the supervisor's streams, so a pipe would stay open as long as they
    run: read lines from stdout, never wait for its end.
    """
    path = tmp / f"config-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(config))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with open(tmp / "log", "a") as log:
        return subprocess.Popen(
            [sys.executable, str(SCRIPT), str(path)],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )


def kill_when_ready_and_a_while_after(tmp_path: Path, config: dict[str, Any], rng: random.Random) -> None:
    """A supervisor process SIGKILLed at a random instant up to 1.2 s after it said it was ready."""
    proc = launch(tmp_path, config)
    assert proc.stdout is not None
    read_until(proc.stdout, lambda line: line.startswith("ready"))
    time.sleep(rng.uniform(0.0, 1.2))
    proc.kill()
    proc.wait()


def read_until(stream: IO[str], predicate: Callable[[str], bool], timeout: float = 30.0) -> str:
    """Read lines until one satisfies ``predicate``; fail (never hang) after ``timeout`` seconds.

    Reads the pipe's descriptor directly, byte by byte: a buffered reader could hold the next
    line while ``select`` says nothing is left to read.
    """
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    line = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"no such line within {timeout}s")
        byte = os.read(fd, 1)
        if not byte:
            raise AssertionError("the supervisor process ended early")
        line += byte
        if byte == b"\n":
            text, line = line.decode(), b""
            if predicate(text):
                return text


def crash_policy(restarts: int, delay: float = 0.0) -> Policy:
    return Policy(backoff=Constant(delay), budget=CountBudget(restarts))


# -- SIGKILL at any instant ---------------------------------------------------------------------


@pytest.mark.parametrize("trial", range(24))
def test_a_supervisor_killed_at_any_instant_leaves_exactly_one_copy(tmp_path: Path, trial: int) -> None:
    """Killed 0-4 ms after its k-th spawn, the next supervisor finds exactly one copy of each workload.

    Three long-running workloads and one crash loop restarting with no delay, so spawns happen
    all the time; the kill lands right after a random spawn (trial is the seed). The next
    supervisor on the same store must adopt whatever runs, start what does not, and never
    start a second copy.
    """
    rng = random.Random(trial)
    tag = uuid.uuid4().hex[:6]
    forever = [f"a{i}-{tag}" for i in range(3)]
    looper = f"c-{tag}"
    store = tmp_path / "s.db"
    workloads = [{"name": n, "argv": ["sleep", "1000"]} for n in forever]
    workloads.append({"name": looper, "argv": ["sh", "-c", "exit 1"], "restarts": 10**6})
    rng.shuffle(workloads)
    try:
        proc = launch(tmp_path, {"store": str(store), "workloads": workloads})
        assert proc.stdout is not None
        kth = rng.randint(1, 8)
        seen = 0

        def spawn_line(line: str) -> bool:
            nonlocal seen
            seen += line.startswith("spawned ")
            return seen >= kth

        read_until(proc.stdout, spawn_line)
        time.sleep(rng.uniform(0.0, 0.004))
        proc.kill()
        proc.wait()

        runtime = ProcessRuntime(stop_grace=0.5)
        with Supervisor(runtime, str(store)) as sup:
            for w in workloads:
                sup.add(w["name"], ProcessSpec(w["argv"]), crash_policy(w.get("restarts", 1000)))
            for name in forever:
                wait_for(lambda n=name: sup.status(n).phase is Phase.RUNNING, what=f"{name} running")
            owner = owner_of(store)
            time.sleep(0.1)  # a duplicate start, if one were coming, would be under way by now
            for name in forever:
                info = runtime.process(name)
                assert info is not None
                assert marked_pids(name, owner) == [info.pid], (name, kth)
            for name in [*forever, looper]:
                sup.stop(name)
            wait_for(lambda: all(not marked_pids(n) for n in [*forever, looper]), what="all stopped")
    finally:
        kill_marked([*forever, looper])


# -- one owner ------------------------------------------------------------------------------------


def relaunch_cli(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(
        [sys.executable, "-m", "relaunch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def test_a_second_supervisor_on_a_held_store_refuses_and_a_dead_holder_is_taken_over(tmp_path: Path) -> None:
    """A live holder makes a second supervisor exit 2 with one line naming it; its death frees the store."""
    name = f"w-{uuid.uuid4().hex[:6]}"
    store = tmp_path / "s.db"
    holder = relaunch_cli("supervise", name, "--exec", "--state", str(store), "--", "sleep", "1000")
    try:
        wait_for(lambda: marked_pids(name), what="the holder's workload")
        second = relaunch_cli("supervise", name, "--exec", "--state", str(store), "--", "sleep", "1000")
        _, err = second.communicate(timeout=30)
        assert second.returncode == 2
        assert err.count("\n") == 1
        assert f"held by a live supervisor: pid {holder.pid} on " in err
        assert len(marked_pids(name)) == 1  # nothing started twice

        with pytest.raises(StoreBusy, match=f"pid {holder.pid}"):
            Supervisor(ProcessRuntime(), str(store))

        holder.kill()  # dies holding the lock: no cleanup happens
        holder.wait()
        runtime = ProcessRuntime(stop_grace=0.5)
        with Supervisor(runtime, str(store)) as sup:
            sup.add(name, ProcessSpec(["sleep", "1000"]), crash_policy(3))
            assert sup.status(name).phase is Phase.RUNNING
            info = runtime.process(name)
            assert info is not None
            assert info.adopted
            assert marked_pids(name) == [info.pid]
            sup.stop(name)
    finally:
        holder.kill()
        holder.wait()
        kill_marked([name])


# -- too few descriptors ------------------------------------------------------------------------


def test_out_of_descriptors_leaves_no_untracked_process(tmp_path: Path) -> None:
    """Under RLIMIT_NOFILE=64 with 80 workloads, every marked process is one the runtime tracks."""
    tag = uuid.uuid4().hex[:6]
    names = [f"f{i}-{tag}" for i in range(80)]
    store = tmp_path / "s.db"
    report = tmp_path / "report.json"
    config = {
        "store": str(store),
        "workloads": [{"name": n, "argv": ["sleep", "1000"]} for n in names],
        "nofile": 64,
        "run_for": 3.0,
        "report": str(report),
    }
    try:
        proc = launch(tmp_path, config)
        assert proc.wait(timeout=60) == 0
        err = (tmp_path / "log").read_text()
        tracked = json.loads(report.read_text())["tracked"]
        owner = owner_of(store)
        running = {name: marked_pids(name, owner) for name in names}
        assert all(len(pids) <= 1 for pids in running.values())
        assert {n: p[0] for n, p in running.items() if p} == {n: p for n, p in tracked.items() if p}
        assert 0 < sum(map(len, running.values())) < len(names)  # the limit did bite
        assert err.count("cannot start processes") == 1  # reported once, clearly
        assert "Too many open files" in err
    finally:
        kill_marked(names)


# -- budgets across supervisor restarts ---------------------------------------------------------


def test_a_crash_loop_spends_its_budget_across_killed_supervisors(tmp_path: Path) -> None:
    """Each supervisor is SIGKILLed while the run is alive; the adopted runs' crashes still count."""
    name = f"loop-{uuid.uuid4().hex[:6]}"
    store = tmp_path / "s.db"
    marker = tmp_path / "starts"
    argv = ["sh", "-c", f"echo run >> {marker}; sleep 0.4; exit 1"]
    config = {"store": str(store), "workloads": [{"name": name, "argv": argv, "restarts": 3, "delay": 0.05}]}
    kills = 0
    try:
        for _ in range(12):
            records = read_store(store)[1] if store.exists() else {}
            if name in records and records[name].phase is Phase.GIVEN_UP:
                break
            proc = launch(tmp_path, config)
            assert proc.stdout is not None
            read_until(proc.stdout, lambda line: line.startswith("ready"))
            time.sleep(0.15)
            proc.kill()
            proc.wait()
            kills += 1
        record = read_store(store)[1][name]
        assert record.phase is Phase.GIVEN_UP
        assert record.state.restarts == 3
        assert marker.read_text().count("run") == 4  # the first run and three restarts, no more
        assert kills >= 2
    finally:
        kill_marked([name])


@pytest.mark.parametrize("trial", range(3))
def test_crash_loops_started_side_by_side_spend_their_budgets_across_killed_supervisors(
    tmp_path: Path, trial: int
) -> None:
    """Four crash loops restarting with no delay, their starts spawned side by side by the start
    workers (a spawn leaves the GIL to the others), and each supervisor SIGKILLed at a random
    instant: every workload ends given up after exactly its budget, each run started once.

    A run lives 1 s, longer than a new supervisor takes to start, so every run alive at a kill
    is adopted and counted, whether or not its start was already recorded as running.
    """
    rng = random.Random(trial)
    tag = uuid.uuid4().hex[:6]
    names = [f"side{i}-{tag}" for i in range(4)]
    store = tmp_path / "s.db"
    workloads = [
        {"name": n, "argv": ["sh", "-c", f"echo run >> {tmp_path / n}; sleep 1; exit 1"], "restarts": 3}
        for n in names
    ]
    config = {"store": str(store), "workloads": workloads}
    try:
        for _ in range(30):  # four runs of 1 s each need about six kills of 0.6 s on average
            records = read_store(store)[1] if store.exists() else {}
            if all(n in records and records[n].phase is Phase.GIVEN_UP for n in names):
                break
            kill_when_ready_and_a_while_after(tmp_path, config, rng)
        records = read_store(store)[1]
        for n in names:
            assert records[n].phase is Phase.GIVEN_UP, n
            assert records[n].state.restarts == 3, n
            assert (tmp_path / n).read_text().count("run") == 4, n  # the first run and three restarts
    finally:
        kill_marked(names)


@pytest.mark.parametrize("trial", range(2))
def test_a_container_crash_loop_spends_its_budget_across_killed_supervisors(
    trial: int,
    tmp_path: Path,
    docker_host: str,
    docker_client: docker.DockerClient,
    engine_kind: EngineKind,
    supervisor_id: str,
    cleanup: None,
) -> None:
    """Supervisors of a crash-looping container are SIGKILLed at random instants, often while a
    restart decision waits, uncommitted, for the start it orders: each end is decided once, so
    the budget is spent exactly and no run is started twice."""
    name = "loop"
    store = tmp_path / "s.db"
    engine = {"host": docker_host, "supervisor_id": supervisor_id, "image": IMAGE}
    argv = ["sh", "-c", "sleep 0.2; exit 1"]
    config = {
        "store": str(store),
        "docker": engine,
        "workloads": [{"name": name, "argv": argv, "restarts": 4, "delay": 0.4}],
    }
    rng = random.Random(supervisor_id)
    began = time.time()
    for _ in range(8):  # a cycle (run, delay, start) takes about 0.8 s: kills land all over it
        kill_when_ready_and_a_while_after(tmp_path, config, rng)
    proc = launch(tmp_path, config)  # the last one lives until the budget is spent
    try:
        wait_for(lambda: read_store(store)[1][name].phase is Phase.GIVEN_UP, timeout=60, what="the give-up")
    finally:
        proc.kill()
        proc.wait()
    assert read_store(store)[1][name].state.restarts == 4
    starts = engine_events(
        docker_client,
        began,
        podman=engine_kind.podman,
        event="start",
        label=f"{LABEL_SUPERVISOR}={supervisor_id}",
    )
    assert len(starts) == 5  # the first run and four restarts, no more


# -- a full disk and a read-only file system ----------------------------------------------------


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of this test's own, unmounted afterwards."""
    where = tmp_path / "fs"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(where)], check=False)
        subprocess.run(["umount", str(where)], check=True)


def fill(where: Path) -> Path:
    """Write ``where/filler`` until not one more byte fits (unbuffered, so nothing is left over)."""
    filler = where / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


class Recorder:
    def __init__(self) -> None:
        self.events: list[DecisionEvent] = []

    def __call__(self, event: DecisionEvent) -> None:
        self.events.append(event)


def supervise_crash_loop(store: Path) -> tuple[Supervisor, Recorder, str]:
    recorder = Recorder()
    sup = Supervisor(ProcessRuntime(stop_grace=0.5), str(store), on_decision=recorder)
    name = f"c-{uuid.uuid4().hex[:6]}"
    sup.add(name, ProcessSpec(["sh", "-c", "exit 1"]), crash_policy(10**6, delay=0.02))
    wait_for(lambda: len(recorder.events) >= 5, what="decisions")
    return sup, recorder, name


def test_a_full_disk_is_reported_once_and_supervision_goes_on(
    small_fs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A full disk: store_health() says so, logged once each way, decisions go on, then it recovers.

    (Linux refuses to remount a file system read-only while a file on it is open for writing,
    EBUSY, so a read-only disk can only meet a supervisor at its start: the tests below.)
    """
    caplog.set_level(logging.WARNING, logger="relaunch.store")
    store = small_fs / "s.db"
    sup, recorder, name = supervise_crash_loop(store)
    try:
        assert sup.store_health().ok
        filler = fill(small_fs)
        health = wait_for(lambda: None if (h := sup.store_health()).ok else h, what="a failing store")
        assert health.error is not None
        assert health.failing_since is not None
        before = len(recorder.events)
        wait_for(lambda: len(recorder.events) >= before + 20, what="decisions from memory")
        assert sup.status(name).durable is False
        filler.unlink()
        wait_for(lambda: sup.store_health().ok, timeout=20, what="the store to recover")
        wait_for(lambda: sup.status(name).durable, what="the latest change to be saved")
        failing = [r for r in caplog.records if "supervising from memory" in r.getMessage()]
        working = [r for r in caplog.records if "working again" in r.getMessage()]
        assert (len(failing), len(working)) == (1, 1)
        sup.stop(name)
        restarts = sup.status(name).restarts
    finally:
        sup.close()
    assert read_store(store)[1][name].state.restarts == restarts


@pytest.mark.parametrize("existing", [False, True])
def test_a_store_on_a_read_only_file_system_is_refused_before_anything_starts(
    small_fs: Path, existing: bool
) -> None:
    """A store that cannot be written (new or existing, read-only fs): one clear error, nothing started."""
    store = small_fs / "s.db"
    name = f"ro-{uuid.uuid4().hex[:6]}"
    if existing:
        with Supervisor(ProcessRuntime(), str(store)) as sup:
            sup.add(name, ProcessSpec(["sh", "-c", "exit 0"]), crash_policy(0))
            wait_for(lambda: sup.status(name).phase in (Phase.STOPPED, Phase.GIVEN_UP), what="it ended")
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    runtime = ProcessRuntime()
    with pytest.raises(StoreError, match=f"{store}: cannot open: {os.strerror(errno.EROFS)}"):
        Supervisor(runtime, str(store))
    runtime.close()
    assert marked_pids(name) == []
