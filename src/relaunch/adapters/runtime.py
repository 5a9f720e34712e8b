"""The contract between the supervisor core and a runtime (Docker, local processes), and its types.

The core (``supervisor.py``) decides; a runtime starts, watches and stops workloads and reports
what it sees through a :class:`Sink`. This module holds only that interface and the values that
cross it, so a runtime imports nothing of the core's internals (as trio keeps ``Clock`` in
``trio/_abc.py``, apart from every implementation). ``tests/test_runtime_conformance.py`` checks
every runtime against the contract written here.

The contract, method by method:

``open(sink, resume)``
    Called once, by the ``Supervisor`` constructor, before any ``watch``. The runtime starts its
    own watching threads here. ``resume.cursor`` is the runtime-wide resume point it last
    reported through ``Sink.cursor_changed`` (Docker: the time of the last event handled), and
    ``resume.owner`` a string unique to the store (its id), which a runtime stamps on what it
    creates so that it never adopts another store's workloads.
``watch(name, spec, run)``
    Called by ``Supervisor.add`` (outside the core's lock) before the first ``observe``. ``run``
    is the live run of ``name`` as last reported through ``Sink.run_started`` and persisted, or
    None. The runtime must find a run of ``name`` that is still alive (adopt it), whether or not
    ``run`` names it: a run started just before the previous supervisor died may never have
    been recorded. It may raise ``SupervisorError`` (a foreign object with the workload's name)
    or ``TypeError``/``ValueError`` (a spec of the wrong kind).
``observe(name)``
    What ``name`` is now (one of the four observations below). Called after ``watch``; the
    runtime also reports ``Sink.observed`` for every watched workload on every (re)connection.
``start(name, create=...)``
    Start a new run of ``name`` (``create``: it may not exist yet). Returns once the run is
    started or has failed to; raises ``StartError`` if the workload cannot be started at all
    (its fault: bad image, bad command), ``RuntimeUnavailable`` if the runtime cannot now (the
    daemon is down, the host is out of processes or descriptors). After any exception no run
    of ``name`` may be left running untracked: kill it or report it.
``stop(name)``
    Stop the live run (SIGTERM, then SIGKILL after a grace). Its end is reported as usual; if
    nothing runs and no end is on its way, report ``Sink.removed``.
``close()``
    Stop watching within a second; leave the workloads running for the next supervisor.
``keeps_run_ends`` (optional attribute, False when absent)
    True if the runtime keeps how a run exited (or was OOM-killed), exactly, after it ended and
    across supervisors (Docker and Podman keep a container's exit code, OOM flag and times in
    its State): a new supervisor reads it again through ``observe`` and decides it again,
    identically. The core then commits a decision to restart such a run after a delay lazily,
    with the start it orders (``supervisor.py``, ``_decide``). A runtime that may lose an end (a
    process adopted from a dead supervisor has no parent to collect its status) leaves it False.

What a runtime reports, from any of its threads (never while holding a lock the sink's caller
could need: the core may call back into the runtime from a decision hook):

- ``run_started(name, run)`` once per run that starts, ours or an operator's, with the run's
  identity (:class:`LiveRun`) when the runtime has one to persist;
- ``run_ended(name, end)`` once per run that ends (the core ignores a repeated ``end.run``);
- ``removed(name)`` when the workload was removed by someone else (an operator decision);
- ``observed(name, obs)`` after a (re)connection;
- ``cursor_changed(cursor)`` when the runtime-wide resume point moves;
- ``health(name, report)`` when a live run's health changes (:class:`HealthReport`): the Docker
  runtime on each ``health_status`` event, the process runtime after each probe.

Health only decides *when to kill*. A runtime that finds a run UNHEALTHY stops it itself, as
``stop`` does (Docker: ``docker stop`` with the stop timeout; processes: SIGTERM, grace,
SIGKILL), without a ``Sink`` call asking for it, and reports that run's end once with
``cause=Cause.UNHEALTHY`` however it then dies. Its stop is not an operator stop: the core turns
an end into ``STOPPED`` only when ``Supervisor.stop`` asked for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from relaunch import Cause
from relaunch.kernel.health import Verdict

__all__ = [
    "OUTPUT_LIMIT",
    "Ended",
    "HealthReport",
    "LiveRun",
    "Missing",
    "NotStarted",
    "Observation",
    "Resume",
    "RunEnd",
    "Running",
    "Runtime",
    "RuntimeUnavailable",
    "Sink",
    "StartError",
    "SupervisorError",
]


class SupervisorError(RuntimeError):
    """Misuse of the supervisor (unknown workload, a store held by another supervisor...)."""


class StartError(Exception):
    """``Runtime.start`` could not start the workload at all (bad image, bad command)."""


class RuntimeUnavailable(Exception):
    """The runtime cannot act now (daemon down or frozen, host out of resources); try later."""


@dataclass(frozen=True, slots=True)
class RunEnd:
    """How one run ended, as the runtime saw it. Times are Unix seconds, not yet clamped.

    ``status_known`` is False when the runtime could not collect the exit status (a process
    adopted from a previous supervisor is not our child): the core counts such an end as a
    failure, never as ``LOST``, so a crash loop cannot escape its budget by outliving
    supervisors.
    """

    run: str  # identifies the run (Docker: container id and StartedAt); handled exactly once
    started_at: float
    ended_at: float
    exit_code: int | None = None
    signal: int | None = None
    cause: Cause = Cause.EXITED
    detail: str = ""
    status_known: bool = True


#: Characters of a probe's output kept in a :class:`HealthReport` (Docker keeps 4096 bytes per
#: probe, moby ``daemon/health.go`` ``maxOutputLen``; a status line needs far fewer).
OUTPUT_LIMIT = 200


@dataclass(frozen=True, slots=True)
class HealthReport:
    """A live run's health after its latest probe, as a runtime reports it (``Sink.health``).

    ``failures`` is the failing streak (Docker's ``FailingStreak``: failures in the start period
    do not count) and ``output`` the latest probe's output, cut to :data:`OUTPUT_LIMIT`
    characters (use :meth:`make`).
    """

    verdict: Verdict
    failures: int
    output: str
    at: float  # Unix seconds of the latest probe's result

    @classmethod
    def make(cls, verdict: Verdict, failures: int, output: str, at: float) -> HealthReport:
        """A report with ``output`` stripped and cut to :data:`OUTPUT_LIMIT` characters."""
        text = output.strip()
        if len(text) > OUTPUT_LIMIT:
            text = text[: OUTPUT_LIMIT - 3] + "..."
        return cls(verdict, failures, text, at)


@dataclass(frozen=True, slots=True)
class LiveRun:
    """A run that is alive, as the runtime identifies it; persisted in the store's run row.

    ``data`` is the runtime's own (JSON scalars only), handed back to ``Runtime.watch`` by the
    next supervisor (the process runtime: pid, boot id and start time in clock ticks).
    """

    key: str
    started_at: float
    data: Mapping[str, str | int | float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Resume:
    """What a runtime is given back at ``open``: its resume point and the store's identity."""

    cursor: str | None
    owner: str


