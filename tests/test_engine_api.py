"""The engine client (``relaunch/adapters/engine_api.py``) against a fake engine on a unix socket
of the test's own: the HTTP it must read (chunked events cut anywhere, errors, kept-alive
connections the engine closed), and what it must raise. The real engines are in the Docker tests
and the conformance suite, which run every call through it."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relaunch.adapters.engine_api import EngineClient, EngineError, NotFound, engine_address
from relaunch.adapters.runtime import RuntimeUnavailable

Handler = Callable[[socket.socket, bytes], bool]  # (connection, request head) -> keep the connection?


class FakeEngine:
    """Answers each request on a unix socket with what ``handler`` writes; counts connections."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.connections = 0
        self.requests: list[bytes] = []
        self.handler: Handler = lambda conn, head: False
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen(16)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, data = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(data) < length:
                    data += conn.recv(65536)
                data = data[length:]
                self.requests.append(head)
                if not self.handler(conn, head):
                    return

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[FakeEngine]:
    fake = FakeEngine(tmp_path / "e.sock")
    yield fake
    fake.close()


def answer(status: int, body: bytes = b"", *, close: bool = False, length: int | None = None) -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body) if length is None else length}\r\n"
    if close:
        head += "Connection: close\r\n"
    return head.encode() + b"\r\n" + body


def chunked(parts: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p) + b"0\r\n\r\n"


