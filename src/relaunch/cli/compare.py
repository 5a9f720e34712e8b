"""``relaunch compare``: replay one scenario under several policies, one row each, optionally a plot."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import attrs

from .. import policyfile, report
from ..report import Style
from ..simulate import simulate
from . import options
from .common import Command, UsageError, folder_exists, json_flag, print_json, prog

#: The default comparison: ToolHive before and after PR #5172, the big supervisors' defaults when
#: their presets exist, and relaunch's own.
DEFAULT_COMPARE: tuple[tuple[str, dict[str, Any]], ...] = (
    ("toolhive_legacy", {}),
    ("toolhive", {}),
    ("docker", {"policy": "on-failure"}),
    ("kubernetes", {}),
    ("systemd", {"restart": "on-failure"}),
    ("recommended", {}),
)


class Compare(Command):
    name = "compare"
    help = "replay a scenario under several policies: one row each, optionally a plot"
    description = (
        "Replay one failure scenario under several policies and print one row per policy: "
        "availability, restarts, when it gave up, longest outage. A policy file is shown by its name "
        "key, or else by its file name. On a scenario whose runs hang (or with a --health-* timing), "
        "each policy has two rows: without a health check, and with one (POLICY + health check; "
        "Docker's defaults for the timings not given)."
    )
    examples = (
        "relaunch compare --scenario daemon-flaps --plot flaps.png",
        "relaunch compare --presets docker,systemd --policy mine.toml --scenario oom-creep",
        "relaunch compare --scenario hang --health-interval 10s",
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--presets",
            metavar="A,B,C",
            help="comma-separated presets (default: those of "
            f"{', '.join(name for name, _ in DEFAULT_COMPARE)} that exist); see `relaunch presets`",
        )
        parser.add_argument(
            "--policy",
            metavar="FILE",
            action="append",
            default=[],
            help="a TOML policy file to compare too (repeatable)",
        )
        options.scenario_options(parser)
        options.health_timing_options(parser)
        parser.add_argument(
            "--plot",
            metavar="FILE",
            help="draw one lane per policy to FILE.png or FILE.svg (needs matplotlib); its folder must exist",
        )
        json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        scenario, until, seed = options.scenario(args)
        policies = [policyfile.preset(name, params) for name, params in _compared_presets(args)]
        from_files = [policyfile.load(path, default_name=Path(path).stem) for path in args.policy]
        taken = [policy.name for policy in policies + from_files]
        # Two files named alike (a/x.toml, b/x.toml), or a file named as a preset: show their paths.
        policies += [
            attrs.evolve(policy, name=path) if taken.count(policy.name) > 1 else policy
            for policy, path in zip(from_files, args.policy, strict=True)
        ]
        if not policies:
            raise UsageError(f"{prog(args)}: error: --presets: no policy to compare")
        health = options.health_check(args, default=scenario.hangs)
        if args.plot:
            folder_exists(args, "--plot", args.plot)
        checks = [None] if health is None else [None, health]
        results = [
            simulate(policy, scenario, until=until, seed=seed, health=check)
            for policy in policies
            for check in checks
        ]
        if args.plot:
            from ..plot import PlotError, render

            try:
                render(results, args.plot)
            except PlotError as error:
                raise UsageError(f"{prog(args)}: error: {error}") from None
        if args.json:
            print_json({**report.comparison_json(results), "plot": args.plot})
            return 0
        style = Style(sys.stdout)
        print(report.comparison(results, style))
        if args.plot:
            print(style.dim(f"plot written to {args.plot}"))
        return 0


def _compared_presets(args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    if args.presets is None:
        if args.policy:
            return []
        available = set(policyfile.preset_names())
        return [(name, params) for name, params in DEFAULT_COMPARE if name in available]
    names = [name.strip() for name in args.presets.split(",") if name.strip()]
    for name in names:
        policyfile.preset(name)  # fails early, naming the known presets
    return [(name, {}) for name in names]
