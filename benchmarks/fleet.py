"""Supervisors at fleet scale: ``relaunch run``, supervisord and PM2, side by side, against the floor.

The same crash-looping fleet (``fleetfiles.py``: N programs that live ``RUN_S`` seconds, exit 1,
and are restarted at once and forever) runs under each supervisor in turn, at each N; first under
no supervisor at all (the *floor*: one loop that spawns each program again the moment
``os.wait`` returns it), which is what the machine allows with these programs at this N, so
every target is stated against it. relaunch runs as a user runs it: ``relaunch run fleet.toml``;
the Python API (``Supervisor.add`` in a server process of its own, this module's
``--serve-api``) is a second row, the library path, so that what the daemon adds shows. Each
program is

    bash -c 'echo "wK s $EPOCHREALTIME" >> STAMPS; sleep 0.5; echo "wK e $EPOCHREALTIME" >> STAMPS; exit 1'

(``sh -c 'sleep 0.5; exit 1'`` plus two stamps). bash rather than dash because ``$EPOCHREALTIME``
is a builtin (bash 5): a microsecond wall-clock stamp with no extra process; a start costs about
0.8 ms more CPU than dash's, the same under every supervisor. Every figure but the control
commands' comes from the stamps file or from /proc, never from a supervisor's own account, so one
method is valid for all:

- **restarts/s**: start stamps inside the window (a workload's first start excluded) over the
  window's wall time. The window opens once all N programs have started and a warm-up has passed.
- **die-to-restart**: from a program's end stamp (taken just before it exits) to the next start
  stamp of the same workload: the supervisor noticing the exit, deciding, spawning, plus the exec
  of bash and its start-up, which the floor measures alone. An end in the window not restarted
  when the window closes counts with the time it had waited by then (a lower bound), and is
  reported; the same cut for every supervisor, whatever happens after the window.
- **The latency pass** (the floor and relaunch): N = ``LATENCY_N`` programs of which workload i
  lives ``LATENCY_RUN_S * (1 + i / N)``. With 0.5 s programs at N=1000 the machine cannot keep
  up (measured: the floor restarts about 700 to 930 a second of the 2000 asked, p50 0.5 to 1 s; a
  C loop of waitpid and posix_spawn did no better, 659 a second and p50 986 ms), so
  die-to-restart there is the wait for a core, whoever supervises; and programs that all live the
  same time die in step, a burst of N each cycle (1000 programs of 5 s: floor p50 62 ms). Spread
  lifetimes keep the machine below saturation, which is when a supervisor's own latency shows.
- **CPU per restart**: utime + stime (/proc/PID/stat fields 14 and 15, proc(5); children's times
  are fields 16 and 17, not counted) of the supervisor's own process over the window, divided by
  the restarts in it: ``relaunch run`` itself, the API server, supervisord in the foreground
  (``-n``), PM2's God daemon (``$PM2_HOME/pm2.pid``).
- **RSS**: VmRSS of the same process at the end of the window.
- **all N running after**: from the launch of the supervisor's process (``relaunch run``, the
  API or floor server, supervisord, ``pm2 start``) to the N-th workload's first start stamp, so
  each includes its own start-up. ``pm2 start`` runs in the background (it takes 9 s at N=100 and
  17 s at N=200 here, and did not finish within 120 s at N=500 while the first apps already
  crash-looped); the window opens once it has exited, or at ``STARTUP_TIMEOUT_S`` whatever has
  started.
- **After the window** (``relaunch run`` only, so that none of it is in the window's figures):
  ``relaunch ctl status --json`` run ``CTL_CALLS`` times one after the other, each timed from
  the command's launch to its exit (what a user waits for: interpreter start-up, the request,
  the reply); then the **reload check**: one workload's argv is changed in ``fleet.toml``
  (``Program.changed``: it stamps under another label), ``relaunch ctl reload`` applies it, and
  the stamps and restart counts say which workloads the reload restarted.

Each supervisor's configuration comes from ``fleetfiles.py``, one list rendered three ways. Each
peer is installed into ``CACHE`` (gitignored) before the first run: supervisor in a venv of its
own through pip, pm2 through ``npm install --prefix`` (node and npm must be on PATH).

Every process a run starts is stopped by pid when it ends, even on failure: the supervisor first
(SIGTERM to ``relaunch run``, the servers and supervisord, ``pm2 kill``), then every process
still descending from this one, with SIGKILL. This process is a child subreaper (prctl(2)
``PR_SET_CHILD_SUBREAPER``) during the fleet runs, so orphans (PM2's detached daemon, the
``sleep`` of a killed ``bash``) stay in its tree instead of going to init. Pids are not reused
between the scan and the kill: Linux allocates them cyclically (kernel/pid.c, ``alloc_pid``).

This module imports relaunch only in the API server process, and only its public surface
(``Supervisor``, ``ProcessRuntime``, ``ProcessSpec``, ``DecisionEvent``,
``policyfile.from_data``); ``relaunch run`` and ``relaunch ctl`` are commands it runs.
"""

