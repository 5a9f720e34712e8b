"""Supervised coroutines: the task-supervision state machine, and it lives here alone.

Everything that decides what happens to a supervised task is in this module: how a run's end
becomes an ``Outcome``, when the kernel's ``Policy.decide`` is asked, what a group's rule does to
the other members, what an operator's stop, start and restart mean. It reuses the core and adds
no rule of its own: phases change only through ``relaunch.adapters.phase.check_transition``,
decisions are the kernel's, the group rule is ``relaunch.kernel.Group.decide``, and events are
the core's ``DecisionEvent``. It never blocks the event loop and never does I/O: a task has no
existence outside this process, so its state is kept in memory, as the task itself is (a new
supervisor starts every budget afresh, as an OTP supervisor does after its own restart).

The shape, after trio's nurseries and anyio's task groups (python-trio/trio ``trio/_core/_run.py``,
``Nursery``; agronholm/anyio ``src/anyio/abc/_tasks.py``, ``TaskGroup``): an
:class:`AsyncSupervisor` is an anyio task group whose one keeper task holds the loop's own
nursery (``_loop.py`` says why), and each supervised task is one long-lived task of that
nursery, which loops over runs (:meth:`AsyncSupervisor._supervise`): it awaits the coroutine
*itself* (no task per run), builds the ``Outcome``, decides inline (a few microseconds), and
sleeps the delay on the loop's own clock. With 10,000 tasks failing every 10 ms
(``benchmarks/aio.py``, CPython 3.11) a restart costs about 17 us of CPU, against 10 us for the
hand-written loop: 0.59x to 0.60x its restarts a second, 3.0 KB per task. A task's runs are
inside one cancellable block, the lever of operator stops and restarts (``_loop.py``); a run
with a health deadline has an anyio cancel scope of its own whose deadline :func:`heartbeat`
moves.

How a run ends, and what the kernel hears:

- the coroutine returns: ``Outcome(exit_code=0)`` (``Cause.EXITED``);
- it raises an ``Exception``: ``exit_code=1``; the exception's type and message are the
  decision's ``detail`` (in its ``DecisionEvent``, and appended to ``Status.reason``);
- it misses its health deadline: it is cancelled, and its end is ``Cause.UNHEALTHY``;
- an operator (or a group) stops it, or the supervisor's scope is cancelled from outside:
  ``Cause.STOPPED``, never a failure.

A ``BaseException`` that is not a cancellation (``KeyboardInterrupt``, ``SystemExit``) is no
failure of the task: it ends the supervisor, as it ends any task group, and so does an error in
the supervisor itself; neither is ever swallowed. A task that catches its own cancellation and
goes on is not stopped (no task can be killed in Python), and its ``stop`` waits.
"""

from __future__ import annotations

import contextvars
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from relaunch.adapters.phase import Phase, check_transition
from relaunch.adapters.runtime import SupervisorError
from relaunch.adapters.supervisor import DecisionEvent, Status, decision_fields, seed_for
from relaunch.kernel import Action, Cause, Decision, Group, GroupState, Outcome, Policy, Rule, State
from relaunch.kernel.decision import make_decision
from relaunch.kernel.outcome import make_outcome

from . import _loop
from .events import DEFAULT_BUFFER, Broadcast, EventStream

__all__ = [
    "EXIT_RAISED",
    "EXIT_RETURNED",
    "AsyncSupervisor",
    "failure_detail",
    "heartbeat",
    "log_decision",
]

logger = logging.getLogger("relaunch.aio")
# Asked before every decision's log call: one call instead of two when INFO is off.
_logs_decisions = logger.isEnabledFor

#: The exit code of a run whose coroutine returned.
EXIT_RETURNED = 0
#: The exit code of a run whose coroutine raised: a failure, as a process's exit 1 is.
EXIT_RAISED = 1

_RUNNING, _BACKING_OFF, _STARTING = Phase.RUNNING, Phase.BACKING_OFF, Phase.STARTING
_STOPPED, _GIVEN_UP = Phase.STOPPED, Phase.GIVEN_UP
_EXITED = Cause.EXITED
_DOWN = frozenset({_STOPPED, _GIVEN_UP})  # no run, and no runner: only an operator brings it back

AsyncTask = Callable[..., Awaitable[Any]]


