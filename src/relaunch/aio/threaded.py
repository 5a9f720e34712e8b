"""The thread-based supervisor core (processes, Docker) driven from an event loop without blocking it.

A thin room over :class:`relaunch.adapters.supervisor.Supervisor`, which keeps every rule (the
store, phases, decisions, hooks) and its own threads: each call that may block (opening the
store, ``add``, an operator stop that waits for SIGTERM's effect or for the engine, ``close``)
runs in an anyio worker thread (``anyio.to_thread.run_sync``); ``status`` takes the core's lock
briefly, never held during I/O, and is called directly. Decisions reach :meth:`events` through
the core's decision hook, which runs on the core's threads and only schedules the event's
delivery on the loop (``call_soon_threadsafe``, or Trio's ``run_sync_soon``), so a core thread
never waits for the loop.

Threads: the caller's event loop; anyio's worker threads (one per blocking call under way); and
the core's own (its docstring has their table). This module takes no lock.
"""

from __future__ import annotations

import contextlib
import functools
from types import TracebackType
from typing import Any

import anyio
import anyio.to_thread

from relaunch.adapters.clock import Clock
from relaunch.adapters.runtime import Runtime, SupervisorError
from relaunch.adapters.store import Store
from relaunch.adapters.supervisor import DecisionEvent, Status, Supervisor
from relaunch.kernel import Policy

from . import _loop
from .events import DEFAULT_BUFFER, Broadcast, EventStream

__all__ = ["ThreadedSupervisor"]


class ThreadedSupervisor:
    """``async with ThreadedSupervisor(runtime, state_path) as sup:`` owns a thread-based
    ``Supervisor`` over ``runtime`` and ``state_path`` (the arguments are the core's) for the block.

    Its methods mean what the core's do; the ones that may block are awaited. Leaving the block
    closes the core (its workloads keep running, to be adopted by the next supervisor, as
    ``Supervisor.close`` leaves them), even when the block is cancelled.
    """

    def __init__(
        self,
        runtime: Runtime,
        state_path: str,
        *,
        clock: Clock | None = None,
        store: Store | None = None,
    ) -> None:
        self._make = functools.partial(
            Supervisor, runtime, state_path, clock=clock, on_decision=self._hook, store=store
        )
        self._core: Supervisor | None = None
        self._broadcast = Broadcast()
        self._call_soon: Any = None

    async def __aenter__(self) -> ThreadedSupervisor:
        if self._core is not None:
            raise SupervisorError("ThreadedSupervisor: a supervisor is entered once")
        self._call_soon = _loop.current().call_soon_threadsafe
        self._core = await anyio.to_thread.run_sync(self._make)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._broadcast.close()
        with anyio.CancelScope(shield=True):  # a cancelled block still releases the store
            await anyio.to_thread.run_sync(self.core.close)

    @property
    def core(self) -> Supervisor:
        """The thread-based supervisor itself (for what this wrapper does not repeat)."""
        if self._core is None:
            raise SupervisorError("ThreadedSupervisor: not open (use it as `async with ...`)")
        return self._core

    async def add(self, name: str, spec: Any, policy: Policy) -> None:
        await anyio.to_thread.run_sync(self.core.add, name, spec, policy)

    async def stop(self, name: str) -> None:
        await anyio.to_thread.run_sync(self.core.stop, name)

    async def start(self, name: str) -> None:
        await anyio.to_thread.run_sync(self.core.start, name)

    async def restart(self, name: str) -> None:
        await anyio.to_thread.run_sync(self.core.restart, name)

    async def remove(self, name: str, timeout: float = 30.0) -> None:
        await anyio.to_thread.run_sync(self.core.remove, name, timeout)

    def status(self, name: str) -> Status:
        return self.core.status(name)

    def statuses(self) -> list[Status]:
        return self.core.statuses()

    def events(self, buffer: int = DEFAULT_BUFFER) -> EventStream:
        """Every decision from now on (``async for``), bounded as :meth:`AsyncSupervisor.events` is."""
        return self._broadcast.subscribe(buffer)

    def _hook(self, event: DecisionEvent) -> None:
        # On a core thread: hand the event to the loop, never wait for it. Once the loop has
        # finished (RuntimeError), nobody is left to listen.
        with contextlib.suppress(RuntimeError):
            self._call_soon(functools.partial(self._broadcast.publish, event))