from __future__ import annotations

import bisect
import contextlib
import ctypes
import json
import math
import os
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import fleetfiles
from benchmarks.harness import percentile

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("RELAUNCH_BENCH_CACHE", Path(__file__).resolve().parent / ".cache"))

SIZES = (100, 500, 1000)
PEERS = ("floor", "relaunch", "relaunch-api", "supervisord", "pm2")
#: How the tables name each peer.
LABELS = {
    "floor": "no supervisor (floor)",
    "relaunch": "relaunch run",
    "relaunch-api": "relaunch (Python API)",
    "supervisord": "supervisord",
    "pm2": "PM2",
}
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
LATENCY_PEERS = ("floor", "relaunch", "relaunch-api")

CTL_CALLS = 20  # `relaunch ctl status` calls timed after each window of `relaunch run`
CTL_TIMEOUT_S = 60.0
# After a reload, how long past its settling time the changed workload may take to start anew.
RELOAD_TIMEOUT_S = 30.0

_PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


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
    # LC_ALL=C: $EPOCHREALTIME uses the locale's decimal separator. Bytecode is written (to a
    # cache of the bench's own) and read again, as an installed package has it (pip compiles it
    # at install; supervisor's venv has it): with PYTHONDONTWRITEBYTECODE set, as it is in some
    # sandboxes, every `relaunch ctl` would compile relaunch's modules anew.
    env = {**os.environ, "LC_ALL": "C", "PYTHONPYCACHEPREFIX": str(CACHE / "pycache"), **extra}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


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


def run_available() -> bool:
    """Whether the relaunch on this path has the commands ``relaunch run`` and ``relaunch ctl``."""
    for command in ("run", "ctl"):
        proc = subprocess.run(
            relaunch_command(command, "--help"), capture_output=True, env=_env(), check=False
        )
        if proc.returncode != 0:
            return False
    return True


def relaunch_command(*args: str) -> list[str]:
    """``relaunch ARGS`` as ``python -m relaunch``: the console script's entry point, on this path."""
    return [sys.executable, "-m", "relaunch", *args]


def _check_run() -> None:
    if not run_available():
        raise RuntimeError("this relaunch has no `relaunch run` and `relaunch ctl` commands")


#: What each peer needs before its first run: installed into CACHE, or found.
_INSTALL: dict[str, Callable[[], object]] = {
    "supervisord": lambda: supervisord_path(),
    "pm2": lambda: pm2_path(),
    "relaunch": _check_run,
}


