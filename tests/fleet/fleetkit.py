"""A real ``relaunch run`` in a process of its own, for the fleet tests to drive, signal and kill.

It writes a fleet file, starts ``python -m relaunch run FILE``, and talks to it through the
control socket as ``relaunch ctl`` does. ``marked(name)`` counts the live processes that carry a
workload's mark (``RELAUNCH_WORKLOAD``) in their environment, as the process runtime finds its
runs, so a test can check that nothing runs twice and nothing is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from relaunch.fleet.wire import ControlError, request
from runtimes import wait_for


def toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a TOML basic string


def toml_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(toml_string(i) for i in items) + "]"


def exec_table(name: str, argv: list[str], **extra: str) -> str:
    lines = [f"[workload.{name}]", f"exec = {toml_list(argv)}"]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def marked(name: str, folder: Path) -> list[int]:
    """Pids of live processes marked as workload ``name`` of the fleet in ``folder``."""
    wanted = f"RELAUNCH_WORKLOAD={name}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            continue
        if wanted in env and f"FLEET_TEST_DIR={folder}".encode() in env:
            found.append(int(entry))
    return found


class RunningFleet:
    """One ``relaunch run`` of a fleet file in ``folder``."""

    def __init__(self, folder: Path, body: str, *, extra_args: list[str] | None = None) -> None:
        self.folder = folder
        self.file = folder / "relaunch.toml"
        self.file.write_text(body)
        self.socket = folder / "relaunch.db.sock"
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen[str] | None = None

    def env(self) -> dict[str, str]:
        return {**os.environ, "FLEET_TEST_DIR": str(self.folder), "PYTHONUNBUFFERED": "1"}

    def command(self) -> list[str]:
        return [sys.executable, "-m", "relaunch", "run", str(self.file), *self.extra_args]

    def start(self, *, ready: bool = True) -> RunningFleet:
        log = open(self.folder / "run.log", "a")  # noqa: SIM115 - kept open by the child
        self.proc = subprocess.Popen(
            self.command(),
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        log.close()
        if ready:
            wait_for(self._answers, 30, "relaunch run to answer on its control socket")
        return self

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"relaunch run exited {self.proc.returncode}: {self.log()}")
        try:
            return bool(request(self.socket, "status", {}, timeout=2.0).get("ok"))
        except (OSError, ControlError):  # not listening yet
            return False

    def log(self) -> str:
        return (self.folder / "run.log").read_text()

    def ctl(self, command: str, **args: Any) -> dict[str, Any]:
        reply = request(self.socket, command, args, timeout=30.0)
        assert reply.get("ok"), reply
        return reply

    def rows(self) -> dict[str, dict[str, Any]]:
        return {row["name"]: row for row in self.ctl("status")["workloads"]}

    def all_running(self, names: Iterable[str]) -> dict[str, dict[str, Any]] | None:
        rows = self.rows()
        ok = all(rows[n]["phase"] == "running" and (rows[n]["pid"] or rows[n]["container"]) for n in names)
        return rows if ok else None

    def pids(self) -> dict[str, int | None]:
        return {name: row["pid"] for name, row in self.rows().items()}

    def signal(self, signum: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
