"""``relaunch ctl status [NAME...]``: each workload's phase, run, uptime, restarts, budget and last reason."""

from __future__ import annotations

import time

from relaunch.fleet.commands.base import Command, ok
from relaunch.fleet.errors import FleetError

TYPE_CHECKING = False  # wire.py says why the client's imports stay this small
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping
    from typing import Any

    from relaunch.fleet.api import FleetControl
    from relaunch.fleet.commands.base import Reply

__all__ = ["Status"]


def _span(seconds: float) -> str:
    # Imported when a table is drawn: relaunch's one duration format lives with the kernel's
    # reasons, and `ctl status --json` (a monitoring loop) should not pay the kernel's import.
    from relaunch.units import span

    return span(seconds)


_NONE = "-"


def _run(row: Mapping[str, Any]) -> str:
    if row["pid"] is not None:
        return str(row["pid"])
    return _NONE if row["container"] is None else str(row["container"])


def _uptime(row: Mapping[str, Any]) -> str:
    return _NONE if row["uptime"] is None else _span(row["uptime"])


def _budget(row: Mapping[str, Any]) -> str:
    left = row["budget_left"]
    return "unlimited" if left is None else left if isinstance(left, str) else f"{left:g}"


def _reason(row: Mapping[str, Any]) -> str:
    return row["reason"] or _NONE


def _optional(key: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda row: _NONE if row[key] is None else str(row[key])


class Status(Command):
    name = "status"
    help = (
        "show each workload (or those named): phase, pid or container, uptime, restarts, budget, next start"
    )
    arguments = ("names",)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("names", nargs="*", metavar="NAME", help="only these workloads (default: all)")

    def message(self, args: argparse.Namespace) -> dict[str, Any]:
        return {"names": list(args.names)}

    def execute(self, fleet: FleetControl, args: Mapping[str, Any]) -> Reply:
        wanted = self.names(args, "names")
        rows = fleet.status()
        if wanted:
            known = {row["name"] for row in rows}
            for name in wanted:
                if name not in known:
                    raise FleetError(f"status: no workload named {name!r}")
            rows = [row for row in rows if row["name"] in wanted]
        # ``now`` lets the client say "in 3.2s" by the daemon's clock, not its own.
        return ok(now=time.time(), workloads=rows)

    def text(self, reply: Reply) -> str:
        rows: list[dict[str, Any]] = reply["workloads"]
        if not rows:
            return "no workloads"
        now: float = reply["now"]

        def next_start(row: Mapping[str, Any]) -> str:
            at = row["restart_at"]
            return _NONE if at is None else f"in {_span(max(0.0, at - now))}"

        columns: list[tuple[str, Callable[[Mapping[str, Any]], str]]] = [("NAME", _optional("name"))]
        if any(row["group"] is not None for row in rows):
            columns.append(("GROUP", _optional("group")))
        columns += [
            ("PHASE", _optional("phase")),
            ("PID/CONTAINER", _run),
            ("UPTIME", _uptime),
            ("RESTARTS", _optional("restarts")),
            ("BUDGET", _budget),
            ("NEXT", next_start),
        ]
        if any(row["health"] is not None for row in rows):
            columns.append(("HEALTH", _optional("health")))
        columns.append(("REASON", _reason))
        cells = [[title for title, _ in columns]] + [[cell(row) for _, cell in columns] for row in rows]
        widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
        # The last column (the reason) is not padded: it is free text and may be long.
        return "\n".join(
            "  ".join(
                [cell.ljust(width) for cell, width in zip(line, widths[:-1], strict=False)] + [line[-1]]
            )
            for line in cells
        )