def peer_versions(peers: Sequence[str]) -> dict[str, str]:
    import importlib.metadata

    bash = subprocess.run([fleetfiles.bash(), "-c", "echo $BASH_VERSION"], capture_output=True, text=True)
    out = {"bash": bash.stdout.strip()}
    if {"relaunch", "relaunch-api"} & set(peers):
        out["relaunch"] = importlib.metadata.version("relaunch")
    if "supervisord" in peers:
        out["supervisor"] = SUPERVISOR_VERSION
    if "pm2" in peers:
        out["pm2"] = PM2_VERSION
        node = shutil.which("node")
        if node:
            out["node"] = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    return out


# -- the supervisors -------------------------------------------------------------------------


class Fleet:
    """One supervisor running N workloads in `workdir`; the stamps go to `workdir/stamps`.

    A supervisor that runs as one child process of ours (``relaunch run``, the servers,
    supervisord) is started with `_spawn` and stopped by `stop`: SIGTERM, then SIGKILL after
    `STOP_TIMEOUT_S`.
    """

    log_name = "supervisor.log"

    def __init__(self, n: int, workdir: Path, run_s: float = RUN_S, spread: bool = False) -> None:
        self.n = n
        self.run_s = run_s
        self.spread = spread
        self.dir = workdir
        self.stamps = workdir / "stamps"
        self.programs = fleetfiles.fleet(n, self.stamps, run_s, spread)
        self.launched_at = 0.0
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(self) -> None: ...

    def ready(self) -> bool:
        """Whether the supervisor is up (raises if it died)."""
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

    def after_window(self, stamps: Stamps, ctl_calls: int) -> dict[str, Any]:
        """Probes of the running fleet once the window is measured; their figures."""
        return {}

    def verify(self, stamps: Stamps) -> dict[str, Any]:
        """Checks once the fleet is stopped; raises AssertionError if the run is not what it claims."""
        return {}

    def settle(self, deadline: float) -> None:
        """Wait (until `deadline`, monotonic) for start-up work that must not fall in the window."""

    def _spawn(self, argv: list[str], env: dict[str, str] | None = None, **kwargs: Any) -> None:
        with (self.dir / self.log_name).open("w") as log:
            self.launched_at = time.time()
            self.proc = subprocess.Popen(
                argv, env=env or _env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log, **kwargs
            )

    def _log(self) -> str:
        return (self.dir / self.log_name).read_text()[-2000:]


