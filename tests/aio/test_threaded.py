"""ThreadedSupervisor: the thread core with the real process runtime, driven from an event loop."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from relaunch import Action, Cause, Policy
from relaunch.adapters.phase import Phase
from relaunch.adapters.process import ProcessRuntime, ProcessSpec
from relaunch.aio import ThreadedSupervisor

from .conftest import until

pytestmark = pytest.mark.anyio

#: How long the runtime's stop takes in these tests: far longer than the ticker's period.
SLOW_STOP_S = 0.3


class SlowStopRuntime(ProcessRuntime):
    """The real process runtime, whose stop takes ``SLOW_STOP_S`` more, as a container's stop does."""

    def stop(self, name: str) -> None:
        time.sleep(SLOW_STOP_S)
        super().stop(name)


async def test_a_process_is_supervised_without_blocking_the_loop(tmp_path: Path) -> None:
    """add, status and a slow stop of a real process; the loop keeps ticking meanwhile."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        async with ThreadedSupervisor(SlowStopRuntime(stop_grace=1.0), str(tmp_path / "state.db")) as sup:
            events = sup.events()
            await sup.add("sleeper", ProcessSpec(["sleep", "30"]), Policy())
            await until(lambda: sup.status("sleeper").phase is Phase.RUNNING)
            assert sup.status("sleeper").running_since is not None
            before = ticks
            began = time.monotonic()
            await sup.stop("sleeper")
            took = time.monotonic() - began
            during = ticks - before
            await until(lambda: sup.status("sleeper").phase is Phase.STOPPED)
            event = await anext(events)
        tg.cancel_scope.cancel()
    assert took >= SLOW_STOP_S
    assert during >= 10  # a blocked loop would not have ticked at all
    assert event.name == "sleeper"
    assert event.outcome.cause is Cause.STOPPED
    assert event.decision.action is Action.STOP
