"""``relaunch ctl logs NAME [-f] [--stderr] [-n LINES]``: the end of a workload's log file, and what follows.

The daemon reads the file the fleet names (``FleetControl.log_path``); the head reply carries the
last lines, and with ``-f`` one reply per line appended after them follows until the client
hangs up, across a rotation (the path renamed and a new file created, as supervisord's
``stdout_logfile_maxbytes`` does) or a truncation.
"""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from relaunch.fleet.api import FleetControl, FleetError
from relaunch.fleet.commands.base import Command, Reply, Stream, ok

__all__ = ["Logs"]

STREAMS = ("stdout", "stderr")
DEFAULT_LINES = 10  # as tail(1)
#: At most this many lines in the head reply, so that it stays one reasonable JSON line.
MAX_LINES = 10_000
#: A line longer than this is sent in pieces of this size (a program that never writes a newline).
MAX_LINE_BYTES = 64 * 1024
#: The head reply reads at most this much of the end of the file.
MAX_TAIL_BYTES = 4 * 1024 * 1024
FOLLOW_POLL_S = 0.1


class Logs(Command):
    name = "logs"
    help = "print the last lines of a workload's stdout (or --stderr) log; -f follows it"
    arguments = ("name", "stream", "lines", "follow")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", metavar="NAME", help="the workload, as the fleet file names it")
        parser.add_argument(
            "-f", "--follow", action="store_true", help="go on printing lines as they are written"
        )
        parser.add_argument("--stderr", action="store_true", help="the stderr log rather than stdout")
        parser.add_argument(
            "-n",
            "--lines",
            type=int,
            default=DEFAULT_LINES,
            metavar="LINES",
            help=f"how many of the last lines to print first (default {DEFAULT_LINES}, at most {MAX_LINES})",
        )

    def message(self, args: argparse.Namespace) -> dict[str, Any]:
        return {
            "name": args.name,
            "stream": "stderr" if args.stderr else "stdout",
            "lines": args.lines,
            "follow": args.follow,
        }

    def execute(self, fleet: FleetControl, args: Mapping[str, Any]) -> Reply | Stream:
        name = self.workload(args)
        stream = self.choice(args, "stream", STREAMS)
        count = self.integer(args, "lines", DEFAULT_LINES, MAX_LINES)
        follow = self.flag(args, "follow")
        path = fleet.log_path(name, stream)
        try:
            lines, end = _tail(path, count)
        except OSError as exc:
            raise FleetError(f"logs: {name}: cannot read {path}: {exc.strerror}") from None
        head = ok(name=name, stream=stream, path=str(path), lines=lines)
        if not follow:
            return head
        return Stream(head, lambda stop: (ok(line=line) for line in _follow(path, end, stop)))

    def text(self, reply: Reply) -> str:
        return str(reply["line"]) if "line" in reply else "\n".join(reply["lines"])


# A private reader until relaunch.adapters.logfiles (tail and follow of rotated log files) is in
# main; then _tail and _follow are replaced by its tail() and follow().


def _decode(line: bytes) -> str:
    return line.decode("utf-8", errors="replace")


def _tail(path: Path, count: int) -> tuple[list[str], int]:
    """The last ``count`` lines of ``path`` (a last line without newline too) and its size then.

    A file that does not exist yet (the program has written nothing) has no lines. Reads back
    from the end in doubling blocks, at most :data:`MAX_TAIL_BYTES`.
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, after the size is known
    except FileNotFoundError:
        return [], 0
    with f:
        size = os.fstat(f.fileno()).st_size
        if count == 0:
            return [], size
        block = MAX_LINE_BYTES
        while True:
            start = max(0, size - block)
            f.seek(start)
            data = f.read(size - start)
            if start == 0 or data.count(b"\n") > count or block >= MAX_TAIL_BYTES:
                break
            block *= 2
        lines = data.split(b"\n")
        if lines[-1] == b"":
            lines.pop()  # the newline that ends the file ends its last line
        if start > 0:
            lines = lines[1:]  # the first may be the end of a longer line
        return [_decode(line[:MAX_LINE_BYTES]) for line in lines[-count:]], size


def _follow(path: Path, offset: int, stop: threading.Event) -> Iterator[str]:
    """Every line written to ``path`` from ``offset`` on, until ``stop`` is set."""
    f: BinaryIO | None = None
    pending = b""
    try:
        while not stop.is_set():
            if f is None:
                try:
                    f = open(path, "rb")  # noqa: SIM115 - kept open across iterations, closed below
                except FileNotFoundError:
                    stop.wait(FOLLOW_POLL_S)
                    continue
                f.seek(offset)
            chunk = f.read(MAX_LINE_BYTES)
            if not chunk:
                try:
                    now = os.stat(path)
                except FileNotFoundError:
                    now = None  # renamed away, the new one not created yet
                if now is not None and now.st_ino != os.fstat(f.fileno()).st_ino:
                    # Rotated: the writer moved to the new file, so the old one is complete.
                    chunk = f.read()
                    f.close()
                    f, offset = None, 0
                elif now is not None and now.st_size < f.tell():
                    f.seek(0)  # truncated in place
                if not chunk:
                    stop.wait(FOLLOW_POLL_S)
                    continue
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                yield _decode(line)
            while len(pending) >= MAX_LINE_BYTES:
                yield _decode(pending[:MAX_LINE_BYTES])
                pending = pending[MAX_LINE_BYTES:]
    finally:
        if f is not None:
            f.close()