class RunFleet(Fleet):
    """``relaunch run fleet.toml``, as a user runs it; ``relaunch ctl`` probes it after the window."""

    log_name = "relaunch-run.log"

    def launch(self) -> None:
        self.file = self.dir / "fleet.toml"
        self.file.write_text(fleetfiles.relaunch_toml(self.programs))
        self._spawn(relaunch_command("run", str(self.file)), cwd=self.dir)

    def ctl(self, *args: str) -> tuple[Any, float]:
        """The parsed ``--json`` reply of ``relaunch ctl -c fleet.toml ARGS``, and its wall time (s)."""
        argv = relaunch_command("ctl", "-c", str(self.file), *args, "--json")
        began = time.perf_counter()
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=CTL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"relaunch ctl {' '.join(args)}: no reply within {CTL_TIMEOUT_S:g}s") from None
        took = time.perf_counter() - began
        if proc.returncode != 0:
            raise RuntimeError(
                f"relaunch ctl {' '.join(args)} exited {proc.returncode}: {proc.stderr[-1000:]}"
            )
        try:
            return json.loads(proc.stdout), took
        except ValueError:
            raise RuntimeError(f"relaunch ctl {' '.join(args)}: not JSON: {proc.stdout[:500]!r}") from None

    def status(self) -> tuple[dict[str, dict[str, Any]], float]:
        """``ctl status``'s row of each workload, by name, and the command's wall time (s)."""
        reply, took = self.ctl("status")
        rows = {row["name"]: row for row in reply["workloads"]}
        names = {p.name for p in self.programs}
        if set(rows) != names:
            raise RuntimeError(f"ctl status names {len(rows)} workloads, not the {len(names)} of the file")
        return rows, took

    def after_window(self, stamps: Stamps, ctl_calls: int) -> dict[str, Any]:
        out = self._check_restarts(stamps)
        took = [self.status()[1] for _ in range(ctl_calls)]
        out["ctl_status_calls"] = ctl_calls
        out["ctl_status_ms_p50"] = round(statistics.median(took) * 1e3, 1)
        out["ctl_status_ms_max"] = round(max(took) * 1e3, 1)
        out.update(self._reload(stamps))
        return out

    def _starts(self, stamps: Stamps) -> dict[str, int]:
        """Each workload's starts so far, read from the stamps now."""
        stamps.read()
        return {p.name: len(stamps.starts.get(p.label, ())) for p in self.programs}

    def _check_restarts(self, stamps: Stamps) -> dict[str, Any]:
        # Every start after a workload's first needs a restart decision, and a workload has at most
        # one decided restart not yet started: each workload's `restarts` lies between its starts
        # read before the call, less one, and its starts read after.
        before = self._starts(stamps)
        rows, _ = self.status()
        after = self._starts(stamps)
        wrong = [
            f"{name}: {row['restarts']} restarts for {before[name]} to {after[name]} starts"
            for name, row in rows.items()
            if not before[name] - 1 <= row["restarts"] <= after[name]
        ]
        if wrong:
            raise AssertionError(f"ctl status restarts disagree with the stamps: {'; '.join(wrong[:5])}")
        return {
            "restart_decisions": sum(row["restarts"] for row in rows.values()),
            "starts": sum(after.values()),
        }

    def _reload(self, stamps: Stamps) -> dict[str, Any]:
        """Change one workload's argv in the file, ``ctl reload``, and find whom the reload restarted."""
        target = self.programs[self.n // 2]
        changed = target.changed()
        before = {name: row["restarts"] for name, row in self.status()[0].items()}
        started_before = self._starts(stamps)
        edited = self.dir / "fleet.toml.tmp"
        edited.write_text(fleetfiles.relaunch_toml([changed if p is target else p for p in self.programs]))
        edited.replace(self.file)
        reply, took = self.ctl("reload")
        replied_at = time.time()
        # A run alive at the reply ends within its lifetime unless the reload stopped it; the
        # margin is for a saturated machine, where a program waits about a second for a core.
        settled_at = replied_at + 2 * max(p.run_s for p in self.programs) + 2.0
        deadline = settled_at + RELOAD_TIMEOUT_S
        while time.time() < settled_at or (changed.label not in stamps.starts and time.time() < deadline):
            time.sleep(0.1)
            stamps.read()
        started_after = self._starts(stamps)
        after = {name: row["restarts"] for name, row in self.status()[0].items()}
        # A kept state counted every restart since: at least one per start between the two
        # readings, less the one that may have been decided before the first and started after.
        least = {
            p.name: before[p.name] + started_after[p.name] - started_before[p.name] - 1 for p in self.programs
        }
        restarted = restarted_by_reload(self.programs, target, stamps, replied_at, least, after)
        return {
            "reload_changed": target.name,
            "reload_restarted": len(restarted),
            "reload_exact": restarted == {target.name},
            "reload_others": sorted(restarted - {target.name})[:10],
            "reload_reply": {key: reply[key] for key in ("added", "removed", "restarted")},
            "reload_ms": round(took * 1e3, 1),
        }


def restarted_by_reload(
    programs: Sequence[fleetfiles.Program],
    target: fleetfiles.Program,
    stamps: Stamps,
    replied_at: float,
    least: dict[str, int],
    after: dict[str, int],
) -> set[str]:
    """The workloads a reload restarted, once every run alive at its reply had time to end.

    ``target`` is the workload whose argv changed; ``after`` is each workload's restart count from
    ``ctl status`` after the reload, ``least`` the lowest count its state can have if the reload
    kept it. Another workload counts as restarted when one of its runs that began before the reply
    never stamped its end (it was stopped: nothing else stops a run before the teardown), or when
    its count is below ``least`` (it was removed and added again: a new state). The target counts
    once its new argv has started and its old one no longer starts.
    """
    restarted = {
        p.name
        for p in programs
        if p.name != target.name
        and (_interrupted(stamps, p.label, replied_at) or after[p.name] < least[p.name])
    }
    new_started = target.changed().label in stamps.starts
    old_started = any(s > replied_at for s in stamps.starts.get(target.label, ()))
    if new_started and not old_started:
        restarted.add(target.name)
    return restarted


def _interrupted(stamps: Stamps, label: str, before: float) -> bool:
    """Whether a run of `label` that began before `before` has no end stamp before the next start."""
    starts = sorted(stamps.starts.get(label, ()))
    ends = sorted(stamps.ends.get(label, ()))
    for began, following in zip(starts, [*starts[1:], math.inf], strict=True):
        if began >= before:
            break
        i = bisect.bisect_right(ends, began)
        if i == len(ends) or ends[i] >= following:
            return True
    return False


class ApiFleet(Fleet):
    """relaunch's Python API in a server process that does nothing but supervise (``--serve-api``)."""

    log_name = "server.log"
    serve = "--serve-api"

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


class FloorFleet(ApiFleet):
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
    """``supervisord -n -c supervisord.conf``; on SIGTERM it stops its programs, then exits."""

    log_name = "supervisord.out"

    def launch(self) -> None:
        exe = supervisord_path()
        conf = self.dir / "supervisord.conf"
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        conf.write_text(fleetfiles.supervisord_conf(self.programs, self.dir, nofile, nproc))
        self._spawn([str(exe), "-n", "-c", str(conf)])


class Pm2Fleet(Fleet):
    """``pm2 start ecosystem.config.js`` with a PM2_HOME of its own; `proc` is the CLI, the
    supervisor its daemon."""

    log_name = "pm2-cli.log"

    def launch(self) -> None:
        self.exe = str(pm2_path())
        self.home = self.dir / "pm2home"
        eco = self.dir / "ecosystem.config.js"
        eco.write_text(fleetfiles.pm2_ecosystem(self.programs))
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
    "relaunch": RunFleet,
    "relaunch-api": ApiFleet,
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
    ctl_calls: int = CTL_CALLS,
) -> dict[str, Any]:
    """Run `peer` with N workloads (living `lifetime(...)`): start, warm up, measure, probe, stop all."""
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
        try:
            probes = fleet.after_window(stamps, ctl_calls)
        except RuntimeError as exc:  # a control command failed: the window's figures still stand
            probes = {"probe_error": f"{type(exc).__name__}: {exc}"}
    finally:
        try:
            fleet.stop()
        finally:
            leftovers = kill_descendants()
    stamps.read()
    ideal = sum(1 / p.run_s for p in fleet.programs)
    result = summarize(peer, n, stamps, Window(t0, t1, cpu1 - cpu0, rss), ideal)
    result.update(run_s=run_s, spread=spread)
    result["all_running_s"] = None if started is None else round(started - fleet.launched_at, 2)
    result["killed_after_stop"] = leftovers
    result.update(probes)
    result.update(fleet.verify(stamps))
    return result


