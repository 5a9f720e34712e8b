"""Delivery of decision events to the user's hook: in decision order, never under the core's lock.

The core queues an event (:meth:`Outbox.put`) with its lock held, when it decides; whichever
thread then lets go of the lock calls :meth:`Outbox.flush`, which calls the hook with no lock of
the core held, so a hook may call back into the supervisor or into a runtime that takes its own
lock. One thread delivers at a time, which keeps decision order; another thread that finds it
busy does not wait for it (a hook that waits on a thread that decides would deadlock): the
deliverer looks at the queue again after letting go, so no event is left behind.

Locks: ``self._queue_lock`` guards the queue and is never held while calling the hook;
``self._delivering`` is held by the one deliverer while it calls the hook (re-entrant, so a hook
that decides delivers its own event in order).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["Outbox"]

logger = logging.getLogger("relaunch.supervisor")


class _Named(Protocol):
    @property
    def name(self) -> str: ...


E = TypeVar("E", bound=_Named)


class Outbox(Generic[E]):
    """Queued events for one hook (see the module docstring)."""

    def __init__(self, hook: Callable[[E], None]) -> None:
        self._hook = hook
        self._queue: deque[E] = deque()
        self._queue_lock = threading.Lock()
        self._delivering = threading.RLock()

    def put(self, event: E) -> None:
        with self._queue_lock:
            self._queue.append(event)

    def flush(self) -> None:
        if not self._queue:
            # Every put is followed by its putter's flush, so an empty queue has nothing for
            # this caller: the core calls flush after every report, most of which decide nothing.
            return
        while True:
            if not self._delivering.acquire(blocking=False):
                return
            try:
                self._deliver()
            finally:
                self._delivering.release()
            with self._queue_lock:
                if not self._queue:
                    return

    def _deliver(self) -> None:
        while True:
            with self._queue_lock:
                if not self._queue:
                    return
                event = self._queue.popleft()
            try:
                self._hook(event)
            except Exception:  # a user hook must not kill a supervisor thread; logged with traceback
                logger.exception("%s: decision hook failed", event.name, extra={"workload": event.name})
