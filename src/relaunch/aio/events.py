"""Decision events for ``async for``: one bounded buffer per listener, filled without ever waiting.

A supervisor publishes each :class:`~relaunch.adapters.supervisor.DecisionEvent` to every open
:class:`EventStream` (:meth:`Broadcast.publish`, called on the event loop's thread). Supervision
must never wait for a listener, so a stream that its consumer does not keep up with drops its
*oldest* events: the newest say where each task is now, and :attr:`EventStream.dropped` counts
what was lost. With no stream open, nothing is built or kept: the supervisor asks
:attr:`Broadcast.listening` before it makes an event at all.

A stream is held weakly: one its consumer has let go of (an ``async for`` left with ``break``)
stops receiving at once, with no call to close it. A stream ends (``StopAsyncIteration``) once
its supervisor has closed and every event it buffered has been read.
"""

from __future__ import annotations

import weakref
from collections import deque

import anyio

from relaunch.adapters.supervisor import DecisionEvent

__all__ = ["DEFAULT_BUFFER", "Broadcast", "EventStream"]

#: Events a stream keeps for a consumer that has fallen behind, by default.
DEFAULT_BUFFER = 1024


class EventStream:
    """Decision events in decision order, as an async iterator (see the module docstring)."""

    __slots__ = ("__weakref__", "_closed", "_queue", "_wake", "dropped")

    def __init__(self, buffer: int) -> None:
        if isinstance(buffer, bool) or not isinstance(buffer, int) or buffer < 1:
            raise ValueError(f"buffer: must be an integer >= 1, got {buffer!r}")
        self._queue: deque[DecisionEvent] = deque(maxlen=buffer)
        self._wake: anyio.Event | None = None
        self._closed = False
        #: Events dropped because the buffer was full (the oldest go first).
        self.dropped = 0

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> DecisionEvent:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._wake = anyio.Event()
            await self._wake.wait()
        return self._queue.popleft()

    def _put(self, event: DecisionEvent) -> None:
        queue = self._queue
        if len(queue) == queue.maxlen:
            self.dropped += 1  # the deque drops the oldest itself
        queue.append(event)
        self._notify()

    def _close(self) -> None:
        self._closed = True
        self._notify()

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()
            self._wake = None


class Broadcast:
    """The open streams of one supervisor. Every method runs on the event loop's thread."""

    __slots__ = ("_closed", "_streams", "listening")

    def __init__(self) -> None:
        # Weak references that remove themselves; a plain set, so the check on every decision is
        # a C-level truth test (a WeakSet's len() is Python code).
        self._streams: set[weakref.ref[EventStream]] = set()
        self._closed = False
        #: Whether any stream is open: if not, there is no event to make.
        self.listening = False

    def subscribe(self, buffer: int = DEFAULT_BUFFER) -> EventStream:
        stream = EventStream(buffer)
        if self._closed:
            stream._close()
        else:
            self._streams.add(weakref.ref(stream, self._forget))
            self.listening = True
        return stream

    def publish(self, event: DecisionEvent) -> None:
        for ref in list(self._streams):
            stream = ref()
            if stream is not None:
                stream._put(event)

    def close(self) -> None:
        self._closed = True
        for ref in list(self._streams):
            stream = ref()
            if stream is not None:
                stream._close()
        self._streams.clear()
        self.listening = False

    def _forget(self, ref: weakref.ref[EventStream]) -> None:
        self._streams.discard(ref)
        self.listening = bool(self._streams)
