"""What every control command is, and the two helpers that build every reply.

A command is one class in one module of this package, shared by both ends of the control
socket, as circus keeps each of its commands (circus-tent/circus, ``circus/commands/base.py``:
``Command`` with ``message`` and ``execute``, replies from ``ok`` and ``error``). Unlike circus,
which registers a command by a metaclass as a side effect of defining it, the registry here is
the explicit list in ``commands/__init__.py``. Both ends call:

- ``relaunch ctl`` (the client): :meth:`Command.add_arguments` to build its parser,
  :meth:`Command.message` to turn the parsed arguments into the request's ``args``, and
  :meth:`Command.render` to print each reply;
- the daemon (``control.ControlServer``): :meth:`Command.handle`, which checks the request's
  ``args`` keys and calls :meth:`Command.execute` against the fleet.

This module owns no I/O: ``execute`` talks only to the :class:`~relaunch.fleet.api.FleetControl`
it is given, and the server owns the socket. A bad argument is a :class:`BadRequest` naming the
command, the field and the value; a refusal by the fleet is its ``FleetError``; the server turns
both into :func:`error` replies.
"""

from __future__ import annotations

import abc
import json

from relaunch.fleet.wire import Reply

# ``relaunch ctl`` imports every command to build its parser: what is used only in annotations is
# imported for the type checker alone, ``typing`` included (wire.py says why).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    import threading
    from collections.abc import Callable, Iterator, Mapping
    from typing import Any, ClassVar

    from relaunch.fleet.api import FleetControl

__all__ = ["BadRequest", "Command", "Reply", "Stream", "WorkloadCommand", "error", "ok"]


def ok(**props: Any) -> Reply:
    """A success reply carrying ``props``."""
    return {"ok": True, **props}


def error(reason: str) -> Reply:
    """A failure reply; ``reason`` is one line shown to the user as it is."""
    return {"ok": False, "error": reason}


class BadRequest(Exception):
    """A request the daemon cannot read or a command cannot take; the message names what is wrong."""


class Stream:
    """A reply that goes on: ``head`` first, then every reply ``follow(stop)`` yields.

    The server sets ``stop`` when the client hangs up or the server closes; ``follow`` must then
    return within a fraction of a second. (A plain class: ``dataclasses`` costs the client as
    much to import as ``typing``.)
    """

    __slots__ = ("follow", "head")

    def __init__(self, head: Reply, follow: Callable[[threading.Event], Iterator[Reply]]) -> None:
        self.head = head
        self.follow = follow

    def __repr__(self) -> str:
        return f"Stream(head={self.head!r}, follow={self.follow!r})"


class Command(abc.ABC):
    """One control command; subclasses set :attr:`name`, :attr:`help` and :attr:`arguments`."""

    #: The word after ``relaunch ctl``, and the request's ``command``.
    name: ClassVar[str]
    #: One line for ``relaunch ctl --help``.
    help: ClassVar[str]
    #: The keys the request's ``args`` may have; any other is refused by name.
    arguments: ClassVar[tuple[str, ...]] = ()

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:  # noqa: B027 - none by default
        """Add this command's own options to its ``relaunch ctl`` subparser (``--json`` is common)."""

    def message(self, args: argparse.Namespace) -> dict[str, Any]:
        """The request's ``args`` for the parsed command line ``args``."""
        return {}

    def handle(self, fleet: FleetControl, args: Mapping[str, Any]) -> Reply | Stream:
        """Check the request's ``args`` keys, then :meth:`execute` (what the server calls)."""
        unknown = sorted(set(args) - set(self.arguments))
        if unknown:
            takes = ", ".join(self.arguments) or "none"
            raise BadRequest(f"{self.name}: unknown argument {unknown[0]!r} (it takes: {takes})")
        return self.execute(fleet, args)

    @abc.abstractmethod
    def execute(self, fleet: FleetControl, args: Mapping[str, Any]) -> Reply | Stream:
        """What the daemon does; raises BadRequest for a bad argument, FleetError for a refusal."""

    def render(self, reply: Reply, as_json: bool) -> str:
        """What ``relaunch ctl`` prints for the success ``reply``: one JSON line, or :meth:`text`."""
        return json.dumps(reply, allow_nan=False) if as_json else self.text(reply)

    @abc.abstractmethod
    def text(self, reply: Reply) -> str:
        """The success ``reply`` for people ("" prints nothing)."""

    # -- checking the request's args: each names the command, the field and the value ----------

    def workload(self, args: Mapping[str, Any]) -> str:
        """``args["name"]``, a non-empty string."""
        name = args.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest(f"{self.name}: args.name: must be a workload name, got {name!r}")
        return name

    def choice(self, args: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str:
        """``args[key]``, one of ``choices`` (the first when absent)."""
        value = args.get(key, choices[0])
        if value not in choices:
            raise BadRequest(f"{self.name}: args.{key}: must be one of {', '.join(choices)}, got {value!r}")
        return str(value)

    def integer(self, args: Mapping[str, Any], key: str, default: int, most: int) -> int:
        """``args[key]``, an integer from 0 to ``most`` (``default`` when absent)."""
        value = args.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
            raise BadRequest(f"{self.name}: args.{key}: must be an integer from 0 to {most}, got {value!r}")
        return value

    def flag(self, args: Mapping[str, Any], key: str) -> bool:
        """``args[key]``, true or false (false when absent)."""
        value = args.get(key, False)
        if not isinstance(value, bool):
            raise BadRequest(f"{self.name}: args.{key}: must be true or false, got {value!r}")
        return value

    def names(self, args: Mapping[str, Any], key: str) -> list[str]:
        """``args[key]``, a list of workload names (empty when absent)."""
        value = args.get(key, [])
        if not isinstance(value, list) or not all(isinstance(n, str) and n for n in value):
            raise BadRequest(f"{self.name}: args.{key}: must be a list of workload names, got {value!r}")
        return value


class WorkloadCommand(Command):
    """A command that acts on one workload by name (``start``, ``stop``, ``restart``)."""

    arguments = ("name",)
    #: What the reply says happened: ``"started"``, ...
    done: ClassVar[str]

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", metavar="NAME", help="the workload, as the fleet file names it")

    def message(self, args: argparse.Namespace) -> dict[str, Any]:
        return {"name": args.name}

    def execute(self, fleet: FleetControl, args: Mapping[str, Any]) -> Reply:
        name = self.workload(args)
        self.act(fleet, name)
        return ok(name=name)

    @abc.abstractmethod
    def act(self, fleet: FleetControl, name: str) -> None:
        """Ask the fleet to act on ``name`` (its FleetError is the reply)."""

    def text(self, reply: Reply) -> str:
        return f"{reply['name']}: {self.done}"
