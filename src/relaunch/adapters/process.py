"""The local process runtime: run commands in their own process groups, report how they end.

Standard library only; Linux only (``/proc``, pidfds and ``waitid(P_PIDFD)``: Linux 5.4 or
later). Everything the two adapters share (delayed and cancellable restarts, exactly-once
decisions, the atomic state file, status, hooks) is the supervisor core's (``supervisor.py``);
this module only starts, watches and stops processes, and never decides anything.

What it does, and the facts it relies on:

- **One process group per run.** Each run is spawned with ``os.posix_spawnp(..., setsid=True)``,
  so it leads a new session and process group (pgid = pid) of its own, detached from the
  terminal (a terminal's Ctrl-C reaches the supervisor, which stops the workload itself). Not
  ``subprocess.Popen``: a ``Popen`` dropped while its child runs (as ``close()`` must leave it)
  warns, and is later reaped by ``subprocess``'s own clean-up, which would steal the exit status
  from a supervisor that adopts the process in the same program.
- **How a run ended.** ``os.waitid`` on the run's pidfd (``P_PIDFD``) gives the exit code
  (``CLD_EXITED``) or the signal that killed it (``CLD_KILLED``, ``CLD_DUMPED``); see waitid(2).
  When the group's leader exits, whatever it left in its group is killed with SIGKILL, as the
  kernel does to a PID namespace whose init exits (so a container-like unit: a restarted run
  never meets leftovers of the previous one). The kill is sent before the leader is reaped: a
  zombie still holds its pid, so the group id cannot have been reused yet.
- **Stopping.** A stop requested through the supervisor sends SIGTERM to the group, then
  SIGKILL after ``stop_grace`` seconds (10 s by default, as ``docker stop``); the core makes
  that run ``STOPPED`` whatever its status.
- **Start failures.** A command that cannot be executed (missing file, permission denied, bad
  format) makes ``posix_spawnp`` raise ``OSError`` in the parent (glibc 2.24 and later report
  the child's ``execve`` error; measured with glibc 2.36: ENOENT, EACCES, ENOEXEC):
  ``START_FAILED``. A failed fork (EAGAIN, ENOMEM) is the host's trouble, not the command's:
  it is retried later and costs no budget.
- **Watching.** One thread polls a pidfd per run (``os.pidfd_open``; it becomes readable when
  the process exits, for non-children too) and a wake-up pipe; no SIGCHLD handler, so the
  adapter does not interfere with the rest of the program.
- **Surviving the supervisor.** The live runs (pid, start time in clock ticks since boot from
  ``/proc/<pid>/stat`` field 22, boot id) are the runtime's resume point, saved in the state
  file with every decision. A new supervisor recognises a run only if the boot id and the start
  time still match (so a reused pid is never mistaken for it), and **adopts** it: it reports it
  running (``status``, ``process()`` and a warning in the log), stops it on request, and
  watches it through its pidfd. A process that is not our child cannot be waited for, so its
  exit status is unknown: its end is a ``LOST`` run (unless this process is still its parent,
  e.g. a supervisor re-created in the same program, which gets the real status). A run that
  ended while no supervisor was watching is also ``LOST``, with the time it was noticed as its
  end. Adopting rather than killing it is what the Docker adapter does with a running
  container, and what a user expects of a supervisor restart: the workload is not disturbed.
- Signals to an adopted group cannot rule out pid reuse the way the zombie rule does for our
  own children; they rely on Linux allocating pids cyclically (``kernel/pid.c``, ``alloc_pid``
  with ``idr_alloc_cyclic``): a pid freed a moment ago is not handed out again before the whole
  pid range has been used.

Known limit: a run started just before the supervisor is killed, before the next save, is not
in the state file; the new supervisor starts another one. Processes that leave their process
group (``setsid``, double fork) escape supervision: there are no cgroups here.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relaunch import Cause, Policy
from relaunch.adapters.supervisor import (
    DecisionEvent,
    Ended,
    NotStarted,
    Observation,
    Phase,
    RunEnd,
    Running,
    RuntimeUnavailable,
    Sink,
    StartError,
    Supervisor,
    SupervisorError,
)

__all__ = ["ProcessInfo", "ProcessRuntime", "ProcessSpec", "run_foreground"]

logger = logging.getLogger("relaunch.process")

# `docker stop` waits 10 s before SIGKILL by default; the same grace here.
STOP_GRACE_S = 10.0

# A failed fork, not a failed exec: the command is fine, the host is short of processes or memory.
_FORK_ERRNOS = frozenset({errno.EAGAIN, errno.ENOMEM})


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """The command of a workload: ``argv[0]`` is looked up on ``PATH`` (``posix_spawnp``).

    The process inherits the supervisor's environment, working directory and standard streams
    (so a supervised stdio server keeps talking to the supervisor's own stdin and stdout).
    """

    argv: tuple[str, ...]

    def __init__(self, argv: Sequence[str]) -> None:
        args = tuple(argv)
        if not args or not all(isinstance(a, str) for a in args) or not args[0]:
            raise ValueError(f"ProcessSpec.argv: must be a non-empty list of strings, got {argv!r}")
        object.__setattr__(self, "argv", args)


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

    @property
    def key(self) -> str:
        return _run_key(self.boot, self.pid, self.ticks)

    def to_dict(self) -> dict[str, Any]:
        return {"boot": self.boot, "pid": self.pid, "ticks": self.ticks, "started_at": self.started_at}


def _run_key(boot: str, pid: int, ticks: int) -> str:
    # Pid and start ticks repeat across reboots (early boot is deterministic), so the boot id is
    # part of the key; 8 hex digits of it keep log lines short.
    return f"{boot[:8]}/{pid}@{ticks}"


def _boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()


def _start_ticks(pid: int) -> int | None:
    """Field 22 of ``/proc/<pid>/stat`` (proc(5)), or None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # Field 2 is the command name in parentheses and may itself contain spaces and parentheses.
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[19])


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


