"""The command line's registry and parser: every command of :data:`COMMANDS`, and ``main``.

``relaunch.cli`` (the package) imports this module only when a command needs it, so that
``relaunch ctl`` (a socket round trip) never imports the commands, the kernel or the presets.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..kernel import RelaunchError
from ..scenarios import ScenarioError
from . import check, compare, ctl, presets, run, simulate, status, supervise
from .common import EXIT_CODES, EXIT_INTERRUPTED, Command, Parser, UsageError, examples, fail, prog
from .state import default_state_path, default_state_paths

__all__ = ["COMMANDS", "EXIT_CODES", "build_parser", "default_state_path", "default_state_paths", "main"]

#: Every command, in the order ``relaunch --help`` lists them. A new command is a module of this
#: package with a :class:`~relaunch.cli.common.Command` subclass, and its line here.
COMMANDS: tuple[Command, ...] = (
    check.Check(),
    simulate.Simulate(),
    compare.Compare(),
    presets.Presets(),
    supervise.Supervise(),
    status.Status(),
    run.Run(),
    ctl.Ctl(),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    # Everything after "--" is the workload's command (supervise). argparse cannot take a
    # trailing command after options and positionals, so it never sees it.
    command: list[str] = []
    if "--" in words:
        split = words.index("--")
        words, command = words[:split], words[split + 1 :]
    try:
        parser = build_parser()
        _refuse_unknown_options(parser, words)
        args = parser.parse_args(words)
        chosen: Command = args.chosen
        if command and not chosen.takes_command:
            raise UsageError(f"{prog(args)}: error: takes nothing after -- (see {prog(args)} --help)")
    except UsageError as error:
        return fail(str(error))
    args.cmd = command
    args.json = getattr(args, "json", False)
    try:
        return chosen.run(args)
    except UsageError as error:
        return fail(str(error))
    except (RelaunchError, ScenarioError) as error:
        return fail(f"{prog(args)}: error: {error}")
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (``| head``) went away: stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def build_parser(commands: Sequence[Command] = COMMANDS) -> argparse.ArgumentParser:
    """The ``relaunch`` parser: one subcommand per command, which ``args.chosen`` names once parsed."""
    parser = Parser(
        prog="relaunch",
        description="Simulate, compare and apply restart policies. The decisions come from a pure kernel, "
        "so hours of failures replay in milliseconds.",
        epilog=examples(
            "relaunch compare --scenario daemon-flaps",
            "relaunch supervise web --image nginx:alpine --preset toolhive",
        ),
    )
    parser.add_argument("--version", action="version", version=f"relaunch {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser, required=True)
    for command in commands:
        sub = subparsers.add_parser(
            command.name,
            help=command.help,
            usage=command.usage,
            description=command.description,
            epilog=examples(*command.examples),
        )
        command.add_arguments(sub)
        sub.set_defaults(chosen=command)
    return parser


def _refuse_unknown_options(parser: argparse.ArgumentParser, words: list[str]) -> None:
    """Name an unknown option before argparse reports anything else, as the subcommand that got it.

    argparse checks required options first (``simulate --bogus`` would say that --preset is
    missing) and reports leftovers as the top-level ``relaunch`` (pointing at the wrong --help).
    """
    chain = [parser]
    known = set(parser._option_string_actions)
    for word in words:
        if word.startswith("-"):
            continue
        sub = _subcommands(chain[-1]).get(word)
        if sub is None:
            continue
        chain.append(sub)
        known |= set(sub._option_string_actions)
    for word in words:
        option = word.partition("=")[0]
        if option.startswith("-") and len(option) > 1 and option not in known and not _is_number(option):
            where = chain[-1].prog
            raise UsageError(f"{where}: error: unrecognized option: {word} (see {where} --help)")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True
