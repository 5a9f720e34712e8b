"""``relaunch simulate``: replay a scenario under one policy, as a timeline and a summary."""

from __future__ import annotations

import argparse
import sys

from .. import report
from ..report import Style
from ..simulate import simulate
from . import options
from .common import Command, json_flag, print_json


class Simulate(Command):
    name = "simulate"
    help = "replay a scenario under one policy: timeline and summary"
    description = (
        "Replay a failure scenario under one policy in virtual time and print the timeline "
        "(run, start, duration, how it ended, decision, delay, reason) and a summary. With a --health-* "
        "timing, a virtual health check (Docker's defaults for the timings not given) probes the runs: "
        "one that hangs is killed as unhealthy; without one, a hung run stays down."
    )
    examples = (
        "relaunch simulate --preset toolhive --scenario crash-loop",
        "relaunch simulate --policy my-policy.toml --scenario runs.jsonl --until 2h --json",
        "relaunch simulate --preset recommended --scenario hang --health-interval 10s --health-retries 3",
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        options.policy_options(parser, required=True)
        options.scenario_options(parser)
        options.health_timing_options(parser)
        json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        scenario, until, seed = options.scenario(args)
        health = options.health_check(args, default=False)
        result = simulate(options.policy(args), scenario, until=until, seed=seed, health=health)
        if args.json:
            print_json(report.simulation_json(result))
        else:
            print(report.timeline(result, Style(sys.stdout)))
        return 0
