"""The control socket of ``relaunch run``: the daemon's end.

The wire protocol (JSON lines, one request per connection) and the client's end are in
``wire.py``, kept apart so that ``relaunch ctl`` imports none of what serving needs. The
commands themselves (what ``args`` each takes, what each reply holds) are in
``relaunch.fleet.commands``; this module knows none of them.

Who may talk to the daemon: the socket file is created with mode 0600 (the mode is set on the
socket before ``bind``, and Linux creates the file with it, ``net/unix/af_unix.c``,
``unix_bind_bsd``; nobody can connect before ``listen`` anyway), and every peer whose
``SO_PEERCRED`` uid is not the daemon's effective uid is refused with an error reply naming both
uids, root included: file modes do not stop root, the peer check does. A malformed line, an
unknown command, a bad argument or a failing fleet each get an error reply naming what is wrong;
none of them stops the server.

Threads and locks (the whole table):

==========================  ===================================================================
thread                      what it does
==========================  ===================================================================
``relaunch-control``        accepts connections; refuses one beyond ``max_connections`` at once
``relaunch-control-conn``   one per connection: reads the request, calls the command (and so
                            the fleet), writes the reply, closes; ends with its connection
``relaunch-control-watch``  one per streaming connection: sets the stream's stop event when the
                            client hangs up (or writes); joined before the connection closes
==========================  ===================================================================

``ControlServer._lock`` (a leaf) guards the table of open connections; a connection's socket is
shut down or closed only under it, so ``close()`` never touches a descriptor already reused.
Nothing else is called under it. Each connection has a deadline of ``wire.IO_TIMEOUT_S`` for its
request and for each reply it writes, so a silent or stuck client holds its slot for that long
at most. ``close()`` returns within a second: it stops accepting, removes the socket file (only
the one it created, checked by inode), shuts every connection down and stops every stream.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import select
import socket
import stat
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relaunch.fleet.api import FleetControl, FleetError
from relaunch.fleet.commands.base import BadRequest, Command, Reply, Stream, error
from relaunch.fleet.wire import (
    IO_TIMEOUT_S,
    MAX_REQUEST_BYTES,
    PROTOCOL_VERSION,
    ControlError,
    check_socket_path,
    encode,
)

__all__ = ["MAX_CONNECTIONS", "ControlServer", "parse_request"]

#: Control connections served at once; ``ctl`` holds one for a few milliseconds (``logs -f``
#: for as long as it follows), so more would only be a client looping without waiting.
MAX_CONNECTIONS = 8
#: ``close()`` returns within a second; this is what it waits for connection threads.
CLOSE_WAIT_S = 0.8
_WATCH_POLL_MS = 100
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid

log = logging.getLogger(__name__)


def parse_request(line: bytes, commands: Mapping[str, Command]) -> tuple[Command, dict[str, Any]]:
    """The command and ``args`` of one request line; BadRequest names what is wrong."""
    try:
        message = json.loads(line)
    except ValueError as exc:  # json.JSONDecodeError, and UnicodeDecodeError for bytes not UTF-8
        raise BadRequest(f"malformed request: not JSON ({exc})") from None
    if not isinstance(message, dict):
        raise BadRequest(f"malformed request: must be a JSON object, got {type(message).__name__}")
    version = message.get("v")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise BadRequest(
            f"malformed request: protocol version (v) {version!r} is not {PROTOCOL_VERSION}, "
            "the one this relaunch run speaks"
        )
    unknown = sorted(set(message) - {"v", "command", "args"})
    if unknown:
        raise BadRequest(f"malformed request: unknown key {unknown[0]!r} (keys: v, command, args)")
    name = message.get("command")
    if not isinstance(name, str) or name not in commands:
        raise BadRequest(f"unknown command {name!r} (commands: {', '.join(commands)})")
    args = message.get("args", {})
    if not isinstance(args, dict):
        raise BadRequest(f"malformed request: args must be a JSON object, got {args!r}")
    return commands[name], args


@dataclass(eq=False)
class _Connection:
    sock: socket.socket
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class ControlServer:
    """Serves ``commands`` against ``fleet`` on the unix socket ``path`` until :meth:`close`.

    Binding happens in the constructor (ControlError if the path is too long, is not a socket,
    or a live daemon listens on it; a socket file left by a dead one is replaced), and serving
    starts at once on a thread of its own.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fleet: FleetControl,
        commands: Mapping[str, Command],
        *,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.path = Path(path)
        self._fleet = fleet
        self._commands = dict(commands)
        self._max = max_connections
        self._uid = os.geteuid()
        self._lock = threading.Lock()
        self._open: set[_Connection] = set()
        self._closing = threading.Event()
        self._listener, self._identity = self._bind(check_socket_path(self.path))
        self._wake_r, self._wake_w = os.pipe()
        self._acceptor = threading.Thread(target=self._accept_loop, name="relaunch-control", daemon=True)
        self._acceptor.start()

    def __enter__(self) -> ControlServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- binding ---------------------------------------------------------------------------

    def _bind(self, where: str) -> tuple[socket.socket, tuple[int, int]]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # close-on-exec, as Python's are
        try:
            os.fchmod(sock.fileno(), 0o600)
            try:
                sock.bind(where)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or not self._stale(where):
                    raise
                os.unlink(where)
                sock.bind(where)
            made = os.lstat(where)
            sock.listen(socket.SOMAXCONN)
        except ControlError:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            raise ControlError(f"control socket {where}: cannot listen: {exc.strerror}") from None
        return sock, (made.st_dev, made.st_ino)

    @staticmethod
    def _stale(where: str) -> bool:
        """True if ``where`` is a socket nothing listens on (left by a daemon that died)."""
        if not stat.S_ISSOCK(os.lstat(where).st_mode):
            raise ControlError(f"control socket {where}: exists and is not a socket; not replacing it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(where)
        except ConnectionRefusedError:
            return True
        finally:
            probe.close()
        raise ControlError(f"control socket {where}: another relaunch run is listening on it")

    # -- serving ---------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        poller = select.poll()
        poller.register(self._listener, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        while True:
            poller.poll()
            if self._closing.is_set():
                return
            try:
                sock, _ = self._listener.accept()
            except OSError as exc:  # e.g. EMFILE: wait rather than spin
                log.warning("control socket %s: accept failed: %s", self.path, exc.strerror)
                self._closing.wait(0.1)
                continue
            conn = _Connection(sock)
            with self._lock:
                busy = len(self._open) >= self._max
                if not busy:
                    self._open.add(conn)
            if busy:
                self._reply_and_close(
                    conn, error(f"busy: {self._max} control connections are open; try again")
                )
                continue
            conn.thread = threading.Thread(
                target=self._serve, args=(conn,), name="relaunch-control-conn", daemon=True
            )
            conn.thread.start()

    def _reply_and_close(self, conn: _Connection, reply: Reply) -> None:
        with contextlib.suppress(OSError):
            conn.sock.settimeout(IO_TIMEOUT_S)
            conn.sock.sendall(encode(reply))
        conn.sock.close()

    def _serve(self, conn: _Connection) -> None:
        try:
            conn.sock.settimeout(IO_TIMEOUT_S)
            refusal = self._refusal(conn.sock)
            if refusal is not None:
                self._send(conn.sock, error(refusal))
                return
            reply = self._answer(conn.sock)
            if isinstance(reply, Stream):
                self._stream(conn, reply)
            else:
                self._send(conn.sock, reply)
        except OSError:
            pass  # the client went away or stopped reading: nothing to tell it
        finally:
            with self._lock:
                self._open.discard(conn)
                conn.sock.close()

    def _refusal(self, sock: socket.socket) -> str | None:
        pid, uid, _ = _PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
        if uid == self._uid:
            return None
        return (
            f"refused: this relaunch run answers only its own user (uid {self._uid}); "
            f"the connection came from uid {uid} (pid {pid})"
        )

    def _answer(self, sock: socket.socket) -> Reply | Stream:
        # Reading fails quietly (OSError) when the client goes away, and is told when it is slow.
        try:
            line = self._read_request(sock)
        except TimeoutError:
            return error(f"malformed request: no complete line within {IO_TIMEOUT_S:g}s")
        except BadRequest as exc:
            return error(str(exc))
        name = "request"
        try:
            command, args = parse_request(line, self._commands)
            name = command.name
            return command.handle(self._fleet, args)
        except (BadRequest, FleetError) as exc:
            return error(str(exc))
        except Exception as exc:
            # A bug in a command or the fleet must cost one reply, not the control socket.
            log.exception("control socket %s: %s failed", self.path, name)
            return error(f"{name}: internal error: {type(exc).__name__}: {exc}")

    @staticmethod
    def _read_request(sock: socket.socket) -> bytes:
        data = b""
        while b"\n" not in data:
            if len(data) > MAX_REQUEST_BYTES:
                raise BadRequest(f"malformed request: longer than {MAX_REQUEST_BYTES} bytes")
            chunk = sock.recv(65536)
            if not chunk:
                raise BadRequest("malformed request: the connection ended before a newline ended the line")
            data += chunk
        return data.split(b"\n", 1)[0]

    def _send(self, sock: socket.socket, reply: Reply) -> None:
        try:
            line = encode(reply)
        except (TypeError, ValueError) as exc:  # an infinity or an object JSON has no form for
            log.error("control socket %s: reply not JSON: %s", self.path, exc)
            line = encode(error(f"internal error: the reply is not JSON ({exc})"))
        sock.sendall(line)

    def _stream(self, conn: _Connection, stream: Stream) -> None:
        self._send(conn.sock, stream.head)
        watcher = threading.Thread(
            target=self._watch, args=(conn,), name="relaunch-control-watch", daemon=True
        )
        watcher.start()
        replies = stream.follow(conn.stop)
        try:
            while True:
                try:
                    reply = next(replies, None)
                except Exception as exc:
                    log.exception("control socket %s: stream failed", self.path)
                    reply = error(f"internal error: {type(exc).__name__}: {exc}")
                    self._send(conn.sock, reply)
                    return
                if reply is None:
                    return
                self._send(conn.sock, reply)
        finally:
            conn.stop.set()
            watcher.join()

    @staticmethod
    def _watch(conn: _Connection) -> None:
        poller = select.poll()
        poller.register(conn.sock, select.POLLIN | select.POLLRDHUP)
        while not conn.stop.is_set():
            if poller.poll(_WATCH_POLL_MS):
                conn.stop.set()  # the client hung up (or wrote, which the protocol does not allow)

    # -- closing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop serving, remove the socket file this server created, end every connection; idempotent."""
        if self._closing.is_set():
            return
        self._closing.set()
        os.write(self._wake_w, b"x")
        self._acceptor.join()
        self._listener.close()
        self._unlink()
        with self._lock:
            conns = list(self._open)
            for conn in conns:
                conn.stop.set()
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + CLOSE_WAIT_S
        for conn in conns:
            if conn.thread is not None:
                conn.thread.join(max(0.0, deadline - time.monotonic()))
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _unlink(self) -> None:
        try:
            now = os.lstat(self.path)
        except FileNotFoundError:
            return
        if (now.st_dev, now.st_ino) == self._identity:
            os.unlink(self.path)
