"""The Docker adapter under load, against a real engine; skipped without one.

- **Crash loop**: 50 workloads whose container exits 1 at once, restarted after a constant 0.1 s by
  one supervisor, for `seconds`: restarts per second, the time from each `die` event (its
  `timeNano`, the daemon's clock) to the supervisor's `start()` call minus the policy's delay,
  supervisor CPU per restart (this process's CPU time: nothing else runs in it meanwhile) and
  resident memory per workload. The same for one workload alone, for a quarter of the time: its
  die-to-start time is the supervisor's own path (event, inspect, decide, save, schedule) with no
  other start queued ahead of it.
- **The engine alone**, on the same exited containers, without relaunch: `start()` calls per
  second from one thread (the supervisor starts from one scheduler thread) and from four.
- **Idle**: 200 running workloads: resident memory per workload, and the CPU the events thread
  (and the watchdog) use while nothing happens.

Instrumentation is a subclass of `DockerRuntime` that notes the time of each `die` event it reads
and of each `start()` call it gets; nothing else in the adapter is changed. Needs DOCKER_HOST (see
`scripts/docker-engine`) and the image `RELAUNCH_TEST_IMAGE` (default: the private engine's
busybox).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import percentile
from relaunch import Policy
from relaunch.kernel import Constant, Unlimited

IMAGE = os.environ.get("RELAUNCH_TEST_IMAGE", "relaunch-test/busybox:latest")
CRASHERS = 50
IDLE = 200
DELAY = 0.1
# Exits at once on SIGTERM, so that cleanup does not wait for docker stop's timeout.
RUN_FOREVER = "trap 'exit 0' TERM; sleep 100000 & wait"
RUNTIME_OPTIONS = {"stop_grace": 1.0, "ping_interval": 0.5, "ping_timeout": 1.0, "stop_timeout": 5}


def skip_reason() -> str | None:
    """Why the adapter rows cannot run here, or None."""
    if not os.environ.get("DOCKER_HOST"):
        return "DOCKER_HOST is not set (scripts/docker-engine start DIR prints one)"
    try:
        import docker

        import relaunch.adapters.docker  # noqa: F401
    except ImportError as exc:
        return f"the Docker adapter is not importable: {exc}"
    try:
        client = docker.from_env()
        client.ping()
        client.images.get(IMAGE)
    except Exception as exc:  # noqa: BLE001 -- any failure to reach the engine means: skip, and say why
        return f"the engine at {os.environ['DOCKER_HOST']} is not usable: {exc}"
    return None


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _thread_cpu_s(name: str) -> float:
    """CPU seconds (user + system) of this process's thread called `name`."""
    thread = next(t for t in threading.enumerate() if t.name == name)
    fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime: fields 14 and 15 of stat


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def _remove_all(client: Any, supervisor_id: str) -> None:
    from relaunch.adapters.docker import LABEL_SUPERVISOR

    for c in client.containers.list(all=True, filters={"label": f"{LABEL_SUPERVISOR}={supervisor_id}"}):
        c.remove(force=True)


def _runtime_class() -> Any:
    from relaunch.adapters.docker import DockerRuntime

    class Instrumented(DockerRuntime):
        """Notes each die event's time and each start() call, per workload."""

        def __init__(self, supervisor_id: str, **kwargs: Any) -> None:
            super().__init__(supervisor_id, **kwargs)
            self.mark_lock = threading.Lock()
            self.die_ns: dict[str, int] = {}
            self.latencies_ms: list[float] = []
            self.starts = 0

        def _on_die(self, api: Any, name: str, cid: str, event_ns: int, *, live: bool) -> None:
            with self.mark_lock:
                self.die_ns[name] = event_ns
            super()._on_die(api, name, cid, event_ns, live=live)

        def start(self, name: str, *, create: bool) -> None:
            now = time.time_ns()
            with self.mark_lock:
                die = self.die_ns.pop(name, None)
                if die is not None:
                    # Every restart of the crash policy waits exactly DELAY (constant, no jitter).
                    self.latencies_ms.append((now - die) / 1e6 - DELAY * 1e3)
                self.starts += 1
            super().start(name, create=create)

    return Instrumented


