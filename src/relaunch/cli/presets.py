"""``relaunch presets``: list the presets; ``relaunch presets show NAME``: one preset in full."""

from __future__ import annotations

import argparse
import sys

from .. import policyfile
from ..kernel import Action, Policy
from ..report import Style
from ..runs import Run, drive
from ..units import span
from .common import Command, Parser, examples, json_flag, print_json

#: Restarts shown for a crash loop that is never given up.
CRASH_LOOP_SHOWN = 12


class Presets(Command):
    name = "presets"
    help = "list the presets, or show one"
    description = "List the presets with one line each; `relaunch presets show NAME` shows one."
    examples = ("relaunch presets", "relaunch presets show systemd --json")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        json_flag(parser)
        actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
        show = actions.add_parser(
            "show",
            help="a preset's parameters, policy and crash-loop delays",
            description="Print a preset's keywords, the policy it builds, and the delays it gives a "
            "crash loop.",
            epilog=examples(
                "relaunch presets show toolhive", "relaunch presets show docker --set max_retries=5"
            ),
        )
        show.add_argument("name", metavar="NAME")
        show.add_argument(
            "--set", metavar="KEY=VALUE", action="append", default=[], help="a keyword of the preset"
        )
        json_flag(show)

    def run(self, args: argparse.Namespace) -> int:
        return _show(args) if args.action == "show" else _list(args)


def _list(args: argparse.Namespace) -> int:
    names = policyfile.preset_names()
    if args.json:
        print_json({name: policyfile.describe_preset(name) for name in names})
        return 0
    width = max(map(len, names))
    for name in names:
        print(f"{name:<{width}}  {policyfile.describe_preset(name)}")
    return 0


def crash_loop_delays(policy: Policy) -> tuple[list[float], bool]:
    """The delays a policy gives runs that each exit 1 after 0.5 s, and whether it gives up."""
    crashes = [Run(0.5, exit_code=1)] * (CRASH_LOOP_SHOWN + 1)
    decisions = list(drive(policy, policy.start(at=0.0), crashes))[:CRASH_LOOP_SHOWN]
    delays = [d.delay for d in decisions if d.restarts]
    return delays, decisions[-1].action is Action.GIVE_UP


def _show(args: argparse.Namespace) -> int:
    params = policyfile.with_overrides({}, args.set)
    policy = policyfile.preset(args.name, params, where="--set ")
    delays, gives_up = crash_loop_delays(policy)
    keywords = {**policyfile.parameters(args.name), **params}
    if args.json:
        print_json(
            {
                "name": args.name,
                "description": policyfile.describe_preset(args.name),
                "parameters": keywords,
                "policy": policy.to_dict(),
                "crash_loop": {"delays": delays, "gives_up": gives_up},
            }
        )
        return 0
    style = Style(sys.stdout)
    print(style.bold(args.name) + f": {policyfile.describe_preset(args.name)}")
    print()
    print(style.dim("# its keywords, as a policy file:"))
    print(policyfile.dumps_toml({"preset": args.name, **keywords}))
    print(policy.describe())
    print()
    sequence = ", ".join(span(delay) for delay in delays)
    if gives_up:
        ending = style.bad(f"then gives up ({len(delays)} restarts)")
    elif len(delays) == CRASH_LOOP_SHOWN:
        ending = "..."
    else:
        ending = "then stops"
    print(f"crash loop (exit 1 after 0.5s): {sequence}{', ' if sequence else ''}{ending}")
    return 0