@dataclass(frozen=True, slots=True)
class Missing:
    """The workload does not exist in the runtime (never created, or removed)."""


@dataclass(frozen=True, slots=True)
class NotStarted:
    """The workload exists but never ran (created, or its first start failed)."""


@dataclass(frozen=True, slots=True)
class Running:
    """The workload is running now; ``run`` identifies that run, if the runtime persists runs."""

    run: LiveRun | None = None


@dataclass(frozen=True, slots=True)
class Ended:
    """The workload is not running; ``end`` describes its latest run."""

    end: RunEnd


Observation = Missing | NotStarted | Running | Ended


class Sink(Protocol):
    """How a runtime reports what it sees (``Supervisor`` implements it); safe from any thread."""

    def run_started(self, name: str, run: LiveRun | None = None) -> None: ...

    def run_ended(self, name: str, end: RunEnd) -> None: ...

    def removed(self, name: str) -> None: ...

    def observed(self, name: str, obs: Observation) -> None: ...

    def cursor_changed(self, cursor: str) -> None: ...

    def health(self, name: str, report: HealthReport) -> None: ...


class Runtime(Protocol):
    """What a runtime provides to the supervisor core; the module docstring is the contract."""

    @property
    def supervisor_id(self) -> str: ...

    def open(self, sink: Sink, resume: Resume) -> None: ...

    def watch(self, name: str, spec: Any, run: LiveRun | None) -> None: ...

    def observe(self, name: str) -> Observation: ...

    def start(self, name: str, *, create: bool) -> None: ...

    def stop(self, name: str) -> None: ...

    def close(self) -> None: ...
