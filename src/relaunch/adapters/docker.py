"""The Docker runtime: watch labelled containers, turn their deaths into run ends, start them.

It drives Docker or Podman (both serve the Docker API); the Podman section below says where
Podman differs and how this module adapts.

Install with the ``docker`` extra (the Docker SDK for Python). The kernel never imports this
module; the supervisor core (``supervisor.py``) decides what to do with what is reported here.

Facts this module relies on, measured on Debian's Docker 20.10.24 (``scripts/docker-engine``):

- ``docker stop``: events ``kill`` (signal 15), [``kill`` (9) after the timeout], ``die``, ``stop``.
  ``docker kill``: ``kill``, ``die``. ``docker rm -f``: ``kill``, ``die``, ``destroy``, and by the
  time ``die`` is read the container may already be gone (inspect gives 404).
- A daemon SIGTERM gives exactly the events of an operator stop (``kill`` 15, ``die``, ``stop``)
  and the open events stream then simply ends, without raising: 1.0 s after the last ``stop``
  (3 of 3 runs), 11 s after the signal when a container ignores SIGTERM until its 10 s stop
  timeout, or, in some runs, within 30 ms of the signal, before the ``die`` was delivered.
  But the daemon closes its API socket at once: a new connection (a ping) is refused within
  1 ms of the signal. So the watchdog's failed ping opens an outage at the start
  of a shutdown; a death that follows a ``kill`` is held for ``stop_grace`` seconds (longer than
  a ping interval) and is ``LOST`` if contact is lost meanwhile, and so is the death of a
  container whose ``kill`` we saw less than ``stop_grace`` before contact was lost.
- A daemon SIGKILL ends the stream at once (about 4 ms) and leaves the container running under
  its shim; the restarted daemon (without ``--live-restore``) then kills it while restoring,
  before its API answers, and logs ``kill`` 15, ``die``, ``stop`` in its new event log. Deaths
  found after a reconnection that ended while contact was lost are therefore ``LOST``.
- A SIGSTOPped daemon keeps the stream open and silent forever; a ping with a timeout times out.
  Containers keep running; one that exits meanwhile gets its real exit time as ``FinishedAt``
  (not the time the thawed daemon handles it), which is how the outage windows classify it
  ``LOST``. Every call to the engine goes through ``engine_api.py`` (but create(), through the
  SDK), which turns no answer into ``RuntimeUnavailable``; closing the stream
  (``EventStream.close``) from another thread ends its iteration at once.
- Any ``kill`` makes Docker's own restart manager treat the next death as a manual stop: a
  container under ``on-failure`` sent SIGHUP (trapped) that later exits 1 is not restarted.
  We follow it: a death after any ``kill`` in the same run is the operator's stop.
- ``docker stop`` on an exited container succeeds and changes nothing observable (no event, same
  inspect output), so an operator stop during a backoff delay must go through
  ``Supervisor.stop`` (or remove the container, which emits ``destroy``).
- A start with a bad command fails with ``APIError`` 400 (``failed to create shim task``),
  emits no ``die`` and leaves the container ``created`` with ``State.Error`` set.
- The daemon forgets its event log when it restarts (and keeps only 256 events, issue 4);
  ``events(since=)`` is inclusive and takes an exact ``"<seconds>.<nanoseconds>"`` string.
  Unknown filter keys are silently ignored (issue 4), so only documented ones are used
  (``type``, ``label``, ``event``).
- Health checks (the image's ``HEALTHCHECK`` or a ``healthcheck`` create() option): the daemon
  emits ``health_status: starting|healthy|unhealthy`` (the event's Action) only when the status
  changes, not per probe, and the filter ``event=health_status`` selects them (measured). It
  never acts on the status (moby#28400). We do: on ``unhealthy`` the container is stopped with
  the stop timeout, like an operator's ``docker stop``, and that run's end is ``UNHEALTHY``
  however it then dies (``_on_health``).
- ``start()`` on a stopped container takes about 0.13 s here (0.12 to 0.14 s over 10 starts on
  an idle engine, up to 0.35 s under the test suite's load) and keeps the container id; on a
  running one it returns in about 1 ms and does nothing.

Limits, known and accepted:

- An operator's ``docker stop`` less than ``stop_grace`` before the daemon goes away is taken
  for part of the outage: ``LOST``, so restarted.
- Deaths that happened while no supervisor ran are classified from the replayed event log
  (after a ``kill``: ``STOPPED``; else ``EXITED``). If the daemon also restarted meanwhile, its
  restore kill looks like an operator's: ``STOPPED`` rather than ``LOST``.
- Docker reports only ``ExitCode``: a death by signal n is exit code 128 + n, never a signal.
- A health kill whose death happens while no supervisor runs is replayed as a death after a
  ``kill``: ``STOPPED``, so not restarted, as any stop in that window.

Podman, through the same SDK and Docker API (Debian's Podman 4.3.1 as root, cgroup v1, no
systemd; ``scripts/podman-engine``). Where it differs, measured, and what this module does:

- Telling the engines apart: ``/_ping`` answers in about 10 ms on both, with ``Api-Version``
  (1.41 on both); Podman's adds ``Libpod-Api-Version``, which is how ``_c`` tells. Its
  ``/version`` takes 0.46 s and ``/info`` 0.30 s (it runs conmon and runc for their versions;
  Docker: 10 ms), so the SDK's ``version="auto"``, which asks ``/version``, timed out under the
  ping's timeout; and ``info()["SystemTime"]`` is read at the end of that answer, so the
  connection's "now" is taken back to when it was asked.
- Containers are children of ``conmon``, not of the service: a service SIGTERM or SIGKILL (and
  its restart) leaves them running, same run, and a SIGSTOPped service leaves them alone. A
  container that exits meanwhile is cleaned up by ``podman container cleanup``, which conmon
  runs and which writes the ``die`` to the events file itself. So no death is the service's
  doing: the outage and kill-before-loss rules that make Docker deaths ``LOST`` do not apply,
  and a death while the service was away is classified from its exit like any other.
- Events: Podman filters by its own names, ``died`` (reported as ``die``) and ``remove``
  (reported as ``remove``, not ``destroy``); Docker's names match nothing, silently. They are
  polled from a file (``--events-backend file``): 130 ms late at the median and 250 ms at most
  (90 events). The file outlives the service, so a replay after a restart misses nothing.
- ``events(since=, until=)``: whole seconds only. A fraction (``"<s>.<ns>"`` or RFC 3339) gives
  an empty stream that ends at once, with status 200 and no error. So the replay reaches up to
  a second back (events before the cursor are skipped), and the live stream starts at the whole
  second before "now": what it sends from before then is replay, deduplicated. An ``until`` in
  the future holds the stream open until then, as on Docker.
- Operator stop: ``POST /containers/{id}/stop`` emits no ``kill``, and a ``stop`` event only when
  the service syncs the exit before conmon's cleanup does (0 of 3 graceful stops with ``t=5``,
  2 of 3 with ``t=0``, 1 of 3 without ``t``), then always before the ``die``. But a stop request
  cleans the container up a second time: two ``cleanup`` events, 38 to 81 ms after the ``die``
  (17 of 17 stops), against one after an exit, a ``kill`` or an OOM kill. So a Podman death
  without a kill is held for ``_PODMAN_SETTLE`` (0.5 s: the gap plus two polls) and is the
  operator's ``STOPPED`` if a ``stop`` or a second ``cleanup`` arrives meanwhile, else released
  as it is. ``kill``: ``kill``, ``die``, ``cleanup``. ``rm -f`` of a running container: ``die``
  (137), ``remove``, no ``kill``; the ``remove`` reports the removal, as ``destroy`` does.
- The compat API creates containers with ``StopTimeout`` 0: a stop without ``t`` (the SDK's
  ``container.stop()``) kills at once, exit 137. This module always passes ``t``.
- Exit codes, ``StartedAt``/``FinishedAt`` and label filters as on Docker, except that
  ``FinishedAt`` can precede ``StartedAt`` by a few ms (5 ms, once, on a restarted container).
  ``create`` takes 13 to 40 ms and ``start`` 0.06 to 0.15 s; ``start`` on a running container
  returns in about 3 ms and does nothing.
- A start with a bad command fails with ``APIError`` 500 (``OCI runtime attempted to invoke a
  command that was not found``) and leaves the container ``created`` with ``State.Error`` empty.
- OOM: Podman never sets ``State.OOMKilled`` here and emits no ``oom`` event: a 16 MB hog ends
  as a plain exit 137, reported as ``EXITED`` (nothing outside the engine tells it from a kill).
- Health checks run from systemd timers: without systemd, ``State.Health`` stays ``starting``
  and no ``health_status`` event comes (the service logs "unable to get systemd connection"),
  so a container's health check, which this module follows on Docker, never fires here.
- There is no ``/containers/{id}/update`` (404): a restart policy cannot be switched off live.
  Adopting a container that has one logs a warning and leaves it; Podman's own restarts (no
  backoff: 75 to 110 ms after each death) then race ours.

Podman limits, known and accepted: every death without a kill is reported 0.5 s later than on
Docker; an operator's stop seen only in a replay (no supervisor was watching) is an exit, since
only a live death waits for its second cleanup; and a ``podman`` command line with another
events backend (journald, the default elsewhere) writes events this service never shows.
"""

