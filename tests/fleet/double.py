"""An in-memory fleet for the control-plane and metrics tests.

It implements ``relaunch.fleet.api.FleetControl`` over plain rows, so that the socket, the
commands and the metrics are tested on their own; the daemon's tests run real processes.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from relaunch.fleet.api import STATUS_KEYS, FleetError


def row(name: str, **fields: Any) -> dict[str, Any]:
    """A status row for ``name``: a running exec workload, with ``fields`` changed."""
    base: dict[str, Any] = {
        "name": name,
        "kind": "exec",
        "group": None,
        "phase": "running",
        "pid": 1000,
        "container": None,
        "started_at": 1_700_000_000.0,
        "uptime": 75.0,
        "restarts": 0,
        "attempt": 0,
        "budget_left": 5.0,
        "restart_at": None,
        "reason": None,
        "rule": None,
        "health": None,
    }
    assert set(fields) <= set(STATUS_KEYS), fields
    return {**base, **fields}


class MemoryFleet:
    """Rows in memory; every call is recorded in ``calls``; ``logs`` maps (name, stream) to a path."""

    def __init__(self, rows: list[dict[str, Any]], logs: dict[tuple[str, str], Path] | None = None) -> None:
        self.rows = rows
        self.logs = logs or {}
        self.calls: list[tuple[str, ...]] = []
        self.reload_result: dict[str, list[str]] | FleetError = {
            "added": [],
            "removed": [],
            "restarted": [],
            "unchanged": [r["name"] for r in rows],
        }
        self._lock = threading.Lock()

    def _known(self, name: str) -> dict[str, Any]:
        for r in self.rows:
            if r["name"] == name:
                return r
        raise FleetError(f"no workload named {name!r}")

    def status(self) -> list[dict[str, Any]]:
        with self._lock:
            self.calls.append(("status",))
            return [dict(r) for r in self.rows]

    def start(self, name: str) -> None:
        with self._lock:
            self._known(name)["phase"] = "starting"
            self.calls.append(("start", name))

    def stop(self, name: str) -> None:
        with self._lock:
            self._known(name)["phase"] = "stopped"
            self.calls.append(("stop", name))

    def restart(self, name: str) -> None:
        with self._lock:
            self._known(name)["phase"] = "starting"
            self.calls.append(("restart", name))

    def reload(self) -> dict[str, list[str]]:
        with self._lock:
            self.calls.append(("reload",))
            if isinstance(self.reload_result, FleetError):
                raise self.reload_result
            return self.reload_result

    def log_path(self, name: str, stream: str) -> Path:
        with self._lock:
            self._known(name)
            self.calls.append(("log_path", name, stream))
            try:
                return self.logs[name, stream]
            except KeyError:
                raise FleetError(f"{name}: no {stream} log (its output is inherited)") from None
