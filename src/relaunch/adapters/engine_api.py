"""A small client of the Docker Engine API (Docker and Podman both serve it), on the standard
library's sockets: the calls the container runtime makes on every event and every restart.

Why not the Docker SDK for these: measured here (Debian's Docker 20.10 on a unix socket, CPython
3.11, docker 7.2, requests 2.34), an inspect costs 0.71 ms of CPU through the SDK and 0.21 ms
here, a ping 0.68 ms and 0.13 ms. requests reads the whole environment for proxy settings on every
request (``requests.utils.get_environ_proxies``: 94,000 ``os.environ`` lookups in 15 s of the
crash-loop benchmark), and in that run the SDK opened a new connection for 607 of its 611
requests. With an inspect and a start per restart, plus pings and event decoding, the SDK was most
of the Docker runtime's 5.5 to 9 ms of supervisor CPU per restart (the fleet benchmark's target
is at most 2 ms).

The SDK still creates containers (``DockerRuntime._create``): ``ContainerSpec.options`` are its
``create()`` keyword arguments, which it maps to the API's ``Config`` and ``HostConfig``, and a
create happens once per container, not once per restart.

What is spoken (Docker Engine API reference, v1.41; the same paths the SDK uses):

- ``GET /_ping``, unversioned: its ``Api-Version`` header names the version to use, and Podman
  adds ``Libpod-Api-Version``.
- ``GET /v{V}/containers/{id}/json`` (inspect), ``POST .../start`` (204; 304 if it runs
  already), ``POST .../stop?t=`` (the request waits up to ``t`` seconds, so its timeout is
  ``t`` plus the client's), ``POST .../update`` (a JSON body), ``GET /v{V}/info``.
- ``GET /v{V}/events?since=&until=&filters=``: a chunked stream of JSON objects (one per line
  on both engines, parsed without relying on the newlines).
- Times: RFC 3339 with up to 9 fractional digits in what the engine writes (:func:`parse_time_ns`),
  and the exact ``"<seconds>.<nanoseconds>"`` form ``since``/``until`` take (:func:`format_since`).

First contact (:class:`Engine`): nothing is asked of the engine until a call needs it, since a
runtime must work (and wait) while the daemon is down; then the ping's headers name the API
version and the engine. Not the SDK's ``version="auto"``, which asks ``/version``: Podman answers
that in about 0.5 s (it runs conmon and runc to report theirs, measured), the ping in 10 ms on
both.

Errors: an answer with status 400 or more raises ``EngineError`` (``NotFound`` for 404) carrying
the engine's own message (the JSON body's ``message``, as the SDK's ``APIError.explanation``). No
answer (refused, reset, timed out, a malformed reply) raises ``RuntimeUnavailable``. A request
that fails on a kept-alive connection the engine had already closed (after a daemon restart, say)
is sent once more on a new one: every call here is idempotent (a repeated start or stop of the
same container changes nothing), so the retry cannot do anything twice.

Addresses: ``unix:///path`` and ``tcp://host:port`` (plain HTTP), from the argument or
``DOCKER_HOST`` (default ``unix:///var/run/docker.sock``). TLS and ssh are not spoken: an address
or a ``DOCKER_TLS_VERIFY`` that asks for them is refused with a ``ValueError`` naming it.

Threads: idle connections are pooled; a request takes one for its whole exchange (or opens one), so
threads share a client without waiting for each other. An event stream holds a connection of its
own, which ``EventStream.close`` shuts down from any thread: the reader's blocking read returns at
once and the iteration ends.
"""

from __future__ import annotations

import calendar
import codecs
import contextlib
import json
import os
import re
import socket
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from relaunch.adapters.runtime import RuntimeUnavailable

__all__ = [
    "DEFAULT_HOST",
    "Engine",
    "EngineClient",
    "EngineError",
    "EventStream",
    "NotFound",
    "ProtocolError",
    "engine_address",
    "format_since",
    "parse_time_ns",
]