from __future__ import annotations

import calendar
import contextlib
import dataclasses
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import RUN_CREATE_KWARGS, RUN_HOST_CONFIG_KWARGS

from relaunch import Cause, Verdict
from relaunch.adapters.engine_api import EngineClient, EngineError, EventStream, NotFound
from relaunch.adapters.runtime import (
    Ended,
    HealthReport,
    LiveRun,
    Missing,
    NotStarted,
    Observation,
    Resume,
    RunEnd,
    Running,
    RuntimeUnavailable,
    Sink,
    StartError,
    SupervisorError,
)

__all__ = [
    "LABEL_SUPERVISOR",
    "LABEL_WORKLOAD",
    "ContainerSpec",
    "DockerRuntime",
    "ForeignContainerError",
    "container_name",
]

logger = logging.getLogger("relaunch.docker")

# Reconnection attempts back off from 0.1 s to this cap. A failed attempt on a unix socket costs
# about a millisecond, and the cap bounds how long a workload stays down after the daemon
# answers again (issue 10: within 1 s; at the old 5 s cap it took 0.6 to 3.2 s, measured).
RECONNECT_CAP_S = 0.5

LABEL_SUPERVISOR = "io.relaunch.supervisor"
LABEL_WORKLOAD = "io.relaunch.workload"

