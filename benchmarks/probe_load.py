"""The process runtime's health probes under load, on loopback only.

- **TCP fleet**: 1000 workloads probed by TCP connect every second, all on the prober's one
  timer and four workers (``relaunch.adapters.probes.Prober``), each result judged by the kernel
  and reported to a sink that takes a lock and stores it, as the core's ``Supervisor.health``
  does. The target is one listener in a child process (so its accepts are not counted): the
  figure is this process's CPU time over the window, as % of one core. The workloads' own
  processes are left out: probing does not depend on them, and 1000 pidfds would need a raised
  descriptor limit.
- **Exec probes**: 100 workloads probed by ``true`` every second: CPU per probe, of this process
  (fork, exec, wait, pipes) and of the children, separately.
- **Crossing to stop**: a real ``ProcessRuntime`` under a ``Supervisor``, one workload whose TCP
  probe fails with ``retries=1``: the time from the return of the probe that crosses the
  threshold to the ``killpg(SIGTERM)`` of its run, over 30 health kills. Instrumented by wrapping
  the prober's probe function and the runtime's ``_killpg``; nothing else is changed.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from benchmarks.harness import percentile
from relaunch import Constant, HealthCheck, Policy, Unlimited
from relaunch.adapters import process as process_module
from relaunch.adapters.probes import ExecProbe, Health, Probe, Prober, TcpProbe, run_probe
from relaunch.adapters.runtime import HealthReport

LISTENER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(1024); print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept(); c.close()
"""


class _Sink:
    """Stands for ``Supervisor.health``: a lock and a dict store per report."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latest: dict[str, HealthReport] = {}
        self.count = 0

    def report(self, name: str, key: str, report: HealthReport) -> None:
        with self.lock:
            self.latest[name] = report
            self.count += 1


def _fleet(probe: Probe, workloads: int, window: float, warmup: float) -> dict[str, Any]:
    sink = _Sink()
    prober = Prober(sink.report, sink.report)
    check = HealthCheck(interval=1.0, timeout=1.0, retries=3)
    try:
        for n in range(workloads):
            prober.watch(f"w{n}", f"run{n}", Health(probe, check))
        time.sleep(warmup)
        with sink.lock:
            probes_before = sink.count
        cpu, children, wall = time.process_time(), os.times(), time.monotonic()
        time.sleep(window)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        after = os.times()
        with sink.lock:
            probes = sink.count - probes_before
            healthy = sum(1 for r in sink.latest.values() if r.verdict.value == "healthy")
    finally:
        prober.close(time.monotonic() + 1.0)
    child_cpu = after.children_user - children.children_user
    child_cpu += after.children_system - children.children_system
    return {
        "workloads": workloads,
        "probes_per_s": round(probes / wall, 1),
        "healthy": healthy,
        "cpu_pct_of_one_core": round(100 * cpu / wall, 2),
        "cpu_us_per_probe": round(1e6 * cpu / max(probes, 1), 1),
        "children_cpu_us_per_probe": round(1e6 * child_cpu / max(probes, 1), 1),
    }


def _crossing_latency(kills: int) -> dict[str, Any]:
    from relaunch.adapters.process import ProcessRuntime, ProcessSpec
    from relaunch.adapters.supervisor import Supervisor

    crossed: list[float] = []
    signalled: list[float] = []
    real_killpg = process_module._killpg

    def killpg(pgid: int, sig: Any) -> None:
        if sig == process_module.signal.SIGTERM:
            signalled.append(time.monotonic())
        real_killpg(pgid, sig)

    def probe(p: Probe, timeout: float) -> Any:
        result = run_probe(p, timeout)
        crossed.append(time.monotonic())
        return result

    process_module._killpg = killpg  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runtime = ProcessRuntime(stop_grace=1.0)
            sup = Supervisor(runtime, os.path.join(tmp, "state.db"))
            runtime._probes._probe = probe  # the prober exists once the supervisor opened it
            with sup:
                health = Health(TcpProbe(1), HealthCheck(interval=0.05, timeout=0.5, retries=1))
                spec = ProcessSpec(["sh", "-c", "trap 'exit 0' TERM; sleep 100 & wait"], health)
                sup.add("hang", spec, Policy(backoff=Constant(0.05), budget=Unlimited()))
                deadline = time.monotonic() + 60
                while len(signalled) < kills and time.monotonic() < deadline:
                    time.sleep(0.02)
                sup.stop("hang")
                time.sleep(0.3)
    finally:
        process_module._killpg = real_killpg
    # Each kill follows exactly one probe of its run (retries=1): the latest probe before it.
    latencies = []
    for at in signalled[:kills]:
        before = [c for c in crossed if c <= at]
        if before:
            latencies.append((at - before[-1]) * 1000)
    return {
        "kills": len(latencies),
        "median_ms": round(statistics.median(latencies), 3) if latencies else None,
        "p99_ms": round(percentile(latencies, 99), 3) if latencies else None,
        "max_ms": round(max(latencies), 3) if latencies else None,
    }


def measure(*, smoke: bool = False) -> dict[str, Any]:
    """All three rows (a few workloads and a short window in smoke mode)."""
    listener = subprocess.Popen([sys.executable, "-c", LISTENER], stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout is not None
        port = int(listener.stdout.readline())
        tcp = _fleet(TcpProbe(port), 20 if smoke else 1000, 1.0 if smoke else 10.0, 1.5)
    finally:
        listener.kill()
        listener.wait()
    exec_ = _fleet(ExecProbe(["true"]), 5 if smoke else 100, 1.0 if smoke else 10.0, 1.5)
    return {"tcp_fleet": tcp, "exec_probes": exec_, "crossing_to_stop": _crossing_latency(3 if smoke else 30)}


if __name__ == "__main__":
    import json

    print(json.dumps(measure(smoke="--smoke" in sys.argv), indent=2))
