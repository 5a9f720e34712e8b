"""The fleet tests' fixture: the ``relaunch run`` processes a test made, and what they left."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.fleetkit import RunningFleet


@pytest.fixture
def fleets(tmp_path: Path) -> Iterator[list[RunningFleet]]:
    made: list[RunningFleet] = []
    yield made
    for fleet in made:
        fleet.terminate()
    # Whatever a failed test left running is killed, so one test cannot leak into the next.
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                env = Path(f"/proc/{entry}/environ").read_bytes()
            except OSError:
                continue
            if f"FLEET_TEST_DIR={tmp_path}".encode() in env.split(b"\0"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry), signal.SIGKILL)