def test_inspect_reads_the_json_and_keeps_the_connection(engine: FakeEngine) -> None:
    """Two inspects share one kept-alive connection; the path carries the version and the quoted name."""

    def handler(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(answer(200, json.dumps({"Id": "abc", "State": {"Running": True}}).encode()))
        return True

    engine.handler = handler
    client = EngineClient(engine.url, timeout=5, version="1.41")
    assert client.inspect("a/b")["Id"] == "abc"
    assert client.inspect("a/b")["State"]["Running"] is True
    assert engine.connections == 1
    assert engine.requests[0].startswith(b"GET /v1.41/containers/a%2Fb/json HTTP/1.1")
    client.close()


@pytest.mark.parametrize(("status", "kind"), [(404, NotFound), (400, EngineError), (500, EngineError)])
def test_error_statuses_raise_with_the_engines_message(
    engine: FakeEngine, status: int, kind: type[EngineError]
) -> None:
    """A status of 400 or more raises EngineError (NotFound for 404) carrying the body's message."""
    message = "No such container: x" if status == 404 else "failed to create shim task"
    engine.handler = lambda conn, head: (
        conn.sendall(answer(status, json.dumps({"message": message}).encode())) or True
    )
    client = EngineClient(engine.url, timeout=5, version="1.41")
    with pytest.raises(kind) as caught:
        client.start("x")
    assert caught.value.status == status
    assert caught.value.explanation == message
    assert (status == 404) is isinstance(caught.value, NotFound)


def test_a_connection_the_engine_closed_while_idle_is_retried_once(engine: FakeEngine) -> None:
    """The engine closes every connection after one answer without saying so; each request still succeeds, on a new one."""

    def handler(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(answer(204))
        return False  # closes the connection, with no Connection: close header

    engine.handler = handler
    client = EngineClient(engine.url, timeout=5, version="1.41")
    for _ in range(3):
        client.start("x")
        time.sleep(0.05)  # let the close reach us first, as an idle connection's would
    assert engine.connections == 3
    assert len(engine.requests) == 3  # nothing was sent twice to an engine that got it


def test_ping_always_opens_a_new_connection(engine: FakeEngine) -> None:
    """A ping never rides a kept-alive connection (a daemon shutting down refuses only new ones)."""

    def handler(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nLibpod-Api-Version: 4.3.1\r\nContent-Length: 2\r\n\r\nOK"
        )
        return True

    engine.handler = handler
    client = EngineClient(engine.url, timeout=5)
    headers = [client.ping() for _ in range(3)]
    assert engine.connections == 3
    assert headers[0]["api-version"] == "1.41"
    assert "libpod-api-version" in headers[0]
    assert engine.requests[0].startswith(b"GET /_ping HTTP/1.1")


def test_no_engine_is_runtime_unavailable(tmp_path: Path) -> None:
    """Nothing listening (refused), an answer cut short, and a reply that is not HTTP all raise RuntimeUnavailable."""
    with pytest.raises(RuntimeUnavailable):
        EngineClient(f"unix://{tmp_path}/none.sock", timeout=1, version="1.41").inspect("x")
    cut = FakeEngine(tmp_path / "cut.sock")
    cut.handler = lambda conn, head: conn.sendall(answer(200, b'{"Id":', length=100)) and False
    with pytest.raises(RuntimeUnavailable, match="bytes early"):
        EngineClient(cut.url, timeout=1, version="1.41").inspect("x")
    cut.handler = lambda conn, head: conn.sendall(b"SSH-2.0-OpenSSH\r\n\r\n") and False
    with pytest.raises(RuntimeUnavailable, match="status line"):
        EngineClient(cut.url, timeout=1, version="1.41").inspect("x")
    cut.close()


def test_a_silent_engine_times_out(engine: FakeEngine) -> None:
    """An engine that takes the request and never answers (a SIGSTOPped daemon) raises RuntimeUnavailable after the timeout."""
    engine.handler = lambda conn, head: (time.sleep(3), False)[1]
    began = time.monotonic()
    with pytest.raises(RuntimeUnavailable):
        EngineClient(engine.url, timeout=0.3).ping()
    assert time.monotonic() - began < 2.5


EVENTS = st.lists(
    st.fixed_dictionaries(
        {
            "Action": st.sampled_from(["start", "die", "kill", "health_status: unhealthy"]),
            "id": st.text(min_size=1, max_size=12),
            "timeNano": st.integers(0, 2**63),
        }
    ),
    max_size=8,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=EVENTS, cuts=st.lists(st.integers(0, 2000), max_size=6), newlines=st.booleans())
def test_events_come_out_whole_however_the_stream_is_chunked(
    engine: FakeEngine, events: list[dict[str, object]], cuts: list[int], newlines: bool
) -> None:
    """Whatever chunks the engine cuts its events stream into (inside an object, inside a UTF-8 character, with or without newlines between objects), the stream yields exactly those events, in order, and ends with the stream."""
    text = ("\n" if newlines else "").join(json.dumps(e, ensure_ascii=False) for e in events).encode()
    points = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    parts = [text[a:b] for a, b in itertools.pairwise(points)]

    def handler(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(parts))
        return False

    engine.handler = handler
    stream = EngineClient(engine.url, timeout=5, version="1.41").events(filters={"type": ["container"]})
    assert list(stream) == events


def test_closing_a_stream_ends_its_iteration_at_once(engine: FakeEngine) -> None:
    """close() from another thread ends a stream blocked waiting for the next event, without an error."""

    def handler(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        conn.sendall(b'10\r\n{"Action":"die"}\r\n')
        time.sleep(5)  # then nothing: a quiet engine
        return False

    engine.handler = handler
    stream = EngineClient(engine.url, timeout=5, version="1.41").events(filters={})
    seen: list[object] = []
    reader = threading.Thread(target=lambda: seen.extend(stream))
    reader.start()
    time.sleep(0.3)
    began = time.monotonic()
    stream.close()
    reader.join(2)
    assert not reader.is_alive()
    assert time.monotonic() - began < 1.0
    assert seen == [{"Action": "die"}]


def test_a_stream_cut_by_the_engine_is_runtime_unavailable(engine: FakeEngine) -> None:
    """An events stream whose connection drops in the middle of a chunk (a daemon SIGKILL) raises RuntimeUnavailable."""
    engine.handler = lambda conn, head: (
        conn.sendall(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n{"Action":') and False
    )
    stream = EngineClient(engine.url, timeout=5, version="1.41").events(filters={})
    with pytest.raises(RuntimeUnavailable):
        list(stream)


@pytest.mark.parametrize(
    ("url", "env", "message"),
    [
        ("ssh://host", {}, "base_url: must be unix:///path or tcp://host:port, got 'ssh://host'"),
        (None, {"DOCKER_HOST": "npipe:////./pipe/docker"}, "DOCKER_HOST: must be unix:///path"),
        (
            None,
            {"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1"},
            "DOCKER_TLS_VERIFY: TLS is not supported",
        ),
    ],
)
def test_addresses_it_cannot_speak_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, url: str | None, env: dict[str, str], message: str
) -> None:
    """An address that is not a unix socket or plain TCP, or that asks for TLS, is a ValueError naming its field and value."""
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        engine_address(url)


def test_addresses_it_speaks(monkeypatch: pytest.MonkeyPatch) -> None:
    """unix:// and tcp:// (with Docker's port 2375 when none is given), and the default socket."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    assert engine_address(None) == ("unix", "/var/run/docker.sock")
    assert engine_address("unix:///tmp/x.sock") == ("unix", "/tmp/x.sock")
    assert engine_address("tcp://127.0.0.1") == ("tcp", "127.0.0.1:2375")
    assert engine_address("tcp://127.0.0.1:9/") == ("tcp", "127.0.0.1:9")
