"""A supervisor in a process of its own, for the fault tests to kill, starve and restart.

Run as ``python tests/fault_supervisor.py CONFIG.json``. CONFIG names the store, the workloads
(name, argv, restarts, delay) and optionally ``docker`` (``host``, ``supervisor_id`` and
``image``: the workloads are containers on that engine, not processes), ``nofile`` (a
RLIMIT_NOFILE to run under), ``run_for`` (seconds, then close and exit 0; absent: run until
killed) and ``report`` (a file that gets the pid the runtime tracks for each process workload,
written after close). A process workload may name ``stdout`` (``path``, ``max_bytes``,
``backups``): its output goes to that log file. Every process spawn is printed as ``spawned NAME PID`` on stdout the moment
the runtime logs it, so a test can SIGKILL this process right after a spawn.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import time
from pathlib import Path

from relaunch import Constant, CountBudget, Policy
from relaunch.adapters.docker import ContainerSpec, DockerRuntime
from relaunch.adapters.logfiles import LogFile
from relaunch.adapters.process import ProcessRuntime, ProcessSpec
from relaunch.adapters.supervisor import Supervisor


class _Spawns(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(f"{getattr(record, 'workload', '')}: started pid"):
            sys.stdout.write(f"spawned {record.workload} {record.pid}\n")  # type: ignore[attr-defined]
            sys.stdout.flush()


def main() -> int:
    config = json.loads(Path(sys.argv[1]).read_text())
    if config.get("nofile"):
        resource.setrlimit(resource.RLIMIT_NOFILE, (config["nofile"], config["nofile"]))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    process_log = logging.getLogger("relaunch.process")
    process_log.setLevel(logging.INFO)
    process_log.addHandler(_Spawns())
    engine = config.get("docker")
    runtime: ProcessRuntime | DockerRuntime
    if engine is None:
        runtime = ProcessRuntime(stop_grace=0.5)
    else:
        runtime = DockerRuntime(engine["supervisor_id"], base_url=engine["host"])
    sup = Supervisor(runtime, config["store"])
    for w in config["workloads"]:
        policy = Policy(backoff=Constant(w.get("delay", 0.0)), budget=CountBudget(w.get("restarts", 1000)))
        if engine is None:
            log = w.get("stdout")
            stdout = None if log is None else LogFile(log["path"], log["max_bytes"], log["backups"])
            sup.add(w["name"], ProcessSpec(w["argv"], stdout=stdout), policy)
        else:
            sup.add(w["name"], ContainerSpec(engine["image"], w["argv"], {"network_mode": "none"}), policy)
    print("ready", flush=True)
    if config.get("run_for") is None:
        while True:
            time.sleep(3600)
    time.sleep(config["run_for"])
    tracked = {}
    for w in config["workloads"]:
        assert isinstance(runtime, ProcessRuntime), "report: process workloads only"
        info = runtime.process(w["name"])
        tracked[w["name"]] = None if info is None else info.pid
    health = sup.store_health()
    sup.close()
    with open(config["report"], "w") as f:
        json.dump({"tracked": tracked, "store_ok": health.ok}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
