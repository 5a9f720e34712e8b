"""``relaunch check FILE``: validate a policy file and print the policy it resolves to."""

from __future__ import annotations

import argparse
import sys

from .. import policyfile
from ..report import Style
from .common import Command, json_flag, print_json


class Check(Command):
    name = "check"
    help = "validate a policy file and print the resolved policy"
    description = """\
Validate a TOML policy file and print the policy it resolves to. A file is either a preset
with keywords (preset = "toolhive", then max_retries = 5 ...) or a policy spelled out part by part
(mode = "always", [backoff] kind = "exponential" ...), the shape `relaunch check --json` prints.
TOML has no null: write "none". Durations are seconds or strings with units: 90, "30s", "1h30m"."""
    examples = ("relaunch check examples/toolhive-3.toml", "relaunch check my-policy.toml --json")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("file", metavar="FILE", help="a TOML policy file")
        json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        policy = policyfile.load(args.file)
        if args.json:
            print_json(policy.to_dict())
            return 0
        style = Style(sys.stdout)
        print(style.good(f"{args.file}: ok") + f", resolves to {policy.name!r}:")
        print("\n".join(f"  {line}" for line in policy.describe().splitlines()))
        print()
        print(style.dim("# the same policy spelled out, as a policy file:"))
        print(policyfile.dumps_toml(policy.to_dict()), end="")
        return 0