def latencies(stamps: Stamps, t0: float, t1: float) -> tuple[list[float], int]:
    """Die-to-restart times (s) of the runs that ended in [t0, t1), and how many were not restarted.

    A run not restarted by `t1` counts with the time it had waited by then (a lower bound), so
    that a supervisor that falls behind cannot look fast by leaving its slowest out; and no
    restart after `t1` counts, so that what happens after the window (the probes of ``relaunch
    run``, a supervisor's stop) changes no figure.
    """
    out, censored = [], 0
    for name, ends in stamps.ends.items():
        starts = sorted(stamps.starts.get(name, []))
        for end in ends:
            if not t0 <= end < t1:
                continue
            nxt = next((s for s in starts if s > end), math.inf)
            if nxt >= t1:
                censored += 1
                out.append(t1 - end)
            else:
                out.append(nxt - end)
    return out, censored


def summarize(peer: str, n: int, stamps: Stamps, w: Window, ideal: float) -> dict[str, Any]:
    """The figures of one run; ``ideal`` is the restarts per second with every restart at once."""
    restarts = sum(1 for times in stamps.starts.values() for s in sorted(times)[1:] if w.t0 <= s < w.t1)
    span = w.t1 - w.t0
    lat, censored = latencies(stamps, w.t0, w.t1)
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
    ctl_calls: int = CTL_CALLS,
) -> dict[str, Any]:
    """Every peer at every N, one after the other, then (``latency``) the latency pass: the
    ``LATENCY_PEERS`` at ``LATENCY_N`` programs living ``LATENCY_RUN_S``. Each peer is installed
    first; a peer that cannot be, or a run that fails, is reported and the rest go on."""
    unknown = set(peers) - set(FLEETS)
    if unknown:
        raise ValueError(f"unknown fleet peers {sorted(unknown)}; known: {', '.join(FLEETS)}")
    _raise_nofile()
    out: dict[str, Any] = {
        "program": "bash -c " + shlex.quote(fleetfiles.program("wK", Path("STAMPS"), RUN_S)[2]),
        "run_s": RUN_S,
        "latency_run_s": [LATENCY_RUN_S, 2 * LATENCY_RUN_S],
        "window_s": window_s,
        "warmup_s": warmup_s,
        "versions": peer_versions(peers),
        "runs": [],
        "errors": [],
    }
    plan = [(n, peer, RUN_S, False) for n in sizes for peer in peers]
    if latency:
        plan += [(LATENCY_N, peer, LATENCY_RUN_S, True) for peer in LATENCY_PEERS if peer in peers]
    for peer in dict.fromkeys(peers):
        if peer not in _INSTALL:
            continue
        try:
            _INSTALL[peer]()
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            error = f"not installed: {type(exc).__name__}: {exc}"
            out["errors"] += [
                {"peer": p, "n": n, "run_s": r, "error": error} for n, p, r, _ in plan if p == peer
            ]
            plan = [step for step in plan if step[1] != peer]
    _set_subreaper(True)
    try:
        with tempfile.TemporaryDirectory(prefix="relaunch-fleet-") as tmp:
            for n, peer, run_s, spread in plan:
                workdir = Path(tmp) / f"{peer}-{n}{'-spread' if spread else ''}"
                workdir.mkdir()
                print(f"fleet: {peer} N={n}{' spread' if spread else ''} ...", file=sys.stderr, flush=True)
                try:
                    out["runs"].append(
                        run_one(peer, n, workdir, window_s, warmup_s, run_s, spread, ctl_calls)
                    )
                except AssertionError:
                    raise  # the harness measured something other than it claims
                except Exception as exc:  # noqa: BLE001 -- one peer failing must not lose the others
                    error = f"{type(exc).__name__}: {exc}"
                    out["errors"].append({"peer": peer, "n": n, "run_s": run_s, "error": error})
    finally:
        kill_descendants()
        _set_subreaper(False)
    return out


