"""Health probes of local workloads: a command, a TCP connect or an HTTP GET on loopback.

What this module owns: the three probe kinds (standard library only), running one with its
timeout, and :class:`Prober`, which schedules every probe of every workload of one runtime on
one timer. It decides nothing: each result goes to the kernel's ``HealthCheck.observe``
(``kernel/health.py``), which returns the verdict and when to probe next, and the verdicts go
to the caller's two callbacks. The process runtime (``process.py``) kills on UNHEALTHY.

- **Exec**: the command runs in a session of its own with stdin from ``/dev/null`` and stdout
  and stderr captured together, as Docker's ``CMD`` probe captures them (moby
  ``daemon/health.go``, ``cmdProbe.run``); exit 0 is a pass, any other status a failure, and a
  probe that overruns ``timeout`` is SIGKILLed with its whole group and is a ``TIMEOUT``. A
  command that cannot be executed is a failure (Docker: exit status -1 or 127).
- **TCP**: a connect that succeeds within ``timeout`` passes, a refused one fails (the kubelet's
  ``tcpSocket``: ``pkg/probe/tcp/tcp.go``, ``DoTCPProbe``, which only connects and closes).
- **HTTP**: a GET whose response status is 200 to 399 passes (the kubelet's ``httpGet``:
  ``pkg/probe/http/http.go``, ``DoHTTPProbe``, same range). ``timeout`` bounds each socket
  operation (``http.client``'s ``timeout``), so a slow trickle of bytes can take longer.
- **Loopback only**: TCP and HTTP probes address 127.0.0.0/8, ::1 or ``localhost``; anything
  else is refused at construction with the field and the value, so a health check can never
  send traffic off the host.

Threads and locks: one timer thread (``relaunch-probe-timer``) and ``workers`` probe threads
(``relaunch-probe-N``), both from :class:`~relaunch.adapters.scheduler.Scheduler`, so at most
``workers`` probes run at a time and a probe that is due while all are busy waits for one.
``Prober._lock`` guards the probe states; it is a leaf lock, released before a callback or a
probe runs and before the scheduler's lock is taken. A workload has at most one probe due or
running at a time: the next is scheduled only once the previous result is in.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import itertools
import logging
import os
import signal
import socket
import subprocess
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from relaunch.adapters.clock import Clock, SystemClock
from relaunch.adapters.runtime import OUTPUT_LIMIT, HealthReport
from relaunch.adapters.scheduler import Scheduler
from relaunch.kernel.health import HealthCheck, HealthState, ProbeResult, Verdict

__all__ = ["PROBE_WORKERS", "ExecProbe", "Health", "HttpProbe", "Probe", "Prober", "TcpProbe", "run_probe"]

logger = logging.getLogger("relaunch.probes")

# Probes in flight at once, per runtime. A TCP or HTTP probe on loopback takes well under a
# millisecond (benchmarks/health.py), so a few threads serve a thousand workloads; an exec probe
# forks, and this bounds how many forks a supervisor has out at once.
PROBE_WORKERS = 4


def _loopback(field_name: str, host: str) -> str:
    """``host`` if it is a loopback address or ``localhost``; else a ValueError naming the field."""
    if host == "localhost":
        return host
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(
        f"{field_name}: must be a loopback address (127.0.0.0/8, ::1 or localhost), got {host!r}"
    )


def _port(field_name: str, port: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"{field_name}: must be a port number 1-65535, got {port!r}")
    return port


@dataclass(frozen=True, slots=True)
class ExecProbe:
    """Run ``argv`` (looked up on ``PATH``): exit 0 passes."""

    argv: tuple[str, ...]

    def __init__(self, argv: Sequence[str]) -> None:
        args = tuple(argv)
        if not args or not all(isinstance(a, str) for a in args) or not args[0]:
            raise ValueError(f"ExecProbe.argv: must be a non-empty list of strings, got {argv!r}")
        object.__setattr__(self, "argv", args)


@dataclass(frozen=True, slots=True)
class TcpProbe:
    """Connect to ``host:port`` on loopback: a connection within the timeout passes."""

    port: int
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        _port("TcpProbe.port", self.port)
        _loopback("TcpProbe.host", self.host)


@dataclass(frozen=True, slots=True)
class HttpProbe:
    """GET ``url`` (``http://`` on loopback): a status of 200 to 399 passes."""

    url: str
    host: str = field(init=False)
    port: int = field(init=False)
    target: str = field(init=False)  # path and query

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"HttpProbe.url: must be an http:// URL with a host, got {self.url!r}")
        try:
            port = parts.port or 80
        except ValueError:
            raise ValueError(f"HttpProbe.url: bad port in {self.url!r}") from None
        object.__setattr__(self, "host", _loopback("HttpProbe.url", parts.hostname))
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "target", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))


Probe = ExecProbe | TcpProbe | HttpProbe


@dataclass(frozen=True, slots=True)
class Health:
    """A workload's health check: what to probe, and the kernel's ``HealthCheck`` for when."""

    probe: Probe
    check: HealthCheck = field(default_factory=HealthCheck)

    def __post_init__(self) -> None:
        if not isinstance(self.probe, ExecProbe | TcpProbe | HttpProbe):
            raise TypeError(f"Health.probe: must be an ExecProbe, TcpProbe or HttpProbe, got {self.probe!r}")
        if not isinstance(self.check, HealthCheck):
            raise TypeError(f"Health.check: must be a HealthCheck, got {self.check!r}")


