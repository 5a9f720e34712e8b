"""Every relaunch.aio test runs on real event loops: asyncio and Trio, through anyio's pytest plugin."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds (checked every few milliseconds); fail after ``timeout``."""
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.005)
