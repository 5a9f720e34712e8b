"""The runtime-agnostic supervisor core: it turns what a runtime observes into kernel decisions.

This module owns everything that is the same for every runtime: one scheduler thread for delayed,
cancellable starts; feeding each ended run to ``policy.decide`` exactly once (runs are identified by
an opaque key the runtime gives, and the last handled key is persisted); persisting every
workload's kernel ``State`` atomically on every decision; ``status()``; the decision hook; and
logging. It never talks to Docker or to processes: a ``Runtime`` does (see ``docker.py``), and
reports back through the ``Sink`` methods of ``Supervisor``.

Threads: runtime threads call the ``Sink`` methods; the scheduler thread calls
``Runtime.start``; callers call ``add``/``stop``/``status``. One re-entrant lock guards workload
records and is never held while calling the runtime or a hook; a per-workload lock serialises
that workload's actions (start, stop), so an operator stop never races a start under way.
Decision hooks are queued under the lock and called after it is released, in decision order, so a
hook may call back into the supervisor (or into a runtime that takes its own lock).
"""

from __future__ import annotations

import contextlib
import enum
import heapq
import itertools
import logging
import queue
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from relaunch import Action, Cause, Decision, Outcome, Policy, Rule, State, StateError
from relaunch.adapters.clock import Clock, SystemClock
from relaunch.adapters.store import StateStore, StoreError

logger = logging.getLogger("relaunch.supervisor")

SCHEMA = 1

# A start that finds the runtime unreachable is retried this often (seconds). It is not a crash
# of the workload, so it consumes no budget and is not fed to the kernel at all.
UNAVAILABLE_RETRY_S = 0.5

# Due starts run on this many threads, so a slow start (0.1-0.35 s on a busy engine, measured)
# does not hold back every other workload's: with one, 50 crash-looping workloads got 5.3
# restarts/s from an engine that does 7.3 starts/s from four threads (benchmarks/FINDINGS.md). A
# workload's own start and stop stay serialised by its action lock.
START_WORKERS = 4

# close() must return within a second (issue 4); the scheduler thread only ever waits on a
# condition that close() notifies, so this join bound is a safety net, not the normal path.
JOIN_TIMEOUT_S = 0.9


class Phase(enum.StrEnum):
    """Where a workload is, as far as the supervisor knows."""

    PENDING = "pending"  # added, not yet observed (the runtime is unreachable)
    STARTING = "starting"  # a start is under way
    RUNNING = "running"
    BACKING_OFF = "backing-off"  # exited; a start is scheduled at Status.restart_at
    GIVEN_UP = "given-up"  # the policy gave up; stays down until an operator starts it
    STOPPED = "stopped"  # stopped or removed on purpose, or the policy needs no restart


class SupervisorError(RuntimeError):
    """Misuse of the supervisor (unknown workload, a state file of another supervisor...)."""


class StartError(Exception):
    """``Runtime.start`` could not start the workload at all (bad image, bad command)."""


class RuntimeUnavailable(Exception):
    """The runtime cannot be reached now (daemon down or frozen); the caller tries again later."""


@dataclass(frozen=True, slots=True)
class RunEnd:
    """How one run ended, as the runtime saw it. Times are Unix seconds, not yet clamped."""

    run: str  # identifies the run (Docker: container id and StartedAt); handled exactly once
    started_at: float
    ended_at: float
    exit_code: int | None = None
    signal: int | None = None
    cause: Cause = Cause.EXITED
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Missing:
    """The workload does not exist in the runtime (never created, or removed)."""


@dataclass(frozen=True, slots=True)
class NotStarted:
    """The workload exists but never ran (created, or its first start failed)."""


@dataclass(frozen=True, slots=True)
class Running:
    """The workload is running now."""


@dataclass(frozen=True, slots=True)
class Ended:
    """The workload is not running; ``end`` describes its latest run."""

    end: RunEnd


Observation = Missing | NotStarted | Running | Ended


