"""``relaunch ctl stop NAME``: stop NAME and keep it down until started."""

from __future__ import annotations

from relaunch.fleet.api import FleetControl
from relaunch.fleet.commands.base import WorkloadCommand

__all__ = ["Stop"]


class Stop(WorkloadCommand):
    name = "stop"
    help = "stop NAME and keep it down until started"
    done = "stopped"

    def act(self, fleet: FleetControl, name: str) -> None:
        fleet.stop(name)