# -- the targets, each against the floor of the same run ------------------------------------

#: The N of the main pass the targets are stated at.
TARGET_SIZES = (100, 500, 1000)
FLOOR_RATE_FACTOR = 0.9
SUPERVISORD_RATE_FACTOR = 3.0
PM2_RATE_FACTOR = 1.2
DIE_TO_RESTART_SLACK_MS = 50.0
ALL_RUNNING_FACTOR = 1.5
CTL_STATUS_MS = 100.0
RSS_MB = 60.0


def targets(fleet: dict[str, Any]) -> list[dict[str, Any]]:
    """``relaunch run``'s targets, each judged against the no-supervisor floor of the same run.

    A time no supervisor can beat on this machine is no target: at N=1000 with 0.5 s programs the
    programs alone saturate 2 cores, and the floor itself waits about a second between a death and
    its restart. So each target says how close to the floor relaunch must come, and the floor's
    figure stands beside it (``floor``):

    - restarts/s at each N: at least 3x supervisord's and 1.2x PM2's, but never more than 0.9x the
      floor's (where the floor is below 3x supervisord, or PM2 comes near the floor, 1.2x PM2 or 3x
      supervisord would ask for more than the machine allows: the floor leaves a supervisor no CPU);
    - die-to-restart p50 at each N and in the latency pass: at most the floor's plus 50 ms;
    - all N running at N=1000: at most 1.5x the floor's time, each from its own process's launch;
    - ``ctl status`` at N=1000: p50 under 100 ms, judged in the latency pass, where the machine has
      a core free (in the saturated pass any new process waits for one; shown beside);
    - a reload after one workload's argv changed restarts exactly that one, at each N;
    - RSS with 1000 workloads under 60 MB (memory, not time: the cores do not change it).

    ``met`` is None where a run is missing.
    """
    runs = {(r["peer"], r["n"], r.get("spread", False)): r for r in fleet.get("runs", [])}
    out: list[dict[str, Any]] = []

    def get(peer: str, n: int, key: str, spread: bool = False) -> Any:
        return runs.get((peer, n, spread), {}).get(key)

    def add(target: str, limit: str, measured: str | None, floor: str | None, met: bool | None) -> None:
        out.append(
            {
                "target": target,
                "limit": limit,
                "measured": "not measured" if measured is None else measured,
                "floor": "-" if floor is None else floor,
                "met": None if measured is None else met,
            }
        )

    def num(value: float | None, unit: str) -> str | None:
        return None if value is None else f"{value:g}{unit}"

    lives = f"programs living {LATENCY_RUN_S:g}-{2 * LATENCY_RUN_S:g} s"
    passes = [(n, False, f"N={n}") for n in TARGET_SIZES] + [(LATENCY_N, True, f"N={LATENCY_N}, {lives}")]

    for n in TARGET_SIZES:
        rate, floor, sd, pm2 = (
            get(p, n, "restarts_per_s") for p in ("relaunch", "floor", "supervisord", "pm2")
        )
        target = f"N={n}: restarts/s"
        by_floor = f"{FLOOR_RATE_FACTOR:g}x floor"
        by_sd = f"{SUPERVISORD_RATE_FACTOR:g}x supervisord"
        by_pm2 = f"{PM2_RATE_FACTOR:g}x PM2"
        if rate is None or floor is None or sd is None or pm2 is None:
            add(target, f">= {by_sd} and {by_pm2}, at most {by_floor}", None, num(floor, "/s"), None)
            continue
        peers_bar = max((SUPERVISORD_RATE_FACTOR * sd, by_sd), (PM2_RATE_FACTOR * pm2, by_pm2))
        limit, rule = min((FLOOR_RATE_FACTOR * floor, by_floor), peers_bar)
        measured = f"{rate:g}/s (supervisord {sd:g}, PM2 {pm2:g})"
        add(target, f">= {limit:.0f}/s ({rule})", measured, f"{floor:g}/s", rate >= limit)

    p50 = "die_to_restart_ms_p50"
    for n, spread, where in passes:
        ours, floor = get("relaunch", n, p50, spread), get("floor", n, p50, spread)
        target = f"{where}: die-to-restart p50"
        if ours is None or floor is None:
            add(target, f"<= floor + {DIE_TO_RESTART_SLACK_MS:g} ms", None, num(floor, " ms"), None)
            continue
        limit = floor + DIE_TO_RESTART_SLACK_MS
        add(
            target,
            f"<= {limit:g} ms (floor + {DIE_TO_RESTART_SLACK_MS:g} ms)",
            f"{ours:g} ms",
            f"{floor:g} ms",
            ours <= limit,
        )

    largest = max(TARGET_SIZES)
    ours, floor = get("relaunch", largest, "all_running_s"), get("floor", largest, "all_running_s")
    target = f"N={largest}: all {largest} running after"
    if ours is None or floor is None:
        add(target, f"<= {ALL_RUNNING_FACTOR:g}x floor", None, num(floor, " s"), None)
    else:
        limit = ALL_RUNNING_FACTOR * floor
        add(
            target,
            f"<= {limit:.2f} s ({ALL_RUNNING_FACTOR:g}x floor)",
            f"{ours:g} s",
            f"{floor:g} s",
            ours <= limit,
        )

    status, worst = (
        get("relaunch", LATENCY_N, "ctl_status_ms_p50", True),
        get("relaunch", LATENCY_N, "ctl_status_ms_max", True),
    )
    measured = None if status is None else f"p50 {status:g} ms, max {worst:g} ms"
    saturated = get("relaunch", LATENCY_N, "ctl_status_ms_p50")
    if measured is not None and saturated is not None:
        measured += f" (0.5 s programs: p50 {saturated:g} ms)"
    met = None if status is None else status < CTL_STATUS_MS
    add(f"N={LATENCY_N}, {lives}: `relaunch ctl status` p50", f"< {CTL_STATUS_MS:g} ms", measured, None, met)

    for n, spread, where in passes:
        exact, count = (
            get("relaunch", n, "reload_exact", spread),
            get("relaunch", n, "reload_restarted", spread),
        )
        measured = None if exact is None else f"{count} of {n}"
        add(f"{where}: reload after one workload changed restarts", "exactly that 1", measured, None, exact)

    ours, floor = get("relaunch", largest, "rss_mb"), get("floor", largest, "rss_mb")
    met = None if ours is None else ours < RSS_MB
    add(f"N={largest}: RSS", f"< {RSS_MB:g} MB", num(ours, " MB"), num(floor, " MB"), met)
    return out


