"""Health-driven restarts of local processes, with each probe kind against a target the test controls.

The targets are the test's own: a file (exec probe ``test -f``), a TCP listener and an HTTP
server (``http.server``), all on 127.0.0.1 with port 0. Each is switched between passing and
failing by the test. Probe intervals are 0.1 s; the hour-long version of "fails later" is the
probe machine's unit test (``tests/kernel/test_health.py``), on virtual time.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from relaunch import Action, Cause, HealthCheck, ProbeResult, Rule, Verdict
from relaunch.adapters.probes import ExecProbe, Health, HttpProbe, Probe, TcpProbe, run_probe
from relaunch.adapters.process import ProcessSpec
from relaunch.adapters.supervisor import Phase
from test_process import Harness, harness, policy, wait_for

__all__ = ["harness"]  # the fixture, used by name

FOREVER = ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
FAST = HealthCheck(interval=0.1, timeout=1.0, retries=2)


class Target:
    """Something a probe checks, that the test makes pass (``up``) or fail (``down``)."""

    probe: Probe

    def up(self) -> None:
        raise NotImplementedError

    def down(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class FileTarget(Target):
    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "healthy"
        self.probe = ExecProbe(["sh", "-c", f"test -f {self.path} || {{ echo missing; exit 1; }}"])

    def up(self) -> None:
        self.path.touch()

    def down(self) -> None:
        self.path.unlink(missing_ok=True)


class TcpTarget(Target):
    def __init__(self) -> None:
        self.listener: socket.socket | None = None
        self.port = 0
        self.up()
        self.probe = TcpProbe(self.port)
        self.down()

    def up(self) -> None:
        if self.listener is None:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self.port = listener.getsockname()[1]
            self.listener = listener

    def down(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    def close(self) -> None:
        self.down()


class HttpTarget(Target):
    def __init__(self) -> None:
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code = 200 if target.healthy else 503
                body = b"ok" if target.healthy else b"overloaded"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.healthy = False
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.probe = HttpProbe(f"http://127.0.0.1:{self.server.server_address[1]}/healthz")

    def up(self) -> None:
        self.healthy = True

    def down(self) -> None:
        self.healthy = False

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=["exec", "tcp", "http"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    made: Target = {"exec": lambda: FileTarget(tmp_path), "tcp": TcpTarget, "http": HttpTarget}[
        request.param
    ]()
    yield made
    made.close()


def health_of(harness_sup: Any, name: str) -> Verdict | None:
    report = harness_sup.status(name).health
    return None if report is None else report.verdict


def test_failing_probe_is_restarted_as_unhealthy_until_the_budget_is_spent(
    harness: Harness, target: Target
) -> None:
    """A run whose probe always fails is stopped as UNHEALTHY, restarted twice, then given up."""
    sup, _ = harness.supervisor()
    sup.add("sick", ProcessSpec(FOREVER, Health(target.probe, FAST)), policy(2))
    wait_for(lambda: sup.status("sick").phase is Phase.GIVEN_UP, timeout=10)
    events = harness.decisions("sick")
    assert [e.outcome.cause for e in events] == [Cause.UNHEALTHY] * 3
    assert [e.decision.action for e in events] == [Action.RETRY, Action.RETRY, Action.GIVE_UP]
    assert events[0].decision.rule is Rule.UNHEALTHY
    # Ended by our SIGTERM, which the trap turns into exit 0: still UNHEALTHY, never STOPPED.
    assert all(e.outcome.exit_code == 0 for e in events)
    for event in events:
        assert event.health is not None
        assert (event.health.verdict, event.health.failures) == (Verdict.UNHEALTHY, 2)


def test_healthy_within_its_start_period_is_never_restarted(harness: Harness, target: Target) -> None:
    """Failures in the start period do not count: a run healthy after 0.5 s of a 2 s start period runs on."""
    check = HealthCheck(interval=0.1, timeout=1.0, retries=1, start_period=2.0, start_interval=0.1)
    sup, _ = harness.supervisor()
    sup.add("slow", ProcessSpec(FOREVER, Health(target.probe, check)), policy())
    wait_for(lambda: sup.status("slow").health is not None)  # failing, uncounted
    assert health_of(sup, "slow") is Verdict.STARTING
    time.sleep(0.5)
    target.up()
    wait_for(lambda: health_of(sup, "slow") is Verdict.HEALTHY)
    time.sleep(2.0)
    assert harness.decisions("slow") == []
    assert sup.status("slow").phase is Phase.RUNNING
    assert health_of(sup, "slow") is Verdict.HEALTHY


def test_probe_that_starts_failing_later_restarts_the_run_once(harness: Harness, target: Target) -> None:
    """A healthy run whose probe starts failing is restarted once, and the new run is healthy again."""
    target.up()
    sup, runtime = harness.supervisor()
    sup.add("later", ProcessSpec(FOREVER, Health(target.probe, FAST)), policy())
    wait_for(lambda: health_of(sup, "later") is Verdict.HEALTHY)
    first = wait_for(lambda: runtime.process("later")).pid
    target.down()
    (event,) = harness.wait_decisions("later", 1)
    target.up()
    assert (event.outcome.cause, event.decision.action) == (Cause.UNHEALTHY, Action.RETRY)
    assert event.health is not None
    assert event.health.verdict is Verdict.UNHEALTHY
    wait_for(lambda: health_of(sup, "later") is Verdict.HEALTHY)
    assert wait_for(lambda: runtime.process("later")).pid != first
    time.sleep(0.5)
    assert len(harness.decisions("later")) == 1


def test_operator_stop_of_a_probed_run_is_stopped(harness: Harness, tmp_path: Path) -> None:
    """An operator stop of a probed, healthy run is STOPPED and not restarted."""
    sup, _ = harness.supervisor()
    sup.add("calm", ProcessSpec(FOREVER, Health(ExecProbe(["true"]), FAST)), policy())
    wait_for(lambda: health_of(sup, "calm") is Verdict.HEALTHY)
    sup.stop("calm")
    (event,) = harness.wait_decisions("calm", 1)
    assert (event.outcome.cause, event.decision.action) == (Cause.STOPPED, Action.STOP)


def test_every_probe_of_every_workload_runs_on_one_timer(harness: Harness) -> None:
    """Twenty probed workloads add no thread: the prober's one timer and its fixed few workers serve them all."""

    def probe_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith("relaunch-probe")]

    before = probe_threads()
    sup, _ = harness.supervisor()
    ours = [t for t in probe_threads() if t not in before]
    assert sorted(t.name for t in ours) == [f"relaunch-probe-{n}" for n in range(4)] + [
        "relaunch-probe-timer"
    ]
    for n in range(20):
        sup.add(f"w{n}", ProcessSpec(FOREVER, Health(ExecProbe(["true"]), FAST)), policy())
    wait_for(lambda: all(health_of(sup, f"w{n}") is Verdict.HEALTHY for n in range(20)), timeout=15)
    assert [t for t in probe_threads() if t not in before] == ours


