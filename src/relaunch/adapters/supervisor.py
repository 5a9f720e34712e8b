"""The runtime-agnostic supervisor core: it turns what a runtime observes into kernel decisions.

This module owns the workload records and every rule that is the same for every runtime: feed
each ended run to ``policy.decide`` exactly once (runs are identified by a key the runtime
gives, and the last handled key is persisted); carry a decision out only once it is durable;
record a start before it happens; resume every workload from the store after a restart;
``status()``. It never talks to Docker or to processes: a ``Runtime`` does (the contract is in
``runtime.py``) and reports back through the ``Sink`` methods below. Its parts live beside it:
``phase.py`` (the phase machine every change goes through), ``store.py`` (the SQLite store and
its one-owner lock), ``persistence.py`` (group commit), ``scheduler.py`` (delayed starts) and
``hooks.py`` (decision-hook delivery).

Durability, step by step: a decision changes the workload in memory and marks it for the
journal; when its start is due, the start is recorded (phase ``STARTING``, marked too) and the
runtime is asked only once the journal says that mark, and so the decision before it, is durable.
A restart with no delay is recorded by the decision itself, so both share one commit. Changes
that nothing waits for and that the runtime reports again are marked lazily (``_mark``). A supervisor
killed at any instant therefore restarts from a store that holds every decision it acted on, and
every start it may have made is either recorded or findable by the runtime (the process runtime
marks its processes; Docker's containers have deterministic names and labels), so nothing is
started twice and nothing is forgotten. When the store fails, the supervisor goes on from memory
(``persistence.py`` says how) and ``store_health()`` says so.

Threads and locks (the whole table; take locks only in this order):

=====================  ==========================================================================
thread                 what it does
=====================  ==========================================================================
callers                ``add``, ``stop``, ``start``, ``status``, ``store_health``, ``close``
runtime threads        the ``Sink`` methods (``run_started``, ``run_ended``, ``health``, ...)
``relaunch-scheduler`` waits for the next due start (``scheduler.py``)
``relaunch-start-N``   ``_fire`` records a due start; ``_launch``, once durable, calls ``start``
                       (a zero-delay restart is recorded by ``_decide``, on the reporting thread)
``relaunch-store``     commits marked workloads (``persistence.py``); takes ``_lock`` to snapshot
=====================  ==========================================================================

1. ``_Workload.action`` (re-entrant, one per workload): held across a start or an operator stop
   of that workload, so an operator stop never races a start under way.
2. ``Supervisor._lock`` (re-entrant): guards every workload record. Never held while calling the
   runtime, a hook, or waiting for the store; no I/O happens under it.
3. ``Scheduler._cond`` and ``Journal._cond``: leaf locks, taken under ``_lock`` (to schedule or
   mark) and released before anything else is taken.

Decision hooks are queued under ``_lock`` and delivered after it is released (``hooks.py``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import zlib
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from relaunch import Action, Cause, Decision, Outcome, Policy, Rule, State, StateError
from relaunch.adapters.clock import Clock, SystemClock
from relaunch.adapters.hooks import Outbox
from relaunch.adapters.persistence import Journal, StoreHealth
from relaunch.adapters.phase import Phase, check_transition
from relaunch.adapters.runtime import (
    Ended,
    HealthReport,
    LiveRun,
    Missing,
    NotStarted,
    Observation,
    Resume,
    RunEnd,
    Running,
    Runtime,
    RuntimeUnavailable,
    StartError,
    SupervisorError,
)
from relaunch.adapters.scheduler import Scheduler
from relaunch.adapters.store import SqliteStore, Store, WorkloadRecord

__all__ = [
    "DecisionEvent",
    "DecisionHook",
    "Phase",
    "Status",
    "StoreHealth",
    "Supervisor",
    "SupervisorError",
    "decision_fields",
    "seed_for",
]

logger = logging.getLogger("relaunch.supervisor")

# A start that finds the runtime unreachable is retried this often (seconds). It is not a crash
# of the workload, so it consumes no budget and is not fed to the kernel at all.
UNAVAILABLE_RETRY_S = 0.5

# Due starts run on this many threads (scheduler.py says why more than one).
START_WORKERS = 4

# close() must return within a second, so that neither Ctrl-C on `relaunch supervise` nor the
# shutdown of a program embedding a Supervisor waits on a runtime that hangs; every thread it
# joins waits only on conditions that close() notifies, so this bound is a safety net, not the
# normal path.
JOIN_TIMEOUT_S = 0.9

# An end whose exit status the runtime could not collect (a process adopted from a previous
# supervisor is not our child) is counted as a failure with this exit code, the one shells and
# ssh report for a status they cannot tell: never as LOST, so a crash loop cannot escape its
# budget by outliving supervisors.
UNKNOWN_EXIT_CODE = 255


@dataclass(frozen=True, slots=True)
class Status:
    """A snapshot of one workload, for people and for health checks."""

    name: str
    phase: Phase
    restart_at: float | None  # Unix seconds of the scheduled start, while backing off
    restarts: int  # automatic restarts since the state was created (State.restarts)
    attempt: int  # restarts in the current unstable streak (State.attempt)
    last_outcome: Outcome | None
    reason: str | None  # the last decision's reason
    rule: Rule | None  # the last decision's rule code
    durable: bool  # the latest change of this workload is in the store
    # The latest health report of the current run (of the last run once it ended): verdict,
    # failing streak, the latest probe's output (truncated). None without a health check, or
    # before its first report. Kept in memory only, like the run it describes.
    health: HealthReport | None = None
    # When the current run started (Unix seconds), while RUNNING: the runtime's own time when it
    # identifies the run (a process's start ticks), else when this supervisor saw it start.
    running_since: float | None = None
    # Restarts the policy's budget would still admit now (``Policy.remaining``; inf: unlimited;
    # nan: the saved state does not fit the policy's budget).
    budget_left: float = math.inf


@dataclass(frozen=True, slots=True)
class DecisionEvent:
    """What the decision hook receives: one decision about one workload."""

    name: str
    run: str | None  # the run it is about (None for start failures and operator stops)
    outcome: Outcome
    decision: Decision
    detail: str = ""  # the runtime's own words for a failed start (Docker's error, the OS's errno text)
    health: HealthReport | None = None  # the run's latest health report (an UNHEALTHY one for a health kill)


DecisionHook = Callable[[DecisionEvent], None]


@dataclass(slots=True, eq=False)
class _Workload:
    name: str
    spec: Any
    policy: Policy
    state: State
    fresh: bool  # never started nor decided on by any supervisor of this store
    last_run: str | None = None
    phase: Phase = Phase.PENDING
    restart_at: float | None = None
    token: int = 0  # the pending scheduled start, 0 if none
    stop_requested: bool = False
    last_outcome: Outcome | None = None
    reason: str | None = None
    rule: Rule | None = None
    run: LiveRun | None = None
    unavailable: bool = False  # the last start found the runtime unavailable (logged once)
    seq: int = 0  # the journal mark of the latest change
    start_id: int = 0  # counts recorded starts, so a start made stale while recorded is skipped
    health: HealthReport | None = None  # of the current (or last) run; not persisted
    running_since: float | None = None  # Unix seconds; not persisted (the runtime reports it again)
    # An operator's restart under way: the stop's end is followed by a start, not by STOPPED. Not
    # persisted as such: the record says no stop was asked, so a supervisor killed meanwhile
    # judges the end as the policy would and restarts rather than forgets it.
    restart_requested: bool = False
    halt_reason: str | None = None  # a give-up asked from outside (a group's): the reason to keep
    action: threading.RLock = field(default_factory=threading.RLock)  # held across start/stop

    def record(self) -> WorkloadRecord:
        return WorkloadRecord(
            name=self.name,
            state=self.state,
            phase=self.phase,
            fresh=self.fresh,
            restart_at=self.restart_at,
            stop_requested=self.stop_requested and not self.restart_requested,
            last_run=self.last_run,
            last_outcome=self.last_outcome,
            reason=self.reason,
            rule=self.rule,
            run=self.run,
        )


def decision_fields(name: str, run: str | None, decision: Decision, detail: str) -> dict[str, Any]:
    """The structured fields of a decision's log record, the same for every supervisor."""
    outcome = decision.outcome
    return {
        "workload": name,
        "run": run,
        "cause": outcome.cause.name,
        "exit_code": outcome.exit_code,
        "action": decision.action.name,
        "rule": decision.rule.value,
        "delay": decision.delay,
        "attempt": decision.attempt,
        "detail": detail,
    }