class Sink(Protocol):
    """How a runtime reports what it sees (``Supervisor`` implements it); safe from any thread."""

    def run_started(self, name: str) -> None: ...

    def run_ended(self, name: str, end: RunEnd) -> None: ...

    def removed(self, name: str) -> None: ...

    def observed(self, name: str, obs: Observation) -> None: ...

    def cursor_changed(self, cursor: str) -> None: ...


class Runtime(Protocol):
    """What a runtime (Docker, local processes) provides to the supervisor core.

    Every method may raise ``RuntimeUnavailable``. ``open`` starts watching in the runtime's own
    threads; from then on the runtime reports through the ``Sink`` and, on every (re)connection,
    reports ``observed`` for every watched workload. ``cursor`` is the runtime's own resume point
    as it last reported it (``Sink.cursor_changed``), persisted with the state.
    """

    @property
    def supervisor_id(self) -> str: ...

    def open(self, sink: Sink, cursor: str | None) -> None: ...

    def watch(self, name: str, spec: Any) -> None: ...

    def observe(self, name: str) -> Observation: ...

    def start(self, name: str, *, create: bool) -> None: ...

    def stop(self, name: str) -> None: ...

    def close(self) -> None: ...


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


@dataclass(frozen=True, slots=True)
class DecisionEvent:
    """What the decision hook receives: one decision about one workload."""

    name: str
    run: str | None  # the run it is about (None for start failures and operator stops)
    outcome: Outcome
    decision: Decision
    detail: str = ""  # the runtime's own words for a failed start (Docker's error, the OS's errno text)


DecisionHook = Callable[[DecisionEvent], None]


@dataclass(slots=True)
class _Workload:
    name: str
    spec: Any
    policy: Policy
    state: State
    fresh: bool  # never started nor decided on by any supervisor with this state file
    last_run: str | None = None
    phase: Phase = Phase.PENDING
    restart_at: float | None = None
    token: int = 0  # the pending scheduled start, 0 if none
    stop_requested: bool = False
    last_outcome: Outcome | None = None
    reason: str | None = None
    rule: Rule | None = None
    action: threading.RLock = field(default_factory=threading.RLock)  # held across start/stop

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.to_dict(),
            "last_run": self.last_run,
            "phase": self.phase.value,
            "restart_at": self.restart_at,
            "reason": self.reason,
            "rule": None if self.rule is None else self.rule.value,
            "stop_requested": self.stop_requested,
            "last_outcome": _outcome_to_dict(self.last_outcome),
        }


def _outcome_to_dict(o: Outcome | None) -> dict[str, Any] | None:
    if o is None:
        return None
    return {
        "started_at": o.started_at,
        "ended_at": o.ended_at,
        "exit_code": o.exit_code,
        "signal": o.signal,
        "cause": o.cause.name,
    }


def _outcome_from_dict(d: Any) -> Outcome | None:
    if d is None:
        return None
    return Outcome(
        started_at=d["started_at"],
        ended_at=d["ended_at"],
        exit_code=d["exit_code"],
        signal=d["signal"],
        cause=Cause[d["cause"]],
    )


def seed_for(name: str) -> int:
    """A stable per-workload jitter seed, so one daemon restart does not restart all in step."""
    return zlib.crc32(name.encode("utf-8"))


@dataclass(order=True, slots=True)
class _Timer:
    due: float
    seq: int
    name: str = field(compare=False)
    token: int = field(compare=False)


