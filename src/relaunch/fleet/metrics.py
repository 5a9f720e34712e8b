"""The fleet's Prometheus metrics (``relaunch run --metrics HOST:PORT``), through ``prometheus_client``.

Names follow Prometheus's conventions (base units, ``_total`` for counters, ``_seconds`` for
durations) and kube-state-metrics' shapes (kubernetes/kube-state-metrics,
``internal/store/pod.go``):

===================================================  ==========================================
metric                                               what it is
===================================================  ==========================================
``relaunch_decisions_total{workload,action}``        decisions this daemon made (counter)
``relaunch_restarts_total{workload,rule}``           decisions that restart, by rule (counter)
``relaunch_store_commit_seconds``                    store commit durations (histogram)
``relaunch_workload_phase{workload,phase}``          1 for the workload's phase, 0 for every
                                                     other (``kube_pod_status_phase``,
                                                     ``createPodStatusPhaseFamilyGenerator``)
``relaunch_workload_restarts_total{workload}``       the restarts in the persisted state: it
                                                     survives daemon restarts, as
                                                     ``kube_pod_container_status_restarts_total``
                                                     reports the pod's own count
                                                     (``createPodContainerStatusRestarts...``)
``relaunch_budget_remaining{workload}``              restarts the budget admits now (+Inf when
                                                     unlimited)
``relaunch_store_healthy``                           1 while the store takes commits, else 0
===================================================  ==========================================

The first three are recorded as things happen (:meth:`FleetMetrics.on_decision` is a decision
hook, :class:`TimedStore` times commits); the others are read from the fleet at each scrape by a
custom collector, so they are never stale and cost nothing between scrapes. A registry made here
also carries ``prometheus_client``'s process, platform and GC collectors (CPU seconds, RSS, open
descriptors of the daemon itself).

Threads: the decision hook's thread and the store's writer thread update the counters and the
histogram (``prometheus_client`` locks them); a scrape runs on the HTTP server's threads and
calls ``FleetControl.status`` and the store-health callable, which must be thread-safe.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from relaunch.adapters.phase import Phase
from relaunch.adapters.store import Meta, Store, WorkloadRecord
from relaunch.adapters.supervisor import DecisionEvent
from relaunch.fleet.api import FleetControl

__all__ = ["COMMIT_BUCKETS", "FleetMetrics", "MetricsServer", "TimedStore", "parse_address"]

#: Seconds: an fsync'd SQLite commit takes 0.1 to 50 ms on the disks relaunch runs on (0.2 ms
#: here); the buckets are dense there and reach far enough to show a stalling disk.
COMMIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

_ADDRESS = re.compile(r"\[(?P<v6>[^\]]+)\]:(?P<v6port>\d+)|(?P<host>[^:\[\]]+):(?P<port>\d+)")


def parse_address(text: str, option: str = "--metrics") -> tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT`` or ``[IPv6]:PORT``; ValueError naming ``option`` and ``text``."""
    match = _ADDRESS.fullmatch(text)
    port = None if match is None else int(match["port"] or match["v6port"])
    if match is None or port is None or port > 65535:
        raise ValueError(f"{option}: must be HOST:PORT such as 127.0.0.1:9100 or [::1]:9100, got {text!r}")
    return match["host"] or match["v6"], port


class MetricsServer:
    """The HTTP server of the metrics; :meth:`close` stops it."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self._closed = False

    @property
    def port(self) -> int:
        """The port it listens on (the one the system chose for port 0)."""
        return int(self._server.server_port)

    def close(self) -> None:
        """Stop serving and release the port; idempotent. Takes up to half a second: the server
        notices ``shutdown`` at its next poll (``socketserver.serve_forever``, every 0.5 s)."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(1.0)