def test_exec_probe_that_overruns_its_timeout_is_a_timeout_and_its_group_is_killed(tmp_path: Path) -> None:
    """An exec probe that outlives its timeout is TIMEOUT, and the processes it started are killed."""
    marker = tmp_path / "survived"
    probe = ExecProbe(["sh", "-c", f"(sleep 0.6; touch {marker}) & sleep 5"])
    began = time.monotonic()
    result, _ = run_probe(probe, 0.2)
    assert result is ProbeResult.TIMEOUT
    assert time.monotonic() - began < 2.0
    time.sleep(0.8)
    assert not marker.exists()


def test_probe_results_of_each_kind(tmp_path: Path) -> None:
    """Exit 0 passes and exit 1 fails; a refused connect fails; 2xx/3xx pass and 5xx fails."""
    assert run_probe(ExecProbe(["sh", "-c", "echo fine"]), 1.0) == (ProbeResult.PASS, "fine\n")
    assert run_probe(ExecProbe(["false"]), 1.0)[0] is ProbeResult.FAIL
    assert run_probe(ExecProbe([str(tmp_path / "missing")]), 1.0)[0] is ProbeResult.FAIL
    tcp = TcpTarget()
    assert run_probe(tcp.probe, 1.0)[0] is ProbeResult.FAIL
    tcp.up()
    assert run_probe(tcp.probe, 1.0)[0] is ProbeResult.PASS
    tcp.close()
    web = HttpTarget()
    result, output = run_probe(web.probe, 1.0)
    assert (result, output) == (ProbeResult.FAIL, "HTTP 503 Service Unavailable: overloaded")
    web.up()
    assert run_probe(web.probe, 1.0) == (ProbeResult.PASS, "HTTP 200 OK: ok")
    web.close()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: TcpProbe(80, host="10.0.0.1"), "TcpProbe.host: must be a loopback address"),
        (lambda: TcpProbe(80, host="example.com"), "TcpProbe.host: must be a loopback address"),
        (lambda: TcpProbe(0), "TcpProbe.port: must be a port number 1-65535, got 0"),
        (lambda: HttpProbe("http://192.168.1.1/health"), "HttpProbe.url: must be a loopback address"),
        (lambda: HttpProbe("https://127.0.0.1/"), "HttpProbe.url: must be an http:// URL"),
        (lambda: ExecProbe([]), "ExecProbe.argv: must be a non-empty list"),
    ],
)
def test_probes_off_loopback_or_malformed_are_refused_naming_the_field(make: Any, message: str) -> None:
    """A probe of a non-loopback address, or a malformed one, is refused naming the field and the value."""
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.")):
        make()


def test_loopback_probes_are_accepted() -> None:
    """127.0.0.0/8, ::1 and localhost are loopback."""
    assert TcpProbe(8080, host="127.1.2.3").host == "127.1.2.3"
    assert HttpProbe("http://[::1]:9000/h?x=1").target == "/h?x=1"
    assert HttpProbe("http://localhost/").port == 80
