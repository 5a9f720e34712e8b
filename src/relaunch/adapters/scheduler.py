"""Delayed, cancellable starts: one timer heap on the injectable clock, and a few start workers.

The core schedules ``(name, token)`` after a delay; when it is due, a start worker calls the
core's ``fire(name, token)``, which ignores a token that is no longer the workload's (cancelled
by an operator stop, a removal, or a newer schedule): cancelling costs nothing here, and a stale
entry leaves the heap when it comes due. Due starts run on a few threads so that one slow start
(0.1-0.35 s on a busy Docker engine, measured: ``benchmarks/FINDINGS.md``) does not hold back
every other workload's. A due entry's ``fire`` (which only records the start and submits its
launch) and a workload's first start (``submit(..., first=True)``) go before every queued
restart: when a fleet is brought up on a busy machine, the first members' crash loops would
otherwise hold back the start of the last (1000 workloads of 0.5 s: all running after 3.5-4.4 s
in arrival order, 1.9-2.3 s first starts first, measured with ``benchmarks/fleet.py``).

The process runtime's probes (``probes.py``) run on a second instance: one timer for every probe
of every workload, with its own few workers, so a slow probe never delays a start.

Threads and locks: the timer thread (``relaunch-scheduler``) waits on ``self._cond`` through the
clock (so ``ManualClock.advance`` wakes it) and hands due entries to the start workers
(``relaunch-start-N``) through a queue. ``self._cond`` is taken after the core's lock (the core
schedules with its lock held) and nothing is taken while holding it.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable

from relaunch.adapters.clock import Clock

__all__ = ["Scheduler"]


class Scheduler:
    """The timer heap and the start workers of one supervisor (see the module docstring)."""

    def __init__(
        self,
        clock: Clock,
        fire: Callable[[str, int], None],
        *,
        workers: int,
        role: str = "start",
        timer_name: str = "relaunch-scheduler",
    ) -> None:
        if workers < 1:
            raise ValueError(f"{role}_workers: must be >= 1, got {workers!r}")
        self._clock = clock
        self._fire = fire
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, str, int]] = []  # (due, seq, name, token)
        self._seq = itertools.count()
        self._closed = False
        # (rank, seq, call): rank 0 before rank 1, then in the order submitted; None ends a worker.
        self._due: queue.PriorityQueue[tuple[int, int, Callable[[], None] | None]] = queue.PriorityQueue()
        self._workers = [
            threading.Thread(target=self._work, name=f"relaunch-{role}-{n}", daemon=True)
            for n in range(workers)
        ]
        self._timer = threading.Thread(target=self._run, name=timer_name, daemon=True)
        for thread in (*self._workers, self._timer):
            thread.start()

    def schedule(self, name: str, token: int, delay: float) -> None:
        """Call ``fire(name, token)`` on a worker once ``delay`` seconds have passed."""
        with self._cond:
            due = self._clock.monotonic() + delay
            heapq.heappush(self._heap, (due, next(self._seq), name, token))
            if self._heap[0][2] == name and self._heap[0][3] == token:
                self._cond.notify()  # a new earliest entry: the timer thread must wait less

    def submit(self, call: Callable[[], None], *, first: bool = False) -> None:
        """Run ``call`` on a start worker now, after whatever is queued before it; a ``first``
        call goes before every queued call that is not."""
        self._due.put((0 if first else 1, next(self._seq), call))

    def close(self, deadline: float) -> None:
        """Stop the timer; a start under way finishes, none begins after (by ``deadline``)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._timer.join(max(0.05, deadline - time.monotonic()))
        for worker in self._workers:
            worker.join(max(0.05, deadline - time.monotonic()))

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while True:
                        if self._closed:
                            return
                        now = self._clock.monotonic()
                        if self._heap and self._heap[0][0] <= now:
                            break
                        timeout = self._heap[0][0] - now if self._heap else None
                        self._clock.wait(self._cond, timeout)
                    due = []
                    while self._heap and self._heap[0][0] <= now:
                        _, _, name, token = heapq.heappop(self._heap)
                        due.append((name, token))
                for name, token in due:
                    # Rank 0: ``fire`` only records the start and submits its launch (which
                    # then waits its turn), so it never waits behind the launches of others.
                    self._due.put((0, next(self._seq), functools.partial(self._fire, name, token)))
        finally:
            for _ in self._workers:
                self._due.put((2, next(self._seq), None))

    def _work(self) -> None:
        while (call := self._due.get()[2]) is not None:
            call()