class _FleetCollector(Collector):
    """The metrics read from the fleet at each scrape (see the module docstring)."""

    def __init__(self, fleet: FleetControl, store_healthy: Callable[[], bool]) -> None:
        self._fleet = fleet
        self._store_healthy = store_healthy

    def describe(self) -> Iterable[Metric]:
        # The names alone, so that registering does not ask the fleet for its status.
        return self._families()

    def collect(self) -> Iterable[Metric]:
        phase, restarts, budget, healthy = families = self._families()
        for row in self._fleet.status():
            name = row["name"]
            for each in Phase:
                phase.add_metric([name, each.value], 1.0 if row["phase"] == each.value else 0.0)
            restarts.add_metric([name], float(row["restarts"]))
            left = row["budget_left"]
            budget.add_metric([name], math.inf if left is None else float(left))
        healthy.add_metric([], 1.0 if self._store_healthy() else 0.0)
        return families

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, CounterMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "relaunch_workload_phase",
                "Whether the workload is in this phase (1) or not (0).",
                labels=["workload", "phase"],
            ),
            CounterMetricFamily(
                "relaunch_workload_restarts",
                "Automatic restarts of the workload in its persisted state (kept across daemon restarts).",
                labels=["workload"],
            ),
            GaugeMetricFamily(
                "relaunch_budget_remaining",
                "Restarts the workload's budget admits now (+Inf when unlimited).",
                labels=["workload"],
            ),
            GaugeMetricFamily(
                "relaunch_store_healthy", "Whether the state store takes commits (1) or not (0).", labels=[]
            ),
        )


class FleetMetrics:
    """Every metric of one fleet, in ``registry`` (a new one, with process metrics, by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        if registry is None:
            registry = CollectorRegistry()
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                registry.register(collector)
        self.registry = registry
        self._decisions = Counter(
            "relaunch_decisions",
            "Decisions made by this daemon, by the action decided.",
            ["workload", "action"],
            registry=registry,
        )
        self._restarts = Counter(
            "relaunch_restarts",
            "Decisions of this daemon that restart the workload, by the rule that decided.",
            ["workload", "rule"],
            registry=registry,
        )
        self._commits = Histogram(
            "relaunch_store_commit_seconds",
            "Duration of each durable commit to the state store.",
            buckets=COMMIT_BUCKETS,
            registry=registry,
        )

    def on_decision(self, event: DecisionEvent) -> None:
        """Count one decision (a ``Supervisor`` decision hook)."""
        decision = event.decision
        self._decisions.labels(event.name, decision.action.value).inc()
        if decision.restarts:
            self._restarts.labels(event.name, decision.rule.value).inc()

    def observe_commit(self, seconds: float) -> None:
        """Record one store commit that took ``seconds``."""
        self._commits.observe(seconds)

    def bind(self, fleet: FleetControl, store_healthy: Callable[[], bool]) -> None:
        """Report ``fleet``'s phases, restarts and budgets, and ``store_healthy()``, at each scrape."""
        self.registry.register(_FleetCollector(fleet, store_healthy))

    def serve(self, address: str) -> MetricsServer:
        """Serve the registry over HTTP at ``address`` (``HOST:PORT``, as :func:`parse_address`).

        ValueError naming ``--metrics`` and the value if it is malformed or cannot be listened on.
        """
        host, port = parse_address(address)
        try:
            server, thread = start_http_server(port, host, registry=self.registry)
        except OSError as exc:  # socket.gaierror (an unknown host) is one too
            raise ValueError(f"--metrics {address}: cannot listen: {exc.strerror}") from None
        return MetricsServer(server, thread)


class TimedStore:
    """A :class:`~relaunch.adapters.store.Store` that reports how long each successful commit took.

    Everything is delegated to ``store``; ``observe(seconds)`` is called after each commit that
    returned (a failed one is the store-health's business, not a duration).
    """

    def __init__(self, store: Store, observe: Callable[[float], None]) -> None:
        self._store = store
        self._observe = observe

    @property
    def location(self) -> str:
        return self._store.location

    def open(self, supervisor_id: str) -> Meta:
        return self._store.open(supervisor_id)

    def load(self) -> dict[str, WorkloadRecord]:
        return self._store.load()

    def commit(
        self, records: Iterable[WorkloadRecord], cursor: str | None, forgotten: Collection[str] = ()
    ) -> None:
        began = time.perf_counter()
        self._store.commit(records, cursor, forgotten)
        self._observe(time.perf_counter() - began)

    def close(self) -> None:
        self._store.close()
