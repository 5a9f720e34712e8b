"""``relaunch ctl stop NAME``: stop NAME and keep it down until started."""

from __future__ import annotations

from relaunch.fleet.commands.base import WorkloadCommand

TYPE_CHECKING = False  # wire.py says why the client's imports stay this small
if TYPE_CHECKING:
    from relaunch.fleet.api import FleetControl

__all__ = ["Stop"]


class Stop(WorkloadCommand):
    name = "stop"
    help = "stop NAME and keep it down until started"
    done = "stopped"

    def act(self, fleet: FleetControl, name: str) -> None:
        fleet.stop(name)
