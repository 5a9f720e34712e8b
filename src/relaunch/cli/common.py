"""What every command shares: the :class:`Command` shape, the exit codes, the one-line error, output helpers.

This module knows no command: the commands import it, and :mod:`relaunch.cli` builds the parser
from their list. It must not import a command module, or the adapters (a command imports an
adapter through :func:`adapter` when it runs, so that ``relaunch check`` needs no Docker SDK).
"""

from __future__ import annotations

import abc
import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any, ClassVar, NoReturn

#: The exit codes of every command, the same for both adapters.
EXIT_CODES = {
    0: "done: the command finished, or the workload stopped (or its policy needs no restart)",
    1: "given up: the policy gave up on the workload (supervise)",
    2: "bad input: a file, flag or value is wrong; one line on stderr says which",
    130: "interrupted: Ctrl-C, SIGTERM or SIGHUP",
}
EXIT_DONE, EXIT_GIVEN_UP, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

EXIT_HELP = "exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES.items())


class UsageError(Exception):
    """Bad input found by the CLI itself; ``main`` prints it as one line and exits 2."""


class Parser(argparse.ArgumentParser):
    """argparse, with the description as written and every error as one line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # argparse prints the whole usage block; one line, pointing at --help, reads better in a log.
        raise UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


class Command(abc.ABC):
    """One ``relaunch`` command: its words for ``--help``, its arguments, and what it does.

    :mod:`relaunch.cli` makes a subparser of each command in its ``COMMANDS`` list from ``name``,
    ``help``, ``description``, ``examples`` and ``usage``, lets :meth:`add_arguments` fill it, and
    calls :meth:`run` with the parsed arguments. ``run`` returns the exit code (:data:`EXIT_CODES`)
    and reports bad input by raising :class:`UsageError` (or a kernel ``RelaunchError``), which
    ``main`` prints as one line before exiting 2.
    """

    #: The word after ``relaunch``.
    name: ClassVar[str]
    #: One line in ``relaunch --help``.
    help: ClassVar[str]
    #: The paragraph at the top of ``relaunch NAME --help``.
    description: ClassVar[str]
    #: Command lines shown under "examples:" in ``relaunch NAME --help``.
    examples: ClassVar[tuple[str, ...]]
    #: The usage line, when argparse's own would mislead (None: argparse's).
    usage: ClassVar[str | None] = None
    #: Whether the command takes a command line after ``--`` (as ``args.cmd``).
    takes_command: ClassVar[bool] = False

    @abc.abstractmethod
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the command's arguments (and its own subcommands, if any) to its parser."""

    @abc.abstractmethod
    def run(self, args: argparse.Namespace) -> int:
        """Do the command; return its exit code."""


def examples(*lines: str) -> str:
    """A help epilog: the example command lines, then the exit codes."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines) + "\n\n" + EXIT_HELP


def prog(args: argparse.Namespace) -> str:
    """The command as its error messages name it: ``relaunch NAME``."""
    return f"relaunch {args.command}"


def fail(message: str) -> int:
    """Print a bad-input message as one line on stderr; return the bad-input exit code."""
    # One line, whatever the message carries (a TOML error quotes a line of the file).
    print(" ".join(message.split()), file=sys.stderr)
    return EXIT_BAD_INPUT


def bad_flag(args: argparse.Namespace, flag: str, problem: str) -> NoReturn:
    raise UsageError(f"{prog(args)}: error: {flag}: {problem}")


def json_flag(parser: argparse.ArgumentParser, text: str = "print JSON instead of text") -> None:
    # SUPPRESS: `presets --json show NAME` keeps the --json given before the subcommand.
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=text)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def say(args: argparse.Namespace, text: str) -> None:
    """A line for the person at the terminal; with --json it goes to stderr, stdout being data."""
    print(text, file=sys.stderr if args.json else sys.stdout, flush=True)


def folder_exists(args: argparse.Namespace, flag: str, path: str) -> None:
    """Refuse a file in a folder that does not exist, rather than create the folder."""
    folder = Path(path).parent
    if not folder.is_dir():
        raise UsageError(f"{prog(args)}: error: {flag} {path}: the folder {str(folder)!r} does not exist")
    if Path(path).is_dir():
        raise UsageError(f"{prog(args)}: error: {flag} {path}: is a folder, not a file")


def adapter(args: argparse.Namespace, module: str) -> Any:
    """Import an adapter module, or fail with one line saying what is missing."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name == "docker" or (error.name or "").startswith("docker."):
            raise UsageError(
                f"{prog(args)}: error: needs the Docker SDK, which is not installed: "
                "in the relaunch checkout, pip install -e '.[docker]'"
            ) from None
        if error.name is not None and module.startswith(error.name):
            raise UsageError(
                f"{prog(args)}: error: needs the Docker adapter ({module}), "
                "which this version of relaunch does not include"
            ) from None
        raise
