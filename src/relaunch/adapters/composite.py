"""One runtime made of several: a fleet's local commands and containers behind one Supervisor.

A ``Supervisor`` drives one runtime and owns one store; a fleet file names processes and
containers (on one or more engines) and keeps them in one store. :class:`CompositeRuntime` is
that one runtime: each workload's spec is a :class:`Routed` value naming the part runtime that
carries it, and every call about a workload goes to that part. It decides nothing and adds no
thread; the contract it keeps is ``runtime.py``'s, by keeping each part's.

What it must join, and how:

- **The cursor.** Each part may report a resume point (Docker: the time of its last event); the
  composite's cursor is a JSON object of the parts' cursors by part key, and ``open`` hands
  each part its own back.
- **The owner.** Each part is opened with the store's identity, as it would be alone, so it
  finds what it created under this store and nothing else.
- **Kept ends.** ``keeps_run_ends`` holds only if every part keeps its ends (the core asks it
  once for all workloads; a fleet of containers alone keeps the lazy commit of Docker's
  restart decisions).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from relaunch.adapters.runtime import (
    HealthReport,
    LiveRun,
    Observation,
    Resume,
    RunEnd,
    Runtime,
    Sink,
    SupervisorError,
)

__all__ = ["CompositeRuntime", "Routed"]


@dataclass(frozen=True, slots=True)
class Routed:
    """A workload's spec for a :class:`CompositeRuntime`: which part carries it, and its own spec."""

    part: str
    spec: Any


class _PartSink:
    """A part's view of the core's sink: everything passes through but its cursor."""

    def __init__(self, owner: CompositeRuntime, key: str, sink: Sink) -> None:
        self._owner = owner
        self._key = key
        self._sink = sink

    def run_started(self, name: str, run: LiveRun | None = None) -> None:
        self._sink.run_started(name, run)

    def run_ended(self, name: str, end: RunEnd) -> None:
        self._sink.run_ended(name, end)

    def removed(self, name: str) -> None:
        self._sink.removed(name)

    def observed(self, name: str, obs: Observation) -> None:
        self._sink.observed(name, obs)

    def health(self, name: str, report: HealthReport) -> None:
        self._sink.health(name, report)

    def cursor_changed(self, cursor: str) -> None:
        self._sink.cursor_changed(self._owner._joined_cursor(self._key, cursor))


class CompositeRuntime:
    """Routes each workload to one of ``parts`` (by :class:`Routed`'s ``part`` key)."""

    def __init__(self, supervisor_id: str, parts: Mapping[str, Runtime]) -> None:
        if not parts:
            raise ValueError("parts: a composite runtime needs at least one part")
        self._id = supervisor_id
        self._parts = dict(parts)
        self._lock = threading.Lock()
        self._cursors: dict[str, str] = {}
        self._routes: dict[str, str] = {}  # workload -> part key
        self.keeps_run_ends = all(getattr(part, "keeps_run_ends", False) is True for part in parts.values())

    @property
    def supervisor_id(self) -> str:
        return self._id

    def part(self, key: str) -> Runtime:
        """The part runtime ``key`` (e.g. to ask the process runtime for a pid)."""
        return self._parts[key]

    def part_of(self, name: str) -> str | None:
        """The key of the part that carries ``name``, once watched."""
        with self._lock:
            return self._routes.get(name)

    def open(self, sink: Sink, resume: Resume) -> None:
        cursors = self._read_cursor(resume.cursor)
        with self._lock:
            self._cursors = dict(cursors)
        opened: list[Runtime] = []
        try:
            for key, part in self._parts.items():
                part.open(_PartSink(self, key, sink), Resume(cursor=cursors.get(key), owner=resume.owner))
                opened.append(part)
        except BaseException:
            for part in opened:
                part.close()
            raise

    def watch(self, name: str, spec: Any, run: LiveRun | None) -> None:
        if not isinstance(spec, Routed):
            raise TypeError(f"spec: must be a Routed, got {type(spec).__name__}")
        part = self._parts.get(spec.part)
        if part is None:
            raise ValueError(f"spec.part: no runtime {spec.part!r} (have {', '.join(sorted(self._parts))})")
        with self._lock:
            previous = self._routes.get(name)
            if previous is not None and previous != spec.part:
                raise SupervisorError(f"workload {name!r} is already carried by runtime {previous!r}")
            self._routes[name] = spec.part
        part.watch(name, spec.spec, run)

    def observe(self, name: str) -> Observation:
        return self._route(name).observe(name)

    def start(self, name: str, *, create: bool) -> None:
        self._route(name).start(name, create=create)

    def stop(self, name: str) -> None:
        self._route(name).stop(name)

    def forget(self, name: str) -> None:
        """``name`` is no longer supervised: the part forgets it too (if it can)."""
        with self._lock:
            key = self._routes.pop(name, None)
        if key is None:
            return
        forget = getattr(self._parts[key], "forget", None)
        if forget is not None:
            forget(name)

    def close(self) -> None:
        # Each part's close() keeps the one-second bound of the contract; they are few (one per
        # engine and one for processes), and a process part closes in milliseconds.
        for part in self._parts.values():
            part.close()

    def _route(self, name: str) -> Runtime:
        with self._lock:
            key = self._routes.get(name)
        if key is None:
            raise SupervisorError(f"unknown workload {name!r}")
        return self._parts[key]

    def _joined_cursor(self, key: str, cursor: str) -> str:
        with self._lock:
            self._cursors[key] = cursor
            return json.dumps(self._cursors, sort_keys=True)

    @staticmethod
    def _read_cursor(cursor: str | None) -> dict[str, str]:
        """The parts' cursors from the joined one; an unreadable one only replays more events."""
        if not cursor:
            return {}
        try:
            data = json.loads(cursor)
        except json.JSONDecodeError:
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): v for k, v in data.items() if isinstance(v, str)}
