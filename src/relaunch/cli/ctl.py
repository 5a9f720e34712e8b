"""``relaunch ctl``: control a running ``relaunch run``.

Listed here for ``relaunch --help``; ``relaunch.cli.main`` hands ``ctl`` words straight to
:func:`relaunch.fleet.ctl.ctl_main` (``OWN_PARSERS``), whose parser is built from the fleet's
control-command registry, so the words never reach this module's parser.
"""

from __future__ import annotations

import argparse

from .common import Command


class Ctl(Command):
    name = "ctl"
    help = "control a running relaunch run: status, start, stop, restart, reload, logs (see ctl --help)"
    description = "Control a running relaunch run through its socket; relaunch ctl --help lists the commands."
    examples = ("relaunch ctl status", "relaunch ctl -c examples/fleet.toml restart web")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("words", nargs=argparse.REMAINDER, help="a control command and its arguments")

    def run(self, args: argparse.Namespace) -> int:
        from relaunch.fleet.ctl import ctl_main

        return ctl_main(list(args.words))
