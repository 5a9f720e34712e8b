"""``relaunch run FILE``: supervise every workload of a fleet file (``relaunch.fleet.run``)."""

from __future__ import annotations

import argparse

from relaunch.fleet import run as fleet_run

from .common import Command


class Run(Command):
    name = "run"
    help = "supervise every workload of a fleet file, with a control socket (see ctl)"
    description = (
        "Supervise the commands and containers a fleet file names, in one store, until SIGTERM or "
        "Ctrl-C (which stop them all); SIGHUP reloads the file. The control socket <store>.sock "
        "takes relaunch ctl; a SIGKILLed run's workloads keep running and the next run adopts them."
    )
    examples = (
        "relaunch run examples/fleet.toml",
        "relaunch run relaunch.toml --metrics 127.0.0.1:9100",
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        fleet_run.add_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        return fleet_run.run(args.file, metrics_address=args.metrics, quiet=args.quiet)