def seed_for(name: str) -> int:
    """A stable per-workload jitter seed, so one daemon restart does not restart all in step."""
    return zlib.crc32(name.encode("utf-8"))


class Supervisor:
    """Supervises named workloads of one runtime with kernel policies, durably.

    ``state_path`` is the store (an SQLite file, created if missing; a JSON state file of
    relaunch 0.1 there is imported). A new ``Supervisor`` on the same store and runtime
    ``supervisor_id`` resumes every workload's State, last handled run and pending start. Only
    one live supervisor may hold a store: a second raises ``SupervisorError`` (``StoreBusy``)
    naming the holder. ``store`` replaces the SQLite store with another implementation.
    """

    def __init__(
        self,
        runtime: Runtime,
        state_path: str,
        *,
        clock: Clock | None = None,
        on_decision: DecisionHook | None = None,
        unavailable_retry: float = UNAVAILABLE_RETRY_S,
        start_workers: int = START_WORKERS,
        store: Store | None = None,
    ) -> None:
        if start_workers < 1:
            raise ValueError(f"start_workers: must be >= 1, got {start_workers!r}")
        self._runtime = runtime
        # Whether a restart decision may be committed lazily (``runtime.py``, ``keeps_run_ends``).
        self._ends_kept = getattr(runtime, "keeps_run_ends", False) is True
        self._clock: Clock = clock or SystemClock()
        self._outbox: Outbox[DecisionEvent] | None = None if on_decision is None else Outbox(on_decision)
        self._unavailable_retry = unavailable_retry
        self._lock = threading.RLock()
        self._workloads: dict[str, _Workload] = {}
        self._forgotten: set[str] = set()  # removed; their rows are deleted at the next commit
        self._tokens = iter(range(1, 1 << 62))
        self._closed = False
        self._store: Store = store or SqliteStore(state_path)
        meta = self._store.open(runtime.supervisor_id)
        try:
            self._saved = self._store.load()
        except BaseException:
            self._store.close()
            raise
        self._cursor = meta.cursor
        self._journal = Journal(self._store, self._snapshot)
        self._scheduler = Scheduler(self._clock, self._fire, workers=start_workers)
        try:
            runtime.open(self, Resume(cursor=meta.cursor, owner=meta.store_id))
        except BaseException:
            self.close()
            raise

    # -- public API -------------------------------------------------------------------------

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def add(self, name: str, spec: Any, policy: Policy, *, start_stopped: bool = False) -> None:
        """Supervise ``name``: adopt or create it in the runtime and keep it running per ``policy``.

        A workload with saved state resumes it (same budget, same last handled run, a pending
        start at its original time); a new one gets ``policy.start(at=now)`` and is started.
        One saved as stopped on purpose stays stopped, unless the policy resumes stopped
        workloads (Docker's ``always``) or ``start_stopped`` is true: then it is started, its
        budget going on where it was (``relaunch run`` starts every workload of its file, as
        supervisord starts every ``autostart`` program).
        """
        with self._lock:
            if self._closed:
                raise SupervisorError("supervisor is closed")
            if name in self._workloads:
                raise SupervisorError(f"workload {name!r} is already supervised")
            self._forgotten.discard(name)
            saved = self._saved.get(name)
        # Outside the lock: it may ask the runtime (and refuse a workload that is not ours).
        self._runtime.watch(name, spec, None if saved is None else saved.run)
        with self._lock:
            w = self._restore(name, spec, policy, saved)
            self._workloads[name] = w
            if w.phase is Phase.STOPPED and w.stop_requested and (policy.resume_stopped or start_stopped):
                # Docker's `always`, unlike `unless-stopped`: a stopped workload is started
                # again when its supervisor starts (the budget goes on where it was).
                w.stop_requested = False
                self._start_soon(w)
            # Lazy: a start, if any, records itself urgently; a new workload that is lost is
            # simply added again.
            self._mark(w, lazy=True)
        try:
            self.observed(name, self._runtime.observe(name))
        except RuntimeUnavailable:
            logger.warning(
                "%s: runtime unavailable; will reconcile on reconnect", name, extra={"workload": name}
            )
        finally:
            with self._lock:
                if not self._closed and w.token == 0 and w.phase in (Phase.BACKING_OFF, Phase.STARTING):
                    # Resume a start the previous supervisor had scheduled or recorded, at its
                    # original time. Only now: a recorded start may have been made, and its run
                    # may have ended since; observing first decides on that run (and counts
                    # it) instead of starting another beside it.
                    at = w.restart_at if w.restart_at is not None else self._clock.time()
                    self._schedule(w, max(0.0, at - self._clock.time()))

    def stop(self, name: str) -> None:
        """Stop ``name`` on purpose (an operator stop): cancel any pending start, never restart.

        Blocks while the runtime stops it (Docker: up to its stop timeout); raises
        ``RuntimeUnavailable`` if the runtime cannot be reached (the request is kept and applied
        to the death the runtime reports later).
        """
        self._halt(name)

    def give_up(self, name: str, reason: str) -> None:
        """Give ``name`` up from outside its policy (a group whose shared budget is spent):
        stop it as :meth:`stop` does, and leave it ``GIVEN_UP`` with ``reason`` until an
        operator starts it."""
        self._halt(name, give_up=reason)

    def restart(self, name: str) -> None:
        """Restart ``name`` on an operator's request (or a group's), keeping its budget.

        A live run is stopped as :meth:`stop` stops it, and started again once it has ended;
        that end is not a failure and spends nothing. A workload backing off starts now. One
        that is stopped or given up is started as :meth:`start` starts it (a fresh state).
        """
        with self._lock:
            w = self._get(name)
        try:
            with w.action:
                with self._lock:
                    if w.phase in (Phase.STOPPED, Phase.GIVEN_UP):
                        running = False
                        self._operator_start(w)
                    elif w.phase is Phase.BACKING_OFF:
                        running = False
                        self._cancel(w)
                        self._start_soon(w)
                        self._mark(w)
                    else:  # running, starting, or not yet observed: the runtime stops it
                        running = True
                        self._cancel(w)
                        w.stop_requested = w.restart_requested = True
                        self._mark(w)
                if running:
                    self._runtime.stop(name)
        finally:
            self._flush_hooks()

    def remove(self, name: str, timeout: float = 30.0) -> None:
        """Stop supervising ``name``: stop its run as :meth:`stop` does, wait up to ``timeout``
        seconds for its end, then forget it (its row is deleted from the store, and the runtime
        forgets what it holds of it: Docker removes its container). ``add`` may add it again,
        as a new workload."""
        self._halt(name)
        deadline = time.monotonic() + timeout
        with self._lock:
            w = self._get(name)
        while True:
            with self._lock:
                ended = w.phase in (Phase.STOPPED, Phase.GIVEN_UP)
            if ended or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        with w.action, self._lock:
            if self._workloads.get(name) is not w:
                return  # removed meanwhile by another caller
            del self._workloads[name]
            self._saved.pop(name, None)
            self._forgotten.add(name)
            self._cancel(w)
            self._journal.mark(name)
        forget = getattr(self._runtime, "forget", None)
        if forget is not None:
            forget(name)

    def _halt(self, name: str, give_up: str | None = None) -> None:
        with self._lock:
            w = self._get(name)
        try:
            with w.action:
                with self._lock:
                    self._cancel(w)
                    w.stop_requested = True
                    w.restart_requested = False
                    w.halt_reason = give_up
                    running = w.phase in (Phase.RUNNING, Phase.STARTING, Phase.PENDING)
                    if not running and w.phase is not Phase.STOPPED:
                        now = max(self._clock.time(), w.state.last_at)
                        self._decide(w, None, Outcome(now, now, cause=Cause.STOPPED))
                    else:
                        # Running (its end is decided below), or stopped already: a give-up of a
                        # workload an operator stopped leaves it stopped, the operator's word.
                        self._mark(w)
                if running:
                    self._runtime.stop(name)
        finally:
            self._flush_hooks()

    def start(self, name: str) -> None:
        """Start ``name`` again on an operator's request, after a stop or a give-up.

        The operator's manual start: a fresh state (``Policy.start``) and a start now, creating
        the workload if it was removed. Does nothing to one that is running, starting or backing
        off.
        """
        with self._lock:
            w = self._get(name)
            if w.phase in (Phase.STOPPED, Phase.GIVEN_UP):
                self._operator_start(w)

    def status(self, name: str) -> Status:
        """Phase, restart counts, last outcome and last reason of ``name``."""
        with self._lock:
            w = self._get(name)
            return self._status(w)

    def statuses(self) -> list[Status]:
        """The status of every workload, in the order they were added, from one snapshot."""
        with self._lock:
            return [self._status(w) for w in self._workloads.values()]

    def _status(self, w: _Workload) -> Status:
        return Status(
            name=w.name,
            phase=w.phase,
            restart_at=w.restart_at if w.phase is Phase.BACKING_OFF else None,
            restarts=w.state.restarts,
            attempt=w.state.attempt,
            last_outcome=w.last_outcome,
            reason=w.reason,
            rule=w.rule,
            durable=self._journal.durable(w.seq),
            health=w.health,
            running_since=w.running_since if w.phase is Phase.RUNNING else None,
            budget_left=self._budget_left(w),
        )

    def _budget_left(self, w: _Workload) -> float:
        try:
            return w.policy.remaining(w.state, self._clock.time())
        except StateError:
            # A state saved under another policy's budget: its next decision says so; a status
            # is only a reading and must not fail.
            return math.nan

    def store_health(self) -> StoreHealth:
        """Whether the store takes the supervisor's changes (last commit, current error)."""
        return self._journal.health()

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._workloads)

    def close(self) -> None:
        """Stop every thread (within about a second) and commit; leaves the workloads running."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        self._runtime.close()
        self._scheduler.close(deadline)
        self._journal.close(max(0.05, deadline - time.monotonic()))
        self._store.close()

    # -- sink: called by runtime threads ----------------------------------------------------

    # The two calls of every restart hold the lock and flush the hooks by hand: ``_acting`` is a
    # generator, 72 us of the 1.8 ms a restart cost under yappi (500 workloads crash-looping).

    def run_started(self, name: str, run: LiveRun | None = None) -> None:
        """A run of ``name`` started (ours, or an operator's manual start)."""
        try:
            with self._lock:
                w = None if self._closed else self._workloads.get(name)
                if w is not None:
                    self._became_running(w, run)
        finally:
            self._flush_hooks()

    def run_ended(self, name: str, end: RunEnd) -> None:
        """A run of ``name`` ended; handled at most once per ``end.run``."""
        try:
            with self._lock:
                w = None if self._closed else self._workloads.get(name)
                if w is not None:
                    self._handle_end(w, end)
        finally:
            self._flush_hooks()

    def removed(self, name: str) -> None:
        """``name`` was removed from the runtime: an operator decision, never undone by us."""
        with self._acting(name) as w:
            if w is not None:
                self._removed(w)

    def observed(self, name: str, obs: Observation) -> None:
        """Reconcile ``name`` with what the runtime reports it is now."""
        with self._acting(name) as w:
            if w is None:
                return
            if w.unavailable and w.phase is Phase.BACKING_OFF:
                # The runtime answers again: the start it could not make is due now, not at the
                # next retry.
                self._cancel(w)
                self._start_soon(w)
            match obs:
                case Missing():
                    if w.fresh:
                        self._start_soon(w)
                    else:
                        self._removed(w)
                case NotStarted():
                    if w.fresh or w.phase is Phase.RUNNING:
                        # Never started, or recorded running with no trace left of its run and
                        # no end to judge: start it (nothing of it runs, so no duplicate).
                        self._start_soon(w)
                case Running(run):
                    self._became_running(w, run)
                case Ended(end):
                    if w.fresh and end.started_at < w.state.last_at:
                        # This run began before we supervised it: not ours to judge. Start it.
                        # (A fresh workload's run that began since is one of ours whose record
                        # was lost with its supervisor: judged, and counted, as any other.)
                        w.last_run = end.run
                        self._start_soon(w)
                    else:
                        self._handle_end(w, end)
            # A decision marked itself urgently; what else changed the runtime reports again.
            self._mark(w, lazy=True)

    def cursor_changed(self, cursor: str) -> None:
        """The runtime's resume point (e.g. Docker's last event time); saved with the state."""
        with self._lock:
            self._cursor = cursor
            # An older cursor only replays more events, deduplicated: it need not be urgent.
            self._journal.mark(None, lazy=True)

    def health(self, name: str, report: HealthReport) -> None:
        """The live run of ``name`` has a new health report; shown by ``status``, carried by events.

        The kill on UNHEALTHY is the runtime's (``runtime.py``); the end it causes arrives as a
        ``run_ended`` with ``Cause.UNHEALTHY``.
        """
        with self._lock:
            w = None if self._closed else self._workloads.get(name)
            if w is not None:
                w.health = report

    # -- internals (all called with self._lock held) ----------------------------------------

    @contextlib.contextmanager
    def _acting(self, name: str) -> Iterator[_Workload | None]:
        """Hold the lock for the block, with ``name``'s record (None if unknown or closed);
        then, released, deliver the hooks its decisions queued."""
        try:
            with self._lock:
                yield None if self._closed else self._workloads.get(name)
        finally:
            self._flush_hooks()

    def _flush_hooks(self) -> None:
        if self._outbox is not None:
            self._outbox.flush()

    def _get(self, name: str) -> _Workload:
        try:
            return self._workloads[name]
        except KeyError:
            raise SupervisorError(f"unknown workload {name!r}") from None

    def _restore(self, name: str, spec: Any, policy: Policy, saved: WorkloadRecord | None) -> _Workload:
        if saved is None:
            state = policy.start(at=self._clock.time(), seed=seed_for(name))
            return _Workload(name=name, spec=spec, policy=policy, state=state, fresh=True)
        return _Workload(
            name=name,
            spec=spec,
            policy=policy,
            state=saved.state,
            fresh=saved.fresh,
            last_run=saved.last_run,
            phase=saved.phase,
            restart_at=saved.restart_at,
            stop_requested=saved.stop_requested,
            last_outcome=saved.last_outcome,
            reason=saved.reason,
            rule=saved.rule,
            run=saved.run,
        )

    def _snapshot(self, names: Collection[str]) -> tuple[list[WorkloadRecord], str | None, list[str]]:
        """The journal's view of the marked workloads (immutable values only, so cheap), and the
        marked ones that were removed."""
        with self._lock:
            records = [w.record() for name in names if (w := self._workloads.get(name)) is not None]
            forgotten = [name for name in names if name in self._forgotten]
            return records, self._cursor, forgotten

    def _operator_start(self, w: _Workload) -> None:
        """The operator's manual start: a fresh state (``Policy.start``) and a start now."""
        w.state = w.policy.start(at=self._clock.time(), seed=seed_for(w.name))
        w.stop_requested = False
        w.halt_reason = None
        w.fresh = True
        self._start_soon(w)
        self._mark(w)

    def _mark(self, w: _Workload, *, lazy: bool = False) -> None:
        """Mark ``w`` for the journal; ``lazy`` for what nothing waits for and the runtime
        would report again if it were lost (``persistence.py``)."""
        w.seq = self._journal.mark(w.name, lazy=lazy)

    def _enter(self, w: _Workload, phase: Phase) -> None:
        """Every phase change goes through here (``phase.py`` holds the allowed edges)."""
        if w.phase is not phase:
            check_transition(w.name, w.phase, phase)
            w.phase = phase

    def _became_running(self, w: _Workload, run: LiveRun | None) -> None:
        # A run the runtime identifies (a process) is committed at once: if it died while no
        # supervisor watched, only its saved row lets the next one count that crash. A run
        # without one (a container) is found again by name, so its record may wait (lazy).
        lazy = run is None
        if w.phase is Phase.RUNNING:
            if run is not None and run != w.run:
                w.run = run
                self._mark(w)
            return  # confirmed again (Docker's start event after start() returned): no change
        if run is not None:
            w.run = run
        if w.phase in (Phase.GIVEN_UP, Phase.STOPPED):
            # Someone started it by hand after we let it go: the operator's manual restart,
            # which the kernel models as a fresh state.
            w.state = w.policy.start(at=self._clock.time(), seed=seed_for(w.name))
            w.stop_requested = False
            logger.info("%s: started outside the supervisor; fresh state", w.name, extra={"workload": w.name})
        self._cancel(w)
        w.fresh = False
        w.unavailable = False
        w.health = None  # a new run: the last run's health no longer describes it
        w.running_since = run.started_at if run is not None else self._clock.time()
        self._enter(w, Phase.RUNNING)
        w.restart_at = None
        self._mark(w, lazy=lazy)

    def _removed(self, w: _Workload) -> None:
        self._cancel(w)
        w.run = None
        if w.phase is Phase.STOPPED:
            self._mark(w)
            return
        now = max(self._clock.time(), w.state.last_at)
        self._decide(w, None, Outcome(now, now, cause=Cause.STOPPED))

    def _handle_end(self, w: _Workload, end: RunEnd) -> None:
        if end.run == w.last_run:
            return  # seen already (event replayed, or found again by reconciliation)
        w.run = None
        started = max(end.started_at, w.state.last_at)
        cause, exit_code, signal = end.cause, end.exit_code, end.signal
        if w.stop_requested:
            cause = Cause.STOPPED
        elif not end.status_known and cause in (Cause.EXITED, Cause.LOST):
            cause, exit_code, signal = Cause.EXITED, UNKNOWN_EXIT_CODE, None
        outcome = Outcome(
            started_at=started,
            ended_at=max(end.ended_at, started),
            exit_code=exit_code,
            signal=signal,
            cause=cause,
        )
        self._decide(w, end.run, outcome, detail=end.detail)

    def _decide(self, w: _Workload, run: str | None, outcome: Outcome, detail: str = "") -> None:
        decision = w.policy.decide(w.state, outcome)
        w.state = decision.state
        w.fresh = False
        if run is not None:
            w.last_run = run
        w.last_outcome = outcome
        w.reason = reason = decision.reason  # built at each reading: once here
        w.rule = decision.rule
        self._cancel(w)
        if decision.restarts and decision.delay <= 0:
            # A restart at once: its start is recorded with the decision, one commit for both
            # (the write-ahead rule holds: both are durable before the runtime is asked).
            self._enter(w, Phase.BACKING_OFF)
            self._start_now(w)
        else:
            lazy = False
            if decision.restarts:
                self._enter(w, Phase.BACKING_OFF)
                w.restart_at = self._clock.time() + decision.delay
                self._schedule(w, decision.delay)
                # The start this orders is recorded in the same row, so it commits this decision
                # before the runtime is asked (write-ahead holds) unless the lazy commit comes
                # first. Only for an end the runtime keeps exactly (an exit or OOM kill of a
                # container): a supervisor killed meanwhile reads it again and decides the same.
                # Docker's crash loop: 124 commits instead of 385 (benchmarks/FINDINGS.md).
                lazy = self._ends_kept and run is not None and outcome.cause in (Cause.EXITED, Cause.OOM)
            elif w.restart_requested:
                # The operator's restart: the stop it asked for has ended; start again, budget kept.
                w.restart_requested = w.stop_requested = False
                self._enter(w, Phase.STOPPED)
                self._start_soon(w)
            elif w.halt_reason is not None:
                self._enter(w, Phase.GIVEN_UP)
                w.reason = w.halt_reason
                w.restart_at = None
            else:
                self._enter(w, Phase.GIVEN_UP if decision.action is Action.GIVE_UP else Phase.STOPPED)
                w.restart_at = None
            self._mark(w, lazy=lazy)
        if logger.isEnabledFor(logging.INFO):
            logger.info("%s: %s", w.name, reason, extra=decision_fields(w.name, run, decision, detail))
        if self._outbox is not None:
            health = w.health if run is not None else None
            self._outbox.put(DecisionEvent(w.name, run, outcome, decision, detail, health))

    def _start_soon(self, w: _Workload) -> None:
        """A start no decision asked for (first start, operator start): now, once."""
        if w.token == 0 and w.phase is not Phase.STARTING:
            self._enter(w, Phase.STARTING)
            w.restart_at = None
            self._schedule(w, 0.0)

    def _schedule(self, w: _Workload, delay: float) -> None:
        w.token = next(self._tokens)
        self._scheduler.schedule(w.name, w.token, delay)

    def _cancel(self, w: _Workload) -> None:
        # The scheduler keeps the entry; _fire skips it when its token no longer matches.
        w.token = 0

    # -- start workers ----------------------------------------------------------------------

    def _fire(self, name: str, token: int) -> None:
        """A scheduled start is due: record it, and launch it once the record is durable.

        Write-ahead: the decision that ordered this start, and the start itself, are on disk
        before the runtime is asked (unless the store fails: then we go on from memory). The
        wait happens in the journal, not here, so a start worker is never held by an fsync and
        every start due in one burst shares one commit.
        """
        with self._lock:
            w = self._workloads.get(name)
            if w is None or w.token != token or self._closed:
                return  # cancelled (operator stop, removal, a new schedule) while it was due
            w.token = 0
            self._start_now(w)

    def _start_now(self, w: _Workload) -> None:
        """Record a start of ``w`` (phase STARTING) and launch it once that record is durable
        (called with the lock held; ``_fire`` says why the wait is the journal's)."""
        self._enter(w, Phase.STARTING)
        w.restart_at = None
        w.start_id += 1
        start_id, create, began = w.start_id, w.fresh, self._clock.time()
        self._mark(w)
        launch = lambda: self._launch(w, start_id, create, began)  # noqa: E731 - a closure, by name
        # The call only queues the launch for a start worker: quick, and it takes none of our locks.
        self._journal.after(w.seq, lambda: self._scheduler.submit(launch, first=create))

    def _still_starting(self, w: _Workload, start_id: int) -> bool:
        """Whether start ``start_id`` is still the one under way (called with the lock held)."""
        return not self._closed and w.phase is Phase.STARTING and w.start_id == start_id and w.token == 0

    def _launch(self, w: _Workload, start_id: int, create: bool, began: float) -> None:
        try:
            with w.action:
                self._start(w, start_id, create, began)
        finally:
            self._flush_hooks()

    def _start(self, w: _Workload, start_id: int, create: bool, began: float) -> None:
        with self._lock:
            if not self._still_starting(w, start_id):
                return  # removed, stopped or rescheduled while the start was being recorded
        try:
            self._runtime.start(w.name, create=create)
        except StartError as exc:
            with self._lock:
                if self._still_starting(w, start_id):
                    now = self._clock.time()
                    started = max(began, w.state.last_at)
                    outcome = Outcome(started, max(now, started), cause=Cause.START_FAILED)
                    self._decide(w, None, outcome, detail=str(exc))
            return
        except Exception as exc:  # RuntimeUnavailable, or a surprise: retry later, never die
            if not isinstance(exc, RuntimeUnavailable):
                logger.exception("%s: unexpected error at start", w.name, extra={"workload": w.name})
            with self._lock:
                if self._still_starting(w, start_id):
                    if not w.unavailable:  # once per outage; the runtime says why, once for all
                        logger.info(
                            "%s: runtime unavailable at start (%s); retrying every %.1fs",
                            w.name,
                            exc,
                            self._unavailable_retry,
                            extra={"workload": w.name},
                        )
                    w.unavailable = True
                    self._enter(w, Phase.BACKING_OFF)
                    w.restart_at = self._clock.time() + self._unavailable_retry
                    self._schedule(w, self._unavailable_retry)
                    self._mark(w)
            return
        with self._lock:
            # The runtime usually reports the start (run_started) before start() returns.
            w.fresh = False
            w.unavailable = False
            # This start's own: the run it started may have ended, been decided on and a newer
            # start recorded meanwhile (a run that exits at once), which must not be taken
            # for running.
            if self._still_starting(w, start_id):
                w.health = None
                w.running_since = self._clock.time()
                self._enter(w, Phase.RUNNING)
                self._mark(w, lazy=True)
