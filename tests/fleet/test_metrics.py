"""The fleet's Prometheus metrics, scraped over HTTP and parsed with prometheus_client's own parser."""

from __future__ import annotations

import math
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from relaunch import Cause, Constant, CountBudget, Outcome, Policy
from relaunch.adapters.phase import Phase
from relaunch.adapters.store import SqliteStore, StoreError
from relaunch.adapters.supervisor import DecisionEvent
from relaunch.fleet.metrics import FleetMetrics, MetricsServer, TimedStore, parse_address

from .double import MemoryFleet, row

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: MetricsServer, host: str = "127.0.0.1") -> tuple[Samples, dict[str, str]]:
    """Every sample by (name, labels), and every family's type, from one HTTP scrape."""
    with urllib.request.urlopen(f"http://{host}:{server.port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples, types


def labels(**pairs: str) -> frozenset[tuple[str, str]]:
    return frozenset(pairs.items())


@pytest.fixture
def fleet() -> MemoryFleet:
    return MemoryFleet(
        [
            row("web", phase="running", restarts=4, budget_left=2.0),
            row("db", phase="backing-off", restarts=9, budget_left=None),
            row("batch", phase="given-up", restarts=3, budget_left=0.0),
        ]
    )


@pytest.fixture
def metrics() -> FleetMetrics:
    return FleetMetrics(CollectorRegistry())


@pytest.fixture
def served(metrics: FleetMetrics) -> Iterator[MetricsServer]:
    server = metrics.serve("127.0.0.1:0")
    yield server
    server.close()


def test_phase_is_one_for_the_current_phase_and_zero_for_every_other(
    metrics: FleetMetrics, fleet: MemoryFleet, served: MetricsServer
) -> None:
    """relaunch_workload_phase has a series per (workload, phase), 1 only for the workload's phase."""
    metrics.bind(fleet, lambda: True)
    samples, types = scrape(served)
    assert types["relaunch_workload_phase"] == "gauge"
    for r in fleet.rows:
        for phase in Phase:
            expected = 1.0 if phase.value == r["phase"] else 0.0
            assert (
                samples["relaunch_workload_phase", labels(workload=r["name"], phase=phase.value)] == expected
            )
    fleet.rows[0]["phase"] = "stopped"
    samples, _ = scrape(served)
    assert samples["relaunch_workload_phase", labels(workload="web", phase="stopped")] == 1.0
    assert samples["relaunch_workload_phase", labels(workload="web", phase="running")] == 0.0


def test_budget_restarts_and_store_health_are_read_at_each_scrape(
    metrics: FleetMetrics, fleet: MemoryFleet, served: MetricsServer
) -> None:
    """Budget left (+Inf when unlimited), the persisted restarts and the store's health follow the fleet."""
    healthy = [True]
    metrics.bind(fleet, lambda: healthy[0])
    samples, types = scrape(served)
    assert samples["relaunch_budget_remaining", labels(workload="web")] == 2.0
    assert samples["relaunch_budget_remaining", labels(workload="db")] == math.inf
    assert samples["relaunch_budget_remaining", labels(workload="batch")] == 0.0
    assert types["relaunch_workload_restarts"] == "counter"
    assert samples["relaunch_workload_restarts_total", labels(workload="db")] == 9.0
    assert samples["relaunch_store_healthy", labels()] == 1.0
    healthy[0] = False
    fleet.rows[0]["restarts"] = 5
    samples, _ = scrape(served)
    assert samples["relaunch_store_healthy", labels()] == 0.0
    assert samples["relaunch_workload_restarts_total", labels(workload="web")] == 5.0


def _event(name: str, cause: Cause, exit_code: int) -> DecisionEvent:
    policy = Policy(backoff=Constant(1.0), budget=CountBudget(3))
    outcome = Outcome(started_at=0.0, ended_at=5.0, exit_code=exit_code, signal=None, cause=cause)
    return DecisionEvent(
        name=name, run="r1", outcome=outcome, decision=policy.decide(policy.start(0.0), outcome)
    )


def test_decisions_are_counted_by_action_and_restarts_by_rule(
    metrics: FleetMetrics, served: MetricsServer
) -> None:
    """Every decision counts in relaunch_decisions_total; only the restarting ones in relaunch_restarts_total."""
    crash = _event("web", Cause.EXITED, 1)
    stop = _event("web", Cause.STOPPED, 0)
    assert crash.decision.restarts
    assert not stop.decision.restarts
    for event in (crash, crash, stop, _event("db", Cause.EXITED, 1)):
        metrics.on_decision(event)
    samples, types = scrape(served)
    assert types["relaunch_decisions"] == types["relaunch_restarts"] == "counter"
    assert samples["relaunch_decisions_total", labels(workload="web", action="retry")] == 2.0
    assert samples["relaunch_decisions_total", labels(workload="web", action="stop")] == 1.0
    assert samples["relaunch_decisions_total", labels(workload="db", action="retry")] == 1.0
    assert samples["relaunch_restarts_total", labels(workload="web", rule="backoff")] == 2.0
    assert samples["relaunch_restarts_total", labels(workload="db", rule="backoff")] == 1.0
    assert not [
        key for key in samples if key[0] == "relaunch_restarts_total" and ("rule", "operator-stop") in key[1]
    ]


def test_timed_store_observes_each_successful_commit(
    tmp_path: Path, metrics: FleetMetrics, served: MetricsServer
) -> None:
    """TimedStore delegates to the store and records one histogram observation per commit that returned."""
    store = TimedStore(SqliteStore(tmp_path / "state.db"), metrics.observe_commit)
    assert store.location == str(tmp_path / "state.db")
    store.open("fleet")
    store.commit([], "cursor-1")
    store.commit([], None)
    assert store.load() == {}
    store.close()
    with pytest.raises(StoreError, match="not open"):
        store.commit([], None)  # a failed commit is not a duration
    samples, types = scrape(served)
    assert types["relaunch_store_commit_seconds"] == "histogram"
    assert samples["relaunch_store_commit_seconds_count", labels()] == 2.0
    assert samples["relaunch_store_commit_seconds_bucket", labels(le="+Inf")] == 2.0
    assert 0.0 < samples["relaunch_store_commit_seconds_sum", labels()] < 5.0
    assert ("relaunch_store_commit_seconds_bucket", labels(le="0.0001")) in samples
    assert ("relaunch_store_commit_seconds_bucket", labels(le="0.05")) in samples


def test_a_default_registry_carries_the_process_metrics() -> None:
    """FleetMetrics() with no registry also exports the daemon's own CPU and memory."""
    server = FleetMetrics().serve("127.0.0.1:0")
    try:
        samples, _ = scrape(server)
    finally:
        server.close()
    names = {name for name, _ in samples}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9100", ("127.0.0.1", 9100)),
        ("[::1]:9100", ("::1", 9100)),
        ("localhost:0", ("localhost", 0)),
        ("0.0.0.0:65535", ("0.0.0.0", 65535)),
    ],
)
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    """HOST:PORT and [IPv6]:PORT are read as (host, port)."""
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    "text", ["9100", "host:", ":9100", "::1:9100", "[::1]9100", "host:65536", "a:b", "", "h:9x"]
)
def test_a_bad_address_names_the_option_and_the_value(text: str) -> None:
    """A malformed address is a ValueError naming --metrics and the value."""
    with pytest.raises(ValueError, match=r"--metrics: must be HOST:PORT such as") as caught:
        parse_address(text)
    assert repr(text) in str(caught.value)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_serves_on_ipv6(metrics: FleetMetrics, fleet: MemoryFleet) -> None:
    """[::1]:PORT serves on the IPv6 loopback."""
    metrics.bind(fleet, lambda: True)
    server = metrics.serve("[::1]:0")
    try:
        samples, _ = scrape(server, host="[::1]")
    finally:
        server.close()
    assert samples["relaunch_store_healthy", labels()] == 1.0


def test_a_port_in_use_is_named_and_close_frees_the_port(metrics: FleetMetrics) -> None:
    """Serving on a taken port is a ValueError naming --metrics and the address; after close() the port is free."""
    first = metrics.serve("127.0.0.1:0")
    address = f"127.0.0.1:{first.port}"
    with pytest.raises(ValueError, match=rf"--metrics {address}: cannot listen: Address already in use"):
        metrics.serve(address)
    first.close()
    first.close()  # idempotent
    again = metrics.serve(address)
    again.close()


def test_an_unknown_host_is_named(metrics: FleetMetrics) -> None:
    """A host that does not resolve is a ValueError naming --metrics and the address."""
    with pytest.raises(ValueError, match=r"--metrics no-such-host\.invalid:9100: cannot listen"):
        metrics.serve("no-such-host.invalid:9100")


def test_binding_a_second_fleet_is_refused(metrics: FleetMetrics, fleet: MemoryFleet) -> None:
    """One registry reports one fleet: a second bind is refused, as duplicate series would be wrong."""
    metrics.bind(fleet, lambda: True)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        metrics.bind(fleet, lambda: True)
