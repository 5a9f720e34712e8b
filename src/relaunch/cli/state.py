"""Workload names and state files as ``supervise`` and ``status`` find them.

A workload's name names its state file and its container, so the rule for names lives here with
the file names; the store itself (reading, checking, writing) is :mod:`relaunch.adapters.store`'s.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from .common import UsageError, prog

#: Workload names: a letter or digit, then letters, digits, ".", "-", "_"; at most 63 characters.
#: The set is Docker's for container names ([a-zA-Z0-9][a-zA-Z0-9_.-]+, moby daemon/names
#: RestrictedNamePattern), so a name is also a valid container name and a file name with no "/" or
#: "..": it cannot leave the working directory. 63 is a DNS label's limit (RFC 1035, 2.3.4), which
#: keeps the container name ("relaunch-relaunch-" + NAME) and the state file ("relaunch-NAME.db")
#: far below the 255 bytes of a file name, and the name usable as a host name.
WORKLOAD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
NAME_LIMIT = 63

#: The supervisor id the CLI's containers and state files carry (the adapter labels containers with it).
SUPERVISOR_ID = "relaunch"

#: Where state lives unless --state says otherwise, in the current folder: one file for the
#: containers, one per --exec workload (two supervisor processes must not share one file).
CONTAINER_STATE = "relaunch-state.db"
EXEC_STATE = "relaunch-{name}.db"


def check_name(args: argparse.Namespace) -> None:
    """Refuse a NAME that :data:`WORKLOAD_NAME` does not match, saying what a name may hold."""
    name = args.name
    if not WORKLOAD_NAME.fullmatch(name):
        if len(name) > NAME_LIMIT:
            problem = f"at most {NAME_LIMIT} characters, got {len(name)}"
        else:
            problem = f"letters, digits, '.', '-', '_', starting with a letter or digit; got {name!r}"
        raise UsageError(f"{prog(args)}: error: NAME: must be {problem}")


def default_state_path(name: str, *, exec_: bool) -> Path:
    """Where ``supervise`` keeps its state without --state: ``relaunch-state.db`` for a container,
    ``relaunch-NAME.db`` for ``--exec NAME``, in the current folder."""
    return Path(EXEC_STATE.format(name=name) if exec_ else CONTAINER_STATE)


def default_state_paths(folder: Path | None = None) -> list[Path]:
    """The state files ``status`` reads without --state: every file :func:`default_state_path`
    can name in ``folder`` (default: the current one) that exists, ``relaunch-state.db`` first."""
    folder = Path.cwd() if folder is None else folder
    container = folder / CONTAINER_STATE
    found = [container] if container.is_file() else []
    pattern = EXEC_STATE.format(name="*")
    found += sorted(p for p in folder.glob(pattern) if p.name != CONTAINER_STATE and p.is_file())
    return [p if folder != Path.cwd() else Path(p.name) for p in found]


def state_error(args: argparse.Namespace, path: Path, error: Exception) -> UsageError:
    """A state file that cannot be used, as one line naming it."""
    if isinstance(error, UnicodeDecodeError):
        why = f"not a relaunch state file: byte {error.start} is not UTF-8 text"
    elif isinstance(error, OSError):
        why = f"cannot read: {error.strerror or error}"
    else:
        why = str(error).replace(f"state store {path}: ", "").replace(f"{path}: ", "")
    return UsageError(f"{prog(args)}: error: {path}: {why}")
