"""The local process runtime: run commands in their own process groups, report how they end.

Standard library only; Linux only (``/proc``, pidfds, ``waitid(P_PIDFD)`` and epoll: Linux 5.4
or later). Everything the runtimes share (delayed and cancellable restarts, exactly-once
decisions, the store, status, hooks) is the supervisor core's (``supervisor.py``); this module
only starts, watches and stops processes, and never decides anything. The contract it keeps is
in ``runtime.py``.

What this module owns: :class:`ProcessRuntime` (the contract's ``open``, ``watch``, ``observe``,
``start``, ``stop`` and ``close``), its run tables and the watch thread, how a run's end is
collected and reported, stopping and killing a run's group, which of the previous supervisor's
runs are adopted, and :func:`run_foreground`. It must not build a spawn, check a spec or parse
``/proc`` itself; those are its neighbours' (each says what it owns and must not do):

- ``process_spec.py``: :class:`ProcessSpec` and :class:`Credentials` (re-exported here), the
  checks of every field;
- ``process_spawn.py``: how a spec becomes one ``posix_spawn`` call (the environment with the
  marks, the ``setpriv``/``env -C`` trampolines, the log files as file actions, the signals
  set back to their defaults), and the facts about start failures;
- ``process_identity.py``: the marks and the identity of a run (boot id, pid, start ticks), read
  from ``/proc``, by which a later supervisor finds its runs again;
- ``probes.py`` (health checks) and ``logfiles.py`` (rotation of the log files).

What it does, and the facts it relies on:

- **Adoption.** At ``open`` the runtime finds the group leaders carrying its owner mark
  (``process_identity.py``): a run started just before the previous supervisor was killed,
  before the store recorded it, is adopted rather than started a second time.
- **How a run ended.** ``os.waitid`` on the run's pidfd (``P_PIDFD``) gives the exit code
  (``CLD_EXITED``) or the signal that killed it (``CLD_KILLED``, ``CLD_DUMPED``); see waitid(2).
  When the group's leader exits, whatever it left in its group is killed with SIGKILL, as the
  kernel does to a PID namespace whose init exits (so a container-like unit: a restarted run
  never meets leftovers of the previous one). The kill is sent before the leader is reaped: a
  zombie still holds its pid, so the group id cannot have been reused yet.
- **Stopping.** A stop requested through the supervisor sends SIGTERM to the group, then
  SIGKILL after ``stop_grace`` seconds (10 s by default, as ``docker stop``); the core makes
  that run ``STOPPED`` whatever its status.
- **Start failures.** A command that cannot be executed makes the spawn raise ``OSError``
  (``process_spawn.py``): ``START_FAILED``. A failed fork or a lack of file descriptors (the
  pidfd cannot be opened) is the host's trouble, not the command's: it is retried later and
  costs no budget. A child already spawned when that happens is killed and reaped at once, so
  no process is ever left running untracked; the shortage is logged once when it begins and
  once when it ends.
- **Watching.** One thread waits on one epoll set: one registration per live run's pidfd (it
  becomes readable when the process exits, for non-children too) plus a wake-up pipe, so an
  event costs the same with 1 or 1000 runs. No SIGCHLD handler, so the adapter does not
  interfere with the rest of the program.
- **Surviving the supervisor.** Each run is reported with its identity (pid, start ticks, boot
  id: ``process_identity.py``), which the core stores in the workload's run row. A new
  supervisor recognises a run only if the boot id and the start time still match (so a reused
  pid is never mistaken for it), and **adopts** it: it reports it running, stops it on request,
  and watches it through its pidfd. A process that is not our child cannot be waited for, so
  its exit status is unknown (unless this process is still its parent, e.g. a supervisor
  re-created in the same program, which gets the real status): its end is reported with
  ``status_known=False``, which the core counts as a failure, so a crash loop spends its budget
  across supervisor restarts. A saved run that ended while no supervisor was watching is
  reported the same way, with the time it was noticed as its end.
- Signals to an adopted group cannot rule out pid reuse the way the zombie rule does for our
  own children; they rely on Linux allocating pids cyclically (``kernel/pid.c``, ``alloc_pid``
  with ``idr_alloc_cyclic``): a pid freed a moment ago is not handed out again before the whole
  pid range has been used.

- **Health.** A spec with ``health`` (``probes.py``: a command, a TCP connect or an HTTP GET on
  loopback) is probed from each run's start, on the runtime's one probe timer; the kernel's
  ``HealthCheck`` judges the results. A run found UNHEALTHY is stopped as ``stop`` does
  (SIGTERM to its group, SIGKILL after ``stop_grace``) and its end is reported with
  ``Cause.UNHEALTHY``, whatever status it then exits with. Adopted runs are probed too, from
  the time they are adopted (the start period starts again).
- **Output.** A spec's log files are opened at each start and handed to the child
  (``process_spawn.py``); the supervisor never reads or copies its output. Each log file
  belongs to one workload (``watch`` refuses a second writer, as two would rotate each other's
  output away; ``forget`` frees it), and the ``relaunch-logs`` thread rotates the live ones.

Known limit: processes that leave their process group (``setsid``, double fork) escape
supervision: there are no cgroups here.

Threads and locks, in the order a thread may take them:

=============================  ==================================================================
thread                         what it does, and the locks it takes
=============================  ==================================================================
the core's threads             call the runtime: ``self._lock`` (run tables), released before
                               the sink, the prober or the rotator is called; ``start`` opens
                               log files and spawns outside it
``relaunch-process-watch``     waits on the pidfds' epoll set; ``self._lock`` for the tables,
                               then (released) the sink, ``Prober`` and ``Rotator.forget``
``relaunch-probe-timer``,      ``probes.py``: ``Prober._lock`` (a leaf), released before calling
``relaunch-probe-N``           back here (``self._lock``)
``relaunch-logs``              ``logfiles.Rotator``: stats the live runs' log files once a
                               second and copy-truncates full ones; ``Rotator._lock`` (a leaf,
                               also taken by ``Rotator.watch``/``forget`` from the threads
                               above, never while holding another lock); never calls back here
=============================  ==================================================================
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import resource
import select
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relaunch import Cause, Policy
from relaunch.adapters.clock import Clock
from relaunch.adapters.logfiles import LogFile, Rotator
from relaunch.adapters.probes import PROBE_WORKERS, Prober
from relaunch.adapters.process_identity import (
    boot_id,
    marked_leaders,
    pidfd_of,
    run_key,
    spawn_ticks,
    ticks_to_unix,
)
from relaunch.adapters.process_spawn import FD_ERRNOS, FORK_ERRNOS, Launch, check_libc, environment, spawn
from relaunch.adapters.process_spec import Credentials, ProcessSpec
from relaunch.adapters.runtime import (
    Ended,
    HealthReport,
    LiveRun,
    NotStarted,
    Observation,
    Resume,
    RunEnd,
    Running,
    RuntimeUnavailable,
    Sink,
    StartError,
    SupervisorError,
)
from relaunch.adapters.supervisor import DecisionEvent, Phase, Supervisor

__all__ = ["STOP_GRACE_S", "Credentials", "ProcessInfo", "ProcessRuntime", "ProcessSpec", "run_foreground"]

logger = logging.getLogger("relaunch.process")

# `docker stop` waits 10 s before SIGKILL by default; the same grace here.
STOP_GRACE_S = 10.0

# A shortage of processes or descriptors is over once starts succeed for this long without one.
SHORTAGE_QUIET_S = 5.0


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """The live run of a workload, for status displays: which process, since when, whose child."""

    pid: int  # also the process group id
    started_at: float  # Unix seconds
    adopted: bool  # started by a previous supervisor: its exit status is likely to be unknown


@dataclass(slots=True)
class _Run:
    name: str
    boot: str  # the boot id of the machine it runs on
    pid: int
    ticks: int  # start time in clock ticks since boot: with the boot id, the identity of the process
    started_at: float
    pidfd: int
    adopted: bool  # started by a previous supervisor, not by this runtime
    kill_at: float | None = None  # time.monotonic() of the SIGKILL that ends a stop's grace
    unhealthy: HealthReport | None = None  # the verdict that stopped it, if its health check did
    key: str = dataclasses.field(init=False)  # run_key: made once, read at its start and its end

    def __post_init__(self) -> None:
        self.key = run_key(self.boot, self.pid, self.ticks)

    def live(self) -> LiveRun:
        return LiveRun(self.key, self.started_at, {"boot": self.boot, "pid": self.pid, "ticks": self.ticks})


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


class ProcessRuntime:
    """Runs each workload's command as a local process group (see the module docstring)."""

    def __init__(
        self,
        supervisor_id: str = "process",
        *,
        stop_grace: float = STOP_GRACE_S,
        clock: Clock | None = None,
        probe_workers: int = PROBE_WORKERS,
    ) -> None:
        if not hasattr(os, "pidfd_open") or not hasattr(os, "P_PIDFD"):
            raise SupervisorError("the process adapter needs Linux 5.4 or later (pidfds)")
        try:
            check_libc()
        except (OSError, AttributeError) as exc:
            raise SupervisorError(f"the process adapter needs libc's posix_spawn: {exc}") from None
        if not math.isfinite(stop_grace) or stop_grace < 0:
            raise ValueError(f"stop_grace: must be a finite number >= 0, got {stop_grace!r}")
        self._id = supervisor_id
        self._stop_grace = stop_grace
        self._boot = boot_id()
        self._lock = threading.Lock()
        self._owner = ""
        self._specs: dict[str, ProcessSpec] = {}
        self._launches: dict[str, Launch] = {}
        self._log_users: dict[Path, str] = {}  # each log file is written by one workload's runs
        self._runs: dict[str, _Run] = {}
        self._by_fd: dict[int, _Run] = {}
        self._stopping: dict[str, _Run] = {}  # runs sent SIGTERM, waiting for their grace
        self._ended: dict[str, RunEnd] = {}  # the latest end of each workload, for observe()
        self._reporting: set[str] = set()  # an end taken from _runs, not yet handed to the sink
        self._found: dict[str, list[tuple[int, int]]] = {}  # marked leaders not watched yet
        self._short_of_fds = False
        self._short_at = 0.0  # time.monotonic() of the latest shortage
        self._epoll = select.epoll()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._epoll.register(self._wake_r, select.EPOLLIN)
        self._closing = False
        self._sink: Sink | None = None
        self._thread: threading.Thread | None = None
        # Made (and its threads started) by open(), as the watch thread is: a runtime that is
        # never opened (its Supervisor refused the store) leaves no thread behind.
        self._prober_options = (clock, probe_workers)
        self._prober: Prober | None = None
        self._rotator = Rotator()

    @property
    def supervisor_id(self) -> str:
        return self._id

    def process(self, name: str) -> ProcessInfo | None:
        """The live run of ``name``, if one is running."""
        with self._lock:
            run = self._runs.get(name)
            if run is None:
                return None
            return ProcessInfo(run.pid, run.started_at, adopted=run.adopted)

    @property
    def _probes(self) -> Prober:
        if self._prober is None:
            raise RuntimeError("ProcessRuntime.open() has not been called")
        return self._prober

    # -- Runtime protocol -------------------------------------------------------------------

    def open(self, sink: Sink, resume: Resume) -> None:
        self._sink = sink
        self._owner = f"{self._id}:{resume.owner}"
        self._found = marked_leaders(self._owner)
        clock, workers = self._prober_options
        self._prober = Prober(self._health_report, self._unhealthy, clock=clock, workers=workers)
        self._thread = threading.Thread(target=self._watch_loop, name="relaunch-process-watch", daemon=True)
        self._thread.start()
        self._rotator.start()

    def watch(self, name: str, spec: Any, run: LiveRun | None) -> None:
        if not isinstance(spec, ProcessSpec):
            raise TypeError(f"spec: must be a ProcessSpec, got {type(spec).__name__}")
        launch = Launch.of(spec, environment(spec, self._owner, name))
        with self._lock:
            for stream, log in (("stdout", spec.stdout), ("stderr", spec.stderr)):
                if not isinstance(log, LogFile):
                    continue
                other = self._log_users.get(log.path, name)
                if other != name:
                    # Two writers would rotate each other's output away.
                    raise ValueError(
                        f"ProcessSpec.{stream}: {str(log.path)!r} is already the log of {other!r}"
                    )
            self._release_logs(name)
            for log in spec.log_files:
                self._log_users[log.path] = name
            self._specs[name] = spec
            self._launches[name] = launch
            candidates = self._found.pop(name, [])
        adopted = self._adopt(name, candidates, run)
        if adopted is not None:
            self._register(adopted)

    def observe(self, name: str) -> Observation:
        with self._lock:
            run = self._runs.get(name)
            if run is not None:
                return Running(run.live())
            end = self._ended.get(name)
        # A command has no existence between runs: "not started" makes the core start a new
        # workload and leave a known one where it was (backing off, given up, stopped).
        return NotStarted() if end is None else Ended(end)

    def start(self, name: str, *, create: bool) -> None:
        with self._lock:
            if self._closing:
                raise RuntimeUnavailable(f"start of {name}: the process runtime is closed")
            if name in self._runs:
                return  # already running (as `docker start` on a running container)
            spec, launch = self._specs[name], self._launches[name]
        started_at = time.time()
        try:
            pid, before = spawn(name, spec, launch)
        except OSError as exc:
            if exc.errno in FORK_ERRNOS or exc.errno in FD_ERRNOS:
                self._short(exc)
                raise RuntimeUnavailable(f"start of {name}: {exc}") from exc
            raise StartError(f"{name}: cannot execute {launch.argv[0]!r}: {exc.strerror}") from exc
        try:
            after = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            pidfd = os.pidfd_open(pid)
            try:
                ticks = spawn_ticks(pid, before, after)
            except BaseException:
                os.close(pidfd)
                raise
        except BaseException as exc:
            # No process may outlive a failed start untracked: kill and reap it now.
            _killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            if isinstance(exc, OSError) and exc.errno in FD_ERRNOS:
                self._short(exc)
                raise RuntimeUnavailable(f"start of {name}: {exc}") from exc
            raise
        run = _Run(name, self._boot, pid, ticks, started_at, pidfd, adopted=False)
        with self._lock:
            if self._closing:
                # close() came during the spawn. The run carries our marks: the next supervisor
                # adopts it, as it does every run close() leaves.
                os.close(pidfd)
                raise RuntimeUnavailable(f"start of {name}: the process runtime closed during the start")
            self._runs[name] = run
            self._by_fd[pidfd] = run
        self._enough_fds()
        assert self._sink is not None
        # Reported before the watch thread can see its end (it is not registered yet), so the
        # core never hears of an end before the start.
        self._sink.run_started(name, run.live())
        logger.info("%s: started pid %d", name, pid, extra={"workload": name, "pid": pid})
        self._register(run)

    def stop(self, name: str) -> None:
        with self._lock:
            run = self._runs.get(name)
            if run is not None:
                self._terminate(run)
            idle = run is None and name not in self._reporting
        if idle:
            # Nothing runs and no end is on its way (the stop came before the first start):
            # the workload is down by the operator's will, which the core records as removed.
            assert self._sink is not None
            self._sink.removed(name)
        self._wake()

    def _terminate(self, run: _Run) -> None:
        """SIGTERM the run's group now, SIGKILL after the grace (called with the lock held)."""
        if run.kill_at is None:
            run.kill_at = time.monotonic() + self._stop_grace
            self._stopping[run.name] = run
        _killpg(run.pid, signal.SIGTERM)

    def _unhealthy(self, name: str, key: str, report: HealthReport) -> None:
        """The prober's verdict: stop run ``key`` of ``name``, whose end is then UNHEALTHY."""
        with self._lock:
            run = self._runs.get(name)
            if self._closing or run is None or run.key != key or run.unhealthy is not None:
                return  # closed (left to the next supervisor), or ended: its end is on its way
            run.unhealthy = report
            self._terminate(run)
        self._wake()
        logger.warning(
            "%s: unhealthy after %d failed probes (%s); stopping pid %d",
            name,
            report.failures,
            report.output,
            run.pid,
            extra={"workload": name, "pid": run.pid, "cause": "UNHEALTHY"},
        )

    def _health_report(self, name: str, key: str, report: HealthReport) -> None:
        with self._lock:
            run = self._runs.get(name)
            if run is None or run.key != key or run.unhealthy is not None:
                return  # about a run that ended, or whose verdict _exited hands over itself
        assert self._sink is not None
        self._sink.health(name, report)

    def kill(self, name: str) -> None:
        """End a stop's grace now: SIGKILL the run's group at once (a second Ctrl-C asks for it)."""
        with self._lock:
            run = self._runs.get(name)
            if run is not None:
                # Still in _runs, so not reaped: the group id is still this run's (module docstring).
                run.kill_at = None
                self._stopping.pop(name, None)
                _killpg(run.pid, signal.SIGKILL)

    def close(self) -> None:
        """Stop watching; the processes keep running, and a new supervisor adopts them."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            with contextlib.suppress(BlockingIOError):
                os.write(self._wake_w, b"x")
        deadline = time.monotonic() + 0.9
        if self._prober is not None:
            self._prober.close(deadline)
        self._rotator.close(deadline)
        if self._thread is not None:
            self._thread.join(max(0.05, deadline - time.monotonic()))
        with self._lock:
            for run in self._runs.values():
                os.close(run.pidfd)
            self._runs.clear()
            self._by_fd.clear()
            self._epoll.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def forget(self, name: str) -> None:
        """``name`` is no longer supervised: its log files are free for another workload."""
        with self._lock:
            self._release_logs(name)

    def _release_logs(self, name: str) -> None:
        """Called with the lock held."""
        for path in [path for path, user in self._log_users.items() if user == name]:
            del self._log_users[path]

    # -- descriptors ------------------------------------------------------------------------

    def _short(self, exc: OSError) -> None:
        with self._lock:
            began, self._short_of_fds = not self._short_of_fds, True
            self._short_at = time.monotonic()
        if began:
            soft, hard = _nofile()
            logger.error(
                "cannot start processes: %s (RLIMIT_NOFILE %s/%s, %d runs open); starts are "
                "retried, and no process is left behind",
                exc.strerror,
                soft,
                hard,
                len(self._runs),
            )

    def _enough_fds(self) -> None:
        # At the limit, a descriptor freed for a moment lets one start through while the rest
        # still fail: the shortage ends only after a quiet spell, so it is logged once, not at
        # every flap.
        if self._short_of_fds and time.monotonic() - self._short_at > SHORTAGE_QUIET_S:
            with self._lock:
                ended, self._short_of_fds = self._short_of_fds, False
            if ended:
                logger.warning("processes start again (descriptors or processes available)")

    # -- adopting the previous supervisor's runs --------------------------------------------

    def _adopt(self, name: str, candidates: list[tuple[int, int]], saved: LiveRun | None) -> _Run | None:
        """Adopt the live run of ``name`` (found by its mark, or saved); record an unseen end."""
        wanted: tuple[int, int] | None = None
        started_at = time.time()
        saved_key = ""
        if saved is not None:
            try:
                boot, pid, ticks = str(saved.data["boot"]), int(saved.data["pid"]), int(saved.data["ticks"])
            except (KeyError, TypeError, ValueError) as exc:
                raise SupervisorError(f"{name}: unreadable saved run {dict(saved.data)!r}: {exc}") from None
            started_at = saved.started_at
            saved_key = saved.key or run_key(boot, pid, ticks)  # 0.1's import kept no key
            # After a reboot every saved run has ended, unseen, whatever now runs under its pid.
            if boot == self._boot:
                wanted = (pid, ticks)
                if wanted not in candidates:
                    candidates = [*candidates, wanted]
        live: list[_Run] = []
        for pid, ticks in sorted(candidates, key=lambda c: (c != wanted, c[1])):
            pidfd = pidfd_of(pid, ticks)
            if pidfd is None:
                continue
            when = started_at if (pid, ticks) == wanted else ticks_to_unix(ticks)
            live.append(_Run(name, self._boot, pid, ticks, when, pidfd, adopted=True))
        for extra in live[1:]:
            # Only a supervisor of 0.1 without the one-owner lock could leave two; keep one.
            logger.error("%s: killing duplicate run pid %d", name, extra.pid, extra={"workload": name})
            _killpg(extra.pid, signal.SIGKILL)
            os.close(extra.pidfd)
        if live:
            run = live[0]
            logger.warning(
                "%s: adopted pid %d (process group %d), started by a previous supervisor; "
                "unless this program is its parent, its exit status will be unknown",
                name,
                run.pid,
                run.pid,
                extra={"workload": name, "pid": run.pid},
            )
            with self._lock:
                self._runs[name] = run
                self._by_fd[run.pidfd] = run
            return run
        if saved is not None:
            with self._lock:
                self._ended[name] = RunEnd(
                    saved_key,
                    started_at,
                    time.time(),
                    status_known=False,
                    detail="ended while no supervisor was watching; exit status unknown",
                )
            logger.warning(
                "%s: the run of the previous supervisor ended unseen; counted as a failure",
                name,
                extra={"workload": name},
            )
        return None

    # -- the watch thread -------------------------------------------------------------------

    def _register(self, run: _Run) -> None:
        try:
            with self._lock:
                if self._closing:
                    return  # close() closed its descriptor and left it to the next supervisor
                # Under the lock: close() closes the epoll object once it holds it.
                self._epoll.register(run.pidfd, select.EPOLLIN)
        except OSError:
            # Cannot watch it (out of epoll watches or memory): end it now rather than leave it
            # untracked; its end is reported as usual.
            logger.exception("%s: cannot watch pid %d; killing it", run.name, run.pid)
            _killpg(run.pid, signal.SIGKILL)
            self._exited(run)
            return
        spec = self._specs[run.name]
        if spec.health is not None:
            self._probes.watch(run.name, run.key, spec.health)
        if spec.stdout is not None or spec.stderr is not None:
            self._rotator.watch(run.name, spec.log_files)

    def _wake(self) -> None:
        with self._lock:
            if self._closing:
                return  # the pipe may be closed, and its descriptor number reused
            with contextlib.suppress(BlockingIOError):
                # A full pipe already holds a wake-up.
                os.write(self._wake_w, b"x")

    def _watch_loop(self) -> None:
        while True:
            with self._lock:
                if self._closing:
                    return
                deadlines = [run.kill_at for run in self._stopping.values() if run.kill_at is not None]
            timeout = -1.0
            if deadlines:
                timeout = max(0.0, min(deadlines) - time.monotonic())
            for fd, _ in self._epoll.poll(timeout):
                if fd == self._wake_r:
                    os.read(self._wake_r, 4096)
                    continue
                with self._lock:
                    run = self._by_fd.get(fd)
                if run is None:
                    continue
                try:
                    self._exited(run)
                except Exception:  # this thread watches every workload: log the surprise, go on
                    logger.exception("%s: could not report the end of a run", run.name)
            if deadlines:
                self._escalate()

    def _escalate(self) -> None:
        now = time.monotonic()
        with self._lock:
            for name, run in list(self._stopping.items()):
                if run.kill_at is not None and run.kill_at <= now:
                    run.kill_at = None
                    del self._stopping[name]
                    logger.warning(
                        "%s: pid %d still running %.1fs after SIGTERM; sending SIGKILL",
                        run.name,
                        run.pid,
                        self._stop_grace,
                        extra={"workload": run.name, "pid": run.pid},
                    )
                    # Our own child is still in _runs, so not reaped: the group id is still this
                    # run's. An adopted one relies on cyclic pid allocation (module docstring).
                    _killpg(run.pid, signal.SIGKILL)

    def _exited(self, run: _Run) -> None:
        with self._lock:
            if self._closing or self._runs.get(run.name) is not run:
                return  # left to the next supervisor, or reported already
            del self._runs[run.name]
            self._by_fd.pop(run.pidfd, None)
            if self._stopping.get(run.name) is run:
                del self._stopping[run.name]
            self._reporting.add(run.name)
        self._probes.forget(run.name, run.key)
        self._rotator.forget(run.name)
        try:
            end = self._collect(run)
            with self._lock:
                self._ended[run.name] = end
            assert self._sink is not None
            if run.unhealthy is not None:
                # The verdict before the end it caused, so the decision carries it.
                self._sink.health(run.name, run.unhealthy)
            self._sink.run_ended(run.name, end)
        finally:
            with self._lock:
                self._reporting.discard(run.name)

    def _collect(self, run: _Run) -> RunEnd:
        """Kill what the run left in its group, reap it, and say how it ended."""
        try:
            # The leader is dead but not reaped by us yet (see the module docstring).
            _killpg(run.pid, signal.SIGKILL)
            status = self._reap(run)
        finally:
            with contextlib.suppress(OSError):
                self._epoll.unregister(run.pidfd)
            os.close(run.pidfd)
        ended_at = time.time()
        if status is None:
            end = RunEnd(
                run.key,
                run.started_at,
                ended_at,
                status_known=False,
                detail="not our child; exit status unknown",
            )
        elif status >= 0:
            end = RunEnd(run.key, run.started_at, ended_at, exit_code=status)
        else:
            end = RunEnd(run.key, run.started_at, ended_at, signal=-status)
        if run.unhealthy is not None:
            # However it died after the verdict (our SIGTERM, SIGKILL, or on its own).
            end = dataclasses.replace(
                end, cause=Cause.UNHEALTHY, detail=f"health check failed: {run.unhealthy.output}"
            )
        # DEBUG: the decision on this end, which the core logs at INFO, says the same (its run is
        # the key with the pid, its fields the exit code or signal). At INFO a crash loop logged
        # three records a restart, and this one was 46 of the 191 us the watch thread spent on
        # an end (100 workloads crash-looping, thread CPU time).
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s: pid %d ended (%s)",
                run.name,
                run.pid,
                "status unknown" if status is None else f"status {status}",
                extra={
                    "workload": run.name,
                    "pid": run.pid,
                    "exit_code": end.exit_code,
                    "signal": end.signal,
                },
            )
        return end

    @staticmethod
    def _reap(run: _Run) -> int | None:
        """The exit code of an ended run, minus the signal that killed it, or None if unknown."""
        try:
            # An adopted run may still be our child (a supervisor re-created in this program);
            # otherwise only its parent, or init, can collect its status.
            result = os.waitid(os.P_PIDFD, run.pidfd, os.WEXITED | os.WNOHANG)
        except ChildProcessError:
            return None
        if result is None:
            # Not possible for our own child once its pidfd is readable: it is a zombie.
            return None
        if result.si_code == os.CLD_EXITED:
            return result.si_status
        return -result.si_status


def _nofile() -> tuple[int, int]:
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def run_foreground(
    name: str,
    argv: Sequence[str],
    policy: Policy,
    state_path: str,
    on_decision: Callable[[DecisionEvent], None] | None = None,
    *,
    stop_grace: float = STOP_GRACE_S,
) -> int:
    """Supervise one command until the policy stops or gives up on it, or the supervisor is signalled.

    The entry point of ``relaunch supervise NAME --exec -- COMMAND ...``. Running it again
    resumes from ``state_path``: a process still running from an interrupted supervisor is
    adopted, a pending restart keeps its time and budget, and a workload that was stopped or
    given up is started again with a fresh state (the operator's start). SIGINT, SIGTERM and
    SIGHUP (when called from the main thread) stop the workload through the supervisor (SIGTERM
    to its group, SIGKILL after ``stop_grace``) and return once it is down: the workload runs in
    a session of its own, so a Ctrl-C or a closed terminal would not reach it otherwise. Returns
    0 if it ended stopped, 1 if the policy gave up.
    """
    done = threading.Event()
    interrupted = threading.Event()

    def hook(event: DecisionEvent) -> None:
        if not event.decision.restarts:
            done.set()
        if on_decision is not None:
            on_decision(event)

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[signum] = signal.signal(signum, lambda signum, frame: interrupted.set())
    try:
        runtime = ProcessRuntime(stop_grace=stop_grace)
        try:
            sup = Supervisor(runtime, state_path, on_decision=hook)
        except BaseException:  # a foreign or unreadable state file: release the runtime, re-raise
            runtime.close()
            raise
        with sup:
            sup.add(name, ProcessSpec(argv), policy)
            if sup.status(name).phase in (Phase.STOPPED, Phase.GIVEN_UP):
                sup.start(name)
            # Short waits so the signal handlers run promptly on the main thread.
            while not done.wait(0.1):
                if interrupted.is_set():
                    interrupted.clear()
                    sup.stop(name)
            return 1 if sup.status(name).phase is Phase.GIVEN_UP else 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