def crash_loop(workloads: int, seconds: float, workdir: Path, engine: bool) -> dict[str, Any]:
    import docker

    from relaunch.adapters.docker import ContainerSpec, container_name
    from relaunch.adapters.supervisor import DecisionEvent, Supervisor

    client = docker.from_env()
    sid = f"crash{workloads}x{os.getpid()}"
    runtime = _runtime_class()(sid, **RUNTIME_OPTIONS)
    restarts = [0]

    def on_decision(event: DecisionEvent) -> None:
        if event.decision.restarts:
            with runtime.mark_lock:
                restarts[0] += 1

    policy = Policy(backoff=Constant(DELAY), budget=Unlimited())
    spec = ContainerSpec(IMAGE, ["sh", "-c", "exit 1"], {"network_mode": "none"})
    names = [f"crash{i}" for i in range(workloads)]
    rss0 = _rss_bytes()
    supervisor = Supervisor(runtime, str(workdir / f"{sid}.json"), on_decision=on_decision)
    try:
        for name in names:
            supervisor.add(name, spec, policy)
        _wait(lambda: restarts[0] >= 2 * workloads, 120, "every workload to crash-loop")
        with runtime.mark_lock:
            runtime.latencies_ms.clear()
            r0, s0 = restarts[0], runtime.starts
        cpu0, t0 = time.process_time(), time.monotonic()
        time.sleep(seconds)
        with runtime.mark_lock:
            r1, s1 = restarts[0], runtime.starts
            latencies = list(runtime.latencies_ms)
        cpu1, t1 = time.process_time(), time.monotonic()
        rss1 = _rss_bytes()
    finally:
        supervisor.close()
    done = r1 - r0
    result = {
        "workloads": workloads,
        "delay_s": DELAY,
        "seconds": round(t1 - t0, 1),
        "restarts": done,
        "restarts_per_s": round(done / (t1 - t0), 2),
        "start_calls": s1 - s0,
        "die_to_start_ms_median": round(statistics.median(latencies), 1) if latencies else None,
        "die_to_start_ms_p99": round(percentile(latencies, 99), 1) if latencies else None,
        "supervisor_cpu_ms_per_restart": round((cpu1 - cpu0) * 1e3 / max(done, 1), 2),
        "rss_kib_per_workload": round((rss1 - rss0) / workloads / 1024, 1),
    }
    if engine:
        result["engine"] = engine_capacity(client, [container_name(sid, n) for n in names], seconds / 4)
    _remove_all(client, sid)
    return result


def engine_capacity(client: Any, containers: list[str], seconds: float) -> dict[str, float]:
    """start() calls per second the engine serves on exited containers, without relaunch."""
    api = client.api
    out = {}
    for threads in (1, 4):
        _wait(lambda: not any(c.status == "running" for c in client.containers.list()), 30, "exits")
        count = [0]
        lock = threading.Lock()
        deadline = time.monotonic() + seconds

        def worker(
            mine: list[str], count: list[int] = count, deadline: float = deadline, lock: threading.Lock = lock
        ) -> None:
            i = 0
            while time.monotonic() < deadline:
                api.start(mine[i % len(mine)])  # an exited container starts; a running one is a no-op
                i += 1
                with lock:
                    count[0] += 1

        pool = [threading.Thread(target=worker, args=(containers[k::threads],)) for k in range(threads)]
        t0 = time.monotonic()
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        out[f"starts_per_s_{threads}_thread{'s' if threads > 1 else ''}"] = round(
            count[0] / (time.monotonic() - t0), 2
        )
    return out


def idle(seconds: float, workdir: Path) -> dict[str, Any]:
    import docker

    from relaunch.adapters.docker import ContainerSpec
    from relaunch.adapters.supervisor import Phase, Supervisor

    client = docker.from_env()
    sid = f"idle{os.getpid()}"
    runtime = _runtime_class()(sid, **RUNTIME_OPTIONS)
    policy = Policy(backoff=Constant(1.0), budget=Unlimited())
    spec = ContainerSpec(IMAGE, ["sh", "-c", RUN_FOREVER], {"network_mode": "none"})
    names = [f"idle{i}" for i in range(IDLE)]
    rss0 = _rss_bytes()
    supervisor = Supervisor(runtime, str(workdir / "idle.json"))
    try:
        for name in names:
            supervisor.add(name, spec, policy)
        _wait(lambda: all(supervisor.status(n).phase is Phase.RUNNING for n in names), 300, "all running")
        rss1 = _rss_bytes()
        threads = ("relaunch-docker-events", "relaunch-docker-watchdog", "relaunch-scheduler")
        cpu0 = {t: _thread_cpu_s(t) for t in threads}
        t0 = time.monotonic()
        time.sleep(seconds)
        span = time.monotonic() - t0
        cpu = {t: round((_thread_cpu_s(t) - cpu0[t]) / span * 100, 3) for t in threads}
    finally:
        supervisor.close()
        _remove_all(client, sid)
    return {
        "workloads": IDLE,
        "seconds": round(span, 1),
        "rss_kib_per_workload": round((rss1 - rss0) / IDLE / 1024, 1),
        "thread_cpu_percent": cpu,
    }


def measure(seconds: float = 60.0) -> dict[str, Any]:
    reason = skip_reason()
    if reason is not None:
        return {"skipped": reason}
    with tempfile.TemporaryDirectory(prefix="relaunch-bench-") as tmp:
        return {
            # One workload alone: the supervisor's own die-to-start path, with no queue.
            "alone": crash_loop(1, seconds / 4, Path(tmp), engine=False),
            "crash_loop": crash_loop(CRASHERS, seconds, Path(tmp), engine=True),
            "idle": idle(seconds / 2, Path(tmp)),
        }
