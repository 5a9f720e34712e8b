"""``relaunch ctl logs NAME [-f] [--stderr] [-n LINES]``: the end of a workload's log file, and what follows.

The daemon reads the file the fleet names (``FleetControl.log_path``); the head reply carries the
last lines (read across the file's backups when it holds fewer), and with ``-f`` one reply per
line appended after them follows until the client hangs up, across a rotation by renames or by
copy-truncate; ``relaunch.adapters.logfiles`` (which writes and rotates these files) reads them.
"""

from __future__ import annotations

from relaunch.fleet.commands.base import Command, Stream, ok
from relaunch.fleet.errors import FleetError

TYPE_CHECKING = False  # wire.py says why the client's imports stay this small
if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping
    from typing import Any

    from relaunch.fleet.api import FleetControl
    from relaunch.fleet.commands.base import Reply

__all__ = ["Logs"]

STREAMS = ("stdout", "stderr")
DEFAULT_LINES = 10  # as tail(1)
#: At most this many lines in the head reply, so that it stays one reasonable JSON line.
MAX_LINES = 10_000


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
        # The daemon's end only: the client never imports the readers (nor what they import).
        from relaunch.adapters.logfiles import follow as follow_lines
        from relaunch.adapters.logfiles import tail_and_end

        path = fleet.log_path(name, stream)
        try:
            lines, end = tail_and_end(path, count)
        except OSError as exc:
            raise FleetError(f"logs: {name}: cannot read {path}: {exc.strerror}") from None
        head = ok(name=name, stream=stream, path=str(path), lines=lines)
        if not follow:
            return head
        # Following goes on from where the tail was read: no line is lost or sent twice between.
        return Stream(head, lambda stop: (ok(line=line) for line in follow_lines(path, stop, offset=end)))

    def text(self, reply: Reply) -> str:
        return str(reply["line"]) if "line" in reply else "\n".join(reply["lines"])