def run_probe(probe: Probe, timeout: float) -> tuple[ProbeResult, str]:
    """Run ``probe`` once, waiting at most ``timeout`` seconds: its result and its output."""
    if isinstance(probe, ExecProbe):
        return _exec(probe, timeout)
    if isinstance(probe, TcpProbe):
        return _tcp(probe, timeout)
    return _http(probe, timeout)


def _exec(probe: ExecProbe, timeout: float) -> tuple[ProbeResult, str]:
    try:
        child = subprocess.Popen(
            probe.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return ProbeResult.FAIL, f"cannot execute {probe.argv[0]!r}: {exc.strerror}"
    with child:
        try:
            out, _ = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            out, _ = child.communicate()
            return ProbeResult.TIMEOUT, f"timed out after {timeout:g}s: {_text(out)}"
    result = ProbeResult.PASS if child.returncode == 0 else ProbeResult.FAIL
    return result, _text(out)


def _tcp(probe: TcpProbe, timeout: float) -> tuple[ProbeResult, str]:
    try:
        with socket.create_connection((probe.host, probe.port), timeout=timeout):
            return ProbeResult.PASS, ""
    except TimeoutError:
        return ProbeResult.TIMEOUT, f"connect to {probe.host}:{probe.port} timed out after {timeout:g}s"
    except OSError as exc:
        return ProbeResult.FAIL, f"connect to {probe.host}:{probe.port}: {exc.strerror or exc}"


def _http(probe: HttpProbe, timeout: float) -> tuple[ProbeResult, str]:
    conn = http.client.HTTPConnection(probe.host, probe.port, timeout=timeout)
    try:
        conn.request("GET", probe.target, headers={"User-Agent": "relaunch-probe"})
        response = conn.getresponse()
        body = response.read(OUTPUT_LIMIT)
    except TimeoutError:
        return ProbeResult.TIMEOUT, f"GET {probe.url} timed out after {timeout:g}s"
    except (OSError, http.client.HTTPException) as exc:
        return ProbeResult.FAIL, f"GET {probe.url}: {getattr(exc, 'strerror', None) or exc}"
    finally:
        conn.close()
    result = ProbeResult.PASS if 200 <= response.status < 400 else ProbeResult.FAIL
    return result, f"HTTP {response.status} {response.reason}: {_text(body)}"


def _text(data: bytes | None) -> str:
    return (data or b"")[: OUTPUT_LIMIT * 4].decode("utf-8", "replace")


@dataclass(slots=True)
class _Probed:
    key: str  # the run being probed
    health: Health
    state: HealthState
    token: int


#: ``on_report(name, key, report)`` after every probe; ``on_unhealthy(name, key, report)`` once,
#: before ``on_report``, when the run turns UNHEALTHY (so the kill is not behind the report).
Callback = Callable[[str, str, HealthReport], None]


class Prober:
    """Every probe of one runtime's runs on one timer (see the module docstring)."""

    def __init__(
        self,
        on_report: Callback,
        on_unhealthy: Callback,
        *,
        clock: Clock | None = None,
        workers: int = PROBE_WORKERS,
        probe: Callable[[Probe, float], tuple[ProbeResult, str]] = run_probe,
    ) -> None:
        self._on_report = on_report
        self._on_unhealthy = on_unhealthy
        self._clock: Clock = clock or SystemClock()
        self._probe = probe
        self._lock = threading.Lock()
        self._probed: dict[str, _Probed] = {}
        self._tokens = itertools.count(1)
        self._scheduler = Scheduler(
            self._clock, self._fire, workers=workers, role="probe", timer_name="relaunch-probe-timer"
        )

    def watch(self, name: str, key: str, health: Health) -> None:
        """Probe run ``key`` of ``name`` from now on, as ``health`` says (replacing any earlier run)."""
        state = health.check.begin(self._clock.monotonic())
        with self._lock:
            token = next(self._tokens)
            self._probed[name] = _Probed(key, health, state, token)
        self._scheduler.schedule(name, token, state.next_probe_at - self._clock.monotonic())

    def forget(self, name: str, key: str) -> None:
        """Stop probing run ``key`` of ``name`` (it ended); a probe under way is discarded."""
        with self._lock:
            probed = self._probed.get(name)
            if probed is not None and probed.key == key:
                del self._probed[name]

    def close(self, deadline: float) -> None:
        """Stop the timer and the workers (a probe under way is abandoned by ``deadline``)."""
        with self._lock:
            self._probed.clear()
        self._scheduler.close(deadline)

    def _fire(self, name: str, token: int) -> None:
        with self._lock:
            probed = self._probed.get(name)
            if probed is None or probed.token != token:
                return  # the run ended, or a newer run replaced it
            probe, check = probed.health.probe, probed.health.check
        try:
            result, output = self._probe(probe, check.timeout)
        except Exception as exc:  # a probe must not kill a worker: count it as a failure
            logger.exception("%s: probe raised", name, extra={"workload": name})
            result, output = ProbeResult.FAIL, f"probe error: {exc}"
        at = self._clock.monotonic()
        with self._lock:
            if self._probed.get(name) is not probed or probed.token != token:
                return
            verdict, state = check.observe(probed.state, result, max(at, probed.state.last_at))
            probed.state = state
            if verdict is not Verdict.UNHEALTHY:
                probed.token = token = next(self._tokens)
        report = HealthReport.make(verdict, state.failures, output, self._clock.time())
        if verdict is Verdict.UNHEALTHY:
            self._on_unhealthy(name, probed.key, report)
        else:
            self._scheduler.schedule(name, token, state.next_probe_at - at)
        self._on_report(name, probed.key, report)