def failure_detail(error: BaseException) -> str:
    """The detail of a run that raised: the exception's type and message (``ValueError: bad port``)."""
    text = str(error)
    kind = type(error).__qualname__
    return f"{kind}: {text}" if text else kind


def log_decision(name: str, decision: Decision, detail: str) -> None:
    """Log one decision at INFO, with the fields the thread core's log records carry."""
    if logger.isEnabledFor(logging.INFO):
        logger.info(
            "%s: %s%s",
            name,
            decision.reason,
            f" ({detail})" if detail else "",
            extra=decision_fields(name, None, decision, detail),
        )


class _Group:
    """A group of tasks and its shared state; each member's record points to the same one."""

    __slots__ = ("rule", "state")

    def __init__(self, rule: Group, state: GroupState) -> None:
        self.rule = rule
        self.state = state


class _Task:
    """One supervised task: what the state machine remembers of it (slotted: 10,000 of these).

    Its last decision is kept as plain fields (:meth:`remember`), not as the kernel's Decision
    and the Outcome inside it, and :meth:`last_decision` rebuilds an equal Decision for the few
    that read it (``status``): two objects fewer per task, made anew at every restart, for the
    garbage collector to walk (3,083 -> 3,003 traced bytes per task in ``benchmarks/aio.py``,
    restarts about 2 % faster there, CPython 3.11).
    """

    __slots__ = (
        "args",
        "detail",
        "fn",
        "group",
        "halt_reason",
        "heartbeat",
        "last_action",
        "last_attempt",
        "last_cause",
        "last_delay",
        "last_ended",
        "last_exit_code",
        "last_rule",
        "last_signal",
        "last_started",
        "last_state",
        "name",
        "phase",
        "policy",
        "restart_at",
        "restart_requested",
        "run_scope",
        "run_started",
        "runs",
        "scope",
        "state",
        "stop_requested",
        "waiter",
    )

    def __init__(
        self,
        name: str,
        fn: AsyncTask,
        args: tuple[Any, ...],
        policy: Policy,
        heartbeat: float | None,
        state: State,
    ) -> None:
        self.name = name
        self.fn = fn
        self.args = args
        self.policy = policy
        self.heartbeat = heartbeat
        self.state = state
        self.phase = Phase.PENDING
        # The last decision's fields (last_rule None: none yet), and its detail.
        self.last_rule: Rule | None = None
        self.last_action = Action.STOP
        self.last_delay = 0.0
        self.last_attempt = 0
        self.last_state = state  # the state it made (an operator's start replaces self.state only)
        self.last_started = self.last_ended = 0.0  # its outcome's fields
        self.last_exit_code: int | None = None
        self.last_signal: int | None = None
        self.last_cause = Cause.EXITED
        self.detail = ""
        self.runs = 0  # runs started since it was added: the run ids of its events
        self.run_started = 0.0  # the current (or last) run's start, on the supervisor's clock
        self.restart_at = 0.0  # while backing off: when the next run starts, on the same clock
        # The lever its runs are in (None outside the block: not started yet, or down), and the
        # current run's own scope, with the health deadline (None without a heartbeat).
        self.scope: _loop.Lever | None = None
        self.run_scope: anyio.CancelScope | None = None
        self.stop_requested = False
        self.restart_requested = False  # an operator's (or a group's) restart: start again after the stop
        self.halt_reason: str | None = None  # a give-up asked from outside (a group's): the reason kept
        self.group: _Group | None = None
        self.waiter: anyio.Event | None = None  # an operator waiting for the runner to settle a request

    def remember(self, decision: Decision, outcome: Outcome) -> None:
        """Keep ``decision`` (made on ``outcome``) as the last one, field by field."""
        self.state = self.last_state = decision.state
        self.last_action = decision.action
        self.last_delay = decision.delay
        self.last_attempt = decision.attempt
        self.last_rule = decision.rule
        self.last_started = outcome.started_at
        self.last_ended = outcome.ended_at
        self.last_exit_code = outcome.exit_code
        self.last_signal = outcome.signal
        self.last_cause = outcome.cause

    def last_decision(self) -> Decision | None:
        """The last decision, equal to the kernel's (None before the first one)."""
        if self.last_rule is None:
            return None
        # Both are rebuilt from the fields of values the kernel made: they skip its checks.
        outcome = make_outcome(
            self.last_started, self.last_ended, self.last_exit_code, self.last_signal, self.last_cause
        )
        return make_decision(
            self.last_action,
            self.last_delay,
            self.last_attempt,
            self.last_state,
            self.last_rule,
            outcome,
            self.policy,
        )


