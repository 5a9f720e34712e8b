"""``relaunch ctl start NAME``: start NAME now, a given-up one too."""

from __future__ import annotations

from relaunch.fleet.commands.base import WorkloadCommand

TYPE_CHECKING = False  # wire.py says why the client's imports stay this small
if TYPE_CHECKING:
    from relaunch.fleet.api import FleetControl

__all__ = ["Start"]


class Start(WorkloadCommand):
    name = "start"
    help = "start NAME now, a given-up one too"
    done = "started"

    def act(self, fleet: FleetControl, name: str) -> None:
        fleet.start(name)
