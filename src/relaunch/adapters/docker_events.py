"""What the engine's events say about our containers: followed live, replayed after a gap, made run ends.

What this module owns: :class:`ContainerEvents`, which follows one supervisor's containers on
one engine (Docker or Podman): the events stream and its filters, the replay of what happened
while contact was lost, reconnecting forever with capped backoff, the resume cursor, the
outage windows and the watchdog that opens them, and what the events tell about each
container's current run: its kills, the deaths held until they can be told apart (an
operator's stop, a daemon going away, Podman's settling), its health verdicts and the stop an
``unhealthy`` one causes, and so the cause of each run's end (:meth:`ContainerEvents.run_end`).
It must not create, start or remove a container, nor know the workloads' specs: ``docker.py``
does, and is called back after each (re)connection to report what every watched workload is
(``reconcile``) and when a container is destroyed (``dropped``). The facts it relies on (the
events of ``docker stop``, ``kill`` and ``rm -f``, a daemon's SIGTERM, SIGKILL and SIGSTOP, the
event log's limits and filters, ``health_status``, Podman's events) are measured and listed in
``docker.py``'s module docstring, beside the rest of the two engines' behaviour.

Threads and locks (every lock here is a leaf: never held while calling the sink, the runtime's
callbacks or the engine, nor while taking another):

=============================  ==================================================================
thread                         what it does, and the locks it takes
=============================  ==================================================================
``relaunch-docker-events``     follows the stream (replay, reconciliation, live events) and
                               reconnects; ``self._lock`` for the run facts, the held deaths,
                               the cursor and the outages; ``Engine._lock`` on first contact;
                               the callbacks take ``DockerRuntime._lock``
``relaunch-docker-watchdog``   pings the engine every ``ping_interval`` while connected, opens an
                               outage and closes the stream when a ping fails, and releases held
                               deaths whose grace is over; ``self._lock``
``relaunch-docker-health-stop``  one per health kill, short-lived: ``docker stop`` of an
                               unhealthy container (it blocks up to the stop timeout); no lock
the core's threads             through ``DockerRuntime``: :meth:`~ContainerEvents.run_end`,
                               :meth:`~ContainerEvents.stopping`,
                               :meth:`~ContainerEvents.kill_unhealthy`; ``self._lock``
=============================  ==================================================================
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from relaunch import Cause, Verdict
from relaunch.adapters.containers import LABEL_SUPERVISOR, LABEL_WORKLOAD
from relaunch.adapters.engine_api import (
    Engine,
    EngineClient,
    EngineError,
    EventStream,
    NotFound,
    format_since,
    parse_time_ns,
)
from relaunch.adapters.runtime import HealthReport, RunEnd, RuntimeUnavailable, Sink

__all__ = ["ContainerEvents"]

logger = logging.getLogger("relaunch.docker")

# State.Health.Status values (moby api/types/types.go: Starting, Healthy, Unhealthy).
_VERDICTS = {verdict.value: verdict for verdict in Verdict}

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


@dataclass(slots=True)
class _Held:
    """A death after a ``kill``: the operator's stop, unless the daemon goes away first.

    On Podman, also a death without one (``settling``): an operator's stop may still show itself
    by the events that follow the death (``docker.py``'s module docstring), else it is released as it is.
    """

    name: str
    end: RunEnd
    deadline: float  # time.monotonic()
    event_ns: int
    settling: bool = False


class ContainerEvents:
    """Follows the events of the containers labelled ``io.relaunch.supervisor=<supervisor_id>``.

    Made by ``DockerRuntime``, which shares its ``closing`` event and its :class:`Engine` and is
    called back through ``reconcile(api, now_ns)`` (report what each watched workload is, after a
    (re)connection) and ``dropped(name, cid)`` (``cid``, destroyed, is no longer ``name``'s).
    """

    def __init__(
        self,
        supervisor_id: str,
        engine: Engine,
        closing: threading.Event,
        *,
        reconcile: Callable[[EngineClient, int], None],
        dropped: Callable[[str, str], None],
        stop_grace: float,
        ping_interval: float,
        reconnect_initial: float,
        reconnect_cap: float,
        stop_timeout: int,
    ) -> None:
        self._id = supervisor_id
        self._engine = engine
        self._closing = closing
        self._reconcile = reconcile
        self._dropped = dropped
        self._stop_grace = stop_grace
        self._ping_interval = ping_interval
        self._reconnect_initial = reconnect_initial
        self._reconnect_cap = reconnect_cap
        self._stop_timeout = stop_timeout
        self._lock = threading.Lock()
        self._connected = threading.Event()
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
    def _report(self) -> Sink:
        if self._sink is None:
            raise RuntimeError("DockerRuntime.open() has not been called")
        return self._sink

    def start(self, sink: Sink, cursor: str | None) -> None:
        """Start following, from ``cursor`` (the last one reported, if any), on two threads."""
        self._sink = sink
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

    def close(self) -> None:
        """End the stream and join the threads, within 0.9 s (``closing`` is set already)."""
        self._close_stream()
        deadline = time.monotonic() + 0.9
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def stopping(self, cid: str) -> None:
        """We are stopping ``cid`` ourselves: its death is ``STOPPED``."""
        with self._lock:
            self._stopping.add(cid)

    def run_end(self, attrs: dict[str, Any]) -> RunEnd:
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
            elif not self._engine.podman and (cid in self._kill_lost or self._in_outage(finished_ns)):
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
        # ``die``; ``stop`` and ``cleanup`` tell its operator stops (``docker.py``'s module docstring).
        events = (
            ["start", "kill", "died", "remove", "stop", "cleanup", "health_status"]
            if self._engine.podman
            else ["start", "kill", "die", "destroy", "health_status"]
        )
        return {"type": ["container"], "label": [f"{LABEL_SUPERVISOR}={self._id}"], "event": events}

    def _since(self, ns: int) -> str:
        """``since``/``until`` for the engine: Podman takes whole seconds only (a fraction gives an
        empty stream that ends at once, without an error, measured)."""
        return str(ns // 1_000_000_000) if self._engine.podman else format_since(ns)

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
        api = self._engine.api()
        self._engine.ping()
        asked = time.monotonic_ns()
        now_ns = parse_time_ns(str(api.info().get("SystemTime", "")))
        if now_ns is None:
            raise RuntimeUnavailable("info: the engine named no SystemTime")
        if self._engine.podman:
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
        self._reconcile(api, now_ns)
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

    def _forget_run(self, cid: str) -> None:
        """Drop what was known of the container's last run (a new run starts, or it is gone);
        called with the lock held."""
        self._killed.pop(cid, None)
        self._kill_lost.discard(cid)
        self._stopping.discard(cid)
        self._cleanups.pop(cid, None)
        self._unhealthy.discard(cid)

    def _on_event(self, api: EngineClient, event: Mapping[str, Any], *, live: bool) -> None:
        action = str(event.get("Action") or event.get("status") or "")
        cid = event.get("id", "")
        attrs = (event.get("Actor") or {}).get("Attributes") or {}
        name = attrs.get(LABEL_WORKLOAD)
        event_ns = int(event.get("timeNano", 0))
        if name is None or attrs.get(LABEL_SUPERVISOR) != self._id:
            return
        action = _PODMAN_ACTIONS.get(action, action) if self._engine.podman else action
        if action == "start":
            with self._lock:
                self._forget_run(cid)
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
                self._forget_run(cid)
                self._held.pop(cid, None)
            self._dropped(name, cid)
            self._report.removed(name)
        self._advance_cursor(event_ns)

    def _on_die(self, api: EngineClient, name: str, cid: str, event_ns: int, *, live: bool) -> None:
        try:
            attrs = api.inspect(cid)
        except NotFound:
            return  # removed right after dying (rm -f): the destroy event reports it
        if attrs["State"]["Running"]:
            return  # already running again: the start event has been or will be reported
        end = self.run_end(attrs)
        with self._lock:
            hold = live and end.cause is Cause.STOPPED and cid not in self._stopping
            settle = live and self._engine.podman and end.cause is Cause.EXITED and cid not in self._stopping
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
            self.kill_unhealthy(name, cid)

    def kill_unhealthy(self, name: str, cid: str) -> None:
        """Stop ``cid``'s run once, as ``docker stop`` does, on a thread of its own (it blocks up
        to the stop timeout, and the events thread must go on reading)."""
        with self._lock:
            if cid in self._unhealthy:
                return
            self._unhealthy.add(cid)
        logger.warning("%s: unhealthy; stopping it", name, extra={"workload": name, "cause": "UNHEALTHY"})

        def stop() -> None:
            try:
                self._engine.api().stop(cid, timeout=self._stop_timeout)
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
            self._hand_over(h, lost=not self._engine.podman)

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
                self._engine.ping()
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
