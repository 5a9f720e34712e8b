"""The control socket's wire protocol and the client's end of it (what ``relaunch ctl`` runs).

The protocol (version :data:`PROTOCOL_VERSION`) is JSON lines over a unix stream socket, one
request per connection:

- the client sends one line, ``{"v": 1, "command": "status", "args": {...}}``;
- the daemon answers with one line, ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``,
  and closes; a streaming command (``logs -f``) instead goes on sending ``{"ok": true, ...}``
  lines until the client hangs up. Anything after the request line is ignored.

The daemon's end is ``control.py``. This module is apart from it because ``relaunch ctl`` runs
often (a monitoring loop, a shell prompt) and each run starts an interpreter: it imports only
what the client needs (``socket``, ``json``), none of the server's threads, logging or
dataclasses, and not ``typing`` either (about 9 ms here, a tenth of a call); names used only in
annotations are imported for the type checker alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; mypy reads it the same way
if TYPE_CHECKING:
    from collections.abc import Generator, Mapping
    from typing import Any

__all__ = [
    "IO_TIMEOUT_S",
    "MAX_PATH_BYTES",
    "MAX_REPLY_BYTES",
    "MAX_REQUEST_BYTES",
    "PROTOCOL_VERSION",
    "ControlError",
    "NoDaemon",
    "Reply",
    "check_socket_path",
    "encode",
    "request",
    "stream",
]

PROTOCOL_VERSION = 1
#: ``sun_path`` holds 108 bytes with the terminating NUL (unix(7)).
MAX_PATH_BYTES = 107
MAX_REQUEST_BYTES = 64 * 1024
#: A status of ten thousand workloads is a few MB; a longer line is not a reply.
MAX_REPLY_BYTES = 64 * 1024 * 1024
#: Each end's deadline for a request and for each reply it writes or waits for.
IO_TIMEOUT_S = 5.0


#: A reply line, decoded. The quoted ``Any`` keeps ``typing`` out of the client's imports.
Reply = dict[str, "Any"]


class ControlError(Exception):
    """The control socket cannot be used: the message says which path and why."""


class NoDaemon(ControlError):
    """Nothing listens on the control socket (no such file, or connection refused)."""


def encode(message: Mapping[str, Any]) -> bytes:
    """One protocol line: ``message`` as compact strict JSON (no infinities) and a newline."""
    return json.dumps(message, allow_nan=False, separators=(",", ":")).encode() + b"\n"


def check_socket_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a string, or ControlError if it is too long for a unix socket address."""
    text = os.fspath(path)
    if len(os.fsencode(text)) > MAX_PATH_BYTES:
        raise ControlError(
            f"control socket {text}: the path is {len(os.fsencode(text))} bytes, more than the "
            f"{MAX_PATH_BYTES} a unix socket address holds; put the store in a shorter path"
        )
    return text


def request(
    path: str | os.PathLike[str],
    command: str,
    args: Mapping[str, Any] | None = None,
    timeout: float = IO_TIMEOUT_S,
) -> Reply:
    """Send one request and return its reply (``{"ok": false, ...}`` replies too).

    Raises NoDaemon when nothing listens on ``path``, ControlError when the socket cannot be
    used (permission, timeout after ``timeout`` seconds, a malformed reply).
    """
    replies = stream(path, command, args, timeout)
    try:
        return next(replies)
    finally:
        replies.close()


def stream(
    path: str | os.PathLike[str],
    command: str,
    args: Mapping[str, Any] | None = None,
    timeout: float = IO_TIMEOUT_S,
) -> Generator[Reply, None, None]:
    """Send one request and yield every reply line until the daemon closes.

    ``timeout`` bounds the connection and the first reply; later replies of a streaming command
    are waited for without limit. Errors as :func:`request`, raised at the first ``next``.
    """
    where = check_socket_path(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(where)
        except (FileNotFoundError, ConnectionRefusedError):
            raise NoDaemon(f"no relaunch run is listening on {where}") from None
        except PermissionError:
            raise ControlError(
                f"{where}: permission denied: the control socket is for the user that runs relaunch run"
            ) from None
        except TimeoutError:
            raise ControlError(f"{where}: no connection within {timeout:g}s") from None
        except OSError as exc:
            raise ControlError(f"{where}: cannot connect: {exc.strerror}") from None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            # A peer refused by uid answers and closes before reading: its reply is still there.
            sock.sendall(encode({"v": PROTOCOL_VERSION, "command": command, "args": dict(args or {})}))
        reader = sock.makefile("rb")
        yield _reply(where, reader.readline(MAX_REPLY_BYTES + 1))
        sock.settimeout(None)
        while line := reader.readline(MAX_REPLY_BYTES + 1):
            yield _reply(where, line)
    except TimeoutError:
        raise ControlError(f"{where}: no reply within {timeout:g}s") from None
    except ConnectionResetError:
        raise ControlError(f"{where}: the daemon reset the connection") from None
    finally:
        sock.close()


def _reply(where: str, line: bytes) -> Reply:
    if not line:
        raise ControlError(f"{where}: the daemon closed the connection without a reply")
    if not line.endswith(b"\n"):
        raise ControlError(f"{where}: malformed reply: longer than {MAX_REPLY_BYTES} bytes or cut short")
    try:
        reply = json.loads(line)
    except ValueError as exc:
        raise ControlError(f"{where}: malformed reply: not JSON ({exc})") from None
    if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
        raise ControlError(f"{where}: malformed reply: not an object with ok true or false: {line[:200]!r}")
    if not reply["ok"] and not isinstance(reply.get("error"), str):
        raise ControlError(f"{where}: malformed reply: an error without a message: {line[:200]!r}")
    return reply
