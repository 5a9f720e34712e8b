"""The few loop-native operations the task path needs, resolved once per supervisor.

anyio is how ``relaunch.aio`` runs under asyncio and Trio alike: its task group, cancel scopes and
worker threads carry the structural guarantees. Three things on the path of every task and every
restart are cheaper native, and this module picks them once, when a supervisor opens:

- **Spawning.** anyio (4.14 and later) gives each task it spawns a ``TaskHandle`` with a cancel
  scope and two events of its own: about 20 more objects per task for the garbage collector to
  walk. With 10,000 supervised tasks the collector's full passes then took 30 % of the loop's
  time, and restarts/s fell to 0.37x a hand-written loop (0.52x spawned natively; measured on
  CPython 3.11). So supervised tasks are spawned into the loop's own nursery, opened by one anyio
  task: ``asyncio.TaskGroup`` or a Trio nursery, each as strict as anyio's (cancelled with its
  host, waited for, never losing an error).
- **The clock and sleep.** ``anyio.current_time`` and ``anyio.sleep`` look the running library
  up on every call; the loop's own do the same work without it. anyio's cancel scopes cancel a
  native await as they cancel their own (on asyncio a scope cancels its host task).
- **Calls from other threads** that must not wait for the loop (``call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

#: Starts ``fn(*args)`` as a task of a native nursery.
Spawn = Callable[..., None]

__all__ = ["LoopNative", "current"]


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
        return LoopNative(trio.current_time, trio.sleep, token.run_sync_soon, trio.Cancelled, _trio_nursery)
    return LoopNative(
        loop.time, asyncio.sleep, loop.call_soon_threadsafe, asyncio.CancelledError, _asyncio_nursery
    )
