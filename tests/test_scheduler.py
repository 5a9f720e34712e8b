"""The scheduler's start workers (``relaunch/adapters/scheduler.py``): calls run in the order
submitted, except that a due start's ``fire`` and a workload's first start go before every queued
restart, so that a fleet being brought up is not held back by the crash loops of its first members."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from relaunch.adapters.clock import SystemClock
from relaunch.adapters.scheduler import Scheduler


@pytest.fixture
def one_worker() -> Iterator[Scheduler]:
    scheduler = Scheduler(SystemClock(), lambda name, token: None, workers=1)
    yield scheduler
    scheduler.close(time.monotonic() + 2)


def _queue_behind_a_busy_worker(
    scheduler: Scheduler, submit: Callable[[Scheduler, list[str]], None], ran: list[str] | None = None
) -> list[str]:
    """Hold the only worker in a call, submit five calls meanwhile, then let it go; the order run."""
    busy, release = threading.Event(), threading.Event()
    ran = [] if ran is None else ran

    def hold() -> None:
        busy.set()
        release.wait(5)

    scheduler.submit(hold)
    assert busy.wait(5)
    submit(scheduler, ran)
    release.set()
    deadline = time.monotonic() + 5
    while len(ran) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    return ran


def test_restarts_run_in_the_order_submitted(one_worker: Scheduler) -> None:
    def submit(scheduler: Scheduler, ran: list[str]) -> None:
        for name in ("a", "b", "c", "d", "e"):
            scheduler.submit(lambda name=name: ran.append(name))

    assert _queue_behind_a_busy_worker(one_worker, submit) == ["a", "b", "c", "d", "e"]


def test_first_starts_go_before_queued_restarts_and_keep_their_own_order(one_worker: Scheduler) -> None:
    def submit(scheduler: Scheduler, ran: list[str]) -> None:
        scheduler.submit(lambda: ran.append("restart-1"))
        scheduler.submit(lambda: ran.append("first-1"), first=True)
        scheduler.submit(lambda: ran.append("restart-2"))
        scheduler.submit(lambda: ran.append("first-2"), first=True)
        scheduler.submit(lambda: ran.append("restart-3"))

    assert _queue_behind_a_busy_worker(one_worker, submit) == [
        "first-1",
        "first-2",
        "restart-1",
        "restart-2",
        "restart-3",
    ]


def test_a_due_start_is_fired_before_queued_restarts() -> None:
    """The core's ``fire`` only records a start and submits its launch: it never waits behind
    the launches of other workloads' restarts."""
    ran: list[str] = []
    scheduler = Scheduler(SystemClock(), lambda name, token: ran.append(f"fire {name}"), workers=1)

    def submit(s: Scheduler, ran: list[str]) -> None:
        for n in (1, 2, 3, 4):
            s.submit(lambda n=n: ran.append(f"restart-{n}"))
        s.schedule("w", 7, 0.0)
        deadline = time.monotonic() + 5
        while s._due.qsize() < 5 and time.monotonic() < deadline:
            time.sleep(0.005)  # until the timer thread has handed the due entry to the queue

    try:
        assert _queue_behind_a_busy_worker(scheduler, submit, ran) == [
            "fire w",
            "restart-1",
            "restart-2",
            "restart-3",
            "restart-4",
        ]
    finally:
        scheduler.close(time.monotonic() + 2)
