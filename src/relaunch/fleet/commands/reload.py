"""``relaunch ctl reload``: apply the fleet file as it is now (add new, remove gone, restart changed)."""

from __future__ import annotations

from relaunch.fleet.commands.base import Command, ok

TYPE_CHECKING = False  # wire.py says why the client's imports stay this small
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from relaunch.fleet.api import FleetControl
    from relaunch.fleet.commands.base import Reply

__all__ = ["Reload"]

#: The reply's lists, in the order they are printed; ``unchanged`` is only counted.
CHANGES = ("added", "removed", "restarted")


class Reload(Command):
    name = "reload"
    help = "apply the fleet file as it is now: add new workloads, remove gone ones, restart changed ones"

    def execute(self, fleet: FleetControl, args: Mapping[str, Any]) -> Reply:
        changes = fleet.reload()
        return ok(**{key: list(changes.get(key, [])) for key in (*CHANGES, "unchanged")})

    def text(self, reply: Reply) -> str:
        lines = [f"{key}: {', '.join(reply[key])}" for key in CHANGES if reply[key]]
        kept = len(reply["unchanged"])
        lines.append(f"unchanged: {kept} workload{'' if kept == 1 else 's'}")
        return "\n".join(lines)