# Docker's own rule for container names (daemon/names: validContainerNamePattern).
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|z|[+-]\d\d:\d\d)")

# State.Health.Status values (moby api/types/types.go: Starting, Healthy, Unhealthy).
_VERDICTS = {verdict.value: verdict for verdict in Verdict}

# What the SDK (used for create() only, engine_api.py says why) raises when the daemon does not
# answer: requests' errors when it is down or frozen (measured), and the SDK's own base class.
_SDK_UNREACHABLE = (requests.exceptions.RequestException, docker.errors.DockerException)

# What containers.create() accepts (the SDK's own lists of its keyword arguments).
_CREATE_OPTIONS = frozenset(RUN_CREATE_KWARGS) | frozenset(RUN_HOST_CONFIG_KWARGS)

# create() arguments the adapter owns: a user value would break supervision.
_RESERVED = frozenset({"name", "restart_policy", "auto_remove", "detach", "image", "command"})


# Podman's names for the events we follow, as the Docker API reports them (measured).
_PODMAN_ACTIONS = {"remove": "destroy", "stop": "kill"}
# A stop through Podman's API cleans the container up a second time after its death (conmon's
# exit command does the first), 38 to 81 ms after the ``die`` (17 of 17 stops, measured); an exit,
# a kill or an OOM kill is cleaned up once.
_PODMAN_STOP_CLEANUPS = 2
# How long a Podman death without a kill waits for that second cleanup: its events are polled
# from a file, 130 ms late at the median and 250 ms at most (measured), so two polls and the gap.
_PODMAN_SETTLE = 0.5


def _event_key(event: Mapping[str, Any]) -> tuple[str, str, int]:
    return (
        str(event.get("id", "")),
        str(event.get("Action") or event.get("status")),
        int(event.get("timeNano", 0)),
    )


class ForeignContainerError(SupervisorError):
    """A container with the workload's name exists but does not carry our supervisor label."""


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """How to create a workload's container: an image, a command and other ``create()`` options.

    ``options`` are passed to ``docker.DockerClient.containers.create`` (e.g. ``network_mode``,
    ``mem_limit``, ``environment``); the name, restart policy and ``auto_remove`` are the
    adapter's (Docker's own restarts would fight ours, and a removed container loses its exit
    State), and our labels are added to any given.
    """

    image: str
    command: str | list[str] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        reserved = sorted(_RESERVED & set(self.options))
        if reserved:
            raise ValueError(f"ContainerSpec.options: {', '.join(reserved)} are set by the adapter")
        # Fail here, not at every restart: create() rejects unknown options with a TypeError.
        unknown = sorted(set(self.options) - _CREATE_OPTIONS)
        if unknown:
            raise ValueError(f"ContainerSpec.options: not create() options: {', '.join(unknown)}")


def container_name(supervisor_id: str, workload: str) -> str:
    """The deterministic container name of ``workload`` under ``supervisor_id``."""
    return f"relaunch-{supervisor_id}-{workload}"


def parse_time_ns(text: str) -> int | None:
    """Docker's RFC 3339 time with up to 9 fractional digits, as Unix nanoseconds (None if zero).

    Docker reports UTC with a trailing Z (measured); an offset (``+01:00``) is honoured too.
    """
    if not text or text.startswith("0001-01-01"):
        return None
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second, frac, zone = match.groups()
    seconds = calendar.timegm((int(year), int(month), int(day), int(hour), int(minute), int(second)))
    if zone not in ("Z", "z"):
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds -= offset if zone[0] == "+" else -offset
    return seconds * 1_000_000_000 + int(((frac or "") + "000000000")[:9])


def format_since(ns: int) -> str:
    """The exact ``"<seconds>.<nanoseconds>"`` form ``events(since=...)`` accepts."""
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


@dataclass(frozen=True, slots=True)
class _Clients:
    """The engine's clients, made on first contact (``DockerRuntime._c``)."""

    api: EngineClient  # every call but create(); pooled, shared by every thread
    version: str  # the API version the engine's ping named


@dataclass(slots=True)
class _Held:
    """A death after a ``kill``: the operator's stop, unless the daemon goes away first.

    On Podman, also a death without one (``settling``): an operator's stop may still show itself
    by the events that follow the death (see the module docstring), else it is released as it is.
    """

    name: str
    end: RunEnd
    deadline: float  # time.monotonic()
    event_ns: int
    settling: bool = False