class ProcessRuntime:
    """Runs each workload's command as a local process group (see the module docstring)."""

    def __init__(self, supervisor_id: str = "process", *, stop_grace: float = STOP_GRACE_S) -> None:
        if not hasattr(os, "pidfd_open") or not hasattr(os, "P_PIDFD"):
            raise SupervisorError("the process adapter needs Linux 5.4 or later (pidfds)")
        if not math.isfinite(stop_grace) or stop_grace < 0:
            raise ValueError(f"stop_grace: must be a finite number >= 0, got {stop_grace!r}")
        self._id = supervisor_id
        self._stop_grace = stop_grace
        self._boot = _boot_id()
        self._lock = threading.Lock()
        self._publish_lock = threading.Lock()
        self._specs: dict[str, ProcessSpec] = {}
        self._runs: dict[str, _Run] = {}
        self._ended: dict[str, RunEnd] = {}  # the latest end of each workload, for observe()
        self._reporting: set[str] = set()  # an end taken from _runs, not yet handed to the sink
        self._inherited: dict[str, dict[str, Any]] = {}  # saved runs of workloads not watched yet
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._closing = False
        self._sink: Sink | None = None
        self._thread: threading.Thread | None = None

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

    # -- Runtime protocol -------------------------------------------------------------------

    def open(self, sink: Sink, cursor: str | None) -> None:
        self._sink = sink
        if cursor is not None:
            self._inherited = self._parse_cursor(cursor)
        self._thread = threading.Thread(target=self._watch_loop, name="relaunch-process-watch", daemon=True)
        self._thread.start()

    def watch(self, name: str, spec: Any) -> None:
        if not isinstance(spec, ProcessSpec):
            raise TypeError(f"spec: must be a ProcessSpec, got {type(spec).__name__}")
        with self._lock:
            self._specs[name] = spec
            saved = self._inherited.pop(name, None)
            if saved is not None:
                self._resume(name, saved)
        if saved is not None:
            self._publish()
        self._wake()

    def observe(self, name: str) -> Observation:
        with self._lock:
            if name in self._runs:
                return Running()
            end = self._ended.get(name)
        # A command has no existence between runs: "not started" makes the core start a new
        # workload and leave a known one where it was (backing off, given up, stopped).
        return NotStarted() if end is None else Ended(end)

    def start(self, name: str, *, create: bool) -> None:
        with self._lock:
            if name in self._runs:
                return  # already running (as `docker start` on a running container)
            spec = self._specs[name]
            started_at = time.time()
            try:
                pid = os.posix_spawnp(spec.argv[0], spec.argv, os.environ, setsid=True)
            except OSError as exc:
                if exc.errno in _FORK_ERRNOS:
                    raise RuntimeUnavailable(f"start of {name}: {exc}") from exc
                raise StartError(f"{name}: cannot execute {spec.argv[0]!r}: {exc.strerror}") from exc
            # The child is ours and unreaped, so neither can fail for lack of the process.
            pidfd = os.pidfd_open(pid)
            ticks = _start_ticks(pid)
            assert ticks is not None
            self._runs[name] = _Run(name, self._boot, pid, ticks, started_at, pidfd, adopted=False)
        self._publish()
        logger.info("%s: started pid %d", name, pid, extra={"workload": name, "pid": pid})
        self._wake()

    def stop(self, name: str) -> None:
        with self._lock:
            run = self._runs.get(name)
            if run is not None:
                if run.kill_at is None:
                    run.kill_at = time.monotonic() + self._stop_grace
                _killpg(run.pid, signal.SIGTERM)
            idle = run is None and name not in self._reporting
        if idle:
            # Nothing runs and no end is on its way (the stop came before the first start):
            # the workload is down by the operator's will, which the core records as removed.
            assert self._sink is not None
            self._sink.removed(name)
        self._wake()

    def kill(self, name: str) -> None:
        """End a stop's grace now: SIGKILL the run's group at once (a second Ctrl-C asks for it)."""
        with self._lock:
            run = self._runs.get(name)
            if run is not None:
                # Still in _runs, so not reaped: the group id is still this run's (module docstring).
                run.kill_at = None
                _killpg(run.pid, signal.SIGKILL)

    def close(self) -> None:
        """Stop watching; the processes keep running, and a new supervisor adopts them."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            with contextlib.suppress(BlockingIOError):
                os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(0.9)
        with self._lock:
            for run in self._runs.values():
                os.close(run.pidfd)
            self._runs.clear()
        os.close(self._wake_r)
        os.close(self._wake_w)

    # -- resuming the previous supervisor's runs --------------------------------------------

    @staticmethod
    def _parse_cursor(cursor: str) -> dict[str, dict[str, Any]]:
        try:
            runs = json.loads(cursor)["runs"]
            return {
                str(name): {
                    "boot": str(saved["boot"]),
                    "pid": int(saved["pid"]),
                    "ticks": int(saved["ticks"]),
                    "started_at": float(saved["started_at"]),
                }
                for name, saved in runs.items()
            }
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SupervisorError(f"process runtime: unreadable saved runs {cursor!r}: {exc}") from exc

    def _resume(self, name: str, saved: dict[str, Any]) -> None:
        """Adopt the saved run of ``name`` if it still runs; else record its end as LOST."""
        boot, pid, ticks, started_at = saved["boot"], saved["pid"], saved["ticks"], saved["started_at"]
        pidfd: int | None = None
        # After a reboot every saved run has ended, unseen, whatever now runs under its pid.
        if boot == self._boot:
            with contextlib.suppress(ProcessLookupError):
                pidfd = os.pidfd_open(pid)
            # Compare the start time after opening the pidfd: if it matches now, the pidfd
            # refers to the very process that was saved, not to a later one with its pid.
            if pidfd is not None and _start_ticks(pid) != ticks:
                os.close(pidfd)
                pidfd = None
        if pidfd is None:
            end = RunEnd(
                _run_key(boot, pid, ticks),
                started_at,
                time.time(),
                cause=Cause.LOST,
                detail="ended while no supervisor was watching; exit status unknown",
            )
            self._ended[name] = end
            logger.warning(
                "%s: pid %d of the previous supervisor ended unseen; reported as lost",
                name,
                pid,
                extra={"workload": name, "pid": pid},
            )
            return
        self._runs[name] = _Run(name, boot, pid, ticks, started_at, pidfd, adopted=True)
        logger.warning(
            "%s: adopted pid %d (process group %d), started by a previous supervisor; "
            "unless this program is its parent, its exit status will be unknown (LOST)",
            name,
            pid,
            pid,
            extra={"workload": name, "pid": pid},
        )

    def _publish(self) -> None:
        """Hand the live runs to the core as the resume point it saves (called without the lock).

        Not under ``self._lock``: the sink takes the core's lock, under which a decision hook may
        call ``process()``. ``_publish_lock`` keeps publications in order, so the last one the
        core sees is the newest.
        """
        with self._publish_lock:
            with self._lock:
                runs = {**self._inherited, **{name: run.to_dict() for name, run in self._runs.items()}}
            assert self._sink is not None
            self._sink.cursor_changed(json.dumps({"runs": runs}, sort_keys=True))

    # -- the watch thread -------------------------------------------------------------------

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
                by_fd = {run.pidfd: run for run in self._runs.values()}
                deadlines = [run.kill_at for run in self._runs.values() if run.kill_at is not None]
            poller = select.poll()
            poller.register(self._wake_r, select.POLLIN)
            for fd in by_fd:
                poller.register(fd, select.POLLIN)
            timeout = None
            if deadlines:
                timeout = max(0, math.ceil((min(deadlines) - time.monotonic()) * 1000))
            for fd, _ in poller.poll(timeout):
                if fd == self._wake_r:
                    os.read(self._wake_r, 4096)
                    continue
                try:
                    self._exited(by_fd[fd])
                except Exception:  # this thread watches every workload: log the surprise, go on
                    logger.exception("%s: could not report the end of a run", by_fd[fd].name)
            self._escalate()

    def _escalate(self) -> None:
        now = time.monotonic()
        with self._lock:
            for run in self._runs.values():
                if run.kill_at is not None and run.kill_at <= now:
                    run.kill_at = None
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
            if self._closing:
                return  # left to the next supervisor: the saved run is found ended, or reaped
            del self._runs[run.name]
            self._reporting.add(run.name)
        try:
            end = self._collect(run)
            with self._lock:
                self._ended[run.name] = end
            self._publish()
            assert self._sink is not None
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
            os.close(run.pidfd)
        ended_at = time.time()
        if status is None:
            end = RunEnd(
                run.key,
                run.started_at,
                ended_at,
                cause=Cause.LOST,
                detail="not our child; exit status unknown",
            )
        elif status >= 0:
            end = RunEnd(run.key, run.started_at, ended_at, exit_code=status)
        else:
            end = RunEnd(run.key, run.started_at, ended_at, signal=-status)
        logger.info(
            "%s: pid %d ended (%s)",
            run.name,
            run.pid,
            end.cause.name if status is None else f"status {status}",
            extra={"workload": run.name, "pid": run.pid, "exit_code": end.exit_code, "signal": end.signal},
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