def _enter(t: _Task, phase: Phase) -> None:
    """Every phase change goes through here (``phase.py`` holds the allowed edges)."""
    if t.phase is not phase:
        check_transition(t.name, t.phase, phase)
        t.phase = phase


_running: contextvars.ContextVar[_Task | None] = contextvars.ContextVar("relaunch.aio.task", default=None)


def heartbeat() -> None:
    """Say that the calling supervised task is alive: its health deadline moves on by its ``heartbeat``.

    A run that goes ``heartbeat`` seconds without calling this is cancelled and its end is
    ``Cause.UNHEALTHY``. The task is found through a context variable, so tasks it spawns with
    the context copied (asyncio's and anyio's default) count too. Outside a supervised task, or
    in one added without a heartbeat, it does nothing, as systemd's ``sd_notify`` does without a
    watchdog: the same code can run supervised or not.
    """
    t = _running.get()
    if t is not None:
        scope = t.run_scope
        if scope is not None and t.heartbeat is not None:
            scope.deadline = anyio.current_time() + t.heartbeat


class AsyncSupervisor:
    """Supervises coroutine functions under kernel policies, inside one event loop (asyncio or Trio).

    ``async with AsyncSupervisor() as sup:`` is an anyio task group: every supervised task is one
    task of it, so none outlives the block. The block's end waits, as a task group's does, until
    every task is down (stopped, given up, or ended under a policy that does not restart it);
    cancelling :attr:`cancel_scope` (or any scope around the block) stops them all
    (``Cause.STOPPED``) and closes it. ``clock`` is the time axis outcomes are measured on
    (monotonic seconds); by default the loop's own clock, so a virtual loop clock (Trio's
    ``MockClock``) drives both the delays and the policy. Call every method from the loop's thread.
    """

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        if clock is not None and not callable(clock):
            raise TypeError(f"clock: must be a callable returning seconds, got {clock!r}")
        self._clock = clock
        self._tasks: dict[str, _Task] = {}
        self._broadcast = Broadcast()
        self._group: anyio.abc.TaskGroup | None = None
        self._closed = False
        self._now: Callable[[], float] = time.monotonic  # replaced when the loop is known
        self._sleep: Callable[[float], Awaitable[None]] = anyio.sleep
        self._cancelled: type[BaseException] = BaseException
        self._lever: Callable[[], _loop.Lever] = anyio.CancelScope
        self._body_done = anyio.Event()
        self._spawn_runner: _loop.Spawn | None = None

    # -- the block ----------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncSupervisor:
        if self._group is not None or self._closed:
            raise SupervisorError("AsyncSupervisor: a supervisor is entered once")
        native = _loop.current()
        self._now = self._clock or native.now
        self._sleep = native.sleep
        self._cancelled = native.cancelled
        self._lever = native.lever
        group = anyio.create_task_group()
        await group.__aenter__()
        try:
            await group.start(self._keep, native)
        except BaseException as error:
            await group.__aexit__(type(error), error, error.__traceback__)
            raise
        self._group = group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._group is not None, "__aexit__ without __aenter__"
        if exc_type is None:
            self._body_done.set()  # the block ended by itself: wait for the tasks, as a nursery does
        try:
            return await self._group.__aexit__(exc_type, exc, tb)
        finally:
            for t in self._tasks.values():
                if t.phase is _STARTING:  # cancelled before its runner's first step: never ran
                    self._decide_stop(t)
            self._closed = True
            self._broadcast.close()

    async def _keep(self, native: _loop.LoopNative, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """The one anyio task that holds the loop's own nursery of runners (``_loop.py`` says why).

        It is cancelled with the block (and cancels every runner), ends when the block has
        ended and every runner with it, and raises whatever a runner raised.
        """
        async with native.open_nursery() as spawn:
            self._spawn_runner = spawn
            task_status.started()
            await self._body_done.wait()

    @property
    def cancel_scope(self) -> anyio.CancelScope:
        """The scope of the block and of every task: ``cancel()`` stops them all and closes the block."""
        self._open()
        assert self._group is not None
        return self._group.cancel_scope

    # -- the public API -----------------------------------------------------------------------

    async def add(
        self,
        name: str,
        policy: Policy,
        *,
        task: AsyncTask,
        args: Sequence[Any] = (),
        heartbeat: float | None = None,
    ) -> None:
        """Supervise ``task(*args)`` as ``name`` under ``policy``, starting it now.

        ``heartbeat``: seconds a run may go without calling :func:`heartbeat` before it is
        cancelled as unhealthy (None: no health deadline).
        """
        spawn = self._open()
        if not isinstance(name, str) or not name:
            raise ValueError(f"name: must be a non-empty string, got {name!r}")
        if name in self._tasks:
            raise SupervisorError(f"task {name!r} is already supervised")
        if not isinstance(policy, Policy):
            raise TypeError(f"policy: must be a relaunch Policy, got {policy!r}")
        if not callable(task):
            raise TypeError(f"task: must be an async function, got {task!r}")
        if isinstance(args, str) or not isinstance(args, Sequence):
            raise TypeError(f"args: must be a tuple of arguments, got {args!r}")
        if heartbeat is not None and (
            isinstance(heartbeat, bool)
            or not isinstance(heartbeat, int | float)
            or not (math.isfinite(heartbeat) and heartbeat > 0)
        ):
            raise ValueError(f"heartbeat: must be None or a finite number of seconds > 0, got {heartbeat!r}")
        state = policy.start(at=self._now(), seed=seed_for(name))
        t = _Task(name, task, tuple(args), policy, None if heartbeat is None else float(heartbeat), state)
        self._tasks[name] = t
        self._spawn(spawn, t)

    def add_group(self, group: Group) -> None:
        """Supervise the added tasks ``group.members`` together under ``group``'s rule.

        After each member's own decision, ``Group.decide`` says which other members restart with
        it (``one_for_all``, ``rest_for_one``) or give up, and its shared budget bounds the
        group's restarts. Like an OTP supervisor's restart history, the group's state is in memory.
        """
        self._open()
        if not isinstance(group, Group):
            raise TypeError(f"group: must be a relaunch Group, got {group!r}")
        missing = [m for m in group.members if m not in self._tasks]
        if missing:
            raise SupervisorError(
                f"group {group.name}: {', '.join(missing)} not supervised (add every member first)"
            )
        taken = [m for m in group.members if self._tasks[m].group is not None]
        if taken:
            raise SupervisorError(f"group {group.name}: {', '.join(taken)} already in a group")
        shared = _Group(group, group.start(at=self._now()))
        for member in group.members:
            self._tasks[member].group = shared

    def status(self, name: str) -> Status:
        """Phase, restart counts, last outcome and reason of ``name`` (the thread core's ``Status``).

        ``durable`` is always False (a task's state is in memory) and ``health`` None.
        """
        return self._status(self._get(name), self._now(), time.time())

    def statuses(self) -> list[Status]:
        """The status of every task, in the order they were added."""
        now, wall = self._now(), time.time()
        return [self._status(t, now, wall) for t in self._tasks.values()]

    def events(self, buffer: int = DEFAULT_BUFFER) -> EventStream:
        """Every decision from now on, as ``DecisionEvent`` values (``async for``).

        A consumer that falls more than ``buffer`` events behind loses the oldest
        (``EventStream.dropped`` counts them): supervision never waits for it. The stream ends when
        the supervisor closes.
        """
        return self._broadcast.subscribe(buffer)

    async def stop(self, name: str) -> None:
        """Stop ``name`` on purpose (an operator stop: ``Cause.STOPPED``, never restarted) and wait
        until it is down."""
        t = self._get(name)
        self._halt(t, None)
        await self._settled(t)

    async def start(self, name: str) -> None:
        """Start ``name`` again after a stop or a give-up, with a fresh state (``Policy.start``).
        Does nothing to a task that is running, starting or backing off."""
        t = self._get(name)
        if t.phase in _DOWN:
            self._operator_start(t)

    async def restart(self, name: str) -> None:
        """Restart ``name``, keeping its budget: a run is stopped (not a failure: nothing is
        spent) and started again; a task backing off starts now; one that is down starts as
        :meth:`start` starts it. Returns once the stop is done."""
        t = self._get(name)
        if self._restart(t):
            await self._settled(t)

    # -- the runner: one per task -------------------------------------------------------------

    async def _supervise(self, t: _Task) -> None:
        """The one long-lived task of ``t``: its runs and delays, until it is down.

        The outer loop makes one pass per start: the runs inside ``t``'s lever, then what the
        operator (or a group) asked for when it pulled the lever. The inner loop is the path
        every restart takes: await the coroutine, build the ``Outcome``, decide, sleep. It is one
        coroutine rather than two: a frame less per task (about 300 bytes) and per resumption.
        """
        # This runner's own context (its runs see it, no other task does). Set only when it counts:
        # a context variable set is two more objects per task. A runner spawned from another's
        # context (a group's restart) must not see that one.
        if t.heartbeat is not None or _running.get() is not None:
            _running.set(t)
        now, sleep, fn, args, deadline = self._now, self._sleep, t.fn, t.args, t.heartbeat
        try:
            while True:
                if not t.stop_requested:  # a stop that came before this start: none is made
                    with self._lever() as lever:
                        t.scope = lever
                        while True:
                            _enter(t, _RUNNING)
                            t.runs += 1
                            t.run_started = started = now()
                            try:
                                if deadline is None:
                                    await fn(*args)
                                else:
                                    with anyio.CancelScope(deadline=anyio.current_time() + deadline) as run:
                                        t.run_scope = run
                                        await fn(*args)
                            except Exception as error:  # noqa: BLE001 - any exception is a failed run
                                t.detail = failure_detail(error)
                                code = EXIT_RAISED
                            else:
                                t.detail = ""
                                code = EXIT_RETURNED
                            delay = self._decide(t, self._ended(t, started, code), True)
                            if delay is None:
                                break
                            await sleep(delay)
                    t.scope = None
                if not t.restart_requested:
                    if t.phase not in _DOWN:
                        self._decide_stop(t)
                    return
                # A restart: the stop's end (if a run ended) is decided, then a start follows.
                if t.phase is _RUNNING:
                    self._decide_stop(t)
                t.restart_requested = t.stop_requested = False
                _enter(t, _STARTING)
                self._wake(t)
        except self._cancelled:
            # Cancelled from outside (the block's scope, or one around it): an operator stop.
            t.restart_requested = False
            if t.phase not in _DOWN:
                self._decide_stop(t)
            raise
        finally:
            t.scope = None
            self._wake(t)

    def _ended(self, t: _Task, started: float, code: int) -> Outcome:
        """How a run that was not cancelled by its lever ended, now (``t.detail`` is its detail).

        The loop's own clock gives finite floats that never go back, so the outcome of an exit is
        built without Outcome's checks (``make_outcome``); a clock passed in is checked.
        """
        ended = self._now()
        # Only its deadline cancels a run's own scope (a stop pulls the lever instead).
        if t.run_scope is not None and t.run_scope.cancel_called:
            t.run_scope = None
            t.detail = f"no heartbeat for {t.heartbeat:g}s"
            return Outcome(started, ended, cause=Cause.UNHEALTHY)
        if t.stop_requested:  # it caught its cancellation and ended by itself
            return Outcome(started, ended, cause=Cause.STOPPED)
        if self._clock is None:
            return make_outcome(started, ended, code, None, _EXITED)
        return Outcome(started, ended, exit_code=code)

    # -- decisions ----------------------------------------------------------------------------

    def _decide(self, t: _Task, outcome: Outcome, ran: bool) -> float | None:
        """Feed one end to ``t``'s policy, then to its group's rule; the delay before the next
        run, or None when it is down. ``t.detail`` is the end's detail; ``ran``: the end of a
        run (not of a pending restart)."""
        decision = t.policy.decide(t.state, outcome)
        t.remember(decision, outcome)
        restarts = decision.restarts
        if t.group is not None and not self._apply_group(t, t.group, decision):
            restarts = False  # the group's shared budget refused the restart its policy asked for
            t.detail = "; ".join(part for part in (t.detail, t.halt_reason) if part)
        if _logs_decisions(logging.INFO):
            log_decision(t.name, decision, t.detail)
        if self._broadcast.listening:
            run = str(t.runs) if ran else None
            self._broadcast.publish(DecisionEvent(t.name, run, outcome, decision, t.detail))
        if restarts:
            _enter(t, _BACKING_OFF)
            delay = t.last_delay
            t.restart_at = outcome.ended_at + delay
            return delay
        if t.restart_requested:
            _enter(t, _STOPPED)  # the restart's stop: a start follows at once
        elif t.halt_reason is not None or decision.action is Action.GIVE_UP:
            _enter(t, _GIVEN_UP)
        else:
            _enter(t, _STOPPED)
        return None

    def _decide_stop(self, t: _Task) -> None:
        """Decide on an operator's stop of ``t``: of its run, or of its pending restart."""
        now = self._now()
        ran = t.phase is _RUNNING
        outcome = Outcome(t.run_started if ran else now, now, cause=Cause.STOPPED)
        t.detail = t.halt_reason or ""
        self._decide(t, outcome, ran)

    def _apply_group(self, t: _Task, group: _Group, decision: Decision) -> bool:
        """Carry out the group rule after ``t``'s own decision; False if it gives ``t`` itself up."""
        verdict = group.rule.decide(group.state, t.name, decision.action, decision.outcome.ended_at)
        group.state = verdict.state
        if verdict.restart or verdict.give_up:
            logger.info("group %s: %s", group.rule.name, verdict.reason, extra={"workload": t.name})
        kept = True
        for name in verdict.give_up:
            if name == t.name:
                t.halt_reason = verdict.reason
                kept = False
            else:
                self._halt(self._tasks[name], verdict.reason)
        for name in verdict.restart:
            self._restart(self._tasks[name])
        return kept

    # -- operator actions (and a group's) -----------------------------------------------------

    def _spawn(self, spawn: _loop.Spawn, t: _Task) -> None:
        _enter(t, _STARTING)
        spawn(self._supervise, t)

    def _operator_start(self, t: _Task) -> None:
        """The operator's manual start: a fresh state (``Policy.start``) and a start now."""
        t.state = t.policy.start(at=self._now(), seed=seed_for(t.name))
        t.stop_requested = t.restart_requested = False
        t.halt_reason = None
        self._spawn(self._open(), t)

    def _halt(self, t: _Task, give_up: str | None) -> None:
        """Stop ``t`` (``give_up``: and leave it given up with that reason, a group's)."""
        if t.phase in _DOWN:
            return
        t.stop_requested = True
        t.restart_requested = False
        t.halt_reason = give_up
        if t.scope is not None:  # else its runner has not started: it sees the request first
            t.scope.cancel()

    def _restart(self, t: _Task) -> bool:
        """Ask for a restart of ``t``; True if a stop is under way (its runner settles it)."""
        if t.phase in _DOWN:
            self._operator_start(t)
            return False
        if t.phase is _STARTING:
            return False  # about to start anyway
        t.stop_requested = t.restart_requested = True
        t.halt_reason = None
        if t.scope is not None:
            t.scope.cancel()
        return True

    async def _settled(self, t: _Task) -> None:
        """Wait until ``t``'s runner has carried out the stop or restart asked of it."""
        if t.stop_requested and t.phase not in _DOWN:
            if t.waiter is None:
                t.waiter = anyio.Event()
            await t.waiter.wait()

    @staticmethod
    def _wake(t: _Task) -> None:
        if t.waiter is not None:
            t.waiter.set()
            t.waiter = None

    # -- helpers ------------------------------------------------------------------------------

    def _open(self) -> _loop.Spawn:
        if self._spawn_runner is None or self._closed:
            raise SupervisorError(
                "AsyncSupervisor: not open (use it as `async with AsyncSupervisor() as sup:`)"
            )
        return self._spawn_runner

    def _get(self, name: str) -> _Task:
        try:
            return self._tasks[name]
        except KeyError:
            raise SupervisorError(f"unknown task {name!r}") from None

    def _status(self, t: _Task, now: float, wall: float) -> Status:
        decision = t.last_decision()
        if decision is None:
            reason = None
        elif t.phase is _GIVEN_UP and t.halt_reason is not None:
            reason = t.halt_reason
        else:
            reason = decision.reason + (f" ({t.detail})" if t.detail else "")
        return Status(
            name=t.name,
            phase=t.phase,
            restart_at=wall + (t.restart_at - now) if t.phase is _BACKING_OFF else None,
            restarts=t.state.restarts,
            attempt=t.state.attempt,
            last_outcome=None if decision is None else decision.outcome,
            reason=reason,
            rule=None if decision is None else decision.rule,
            durable=False,
            running_since=wall - (now - t.run_started) if t.phase is _RUNNING else None,
            budget_left=t.policy.remaining(t.state, now),
        )