class DockerRuntime:
    """Supervises containers labelled ``io.relaunch.supervisor=<supervisor_id>``.

    Threads: one follows the events stream (and reconnects forever with capped backoff), one
    watchdog pings the daemon with a short timeout and releases held stop verdicts, and a
    short-lived one per health kill waits for its ``docker stop``.
    """

    #: A container's State keeps its last run's exit code, OOM flag and times (``runtime.py``).
    keeps_run_ends = True

    def __init__(
        self,
        supervisor_id: str,
        *,
        base_url: str | None = None,
        stop_grace: float = 2.0,
        ping_interval: float = 0.5,
        ping_timeout: float = 1.0,
        reconnect_initial: float = 0.1,
        reconnect_cap: float = RECONNECT_CAP_S,
        api_timeout: float = 10.0,
        stop_timeout: int = 10,
    ) -> None:
        if not _NAME.match(supervisor_id):
            raise ValueError(f"supervisor_id: must match {_NAME.pattern}, got {supervisor_id!r}")
        if stop_grace <= ping_interval:
            # The failed ping is what tells a daemon shutdown from an operator's stop.
            raise ValueError(f"stop_grace ({stop_grace}) must exceed ping_interval ({ping_interval})")
        self._id = supervisor_id
        self._stop_grace = stop_grace
        self._ping_interval = ping_interval
        self._reconnect_initial = reconnect_initial
        self._reconnect_cap = reconnect_cap
        self._stop_timeout = stop_timeout
        # Parsed now, so a bad address fails here and names itself (a ValueError).
        EngineClient(base_url, timeout=api_timeout).close()
        self._url = base_url
        self._api_timeout = api_timeout
        self._ping_timeout = ping_timeout
        self._clients: _Clients | None = None
        self._sdk: docker.DockerClient | None = None  # for create() only, made on first use
        self._podman = False  # the engine is Podman (known from the first contact, see _c)
        self._clients_lock = threading.Lock()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._connected = threading.Event()
        self._specs: dict[str, ContainerSpec] = {}
        self._ids: dict[str, str] = {}  # workload name -> id of its container, once seen
        # Container ids with a kill event in their current run, and when we saw it (monotonic).
        self._killed: dict[str, float] = {}
        # Killed containers whose death we had not seen when contact was lost: the kill was the
        # daemon's own shutdown as far as we can tell, so that death is LOST.
        self._kill_lost: set[str] = set()
        self._stopping: set[str] = set()  # container ids we are stopping ourselves
        self._unhealthy: set[str] = set()  # container ids whose current run we stop as unhealthy
        self._held: dict[str, _Held] = {}
        self._cleanups: dict[str, int] = {}  # Podman: container id -> cleanup events this run
        self._stream: EventStream | None = None
        self._last_ns: int | None = None
        # Periods without contact, as [start, end] Unix ns (end None while ongoing); a death that
        # finished inside one happened while the daemon was unreachable. A few are kept because
        # a death's event can arrive after the reconnection that ends its outage.
        self._outages: list[list[int | None]] = []
        self._last_contact_ns: int | None = None
        self._sink: Sink | None = None
        self._threads: list[threading.Thread] = []

    @property
    def supervisor_id(self) -> str:
        return self._id

    def name_of(self, workload: str) -> str:
        return container_name(self._id, workload)

    def _c(self) -> _Clients:
        """The API clients, made on first contact: the API version is negotiated with the daemon
        (``version="auto"`` asks it), which needs it up, and the runtime must work (and wait)
        when it is not."""
        with self._clients_lock:
            if self._closing.is_set():
                raise RuntimeUnavailable("the runtime is closed")
            if self._clients is None:
                # The ping's headers name the API version and the engine. (The SDK's
                # version="auto" asks /version, which Podman answers in about 0.5 s: it runs
                # conmon and runc to report theirs, measured; the ping takes 10 ms on both.)
                probe = EngineClient(self._url, timeout=self._ping_timeout)
                try:
                    headers = probe.ping()
                except EngineError as exc:
                    raise RuntimeUnavailable(f"ping: {exc}") from exc
                finally:
                    probe.close()
                version = headers.get("api-version")
                if not version:
                    raise RuntimeUnavailable("ping: the engine named no Api-Version")
                self._podman = "libpod-api-version" in headers
                api = EngineClient(self._url, timeout=self._api_timeout, version=version)
                self._clients = _Clients(api=api, version=version)
            return self._clients

    def _ping(self) -> None:
        """Ask the engine whether it answers, within the ping timeout (RuntimeUnavailable if not)."""
        try:
            self._c().api.ping(timeout=self._ping_timeout)
        except EngineError as exc:
            raise RuntimeUnavailable(f"ping: {exc}") from exc

    @property
    def _report(self) -> Sink:
        if self._sink is None:
            raise RuntimeError("DockerRuntime.open() has not been called")
        return self._sink

    # -- Runtime protocol -------------------------------------------------------------------

    def open(self, sink: Sink, resume: Resume) -> None:
        self._sink = sink
        cursor = resume.cursor
        if cursor is not None:
            seconds, _, nanos = cursor.partition(".")
            self._last_ns = int(seconds) * 1_000_000_000 + int(nanos or 0)
        for target, name in (
            (self._follow, "relaunch-docker-events"),
            (self._watchdog, "relaunch-docker-watchdog"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def watch(self, name: str, spec: Any, run: LiveRun | None) -> None:
        # Containers need no saved run: they are found by their deterministic name and labels.
        if not isinstance(spec, ContainerSpec):
            raise TypeError(f"spec: must be a ContainerSpec, got {type(spec).__name__}")
        if not _NAME.match(name):
            raise ValueError(f"workload name: must match {_NAME.pattern}, got {name!r}")
        # Refuse a foreign container with our name now; if the daemon is down, reconciliation
        # checks again when it answers.
        with contextlib.suppress(RuntimeUnavailable):
            self._inspect(self._c().api, name)
        with self._lock:
            self._specs[name] = spec

    def observe(self, name: str) -> Observation:
        return self._observe(self._c().api, name)

    def start(self, name: str, *, create: bool) -> None:
        try:
            # By id, not by name: if ours was removed and someone made another container with
            # its name, starting by name would start theirs.
            cid = self._container_id(name)
            if cid is None and create:
                cid = self._create(name)
            if cid is not None:
                try:
                    self._c().api.start(cid)
                    return
                except NotFound as exc:
                    # A 404 at start is either our container gone, or something it needs (its
                    # network, e.g. `--network bogusnet`): only the first is an operator's removal.
                    if self._inspect(self._c().api, name) is not None:
                        self._raise_start_error(name, exc)
                    with self._lock:
                        self._ids.pop(name, None)
        except ForeignContainerError:
            logger.error("%s: its name now belongs to a foreign container", name, extra={"workload": name})
        except EngineError as exc:
            self._raise_start_error(name, exc)
        # Removed while its start was pending: an operator decision we respect.
        self._report.removed(name)

    def stop(self, name: str) -> None:
        try:
            cid = self._container_id(name)
            if cid is None:
                return
            with self._lock:
                self._stopping.add(cid)
            self._c().api.stop(cid, timeout=self._stop_timeout)
        except NotFound:
            return
        except EngineError as exc:
            # Not a 404: the engine cannot stop it now (e.g. shutting down); the caller retries.
            raise RuntimeUnavailable(f"stop of {name}: {exc}") from exc

    def forget(self, name: str) -> None:
        """``name`` is no longer supervised: remove its container (only ours: checked by label),
        so a workload added again under that name gets a container made from its new spec."""
        with self._lock:
            self._specs.pop(name, None)
            cid = self._ids.pop(name, None)
        try:
            if cid is None:
                attrs = self._inspect(self._c().api, name)
                cid = None if attrs is None else str(attrs["Id"])
            if cid is not None:
                self._c().api.remove(cid)
        except NotFound:
            return
        except EngineError as exc:
            raise RuntimeUnavailable(f"removal of {name}: {exc}") from exc

    def close(self) -> None:
        self._closing.set()
        self._close_stream()
        deadline = time.monotonic() + 0.9
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._clients_lock:
            clients, self._clients = self._clients, None
            sdk, self._sdk = self._sdk, None
        if clients is not None:
            clients.api.close()
        if sdk is not None:
            sdk.close()

    # -- containers -------------------------------------------------------------------------

    def _container_id(self, name: str) -> str | None:
        with self._lock:
            cid = self._ids.get(name)
        if cid is None:
            attrs = self._inspect(self._c().api, name)
            cid = None if attrs is None else str(attrs["Id"])
        return cid

    def _create(self, name: str) -> str:
        with self._lock:
            spec = self._specs[name]
        labels = {**dict(spec.options.get("labels") or {}), LABEL_SUPERVISOR: self._id, LABEL_WORKLOAD: name}
        options = {k: v for k, v in spec.options.items() if k != "labels"}
        try:
            container = self._sdk_client().containers.create(
                spec.image,
                spec.command,
                name=self.name_of(name),
                labels=labels,
                restart_policy={"Name": "no"},
                **options,
            )
        except docker.errors.ImageNotFound as exc:
            raise StartError(f"{name}: image {spec.image!r} not found: {exc.explanation}") from exc
        except docker.errors.APIError as exc:
            status = exc.status_code or 500
            raise EngineError(status, str(exc.explanation or exc), f"create {name}") from exc
        except _SDK_UNREACHABLE as exc:
            raise RuntimeUnavailable(f"create of {name}: {exc}") from exc
        with self._lock:
            self._ids[name] = container.id
        return str(container.id)

    def _sdk_client(self) -> docker.DockerClient:
        """The SDK's client, for create() only, on the version the engine's ping named."""
        version = self._c().version
        with self._clients_lock:
            if self._sdk is None:
                base_url = self._url or docker.utils.kwargs_from_env().get("base_url")
                self._sdk = docker.DockerClient(base_url=base_url, timeout=self._api_timeout, version=version)
            return self._sdk

    def _raise_start_error(self, name: str, exc: EngineError) -> None:
        # An engine error is the workload's fault (bad command: 400) unless the daemon itself is
        # going away (e.g. shutting down); tell them apart by asking the daemon.
        try:
            self._ping()
        except RuntimeUnavailable as ping_exc:
            raise RuntimeUnavailable(f"start of {name}: {exc}; ping: {ping_exc}") from exc
        raise StartError(f"{name}: {exc.explanation or exc}") from exc

    def _inspect(self, api: EngineClient, name: str) -> dict[str, Any] | None:
        """The container of ``name`` if it exists and is ours; adopt it on first sight."""
        try:
            attrs = api.inspect(self.name_of(name))
        except NotFound:
            with self._lock:
                self._ids.pop(name, None)
            return None
        except EngineError as exc:
            raise RuntimeUnavailable(f"inspect of {name}: {exc}") from exc
        labels = attrs["Config"].get("Labels") or {}
        if labels.get(LABEL_SUPERVISOR) != self._id or labels.get(LABEL_WORKLOAD) != name:
            raise ForeignContainerError(
                f"container {attrs['Name'].lstrip('/')!r} exists but is not labelled "
                f"{LABEL_SUPERVISOR}={self._id}, {LABEL_WORKLOAD}={name}; refusing to adopt it"
            )
        with self._lock:
            self._ids[name] = attrs["Id"]
        if attrs["HostConfig"]["RestartPolicy"].get("Name", "") not in ("", "no"):
            if self._podman:
                # Podman 4.3 has no /containers/{id}/update (404, measured): its policy stays.
                logger.warning(
                    "%s: Podman cannot switch its restart policy off live; its restarts and ours may race",
                    name,
                    extra={"workload": name},
                )
                return attrs
            # Docker's restart manager would restart it behind our back: switch it off live.
            try:
                api.update(attrs["Id"], {"RestartPolicy": {"Name": "no"}})
            except EngineError as exc:
                raise RuntimeUnavailable(f"update of {name}: {exc}") from exc
            logger.info("%s: set restart policy to 'no'", name, extra={"workload": name})
        return attrs

    def _observe(self, api: EngineClient, name: str) -> Observation:
        attrs = self._inspect(api, name)
        if attrs is None:
            return Missing()
        state = attrs["State"]
        if state["Running"]:
            if (state.get("Health") or {}).get("Status") == "unhealthy":
                # Went unhealthy while nobody watched: its event is gone, the verdict is not.
                self._kill_unhealthy(name, attrs["Id"])
            return Running()
        if parse_time_ns(state["StartedAt"]) is None:
            return NotStarted()
        return Ended(self._run_end(attrs))

    def _run_end(self, attrs: dict[str, Any]) -> RunEnd:
        """The latest run of an exited container, with its cause as well as we can tell."""
        cid: str = attrs["Id"]
        state = attrs["State"]
        started_ns = parse_time_ns(state["StartedAt"]) or 0
        finished_ns = parse_time_ns(state["FinishedAt"]) or started_ns
        code = state["ExitCode"]
        # Docker's exit codes are 0..255 for processes; anything else is not a process status.
        exit_code = code if isinstance(code, int) and 0 <= code <= 255 else 255
        with self._lock:
            cause = Cause.EXITED
            if cid in self._unhealthy:
                cause = Cause.UNHEALTHY  # whatever killed it after the verdict (our stop, OOM...)
            elif state.get("OOMKilled"):
                cause = Cause.OOM
            elif cid in self._stopping:
                cause = Cause.STOPPED
            elif not self._podman and (cid in self._kill_lost or self._in_outage(finished_ns)):
                # (Podman's containers outlive its service: no death is the service's doing.)
                cause = Cause.LOST
            elif cid in self._killed:
                cause = Cause.STOPPED
        return RunEnd(
            run=f"{cid}/{state['StartedAt']}",
            started_at=started_ns / 1e9,
            ended_at=finished_ns / 1e9,
            exit_code=exit_code,
            cause=cause,
            detail=state.get("Error") or "",
        )

    # -- events -----------------------------------------------------------------------------

    def _filters(self) -> dict[str, list[str]]:
        # Podman filters by its own event names (``died``, ``remove``) and reports ``died`` as
        # ``die``; ``stop`` and ``cleanup`` tell its operator stops (module docstring).
        events = (
            ["start", "kill", "died", "remove", "stop", "cleanup", "health_status"]
            if self._podman
            else ["start", "kill", "die", "destroy", "health_status"]
        )
        return {"type": ["container"], "label": [f"{LABEL_SUPERVISOR}={self._id}"], "event": events}

    def _since(self, ns: int) -> str:
        """``since``/``until`` for the engine: Podman takes whole seconds only (a fraction gives an
        empty stream that ends at once, without an error, measured)."""
        return str(ns // 1_000_000_000) if self._podman else format_since(ns)

    def _follow(self) -> None:
        """Follow the events stream; on any loss of contact, reconnect forever with backoff."""
        delay = self._reconnect_initial
        while not self._closing.is_set():
            try:
                self._connect_and_follow()
                delay = self._reconnect_initial
            except (RuntimeUnavailable, EngineError) as exc:
                logger.warning("docker unreachable: %s; retrying in %.2fs", exc, delay)
            except Exception:  # this thread must outlive any surprise; logged with traceback
                logger.exception("unexpected error while following docker events; reconnecting")
            self._lost_contact()
            if self._closing.wait(delay):
                return
            delay = min(self._reconnect_cap, delay * 2)

    def _connect_and_follow(self) -> None:
        api = self._c().api
        self._ping()
        asked = time.monotonic_ns()
        now_ns = parse_time_ns(str(api.info().get("SystemTime", "")))
        if now_ns is None:
            raise RuntimeUnavailable("info: the engine named no SystemTime")
        if self._podman:
            # Podman reads its clock at the end of a 0.3 s answer (it runs conmon and runc for
            # their versions, measured): go back to the request, or a start and a death in
            # between would reach us only as reconciliation's Ended, without their kill.
            now_ns -= time.monotonic_ns() - asked
        with self._lock:
            since = self._last_ns
        replayed: set[tuple[str, str, int]] = set()
        if since is not None and since < now_ns:
            # Replay what happened while we were away (bounded by `until`, so it ends), before
            # reconciling, so a kill seen in the replay still classifies its death.
            replay = api.events(since=self._since(since), until=self._since(now_ns), filters=self._filters())
            for event in replay:
                if int(event.get("timeNano", 0)) >= since:  # Podman's whole seconds reach back
                    replayed.add(_event_key(event))
                    self._on_event(api, event, live=False)
        stream = api.events(since=self._since(now_ns), filters=self._filters())
        with self._lock:
            self._stream = stream
        if self._closing.is_set():
            return
        self._connected.set()
        with self._lock:
            names = list(self._specs)
        for name in names:
            try:
                obs = self._observe(api, name)
            except ForeignContainerError:
                logger.exception("%s: not adopted", name, extra={"workload": name})
                continue
            if isinstance(obs, Ended) and obs.end.ended_at * 1e9 >= now_ns:
                # Its `die` comes after `since` and so in the stream, with the kill before it
                # that classifies it; Podman's 0.3 s connection leaves room for both (measured).
                continue
            self._report.observed(name, obs)
        with self._lock:
            if self._outages and self._outages[-1][1] is None:
                self._outages[-1][1] = now_ns
            self._last_contact_ns = time.time_ns()
        logger.info("following docker events", extra={"since": format_since(now_ns)})
        for event in stream:
            # Podman's stream starts at the whole second before now: what it sends from before
            # now is replay (and the replay above may have handled it), or, on a first
            # connection, what Docker would not send at all.
            if int(event.get("timeNano", 0)) >= now_ns:
                self._on_event(api, event, live=True)
            elif since is not None and _event_key(event) not in replayed:
                self._on_event(api, event, live=False)

    def _on_event(self, api: EngineClient, event: Mapping[str, Any], *, live: bool) -> None:
        action = str(event.get("Action") or event.get("status") or "")
        cid = event.get("id", "")
        attrs = (event.get("Actor") or {}).get("Attributes") or {}
        name = attrs.get(LABEL_WORKLOAD)
        event_ns = int(event.get("timeNano", 0))
        if name is None or attrs.get(LABEL_SUPERVISOR) != self._id:
            return
        action = _PODMAN_ACTIONS.get(action, action) if self._podman else action
        if action == "start":
            with self._lock:
                self._killed.pop(cid, None)
                self._kill_lost.discard(cid)
                self._stopping.discard(cid)
                self._cleanups.pop(cid, None)
                self._unhealthy.discard(cid)
            # A replayed start may belong to a run that has ended since; reconciliation reports
            # what runs now. Reporting it would cancel a restart that is still due.
            if live:
                self._report.run_started(name)
        elif action == "kill":
            with self._lock:
                self._killed[cid] = time.monotonic() if live else 0.0
            self._stopped_by_operator(cid)
        elif action == "cleanup":
            with self._lock:
                self._cleanups[cid] = count = self._cleanups.get(cid, 0) + 1
            if count == _PODMAN_STOP_CLEANUPS:
                with self._lock:
                    self._killed[cid] = time.monotonic() if live else 0.0
                self._stopped_by_operator(cid)
        elif action == "die":
            self._on_die(api, name, cid, event_ns, live=live)
        elif str(action).startswith("health_status"):
            self._on_health(api, name, cid, str(action), live=live)
        elif action == "destroy":
            with self._lock:
                self._killed.pop(cid, None)
                self._kill_lost.discard(cid)
                self._stopping.discard(cid)
                self._cleanups.pop(cid, None)
                self._unhealthy.discard(cid)
                self._held.pop(cid, None)
                if self._ids.get(name) == cid:
                    del self._ids[name]
            self._report.removed(name)
        self._advance_cursor(event_ns)

    def _on_die(self, api: EngineClient, name: str, cid: str, event_ns: int, *, live: bool) -> None:
        try:
            attrs = api.inspect(cid)
        except NotFound:
            return  # removed right after dying (rm -f): the destroy event reports it
        if attrs["State"]["Running"]:
            return  # already running again: the start event has been or will be reported
        end = self._run_end(attrs)
        with self._lock:
            hold = live and end.cause is Cause.STOPPED and cid not in self._stopping
            settle = live and self._podman and end.cause is Cause.EXITED and cid not in self._stopping
            if hold or settle:
                grace = self._stop_grace if hold else _PODMAN_SETTLE
                self._held[cid] = _Held(name, end, time.monotonic() + grace, event_ns, settling=settle)
        if not (hold or settle):
            self._report.run_ended(name, end)

    def _stopped_by_operator(self, cid: str) -> None:
        """Podman: a ``stop``, ``kill`` or second ``cleanup`` after the death makes it a stop."""
        with self._lock:
            h = self._held.get(cid)
            if h is None or not h.settling:
                return
            del self._held[cid]
        self._report.run_ended(h.name, dataclasses.replace(h.end, cause=Cause.STOPPED))

    def _on_health(self, api: EngineClient, name: str, cid: str, action: str, *, live: bool) -> None:
        """A ``health_status`` event: report the run's health; stop it if it is unhealthy.

        A live ``unhealthy`` event is the verdict even if a pass has flipped Docker's status back
        since (the kernel's UNHEALTHY is final for a run, ``kernel/health.py``); a replayed one
        may be about an earlier run, so only the status inspected now counts for it.
        """
        try:
            attrs = api.inspect(cid)
        except NotFound:
            return  # removed since: the destroy event reports it
        state = attrs["State"]
        health = state.get("Health") or {}
        if not state["Running"]:
            return  # ended since: its die event reports it
        status = health.get("Status", "")
        log = health.get("Log") or [{}]
        if status in _VERDICTS:
            at = parse_time_ns(log[-1].get("End", "")) or time.time_ns()
            report = HealthReport.make(
                _VERDICTS[status], int(health.get("FailingStreak", 0)), log[-1].get("Output", ""), at / 1e9
            )
            self._report.health(name, report)
        if status == "unhealthy" or (live and action == "health_status: unhealthy"):
            self._kill_unhealthy(name, cid)

    def _kill_unhealthy(self, name: str, cid: str) -> None:
        """Stop ``cid``'s run once, as ``docker stop`` does, on a thread of its own (it blocks up
        to the stop timeout, and the events thread must go on reading)."""
        with self._lock:
            if cid in self._unhealthy:
                return
            self._unhealthy.add(cid)
        logger.warning("%s: unhealthy; stopping it", name, extra={"workload": name, "cause": "UNHEALTHY"})

        def stop() -> None:
            try:
                self._c().api.stop(cid, timeout=self._stop_timeout)
            except NotFound:
                pass  # removed meanwhile: the destroy event reports it
            except (RuntimeUnavailable, EngineError) as exc:
                # Its death, when the daemon answers again, is still UNHEALTHY (_run_end).
                logger.warning("%s: stopping the unhealthy container failed: %s", name, exc)

        threading.Thread(target=stop, name="relaunch-docker-health-stop", daemon=True).start()

    def _advance_cursor(self, event_ns: int) -> None:
        with self._lock:
            if self._last_ns is None or event_ns > self._last_ns:
                self._last_ns = event_ns
            # Never persist a resume point past a death not yet handed over.
            cursor = min([self._last_ns, *(h.event_ns for h in self._held.values())])
        self._report.cursor_changed(format_since(cursor))

    def _lost_contact(self) -> None:
        """The stream ended: deaths still held were the daemon going away, not an operator."""
        self._connected.clear()
        with self._lock:
            self._stream = None
            self._begin_outage()
            held, self._held = self._held, {}
            # A kill seen shortly before the stream ended, whose death never came through: the
            # daemon may end the stream within milliseconds of its shutdown kills (measured:
            # 30 ms), so such a death gets the same verdict as a held one.
            recent = time.monotonic() - self._stop_grace
            self._kill_lost.update(cid for cid, seen in self._killed.items() if seen >= recent)
        for h in held.values():
            # Podman's service going away kills nothing: a kill before it was an operator's.
            self._hand_over(h, lost=not self._podman)

    def _begin_outage(self) -> None:
        """Start an outage window unless one is open (called with the lock held)."""
        if not self._outages or self._outages[-1][1] is not None:
            # The daemon may have stopped answering any time after it last did (a frozen daemon
            # is noticed one ping later), so the window opens at the last contact.
            self._outages.append([self._last_contact_ns or time.time_ns(), None])
            del self._outages[:-8]

    def _in_outage(self, ns: int) -> bool:
        """Whether ``ns`` falls in a period without contact (called with the lock held)."""
        return any(
            start is not None and start <= ns and (end is None or ns <= end) for start, end in self._outages
        )

    def _hand_over(self, h: _Held, *, lost: bool) -> None:
        end = h.end
        if lost:
            end = RunEnd(
                end.run, end.started_at, end.ended_at, end.exit_code, end.signal, Cause.LOST, end.detail
            )
        self._report.run_ended(h.name, end)

    def _close_stream(self) -> None:
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()

    # -- watchdog ---------------------------------------------------------------------------

    def _watchdog(self) -> None:
        while not self._closing.wait(self._ping_interval):
            self._release_expired()
            if not self._connected.is_set():
                continue
            try:
                self._ping()
                with self._lock:
                    self._last_contact_ns = time.time_ns()
            except RuntimeUnavailable as exc:
                logger.warning("docker ping failed (%s); closing the events stream", exc)
                # Mark the outage before the stream thread notices, so nothing held is released
                # as an operator stop in between.
                with self._lock:
                    self._begin_outage()
                self._connected.clear()
                self._close_stream()

    def _release_expired(self) -> None:
        now = time.monotonic()
        with self._lock:
            if not self._connected.is_set():
                return
            due = [cid for cid, h in self._held.items() if h.deadline <= now]
            released = [self._held.pop(cid) for cid in due]
        for h in released:
            self._hand_over(h, lost=False)