class Supervisor:
    """Supervises named workloads of one runtime with kernel policies, durably.

    ``state_path`` is the JSON state file; a new ``Supervisor`` with the same file and the same
    runtime ``supervisor_id`` resumes every workload's State, last handled run and pending start.
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
    ) -> None:
        if start_workers < 1:
            raise ValueError(f"start_workers: must be >= 1, got {start_workers!r}")
        self._runtime = runtime
        self._clock: Clock = clock or SystemClock()
        self._hook = on_decision
        self._unavailable_retry = unavailable_retry
        self._store = StateStore(state_path)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._outbox: deque[DecisionEvent] = deque()
        self._hook_lock = threading.RLock()
        self._workloads: dict[str, _Workload] = {}
        self._timers: list[_Timer] = []
        self._tokens = itertools.count(1)
        self._closed = False
        self._cursor: str | None = None
        self._saved: dict[str, Any] = {}
        self._load()
        self._due: queue.SimpleQueue[_Timer | None] = queue.SimpleQueue()
        self._starters = [
            threading.Thread(target=self._run_starts, name=f"relaunch-start-{n}", daemon=True)
            for n in range(start_workers)
        ]
        for starter in self._starters:
            starter.start()
        self._thread = threading.Thread(target=self._run_timers, name="relaunch-scheduler")
        self._thread.daemon = True
        self._thread.start()
        try:
            runtime.open(self, self._cursor)
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

    def add(self, name: str, spec: Any, policy: Policy) -> None:
        """Supervise ``name``: adopt or create it in the runtime and keep it running per ``policy``.

        A workload with saved state resumes it (same budget, same last handled run); a new one
        gets ``policy.start(at=now)`` and is started at once.
        """
        with self._lock:
            if self._closed:
                raise SupervisorError("supervisor is closed")
            if name in self._workloads:
                raise SupervisorError(f"workload {name!r} is already supervised")
        # Outside the lock: it may ask the runtime (and refuse a workload that is not ours).
        self._runtime.watch(name, spec)
        with self._lock:
            w = self._restore(name, spec, policy)
            self._workloads[name] = w
            if w.phase in (Phase.BACKING_OFF, Phase.STARTING):
                # Resume a start the previous supervisor had scheduled, at its original time.
                at = w.restart_at if w.restart_at is not None else self._clock.time()
                self._schedule(w, max(0.0, at - self._clock.time()))
        try:
            obs = self._runtime.observe(name)
        except RuntimeUnavailable:
            logger.warning(
                "%s: runtime unavailable; will reconcile on reconnect",
                name,
                extra={"workload": name},
            )
            return
        self.observed(name, obs)

    def stop(self, name: str) -> None:
        """Stop ``name`` on purpose (an operator stop): cancel any pending start, never restart.

        Blocks while the runtime stops it (Docker: up to its stop timeout); raises
        ``RuntimeUnavailable`` if the runtime cannot be reached (the request is kept and applied
        to the death the runtime reports later).
        """
        with self._lock:
            w = self._get(name)
        try:
            with w.action:
                with self._lock:
                    self._cancel(w)
                    w.stop_requested = True
                    running = w.phase in (Phase.RUNNING, Phase.STARTING, Phase.PENDING)
                    if not running and w.phase is not Phase.STOPPED:
                        now = max(self._clock.time(), w.state.last_at)
                        self._decide(w, None, Outcome(now, now, cause=Cause.STOPPED))
                    else:
                        self._save()
                if running:
                    self._runtime.stop(name)
        finally:
            self._flush_hooks()

    def start(self, name: str) -> None:
        """Start ``name`` again on an operator's request, after a stop or a give-up.

        The operator's manual start, as in ``_became_running``: a fresh state (``Policy.start``),
        and a start now, creating the workload if it was removed. Does nothing to a workload
        that is running, starting or backing off.
        """
        with self._lock:
            w = self._get(name)
            if w.phase not in (Phase.STOPPED, Phase.GIVEN_UP):
                return
            w.state = w.policy.start(at=self._clock.time(), seed=seed_for(name))
            w.stop_requested = False
            w.fresh = True
            self._start_soon(w)
            self._save()

    def status(self, name: str) -> Status:
        """Phase, restart counts, last outcome and last reason of ``name``."""
        with self._lock:
            w = self._get(name)
            return Status(
                name=name,
                phase=w.phase,
                restart_at=w.restart_at if w.phase is Phase.BACKING_OFF else None,
                restarts=w.state.restarts,
                attempt=w.state.attempt,
                last_outcome=w.last_outcome,
                reason=w.reason,
                rule=w.rule,
            )

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._workloads)

    def close(self) -> None:
        """Stop every thread (within a second) and save; leaves the workloads as they are."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        self._runtime.close()
        self._thread.join(max(0.05, deadline - time.monotonic()))
        for starter in self._starters:  # a start under way finishes; none begins after close()
            starter.join(max(0.05, deadline - time.monotonic()))
        with self._lock:
            self._save()

    # -- sink: called by runtime threads ----------------------------------------------------

    def run_started(self, name: str) -> None:
        """A run of ``name`` started (ours, or an operator's manual start)."""
        with self._acting():
            w = self._workloads.get(name)
            if w is None or self._closed:
                return
            self._became_running(w)

    def run_ended(self, name: str, end: RunEnd) -> None:
        """A run of ``name`` ended; handled at most once per ``end.run``."""
        with self._acting():
            w = self._workloads.get(name)
            if w is None or self._closed:
                return
            self._handle_end(w, end)

    def removed(self, name: str) -> None:
        """``name`` was removed from the runtime: an operator decision, never undone by us."""
        with self._acting():
            w = self._workloads.get(name)
            if w is None or self._closed:
                return
            self._removed(w)

    def observed(self, name: str, obs: Observation) -> None:
        """Reconcile ``name`` with what the runtime reports it is now."""
        with self._acting():
            w = self._workloads.get(name)
            if w is None or self._closed:
                return
            match obs:
                case Missing():
                    if w.fresh:
                        self._start_soon(w)
                    else:
                        self._removed(w)
                case NotStarted():
                    if w.fresh:
                        self._start_soon(w)
                case Running():
                    self._became_running(w)
                case Ended(end):
                    if w.fresh:
                        # This run ended before we supervised it: not ours to judge. Start it.
                        w.last_run = end.run
                        self._start_soon(w)
                    else:
                        self._handle_end(w, end)

    def cursor_changed(self, cursor: str) -> None:
        """The runtime's resume point (e.g. Docker's last event time); saved with the state."""
        with self._lock:
            self._cursor = cursor

    # -- internals (all called with self._lock held) ----------------------------------------

    @contextlib.contextmanager
    def _acting(self) -> Iterator[None]:
        """Hold the lock for the block; then, released, call the hooks its decisions queued."""
        try:
            with self._lock:
                yield
        finally:
            self._flush_hooks()

    def _flush_hooks(self) -> None:
        # One deliverer at a time keeps decision order. Others never wait for it (a hook that
        # waits on a thread that decides would deadlock): the deliverer drains the queue and
        # looks again after letting go, so no event is left behind. Re-entrant: a hook may decide.
        while True:
            if not self._hook_lock.acquire(blocking=False):
                return
            try:
                self._deliver()
            finally:
                self._hook_lock.release()
            with self._lock:
                if not self._outbox:
                    return

    def _deliver(self) -> None:
        while True:
            with self._lock:
                if not self._outbox:
                    return
                event = self._outbox.popleft()
            assert self._hook is not None
            try:
                self._hook(event)
            except Exception:  # a user hook must not kill a supervisor thread; logged with traceback
                logger.exception("%s: decision hook failed", event.name, extra={"workload": event.name})

    def _get(self, name: str) -> _Workload:
        try:
            return self._workloads[name]
        except KeyError:
            raise SupervisorError(f"unknown workload {name!r}") from None

    def _load(self) -> None:
        data = self._store.load()
        if data is None:
            return
        if data.get("schema") != SCHEMA:
            raise StoreError(f"state file {self._store.path}: unknown schema {data.get('schema')!r}")
        owner = data.get("supervisor")
        if owner != self._runtime.supervisor_id:
            raise SupervisorError(
                f"state file {self._store.path} belongs to supervisor {owner!r}, "
                f"not {self._runtime.supervisor_id!r}"
            )
        cursor = data.get("cursor")
        self._cursor = cursor if isinstance(cursor, str) else None
        workloads = data.get("workloads")
        if not isinstance(workloads, dict):
            raise StoreError(f"state file {self._store.path}: 'workloads' must be an object")
        self._saved = workloads

    def _restore(self, name: str, spec: Any, policy: Policy) -> _Workload:
        saved = self._saved.get(name)
        if saved is None:
            state = policy.start(at=self._clock.time(), seed=seed_for(name))
            return _Workload(name=name, spec=spec, policy=policy, state=state, fresh=True)
        try:
            state = State.from_dict(saved["state"])
            rule = saved.get("rule")
            return _Workload(
                name=name,
                spec=spec,
                policy=policy,
                state=state,
                fresh=False,
                last_run=saved.get("last_run"),
                phase=Phase(saved.get("phase", Phase.PENDING.value)),
                restart_at=saved.get("restart_at"),
                last_outcome=_outcome_from_dict(saved.get("last_outcome")),
                reason=saved.get("reason"),
                rule=None if rule is None else Rule(rule),
                stop_requested=bool(saved.get("stop_requested", False)),
            )
        except (KeyError, TypeError, ValueError, StateError) as exc:
            raise StoreError(f"state file {self._store.path}: workload {name!r}: {exc}") from exc

    def _save(self) -> None:
        workloads = dict(self._saved)
        workloads.update({name: w.to_dict() for name, w in self._workloads.items()})
        doc = {
            "schema": SCHEMA,
            "supervisor": self._runtime.supervisor_id,
            "cursor": self._cursor,
            "workloads": workloads,
        }
        try:
            self._store.save(doc)
        except OSError:
            # The decision stands in memory; the next save retries. Losing the supervisor now
            # would be worse than a stale state file.
            logger.exception("could not save state to %s", self._store.path)

    def _became_running(self, w: _Workload) -> None:
        if w.phase is Phase.RUNNING:
            return
        if w.phase in (Phase.GIVEN_UP, Phase.STOPPED):
            # Someone started it by hand after we let it go: the operator's manual restart,
            # which the kernel models as a fresh state.
            w.state = w.policy.start(at=self._clock.time(), seed=seed_for(w.name))
            w.stop_requested = False
            logger.info("%s: started outside the supervisor; fresh state", w.name, extra={"workload": w.name})
        self._cancel(w)
        w.fresh = False
        w.phase = Phase.RUNNING
        w.restart_at = None
        self._save()

    def _removed(self, w: _Workload) -> None:
        self._cancel(w)
        if w.phase is Phase.STOPPED:
            return
        now = max(self._clock.time(), w.state.last_at)
        self._decide(w, None, Outcome(now, now, cause=Cause.STOPPED))

    def _handle_end(self, w: _Workload, end: RunEnd) -> None:
        if end.run == w.last_run:
            return  # seen already (event replayed, or found again by reconciliation)
        started = max(end.started_at, w.state.last_at)
        cause = Cause.STOPPED if w.stop_requested else end.cause
        outcome = Outcome(
            started_at=started,
            ended_at=max(end.ended_at, started),
            exit_code=end.exit_code,
            signal=end.signal,
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
        w.reason = decision.reason
        w.rule = decision.rule
        self._cancel(w)
        if decision.restarts:
            w.phase = Phase.BACKING_OFF
            w.restart_at = self._clock.time() + decision.delay
            self._schedule(w, decision.delay)
        else:
            w.phase = Phase.GIVEN_UP if decision.action is Action.GIVE_UP else Phase.STOPPED
            w.restart_at = None
        self._save()
        logger.info(
            "%s: %s",
            w.name,
            decision.reason,
            extra={
                "workload": w.name,
                "run": run,
                "cause": outcome.cause.name,
                "exit_code": outcome.exit_code,
                "action": decision.action.name,
                "rule": decision.rule.value,
                "delay": decision.delay,
                "attempt": decision.attempt,
                "detail": detail,
            },
        )
        if self._hook is not None:
            self._outbox.append(DecisionEvent(w.name, run, outcome, decision, detail))

    def _start_soon(self, w: _Workload) -> None:
        """The first start of a workload (no decision asked for it): now, once."""
        if w.token == 0 and w.phase is not Phase.STARTING:
            w.phase = Phase.STARTING
            w.restart_at = None
            self._schedule(w, 0.0)

    def _schedule(self, w: _Workload, delay: float) -> None:
        w.token = next(self._tokens)
        heapq.heappush(self._timers, _Timer(self._clock.monotonic() + delay, w.token, w.name, w.token))
        self._cond.notify_all()

    def _cancel(self, w: _Workload) -> None:
        # The heap entry stays; it is skipped when its token no longer matches.
        w.token = 0

    # -- scheduler thread -------------------------------------------------------------------

    def _run_timers(self) -> None:
        try:
            for timer in self._due_timers():
                self._due.put(timer)
        finally:
            for _ in self._starters:
                self._due.put(None)

    def _run_starts(self) -> None:
        while (timer := self._due.get()) is not None:
            self._fire(timer)

    def _due_timers(self) -> Iterator[_Timer]:
        while True:
            with self._cond:
                while not self._closed:
                    while self._timers and self._is_stale(self._timers[0]):
                        heapq.heappop(self._timers)
                    now = self._clock.monotonic()
                    if self._timers and self._timers[0].due <= now:
                        timer = heapq.heappop(self._timers)
                        break
                    timeout = self._timers[0].due - now if self._timers else None
                    self._clock.wait(self._cond, timeout)
                else:
                    return
            yield timer

    def _is_stale(self, timer: _Timer) -> bool:
        w = self._workloads.get(timer.name)
        return w is None or w.token != timer.token

    def _fire(self, timer: _Timer) -> None:
        with self._lock:
            w = self._workloads.get(timer.name)
        if w is None:
            return
        try:
            with w.action:
                self._start(w, timer.token)
        finally:
            self._flush_hooks()

    def _start(self, w: _Workload, token: int) -> None:
        with self._lock:
            if self._closed or w.token != token:
                return  # cancelled (operator stop, removal) while it was due
            w.token = 0
            w.phase = Phase.STARTING
            create = w.fresh
            began = self._clock.time()
        try:
            self._runtime.start(w.name, create=create)
        except StartError as exc:
            with self._lock:
                if not self._closed:
                    now = self._clock.time()
                    started = max(began, w.state.last_at)
                    outcome = Outcome(started, max(now, started), cause=Cause.START_FAILED)
                    self._decide(w, None, outcome, detail=str(exc))
            return
        except Exception as exc:  # RuntimeUnavailable, or a surprise: retry later, never die
            if not isinstance(exc, RuntimeUnavailable):
                logger.exception("%s: unexpected error at start", w.name, extra={"workload": w.name})
            with self._lock:
                if w.token == 0 and not self._closed and w.phase is Phase.STARTING:
                    logger.warning(
                        "%s: runtime unavailable at start (%s); retrying in %.1fs",
                        w.name,
                        exc,
                        self._unavailable_retry,
                        extra={"workload": w.name},
                    )
                    w.phase = Phase.BACKING_OFF
                    self._schedule(w, self._unavailable_retry)
            return
        with self._lock:
            # The runtime's start event often arrives before start() returns, and has saved the
            # running workload already (run_started); saving the same state again only cost time
            # (each save rewrites the whole file with two fsyncs: benchmarks/FINDINGS.md).
            changed = w.fresh or w.phase is Phase.STARTING
            w.fresh = False
            if w.phase is Phase.STARTING:
                w.phase = Phase.RUNNING
                w.restart_at = None
            if changed and not self._closed:
                self._save()
