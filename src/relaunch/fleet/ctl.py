"""``relaunch ctl``: the client of a running ``relaunch run``, its parser built from the command registry.

Exit codes (:data:`EXIT_CODES`): 0 the daemon did it; 1 the daemon answered with an error (an
unknown workload, a reload of a bad file, a connection refused for its uid); 2 bad usage (a flag,
a value, a socket path); 3 no answer from a daemon (nothing listening on the socket, no
permission to connect, a timeout, a broken connection); 130 interrupted (Ctrl-C ends ``logs -f``).
Every error is one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys

from relaunch.fleet import wire
from relaunch.fleet.commands import get_commands
from relaunch.fleet.paths import DEFAULT_FILE, socket_path

# This is what `relaunch ctl` imports: typing, pathlib and the server stay out (wire.py says why).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn

__all__ = ["EXIT_CODES", "ctl_main"]

EXIT_CODES = {
    0: "done: the daemon did what was asked",
    1: "refused: the daemon answered with an error; one line on stderr says why",
    2: "bad usage: a flag, a value or the socket path is wrong",
    3: "no daemon: nothing answered on the control socket (not running, no permission, timeout)",
    130: "interrupted: Ctrl-C",
}
EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_NO_DAEMON, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

PROG = "relaunch ctl"
DEFAULT_CONFIG = DEFAULT_FILE


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line pointing at --help, as the rest of the CLI does, rather than the usage block.
        raise _Usage(f"{self.prog}: error: {message} (see {self.prog} --help)")


def _parser() -> _Parser:
    exits = "exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES.items())
    parser = _Parser(
        prog=PROG,
        description="Control a running `relaunch run` through its socket, <store>.sock beside its store.",
        epilog=exits,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--socket", metavar="PATH", help="the control socket itself")
    where.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        default=DEFAULT_CONFIG,
        help=f"the fleet file relaunch run was given, to find its socket (default ./{DEFAULT_CONFIG})",
    )
    # prog given: else argparse builds a help formatter to compute it, which imports shutil (and
    # with it bz2 and lzma), 3 ms of every call.
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser, prog=PROG
    )
    for command in get_commands().values():
        sub = subparsers.add_parser(
            command.name, help=command.help, description=command.help, allow_abbrev=False
        )
        sub.add_argument("--json", action="store_true", help="print each reply as one JSON line")
        command.add_arguments(sub)
    return parser


def _socket(args: argparse.Namespace) -> str:
    if args.socket is not None:
        return str(args.socket)
    # Only the [fleet] store key is read (paths.py): ctl never imports the kernel.
    return socket_path(args.config)


def ctl_main(argv: Sequence[str] | None = None) -> int:
    """Run ``relaunch ctl`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        path = wire.check_socket_path(_socket(args))
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    except (_Usage, wire.ControlError, ValueError, OSError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    command = get_commands()[args.command]
    prog = f"{PROG} {command.name}"
    try:
        for reply in wire.stream(path, command.name, command.message(args)):
            if not reply["ok"]:
                return _fail(f"{prog}: error: {reply['error']}", EXIT_REFUSED)
            text = command.render(reply, args.json)
            if text:
                print(text, flush=True)
    except wire.ControlError as exc:
        return _fail(f"{prog}: {exc}", EXIT_NO_DAEMON)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (``| head``) went away: stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


def _fail(message: str, code: int) -> int:
    print(" ".join(message.split()), file=sys.stderr)
    return code
