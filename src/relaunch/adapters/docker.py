"""The Docker runtime: watch labelled containers, turn their deaths into run ends, start them.

It drives Docker or Podman (both serve the Docker API); the Podman section below says where
Podman differs and how this module adapts.

Install with the ``docker`` extra (the Docker SDK for Python). The kernel never imports this
module; the supervisor core (``supervisor.py``) decides what to do with what is reported here.

What this module owns: :class:`DockerRuntime`, the contract of ``runtime.py`` (``open``,
``watch``, ``observe``, ``start``, ``stop``, ``forget``, ``close``): which container is each
workload's (found by name, adopted only if labelled ours, its restart policy switched off),
creating one from its spec, starting, stopping and removing it, and what each workload is after
every (re)connection. It must not follow the events nor classify a run's end itself, nor define
names, labels or specs; those are its neighbours' (each says what it owns and must not do):

- ``containers.py``: :class:`ContainerSpec` and its option checks, :func:`container_name`, the
  labels and the check that a container is ours (re-exported here);
- ``docker_events.py``: the events stream, replay, reconnection, cursor, outage windows and
  watchdog, and what the events say of each run (kills, held deaths, health verdicts, the cause
  of each end);
- ``engine_api.py``: every call to the engine but create() (which goes through the SDK), the
  first contact (API version, Docker or Podman) and the engine's time formats.

Threads and locks: the core's threads call the contract methods; ``self._lock`` (a leaf) guards
the specs and the container ids, and the SDK's client is made under ``self._sdk_lock`` (a leaf).
The threads that follow the events are ``docker_events.py``'s (its table says which locks they
take); they call back :meth:`DockerRuntime._reconcile` and :meth:`DockerRuntime._dropped`, which
take ``self._lock``. No lock is held while calling the engine, the sink or the other module.

The facts below, measured, are those of both modules.

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
- The daemon forgets its event log when it restarts, and keeps only the last 256 events
  (moby ``daemon/events/events.go``, ``eventsLimit``);
  ``events(since=)`` is inclusive and takes an exact ``"<seconds>.<nanoseconds>"`` string.
  Unknown filter keys are silently ignored (measured on Docker 20.10: ``/events`` with the filter
  ``{"bogus_key": ["x"]}`` answers 200 with every event), so only documented ones are used
  (``type``, ``label``, ``event``).
- Health checks (the image's ``HEALTHCHECK`` or a ``healthcheck`` create() option): the daemon
  emits ``health_status: starting|healthy|unhealthy`` (the event's Action) only when the status
  changes, not per probe, and the filter ``event=health_status`` selects them (measured). It
  never acts on the status (moby#28400). We do: on ``unhealthy`` the container is stopped with
  the stop timeout, like an operator's ``docker stop``, and that run's end is ``UNHEALTHY``
  however it then dies (``docker_events.py``, ``_on_health``).
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
  (1.41 on both); Podman's adds ``Libpod-Api-Version``, which is how ``engine_api.Engine`` tells. Its
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

import contextlib
import logging
import threading
from typing import Any

import docker
import docker.errors
import requests.exceptions

from relaunch.adapters.containers import (
    LABEL_SUPERVISOR,
    LABEL_WORKLOAD,
    NAME_RULE,
    ContainerSpec,
    ForeignContainerError,
    check_ours,
    container_name,
    labels,
)
from relaunch.adapters.docker_events import ContainerEvents
from relaunch.adapters.engine_api import (
    Engine,
    EngineClient,
    EngineError,
    NotFound,
    format_since,
    parse_time_ns,
)
from relaunch.adapters.runtime import (
    Ended,
    LiveRun,
    Missing,
    NotStarted,
    Observation,
    Resume,
    Running,
    RuntimeUnavailable,
    Sink,
    StartError,
)

__all__ = [
    "LABEL_SUPERVISOR",
    "LABEL_WORKLOAD",
    "ContainerSpec",
    "DockerRuntime",
    "ForeignContainerError",
    "container_name",
    "format_since",
    "parse_time_ns",
]

logger = logging.getLogger("relaunch.docker")

# Reconnection attempts back off from 0.1 s to this cap. A failed attempt on a unix socket costs
# about a millisecond, and the cap bounds how long a workload stays down after the daemon
# answers again: under a second is the aim, and at a 5 s cap it took 0.6 to 3.2 s (measured).
RECONNECT_CAP_S = 0.5

# What the SDK (used for create() only, engine_api.py says why) raises when the daemon does not
# answer: requests' errors when it is down or frozen (measured), and the SDK's own base class.
_SDK_UNREACHABLE = (requests.exceptions.RequestException, docker.errors.DockerException)


class DockerRuntime:
    """Supervises containers labelled ``io.relaunch.supervisor=<supervisor_id>``.

    Threads: ``docker_events.py``'s (one follows the events stream and reconnects forever with
    capped backoff, one watchdog pings the daemon with a short timeout and releases held stop
    verdicts, and a short-lived one per health kill waits for its ``docker stop``).
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
        if not NAME_RULE.match(supervisor_id):
            raise ValueError(f"supervisor_id: must match {NAME_RULE.pattern}, got {supervisor_id!r}")
        if stop_grace <= ping_interval:
            # The failed ping is what tells a daemon shutdown from an operator's stop.
            raise ValueError(f"stop_grace ({stop_grace}) must exceed ping_interval ({ping_interval})")
        self._id = supervisor_id
        self._closing = threading.Event()
        self._engine = Engine(base_url, timeout=api_timeout, ping_timeout=ping_timeout, closing=self._closing)
        self._api_timeout = api_timeout
        self._stop_timeout = stop_timeout
        self._sdk: docker.DockerClient | None = None  # for create() only, made on first use
        self._sdk_lock = threading.Lock()
        self._lock = threading.Lock()
        self._specs: dict[str, ContainerSpec] = {}
        self._ids: dict[str, str] = {}  # workload name -> id of its container, once seen
        self._sink: Sink | None = None
        self._events = ContainerEvents(
            supervisor_id,
            self._engine,
            self._closing,
            reconcile=self._reconcile,
            dropped=self._dropped,
            stop_grace=stop_grace,
            ping_interval=ping_interval,
            reconnect_initial=reconnect_initial,
            reconnect_cap=reconnect_cap,
            stop_timeout=stop_timeout,
        )

    @property
    def supervisor_id(self) -> str:
        return self._id

    def name_of(self, workload: str) -> str:
        return container_name(self._id, workload)

    @property
    def _report(self) -> Sink:
        if self._sink is None:
            raise RuntimeError("DockerRuntime.open() has not been called")
        return self._sink

    # -- Runtime protocol -------------------------------------------------------------------

    def open(self, sink: Sink, resume: Resume) -> None:
        self._sink = sink
        self._events.start(sink, resume.cursor)

    def watch(self, name: str, spec: Any, run: LiveRun | None) -> None:
        # Containers need no saved run: they are found by their deterministic name and labels.
        if not isinstance(spec, ContainerSpec):
            raise TypeError(f"spec: must be a ContainerSpec, got {type(spec).__name__}")
        if not NAME_RULE.match(name):
            raise ValueError(f"workload name: must match {NAME_RULE.pattern}, got {name!r}")
        # Refuse a foreign container with our name now; if the daemon is down, reconciliation
        # checks again when it answers.
        with contextlib.suppress(RuntimeUnavailable):
            self._inspect(self._engine.api(), name)
        with self._lock:
            self._specs[name] = spec

    def observe(self, name: str) -> Observation:
        return self._observe(self._engine.api(), name)

    def start(self, name: str, *, create: bool) -> None:
        try:
            # By id, not by name: if ours was removed and someone made another container with
            # its name, starting by name would start theirs.
            cid = self._container_id(name)
            if cid is None and create:
                cid = self._create(name)
            if cid is not None:
                try:
                    self._engine.api().start(cid)
                    return
                except NotFound as exc:
                    # A 404 at start is either our container gone, or something it needs (its
                    # network, e.g. `--network bogusnet`): only the first is an operator's removal.
                    if self._inspect(self._engine.api(), name) is not None:
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
            self._events.stopping(cid)
            self._engine.api().stop(cid, timeout=self._stop_timeout)
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
                attrs = self._inspect(self._engine.api(), name)
                cid = None if attrs is None else str(attrs["Id"])
            if cid is not None:
                self._engine.api().remove(cid)
        except NotFound:
            return
        except EngineError as exc:
            raise RuntimeUnavailable(f"removal of {name}: {exc}") from exc

    def close(self) -> None:
        self._closing.set()
        self._events.close()
        self._engine.close()
        with self._sdk_lock:
            sdk, self._sdk = self._sdk, None
        if sdk is not None:
            sdk.close()

    # -- containers -------------------------------------------------------------------------

    def _container_id(self, name: str) -> str | None:
        with self._lock:
            cid = self._ids.get(name)
        if cid is None:
            attrs = self._inspect(self._engine.api(), name)
            cid = None if attrs is None else str(attrs["Id"])
        return cid

    def _create(self, name: str) -> str:
        with self._lock:
            spec = self._specs[name]
        options = {k: v for k, v in spec.options.items() if k != "labels"}
        try:
            container = self._sdk_client().containers.create(
                spec.image,
                spec.command,
                name=self.name_of(name),
                labels=labels(spec, self._id, name),
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
        version = self._engine.version()
        with self._sdk_lock:
            if self._sdk is None:
                base_url = self._engine.url or docker.utils.kwargs_from_env().get("base_url")
                self._sdk = docker.DockerClient(base_url=base_url, timeout=self._api_timeout, version=version)
            return self._sdk

    def _raise_start_error(self, name: str, exc: EngineError) -> None:
        # An engine error is the workload's fault (bad command: 400) unless the daemon itself is
        # going away (e.g. shutting down); tell them apart by asking the daemon.
        try:
            self._engine.ping()
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
        check_ours(attrs, self._id, name)
        with self._lock:
            self._ids[name] = attrs["Id"]
        if attrs["HostConfig"]["RestartPolicy"].get("Name", "") not in ("", "no"):
            if self._engine.podman:
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
                self._events.kill_unhealthy(name, attrs["Id"])
            return Running()
        if parse_time_ns(state["StartedAt"]) is None:
            return NotStarted()
        return Ended(self._events.run_end(attrs))

    def _reconcile(self, api: EngineClient, now_ns: int) -> None:
        """After a (re)connection at ``now_ns``: report what each watched workload is."""
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

    def _dropped(self, name: str, cid: str) -> None:
        """Container ``cid`` was destroyed: it is no longer ``name``'s."""
        with self._lock:
            if self._ids.get(name) == cid:
                del self._ids[name]