# -- the servers: the floor and the Python API, nothing else -------------------------------------


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
    argvs = [p.argv for p in fleetfiles.fleet(n, workdir / "stamps", run_s, spread)]
    env = _env()
    first = time.time()
    running = {os.posix_spawn(argv[0], argv, env): argv for argv in argvs}
    _report_added(workdir, first)
    while True:
        pid, _ = os.wait()
        argv = running.pop(pid)
        running[os.posix_spawn(argv[0], argv, env)] = argv


def serve_api(n: int, workdir: Path, run_s: float, spread: bool) -> None:
    """Supervise N crash-looping workloads through the Python API until SIGTERM; report the
    restart decisions made."""
    from relaunch import policyfile
    from relaunch.adapters.process import ProcessRuntime, ProcessSpec
    from relaunch.adapters.supervisor import DecisionEvent, Supervisor

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    restarts = 0

    def on_decision(event: DecisionEvent) -> None:
        nonlocal restarts  # hooks are delivered one at a time, in decision order
        if event.decision.restarts:
            restarts += 1

    policy = policyfile.from_data(fleetfiles.POLICY)
    programs = fleetfiles.fleet(n, workdir / "stamps", run_s, spread)
    with Supervisor(ProcessRuntime("fleet"), str(workdir / "relaunch-state"), on_decision=on_decision) as sup:
        first = time.time()
        for p in programs:
            sup.add(p.name, ProcessSpec(p.argv), policy)
        _report_added(workdir, first)
        while not stop.wait(0.2):
            pass
    (workdir / "decisions.json").write_text(json.dumps({"restart_decisions": restarts}))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] in ("--serve-api", "--serve-floor"):
        serve = serve_api if sys.argv[1] == "--serve-api" else serve_floor
        serve(int(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4]), sys.argv[5] == "1")
    else:
        sys.exit(
            "usage: python -m benchmarks.fleet --serve-api|--serve-floor N DIR RUN_S SPREAD"
            " (run by benchmarks/run.py)"
        )
