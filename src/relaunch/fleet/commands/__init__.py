"""The control commands, one module each; :func:`get_commands` is the one list both ends read.

Adding a command is one new module with a :class:`~relaunch.fleet.commands.base.Command` subclass
and one line in :data:`COMMANDS` (its position is its place in ``relaunch ctl --help``).
"""

from __future__ import annotations

from relaunch.fleet.commands.base import Command
from relaunch.fleet.commands.logs import Logs
from relaunch.fleet.commands.reload import Reload
from relaunch.fleet.commands.restart import Restart
from relaunch.fleet.commands.start import Start
from relaunch.fleet.commands.status import Status
from relaunch.fleet.commands.stop import Stop

__all__ = ["COMMANDS", "get_commands"]

COMMANDS: tuple[type[Command], ...] = (Status, Start, Stop, Restart, Reload, Logs)


def get_commands() -> dict[str, Command]:
    """One instance of every command, by name, in :data:`COMMANDS` order."""
    return {command.name: command() for command in COMMANDS}
