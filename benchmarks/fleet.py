"""Supervisors at fleet scale (issue 10): relaunch's process adapter, supervisord and PM2, side by side.

The same crash-looping fleet runs under each supervisor in turn, at each N: N programs that live
`RUN_S` seconds, exit 1, and are restarted at once and forever; first under no supervisor at all
(the *floor*: one loop that spawns each program again the moment `os.wait` returns it), which is
what the machine allows with these programs at this N. Each program is

    bash -c 'echo "wK s $EPOCHREALTIME" >> STAMPS; sleep 0.5; echo "wK e $EPOCHREALTIME" >> STAMPS; exit 1'

(the issue's `sh -c 'sleep 0.5; exit 1'` plus two stamps). bash rather than dash because
`$EPOCHREALTIME` is a builtin (bash 5): a microsecond wall-clock stamp with no extra process; a
start costs about 0.8 ms more CPU than dash's, the same under every supervisor. Every figure comes
from the stamps file or from /proc, never from a supervisor's own account, so one method is valid
for all three:

- **restarts/s**: start stamps inside the window (a workload's first start excluded) over the
  window's wall time. The window opens once all N programs have started and a warm-up has passed.
- **die-to-restart**: from a program's end stamp (taken just before it exits) to the next start
  stamp of the same workload: the supervisor noticing the exit, deciding, spawning, plus the exec
  of bash and its start-up, which the floor measures alone. An end in the window not yet
  restarted when the fleet is stopped counts with the time it has waited so far (a lower bound),
  and is reported.
- **The latency pass** (floor and relaunch only): N = `LATENCY_N` programs of which workload i
  lives `LATENCY_RUN_S * (1 + i / N)`. With 0.5 s programs at N=1000 the machine cannot keep up
  (measured: the floor restarts about 700 to 930 a second of the 2000 asked, p50 0.5 to 1 s; a C
  loop of waitpid and posix_spawn did no better, 659 a second and p50 986 ms), so die-to-restart
  there is the wait for a core, whoever supervises; and programs that all live the same time die
  in step, a burst of N each cycle (1000 programs of 5 s: floor p50 62 ms). Spread lifetimes
  keep the machine below saturation, which is when a supervisor's own latency shows.
- **CPU per restart**: utime + stime (/proc/PID/stat fields 14 and 15, proc(5); children's times
  are fields 16 and 17, not counted) of the supervisor's own process over the window, divided by
  the restarts in it: relaunch's is a child Python process that does nothing but supervise (this
  module's `--serve-relaunch`), supervisord runs in the foreground (`-n`), PM2's is its God daemon
  (`$PM2_HOME/pm2.pid`).
- **RSS**: VmRSS of the same process at the end of the window.
- **all N running after**: from the first `Supervisor.add` (relaunch), the start of supervisord,
  or the start of `pm2 start` to the N-th workload's first start stamp. `pm2 start` runs in the
  background (it takes 9 s at N=100 and 17 s at N=200 here, and did not finish within 120 s at
  N=500 while the first apps already crash-looped); the window opens once it has exited, or at
  `STARTUP_TIMEOUT_S` whatever has started.

Configuration of the peers, each as its documentation has it for "restart at once, forever":
supervisord (Supervisor/supervisor, docs/configuration.rst) `autorestart=true`, `startsecs=0` (so
an exit is never a failed start in BACKOFF, whose delay grows), `startretries` huge, output to
`NONE`, default logging; PM2 (Unitech/pm2, lib/API/schema.json) `autorestart`, `restart_delay: 0`,
`max_restarts` huge (runs shorter than `min_uptime` count as unstable restarts against it),
`interpreter: none`, `vizion: false` (no git metadata lookup per app), logs to /dev/null; relaunch
`Policy(mode=ALWAYS, backoff=Constant(0), budget=Unlimited())` with its default logging (none
configured). Each peer is installed on first use into `CACHE` (gitignored): supervisor in a venv
of its own through pip, pm2 through `npm install --prefix`.

Every process a run starts is stopped by pid when it ends, even on failure: the supervisor first
(SIGTERM to supervisord and relaunch's server, `pm2 kill`), then every process still descending
from this one, with SIGKILL. This process is a child subreaper (prctl(2)
`PR_SET_CHILD_SUBREAPER`) during the fleet runs, so orphans (PM2's detached daemon, the `sleep` of
a killed `bash`) stay in its tree instead of going to init. Pids are not reused between the scan
and the kill: Linux allocates them cyclically (kernel/pid.c, `alloc_pid`).

This module imports relaunch only in the server process, and only its public surface
(`Supervisor`, `ProcessRuntime`, `ProcessSpec`, `DecisionEvent`, the kernel's `Policy` parts).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import percentile

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("RELAUNCH_BENCH_CACHE", Path(__file__).resolve().parent / ".cache"))

SIZES = (1, 10, 100, 500, 1000)
PEERS = ("floor", "relaunch", "supervisord", "pm2")
SUPERVISOR_VERSION = "4.3.0"
PM2_VERSION = "7.0.4"

RUN_S = 0.5
WINDOW_S = 10.0
WARMUP_S = 3.0
STARTUP_TIMEOUT_S = 75.0  # then the window opens anyway, and `all_running_s` is None
STOP_TIMEOUT_S = 60.0
# The latency pass: N programs whose restarts the machine can keep up with. At 0.5 s, 1000
# programs need more CPU than 2 cores have, whoever supervises them; and programs that all live
# the same time stay in phase, dying in a burst of N every cycle (measured: 1000 programs of 5 s
# gave the floor a p50 of 62 ms). So workload i lives LATENCY_RUN_S * (1 + i / N): 2.5 to 5 s.
LATENCY_N = 1000
LATENCY_RUN_S = 2.5
LATENCY_PEERS = ("floor", "relaunch")


def lifetime(i: int, n: int, run_s: float, spread: bool) -> float:
    """How long workload ``i`` of ``n`` lives: ``run_s``, or with ``spread`` run_s * (1 + i / n)."""
    return run_s * (1 + i / n) if spread else run_s


_PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h
_SAFE_PATH = re.compile(r"[\w./-]+")


def program(name: str, stamps: Path, run_s: float = RUN_S) -> list[str]:
    """The argv of workload `name`: stamp its start, live `run_s`, stamp its end, exit 1."""
    if not _SAFE_PATH.fullmatch(str(stamps)) or not re.fullmatch(r"\w+", name):
        raise ValueError(f"unsafe path or name for a shell command line: {stamps!r}, {name!r}")
    script = (
        f'echo "{name} s $EPOCHREALTIME" >> {stamps}; sleep {run_s:g}; '
        f'echo "{name} e $EPOCHREALTIME" >> {stamps}; exit 1'
    )
    return [_bash(), "-c", script]


def _bash() -> str:
    path = shutil.which("bash")
    if path is None:
        raise RuntimeError("bash is not on PATH (the fleet's programs stamp time with $EPOCHREALTIME)")
    return path


# -- reading what the programs wrote ---------------------------------------------------------


class Stamps:
    """The start and end stamps the programs append to one file, read incrementally."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.starts: dict[str, list[float]] = defaultdict(list)
        self.ends: dict[str, list[float]] = defaultdict(list)
        self._offset = 0

    def read(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written is read next time
        self._offset += len(complete)
        for line in complete.decode("ascii").splitlines():
            name, kind, stamp = line.split()
            (self.starts if kind == "s" else self.ends)[name].append(float(stamp))

    def all_started_at(self, n: int) -> float | None:
        """The stamp of the N-th workload's first start, once N workloads have started."""
        if len(self.starts) < n:
            return None
        return max(times[0] for times in self.starts.values())


def _proc_stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    # Field 2 is the command in parentheses and may contain anything: split after its last ")".
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid`, all its threads, its children not included (proc(5) fields 14, 15)."""
    fields = _proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0  # a zombie has no memory left


# -- keeping every process accounted for -----------------------------------------------------


def _set_subreaper(on: bool) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _descendants(root: int) -> list[tuple[int, int, str]]:
    """(pid, ppid, state) of every process below `root`, from one scan of /proc."""
    children: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _proc_stat(int(entry))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        children[int(fields[1])].append((int(entry), int(fields[1]), fields[0]))
    out, todo = [], [root]
    while todo:
        for proc in children.get(todo.pop(), []):
            out.append(proc)
            todo.append(proc[0])
    return out


def kill_descendants(timeout: float = 30.0) -> int:
    """SIGKILL every process below this one, by pid, and reap those that end up as our children.

    Returns how many processes were killed. Only called between runs, when everything below this
    process belongs to the fleet being torn down.
    """
    me = os.getpid()
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while procs := _descendants(me):
        for pid, ppid, state in procs:
            if state != "Z":
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
            if ppid == me:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes still running after {timeout:g}s: {procs[:10]}")
        time.sleep(0.02)
    return len(killed)


def _raise_nofile() -> None:
    # N=1000 needs a pidfd per run (relaunch), pipes per child (supervisord): raise soft to hard.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _env(**extra: str) -> dict[str, str]:
    # LC_ALL=C: $EPOCHREALTIME uses the locale's decimal separator.
    return {**os.environ, "LC_ALL": "C", **extra}


# -- installing the peers on first use -------------------------------------------------------


def supervisord_path() -> Path:
    venv = CACHE / f"supervisor-{SUPERVISOR_VERSION}"
    exe = venv / "bin" / "supervisord"
    if not exe.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", f"supervisor=={SUPERVISOR_VERSION}"],
            check=True,
            timeout=600,
        )
    return exe


def pm2_path() -> Path:
    prefix = CACHE / f"pm2-{PM2_VERSION}"
    exe = prefix / "node_modules" / ".bin" / "pm2"
    if not exe.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is not on PATH")
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", f"pm2@{PM2_VERSION}"],
            check=True,
            timeout=600,
            env=_env(NPM_CONFIG_UPDATE_NOTIFIER="false"),
            stdout=subprocess.DEVNULL,
        )
    return exe


def peer_versions(peers: Sequence[str]) -> dict[str, str]:
    import importlib.metadata

    out = {
        "bash": subprocess.run([_bash(), "-c", "echo $BASH_VERSION"], capture_output=True, text=True).stdout
    }
    out["bash"] = out["bash"].strip()
    if "relaunch" in peers:
        out["relaunch"] = importlib.metadata.version("relaunch")
    if "supervisord" in peers:
        out["supervisor"] = SUPERVISOR_VERSION
    if "pm2" in peers:
        out["pm2"] = PM2_VERSION
        node = shutil.which("node")
        if node:
            out["node"] = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    return out


# -- the three supervisors -------------------------------------------------------------------


class Fleet:
    """One supervisor running N workloads in `workdir`; the stamps go to `workdir/stamps`.

    A supervisor that runs as one child process of ours (relaunch's server, supervisord) is
    started with `_spawn` and stopped by `stop`: SIGTERM, then SIGKILL after `STOP_TIMEOUT_S`.
    """

    log_name = "supervisor.log"

    def __init__(self, n: int, workdir: Path, run_s: float = RUN_S, spread: bool = False) -> None:
        self.n = n
        self.run_s = run_s
        self.spread = spread
        self.dir = workdir
        self.stamps = workdir / "stamps"
        self.launched_at = 0.0
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(self) -> None: ...

    def argv(self, i: int) -> list[str]:
        """Workload ``i``'s program (named ``w{i}``)."""
        return program(f"w{i}", self.stamps, lifetime(i, self.n, self.run_s, self.spread))

    def ready(self) -> bool:
        """Whether the supervisor is up (raises if it died); `launched_at` is known from then on."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"{type(self).__name__}: exited {self.proc.returncode}: {self._log()}")
        return True

    def supervisor_pids(self) -> list[int]:
        assert self.proc is not None
        return [self.proc.pid]

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def verify(self, stamps: Stamps) -> dict[str, Any]:
        return {}

    def settle(self, deadline: float) -> None:
        """Wait (until `deadline`, monotonic) for start-up work that must not fall in the window."""

    def _spawn(self, argv: list[str], env: dict[str, str] | None = None, **kwargs: Any) -> None:
        with (self.dir / self.log_name).open("w") as log:
            self.proc = subprocess.Popen(
                argv, env=env or _env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log, **kwargs
            )

    def _log(self) -> str:
        return (self.dir / self.log_name).read_text()[-2000:]


class RelaunchFleet(Fleet):
    log_name = "server.log"
    serve = "--serve-relaunch"

    def launch(self) -> None:
        argv = [sys.executable, "-m", "benchmarks.fleet", self.serve, str(self.n), str(self.dir)]
        argv += [repr(self.run_s), str(int(self.spread))]
        self._spawn(argv, cwd=ROOT)

    def ready(self) -> bool:
        path = self.dir / "added.json"
        if not path.exists():
            super().ready()  # raises if the server died
            return False
        self.added = json.loads(path.read_text())
        self.launched_at = self.added["first_add"]
        return True

    def verify(self, stamps: Stamps) -> dict[str, Any]:
        # Every start after a workload's first needs a restart decision, and a decision leads to at
        # most one start (the last one per workload may be cut short by the teardown).
        path = self.dir / "decisions.json"
        if not path.exists():
            raise AssertionError(f"relaunch server did not report its decisions: {self._log()}")
        decisions = json.loads(path.read_text())["restart_decisions"]
        starts = sum(len(v) for v in stamps.starts.values())
        if not starts - self.n <= decisions <= starts:
            raise AssertionError(f"{decisions} restart decisions for {starts} starts of {self.n} workloads")
        add_s = getattr(self, "added", {}).get("add_s")
        return {"restart_decisions": decisions, "starts": starts, "add_s": add_s}


class FloorFleet(RelaunchFleet):
    """No supervisor: one loop that spawns each program again the moment ``os.wait`` returns it.

    What the machine allows with this program at this N, for every supervisor alike: the floor
    of die-to-restart (exec and start-up of the program, and at large N the wait for a core) and
    the ceiling of restarts per second.
    """

    log_name = "floor.log"
    serve = "--serve-floor"

    def verify(self, stamps: Stamps) -> dict[str, Any]:
        return {"add_s": getattr(self, "added", {}).get("add_s")}


class SupervisordFleet(Fleet):
    """supervisord in the foreground; on SIGTERM it stops its programs, then exits."""

    log_name = "supervisord.out"

    def launch(self) -> None:
        exe = supervisord_path()
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        lines = [
            "[supervisord]",
            "nodaemon=true",
            f"logfile={self.dir}/supervisord.log",
            f"pidfile={self.dir}/supervisord.pid",
            f"childlogdir={self.dir}",
            # supervisord refuses to start below minfds/minprocs; three pipes per child.
            f"minfds={min(nofile, 8 * self.n + 1024)}",
            f"minprocs={min(nproc, 4 * self.n + 200)}",
        ]
        for i in range(self.n):
            name = f"w{i}"
            lines += [
                f"[program:{name}]",
                f"command={' '.join(_config_quote(a) for a in self.argv(i))}",
                "autorestart=true",
                "startsecs=0",
                "startretries=1000000000",
                "stdout_logfile=NONE",
                "stderr_logfile=NONE",
                "stopasgroup=true",
                "killasgroup=true",
                "stopwaitsecs=2",
            ]
        conf = self.dir / "supervisord.conf"
        conf.write_text("\n".join(lines) + "\n")
        self.launched_at = time.time()
        self._spawn([str(exe), "-n", "-c", str(conf)])


def _config_quote(arg: str) -> str:
    # supervisord splits `command` with shlex; `%` starts its own %(name)s expansions.
    return "'" + arg.replace("'", "'\\''").replace("%", "%%") + "'"


class Pm2Fleet(Fleet):
    """PM2 with a PM2_HOME of its own; `proc` is the `pm2 start` CLI, the supervisor its daemon."""

    log_name = "pm2-cli.log"

    def launch(self) -> None:
        self.exe = str(pm2_path())
        self.home = self.dir / "pm2home"
        apps = [
            {
                "name": f"w{i}",
                "script": self.argv(i)[0],
                "args": self.argv(i)[1:],
                "interpreter": "none",
                "exec_mode": "fork",
                "autorestart": True,
                "restart_delay": 0,
                "max_restarts": 1_000_000_000,
                "watch": False,
                "vizion": False,
                "out_file": "/dev/null",
                "error_file": "/dev/null",
                "kill_timeout": 2000,
                "env": {"LC_ALL": "C"},
            }
            for i in range(self.n)
        ]
        eco = self.dir / "ecosystem.config.js"
        eco.write_text("module.exports = " + json.dumps({"apps": apps}) + ";\n")
        self.launched_at = time.time()
        # In the background: at N=500 `pm2 start` takes minutes (it sends the apps to the daemon two
        # at a time while the first ones already crash-loop), and the stamps say when all run.
        self._spawn([self.exe, "start", str(eco)], env=self._env)

    @property
    def _env(self) -> dict[str, str]:
        return _env(PM2_HOME=str(self.home))

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() not in (None, 0):
            raise RuntimeError(f"pm2 start exited {self.proc.returncode}: {self._log()}")
        return (self.home / "pm2.pid").exists()

    def settle(self, deadline: float) -> None:
        # The window opens once the CLI is done, so that the daemon serves no more start requests.
        assert self.proc is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(max(0.0, deadline - time.monotonic()))
        self.cli_s = None if self.proc.returncode is None else round(time.time() - self.launched_at, 1)

    def supervisor_pids(self) -> list[int]:
        return [int((self.home / "pm2.pid").read_text())]

    def stop(self) -> None:
        super().stop()  # the CLI, if it still runs
        if hasattr(self, "home") and (self.home / "pm2.pid").exists():
            with (self.dir / self.log_name).open("a") as log:
                subprocess.run(
                    [self.exe, "kill"],
                    env=self._env,
                    stdout=log,
                    stderr=log,
                    timeout=STOP_TIMEOUT_S,
                    check=True,
                )

    def verify(self, stamps: Stamps) -> dict[str, Any]:
        return {"pm2_start_s": getattr(self, "cli_s", None)}


FLEETS: dict[str, type[Fleet]] = {
    "floor": FloorFleet,
    "relaunch": RelaunchFleet,
    "supervisord": SupervisordFleet,
    "pm2": Pm2Fleet,
}


# -- one run ---------------------------------------------------------------------------------


@dataclass
class Window:
    t0: float
    t1: float
    cpu_s: float
    rss: int
    stopped_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _wait_all_started(fleet: Fleet, stamps: Stamps, deadline: float) -> float | None:
    while time.monotonic() < deadline:
        if fleet.ready():
            stamps.read()
            at = stamps.all_started_at(fleet.n)
            if at is not None:
                return at
        time.sleep(0.1)
    return None


def run_one(
    peer: str,
    n: int,
    workdir: Path,
    window_s: float,
    warmup_s: float,
    run_s: float = RUN_S,
    spread: bool = False,
) -> dict[str, Any]:
    """Run `peer` with N workloads (living `lifetime(...)`): start, warm up, measure, stop all."""
    fleet = FLEETS[peer](n, workdir, run_s, spread)
    stamps = Stamps(fleet.stamps)
    try:
        fleet.launch()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        started = _wait_all_started(fleet, stamps, deadline)
        fleet.settle(deadline)
        time.sleep(warmup_s)
        pids = fleet.supervisor_pids()
        t0, cpu0 = time.time(), sum(cpu_seconds(p) for p in pids)
        time.sleep(window_s)
        t1, cpu1 = time.time(), sum(cpu_seconds(p) for p in pids)
        rss = sum(rss_bytes(p) for p in pids)
    finally:
        try:
            fleet.stop()
        finally:
            stopped_at = time.time()
            leftovers = kill_descendants()
    stamps.read()
    ideal = sum(1 / lifetime(i, n, run_s, spread) for i in range(n))
    result = summarize(peer, n, stamps, Window(t0, t1, cpu1 - cpu0, rss, stopped_at), ideal)
    result.update(run_s=run_s, spread=spread)
    result["all_running_s"] = None if started is None else round(started - fleet.launched_at, 2)
    result["killed_after_stop"] = leftovers
    result.update(fleet.verify(stamps))
    return result


def latencies(stamps: Stamps, t0: float, t1: float, stopped_at: float) -> tuple[list[float], int]:
    """Die-to-restart times (s) of the runs that ended in [t0, t1), and how many were not restarted.

    A run not restarted before the fleet was stopped counts with the time it had waited (a lower
    bound), so that a supervisor that falls behind cannot look fast by leaving its slowest out.
    """
    out, censored = [], 0
    for name, ends in stamps.ends.items():
        starts = sorted(stamps.starts.get(name, []))
        for end in ends:
            if not t0 <= end < t1:
                continue
            nxt = next((s for s in starts if s > end), None)
            if nxt is None:
                censored += 1
                out.append(stopped_at - end)
            else:
                out.append(nxt - end)
    return out, censored


def summarize(peer: str, n: int, stamps: Stamps, w: Window, ideal: float) -> dict[str, Any]:
    """The figures of one run; ``ideal`` is the restarts per second with every restart at once."""
    restarts = sum(1 for times in stamps.starts.values() for s in sorted(times)[1:] if w.t0 <= s < w.t1)
    span = w.t1 - w.t0
    lat, censored = latencies(stamps, w.t0, w.t1, w.stopped_at)
    return {
        "peer": peer,
        "n": n,
        "window_s": round(span, 2),
        "restarts": restarts,
        "restarts_per_s": round(restarts / span, 1),
        "ideal_per_s": round(ideal, 1),
        "of_ideal": round(restarts / span / ideal, 3),
        "cpu_ms_per_restart": round(w.cpu_s * 1e3 / restarts, 2) if restarts else None,
        "cpu_percent": round(w.cpu_s / span * 100, 1),
        "rss_mb": round(w.rss / 2**20, 1),
        "die_to_restart_ms_p50": round(statistics.median(lat) * 1e3, 2) if lat else None,
        "die_to_restart_ms_p99": round(percentile(lat, 99) * 1e3, 2) if lat else None,
        "ends_in_window": len(lat),
        "ends_not_restarted": censored,
    }


def measure(
    sizes: Sequence[int] = SIZES,
    peers: Sequence[str] = PEERS,
    window_s: float = WINDOW_S,
    warmup_s: float = WARMUP_S,
    latency: bool = True,
) -> dict[str, Any]:
    """Every peer at every N, one after the other, then (``latency``) the latency pass: the
    ``LATENCY_PEERS`` at ``LATENCY_N`` programs living ``LATENCY_RUN_S``. A failed run is
    reported and the rest go on."""
    unknown = set(peers) - set(FLEETS)
    if unknown:
        raise ValueError(f"unknown fleet peers {sorted(unknown)}; known: {', '.join(FLEETS)}")
    _raise_nofile()
    out: dict[str, Any] = {
        "program": "bash -c " + shlex.quote(program("wK", Path("STAMPS"))[2]),
        "run_s": RUN_S,
        "latency_run_s": [LATENCY_RUN_S, 2 * LATENCY_RUN_S],
        "window_s": window_s,
        "warmup_s": warmup_s,
        "versions": peer_versions(peers),
        "runs": [],
        "errors": [],
    }
    _set_subreaper(True)
    try:
        with tempfile.TemporaryDirectory(prefix="relaunch-fleet-") as tmp:
            plan = [(n, peer, RUN_S, False) for n in sizes for peer in peers]
            if latency:
                plan += [(LATENCY_N, peer, LATENCY_RUN_S, True) for peer in LATENCY_PEERS if peer in peers]
            for n, peer, run_s, spread in plan:
                workdir = Path(tmp) / f"{peer}-{n}{'-spread' if spread else ''}"
                workdir.mkdir()
                print(f"fleet: {peer} N={n}{' spread' if spread else ''} ...", file=sys.stderr, flush=True)
                try:
                    out["runs"].append(run_one(peer, n, workdir, window_s, warmup_s, run_s, spread))
                except AssertionError:
                    raise  # the harness measured something other than it claims
                except Exception as exc:  # noqa: BLE001 -- one peer failing must not lose the others
                    error = f"{type(exc).__name__}: {exc}"
                    out["errors"].append({"peer": peer, "n": n, "run_s": run_s, "error": error})
    finally:
        kill_descendants()
        _set_subreaper(False)
    return out


# -- issue 10's targets ----------------------------------------------------------------------


def targets(fleet: dict[str, Any], adapter: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 10's supervisor targets, each with what was measured; `met` is None if not measured."""
    runs = {(r["peer"], r["n"], r.get("spread", False)): r for r in fleet.get("runs", [])}
    out: list[dict[str, Any]] = []

    def ours(n: int, key: str, spread: bool = False, peer: str = "relaunch") -> Any:
        return runs.get((peer, n, spread), {}).get(key)

    def add(target: str, limit: str, measured: str | None, met: bool | None) -> None:
        out.append({"target": target, "limit": limit, "measured": measured or "not measured", "met": met})

    def at_most(target: str, value: float | None, limit: float, unit: str, strict: bool = False) -> None:
        op = "<" if strict else "<="
        if value is None:
            add(target, f"{op} {limit:g}{unit}", None, None)
        else:
            add(
                target,
                f"{op} {limit:g}{unit}",
                f"{value:g}{unit}",
                value < limit if strict else value <= limit,
            )

    for n in (500, 1000):
        rate = ours(n, "restarts_per_s")
        for peer, factor in (("pm2", 1.2), ("supervisord", 3.0)):
            theirs = ours(n, "restarts_per_s", peer=peer)
            target = f"N={n}: relaunch restarts/s vs {peer}"
            rule = f"{factor:g}x {peer}, or 0.9x ideal if lower"
            if rate is None or theirs is None:
                add(target, f">= {rule}", None, None)
                continue
            limit = min(factor * theirs, 0.9 * n / RUN_S)
            add(target, f">= {limit:.0f}/s ({rule})", f"{rate:g} vs {theirs:g}/s", rate >= limit)
        at_most(f"N={n}: relaunch CPU per restart", ours(n, "cpu_ms_per_restart"), 1.0, " ms")
    small, big = ours(10, "cpu_ms_per_restart"), ours(1000, "cpu_ms_per_restart")
    flat = big / small if small and big is not None else None
    at_most("relaunch CPU per restart, N=1000 / N=10", flat and round(flat, 2), 1.5, "x")
    at_most("N=1: relaunch die-to-restart p50", ours(1, "die_to_restart_ms_p50"), 5.0, " ms", strict=True)
    p50 = "die_to_restart_ms_p50"
    at_most("N=1000: relaunch die-to-restart p50", ours(1000, p50), 50.0, " ms", strict=True)
    if ours(1000, p50, peer="floor") is not None and out[-1]["met"] is not None:
        # What no supervisor gets below on this machine: the programs alone saturate it.
        out[-1]["measured"] += f" (no supervisor: {ours(1000, p50, peer='floor'):g} ms)"
    lives = f"{LATENCY_RUN_S:g}-{2 * LATENCY_RUN_S:g} s"
    spread = f"N={LATENCY_N}, programs living {lives}: relaunch die-to-restart p50"
    at_most(spread, ours(LATENCY_N, p50, spread=True), 50.0, " ms", strict=True)
    at_most("relaunch RSS with 1000 workloads", ours(1000, "rss_mb"), 60.0, " MB", strict=True)
    at_most("1000 workloads added and all running", ours(1000, "all_running_s"), 3.0, " s")
    crash = adapter.get("crash_loop") or {}
    docker = crash.get("supervisor_cpu_ms_per_restart")
    at_most("Docker runtime: supervisor CPU per restart", docker, 2.0, " ms", strict=True)
    return out


# -- the relaunch server: one supervisor, nothing else ---------------------------------------


def _report_added(workdir: Path, first: float) -> None:
    added = {"first_add": first, "add_s": round(time.time() - first, 3)}
    tmp = workdir / "added.json.tmp"
    tmp.write_text(json.dumps(added))
    tmp.replace(workdir / "added.json")


def serve_floor(n: int, workdir: Path, run_s: float, spread: bool) -> None:
    """No supervisor: spawn N programs, and each again the moment ``os.wait`` returns it, until
    SIGTERM (then exit at once; the harness kills what is left)."""

    def leave(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, leave)
    stamps = workdir / "stamps"
    argvs = [program(f"w{i}", stamps, lifetime(i, n, run_s, spread)) for i in range(n)]
    env = _env()
    first = time.time()
    running = {os.posix_spawn(argv[0], argv, env): argv for argv in argvs}
    _report_added(workdir, first)
    while True:
        pid, _ = os.wait()
        argv = running.pop(pid)
        running[os.posix_spawn(argv[0], argv, env)] = argv


def serve_relaunch(n: int, workdir: Path, run_s: float, spread: bool) -> None:
    """Supervise N crash-looping workloads until SIGTERM; report the restart decisions made."""
    from relaunch import Mode, Policy
    from relaunch.adapters.process import ProcessRuntime, ProcessSpec
    from relaunch.adapters.supervisor import DecisionEvent, Supervisor
    from relaunch.kernel import Constant, Unlimited

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    restarts = 0

    def on_decision(event: DecisionEvent) -> None:
        nonlocal restarts  # hooks are delivered one at a time, in decision order
        if event.decision.restarts:
            restarts += 1

    policy = Policy(mode=Mode.ALWAYS, backoff=Constant(0.0), budget=Unlimited())
    stamps = workdir / "stamps"
    with Supervisor(ProcessRuntime("fleet"), str(workdir / "relaunch-state"), on_decision=on_decision) as sup:
        first = time.time()
        for i in range(n):
            sup.add(f"w{i}", ProcessSpec(program(f"w{i}", stamps, lifetime(i, n, run_s, spread))), policy)
        _report_added(workdir, first)
        while not stop.wait(0.2):
            pass
    (workdir / "decisions.json").write_text(json.dumps({"restart_decisions": restarts}))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] in ("--serve-relaunch", "--serve-floor"):
        serve = serve_relaunch if sys.argv[1] == "--serve-relaunch" else serve_floor
        serve(int(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4]), sys.argv[5] == "1")
    else:
        sys.exit(
            "usage: python -m benchmarks.fleet --serve-relaunch|--serve-floor N DIR RUN_S SPREAD"
            " (run by benchmarks/run.py)"
        )
