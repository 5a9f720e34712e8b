"""The few loop-native operations the task path needs, resolved once per supervisor.

anyio is how ``relaunch.aio`` runs under asyncio and Trio alike: its task group, cancel scopes and
worker threads carry the structural guarantees. Three things on the path of every task and every
restart are cheaper native, and this module picks them once, when a supervisor opens:

- **Spawning.** anyio (4.14 and later) gives each task it spawns a ``TaskHandle`` with a cancel
  scope and two events of its own: about 20 more objects per task for the garbage collector to
  walk. With 10,000 supervised tasks the collector's full passes then took 30 % of the loop's
  time, and restarts/s fell to 0.37x a hand-written loop (0.48x spawned natively; measured on
  CPython 3.11, 10,000 tasks failing every 10 ms). So supervised tasks are spawned into the
  loop's own nursery, opened by one anyio task: ``asyncio.TaskGroup`` or a Trio nursery, each
  as strict as anyio's (cancelled with its host, waited for, never losing an error).
- **The clock and sleep.** ``anyio.current_time`` and ``anyio.sleep`` look the running library
  up on every call; the loop's own do the same work without it. anyio's cancel scopes cancel a
  native await as they cancel their own (on asyncio a scope cancels its host task).
- **A task's stop lever.** Each supervised task's runs are inside one cancellable block, the lever
  of operator stops and restarts. On asyncio it is the task itself (:class:`_TaskLever`):
  ``Task.cancel`` and ``Task.uncancel``, counted as anyio's own asyncio cancel scopes count them,
  and 20 rather than 25 objects per task; restarts/s went from 0.48x to 0.55x the hand-written
  loop. On Trio it is an anyio cancel scope, itself a thin Trio one.
- **Calls from other threads** that must not wait for the loop (``call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

import anyio

#: Starts ``fn(*args)`` as a task of a native nursery.
Spawn = Callable[..., None]

__all__ = ["LoopNative", "current"]


class Lever(Protocol):
    """A block that another task can cancel: what ``with`` gives, and what ``cancel`` interrupts."""

    def __enter__(self) -> Lever: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None: ...

    def cancel(self) -> None:
        """Cancel the block: its current await raises, and the block swallows that cancellation
        (and only that one: a cancellation from outside goes through)."""
        ...


class _TaskLever:
    """The running asyncio task as a lever (see the module docstring): entered by that task only.

    asyncio counts cancellation requests per task (``Task.cancelling``); a cancellation that
    ``uncancel`` brings back to the count at entry was ours alone and is swallowed, as anyio's
    and ``asyncio.timeout``'s scopes do. A task cannot cancel itself safely while it runs (3.11
    cannot withdraw a cancellation that was not delivered), so a task that pulls its own lever is
    cancelled from the loop once it next waits, if it is still in the block.
    """

    __slots__ = ("_active", "_requested", "_task")

    def __init__(self) -> None:
        task = asyncio.current_task()
        assert task is not None, "a lever is made inside a task"
        self._task = task
        self._active = False
        self._requested = False

    def __enter__(self) -> _TaskLever:
        self._active = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        self._active = False
        if not self._requested:
            return False
        self._requested = False
        if exc_type is None or not issubclass(exc_type, asyncio.CancelledError):
            return False  # ended before the cancellation reached it: none is pending (see cancel)
        # Ours alone if no other request remains; else one from outside goes on.
        return self._task.uncancel() == 0

    def cancel(self) -> None:
        if self._requested or not self._active:
            return
        self._requested = True
        if self._task is asyncio.current_task():
            self._task.get_loop().call_soon(self._deliver)
        else:
            self._task.cancel()

    def _deliver(self) -> None:
        if self._requested and self._active:
            self._task.cancel()
        else:
            self._requested = False


@dataclass(frozen=True, slots=True)
class LoopNative:
    """The running event loop's own operations."""

    #: The loop's clock (monotonic seconds): what delays and cancel-scope deadlines are timed on.
    now: Callable[[], float]
    #: The loop's sleep; ``sleep(0)`` yields to other tasks.
    sleep: Callable[[float], Awaitable[None]]
    #: Schedules a call on the loop from any thread and returns at once (never waits for the loop).
    call_soon_threadsafe: Callable[[Callable[[], None]], object]
    #: The exception a cancellation raises in a task.
    cancelled: type[BaseException]
    #: Opens the loop's own nursery (see the module docstring) and gives its spawn function.
    open_nursery: Callable[[], contextlib.AbstractAsyncContextManager[Spawn]]
    #: Makes a lever for the running task (see the module docstring).
    lever: Callable[[], Lever]


@contextlib.asynccontextmanager
async def _asyncio_nursery() -> AsyncIterator[Spawn]:
    async with asyncio.TaskGroup() as group:

        def spawn(fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
            group.create_task(fn(*args))

        yield spawn


@contextlib.asynccontextmanager
async def _trio_nursery() -> AsyncIterator[Spawn]:
    import trio

    async with trio.open_nursery() as nursery:
        yield nursery.start_soon


def current() -> LoopNative:
    """The running loop's operations: asyncio's, or else Trio's (anyio runs on no third one)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        import trio

        token = trio.lowlevel.current_trio_token()
        return LoopNative(
            trio.current_time,
            trio.sleep,
            token.run_sync_soon,
            trio.Cancelled,
            _trio_nursery,
            anyio.CancelScope,
        )
    return LoopNative(
        loop.time,
        asyncio.sleep,
        loop.call_soon_threadsafe,
        asyncio.CancelledError,
        _asyncio_nursery,
        _TaskLever,
    )
