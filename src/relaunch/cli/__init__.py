"""The ``relaunch`` command line: check policy files, simulate and compare policies, supervise.

Conventions: ``--help`` on every command, with examples; ``--json`` for machine-readable output on
every command (``supervise``: one JSON object per decision, one per line); colour only when stdout
is a terminal (and ``NO_COLOR`` is unset); any bad input is one line on stderr naming the file, key
or flag and the value, exit code 2, no traceback, checked before anything is printed or written.
Exit codes (:data:`EXIT_CODES`): 0 done, 1 given up, 2 bad input, 130 interrupted. Everything here
is presentation: the decisions come from the kernel, the runs from :mod:`relaunch.scenarios` and
:mod:`relaunch.simulate`, the supervising from the adapters.

Each command is a module of this package holding one :class:`~relaunch.cli.common.Command`;
:data:`COMMANDS` lists them, and :func:`build_parser` makes the parser from that list. This module
holds only the list, the parser's top level and :func:`main`; what commands share is in
``common`` (errors, exit codes, output), ``options`` (policy, health and scenario flags),
``state`` (workload names, state files) and ``foreground`` (supervising until the end).
"""

from __future__ import annotations

import importlib
import sys

TYPE_CHECKING = False  # typing stays out of `relaunch ctl`'s imports (relaunch/__init__.py)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["COMMANDS", "EXIT_CODES", "build_parser", "default_state_path", "default_state_paths", "main"]

#: Commands that parse their own words and need nothing of the registry, run without importing it:
#: ``ctl`` answers in a few tens of milliseconds, most of them Python's own start.
OWN_PARSERS = {"ctl": ("relaunch.fleet.ctl", "ctl_main")}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] and words[0] in OWN_PARSERS:
        module, function = OWN_PARSERS[words[0]]
        run: Any = getattr(importlib.import_module(module), function)
        return int(run(words[1:]))
    from ._main import main as main_with_registry

    return main_with_registry(words)


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("._main", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