DEFAULT_HOST = "unix:///var/run/docker.sock"

# Idle connections kept per client: the core's start workers, the events thread's inspections and
# a caller or two run at once; more than that are opened when needed and closed after use.
POOL_SIZE = 8

# An event is a few hundred bytes; a stream that sends this much without one is broken.
MAX_EVENT_BYTES = 1 << 20

# Failures that mean a kept-alive connection was closed by the engine before our request reached it.
_STALE = (ConnectionResetError, BrokenPipeError)


class EngineError(Exception):
    """The engine answered with an error status; ``explanation`` is its own message."""

    def __init__(self, status: int, explanation: str, request: str) -> None:
        super().__init__(f"{status} {explanation} ({request})")
        self.status = status
        self.explanation = explanation


class NotFound(EngineError):
    """404: no such container (or image, or network: the message says which)."""


def engine_address(url: str | None = None) -> tuple[str, str]:
    """``("unix", path)`` or ``("tcp", "host:port")`` for ``url``, ``DOCKER_HOST`` or the default."""
    field, text = ("base_url", url) if url else ("DOCKER_HOST", os.environ.get("DOCKER_HOST") or DEFAULT_HOST)
    if not url and os.environ.get("DOCKER_TLS_VERIFY"):
        raise ValueError(
            f"DOCKER_TLS_VERIFY: TLS is not supported, got {os.environ['DOCKER_TLS_VERIFY']!r}; "
            "use a unix socket or plain tcp://"
        )
    scheme, sep, rest = text.partition("://")
    if sep and scheme == "unix" and rest:
        return "unix", rest
    if sep and scheme in ("tcp", "http") and rest:
        host = rest.split("/", 1)[0]
        return "tcp", host if ":" in host else f"{host}:2375"
    raise ValueError(f"{field}: must be unix:///path or tcp://host:port, got {text!r}")


class ProtocolError(OSError):
    """The engine's answer is not the HTTP/1.1 this module speaks (cut short, or malformed)."""


class _Connection:
    """One HTTP/1.1 connection to the engine: a request, then its whole response, then the next.

    Its own, not ``http.client``'s: that parses every response's headers with the ``email``
    package, which was half of a request's CPU here (cProfile over the crash loop: 0.14 of 0.28 s
    for 240 requests). The engines answer with Content-Length, chunked bodies, or nothing (204,
    304); that is all this reads.
    """

    def __init__(self, kind: str, address: str, timeout: float | None) -> None:
        if kind == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: Any = address
        else:
            host, _, port = address.rpartition(":")
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            target = (host.strip("[]"), int(port))
        try:
            sock.settimeout(timeout)
            sock.connect(target)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self._file = sock.makefile("rb")
        self.keep_alive = True

    def settimeout(self, timeout: float | None) -> None:
        self.sock.settimeout(timeout)

    def send(self, method: str, target: str, body: bytes | None) -> None:
        head = f"{method} {target} HTTP/1.1\r\nHost: localhost\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        elif method == "POST":
            head += "Content-Length: 0\r\n"
        self.sock.sendall(head.encode("latin-1") + b"\r\n" + (body or b""))

    def head(self) -> tuple[int, dict[str, str]]:
        """The status and headers (names in lower case) of the response."""
        line = self._file.readline(65537)
        if not line:
            raise ConnectionResetError("the engine closed the connection without answering")
        version, _, rest = line.partition(b" ")
        try:
            status = int(rest[:3])
        except ValueError:
            raise ProtocolError(f"not an HTTP status line: {line[:80]!r}") from None
        headers: dict[str, str] = {}
        while True:
            line = self._file.readline(65537)
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise ProtocolError("the engine closed the connection inside the headers")
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        if version != b"HTTP/1.1" or headers.get("connection", "").lower() == "close":
            self.keep_alive = False
        return status, headers

    def body(self, method: str, status: int, headers: Mapping[str, str]) -> bytes:
        """The whole body of the response whose ``head`` was read."""
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return b"".join(self.chunks())
        length = headers.get("content-length")
        if length is None:
            self.keep_alive = False  # the body ends where the connection does
            return self._file.read()
        return self._exactly(int(length))

    def chunks(self) -> Iterator[bytes]:
        """A chunked body's chunks as they arrive (RFC 9112, section 7.1)."""
        while True:
            line = self._file.readline(65537)
            try:
                size = int(line.split(b";", 1)[0], 16)
            except ValueError:
                raise ProtocolError(f"not a chunk size: {line[:80]!r}") from None
            if size == 0:
                while self._file.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields: none that matter here
                return
            data = self._exactly(size)
            self._exactly(2)  # the chunk's CRLF
            yield data

    def _exactly(self, size: int) -> bytes:
        data = self._file.read(size)
        if len(data) != size:
            raise ProtocolError(f"the engine closed the connection {size - len(data)} bytes early")
        return data

    def shutdown(self) -> None:
        """Cut the connection now, from any thread: a read blocked on it returns at once."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._file.close()
        self.sock.close()


class EngineClient:
    """Requests to one engine, with ``timeout`` seconds per request unless a call says otherwise.

    ``version`` (e.g. ``"1.41"``) prefixes every path but the ping's; without it only ``ping``
    may be called (it tells the version to use).
    """

    def __init__(self, url: str | None = None, *, timeout: float, version: str | None = None) -> None:
        self._kind, self._address = engine_address(url)
        self._timeout = timeout
        self._prefix = "" if version is None else f"/v{version}"
        self._lock = threading.Lock()
        self._idle: list[_Connection] = []
        self._closed = False

    # -- calls ------------------------------------------------------------------------------

    def ping(self, *, timeout: float | None = None) -> dict[str, str]:
        """The ping's headers, names in lower case (``api-version``; ``libpod-api-version`` on
        Podman).

        Always on a new connection: a daemon shutting down refuses new connections at once but
        may still answer on one it kept alive (``docker.py`` tells a shutdown from an operator's
        stop by this ping).
        """
        _, headers, _ = self.request("GET", "/_ping", versioned=False, timeout=timeout, fresh=True)
        return headers

    def info(self) -> dict[str, Any]:
        return self.json("GET", "/info")

    def inspect(self, container: str) -> dict[str, Any]:
        return self.json("GET", f"/containers/{_quote(container)}/json")

    def start(self, container: str) -> None:
        self.request("POST", f"/containers/{_quote(container)}/start")

    def stop(self, container: str, *, timeout: int) -> None:
        path = f"/containers/{_quote(container)}/stop"
        self.request("POST", path, params={"t": timeout}, timeout=self._timeout + timeout)

    def remove(self, container: str) -> None:
        """Remove the container, stopping it first if it runs (``docker rm -f``)."""
        self.request("DELETE", f"/containers/{_quote(container)}", params={"force": "true"})

    def update(self, container: str, body: Mapping[str, Any]) -> None:
        self.request("POST", f"/containers/{_quote(container)}/update", body=body)

    def events(
        self, *, since: str | None = None, until: str | None = None, filters: Mapping[str, Any]
    ) -> EventStream:
        """The engine's events from ``since`` (live, unless ``until`` ends them), as dicts."""
        params = {"filters": json.dumps(filters)}
        if since is not None:
            params["since"] = since
        if until is not None:
            params["until"] = until
        target = f"{self._prefix}/events?{urllib.parse.urlencode(params)}"
        try:
            conn = _Connection(self._kind, self._address, self._timeout)
        except OSError as exc:
            raise RuntimeUnavailable(f"GET {target}: {exc}") from exc
        try:
            conn.send("GET", target, None)
            status, headers = conn.head()
            if status >= 400:
                self._raise(status, conn.body("GET", status, headers), f"GET {target}")
            if "chunked" not in headers.get("transfer-encoding", "").lower():
                raise ProtocolError(f"the events answer is not chunked: {headers!r}")
            # Connected and answered: from now on a read waits for the next event, however long.
            conn.settimeout(None)
        except OSError as exc:
            conn.close()
            raise RuntimeUnavailable(f"GET {target}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return EventStream(conn)

    # -- the exchange -----------------------------------------------------------------------

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        _, _, data = self.request(method, path, **kwargs)
        try:
            value = json.loads(data)
        except ValueError as exc:
            raise RuntimeUnavailable(f"{method} {path}: not JSON: {data[:80]!r}") from exc
        if not isinstance(value, dict):
            raise RuntimeUnavailable(f"{method} {path}: not a JSON object: {data[:80]!r}")
        return value

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        versioned: bool = True,
        fresh: bool = False,
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request; (status, headers, body) of a successful answer (see module docstring).

        ``fresh``: on a new connection, not one kept alive.
        """
        target = (self._prefix if versioned else "") + path
        if params:
            target += "?" + urllib.parse.urlencode(params)
        payload = None if body is None else json.dumps(body).encode()
        wait = self._timeout if timeout is None else timeout
        for attempt in (1, 2):
            conn: _Connection | None = None
            reused = False
            try:
                conn, reused = self._take(wait, fresh=fresh or attempt > 1)
                conn.send(method, target, payload)
                status, headers = conn.head()
                data = conn.body(method, status, headers)
            except _STALE as exc:
                if conn is not None:
                    conn.close()
                if reused and attempt == 1:
                    # The engine closed it while idle (see the module docstring), and likely
                    # every other kept connection with it: drop them, and retry on a new one.
                    self._drop_idle()
                    continue
                raise RuntimeUnavailable(f"{method} {target}: {exc}") from exc
            except (OSError, ValueError) as exc:
                if conn is not None:
                    conn.close()
                raise RuntimeUnavailable(f"{method} {target}: {exc}") from exc
            except BaseException:
                if conn is not None:
                    conn.close()
                raise
            if conn.keep_alive:
                self._give(conn)
            else:
                conn.close()
            if status >= 400:
                self._raise(status, data, f"{method} {target}")
            return status, headers, data
        raise AssertionError("unreachable: the second attempt returns or raises")

    @staticmethod
    def _raise(status: int, data: bytes, request: str) -> None:
        try:
            message = json.loads(data).get("message")
        except (ValueError, AttributeError):
            message = None
        explanation = message if isinstance(message, str) else data.decode("utf-8", "replace").strip()
        raise (NotFound if status == 404 else EngineError)(status, explanation, request)

    def _take(self, timeout: float, *, fresh: bool) -> tuple[_Connection, bool]:
        with self._lock:
            if self._closed:
                raise RuntimeUnavailable("the engine client is closed")
            conn = self._idle.pop() if self._idle and not fresh else None
        if conn is None:
            return _Connection(self._kind, self._address, timeout), False
        conn.settimeout(timeout)
        return conn, True

    def _give(self, conn: _Connection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < POOL_SIZE:
                self._idle.append(conn)
                return
        conn.close()

    def _drop_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def close(self) -> None:
        """Close the idle connections; requests under way finish, and their connections close."""
        with self._lock:
            self._closed = True
        self._drop_idle()


class EventStream:
    """The events of one ``GET /events``: iterate for dicts; ``close()`` from any thread ends it.

    The iteration ends when the engine ends the stream (an ``until`` reached, a daemon shutting
    down) or after ``close()``; a connection lost otherwise raises ``RuntimeUnavailable``.
    """

    def __init__(self, conn: _Connection) -> None:
        self._conn = conn
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        decoder = json.JSONDecoder()
        text = codecs.getincrementaldecoder("utf-8")("replace")
        buffer = ""
        chunks = self._conn.chunks()
        try:
            while True:
                try:
                    chunk = next(chunks, b"")
                except (OSError, ValueError) as exc:
                    if self._closed.is_set():
                        return  # closed by us: the read was cut short on purpose
                    raise RuntimeUnavailable(f"events stream: {exc!r}") from exc
                if not chunk:
                    return
                buffer += text.decode(chunk)
                at = 0
                while True:
                    while at < len(buffer) and buffer[at].isspace():
                        at += 1
                    if at == len(buffer):
                        break
                    try:
                        event, at = decoder.raw_decode(buffer, at)
                    except ValueError:
                        # An object cut in two by the chunking: wait for its rest (an event is
                        # a few hundred bytes; one that never ends is a broken stream).
                        if len(buffer) - at > MAX_EVENT_BYTES:
                            garbage = buffer[at : at + 80]
                            raise RuntimeUnavailable(f"events stream: not JSON: {garbage!r}") from None
                        break
                    if isinstance(event, dict):
                        yield event
                buffer = buffer[at:]
        finally:
            self._conn.close()

    def close(self) -> None:
        """End the iteration now, from any thread."""
        self._closed.set()
        self._conn.shutdown()


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|z|[+-]\d\d:\d\d)")


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
    """The engine's client, made on first contact (``Engine.api``)."""

    api: EngineClient  # every call but create(); pooled, shared by every thread
    version: str  # the API version the engine's ping named


class Engine:
    """One engine, contacted on first use: a client on the API version its ping named, and which engine.

    ``api``, ``version`` and ``ping`` refuse with ``RuntimeUnavailable`` once ``closing`` is set
    (the runtime that owns it is closing). Threads: any; ``_lock`` guards the making and the
    release of the client and is a leaf (the first contact's ping is made under it, so
    concurrent first calls make one client).
    """

    def __init__(
        self, url: str | None, *, timeout: float, ping_timeout: float, closing: threading.Event
    ) -> None:
        # Parsed now, so a bad address fails here and names itself (a ValueError).
        EngineClient(url, timeout=timeout).close()
        self.url = url
        self._timeout = timeout
        self._ping_timeout = ping_timeout
        self._closing = closing
        self._lock = threading.Lock()
        self._clients: _Clients | None = None
        self.podman = False  # the engine is Podman (known from the first contact)

    def _contact(self) -> _Clients:
        with self._lock:
            if self._closing.is_set():
                raise RuntimeUnavailable("the runtime is closed")
            if self._clients is None:
                # The ping's headers name the API version and the engine (the module docstring
                # says why not /version).
                probe = EngineClient(self.url, timeout=self._ping_timeout)
                try:
                    headers = probe.ping()
                except EngineError as exc:
                    raise RuntimeUnavailable(f"ping: {exc}") from exc
                finally:
                    probe.close()
                version = headers.get("api-version")
                if not version:
                    raise RuntimeUnavailable("ping: the engine named no Api-Version")
                self.podman = "libpod-api-version" in headers
                api = EngineClient(self.url, timeout=self._timeout, version=version)
                self._clients = _Clients(api=api, version=version)
            return self._clients

    def api(self) -> EngineClient:
        """The client, on the version the engine named (contacting it first if need be)."""
        return self._contact().api

    def version(self) -> str:
        """The API version the engine's ping named (contacting it first if need be)."""
        return self._contact().version

    def ping(self) -> None:
        """Ask the engine whether it answers, within the ping timeout (RuntimeUnavailable if not)."""
        try:
            self.api().ping(timeout=self._ping_timeout)
        except EngineError as exc:
            raise RuntimeUnavailable(f"ping: {exc}") from exc

    def close(self) -> None:
        """Release the client and its idle connections."""
        with self._lock:
            clients, self._clients = self._clients, None
        if clients is not None:
            clients.api.close()
